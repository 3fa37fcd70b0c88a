/*
 * The client side of the relay API (spec/relay-api.md): see relay_client.h.
 *
 * Every call: build the request body, make sure of a bearer token when the
 * endpoint needs one, make the request through rc->transport, and decode a
 * 2xx body strictly (wire/relay_client_codec.c) or a non-2xx Error body
 * into rc->status / rc->reason. Nothing the relay sends is trusted before
 * it was decoded: lengths, ids and counts are checked against what was
 * asked for.
 */
#include "client/relay_client.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay.pb-c.h"
#include "secmsg.pb-c.h"
#include "wire/codec.h"
#include "wire/relay_client_codec.h"
#include "wire/relay_codec.h"

_Static_assert(SECMSG__RC_RESP_MAX == SECMSG__RELAY_RESPONSE_MAX, "response bound");

#define CT_PROTO "application/x-protobuf"
#define REGISTER_LABEL "secmsg relay register v1"
#define AUTH_LABEL "secmsg relay auth v1"
#define BEARER_PREFIX "Bearer "
#define TIMEOUT_MS 30000U
/* A long poll is answered after at most wait_s; the margin covers the
 * round trip and a relay busy committing. */
#define LONGPOLL_MARGIN_MS 15000U
/* The relay's longpoll_max_wait is at most 3600 s (spec 8). */
#define WAIT_MAX_S 3600U
/* A cached token is renewed when it expires within this many seconds. */
#define REFRESH_MARGIN_S 60U
/* Largest counts one request may carry (the relay's configurable maxima). */
#define OTKS_MAX 1000U
#define ACKS_MAX 100000U
#define RECIPIENTS_MAX 100000U
#define SEND_BODY_MAX ((size_t)64U * 1024U * 1024U)
#define URL_MAX (sizeof(((secmsg__relay_client *)0)->base_url) + 128U)
#define IDENTITY_SLOT 160U

/* ---- results ---- */

static void reset_result(secmsg__relay_client *rc)
{
    rc->status = 0;
    rc->reason[0] = '\0';
    rc->message[0] = '\0';
}

/* rc->message: one sentence, built only from static text, reasons and numbers. */
__attribute__((format(printf, 3, 4))) static int fail(secmsg__relay_client *rc, int err,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rc->message, sizeof rc->message, fmt, ap);
    va_end(ap);
    return err;
}

static int malformed(secmsg__relay_client *rc, const char *what)
{
    return fail(rc, SECMSG_E_MALFORMED, "the relay's answer to %s does not follow the relay API",
                what);
}

/* ---- buffers ---- */

/* Packs m into a fresh heap buffer of exactly its size. */
static int pack_alloc(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        return SECMSG_E_NOMEM;
    protobuf_c_message_pack(m, p);
    *out = p;
    *len = n;
    return SECMSG_OK;
}

/* Request bodies may hold credentials (enrollment tokens, signatures). */
static void wipe_free(uint8_t *p, size_t len)
{
    if (p != NULL) {
        sodium_memzero(p, len);
        free(p);
    }
}

static uint64_t now_s(void)
{
    time_t t = time(NULL);
    return t > 0 ? (uint64_t)t : 0;
}

/* ---- one HTTP exchange ---- */

/*
 * One request through the transport. On a response: SECMSG_OK with
 * rc->status set and the body in rc->resp[0..*resp_len). NETWORK if none.
 */
static int exchange(secmsg__relay_client *rc, const char *method, const char *path,
                    const char *authorization, const uint8_t *body, size_t body_len,
                    uint32_t timeout_ms, size_t *resp_len)
{
    char url[URL_MAX];
    int n = snprintf(url, sizeof url, "%s%s", rc->base_url, path);
    if (n < 0 || (size_t)n >= sizeof url)
        return fail(rc, SECMSG_E_INVALID_ARG, "the relay URL is too long");
    secmsg_http_request req;
    req.method = method;
    req.url = url;
    req.authorization = authorization;
    req.content_type = body != NULL ? CT_PROTO : NULL;
    req.body = body;
    req.body_len = body != NULL ? body_len : 0;
    req.timeout_ms = timeout_ms;
    int status = 0;
    size_t got = 0;
    rc->status = 0;
    rc->reason[0] = '\0';
    int r = rc->transport(rc->transport_ctx, &req, &status, rc->resp, SECMSG__RC_RESP_MAX, &got);
    if (r != 0 || status < 100 || status > 599 || got > SECMSG__RC_RESP_MAX) {
        *resp_len = 0;
        return fail(rc, SECMSG_E_NETWORK,
                    "the relay could not be reached (no answer, a timeout or a TLS failure)");
    }
    rc->status = status;
    *resp_len = got;
    return SECMSG_OK;
}

/*
 * A non-2xx answer: its Error body gives the reason (when it decodes and
 * its code is the status); otherwise the reason stays "". Always RELAY.
 */
static int relay_error(secmsg__relay_client *rc, size_t resp_len)
{
    Secmsg__Relay__Error *e = NULL;
    if (secmsg__relay_decode_error(&e, rc->resp, resp_len) == SECMSG_OK &&
        e->code == (uint32_t)rc->status) {
        snprintf(rc->reason, sizeof rc->reason, "%s", e->reason);
        fail(rc, 0, "relay refused: %s (%d)", rc->reason, rc->status);
    } else {
        rc->reason[0] = '\0';
        fail(rc, 0, "relay refused the request (%d) without a valid error body", rc->status);
    }
    if (e != NULL)
        secmsg__relay__error__free_unpacked(e, NULL);
    return SECMSG_E_RELAY;
}

static int is_2xx(int status)
{
    return status >= 200 && status <= 299;
}

/* An unauthenticated request; OK only for a 2xx, body in rc->resp. */
static int call_anon(secmsg__relay_client *rc, const char *method, const char *path,
                     const ProtobufCMessage *body, size_t *resp_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = pack_alloc(body, &buf, &len);
    if (r != SECMSG_OK)
        return fail(rc, r, "out of memory");
    r = exchange(rc, method, path, NULL, buf, len, TIMEOUT_MS, resp_len);
    wipe_free(buf, len);
    if (r == SECMSG_OK && !is_2xx(rc->status))
        r = relay_error(rc, *resp_len);
    return r;
}

/* ---- authentication (spec 4) ---- */

static void drop_bearer(secmsg__relay_client *rc)
{
    sodium_memzero(rc->bearer, sizeof rc->bearer);
    rc->bearer_expires = 0;
}

static int sign_with_device(secmsg__relay_client *rc, uint8_t sig[SECMSG__SIG_BYTES],
                            const uint8_t *msg, size_t len)
{
    int r = rc->sign(rc->sign_ctx, sig, msg, len);
    if (r != 0) {
        sodium_memzero(sig, SECMSG__SIG_BYTES);
        return fail(rc, r < 0 ? r : SECMSG_E_CRYPTO, "signing with the device key failed");
    }
    return SECMSG_OK;
}

/* Challenge, sign, token: a fresh bearer token in rc->bearer. */
static int authenticate(secmsg__relay_client *rc)
{
    Secmsg__Relay__ChallengeResponse *ch = NULL;
    Secmsg__Relay__TokenResponse *tok = NULL;
    uint8_t msg[sizeof AUTH_LABEL - 1 + SECMSG__RELAY_NONCE_BYTES + SECMSG__RELAY_ID_BYTES];
    uint8_t sig[SECMSG__SIG_BYTES];
    size_t resp_len = 0;
    int r;

    drop_bearer(rc);
    Secmsg__Relay__ChallengeRequest creq = SECMSG__RELAY__CHALLENGE_REQUEST__INIT;
    creq.has_device_id = 1;
    creq.device_id = secmsg__bytes(rc->device_id, SECMSG__RELAY_ID_BYTES);
    r = call_anon(rc, "POST", "/v1/auth/challenge", &creq.base, &resp_len);
    if (r != SECMSG_OK)
        goto out;
    if (secmsg__relay_decode_challenge_response(&ch, rc->resp, resp_len) != SECMSG_OK) {
        r = malformed(rc, "an authentication challenge");
        goto out;
    }

    memcpy(msg, AUTH_LABEL, sizeof AUTH_LABEL - 1);
    memcpy(msg + sizeof AUTH_LABEL - 1, ch->nonce.data, SECMSG__RELAY_NONCE_BYTES);
    memcpy(msg + sizeof AUTH_LABEL - 1 + SECMSG__RELAY_NONCE_BYTES, rc->device_id,
           SECMSG__RELAY_ID_BYTES);
    r = sign_with_device(rc, sig, msg, sizeof msg);
    if (r != SECMSG_OK)
        goto out;

    Secmsg__Relay__TokenRequest treq = SECMSG__RELAY__TOKEN_REQUEST__INIT;
    treq.has_device_id = treq.has_nonce = treq.has_sig = 1;
    treq.device_id = secmsg__bytes(rc->device_id, SECMSG__RELAY_ID_BYTES);
    treq.nonce = ch->nonce;
    treq.sig = secmsg__bytes(sig, sizeof sig);
    r = call_anon(rc, "POST", "/v1/auth/token", &treq.base, &resp_len);
    if (r != SECMSG_OK)
        goto out;
    r = secmsg__relay_decode_token_response(&tok, rc->resp, resp_len);
    sodium_memzero(rc->resp, resp_len);
    if (r != SECMSG_OK) {
        r = malformed(rc, "a token request");
        goto out;
    }
    /* "Bearer " + 96 characters of unpadded base64url (spec 2). */
    _Static_assert(sizeof BEARER_PREFIX - 1 +
                           sodium_base64_ENCODED_LEN(SECMSG__RELAY_BEARER_BYTES,
                                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING) <=
                       sizeof rc->bearer,
                   "bearer buffer");
    memcpy(rc->bearer, BEARER_PREFIX, sizeof BEARER_PREFIX - 1);
    sodium_bin2base64(rc->bearer + sizeof BEARER_PREFIX - 1,
                      sizeof rc->bearer - (sizeof BEARER_PREFIX - 1), tok->token.data,
                      tok->token.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    rc->bearer_expires = tok->expires;
    r = SECMSG_OK;
out:
    if (tok != NULL) {
        sodium_memzero(tok->token.data, tok->token.len);
        secmsg__relay__token_response__free_unpacked(tok, NULL);
    }
    if (ch != NULL)
        secmsg__relay__challenge_response__free_unpacked(ch, NULL);
    sodium_memzero(sig, sizeof sig);
    sodium_memzero(msg, sizeof msg);
    return r;
}

/* The cached token if it is good for another REFRESH_MARGIN_S, else a new one. */
static int ensure_token(secmsg__relay_client *rc)
{
    if (rc->bearer[0] != '\0' && rc->bearer_expires > now_s() + REFRESH_MARGIN_S)
        return SECMSG_OK;
    return authenticate(rc);
}

/* 401 reasons a fresh token can cure (the relay's clock or key moved on). */
static int token_refusal(const secmsg__relay_client *rc)
{
    static const char *const reasons[] = {"invalid_token", "token_expired", "malformed_token",
                                          "missing_token"};
    if (rc->status != 401)
        return 0;
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(rc->reason, reasons[i]) == 0)
            return 1;
    return 0;
}

/*
 * An authenticated request (body may be NULL for GET). OK only for a 2xx,
 * body in rc->resp[0..*resp_len). A 401 that a fresh token can cure is
 * retried once with one.
 */
static int call_auth_raw(secmsg__relay_client *rc, const char *method, const char *path,
                         const uint8_t *body, size_t body_len, uint32_t timeout_ms,
                         size_t *resp_len)
{
    int r = SECMSG_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        r = ensure_token(rc);
        if (r != SECMSG_OK)
            return r;
        r = exchange(rc, method, path, rc->bearer, body, body_len, timeout_ms, resp_len);
        if (r != SECMSG_OK)
            return r;
        if (is_2xx(rc->status))
            return SECMSG_OK;
        r = relay_error(rc, *resp_len);
        if (!token_refusal(rc))
            return r;
        drop_bearer(rc);
    }
    return r;
}

static int call_auth(secmsg__relay_client *rc, const char *method, const char *path,
                     const ProtobufCMessage *body, uint32_t timeout_ms, size_t *resp_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (body != NULL) {
        int r = pack_alloc(body, &buf, &len);
        if (r != SECMSG_OK)
            return fail(rc, r, "out of memory");
    }
    int r = call_auth_raw(rc, method, path, buf, len, timeout_ms, resp_len);
    wipe_free(buf, len);
    return r;
}

/* ---- set-up ---- */

static int url_ok(const char *s, size_t len)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20U || (unsigned char)s[i] >= 0x7fU || s[i] == '?' ||
            s[i] == '#')
            return 0;
    return 1;
}

int secmsg__rc_init(secmsg__relay_client *rc, const char *base_url, const uint8_t device_id[32],
                    secmsg__sign_fn sign, void *sign_ctx)
{
    if (rc == NULL)
        return SECMSG_E_INVALID_ARG;
    memset(rc, 0, sizeof *rc);
    if (base_url == NULL || device_id == NULL || sign == NULL)
        return SECMSG_E_INVALID_ARG;
    size_t len = strlen(base_url);
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    if (len >= sizeof rc->base_url || !url_ok(base_url, len) ||
        len <= (strncmp(base_url, "https://", 8) == 0 ? 8U : 7U))
        return SECMSG_E_INVALID_ARG;
    rc->resp = malloc(SECMSG__RC_RESP_MAX);
    if (rc->resp == NULL)
        return SECMSG_E_NOMEM;
    int r = secmsg__curl_ctx_new(&rc->curl);
    if (r != SECMSG_OK) {
        free(rc->resp);
        memset(rc, 0, sizeof *rc);
        return r;
    }
    memcpy(rc->base_url, base_url, len);
    rc->base_url[len] = '\0';
    memcpy(rc->device_id, device_id, sizeof rc->device_id);
    rc->transport = secmsg__transport_curl;
    rc->transport_ctx = rc->curl;
    rc->sign = sign;
    rc->sign_ctx = sign_ctx;
    return SECMSG_OK;
}

void secmsg__rc_free(secmsg__relay_client *rc)
{
    if (rc == NULL)
        return;
    if (rc->resp != NULL) {
        sodium_memzero(rc->resp, SECMSG__RC_RESP_MAX);
        free(rc->resp);
    }
    secmsg__curl_ctx_free(rc->curl);
    sodium_memzero(rc, sizeof *rc);
}

/* ---- endpoints ---- */

/* The identity's Ed25519 key: what the relay will call this device. */
static int identity_sign_pub(const uint8_t *identity, size_t len, uint8_t out[32])
{
    secmsg__arena a;
    Secmsg__Wire__IdentityPublic *m = NULL;
    secmsg__arena_init(&a);
    int r = secmsg__wire_decode_identity_public(&m, identity, len, &a.alloc);
    if (r == SECMSG_OK)
        memcpy(out, m->sign_pub.data, SECMSG__KEY_BYTES);
    if (m != NULL)
        secmsg__wire__identity_public__free_unpacked(m, &a.alloc);
    secmsg__arena_wipe(&a);
    return r;
}

int secmsg__rc_register(secmsg__relay_client *rc, const uint8_t token[32], const uint8_t *identity,
                        size_t identity_len, char *user_id, size_t user_id_cap, int *role)
{
    Secmsg__Relay__RegisterResponse *m = NULL;
    uint8_t *msg = NULL;
    size_t msg_len = 0, resp_len = 0;
    uint8_t sig[SECMSG__SIG_BYTES], key[SECMSG__KEY_BYTES];
    int r;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (token == NULL || identity == NULL || user_id == NULL ||
        user_id_cap < SECMSG__RELAY_USER_ID_MAX + 1U || role == NULL)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to relay registration");
    /* The relay registers the identity's key as the device id; it must be
     * the one this client authenticates with. */
    if (identity_sign_pub(identity, identity_len, key) != SECMSG_OK ||
        memcmp(key, rc->device_id, sizeof key) != 0)
        return fail(rc, SECMSG_E_INVALID_ARG, "the identity is not this device's");

    /* sig = Ed25519("secmsg relay register v1" || token || identity) (spec 5.1) */
    msg_len = sizeof REGISTER_LABEL - 1 + SECMSG__RELAY_TOKEN_BYTES + identity_len;
    msg = malloc(msg_len);
    if (msg == NULL) {
        r = fail(rc, SECMSG_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(msg, REGISTER_LABEL, sizeof REGISTER_LABEL - 1);
    memcpy(msg + sizeof REGISTER_LABEL - 1, token, SECMSG__RELAY_TOKEN_BYTES);
    memcpy(msg + sizeof REGISTER_LABEL - 1 + SECMSG__RELAY_TOKEN_BYTES, identity, identity_len);
    r = sign_with_device(rc, sig, msg, msg_len);
    if (r != SECMSG_OK)
        goto out;

    Secmsg__Relay__RegisterRequest req = SECMSG__RELAY__REGISTER_REQUEST__INIT;
    req.has_token = req.has_identity = req.has_sig = 1;
    req.token = secmsg__bytes(token, SECMSG__RELAY_TOKEN_BYTES);
    req.identity = secmsg__bytes(identity, identity_len);
    req.sig = secmsg__bytes(sig, sizeof sig);
    r = call_anon(rc, "POST", "/v1/register", &req.base, &resp_len);
    if (r != SECMSG_OK)
        goto out;
    if (secmsg__relay_decode_register_response(&m, rc->resp, resp_len) != SECMSG_OK ||
        memcmp(m->device_id.data, rc->device_id, SECMSG__RELAY_ID_BYTES) != 0) {
        r = malformed(rc, "a registration");
        goto out;
    }
    snprintf(user_id, user_id_cap, "%s", m->user_id);
    *role = (int)m->role;
    r = SECMSG_OK;
out:
    if (m != NULL)
        secmsg__relay__register_response__free_unpacked(m, NULL);
    wipe_free(msg, msg_len);
    sodium_memzero(sig, sizeof sig);
    return r;
}

int secmsg__rc_invite(secmsg__relay_client *rc, const char *citizen_user_id, uint32_t ttl_seconds,
                      uint8_t token[32], uint64_t *expires)
{
    Secmsg__Relay__InviteResponse *m = NULL;
    size_t resp_len = 0;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (!secmsg__relay_user_id_valid(citizen_user_id) || token == NULL || expires == NULL)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to an invite request");

    Secmsg__Relay__InviteRequest req = SECMSG__RELAY__INVITE_REQUEST__INIT;
    req.user_id = (char *)(uintptr_t)citizen_user_id; /* packing only reads it */
    /* 0: the relay's default lifetime (an absent field, spec 5.4). */
    req.has_ttl_seconds = ttl_seconds != 0;
    req.ttl_seconds = ttl_seconds;
    int r = call_auth(rc, "POST", "/v1/invites", &req.base, TIMEOUT_MS, &resp_len);
    if (r != SECMSG_OK)
        return r;
    r = secmsg__relay_decode_invite_response(&m, rc->resp, resp_len);
    sodium_memzero(rc->resp, resp_len);
    if (r != SECMSG_OK)
        return malformed(rc, "an invite request");
    memcpy(token, m->token.data, SECMSG__RELAY_TOKEN_BYTES);
    *expires = m->expires;
    sodium_memzero(m->token.data, m->token.len);
    secmsg__relay__invite_response__free_unpacked(m, NULL);
    return SECMSG_OK;
}

int secmsg__rc_prekeys_upload(secmsg__relay_client *rc, const uint8_t *signed_prekey,
                              size_t spk_len, const secmsg__rc_otk *otks, size_t n, uint32_t *count,
                              int *low)
{
    Secmsg__Relay__OneTimePrekeyPublic *k = NULL, **kp = NULL;
    Secmsg__Relay__PrekeyStatus *st = NULL;
    size_t resp_len = 0;
    int r;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if ((signed_prekey == NULL) != (spk_len == 0) || spk_len > SECMSG__MAX_BUNDLE_BYTES ||
        (otks == NULL && n > 0) || n > OTKS_MAX || (signed_prekey == NULL && n == 0) ||
        count == NULL || low == NULL)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to a prekey upload");
    for (size_t i = 0; i < n; i++)
        if (otks[i].id == 0)
            return fail(rc, SECMSG_E_INVALID_ARG, "a one-time prekey id is 0");

    k = calloc(n > 0 ? n : 1, sizeof *k);
    kp = calloc(n > 0 ? n : 1, sizeof *kp);
    if (k == NULL || kp == NULL) {
        r = fail(rc, SECMSG_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        secmsg__relay__one_time_prekey_public__init(&k[i]);
        k[i].has_id = k[i].has_pub = 1;
        k[i].id = otks[i].id;
        k[i].pub = secmsg__bytes(otks[i].pub, sizeof otks[i].pub);
        kp[i] = &k[i];
    }
    Secmsg__Relay__PrekeyUpload req = SECMSG__RELAY__PREKEY_UPLOAD__INIT;
    req.has_signed_prekey = signed_prekey != NULL;
    req.signed_prekey = secmsg__bytes(signed_prekey, spk_len);
    req.n_one_time_prekeys = n;
    req.one_time_prekeys = kp;
    r = call_auth(rc, "PUT", "/v1/prekeys", &req.base, TIMEOUT_MS, &resp_len);
    if (r != SECMSG_OK)
        goto out;
    if (secmsg__relay_decode_prekey_status(&st, rc->resp, resp_len) != SECMSG_OK) {
        r = malformed(rc, "a prekey upload");
        goto out;
    }
    *count = st->one_time_prekeys;
    *low = st->low ? 1 : 0;
    r = SECMSG_OK;
out:
    if (st != NULL)
        secmsg__relay__prekey_status__free_unpacked(st, NULL);
    free(kp);
    free(k);
    return r;
}

/* A bundle that decodes canonically and belongs to the device asked for. */
static int bundle_ok(const uint8_t *b, size_t len, const uint8_t device_id[32])
{
    secmsg__arena a;
    Secmsg__Wire__PrekeyBundle *m = NULL;
    secmsg__arena_init(&a);
    int ok = secmsg__wire_decode_bundle(&m, b, len, &a.alloc) == SECMSG_OK &&
             memcmp(m->identity->sign_pub.data, device_id, SECMSG__KEY_BYTES) == 0;
    if (m != NULL)
        secmsg__wire__prekey_bundle__free_unpacked(m, &a.alloc);
    secmsg__arena_wipe(&a);
    return ok;
}

int secmsg__rc_claim(secmsg__relay_client *rc, const uint8_t device_id[32], uint8_t *bundle,
                     size_t cap, size_t *len)
{
    size_t resp_len = 0;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    /* A claim consumes a one-time prekey, so the buffer must hold any
     * bundle before the request is made. */
    if (device_id == NULL || bundle == NULL || cap < SECMSG__MAX_BUNDLE_BYTES || len == NULL)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to a prekey claim");

    Secmsg__Relay__ClaimRequest req = SECMSG__RELAY__CLAIM_REQUEST__INIT;
    req.has_device_id = 1;
    req.device_id = secmsg__bytes(device_id, SECMSG__RELAY_ID_BYTES);
    int r = call_auth(rc, "POST", "/v1/prekeys/claim", &req.base, TIMEOUT_MS, &resp_len);
    if (r != SECMSG_OK)
        return r;
    if (!bundle_ok(rc->resp, resp_len, device_id))
        return malformed(rc, "a prekey claim");
    memcpy(bundle, rc->resp, resp_len);
    *len = resp_len;
    return SECMSG_OK;
}

int secmsg__rc_devices(secmsg__relay_client *rc, const char *user_id, uint8_t (*ids)[160],
                       size_t *lens, size_t max, size_t *n)
{
    Secmsg__Relay__DeviceList *m = NULL;
    char path[32 + SECMSG__RELAY_USER_ID_MAX];
    size_t resp_len = 0;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (!secmsg__relay_user_id_valid(user_id) || n == NULL ||
        (max > 0 && (ids == NULL || lens == NULL)))
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to a device list request");
    /* A valid user id is its own URL path segment ([A-Za-z0-9._-], not . or ..). */
    snprintf(path, sizeof path, "/v1/users/%s/devices", user_id);
    int r = call_auth(rc, "GET", path, NULL, TIMEOUT_MS, &resp_len);
    if (r != SECMSG_OK)
        return r;
    if (secmsg__relay_decode_device_list(&m, rc->resp, resp_len) != SECMSG_OK ||
        strcmp(m->user_id, user_id) != 0) {
        r = malformed(rc, "a device list request");
        goto out;
    }
    for (size_t i = 0; i < m->n_devices; i++)
        if (m->devices[i].len > IDENTITY_SLOT) {
            r = malformed(rc, "a device list request");
            goto out;
        }
    *n = m->n_devices;
    if (m->n_devices > max) {
        r = fail(rc, SECMSG_E_BUFFER_TOO_SMALL, "the user has more devices than room for them");
        goto out;
    }
    for (size_t i = 0; i < m->n_devices; i++) {
        memcpy(ids[i], m->devices[i].data, m->devices[i].len);
        lens[i] = m->devices[i].len;
    }
    r = SECMSG_OK;
out:
    if (m != NULL)
        secmsg__relay__device_list__free_unpacked(m, NULL);
    return r;
}

int secmsg__rc_encode_envelope(const uint8_t id[16], const uint8_t (*recipients)[32], size_t n,
                               const uint8_t *content, size_t content_len, uint8_t **out,
                               size_t *out_len)
{
    if (out == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    *out_len = 0;
    if (id == NULL || recipients == NULL || n == 0 || n > RECIPIENTS_MAX || content == NULL ||
        content_len == 0 || content_len > SEND_BODY_MAX)
        return SECMSG_E_INVALID_ARG;
    ProtobufCBinaryData *r = calloc(n, sizeof *r);
    if (r == NULL)
        return SECMSG_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        r[i] = secmsg__bytes(recipients[i], SECMSG__RELAY_ID_BYTES);
    Secmsg__Relay__Envelope e = SECMSG__RELAY__ENVELOPE__INIT;
    e.has_message_id = e.has_content = 1;
    e.message_id = secmsg__bytes(id, SECMSG__RELAY_MSGID_BYTES);
    e.n_recipients = n;
    e.recipients = r;
    e.content = secmsg__bytes(content, content_len);
    int rc = pack_alloc(&e.base, out, out_len);
    free(r);
    return rc;
}

int secmsg__rc_send_envelope(secmsg__relay_client *rc, const uint8_t *env, size_t len)
{
    Secmsg__Relay__SendResponse *m = NULL;
    size_t resp_len = 0;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (env == NULL || len == 0 || len > SEND_BODY_MAX)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to a send request");
    /* SendRequest{envelopes = [env]}: field 1, length-delimited, wrapped
     * around the stored bytes as they are (no re-encoding). */
    size_t hdr = 1 + secmsg__varint_len(len);
    uint8_t *body = malloc(hdr + len);
    if (body == NULL)
        return fail(rc, SECMSG_E_NOMEM, "out of memory");
    body[0] = 0x0a;
    secmsg__varint_put(body + 1, len);
    memcpy(body + hdr, env, len);
    int r = call_auth_raw(rc, "POST", "/v1/messages", body, hdr + len, TIMEOUT_MS, &resp_len);
    free(body);
    if (r != SECMSG_OK)
        return r;
    /* Every envelope has at least one recipient, so at least one copy is stored. */
    if (secmsg__relay_decode_send_response(&m, rc->resp, resp_len) != SECMSG_OK || m->stored == 0) {
        r = malformed(rc, "a send request");
    }
    if (m != NULL)
        secmsg__relay__send_response__free_unpacked(m, NULL);
    return r;
}

/* Decodes the FetchResponse in rc->resp into f (pointers into the unpacked message). */
static int fetch_result(secmsg__relay_client *rc, size_t resp_len, secmsg__rc_batch *f)
{
    Secmsg__Relay__FetchResponse *m = NULL;
    if (secmsg__relay_decode_fetch_response(&m, rc->resp, resp_len) != SECMSG_OK)
        return malformed(rc, "a fetch request");
    if (m->n_deliveries > 0) {
        f->d = calloc(m->n_deliveries, sizeof *f->d);
        if (f->d == NULL) {
            secmsg__relay__fetch_response__free_unpacked(m, NULL);
            return fail(rc, SECMSG_E_NOMEM, "out of memory");
        }
    }
    /* protobuf-c copied the bytes into m: valid until fetch_done, whatever
     * else happens on rc meanwhile. */
    for (size_t i = 0; i < m->n_deliveries; i++) {
        const Secmsg__Relay__Delivery *d = m->deliveries[i];
        f->d[i].id = d->id;
        f->d[i].sender = d->sender.data;
        f->d[i].message_id = d->message_id.data;
        f->d[i].content = d->content.data;
        f->d[i].content_len = d->content.len;
        f->d[i].received = d->received;
    }
    f->n = m->n_deliveries;
    f->more = m->more ? 1 : 0;
    if (m->prekeys != NULL) {
        f->prekeys_known = 1;
        f->prekeys = m->prekeys->one_time_prekeys;
        f->prekeys_low = m->prekeys->low ? 1 : 0;
    }
    f->priv = m;
    return SECMSG_OK;
}

int secmsg__rc_fetch(secmsg__relay_client *rc, uint32_t wait_s, secmsg__rc_batch *f)
{
    char path[48];
    size_t resp_len = 0;

    if (f != NULL)
        memset(f, 0, sizeof *f);
    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (f == NULL || wait_s > WAIT_MAX_S)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to a fetch request");
    if (wait_s > 0)
        snprintf(path, sizeof path, "/v1/messages?wait=%u", (unsigned)wait_s);
    else
        snprintf(path, sizeof path, "/v1/messages");
    int r = call_auth(rc, "GET", path, NULL, wait_s * 1000U + LONGPOLL_MARGIN_MS, &resp_len);
    if (r != SECMSG_OK)
        return r;
    return fetch_result(rc, resp_len, f);
}

int secmsg__rc_fetch_ack(secmsg__relay_client *rc, const uint64_t *ack_ids, size_t n_acks,
                         uint32_t wait_s, secmsg__rc_batch *f)
{
    size_t resp_len = 0;

    if (f != NULL)
        memset(f, 0, sizeof *f);
    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (f == NULL || wait_s > WAIT_MAX_S || (ack_ids == NULL && n_acks > 0) || n_acks > ACKS_MAX)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to a fetch request");
    /* Canonical: ack_ids unpacked, then wait; both absent is the empty body. */
    Secmsg__Relay__FetchRequest req = SECMSG__RELAY__FETCH_REQUEST__INIT;
    req.n_ack_ids = n_acks;
    req.ack_ids = (uint64_t *)(uintptr_t)ack_ids; /* packing only reads them */
    req.has_wait = wait_s != 0;
    req.wait = wait_s;
    int r = call_auth(rc, "POST", "/v1/messages/fetch", &req.base,
                      wait_s * 1000U + LONGPOLL_MARGIN_MS, &resp_len);
    if (r != SECMSG_OK)
        return r;
    return fetch_result(rc, resp_len, f);
}

void secmsg__rc_fetch_done(secmsg__rc_batch *f)
{
    if (f == NULL)
        return;
    free(f->d);
    if (f->priv != NULL)
        secmsg__relay__fetch_response__free_unpacked(f->priv, NULL);
    memset(f, 0, sizeof *f);
}

int secmsg__rc_ack(secmsg__relay_client *rc, const uint64_t *ids, size_t n, uint32_t *deleted)
{
    Secmsg__Relay__AckResponse *m = NULL;
    size_t resp_len = 0;

    if (rc == NULL || rc->resp == NULL)
        return SECMSG_E_INVALID_ARG;
    reset_result(rc);
    if (ids == NULL || n == 0 || n > ACKS_MAX || deleted == NULL)
        return fail(rc, SECMSG_E_INVALID_ARG, "invalid argument to an ack request");
    Secmsg__Relay__AckRequest req = SECMSG__RELAY__ACK_REQUEST__INIT;
    req.n_ids = n;
    req.ids = (uint64_t *)(uintptr_t)ids; /* packing only reads them */
    int r = call_auth(rc, "POST", "/v1/messages/ack", &req.base, TIMEOUT_MS, &resp_len);
    if (r != SECMSG_OK)
        return r;
    /* Only the caller's listed messages can be deleted. */
    if (secmsg__relay_decode_ack_response(&m, rc->resp, resp_len) != SECMSG_OK || m->deleted > n)
        r = malformed(rc, "an ack request");
    else
        *deleted = m->deleted;
    if (m != NULL)
        secmsg__relay__ack_response__free_unpacked(m, NULL);
    return r;
}
