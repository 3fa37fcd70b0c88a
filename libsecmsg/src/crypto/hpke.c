/*
 * HPKE (RFC 9180) for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
 * ChaCha20-Poly1305, all four modes. Primitives come from libsodium
 * (crypto_scalarmult, crypto_aead_chacha20poly1305_ietf_*) and crypto/kdf.h;
 * this file is only the RFC's composition of them.
 */
#include <string.h>

#include <sodium.h>

#include "crypto/hpke.h"
#include "crypto/kdf.h"

/* suite_id for the KEM: "KEM" || I2OSP(kem_id, 2) (RFC 9180, 4.1). */
static const uint8_t kem_suite_id[] = { 'K', 'E', 'M', 0x00, 0x20 };
/* suite_id for the rest: "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) ||
 * I2OSP(aead_id, 2) (RFC 9180, 5.1). */
static const uint8_t hpke_suite_id[] = { 'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x03 };
static const uint8_t version_label[] = { 'H', 'P', 'K', 'E', '-', 'v', '1' };

/* Longest label we use is "shared_secret" (13); anything longer is a bug. */
#define LABEL_MAXBYTES 16U
/* The longest info LabeledExpand sees is an exporter_context; the KEM and
 * key schedule contexts (96 and 65 bytes) are shorter. */
#define EXPAND_INFO_MAXBYTES SECMSG__HPKE_EXPORTER_CONTEXT_MAXBYTES
#define LABELED_INFO_MAXBYTES                                                                  \
    (2U + sizeof version_label + sizeof hpke_suite_id + LABEL_MAXBYTES + EXPAND_INFO_MAXBYTES)

#define DH_BYTES 32U
/* kem_context = enc || pkR [|| pkS] */
#define KEM_CONTEXT_MAXBYTES (3U * SECMSG__HPKE_PUBLICKEYBYTES)

/* A pointer/length pair is acceptable if it is not (NULL, n > 0). */
static int buf_ok(const uint8_t *p, size_t len)
{
    return p != NULL || len == 0;
}

static int mode_ok(secmsg__hpke_mode mode)
{
    return mode == SECMSG__HPKE_MODE_BASE || mode == SECMSG__HPKE_MODE_PSK ||
           mode == SECMSG__HPKE_MODE_AUTH || mode == SECMSG__HPKE_MODE_AUTH_PSK;
}

static int mode_is_auth(secmsg__hpke_mode mode)
{
    return mode == SECMSG__HPKE_MODE_AUTH || mode == SECMSG__HPKE_MODE_AUTH_PSK;
}

static int mode_is_psk(secmsg__hpke_mode mode)
{
    return mode == SECMSG__HPKE_MODE_PSK || mode == SECMSG__HPKE_MODE_AUTH_PSK;
}

/*
 * LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id ||
 * label || ikm). Extract is HMAC keyed with the salt, so the labeled ikm is
 * streamed into the MAC rather than assembled in a buffer: ikm is often a
 * secret (DH output, PSK) and this way it is never copied.
 */
static int labeled_extract(uint8_t prk[SECMSG__SHA256_BYTES], const uint8_t *suite_id,
                           size_t suite_id_len, const uint8_t *salt, size_t salt_len,
                           const char *label, const uint8_t *ikm, size_t ikm_len)
{
    static const uint8_t no_salt[1];
    crypto_auth_hmacsha256_state st;
    size_t label_len = strlen(label);

    if (label_len > LABEL_MAXBYTES || ikm_len > SECMSG__HPKE_INPUT_MAXBYTES) {
        return SECMSG_E_INVALID_ARG;
    }
    /* libsodium wants a non-NULL key pointer even for an empty key. */
    if (salt == NULL) {
        salt = no_salt;
        salt_len = 0;
    }
    crypto_auth_hmacsha256_init(&st, salt, salt_len);
    crypto_auth_hmacsha256_update(&st, version_label, sizeof version_label);
    crypto_auth_hmacsha256_update(&st, suite_id, suite_id_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, label_len);
    crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    sodium_memzero(&st, sizeof st);
    return SECMSG_OK;
}

/*
 * LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1"
 * || suite_id || label || info, L). The labeled info holds no secret (public
 * keys, hashes of public inputs, an exporter context), so it is assembled on
 * the stack and handed to the one HKDF-Expand implementation.
 */
static int labeled_expand(uint8_t *out, size_t out_len, const uint8_t *suite_id,
                          size_t suite_id_len, const uint8_t prk[SECMSG__SHA256_BYTES],
                          const char *label, const uint8_t *info, size_t info_len)
{
    uint8_t labeled_info[LABELED_INFO_MAXBYTES];
    size_t label_len = strlen(label);
    size_t n = 0;

    /* out_len <= 255 * Nh < 2^16 also makes I2OSP(L, 2) exact. */
    if (out_len == 0 || out_len > SECMSG__HKDF_MAX_OUT || label_len > LABEL_MAXBYTES ||
        info_len > EXPAND_INFO_MAXBYTES || suite_id_len > sizeof hpke_suite_id) {
        return SECMSG_E_INVALID_ARG;
    }
    labeled_info[n++] = (uint8_t)(out_len >> 8);
    labeled_info[n++] = (uint8_t)(out_len & 0xffU);
    memcpy(labeled_info + n, version_label, sizeof version_label);
    n += sizeof version_label;
    memcpy(labeled_info + n, suite_id, suite_id_len);
    n += suite_id_len;
    memcpy(labeled_info + n, label, label_len);
    n += label_len;
    if (info_len > 0) {
        memcpy(labeled_info + n, info, info_len);
        n += info_len;
    }
    if (secmsg__hkdf_expand(out, out_len, prk, labeled_info, n) != 0) {
        return SECMSG_E_INVALID_ARG;
    }
    return SECMSG_OK;
}

int secmsg__hpke_derive_keypair(uint8_t *pk, uint8_t *sk, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t dkp_prk[SECMSG__SHA256_BYTES];
    int ret;

    if (pk == NULL || sk == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    if (ikm == NULL || ikm_len < SECMSG__HPKE_IKM_MINBYTES ||
        ikm_len > SECMSG__HPKE_INPUT_MAXBYTES) {
        ret = SECMSG_E_INVALID_ARG;
        goto out;
    }
    ret = labeled_extract(dkp_prk, kem_suite_id, sizeof kem_suite_id, NULL, 0, "dkp_prk", ikm,
                          ikm_len);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = labeled_expand(sk, SECMSG__HPKE_SECRETKEYBYTES, kem_suite_id, sizeof kem_suite_id,
                         dkp_prk, "sk", NULL, 0);
    if (ret != SECMSG_OK) {
        goto out;
    }
    if (crypto_scalarmult_base(pk, sk) != 0) {
        ret = SECMSG_E_CRYPTO;
    }
out:
    sodium_memzero(dkp_prk, sizeof dkp_prk);
    if (ret != SECMSG_OK) {
        sodium_memzero(pk, SECMSG__HPKE_PUBLICKEYBYTES);
        sodium_memzero(sk, SECMSG__HPKE_SECRETKEYBYTES);
    }
    return ret;
}

/* DH(sk, pk); libsodium returns -1 for an all-zero result (low-order pk),
 * which RFC 9180, 7.1.4 requires us to reject. */
static int dh(uint8_t out[DH_BYTES], const uint8_t *sk, const uint8_t *pk)
{
    return crypto_scalarmult(out, sk, pk) == 0 ? SECMSG_OK : SECMSG_E_CRYPTO;
}

/* ExtractAndExpand(dh, kem_context) (RFC 9180, 4.1). */
static int extract_and_expand(uint8_t *shared_secret, const uint8_t *dh_out, size_t dh_len,
                              const uint8_t *kem_context, size_t kem_context_len)
{
    uint8_t eae_prk[SECMSG__SHA256_BYTES];
    int ret;

    ret = labeled_extract(eae_prk, kem_suite_id, sizeof kem_suite_id, NULL, 0, "eae_prk", dh_out,
                          dh_len);
    if (ret == SECMSG_OK) {
        ret = labeled_expand(shared_secret, SECMSG__HPKE_SHAREDSECRETBYTES, kem_suite_id,
                             sizeof kem_suite_id, eae_prk, "shared_secret", kem_context,
                             kem_context_len);
    }
    sodium_memzero(eae_prk, sizeof eae_prk);
    return ret;
}

int secmsg__hpke_encap(uint8_t *shared_secret, uint8_t *enc, const uint8_t *pk_r,
                       const uint8_t *sk_s, const uint8_t *ikm_e, size_t ikm_e_len)
{
    uint8_t seed[SECMSG__HPKE_IKM_MINBYTES];
    uint8_t sk_e[SECMSG__HPKE_SECRETKEYBYTES];
    uint8_t pk_e[SECMSG__HPKE_PUBLICKEYBYTES];
    uint8_t dh_out[2 * DH_BYTES];
    uint8_t kem_context[KEM_CONTEXT_MAXBYTES];
    uint8_t ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    size_t dh_len = DH_BYTES;
    size_t kc_len = 2 * SECMSG__HPKE_PUBLICKEYBYTES;
    int ret;

    if (shared_secret == NULL || enc == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    if (pk_r == NULL || !buf_ok(ikm_e, ikm_e_len) ||
        (ikm_e != NULL && ikm_e_len < SECMSG__HPKE_IKM_MINBYTES)) {
        ret = SECMSG_E_INVALID_ARG;
        goto out;
    }
    if (ikm_e == NULL) {
        /* GenerateKeyPair() as DeriveKeyPair(random), so the fixed-ikm test
         * path and the production path are the same code. */
        randombytes_buf(seed, sizeof seed);
        ret = secmsg__hpke_derive_keypair(pk_e, sk_e, seed, sizeof seed);
    } else {
        ret = secmsg__hpke_derive_keypair(pk_e, sk_e, ikm_e, ikm_e_len);
    }
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = dh(dh_out, sk_e, pk_r);
    if (ret != SECMSG_OK) {
        goto out;
    }
    memcpy(kem_context, pk_e, SECMSG__HPKE_PUBLICKEYBYTES);
    memcpy(kem_context + SECMSG__HPKE_PUBLICKEYBYTES, pk_r, SECMSG__HPKE_PUBLICKEYBYTES);
    if (sk_s != NULL) {
        ret = dh(dh_out + DH_BYTES, sk_s, pk_r);
        if (ret != SECMSG_OK) {
            goto out;
        }
        dh_len += DH_BYTES;
        if (crypto_scalarmult_base(kem_context + kc_len, sk_s) != 0) {
            ret = SECMSG_E_CRYPTO;
            goto out;
        }
        kc_len += SECMSG__HPKE_PUBLICKEYBYTES;
    }
    ret = extract_and_expand(ss, dh_out, dh_len, kem_context, kc_len);
    if (ret != SECMSG_OK) {
        goto out;
    }
    memcpy(shared_secret, ss, sizeof ss);
    memcpy(enc, pk_e, sizeof pk_e);
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk_e, sizeof sk_e);
    sodium_memzero(dh_out, sizeof dh_out);
    sodium_memzero(ss, sizeof ss);
    if (ret != SECMSG_OK) {
        sodium_memzero(shared_secret, SECMSG__HPKE_SHAREDSECRETBYTES);
        sodium_memzero(enc, SECMSG__HPKE_ENCBYTES);
    }
    return ret;
}

int secmsg__hpke_decap(uint8_t *shared_secret, const uint8_t *enc, const uint8_t *sk_r,
                       const uint8_t *pk_s)
{
    uint8_t dh_out[2 * DH_BYTES];
    uint8_t kem_context[KEM_CONTEXT_MAXBYTES];
    uint8_t ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    size_t dh_len = DH_BYTES;
    size_t kc_len = 2 * SECMSG__HPKE_PUBLICKEYBYTES;
    int ret;

    if (shared_secret == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    if (enc == NULL || sk_r == NULL) {
        ret = SECMSG_E_INVALID_ARG;
        goto out;
    }
    ret = dh(dh_out, sk_r, enc);
    if (ret != SECMSG_OK) {
        goto out;
    }
    memcpy(kem_context, enc, SECMSG__HPKE_ENCBYTES);
    if (crypto_scalarmult_base(kem_context + SECMSG__HPKE_ENCBYTES, sk_r) != 0) {
        ret = SECMSG_E_CRYPTO;
        goto out;
    }
    if (pk_s != NULL) {
        ret = dh(dh_out + DH_BYTES, sk_r, pk_s);
        if (ret != SECMSG_OK) {
            goto out;
        }
        dh_len += DH_BYTES;
        memcpy(kem_context + kc_len, pk_s, SECMSG__HPKE_PUBLICKEYBYTES);
        kc_len += SECMSG__HPKE_PUBLICKEYBYTES;
    }
    ret = extract_and_expand(ss, dh_out, dh_len, kem_context, kc_len);
    if (ret == SECMSG_OK) {
        memcpy(shared_secret, ss, sizeof ss);
    }
out:
    sodium_memzero(dh_out, sizeof dh_out);
    sodium_memzero(ss, sizeof ss);
    if (ret != SECMSG_OK) {
        sodium_memzero(shared_secret, SECMSG__HPKE_SHAREDSECRETBYTES);
    }
    return ret;
}

/*
 * VerifyPSKInputs (RFC 9180, 5.1): the PSK and its id are both present or
 * both absent, present exactly in the psk modes. A struct with both lengths
 * zero is the RFC's default_psk/default_psk_id, i.e. absent.
 */
static int verify_psk_inputs(secmsg__hpke_mode mode, const secmsg__hpke_psk *psk)
{
    int got_psk = psk != NULL && psk->psk_len != 0;
    int got_psk_id = psk != NULL && psk->psk_id_len != 0;

    if (!mode_ok(mode) || got_psk != got_psk_id || got_psk != mode_is_psk(mode)) {
        return SECMSG_E_INVALID_ARG;
    }
    if (got_psk) {
        if (psk->psk == NULL || psk->psk_id == NULL || psk->psk_len < SECMSG__HPKE_PSK_MINBYTES ||
            psk->psk_len > SECMSG__HPKE_INPUT_MAXBYTES ||
            psk->psk_id_len > SECMSG__HPKE_INPUT_MAXBYTES) {
            return SECMSG_E_INVALID_ARG;
        }
    }
    return SECMSG_OK;
}

static int info_ok(const uint8_t *info, size_t info_len)
{
    return buf_ok(info, info_len) && info_len <= SECMSG__HPKE_INPUT_MAXBYTES;
}

int secmsg__hpke_key_schedule(secmsg__hpke_ctx *ctx, uint8_t *ks_context, uint8_t *secret,
                              secmsg__hpke_role role, secmsg__hpke_mode mode,
                              const uint8_t *info, size_t info_len,
                              const uint8_t *shared_secret, const secmsg__hpke_psk *psk)
{
    uint8_t ksc[SECMSG__HPKE_KS_CONTEXTBYTES];
    uint8_t sec[SECMSG__HPKE_SECRETBYTES];
    const uint8_t *psk_bytes = NULL;
    const uint8_t *psk_id = NULL;
    size_t psk_len = 0;
    size_t psk_id_len = 0;
    int ret;

    if (ctx == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    if ((role != SECMSG__HPKE_ROLE_SENDER && role != SECMSG__HPKE_ROLE_RECEIVER) ||
        !info_ok(info, info_len) || shared_secret == NULL) {
        ret = SECMSG_E_INVALID_ARG;
        goto out;
    }
    ret = verify_psk_inputs(mode, psk);
    if (ret != SECMSG_OK) {
        goto out;
    }
    if (psk != NULL) {
        psk_bytes = psk->psk;
        psk_len = psk->psk_len;
        psk_id = psk->psk_id;
        psk_id_len = psk->psk_id_len;
    }
    ksc[0] = (uint8_t)mode;
    ret = labeled_extract(ksc + 1, hpke_suite_id, sizeof hpke_suite_id, NULL, 0, "psk_id_hash",
                          psk_id, psk_id_len);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = labeled_extract(ksc + 1 + SECMSG__SHA256_BYTES, hpke_suite_id, sizeof hpke_suite_id,
                          NULL, 0, "info_hash", info, info_len);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = labeled_extract(sec, hpke_suite_id, sizeof hpke_suite_id, shared_secret,
                          SECMSG__HPKE_SHAREDSECRETBYTES, "secret", psk_bytes, psk_len);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = labeled_expand(ctx->key, sizeof ctx->key, hpke_suite_id, sizeof hpke_suite_id, sec,
                         "key", ksc, sizeof ksc);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = labeled_expand(ctx->base_nonce, sizeof ctx->base_nonce, hpke_suite_id,
                         sizeof hpke_suite_id, sec, "base_nonce", ksc, sizeof ksc);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = labeled_expand(ctx->exporter_secret, sizeof ctx->exporter_secret, hpke_suite_id,
                         sizeof hpke_suite_id, sec, "exp", ksc, sizeof ksc);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ctx->seq = 0;
    ctx->role = role;
    if (ks_context != NULL) {
        memcpy(ks_context, ksc, sizeof ksc);
    }
    if (secret != NULL) {
        memcpy(secret, sec, sizeof sec);
    }
out:
    sodium_memzero(sec, sizeof sec);
    if (ret != SECMSG_OK) {
        secmsg__hpke_ctx_wipe(ctx);
        if (ks_context != NULL) {
            sodium_memzero(ks_context, SECMSG__HPKE_KS_CONTEXTBYTES);
        }
        if (secret != NULL) {
            sodium_memzero(secret, SECMSG__HPKE_SECRETBYTES);
        }
    }
    return ret;
}

int secmsg__hpke_setup_s(secmsg__hpke_ctx *ctx, uint8_t *enc, secmsg__hpke_mode mode,
                         const uint8_t *info, size_t info_len, const uint8_t *pk_r,
                         const uint8_t *sk_s, const secmsg__hpke_psk *psk,
                         const uint8_t *ikm_e, size_t ikm_e_len)
{
    uint8_t ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    int ret;

    if (ctx == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    /* Everything checkable is checked before the (costly) KEM runs. */
    if (enc == NULL || pk_r == NULL || !info_ok(info, info_len) ||
        (sk_s != NULL) != mode_is_auth(mode) || verify_psk_inputs(mode, psk) != SECMSG_OK) {
        ret = SECMSG_E_INVALID_ARG;
        goto out;
    }
    ret = secmsg__hpke_encap(ss, enc, pk_r, sk_s, ikm_e, ikm_e_len);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = secmsg__hpke_key_schedule(ctx, NULL, NULL, SECMSG__HPKE_ROLE_SENDER, mode, info,
                                    info_len, ss, psk);
out:
    sodium_memzero(ss, sizeof ss);
    if (ret != SECMSG_OK) {
        secmsg__hpke_ctx_wipe(ctx);
        if (enc != NULL) {
            sodium_memzero(enc, SECMSG__HPKE_ENCBYTES);
        }
    }
    return ret;
}

int secmsg__hpke_setup_r(secmsg__hpke_ctx *ctx, secmsg__hpke_mode mode, const uint8_t *enc,
                         const uint8_t *info, size_t info_len, const uint8_t *sk_r,
                         const uint8_t *pk_s, const secmsg__hpke_psk *psk)
{
    uint8_t ss[SECMSG__HPKE_SHAREDSECRETBYTES];
    int ret;

    if (ctx == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    if (enc == NULL || sk_r == NULL || !info_ok(info, info_len) ||
        (pk_s != NULL) != mode_is_auth(mode) || verify_psk_inputs(mode, psk) != SECMSG_OK) {
        ret = SECMSG_E_INVALID_ARG;
        goto out;
    }
    ret = secmsg__hpke_decap(ss, enc, sk_r, pk_s);
    if (ret != SECMSG_OK) {
        goto out;
    }
    ret = secmsg__hpke_key_schedule(ctx, NULL, NULL, SECMSG__HPKE_ROLE_RECEIVER, mode, info,
                                    info_len, ss, psk);
out:
    sodium_memzero(ss, sizeof ss);
    if (ret != SECMSG_OK) {
        secmsg__hpke_ctx_wipe(ctx);
    }
    return ret;
}

void secmsg__hpke_compute_nonce(uint8_t *nonce, const uint8_t *base_nonce, uint64_t seq)
{
    size_t i;

    memcpy(nonce, base_nonce, SECMSG__HPKE_NONCEBYTES);
    /* I2OSP(seq, Nn) is big-endian; a 64-bit seq fills only the last 8. */
    for (i = 0; i < 8; i++) {
        nonce[SECMSG__HPKE_NONCEBYTES - 1 - i] ^= (uint8_t)(seq >> (8 * i));
    }
}

/* Checks shared by seal and open. seq stops one short of UINT64_MAX so a
 * failed call never has to undo an increment, and no nonce repeats. */
static int ctx_ready(const secmsg__hpke_ctx *ctx, secmsg__hpke_role role)
{
    if (ctx->role != role || ctx->seq == UINT64_MAX) {
        return SECMSG_E_STATE;
    }
    return SECMSG_OK;
}

int secmsg__hpke_ctx_seal(secmsg__hpke_ctx *ctx, uint8_t *ct, const uint8_t *pt, size_t pt_len,
                          const uint8_t *aad, size_t aad_len)
{
    uint8_t nonce[SECMSG__HPKE_NONCEBYTES];
    int ret;

    if (ctx == NULL || ct == NULL || !buf_ok(pt, pt_len) || !buf_ok(aad, aad_len) ||
        (unsigned long long)pt_len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) {
        return SECMSG_E_INVALID_ARG;
    }
    ret = ctx_ready(ctx, SECMSG__HPKE_ROLE_SENDER);
    if (ret != SECMSG_OK) {
        return ret;
    }
    secmsg__hpke_compute_nonce(nonce, ctx->base_nonce, ctx->seq);
    /* Cannot fail for lengths within MESSAGEBYTES_MAX. */
    (void)crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, pt_len, aad, aad_len, NULL,
                                                    nonce, ctx->key);
    ctx->seq++;
    sodium_memzero(nonce, sizeof nonce);
    return SECMSG_OK;
}

int secmsg__hpke_ctx_open(secmsg__hpke_ctx *ctx, uint8_t *pt, const uint8_t *ct, size_t ct_len,
                          const uint8_t *aad, size_t aad_len)
{
    uint8_t nonce[SECMSG__HPKE_NONCEBYTES];
    size_t pt_len = ct_len > SECMSG__HPKE_ABYTES ? ct_len - SECMSG__HPKE_ABYTES : 0;
    int ret;

    if (pt == NULL && pt_len > 0) {
        return SECMSG_E_INVALID_ARG;
    }
    if (ctx == NULL || ct == NULL || !buf_ok(aad, aad_len)) {
        ret = SECMSG_E_INVALID_ARG;
    } else if ((ret = ctx_ready(ctx, SECMSG__HPKE_ROLE_RECEIVER)) != SECMSG_OK) {
        /* ret is SECMSG_E_STATE */
    } else if (ct_len < SECMSG__HPKE_ABYTES) {
        ret = SECMSG_E_DECRYPT;
    } else {
        secmsg__hpke_compute_nonce(nonce, ctx->base_nonce, ctx->seq);
        /* libsodium verifies the tag in constant time before it decrypts. */
        if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, ct_len, aad, aad_len,
                                                      nonce, ctx->key) != 0) {
            ret = SECMSG_E_DECRYPT;
        } else {
            ctx->seq++;
        }
        sodium_memzero(nonce, sizeof nonce);
    }
    /* libsodium zeroes pt on a bad tag too; this covers every error. */
    if (ret != SECMSG_OK && pt_len > 0) {
        sodium_memzero(pt, pt_len);
    }
    return ret;
}

int secmsg__hpke_ctx_export(const secmsg__hpke_ctx *ctx, uint8_t *out, size_t out_len,
                            const uint8_t *exporter_context, size_t exporter_context_len)
{
    int ret;

    if (ctx == NULL || out == NULL || out_len == 0 || out_len > SECMSG__HPKE_EXPORT_MAXBYTES) {
        return SECMSG_E_INVALID_ARG;
    }
    if (!buf_ok(exporter_context, exporter_context_len) ||
        exporter_context_len > SECMSG__HPKE_EXPORTER_CONTEXT_MAXBYTES) {
        ret = SECMSG_E_INVALID_ARG;
    } else if (ctx->role != SECMSG__HPKE_ROLE_SENDER && ctx->role != SECMSG__HPKE_ROLE_RECEIVER) {
        ret = SECMSG_E_STATE;
    } else {
        ret = labeled_expand(out, out_len, hpke_suite_id, sizeof hpke_suite_id,
                             ctx->exporter_secret, "sec", exporter_context, exporter_context_len);
    }
    if (ret != SECMSG_OK) {
        sodium_memzero(out, out_len);
    }
    return ret;
}

void secmsg__hpke_ctx_wipe(secmsg__hpke_ctx *ctx)
{
    if (ctx != NULL) {
        sodium_memzero(ctx, sizeof *ctx);
    }
}

int secmsg__hpke_seal(uint8_t *enc, uint8_t *ct, const uint8_t *pt, size_t pt_len,
                      const uint8_t *aad, size_t aad_len, secmsg__hpke_mode mode,
                      const uint8_t *info, size_t info_len, const uint8_t *pk_r,
                      const uint8_t *sk_s, const secmsg__hpke_psk *psk)
{
    secmsg__hpke_ctx ctx;
    int ret;

    if (enc == NULL) {
        return SECMSG_E_INVALID_ARG;
    }
    /* The message arguments are checked before setup so that seal cannot
     * fail after an ephemeral key was spent. */
    if (ct == NULL || !buf_ok(pt, pt_len) || !buf_ok(aad, aad_len) ||
        (unsigned long long)pt_len > crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) {
        sodium_memzero(enc, SECMSG__HPKE_ENCBYTES);
        return SECMSG_E_INVALID_ARG;
    }
    ret = secmsg__hpke_setup_s(&ctx, enc, mode, info, info_len, pk_r, sk_s, psk, NULL, 0);
    if (ret == SECMSG_OK) {
        ret = secmsg__hpke_ctx_seal(&ctx, ct, pt, pt_len, aad, aad_len);
        if (ret != SECMSG_OK) {
            sodium_memzero(enc, SECMSG__HPKE_ENCBYTES);
        }
    }
    secmsg__hpke_ctx_wipe(&ctx);
    return ret;
}

int secmsg__hpke_open(uint8_t *pt, const uint8_t *enc, const uint8_t *ct, size_t ct_len,
                      const uint8_t *aad, size_t aad_len, secmsg__hpke_mode mode,
                      const uint8_t *info, size_t info_len, const uint8_t *sk_r,
                      const uint8_t *pk_s, const secmsg__hpke_psk *psk)
{
    secmsg__hpke_ctx ctx;
    size_t pt_len = ct_len > SECMSG__HPKE_ABYTES ? ct_len - SECMSG__HPKE_ABYTES : 0;
    int ret;

    if (pt == NULL && pt_len > 0) {
        return SECMSG_E_INVALID_ARG;
    }
    if (ct == NULL || !buf_ok(aad, aad_len)) {
        ret = SECMSG_E_INVALID_ARG;
    } else if (ct_len < SECMSG__HPKE_ABYTES) {
        ret = SECMSG_E_DECRYPT; /* no tag: not worth a key agreement */
    } else {
        ret = secmsg__hpke_setup_r(&ctx, mode, enc, info, info_len, sk_r, pk_s, psk);
        if (ret == SECMSG_OK) {
            ret = secmsg__hpke_ctx_open(&ctx, pt, ct, ct_len, aad, aad_len);
        }
        secmsg__hpke_ctx_wipe(&ctx);
    }
    if (ret != SECMSG_OK && pt_len > 0) {
        sodium_memzero(pt, pt_len);
    }
    return ret;
}
