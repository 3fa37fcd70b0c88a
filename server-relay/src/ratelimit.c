#include "ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIPES 64U
#define BUCKETS_PER_STRIPE 1024U

typedef struct entry {
    struct entry *next;
    uint8_t key[32];
    double tokens;
    uint64_t last_ns;
} entry;

typedef struct stripe {
    pthread_mutex_t lock;
    entry *b[BUCKETS_PER_STRIPE];
} stripe;

struct relayd_ratelimit {
    double rate, burst;
    size_t max_entries;
    atomic_size_t entries;
    /* Keys may be chosen by clients: a keyed hash keeps chains short. */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    stripe s[STRIPES];
};

uint64_t relayd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

relayd_ratelimit *relayd_ratelimit_new(uint32_t rate, uint32_t burst, size_t max_entries)
{
    relayd_ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->rate = rate;
    rl->burst = burst;
    rl->max_entries = max_entries;
    atomic_init(&rl->entries, 0);
    crypto_shorthash_keygen(rl->hash_key);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->s[i].lock, NULL);
    return rl;
}

void relayd_ratelimit_free(relayd_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < STRIPES; i++) {
        for (size_t j = 0; j < BUCKETS_PER_STRIPE; j++) {
            entry *e = rl->s[i].b[j];
            while (e != NULL) {
                entry *next = e->next;
                free(e);
                e = next;
            }
        }
        pthread_mutex_destroy(&rl->s[i].lock);
    }
    free(rl);
}

static void refill(const relayd_ratelimit *rl, entry *e, uint64_t now_ns)
{
    if (now_ns > e->last_ns) {
        e->tokens += (double)(now_ns - e->last_ns) * 1e-9 * rl->rate;
        if (e->tokens > rl->burst)
            e->tokens = rl->burst;
        e->last_ns = now_ns;
    }
}

int relayd_ratelimit_take(relayd_ratelimit *rl, const uint8_t key[32], uint64_t now_ns)
{
    if (rl->rate <= 0.0)
        return 1;
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, rl->hash_key);
    uint64_t hv;
    memcpy(&hv, h, sizeof hv);
    stripe *s = &rl->s[hv % STRIPES];
    size_t slot = (size_t)((hv / STRIPES) % BUCKETS_PER_STRIPE);
    int ok = 1;

    pthread_mutex_lock(&s->lock);
    entry *e = s->b[slot];
    while (e != NULL && memcmp(e->key, key, 32) != 0)
        e = e->next;
    if (e == NULL) {
        if (atomic_load(&rl->entries) >= rl->max_entries)
            goto out; /* untracked: see the header */
        e = malloc(sizeof *e);
        if (e == NULL)
            goto out;
        memcpy(e->key, key, 32);
        e->tokens = rl->burst;
        e->last_ns = now_ns;
        e->next = s->b[slot];
        s->b[slot] = e;
        atomic_fetch_add(&rl->entries, 1);
    }
    refill(rl, e, now_ns);
    if (e->tokens >= 1.0)
        e->tokens -= 1.0;
    else
        ok = 0;
out:
    pthread_mutex_unlock(&s->lock);
    return ok;
}

size_t relayd_ratelimit_sweep(relayd_ratelimit *rl, uint64_t now_ns)
{
    for (size_t i = 0; i < STRIPES; i++) {
        stripe *s = &rl->s[i];
        pthread_mutex_lock(&s->lock);
        for (size_t j = 0; j < BUCKETS_PER_STRIPE; j++) {
            entry **pp = &s->b[j];
            while (*pp != NULL) {
                entry *e = *pp;
                refill(rl, e, now_ns);
                if (e->tokens >= rl->burst) {
                    *pp = e->next;
                    free(e);
                    atomic_fetch_sub(&rl->entries, 1);
                } else {
                    pp = &e->next;
                }
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return atomic_load(&rl->entries);
}
