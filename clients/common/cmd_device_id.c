/*
 * device-id - this device's id, identity, user id and role.
 */
#include "cli.h"

static const char synopsis[] = "";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "print this device's id", synopsis);
    printf("DESCRIPTION\n"
           "    Prints this device's id (its Ed25519 public key, 64 hex digits) on\n"
           "    the first line; then, labelled, the identity public key, the user id\n"
           "    and the role once enrolled. Works offline.\n\n"
           "OPTIONS\n"
           "    --help  this manual\n\n"
           "OUTPUT\n"
           "    JSON: {\"device_id\", \"identity\", \"user_id\" (\"\" before enrollment),\n"
           "    \"role\" (\"none\" before enrollment)}\n\n");
    cli_help_exit_status();
}

static int print_device(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    char dev_hex[2 * SECMSG_DEVICE_ID_BYTES + 1];
    char id_hex[2 * SECMSG_IDENTITY_PUBLIC_BYTES + 1];
    char user[SECMSG_USER_ID_BYTES];
    cli_json j;
    int role;
    int rc;

    (void)arg;
    rc = cli_identity_hex(ctx, c, dev_hex, id_hex);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = secmsg_client_user_id(c, user, sizeof user);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "cannot read this device's identity");
    }
    role = secmsg_client_role(c);
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "device_id", dev_hex);
        cli_json_str(&j, "identity", id_hex);
        cli_json_str(&j, "user_id", user);
        cli_json_str(&j, "role", cli_role_name(role));
        cli_json_end(&j);
    } else {
        printf("%s\nidentity: %s\nuser id:  %s\nrole:     %s\n", dev_hex, id_hex,
               user[0] != '\0' ? user : "(not enrolled)", cli_role_name(role));
    }
    return CLI_EXIT_OK;
}

int cli_cmd_device_id(cli_ctx *ctx, int argc, char **argv)
{
    int opt;
    int rc;

    opt = cli_help_only(ctx, argc, argv, help, &rc);
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    return cli_with_store(ctx, 0, print_device, NULL);
}
