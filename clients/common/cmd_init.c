/*
 * init - create the device directory, device.secret and the store.
 */
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

static const char synopsis[] = "[--kdf-ops N --kdf-mem-kib N]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "create this device's encrypted store", synopsis);
    printf("DESCRIPTION\n"
           "    Creates DIR (mode 0700), DIR/device.secret (32 random bytes, mode 0600)\n"
           "    and the store DIR/store.db with a fresh identity and prekeys, protected\n"
           "    by a PIN of 4 to 64 characters (asked twice on the terminal, or taken\n"
           "    from --pin-fd / SECMSG_PIN). An existing store is never touched.\n"
           "    Prints the device id and the identity public key, both in hex.\n");
    if (ctx->prog->role == SECMSG_ROLE_CASEWORKER) {
        printf("    The municipality admin certifies the identity (secmsg-admin certify);\n"
               "    then run enroll with the certificate and a relay token.\n");
    } else {
        printf("    Then redeem the invite your caseworker gave you.\n");
    }
    printf("\nOPTIONS\n"
           "    --kdf-ops N, --kdf-mem-kib N\n"
           "        Argon2id cost of unlocking (both or neither; default: the library's\n"
           "        phone-sized defaults). Small values are for tests only.\n\n"
           "OUTPUT\n"
           "    device id: HEX\n"
           "    identity:  HEX\n"
           "    JSON: {\"device_id\": HEX, \"identity\": HEX, \"dir\": DIR}\n\n");
    cli_help_exit_status();
}

static int print_identity(cli_ctx *ctx, secmsg_client *c)
{
    char dev_hex[2 * SECMSG_DEVICE_ID_BYTES + 1];
    char id_hex[2 * SECMSG_IDENTITY_PUBLIC_BYTES + 1];
    cli_json j;
    int rc;

    rc = cli_identity_hex(ctx, c, dev_hex, id_hex);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "device_id", dev_hex);
        cli_json_str(&j, "identity", id_hex);
        cli_json_str(&j, "dir", ctx->dir);
        cli_json_end(&j);
    } else {
        printf("device id: %s\nidentity:  %s\n", dev_hex, id_hex);
    }
    return CLI_EXIT_OK;
}

int cli_cmd_init(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kdf-ops", required_argument, NULL, 'o'},
        {"kdf-mem-kib", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char path[CLI_PATH_MAX];
    char secret_path[CLI_PATH_MAX];
    uint8_t secret[SECMSG_DEVICE_SECRET_MAX];
    char pin[CLI_PIN_CAP];
    size_t secret_len = 0;
    size_t pin_len = 0;
    secmsg_client *c = NULL;
    uint32_t ops = 0;
    uint32_t mem = 0;
    int have_ops = 0;
    int have_mem = 0;
    int created = 0;
    int exists = 0;
    int opt;
    int rc;

    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        switch (opt) {
        case 'o':
            if (cli_parse_u32(optarg, 1, 1000, &ops) != 0) {
                return cli_usage(ctx, synopsis, "--kdf-ops must be 1 to 1000");
            }
            have_ops = 1;
            break;
        case 'm':
            if (cli_parse_u32(optarg, 8, 4U * 1024U * 1024U, &mem) != 0) {
                return cli_usage(ctx, synopsis, "--kdf-mem-kib must be 8 to 4194304");
            }
            have_mem = 1;
            break;
        }
    }
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    if (have_ops != have_mem) {
        return cli_usage(ctx, synopsis, "give both --kdf-ops and --kdf-mem-kib, or neither");
    }

    rc = cli_dir_check(ctx, 1);
    if (rc == CLI_EXIT_OK) {
        rc = cli_path(ctx, path, "store.db");
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_path(ctx, secret_path, "device.secret");
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_file_check(ctx, path, 1, &exists);
        if (rc == CLI_EXIT_OK && exists) {
            rc = cli_error(ctx, CLI_EXIT_FAILURE, "a store already exists in %s; it was not "
                           "touched", ctx->dir);
        }
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_secret_create(ctx, secret, &secret_len, &created);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_pin_read(ctx, CLI_PIN_CHOOSE, pin, &pin_len);
    }
    if (rc == CLI_EXIT_OK) {
        rc = secmsg_client_create(&c, path, secret, secret_len, pin, pin_len, ops, mem);
        if (rc == SECMSG_E_EXISTS) {
            rc = cli_error(ctx, CLI_EXIT_FAILURE, "a store already exists in %s; it was not "
                           "touched", ctx->dir);
        } else if (rc != SECMSG_OK) {
            rc = cli_lib_error(ctx, NULL, rc, "cannot create the store");
        }
    }
    /* A secret made for a store that does not exist unlocks nothing. */
    if (rc != CLI_EXIT_OK && created) {
        unlink(secret_path);
    }
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(pin, sizeof pin);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = print_identity(ctx, c);
    secmsg_client_close(c);
    if (rc == CLI_EXIT_OK && !ctx->json) {
        cli_note(ctx, "created the store in %s", ctx->dir);
        if (ctx->prog->role == SECMSG_ROLE_CASEWORKER) {
            cli_note(ctx, "next: the municipality admin certifies the identity above "
                     "(secmsg-admin certify); then run: %s enroll --relay URL --token TOKEN "
                     "--certificate CERT", ctx->prog->name);
        } else {
            cli_note(ctx, "next: %s redeem INVITE", ctx->prog->name);
        }
    }
    return rc;
}
