/*
 * Tests for server-relay/store/ (store.h on sqlcipher).
 *
 * Every test gets a fresh directory under /tmp with its own database, blob
 * directory and random key; the fixture removes it afterwards. Some checks
 * look into the database directly (through sqlcipher with the same key) to
 * see how things are stored, e.g. that a fan-out keeps one copy of the
 * content. No test asserts anything about time.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "store/store.h"

#define ROLE_CITIZEN 1U
#define ROLE_CASEWORKER 2U
#define NOW 1000000U

static char g_dir[64];
static char g_path[128];
static uint8_t g_key[32];
static relay_store *g_st;

/* ------------------------------------------------------------------------
 * Fixture and helpers
 * ------------------------------------------------------------------------ */

static void rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[512];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static relay_limits default_limits(void)
{
    relay_limits l = {
        .mailbox_max_messages = 10000,
        .mailbox_max_bytes = 64ULL << 20,
        .prekeys_max = 1000,
        .blob_max_bytes = 100ULL << 20,
        .ttl_seconds = 30ULL * 24 * 3600,
    };
    return l;
}

static void reopen(const relay_limits *limits)
{
    relay_store_close(g_st);
    g_st = NULL;
    cr_assert_eq(relay_store_open(&g_st, g_path, g_key, limits), RELAY_OK);
}

static void setup(void)
{
    cr_assert_geq(sodium_init(), 0);
    strcpy(g_dir, "/tmp/relay-store-test-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/relay.db", g_dir);
    randombytes_buf(g_key, sizeof g_key);
    relay_limits l = default_limits();
    g_st = NULL;
    reopen(&l);
}

static void teardown(void)
{
    relay_store_close(g_st);
    g_st = NULL;
    rm_rf(g_dir);
}

TestSuite(open, .init = setup, .fini = teardown);
TestSuite(tokens, .init = setup, .fini = teardown);
TestSuite(devices, .init = setup, .fini = teardown);
TestSuite(prekeys, .init = setup, .fini = teardown);
TestSuite(messages, .init = setup, .fini = teardown);
TestSuite(blobs, .init = setup, .fini = teardown);
TestSuite(purge, .init = setup, .fini = teardown);
TestSuite(concurrency, .init = setup, .fini = teardown);

static void token_hash(uint8_t hash[32], const uint8_t token[32])
{
    crypto_generichash(hash, 32, token, 32, NULL, 0);
}

/* Puts a fresh token and registers a fresh random device with it. */
static int new_device(relay_store *st, const char *user, uint32_t role, uint8_t id[RELAY_ID_BYTES])
{
    uint8_t token[32], hash[32];
    relay_device dev;
    memset(&dev, 0, sizeof dev);
    randombytes_buf(token, sizeof token);
    token_hash(hash, token);
    randombytes_buf(dev.id, sizeof dev.id);
    dev.identity_len = 100;
    randombytes_buf(dev.identity, dev.identity_len);
    int rc = relay_store_token_put(st, hash, role, user, NOW + 3600);
    if (rc == RELAY_OK)
        rc = relay_store_register(st, hash, &dev, NOW);
    if (rc == RELAY_OK)
        memcpy(id, dev.id, RELAY_ID_BYTES);
    return rc;
}

struct reg_job {
    uint8_t (*ids)[RELAY_ID_BYTES];
    size_t from, to;
    int rc;
};

static void *reg_worker(void *arg)
{
    struct reg_job *j = arg;
    for (size_t i = j->from; i < j->to && j->rc == RELAY_OK; i++)
        j->rc = new_device(g_st, "many", ROLE_CITIZEN, j->ids[i]);
    return NULL;
}

/* Registers n devices from 16 threads (grouped commits keep this quick). */
static void new_devices(uint8_t (*ids)[RELAY_ID_BYTES], size_t n)
{
    enum { T = 16 };
    pthread_t th[T];
    struct reg_job jobs[T];
    for (size_t t = 0; t < T; t++) {
        jobs[t] = (struct reg_job){ids, t * n / T, (t + 1) * n / T, RELAY_OK};
        cr_assert_eq(pthread_create(&th[t], NULL, reg_worker, &jobs[t]), 0);
    }
    for (size_t t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(jobs[t].rc, RELAY_OK);
    }
}

/* One envelope with content and optional blobs, sent now. */
static int send_one(const uint8_t sender[RELAY_ID_BYTES], const uint8_t (*rcpts)[RELAY_ID_BYTES],
                    size_t n_rcpts, const uint8_t *content, size_t len,
                    const uint8_t (*blobs)[RELAY_BLOB_ID_BYTES], size_t n_blobs, uint64_t now,
                    uint32_t *stored)
{
    relay_envelope env;
    memset(&env, 0, sizeof env);
    randombytes_buf(env.message_id, sizeof env.message_id);
    env.recipients = rcpts;
    env.n_recipients = n_rcpts;
    env.content = content;
    env.content_len = len;
    env.blob_ids = blobs;
    env.n_blobs = n_blobs;
    uint32_t dummy;
    return relay_store_send(g_st, sender, &env, 1, now, stored != NULL ? stored : &dummy);
}

static size_t mailbox_size(const uint8_t id[RELAY_ID_BYTES])
{
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, id, 100000, SIZE_MAX, &d, &n, &more), RELAY_OK);
    cr_assert_eq(more, 0);
    relay_deliveries_free(d, n);
    return n;
}

/* Opens the database directly, as the store does, for inspection. */
static sqlite3 *raw_open(const uint8_t key[32])
{
    sqlite3 *db = NULL;
    char hex[65], sql[96];
    sodium_bin2hex(hex, sizeof hex, key, 32);
    snprintf(sql, sizeof sql, "PRAGMA key = \"x'%s'\"", hex);
    cr_assert_eq(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA cipher_page_size = 4096", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_busy_timeout(db, 10000), SQLITE_OK);
    sodium_memzero(sql, sizeof sql);
    sodium_memzero(hex, sizeof hex);
    return db;
}

/* The quota's counts of a mailbox, as the store keeps them in memory. */
static void usage(const uint8_t id[RELAY_ID_BYTES], uint64_t *messages, uint64_t *bytes)
{
    cr_assert_eq(relay_store_mailbox_usage(g_st, id, messages, bytes), RELAY_OK);
}

static void assert_usage(const uint8_t id[RELAY_ID_BYTES], uint64_t messages, uint64_t bytes)
{
    uint64_t m = 99, b = 99;
    usage(id, &m, &b);
    cr_assert_eq(m, messages, "messages %llu, expected %llu", (unsigned long long)m,
                 (unsigned long long)messages);
    cr_assert_eq(b, bytes, "bytes %llu, expected %llu", (unsigned long long)b,
                 (unsigned long long)bytes);
}

static long long raw_int(const char *query)
{
    sqlite3 *db = raw_open(g_key);
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK, "%s", query);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static size_t count_blob_files(void)
{
    char dir[160];
    snprintf(dir, sizeof dir, "%s.blobs", g_path);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------------
 * Open, close, keys, schema
 * ------------------------------------------------------------------------ */

Test(open, reopen_keeps_data)
{
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CASEWORKER, b), RELAY_OK);
    const uint8_t msg[] = "ciphertext";
    cr_assert_eq(
        send_one(a, (const uint8_t(*)[RELAY_ID_BYTES])b, 1, msg, sizeof msg, NULL, 0, NOW, NULL),
        RELAY_OK);

    relay_limits l = default_limits();
    reopen(&l);

    relay_device dev;
    cr_assert_eq(relay_store_device_get(g_st, b, &dev), RELAY_OK);
    cr_assert_eq(dev.role, ROLE_CASEWORKER);
    cr_assert_str_eq(dev.user_id, "bob");
    cr_assert_eq(dev.identity_len, 100);
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 1;
    cr_assert_eq(relay_store_fetch(g_st, b, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(more, 0);
    cr_assert_eq(d[0].content_len, sizeof msg);
    cr_assert_eq(memcmp(d[0].content, msg, sizeof msg), 0);
    cr_assert_eq(memcmp(d[0].sender, a, RELAY_ID_BYTES), 0);
    cr_assert_eq(d[0].received, NOW);
    relay_deliveries_free(d, n);
}

Test(open, wrong_key_is_io)
{
    uint8_t a[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    relay_store_close(g_st);
    g_st = NULL;

    uint8_t wrong[32];
    memcpy(wrong, g_key, sizeof wrong);
    wrong[7] ^= 0x01;
    relay_store *st = NULL;
    cr_assert_eq(relay_store_open(&st, g_path, wrong, NULL), RELAY_E_IO);
    cr_assert_null(st);

    /* The right key still opens it, with the data. */
    relay_limits l = default_limits();
    reopen(&l);
    relay_device dev;
    cr_assert_eq(relay_store_device_get(g_st, a, &dev), RELAY_OK);
}

Test(open, not_a_database_is_io)
{
    relay_store_close(g_st);
    g_st = NULL;
    rm_rf(g_path);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    rm_rf(wal);
    snprintf(wal, sizeof wal, "%s-shm", g_path);
    rm_rf(wal);
    FILE *f = fopen(g_path, "wb");
    cr_assert_not_null(f);
    uint8_t junk[8192];
    randombytes_buf(junk, sizeof junk);
    cr_assert_eq(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    relay_store *st = NULL;
    cr_assert_eq(relay_store_open(&st, g_path, g_key, NULL), RELAY_E_IO);
}

Test(open, invalid_arguments)
{
    relay_store *st = NULL;
    cr_assert_eq(relay_store_open(NULL, g_path, g_key, NULL), RELAY_E_INVALID);
    cr_assert_eq(relay_store_open(&st, NULL, g_key, NULL), RELAY_E_INVALID);
    cr_assert_eq(relay_store_open(&st, g_path, NULL, NULL), RELAY_E_INVALID);
    relay_store_close(NULL);
}

Test(open, schema_version_latest_and_existing_file)
{
    uint32_t v = 0;
    cr_assert_eq(relay_store_schema_version(g_st, &v), RELAY_OK);
    cr_assert_eq(v, 3);
    uint8_t a[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    relay_store_close(g_st);
    g_st = NULL;

    /* The file on disk says version 3 and has its tables. */
    cr_assert_eq(raw_int("SELECT version FROM schema_version"), 3);
    cr_assert_eq(raw_int("SELECT count(*) FROM schema_version"), 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                         " ('tokens', 'devices', 'counters', 'signed_prekeys',"
                         "  'one_time_prekeys', 'envelopes', 'messages', 'blobs',"
                         "  'blob_grants')"),
                 9);
    cr_assert_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE name = 'mailboxes'"), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM devices"), 1);

    /* Opening the existing file migrates nothing and keeps the data. */
    cr_assert_eq(relay_store_open(&g_st, g_path, g_key, NULL), RELAY_OK);
    v = 0;
    cr_assert_eq(relay_store_schema_version(g_st, &v), RELAY_OK);
    cr_assert_eq(v, 3);
    relay_device dev;
    cr_assert_eq(relay_store_device_get(g_st, a, &dev), RELAY_OK);
    relay_store_close(g_st);
    g_st = NULL;
    cr_assert_eq(raw_int("SELECT count(*) FROM schema_version"), 1);
}

static void read_blob(relay_blob_reader *r, uint8_t *buf, size_t len);

/* Schema version 1 exactly as released (store_sqlcipher.c, SCHEMA_V1). */
static const char V1_SCHEMA[] =
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

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err != NULL ? err : "?");
    sqlite3_free(err);
}

/* X'..' literal of n bytes `b` (n <= 32). */
static const char *lit(char buf[72], uint8_t b, size_t n)
{
    char *p = buf;
    *p++ = 'X';
    *p++ = '\'';
    for (size_t i = 0; i < n; i++, p += 2)
        snprintf(p, 3, "%02x", b);
    *p++ = '\'';
    *p = '\0';
    return buf;
}

/*
 * A v1 file as a v1 relay leaves it: devices A (caseworker), B and C; B's
 * prekeys; an unused token; A's blob granted to B; a message to B alone
 * (id 5) and one envelope to B and C (ids 6 and 7) referencing the blob;
 * ids up to 9 were handed out (8 and 9 acknowledged since).
 */
Test(open, migrates_v1_keeping_everything)
{
    relay_store_close(g_st);
    g_st = NULL;
    char sql[2048], a[72], b[72], c[72], tok[72], blob[72], m1[72], m2[72], p7[72], p8[72];
    lit(a, 0xa1, 32);
    lit(b, 0xb2, 32);
    lit(c, 0xc3, 32);
    lit(tok, 0x09, 32);
    lit(blob, 0x0b, 16);
    lit(m1, 0x11, 16);
    lit(m2, 0x12, 16);
    lit(p7, 0x07, 32);
    lit(p8, 0x08, 32);
    cr_assert_eq(unlink(g_path), 0);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", g_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", g_path);
    unlink(side);
    char blob_dir[160], blob_file[200];
    snprintf(blob_dir, sizeof blob_dir, "%s.blobs", g_path);
    snprintf(blob_file, sizeof blob_file, "%s/0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", blob_dir);
    FILE *f = fopen(blob_file, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite("blob", 1, 4, f), 4);
    cr_assert_eq(fclose(f), 0);

    sqlite3 *db = NULL;
    char hex[65], key_sql[96];
    sodium_bin2hex(hex, sizeof hex, g_key, 32);
    snprintf(key_sql, sizeof key_sql, "PRAGMA key = \"x'%s'\"", hex);
    cr_assert_eq(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    exec_ok(db, key_sql);
    sodium_memzero(key_sql, sizeof key_sql);
    exec_ok(db, "PRAGMA cipher_page_size = 4096");
    exec_ok(db, "PRAGMA journal_mode = WAL");
    exec_ok(db, "BEGIN");
    exec_ok(db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                "INSERT INTO schema_version(version) VALUES (1)");
    exec_ok(db, V1_SCHEMA);
    snprintf(sql, sizeof sql,
             "INSERT INTO devices VALUES (%s, 2, 'alice', X'aa', 1000000),"
             " (%s, 1, 'bob', X'bb', 1000001), (%s, 1, 'carol', X'cc', 1000002);"
             "INSERT INTO mailboxes(device, messages, bytes) VALUES (%s, 0, 0), (%s, 2, 8),"
             " (%s, 1, 3);",
             a, b, c, a, b, c);
    exec_ok(db, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO signed_prekeys VALUES (%s, X'5050');"
             "INSERT INTO one_time_prekeys(device, id, pub) VALUES (%s, 7, %s), (%s, 8, %s);"
             "INSERT INTO tokens VALUES (%s, 1, 'dave', 2000000, 0);"
             "INSERT INTO blobs VALUES (%s, %s, 4, 1000000, '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');"
             "INSERT INTO blob_grants VALUES (%s, %s), (%s, %s);",
             b, b, p7, b, p8, tok, blob, a, blob, b, blob, c);
    exec_ok(db, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO envelopes VALUES (1, %s, %s, X'68656c6c6f', 1000000, NULL),"
             " (2, %s, %s, X'66616e', 1000005, %s);"
             "INSERT INTO messages(id, recipient, envelope, size) VALUES (5, %s, 1, 5),"
             " (6, %s, 2, 3), (7, %s, 2, 3), (9, %s, 2, 3);"
             "DELETE FROM messages WHERE id = 9;",
             a, m1, a, m2, blob, b, b, c, c);
    exec_ok(db, sql);
    exec_ok(db, "COMMIT");
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);

    relay_limits l = default_limits();
    reopen(&l);
    uint32_t v = 0;
    cr_assert_eq(relay_store_schema_version(g_st, &v), RELAY_OK);
    cr_assert_eq(v, 3);
    cr_assert_eq(raw_int("SELECT count(*) FROM sqlite_master WHERE name IN"
                         " ('messages_mailbox', 'messages_envelope', 'envelopes_received',"
                         "  'messages_v2', 'envelopes_v2')"),
                 0);

    /* Devices, prekeys, tokens. */
    uint8_t ida[RELAY_ID_BYTES], idb[RELAY_ID_BYTES], idc[RELAY_ID_BYTES];
    memset(ida, 0xa1, sizeof ida);
    memset(idb, 0xb2, sizeof idb);
    memset(idc, 0xc3, sizeof idc);
    relay_device dev;
    cr_assert_eq(relay_store_device_get(g_st, idb, &dev), RELAY_OK);
    cr_assert_str_eq(dev.user_id, "bob");
    cr_assert_eq(dev.identity_len, 1);
    cr_assert_eq(dev.identity[0], 0xbb);
    cr_assert_eq(relay_store_device_get(g_st, ida, &dev), RELAY_OK);
    cr_assert_eq(dev.role, ROLE_CASEWORKER);
    uint32_t count = 0;
    cr_assert_eq(relay_store_prekeys_count(g_st, idb, &count), RELAY_OK);
    cr_assert_eq(count, 2);
    uint8_t spk[256];
    size_t spk_len = 0;
    relay_otk otk;
    int has = 0;
    cr_assert_eq(relay_store_prekeys_claim(g_st, idb, spk, &spk_len, &otk, &has), RELAY_OK);
    cr_assert_eq(has, 1);
    cr_assert_eq(otk.id, 7);
    cr_assert_eq(otk.pub[0], 0x07);
    cr_assert_eq(spk_len, 2);
    cr_assert_eq(spk[0], 0x50);
    uint8_t token_hash_v1[32];
    memset(token_hash_v1, 0x09, sizeof token_hash_v1);
    cr_assert_eq(relay_store_token_put(g_st, token_hash_v1, ROLE_CITIZEN, "x", NOW + 10),
                 RELAY_E_CONFLICT);

    /* Messages, in order, with their content, ids kept. */
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 1;
    cr_assert_eq(relay_store_fetch(g_st, idb, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(more, 0);
    cr_assert_eq(d[0].id, 5);
    cr_assert_eq(d[0].content_len, 5);
    cr_assert_eq(memcmp(d[0].content, "hello", 5), 0);
    cr_assert_eq(d[0].message_id[0], 0x11);
    cr_assert_eq(memcmp(d[0].sender, ida, RELAY_ID_BYTES), 0);
    cr_assert_eq(d[0].received, 1000000);
    cr_assert_eq(d[0].n_blobs, 0);
    cr_assert_eq(d[1].id, 6);
    cr_assert_eq(d[1].content_len, 3);
    cr_assert_eq(memcmp(d[1].content, "fan", 3), 0);
    cr_assert_eq(d[1].message_id[0], 0x12);
    cr_assert_eq(d[1].received, 1000005);
    cr_assert_eq(d[1].n_blobs, 1);
    cr_assert_eq(d[1].blob_ids[0][0], 0x0b);
    relay_deliveries_free(d, n);
    cr_assert_eq(relay_store_fetch(g_st, idc, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(d[0].id, 7);
    cr_assert_eq(memcmp(d[0].content, "fan", 3), 0);
    relay_deliveries_free(d, n);

    /* Blobs and grants. */
    uint8_t blob_id[RELAY_BLOB_ID_BYTES];
    memset(blob_id, 0x0b, sizeof blob_id);
    relay_blob_reader *r = NULL;
    uint64_t size = 0;
    cr_assert_eq(relay_store_blob_open(g_st, idc, blob_id, &r, &size), RELAY_OK);
    cr_assert_eq(size, 4);
    uint8_t buf[8];
    read_blob(r, buf, 4);
    cr_assert_eq(memcmp(buf, "blob", 4), 0);
    relay_blob_close(r);

    /* The quota's counts come from the migrated messages, not from v1's
     * counters (bob's say 2 and 8, carol's 1 and 3: they agree here). */
    assert_usage(ida, 0, 0);
    assert_usage(idb, 2, 8);
    assert_usage(idc, 1, 3);

    /* Acks: the shared envelope goes with its last reference. */
    uint64_t ids_b[2] = {5, 6}, id_c = 7;
    uint32_t deleted = 0;
    cr_assert_eq(relay_store_ack(g_st, idb, ids_b, 2, &deleted), RELAY_OK);
    cr_assert_eq(deleted, 2);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 1);
    cr_assert_eq(relay_store_ack(g_st, idc, &id_c, 1, &deleted), RELAY_OK);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), 0);
    assert_usage(idb, 0, 0);
    assert_usage(idc, 0, 0);
    cr_assert_eq(raw_int("SELECT value FROM counters WHERE name = 'message_id_limit'"), 10);

    /* New ids continue after every id v1 handed out (9 was acknowledged). */
    cr_assert_eq(send_one(ida, (const uint8_t(*)[RELAY_ID_BYTES])idc, 1, (const uint8_t *)"new",
                          3, NULL, 0, NOW, NULL),
                 RELAY_OK);
    cr_assert_eq(relay_store_fetch(g_st, idc, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_gt(d[0].id, 9);
    relay_deliveries_free(d, n);
}

Test(open, newer_schema_is_refused)
{
    relay_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open(g_key);
    cr_assert_eq(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    relay_store *st = NULL;
    cr_assert_eq(relay_store_open(&st, g_path, g_key, NULL), RELAY_E_IO);
}

Test(open, wal_and_private_files)
{
    relay_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open(g_key);
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    struct stat sb;
    cr_assert_eq(stat(g_path, &sb), 0);
    cr_assert_eq(sb.st_mode & 077, 0, "the database must not be readable by others");
}

/* ------------------------------------------------------------------------
 * Tokens and devices
 * ------------------------------------------------------------------------ */

Test(tokens, single_use)
{
    uint8_t token[32], hash[32];
    randombytes_buf(token, sizeof token);
    token_hash(hash, token);
    cr_assert_eq(relay_store_token_put(g_st, hash, ROLE_CASEWORKER, "carol", NOW + 60), RELAY_OK);
    cr_assert_eq(relay_store_token_put(g_st, hash, ROLE_CITIZEN, "mallory", NOW + 60),
                 RELAY_E_CONFLICT);

    relay_device dev;
    memset(&dev, 0, sizeof dev);
    randombytes_buf(dev.id, sizeof dev.id);
    dev.identity_len = 3;
    memcpy(dev.identity, "abc", 3);
    cr_assert_eq(relay_store_register(g_st, hash, &dev, NOW), RELAY_OK);
    cr_assert_eq(dev.role, ROLE_CASEWORKER);
    cr_assert_str_eq(dev.user_id, "carol");

    /* A second device with the same token. */
    relay_device other;
    memset(&other, 0, sizeof other);
    randombytes_buf(other.id, sizeof other.id);
    cr_assert_eq(relay_store_register(g_st, hash, &other, NOW), RELAY_E_CONFLICT);
    cr_assert_eq(relay_store_device_get(g_st, other.id, &other), RELAY_E_NOTFOUND);

    /* Unknown token. */
    uint8_t unknown[32];
    randombytes_buf(unknown, sizeof unknown);
    cr_assert_eq(relay_store_register(g_st, unknown, &other, NOW), RELAY_E_NOTFOUND);
}

Test(tokens, expiry)
{
    uint8_t hash[32];
    randombytes_buf(hash, sizeof hash);
    cr_assert_eq(relay_store_token_put(g_st, hash, ROLE_CITIZEN, "dave", NOW + 10), RELAY_OK);
    relay_device dev;
    memset(&dev, 0, sizeof dev);
    randombytes_buf(dev.id, sizeof dev.id);
    cr_assert_eq(relay_store_register(g_st, hash, &dev, NOW + 10), RELAY_E_CONFLICT);
    cr_assert_eq(relay_store_register(g_st, hash, &dev, NOW + 11), RELAY_E_CONFLICT);
    cr_assert_eq(relay_store_device_get(g_st, dev.id, &dev), RELAY_E_NOTFOUND);
    /* Still unused, so it works just before its expiry. */
    cr_assert_eq(relay_store_register(g_st, hash, &dev, NOW + 9), RELAY_OK);
}

Test(tokens, invalid_arguments)
{
    uint8_t hash[32] = {0};
    char long_id[RELAY_USER_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    cr_assert_eq(relay_store_token_put(g_st, hash, 1, long_id, NOW), RELAY_E_INVALID);
    long_id[RELAY_USER_ID_MAX] = '\0';
    cr_assert_eq(relay_store_token_put(g_st, hash, 1, long_id, NOW + 1), RELAY_OK);
    cr_assert_eq(relay_store_token_put(g_st, hash, 1, NULL, NOW), RELAY_E_INVALID);
    relay_device dev;
    memset(&dev, 0, sizeof dev);
    dev.identity_len = sizeof dev.identity + 1;
    cr_assert_eq(relay_store_register(g_st, hash, &dev, NOW), RELAY_E_INVALID);
    dev.identity_len = 0;
    cr_assert_eq(relay_store_register(g_st, hash, &dev, NOW), RELAY_OK);
    relay_device got;
    cr_assert_eq(relay_store_device_get(g_st, dev.id, &got), RELAY_OK);
    cr_assert_str_eq(got.user_id, long_id);
}

Test(devices, register_conflict_keeps_token)
{
    uint8_t h1[32], h2[32];
    randombytes_buf(h1, sizeof h1);
    randombytes_buf(h2, sizeof h2);
    cr_assert_eq(relay_store_token_put(g_st, h1, ROLE_CITIZEN, "erin", NOW + 60), RELAY_OK);
    cr_assert_eq(relay_store_token_put(g_st, h2, ROLE_CITIZEN, "erin", NOW + 60), RELAY_OK);
    relay_device dev;
    memset(&dev, 0, sizeof dev);
    randombytes_buf(dev.id, sizeof dev.id);
    cr_assert_eq(relay_store_register(g_st, h1, &dev, NOW), RELAY_OK);
    /* Same device again: conflict, and the second token is not spent. */
    cr_assert_eq(relay_store_register(g_st, h2, &dev, NOW), RELAY_E_CONFLICT);
    randombytes_buf(dev.id, sizeof dev.id);
    cr_assert_eq(relay_store_register(g_st, h2, &dev, NOW), RELAY_OK);
}

Test(devices, get_and_user_devices)
{
    uint8_t ids[4][RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, ids[0]), RELAY_OK);
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, ids[1]), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, ids[2]), RELAY_OK);
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, ids[3]), RELAY_OK);

    relay_device *list = NULL;
    size_t n = 0;
    cr_assert_eq(relay_store_user_devices(g_st, "alice", &list, &n), RELAY_OK);
    cr_assert_eq(n, 3);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(list[i].user_id, "alice");
        cr_assert_eq(list[i].identity_len, 100);
        for (size_t k = 0; k < 4; k++)
            if (memcmp(list[i].id, ids[k], RELAY_ID_BYTES) == 0)
                seen |= 1U << k;
    }
    cr_assert_eq(seen, 0xb);
    free(list);

    list = NULL;
    cr_assert_eq(relay_store_user_devices(g_st, "nobody", &list, &n), RELAY_OK);
    cr_assert_eq(n, 0);
    free(list);

    uint8_t unknown[RELAY_ID_BYTES];
    randombytes_buf(unknown, sizeof unknown);
    relay_device dev;
    cr_assert_eq(relay_store_device_get(g_st, unknown, &dev), RELAY_E_NOTFOUND);
}

/* ------------------------------------------------------------------------
 * Prekeys
 * ------------------------------------------------------------------------ */

static relay_otk otk(uint32_t id)
{
    relay_otk k;
    k.id = id;
    memset(k.pub, (int)(id & 0xff), sizeof k.pub);
    return k;
}

Test(prekeys, put_claim_count_order)
{
    uint8_t a[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    uint8_t spk[256];
    size_t spk_len = 0;
    relay_otk got;
    int has = -1;
    /* No signed prekey yet. */
    cr_assert_eq(relay_store_prekeys_claim(g_st, a, spk, &spk_len, &got, &has), RELAY_E_NOTFOUND);

    const uint8_t spk1[] = "signed prekey one";
    relay_otk keys[3] = {otk(10), otk(3), otk(7)};
    cr_assert_eq(relay_store_prekeys_put(g_st, a, spk1, sizeof spk1, keys, 3), RELAY_OK);
    relay_otk more[2] = {otk(1), otk(20)};
    cr_assert_eq(relay_store_prekeys_put(g_st, a, NULL, 0, more, 2), RELAY_OK);
    uint32_t n = 0;
    cr_assert_eq(relay_store_prekeys_count(g_st, a, &n), RELAY_OK);
    cr_assert_eq(n, 5);

    /* Oldest first: upload order, not id order. */
    const uint32_t expect[5] = {10, 3, 7, 1, 20};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(relay_store_prekeys_claim(g_st, a, spk, &spk_len, &got, &has), RELAY_OK);
        cr_assert_eq(has, 1);
        cr_assert_eq(got.id, expect[i]);
        relay_otk want = otk(expect[i]);
        cr_assert_eq(memcmp(got.pub, want.pub, 32), 0);
        cr_assert_eq(spk_len, sizeof spk1);
        cr_assert_eq(memcmp(spk, spk1, sizeof spk1), 0);
        cr_assert_eq(relay_store_prekeys_count(g_st, a, &n), RELAY_OK);
        cr_assert_eq(n, 4 - i);
    }
    /* Exhausted: the signed prekey alone. */
    cr_assert_eq(relay_store_prekeys_claim(g_st, a, spk, &spk_len, &got, &has), RELAY_OK);
    cr_assert_eq(has, 0);
    cr_assert_eq(spk_len, sizeof spk1);

    /* A new signed prekey replaces the old one. */
    const uint8_t spk2[] = "the second signed prekey";
    cr_assert_eq(relay_store_prekeys_put(g_st, a, spk2, sizeof spk2, NULL, 0), RELAY_OK);
    cr_assert_eq(relay_store_prekeys_claim(g_st, a, spk, &spk_len, &got, &has), RELAY_OK);
    cr_assert_eq(spk_len, sizeof spk2);
    cr_assert_eq(memcmp(spk, spk2, sizeof spk2), 0);

    uint8_t unknown[RELAY_ID_BYTES];
    randombytes_buf(unknown, sizeof unknown);
    cr_assert_eq(relay_store_prekeys_put(g_st, unknown, spk1, sizeof spk1, keys, 1),
                 RELAY_E_NOTFOUND);
    cr_assert_eq(relay_store_prekeys_count(g_st, unknown, &n), RELAY_E_NOTFOUND);
    cr_assert_eq(relay_store_prekeys_claim(g_st, unknown, spk, &spk_len, &got, &has),
                 RELAY_E_NOTFOUND);
}

Test(prekeys, quota)
{
    relay_limits l = default_limits();
    l.prekeys_max = 10;
    reopen(&l);
    uint8_t a[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    relay_otk keys[11];
    for (uint32_t i = 0; i < 11; i++)
        keys[i] = otk(100 + i);
    cr_assert_eq(relay_store_prekeys_put(g_st, a, NULL, 0, keys, 11), RELAY_E_QUOTA);
    cr_assert_eq(relay_store_prekeys_put(g_st, a, NULL, 0, keys, 8), RELAY_OK);
    /* 8 + 3 > 10: nothing added, and the signed prekey is not replaced. */
    const uint8_t spk[] = "spk";
    cr_assert_eq(relay_store_prekeys_put(g_st, a, spk, sizeof spk, keys + 8, 3), RELAY_E_QUOTA);
    uint32_t n = 0;
    cr_assert_eq(relay_store_prekeys_count(g_st, a, &n), RELAY_OK);
    cr_assert_eq(n, 8);
    uint8_t out[256];
    size_t out_len;
    relay_otk got;
    int has;
    cr_assert_eq(relay_store_prekeys_claim(g_st, a, out, &out_len, &got, &has), RELAY_E_NOTFOUND);
    cr_assert_eq(relay_store_prekeys_put(g_st, a, spk, sizeof spk, keys + 8, 2), RELAY_OK);
    cr_assert_eq(relay_store_prekeys_count(g_st, a, &n), RELAY_OK);
    cr_assert_eq(n, 10);
}

Test(prekeys, duplicate_id)
{
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    relay_otk one = otk(1);
    cr_assert_eq(relay_store_prekeys_put(g_st, a, NULL, 0, &one, 1), RELAY_OK);
    relay_otk two[2] = {otk(2), otk(1)};
    cr_assert_eq(relay_store_prekeys_put(g_st, a, NULL, 0, two, 2), RELAY_E_CONFLICT);
    relay_otk dup[2] = {otk(5), otk(5)};
    cr_assert_eq(relay_store_prekeys_put(g_st, a, NULL, 0, dup, 2), RELAY_E_CONFLICT);
    uint32_t n = 0;
    cr_assert_eq(relay_store_prekeys_count(g_st, a, &n), RELAY_OK);
    cr_assert_eq(n, 1);
    /* Ids are per device. */
    cr_assert_eq(relay_store_prekeys_put(g_st, b, NULL, 0, &one, 1), RELAY_OK);
    const uint8_t big[257] = {0};
    cr_assert_eq(relay_store_prekeys_put(g_st, a, big, sizeof big, NULL, 0), RELAY_E_INVALID);
}

/* ------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------ */

Test(messages, send_fetch_ack)
{
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES], c[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    cr_assert_eq(new_device(g_st, "carol", ROLE_CITIZEN, c), RELAY_OK);

    relay_envelope env[2];
    memset(env, 0, sizeof env);
    const uint8_t(*to_b)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])b;
    const uint8_t(*to_c)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])c;
    memset(env[0].message_id, 1, RELAY_MSGID_BYTES);
    env[0].recipients = to_b;
    env[0].n_recipients = 1;
    env[0].content = (const uint8_t *)"first";
    env[0].content_len = 5;
    memset(env[1].message_id, 2, RELAY_MSGID_BYTES);
    env[1].recipients = to_c;
    env[1].n_recipients = 1;
    env[1].content = NULL; /* empty content is allowed */
    env[1].content_len = 0;
    uint32_t stored = 0;
    cr_assert_eq(relay_store_send(g_st, a, env, 2, NOW, &stored), RELAY_OK);
    cr_assert_eq(stored, 2);

    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 1;
    cr_assert_eq(relay_store_fetch(g_st, b, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(more, 0);
    cr_assert_eq(d[0].content_len, 5);
    cr_assert_eq(memcmp(d[0].content, "first", 5), 0);
    cr_assert_eq(d[0].message_id[0], 1);
    cr_assert_eq(d[0].n_blobs, 0);
    cr_assert_eq(memcmp(d[0].sender, a, RELAY_ID_BYTES), 0);
    uint64_t b_id = d[0].id;
    relay_deliveries_free(d, n);

    cr_assert_eq(relay_store_fetch(g_st, c, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(d[0].content_len, 0);
    uint64_t c_id = d[0].id;
    relay_deliveries_free(d, n);

    /* c cannot delete b's message; unknown ids are ignored. */
    uint32_t deleted = 99;
    uint64_t ids[3] = {b_id, c_id, 123456789};
    cr_assert_eq(relay_store_ack(g_st, c, ids, 3, &deleted), RELAY_OK);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(mailbox_size(b), 1);
    cr_assert_eq(mailbox_size(c), 0);
    cr_assert_eq(relay_store_ack(g_st, b, ids, 1, &deleted), RELAY_OK);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(relay_store_ack(g_st, b, ids, 1, &deleted), RELAY_OK);
    cr_assert_eq(deleted, 0);
    cr_assert_eq(mailbox_size(b), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), 0);

    /* Ids are never reused, even after the newest message is gone. */
    cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"x", 1, NULL, 0, NOW, NULL), RELAY_OK);
    cr_assert_eq(relay_store_fetch(g_st, b, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_gt(d[0].id, c_id);
    cr_assert_gt(d[0].id, b_id);
    relay_deliveries_free(d, n);

    relay_store_stats stats;
    relay_store_stats_get(g_st, &stats);
    cr_assert_eq(stats.messages_stored, 3);
    cr_assert_eq(stats.messages_deleted, 2);
    cr_assert_geq(stats.grouped_ops, stats.commits);
    cr_assert_gt(stats.commits, 0);
}

/* A done callback's flag, waited for under a lock (the callback runs on a store thread). */
struct async_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
};

static void async_done(void *arg)
{
    struct async_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void async_wait_for(struct async_wait *w, int calls)
{
    pthread_mutex_lock(&w->mu);
    while (w->calls < calls)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

Test(messages, async_send_and_ack_fetch)
{
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES], nobody[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    randombytes_buf(nobody, sizeof nobody);
    struct async_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

    relay_envelope env;
    memset(&env, 0, sizeof env);
    memset(env.message_id, 7, RELAY_MSGID_BYTES);
    env.recipients = (const uint8_t(*)[RELAY_ID_BYTES])b;
    env.n_recipients = 1;
    env.content = (const uint8_t *)"async";
    env.content_len = 5;
    relay_store_op *op = NULL;
    cr_assert_eq(relay_store_send_start(g_st, a, &env, 1, NOW, async_done, &w, &op), RELAY_OK);
    cr_assert_not_null(op);
    async_wait_for(&w, 1);
    uint32_t stored = 0;
    cr_assert_eq(relay_store_send_finish(op, &stored), RELAY_OK);
    cr_assert_eq(stored, 1);

    /* A refused send reports its error through finish and stores nothing. */
    env.recipients = (const uint8_t(*)[RELAY_ID_BYTES])nobody;
    cr_assert_eq(relay_store_send_start(g_st, a, &env, 1, NOW, async_done, &w, &op), RELAY_OK);
    async_wait_for(&w, 2);
    cr_assert_eq(relay_store_send_finish(op, &stored), RELAY_E_NOTFOUND);
    /* Invalid arguments: nothing queued, no callback, no op. */
    cr_assert_eq(relay_store_send_start(g_st, a, &env, 0, NOW, async_done, &w, &op),
                 RELAY_E_INVALID);
    cr_assert_null(op);

    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 1;
    uint32_t deleted = 99, prekeys = 99;
    cr_assert_eq(relay_store_ack_fetch_start(g_st, b, NULL, 0, 10, 1 << 20, async_done, &w, &op),
                 RELAY_OK);
    async_wait_for(&w, 3);
    cr_assert_eq(relay_store_ack_fetch_finish(op, &d, &n, &more, &deleted, &prekeys), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(more, 0);
    cr_assert_eq(deleted, 0);
    cr_assert_eq(prekeys, 0);
    cr_assert_eq(d[0].content_len, 5);
    cr_assert_eq(memcmp(d[0].content, "async", 5), 0);
    uint64_t id = d[0].id;
    relay_deliveries_free(d, n);

    /* The acks are applied before the look at the mailbox. */
    cr_assert_eq(relay_store_ack_fetch_start(g_st, b, &id, 1, 10, 1 << 20, async_done, &w, &op),
                 RELAY_OK);
    async_wait_for(&w, 4);
    cr_assert_eq(relay_store_ack_fetch_finish(op, &d, &n, &more, &deleted, NULL), RELAY_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(deleted, 1);
    relay_deliveries_free(d, n);

    /* An answered op may be dropped without its result. */
    cr_assert_eq(relay_store_ack_fetch_start(g_st, b, NULL, 0, 10, 1 << 20, async_done, &w, &op),
                 RELAY_OK);
    async_wait_for(&w, 5);
    relay_store_op_free(op);
    cr_assert_eq(w.calls, 5);
}

Test(messages, fanout_1000_stores_content_once, .timeout = 240)
{
    enum { N = 1000 };
    static uint8_t ids[N][RELAY_ID_BYTES];
    new_devices(ids, N);
    uint8_t sender[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "sender", ROLE_CASEWORKER, sender), RELAY_OK);

    static uint8_t content[32 * 1024];
    randombytes_buf(content, sizeof content);
    uint32_t stored = 0;
    cr_assert_eq(send_one(sender, (const uint8_t(*)[RELAY_ID_BYTES])ids, N, content, sizeof content,
                          NULL, 0, NOW, &stored),
                 RELAY_OK);
    cr_assert_eq(stored, N);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), N);
    relay_store_stats stats;
    relay_store_stats_get(g_st, &stats);
    cr_assert_eq(stats.messages_stored, N);

    /* Everyone sees it; all but the last acknowledge it. */
    for (size_t i = 0; i < N; i++) {
        relay_delivery *d = NULL;
        size_t n = 0;
        int more = 1;
        cr_assert_eq(relay_store_fetch(g_st, ids[i], 10, 1 << 20, &d, &n, &more), RELAY_OK);
        cr_assert_eq(n, 1);
        cr_assert_eq(more, 0);
        cr_assert_eq(d[0].content_len, sizeof content);
        cr_assert_eq(memcmp(d[0].content, content, sizeof content), 0);
        if (i + 1 < N) {
            uint32_t deleted = 0;
            cr_assert_eq(relay_store_ack(g_st, ids[i], &d[0].id, 1, &deleted), RELAY_OK);
            cr_assert_eq(deleted, 1);
        }
        relay_deliveries_free(d, n);
    }
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), 1);
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, ids[N - 1], 10, 1 << 20, &d, &n, &more), RELAY_OK);
    uint32_t deleted = 0;
    cr_assert_eq(relay_store_ack(g_st, ids[N - 1], &d[0].id, 1, &deleted), RELAY_OK);
    relay_deliveries_free(d, n);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), 0);
    assert_usage(ids[0], 0, 0);
    assert_usage(ids[N - 1], 0, 0);
}

Test(messages, unknown_recipient_is_all_or_nothing)
{
    uint8_t a[RELAY_ID_BYTES], rc3[3][RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, rc3[0]), RELAY_OK);
    randombytes_buf(rc3[1], RELAY_ID_BYTES);
    cr_assert_eq(new_device(g_st, "carol", ROLE_CITIZEN, rc3[2]), RELAY_OK);
    uint32_t stored = 77;
    cr_assert_eq(send_one(a, (const uint8_t(*)[RELAY_ID_BYTES])rc3, 3, (const uint8_t *)"hi", 2,
                          NULL, 0, NOW, &stored),
                 RELAY_E_NOTFOUND);
    cr_assert_eq(stored, 77, "no output on failure");

    /* Two envelopes, the second one bad: the first is not stored either. */
    relay_envelope env[2];
    memset(env, 0, sizeof env);
    env[0].recipients = (const uint8_t(*)[RELAY_ID_BYTES])rc3[0];
    env[0].n_recipients = 1;
    env[0].content = (const uint8_t *)"ok";
    env[0].content_len = 2;
    env[1].recipients = (const uint8_t(*)[RELAY_ID_BYTES])rc3[1];
    env[1].n_recipients = 1;
    env[1].content = (const uint8_t *)"bad";
    env[1].content_len = 3;
    cr_assert_eq(relay_store_send(g_st, a, env, 2, NOW, &stored), RELAY_E_NOTFOUND);
    cr_assert_eq(mailbox_size(rc3[0]), 0);
    cr_assert_eq(mailbox_size(rc3[2]), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), 0);
    relay_store_stats stats;
    relay_store_stats_get(g_st, &stats);
    cr_assert_eq(stats.messages_stored, 0);

    /* Empty recipient list: invalid. */
    env[0].n_recipients = 0;
    cr_assert_eq(relay_store_send(g_st, a, env, 1, NOW, &stored), RELAY_E_INVALID);
}

Test(messages, duplicate_recipients_stored_once)
{
    uint8_t a[RELAY_ID_BYTES], r[3][RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, r[0]), RELAY_OK);
    memcpy(r[1], a, RELAY_ID_BYTES); /* to self is fine */
    memcpy(r[2], r[0], RELAY_ID_BYTES);
    uint32_t stored = 0;
    cr_assert_eq(send_one(a, (const uint8_t(*)[RELAY_ID_BYTES])r, 3, (const uint8_t *)"m", 1, NULL,
                          0, NOW, &stored),
                 RELAY_OK);
    cr_assert_eq(stored, 2);
    cr_assert_eq(mailbox_size(r[0]), 1);
    cr_assert_eq(mailbox_size(a), 1);
}

Test(messages, mailbox_quota_messages)
{
    relay_limits l = default_limits();
    l.mailbox_max_messages = 3;
    reopen(&l);
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES], c[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    cr_assert_eq(new_device(g_st, "carol", ROLE_CITIZEN, c), RELAY_OK);
    const uint8_t(*to_b)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])b;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"m", 1, NULL, 0, NOW, NULL), RELAY_OK);
    cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"m", 1, NULL, 0, NOW, NULL), RELAY_E_QUOTA);

    /* A fan-out to a full and a free mailbox: neither gets it. */
    uint8_t both[2][RELAY_ID_BYTES];
    memcpy(both[0], c, RELAY_ID_BYTES);
    memcpy(both[1], b, RELAY_ID_BYTES);
    cr_assert_eq(send_one(a, (const uint8_t(*)[RELAY_ID_BYTES])both, 2, (const uint8_t *)"m", 1,
                          NULL, 0, NOW, NULL),
                 RELAY_E_QUOTA);
    cr_assert_eq(mailbox_size(c), 0);

    /* Two envelopes to c in one call, room for one: neither is stored. */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(send_one(a, (const uint8_t(*)[RELAY_ID_BYTES])c, 1, (const uint8_t *)"m", 1,
                              NULL, 0, NOW, NULL),
                     RELAY_OK);
    relay_envelope env[2];
    memset(env, 0, sizeof env);
    env[0].recipients = (const uint8_t(*)[RELAY_ID_BYTES])c;
    env[0].n_recipients = 1;
    env[0].content = (const uint8_t *)"m";
    env[0].content_len = 1;
    env[1] = env[0];
    uint32_t stored = 0;
    cr_assert_eq(relay_store_send(g_st, a, env, 2, NOW, &stored), RELAY_E_QUOTA);
    cr_assert_eq(mailbox_size(c), 2);
    cr_assert_eq(relay_store_send(g_st, a, env, 1, NOW, &stored), RELAY_OK);
    cr_assert_eq(mailbox_size(c), 3);

    /* Acknowledging frees room. */
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, b, 1, 1 << 20, &d, &n, &more), RELAY_OK);
    uint32_t deleted = 0;
    cr_assert_eq(relay_store_ack(g_st, b, &d[0].id, 1, &deleted), RELAY_OK);
    relay_deliveries_free(d, n);
    cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"m", 1, NULL, 0, NOW, NULL), RELAY_OK);
}

/* Two citizens, alice (a) and bob (b); returns b as a recipient list. */
static const uint8_t (*alice_and_bob(uint8_t a[RELAY_ID_BYTES],
                                     uint8_t b[RELAY_ID_BYTES]))[RELAY_ID_BYTES]
{
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    return (const uint8_t(*)[RELAY_ID_BYTES])b;
}

/* The counts are rebuilt from the file: a full mailbox stays full. */
Test(messages, mailbox_quota_survives_reopen)
{
    relay_limits l = default_limits();
    l.mailbox_max_messages = 2;
    reopen(&l);
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    const uint8_t(*to_b)[RELAY_ID_BYTES] = alice_and_bob(a, b);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"abc", 3, NULL, 0, NOW, NULL),
                     RELAY_OK);
    assert_usage(b, 2, 6);
    reopen(&l);
    assert_usage(b, 2, 6);
    assert_usage(a, 0, 0);
    cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"m", 1, NULL, 0, NOW, NULL), RELAY_E_QUOTA);
    assert_usage(b, 2, 6);
}

/* The id limit recorded in the file (schema v3). */
static uint64_t id_limit(void)
{
    return (uint64_t)raw_int("SELECT value FROM counters WHERE name = 'message_id_limit'");
}

/*
 * Sends k messages from a to b, fetches them (ids rising above last),
 * acknowledges them all; returns the last id.
 */
static uint64_t deliver_and_ack(const uint8_t a[RELAY_ID_BYTES],
                                const uint8_t (*to_b)[RELAY_ID_BYTES], size_t k, uint64_t last)
{
    for (size_t i = 0; i < k; i++)
        cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"m", 1, NULL, 0, NOW, NULL), RELAY_OK);
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, to_b[0], 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, k);
    uint64_t ids[10];
    for (size_t i = 0; i < n; i++) {
        cr_assert_gt(d[i].id, last, "id %llu after %llu", (unsigned long long)d[i].id,
                     (unsigned long long)last);
        last = ids[i] = d[i].id;
    }
    relay_deliveries_free(d, n);
    uint32_t deleted = 0;
    cr_assert_eq(relay_store_ack(g_st, to_b[0], ids, k, &deleted), RELAY_OK);
    cr_assert_eq(deleted, k);
    return last;
}

/*
 * Ids are counted in memory below a recorded limit: after a restart they
 * continue above every id handed out before, also when every message was
 * acknowledged (so a stale ack can never delete a newer message).
 */
Test(messages, ids_never_reused_across_reopen)
{
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    const uint8_t(*to_b)[RELAY_ID_BYTES] = alice_and_bob(a, b);
    uint64_t last = 0;
    for (int round = 0; round < 3; round++) {
        last = deliver_and_ack(a, to_b, 3, last);
        reopen(NULL);
        /* The recorded limit is above every id handed out. */
        cr_assert_gt(id_limit(), last);
    }
}

/*
 * The id limit raised many times (blocks of 3 ids, one message per group):
 * it stays above every id handed out, on disk, across reopens, and a fetch
 * of ids above the fsynced limit still gets its messages.
 */
Test(messages, id_limit_raised_across_blocks)
{
    relay_limits l = default_limits();
    l.id_block = 3;
    reopen(&l);
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    const uint8_t(*to_b)[RELAY_ID_BYTES] = alice_and_bob(a, b);
    uint64_t last = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 7; i++) {
            last = deliver_and_ack(a, to_b, 1, last);
            cr_assert_gt(id_limit(), last);
        }
        reopen(&l);
    }
}

Test(messages, mailbox_quota_bytes)
{
    relay_limits l = default_limits();
    l.mailbox_max_bytes = 1000;
    reopen(&l);
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    const uint8_t(*to_b)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])b;
    static const uint8_t buf[1001];
    cr_assert_eq(send_one(a, to_b, 1, buf, 1001, NULL, 0, NOW, NULL), RELAY_E_QUOTA);
    cr_assert_eq(send_one(a, to_b, 1, buf, 600, NULL, 0, NOW, NULL), RELAY_OK);
    cr_assert_eq(send_one(a, to_b, 1, buf, 401, NULL, 0, NOW, NULL), RELAY_E_QUOTA);
    cr_assert_eq(send_one(a, to_b, 1, buf, 400, NULL, 0, NOW, NULL), RELAY_OK);
    cr_assert_eq(mailbox_size(b), 2);
}

Test(messages, fetch_bounds_and_order)
{
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    const uint8_t(*to_b)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])b;
    uint8_t content[100];
    for (uint8_t i = 0; i < 10; i++) {
        memset(content, i, sizeof content);
        cr_assert_eq(send_one(a, to_b, 1, content, sizeof content, NULL, 0, NOW + i, NULL),
                     RELAY_OK);
    }
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;

    cr_assert_eq(relay_store_fetch(g_st, b, 3, SIZE_MAX, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(more, 1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(d[i].content[0], i, "oldest first");
        cr_assert_eq(d[i].received, NOW + i);
        if (i > 0)
            cr_assert_gt(d[i].id, d[i - 1].id);
    }
    relay_deliveries_free(d, n);

    cr_assert_eq(relay_store_fetch(g_st, b, 100, 250, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(more, 1);
    relay_deliveries_free(d, n);

    /* Smaller than one message: still one. */
    cr_assert_eq(relay_store_fetch(g_st, b, 100, 10, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(more, 1);
    relay_deliveries_free(d, n);

    cr_assert_eq(relay_store_fetch(g_st, b, 10, 1000, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 10);
    cr_assert_eq(more, 0);
    relay_deliveries_free(d, n);

    cr_assert_eq(relay_store_fetch(g_st, a, 10, 1000, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(more, 0);
    relay_deliveries_free(d, n);
    cr_assert_eq(relay_store_fetch(g_st, b, 0, 1000, &d, &n, &more), RELAY_E_INVALID);
}

/* ------------------------------------------------------------------------
 * Blobs
 * ------------------------------------------------------------------------ */

static void put_blob(const uint8_t owner[RELAY_ID_BYTES], const uint8_t *data, size_t len,
                     uint64_t now, uint8_t id[RELAY_BLOB_ID_BYTES])
{
    relay_blob_writer *w = NULL;
    cr_assert_eq(relay_store_blob_create(g_st, owner, &w), RELAY_OK);
    cr_assert_eq(relay_blob_write(w, data, len), RELAY_OK);
    uint64_t size = 0;
    cr_assert_eq(relay_blob_commit(w, now, id, &size), RELAY_OK);
    cr_assert_eq(size, len);
}

static void read_blob(relay_blob_reader *r, uint8_t *buf, size_t len)
{
    size_t off = 0, got = 0;
    do {
        cr_assert_eq(relay_blob_read(r, buf + off, len + 1 - off, &got), RELAY_OK);
        off += got;
    } while (got != 0);
    cr_assert_eq(off, len);
}

Test(blobs, grants)
{
    uint8_t owner[RELAY_ID_BYTES], rcpt[RELAY_ID_BYTES], stranger[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "owner", ROLE_CITIZEN, owner), RELAY_OK);
    cr_assert_eq(new_device(g_st, "rcpt", ROLE_CITIZEN, rcpt), RELAY_OK);
    cr_assert_eq(new_device(g_st, "stranger", ROLE_CITIZEN, stranger), RELAY_OK);
    const uint8_t data[] = "attachment bytes";
    uint8_t id[RELAY_BLOB_ID_BYTES];
    put_blob(owner, data, sizeof data, NOW, id);
    cr_assert_eq(count_blob_files(), 1);

    relay_blob_reader *r = NULL;
    uint64_t size = 0;
    uint8_t buf[sizeof data + 1];
    cr_assert_eq(relay_store_blob_open(g_st, owner, id, &r, &size), RELAY_OK);
    cr_assert_eq(size, sizeof data);
    read_blob(r, buf, sizeof data);
    cr_assert_eq(memcmp(buf, data, sizeof data), 0);
    relay_blob_close(r);

    cr_assert_eq(relay_store_blob_open(g_st, rcpt, id, &r, &size), RELAY_E_DENIED);
    uint8_t missing[RELAY_BLOB_ID_BYTES];
    randombytes_buf(missing, sizeof missing);
    cr_assert_eq(relay_store_blob_open(g_st, owner, missing, &r, &size), RELAY_E_NOTFOUND);

    const uint8_t(*ids)[RELAY_BLOB_ID_BYTES] = (const uint8_t(*)[RELAY_BLOB_ID_BYTES])id;
    /* Only the owner can reference (and so grant) it. */
    cr_assert_eq(send_one(stranger, (const uint8_t(*)[RELAY_ID_BYTES])rcpt, 1, (const uint8_t *)"m",
                          1, ids, 1, NOW, NULL),
                 RELAY_E_DENIED);
    cr_assert_eq(mailbox_size(rcpt), 0);
    cr_assert_eq(send_one(owner, (const uint8_t(*)[RELAY_ID_BYTES])rcpt, 1, (const uint8_t *)"m", 1,
                          (const uint8_t(*)[RELAY_BLOB_ID_BYTES])missing, 1, NOW, NULL),
                 RELAY_E_DENIED);
    cr_assert_eq(relay_store_blob_open(g_st, rcpt, id, &r, &size), RELAY_E_DENIED);

    cr_assert_eq(send_one(owner, (const uint8_t(*)[RELAY_ID_BYTES])rcpt, 1, (const uint8_t *)"m", 1,
                          ids, 1, NOW, NULL),
                 RELAY_OK);
    cr_assert_eq(relay_store_blob_open(g_st, rcpt, id, &r, &size), RELAY_OK);
    read_blob(r, buf, sizeof data);
    cr_assert_eq(memcmp(buf, data, sizeof data), 0);
    relay_blob_close(r);
    cr_assert_eq(relay_store_blob_open(g_st, stranger, id, &r, &size), RELAY_E_DENIED);

    /* The recipient's delivery lists the blob. */
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, rcpt, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(d[0].n_blobs, 1);
    cr_assert_eq(memcmp(d[0].blob_ids[0], id, RELAY_BLOB_ID_BYTES), 0);
    relay_deliveries_free(d, n);

    /* A device that is not registered cannot own blobs. */
    uint8_t nobody[RELAY_ID_BYTES];
    randombytes_buf(nobody, sizeof nobody);
    relay_blob_writer *w = NULL;
    cr_assert_eq(relay_store_blob_create(g_st, nobody, &w), RELAY_E_NOTFOUND);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    cr_assert_gt(kib, 0);
    return kib;
}

/* Chunk i of the test blob: a deterministic pseudo-random stream. */
static void chunk(uint8_t *buf, size_t len, uint32_t i)
{
    uint8_t seed[randombytes_SEEDBYTES] = {0};
    memcpy(seed, &i, sizeof i);
    randombytes_buf_deterministic(buf, len, seed);
}

Test(blobs, stream_20mib_in_chunks, .timeout = 240)
{
    enum { CHUNK = 64 * 1024, CHUNKS = 320 }; /* 20 MiB */
    uint8_t owner[RELAY_ID_BYTES], rcpt[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "owner", ROLE_CITIZEN, owner), RELAY_OK);
    cr_assert_eq(new_device(g_st, "rcpt", ROLE_CITIZEN, rcpt), RELAY_OK);
    static uint8_t buf[CHUNK];
    uint8_t want[32], got_digest[32];
    crypto_generichash_state h;

    long rss0 = rss_kib();
    relay_blob_writer *w = NULL;
    cr_assert_eq(relay_store_blob_create(g_st, owner, &w), RELAY_OK);
    crypto_generichash_init(&h, NULL, 0, sizeof want);
    for (uint32_t i = 0; i < CHUNKS; i++) {
        chunk(buf, CHUNK, i);
        crypto_generichash_update(&h, buf, CHUNK);
        cr_assert_eq(relay_blob_write(w, buf, CHUNK), RELAY_OK);
    }
    crypto_generichash_final(&h, want, sizeof want);
    uint8_t id[RELAY_BLOB_ID_BYTES];
    uint64_t size = 0;
    cr_assert_eq(relay_blob_commit(w, NOW, id, &size), RELAY_OK);
    cr_assert_eq(size, (uint64_t)CHUNK * CHUNKS);
    long rss1 = rss_kib();
    cr_assert_lt(rss1 - rss0, 8 * 1024, "writing grew RSS by %ld KiB", rss1 - rss0);

    /* On disk, whole, under its hex id. */
    char hex[RELAY_BLOB_ID_BYTES * 2 + 1], file[256];
    sodium_bin2hex(hex, sizeof hex, id, sizeof id);
    snprintf(file, sizeof file, "%s.blobs/%s", g_path, hex);
    struct stat sb;
    cr_assert_eq(stat(file, &sb), 0);
    cr_assert_eq((uint64_t)sb.st_size, size);

    /* Read back by a granted recipient, in odd-sized pieces. */
    cr_assert_eq(send_one(owner, (const uint8_t(*)[RELAY_ID_BYTES])rcpt, 1, (const uint8_t *)"m", 1,
                          (const uint8_t(*)[RELAY_BLOB_ID_BYTES])id, 1, NOW, NULL),
                 RELAY_OK);
    relay_blob_reader *r = NULL;
    cr_assert_eq(relay_store_blob_open(g_st, rcpt, id, &r, &size), RELAY_OK);
    crypto_generichash_init(&h, NULL, 0, sizeof got_digest);
    uint64_t total = 0;
    size_t got = 0;
    do {
        cr_assert_eq(relay_blob_read(r, buf, 50000, &got), RELAY_OK);
        crypto_generichash_update(&h, buf, got);
        total += got;
    } while (got != 0);
    relay_blob_close(r);
    crypto_generichash_final(&h, got_digest, sizeof got_digest);
    cr_assert_eq(total, size);
    cr_assert_eq(memcmp(want, got_digest, sizeof want), 0);
    long rss2 = rss_kib();
    cr_assert_lt(rss2 - rss0, 8 * 1024, "reading grew RSS by %ld KiB", rss2 - rss0);
}

Test(blobs, size_limit_and_abort)
{
    relay_limits l = default_limits();
    l.blob_max_bytes = 100000;
    reopen(&l);
    uint8_t owner[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "owner", ROLE_CITIZEN, owner), RELAY_OK);
    static uint8_t data[60000];
    uint8_t id[RELAY_BLOB_ID_BYTES];
    uint64_t size = 0;

    relay_blob_writer *w = NULL;
    cr_assert_eq(relay_store_blob_create(g_st, owner, &w), RELAY_OK);
    cr_assert_eq(relay_blob_write(w, data, sizeof data), RELAY_OK);
    cr_assert_eq(count_blob_files(), 1); /* the temporary file */
    cr_assert_eq(relay_blob_write(w, data, sizeof data), RELAY_E_QUOTA);
    cr_assert_eq(count_blob_files(), 0, "dropped at once");
    cr_assert_eq(relay_blob_write(w, data, 1), RELAY_E_QUOTA);
    cr_assert_eq(relay_blob_commit(w, NOW, id, &size), RELAY_E_QUOTA);

    /* Exactly the limit is fine. */
    cr_assert_eq(relay_store_blob_create(g_st, owner, &w), RELAY_OK);
    cr_assert_eq(relay_blob_write(w, data, sizeof data), RELAY_OK);
    cr_assert_eq(relay_blob_write(w, data, 40000), RELAY_OK);
    cr_assert_eq(relay_blob_commit(w, NOW, id, &size), RELAY_OK);
    cr_assert_eq(size, 100000);
    cr_assert_eq(count_blob_files(), 1);

    /* Abort leaves nothing behind. */
    cr_assert_eq(relay_store_blob_create(g_st, owner, &w), RELAY_OK);
    cr_assert_eq(relay_blob_write(w, data, 10), RELAY_OK);
    relay_blob_abort(w);
    relay_blob_abort(NULL);
    cr_assert_eq(count_blob_files(), 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM blobs"), 1);
}

Test(blobs, stale_temporary_files_removed_on_open)
{
    uint8_t owner[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "owner", ROLE_CITIZEN, owner), RELAY_OK);
    relay_blob_writer *w = NULL;
    cr_assert_eq(relay_store_blob_create(g_st, owner, &w), RELAY_OK);
    cr_assert_eq(relay_blob_write(w, (const uint8_t *)"x", 1), RELAY_OK);
    /* As after a crash: the store goes away with a writer open. */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.blobs/tmp-crashed", g_path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fclose(f);
    relay_blob_abort(w);
    cr_assert_eq(count_blob_files(), 1);
    relay_limits l = default_limits();
    reopen(&l);
    cr_assert_eq(count_blob_files(), 0);
}

/* ------------------------------------------------------------------------
 * Purge
 * ------------------------------------------------------------------------ */

/* More expired messages than one purge chunk (1024), spread over mailboxes. */
Test(purge, many_messages_in_chunks, .timeout = 120)
{
    enum { OLD = 2500, FRESH = 5 };
    relay_limits l = default_limits();
    l.ttl_seconds = 100;
    reopen(&l);
    uint8_t a[RELAY_ID_BYTES], r[3][RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(new_device(g_st, "r", ROLE_CITIZEN, r[i]), RELAY_OK);

    static relay_envelope env[OLD];
    memset(env, 0, sizeof env);
    for (size_t i = 0; i < OLD; i++) {
        env[i].message_id[0] = (uint8_t)i;
        env[i].content = (const uint8_t *)"old";
        env[i].content_len = 3;
        /* every 100th to all three (one shared envelope), else to one */
        env[i].recipients = (const uint8_t(*)[RELAY_ID_BYTES])r[i % 100 == 0 ? 0 : i % 3];
        env[i].n_recipients = i % 100 == 0 ? 3 : 1;
    }
    uint32_t stored = 0;
    cr_assert_eq(relay_store_send(g_st, a, env, OLD, NOW, &stored), RELAY_OK);
    cr_assert_eq(stored, OLD + 2 * (OLD / 100));
    for (size_t i = 0; i < FRESH; i++) {
        env[i].content = (const uint8_t *)"fresh";
        env[i].content_len = 5;
    }
    cr_assert_eq(relay_store_send(g_st, a, env, FRESH, NOW + 80, &stored), RELAY_OK);
    cr_assert_eq(stored, FRESH + 2);

    uint64_t purged = 0;
    cr_assert_eq(relay_store_purge(g_st, NOW + 150, &purged), RELAY_OK);
    cr_assert_eq(purged, OLD + 2 * (OLD / 100) + 4); /* + the four used tokens */
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), FRESH + 2);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), FRESH);
    uint64_t total_m = 0, total_b = 0;
    for (size_t i = 0; i < 3; i++) {
        uint64_t m = 0, b = 0;
        usage(r[i], &m, &b);
        total_m += m;
        total_b += b;
    }
    cr_assert_eq(total_m, FRESH + 2);
    cr_assert_eq(total_b, 5 * (FRESH + 2));
    size_t left = 0;
    for (size_t i = 0; i < 3; i++)
        left += mailbox_size(r[i]);
    cr_assert_eq(left, FRESH + 2);
}

Test(purge, by_ttl)
{
    relay_limits l = default_limits();
    l.ttl_seconds = 100;
    reopen(&l);
    /* Two devices: their two tokens are now used. */
    uint8_t a[RELAY_ID_BYTES], b[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    cr_assert_eq(new_device(g_st, "bob", ROLE_CITIZEN, b), RELAY_OK);
    uint8_t live[32], expired[32];
    randombytes_buf(live, sizeof live);
    randombytes_buf(expired, sizeof expired);
    cr_assert_eq(relay_store_token_put(g_st, live, ROLE_CITIZEN, "later", NOW + 10000), RELAY_OK);
    cr_assert_eq(relay_store_token_put(g_st, expired, ROLE_CITIZEN, "late", NOW + 100), RELAY_OK);

    const uint8_t(*to_b)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])b;
    uint8_t old_blob[RELAY_BLOB_ID_BYTES], new_blob[RELAY_BLOB_ID_BYTES];
    put_blob(a, (const uint8_t *)"old", 3, NOW, old_blob);
    put_blob(a, (const uint8_t *)"new", 3, NOW + 80, new_blob);
    cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"old", 3,
                          (const uint8_t(*)[RELAY_BLOB_ID_BYTES])old_blob, 1, NOW, NULL),
                 RELAY_OK);
    cr_assert_eq(send_one(a, to_b, 1, (const uint8_t *)"new", 3, NULL, 0, NOW + 80, NULL),
                 RELAY_OK);
    cr_assert_eq(count_blob_files(), 2);

    /* Nothing is older than the TTL yet; only the used tokens go. */
    uint64_t purged = 0;
    cr_assert_eq(relay_store_purge(g_st, NOW + 50, &purged), RELAY_OK);
    cr_assert_eq(purged, 2);
    cr_assert_eq(mailbox_size(b), 2);

    /* Past the TTL of the old message and blob, and the expiry of a token. */
    cr_assert_eq(relay_store_purge(g_st, NOW + 150, &purged), RELAY_OK);
    cr_assert_eq(purged, 3);
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, b, 10, 1 << 20, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(memcmp(d[0].content, "new", 3), 0);
    relay_deliveries_free(d, n);
    relay_blob_reader *r = NULL;
    uint64_t size = 0;
    cr_assert_eq(relay_store_blob_open(g_st, a, old_blob, &r, &size), RELAY_E_NOTFOUND);
    cr_assert_eq(relay_store_blob_open(g_st, a, new_blob, &r, &size), RELAY_OK);
    relay_blob_close(r);
    cr_assert_eq(count_blob_files(), 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM blob_grants"), 0);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), 1);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), 1);
    relay_store_stats stats;
    relay_store_stats_get(g_st, &stats);
    cr_assert_eq(stats.messages_deleted, 1);

    /* The live token survived and still works; the expired one is gone. */
    relay_device dev;
    memset(&dev, 0, sizeof dev);
    randombytes_buf(dev.id, sizeof dev.id);
    cr_assert_eq(relay_store_register(g_st, expired, &dev, NOW + 150), RELAY_E_NOTFOUND);
    cr_assert_eq(relay_store_register(g_st, live, &dev, NOW + 150), RELAY_OK);
}

/* ------------------------------------------------------------------------
 * Concurrency and group commit
 * ------------------------------------------------------------------------ */

enum { OTKS = 200, CLAIMERS = 8 };

struct claim_job {
    const uint8_t *device;
    uint32_t ids[OTKS];
    size_t n;
    int rc;
};

static void *claim_worker(void *arg)
{
    struct claim_job *j = arg;
    for (;;) {
        uint8_t spk[256];
        size_t spk_len = 0;
        relay_otk k;
        int has = 0;
        j->rc = relay_store_prekeys_claim(g_st, j->device, spk, &spk_len, &k, &has);
        if (j->rc != RELAY_OK || !has)
            return NULL;
        if (j->n == OTKS) {
            j->rc = -100; /* more than exist */
            return NULL;
        }
        j->ids[j->n++] = k.id;
    }
}

Test(concurrency, claims_hand_out_each_prekey_once)
{
    uint8_t a[RELAY_ID_BYTES];
    cr_assert_eq(new_device(g_st, "alice", ROLE_CITIZEN, a), RELAY_OK);
    relay_otk keys[100];
    for (uint32_t batch = 0; batch < OTKS / 100; batch++) {
        for (uint32_t i = 0; i < 100; i++)
            keys[i] = otk(batch * 100 + i);
        cr_assert_eq(relay_store_prekeys_put(g_st, a, (const uint8_t *)"spk", 3, keys, 100),
                     RELAY_OK);
    }
    static struct claim_job jobs[CLAIMERS];
    pthread_t th[CLAIMERS];
    for (size_t t = 0; t < CLAIMERS; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].device = a;
        cr_assert_eq(pthread_create(&th[t], NULL, claim_worker, &jobs[t]), 0);
    }
    unsigned seen[OTKS] = {0};
    size_t total = 0;
    for (size_t t = 0; t < CLAIMERS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(jobs[t].rc, RELAY_OK);
        for (size_t i = 0; i < jobs[t].n; i++) {
            cr_assert_lt(jobs[t].ids[i], OTKS);
            seen[jobs[t].ids[i]]++;
        }
        total += jobs[t].n;
    }
    cr_assert_eq(total, OTKS);
    for (size_t i = 0; i < OTKS; i++)
        cr_assert_eq(seen[i], 1, "prekey %zu handed out %u times", i, seen[i]);
    uint32_t left = 99;
    cr_assert_eq(relay_store_prekeys_count(g_st, a, &left), RELAY_OK);
    cr_assert_eq(left, 0);
}

enum { SENDERS = 16, SENDS_EACH = 40, RCPTS = 4 };

static uint8_t g_senders[SENDERS][RELAY_ID_BYTES];
static uint8_t g_rcpts[RCPTS][RELAY_ID_BYTES];

struct send_job {
    size_t t;
    int rc;
};

static void *send_worker(void *arg)
{
    struct send_job *j = arg;
    for (size_t i = 0; i < SENDS_EACH && j->rc == RELAY_OK; i++) {
        uint8_t content[64];
        memset(content, 0, sizeof content);
        memcpy(content, &j->t, sizeof j->t);
        memcpy(content + sizeof j->t, &i, sizeof i);
        uint32_t stored = 0;
        j->rc =
            send_one(g_senders[j->t], (const uint8_t(*)[RELAY_ID_BYTES])g_rcpts[(j->t + i) % RCPTS],
                     1, content, sizeof content, NULL, 0, NOW, &stored);
        if (j->rc == RELAY_OK && stored != 1)
            j->rc = -100;
    }
    return NULL;
}

Test(concurrency, sends_from_many_threads_are_durable)
{
    for (size_t t = 0; t < SENDERS; t++)
        cr_assert_eq(new_device(g_st, "sender", ROLE_CITIZEN, g_senders[t]), RELAY_OK);
    for (size_t r = 0; r < RCPTS; r++)
        cr_assert_eq(new_device(g_st, "rcpt", ROLE_CITIZEN, g_rcpts[r]), RELAY_OK);
    relay_store_stats before, after;
    relay_store_stats_get(g_st, &before);

    pthread_t th[SENDERS];
    struct send_job jobs[SENDERS];
    for (size_t t = 0; t < SENDERS; t++) {
        jobs[t] = (struct send_job){t, RELAY_OK};
        cr_assert_eq(pthread_create(&th[t], NULL, send_worker, &jobs[t]), 0);
    }
    for (size_t t = 0; t < SENDERS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(jobs[t].rc, RELAY_OK);
    }
    relay_store_stats_get(g_st, &after);
    cr_assert_eq(after.messages_stored - before.messages_stored, SENDERS * SENDS_EACH);
    cr_assert_eq(after.grouped_ops - before.grouped_ops, SENDERS * SENDS_EACH);
    cr_assert_leq(after.commits - before.commits, SENDERS * SENDS_EACH);

    /* After a reopen every message is there, once. */
    relay_limits l = default_limits();
    reopen(&l);
    static unsigned seen[SENDERS][SENDS_EACH];
    size_t total = 0;
    for (size_t r = 0; r < RCPTS; r++) {
        relay_delivery *d = NULL;
        size_t n = 0;
        int more = 0;
        cr_assert_eq(relay_store_fetch(g_st, g_rcpts[r], 100000, SIZE_MAX, &d, &n, &more),
                     RELAY_OK);
        cr_assert_eq(more, 0);
        for (size_t i = 0; i < n; i++) {
            size_t t, k;
            cr_assert_eq(d[i].content_len, 64);
            memcpy(&t, d[i].content, sizeof t);
            memcpy(&k, d[i].content + sizeof t, sizeof k);
            cr_assert_lt(t, SENDERS);
            cr_assert_lt(k, SENDS_EACH);
            cr_assert_eq((t + k) % RCPTS, r);
            cr_assert_eq(memcmp(d[i].sender, g_senders[t], RELAY_ID_BYTES), 0);
            seen[t][k]++;
        }
        total += n;
        relay_deliveries_free(d, n);
    }
    cr_assert_eq(total, SENDERS * SENDS_EACH);
    for (size_t t = 0; t < SENDERS; t++)
        for (size_t k = 0; k < SENDS_EACH; k++)
            cr_assert_eq(seen[t][k], 1);
}

struct mixed_job {
    size_t t;
    int rc;
};

/*
 * Each thread sends a good envelope, one refused by its checks (unknown
 * recipient), and a call of two envelopes whose second is refused after
 * the first was written (which makes the commit thread redo its group
 * with savepoints). Only the good ones may be stored, all of them.
 */
static void *mixed_worker(void *arg)
{
    struct mixed_job *j = arg;
    uint8_t nobody[RELAY_ID_BYTES];
    memset(nobody, 0xee, sizeof nobody);
    const uint8_t(*good)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])g_rcpts[0];
    const uint8_t(*bad)[RELAY_ID_BYTES] = (const uint8_t(*)[RELAY_ID_BYTES])nobody;
    for (size_t i = 0; i < SENDS_EACH && j->rc == RELAY_OK; i++) {
        int rc = send_one(g_senders[j->t], good, 1, (const uint8_t *)"good", 4, NULL, 0, NOW, NULL);
        if (rc != RELAY_OK) {
            j->rc = rc;
            break;
        }
        rc = send_one(g_senders[j->t], bad, 1, (const uint8_t *)"bad", 3, NULL, 0, NOW, NULL);
        if (rc != RELAY_E_NOTFOUND) {
            j->rc = rc == RELAY_OK ? -100 : rc;
            break;
        }
        relay_envelope env[2];
        memset(env, 0, sizeof env);
        env[0].recipients = good;
        env[0].n_recipients = 1;
        env[0].content = (const uint8_t *)"half";
        env[0].content_len = 4;
        env[1] = env[0];
        env[1].recipients = bad;
        uint32_t stored = 0;
        rc = relay_store_send(g_st, g_senders[j->t], env, 2, NOW, &stored);
        if (rc != RELAY_E_NOTFOUND)
            j->rc = rc == RELAY_OK ? -101 : rc;
    }
    return NULL;
}

Test(concurrency, failing_ops_do_not_affect_their_group)
{
    for (size_t t = 0; t < SENDERS; t++)
        cr_assert_eq(new_device(g_st, "sender", ROLE_CITIZEN, g_senders[t]), RELAY_OK);
    cr_assert_eq(new_device(g_st, "rcpt", ROLE_CITIZEN, g_rcpts[0]), RELAY_OK);
    pthread_t th[SENDERS];
    struct mixed_job jobs[SENDERS];
    for (size_t t = 0; t < SENDERS; t++) {
        jobs[t] = (struct mixed_job){t, RELAY_OK};
        cr_assert_eq(pthread_create(&th[t], NULL, mixed_worker, &jobs[t]), 0);
    }
    for (size_t t = 0; t < SENDERS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(jobs[t].rc, RELAY_OK);
    }
    relay_delivery *d = NULL;
    size_t n = 0;
    int more = 0;
    cr_assert_eq(relay_store_fetch(g_st, g_rcpts[0], 100000, SIZE_MAX, &d, &n, &more), RELAY_OK);
    cr_assert_eq(n, SENDERS * SENDS_EACH);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(memcmp(d[i].content, "good", 4), 0);
    relay_deliveries_free(d, n);
    cr_assert_eq(raw_int("SELECT count(*) FROM envelopes"), SENDERS * SENDS_EACH);
    cr_assert_eq(raw_int("SELECT count(*) FROM messages"), SENDERS * SENDS_EACH);
    /* The failed ops' counts were taken back with their writes: the
     * counts in memory equal those rebuilt from the file. */
    assert_usage(g_rcpts[0], SENDERS * SENDS_EACH, 4 * SENDERS * SENDS_EACH);
    relay_store_stats stats;
    relay_store_stats_get(g_st, &stats);
    cr_assert_eq(stats.messages_stored, SENDERS * SENDS_EACH);
    reopen(NULL);
    assert_usage(g_rcpts[0], SENDERS * SENDS_EACH, 4 * SENDERS * SENDS_EACH);
}
