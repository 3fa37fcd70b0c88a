/*
 * Shared by the secmsg-admin subcommands: messages, the root key file, the
 * root fingerprint.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "secmsg.h"
#include "wire/client_codec.h"

/* Hex seed, a newline, and some slack for "\r\n" or trailing spaces. */
#define KEY_FILE_MAX 128U
#define SEED_BYTES 32U

__attribute__((format(printf, 2, 0))) static void vmessage(const char *cmd, const char *fmt,
                                                          va_list ap)
{
    fprintf(stderr, "%s %s: ", ADMIN_PROG, cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int admin_error(int status, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    return status;
}

int admin_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s %s --help'.\n", ADMIN_PROG, cmd);
    return ADMIN_EXIT_USAGE;
}

int admin_bad_option(const char *cmd, char **argv, int c)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return admin_usage(cmd, "option '%s' needs a value", arg);
    if (optopt != 0)
        return admin_usage(cmd, "unknown option '-%c'", optopt);
    return admin_usage(cmd, "unknown option '%s'", arg);
}

int admin_getopt(int argc, char **argv, const char *cmd, const char *optstring,
                 const struct option *opts, void (*help)(void), int *status)
{
    int c = getopt_long(argc, argv, optstring, opts, NULL);
    if (c == 'h') {
        help();
        *status = ADMIN_EXIT_OK;
        return 0;
    }
    if (c == '?' || c == ':') {
        *status = admin_bad_option(cmd, argv, c);
        return 0;
    }
    return c;
}

int admin_options_end(int argc, char **argv, const char *cmd, int opt, int *status)
{
    if (opt == 0)
        return 1;
    if (optind < argc) {
        *status = admin_usage(cmd, "unexpected argument '%s'", argv[optind]);
        return 1;
    }
    return 0;
}

int admin_file_option(int argc, char **argv, const char *cmd, const char *name, int val,
                      void (*help)(void), const char **path, int *status)
{
    const struct option opts[] = {
        {name, required_argument, NULL, val},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char optstring[] = {':', (char)val, ':', 'h', '\0'};
    int c;

    *path = NULL;
    while ((c = admin_getopt(argc, argv, cmd, optstring, opts, help, status)) > 0)
        *path = optarg;
    if (admin_options_end(argc, argv, cmd, c, status))
        return 1;
    if (*path == NULL || (*path)[0] == '\0') {
        *status = admin_usage(cmd, "--%s FILE is required", name);
        return 1;
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Reads all of fd (at most max bytes) into a NUL-terminated sodium_malloc'd buffer. */
static int read_fd(const char *cmd, const char *path, int fd, size_t max, char **out, size_t *len)
{
    int status = ADMIN_EXIT_FAILURE;
    size_t n = 0;
    char *buf = sodium_malloc(max + 1);

    *out = NULL;
    *len = 0;
    if (buf == NULL)
        return admin_error(status, cmd, "out of memory");
    for (;;) {
        ssize_t got = read(fd, buf + n, max + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            admin_error(status, cmd, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            admin_error(status, cmd, "%s is too large (more than %zu bytes)", path, max);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    status = ADMIN_EXIT_OK;
out:
    if (buf != NULL)
        sodium_free(buf); /* wipes */
    return status;
}

int admin_read_small_file(const char *cmd, const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return admin_error(ADMIN_EXIT_FAILURE, cmd, "cannot open %s: %s", path, strerror(errno));
    int status = read_fd(cmd, path, fd, max, out, len);
    close(fd);
    return status;
}

int admin_root_load(admin_root *root, const char *cmd, const char *path)
{
    int fd = -1, status = ADMIN_EXIT_FAILURE;
    char *text = NULL;
    uint8_t *seed = NULL;
    size_t len = 0, seed_len = 0;
    const char *end = NULL;
    struct stat st;

    root->sk = NULL;
    /* The permissions are checked on the open file, which is then read. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        admin_error(status, cmd, "cannot open root key %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        admin_error(status, cmd, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        admin_error(status, cmd, "%s is not a regular file", path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        admin_error(status, cmd,
                    "refusing root key %s: its permissions (%04o) let group or others read "
                    "or change it; run 'chmod 600 %s' if it has not been exposed",
                    path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (read_fd(cmd, path, fd, KEY_FILE_MAX, &text, &len) != ADMIN_EXIT_OK)
        goto out;
    seed = sodium_malloc(SEED_BYTES);
    root->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (seed == NULL || root->sk == NULL) {
        admin_error(status, cmd, "out of memory");
        goto out;
    }
    if (sodium_hex2bin(seed, SEED_BYTES, text, len, NULL, &seed_len, &end) != 0 ||
        seed_len != SEED_BYTES || end != text + 2 * SEED_BYTES) {
        admin_error(status, cmd, "%s is not a secmsg root key (expected 64 hex digits)", path);
        goto out;
    }
    for (; *end != '\0'; end++) {
        if (!is_space(*end)) {
            admin_error(status, cmd, "%s is not a secmsg root key (expected 64 hex digits)", path);
            goto out;
        }
    }
    if ((size_t)(end - text) != len) { /* a NUL inside the file */
        admin_error(status, cmd, "%s is not a secmsg root key (expected 64 hex digits)", path);
        goto out;
    }
    if (crypto_sign_seed_keypair(root->pk, root->sk, seed) != 0) {
        admin_error(status, cmd, "cannot derive the root key");
        goto out;
    }
    status = ADMIN_EXIT_OK;
out:
    if (status != ADMIN_EXIT_OK)
        admin_root_free(root);
    if (seed != NULL)
        sodium_free(seed);
    if (text != NULL)
        sodium_free(text);
    if (fd >= 0)
        close(fd);
    return status;
}

void admin_root_free(admin_root *root)
{
    if (root->sk != NULL)
        sodium_free(root->sk);
    root->sk = NULL;
    sodium_memzero(root->pk, sizeof root->pk);
}

int admin_print_fingerprint(const char *cmd, const uint8_t pk[32])
{
    uint8_t fp[32];
    char hex[2 * sizeof fp + 1];

    if (secmsg__root_fingerprint(fp, pk) != SECMSG_OK)
        return admin_error(ADMIN_EXIT_FAILURE, cmd, "cannot compute the root fingerprint");
    sodium_bin2hex(hex, sizeof hex, fp, sizeof fp);
    if (printf("%s\n", hex) < 0 || fflush(stdout) != 0)
        return admin_error(ADMIN_EXIT_FAILURE, cmd, "cannot write to standard output");
    return ADMIN_EXIT_OK;
}

void admin_help_end(const char *example)
{
    fputs("       -h, --help\n"
          "              Show this help and exit.\n"
          "\n",
          stdout);
    admin_help_exit_status();
    if (example != NULL)
        printf("\nEXAMPLE\n%s", example);
}

void admin_help_exit_status(void)
{
    fputs("EXIT STATUS\n"
          "       0      success\n"
          "       1      the operation failed (file, key or permission problem); a sentence\n"
          "              on standard error says why\n"
          "       2      the command line is wrong (unknown option, missing or malformed value)\n",
          stdout);
}
