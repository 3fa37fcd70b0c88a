/*
 * Housekeeping thread: relay_store_purge() at start and every
 * purge_interval seconds (expired messages, blobs and tokens), and a sweep
 * of idle rate-limit buckets every minute.
 */
#ifndef SECMSG_RELAYD_PURGE_H
#define SECMSG_RELAYD_PURGE_H

#include "http.h"

typedef struct relayd_purge relayd_purge;

/** NULL if the thread cannot be started. */
relayd_purge *relayd_purge_start(relayd_server *srv);
/** Wakes the thread, waits for it (a purge in progress finishes). NULL-safe. */
void relayd_purge_stop(relayd_purge *p);

#endif
