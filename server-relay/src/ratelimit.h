/*
 * Token buckets keyed by 32 bytes (a device id, or a hash of a client
 * address): `rate` tokens per second up to `burst`; each request takes one.
 *
 * Thread-safety: all functions may be called concurrently (striped locks).
 * Memory is bounded: idle buckets (full again) are swept, and at
 * max_entries new keys are let through untracked rather than refused, so a
 * flood of fresh keys cannot lock out known ones.
 */
#ifndef SECMSG_RELAYD_RATELIMIT_H
#define SECMSG_RELAYD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct relayd_ratelimit relayd_ratelimit;

/** rate 0 disables the limiter (every take succeeds). NULL on allocation failure. */
relayd_ratelimit *relayd_ratelimit_new(uint32_t rate, uint32_t burst, size_t max_entries);
void relayd_ratelimit_free(relayd_ratelimit *rl);

/** 1 if the request may proceed, 0 if the bucket is empty. now_ns: monotonic. */
int relayd_ratelimit_take(relayd_ratelimit *rl, const uint8_t key[32], uint64_t now_ns);

/** Drops buckets that have refilled completely; returns how many remain. */
size_t relayd_ratelimit_sweep(relayd_ratelimit *rl, uint64_t now_ns);

/** Monotonic clock in nanoseconds. */
uint64_t relayd_now_ns(void);

#endif
