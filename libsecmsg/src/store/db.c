/*
 * The store's lifecycle: create, unlock, key the sqlcipher database, run
 * the schema migrations, transactions, key-file edits by an open store,
 * close (spec/client-store.md §1, §4-5).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/wipe_alloc.h"
#include "store/store_internal.h"

/*
 * sqlcipher 3 does not record its page size in the file: every connection
 * must set the same value right after keying. 4096 matches sqlcipher 4 and
 * the relay's store (server-relay/store/store_sqlcipher.c).
 */
#define CIPHER_PAGE_SIZE "4096"
#define BUSY_TIMEOUT_MS 5000

/* ------------------------------------------------------------------------
 * Schema
 * ------------------------------------------------------------------------ */

/*
 * Version 1. Invariants kept by records.c:
 * - messages.seq and events.seq, outbox.seq are AUTOINCREMENT: insertion
 *   order, never reused, so "oldest" is "smallest seq".
 * - messages.status is a secmsg_message_status; unread = incoming with
 *   status RECEIVED.
 * - contacts.device_id is NULL while a contact has no known device (the
 *   API's all-zero id), so UNIQUE only binds real device ids.
 * - user ids are validated [A-Za-z0-9._-]{1,64} before they are written.
 */
/* clang-format off */
static const char SCHEMA_V1[] =
    "CREATE TABLE settings ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " value BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE contacts ("
    " user_id TEXT PRIMARY KEY NOT NULL,"
    " role INTEGER NOT NULL,"
    " verification INTEGER NOT NULL,"
    " device_id BLOB UNIQUE,"
    " identity BLOB NOT NULL,"
    " cert BLOB NOT NULL"
    ");"
    "CREATE TABLE sessions ("
    " device_id BLOB PRIMARY KEY NOT NULL,"
    " state BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE messages ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id BLOB NOT NULL UNIQUE,"
    " peer TEXT NOT NULL,"
    " outgoing INTEGER NOT NULL,"
    " status INTEGER NOT NULL,"
    " sent_at INTEGER NOT NULL,"
    " stored_at INTEGER NOT NULL,"
    " text BLOB NOT NULL"
    ");"
    "CREATE INDEX messages_peer ON messages(peer, seq);"
    "CREATE TABLE seen ("
    " sender BLOB NOT NULL,"
    " id BLOB NOT NULL,"
    " PRIMARY KEY (sender, id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id BLOB NOT NULL UNIQUE,"
    " envelope BLOB NOT NULL"
    ");"
    "CREATE TABLE invites ("
    " user_id TEXT PRIMARY KEY NOT NULL,"
    " secret BLOB NOT NULL,"
    " expires INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " type INTEGER NOT NULL,"
    " code INTEGER NOT NULL,"
    " peer TEXT NOT NULL,"
    " message_id BLOB NOT NULL,"
    " at INTEGER NOT NULL"
    ");";
/* clang-format on */

const char *const secmsg__store_migrations[SECMSG__STORE_SCHEMA_VERSION] = {
    SCHEMA_V1,
};

/* ------------------------------------------------------------------------
 * Errors and statements
 * ------------------------------------------------------------------------ */

int secmsg__store_fail(secmsg__store *s, int err, const char *sentence)
{
    snprintf(s->err, sizeof s->err, "%s", sentence);
    return err;
}

int secmsg__store_sqlite_error(secmsg__store *s, int sqlite_rc, const char *what)
{
    /* sqlite3_errstr describes the code only: never data, never SQL. */
    snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite3_errstr(sqlite_rc));
    return (sqlite_rc & 0xff) == SQLITE_NOMEM ? SECMSG_E_NOMEM : SECMSG_E_STORE;
}

int secmsg__store_stmt_get(secmsg__store *s, secmsg__store_stmt id, sqlite3_stmt **out)
{
    if (s->stmt[id] == NULL) {
        int rc = sqlite3_prepare_v2(s->db, secmsg__store_sql[id], -1, &s->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            s->stmt[id] = NULL;
            return secmsg__store_sqlite_error(s, rc, "could not prepare a database statement");
        }
    }
    *out = s->stmt[id];
    return SECMSG_OK;
}

void secmsg__store_stmt_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

sqlite3 *secmsg__store_sqlite(secmsg__store *s)
{
    return s != NULL ? s->db : NULL;
}

const char *secmsg__store_last_error(const secmsg__store *s)
{
    return s != NULL ? s->err : "no store";
}

/*
 * Blobs the store returns carry their allocated size in a 16-byte header
 * (which keeps the payload aligned), so secmsg__store_free wipes exactly
 * what was allocated whatever len the caller passes. They are short-lived
 * copies (a session for one message, a text for one display), so plain
 * malloc: sodium_malloc's guard pages cost several system calls per copy,
 * which dominated receiving. Long-lived secrets (the database key) stay
 * in sodium_malloc.
 */
void *secmsg__store_blob_alloc(size_t n)
{
    return secmsg__wipe_alloc(n);
}

void secmsg__store_free(void *p, size_t len)
{
    (void)len; /* the block knows its size */
    secmsg__wipe_free(p);
}

/* ------------------------------------------------------------------------
 * Database
 * ------------------------------------------------------------------------ */

static void put_err(char *err, size_t cap, const char *what, int sqlite_rc)
{
    if (err == NULL || cap == 0)
        return;
    if (sqlite_rc == SQLITE_OK)
        snprintf(err, cap, "%s", what);
    else
        snprintf(err, cap, "%s: %s", what, sqlite3_errstr(sqlite_rc));
}

static int get_user_version(sqlite3 *db, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int secmsg__store_migrate(sqlite3 *db, const char *const *steps, uint32_t target, char *err,
                          size_t err_cap)
{
    int64_t version = 0;
    int rc = get_user_version(db, &version);

    if (rc != SQLITE_OK) {
        put_err(err, err_cap, "could not read the schema version", rc);
        return SECMSG_E_STORE;
    }
    if (version < 0) {
        put_err(err, err_cap, "the database has an invalid schema version", SQLITE_OK);
        return SECMSG_E_STORE;
    }
    if (version > (int64_t)target) {
        put_err(err, err_cap, "the database was written by a newer version of secmsg", SQLITE_OK);
        return SECMSG_E_VERSION;
    }
    for (uint32_t v = (uint32_t)version; v < target; v++) {
        char bump[48];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %u", v + 1U);
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, steps[v], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, bump, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            put_err(err, err_cap, "a schema migration failed", rc);
            return (rc & 0xff) == SQLITE_NOMEM ? SECMSG_E_NOMEM : SECMSG_E_STORE;
        }
    }
    return SECMSG_OK;
}

static int exec(secmsg__store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? SECMSG_OK : secmsg__store_sqlite_error(s, rc, what);
}

/* True if the linked library is sqlcipher: plain SQLite would ignore the
 * key and write the database in the clear. */
static int is_sqlcipher(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "PRAGMA cipher_version", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL;
    sqlite3_finalize(st);
    return ok;
}

/* Opens the (existing) database file, keys it, configures the connection
 * and brings the schema up to date. */
static int db_open(secmsg__store *s)
{
    /* PRAGMA key = "x'<64 hex>'" */
    char key_sql[sizeof "PRAGMA key = \"x''\"" + 2 * SECMSG__DB_KEY_BYTES];
    sqlite3_stmt *st = NULL;
    int rc;

    /* No SQLITE_OPEN_CREATE: the file exists (we made it 0600); if it
     * vanished, failing beats creating a new one with the default mode. */
    rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = secmsg__store_sqlite_error(s, rc, "could not open the database");
        goto out;
    }
    if (!is_sqlcipher(s->db)) {
        rc = secmsg__store_fail(s, SECMSG_E_STORE,
                                "the SQLite library in use cannot encrypt (not sqlcipher)");
        goto out;
    }
    memcpy(key_sql, "PRAGMA key = \"x'", 16);
    sodium_bin2hex(key_sql + 16, 2 * SECMSG__DB_KEY_BYTES + 1, s->sec->dbkey, SECMSG__DB_KEY_BYTES);
    memcpy(key_sql + 16 + 2 * SECMSG__DB_KEY_BYTES, "'\"", 3);
    rc = exec(s, key_sql, "could not key the database");
    sodium_memzero(key_sql, sizeof key_sql);
    if (rc != SECMSG_OK || (rc = exec(s, "PRAGMA cipher_page_size = " CIPHER_PAGE_SIZE,
                                      "could not set the cipher page size")) != SECMSG_OK)
        goto out;
    /* The first read decrypts page 1: a wrong key fails here. The key file's
     * MAC already passed, so the database itself was replaced or altered. */
    int src = sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        if (src == SQLITE_NOTADB || src == SQLITE_CORRUPT)
            rc = secmsg__store_fail(s, SECMSG_E_TAMPERED,
                                    "the database does not decrypt with its key "
                                    "(replaced or altered)");
        else
            rc = secmsg__store_sqlite_error(s, src, "could not read the database");
        goto out;
    }
    if ((rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL)) != SQLITE_OK ||
        (rc = sqlite3_step(st)) != SQLITE_ROW || sqlite3_column_text(st, 0) == NULL ||
        strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        rc = secmsg__store_sqlite_error(s, rc == SQLITE_ROW ? SQLITE_ERROR : rc,
                                        "could not switch the database to WAL mode");
        goto out;
    }
    /* A statement left unfinished would keep a read open and make COMMIT fail. */
    sqlite3_finalize(st);
    st = NULL;
    /*
     * synchronous FULL: a commit is durable when it returns (the relay is
     * acked only after it). secure_delete: deleted rows (acked outbox
     * entries, popped events) are overwritten, not left in free pages.
     */
    if ((rc = exec(s, "PRAGMA synchronous = FULL", "could not configure the database")) !=
            SECMSG_OK ||
        (rc = exec(s, "PRAGMA foreign_keys = ON", "could not configure the database")) !=
            SECMSG_OK ||
        (rc = exec(s, "PRAGMA secure_delete = ON", "could not configure the database")) !=
            SECMSG_OK)
        goto out;
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    rc = secmsg__store_migrate(s->db, secmsg__store_migrations, SECMSG__STORE_SCHEMA_VERSION,
                               s->err, sizeof s->err);
out:
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Handle
 * ------------------------------------------------------------------------ */

static int valid_secret(const uint8_t *secret, size_t len)
{
    return secret != NULL && len >= SECMSG_DEVICE_SECRET_MIN && len <= SECMSG_DEVICE_SECRET_MAX;
}

static int valid_pin(const char *pin, size_t len)
{
    return pin != NULL && len >= SECMSG_PIN_MIN && len <= SECMSG_PIN_MAX;
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 1);
    if (r != NULL) {
        memcpy(r, a, la);
        memcpy(r + la, b, lb + 1);
    }
    return r;
}

static int store_new(secmsg__store **out, const char *path, const uint8_t *secret,
                     size_t secret_len)
{
    secmsg__store *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL)
        return SECMSG_E_NOMEM;
    s->path = concat(path, "");
    s->keys_path = concat(path, ".keys");
    s->sec = sodium_malloc(sizeof *s->sec);
    if (s->path == NULL || s->keys_path == NULL || s->sec == NULL) {
        secmsg__store_close(s);
        return SECMSG_E_NOMEM;
    }
    sodium_memzero(s->sec, sizeof *s->sec);
    memcpy(s->sec->secret, secret, secret_len);
    s->sec->secret_len = secret_len;
    *out = s;
    return SECMSG_OK;
}

static int common_args(secmsg__store **out, const char *path, const uint8_t *secret,
                       size_t secret_len)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (path == NULL || path[0] == '\0' || strlen(path) > 4000 || !valid_secret(secret, secret_len))
        return SECMSG_E_INVALID_ARG;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    return SECMSG_OK;
}

int secmsg__store_create(secmsg__store **out, const char *path, const uint8_t *secret,
                         size_t secret_len, const char *pin, size_t pin_len, uint32_t kdf_ops,
                         uint32_t kdf_mem_kib)
{
    secmsg__store *s = NULL;
    secmsg__keyfile kf;
    uint8_t kmac[32], kek[32];
    struct stat sb;
    int made_db = 0, made_keys = 0;
    int rc;

    memset(&kf, 0, sizeof kf);
    if ((rc = common_args(out, path, secret, secret_len)) != SECMSG_OK)
        return rc;
    if (kdf_ops == 0)
        kdf_ops = SECMSG__KDF_OPS_DEFAULT;
    if (kdf_mem_kib == 0)
        kdf_mem_kib = SECMSG__KDF_MEM_KIB_DEFAULT;
    if (!valid_pin(pin, pin_len) || kdf_ops < SECMSG__KDF_OPS_MIN ||
        kdf_ops > SECMSG__KDF_OPS_MAX || kdf_mem_kib < SECMSG__KDF_MEM_KIB_MIN ||
        kdf_mem_kib > SECMSG__KDF_MEM_KIB_MAX)
        return SECMSG_E_INVALID_ARG;
    if ((rc = store_new(&s, path, secret, secret_len)) != SECMSG_OK)
        return rc;
    /* Cheap early answer; O_EXCL below is what guarantees it. */
    if (lstat(s->path, &sb) == 0 || lstat(s->keys_path, &sb) == 0) {
        rc = SECMSG_E_EXISTS;
        goto out;
    }

    randombytes_buf(s->sec->dbkey, sizeof s->sec->dbkey);
    kf.max_failures = SECMSG__PIN_MAX_FAILURES_DEFAULT;
    kf.kdf_ops = kdf_ops;
    kf.kdf_mem_kib = kdf_mem_kib;
    randombytes_buf(kf.salt, sizeof kf.salt);
    if ((rc = secmsg__keyfile_kek_pin(kek, &kf, pin, pin_len, secret, secret_len)) != SECMSG_OK)
        goto out;
    secmsg__keyfile_wrap(&kf, SECMSG__WRAP_PIN, kek, s->sec->dbkey);
    secmsg__keyfile_mac_key(kmac, secret, secret_len);
    secmsg__keyfile_seal(&kf, kmac);

    /* The database file first, made 0600 by us (SQLite gives its -wal and
     * -shm the same mode); then the key file. */
    int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? SECMSG_E_EXISTS : SECMSG_E_STORE;
        goto out;
    }
    made_db = 1;
    rc = fchmod(fd, 0600) == 0 ? SECMSG_OK : SECMSG_E_STORE;
    close(fd);
    if (rc != SECMSG_OK)
        goto out;
    if ((rc = secmsg__keyfile_create(s->keys_path, &kf)) != SECMSG_OK)
        goto out;
    made_keys = 1;
    rc = db_open(s);
out:
    if (rc != SECMSG_OK && s != NULL) {
        char *db_path = s->path, *keys_path = s->keys_path;
        s->path = s->keys_path = NULL;
        secmsg__store_close(s);
        s = NULL;
        if (made_db)
            secmsg__store_unlink_db(db_path);
        if (made_keys)
            unlink(keys_path);
        free(db_path);
        free(keys_path);
    }
    sodium_memzero(&kf, sizeof kf);
    sodium_memzero(kmac, sizeof kmac);
    sodium_memzero(kek, sizeof kek);
    *out = s;
    return rc;
}

static int open_with(secmsg__store **out, const char *path, const uint8_t *secret,
                     size_t secret_len, secmsg__keyfile_kind kind, const uint8_t *cred,
                     size_t cred_len, uint32_t *left)
{
    secmsg__store *s = NULL;
    int rc;

    if ((rc = store_new(&s, path, secret, secret_len)) != SECMSG_OK)
        return rc;
    rc = secmsg__keyfile_unlock(s->sec->dbkey, s->path, s->keys_path, secret, secret_len, kind,
                                cred, cred_len, left);
    if (rc == SECMSG_OK)
        rc = db_open(s);
    if (rc != SECMSG_OK) {
        secmsg__store_close(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

int secmsg__store_open_pin(secmsg__store **out, const char *path, const uint8_t *secret,
                           size_t secret_len, const char *pin, size_t pin_len, uint32_t *left)
{
    int rc;

    if (left != NULL)
        *left = 0;
    if ((rc = common_args(out, path, secret, secret_len)) != SECMSG_OK)
        return rc;
    if (!valid_pin(pin, pin_len))
        return SECMSG_E_INVALID_ARG;
    return open_with(out, path, secret, secret_len, SECMSG__WRAP_PIN, (const uint8_t *)pin, pin_len,
                     left);
}

int secmsg__store_open_platform(secmsg__store **out, const char *path, const uint8_t *secret,
                                size_t secret_len, const uint8_t *key, size_t key_len,
                                uint32_t *left)
{
    int rc;

    if (left != NULL)
        *left = 0;
    if ((rc = common_args(out, path, secret, secret_len)) != SECMSG_OK)
        return rc;
    if (key == NULL || key_len != SECMSG_PLATFORM_KEY_BYTES)
        return SECMSG_E_INVALID_ARG;
    return open_with(out, path, secret, secret_len, SECMSG__WRAP_PLATFORM, key, key_len, left);
}

void secmsg__store_close(secmsg__store *s)
{
    if (s == NULL)
        return;
    if (s->db != NULL) {
        for (size_t i = 0; i < ST__COUNT; i++)
            sqlite3_finalize(s->stmt[i]);
        /* An open transaction is rolled back: closing never commits. */
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
    sodium_free(s->sec); /* wipes the database key and the device secret */
    free(s->path);
    free(s->keys_path);
    free(s);
}

/* ------------------------------------------------------------------------
 * Transactions
 * ------------------------------------------------------------------------ */

/* Back to durable commits after a relaxed transaction. */
static int unrelax(secmsg__store *s)
{
    if (!s->relaxed)
        return SECMSG_OK;
    s->relaxed = 0;
    return exec(s, "PRAGMA synchronous = FULL", "could not restore durable commits");
}

int secmsg__store_begin(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    if (s->in_tx)
        return secmsg__store_fail(s, SECMSG_E_STATE, "a transaction is already open");
    int rc = exec(s, "BEGIN IMMEDIATE", "could not begin a transaction");
    if (rc == SECMSG_OK)
        s->in_tx = 1;
    return rc;
}

int secmsg__store_commit(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    if (!s->in_tx)
        return secmsg__store_fail(s, SECMSG_E_STATE, "no transaction is open");
    s->in_tx = 0;
    /* SQLite rolls the whole transaction back by itself on some errors
     * (full disk, I/O error, out of memory) inside it. */
    if (sqlite3_get_autocommit(s->db)) {
        (void)unrelax(s);
        return secmsg__store_fail(s, SECMSG_E_STORE,
                                  "the transaction was rolled back after an earlier failure");
    }
    int rc = exec(s, "COMMIT", "could not commit");
    if (rc != SECMSG_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    int back = unrelax(s);
    return rc != SECMSG_OK ? rc : back;
}

/*
 * A transaction that commits without waiting for the disk (WAL,
 * synchronous=NORMAL, which SQLite lets change only outside a
 * transaction): a process crash keeps it (it is in the OS page cache), a
 * power loss may undo it together with later relaxed commits, never half of
 * it. Only for changes whose loss is harmless, e.g. marking an outbox entry
 * sent: undone, the entry is sent again and the receiver drops the copy.
 * Commit or rollback restores synchronous=FULL.
 */
int secmsg__store_begin_relaxed(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    if (s->in_tx)
        return secmsg__store_fail(s, SECMSG_E_STATE, "a transaction is already open");
    int rc = exec(s, "PRAGMA synchronous = NORMAL", "could not relax the commit");
    if (rc == SECMSG_OK)
        rc = secmsg__store_begin(s);
    if (rc == SECMSG_OK)
        s->relaxed = 1;
    else
        (void)exec(s, "PRAGMA synchronous = FULL", "could not restore durable commits");
    return rc;
}


int secmsg__store_savepoint(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    if (!s->in_tx)
        return secmsg__store_fail(s, SECMSG_E_STATE, "no transaction is open");
    return exec(s, "SAVEPOINT unit", "could not open a savepoint");
}

int secmsg__store_release(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    if (!s->in_tx)
        return secmsg__store_fail(s, SECMSG_E_STATE, "no transaction is open");
    return exec(s, "RELEASE unit", "could not release a savepoint");
}

int secmsg__store_rollback_to(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    if (!s->in_tx || sqlite3_get_autocommit(s->db))
        return secmsg__store_fail(s, SECMSG_E_STORE, "the transaction was already rolled back");
    int rc = exec(s, "ROLLBACK TO unit", "could not roll back to a savepoint");
    if (rc == SECMSG_OK)
        rc = exec(s, "RELEASE unit", "could not release a savepoint");
    return rc;
}

void secmsg__store_rollback(secmsg__store *s)
{
    if (s == NULL || !s->in_tx)
        return;
    s->in_tx = 0;
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    (void)unrelax(s);
}

/* ------------------------------------------------------------------------
 * Key-file edits by an open store
 * ------------------------------------------------------------------------ */

typedef struct edit_ctx {
    secmsg__store *s;
    const uint8_t *bytes; /* PIN or platform key */
    size_t len;
    uint32_t max_failures;
    int wipe;
} edit_ctx;

static int edit_platform_set(secmsg__keyfile *kf, void *p)
{
    edit_ctx *c = p;
    uint8_t kek[32];
    secmsg__keyfile_kek_platform(kek, c->bytes, c->s->sec->secret, c->s->sec->secret_len);
    secmsg__keyfile_wrap(kf, SECMSG__WRAP_PLATFORM, kek, c->s->sec->dbkey);
    kf->flags |= SECMSG__KEYFILE_PLATFORM;
    sodium_memzero(kek, sizeof kek);
    return SECMSG_OK;
}

static int edit_platform_clear(secmsg__keyfile *kf, void *p)
{
    (void)p;
    sodium_memzero(kf->plat_nonce, sizeof kf->plat_nonce);
    sodium_memzero(kf->plat_wrap, sizeof kf->plat_wrap);
    kf->flags &= (uint8_t)~SECMSG__KEYFILE_PLATFORM;
    return SECMSG_OK;
}

static int edit_pin(secmsg__keyfile *kf, void *p)
{
    edit_ctx *c = p;
    uint8_t kek[32];
    randombytes_buf(kf->salt, sizeof kf->salt);
    int rc = secmsg__keyfile_kek_pin(kek, kf, (const char *)c->bytes, c->len, c->s->sec->secret,
                                     c->s->sec->secret_len);
    if (rc == SECMSG_OK) {
        secmsg__keyfile_wrap(kf, SECMSG__WRAP_PIN, kek, c->s->sec->dbkey);
        kf->failures = 0;
    }
    sodium_memzero(kek, sizeof kek);
    return rc;
}

static int edit_policy(secmsg__keyfile *kf, void *p)
{
    edit_ctx *c = p;
    kf->max_failures = c->max_failures;
    /* Failures already counted stay counted: at or past the new limit,
     * the next unlock locks (parse requires failures <= max). */
    if (kf->failures > kf->max_failures)
        kf->failures = kf->max_failures;
    if (c->wipe)
        kf->flags |= SECMSG__KEYFILE_WIPE;
    else
        kf->flags &= (uint8_t)~SECMSG__KEYFILE_WIPE;
    return SECMSG_OK;
}

static int keyfile_edit(secmsg__store *s, secmsg__keyfile_edit_fn fn, edit_ctx *c)
{
    int rc = secmsg__keyfile_update(s->keys_path, s->sec->secret, s->sec->secret_len, fn, c);
    switch (rc) {
    case SECMSG_OK:
        break;
    case SECMSG_E_LOCKED:
        secmsg__store_fail(s, rc, "the key file was locked by too many wrong PINs meanwhile");
        break;
    case SECMSG_E_TAMPERED:
        secmsg__store_fail(s, rc, "the key file was altered");
        break;
    case SECMSG_E_PERMISSION:
        secmsg__store_fail(s, rc, "the key file's permissions are too loose");
        break;
    case SECMSG_E_NOT_FOUND:
        secmsg__store_fail(s, rc, "the key file is gone");
        break;
    default:
        secmsg__store_fail(s, rc, "could not rewrite the key file");
        break;
    }
    return rc;
}

int secmsg__store_platform_key_set(secmsg__store *s, const uint8_t *key, size_t key_len)
{
    if (s == NULL || key == NULL || key_len != SECMSG_PLATFORM_KEY_BYTES)
        return SECMSG_E_INVALID_ARG;
    edit_ctx c = {.s = s, .bytes = key, .len = key_len};
    return keyfile_edit(s, edit_platform_set, &c);
}

int secmsg__store_platform_key_clear(secmsg__store *s)
{
    if (s == NULL)
        return SECMSG_E_INVALID_ARG;
    edit_ctx c = {.s = s};
    return keyfile_edit(s, edit_platform_clear, &c);
}

int secmsg__store_change_pin(secmsg__store *s, const char *pin, size_t pin_len)
{
    if (s == NULL || !valid_pin(pin, pin_len))
        return SECMSG_E_INVALID_ARG;
    edit_ctx c = {.s = s, .bytes = (const uint8_t *)pin, .len = pin_len};
    return keyfile_edit(s, edit_pin, &c);
}

int secmsg__store_set_pin_policy(secmsg__store *s, uint32_t max_failures, int wipe)
{
    if (s == NULL || max_failures < 1 || max_failures > SECMSG__PIN_MAX_FAILURES_MAX)
        return SECMSG_E_INVALID_ARG;
    edit_ctx c = {.s = s, .max_failures = max_failures, .wipe = wipe != 0};
    return keyfile_edit(s, edit_policy, &c);
}
