/*
 * The client API (secmsg/client.h) against a real secmsg-relay on
 * 127.0.0.1: enrollment, invites, conversation, events, restart, tampering,
 * network failure, prekey replenishing, misuse. The end-to-end CLI tests
 * (tests/e2e) cover the same flows through processes; these look inside.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client/client_internal.h"
#include "relay_client.h"
#include "secmsg.h"
#include "wire/client_codec.h"

#define PIN "2468"
#define KDF_OPS 1U
#define KDF_MEM 8192U

static rc_relay g_relay;
static char g_dir[600];
static uint8_t g_root_sk[64], g_root_pk[32];
static const uint8_t g_secret[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void start_relay(const char *const *extra)
{
    const char *err = NULL;
    cr_assert_eq(secmsg_init(), SECMSG_OK);
    cr_assert_not_null(rc_relay_bin(), "SECMSG_RELAY_BIN is not set");
    cr_assert_eq(rc_relay_start(&g_relay, rc_relay_bin(), extra, &err), 0, "relay: %s",
                 err ? err : "?");
    snprintf(g_dir, sizeof g_dir, "%s/clients", g_relay.dir);
    cr_assert_eq(mkdir(g_dir, 0700), 0);
    crypto_sign_keypair(g_root_pk, g_root_sk);
}

static void setup(void)
{
    start_relay(NULL);
}

static void teardown(void)
{
    rc_relay_stop(&g_relay);
}

static secmsg_client *new_client(const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.db", g_dir, name);
    secmsg_client *c = NULL;
    cr_assert_eq(secmsg_client_create(&c, path, g_secret, sizeof g_secret, PIN, strlen(PIN),
                                      KDF_OPS, KDF_MEM),
                 SECMSG_OK);
    return c;
}

static secmsg_client *reopen(secmsg_client *c, const char *name)
{
    char path[700];
    secmsg_client_close(c);
    snprintf(path, sizeof path, "%s/%s.db", g_dir, name);
    secmsg_client *o = NULL;
    uint32_t left = 0;
    cr_assert_eq(secmsg_client_open(&o, path, g_secret, sizeof g_secret, PIN, strlen(PIN), &left),
                 SECMSG_OK);
    return o;
}

static secmsg_client *caseworker(const char *name, const char *user)
{
    secmsg_client *c = new_client(name);
    uint8_t token[RC_ENROLL_BYTES], idpub[256], cert[SECMSG__CERT_MAX];
    char token_text[64], cert_text[1024];
    size_t n = 0, cert_len = 0, tl = 0;
    cr_assert_eq(rc_admin_token(&g_relay, "caseworker", user, 0, token), 0);
    cr_assert_eq(secmsg__b64url_encode(token_text, sizeof token_text, &tl, token, sizeof token),
                 SECMSG_OK);
    cr_assert_eq(secmsg_client_identity_public(c, idpub, sizeof idpub, &n), SECMSG_OK);
    secmsg__cert ct;
    memset(&ct, 0, sizeof ct);
    memcpy(ct.root_pub, g_root_pk, 32);
    snprintf(ct.user_id, sizeof ct.user_id, "%s", user);
    ct.role = SECMSG_ROLE_CASEWORKER;
    memcpy(ct.identity, idpub, n);
    ct.identity_len = n;
    ct.not_after = (uint64_t)time(NULL) + 86400;
    cr_assert_eq(secmsg__cert_sign(&ct, g_root_sk, cert, sizeof cert, &cert_len), SECMSG_OK);
    cr_assert_eq(secmsg__cert_to_text(cert, cert_len, cert_text, sizeof cert_text, &n),
                 SECMSG_OK);
    int rc = secmsg_client_enroll_caseworker(c, g_relay.url, token_text, cert_text);
    cr_assert_eq(rc, SECMSG_OK, "enroll: %s", secmsg_client_last_error(c));
    cr_assert_eq(secmsg_client_role(c), SECMSG_ROLE_CASEWORKER);
    return c;
}

static secmsg_client *citizen(secmsg_client *cw, const char *name, const char *user)
{
    char invite[SECMSG_INVITE_MAX];
    size_t n = 0;
    int rc = secmsg_client_create_invite(cw, user, 0, invite, sizeof invite, &n);
    cr_assert_eq(rc, SECMSG_OK, "invite: %s", secmsg_client_last_error(cw));
    cr_assert_eq(strlen(invite), n);
    secmsg_client *c = new_client(name);
    rc = secmsg_client_redeem_invite(c, invite);
    cr_assert_eq(rc, SECMSG_OK, "redeem: %s", secmsg_client_last_error(c));
    return c;
}

static void sync_ok(secmsg_client *c, size_t want)
{
    size_t got = 0;
    int rc = secmsg_client_sync(c, 0, &got);
    cr_assert_eq(rc, SECMSG_OK, "sync: %s", secmsg_client_last_error(c));
    cr_assert_eq(got, want, "sync stored %zu, wanted %zu", got, want);
}

static void send_ok(secmsg_client *c, const char *to, const char *text)
{
    int rc = secmsg_client_send_text(c, to, text, strlen(text), NULL);
    cr_assert_eq(rc, SECMSG_OK, "send: %s", secmsg_client_last_error(c));
}

static void expect_event(secmsg_client *c, int type, const char *peer)
{
    secmsg_event ev;
    cr_assert_eq(secmsg_client_next_event(c, &ev), SECMSG_OK);
    cr_assert_eq(ev.type, type, "event %d, wanted %d", ev.type, type);
    if (peer != NULL)
        cr_assert_str_eq(ev.peer, peer);
}

static void expect_text(secmsg_client *c, const char *peer, size_t index, int outgoing,
                        const char *text)
{
    secmsg_message m;
    char buf[256];
    cr_assert_eq(secmsg_client_message_get(c, peer, index, &m, buf, sizeof buf), SECMSG_OK);
    cr_assert_eq(m.outgoing, outgoing);
    cr_assert_str_eq(buf, text);
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 120);

Test(client, conversation_events_and_restart)
{
    secmsg_client *cw = caseworker("anna", "anna");
    char small[100];
    size_t need = 0;
    cr_assert_eq(secmsg_client_create_invite(cw, "bo", 0, small, sizeof small, &need),
                 SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(need, SECMSG_INVITE_MAX);
    char big[SECMSG_INVITE_MAX];
    cr_assert_eq(secmsg_client_create_invite(cw, "bad/id", 0, big, sizeof big, &need),
                 SECMSG_E_INVALID_ARG);
    secmsg_client *ci = citizen(cw, "bo", "bo");
    secmsg_contact k;
    cr_assert_eq(secmsg_client_contact_find(ci, "anna", &k), SECMSG_OK);
    cr_assert_eq(k.verification, SECMSG_UNVERIFIED); /* until the welcome */

    sync_ok(cw, 0); /* hello */
    expect_event(cw, SECMSG_EVENT_CONTACT_ADDED, "bo");
    expect_event(cw, SECMSG_EVENT_CONTACT_VERIFIED, "bo");
    expect_event(cw, SECMSG_EVENT_NONE, NULL);
    sync_ok(ci, 0); /* welcome */
    expect_event(ci, SECMSG_EVENT_CONTACT_VERIFIED, "anna");
    cr_assert_eq(secmsg_client_contact_find(ci, "anna", &k), SECMSG_OK);
    cr_assert_eq(k.verification, SECMSG_VERIFIED_INVITE);
    cr_assert_eq(secmsg_client_contact_find(cw, "bo", &k), SECMSG_OK);
    cr_assert_eq(k.verification, SECMSG_VERIFIED_INVITE);
    cr_assert_eq(k.role, SECMSG_ROLE_CITIZEN);

    send_ok(ci, "anna", "one");
    send_ok(ci, "anna", "two");
    sync_ok(cw, 2);
    expect_event(cw, SECMSG_EVENT_MESSAGE, "bo");
    expect_event(cw, SECMSG_EVENT_MESSAGE, "bo");
    send_ok(cw, "bo", "three");
    cr_assert_eq(secmsg_client_contact_find(cw, "bo", &k), SECMSG_OK);
    cr_assert_eq(k.messages, 3U);
    cr_assert_eq(k.unread, 2U);
    cr_assert_eq(secmsg_client_mark_read(cw, "bo"), SECMSG_OK);
    cr_assert_eq(secmsg_client_contact_find(cw, "bo", &k), SECMSG_OK);
    cr_assert_eq(k.unread, 0U);

    /* Both restart: history, sessions and the event queue survive. */
    cw = reopen(cw, "anna");
    ci = reopen(ci, "bo");
    sync_ok(ci, 1);
    expect_event(ci, SECMSG_EVENT_MESSAGE, "anna");
    send_ok(ci, "anna", "four");
    sync_ok(cw, 1);
    expect_text(cw, "bo", 0, 0, "one");
    expect_text(cw, "bo", 1, 0, "two");
    expect_text(cw, "bo", 2, 1, "three");
    expect_text(cw, "bo", 3, 0, "four");
    expect_text(ci, "anna", 2, 0, "three");
    secmsg_message m;
    cr_assert_eq(secmsg_client_message_get(ci, "anna", 0, &m, NULL, 0), SECMSG_OK);
    cr_assert_eq(m.status, SECMSG_STATUS_SENT);

    char a[SECMSG_SAFETY_NUMBER_BYTES], b[SECMSG_SAFETY_NUMBER_BYTES];
    cr_assert_eq(secmsg_client_safety_number(cw, "bo", a), SECMSG_OK);
    cr_assert_eq(secmsg_client_safety_number(ci, "anna", b), SECMSG_OK);
    cr_assert_str_eq(a, b);

    size_t n = 0;
    secmsg_access_entry e;
    cr_assert_eq(secmsg_client_access_count(ci, "anna", &n), SECMSG_OK);
    cr_assert_eq(n, 2U);
    cr_assert_eq(secmsg_client_access_get(ci, "anna", 1, &e), SECMSG_OK);
    cr_assert_eq(e.kind, SECMSG_ACCESS_PEER_DEVICE);
    cr_assert_eq(e.certified, 1);
    cr_assert_str_eq(e.user_id, "anna");
    secmsg_client_close(cw);
    secmsg_client_close(ci);
}

/* A transport that forwards to the default one and can corrupt or cut it. */
typedef struct fault {
    int flip_next_send; /* flip the last byte of the next POST /v1/messages body */
    int down;           /* answer nothing */
    int down_at_claim;  /* answer nothing from the first prekey claim on */
    secmsg__curl_ctx *curl;
} fault;

static int faulty_transport(void *ctx, const secmsg_http_request *req, int *status,
                            uint8_t *resp, size_t cap, size_t *len)
{
    fault *f = ctx;
    if (f->down_at_claim && strstr(req->url, "/v1/prekeys/claim") != NULL)
        f->down = 1;
    if (f->down)
        return 1;
    if (f->flip_next_send && strcmp(req->method, "POST") == 0 &&
        strstr(req->url, "/v1/messages") != NULL && strstr(req->url, "ack") == NULL &&
        req->body_len > 0) {
        secmsg_http_request copy = *req;
        uint8_t *body = malloc(req->body_len);
        cr_assert_not_null(body);
        memcpy(body, req->body, req->body_len);
        body[req->body_len - 1] ^= 0x01; /* the ciphertext's last tag byte */
        copy.body = body;
        f->flip_next_send = 0;
        int r = secmsg__transport_curl(f->curl, &copy, status, resp, cap, len);
        free(body);
        return r;
    }
    return secmsg__transport_curl(f->curl, req, status, resp, cap, len);
}

Test(client, tampered_message_dropped_and_later_ones_decrypt)
{
    secmsg_client *cw = caseworker("anna", "anna");
    secmsg_client *ci = citizen(cw, "bo", "bo");
    sync_ok(cw, 0);
    sync_ok(ci, 0);
    secmsg_event drained;
    while (secmsg_client_next_event(cw, &drained) == SECMSG_OK &&
           drained.type != SECMSG_EVENT_NONE)
        continue;
    fault f = {.flip_next_send = 1};
    cr_assert_eq(secmsg__curl_ctx_new(&f.curl), SECMSG_OK);
    cr_assert_eq(secmsg_client_set_transport(ci, faulty_transport, &f), SECMSG_OK);
    send_ok(ci, "anna", "tampered on the way");
    send_ok(ci, "anna", "intact");
    sync_ok(cw, 1);
    size_t n = 0;
    cr_assert_eq(secmsg_client_message_count(cw, "bo", &n), SECMSG_OK);
    cr_assert_eq(n, 1U);
    expect_text(cw, "bo", 0, 0, "intact");
    secmsg_event ev;
    int saw_error = 0;
    while (secmsg_client_next_event(cw, &ev) == SECMSG_OK && ev.type != SECMSG_EVENT_NONE)
        if (ev.type == SECMSG_EVENT_ERROR) {
            saw_error = 1;
            cr_assert_eq(ev.code, SECMSG_E_DECRYPT);
            cr_assert_str_eq(ev.peer, "bo");
        }
    cr_assert(saw_error, "no error event for the tampered message");
    /* The ratchet is intact both ways. */
    send_ok(cw, "bo", "reply");
    sync_ok(ci, 1);
    send_ok(ci, "anna", "after");
    sync_ok(cw, 1);
    expect_text(cw, "bo", 2, 0, "after");
    secmsg_client_close(cw);
    secmsg_client_close(ci);
    secmsg__curl_ctx_free(f.curl);
}

Test(client, relay_unreachable_queues_then_delivers)
{
    secmsg_client *cw = caseworker("anna", "anna");
    secmsg_client *ci = citizen(cw, "bo", "bo");
    sync_ok(cw, 0);
    sync_ok(ci, 0);
    fault f = {.down = 1};
    cr_assert_eq(secmsg__curl_ctx_new(&f.curl), SECMSG_OK);
    cr_assert_eq(secmsg_client_set_transport(ci, faulty_transport, &f), SECMSG_OK);
    uint8_t id[SECMSG_MESSAGE_ID_BYTES];
    int rc = secmsg_client_send_text(ci, "anna", "queued", 6, id);
    cr_assert_eq(rc, SECMSG_E_NETWORK, "send while down: %d", rc);
    secmsg_message m;
    cr_assert_eq(secmsg_client_message_get(ci, "anna", 0, &m, NULL, 0), SECMSG_OK);
    cr_assert_eq(m.status, SECMSG_STATUS_QUEUED);
    cr_assert_eq(memcmp(m.id, id, sizeof id), 0);
    cr_assert_eq(secmsg_client_sync(ci, 0, NULL), SECMSG_E_NETWORK);
    /* A restart in between: the outbox is in the store. */
    ci = reopen(ci, "bo");
    sync_ok(ci, 0); /* back on the default transport: the outbox goes out */
    cr_assert_eq(secmsg_client_message_get(ci, "anna", 0, &m, NULL, 0), SECMSG_OK);
    cr_assert_eq(m.status, SECMSG_STATUS_SENT);
    sync_ok(cw, 1);
    expect_text(cw, "bo", 0, 0, "queued");
    secmsg_client_close(cw);
    secmsg_client_close(ci);
    secmsg__curl_ctx_free(f.curl);
}

Test(client, hello_without_pending_invite_refused)
{
    secmsg_client *cw = caseworker("anna", "anna");
    secmsg_client *ci = citizen(cw, "bo", "bo");
    /* The caseworker's store forgets the invite (e.g. it expired). */
    cr_assert_eq(secmsg__store_invite_del(cw->st, "bo"), SECMSG_OK);
    sync_ok(cw, 0);
    secmsg_event ev;
    cr_assert_eq(secmsg_client_next_event(cw, &ev), SECMSG_OK);
    cr_assert_eq(ev.type, SECMSG_EVENT_ERROR);
    cr_assert_eq(ev.code, SECMSG_E_UNTRUSTED);
    size_t n = 1;
    cr_assert_eq(secmsg_client_contact_count(cw, &n), SECMSG_OK);
    cr_assert_eq(n, 0U);
    /* Nothing to decrypt with: the one-time prekey it used is still there. */
    secmsg_client_close(cw);
    secmsg_client_close(ci);
}

Test(client, misuse_and_wrong_pin)
{
    secmsg_client *c = new_client("x");
    size_t got = 0;
    cr_assert_eq(secmsg_client_sync(c, 0, &got), SECMSG_E_STATE);
    cr_assert_eq(secmsg_client_send_text(c, "nobody", "hi", 2, NULL), SECMSG_E_STATE);
    cr_assert_eq(secmsg_client_redeem_invite(c, "not an invite"), SECMSG_E_MALFORMED);
    cr_assert_eq(secmsg_client_send_text(c, NULL, "hi", 2, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_client_send_text(c, "bo", "\xc0\xaf", 2, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_client_send_text(c, "bo", "", 0, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_client_enroll_caseworker(c, g_relay.url, "short", "x"),
                 SECMSG_E_MALFORMED);
    char path[700];
    snprintf(path, sizeof path, "%s/x.db", g_dir);
    secmsg_client_close(c);
    secmsg_client *o = NULL;
    uint32_t left = 0;
    cr_assert_eq(secmsg_client_open(&o, path, g_secret, sizeof g_secret, "1111", 4, &left),
                 SECMSG_E_WRONG_PIN);
    cr_assert_null(o);
    cr_assert_eq(left, 9U);
    cr_assert_eq(secmsg_client_create(&o, path, g_secret, sizeof g_secret, PIN, 4, 1, 8192),
                 SECMSG_E_EXISTS);
    cr_assert_eq(secmsg_client_create(&o, path, g_secret, sizeof g_secret, "12", 2, 1, 8192),
                 SECMSG_E_INVALID_ARG);
}

Test(client, prekeys_replenished_when_low)
{
    rc_relay_stop(&g_relay);
    static const char *const extra[] = {"--prekeys-low", "101", NULL};
    start_relay(extra);
    secmsg_client *cw = caseworker("anna", "anna");
    cr_assert_eq(secmsg_prekeys_count(cw->pk), 100U);
    sync_ok(cw, 0); /* the fetch says "low": a new batch is made and uploaded */
    cr_assert_eq(secmsg_prekeys_count(cw->pk), 200U);
    uint32_t up = 0;
    cr_assert_eq(secmsg__client_setting_u32(cw, SETTING_OTK_UPLOADED, &up), SECMSG_OK);
    cr_assert_eq(up, 200U);
    cw = reopen(cw, "anna");
    cr_assert_eq(secmsg_prekeys_count(cw->pk), 200U);
    secmsg_client_close(cw);
}

Test(client, platform_key_unlock)
{
    secmsg_client *c = new_client("bio");
    uint8_t key[SECMSG_PLATFORM_KEY_BYTES], wrong[SECMSG_PLATFORM_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    memcpy(wrong, key, sizeof wrong);
    wrong[0] ^= 1;
    char path[700];
    snprintf(path, sizeof path, "%s/bio.db", g_dir);
    secmsg_client *o = NULL;
    uint32_t left = 0;
    /* No platform key yet. */
    secmsg_client_close(c);
    cr_assert_eq(secmsg_client_open_platform(&o, path, g_secret, sizeof g_secret, key,
                                             sizeof key, &left),
                 SECMSG_E_NOT_FOUND);
    c = reopen(NULL, "bio");
    cr_assert_eq(secmsg_client_platform_key_add(c, key, sizeof key), SECMSG_OK);
    uint8_t id1[SECMSG_DEVICE_ID_BYTES], id2[SECMSG_DEVICE_ID_BYTES];
    cr_assert_eq(secmsg_client_device_id(c, id1), SECMSG_OK);
    secmsg_client_close(c);
    cr_assert_eq(secmsg_client_open_platform(&o, path, g_secret, sizeof g_secret, wrong,
                                             sizeof wrong, &left),
                 SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 9U);
    cr_assert_eq(secmsg_client_open_platform(&o, path, g_secret, sizeof g_secret, key,
                                             sizeof key, &left),
                 SECMSG_OK);
    cr_assert_eq(secmsg_client_device_id(o, id2), SECMSG_OK);
    cr_assert_eq(memcmp(id1, id2, sizeof id1), 0);
    cr_assert_eq(secmsg_client_platform_key_remove(o), SECMSG_OK);
    secmsg_client_close(o);
    o = NULL;
    cr_assert_eq(secmsg_client_open_platform(&o, path, g_secret, sizeof g_secret, key,
                                             sizeof key, &left),
                 SECMSG_E_NOT_FOUND);
    /* The PIN still opens it. */
    secmsg_client_close(reopen(NULL, "bio"));
}

Test(client, redeem_resumes_after_a_failure_past_registration)
{
    secmsg_client *cw = caseworker("anna", "anna");
    char invite[SECMSG_INVITE_MAX];
    size_t n = 0;
    cr_assert_eq(secmsg_client_create_invite(cw, "bo", 0, invite, sizeof invite, &n), SECMSG_OK);
    secmsg_client *ci = new_client("bo");
    fault f = {.down_at_claim = 1};
    cr_assert_eq(secmsg__curl_ctx_new(&f.curl), SECMSG_OK);
    cr_assert_eq(secmsg_client_set_transport(ci, faulty_transport, &f), SECMSG_OK);
    /* Registered, then the network goes: no contact, no session. */
    cr_assert_eq(secmsg_client_redeem_invite(ci, invite), SECMSG_E_NETWORK);
    cr_assert_eq(secmsg_client_role(ci), SECMSG_ROLE_CITIZEN);
    size_t count = 1;
    cr_assert_eq(secmsg_client_contact_count(ci, &count), SECMSG_OK);
    cr_assert_eq(count, 0U);
    /* After a restart, the same invite finishes the job (the token is not reused). */
    ci = reopen(ci, "bo");
    int rc = secmsg_client_redeem_invite(ci, invite);
    cr_assert_eq(rc, SECMSG_OK, "resume: %s", secmsg_client_last_error(ci));
    cr_assert_eq(secmsg_client_redeem_invite(ci, invite), SECMSG_E_EXISTS);
    sync_ok(cw, 0);
    sync_ok(ci, 0);
    secmsg_contact k;
    cr_assert_eq(secmsg_client_contact_find(ci, "anna", &k), SECMSG_OK);
    cr_assert_eq(k.verification, SECMSG_VERIFIED_INVITE);
    send_ok(ci, "anna", "made it");
    sync_ok(cw, 1);
    expect_text(cw, "bo", 0, 0, "made it");
    /* A caseworker device cannot redeem. */
    cr_assert_eq(secmsg_client_redeem_invite(cw, invite), SECMSG_E_STATE);
    secmsg_client_close(cw);
    secmsg_client_close(ci);
    secmsg__curl_ctx_free(f.curl);
}

Test(client, sync_over_several_pages_acks_everything)
{
    secmsg_client *cw = caseworker("anna", "anna");
    secmsg_client *ci = citizen(cw, "bo", "bo");
    sync_ok(cw, 0);
    sync_ok(ci, 0);
    char text[32];
    for (int i = 0; i < 250; i++) {
        snprintf(text, sizeof text, "m%03d", i);
        send_ok(ci, "anna", text);
    }
    /* Pages of at most 100: the acks of one ride on the next fetch. */
    sync_ok(cw, 250);
    for (size_t i = 0; i < 250; i += 83) {
        snprintf(text, sizeof text, "m%03zu", i);
        expect_text(cw, "bo", i, 0, text);
    }
    /* Nothing is left at the relay: every page was acknowledged. */
    secmsg__rc_batch f;
    memset(&f, 0, sizeof f);
    cr_assert_eq(secmsg__rc_fetch(&cw->rc, 0, &f), SECMSG_OK);
    cr_assert_eq(f.n, 0U);
    secmsg__rc_fetch_done(&f);
    sync_ok(cw, 0);
    secmsg_client_close(cw);
    secmsg_client_close(ci);
}
