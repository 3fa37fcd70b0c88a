/* Session API contract: argument checking, buffer-size handling without
 * side effects, plaintext size limits, size functions. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(api, .init = t_setup);

/* The _bytes() functions agree with the macros. */
Test(api, size_functions_match_macros)
{
    cr_assert_eq(secmsg_identity_public_bytes(), SECMSG_IDENTITY_PUBLIC_BYTES);
    cr_assert_eq(secmsg_identity_private_bytes(), SECMSG_IDENTITY_PRIVATE_BYTES);
    cr_assert_eq(secmsg_fingerprint_bytes(), SECMSG_FINGERPRINT_BYTES);
    cr_assert_eq(secmsg_safety_number_bytes(), SECMSG_SAFETY_NUMBER_BYTES);
    cr_assert_eq(secmsg_safety_qr_bytes(), SECMSG_SAFETY_QR_BYTES);
    cr_assert_eq(secmsg_prekey_bundle_max_bytes(), SECMSG_PREKEY_BUNDLE_MAX_BYTES);
    cr_assert_eq(secmsg_max_plaintext(), SECMSG_MAX_PLAINTEXT);
}

/* Every session entry point rejects NULL where a pointer is required with
 * INVALID_ARG, touches no state, and the NULL-tolerant ones tolerate it. */
Test(api, session_null_arguments)
{
    t_pair p;
    t_pair_establish(&p, 1);
    t_bytes before = t_session_state(p.alice);
    uint8_t out[1024], pt[16] = {0};
    size_t n = 0;
    cr_assert_eq(secmsg_session_encrypt(NULL, out, sizeof out, &n, pt, sizeof pt),
                 SECMSG_E_INVALID_ARG);
    n = 0;
    t_assert_null_out(secmsg_session_encrypt(p.alice, NULL, sizeof out, &n, pt, sizeof pt), &n,
                      secmsg_session_ciphertext_len(p.alice, sizeof pt), "encrypt");
    cr_assert_eq(secmsg_session_encrypt(p.alice, out, sizeof out, NULL, pt, sizeof pt),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_encrypt(p.alice, out, sizeof out, &n, NULL, sizeof pt),
                 SECMSG_E_INVALID_ARG);
    t_bytes after = t_session_state(p.alice);
    t_assert_same_bytes(&before, &after, "state after rejected encrypts");

    t_bytes m = t_send(p.alice, T_DIR_AB, 1);
    t_bytes bstate = t_session_state(p.bob);
    cr_assert_eq(secmsg_session_decrypt(NULL, out, sizeof out, &n, m.data, m.len),
                 SECMSG_E_INVALID_ARG);
    uint8_t want[T_PT_MAX];
    n = 0;
    t_assert_null_out(secmsg_session_decrypt(p.bob, NULL, sizeof out, &n, m.data, m.len), &n,
                      t_plaintext(want, sizeof want, T_DIR_AB, 1), "decrypt");
    cr_assert_eq(secmsg_session_decrypt(p.bob, out, sizeof out, NULL, m.data, m.len),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_decrypt(p.bob, out, sizeof out, &n, NULL, m.len),
                 SECMSG_E_INVALID_ARG);
    t_bytes bafter = t_session_state(p.bob);
    t_assert_same_bytes(&bstate, &bafter, "state after rejected decrypts");
    t_recv(p.bob, &m, T_DIR_AB, 1);

    secmsg_session *s = NULL;
    cr_assert_eq(secmsg_session_serialize(NULL, out, sizeof out, &n), SECMSG_E_INVALID_ARG);
    n = 0;
    t_assert_null_out(secmsg_session_serialize(p.bob, NULL, sizeof out, &n), &n,
                      secmsg_session_serialized_len(p.bob), "session_serialize");
    cr_assert_eq(secmsg_session_serialize(p.bob, out, sizeof out, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_deserialize(NULL, before.data, before.len), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_deserialize(&s, NULL, before.len), SECMSG_E_INVALID_ARG);
    cr_assert_null(s);
    cr_assert_eq(secmsg_session_remote_identity(NULL, out, sizeof out, &n), SECMSG_E_INVALID_ARG);
    n = 0;
    t_assert_null_out(secmsg_session_remote_identity(p.bob, NULL, sizeof out, &n), &n,
                      SECMSG_IDENTITY_PUBLIC_BYTES, "remote_identity");
    cr_assert_eq(secmsg_session_remote_identity(p.bob, out, sizeof out, NULL),
                 SECMSG_E_INVALID_ARG);
    n = 0;
    cr_assert_eq(secmsg_session_remote_identity(p.bob, out, SECMSG_IDENTITY_PUBLIC_BYTES - 1, &n),
                 SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(n, SECMSG_IDENTITY_PUBLIC_BYTES);
    cr_assert_eq(secmsg_session_ciphertext_len(NULL, 10), 0U);
    cr_assert_eq(secmsg_session_serialized_len(NULL), 0U);
    secmsg_session_free(NULL);

    t_bytes_free(&before), t_bytes_free(&after), t_bytes_free(&bstate);
    t_bytes_free(&bafter), t_bytes_free(&m);
    t_pair_free(&p);
}

/* encrypt into a buffer one byte short is BUFFER_TOO_SMALL with *out_len the
 * exact size needed and the session not advanced: the next encrypt is the
 * very next message (state byte-identical before it) and the peer reads it
 * and the following one in order. */
Test(api, encrypt_buffer_too_small_does_not_advance)
{
    t_pair p;
    t_pair_establish(&p, 1);
    uint8_t pt[T_PT_MAX], out[1024];
    size_t n = t_plaintext(pt, sizeof pt, T_DIR_AB, 1);
    size_t need = secmsg_session_ciphertext_len(p.alice, n), got = 0;
    cr_assert(need > n && need <= sizeof out);
    t_bytes before = t_session_state(p.alice);
    cr_assert_eq(secmsg_session_encrypt(p.alice, out, need - 1, &got, pt, n),
                 SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(got, need);
    got = 0;
    cr_assert_eq(secmsg_session_encrypt(p.alice, out, 0, &got, pt, n), SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(got, need);
    t_bytes after = t_session_state(p.alice);
    t_assert_same_bytes(&before, &after, "state after BUFFER_TOO_SMALL");

    t_bytes m1 = t_send(p.alice, T_DIR_AB, 1);
    t_bytes m2 = t_send(p.alice, T_DIR_AB, 2);
    t_recv(p.bob, &m1, T_DIR_AB, 1);
    t_recv(p.bob, &m2, T_DIR_AB, 2);
    t_bytes_free(&before), t_bytes_free(&after), t_bytes_free(&m1), t_bytes_free(&m2);
    t_pair_free(&p);
}

/* decrypt into a buffer one byte short is BUFFER_TOO_SMALL with *pt_len the
 * plaintext size, the state unchanged; then it decrypts normally. */
Test(api, decrypt_buffer_too_small_keeps_state)
{
    t_pair p;
    t_pair_establish(&p, 0);
    t_bytes m = t_send(p.alice, T_DIR_AB, 1);
    uint8_t pt[T_PT_MAX], out[1024];
    size_t n = t_plaintext(pt, sizeof pt, T_DIR_AB, 1), got = 0;
    cr_assert(n > 0);
    t_bytes before = t_session_state(p.bob);
    cr_assert_eq(secmsg_session_decrypt(p.bob, out, n - 1, &got, m.data, m.len),
                 SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(got, n);
    t_bytes after = t_session_state(p.bob);
    t_assert_same_bytes(&before, &after, "state after BUFFER_TOO_SMALL");
    cr_assert_eq(secmsg_session_decrypt(p.bob, out, n, &got, m.data, m.len), SECMSG_OK,
                 "a buffer of exactly the plaintext size must do");
    cr_assert_eq(got, n);
    cr_assert_arr_eq(out, pt, n);
    t_bytes_free(&m), t_bytes_free(&before), t_bytes_free(&after);
    t_pair_free(&p);
}

/* Zero-length plaintexts travel both ways, including as the initial
 * message. */
Test(api, zero_length_plaintext)
{
    t_pair p;
    t_pair_init(&p, 1);
    uint8_t dummy[1] = {0};
    t_bytes m0 = t_encrypt(p.alice, dummy, 0), got;
    cr_assert_eq(t_accept(&p.bob, p.bob_id, p.bob_pk, m0.data, m0.len, &got), SECMSG_OK);
    cr_assert_eq(got.len, 0U);
    t_bytes_free(&got);
    t_bytes r = t_encrypt(p.bob, dummy, 0);
    t_expect_decrypt(p.alice, &r, dummy, 0);
    t_bytes a = t_encrypt(p.alice, dummy, 0);
    t_expect_decrypt(p.bob, &a, dummy, 0);
    t_bytes_free(&m0), t_bytes_free(&r), t_bytes_free(&a);
    t_pair_free(&p);
}

/* A plaintext of exactly SECMSG_MAX_PLAINTEXT works; one byte more is
 * INVALID_ARG, ciphertext_len says 0, and the session does not advance. */
Test(api, plaintext_size_limit)
{
    t_pair p;
    t_pair_establish(&p, 1);
    uint8_t *big = malloc(SECMSG_MAX_PLAINTEXT + 1);
    cr_assert_not_null(big);
    t_rng rng;
    t_rng_seed(&rng, 5);
    t_rng_fill(&rng, big, SECMSG_MAX_PLAINTEXT + 1);
    cr_assert_eq(secmsg_session_ciphertext_len(p.alice, SECMSG_MAX_PLAINTEXT + 1), 0U);
    size_t need = secmsg_session_ciphertext_len(p.alice, SECMSG_MAX_PLAINTEXT);
    cr_assert(need > SECMSG_MAX_PLAINTEXT);
    uint8_t *out = malloc(need + 64);
    cr_assert_not_null(out);
    size_t n = 0;
    t_bytes before = t_session_state(p.alice);
    cr_assert_eq(secmsg_session_encrypt(p.alice, out, need + 64, &n, big, SECMSG_MAX_PLAINTEXT + 1),
                 SECMSG_E_INVALID_ARG);
    t_bytes after = t_session_state(p.alice);
    t_assert_same_bytes(&before, &after, "state after an oversize plaintext");
    t_bytes m = t_encrypt(p.alice, big, SECMSG_MAX_PLAINTEXT);
    t_expect_decrypt(p.bob, &m, big, SECMSG_MAX_PLAINTEXT);
    free(big), free(out);
    t_bytes_free(&m), t_bytes_free(&before), t_bytes_free(&after);
    t_pair_free(&p);
}

/* ciphertext_len is exact for a range of sizes on both sides and in both
 * message types (initial messages are longer). */
Test(api, ciphertext_len_is_exact)
{
    t_pair p;
    t_pair_init(&p, 1);
    uint8_t pt[300];
    memset(pt, 7, sizeof pt);
    size_t initial = secmsg_session_ciphertext_len(p.alice, 10);
    for (size_t n = 0; n < sizeof pt; n += 37) {
        t_bytes m = t_encrypt(p.alice, pt, n); /* asserts the length */
        t_bytes_free(&m);
    }
    t_bytes m0 = t_send(p.alice, T_DIR_AB, 0);
    t_pair_accept(&p, &m0, T_DIR_AB, 0);
    for (size_t n = 0; n < sizeof pt; n += 37) {
        t_bytes r = t_encrypt(p.bob, pt, n);
        t_expect_decrypt(p.alice, &r, pt, n);
        t_bytes_free(&r);
    }
    cr_assert(secmsg_session_ciphertext_len(p.alice, 10) < initial,
              "ratchet messages are shorter than initial ones");
    t_bytes_free(&m0);
    t_pair_free(&p);
}
