/*
 * access - who can read the conversation (access transparency): every
 * party that holds keys for it, one sentence each.
 */
#include <string.h>

#include "citizen.h"

static const char synopsis[] = "[USER]";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "who can read this conversation", synopsis);
    printf("DESCRIPTION\n"
           "    Lists every party that holds keys able to read the conversation with\n"
           "    USER (default: your only caseworker), one sentence each: this device,\n"
           "    each device of the caseworker with its key fingerprint and whether the\n"
           "    municipality certified it, and the municipality's journal key when the\n"
           "    conversation is journaled. Nobody else (not the relay) can read it.\n"
           "    Works offline.\n\n"
           "OPTIONS\n"
           "    --help  this manual\n\n"
           "OUTPUT\n"
           "    JSON, one object per party: {\"kind\": \"self\"|\"peer_device\"|\"journal\",\n"
           "    \"user_id\", \"role\", \"fingerprint\" (64 hex), \"certified\": bool}\n\n");
    cli_help_exit_status();
}

/* "abcd ef01 ..." : the fingerprint in groups of 4 for reading aloud. */
static void grouped(char out[80], const char *fp)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < 64 && fp[i] != '\0'; i++) {
        if (i > 0 && i % 4 == 0) {
            out[n++] = ' ';
        }
        out[n++] = fp[i];
    }
    out[n] = '\0';
}

static const char *kind_name(int32_t kind)
{
    switch (kind) {
    case SECMSG_ACCESS_SELF:
        return "self";
    case SECMSG_ACCESS_PEER_DEVICE:
        return "peer_device";
    case SECMSG_ACCESS_JOURNAL:
        return "journal";
    default:
        return "unknown";
    }
}

static void print_entry(cli_ctx *ctx, const secmsg_access_entry *e)
{
    char fp[80];
    cli_json j;

    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "kind", kind_name(e->kind));
        cli_json_str(&j, "user_id", e->user_id);
        cli_json_str(&j, "role", cli_role_name(e->role));
        cli_json_str(&j, "fingerprint", e->fingerprint);
        cli_json_bool(&j, "certified", e->certified == 1);
        cli_json_end(&j);
        return;
    }
    grouped(fp, e->fingerprint);
    switch (e->kind) {
    case SECMSG_ACCESS_SELF:
        printf("- This device (you, %s), key fingerprint %s.\n",
               e->user_id[0] != '\0' ? e->user_id : "not enrolled", fp);
        break;
    case SECMSG_ACCESS_PEER_DEVICE:
        printf("- A device of %s %s, key fingerprint %s, %s.\n", cli_role_name(e->role),
               e->user_id, fp,
               e->certified == 1 ? "certified by the municipality"
                                 : "NOT certified by the municipality (yet: its certificate "
                                   "arrives with the first sync after redeeming)");
        break;
    case SECMSG_ACCESS_JOURNAL:
        printf("- The municipality's journal key, fingerprint %s%s: the case system keeps "
               "a copy of this conversation.\n",
               fp, e->certified == 1 ? ", certified by the municipality" : "");
        break;
    default:
        printf("- A party of unknown kind %d (%s), key fingerprint %s.\n", (int)e->kind,
               e->user_id, fp);
    }
}

static int list(cli_ctx *ctx, secmsg_client *c, const char *peer, const void *arg)
{
    secmsg_access_entry e;
    size_t count = 0;
    size_t i;
    int rc;

    (void)arg;
    rc = secmsg_client_access_count(c, peer, &count);
    if (rc == SECMSG_OK && !ctx->json) {
        printf("%zu part%s can read your conversation with %s:\n", count,
               count == 1 ? "y" : "ies", peer);
    }
    for (i = 0; rc == SECMSG_OK && i < count; i++) {
        rc = secmsg_client_access_get(c, peer, i, &e);
        if (rc == SECMSG_OK) {
            e.user_id[sizeof e.user_id - 1] = '\0';
            e.fingerprint[sizeof e.fingerprint - 1] = '\0';
            print_entry(ctx, &e);
        }
    }
    if (rc != SECMSG_OK) {
        rc = cli_lib_error(ctx, c, rc, "cannot list who can read the conversation");
    }
    return rc;
}

int ct_cmd_access(cli_ctx *ctx, int argc, char **argv)
{
    const char *user = NULL;
    int rc;

    if (cli_help_only(ctx, argc, argv, help, &rc) == 0) {
        return rc;
    }
    /* USER is optional: secmsg-citizen is a citizen. */
    rc = cli_user_arg(ctx, argc, argv, synopsis, &user);
    return rc != CLI_EXIT_OK ? rc : cli_with_peer(ctx, user, list, NULL);
}
