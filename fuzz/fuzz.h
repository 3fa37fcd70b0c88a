/*
 * fuzz/fuzz.h - what every secmsg fuzz harness shares.
 *
 * Each harness (fuzz_NAME.c) defines LLVMFuzzerTestOneInput and nothing else
 * with external linkage, so the same object links into the libFuzzer binary
 * and into replay_driver.c, which replays the committed corpus as a test.
 */
#ifndef SECMSG_FUZZ_H
#define SECMSG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secmsg.h"

/*
 * libFuzzer's entry point. Returns 0; -1 would tell libFuzzer not to add the
 * input to its corpus. Harnesses report a broken invariant by aborting.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property of the library that must hold for every input. Failing one is
 * a bug, so it aborts: libFuzzer saves the input as a crash, and the replay
 * driver counts the input as failed.
 */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)


/* secmsg_init() before anything else; harnesses call it on every input
 * (it is idempotent), because rule 12 leaves them no separate init hook. */
static inline void fuzz_init(void)
{
    FUZZ_CHECK(secmsg_init() == SECMSG_OK);
}

/* malloc that never returns NULL and never asks for 0 bytes. */
static inline uint8_t *fuzz_alloc(size_t len)
{
    uint8_t *p = malloc(len == 0 ? 1 : len);
    FUZZ_CHECK(p != NULL);
    return p;
}

/* Frees a buffer that held secrets (serialized states, plaintexts). */
static inline void fuzz_free_secret(uint8_t *p, size_t len)
{
    if (p != NULL) {
        sodium_memzero(p, len);
        free(p);
    }
}

static inline int fuzz_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static inline secmsg_identity *fuzz_identity(const uint8_t seed[SECMSG_IDENTITY_SEED_BYTES])
{
    secmsg_identity *id = NULL;
    FUZZ_CHECK(secmsg_identity_from_seed(&id, seed) == SECMSG_OK && id != NULL);
    return id;
}

/*
 * Serializes a session the library holds into an exactly sized heap buffer.
 * That must always work and produce secmsg_session_serialized_len() bytes;
 * a buffer one byte short must be refused with the size needed.
 */
static inline uint8_t *fuzz_session_bytes(const secmsg_session *s, size_t *len)
{
    size_t need = secmsg_session_serialized_len(s), got = 0;
    FUZZ_CHECK(need > 0);
    uint8_t *buf = fuzz_alloc(need);
    FUZZ_CHECK(secmsg_session_serialize(s, buf, need - 1, &got) == SECMSG_E_BUFFER_TOO_SMALL);
    FUZZ_CHECK(got == need);
    got = 0;
    FUZZ_CHECK(secmsg_session_serialize(s, buf, need, &got) == SECMSG_OK);
    FUZZ_CHECK(got == need);
    *len = got;
    return buf;
}

/* As fuzz_session_bytes, for a prekey set (no length function: size query). */
static inline uint8_t *fuzz_prekeys_bytes(const secmsg_prekeys *pk, size_t *len)
{
    uint8_t probe[1];
    size_t need = 0, got = 0;
    FUZZ_CHECK(secmsg_prekeys_serialize(pk, probe, sizeof probe, &need) ==
               SECMSG_E_BUFFER_TOO_SMALL);
    FUZZ_CHECK(need > sizeof probe);
    uint8_t *buf = fuzz_alloc(need);
    FUZZ_CHECK(secmsg_prekeys_serialize(pk, buf, need, &got) == SECMSG_OK);
    FUZZ_CHECK(got == need);
    *len = got;
    return buf;
}

/*
 * Decrypts msg with s and checks the atomicity promise of session.h: on any
 * error the serialized session is byte-for-byte what it was; on success the
 * plaintext is shorter than the message and a replay of the same message
 * fails, again leaving the state alone. pt_cap = msg_len, which the header
 * says always suffices. Returns what secmsg_session_decrypt() returned.
 */
static inline int fuzz_decrypt_checked(secmsg_session *s, const uint8_t *msg, size_t len)
{
    size_t before_len = 0, after_len = 0, pt_len = 0;
    uint8_t *before = fuzz_session_bytes(s, &before_len);
    uint8_t *pt = fuzz_alloc(len);

    int rc = secmsg_session_decrypt(s, pt, len, &pt_len, msg, len);
    uint8_t *after = fuzz_session_bytes(s, &after_len);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(rc != SECMSG_E_BUFFER_TOO_SMALL);
        FUZZ_CHECK(fuzz_equal(before, before_len, after, after_len));
    } else {
        size_t replay_len = 0, again_len = 0;
        FUZZ_CHECK(pt_len < len);
        FUZZ_CHECK(secmsg_session_decrypt(s, pt, len, &replay_len, msg, len) != SECMSG_OK);
        uint8_t *again = fuzz_session_bytes(s, &again_len);
        FUZZ_CHECK(fuzz_equal(after, after_len, again, again_len));
        fuzz_free_secret(again, again_len);
    }

    fuzz_free_secret(pt, len);
    fuzz_free_secret(after, after_len);
    fuzz_free_secret(before, before_len);
    return rc;
}

/*
 * Encrypts a short message with s. A session that reports a ciphertext size
 * either produces exactly that many bytes or fails without changing state.
 * Returns what secmsg_session_encrypt() returned (or SECMSG_E_STATE when
 * no size is reported at all).
 */
static inline int fuzz_encrypt_checked(secmsg_session *s)
{
    static const uint8_t pt[] = "reply";
    size_t need = secmsg_session_ciphertext_len(s, sizeof pt);
    size_t before_len = 0, after_len = 0, out_len = 0;

    if (need == 0) {
        return SECMSG_E_STATE;
    }
    FUZZ_CHECK(need > sizeof pt);
    uint8_t *before = fuzz_session_bytes(s, &before_len);
    uint8_t *out = fuzz_alloc(need);
    int rc = secmsg_session_encrypt(s, out, need, &out_len, pt, sizeof pt);
    if (rc == SECMSG_OK) {
        int type = 0;
        FUZZ_CHECK(out_len == need);
        FUZZ_CHECK(secmsg_message_info(out, out_len, &type, NULL, 0, NULL) == SECMSG_OK);
    } else {
        uint8_t *after = fuzz_session_bytes(s, &after_len);
        FUZZ_CHECK(fuzz_equal(before, before_len, after, after_len));
        fuzz_free_secret(after, after_len);
    }
    free(out);
    fuzz_free_secret(before, before_len);
    return rc;
}

#endif
