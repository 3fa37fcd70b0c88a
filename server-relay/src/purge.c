#include "purge.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "ratelimit.h"

#define SWEEP_NS (60ULL * 1000000000ULL)

struct relayd_purge {
    relayd_server *srv;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int stop;
};

static void run_purge(relayd_server *srv)
{
    uint64_t purged = 0;
    int rc = relay_store_purge(srv->store, relayd_now(), &purged);
    if (rc != RELAY_OK) {
        relayd_log_error("purge failed (code %d)", rc);
        return;
    }
    relayd_metrics_purged(srv->metrics, purged);
    if (purged > 0)
        relayd_log_info("purge deleted %llu expired items", (unsigned long long)purged);
}

static void *purge_main(void *arg)
{
    relayd_purge *p = arg;
    relayd_server *srv = p->srv;
    uint64_t interval = (uint64_t)srv->cfg->purge_interval * 1000000000ULL;
    uint64_t next_purge = relayd_now_ns();
    uint64_t next_sweep = next_purge + SWEEP_NS;

    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        uint64_t now = relayd_now_ns();
        if (now >= next_purge) {
            pthread_mutex_unlock(&p->lock);
            run_purge(srv);
            pthread_mutex_lock(&p->lock);
            next_purge = now + interval;
            continue;
        }
        if (now >= next_sweep) {
            pthread_mutex_unlock(&p->lock);
            relayd_ratelimit_sweep(srv->rl_device, now);
            relayd_ratelimit_sweep(srv->rl_anon, now);
            pthread_mutex_lock(&p->lock);
            next_sweep = now + SWEEP_NS;
            continue;
        }
        uint64_t wake = next_purge < next_sweep ? next_purge : next_sweep;
        uint64_t delta = wake - now;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + delta % 1000000000ULL;
        ts.tv_sec += (time_t)(delta / 1000000000ULL + ns / 1000000000ULL);
        ts.tv_nsec = (long)(ns % 1000000000ULL);
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

relayd_purge *relayd_purge_start(relayd_server *srv)
{
    relayd_purge *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->srv = srv;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, purge_main, p) != 0) {
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

void relayd_purge_stop(relayd_purge *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
