/*
 * Sending (outbox) and receiving (sync): spec/client.md §5.
 *
 * Invariants that make a crash harmless:
 *  - a message is encrypted, its advanced session state and its envelope
 *    in the outbox are committed in ONE transaction before any network
 *    call; a retry sends the very same envelope bytes;
 *  - a delivery's session update, the decrypted message, the dedupe mark
 *    and its events are committed in ONE transaction, and only then is the
 *    relay acked; a redelivery after a crash hits the dedupe mark and is
 *    only acked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client/client_internal.h"
#include "wire/client_codec.h"

static int session_load(secmsg_client *c, const uint8_t device_id[32], secmsg_session **s)
{
    uint8_t *st = NULL;
    size_t len = 0;
    int rc = secmsg__store_session_get(c->st, device_id, &st, &len);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg_session_deserialize(s, st, len);
    secmsg__store_free(st, len);
    return rc;
}

/* The serialized state is a transient copy: malloc and wipe (no guard
 * pages, which cost system calls per message). */
static int session_save(secmsg_client *c, const uint8_t device_id[32], const secmsg_session *s)
{
    size_t len = secmsg_session_serialized_len(s);
    size_t cap = len;
    uint8_t *buf = malloc(cap == 0 ? 1 : cap);
    if (buf == NULL)
        return SECMSG_E_NOMEM;
    int rc = secmsg_session_serialize(s, buf, cap, &len);
    if (rc == SECMSG_OK)
        rc = secmsg__store_session_put(c->st, device_id, buf, len);
    sodium_memzero(buf, cap);
    free(buf);
    return rc;
}

/*
 * Inside the caller's transaction: encrypts one Content for `to` with the
 * session given as serialized state (or the stored one when NULL), stores
 * the advanced session and puts the envelope in the outbox. Text messages
 * are also stored in the conversation (QUEUED).
 */
int secmsg__client_queue(secmsg_client *c, const secmsg__contact_row *to, const uint8_t *session,
                         size_t session_len, uint32_t kind, const uint8_t *text, size_t text_len,
                         const uint8_t *secret, const uint8_t *cert, size_t cert_len,
                         uint8_t id_out[SECMSG_MESSAGE_ID_BYTES])
{
    secmsg_session *s = NULL;
    uint8_t *pt = NULL, *ct = NULL, *env = NULL;
    size_t pt_len = 0, ct_len = 0, env_len = 0;
    int rc = session != NULL ? secmsg_session_deserialize(&s, session, session_len)
                             : session_load(c, to->device_id, &s);
    if (rc == SECMSG_E_NOT_FOUND)
        return secmsg__client_fail(c, SECMSG_E_STATE, "no conversation with %s yet",
                                   to->user_id);
    if (rc != SECMSG_OK)
        return rc;
    secmsg__content m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    randombytes_buf(m.message_id, sizeof m.message_id);
    m.sent_at = secmsg__now_ms();
    m.text = (uint8_t *)(uintptr_t)text;
    m.text_len = text_len;
    if (secret != NULL)
        memcpy(m.invite_secret, secret, sizeof m.invite_secret);
    m.cert = (uint8_t *)(uintptr_t)cert;
    m.cert_len = cert_len;
    rc = secmsg__content_encode(&m, &pt, &pt_len);
    if (rc != SECMSG_OK)
        goto out;
    ct_len = secmsg_session_ciphertext_len(s, pt_len);
    ct = malloc(ct_len == 0 ? 1 : ct_len);
    if (ct == NULL) {
        rc = SECMSG_E_NOMEM;
        goto out;
    }
    rc = secmsg_session_encrypt(s, ct, ct_len, &ct_len, pt, pt_len);
    if (rc != SECMSG_OK)
        goto out;
    const uint8_t(*rcpt)[32] = &to->device_id;
    rc = secmsg__rc_encode_envelope(m.message_id, rcpt, 1, ct, ct_len, &env, &env_len);
    if (rc != SECMSG_OK)
        goto out;
    rc = session_save(c, to->device_id, s);
    if (rc == SECMSG_OK)
        rc = secmsg__store_outbox_add(c->st, m.message_id, env, env_len);
    if (rc == SECMSG_OK && kind == SECMSG__CONTENT_TEXT) {
        secmsg_message msg;
        memset(&msg, 0, sizeof msg);
        memcpy(msg.id, m.message_id, sizeof msg.id);
        snprintf(msg.peer, sizeof msg.peer, "%s", to->user_id);
        msg.outgoing = 1;
        msg.status = SECMSG_STATUS_QUEUED;
        msg.sent_at = m.sent_at;
        msg.stored_at = m.sent_at;
        msg.text_len = text_len;
        char *t = malloc(text_len + 1);
        if (t == NULL) {
            rc = SECMSG_E_NOMEM;
            goto out;
        }
        memcpy(t, text, text_len);
        t[text_len] = '\0';
        rc = secmsg__store_message_put(c->st, &msg, t);
        sodium_memzero(t, text_len);
        free(t);
    }
    if (rc == SECMSG_OK && id_out != NULL)
        memcpy(id_out, m.message_id, SECMSG_MESSAGE_ID_BYTES);
out:
    sodium_memzero(m.invite_secret, sizeof m.invite_secret);
    if (pt != NULL) {
        sodium_memzero(pt, pt_len);
        free(pt);
    }
    free(ct);
    free(env);
    secmsg_session_free(s);
    return rc;
}

/*
 * Sends the outbox, oldest first, until it is empty or the relay fails.
 * `want` (optional): *want_sent = 1 once that message id went out.
 */
int secmsg__client_flush(secmsg_client *c, const uint8_t *want, int *want_sent)
{
    int rc = secmsg__client_relay(c);
    if (rc != SECMSG_OK)
        return rc;
    for (;;) {
        uint8_t id[16];
        uint8_t *env = NULL;
        size_t len = 0;
        rc = secmsg__store_outbox_first(c->st, id, &env, &len);
        if (rc == SECMSG_E_NOT_FOUND)
            return SECMSG_OK;
        if (rc != SECMSG_OK)
            return secmsg__client_fail(c, rc, "cannot read the outbox");
        rc = secmsg__rc_send_envelope(&c->rc, env, len);
        secmsg__store_free(env, len);
        if (rc == SECMSG_E_RELAY && c->rc.status >= 400 && c->rc.status < 500 &&
            c->rc.status != 429 && c->rc.status != 401) {
            /* The relay will never take this envelope (e.g. the recipient
             * was removed): drop it so it does not block the queue. */
            secmsg_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = SECMSG_EVENT_ERROR;
            ev.code = SECMSG_E_RELAY;
            memcpy(ev.message_id, id, 16);
            ev.at = secmsg__now_ms();
            int r2 = secmsg__store_begin(c->st);
            if (r2 == SECMSG_OK) {
                r2 = secmsg__store_outbox_del(c->st, id);
                if (r2 == SECMSG_OK)
                    r2 = secmsg__store_event_push(c->st, &ev);
                if (r2 == SECMSG_OK)
                    r2 = secmsg__store_commit(c->st);
                else
                    secmsg__store_rollback(c->st);
            }
            if (r2 != SECMSG_OK)
                return r2;
            continue;
        }
        if (rc != SECMSG_OK)
            return secmsg__client_relay_fail(c, rc, "sending");
        /* Losing this (power loss) only sends the envelope again, and the
         * receiver drops the copy by its message id: no fsync. */
        rc = secmsg__store_begin_relaxed(c->st);
        if (rc == SECMSG_OK) {
            rc = secmsg__store_outbox_del(c->st, id);
            if (rc == SECMSG_OK) {
                int r2 = secmsg__store_message_set_status(c->st, id, SECMSG_STATUS_SENT);
                if (r2 != SECMSG_OK && r2 != SECMSG_E_NOT_FOUND)
                    rc = r2;
            }
            if (rc == SECMSG_OK)
                rc = secmsg__store_commit(c->st);
            else
                secmsg__store_rollback(c->st);
        }
        if (rc != SECMSG_OK)
            return secmsg__client_fail(c, rc, "cannot update the outbox");
        if (want != NULL && want_sent != NULL && sodium_memcmp(id, want, 16) == 0)
            *want_sent = 1;
    }
}

int secmsg_client_send_text(secmsg_client *c, const char *user_id, const char *text,
                            size_t text_len, uint8_t message_id[SECMSG_MESSAGE_ID_BYTES])
{
    if (c == NULL || user_id == NULL || text == NULL || text_len == 0 ||
        text_len > SECMSG_MAX_TEXT || !secmsg__utf8_valid((const uint8_t *)text, text_len))
        return SECMSG_E_INVALID_ARG;
    int rc = secmsg__client_enrolled(c);
    if (rc != SECMSG_OK)
        return rc;
    secmsg__contact_row to;
    rc = secmsg__store_contact_get(c->st, user_id, &to);
    if (rc == SECMSG_E_NOT_FOUND)
        return secmsg__client_fail(c, rc, "no contact with that user id");
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "cannot read the contact");
    if (to.verification == SECMSG_VERIFICATION_FAILED)
        return secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                   "this contact's keys did not match the invite; not sending");
    uint8_t id[16];
    rc = secmsg__store_begin(c->st);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__client_queue(c, &to, NULL, 0, SECMSG__CONTENT_TEXT, (const uint8_t *)text,
                              text_len, NULL, NULL, 0, id);
    if (rc == SECMSG_OK)
        rc = secmsg__store_commit(c->st);
    else
        secmsg__store_rollback(c->st);
    if (rc != SECMSG_OK)
        return rc == SECMSG_E_STATE ? rc : secmsg__client_fail(c, rc, "cannot queue the message");
    if (message_id != NULL)
        memcpy(message_id, id, sizeof id);
    int sent = 0;
    rc = secmsg__client_flush(c, id, &sent);
    if (rc == SECMSG_OK && !sent)
        rc = secmsg__client_fail(c, SECMSG_E_RELAY, "the message is queued");
    if (rc == SECMSG_OK)
        c->err[0] = '\0';
    return rc;
}

/* ---- receiving ------------------------------------------------------------ */

static void event_init(secmsg_event *ev, int type, const char *peer, const uint8_t *msg_id)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    if (peer != NULL)
        snprintf(ev->peer, sizeof ev->peer, "%s", peer);
    if (msg_id != NULL)
        memcpy(ev->message_id, msg_id, 16);
    ev->at = secmsg__now_ms();
}

/* A caseworker's new citizen: the hello must carry a pending invite's secret. */
static int on_hello(secmsg_client *c, const secmsg__rc_delivery *d, const secmsg__content *m,
                    const uint8_t *idpub, size_t idpub_len, secmsg_session *s)
{
    secmsg__invite_row inv;
    int rc = secmsg__store_invite_match(c->st, m->invite_secret, (uint64_t)time(NULL), &inv);
    if (rc == SECMSG_E_NOT_FOUND)
        return SECMSG_E_UNTRUSTED;
    if (rc != SECMSG_OK)
        return rc;
    secmsg__contact_row ct;
    memset(&ct, 0, sizeof ct);
    snprintf(ct.user_id, sizeof ct.user_id, "%s", inv.user_id);
    ct.role = SECMSG_ROLE_CITIZEN;
    ct.verification = SECMSG_VERIFIED_INVITE;
    memcpy(ct.device_id, d->sender, 32);
    memcpy(ct.identity, idpub, idpub_len);
    ct.identity_len = idpub_len;
    rc = secmsg__store_contact_put(c->st, &ct);
    if (rc == SECMSG_OK)
        rc = secmsg__store_invite_del(c->st, inv.user_id);
    if (rc == SECMSG_OK)
        rc = session_save(c, d->sender, s);
    if (rc == SECMSG_OK)
        rc = secmsg__client_save_prekeys(c);
    uint8_t *cert = NULL;
    size_t cert_len = 0;
    if (rc == SECMSG_OK)
        rc = secmsg__store_setting_get(c->st, SETTING_OWN_CERT, &cert, &cert_len);
    if (rc == SECMSG_OK)
        rc = secmsg__client_queue(c, &ct, NULL, 0, SECMSG__CONTENT_WELCOME, NULL, 0, NULL, cert,
                                  cert_len, NULL);
    if (cert != NULL)
        secmsg__store_free(cert, cert_len);
    secmsg_event ev;
    event_init(&ev, SECMSG_EVENT_CONTACT_ADDED, ct.user_id, NULL);
    if (rc == SECMSG_OK)
        rc = secmsg__store_event_push(c->st, &ev);
    event_init(&ev, SECMSG_EVENT_CONTACT_VERIFIED, ct.user_id, NULL);
    if (rc == SECMSG_OK)
        rc = secmsg__store_event_push(c->st, &ev);
    sodium_memzero(&inv, sizeof inv);
    return rc;
}

/* A citizen's caseworker proves membership of the municipality the invite named. */
static int on_welcome(secmsg_client *c, secmsg__contact_row *ct, const secmsg__content *m)
{
    secmsg__cert cert;
    uint8_t pinned[32], fp[32];
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = secmsg__store_setting_get(c->st, SETTING_ROOT_FP, &b, &n);
    if (rc != SECMSG_OK)
        return rc;
    if (n != 32) {
        secmsg__store_free(b, n);
        return SECMSG_E_MALFORMED;
    }
    memcpy(pinned, b, 32);
    secmsg__store_free(b, n);
    int ok = secmsg__cert_verify(&cert, m->cert, m->cert_len) == SECMSG_OK;
    if (ok) {
        secmsg__root_fingerprint(fp, cert.root_pub);
        ok = sodium_memcmp(fp, pinned, 32) == 0 && cert.identity_len == ct->identity_len &&
             sodium_memcmp(cert.identity, ct->identity, ct->identity_len) == 0 &&
             strcmp(cert.user_id, ct->user_id) == 0 && cert.role == SECMSG_ROLE_CASEWORKER &&
             cert.not_after > (uint64_t)time(NULL);
    }
    secmsg_event ev;
    if (ok) {
        memcpy(ct->cert, m->cert, m->cert_len);
        ct->cert_len = m->cert_len;
        ct->verification = SECMSG_VERIFIED_INVITE;
        event_init(&ev, SECMSG_EVENT_CONTACT_VERIFIED, ct->user_id, NULL);
    } else {
        ct->verification = SECMSG_VERIFICATION_FAILED;
        event_init(&ev, SECMSG_EVENT_ERROR, ct->user_id, m->message_id);
        ev.code = SECMSG_E_UNTRUSTED;
    }
    rc = secmsg__store_contact_put(c->st, ct);
    if (rc == SECMSG_OK)
        rc = secmsg__store_event_push(c->st, &ev);
    return rc;
}

static int on_text(secmsg_client *c, const secmsg__contact_row *ct, const secmsg__content *m)
{
    secmsg_message msg;
    memset(&msg, 0, sizeof msg);
    memcpy(msg.id, m->message_id, 16);
    snprintf(msg.peer, sizeof msg.peer, "%s", ct->user_id);
    msg.outgoing = 0;
    msg.status = SECMSG_STATUS_RECEIVED;
    msg.sent_at = m->sent_at;
    msg.stored_at = secmsg__now_ms();
    msg.text_len = m->text_len;
    int rc = secmsg__store_message_put(c->st, &msg, (const char *)m->text);
    if (rc == SECMSG_E_EXISTS)
        return SECMSG_OK; /* the same id from this peer: already in the conversation */
    secmsg_event ev;
    event_init(&ev, SECMSG_EVENT_MESSAGE, ct->user_id, m->message_id);
    if (rc == SECMSG_OK)
        rc = secmsg__store_event_push(c->st, &ev);
    return rc;
}

/* Errors that say "this delivery can never be decrypted": ack and drop it. */
static int permanent(int rc)
{
    return rc == SECMSG_E_MALFORMED || rc == SECMSG_E_VERSION || rc == SECMSG_E_SIGNATURE ||
           rc == SECMSG_E_DECRYPT || rc == SECMSG_E_DUPLICATE || rc == SECMSG_E_TOO_FAR ||
           rc == SECMSG_E_UNKNOWN_PREKEY || rc == SECMSG_E_CRYPTO ||
           rc == SECMSG_E_UNTRUSTED || rc == SECMSG_E_STATE || rc == SECMSG_E_NOT_FOUND;
}

/* A serialized copy of the in-memory prekeys (an accept consumes a one-time
 * prekey in memory before its transaction commits). */
typedef struct pk_copy {
    uint8_t *b;
    size_t len;
} pk_copy;

static int prekeys_save(secmsg_client *c, pk_copy *k)
{
    k->b = NULL;
    k->len = 0;
    int rc = secmsg_prekeys_serialize(c->pk, NULL, 0, &k->len);
    if (rc != SECMSG_E_BUFFER_TOO_SMALL)
        return rc == SECMSG_OK ? SECMSG_E_STATE : rc;
    k->b = sodium_malloc(k->len);
    if (k->b == NULL)
        return SECMSG_E_NOMEM;
    rc = secmsg_prekeys_serialize(c->pk, k->b, k->len, &k->len);
    if (rc != SECMSG_OK) {
        sodium_free(k->b);
        k->b = NULL;
    }
    return rc;
}

static void prekeys_restore(secmsg_client *c, const pk_copy *k)
{
    secmsg_prekeys *back = NULL;
    if (k->b != NULL && secmsg_prekeys_deserialize(&back, k->b, k->len) == SECMSG_OK) {
        secmsg_prekeys_free(c->pk);
        c->pk = back;
    }
}

static void prekeys_drop(pk_copy *k)
{
    if (k->b != NULL)
        sodium_free(k->b);
    k->b = NULL;
}

/*
 * Decrypts and applies one delivery inside the current transaction.
 * Returns OK (applied), a permanent error (drop), or a transient one.
 */
static int apply_delivery(secmsg_client *c, const secmsg__rc_delivery *d, int *stored,
                          pk_copy *before_accept)
{
    secmsg__contact_row ct;
    secmsg_session *s = NULL;
    secmsg__content m;
    memset(&m, 0, sizeof m);
    int type = 0, known = 0;
    uint8_t idpub[160];
    size_t idpub_len = 0;
    uint8_t *pt = malloc(d->content_len == 0 ? 1 : d->content_len);
    size_t pt_len = 0;
    if (pt == NULL)
        return SECMSG_E_NOMEM;
    int rc = secmsg_message_info(d->content, d->content_len, &type, idpub, sizeof idpub,
                                 &idpub_len);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__store_contact_by_device(c->st, d->sender, &ct);
    if (rc == SECMSG_OK)
        known = 1;
    else if (rc != SECMSG_E_NOT_FOUND)
        goto out;
    rc = session_load(c, d->sender, &s);
    if (rc == SECMSG_OK) {
        rc = secmsg_session_decrypt(s, pt, d->content_len, &pt_len, d->content, d->content_len);
    } else if (rc == SECMSG_E_NOT_FOUND && type == SECMSG_MESSAGE_INITIAL &&
               c->role == SECMSG_ROLE_CASEWORKER) {
        /* A new session; the sender's identity must be the relay-authenticated sender. */
        uint8_t did[32];
        rc = secmsg__client_device_of(did, idpub, idpub_len);
        if (rc == SECMSG_OK && sodium_memcmp(did, d->sender, 32) != 0)
            rc = SECMSG_E_UNTRUSTED;
        /* Accept consumes a one-time prekey in memory: keep a copy to undo it. */
        if (rc == SECMSG_OK)
            rc = prekeys_save(c, before_accept);
        if (rc == SECMSG_OK)
            rc = secmsg_session_accept(&s, c->id, c->pk, d->content, d->content_len, pt,
                                       d->content_len, &pt_len);
    } else if (rc == SECMSG_E_NOT_FOUND) {
        rc = SECMSG_E_UNTRUSTED; /* nobody we have a conversation with */
    }
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__content_decode(&m, pt, pt_len);
    if (rc != SECMSG_OK)
        goto out;
    if (sodium_memcmp(m.message_id, d->message_id, 16) != 0) {
        rc = SECMSG_E_MALFORMED; /* the relay's id must be the sender's */
        goto out;
    }
    if (!known) {
        rc = m.kind == SECMSG__CONTENT_HELLO ? on_hello(c, d, &m, idpub, idpub_len, s)
                                             : SECMSG_E_UNTRUSTED;
        goto out;
    }
    if (ct.verification == SECMSG_VERIFICATION_FAILED) {
        rc = SECMSG_E_UNTRUSTED;
        goto out;
    }
    rc = session_save(c, d->sender, s);
    if (rc != SECMSG_OK)
        goto out;
    if (m.kind == SECMSG__CONTENT_TEXT) {
        rc = on_text(c, &ct, &m);
        if (rc == SECMSG_OK)
            (*stored)++;
    } else if (m.kind == SECMSG__CONTENT_WELCOME && c->role == SECMSG_ROLE_CITIZEN &&
               ct.role == SECMSG_ROLE_CASEWORKER && ct.cert_len == 0) {
        rc = on_welcome(c, &ct, &m);
    } else {
        rc = SECMSG_E_STATE; /* a hello in an existing conversation, a second welcome */
    }
out:
    secmsg__content_free(&m);
    secmsg_session_free(s);
    sodium_memzero(pt, pt_len);
    free(pt);
    return rc;
}

/* Records, inside the open transaction, a delivery that can never be
 * applied, so that it is acked once and never fetched again. */
static int record_drop(secmsg_client *c, const secmsg__rc_delivery *d, int why)
{
    int rc = SECMSG_OK;
    if (why != SECMSG_E_DUPLICATE) {
        secmsg_event ev;
        secmsg__contact_row ct;
        event_init(&ev, SECMSG_EVENT_ERROR, NULL, d->message_id);
        ev.code = why;
        if (secmsg__store_contact_by_device(c->st, d->sender, &ct) == SECMSG_OK)
            snprintf(ev.peer, sizeof ev.peer, "%s", ct.user_id);
        rc = secmsg__store_event_push(c->st, &ev);
    }
    if (rc == SECMSG_OK)
        rc = secmsg__store_seen_add(c->st, d->sender, d->message_id);
    return rc;
}

/*
 * One delivery inside the page's transaction, in a savepoint of its own:
 * applied, or (permanent failure) undone and recorded as dropped. Returns
 * OK in both cases; a transient error leaves the transaction to the
 * caller to roll back.
 */
static int process_delivery(secmsg_client *c, const secmsg__rc_delivery *d, int *stored,
                            pk_copy *page)
{
    int seen = 0;
    int rc = secmsg__store_seen_check(c->st, d->sender, d->message_id, &seen);
    if (rc != SECMSG_OK || seen)
        return rc; /* seen: applied before a crash or a lost ack; only the ack was missing */
    pk_copy k = {NULL, 0};
    rc = secmsg__store_savepoint(c->st);
    if (rc != SECMSG_OK)
        return rc;
    int n_before = *stored;
    rc = apply_delivery(c, d, stored, &k);
    if (rc == SECMSG_OK)
        rc = secmsg__store_seen_add(c->st, d->sender, d->message_id);
    if (rc == SECMSG_OK)
        rc = secmsg__store_release(c->st);
    if (rc == SECMSG_OK) {
        /* The first accept of the page saw the prekeys as the store has them:
         * the page keeps that copy in case its commit fails. */
        if (page->b == NULL) {
            *page = k;
            k.b = NULL;
        }
        goto out;
    }
    *stored = n_before;
    prekeys_restore(c, &k);
    if (!permanent(rc))
        goto out;
    int why = rc;
    rc = secmsg__store_rollback_to(c->st);
    if (rc == SECMSG_OK)
        rc = record_drop(c, d, why);
out:
    prekeys_drop(&k);
    return rc;
}

/*
 * One fetched page, one transaction (one fsync): every delivery applied or
 * recorded as dropped, then committed, and only then may the page be acked.
 * *ack_all = 1 when the commit succeeded. Prekeys are copied only when an
 * initial message is accepted (the only thing that changes them here).
 */
static int process_page(secmsg_client *c, const secmsg__rc_batch *f, int *stored, int *ack_all)
{
    *ack_all = 0;
    pk_copy page = {NULL, 0};
    int n_before = *stored;
    int rc = secmsg__store_begin(c->st);
    for (size_t i = 0; i < f->n && rc == SECMSG_OK; i++)
        rc = process_delivery(c, &f->d[i], stored, &page);
    if (rc == SECMSG_OK)
        rc = secmsg__store_commit(c->st);
    else
        secmsg__store_rollback(c->st);
    if (rc == SECMSG_OK) {
        *ack_all = 1;
    } else {
        /* Nothing of the page was committed: memory goes back to the store's state. */
        *stored = n_before;
        prekeys_restore(c, &page);
        rc = secmsg__client_fail(c, rc, "cannot store received messages: %s",
                                 secmsg__store_last_error(c->st));
    }
    prekeys_drop(&page);
    return rc;
}

int secmsg_client_sync(secmsg_client *c, uint32_t wait_ms, size_t *received)
{
    if (c == NULL)
        return SECMSG_E_INVALID_ARG;
    if (received != NULL)
        *received = 0;
    int rc = secmsg__client_enrolled(c);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__client_flush(c, NULL, NULL);
    if (rc != SECMSG_OK)
        return rc;
    (void)secmsg__client_upload_prekeys(c, 0);
    int stored = 0;
    uint32_t wait_s = (wait_ms + 999U) / 1000U;
    /* Acks of the page before, carried by the next fetch (spec 5.7: one
     * request per page); the last page's go in a plain ack. */
    uint64_t *acks = NULL;
    size_t n_ack = 0;
    for (int round = 0; round < 100; round++) {
        secmsg__rc_batch f;
        memset(&f, 0, sizeof f);
        rc = n_ack > 0 ? secmsg__rc_fetch_ack(&c->rc, acks, n_ack, 0, &f)
                       : secmsg__rc_fetch(&c->rc, round == 0 ? wait_s : 0, &f);
        free(acks);
        acks = NULL;
        n_ack = 0;
        if (rc != SECMSG_OK) {
            /* Unacked deliveries come again and are only acked then (seen). */
            rc = secmsg__client_relay_fail(c, rc, "fetching messages");
            break;
        }
        acks = calloc(f.n == 0 ? 1 : f.n, sizeof *acks);
        if (acks == NULL) {
            secmsg__rc_fetch_done(&f);
            rc = SECMSG_E_NOMEM;
            break;
        }
        int ack_all = 0;
        if (f.n > 0)
            rc = process_page(c, &f, &stored, &ack_all);
        for (size_t i = 0; ack_all && i < f.n; i++)
            acks[n_ack++] = f.d[i].id;
        int more = f.more, low = f.prekeys_known && f.prekeys_low;
        secmsg__rc_fetch_done(&f);
        if (rc == SECMSG_OK && low)
            (void)secmsg__client_upload_prekeys(c, 1);
        if (rc != SECMSG_OK || !more)
            break;
    }
    if (n_ack > 0) {
        uint32_t deleted = 0;
        int ra = secmsg__rc_ack(&c->rc, acks, n_ack, &deleted);
        if (ra != SECMSG_OK && rc == SECMSG_OK)
            rc = secmsg__client_relay_fail(c, ra, "acknowledging messages");
    }
    free(acks);
    /* Replies made while receiving (welcomes) go out in the same round. */
    if (rc == SECMSG_OK)
        rc = secmsg__client_flush(c, NULL, NULL);
    if (received != NULL)
        *received = (size_t)stored;
    if (rc == SECMSG_OK)
        c->err[0] = '\0';
    return rc;
}
