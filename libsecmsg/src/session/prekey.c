#include <sodium.h>
#include <string.h>

#include "secmsg/prekey.h"
#include "session/internal.h"

static const char SPK_LABEL[] = "secmsg v1 signed prekey";

size_t secmsg_prekey_bundle_max_bytes(void) { return SECMSG_PREKEY_BUNDLE_MAX_BYTES; }

void secmsg__dh_keypair(uint8_t sk[SECMSG__KEY_BYTES], uint8_t pk[SECMSG__KEY_BYTES])
{
    /* crypto_scalarmult_base cannot fail for a clamped random scalar. */
    randombytes_buf(sk, SECMSG__KEY_BYTES);
    (void)crypto_scalarmult_base(pk, sk);
}

#define SPK_MSG_BYTES (sizeof SPK_LABEL - 1 + 4 + SECMSG__KEY_BYTES)

static void spk_message(uint8_t msg[SPK_MSG_BYTES], uint32_t id, const uint8_t pub[32])
{
    memcpy(msg, SPK_LABEL, sizeof SPK_LABEL - 1);
    for (unsigned i = 0; i < 4; i++)
        msg[sizeof SPK_LABEL - 1 + i] = (uint8_t)(id >> (8 * i));
    memcpy(msg + sizeof SPK_LABEL - 1 + 4, pub, SECMSG__KEY_BYTES);
}

int secmsg__spk_sign(uint8_t sig[SECMSG__SIG_BYTES], const secmsg_identity *id, uint32_t spk_id,
                     const uint8_t spk_pub[SECMSG__KEY_BYTES])
{
    uint8_t msg[SPK_MSG_BYTES];
    spk_message(msg, spk_id, spk_pub);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, id->sign_sk);
    return SECMSG_OK;
}

int secmsg__spk_verify(const uint8_t sig[SECMSG__SIG_BYTES], const uint8_t sign_pub[32],
                       uint32_t spk_id, const uint8_t spk_pub[SECMSG__KEY_BYTES])
{
    uint8_t msg[SPK_MSG_BYTES];
    spk_message(msg, spk_id, spk_pub);
    return crypto_sign_verify_detached(sig, msg, sizeof msg, sign_pub) == 0 ? SECMSG_OK
                                                                            : SECMSG_E_SIGNATURE;
}

static secmsg_prekeys *prekeys_alloc(void)
{
    secmsg_prekeys *pk = sodium_malloc(sizeof *pk);
    if (pk != NULL)
        memset(pk, 0, sizeof *pk);
    return pk;
}

static void new_signed(secmsg_prekeys *pk, const secmsg_identity *id, uint32_t spk_id)
{
    pk->spk.id = spk_id;
    secmsg__dh_keypair(pk->spk.priv, pk->spk.pub);
    secmsg__spk_sign(pk->spk_sig, id, spk_id, pk->spk.pub);
}

int secmsg_prekeys_new(secmsg_prekeys **out, const secmsg_identity *id, uint32_t signed_prekey_id)
{
    if (out == NULL || id == NULL || signed_prekey_id == 0)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    secmsg_prekeys *pk = prekeys_alloc();
    if (pk == NULL)
        return SECMSG_E_NOMEM;
    memcpy(pk->owner_sign_pub, id->pub.sign_pub, SECMSG__KEY_BYTES);
    new_signed(pk, id, signed_prekey_id);
    pk->next_otk_id = 1;
    *out = pk;
    return SECMSG_OK;
}

void secmsg_prekeys_free(secmsg_prekeys *pk)
{
    sodium_free(pk);
}

int secmsg_prekeys_generate(secmsg_prekeys *pk, uint32_t count, uint32_t *first_id)
{
    if (pk == NULL || count == 0 || count > SECMSG_MAX_ONE_TIME_PREKEYS - pk->n_otk ||
        count > UINT32_MAX - pk->next_otk_id)
        return SECMSG_E_INVALID_ARG;
    if (first_id != NULL)
        *first_id = pk->next_otk_id;
    for (uint32_t i = 0; i < count; i++) {
        secmsg__prekey *k = &pk->otk[pk->n_otk++];
        k->id = pk->next_otk_id++;
        secmsg__dh_keypair(k->priv, k->pub);
    }
    return SECMSG_OK;
}

size_t secmsg_prekeys_count(const secmsg_prekeys *pk)
{
    return pk == NULL ? 0 : pk->n_otk;
}

int secmsg_prekeys_rotate_signed(secmsg_prekeys *pk, const secmsg_identity *id,
                                 uint32_t signed_prekey_id)
{
    if (pk == NULL || id == NULL || signed_prekey_id == 0 || signed_prekey_id == pk->spk.id ||
        signed_prekey_id == pk->prev_spk.id ||
        sodium_memcmp(pk->owner_sign_pub, id->pub.sign_pub, SECMSG__KEY_BYTES) != 0)
        return SECMSG_E_INVALID_ARG;
    pk->prev_spk = pk->spk;
    new_signed(pk, id, signed_prekey_id);
    return SECMSG_OK;
}

const secmsg__prekey *secmsg__prekeys_find_signed(const secmsg_prekeys *pk, uint32_t id)
{
    if (id == 0)
        return NULL;
    if (pk->spk.id == id)
        return &pk->spk;
    if (pk->prev_spk.id == id)
        return &pk->prev_spk;
    return NULL;
}

/* Binary search: one-time prekeys are kept in ascending id order. */
static size_t otk_index(const secmsg_prekeys *pk, uint32_t id)
{
    size_t lo = 0, hi = pk->n_otk;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pk->otk[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const secmsg__prekey *secmsg__prekeys_find_one_time(const secmsg_prekeys *pk, uint32_t id)
{
    size_t i = otk_index(pk, id);
    return (id != 0 && i < pk->n_otk && pk->otk[i].id == id) ? &pk->otk[i] : NULL;
}

void secmsg__prekeys_consume(secmsg_prekeys *pk, uint32_t otk_id)
{
    size_t i = otk_index(pk, otk_id);
    if (otk_id == 0 || i >= pk->n_otk || pk->otk[i].id != otk_id)
        return;
    memmove(&pk->otk[i], &pk->otk[i + 1], (pk->n_otk - i - 1) * sizeof pk->otk[0]);
    pk->n_otk--;
    sodium_memzero(&pk->otk[pk->n_otk], sizeof pk->otk[0]);
}

int secmsg_prekeys_bundle(const secmsg_prekeys *pk, const secmsg_identity *id,
                          uint32_t one_time_id, uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (pk == NULL || id == NULL || out_len == NULL ||
        sodium_memcmp(pk->owner_sign_pub, id->pub.sign_pub, SECMSG__KEY_BYTES) != 0)
        return SECMSG_E_INVALID_ARG;
    const secmsg__prekey *otk = NULL;
    if (one_time_id != 0 && (otk = secmsg__prekeys_find_one_time(pk, one_time_id)) == NULL)
        return SECMSG_E_UNKNOWN_PREKEY;

    Secmsg__Wire__IdentityPublic ip;
    Secmsg__Wire__SignedPrekey spk = SECMSG__WIRE__SIGNED_PREKEY__INIT;
    Secmsg__Wire__OneTimePrekey ot = SECMSG__WIRE__ONE_TIME_PREKEY__INIT;
    Secmsg__Wire__PrekeyBundle b = SECMSG__WIRE__PREKEY_BUNDLE__INIT;
    secmsg__idpub_to_wire(&ip, &id->pub);
    spk.has_id = spk.has_pub = spk.has_sig = 1;
    spk.id = pk->spk.id;
    spk.pub = secmsg__bytes(pk->spk.pub, SECMSG__KEY_BYTES);
    spk.sig = secmsg__bytes(pk->spk_sig, SECMSG__SIG_BYTES);
    b.has_version = 1;
    b.version = SECMSG_PROTOCOL_VERSION;
    b.identity = &ip;
    b.signed_prekey = &spk;
    if (otk != NULL) {
        ot.has_id = ot.has_pub = 1;
        ot.id = otk->id;
        ot.pub = secmsg__bytes(otk->pub, SECMSG__KEY_BYTES);
        b.one_time_prekey = &ot;
    }
    return secmsg__wire_pack(&b.base, out, out_cap, out_len);
}

/* ---- persistence ---- */

static void prekey_to_wire(Secmsg__Wire__PrekeyPrivate *w, const secmsg__prekey *k)
{
    secmsg__wire__prekey_private__init(w);
    w->has_id = w->has_priv = 1;
    w->id = k->id;
    w->priv = secmsg__bytes(k->priv, SECMSG__KEY_BYTES);
}

static int prekey_from_wire(secmsg__prekey *k, const Secmsg__Wire__PrekeyPrivate *w)
{
    k->id = w->id;
    memcpy(k->priv, w->priv.data, SECMSG__KEY_BYTES);
    return crypto_scalarmult_base(k->pub, k->priv) == 0 ? SECMSG_OK : SECMSG_E_MALFORMED;
}

int secmsg_prekeys_serialize(const secmsg_prekeys *pk, uint8_t *out, size_t out_cap,
                             size_t *out_len)
{
    if (pk == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    Secmsg__Wire__PrekeySet s = SECMSG__WIRE__PREKEY_SET__INIT;
    Secmsg__Wire__PrekeyPrivate spk, prev;
    /* The wire structs only point at the keys; they hold no copies. */
    Secmsg__Wire__PrekeyPrivate *otk = sodium_allocarray(pk->n_otk + 1, sizeof *otk);
    Secmsg__Wire__PrekeyPrivate **otkp = sodium_allocarray(pk->n_otk + 1, sizeof *otkp);
    int rc = SECMSG_E_NOMEM;
    if (otk == NULL || otkp == NULL)
        goto out;
    s.has_version = s.has_identity_sign_pub = s.has_signed_prekey_sig = 1;
    s.version = SECMSG_PROTOCOL_VERSION;
    s.identity_sign_pub = secmsg__bytes(pk->owner_sign_pub, SECMSG__KEY_BYTES);
    prekey_to_wire(&spk, &pk->spk);
    s.signed_prekey = &spk;
    s.signed_prekey_sig = secmsg__bytes(pk->spk_sig, SECMSG__SIG_BYTES);
    if (pk->prev_spk.id != 0) {
        prekey_to_wire(&prev, &pk->prev_spk);
        s.previous_signed_prekey = &prev;
    }
    for (size_t i = 0; i < pk->n_otk; i++) {
        prekey_to_wire(&otk[i], &pk->otk[i]);
        otkp[i] = &otk[i];
    }
    s.n_one_time_prekeys = pk->n_otk;
    s.one_time_prekeys = otkp;
    s.has_next_one_time_id = 1;
    s.next_one_time_id = pk->next_otk_id;
    rc = secmsg__wire_pack(&s.base, out, out_cap, out_len);
out:
    sodium_free(otk);
    sodium_free(otkp);
    return rc;
}

int secmsg_prekeys_deserialize(secmsg_prekeys **out, const uint8_t *in, size_t in_len)
{
    if (out == NULL || in == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    Secmsg__Wire__PrekeySet *s;
    int rc = secmsg__wire_decode_prekey_set(&s, in, in_len, &secmsg__wiping_allocator);
    if (rc != SECMSG_OK)
        return rc;
    secmsg_prekeys *pk = prekeys_alloc();
    if (pk == NULL) {
        rc = SECMSG_E_NOMEM;
        goto out;
    }
    memcpy(pk->owner_sign_pub, s->identity_sign_pub.data, SECMSG__KEY_BYTES);
    memcpy(pk->spk_sig, s->signed_prekey_sig.data, SECMSG__SIG_BYTES);
    rc = prekey_from_wire(&pk->spk, s->signed_prekey);
    if (rc == SECMSG_OK && s->previous_signed_prekey != NULL)
        rc = prekey_from_wire(&pk->prev_spk, s->previous_signed_prekey);
    if (rc == SECMSG_OK && secmsg__spk_verify(pk->spk_sig, pk->owner_sign_pub, pk->spk.id,
                                              pk->spk.pub) != SECMSG_OK)
        rc = SECMSG_E_MALFORMED;
    for (size_t i = 0; rc == SECMSG_OK && i < s->n_one_time_prekeys; i++)
        rc = prekey_from_wire(&pk->otk[i], s->one_time_prekeys[i]);
    pk->n_otk = (uint32_t)s->n_one_time_prekeys;
    pk->next_otk_id = s->next_one_time_id;
    if (rc == SECMSG_OK && (pk->next_otk_id == 0 || (pk->prev_spk.id != 0 &&
                                                     pk->prev_spk.id == pk->spk.id)))
        rc = SECMSG_E_MALFORMED;
    if (rc == SECMSG_OK)
        *out = pk;
    else
        sodium_free(pk);
out:
    secmsg__wire__prekey_set__free_unpacked(s, &secmsg__wiping_allocator);
    return rc;
}
