/*
 * Internal: decoders for the relay API bodies (relay.proto). Like codec.h:
 * size bound first, then protobuf-c, then required fields, lengths, counts
 * and canonical encoding. Return SECMSG_OK or SECMSG_E_MALFORMED (the
 * relay answers 400) and a message freed with the matching protobuf-c
 * __free_unpacked(m, NULL); SECMSG_E_INVALID_ARG only for a NULL out or lim
 * (a programming error). On error *out is NULL.
 *
 * Limits that are the relay's configuration (recipients per request,
 * envelope size, prekeys per upload) are passed in; structural limits
 * (key and id lengths) are fixed here.
 */
#ifndef SECMSG_WIRE_RELAY_CODEC_H
#define SECMSG_WIRE_RELAY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "relay.pb-c.h"

#define SECMSG__RELAY_ID_BYTES 32U
#define SECMSG__RELAY_TOKEN_BYTES 32U
#define SECMSG__RELAY_NONCE_BYTES 32U
#define SECMSG__RELAY_MSGID_BYTES 16U
#define SECMSG__RELAY_BLOB_ID_BYTES 16U
#define SECMSG__RELAY_USER_ID_MAX 64U  /* bytes of [A-Za-z0-9._-] */

typedef struct secmsg__relay_limits {
    size_t max_body;              /* bytes of one request body */
    size_t max_envelope;          /* bytes of one envelope's content */
    size_t max_recipients;        /* recipient entries summed over a request */
    size_t max_prekeys_per_upload;
    size_t max_acks;              /* ids in one ack */
} secmsg__relay_limits;

int secmsg__relay_decode_register(Secmsg__Relay__RegisterRequest **out, const uint8_t *in,
                                  size_t len);
int secmsg__relay_decode_challenge(Secmsg__Relay__ChallengeRequest **out, const uint8_t *in,
                                   size_t len);
int secmsg__relay_decode_token(Secmsg__Relay__TokenRequest **out, const uint8_t *in, size_t len);
int secmsg__relay_decode_invite(Secmsg__Relay__InviteRequest **out, const uint8_t *in,
                                size_t len);
int secmsg__relay_decode_prekeys(Secmsg__Relay__PrekeyUpload **out, const uint8_t *in, size_t len,
                                 const secmsg__relay_limits *lim);
int secmsg__relay_decode_claim(Secmsg__Relay__ClaimRequest **out, const uint8_t *in, size_t len);
int secmsg__relay_decode_send(Secmsg__Relay__SendRequest **out, const uint8_t *in, size_t len,
                              const secmsg__relay_limits *lim);
int secmsg__relay_decode_ack(Secmsg__Relay__AckRequest **out, const uint8_t *in, size_t len,
                             const secmsg__relay_limits *lim);
/** FetchRequest: at most max_acks ack ids (none is fine); `wait` is the relay's to bound. */
int secmsg__relay_decode_fetch(Secmsg__Relay__FetchRequest **out, const uint8_t *in, size_t len,
                               const secmsg__relay_limits *lim);

/**
 * 1 if s (NUL-terminated) is a valid user id: 1..64 bytes of [A-Za-z0-9._-],
 * other than "." and ".." (user ids are URL path segments).
 */
int secmsg__relay_user_id_valid(const char *s);

/* ---- shared with relay_client_codec.c, which decodes the responses ---- */

/*
 * Upper bounds of fixed-shape bodies, checked before protobuf-c runs: a
 * field numbered below 16 costs one tag byte, a length below 16384 at most
 * two varint bytes, a uint32 at most five.
 */
#define SECMSG__RELAY_BYTES_FIELD_MAX(n) (1U + 2U + (n))
#define SECMSG__RELAY_UINT32_FIELD_MAX (1U + 5U)

/** 1 if every entry of a repeated bytes field is exactly len bytes long. */
int secmsg__relay_all_len(const ProtobufCBinaryData *v, size_t n, size_t len);
/** 1 if b is a canonical IdentityPublic (decoded in a stack arena only to be checked). */
int secmsg__relay_identity_ok(ProtobufCBinaryData b);

/**
 * The shared canonical decoder (secmsg__wire_decode: a body is accepted only
 * if it is byte for byte its re-encoding) with protobuf-c's default
 * allocator; check has the type secmsg__wire_check_fn and gets ctx. Every
 * refusal is SECMSG_E_MALFORMED; on error *out is NULL.
 */
int secmsg__relay_decode_body(void **out, const ProtobufCMessageDescriptor *desc, size_t max,
                              int (*check)(const ProtobufCMessage *m, const void *ctx),
                              const void *ctx, const uint8_t *in, size_t len);

/*
 * Defines a decoder `int fname(type **out, const uint8_t *in, size_t len)`
 * that calls decode(&m, &desc, max, chk, in, len) (a static helper of the
 * including file) and refuses a NULL out with SECMSG_E_INVALID_ARG.
 */
#define SECMSG__RELAY_DECODER(fname, type, decode, desc, max, chk)                                 \
    int fname(type **out, const uint8_t *in, size_t len)                                           \
    {                                                                                              \
        if (out == NULL)                                                                           \
            return SECMSG_E_INVALID_ARG;                                                           \
        void *m;                                                                                   \
        int rc = decode(&m, &desc, max, chk, in, len);                                             \
        *out = m;                                                                                  \
        return rc;                                                                                 \
    }

#endif
