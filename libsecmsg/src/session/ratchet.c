/*
 * Double Ratchet with header encryption (Signal's Double Ratchet spec, §4).
 *
 * Invariant for decryption: nothing in the session is written until the
 * body has authenticated. All candidate updates go to a copy of the fixed
 * ratchet state and a scratch list of newly skipped keys, which are
 * committed (or wiped) at the end.
 */
#include <sodium.h>
#include <string.h>

#include "crypto/kdf.h"
#include "session/internal.h"

static const char ROOT_INFO[] = "secmsg v1 root";

/* Protobuf tags of Message (field << 3 | wire type). */
#define TAG_VERSION 0x08U
#define TAG_HEADER 0x12U
#define TAG_BODY 0x1aU
#define TAG_PREKEY 0x22U

/* Bytes of a message key derivation: body key, body nonce, header nonce. */
#define MK_FULL 64U
#define MK_BODY_NONCE 32U
#define MK_HEADER_NONCE 44U

static void le32_put(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int secmsg__kdf_rk(uint8_t rk[SECMSG__KEY_BYTES], uint8_t ck[SECMSG__KEY_BYTES],
                   uint8_t nhk[SECMSG__KEY_BYTES], const uint8_t sk[SECMSG__KEY_BYTES],
                   const uint8_t pk[SECMSG__KEY_BYTES])
{
    uint8_t dh[SECMSG__KEY_BYTES];
    uint8_t okm[3 * SECMSG__KEY_BYTES];
    int rc = SECMSG_E_CRYPTO;
    if (crypto_scalarmult(dh, sk, pk) != 0)
        goto out;
    (void)secmsg__hkdf(okm, sizeof okm, rk, SECMSG__KEY_BYTES, dh, sizeof dh,
                       (const uint8_t *)ROOT_INFO, sizeof ROOT_INFO - 1);
    memcpy(rk, okm, SECMSG__KEY_BYTES);
    memcpy(ck, okm + SECMSG__KEY_BYTES, SECMSG__KEY_BYTES);
    memcpy(nhk, okm + 2 * SECMSG__KEY_BYTES, SECMSG__KEY_BYTES);
    rc = SECMSG_OK;
out:
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(okm, sizeof okm);
    return rc;
}

/* mk = BLAKE2b-512(key = ck, 0x01); ck = BLAKE2b-256(key = ck, 0x02). */
static void chain_step(uint8_t mk[MK_FULL], uint8_t ck[SECMSG__KEY_BYTES])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t next[SECMSG__KEY_BYTES];
    crypto_generichash(mk, MK_FULL, &one, 1, ck, SECMSG__KEY_BYTES);
    crypto_generichash(next, sizeof next, &two, 1, ck, SECMSG__KEY_BYTES);
    memcpy(ck, next, sizeof next);
    sodium_memzero(next, sizeof next);
}

static int header_open(uint8_t hpt[SECMSG__HEADER_PT_BYTES], const uint8_t hk[SECMSG__KEY_BYTES],
                       const uint8_t hdr[SECMSG__HEADER_BYTES], const uint8_t *ad)
{
    return crypto_aead_chacha20poly1305_ietf_decrypt(
               hpt, NULL, NULL, hdr + SECMSG__HEADER_NONCE_BYTES,
               SECMSG__HEADER_BYTES - SECMSG__HEADER_NONCE_BYTES, ad, 2 * SECMSG__KEY_BYTES, hdr,
               hk) == 0;
}

/* ---- encryption ---- */

static size_t prekey_info_len(const secmsg_session *s, Secmsg__Wire__PrekeyInfo *pi,
                              Secmsg__Wire__IdentityPublic *ip)
{
    secmsg__wire__prekey_info__init(pi);
    secmsg__idpub_to_wire(ip, &s->pending.self);
    pi->identity = ip;
    pi->has_ephemeral = pi->has_signed_prekey_id = 1;
    pi->ephemeral = secmsg__bytes(s->pending.ephemeral, SECMSG__KEY_BYTES);
    pi->signed_prekey_id = s->pending.spk_id;
    if (s->pending.otk_id != 0) {
        pi->has_one_time_prekey_id = 1;
        pi->one_time_prekey_id = s->pending.otk_id;
    }
    return secmsg__wire__prekey_info__get_packed_size(pi);
}

/* Encoded Message length for a plaintext of pt_len and a prekey info of pk bytes (0: none). */
static size_t message_len(size_t pt_len, size_t pk)
{
    size_t body = pt_len + SECMSG__TAG_BYTES;
    size_t n = 2 + 2 + SECMSG__HEADER_BYTES + 1 + secmsg__varint_len(body) + body;
    return pk == 0 ? n : n + 1 + secmsg__varint_len(pk) + pk;
}

size_t secmsg__ratchet_ciphertext_len(const secmsg_session *s, size_t pt_len)
{
    if (pt_len > SECMSG_MAX_PLAINTEXT)
        return 0;
    Secmsg__Wire__PrekeyInfo pi;
    Secmsg__Wire__IdentityPublic ip;
    return message_len(pt_len, s->has_pending ? prekey_info_len(s, &pi, &ip) : 0);
}

/*
 * The Message protobuf is written directly (fields in number order, as
 * protobuf-c would) so the body can be encrypted in place without a copy.
 */
int secmsg__ratchet_encrypt(secmsg_session *s, uint8_t *out, size_t cap, size_t *out_len,
                            const uint8_t *pt, size_t pt_len)
{
    if ((!s->r.has_cks && !s->r.has_dhr) || s->r.ns == UINT32_MAX)
        return SECMSG_E_STATE;
    Secmsg__Wire__PrekeyInfo pi;
    Secmsg__Wire__IdentityPublic ip;
    size_t pk = s->has_pending ? prekey_info_len(s, &pi, &ip) : 0;
    size_t need = message_len(pt_len, pk);
    *out_len = need;
    if (out == NULL || cap < need)
        return SECMSG_E_BUFFER_TOO_SMALL;

    /* Work on a copy; it replaces the state only once the message is written. */
    secmsg__ratchet t = s->r;
    secmsg__ratchet *r = &t;
    uint8_t mk[MK_FULL];
    uint8_t hpt[SECMSG__HEADER_PT_BYTES];
    uint8_t bad[2 * SECMSG__KEY_BYTES + SECMSG__HEADER_BYTES];
    int rc = SECMSG_OK;
    /*
     * The sending half of a DH ratchet step is taken lazily, at the first
     * send after the receiving half (see secmsg__ratchet_decrypt): a fresh
     * ratchet key pair, then RK, CKs, NHKs = KDF_RK(RK, DH(DHs, DHr)).
     */
    if (!r->has_cks) {
        secmsg__dh_keypair(r->dhs_sk, r->dhs_pk);
        rc = secmsg__kdf_rk(r->rk, r->cks, r->nhks, r->dhs_sk, r->dhr);
        if (rc != SECMSG_OK)
            goto out;
        r->has_cks = true;
    }
    chain_step(mk, r->cks);

    uint8_t *p = out;
    *p++ = TAG_VERSION;
    *p++ = SECMSG_PROTOCOL_VERSION;
    *p++ = TAG_HEADER;
    *p++ = SECMSG__HEADER_BYTES;
    uint8_t *hdr = p;
    memcpy(hpt, r->dhs_pk, SECMSG__KEY_BYTES);
    le32_put(hpt + 32, r->pn);
    le32_put(hpt + 36, r->ns);
    memcpy(hdr, mk + MK_HEADER_NONCE, SECMSG__HEADER_NONCE_BYTES);
    crypto_aead_chacha20poly1305_ietf_encrypt(hdr + SECMSG__HEADER_NONCE_BYTES, NULL, hpt,
                                              sizeof hpt, s->ad, sizeof s->ad, NULL, hdr, r->hks);
    p += SECMSG__HEADER_BYTES;

    size_t body = pt_len + SECMSG__TAG_BYTES;
    *p++ = TAG_BODY;
    p += secmsg__varint_put(p, body);
    memcpy(bad, s->ad, sizeof s->ad);
    memcpy(bad + sizeof s->ad, hdr, SECMSG__HEADER_BYTES);
    crypto_aead_chacha20poly1305_ietf_encrypt(p, NULL, pt, pt_len, bad, sizeof bad, NULL,
                                              mk + MK_BODY_NONCE, mk);
    p += body;

    if (pk != 0) {
        *p++ = TAG_PREKEY;
        p += secmsg__varint_put(p, pk);
        p += secmsg__wire__prekey_info__pack(&pi, p);
    }

    r->ns++;
    s->r = t;
out:
    sodium_memzero(&t, sizeof t);
    sodium_memzero(mk, sizeof mk);
    return rc;
}

/* ---- skipped keys ---- */

int secmsg__skipped_reserve(secmsg_session *s)
{
    if (s->skipped == NULL) {
        s->skipped = sodium_allocarray(SECMSG_MAX_SKIPPED_TOTAL, sizeof *s->skipped);
        if (s->skipped == NULL)
            return SECMSG_E_NOMEM;
    }
    return SECMSG_OK;
}

/* Newly skipped keys of one decryption, not yet committed. */
typedef struct pending_keys {
    secmsg__skipped *e;
    uint32_t n;
} pending_keys;

#define PENDING_CAP (2U * SECMSG_MAX_SKIP)

/* Derives and records the keys of messages r_n..until-1 of chain ck. */
static int skip_until(pending_keys *pk, uint8_t ck[SECMSG__KEY_BYTES], uint32_t *r_n,
                      uint32_t until, const uint8_t hk[SECMSG__KEY_BYTES])
{
    if (until <= *r_n)
        return SECMSG_OK;
    if (pk->e == NULL && (pk->e = sodium_allocarray(PENDING_CAP, sizeof *pk->e)) == NULL)
        return SECMSG_E_NOMEM;
    uint8_t mk[MK_FULL];
    while (*r_n < until) {
        secmsg__skipped *e = &pk->e[pk->n++];
        chain_step(mk, ck);
        memcpy(e->hk, hk, SECMSG__KEY_BYTES);
        e->n = *r_n;
        memcpy(e->mk, mk, SECMSG__MK_BYTES);
        (*r_n)++;
    }
    sodium_memzero(mk, sizeof mk);
    return SECMSG_OK;
}

static void skipped_remove(secmsg_session *s, uint32_t first, uint32_t count)
{
    memmove(&s->skipped[first], &s->skipped[first + count],
            (s->n_skipped - first - count) * sizeof s->skipped[0]);
    s->n_skipped -= count;
    sodium_memzero(&s->skipped[s->n_skipped], count * sizeof s->skipped[0]);
}

/* Length of the run of keys sharing skipped[i]'s header key. */
static uint32_t run_length(const secmsg_session *s, uint32_t i)
{
    uint32_t j = i + 1;
    while (j < s->n_skipped &&
           sodium_memcmp(s->skipped[j].hk, s->skipped[i].hk, SECMSG__KEY_BYTES) == 0)
        j++;
    return j - i;
}

/* Appends the pending keys, then evicts oldest keys and oldest chains over the caps. */
static void skipped_commit(secmsg_session *s, const pending_keys *pk)
{
    if (pk->n == 0)
        return;
    uint32_t total = s->n_skipped + pk->n;
    if (total > SECMSG_MAX_SKIPPED_TOTAL)
        skipped_remove(s, 0, total - SECMSG_MAX_SKIPPED_TOTAL);
    memcpy(&s->skipped[s->n_skipped], pk->e, pk->n * sizeof pk->e[0]);
    s->n_skipped += pk->n;

    uint32_t chains = 0;
    for (uint32_t i = 0; i < s->n_skipped; i += run_length(s, i))
        chains++;
    while (chains-- > SECMSG_MAX_SKIPPED_CHAINS)
        skipped_remove(s, 0, run_length(s, 0));
}

/* ---- decryption ---- */

static int body_open(uint8_t *pt, const uint8_t mk[SECMSG__MK_BYTES], const uint8_t *ad_hdr,
                     const Secmsg__Wire__Message *m)
{
    return crypto_aead_chacha20poly1305_ietf_decrypt(
               pt, NULL, NULL, m->body.data, m->body.len, ad_hdr,
               2 * SECMSG__KEY_BYTES + SECMSG__HEADER_BYTES, mk + MK_BODY_NONCE, mk) == 0
               ? SECMSG_OK
               : SECMSG_E_DECRYPT;
}

/* Tries the skipped keys. Returns 1 when handled (*rc set), 0 to go on. */
static int try_skipped(secmsg_session *s, uint8_t *pt, const uint8_t *ad_hdr,
                       const Secmsg__Wire__Message *m, int *rc)
{
    uint8_t hpt[SECMSG__HEADER_PT_BYTES];
    const uint8_t *hdr = m->header.data;
    for (uint32_t i = 0; i < s->n_skipped;) {
        uint32_t len = run_length(s, i);
        if (header_open(hpt, s->skipped[i].hk, hdr, s->ad)) {
            uint32_t n = le32_get(hpt + 36);
            for (uint32_t j = i; j < i + len; j++) {
                if (s->skipped[j].n == n) {
                    *rc = body_open(pt, s->skipped[j].mk, ad_hdr, m);
                    if (*rc == SECMSG_OK)
                        skipped_remove(s, j, 1);
                    return 1;
                }
            }
            /* The current receiving chain continues below; an old one is done. */
            if (!s->r.has_hkr ||
                sodium_memcmp(s->skipped[i].hk, s->r.hkr, SECMSG__KEY_BYTES) != 0) {
                *rc = SECMSG_E_DUPLICATE;
                return 1;
            }
            return 0;
        }
        i += len;
    }
    return 0;
}

int secmsg__ratchet_decrypt(secmsg_session *s, uint8_t *pt, size_t cap, size_t *pt_len,
                            const Secmsg__Wire__Message *m)
{
    size_t need = m->body.len - SECMSG__TAG_BYTES;
    *pt_len = 0;
    if (cap < need || (pt == NULL && need > 0)) {
        *pt_len = need;
        return SECMSG_E_BUFFER_TOO_SMALL;
    }
    uint8_t ad_hdr[2 * SECMSG__KEY_BYTES + SECMSG__HEADER_BYTES];
    memcpy(ad_hdr, s->ad, sizeof s->ad);
    memcpy(ad_hdr + sizeof s->ad, m->header.data, SECMSG__HEADER_BYTES);

    int rc;
    if (try_skipped(s, pt, ad_hdr, m, &rc)) {
        if (rc == SECMSG_OK) {
            *pt_len = need;
            s->has_pending = false;
        }
        return rc;
    }

    secmsg__ratchet t = s->r;
    pending_keys pk = {NULL, 0};
    uint8_t hpt[SECMSG__HEADER_PT_BYTES];
    uint8_t mk[MK_FULL];
    const uint8_t *hdr = m->header.data;
    rc = SECMSG_E_DECRYPT;

    if (t.has_hkr && header_open(hpt, t.hkr, hdr, s->ad)) {
        uint32_t n = le32_get(hpt + 36);
        rc = n < t.nr ? SECMSG_E_DUPLICATE : n - t.nr > SECMSG_MAX_SKIP ? SECMSG_E_TOO_FAR
                                                                       : SECMSG_OK;
        if (rc == SECMSG_OK)
            rc = skip_until(&pk, t.ckr, &t.nr, n, t.hkr);
    } else if (header_open(hpt, t.nhkr, hdr, s->ad)) {
        uint32_t pn = le32_get(hpt + 32);
        uint32_t n = le32_get(hpt + 36);
        rc = SECMSG_OK;
        if (n > SECMSG_MAX_SKIP || (t.has_ckr && pn > t.nr && pn - t.nr > SECMSG_MAX_SKIP))
            rc = SECMSG_E_TOO_FAR;
        /* Close the current receiving chain, keeping keys of its unseen messages. */
        if (rc == SECMSG_OK && t.has_ckr)
            rc = skip_until(&pk, t.ckr, &t.nr, pn, t.hkr);
        if (rc == SECMSG_OK) {
            t.pn = t.ns;
            t.ns = t.nr = 0;
            memcpy(t.hks, t.nhks, SECMSG__KEY_BYTES);
            memcpy(t.hkr, t.nhkr, SECMSG__KEY_BYTES);
            memcpy(t.dhr, hpt, SECMSG__KEY_BYTES);
            t.has_hks = t.has_hkr = t.has_dhr = t.has_ckr = true;
            /* Receiving half only; the sending half waits for our next send. */
            t.has_cks = false;
            sodium_memzero(t.cks, sizeof t.cks);
            rc = secmsg__kdf_rk(t.rk, t.ckr, t.nhkr, t.dhs_sk, t.dhr);
        }
        if (rc == SECMSG_OK)
            rc = skip_until(&pk, t.ckr, &t.nr, n, t.hkr);
    }

    if (rc == SECMSG_OK && pk.n > 0)
        rc = secmsg__skipped_reserve(s);
    if (rc == SECMSG_OK) {
        chain_step(mk, t.ckr);
        t.nr++;
        rc = body_open(pt, mk, ad_hdr, m);
    }
    if (rc == SECMSG_OK) {
        s->r = t;
        skipped_commit(s, &pk);
        s->has_pending = false;
        *pt_len = need;
    }
    sodium_memzero(&t, sizeof t);
    sodium_memzero(mk, sizeof mk);
    sodium_free(pk.e);
    return rc;
}
