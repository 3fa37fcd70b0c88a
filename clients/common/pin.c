/*
 * pin.c - where the PIN comes from: --pin-fd N (one line), then the
 * environment (SECMSG_PIN; SECMSG_NEW_PIN for a new PIN), then a prompt on
 * /dev/tty with echo off. Echo is restored on every path, including a
 * signal during the prompt. Every buffer that held a PIN is wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

/* The terminal state a signal handler must put back; only set while a
 * prompt is up (one prompt at a time in this single-threaded program). */
static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off;

static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_PROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

static void restore_and_reraise(int sig)
{
    struct sigaction dfl;

    if (tty_echo_off) {
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
        tty_echo_off = 0;
        (void)!write(tty_fd, "\n", 1);
    }
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

/* Reads one line (without its "\n", "\r\n") into buf of cap bytes. Returns
 * 0; 1 at EOF before any byte; 2 if the line is longer than cap - 1 (the
 * rest of the line is consumed); -1 on a read error. */
static int read_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int too_long = 0;
    int any = 0;
    ssize_t r;
    char ch;

    for (;;) {
        r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            sodium_memzero(buf, cap);
            return -1;
        }
        if (r == 0 || ch == '\n') {
            break;
        }
        any = 1;
        if (n + 1 < cap) {
            buf[n++] = ch;
        } else {
            too_long = 1;
        }
    }
    sodium_memzero(&ch, sizeof ch);
    if (n > 0 && buf[n - 1] == '\r') {
        n--;
    }
    buf[n] = '\0';
    *len = n;
    if (too_long) {
        sodium_memzero(buf, cap);
        return 2;
    }
    return (!any && r == 0) ? 1 : 0;
}

static int prompt_line(int fd, const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct termios quiet;
    struct sigaction sa;
    struct sigaction old[N_PROMPT_SIGNALS];
    size_t i;
    int rc;

    if (tcgetattr(fd, &tty_saved) != 0) {
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < N_PROMPT_SIGNALS; i++) {
        sigaction(prompt_signals[i], &sa, &old[i]);
    }
    tty_fd = fd;
    quiet = tty_saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= (tcflag_t)ECHONL;
    /* Echo goes off before the prompt shows: nothing typed after it echoes. */
    tty_echo_off = 1;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        tty_echo_off = 0;
        rc = -1;
    } else {
        (void)!write(fd, prompt, strlen(prompt));
        rc = read_line(fd, buf, cap, len);
        tcsetattr(fd, TCSAFLUSH, &tty_saved);
        tty_echo_off = 0;
    }
    for (i = 0; i < N_PROMPT_SIGNALS; i++) {
        sigaction(prompt_signals[i], &old[i], NULL);
    }
    tty_fd = -1;
    return rc;
}

static int from_tty(cli_ctx *ctx, cli_pin_kind kind, char *pin, size_t *len)
{
    char again[CLI_PIN_CAP];
    size_t again_len = 0;
    int fd;
    int rc;

    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        return kind == CLI_PIN_NEW
                   ? cli_error(ctx, CLI_EXIT_USAGE, "no new PIN: use --pin-fd or SECMSG_NEW_PIN")
                   : cli_error(ctx, CLI_EXIT_USAGE, "no PIN: use --pin-fd or SECMSG_PIN");
    }
    rc = prompt_line(fd, kind == CLI_PIN_CURRENT ? "PIN: " : "New PIN (4 to 64 characters): ",
                     pin, CLI_PIN_CAP, len);
    if (rc == 0 && kind != CLI_PIN_CURRENT) {
        rc = prompt_line(fd, "Repeat the new PIN: ", again, sizeof again, &again_len);
        if (rc == 0 && (again_len != *len || sodium_memcmp(again, pin, *len) != 0)) {
            rc = 3;
        }
        sodium_memzero(again, sizeof again);
    }
    close(fd);
    switch (rc) {
    case 0:
        return CLI_EXIT_OK;
    case 2:
        return cli_error(ctx, CLI_EXIT_USAGE, "the PIN is longer than %u characters",
                         SECMSG_PIN_MAX);
    case 3:
        return cli_error(ctx, CLI_EXIT_USAGE, "the two PINs do not match");
    default:
        return cli_error(ctx, CLI_EXIT_USAGE, "no PIN was entered");
    }
}

int cli_pin_read(cli_ctx *ctx, cli_pin_kind kind, char pin[CLI_PIN_CAP], size_t *len)
{
    const char *env = getenv(kind == CLI_PIN_NEW ? "SECMSG_NEW_PIN" : "SECMSG_PIN");
    int rc = CLI_EXIT_OK;

    *len = 0;
    if (ctx->pin_fd >= 0) {
        switch (read_line(ctx->pin_fd, pin, CLI_PIN_CAP, len)) {
        case 0:
            break;
        case 1:
            rc = cli_error(ctx, CLI_EXIT_USAGE, "no PIN on file descriptor %d", ctx->pin_fd);
            break;
        case 2:
            rc = cli_error(ctx, CLI_EXIT_USAGE, "the PIN is longer than %u characters",
                           SECMSG_PIN_MAX);
            break;
        default:
            rc = cli_error(ctx, CLI_EXIT_USAGE, "cannot read the PIN from file descriptor %d: %s",
                           ctx->pin_fd, strerror(errno));
        }
    } else if (env != NULL) {
        *len = strlen(env);
        if (*len > SECMSG_PIN_MAX) {
            *len = 0;
            rc = cli_error(ctx, CLI_EXIT_USAGE, "the PIN is longer than %u characters",
                           SECMSG_PIN_MAX);
        } else {
            memcpy(pin, env, *len + 1);
        }
    } else {
        rc = from_tty(ctx, kind, pin, len);
    }
    if (rc == CLI_EXIT_OK && *len == 0) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "the PIN is empty");
    }
    if (rc == CLI_EXIT_OK && kind != CLI_PIN_CURRENT && *len < SECMSG_PIN_MIN) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "the PIN must be %u to %u characters",
                       SECMSG_PIN_MIN, SECMSG_PIN_MAX);
    }
    if (rc != CLI_EXIT_OK) {
        sodium_memzero(pin, CLI_PIN_CAP);
        *len = 0;
    }
    return rc;
}

int cli_confirm(cli_ctx *ctx, const char *question)
{
    char answer[16];
    size_t len = 0;
    int fd;
    int rc;

    (void)ctx;
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    (void)!write(fd, question, strlen(question));
    rc = read_line(fd, answer, sizeof answer, &len);
    close(fd);
    return (rc == 0 && strcmp(answer, "yes") == 0) ? 0 : 1;
}
