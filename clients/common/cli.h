/*
 * cli.h - shared code of the reference CLIs secmsg-caseworker and
 * secmsg-citizen (spec/client-cli.md). Everything here uses libsecmsg's
 * public API only.
 *
 * Conventions: a function that prints an error returns the process exit
 * status (CLI_EXIT_*); 0 means success. Human output goes to stdout, notes
 * and errors to stderr; with --json stdout carries exactly one JSON object
 * per line (errors too) and the human sentence still goes to stderr.
 */
#ifndef SECMSG_CLI_H
#define SECMSG_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <secmsg/client.h>

/* Exit statuses (spec/client-cli.md "Exit status"). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,   /* anything not below */
    CLI_EXIT_USAGE = 2,     /* bad command line, bad argument */
    CLI_EXIT_PIN = 3,       /* wrong PIN, store locked */
    CLI_EXIT_NETWORK = 4,   /* relay unreachable or refused; message queued */
    CLI_EXIT_TRUST = 5,     /* permissions, tampering, forged or untrusted keys */
    CLI_EXIT_EXPIRED = 6,   /* invite, token or certificate expired */
    CLI_EXIT_NOT_FOUND = 7  /* no store, unknown contact */
};

#define CLI_PATH_MAX 4096U
/* A PIN line: SECMSG_PIN_MAX bytes, a newline and a NUL. */
#define CLI_PIN_CAP (SECMSG_PIN_MAX + 2U)
#define CLI_SECRET_BYTES 32U

typedef struct cli_ctx cli_ctx;

/* argv[0] is the command's name; returns the exit status. */
typedef int (*cli_run_fn)(cli_ctx *ctx, int argc, char **argv);

typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for the program's --help */
    cli_run_fn run;
} cli_command;

typedef struct cli_prog {
    const char *name;             /* "secmsg-caseworker" */
    const char *home_dir;         /* ".secmsg-caseworker", under $HOME */
    int role;                     /* SECMSG_ROLE_CASEWORKER or SECMSG_ROLE_CITIZEN */
    const char *summary;          /* NAME line of the program's --help */
    const char *description;      /* DESCRIPTION paragraph of the program's --help */
    const cli_command *commands;  /* terminated by an entry with name NULL */
} cli_prog;

struct cli_ctx {
    const cli_prog *prog;
    const char *command;          /* the running command's name */
    char dir[CLI_PATH_MAX];
    int pin_fd;                   /* -1 unless --pin-fd */
    int json;
};

/* main.c: the driver every program's main() calls. */
int cli_main(const cli_prog *prog, int argc, char **argv);

/* args.c: subcommand parsing helpers. */
/* The driver calls it before each command runs (argv[0] is the command). */
void cli_getopt_reset(void);
/* Reports a getopt_long failure (c is '?' or ':'); returns CLI_EXIT_USAGE. */
int cli_bad_option(cli_ctx *ctx, char **argv, int c);
/* A command's manual (cmd_*.c: static void help(const cli_ctx *)). */
typedef void (*cli_help_fn)(const cli_ctx *ctx);
/* getopt_long with what every command shares handled: --help prints the
 * manual and a refused option is reported. Returns the next option, -1
 * after the last, or 0 when the command must return *status now. */
int cli_getopt(cli_ctx *ctx, int argc, char **argv, const char *optstring,
               const struct option *opts, cli_help_fn help, int *status);
/* cli_getopt for a command whose only option is --help: 0 or -1. */
int cli_help_only(cli_ctx *ctx, int argc, char **argv, cli_help_fn help, int *status);
/* After the options: CLI_EXIT_OK, or the usage error for a word left over. */
int cli_no_more_args(cli_ctx *ctx, int argc, char **argv, const char *synopsis);
/* After the options of a command that takes no arguments (opt: what
 * cli_getopt returned last): non-zero when the command must return *status
 * now, because cli_getopt said so or a word is left over. */
int cli_options_end(cli_ctx *ctx, int argc, char **argv, int opt, const char *synopsis,
                    int *status);
/* The USER argument (optional for a citizen: then *user is NULL) and
 * nothing after it. */
int cli_user_arg(cli_ctx *ctx, int argc, char **argv, const char *synopsis, const char **user);
int cli_usage(cli_ctx *ctx, const char *synopsis, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* Man-page help: header (NAME + SYNOPSIS) and the shared EXIT STATUS. */
void cli_help_head(const cli_ctx *ctx, const char *summary, const char *synopsis);
void cli_help_exit_status(void);
/* "Without USER: your only caseworker." for secmsg-citizen. */
void cli_help_default_user(const cli_ctx *ctx);
const char *cli_role_name(int32_t role);
const char *cli_verification_name(int32_t v);
const char *cli_status_name(int32_t status);

/* errors.c */
int cli_exit_code(int err);
const char *cli_error_sentence(int err);
/* Prints "prog: command: message" (JSON: {"error","code"}); returns code. */
int cli_error(cli_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A library failure: "<what>: <sentence> (<last_error>)"; c may be NULL. */
int cli_lib_error(cli_ctx *ctx, const secmsg_client *c, int err, const char *what);
/* "wrong PIN; N attempts left" (JSON key attempts_left); CLI_EXIT_PIN. */
int cli_wrong_pin(cli_ctx *ctx, uint32_t attempts_left);
/* A note on stderr (never on stdout); ignored by JSON consumers. */
void cli_note(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* json.c: one object per line on stdout. */
typedef struct cli_json {
    FILE *f;
    int n;
} cli_json;
void cli_json_begin(cli_json *j);
void cli_json_str(cli_json *j, const char *key, const char *val);
void cli_json_strn(cli_json *j, const char *key, const char *val, size_t len);
void cli_json_int(cli_json *j, const char *key, int64_t v);
void cli_json_uint(cli_json *j, const char *key, uint64_t v);
void cli_json_bool(cli_json *j, const char *key, int v);
void cli_json_end(cli_json *j);
/* Writes s[0..len) as a JSON string (quotes included). */
void cli_json_write_string(FILE *f, const char *s, size_t len);

/* text.c: safe terminal output and small formatting helpers. */
/* Prints text from a peer: no control characters reach the terminal
 * (escape-sequence injection); newlines are followed by `indent` spaces. */
void cli_print_text(FILE *f, const char *s, size_t len, int indent);
int cli_utf8_valid(const char *s, size_t len);
/* "2026-01-31 12:00:05" in local time from unix ms; "-" for 0. */
void cli_format_time(char out[32], uint64_t unix_ms);
void cli_hex(char *out, size_t cap, const uint8_t *in, size_t n);
uint64_t cli_now_ms(void);

/* input.c */
/* Reads @FILE (whole file, at most max bytes, trailing whitespace cut) or
 * copies the argument. *out is malloc'd and NUL-terminated. */
int cli_read_arg(cli_ctx *ctx, const char *arg, size_t max, const char *what, char **out);
/* Frees what cli_read_arg returned, wiped first (tokens, invites). NULL is fine. */
void cli_free_arg(char *s);
/* Joins argv words with spaces, or reads stdin when the only word is "-". */
int cli_read_text(cli_ctx *ctx, int argc, char **argv, char **out, size_t *len);

/* pin.c */
typedef enum cli_pin_kind {
    CLI_PIN_CURRENT = 0, /* --pin-fd line, SECMSG_PIN, or a prompt */
    CLI_PIN_CHOOSE = 1,  /* init: --pin-fd line, SECMSG_PIN, or two prompts; 4..64 */
    CLI_PIN_NEW = 2      /* pin change: --pin-fd line, SECMSG_NEW_PIN, or two prompts */
} cli_pin_kind;
int cli_pin_read(cli_ctx *ctx, cli_pin_kind kind, char pin[CLI_PIN_CAP], size_t *len);
/* Reads "yes" from /dev/tty after printing question; 0 = yes. */
int cli_confirm(cli_ctx *ctx, const char *question);

/* files.c */
int cli_path(cli_ctx *ctx, char out[CLI_PATH_MAX], const char *name);
/* Creates DIR (0700) when create, then refuses it unless it is a
 * directory owned by us without group/other bits. */
int cli_dir_check(cli_ctx *ctx, int create);
/* Refuses a file with group/other bits or another owner; ENOENT is ok
 * when missing_ok (then *exists = 0). */
int cli_file_check(cli_ctx *ctx, const char *path, int missing_ok, int *exists);
/* init: creates DIR/device.secret (O_EXCL, 0600, fsynced) with 32 random
 * bytes; an existing one (from an init that failed later) is read instead
 * and *created = 0. secret has cap SECMSG_DEVICE_SECRET_MAX. */
int cli_secret_create(cli_ctx *ctx, uint8_t *secret, size_t *len, int *created);
int cli_secret_read(cli_ctx *ctx, uint8_t *secret, size_t *len);

/* open.c */
int cli_open(cli_ctx *ctx, secmsg_client **out);
/* The path every command that needs the store takes: unlock it (cli_open),
 * with interruptible set give it a transport that Ctrl-C stops at once
 * (after the PIN prompt, which has its own handlers), run, close. Returns
 * the exit status of whichever step failed, else run's. */
typedef int (*cli_store_fn)(cli_ctx *ctx, secmsg_client *c, const void *arg);
int cli_with_store(cli_ctx *ctx, int interruptible, cli_store_fn run, const void *arg);
/* cli_with_store for a conversation: run gets the partner that
 * cli_resolve_peer found for user. */
typedef int (*cli_peer_fn)(cli_ctx *ctx, secmsg_client *c, const char *peer, const void *arg);
int cli_with_peer(cli_ctx *ctx, const char *user, cli_peer_fn run, const void *arg);
/* This device's id and identity public key in hex (the error says "cannot
 * read this device's identity"). */
int cli_identity_hex(cli_ctx *ctx, secmsg_client *c, char dev_hex[2 * SECMSG_DEVICE_ID_BYTES + 1],
                     char id_hex[2 * SECMSG_IDENTITY_PUBLIC_BYTES + 1]);
/* The conversation partner: `user` if given (must be a contact), else the
 * citizen's only caseworker. out has SECMSG_USER_ID_BYTES. */
int cli_resolve_peer(cli_ctx *ctx, secmsg_client *c, const char *user, char *out);
/* Finds a message by id in a conversation, newest first. text has cap
 * SECMSG_MAX_TEXT + 1. Returns SECMSG_OK or NOT_FOUND / another error. */
int cli_find_message(secmsg_client *c, const char *peer, const uint8_t *id, secmsg_message *m,
                     char *text, size_t cap);
/* Prints one message (human or JSON). */
void cli_print_message(cli_ctx *ctx, const secmsg_message *m, const char *text);
/* Drains the event queue, printing each; *messages += MESSAGE events.
 * Stops early when max > 0 and *messages reaches it. */
int cli_drain_events(cli_ctx *ctx, secmsg_client *c, size_t max, size_t *messages,
                     size_t *refused);

/* cmd_safety_number.c: the 60 digits and the 12 groups of 5 with c. */
int cli_safety_number_text(cli_ctx *ctx, secmsg_client *c, const char *peer,
                           char digits[SECMSG_SAFETY_NUMBER_BYTES], char grouped[72]);

/* qr.c: QR code on f with Unicode half blocks; 0 or -1. */
int cli_qr_print(FILE *f, const char *text);

/* transport.c: libcurl transport whose requests stop at once when *stop
 * becomes non-zero (watch and sync --wait use it for a prompt Ctrl-C). */
typedef struct cli_transport cli_transport;
int cli_transport_new(cli_transport **out, volatile sig_atomic_t *stop);
void cli_transport_free(cli_transport *t);
int cli_transport_fn(void *ctx, const secmsg_http_request *req, int *status, uint8_t *resp,
                     size_t resp_cap, size_t *resp_len);
/* SIGINT/SIGTERM set *cli_stop_flag() (no SA_RESTART). */
volatile sig_atomic_t *cli_stop_flag(void);
void cli_stop_on_signals(void);

/* Commands shared by both programs (cmd_*.c). */
int cli_cmd_init(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_contacts(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_send(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_sync(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_inbox(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_show(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_safety_number(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_device_id(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_pin(cli_ctx *ctx, int argc, char **argv);

#endif
