/*
 * main.c - the driver shared by secmsg-caseworker and secmsg-citizen:
 * global options, the default directory, command dispatch, --help and
 * --version. Global options come before the command; the command parses
 * the rest itself.
 */
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifndef SECMSG_CLI_VERSION
#define SECMSG_CLI_VERSION "unknown"
#endif

static void print_help(const cli_prog *prog)
{
    const cli_command *cmd;

    printf("NAME\n    %s - %s\n\n", prog->name, prog->summary);
    printf("SYNOPSIS\n"
           "    %s [--dir DIR] [--pin-fd N] [--json] COMMAND [ARGS...]\n"
           "    %s COMMAND --help\n"
           "    %s --help | --version\n\n",
           prog->name, prog->name, prog->name);
    printf("DESCRIPTION\n%s\n", prog->description);
    printf("COMMANDS\n");
    for (cmd = prog->commands; cmd->name != NULL; cmd++) {
        printf("    %-15s %s\n", cmd->name, cmd->summary);
    }
    printf("    %-15s %s\n\n", "help COMMAND", "the manual of one command (as COMMAND --help)");
    printf("OPTIONS\n"
           "    --dir DIR\n"
           "        The device directory (created 0700 by init). Default: $SECMSG_HOME if\n"
           "        set, else ~/%s.\n"
           "    --pin-fd N\n"
           "        Read the PIN as one line from file descriptor N (pin change: the\n"
           "        current PIN, then the new one, one line each).\n"
           "    --json\n"
           "        Machine output: exactly one JSON object per line on stdout. Errors are\n"
           "        objects {\"error\": SENTENCE, \"code\": EXIT-STATUS} on stdout too; the\n"
           "        sentence also goes to stderr.\n"
           "    --help, -h\n"
           "        This manual.\n"
           "    --version\n"
           "        The program's and the library's versions.\n\n",
           prog->home_dir);
    printf("ENVIRONMENT\n"
           "    SECMSG_HOME     the default device directory\n"
           "    SECMSG_PIN      the PIN, when --pin-fd is not given (for scripts)\n"
           "    SECMSG_NEW_PIN  the new PIN for \"pin change\"\n"
           "    Without either, the PIN is read from /dev/tty without echo.\n\n");
    printf("FILES\n"
           "    DIR/store.db, DIR/store.db.keys\n"
           "        The encrypted device store and its wrapped key (mode 0600).\n"
           "    DIR/device.secret\n"
           "        32 random bytes that, with the PIN, unlock the store. Created 0600\n"
           "        by init; a copy with group/other permissions is refused.\n\n");
    cli_help_exit_status();
}

static int home_default(cli_ctx *ctx)
{
    const char *env = getenv("SECMSG_HOME");
    const char *home;
    const struct passwd *pw;
    int n;

    if (env != NULL && env[0] != '\0') {
        n = snprintf(ctx->dir, sizeof ctx->dir, "%s", env);
    } else {
        home = getenv("HOME");
        if (home == NULL || home[0] == '\0') {
            pw = getpwuid(geteuid());
            home = pw != NULL ? pw->pw_dir : NULL;
        }
        if (home == NULL) {
            return cli_error(ctx, CLI_EXIT_USAGE,
                             "no home directory: give --dir DIR or set SECMSG_HOME");
        }
        n = snprintf(ctx->dir, sizeof ctx->dir, "%s/%s", home, ctx->prog->home_dir);
    }
    if (n < 0 || (size_t)n >= sizeof ctx->dir) {
        return cli_error(ctx, CLI_EXIT_USAGE, "the directory name is too long");
    }
    return CLI_EXIT_OK;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL if absent. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0) {
        return NULL;
    }
    if (argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] == '\0' && *i + 1 < argc) {
        *i += 1;
        return argv[*i];
    }
    return NULL;
}

static int is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);

    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static const char *const global_synopsis = "[--dir DIR] [--pin-fd N] [--json] COMMAND [ARGS...]";

static int parse_globals(cli_ctx *ctx, int argc, char **argv, int *first, int *done)
{
    int i;
    const char *v;
    uint32_t fd;
    int dir_given = 0;

    *done = 0;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(ctx->prog);
            *done = 1;
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s (libsecmsg %s)\n", ctx->prog->name, SECMSG_CLI_VERSION,
                   secmsg_version_string());
            *done = 1;
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctx->json = 1;
        } else if (is_option(argv[i], "--dir")) {
            v = option_value(argc, argv, &i, "--dir");
            if (v == NULL || v[0] == '\0') {
                return cli_usage(ctx, global_synopsis, "--dir needs a directory");
            }
            if (strlen(v) >= sizeof ctx->dir) {
                return cli_usage(ctx, global_synopsis, "the directory name is too long");
            }
            memcpy(ctx->dir, v, strlen(v) + 1);
            dir_given = 1;
        } else if (is_option(argv[i], "--pin-fd")) {
            v = option_value(argc, argv, &i, "--pin-fd");
            if (v == NULL || cli_parse_u32(v, 0, INT_MAX, &fd) != 0) {
                return cli_usage(ctx, global_synopsis,
                                 "--pin-fd needs a file descriptor number");
            }
            ctx->pin_fd = (int)fd;
        } else {
            return cli_usage(ctx, global_synopsis, "unknown option '%s'", argv[i]);
        }
    }
    *first = i;
    if (!dir_given) {
        return home_default(ctx);
    }
    return CLI_EXIT_OK;
}

static const cli_command *find_command(const cli_prog *prog, const char *name)
{
    const cli_command *cmd;

    for (cmd = prog->commands; cmd->name != NULL; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }
    return NULL;
}

int cli_main(const cli_prog *prog, int argc, char **argv)
{
    cli_ctx ctx;
    const cli_command *cmd;
    static char help_flag[] = "--help";
    char *help_argv[3];
    int first = 0;
    int done;
    int rc;

    memset(&ctx, 0, sizeof ctx);
    ctx.prog = prog;
    ctx.pin_fd = -1;
    /* Whatever the library or we create in DIR is private to this user. */
    umask(077);

    if (secmsg_init() != SECMSG_OK) {
        return cli_error(&ctx, CLI_EXIT_FAILURE, "the crypto library failed to initialise");
    }
    rc = parse_globals(&ctx, argc, argv, &first, &done);
    if (rc != CLI_EXIT_OK || done) {
        goto out;
    }
    if (first >= argc) {
        rc = cli_usage(&ctx, global_synopsis, "no command given");
        goto out;
    }
    if (strcmp(argv[first], "help") == 0) {
        if (first + 1 >= argc) {
            print_help(prog);
            rc = CLI_EXIT_OK;
            goto out;
        }
        cmd = find_command(prog, argv[first + 1]);
        if (cmd == NULL) {
            rc = cli_usage(&ctx, global_synopsis, "unknown command '%s'", argv[first + 1]);
            goto out;
        }
        ctx.command = cmd->name;
        help_argv[0] = argv[first + 1];
        help_argv[1] = help_flag;
        help_argv[2] = NULL;
        cli_getopt_reset();
        rc = cmd->run(&ctx, 2, help_argv);
        goto out;
    }
    cmd = find_command(prog, argv[first]);
    if (cmd == NULL) {
        rc = cli_usage(&ctx, global_synopsis, "unknown command '%s'", argv[first]);
        goto out;
    }
    ctx.command = cmd->name;
    cli_getopt_reset();
    rc = cmd->run(&ctx, argc - first, argv + first);
out:
    /* A lost stdout (full disk, closed pipe) must not look like success. */
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "%s: cannot write the output\n", prog->name);
        rc = CLI_EXIT_FAILURE;
    }
    return rc;
}
