#include <sodium.h>
#include <string.h>

#include "secmsg/identity.h"
#include "session/internal.h"

static const char DH_BIND_LABEL[] = "secmsg v1 identity dh";
static const char SEED_SIGN_LABEL[] = "secmsg v1 identity sign";
static const char SEED_DH_LABEL[] = "secmsg v1 identity dh";
static const char FP_LABEL[] = "secmsg v1 fingerprint";
/* As Signal: iterating makes finding a colliding identity per digit costly. */
#define FP_ITERATIONS 5200U
#define QR_VERSION 1U

size_t secmsg_identity_public_bytes(void) { return SECMSG_IDENTITY_PUBLIC_BYTES; }
size_t secmsg_identity_private_bytes(void) { return SECMSG_IDENTITY_PRIVATE_BYTES; }
size_t secmsg_fingerprint_bytes(void) { return SECMSG_FINGERPRINT_BYTES; }
size_t secmsg_safety_number_bytes(void) { return SECMSG_SAFETY_NUMBER_BYTES; }
size_t secmsg_safety_qr_bytes(void) { return SECMSG_SAFETY_QR_BYTES; }

/* ---- the public half ---- */

static void bind_message(uint8_t msg[sizeof DH_BIND_LABEL - 1 + SECMSG__KEY_BYTES],
                         const uint8_t dh_pub[SECMSG__KEY_BYTES])
{
    memcpy(msg, DH_BIND_LABEL, sizeof DH_BIND_LABEL - 1);
    memcpy(msg + sizeof DH_BIND_LABEL - 1, dh_pub, SECMSG__KEY_BYTES);
}

int secmsg__idpub_verify(const secmsg__idpub *p)
{
    uint8_t msg[sizeof DH_BIND_LABEL - 1 + SECMSG__KEY_BYTES];
    bind_message(msg, p->dh_pub);
    if (crypto_sign_verify_detached(p->dh_sig, msg, sizeof msg, p->sign_pub) != 0)
        return SECMSG_E_SIGNATURE;
    return SECMSG_OK;
}

int secmsg__idpub_from_wire(secmsg__idpub *out, const Secmsg__Wire__IdentityPublic *m)
{
    int rc = secmsg__wire_check_identity_public(m);
    if (rc != SECMSG_OK)
        return rc;
    memcpy(out->sign_pub, m->sign_pub.data, SECMSG__KEY_BYTES);
    memcpy(out->dh_pub, m->dh_pub.data, SECMSG__KEY_BYTES);
    memcpy(out->dh_sig, m->dh_sig.data, SECMSG__SIG_BYTES);
    return SECMSG_OK;
}

void secmsg__idpub_to_wire(Secmsg__Wire__IdentityPublic *m, const secmsg__idpub *p)
{
    secmsg__wire__identity_public__init(m);
    m->has_version = 1;
    m->version = SECMSG_PROTOCOL_VERSION;
    m->has_sign_pub = m->has_dh_pub = m->has_dh_sig = 1;
    m->sign_pub = secmsg__bytes(p->sign_pub, SECMSG__KEY_BYTES);
    m->dh_pub = secmsg__bytes(p->dh_pub, SECMSG__KEY_BYTES);
    m->dh_sig = secmsg__bytes(p->dh_sig, SECMSG__SIG_BYTES);
}

int secmsg__idpub_encode(const secmsg__idpub *p, uint8_t *out, size_t cap, size_t *out_len)
{
    Secmsg__Wire__IdentityPublic m;
    secmsg__idpub_to_wire(&m, p);
    return secmsg__wire_pack(&m.base, out, cap, out_len);
}

/* Decodes and verifies a serialized identity public. */
static int idpub_parse(secmsg__idpub *out, const uint8_t *in, size_t len)
{
    secmsg__arena a;
    Secmsg__Wire__IdentityPublic *m;
    secmsg__arena_init(&a);
    int rc = secmsg__wire_decode_identity_public(&m, in, len, &a.alloc);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__idpub_from_wire(out, m);
    secmsg__wire__identity_public__free_unpacked(m, &a.alloc);
    secmsg__arena_wipe(&a);
    return rc == SECMSG_OK ? secmsg__idpub_verify(out) : rc;
}

/* ---- the private identity ---- */

static int identity_from_keys(secmsg_identity **out, const uint8_t sign_seed[32],
                              const uint8_t dh_sk[32])
{
    secmsg_identity *id = sodium_malloc(sizeof *id);
    if (id == NULL)
        return SECMSG_E_NOMEM;
    uint8_t msg[sizeof DH_BIND_LABEL - 1 + SECMSG__KEY_BYTES];
    crypto_sign_seed_keypair(id->pub.sign_pub, id->sign_sk, sign_seed);
    memcpy(id->dh_sk, dh_sk, SECMSG__KEY_BYTES);
    if (crypto_scalarmult_base(id->pub.dh_pub, id->dh_sk) != 0) {
        secmsg_identity_free(id);
        return SECMSG_E_CRYPTO;
    }
    bind_message(msg, id->pub.dh_pub);
    crypto_sign_detached(id->pub.dh_sig, NULL, msg, sizeof msg, id->sign_sk);
    *out = id;
    return SECMSG_OK;
}

int secmsg_identity_from_seed(secmsg_identity **out, const uint8_t seed[SECMSG_IDENTITY_SEED_BYTES])
{
    if (out == NULL || seed == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    uint8_t k[2][32];
    crypto_generichash(k[0], 32, (const uint8_t *)SEED_SIGN_LABEL, sizeof SEED_SIGN_LABEL - 1,
                       seed, SECMSG_IDENTITY_SEED_BYTES);
    crypto_generichash(k[1], 32, (const uint8_t *)SEED_DH_LABEL, sizeof SEED_DH_LABEL - 1, seed,
                       SECMSG_IDENTITY_SEED_BYTES);
    int rc = identity_from_keys(out, k[0], k[1]);
    sodium_memzero(k, sizeof k);
    return rc;
}

int secmsg_identity_generate(secmsg_identity **out)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    uint8_t seed[SECMSG_IDENTITY_SEED_BYTES];
    randombytes_buf(seed, sizeof seed);
    int rc = secmsg_identity_from_seed(out, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

/*
 * Signs msg with the identity's Ed25519 key, for the callers inside the
 * library that prove possession of it (relay registration and auth). The
 * message is the caller's and must carry its own context label.
 */
int secmsg__identity_sign(const secmsg_identity *id, uint8_t sig[SECMSG__SIG_BYTES],
                          const uint8_t *msg, size_t len)
{
    if (id == NULL || sig == NULL || (msg == NULL && len > 0))
        return SECMSG_E_INVALID_ARG;
    if (crypto_sign_detached(sig, NULL, msg, len, id->sign_sk) != 0)
        return SECMSG_E_CRYPTO;
    return SECMSG_OK;
}

void secmsg_identity_free(secmsg_identity *id)
{
    sodium_free(id); /* sodium_free wipes before unmapping; NULL is a no-op */
}

int secmsg_identity_public(const secmsg_identity *id, uint8_t *out, size_t out_cap,
                           size_t *out_len)
{
    if (id == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__idpub_encode(&id->pub, out, out_cap, out_len);
}

int secmsg_identity_serialize(const secmsg_identity *id, uint8_t *out, size_t out_cap,
                              size_t *out_len)
{
    if (id == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    Secmsg__Wire__IdentityPrivate m = SECMSG__WIRE__IDENTITY_PRIVATE__INIT;
    m.has_version = m.has_sign_seed = m.has_dh_priv = 1;
    m.version = SECMSG_PROTOCOL_VERSION;
    m.sign_seed = secmsg__bytes(id->sign_sk, 32);
    m.dh_priv = secmsg__bytes(id->dh_sk, SECMSG__KEY_BYTES);
    return secmsg__wire_pack(&m.base, out, out_cap, out_len);
}

int secmsg_identity_deserialize(secmsg_identity **out, const uint8_t *in, size_t in_len)
{
    if (out == NULL || in == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    secmsg__arena a;
    Secmsg__Wire__IdentityPrivate *m;
    secmsg__arena_init(&a);
    int rc = secmsg__wire_decode_identity_private(&m, in, in_len, &a.alloc);
    if (rc != SECMSG_OK)
        return rc;
    rc = identity_from_keys(out, m->sign_seed.data, m->dh_priv.data);
    secmsg__wire__identity_private__free_unpacked(m, &a.alloc);
    secmsg__arena_wipe(&a);
    return rc;
}

int secmsg_identity_public_verify(const uint8_t *pub, size_t pub_len)
{
    if (pub == NULL)
        return SECMSG_E_INVALID_ARG;
    secmsg__idpub p;
    return idpub_parse(&p, pub, pub_len);
}

/* ---- fingerprints and safety numbers ---- */

static void fingerprint_of(uint8_t fp[SECMSG_FINGERPRINT_BYTES], const secmsg__idpub *p)
{
    uint8_t h[crypto_hash_sha512_BYTES];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, (const uint8_t *)FP_LABEL, sizeof FP_LABEL - 1);
    crypto_hash_sha512_update(&st, p->sign_pub, SECMSG__KEY_BYTES);
    crypto_hash_sha512_update(&st, p->dh_pub, SECMSG__KEY_BYTES);
    crypto_hash_sha512_final(&st, h);
    for (unsigned i = 1; i < FP_ITERATIONS; i++) {
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, h, sizeof h);
        crypto_hash_sha512_update(&st, p->sign_pub, SECMSG__KEY_BYTES);
        crypto_hash_sha512_final(&st, h);
    }
    memcpy(fp, h, SECMSG_FINGERPRINT_BYTES);
}

int secmsg_identity_fingerprint(uint8_t out[SECMSG_FINGERPRINT_BYTES], const uint8_t *pub,
                                size_t pub_len)
{
    if (out == NULL || pub == NULL)
        return SECMSG_E_INVALID_ARG;
    secmsg__idpub p;
    int rc = idpub_parse(&p, pub, pub_len);
    if (rc != SECMSG_OK)
        return rc;
    fingerprint_of(out, &p);
    return SECMSG_OK;
}

/* Both fingerprints, smaller first, so the result does not depend on order. */
static int sorted_fingerprints(uint8_t fps[2][SECMSG_FINGERPRINT_BYTES], const uint8_t *pub_a,
                               size_t a_len, const uint8_t *pub_b, size_t b_len)
{
    uint8_t tmp[SECMSG_FINGERPRINT_BYTES];
    int rc = secmsg_identity_fingerprint(fps[0], pub_a, a_len);
    if (rc == SECMSG_OK)
        rc = secmsg_identity_fingerprint(fps[1], pub_b, b_len);
    if (rc != SECMSG_OK)
        return rc;
    if (memcmp(fps[0], fps[1], SECMSG_FINGERPRINT_BYTES) > 0) {
        memcpy(tmp, fps[0], sizeof tmp);
        memcpy(fps[0], fps[1], sizeof tmp);
        memcpy(fps[1], tmp, sizeof tmp);
    }
    return SECMSG_OK;
}

/* 30 digits from the first 30 bytes: six 5-byte big-endian chunks mod 10^5. */
static void digits30(char out[30], const uint8_t fp[SECMSG_FINGERPRINT_BYTES])
{
    for (unsigned c = 0; c < 6; c++) {
        uint64_t v = 0;
        for (unsigned i = 0; i < 5; i++)
            v = (v << 8) | fp[c * 5 + i];
        v %= 100000U;
        for (int d = 4; d >= 0; d--) {
            out[c * 5 + (unsigned)d] = (char)('0' + (int)(v % 10U));
            v /= 10U;
        }
    }
}

int secmsg_safety_number(char out[SECMSG_SAFETY_NUMBER_BYTES], const uint8_t *pub_a,
                         size_t pub_a_len, const uint8_t *pub_b, size_t pub_b_len)
{
    if (out == NULL || pub_a == NULL || pub_b == NULL)
        return SECMSG_E_INVALID_ARG;
    uint8_t fps[2][SECMSG_FINGERPRINT_BYTES];
    int rc = sorted_fingerprints(fps, pub_a, pub_a_len, pub_b, pub_b_len);
    if (rc != SECMSG_OK)
        return rc;
    digits30(out, fps[0]);
    digits30(out + 30, fps[1]);
    out[60] = '\0';
    return SECMSG_OK;
}

int secmsg_safety_qr(uint8_t out[SECMSG_SAFETY_QR_BYTES], const uint8_t *pub_a, size_t pub_a_len,
                     const uint8_t *pub_b, size_t pub_b_len)
{
    if (out == NULL || pub_a == NULL || pub_b == NULL)
        return SECMSG_E_INVALID_ARG;
    uint8_t fps[2][SECMSG_FINGERPRINT_BYTES];
    int rc = sorted_fingerprints(fps, pub_a, pub_a_len, pub_b, pub_b_len);
    if (rc != SECMSG_OK)
        return rc;
    out[0] = QR_VERSION;
    memcpy(out + 1, fps, sizeof fps);
    return SECMSG_OK;
}

int secmsg_safety_qr_verify(const uint8_t *scanned, size_t scanned_len, const uint8_t *pub_a,
                            size_t pub_a_len, const uint8_t *pub_b, size_t pub_b_len)
{
    if (scanned == NULL)
        return SECMSG_E_INVALID_ARG;
    if (scanned_len != SECMSG_SAFETY_QR_BYTES)
        return SECMSG_E_MALFORMED;
    if (scanned[0] != QR_VERSION)
        return SECMSG_E_VERSION;
    uint8_t mine[SECMSG_SAFETY_QR_BYTES];
    int rc = secmsg_safety_qr(mine, pub_a, pub_a_len, pub_b, pub_b_len);
    if (rc != SECMSG_OK)
        return rc;
    return sodium_memcmp(mine, scanned, sizeof mine) == 0 ? SECMSG_OK : SECMSG_E_SIGNATURE;
}
