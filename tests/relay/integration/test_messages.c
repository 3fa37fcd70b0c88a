/* Messages: send, long-poll fetch, ack; paging; TTL purge. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"

TestSuite(messages, .init = it_init_default, .fini = it_fini, .timeout = 120);
TestSuite(messages_cfg, .init = it_init_bare, .fini = it_fini, .timeout = 120);

static void send_text(rc_conn *c, const rc_device *from, const rc_device *to, const char *text,
                      uint8_t message_id[16])
{
    rc_envelope e = {0};
    rc_random(e.message_id, sizeof e.message_id);
    e.recipients = to->device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)text;
    e.content_len = strlen(text);
    uint32_t stored = 0;
    long s = rc_send(c, from, &e, 1, &stored);
    cr_assert_eq(s, 200, "send: %ld", s);
    cr_assert_eq(stored, 1);
    if (message_id)
        memcpy(message_id, e.message_id, 16);
}

typedef struct poller {
    const rc_device *dev;
    const char *url;
    unsigned wait;
    long status;
    rc_fetched f;
    volatile int started;
} poller;

static void *poll_once(void *arg)
{
    poller *p = arg;
    rc_conn c;
    p->status = RC_E_SYSTEM;
    if (rc_conn_init(&c, p->url) != 0)
        return NULL;
    __atomic_store_n(&p->started, 1, __ATOMIC_RELEASE);
    p->status = rc_fetch(&c, p->dev, p->wait, &p->f);
    rc_conn_free(&c);
    return NULL;
}

/* A fetch with wait=10 on an empty mailbox returns with the message that
 * another thread sends meanwhile: asserted by its content (a fetch that
 * timed out would be 200 and empty). */
Test(messages, long_poll_wakes_on_new_mail)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    for (int round = 0; round < 3; round++) {
        poller p = {0};
        p.dev = &b;
        p.url = it_relay.url;
        p.wait = 10;
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, poll_once, &p), 0);
        /* Give the request time to reach the relay and be suspended; if it
         * has not, the message is simply there when it arrives, and the
         * content check below still holds. */
        double end = rc_now() + 5.0;
        while (!__atomic_load_n(&p.started, __ATOMIC_ACQUIRE) && rc_now() < end)
            rc_sleep(0.01);
        rc_sleep(0.5);
        char text[64];
        snprintf(text, sizeof text, "wake up %d", round);
        uint8_t mid[16];
        send_text(&c, &a, &b, text, mid);
        pthread_join(th, NULL);
        cr_assert_eq(p.status, 200, "long poll: %ld", p.status);
        cr_assert_eq(p.f.n, 1, "the long poll returned %zu deliveries, not the new message", p.f.n);
        cr_assert_eq(p.f.d[0].content_len, strlen(text));
        cr_assert_eq(memcmp(p.f.d[0].content, text, strlen(text)), 0, "content");
        cr_assert_eq(memcmp(p.f.d[0].message_id, mid, 16), 0, "message id");
        cr_assert_eq(memcmp(p.f.d[0].sender, a.device_id, 32), 0, "sender");
        uint32_t deleted = 0;
        cr_assert_eq(rc_ack(&c, &b, &p.f.d[0].id, 1, &deleted), 200);
        cr_assert_eq(deleted, 1);
        rc_fetched_free(&p.f);
    }
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* wait=1 on an empty mailbox: 200 with no deliveries; the connection
 * keeps working afterwards. Out-of-range waits are 400. */
Test(messages, long_poll_times_out_cleanly)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    rc_fetched f;
    long s = rc_fetch(&c, &b, 1, &f);
    cr_assert_eq(s, 200, "empty long poll: %ld", s);
    cr_assert_eq(f.n, 0);
    cr_assert_not(f.more);
    rc_fetched_free(&f);
    send_text(&c, &a, &b, "after the timeout", NULL);
    cr_assert_eq(rc_fetch(&c, &b, 1, &f), 200);
    cr_assert_eq(f.n, 1);
    rc_fetched_free(&f);

    const char *bad[] = {"/v1/messages?wait=61",       "/v1/messages?wait=-1",
                         "/v1/messages?wait=abc",      "/v1/messages?wait=99999999999999999999",
                         "/v1/messages?wait=+1",       "/v1/messages?wait=",
                         "/v1/messages?wait=1&wait=1", "/v1/messages?wait=1.5",
                         "/v1/messages?wait=0x10",     "/v1/messages?other=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = rc_call(&c, "GET", bad[i], b.bearer, NULL, 0);
        it_assert_error(&c, s, 400, "bad_query", bad[i]);
    }
    /* wait=0 and wait=60 are in range. */
    cr_assert_eq(rc_call(&c, "GET", "/v1/messages?wait=0", b.bearer, NULL, 0), 200);
    it_assert_healthy();
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* Acked messages are gone; unacked ones stay; acking twice deletes nothing. */
Test(messages, ack_deletes)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    send_text(&c, &a, &b, "one", NULL);
    send_text(&c, &a, &b, "two", NULL);
    send_text(&c, &a, &b, "three", NULL);
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 3);
    /* Oldest first, stamped with the relay's clock. */
    uint64_t now = (uint64_t)time(NULL);
    for (size_t i = 0; i < f.n; i++)
        cr_assert(f.d[i].received + 60 >= now && f.d[i].received <= now + 5,
                  "Delivery.received %llu, now %llu", (unsigned long long)f.d[i].received,
                  (unsigned long long)now);
    cr_assert_eq(memcmp(f.d[0].content, "one", 3), 0);
    cr_assert_eq(memcmp(f.d[2].content, "three", 5), 0);
    uint64_t ids[2] = {f.d[0].id, f.d[2].id};
    uint64_t keep = f.d[1].id;
    rc_fetched_free(&f);
    uint32_t deleted = 0;
    cr_assert_eq(rc_ack(&c, &b, ids, 2, &deleted), 200);
    cr_assert_eq(deleted, 2);

    /* A fetch without ack does not delete. */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
        cr_assert_eq(f.n, 1, "after the ack: %zu deliveries", f.n);
        cr_assert_eq(f.d[0].id, keep);
        cr_assert_eq(memcmp(f.d[0].content, "two", 3), 0);
        rc_fetched_free(&f);
    }
    cr_assert_eq(rc_ack(&c, &b, ids, 2, &deleted), 200);
    cr_assert_eq(deleted, 0, "acking twice");
    cr_assert_eq(rc_ack(&c, &b, &keep, 1, &deleted), 200);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 0);
    rc_fetched_free(&f);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/*
 * POST /v1/messages/fetch: the acks are applied before the fetch, only the
 * caller's own messages are deleted, an empty body is a plain fetch, the
 * long poll works, and bad bodies get 4xx while the relay keeps serving.
 */
Test(messages, fetch_with_acks)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    send_text(&c, &a, &b, "one", NULL);
    send_text(&c, &a, &b, "two", NULL);
    send_text(&c, &b, &a, "for a", NULL);

    rc_fetched f;
    cr_assert_eq(rc_fetch_ack(&c, &b, NULL, 0, 0, &f), 200);
    cr_assert_eq(f.n, 2);
    cr_assert(f.has_prekeys);
    uint64_t first = f.d[0].id, second = f.d[1].id;
    rc_fetched_free(&f);

    rc_fetched fa;
    cr_assert_eq(rc_fetch(&c, &a, 0, &fa), 200);
    cr_assert_eq(fa.n, 1);
    uint64_t of_a = fa.d[0].id;
    rc_fetched_free(&fa);

    /* Acking the first (and a's message, which is not b's) returns the second only. */
    uint64_t ids[2] = {first, of_a};
    cr_assert_eq(rc_fetch_ack(&c, &b, ids, 2, 0, &f), 200);
    cr_assert_eq(f.n, 1, "after the piggybacked ack: %zu deliveries", f.n);
    cr_assert_eq(f.d[0].id, second);
    cr_assert_eq(memcmp(f.d[0].content, "two", 3), 0);
    rc_fetched_free(&f);
    cr_assert_eq(rc_fetch(&c, &a, 0, &fa), 200);
    cr_assert_eq(fa.n, 1, "b's ack must not delete a's message");
    rc_fetched_free(&fa);

    /* The last ack with an empty mailbox and a long poll that times out. */
    cr_assert_eq(rc_fetch_ack(&c, &b, &second, 1, 1, &f), 200);
    cr_assert_eq(f.n, 0);
    cr_assert_not(f.more);
    rc_fetched_free(&f);
    uint32_t deleted = 0;
    cr_assert_eq(rc_ack(&c, &b, &second, 1, &deleted), 200);
    cr_assert_eq(deleted, 0, "already deleted by the fetch");

    /* Malformed: packed ids, fields out of order, wait above the maximum. */
    static const uint8_t packed[] = {0x0a, 0x02, 0x01, 0x02};
    static const uint8_t order[] = {0x10, 0x01, 0x08, 0x01};
    static const uint8_t wait61[] = {0x10, 61};
    const struct {
        const uint8_t *b;
        size_t n;
        const char *what;
    } bad[] = {{packed, sizeof packed, "packed ack ids"},
               {order, sizeof order, "fields out of order"},
               {wait61, sizeof wait61, "wait 61"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long s = rc_call(&c, "POST", "/v1/messages/fetch", b.bearer, bad[i].b, bad[i].n);
        it_assert_error(&c, s, 400, "malformed_body", bad[i].what);
    }
    /* No credential: 401; GET on the path: 405. */
    it_assert_error(&c, rc_call(&c, "POST", "/v1/messages/fetch", NULL, order, 0), 401,
                    "missing_token", "no token");
    it_assert_error(&c, rc_call(&c, "GET", "/v1/messages/fetch", b.bearer, NULL, 0), 405,
                    "method_not_allowed", "GET");
    it_assert_healthy();
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A batch of envelopes in one request, to several recipients; paging with
 * `more` returns each message once. */
Test(messages, batches_and_paging)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b, d;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    it_device(&c, &d, "caseworker");
    enum { N = 600 };
    static rc_envelope e[N];
    static char text[N][16];
    uint8_t rcpt[2][32];
    memcpy(rcpt[0], b.device_id, 32);
    memcpy(rcpt[1], d.device_id, 32);
    for (size_t i = 0; i < N; i++) {
        memset(&e[i], 0, sizeof e[i]);
        rc_random(e[i].message_id, 16);
        snprintf(text[i], sizeof text[i], "m%zu", i);
        e[i].content = (const uint8_t *)text[i];
        e[i].content_len = strlen(text[i]);
        e[i].recipients = rcpt[0];
        e[i].n_recipients = i % 3 == 0 ? 2 : 1; /* every third also to D */
    }
    uint32_t stored = 0;
    for (size_t i = 0; i < N; i += 100) {
        uint32_t st = 0;
        long s = rc_send(&c, &a, e + i, 100, &st);
        cr_assert_eq(s, 200, "batch send: %ld", s);
        stored += st;
    }
    cr_assert_eq(stored, N + N / 3, "copies stored");

    static uint8_t seen[N];
    memset(seen, 0, sizeof seen);
    size_t got = 0;
    for (int page = 0; page < 100 && got < N; page++) {
        rc_fetched f;
        cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
        cr_assert_gt(f.n, 0, "an empty page while %zu messages are missing", N - got);
        uint64_t *ids = calloc(f.n, sizeof *ids);
        cr_assert_not_null(ids);
        for (size_t i = 0; i < f.n; i++) {
            unsigned k = 0;
            char t[16] = "";
            cr_assert_lt(f.d[i].content_len, sizeof t);
            memcpy(t, f.d[i].content, f.d[i].content_len);
            cr_assert_eq(sscanf(t, "m%u", &k), 1);
            cr_assert(k < N);
            cr_assert_eq(memcmp(f.d[i].message_id, e[k].message_id, 16), 0);
            cr_assert_eq(seen[k], 0, "message %u delivered twice", k);
            seen[k] = 1;
            ids[i] = f.d[i].id;
        }
        got += f.n;
        cr_assert_eq(f.more, got < N, "more = %d with %zu of %d fetched", f.more, got, N);
        uint32_t deleted = 0;
        cr_assert_eq(rc_ack(&c, &b, ids, f.n, &deleted), 200);
        cr_assert_eq(deleted, f.n);
        free(ids);
        rc_fetched_free(&f);
    }
    cr_assert_eq(got, N);
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &d, 0, &f), 200);
    size_t d_total = f.n;
    int more = f.more;
    rc_fetched_free(&f);
    cr_assert(more || d_total == N / 3, "D has %zu of %d", d_total, N / 3);

    /* Sending to a device that does not exist stores nothing. */
    rc_device ghost;
    cr_assert_eq(rc_device_new(&ghost), 0);
    uint8_t mix[2][32];
    memcpy(mix[0], b.device_id, 32);
    memcpy(mix[1], ghost.device_id, 32);
    e[0].recipients = mix[0];
    e[0].n_recipients = 2;
    long s = rc_send(&c, &a, e, 1, NULL);
    it_assert_error(&c, s, 404, NULL, "send to an unknown device");
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 0, "all or nothing: B got a copy of a refused send");
    rc_fetched_free(&f);
    rc_device_free(&ghost);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_device_free(&d);
    rc_conn_free(&c);
}

/*
 * Undelivered messages and blobs are purged after the TTL: a relay with a
 * 5 s TTL and a purge every second; the message and the blob are there at
 * first (sent well within the TTL) and gone within 30 s (polled every
 * 0.5 s).
 */
Test(messages_cfg, ttl_purge)
{
    static const char *const flags[] = {"--ttl", "5", "--purge-interval", "1", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    send_text(&c, &a, &b, "short-lived", NULL);
    uint8_t blob[16];
    cr_assert_eq(rc_blob_put(&c, &a, "blobdata", 8, blob), 200);
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 1, "the message is there before the TTL");
    rc_fetched_free(&f);

    double end = rc_now() + 30.0;
    size_t n = 1;
    long blob_status = 200;
    while ((n > 0 || blob_status == 200) && rc_now() < end) {
        rc_sleep(0.5);
        cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
        n = f.n;
        rc_fetched_free(&f);
        blob_status = rc_blob_get(&c, &a, blob);
    }
    cr_assert_eq(n, 0, "the message survived its TTL");
    cr_assert_eq(blob_status, 404, "the blob survived its TTL (%ld)", blob_status);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A message with empty content, an empty ack and an ack of more than
 * acks_max ids are refused. */
Test(messages, content_and_ack_limits)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    rc_envelope e = {0};
    rc_random(e.message_id, 16);
    e.recipients = b.device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)"";
    e.content_len = 0;
    long s = rc_send(&c, &a, &e, 1, NULL);
    it_assert_error(&c, s, 400, "malformed_body", "an envelope without content");

    s = rc_ack(&c, &b, NULL, 0, NULL);
    it_assert_error(&c, s, 400, "malformed_body", "an ack of no ids");
    static uint64_t ids[1001];
    for (size_t i = 0; i < 1001; i++)
        ids[i] = i + 1;
    s = rc_ack(&c, &b, ids, 1000, NULL);
    cr_assert_eq(s, 200, "an ack of 1000 ids: %ld", s);
    s = rc_ack(&c, &b, ids, 1001, NULL);
    it_assert_error(&c, s, 413, "too_many_acks", "an ack of 1001 ids");
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A fetch stops at fetch_max_bytes of content (after the first message)
 * and says there is more. */
Test(messages, fetch_byte_limit)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    enum { N = 14, SIZE = 96 * 1024 }; /* 1.3 MiB in all, over the 1 MiB default */
    uint8_t *content = malloc(SIZE);
    cr_assert_not_null(content);
    for (int i = 0; i < N; i++) {
        memset(content, 'a' + i, SIZE);
        rc_envelope e = {0};
        rc_random(e.message_id, 16);
        e.recipients = b.device_id;
        e.n_recipients = 1;
        e.content = content;
        e.content_len = SIZE;
        cr_assert_eq(rc_send(&c, &a, &e, 1, NULL), 200);
    }
    size_t got = 0;
    for (int page = 0; page < N && got < N; page++) {
        rc_fetched f;
        cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
        cr_assert_gt(f.n, 0);
        size_t bytes = 0;
        for (size_t i = 0; i < f.n; i++) {
            cr_assert_eq(f.d[i].content_len, SIZE);
            cr_assert_eq(f.d[i].content[0], 'a' + (int)(got + i), "oldest first");
            bytes += f.d[i].content_len;
        }
        cr_assert(f.n == 1 || bytes <= 1024 * 1024, "a page of %zu bytes", bytes);
        got += f.n;
        cr_assert_eq(f.more, got < N, "more after %zu of %d", got, N);
        uint64_t ids[N];
        for (size_t i = 0; i < f.n; i++)
            ids[i] = f.d[i].id;
        cr_assert_eq(rc_ack(&c, &b, ids, f.n, NULL), 200);
        rc_fetched_free(&f);
    }
    cr_assert_eq(got, N);
    free(content);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* At most longpoll_per_device (4) waiting polls per device: a fifth gets
 * 429 too_many_waiters. The four are known to wait from the relay's own
 * gauge, not from timing. */
Test(messages, long_poll_waiter_limit)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    poller p[4];
    pthread_t th[4];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 4; i++) {
        p[i].dev = &b;
        p[i].url = it_relay.url;
        p[i].wait = 30;
        cr_assert_eq(pthread_create(&th[i], NULL, poll_once, &p[i]), 0);
    }
    double end = rc_now() + 20.0;
    double waiting = 0;
    while ((waiting = it_metric(&c, "secmsg_relay_longpoll_waiters")) < 4 && rc_now() < end)
        rc_sleep(0.05);
    cr_assert_eq(waiting, 4, "the relay reports %g waiting polls", waiting);
    rc_fetched f;
    long s = rc_fetch(&c, &b, 5, &f);
    it_assert_error(&c, s, 429, "too_many_waiters", "a fifth long poll of one device");
    /* One message wakes all four; each gets it, since none acks. */
    send_text(&c, &a, &b, "wake all", NULL);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(p[i].status, 200, "poll %d: %ld", i, p[i].status);
        cr_assert_eq(p[i].f.n, 1, "poll %d woke with %zu deliveries", i, p[i].f.n);
        rc_fetched_free(&p[i].f);
    }
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A full mailbox refuses the whole send (429 mailbox_full), for every
 * recipient: all or nothing. */
Test(messages_cfg, mailbox_full)
{
    static const char *const flags[] = {"--mailbox-max-messages", "3", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a, b, d;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    it_device(&c, &d, "caseworker");
    for (int i = 0; i < 3; i++)
        send_text(&c, &a, &b, "fill", NULL);
    uint8_t both[64];
    memcpy(both, d.device_id, 32);
    memcpy(both + 32, b.device_id, 32);
    rc_envelope e = {0};
    rc_random(e.message_id, 16);
    e.recipients = both;
    e.n_recipients = 2;
    e.content = (const uint8_t *)"one too many";
    e.content_len = 12;
    long s = rc_send(&c, &a, &e, 1, NULL);
    it_assert_error(&c, s, 429, "mailbox_full", "a send to a full mailbox");
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &d, 0, &f), 200);
    cr_assert_eq(f.n, 0, "D got a copy of a refused send");
    rc_fetched_free(&f);
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 3);
    cr_assert_eq(rc_ack(&c, &b, &f.d[0].id, 1, NULL), 200);
    rc_fetched_free(&f);
    cr_assert_eq(rc_send(&c, &a, &e, 1, NULL), 200, "room again after an ack");
    rc_device_free(&a);
    rc_device_free(&b);
    rc_device_free(&d);
    rc_conn_free(&c);
}
