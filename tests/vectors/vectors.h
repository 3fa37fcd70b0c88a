/* Builds the protocol test vectors of spec/vectors/ from fixed seeds. */
#ifndef SECMSG_TEST_VECTORS_H
#define SECMSG_TEST_VECTORS_H

#include <jansson.h>

/*
 * Replaces libsodium's random source with a deterministic one: draw i
 * (counting from 0) of n bytes is ChaCha20-IETF keystream with
 * key = BLAKE2b-256("secmsg vectors rng" || seed) and nonce = le32(i) || 0^8.
 * Must be called before secmsg_init().
 */
void vectors_rng_install(const char *seed);

/* Runs the scripted conversation and returns the vectors, or NULL on failure. */
json_t *vectors_build(void);

#define VECTORS_FILE "session-v1.json"
#define VECTORS_RNG_SEED "secmsg v1 session vectors"
#define VECTORS_JSON_FLAGS (JSON_INDENT(1) | JSON_SORT_KEYS)

#endif
