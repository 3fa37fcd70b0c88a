/*
 * invite - create an invite for a citizen: the text on its own line, then
 * the same text as a QR code.
 */
#include <string.h>
#include <unistd.h>

#include <sodium.h>

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

typedef struct invite_opts {
    const char *user;
    uint32_t ttl;
    int qr; /* -1: when stdout is a terminal */
} invite_opts;

static int invite(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const invite_opts *o = arg;
    char text[SECMSG_INVITE_MAX];
    size_t len = 0;
    cli_json j;
    int rc;

    rc = secmsg_client_create_invite(c, o->user, o->ttl, text, sizeof text, &len);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, rc == SECMSG_E_STATE
                                             ? "cannot create an invite (not enrolled yet?)"
                                             : "cannot create an invite");
    }
    text[sizeof text - 1] = '\0';
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "invite", text);
        cli_json_str(&j, "user_id", o->user != NULL ? o->user : "");
        cli_json_end(&j);
    } else {
        printf("%s\n", text);
        if (o->qr == 1 || (o->qr == -1 && isatty(STDOUT_FILENO))) {
            if (cli_qr_print(stdout, text) != 0) {
                cli_note(ctx, "could not draw the QR code; give the text above instead");
            }
        }
    }
    /* The invite carries the one-time token and the secret of the hello. */
    sodium_memzero(text, sizeof text);
    return CLI_EXIT_OK;
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
    invite_opts o = {NULL, 0, -1};
    int opt;
    int rc;

    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        switch (opt) {
        case 'u':
            o.user = optarg;
            if (strlen(o.user) == 0 || strlen(o.user) >= SECMSG_USER_ID_BYTES) {
                return cli_usage(ctx, synopsis, "a user id is 1 to %u bytes",
                                 SECMSG_USER_ID_BYTES - 1);
            }
            break;
        case 't':
            if (cli_parse_u32(optarg, 1, UINT32_MAX, &o.ttl) != 0) {
                return cli_usage(ctx, synopsis, "--ttl needs a positive number of seconds");
            }
            break;
        case 'q':
            o.qr = 1;
            break;
        case 'n':
            o.qr = 0;
            break;
        }
    }
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    return cli_with_store(ctx, 0, invite, &o);
}
