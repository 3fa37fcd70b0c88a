#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "longpoll.h"

/* The statuses the relay answers with; anything else counts as "other". */
static const unsigned statuses[] = {200, 400, 401, 403, 404, 405, 409,
                                    411, 413, 415, 429, 500, 503};
#define N_STATUS (sizeof statuses / sizeof statuses[0] + 1U)

struct relayd_metrics {
    atomic_ulong requests[ROUTE_COUNT][N_STATUS];
    atomic_ulong bytes_in, bytes_out, rate_limited, purged;
    time_t started;
};

relayd_metrics *relayd_metrics_new(void)
{
    relayd_metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    for (size_t r = 0; r < ROUTE_COUNT; r++)
        for (size_t s = 0; s < N_STATUS; s++)
            atomic_init(&m->requests[r][s], 0);
    atomic_init(&m->bytes_in, 0);
    atomic_init(&m->bytes_out, 0);
    atomic_init(&m->rate_limited, 0);
    atomic_init(&m->purged, 0);
    m->started = time(NULL);
    return m;
}

void relayd_metrics_free(relayd_metrics *m)
{
    free(m);
}

void relayd_metrics_request(relayd_metrics *m, relayd_route route, unsigned status)
{
    size_t s = N_STATUS - 1;
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status) {
            s = i;
            break;
        }
    if ((unsigned)route >= ROUTE_COUNT)
        route = ROUTE_NONE;
    atomic_fetch_add_explicit(&m->requests[route][s], 1, memory_order_relaxed);
}

void relayd_metrics_bytes_in(relayd_metrics *m, uint64_t n)
{
    atomic_fetch_add_explicit(&m->bytes_in, n, memory_order_relaxed);
}

void relayd_metrics_bytes_out(relayd_metrics *m, uint64_t n)
{
    atomic_fetch_add_explicit(&m->bytes_out, n, memory_order_relaxed);
}

void relayd_metrics_rate_limited(relayd_metrics *m)
{
    atomic_fetch_add_explicit(&m->rate_limited, 1, memory_order_relaxed);
}

void relayd_metrics_purged(relayd_metrics *m, uint64_t n)
{
    atomic_fetch_add_explicit(&m->purged, n, memory_order_relaxed);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void counter(sbuf *b, const char *name, const char *help, unsigned long v)
{
    put(b, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name, v);
}

static void gauge(sbuf *b, const char *name, const char *help, unsigned long v)
{
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lu\n", name, help, name, name, v);
}

int relayd_metrics_render(relayd_server *srv, char **out, size_t *len)
{
    relayd_metrics *m = srv->metrics;
    sbuf b = {malloc(8192), 0, 8192, 0};
    if (b.p == NULL)
        return -1;

    put(&b, "# HELP secmsg_relay_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE secmsg_relay_requests_total counter\n");
    for (size_t r = 0; r < ROUTE_COUNT; r++)
        for (size_t s = 0; s < N_STATUS; s++) {
            unsigned long v = atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < N_STATUS - 1)
                put(&b, "secmsg_relay_requests_total{route=\"%s\",status=\"%u\"} %lu\n",
                    relayd_route_name((relayd_route)r), statuses[s], v);
            else
                put(&b, "secmsg_relay_requests_total{route=\"%s\",status=\"other\"} %lu\n",
                    relayd_route_name((relayd_route)r), v);
        }
    counter(&b, "secmsg_relay_received_bytes_total", "Request body bytes received.",
            atomic_load(&m->bytes_in));
    counter(&b, "secmsg_relay_sent_bytes_total", "Response body bytes sent.",
            atomic_load(&m->bytes_out));
    counter(&b, "secmsg_relay_rate_limited_total", "Requests refused by a rate limit.",
            atomic_load(&m->rate_limited));
    counter(&b, "secmsg_relay_purged_total", "Expired items deleted by the purge.",
            atomic_load(&m->purged));

    relay_store_stats st;
    memset(&st, 0, sizeof st);
    relay_store_stats_get(srv->store, &st);
    counter(&b, "secmsg_relay_store_commits_total", "Store transactions committed.",
            (unsigned long)st.commits);
    counter(&b, "secmsg_relay_store_grouped_ops_total",
            "Store writes applied inside a group commit.", (unsigned long)st.grouped_ops);
    counter(&b, "secmsg_relay_store_messages_stored_total", "Envelope copies stored.",
            (unsigned long)st.messages_stored);
    counter(&b, "secmsg_relay_store_messages_deleted_total",
            "Envelope copies deleted (acknowledged or expired).",
            (unsigned long)st.messages_deleted);
    counter(&b, "secmsg_relay_store_fsyncs_total",
            "WAL fdatasyncs (each makes a group of writes durable).", (unsigned long)st.fsyncs);
    put(&b,
        "# HELP secmsg_relay_store_fsync_seconds_total Time spent in WAL fdatasyncs.\n"
        "# TYPE secmsg_relay_store_fsync_seconds_total counter\n"
        "secmsg_relay_store_fsync_seconds_total %.6f\n",
        (double)st.fsync_ns / 1e9);

    gauge(&b, "secmsg_relay_longpoll_waiters", "Long polls waiting for mail.",
          (unsigned long)relayd_longpoll_count(srv->lp));
    gauge(&b, "secmsg_relay_in_flight_requests", "Requests being processed.",
          atomic_load(&srv->in_flight));
    time_t now = time(NULL);
    gauge(&b, "secmsg_relay_uptime_seconds", "Seconds since start.",
          (unsigned long)(now > m->started ? now - m->started : 0));

    if (b.failed) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
