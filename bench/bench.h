/*
 * bench.h - shared declarations of the protocol benchmark (bench-protocol).
 *
 * Every compared implementation (libsecmsg, libsignal-protocol-c, libolm and
 * the libsodium-only floor) is a bench_impl: a small table of what is
 * specific to its library (create a pair of parties, set up their session,
 * send one message in a direction, a party's state size, the wire size).
 * harness.c builds every figure from those pieces (timing loops, ping-pong
 * direction, plaintext checks, the untimed/timed split), so that every
 * implementation is measured the same way; main.c runs the figures and
 * prints the table.
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

/* Return values of the figure and implementation functions. */
#define BENCH_OK 0
#define BENCH_FAIL (-1) /* the library reported an error or a check failed */
#define BENCH_NA 1      /* the figure does not apply to this implementation */

typedef struct bench_opts {
    bool quick;           /* few iterations, one repetition: a smoke test */
    double target_s;      /* wanted duration of one repetition */
    unsigned reps;        /* repetitions; the best one is reported */
    uint64_t quick_iters; /* iterations per repetition in quick mode */
} bench_opts;

/* What a size note is about (bench_impl.size_note). */
typedef enum bench_size_kind { BENCH_SIZE_STATE, BENCH_SIZE_WIRE } bench_size_kind;

/*
 * One compared implementation: only what is specific to its library. A
 * "pair" is the implementation's own context for two parties, Alice (the
 * initiator) and Bob (the responder), who exchange copies of one plaintext
 * `pt` of `len` bytes. Functions print their own errors (bench_error) and
 * return BENCH_OK or BENCH_FAIL. Decrypted plaintexts are handed back
 * through *got / *got_len, valid until the next call on the pair; the
 * harness checks them.
 */
typedef struct bench_impl {
    const char *name;
    /* Library-wide initialisation; BENCH_FAIL makes the whole column n/a. */
    int (*init)(void);
    /* Library version text (static), for the report header. */
    const char *(*version)(void);

    /* Size of the pair context, which the harness allocates zeroed and frees. */
    size_t pair_size;
    /*
     * Fills a zeroed pair: Alice and Bob with their identities, Bob's
     * published prekeys (the bundle of the first setup ready) and buffers
     * for len-byte messages; no session yet. `pt` (len bytes) outlives the
     * pair. pair_clear follows whatever this returns.
     */
    int (*pair_init)(void *pair, const uint8_t *pt, size_t len);
    /* Releases everything the pair holds (not the pair's own memory). */
    void (*pair_clear)(void *pair);
    /*
     * One complete session setup, the timed part of the setup figure: Alice
     * processes Bob's bundle (with a one-time prekey) and encrypts pt as her
     * first message; Bob creates his session from it and decrypts it.
     */
    int (*setup)(void *pair, const uint8_t **got, size_t *got_len);
    /*
     * Untimed, between two setups: drops both sessions and publishes Bob's
     * next one-time prekey (the responder's bundle of the next setup).
     */
    int (*setup_reset)(void *pair);
    /*
     * One message of an established session through its wire form: Alice
     * encrypts pt and Bob decrypts it, or (b_to_a) the other way round.
     */
    int (*transmit)(void *pair, bool b_to_a, const uint8_t **got, size_t *got_len);
    /* Serialized session state of Alice or (bob) Bob; NULL: no such figure. */
    int (*state_len)(void *pair, bool bob, size_t *bytes);
    /*
     * Wire size of the message transmit() last sent, which must be an
     * ordinary message (not an initial one); NULL: see wire_bytes.
     */
    int (*wire_len)(void *pair, size_t *bytes);
    /* Without wire_len: the wire size of a BENCH_SMALL_MSG-byte message. */
    size_t wire_bytes;
    /* Optional: writes the remark printed under the table for a size figure. */
    void (*size_note)(bench_size_kind kind, size_t bytes, char *note, size_t note_cap);
} bench_impl;

extern const bench_impl bench_impl_secmsg;
extern const bench_impl bench_impl_signal;
extern const bench_impl bench_impl_olm;
extern const bench_impl bench_impl_floor;

/* The speed figures (see README.md). */
typedef enum bench_speed {
    BENCH_ROUNDTRIP, /* same sending chain: Alice to Bob, many in a row, no DH step */
    BENCH_PINGPONG,  /* alternating directions: every message causes a DH ratchet step */
    BENCH_SETUP,     /* bundle processing + first encrypt + responder's accept and decrypt */
} bench_speed;

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

/*
 * A job of speed figure `kind` for `im` over a pair with len-byte messages
 * (main.c passes BENCH_SMALL_MSG but for the round trips) and an established
 * session (setup A->B with the initial message, then B->A, A->B). One
 * operation is one message encrypted and decrypted, or one complete session
 * setup.
 */
int bench_job_start(const bench_impl *im, bench_speed kind, size_t len, bench_job *job);

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

/*
 * Size figures, in bytes; `note` (capacity note_cap, may be left empty)
 * receives a remark printed under the table, e.g. the encoding the size is
 * measured in. Return BENCH_OK, BENCH_FAIL or BENCH_NA.
 */
/* Serialized session after BENCH_STATE_MESSAGES ping-pong messages, the larger party. */
int bench_state_size(const bench_impl *im, size_t *bytes, char *note, size_t note_cap);
/* Wire size of a BENCH_SMALL_MSG-byte message in an established session. */
int bench_wire_size(const bench_impl *im, size_t *bytes, char *note, size_t note_cap);

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

#endif
