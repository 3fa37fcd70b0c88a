/*
 * args.c - subcommand parsing helpers and the pieces of --help every
 * command shares.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_getopt_reset(void)
{
    /* glibc: optind 0 re-initialises getopt completely (argv[0] is the
     * command name, so scanning starts at argv[1]); we print errors. */
    optind = 0;
    opterr = 0;
}

int cli_bad_option(cli_ctx *ctx, char **argv, int c)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";

    if (c == ':') {
        return cli_error(ctx, CLI_EXIT_USAGE, "option '%s' needs a value (see --help)", arg);
    }
    if (optopt != 0) {
        return cli_error(ctx, CLI_EXIT_USAGE, "unknown option '-%c' (see --help)", optopt);
    }
    return cli_error(ctx, CLI_EXIT_USAGE, "unknown option '%s' (see --help)", arg);
}

int cli_getopt(cli_ctx *ctx, int argc, char **argv, const char *optstring,
               const struct option *opts, cli_help_fn help, int *status)
{
    int opt = getopt_long(argc, argv, optstring, opts, NULL);

    if (opt == 'h') {
        help(ctx);
        *status = CLI_EXIT_OK;
        return 0;
    }
    if (opt == '?' || opt == ':') {
        *status = cli_bad_option(ctx, argv, opt);
        return 0;
    }
    return opt;
}

int cli_help_only(cli_ctx *ctx, int argc, char **argv, cli_help_fn help, int *status)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    /* With --help the only option, getopt_long returns 'h', an error or -1. */
    return cli_getopt(ctx, argc, argv, ":h", opts, help, status);
}

int cli_options_end(cli_ctx *ctx, int argc, char **argv, int opt, const char *synopsis,
                    int *status)
{
    if (opt == 0) {
        return 1;
    }
    *status = cli_no_more_args(ctx, argc, argv, synopsis);
    return *status != CLI_EXIT_OK;
}

int cli_no_more_args(cli_ctx *ctx, int argc, char **argv, const char *synopsis)
{
    if (optind != argc) {
        return cli_usage(ctx, synopsis, "unexpected argument '%s'", argv[optind]);
    }
    return CLI_EXIT_OK;
}

int cli_user_arg(cli_ctx *ctx, int argc, char **argv, const char *synopsis, const char **user)
{
    *user = NULL;
    if (optind < argc) {
        *user = argv[optind++];
    } else if (ctx->prog->role != SECMSG_ROLE_CITIZEN) {
        return cli_usage(ctx, synopsis, "name the contact (USER)");
    }
    return cli_no_more_args(ctx, argc, argv, synopsis);
}

int cli_usage(cli_ctx *ctx, const char *synopsis, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error(ctx, CLI_EXIT_USAGE, "%s", msg);
    fprintf(stderr, "usage: %s %s%s%s\n", ctx->prog->name,
            ctx->command != NULL ? ctx->command : "", ctx->command != NULL ? " " : "", synopsis);
    return CLI_EXIT_USAGE;
}

int cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    unsigned long long v;
    char *end = NULL;

    /* Decimal digits only: strtoull would accept "-1", " 7" and "0x10". */
    if (s == NULL || s[0] < '0' || s[0] > '9' || strlen(s) > 10) {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

void cli_help_head(const cli_ctx *ctx, const char *summary, const char *synopsis)
{
    size_t width = strlen(ctx->prog->name) + strlen(ctx->command) + strlen(synopsis) + 23;

    printf("NAME\n    %s %s - %s\n\n", ctx->prog->name, ctx->command, summary);
    /* Keep the manual within 80 columns: a long synopsis gets its own line. */
    printf("SYNOPSIS\n    %s [GLOBAL OPTIONS] %s%s%s\n\n", ctx->prog->name, ctx->command,
           width > 80 ? "\n        " : " ", synopsis);
}

void cli_help_default_user(const cli_ctx *ctx)
{
    if (ctx->prog->role == SECMSG_ROLE_CITIZEN) {
        printf("    Without USER: your only caseworker.\n");
    }
}

void cli_help_exit_status(void)
{
    printf("EXIT STATUS\n"
           "    0  success\n"
           "    1  any other failure (the message says which)\n"
           "    2  usage: a bad command line or argument\n"
           "    3  wrong PIN (the attempts left are printed) or the store is locked\n"
           "    4  the relay is unreachable or refused the request (a message to send\n"
           "       stays queued and is retried by the next sync)\n"
           "    5  refused for safety: a file readable by others, a tampered store, a\n"
           "       forged signature or keys that do not match the invite/certificate\n"
           "    6  the invite, token or certificate has expired\n"
           "    7  not found: no store in DIR (run init), unknown contact\n");
}

const char *cli_role_name(int32_t role)
{
    switch (role) {
    case SECMSG_ROLE_CITIZEN:
        return "citizen";
    case SECMSG_ROLE_CASEWORKER:
        return "caseworker";
    case SECMSG_ROLE_JOURNAL:
        return "journal";
    default:
        return "none";
    }
}

const char *cli_verification_name(int32_t v)
{
    switch (v) {
    case SECMSG_VERIFIED_INVITE:
        return "invite";
    case SECMSG_VERIFIED_IN_PERSON:
        return "in-person";
    case SECMSG_VERIFICATION_FAILED:
        return "FAILED";
    default:
        return "unverified";
    }
}

const char *cli_status_name(int32_t status)
{
    switch (status) {
    case SECMSG_STATUS_QUEUED:
        return "queued";
    case SECMSG_STATUS_SENT:
        return "sent";
    case SECMSG_STATUS_RECEIVED:
        return "received";
    case SECMSG_STATUS_READ:
        return "read";
    default:
        return "unknown";
    }
}
