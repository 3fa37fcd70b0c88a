/*
 * impl_floor.c - the libsodium-only floor: exactly the primitive operations of
 * secmsg's construction (spec/protocol.md), with no serialization, no state
 * copies for atomicity, no wiping, no skipped-key handling and no checks
 * beyond what the primitives do themselves. It is a real (minimal) Double
 * Ratchet with header encryption, so every decrypt authenticates what the
 * matching encrypt produced, but it is not a usable protocol.
 *
 * Operations counted per message (keep in step with the construction):
 *   encrypt: chain KDF (BLAKE2b-512 and BLAKE2b-256 keyed with CK over one
 *            byte), header AEAD (40 bytes, AD 64), body AEAD (AD 64 + 68).
 *   decrypt: header AEAD trial(s), chain KDF, body AEAD. Same chain: one
 *            trial with HKr. New chain (ping-pong): a failed trial with HKr,
 *            a successful one with NHKr, then the receiving half of the DH
 *            step: 1 X25519 and 1 root KDF (HKDF-SHA256 extract + expand to
 *            96 bytes). The first encrypt after it takes the sending half:
 *            1 key generation (32 random bytes + X25519 base), 1 X25519,
 *            1 root KDF.
 *
 * These counts were checked against libsecmsg 0.1.0 by interposing
 * libsodium (before the sending half became lazy): per setup 11 X25519,
 * 3 X25519 base, 3 Ed25519 verifications, 5 HKDF, 4 BLAKE2b, 2+2 AEAD; per
 * ping-pong message one more (failed) header decryption, 2 X25519, 1 base,
 * 2 HKDF. With the lazy sending half a setup has one X25519, one base and
 * one HKDF fewer; a ping-pong message is unchanged.
 *   setup:   initiator: 2 Ed25519 verifications, 2 key generations, 4 X25519
 *            for X3DH + 1 for the first ratchet step, 2 HKDF, first encrypt;
 *            responder: 1 Ed25519 verification, 4 X25519, 1 HKDF, then the
 *            decrypt of the first message with the receiving half of its DH
 *            step (the sending half is taken lazily at the next send). The
 *            responder has no HKr yet, so there is no failed header trial.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NAME "floor"
#define KEY_BYTES 32U
#define SIG_BYTES 64U
#define AD_BYTES 64U
#define NONCE_BYTES 12U
#define TAG_BYTES 16U
#define HDR_PT_BYTES 40U                                        /* DHs || le32 PN || le32 N */
#define HDR_WIRE_BYTES (NONCE_BYTES + HDR_PT_BYTES + TAG_BYTES) /* 68 */
#define MSG_OVERHEAD (HDR_WIRE_BYTES + TAG_BYTES)
#define MK_BYTES 64U /* body key 0..32, body nonce 32..44, header nonce 44..56 */

static const char info_x3dh[] = "secmsg v1 x3dh";
static const char info_root[] = "secmsg v1 root";
static const char ctx_id_dh[] = "secmsg v1 identity dh";
static const char ctx_spk[] = "secmsg v1 signed prekey";

typedef struct party {
    uint8_t rk[KEY_BYTES], cks[KEY_BYTES], ckr[KEY_BYTES];
    uint8_t hks[KEY_BYTES], hkr[KEY_BYTES], nhks[KEY_BYTES], nhkr[KEY_BYTES];
    uint8_t dhs_sk[KEY_BYTES], dhs_pk[KEY_BYTES], dhr[KEY_BYTES];
    uint32_t ns, nr, pn;
    bool has_hkr;
    bool has_cks; /* false: the sending half of a DH step is due */
    uint8_t ad[AD_BYTES];
} party;

typedef struct identity {
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
    uint8_t dh_sk[KEY_BYTES], dh_pk[KEY_BYTES];
    uint8_t dh_sig[SIG_BYTES];
} identity;

typedef struct responder_keys {
    identity id;
    uint32_t spk_id;
    uint8_t spk_sk[KEY_BYTES], spk_pk[KEY_BYTES], spk_sig[SIG_BYTES];
    uint8_t opk_sk[KEY_BYTES], opk_pk[KEY_BYTES];
} responder_keys;

/* What an initial message carries besides the ratchet message. */
typedef struct initial_info {
    const identity *sender; /* only its public half is read */
    uint8_t ek_pk[KEY_BYTES];
} initial_info;

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void keygen(uint8_t sk[KEY_BYTES], uint8_t pk[KEY_BYTES])
{
    randombytes_buf(sk, KEY_BYTES);
    crypto_scalarmult_base(pk, sk);
}

/*
 * out = HKDF-SHA256(salt, ikm, info) truncated to 96 bytes. The expand HMAC
 * is keyed once and its state copied per block (2 HMAC keyings per HKDF
 * instead of 4), as the library does: same primitive, cheapest form.
 */
static void hkdf96(uint8_t out[96], const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                   size_t ikm_len, const char *info)
{
    crypto_auth_hmacsha256_state keyed, st;
    uint8_t prk[crypto_auth_hmacsha256_BYTES];
    size_t info_len = strlen(info);

    crypto_auth_hmacsha256_init(&st, salt, salt_len);
    crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&keyed, prk, sizeof prk);
    for (uint8_t i = 1; i <= 3; i++) {
        memcpy(&st, &keyed, sizeof st);
        if (i > 1)
            crypto_auth_hmacsha256_update(&st, out + 32U * (i - 2U), 32);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)info, info_len);
        crypto_auth_hmacsha256_update(&st, &i, 1);
        crypto_auth_hmacsha256_final(&st, out + 32U * (i - 1U));
    }
}

/* (rk, ck, nhk) = HKDF(salt = rk, ikm = DH(sk, pk), "secmsg v1 root"). */
static int kdf_rk(party *p, uint8_t ck[KEY_BYTES], uint8_t nhk[KEY_BYTES],
                  const uint8_t sk[KEY_BYTES], const uint8_t pk[KEY_BYTES])
{
    uint8_t dh[KEY_BYTES], out[96];
    if (crypto_scalarmult(dh, sk, pk) != 0)
        return BENCH_FAIL;
    hkdf96(out, p->rk, KEY_BYTES, dh, sizeof dh, info_root);
    memcpy(p->rk, out, KEY_BYTES);
    memcpy(ck, out + 32, KEY_BYTES);
    memcpy(nhk, out + 64, KEY_BYTES);
    return BENCH_OK;
}

/* mk = BLAKE2b-512(key = ck, 0x01); ck = BLAKE2b-256(key = ck, 0x02). */
static void chain_step(uint8_t ck[KEY_BYTES], uint8_t mk[MK_BYTES])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t next[KEY_BYTES];
    crypto_generichash(mk, MK_BYTES, &one, 1, ck, KEY_BYTES);
    crypto_generichash(next, sizeof next, &two, 1, ck, KEY_BYTES);
    memcpy(ck, next, KEY_BYTES);
}

/* Writes len + MSG_OVERHEAD bytes to out. */
static int floor_encrypt(party *p, uint8_t *out, const uint8_t *pt, size_t len)
{
    uint8_t mk[MK_BYTES], hdr[HDR_PT_BYTES], ad2[AD_BYTES + HDR_WIRE_BYTES];

    if (!p->has_cks) { /* sending half of the DH ratchet step, taken lazily */
        keygen(p->dhs_sk, p->dhs_pk);
        if (kdf_rk(p, p->cks, p->nhks, p->dhs_sk, p->dhr) != BENCH_OK)
            return BENCH_FAIL;
        p->has_cks = true;
    }
    chain_step(p->cks, mk);
    memcpy(hdr, p->dhs_pk, KEY_BYTES);
    store_le32(hdr + 32, p->pn);
    store_le32(hdr + 36, p->ns);
    p->ns++;

    memcpy(out, mk + 44, NONCE_BYTES);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, hdr, sizeof hdr, p->ad,
                                              AD_BYTES, NULL, out, p->hks);
    memcpy(ad2, p->ad, AD_BYTES);
    memcpy(ad2 + AD_BYTES, out, HDR_WIRE_BYTES);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + HDR_WIRE_BYTES, NULL, pt, len, ad2, sizeof ad2,
                                              NULL, mk + 32, mk);
    return BENCH_OK;
}

static int open_header(uint8_t hdr[HDR_PT_BYTES], const party *p, const uint8_t *in,
                       const uint8_t key[KEY_BYTES])
{
    return crypto_aead_chacha20poly1305_ietf_decrypt(
        hdr, NULL, NULL, in + NONCE_BYTES, HDR_PT_BYTES + TAG_BYTES, p->ad, AD_BYTES, in, key);
}

/* Assumes in-order delivery: the message is the next one of its chain. */
static int floor_decrypt(party *p, uint8_t *pt, const uint8_t *in, size_t in_len)
{
    uint8_t hdr[HDR_PT_BYTES], mk[MK_BYTES], ad2[AD_BYTES + HDR_WIRE_BYTES];

    if (in_len < MSG_OVERHEAD)
        return BENCH_FAIL;
    if (!p->has_hkr || open_header(hdr, p, in, p->hkr) != 0) {
        if (open_header(hdr, p, in, p->nhkr) != 0)
            return BENCH_FAIL;
        /* DH ratchet step (Signal Double Ratchet with header encryption). */
        p->pn = p->ns;
        p->ns = 0;
        p->nr = 0;
        memcpy(p->hks, p->nhks, KEY_BYTES);
        memcpy(p->hkr, p->nhkr, KEY_BYTES);
        p->has_hkr = true;
        memcpy(p->dhr, hdr, KEY_BYTES);
        if (kdf_rk(p, p->ckr, p->nhkr, p->dhs_sk, p->dhr) != BENCH_OK)
            return BENCH_FAIL;
        p->has_cks = false; /* the sending half waits for the next send */
    }
    chain_step(p->ckr, mk);
    p->nr++;
    memcpy(ad2, p->ad, AD_BYTES);
    memcpy(ad2 + AD_BYTES, in, HDR_WIRE_BYTES);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, in + HDR_WIRE_BYTES,
                                                  in_len - HDR_WIRE_BYTES, ad2, sizeof ad2, mk + 32,
                                                  mk) != 0)
        return BENCH_FAIL;
    return BENCH_OK;
}

static void identity_generate(identity *id)
{
    uint8_t m[sizeof ctx_id_dh - 1 + KEY_BYTES];
    crypto_sign_keypair(id->sign_pk, id->sign_sk);
    keygen(id->dh_sk, id->dh_pk);
    memcpy(m, ctx_id_dh, sizeof ctx_id_dh - 1);
    memcpy(m + sizeof ctx_id_dh - 1, id->dh_pk, KEY_BYTES);
    crypto_sign_detached(id->dh_sig, NULL, m, sizeof m, id->sign_sk);
}

static int identity_verify(const identity *id)
{
    uint8_t m[sizeof ctx_id_dh - 1 + KEY_BYTES];
    memcpy(m, ctx_id_dh, sizeof ctx_id_dh - 1);
    memcpy(m + sizeof ctx_id_dh - 1, id->dh_pk, KEY_BYTES);
    return crypto_sign_verify_detached(id->dh_sig, m, sizeof m, id->sign_pk) == 0 ? BENCH_OK
                                                                                  : BENCH_FAIL;
}

static void spk_message(uint8_t m[sizeof ctx_spk - 1 + 4 + KEY_BYTES], uint32_t id,
                        const uint8_t pk[KEY_BYTES])
{
    memcpy(m, ctx_spk, sizeof ctx_spk - 1);
    store_le32(m + sizeof ctx_spk - 1, id);
    memcpy(m + sizeof ctx_spk - 1 + 4, pk, KEY_BYTES);
}

static void responder_generate(responder_keys *r)
{
    uint8_t m[sizeof ctx_spk - 1 + 4 + KEY_BYTES];
    identity_generate(&r->id);
    r->spk_id = 1;
    keygen(r->spk_sk, r->spk_pk);
    spk_message(m, r->spk_id, r->spk_pk);
    crypto_sign_detached(r->spk_sig, NULL, m, sizeof m, r->id.sign_sk);
    keygen(r->opk_sk, r->opk_pk);
}

/* X3DH output: SK || HKa || NHKb. */
static int x3dh(uint8_t out[96], const uint8_t *dh_pairs[8])
{
    uint8_t ikm[32 + 4 * KEY_BYTES];
    memset(ikm, 0xFF, 32);
    for (size_t i = 0; i < 4; i++) {
        if (crypto_scalarmult(ikm + 32 + i * KEY_BYTES, dh_pairs[2 * i], dh_pairs[2 * i + 1]) != 0)
            return BENCH_FAIL;
    }
    static const uint8_t zero_salt[32];
    hkdf96(out, zero_salt, sizeof zero_salt, ikm, sizeof ikm, info_x3dh);
    return BENCH_OK;
}

/*
 * Either side's session from X3DH over dh_pairs: rk = SK, HKa and NHKb into
 * the party's fields for them (initiator: hks and nhkr; responder: nhkr and
 * nhks), counters at 0, no receiving header key yet, AD = initiator's and
 * responder's signing keys.
 */
static int session_start(party *p, const uint8_t *dh_pairs[8], uint8_t hk_a[KEY_BYTES],
                         uint8_t nhk_b[KEY_BYTES], const uint8_t *ad_initiator,
                         const uint8_t *ad_responder)
{
    uint8_t sk[96];
    if (x3dh(sk, dh_pairs) != BENCH_OK)
        return BENCH_FAIL;
    memcpy(p->rk, sk, KEY_BYTES);
    memcpy(hk_a, sk + 32, KEY_BYTES);
    memcpy(nhk_b, sk + 64, KEY_BYTES);
    p->has_hkr = false;
    p->ns = p->nr = p->pn = 0;
    memcpy(p->ad, ad_initiator, KEY_BYTES);
    memcpy(p->ad + KEY_BYTES, ad_responder, KEY_BYTES);
    return BENCH_OK;
}

/* Initiator: bundle -> session -> first message (out, len + MSG_OVERHEAD). */
static int floor_initiate(party *a, initial_info *info, const identity *self,
                          const responder_keys *bob, uint8_t *out, const uint8_t *pt, size_t len)
{
    uint8_t m[sizeof ctx_spk - 1 + 4 + KEY_BYTES], ek_sk[KEY_BYTES];

    if (identity_verify(&bob->id) != BENCH_OK)
        return BENCH_FAIL;
    spk_message(m, bob->spk_id, bob->spk_pk);
    if (crypto_sign_verify_detached(bob->spk_sig, m, sizeof m, bob->id.sign_pk) != 0)
        return BENCH_FAIL;
    keygen(ek_sk, info->ek_pk);
    keygen(a->dhs_sk, a->dhs_pk);
    const uint8_t *pairs[8] = {self->dh_sk, bob->spk_pk, ek_sk, bob->id.dh_pk,
                               ek_sk,       bob->spk_pk, ek_sk, bob->opk_pk};
    if (session_start(a, pairs, a->hks, a->nhkr, self->sign_pk, bob->id.sign_pk) != BENCH_OK)
        return BENCH_FAIL;
    memcpy(a->dhr, bob->spk_pk, KEY_BYTES);
    if (kdf_rk(a, a->cks, a->nhks, a->dhs_sk, a->dhr) != BENCH_OK)
        return BENCH_FAIL;
    a->has_cks = true;
    info->sender = self;
    return floor_encrypt(a, out, pt, len);
}

/* Responder: initial message -> session + plaintext. */
static int floor_accept(party *b, const responder_keys *self, const initial_info *info,
                        const uint8_t *msg, size_t msg_len, uint8_t *pt)
{
    if (identity_verify(info->sender) != BENCH_OK)
        return BENCH_FAIL;
    const uint8_t *pairs[8] = {self->spk_sk, info->sender->dh_pk, self->id.dh_sk, info->ek_pk,
                               self->spk_sk, info->ek_pk,         self->opk_sk,   info->ek_pk};
    if (session_start(b, pairs, b->nhkr, b->nhks, info->sender->sign_pk, self->id.sign_pk) !=
        BENCH_OK)
        return BENCH_FAIL;
    b->has_cks = false;
    memcpy(b->dhs_sk, self->spk_sk, KEY_BYTES);
    memcpy(b->dhs_pk, self->spk_pk, KEY_BYTES);
    return floor_decrypt(b, pt, msg, msg_len);
}

/* ---- benchmark plumbing ---- */

typedef struct pair_ctx {
    party alice, bob;
    identity alice_id;
    responder_keys bob_keys;
    const uint8_t *pt;
    uint8_t *msg, *out;
    size_t len;
} pair_ctx;

static void floor_pair_clear(void *pair)
{
    pair_ctx *c = pair;
    free(c->msg);
    free(c->out);
}

static int floor_transmit(void *pair, bool b_to_a, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    party *from = b_to_a ? &c->bob : &c->alice, *to = b_to_a ? &c->alice : &c->bob;
    if (floor_encrypt(from, c->msg, c->pt, c->len) != BENCH_OK ||
        floor_decrypt(to, c->out, c->msg, c->len + MSG_OVERHEAD) != BENCH_OK) {
        bench_error(NAME, "decrypt failed");
        return BENCH_FAIL;
    }
    *got = c->out;
    *got_len = c->len;
    return BENCH_OK;
}

static int floor_setup(void *pair, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    initial_info info;
    if (floor_initiate(&c->alice, &info, &c->alice_id, &c->bob_keys, c->msg, c->pt, c->len) !=
            BENCH_OK ||
        floor_accept(&c->bob, &c->bob_keys, &info, c->msg, c->len + MSG_OVERHEAD, c->out) !=
            BENCH_OK) {
        bench_error(NAME, "session setup failed");
        return BENCH_FAIL;
    }
    *got = c->out;
    *got_len = c->len;
    return BENCH_OK;
}

/* Between setups: a fresh one-time prekey, as the responder would publish. */
static int floor_setup_reset(void *pair)
{
    pair_ctx *c = pair;
    keygen(c->bob_keys.opk_sk, c->bob_keys.opk_pk);
    return BENCH_OK;
}

/* Alice's identity, Bob's identity and prekeys. */
static int floor_pair_init(void *pair, const uint8_t *pt, size_t len)
{
    pair_ctx *c = pair;
    size_t cap = (len > BENCH_SMALL_MSG ? len : BENCH_SMALL_MSG) + MSG_OVERHEAD;
    c->pt = pt;
    c->len = len;
    c->msg = malloc(cap);
    c->out = malloc(cap);
    if (c->msg == NULL || c->out == NULL)
        return BENCH_FAIL;
    identity_generate(&c->alice_id);
    responder_generate(&c->bob_keys);
    return BENCH_OK;
}

static int floor_init(void)
{
    return sodium_init() < 0 ? BENCH_FAIL : BENCH_OK;
}

static const char *floor_version(void)
{
    return "libsodium primitives only";
}

const bench_impl bench_impl_floor = {
    .name = NAME,
    .init = floor_init,
    .version = floor_version,
    .pair_size = sizeof(pair_ctx),
    .pair_init = floor_pair_init,
    .pair_clear = floor_pair_clear,
    .setup = floor_setup,
    .setup_reset = floor_setup_reset,
    .transmit = floor_transmit,
    /* No serialized state; on the wire only header and body ciphertext. */
    .wire_bytes = BENCH_SMALL_MSG + MSG_OVERHEAD,
};
