/*
 * secmsg/identity.h - long-term device identity, fingerprints, safety numbers.
 *
 * An identity is an Ed25519 signing key plus a separate X25519 key that the
 * signing key certifies (the two are never the same key used twice). Its
 * public form ("identity public", a protobuf of SECMSG_IDENTITY_PUBLIC_BYTES
 * bytes) is what peers exchange, pin and compare.
 *
 * Ownership: secmsg_identity objects are created by this module and must be
 * released with secmsg_identity_free(). Private key material lives in
 * sodium_malloc'd memory and is wiped on free.
 */
#ifndef SECMSG_IDENTITY_H
#define SECMSG_IDENTITY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct secmsg_identity secmsg_identity;

/** Size of a serialized identity public (protobuf). */
#define SECMSG_IDENTITY_PUBLIC_BYTES 136U
/** Size of a serialized identity private (protobuf: the two private seeds). */
#define SECMSG_IDENTITY_PRIVATE_BYTES 70U
/** Seed size for secmsg_identity_from_seed(). */
#define SECMSG_IDENTITY_SEED_BYTES 32U
/** Raw fingerprint size (see secmsg_identity_fingerprint). */
#define SECMSG_FINGERPRINT_BYTES 32U
/** Safety number: 60 decimal digits plus the terminating NUL. */
#define SECMSG_SAFETY_NUMBER_BYTES 61U
/** Compact (QR) safety number: version byte + two sorted fingerprints. */
#define SECMSG_SAFETY_QR_BYTES 65U

SECMSG_API size_t secmsg_identity_public_bytes(void);
SECMSG_API size_t secmsg_identity_private_bytes(void);
SECMSG_API size_t secmsg_fingerprint_bytes(void);
SECMSG_API size_t secmsg_safety_number_bytes(void);
SECMSG_API size_t secmsg_safety_qr_bytes(void);

/**
 * Generates a fresh random identity into *out.
 * Errors: INVALID_ARG (out NULL), NOMEM, INIT.
 */
SECMSG_API int secmsg_identity_generate(secmsg_identity **out);

/**
 * Derives an identity deterministically from a 32-byte seed (for tests,
 * vectors and key backup). The seed is a secret: treat it as the identity.
 * Errors: INVALID_ARG, NOMEM, INIT.
 */
SECMSG_API int secmsg_identity_from_seed(secmsg_identity **out,
                                         const uint8_t seed[SECMSG_IDENTITY_SEED_BYTES]);

/** Frees an identity and wipes its keys. NULL is allowed. */
SECMSG_API void secmsg_identity_free(secmsg_identity *id);

/**
 * Writes the identity public into out (capacity out_cap, at least
 * SECMSG_IDENTITY_PUBLIC_BYTES); *out_len gets the size written.
 * Errors: INVALID_ARG, BUFFER_TOO_SMALL (then *out_len = size needed).
 */
SECMSG_API int secmsg_identity_public(const secmsg_identity *id, uint8_t *out, size_t out_cap,
                                      size_t *out_len);

/**
 * Serializes the whole identity, private keys included, for the caller's
 * encrypted store. The output is secret: wipe it after use.
 * Errors: INVALID_ARG, BUFFER_TOO_SMALL (then *out_len = size needed).
 */
SECMSG_API int secmsg_identity_serialize(const secmsg_identity *id, uint8_t *out,
                                         size_t out_cap, size_t *out_len);

/**
 * Restores an identity serialized by secmsg_identity_serialize(). Only the
 * two private seeds are stored; the public keys and the binding signature
 * are recomputed from them.
 * Errors: INVALID_ARG, MALFORMED, VERSION, CRYPTO, NOMEM.
 */
SECMSG_API int secmsg_identity_deserialize(secmsg_identity **out, const uint8_t *in,
                                           size_t in_len);

/**
 * Checks a peer's identity public (length, version, X25519 key certified by
 * its Ed25519 key). Returns SECMSG_OK when it is valid.
 * Errors: INVALID_ARG, MALFORMED, VERSION, SIGNATURE.
 */
SECMSG_API int secmsg_identity_public_verify(const uint8_t *pub, size_t pub_len);

/**
 * The fingerprint of an identity public: SECMSG_FINGERPRINT_BYTES bytes, the
 * value invites and safety numbers are built from. Verifies `pub` first.
 * Errors: INVALID_ARG, MALFORMED, VERSION, SIGNATURE.
 */
SECMSG_API int secmsg_identity_fingerprint(uint8_t out[SECMSG_FINGERPRINT_BYTES],
                                           const uint8_t *pub, size_t pub_len);

/**
 * The numeric safety number of two identities: 60 digits, NUL-terminated,
 * the same whichever order a and b are given in. Display it in 12 groups of 5.
 * Errors: INVALID_ARG, MALFORMED, VERSION, SIGNATURE.
 */
SECMSG_API int secmsg_safety_number(char out[SECMSG_SAFETY_NUMBER_BYTES], const uint8_t *pub_a,
                                    size_t pub_a_len, const uint8_t *pub_b, size_t pub_b_len);

/**
 * The compact form of the safety number for a QR code: one version byte then
 * the two fingerprints in ascending byte order (order-independent).
 * Errors: as secmsg_safety_number().
 */
SECMSG_API int secmsg_safety_qr(uint8_t out[SECMSG_SAFETY_QR_BYTES], const uint8_t *pub_a,
                                size_t pub_a_len, const uint8_t *pub_b, size_t pub_b_len);

/**
 * Compares a scanned compact safety number with the one computed for the two
 * identities, in constant time. Returns SECMSG_OK on a match,
 * SECMSG_E_SIGNATURE on a mismatch, other errors as secmsg_safety_number();
 * a scanned value of the wrong length or version is MALFORMED / VERSION.
 */
SECMSG_API int secmsg_safety_qr_verify(const uint8_t *scanned, size_t scanned_len,
                                       const uint8_t *pub_a, size_t pub_a_len,
                                       const uint8_t *pub_b, size_t pub_b_len);

#ifdef __cplusplus
}
#endif
#endif
