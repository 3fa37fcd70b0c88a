/* Prekeys and bundles: one-time prekey consumption, id allocation and
 * bounds, persistence, signed prekey rotation, and rejection of bundles whose
 * signatures do not verify. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

TestSuite(prekey, .init = t_setup);

static int accept_msg(secmsg_session **out, const secmsg_identity *bob, secmsg_prekeys *pk,
                      const t_bytes *msg)
{
    return t_accept(out, bob, pk, msg->data, msg->len, NULL);
}

/* Initiates from `bundle` as `self` and returns the first (initial) message. */
static t_bytes initial_message(const secmsg_identity *self, const t_bytes *bundle)
{
    secmsg_session *s = NULL;
    int rc = secmsg_session_initiate(&s, self, bundle->data, bundle->len);
    cr_assert_eq(rc, SECMSG_OK, "initiate: %s", secmsg_strerror(rc));
    t_bytes m = t_send(s, T_DIR_AB, 0);
    secmsg_session_free(s);
    return m;
}

/* Accepts and expects success, freeing the session. */
static void accept_ok(const secmsg_identity *bob, secmsg_prekeys *pk, const t_bytes *msg)
{
    secmsg_session *s = NULL;
    int rc = accept_msg(&s, bob, pk, msg);
    cr_assert_eq(rc, SECMSG_OK, "accept: %s", secmsg_strerror(rc));
    secmsg_session_free(s);
}

static void accept_fails(const secmsg_identity *bob, secmsg_prekeys *pk, const t_bytes *msg,
                         int err)
{
    secmsg_session *s = NULL;
    int rc = accept_msg(&s, bob, pk, msg);
    cr_assert_eq(rc, err, "accept: expected %s, got %s", secmsg_strerror(err), secmsg_strerror(rc));
}

/* A one-time prekey is consumed by exactly one successful accept: a failed
 * accept consumes nothing, the count drops by exactly one, a second accept of
 * the same (or any other) initial message using it is UNKNOWN_PREKEY, and the
 * consumed prekey can no longer be put in a bundle. */
Test(prekey, one_time_prekey_consumed_exactly_once)
{
    secmsg_identity *alice = t_identity(0xA1), *bob = t_identity(0xB0);
    secmsg_prekeys *pk = t_prekeys(bob, 7, 3);
    t_bytes bundle = t_bundle(pk, bob, 2);
    secmsg_session *as = NULL, *bs = NULL;
    cr_assert_eq(secmsg_session_initiate(&as, alice, bundle.data, bundle.len), SECMSG_OK);
    t_bytes m0 = t_send(as, T_DIR_AB, 0), m1 = t_send(as, T_DIR_AB, 1);

    t_bytes bad = t_bytes_copy(m0.data, m0.len);
    bad.data[bad.len - 1] ^= 1;
    cr_assert_neq(accept_msg(&bs, bob, pk, &bad), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_count(pk), 3U, "a failed accept consumed a prekey");

    cr_assert_eq(accept_msg(&bs, bob, pk, &m0), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_count(pk), 2U);
    accept_fails(bob, pk, &m0, SECMSG_E_UNKNOWN_PREKEY);
    accept_fails(bob, pk, &m1, SECMSG_E_UNKNOWN_PREKEY);
    cr_assert_eq(secmsg_prekeys_count(pk), 2U);

    uint8_t buf[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t n = 0;
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 2, buf, sizeof buf, &n), SECMSG_E_UNKNOWN_PREKEY);
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 1, buf, sizeof buf, &n), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 3, buf, sizeof buf, &n), SECMSG_OK);

    /* the session made by the one successful accept still works */
    t_recv(bs, &m1, T_DIR_AB, 1);
    t_bytes r = t_send(bs, T_DIR_BA, 0);
    t_recv(as, &r, T_DIR_BA, 0);

    t_bytes_free(&r), t_bytes_free(&bad), t_bytes_free(&m0), t_bytes_free(&m1);
    t_bytes_free(&bundle);
    secmsg_session_free(as), secmsg_session_free(bs);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice), secmsg_identity_free(bob);
}

/* generate: count 0 and totals beyond SECMSG_MAX_ONE_TIME_PREKEYS are
 * INVALID_ARG and add nothing; ids are consecutive from 1 and never reused,
 * not even after a prekey is consumed or the set is restored. */
Test(prekey, generate_bounds_and_ids)
{
    secmsg_identity *bob = t_identity(0xB0), *alice = t_identity(0xA1);
    secmsg_prekeys *pk = t_prekeys(bob, 1, 0);
    uint32_t first = 0;
    cr_assert_eq(secmsg_prekeys_generate(pk, 0, &first), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_generate(pk, SECMSG_MAX_ONE_TIME_PREKEYS + 1, &first),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_generate(pk, UINT32_MAX, &first), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_count(pk), 0U);
    cr_assert_eq(secmsg_prekeys_generate(pk, 2, &first), SECMSG_OK);
    cr_assert_eq(first, 1U);

    t_bytes b2 = t_bundle(pk, bob, 2);
    t_bytes m = initial_message(alice, &b2);
    accept_ok(bob, pk, &m);
    cr_assert_eq(secmsg_prekeys_count(pk), 1U);
    cr_assert_eq(secmsg_prekeys_generate(pk, 1, &first), SECMSG_OK);
    cr_assert_eq(first, 3U, "a consumed id was reissued");

    t_bytes st = t_prekeys_state(pk);
    secmsg_prekeys_free(pk);
    pk = NULL;
    cr_assert_eq(secmsg_prekeys_deserialize(&pk, st.data, st.len), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_generate(pk, 1, &first), SECMSG_OK);
    cr_assert_eq(first, 4U, "id allocation not persisted");
    cr_assert_eq(secmsg_prekeys_generate(pk, 3, NULL), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_count(pk), 6U);

    const uint32_t room = SECMSG_MAX_ONE_TIME_PREKEYS - 6U;
    cr_assert_eq(secmsg_prekeys_generate(pk, room + 1, &first), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_count(pk), 6U, "a failed generate added prekeys");
    cr_assert_eq(secmsg_prekeys_generate(pk, room, &first), SECMSG_OK);
    cr_assert_eq(first, 8U);
    cr_assert_eq(secmsg_prekeys_count(pk), (size_t)SECMSG_MAX_ONE_TIME_PREKEYS);
    cr_assert_eq(secmsg_prekeys_generate(pk, 1, &first), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_count(pk), (size_t)SECMSG_MAX_ONE_TIME_PREKEYS);

    t_bytes_free(&st), t_bytes_free(&m), t_bytes_free(&b2);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(bob), secmsg_identity_free(alice);
}

/* A restored prekey set holds the same keys: it accepts initial messages built
 * from bundles of the original, re-serializes identically, and persists
 * consumption. */
Test(prekey, serialize_round_trip_keeps_working)
{
    secmsg_identity *alice = t_identity(0xA1), *carol = t_identity(0xC0), *bob = t_identity(0xB0);
    secmsg_prekeys *pk = t_prekeys(bob, 9, 3), *back = NULL, *again = NULL;
    t_bytes b1 = t_bundle(pk, bob, 1);
    t_bytes st = t_prekeys_state(pk);
    secmsg_prekeys_free(pk);
    cr_assert_eq(secmsg_prekeys_deserialize(&back, st.data, st.len), SECMSG_OK);
    t_bytes st2 = t_prekeys_state(back);
    t_assert_same_bytes(&st, &st2, "prekeys serialize(deserialize(x)) == x");
    cr_assert_eq(secmsg_prekeys_count(back), 3U);

    t_bytes m = initial_message(alice, &b1);
    accept_ok(bob, back, &m);
    cr_assert_eq(secmsg_prekeys_count(back), 2U);
    t_bytes b3 = t_bundle(back, bob, 3);
    t_bytes mc = initial_message(carol, &b3);
    accept_ok(bob, back, &mc);

    t_bytes st3 = t_prekeys_state(back);
    cr_assert_eq(secmsg_prekeys_deserialize(&again, st3.data, st3.len), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_count(again), 1U);
    accept_fails(bob, again, &m, SECMSG_E_UNKNOWN_PREKEY);
    accept_fails(bob, again, &mc, SECMSG_E_UNKNOWN_PREKEY);

    t_bytes_free(&b1), t_bytes_free(&b3), t_bytes_free(&st), t_bytes_free(&st2);
    t_bytes_free(&st3), t_bytes_free(&m), t_bytes_free(&mc);
    secmsg_prekeys_free(back), secmsg_prekeys_free(again);
    secmsg_identity_free(alice), secmsg_identity_free(carol), secmsg_identity_free(bob);
}

/* rotate_signed: the previous signed prekey stays usable until the next
 * rotation (also across persistence), then it is UNKNOWN_PREKEY; 0 and the
 * current id are INVALID_ARG. */
Test(prekey, rotate_signed_keeps_previous_for_one_rotation)
{
    secmsg_identity *alice = t_identity(0xA1), *bob = t_identity(0xB0);
    secmsg_prekeys *pk = t_prekeys(bob, 1, 0);
    t_bytes b1 = t_bundle(pk, bob, 0);
    cr_assert_eq(secmsg_prekeys_rotate_signed(pk, bob, 0), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_rotate_signed(pk, bob, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_rotate_signed(pk, bob, 2), SECMSG_OK);
    t_bytes b2 = t_bundle(pk, bob, 0);
    cr_assert(b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0,
              "rotation changed nothing");
    cr_assert_eq(secmsg_prekeys_rotate_signed(pk, bob, 2), SECMSG_E_INVALID_ARG);

    t_bytes m1 = initial_message(alice, &b1), m2 = initial_message(alice, &b2);
    accept_ok(bob, pk, &m1);
    accept_ok(bob, pk, &m2);

    t_bytes st = t_prekeys_state(pk);
    secmsg_prekeys_free(pk);
    pk = NULL;
    cr_assert_eq(secmsg_prekeys_deserialize(&pk, st.data, st.len), SECMSG_OK);
    accept_ok(bob, pk, &m1);

    cr_assert_eq(secmsg_prekeys_rotate_signed(pk, bob, 3), SECMSG_OK);
    t_bytes m1b = initial_message(alice, &b1);
    accept_fails(bob, pk, &m1b, SECMSG_E_UNKNOWN_PREKEY);
    accept_ok(bob, pk, &m2);
    t_bytes b3 = t_bundle(pk, bob, 0);
    t_bytes m3 = initial_message(alice, &b3);
    accept_ok(bob, pk, &m3);

    t_bytes_free(&b1), t_bytes_free(&b2), t_bytes_free(&b3), t_bytes_free(&st);
    t_bytes_free(&m1), t_bytes_free(&m1b), t_bytes_free(&m2), t_bytes_free(&m3);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice), secmsg_identity_free(bob);
}

/* Argument checking of the prekey API: wrong identity, unknown one-time
 * prekey, size query, NULLs, signed prekey id 0. */
Test(prekey, api_arguments)
{
    secmsg_identity *bob = t_identity(0xB0), *eve = t_identity(0xEE);
    secmsg_prekeys *pk = t_prekeys(bob, 4, 2), *out = NULL;
    uint8_t buf[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t n = 0, n_otpk = 0;
    cr_assert_eq(secmsg_prekeys_bundle(pk, eve, 0, buf, sizeof buf, &n), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 3, buf, sizeof buf, &n), SECMSG_E_UNKNOWN_PREKEY);
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 1, buf, sizeof buf, &n_otpk), SECMSG_OK);
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 0, buf, sizeof buf, &n), SECMSG_OK);
    cr_assert(n < n_otpk, "a bundle without a one-time prekey is smaller");
    const size_t n_plain = n;
    n = 0;
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 1, buf, n_otpk - 1, &n), SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(n, n_otpk);

    cr_assert_eq(secmsg_prekeys_new(&out, bob, 0), SECMSG_E_INVALID_ARG);
    cr_assert_null(out);
    cr_assert_eq(secmsg_prekeys_new(NULL, bob, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_new(&out, NULL, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_generate(NULL, 1, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_count(NULL), 0U);
    cr_assert_eq(secmsg_prekeys_rotate_signed(NULL, bob, 9), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_rotate_signed(pk, NULL, 9), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_bundle(NULL, bob, 0, buf, sizeof buf, &n), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_bundle(pk, NULL, 0, buf, sizeof buf, &n), SECMSG_E_INVALID_ARG);
    n = 0;
    t_assert_null_out(secmsg_prekeys_bundle(pk, bob, 0, NULL, sizeof buf, &n), &n, n_plain,
                      "prekeys_bundle");
    cr_assert_eq(secmsg_prekeys_bundle(pk, bob, 0, buf, sizeof buf, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_serialize(NULL, buf, sizeof buf, &n), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_serialize(pk, buf, sizeof buf, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_deserialize(NULL, buf, n), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_prekeys_deserialize(&out, NULL, 10), SECMSG_E_INVALID_ARG);
    cr_assert_null(out);
    secmsg_prekeys_free(NULL);
    cr_assert_eq(secmsg_prekeys_count(pk), 2U);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(bob), secmsg_identity_free(eve);
}

/* Flips every bit of the length-delimited field at `path` in a real bundle
 * and asserts initiate rejects it with `err` (any error if 0) and no session. */
static void flip_field_bits(const t_bytes *bundle, const secmsg_identity *alice,
                            const uint32_t *path, size_t depth, int err)
{
    size_t off, n;
    t_pb_find(bundle->data, bundle->len, path, depth, &off, &n);
    cr_assert(n > 0);
    t_bytes b = t_bytes_copy(bundle->data, bundle->len);
    for (size_t bit = off * 8; bit < (off + n) * 8; bit++) {
        b.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        secmsg_session *s = NULL;
        int rc = secmsg_session_initiate(&s, alice, b.data, b.len);
        /* Bit 255 of an X25519 key makes it non-canonical: MALFORMED first. */
        if (err && !(n == 32 && bit - off * 8 == 255 && rc == SECMSG_E_MALFORMED))
            cr_assert_eq(rc, err, "field %u bit %zu: expected %s, got %s", path[depth - 1],
                         bit - off * 8, secmsg_strerror(err), secmsg_strerror(rc));
        else
            cr_assert_neq(rc, SECMSG_OK, "field %u bit %zu accepted", path[depth - 1],
                          bit - off * 8);
        cr_assert_null(s);
        b.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    t_bytes_free(&b);
}

/* A bundle whose signed prekey signature does not verify -- any bit of the
 * signature, of the signed prekey or of its id flipped -- is SIGNATURE. */
Test(prekey, bundle_signed_prekey_signature_checked)
{
    secmsg_identity *alice = t_identity(0xA1), *bob = t_identity(0xB0);
    secmsg_prekeys *pk = t_prekeys(bob, 0x01020304, 1);
    t_bytes bundle = t_bundle(pk, bob, 1);
    flip_field_bits(&bundle, alice, T_PATH(3, 3), SECMSG_E_SIGNATURE); /* sig */
    flip_field_bits(&bundle, alice, T_PATH(3, 2), SECMSG_E_SIGNATURE); /* pub */
    /* the id is a varint: a flip of its low 7 bits per byte keeps the encoding */
    size_t off, n;
    t_pb_find(bundle.data, bundle.len, T_PATH(3, 1), &off, &n);
    for (size_t i = off; i < off + n; i++)
        for (unsigned bit = 0; bit < 7; bit++) {
            bundle.data[i] ^= (uint8_t)(1U << bit);
            secmsg_session *s = NULL;
            int rc = secmsg_session_initiate(&s, alice, bundle.data, bundle.len);
            /* a zero last byte is a non-minimal varint a strict codec may refuse */
            if (i == off + n - 1 && bundle.data[i] == 0)
                cr_assert_neq(rc, SECMSG_OK);
            else
                cr_assert_eq(rc, SECMSG_E_SIGNATURE, "spk id byte %zu bit %u: %s", i - off, bit,
                             secmsg_strerror(rc));
            bundle.data[i] ^= (uint8_t)(1U << bit);
        }
    t_bytes_free(&bundle);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice), secmsg_identity_free(bob);
}

/* A bundle whose identity binding (the Ed25519 signature over the identity's
 * X25519 key) does not verify is SIGNATURE; a flipped signing key is rejected. */
Test(prekey, bundle_identity_binding_checked)
{
    secmsg_identity *alice = t_identity(0xA1), *bob = t_identity(0xB0);
    secmsg_prekeys *pk = t_prekeys(bob, 7, 0);
    t_bytes bundle = t_bundle(pk, bob, 0);
    flip_field_bits(&bundle, alice, T_PATH(2, 4), SECMSG_E_SIGNATURE); /* dh_sig */
    flip_field_bits(&bundle, alice, T_PATH(2, 3), SECMSG_E_SIGNATURE); /* dh_pub */
    flip_field_bits(&bundle, alice, T_PATH(2, 2), 0);                  /* sign_pub */
    t_bytes_free(&bundle);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice), secmsg_identity_free(bob);
}

/* Any single-bit flip anywhere in a bundle either fails initiate, or yields a
 * session whose peer is still Bob's real identity and whose initial message
 * Bob either accepts correctly or rejects without consuming anything: bundle
 * tampering never substitutes a key (only the unsigned one-time prekey can be
 * damaged, which X3DH tolerates by design). */
Test(prekey, bundle_any_bit_flip_never_substitutes_keys)
{
    secmsg_identity *alice = t_identity(0xA1), *bob = t_identity(0xB0);
    secmsg_prekeys *pk = t_prekeys(bob, 7, 2);
    t_bytes bundle = t_bundle(pk, bob, 2);
    t_bytes bob_pub = t_identity_pub(bob);
    t_bytes snapshot = t_prekeys_state(pk);
    size_t accepted = 0;
    for (size_t bit = 0; bit < bundle.len * 8; bit++) {
        bundle.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        secmsg_session *s = NULL;
        if (secmsg_session_initiate(&s, alice, bundle.data, bundle.len) == SECMSG_OK) {
            uint8_t remote[SECMSG_IDENTITY_PUBLIC_BYTES];
            size_t rn = 0;
            cr_assert_eq(secmsg_session_remote_identity(s, remote, sizeof remote, &rn), SECMSG_OK);
            cr_assert_eq(rn, bob_pub.len);
            cr_assert_arr_eq(remote, bob_pub.data, rn, "bit %zu changed the peer identity", bit);
            t_bytes m = t_send(s, T_DIR_AB, 0);
            secmsg_session *bs = NULL;
            if (accept_msg(&bs, bob, pk, &m) == SECMSG_OK) {
                secmsg_session_free(bs);
                secmsg_prekeys_free(pk);
                pk = NULL;
                cr_assert_eq(secmsg_prekeys_deserialize(&pk, snapshot.data, snapshot.len),
                             SECMSG_OK);
            }
            accepted++;
            t_bytes_free(&m);
            secmsg_session_free(s);
        }
        bundle.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    /* only bits of the one-time prekey part can pass (at most its id, key and
     * framing: 2 + 2 + 32 + 4 bytes) */
    cr_assert(accepted <= 40U * 8U, "%zu flips accepted", accepted);
    t_bytes_free(&bundle), t_bytes_free(&bob_pub), t_bytes_free(&snapshot);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice), secmsg_identity_free(bob);
}
