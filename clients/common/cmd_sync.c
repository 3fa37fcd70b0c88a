/*
 * sync - one synchronisation round, then the event queue.
 */
#include <getopt.h>

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

int cli_cmd_sync(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    secmsg_client *c = NULL;
    cli_transport *t = NULL;
    uint32_t wait_s = 0;
    size_t received = 0;
    size_t shown = 0;
    cli_json j;
    int opt;
    int rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'w':
            if (cli_parse_u32(optarg, 0, 300, &wait_s) != 0) {
                return cli_usage(ctx, synopsis, "--wait must be 0 to 300 seconds");
            }
            break;
        case 'h':
            help(ctx);
            return CLI_EXIT_OK;
        default:
            return cli_bad_option(ctx, argv, opt);
        }
    }
    if (optind != argc) {
        return cli_usage(ctx, synopsis, "unexpected argument '%s'", argv[optind]);
    }
    rc = cli_open(ctx, &c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (wait_s > 0) {
        cli_stop_on_signals();
        if (cli_transport_new(&t, cli_stop_flag()) != 0 ||
            secmsg_client_set_transport(c, cli_transport_fn, t) != SECMSG_OK) {
            rc = cli_error(ctx, CLI_EXIT_FAILURE, "cannot set up the network transport");
            goto out;
        }
    }
    rc = secmsg_client_sync(c, wait_s * 1000U, &received);
    if (rc != SECMSG_OK) {
        rc = *cli_stop_flag() ? cli_error(ctx, CLI_EXIT_FAILURE, "interrupted")
             : rc == SECMSG_E_STATE
                 ? cli_lib_error(ctx, c, rc, "cannot sync (not enrolled yet?)")
                 : cli_lib_error(ctx, c, rc, "cannot sync");
        goto out;
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_uint(&j, "received", received);
        cli_json_end(&j);
    } else {
        printf("%zu new message%s\n", received, received == 1 ? "" : "s");
    }
    rc = cli_drain_events(ctx, c, 0, &shown);
out:
    secmsg_client_close(c);
    cli_transport_free(t);
    return rc;
}
