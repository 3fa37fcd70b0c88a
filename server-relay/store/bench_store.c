/*
 * relay-store-bench: durable sends per second through the store's group
 * commit, from 1, 8 and 32 threads (one single-recipient envelope per call),
 * and a 1000-recipient fan-out. Works in a fresh directory under $TMPDIR
 * (or /tmp) and removes it afterwards.
 *
 * Usage: relay-store-bench [sends-per-thread]   (default 1000)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/store.h"

#define CONTENT_BYTES 1024
#define FANOUT 1000
#define FANOUT_ROUNDS 20
#define MAX_THREADS 32

static relay_store *g_st;
static uint8_t g_senders[MAX_THREADS][RELAY_ID_BYTES];
static uint8_t g_rcpts[FANOUT][RELAY_ID_BYTES];
static size_t g_per_thread = 1000;
static int g_failed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_device(uint8_t id[RELAY_ID_BYTES], const char *user)
{
    uint8_t token[32], hash[32];
    relay_device dev;
    memset(&dev, 0, sizeof dev);
    randombytes_buf(token, sizeof token);
    crypto_generichash(hash, sizeof hash, token, sizeof token, NULL, 0);
    randombytes_buf(dev.id, sizeof dev.id);
    dev.identity_len = 64;
    randombytes_buf(dev.identity, dev.identity_len);
    int rc = relay_store_token_put(g_st, hash, 1, user, 2000000000);
    if (rc == RELAY_OK)
        rc = relay_store_register(g_st, hash, &dev, 1000);
    if (rc == RELAY_OK)
        memcpy(id, dev.id, RELAY_ID_BYTES);
    return rc;
}

struct range {
    size_t from, to;
};

static void *register_worker(void *arg)
{
    struct range *r = arg;
    for (size_t i = r->from; i < r->to; i++) {
        if (make_device(g_rcpts[i], "bench-recipient") != RELAY_OK)
            g_failed = 1;
    }
    return NULL;
}

static void *send_worker(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    uint8_t content[CONTENT_BYTES];
    randombytes_buf(content, sizeof content);
    for (size_t i = 0; i < g_per_thread; i++) {
        relay_envelope env;
        memset(&env, 0, sizeof env);
        randombytes_buf(env.message_id, sizeof env.message_id);
        env.recipients = (const uint8_t(*)[RELAY_ID_BYTES])g_rcpts[(t * g_per_thread + i) % FANOUT];
        env.n_recipients = 1;
        env.content = content;
        env.content_len = sizeof content;
        uint32_t stored = 0;
        if (relay_store_send(g_st, g_senders[t], &env, 1, 2000, &stored) != RELAY_OK || stored != 1)
            g_failed = 1;
    }
    return NULL;
}

static int bench_threads(size_t n_threads)
{
    pthread_t th[MAX_THREADS];
    relay_store_stats a, b;
    relay_store_stats_get(g_st, &a);
    double t0 = now_s();
    for (size_t t = 0; t < n_threads; t++)
        if (pthread_create(&th[t], NULL, send_worker, (void *)(uintptr_t)t) != 0)
            return -1;
    for (size_t t = 0; t < n_threads; t++)
        pthread_join(th[t], NULL);
    double dt = now_s() - t0;
    relay_store_stats_get(g_st, &b);
    double sends = (double)(n_threads * g_per_thread);
    printf("%2zu thread%s: %7.0f durable sends/s  (%6.0f sends in %.2f s, %5.1f ops/commit)\n",
           n_threads, n_threads == 1 ? " " : "s", sends / dt, sends, dt,
           (double)(b.grouped_ops - a.grouped_ops) / (double)(b.commits - a.commits));
    return g_failed ? -1 : 0;
}

static int bench_fanout(void)
{
    static uint8_t content[CONTENT_BYTES];
    randombytes_buf(content, sizeof content);
    double t0 = now_s();
    for (int round = 0; round < FANOUT_ROUNDS; round++) {
        relay_envelope env;
        memset(&env, 0, sizeof env);
        randombytes_buf(env.message_id, sizeof env.message_id);
        env.recipients = (const uint8_t(*)[RELAY_ID_BYTES])g_rcpts;
        env.n_recipients = FANOUT;
        env.content = content;
        env.content_len = sizeof content;
        uint32_t stored = 0;
        if (relay_store_send(g_st, g_senders[0], &env, 1, 2000, &stored) != RELAY_OK ||
            stored != FANOUT)
            return -1;
    }
    double dt = now_s() - t0;
    printf("fan-out to %d: %.2f ms per envelope, %.0f deliveries/s (%d envelopes, 1 thread)\n",
           FANOUT, dt * 1000.0 / FANOUT_ROUNDS, (double)FANOUT * FANOUT_ROUNDS / dt, FANOUT_ROUNDS);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        long v = strtol(argv[1], NULL, 10);
        if (v <= 0) {
            fprintf(stderr, "usage: %s [sends-per-thread]\n", argv[0]);
            return 2;
        }
        g_per_thread = (size_t)v;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "relay-store-bench: libsodium failed to initialise\n");
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200], other[4300];
    snprintf(dir, sizeof dir, "%s/relay-store-bench-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "relay-store-bench: cannot create a directory: %s\n", strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/relay.db", dir);

    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    relay_limits limits = {
        .mailbox_max_messages = 1000000000,
        .mailbox_max_bytes = 1ULL << 50,
        .prekeys_max = 1000,
        .blob_max_bytes = 1ULL << 30,
        .ttl_seconds = 30ULL * 24 * 3600,
    };
    int status = 1;
    if (relay_store_open(&g_st, path, key, &limits) != RELAY_OK) {
        fprintf(stderr, "relay-store-bench: cannot open the store in %s\n", dir);
        goto out;
    }
    sodium_memzero(key, sizeof key);

    /* Devices, registered from 32 threads so that setup itself is grouped. */
    pthread_t th[MAX_THREADS];
    struct range ranges[MAX_THREADS];
    for (size_t t = 0; t < MAX_THREADS; t++) {
        ranges[t].from = t * FANOUT / MAX_THREADS;
        ranges[t].to = (t + 1) * FANOUT / MAX_THREADS;
        pthread_create(&th[t], NULL, register_worker, &ranges[t]);
    }
    for (size_t t = 0; t < MAX_THREADS; t++)
        pthread_join(th[t], NULL);
    for (size_t t = 0; t < MAX_THREADS && !g_failed; t++)
        if (make_device(g_senders[t], "bench-sender") != RELAY_OK)
            g_failed = 1;
    if (g_failed) {
        fprintf(stderr, "relay-store-bench: registering devices failed\n");
        goto out;
    }

    printf("relay store: %d-byte envelopes, durable (fsynced), %zu sends per thread\n",
           CONTENT_BYTES, g_per_thread);
    if (bench_threads(1) != 0 || bench_threads(8) != 0 || bench_threads(32) != 0 ||
        bench_fanout() != 0) {
        fprintf(stderr, "relay-store-bench: a send failed\n");
        goto out;
    }
    relay_store_stats s;
    relay_store_stats_get(g_st, &s);
    printf("totals: %llu commits, %llu ops, %llu messages stored\n", (unsigned long long)s.commits,
           (unsigned long long)s.grouped_ops, (unsigned long long)s.messages_stored);
    status = 0;
out:
    relay_store_close(g_st);
    /* The bench makes no blobs: the file, its WAL and shm, the empty blob
     * directory. */
    unlink(path);
    snprintf(other, sizeof other, "%s-wal", path);
    unlink(other);
    snprintf(other, sizeof other, "%s-shm", path);
    unlink(other);
    snprintf(other, sizeof other, "%s.blobs", path);
    rmdir(other);
    if (rmdir(dir) != 0)
        fprintf(stderr, "relay-store-bench: could not remove %s\n", dir);
    return status;
}
