/*
 * contacts - every contact with role, verification and message counts.
 */
#include "cli.h"

static const char synopsis[] = "";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "list the contacts", synopsis);
    printf("DESCRIPTION\n"
           "    One line per contact, ordered by user id: user id, role, verification\n"
           "    (invite = confirmed by the invite, in-person = safety number compared,\n"
           "    unverified, FAILED = keys contradicted the invite and are never used),\n"
           "    messages, unread messages and the time of the newest message.\n"
           "    Works offline.\n\n"
           "OPTIONS\n"
           "    --help  this manual\n\n"
           "OUTPUT\n"
           "    JSON, one object per contact: {\"user_id\", \"role\", \"verification\",\n"
           "    \"messages\", \"unread\", \"last_activity\" (unix ms, 0 if none)}\n\n");
    cli_help_exit_status();
}

static void print_contact(cli_ctx *ctx, const secmsg_contact *ct)
{
    char when[32];
    cli_json j;

    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "user_id", ct->user_id);
        cli_json_str(&j, "role", cli_role_name(ct->role));
        cli_json_str(&j, "verification", cli_verification_name(ct->verification));
        cli_json_uint(&j, "messages", ct->messages);
        cli_json_uint(&j, "unread", ct->unread);
        cli_json_uint(&j, "last_activity", ct->last_activity);
        cli_json_end(&j);
        return;
    }
    cli_format_time(when, ct->last_activity);
    printf("%-24s %-10s %-10s %8u %6u  %s\n", ct->user_id, cli_role_name(ct->role),
           cli_verification_name(ct->verification), ct->messages, ct->unread, when);
}

static int list(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    secmsg_contact ct;
    size_t count = 0;
    size_t i;
    int rc;

    (void)arg;
    rc = secmsg_client_contact_count(c, &count);
    if (rc == SECMSG_OK && count > 0 && !ctx->json) {
        printf("%-24s %-10s %-10s %8s %6s  %s\n", "USER", "ROLE", "VERIFIED", "MESSAGES",
               "UNREAD", "LAST ACTIVITY");
    }
    for (i = 0; rc == SECMSG_OK && i < count; i++) {
        rc = secmsg_client_contact_get(c, i, &ct);
        if (rc == SECMSG_OK) {
            ct.user_id[sizeof ct.user_id - 1] = '\0';
            print_contact(ctx, &ct);
        }
    }
    if (rc != SECMSG_OK) {
        rc = cli_lib_error(ctx, c, rc, "cannot list the contacts");
    } else if (count == 0 && !ctx->json) {
        cli_note(ctx, "no contacts yet");
    }
    return rc;
}

int cli_cmd_contacts(cli_ctx *ctx, int argc, char **argv)
{
    int opt;
    int rc;

    opt = cli_help_only(ctx, argc, argv, help, &rc);
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    return cli_with_store(ctx, 0, list, NULL);
}
