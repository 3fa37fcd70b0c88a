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
    uint8_t *pt, *msg, *out;
    size_t len, cap;
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t bundle_len;
    bool b_to_a;
    bool checked;
    size_t last_wire_len;
} pair_ctx;

static int fail_rc(const char *what, int rc)
{
    bench_error(NAME, "%s failed: %s (%d)", what, secmsg_strerror(rc), rc);
    return BENCH_FAIL;
}

static void pair_free(pair_ctx *c)
{
    if (c == NULL)
        return;
    secmsg_session_free(c->as);
    secmsg_session_free(c->bs);
    secmsg_prekeys_free(c->bob_prekeys);
    secmsg_identity_free(c->alice_id);
    secmsg_identity_free(c->bob_id);
    free(c->pt);
    free(c->msg);
    free(c->out);
    free(c);
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

static int check(pair_ctx *c, size_t got)
{
    if (got != c->len || !c->checked) {
        c->checked = true;
        return bench_check_plaintext(NAME, c->pt, c->len, c->out, got);
    }
    return BENCH_OK;
}

static int transmit(pair_ctx *c, secmsg_session *from, secmsg_session *to)
{
    size_t n = 0, got = 0;
    int rc = secmsg_session_encrypt(from, c->msg, c->cap, &n, c->pt, c->len);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_encrypt", rc);
    c->last_wire_len = n;
    rc = secmsg_session_decrypt(to, c->out, c->cap, &got, c->msg, n);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_decrypt", rc);
    return check(c, got);
}

/*
 * The whole setup from Bob's current bundle: initiate, first encrypt, the
 * responder's routing (message_info) and accept with decrypt.
 * c->as and c->bs must be NULL.
 */
static int setup_once(pair_ctx *c)
{
    size_t n = 0, got = 0;
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
    rc = secmsg_session_accept(&c->bs, c->bob_id, c->bob_prekeys, c->msg, n, c->out, c->cap, &got);
    if (rc != SECMSG_OK)
        return fail_rc("secmsg_session_accept", rc);
    return check(c, got);
}

/* Alice and Bob with an established session: A->B (initial), B->A, A->B. */
static pair_ctx *pair_new(size_t len)
{
    int rc;
    pair_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->len = len;
    c->pt = bench_random_alloc(len);
    if (c->pt == NULL)
        goto fail;
    if ((rc = secmsg_identity_generate(&c->alice_id)) != SECMSG_OK ||
        (rc = secmsg_identity_generate(&c->bob_id)) != SECMSG_OK) {
        fail_rc("secmsg_identity_generate", rc);
        goto fail;
    }
    if ((rc = secmsg_prekeys_new(&c->bob_prekeys, c->bob_id, SIGNED_PREKEY_ID)) != SECMSG_OK) {
        fail_rc("secmsg_prekeys_new", rc);
        goto fail;
    }
    if (next_bundle(c) != BENCH_OK)
        goto fail;
    if ((rc = secmsg_session_initiate(&c->as, c->alice_id, c->bundle, c->bundle_len)) !=
        SECMSG_OK) {
        fail_rc("secmsg_session_initiate", rc);
        goto fail;
    }
    /* Initial messages are the largest: they carry the X3DH data. */
    c->cap = secmsg_session_ciphertext_len(c->as, len);
    secmsg_session_free(c->as);
    c->as = NULL;
    if (c->cap != 0)
        c->cap += INITIAL_SLACK;
    if (c->cap == 0) {
        bench_error(NAME, "secmsg_session_ciphertext_len returned 0");
        goto fail;
    }
    c->msg = malloc(c->cap);
    c->out = malloc(c->cap);
    if (c->msg == NULL || c->out == NULL)
        goto fail;
    if (setup_once(c) != BENCH_OK || transmit(c, c->bs, c->as) != BENCH_OK ||
        transmit(c, c->as, c->bs) != BENCH_OK)
        goto fail;
    c->checked = false;
    c->b_to_a = true; /* ping-pong starts with the reply, a new chain */
    return c;
fail:
    pair_free(c);
    return NULL;
}

static int run_roundtrip(void *ctx, uint64_t n, uint64_t *ns)
{
    pair_ctx *c = ctx;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (transmit(c, c->as, c->bs) != BENCH_OK)
            return BENCH_FAIL;
    }
    *ns += bench_now_ns() - t0;
    return BENCH_OK;
}

static int run_pingpong(void *ctx, uint64_t n, uint64_t *ns)
{
    pair_ctx *c = ctx;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        int rc = c->b_to_a ? transmit(c, c->bs, c->as) : transmit(c, c->as, c->bs);
        if (rc != BENCH_OK)
            return BENCH_FAIL;
        c->b_to_a = !c->b_to_a;
    }
    *ns += bench_now_ns() - t0;
    return BENCH_OK;
}

static int run_setup(void *ctx, uint64_t n, uint64_t *ns)
{
    pair_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        /* Untimed: drop the previous sessions, fetch the next bundle. */
        secmsg_session_free(c->as);
        secmsg_session_free(c->bs);
        c->as = c->bs = NULL;
        if (next_bundle(c) != BENCH_OK)
            return BENCH_FAIL;
        c->checked = i != 0;
        uint64_t t0 = bench_now_ns();
        if (setup_once(c) != BENCH_OK)
            return BENCH_FAIL;
        *ns += bench_now_ns() - t0;
    }
    return BENCH_OK;
}

static void job_free(void *ctx)
{
    pair_free(ctx);
}

static int make_job(size_t len, bench_run_fn fn, bench_job *job)
{
    pair_ctx *c = pair_new(len);
    if (c == NULL)
        return BENCH_FAIL;
    job->run = fn;
    job->ctx = c;
    job->free_ctx = job_free;
    return BENCH_OK;
}

static int sm_roundtrip(size_t len, bench_job *job)
{
    return make_job(len, run_roundtrip, job);
}

static int sm_pingpong(bench_job *job)
{
    return make_job(BENCH_SMALL_MSG, run_pingpong, job);
}

static int sm_setup(bench_job *job)
{
    return make_job(BENCH_SMALL_MSG, run_setup, job);
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

static int sm_state_size(size_t *bytes, char *note, size_t note_cap)
{
    size_t la = 0, lb = 0;
    uint64_t ns = 0;
    (void)note;
    (void)note_cap;
    pair_ctx *c = pair_new(BENCH_SMALL_MSG);
    if (c == NULL)
        return BENCH_FAIL;
    int rc = run_pingpong(c, BENCH_STATE_MESSAGES, &ns);
    if (rc == BENCH_OK)
        rc = serialized_len(c->as, &la);
    if (rc == BENCH_OK)
        rc = serialized_len(c->bs, &lb);
    *bytes = la > lb ? la : lb;
    pair_free(c);
    return rc;
}

static int sm_wire_size(size_t *bytes, char *note, size_t note_cap)
{
    int type = 0;
    (void)note;
    (void)note_cap;
    pair_ctx *c = pair_new(BENCH_SMALL_MSG);
    if (c == NULL)
        return BENCH_FAIL;
    int rc = transmit(c, c->as, c->bs);
    if (rc == BENCH_OK) {
        /* msg still holds the ciphertext: decrypt writes elsewhere. */
        int irc = secmsg_message_info(c->msg, c->last_wire_len, &type, NULL, 0, NULL);
        if (irc != SECMSG_OK)
            rc = fail_rc("secmsg_message_info", irc);
        else if (type != SECMSG_MESSAGE_RATCHET) {
            bench_error(NAME, "expected an ordinary (ratchet) message");
            rc = BENCH_FAIL;
        }
    }
    *bytes = c->last_wire_len;
    pair_free(c);
    return rc;
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
    .roundtrip = sm_roundtrip,
    .pingpong = sm_pingpong,
    .setup = sm_setup,
    .state_size = sm_state_size,
    .wire_size = sm_wire_size,
    .version = sm_version,
};
