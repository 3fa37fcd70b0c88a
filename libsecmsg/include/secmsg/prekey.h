/*
 * secmsg/prekey.h - the responder's prekeys and the bundles built from them.
 *
 * A device publishes one signed prekey (X25519, signed by its identity) and a
 * supply of one-time prekeys. A peer that wants to start a session fetches a
 * "bundle": the identity public, the signed prekey, and at most one one-time
 * prekey. Each one-time prekey is consumed when the first initial message
 * that used it is accepted, so it can be used exactly once.
 *
 * Ownership: secmsg_prekeys is opaque, created here, freed with
 * secmsg_prekeys_free(). Private keys live in sodium_malloc'd memory.
 */
#ifndef SECMSG_PREKEY_H
#define SECMSG_PREKEY_H

#include "common.h"
#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct secmsg_prekeys secmsg_prekeys;

/** Most one-time prekeys one secmsg_prekeys holds at a time. */
#define SECMSG_MAX_ONE_TIME_PREKEYS 1000U
/** Largest serialized bundle. */
#define SECMSG_PREKEY_BUNDLE_MAX_BYTES 320U

SECMSG_API size_t secmsg_prekey_bundle_max_bytes(void);

/**
 * Creates a prekey set for `id` with a fresh signed prekey numbered
 * `signed_prekey_id` (any value but 0) and no one-time prekeys.
 * Errors: INVALID_ARG, NOMEM.
 */
SECMSG_API int secmsg_prekeys_new(secmsg_prekeys **out, const secmsg_identity *id,
                                  uint32_t signed_prekey_id);

/** Frees a prekey set, wiping its private keys. NULL is allowed. */
SECMSG_API void secmsg_prekeys_free(secmsg_prekeys *pk);

/**
 * Adds `count` fresh one-time prekeys with consecutive ids following the
 * highest id ever issued (ids start at 1 and are never reused).
 * *first_id (if not NULL) gets the id of the first one added.
 * Errors: INVALID_ARG (count 0, or the total would pass
 * SECMSG_MAX_ONE_TIME_PREKEYS), NOMEM. On error nothing is added.
 */
SECMSG_API int secmsg_prekeys_generate(secmsg_prekeys *pk, uint32_t count, uint32_t *first_id);

/** Number of unconsumed one-time prekeys. NULL gives 0. */
SECMSG_API size_t secmsg_prekeys_count(const secmsg_prekeys *pk);

/**
 * Replaces the signed prekey with a fresh one numbered `signed_prekey_id`.
 * The previous signed prekey is kept so initial messages already in flight
 * still work, until the next rotation.
 * Ids should increase; reusing the current or the previous id is refused.
 * Errors: INVALID_ARG (0, the current or previous id, wrong identity).
 */
SECMSG_API int secmsg_prekeys_rotate_signed(secmsg_prekeys *pk, const secmsg_identity *id,
                                            uint32_t signed_prekey_id);

/**
 * Writes a bundle (protobuf) for `id` with the signed prekey and, if
 * one_time_id is not 0, that one-time prekey. The one-time prekey is not
 * consumed here; it is consumed when an initial message using it is accepted.
 * Errors: INVALID_ARG (wrong identity), UNKNOWN_PREKEY (no such one-time
 * prekey), BUFFER_TOO_SMALL (then *out_len = size needed).
 */
SECMSG_API int secmsg_prekeys_bundle(const secmsg_prekeys *pk, const secmsg_identity *id,
                                     uint32_t one_time_id, uint8_t *out, size_t out_cap,
                                     size_t *out_len);

/**
 * Serializes the prekey set (private keys included) for the caller's
 * encrypted store; the output is secret. BUFFER_TOO_SMALL sets *out_len.
 */
SECMSG_API int secmsg_prekeys_serialize(const secmsg_prekeys *pk, uint8_t *out, size_t out_cap,
                                        size_t *out_len);

/** Restores a prekey set. Errors: INVALID_ARG, MALFORMED, VERSION, NOMEM. */
SECMSG_API int secmsg_prekeys_deserialize(secmsg_prekeys **out, const uint8_t *in,
                                          size_t in_len);

#ifdef __cplusplus
}
#endif
#endif
