/*
 * sync - one synchronisation round, then the event queue.
 */
#include "cli.h"

static const char synopsis[] = "[--wait SECONDS]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "send the outbox, fetch new messages, print events", synopsis);
    printf("DESCRIPTION\n"
           "    One synchronisation round with the relay: queued messages are sent, new\n"
           "    ones fetched, decrypted and stored (each in one transaction, acked only\n"
           "    after it is stored). Prints how many new messages arrived, then takes\n"
           "    every event off the store's event queue and prints it: messages as\n"
           "    \"TIME USER: TEXT\", other events as \"TIME * ...\" and failures (e.g. a\n"
           "    message that could not be decrypted) as \"TIME ! ...\".\n"
           "    Events are also taken by watch; inbox and show leave them.\n\n"
           "OPTIONS\n"
           "    --wait SECONDS  when the mailbox is empty, wait up to this long for mail\n"
           "                    (0 to 300, default 0); Ctrl-C stops the wait at once\n"
           "    --help          this manual\n\n"
           "OUTPUT\n"
           "    N new message(s), then one line per event.\n"
           "    JSON: {\"received\": N}, then one object per event: {\"event\":\n"
           "    \"message\"|\"receipt\"|\"contact_added\"|\"contact_verified\"|\"error\",\n"
           "    \"peer\", \"at\", \"message_id\", \"status\", \"sent_at\", \"text\", ...}\n\n");
    cli_help_exit_status();
}

static int sync_once(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const uint32_t wait_s = *(const uint32_t *)arg;
    size_t received = 0;
    size_t shown = 0;
    cli_json j;
    int rc;

    rc = secmsg_client_sync(c, wait_s * 1000U, &received);
    if (rc != SECMSG_OK) {
        return *cli_stop_flag() ? cli_error(ctx, CLI_EXIT_FAILURE, "interrupted")
               : rc == SECMSG_E_STATE
                   ? cli_lib_error(ctx, c, rc, "cannot sync (not enrolled yet?)")
                   : cli_lib_error(ctx, c, rc, "cannot sync");
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_uint(&j, "received", received);
        cli_json_end(&j);
    } else {
        printf("%zu new message%s\n", received, received == 1 ? "" : "s");
    }
    size_t refused = 0;
    rc = cli_drain_events(ctx, c, 0, &shown, &refused);
    if (rc == CLI_EXIT_OK && refused > 0) {
        /* Everything else was stored; scripts still learn that something was forged. */
        return cli_error(ctx, CLI_EXIT_TRUST,
                         "%zu incoming message%s failed verification and %s dropped", refused,
                         refused == 1 ? "" : "s", refused == 1 ? "was" : "were");
    }
    return rc;
}

int cli_cmd_sync(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint32_t wait_s = 0;
    int opt;
    int rc;

    /* --wait is the only option besides --help. */
    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        if (cli_parse_u32(optarg, 0, 300, &wait_s) != 0) {
            return cli_usage(ctx, synopsis, "--wait must be 0 to 300 seconds");
        }
    }
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    /* Only a wait needs Ctrl-C to stop a request at once. */
    return cli_with_store(ctx, wait_s > 0, sync_once, &wait_s);
}
