/*
 * send - one text message. Queued in the store first, then tried once at
 * the relay; a queued message is retried by the next sync/inbox/watch.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

static const char *synopsis(const cli_ctx *ctx)
{
    return ctx->prog->role == SECMSG_ROLE_CITIZEN ? "[--to USER] TEXT... | [--to USER] -"
                                                  : "USER TEXT... | USER -";
}

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "send a text message", synopsis(ctx));
    printf("DESCRIPTION\n"
           "    Sends TEXT (the words joined with single spaces; \"-\" reads the text\n"
           "    from stdin, at most 65536 bytes of UTF-8, one final newline dropped).\n"
           "    Options must come before the text: everything after it is text.\n");
    if (ctx->prog->role == SECMSG_ROLE_CITIZEN) {
        printf("    Without --to, the message goes to your only caseworker.\n");
    }
    printf("    The encrypted message is stored in the outbox before the relay is tried,\n"
           "    so it is never lost: when the relay cannot be reached it stays queued and\n"
           "    the next sync, inbox or watch sends it.\n\n"
           "OPTIONS\n"
           "    --to USER  the contact%s\n"
           "    --help     this manual\n\n"
           "OUTPUT\n"
           "    MESSAGE-ID sent\n"
           "    MESSAGE-ID queued (relay unreachable; will retry on next sync)   [exit 4]\n"
           "    JSON: {\"message_id\", \"peer\", \"status\": \"sent\"|\"queued\"}; a queued\n"
           "    message's object also has \"error\" and \"code\": 4.\n\n",
           ctx->prog->role == SECMSG_ROLE_CITIZEN ? " (default: your only caseworker)"
                                                  : " (instead of the USER argument)");
    cli_help_exit_status();
}

static int report(cli_ctx *ctx, secmsg_client *c, int err, const char *peer,
                  const uint8_t id[SECMSG_MESSAGE_ID_BYTES])
{
    char hex[2 * SECMSG_MESSAGE_ID_BYTES + 1];
    char what[640];
    const char *detail = secmsg_client_last_error(c);
    cli_json j;

    cli_hex(hex, sizeof hex, id, SECMSG_MESSAGE_ID_BYTES);
    if (err == SECMSG_OK) {
        if (ctx->json) {
            cli_json_begin(&j);
            cli_json_str(&j, "message_id", hex);
            cli_json_str(&j, "peer", peer);
            cli_json_str(&j, "status", "sent");
            cli_json_end(&j);
        } else {
            printf("%s sent\n", hex);
        }
        return CLI_EXIT_OK;
    }
    /* NETWORK / RELAY: queued, not delivered; exit 4 so scripts notice. */
    snprintf(what, sizeof what, "queued: %s%s%s%s", cli_error_sentence(err),
             detail[0] != '\0' ? " (" : "", detail, detail[0] != '\0' ? ")" : "");
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "message_id", hex);
        cli_json_str(&j, "peer", peer);
        cli_json_str(&j, "status", "queued");
        cli_json_str(&j, "error", what);
        cli_json_int(&j, "code", CLI_EXIT_NETWORK);
        cli_json_int(&j, "secmsg_error", err);
        cli_json_end(&j);
    } else {
        printf("%s queued (relay unreachable; will retry on next sync)\n", hex);
    }
    cli_note(ctx, "send: %s; the message is kept and the next sync sends it", what);
    return CLI_EXIT_NETWORK;
}

typedef struct send_text {
    const char *text;
    size_t len;
} send_text;

static int send_to(cli_ctx *ctx, secmsg_client *c, const char *peer, const void *arg)
{
    const send_text *t = arg;
    uint8_t id[SECMSG_MESSAGE_ID_BYTES];
    char what[SECMSG_USER_ID_BYTES + 32];
    int rc;

    memset(id, 0, sizeof id);
    rc = secmsg_client_send_text(c, peer, t->text, t->len, id);
    if (rc == SECMSG_OK || rc == SECMSG_E_NETWORK || rc == SECMSG_E_RELAY) {
        return report(ctx, c, rc, peer, id);
    }
    snprintf(what, sizeof what, "cannot send to %s", peer);
    return cli_lib_error(ctx, c, rc, what);
}

int cli_cmd_send(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL;
    char *text = NULL;
    size_t text_len = 0;
    send_text t;
    int opt;
    int rc;

    /* "+": stop at the first word, so text like "-5 degrees" stays text.
     * --to is the only option besides --help. */
    while ((opt = cli_getopt(ctx, argc, argv, "+:h", opts, help, &rc)) > 0) {
        user = optarg;
    }
    if (opt == 0) {
        return rc;
    }
    if (user == NULL && ctx->prog->role != SECMSG_ROLE_CITIZEN) {
        if (optind >= argc) {
            return cli_usage(ctx, synopsis(ctx), "name the contact (USER)");
        }
        user = argv[optind++];
    }
    if (optind >= argc) {
        return cli_usage(ctx, synopsis(ctx), "no text to send");
    }
    rc = cli_read_text(ctx, argc - optind, argv + optind, &text, &text_len);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    t.text = text;
    t.len = text_len;
    rc = cli_with_peer(ctx, user, send_to, &t);
    if (text != NULL) {
        sodium_memzero(text, text_len);
    }
    free(text);
    return rc;
}
