/* Identities: deterministic derivation, persistence, fingerprints and
 * safety numbers, and rejection of tampered identity publics. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

TestSuite(identity, .init = t_setup);

static t_bytes identity_private(const secmsg_identity *id)
{
    uint8_t buf[SECMSG_IDENTITY_PRIVATE_BYTES];
    size_t n = 0;
    cr_assert_eq(secmsg_identity_serialize(id, buf, sizeof buf, &n), SECMSG_OK);
    cr_assert_eq(n, SECMSG_IDENTITY_PRIVATE_BYTES);
    return t_bytes_copy(buf, n);
}

static void fingerprint(uint8_t out[SECMSG_FINGERPRINT_BYTES], const t_bytes *pub)
{
    cr_assert_eq(secmsg_identity_fingerprint(out, pub->data, pub->len), SECMSG_OK);
}

/* from_seed is a pure function of the seed: equal seeds give equal public and
 * private encodings, different seeds different ones. */
Test(identity, from_seed_is_deterministic)
{
    secmsg_identity *a = t_identity(1), *a2 = t_identity(1), *b = t_identity(2);
    t_bytes pa = t_identity_pub(a), pa2 = t_identity_pub(a2), pb = t_identity_pub(b);
    t_bytes sa = identity_private(a), sa2 = identity_private(a2), sb = identity_private(b);
    t_assert_same_bytes(&pa, &pa2, "public of equal seeds");
    t_assert_same_bytes(&sa, &sa2, "private of equal seeds");
    cr_assert(memcmp(pa.data, pb.data, pa.len) != 0, "different seeds, same public");
    cr_assert(memcmp(sa.data, sb.data, sa.len) != 0, "different seeds, same private");
    cr_assert_eq(secmsg_identity_public_verify(pa.data, pa.len), SECMSG_OK);
    t_bytes_free(&pa), t_bytes_free(&pa2), t_bytes_free(&pb);
    t_bytes_free(&sa), t_bytes_free(&sa2), t_bytes_free(&sb);
    secmsg_identity_free(a), secmsg_identity_free(a2), secmsg_identity_free(b);
}

/* Generated identities are fresh (two never coincide) and self-consistent. */
Test(identity, generate_gives_distinct_valid_identities)
{
    secmsg_identity *a = NULL, *b = NULL;
    cr_assert_eq(secmsg_identity_generate(&a), SECMSG_OK);
    cr_assert_eq(secmsg_identity_generate(&b), SECMSG_OK);
    t_bytes pa = t_identity_pub(a), pb = t_identity_pub(b);
    cr_assert(memcmp(pa.data, pb.data, pa.len) != 0);
    cr_assert_eq(secmsg_identity_public_verify(pa.data, pa.len), SECMSG_OK);
    cr_assert_eq(secmsg_identity_public_verify(pb.data, pb.len), SECMSG_OK);
    t_bytes_free(&pa), t_bytes_free(&pb);
    secmsg_identity_free(a), secmsg_identity_free(b);
}

/* serialize/deserialize restores the same keys: same public, same private
 * encoding, and the restored identity still produces bundles that verify. */
Test(identity, serialize_round_trip)
{
    secmsg_identity *id = NULL, *back = NULL;
    cr_assert_eq(secmsg_identity_generate(&id), SECMSG_OK);
    t_bytes priv = identity_private(id), pub = t_identity_pub(id);
    cr_assert_eq(secmsg_identity_deserialize(&back, priv.data, priv.len), SECMSG_OK);
    t_bytes priv2 = identity_private(back), pub2 = t_identity_pub(back);
    t_assert_same_bytes(&priv, &priv2, "private after round trip");
    t_assert_same_bytes(&pub, &pub2, "public after round trip");

    secmsg_identity *alice = t_identity(0xA1);
    secmsg_prekeys *pk = t_prekeys(back, 5, 1);
    t_bytes bundle = t_bundle(pk, back, 1);
    secmsg_session *s = NULL;
    cr_assert_eq(secmsg_session_initiate(&s, alice, bundle.data, bundle.len), SECMSG_OK);

    secmsg_session_free(s);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice);
    t_bytes_free(&bundle), t_bytes_free(&priv), t_bytes_free(&pub);
    t_bytes_free(&priv2), t_bytes_free(&pub2);
    secmsg_identity_free(id), secmsg_identity_free(back);
}

/* Undersized output buffers report the exact size needed and write nothing
 * usable; NULL arguments are INVALID_ARG. */
Test(identity, buffer_sizes_and_null_args)
{
    secmsg_identity *id = t_identity(3);
    uint8_t buf[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t n = 0;
    cr_assert_eq(secmsg_identity_public(id, buf, sizeof buf - 1, &n), SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(n, SECMSG_IDENTITY_PUBLIC_BYTES);
    n = 0;
    cr_assert_eq(secmsg_identity_serialize(id, buf, SECMSG_IDENTITY_PRIVATE_BYTES - 1, &n),
                 SECMSG_E_BUFFER_TOO_SMALL);
    cr_assert_eq(n, SECMSG_IDENTITY_PRIVATE_BYTES);

    cr_assert_eq(secmsg_identity_generate(NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_identity_from_seed(NULL, buf), SECMSG_E_INVALID_ARG);
    secmsg_identity *out = NULL;
    cr_assert_eq(secmsg_identity_from_seed(&out, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_null(out);
    cr_assert_eq(secmsg_identity_public(NULL, buf, sizeof buf, &n), SECMSG_E_INVALID_ARG);
    n = 0;
    t_assert_null_out(secmsg_identity_public(id, NULL, sizeof buf, &n), &n,
                      SECMSG_IDENTITY_PUBLIC_BYTES, "identity_public");
    cr_assert_eq(secmsg_identity_public(id, buf, sizeof buf, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_identity_serialize(NULL, buf, sizeof buf, &n), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_identity_serialize(id, buf, sizeof buf, NULL), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_identity_deserialize(NULL, buf, sizeof buf), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_identity_deserialize(&out, NULL, 70), SECMSG_E_INVALID_ARG);
    cr_assert_null(out);
    cr_assert_eq(secmsg_identity_public_verify(NULL, SECMSG_IDENTITY_PUBLIC_BYTES),
                 SECMSG_E_INVALID_ARG);
    uint8_t fp[SECMSG_FINGERPRINT_BYTES];
    cr_assert_eq(secmsg_identity_fingerprint(fp, NULL, 136), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg_identity_fingerprint(NULL, buf, sizeof buf), SECMSG_E_INVALID_ARG);
    secmsg_identity_free(NULL);
    secmsg_identity_free(id);
}

/* Fingerprints: a function of the identity public (stable), different for
 * different identities. */
Test(identity, fingerprints_differ)
{
    secmsg_identity *a = t_identity(10), *b = t_identity(11);
    t_bytes pa = t_identity_pub(a), pb = t_identity_pub(b);
    uint8_t fa[SECMSG_FINGERPRINT_BYTES], fa2[SECMSG_FINGERPRINT_BYTES],
        fb[SECMSG_FINGERPRINT_BYTES];
    fingerprint(fa, &pa);
    fingerprint(fa2, &pa);
    fingerprint(fb, &pb);
    cr_assert_arr_eq(fa, fa2, sizeof fa);
    cr_assert(memcmp(fa, fb, sizeof fa) != 0);
    t_bytes_free(&pa), t_bytes_free(&pb);
    secmsg_identity_free(a), secmsg_identity_free(b);
}

/* The safety number is 60 decimal digits plus NUL, the same for (a,b) and
 * (b,a), and different when one identity changes. */
Test(identity, safety_number_format_and_symmetry)
{
    secmsg_identity *a = t_identity(20), *b = t_identity(21), *c = t_identity(22);
    t_bytes pa = t_identity_pub(a), pb = t_identity_pub(b), pc = t_identity_pub(c);
    char ab[SECMSG_SAFETY_NUMBER_BYTES], ba[SECMSG_SAFETY_NUMBER_BYTES],
        ac[SECMSG_SAFETY_NUMBER_BYTES];
    memset(ab, 'x', sizeof ab);
    cr_assert_eq(secmsg_safety_number(ab, pa.data, pa.len, pb.data, pb.len), SECMSG_OK);
    cr_assert_eq(secmsg_safety_number(ba, pb.data, pb.len, pa.data, pa.len), SECMSG_OK);
    cr_assert_eq(secmsg_safety_number(ac, pa.data, pa.len, pc.data, pc.len), SECMSG_OK);
    cr_assert_eq(ab[60], '\0');
    cr_assert_eq(strlen(ab), 60U);
    for (size_t i = 0; i < 60; i++)
        cr_assert(ab[i] >= '0' && ab[i] <= '9', "non-digit at %zu", i);
    cr_assert_str_eq(ab, ba);
    cr_assert_str_neq(ab, ac);
    t_bytes_free(&pa), t_bytes_free(&pb), t_bytes_free(&pc);
    secmsg_identity_free(a), secmsg_identity_free(b), secmsg_identity_free(c);
}

/* The QR form is version byte + the two fingerprints in ascending order
 * (hence order-independent); verify accepts it for either order, rejects it
 * for another pair or after any bit flip (SIGNATURE), and checks version and
 * length (VERSION / MALFORMED). */
Test(identity, safety_qr_and_verify)
{
    secmsg_identity *a = t_identity(30), *b = t_identity(31), *c = t_identity(32);
    t_bytes pa = t_identity_pub(a), pb = t_identity_pub(b), pc = t_identity_pub(c);
    uint8_t ab[SECMSG_SAFETY_QR_BYTES + 1], ba[SECMSG_SAFETY_QR_BYTES];
    cr_assert_eq(secmsg_safety_qr(ab, pa.data, pa.len, pb.data, pb.len), SECMSG_OK);
    cr_assert_eq(secmsg_safety_qr(ba, pb.data, pb.len, pa.data, pa.len), SECMSG_OK);
    cr_assert_arr_eq(ab, ba, SECMSG_SAFETY_QR_BYTES);

    uint8_t fa[SECMSG_FINGERPRINT_BYTES], fb[SECMSG_FINGERPRINT_BYTES];
    fingerprint(fa, &pa);
    fingerprint(fb, &pb);
    const uint8_t *lo = memcmp(fa, fb, sizeof fa) < 0 ? fa : fb;
    const uint8_t *hi = lo == fa ? fb : fa;
    cr_assert_arr_eq(ab + 1, lo, SECMSG_FINGERPRINT_BYTES);
    cr_assert_arr_eq(ab + 1 + SECMSG_FINGERPRINT_BYTES, hi, SECMSG_FINGERPRINT_BYTES);

    const size_t q = SECMSG_SAFETY_QR_BYTES;
    cr_assert_eq(secmsg_safety_qr_verify(ab, q, pa.data, pa.len, pb.data, pb.len), SECMSG_OK);
    cr_assert_eq(secmsg_safety_qr_verify(ab, q, pb.data, pb.len, pa.data, pa.len), SECMSG_OK);
    cr_assert_eq(secmsg_safety_qr_verify(ab, q, pa.data, pa.len, pc.data, pc.len),
                 SECMSG_E_SIGNATURE);
    /* one flipped bit in every fingerprint byte (each verify costs two
     * deliberately slow fingerprints, so not all 512 bits) */
    for (size_t i = 1; i < q; i++) {
        uint8_t mask = (uint8_t)(1U << (i % 8));
        ab[i] ^= mask;
        cr_assert_eq(secmsg_safety_qr_verify(ab, q, pa.data, pa.len, pb.data, pb.len),
                     SECMSG_E_SIGNATURE, "flipped byte %zu accepted", i);
        ab[i] ^= mask;
    }
    ab[0] ^= 0x40;
    cr_assert_eq(secmsg_safety_qr_verify(ab, q, pa.data, pa.len, pb.data, pb.len),
                 SECMSG_E_VERSION);
    ab[0] ^= 0x40;
    cr_assert_eq(secmsg_safety_qr_verify(ab, q - 1, pa.data, pa.len, pb.data, pb.len),
                 SECMSG_E_MALFORMED);
    ab[q] = 0;
    cr_assert_eq(secmsg_safety_qr_verify(ab, q + 1, pa.data, pa.len, pb.data, pb.len),
                 SECMSG_E_MALFORMED);
    t_bytes_free(&pa), t_bytes_free(&pb), t_bytes_free(&pc);
    secmsg_identity_free(a), secmsg_identity_free(b), secmsg_identity_free(c);
}

/* Every single-bit flip of a valid identity public is rejected by verify and
 * fingerprint (and, sampled, safety_number): no tampered identity is ever
 * displayed. */
Test(identity, public_verify_rejects_every_bit_flip)
{
    secmsg_identity *a = t_identity(40), *b = t_identity(41);
    t_bytes pa = t_identity_pub(a), pb = t_identity_pub(b);
    uint8_t fp[SECMSG_FINGERPRINT_BYTES];
    char sn[SECMSG_SAFETY_NUMBER_BYTES];
    for (size_t bit = 0; bit < pa.len * 8; bit++) {
        pa.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        int rc = secmsg_identity_public_verify(pa.data, pa.len);
        cr_assert_neq(rc, SECMSG_OK, "bit %zu: tampered identity verified", bit);
        cr_assert_eq(secmsg_identity_fingerprint(fp, pa.data, pa.len), rc, "bit %zu", bit);
        if (bit % 16 == 0) /* a valid other side costs a slow fingerprint */
            cr_assert_eq(secmsg_safety_number(sn, pb.data, pb.len, pa.data, pa.len), rc, "bit %zu",
                         bit);
        pa.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    cr_assert_eq(secmsg_identity_public_verify(pa.data, pa.len), SECMSG_OK);
    t_bytes_free(&pa), t_bytes_free(&pb);
    secmsg_identity_free(a), secmsg_identity_free(b);
}
