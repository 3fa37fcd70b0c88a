/* Durability: kill -9 during a send load, restart on the same database;
 * every send that got a 2xx is stored, none twice. And fan-out: one
 * envelope to 1000 recipients reaches every mailbox. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "itest.h"

TestSuite(durability, .init = it_init_bare, .fini = it_fini, .timeout = 300);

/* Rate limits off: the point is to have many sends in flight. */
static const char *const no_rate_limit[] = {"--rate", "0", "--anon-rate", "0", NULL};

#define N_SENDERS 8U
#define MAX_SENDS 30000U /* messages per sender; the kills come long before */
#define BATCH 8U         /* odd senders send this many envelopes per request */
#define ROUNDS 3U        /* kill -9 and restart this many times */
#define KILL_EVERY 1000U /* acknowledged messages per round, in all */

enum { SENT_NONE = 0, SENT_OK = 1, SENT_REFUSED = 2, SENT_UNKNOWN = 3 };

/*
 * One sender device and thread. Message j of sender i has content
 * "s<i>-<j>" and a random message id; a request carries `batch`
 * consecutive messages, whose state is the request's outcome.
 */
typedef struct sender {
    pthread_t th;
    unsigned idx;
    unsigned batch;
    rc_device dev;
    const uint8_t *rcpt;
    const char *url;
    uint8_t state[MAX_SENDS];
    uint8_t mid[MAX_SENDS][16];
    unsigned n; /* messages attempted */
    volatile unsigned *total_ok;
    volatile int *stop;
} sender;

static void *send_loop(void *arg)
{
    sender *s = arg;
    rc_conn c;
    if (rc_conn_init(&c, s->url) != 0)
        return NULL;
    static char text[N_SENDERS][BATCH][32];
    rc_envelope e[BATCH];
    /* Bounded by count, and by the relay's death: after the first
     * transport failure (the kill) the loop ends. */
    while (s->n + s->batch <= MAX_SENDS && !__atomic_load_n(s->stop, __ATOMIC_ACQUIRE)) {
        unsigned first = s->n;
        for (unsigned k = 0; k < s->batch; k++) {
            unsigned j = first + k;
            snprintf(text[s->idx][k], sizeof text[0][0], "s%u-%u", s->idx, j);
            memset(&e[k], 0, sizeof e[k]);
            rc_random(s->mid[j], 16);
            memcpy(e[k].message_id, s->mid[j], 16);
            e[k].recipients = s->rcpt;
            e[k].n_recipients = 1;
            e[k].content = (const uint8_t *)text[s->idx][k];
            e[k].content_len = strlen(text[s->idx][k]);
            s->state[j] = SENT_UNKNOWN;
        }
        s->n = first + s->batch;
        uint32_t stored = 0;
        long st = rc_send(&c, &s->dev, e, s->batch, &stored);
        uint8_t outcome = st >= 200 && st < 300 ? SENT_OK : st > 0 ? SENT_REFUSED : SENT_UNKNOWN;
        for (unsigned k = 0; k < s->batch; k++)
            s->state[first + k] = outcome;
        if (outcome == SENT_OK)
            __atomic_add_fetch(s->total_ok, s->batch, __ATOMIC_ACQ_REL);
        if (outcome == SENT_UNKNOWN)
            break; /* no answer: the relay is gone; the outcome is unknown */
    }
    rc_conn_free(&c);
    return NULL;
}

/* What the receiver did with a message during the load. */
enum { ACK_NONE = 0, ACK_OK = 1, ACK_UNKNOWN = 2 };
static uint8_t acked_state[N_SENDERS][MAX_SENDS];

/* Parses "s<i>-<j>" content; 0 on success. */
static int parse_content(const rc_delivery *d, unsigned *si, unsigned *sj)
{
    char text[32] = "";
    if (d->content_len >= sizeof text)
        return -1;
    memcpy(text, d->content, d->content_len);
    return sscanf(text, "s%u-%u", si, sj) == 2 && *si < N_SENDERS && *sj < MAX_SENDS ? 0 : -1;
}

typedef struct receiver {
    pthread_t th;
    rc_device *dev;
    const char *url;
    volatile int *stop;
    unsigned acked; /* messages whose ack got a 2xx */
    int foreign;    /* content that was never sent */
} receiver;

/* Fetches and acks (every other page only, so some mail stays for the
 * final count) until the relay dies or the stop flag; bounded by count. */
static void *receive_loop(void *arg)
{
    receiver *r = arg;
    rc_conn c;
    if (rc_conn_init(&c, r->url) != 0)
        return NULL;
    for (unsigned round = 0; round < 100000 && !__atomic_load_n(r->stop, __ATOMIC_ACQUIRE);
         round++) {
        rc_fetched f;
        long st = rc_fetch(&c, r->dev, 0, &f);
        if (st < 0)
            break;
        if (st != 200 || f.n == 0 || round % 2) {
            rc_fetched_free(&f);
            rc_sleep(0.001);
            continue;
        }
        uint64_t ids[100];
        unsigned si[100], sj[100];
        size_t n = f.n < 100 ? f.n : 100;
        for (size_t k = 0; k < n; k++) {
            ids[k] = f.d[k].id;
            if (parse_content(&f.d[k], &si[k], &sj[k]) != 0) {
                r->foreign = 1;
                si[k] = sj[k] = 0;
            }
        }
        rc_fetched_free(&f);
        for (size_t k = 0; k < n; k++)
            acked_state[si[k]][sj[k]] = ACK_UNKNOWN;
        uint32_t deleted = 0;
        st = rc_ack(&c, r->dev, ids, n, &deleted);
        if (st == 200 && deleted == n) {
            for (size_t k = 0; k < n; k++)
                acked_state[si[k]][sj[k]] = ACK_OK;
            r->acked += (unsigned)n;
        }
        if (st < 0)
            break;
    }
    rc_conn_free(&c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Eight senders (half of them 8 envelopes per request) keep sending to one
 * recipient while the recipient fetches and acks part of its mail; after
 * every KILL_EVERY acknowledged messages the relay gets SIGKILL and is
 * restarted on the same database, three times. Then every message whose
 * send got a 2xx is in the mailbox exactly once unless its ack got a 2xx
 * (then it is gone for good), every request without an answer is there
 * entirely or not at all, and nothing is there twice (by content, message
 * id and delivery id).
 */
Test(durability, kill_9_during_send_load)
{
    it_start(no_rate_limit);
    rc_conn c;
    it_conn(&c);
    rc_device r;
    it_device(&c, &r, "caseworker");
    static sender s[N_SENDERS];
    volatile unsigned total_ok = 0;
    memset(s, 0, sizeof s);
    for (unsigned i = 0; i < N_SENDERS; i++) {
        it_device(&c, &s[i].dev, "caseworker");
        s[i].idx = i;
        s[i].batch = i % 2 ? BATCH : 1;
        s[i].rcpt = r.device_id;
        s[i].url = it_relay.url; /* the same buffer after a restart, with the new port */
        s[i].total_ok = &total_ok;
    }
    rc_conn_free(&c);

    memset(acked_state, 0, sizeof acked_state);
    unsigned receiver_acked = 0;
    for (unsigned round = 1; round <= ROUNDS; round++) {
        volatile int stop = 0;
        for (unsigned i = 0; i < N_SENDERS; i++) {
            s[i].stop = &stop;
            cr_assert_eq(pthread_create(&s[i].th, NULL, send_loop, &s[i]), 0);
        }
        receiver rcv = {0, &r, it_relay.url, &stop, 0, 0};
        cr_assert_eq(pthread_create(&rcv.th, NULL, receive_loop, &rcv), 0);
        double end = rc_now() + 60.0;
        while (__atomic_load_n(&total_ok, __ATOMIC_ACQUIRE) < round * KILL_EVERY && rc_now() < end)
            rc_sleep(0.001);
        unsigned before_kill = __atomic_load_n(&total_ok, __ATOMIC_ACQUIRE);
        int status = rc_relay_signal(&it_relay, SIGKILL);
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (unsigned i = 0; i < N_SENDERS; i++)
            pthread_join(s[i].th, NULL);
        pthread_join(rcv.th, NULL);
        cr_assert_not(rcv.foreign, "the receiver got content that was never sent");
        receiver_acked += rcv.acked;
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %u: the relay died of SIGKILL", round);
        cr_assert_geq(before_kill, round * KILL_EVERY, "round %u: only %u sends in 60 s", round,
                      before_kill);
        it_restart();
    }

    unsigned acked = 0, unknown = 0, refused = 0;
    for (unsigned i = 0; i < N_SENDERS; i++)
        for (unsigned j = 0; j < s[i].n; j++) {
            acked += s[i].state[j] == SENT_OK;
            unknown += s[i].state[j] == SENT_UNKNOWN;
            refused += s[i].state[j] == SENT_REFUSED;
        }
    cr_assert_eq(refused, 0, "%u messages refused during the load", refused);

    it_conn(&c);
    /* The token key lives in the database: the token survives restarts. */
    rc_fetched f;
    long st = rc_fetch(&c, &r, 0, &f);
    cr_assert_eq(st, 200, "fetch with the token from before the crashes: %ld", st);
    rc_fetched_free(&f);

    /* Drain the mailbox (bounded by pages), counting every message. */
    static uint16_t count[N_SENDERS][MAX_SENDS];
    memset(count, 0, sizeof count);
    uint64_t *ids = NULL;
    size_t n_ids = 0, cap_ids = 0;
    size_t total = 0;
    for (int page = 0; page < 10000; page++) {
        st = rc_fetch(&c, &r, 0, &f);
        cr_assert_eq(st, 200, "fetch after restart: %ld", st);
        if (f.n == 0) {
            rc_fetched_free(&f);
            break;
        }
        uint64_t *ack = calloc(f.n, sizeof *ack);
        cr_assert_not_null(ack);
        for (size_t k = 0; k < f.n; k++) {
            unsigned si = 0, sj = 0;
            char text[32] = "";
            size_t tl = f.d[k].content_len < sizeof text - 1 ? f.d[k].content_len : 0;
            memcpy(text, f.d[k].content, tl);
            cr_assert_eq(sscanf(text, "s%u-%u", &si, &sj), 2, "foreign content \"%s\"", text);
            cr_assert(si < N_SENDERS && sj < s[si].n, "a message never sent: %s", text);
            cr_assert_eq(memcmp(f.d[k].message_id, s[si].mid[sj], 16), 0, "%s: message id differs",
                         text);
            cr_assert_eq(memcmp(f.d[k].sender, s[si].dev.device_id, 32), 0, "%s: sender", text);
            count[si][sj]++;
            if (n_ids == cap_ids) {
                cap_ids = cap_ids ? 2 * cap_ids : 1024;
                ids = realloc(ids, cap_ids * sizeof *ids);
                cr_assert_not_null(ids);
            }
            ids[n_ids++] = f.d[k].id;
            ack[k] = f.d[k].id;
        }
        total += f.n;
        uint32_t deleted = 0;
        cr_assert_eq(rc_ack(&c, &r, ack, f.n, &deleted), 200);
        cr_assert_eq(deleted, f.n, "ack deleted %u of %zu", deleted, f.n);
        free(ack);
        rc_fetched_free(&f);
    }
    unsigned lost = 0, dup = 0, extra = 0, torn = 0, revived = 0;
    for (unsigned i = 0; i < N_SENDERS; i++)
        for (unsigned j = 0; j < s[i].n; j++) {
            if (acked_state[i][j] == ACK_OK && count[i][j] > 0)
                revived++;
            if (s[i].state[j] == SENT_OK && acked_state[i][j] == ACK_NONE && count[i][j] == 0)
                lost++;
            if (count[i][j] > 1)
                dup++;
            if (s[i].state[j] == SENT_UNKNOWN && count[i][j] == 1)
                extra++;
        }
    /* A request without an answer is stored whole or not at all (messages
     * the receiver saw count as stored). */
    for (unsigned i = 1; i < N_SENDERS; i += 2)
        for (unsigned j = 0; j + BATCH <= s[i].n; j += BATCH) {
            unsigned in = 0;
            for (unsigned k = 0; k < BATCH; k++)
                in += count[i][j + k] > 0 || acked_state[i][j + k] != ACK_NONE;
            torn += in != 0 && in != BATCH;
        }
    /* Delivery ids are unique too. */
    if (n_ids)
        qsort(ids, n_ids, sizeof *ids, cmp_u64);
    for (size_t a = 1; a < n_ids; a++)
        cr_assert_neq(ids[a - 1], ids[a], "delivery id %llu twice", (unsigned long long)ids[a]);
    cr_log_info("kill -9 x%u: %u messages acknowledged, %u without an answer (%u of them "
                "stored), %u acked by the receiver during the load, %zu fetched at the end",
                ROUNDS, acked, unknown, extra, receiver_acked, total);
    cr_assert_eq(lost, 0, "%u acknowledged messages lost in the crashes", lost);
    cr_assert_eq(dup, 0, "%u messages stored more than once", dup);
    cr_assert_eq(revived, 0, "%u messages whose ack got a 2xx came back", revived);
    cr_assert_eq(torn, 0, "%u batched requests stored in part", torn);
    cr_assert_gt(receiver_acked, 0, "the receiver acked nothing during the load");
    free(ids);
    for (unsigned i = 0; i < N_SENDERS; i++)
        rc_device_free(&s[i].dev);
    rc_device_free(&r);
    rc_conn_free(&c);
}

/* ---- fan-out ---- */

#define FANOUT 1000U
#define FAN_THREADS 8U

typedef struct fan_worker {
    pthread_t th;
    const char *url;
    const rc_device *cw;
    rc_device *devs;
    size_t from, to;
    const uint8_t *mid;
    const char *text;
    long fail; /* first failing status, 0: none */
    size_t fail_at;
    size_t got; /* fetch phase: devices that received the message */
} fan_worker;

/* Retries a request on 429 (rate limit), bounded by count. */
#define RETRY_429(expr, st)                                                                        \
    do {                                                                                           \
        for (int try_ = 0; try_ < 50; try_++) {                                                    \
            st = (expr);                                                                           \
            if (st != 429)                                                                         \
                break;                                                                             \
            rc_sleep(0.05);                                                                        \
        }                                                                                          \
    } while (0)

static void *fan_enroll(void *arg)
{
    fan_worker *w = arg;
    rc_conn c;
    if (rc_conn_init(&c, w->url) != 0) {
        w->fail = RC_E_SYSTEM;
        return NULL;
    }
    for (size_t i = w->from; i < w->to; i++) {
        char user[32];
        uint8_t token[32];
        long st;
        snprintf(user, sizeof user, "citizen-%zu", i);
        RETRY_429(rc_invite(&c, w->cw, user, 3600, token), st);
        if (st != 200 || rc_device_new(&w->devs[i]) != 0) {
            w->fail = st;
            w->fail_at = i;
            break;
        }
        RETRY_429(rc_register(&c, &w->devs[i], token), st);
        if (st == 200)
            RETRY_429(rc_auth(&c, &w->devs[i]), st);
        if (st != 200) {
            w->fail = st;
            w->fail_at = i;
            break;
        }
    }
    rc_conn_free(&c);
    return NULL;
}

static void *fan_fetch(void *arg)
{
    fan_worker *w = arg;
    rc_conn c;
    if (rc_conn_init(&c, w->url) != 0) {
        w->fail = RC_E_SYSTEM;
        return NULL;
    }
    for (size_t i = w->from; i < w->to; i++) {
        rc_fetched f;
        long st;
        RETRY_429(rc_fetch(&c, &w->devs[i], 0, &f), st);
        if (st != 200) {
            w->fail = st;
            w->fail_at = i;
            break;
        }
        if (f.n == 1 && memcmp(f.d[0].message_id, w->mid, 16) == 0 &&
            f.d[0].content_len == strlen(w->text) &&
            memcmp(f.d[0].content, w->text, f.d[0].content_len) == 0 &&
            memcmp(f.d[0].sender, w->cw->device_id, 32) == 0)
            w->got++;
        rc_fetched_free(&f);
    }
    rc_conn_free(&c);
    return NULL;
}

static void run_workers(fan_worker *w, void *(*fn)(void *), const char *phase)
{
    for (size_t i = 0; i < FAN_THREADS; i++)
        cr_assert_eq(pthread_create(&w[i].th, NULL, fn, &w[i]), 0);
    for (size_t i = 0; i < FAN_THREADS; i++)
        pthread_join(w[i].th, NULL);
    for (size_t i = 0; i < FAN_THREADS; i++)
        cr_assert_eq(w[i].fail, 0, "%s: device %zu failed with %ld", phase, w[i].fail_at,
                     w[i].fail);
}

Test(durability, fan_out_to_1000)
{
    it_start(no_rate_limit);
    rc_conn c;
    it_conn(&c);
    rc_device cw;
    it_device(&c, &cw, "caseworker");
    rc_device *devs = calloc(FANOUT, sizeof *devs);
    cr_assert_not_null(devs);
    uint8_t mid[16];
    rc_random(mid, sizeof mid);
    const char *text = "one ciphertext for a thousand mailboxes";
    fan_worker w[FAN_THREADS];
    memset(w, 0, sizeof w);
    for (size_t i = 0; i < FAN_THREADS; i++) {
        w[i].url = it_relay.url;
        w[i].cw = &cw;
        w[i].devs = devs;
        w[i].from = i * FANOUT / FAN_THREADS;
        w[i].to = (i + 1) * FANOUT / FAN_THREADS;
        w[i].mid = mid;
        w[i].text = text;
    }
    run_workers(w, fan_enroll, "enrolment");

    uint8_t(*rcpt)[32] = calloc(FANOUT, 32);
    cr_assert_not_null(rcpt);
    for (size_t i = 0; i < FANOUT; i++)
        memcpy(rcpt[i], devs[i].device_id, 32);
    rc_envelope e = {0};
    memcpy(e.message_id, mid, 16);
    e.recipients = rcpt[0];
    e.n_recipients = FANOUT;
    e.content = (const uint8_t *)text;
    e.content_len = strlen(text);
    uint32_t stored = 0;
    long st = rc_send(&c, &cw, &e, 1, &stored);
    cr_assert_eq(st, 200, "the 1000-recipient send: %ld", st);
    cr_assert_eq(stored, FANOUT, "copies stored");

    run_workers(w, fan_fetch, "fetch");
    size_t got = 0;
    for (size_t i = 0; i < FAN_THREADS; i++)
        got += w[i].got;
    cr_assert_eq(got, FANOUT, "%zu of %u mailboxes have exactly the message", got, FANOUT);
    /* And the sender's own mailbox has nothing. */
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &cw, 0, &f), 200);
    cr_assert_eq(f.n, 0);
    rc_fetched_free(&f);
    for (size_t i = 0; i < FANOUT; i++)
        rc_device_free(&devs[i]);
    free(devs);
    free(rcpt);
    rc_device_free(&cw);
    rc_conn_free(&c);
}
