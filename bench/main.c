/*
 * main.c - bench-protocol: libsecmsg against libsignal-protocol-c, libolm and
 * a libsodium-only floor, in one run. Prints a table of figures, the speed
 * (or size) ratios of secmsg to each peer, and whether secmsg meets its
 * targets. A benchmark, not a test: the exit status says only whether every
 * measurement ran (0) or some library call failed (1); 2 is a usage error.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sodium.h>

#define NOTE_CAP 160U

enum { IMPL_SECMSG, IMPL_SIGNAL, IMPL_OLM, IMPL_FLOOR, IMPL_COUNT };

static const bench_impl *const impls[IMPL_COUNT] = {
    &bench_impl_secmsg,
    &bench_impl_signal,
    &bench_impl_olm,
    &bench_impl_floor,
};

typedef enum fig_kind { FIG_ROUNDTRIP, FIG_PINGPONG, FIG_SETUP, FIG_STATE, FIG_WIRE } fig_kind;

typedef struct figure {
    const char *label;
    const char *unit;
    fig_kind kind;
    size_t len; /* round trip plaintext size */
} figure;

static const figure figures[] = {
    {"1:1 round trip, 100 B", "msg/s", FIG_ROUNDTRIP, 100},
    {"1:1 round trip, 1 KiB", "msg/s", FIG_ROUNDTRIP, 1024},
    {"1:1 round trip, 16 KiB", "msg/s", FIG_ROUNDTRIP, 16 * 1024},
    {"1:1 round trip, 1 MiB", "msg/s", FIG_ROUNDTRIP, 1024 * 1024},
    {"ping-pong, 100 B, DH/msg", "msg/s", FIG_PINGPONG, 0},
    {"session setup", "setup/s", FIG_SETUP, 0},
    {"state after 1000 ping-pong", "bytes", FIG_STATE, 0},
    {"wire size, 100 B message", "bytes", FIG_WIRE, 0},
};
#define N_FIGURES (sizeof figures / sizeof figures[0])
enum { ROW_RT100 = 0, ROW_PINGPONG = 4, ROW_SETUP = 5, ROW_STATE = 6, ROW_WIRE = 7 };

typedef enum cell_status { CELL_NOT_RUN, CELL_OK, CELL_NA, CELL_FAIL } cell_status;

typedef struct cell {
    cell_status status;
    double value;
} cell;

static cell results[N_FIGURES][IMPL_COUNT];
static char notes[N_FIGURES][IMPL_COUNT][NOTE_CAP];

static bool is_speed(const figure *f)
{
    return f->kind == FIG_ROUNDTRIP || f->kind == FIG_PINGPONG || f->kind == FIG_SETUP;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench-protocol [--quick] [--time SECONDS] [--reps N]\n"
                 "  --quick         a few iterations of everything, once (CI smoke test)\n"
                 "  --time SECONDS  duration of one repetition (default 0.5)\n"
                 "  --reps N        repetitions per figure, the best is kept (default 3)\n");
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    o->quick = false;
    o->target_s = 0.5;
    o->reps = 3;
    o->quick_iters = 3;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            o->target_s = strtod(argv[++i], &end);
            if (*end != '\0' || !(o->target_s > 0.0 && o->target_s <= 60.0)) {
                fprintf(stderr, "bench-protocol: --time wants seconds between 0 and 60\n");
                return -1;
            }
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            unsigned long r = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || r < 1 || r > 100) {
                fprintf(stderr, "bench-protocol: --reps wants a number from 1 to 100\n");
                return -1;
            }
            o->reps = (unsigned)r;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "bench-protocol: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

static int start_job(const figure *f, const bench_impl *im, bench_job *job)
{
    switch (f->kind) {
    case FIG_ROUNDTRIP:
        return bench_job_start(im, BENCH_ROUNDTRIP, f->len, job);
    case FIG_PINGPONG:
        return bench_job_start(im, BENCH_PINGPONG, BENCH_SMALL_MSG, job);
    case FIG_SETUP:
        return bench_job_start(im, BENCH_SETUP, BENCH_SMALL_MSG, job);
    case FIG_STATE:
    case FIG_WIRE:
        break;
    }
    return BENCH_NA;
}

static void mark_failed(size_t row, size_t col)
{
    results[row][col].status = CELL_FAIL;
    bench_error(impls[col]->name, "measuring \"%s\" failed", figures[row].label);
}

/*
 * A speed figure for every implementation: each is set up and calibrated,
 * then the repetitions run in turns (all implementations' first, then all
 * second ones, ...), and each keeps its best.
 */
static void run_speed_row(const bench_opts *o, size_t row, const bool ready[IMPL_COUNT])
{
    bench_job jobs[IMPL_COUNT];
    uint64_t n[IMPL_COUNT];

    memset(jobs, 0, sizeof jobs);
    for (size_t col = 0; col < IMPL_COUNT; col++) {
        if (!ready[col])
            continue;
        if (start_job(&figures[row], impls[col], &jobs[col]) != BENCH_OK ||
            bench_calibrate(o, &jobs[col], &n[col]) != BENCH_OK) {
            mark_failed(row, col);
            bench_job_free(&jobs[col]);
            continue;
        }
        results[row][col].status = CELL_OK;
        results[row][col].value = 0.0;
    }
    unsigned reps = o->quick || o->reps == 0 ? 1U : o->reps;
    for (unsigned r = 0; r < reps; r++) {
        for (size_t col = 0; col < IMPL_COUNT; col++) {
            double rate = 0.0;
            if (results[row][col].status != CELL_OK)
                continue;
            if (bench_repeat(&jobs[col], n[col], &rate) != BENCH_OK) {
                mark_failed(row, col);
                bench_job_free(&jobs[col]);
            } else if (rate > results[row][col].value) {
                results[row][col].value = rate;
            }
        }
    }
    for (size_t col = 0; col < IMPL_COUNT; col++)
        bench_job_free(&jobs[col]);
}

static void run_size_cell(size_t row, size_t col)
{
    size_t bytes = 0;
    int rc = figures[row].kind == FIG_STATE
                 ? bench_state_size(impls[col], &bytes, notes[row][col], NOTE_CAP)
                 : bench_wire_size(impls[col], &bytes, notes[row][col], NOTE_CAP);
    results[row][col].value = (double)bytes;
    results[row][col].status = rc == BENCH_OK ? CELL_OK : rc == BENCH_NA ? CELL_NA : CELL_FAIL;
    if (rc != BENCH_OK && rc != BENCH_NA)
        mark_failed(row, col);
}

static void format_value(char *buf, size_t cap, const cell *c, bool speed)
{
    switch (c->status) {
    case CELL_OK:
        if (!speed || c->value >= 100.0)
            snprintf(buf, cap, "%.0f", c->value);
        else
            snprintf(buf, cap, "%.1f", c->value);
        break;
    case CELL_NA:
        snprintf(buf, cap, "-");
        break;
    case CELL_FAIL:
        snprintf(buf, cap, "FAILED");
        break;
    case CELL_NOT_RUN:
        snprintf(buf, cap, "n/a");
        break;
    }
}

/* secmsg relative to a peer: speed ratio, or size quotient. */
static bool ratio(size_t row, size_t peer, double *r)
{
    const cell *s = &results[row][IMPL_SECMSG], *p = &results[row][peer];
    if (s->status != CELL_OK || p->status != CELL_OK || p->value <= 0.0)
        return false;
    *r = s->value / p->value;
    return true;
}

static void print_cpu(void)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *v = strchr(line, ':');
            if (v != NULL)
                printf("cpu: %s", v + 2);
            break;
        }
    }
    fclose(f);
}

static void print_table(const bench_opts *o)
{
    static const char *const peer_hdr[IMPL_COUNT] = {"", "s/signal", "s/olm", "s/floor"};
    char buf[32];

    printf("\nsecmsg protocol benchmark\n");
    for (size_t i = 0; i < IMPL_COUNT; i++)
        printf("  %-10s %s\n", impls[i]->name, impls[i]->version());
    printf("  libsodium  %s; %s\n", sodium_version_string(), OpenSSL_version(OPENSSL_VERSION));
    print_cpu();
    if (o->quick)
        printf("mode: --quick (%llu iterations, 1 repetition): smoke test, figures are noise\n",
               (unsigned long long)o->quick_iters);
    else
        printf("mode: best of %u repetitions of ~%.2f s each, interleaved across libraries\n",
               o->reps, o->target_s);
    printf("ratios: speed rows secmsg ops/s / peer ops/s (>1: secmsg faster); "
           "size rows secmsg bytes / peer bytes (<1: secmsg smaller)\n\n");

    printf("%-27s %-8s", "figure", "unit");
    for (size_t i = 0; i < IMPL_COUNT; i++)
        printf(" %10s", impls[i]->name);
    for (size_t i = 1; i < IMPL_COUNT; i++)
        printf(" %9s", peer_hdr[i]);
    printf("\n");
    for (size_t i = 0; i < 27 + 9 + 11 * IMPL_COUNT + 10 * (IMPL_COUNT - 1); i++)
        putchar('-');
    printf("\n");

    for (size_t row = 0; row < N_FIGURES; row++) {
        const figure *f = &figures[row];
        printf("%-27s %-8s", f->label, f->unit);
        for (size_t col = 0; col < IMPL_COUNT; col++) {
            format_value(buf, sizeof buf, &results[row][col], is_speed(f));
            printf(" %10s", buf);
        }
        for (size_t peer = 1; peer < IMPL_COUNT; peer++) {
            double r;
            if (ratio(row, peer, &r))
                snprintf(buf, sizeof buf, "%.2fx", r);
            else
                snprintf(buf, sizeof buf, "-");
            printf(" %9s", buf);
        }
        printf("\n");
    }

    bool any_note = false;
    for (size_t row = 0; row < N_FIGURES; row++) {
        for (size_t col = 0; col < IMPL_COUNT; col++) {
            if (notes[row][col][0] != '\0') {
                if (!any_note)
                    printf("\nnotes:\n");
                any_note = true;
                printf("  %s\n", notes[row][col]);
            }
        }
    }
    printf("%s  floor wire size: header and body ciphertext only, no framing; "
           "floor keeps no serialized state\n",
           any_note ? "" : "\nnotes:\n");
    printf("  state: the larger of the two parties' serialized sessions\n");
}

static void print_target_speed(const char *what, size_t row, size_t peer, double want)
{
    double r;
    if (!ratio(row, peer, &r)) {
        printf("  %-44s %10s   not measured\n", what, "-");
        return;
    }
    printf("  %-44s %9.2fx   %s\n", what, r, r >= want ? "met" : "NOT met");
}

static void print_target_size(const char *what, size_t row, double max)
{
    const cell *c = &results[row][IMPL_SECMSG];
    if (c->status != CELL_OK) {
        printf("  %-44s %10s   not measured\n", what, "-");
        return;
    }
    printf("  %-44s %8.0f B   %s\n", what, c->value, c->value <= max ? "met" : "NOT met");
}

static void print_targets(const bench_opts *o)
{
    printf("\ntargets (secmsg)%s\n", o->quick ? " -- quick mode: not meaningful" : "");
    print_target_speed("1:1 100 B round trip >= 2.5x libsignal", ROW_RT100, IMPL_SIGNAL, 2.5);
    print_target_speed("1:1 100 B round trip >= 0.8x floor", ROW_RT100, IMPL_FLOOR, 0.8);
    print_target_speed("ping-pong >= 3x libsignal", ROW_PINGPONG, IMPL_SIGNAL, 3.0);
    print_target_speed("session setup >= 3x libsignal", ROW_SETUP, IMPL_SIGNAL, 3.0);
    print_target_size("state after 1000 ping-pong <= 600 bytes", ROW_STATE, 600.0);
    print_target_size("100 B message on the wire <= 230 bytes", ROW_WIRE, 230.0);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bool ready[IMPL_COUNT];
    int status = 0;

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (sodium_init() < 0) {
        fprintf(stderr, "bench-protocol: libsodium failed to initialise\n");
        return 1;
    }
    for (size_t i = 0; i < IMPL_COUNT; i++) {
        ready[i] = impls[i]->init() == BENCH_OK;
        if (!ready[i]) {
            bench_error(impls[i]->name, "initialisation failed; its column is skipped");
            status = 1;
        }
    }
    for (size_t row = 0; row < N_FIGURES; row++) {
        fprintf(stderr, "bench-protocol: %s ...\n", figures[row].label);
        if (is_speed(&figures[row])) {
            run_speed_row(&o, row, ready);
        } else {
            for (size_t col = 0; col < IMPL_COUNT; col++) {
                if (ready[col])
                    run_size_cell(row, col);
            }
        }
        for (size_t col = 0; col < IMPL_COUNT; col++) {
            if (results[row][col].status == CELL_FAIL)
                status = 1;
        }
    }
    print_table(&o);
    print_targets(&o);
    if (status != 0)
        printf("\nsome measurements FAILED; see the messages on stderr\n");
    return status;
}
