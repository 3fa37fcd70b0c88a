/*
 * Long-poll waiters: a GET /v1/messages?wait=S that finds the mailbox empty
 * suspends its connection here until mail for its device is stored, its
 * deadline passes, or the relay shuts down; then the connection is resumed
 * and the handler fetches again and answers.
 *
 * No lost wake-ups: the handler arms its waiter *before* fetching, so a
 * send that lands between the fetch and the suspend marks the armed waiter
 * and relayd_longpoll_suspend() declines to suspend.
 *
 * Thread-safety: all functions may be called concurrently. Connections are
 * resumed outside the lock, after their waiter has left every list, so a
 * resumed request may free its waiter at once.
 */
#ifndef SECMSG_RELAYD_LONGPOLL_H
#define SECMSG_RELAYD_LONGPOLL_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* relayd_waiter.state */
enum {
    WAITER_IDLE = 0,       /* not registered */
    WAITER_ARMED,          /* registered, fetching */
    WAITER_NOTIFIED,       /* registered, mail arrived before the suspend */
    WAITER_SUSPENDED,      /* registered, connection suspended */
    WAITER_WOKEN_MAIL,     /* resumed: mail arrived */
    WAITER_WOKEN_TIMEOUT,  /* resumed: deadline passed */
    WAITER_WOKEN_SHUTDOWN, /* resumed: the relay is stopping */
};

enum {
    LONGPOLL_OK = 0,
    LONGPOLL_E_FULL = -1,     /* too many waiters (all, or of this device) */
    LONGPOLL_E_STOPPING = -2, /* shutting down: answer now */
};

/** NULL on failure. Starts the deadline thread. */
relayd_longpoll *relayd_longpoll_new(size_t max_waiters, uint32_t per_device);
/** Stops the thread; every waiter must have been released. NULL-safe. */
void relayd_longpoll_free(relayd_longpoll *lp);

/** Registers w (state ARMED). LONGPOLL_OK, _E_FULL or _E_STOPPING. */
int relayd_longpoll_arm(relayd_longpoll *lp, relayd_waiter *w, const uint8_t device[32],
                        struct MHD_Connection *conn, uint64_t deadline_ns);
/**
 * Called from the access handler after an empty fetch with w ARMED.
 * Returns 1 if the connection is now suspended; 0 if mail arrived (or the
 * relay is stopping) in between and w is released: fetch again and answer.
 */
int relayd_longpoll_suspend(relayd_longpoll *lp, relayd_waiter *w);
/** Releases an ARMED or NOTIFIED waiter (no-op otherwise). */
void relayd_longpoll_disarm(relayd_longpoll *lp, relayd_waiter *w);

/** Mail was stored for these devices: wake their waiters. */
void relayd_longpoll_notify(relayd_longpoll *lp, const uint8_t (*devices)[32], size_t n);

/** Refuses new waiters and resumes every suspended one (WOKEN_SHUTDOWN). */
void relayd_longpoll_shutdown(relayd_longpoll *lp);

/** Registered waiters, for /metrics. */
size_t relayd_longpoll_count(relayd_longpoll *lp);

#endif
