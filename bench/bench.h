/*
 * bench.h - shared declarations of the protocol benchmark (bench-protocol).
 *
 * Every compared implementation (libsecmsg, libsignal-protocol-c, libolm and
 * the libsodium-only floor) is a bench_impl: a table of functions that each
 * produce one figure of the report. main.c runs them all and prints the
 * table; harness.c owns timing so that every implementation is measured the
 * same way.
 */
#ifndef SECMSG_BENCH_H
#define SECMSG_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Plaintext size of the ping-pong, setup and wire-size figures. */
#define BENCH_SMALL_MSG 100U
/* Messages exchanged before the serialized state is measured. */
#define BENCH_STATE_MESSAGES 1000U

/* Return values of the figure functions. */
#define BENCH_OK 0
#define BENCH_FAIL (-1) /* the library reported an error or a check failed */
#define BENCH_NA 1      /* the figure does not apply to this implementation */

typedef struct bench_opts {
    bool quick;           /* few iterations, one repetition: a smoke test */
    double target_s;      /* wanted duration of one repetition */
    unsigned reps;        /* repetitions; the best one is reported */
    uint64_t quick_iters; /* iterations per repetition in quick mode */
} bench_opts;

/*
 * Runs `n` operations of one benchmark and adds the nanoseconds spent in the
 * timed part of them to *ns. Preparation that the figure excludes (for
 * example generating the responder's prekeys before a session setup) runs
 * outside the timed part. Returns BENCH_OK or BENCH_FAIL.
 */
typedef int (*bench_run_fn)(void *ctx, uint64_t n, uint64_t *ns);

/* A benchmark ready to run: its context lives until free_ctx(ctx). */
typedef struct bench_job {
    bench_run_fn run;
    void *ctx;
    void (*free_ctx)(void *ctx);
} bench_job;

/* Frees the job's context (NULL-safe) and clears the job. */
void bench_job_free(bench_job *job);

/*
 * How many operations one repetition of `job` runs: in quick mode
 * o->quick_iters; otherwise calibrated (runs that double as warm-up) so that
 * a repetition lasts about o->target_s.
 */
int bench_calibrate(const bench_opts *o, bench_job *job, uint64_t *n);

/* One repetition of n operations; *ops_per_s gets its rate. */
int bench_repeat(bench_job *job, uint64_t n, double *ops_per_s);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Reports a failure of implementation `impl` on stderr (printf format). */
void bench_error(const char *impl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Buffer of `len` random bytes from libsodium, or NULL (error printed). */
uint8_t *bench_random_alloc(size_t len);

/* Checks a decrypted plaintext; prints and returns BENCH_FAIL on mismatch. */
int bench_check_plaintext(const char *impl, const uint8_t *want, size_t want_len,
                          const uint8_t *got, size_t got_len);

/*
 * One compared implementation. Speed figures give a job whose operation is
 * one message encrypted by its sender and decrypted by its receiver, or one
 * complete session setup; main.c interleaves the repetitions of all
 * implementations so that a disturbance of the machine hits every column
 * alike. Size figures give bytes; `note`
 * (capacity note_cap, may be left empty) receives a remark printed under the
 * table, e.g. the encoding the size is measured in.
 */
typedef struct bench_impl {
    const char *name;
    /* Library-wide initialisation; BENCH_FAIL makes the whole column n/a. */
    int (*init)(void);
    /* Same sending chain: one sender, many messages in a row, no DH step. */
    int (*roundtrip)(size_t len, bench_job *job);
    /* Alternating directions: every message causes a DH ratchet step. */
    int (*pingpong)(bench_job *job);
    /* Bundle processing + first encrypt + responder's accept and decrypt. */
    int (*setup)(bench_job *job);
    /* Serialized session state after BENCH_STATE_MESSAGES ping-pong messages. */
    int (*state_size)(size_t *bytes, char *note, size_t note_cap);
    /* Wire size of a BENCH_SMALL_MSG-byte message in an established session. */
    int (*wire_size)(size_t *bytes, char *note, size_t note_cap);
    /* Library version text (static), for the report header. */
    const char *(*version)(void);
} bench_impl;

extern const bench_impl bench_impl_secmsg;
extern const bench_impl bench_impl_signal;
extern const bench_impl bench_impl_olm;
extern const bench_impl bench_impl_floor;

#endif
