/*
 * The client side of the relay API (libsecmsg/src/client/relay_client.h)
 * and its libcurl transport, against a real secmsg-relay on 127.0.0.1
 * (random port, fresh temp dir, one relay per test; the process helper is
 * the relay integration tests' relay_client.c). Only the test of bodies a
 * relay never sends uses a transport of its own.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "relay_client.h" /* tests/relay/integration: rc_relay_*, rc_admin_token */

#include "client/relay_client.h"
#include "relay.pb-c.h"
#include "secmsg.h"
#include "secmsg.pb-c.h"
#include "session/internal.h"
#include "wire/relay_client_codec.h"

static rc_relay relay;

static void start_relay(const char *const *flags)
{
    const char *err = "";
    rc_relay_stop(&relay);
    int r = rc_relay_start(&relay, rc_relay_bin(), flags, &err);
    cr_assert_eq(r, 0, "starting secmsg-relay: %s", err);
}

static void init_bare(void)
{
    cr_assert_eq(rc_global_init(), 0, "secmsg / libcurl initialisation");
    cr_assert_not_null(rc_relay_bin(), "SECMSG_RELAY_BIN is not set");
    memset(&relay, 0, sizeof relay);
}

static void init_default(void)
{
    init_bare();
    start_relay(NULL);
}

static void fini(void)
{
    rc_relay_stop(&relay);
}

/* ---- devices ---- */

typedef struct dev {
    secmsg_identity *id;
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t pub_len;
    uint8_t device_id[32];
    secmsg__relay_client rc;
    char user[SECMSG_USER_ID_BYTES];
    int role;
    secmsg_prekeys *pk;
} dev;

static int sign_cb(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    return secmsg__identity_sign(ctx, sig, msg, len);
}

static void dev_new_at(dev *d, const char *url)
{
    memset(d, 0, sizeof *d);
    cr_assert_eq(secmsg_identity_generate(&d->id), SECMSG_OK);
    cr_assert_eq(secmsg_identity_public(d->id, d->pub, sizeof d->pub, &d->pub_len), SECMSG_OK);
    memcpy(d->device_id, d->id->pub.sign_pub, sizeof d->device_id);
    cr_assert_eq(secmsg__rc_init(&d->rc, url, d->device_id, sign_cb, d->id), SECMSG_OK);
}

static void dev_new(dev *d)
{
    dev_new_at(d, relay.url);
}

static void dev_free(dev *d)
{
    secmsg__rc_free(&d->rc);
    secmsg_prekeys_free(d->pk);
    secmsg_identity_free(d->id);
    memset(d, 0, sizeof *d);
}

static void new_user_id(char *out, size_t cap, const char *prefix)
{
    static unsigned n;
    snprintf(out, cap, "%s-%ld-%u", prefix, (long)getpid(), ++n);
}

/* Registers d with an admin token of `role` ("caseworker" or "journal"). */
static void enroll(dev *d, const char *role)
{
    char user[SECMSG_USER_ID_BYTES];
    uint8_t token[32];
    new_user_id(user, sizeof user, role);
    cr_assert_eq(rc_admin_token(&relay, role, user, 0, token), 0, "secmsg-relay admin token");
    int r =
        secmsg__rc_register(&d->rc, token, d->pub, d->pub_len, d->user, sizeof d->user, &d->role);
    cr_assert_eq(r, SECMSG_OK, "register: %d (%s)", r, d->rc.message);
    cr_assert_str_eq(d->user, user);
}

/* A caseworker invites a fresh citizen id and c registers with the invite. */
static void enroll_citizen(dev *cw, dev *c)
{
    char user[SECMSG_USER_ID_BYTES];
    uint8_t token[32];
    uint64_t expires = 0;
    new_user_id(user, sizeof user, "citizen");
    int r = secmsg__rc_invite(&cw->rc, user, 0, token, &expires);
    cr_assert_eq(r, SECMSG_OK, "invite: %d (%s)", r, cw->rc.message);
    r = secmsg__rc_register(&c->rc, token, c->pub, c->pub_len, c->user, sizeof c->user, &c->role);
    cr_assert_eq(r, SECMSG_OK, "citizen register: %d (%s)", r, c->rc.message);
    cr_assert_str_eq(c->user, user);
    cr_assert_eq(c->role, SECMSG_ROLE_CITIZEN);
}

/* The serialized SignedPrekey of d->pk, cut out of a bundle (public API). */
static size_t signed_prekey_bytes(dev *d, uint8_t *out, size_t cap)
{
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t len = 0;
    cr_assert_eq(secmsg_prekeys_bundle(d->pk, d->id, 0, bundle, sizeof bundle, &len), SECMSG_OK);
    Secmsg__Wire__PrekeyBundle *b = secmsg__wire__prekey_bundle__unpack(NULL, len, bundle);
    cr_assert(b != NULL && b->signed_prekey != NULL);
    size_t n = secmsg__wire__signed_prekey__get_packed_size(b->signed_prekey);
    cr_assert_leq(n, cap);
    secmsg__wire__signed_prekey__pack(b->signed_prekey, out);
    secmsg__wire__prekey_bundle__free_unpacked(b, NULL);
    return n;
}

/* Creates d->pk with n_otk one-time prekeys (if none yet) and uploads them all. */
static void publish(dev *d, uint32_t n_otk, uint32_t *count, int *low)
{
    uint8_t spk[256];
    if (d->pk == NULL) {
        cr_assert_eq(secmsg_prekeys_new(&d->pk, d->id, 1), SECMSG_OK);
        if (n_otk > 0)
            cr_assert_eq(secmsg_prekeys_generate(d->pk, n_otk, NULL), SECMSG_OK);
    }
    size_t spk_len = signed_prekey_bytes(d, spk, sizeof spk);
    secmsg__rc_otk *otks = calloc(d->pk->n_otk + 1, sizeof *otks);
    cr_assert_not_null(otks);
    for (uint32_t i = 0; i < d->pk->n_otk; i++) {
        otks[i].id = d->pk->otk[i].id;
        memcpy(otks[i].pub, d->pk->otk[i].pub, 32);
    }
    int r = secmsg__rc_prekeys_upload(&d->rc, spk, spk_len, otks, d->pk->n_otk, count, low);
    free(otks);
    cr_assert_eq(r, SECMSG_OK, "prekey upload: %d (%s)", r, d->rc.message);
}

static void assert_relay_error(const secmsg__relay_client *rc, int got, int status,
                               const char *reason, const char *what)
{
    cr_assert_eq(got, SECMSG_E_RELAY, "%s: %d (%s), expected RELAY", what, got, rc->message);
    cr_assert_eq(rc->status, status, "%s: HTTP %d, expected %d", what, rc->status, status);
    cr_assert_str_eq(rc->reason, reason, "%s: reason \"%s\", expected \"%s\"", what, rc->reason,
                     reason);
    char expect[128];
    snprintf(expect, sizeof expect, "relay refused: %s (%d)", reason, status);
    cr_assert_str_eq(rc->message, expect, "%s: message \"%s\"", what, rc->message);
}

/* ---- registration ---- */

TestSuite(registration, .init = init_default, .fini = fini, .timeout = 120);

Test(registration, caseworker_with_admin_token)
{
    dev d;
    dev_new(&d);
    enroll(&d, "caseworker");
    cr_assert_eq(d.role, SECMSG_ROLE_CASEWORKER);
    cr_assert_eq(d.rc.status, 200);
    cr_assert_str_eq(d.rc.reason, "");
    dev_free(&d);
}

Test(registration, journal_with_admin_token)
{
    dev d;
    dev_new(&d);
    enroll(&d, "journal");
    cr_assert_eq(d.role, SECMSG_ROLE_JOURNAL);
    dev_free(&d);
}

Test(registration, unknown_token_is_refused)
{
    dev d;
    uint8_t token[32];
    char user[SECMSG_USER_ID_BYTES];
    char b64[64];
    int role = -1;
    dev_new(&d);
    randombytes_buf(token, sizeof token);
    int r = secmsg__rc_register(&d.rc, token, d.pub, d.pub_len, user, sizeof user, &role);
    assert_relay_error(&d.rc, r, 401, "unknown_token", "register with a random token");
    cr_assert_eq(role, -1, "no output on failure");
    /* The token never reaches the message. */
    sodium_bin2base64(b64, sizeof b64, token, sizeof token,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    cr_assert_null(strstr(d.rc.message, b64));
    dev_free(&d);
}

Test(registration, token_used_and_device_exists)
{
    dev a, b;
    uint8_t token[32];
    char user[SECMSG_USER_ID_BYTES], out[SECMSG_USER_ID_BYTES];
    int role = 0;
    dev_new(&a);
    dev_new(&b);
    new_user_id(user, sizeof user, "cw");
    cr_assert_eq(rc_admin_token(&relay, "caseworker", user, 0, token), 0);
    cr_assert_eq(secmsg__rc_register(&a.rc, token, a.pub, a.pub_len, out, sizeof out, &role),
                 SECMSG_OK);
    int r = secmsg__rc_register(&b.rc, token, b.pub, b.pub_len, out, sizeof out, &role);
    assert_relay_error(&b.rc, r, 409, "token_used", "a spent token");

    /* The same device with a fresh token. */
    cr_assert_eq(rc_admin_token(&relay, "caseworker", user, 0, token), 0);
    r = secmsg__rc_register(&a.rc, token, a.pub, a.pub_len, out, sizeof out, &role);
    assert_relay_error(&a.rc, r, 409, "device_exists", "a registered device");
    dev_free(&a);
    dev_free(&b);
}

Test(registration, arguments_are_checked_before_any_request)
{
    dev a, b;
    uint8_t token[32] = {0};
    char out[SECMSG_USER_ID_BYTES];
    int role = 0;
    dev_new(&a);
    dev_new(&b);
    /* Another device's identity: the relay would register b's key. */
    cr_assert_eq(secmsg__rc_register(&a.rc, token, b.pub, b.pub_len, out, sizeof out, &role),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(a.rc.status, 0, "no request was made");
    cr_assert_eq(secmsg__rc_register(&a.rc, token, a.pub, a.pub_len - 1, out, sizeof out, &role),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_register(&a.rc, token, a.pub, a.pub_len, out, 10, &role),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_register(&a.rc, NULL, a.pub, a.pub_len, out, sizeof out, &role),
                 SECMSG_E_INVALID_ARG);
    cr_assert_neq(a.rc.message[0], '\0');
    dev_free(&a);
    dev_free(&b);
}

Test(registration, init_checks_the_url)
{
    secmsg__relay_client rc;
    uint8_t id[32] = {1};
    cr_assert_eq(secmsg__rc_init(&rc, "ftp://127.0.0.1:1", id, sign_cb, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_init(&rc, "http://", id, sign_cb, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_init(&rc, "http://a b", id, sign_cb, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_init(&rc, "http://h/?x", id, sign_cb, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_init(&rc, "http://h", id, NULL, NULL), SECMSG_E_INVALID_ARG);
    char long_url[600];
    memset(long_url, 'a', sizeof long_url - 1);
    memcpy(long_url, "http://", 7);
    long_url[sizeof long_url - 1] = '\0';
    cr_assert_eq(secmsg__rc_init(&rc, long_url, id, sign_cb, NULL), SECMSG_E_INVALID_ARG);
    /* Trailing slashes are dropped, so paths join cleanly. */
    cr_assert_eq(secmsg__rc_init(&rc, "https://relay.example/base//", id, sign_cb, NULL),
                 SECMSG_OK);
    cr_assert_str_eq(rc.base_url, "https://relay.example/base");
    cr_assert(rc.transport == secmsg__transport_curl && rc.transport_ctx == rc.curl);
    secmsg__rc_free(&rc);
    secmsg__rc_free(&rc); /* zeroed: a second free is harmless */
}

/* ---- authentication ---- */

TestSuite(auth, .init = init_bare, .fini = fini, .timeout = 120);

Test(auth, unregistered_device_is_refused)
{
    start_relay(NULL);
    dev d;
    dev_new(&d);
    uint32_t count = 0;
    int low = 0;
    secmsg__rc_otk k = {1, {9}};
    int r = secmsg__rc_prekeys_upload(&d.rc, NULL, 0, &k, 1, &count, &low);
    assert_relay_error(&d.rc, r, 401, "unknown_device", "a challenge for an unknown device");
    cr_assert_str_eq(d.rc.bearer, "");
    dev_free(&d);
}

Test(auth, token_is_cached_refreshed_and_retried)
{
    const char *flags[] = {"--token-ttl", "2", NULL};
    start_relay(flags);
    dev d;
    uint8_t ids[1][160];
    size_t lens[1], n = 0;
    char first[128];
    dev_new(&d);
    enroll(&d, "caseworker");

    int r = secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, d.rc.message);
    cr_assert_eq(strncmp(d.rc.bearer, "Bearer ", 7), 0);
    cr_assert_eq(strlen(d.rc.bearer), 7 + 96, "Bearer + 96 characters of base64url");
    snprintf(first, sizeof first, "%s", d.rc.bearer);

    /* Past the token's lifetime: it expires within 60 s, so the next call
     * gets a fresh one before it asks. */
    rc_sleep(3.2);
    r = secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, d.rc.message);
    cr_assert_str_neq(d.rc.bearer, first);

    /* A token the client believes good but the relay finds expired (clock
     * skew): 401 token_expired, a fresh token, and the call is retried. */
    snprintf(first, sizeof first, "%s", d.rc.bearer);
    rc_sleep(3.2);
    d.rc.bearer_expires = (uint64_t)time(NULL) + 3600U;
    r = secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n);
    cr_assert_eq(r, SECMSG_OK, "retry after token_expired: %d (%s)", r, d.rc.message);
    cr_assert_eq(d.rc.status, 200);
    cr_assert_str_neq(d.rc.bearer, first);
    cr_assert_eq(n, 1);

    /* A forged token: 401 invalid_token, then the same cure. */
    size_t len = strlen(d.rc.bearer);
    d.rc.bearer[len - 2] = d.rc.bearer[len - 2] == 'A' ? 'B' : 'A';
    snprintf(first, sizeof first, "%s", d.rc.bearer);
    d.rc.bearer_expires = (uint64_t)time(NULL) + 3600U;
    r = secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n);
    cr_assert_eq(r, SECMSG_OK, "retry after invalid_token: %d (%s)", r, d.rc.message);
    cr_assert_str_neq(d.rc.bearer, first);
    dev_free(&d);
}

Test(auth, cached_token_is_reused)
{
    start_relay(NULL);
    dev d;
    uint8_t ids[1][160];
    size_t lens[1], n = 0;
    char first[128];
    dev_new(&d);
    enroll(&d, "caseworker");
    cr_assert_eq(secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n), SECMSG_OK);
    snprintf(first, sizeof first, "%s", d.rc.bearer);
    uint64_t expires = d.rc.bearer_expires;
    cr_assert_gt(expires, (uint64_t)time(NULL) + 3000U, "the default lifetime is an hour");
    cr_assert_eq(secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n), SECMSG_OK);
    cr_assert_str_eq(d.rc.bearer, first);
    cr_assert_eq(d.rc.bearer_expires, expires);
    dev_free(&d);
}

static int failing_sign(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    (void)ctx;
    (void)msg;
    (void)len;
    memset(sig, 0xaa, 64);
    return SECMSG_E_CRYPTO;
}

Test(auth, a_failing_signer_stops_the_call)
{
    start_relay(NULL);
    dev d;
    dev_new(&d);
    enroll(&d, "caseworker");
    d.rc.sign = failing_sign;
    uint8_t ids[1][160];
    size_t lens[1], n = 0;
    cr_assert_eq(secmsg__rc_devices(&d.rc, d.user, ids, lens, 1, &n), SECMSG_E_CRYPTO);
    cr_assert_str_eq(d.rc.bearer, "");
    dev_free(&d);
}

/* ---- invites ---- */

TestSuite(invite, .init = init_default, .fini = fini, .timeout = 120);

Test(invite, caseworker_invites_a_citizen)
{
    dev cw, c, c2;
    dev_new(&cw);
    dev_new(&c);
    dev_new(&c2);
    enroll(&cw, "caseworker");

    uint8_t token[32];
    uint64_t expires = 0;
    uint64_t now = (uint64_t)time(NULL);
    int r = secmsg__rc_invite(&cw.rc, "citizen-a", 3600, token, &expires);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, cw.rc.message);
    cr_assert(expires >= now + 3500 && expires <= now + 3700, "expires %llu",
              (unsigned long long)expires);
    r = secmsg__rc_register(&c.rc, token, c.pub, c.pub_len, c.user, sizeof c.user, &c.role);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, c.rc.message);
    cr_assert_str_eq(c.user, "citizen-a");
    cr_assert_eq(c.role, SECMSG_ROLE_CITIZEN);

    /* ttl 0: the relay's default (7 days). */
    r = secmsg__rc_invite(&cw.rc, "citizen-a", 0, token, &expires);
    cr_assert_eq(r, SECMSG_OK);
    cr_assert_geq(expires, now + 7U * 86400U - 100U);
    r = secmsg__rc_register(&c2.rc, token, c2.pub, c2.pub_len, c2.user, sizeof c2.user, &c2.role);
    cr_assert_eq(r, SECMSG_OK, "a second device for the citizen");
    cr_assert_str_eq(c2.user, "citizen-a");

    /* A citizen may not invite. */
    r = secmsg__rc_invite(&c.rc, "citizen-b", 0, token, &expires);
    assert_relay_error(&c.rc, r, 403, "not_caseworker", "a citizen's invite");
    /* Above invite_ttl_max (30 days). */
    r = secmsg__rc_invite(&cw.rc, "citizen-b", 31U * 86400U, token, &expires);
    assert_relay_error(&cw.rc, r, 400, "bad_ttl", "an invite for 31 days");
    /* A caseworker's user id. */
    r = secmsg__rc_invite(&cw.rc, cw.user, 0, token, &expires);
    assert_relay_error(&cw.rc, r, 409, "user_id_in_use", "an invite for a caseworker's id");
    /* Invalid ids never leave the client. */
    cw.rc.status = -1;
    cr_assert_eq(secmsg__rc_invite(&cw.rc, "..", 0, token, &expires), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_invite(&cw.rc, "a/b", 0, token, &expires), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_invite(&cw.rc, "", 0, token, &expires), SECMSG_E_INVALID_ARG);
    cr_assert_eq(cw.rc.status, 0);
    dev_free(&cw);
    dev_free(&c);
    dev_free(&c2);
}

/* ---- prekeys and devices ---- */

TestSuite(prekeys, .init = init_default, .fini = fini, .timeout = 120);

Test(prekeys, upload_claim_and_initiate)
{
    dev cw, c;
    dev_new(&cw);
    dev_new(&c);
    enroll(&cw, "caseworker");
    enroll_citizen(&cw, &c);

    uint32_t count = 0;
    int low = 0;
    publish(&cw, 3, &count, &low);
    cr_assert_eq(count, 3);
    cr_assert_eq(low, 1, "3 is below prekeys_low (20)");

    /* Each claim hands out another one-time prekey, then none. */
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    for (int i = 0; i < 4; i++) {
        size_t len = 0;
        int r = secmsg__rc_claim(&c.rc, cw.device_id, bundle, sizeof bundle, &len);
        cr_assert_eq(r, SECMSG_OK, "claim %d: %d (%s)", i, r, c.rc.message);
        Secmsg__Wire__PrekeyBundle *b = secmsg__wire__prekey_bundle__unpack(NULL, len, bundle);
        cr_assert_not_null(b);
        cr_assert_eq(b->one_time_prekey != NULL, i < 3, "claim %d: one-time prekey", i);
        secmsg__wire__prekey_bundle__free_unpacked(b, NULL);
        /* The bundle is one the protocol layer accepts. */
        secmsg_session *s = NULL;
        cr_assert_eq(secmsg_session_initiate(&s, c.id, bundle, len), SECMSG_OK);
        secmsg_session_free(s);
    }

    /* More one-time prekeys, no signed prekey. */
    cr_assert_eq(secmsg_prekeys_generate(cw.pk, 2, NULL), SECMSG_OK);
    secmsg__rc_otk k[2];
    for (uint32_t i = 0; i < 2; i++) {
        k[i].id = cw.pk->otk[cw.pk->n_otk - 2 + i].id;
        memcpy(k[i].pub, cw.pk->otk[cw.pk->n_otk - 2 + i].pub, 32);
    }
    int r = secmsg__rc_prekeys_upload(&cw.rc, NULL, 0, k, 2, &count, &low);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, cw.rc.message);
    cr_assert_eq(count, 2);
    r = secmsg__rc_prekeys_upload(&cw.rc, NULL, 0, k, 1, &count, &low);
    assert_relay_error(&cw.rc, r, 409, "duplicate_prekey_id", "a prekey id uploaded twice");
    cr_assert_eq(secmsg__rc_prekeys_upload(&cw.rc, NULL, 0, NULL, 0, &count, &low),
                 SECMSG_E_INVALID_ARG, "an empty upload");
    k[0].id = 0;
    cr_assert_eq(secmsg__rc_prekeys_upload(&cw.rc, NULL, 0, k, 1, &count, &low),
                 SECMSG_E_INVALID_ARG, "id 0");
    dev_free(&cw);
    dev_free(&c);
}

Test(prekeys, claim_errors)
{
    dev cw, other;
    dev_new(&cw);
    dev_new(&other);
    enroll(&cw, "caseworker");
    enroll(&other, "caseworker");
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES], unknown[32];
    size_t len = 0;
    randombytes_buf(unknown, sizeof unknown);
    int r = secmsg__rc_claim(&cw.rc, unknown, bundle, sizeof bundle, &len);
    assert_relay_error(&cw.rc, r, 404, "unknown_device", "a claim for an unknown device");
    r = secmsg__rc_claim(&cw.rc, other.device_id, bundle, sizeof bundle, &len);
    assert_relay_error(&cw.rc, r, 404, "no_prekeys", "a claim before any upload");
    cr_assert_eq(secmsg__rc_claim(&cw.rc, other.device_id, bundle, 100, &len), SECMSG_E_INVALID_ARG,
                 "a buffer that cannot hold every bundle");
    dev_free(&cw);
    dev_free(&other);
}

Test(prekeys, device_list)
{
    dev cw, c, c2;
    dev_new(&cw);
    dev_new(&c);
    dev_new(&c2);
    enroll(&cw, "caseworker");
    enroll_citizen(&cw, &c);
    /* A second device of the same citizen. */
    uint8_t token[32];
    uint64_t expires;
    cr_assert_eq(secmsg__rc_invite(&cw.rc, c.user, 0, token, &expires), SECMSG_OK);
    cr_assert_eq(
        secmsg__rc_register(&c2.rc, token, c2.pub, c2.pub_len, c2.user, sizeof c2.user, &c2.role),
        SECMSG_OK);

    uint8_t ids[4][160];
    size_t lens[4], n = 0;
    int r = secmsg__rc_devices(&cw.rc, c.user, ids, lens, 4, &n);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, cw.rc.message);
    cr_assert_eq(n, 2);
    int seen_c = 0, seen_c2 = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(secmsg_identity_public_verify(ids[i], lens[i]), SECMSG_OK);
        seen_c += lens[i] == c.pub_len && memcmp(ids[i], c.pub, c.pub_len) == 0;
        seen_c2 += lens[i] == c2.pub_len && memcmp(ids[i], c2.pub, c2.pub_len) == 0;
    }
    cr_assert(seen_c == 1 && seen_c2 == 1, "both devices, once each");

    /* Too little room: the count, and nothing else. */
    n = 0;
    cr_assert_eq(secmsg__rc_devices(&cw.rc, c.user, ids, lens, 1, &n), SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 2);
    cr_assert_eq(secmsg__rc_devices(&cw.rc, c.user, NULL, NULL, 0, &n), SECMSG_E_BUFFER_TOO_SMALL);

    r = secmsg__rc_devices(&c.rc, "nobody-here", ids, lens, 4, &n);
    assert_relay_error(&c.rc, r, 404, "unknown_user", "an unknown user");
    cr_assert_eq(secmsg__rc_devices(&c.rc, "a/../b", ids, lens, 4, &n), SECMSG_E_INVALID_ARG);
    dev_free(&cw);
    dev_free(&c);
    dev_free(&c2);
}

/* ---- messages ---- */

TestSuite(messages, .init = init_default, .fini = fini, .timeout = 180);

static uint8_t *envelope_to(const dev *to, const uint8_t msg_id[16], const uint8_t *content,
                            size_t len, size_t *env_len)
{
    uint8_t *env = NULL;
    const uint8_t(*rcpt)[32] = &to->device_id;
    cr_assert_eq(secmsg__rc_encode_envelope(msg_id, rcpt, 1, content, len, &env, env_len),
                 SECMSG_OK);
    return env;
}

Test(messages, encrypted_send_fetch_ack)
{
    dev cw, c;
    uint32_t count;
    int low;
    dev_new(&cw);
    dev_new(&c);
    enroll(&cw, "caseworker");
    enroll_citizen(&cw, &c);
    publish(&cw, 5, &count, &low);

    /* The citizen opens a session from the claimed bundle and sends. */
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t blen = 0;
    cr_assert_eq(secmsg__rc_claim(&c.rc, cw.device_id, bundle, sizeof bundle, &blen), SECMSG_OK);
    secmsg_session *sa = NULL, *sb = NULL;
    cr_assert_eq(secmsg_session_initiate(&sa, c.id, bundle, blen), SECMSG_OK);
    static const uint8_t text[] = "Hello, caseworker";
    uint8_t ct[512];
    size_t ct_len = 0;
    cr_assert_eq(secmsg_session_encrypt(sa, ct, sizeof ct, &ct_len, text, sizeof text), SECMSG_OK);
    uint8_t msg_id[16];
    randombytes_buf(msg_id, sizeof msg_id);
    size_t env_len = 0;
    uint8_t *env = envelope_to(&cw, msg_id, ct, ct_len, &env_len);
    int r = secmsg__rc_send_envelope(&c.rc, env, env_len);
    cr_assert_eq(r, SECMSG_OK, "send: %d (%s)", r, c.rc.message);
    free(env);

    /* The caseworker fetches (no wait), decrypts, acks. */
    secmsg__rc_batch f;
    r = secmsg__rc_fetch(&cw.rc, 0, &f);
    cr_assert_eq(r, SECMSG_OK, "fetch: %d (%s)", r, cw.rc.message);
    cr_assert_eq(f.n, 1);
    cr_assert_eq(f.more, 0);
    cr_assert_eq(f.prekeys_known, 1);
    cr_assert_eq(f.prekeys, 4, "one of five was claimed");
    cr_assert_eq(f.prekeys_low, 1);
    cr_assert_arr_eq(f.d[0].sender, c.device_id, 32);
    cr_assert_arr_eq(f.d[0].message_id, msg_id, 16);
    cr_assert_eq(f.d[0].content_len, ct_len);
    cr_assert_arr_eq(f.d[0].content, ct, ct_len);
    cr_assert_gt(f.d[0].received, 0);
    uint8_t pt[512];
    size_t pt_len = 0;
    cr_assert_eq(secmsg_session_accept(&sb, cw.id, cw.pk, f.d[0].content, f.d[0].content_len, pt,
                                       sizeof pt, &pt_len),
                 SECMSG_OK);
    cr_assert_eq(pt_len, sizeof text);
    cr_assert_arr_eq(pt, text, sizeof text);

    /* Fetching does not delete; the same delivery comes again until acked. */
    uint64_t id = f.d[0].id;
    secmsg__rc_fetch_done(&f);
    cr_assert_null(f.d);
    cr_assert_eq(secmsg__rc_fetch(&cw.rc, 0, &f), SECMSG_OK);
    cr_assert_eq(f.n, 1);
    cr_assert_eq(f.d[0].id, id);
    secmsg__rc_fetch_done(&f);

    uint32_t deleted = 99;
    r = secmsg__rc_ack(&cw.rc, &id, 1, &deleted);
    cr_assert_eq(r, SECMSG_OK, "ack: %d (%s)", r, cw.rc.message);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(secmsg__rc_fetch(&cw.rc, 0, &f), SECMSG_OK);
    cr_assert_eq(f.n, 0);
    cr_assert_null(f.d);
    secmsg__rc_fetch_done(&f);
    r = secmsg__rc_ack(&cw.rc, &id, 1, &deleted);
    cr_assert_eq(r, SECMSG_OK);
    cr_assert_eq(deleted, 0, "already gone: not counted");

    secmsg_session_free(sa);
    secmsg_session_free(sb);
    dev_free(&cw);
    dev_free(&c);
}

Test(messages, several_deliveries_stay_valid_until_done)
{
    dev a, b;
    dev_new(&a);
    dev_new(&b);
    enroll(&a, "caseworker");
    enroll(&b, "caseworker");
    uint8_t ids[3][16], content[3][40];
    for (int i = 0; i < 3; i++) {
        randombytes_buf(ids[i], 16);
        randombytes_buf(content[i], sizeof content[i]);
        size_t len = 0;
        uint8_t *env = envelope_to(&b, ids[i], content[i], (size_t)(10 + 10 * i), &len);
        cr_assert_eq(secmsg__rc_send_envelope(&a.rc, env, len), SECMSG_OK);
        free(env);
    }
    secmsg__rc_batch f;
    cr_assert_eq(secmsg__rc_fetch(&b.rc, 0, &f), SECMSG_OK);
    cr_assert_eq(f.n, 3);
    /* Other calls on the client in between leave the batch intact. */
    uint8_t dl[2][160];
    size_t lens[2], n;
    cr_assert_eq(secmsg__rc_devices(&b.rc, a.user, dl, lens, 2, &n), SECMSG_OK);
    uint64_t acks[3];
    for (size_t i = 0; i < 3; i++) {
        cr_assert_arr_eq(f.d[i].message_id, ids[i], 16, "oldest first");
        cr_assert_eq(f.d[i].content_len, 10 + 10 * i);
        cr_assert_arr_eq(f.d[i].content, content[i], f.d[i].content_len);
        acks[i] = f.d[i].id;
    }
    secmsg__rc_fetch_done(&f);
    secmsg__rc_fetch_done(&f); /* zeroed: harmless */
    uint32_t deleted = 0;
    cr_assert_eq(secmsg__rc_ack(&b.rc, acks, 3, &deleted), SECMSG_OK);
    cr_assert_eq(deleted, 3);
    dev_free(&a);
    dev_free(&b);
}

Test(messages, fetch_with_acks_in_one_request)
{
    dev a, b;
    dev_new(&a);
    dev_new(&b);
    enroll(&a, "caseworker");
    enroll(&b, "caseworker");
    uint8_t ids[2][16], content[] = "round";
    for (int i = 0; i < 2; i++) {
        randombytes_buf(ids[i], 16);
        size_t len = 0;
        uint8_t *env = envelope_to(&b, ids[i], content, sizeof content, &len);
        cr_assert_eq(secmsg__rc_send_envelope(&a.rc, env, len), SECMSG_OK);
        free(env);
    }
    /* No acks, no wait: the empty body, a plain fetch. */
    secmsg__rc_batch f;
    int r = secmsg__rc_fetch_ack(&b.rc, NULL, 0, 0, &f);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, b.rc.message);
    cr_assert_eq(f.n, 2);
    cr_assert_arr_eq(f.d[1].message_id, ids[1], 16);
    uint64_t acks[2] = {f.d[0].id, f.d[1].id};
    secmsg__rc_fetch_done(&f);

    /* The next round acks the previous one and finds the mailbox empty. */
    r = secmsg__rc_fetch_ack(&b.rc, acks, 2, 1, &f);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, b.rc.message);
    cr_assert_eq(f.n, 0);
    cr_assert_eq(f.prekeys_known, 1);
    secmsg__rc_fetch_done(&f);
    cr_assert_eq(secmsg__rc_fetch(&b.rc, 0, &f), SECMSG_OK);
    cr_assert_eq(f.n, 0, "the acks were applied");
    secmsg__rc_fetch_done(&f);

    r = secmsg__rc_fetch_ack(&b.rc, acks, 2, 61, &f);
    assert_relay_error(&b.rc, r, 400, "malformed_body", "wait=61 in a FetchRequest");
    cr_assert_eq(secmsg__rc_fetch_ack(&b.rc, NULL, 1, 0, &f), SECMSG_E_INVALID_ARG);
    dev_free(&a);
    dev_free(&b);
}

Test(messages, send_errors)
{
    dev a;
    uint8_t unknown[32], id[16] = {1}, content[4] = {1, 2, 3, 4};
    dev_new(&a);
    enroll(&a, "caseworker");
    randombytes_buf(unknown, sizeof unknown);
    uint8_t *env = NULL;
    size_t len = 0;
    cr_assert_eq(secmsg__rc_encode_envelope(id, (const uint8_t(*)[32])unknown, 1, content,
                                            sizeof content, &env, &len),
                 SECMSG_OK);
    int r = secmsg__rc_send_envelope(&a.rc, env, len);
    assert_relay_error(&a.rc, r, 404, "unknown_recipient", "a send to an unknown device");
    free(env);
    /* Not an envelope (no recipients). */
    uint8_t junk[] = {0x0a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    r = secmsg__rc_send_envelope(&a.rc, junk, sizeof junk);
    assert_relay_error(&a.rc, r, 400, "malformed_body", "an envelope without recipients");

    cr_assert_eq(secmsg__rc_encode_envelope(id, (const uint8_t(*)[32])unknown, 0, content,
                                            sizeof content, &env, &len),
                 SECMSG_E_INVALID_ARG);
    cr_assert_null(env);
    cr_assert_eq(
        secmsg__rc_encode_envelope(id, (const uint8_t(*)[32])unknown, 1, content, 0, &env, &len),
        SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__rc_send_envelope(&a.rc, NULL, 0), SECMSG_E_INVALID_ARG);
    uint32_t deleted;
    uint64_t one = 1;
    cr_assert_eq(secmsg__rc_ack(&a.rc, &one, 0, &deleted), SECMSG_E_INVALID_ARG);
    secmsg__rc_batch f;
    cr_assert_eq(secmsg__rc_fetch(&a.rc, 3601, &f), SECMSG_E_INVALID_ARG);
    /* Above the relay's longpoll_max_wait (60). */
    r = secmsg__rc_fetch(&a.rc, 61, &f);
    assert_relay_error(&a.rc, r, 400, "bad_query", "wait=61");
    cr_assert_eq(f.n, 0);
    cr_assert_null(f.priv);
    dev_free(&a);
}

/* ---- long poll ---- */

typedef struct poller {
    dev *d;
    uint32_t wait_s;
    int rc;
    secmsg__rc_batch f;
} poller;

static void *poll_thread(void *arg)
{
    poller *p = arg;
    p->rc = secmsg__rc_fetch(&p->d->rc, p->wait_s, &p->f);
    return NULL;
}

/* The relay's longpoll_waiters gauge, through the transport under test. */
static long waiters(void)
{
    enum { CAP = 256 * 1024 };
    char url[128];
    size_t len = 0;
    int status = 0;
    long v = -1;
    uint8_t *body = malloc(CAP);
    cr_assert_not_null(body);
    snprintf(url, sizeof url, "%s/metrics", relay.url);
    secmsg_http_request req = {"GET", url, NULL, NULL, NULL, 0, 10000};
    if (secmsg__transport_curl(NULL, &req, &status, body, CAP - 1, &len) == 0 && status == 200) {
        body[len] = '\0';
        const char *name = "\nsecmsg_relay_longpoll_waiters ";
        const char *p = strstr((const char *)body, name);
        if (p != NULL)
            v = strtol(p + strlen(name), NULL, 10);
    }
    free(body);
    return v;
}

Test(messages, long_poll_wakes_when_mail_arrives)
{
    dev a, b;
    dev_new(&a);
    dev_new(&b);
    enroll(&a, "caseworker");
    enroll(&b, "caseworker");
    /* Authenticate b first, so the poll's only request is the wait. */
    uint8_t dl[1][160];
    size_t lens[1], n;
    cr_assert_eq(secmsg__rc_devices(&b.rc, b.user, dl, lens, 1, &n), SECMSG_OK);

    poller p = {&b, 50, -100, {0}};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, poll_thread, &p), 0);
    /* Send once the poll is waiting at the relay (bounded wait for that). */
    double end = rc_now() + 20.0;
    while (waiters() < 1 && rc_now() < end)
        rc_sleep(0.02);
    cr_assert_eq(waiters(), 1, "the long poll is waiting");

    uint8_t id[16], content[] = "wake up";
    randombytes_buf(id, sizeof id);
    size_t len = 0;
    uint8_t *env = envelope_to(&b, id, content, sizeof content, &len);
    cr_assert_eq(secmsg__rc_send_envelope(&a.rc, env, len), SECMSG_OK);
    free(env);
    cr_assert_eq(pthread_join(t, NULL), 0);

    cr_assert_eq(p.rc, SECMSG_OK, "long poll: %d (%s)", p.rc, b.rc.message);
    cr_assert_eq(p.f.n, 1);
    cr_assert_arr_eq(p.f.d[0].message_id, id, 16);
    cr_assert_arr_eq(p.f.d[0].sender, a.device_id, 32);
    secmsg__rc_fetch_done(&p.f);
    dev_free(&a);
    dev_free(&b);
}

Test(messages, long_poll_ends_empty)
{
    dev a;
    dev_new(&a);
    enroll(&a, "caseworker");
    secmsg__rc_batch f;
    int r = secmsg__rc_fetch(&a.rc, 1, &f);
    cr_assert_eq(r, SECMSG_OK, "%d (%s)", r, a.rc.message);
    cr_assert_eq(f.n, 0);
    cr_assert_eq(f.more, 0);
    secmsg__rc_fetch_done(&f);
    dev_free(&a);
}

/* ---- no relay ---- */

TestSuite(network, .init = init_bare, .fini = fini, .timeout = 120);

Test(network, relay_down_is_a_network_error)
{
    start_relay(NULL);
    char url[RC_URL_MAX];
    snprintf(url, sizeof url, "%s", relay.url);
    dev d;
    dev_new_at(&d, url);
    enroll(&d, "caseworker");
    rc_relay_stop(&relay); /* nothing listens on the port any more */

    uint8_t token[32] = {0};
    char user[SECMSG_USER_ID_BYTES];
    int role;
    int r = secmsg__rc_register(&d.rc, token, d.pub, d.pub_len, user, sizeof user, &role);
    cr_assert_eq(r, SECMSG_E_NETWORK, "%d", r);
    cr_assert_eq(d.rc.status, 0);
    cr_assert_str_eq(d.rc.reason, "");
    cr_assert_neq(d.rc.message[0], '\0');
    secmsg__rc_batch f;
    cr_assert_eq(secmsg__rc_fetch(&d.rc, 0, &f), SECMSG_E_NETWORK);
    uint8_t tok[32];
    uint64_t exp;
    cr_assert_eq(secmsg__rc_invite(&d.rc, "x", 0, tok, &exp), SECMSG_E_NETWORK);
    dev_free(&d);
}

Test(network, transport_limits)
{
    start_relay(NULL);
    char url[128];
    uint8_t body[64];
    size_t len = 99;
    int status = -1;
    snprintf(url, sizeof url, "%s/health", relay.url);
    secmsg_http_request req = {"GET", url, NULL, NULL, NULL, 0, 10000};

    /* One-shot and cached handles. */
    cr_assert_eq(secmsg__transport_curl(NULL, &req, &status, body, sizeof body, &len), 0);
    cr_assert_eq(status, 200);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(body, "ok\n", 3);
    secmsg__curl_ctx *ctx = NULL;
    cr_assert_eq(secmsg__curl_ctx_new(&ctx), SECMSG_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(secmsg__transport_curl(ctx, &req, &status, body, sizeof body, &len), 0);
        cr_assert_eq(status, 200);
    }
    /* A body longer than the buffer is no response. */
    cr_assert_neq(secmsg__transport_curl(ctx, &req, &status, body, 2, &len), 0);
    cr_assert_eq(status, 0);
    cr_assert_eq(len, 0);
    /* The handle is still good afterwards. */
    cr_assert_eq(secmsg__transport_curl(ctx, &req, &status, body, sizeof body, &len), 0);
    /* Only GET, POST, PUT; only http(s); no header injection. */
    req.method = "DELETE";
    cr_assert_neq(secmsg__transport_curl(ctx, &req, &status, body, sizeof body, &len), 0);
    req.method = "GET";
    req.authorization = "Bearer x\r\nX-Evil: 1";
    cr_assert_neq(secmsg__transport_curl(ctx, &req, &status, body, sizeof body, &len), 0);
    req.authorization = NULL;
    snprintf(url, sizeof url, "file:///etc/passwd");
    cr_assert_neq(secmsg__transport_curl(ctx, &req, &status, body, sizeof body, &len), 0);
    snprintf(url, sizeof url, "ftp://127.0.0.1:%u/", relay.port);
    cr_assert_neq(secmsg__transport_curl(ctx, &req, &status, body, sizeof body, &len), 0);

    /* An error answer is a response: status and body, return 0. */
    snprintf(url, sizeof url, "%s/nowhere", relay.url);
    uint8_t big[1024];
    cr_assert_eq(secmsg__transport_curl(ctx, &req, &status, big, sizeof big, &len), 0);
    cr_assert_eq(status, 404);
    Secmsg__Relay__Error *e = NULL;
    cr_assert_eq(secmsg__relay_decode_error(&e, big, len), SECMSG_OK);
    cr_assert_str_eq(e->reason, "no_route");
    secmsg__relay__error__free_unpacked(e, NULL);
    secmsg__curl_ctx_free(ctx);
    secmsg__curl_ctx_free(NULL);
}

/* ---- bodies a relay never sends ---- */

/*
 * A stand-in relay: valid challenge and token answers (so authenticated
 * calls reach their endpoint), and one canned answer for everything else.
 */
typedef struct fake {
    int status;
    const uint8_t *body;
    size_t len;
    int calls;
    int token_calls;
} fake;

static int fake_transport(void *ctx, const secmsg_http_request *req, int *status, uint8_t *resp,
                          size_t cap, size_t *len)
{
    fake *f = ctx;
    uint8_t nonce[32], token[72];
    f->calls++;
    *status = 200;
    if (strstr(req->url, "/v1/auth/challenge") != NULL) {
        Secmsg__Relay__ChallengeResponse m = SECMSG__RELAY__CHALLENGE_RESPONSE__INIT;
        randombytes_buf(nonce, sizeof nonce);
        m.has_nonce = m.has_expires = 1;
        m.nonce.data = nonce;
        m.nonce.len = sizeof nonce;
        m.expires = (uint64_t)time(NULL) + 60U;
        *len = secmsg__relay__challenge_response__pack(&m, resp);
    } else if (strstr(req->url, "/v1/auth/token") != NULL) {
        Secmsg__Relay__TokenResponse m = SECMSG__RELAY__TOKEN_RESPONSE__INIT;
        randombytes_buf(token, sizeof token);
        f->token_calls++;
        m.has_token = m.has_expires = 1;
        m.token.data = token;
        m.token.len = sizeof token;
        m.expires = (uint64_t)time(NULL) + 3600U;
        *len = secmsg__relay__token_response__pack(&m, resp);
    } else {
        if (f->len > cap)
            return -1;
        *status = f->status;
        if (f->len > 0)
            memcpy(resp, f->body, f->len);
        *len = f->len;
    }
    return 0;
}

/* Every call of the API against the fake; returns how many gave `want`. */
static int all_calls(dev *d, const dev *peer, int want)
{
    uint8_t token[32] = {0}, bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES], ids[2][160];
    char user[SECMSG_USER_ID_BYTES];
    size_t lens[2], n, len;
    uint64_t exp, ack = 1;
    uint32_t count, deleted;
    int role, low, got = 0;
    secmsg__rc_otk k = {1, {9}};
    secmsg__rc_batch f;
    uint8_t env[] = {0x0a, 0x01, 0x00};

    got += secmsg__rc_register(&d->rc, token, d->pub, d->pub_len, user, sizeof user, &role) == want;
    got += secmsg__rc_invite(&d->rc, "someone", 0, token, &exp) == want;
    got += secmsg__rc_prekeys_upload(&d->rc, NULL, 0, &k, 1, &count, &low) == want;
    got += secmsg__rc_claim(&d->rc, peer->device_id, bundle, sizeof bundle, &len) == want;
    got += secmsg__rc_devices(&d->rc, "someone", ids, lens, 2, &n) == want;
    got += secmsg__rc_send_envelope(&d->rc, env, sizeof env) == want;
    int r = secmsg__rc_fetch(&d->rc, 0, &f);
    got += r == want;
    if (r == SECMSG_OK)
        secmsg__rc_fetch_done(&f);
    got += secmsg__rc_ack(&d->rc, &ack, 1, &deleted) == want;
    r = secmsg__rc_fetch_ack(&d->rc, &ack, 1, 0, &f);
    got += r == want;
    if (r == SECMSG_OK)
        secmsg__rc_fetch_done(&f);
    return got;
}

#define N_CALLS 9

Test(malformed, garbage_2xx_bodies_are_malformed, .init = init_bare)
{
    static const uint8_t empty[1] = {0};
    static const uint8_t ff[] = {0xff, 0xff, 0xff};
    static const uint8_t html[] = "<html>ok</html>";
    static const uint8_t unknown_field[] = {0x78, 0x01}; /* field 15, varint */
    static const uint8_t truncated[] = {0x0a, 0x20, 0x01};
    const struct {
        const uint8_t *p;
        size_t n;
    } bodies[] = {{empty, 0},
                  {ff, sizeof ff},
                  {html, sizeof html - 1},
                  {unknown_field, sizeof unknown_field},
                  {truncated, sizeof truncated}};
    dev d, peer;
    memset(&relay, 0, sizeof relay);
    dev_new_at(&d, "http://127.0.0.1:9");
    dev_new_at(&peer, "http://127.0.0.1:9");
    fake fk = {200, NULL, 0, 0, 0};
    d.rc.transport = fake_transport;
    d.rc.transport_ctx = &fk;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        fk.body = bodies[i].p;
        fk.len = bodies[i].n;
        cr_assert_eq(all_calls(&d, &peer, SECMSG_E_MALFORMED), N_CALLS, "body %zu", i);
        cr_assert_eq(d.rc.status, 200);
        cr_assert_neq(d.rc.message[0], '\0');
    }
    dev_free(&d);
    dev_free(&peer);
}

Test(malformed, well_formed_but_wrong_answers, .init = init_bare)
{
    dev d, peer;
    memset(&relay, 0, sizeof relay);
    dev_new_at(&d, "http://127.0.0.1:9");
    dev_new_at(&peer, "http://127.0.0.1:9");
    fake fk = {200, NULL, 0, 0, 0};
    d.rc.transport = fake_transport;
    d.rc.transport_ctx = &fk;
    uint8_t buf[1024];

    /* Registration answered for another device. */
    Secmsg__Relay__RegisterResponse reg = SECMSG__RELAY__REGISTER_RESPONSE__INIT;
    reg.has_device_id = reg.has_role = 1;
    reg.device_id.data = peer.device_id;
    reg.device_id.len = 32;
    reg.user_id = (char *)"someone";
    reg.role = 2;
    fk.body = buf;
    fk.len = secmsg__relay__register_response__pack(&reg, buf);
    uint8_t token[32] = {0};
    char user[SECMSG_USER_ID_BYTES];
    int role = 0;
    cr_assert_eq(secmsg__rc_register(&d.rc, token, d.pub, d.pub_len, user, sizeof user, &role),
                 SECMSG_E_MALFORMED);
    reg.device_id.data = d.device_id; /* the right device: accepted */
    fk.len = secmsg__relay__register_response__pack(&reg, buf);
    cr_assert_eq(secmsg__rc_register(&d.rc, token, d.pub, d.pub_len, user, sizeof user, &role),
                 SECMSG_OK);
    cr_assert_str_eq(user, "someone");

    /* More deletions than ids acked. */
    Secmsg__Relay__AckResponse ack = SECMSG__RELAY__ACK_RESPONSE__INIT;
    ack.has_deleted = 1;
    ack.deleted = 2;
    fk.len = secmsg__relay__ack_response__pack(&ack, buf);
    uint64_t one = 7;
    uint32_t deleted = 0;
    cr_assert_eq(secmsg__rc_ack(&d.rc, &one, 1, &deleted), SECMSG_E_MALFORMED);

    /* A bundle of another device than the one claimed. */
    secmsg_prekeys *pk = NULL;
    cr_assert_eq(secmsg_prekeys_new(&pk, peer.id, 1), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_bundle(pk, peer.id, 0, buf, sizeof buf, &fk.len), SECMSG_OK);
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t blen = 0;
    cr_assert_eq(secmsg__rc_claim(&d.rc, d.device_id, bundle, sizeof bundle, &blen),
                 SECMSG_E_MALFORMED);
    cr_assert_eq(secmsg__rc_claim(&d.rc, peer.device_id, bundle, sizeof bundle, &blen), SECMSG_OK);
    cr_assert_eq(blen, fk.len);
    secmsg_prekeys_free(pk);

    /* A device list for another user. */
    Secmsg__Relay__DeviceList dl = SECMSG__RELAY__DEVICE_LIST__INIT;
    ProtobufCBinaryData dev_pub = {peer.pub_len, peer.pub};
    dl.user_id = (char *)"someone-else";
    dl.n_devices = 1;
    dl.devices = &dev_pub;
    fk.len = secmsg__relay__device_list__pack(&dl, buf);
    uint8_t ids[2][160];
    size_t lens[2], n = 0;
    cr_assert_eq(secmsg__rc_devices(&d.rc, "someone", ids, lens, 2, &n), SECMSG_E_MALFORMED);
    dl.user_id = (char *)"someone";
    fk.len = secmsg__relay__device_list__pack(&dl, buf);
    cr_assert_eq(secmsg__rc_devices(&d.rc, "someone", ids, lens, 2, &n), SECMSG_OK);
    cr_assert_eq(n, 1);

    /* A bool encoded as 2 is not canonical. */
    static const uint8_t status_bool2[] = {0x08, 0x05, 0x10, 0x02};
    fk.body = status_bool2;
    fk.len = sizeof status_bool2;
    uint32_t count;
    int low;
    secmsg__rc_otk k = {1, {9}};
    cr_assert_eq(secmsg__rc_prekeys_upload(&d.rc, NULL, 0, &k, 1, &count, &low),
                 SECMSG_E_MALFORMED);
    dev_free(&d);
    dev_free(&peer);
}

Test(malformed, error_bodies, .init = init_bare)
{
    dev d, peer;
    memset(&relay, 0, sizeof relay);
    dev_new_at(&d, "http://127.0.0.1:9");
    dev_new_at(&peer, "http://127.0.0.1:9");
    fake fk = {500, (const uint8_t *)"oops", 4, 0, 0};
    d.rc.transport = fake_transport;
    d.rc.transport_ctx = &fk;

    /* Undecodable: RELAY with no reason. */
    cr_assert_eq(all_calls(&d, &peer, SECMSG_E_RELAY), N_CALLS);
    cr_assert_eq(d.rc.status, 500);
    cr_assert_str_eq(d.rc.reason, "");

    uint8_t buf[256];
    Secmsg__Relay__Error e = SECMSG__RELAY__ERROR__INIT;
    e.has_code = 1;
    e.code = 503;
    e.reason = (char *)"shutting_down";
    e.message = (char *)"The relay is stopping.";
    fk.status = 503;
    fk.body = buf;
    fk.len = secmsg__relay__error__pack(&e, buf);
    cr_assert_eq(all_calls(&d, &peer, SECMSG_E_RELAY), N_CALLS);
    cr_assert_str_eq(d.rc.reason, "shutting_down");
    cr_assert_str_eq(d.rc.message, "relay refused: shutting_down (503)");

    /* code != status, or a reason that is not a token: not a valid Error. */
    fk.status = 500;
    cr_assert_eq(secmsg__rc_ack(&d.rc, &(uint64_t){1}, 1, &(uint32_t){0}), SECMSG_E_RELAY);
    cr_assert_str_eq(d.rc.reason, "");
    e.code = 500;
    e.reason = (char *)"Bad Reason\n";
    fk.len = secmsg__relay__error__pack(&e, buf);
    cr_assert_eq(secmsg__rc_ack(&d.rc, &(uint64_t){1}, 1, &(uint32_t){0}), SECMSG_E_RELAY);
    cr_assert_str_eq(d.rc.reason, "");

    /* A 401 a fresh token could cure is retried exactly once. */
    e.code = 401;
    e.reason = (char *)"invalid_token";
    fk.status = 401;
    fk.len = secmsg__relay__error__pack(&e, buf);
    fk.calls = fk.token_calls = 0;
    d.rc.bearer[0] = '\0';
    uint32_t deleted;
    int r = secmsg__rc_ack(&d.rc, &(uint64_t){1}, 1, &deleted);
    cr_assert_eq(r, SECMSG_E_RELAY);
    cr_assert_str_eq(d.rc.reason, "invalid_token");
    cr_assert_eq(fk.token_calls, 2, "one token, then one more for the retry");
    cr_assert_eq(fk.calls, 6, "challenge, token, ack; challenge, token, ack");
    /* Other 401s are not retried. */
    e.reason = (char *)"unknown_device";
    fk.len = secmsg__relay__error__pack(&e, buf);
    fk.calls = 0;
    cr_assert_str_eq(d.rc.bearer, "", "the refused token was dropped");
    r = secmsg__rc_ack(&d.rc, &(uint64_t){1}, 1, &deleted);
    cr_assert_eq(r, SECMSG_E_RELAY);
    cr_assert_str_eq(d.rc.reason, "unknown_device");
    cr_assert_eq(fk.calls, 3, "challenge, token, ack: no retry");
    dev_free(&d);
    dev_free(&peer);
}

/* ---- the response decoders on their own ---- */

Test(codec, responses_round_trip_and_refuse_deviations)
{
    uint8_t buf[512], id[32] = {1}, nonce[32] = {2}, tok72[72] = {3};
    size_t n;

    Secmsg__Relay__ChallengeResponse ch = SECMSG__RELAY__CHALLENGE_RESPONSE__INIT;
    ch.has_nonce = ch.has_expires = 1;
    ch.nonce.data = nonce;
    ch.nonce.len = 32;
    ch.expires = 1700000000;
    n = secmsg__relay__challenge_response__pack(&ch, buf);
    Secmsg__Relay__ChallengeResponse *cm = NULL;
    cr_assert_eq(secmsg__relay_decode_challenge_response(&cm, buf, n), SECMSG_OK);
    secmsg__relay__challenge_response__free_unpacked(cm, NULL);
    cr_assert_eq(secmsg__relay_decode_challenge_response(&cm, buf, n - 1), SECMSG_E_MALFORMED);
    cr_assert_null(cm);
    ch.nonce.len = 31;
    n = secmsg__relay__challenge_response__pack(&ch, buf);
    cr_assert_eq(secmsg__relay_decode_challenge_response(&cm, buf, n), SECMSG_E_MALFORMED);
    ch.nonce.len = 32;
    ch.has_expires = 0;
    n = secmsg__relay__challenge_response__pack(&ch, buf);
    cr_assert_eq(secmsg__relay_decode_challenge_response(&cm, buf, n), SECMSG_E_MALFORMED);

    Secmsg__Relay__TokenResponse tk = SECMSG__RELAY__TOKEN_RESPONSE__INIT;
    tk.has_token = tk.has_expires = 1;
    tk.token.data = tok72;
    tk.token.len = 72;
    n = secmsg__relay__token_response__pack(&tk, buf);
    Secmsg__Relay__TokenResponse *tm = NULL;
    cr_assert_eq(secmsg__relay_decode_token_response(&tm, buf, n), SECMSG_OK);
    secmsg__relay__token_response__free_unpacked(tm, NULL);
    tk.token.len = 32;
    n = secmsg__relay__token_response__pack(&tk, buf);
    cr_assert_eq(secmsg__relay_decode_token_response(&tm, buf, n), SECMSG_E_MALFORMED);
    /* Fields out of order (expires before token) are not canonical. */
    tk.token.len = 72;
    n = secmsg__relay__token_response__pack(&tk, buf);
    uint8_t swapped[128];
    size_t tlen = 2 + 72;
    memcpy(swapped, buf + tlen, n - tlen);
    memcpy(swapped + (n - tlen), buf, tlen);
    cr_assert_eq(secmsg__relay_decode_token_response(&tm, swapped, n), SECMSG_E_MALFORMED);

    Secmsg__Relay__RegisterResponse rr = SECMSG__RELAY__REGISTER_RESPONSE__INIT;
    Secmsg__Relay__RegisterResponse *rm = NULL;
    rr.has_device_id = rr.has_role = 1;
    rr.device_id.data = id;
    rr.device_id.len = 32;
    rr.user_id = (char *)"u-1";
    for (uint32_t role = 0; role <= 4; role++) {
        rr.role = role;
        n = secmsg__relay__register_response__pack(&rr, buf);
        int want = role >= 1 && role <= 3 ? SECMSG_OK : SECMSG_E_MALFORMED;
        cr_assert_eq(secmsg__relay_decode_register_response(&rm, buf, n), want, "role %u", role);
        if (rm)
            secmsg__relay__register_response__free_unpacked(rm, NULL);
    }
    rr.role = 1;
    rr.user_id = (char *)"..";
    n = secmsg__relay__register_response__pack(&rr, buf);
    cr_assert_eq(secmsg__relay_decode_register_response(&rm, buf, n), SECMSG_E_MALFORMED);

    /* A fetch: empty, and a delivery missing its sender. */
    Secmsg__Relay__FetchResponse fr = SECMSG__RELAY__FETCH_RESPONSE__INIT;
    Secmsg__Relay__FetchResponse *fm = NULL;
    fr.has_more = 1;
    n = secmsg__relay__fetch_response__pack(&fr, buf);
    cr_assert_eq(secmsg__relay_decode_fetch_response(&fm, buf, n), SECMSG_OK);
    secmsg__relay__fetch_response__free_unpacked(fm, NULL);
    Secmsg__Relay__Delivery dv = SECMSG__RELAY__DELIVERY__INIT, *dvp = &dv;
    uint8_t mid[16] = {4}, content[3] = {5, 6, 7};
    dv.has_id = dv.has_message_id = dv.has_content = dv.has_received = 1;
    dv.message_id.data = mid;
    dv.message_id.len = 16;
    dv.content.data = content;
    dv.content.len = 3;
    fr.n_deliveries = 1;
    fr.deliveries = &dvp;
    n = secmsg__relay__fetch_response__pack(&fr, buf);
    cr_assert_eq(secmsg__relay_decode_fetch_response(&fm, buf, n), SECMSG_E_MALFORMED);
    dv.has_sender = 1;
    dv.sender.data = id;
    dv.sender.len = 32;
    n = secmsg__relay__fetch_response__pack(&fr, buf);
    cr_assert_eq(secmsg__relay_decode_fetch_response(&fm, buf, n), SECMSG_OK);
    secmsg__relay__fetch_response__free_unpacked(fm, NULL);
    Secmsg__Relay__PrekeyStatus ps = SECMSG__RELAY__PREKEY_STATUS__INIT;
    ps.has_one_time_prekeys = 1;
    fr.prekeys = &ps; /* without `low` */
    n = secmsg__relay__fetch_response__pack(&fr, buf);
    cr_assert_eq(secmsg__relay_decode_fetch_response(&fm, buf, n), SECMSG_E_MALFORMED);

    /* Empty device list; Error without a message. */
    Secmsg__Relay__DeviceList dl = SECMSG__RELAY__DEVICE_LIST__INIT;
    Secmsg__Relay__DeviceList *dm = NULL;
    dl.user_id = (char *)"u";
    n = secmsg__relay__device_list__pack(&dl, buf);
    cr_assert_eq(secmsg__relay_decode_device_list(&dm, buf, n), SECMSG_E_MALFORMED);
    Secmsg__Relay__Error er = SECMSG__RELAY__ERROR__INIT;
    Secmsg__Relay__Error *em = NULL;
    er.has_code = 1;
    er.code = 404;
    er.reason = (char *)"no_route";
    n = secmsg__relay__error__pack(&er, buf);
    cr_assert_eq(secmsg__relay_decode_error(&em, buf, n), SECMSG_E_MALFORMED);
    er.message = (char *)"No such path.";
    n = secmsg__relay__error__pack(&er, buf);
    cr_assert_eq(secmsg__relay_decode_error(&em, buf, n), SECMSG_OK);
    secmsg__relay__error__free_unpacked(em, NULL);
    cr_assert_eq(secmsg__relay_decode_error(NULL, buf, n), SECMSG_E_INVALID_ARG);
}
