/*
 * HMAC-SHA256 and HKDF-SHA256 (RFC 2104, RFC 5869) over libsodium's
 * crypto_auth_hmacsha256_* incremental API. libsodium 1.0.18 has no HKDF of
 * its own; the construction here is the RFC's, nothing more.
 */
#include <string.h>

#include <sodium.h>

#include "crypto/kdf.h"

void secmsg__hmac_sha256(uint8_t out[SECMSG__SHA256_BYTES], const uint8_t *key, size_t key_len,
                         const uint8_t *msg, size_t msg_len)
{
    static const uint8_t no_key[1];
    crypto_auth_hmacsha256_state st;

    /* libsodium declares the key nonnull even when key_len is 0; an absent
     * key is the empty key. Keys longer than the 64-byte block are hashed
     * first by libsodium, as RFC 2104 asks. */
    if (key == NULL) {
        key = no_key;
        key_len = 0;
    }
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, msg, msg_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void secmsg__hkdf_extract(uint8_t prk[SECMSG__SHA256_BYTES], const uint8_t *salt,
                          size_t salt_len, const uint8_t *ikm, size_t ikm_len)
{
    /* An absent salt is HashLen zero bytes (RFC 5869, 2.2). HMAC pads its key
     * with zeros to the block size, so the empty key gives the same result. */
    if (salt == NULL) {
        salt_len = 0; /* secmsg__hmac_sha256 treats a NULL key as empty */
    }
    secmsg__hmac_sha256(prk, salt, salt_len, ikm, ikm_len);
}

int secmsg__hkdf_expand(uint8_t *out, size_t out_len, const uint8_t prk[SECMSG__SHA256_BYTES],
                        const uint8_t *info, size_t info_len)
{
    crypto_auth_hmacsha256_state keyed;
    crypto_auth_hmacsha256_state st;
    uint8_t t[SECMSG__SHA256_BYTES];
    size_t off = 0;
    uint8_t counter = 0;

    if (out_len == 0 || out_len > SECMSG__HKDF_MAX_OUT) {
        return -1;
    }
    /* The keyed state is computed once, before anything is written to out,
     * so out may alias prk. Each block restarts from a copy of it. */
    crypto_auth_hmacsha256_init(&keyed, prk, SECMSG__SHA256_BYTES);
    while (off < out_len) {
        size_t n = out_len - off;

        if (n > sizeof t) {
            n = sizeof t;
        }
        counter++; /* at most 255: out_len <= 255 * HashLen */
        memcpy(&st, &keyed, sizeof st);
        if (off > 0) {
            crypto_auth_hmacsha256_update(&st, t, sizeof t);
        }
        crypto_auth_hmacsha256_update(&st, info, info_len);
        crypto_auth_hmacsha256_update(&st, &counter, 1);
        crypto_auth_hmacsha256_final(&st, t);
        memcpy(out + off, t, n);
        off += n;
    }
    sodium_memzero(t, sizeof t);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(&keyed, sizeof keyed);
    return 0;
}

int secmsg__hkdf(uint8_t *out, size_t out_len, const uint8_t *salt, size_t salt_len,
                 const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
    uint8_t prk[SECMSG__SHA256_BYTES];
    int ret;

    if (out_len == 0 || out_len > SECMSG__HKDF_MAX_OUT) {
        return -1;
    }
    secmsg__hkdf_extract(prk, salt, salt_len, ikm, ikm_len);
    ret = secmsg__hkdf_expand(out, out_len, prk, info, info_len);
    sodium_memzero(prk, sizeof prk);
    return ret;
}
