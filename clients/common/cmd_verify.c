/*
 * verify - mark a contact verified in person after comparing the safety
 * number.
 */
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

static int verify(cli_ctx *ctx, secmsg_client *c, const char *peer, const void *arg)
{
    const int yes = *(const int *)arg;
    char what[SECMSG_USER_ID_BYTES + 32];
    cli_json j;
    int rc;

    if (!yes) {
        rc = confirm(ctx, c, peer);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
    }
    rc = secmsg_client_mark_verified(c, peer, NULL, 0);
    if (rc != SECMSG_OK) {
        snprintf(what, sizeof what, "cannot mark %s verified", peer);
        return cli_lib_error(ctx, c, rc, what);
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "peer", peer);
        cli_json_str(&j, "verification", cli_verification_name(SECMSG_VERIFIED_IN_PERSON));
        cli_json_end(&j);
    } else {
        printf("%s is verified in person\n", peer);
    }
    return CLI_EXIT_OK;
}

int cli_cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL;
    int yes = 0;
    int opt;
    int rc;

    /* --yes (-y) is the only option besides --help. */
    while ((opt = cli_getopt(ctx, argc, argv, ":hy", opts, help, &rc)) > 0) {
        yes = 1;
    }
    if (opt == 0) {
        return rc;
    }
    rc = cli_user_arg(ctx, argc, argv, synopsis(ctx), &user);
    return rc != CLI_EXIT_OK ? rc : cli_with_peer(ctx, user, verify, &yes);
}
