/*
 * invite - create an invite for a citizen: the text on its own line, then
 * the same text as a QR code.
 */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "caseworker.h"

static const char synopsis[] = "[--user ID] [--ttl SECONDS] [--qr | --no-qr]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "create an invite for a citizen", synopsis);
    printf("DESCRIPTION\n"
           "    Asks the relay for a one-time citizen token and prints an invite: the\n"
           "    relay URL, the token, this device's identity fingerprint, the\n"
           "    municipality root key fingerprint and a secret. The citizen redeems it\n"
           "    with secmsg-citizen redeem; their device then trusts exactly the keys\n"
           "    the invite names, and this device accepts exactly the citizen holding\n"
           "    the invite. Give it to the citizen in person or by a channel you trust\n"
           "    (whoever holds it can become that citizen's device until it is used).\n"
           "    The text is printed on its own line, then the QR code of the same\n"
           "    text when stdout is a terminal.\n\n"
           "OPTIONS\n"
           "    --user ID      the citizen's user id (1 to 64 of A-Z a-z 0-9 . _ -);\n"
           "                   default: a random id chosen by the library\n"
           "    --ttl SECONDS  how long the invite is valid (default: the relay's\n"
           "                   default, 7 days)\n"
           "    --qr           print the QR code even when stdout is not a terminal\n"
           "    --no-qr        never print the QR code\n"
           "    --help         this manual\n\n"
           "OUTPUT\n"
           "    secmsg-invite:...\n"
           "    JSON: {\"invite\": TEXT, \"user_id\": ID or \"\"} (never a QR code)\n\n");
    cli_help_exit_status();
}

int cw_cmd_invite(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},
        {"ttl", required_argument, NULL, 't'},
        {"qr", no_argument, NULL, 'q'},
        {"no-qr", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    secmsg_client *c = NULL;
    const char *user = NULL;
    char invite[SECMSG_INVITE_MAX];
    size_t len = 0;
    uint32_t ttl = 0;
    int qr = -1; /* -1: when stdout is a terminal */
    cli_json j;
    int opt;
    int rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            user = optarg;
            if (strlen(user) == 0 || strlen(user) >= SECMSG_USER_ID_BYTES) {
                return cli_usage(ctx, synopsis, "a user id is 1 to %u bytes",
                                 SECMSG_USER_ID_BYTES - 1);
            }
            break;
        case 't':
            if (cli_parse_u32(optarg, 1, UINT32_MAX, &ttl) != 0) {
                return cli_usage(ctx, synopsis, "--ttl needs a positive number of seconds");
            }
            break;
        case 'q':
            qr = 1;
            break;
        case 'n':
            qr = 0;
            break;
        case 'h':
            help(ctx);
            return CLI_EXIT_OK;
        default:
            return cli_bad_option(ctx, argv, opt);
        }
    }
    if (optind != argc) {
        return cli_usage(ctx, synopsis, "unexpected argument '%s'", argv[optind]);
    }
    rc = cli_open(ctx, &c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = secmsg_client_create_invite(c, user, ttl, invite, sizeof invite, &len);
    if (rc != SECMSG_OK) {
        rc = rc == SECMSG_E_STATE
                 ? cli_lib_error(ctx, c, rc, "cannot create an invite (not enrolled yet?)")
                 : cli_lib_error(ctx, c, rc, "cannot create an invite");
        goto out;
    }
    invite[sizeof invite - 1] = '\0';
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "invite", invite);
        cli_json_str(&j, "user_id", user != NULL ? user : "");
        cli_json_end(&j);
        goto out;
    }
    printf("%s\n", invite);
    if (qr == 1 || (qr == -1 && isatty(STDOUT_FILENO))) {
        if (cli_qr_print(stdout, invite) != 0) {
            cli_note(ctx, "could not draw the QR code; give the text above instead");
        }
    }
out:
    secmsg_client_close(c);
    return rc;
}
