/*
 * The relay's storage backend interface. One implementation now
 * (store_sqlcipher.c: an encrypted SQLite file in WAL mode); a backend on a
 * distributed engine (PostgreSQL) implements the same functions.
 *
 * Durability: every function that changes state returns only after the
 * change is durable (committed and fsynced), except acknowledgements
 * (relay_store_ack, relay_store_ack_fetch), which return once committed.
 * Concurrent writers are grouped into one transaction and one fsync ("group
 * commit"), each caller keeping its own all-or-nothing result. Reads see
 * every committed change, also one whose fsync is still running (whose
 * caller has not returned yet).
 *
 * Thread-safety: every function may be called from any thread concurrently.
 * Results: RELAY_OK or a negative RELAY_E_*; nothing is half-written.
 */
#ifndef SECMSG_RELAY_STORE_H
#define SECMSG_RELAY_STORE_H

#include <stddef.h>
#include <stdint.h>

enum {
    RELAY_OK = 0,
    RELAY_E_NOTFOUND = -1, /* no such device / token / blob / message */
    RELAY_E_CONFLICT = -2, /* token used or expired; device already registered */
    RELAY_E_QUOTA = -3,    /* a limit of relay_limits would be exceeded */
    RELAY_E_DENIED = -4,   /* not the caller's to read or reference */
    RELAY_E_IO = -5,       /* the database or file system failed */
    RELAY_E_NOMEM = -6,
    RELAY_E_INVALID = -7, /* argument out of range */
};

#define RELAY_ID_BYTES 32U      /* device id = Ed25519 public key */
#define RELAY_TOKEN_BYTES 32U   /* enrollment token (stored hashed) */
#define RELAY_MSGID_BYTES 16U
#define RELAY_BLOB_ID_BYTES 16U
#define RELAY_USER_ID_MAX 64U

typedef struct relay_limits {
    uint32_t mailbox_max_messages;   /* per device */
    uint64_t mailbox_max_bytes;      /* per device */
    uint32_t prekeys_max;            /* stored one-time prekeys per device */
    uint64_t blob_max_bytes;
    uint64_t ttl_seconds;            /* undelivered messages and blobs */
    uint64_t id_block;               /* message ids reserved at a time; 0: 2^20 (tests use small ones) */
} relay_limits;

typedef struct relay_store relay_store;

/**
 * Opens (creating if needed) the store at `path` with a 32-byte database
 * key, runs schema migrations, and starts the commit thread. Blobs live in
 * `path` + ".blobs/". Returns RELAY_E_IO for a wrong key, a corrupt file or
 * a schema newer than this code. `limits` NULL means the defaults of
 * spec/relay-api.md. The key is not kept (the caller wipes its copy).
 */
int relay_store_open(relay_store **out, const char *path, const uint8_t key[32],
                     const relay_limits *limits);
/** Finishes queued commits, stops the commit thread, closes. NULL-safe. */
void relay_store_close(relay_store *st);

/** Current schema version (for tests of migrations). */
int relay_store_schema_version(relay_store *st, uint32_t *version);

/* ---- enrollment tokens and devices ---- */

/**
 * Stores a one-time token (by its BLAKE2b hash) for `role` and `user_id`
 * (at most RELAY_USER_ID_MAX bytes, else INVALID). CONFLICT if the hash is
 * already stored.
 */
int relay_store_token_put(relay_store *st, const uint8_t token_hash[32], uint32_t role,
                          const char *user_id, uint64_t expires);

typedef struct relay_device {
    uint8_t id[RELAY_ID_BYTES];
    uint32_t role;
    char user_id[RELAY_USER_ID_MAX + 1];
    uint8_t identity[256]; /* serialized IdentityPublic */
    size_t identity_len;
} relay_device;

/**
 * Redeems the token and registers the device in one transaction: the token
 * must exist (else NOTFOUND), be unused and unexpired, i.e. now < expires
 * (else CONFLICT), and the device must not exist (CONFLICT; the token then
 * stays unused). Reads dev->id and dev->identity (identity_len <= 256, else
 * INVALID). On success `dev` gets the token's role and user id.
 */
int relay_store_register(relay_store *st, const uint8_t token_hash[32], relay_device *dev,
                         uint64_t now);
/** NOTFOUND if no such device. */
int relay_store_device_get(relay_store *st, const uint8_t id[RELAY_ID_BYTES], relay_device *out);
/**
 * The devices of a user, in registration order: *out is malloc'd (free()),
 * *n entries. A user without devices gives RELAY_OK, *n = 0.
 */
int relay_store_user_devices(relay_store *st, const char *user_id, relay_device **out, size_t *n);

/* ---- prekeys ---- */

typedef struct relay_otk {
    uint32_t id;
    uint8_t pub[32];
} relay_otk;

/**
 * Replaces the device's signed prekey (serialized SignedPrekey, 1..256
 * bytes) if spk is not NULL and adds one-time prekeys. QUOTA if the stored
 * total would pass limits.prekeys_max; CONFLICT on an id already stored or
 * repeated in `otks`; NOTFOUND for an unknown device. Nothing changes on
 * any error.
 */
int relay_store_prekeys_put(relay_store *st, const uint8_t id[RELAY_ID_BYTES], const uint8_t *spk,
                            size_t spk_len, const relay_otk *otks, size_t n);
/**
 * Atomically takes one one-time prekey of `id` (the oldest), if any is
 * left; each is handed out at most once, also under concurrent claims.
 * spk gets the signed prekey (capacity 256). NOTFOUND if the device has
 * uploaded no signed prekey.
 */
int relay_store_prekeys_claim(relay_store *st, const uint8_t id[RELAY_ID_BYTES], uint8_t *spk,
                              size_t *spk_len, relay_otk *otk, int *has_otk);
/** One-time prekeys left; NOTFOUND for an unknown device. */
int relay_store_prekeys_count(relay_store *st, const uint8_t id[RELAY_ID_BYTES], uint32_t *n);

/* ---- messages ---- */

typedef struct relay_envelope {
    uint8_t message_id[RELAY_MSGID_BYTES];
    const uint8_t (*recipients)[RELAY_ID_BYTES];
    size_t n_recipients;
    const uint8_t *content;
    size_t content_len;
    const uint8_t (*blob_ids)[RELAY_BLOB_ID_BYTES];
    size_t n_blobs;
} relay_envelope;

/**
 * Stores every envelope for each of its recipients, all or nothing, and
 * grants each recipient read access to the referenced blobs (which must
 * exist and belong to the sender: DENIED otherwise). NOTFOUND if a
 * recipient does not exist, QUOTA if a mailbox is full (limits.mailbox_*),
 * INVALID for an envelope without recipients. A recipient listed twice in
 * one envelope gets one copy. The content is stored once per envelope,
 * however many recipients. *stored = copies made.
 */
int relay_store_send(relay_store *st, const uint8_t sender[RELAY_ID_BYTES],
                     const relay_envelope *env, size_t n, uint64_t now, uint32_t *stored);

typedef struct relay_delivery {
    uint64_t id;
    uint8_t sender[RELAY_ID_BYTES];
    uint8_t message_id[RELAY_MSGID_BYTES];
    uint8_t *content; /* malloc'd */
    size_t content_len;
    uint64_t received;
    uint8_t (*blob_ids)[RELAY_BLOB_ID_BYTES]; /* malloc'd */
    size_t n_blobs;
} relay_delivery;

/**
 * Oldest messages of the device's mailbox, at most max_n (>= 1, else
 * INVALID) and at most max_bytes of content, but always the oldest message
 * if there is one; *more says whether others are waiting. Free with
 * relay_deliveries_free() (also when *n = 0).
 */
int relay_store_fetch(relay_store *st, const uint8_t id[RELAY_ID_BYTES], size_t max_n,
                      size_t max_bytes, relay_delivery **out, size_t *n, int *more);
void relay_deliveries_free(relay_delivery *d, size_t n);
/**
 * The quota's counts for the device's mailbox: messages waiting and their
 * content bytes, as committed (0 and 0 for an empty or unknown mailbox).
 */
int relay_store_mailbox_usage(relay_store *st, const uint8_t id[RELAY_ID_BYTES],
                              uint64_t *messages, uint64_t *bytes);
/**
 * Deletes the caller's messages by id; ids of others and unknown ids are
 * ignored. Deleting the last copy of an envelope deletes its content.
 *
 * Returns once the deletes are committed: every later read misses them,
 * and a crash of the process keeps them, but they are not yet fsynced, so
 * a crash of the machine can undo the most recent ones (never partly: a
 * group commit is undone whole, and nothing that was stored durably is
 * lost). Undone deletes are messages delivered again, which at-least-once
 * delivery allows (clients dedupe by message id); waiting for the fsync
 * would double the latency of every fetch-and-ack round.
 */
int relay_store_ack(relay_store *st, const uint8_t id[RELAY_ID_BYTES], const uint64_t *ids,
                    size_t n, uint32_t *deleted);
/**
 * relay_store_ack() of `ids` (n_ids may be 0; *deleted as there), then
 * relay_store_fetch() seeing those deletes, and the caller's stored
 * one-time prekeys (*prekeys, as relay_store_prekeys_count() but without
 * its NOTFOUND), in one pass through the commit thread. deleted and
 * prekeys may be NULL. On error nothing is returned, but acks may have
 * been committed.
 */
int relay_store_ack_fetch(relay_store *st, const uint8_t id[RELAY_ID_BYTES], const uint64_t *ids,
                          size_t n_ids, size_t max_n, size_t max_bytes, relay_delivery **out,
                          size_t *n, int *more, uint32_t *deleted, uint32_t *prekeys);

/* ---- the same, asynchronously (for an event-driven caller) ---- */

typedef struct relay_store_op relay_store_op;
typedef void (*relay_store_done_fn)(void *arg);

/**
 * relay_store_send() and relay_store_ack_fetch() without waiting: the op
 * is queued and the call returns at once. On RELAY_OK, done(arg) is called
 * exactly once, from a store thread, when the op is answered, with the
 * same durability as the waiting call (a send after its group's fsync, an
 * ack-and-fetch after its commit); done must return quickly and must not
 * call the store. Only then may the caller take the result with the
 * matching *_finish() (from any thread), which also frees the op, or drop
 * it with relay_store_op_free(). Everything the arguments point to (the
 * envelopes and what they point to, id, ids) must stay valid until done.
 * On an error return nothing was queued, done is never called and *op is
 * NULL. relay_store_send_start() needs n >= 1.
 */
int relay_store_send_start(relay_store *st, const uint8_t sender[RELAY_ID_BYTES],
                           const relay_envelope *env, size_t n, uint64_t now,
                           relay_store_done_fn done, void *arg, relay_store_op **op);
/** The result of relay_store_send() (and *stored on RELAY_OK); frees op. */
int relay_store_send_finish(relay_store_op *op, uint32_t *stored);
int relay_store_ack_fetch_start(relay_store *st, const uint8_t id[RELAY_ID_BYTES],
                                const uint64_t *ids, size_t n_ids, size_t max_n, size_t max_bytes,
                                relay_store_done_fn done, void *arg, relay_store_op **op);
/** The results of relay_store_ack_fetch(); frees op. */
int relay_store_ack_fetch_finish(relay_store_op *op, relay_delivery **out, size_t *n, int *more,
                                 uint32_t *deleted, uint32_t *prekeys);
/** Frees an answered op whose result is not wanted. NULL is a no-op. */
void relay_store_op_free(relay_store_op *op);

/* ---- blobs (streamed, never whole in memory) ---- */

typedef struct relay_blob_writer relay_blob_writer;
typedef struct relay_blob_reader relay_blob_reader;

/**
 * Starts a blob owned by `owner` (NOTFOUND if not registered). The writer
 * must end with relay_blob_commit() or relay_blob_abort(), also after a
 * failed write. One writer is for one thread at a time.
 */
int relay_store_blob_create(relay_store *st, const uint8_t owner[RELAY_ID_BYTES],
                            relay_blob_writer **out);
/**
 * Appends to the blob's file. QUOTA once the total passes
 * limits.blob_max_bytes: the blob is then dropped, and every later write or
 * commit reports the same error.
 */
int relay_blob_write(relay_blob_writer *w, const uint8_t *data, size_t len);
/** Makes the blob durable and visible; blob_id gets its random id. Frees w. */
int relay_blob_commit(relay_blob_writer *w, uint64_t now, uint8_t blob_id[RELAY_BLOB_ID_BYTES],
                      uint64_t *size);
void relay_blob_abort(relay_blob_writer *w);
/**
 * Opens a blob for its owner or a device it was granted to: NOTFOUND if
 * there is no such blob (or it was purged), DENIED if it is someone else's
 * (the HTTP layer answers 404 to both). The reader reads the file and holds
 * no database resources.
 */
int relay_store_blob_open(relay_store *st, const uint8_t requester[RELAY_ID_BYTES],
                          const uint8_t blob_id[RELAY_BLOB_ID_BYTES], relay_blob_reader **out,
                          uint64_t *size);
/** Reads up to len bytes; *got = 0 at the end. */
int relay_blob_read(relay_blob_reader *r, uint8_t *buf, size_t len, size_t *got);
void relay_blob_close(relay_blob_reader *r);

/* ---- housekeeping ---- */

/**
 * Deletes messages and blobs (with their files) received more than
 * limits.ttl_seconds before `now`, and tokens that are used or expired.
 * *purged = messages + blobs + tokens deleted.
 */
int relay_store_purge(relay_store *st, uint64_t now, uint64_t *purged);

/**
 * Counters for /metrics, since open: transactions committed, write
 * operations they carried (grouped_ops / commits = group size), message
 * copies stored, and copies deleted by ack or purge; WAL fdatasyncs and
 * the nanoseconds they took (the disk's latency, which every durable 2xx
 * waits for).
 */
typedef struct relay_store_stats {
    uint64_t commits, grouped_ops, messages_stored, messages_deleted;
    uint64_t fsyncs, fsync_ns;
} relay_store_stats;
void relay_store_stats_get(relay_store *st, relay_store_stats *out);

#endif
