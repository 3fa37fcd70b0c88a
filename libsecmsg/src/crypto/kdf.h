/*
 * Internal: HMAC-SHA256 and HKDF-SHA256 (RFC 5869) over libsodium.
 */
#ifndef SECMSG_CRYPTO_KDF_H
#define SECMSG_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#define SECMSG__SHA256_BYTES 32U
/** RFC 5869 limit on HKDF-Expand output: 255 blocks. */
#define SECMSG__HKDF_MAX_OUT (255U * 32U)

/** out = HMAC-SHA256(key, msg). Any key length. */
void secmsg__hmac_sha256(uint8_t out[SECMSG__SHA256_BYTES], const uint8_t *key, size_t key_len,
                         const uint8_t *msg, size_t msg_len);

/** prk = HKDF-Extract(salt, ikm). salt may be NULL/0 (then 32 zero bytes). */
void secmsg__hkdf_extract(uint8_t prk[SECMSG__SHA256_BYTES], const uint8_t *salt,
                          size_t salt_len, const uint8_t *ikm, size_t ikm_len);

/**
 * out = HKDF-Expand(prk, info, out_len). Returns 0, or -1 if out_len is 0 or
 * exceeds SECMSG__HKDF_MAX_OUT (then out is untouched).
 */
int secmsg__hkdf_expand(uint8_t *out, size_t out_len, const uint8_t prk[SECMSG__SHA256_BYTES],
                        const uint8_t *info, size_t info_len);

/** Extract then expand; the PRK is wiped. Returns as secmsg__hkdf_expand. */
int secmsg__hkdf(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                 const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len);

#endif
