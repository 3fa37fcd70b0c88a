/* Challenge/token authentication and bearer tokens: unauthenticated,
 * badly signed, forged, stale and replayed credentials are 401. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "itest.h"

TestSuite(auth, .init = it_init_default, .fini = it_fini, .timeout = 120);
TestSuite(auth_stale, .init = it_init_bare, .fini = it_fini, .timeout = 120);

/* A request that needs a device, with the given Authorization header
 * value (NULL: none). */
static long fetch_with(rc_conn *c, const char *authz)
{
    rc_req q = {0};
    q.method = "GET";
    q.path = "/v1/messages";
    q.auth_raw = authz;
    return rc_request(c, &q);
}

static void bearer_of(char *out, size_t cap, const uint8_t *token, size_t len)
{
    char b64[RC_BEARER_MAX];
    sodium_bin2base64(b64, sizeof b64, token, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, cap, "Bearer %s", b64);
}

/* Every authenticated route refuses a request without a credential. */
Test(auth, unauthenticated)
{
    rc_conn c;
    it_conn(&c);
    static const struct {
        const char *method, *path;
        int body;
    } routes[] = {
        {"GET", "/v1/messages", 0},
        {"GET", "/v1/messages?wait=1", 0},
        {"POST", "/v1/messages", 1},
        {"POST", "/v1/messages/ack", 1},
        {"PUT", "/v1/prekeys", 1},
        {"GET", "/v1/prekeys", 0},
        {"POST", "/v1/prekeys/claim", 1},
        {"GET", "/v1/users/someone/devices", 0},
        {"POST", "/v1/invites", 1},
        {"POST", "/v1/blobs", 1},
        {"GET", "/v1/blobs/00112233445566778899aabbccddeeff", 0},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        rc_req q = {0};
        q.method = routes[i].method;
        q.path = routes[i].path;
        q.has_body = routes[i].body;
        q.body = "";
        if (!strcmp(routes[i].path, "/v1/blobs"))
            q.ctype = "application/octet-stream";
        long s = rc_request(&c, &q);
        char what[128];
        snprintf(what, sizeof what, "%s %s without credentials", q.method, q.path);
        it_assert_error(&c, s, 401, "missing_token", what);
    }
    it_assert_healthy();
    rc_conn_free(&c);
}

/* Malformed and forged bearer tokens. */
Test(auth, forged_bearer)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    cr_assert_eq(a.token_len, 72U, "token length (spec: 72 bytes)");
    uint64_t now = (uint64_t)time(NULL);
    cr_assert(a.token_expires >= now + 3590 && a.token_expires <= now + 3601,
              "TokenResponse.expires %llu is not now + token_ttl (3600)",
              (unsigned long long)a.token_expires);
    char h[256];
    snprintf(h, sizeof h, "Bearer %s", a.bearer);
    cr_assert_eq(fetch_with(&c, h), 200, "the genuine token works");

    const char *bad[] = {
        "Bearer", "Bearer ", "Bearer !!!!", "Basic dXNlcjpwYXNz", "bearer-ish",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long s = fetch_with(&c, bad[i]);
        char what[128];
        snprintf(what, sizeof what, "Authorization \"%s\"", bad[i]);
        it_assert_error(&c, s, 401, "malformed_token", what);
    }

    uint8_t t[72];
    /* A flipped bit in each part: device id, expiry, MAC. */
    static const size_t pos[] = {0, 31, 32, 39, 40, 71};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        memcpy(t, a.token, sizeof t);
        t[pos[i]] ^= 0x01;
        bearer_of(h, sizeof h, t, sizeof t);
        long s = fetch_with(&c, h);
        char what[64];
        snprintf(what, sizeof what, "token with byte %zu flipped", pos[i]);
        it_assert_error(&c, s, 401, "invalid_token", what);
    }
    /* B's device id with A's expiry and MAC. */
    memcpy(t, a.token, sizeof t);
    memcpy(t, b.device_id, 32);
    bearer_of(h, sizeof h, t, sizeof t);
    it_assert_error(&c, fetch_with(&c, h), 401, "invalid_token", "A's MAC on B's device id");
    /* A later expiry keeps the MAC: forged. */
    memcpy(t, a.token, sizeof t);
    t[39] = 0x7f;
    bearer_of(h, sizeof h, t, sizeof t);
    it_assert_error(&c, fetch_with(&c, h), 401, "invalid_token", "extended expiry");
    /* Truncated and extended tokens. */
    bearer_of(h, sizeof h, a.token, 71);
    it_assert_error(&c, fetch_with(&c, h), 401, "malformed_token", "71-byte token");
    memcpy(t, a.token, sizeof t);
    uint8_t longer[73];
    memcpy(longer, t, 72);
    longer[72] = 0;
    bearer_of(h, sizeof h, longer, sizeof longer);
    it_assert_error(&c, fetch_with(&c, h), 401, "malformed_token", "73-byte token");
    /* All zeros. */
    memset(t, 0, sizeof t);
    bearer_of(h, sizeof h, t, sizeof t);
    it_assert_error(&c, fetch_with(&c, h), 401, "invalid_token", "all-zero token");
    /* Padded base64url is not the encoding (exactly 96 characters). */
    snprintf(h, sizeof h, "Bearer %s==", a.bearer);
    it_assert_error(&c, fetch_with(&c, h), 401, "malformed_token", "padded token");

    snprintf(h, sizeof h, "Bearer %s", a.bearer);
    cr_assert_eq(fetch_with(&c, h), 200, "the genuine token still works");
    /* The scheme name is case-insensitive. */
    snprintf(h, sizeof h, "bEARER %s", a.bearer);
    cr_assert_eq(fetch_with(&c, h), 200, "scheme \"bEARER\"");
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A token request must be signed by the device's own key over this nonce
 * and device id. */
Test(auth, badly_signed_token_request)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    uint8_t nonce[32], sig[64];

    /* One bit flipped. */
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    sig[63] ^= 0x40;
    long s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "token request with a flipped signature bit");

    /* Signed by B's key, for A. */
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    rc_auth_sig(&b, nonce, sizeof nonce, sig);
    s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "token request signed by another device");

    /* Signed over another nonce. */
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    uint8_t other[32];
    memcpy(other, nonce, sizeof other);
    other[5] ^= 1;
    rc_auth_sig(&a, other, sizeof other, sig);
    s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "signature over another nonce");

    /* A nonce never issued. */
    rc_random(nonce, sizeof nonce);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "unknown_challenge", "a nonce the relay never issued");

    /* A's nonce redeemed by B (correctly signed by B). */
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    rc_auth_sig(&b, nonce, sizeof nonce, sig);
    s = rc_token(&c, &b, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, NULL, "A's nonce redeemed by B");

    /* An unregistered device gets no challenge, and a made-up nonce for it
     * no token. */
    rc_device ghost;
    cr_assert_eq(rc_device_new(&ghost), 0);
    s = rc_challenge(&c, ghost.device_id, nonce, NULL);
    it_assert_error(&c, s, 401, "unknown_device", "challenge for an unregistered device");
    rc_random(nonce, sizeof nonce);
    rc_auth_sig(&ghost, nonce, sizeof nonce, sig);
    s = rc_token(&c, &ghost, nonce, sizeof nonce, sig, sizeof sig);
    cr_assert_eq(s, 401, "token for an unregistered device: %ld", s);
    it_assert_error(&c, s, 401, NULL, "token for an unregistered device");

    /* Wrong lengths are malformed bodies. */
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    s = rc_token(&c, &a, nonce, 31, sig, sizeof sig);
    it_assert_error(&c, s, 400, "malformed_body", "31-byte nonce");
    s = rc_token(&c, &a, nonce, sizeof nonce, sig, 63);
    it_assert_error(&c, s, 400, "malformed_body", "63-byte signature");

    /* And the honest flow still works. */
    cr_assert_eq(rc_auth(&c, &a), 200);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_device_free(&ghost);
    rc_conn_free(&c);
}

/* A nonce is single use: replaying a successful token request, or
 * retrying with a good signature after a bad one, is 401. */
Test(auth, replayed_nonce)
{
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker");
    uint8_t nonce[32], sig[64];
    uint64_t expires = 0, now = (uint64_t)time(NULL);
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, &expires), 200);
    cr_assert(expires >= now + 55 && expires <= now + 61,
              "ChallengeResponse.expires %llu is not now + challenge_ttl (60)",
              (unsigned long long)expires);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    cr_assert_eq(rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig), 200);
    long s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "unknown_challenge", "replayed token request");
    /* On another connection too. */
    rc_conn c2;
    it_conn(&c2);
    s = rc_token(&c2, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c2, s, 401, "unknown_challenge", "replayed token request, other connection");

    /* A failed attempt burns the nonce as well. */
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    sig[0] ^= 1;
    s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "bad signature");
    sig[0] ^= 1;
    s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "unknown_challenge",
                    "good signature after a failed attempt on the nonce");

    /* Concurrent outstanding nonces are independent. */
    uint8_t n1[32], n2[32], s1[64], s2[64];
    cr_assert_eq(rc_challenge(&c, a.device_id, n1, NULL), 200);
    cr_assert_eq(rc_challenge(&c, a.device_id, n2, NULL), 200);
    cr_assert(memcmp(n1, n2, 32) != 0, "two challenges gave the same nonce");
    rc_auth_sig(&a, n2, sizeof n2, s2);
    rc_auth_sig(&a, n1, sizeof n1, s1);
    cr_assert_eq(rc_token(&c, &a, n2, sizeof n2, s2, sizeof s2), 200);
    cr_assert_eq(rc_token(&c, &a, n1, sizeof n1, s1, sizeof s1), 200);
    rc_device_free(&a);
    rc_conn_free(&c);
    rc_conn_free(&c2);
}

/* With a 3-second token lifetime: the token works at first, and once its
 * expiry (relay clock, unix seconds) has passed it is 401 token_expired. */
Test(auth_stale, stale_token)
{
    static const char *const flags[] = {"--token-ttl", "3", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker");
    cr_assert_neq(a.token_expires, 0, "TokenResponse.expires");
    time_t now = time(NULL);
    cr_assert((uint64_t)now <= a.token_expires && a.token_expires <= (uint64_t)now + 4,
              "expires %llu is not about now + 3 (%lld)", (unsigned long long)a.token_expires,
              (long long)now);
    rc_fetched f;
    long s = rc_fetch(&c, &a, 0, &f);
    cr_assert_eq(s, 200, "fresh token: %ld", s);
    rc_fetched_free(&f);

    /* Wait (bounded) until the wall clock is past the expiry. */
    double end = rc_now() + 15.0;
    while ((uint64_t)time(NULL) <= a.token_expires + 1 && rc_now() < end)
        rc_sleep(0.1);
    cr_assert((uint64_t)time(NULL) > a.token_expires + 1, "the clock did not pass the expiry");
    s = rc_fetch(&c, &a, 0, &f);
    it_assert_error(&c, s, 401, "token_expired", "stale token");

    /* Re-authenticating gives a working token again. */
    cr_assert_eq(rc_auth(&c, &a), 200);
    s = rc_fetch(&c, &a, 0, &f);
    cr_assert_eq(s, 200, "new token: %ld", s);
    rc_fetched_free(&f);
    rc_device_free(&a);
    rc_conn_free(&c);
}

/* A nonce past its lifetime (--challenge-ttl 1) is 401 challenge_expired. */
Test(auth_stale, stale_challenge)
{
    static const char *const flags[] = {"--challenge-ttl", "1", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker");
    uint8_t nonce[32], sig[64];
    uint64_t expires = 0;
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, &expires), 200);
    cr_assert_neq(expires, 0, "ChallengeResponse.expires");
    double end = rc_now() + 15.0;
    while ((uint64_t)time(NULL) <= expires + 1 && rc_now() < end)
        rc_sleep(0.1);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    long s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "challenge_expired", "stale nonce");
    rc_device_free(&a);
    rc_conn_free(&c);
}

/* A restart forgets outstanding nonces, but keeps tokens valid. */
Test(auth_stale, restart_forgets_nonces)
{
    it_start(NULL);
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker");
    uint8_t nonce[32], sig[64];
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200);
    rc_conn_free(&c);
    it_restart();
    it_conn(&c);
    rc_auth_sig(&a, nonce, sizeof nonce, sig);
    long s = rc_token(&c, &a, nonce, sizeof nonce, sig, sizeof sig);
    it_assert_error(&c, s, 401, "unknown_challenge", "a nonce from before the restart");
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &a, 0, &f), 200, "the token from before the restart");
    rc_fetched_free(&f);
    rc_device_free(&a);
    rc_conn_free(&c);
}

/* A token minted by another relay (another token key) for a device that
 * is registered on both is 401 invalid_token. */
Test(auth_stale, token_of_another_relay)
{
    it_start(NULL);
    const char *err = "";
    cr_assert_eq(rc_relay_start(&it_relay2, rc_relay_bin(), NULL, &err), 0, "%s", err);
    rc_conn c1, c2;
    it_conn(&c1);
    cr_assert_eq(rc_conn_init(&c2, it_relay2.url), 0);
    rc_device a;
    it_device(&c1, &a, "caseworker");
    uint8_t token[32];
    cr_assert_eq(rc_admin_token(&it_relay2, "caseworker", a.user_id, 0, token), 0);
    cr_assert_eq(rc_register(&c2, &a, token), 200, "the same device on the second relay");
    char h[200];
    snprintf(h, sizeof h, "Bearer %s", a.bearer);
    it_assert_error(&c2, fetch_with(&c2, h), 401, "invalid_token", "relay 1's token on relay 2");
    cr_assert_eq(rc_auth(&c2, &a), 200);
    snprintf(h, sizeof h, "Bearer %s", a.bearer);
    it_assert_error(&c1, fetch_with(&c1, h), 401, "invalid_token", "relay 2's token on relay 1");
    rc_device_free(&a);
    rc_conn_free(&c1);
    rc_conn_free(&c2);
}
