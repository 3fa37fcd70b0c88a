/*
 * Test helpers shared by tests/session and tests/wire: fixtures built through
 * the public API only, byte buffers, a seeded PRNG, and a tiny protobuf
 * reader/editor for crafting malformed inputs. Every helper asserts on
 * unexpected failure, so a test only checks the property it is about.
 */
#ifndef SECMSG_TEST_HELPERS_H
#define SECMSG_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <secmsg/common.h>
#include <secmsg/identity.h>
#include <secmsg/prekey.h>
#include <secmsg/session.h>

/* ---- growable byte buffer (heap; free with t_bytes_free) ---- */
typedef struct t_bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
} t_bytes;

void t_bytes_append(t_bytes *b, const void *p, size_t n);
t_bytes t_bytes_copy(const uint8_t *p, size_t n);
void t_bytes_free(t_bytes *b);
/* Asserts a and b hold exactly the same bytes. */
void t_assert_same_bytes(const t_bytes *a, const t_bytes *b, const char *what);

/* A NULL output buffer may be refused (INVALID_ARG) or, as the library's
 * encoders do, treated as a size query (BUFFER_TOO_SMALL with *len = need).
 * Either is fine; anything else is not. len is read after rc is computed. */
void t_assert_null_out(int rc, const size_t *len, size_t need, const char *what);

/* Suite init: secmsg_init() must succeed. */
void t_setup(void);

/* ---- seeded PRNG (xorshift64*), so random tests are reproducible ---- */
typedef struct t_rng {
    uint64_t s;
} t_rng;

void t_rng_seed(t_rng *r, uint64_t seed);
uint64_t t_rng_next(t_rng *r);
/* Uniform-ish value in [0, n); n > 0. */
uint32_t t_rng_below(t_rng *r, uint32_t n);
void t_rng_fill(t_rng *r, uint8_t *out, size_t n);

/* ---- identities, prekeys, bundles ---- */
/* Identity from a seed of 32 copies of `tag` (distinct tags, distinct ids). */
secmsg_identity *t_identity(uint8_t tag);
/* The identity public (always SECMSG_IDENTITY_PUBLIC_BYTES). */
t_bytes t_identity_pub(const secmsg_identity *id);
/* A prekey set with signed prekey `spk_id` and `n_otpk` one-time prekeys. */
secmsg_prekeys *t_prekeys(const secmsg_identity *id, uint32_t spk_id, uint32_t n_otpk);
/* A bundle with one-time prekey `otpk_id` (0: none). */
t_bytes t_bundle(const secmsg_prekeys *pk, const secmsg_identity *id, uint32_t otpk_id);
t_bytes t_prekeys_state(const secmsg_prekeys *pk);

/* ---- sessions ---- */
/* Encrypts and asserts success and that the length matches
 * secmsg_session_ciphertext_len(). */
t_bytes t_encrypt(secmsg_session *s, const uint8_t *pt, size_t pt_len);
/* Decrypts into a fresh buffer; returns the error code (pt empty on error). */
int t_decrypt(secmsg_session *s, const t_bytes *msg, t_bytes *pt);
/* Decrypts and asserts the result is exactly pt[0..pt_len). */
void t_expect_decrypt(secmsg_session *s, const t_bytes *msg, const uint8_t *pt, size_t pt_len);
/* Asserts decrypt fails with `err` (any error if err == 0) and that the
 * session serializes to the same bytes afterwards. Returns the error. */
int t_expect_reject(secmsg_session *s, const uint8_t *msg, size_t msg_len, int err);
/* Serialized session state (asserts serialized_len is exact). */
t_bytes t_session_state(const secmsg_session *s);
/* Serializes, frees, restores; asserts the restored state re-serializes
 * to the same bytes. Returns the restored session. */
secmsg_session *t_session_reload(secmsg_session *s);

/* Deterministic plaintext for message `idx` in direction `dir`: length 8..107
 * (0 for every 50th), first 8 bytes encode (dir, idx). */
size_t t_plaintext(uint8_t *out, size_t cap, uint32_t dir, uint32_t idx);
#define T_PT_MAX 128U

/* Encrypts t_plaintext(dir, idx) and returns the message. */
t_bytes t_send(secmsg_session *s, uint32_t dir, uint32_t idx);
/* Decrypts and checks against t_plaintext(dir, idx). */
void t_recv(secmsg_session *s, const t_bytes *msg, uint32_t dir, uint32_t idx);

/* Accepts msg with Bob's identity and prekeys. On failure asserts the
 * documented "nothing changes": no session, *pt_len 0, prekeys byte-identical.
 * On success the session goes to *out (freed if out is NULL) and the
 * plaintext to *pt (if not NULL; free it). Returns the error code. */
int t_accept(secmsg_session **out, const secmsg_identity *bob, secmsg_prekeys *pk,
             const uint8_t *msg, size_t len, t_bytes *pt);

/* Alice (initiator) and Bob (responder). */
typedef struct t_pair {
    secmsg_identity *alice_id, *bob_id;
    secmsg_prekeys *bob_pk;
    secmsg_session *alice, *bob;
    uint32_t otpk_id; /* one-time prekey in Bob's bundle, 0 for none */
} t_pair;

#define T_DIR_AB 0U
#define T_DIR_BA 1U

/* Identities, Bob's prekeys (3 one-time prekeys) and Alice's session;
 * Bob has no session yet. */
void t_pair_init(t_pair *p, int use_otpk);
/* t_pair_init, then Alice's initial message is accepted by Bob and Bob's
 * reply decrypted by Alice: both sides are in ratchet mode. */
void t_pair_establish(t_pair *p, int use_otpk);
void t_pair_free(t_pair *p);
/* Bob accepts msg (he must have no session yet): success, plaintext is
 * t_plaintext(dir, idx). */
void t_pair_accept(t_pair *p, const t_bytes *msg, uint32_t dir, uint32_t idx);

/* ---- minimal protobuf reader/editor ----
 * A path is a list of field numbers from the outermost message inward; all
 * but the last must be length-delimited (sub-messages). */
#define T_PB_VARINT 0U
#define T_PB_LEN 2U

/* Locates the first occurrence of the field at path. For a length-delimited
 * field, off and n give its contents, for a varint the varint bytes. Asserts it
 * exists. */
void t_pb_find(const uint8_t *in, size_t len, const uint32_t *path, size_t depth, size_t *off,
               size_t *n);
/* Copy of `in` with the field at path replaced by bytes (length-delimited) and
 * every enclosing length re-encoded. val == NULL deletes the field. */
t_bytes t_pb_set_bytes(const uint8_t *in, size_t len, const uint32_t *path, size_t depth,
                       const uint8_t *val, size_t val_len);
/* Same for a varint field. */
t_bytes t_pb_set_varint(const uint8_t *in, size_t len, const uint32_t *path, size_t depth,
                        uint64_t v);
/* Appends an encoded field to b. */
void t_pb_add_varint(t_bytes *b, uint32_t field, uint64_t v);
void t_pb_add_bytes(t_bytes *b, uint32_t field, const uint8_t *val, size_t val_len);

#define T_PATH(...)                                                                                \
    ((const uint32_t[]){__VA_ARGS__}), (sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

#endif
