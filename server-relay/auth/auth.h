/*
 * Relay authentication: enrollment-token hashing, registration and
 * challenge signatures, single-use challenge nonces, and the short-lived
 * bearer tokens (see spec/relay-api.md, "Authentication").
 *
 * Thread-safety: all functions may be called concurrently; the challenge
 * cache has its own lock.
 */
#ifndef SECMSG_RELAY_AUTH_H
#define SECMSG_RELAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_AUTH_TOKEN_BYTES 72U      /* device id || le64 expires || MAC */
#define RELAY_AUTH_NONCE_BYTES 32U
#define RELAY_AUTH_KEY_BYTES 32U

enum {
    RELAY_AUTH_OK = 0,
    RELAY_AUTH_E_MALFORMED = -1, /* wrong length / encoding */
    RELAY_AUTH_E_FORGED = -2,    /* MAC or signature does not verify */
    RELAY_AUTH_E_EXPIRED = -3,   /* stale token or nonce */
    RELAY_AUTH_E_REPLAYED = -4,  /* nonce unknown or already used */
    RELAY_AUTH_E_NOMEM = -5,
    RELAY_AUTH_E_FULL = -6,      /* too many outstanding challenges */
};

typedef struct relay_auth relay_auth;

/** token_key: the relay's 32-byte MAC key; nonce_ttl, token_ttl in seconds. */
int relay_auth_new(relay_auth **out, const uint8_t token_key[RELAY_AUTH_KEY_BYTES],
                   uint64_t nonce_ttl, uint64_t token_ttl, size_t max_outstanding);
void relay_auth_free(relay_auth *a);

/** hash = BLAKE2b-256("secmsg relay enrollment token v1" || token): how tokens are stored. */
void relay_auth_token_hash(uint8_t hash[32], const uint8_t *token, size_t len);

/**
 * Checks a registration: identity is a serialized IdentityPublic that
 * verifies, and sig = Ed25519(its sign key, "secmsg relay register v1" ||
 * token || identity). device_id gets the identity's Ed25519 key.
 */
int relay_auth_check_register(uint8_t device_id[32], const uint8_t *token, size_t token_len,
                              const uint8_t *identity, size_t identity_len, const uint8_t *sig,
                              size_t sig_len);

/** Issues a fresh single-use nonce for device_id, valid nonce_ttl from now. */
int relay_auth_challenge(relay_auth *a, const uint8_t device_id[32], uint64_t now,
                         uint8_t nonce[RELAY_AUTH_NONCE_BYTES], uint64_t *expires);
/**
 * Consumes the nonce (whatever the outcome, so it cannot be retried) and
 * checks sig = Ed25519(device_id, "secmsg relay auth v1" || nonce ||
 * device_id). On success writes a bearer token valid token_ttl from now.
 */
int relay_auth_redeem(relay_auth *a, const uint8_t device_id[32], const uint8_t *nonce,
                      size_t nonce_len, const uint8_t *sig, size_t sig_len, uint64_t now,
                      uint8_t token[RELAY_AUTH_TOKEN_BYTES], uint64_t *expires);
/** Verifies a bearer token (constant-time MAC compare) and yields its device. */
int relay_auth_verify(const relay_auth *a, const uint8_t *token, size_t len, uint64_t now,
                      uint8_t device_id[32]);

#endif
