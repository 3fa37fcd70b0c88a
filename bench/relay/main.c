/*
 * relay-load: a load generator for secmsg-relay. Starts a relay on
 * 127.0.0.1 (or uses one given by --url, loopback only), registers devices,
 * and drives it with many concurrent keep-alive connections (one libcurl
 * easy handle per thread). In one run it measures:
 *
 *   baseline   GET /health (no auth, no storage): the HTTP stack's ceiling
 *   send       one envelope per authenticated, durable POST /v1/messages
 *   cycle      send + fetch + ack of one message per request, and batched
 *   broadcast  one envelope to 1000 recipients: time until the 2xx
 *
 * with throughput and p50/p99 latency, then the ratios and the targets.
 * A benchmark, not a test: exit status 0 when every phase ran without
 * request failures, 1 when requests failed, 2 for bad arguments.
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay_client.h"

#ifndef RELAY_LOAD_DEFAULT_BIN
#define RELAY_LOAD_DEFAULT_BIN ""
#endif

#define BROADCAST_N 1000U
#define BATCH 64U
#define CONTENT_BYTES 256U
#define MAX_SAMPLES ((size_t)1 << 22) /* latencies kept per thread */

/* Targets (see the issue): ratios and absolute rates. */
#define TARGET_SEND_RATIO 0.3
#define TARGET_CYCLE 5000.0
#define TARGET_CYCLE_BATCHED 20000.0
#define TARGET_BROADCAST_S 1.0

#define MAX_ROUNDS 20U

typedef struct opts {
    double seconds;
    unsigned rounds;
    unsigned conns;
    int quick;
    const char *url;
    const char *relay_bin;
    const char *enroll_token; /* caseworker enrollment token for --url */
    const char *only;         /* comma-separated phases to run, or NULL for all */
} opts;

static opts O;

/* ---- per-thread sample collection ---- */

typedef struct samples {
    double *v;
    size_t n, cap;
} samples;

static void sample_add(samples *s, double x)
{
    if (s->n == s->cap) {
        if (s->cap >= MAX_SAMPLES)
            return;
        size_t cap = s->cap ? 2 * s->cap : 4096;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (n >= 1); sorts a copy. */
static double median(const double *v, size_t n)
{
    double c[MAX_ROUNDS];
    if (n == 0 || n > MAX_ROUNDS)
        return 0;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

/* ---- phase results ---- */

typedef struct result {
    const char *name;
    const char *unit;
    double rate;     /* unit/s */
    double p50, p99; /* seconds per request */
    uint64_t ops, reqs, errors;
    double secs;
    long first_error;
    int ran;
} result;

typedef struct worker worker;
typedef int (*step_fn)(worker *w, double *lat); /* returns units done, <0 on error */

struct worker {
    pthread_t th;
    unsigned idx;
    rc_conn conn;
    rc_device *a, *b; /* a sends to b (per phase) */
    step_fn step;
    samples lat;
    uint64_t ops, reqs, errors;
    long first_error;
    uint64_t seq;
    pthread_barrier_t *start;
    volatile int *stop;
    rc_buf body;
    uint8_t content[CONTENT_BYTES];
    /* Ids fetched but not yet acknowledged: the next fetch carries them. */
    uint64_t pending[4 * BATCH];
    size_t n_pending;
};

static double now(void)
{
    return rc_now();
}

static void note_error(worker *w, long st)
{
    w->errors++;
    if (!w->first_error)
        w->first_error = st;
}

/* A request with its latency recorded. */
#define TIMED(w, expr, st)                                                                         \
    do {                                                                                           \
        double t0_ = now();                                                                        \
        st = (expr);                                                                               \
        sample_add(&(w)->lat, now() - t0_);                                                        \
        (w)->reqs++;                                                                               \
    } while (0)

static int step_health(worker *w, double *unused)
{
    (void)unused;
    long st;
    TIMED(w, rc_health(&w->conn), st);
    if (st != 200) {
        note_error(w, st);
        return -1;
    }
    return 1;
}

static void make_envelope(worker *w, rc_envelope *e, const rc_device *to)
{
    memset(e, 0, sizeof *e);
    uint64_t s = ++w->seq;
    memcpy(e->message_id, &s, sizeof s);
    memcpy(e->message_id + 8, &w->idx, sizeof w->idx);
    rc_random(e->message_id + 12, 4);
    e->recipients = to->device_id;
    e->n_recipients = 1;
    e->content = w->content;
    e->content_len = sizeof w->content;
}

static int step_send(worker *w, double *unused)
{
    (void)unused;
    rc_envelope e;
    make_envelope(w, &e, w->b);
    long st;
    uint32_t stored = 0;
    TIMED(w, rc_send(&w->conn, w->a, &e, 1, &stored), st);
    if (st != 200 || stored != 1) {
        note_error(w, st);
        return -1;
    }
    return 1;
}

static int cycle(worker *w, unsigned batch)
{
    rc_envelope e[BATCH];
    for (unsigned i = 0; i < batch; i++)
        make_envelope(w, &e[i], w->b);
    long st;
    uint32_t stored = 0;
    TIMED(w, rc_send(&w->conn, w->a, e, batch, &stored), st);
    if (st != 200 || stored != batch) {
        note_error(w, st);
        return -1;
    }
    /*
     * Fetch until this batch is in (pages may split it). Each fetch
     * acknowledges the page before it (POST /v1/messages/fetch, as the spec
     * tells clients that poll to do), so a round is one request; the ids
     * of the last page ride on the next cycle's first fetch.
     */
    unsigned got = 0;
    for (int tries = 0; got < batch && tries < 16; tries++) {
        rc_fetched f;
        TIMED(w, rc_fetch_ack(&w->conn, w->b, w->pending, w->n_pending, 0, &f), st);
        if (st != 200) {
            note_error(w, st);
            return -1;
        }
        size_t n = f.n < 4 * BATCH ? f.n : 4 * BATCH;
        for (size_t i = 0; i < n; i++)
            w->pending[i] = f.d[i].id;
        w->n_pending = n;
        rc_fetched_free(&f);
        got += (unsigned)n;
    }
    if (got < batch) {
        note_error(w, -100);
        return -1;
    }
    return (int)batch;
}

static int step_cycle1(worker *w, double *unused)
{
    (void)unused;
    return cycle(w, 1);
}

static int step_cycle_batched(worker *w, double *unused)
{
    (void)unused;
    return cycle(w, BATCH);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    /* The run ends on the stop flag; the count bound is a backstop. */
    for (uint64_t i = 0; i < 100000000ULL && !__atomic_load_n(w->stop, __ATOMIC_ACQUIRE); i++) {
        int n = w->step(w, NULL);
        if (n > 0)
            w->ops += (uint64_t)n;
        else if (w->errors > 1000)
            break;
    }
    /* The last page's acknowledgement, outside the measurement. */
    if (w->n_pending != 0) {
        uint32_t deleted = 0;
        long st = rc_ack(&w->conn, w->b, w->pending, w->n_pending, &deleted);
        if (st != 200 || deleted != w->n_pending)
            note_error(w, st);
        w->n_pending = 0;
    }
    return NULL;
}

static worker *workers;
static rc_device *devs; /* 0: caseworker; then senders/receivers; then broadcast */
static size_t n_devs;
static rc_relay relay;
static char base_url[RC_URL_MAX];
static rc_conn metrics_conn; /* GET /metrics between phases */

/* utime + stime of one /proc stat file, in seconds; -1 if unreadable. */
static double stat_cpu(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) follow the ")" that ends field 2. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2)
        return -1;
    long tick = sysconf(_SC_CLK_TCK);
    return tick > 0 ? (double)(ut + st) / (double)tick : -1;
}

/*
 * CPU seconds used so far: cpu[0] by this process; cpu[1] by the relay
 * (pid), all threads; cpu[2] by its HTTP threads (libmicrohttpd's
 * "MHD-*"); cpu[3] by its store threads ("store-*"). -1 where unknown (no
 * procfs, or a relay given by --url).
 */
typedef struct cpu_use {
    double v[4];
} cpu_use;

static void cpu_sample(cpu_use *c, pid_t pid)
{
    c->v[0] = stat_cpu("/proc/self/stat");
    c->v[1] = c->v[2] = c->v[3] = -1;
    if (pid <= 0)
        return;
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    c->v[1] = stat_cpu(path);
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    c->v[2] = c->v[3] = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char comm[64] = "";
        snprintf(path, sizeof path, "/proc/%ld/task/%.20s/comm", (long)pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof comm, f) == NULL)
            comm[0] = '\0';
        fclose(f);
        snprintf(path, sizeof path, "/proc/%ld/task/%.20s/stat", (long)pid, e->d_name);
        double t = stat_cpu(path);
        if (t < 0)
            continue; /* the thread ended */
        if (strncmp(comm, "MHD-", 4) == 0)
            c->v[2] += t;
        else if (strncmp(comm, "store-", 6) == 0)
            c->v[3] += t;
    }
    closedir(d);
}

/*
 * The relay's WAL fdatasyncs so far (count, seconds) from its /metrics, on
 * the connection c; -1 if unknown (metrics off, or an older relay).
 */
static void fsync_sample(rc_conn *c, double out[2])
{
    out[0] = out[1] = -1;
    if (rc_call(c, "GET", "/metrics", NULL, NULL, 0) != 200 || c->body.data == NULL)
        return;
    /* The sample line, not the "# HELP" line naming it. */
    static const char *const names[2] = {"\nsecmsg_relay_store_fsyncs_total ",
                                         "\nsecmsg_relay_store_fsync_seconds_total "};
    for (int i = 0; i < 2; i++) {
        const char *p = strstr((const char *)c->body.data, names[i]);
        if (p != NULL)
            out[i] = strtod(p + strlen(names[i]), NULL);
    }
}

/* Idle CPU seconds of the whole machine so far, from /proc/stat; -1 if unknown. */
static double idle_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long v[5];
    int ok = fscanf(f, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) == 5;
    fclose(f);
    long tick = sysconf(_SC_CLK_TCK);
    return ok && tick > 0 ? (double)(v[3] + v[4]) / (double)tick : -1;
}

static void run_phase(result *r, const char *name, const char *unit, step_fn step, size_t a_off,
                      size_t b_off)
{
    pthread_barrier_t start;
    volatile int stop = 0;
    pthread_barrier_init(&start, NULL, O.conns + 1);
    for (unsigned i = 0; i < O.conns; i++) {
        worker *w = &workers[i];
        w->step = step;
        w->a = &devs[a_off + i];
        w->b = &devs[b_off + i];
        w->lat.n = 0;
        w->ops = w->reqs = w->errors = 0;
        w->first_error = 0;
        w->start = &start;
        w->stop = &stop;
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            fprintf(stderr, "relay-load: cannot start a thread\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    cpu_use cpu0, cpu1;
    double fs0[2], fs1[2];
    fsync_sample(&metrics_conn, fs0);
    cpu_sample(&cpu0, relay.pid);
    double idle0 = idle_seconds();
    rc_sleep(O.seconds);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    cpu_sample(&cpu1, relay.pid);
    double idle1 = idle_seconds();
    fsync_sample(&metrics_conn, fs1);
    for (unsigned i = 0; i < O.conns; i++)
        pthread_join(workers[i].th, NULL);
    double secs = now() - t0;
    pthread_barrier_destroy(&start);

    memset(r, 0, sizeof *r);
    r->name = name;
    r->unit = unit;
    r->secs = secs;
    r->ran = 1;
    size_t total = 0;
    for (unsigned i = 0; i < O.conns; i++) {
        r->ops += workers[i].ops;
        r->reqs += workers[i].reqs;
        r->errors += workers[i].errors;
        if (!r->first_error)
            r->first_error = workers[i].first_error;
        total += workers[i].lat.n;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (unsigned i = 0; all && i < O.conns; i++) {
        memcpy(all + k, workers[i].lat.v, workers[i].lat.n * sizeof *all);
        k += workers[i].lat.n;
    }
    if (all && k) {
        qsort(all, k, sizeof *all, cmp_double);
        r->p50 = all[k / 2];
        r->p99 = all[(size_t)((double)(k - 1) * 0.99)];
    }
    free(all);
    r->rate = (double)r->ops / secs;
    printf("  %-34s %10.0f %-6s p50 %7.3f ms  p99 %7.3f ms  (%" PRIu64 " req, %" PRIu64
           " errors)\n",
           name, r->rate, unit, r->p50 * 1e3, r->p99 * 1e3, r->reqs, r->errors);
    if (r->errors)
        printf("    first error: %ld\n", r->first_error);
    /* CPU per request varies far less between runs than the rates do. */
    if (r->reqs > 0 && cpu0.v[0] >= 0 && cpu1.v[0] >= 0) {
        double per = 1e6 / (double)r->reqs;
        printf("    cpu per request: load generator %.1f us", (cpu1.v[0] - cpu0.v[0]) * per);
        if (cpu0.v[1] >= 0 && cpu1.v[1] >= 0)
            printf(", relay %.1f us", (cpu1.v[1] - cpu0.v[1]) * per);
        if (cpu0.v[2] >= 0 && cpu1.v[2] >= 0)
            printf(" (http %.1f, store %.1f)", (cpu1.v[2] - cpu0.v[2]) * per,
                   (cpu1.v[3] - cpu0.v[3]) * per);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (idle0 >= 0 && idle1 >= 0 && ncpu > 0)
            printf("; machine idle %.0f%%",
                   100.0 * (idle1 - idle0) / (secs * (double)ncpu));
        /* The disk's latency, which every durable answer waits for. */
        if (fs0[0] >= 0 && fs1[0] > fs0[0] && fs0[1] >= 0 && fs1[1] >= 0)
            printf("; %.0f fsyncs, %.2f ms each", fs1[0] - fs0[0],
                   1e3 * (fs1[1] - fs0[1]) / (fs1[0] - fs0[0]));
        printf("\n");
    }
    fflush(stdout);
}

/* ---- set-up ---- */

typedef struct enroller {
    pthread_t th;
    size_t from, to;
    long fail;
} enroller;

static void *enroll_main(void *arg)
{
    enroller *e = arg;
    rc_conn c;
    if (rc_conn_init(&c, base_url) != 0) {
        e->fail = RC_E_SYSTEM;
        return NULL;
    }
    for (size_t i = e->from; i < e->to && !e->fail; i++) {
        char user[48];
        uint8_t token[32];
        long st = 0;
        snprintf(user, sizeof user, "load-%ld-%zu", (long)getpid(), i);
        for (int t = 0; t < 100; t++) { /* 429s from a relay with limits */
            st = rc_invite(&c, &devs[0], user, 3600, token);
            if (st != 429)
                break;
            rc_sleep(0.05);
        }
        if (st != 200 || rc_device_new(&devs[i]) != 0) {
            e->fail = st;
            break;
        }
        st = rc_register(&c, &devs[i], token);
        if (st == 200)
            st = rc_auth(&c, &devs[i]);
        if (st != 200)
            e->fail = st;
    }
    rc_conn_free(&c);
    return NULL;
}

static int enroll_all(void)
{
    rc_conn c;
    if (rc_conn_init(&c, base_url) != 0)
        return -1;
    if (rc_device_new(&devs[0]) != 0)
        return -1;
    long st;
    uint8_t token[32];
    if (O.enroll_token) {
        size_t len = 0;
        if (sodium_base642bin(token, sizeof token, O.enroll_token, strlen(O.enroll_token), NULL,
                              &len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
            len != sizeof token) {
            fprintf(stderr, "relay-load: --enroll-token must be the 43-character token that "
                            "`secmsg-relay admin token` prints\n");
            return -1;
        }
    } else if (rc_admin_token(&relay, "caseworker", "load-caseworker", 0, token) != 0) {
        fprintf(stderr, "relay-load: secmsg-relay admin token failed\n");
        return -1;
    }
    st = rc_register(&c, &devs[0], token);
    if (st == 200)
        st = rc_auth(&c, &devs[0]);
    rc_conn_free(&c);
    if (st != 200) {
        fprintf(stderr, "relay-load: caseworker enrolment failed: %ld\n", st);
        return -1;
    }
    unsigned nt = O.conns < 16 ? O.conns : 16;
    enroller *e = calloc(nt, sizeof *e);
    if (!e)
        return -1;
    for (unsigned i = 0; i < nt; i++) {
        e[i].from = 1 + i * (n_devs - 1) / nt;
        e[i].to = 1 + (i + 1) * (n_devs - 1) / nt;
        pthread_create(&e[i].th, NULL, enroll_main, &e[i]);
    }
    int rc = 0;
    for (unsigned i = 0; i < nt; i++) {
        pthread_join(e[i].th, NULL);
        if (e[i].fail) {
            fprintf(stderr, "relay-load: device enrolment failed: %ld\n", e[i].fail);
            rc = -1;
        }
    }
    free(e);
    return rc;
}

/* ---- broadcast ---- */

static int broadcast(result *r, size_t first, unsigned reps)
{
    rc_conn c;
    if (rc_conn_init(&c, base_url) != 0)
        return -1;
    uint8_t(*rcpt)[32] = calloc(BROADCAST_N, 32);
    double *lat = calloc(reps, sizeof *lat);
    uint8_t content[CONTENT_BYTES];
    if (!rcpt || !lat)
        return -1;
    rc_random(content, sizeof content);
    for (size_t i = 0; i < BROADCAST_N; i++)
        memcpy(rcpt[i], devs[first + i].device_id, 32);
    memset(r, 0, sizeof *r);
    r->name = "broadcast to 1000, until 2xx";
    r->unit = "s";
    r->ran = 1;
    /* Encode once outside the timing: the client's work is not the relay's. */
    rc_envelope e = {0};
    e.recipients = rcpt[0];
    e.n_recipients = BROADCAST_N;
    e.content = content;
    e.content_len = sizeof content;
    unsigned done = 0;
    for (unsigned i = 0; i < reps; i++) {
        rc_random(e.message_id, sizeof e.message_id);
        rc_buf body = {0};
        if (rc_encode_send(&body, &e, 1) != 0)
            return -1;
        double t0 = now();
        long st = rc_call(&c, "POST", "/v1/messages", devs[0].bearer, body.data, body.len);
        double dt = now() - t0;
        rc_buf_free(&body);
        r->reqs++;
        if (st != 200) {
            r->errors++;
            if (!r->first_error)
                r->first_error = st;
            continue;
        }
        lat[done++] = dt;
    }
    if (done) {
        qsort(lat, done, sizeof *lat, cmp_double);
        r->p50 = lat[done / 2];
        r->p99 = lat[done - 1]; /* the worst of a few */
        r->rate = r->p50;
    }
    printf("  %-34s %10.3f s      median of %u, worst %.3f s (%" PRIu64 " errors)\n", r->name,
           r->p50, done, r->p99, r->errors);
    if (r->errors)
        printf("    first error: %ld\n", r->first_error);
    free(rcpt);
    free(lat);
    rc_conn_free(&c);
    return 0;
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: relay-load [--quick] [--seconds S] [--rounds R] [--conns N] [--relay PATH]\n"
                 "                  [--url http://127.0.0.1:PORT --enroll-token TOKEN]\n"
                 "  --seconds S   length of each measured phase (default 3)\n"
                 "  --rounds R    measure the phases R times, interleaved (default 3, at most 20);\n"
                 "                figures are the medians over the rounds, and each ratio is\n"
                 "                taken within a round, then the median\n"
                 "  --quick       one round of 1 s phases and 3 broadcasts (CI smoke test)\n"
                 "  --conns N     concurrent keep-alive connections, one thread each (default 64)\n"
                 "  --relay PATH  the secmsg-relay to start (default: $SECMSG_RELAY_BIN or the\n"
                 "                one built with this tree)\n"
                 "  --url URL     use a running relay on a loopback address instead, with\n"
                 "  --enroll-token TOKEN  a caseworker token from `secmsg-relay admin token`\n"
                 "                (that relay's rate limits apply: start it with --rate 0\n"
                 "                --anon-rate 0 to measure throughput)\n"
                 "  --only LIST   run only these phases (comma-separated: baseline, send,\n"
                 "                cycle, batched, broadcast); targets of others show 0\n");
}

static int parse_args(int argc, char **argv)
{
    O.seconds = 3.0;
    O.rounds = 3;
    O.conns = 64;
    O.relay_bin = getenv("SECMSG_RELAY_BIN");
    if (!O.relay_bin || !*O.relay_bin)
        O.relay_bin = RELAY_LOAD_DEFAULT_BIN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--quick")) {
            O.quick = 1;
            O.seconds = 1.0;
            O.rounds = 1;
        } else if (!strcmp(a, "--rounds") && v) {
            unsigned long n = strtoul(v, &end, 10);
            if (!end || *end || n < 1 || n > MAX_ROUNDS)
                return -1;
            O.rounds = (unsigned)n;
            i++;
        } else if (!strcmp(a, "--seconds") && v) {
            O.seconds = strtod(v, &end);
            if (!end || *end || O.seconds <= 0 || O.seconds > 3600)
                return -1;
            i++;
        } else if (!strcmp(a, "--conns") && v) {
            unsigned long n = strtoul(v, &end, 10);
            if (!end || *end || n < 1 || n > 1024)
                return -1;
            O.conns = (unsigned)n;
            i++;
        } else if (!strcmp(a, "--relay") && v) {
            O.relay_bin = v;
            i++;
        } else if (!strcmp(a, "--url") && v) {
            O.url = v;
            i++;
        } else if (!strcmp(a, "--only") && v) {
            O.only = v;
            i++;
        } else if (!strcmp(a, "--enroll-token") && v) {
            O.enroll_token = v;
            i++;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            return -1;
        }
    }
    if (O.url) {
        if (strncmp(O.url, "http://127.0.0.1:", 17) != 0 &&
            strncmp(O.url, "http://localhost:", 17) != 0) {
            fprintf(stderr, "relay-load: --url must be a loopback address "
                            "(http://127.0.0.1:PORT)\n");
            return -1;
        }
        if (!O.enroll_token) {
            fprintf(stderr, "relay-load: --url needs --enroll-token\n");
            return -1;
        }
    } else if (!O.relay_bin || !*O.relay_bin) {
        fprintf(stderr, "relay-load: no relay executable (--relay or SECMSG_RELAY_BIN)\n");
        return -1;
    }
    return 0;
}

/* Whether --only (if given) names `phase`. */
static int wanted(const char *phase)
{
    if (!O.only)
        return 1;
    size_t n = strlen(phase);
    for (const char *p = O.only; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, phase, n))
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

static const char *met(int ok)
{
    return ok ? "met" : "NOT met";
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (rc_global_init() != 0) {
        fprintf(stderr, "relay-load: initialisation failed\n");
        return 1;
    }
    if (O.url) {
        snprintf(base_url, sizeof base_url, "%s", O.url);
    } else {
        /* Rate limits off, and room for every round's sends: this measures
         * throughput, not the limits. */
        static const char *const flags[] = {"--rate", "0", "--anon-rate", "0",
                                            "--mailbox-max-messages", "100000000", NULL};
        const char *err = "";
        if (rc_relay_start(&relay, O.relay_bin, flags, &err) != 0) {
            fprintf(stderr, "relay-load: cannot start the relay: %s\n", err);
            return 1;
        }
        snprintf(base_url, sizeof base_url, "%s", relay.url);
    }

    /* Devices: [0] caseworker; 4 per connection (send: a->b, cycle: c->d);
     * then BROADCAST_N recipients. */
    size_t per = 4 * (size_t)O.conns;
    n_devs = 1 + per + BROADCAST_N;
    devs = calloc(n_devs, sizeof *devs);
    workers = calloc(O.conns, sizeof *workers);
    if (!devs || !workers)
        return 1;
    printf("relay-load: %s, %u connections, %.1f s per phase, %u round%s\n", base_url, O.conns,
           O.seconds, O.rounds, O.rounds == 1 ? "" : "s");
    double t0 = now();
    if (enroll_all() != 0) {
        rc_relay_stop(&relay);
        return 1;
    }
    printf("  enrolled %zu devices in %.1f s\n", n_devs, now() - t0);
    if (rc_conn_init(&metrics_conn, base_url) != 0)
        return 1;
    for (unsigned i = 0; i < O.conns; i++) {
        workers[i].idx = i;
        if (rc_conn_init(&workers[i].conn, base_url) != 0)
            return 1;
        rc_random(workers[i].content, sizeof workers[i].content);
    }
    fflush(stdout);

    /*
     * The phases run in rounds, interleaved, and a ratio is taken within
     * each round: on a shared machine the speed available changes over
     * tens of seconds, and a baseline measured long before the sends would
     * compare different machines. The figures are medians over the rounds.
     */
    enum { P_HEALTH, P_SEND, P_CYC1, P_CYCB, N_PHASES };
    static const struct {
        const char *want, *name;
        step_fn step;
        int cycle_devs;
    } phases[N_PHASES] = {
        {"baseline", "baseline GET /health", step_health, 0},
        {"send", "send, 1 envelope, durable", step_send, 0},
        {"cycle", "send+fetch+ack, 1 per request", step_cycle1, 1},
        {"batched", "send+fetch+ack, 64 per request", step_cycle_batched, 1},
    };
    static result runs[N_PHASES][MAX_ROUNDS];
    result bc;
    memset(runs, 0, sizeof runs);
    memset(&bc, 0, sizeof bc);
    size_t sa = 1, sb = 1 + O.conns, ca = 1 + 2 * (size_t)O.conns, cb = 1 + 3 * (size_t)O.conns;
    for (unsigned k = 0; k < O.rounds; k++) {
        if (O.rounds > 1)
            printf("round %u\n", k + 1);
        for (int p = 0; p < N_PHASES; p++)
            if (wanted(phases[p].want))
                run_phase(&runs[p][k], phases[p].name, p == P_HEALTH ? "req/s" : "msg/s",
                          phases[p].step, phases[p].cycle_devs ? ca : sa,
                          phases[p].cycle_devs ? cb : sb);
    }
    if (wanted("broadcast") && broadcast(&bc, 1 + per, O.quick ? 3 : 10) != 0)
        return 1;

    double med[N_PHASES], send_ratio[MAX_ROUNDS], cycle_ratio[MAX_ROUNDS];
    uint64_t errors = bc.errors;
    for (int p = 0; p < N_PHASES; p++) {
        double rates[MAX_ROUNDS];
        for (unsigned k = 0; k < O.rounds; k++) {
            rates[k] = runs[p][k].rate;
            errors += runs[p][k].errors;
        }
        med[p] = median(rates, O.rounds);
    }
    for (unsigned k = 0; k < O.rounds; k++) {
        double base = runs[P_HEALTH][k].rate;
        send_ratio[k] = base > 0 ? runs[P_SEND][k].rate / base : 0;
        cycle_ratio[k] = base > 0 ? runs[P_CYC1][k].rate / base : 0;
    }
    double ratio = median(send_ratio, O.rounds);
    if (O.rounds > 1) {
        printf("\nmedians over %u rounds\n", O.rounds);
        for (int p = 0; p < N_PHASES; p++)
            if (wanted(phases[p].want))
                printf("  %-34s %10.0f %s\n", phases[p].name, med[p],
                       p == P_HEALTH ? "req/s" : "msg/s");
    }
    printf("\nratios (within each round, median)\n");
    printf("  send / baseline requests          %6.3f", ratio);
    for (unsigned k = 0; O.rounds > 1 && k < O.rounds; k++)
        printf("%s%.3f", k == 0 ? "  (rounds: " : ", ", send_ratio[k]);
    printf("%s\n", O.rounds > 1 ? ")" : "");
    printf("  cycle / baseline requests         %6.3f (1 per request)\n",
           median(cycle_ratio, O.rounds));
    printf("\ntargets\n");
    printf("  sends >= %.1f x baseline req/s     %-8s (%.3f)\n", TARGET_SEND_RATIO,
           met(ratio >= TARGET_SEND_RATIO), ratio);
    printf("  cycle >= %.0f msg/s unbatched    %-8s (%.0f)\n", TARGET_CYCLE,
           met(med[P_CYC1] >= TARGET_CYCLE), med[P_CYC1]);
    printf("  cycle >= %.0f msg/s batched     %-8s (%.0f)\n", TARGET_CYCLE_BATCHED,
           met(med[P_CYCB] >= TARGET_CYCLE_BATCHED), med[P_CYCB]);
    printf("  broadcast to 1000 < %.0f s          %-8s (median %.3f s, worst %.3f s)\n",
           TARGET_BROADCAST_S, met(bc.errors == 0 && bc.p50 < TARGET_BROADCAST_S), bc.p50, bc.p99);

    rc_conn_free(&metrics_conn);
    for (unsigned i = 0; i < O.conns; i++) {
        rc_conn_free(&workers[i].conn);
        free(workers[i].lat.v);
    }
    for (size_t i = 0; i < n_devs; i++)
        rc_device_free(&devs[i]);
    free(devs);
    free(workers);
    if (!O.url)
        rc_relay_stop(&relay);
    if (errors)
        printf("\n%" PRIu64 " requests failed\n", errors);
    return errors ? 1 : 0;
}
