/*
 * pin - change the PIN, or the wrong-PIN policy.
 */
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

static int change(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    char pin[CLI_PIN_CAP];
    size_t len = 0;
    int rc;

    (void)arg;
    rc = cli_pin_read(ctx, CLI_PIN_NEW, pin, &len);
    if (rc == CLI_EXIT_OK) {
        rc = secmsg_client_change_pin(c, pin, len);
        if (rc != SECMSG_OK) {
            rc = cli_lib_error(ctx, c, rc, "cannot change the PIN");
        }
    }
    sodium_memzero(pin, sizeof pin);
    return rc;
}

/* The confirmation, printed once the store is closed. */
static int report_change(cli_ctx *ctx, int rc)
{
    cli_json j;

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

typedef struct pin_policy {
    uint32_t max_failures;
    int wipe;
} pin_policy;

static int policy(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const pin_policy *p = arg;
    const uint32_t max_failures = p->max_failures;
    const int wipe = p->wipe;
    cli_json j;
    int rc;

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
    pin_policy p = {0, 0};
    int opt;
    int rc;

    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        if (opt == 'w') {
            p.wipe = 1;
        } else if (cli_parse_u32(optarg, 1, 100, &p.max_failures) != 0) {
            return cli_usage(ctx, synopsis, "--max-failures must be 1 to 100");
        }
    }
    if (opt == 0) {
        return rc;
    }
    if (optind + 1 != argc) {
        return cli_usage(ctx, synopsis, "say change or policy");
    }
    if (strcmp(argv[optind], "change") == 0) {
        if (p.max_failures != 0 || p.wipe) {
            return cli_usage(ctx, synopsis, "change takes no options");
        }
        return report_change(ctx, cli_with_store(ctx, 0, change, NULL));
    }
    if (strcmp(argv[optind], "policy") == 0) {
        if (p.max_failures == 0) {
            return cli_usage(ctx, synopsis, "policy needs --max-failures N");
        }
        return cli_with_store(ctx, 0, policy, &p);
    }
    return cli_usage(ctx, synopsis, "unknown pin command '%s'", argv[optind]);
}
