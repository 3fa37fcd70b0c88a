/*
 * Tests for libsecmsg/src/crypto/: HMAC-SHA256 and HKDF-SHA256 (kdf.h) and
 * HPKE (hpke.h).
 *
 * Known answers come from the RFCs: RFC 4231 (HMAC), RFC 5869 (HKDF), typed
 * in below, and RFC 9180 appendix A.2 (HPKE), read from
 * $SECMSG_TEST_DATA/rfc9180-x25519-sha256-chacha20poly1305.json. Every field
 * of every HPKE vector is checked, intermediate values included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>

#include "crypto/hpke.h"
#include "crypto/kdf.h"
#include "secmsg/common.h"

#define VECTORS_FILE "rfc9180-x25519-sha256-chacha20poly1305.json"

static void suite_init(void)
{
    cr_assert_eq(secmsg_init(), SECMSG_OK);
}

TestSuite(hmac, .init = suite_init);
TestSuite(hkdf, .init = suite_init);
TestSuite(hpke_kat, .init = suite_init);
TestSuite(hpke, .init = suite_init);

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Decodes hex into a fresh heap buffer (never NULL, even for ""). */
static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t hex_len = strlen(hex);
    size_t bin_len = 0;
    uint8_t *bin;

    cr_assert_eq(hex_len % 2, 0, "odd-length hex: %s", hex);
    bin = malloc(hex_len / 2 + 1);
    cr_assert_not_null(bin);
    cr_assert_eq(sodium_hex2bin(bin, hex_len / 2 + 1, hex, hex_len, NULL, &bin_len, NULL), 0,
                 "bad hex: %s", hex);
    cr_assert_eq(bin_len, hex_len / 2);
    *len = bin_len;
    return bin;
}

/* Decodes hex that must be exactly len bytes into out. */
static void unhex_fixed(uint8_t *out, size_t len, const char *hex)
{
    size_t got = 0;
    uint8_t *bin = unhex(hex, &got);

    cr_assert_eq(got, len, "expected %zu bytes of hex, got %zu", len, got);
    memcpy(out, bin, len);
    free(bin);
}

/* Asserts got[0..len) equals the hex string, showing both in hex if not. */
static void expect_hex(const char *what, const uint8_t *got, size_t len, const char *hex)
{
    char *got_hex = malloc(2 * len + 1);

    cr_assert_not_null(got_hex);
    sodium_bin2hex(got_hex, 2 * len + 1, got, len);
    cr_expect_str_eq(got_hex, hex, "%s\n  got  %s\n  want %s", what, got_hex, hex);
    free(got_hex);
}

static int all_zero(const uint8_t *p, size_t len)
{
    return sodium_is_zero(p, len) == 1;
}

/* ------------------------------------------------------------------------
 * HMAC-SHA256, RFC 4231 section 4
 * ------------------------------------------------------------------------ */

static void hmac_case(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                      const char *expected_hex)
{
    uint8_t mac[SECMSG__SHA256_BYTES];

    secmsg__hmac_sha256(mac, key, key_len, msg, msg_len);
    /* Case 5 specifies only the first 128 bits. */
    expect_hex("HMAC-SHA256", mac, strlen(expected_hex) / 2, expected_hex);
}

Test(hmac, rfc4231_case1)
{
    uint8_t key[20];
    static const char msg[] = "Hi There";

    memset(key, 0x0b, sizeof key);
    hmac_case(key, sizeof key, (const uint8_t *)msg, strlen(msg),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

Test(hmac, rfc4231_case2)
{
    static const char key[] = "Jefe";
    static const char msg[] = "what do ya want for nothing?";

    hmac_case((const uint8_t *)key, strlen(key), (const uint8_t *)msg, strlen(msg),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(hmac, rfc4231_case3)
{
    uint8_t key[20];
    uint8_t msg[50];

    memset(key, 0xaa, sizeof key);
    memset(msg, 0xdd, sizeof msg);
    hmac_case(key, sizeof key, msg, sizeof msg,
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

Test(hmac, rfc4231_case4)
{
    uint8_t key[25];
    uint8_t msg[50];
    size_t i;

    for (i = 0; i < sizeof key; i++) {
        key[i] = (uint8_t)(i + 1);
    }
    memset(msg, 0xcd, sizeof msg);
    hmac_case(key, sizeof key, msg, sizeof msg,
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

Test(hmac, rfc4231_case5_truncated)
{
    uint8_t key[20];
    static const char msg[] = "Test With Truncation";

    memset(key, 0x0c, sizeof key);
    hmac_case(key, sizeof key, (const uint8_t *)msg, strlen(msg),
              "a3b6167473100ee06e0c796c2955552b");
}

Test(hmac, rfc4231_case6_long_key)
{
    uint8_t key[131];
    static const char msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";

    memset(key, 0xaa, sizeof key);
    hmac_case(key, sizeof key, (const uint8_t *)msg, strlen(msg),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(hmac, rfc4231_case7_long_key_and_data)
{
    uint8_t key[131];
    static const char msg[] =
        "This is a test using a larger than block-size key and a larger than block-size "
        "data. The key needs to be hashed before being used by the HMAC algorithm.";

    memset(key, 0xaa, sizeof key);
    hmac_case(key, sizeof key, (const uint8_t *)msg, strlen(msg),
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

Test(hmac, empty_key_and_message)
{
    uint8_t zero_key[64] = { 0 };
    uint8_t a[SECMSG__SHA256_BYTES];
    uint8_t b[SECMSG__SHA256_BYTES];

    /* HMAC pads the key with zeros: no key, an empty key and a zero block
     * key are the same key. */
    secmsg__hmac_sha256(a, NULL, 0, NULL, 0);
    secmsg__hmac_sha256(b, zero_key, sizeof zero_key, NULL, 0);
    cr_expect_arr_eq(a, b, sizeof a);
    expect_hex("HMAC(\"\", \"\")", a, sizeof a,
               "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* ------------------------------------------------------------------------
 * HKDF-SHA256, RFC 5869 appendix A.1-A.3
 * ------------------------------------------------------------------------ */

static void hkdf_case(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                      const uint8_t *info, size_t info_len, const char *prk_hex,
                      const char *okm_hex)
{
    uint8_t prk[SECMSG__SHA256_BYTES];
    size_t okm_len = strlen(okm_hex) / 2;
    uint8_t okm[128];

    cr_assert_leq(okm_len, sizeof okm);
    secmsg__hkdf_extract(prk, salt, salt_len, ikm, ikm_len);
    expect_hex("PRK", prk, sizeof prk, prk_hex);

    cr_assert_eq(secmsg__hkdf_expand(okm, okm_len, prk, info, info_len), 0);
    expect_hex("OKM (expand)", okm, okm_len, okm_hex);

    memset(okm, 0, sizeof okm);
    cr_assert_eq(secmsg__hkdf(okm, okm_len, salt, salt_len, ikm, ikm_len, info, info_len), 0);
    expect_hex("OKM (hkdf)", okm, okm_len, okm_hex);
}

Test(hkdf, rfc5869_case1)
{
    uint8_t ikm[22], salt[13], info[10];
    size_t i;

    memset(ikm, 0x0b, sizeof ikm);
    for (i = 0; i < sizeof salt; i++) {
        salt[i] = (uint8_t)i;
    }
    for (i = 0; i < sizeof info; i++) {
        info[i] = (uint8_t)(0xf0 + i);
    }
    hkdf_case(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info,
              "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
              "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
              "34007208d5b887185865");
}

Test(hkdf, rfc5869_case2_long_inputs)
{
    uint8_t ikm[80], salt[80], info[80];
    size_t i;

    for (i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    hkdf_case(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info,
              "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
              "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
              "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
              "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

Test(hkdf, rfc5869_case3_no_salt_no_info)
{
    uint8_t ikm[22];
    uint8_t zero_salt[SECMSG__SHA256_BYTES] = { 0 };
    static const char prk_hex[] =
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04";
    static const char okm_hex[] = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c73"
                                  "8d2d9d201395faa4b61a96c8";

    memset(ikm, 0x0b, sizeof ikm);
    /* Absent salt three ways: NULL, empty, HashLen zeros (RFC 5869, 2.2). */
    hkdf_case(NULL, 0, ikm, sizeof ikm, NULL, 0, prk_hex, okm_hex);
    hkdf_case(zero_salt, 0, ikm, sizeof ikm, NULL, 0, prk_hex, okm_hex);
    hkdf_case(zero_salt, sizeof zero_salt, ikm, sizeof ikm, NULL, 0, prk_hex, okm_hex);
}

Test(hkdf, expand_length_limits)
{
    uint8_t prk[SECMSG__SHA256_BYTES];
    static uint8_t out[SECMSG__HKDF_MAX_OUT + 1];

    memset(prk, 0x42, sizeof prk);
    memset(out, 0xa5, sizeof out);
    cr_expect_eq(secmsg__hkdf_expand(out, 0, prk, NULL, 0), -1);
    cr_expect_eq(secmsg__hkdf_expand(out, SECMSG__HKDF_MAX_OUT + 1, prk, NULL, 0), -1);
    cr_expect_eq(secmsg__hkdf(out, SECMSG__HKDF_MAX_OUT + 1, NULL, 0, prk, 1, NULL, 0), -1);
    /* A refused call leaves the output untouched. */
    for (size_t i = 0; i < sizeof out; i++) {
        cr_assert_eq(out[i], 0xa5, "byte %zu changed", i);
    }
    cr_expect_eq(secmsg__hkdf_expand(out, SECMSG__HKDF_MAX_OUT, prk, NULL, 0), 0);
    cr_expect_eq(out[SECMSG__HKDF_MAX_OUT], 0xa5, "wrote past out_len");
}

Test(hkdf, shorter_output_is_prefix_of_longer)
{
    uint8_t prk[SECMSG__SHA256_BYTES];
    static uint8_t full[SECMSG__HKDF_MAX_OUT];
    uint8_t part[100];
    static const uint8_t info[] = "prefix property";
    size_t lens[] = { 1, 31, 32, 33, 64, 65, 100 };

    randombytes_buf(prk, sizeof prk);
    cr_assert_eq(secmsg__hkdf_expand(full, sizeof full, prk, info, sizeof info), 0);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        cr_assert_eq(secmsg__hkdf_expand(part, lens[i], prk, info, sizeof info), 0);
        cr_expect_arr_eq(part, full, lens[i], "L=%zu", lens[i]);
    }
}

Test(hkdf, expand_output_may_alias_prk)
{
    uint8_t prk[SECMSG__SHA256_BYTES];
    uint8_t expected[SECMSG__SHA256_BYTES];
    uint8_t buf[SECMSG__SHA256_BYTES];

    randombytes_buf(prk, sizeof prk);
    memcpy(buf, prk, sizeof prk);
    cr_assert_eq(secmsg__hkdf_expand(expected, sizeof expected, prk, NULL, 0), 0);
    cr_assert_eq(secmsg__hkdf_expand(buf, sizeof buf, buf, NULL, 0), 0);
    cr_expect_arr_eq(buf, expected, sizeof buf);
}

/* ------------------------------------------------------------------------
 * HPKE known answers, RFC 9180 appendix A.2 (all four modes)
 * ------------------------------------------------------------------------ */

static json_t *load_vectors(void)
{
    const char *dir = getenv("SECMSG_TEST_DATA");
    char path[4096];
    json_error_t err;
    json_t *root;

    cr_assert_not_null(dir, "SECMSG_TEST_DATA is not set");
    cr_assert_lt((size_t)snprintf(path, sizeof path, "%s/%s", dir, VECTORS_FILE), sizeof path);
    root = json_load_file(path, 0, &err);
    cr_assert_not_null(root, "%s:%d: %s", path, err.line, err.text);
    cr_assert(json_is_array(json_object_get(root, "vectors")), "%s: no \"vectors\" array", path);
    return root;
}

static const char *str_field(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));

    cr_assert_not_null(s, "vector lacks string field \"%s\"", name);
    return s;
}

/* A number, whether the file has it as a JSON integer or a decimal string. */
static long long int_field(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    char *end = NULL;
    long long n;

    cr_assert_not_null(v, "vector lacks field \"%s\"", name);
    if (json_is_integer(v)) {
        return json_integer_value(v);
    }
    cr_assert(json_is_string(v), "field \"%s\" is neither integer nor string", name);
    n = strtoll(json_string_value(v), &end, 10);
    cr_assert(end != NULL && *end == '\0', "field \"%s\" is not a number", name);
    return n;
}

static json_t *vector_for_mode(const json_t *root, long long mode)
{
    const json_t *vectors = json_object_get(root, "vectors");
    size_t i;
    json_t *v;

    json_array_foreach(vectors, i, v) {
        if (int_field(v, "mode") == mode) {
            return v;
        }
    }
    cr_assert_fail("no vector for mode %lld", mode);
    return NULL;
}

/* The fixed-size fields of one vector, decoded. */
typedef struct kat {
    secmsg__hpke_mode mode;
    int auth;
    uint8_t sk_r[SECMSG__HPKE_SECRETKEYBYTES], pk_r[SECMSG__HPKE_PUBLICKEYBYTES];
    uint8_t sk_s[SECMSG__HPKE_SECRETKEYBYTES], pk_s[SECMSG__HPKE_PUBLICKEYBYTES];
    uint8_t *info, *ikm_e, *psk, *psk_id;
    size_t info_len, ikm_e_len, psk_len, psk_id_len;
    secmsg__hpke_psk psk_in;
    const secmsg__hpke_psk *pskp;
} kat;

static void kat_load(kat *k, const json_t *v)
{
    memset(k, 0, sizeof *k);
    k->mode = (secmsg__hpke_mode)int_field(v, "mode");
    k->auth = k->mode == SECMSG__HPKE_MODE_AUTH || k->mode == SECMSG__HPKE_MODE_AUTH_PSK;
    unhex_fixed(k->sk_r, sizeof k->sk_r, str_field(v, "skRm"));
    unhex_fixed(k->pk_r, sizeof k->pk_r, str_field(v, "pkRm"));
    if (k->auth) {
        unhex_fixed(k->sk_s, sizeof k->sk_s, str_field(v, "skSm"));
        unhex_fixed(k->pk_s, sizeof k->pk_s, str_field(v, "pkSm"));
    }
    k->info = unhex(str_field(v, "info"), &k->info_len);
    k->ikm_e = unhex(str_field(v, "ikmE"), &k->ikm_e_len);
    if (k->mode == SECMSG__HPKE_MODE_PSK || k->mode == SECMSG__HPKE_MODE_AUTH_PSK) {
        k->psk = unhex(str_field(v, "psk"), &k->psk_len);
        k->psk_id = unhex(str_field(v, "psk_id"), &k->psk_id_len);
        k->psk_in.psk = k->psk;
        k->psk_in.psk_len = k->psk_len;
        k->psk_in.psk_id = k->psk_id;
        k->psk_in.psk_id_len = k->psk_id_len;
        k->pskp = &k->psk_in;
    } else {
        cr_assert_null(json_object_get(v, "psk"), "psk in a non-psk mode vector");
    }
}

static void kat_free(kat *k)
{
    free(k->info);
    free(k->ikm_e);
    free(k->psk);
    free(k->psk_id);
    sodium_memzero(k, sizeof *k);
}

static void check_derive_keypair(const json_t *v, const char *ikm_name, const char *pk_name,
                                 const char *sk_name)
{
    uint8_t pk[SECMSG__HPKE_PUBLICKEYBYTES], sk[SECMSG__HPKE_SECRETKEYBYTES];
    size_t ikm_len = 0;
    uint8_t *ikm = unhex(str_field(v, ikm_name), &ikm_len);

    cr_assert_eq(secmsg__hpke_derive_keypair(pk, sk, ikm, ikm_len), SECMSG_OK, "%s", ikm_name);
    expect_hex(sk_name, sk, sizeof sk, str_field(v, sk_name));
    expect_hex(pk_name, pk, sizeof pk, str_field(v, pk_name));
    free(ikm);
}

/* Seals a throwaway message on s and opens it on r, for the sequence numbers
 * the vectors skip (they list 0, 1, 2, 4, 255, 256). */
static void advance_to(secmsg__hpke_ctx *s, secmsg__hpke_ctx *r, uint64_t seq)
{
    static const uint8_t filler[] = "filler";
    uint8_t ct[sizeof filler + SECMSG__HPKE_ABYTES];
    uint8_t pt[sizeof filler];

    cr_assert_leq(s->seq, seq);
    while (s->seq < seq) {
        cr_assert_eq(secmsg__hpke_ctx_seal(s, ct, filler, sizeof filler, NULL, 0), SECMSG_OK);
        cr_assert_eq(secmsg__hpke_ctx_open(r, pt, ct, sizeof ct, NULL, 0), SECMSG_OK);
        cr_assert_arr_eq(pt, filler, sizeof filler);
    }
    cr_assert_eq(r->seq, seq);
}

static void check_ctx(const char *who, const secmsg__hpke_ctx *c, const json_t *v)
{
    char what[64];

    snprintf(what, sizeof what, "%s key", who);
    expect_hex(what, c->key, sizeof c->key, str_field(v, "key"));
    snprintf(what, sizeof what, "%s base_nonce", who);
    expect_hex(what, c->base_nonce, sizeof c->base_nonce, str_field(v, "base_nonce"));
    snprintf(what, sizeof what, "%s exporter_secret", who);
    expect_hex(what, c->exporter_secret, sizeof c->exporter_secret,
               str_field(v, "exporter_secret"));
    cr_expect_eq(c->seq, 0);
}

static void check_vector(long long mode)
{
    json_t *root = load_vectors();
    const json_t *v = vector_for_mode(root, mode);
    uint8_t enc[SECMSG__HPKE_ENCBYTES], ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    uint8_t ksc[SECMSG__HPKE_KS_CONTEXTBYTES], secret[SECMSG__HPKE_SECRETBYTES];
    secmsg__hpke_ctx ks, s, r;
    const json_t *e;
    size_t i;
    kat k;

    cr_assert_eq(int_field(v, "kem_id"), SECMSG__HPKE_KEM_ID);
    cr_assert_eq(int_field(v, "kdf_id"), SECMSG__HPKE_KDF_ID);
    cr_assert_eq(int_field(v, "aead_id"), SECMSG__HPKE_AEAD_ID);
    kat_load(&k, v);

    /* DeriveKeyPair for every key pair in the vector. */
    check_derive_keypair(v, "ikmE", "pkEm", "skEm");
    check_derive_keypair(v, "ikmR", "pkRm", "skRm");
    if (k.auth) {
        check_derive_keypair(v, "ikmS", "pkSm", "skSm");
    } else {
        cr_assert_null(json_object_get(v, "ikmS"), "sender key in a non-auth vector");
    }
    cr_expect_str_eq(str_field(v, "enc"), str_field(v, "pkEm"));

    /* (Auth)Encap with the vector's ephemeral, and (Auth)Decap. */
    cr_assert_eq(secmsg__hpke_encap(ss, enc, k.pk_r, k.auth ? k.sk_s : NULL, k.ikm_e,
                                    k.ikm_e_len),
                 SECMSG_OK);
    expect_hex("encap enc", enc, sizeof enc, str_field(v, "enc"));
    expect_hex("encap shared_secret", ss, sizeof ss, str_field(v, "shared_secret"));
    memset(ss, 0, sizeof ss);
    cr_assert_eq(secmsg__hpke_decap(ss, enc, k.sk_r, k.auth ? k.pk_s : NULL), SECMSG_OK);
    expect_hex("decap shared_secret", ss, sizeof ss, str_field(v, "shared_secret"));

    /* KeySchedule, intermediate values included. */
    cr_assert_eq(secmsg__hpke_key_schedule(&ks, ksc, secret, SECMSG__HPKE_ROLE_SENDER, k.mode,
                                           k.info, k.info_len, ss, k.pskp),
                 SECMSG_OK);
    expect_hex("key_schedule_context", ksc, sizeof ksc, str_field(v, "key_schedule_context"));
    expect_hex("secret", secret, sizeof secret, str_field(v, "secret"));
    check_ctx("key_schedule", &ks, v);
    cr_expect_eq(ks.role, SECMSG__HPKE_ROLE_SENDER);
    secmsg__hpke_ctx_wipe(&ks);

    /* Setup on both sides. */
    memset(enc, 0, sizeof enc);
    cr_assert_eq(secmsg__hpke_setup_s(&s, enc, k.mode, k.info, k.info_len, k.pk_r,
                                      k.auth ? k.sk_s : NULL, k.pskp, k.ikm_e, k.ikm_e_len),
                 SECMSG_OK);
    expect_hex("setup_s enc", enc, sizeof enc, str_field(v, "enc"));
    check_ctx("sender", &s, v);
    cr_assert_eq(secmsg__hpke_setup_r(&r, k.mode, enc, k.info, k.info_len, k.sk_r,
                                      k.auth ? k.pk_s : NULL, k.pskp),
                 SECMSG_OK);
    check_ctx("receiver", &r, v);

    /* Every encryption, in sequence. */
    json_array_foreach(json_object_get(v, "encryptions"), i, e) {
        uint64_t seq = (uint64_t)int_field(e, "seq");
        uint8_t nonce[SECMSG__HPKE_NONCEBYTES];
        size_t pt_len = 0, aad_len = 0, ct_len = 0;
        uint8_t *pt = unhex(str_field(e, "pt"), &pt_len);
        uint8_t *aad = unhex(str_field(e, "aad"), &aad_len);
        uint8_t *want_ct = unhex(str_field(e, "ct"), &ct_len);
        uint8_t *ct = malloc(pt_len + SECMSG__HPKE_ABYTES);
        uint8_t *opened = malloc(pt_len + 1);

        cr_assert(ct != NULL && opened != NULL);
        cr_assert_eq(ct_len, pt_len + SECMSG__HPKE_ABYTES, "encryption %zu", i);
        advance_to(&s, &r, seq);
        secmsg__hpke_compute_nonce(nonce, s.base_nonce, s.seq);
        expect_hex("nonce", nonce, sizeof nonce, str_field(e, "nonce"));

        cr_assert_eq(secmsg__hpke_ctx_seal(&s, ct, pt, pt_len, aad, aad_len), SECMSG_OK);
        expect_hex("seal ct", ct, ct_len, str_field(e, "ct"));
        cr_assert_eq(secmsg__hpke_ctx_open(&r, opened, want_ct, ct_len, aad, aad_len),
                     SECMSG_OK, "open, seq %llu", (unsigned long long)seq);
        expect_hex("open pt", opened, pt_len, str_field(e, "pt"));
        cr_expect_eq(s.seq, seq + 1);
        cr_expect_eq(r.seq, seq + 1);
        free(pt);
        free(aad);
        free(want_ct);
        free(ct);
        free(opened);
    }
    cr_expect_eq(i, 6, "expected the RFC's 6 encryptions, got %zu", i);

    /* Every export, from both sides; exporting does not touch seq. */
    json_array_foreach(json_object_get(v, "exports"), i, e) {
        size_t ectx_len = 0;
        uint8_t *ectx = unhex(str_field(e, "exporter_context"), &ectx_len);
        long long L = int_field(e, "L");
        uint8_t *out;
        uint64_t seq_before = s.seq;

        cr_assert(L > 0 && L <= (long long)SECMSG__HPKE_EXPORT_MAXBYTES);
        out = malloc((size_t)L);
        cr_assert_not_null(out);
        cr_assert_eq(secmsg__hpke_ctx_export(&s, out, (size_t)L, ectx, ectx_len), SECMSG_OK);
        expect_hex("sender export", out, (size_t)L, str_field(e, "exported_value"));
        memset(out, 0, (size_t)L);
        cr_assert_eq(secmsg__hpke_ctx_export(&r, out, (size_t)L, ectx, ectx_len), SECMSG_OK);
        expect_hex("receiver export", out, (size_t)L, str_field(e, "exported_value"));
        cr_expect_eq(s.seq, seq_before);
        free(out);
        free(ectx);
    }
    cr_expect_eq(i, 3, "expected the RFC's 3 exports, got %zu", i);

    secmsg__hpke_ctx_wipe(&s);
    secmsg__hpke_ctx_wipe(&r);
    kat_free(&k);
    json_decref(root);
}

Test(hpke_kat, file_has_one_vector_per_mode_of_our_suite)
{
    json_t *root = load_vectors();
    const json_t *vectors = json_object_get(root, "vectors");
    unsigned seen = 0;
    const json_t *v;
    size_t i;

    json_array_foreach(vectors, i, v) {
        long long mode = int_field(v, "mode");

        cr_assert(mode >= 0 && mode <= 3, "mode %lld", mode);
        cr_expect_eq(int_field(v, "kem_id"), SECMSG__HPKE_KEM_ID);
        cr_expect_eq(int_field(v, "kdf_id"), SECMSG__HPKE_KDF_ID);
        cr_expect_eq(int_field(v, "aead_id"), SECMSG__HPKE_AEAD_ID);
        seen |= 1U << (unsigned)mode;
    }
    cr_expect_eq(seen, 0xfU, "modes seen: 0x%x", seen);
    json_decref(root);
}

Test(hpke_kat, base)
{
    check_vector(SECMSG__HPKE_MODE_BASE);
}

Test(hpke_kat, psk)
{
    check_vector(SECMSG__HPKE_MODE_PSK);
}

Test(hpke_kat, auth)
{
    check_vector(SECMSG__HPKE_MODE_AUTH);
}

Test(hpke_kat, auth_psk)
{
    check_vector(SECMSG__HPKE_MODE_AUTH_PSK);
}

/* ------------------------------------------------------------------------
 * HPKE behaviour and failure paths
 * ------------------------------------------------------------------------ */

/* Fixed key pairs and a PSK for the property and negative tests. */
typedef struct keys {
    uint8_t pk_r[32], sk_r[32];
    uint8_t pk_s[32], sk_s[32];
    uint8_t pk_x[32], sk_x[32]; /* a third party */
    uint8_t psk_bytes[32];
    secmsg__hpke_psk psk;
} keys;

static void keys_init(keys *k)
{
    uint8_t ikm[32];

    memset(ikm, 'R', sizeof ikm);
    cr_assert_eq(secmsg__hpke_derive_keypair(k->pk_r, k->sk_r, ikm, sizeof ikm), SECMSG_OK);
    memset(ikm, 'S', sizeof ikm);
    cr_assert_eq(secmsg__hpke_derive_keypair(k->pk_s, k->sk_s, ikm, sizeof ikm), SECMSG_OK);
    memset(ikm, 'X', sizeof ikm);
    cr_assert_eq(secmsg__hpke_derive_keypair(k->pk_x, k->sk_x, ikm, sizeof ikm), SECMSG_OK);
    memset(k->psk_bytes, 'P', sizeof k->psk_bytes);
    k->psk.psk = k->psk_bytes;
    k->psk.psk_len = sizeof k->psk_bytes;
    k->psk.psk_id = (const uint8_t *)"psk-id";
    k->psk.psk_id_len = 6;
}

static int is_auth(secmsg__hpke_mode m)
{
    return m == SECMSG__HPKE_MODE_AUTH || m == SECMSG__HPKE_MODE_AUTH_PSK;
}

static int is_psk(secmsg__hpke_mode m)
{
    return m == SECMSG__HPKE_MODE_PSK || m == SECMSG__HPKE_MODE_AUTH_PSK;
}

static const secmsg__hpke_mode all_modes[] = { SECMSG__HPKE_MODE_BASE, SECMSG__HPKE_MODE_PSK,
                                               SECMSG__HPKE_MODE_AUTH,
                                               SECMSG__HPKE_MODE_AUTH_PSK };

static const uint8_t test_info[] = "secmsg test info";

/* A sender and receiver context in the given mode, random ephemeral. */
static void pair(secmsg__hpke_ctx *s, secmsg__hpke_ctx *r, const keys *k, secmsg__hpke_mode m)
{
    uint8_t enc[SECMSG__HPKE_ENCBYTES];

    cr_assert_eq(secmsg__hpke_setup_s(s, enc, m, test_info, sizeof test_info, k->pk_r,
                                      is_auth(m) ? k->sk_s : NULL, is_psk(m) ? &k->psk : NULL,
                                      NULL, 0),
                 SECMSG_OK);
    cr_assert_eq(secmsg__hpke_setup_r(r, m, enc, test_info, sizeof test_info, k->sk_r,
                                      is_auth(m) ? k->pk_s : NULL, is_psk(m) ? &k->psk : NULL),
                 SECMSG_OK);
}

Test(hpke, tampering_fails_open_and_does_not_advance_seq)
{
    static const uint8_t msg0[] = "first message";
    static const uint8_t msg1[] = "second message";
    static const uint8_t aad[] = "aad";
    uint8_t ct0[sizeof msg0 + SECMSG__HPKE_ABYTES], ct1[sizeof msg1 + SECMSG__HPKE_ABYTES];
    uint8_t bad[sizeof ct0], pt[sizeof msg1];
    secmsg__hpke_ctx s, r;
    keys k;

    keys_init(&k);
    pair(&s, &r, &k, SECMSG__HPKE_MODE_AUTH);
    cr_assert_eq(secmsg__hpke_ctx_seal(&s, ct0, msg0, sizeof msg0, aad, sizeof aad), SECMSG_OK);
    cr_assert_eq(secmsg__hpke_ctx_seal(&s, ct1, msg1, sizeof msg1, aad, sizeof aad), SECMSG_OK);

    /* Every single-bit flip, in the body and in the tag. */
    for (size_t i = 0; i < sizeof ct0; i++) {
        memcpy(bad, ct0, sizeof bad);
        bad[i] ^= (uint8_t)(1U << (i % 8));
        memset(pt, 0xee, sizeof pt);
        cr_assert_eq(secmsg__hpke_ctx_open(&r, pt, bad, sizeof bad, aad, sizeof aad),
                     SECMSG_E_DECRYPT, "flip in byte %zu", i);
        cr_assert(all_zero(pt, sizeof msg0), "pt not zeroed after failed open");
        cr_assert_eq(r.seq, 0);
    }
    /* Wrong aad, missing aad, truncation, and the next message first. */
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct0, sizeof ct0, (const uint8_t *)"aaD", 4),
                 SECMSG_E_DECRYPT);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct0, sizeof ct0, NULL, 0), SECMSG_E_DECRYPT);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct0, sizeof ct0 - 1, aad, sizeof aad),
                 SECMSG_E_DECRYPT);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct0, SECMSG__HPKE_ABYTES - 1, aad, sizeof aad),
                 SECMSG_E_DECRYPT);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct1, sizeof ct1, aad, sizeof aad),
                 SECMSG_E_DECRYPT);
    cr_assert_eq(r.seq, 0);

    /* The authentic messages still open, in order. */
    cr_assert_eq(secmsg__hpke_ctx_open(&r, pt, ct0, sizeof ct0, aad, sizeof aad), SECMSG_OK);
    cr_expect_arr_eq(pt, msg0, sizeof msg0);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct0, sizeof ct0, aad, sizeof aad),
                 SECMSG_E_DECRYPT, "replay of message 0 opened");
    cr_assert_eq(secmsg__hpke_ctx_open(&r, pt, ct1, sizeof ct1, aad, sizeof aad), SECMSG_OK);
    cr_expect_arr_eq(pt, msg1, sizeof msg1);
    cr_expect_eq(r.seq, 2);
    secmsg__hpke_ctx_wipe(&s);
    secmsg__hpke_ctx_wipe(&r);
}

Test(hpke, wrong_keys_fail_open)
{
    static const uint8_t msg[] = "for R only";
    uint8_t enc[SECMSG__HPKE_ENCBYTES], ct[sizeof msg + SECMSG__HPKE_ABYTES], pt[sizeof msg];
    uint8_t other_psk[32];
    secmsg__hpke_psk wrong_psk, wrong_id;
    keys k;

    keys_init(&k);
    memset(other_psk, 'Q', sizeof other_psk);
    wrong_psk = k.psk;
    wrong_psk.psk = other_psk;
    wrong_id = k.psk;
    wrong_id.psk_id = (const uint8_t *)"psk-iD";

    cr_assert_eq(secmsg__hpke_seal(enc, ct, msg, sizeof msg, NULL, 0,
                                   SECMSG__HPKE_MODE_AUTH_PSK, test_info, sizeof test_info,
                                   k.pk_r, k.sk_s, &k.psk),
                 SECMSG_OK);
#define EXPECT_OPEN_FAILS(sk_r, pk_s, psk, info, info_len)                                     \
    do {                                                                                       \
        memset(pt, 0xee, sizeof pt);                                                           \
        cr_expect_eq(secmsg__hpke_open(pt, enc, ct, sizeof ct, NULL, 0,                        \
                                       SECMSG__HPKE_MODE_AUTH_PSK, info, info_len, sk_r, pk_s, \
                                       psk),                                                   \
                     SECMSG_E_DECRYPT);                                                        \
        cr_expect(all_zero(pt, sizeof pt), "pt not zeroed");                                  \
    } while (0)
    EXPECT_OPEN_FAILS(k.sk_x, k.pk_s, &k.psk, test_info, sizeof test_info); /* wrong skR */
    EXPECT_OPEN_FAILS(k.sk_r, k.pk_x, &k.psk, test_info, sizeof test_info); /* wrong pkS */
    EXPECT_OPEN_FAILS(k.sk_r, k.pk_s, &wrong_psk, test_info, sizeof test_info);
    EXPECT_OPEN_FAILS(k.sk_r, k.pk_s, &wrong_id, test_info, sizeof test_info);
    EXPECT_OPEN_FAILS(k.sk_r, k.pk_s, &k.psk, test_info, sizeof test_info - 1); /* info */
#undef EXPECT_OPEN_FAILS
    /* A different mode with otherwise matching inputs is a different key. */
    cr_expect_eq(secmsg__hpke_open(pt, enc, ct, sizeof ct, NULL, 0, SECMSG__HPKE_MODE_PSK,
                                   test_info, sizeof test_info, k.sk_r, NULL, &k.psk),
                 SECMSG_E_DECRYPT);
    /* And the right inputs do open it. */
    cr_assert_eq(secmsg__hpke_open(pt, enc, ct, sizeof ct, NULL, 0, SECMSG__HPKE_MODE_AUTH_PSK,
                                   test_info, sizeof test_info, k.sk_r, k.pk_s, &k.psk),
                 SECMSG_OK);
    cr_expect_arr_eq(pt, msg, sizeof msg);
}

Test(hpke, psk_and_sender_key_must_match_mode)
{
    uint8_t enc[SECMSG__HPKE_ENCBYTES];
    uint8_t ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    uint8_t short_psk[SECMSG__HPKE_PSK_MINBYTES - 1];
    secmsg__hpke_psk no_id, no_psk, too_short, null_psk_ptr, empty = { NULL, 0, NULL, 0 };
    secmsg__hpke_ctx c;
    keys k;

    keys_init(&k);
    memset(ss, 1, sizeof ss);
    memset(short_psk, 'p', sizeof short_psk);
    no_id = k.psk;
    no_id.psk_id_len = 0;
    no_psk = k.psk;
    no_psk.psk_len = 0;
    too_short = k.psk;
    too_short.psk = short_psk;
    too_short.psk_len = sizeof short_psk;
    null_psk_ptr = k.psk;
    null_psk_ptr.psk = NULL;

#define EXPECT_SETUP_REJECTED(mode, sk_s, pk_s, psk)                                          \
    do {                                                                                      \
        memset(&c, 0x5a, sizeof c);                                                           \
        memset(enc, 0x5a, sizeof enc);                                                        \
        cr_expect_eq(secmsg__hpke_setup_s(&c, enc, mode, NULL, 0, k.pk_r, sk_s, psk, NULL, 0), \
                     SECMSG_E_INVALID_ARG, "setup_s line %d", __LINE__);                      \
        cr_expect(all_zero((const uint8_t *)&c, sizeof c), "ctx not wiped");                  \
        cr_expect(all_zero(enc, sizeof enc), "enc not zeroed");                               \
        memset(&c, 0x5a, sizeof c);                                                           \
        cr_expect_eq(secmsg__hpke_setup_r(&c, mode, k.pk_x, NULL, 0, k.sk_r, pk_s, psk),      \
                     SECMSG_E_INVALID_ARG, "setup_r line %d", __LINE__);                      \
        cr_expect_eq(c.role, SECMSG__HPKE_ROLE_NONE);                                         \
    } while (0)

    /* psk modes without a PSK, or with half of one. */
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, NULL, NULL, NULL);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, NULL, NULL, &empty);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, NULL, NULL, &no_id);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, NULL, NULL, &no_psk);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, NULL, NULL, &too_short);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, NULL, NULL, &null_psk_ptr);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_AUTH_PSK, k.sk_s, k.pk_s, NULL);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_AUTH_PSK, k.sk_s, k.pk_s, &no_id);
    /* A PSK where the mode has none. */
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_BASE, NULL, NULL, &k.psk);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_BASE, NULL, NULL, &no_psk);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_AUTH, k.sk_s, k.pk_s, &k.psk);
    /* Sender key missing in auth modes, or present where it is ignored. */
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_AUTH, NULL, NULL, NULL);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_AUTH_PSK, NULL, NULL, &k.psk);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_BASE, k.sk_s, k.pk_s, NULL);
    EXPECT_SETUP_REJECTED(SECMSG__HPKE_MODE_PSK, k.sk_s, k.pk_s, &k.psk);
    /* Not a mode at all. */
    EXPECT_SETUP_REJECTED((secmsg__hpke_mode)4, NULL, NULL, NULL);
#undef EXPECT_SETUP_REJECTED

    /* The key schedule applies the same rules. */
    cr_expect_eq(secmsg__hpke_key_schedule(&c, NULL, NULL, SECMSG__HPKE_ROLE_SENDER,
                                           SECMSG__HPKE_MODE_PSK, NULL, 0, ss, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_key_schedule(&c, NULL, NULL, SECMSG__HPKE_ROLE_SENDER,
                                           SECMSG__HPKE_MODE_BASE, NULL, 0, ss, &k.psk),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_key_schedule(&c, NULL, NULL, SECMSG__HPKE_ROLE_NONE,
                                           SECMSG__HPKE_MODE_BASE, NULL, 0, ss, NULL),
                 SECMSG_E_INVALID_ARG);
    /* An all-empty PSK struct is the RFC's default, i.e. no PSK. */
    cr_expect_eq(secmsg__hpke_key_schedule(&c, NULL, NULL, SECMSG__HPKE_ROLE_SENDER,
                                           SECMSG__HPKE_MODE_BASE, NULL, 0, ss, &empty),
                 SECMSG_OK);
    /* Single-shot takes the same path. */
    cr_expect_eq(secmsg__hpke_seal(enc, ss, NULL, 0, NULL, 0, SECMSG__HPKE_MODE_PSK, NULL, 0,
                                   k.pk_r, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    secmsg__hpke_ctx_wipe(&c);
}

/* X25519 points whose multiples by a clamped scalar are all zero: 0, 1,
 * the two points of order 8, p-1 (order 2), and the non-canonical p, p+1. */
static const char *const low_order_points[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

Test(hpke, low_order_public_keys_rejected)
{
    uint8_t bad[32], enc[SECMSG__HPKE_ENCBYTES], ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    uint8_t ct[8 + SECMSG__HPKE_ABYTES] = { 0 }, pt[8] = { 0 };
    secmsg__hpke_ctx c;
    keys k;

    keys_init(&k);
    for (size_t i = 0; i < sizeof low_order_points / sizeof low_order_points[0]; i++) {
        unhex_fixed(bad, sizeof bad, low_order_points[i]);

        /* As recipient key. */
        memset(ss, 0x5a, sizeof ss);
        cr_expect_eq(secmsg__hpke_encap(ss, enc, bad, NULL, NULL, 0), SECMSG_E_CRYPTO,
                     "point %zu", i);
        cr_expect(all_zero(ss, sizeof ss));
        cr_expect_eq(secmsg__hpke_encap(ss, enc, bad, k.sk_s, NULL, 0), SECMSG_E_CRYPTO);
        cr_expect_eq(secmsg__hpke_setup_s(&c, enc, SECMSG__HPKE_MODE_BASE, NULL, 0, bad, NULL,
                                          NULL, NULL, 0),
                     SECMSG_E_CRYPTO);
        cr_expect_eq(c.role, SECMSG__HPKE_ROLE_NONE);
        cr_expect(all_zero(enc, sizeof enc));
        cr_expect_eq(secmsg__hpke_seal(enc, ct, pt, sizeof pt, NULL, 0, SECMSG__HPKE_MODE_AUTH,
                                       NULL, 0, bad, k.sk_s, NULL),
                     SECMSG_E_CRYPTO);

        /* As encapsulated key. */
        cr_expect_eq(secmsg__hpke_decap(ss, bad, k.sk_r, NULL), SECMSG_E_CRYPTO);
        cr_expect_eq(secmsg__hpke_setup_r(&c, SECMSG__HPKE_MODE_BASE, bad, NULL, 0, k.sk_r,
                                          NULL, NULL),
                     SECMSG_E_CRYPTO);
        memset(pt, 0xee, sizeof pt);
        cr_expect_eq(secmsg__hpke_open(pt, bad, ct, sizeof ct, NULL, 0, SECMSG__HPKE_MODE_BASE,
                                       NULL, 0, k.sk_r, NULL, NULL),
                     SECMSG_E_CRYPTO);
        cr_expect(all_zero(pt, sizeof pt));

        /* As sender key in auth mode (with a good enc). */
        cr_expect_eq(secmsg__hpke_decap(ss, k.pk_x, k.sk_r, bad), SECMSG_E_CRYPTO);
        cr_expect_eq(secmsg__hpke_setup_r(&c, SECMSG__HPKE_MODE_AUTH, k.pk_x, NULL, 0, k.sk_r,
                                          bad, NULL),
                     SECMSG_E_CRYPTO);
    }
}

Test(hpke, null_and_out_of_range_arguments_rejected)
{
    uint8_t enc[SECMSG__HPKE_ENCBYTES], ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    uint8_t pk[32], sk[32], ikm[SECMSG__HPKE_IKM_MINBYTES];
    uint8_t buf[64], ct[64];
    secmsg__hpke_ctx s, r;
    keys k;

    keys_init(&k);
    memset(ikm, 7, sizeof ikm);
    pair(&s, &r, &k, SECMSG__HPKE_MODE_BASE);

    /* DeriveKeyPair */
    cr_expect_eq(secmsg__hpke_derive_keypair(NULL, sk, ikm, sizeof ikm), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_derive_keypair(pk, NULL, ikm, sizeof ikm), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_derive_keypair(pk, sk, NULL, 32), SECMSG_E_INVALID_ARG);
    memset(sk, 0x5a, sizeof sk);
    cr_expect_eq(secmsg__hpke_derive_keypair(pk, sk, ikm, sizeof ikm - 1), SECMSG_E_INVALID_ARG);
    cr_expect(all_zero(sk, sizeof sk) && all_zero(pk, sizeof pk));

    /* Encap / Decap */
    cr_expect_eq(secmsg__hpke_encap(NULL, enc, k.pk_r, NULL, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_encap(ss, NULL, k.pk_r, NULL, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_encap(ss, enc, NULL, NULL, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_encap(ss, enc, k.pk_r, NULL, NULL, 32), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_encap(ss, enc, k.pk_r, NULL, ikm, 31), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_decap(NULL, enc, k.sk_r, NULL), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_decap(ss, NULL, k.sk_r, NULL), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_decap(ss, k.pk_x, NULL, NULL), SECMSG_E_INVALID_ARG);

    /* Key schedule and setup */
    cr_expect_eq(secmsg__hpke_key_schedule(NULL, NULL, NULL, SECMSG__HPKE_ROLE_SENDER,
                                           SECMSG__HPKE_MODE_BASE, NULL, 0, ss, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_key_schedule(&s, NULL, NULL, SECMSG__HPKE_ROLE_SENDER,
                                           SECMSG__HPKE_MODE_BASE, NULL, 0, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_setup_s(NULL, enc, SECMSG__HPKE_MODE_BASE, NULL, 0, k.pk_r, NULL,
                                      NULL, NULL, 0),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_setup_s(&s, NULL, SECMSG__HPKE_MODE_BASE, NULL, 0, k.pk_r, NULL,
                                      NULL, NULL, 0),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_setup_s(&s, enc, SECMSG__HPKE_MODE_BASE, NULL, 0, NULL, NULL,
                                      NULL, NULL, 0),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_setup_s(&s, enc, SECMSG__HPKE_MODE_BASE, NULL, 5, k.pk_r, NULL,
                                      NULL, NULL, 0),
                 SECMSG_E_INVALID_ARG, "NULL info with a length");
    cr_expect_eq(secmsg__hpke_setup_r(NULL, SECMSG__HPKE_MODE_BASE, k.pk_x, NULL, 0, k.sk_r,
                                      NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_setup_r(&r, SECMSG__HPKE_MODE_BASE, NULL, NULL, 0, k.sk_r, NULL,
                                      NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_setup_r(&r, SECMSG__HPKE_MODE_BASE, k.pk_x, NULL, 0, NULL, NULL,
                                      NULL),
                 SECMSG_E_INVALID_ARG);

    /* Context operations (s and r were wiped by the failed setups above). */
    pair(&s, &r, &k, SECMSG__HPKE_MODE_BASE);
    cr_expect_eq(secmsg__hpke_ctx_seal(NULL, ct, buf, 8, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_seal(&s, NULL, buf, 8, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_seal(&s, ct, NULL, 8, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_seal(&s, ct, buf, 8, NULL, 3), SECMSG_E_INVALID_ARG);
    cr_expect_eq(s.seq, 0, "a rejected seal advanced seq");
    cr_expect_eq(secmsg__hpke_ctx_seal(&s, ct, NULL, 0, NULL, 0), SECMSG_OK, "empty message");
    cr_expect_eq(secmsg__hpke_ctx_open(NULL, buf, ct, 16, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, buf, NULL, 16, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, NULL, ct, 17, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, buf, ct, 16, NULL, 1), SECMSG_E_INVALID_ARG);
    memset(buf, 0x5a, sizeof buf);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, buf, ct, 24, NULL, 1), SECMSG_E_INVALID_ARG);
    cr_expect(all_zero(buf, 8), "rejected open left pt behind");
    cr_expect_eq(r.seq, 0, "a rejected open advanced seq");
    cr_expect_eq(secmsg__hpke_ctx_open(&r, NULL, ct, 16, NULL, 0), SECMSG_OK, "empty message");

    cr_expect_eq(secmsg__hpke_ctx_export(NULL, buf, 32, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_export(&s, NULL, 32, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_export(&s, buf, 32, NULL, 1), SECMSG_E_INVALID_ARG);

    /* Single-shot */
    cr_expect_eq(secmsg__hpke_seal(NULL, ct, buf, 8, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   k.pk_r, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_seal(enc, NULL, buf, 8, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   k.pk_r, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_seal(enc, ct, buf, 8, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   NULL, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_open(buf, NULL, ct, 24, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   k.sk_r, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_open(buf, enc, NULL, 24, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   k.sk_r, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_open(NULL, enc, ct, 24, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   k.sk_r, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_open(buf, enc, ct, 24, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   NULL, NULL, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_open(buf, enc, ct, 15, NULL, 0, SECMSG__HPKE_MODE_BASE, NULL, 0,
                                   k.sk_r, NULL, NULL),
                 SECMSG_E_DECRYPT, "shorter than a tag");

    /* NULL-safe wipe. */
    secmsg__hpke_ctx_wipe(NULL);
    secmsg__hpke_ctx_wipe(&s);
    secmsg__hpke_ctx_wipe(&r);
}

Test(hpke, roles_are_enforced_and_wipe_disables_context)
{
    uint8_t ct[8 + SECMSG__HPKE_ABYTES], pt[8] = { 0 }, out[32];
    secmsg__hpke_ctx s, r, fresh;
    keys k;

    keys_init(&k);
    pair(&s, &r, &k, SECMSG__HPKE_MODE_PSK);
    cr_expect_eq(secmsg__hpke_ctx_seal(&r, ct, pt, sizeof pt, NULL, 0), SECMSG_E_STATE);
    cr_assert_eq(secmsg__hpke_ctx_seal(&s, ct, pt, sizeof pt, NULL, 0), SECMSG_OK);
    cr_expect_eq(secmsg__hpke_ctx_open(&s, pt, ct, sizeof ct, NULL, 0), SECMSG_E_STATE);
    cr_expect_eq(s.seq, 1);
    cr_expect_eq(r.seq, 0);

    secmsg__hpke_ctx_wipe(&s);
    secmsg__hpke_ctx_wipe(&r);
    cr_expect(all_zero((const uint8_t *)&s, sizeof s), "wipe left bytes behind");
    cr_expect(all_zero((const uint8_t *)&r, sizeof r), "wipe left bytes behind");
    cr_expect_eq(secmsg__hpke_ctx_seal(&s, ct, pt, sizeof pt, NULL, 0), SECMSG_E_STATE);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct, sizeof ct, NULL, 0), SECMSG_E_STATE);
    memset(out, 0x5a, sizeof out);
    cr_expect_eq(secmsg__hpke_ctx_export(&s, out, sizeof out, NULL, 0), SECMSG_E_STATE);
    cr_expect(all_zero(out, sizeof out));

    /* A zero-initialised context is as unusable as a wiped one. */
    memset(&fresh, 0, sizeof fresh);
    cr_expect_eq(secmsg__hpke_ctx_seal(&fresh, ct, pt, sizeof pt, NULL, 0), SECMSG_E_STATE);
}

Test(hpke, sequence_number_exhaustion)
{
    static const uint8_t msg[] = "near the end";
    uint8_t ct[sizeof msg + SECMSG__HPKE_ABYTES], ct2[sizeof ct], pt[sizeof msg];
    uint8_t nonce[SECMSG__HPKE_NONCEBYTES];
    secmsg__hpke_ctx s, r;
    keys k;

    keys_init(&k);
    pair(&s, &r, &k, SECMSG__HPKE_MODE_BASE);
    s.seq = UINT64_MAX - 1;
    r.seq = UINT64_MAX - 1;

    /* The nonce for seq is base_nonce XOR seq, big-endian in the last 8. */
    secmsg__hpke_compute_nonce(nonce, s.base_nonce, s.seq);
    cr_expect_arr_eq(nonce, s.base_nonce, 4);
    cr_expect_eq(nonce[11], (uint8_t)(s.base_nonce[11] ^ 0xfe));
    cr_expect_eq(nonce[4], (uint8_t)(s.base_nonce[4] ^ 0xff));

    cr_assert_eq(secmsg__hpke_ctx_seal(&s, ct, msg, sizeof msg, NULL, 0), SECMSG_OK);
    cr_assert_eq(s.seq, UINT64_MAX);
    memset(ct2, 0x77, sizeof ct2);
    cr_expect_eq(secmsg__hpke_ctx_seal(&s, ct2, msg, sizeof msg, NULL, 0), SECMSG_E_STATE);
    cr_expect_eq(s.seq, UINT64_MAX);
    for (size_t i = 0; i < sizeof ct2; i++) {
        cr_assert_eq(ct2[i], 0x77, "refused seal wrote ct");
    }
    cr_assert_eq(secmsg__hpke_ctx_open(&r, pt, ct, sizeof ct, NULL, 0), SECMSG_OK);
    cr_expect_arr_eq(pt, msg, sizeof msg);
    cr_expect_eq(secmsg__hpke_ctx_open(&r, pt, ct, sizeof ct, NULL, 0), SECMSG_E_STATE);
    cr_expect(all_zero(pt, sizeof pt));
    cr_expect_eq(r.seq, UINT64_MAX);
    /* Export still works on an exhausted context. */
    cr_expect_eq(secmsg__hpke_ctx_export(&s, pt, sizeof pt, NULL, 0), SECMSG_OK);
    secmsg__hpke_ctx_wipe(&s);
    secmsg__hpke_ctx_wipe(&r);
}

Test(hpke, export_limits_and_agreement)
{
    static uint8_t a[SECMSG__HPKE_EXPORT_MAXBYTES + 1], b[SECMSG__HPKE_EXPORT_MAXBYTES];
    static uint8_t ectx[SECMSG__HPKE_EXPORTER_CONTEXT_MAXBYTES + 1];
    secmsg__hpke_ctx s, r;
    keys k;

    keys_init(&k);
    pair(&s, &r, &k, SECMSG__HPKE_MODE_AUTH);
    memset(ectx, 'c', sizeof ectx);
    memset(a, 0x5a, sizeof a);
    cr_expect_eq(secmsg__hpke_ctx_export(&s, a, 0, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(secmsg__hpke_ctx_export(&s, a, sizeof a, NULL, 0), SECMSG_E_INVALID_ARG);
    cr_expect_eq(a[0], 0x5a, "out of range L wrote output");
    cr_expect_eq(secmsg__hpke_ctx_export(&s, a, 32, ectx, sizeof ectx), SECMSG_E_INVALID_ARG);
    cr_expect(all_zero(a, 32));

    cr_assert_eq(secmsg__hpke_ctx_export(&s, a, sizeof b, ectx, sizeof ectx - 1), SECMSG_OK);
    cr_assert_eq(secmsg__hpke_ctx_export(&r, b, sizeof b, ectx, sizeof ectx - 1), SECMSG_OK);
    cr_expect_arr_eq(a, b, sizeof b, "sender and receiver exports differ");
    cr_assert_eq(secmsg__hpke_ctx_export(&r, b, 32, ectx, 1), SECMSG_OK);
    cr_expect(memcmp(a, b, 32) != 0, "exporter context ignored");
    cr_expect_eq(s.seq, 0);
    secmsg__hpke_ctx_wipe(&s);
    secmsg__hpke_ctx_wipe(&r);
}

Test(hpke, single_shot_round_trips_all_modes)
{
    static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 1000, 70000 };
    static const uint8_t aad[] = "header";
    keys k;

    keys_init(&k);
    for (size_t m = 0; m < sizeof all_modes / sizeof all_modes[0]; m++) {
        secmsg__hpke_mode mode = all_modes[m];
        const uint8_t *sk_s = is_auth(mode) ? k.sk_s : NULL;
        const uint8_t *pk_s = is_auth(mode) ? k.pk_s : NULL;
        const secmsg__hpke_psk *psk = is_psk(mode) ? &k.psk : NULL;

        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            size_t len = lens[l];
            uint8_t enc[SECMSG__HPKE_ENCBYTES], enc2[SECMSG__HPKE_ENCBYTES];
            uint8_t *msg = malloc(len + 1);
            uint8_t *ct = malloc(len + SECMSG__HPKE_ABYTES);
            uint8_t *pt = malloc(len + 1);

            cr_assert(msg != NULL && ct != NULL && pt != NULL);
            randombytes_buf(msg, len);
            cr_assert_eq(secmsg__hpke_seal(enc, ct, msg, len, aad, sizeof aad, mode, test_info,
                                           sizeof test_info, k.pk_r, sk_s, psk),
                         SECMSG_OK, "mode %d len %zu", (int)mode, len);
            cr_assert_eq(secmsg__hpke_open(pt, enc, ct, len + SECMSG__HPKE_ABYTES, aad,
                                           sizeof aad, mode, test_info, sizeof test_info,
                                           k.sk_r, pk_s, psk),
                         SECMSG_OK, "mode %d len %zu", (int)mode, len);
            cr_assert(len == 0 || memcmp(pt, msg, len) == 0, "mode %d len %zu", (int)mode,
                      len);

            /* In place: ct buffer holds the plaintext, then the result. */
            memcpy(ct, msg, len);
            cr_assert_eq(secmsg__hpke_seal(enc2, ct, ct, len, NULL, 0, mode, NULL, 0, k.pk_r,
                                           sk_s, psk),
                         SECMSG_OK);
            cr_expect(memcmp(enc, enc2, sizeof enc) != 0, "ephemeral key reused");
            cr_assert_eq(secmsg__hpke_open(ct, enc2, ct, len + SECMSG__HPKE_ABYTES, NULL, 0,
                                           mode, NULL, 0, k.sk_r, pk_s, psk),
                         SECMSG_OK);
            cr_assert(len == 0 || memcmp(ct, msg, len) == 0);
            free(msg);
            free(ct);
            free(pt);
        }
    }
}

/* A byte stream from a fixed seed, for reproducible property tests. */
typedef struct prng {
    uint8_t buf[4096];
    size_t pos;
} prng;

static void prng_init(prng *p, const char *label)
{
    uint8_t seed[randombytes_SEEDBYTES];

    crypto_generichash(seed, sizeof seed, (const uint8_t *)label, strlen(label), NULL, 0);
    randombytes_buf_deterministic(p->buf, sizeof p->buf, seed);
    p->pos = 0;
}

static uint8_t prng_byte(prng *p)
{
    return p->buf[p->pos++ % sizeof p->buf];
}

/* Context round trips with message and aad lengths drawn from a fixed seed;
 * before each message opens, a copy with one bit flipped must not. */
Test(hpke, context_round_trips_fixed_seed)
{
    uint8_t msg[300], aad[64], ct[sizeof msg + SECMSG__HPKE_ABYTES], pt[sizeof msg];
    prng rnd;
    keys k;

    keys_init(&k);
    prng_init(&rnd, "secmsg hpke context round trips");
    for (size_t m = 0; m < sizeof all_modes / sizeof all_modes[0]; m++) {
        secmsg__hpke_ctx s, r;

        pair(&s, &r, &k, all_modes[m]);
        for (unsigned n = 0; n < 64; n++) {
            size_t len = (size_t)prng_byte(&rnd) + (size_t)(prng_byte(&rnd) % 45U);
            size_t aad_len = (size_t)prng_byte(&rnd) % sizeof aad;
            size_t flip = (size_t)prng_byte(&rnd) * 256U;
            size_t ct_len = len + SECMSG__HPKE_ABYTES;

            flip += prng_byte(&rnd);
            for (size_t i = 0; i < len; i++) {
                msg[i] = prng_byte(&rnd);
            }
            for (size_t i = 0; i < aad_len; i++) {
                aad[i] = prng_byte(&rnd);
            }
            cr_assert_eq(secmsg__hpke_ctx_seal(&s, ct, msg, len, aad, aad_len), SECMSG_OK);
            flip %= ct_len * 8;
            ct[flip / 8] ^= (uint8_t)(1U << (flip % 8));
            cr_assert_eq(secmsg__hpke_ctx_open(&r, pt, ct, ct_len, aad, aad_len),
                         SECMSG_E_DECRYPT, "mode %d msg %u", (int)all_modes[m], n);
            ct[flip / 8] ^= (uint8_t)(1U << (flip % 8));
            cr_assert_eq(secmsg__hpke_ctx_open(&r, pt, ct, ct_len, aad, aad_len), SECMSG_OK,
                         "mode %d msg %u", (int)all_modes[m], n);
            cr_assert(len == 0 || memcmp(pt, msg, len) == 0);
        }
        cr_expect_eq(s.seq, 64);
        cr_expect_eq(r.seq, 64);
        secmsg__hpke_ctx_wipe(&s);
        secmsg__hpke_ctx_wipe(&r);
    }
}

Test(hpke, derive_keypair_is_deterministic_and_ikm_sensitive)
{
    uint8_t ikm[SECMSG__HPKE_IKM_MINBYTES + 8];
    uint8_t pk1[32], sk1[32], pk2[32], sk2[32], pk3[32];

    memset(ikm, 3, sizeof ikm);
    cr_assert_eq(secmsg__hpke_derive_keypair(pk1, sk1, ikm, sizeof ikm), SECMSG_OK);
    cr_assert_eq(secmsg__hpke_derive_keypair(pk2, sk2, ikm, sizeof ikm), SECMSG_OK);
    cr_expect_arr_eq(pk1, pk2, 32);
    cr_expect_arr_eq(sk1, sk2, 32);
    cr_assert_eq(crypto_scalarmult_base(pk3, sk1), 0);
    cr_expect_arr_eq(pk1, pk3, 32, "pk is not X25519(sk, 9)");
    ikm[sizeof ikm - 1] ^= 1;
    cr_assert_eq(secmsg__hpke_derive_keypair(pk2, sk2, ikm, sizeof ikm), SECMSG_OK);
    cr_expect(memcmp(sk1, sk2, 32) != 0);
}
