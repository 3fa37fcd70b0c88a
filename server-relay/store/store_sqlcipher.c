/*
 * store.h on an encrypted SQLite file (sqlcipher) in WAL mode.
 *
 * Writes: one commit thread owns the only write connection. A writer fills
 * a `struct wop` on its own stack, queues it and sleeps on the op's
 * condition variable (or, through relay_store_*_start, queues a heap op
 * and is called back when it is answered). The commit thread takes the whole queue, opens one
 * transaction (BEGIN IMMEDIATE), runs every op and commits once
 * (synchronous=NORMAL: frames written, not synced). The sync thread then
 * fdatasyncs the WAL once for the group and only then wakes each durable
 * op's waiter with its own result, while the commit thread goes on with
 * the next group (whose ops join the following fsync). An op
 * never reports success before its change is durable, except acks, which
 * are answered right after the commit (store.h).
 *
 * Ops are independent and each all-or-nothing. Every op checks everything
 * it can before its first write, so a refused op has changed nothing; an
 * op that fails after writing makes the commit thread roll the group back
 * and run it again with each op in its own SAVEPOINT (ROLLBACK TO on that
 * op's failure). See try_batch for why savepoints are not the default.
 *
 * Ops write their results into their own context, never into the caller's
 * output parameters: the caller copies them out only after the commit
 * succeeded, so a failed call leaves no partial output.
 *
 * Fetches run on the writer connection after a commit (its page cache is
 * warm; see run_batch), and device lookups come from a cache.
 *
 * Other reads: a fixed pool of read-only connections. A WAL reader starts a read
 * transaction at its first step and sees every transaction committed before
 * that; each read statement is reset before its connection goes back to
 * the pool, so no connection keeps an old snapshot.
 *
 * Message content is stored once per envelope (table envelopes, with a
 * reference count); each recipient gets a small row in messages, keyed
 * (recipient, id), pointing at it. The op deleting the last reference
 * deletes the envelope. Per-mailbox counts for the quota check live in
 * memory (mailbox_counts.h), rebuilt from messages at open; ids are
 * counted in memory below a limit recorded in table counters. See
 * SCHEMA_V1, MIGRATE_V1_V2 and MIGRATE_V2_V3.
 *
 * Blobs: `<path>.blobs/<hex id>`, written through a temporary file in that
 * directory, fsynced, hard-linked to their final name (link() never
 * replaces an existing file), directory fsynced, and only then recorded in
 * the database through the commit thread.
 */
#include "store/store.h"
#include "store/mailbox_counts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlcipher/sqlite3.h>

/* Read connections kept open; readers beyond this many wait for one. */
#define READ_POOL 8
/*
 * Device cache: direct-mapped slots (about 370 bytes each) under striped
 * locks. Every authenticated request looks its device up; from the cache
 * that costs no read transaction, whereas a pooled reader's page cache is
 * discarded by every commit, so each lookup would decrypt and HMAC-check
 * the B-tree path again.
 */
#define DEVICE_CACHE_SLOTS 8192U
#define DEVICE_CACHE_LOCKS 64U
/*
 * sqlcipher 3 does not record its page size in the file: every connection
 * must set the same value before the first access. 4096 matches sqlcipher 4
 * and the file system block size.
 */
#define CIPHER_PAGE_SIZE "4096"
#define BUSY_TIMEOUT_MS 10000
/* Message ids reserved at a time (counters.message_id_limit, MIGRATE_V2_V3);
 * relay_limits.id_block may choose fewer (tests). */
#define ID_BLOCK ((sqlite3_int64)1 << 20)
#define BLOB_HEX_BYTES (RELAY_BLOB_ID_BYTES * 2 + 1)
#define TMP_PREFIX "tmp-"

/* ------------------------------------------------------------------------
 * Schema and migrations
 * ------------------------------------------------------------------------ */

/*
 * Version 1. Invariants:
 * - mailboxes has one row per device; messages/bytes equal the count and
 *   the summed size of that device's rows in messages (kept by send, ack and
 *   purge, in the same transaction as the rows).
 * - every envelope has at least one row in messages; the op deleting the
 *   last one deletes the envelope.
 * - messages.id is AUTOINCREMENT: an id, once acknowledged, is never handed
 *   out again, so a repeated ack cannot delete a newer message.
 *
 * The tables written once per recipient (messages, blob_grants, the
 * mailboxes counters) deliberately carry no foreign keys, NOT NULL checks
 * or triggers: any of those makes SQLite keep a statement journal for each
 * write, and sqlcipher 3.4 encrypts every journalled page, which tripled
 * the cost of a fan-out. The code checks recipients and blobs before
 * writing instead. Tables written rarely keep their foreign keys.
 */
static const char SCHEMA_V1[] =
    "CREATE TABLE tokens ("
    " hash BLOB PRIMARY KEY NOT NULL,"
    " role INTEGER NOT NULL,"
    " user_id TEXT NOT NULL,"
    " expires INTEGER NOT NULL,"
    " used INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE TABLE devices ("
    " id BLOB PRIMARY KEY NOT NULL,"
    " role INTEGER NOT NULL,"
    " user_id TEXT NOT NULL,"
    " identity BLOB NOT NULL,"
    " created INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX devices_user ON devices(user_id, created);"
    "CREATE TABLE mailboxes ("
    " device BLOB PRIMARY KEY NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " messages INTEGER DEFAULT 0,"
    " bytes INTEGER DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE TABLE signed_prekeys ("
    " device BLOB PRIMARY KEY NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " spk BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE one_time_prekeys ("
    " seq INTEGER PRIMARY KEY,"
    " device BLOB NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " id INTEGER NOT NULL,"
    " pub BLOB NOT NULL,"
    " UNIQUE (device, id)"
    ");"
    "CREATE INDEX one_time_prekeys_order ON one_time_prekeys(device, seq);"
    "CREATE TABLE envelopes ("
    " id INTEGER PRIMARY KEY,"
    " sender BLOB NOT NULL,"
    " message_id BLOB NOT NULL,"
    " content BLOB NOT NULL,"
    " received INTEGER NOT NULL,"
    " blob_ids BLOB"
    ");"
    "CREATE INDEX envelopes_received ON envelopes(received);"
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " recipient BLOB,"
    " envelope INTEGER,"
    " size INTEGER"
    ");"
    "CREATE INDEX messages_mailbox ON messages(recipient, id);"
    "CREATE INDEX messages_envelope ON messages(envelope);"
    "CREATE TABLE blobs ("
    " id BLOB PRIMARY KEY NOT NULL,"
    " owner BLOB NOT NULL REFERENCES devices(id),"
    " size INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " path TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX blobs_created ON blobs(created);"
    "CREATE TABLE blob_grants ("
    " blob BLOB,"
    " device BLOB,"
    " PRIMARY KEY (blob, device)"
    ") WITHOUT ROWID;";

/*
 * Version 2: less B-tree work per send on the commit thread. Invariants:
 * - messages is keyed (recipient, id), WITHOUT ROWID: a fetch reads one
 *   range, an ack finds its row by key, and no separate mailbox index or
 *   rowid table is written. Its rows stay small (the content is in
 *   envelopes, appended at the end of a rowid table): a recipient's
 *   messages are many to a page, so inserts rarely split a page. (Content
 *   inline in messages was measured slower: every send then dirtied a page
 *   holding a dozen rows, and split one every few sends.)
 * - envelopes.refs is the number of messages rows pointing at the
 *   envelope (>= 1); deleting the last of them deletes the envelope.
 * - ids are global (unique across mailboxes, as in v1) and increasing:
 *   the commit thread counts them in memory (relay_store.next_id), and a
 *   send records each message's id in its mailbox's last_id, in the row it
 *   rewrites anyway (the counters). An id, once committed, is at most the
 *   largest last_id, and the store starts counting above that, so no id
 *   is handed out again (a repeated ack cannot delete a newer message)
 *   without a counter row written by every send. Migrated mailboxes start
 *   at the largest id v1 ever gave out.
 * - messages.received is its envelope's time: a purge deletes every
 *   reference to an expired envelope and so the envelope. It is not
 *   indexed: an index entry (time, recipient, id) is as large as the row,
 *   and keeping it took about a third more CPU per send (relay-store-bench);
 *   the hourly purge reads the table once instead (rows of ~60 bytes).
 * A send to one recipient writes three B-trees (mailboxes, envelopes,
 * messages) and reads one row; v1 wrote seven (mailboxes, envelopes and
 * its index, messages and its two indexes, sqlite_sequence) and read two.
 */
static const char MIGRATE_V1_V2[] =
    "ALTER TABLE mailboxes ADD COLUMN last_id INTEGER DEFAULT 0;"
    "UPDATE mailboxes SET last_id ="
    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0);"
    "CREATE TABLE envelopes_v2 ("
    " id INTEGER PRIMARY KEY,"
    " sender BLOB,"
    " message_id BLOB,"
    " received INTEGER,"
    " refs INTEGER,"
    " blob_ids BLOB,"
    " content BLOB"
    ");"
    "INSERT INTO envelopes_v2(id, sender, message_id, received, refs, blob_ids, content)"
    " SELECT e.id, e.sender, e.message_id, e.received,"
    "  (SELECT count(*) FROM messages m WHERE m.envelope = e.id), e.blob_ids, e.content"
    " FROM envelopes e WHERE EXISTS (SELECT 1 FROM messages m WHERE m.envelope = e.id);"
    "CREATE TABLE messages_v2 ("
    " recipient BLOB,"
    " id INTEGER,"
    " received INTEGER,"
    " size INTEGER,"
    " envelope INTEGER,"
    " PRIMARY KEY (recipient, id)"
    ") WITHOUT ROWID;"
    "INSERT INTO messages_v2(recipient, id, received, size, envelope)"
    " SELECT m.recipient, m.id, e.received, m.size, m.envelope"
    " FROM messages m JOIN envelopes e ON e.id = m.envelope;"
    "DROP TABLE messages;"
    "DROP TABLE envelopes;"
    "ALTER TABLE envelopes_v2 RENAME TO envelopes;"
    "ALTER TABLE messages_v2 RENAME TO messages;";

/*
 * Version 3: a single-recipient send writes two B-trees (envelopes,
 * messages), no longer the mailbox row too. The mailbox rows were spread
 * over many pages, so nearly every send dirtied one more page (2.2 WAL
 * frames per send under relay-load, each encrypted, authenticated and
 * written). Invariants:
 * - the quota counts are derived from messages: the store counts them in
 *   memory at open (one scan of messages, in key order) and keeps them with
 *   every send, ack and purge (mailbox_counts.h). Table mailboxes is gone;
 *   a recipient exists if its devices row does.
 * - counters.message_id_limit: every id handed out is below it. The commit
 *   thread counts ids in memory (relay_store.next_id) and, in the
 *   transaction of a group that has gone past the limit, raises it by
 *   ID_BLOCK (so about once per ID_BLOCK messages). After a restart ids
 *   continue at the limit, so no committed id is ever handed out again (a
 *   repeated ack cannot delete a newer message); at most ID_BLOCK ids are
 *   skipped per restart, out of 2^63.
 */
static const char MIGRATE_V2_V3[] =
    "CREATE TABLE counters ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " value INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO counters(name, value)"
    " SELECT 'message_id_limit', coalesce(max(last_id), 0) + 1 FROM mailboxes;"
    "DROP TABLE mailboxes;";

/*
 * Migration i takes the schema from version i to version i + 1 and runs in
 * the same transaction as the version update. A new version appends a step;
 * steps already released never change.
 */
static const char *const MIGRATIONS[] = {
    SCHEMA_V1,
    MIGRATE_V1_V2,
    MIGRATE_V2_V3,
};
#define SCHEMA_LATEST ((uint32_t)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

/* ------------------------------------------------------------------------
 * Prepared statements (cached per connection)
 * ------------------------------------------------------------------------ */

enum sid {
    S_BEGIN,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_SCHEMA_VERSION,
    S_TOKEN_PUT,
    S_TOKEN_GET,
    S_TOKEN_USE,
    S_DEVICE_EXISTS,
    S_DEVICE_INSERT,
    S_DEVICE_GET,
    S_USER_DEVICES,
    S_SPK_PUT,
    S_SPK_GET,
    S_OTK_COUNT,
    S_OTK_EXISTS,
    S_OTK_INSERT,
    S_OTK_OLDEST,
    S_OTK_DELETE,
    S_BLOB_OWNER,
    S_ENVELOPE_INSERT,
    S_MESSAGE_INSERT,
    S_GRANT_INSERT,
    S_FETCH,
    S_MESSAGE_GET,
    S_MESSAGE_DELETE,
    S_ENVELOPE_REFS,
    S_ENVELOPE_UNREF,
    S_ENVELOPE_DELETE,
    S_BLOB_INSERT,
    S_BLOB_GET,
    S_GRANT_GET,
    S_PURGE_MESSAGES,
    S_PURGE_GRANTS,
    S_PURGE_BLOB_LIST,
    S_PURGE_BLOBS,
    S_PURGE_TOKENS,
    S_ID_LIMIT_SET,
    S_COUNT
};

static const char *const SQL[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_SCHEMA_VERSION] = "SELECT version FROM schema_version",
    [S_TOKEN_PUT] =
        "INSERT INTO tokens(hash, role, user_id, expires, used) VALUES (?1, ?2, ?3, ?4, 0)",
    [S_TOKEN_GET] = "SELECT role, user_id, expires, used FROM tokens WHERE hash = ?1",
    [S_TOKEN_USE] = "UPDATE tokens SET used = 1 WHERE hash = ?1",
    [S_DEVICE_EXISTS] = "SELECT 1 FROM devices WHERE id = ?1",
    [S_DEVICE_INSERT] =
        "INSERT INTO devices(id, role, user_id, identity, created) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_DEVICE_GET] = "SELECT role, user_id, identity FROM devices WHERE id = ?1",
    [S_USER_DEVICES] =
        "SELECT id, role, user_id, identity FROM devices WHERE user_id = ?1 ORDER BY created, id",
    [S_SPK_PUT] = "INSERT OR REPLACE INTO signed_prekeys(device, spk) VALUES (?1, ?2)",
    [S_SPK_GET] = "SELECT spk FROM signed_prekeys WHERE device = ?1",
    [S_OTK_COUNT] = "SELECT count(*) FROM one_time_prekeys WHERE device = ?1",
    [S_OTK_EXISTS] = "SELECT 1 FROM one_time_prekeys WHERE device = ?1 AND id = ?2",
    [S_OTK_INSERT] = "INSERT INTO one_time_prekeys(device, id, pub) VALUES (?1, ?2, ?3)",
    [S_OTK_OLDEST] =
        "SELECT seq, id, pub FROM one_time_prekeys WHERE device = ?1 ORDER BY seq LIMIT 1",
    [S_OTK_DELETE] = "DELETE FROM one_time_prekeys WHERE seq = ?1",
    [S_BLOB_OWNER] = "SELECT owner FROM blobs WHERE id = ?1",
    [S_ENVELOPE_INSERT] = "INSERT INTO envelopes(sender, message_id, content, received, blob_ids,"
                          " refs) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_MESSAGE_INSERT] = "INSERT INTO messages(recipient, id, received, size, envelope)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_GRANT_INSERT] = "INSERT OR IGNORE INTO blob_grants(blob, device) VALUES (?1, ?2)",
    [S_FETCH] = "SELECT m.id, m.size, e.sender, e.message_id, e.content, m.received, e.blob_ids"
                " FROM messages m JOIN envelopes e ON e.id = m.envelope"
                " WHERE m.recipient = ?1 ORDER BY m.id LIMIT ?2",
    [S_MESSAGE_GET] = "SELECT envelope, size FROM messages WHERE recipient = ?2 AND id = ?1",
    [S_MESSAGE_DELETE] = "DELETE FROM messages WHERE recipient = ?2 AND id = ?1",
    [S_ENVELOPE_REFS] = "SELECT refs FROM envelopes WHERE id = ?1",
    [S_ENVELOPE_UNREF] = "UPDATE envelopes SET refs = refs - 1 WHERE id = ?1",
    [S_ENVELOPE_DELETE] = "DELETE FROM envelopes WHERE id = ?1",
    [S_BLOB_INSERT] =
        "INSERT INTO blobs(id, owner, size, created, path) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_BLOB_GET] = "SELECT owner, size, path FROM blobs WHERE id = ?1",
    [S_GRANT_GET] = "SELECT 1 FROM blob_grants WHERE blob = ?1 AND device = ?2",
    [S_PURGE_MESSAGES] = "SELECT id, recipient, size, envelope FROM messages"
                         " WHERE (recipient, id) > (?2, ?3) AND received < ?1"
                         " ORDER BY recipient, id LIMIT 1024",
    [S_PURGE_GRANTS] =
        "DELETE FROM blob_grants WHERE blob IN (SELECT id FROM blobs WHERE created < ?1)",
    [S_PURGE_BLOB_LIST] = "SELECT path FROM blobs WHERE created < ?1",
    [S_PURGE_BLOBS] = "DELETE FROM blobs WHERE created < ?1",
    [S_PURGE_TOKENS] = "DELETE FROM tokens WHERE used <> 0 OR expires <= ?1",
    [S_ID_LIMIT_SET] = "UPDATE counters SET value = ?1 WHERE name = 'message_id_limit'",
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    struct conn *next; /* free list of the read pool */
};

/* ------------------------------------------------------------------------
 * The store
 * ------------------------------------------------------------------------ */

struct wop;
typedef int (*wop_fn)(relay_store *st, struct wop *op);

/*
 * A queued operation. Lives on the waiting caller's stack, or, for an
 * asynchronous call, in its relay_store_op. `run` (may be NULL) writes
 * inside the group's transaction; `read` (may be NULL) runs on the writer
 * connection after the group committed, outside any transaction, so it
 * sees every committed write, including its own.
 *
 * Answering: a synchronous caller sleeps on `cv`; an asynchronous op has
 * `notify` instead (and no cv), called once, without the store's lock,
 * after which the store never touches the op again (its owner may free it
 * at once).
 */
struct wop {
    wop_fn run;
    wop_fn read;
    void *ctx;
    int rc;
    bool durable;             /* answer only after the WAL is fsynced */
    bool done;
    bool wrote;               /* set by run() once it has changed something */
    uint64_t stored, deleted; /* counter deltas, applied once committed */
    /* A read's largest message id handed out (0: none; UINT64_MAX until
     * the read says): see run_batch. */
    uint64_t seen_max;
    pthread_cond_t cv;
    relay_store_done_fn notify;
    void *notify_arg;
    struct wop *next;
};

/* Asynchronous ops answered under the lock, notified after unlocking. */
struct notify_list {
    struct wop *head, *tail;
};

struct relay_store {
    relay_limits limits;
    char *blob_dir;
    int blob_dirfd;

    struct conn writer; /* owned by the commit thread once it runs */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu; /* the queues, flags below, wop.done */
    pthread_cond_t wake;
    struct wop *head, *tail;   /* ops that write */
    struct wop *rhead, *rtail; /* ops that only read */
    bool stopping;
    bool sync_busy; /* committed ops wait for (or are in) an fsync */

    /* The sync thread: fdatasync of the WAL for committed durable ops. */
    int wal_fd;
    pthread_t sync_thread;
    bool sync_started;
    pthread_cond_t sync_wake;
    struct wop *sync_head, *sync_tail;
    bool sync_stopping;
    atomic_bool sync_failed; /* a WAL fdatasync failed: no more writes */

    struct conn readers[READ_POOL];
    struct conn *free_readers;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;

    _Atomic uint64_t commits, grouped_ops, messages_stored, messages_deleted, fsyncs, fsync_ns;
    /* The next message id, and the limit every id handed out in a committed
     * group is below (counters.message_id_limit, schema v3); next_id never
     * passes it once a group commits (try_batch raises it). The per-mailbox
     * quota counts. The commit thread's alone, once open. */
    sqlite3_int64 next_id, id_limit;
    relay_mbc *mbc;
    /* Under mu: the id limit of the last group committed, and the largest
     * limit known to be on disk (fsynced). Every id below durable_limit
     * is either on disk or will never be handed out again, even after a
     * crash (run_batch). */
    sqlite3_int64 limit_committed, durable_limit;

    /* Registered devices (see device_cache_get); dcache_key keys the slot choice. */
    struct device_slot *dcache;
    pthread_mutex_t dcache_mu[DEVICE_CACHE_LOCKS];
    bool dcache_mu_init;
    uint8_t dcache_key[crypto_shorthash_KEYBYTES];
};

/*
 * A device row is never changed or deleted once registered (no operation
 * does either), so a cached copy never goes stale. An operation that
 * changes or deletes devices must clear their slots after its commit.
 */
struct device_slot {
    bool used;
    relay_device dev;
};

struct relay_blob_writer {
    relay_store *st;
    uint8_t owner[RELAY_ID_BYTES];
    int fd;
    char *tmp_path;
    uint64_t size;
    int failed; /* 0, or the error every later call reports */
};

struct relay_blob_reader {
    int fd;
};

static const relay_limits DEFAULT_LIMITS = {
    .mailbox_max_messages = 10000,
    .mailbox_max_bytes = 64ULL << 20,
    .prekeys_max = 1000,
    .blob_max_bytes = 100ULL << 20,
    .ttl_seconds = 30ULL * 24 * 3600,
};

/* ------------------------------------------------------------------------
 * SQLite helpers
 * ------------------------------------------------------------------------ */

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return RELAY_OK;
    case SQLITE_NOMEM:
        return RELAY_E_NOMEM;
    case SQLITE_CONSTRAINT:
        return RELAY_E_CONFLICT;
    case SQLITE_TOOBIG:
        return RELAY_E_INVALID;
    default:
        return RELAY_E_IO;
    }
}

/* The cached statement `id` of `c`, prepared on first use; NULL on failure. */
static sqlite3_stmt *stmt(struct conn *c, enum sid id)
{
    if (c->stmt[id] == NULL &&
        sqlite3_prepare_v2(c->db, SQL[id], -1, &c->stmt[id], NULL) != SQLITE_OK) {
        c->stmt[id] = NULL;
        return NULL;
    }
    return c->stmt[id];
}

/* Resets a statement so it holds no snapshot, lock or bound pointer. */
static void done(sqlite3_stmt *s)
{
    if (s != NULL) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

static int bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
    if (n > INT_MAX)
        return SQLITE_TOOBIG;
    return sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
}

static int bind_text(sqlite3_stmt *s, int i, const char *p)
{
    size_t n = strlen(p);
    if (n > INT_MAX)
        return SQLITE_TOOBIG;
    return sqlite3_bind_text(s, i, p, (int)n, SQLITE_STATIC);
}

static int bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return SQLITE_TOOBIG;
    return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

static uint64_t col_u64(sqlite3_stmt *s, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(s, i);
    return v < 0 ? 0 : (uint64_t)v;
}

static size_t col_len(sqlite3_stmt *s, int i)
{
    int n = sqlite3_column_bytes(s, i);
    return n < 0 ? 0 : (size_t)n;
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT, ...). */
static int exec_stmt(struct conn *c, enum sid id)
{
    sqlite3_stmt *s = stmt(c, id);
    if (s == NULL)
        return RELAY_E_IO;
    int rc = sqlite3_step(s);
    done(s);
    return rc == SQLITE_DONE ? RELAY_OK : map_sqlite(rc);
}

/* Steps a statement once; RELAY_OK with *row set, or an error. */
static int step(sqlite3_stmt *s, bool *row)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *row = true;
        return RELAY_OK;
    }
    *row = false;
    return rc == SQLITE_DONE ? RELAY_OK : map_sqlite(rc);
}

/* Steps a write statement of op; a statement that fails changes nothing. */
static int wstep(struct wop *op, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return map_sqlite(rc);
    op->wrote = true;
    return RELAY_OK;
}

/* Whether a row exists for a statement with one 32-byte key parameter. */
static int exists_by_id(struct conn *c, enum sid id, const uint8_t key[RELAY_ID_BYTES], bool *yes)
{
    sqlite3_stmt *s = stmt(c, id);
    if (s == NULL)
        return RELAY_E_IO;
    int rc = map_sqlite(bind_blob(s, 1, key, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = step(s, yes);
    done(s);
    return rc;
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(c->stmt[i]);
        c->stmt[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    return map_sqlite(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/*
 * Opens and keys one connection. key_sql is the full "PRAGMA key" statement
 * (the caller wipes it). A wrong key or a file that is not a database shows
 * up as the first read of sqlite_master failing: RELAY_E_IO.
 */
static int conn_open(struct conn *c, const char *path, const char *key_sql, bool writer)
{
    memset(c, 0, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK)
        goto fail;
    if (exec_sql(c->db, key_sql) != RELAY_OK ||
        exec_sql(c->db, "PRAGMA cipher_page_size = " CIPHER_PAGE_SIZE) != RELAY_OK ||
        exec_sql(c->db, "SELECT count(*) FROM sqlite_master") != RELAY_OK ||
        sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto fail;
    if (writer) {
        sqlite3_stmt *s = NULL;
        bool wal = false;
        if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(s, 0);
            wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
        }
        sqlite3_finalize(s);
        /*
         * synchronous=NORMAL: SQLite syncs the WAL before each checkpoint
         * and when it restarts the WAL, but not at each commit; the sync
         * thread fdatasyncs the WAL after each commit instead (the same
         * guarantee as FULL, see sync_thread), so the commit thread need
         * not wait for it.
         * cache_size: the writer keeps the hot B-tree pages decrypted.
         * temp_store: savepoint journals stay in memory. wal_autocheckpoint:
         * checkpointing in the commit thread lets the next commit restart
         * the WAL from its start; an fdatasync that only overwrites the WAL
         * measured ~0.4 ms here, one that grows it ~3.5 ms. (A checkpointer
         * thread beside a continuous stream of commits would never find the
         * WAL fully copied, so it could not restart and would keep
         * growing.) Every 8192 pages (a WAL of 32 MiB): a checkpoint stalls
         * the commit thread for its two fsyncs and copies each page once
         * however often the WAL holds it, so rarer checkpoints cost less
         * per write; under relay-load the store's CPU per send fell from
         * ~52 to ~44 us against 1000 pages.
         */
        if (!wal || exec_sql(c->db, "PRAGMA synchronous = NORMAL") != RELAY_OK ||
            exec_sql(c->db, "PRAGMA cache_size = -65536") != RELAY_OK ||
            exec_sql(c->db, "PRAGMA temp_store = MEMORY") != RELAY_OK ||
            exec_sql(c->db, "PRAGMA wal_autocheckpoint = 8192") != RELAY_OK ||
            exec_sql(c->db, "PRAGMA foreign_keys = ON") != RELAY_OK)
            goto fail;
    } else if (exec_sql(c->db, "PRAGMA query_only = 1") != RELAY_OK) {
        goto fail;
    }
    return RELAY_OK;
fail:
    conn_close(c);
    return RELAY_E_IO;
}

static struct conn *reader_get(relay_store *st)
{
    pthread_mutex_lock(&st->rmu);
    while (st->free_readers == NULL)
        pthread_cond_wait(&st->rcv, &st->rmu);
    struct conn *c = st->free_readers;
    st->free_readers = c->next;
    pthread_mutex_unlock(&st->rmu);
    return c;
}

static void reader_put(relay_store *st, struct conn *c)
{
    pthread_mutex_lock(&st->rmu);
    c->next = st->free_readers;
    st->free_readers = c;
    pthread_cond_signal(&st->rcv);
    pthread_mutex_unlock(&st->rmu);
}

/* ------------------------------------------------------------------------
 * Device cache
 * ------------------------------------------------------------------------ */

static size_t device_slot_of(const relay_store *st, const uint8_t id[RELAY_ID_BYTES])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, id, RELAY_ID_BYTES, st->dcache_key);
    memcpy(&v, h, sizeof v);
    return (size_t)(v % DEVICE_CACHE_SLOTS);
}

static bool device_cache_get(relay_store *st, const uint8_t id[RELAY_ID_BYTES], relay_device *out)
{
    size_t k = device_slot_of(st, id);
    pthread_mutex_t *mu = &st->dcache_mu[k % DEVICE_CACHE_LOCKS];
    bool hit = false;
    pthread_mutex_lock(mu);
    if (st->dcache[k].used && memcmp(st->dcache[k].dev.id, id, RELAY_ID_BYTES) == 0) {
        *out = st->dcache[k].dev;
        hit = true;
    }
    pthread_mutex_unlock(mu);
    return hit;
}

/* Only for a device that is committed (it then never changes). */
static void device_cache_put(relay_store *st, const relay_device *dev)
{
    size_t k = device_slot_of(st, dev->id);
    pthread_mutex_t *mu = &st->dcache_mu[k % DEVICE_CACHE_LOCKS];
    pthread_mutex_lock(mu);
    st->dcache[k].used = true;
    st->dcache[k].dev = *dev;
    pthread_mutex_unlock(mu);
}

/* Brings the schema to SCHEMA_LATEST in one transaction. */
static int migrate(struct conn *w)
{
    sqlite3 *db = w->db;
    sqlite3_stmt *s = NULL;
    uint32_t version = 0;
    bool have_row = false;
    int rc = exec_sql(db, "BEGIN IMMEDIATE");
    if (rc != RELAY_OK)
        return rc;
    rc = exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    if (rc != RELAY_OK)
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &s, NULL) != SQLITE_OK) {
        rc = RELAY_E_IO;
        goto out;
    }
    rc = step(s, &have_row);
    if (rc == RELAY_OK && have_row) {
        sqlite3_int64 v = sqlite3_column_int64(s, 0);
        if (v < 0 || v > (sqlite3_int64)UINT32_MAX)
            rc = RELAY_E_IO;
        else
            version = (uint32_t)v;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (rc != RELAY_OK)
        goto out;
    if (!have_row && (rc = exec_sql(db, "INSERT INTO schema_version(version) VALUES (0)")) != 0)
        goto out;
    if (version > SCHEMA_LATEST) { /* written by a newer relay */
        rc = RELAY_E_IO;
        goto out;
    }
    for (uint32_t v = version; v < SCHEMA_LATEST; v++) {
        if ((rc = exec_sql(db, MIGRATIONS[v])) != RELAY_OK)
            goto out;
        if (sqlite3_prepare_v2(db, "UPDATE schema_version SET version = ?1", -1, &s, NULL) !=
            SQLITE_OK) {
            rc = RELAY_E_IO;
            goto out;
        }
        sqlite3_bind_int64(s, 1, (sqlite3_int64)v + 1);
        rc = sqlite3_step(s) == SQLITE_DONE ? RELAY_OK : RELAY_E_IO;
        sqlite3_finalize(s);
        s = NULL;
        if (rc != RELAY_OK)
            goto out;
    }
    rc = exec_sql(db, "COMMIT");
out:
    if (rc != RELAY_OK && !sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK");
    return rc;
}

/* Message ids continue above every id ever committed (see MIGRATE_V1_V2). */
/*
 * Schema v3's derived state, at open: the id limit and the per-mailbox
 * counts (one scan of messages, in key order). Ids continue at the limit,
 * or above every stored id should a file not keep the invariant.
 */
static int load_counts(relay_store *st)
{
    sqlite3 *db = st->writer.db;
    sqlite3_stmt *s = NULL;
    bool row = false;
    int rc = RELAY_E_IO;
    if ((st->mbc = relay_mbc_new()) == NULL)
        return RELAY_E_NOMEM;
    if (sqlite3_prepare_v2(db, "SELECT value FROM counters WHERE name = 'message_id_limit'", -1,
                           &s, NULL) != SQLITE_OK)
        goto out;
    if ((rc = step(s, &row)) != RELAY_OK)
        goto out;
    rc = RELAY_E_IO;
    sqlite3_int64 limit = row ? sqlite3_column_int64(s, 0) : 0;
    if (limit < 1)
        goto out;
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT recipient, count(*), sum(size), max(id) FROM messages"
                           " GROUP BY recipient",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    for (;;) {
        if ((rc = step(s, &row)) != RELAY_OK || !row)
            break;
        rc = RELAY_E_IO;
        sqlite3_int64 n = sqlite3_column_int64(s, 1), bytes = sqlite3_column_int64(s, 2),
                      max_id = sqlite3_column_int64(s, 3);
        if (col_len(s, 0) != RELAY_ID_BYTES || n < 1 || bytes < 0 || max_id < 0 ||
            max_id == INT64_MAX)
            goto out;
        if (max_id >= limit)
            limit = max_id + 1;
        if (relay_mbc_reserve(st->mbc, 1) != 0) {
            rc = RELAY_E_NOMEM;
            goto out;
        }
        relay_mbc_add(st->mbc, sqlite3_column_blob(s, 0), n, bytes);
    }
    relay_mbc_commit(st->mbc);
    st->next_id = st->id_limit = limit;
out:
    sqlite3_finalize(s);
    return rc;
}

/* ------------------------------------------------------------------------
 * Group commit
 * ------------------------------------------------------------------------ */

/*
 * Runs the batch's writes in one transaction and commits it. With
 * `savepoints`, each op runs inside its own savepoint. Without, an op that
 * fails before its first write has changed nothing and needs no undo; one
 * that fails after writing cannot be undone alone, so the transaction is
 * rolled back and false returned: the caller runs the batch again with
 * savepoints. Ops without `run` (pure reads) are skipped.
 *
 * Why not always savepoints: sqlcipher 3.4 (SQLite 3.15) encrypts every
 * page it copies into the savepoint's sub-journal, even in memory, which
 * made a savepoint cost ~150 us per op, several times the op itself. Ops
 * therefore check everything they can before writing.
 *
 * *lost: the transaction is gone (I/O error, full disk, failed COMMIT);
 * every op that had succeeded is then reported as RELAY_E_IO.
 *
 * COMMIT writes the group's frames to the WAL without syncing it
 * (synchronous=NORMAL); the sync thread makes them durable.
 */
static bool try_batch(relay_store *st, struct wop *batch, bool savepoints, bool *lost)
{
    struct conn *w = &st->writer;
    *lost = exec_stmt(w, S_BEGIN) != RELAY_OK;
    for (struct wop *op = batch; op != NULL; op = op->next) {
        op->wrote = false;
        op->stored = op->deleted = 0;
        if (op->run == NULL) {
            op->rc = RELAY_OK;
            continue;
        }
        if (*lost) {
            op->rc = RELAY_E_IO;
            continue;
        }
        /* A failed op takes back its mailbox counts with its writes. */
        size_t mark = relay_mbc_mark(st->mbc);
        if (savepoints && exec_stmt(w, S_SAVEPOINT) != RELAY_OK) {
            op->rc = RELAY_E_IO;
        } else {
            op->rc = op->run(st, op);
            if (op->rc != RELAY_OK)
                relay_mbc_undo_to(st->mbc, mark);
            if (savepoints) {
                /* Releasing a savepoint that failed to roll back would keep
                 * the failed op's half-done changes: give up the batch. */
                if (op->rc != RELAY_OK && exec_stmt(w, S_ROLLBACK_TO) != RELAY_OK)
                    *lost = true;
                else if (exec_stmt(w, S_RELEASE) != RELAY_OK && op->rc == RELAY_OK)
                    op->rc = RELAY_E_IO;
            } else if (op->rc != RELAY_OK && op->wrote) {
                if (!sqlite3_get_autocommit(w->db))
                    exec_stmt(w, S_ROLLBACK);
                relay_mbc_undo_to(st->mbc, 0);
                return false;
            }
        }
        /* Some errors (I/O, full disk) make SQLite roll back everything. */
        if (sqlite3_get_autocommit(w->db))
            *lost = true;
    }
    /* Every id this group handed out must be below the recorded limit. */
    sqlite3_int64 limit = st->id_limit;
    if (!*lost && st->next_id > st->id_limit) {
        sqlite3_int64 block = st->limits.id_block != 0 && st->limits.id_block <= (uint64_t)ID_BLOCK
                                  ? (sqlite3_int64)st->limits.id_block
                                  : ID_BLOCK;
        limit = st->next_id > INT64_MAX - block ? INT64_MAX : st->next_id + block;
        sqlite3_stmt *s = stmt(w, S_ID_LIMIT_SET);
        if (s == NULL || sqlite3_bind_int64(s, 1, limit) != SQLITE_OK ||
            sqlite3_step(s) != SQLITE_DONE || sqlite3_changes(w->db) != 1)
            *lost = true;
        done(s);
    }
    if (!*lost && exec_stmt(w, S_COMMIT) != RELAY_OK)
        *lost = true;
    if (*lost && !sqlite3_get_autocommit(w->db))
        exec_stmt(w, S_ROLLBACK);
    if (*lost) {
        relay_mbc_undo_to(st->mbc, 0);
    } else {
        relay_mbc_commit(st->mbc);
        st->id_limit = limit;
    }
    return true;
}

/* Lock held. An asynchronous op goes on `later`, for notify_all. */
static void wake_op(struct wop *op, struct notify_list *later)
{
    op->done = true;
    if (op->notify == NULL) {
        pthread_cond_signal(&op->cv);
        return;
    }
    op->next = NULL;
    if (later->tail != NULL)
        later->tail->next = op;
    else
        later->head = op;
    later->tail = op;
}

/* Lock not held. Each op may be freed by its owner once notified. */
static void notify_all(struct notify_list *later)
{
    for (struct wop *op = later->head, *next; op != NULL; op = next) {
        next = op->next;
        op->notify(op->notify_arg);
    }
}

static void run_batch(relay_store *st, struct wop *batch)
{
    bool lost = false, writes = false;
    uint64_t n_ops = 0;
    for (struct wop *op = batch; op != NULL; op = op->next) {
        n_ops += op->run != NULL;
        writes = writes || op->run != NULL;
    }
    /* After a failed WAL fsync nothing more is written, also not what was
     * queued before the failure was seen: it could never be made durable. */
    if (writes && atomic_load(&st->sync_failed))
        lost = true;
    else if (writes && !try_batch(st, batch, false, &lost))
        try_batch(st, batch, true, &lost);

    uint64_t stored = 0, deleted = 0;
    for (struct wop *op = batch; op != NULL; op = op->next) {
        if (op->run == NULL) {
            op->rc = RELAY_OK;
            op->wrote = false;
        } else if (lost && op->rc == RELAY_OK) {
            op->rc = RELAY_E_IO;
        }
        if (op->rc == RELAY_OK) {
            stored += op->stored;
            deleted += op->deleted;
        }
    }
    if (writes && !lost) {
        atomic_fetch_add_explicit(&st->commits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->grouped_ops, n_ops, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->messages_stored, stored, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->messages_deleted, deleted, memory_order_relaxed);
    }
    /*
     * Reads see the committed group: the writer's page cache is warm, so
     * this costs no decryption, unlike a pooled reader after a commit. All
     * of them share one read transaction (one snapshot, and one round of
     * WAL read locks instead of one per statement).
     */
    size_t n_reads = 0;
    for (struct wop *op = batch; op != NULL; op = op->next)
        n_reads += op->read != NULL && op->rc == RELAY_OK;
    bool read_txn = n_reads > 1 && exec_stmt(&st->writer, S_BEGIN_READ) == RELAY_OK;
    for (struct wop *op = batch; op != NULL; op = op->next)
        if (op->read != NULL && op->rc == RELAY_OK)
            op->rc = op->read(st, op);
    if (read_txn && exec_stmt(&st->writer, S_COMMIT) != RELAY_OK && !sqlite3_get_autocommit(st->writer.db))
        exec_stmt(&st->writer, S_ROLLBACK);

    /*
     * A successful durable op waits for the sync thread. A fetch must
     * never hand out a message whose id a crash could give to another
     * message, or the recipient's stale ack would delete that one. After a
     * crash ids continue at the id limit on disk, so an id below
     * durable_limit is never handed out again, whether or not its message
     * survived: a fetch whose ids are all below it is answered now (nearly
     * every fetch: the limit moves once per ID_BLOCK ids). One that handed
     * out a higher id waits, while anything it may have seen is not yet
     * fsynced (this group's writes, or a group in the sync thread), for
     * the fsync that makes the raised limit durable. A message answered
     * early may still be lost in a crash of the machine; its sender got no
     * 2xx for it (sends wait for the fsync) and sends it again, and the
     * recipient drops the copy by its message id. Everything else is
     * answered now. A waiter returns (and its op leaves the stack) only
     * after we unlock.
     */
    bool to_sync = false;
    struct notify_list later = {NULL, NULL};
    pthread_mutex_lock(&st->mu);
    bool unsynced = (writes && !lost) || st->sync_busy;
    if (writes && !lost)
        st->limit_committed = st->id_limit;
    for (struct wop *op = batch, *next; op != NULL; op = next) {
        next = op->next;
        bool early = op->read != NULL && op->seen_max < (uint64_t)st->durable_limit;
        if (op->rc == RELAY_OK && (op->durable || (op->read != NULL && unsynced && !early))) {
            op->next = NULL;
            if (st->sync_tail != NULL)
                st->sync_tail->next = op;
            else
                st->sync_head = op;
            st->sync_tail = op;
            to_sync = true;
        } else {
            wake_op(op, &later);
        }
    }
    if (to_sync) {
        st->sync_busy = true;
        pthread_cond_signal(&st->sync_wake);
    }
    pthread_mutex_unlock(&st->mu);
    notify_all(&later);
}

/*
 * Takes every queued op as one group, commits it and hands it to the sync
 * thread, then takes the next group at once: commits overlap the previous
 * group's fsync (a group committed while an fsync runs joins the next
 * one). Writes queue up while a commit runs, which is what makes groups
 * large: a commit costs far more than an op (every dirty page is
 * encrypted, authenticated and written once per commit). Waiting for each
 * fsync before the next commit, as this thread once did, left the CPUs
 * idle while the disk flushed and made the commit thread the bottleneck.
 */
static void *commit_thread(void *arg)
{
    relay_store *st = arg;
    prctl(PR_SET_NAME, "store-commit", 0, 0, 0); /* for top -H, perf and relay-load */
    pthread_mutex_lock(&st->mu);
    for (;;) {
        bool can_write = st->head != NULL;
        if (!can_write && st->rhead == NULL) {
            if (st->stopping && st->head == NULL && !st->sync_busy)
                break; /* drained */
            pthread_cond_wait(&st->wake, &st->mu);
            continue;
        }
        struct wop *batch = NULL, **end = &batch;
        if (can_write) {
            batch = st->head;
            end = &st->tail->next;
            st->head = st->tail = NULL;
        }
        *end = st->rhead;
        st->rhead = st->rtail = NULL;
        pthread_mutex_unlock(&st->mu);
        run_batch(st, batch);
        pthread_mutex_lock(&st->mu);
    }
    st->sync_stopping = true;
    pthread_cond_signal(&st->sync_wake);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/*
 * Makes committed groups durable: takes every op queued since the last
 * round, fdatasyncs the WAL once (the ops' frames were written before they
 * were queued, so this covers them; frames of later groups may ride
 * along), then answers them. While it syncs, the commit thread goes on
 * with the next group, so a group never waits for the previous fsync.
 *
 * A failed fdatasync may have dropped the dirty pages it could not write,
 * so a later one succeeding proves nothing: the ops get RELAY_E_IO and the
 * store refuses every later write.
 */
static void *sync_thread(void *arg)
{
    relay_store *st = arg;
    prctl(PR_SET_NAME, "store-sync", 0, 0, 0);
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (st->sync_head == NULL && !st->sync_stopping)
            pthread_cond_wait(&st->sync_wake, &st->mu);
        struct wop *list = st->sync_head;
        st->sync_head = st->sync_tail = NULL;
        /* This fsync covers every group committed so far. */
        sqlite3_int64 covers = st->limit_committed;
        pthread_mutex_unlock(&st->mu);
        if (list == NULL)
            return NULL; /* stopping, and every committed op is answered */

        int r;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            r = fdatasync(st->wal_fd);
        while (r != 0 && errno == EINTR);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
        atomic_fetch_add_explicit(&st->fsyncs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->fsync_ns, ns > 0 ? (uint64_t)ns : 0, memory_order_relaxed);
        if (r != 0)
            atomic_store(&st->sync_failed, true);
        bool failed = atomic_load(&st->sync_failed);

        struct notify_list later = {NULL, NULL};
        pthread_mutex_lock(&st->mu);
        if (!failed && covers > st->durable_limit)
            st->durable_limit = covers;
        for (struct wop *op = list, *next; op != NULL; op = next) {
            next = op->next;
            if (failed)
                op->rc = RELAY_E_IO;
            wake_op(op, &later);
        }
        if (st->sync_head == NULL) {
            st->sync_busy = false;
            pthread_cond_signal(&st->wake);
        }
        pthread_mutex_unlock(&st->mu);
        notify_all(&later);
    }
}

static void op_init(struct wop *op, wop_fn run, wop_fn read, bool durable, void *ctx)
{
    memset(op, 0, sizeof *op);
    op->run = run;
    op->read = read;
    op->durable = durable;
    op->ctx = ctx;
    op->rc = RELAY_E_IO;
    op->seen_max = UINT64_MAX;
}

/* Lock held: queues op for the commit thread, unless the store is stopping. */
static int enqueue(relay_store *st, struct wop *op)
{
    if (st->stopping)
        return RELAY_E_IO;
    struct wop **head = op->run != NULL ? &st->head : &st->rhead;
    struct wop **tail = op->run != NULL ? &st->tail : &st->rtail;
    if (*tail != NULL)
        (*tail)->next = op;
    else
        *head = op;
    *tail = op;
    pthread_cond_signal(&st->wake);
    return RELAY_OK;
}

/*
 * Queues op and waits until it is answered: committed and, if durable,
 * fsynced (or failed).
 */
static int submit_op(relay_store *st, wop_fn run, wop_fn read, bool durable, void *ctx,
                     struct wop *op)
{
    op_init(op, run, read, durable, ctx);
    if (run != NULL && atomic_load(&st->sync_failed))
        return RELAY_E_IO;
    if (pthread_cond_init(&op->cv, NULL) != 0)
        return RELAY_E_NOMEM;
    pthread_mutex_lock(&st->mu);
    int rc = enqueue(st, op);
    while (rc == RELAY_OK && !op->done)
        pthread_cond_wait(&op->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    pthread_cond_destroy(&op->cv);
    return rc == RELAY_OK ? op->rc : rc;
}

/* Queues an initialised op whose answer is op->notify; it is not waited for. */
static int submit_async(relay_store *st, struct wop *op)
{
    if (op->run != NULL && atomic_load(&st->sync_failed))
        return RELAY_E_IO;
    pthread_mutex_lock(&st->mu);
    int rc = enqueue(st, op);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* A durable write: answered once committed and fsynced. */
static int submit(relay_store *st, wop_fn run, void *ctx, struct wop *op)
{
    return submit_op(st, run, NULL, true, ctx, op);
}

/* ------------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------------ */

static int fsync_dir(relay_store *st)
{
    return fsync(st->blob_dirfd) == 0 ? RELAY_OK : RELAY_E_IO;
}

/* Removes temporary blob files left behind by a crash. */
static void remove_stale_tmp(relay_store *st)
{
    DIR *d = opendir(st->blob_dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
            unlinkat(st->blob_dirfd, e->d_name, 0);
    }
    closedir(d);
}

static void device_cache_free(relay_store *st)
{
    if (st->dcache_mu_init)
        for (size_t i = 0; i < DEVICE_CACHE_LOCKS; i++)
            pthread_mutex_destroy(&st->dcache_mu[i]);
    free(st->dcache);
    st->dcache = NULL;
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/*
 * Opens the WAL for the sync thread's fdatasync. The writer created it (in
 * WAL mode the file stays until the last connection closes, and it is
 * never truncated: journal_size_limit is off), so this descriptor names
 * the file SQLite writes. The directory is synced once so that the WAL's
 * name is durable too (SQLite would do that on its first sync).
 */
static int open_wal(relay_store *st, const char *path)
{
    char *wal = concat(path, "-wal");
    if (wal == NULL)
        return RELAY_E_NOMEM;
    st->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    free(wal);
    if (st->wal_fd < 0)
        return RELAY_E_IO;
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = slash == NULL ? concat(".", "") : strndup(path, dir_len);
    if (dir == NULL)
        return RELAY_E_NOMEM;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dfd < 0)
        return RELAY_E_IO;
    int r = fsync(dfd);
    close(dfd);
    return r == 0 ? RELAY_OK : RELAY_E_IO;
}

int relay_store_open(relay_store **out, const char *path, const uint8_t key[32],
                     const relay_limits *limits)
{
    /* "PRAGMA key = \"x'" + 64 hex + "'\"" */
    char key_sql[sizeof "PRAGMA key = \"x''\"" + 64];
    relay_store *st = NULL;
    int rc = RELAY_E_INVALID;
    size_t n_readers = 0;
    bool mu_init = false, rmu_init = false;

    if (out == NULL || path == NULL || key == NULL || path[0] == '\0')
        return RELAY_E_INVALID;
    *out = NULL;
    if (sodium_init() < 0)
        return RELAY_E_IO;

    rc = RELAY_E_NOMEM;
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return rc;
    st->blob_dirfd = -1;
    st->wal_fd = -1;
    atomic_init(&st->sync_failed, false);
    st->limits = limits != NULL ? *limits : DEFAULT_LIMITS;
    atomic_init(&st->commits, 0);
    atomic_init(&st->grouped_ops, 0);
    atomic_init(&st->messages_stored, 0);
    atomic_init(&st->messages_deleted, 0);
    atomic_init(&st->fsyncs, 0);
    atomic_init(&st->fsync_ns, 0);
    if (pthread_mutex_init(&st->mu, NULL) != 0)
        goto out;
    if (pthread_cond_init(&st->wake, NULL) != 0) {
        pthread_mutex_destroy(&st->mu);
        goto out;
    }
    if (pthread_cond_init(&st->sync_wake, NULL) != 0) {
        pthread_cond_destroy(&st->wake);
        pthread_mutex_destroy(&st->mu);
        goto out;
    }
    mu_init = true;
    if (pthread_mutex_init(&st->rmu, NULL) != 0)
        goto out;
    if (pthread_cond_init(&st->rcv, NULL) != 0) {
        pthread_mutex_destroy(&st->rmu);
        goto out;
    }
    rmu_init = true;
    if ((st->dcache = calloc(DEVICE_CACHE_SLOTS, sizeof *st->dcache)) == NULL)
        goto out;
    for (size_t i = 0; i < DEVICE_CACHE_LOCKS; i++)
        pthread_mutex_init(&st->dcache_mu[i], NULL);
    st->dcache_mu_init = true;
    randombytes_buf(st->dcache_key, sizeof st->dcache_key);

    if ((st->blob_dir = concat(path, ".blobs")) == NULL)
        goto out;
    rc = RELAY_E_IO;
    if (mkdir(st->blob_dir, 0700) != 0 && errno != EEXIST)
        goto out;
    st->blob_dirfd = open(st->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->blob_dirfd < 0)
        goto out;
    remove_stale_tmp(st);

    /* Create the file ourselves so that it (and its -wal, -shm) is 0600. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    close(fd);

    memcpy(key_sql, "PRAGMA key = \"x'", 16);
    sodium_bin2hex(key_sql + 16, 65, key, 32);
    memcpy(key_sql + 16 + 64, "'\"", 3);

    if ((rc = conn_open(&st->writer, path, key_sql, true)) != RELAY_OK)
        goto out;
    if ((rc = migrate(&st->writer)) != RELAY_OK)
        goto out;
    if ((rc = load_counts(st)) != RELAY_OK)
        goto out;
    if ((rc = open_wal(st, path)) != RELAY_OK)
        goto out;
    /* What this open read may still be in the page cache only (written
     * before a crash of the process, not of the machine): make it durable,
     * so that the id limit just read is on disk. */
    if (fdatasync(st->wal_fd) != 0) {
        rc = RELAY_E_IO;
        goto out;
    }
    st->limit_committed = st->durable_limit = st->id_limit;
    for (n_readers = 0; n_readers < READ_POOL; n_readers++) {
        if ((rc = conn_open(&st->readers[n_readers], path, key_sql, false)) != RELAY_OK)
            goto out;
        st->readers[n_readers].next = st->free_readers;
        st->free_readers = &st->readers[n_readers];
    }
    if (pthread_create(&st->sync_thread, NULL, sync_thread, st) != 0) {
        rc = RELAY_E_NOMEM;
        goto out;
    }
    st->sync_started = true;
    if (pthread_create(&st->thread, NULL, commit_thread, st) != 0) {
        rc = RELAY_E_NOMEM;
        goto out;
    }
    st->thread_started = true;
    rc = RELAY_OK;
out:
    sodium_memzero(key_sql, sizeof key_sql);
    if (rc != RELAY_OK) {
        if (st->sync_started) {
            pthread_mutex_lock(&st->mu);
            st->sync_stopping = true;
            pthread_cond_signal(&st->sync_wake);
            pthread_mutex_unlock(&st->mu);
            pthread_join(st->sync_thread, NULL);
        }
        if (st->wal_fd >= 0)
            close(st->wal_fd);
        for (size_t i = 0; i < n_readers; i++)
            conn_close(&st->readers[i]);
        conn_close(&st->writer);
        if (st->blob_dirfd >= 0)
            close(st->blob_dirfd);
        free(st->blob_dir);
        if (mu_init) {
            pthread_cond_destroy(&st->sync_wake);
            pthread_cond_destroy(&st->wake);
            pthread_mutex_destroy(&st->mu);
        }
        if (rmu_init) {
            pthread_cond_destroy(&st->rcv);
            pthread_mutex_destroy(&st->rmu);
        }
        device_cache_free(st);
        relay_mbc_free(st->mbc);
        free(st);
        return rc;
    }
    *out = st;
    return RELAY_OK;
}

void relay_store_close(relay_store *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->mu);
    if (st->thread_started)
        pthread_join(st->thread, NULL); /* it stops the sync thread last */
    if (st->sync_started)
        pthread_join(st->sync_thread, NULL);
    close(st->wal_fd);
    for (size_t i = 0; i < READ_POOL; i++)
        conn_close(&st->readers[i]);
    conn_close(&st->writer);
    close(st->blob_dirfd);
    free(st->blob_dir);
    pthread_cond_destroy(&st->sync_wake);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->rcv);
    pthread_mutex_destroy(&st->rmu);
    device_cache_free(st);
    relay_mbc_free(st->mbc);
    free(st);
}

int relay_store_schema_version(relay_store *st, uint32_t *version)
{
    if (st == NULL || version == NULL)
        return RELAY_E_INVALID;
    struct conn *c = reader_get(st);
    sqlite3_stmt *s = stmt(c, S_SCHEMA_VERSION);
    bool row = false;
    int rc = s == NULL ? RELAY_E_IO : step(s, &row);
    if (rc == RELAY_OK && !row)
        rc = RELAY_E_IO;
    if (rc == RELAY_OK) {
        sqlite3_int64 v = sqlite3_column_int64(s, 0);
        if (v < 0 || v > (sqlite3_int64)UINT32_MAX)
            rc = RELAY_E_IO;
        else
            *version = (uint32_t)v;
    }
    done(s);
    reader_put(st, c);
    return rc;
}

/* ------------------------------------------------------------------------
 * Tokens and devices
 * ------------------------------------------------------------------------ */

struct token_put_ctx {
    const uint8_t *hash;
    uint32_t role;
    const char *user_id;
    uint64_t expires;
};

static int run_token_put(relay_store *st, struct wop *op)
{
    struct token_put_ctx *c = op->ctx;
    sqlite3_stmt *s = stmt(&st->writer, S_TOKEN_PUT);
    if (s == NULL)
        return RELAY_E_IO;
    int rc = map_sqlite(bind_blob(s, 1, c->hash, 32));
    if (rc == RELAY_OK)
        rc = map_sqlite(sqlite3_bind_int64(s, 2, c->role));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_text(s, 3, c->user_id));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_u64(s, 4, c->expires));
    if (rc == RELAY_OK)
        rc = map_sqlite(sqlite3_step(s)); /* CONSTRAINT: the hash exists */
    done(s);
    return rc;
}

int relay_store_token_put(relay_store *st, const uint8_t token_hash[32], uint32_t role,
                          const char *user_id, uint64_t expires)
{
    if (st == NULL || token_hash == NULL || user_id == NULL ||
        strlen(user_id) > RELAY_USER_ID_MAX || expires > (uint64_t)INT64_MAX)
        return RELAY_E_INVALID;
    struct token_put_ctx c = {token_hash, role, user_id, expires};
    struct wop op;
    return submit(st, run_token_put, &c, &op);
}

struct register_ctx {
    const uint8_t *hash;
    const relay_device *dev;
    uint64_t now;
    uint32_t role;                       /* out */
    char user_id[RELAY_USER_ID_MAX + 1]; /* out */
};

static int run_register(relay_store *st, struct wop *op)
{
    struct register_ctx *c = op->ctx;
    struct conn *w = &st->writer;
    bool row = false;

    sqlite3_stmt *s = stmt(w, S_TOKEN_GET);
    if (s == NULL)
        return RELAY_E_IO;
    int rc = map_sqlite(bind_blob(s, 1, c->hash, 32));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK && !row)
        rc = RELAY_E_NOTFOUND;
    if (rc == RELAY_OK) {
        sqlite3_int64 role = sqlite3_column_int64(s, 0);
        const unsigned char *uid = sqlite3_column_text(s, 1);
        size_t uid_len = col_len(s, 1);
        if (sqlite3_column_int64(s, 3) != 0 || c->now >= col_u64(s, 2))
            rc = RELAY_E_CONFLICT;
        else if (role < 0 || role > (sqlite3_int64)UINT32_MAX || uid == NULL ||
                 uid_len > RELAY_USER_ID_MAX)
            rc = RELAY_E_IO;
        else {
            c->role = (uint32_t)role;
            memcpy(c->user_id, uid, uid_len);
            c->user_id[uid_len] = '\0';
        }
    }
    done(s);
    if (rc != RELAY_OK)
        return rc;

    if ((rc = exists_by_id(w, S_DEVICE_EXISTS, c->dev->id, &row)) != RELAY_OK)
        return rc;
    if (row)
        return RELAY_E_CONFLICT;

    if ((s = stmt(w, S_TOKEN_USE)) == NULL)
        return RELAY_E_IO;
    rc = map_sqlite(bind_blob(s, 1, c->hash, 32));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    if (rc != RELAY_OK)
        return rc;

    if ((s = stmt(w, S_DEVICE_INSERT)) == NULL)
        return RELAY_E_IO;
    rc = map_sqlite(bind_blob(s, 1, c->dev->id, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = map_sqlite(sqlite3_bind_int64(s, 2, c->role));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_text(s, 3, c->user_id));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_blob(s, 4, c->dev->identity, c->dev->identity_len));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_u64(s, 5, c->now));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    return rc;
}

int relay_store_register(relay_store *st, const uint8_t token_hash[32], relay_device *dev,
                         uint64_t now)
{
    if (st == NULL || token_hash == NULL || dev == NULL ||
        dev->identity_len > sizeof dev->identity || now > (uint64_t)INT64_MAX)
        return RELAY_E_INVALID;
    struct register_ctx c = {.hash = token_hash, .dev = dev, .now = now};
    struct wop op;
    int rc = submit(st, run_register, &c, &op);
    if (rc == RELAY_OK) {
        dev->role = c.role;
        memcpy(dev->user_id, c.user_id, sizeof dev->user_id);
        device_cache_put(st, dev);
    }
    return rc;
}

/* Fills `d` from columns (id?, role, user_id, identity) starting at `col`. */
static int device_from_row(sqlite3_stmt *s, int col, relay_device *d)
{
    sqlite3_int64 role = sqlite3_column_int64(s, col);
    const unsigned char *uid = sqlite3_column_text(s, col + 1);
    size_t uid_len = col_len(s, col + 1);
    const void *ident = sqlite3_column_blob(s, col + 2);
    size_t ident_len = col_len(s, col + 2);
    if (role < 0 || role > (sqlite3_int64)UINT32_MAX || uid == NULL ||
        uid_len > RELAY_USER_ID_MAX || ident_len > sizeof d->identity ||
        (ident == NULL && ident_len != 0))
        return RELAY_E_IO;
    d->role = (uint32_t)role;
    memcpy(d->user_id, uid, uid_len);
    d->user_id[uid_len] = '\0';
    if (ident_len != 0)
        memcpy(d->identity, ident, ident_len);
    d->identity_len = ident_len;
    return RELAY_OK;
}

int relay_store_device_get(relay_store *st, const uint8_t id[RELAY_ID_BYTES], relay_device *out)
{
    if (st == NULL || id == NULL || out == NULL)
        return RELAY_E_INVALID;
    relay_device d;
    if (device_cache_get(st, id, out))
        return RELAY_OK;
    memset(&d, 0, sizeof d);
    memcpy(d.id, id, RELAY_ID_BYTES);
    struct conn *c = reader_get(st);
    sqlite3_stmt *s = stmt(c, S_DEVICE_GET);
    bool row = false;
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_blob(s, 1, id, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK)
        rc = row ? device_from_row(s, 0, &d) : RELAY_E_NOTFOUND;
    done(s);
    reader_put(st, c);
    if (rc == RELAY_OK) {
        device_cache_put(st, &d);
        *out = d;
    }
    return rc;
}

int relay_store_user_devices(relay_store *st, const char *user_id, relay_device **out, size_t *n)
{
    if (st == NULL || user_id == NULL || out == NULL || n == NULL)
        return RELAY_E_INVALID;
    relay_device *list = NULL;
    size_t count = 0, cap = 0;
    struct conn *c = reader_get(st);
    sqlite3_stmt *s = stmt(c, S_USER_DEVICES);
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_text(s, 1, user_id));
    for (bool row = true; rc == RELAY_OK;) {
        if ((rc = step(s, &row)) != RELAY_OK || !row)
            break;
        if (count == cap) {
            size_t ncap = cap == 0 ? 4 : cap * 2;
            relay_device *nl = realloc(list, ncap * sizeof *nl);
            if (nl == NULL) {
                rc = RELAY_E_NOMEM;
                break;
            }
            list = nl;
            cap = ncap;
        }
        relay_device *d = &list[count];
        memset(d, 0, sizeof *d);
        if (col_len(s, 0) != RELAY_ID_BYTES) {
            rc = RELAY_E_IO;
            break;
        }
        memcpy(d->id, sqlite3_column_blob(s, 0), RELAY_ID_BYTES);
        if ((rc = device_from_row(s, 1, d)) != RELAY_OK)
            break;
        count++;
    }
    done(s);
    reader_put(st, c);
    if (rc != RELAY_OK) {
        free(list);
        return rc;
    }
    *out = list;
    *n = count;
    return RELAY_OK;
}

/* ------------------------------------------------------------------------
 * Prekeys
 * ------------------------------------------------------------------------ */

struct prekeys_put_ctx {
    const uint8_t *id;
    const uint8_t *spk;
    size_t spk_len;
    const relay_otk *otks;
    size_t n;
};

static int count_otks(struct conn *c, const uint8_t id[RELAY_ID_BYTES], uint64_t *n)
{
    sqlite3_stmt *s = stmt(c, S_OTK_COUNT);
    bool row = false;
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_blob(s, 1, id, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK)
        *n = row ? col_u64(s, 0) : 0;
    done(s);
    return rc;
}

static int run_prekeys_put(relay_store *st, struct wop *op)
{
    struct prekeys_put_ctx *c = op->ctx;
    struct conn *w = &st->writer;
    bool exists = false;
    int rc = exists_by_id(w, S_DEVICE_EXISTS, c->id, &exists);
    if (rc != RELAY_OK)
        return rc;
    if (!exists)
        return RELAY_E_NOTFOUND;
    sqlite3_stmt *s;
    if (c->n != 0) {
        uint64_t have = 0;
        if ((rc = count_otks(w, c->id, &have)) != RELAY_OK)
            return rc;
        if (have + c->n > st->limits.prekeys_max)
            return RELAY_E_QUOTA;
        /* Duplicates within the upload were refused by the caller. */
        if ((s = stmt(w, S_OTK_EXISTS)) == NULL)
            return RELAY_E_IO;
        for (size_t i = 0; i < c->n && rc == RELAY_OK; i++) {
            bool row = false;
            rc = map_sqlite(bind_blob(s, 1, c->id, RELAY_ID_BYTES));
            if (rc == RELAY_OK)
                rc = map_sqlite(sqlite3_bind_int64(s, 2, c->otks[i].id));
            if (rc == RELAY_OK)
                rc = step(s, &row);
            if (rc == RELAY_OK && row)
                rc = RELAY_E_CONFLICT;
            done(s);
        }
        if (rc != RELAY_OK)
            return rc;
    }
    if (c->spk != NULL) {
        if ((s = stmt(w, S_SPK_PUT)) == NULL)
            return RELAY_E_IO;
        rc = map_sqlite(bind_blob(s, 1, c->id, RELAY_ID_BYTES));
        if (rc == RELAY_OK)
            rc = map_sqlite(bind_blob(s, 2, c->spk, c->spk_len));
        if (rc == RELAY_OK)
            rc = wstep(op, s);
        done(s);
        if (rc != RELAY_OK)
            return rc;
    }
    if ((s = stmt(w, S_OTK_INSERT)) == NULL)
        return RELAY_E_IO;
    for (size_t i = 0; i < c->n && rc == RELAY_OK; i++) {
        rc = map_sqlite(bind_blob(s, 1, c->id, RELAY_ID_BYTES));
        if (rc == RELAY_OK)
            rc = map_sqlite(sqlite3_bind_int64(s, 2, c->otks[i].id));
        if (rc == RELAY_OK)
            rc = map_sqlite(bind_blob(s, 3, c->otks[i].pub, 32));
        if (rc == RELAY_OK)
            rc = wstep(op, s);
        done(s);
    }
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int relay_store_prekeys_put(relay_store *st, const uint8_t id[RELAY_ID_BYTES], const uint8_t *spk,
                            size_t spk_len, const relay_otk *otks, size_t n)
{
    if (st == NULL || id == NULL || (spk != NULL && (spk_len == 0 || spk_len > 256)) ||
        (n != 0 && otks == NULL))
        return RELAY_E_INVALID;
    if (n > st->limits.prekeys_max)
        return RELAY_E_QUOTA;
    if (n > 1) {
        uint32_t *ids = malloc(n * sizeof *ids);
        if (ids == NULL)
            return RELAY_E_NOMEM;
        for (size_t i = 0; i < n; i++)
            ids[i] = otks[i].id;
        qsort(ids, n, sizeof *ids, cmp_u32);
        bool dup = false;
        for (size_t i = 1; i < n && !dup; i++)
            dup = ids[i] == ids[i - 1];
        free(ids);
        if (dup)
            return RELAY_E_CONFLICT;
    }
    struct prekeys_put_ctx c = {id, spk, spk_len, otks, n};
    struct wop op;
    return submit(st, run_prekeys_put, &c, &op);
}

struct prekeys_claim_ctx {
    const uint8_t *id;
    uint8_t spk[256]; /* out */
    size_t spk_len;   /* out */
    relay_otk otk;    /* out */
    int has_otk;      /* out */
};

static int run_prekeys_claim(relay_store *st, struct wop *op)
{
    struct prekeys_claim_ctx *c = op->ctx;
    struct conn *w = &st->writer;
    bool row = false;
    c->has_otk = 0;
    sqlite3_stmt *s = stmt(w, S_SPK_GET);
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_blob(s, 1, c->id, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK && !row)
        rc = RELAY_E_NOTFOUND;
    if (rc == RELAY_OK) {
        c->spk_len = col_len(s, 0);
        if (c->spk_len > sizeof c->spk)
            rc = RELAY_E_IO;
        else if (c->spk_len != 0)
            memcpy(c->spk, sqlite3_column_blob(s, 0), c->spk_len);
    }
    done(s);
    if (rc != RELAY_OK)
        return rc;

    if ((s = stmt(w, S_OTK_OLDEST)) == NULL)
        return RELAY_E_IO;
    sqlite3_int64 seq = 0;
    rc = map_sqlite(bind_blob(s, 1, c->id, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK && row) {
        sqlite3_int64 otk_id = sqlite3_column_int64(s, 1);
        if (otk_id < 0 || otk_id > (sqlite3_int64)UINT32_MAX || col_len(s, 2) != 32) {
            rc = RELAY_E_IO;
        } else {
            seq = sqlite3_column_int64(s, 0);
            c->otk.id = (uint32_t)otk_id;
            memcpy(c->otk.pub, sqlite3_column_blob(s, 2), 32);
            c->has_otk = 1;
        }
    }
    done(s);
    if (rc != RELAY_OK || !c->has_otk)
        return rc;

    if ((s = stmt(w, S_OTK_DELETE)) == NULL)
        return RELAY_E_IO;
    rc = map_sqlite(sqlite3_bind_int64(s, 1, seq));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    return rc;
}

int relay_store_prekeys_claim(relay_store *st, const uint8_t id[RELAY_ID_BYTES], uint8_t *spk,
                              size_t *spk_len, relay_otk *otk, int *has_otk)
{
    if (st == NULL || id == NULL || spk == NULL || spk_len == NULL || otk == NULL ||
        has_otk == NULL)
        return RELAY_E_INVALID;
    struct prekeys_claim_ctx c;
    memset(&c, 0, sizeof c);
    c.id = id;
    struct wop op;
    int rc = submit(st, run_prekeys_claim, &c, &op);
    if (rc == RELAY_OK) {
        memcpy(spk, c.spk, c.spk_len);
        *spk_len = c.spk_len;
        *has_otk = c.has_otk;
        if (c.has_otk)
            *otk = c.otk;
    }
    return rc;
}

int relay_store_prekeys_count(relay_store *st, const uint8_t id[RELAY_ID_BYTES], uint32_t *n)
{
    if (st == NULL || id == NULL || n == NULL)
        return RELAY_E_INVALID;
    struct conn *c = reader_get(st);
    bool exists = false;
    uint64_t count = 0;
    int rc = exists_by_id(c, S_DEVICE_EXISTS, id, &exists);
    if (rc == RELAY_OK && !exists)
        rc = RELAY_E_NOTFOUND;
    if (rc == RELAY_OK)
        rc = count_otks(c, id, &count);
    reader_put(st, c);
    if (rc == RELAY_OK)
        *n = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
    return rc;
}

/* ------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------ */

struct send_ctx {
    const uint8_t *sender;
    const relay_envelope *env;
    size_t n;
    /* Per envelope: its distinct recipients, sorted (into `recipients`). */
    const uint8_t (*recipients)[RELAY_ID_BYTES];
    const size_t *first; /* envelope i uses recipients[first[i] .. first[i + 1]) */
    uint64_t now;
    uint64_t stored; /* out */
};

static int check_blobs(struct conn *w, const uint8_t *sender, const relay_envelope *e)
{
    sqlite3_stmt *s = stmt(w, S_BLOB_OWNER);
    if (s == NULL)
        return RELAY_E_IO;
    int rc = RELAY_OK;
    for (size_t b = 0; b < e->n_blobs && rc == RELAY_OK; b++) {
        bool row = false;
        rc = map_sqlite(bind_blob(s, 1, e->blob_ids[b], RELAY_BLOB_ID_BYTES));
        if (rc == RELAY_OK)
            rc = step(s, &row);
        /* An id that does not exist is not the sender's either. */
        if (rc == RELAY_OK && (!row || col_len(s, 0) != RELAY_ID_BYTES ||
                               memcmp(sqlite3_column_blob(s, 0), sender, RELAY_ID_BYTES) != 0))
            rc = RELAY_E_DENIED;
        done(s);
    }
    return rc;
}

/* NOTFOUND if the recipient does not exist, QUOTA if one more message of
 * `size` bytes would overfill its mailbox. Reads only. */
static int mailbox_check(relay_store *st, const uint8_t rcpt[RELAY_ID_BYTES], size_t size)
{
    relay_device dev;
    bool exists = device_cache_get(st, rcpt, &dev);
    int rc = exists ? RELAY_OK : exists_by_id(&st->writer, S_DEVICE_EXISTS, rcpt, &exists);
    if (rc == RELAY_OK && !exists)
        rc = RELAY_E_NOTFOUND;
    if (rc == RELAY_OK) {
        uint64_t messages = 0, bytes = 0;
        relay_mbc_get(st->mbc, rcpt, &messages, &bytes);
        if (messages >= st->limits.mailbox_max_messages || bytes > st->limits.mailbox_max_bytes ||
            size > st->limits.mailbox_max_bytes - bytes)
            rc = RELAY_E_QUOTA;
    }
    return rc;
}

/* Binds and steps a prepared write with a 32-byte id and an integer. */
static int write_id_int(struct wop *op, sqlite3_stmt *s, const uint8_t id[RELAY_ID_BYTES],
                        sqlite3_int64 v, int v_index)
{
    int rc = map_sqlite(bind_blob(s, 1, id, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = map_sqlite(sqlite3_bind_int64(s, v_index, v));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    return rc;
}

/* The envelope's one copy, for `refs` recipients; *envelope = its id. */
static int insert_envelope(relay_store *st, struct wop *op, const struct send_ctx *c,
                           const relay_envelope *e, size_t refs, sqlite3_int64 *envelope)
{
    struct conn *w = &st->writer;
    sqlite3_stmt *s = stmt(w, S_ENVELOPE_INSERT);
    if (s == NULL)
        return RELAY_E_IO;
    int rc = map_sqlite(bind_blob(s, 1, c->sender, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_blob(s, 2, e->message_id, RELAY_MSGID_BYTES));
    if (rc == RELAY_OK) /* zero-length content must still be a BLOB, not NULL */
        rc = map_sqlite(
            bind_blob(s, 3, e->content_len != 0 ? (const void *)e->content : "", e->content_len));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_u64(s, 4, c->now));
    if (rc == RELAY_OK && e->n_blobs != 0)
        rc = map_sqlite(bind_blob(s, 5, e->blob_ids, e->n_blobs * RELAY_BLOB_ID_BYTES));
    if (rc == RELAY_OK)
        rc = map_sqlite(sqlite3_bind_int64(s, 6, (sqlite3_int64)refs));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    if (rc == RELAY_OK)
        *envelope = sqlite3_last_insert_rowid(w->db);
    return rc;
}

/*
 * Envelope i: first every check (blobs, recipients, quotas), then the
 * writes, which can fail only on I/O. An envelope after the first can
 * still fail its checks after earlier ones were written; the group commit
 * then undoes the whole call (see try_batch).
 */
static int store_envelope(relay_store *st, struct wop *op, struct send_ctx *c, size_t i)
{
    struct conn *w = &st->writer;
    const relay_envelope *e = &c->env[i];
    size_t n_rcpt = c->first[i + 1] - c->first[i];
    sqlite3_int64 envelope = 0;
    int rc = check_blobs(w, c->sender, e);
    for (size_t r = c->first[i]; r < c->first[i + 1] && rc == RELAY_OK; r++)
        rc = mailbox_check(st, c->recipients[r], e->content_len);
    if (rc == RELAY_OK && st->next_id > INT64_MAX - (sqlite3_int64)n_rcpt)
        rc = RELAY_E_QUOTA; /* out of ids: not in this universe's lifetime */
    if (rc == RELAY_OK && relay_mbc_reserve(st->mbc, n_rcpt) != 0)
        rc = RELAY_E_NOMEM;
    if (rc == RELAY_OK)
        rc = insert_envelope(st, op, c, e, n_rcpt, &envelope);
    if (rc != RELAY_OK)
        return rc;

    sqlite3_int64 size = (sqlite3_int64)e->content_len;
    sqlite3_stmt *m = stmt(w, S_MESSAGE_INSERT);
    sqlite3_stmt *g = e->n_blobs != 0 ? stmt(w, S_GRANT_INSERT) : NULL;
    if (m == NULL || (e->n_blobs != 0 && g == NULL))
        return RELAY_E_IO;
    for (size_t r = c->first[i]; r < c->first[i + 1] && rc == RELAY_OK; r++) {
        const uint8_t *rcpt = c->recipients[r];
        /* Taken even if this group is undone: ids may have gaps. */
        sqlite3_int64 id = st->next_id++;
        /* ?1 recipient, ?2 id, ?3 received, ?4 size, ?5 envelope */
        rc = map_sqlite(sqlite3_bind_int64(m, 3, (sqlite3_int64)c->now));
        if (rc == RELAY_OK)
            rc = map_sqlite(sqlite3_bind_int64(m, 4, size));
        if (rc == RELAY_OK)
            rc = map_sqlite(sqlite3_bind_int64(m, 5, envelope));
        if (rc == RELAY_OK)
            rc = write_id_int(op, m, rcpt, id, 2);
        if (rc == RELAY_OK)
            relay_mbc_add(st->mbc, rcpt, 1, size);
        for (size_t b = 0; b < e->n_blobs && rc == RELAY_OK; b++) {
            rc = map_sqlite(bind_blob(g, 1, e->blob_ids[b], RELAY_BLOB_ID_BYTES));
            if (rc == RELAY_OK)
                rc = map_sqlite(bind_blob(g, 2, rcpt, RELAY_ID_BYTES));
            if (rc == RELAY_OK)
                rc = wstep(op, g);
            done(g);
        }
        if (rc == RELAY_OK)
            c->stored++;
    }
    return rc;
}

static int run_send(relay_store *st, struct wop *op)
{
    struct send_ctx *c = op->ctx;
    c->stored = 0;
    int rc = RELAY_OK;
    for (size_t i = 0; i < c->n && rc == RELAY_OK; i++)
        rc = store_envelope(st, op, c, i);
    op->stored = rc == RELAY_OK ? c->stored : 0;
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, RELAY_ID_BYTES);
}

/*
 * Checks the arguments of a send and fills c with each envelope's distinct
 * recipients, sorted (malloc'd: send_ctx_free). RELAY_OK with c->n == 0
 * for nothing to send. Sorting and de-duplicating here keeps that work off
 * the commit thread.
 */
static int send_prepare(struct send_ctx *c, const uint8_t sender[RELAY_ID_BYTES],
                        const relay_envelope *env, size_t n, uint64_t now)
{
    memset(c, 0, sizeof *c);
    if (sender == NULL || (n != 0 && env == NULL) || now > (uint64_t)INT64_MAX)
        return RELAY_E_INVALID;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const relay_envelope *e = &env[i];
        if (e->n_recipients == 0 || e->recipients == NULL || e->content_len > INT_MAX ||
            (e->content_len != 0 && e->content == NULL) ||
            (e->n_blobs != 0 && e->blob_ids == NULL) ||
            e->n_blobs > INT_MAX / RELAY_BLOB_ID_BYTES ||
            e->n_recipients > SIZE_MAX / RELAY_ID_BYTES - total)
            return RELAY_E_INVALID;
        total += e->n_recipients;
    }
    if (n == 0)
        return RELAY_OK;

    uint8_t(*rcpts)[RELAY_ID_BYTES] = malloc(total * RELAY_ID_BYTES);
    size_t *first = malloc((n + 1) * sizeof *first);
    if (rcpts == NULL || first == NULL) {
        free(rcpts);
        free(first);
        return RELAY_E_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const relay_envelope *e = &env[i];
        first[i] = k;
        memcpy(rcpts[k], e->recipients, e->n_recipients * RELAY_ID_BYTES);
        if (e->n_recipients > 1)
            qsort(rcpts[k], e->n_recipients, RELAY_ID_BYTES, cmp_id);
        size_t u = k + 1;
        for (size_t r = k + 1; r < k + e->n_recipients; r++) {
            if (memcmp(rcpts[r], rcpts[u - 1], RELAY_ID_BYTES) != 0) {
                if (u != r)
                    memcpy(rcpts[u], rcpts[r], RELAY_ID_BYTES);
                u++;
            }
        }
        k = u;
    }
    first[n] = k;
    c->sender = sender;
    c->env = env;
    c->n = n;
    c->recipients = (const uint8_t(*)[RELAY_ID_BYTES])rcpts;
    c->first = first;
    c->now = now;
    return RELAY_OK;
}

static void send_ctx_free(struct send_ctx *c)
{
    /* recipients and first were malloc'd by send_prepare as mutable arrays. */
    free((void *)(uintptr_t)c->recipients);
    free((void *)(uintptr_t)c->first);
    c->recipients = NULL;
    c->first = NULL;
}

static uint32_t clamp_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int relay_store_send(relay_store *st, const uint8_t sender[RELAY_ID_BYTES],
                     const relay_envelope *env, size_t n, uint64_t now, uint32_t *stored)
{
    if (st == NULL || stored == NULL)
        return RELAY_E_INVALID;
    struct send_ctx c;
    int rc = send_prepare(&c, sender, env, n, now);
    if (rc != RELAY_OK || c.n == 0) {
        if (rc == RELAY_OK)
            *stored = 0;
        return rc;
    }
    struct wop op;
    rc = submit(st, run_send, &c, &op);
    if (rc == RELAY_OK)
        *stored = clamp_u32(c.stored);
    send_ctx_free(&c);
    return rc;
}

void relay_deliveries_free(relay_delivery *d, size_t n)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].content);
        free(d[i].blob_ids);
    }
    free(d);
}

/* Copies the current row of S_FETCH into d. */
static int delivery_from_row(sqlite3_stmt *s, relay_delivery *d)
{
    memset(d, 0, sizeof *d);
    size_t content_len = col_len(s, 4), blobs_len = col_len(s, 6);
    if (col_len(s, 2) != RELAY_ID_BYTES || col_len(s, 3) != RELAY_MSGID_BYTES ||
        blobs_len % RELAY_BLOB_ID_BYTES != 0)
        return RELAY_E_IO;
    d->id = col_u64(s, 0);
    memcpy(d->sender, sqlite3_column_blob(s, 2), RELAY_ID_BYTES);
    memcpy(d->message_id, sqlite3_column_blob(s, 3), RELAY_MSGID_BYTES);
    d->received = col_u64(s, 5);
    d->content = malloc(content_len != 0 ? content_len : 1);
    if (d->content == NULL)
        return RELAY_E_NOMEM;
    if (content_len != 0)
        memcpy(d->content, sqlite3_column_blob(s, 4), content_len);
    d->content_len = content_len;
    if (blobs_len != 0) {
        d->blob_ids = malloc(blobs_len);
        if (d->blob_ids == NULL) {
            free(d->content);
            d->content = NULL;
            return RELAY_E_NOMEM;
        }
        memcpy(d->blob_ids, sqlite3_column_blob(s, 6), blobs_len);
        d->n_blobs = blobs_len / RELAY_BLOB_ID_BYTES;
    }
    return RELAY_OK;
}

struct ack_ctx {
    const uint8_t *id;
    const uint64_t *ids;
    size_t n;
    uint64_t deleted; /* out */
};

/*
 * Deletes one message row, takes it off its recipient's counters and drops
 * its reference to the envelope, deleting the envelope with its last one.
 */
static int delete_message(relay_store *st, struct wop *op, sqlite3_int64 id,
                          const uint8_t rcpt[RELAY_ID_BYTES], sqlite3_int64 size,
                          sqlite3_int64 envelope)
{
    struct conn *w = &st->writer;
    if (relay_mbc_reserve(st->mbc, 1) != 0)
        return RELAY_E_NOMEM;
    sqlite3_stmt *s = stmt(w, S_MESSAGE_DELETE);
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(sqlite3_bind_int64(s, 1, id));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_blob(s, 2, rcpt, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    if (rc != RELAY_OK)
        return rc;
    relay_mbc_add(st->mbc, rcpt, -1, -size);

    bool row = false;
    sqlite3_int64 refs = 0;
    if ((s = stmt(w, S_ENVELOPE_REFS)) == NULL)
        return RELAY_E_IO;
    rc = map_sqlite(sqlite3_bind_int64(s, 1, envelope));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK && row)
        refs = sqlite3_column_int64(s, 0);
    done(s);
    if (rc != RELAY_OK || !row)
        return rc;
    if ((s = stmt(w, refs > 1 ? S_ENVELOPE_UNREF : S_ENVELOPE_DELETE)) == NULL)
        return RELAY_E_IO;
    rc = map_sqlite(sqlite3_bind_int64(s, 1, envelope));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    return rc;
}

static int run_ack(relay_store *st, struct wop *op)
{
    struct ack_ctx *c = op->ctx;
    struct conn *w = &st->writer;
    int rc = RELAY_OK;
    c->deleted = 0;
    for (size_t i = 0; i < c->n && rc == RELAY_OK; i++) {
        if (c->ids[i] > (uint64_t)INT64_MAX)
            continue; /* cannot be anyone's id */
        sqlite3_int64 id = (sqlite3_int64)c->ids[i], envelope = 0, size = 0;
        bool row = false;
        sqlite3_stmt *s = stmt(w, S_MESSAGE_GET);
        rc = s == NULL ? RELAY_E_IO : map_sqlite(sqlite3_bind_int64(s, 1, id));
        if (rc == RELAY_OK)
            rc = map_sqlite(bind_blob(s, 2, c->id, RELAY_ID_BYTES));
        if (rc == RELAY_OK)
            rc = step(s, &row);
        if (rc == RELAY_OK && row) {
            envelope = sqlite3_column_int64(s, 0);
            size = sqlite3_column_int64(s, 1);
        }
        done(s);
        if (rc != RELAY_OK || !row)
            continue; /* someone else's, or already gone */
        if ((rc = delete_message(st, op, id, c->id, size, envelope)) != RELAY_OK)
            break;
        c->deleted++;
    }
    op->deleted = rc == RELAY_OK ? c->deleted : 0;
    return rc;
}

int relay_store_ack(relay_store *st, const uint8_t id[RELAY_ID_BYTES], const uint64_t *ids,
                    size_t n, uint32_t *deleted)
{
    if (st == NULL || id == NULL || (n != 0 && ids == NULL) || deleted == NULL)
        return RELAY_E_INVALID;
    if (n == 0) {
        *deleted = 0;
        return RELAY_OK;
    }
    struct ack_ctx c = {.id = id, .ids = ids, .n = n};
    struct wop op;
    /* Not durable: see store.h. */
    int rc = submit_op(st, run_ack, NULL, false, &c, &op);
    if (rc == RELAY_OK)
        *deleted = c.deleted > UINT32_MAX ? UINT32_MAX : (uint32_t)c.deleted;
    return rc;
}

/* An ack (possibly of nothing), then a fetch, in one op. */
struct mailbox_ctx {
    struct ack_ctx ack; /* first: run_ack takes the op's ctx as an ack_ctx */
    size_t max_n, max_bytes;
    relay_delivery *list; /* out */
    size_t count;         /* out */
    int more;             /* out */
    uint64_t prekeys;     /* out */
};

/* The mailbox's oldest messages into c, on connection `conn`. */
static int fetch_rows(struct conn *conn, struct mailbox_ctx *c)
{
    size_t cap = 0, bytes = 0;
    c->list = NULL;
    c->count = 0;
    c->more = 0;
    sqlite3_stmt *s = stmt(conn, S_FETCH);
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_blob(s, 1, c->ack.id, RELAY_ID_BYTES));
    if (rc == RELAY_OK) /* one more than asked for, to learn about `more` */
        rc = map_sqlite(sqlite3_bind_int64(s, 2, (sqlite3_int64)c->max_n + 1));
    for (bool row = true; rc == RELAY_OK;) {
        if ((rc = step(s, &row)) != RELAY_OK || !row)
            break;
        size_t size = (size_t)col_u64(s, 1);
        if (c->count == c->max_n || (c->count != 0 && size > c->max_bytes - bytes)) {
            c->more = 1;
            break;
        }
        if (c->count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            if (ncap > c->max_n)
                ncap = c->max_n;
            relay_delivery *nl = realloc(c->list, ncap * sizeof *nl);
            if (nl == NULL) {
                rc = RELAY_E_NOMEM;
                break;
            }
            c->list = nl;
            cap = ncap;
        }
        if ((rc = delivery_from_row(s, &c->list[c->count])) != RELAY_OK)
            break;
        bytes = size > c->max_bytes - bytes ? c->max_bytes : bytes + size;
        c->count++;
    }
    done(s);
    if (rc != RELAY_OK) {
        relay_deliveries_free(c->list, c->count);
        c->list = NULL;
        c->count = 0;
    }
    return rc;
}

/* The read half of the op, after the group (with its acks) committed. */
static int read_mailbox(relay_store *st, struct wop *op)
{
    struct mailbox_ctx *c = op->ctx;
    int rc = count_otks(&st->writer, c->ack.id, &c->prekeys);
    if (rc == RELAY_OK)
        rc = fetch_rows(&st->writer, c);
    if (rc == RELAY_OK) /* fetch_rows hands them out in id order */
        op->seen_max = c->count != 0 ? c->list[c->count - 1].id : 0;
    return rc;
}

int relay_store_ack_fetch(relay_store *st, const uint8_t id[RELAY_ID_BYTES], const uint64_t *ids,
                          size_t n_ids, size_t max_n, size_t max_bytes, relay_delivery **out,
                          size_t *n, int *more, uint32_t *deleted, uint32_t *prekeys)
{
    if (st == NULL || id == NULL || (n_ids != 0 && ids == NULL) || out == NULL || n == NULL ||
        more == NULL || max_n == 0)
        return RELAY_E_INVALID;
    struct mailbox_ctx c;
    memset(&c, 0, sizeof c);
    c.ack.id = id;
    c.ack.ids = ids;
    c.ack.n = n_ids;
    c.max_n = max_n > (size_t)INT32_MAX ? (size_t)INT32_MAX : max_n;
    c.max_bytes = max_bytes;
    struct wop op;
    /* Without acks the op only reads: it does not wait for a group. */
    int rc = submit_op(st, n_ids != 0 ? run_ack : NULL, read_mailbox, false, &c, &op);
    if (rc != RELAY_OK) {
        relay_deliveries_free(c.list, c.count);
        return rc;
    }
    *out = c.list;
    *n = c.count;
    *more = c.more;
    if (deleted != NULL)
        *deleted = c.ack.deleted > UINT32_MAX ? UINT32_MAX : (uint32_t)c.ack.deleted;
    if (prekeys != NULL)
        *prekeys = c.prekeys > UINT32_MAX ? UINT32_MAX : (uint32_t)c.prekeys;
    return RELAY_OK;
}

int relay_store_fetch(relay_store *st, const uint8_t id[RELAY_ID_BYTES], size_t max_n,
                      size_t max_bytes, relay_delivery **out, size_t *n, int *more)
{
    return relay_store_ack_fetch(st, id, NULL, 0, max_n, max_bytes, out, n, more, NULL, NULL);
}

struct usage_ctx {
    const uint8_t *id;
    uint64_t messages, bytes; /* out */
};

/* A read on the commit thread, which owns the counts (after its group). */
static int read_usage(relay_store *st, struct wop *op)
{
    struct usage_ctx *c = op->ctx;
    relay_mbc_get(st->mbc, c->id, &c->messages, &c->bytes);
    op->seen_max = 0; /* no message handed out */
    return RELAY_OK;
}

int relay_store_mailbox_usage(relay_store *st, const uint8_t id[RELAY_ID_BYTES],
                              uint64_t *messages, uint64_t *bytes)
{
    if (st == NULL || id == NULL || messages == NULL || bytes == NULL)
        return RELAY_E_INVALID;
    struct usage_ctx c = {.id = id};
    struct wop op;
    int rc = submit_op(st, NULL, read_usage, false, &c, &op);
    if (rc == RELAY_OK) {
        *messages = c.messages;
        *bytes = c.bytes;
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * Asynchronous calls: the same ops, answered through a callback
 * ------------------------------------------------------------------------ */

enum op_kind { OP_SEND, OP_ACK_FETCH };

struct relay_store_op {
    struct wop op;
    enum op_kind kind;
    union {
        struct send_ctx send;
        struct mailbox_ctx mailbox;
    } u;
};

static int start_op(relay_store *st, relay_store_op *o, relay_store_done_fn on_done, void *arg,
                    relay_store_op **out)
{
    o->op.notify = on_done;
    o->op.notify_arg = arg;
    *out = o; /* before on_done can run */
    int rc = submit_async(st, &o->op);
    if (rc != RELAY_OK)
        *out = NULL;
    return rc;
}

int relay_store_send_start(relay_store *st, const uint8_t sender[RELAY_ID_BYTES],
                           const relay_envelope *env, size_t n, uint64_t now,
                           relay_store_done_fn on_done, void *arg, relay_store_op **out)
{
    if (out != NULL)
        *out = NULL;
    if (st == NULL || on_done == NULL || out == NULL || n == 0)
        return RELAY_E_INVALID;
    relay_store_op *o = calloc(1, sizeof *o);
    if (o == NULL)
        return RELAY_E_NOMEM;
    o->kind = OP_SEND;
    int rc = send_prepare(&o->u.send, sender, env, n, now);
    if (rc == RELAY_OK) {
        op_init(&o->op, run_send, NULL, true, &o->u.send);
        rc = start_op(st, o, on_done, arg, out);
    }
    if (rc != RELAY_OK) {
        send_ctx_free(&o->u.send);
        free(o);
    }
    return rc;
}

int relay_store_send_finish(relay_store_op *o, uint32_t *stored)
{
    if (o == NULL || o->kind != OP_SEND)
        return RELAY_E_INVALID;
    int rc = o->op.rc;
    if (rc == RELAY_OK && stored != NULL)
        *stored = clamp_u32(o->u.send.stored);
    relay_store_op_free(o);
    return rc;
}

int relay_store_ack_fetch_start(relay_store *st, const uint8_t id[RELAY_ID_BYTES],
                                const uint64_t *ids, size_t n_ids, size_t max_n, size_t max_bytes,
                                relay_store_done_fn on_done, void *arg, relay_store_op **out)
{
    if (out != NULL)
        *out = NULL;
    if (st == NULL || id == NULL || (n_ids != 0 && ids == NULL) || max_n == 0 || on_done == NULL ||
        out == NULL)
        return RELAY_E_INVALID;
    relay_store_op *o = calloc(1, sizeof *o);
    if (o == NULL)
        return RELAY_E_NOMEM;
    o->kind = OP_ACK_FETCH;
    struct mailbox_ctx *c = &o->u.mailbox;
    c->ack.id = id;
    c->ack.ids = ids;
    c->ack.n = n_ids;
    c->max_n = max_n > (size_t)INT32_MAX ? (size_t)INT32_MAX : max_n;
    c->max_bytes = max_bytes;
    op_init(&o->op, n_ids != 0 ? run_ack : NULL, read_mailbox, false, c);
    int rc = start_op(st, o, on_done, arg, out);
    if (rc != RELAY_OK)
        free(o);
    return rc;
}

int relay_store_ack_fetch_finish(relay_store_op *o, relay_delivery **out, size_t *n, int *more,
                                 uint32_t *deleted, uint32_t *prekeys)
{
    if (o == NULL || o->kind != OP_ACK_FETCH || out == NULL || n == NULL || more == NULL)
        return RELAY_E_INVALID;
    struct mailbox_ctx *c = &o->u.mailbox;
    int rc = o->op.rc;
    if (rc == RELAY_OK) {
        *out = c->list;
        *n = c->count;
        *more = c->more;
        c->list = NULL;
        c->count = 0;
        if (deleted != NULL)
            *deleted = clamp_u32(c->ack.deleted);
        if (prekeys != NULL)
            *prekeys = clamp_u32(c->prekeys);
    }
    relay_store_op_free(o);
    return rc;
}

void relay_store_op_free(relay_store_op *o)
{
    if (o == NULL)
        return;
    if (o->kind == OP_SEND)
        send_ctx_free(&o->u.send);
    else
        relay_deliveries_free(o->u.mailbox.list, o->u.mailbox.count);
    free(o);
}

/* ------------------------------------------------------------------------
 * Blobs
 * ------------------------------------------------------------------------ */

static char *blob_path(const relay_store *st, const char *name)
{
    size_t ld = strlen(st->blob_dir), ln = strlen(name);
    char *p = malloc(ld + 1 + ln + 1);
    if (p != NULL) {
        memcpy(p, st->blob_dir, ld);
        p[ld] = '/';
        memcpy(p + ld + 1, name, ln + 1);
    }
    return p;
}

static void writer_free(relay_blob_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_path != NULL)
        unlink(w->tmp_path);
    free(w->tmp_path);
    free(w);
}

int relay_store_blob_create(relay_store *st, const uint8_t owner[RELAY_ID_BYTES],
                            relay_blob_writer **out)
{
    if (st == NULL || owner == NULL || out == NULL)
        return RELAY_E_INVALID;
    *out = NULL;
    struct conn *c = reader_get(st);
    bool exists = false;
    int rc = exists_by_id(c, S_DEVICE_EXISTS, owner, &exists);
    reader_put(st, c);
    if (rc != RELAY_OK)
        return rc;
    if (!exists)
        return RELAY_E_NOTFOUND;

    relay_blob_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return RELAY_E_NOMEM;
    w->st = st;
    w->fd = -1;
    memcpy(w->owner, owner, RELAY_ID_BYTES);
    if ((w->tmp_path = blob_path(st, TMP_PREFIX "XXXXXX")) == NULL) {
        writer_free(w);
        return RELAY_E_NOMEM;
    }
    w->fd = mkstemp(w->tmp_path);
    if (w->fd < 0) {
        free(w->tmp_path);
        w->tmp_path = NULL;
        writer_free(w);
        return RELAY_E_IO;
    }
    (void)fcntl(w->fd, F_SETFD, FD_CLOEXEC);
    *out = w;
    return RELAY_OK;
}

/* Closes and deletes the temporary file; later calls report `err`. */
static int writer_fail(relay_blob_writer *w, int err)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp_path != NULL)
        unlink(w->tmp_path);
    free(w->tmp_path);
    w->tmp_path = NULL;
    w->failed = err;
    return err;
}

int relay_blob_write(relay_blob_writer *w, const uint8_t *data, size_t len)
{
    if (w == NULL || (len != 0 && data == NULL))
        return RELAY_E_INVALID;
    if (w->failed != 0)
        return w->failed;
    if (len > w->st->limits.blob_max_bytes - w->size || w->size > w->st->limits.blob_max_bytes)
        return writer_fail(w, RELAY_E_QUOTA);
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(w->fd, data + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return writer_fail(w, RELAY_E_IO);
        off += (size_t)k;
    }
    w->size += len;
    return RELAY_OK;
}

struct blob_ctx {
    const uint8_t *id;
    const uint8_t *owner;
    uint64_t size;
    uint64_t created;
    const char *name;
};

static int run_blob_insert(relay_store *st, struct wop *op)
{
    struct blob_ctx *c = op->ctx;
    bool exists = false;
    int rc = exists_by_id(&st->writer, S_DEVICE_EXISTS, c->owner, &exists);
    if (rc != RELAY_OK)
        return rc;
    if (!exists)
        return RELAY_E_NOTFOUND;
    sqlite3_stmt *s = stmt(&st->writer, S_BLOB_INSERT);
    if (s == NULL)
        return RELAY_E_IO;
    rc = map_sqlite(bind_blob(s, 1, c->id, RELAY_BLOB_ID_BYTES));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_blob(s, 2, c->owner, RELAY_ID_BYTES));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_u64(s, 3, c->size));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_u64(s, 4, c->created));
    if (rc == RELAY_OK)
        rc = map_sqlite(bind_text(s, 5, c->name));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    return rc;
}

int relay_blob_commit(relay_blob_writer *w, uint64_t now, uint8_t blob_id[RELAY_BLOB_ID_BYTES],
                      uint64_t *size)
{
    if (w == NULL)
        return RELAY_E_INVALID;
    relay_store *st = w->st;
    uint8_t id[RELAY_BLOB_ID_BYTES];
    char name[BLOB_HEX_BYTES];
    char *final = NULL;
    int rc = w->failed;
    if (rc != RELAY_OK)
        goto out;
    if (blob_id == NULL || size == NULL || now > (uint64_t)INT64_MAX) {
        rc = RELAY_E_INVALID;
        goto out;
    }
    rc = RELAY_E_IO;
    if (fsync(w->fd) != 0)
        goto out;
    close(w->fd);
    w->fd = -1;
    /* link() fails on an existing name instead of replacing someone's blob. */
    for (int attempt = 0;; attempt++) {
        randombytes_buf(id, sizeof id);
        sodium_bin2hex(name, sizeof name, id, sizeof id);
        free(final);
        if ((final = blob_path(st, name)) == NULL) {
            rc = RELAY_E_NOMEM;
            goto out;
        }
        if (link(w->tmp_path, final) == 0)
            break;
        if (errno != EEXIST || attempt == 3) {
            free(final);
            final = NULL;
            goto out;
        }
    }
    unlink(w->tmp_path);
    free(w->tmp_path);
    w->tmp_path = NULL;
    if ((rc = fsync_dir(st)) != RELAY_OK)
        goto out;

    struct blob_ctx c = {id, w->owner, w->size, now, name};
    struct wop op;
    rc = submit(st, run_blob_insert, &c, &op);
    if (rc == RELAY_OK) {
        memcpy(blob_id, id, sizeof id);
        *size = w->size;
    }
out:
    if (rc != RELAY_OK && final != NULL) {
        unlink(final);
        fsync_dir(st);
    }
    free(final);
    writer_free(w);
    return rc;
}

void relay_blob_abort(relay_blob_writer *w)
{
    if (w != NULL)
        writer_free(w);
}

int relay_store_blob_open(relay_store *st, const uint8_t requester[RELAY_ID_BYTES],
                          const uint8_t blob_id[RELAY_BLOB_ID_BYTES], relay_blob_reader **out,
                          uint64_t *size)
{
    if (st == NULL || requester == NULL || blob_id == NULL || out == NULL || size == NULL)
        return RELAY_E_INVALID;
    char name[BLOB_HEX_BYTES];
    uint64_t blob_size = 0;
    bool row = false;

    struct conn *c = reader_get(st);
    sqlite3_stmt *s = stmt(c, S_BLOB_GET);
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_blob(s, 1, blob_id, RELAY_BLOB_ID_BYTES));
    if (rc == RELAY_OK)
        rc = step(s, &row);
    if (rc == RELAY_OK && !row)
        rc = RELAY_E_NOTFOUND;
    bool owner = false;
    if (rc == RELAY_OK) {
        size_t name_len = col_len(s, 2);
        const unsigned char *p = sqlite3_column_text(s, 2);
        if (p == NULL || name_len >= sizeof name || col_len(s, 0) != RELAY_ID_BYTES) {
            rc = RELAY_E_IO;
        } else {
            memcpy(name, p, name_len + 1);
            blob_size = col_u64(s, 1);
            owner = memcmp(sqlite3_column_blob(s, 0), requester, RELAY_ID_BYTES) == 0;
        }
    }
    done(s);
    if (rc == RELAY_OK && !owner) {
        s = stmt(c, S_GRANT_GET);
        rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_blob(s, 1, blob_id, RELAY_BLOB_ID_BYTES));
        if (rc == RELAY_OK)
            rc = map_sqlite(bind_blob(s, 2, requester, RELAY_ID_BYTES));
        if (rc == RELAY_OK)
            rc = step(s, &row);
        if (rc == RELAY_OK && !row)
            rc = RELAY_E_DENIED;
        done(s);
    }
    reader_put(st, c);
    if (rc != RELAY_OK)
        return rc;

    relay_blob_reader *r = malloc(sizeof *r);
    if (r == NULL)
        return RELAY_E_NOMEM;
    r->fd = openat(st->blob_dirfd, name, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        /* Purged between the lookup and the open. */
        rc = errno == ENOENT ? RELAY_E_NOTFOUND : RELAY_E_IO;
        free(r);
        return rc;
    }
    *out = r;
    *size = blob_size;
    return RELAY_OK;
}

int relay_blob_read(relay_blob_reader *r, uint8_t *buf, size_t len, size_t *got)
{
    if (r == NULL || got == NULL || (len != 0 && buf == NULL))
        return RELAY_E_INVALID;
    for (;;) {
        ssize_t k = read(r->fd, buf, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return RELAY_E_IO;
        *got = (size_t)k;
        return RELAY_OK;
    }
}

void relay_blob_close(relay_blob_reader *r)
{
    if (r == NULL)
        return;
    close(r->fd);
    free(r);
}

/* ------------------------------------------------------------------------
 * Housekeeping
 * ------------------------------------------------------------------------ */

struct purge_ctx {
    uint64_t now;
    uint64_t cutoff; /* rows created before this are past their TTL */
    uint64_t purged; /* out */
    char **names;    /* out: blob files to delete once committed */
    size_t n_names, cap_names;
};

static void purge_names_free(struct purge_ctx *c)
{
    for (size_t i = 0; i < c->n_names; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->n_names = c->cap_names = 0;
}

static int delete_where(struct wop *op, struct conn *w, enum sid id, uint64_t v, uint64_t *changes)
{
    sqlite3_stmt *s = stmt(w, id);
    int rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_u64(s, 1, v));
    if (rc == RELAY_OK)
        rc = wstep(op, s);
    done(s);
    if (rc == RELAY_OK)
        *changes = (uint64_t)sqlite3_changes(w->db);
    return rc;
}

/*
 * Deletes the messages received before `cutoff`, and with them their
 * envelopes (all of an envelope's messages share its time), a chunk at a
 * time (rows are never deleted under a running SELECT of the same table).
 * Each chunk continues the scan in key order after the previous one's last
 * row, so a purge reads the table once.
 */
static int purge_messages(relay_store *st, struct wop *op, uint64_t cutoff, uint64_t *n)
{
    struct conn *w = &st->writer;
    enum { CHUNK = 1024 };
    struct victim {
        sqlite3_int64 id, size, envelope;
        uint8_t rcpt[RELAY_ID_BYTES];
    } *v = malloc(CHUNK * sizeof *v);
    if (v == NULL)
        return RELAY_E_NOMEM;
    int rc = RELAY_OK;
    *n = 0;
    /* The key after which the scan goes on: first below every real key. */
    uint8_t after_rcpt[RELAY_ID_BYTES];
    size_t after_len = 0;
    sqlite3_int64 after_id = -1;
    for (;;) {
        size_t k = 0;
        sqlite3_stmt *s = stmt(w, S_PURGE_MESSAGES);
        rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_u64(s, 1, cutoff));
        if (rc == RELAY_OK) /* an empty blob sorts before every recipient */
            rc = map_sqlite(bind_blob(s, 2, after_len != 0 ? after_rcpt : (const uint8_t *)"",
                                      after_len));
        if (rc == RELAY_OK)
            rc = map_sqlite(sqlite3_bind_int64(s, 3, after_id));
        for (bool row = true; rc == RELAY_OK && k < CHUNK;) {
            if ((rc = step(s, &row)) != RELAY_OK || !row)
                break;
            v[k].id = sqlite3_column_int64(s, 0);
            v[k].size = sqlite3_column_int64(s, 2);
            v[k].envelope = sqlite3_column_int64(s, 3);
            if (col_len(s, 1) != RELAY_ID_BYTES)
                rc = RELAY_E_IO;
            else
                memcpy(v[k++].rcpt, sqlite3_column_blob(s, 1), RELAY_ID_BYTES);
        }
        done(s);
        for (size_t i = 0; i < k && rc == RELAY_OK; i++)
            rc = delete_message(st, op, v[i].id, v[i].rcpt, v[i].size, v[i].envelope);
        if (rc != RELAY_OK || k == 0)
            break;
        *n += k;
        memcpy(after_rcpt, v[k - 1].rcpt, RELAY_ID_BYTES);
        after_len = RELAY_ID_BYTES;
        after_id = v[k - 1].id;
    }
    free(v);
    return rc;
}

static int run_purge(relay_store *st, struct wop *op)
{
    struct purge_ctx *c = op->ctx;
    struct conn *w = &st->writer;
    uint64_t messages = 0, blobs = 0, tokens = 0;
    purge_names_free(c);

    int rc = purge_messages(st, op, c->cutoff, &messages);
    uint64_t ignored = 0;
    if (rc != RELAY_OK)
        return rc;

    sqlite3_stmt *s = stmt(w, S_PURGE_BLOB_LIST);
    rc = s == NULL ? RELAY_E_IO : map_sqlite(bind_u64(s, 1, c->cutoff));
    for (bool row = true; rc == RELAY_OK;) {
        if ((rc = step(s, &row)) != RELAY_OK || !row)
            break;
        const unsigned char *p = sqlite3_column_text(s, 0);
        if (p == NULL)
            continue;
        if (c->n_names == c->cap_names) {
            size_t ncap = c->cap_names == 0 ? 16 : c->cap_names * 2;
            char **nn = realloc(c->names, ncap * sizeof *nn);
            if (nn == NULL) {
                rc = RELAY_E_NOMEM;
                break;
            }
            c->names = nn;
            c->cap_names = ncap;
        }
        size_t len = col_len(s, 0);
        if ((c->names[c->n_names] = malloc(len + 1)) == NULL) {
            rc = RELAY_E_NOMEM;
            break;
        }
        memcpy(c->names[c->n_names++], p, len + 1);
    }
    done(s);
    if (rc == RELAY_OK)
        rc = delete_where(op, w, S_PURGE_GRANTS, c->cutoff, &ignored);
    if (rc == RELAY_OK)
        rc = delete_where(op, w, S_PURGE_BLOBS, c->cutoff, &blobs);
    if (rc == RELAY_OK)
        rc = delete_where(op, w, S_PURGE_TOKENS, c->now, &tokens);
    if (rc != RELAY_OK)
        return rc;
    c->purged = messages + blobs + tokens;
    op->deleted = messages;
    return RELAY_OK;
}

int relay_store_purge(relay_store *st, uint64_t now, uint64_t *purged)
{
    if (st == NULL || purged == NULL || now > (uint64_t)INT64_MAX)
        return RELAY_E_INVALID;
    struct purge_ctx c;
    memset(&c, 0, sizeof c);
    c.now = now;
    c.cutoff = now > st->limits.ttl_seconds ? now - st->limits.ttl_seconds : 0;
    struct wop op;
    int rc = submit(st, run_purge, &c, &op);
    if (rc == RELAY_OK) {
        /* The rows are gone for good; a file left behind by a failure here
         * is unreachable and harmless. */
        for (size_t i = 0; i < c.n_names; i++)
            unlinkat(st->blob_dirfd, c.names[i], 0);
        if (c.n_names != 0)
            fsync_dir(st);
        *purged = c.purged;
    }
    purge_names_free(&c);
    return rc;
}

void relay_store_stats_get(relay_store *st, relay_store_stats *out)
{
    if (st == NULL || out == NULL)
        return;
    out->commits = atomic_load_explicit(&st->commits, memory_order_relaxed);
    out->grouped_ops = atomic_load_explicit(&st->grouped_ops, memory_order_relaxed);
    out->messages_stored = atomic_load_explicit(&st->messages_stored, memory_order_relaxed);
    out->messages_deleted = atomic_load_explicit(&st->messages_deleted, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&st->fsyncs, memory_order_relaxed);
    out->fsync_ns = atomic_load_explicit(&st->fsync_ns, memory_order_relaxed);
}
