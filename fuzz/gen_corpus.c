/*
 * gen_corpus - writes fuzz/fixtures.h and the seed corpora fuzz/corpus/NAME/
 * (all harnesses except hpke_open, whose corpus its author keeps).
 *
 * Usage: fuzz-gen-corpus FUZZ_DIR      (FUZZ_DIR: the source tree's fuzz/)
 *        fuzz-gen-corpus FUZZ_DIR client   (only invite/, cert/, content/)
 *
 * It runs one small but complete conversation between identities derived
 * from fixed seeds: Bob publishes prekeys, rotates his signed prekey, and
 * four initiators start sessions; Alice and Bob then exchange messages out
 * of order so that both hold skipped keys. Every harness gets the real
 * inputs of that run (identities, bundles, initial and ratchet messages,
 * states) plus hand-made edge cases: empty, truncated, wrong version,
 * tampered, low-order keys, out-of-range counters and indices.
 *
 * The client-layer corpora (invite, cert, content) come from fixed seeds
 * and deterministic signatures, so they are the same on every run; the
 * "client" mode writes only them, leaving everything else alone.
 *
 * fixtures.h gets the seeds and the states the harnesses start from (Bob's
 * prekey set, Alice's and Bob's sessions) from the same run, so fixtures and
 * corpus always match. Prekeys, ephemerals and nonces are random, so each
 * run rewrites all of them; file names are fixed and overwritten in place.
 * Everything secret in the output derives from test seeds published here.
 *
 * Exit status: 0 when every valid step of the conversation behaved as the
 * headers promise, 1 otherwise (the files are still written) or on I/O
 * errors. Edge cases whose error code differs from the expected one are
 * printed as notes only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "client.pb-c.h"
#include "secmsg.h"
#include "secmsg.pb-c.h"
#include "wire/client_codec.h"

#define BLOB_CAP 4096U

typedef struct blob {
    uint8_t b[BLOB_CAP];
    size_t len;
} blob;

static const char *fuzz_dir;
static unsigned failures;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, why);
    exit(1);
}

static void need(int rc, const char *what)
{
    if (rc != SECMSG_OK) {
        die(what, secmsg_strerror(rc));
    }
}

/* A promise of the headers about a valid input: a mismatch fails the run. */
static void expect(int got, int want, const char *what)
{
    if (got != want) {
        fprintf(stderr, "gen_corpus: %s: expected \"%s\", got \"%s\"\n", what,
                secmsg_strerror(want), secmsg_strerror(got));
        failures++;
    }
}

static void expect_error(int got, const char *what)
{
    if (got == SECMSG_OK) {
        fprintf(stderr, "gen_corpus: %s: expected an error, got success\n", what);
        failures++;
    }
}

/* What an edge case should give; a different error is worth a look only. */
static void note(int got, int want, const char *what)
{
    if (got == SECMSG_OK) {
        fprintf(stderr, "gen_corpus: %s: expected \"%s\", got success\n", what,
                secmsg_strerror(want));
        failures++;
    } else if (got != want) {
        fprintf(stderr, "gen_corpus: note: %s: expected \"%s\", got \"%s\"\n", what,
                secmsg_strerror(want), secmsg_strerror(got));
    }
}

static void seed_for(uint8_t seed[SECMSG_IDENTITY_SEED_BYTES], const char *who)
{
    char label[64];
    snprintf(label, sizeof label, "secmsg fuzz fixture %s", who);
    crypto_generichash(seed, SECMSG_IDENTITY_SEED_BYTES, (const unsigned char *)label,
                       strlen(label), NULL, 0);
}

/* ---- blobs ---- */

static blob truncated(blob b, size_t len)
{
    if (len < b.len) {
        b.len = len;
    }
    return b;
}

static blob concat(blob a, blob b)
{
    if (a.len + b.len > BLOB_CAP) {
        die("concat", "too large");
    }
    memcpy(a.b + a.len, b.b, b.len);
    a.len += b.len;
    return a;
}

/* Every top-level protobuf starts with its version: field 1, varint. */
static blob with_version(blob b, uint8_t version)
{
    if (b.len < 2 || b.b[0] != 0x08 || b.b[1] != SECMSG_PROTOCOL_VERSION) {
        die("with_version", "input does not start with the version field");
    }
    b.b[1] = version;
    return b;
}

/* ---- the library's outputs as blobs ---- */

static blob identity_public(const secmsg_identity *id)
{
    blob out;
    need(secmsg_identity_public(id, out.b, BLOB_CAP, &out.len), "identity_public");
    return out;
}

static blob identity_private(const secmsg_identity *id)
{
    blob out;
    need(secmsg_identity_serialize(id, out.b, BLOB_CAP, &out.len), "identity_serialize");
    return out;
}

static blob prekeys_state(const secmsg_prekeys *pk)
{
    blob out;
    need(secmsg_prekeys_serialize(pk, out.b, BLOB_CAP, &out.len), "prekeys_serialize");
    return out;
}

static blob session_state(const secmsg_session *s)
{
    blob out;
    need(secmsg_session_serialize(s, out.b, BLOB_CAP, &out.len), "session_serialize");
    return out;
}

static blob bundle_of(const secmsg_prekeys *pk, const secmsg_identity *id, uint32_t otpk)
{
    blob out;
    need(secmsg_prekeys_bundle(pk, id, otpk, out.b, BLOB_CAP, &out.len), "prekeys_bundle");
    return out;
}

static blob encrypt_text(secmsg_session *s, const char *text)
{
    blob out;
    need(secmsg_session_encrypt(s, out.b, BLOB_CAP, &out.len, (const uint8_t *)text,
                                strlen(text)),
         "session_encrypt");
    return out;
}

static int decrypt(secmsg_session *s, blob msg)
{
    blob pt;
    int rc = secmsg_session_decrypt(s, pt.b, BLOB_CAP, &pt.len, msg.b, msg.len);
    sodium_memzero(pt.b, sizeof pt.b);
    return rc;
}

static secmsg_session *session_from(const blob *state)
{
    secmsg_session *s = NULL;
    need(secmsg_session_deserialize(&s, state->b, state->len), "session_deserialize");
    return s;
}

static secmsg_prekeys *prekeys_from(const blob *state)
{
    secmsg_prekeys *pk = NULL;
    need(secmsg_prekeys_deserialize(&pk, state->b, state->len), "prekeys_deserialize");
    return pk;
}

/* Decrypts msg with a fresh copy of a session state. */
static int decrypt_with(const blob *state, blob msg)
{
    secmsg_session *s = session_from(state);
    int rc = decrypt(s, msg);
    secmsg_session_free(s);
    return rc;
}

/* Accepts msg as Bob with a fresh copy of a prekey set. */
static int accept_with(const secmsg_identity *bob, const blob *prekeys, blob msg)
{
    secmsg_prekeys *pk = prekeys_from(prekeys);
    secmsg_session *s = NULL;
    blob pt;
    int rc = secmsg_session_accept(&s, bob, pk, msg.b, msg.len, pt.b, BLOB_CAP, &pt.len);
    sodium_memzero(pt.b, sizeof pt.b);
    secmsg_session_free(s);
    secmsg_prekeys_free(pk);
    return rc;
}

/* ---- protobuf edits for edge cases (in place: protobuf-c frees fields) ---- */

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const blob *b)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, b->len, b->b);
    if (m == NULL) {
        die(d->name, "does not unpack");
    }
    return m;
}

static blob repack(ProtobufCMessage *m)
{
    blob out;
    if (protobuf_c_message_get_packed_size(m) > BLOB_CAP) {
        die("repack", "too large");
    }
    out.len = protobuf_c_message_pack(m, out.b);
    protobuf_c_message_free_unpacked(m, NULL);
    return out;
}

#define UNPACK(type, desc, b) ((type *)(void *)unpack(&(desc), &(b)))

/* ---- output ---- */

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        die(path, strerror(errno));
    }
}

static void put(const char *corpus, const char *name, const blob *b)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/corpus", fuzz_dir);
    make_dir(path);
    snprintf(path, sizeof path, "%s/corpus/%s", fuzz_dir, corpus);
    make_dir(path);
    snprintf(path, sizeof path, "%s/corpus/%s/%s", fuzz_dir, corpus, name);

    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        die(path, strerror(errno));
    }
    if ((b->len > 0 && fwrite(b->b, 1, b->len, f) != b->len) || fclose(f) != 0) {
        die(path, "write failed");
    }
}

static void emit(FILE *f, const char *name, const uint8_t *p, size_t len)
{
    fprintf(f, "static const uint8_t %s[%zu] = {", name, len);
    for (size_t i = 0; i < len; i++) {
        fputs(i % 12 == 0 ? "\n   " : "", f);
        fprintf(f, " 0x%02x,", p[i]);
    }
    fputs("\n};\n\n", f);
}

typedef struct fixtures {
    uint8_t alice_seed[SECMSG_IDENTITY_SEED_BYTES];
    uint8_t bob_seed[SECMSG_IDENTITY_SEED_BYTES];
    blob alice_public, bob_public, bob_prekeys, bob_session, alice_session;
    blob msg_to_bob, msg_to_alice;
} fixtures;

static void write_fixtures(const fixtures *fx)
{
    char path[4096], tmp[4200];

    snprintf(path, sizeof path, "%s/fixtures.h", fuzz_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        die(tmp, strerror(errno));
    }
    fputs("/*\n"
          " * fuzz/fixtures.h - GENERATED by fuzz/gen_corpus.c together with the seed\n"
          " * corpora; do not edit. Regenerate both with the fuzz-gen-corpus tool (see\n"
          " * fuzz/README.md). Test keys only: every secret here comes from the fixed\n"
          " * seeds below.\n"
          " *\n"
          " *   alice/bob_seed     identity seeds (secmsg_identity_from_seed)\n"
          " *   alice/bob_public   their identity publics\n"
          " *   bob_prekeys        Bob's prekey set: signed prekey 2, previous 1,\n"
          " *                      one-time prekeys 1..5\n"
          " *   bob_session        Bob's session with Alice; skipped keys in two chains\n"
          " *   alice_session      Alice's session with Bob; one skipped key\n"
          " *   msg_to_bob         a message bob_session decrypts with a skipped key\n"
          " *   msg_to_alice       a message alice_session decrypts with a skipped key\n"
          " */\n"
          "#ifndef SECMSG_FUZZ_FIXTURES_H\n"
          "#define SECMSG_FUZZ_FIXTURES_H\n\n"
          "#include <stdint.h>\n\n",
          f);
    emit(f, "fixture_alice_seed", fx->alice_seed, sizeof fx->alice_seed);
    emit(f, "fixture_bob_seed", fx->bob_seed, sizeof fx->bob_seed);
    emit(f, "fixture_alice_public", fx->alice_public.b, fx->alice_public.len);
    emit(f, "fixture_bob_public", fx->bob_public.b, fx->bob_public.len);
    emit(f, "fixture_bob_prekeys", fx->bob_prekeys.b, fx->bob_prekeys.len);
    emit(f, "fixture_bob_session", fx->bob_session.b, fx->bob_session.len);
    emit(f, "fixture_alice_session", fx->alice_session.b, fx->alice_session.len);
    emit(f, "fixture_msg_to_bob", fx->msg_to_bob.b, fx->msg_to_bob.len);
    emit(f, "fixture_msg_to_alice", fx->msg_to_alice.b, fx->msg_to_alice.len);
    fputs("#endif\n", f);
    if (ferror(f) || fclose(f) != 0) {
        die(tmp, "write failed");
    }
    if (rename(tmp, path) != 0) {
        die(path, strerror(errno));
    }
}

/* ---- the corpora ---- */

static void identity_corpora(const secmsg_identity *alice, const secmsg_identity *bob,
                             const secmsg_identity *carol)
{
    blob a = identity_public(alice), b = identity_public(bob), c = identity_public(carol);
    blob empty = {.len = 0};

    put("identity_public", "valid-alice", &a);
    put("identity_public", "valid-bob", &b);
    put("identity_public", "valid-carol", &c);
    put("identity_public", "edge-empty", &empty);
    blob e = truncated(a, a.len - 1);
    put("identity_public", "edge-truncated", &e);
    e = with_version(a, 2);
    put("identity_public", "edge-version2", &e);
    e = concat(a, b); /* protobuf: the later field wins, but the length is wrong */
    put("identity_public", "edge-concat", &e);

    Secmsg__Wire__IdentityPublic *m =
        UNPACK(Secmsg__Wire__IdentityPublic, secmsg__wire__identity_public__descriptor, a);
    m->dh_sig.data[0] ^= 0x01;
    e = repack(&m->base);
    note(secmsg_identity_public_verify(e.b, e.len), SECMSG_E_SIGNATURE, "identity bad sig");
    put("identity_public", "edge-bad-sig", &e);

    /* Alice's X25519 key and certificate under Bob's signing key. */
    Secmsg__Wire__IdentityPublic *mb =
        UNPACK(Secmsg__Wire__IdentityPublic, secmsg__wire__identity_public__descriptor, b);
    m = UNPACK(Secmsg__Wire__IdentityPublic, secmsg__wire__identity_public__descriptor, a);
    memcpy(m->sign_pub.data, mb->sign_pub.data, m->sign_pub.len);
    protobuf_c_message_free_unpacked(&mb->base, NULL);
    e = repack(&m->base);
    note(secmsg_identity_public_verify(e.b, e.len), SECMSG_E_SIGNATURE, "identity mixed keys");
    put("identity_public", "edge-mixed-keys", &e);

    m = UNPACK(Secmsg__Wire__IdentityPublic, secmsg__wire__identity_public__descriptor, a);
    m->has_dh_sig = 0;
    e = repack(&m->base);
    note(secmsg_identity_public_verify(e.b, e.len), SECMSG_E_MALFORMED, "identity no sig");
    put("identity_public", "edge-no-sig", &e);

    blob pa = identity_private(alice), pb = identity_private(bob);
    put("identity_private", "valid-alice", &pa);
    put("identity_private", "valid-bob", &pb);
    put("identity_private", "edge-empty", &empty);
    e = truncated(pa, pa.len - 1);
    put("identity_private", "edge-truncated", &e);
    e = with_version(pa, 2);
    put("identity_private", "edge-version2", &e);
    put("identity_private", "edge-public", &a);
    Secmsg__Wire__IdentityPrivate *mp =
        UNPACK(Secmsg__Wire__IdentityPrivate, secmsg__wire__identity_private__descriptor, pa);
    mp->sign_seed.len -= 1;
    e = repack(&mp->base);
    put("identity_private", "edge-short-seed", &e);
    mp = UNPACK(Secmsg__Wire__IdentityPrivate, secmsg__wire__identity_private__descriptor, pa);
    mp->has_dh_priv = 0;
    e = repack(&mp->base);
    put("identity_private", "edge-no-dh", &e);
    sodium_memzero(&pa, sizeof pa);
    sodium_memzero(&pb, sizeof pb);
}

/* A bundle's signed prekey replaced by the all-zero (low-order) X25519
 * point and correctly re-signed with Bob's key, so only the key check can
 * reject it. */
static blob zero_spk_bundle(const secmsg_identity *bob, blob bundle)
{
    blob priv = identity_private(bob);
    Secmsg__Wire__IdentityPrivate *mp =
        UNPACK(Secmsg__Wire__IdentityPrivate, secmsg__wire__identity_private__descriptor, priv);
    Secmsg__Wire__PrekeyBundle *m =
        UNPACK(Secmsg__Wire__PrekeyBundle, secmsg__wire__prekey_bundle__descriptor, bundle);
    static const char label[] = "secmsg v1 signed prekey";
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t msg[sizeof label - 1 + 4 + 32];
    Secmsg__Wire__SignedPrekey *spk = m->signed_prekey;

    if (mp->sign_seed.len != crypto_sign_SEEDBYTES || spk == NULL || spk->pub.len != 32 ||
        spk->sig.len != crypto_sign_BYTES) {
        die("zero_spk_bundle", "unexpected field sizes");
    }
    crypto_sign_seed_keypair(pk, sk, mp->sign_seed.data);
    memset(spk->pub.data, 0, spk->pub.len);
    memcpy(msg, label, sizeof label - 1);
    msg[sizeof label - 1] = (uint8_t)(spk->id & 0xffU);
    msg[sizeof label] = (uint8_t)((spk->id >> 8) & 0xffU);
    msg[sizeof label + 1] = (uint8_t)((spk->id >> 16) & 0xffU);
    msg[sizeof label + 2] = (uint8_t)((spk->id >> 24) & 0xffU);
    memcpy(msg + sizeof label + 3, spk->pub.data, 32);
    crypto_sign_detached(spk->sig.data, NULL, msg, sizeof msg, sk);

    sodium_memzero(sk, sizeof sk);
    sodium_memzero(mp->sign_seed.data, mp->sign_seed.len);
    sodium_memzero(mp->dh_priv.data, mp->dh_priv.len);
    protobuf_c_message_free_unpacked(&mp->base, NULL);
    sodium_memzero(&priv, sizeof priv);
    return repack(&m->base);
}

static void bundle_corpus(const secmsg_identity *alice, const secmsg_identity *bob,
                          const secmsg_identity *carol, blob with_otpk, blob without_otpk,
                          blob rotated)
{
    blob empty = {.len = 0}, e;
    secmsg_session *s = NULL;

    put("bundle", "valid-otpk", &with_otpk);
    put("bundle", "valid-no-otpk", &without_otpk);
    put("bundle", "valid-rotated", &rotated);
    put("bundle", "edge-empty", &empty);
    e = truncated(with_otpk, with_otpk.len - 1);
    put("bundle", "edge-truncated", &e);
    e = with_version(with_otpk, 2);
    put("bundle", "edge-version2", &e);
    e = concat(with_otpk, without_otpk);
    put("bundle", "edge-concat", &e);

    Secmsg__Wire__PrekeyBundle *m =
        UNPACK(Secmsg__Wire__PrekeyBundle, secmsg__wire__prekey_bundle__descriptor, with_otpk);
    m->signed_prekey->sig.data[5] ^= 0x20;
    e = repack(&m->base);
    note(secmsg_session_initiate(&s, alice, e.b, e.len), SECMSG_E_SIGNATURE, "bundle bad sig");
    put("bundle", "edge-bad-spk-sig", &e);

    m = UNPACK(Secmsg__Wire__PrekeyBundle, secmsg__wire__prekey_bundle__descriptor, with_otpk);
    memset(m->one_time_prekey->pub.data, 0, m->one_time_prekey->pub.len);
    e = repack(&m->base);
    note(secmsg_session_initiate(&s, alice, e.b, e.len), SECMSG_E_CRYPTO, "bundle zero otpk");
    put("bundle", "edge-zero-otpk", &e);

    e = zero_spk_bundle(bob, without_otpk);
    note(secmsg_session_initiate(&s, alice, e.b, e.len), SECMSG_E_CRYPTO, "bundle zero spk");
    put("bundle", "edge-zero-spk", &e);

    /* Carol's identity in front of Bob's signed prekey. */
    blob cpub = identity_public(carol);
    Secmsg__Wire__IdentityPublic *ci =
        UNPACK(Secmsg__Wire__IdentityPublic, secmsg__wire__identity_public__descriptor, cpub);
    m = UNPACK(Secmsg__Wire__PrekeyBundle, secmsg__wire__prekey_bundle__descriptor, with_otpk);
    Secmsg__Wire__IdentityPublic *bi = m->identity;
    m->identity = ci;
    e = repack(&m->base);
    protobuf_c_message_free_unpacked(&bi->base, NULL);
    note(secmsg_session_initiate(&s, alice, e.b, e.len), SECMSG_E_SIGNATURE,
         "bundle wrong identity");
    put("bundle", "edge-wrong-identity", &e);

    m = UNPACK(Secmsg__Wire__PrekeyBundle, secmsg__wire__prekey_bundle__descriptor, with_otpk);
    bi = m->identity;
    m->identity = NULL;
    e = repack(&m->base);
    protobuf_c_message_free_unpacked(&bi->base, NULL);
    put("bundle", "edge-no-identity", &e);
    secmsg_session_free(s);
}

/* Edits of an initial message: each returns a fresh blob. */
enum initial_edit {
    EDIT_UNKNOWN_OTPK,
    EDIT_UNKNOWN_SPK,
    EDIT_ZERO_EPHEMERAL,
    EDIT_NO_IDENTITY,
    EDIT_HEADER,
    EDIT_BODY,
    EDIT_NO_HEADER
};

static blob edit_message(blob msg, enum initial_edit what)
{
    Secmsg__Wire__Message *m =
        UNPACK(Secmsg__Wire__Message, secmsg__wire__message__descriptor, msg);
    Secmsg__Wire__IdentityPublic *id = NULL;
    Secmsg__Wire__PrekeyInfo *pi = m->prekey;

    if ((what <= EDIT_NO_IDENTITY && pi == NULL) || m->header.len < 21 || m->body.len < 1) {
        die("edit_message", "unexpected message shape");
    }
    switch (what) {
    case EDIT_UNKNOWN_OTPK:
        pi->has_one_time_prekey_id = 1;
        pi->one_time_prekey_id = 99;
        break;
    case EDIT_UNKNOWN_SPK:
        pi->signed_prekey_id = 7;
        break;
    case EDIT_ZERO_EPHEMERAL:
        memset(pi->ephemeral.data, 0, pi->ephemeral.len);
        break;
    case EDIT_NO_IDENTITY:
        id = pi->identity;
        pi->identity = NULL;
        break;
    case EDIT_HEADER:
        m->header.data[20] ^= 0x01;
        break;
    case EDIT_BODY:
        m->body.data[m->body.len - 1] ^= 0x80;
        break;
    case EDIT_NO_HEADER:
        m->has_header = 0;
        break;
    }
    blob out = repack(&m->base);
    if (id != NULL) {
        protobuf_c_message_free_unpacked(&id->base, NULL);
    }
    return out;
}

/* The initial message with the sender's identity replaced by someone
 * else's valid identity. */
static blob swap_sender(blob msg, const secmsg_identity *other)
{
    blob opub = identity_public(other);
    Secmsg__Wire__IdentityPublic *oi =
        UNPACK(Secmsg__Wire__IdentityPublic, secmsg__wire__identity_public__descriptor, opub);
    Secmsg__Wire__Message *m =
        UNPACK(Secmsg__Wire__Message, secmsg__wire__message__descriptor, msg);
    Secmsg__Wire__IdentityPublic *orig = m->prekey->identity;
    m->prekey->identity = oi;
    blob out = repack(&m->base);
    protobuf_c_message_free_unpacked(&orig->base, NULL);
    return out;
}

static void session_state_edges(const blob *bob_state, const blob *alice_state)
{
    blob e;
    Secmsg__Wire__SessionState *m;
    Secmsg__Wire__IdentityPublic *id;

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor, *bob_state);
    if (m->n_skipped == 0 || m->n_skipped_hk < 2) {
        die("session_state_edges", "fixture has no skipped keys in two chains");
    }
    m->skipped[0]->chain = 99;
    e = repack(&m->base);
    put("session_state", "edge-skipped-chain-out-of-range", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor, *bob_state);
    m->skipped[m->n_skipped - 1]->n = UINT32_MAX;
    e = repack(&m->base);
    put("session_state", "edge-skipped-n-max", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor, *bob_state);
    m->skipped[0]->mk.len -= 1;
    e = repack(&m->base);
    put("session_state", "edge-skipped-short-key", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor, *bob_state);
    m->has_nr = 1;
    m->nr = UINT32_MAX;
    e = repack(&m->base);
    put("session_state", "edge-nr-max", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor,
               *alice_state);
    m->has_ns = 1;
    m->ns = UINT32_MAX;
    e = repack(&m->base);
    put("session_state", "edge-ns-max", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor,
               *alice_state);
    m->has_pn = 1;
    m->pn = UINT32_MAX;
    e = repack(&m->base);
    put("session_state", "edge-pn-max", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor,
               *alice_state);
    id = m->remote;
    m->remote = NULL;
    e = repack(&m->base);
    protobuf_c_message_free_unpacked(&id->base, NULL);
    put("session_state", "edge-no-remote", &e);

    m = UNPACK(Secmsg__Wire__SessionState, secmsg__wire__session_state__descriptor,
               *alice_state);
    m->has_cks = 0;
    e = repack(&m->base);
    put("session_state", "edge-no-sending-chain", &e);
}

static void prekey_set_edges(const blob *state)
{
    blob e;
    Secmsg__Wire__PrekeySet *m;

    m = UNPACK(Secmsg__Wire__PrekeySet, secmsg__wire__prekey_set__descriptor, *state);
    m->has_next_one_time_id = 1;
    m->next_one_time_id = UINT32_MAX;
    e = repack(&m->base);
    put("prekey_set", "edge-next-id-max", &e);

    m = UNPACK(Secmsg__Wire__PrekeySet, secmsg__wire__prekey_set__descriptor, *state);
    if (m->n_one_time_prekeys < 2 || m->signed_prekey == NULL ||
        m->previous_signed_prekey == NULL) {
        die("prekey_set_edges", "fixture lacks prekeys");
    }
    m->one_time_prekeys[1]->id = m->one_time_prekeys[0]->id;
    e = repack(&m->base);
    put("prekey_set", "edge-duplicate-otpk-id", &e);

    m = UNPACK(Secmsg__Wire__PrekeySet, secmsg__wire__prekey_set__descriptor, *state);
    m->one_time_prekeys[0]->id = 0;
    e = repack(&m->base);
    put("prekey_set", "edge-otpk-id-zero", &e);

    m = UNPACK(Secmsg__Wire__PrekeySet, secmsg__wire__prekey_set__descriptor, *state);
    m->previous_signed_prekey->id = m->signed_prekey->id;
    e = repack(&m->base);
    put("prekey_set", "edge-previous-same-id", &e);

    m = UNPACK(Secmsg__Wire__PrekeySet, secmsg__wire__prekey_set__descriptor, *state);
    m->signed_prekey->priv.len -= 1;
    e = repack(&m->base);
    put("prekey_set", "edge-short-spk", &e);

    m = UNPACK(Secmsg__Wire__PrekeySet, secmsg__wire__prekey_set__descriptor, *state);
    m->has_signed_prekey_sig = 0;
    e = repack(&m->base);
    put("prekey_set", "edge-no-spk-sig", &e);
}

/* ---- client layer: invites, certificates, Content ---- */

static blob blob_of(const void *p, size_t n)
{
    blob b;
    if (n > BLOB_CAP) {
        die("blob_of", "too large");
    }
    memcpy(b.b, p, n);
    b.len = n;
    return b;
}

static blob pack_client(const ProtobufCMessage *m)
{
    blob b;
    if (protobuf_c_message_get_packed_size(m) > BLOB_CAP) {
        die("pack_client", "too large");
    }
    b.len = protobuf_c_message_pack(m, b.b);
    return b;
}

/* "secmsg-invite:" + base64url(b), as a blob. */
static blob invite_text(const blob *b)
{
    char text[BLOB_CAP];
    size_t plen = strlen(SECMSG__INVITE_PREFIX), n = 0;
    memcpy(text, SECMSG__INVITE_PREFIX, plen);
    need(secmsg__b64url_encode(text + plen, sizeof text - plen, &n, b->b, b->len), "b64url");
    return blob_of(text, plen + n);
}

static void put_invite_msg(const char *name, const Secmsg__Client__Invite *m, int want)
{
    blob bin = pack_client(&m->base);
    blob text = invite_text(&bin);
    secmsg__invite inv;
    int rc = secmsg__invite_parse(&inv, (const char *)text.b, text.len);
    if (want == SECMSG_OK) {
        expect(rc, SECMSG_OK, name);
    } else {
        note(rc, want, name);
    }
    put("invite", name, &text);
}

static void invite_corpus(const uint8_t caseworker_fp[32], const uint8_t root_fp[32])
{
    secmsg__invite inv;
    char text[SECMSG_INVITE_MAX + 16];
    size_t n = 0;
    blob e;

    memset(&inv, 0, sizeof inv);
    strcpy(inv.relay_url, "https://relay.kommune.example");
    for (size_t i = 0; i < sizeof inv.token; i++) {
        inv.token[i] = (uint8_t)(0x30 + i);
    }
    strcpy(inv.caseworker, "anna.caseworker");
    memcpy(inv.caseworker_fp, caseworker_fp, 32);
    memcpy(inv.root_fp, root_fp, 32);
    for (size_t i = 0; i < sizeof inv.secret; i++) {
        inv.secret[i] = (uint8_t)(0x90 + i);
    }
    inv.expires = 1900000000U;

    need(secmsg__invite_format(&inv, text, sizeof text, &n), "invite_format");
    e = blob_of(text, n);
    put("invite", "valid-https", &e);
    snprintf(text + n, sizeof text - n, "\r\n");
    e = blob_of(text, n + 2);
    put("invite", "valid-trailing-newline", &e);
    text[n] = '=';
    e = blob_of(text, n + 1);
    put("invite", "edge-padding", &e);
    e = blob_of(text, n - 1);
    put("invite", "edge-truncated", &e);
    e = blob_of(SECMSG__INVITE_PREFIX, strlen(SECMSG__INVITE_PREFIX));
    put("invite", "edge-prefix-only", &e);

    /* The longest URL and user id. */
    secmsg__invite big = inv;
    memset(big.relay_url, 0, sizeof big.relay_url);
    strcpy(big.relay_url, "http://");
    memset(big.relay_url + 7, 'h', SECMSG__URL_MAX - 8);
    memset(big.caseworker, 0, sizeof big.caseworker);
    memset(big.caseworker, 'c', sizeof big.caseworker - 1);
    need(secmsg__invite_format(&big, text, sizeof text, &n), "invite_format big");
    e = blob_of(text, n);
    put("invite", "valid-longest", &e);

    /* The Invite protobuf itself (the harness also wraps its input). */
    Secmsg__Client__Invite m = SECMSG__CLIENT__INVITE__INIT;
    m.has_version = 1;
    m.version = 1;
    m.relay_url = inv.relay_url;
    m.has_token = 1;
    m.token.data = inv.token;
    m.token.len = sizeof inv.token;
    m.caseworker = inv.caseworker;
    m.has_caseworker_fp = 1;
    m.caseworker_fp.data = inv.caseworker_fp;
    m.caseworker_fp.len = 32;
    m.has_root_fp = 1;
    m.root_fp.data = inv.root_fp;
    m.root_fp.len = 32;
    m.has_secret = 1;
    m.secret.data = inv.secret;
    m.secret.len = sizeof inv.secret;
    m.has_expires = 1;
    m.expires = inv.expires;
    e = pack_client(&m.base);
    put("invite", "bin-valid", &e);
    blob dup = concat(e, blob_of("\x08\x01", 2));
    put("invite", "bin-duplicate-version", &dup);
    blob unknown = concat(e, blob_of("\x48\x01", 2));
    put("invite", "bin-unknown-field", &unknown);

    Secmsg__Client__Invite x = m;
    x.version = 2;
    put_invite_msg("edge-version2", &x, SECMSG_E_VERSION);
    x = m;
    x.has_secret = 0;
    put_invite_msg("edge-no-secret", &x, SECMSG_E_MALFORMED);
    x = m;
    x.token.len = 31;
    put_invite_msg("edge-token-31", &x, SECMSG_E_MALFORMED);
    char url[] = "https://relay.kommune.example/";
    x = m;
    x.relay_url = url;
    put_invite_msg("edge-url-slash", &x, SECMSG_E_MALFORMED);
    char ftp[] = "ftp://relay.kommune.example";
    x.relay_url = ftp;
    put_invite_msg("edge-url-ftp", &x, SECMSG_E_MALFORMED);
    char user[] = "..";
    x = m;
    x.caseworker = user;
    put_invite_msg("edge-user-dotdot", &x, SECMSG_E_MALFORMED);
    x = m;
    x.expires = 0;
    put_invite_msg("edge-expires-0", &x, SECMSG_E_MALFORMED);
}

static blob sign_cert(const secmsg__cert *c, const uint8_t sk[64])
{
    blob b;
    need(secmsg__cert_sign(c, sk, b.b, sizeof b.b, &b.len), "cert_sign");
    return b;
}

/* Certificate fields into a message, signed over the spec's TBS by sk. */
static blob cert_edge(const secmsg__cert *c, uint32_t version, uint32_t role,
                      const uint8_t sk[64])
{
    uint8_t sig[64];
    Secmsg__Client__Certificate m = SECMSG__CLIENT__CERTIFICATE__INIT;
    m.has_version = 1;
    m.version = version;
    m.has_root_pub = 1;
    m.root_pub.data = (uint8_t *)(uintptr_t)c->root_pub;
    m.root_pub.len = 32;
    m.user_id = (char *)(uintptr_t)c->user_id;
    m.has_role = 1;
    m.role = role;
    m.has_identity = 1;
    m.identity.data = (uint8_t *)(uintptr_t)c->identity;
    m.identity.len = c->identity_len;
    m.has_not_after = 1;
    m.not_after = c->not_after;
    blob tbs = blob_of("secmsg device certificate v1", 28);
    tbs = concat(tbs, pack_client(&m.base));
    crypto_sign_detached(sig, NULL, tbs.b, tbs.len, sk);
    m.has_sig = 1;
    m.sig.data = sig;
    m.sig.len = sizeof sig;
    return pack_client(&m.base);
}

static void cert_corpus(const secmsg__cert *c, const uint8_t sk[64], blob *cert_out)
{
    secmsg__cert back;
    blob e = sign_cert(c, sk);
    expect(secmsg__cert_verify(&back, e.b, e.len), SECMSG_OK, "certificate verifies");
    put("cert", "valid-caseworker", &e);
    *cert_out = e;

    char text[1024];
    size_t n = 0;
    need(secmsg__cert_to_text(e.b, e.len, text, sizeof text, &n), "cert_to_text");
    blob t = blob_of(text, n);
    put("cert", "valid-text", &t);

    secmsg__cert j = *c;
    j.role = 3;
    strcpy(j.user_id, "journal");
    blob jb = sign_cert(&j, sk);
    put("cert", "valid-journal", &jb);

    blob bad = e;
    bad.b[bad.len - 1] ^= 1;
    note(secmsg__cert_verify(&back, bad.b, bad.len), SECMSG_E_SIGNATURE, "cert bad sig");
    put("cert", "edge-bad-sig", &bad);
    bad = cert_edge(c, 2, 2, sk);
    note(secmsg__cert_verify(&back, bad.b, bad.len), SECMSG_E_VERSION, "cert version 2");
    put("cert", "edge-version2", &bad);
    bad = cert_edge(c, 1, 1, sk);
    note(secmsg__cert_verify(&back, bad.b, bad.len), SECMSG_E_MALFORMED, "cert role 1");
    put("cert", "edge-role-citizen", &bad);
    bad = concat(e, blob_of("\x40\x01", 2));
    note(secmsg__cert_verify(&back, bad.b, bad.len), SECMSG_E_MALFORMED, "cert unknown field");
    put("cert", "edge-unknown-field", &bad);
    bad = truncated(e, e.len - 1);
    put("cert", "edge-truncated", &bad);
    blob empty = {.len = 0};
    put("cert", "edge-empty", &empty);
}

static void put_content(const char *name, const secmsg__content *c)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    need(secmsg__content_encode(c, &enc, &n), name);
    blob b = blob_of(enc, n);
    free(enc);
    secmsg__content back;
    expect(secmsg__content_decode(&back, b.b, b.len), SECMSG_OK, name);
    secmsg__content_free(&back);
    put("content", name, &b);
}

static void put_content_msg(const char *name, const Secmsg__Client__Content *m, int want)
{
    blob b = pack_client(&m->base);
    secmsg__content back;
    int rc = secmsg__content_decode(&back, b.b, b.len);
    if (want == SECMSG_OK) {
        expect(rc, SECMSG_OK, name);
    } else {
        note(rc, want, name);
    }
    secmsg__content_free(&back);
    put("content", name, &b);
}

static void content_corpus(const blob *cert)
{
    static const uint8_t id[16] = {0xd0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    secmsg__content c;
    memset(&c, 0, sizeof c);
    memcpy(c.message_id, id, sizeof id);
    c.sent_at = 1700000000123U;

    c.kind = SECMSG__CONTENT_TEXT;
    c.text = (uint8_t *)(uintptr_t)"Hello";
    c.text_len = 5;
    put_content("valid-text", &c);
    static const char utf8[] = "M\xc3\xb8" "de kl. 10 \xe2\x82\xac \xf0\x9f\x93\x85 \xf4\x8f\xbf\xbf";
    c.text = (uint8_t *)(uintptr_t)utf8;
    c.text_len = sizeof utf8 - 1;
    put_content("valid-text-utf8", &c);
    char len62[64];
    memset(len62, 'p', sizeof len62);
    c.text = (uint8_t *)len62;
    c.text_len = 31; /* unpadded size 62: an empty padding field */
    put_content("valid-text-empty-padding", &c);
    c.text = NULL;
    c.text_len = 0;
    c.kind = SECMSG__CONTENT_HELLO;
    memset(c.invite_secret, 0x90, sizeof c.invite_secret);
    put_content("valid-hello", &c);
    memset(c.invite_secret, 0, sizeof c.invite_secret);
    c.kind = SECMSG__CONTENT_WELCOME;
    c.cert = (uint8_t *)(uintptr_t)cert->b;
    c.cert_len = cert->len;
    put_content("valid-welcome", &c);

    uint8_t zeros[200] = {0}, secret[16] = {0};
    Secmsg__Client__Content m = SECMSG__CLIENT__CONTENT__INIT;
    m.has_version = 1;
    m.version = 1;
    m.has_kind = 1;
    m.kind = 1;
    m.has_message_id = 1;
    m.message_id.data = (uint8_t *)(uintptr_t)id;
    m.message_id.len = sizeof id;
    m.has_sent_at = 1;
    m.sent_at = 1700000000123U;
    char hi[] = "hi";
    m.text = hi;
    put_content_msg("valid-unpadded", &m, SECMSG_OK);
    Secmsg__Client__Content x = m;
    x.has_padding = 1;
    x.padding.data = zeros;
    x.padding.len = sizeof zeros;
    put_content_msg("valid-overpadded", &x, SECMSG_OK);
    zeros[7] = 1;
    put_content_msg("edge-nonzero-padding", &x, SECMSG_E_MALFORMED);
    x = m;
    x.version = 2;
    put_content_msg("edge-version2", &x, SECMSG_E_VERSION);
    x = m;
    x.kind = 4;
    put_content_msg("edge-kind-4", &x, SECMSG_E_MALFORMED);
    x = m;
    x.has_invite_secret = 1;
    x.invite_secret.data = secret;
    x.invite_secret.len = sizeof secret;
    put_content_msg("edge-text-and-secret", &x, SECMSG_E_MALFORMED);
    char surrogate[] = "a\xed\xa0\x80";
    x = m;
    x.text = surrogate;
    put_content_msg("edge-utf8-surrogate", &x, SECMSG_E_MALFORMED);
    char overlong[] = "\xc0\xaf";
    x.text = overlong;
    put_content_msg("edge-utf8-overlong", &x, SECMSG_E_MALFORMED);
    blob b = pack_client(&m.base);
    blob dup = concat(b, blob_of("\x10\x01", 2));
    put("content", "edge-duplicate-kind", &dup);
    blob nul = b;
    nul.b[nul.len - 1] = 0; /* "h\0": text is the last field here */
    put("content", "edge-nul-in-text", &nul);
}

static void client_corpora(void)
{
    uint8_t seed[32], root_pk[32], root_sk[64], root_fp[32], cw_fp[32];
    secmsg_identity *cw = NULL;
    secmsg__cert c;
    blob cert;

    seed_for(seed, "municipality root");
    crypto_sign_seed_keypair(root_pk, root_sk, seed);
    need(secmsg__root_fingerprint(root_fp, root_pk), "root fingerprint");
    seed_for(seed, "caseworker");
    need(secmsg_identity_from_seed(&cw, seed), "caseworker identity");
    memset(&c, 0, sizeof c);
    need(secmsg_identity_public(cw, c.identity, sizeof c.identity, &c.identity_len),
         "caseworker public");
    need(secmsg_identity_fingerprint(cw_fp, c.identity, c.identity_len), "fingerprint");
    memcpy(c.root_pub, root_pk, sizeof root_pk);
    strcpy(c.user_id, "anna.caseworker");
    c.role = 2;
    c.not_after = 1900000000U;

    invite_corpus(cw_fp, root_fp);
    cert_corpus(&c, root_sk, &cert);
    content_corpus(&cert);

    secmsg_identity_free(cw);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(root_sk, sizeof root_sk);
}

int main(int argc, char **argv)
{
    fixtures fx;
    uint8_t seed[SECMSG_IDENTITY_SEED_BYTES];
    secmsg_identity *alice = NULL, *bob = NULL, *carol = NULL, *dave = NULL, *erin = NULL;
    secmsg_prekeys *pk = NULL;
    secmsg_session *as = NULL, *bs = NULL, *cs = NULL, *ds = NULL, *es = NULL, *tmp = NULL;
    uint32_t first = 0;
    blob empty = {.len = 0}, e;
    char long_text[301];

    if (argc != 2 && !(argc == 3 && strcmp(argv[2], "client") == 0)) {
        fprintf(stderr, "usage: %s FUZZ_DIR [client]\n", argc > 0 ? argv[0] : "fuzz-gen-corpus");
        return 2;
    }
    fuzz_dir = argv[1];
    need(secmsg_init(), "secmsg_init");
    client_corpora();
    if (argc == 3) {
        printf("gen_corpus: wrote %s/corpus/{invite,cert,content}\n", fuzz_dir);
        return failures > 0 ? 1 : 0;
    }
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';

    seed_for(fx.alice_seed, "alice");
    seed_for(fx.bob_seed, "bob");
    need(secmsg_identity_from_seed(&alice, fx.alice_seed), "alice");
    need(secmsg_identity_from_seed(&bob, fx.bob_seed), "bob");
    seed_for(seed, "carol");
    need(secmsg_identity_from_seed(&carol, seed), "carol");
    seed_for(seed, "dave");
    need(secmsg_identity_from_seed(&dave, seed), "dave");
    seed_for(seed, "erin");
    need(secmsg_identity_from_seed(&erin, seed), "erin");
    sodium_memzero(seed, sizeof seed);
    fx.alice_public = identity_public(alice);
    fx.bob_public = identity_public(bob);

    identity_corpora(alice, bob, carol);

    /* Bob's prekeys: bundles under signed prekey 1, then a rotation to 2. */
    need(secmsg_prekeys_new(&pk, bob, 1), "prekeys_new");
    e = prekeys_state(pk);
    put("prekey_set", "valid-fresh", &e);
    need(secmsg_prekeys_generate(pk, 5, &first), "prekeys_generate");
    expect((int)first, 1, "first one-time prekey id is 1");
    blob bundle_a = bundle_of(pk, bob, 1);
    blob bundle_c = bundle_of(pk, bob, 2);
    blob bundle_d = bundle_of(pk, bob, 0);
    need(secmsg_prekeys_rotate_signed(pk, bob, 2), "prekeys_rotate_signed");
    blob bundle_e = bundle_of(pk, bob, 3);
    fx.bob_prekeys = prekeys_state(pk);
    secmsg_prekeys_free(pk);
    pk = NULL;

    bundle_corpus(alice, bob, carol, bundle_a, bundle_d, bundle_e);

    need(secmsg_session_initiate(&as, alice, bundle_a.b, bundle_a.len), "initiate alice");
    need(secmsg_session_initiate(&cs, carol, bundle_c.b, bundle_c.len), "initiate carol");
    need(secmsg_session_initiate(&ds, dave, bundle_d.b, bundle_d.len), "initiate dave");
    need(secmsg_session_initiate(&es, erin, bundle_e.b, bundle_e.len), "initiate erin");
    blob alice_fresh = session_state(as);
    blob carol_fresh = session_state(cs);
    blob a1 = encrypt_text(as, "hello bob");
    blob a2 = encrypt_text(as, "");
    blob a3 = encrypt_text(as, long_text);
    blob c1 = encrypt_text(cs, "carol here, one-time prekey 2");
    blob d1 = encrypt_text(ds, "dave here, no one-time prekey, previous signed prekey");
    blob e1 = encrypt_text(es, "erin here, signed prekey 2, one-time prekey 3");

    /* Every initial message is accepted by a fresh copy of Bob's prekeys. */
    expect(accept_with(bob, &fx.bob_prekeys, a1), SECMSG_OK, "accept a1");
    expect(accept_with(bob, &fx.bob_prekeys, a2), SECMSG_OK, "accept a2");
    expect(accept_with(bob, &fx.bob_prekeys, a3), SECMSG_OK, "accept a3");
    expect(accept_with(bob, &fx.bob_prekeys, c1), SECMSG_OK, "accept c1");
    expect(accept_with(bob, &fx.bob_prekeys, d1), SECMSG_OK, "accept d1");
    expect(accept_with(bob, &fx.bob_prekeys, e1), SECMSG_OK, "accept e1");

    /* Bob accepts a1 for real. */
    {
        blob pt;
        pk = prekeys_from(&fx.bob_prekeys);
        need(secmsg_session_accept(&bs, bob, pk, a1.b, a1.len, pt.b, BLOB_CAP, &pt.len),
             "accept a1");
        expect(pt.len == 9 && memcmp(pt.b, "hello bob", 9) == 0 ? SECMSG_OK
                                                                : SECMSG_E_DECRYPT,
               SECMSG_OK, "a1 plaintext");
        expect((int)secmsg_prekeys_count(pk), 4, "one-time prekey consumed");
    }
    blob bob_fresh = session_state(bs);
    blob prekeys_used = prekeys_state(pk);
    {
        secmsg_session *dup = NULL;
        blob pt;
        expect(secmsg_session_accept(&dup, bob, pk, a1.b, a1.len, pt.b, BLOB_CAP, &pt.len),
               SECMSG_E_UNKNOWN_PREKEY, "accept a1 twice");
        secmsg_session_free(dup);
    }
    secmsg_prekeys_free(pk);
    pk = NULL;

    /* Alice gets b1 and b3 (b2 skipped), answers in a new chain; Bob gets
     * a5 only (a2, a3 skipped in chain 1, a4 in chain 2). */
    blob b1 = encrypt_text(bs, "hi alice");
    blob b2 = encrypt_text(bs, "second, arrives late");
    blob b3 = encrypt_text(bs, "third");
    expect(decrypt(as, b1), SECMSG_OK, "alice b1");
    expect(decrypt(as, b3), SECMSG_OK, "alice b3");
    blob a4 = encrypt_text(as, "four");
    blob a5 = encrypt_text(as, "five");
    blob a6 = encrypt_text(as, "six");
    blob a7 = encrypt_text(as, "seven");
    expect(decrypt(bs, a5), SECMSG_OK, "bob a5");

    fx.bob_session = session_state(bs);
    fx.alice_session = session_state(as);
    fx.msg_to_bob = a4;
    fx.msg_to_alice = b2;

    /* Messages sent after the snapshot, made on copies. */
    tmp = session_from(&fx.bob_session);
    blob b4 = encrypt_text(tmp, "bob, new chain");
    secmsg_session_free(tmp);
    tmp = session_from(&fx.alice_session);
    blob a8 = encrypt_text(tmp, "eight");
    expect(decrypt(tmp, b4), SECMSG_OK, "alice copy b4");
    blob a9 = encrypt_text(tmp, "alice, new chain");
    secmsg_session_free(tmp);
    tmp = NULL;

    static const struct {
        const char *name;
        int for_bob;
        int ok;
    } plan[] = {
        {"valid-a2-initial-skipped", 1, 1}, {"valid-a3-initial-skipped", 1, 1},
        {"valid-a4-skipped", 1, 1},         {"valid-a6-next", 1, 1},
        {"valid-a7-skip-one", 1, 1},        {"valid-a8-after-snapshot", 1, 1},
        {"valid-a9-new-chain", 1, 1},       {"valid-b2-skipped", 0, 1},
        {"valid-b4-new-chain", 0, 1},       {"replay-a1", 1, 0},
        {"replay-a5", 1, 0},                {"replay-b1", 0, 0},
        {"replay-b3", 0, 0},                {"other-session-c1", 1, 0},
    };
    const blob *plan_msgs[] = {&a2, &a3, &a4, &a6, &a7, &a8, &a9,
                               &b2, &b4, &a1, &a5, &b1, &b3, &c1};
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        const blob *state = plan[i].for_bob ? &fx.bob_session : &fx.alice_session;
        int rc = decrypt_with(state, *plan_msgs[i]);
        if (plan[i].ok) {
            expect(rc, SECMSG_OK, plan[i].name);
        } else {
            expect_error(rc, plan[i].name);
        }
        put("ratchet_decrypt", plan[i].name, plan_msgs[i]);
    }
    put("ratchet_decrypt", "edge-empty", &empty);
    e = truncated(a6, a6.len - 1);
    put("ratchet_decrypt", "edge-truncated", &e);
    e = with_version(a6, 2);
    note(decrypt_with(&fx.bob_session, e), SECMSG_E_VERSION, "ratchet version 2");
    put("ratchet_decrypt", "edge-version2", &e);
    e = edit_message(a6, EDIT_HEADER);
    note(decrypt_with(&fx.bob_session, e), SECMSG_E_DECRYPT, "ratchet tampered header");
    put("ratchet_decrypt", "edge-tampered-header", &e);
    e = edit_message(a6, EDIT_BODY);
    note(decrypt_with(&fx.bob_session, e), SECMSG_E_DECRYPT, "ratchet tampered body");
    put("ratchet_decrypt", "edge-tampered-body", &e);
    e = edit_message(a4, EDIT_BODY);
    note(decrypt_with(&fx.bob_session, e), SECMSG_E_DECRYPT, "skipped tampered body");
    put("ratchet_decrypt", "edge-tampered-skipped", &e);
    e = edit_message(a6, EDIT_NO_HEADER);
    note(decrypt_with(&fx.bob_session, e), SECMSG_E_MALFORMED, "ratchet no header");
    put("ratchet_decrypt", "edge-no-header", &e);
    e = concat(a6, a7);
    put("ratchet_decrypt", "edge-concat", &e);

    /* initial */
    put("initial", "valid-a1-otpk1", &a1);
    put("initial", "valid-a2-empty", &a2);
    put("initial", "valid-a3-long", &a3);
    put("initial", "valid-c1-otpk2", &c1);
    put("initial", "valid-d1-previous-spk-no-otpk", &d1);
    put("initial", "valid-e1-rotated-spk", &e1);
    put("initial", "edge-empty", &empty);
    put("initial", "edge-ratchet-message", &a6);
    e = truncated(a1, a1.len / 2);
    put("initial", "edge-truncated", &e);
    e = with_version(a1, 2);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_VERSION, "initial version 2");
    put("initial", "edge-version2", &e);
    e = edit_message(a1, EDIT_UNKNOWN_OTPK);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_UNKNOWN_PREKEY, "initial otpk 99");
    put("initial", "edge-unknown-otpk", &e);
    e = edit_message(d1, EDIT_UNKNOWN_OTPK);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_UNKNOWN_PREKEY,
         "initial added otpk 99");
    put("initial", "edge-added-otpk", &e);
    e = edit_message(a1, EDIT_UNKNOWN_SPK);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_UNKNOWN_PREKEY, "initial spk 7");
    put("initial", "edge-unknown-spk", &e);
    e = edit_message(a1, EDIT_ZERO_EPHEMERAL);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_CRYPTO, "initial zero ephemeral");
    put("initial", "edge-zero-ephemeral", &e);
    e = edit_message(a1, EDIT_NO_IDENTITY);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_MALFORMED, "initial no identity");
    put("initial", "edge-no-identity", &e);
    e = edit_message(a1, EDIT_HEADER);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_DECRYPT, "initial tampered header");
    put("initial", "edge-tampered-header", &e);
    e = edit_message(a1, EDIT_BODY);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_DECRYPT, "initial tampered body");
    put("initial", "edge-tampered-body", &e);
    e = swap_sender(a1, carol);
    note(accept_with(bob, &fx.bob_prekeys, e), SECMSG_E_DECRYPT, "initial other sender");
    put("initial", "edge-other-sender", &e);
    note(accept_with(bob, &prekeys_used, a1), SECMSG_E_UNKNOWN_PREKEY,
         "initial consumed otpk");

    /* message_info */
    put("message_info", "valid-initial-a1", &a1);
    put("message_info", "valid-initial-d1-no-otpk", &d1);
    put("message_info", "valid-ratchet-a6", &a6);
    put("message_info", "valid-ratchet-b2", &b2);
    put("message_info", "edge-empty", &empty);
    e = truncated(a1, a1.len - 1);
    put("message_info", "edge-truncated", &e);
    e = with_version(a1, 2);
    put("message_info", "edge-version2", &e);
    e = edit_message(a1, EDIT_NO_IDENTITY);
    put("message_info", "edge-no-identity", &e);
    e = edit_message(a6, EDIT_NO_HEADER);
    put("message_info", "edge-no-header", &e);
    e = concat(a6, a1);
    put("message_info", "edge-concat", &e);
    put("message_info", "edge-bundle", &bundle_a);

    /* session_state */
    put("session_state", "valid-alice-fresh-pending", &alice_fresh);
    put("session_state", "valid-carol-fresh", &carol_fresh);
    put("session_state", "valid-bob-after-accept", &bob_fresh);
    put("session_state", "valid-bob-skipped", &fx.bob_session);
    put("session_state", "valid-alice-skipped", &fx.alice_session);
    put("session_state", "edge-empty", &empty);
    e = truncated(fx.bob_session, fx.bob_session.len - 1);
    put("session_state", "edge-truncated", &e);
    e = with_version(fx.bob_session, 2);
    put("session_state", "edge-version2", &e);
    session_state_edges(&fx.bob_session, &fx.alice_session);

    /* prekey_set */
    put("prekey_set", "valid-rotated", &fx.bob_prekeys);
    put("prekey_set", "valid-otpk-consumed", &prekeys_used);
    put("prekey_set", "edge-empty", &empty);
    e = truncated(fx.bob_prekeys, fx.bob_prekeys.len - 1);
    put("prekey_set", "edge-truncated", &e);
    e = with_version(fx.bob_prekeys, 2);
    put("prekey_set", "edge-version2", &e);
    prekey_set_edges(&fx.bob_prekeys);

    write_fixtures(&fx);

    secmsg_session_free(as);
    secmsg_session_free(bs);
    secmsg_session_free(cs);
    secmsg_session_free(ds);
    secmsg_session_free(es);
    secmsg_identity_free(alice);
    secmsg_identity_free(bob);
    secmsg_identity_free(carol);
    secmsg_identity_free(dave);
    secmsg_identity_free(erin);

    if (failures > 0) {
        fprintf(stderr, "gen_corpus: %u check(s) failed; files written anyway\n", failures);
        return 1;
    }
    printf("gen_corpus: wrote %s/fixtures.h and %s/corpus/*\n", fuzz_dir, fuzz_dir);
    return 0;
}
