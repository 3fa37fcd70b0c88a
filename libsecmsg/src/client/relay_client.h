/*
 * Internal: the client side of the relay API (spec/relay-api.md). Encodes
 * requests, makes them through a transport (secmsg_transport_fn; the
 * libcurl default is secmsg__transport_curl), and decodes responses with
 * the same canonical-only discipline as the rest of the wire layer: a
 * response that does not decode, or lacks a required field, is MALFORMED.
 *
 * Errors: SECMSG_OK; NETWORK (no response); RELAY (the relay answered with
 * an error: rc->status and rc->reason hold its status and reason token);
 * MALFORMED (a 2xx whose body is not what the spec says); INVALID_ARG;
 * NOMEM. After every call rc->status is the HTTP status (0 if none) and
 * rc->reason the relay's reason ("" if none); rc->message is one sentence
 * for the client's last_error (never a token or key).
 *
 * Authentication: the client keeps a bearer token; an authenticated call
 * gets one first if it has none or it expires within 60 s, and on a 401
 * invalid_token/token_expired it fetches a fresh one and retries once.
 * Getting a token needs the device's signing key: rc->sign(rc->sign_ctx,
 * sig, msg, len) signs with it (the client layer passes its identity).
 */
#ifndef SECMSG_CLIENT_RELAY_CLIENT_H
#define SECMSG_CLIENT_RELAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "secmsg/client.h"

/*
 * Default transport: libcurl (HTTP/1.1; TLS verification on; no redirects;
 * http and https only). ctx is a secmsg__curl_ctx, whose easy handle (and
 * so its kept-alive connection) is reused from call to call, or NULL for a
 * one-shot handle. A ctx is used by one thread at a time.
 */
int secmsg__transport_curl(void *ctx, const secmsg_http_request *req, int *status, uint8_t *resp,
                           size_t resp_cap, size_t *resp_len);

typedef struct secmsg__curl_ctx secmsg__curl_ctx;
/* NOMEM, or INIT when libcurl cannot be initialised. */
int secmsg__curl_ctx_new(secmsg__curl_ctx **out);
/* Closes the handle and its connections. NULL is allowed. */
void secmsg__curl_ctx_free(secmsg__curl_ctx *c);

/* Returns 0 (SECMSG_OK) on success; a negative SECMSG_E_* is passed on by
 * the call that needed the signature, anything else becomes CRYPTO. */
typedef int (*secmsg__sign_fn)(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len);

#define SECMSG__RC_RESP_MAX ((size_t)2U * 1024U * 1024U + 65536U)

typedef struct secmsg__relay_client {
    char base_url[512];              /* e.g. "http://127.0.0.1:8080", no trailing slash */
    uint8_t device_id[32];
    secmsg_transport_fn transport;   /* never NULL: defaults to secmsg__transport_curl */
    void *transport_ctx;             /* defaults to curl */
    secmsg__curl_ctx *curl;          /* owned: the default transport's context (keep-alive);
                                      * to restore the default after replacing the transport,
                                      * set transport_ctx back to it */
    secmsg__sign_fn sign;
    void *sign_ctx;
    char bearer[128];                /* "Bearer <96 chars>" or "" */
    uint64_t bearer_expires;         /* unix seconds */
    uint8_t *resp;                   /* SECMSG__RC_RESP_MAX bytes, malloc'd */
    int status;
    char reason[64];
    char message[256];
} secmsg__relay_client;

/* base_url must start with http:// or https:// and be < 512 bytes. */
int secmsg__rc_init(secmsg__relay_client *rc, const char *base_url,
                    const uint8_t device_id[32], secmsg__sign_fn sign, void *sign_ctx);
void secmsg__rc_free(secmsg__relay_client *rc);

/* POST /v1/register: token (32 bytes), identity public; signs with rc->sign.
 * Out: user id (cap 65) and role. */
int secmsg__rc_register(secmsg__relay_client *rc, const uint8_t token[32],
                        const uint8_t *identity, size_t identity_len, char *user_id,
                        size_t user_id_cap, int *role);

/* POST /v1/invites: out token (32) and expires (unix s). */
int secmsg__rc_invite(secmsg__relay_client *rc, const char *citizen_user_id,
                      uint32_t ttl_seconds, uint8_t token[32], uint64_t *expires);

/* PUT /v1/prekeys. signed_prekey: serialized SignedPrekey or NULL; otks:
 * n (id, 32-byte pub) pairs. Out: the status (count, low). */
typedef struct secmsg__rc_otk {
    uint32_t id;
    uint8_t pub[32];
} secmsg__rc_otk;
int secmsg__rc_prekeys_upload(secmsg__relay_client *rc, const uint8_t *signed_prekey,
                              size_t spk_len, const secmsg__rc_otk *otks, size_t n,
                              uint32_t *count, int *low);

/* POST /v1/prekeys/claim: the bundle bytes into bundle (cap), *len. The
 * bundle decodes canonically and is the claimed device's (else MALFORMED).
 * cap must be >= SECMSG_PREKEY_BUNDLE_MAX_BYTES (INVALID_ARG), since the
 * claim spends a one-time prekey. */
int secmsg__rc_claim(secmsg__relay_client *rc, const uint8_t device_id[32], uint8_t *bundle,
                     size_t cap, size_t *len);

/* GET /v1/users/{id}/devices: up to max identity publics (each <= 160
 * bytes) into ids[i] with lengths lens[i]; *n = how many. A user with more
 * than max devices: BUFFER_TOO_SMALL, *n = their number, ids untouched. */
int secmsg__rc_devices(secmsg__relay_client *rc, const char *user_id, uint8_t (*ids)[160],
                       size_t *lens, size_t max, size_t *n);

/* POST /v1/messages with one already-encoded relay Envelope (as stored in
 * the outbox). */
int secmsg__rc_send_envelope(secmsg__relay_client *rc, const uint8_t *env, size_t len);

/* Encodes one Envelope (message_id 16, recipients n x 32, content). *out
 * malloc'd. */
int secmsg__rc_encode_envelope(const uint8_t id[16], const uint8_t (*recipients)[32], size_t n,
                               const uint8_t *content, size_t content_len, uint8_t **out,
                               size_t *out_len);

/* GET /v1/messages?wait=S. The decoded deliveries point into rc->resp /
 * the unpacked message: valid until the next call on rc or
 * secmsg__rc_fetch_done(). */
typedef struct secmsg__rc_delivery {
    uint64_t id;
    const uint8_t *sender;     /* 32 */
    const uint8_t *message_id; /* 16 */
    const uint8_t *content;
    size_t content_len;
    uint64_t received;
} secmsg__rc_delivery;
typedef struct secmsg__rc_batch {
    secmsg__rc_delivery *d;    /* n entries */
    size_t n;
    int more;
    int prekeys_known;         /* 1 if the prekey status was present */
    uint32_t prekeys;
    int prekeys_low;
    void *priv;                /* the unpacked message */
} secmsg__rc_batch;
int secmsg__rc_fetch(secmsg__relay_client *rc, uint32_t wait_s, secmsg__rc_batch *f);
void secmsg__rc_fetch_done(secmsg__rc_batch *f);
/* POST /v1/messages/fetch: acks ack_ids (n_acks 0..100000; NULL if 0) and
 * then fetches as secmsg__rc_fetch, in one request (spec 5.7). The acks are
 * applied only when the relay answers 2xx; on any error they may or may
 * not have been (a later ack or fetch_ack of the same ids is harmless). */
int secmsg__rc_fetch_ack(secmsg__relay_client *rc, const uint64_t *ack_ids, size_t n_acks,
                         uint32_t wait_s, secmsg__rc_batch *f);

/* POST /v1/messages/ack. */
int secmsg__rc_ack(secmsg__relay_client *rc, const uint64_t *ids, size_t n, uint32_t *deleted);

#endif
