/*
 * pin - change the PIN, or the wrong-PIN policy.
 */
#include <getopt.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

static const char synopsis[] = "change | policy --max-failures N [--wipe]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "change the PIN or the wrong-PIN policy", synopsis);
    printf("DESCRIPTION\n"
           "    pin change\n"
           "        Unlocks the store with the current PIN, then sets a new one (4 to 64\n"
           "        characters). The new PIN comes from the next line of --pin-fd, from\n"
           "        SECMSG_NEW_PIN, or is asked twice on the terminal. Only the wrapping\n"
           "        of the store's key changes; the data is not re-encrypted.\n"
           "    pin policy --max-failures N [--wipe]\n"
           "        After N wrong PINs in a row (1 to 100, default 10) the store is\n"
           "        locked for good; with --wipe its keys are deleted instead, so the\n"
           "        data can never be read again.\n\n"
           "OPTIONS\n"
           "    --max-failures N  wrong PINs allowed (policy)\n"
           "    --wipe            wipe instead of lock (policy)\n"
           "    --help            this manual\n\n");
    cli_help_exit_status();
}

static int change(cli_ctx *ctx)
{
    secmsg_client *c = NULL;
    char pin[CLI_PIN_CAP];
    size_t len = 0;
    cli_json j;
    int rc;

    rc = cli_open(ctx, &c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_pin_read(ctx, CLI_PIN_NEW, pin, &len);
    if (rc == CLI_EXIT_OK) {
        rc = secmsg_client_change_pin(c, pin, len);
        if (rc != SECMSG_OK) {
            rc = cli_lib_error(ctx, c, rc, "cannot change the PIN");
        }
    }
    sodium_memzero(pin, sizeof pin);
    secmsg_client_close(c);
    if (rc == CLI_EXIT_OK) {
        if (ctx->json) {
            cli_json_begin(&j);
            cli_json_bool(&j, "pin_changed", 1);
            cli_json_end(&j);
        } else {
            printf("the PIN was changed\n");
        }
    }
    return rc;
}

static int policy(cli_ctx *ctx, uint32_t max_failures, int wipe)
{
    secmsg_client *c = NULL;
    cli_json j;
    int rc;

    rc = cli_open(ctx, &c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = secmsg_client_set_pin_policy(c, max_failures, wipe);
    if (rc != SECMSG_OK) {
        rc = cli_lib_error(ctx, c, rc, "cannot set the PIN policy");
    } else if (ctx->json) {
        cli_json_begin(&j);
        cli_json_uint(&j, "max_failures", max_failures);
        cli_json_bool(&j, "wipe", wipe);
        cli_json_end(&j);
    } else {
        printf("after %u wrong PIN%s the store is %s\n", max_failures,
               max_failures == 1 ? "" : "s", wipe ? "wiped" : "locked");
    }
    secmsg_client_close(c);
    return rc;
}

int cli_cmd_pin(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-failures", required_argument, NULL, 'm'},
        {"wipe", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint32_t max_failures = 0;
    int wipe = 0;
    int opt;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (cli_parse_u32(optarg, 1, 100, &max_failures) != 0) {
                return cli_usage(ctx, synopsis, "--max-failures must be 1 to 100");
            }
            break;
        case 'w':
            wipe = 1;
            break;
        case 'h':
            help(ctx);
            return CLI_EXIT_OK;
        default:
            return cli_bad_option(ctx, argv, opt);
        }
    }
    if (optind + 1 != argc) {
        return cli_usage(ctx, synopsis, "say change or policy");
    }
    if (strcmp(argv[optind], "change") == 0) {
        if (max_failures != 0 || wipe) {
            return cli_usage(ctx, synopsis, "change takes no options");
        }
        return change(ctx);
    }
    if (strcmp(argv[optind], "policy") == 0) {
        if (max_failures == 0) {
            return cli_usage(ctx, synopsis, "policy needs --max-failures N");
        }
        return policy(ctx, max_failures, wipe);
    }
    return cli_usage(ctx, synopsis, "unknown pin command '%s'", argv[optind]);
}
