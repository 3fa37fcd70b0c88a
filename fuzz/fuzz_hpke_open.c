/*
 * Fuzzes single-shot HPKE open (crypto/hpke.h) in base and auth mode.
 * Input: enc (32 bytes) || ciphertext with tag. The receiver and the sender
 * key pairs are DeriveKeyPair of fixed ikm; info and aad are fixed. The seed
 * corpus (corpus/hpke_open/) holds messages sealed to exactly these keys, so
 * mutations start from inputs that get past the tag check.
 *
 * Properties (hpke.h): open returns SECMSG_OK, SECMSG_E_DECRYPT or (for a
 * low-order enc) SECMSG_E_CRYPTO and nothing else; a failed open leaves the
 * plaintext buffer all zero; an input that opens is accepted again (open is
 * deterministic) and no longer opens once its last byte is changed.
 */
#include "crypto/hpke.h"
#include "fuzz.h"

static const uint8_t info[] = "secmsg fuzz hpke_open";
static const uint8_t aad[] = "secmsg fuzz aad";

static void derive(uint8_t pk[SECMSG__HPKE_PUBLICKEYBYTES],
                   uint8_t sk[SECMSG__HPKE_SECRETKEYBYTES], uint8_t fill)
{
    uint8_t ikm[SECMSG__HPKE_IKM_MINBYTES];

    memset(ikm, fill, sizeof ikm);
    FUZZ_CHECK(secmsg__hpke_derive_keypair(pk, sk, ikm, sizeof ikm) == SECMSG_OK);
}

static void try_open(const uint8_t *enc, const uint8_t *ct, size_t ct_len,
                     secmsg__hpke_mode mode, const uint8_t *sk_r, const uint8_t *pk_s)
{
    size_t pt_len = ct_len - SECMSG__HPKE_ABYTES;
    uint8_t *pt = fuzz_alloc(pt_len);
    int rc;

    memset(pt, 0xa5, pt_len);
    rc = secmsg__hpke_open(pt, enc, ct, ct_len, aad, sizeof aad, mode, info, sizeof info, sk_r,
                           pk_s, NULL);
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_DECRYPT || rc == SECMSG_E_CRYPTO);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(pt_len == 0 || sodium_is_zero(pt, pt_len));
    } else {
        uint8_t *again = fuzz_alloc(pt_len);
        uint8_t *bad = fuzz_alloc(ct_len);

        FUZZ_CHECK(secmsg__hpke_open(again, enc, ct, ct_len, aad, sizeof aad, mode, info,
                                     sizeof info, sk_r, pk_s, NULL) == SECMSG_OK);
        FUZZ_CHECK(fuzz_equal(pt, pt_len, again, pt_len));
        memcpy(bad, ct, ct_len);
        bad[ct_len - 1] ^= 0x01;
        FUZZ_CHECK(secmsg__hpke_open(again, enc, bad, ct_len, aad, sizeof aad, mode, info,
                                     sizeof info, sk_r, pk_s, NULL) == SECMSG_E_DECRYPT);
        free(bad);
        fuzz_free_secret(again, pt_len);
    }
    fuzz_free_secret(pt, pt_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t pk_r[SECMSG__HPKE_PUBLICKEYBYTES], sk_r[SECMSG__HPKE_SECRETKEYBYTES];
    uint8_t pk_s[SECMSG__HPKE_PUBLICKEYBYTES], sk_s[SECMSG__HPKE_SECRETKEYBYTES];
    const uint8_t *ct;
    size_t ct_len;

    fuzz_init();
    if (size < SECMSG__HPKE_ENCBYTES + SECMSG__HPKE_ABYTES) {
        uint8_t pt[1];

        /* Too short to hold a tag: refused before any key agreement. */
        if (size >= SECMSG__HPKE_ENCBYTES) {
            derive(pk_r, sk_r, 'R');
            FUZZ_CHECK(secmsg__hpke_open(pt, data, data + SECMSG__HPKE_ENCBYTES,
                                         size - SECMSG__HPKE_ENCBYTES, NULL, 0,
                                         SECMSG__HPKE_MODE_BASE, NULL, 0, sk_r, NULL,
                                         NULL) == SECMSG_E_DECRYPT);
            sodium_memzero(sk_r, sizeof sk_r);
        }
        return 0;
    }
    ct = data + SECMSG__HPKE_ENCBYTES;
    ct_len = size - SECMSG__HPKE_ENCBYTES;
    derive(pk_r, sk_r, 'R');
    derive(pk_s, sk_s, 'S');
    try_open(data, ct, ct_len, SECMSG__HPKE_MODE_BASE, sk_r, NULL);
    try_open(data, ct, ct_len, SECMSG__HPKE_MODE_AUTH, sk_r, pk_s);
    sodium_memzero(sk_r, sizeof sk_r);
    sodium_memzero(sk_s, sizeof sk_s);
    return 0;
}
