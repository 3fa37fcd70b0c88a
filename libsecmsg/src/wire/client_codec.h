/*
 * Internal: the client-layer wire formats (client.proto), spec/client.md §3:
 * invites (text form), device certificates signed by the municipality root
 * key, and the plaintext Content carried inside session messages.
 *
 * Decoders follow codec.h: size bound, protobuf-c unpack, required fields
 * and lengths, canonical encoding (re-encoding gives the same bytes). They
 * return SECMSG_OK, MALFORMED, VERSION (version != 1) or SIGNATURE
 * (certificates), and fill plain C structs (no protobuf types leak).
 */
#ifndef SECMSG_WIRE_CLIENT_CODEC_H
#define SECMSG_WIRE_CLIENT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define SECMSG__INVITE_PREFIX "secmsg-invite:"
#define SECMSG__CERT_PREFIX "secmsg-cert:"
#define SECMSG__URL_MAX 256U
#define SECMSG__CERT_MAX 512U

/* ---- municipality root key ------------------------------------------------ */

/* fp = BLAKE2b-256(key = none, "secmsg root fingerprint v1" || root_pub). */
int secmsg__root_fingerprint(uint8_t fp[32], const uint8_t root_pub[32]);

/* ---- invites ---------------------------------------------------------------- */

typedef struct secmsg__invite {
    char relay_url[SECMSG__URL_MAX];   /* http:// or https://, no trailing slash */
    uint8_t token[32];                 /* relay enrollment token */
    char caseworker[65];               /* caseworker's user id */
    uint8_t caseworker_fp[32];         /* secmsg_identity_fingerprint of its device */
    uint8_t root_fp[32];               /* secmsg__root_fingerprint of the root key */
    uint8_t secret[16];                /* proves possession to the caseworker; never sent to the relay */
    uint64_t expires;                  /* unix seconds */
} secmsg__invite;

/* Text form: SECMSG__INVITE_PREFIX + unpadded base64url(Invite protobuf).
 * format: BUFFER_TOO_SMALL with *len = size needed (NUL excluded). */
int secmsg__invite_format(const secmsg__invite *inv, char *out, size_t cap, size_t *len);
/* Accepts surrounding ASCII whitespace; nothing else. Validates the URL
 * scheme, user id form and every length. Does not check expiry. */
int secmsg__invite_parse(secmsg__invite *inv, const char *text, size_t len);

/* ---- device certificates ------------------------------------------------------ */

typedef struct secmsg__cert {
    uint8_t root_pub[32];
    char user_id[65];
    uint32_t role;                     /* relay Role: 2 caseworker, 3 journal */
    uint8_t identity[160];             /* IdentityPublic bytes */
    size_t identity_len;
    uint64_t not_after;                /* unix seconds */
} secmsg__cert;

/* Signs: sig = Ed25519(root, "secmsg device certificate v1" || TBS) where
 * TBS is the canonical Certificate encoding without the sig field. Writes
 * the binary certificate (cap >= SECMSG__CERT_MAX is enough). */
int secmsg__cert_sign(const secmsg__cert *c, const uint8_t root_sk[64], uint8_t *out,
                      size_t cap, size_t *len);
/* Decodes and verifies the signature against the root key inside it;
 * the caller compares the root fingerprint with what it pinned. */
int secmsg__cert_verify(secmsg__cert *c, const uint8_t *in, size_t len);
/* Text form of a certificate: SECMSG__CERT_PREFIX + base64url. */
int secmsg__cert_to_text(const uint8_t *cert, size_t len, char *out, size_t cap, size_t *out_len);
int secmsg__cert_from_text(uint8_t *cert, size_t cap, size_t *len, const char *text);

/* ---- Content: the plaintext inside every session message ---------------------- */

enum {
    SECMSG__CONTENT_TEXT = 1,    /* text */
    SECMSG__CONTENT_HELLO = 2,   /* citizen -> caseworker after redeeming an invite */
    SECMSG__CONTENT_WELCOME = 3  /* caseworker -> citizen: its certificate */
};

typedef struct secmsg__content {
    uint32_t kind;
    uint8_t message_id[16];      /* equals the envelope's message id */
    uint64_t sent_at;            /* unix ms */
    uint8_t *text;               /* TEXT (decode: malloc'd, see secmsg__content_free) */
    size_t text_len;             /* 1..65536, valid UTF-8 */
    uint8_t invite_secret[16];   /* HELLO */
    uint8_t *cert;               /* WELCOME: the caseworker's certificate (decode: malloc'd) */
    size_t cert_len;
} secmsg__content;

/* Encodes with padding to a multiple of 64 bytes (padding field), *out malloc'd. */
int secmsg__content_encode(const secmsg__content *c, uint8_t **out, size_t *len);
/* Decodes; c->text / c->cert are malloc'd copies (text NUL-terminated after
 * text_len). Checks that fields match the kind (TEXT needs text and no
 * hello/cert, etc.). On error nothing is allocated. */
int secmsg__content_decode(secmsg__content *c, const uint8_t *in, size_t len);
/* Frees (wiping) what decode allocated; the struct may then be reused. */
void secmsg__content_free(secmsg__content *c);

/* Strict UTF-8 (shortest forms, no surrogates, <= U+10FFFF): 1 valid, 0 not. */
int secmsg__utf8_valid(const uint8_t *s, size_t n);

/* ---- base64url helpers (unpadded) -------------------------------------------- */
int secmsg__b64url_encode(char *out, size_t cap, size_t *len, const uint8_t *in, size_t n);
int secmsg__b64url_decode(uint8_t *out, size_t cap, size_t *len, const char *in, size_t n);

#endif
