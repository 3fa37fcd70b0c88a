/*
 * Per-mailbox message and byte counts for the quota check, kept in memory
 * by the store's commit thread (schema v3, store_sqlcipher.c).
 *
 * The counts are derived state: the store rebuilds them from the messages
 * table when it opens, and a send, ack or purge adjusts them in the same
 * commit-thread step that writes its rows. Keeping them out of the
 * database saves a page write per message (the mailbox rows were spread
 * over many pages, so almost every send dirtied one more page).
 *
 * Transactions: every change is logged, so the changes of an op whose
 * savepoint is rolled back, or of a whole group whose transaction is
 * undone, can be taken back (relay_mbc_undo_to); relay_mbc_commit forgets
 * the log once the group is committed.
 *
 * Not thread-safe: one thread (the commit thread) owns the table.
 */
#ifndef SECMSG_RELAY_MAILBOX_COUNTS_H
#define SECMSG_RELAY_MAILBOX_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_MBC_ID_BYTES 32

typedef struct relay_mbc relay_mbc;

/** A new, empty table; NULL if out of memory. Hashes ids with a random key. */
relay_mbc *relay_mbc_new(void);
/** NULL-safe. */
void relay_mbc_free(relay_mbc *t);

/** The counts of mailbox id (0 and 0 if it never had a message). */
void relay_mbc_get(const relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES], uint64_t *messages,
                   uint64_t *bytes);

/**
 * Makes room for n more calls of relay_mbc_add (new mailboxes and log
 * entries), so that they cannot fail. 0, or -1 if out of memory (nothing
 * changed).
 */
int relay_mbc_reserve(relay_mbc *t, size_t n);

/**
 * Adds (messages, bytes) to mailbox id, which may be negative, and logs the
 * change. Needs room from relay_mbc_reserve (one unit per call).
 */
void relay_mbc_add(relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES], int64_t messages,
                   int64_t bytes);

/**
 * The log position before an op's changes, for relay_mbc_undo_to. Changes
 * after a mark are never merged with those before it.
 */
size_t relay_mbc_mark(relay_mbc *t);
/** Takes back every change logged after mark (the newest first). */
void relay_mbc_undo_to(relay_mbc *t, size_t mark);
/** The logged changes are committed: forgets the log. */
void relay_mbc_commit(relay_mbc *t);

#endif
