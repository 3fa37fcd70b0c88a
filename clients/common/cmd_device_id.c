/*
 * device-id - this device's id, identity, user id and role.
 */
#include <getopt.h>

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

int cli_cmd_device_id(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    secmsg_client *c = NULL;
    uint8_t dev[SECMSG_DEVICE_ID_BYTES];
    uint8_t idp[SECMSG_IDENTITY_PUBLIC_BYTES];
    char dev_hex[2 * SECMSG_DEVICE_ID_BYTES + 1];
    char id_hex[2 * SECMSG_IDENTITY_PUBLIC_BYTES + 1];
    char user[SECMSG_USER_ID_BYTES];
    size_t id_len = 0;
    cli_json j;
    int role;
    int opt;
    int rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (opt == 'h') {
            help(ctx);
            return CLI_EXIT_OK;
        }
        return cli_bad_option(ctx, argv, opt);
    }
    if (optind != argc) {
        return cli_usage(ctx, synopsis, "unexpected argument '%s'", argv[optind]);
    }
    rc = cli_open(ctx, &c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = secmsg_client_device_id(c, dev);
    if (rc == SECMSG_OK) {
        rc = secmsg_client_identity_public(c, idp, sizeof idp, &id_len);
    }
    if (rc == SECMSG_OK) {
        rc = secmsg_client_user_id(c, user, sizeof user);
    }
    if (rc != SECMSG_OK) {
        rc = cli_lib_error(ctx, c, rc, "cannot read this device's identity");
        goto out;
    }
    role = secmsg_client_role(c);
    cli_hex(dev_hex, sizeof dev_hex, dev, sizeof dev);
    cli_hex(id_hex, sizeof id_hex, idp, id_len);
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
out:
    secmsg_client_close(c);
    return rc;
}
