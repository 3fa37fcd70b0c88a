#include "wire/codec.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/wipe_alloc.h"
#include "secmsg/common.h"

/* ---- allocators ---- */

static void *wiping_alloc(void *data, size_t size)
{
    (void)data;
    return secmsg__wipe_alloc(size);
}

static void wiping_free(void *data, void *ptr)
{
    (void)data;
    secmsg__wipe_free(ptr);
}

ProtobufCAllocator secmsg__wiping_allocator = {wiping_alloc, wiping_free, NULL};

static void *arena_alloc(void *data, size_t size)
{
    secmsg__arena *a = data;
    size_t need = (size + 15U) & ~(size_t)15U;
    if (need >= size && need <= sizeof a->buf - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return secmsg__wipe_alloc(size);
}

static void arena_free(void *data, void *ptr)
{
    secmsg__arena *a = data;
    const uint8_t *p = ptr;
    /* Arena blocks are wiped all at once by secmsg__arena_wipe(). */
    if (p >= a->buf && p < a->buf + sizeof a->buf)
        return;
    secmsg__wipe_free(ptr);
}

void secmsg__arena_init(secmsg__arena *a)
{
    a->alloc.alloc = arena_alloc;
    a->alloc.free = arena_free;
    a->alloc.allocator_data = a;
    a->used = 0;
}

void secmsg__arena_wipe(secmsg__arena *a)
{
    sodium_memzero(a->buf, a->used);
    a->used = 0;
}

/* ---- field checks ---- */


/*
 * X25519 public keys must be canonical: bit 255 clear and the value below
 * 2^255 - 19. X25519 ignores bit 255 and reduces the rest, so without this
 * check a key (and a message carrying it outside any AEAD) would have more
 * than one encoding.
 */
int secmsg__wire_x25519_canonical(const uint8_t k[SECMSG__KEY_BYTES])
{
    if (k[31] & 0x80U)
        return 0;
    if (k[31] != 0x7fU)
        return 1;
    for (unsigned i = 30; i >= 1; i--)
        if (k[i] != 0xffU)
            return 1;
    return k[0] < 0xedU;
}

static int has_x25519(protobuf_c_boolean has, ProtobufCBinaryData b)
{
    return secmsg__wire_has_len(has, b, SECMSG__KEY_BYTES) && secmsg__wire_x25519_canonical(b.data);
}

int secmsg__wire_check_version(protobuf_c_boolean has, uint32_t v)
{
    if (!has)
        return SECMSG_E_MALFORMED;
    return v == SECMSG_PROTOCOL_VERSION ? SECMSG_OK : SECMSG_E_VERSION;
}

int secmsg__wire_check_identity_public(const Secmsg__Wire__IdentityPublic *m)
{
    if (m == NULL)
        return SECMSG_E_MALFORMED;
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!secmsg__wire_has_len(m->has_sign_pub, m->sign_pub, SECMSG__KEY_BYTES) ||
        !has_x25519(m->has_dh_pub, m->dh_pub) ||
        !secmsg__wire_has_len(m->has_dh_sig, m->dh_sig, SECMSG__SIG_BYTES))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

int secmsg__wire_check_prekey_info(const Secmsg__Wire__PrekeyInfo *m)
{
    if (m == NULL)
        return SECMSG_E_MALFORMED;
    int rc = secmsg__wire_check_identity_public(m->identity);
    if (rc != SECMSG_OK)
        return rc;
    if (!has_x25519(m->has_ephemeral, m->ephemeral) ||
        !m->has_signed_prekey_id || m->signed_prekey_id == 0 ||
        (m->has_one_time_prekey_id && m->one_time_prekey_id == 0))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

int secmsg__wire_check_signed_prekey(const Secmsg__Wire__SignedPrekey *m)
{
    if (m == NULL || !m->has_id || m->id == 0 || !has_x25519(m->has_pub, m->pub) ||
        !secmsg__wire_has_len(m->has_sig, m->sig, SECMSG__SIG_BYTES))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_bundle(const Secmsg__Wire__PrekeyBundle *m)
{
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__wire_check_identity_public(m->identity);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__wire_check_signed_prekey(m->signed_prekey);
    if (rc != SECMSG_OK)
        return rc;
    const Secmsg__Wire__OneTimePrekey *otk = m->one_time_prekey;
    if (otk != NULL && (!otk->has_id || otk->id == 0 ||
                        !has_x25519(otk->has_pub, otk->pub)))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_message(const Secmsg__Wire__Message *m)
{
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!secmsg__wire_has_len(m->has_header, m->header, SECMSG__HEADER_BYTES) || !m->has_body ||
        m->body.len < SECMSG__TAG_BYTES || m->body.data == NULL ||
        m->body.len - SECMSG__TAG_BYTES > SECMSG__MAX_PLAINTEXT)
        return SECMSG_E_MALFORMED;
    if (m->prekey != NULL)
        return secmsg__wire_check_prekey_info(m->prekey);
    return SECMSG_OK;
}

static int opt_key(protobuf_c_boolean has, ProtobufCBinaryData b)
{
    return !has || (b.len == SECMSG__KEY_BYTES && b.data != NULL);
}

static int check_session_state(const Secmsg__Wire__SessionState *m)
{
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!m->has_initiator ||
        !secmsg__wire_has_len(m->has_local_sign_pub, m->local_sign_pub, SECMSG__KEY_BYTES) ||
        !secmsg__wire_has_len(m->has_rk, m->rk, SECMSG__KEY_BYTES) ||
        !secmsg__wire_has_len(m->has_dhs_priv, m->dhs_priv, SECMSG__KEY_BYTES) ||
        !secmsg__wire_has_len(m->has_nhks, m->nhks, SECMSG__KEY_BYTES) ||
        !secmsg__wire_has_len(m->has_nhkr, m->nhkr, SECMSG__KEY_BYTES) || !opt_key(m->has_dhr, m->dhr) ||
        !opt_key(m->has_cks, m->cks) || !opt_key(m->has_ckr, m->ckr) ||
        !opt_key(m->has_hks, m->hks) || !opt_key(m->has_hkr, m->hkr) || !m->has_ns ||
        !m->has_nr || !m->has_pn)
        return SECMSG_E_MALFORMED;
    rc = secmsg__wire_check_identity_public(m->remote);
    if (rc != SECMSG_OK)
        return rc;
    /*
     * A sending chain needs its header key; without one, DHr must be known
     * so the first send can take the sending half of the DH ratchet. A
     * receiving chain needs DHr and HKr.
     */
    if ((m->has_cks && !m->has_hks) || (!m->has_cks && !m->has_dhr) ||
        (m->has_ckr && (!m->has_hkr || !m->has_dhr)))
        return SECMSG_E_MALFORMED;
    if (m->pending != NULL && (secmsg__wire_check_prekey_info(m->pending) != SECMSG_OK ||
                               !m->initiator))
        return SECMSG_E_MALFORMED;
    if (m->has_hkr != m->has_ckr)
        return SECMSG_E_MALFORMED;
    /*
     * Skipped keys: at most the session caps, grouped in runs by chain in
     * order (chain index 0, 0, 1, 1, 1, 2, ...), every chain used, and
     * neighbouring chains with different header keys, so that the runs
     * the ratchet sees are exactly the stored chains.
     */
    if (m->n_skipped > SECMSG__MAX_SKIPPED_TOTAL || m->n_skipped_hk > SECMSG__MAX_SKIPPED_CHAINS ||
        m->n_skipped_hk > m->n_skipped || (m->n_skipped > 0) != (m->n_skipped_hk > 0))
        return SECMSG_E_MALFORMED;
    for (size_t i = 0; i < m->n_skipped_hk; i++) {
        if (m->skipped_hk[i].len != SECMSG__KEY_BYTES)
            return SECMSG_E_MALFORMED;
        for (size_t j = 0; j < i; j++)
            if (memcmp(m->skipped_hk[i].data, m->skipped_hk[j].data, SECMSG__KEY_BYTES) == 0)
                return SECMSG_E_MALFORMED;
    }
    /* Within a chain, message numbers strictly increase: no key is stored twice. */
    uint32_t chain = 0;
    for (size_t i = 0; i < m->n_skipped; i++) {
        const Secmsg__Wire__SkippedKey *k = m->skipped[i];
        if (k == NULL || !k->has_chain || !k->has_n ||
            !secmsg__wire_has_len(k->has_mk, k->mk, SECMSG__MK_BYTES) ||
            (k->chain != chain && k->chain != chain + 1) || (i == 0 && k->chain != 0) ||
            (i > 0 && k->chain == chain && k->n <= m->skipped[i - 1]->n))
            return SECMSG_E_MALFORMED;
        chain = k->chain;
    }
    if (m->n_skipped > 0 && chain + 1 != m->n_skipped_hk)
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_prekey_private(const Secmsg__Wire__PrekeyPrivate *p)
{
    return p != NULL && p->has_id && p->id != 0 && secmsg__wire_has_len(p->has_priv, p->priv, SECMSG__KEY_BYTES);
}

static int check_prekey_set(const Secmsg__Wire__PrekeySet *m)
{
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!secmsg__wire_has_len(m->has_identity_sign_pub, m->identity_sign_pub, SECMSG__KEY_BYTES) ||
        !check_prekey_private(m->signed_prekey) ||
        !secmsg__wire_has_len(m->has_signed_prekey_sig, m->signed_prekey_sig, SECMSG__SIG_BYTES) ||
        (m->previous_signed_prekey != NULL && !check_prekey_private(m->previous_signed_prekey)) ||
        !m->has_next_one_time_id || m->n_one_time_prekeys > SECMSG__MAX_ONE_TIME_PREKEYS)
        return SECMSG_E_MALFORMED;
    for (size_t i = 0; i < m->n_one_time_prekeys; i++) {
        const Secmsg__Wire__PrekeyPrivate *p = m->one_time_prekeys[i];
        if (!check_prekey_private(p) || p->id >= m->next_one_time_id)
            return SECMSG_E_MALFORMED;
        /* ids strictly increase, so each is unique */
        if (i > 0 && p->id <= m->one_time_prekeys[i - 1]->id)
            return SECMSG_E_MALFORMED;
    }
    return SECMSG_OK;
}

/* ---- decoders ---- */

/* Whether m or any message nested in it carries fields we do not know. */
static int has_unknown_fields(const ProtobufCMessage *m)
{
    if (m->n_unknown_fields != 0)
        return 1;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const uint8_t *base = (const uint8_t *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage *const *arr;
            memcpy(&n, base + f->quantifier_offset, sizeof n);
            memcpy(&arr, base + f->offset, sizeof arr);
            for (size_t j = 0; j < n; j++)
                if (has_unknown_fields(arr[j]))
                    return 1;
        } else {
            const ProtobufCMessage *sub;
            memcpy(&sub, base + f->offset, sizeof sub);
            if (sub != NULL && has_unknown_fields(sub))
                return 1;
        }
    }
    return 0;
}

/*
 * One decoder body for every message type: bound the size, unpack, check.
 * The unpack function pointer and free use the protobuf-c descriptor.
 */
/*
 * A ProtobufCBuffer that compares what protobuf-c packs with the input as
 * it goes, so the canonical check needs no copy of the (possibly secret,
 * possibly 2 MiB) message.
 */
typedef struct cmp_buffer {
    ProtobufCBuffer base;
    const uint8_t *in;
    size_t len, pos;
    int differs;
} cmp_buffer;

static void cmp_append(ProtobufCBuffer *b, size_t n, const uint8_t *data)
{
    cmp_buffer *c = (cmp_buffer *)b;
    if (n == 0)
        return; /* an empty bytes field: protobuf-c may pass NULL */
    if (c->differs || n > c->len - c->pos || memcmp(c->in + c->pos, data, n) != 0) {
        c->differs = 1;
        return;
    }
    c->pos += n;
}

/* 1 if m re-encodes to exactly in[0..len). */
static int same_encoding(const ProtobufCMessage *m, const uint8_t *in, size_t len)
{
    cmp_buffer c = {{cmp_append}, in, len, 0, 0};
    protobuf_c_message_pack_to_buffer(m, &c.base);
    return !c.differs && c.pos == len;
}

int secmsg__wire_decode(ProtobufCMessage **out, const ProtobufCMessageDescriptor *desc,
                        size_t max, secmsg__wire_check_fn check, const void *ctx,
                        const uint8_t *in, size_t len, ProtobufCAllocator *alloc)
{
    *out = NULL;
    if (in == NULL || len == 0 || len > max)
        return SECMSG_E_MALFORMED;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, alloc, len, in);
    if (m == NULL)
        return SECMSG_E_MALFORMED;
    int rc = check(m, ctx);
    /*
     * Only the canonical encoding is accepted: no unknown fields, no
     * repeated, padded or reordered fields, i.e. re-encoding gives exactly
     * the input bytes (not merely as many of them). Every accepted input
     * then has one encoding, so outer bytes that no AEAD covers (prekey
     * info, versions) cannot be varied without detection.
     */
    if (rc == SECMSG_OK &&
        (has_unknown_fields(m) || protobuf_c_message_get_packed_size(m) != len ||
         !same_encoding(m, in, len)))
        rc = SECMSG_E_MALFORMED;
    if (rc != SECMSG_OK) {
        protobuf_c_message_free_unpacked(m, alloc);
        return rc;
    }
    *out = m;
    return SECMSG_OK;
}

/* Adapters from the typed checks to the generic signature. */
#define CHECK_ADAPTER(name, type, fn)                                                          \
    static int name(const ProtobufCMessage *m, const void *ctx)                                \
    {                                                                                          \
        (void)ctx;                                                                             \
        return fn((const type *)(const void *)m);                                              \
    }

static int check_identity_private(const Secmsg__Wire__IdentityPrivate *m)
{
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!secmsg__wire_has_len(m->has_sign_seed, m->sign_seed, SECMSG__KEY_BYTES) ||
        !secmsg__wire_has_len(m->has_dh_priv, m->dh_priv, SECMSG__KEY_BYTES))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

CHECK_ADAPTER(chk_idpub, Secmsg__Wire__IdentityPublic, secmsg__wire_check_identity_public)
CHECK_ADAPTER(chk_idpriv, Secmsg__Wire__IdentityPrivate, check_identity_private)
CHECK_ADAPTER(chk_bundle, Secmsg__Wire__PrekeyBundle, check_bundle)
CHECK_ADAPTER(chk_message, Secmsg__Wire__Message, check_message)
CHECK_ADAPTER(chk_state, Secmsg__Wire__SessionState, check_session_state)
CHECK_ADAPTER(chk_pkset, Secmsg__Wire__PrekeySet, check_prekey_set)

#define DECODER(fname, type, desc, max, chk)                                                   \
    int fname(type **out, const uint8_t *in, size_t len, ProtobufCAllocator *alloc)           \
    {                                                                                          \
        ProtobufCMessage *m;                                                                   \
        int rc = secmsg__wire_decode(&m, &desc, max, chk, NULL, in, len, alloc);               \
        *out = (type *)(void *)m;                                                              \
        return rc;                                                                             \
    }

DECODER(secmsg__wire_decode_identity_public, Secmsg__Wire__IdentityPublic,
        secmsg__wire__identity_public__descriptor, SECMSG__MAX_IDENTITY_BYTES, chk_idpub)
DECODER(secmsg__wire_decode_identity_private, Secmsg__Wire__IdentityPrivate,
        secmsg__wire__identity_private__descriptor, SECMSG__MAX_IDENTITY_BYTES, chk_idpriv)
DECODER(secmsg__wire_decode_bundle, Secmsg__Wire__PrekeyBundle,
        secmsg__wire__prekey_bundle__descriptor, SECMSG__MAX_BUNDLE_BYTES, chk_bundle)
DECODER(secmsg__wire_decode_message, Secmsg__Wire__Message, secmsg__wire__message__descriptor,
        SECMSG__MAX_MESSAGE_BYTES, chk_message)
DECODER(secmsg__wire_decode_session_state, Secmsg__Wire__SessionState,
        secmsg__wire__session_state__descriptor, SECMSG__MAX_STATE_BYTES, chk_state)
DECODER(secmsg__wire_decode_prekey_set, Secmsg__Wire__PrekeySet,
        secmsg__wire__prekey_set__descriptor, SECMSG__MAX_PREKEY_SET_BYTES, chk_pkset)

/* ---- encoders ---- */

int secmsg__wire_pack(const ProtobufCMessage *m, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *out_len = n;
    if (out == NULL || cap < n)
        return SECMSG_E_BUFFER_TOO_SMALL;
    protobuf_c_message_pack(m, out);
    return SECMSG_OK;
}

size_t secmsg__varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80U) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t secmsg__varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80U) {
        out[n++] = (uint8_t)(v | 0x80U);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}
