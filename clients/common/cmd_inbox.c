/*
 * inbox - sync once (no waiting), then the conversations, newest first.
 */
#include <stdlib.h>

#include "cli.h"

static const char synopsis[] = "[--offline]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "list the conversations with unread counts", synopsis);
    printf("DESCRIPTION\n"
           "    Syncs once with the relay (sending queued messages, fetching new ones,\n"
           "    without waiting), then lists every conversation, the most recently\n"
           "    active first: user, unread messages, messages, time of the newest.\n"
           "    If the relay cannot be reached the stored conversations are still\n"
           "    listed (after the error), and the exit status is 4. The event queue\n"
           "    is left for sync and watch.\n\n"
           "OPTIONS\n"
           "    --offline  do not contact the relay\n"
           "    --help     this manual\n\n"
           "OUTPUT\n"
           "    JSON, one object per conversation: {\"user_id\", \"role\", \"unread\",\n"
           "    \"messages\", \"last_activity\"}, after an error object if the sync\n"
           "    failed.\n\n");
    cli_help_exit_status();
}

static int by_activity(const void *a, const void *b)
{
    const secmsg_contact *x = a;
    const secmsg_contact *y = b;

    if (x->last_activity != y->last_activity) {
        return x->last_activity > y->last_activity ? -1 : 1;
    }
    return 0;
}

static int list(cli_ctx *ctx, secmsg_client *c)
{
    secmsg_contact *all = NULL;
    char when[32];
    size_t count = 0;
    size_t i;
    cli_json j;
    int rc;

    rc = secmsg_client_contact_count(c, &count);
    if (rc == SECMSG_OK && count > 0) {
        all = calloc(count, sizeof *all);
        if (all == NULL) {
            return cli_error(ctx, CLI_EXIT_FAILURE, "out of memory");
        }
    }
    for (i = 0; rc == SECMSG_OK && i < count; i++) {
        rc = secmsg_client_contact_get(c, i, &all[i]);
        all[i].user_id[sizeof all[i].user_id - 1] = '\0';
    }
    if (rc != SECMSG_OK) {
        free(all);
        return cli_lib_error(ctx, c, rc, "cannot list the conversations");
    }
    if (count > 0) {
        qsort(all, count, sizeof *all, by_activity);
    }
    for (i = 0; i < count; i++) {
        if (ctx->json) {
            cli_json_begin(&j);
            cli_json_str(&j, "user_id", all[i].user_id);
            cli_json_str(&j, "role", cli_role_name(all[i].role));
            cli_json_uint(&j, "unread", all[i].unread);
            cli_json_uint(&j, "messages", all[i].messages);
            cli_json_uint(&j, "last_activity", all[i].last_activity);
            cli_json_end(&j);
        } else {
            cli_format_time(when, all[i].last_activity);
            printf("%-24s %4u unread %6u message%s  %s\n", all[i].user_id, all[i].unread,
                   all[i].messages, all[i].messages == 1 ? " " : "s", when);
        }
    }
    if (count == 0 && !ctx->json) {
        cli_note(ctx, "no conversations yet");
    }
    free(all);
    return CLI_EXIT_OK;
}

static int sync_and_list(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const int offline = *(const int *)arg;
    int sync_rc = SECMSG_OK;
    int rc;

    if (!offline && secmsg_client_role(c) == SECMSG_ROLE_NONE) {
        cli_note(ctx, "not enrolled yet; nothing to sync");
    } else if (!offline) {
        sync_rc = secmsg_client_sync(c, 0, NULL);
        /* The stored list is still useful offline; the status says it is stale. */
        if (sync_rc != SECMSG_OK) {
            sync_rc = cli_lib_error(ctx, c, sync_rc, "could not sync; the list may be out of "
                                    "date");
        }
    }
    rc = list(ctx, c);
    return rc == CLI_EXIT_OK ? sync_rc : rc;
}

int cli_cmd_inbox(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"offline", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int offline = 0;
    int opt;
    int rc;

    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) == 'o') {
        offline = 1;
    }
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    return cli_with_store(ctx, 0, sync_and_list, &offline);
}
