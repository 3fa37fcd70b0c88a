/*
 * Counters for GET /metrics (Prometheus text format 0.0.4). Only counts:
 * routes, statuses, byte totals, store counters, gauges. No device ids,
 * user ids, addresses or anything else personal.
 *
 * Thread-safety: the counting functions are lock-free (atomics).
 */
#ifndef SECMSG_RELAYD_METRICS_H
#define SECMSG_RELAYD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

relayd_metrics *relayd_metrics_new(void);
void relayd_metrics_free(relayd_metrics *m);

void relayd_metrics_request(relayd_metrics *m, relayd_route route, unsigned status);
void relayd_metrics_bytes_in(relayd_metrics *m, uint64_t n);
void relayd_metrics_bytes_out(relayd_metrics *m, uint64_t n);
void relayd_metrics_rate_limited(relayd_metrics *m);
void relayd_metrics_purged(relayd_metrics *m, uint64_t n);

/** Renders the text exposition; *out is malloc'd (free()). 0 or -1. */
int relayd_metrics_render(relayd_server *srv, char **out, size_t *len);

#endif
