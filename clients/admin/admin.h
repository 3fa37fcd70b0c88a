/*
 * admin.h - secmsg-admin, the municipality administrator's tool: the root
 * key that certifies caseworker and journal devices (spec/client-wire.md,
 * "Device certificates"). One file per subcommand, plus the key file and
 * option helpers in common.c.
 *
 * Conventions: a subcommand returns the process exit status; errors go to
 * stderr as one sentence, never with key material in it. The root key
 * lives in sodium_malloc'd memory and is wiped on every path.
 */
#ifndef SECMSG_ADMIN_H
#define SECMSG_ADMIN_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_PROG "secmsg-admin"

enum {
    ADMIN_EXIT_OK = 0,
    ADMIN_EXIT_FAILURE = 1, /* the operation failed (files, keys, crypto) */
    ADMIN_EXIT_USAGE = 2    /* the command line is wrong */
};

/* A root key: Ed25519 seed expanded to libsodium's sk (seed || pk). */
typedef struct admin_root {
    uint8_t *sk; /* 64 bytes, sodium_malloc'd */
    uint8_t pk[32];
} admin_root;

/* Subcommands: argv[0] is the subcommand's name. */
int admin_root_init(int argc, char **argv);
int admin_root_fingerprint(int argc, char **argv);
int admin_certify(int argc, char **argv);

/* common.c */

/* "secmsg-admin CMD: message" on stderr; returns status. */
int admin_error(int status, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports a usage error and the --help hint; returns ADMIN_EXIT_USAGE. */
int admin_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports what getopt_long refused (c is '?' or ':'); returns ADMIN_EXIT_USAGE. */
int admin_bad_option(const char *cmd, char **argv, int c);

/* getopt_long for a subcommand (main.c resets getopt before each one) with
 * --help and refused options handled. Returns the next option, -1 after
 * the last, or 0 when the subcommand must return *status now. */
int admin_getopt(int argc, char **argv, const char *cmd, const char *optstring,
                 const struct option *opts, void (*help)(void), int *status);
/* After the options (opt: what admin_getopt returned last): non-zero when
 * the subcommand must return *status now, because admin_getopt said so or
 * an argument is left over. */
int admin_options_end(int argc, char **argv, const char *cmd, int opt, int *status);
/* The command line of a subcommand whose one option, --name FILE (-val),
 * is required, besides --help. Non-zero when the subcommand must return
 * *status now; else *path is the file. */
int admin_file_option(int argc, char **argv, const char *cmd, const char *name, int val,
                      void (*help)(void), const char **path, int *status);

/* Loads a root key file (64 hex digits of the seed, then optional
 * whitespace). Refuses a file readable or writable by group or others.
 * Returns an exit status; on success *root holds the key
 * (free with admin_root_free). */
int admin_root_load(admin_root *root, const char *cmd, const char *path);
void admin_root_free(admin_root *root);

/* Prints the root fingerprint of pk as 64 hex digits and a newline. */
int admin_print_fingerprint(const char *cmd, const uint8_t pk[32]);

/* Reads at most max bytes of a file into a sodium_malloc'd buffer
 * (NUL-terminated, *len bytes). Returns an exit status. */
int admin_read_small_file(const char *cmd, const char *path, size_t max, char **out, size_t *len);

/* Shared help sections. */
void admin_help_exit_status(void);
/* The end of a subcommand's help: the --help option, EXIT STATUS and, if
 * example is not NULL, an EXAMPLE section with it. */
void admin_help_end(const char *example);

#endif
