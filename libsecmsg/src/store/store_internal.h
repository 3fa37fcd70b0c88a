/*
 * Internal to src/store/ (and its tests): the store handle, its cached
 * statements, and the database layer (db.c) that records.c builds on.
 */
#ifndef SECMSG_STORE_INTERNAL_H
#define SECMSG_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlcipher/sqlite3.h>

#include "store/client_store.h"
#include "store/keyfile.h"

/* Cached prepared statements of records.c (prepared on first use). */
typedef enum secmsg__store_stmt {
    ST_SETTING_PUT,
    ST_SETTING_GET,
    ST_SETTING_DEL,
    ST_CONTACT_UPDATE,
    ST_CONTACT_INSERT,
    ST_CONTACT_GET,
    ST_CONTACT_BY_DEVICE,
    ST_CONTACT_COUNT,
    ST_CONTACT_AT,
    ST_CONTACT_EXISTS,
    ST_CONTACT_SUMMARY,
    ST_SESSION_PUT,
    ST_SESSION_GET,
    ST_MESSAGE_PUT,
    ST_MESSAGE_COUNT,
    ST_MESSAGE_AT,
    ST_MESSAGE_STATUS,
    ST_MARK_READ,
    ST_SEEN_CHECK,
    ST_SEEN_ADD,
    ST_OUTBOX_ADD,
    ST_OUTBOX_FIRST,
    ST_OUTBOX_COUNT,
    ST_OUTBOX_DEL,
    ST_INVITE_PUT,
    ST_INVITE_ALL,
    ST_INVITE_DEL,
    ST_EVENT_PUSH,
    ST_EVENT_FIRST,
    ST_EVENT_DEL,
    ST__COUNT
} secmsg__store_stmt;

/* Secrets of an open store, in one sodium_malloc'd block. */
typedef struct secmsg__store_secrets {
    uint8_t dbkey[SECMSG__DB_KEY_BYTES];
    uint8_t secret[64]; /* the device secret, secret_len bytes */
    size_t secret_len;
} secmsg__store_secrets;

struct secmsg__store {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST__COUNT];
    char *path;      /* the database */
    char *keys_path; /* path + ".keys" */
    secmsg__store_secrets *sec;
    int in_tx; /* inside secmsg__store_begin() */
    int relaxed; /* the open transaction commits with synchronous=NORMAL */
    char err[160];
};

/* Records `what` (a static phrase) and the SQLite result code's text as the
 * last error, and returns the secmsg error the code maps to. */
int secmsg__store_sqlite_error(secmsg__store *s, int sqlite_rc, const char *what);
/* Records a plain sentence as the last error and returns err. */
int secmsg__store_fail(secmsg__store *s, int err, const char *sentence);
/* A blob for a getter's result, freed (and wiped) by secmsg__store_free. */
void *secmsg__store_blob_alloc(size_t n);
/* The cached statement id, prepared on first use. */
int secmsg__store_stmt_get(secmsg__store *s, secmsg__store_stmt id, sqlite3_stmt **out);
/* Resets a statement after use and drops its bindings. */
void secmsg__store_stmt_done(sqlite3_stmt *st);

/* The SQL of each cached statement (records.c). */
extern const char *const secmsg__store_sql[ST__COUNT];

/* The schema: migrations[v] takes user_version v to v + 1. */
extern const char *const secmsg__store_migrations[SECMSG__STORE_SCHEMA_VERSION];

/*
 * Brings the database from its PRAGMA user_version to `target` by running
 * steps[v] for v = version .. target - 1, each step with its version bump
 * in one transaction of its own. SECMSG_E_VERSION if the database is newer
 * than target; SECMSG_E_STORE if a step fails (earlier steps stay done).
 * err (may be NULL) receives a sentence.
 */
int secmsg__store_migrate(sqlite3 *db, const char *const *steps, uint32_t target, char *err,
                          size_t err_cap);

/* For tests: the open database connection of a store. */
sqlite3 *secmsg__store_sqlite(secmsg__store *s);

#endif
