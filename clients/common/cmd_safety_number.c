/*
 * safety-number - the number both sides compare to confirm their keys.
 */
#include <string.h>

#include "cli.h"

static const char *synopsis(const cli_ctx *ctx)
{
    return ctx->prog->role == SECMSG_ROLE_CITIZEN ? "[USER]" : "USER";
}

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "print the safety number with a contact", synopsis(ctx));
    printf("DESCRIPTION\n"
           "    Prints the 60-digit safety number of this device's and USER's identity\n"
           "    keys, in 12 groups of 5 digits. It is the same on both sides; if the\n"
           "    two numbers differ, someone is in between. Compare it in person (or by\n"
           "    a channel you trust) and then run verify. Works offline.\n");
    cli_help_default_user(ctx);
    printf("\nOPTIONS\n"
           "    --help  this manual\n\n"
           "OUTPUT\n"
           "    12345 67890 ... (12 groups)\n"
           "    JSON: {\"peer\", \"safety_number\": 60 digits}\n\n");
    cli_help_exit_status();
}

int cli_safety_number_text(cli_ctx *ctx, secmsg_client *c, const char *peer,
                           char digits[SECMSG_SAFETY_NUMBER_BYTES], char grouped[72])
{
    char what[SECMSG_USER_ID_BYTES + 48];
    size_t i;
    size_t n = 0;
    int rc;

    rc = secmsg_client_safety_number(c, peer, digits);
    if (rc != SECMSG_OK) {
        snprintf(what, sizeof what, "cannot compute the safety number with %s", peer);
        return cli_lib_error(ctx, c, rc, what);
    }
    digits[SECMSG_SAFETY_NUMBER_BYTES - 1] = '\0';
    for (i = 0; i < 60 && digits[i] != '\0'; i++) {
        if (i > 0 && i % 5 == 0) {
            grouped[n++] = ' ';
        }
        grouped[n++] = digits[i];
    }
    grouped[n] = '\0';
    return CLI_EXIT_OK;
}

static int print_number(cli_ctx *ctx, secmsg_client *c, const char *peer, const void *arg)
{
    char digits[SECMSG_SAFETY_NUMBER_BYTES];
    char grouped[72];
    cli_json j;
    int rc;

    (void)arg;
    rc = cli_safety_number_text(ctx, c, peer, digits, grouped);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "peer", peer);
        cli_json_str(&j, "safety_number", digits);
        cli_json_end(&j);
    } else {
        printf("%s\n", grouped);
    }
    return CLI_EXIT_OK;
}

int cli_cmd_safety_number(cli_ctx *ctx, int argc, char **argv)
{
    const char *user = NULL;
    int rc;

    if (cli_help_only(ctx, argc, argv, help, &rc) == 0) {
        return rc;
    }
    rc = cli_user_arg(ctx, argc, argv, synopsis(ctx), &user);
    return rc != CLI_EXIT_OK ? rc : cli_with_peer(ctx, user, print_number, NULL);
}
