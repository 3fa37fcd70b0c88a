#include "vectors.h"

#include <secmsg.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "session/internal.h"

/* ---- deterministic RNG ---- */

static uint8_t rng_key[crypto_stream_chacha20_ietf_KEYBYTES];
static uint32_t rng_draw;

static const char *rng_name(void) { return "secmsg-vectors"; }
/* Every 32-byte draw is logged so that drawn private keys can be reported. */
#define LOG_MAX 64
static uint8_t rng_log[LOG_MAX][32];
static unsigned rng_logged;

static void rng_buf(void *buf, size_t n)
{
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    for (unsigned i = 0; i < 4; i++)
        nonce[i] = (uint8_t)(rng_draw >> (8 * i));
    rng_draw++;
    crypto_stream_chacha20_ietf(buf, n, nonce, rng_key);
    if (n == 32 && rng_logged < LOG_MAX)
        memcpy(rng_log[rng_logged++], buf, 32);
}

/* The logged draw that is the X25519 private key of `pub`. */
static const uint8_t *drawn_private(const uint8_t pub[32])
{
    uint8_t p[32];
    for (unsigned i = 0; i < rng_logged; i++)
        if (crypto_scalarmult_base(p, rng_log[i]) == 0 && memcmp(p, pub, 32) == 0)
            return rng_log[i];
    return NULL;
}
static uint32_t rng_random(void)
{
    uint8_t b[4];
    rng_buf(b, sizeof b);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static void rng_stir(void) {}

static randombytes_implementation rng_impl = {
    .implementation_name = rng_name,
    .random = rng_random,
    .stir = rng_stir,
    .uniform = NULL,
    .buf = rng_buf,
    .close = NULL,
};

void vectors_rng_install(const char *seed)
{
    static const char label[] = "secmsg vectors rng";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof rng_key);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, (const uint8_t *)seed, strlen(seed));
    crypto_generichash_final(&st, rng_key, sizeof rng_key);
    rng_draw = 0;
    rng_logged = 0;
    randombytes_set_implementation(&rng_impl);
}

/* ---- JSON helpers ---- */

static json_t *hex(const uint8_t *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return NULL;
    sodium_bin2hex(s, 2 * n + 1, p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

#define SET(obj, key, val) json_object_set_new((obj), (key), (val))

static json_t *identity_json(const secmsg_identity *id, const uint8_t seed[32])
{
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES], fp[SECMSG_FINGERPRINT_BYTES];
    size_t n;
    if (secmsg_identity_public(id, pub, sizeof pub, &n) != SECMSG_OK ||
        secmsg_identity_fingerprint(fp, pub, n) != SECMSG_OK)
        return NULL;
    json_t *j = json_object();
    SET(j, "seed", hex(seed, 32));
    SET(j, "sign_pub", hex(id->pub.sign_pub, 32));
    SET(j, "dh_priv", hex(id->dh_sk, 32));
    SET(j, "dh_pub", hex(id->pub.dh_pub, 32));
    SET(j, "identity_public", hex(pub, n));
    SET(j, "fingerprint", hex(fp, sizeof fp));
    return j;
}

static json_t *prekey_json(const secmsg__prekey *k)
{
    json_t *j = json_object();
    SET(j, "id", json_integer(k->id));
    SET(j, "priv", hex(k->priv, 32));
    SET(j, "pub", hex(k->pub, 32));
    return j;
}

static json_t *state_json(const secmsg_session *s)
{
    uint8_t buf[4096];
    size_t n;
    if (secmsg_session_serialize(s, buf, sizeof buf, &n) != SECMSG_OK)
        return NULL;
    return hex(buf, n);
}

/* One message: encrypt on `from`, record it; delivery happens separately. */
typedef struct msg {
    uint8_t wire[512];
    size_t len;
    const char *text;
} msg;

static json_t *send(secmsg_session *from, const char *who, msg *m, const char *text)
{
    json_t *j = json_object();
    SET(j, "from", json_string(who));
    SET(j, "plaintext", json_string(text));
    uint8_t before[32];
    memcpy(before, from->r.dhs_sk, 32);
    m->text = text;
    if (secmsg_session_encrypt(from, m->wire, sizeof m->wire, &m->len, (const uint8_t *)text,
                               strlen(text)) != SECMSG_OK)
        return NULL;
    /* A first send after a received DH step draws a new ratchet key. */
    SET(j, "sender_ratchet_priv", hex(from->r.dhs_sk, 32));
    SET(j, "sender_new_ratchet_key", json_boolean(memcmp(before, from->r.dhs_sk, 32) != 0));
    SET(j, "n", json_integer(from->r.ns - 1));
    SET(j, "pn", json_integer(from->r.pn));
    SET(j, "wire", hex(m->wire, m->len));
    return j;
}

/* Decrypts m on `to` and records the delivery; returns 0 on success. */
static int deliver(secmsg_session *to, const msg *m, json_t *order, const char *label)
{
    uint8_t pt[512];
    size_t n;
    if (secmsg_session_decrypt(to, pt, sizeof pt, &n, m->wire, m->len) != SECMSG_OK ||
        n != strlen(m->text) || memcmp(pt, m->text, n) != 0)
        return -1;
    json_t *d = json_object();
    SET(d, "message", json_string(label));
    json_array_append_new(order, d);
    return 0;
}

json_t *vectors_build(void)
{
    uint8_t seed_a[32], seed_b[32];
    crypto_generichash(seed_a, 32, (const uint8_t *)"alice", 5, NULL, 0);
    crypto_generichash(seed_b, 32, (const uint8_t *)"bob (caseworker)", 16, NULL, 0);

    secmsg_identity *alice = NULL, *bob = NULL;
    secmsg_prekeys *pk = NULL;
    secmsg_session *sa = NULL, *sb = NULL;
    json_t *root = NULL, *out = NULL;
    msg a0, a1, a2, b0, b1, b2;
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES], pub_a[200], pub_b[200], qr[65], pt[512];
    char safety[SECMSG_SAFETY_NUMBER_BYTES];
    size_t bundle_len, na, nb, n;
    uint32_t otk_id;

    if (secmsg_identity_from_seed(&alice, seed_a) || secmsg_identity_from_seed(&bob, seed_b) ||
        secmsg_prekeys_new(&pk, bob, 7) || secmsg_prekeys_generate(pk, 2, &otk_id) ||
        secmsg_prekeys_bundle(pk, bob, otk_id + 1, bundle, sizeof bundle, &bundle_len) ||
        secmsg_identity_public(alice, pub_a, sizeof pub_a, &na) ||
        secmsg_identity_public(bob, pub_b, sizeof pub_b, &nb) ||
        secmsg_safety_number(safety, pub_a, na, pub_b, nb) ||
        secmsg_safety_qr(qr, pub_a, na, pub_b, nb))
        goto out;

    root = json_object();
    SET(root, "description",
        json_string("secmsg protocol v1 session vectors: identities from seeds, X3DH with a "
                    "one-time prekey, then a conversation with out-of-order delivery and DH "
                    "ratchet steps. Random draws come from the deterministic RNG described in "
                    "spec/protocol.md (Test vectors); every private key drawn is listed."));
    SET(root, "rng_seed", json_string(VECTORS_RNG_SEED));
    SET(root, "alice", identity_json(alice, seed_a));
    json_t *jb = identity_json(bob, seed_b);
    SET(jb, "signed_prekey", prekey_json(&pk->spk));
    SET(jb, "signed_prekey_sig", hex(pk->spk_sig, 64));
    SET(jb, "one_time_prekey", prekey_json(secmsg__prekeys_find_one_time(pk, otk_id + 1)));
    SET(jb, "bundle", hex(bundle, bundle_len));
    SET(root, "bob", jb);
    SET(root, "safety_number", json_string(safety));
    SET(root, "safety_qr", hex(qr, sizeof qr));

    if (secmsg_session_initiate(&sa, alice, bundle, bundle_len))
        goto out;
    /* X3DH recomputed from the recorded keys, as an independent implementer would. */
    {
        const secmsg__prekey *otk = secmsg__prekeys_find_one_time(pk, otk_id + 1);
        /* The session does not keep the ephemeral private; find it among the draws. */
        const uint8_t *ek_sk = drawn_private(sa->pending.ephemeral);
        if (ek_sk == NULL)
            goto out;
        const uint8_t *priv[4] = {alice->dh_sk, ek_sk, ek_sk, ek_sk};
        const uint8_t *pubs[4] = {pk->spk.pub, bob->pub.dh_pub, pk->spk.pub, otk->pub};
        secmsg__x3dh_out o;
        if (secmsg__x3dh(&o, priv, pubs, 4))
            goto out;
        json_t *x = json_object();
        SET(x, "alice_ephemeral_priv", hex(ek_sk, 32));
        SET(x, "alice_first_ratchet_priv", hex(sa->r.dhs_sk, 32));
        SET(x, "alice_ephemeral_pub", hex(sa->pending.ephemeral, 32));
        SET(x, "sk", hex(o.sk, 32));
        SET(x, "hka", hex(o.hka, 32));
        SET(x, "nhkb", hex(o.nhkb, 32));
        SET(root, "x3dh", x);
    }

    json_t *msgs = json_object(), *order = json_array();
    SET(root, "messages", msgs);
    SET(root, "deliveries", order);
    SET(msgs, "a0", send(sa, "alice", &a0, "Hej, jeg har faaet brevet om min samtale."));
    SET(msgs, "a1", send(sa, "alice", &a1, "Hvornaar kan vi moedes?"));
    /* Bob accepts from the second initial message; the first arrives late. */
    if (secmsg_session_accept(&sb, bob, pk, a1.wire, a1.len, pt, sizeof pt, &n))
        goto out;
    json_t *d = json_object();
    SET(d, "message", json_string("a1"));
    SET(d, "accept", json_true());
    json_array_append_new(order, d);
    if (deliver(sb, &a0, order, "a0"))
        goto out;
    SET(msgs, "b0", send(sb, "bob", &b0, "Tirsdag kl. 10 i lokale 2.14."));
    SET(msgs, "b1", send(sb, "bob", &b1, "Husk dit CV."));
    if (deliver(sa, &b1, order, "b1") || deliver(sa, &b0, order, "b0"))
        goto out;
    SET(msgs, "a2", send(sa, "alice", &a2, "Tak, jeg kommer."));
    if (deliver(sb, &a2, order, "a2"))
        goto out;
    SET(msgs, "b2", send(sb, "bob", &b2, ""));
    if (deliver(sa, &b2, order, "b2"))
        goto out;
    json_t *st = json_object();
    SET(st, "alice", state_json(sa));
    SET(st, "bob", state_json(sb));
    SET(root, "final_state", st);
    out = root;
    root = NULL;
out:
    json_decref(root);
    secmsg_session_free(sa);
    secmsg_session_free(sb);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(alice);
    secmsg_identity_free(bob);
    return out;
}
