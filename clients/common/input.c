/*
 * input.c - arguments that may come from a file (@FILE) and message text
 * from the command line or stdin. Every input has a maximum size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

/* Reads fd to EOF into buf (cap bytes); *len = bytes read. Returns 0, -1
 * on a read error, 1 when there is more than cap. */
static int read_all(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    ssize_t r;
    char extra;

    while (n < cap) {
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            *len = n;
            return 0;
        }
        n += (size_t)r;
    }
    do {
        r = read(fd, &extra, 1);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return -1;
    }
    *len = n;
    return r == 0 ? 0 : 1;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int cli_read_arg(cli_ctx *ctx, const char *arg, size_t max, const char *what, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    size_t start = 0;
    int fd = -1;
    int rc;

    *out = NULL;
    if (arg[0] != '@') {
        len = strlen(arg);
        if (len == 0 || len > max) {
            return cli_error(ctx, CLI_EXIT_USAGE, "the %s must be 1 to %zu bytes", what, max);
        }
        buf = strdup(arg);
        if (buf == NULL) {
            return cli_error(ctx, CLI_EXIT_FAILURE, "out of memory");
        }
        *out = buf;
        return CLI_EXIT_OK;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        return cli_error(ctx, CLI_EXIT_FAILURE, "out of memory");
    }
    fd = open(arg + 1, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "cannot read the %s from '%s': %s", what, arg + 1,
                       strerror(errno));
        goto out;
    }
    rc = read_all(fd, buf, max, &len);
    if (rc != 0) {
        rc = rc < 0 ? cli_error(ctx, CLI_EXIT_USAGE, "cannot read '%s': %s", arg + 1,
                                strerror(errno))
                    : cli_error(ctx, CLI_EXIT_USAGE, "'%s' is too large: a %s is at most %zu "
                                "bytes", arg + 1, what, max);
        goto out;
    }
    while (len > 0 && is_space(buf[len - 1])) {
        len--;
    }
    while (start < len && is_space(buf[start])) {
        start++;
    }
    if (start == len || memchr(buf + start, '\0', len - start) != NULL) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "'%s' does not hold a %s", arg + 1, what);
        goto out;
    }
    /* Tokens, certificates and invites are one line each. */
    if (memchr(buf + start, '\n', len - start) != NULL) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "'%s' holds more than one line; a %s is one line",
                       arg + 1, what);
        goto out;
    }
    memmove(buf, buf + start, len - start);
    buf[len - start] = '\0';
    *out = buf;
    buf = NULL;
    rc = CLI_EXIT_OK;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (buf != NULL) {
        sodium_memzero(buf, max + 1);
    }
    free(buf);
    return rc;
}

int cli_read_text(cli_ctx *ctx, int argc, char **argv, char **out, size_t *len)
{
    char *buf;
    size_t n = 0;
    size_t w;
    int i;
    int rc;

    *out = NULL;
    buf = malloc(SECMSG_MAX_TEXT + 1);
    if (buf == NULL) {
        return cli_error(ctx, CLI_EXIT_FAILURE, "out of memory");
    }
    if (argc == 1 && strcmp(argv[0], "-") == 0) {
        rc = read_all(STDIN_FILENO, buf, SECMSG_MAX_TEXT, &n);
        if (rc != 0) {
            rc = rc < 0 ? cli_error(ctx, CLI_EXIT_FAILURE, "cannot read stdin: %s",
                                    strerror(errno))
                        : cli_error(ctx, CLI_EXIT_USAGE, "the text is longer than %u bytes",
                                    SECMSG_MAX_TEXT);
            goto out;
        }
        /* `echo hi | send -` means "hi": one final line break is not text. */
        if (n > 0 && buf[n - 1] == '\n') {
            n--;
            if (n > 0 && buf[n - 1] == '\r') {
                n--;
            }
        }
    } else {
        for (i = 0; i < argc; i++) {
            w = strlen(argv[i]);
            if (n + (i > 0 ? 1U : 0U) + w > SECMSG_MAX_TEXT) {
                rc = cli_error(ctx, CLI_EXIT_USAGE, "the text is longer than %u bytes",
                               SECMSG_MAX_TEXT);
                goto out;
            }
            if (i > 0) {
                buf[n++] = ' ';
            }
            memcpy(buf + n, argv[i], w);
            n += w;
        }
    }
    if (n == 0) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "the message is empty");
        goto out;
    }
    if (!cli_utf8_valid(buf, n) || memchr(buf, '\0', n) != NULL) {
        rc = cli_error(ctx, CLI_EXIT_USAGE, "the text is not valid UTF-8");
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = CLI_EXIT_OK;
out:
    if (buf != NULL) {
        sodium_memzero(buf, SECMSG_MAX_TEXT + 1);
    }
    free(buf);
    return rc;
}

void cli_free_arg(char *s)
{
    if (s == NULL) {
        return;
    }
    sodium_memzero(s, strlen(s) + 1);
    free(s);
}
