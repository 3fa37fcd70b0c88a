/*
 * show - one conversation, oldest first; marks it read.
 */
#include <stdlib.h>

#include <sodium.h>

#include "cli.h"

static const char *synopsis(const cli_ctx *ctx)
{
    return ctx->prog->role == SECMSG_ROLE_CITIZEN ? "[--last N] [USER]" : "[--last N] USER";
}

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "print a conversation", synopsis(ctx));
    printf("DESCRIPTION\n"
           "    Prints the stored conversation with USER, oldest first, one\n"
           "    message per line: the sender's time, -> (sent by you) or <- (received),\n"
           "    the status (queued, sent, received, read) and the text. Continuation\n"
           "    lines of a text are indented; control characters in a text are shown\n"
           "    as escapes, never sent to the terminal. Then marks the conversation\n"
           "    read. Works offline; run sync or inbox first for new messages.\n");
    cli_help_default_user(ctx);
    printf("\nOPTIONS\n"
           "    --last N  only the newest N messages\n"
           "    --help    this manual\n\n"
           "OUTPUT\n"
           "    JSON, one object per message: {\"message_id\", \"peer\", \"direction\":\n"
           "    \"in\"|\"out\", \"status\", \"sent_at\", \"stored_at\" (unix ms), \"text\"}\n\n");
    cli_help_exit_status();
}

static int print_conversation(cli_ctx *ctx, secmsg_client *c, const char *peer,
                              const void *arg)
{
    const uint32_t last = *(const uint32_t *)arg;
    secmsg_message m;
    char *text;
    size_t count = 0;
    size_t i;
    int rc;

    text = malloc(SECMSG_MAX_TEXT + 1);
    if (text == NULL) {
        return cli_error(ctx, CLI_EXIT_FAILURE, "out of memory");
    }
    rc = secmsg_client_message_count(c, peer, &count);
    i = (last > 0 && count > last) ? count - last : 0;
    for (; rc == SECMSG_OK && i < count; i++) {
        rc = secmsg_client_message_get(c, peer, i, &m, text, SECMSG_MAX_TEXT + 1);
        if (rc == SECMSG_OK) {
            cli_print_message(ctx, &m, text);
        }
    }
    sodium_memzero(text, SECMSG_MAX_TEXT + 1);
    free(text);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "cannot read the conversation");
    }
    if (count == 0 && !ctx->json) {
        cli_note(ctx, "no messages with %s yet", peer);
    }
    rc = secmsg_client_mark_read(c, peer);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "cannot mark the conversation read");
    }
    return CLI_EXIT_OK;
}

int cli_cmd_show(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"last", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *user = NULL;
    uint32_t last = 0;
    int opt;
    int rc;

    /* --last is the only option besides --help. */
    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        if (cli_parse_u32(optarg, 1, UINT32_MAX, &last) != 0) {
            return cli_usage(ctx, synopsis(ctx), "--last needs a positive number");
        }
    }
    if (opt == 0) {
        return rc;
    }
    rc = cli_user_arg(ctx, argc, argv, synopsis(ctx), &user);
    return rc != CLI_EXIT_OK ? rc : cli_with_peer(ctx, user, print_conversation, &last);
}
