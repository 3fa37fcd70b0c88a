/*
 * Long polls (GET /v1/messages?wait=S, POST /v1/messages/fetch with a
 * wait). Each look at the mailbox is an asynchronous store call, so no
 * worker thread waits for the store: polls outnumbering the relay's
 * --threads neither block other requests nor lose a wake-up, the acks of
 * a waiting POST are applied once, before it waits, and shutdown answers
 * every waiting poll.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "itest.h"

TestSuite(longpoll, .init = it_init_bare, .fini = it_fini, .timeout = 300);

#define WAITERS "secmsg_relay_longpoll_waiters"
#define DELETED "secmsg_relay_store_messages_deleted_total"

/* Waits (bounded) until the relay reports `want` registered long polls. */
static void await_waiters(rc_conn *c, double want)
{
    double end = rc_now() + 30.0, got;
    while ((got = it_metric(c, WAITERS)) != want && rc_now() < end)
        rc_sleep(0.02);
    cr_assert_eq(got, want, "the relay reports %g waiting polls, expected %g", got, want);
}

/* One envelope with `text` from `from` to n devices (asserts 200). */
static void send_to(rc_conn *c, const rc_device *from, const uint8_t *to, size_t n,
                    const char *text)
{
    rc_envelope e = {0};
    rc_random(e.message_id, sizeof e.message_id);
    e.recipients = to;
    e.n_recipients = n;
    e.content = (const uint8_t *)text;
    e.content_len = strlen(text);
    uint32_t stored = 0;
    long s = rc_send(c, from, &e, 1, &stored);
    cr_assert_eq(s, 200, "send: %ld (%s)", s, c->error);
    cr_assert_eq(stored, n);
}

static int content_is(const rc_delivery *d, const char *text)
{
    return d->content_len == strlen(text) && memcmp(d->content, text, d->content_len) == 0;
}

/* One long poll on its own connection, in a thread. */
typedef struct poller {
    const rc_device *dev;
    const char *url;
    unsigned wait;
    int post; /* POST /v1/messages/fetch with acks, else GET */
    const uint64_t *acks;
    size_t n_acks;
    long status;
    rc_fetched f;
} poller;

static void *poll_once(void *arg)
{
    poller *p = arg;
    rc_conn c;
    p->status = RC_E_SYSTEM;
    if (rc_conn_init(&c, p->url) != 0)
        return NULL;
    p->status = p->post ? rc_fetch_ack(&c, p->dev, p->acks, p->n_acks, p->wait, &p->f)
                        : rc_fetch(&c, p->dev, p->wait, &p->f);
    rc_conn_free(&c);
    return NULL;
}

/*
 * POST /v1/messages/fetch with ack_ids and a wait on a mailbox that the
 * acks empty: the acks are applied before the poll waits (seen from
 * another connection while it waits), the poll wakes with the message sent
 * meanwhile and only that, and nothing else was deleted.
 */
Test(longpoll, acks_applied_before_the_wait)
{
    it_start(NULL);
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    send_to(&c, &a, b.device_id, 1, "one");
    send_to(&c, &a, b.device_id, 1, "two");
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 2);
    uint64_t ids[2] = {f.d[0].id, f.d[1].id};
    rc_fetched_free(&f);
    double deleted0 = it_metric(&c, DELETED);

    poller p = {0};
    p.dev = &b;
    p.url = it_relay.url;
    p.wait = 60;
    p.post = 1;
    p.acks = ids;
    p.n_acks = 2;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_once, &p), 0);
    /* Registered and its first look answered (the acks committed). */
    double end = rc_now() + 30.0;
    while ((it_metric(&c, WAITERS) != 1 || it_metric(&c, DELETED) != deleted0 + 2) && rc_now() < end)
        rc_sleep(0.02);
    cr_assert_eq(it_metric(&c, DELETED), deleted0 + 2, "the waiting poll's acks are applied");
    cr_assert_eq(it_metric(&c, WAITERS), 1, "the poll is waiting");
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 0, "the acked messages are gone while the poll waits");
    rc_fetched_free(&f);

    send_to(&c, &a, b.device_id, 1, "three");
    pthread_join(th, NULL);
    cr_assert_eq(p.status, 200, "the long poll: %ld", p.status);
    cr_assert_eq(p.f.n, 1, "the poll woke with %zu deliveries", p.f.n);
    cr_assert(content_is(&p.f.d[0], "three"), "the poll woke with the new message");
    uint64_t three = p.f.d[0].id;
    rc_fetched_free(&p.f);

    cr_assert_eq(it_metric(&c, DELETED), deleted0 + 2, "nothing but the two acks was deleted");
    uint32_t deleted = 9;
    cr_assert_eq(rc_ack(&c, &b, ids, 2, &deleted), 200);
    cr_assert_eq(deleted, 0, "the poll's acks were applied");
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 1, "the new message is still there");
    cr_assert_eq(f.d[0].id, three);
    rc_fetched_free(&f);
    cr_assert_eq(it_metric(&c, WAITERS), 0);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/*
 * Polls that time out answer 200 empty (GET, and POST with an ack whose
 * message is then gone) and leave no waiter behind; the same connections
 * then long-poll again and wake on mail.
 */
Test(longpoll, times_out_then_wakes)
{
    it_start(NULL);
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    send_to(&c, &a, b.device_id, 1, "to ack");
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 1);
    uint64_t id = f.d[0].id;
    rc_fetched_free(&f);

    cr_assert_eq(rc_fetch_ack(&c, &b, &id, 1, 1, &f), 200);
    cr_assert_eq(f.n, 0);
    cr_assert_not(f.more);
    rc_fetched_free(&f);
    cr_assert_eq(rc_fetch(&c, &b, 1, &f), 200);
    cr_assert_eq(f.n, 0);
    rc_fetched_free(&f);
    cr_assert_eq(it_metric(&c, WAITERS), 0, "a timed-out poll left its waiter behind");
    uint32_t deleted = 9;
    cr_assert_eq(rc_ack(&c, &b, &id, 1, &deleted), 200);
    cr_assert_eq(deleted, 0, "the timed-out poll applied its ack");

    for (int post = 0; post < 2; post++) {
        poller p = {0};
        p.dev = &b;
        p.url = it_relay.url;
        p.wait = 60;
        p.post = post;
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, poll_once, &p), 0);
        await_waiters(&c, 1);
        send_to(&c, &a, b.device_id, 1, post ? "wake post" : "wake get");
        pthread_join(th, NULL);
        cr_assert_eq(p.status, 200, "long poll: %ld", p.status);
        cr_assert_eq(p.f.n, 1);
        cr_assert(content_is(&p.f.d[0], post ? "wake post" : "wake get"));
        cr_assert_eq(rc_ack(&c, &b, &p.f.d[0].id, 1, NULL), 200);
        rc_fetched_free(&p.f);
    }
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

enum { N_POLLERS = 8, N_SENDERS = 4, ROUNDS = 40, TOTAL = N_SENDERS * ROUNDS };

/*
 * A device that polls in a loop, acking each answer in its next poll,
 * until it has every sender's ROUNDS messages "s<j>m<k>": each once, and
 * each sender's in the order sent.
 */
typedef struct looper {
    const rc_device *dev;
    const char *url;
    unsigned got;
    unsigned next[N_SENDERS]; /* the k expected next from sender j */
    unsigned polls;
    unsigned empty;    /* polls answered without mail */
    char failure[160]; /* the first failure, "" if none */
} looper;

static void take(looper *l, const rc_delivery *d)
{
    char text[32] = "";
    unsigned j = 0, k = 0;
    if (d->content_len < sizeof text)
        memcpy(text, d->content, d->content_len);
    if (sscanf(text, "s%um%u", &j, &k) != 2 || j >= N_SENDERS)
        snprintf(l->failure, sizeof l->failure, "an unexpected delivery (%zu bytes)",
                 d->content_len);
    else if (k != l->next[j])
        snprintf(l->failure, sizeof l->failure, "sender %u: message %u, expected %u", j, k,
                 l->next[j]);
    else
        l->next[j]++;
    l->got++;
}

static void *poll_loop(void *arg)
{
    looper *l = arg;
    rc_conn c;
    uint64_t acks[TOTAL];
    size_t n_acks = 0;
    if (rc_conn_init(&c, l->url) != 0) {
        snprintf(l->failure, sizeof l->failure, "no connection");
        return NULL;
    }
    while (l->got < TOTAL && l->failure[0] == '\0') {
        rc_fetched f;
        /* Alternately GET (acking before) and POST with the acks. */
        long s;
        if (l->polls % 2 == 0) {
            s = n_acks > 0 ? rc_ack(&c, l->dev, acks, n_acks, NULL) : 200;
            if (s == 200)
                s = rc_fetch(&c, l->dev, 60, &f);
        } else {
            s = rc_fetch_ack(&c, l->dev, acks, n_acks, 60, &f);
        }
        l->polls++;
        if (s != 200) {
            snprintf(l->failure, sizeof l->failure, "poll %u: HTTP %ld", l->polls, s);
            break;
        }
        n_acks = 0;
        if (f.n == 0)
            l->empty++;
        for (size_t i = 0; i < f.n && l->failure[0] == '\0'; i++) {
            if (l->got >= TOTAL) {
                snprintf(l->failure, sizeof l->failure, "more deliveries than messages sent");
                break;
            }
            take(l, &f.d[i]);
            acks[n_acks++] = f.d[i].id;
        }
        rc_fetched_free(&f);
    }
    if (l->failure[0] == '\0' && n_acks > 0 && rc_ack(&c, l->dev, acks, n_acks, NULL) != 200)
        snprintf(l->failure, sizeof l->failure, "the last ack failed");
    rc_conn_free(&c);
    return NULL;
}

/* Sender j: ROUNDS messages to every poller, alternately one envelope to
 * all (waking every poll at once) and one send per device. */
typedef struct sender {
    unsigned j;
    const rc_device *dev;
    const char *url;
    const uint8_t (*to)[32];
    char failure[160];
} sender;

static void *send_loop(void *arg)
{
    sender *sd = arg;
    rc_conn c;
    if (rc_conn_init(&c, sd->url) != 0) {
        snprintf(sd->failure, sizeof sd->failure, "no connection");
        return NULL;
    }
    for (unsigned k = 0; k < ROUNDS && sd->failure[0] == '\0'; k++) {
        char text[32];
        snprintf(text, sizeof text, "s%um%u", sd->j, k);
        for (int i = 0; i < N_POLLERS; i++) {
            rc_envelope e = {0};
            rc_random(e.message_id, sizeof e.message_id);
            e.recipients = sd->to[k % 2 == 0 ? 0 : i];
            e.n_recipients = k % 2 == 0 ? N_POLLERS : 1;
            e.content = (const uint8_t *)text;
            e.content_len = strlen(text);
            long s = rc_send(&c, sd->dev, &e, 1, NULL);
            if (s != 200)
                snprintf(sd->failure, sizeof sd->failure, "send %u: HTTP %ld", k, s);
            if (k % 2 == 0)
                break;
        }
    }
    rc_conn_free(&c);
    return NULL;
}

/*
 * A relay with 2 worker threads and 8 long polls held at once: other
 * requests (health, sends) still get through, a send wakes exactly the
 * poll of its recipient, and one envelope to the other seven wakes all of
 * them. Then the 8 devices poll in a loop (GET, and POST with the acks of
 * the previous answer) while messages are sent to them one by one: each
 * gets all of its messages, in order, once; no poll waits out its 60 s,
 * which a lost wake-up would make it do (it answers empty). Finally 8
 * waiting polls are all answered 200 when the relay is stopped.
 */
Test(longpoll, more_polls_than_threads)
{
    static const char *const flags[] = {"--threads", "2", "--rate", "0", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a, d[N_POLLERS];
    uint8_t ids[N_POLLERS][32];
    it_device(&c, &a, "caseworker");
    for (int i = 0; i < N_POLLERS; i++) {
        it_device(&c, &d[i], "caseworker");
        memcpy(ids[i], d[i].device_id, 32);
    }

    poller p[N_POLLERS];
    pthread_t th[N_POLLERS];
    memset(p, 0, sizeof p);
    for (int i = 0; i < N_POLLERS; i++) {
        p[i].dev = &d[i];
        p[i].url = it_relay.url;
        p[i].wait = 60;
        p[i].post = i % 2;
        cr_assert_eq(pthread_create(&th[i], NULL, poll_once, &p[i]), 0);
    }
    await_waiters(&c, N_POLLERS);
    it_assert_healthy();
    send_to(&c, &a, ids[0], 1, "first");
    pthread_join(th[0], NULL);
    cr_assert_eq(p[0].status, 200, "poll 0: %ld", p[0].status);
    cr_assert_eq(p[0].f.n, 1);
    cr_assert(content_is(&p[0].f.d[0], "first"));
    await_waiters(&c, N_POLLERS - 1); /* the others still wait */
    send_to(&c, &a, ids[1], N_POLLERS - 1, "to the rest");
    for (int i = 1; i < N_POLLERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(p[i].status, 200, "poll %d: %ld", i, p[i].status);
        cr_assert_eq(p[i].f.n, 1, "poll %d woke with %zu deliveries", i, p[i].f.n);
        cr_assert(content_is(&p[i].f.d[0], "to the rest"));
    }
    for (int i = 0; i < N_POLLERS; i++) {
        cr_assert_eq(rc_ack(&c, &d[i], &p[i].f.d[0].id, 1, NULL), 200);
        rc_fetched_free(&p[i].f);
    }

    static looper l[N_POLLERS];
    static sender sd[N_SENDERS];
    rc_device s[N_SENDERS];
    pthread_t sth[N_SENDERS];
    memset(l, 0, sizeof l);
    memset(sd, 0, sizeof sd);
    for (int j = 0; j < N_SENDERS; j++)
        it_device(&c, &s[j], "caseworker");
    for (int i = 0; i < N_POLLERS; i++) {
        l[i].dev = &d[i];
        l[i].url = it_relay.url;
        cr_assert_eq(pthread_create(&th[i], NULL, poll_loop, &l[i]), 0);
    }
    for (int j = 0; j < N_SENDERS; j++) {
        sd[j].j = (unsigned)j;
        sd[j].dev = &s[j];
        sd[j].url = it_relay.url;
        sd[j].to = (const uint8_t(*)[32])ids;
        cr_assert_eq(pthread_create(&sth[j], NULL, send_loop, &sd[j]), 0);
    }
    for (int j = 0; j < N_SENDERS; j++) {
        pthread_join(sth[j], NULL);
        cr_assert_str_eq(sd[j].failure, "", "sender %d: %s", j, sd[j].failure);
        rc_device_free(&s[j]);
    }
    for (int i = 0; i < N_POLLERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_str_eq(l[i].failure, "", "device %d: %s", i, l[i].failure);
        cr_assert_eq(l[i].got, TOTAL);
        cr_assert_eq(l[i].empty, 0, "device %d: %u of %u polls answered empty (a lost wake-up)", i,
                     l[i].empty, l[i].polls);
    }
    await_waiters(&c, 0);
    rc_fetched f;
    for (int i = 0; i < N_POLLERS; i++) {
        cr_assert_eq(rc_fetch(&c, &d[i], 0, &f), 200);
        cr_assert_eq(f.n, 0, "device %d: %zu messages not acknowledged", i, f.n);
        rc_fetched_free(&f);
    }

    memset(p, 0, sizeof p);
    for (int i = 0; i < N_POLLERS; i++) {
        p[i].dev = &d[i];
        p[i].url = it_relay.url;
        p[i].wait = 60;
        p[i].post = i % 2;
        cr_assert_eq(pthread_create(&th[i], NULL, poll_once, &p[i]), 0);
    }
    await_waiters(&c, N_POLLERS);
    rc_conn_free(&c);
    int st = rc_relay_signal(&it_relay, SIGTERM);
    for (int i = 0; i < N_POLLERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(p[i].status, 200, "poll %d during shutdown: %ld", i, p[i].status);
        cr_assert_eq(p[i].f.n, 0);
        rc_fetched_free(&p[i].f);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status after SIGTERM: %d", st);
    rc_device_free(&a);
    for (int i = 0; i < N_POLLERS; i++)
        rc_device_free(&d[i]);
}

/* Polls (or sends) in a loop until the relay stops answering 200. */
typedef struct until_stop {
    const rc_device *dev;
    const uint8_t *to; /* sends to this device if not NULL, else polls */
    const char *url;
    unsigned ok;
    long last; /* the first answer that was not 200 */
} until_stop;

static void *until_stop_loop(void *arg)
{
    until_stop *u = arg;
    rc_conn c;
    u->last = RC_E_SYSTEM;
    if (rc_conn_init(&c, u->url) != 0)
        return NULL;
    uint64_t acks[64];
    size_t n_acks = 0;
    for (;;) {
        long s;
        if (u->to != NULL) {
            rc_envelope e = {0};
            rc_random(e.message_id, sizeof e.message_id);
            e.recipients = u->to;
            e.n_recipients = 1;
            e.content = (const uint8_t *)"load";
            e.content_len = 4;
            s = rc_send(&c, u->dev, &e, 1, NULL);
        } else {
            rc_fetched f;
            s = rc_fetch_ack(&c, u->dev, acks, n_acks, 60, &f);
            n_acks = 0;
            for (size_t i = 0; i < f.n && n_acks < 64; i++)
                acks[n_acks++] = f.d[i].id;
            rc_fetched_free(&f);
        }
        if (s != 200) {
            u->last = s;
            break;
        }
        u->ok++;
    }
    rc_conn_free(&c);
    return NULL;
}

/*
 * SIGTERM while 8 devices long-poll in a loop (acking in each poll) and 4
 * others send to them, on 2 worker threads: polls caught waiting or in the
 * middle of a look all end, the relay exits 0 (under the sanitizers: no
 * use after free, no leak), every loop ends with 503 shutting_down or a
 * closed connection (never a 500), and the relay starts again.
 */
Test(longpoll, shutdown_during_poll_load)
{
    static const char *const flags[] = {"--threads", "2", "--rate", "0", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device d[N_POLLERS], s[N_SENDERS];
    for (int i = 0; i < N_POLLERS; i++)
        it_device(&c, &d[i], "caseworker");
    for (int j = 0; j < N_SENDERS; j++)
        it_device(&c, &s[j], "caseworker");
    until_stop u[N_POLLERS + N_SENDERS];
    pthread_t th[N_POLLERS + N_SENDERS];
    memset(u, 0, sizeof u);
    for (int i = 0; i < N_POLLERS + N_SENDERS; i++) {
        u[i].url = it_relay.url;
        if (i < N_POLLERS) {
            u[i].dev = &d[i];
        } else {
            u[i].dev = &s[i - N_POLLERS];
            u[i].to = d[i % N_POLLERS].device_id;
        }
        cr_assert_eq(pthread_create(&th[i], NULL, until_stop_loop, &u[i]), 0);
    }
    /* Until every poller got mail at least once (bounded). */
    double end = rc_now() + 30.0;
    for (int i = 0; i < N_POLLERS; i++)
        while (__atomic_load_n(&u[i].ok, __ATOMIC_RELAXED) == 0 && rc_now() < end)
            rc_sleep(0.01);
    rc_conn_free(&c);
    int st = rc_relay_signal(&it_relay, SIGTERM);
    for (int i = 0; i < N_POLLERS + N_SENDERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert(u[i].last == 503 || u[i].last == RC_E_TRANSPORT,
                  "%s %d ended with %ld after %u answers", i < N_POLLERS ? "poller" : "sender", i,
                  u[i].last, u[i].ok);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status after SIGTERM: %d", st);
    for (int i = 0; i < N_POLLERS; i++)
        cr_assert_gt(u[i].ok, 0, "poller %d never got an answer", i);
    it_restart();
    it_assert_healthy();
    for (int i = 0; i < N_POLLERS; i++)
        rc_device_free(&d[i]);
    for (int j = 0; j < N_SENDERS; j++)
        rc_device_free(&s[j]);
}
