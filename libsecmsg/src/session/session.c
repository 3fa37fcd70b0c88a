/*
 * Sessions: X3DH set-up, the public encrypt/decrypt entry points, routing
 * of initial messages, and persistence of the ratchet state.
 */
#include <sodium.h>
#include <string.h>

#include "crypto/kdf.h"
#include "secmsg/session.h"
#include "session/internal.h"

static const char X3DH_INFO[] = "secmsg v1 x3dh";

size_t secmsg_max_plaintext(void) { return SECMSG_MAX_PLAINTEXT; }

/* ---- allocation ---- */

static secmsg_session *session_alloc(void)
{
    secmsg_session *s = sodium_malloc(sizeof *s);
    if (s != NULL)
        memset(s, 0, sizeof *s);
    return s;
}

void secmsg_session_free(secmsg_session *s)
{
    if (s == NULL)
        return;
    sodium_free(s->skipped);
    sodium_free(s);
}

/* ---- X3DH ---- */

int secmsg__x3dh(secmsg__x3dh_out *o, const uint8_t *const priv[4], const uint8_t *const pub[4], unsigned n)
{
    uint8_t ikm[5 * SECMSG__KEY_BYTES];
    uint8_t okm[sizeof *o];
    int rc = SECMSG_OK;
    memset(ikm, 0xFF, SECMSG__KEY_BYTES);
    for (unsigned i = 0; i < n && rc == SECMSG_OK; i++)
        if (crypto_scalarmult(ikm + (i + 1) * SECMSG__KEY_BYTES, priv[i], pub[i]) != 0)
            rc = SECMSG_E_CRYPTO;
    if (rc == SECMSG_OK) {
        (void)secmsg__hkdf(okm, sizeof okm, NULL, 0, ikm, (n + 1) * SECMSG__KEY_BYTES,
                           (const uint8_t *)X3DH_INFO, sizeof X3DH_INFO - 1);
        memcpy(o->sk, okm, SECMSG__KEY_BYTES);
        memcpy(o->hka, okm + SECMSG__KEY_BYTES, SECMSG__KEY_BYTES);
        memcpy(o->nhkb, okm + 2 * SECMSG__KEY_BYTES, SECMSG__KEY_BYTES);
    }
    sodium_memzero(ikm, sizeof ikm);
    sodium_memzero(okm, sizeof okm);
    return rc;
}

/* AD = IKs(initiator) || IKs(responder), from the role and the two identities. */
static void set_ad(secmsg_session *s)
{
    const uint8_t *local = s->local_sign_pub, *remote = s->remote.sign_pub;
    memcpy(s->ad, s->initiator ? local : remote, SECMSG__KEY_BYTES);
    memcpy(s->ad + SECMSG__KEY_BYTES, s->initiator ? remote : local, SECMSG__KEY_BYTES);
}

/* Runs X3DH and creates the session shell both roles share. */
static int session_from_x3dh(secmsg_session **out, secmsg__x3dh_out *o, bool initiator,
                             const secmsg_identity *self, const secmsg__idpub *remote,
                             const uint8_t *const priv[4], const uint8_t *const pub[4], unsigned n)
{
    int rc = secmsg__x3dh(o, priv, pub, n);
    if (rc != SECMSG_OK)
        return rc;
    secmsg_session *s = session_alloc();
    if (s == NULL)
        return SECMSG_E_NOMEM;
    s->initiator = initiator;
    memcpy(s->local_sign_pub, self->pub.sign_pub, SECMSG__KEY_BYTES);
    s->remote = *remote;
    set_ad(s);
    *out = s;
    return SECMSG_OK;
}

int secmsg_session_initiate(secmsg_session **out, const secmsg_identity *self,
                            const uint8_t *bundle, size_t bundle_len)
{
    if (out == NULL || self == NULL || bundle == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;

    secmsg__arena a;
    Secmsg__Wire__PrekeyBundle *b;
    secmsg__arena_init(&a);
    int rc = secmsg__wire_decode_bundle(&b, bundle, bundle_len, &a.alloc);
    if (rc != SECMSG_OK)
        return rc;

    secmsg_session *s = NULL;
    secmsg__idpub remote;
    secmsg__x3dh_out o;
    uint8_t ek_sk[SECMSG__KEY_BYTES], ek_pk[SECMSG__KEY_BYTES];
    const uint8_t *spk = b->signed_prekey->pub.data;
    const uint8_t *otk = b->one_time_prekey ? b->one_time_prekey->pub.data : NULL;

    rc = secmsg__idpub_from_wire(&remote, b->identity);
    if (rc == SECMSG_OK)
        rc = secmsg__idpub_verify(&remote);
    if (rc == SECMSG_OK)
        rc = secmsg__spk_verify(b->signed_prekey->sig.data, remote.sign_pub,
                                b->signed_prekey->id, spk);
    if (rc != SECMSG_OK)
        goto out;

    secmsg__dh_keypair(ek_sk, ek_pk);
    const uint8_t *priv[4] = {self->dh_sk, ek_sk, ek_sk, ek_sk};
    const uint8_t *pub[4] = {spk, remote.dh_pub, spk, otk};
    rc = session_from_x3dh(&s, &o, true, self, &remote, priv, pub, otk ? 4U : 3U);
    if (rc != SECMSG_OK)
        goto out;
    secmsg__ratchet *r = &s->r;
    secmsg__dh_keypair(r->dhs_sk, r->dhs_pk);
    memcpy(r->dhr, spk, SECMSG__KEY_BYTES);
    memcpy(r->rk, o.sk, SECMSG__KEY_BYTES);
    rc = secmsg__kdf_rk(r->rk, r->cks, r->nhks, r->dhs_sk, r->dhr);
    if (rc != SECMSG_OK)
        goto out;
    memcpy(r->hks, o.hka, SECMSG__KEY_BYTES);
    memcpy(r->nhkr, o.nhkb, SECMSG__KEY_BYTES);
    r->has_dhr = r->has_cks = r->has_hks = true;

    s->has_pending = true;
    s->pending.self = self->pub;
    memcpy(s->pending.ephemeral, ek_pk, SECMSG__KEY_BYTES);
    s->pending.spk_id = b->signed_prekey->id;
    s->pending.otk_id = b->one_time_prekey ? b->one_time_prekey->id : 0;
    *out = s;
    s = NULL;
out:
    secmsg_session_free(s);
    sodium_memzero(&o, sizeof o);
    sodium_memzero(ek_sk, sizeof ek_sk);
    secmsg__wire__prekey_bundle__free_unpacked(b, &a.alloc);
    secmsg__arena_wipe(&a);
    return rc;
}

/* ---- incoming ---- */

static int decode_message(Secmsg__Wire__Message **m, secmsg__arena *a, const uint8_t *msg,
                          size_t msg_len)
{
    secmsg__arena_init(a);
    return secmsg__wire_decode_message(m, msg, msg_len, &a->alloc);
}

static void free_message(Secmsg__Wire__Message *m, secmsg__arena *a)
{
    secmsg__wire__message__free_unpacked(m, &a->alloc);
    secmsg__arena_wipe(a);
}

int secmsg_message_info(const uint8_t *msg, size_t msg_len, int *type, uint8_t *sender_identity,
                        size_t cap, size_t *sender_len)
{
    if (msg == NULL || type == NULL || (sender_identity != NULL && sender_len == NULL))
        return SECMSG_E_INVALID_ARG;
    secmsg__arena a;
    Secmsg__Wire__Message *m;
    int rc = decode_message(&m, &a, msg, msg_len);
    if (rc != SECMSG_OK)
        return rc;
    *type = m->prekey ? SECMSG_MESSAGE_INITIAL : SECMSG_MESSAGE_RATCHET;
    if (sender_identity != NULL) {
        *sender_len = 0;
        if (m->prekey != NULL) {
            secmsg__idpub p;
            rc = secmsg__idpub_from_wire(&p, m->prekey->identity);
            if (rc == SECMSG_OK)
                rc = secmsg__idpub_encode(&p, sender_identity, cap, sender_len);
        }
    }
    free_message(m, &a);
    return rc;
}

int secmsg_session_accept(secmsg_session **out, const secmsg_identity *self,
                          secmsg_prekeys *prekeys, const uint8_t *msg, size_t msg_len, uint8_t *pt,
                          size_t pt_cap, size_t *pt_len)
{
    if (out == NULL || self == NULL || prekeys == NULL || msg == NULL || pt_len == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    *pt_len = 0;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    if (sodium_memcmp(prekeys->owner_sign_pub, self->pub.sign_pub, SECMSG__KEY_BYTES) != 0)
        return SECMSG_E_INVALID_ARG;

    secmsg__arena a;
    Secmsg__Wire__Message *m;
    int rc = decode_message(&m, &a, msg, msg_len);
    if (rc != SECMSG_OK)
        return rc;

    secmsg_session *s = NULL;
    secmsg__idpub remote;
    secmsg__x3dh_out o;
    const Secmsg__Wire__PrekeyInfo *pi = m->prekey;
    const secmsg__prekey *spk = NULL, *otk = NULL;
    if (pi == NULL) {
        rc = SECMSG_E_MALFORMED; /* not an initial message */
        goto out;
    }
    rc = secmsg__idpub_from_wire(&remote, pi->identity);
    if (rc == SECMSG_OK)
        rc = secmsg__idpub_verify(&remote);
    if (rc != SECMSG_OK)
        goto out;
    spk = secmsg__prekeys_find_signed(prekeys, pi->signed_prekey_id);
    if (pi->has_one_time_prekey_id)
        otk = secmsg__prekeys_find_one_time(prekeys, pi->one_time_prekey_id);
    if (spk == NULL || (pi->has_one_time_prekey_id && otk == NULL)) {
        rc = SECMSG_E_UNKNOWN_PREKEY;
        goto out;
    }

    const uint8_t *ek = pi->ephemeral.data;
    const uint8_t *priv[4] = {spk->priv, self->dh_sk, spk->priv, otk ? otk->priv : NULL};
    const uint8_t *pub[4] = {remote.dh_pub, ek, ek, ek};
    rc = session_from_x3dh(&s, &o, false, self, &remote, priv, pub, otk ? 4U : 3U);
    if (rc != SECMSG_OK)
        goto out;
    memcpy(s->r.dhs_sk, spk->priv, SECMSG__KEY_BYTES);
    memcpy(s->r.dhs_pk, spk->pub, SECMSG__KEY_BYTES);
    memcpy(s->r.rk, o.sk, SECMSG__KEY_BYTES);
    memcpy(s->r.nhks, o.nhkb, SECMSG__KEY_BYTES);
    memcpy(s->r.nhkr, o.hka, SECMSG__KEY_BYTES);

    rc = secmsg__ratchet_decrypt(s, pt, pt_cap, pt_len, m);
    if (rc != SECMSG_OK)
        goto out;
    if (otk != NULL)
        secmsg__prekeys_consume(prekeys, otk->id);
    *out = s;
    s = NULL;
out:
    secmsg_session_free(s);
    sodium_memzero(&o, sizeof o);
    free_message(m, &a);
    return rc;
}

size_t secmsg_session_ciphertext_len(const secmsg_session *s, size_t pt_len)
{
    return s == NULL ? 0 : secmsg__ratchet_ciphertext_len(s, pt_len);
}

int secmsg_session_encrypt(secmsg_session *s, uint8_t *out, size_t out_cap, size_t *out_len,
                           const uint8_t *pt, size_t pt_len)
{
    if (s == NULL || out_len == NULL || (pt == NULL && pt_len > 0) ||
        pt_len > SECMSG_MAX_PLAINTEXT)
        return SECMSG_E_INVALID_ARG;
    return secmsg__ratchet_encrypt(s, out, out_cap, out_len, pt, pt_len);
}

int secmsg_session_decrypt(secmsg_session *s, uint8_t *pt, size_t pt_cap, size_t *pt_len,
                           const uint8_t *msg, size_t msg_len)
{
    if (s == NULL || pt_len == NULL || msg == NULL)
        return SECMSG_E_INVALID_ARG;
    *pt_len = 0;
    secmsg__arena a;
    Secmsg__Wire__Message *m;
    int rc = decode_message(&m, &a, msg, msg_len);
    if (rc != SECMSG_OK)
        return rc;
    /* An initial message repeated before our first reply must come from our peer. */
    if (m->prekey != NULL &&
        (sodium_memcmp(m->prekey->identity->sign_pub.data, s->remote.sign_pub,
                       SECMSG__KEY_BYTES) != 0 ||
         sodium_memcmp(m->prekey->identity->dh_pub.data, s->remote.dh_pub,
                       SECMSG__KEY_BYTES) != 0))
        rc = SECMSG_E_DECRYPT;
    if (rc == SECMSG_OK)
        rc = secmsg__ratchet_decrypt(s, pt, pt_cap, pt_len, m);
    free_message(m, &a);
    return rc;
}

int secmsg_session_remote_identity(const secmsg_session *s, uint8_t *out, size_t cap,
                                   size_t *out_len)
{
    if (s == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__idpub_encode(&s->remote, out, cap, out_len);
}

/* ---- persistence ---- */

#define KEY(field) secmsg__bytes((field), SECMSG__KEY_BYTES)

/*
 * The wire view of a session points into the session and into the two
 * scratch arrays; it is valid while those live and holds no copies.
 */
typedef struct state_view {
    Secmsg__Wire__SessionState st;
    Secmsg__Wire__IdentityPublic remote, pend_id;
    Secmsg__Wire__PrekeyInfo pending;
    Secmsg__Wire__SkippedKey *keys;
    Secmsg__Wire__SkippedKey **keyp;
    ProtobufCBinaryData *hks;
} state_view;

static void view_free(state_view *v)
{
    sodium_free(v->keys);
    sodium_free(v->keyp);
    sodium_free(v->hks);
}

static int view_build(state_view *v, const secmsg_session *s)
{
    const secmsg__ratchet *r = &s->r;
    Secmsg__Wire__SessionState *st = &v->st;
    memset(v, 0, sizeof *v);
    secmsg__wire__session_state__init(st);
    st->has_version = st->has_initiator = st->has_local_sign_pub = 1;
    st->version = SECMSG_PROTOCOL_VERSION;
    st->initiator = s->initiator;
    st->local_sign_pub = KEY(s->local_sign_pub);
    secmsg__idpub_to_wire(&v->remote, &s->remote);
    st->remote = &v->remote;
    st->has_rk = st->has_dhs_priv = st->has_nhks = st->has_nhkr = 1;
    st->rk = KEY(r->rk);
    st->dhs_priv = KEY(r->dhs_sk);
    st->nhks = KEY(r->nhks);
    st->nhkr = KEY(r->nhkr);
    st->has_dhr = r->has_dhr;
    st->dhr = KEY(r->dhr);
    st->has_cks = r->has_cks;
    st->cks = KEY(r->cks);
    st->has_ckr = r->has_ckr;
    st->ckr = KEY(r->ckr);
    st->has_hks = r->has_hks;
    st->hks = KEY(r->hks);
    st->has_hkr = r->has_hkr;
    st->hkr = KEY(r->hkr);
    st->has_ns = st->has_nr = st->has_pn = 1;
    st->ns = r->ns;
    st->nr = r->nr;
    st->pn = r->pn;
    if (s->has_pending) {
        secmsg__wire__prekey_info__init(&v->pending);
        secmsg__idpub_to_wire(&v->pend_id, &s->pending.self);
        v->pending.identity = &v->pend_id;
        v->pending.has_ephemeral = v->pending.has_signed_prekey_id = 1;
        v->pending.ephemeral = KEY(s->pending.ephemeral);
        v->pending.signed_prekey_id = s->pending.spk_id;
        v->pending.has_one_time_prekey_id = s->pending.otk_id != 0;
        v->pending.one_time_prekey_id = s->pending.otk_id;
        st->pending = &v->pending;
    }
    if (s->n_skipped == 0)
        return SECMSG_OK;
    v->keys = sodium_allocarray(s->n_skipped, sizeof *v->keys);
    v->keyp = sodium_allocarray(s->n_skipped, sizeof *v->keyp);
    v->hks = sodium_allocarray(s->n_skipped, sizeof *v->hks);
    if (v->keys == NULL || v->keyp == NULL || v->hks == NULL) {
        view_free(v);
        return SECMSG_E_NOMEM;
    }
    size_t chains = 0;
    for (uint32_t i = 0; i < s->n_skipped; i++) {
        const secmsg__skipped *k = &s->skipped[i];
        if (chains == 0 || sodium_memcmp(v->hks[chains - 1].data, k->hk, SECMSG__KEY_BYTES) != 0)
            v->hks[chains++] = KEY(k->hk);
        secmsg__wire__skipped_key__init(&v->keys[i]);
        v->keys[i].has_chain = v->keys[i].has_n = v->keys[i].has_mk = 1;
        v->keys[i].chain = (uint32_t)(chains - 1);
        v->keys[i].n = k->n;
        v->keys[i].mk = secmsg__bytes(k->mk, SECMSG__MK_BYTES);
        v->keyp[i] = &v->keys[i];
    }
    st->n_skipped_hk = chains;
    st->skipped_hk = v->hks;
    st->n_skipped = s->n_skipped;
    st->skipped = v->keyp;
    return SECMSG_OK;
}

size_t secmsg_session_serialized_len(const secmsg_session *s)
{
    if (s == NULL)
        return 0;
    state_view v;
    if (view_build(&v, s) != SECMSG_OK)
        return 0;
    size_t n = secmsg__wire__session_state__get_packed_size(&v.st);
    view_free(&v);
    return n;
}

int secmsg_session_serialize(const secmsg_session *s, uint8_t *out, size_t out_cap,
                             size_t *out_len)
{
    if (s == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    state_view v;
    int rc = view_build(&v, s);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__wire_pack(&v.st.base, out, out_cap, out_len);
    view_free(&v);
    return rc;
}

static void copy_key(uint8_t dst[SECMSG__KEY_BYTES], protobuf_c_boolean has, ProtobufCBinaryData b)
{
    if (has)
        memcpy(dst, b.data, SECMSG__KEY_BYTES);
}

int secmsg_session_deserialize(secmsg_session **out, const uint8_t *in, size_t in_len)
{
    if (out == NULL || in == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    Secmsg__Wire__SessionState *st;
    int rc = secmsg__wire_decode_session_state(&st, in, in_len, &secmsg__wiping_allocator);
    if (rc != SECMSG_OK)
        return rc;
    secmsg_session *s = session_alloc();
    if (s == NULL) {
        rc = SECMSG_E_NOMEM;
        goto out;
    }
    secmsg__ratchet *r = &s->r;
    s->initiator = st->initiator;
    memcpy(s->local_sign_pub, st->local_sign_pub.data, SECMSG__KEY_BYTES);
    rc = secmsg__idpub_from_wire(&s->remote, st->remote);
    if (rc != SECMSG_OK)
        goto out;
    set_ad(s);
    copy_key(r->rk, 1, st->rk);
    copy_key(r->dhs_sk, 1, st->dhs_priv);
    copy_key(r->nhks, 1, st->nhks);
    copy_key(r->nhkr, 1, st->nhkr);
    copy_key(r->dhr, st->has_dhr, st->dhr);
    copy_key(r->cks, st->has_cks, st->cks);
    copy_key(r->ckr, st->has_ckr, st->ckr);
    copy_key(r->hks, st->has_hks, st->hks);
    copy_key(r->hkr, st->has_hkr, st->hkr);
    r->has_dhr = st->has_dhr;
    r->has_cks = st->has_cks;
    r->has_ckr = st->has_ckr;
    r->has_hks = st->has_hks;
    r->has_hkr = st->has_hkr;
    r->ns = st->ns;
    r->nr = st->nr;
    r->pn = st->pn;
    if (crypto_scalarmult_base(r->dhs_pk, r->dhs_sk) != 0) {
        rc = SECMSG_E_MALFORMED;
        goto out;
    }
    if (st->pending != NULL) {
        s->has_pending = true;
        rc = secmsg__idpub_from_wire(&s->pending.self, st->pending->identity);
        memcpy(s->pending.ephemeral, st->pending->ephemeral.data, SECMSG__KEY_BYTES);
        s->pending.spk_id = st->pending->signed_prekey_id;
        s->pending.otk_id = st->pending->has_one_time_prekey_id ? st->pending->one_time_prekey_id
                                                                : 0;
        if (rc != SECMSG_OK)
            goto out;
    }
    if (st->n_skipped > SECMSG_MAX_SKIPPED_TOTAL) {
        rc = SECMSG_E_MALFORMED;
        goto out;
    }
    if (st->n_skipped > 0 && (rc = secmsg__skipped_reserve(s)) != SECMSG_OK)
        goto out;
    for (size_t i = 0; i < st->n_skipped; i++) {
        secmsg__skipped *k = &s->skipped[i];
        memcpy(k->hk, st->skipped_hk[st->skipped[i]->chain].data, SECMSG__KEY_BYTES);
        k->n = st->skipped[i]->n;
        memcpy(k->mk, st->skipped[i]->mk.data, SECMSG__MK_BYTES);
    }
    s->n_skipped = (uint32_t)st->n_skipped;
    *out = s;
    s = NULL;
out:
    secmsg_session_free(s);
    secmsg__wire__session_state__free_unpacked(st, &secmsg__wiping_allocator);
    return rc;
}
