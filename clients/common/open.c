/*
 * open.c - unlocking the store, the open-run-close path every command that
 * needs it takes, resolving the conversation partner, and
 * printing messages and events (shared by show, sync and watch).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"

static int open_error(cli_ctx *ctx, int err, uint32_t attempts_left)
{
    char what[CLI_PATH_MAX + 64];

    switch (err) {
    case SECMSG_E_WRONG_PIN:
        return cli_wrong_pin(ctx, attempts_left);
    case SECMSG_E_PERMISSION:
        return cli_error(ctx, CLI_EXIT_TRUST, "%s/store.db or %s/store.db.keys is readable by "
                         "others; fix with chmod 600 %s/store.db %s/store.db.keys",
                         ctx->dir, ctx->dir, ctx->dir, ctx->dir);
    case SECMSG_E_NOT_FOUND:
        return cli_error(ctx, CLI_EXIT_NOT_FOUND, "no store in %s; run init first", ctx->dir);
    case SECMSG_E_TAMPERED:
        return cli_error(ctx, CLI_EXIT_TRUST, "%s/store.db.keys was modified by someone without "
                         "the device secret; refusing to open the store", ctx->dir);
    default:
        snprintf(what, sizeof what, "cannot open the store in %s", ctx->dir);
        return cli_lib_error(ctx, NULL, err, what);
    }
}

int cli_open(cli_ctx *ctx, secmsg_client **out)
{
    char path[CLI_PATH_MAX];
    char keys[CLI_PATH_MAX];
    uint8_t secret[SECMSG_DEVICE_SECRET_MAX];
    char pin[CLI_PIN_CAP];
    size_t secret_len = 0;
    size_t pin_len = 0;
    uint32_t attempts_left = 0;
    int exists;
    int rc;

    *out = NULL;
    /* Everything that needs no PIN is checked before the PIN is asked for. */
    rc = cli_dir_check(ctx, 0);
    if (rc == CLI_EXIT_OK) {
        rc = cli_path(ctx, path, "store.db");
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_path(ctx, keys, "store.db.keys");
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_file_check(ctx, path, 0, &exists);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_file_check(ctx, keys, 1, &exists);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_secret_read(ctx, secret, &secret_len);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_pin_read(ctx, CLI_PIN_CURRENT, pin, &pin_len);
    }
    if (rc == CLI_EXIT_OK) {
        rc = secmsg_client_open(out, path, secret, secret_len, pin, pin_len, &attempts_left);
        if (rc != SECMSG_OK) {
            *out = NULL;
            rc = open_error(ctx, rc, attempts_left);
        }
    }
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(pin, sizeof pin);
    return rc;
}

int cli_with_store(cli_ctx *ctx, int interruptible, cli_store_fn run, const void *arg)
{
    secmsg_client *c = NULL;
    cli_transport *t = NULL;
    int rc;

    rc = cli_open(ctx, &c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (interruptible) {
        /* From here a signal only sets the stop flag, and the transport
         * aborts a running request. */
        cli_stop_on_signals();
        if (cli_transport_new(&t, cli_stop_flag()) != 0 ||
            secmsg_client_set_transport(c, cli_transport_fn, t) != SECMSG_OK) {
            rc = cli_error(ctx, CLI_EXIT_FAILURE, "cannot set up the network transport");
        }
    }
    if (rc == CLI_EXIT_OK) {
        rc = run(ctx, c, arg);
    }
    /* The client may use the transport until it is closed. */
    secmsg_client_close(c);
    cli_transport_free(t);
    return rc;
}

typedef struct peer_run {
    const char *user;
    cli_peer_fn run;
    const void *arg;
} peer_run;

static int run_with_peer(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const peer_run *p = arg;
    char peer[SECMSG_USER_ID_BYTES];
    int rc;

    rc = cli_resolve_peer(ctx, c, p->user, peer);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    return p->run(ctx, c, peer, p->arg);
}

int cli_with_peer(cli_ctx *ctx, const char *user, cli_peer_fn run, const void *arg)
{
    const peer_run p = {user, run, arg};

    return cli_with_store(ctx, 0, run_with_peer, &p);
}

int cli_identity_hex(cli_ctx *ctx, secmsg_client *c, char dev_hex[2 * SECMSG_DEVICE_ID_BYTES + 1],
                     char id_hex[2 * SECMSG_IDENTITY_PUBLIC_BYTES + 1])
{
    uint8_t dev[SECMSG_DEVICE_ID_BYTES];
    uint8_t idp[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t id_len = 0;
    int rc;

    rc = secmsg_client_device_id(c, dev);
    if (rc == SECMSG_OK) {
        rc = secmsg_client_identity_public(c, idp, sizeof idp, &id_len);
    }
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "cannot read this device's identity");
    }
    cli_hex(dev_hex, 2 * SECMSG_DEVICE_ID_BYTES + 1, dev, sizeof dev);
    cli_hex(id_hex, 2 * SECMSG_IDENTITY_PUBLIC_BYTES + 1, idp, id_len);
    return CLI_EXIT_OK;
}

int cli_resolve_peer(cli_ctx *ctx, secmsg_client *c, const char *user, char *out)
{
    secmsg_contact ct;
    size_t count = 0;
    size_t found = 0;
    size_t i;
    int rc;

    if (user != NULL) {
        if (strlen(user) >= SECMSG_USER_ID_BYTES) {
            return cli_error(ctx, CLI_EXIT_USAGE, "a user id is at most %u bytes",
                             SECMSG_USER_ID_BYTES - 1);
        }
        rc = secmsg_client_contact_find(c, user, &ct);
        if (rc == SECMSG_E_NOT_FOUND || rc == SECMSG_E_INVALID_ARG) {
            return cli_error(ctx, CLI_EXIT_NOT_FOUND, "'%s' is not a contact (see contacts)",
                             user);
        }
        if (rc != SECMSG_OK) {
            return cli_lib_error(ctx, c, rc, "cannot look up the contact");
        }
        memcpy(out, ct.user_id, sizeof ct.user_id);
        return CLI_EXIT_OK;
    }
    if (ctx->prog->role != SECMSG_ROLE_CITIZEN) {
        return cli_error(ctx, CLI_EXIT_USAGE, "name the contact (USER); see contacts");
    }
    /* A citizen talks to its caseworker: the only one, or it must choose. */
    rc = secmsg_client_contact_count(c, &count);
    for (i = 0; rc == SECMSG_OK && i < count; i++) {
        rc = secmsg_client_contact_get(c, i, &ct);
        if (rc == SECMSG_OK && ct.role == SECMSG_ROLE_CASEWORKER) {
            if (found++ == 0) {
                memcpy(out, ct.user_id, sizeof ct.user_id);
            }
        }
    }
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "cannot list the contacts");
    }
    if (found == 0) {
        return cli_error(ctx, CLI_EXIT_NOT_FOUND, "no caseworker yet; redeem an invite first");
    }
    if (found > 1) {
        return cli_error(ctx, CLI_EXIT_USAGE,
                         "you have %zu caseworkers; name one (see contacts)", found);
    }
    return CLI_EXIT_OK;
}

int cli_find_message(secmsg_client *c, const char *peer, const uint8_t *id, secmsg_message *m,
                     char *text, size_t cap)
{
    size_t count = 0;
    size_t i;
    int rc;

    rc = secmsg_client_message_count(c, peer, &count);
    for (i = count; rc == SECMSG_OK && i > 0; i--) {
        rc = secmsg_client_message_get(c, peer, i - 1, m, text, cap);
        if (rc == SECMSG_OK && memcmp(m->id, id, SECMSG_MESSAGE_ID_BYTES) == 0) {
            return SECMSG_OK;
        }
    }
    return rc == SECMSG_OK ? SECMSG_E_NOT_FOUND : rc;
}

void cli_print_message(cli_ctx *ctx, const secmsg_message *m, const char *text)
{
    char when[32];
    char id[2 * SECMSG_MESSAGE_ID_BYTES + 1];
    cli_json j;
    int n;

    cli_hex(id, sizeof id, m->id, sizeof m->id);
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "message_id", id);
        cli_json_str(&j, "peer", m->peer);
        cli_json_str(&j, "direction", m->outgoing ? "out" : "in");
        cli_json_bool(&j, "outgoing", m->outgoing != 0);
        cli_json_str(&j, "status", cli_status_name(m->status));
        cli_json_uint(&j, "sent_at", m->sent_at);
        cli_json_uint(&j, "stored_at", m->stored_at);
        cli_json_strn(&j, "text", text, m->text_len);
        cli_json_end(&j);
        return;
    }
    cli_format_time(when, m->sent_at);
    n = printf("%s %s %-8s ", when, m->outgoing ? "->" : "<-", cli_status_name(m->status));
    cli_print_text(stdout, text, m->text_len, n > 0 ? n : 0);
    fputc('\n', stdout);
}

static const char *event_name(int32_t type)
{
    switch (type) {
    case SECMSG_EVENT_MESSAGE:
        return "message";
    case SECMSG_EVENT_RECEIPT:
        return "receipt";
    case SECMSG_EVENT_CONTACT_ADDED:
        return "contact_added";
    case SECMSG_EVENT_CONTACT_VERIFIED:
        return "contact_verified";
    case SECMSG_EVENT_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

/* One event: a MESSAGE as "<time> <peer>: <text>", others as "<time> * ...". */
static void print_event(cli_ctx *ctx, secmsg_client *c, const secmsg_event *ev, char *text)
{
    secmsg_message m;
    char when[32];
    char id[2 * SECMSG_MESSAGE_ID_BYTES + 1];
    cli_json j;
    int have = 0;
    int n;

    memset(&m, 0, sizeof m);
    if (ev->type == SECMSG_EVENT_MESSAGE || ev->type == SECMSG_EVENT_RECEIPT) {
        have = cli_find_message(c, ev->peer, ev->message_id, &m, text, SECMSG_MAX_TEXT + 1) ==
               SECMSG_OK;
    }
    cli_hex(id, sizeof id, ev->message_id, sizeof ev->message_id);
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "event", event_name(ev->type));
        cli_json_str(&j, "peer", ev->peer);
        cli_json_uint(&j, "at", ev->at);
        if (ev->type == SECMSG_EVENT_MESSAGE || ev->type == SECMSG_EVENT_RECEIPT) {
            cli_json_str(&j, "message_id", id);
        }
        if (have) {
            cli_json_str(&j, "status", cli_status_name(m.status));
            cli_json_uint(&j, "sent_at", m.sent_at);
            if (ev->type == SECMSG_EVENT_MESSAGE) {
                cli_json_strn(&j, "text", text, m.text_len);
            }
        }
        if (ev->type == SECMSG_EVENT_ERROR) {
            cli_json_int(&j, "secmsg_error", ev->code);
            cli_json_str(&j, "error", cli_error_sentence(ev->code));
        }
        cli_json_end(&j);
        return;
    }
    cli_format_time(when, have ? m.sent_at : ev->at);
    switch (ev->type) {
    case SECMSG_EVENT_MESSAGE:
        if (!have) {
            printf("%s * a message from %s arrived but is no longer stored\n", when, ev->peer);
            break;
        }
        n = printf("%s %s: ", when, ev->peer);
        cli_print_text(stdout, text, m.text_len, n > 0 ? n : 0);
        fputc('\n', stdout);
        break;
    case SECMSG_EVENT_RECEIPT:
        printf("%s * message %.8s to %s is %s\n", when, id, ev->peer,
               have ? cli_status_name(m.status) : "updated");
        break;
    case SECMSG_EVENT_CONTACT_ADDED:
        printf("%s * %s is a new contact\n", when, ev->peer);
        break;
    case SECMSG_EVENT_CONTACT_VERIFIED:
        printf("%s * the keys of %s were confirmed\n", when, ev->peer);
        break;
    case SECMSG_EVENT_ERROR:
        printf("%s ! %s%s%s\n", when, ev->peer[0] != '\0' ? ev->peer : "",
               ev->peer[0] != '\0' ? ": " : "", cli_error_sentence(ev->code));
        break;
    default:
        printf("%s * an event of unknown type %d\n", when, (int)ev->type);
    }
    fflush(stdout);
}

/* Errors that mean a delivery was refused as forged, tampered or untrusted. */
static int is_refusal(int code)
{
    return code == SECMSG_E_DECRYPT || code == SECMSG_E_MALFORMED ||
           code == SECMSG_E_UNTRUSTED || code == SECMSG_E_SIGNATURE ||
           code == SECMSG_E_VERSION || code == SECMSG_E_TOO_FAR || code == SECMSG_E_CRYPTO ||
           code == SECMSG_E_UNKNOWN_PREKEY || code == SECMSG_E_STATE;
}

int cli_drain_events(cli_ctx *ctx, secmsg_client *c, size_t max, size_t *messages,
                     size_t *refused)
{
    secmsg_event ev;
    char *text;
    int rc;

    text = malloc(SECMSG_MAX_TEXT + 1);
    if (text == NULL) {
        return cli_error(ctx, CLI_EXIT_FAILURE, "out of memory");
    }
    while (max == 0 || *messages < max) {
        rc = secmsg_client_next_event(c, &ev);
        if (rc != SECMSG_OK) {
            sodium_memzero(text, SECMSG_MAX_TEXT + 1);
            free(text);
            return cli_lib_error(ctx, c, rc, "cannot read the event queue");
        }
        if (ev.type == SECMSG_EVENT_NONE) {
            break;
        }
        ev.peer[sizeof ev.peer - 1] = '\0';
        print_event(ctx, c, &ev, text);
        if (ev.type == SECMSG_EVENT_MESSAGE) {
            *messages += 1;
        }
        if (refused != NULL && ev.type == SECMSG_EVENT_ERROR && is_refusal(ev.code)) {
            *refused += 1;
        }
    }
    /* Message text is what the store encrypts; do not leave it in the heap. */
    sodium_memzero(text, SECMSG_MAX_TEXT + 1);
    free(text);
    return CLI_EXIT_OK;
}
