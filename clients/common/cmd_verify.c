/*
 * verify - mark a contact verified in person after comparing the safety
 * number.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char *synopsis(const cli_ctx *ctx)
{
    return ctx->prog->role == SECMSG_ROLE_CITIZEN ? "[--yes] [USER]" : "[--yes] USER";
}

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "mark a contact verified in person", synopsis(ctx));
    printf("DESCRIPTION\n"
           "    Shows the safety number with USER and asks (on the terminal) whether\n"
           "    the contact sees the same number; typing yes marks the contact\n"
           "    verified in person. Anything else changes nothing.\n");
    cli_help_default_user(ctx);
    printf("\nOPTIONS\n"
           "    --yes   do not ask (for scripts that compared the numbers themselves)\n"
           "    --help  this manual\n\n"
           "OUTPUT\n"
           "    JSON: {\"peer\", \"verification\": \"in-person\"}\n\n");
    cli_help_exit_status();
}

static int confirm(cli_ctx *ctx, secmsg_client *c, const char *peer)
{
    char digits[SECMSG_SAFETY_NUMBER_BYTES];
    char grouped[72];
    char question[512];
    int rc;

    rc = cli_safety_number_text(ctx, c, peer, digits, grouped);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    snprintf(question, sizeof question,
             "Safety number with %s:\n  %s\nDoes %s see the same number? Type yes to mark it "
             "verified: ", peer, grouped, peer);
    switch (cli_confirm(ctx, question)) {
    case 0:
        return CLI_EXIT_OK;
    case 1:
        return cli_error(ctx, CLI_EXIT_FAILURE, "not confirmed; %s was not marked verified",
                         peer);
    default:
        return cli_error(ctx, CLI_EXIT_USAGE, "no terminal to confirm on; compare the numbers "
                         "and pass --yes");
    }
}

int cli_cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    secmsg_client *c = NULL;
    const char *user = NULL;
    char peer[SECMSG_USER_ID_BYTES];
    char what[SECMSG_USER_ID_BYTES + 32];
    cli_json j;
    int yes = 0;
    int opt;
    int rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
        switch (opt) {
        case 'y':
            yes = 1;
            break;
        case 'h':
            help(ctx);
            return CLI_EXIT_OK;
        default:
            return cli_bad_option(ctx, argv, opt);
        }
    }
    if (optind < argc) {
        user = argv[optind++];
    } else if (ctx->prog->role != SECMSG_ROLE_CITIZEN) {
        return cli_usage(ctx, synopsis(ctx), "name the contact (USER)");
    }
    if (optind != argc) {
        return cli_usage(ctx, synopsis(ctx), "unexpected argument '%s'", argv[optind]);
    }
    rc = cli_open(ctx, &c);
    if (rc == CLI_EXIT_OK) {
        rc = cli_resolve_peer(ctx, c, user, peer);
    }
    if (rc == CLI_EXIT_OK && !yes) {
        rc = confirm(ctx, c, peer);
    }
    if (rc == CLI_EXIT_OK) {
        rc = secmsg_client_mark_verified(c, peer, NULL, 0);
        if (rc != SECMSG_OK) {
            snprintf(what, sizeof what, "cannot mark %s verified", peer);
            rc = cli_lib_error(ctx, c, rc, what);
        }
    }
    if (rc == CLI_EXIT_OK) {
        if (ctx->json) {
            cli_json_begin(&j);
            cli_json_str(&j, "peer", peer);
            cli_json_str(&j, "verification", cli_verification_name(SECMSG_VERIFIED_IN_PERSON));
            cli_json_end(&j);
        } else {
            printf("%s is verified in person\n", peer);
        }
    }
    secmsg_client_close(c);
    return rc;
}
