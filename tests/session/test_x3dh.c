/* X3DH session set-up through initiate/accept: both variants converse,
 * message routing via secmsg_message_info, and rejection of tampered or
 * truncated initial messages without consuming anything. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

TestSuite(x3dh, .init = t_setup);

static int message_type(const t_bytes *m)
{
    int type = 0;
    cr_assert_eq(secmsg_message_info(m->data, m->len, &type, NULL, 0, NULL), SECMSG_OK);
    return type;
}

static void assert_remote(const secmsg_session *s, const secmsg_identity *peer)
{
    t_bytes want = t_identity_pub(peer);
    uint8_t got[SECMSG_IDENTITY_PUBLIC_BYTES + 8];
    size_t n = 0;
    cr_assert_eq(secmsg_session_remote_identity(s, got, sizeof got, &n), SECMSG_OK);
    cr_assert_eq(n, want.len);
    cr_assert_arr_eq(got, want.data, n);
    t_bytes_free(&want);
}

/* Full set-up and a short conversation: Alice's messages are INITIAL until she
 * hears from Bob, then RATCHET; Bob's are always RATCHET; the first initial
 * message goes to accept, later ones to decrypt; each side knows the other's
 * identity; the one-time prekey (if any) is consumed once. */
static void converse(int use_otpk)
{
    t_pair p;
    t_pair_init(&p, use_otpk);
    t_bytes a[3];
    for (uint32_t i = 0; i < 3; i++) {
        a[i] = t_send(p.alice, T_DIR_AB, i);
        cr_assert_eq(message_type(&a[i]), SECMSG_MESSAGE_INITIAL);
    }
    t_pair_accept(&p, &a[0], T_DIR_AB, 0);
    cr_assert_eq(secmsg_prekeys_count(p.bob_pk), use_otpk ? 2U : 3U);
    t_recv(p.bob, &a[2], T_DIR_AB, 2);
    t_recv(p.bob, &a[1], T_DIR_AB, 1);
    assert_remote(p.alice, p.bob_id);
    assert_remote(p.bob, p.alice_id);

    for (uint32_t round = 0; round < 4; round++) {
        t_bytes b = t_send(p.bob, T_DIR_BA, round);
        cr_assert_eq(message_type(&b), SECMSG_MESSAGE_RATCHET);
        t_recv(p.alice, &b, T_DIR_BA, round);
        t_bytes m = t_send(p.alice, T_DIR_AB, 3 + round);
        cr_assert_eq(message_type(&m), SECMSG_MESSAGE_RATCHET);
        t_recv(p.bob, &m, T_DIR_AB, 3 + round);
        t_bytes_free(&b), t_bytes_free(&m);
    }
    for (uint32_t i = 0; i < 3; i++)
        t_bytes_free(&a[i]);
    t_pair_free(&p);
}

/* X3DH with a one-time prekey (4 DHs) establishes a working session. */
Test(x3dh, with_one_time_prekey)
{
    converse(1);
}

/* X3DH without a one-time prekey (3 DHs) establishes a working session. */
Test(x3dh, without_one_time_prekey)
{
    converse(0);
}

/* message_info: type and sender identity of an initial message, RATCHET for
 * a ratchet message, BUFFER_TOO_SMALL with the needed size. */
Test(x3dh, message_info_initial_and_ratchet)
{
    t_pair p;
    t_pair_establish(&p, 1);
    t_bytes alice_pub = t_identity_pub(p.alice_id);
    secmsg_session *s = NULL;
    t_bytes bundle = t_bundle(p.bob_pk, p.bob_id, 2);
    cr_assert_eq(secmsg_session_initiate(&s, p.alice_id, bundle.data, bundle.len), SECMSG_OK);
    t_bytes init = t_send(s, T_DIR_AB, 0);
    t_bytes ratchet = t_send(p.alice, T_DIR_AB, 1);

    int type = 0;
    uint8_t who[SECMSG_IDENTITY_PUBLIC_BYTES + 4];
    size_t who_len = 0;
    cr_assert_eq(secmsg_message_info(init.data, init.len, &type, who, sizeof who, &who_len),
                 SECMSG_OK);
    cr_assert_eq(type, SECMSG_MESSAGE_INITIAL);
    cr_assert_eq(who_len, alice_pub.len);
    cr_assert_arr_eq(who, alice_pub.data, who_len);
    who_len = 0;
    cr_assert_eq(secmsg_message_info(init.data, init.len, &type, who,
                                     SECMSG_IDENTITY_PUBLIC_BYTES - 1, &who_len),
                 SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(who_len, SECMSG_IDENTITY_PUBLIC_BYTES);

    type = 0;
    cr_assert_eq(secmsg_message_info(ratchet.data, ratchet.len, &type, who, sizeof who, &who_len),
                 SECMSG_OK);
    cr_assert_eq(type, SECMSG_MESSAGE_RATCHET);
    cr_assert_eq(secmsg_message_info(NULL, init.len, &type, NULL, 0, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_message_info(init.data, init.len, NULL, NULL, 0, NULL),
                 SECMSG_E_INVALID_ARG);

    t_bytes_free(&alice_pub), t_bytes_free(&bundle), t_bytes_free(&init);
    t_bytes_free(&ratchet);
    secmsg_session_free(s);
    t_pair_free(&p);
}

/* Accepts a (possibly damaged) message as Bob; a failure must change nothing
 * (checked by t_accept), and Bob's prekeys must still be `snapshot`. */
static int accept_unchanged(t_pair *p, const uint8_t *m, size_t len, const t_bytes *snapshot)
{
    int rc = t_accept(NULL, p->bob_id, p->bob_pk, m, len, NULL);
    if (rc != SECMSG_OK) {
        t_bytes now = t_prekeys_state(p->bob_pk);
        t_assert_same_bytes(snapshot, &now, "prekeys after a failed accept");
        t_bytes_free(&now);
    }
    return rc;
}

/* Every single-bit flip of an initial message is rejected by accept and
 * consumes nothing; the intact message is accepted afterwards. (Bit 255 of
 * the ephemeral key, ignored by X25519, is caught by the codec's canonical
 * key check; the wire suite tests it separately too.) */
Test(x3dh, accept_rejects_every_bit_flip)
{
    t_pair p;
    t_pair_init(&p, 1);
    t_bytes m = t_send(p.alice, T_DIR_AB, 0);
    t_bytes snap = t_prekeys_state(p.bob_pk);
    for (size_t bit = 0; bit < m.len * 8; bit++) {
        m.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        int rc = accept_unchanged(&p, m.data, m.len, &snap);
        cr_assert_neq(rc, SECMSG_OK, "bit %zu of %zu flipped, accepted", bit, m.len * 8);
        m.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    cr_assert_eq(accept_unchanged(&p, m.data, m.len, &snap), SECMSG_OK);
    t_bytes_free(&m), t_bytes_free(&snap);
    t_pair_free(&p);
}

/* Every proper prefix of an initial message is rejected by accept (MALFORMED
 * or DECRYPT, INVALID_ARG for the empty one) and consumes nothing. */
Test(x3dh, accept_rejects_every_truncation)
{
    t_pair p;
    t_pair_init(&p, 1);
    t_bytes m = t_send(p.alice, T_DIR_AB, 0);
    t_bytes snap = t_prekeys_state(p.bob_pk);
    for (size_t len = 0; len < m.len; len++) {
        int rc = accept_unchanged(&p, m.data, len, &snap);
        /* the prefix without the prekey part is a well-formed ratchet message,
         * which accept may refuse with any error */
        int type = 0;
        if (len > 0 && secmsg_message_info(m.data, len, &type, NULL, 0, NULL) == SECMSG_OK) {
            cr_assert_eq(type, SECMSG_MESSAGE_RATCHET, "prefix %zu parses as initial", len);
            cr_assert_neq(rc, SECMSG_OK);
            continue;
        }
        cr_assert(rc == SECMSG_E_MALFORMED || rc == SECMSG_E_DECRYPT ||
                      (len == 0 && rc == SECMSG_E_INVALID_ARG),
                  "prefix %zu/%zu: %s", len, m.len, secmsg_strerror(rc));
    }
    t_bytes_free(&m), t_bytes_free(&snap);
    t_pair_free(&p);
}

/* An initial message whose sender identity binding does not verify is
 * SIGNATURE at accept; one naming a prekey Bob does not have (signed or
 * one-time) is UNKNOWN_PREKEY. */
Test(x3dh, accept_checks_sender_binding_and_prekey_ids)
{
    t_pair p;
    t_pair_init(&p, 1);
    t_bytes m = t_send(p.alice, T_DIR_AB, 0);
    t_bytes snap = t_prekeys_state(p.bob_pk);
    size_t off, n;
    t_pb_find(m.data, m.len, T_PATH(4, 1, 4), &off, &n); /* prekey.identity.dh_sig */
    for (size_t bit = off * 8; bit < (off + n) * 8; bit++) {
        m.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        cr_assert_eq(accept_unchanged(&p, m.data, m.len, &snap), SECMSG_E_SIGNATURE);
        m.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    t_bytes wrong_spk = t_pb_set_varint(m.data, m.len, T_PATH(4, 3), 8);
    cr_assert_eq(accept_unchanged(&p, wrong_spk.data, wrong_spk.len, &snap),
                 SECMSG_E_UNKNOWN_PREKEY);
    t_bytes wrong_otpk = t_pb_set_varint(m.data, m.len, T_PATH(4, 4), 77);
    cr_assert_eq(accept_unchanged(&p, wrong_otpk.data, wrong_otpk.len, &snap),
                 SECMSG_E_UNKNOWN_PREKEY);
    /* naming another of Bob's one-time prekeys: X3DH keys differ */
    t_bytes other_otpk = t_pb_set_varint(m.data, m.len, T_PATH(4, 4), 2);
    cr_assert_eq(accept_unchanged(&p, other_otpk.data, other_otpk.len, &snap), SECMSG_E_DECRYPT);
    cr_assert_eq(accept_unchanged(&p, m.data, m.len, &snap), SECMSG_OK);
    t_bytes_free(&m), t_bytes_free(&snap), t_bytes_free(&wrong_spk);
    t_bytes_free(&wrong_otpk), t_bytes_free(&other_otpk);
    t_pair_free(&p);
}

/* An initial message for Bob cannot be accepted by Carol (her keys do not
 * match), and a ratchet message is not an initial message. */
Test(x3dh, accept_rejects_foreign_and_ratchet_messages)
{
    t_pair p;
    t_pair_establish(&p, 0);
    secmsg_identity *carol = t_identity(0xC0);
    secmsg_prekeys *cpk = t_prekeys(carol, 7, 3);
    secmsg_session *as = NULL;
    t_bytes bundle = t_bundle(p.bob_pk, p.bob_id, 1);
    cr_assert_eq(secmsg_session_initiate(&as, p.alice_id, bundle.data, bundle.len), SECMSG_OK);
    t_bytes init = t_send(as, T_DIR_AB, 0);
    cr_assert_neq(t_accept(NULL, carol, cpk, init.data, init.len, NULL), SECMSG_OK);

    t_bytes ratchet = t_send(p.alice, T_DIR_AB, 1);
    t_bytes bsnap = t_prekeys_state(p.bob_pk);
    cr_assert_neq(accept_unchanged(&p, ratchet.data, ratchet.len, &bsnap), SECMSG_OK);

    t_bytes_free(&bundle), t_bytes_free(&init), t_bytes_free(&ratchet), t_bytes_free(&bsnap);
    secmsg_session_free(as);
    secmsg_prekeys_free(cpk);
    secmsg_identity_free(carol);
    t_pair_free(&p);
}

/* accept with pt_cap too small is BUFFER_TOO_SMALL with the needed size and
 * changes nothing; pt_cap == msg_len is always enough. */
Test(x3dh, accept_buffer_too_small)
{
    t_pair p;
    t_pair_init(&p, 1);
    uint8_t msgpt[100];
    memset(msgpt, 0x5A, sizeof msgpt);
    t_bytes m = t_encrypt(p.alice, msgpt, sizeof msgpt);
    t_bytes snap = t_prekeys_state(p.bob_pk);
    uint8_t pt[1024];
    size_t pt_len = 0;
    secmsg_session *s = NULL;
    cr_assert_eq(
        secmsg_session_accept(&s, p.bob_id, p.bob_pk, m.data, m.len, pt, sizeof msgpt - 1, &pt_len),
        SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_null(s);
    cr_assert_eq(pt_len, sizeof msgpt);
    t_bytes now = t_prekeys_state(p.bob_pk);
    t_assert_same_bytes(&snap, &now, "prekeys after BUFFER_TOO_SMALL");
    cr_assert(m.len <= sizeof pt);
    cr_assert_eq(secmsg_session_accept(&s, p.bob_id, p.bob_pk, m.data, m.len, pt, m.len, &pt_len),
                 SECMSG_OK);
    cr_assert_eq(pt_len, sizeof msgpt);
    cr_assert_arr_eq(pt, msgpt, sizeof msgpt);
    secmsg_session_free(s);
    t_bytes_free(&m), t_bytes_free(&snap), t_bytes_free(&now);
    t_pair_free(&p);
}

/* NULL arguments to initiate and accept are INVALID_ARG with no output. */
Test(x3dh, null_arguments)
{
    t_pair p;
    t_pair_init(&p, 0);
    t_bytes bundle = t_bundle(p.bob_pk, p.bob_id, 0);
    t_bytes m = t_send(p.alice, T_DIR_AB, 0);
    secmsg_session *s = NULL;
    uint8_t pt[1024];
    size_t pt_len = 0;
    cr_assert_eq(secmsg_session_initiate(NULL, p.alice_id, bundle.data, bundle.len),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_initiate(&s, NULL, bundle.data, bundle.len), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_initiate(&s, p.alice_id, NULL, bundle.len), SECMSG_E_INVALID_ARG);
    cr_assert_null(s);
    cr_assert_eq(
        secmsg_session_accept(NULL, p.bob_id, p.bob_pk, m.data, m.len, pt, sizeof pt, &pt_len),
        SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_accept(&s, NULL, p.bob_pk, m.data, m.len, pt, sizeof pt, &pt_len),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_accept(&s, p.bob_id, NULL, m.data, m.len, pt, sizeof pt, &pt_len),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_session_accept(&s, p.bob_id, p.bob_pk, NULL, m.len, pt, sizeof pt, &pt_len),
                 SECMSG_E_INVALID_ARG);
    uint8_t want[T_PT_MAX];
    pt_len = 0;
    t_assert_null_out(
        secmsg_session_accept(&s, p.bob_id, p.bob_pk, m.data, m.len, NULL, sizeof pt, &pt_len),
        &pt_len, t_plaintext(want, sizeof want, T_DIR_AB, 0), "accept");
    cr_assert_eq(secmsg_session_accept(&s, p.bob_id, p.bob_pk, m.data, m.len, pt, sizeof pt, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_assert_null(s);
    cr_assert_eq(secmsg_prekeys_count(p.bob_pk), 3U);
    t_bytes_free(&bundle), t_bytes_free(&m);
    t_pair_free(&p);
}
