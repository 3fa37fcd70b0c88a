/*
 * impl_secmsg.c - the benchmark's libsecmsg side, through the public API only
 * (secmsg.h), linked against the shared library as an application would be.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include <secmsg.h>

#define NAME "secmsg"
#define SIGNED_PREKEY_ID 1U
/* One-time prekeys published per batch in the setup benchmark. */
#define OTK_BATCH 500U
/*
 * Room beyond the first initial message's size: later initial messages
 * carry larger one-time prekey ids (longer varints).
 */
#define INITIAL_SLACK 64U

typedef struct pair_ctx {
    secmsg_identity *alice_id, *bob_id;
    secmsg_prekeys *bob_prekeys;
    uint32_t otk_next, otk_end; /* published, unconsumed one-time prekey ids */
    secmsg_session *as, *bs;
    const uint8_t *pt;
    uint8_t *msg, *out;
    size_t len, cap;
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t bundle_len;
    size_t last_wire_len;
} pair_ctx;

static int fail_rc(const char *what, int rc)
{
    bench_error(NAME, "%s failed: %s (%d)", what, secmsg_strerror(rc), rc);
    return BENCH_FAIL;
}

static void sm_pair_clear(void *pair)
{
    pair_ctx *c = pair;
    secmsg_session_free(c->as);
    secmsg_session_free(c->bs);
    secmsg_prekeys_free(c->bob_prekeys);
    secmsg_identity_free(c->alice_id);
    secmsg_identity_free(c->bob_id);
    free(c->msg);
    free(c->out);
}

/* Publishes Bob's bundle with his next one-time prekey (more if none left). */
static int next_bundle(pair_ctx *c)
{
    int rc;
    if (c->otk_next == c->otk_end) {
        uint32_t first = 0;
        rc = secmsg_prekeys_generate(c->bob_prekeys, OTK_BATCH, &first);
        if (rc != SECMSG_OK)
            return fail_rc("secmsg_prekeys_generate", rc);
        c->otk_next = first;
        c->otk_end = first + OTK_BATCH;
    }
    rc = secmsg_prekeys_bundle(c->bob_prekeys, c->bob_id, c->otk_next++, c->bundle,
                               sizeof c->bundle, &c->bundle_len);
    return rc == SECMSG_OK ? BENCH_OK : fail_rc("secmsg_prekeys_bundle", rc);
}

static int sm_transmit(void *pair, bool b_to_a, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    secmsg_session *from = b_to_a ? c->bs : c->as, *to = b_to_a ? c->as : c->bs;
    size_t n = 0;
    int rc = secmsg_session_encrypt(from, c->msg, c->cap, &n, c->pt, c->len);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_encrypt", rc);
    c->last_wire_len = n;
    rc = secmsg_session_decrypt(to, c->out, c->cap, got_len, c->msg, n);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_decrypt", rc);
    *got = c->out;
    return BENCH_OK;
}

/*
 * The whole setup from Bob's current bundle: initiate, first encrypt, the
 * responder's routing (message_info) and accept with decrypt.
 * c->as and c->bs must be NULL.
 */
static int sm_setup(void *pair, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    size_t n = 0;
    int type = 0;
    int rc = secmsg_session_initiate(&c->as, c->alice_id, c->bundle, c->bundle_len);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_initiate", rc);
    if (secmsg_session_ciphertext_len(c->as, c->len) > c->cap) {
        bench_error(NAME, "initial message larger than expected (%zu > %zu bytes)",
                    secmsg_session_ciphertext_len(c->as, c->len), c->cap);
        return BENCH_FAIL;
    }
    rc = secmsg_session_encrypt(c->as, c->msg, c->cap, &n, c->pt, c->len);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_encrypt (initial)", rc);
    rc = secmsg_message_info(c->msg, n, &type, NULL, 0, NULL);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_message_info", rc);
    if (type != SECMSG_MESSAGE_INITIAL) {
        bench_error(NAME, "the first message is not an initial message");
        return BENCH_FAIL;
    }
    rc = secmsg_session_accept(&c->bs, c->bob_id, c->bob_prekeys, c->msg, n, c->out, c->cap,
                               got_len);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_accept", rc);
    *got = c->out;
    return BENCH_OK;
}

/* Between setups: drop the previous sessions, fetch the next bundle. */
static int sm_setup_reset(void *pair)
{
    pair_ctx *c = pair;
    secmsg_session_free(c->as);
    secmsg_session_free(c->bs);
    c->as = c->bs = NULL;
    return next_bundle(c);
}

/* Identities, Bob's prekeys and first bundle, buffers sized for it. */
static int sm_pair_init(void *pair, const uint8_t *pt, size_t len)
{
    pair_ctx *c = pair;
    int rc;
    c->pt = pt;
    c->len = len;
    if ((rc = secmsg_identity_generate(&c->alice_id)) != SECMSG_OK ||
        (rc = secmsg_identity_generate(&c->bob_id)) != SECMSG_OK)
        return fail_rc("secmsg_identity_generate", rc);
    if ((rc = secmsg_prekeys_new(&c->bob_prekeys, c->bob_id, SIGNED_PREKEY_ID)) != SECMSG_OK)
        return fail_rc("secmsg_prekeys_new", rc);
    if (next_bundle(c) != BENCH_OK)
        return BENCH_FAIL;
    rc = secmsg_session_initiate(&c->as, c->alice_id, c->bundle, c->bundle_len);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_initiate", rc);
    /* Initial messages are the largest: they carry the X3DH data. */
    c->cap = secmsg_session_ciphertext_len(c->as, len);
    secmsg_session_free(c->as);
    c->as = NULL;
    if (c->cap == 0) {
        bench_error(NAME, "secmsg_session_ciphertext_len returned 0");
        return BENCH_FAIL;
    }
    c->cap += INITIAL_SLACK;
    c->msg = malloc(c->cap);
    c->out = malloc(c->cap);
    return c->msg != NULL && c->out != NULL ? BENCH_OK : BENCH_FAIL;
}

/* The length secmsg_session_serialize() really writes. */
static int serialized_len(const secmsg_session *s, size_t *len)
{
    size_t cap = secmsg_session_serialized_len(s), got = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (buf == NULL)
        return BENCH_FAIL;
    int rc = secmsg_session_serialize(s, buf, cap, &got);
    free(buf);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_serialize", rc);
    *len = got;
    return BENCH_OK;
}

static int sm_state_len(void *pair, bool bob, size_t *bytes)
{
    const pair_ctx *c = pair;
    return serialized_len(bob ? c->bs : c->as, bytes);
}

static int sm_wire_len(void *pair, size_t *bytes)
{
    const pair_ctx *c = pair;
    int type = 0;
    *bytes = c->last_wire_len;
    /* msg still holds the ciphertext: decrypt writes elsewhere. */
    int rc = secmsg_message_info(c->msg, c->last_wire_len, &type, NULL, 0, NULL);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_message_info", rc);
    if (type != SECMSG_MESSAGE_RATCHET) {
        bench_error(NAME, "expected an ordinary (ratchet) message");
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

static int sm_init(void)
{
    int rc = secmsg_init();
    return rc == SECMSG_OK ? BENCH_OK : fail_rc("secmsg_init", rc);
}

static const char *sm_version(void)
{
    static char v[48];
    size_t n = strlen(secmsg_version_string());
    memcpy(v, "libsecmsg ", 10);
    if (n > sizeof v - 11)
        n = sizeof v - 11;
    memcpy(v + 10, secmsg_version_string(), n);
    v[10 + n] = '\0';
    return v;
}

const bench_impl bench_impl_secmsg = {
    .name = NAME,
    .init = sm_init,
    .version = sm_version,
    .pair_size = sizeof(pair_ctx),
    .pair_init = sm_pair_init,
    .pair_clear = sm_pair_clear,
    .setup = sm_setup,
    .setup_reset = sm_setup_reset,
    .transmit = sm_transmit,
    .state_len = sm_state_len,
    .wire_len = sm_wire_len,
};
