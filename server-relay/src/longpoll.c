#include "longpoll.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"

#define N_BUCKETS 4096U
#define RESUME_BATCH 128U

struct relayd_longpoll {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t timer;
    int timer_started;
    int stopping; /* no new waiters */
    int timer_stop;
    uint64_t timer_next_ns; /* when the timer wakes next */
    size_t count, max_waiters;
    uint32_t per_device;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    relayd_waiter *all; /* every registered waiter */
    relayd_waiter *b[N_BUCKETS];
};

static size_t bucket_of(const relayd_longpoll *lp, const uint8_t device[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, device, 32, lp->hash_key);
    memcpy(&v, h, sizeof v);
    return (size_t)(v % N_BUCKETS);
}

/* Lock held. */
static void unlink_waiter(relayd_longpoll *lp, relayd_waiter *w)
{
    size_t k = bucket_of(lp, w->device);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        lp->b[k] = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    if (w->all_prev != NULL)
        w->all_prev->all_next = w->all_next;
    else
        lp->all = w->all_next;
    if (w->all_next != NULL)
        w->all_next->all_prev = w->all_prev;
    w->next = w->prev = w->all_next = w->all_prev = NULL;
    lp->count--;
}

/*
 * Takes up to RESUME_BATCH suspended waiters that `pick` selects out of the
 * lists, marks them `state` and returns their connections; the caller
 * resumes those after unlocking. Lock held.
 */
static size_t take_suspended_all(relayd_longpoll *lp, int state, uint64_t now_ns, int only_expired,
                                 struct MHD_Connection **conns)
{
    size_t n = 0;
    relayd_waiter *w = lp->all;
    while (w != NULL && n < RESUME_BATCH) {
        relayd_waiter *next = w->all_next;
        if (w->state == WAITER_SUSPENDED && (!only_expired || w->deadline_ns <= now_ns)) {
            conns[n++] = w->conn;
            unlink_waiter(lp, w);
            w->state = state;
        } else if (state == WAITER_WOKEN_SHUTDOWN && w->state == WAITER_ARMED) {
            /* Fetching right now: it will see `stopping` and not suspend. */
            w->state = WAITER_NOTIFIED;
        }
        w = next;
    }
    return n;
}

static void resume_all(struct MHD_Connection **conns, size_t n)
{
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(conns[i]);
}

static void *timer_main(void *arg)
{
    relayd_longpoll *lp = arg;
    struct MHD_Connection *conns[RESUME_BATCH];

    pthread_mutex_lock(&lp->lock);
    while (!lp->timer_stop) {
        uint64_t now = relayd_now_ns();
        size_t n = take_suspended_all(lp, WAITER_WOKEN_TIMEOUT, now, 1, conns);
        if (n > 0) {
            pthread_mutex_unlock(&lp->lock);
            resume_all(conns, n);
            pthread_mutex_lock(&lp->lock);
            continue;
        }
        /* Sleep until the earliest deadline, at most a second. */
        uint64_t next = now + 1000000000ULL;
        for (relayd_waiter *w = lp->all; w != NULL; w = w->all_next)
            if (w->state == WAITER_SUSPENDED && w->deadline_ns < next)
                next = w->deadline_ns;
        lp->timer_next_ns = next;
        uint64_t delta = next > now ? next - now : 0;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + delta % 1000000000ULL;
        ts.tv_sec += (time_t)(delta / 1000000000ULL + ns / 1000000000ULL);
        ts.tv_nsec = (long)(ns % 1000000000ULL);
        pthread_cond_timedwait(&lp->cond, &lp->lock, &ts);
    }
    pthread_mutex_unlock(&lp->lock);
    return NULL;
}

relayd_longpoll *relayd_longpoll_new(size_t max_waiters, uint32_t per_device)
{
    relayd_longpoll *lp = calloc(1, sizeof *lp);
    if (lp == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&lp->lock, NULL);
    pthread_cond_init(&lp->cond, &ca);
    pthread_condattr_destroy(&ca);
    lp->max_waiters = max_waiters;
    lp->per_device = per_device;
    crypto_shorthash_keygen(lp->hash_key);
    if (pthread_create(&lp->timer, NULL, timer_main, lp) != 0) {
        relayd_longpoll_free(lp);
        return NULL;
    }
    lp->timer_started = 1;
    return lp;
}

static void stop_timer(relayd_longpoll *lp)
{
    pthread_mutex_lock(&lp->lock);
    lp->timer_stop = 1;
    pthread_cond_signal(&lp->cond);
    pthread_mutex_unlock(&lp->lock);
    if (lp->timer_started) {
        pthread_join(lp->timer, NULL);
        lp->timer_started = 0;
    }
}

void relayd_longpoll_free(relayd_longpoll *lp)
{
    if (lp == NULL)
        return;
    stop_timer(lp);
    pthread_cond_destroy(&lp->cond);
    pthread_mutex_destroy(&lp->lock);
    free(lp);
}

int relayd_longpoll_arm(relayd_longpoll *lp, relayd_waiter *w, const uint8_t device[32],
                        struct MHD_Connection *conn, uint64_t deadline_ns)
{
    int rc = LONGPOLL_OK;
    pthread_mutex_lock(&lp->lock);
    if (lp->stopping) {
        rc = LONGPOLL_E_STOPPING;
        goto out;
    }
    if (lp->count >= lp->max_waiters) {
        rc = LONGPOLL_E_FULL;
        goto out;
    }
    size_t k = bucket_of(lp, device);
    uint32_t same = 0;
    for (relayd_waiter *o = lp->b[k]; o != NULL; o = o->next)
        if (memcmp(o->device, device, 32) == 0)
            same++;
    if (same >= lp->per_device) {
        rc = LONGPOLL_E_FULL;
        goto out;
    }
    memcpy(w->device, device, 32);
    w->conn = conn;
    w->deadline_ns = deadline_ns;
    w->state = WAITER_ARMED;
    w->prev = NULL;
    w->next = lp->b[k];
    if (w->next != NULL)
        w->next->prev = w;
    lp->b[k] = w;
    w->all_prev = NULL;
    w->all_next = lp->all;
    if (w->all_next != NULL)
        w->all_next->all_prev = w;
    lp->all = w;
    lp->count++;
out:
    pthread_mutex_unlock(&lp->lock);
    return rc;
}

int relayd_longpoll_suspend(relayd_longpoll *lp, relayd_waiter *w)
{
    int suspended = 0;
    pthread_mutex_lock(&lp->lock);
    if (w->state == WAITER_ARMED && !lp->stopping) {
        /*
         * Suspended under the lock: nobody can see SUSPENDED (and resume)
         * before MHD knows the connection is suspended.
         */
        MHD_suspend_connection(w->conn);
        w->state = WAITER_SUSPENDED;
        suspended = 1;
        if (w->deadline_ns < lp->timer_next_ns)
            pthread_cond_signal(&lp->cond); /* the timer needs to wake earlier */
    } else if (w->state == WAITER_ARMED || w->state == WAITER_NOTIFIED) {
        unlink_waiter(lp, w);
        w->state = WAITER_IDLE;
    }
    pthread_mutex_unlock(&lp->lock);
    return suspended;
}

void relayd_longpoll_disarm(relayd_longpoll *lp, relayd_waiter *w)
{
    pthread_mutex_lock(&lp->lock);
    if (w->state == WAITER_ARMED || w->state == WAITER_NOTIFIED) {
        unlink_waiter(lp, w);
        w->state = WAITER_IDLE;
    }
    pthread_mutex_unlock(&lp->lock);
}

void relayd_longpoll_notify(relayd_longpoll *lp, const uint8_t (*devices)[32], size_t n)
{
    struct MHD_Connection *conns[64];
    for (size_t i = 0; i < n; i++) {
        size_t got = 0;
        pthread_mutex_lock(&lp->lock);
        if (lp->count == 0) {
            pthread_mutex_unlock(&lp->lock);
            return;
        }
        size_t k = bucket_of(lp, devices[i]);
        relayd_waiter *w = lp->b[k];
        while (w != NULL && got < sizeof conns / sizeof conns[0]) {
            relayd_waiter *next = w->next;
            if (memcmp(w->device, devices[i], 32) == 0) {
                if (w->state == WAITER_SUSPENDED) {
                    conns[got++] = w->conn;
                    unlink_waiter(lp, w);
                    w->state = WAITER_WOKEN_MAIL;
                } else if (w->state == WAITER_ARMED) {
                    w->state = WAITER_NOTIFIED;
                }
            }
            w = next;
        }
        pthread_mutex_unlock(&lp->lock);
        resume_all(conns, got);
    }
}

void relayd_longpoll_shutdown(relayd_longpoll *lp)
{
    struct MHD_Connection *conns[RESUME_BATCH];
    stop_timer(lp);
    for (;;) {
        pthread_mutex_lock(&lp->lock);
        lp->stopping = 1;
        size_t n = take_suspended_all(lp, WAITER_WOKEN_SHUTDOWN, 0, 0, conns);
        pthread_mutex_unlock(&lp->lock);
        if (n == 0)
            break;
        resume_all(conns, n);
    }
}

size_t relayd_longpoll_count(relayd_longpoll *lp)
{
    pthread_mutex_lock(&lp->lock);
    size_t n = lp->count;
    pthread_mutex_unlock(&lp->lock);
    return n;
}
