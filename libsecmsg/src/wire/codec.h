/*
 * Internal: the codec layer. Every byte that comes from outside the library
 * (network, storage, FFI) is parsed here and only here: a size limit is
 * enforced before protobuf-c sees the bytes, then version, required fields
 * and key lengths are checked before anything else looks at the result.
 *
 * Decoders return SECMSG_OK, SECMSG_E_MALFORMED or SECMSG_E_VERSION and, on
 * success, a message owned by the caller, freed with the matching
 * protobuf-c __free_unpacked function and the same allocator.
 */
#ifndef SECMSG_WIRE_CODEC_H
#define SECMSG_WIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "secmsg.pb-c.h"

/* Sizes of the fixed-length fields. */
#define SECMSG__KEY_BYTES 32U
#define SECMSG__SIG_BYTES 64U
#define SECMSG__HEADER_PT_BYTES 40U   /* DH pub || le32 PN || le32 N */
#define SECMSG__HEADER_NONCE_BYTES 12U
#define SECMSG__TAG_BYTES 16U
#define SECMSG__HEADER_BYTES (SECMSG__HEADER_NONCE_BYTES + SECMSG__HEADER_PT_BYTES + SECMSG__TAG_BYTES)
#define SECMSG__MK_BYTES 44U          /* body key || body nonce */

/* Input size limits, checked before unpacking. */
#define SECMSG__MAX_IDENTITY_BYTES 256U
#define SECMSG__MAX_BUNDLE_BYTES 320U /* = SECMSG_PREKEY_BUNDLE_MAX_BYTES */
#define SECMSG__MAX_PLAINTEXT ((size_t)2U * 1024U * 1024U) /* = SECMSG_MAX_PLAINTEXT */
#define SECMSG__MAX_MESSAGE_BYTES ((size_t)2U * 1024U * 1024U + 1024U)
#define SECMSG__MAX_STATE_BYTES ((size_t)256U * 1024U)
#define SECMSG__MAX_PREKEY_SET_BYTES ((size_t)128U * 1024U)
#define SECMSG__MAX_ONE_TIME_PREKEYS 1000U /* = SECMSG_MAX_ONE_TIME_PREKEYS */
#define SECMSG__MAX_SKIPPED_TOTAL 2000U    /* = SECMSG_MAX_SKIPPED_TOTAL */
#define SECMSG__MAX_SKIPPED_CHAINS 32U     /* = SECMSG_MAX_SKIPPED_CHAINS */

/*
 * A bump allocator for protobuf-c: small unpacks live in a caller-provided
 * arena (usually on the stack), larger ones fall back to the heap. Every
 * allocation is wiped when freed, since unpacked state holds secrets.
 */
typedef struct secmsg__arena {
    ProtobufCAllocator alloc;
    size_t used;
    _Alignas(16) uint8_t buf[1536];
} secmsg__arena;

void secmsg__arena_init(secmsg__arena *a);
/** Wipes the arena's buffer. Call after the last free of its messages. */
void secmsg__arena_wipe(secmsg__arena *a);

/* Protobuf-c allocator that wipes on free (no arena). */
extern ProtobufCAllocator secmsg__wiping_allocator;

/* A top-level version field: MALFORMED if absent, VERSION if not ours. */
int secmsg__wire_check_version(protobuf_c_boolean has, uint32_t v);
int secmsg__wire_check_identity_public(const Secmsg__Wire__IdentityPublic *m);
int secmsg__wire_check_prekey_info(const Secmsg__Wire__PrekeyInfo *m);
/* A SignedPrekey: id != 0, canonical X25519 pub, 64-byte sig (not verified). */
int secmsg__wire_check_signed_prekey(const Secmsg__Wire__SignedPrekey *m);

/**
 * 1 if k is a canonical X25519 public key: bit 255 clear and the value
 * below 2^255 - 19, i.e. the key has exactly one encoding.
 */
int secmsg__wire_x25519_canonical(const uint8_t k[SECMSG__KEY_BYTES]);

/*
 * The decoder body every message type shares (here and in relay_codec.c):
 * refuses len 0 or len > max before protobuf-c sees the bytes, unpacks with
 * desc, runs check(m, ctx), and accepts only the canonical encoding (no
 * unknown fields at any depth, re-encoding gives exactly len bytes). check
 * returns SECMSG_OK or a negative SECMSG_E_*, which is passed on; on any
 * error *out is NULL and nothing stays allocated.
 */
typedef int (*secmsg__wire_check_fn)(const ProtobufCMessage *m, const void *ctx);
int secmsg__wire_decode(ProtobufCMessage **out, const ProtobufCMessageDescriptor *desc,
                        size_t max, secmsg__wire_check_fn check, const void *ctx,
                        const uint8_t *in, size_t len, ProtobufCAllocator *alloc);

int secmsg__wire_decode_identity_public(Secmsg__Wire__IdentityPublic **out, const uint8_t *in,
                                        size_t len, ProtobufCAllocator *alloc);
int secmsg__wire_decode_identity_private(Secmsg__Wire__IdentityPrivate **out, const uint8_t *in,
                                         size_t len, ProtobufCAllocator *alloc);
int secmsg__wire_decode_bundle(Secmsg__Wire__PrekeyBundle **out, const uint8_t *in, size_t len,
                               ProtobufCAllocator *alloc);
/* A Message: header exactly SECMSG__HEADER_BYTES, body at least a tag. */
int secmsg__wire_decode_message(Secmsg__Wire__Message **out, const uint8_t *in, size_t len,
                                ProtobufCAllocator *alloc);
int secmsg__wire_decode_session_state(Secmsg__Wire__SessionState **out, const uint8_t *in,
                                      size_t len, ProtobufCAllocator *alloc);
int secmsg__wire_decode_prekey_set(Secmsg__Wire__PrekeySet **out, const uint8_t *in, size_t len,
                                   ProtobufCAllocator *alloc);

/* An optional bytes field that is present and exactly len bytes long. */
static inline int secmsg__wire_has_len(protobuf_c_boolean has, ProtobufCBinaryData b, size_t len)
{
    return has && b.len == len && b.data != NULL;
}

/* Field helpers for encoders. */
static inline ProtobufCBinaryData secmsg__bytes(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b;
    b.data = (uint8_t *)(uintptr_t)p; /* protobuf-c's type is non-const; pack only reads */
    b.len = n;
    return b;
}

/**
 * Packs m into out (cap bytes). Returns SECMSG_OK or
 * SECMSG_E_BUFFER_TOO_SMALL with *out_len = size needed.
 */
int secmsg__wire_pack(const ProtobufCMessage *m, uint8_t *out, size_t cap, size_t *out_len);

/* Encoded length of a protobuf varint. */
size_t secmsg__varint_len(uint64_t v);
/* Writes a varint, returns bytes written. */
size_t secmsg__varint_put(uint8_t *out, uint64_t v);

#endif
