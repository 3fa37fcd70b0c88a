/*
 * impl_signal.c - the benchmark's libsignal-protocol-c side.
 *
 * Each party has its own store context over in-memory stores
 * (signal_store.c); all share one signal_context with the OpenSSL provider
 * (signal_provider.c). A message goes through its public wire form: the
 * sender's serialized ciphertext_message is deserialized by the receiver,
 * as it would be after crossing a network.
 */
#include "bench.h"
#include "signal_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curve.h>
#include <key_helper.h>
#include <protocol.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <session_record.h>

#define NAME "libsignal"
#define KEY_WIRE_BYTES 33U /* type byte 0x05 + X25519 public key */
#define SIG_MAX_BYTES 64U
#define DEVICE_ID 1
/* Pre-key ids are 24-bit ("Medium") in the Signal protocol. */
#define PREKEY_ID_MAX 0xFFFFFEU

#ifndef BENCH_SIGNAL_VERSION
#define BENCH_SIGNAL_VERSION "unknown"
#endif

static signal_context *g_ctx;

typedef struct party {
    signal_protocol_address addr; /* this party's address, as its peer names it */
    sig_store *store;
    signal_protocol_store_context *sctx;
    ratchet_identity_key_pair *identity;
    uint32_t reg_id;
    session_signed_pre_key *spk;
    uint32_t next_prekey_id;
} party;

/* A prekey bundle as it arrives from a server: ids and serialized keys. */
typedef struct bundle_bytes {
    uint32_t reg_id;
    uint32_t prekey_id;
    uint8_t prekey[KEY_WIRE_BYTES];
    uint32_t spk_id;
    uint8_t spk[KEY_WIRE_BYTES];
    uint8_t spk_sig[SIG_MAX_BYTES];
    size_t spk_sig_len;
    uint8_t identity[KEY_WIRE_BYTES];
} bundle_bytes;

typedef struct pair_ctx {
    party alice, bob;
    bundle_bytes bundle; /* Bob's bundle for the next setup */
    session_cipher *ac;  /* Alice's cipher for Bob */
    session_cipher *bc;  /* Bob's cipher for Alice */
    const uint8_t *pt;
    size_t len;
    signal_buffer *plain; /* the last decrypted plaintext */
    size_t last_wire_len;
    int last_type;
} pair_ctx;

#define UNREF(p)                                                                                   \
    do {                                                                                           \
        if ((p) != NULL)                                                                           \
            SIGNAL_UNREF(p);                                                                       \
    } while (0)

static void log_fn(int level, const char *message, size_t len, void *user_data)
{
    (void)user_data;
    if (level <= SG_LOG_ERROR)
        fprintf(stderr, "bench-protocol: libsignal log: %.*s\n", (int)len, message);
}

/* Serializes a public key into exactly KEY_WIRE_BYTES bytes. */
static int key_bytes(uint8_t out[KEY_WIRE_BYTES], const ec_public_key *key)
{
    signal_buffer *b = NULL;
    int rc = ec_public_key_serialize(&b, key);
    if (rc == 0 && signal_buffer_len(b) != KEY_WIRE_BYTES)
        rc = SG_ERR_INVALID_KEY;
    if (rc == 0)
        memcpy(out, signal_buffer_const_data(b), KEY_WIRE_BYTES);
    signal_buffer_free(b);
    return rc;
}

static void party_free(party *p)
{
    UNREF(p->spk);
    UNREF(p->identity);
    if (p->sctx != NULL)
        signal_protocol_store_context_destroy(p->sctx);
    sig_store_free(p->store);
    memset(p, 0, sizeof *p);
}

/* Identity, registration id and signed prekey (id 1), all in p's stores. */
static int party_init(party *p, const char *name)
{
    memset(p, 0, sizeof *p);
    p->addr.name = name;
    p->addr.name_len = strlen(name);
    p->addr.device_id = DEVICE_ID;
    p->next_prekey_id = 1;
    p->store = sig_store_new();
    int rc = p->store == NULL ? SG_ERR_NOMEM : 0;
    if (rc == 0)
        rc = signal_protocol_store_context_create(&p->sctx, g_ctx);
    if (rc == 0)
        rc = sig_store_attach(p->store, p->sctx);
    if (rc == 0)
        rc = signal_protocol_key_helper_generate_identity_key_pair(&p->identity, g_ctx);
    if (rc == 0)
        rc = signal_protocol_key_helper_generate_registration_id(&p->reg_id, 0, g_ctx);
    if (rc == 0)
        rc = sig_store_set_identity(p->store, p->identity, p->reg_id);
    if (rc == 0)
        rc = signal_protocol_key_helper_generate_signed_pre_key(&p->spk, p->identity, 1,
                                                                1700000000000ULL, g_ctx);
    if (rc == 0)
        rc = signal_protocol_signed_pre_key_store_key(p->sctx, p->spk);
    if (rc != 0) {
        bench_error(NAME, "creating party %s failed (%d)", name, rc);
        party_free(p);
    }
    return rc;
}

/* Publishes a fresh one-time prekey and the bundle a server would hand out. */
static int make_bundle(party *bob, bundle_bytes *out)
{
    signal_protocol_key_helper_pre_key_list_node *head = NULL;
    uint32_t id = bob->next_prekey_id;
    bob->next_prekey_id = id % PREKEY_ID_MAX + 1U;

    int rc = signal_protocol_key_helper_generate_pre_keys(&head, id, 1, g_ctx);
    if (rc != 0)
        return rc;
    session_pre_key *pk = signal_protocol_key_helper_key_list_element(head);
    rc = signal_protocol_pre_key_store_key(bob->sctx, pk);
    if (rc == 0)
        rc = key_bytes(out->prekey, ec_key_pair_get_public(session_pre_key_get_key_pair(pk)));
    signal_protocol_key_helper_key_list_free(head);
    if (rc != 0)
        return rc;

    out->reg_id = bob->reg_id;
    out->prekey_id = id;
    out->spk_id = session_signed_pre_key_get_id(bob->spk);
    out->spk_sig_len = session_signed_pre_key_get_signature_len(bob->spk);
    if (out->spk_sig_len > sizeof out->spk_sig)
        return SG_ERR_INVAL;
    memcpy(out->spk_sig, session_signed_pre_key_get_signature(bob->spk), out->spk_sig_len);
    rc = key_bytes(out->spk, ec_key_pair_get_public(session_signed_pre_key_get_key_pair(bob->spk)));
    if (rc == 0)
        rc = key_bytes(out->identity, ratchet_identity_key_pair_get_public(bob->identity));
    return rc;
}

/* Initiator: decodes the bundle and builds the session (X3DH). */
static int process_bundle(party *alice, const signal_protocol_address *bob_addr,
                          const bundle_bytes *b)
{
    ec_public_key *pk = NULL, *spk = NULL, *ik = NULL;
    session_pre_key_bundle *bundle = NULL;
    session_builder *builder = NULL;

    int rc = curve_decode_point(&pk, b->prekey, KEY_WIRE_BYTES, g_ctx);
    if (rc == 0)
        rc = curve_decode_point(&spk, b->spk, KEY_WIRE_BYTES, g_ctx);
    if (rc == 0)
        rc = curve_decode_point(&ik, b->identity, KEY_WIRE_BYTES, g_ctx);
    if (rc == 0)
        rc = session_pre_key_bundle_create(&bundle, b->reg_id, DEVICE_ID, b->prekey_id, pk,
                                           b->spk_id, spk, b->spk_sig, b->spk_sig_len, ik);
    if (rc == 0)
        rc = session_builder_create(&builder, alice->sctx, bob_addr, g_ctx);
    if (rc == 0)
        rc = session_builder_process_pre_key_bundle(builder, bundle);
    session_builder_free(builder);
    UNREF(bundle);
    UNREF(pk);
    UNREF(spk);
    UNREF(ik);
    return rc;
}

/*
 * One message: encrypt, serialize, deserialize, decrypt. The plaintext stays
 * in c->plain until the next message (whose first step frees it).
 */
static int send_one(pair_ctx *c, session_cipher *from, session_cipher *to, const uint8_t **got,
                    size_t *got_len)
{
    ciphertext_message *m = NULL;
    pre_key_signal_message *pm = NULL;
    signal_message *sm = NULL;

    signal_buffer_free(c->plain);
    c->plain = NULL;
    int rc = session_cipher_encrypt(from, c->pt, c->len, &m);
    if (rc != 0)
        goto done;
    const signal_buffer *wire = ciphertext_message_get_serialized(m);
    c->last_wire_len = signal_buffer_len(wire);
    c->last_type = ciphertext_message_get_type(m);
    if (c->last_type == CIPHERTEXT_PREKEY_TYPE) {
        rc = pre_key_signal_message_deserialize(&pm, signal_buffer_const_data(wire),
                                                c->last_wire_len, g_ctx);
        if (rc == 0)
            rc = session_cipher_decrypt_pre_key_signal_message(to, pm, NULL, &c->plain);
    } else {
        rc = signal_message_deserialize(&sm, signal_buffer_const_data(wire), c->last_wire_len,
                                        g_ctx);
        if (rc == 0)
            rc = session_cipher_decrypt_signal_message(to, sm, NULL, &c->plain);
    }
done:
    UNREF(sm);
    UNREF(pm);
    UNREF(m);
    if (rc != 0) {
        bench_error(NAME, "message failed (%d)", rc);
        return BENCH_FAIL;
    }
    *got = signal_buffer_const_data(c->plain);
    *got_len = signal_buffer_len(c->plain);
    return BENCH_OK;
}

static int sig_transmit(void *pair, bool b_to_a, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    return b_to_a ? send_one(c, c->bc, c->ac, got, got_len)
                  : send_one(c, c->ac, c->bc, got, got_len);
}

static void sig_pair_clear(void *pair)
{
    pair_ctx *c = pair;
    signal_buffer_free(c->plain);
    session_cipher_free(c->ac);
    session_cipher_free(c->bc);
    party_free(&c->alice);
    party_free(&c->bob);
}

/* The whole setup: bundle -> session -> first message -> responder session. */
static int sig_setup(void *pair, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    int rc = process_bundle(&c->alice, &c->bob.addr, &c->bundle);
    if (rc == 0)
        rc = session_cipher_create(&c->ac, c->alice.sctx, &c->bob.addr, g_ctx);
    if (rc == 0)
        rc = session_cipher_create(&c->bc, c->bob.sctx, &c->alice.addr, g_ctx);
    if (rc != 0) {
        bench_error(NAME, "session setup failed (%d)", rc);
        return BENCH_FAIL;
    }
    return send_one(c, c->ac, c->bc, got, got_len);
}

static int publish_bundle(pair_ctx *c)
{
    if (make_bundle(&c->bob, &c->bundle) != 0) {
        bench_error(NAME, "making a prekey bundle failed");
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

/* Between setups: fresh parties' session stores and a new one-time prekey. */
static int sig_setup_reset(void *pair)
{
    pair_ctx *c = pair;
    sig_store_clear_sessions(c->alice.store);
    sig_store_clear_sessions(c->bob.store);
    if (publish_bundle(c) != BENCH_OK)
        return BENCH_FAIL;
    session_cipher_free(c->ac);
    session_cipher_free(c->bc);
    c->ac = c->bc = NULL;
    return BENCH_OK;
}

/* Alice and Bob with their stores and Bob's first bundle. */
static int sig_pair_init(void *pair, const uint8_t *pt, size_t len)
{
    pair_ctx *c = pair;
    c->pt = pt;
    c->len = len;
    if (party_init(&c->alice, "alice") != 0 || party_init(&c->bob, "bob") != 0)
        return BENCH_FAIL;
    return publish_bundle(c);
}

static int record_len(party *p, const signal_protocol_address *peer, size_t *len)
{
    session_record *rec = NULL;
    signal_buffer *buf = NULL;
    int rc = signal_protocol_session_load_session(p->sctx, &rec, peer);
    if (rc == 0)
        rc = session_record_serialize(&buf, rec);
    if (rc == 0)
        *len = signal_buffer_len(buf);
    signal_buffer_bzero_free(buf);
    UNREF(rec);
    return rc;
}

static int sig_state_len(void *pair, bool bob, size_t *bytes)
{
    pair_ctx *c = pair;
    int rc = bob ? record_len(&c->bob, &c->alice.addr, bytes)
                 : record_len(&c->alice, &c->bob.addr, bytes);
    if (rc != 0) {
        bench_error(NAME, "serializing the session record failed");
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

static int sig_wire_len(void *pair, size_t *bytes)
{
    const pair_ctx *c = pair;
    *bytes = c->last_wire_len;
    if (c->last_type != CIPHERTEXT_SIGNAL_TYPE) {
        bench_error(NAME, "expected an ordinary message, got type %d", c->last_type);
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

static void sig_cleanup(void)
{
    if (g_ctx != NULL)
        signal_context_destroy(g_ctx);
    g_ctx = NULL;
    sig_provider_release();
}

static int sig_init(void)
{
    if (g_ctx != NULL)
        return BENCH_OK;
    int rc = signal_context_create(&g_ctx, NULL);
    if (rc == 0)
        rc = sig_provider_install(g_ctx);
    if (rc == 0)
        rc = signal_context_set_log_function(g_ctx, log_fn);
    if (rc != 0) {
        bench_error(NAME, "creating the signal context failed (%d)", rc);
        sig_cleanup();
        return BENCH_FAIL;
    }
    atexit(sig_cleanup);
    return BENCH_OK;
}

static const char *sig_version(void)
{
    return "libsignal-protocol-c " BENCH_SIGNAL_VERSION " (crypto provider: OpenSSL)";
}

const bench_impl bench_impl_signal = {
    .name = NAME,
    .init = sig_init,
    .version = sig_version,
    .pair_size = sizeof(pair_ctx),
    .pair_init = sig_pair_init,
    .pair_clear = sig_pair_clear,
    .setup = sig_setup,
    .setup_reset = sig_setup_reset,
    .transmit = sig_transmit,
    .state_len = sig_state_len,
    .wire_len = sig_wire_len,
};
