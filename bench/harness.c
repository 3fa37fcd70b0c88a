/*
 * harness.c - timing shared by every implementation of the benchmark.
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

int bench_check_plaintext(const char *impl, const uint8_t *want, size_t want_len,
                          const uint8_t *got, size_t got_len)
{
    if (want_len != got_len || memcmp(want, got, want_len) != 0) {
        bench_error(impl, "decrypted plaintext differs from what was sent (%zu vs %zu bytes)",
                    got_len, want_len);
        return BENCH_FAIL;
    }
    return BENCH_OK;
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
