/*
 * watch - stream incoming messages: sync with a 25 s long poll in a loop,
 * printing every event as it is taken off the queue.
 */
#include <errno.h>
#include <time.h>

#include "cli.h"

#define LONG_POLL_S 25U
#define BACKOFF_MAX_S 30U

static const char synopsis[] = "[--count N] [--timeout SECONDS]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "print messages as they arrive", synopsis);
    printf("DESCRIPTION\n"
           "    Syncs with the relay in a loop (a long poll of up to 25 s each) and\n"
           "    prints each new incoming message as \"TIME USER: TEXT\" as it arrives,\n"
           "    other events as \"TIME * ...\" / \"TIME ! ...\" (see sync). Events still\n"
           "    queued from earlier are printed first. Queued outgoing messages are\n"
           "    sent on the way. When the relay cannot be reached, watch says so on\n"
           "    stderr and retries with a growing pause (at most 30 s).\n"
           "    Stops cleanly (the store is closed) on SIGINT or SIGTERM, at once\n"
           "    even during a long poll, after N messages, or after the timeout.\n\n"
           "OPTIONS\n"
           "    --count N          stop after N incoming messages\n"
           "    --timeout SECONDS  stop after this long; with --count, not reaching N\n"
           "                       messages in time is a failure (exit 1)\n"
           "    --help             this manual\n\n"
           "OUTPUT\n"
           "    JSON, one object per event as in sync (messages with \"text\").\n\n");
    cli_help_exit_status();
}

static void pause_s(uint32_t s, volatile sig_atomic_t *stop)
{
    struct timespec ts = {(time_t)s, 0};

    while (!*stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

typedef struct watch_opts {
    uint32_t count;
    uint32_t timeout_s;
} watch_opts;

static int loop(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const watch_opts *o = arg;
    volatile sig_atomic_t *stop = cli_stop_flag();
    uint64_t deadline = o->timeout_s > 0 ? cli_now_ms() + (uint64_t)o->timeout_s * 1000U : 0;
    uint64_t now;
    uint32_t wait_s;
    uint32_t backoff = 1;
    size_t shown = 0;
    int offline = 0;
    int rc;

    if (!ctx->json) {
        cli_note(ctx, "watching for messages; Ctrl-C to stop");
    }
    for (;;) {
        rc = cli_drain_events(ctx, c, o->count, &shown, NULL);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
        if ((o->count > 0 && shown >= o->count) || *stop) {
            return CLI_EXIT_OK;
        }
        now = cli_now_ms();
        if (deadline != 0 && now >= deadline) {
            if (o->count > 0) {
                return cli_error(ctx, CLI_EXIT_FAILURE, "timed out after %u s with %zu of %u "
                                 "messages", o->timeout_s, shown, o->count);
            }
            return CLI_EXIT_OK;
        }
        wait_s = LONG_POLL_S;
        if (deadline != 0 && (deadline - now + 999U) / 1000U < wait_s) {
            wait_s = (uint32_t)((deadline - now + 999U) / 1000U);
        }
        rc = secmsg_client_sync(c, wait_s * 1000U, NULL);
        if (*stop) {
            return CLI_EXIT_OK;
        }
        if (rc == SECMSG_OK) {
            if (offline && !ctx->json) {
                cli_note(ctx, "the relay is reachable again");
            }
            offline = 0;
            backoff = 1;
            continue;
        }
        if (rc != SECMSG_E_NETWORK && rc != SECMSG_E_RELAY) {
            return rc == SECMSG_E_STATE ? cli_lib_error(ctx, c, rc, "cannot watch (not "
                                                        "enrolled yet?)")
                                        : cli_lib_error(ctx, c, rc, "cannot sync");
        }
        if (!offline) {
            cli_note(ctx, "%s (%s); retrying", cli_error_sentence(rc),
                     secmsg_client_last_error(c));
        }
        offline = 1;
        now = cli_now_ms();
        if (deadline != 0 && now >= deadline) {
            continue;
        }
        pause_s(deadline != 0 && (deadline - now) / 1000U < backoff
                    ? (uint32_t)((deadline - now) / 1000U) + 1U
                    : backoff,
                stop);
        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
    }
}

int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    watch_opts o = {0, 0};
    int opt;
    int rc;

    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        switch (opt) {
        case 'c':
            if (cli_parse_u32(optarg, 1, UINT32_MAX, &o.count) != 0) {
                return cli_usage(ctx, synopsis, "--count needs a positive number");
            }
            break;
        case 't':
            if (cli_parse_u32(optarg, 1, 100U * 365U * 86400U, &o.timeout_s) != 0) {
                return cli_usage(ctx, synopsis, "--timeout needs a positive number of seconds");
            }
            break;
        }
    }
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    /* A signal stops even a running long poll at once. */
    return cli_with_store(ctx, 1, loop, &o);
}
