/*
 * harness.c - what every implementation of the benchmark shares: timing,
 * the figures' loops over a bench_impl (round trip, ping-pong with its
 * alternating direction, session setup with its untimed preparation, the
 * size figures) and the checks of every decrypted plaintext.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

/* A calibration run must last this long before its rate is trusted. */
#define CALIBRATE_MIN_NS 20000000ULL
/* No repetition is scaled beyond this many operations. */
#define MAX_ITERS (1ULL << 32)

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void bench_error(const char *impl, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "bench-protocol: %s: ", impl);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

uint8_t *bench_random_alloc(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (p == NULL) {
        bench_error("harness", "out of memory allocating %zu bytes", len);
        return NULL;
    }
    randombytes_buf(p, len);
    return p;
}

void bench_job_free(bench_job *job)
{
    if (job->ctx != NULL && job->free_ctx != NULL)
        job->free_ctx(job->ctx);
    job->run = NULL;
    job->ctx = NULL;
    job->free_ctx = NULL;
}

static int run_once(bench_job *job, uint64_t n, uint64_t *ns)
{
    *ns = 0;
    if (job->run(job->ctx, n, ns) != BENCH_OK)
        return BENCH_FAIL;
    if (*ns == 0)
        *ns = 1; /* below clock resolution; avoids dividing by zero */
    return BENCH_OK;
}

int bench_calibrate(const bench_opts *o, bench_job *job, uint64_t *n_out)
{
    uint64_t n = 1, ns = 0;

    if (o->quick) {
        *n_out = o->quick_iters ? o->quick_iters : 1;
        return BENCH_OK;
    }
    /* Calibration doubles as warm-up (caches, allocator, branch predictors). */
    for (;;) {
        if (run_once(job, n, &ns) != BENCH_OK)
            return BENCH_FAIL;
        if (ns >= CALIBRATE_MIN_NS || n >= MAX_ITERS)
            break;
        n *= ns < CALIBRATE_MIN_NS / 16 ? 8U : 2U;
    }
    double per_op = (double)ns / (double)n;
    double want = o->target_s * 1e9 / per_op;
    *n_out = want < 1.0 ? 1U : want > (double)MAX_ITERS ? MAX_ITERS : (uint64_t)want;
    return BENCH_OK;
}

int bench_repeat(bench_job *job, uint64_t n, double *ops_per_s)
{
    uint64_t ns = 0;
    if (run_once(job, n, &ns) != BENCH_OK)
        return BENCH_FAIL;
    *ops_per_s = (double)n * 1e9 / (double)ns;
    return BENCH_OK;
}

/* ---- the figures over a bench_impl ---- */

/* Two parties of one implementation and the plaintext they exchange. */
typedef struct bench_pair {
    const bench_impl *im;
    void *impl; /* the implementation's pair */
    uint8_t *pt;
    size_t len;
    bool b_to_a;  /* ping-pong: direction of the next message */
    bool checked; /* the plaintext's bytes have been compared once */
} bench_pair;

/*
 * Every decrypted plaintext's length is checked; its bytes on the first
 * message after checked was cleared (once per job, and once per run of
 * setups), which catches a broken adapter without comparing every message
 * inside the timed loops.
 */
static int check(bench_pair *p, const uint8_t *got, size_t got_len)
{
    if (got_len == p->len && p->checked)
        return BENCH_OK;
    p->checked = true;
    if (got_len != p->len || memcmp(p->pt, got, got_len) != 0) {
        bench_error(p->im->name,
                    "decrypted plaintext differs from what was sent (%zu vs %zu bytes)", got_len,
                    p->len);
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

/* One message: Alice to Bob, or (b_to_a) Bob to Alice. */
static int send_msg(bench_pair *p, bool b_to_a)
{
    const uint8_t *got = NULL;
    size_t got_len = 0;
    if (p->im->transmit(p->impl, b_to_a, &got, &got_len) != BENCH_OK)
        return BENCH_FAIL;
    return check(p, got, got_len);
}

static int setup_once(bench_pair *p)
{
    const uint8_t *got = NULL;
    size_t got_len = 0;
    if (p->im->setup(p->impl, &got, &got_len) != BENCH_OK)
        return BENCH_FAIL;
    return check(p, got, got_len);
}

static void pair_free(bench_pair *p)
{
    if (p == NULL)
        return;
    if (p->impl != NULL) {
        p->im->pair_clear(p->impl);
        free(p->impl);
    }
    free(p->pt);
    free(p);
}

/* Alice and Bob with an established session: A->B (initial), B->A, A->B. */
static bench_pair *pair_new(const bench_impl *im, size_t len)
{
    bench_pair *p = calloc(1, sizeof *p);
    if (p == NULL) {
        bench_error(im->name, "out of memory");
        return NULL;
    }
    p->im = im;
    p->len = len;
    p->pt = bench_random_alloc(len);
    if (p->pt == NULL)
        goto fail;
    p->impl = calloc(1, im->pair_size);
    if (p->impl == NULL) {
        bench_error(im->name, "out of memory");
        goto fail;
    }
    if (im->pair_init(p->impl, p->pt, len) != BENCH_OK)
        goto fail;
    if (setup_once(p) != BENCH_OK || send_msg(p, true) != BENCH_OK ||
        send_msg(p, false) != BENCH_OK)
        goto fail;
    p->checked = false;
    p->b_to_a = true; /* ping-pong starts with the reply, a new chain */
    return p;
fail:
    pair_free(p);
    return NULL;
}

static int run_roundtrip(void *ctx, uint64_t n, uint64_t *ns)
{
    bench_pair *p = ctx;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (send_msg(p, false) != BENCH_OK)
            return BENCH_FAIL;
    }
    *ns += bench_now_ns() - t0;
    return BENCH_OK;
}

static int run_pingpong(void *ctx, uint64_t n, uint64_t *ns)
{
    bench_pair *p = ctx;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (send_msg(p, p->b_to_a) != BENCH_OK)
            return BENCH_FAIL;
        p->b_to_a = !p->b_to_a;
    }
    *ns += bench_now_ns() - t0;
    return BENCH_OK;
}

static int run_setup(void *ctx, uint64_t n, uint64_t *ns)
{
    bench_pair *p = ctx;
    for (uint64_t i = 0; i < n; i++) {
        /* Untimed: drop the sessions, publish the responder's next prekey. */
        if (p->im->setup_reset(p->impl) != BENCH_OK)
            return BENCH_FAIL;
        p->checked = i != 0;
        uint64_t t0 = bench_now_ns();
        if (setup_once(p) != BENCH_OK)
            return BENCH_FAIL;
        *ns += bench_now_ns() - t0;
    }
    return BENCH_OK;
}

static void job_free(void *ctx)
{
    pair_free(ctx);
}

int bench_job_start(const bench_impl *im, bench_speed kind, size_t len, bench_job *job)
{
    bench_run_fn run = NULL;
    switch (kind) {
    case BENCH_ROUNDTRIP:
        run = run_roundtrip;
        break;
    case BENCH_PINGPONG:
        run = run_pingpong;
        break;
    case BENCH_SETUP:
        run = run_setup;
        break;
    }
    if (run == NULL)
        return BENCH_NA;
    bench_pair *p = pair_new(im, len);
    if (p == NULL)
        return BENCH_FAIL;
    job->run = run;
    job->ctx = p;
    job->free_ctx = job_free;
    return BENCH_OK;
}

int bench_state_size(const bench_impl *im, size_t *bytes, char *note, size_t note_cap)
{
    size_t la = 0, lb = 0;
    uint64_t ns = 0;
    if (im->state_len == NULL)
        return BENCH_NA;
    bench_pair *p = pair_new(im, BENCH_SMALL_MSG);
    if (p == NULL)
        return BENCH_FAIL;
    int rc = run_pingpong(p, BENCH_STATE_MESSAGES, &ns);
    if (rc == BENCH_OK)
        rc = im->state_len(p->impl, false, &la);
    if (rc == BENCH_OK)
        rc = im->state_len(p->impl, true, &lb);
    *bytes = la > lb ? la : lb;
    if (im->size_note != NULL)
        im->size_note(BENCH_SIZE_STATE, *bytes, note, note_cap);
    pair_free(p);
    return rc;
}

int bench_wire_size(const bench_impl *im, size_t *bytes, char *note, size_t note_cap)
{
    if (im->wire_len == NULL) {
        *bytes = im->wire_bytes;
        return im->wire_bytes != 0 ? BENCH_OK : BENCH_NA;
    }
    bench_pair *p = pair_new(im, BENCH_SMALL_MSG);
    if (p == NULL)
        return BENCH_FAIL;
    int rc = send_msg(p, false);
    if (rc == BENCH_OK)
        rc = im->wire_len(p->impl, bytes);
    if (im->size_note != NULL)
        im->size_note(BENCH_SIZE_WIRE, *bytes, note, note_cap);
    pair_free(p);
    return rc;
}
