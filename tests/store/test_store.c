/*
 * Tests for libsecmsg/src/store/ (client_store.h on sqlcipher).
 *
 * Every test gets a fresh directory under /tmp with a real sqlcipher
 * database and key file; the fixture removes it afterwards. The KDF cost is
 * the smallest allowed (1 pass, 8 MiB) to keep tests fast; the format and
 * code paths are those of the default cost. Some tests look into the files
 * (the key file through the store's own parser, the database through
 * sqlite) to check how things are stored. No test asserts anything about
 * time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <sqlcipher/sqlite3.h>

#include "store/client_store.h"
#include "store/keyfile.h"
#include "store/store_internal.h"

#define OPS 1U
#define MEM 8192U
#define PIN "1234"
#define PIN_LEN 4U

static char g_dir[64];
static char g_path[128];
static char g_keys[140];
static uint8_t g_secret[32];
static secmsg__store *g_st;

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

static void setup(void)
{
    cr_assert_geq(sodium_init(), 0);
    strcpy(g_dir, "/tmp/secmsg-store-test-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/device.db", g_dir);
    snprintf(g_keys, sizeof g_keys, "%s.keys", g_path);
    randombytes_buf(g_secret, sizeof g_secret);
    g_st = NULL;
}

/* The fixture with a created, open store. */
static void setup_open(void)
{
    setup();
    int rc = secmsg__store_create(&g_st, g_path, g_secret, sizeof g_secret, PIN, PIN_LEN, OPS, MEM);
    if (rc != SECMSG_OK)
        rm_rf(g_dir); /* a failed init skips the teardown */
    cr_assert_eq(rc, SECMSG_OK);
    cr_assert_not_null(g_st);
}

static void teardown(void)
{
    secmsg__store_close(g_st);
    g_st = NULL;
    rm_rf(g_dir);
}

TestSuite(lifecycle, .init = setup, .fini = teardown);
TestSuite(pin, .init = setup_open, .fini = teardown);
TestSuite(keyfile, .init = setup_open, .fini = teardown);
TestSuite(schema, .init = setup_open, .fini = teardown);
TestSuite(records, .init = setup_open, .fini = teardown);
TestSuite(tx, .init = setup_open, .fini = teardown);

static int open_pin(const char *pin, uint32_t *left)
{
    secmsg__store_close(g_st);
    g_st = NULL;
    return secmsg__store_open_pin(&g_st, g_path, g_secret, sizeof g_secret, pin, strlen(pin), left);
}

static void reopen(void)
{
    uint32_t left = 0;
    cr_assert_eq(open_pin(PIN, &left), SECMSG_OK);
    cr_assert_not_null(g_st);
}

static void close_store(void)
{
    secmsg__store_close(g_st);
    g_st = NULL;
}

static size_t read_bytes(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        cr_assert_geq(r, 0);
        if (r == 0)
            break;
        n += (size_t)r;
        cr_assert_lt(n, cap, "%s is larger than the test expects", path);
    }
    close(fd);
    return n;
}

/* Rewrites an existing file in place (its mode stays as it is). */
static void write_bytes(const char *path, const uint8_t *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

static secmsg__keyfile read_keyfile(void)
{
    uint8_t buf[2048];
    secmsg__keyfile kf;
    size_t n = read_bytes(g_keys, buf, sizeof buf);
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, n), SECMSG_OK);
    return kf;
}

/* Writes kf sealed with the device secret, as the store would. */
static void write_keyfile(secmsg__keyfile *kf)
{
    uint8_t kmac[32], buf[SECMSG__KEYFILE_BYTES];
    secmsg__keyfile_mac_key(kmac, g_secret, sizeof g_secret);
    secmsg__keyfile_seal(kf, kmac);
    secmsg__keyfile_encode(buf, kf);
    write_bytes(g_keys, buf, sizeof buf);
}

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++) {
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    }
    return 0;
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int64_t user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static secmsg_message msg(uint8_t idbyte, const char *peer, int outgoing, int status,
                          uint64_t stored_at, size_t text_len)
{
    secmsg_message m;
    memset(&m, 0, sizeof m);
    memset(m.id, idbyte, sizeof m.id);
    snprintf(m.peer, sizeof m.peer, "%s", peer);
    m.outgoing = outgoing;
    m.status = status;
    m.sent_at = stored_at / 2;
    m.stored_at = stored_at;
    m.text_len = text_len;
    return m;
}

static secmsg__contact_row contact(const char *user, uint8_t devbyte)
{
    secmsg__contact_row c;
    memset(&c, 0, sizeof c);
    snprintf(c.user_id, sizeof c.user_id, "%s", user);
    c.role = SECMSG_ROLE_CITIZEN;
    c.verification = SECMSG_VERIFIED_INVITE;
    memset(c.device_id, devbyte, sizeof c.device_id);
    c.identity_len = 64;
    memset(c.identity, devbyte ^ 0x5a, c.identity_len);
    c.cert_len = 10;
    memset(c.cert, 0xc3, c.cert_len);
    return c;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

Test(lifecycle, create_open_round_trip)
{
    uint32_t left = 0;
    uint8_t *v = NULL;
    size_t len = 0;
    struct stat sb;

    cr_assert_eq(
        secmsg__store_create(&g_st, g_path, g_secret, sizeof g_secret, PIN, PIN_LEN, OPS, MEM),
        SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_put(g_st, "identity", (const uint8_t *)"abc", 3), SECMSG_OK);
    cr_assert_eq(lstat(g_path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(lstat(g_keys, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(sb.st_size, SECMSG__KEYFILE_BYTES);

    cr_assert_eq(open_pin(PIN, &left), SECMSG_OK);
    cr_assert_eq(left, SECMSG__PIN_MAX_FAILURES_DEFAULT);
    cr_assert_eq(secmsg__store_setting_get(g_st, "identity", &v, &len), SECMSG_OK);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(v, "abc", 3), 0);
    secmsg__store_free(v, len);

    secmsg__keyfile kf = read_keyfile();
    cr_assert_eq(kf.kdf_ops, OPS);
    cr_assert_eq(kf.kdf_mem_kib, MEM);
    cr_assert_eq(kf.failures, 0);
    cr_assert_eq(kf.flags, 0);
}

Test(lifecycle, create_defaults_recorded)
{
    /* 0, 0 = the defaults. Only the key file is inspected (the unlock at
     * the default cost is measured by a benchmark, not here). */
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, sizeof g_secret, PIN, PIN_LEN, 0, 0),
                 SECMSG_OK);
    secmsg__keyfile kf = read_keyfile();
    cr_assert_eq(kf.kdf_ops, SECMSG__KDF_OPS_DEFAULT);
    cr_assert_eq(kf.kdf_mem_kib, SECMSG__KDF_MEM_KIB_DEFAULT);
    cr_assert_eq(kf.max_failures, SECMSG__PIN_MAX_FAILURES_DEFAULT);
}

Test(lifecycle, invalid_arguments)
{
    uint8_t small[15] = {0};
    uint32_t left = 7;

    cr_assert_eq(secmsg__store_create(NULL, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, "", g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, g_path, small, sizeof small, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 65, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, "123", 3, OPS, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, 65, OPS, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, 11, MEM),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, 8191),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(
        secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, 1024U * 1024U + 1U),
        SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_open_pin(&g_st, g_path, g_secret, 32, "12", 2, &left),
                 SECMSG_E_INVALID_ARG);
    cr_assert_eq(left, 0);
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, g_secret, 31, NULL),
                 SECMSG_E_INVALID_ARG);
    cr_assert_null(g_st);
    cr_assert(!exists(g_path) && !exists(g_keys));
    secmsg__store_free(NULL, 0);
    secmsg__store_close(NULL);
    cr_assert_not_null(secmsg__store_last_error(NULL));
}

Test(lifecycle, exists)
{
    uint8_t before[SECMSG__KEYFILE_BYTES], after[SECMSG__KEYFILE_BYTES];

    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_OK);
    close_store();
    read_bytes(g_keys, before, sizeof before + 1);
    secmsg__store *other = NULL;
    cr_assert_eq(secmsg__store_create(&other, g_path, g_secret, 32, "9999", 4, OPS, MEM),
                 SECMSG_E_EXISTS);
    cr_assert_null(other);
    /* The existing store is untouched. */
    read_bytes(g_keys, after, sizeof after + 1);
    cr_assert_eq(memcmp(before, after, sizeof before), 0);
    reopen();
    close_store();

    /* Either file alone is enough to refuse. */
    char dbonly[160], keysonly[160], k2[170];
    snprintf(dbonly, sizeof dbonly, "%s/a.db", g_dir);
    snprintf(keysonly, sizeof keysonly, "%s/b.db", g_dir);
    snprintf(k2, sizeof k2, "%s/b.db.keys", g_dir);
    int fd = open(dbonly, O_CREAT | O_WRONLY, 0600);
    close(fd);
    fd = open(k2, O_CREAT | O_WRONLY, 0600);
    close(fd);
    cr_assert_eq(secmsg__store_create(&other, dbonly, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_E_EXISTS);
    cr_assert_eq(secmsg__store_create(&other, keysonly, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_E_EXISTS);
    cr_assert(exists(dbonly) && exists(k2));
}

Test(lifecycle, not_found)
{
    uint32_t left = 5;
    cr_assert_eq(open_pin(PIN, &left), SECMSG_E_NOT_FOUND);
    cr_assert_null(g_st);

    /* A key file without its database: NOT_FOUND, and no attempt counted. */
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_OK);
    close_store();
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved.db", g_dir);
    cr_assert_eq(rename(g_path, moved), 0);
    cr_assert_eq(open_pin(PIN, &left), SECMSG_E_NOT_FOUND);
    cr_assert_eq(read_keyfile().failures, 0);
    cr_assert_eq(rename(moved, g_path), 0);
    reopen();
}

Test(lifecycle, loose_permissions)
{
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_OK);
    close_store();
    static const mode_t loose[] = {0644, 0640, 0604, 0660, 0606, 0700, 0610};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        mode_t expect_ok = (loose[i] & 077) == 0;
        cr_assert_eq(chmod(g_keys, loose[i]), 0);
        cr_assert_eq(open_pin(PIN, NULL), expect_ok ? SECMSG_OK : SECMSG_E_PERMISSION,
                     "key file mode %o", (unsigned)loose[i]);
        close_store();
        cr_assert_eq(chmod(g_keys, 0600), 0);
        cr_assert_eq(chmod(g_path, loose[i]), 0);
        cr_assert_eq(open_pin(PIN, NULL), expect_ok ? SECMSG_OK : SECMSG_E_PERMISSION,
                     "database mode %o", (unsigned)loose[i]);
        close_store();
        cr_assert_eq(chmod(g_path, 0600), 0);
    }
    /* A refused open counted nothing. */
    cr_assert_eq(read_keyfile().failures, 0);

    /* Not a regular file of ours: a symlink to the real key file. */
    char real[160];
    snprintf(real, sizeof real, "%s/real.keys", g_dir);
    cr_assert_eq(rename(g_keys, real), 0);
    cr_assert_eq(symlink(real, g_keys), 0);
    cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_PERMISSION);
    cr_assert_eq(unlink(g_keys), 0);
    cr_assert_eq(rename(real, g_keys), 0);
    reopen();
}

Test(lifecycle, database_replaced_is_tampered)
{
    /* Two stores with the same device secret: B's database under A's key
     * file passes the key file's MAC but does not decrypt. */
    char other[160];
    snprintf(other, sizeof other, "%s/other.db", g_dir);
    secmsg__store *b = NULL;
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_OK);
    cr_assert_eq(secmsg__store_create(&b, other, g_secret, 32, PIN, PIN_LEN, OPS, MEM), SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_put(b, "x", (const uint8_t *)"y", 1), SECMSG_OK);
    secmsg__store_close(b);
    close_store();
    cr_assert_eq(rename(other, g_path), 0);
    cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_TAMPERED);
    cr_assert_null(g_st);
}

Test(lifecycle, database_is_encrypted)
{
    static const char canary[] = "PLAINTEXT-CANARY-7f3a9c-case-no-4711";
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_OK);
    secmsg_message m = msg(1, "citizen-1", 0, SECMSG_STATUS_RECEIVED, 1000, strlen(canary));
    cr_assert_eq(secmsg__store_message_put(g_st, &m, canary), SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_put(g_st, "note", (const uint8_t *)canary, strlen(canary)),
                 SECMSG_OK);
    secmsg__contact_row c = contact("citizen-1", 9);
    cr_assert_eq(secmsg__store_contact_put(g_st, &c), SECMSG_OK);

    /* While open (pages may sit in the WAL) and after close. */
    for (int round = 0; round < 2; round++) {
        static const char *const suffix[] = {"", "-wal"};
        for (size_t i = 0; i < 2; i++) {
            char p[160];
            snprintf(p, sizeof p, "%s%s", g_path, suffix[i]);
            if (!exists(p))
                continue;
            static uint8_t buf[4 << 20];
            size_t n = read_bytes(p, buf, sizeof buf);
            cr_assert_gt(n, 0);
            cr_assert(!contains(buf, n, canary), "plaintext in %s", p);
            cr_assert(!contains(buf, n, "citizen-1"), "user id in %s", p);
            cr_assert(!contains(buf, n, "SQLite format 3"), "plain header in %s", p);
            cr_assert(!contains(buf, n, "CREATE TABLE"), "schema in %s", p);
        }
        close_store();
    }
    reopen();
}

/* ------------------------------------------------------------------------
 * PIN counting, lock, wipe, platform key
 * ------------------------------------------------------------------------ */

Test(pin, wrong_pin_counted_and_reset)
{
    uint32_t left = 0;
    close_store();
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 9);
    cr_assert_null(g_st);
    cr_assert_eq(read_keyfile().failures, 1);
    cr_assert_eq(open_pin("12345", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 8);
    cr_assert_eq(read_keyfile().failures, 2);
    cr_assert_eq(open_pin(PIN, &left), SECMSG_OK);
    cr_assert_eq(left, 10);
    cr_assert_eq(read_keyfile().failures, 0);
    cr_assert_eq(open_pin("4321", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 9);
}

Test(pin, counter_survives_reopen_and_process)
{
    uint32_t left = 0;
    close_store();
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            secmsg__store *st = NULL;
            int rc = secmsg__store_open_pin(&st, g_path, g_secret, 32, "0000", 4, NULL);
            _exit(rc == SECMSG_E_WRONG_PIN ? 0 : 1);
        }
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    cr_assert_eq(open_pin("0001", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 6);
}

Test(pin, lock_after_max)
{
    uint32_t left = 0;
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 3, 0), SECMSG_OK);
    close_store();
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 2);
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 1);
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_LOCKED);
    cr_assert_eq(left, 0);
    /* For good: the right PIN does not help, and nothing more is counted. */
    cr_assert_eq(open_pin(PIN, &left), SECMSG_E_LOCKED);
    cr_assert_null(g_st);
    secmsg__keyfile kf = read_keyfile();
    cr_assert(kf.flags & SECMSG__KEYFILE_LOCKED);
    cr_assert_eq(kf.failures, 3);
    cr_assert(exists(g_path));
    cr_assert(!sodium_is_zero(kf.pin_wrap, sizeof kf.pin_wrap));
}

Test(pin, wipe_policy_deletes)
{
    uint32_t left = 0;
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    cr_assert_eq(secmsg__store_platform_key_set(g_st, key, sizeof key), SECMSG_OK);
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 2, 1), SECMSG_OK);
    cr_assert(read_keyfile().flags & SECMSG__KEYFILE_WIPE);
    close_store();
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 1);
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_LOCKED);
    char p[160];
    cr_assert(!exists(g_path) && !exists(g_keys));
    snprintf(p, sizeof p, "%s-wal", g_path);
    cr_assert(!exists(p));
    snprintf(p, sizeof p, "%s-shm", g_path);
    cr_assert(!exists(p));
    cr_assert_eq(open_pin(PIN, &left), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, key, 32, &left),
                 SECMSG_E_NOT_FOUND);
    /* A new store can be made in its place. */
    cr_assert_eq(secmsg__store_create(&g_st, g_path, g_secret, 32, PIN, PIN_LEN, OPS, MEM),
                 SECMSG_OK);
}

Test(pin, interrupted_wipe_finishes_on_next_open)
{
    /* A key file that says WIPED (the process died after erasing the wraps
     * but before removing the files): the next open completes the wipe. */
    close_store();
    secmsg__keyfile kf = read_keyfile();
    kf.flags = SECMSG__KEYFILE_LOCKED | SECMSG__KEYFILE_WIPE | SECMSG__KEYFILE_WIPED;
    sodium_memzero(kf.pin_nonce, sizeof kf.pin_nonce);
    sodium_memzero(kf.pin_wrap, sizeof kf.pin_wrap);
    write_keyfile(&kf);
    cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_NOT_FOUND);
    cr_assert(!exists(g_path) && !exists(g_keys));
}

Test(pin, attempt_counted_but_unanswered_locks)
{
    /* failures == max without LOCKED is what a process killed during its
     * last attempt leaves behind: the next open locks. */
    close_store();
    secmsg__keyfile kf = read_keyfile();
    kf.failures = kf.max_failures;
    write_keyfile(&kf);
    cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_LOCKED);
    cr_assert(read_keyfile().flags & SECMSG__KEYFILE_LOCKED);
}

Test(pin, counted_before_the_kdf, .timeout = 120)
{
    /*
     * A store with an expensive KDF; a child opens it with the right PIN and
     * is killed as soon as the key file shows the attempt counted. The
     * count is on disk while the child still works on Argon2id, so killing
     * it there cannot give a free guess.
     */
    char path[160];
    snprintf(path, sizeof path, "%s/slow.db", g_dir);
    char keys[170];
    snprintf(keys, sizeof keys, "%s.keys", path);
    secmsg__store *slow = NULL;
    cr_assert_eq(secmsg__store_create(&slow, path, g_secret, 32, PIN, PIN_LEN, 4, 128U * 1024U),
                 SECMSG_OK);
    secmsg__store_close(slow);

    /* A child that finishes before the parent looks (a starved parent)
     * proves nothing either way: try again, a few times. */
    int seen_counted = 0;
    for (int attempt = 0; attempt < 5 && !seen_counted; attempt++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            secmsg__store *st = NULL;
            int rc = secmsg__store_open_pin(&st, path, g_secret, 32, PIN, PIN_LEN, NULL);
            secmsg__store_close(st);
            _exit(rc == SECMSG_OK ? 0 : 1);
        }
        uint8_t buf[2048];
        secmsg__keyfile kf;
        int status = 0;
        for (;;) {
            int fd = open(keys, O_RDONLY);
            if (fd >= 0) {
                ssize_t n = read(fd, buf, sizeof buf);
                close(fd);
                if (n > 0 && secmsg__keyfile_parse(&kf, buf, (size_t)n) == SECMSG_OK &&
                    kf.failures == 1) {
                    seen_counted = 1;
                    kill(pid, SIGKILL);
                    break;
                }
            }
            if (waitpid(pid, &status, WNOHANG) == pid)
                break;
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        if (seen_counted) {
            cr_assert_eq(waitpid(pid, &status, 0), pid);
            if (WIFSIGNALED(status)) {
                size_t n = read_bytes(keys, buf, sizeof buf);
                cr_assert_eq(secmsg__keyfile_parse(&kf, buf, n), SECMSG_OK);
                cr_assert_eq(kf.failures, 1, "the killed attempt stays counted");
            }
        } else {
            cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    cr_assert(seen_counted, "the attempt was on disk while the KDF ran");
}

Test(pin, parallel_guesses_all_counted, .timeout = 120)
{
    /* Every concurrent wrong guess is counted: none share one count. */
    enum { N = 8 };
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 100, 0), SECMSG_OK);
    close_store();
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            secmsg__store *st = NULL;
            int rc = secmsg__store_open_pin(&st, g_path, g_secret, 32, "0000", 4, NULL);
            _exit(rc == SECMSG_E_WRONG_PIN ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    cr_assert_eq(read_keyfile().failures, N);
}

Test(pin, policy_bounds_and_lowering)
{
    uint32_t left = 0;
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 0, 0), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 101, 0), SECMSG_E_INVALID_ARG);
    close_store();
    for (int i = 0; i < 4; i++)
        cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 6);
    /* An open store on another handle lowers the limit below the count. */
    secmsg__store *h = NULL;
    cr_assert_eq(secmsg__store_open_pin(&h, g_path, g_secret, 32, PIN, PIN_LEN, &left), SECMSG_OK);
    cr_assert_eq(secmsg__store_set_pin_policy(h, 2, 0), SECMSG_OK);
    secmsg__store_close(h);
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 1);
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_LOCKED);
}

Test(pin, change_pin)
{
    uint32_t left = 0;
    cr_assert_eq(secmsg__store_change_pin(g_st, "12", 2), SECMSG_E_INVALID_ARG);
    secmsg__keyfile before = read_keyfile();
    cr_assert_eq(secmsg__store_change_pin(g_st, "987654", 6), SECMSG_OK);
    secmsg__keyfile after = read_keyfile();
    cr_assert_neq(memcmp(before.salt, after.salt, sizeof before.salt), 0);
    cr_assert_eq(secmsg__store_setting_put(g_st, "k", (const uint8_t *)"v", 1), SECMSG_OK);
    cr_assert_eq(open_pin(PIN, &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(open_pin("987654", &left), SECMSG_OK);
    cr_assert_eq(left, 10);
    uint8_t *v = NULL;
    size_t len = 0;
    cr_assert_eq(secmsg__store_setting_get(g_st, "k", &v, &len), SECMSG_OK);
    secmsg__store_free(v, len);
}

Test(pin, platform_key)
{
    uint8_t key[32], wrong[32];
    uint32_t left = 0;
    randombytes_buf(key, sizeof key);
    randombytes_buf(wrong, sizeof wrong);
    cr_assert_eq(secmsg__store_platform_key_set(g_st, key, 31), SECMSG_E_INVALID_ARG);
    close_store();
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, key, 32, &left),
                 SECMSG_E_NOT_FOUND);
    cr_assert_eq(read_keyfile().failures, 0);

    reopen();
    cr_assert_eq(secmsg__store_platform_key_set(g_st, key, 32), SECMSG_OK);
    cr_assert(read_keyfile().flags & SECMSG__KEYFILE_PLATFORM);
    close_store();
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, key, 32, &left),
                 SECMSG_OK);
    cr_assert_eq(left, 10);
    close_store();
    /* A wrong platform key counts like a wrong PIN, on the same counter. */
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, wrong, 32, &left),
                 SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 9);
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 8);
    /* The PIN still works beside it; a PIN change keeps the platform wrap. */
    reopen();
    cr_assert_eq(secmsg__store_change_pin(g_st, "5555", 4), SECMSG_OK);
    close_store();
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, key, 32, &left),
                 SECMSG_OK);
    /* A different device secret does not open it even with the right key. */
    secmsg__store *other = NULL;
    uint8_t secret2[32];
    randombytes_buf(secret2, sizeof secret2);
    cr_assert_eq(secmsg__store_open_platform(&other, g_path, secret2, 32, key, 32, &left),
                 SECMSG_E_TAMPERED);
    cr_assert_eq(secmsg__store_platform_key_clear(g_st), SECMSG_OK);
    secmsg__keyfile kf = read_keyfile();
    cr_assert_eq(kf.flags & SECMSG__KEYFILE_PLATFORM, 0);
    cr_assert(sodium_is_zero(kf.plat_wrap, sizeof kf.plat_wrap));
    close_store();
    cr_assert_eq(secmsg__store_open_platform(&g_st, g_path, g_secret, 32, key, 32, &left),
                 SECMSG_E_NOT_FOUND);
    cr_assert_eq(open_pin("5555", &left), SECMSG_OK);
}

Test(pin, edits_refused_once_locked_elsewhere)
{
    /* Another process exhausts the PIN while this handle is open. */
    secmsg__store *h = NULL;
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 1, 0), SECMSG_OK);
    cr_assert_eq(secmsg__store_open_pin(&h, g_path, g_secret, 32, "0000", 4, NULL),
                 SECMSG_E_LOCKED);
    cr_assert_eq(secmsg__store_change_pin(g_st, "7777", 4), SECMSG_E_LOCKED);
    cr_assert_eq(secmsg__store_set_pin_policy(g_st, 10, 0), SECMSG_E_LOCKED);
    cr_assert_eq(secmsg__store_platform_key_set(g_st, g_secret, 32), SECMSG_E_LOCKED);
    /* The open handle itself keeps working. */
    cr_assert_eq(secmsg__store_setting_put(g_st, "k", (const uint8_t *)"v", 1), SECMSG_OK);
}

/* ------------------------------------------------------------------------
 * Key file: parser and tampering
 * ------------------------------------------------------------------------ */

Test(keyfile, every_byte_flipped_is_refused)
{
    uint8_t orig[SECMSG__KEYFILE_BYTES], buf[SECMSG__KEYFILE_BYTES];
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    close_store();
    cr_assert_eq(read_bytes(g_keys, orig, sizeof orig + 1), sizeof orig);
    for (size_t i = 0; i < sizeof orig; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(buf, orig, sizeof buf);
            buf[i] ^= flips[f];
            write_bytes(g_keys, buf, sizeof buf);
            uint32_t left = 0;
            int rc = open_pin(PIN, &left);
            cr_assert_null(g_st);
            /* A changed version byte reads as a file of another version. */
            cr_assert(rc == SECMSG_E_TAMPERED || (i == 4 && rc == SECMSG_E_VERSION),
                      "byte %zu ^ %02x: %d", i, flips[f], rc);
        }
    }
    write_bytes(g_keys, orig, sizeof orig);
    uint32_t left = 0;
    cr_assert_eq(open_pin(PIN, &left), SECMSG_OK);
    cr_assert_eq(left, 10, "no refused file counted an attempt");
}

Test(keyfile, wrong_size_is_refused)
{
    uint8_t orig[SECMSG__KEYFILE_BYTES];
    static uint8_t big[4096];
    close_store();
    read_bytes(g_keys, orig, sizeof orig + 1);
    for (size_t n = 0; n < sizeof orig; n += 7) {
        write_bytes(g_keys, orig, n);
        cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_TAMPERED, "length %zu", n);
    }
    memcpy(big, orig, sizeof orig);
    size_t sizes[] = {sizeof orig + 1, 1024, 1025, sizeof big};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        write_bytes(g_keys, big, sizes[i]);
        cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_TAMPERED, "length %zu", sizes[i]);
    }
    write_bytes(g_keys, orig, sizeof orig);
    reopen();
}

Test(keyfile, wrong_device_secret_is_tampered)
{
    uint8_t other[32];
    secmsg__store *h = NULL;
    randombytes_buf(other, sizeof other);
    cr_assert_eq(secmsg__store_open_pin(&h, g_path, other, sizeof other, PIN, PIN_LEN, NULL),
                 SECMSG_E_TAMPERED);
    cr_assert_null(h);
    /* Same secret, shorter: also another MAC key. */
    cr_assert_eq(secmsg__store_open_pin(&h, g_path, g_secret, 16, PIN, PIN_LEN, NULL),
                 SECMSG_E_TAMPERED);
    cr_assert_eq(read_keyfile().failures, 0);
}

Test(keyfile, resealed_with_bad_values_is_refused)
{
    /* Even with the device secret (the MAC passes), the parser's bounds hold. */
    uint8_t kmac[32], buf[SECMSG__KEYFILE_BYTES];
    secmsg__keyfile base = read_keyfile(), kf;
    secmsg__keyfile_mac_key(kmac, g_secret, 32);

    struct {
        int field;
        uint32_t value;
    } bad[] = {{0, 0}, {0, 11},  {1, 8191}, {1, 1024U * 1024U + 1U}, {1, 100U * 1024U * 1024U},
               {2, 0}, {2, 101}, {3, 11}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kf = base;
        uint32_t *f = bad[i].field == 0   ? &kf.kdf_ops
                      : bad[i].field == 1 ? &kf.kdf_mem_kib
                      : bad[i].field == 2 ? &kf.max_failures
                                          : &kf.failures;
        *f = bad[i].value;
        secmsg__keyfile_seal(&kf, kmac);
        secmsg__keyfile_encode(buf, &kf);
        secmsg__keyfile parsed;
        cr_assert_eq(secmsg__keyfile_parse(&parsed, buf, sizeof buf), SECMSG_E_MALFORMED,
                     "case %zu", i);
        write_bytes(g_keys, buf, sizeof buf);
        close_store();
        cr_assert_eq(open_pin(PIN, NULL), SECMSG_E_TAMPERED, "case %zu", i);
    }
    /* Unknown flag bits, or a platform wrap without its flag. */
    kf = base;
    kf.flags = 0x10;
    secmsg__keyfile_encode(buf, &kf);
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, sizeof buf), SECMSG_E_MALFORMED);
    kf = base;
    kf.plat_wrap[0] = 1;
    secmsg__keyfile_encode(buf, &kf);
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, sizeof buf), SECMSG_E_MALFORMED);
    kf = base;
    kf.flags = SECMSG__KEYFILE_WIPED; /* WIPED without LOCKED */
    sodium_memzero(kf.pin_wrap, sizeof kf.pin_wrap);
    sodium_memzero(kf.pin_nonce, sizeof kf.pin_nonce);
    secmsg__keyfile_encode(buf, &kf);
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, sizeof buf), SECMSG_E_MALFORMED);
    write_bytes(g_keys, buf, 0);
    kf = base;
    write_keyfile(&kf);
    reopen();
}

Test(keyfile, parse_round_trip_and_versions)
{
    uint8_t buf[SECMSG__KEYFILE_BYTES + 8], again[SECMSG__KEYFILE_BYTES];
    secmsg__keyfile kf;
    size_t n = read_bytes(g_keys, buf, sizeof buf);
    cr_assert_eq(n, SECMSG__KEYFILE_BYTES);
    cr_assert_eq(memcmp(buf, "SMKF\x01", 5), 0);
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, n), SECMSG_OK);
    secmsg__keyfile_encode(again, &kf);
    cr_assert_eq(memcmp(buf, again, n), 0);
    uint8_t kmac[32];
    secmsg__keyfile_mac_key(kmac, g_secret, 32);
    cr_assert_eq(secmsg__keyfile_verify(&kf, kmac), SECMSG_OK);

    buf[4] = 2;
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, n), SECMSG_E_VERSION);
    buf[4] = 0;
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, n), SECMSG_E_MALFORMED);
    buf[4] = 1;
    buf[6] ^= 1; /* the length field */
    cr_assert_eq(secmsg__keyfile_parse(&kf, buf, n), SECMSG_E_MALFORMED);
    cr_assert_eq(secmsg__keyfile_parse(&kf, NULL, 0), SECMSG_E_MALFORMED);
    cr_assert_eq(secmsg__keyfile_parse(NULL, buf, n), SECMSG_E_INVALID_ARG);
}

Test(keyfile, stale_temp_file_is_replaced)
{
    /* A crash between writing and renaming the temp file leaves it behind. */
    char tmp[170];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_keys);
    int fd = open(tmp, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "junk", 4), 4);
    close(fd);
    uint32_t left = 0;
    cr_assert_eq(open_pin("0000", &left), SECMSG_E_WRONG_PIN);
    cr_assert_eq(left, 9);
    cr_assert(!exists(tmp));
    struct stat sb;
    cr_assert_eq(lstat(g_keys, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    reopen();
}

/* ------------------------------------------------------------------------
 * Schema and migrations
 * ------------------------------------------------------------------------ */

static const char *const TABLES[] = {"settings", "contacts", "sessions", "messages",
                                     "seen",     "outbox",   "invites",  "events"};

Test(schema, current_version)
{
    sqlite3 *db = secmsg__store_sqlite(g_st);
    cr_assert_eq(user_version(db), SECMSG__STORE_SCHEMA_VERSION);
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++)
        cr_assert(table_exists(db, TABLES[i]), "%s", TABLES[i]);
}

Test(schema, migrates_from_version_0)
{
    /* Turn the database into an empty version-0 one, then reopen. */
    sqlite3 *db = secmsg__store_sqlite(g_st);
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "DROP TABLE %s", TABLES[i]);
        cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 0", NULL, NULL, NULL), SQLITE_OK);
    cr_assert(!table_exists(db, "messages"));
    reopen();
    db = secmsg__store_sqlite(g_st);
    cr_assert_eq(user_version(db), SECMSG__STORE_SCHEMA_VERSION);
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++)
        cr_assert(table_exists(db, TABLES[i]), "%s", TABLES[i]);
    secmsg_message m = msg(1, "bob", 1, SECMSG_STATUS_QUEUED, 10, 2);
    cr_assert_eq(secmsg__store_message_put(g_st, &m, "hi"), SECMSG_OK);
}

Test(schema, newer_version_is_refused)
{
    sqlite3 *db = secmsg__store_sqlite(g_st);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SECMSG__STORE_SCHEMA_VERSION + 1);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    close_store();
    uint32_t left = 0;
    cr_assert_eq(open_pin(PIN, &left), SECMSG_E_VERSION);
    cr_assert_null(g_st);
    /* The PIN was right: the counter is back at zero. */
    cr_assert_eq(read_keyfile().failures, 0);
}

Test(schema, runner_steps_are_atomic)
{
    sqlite3 *db = NULL;
    char err[160] = "";
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    const char *const broken[] = {
        "CREATE TABLE a(x);",
        "CREATE TABLE b(x); INSERT INTO a VALUES (1); INSERT INTO nowhere VALUES (1);",
        "CREATE TABLE c(x);",
    };
    cr_assert_eq(secmsg__store_migrate(db, broken, 3, err, sizeof err), SECMSG_E_STORE);
    cr_assert_neq(err[0], '\0');
    cr_assert_eq(user_version(db), 1, "step 1 stays done");
    cr_assert(table_exists(db, "a"));
    cr_assert(!table_exists(db, "b"), "the failed step left nothing");
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM a", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);

    const char *const fixed[] = {
        "CREATE TABLE a(x);",
        "CREATE TABLE b(x); INSERT INTO a VALUES (1);",
        "CREATE TABLE c(x);",
    };
    cr_assert_eq(secmsg__store_migrate(db, fixed, 3, err, sizeof err), SECMSG_OK);
    cr_assert_eq(user_version(db), 3);
    cr_assert(table_exists(db, "b") && table_exists(db, "c"));
    cr_assert_eq(secmsg__store_migrate(db, fixed, 3, err, sizeof err), SECMSG_OK);
    cr_assert_eq(secmsg__store_migrate(db, fixed, 2, err, sizeof err), SECMSG_E_VERSION);
    sqlite3_close(db);
}

/* ------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------ */

Test(records, settings)
{
    uint8_t *v = NULL;
    size_t len = 0;
    static uint8_t big[SECMSG__STORE_VALUE_MAX + 1];

    cr_assert_eq(secmsg__store_setting_get(g_st, "relay_url", &v, &len), SECMSG_E_NOT_FOUND);
    cr_assert_null(v);
    cr_assert_eq(secmsg__store_setting_put(g_st, "relay_url", (const uint8_t *)"http://a", 8),
                 SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_put(g_st, "relay_url", (const uint8_t *)"http://bb", 9),
                 SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_get(g_st, "relay_url", &v, &len), SECMSG_OK);
    cr_assert_eq(len, 9);
    cr_assert_eq(memcmp(v, "http://bb", 9), 0);
    secmsg__store_free(v, len);
    /* Empty value, and the largest one. */
    cr_assert_eq(secmsg__store_setting_put(g_st, "empty", NULL, 0), SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_get(g_st, "empty", &v, &len), SECMSG_OK);
    cr_assert_eq(len, 0);
    cr_assert_not_null(v);
    secmsg__store_free(v, len);
    randombytes_buf(big, sizeof big);
    cr_assert_eq(secmsg__store_setting_put(g_st, "big", big, sizeof big), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_setting_put(g_st, "big", big, sizeof big - 1), SECMSG_OK);
    reopen();
    cr_assert_eq(secmsg__store_setting_get(g_st, "big", &v, &len), SECMSG_OK);
    cr_assert_eq(len, sizeof big - 1);
    cr_assert_eq(memcmp(v, big, len), 0);
    secmsg__store_free(v, len);

    cr_assert_eq(secmsg__store_setting_del(g_st, "big"), SECMSG_OK);
    cr_assert_eq(secmsg__store_setting_del(g_st, "big"), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_setting_get(g_st, "big", &v, &len), SECMSG_E_NOT_FOUND);

    char longname[66];
    memset(longname, 'n', 65);
    longname[65] = '\0';
    cr_assert_eq(secmsg__store_setting_put(g_st, longname, big, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_setting_put(g_st, "", big, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_setting_put(g_st, "a b", big, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_setting_put(g_st, NULL, big, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_setting_put(g_st, "x", NULL, 1), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_setting_get(g_st, "x", NULL, &len), SECMSG_E_INVALID_ARG);
    cr_assert_neq(secmsg__store_last_error(g_st)[0], '\0');
}

Test(records, contacts)
{
    secmsg__contact_row a = contact("carol", 1), b = contact("alice", 2), r;
    secmsg_contact pub;
    size_t n = 99;

    cr_assert_eq(secmsg__store_contact_count(g_st, &n), SECMSG_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(secmsg__store_contact_get(g_st, "carol", &r), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_contact_put(g_st, &a), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_put(g_st, &b), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_get(g_st, "carol", &r), SECMSG_OK);
    cr_assert_eq(memcmp(&r, &a, sizeof r), 0);
    cr_assert_eq(secmsg__store_contact_by_device(g_st, b.device_id, &r), SECMSG_OK);
    cr_assert_str_eq(r.user_id, "alice");
    uint8_t nodev[32];
    memset(nodev, 7, sizeof nodev);
    cr_assert_eq(secmsg__store_contact_by_device(g_st, nodev, &r), SECMSG_E_NOT_FOUND);

    /* Replace by user id. */
    a.verification = SECMSG_VERIFIED_IN_PERSON;
    a.cert_len = 0;
    a.identity_len = 160;
    memset(a.identity, 0x11, 160);
    cr_assert_eq(secmsg__store_contact_put(g_st, &a), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_get(g_st, "carol", &r), SECMSG_OK);
    cr_assert_eq(r.verification, SECMSG_VERIFIED_IN_PERSON);
    cr_assert_eq(r.cert_len, 0);
    cr_assert_eq(r.identity_len, 160);
    cr_assert_eq(memcmp(r.identity, a.identity, 160), 0);

    /* A device belongs to one contact: neither insert nor update steals it. */
    secmsg__contact_row c = contact("dave", 2);
    cr_assert_eq(secmsg__store_contact_put(g_st, &c), SECMSG_E_EXISTS);
    a.device_id[0] = 2;
    memset(a.device_id, 2, sizeof a.device_id);
    cr_assert_eq(secmsg__store_contact_put(g_st, &a), SECMSG_E_EXISTS);
    cr_assert_eq(secmsg__store_contact_get(g_st, "alice", &r), SECMSG_OK);
    /* No device yet (all zero): any number of contacts. */
    secmsg__contact_row z1 = contact("zed", 0), z2 = contact("bert", 0);
    cr_assert_eq(secmsg__store_contact_put(g_st, &z1), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_put(g_st, &z2), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_get(g_st, "zed", &r), SECMSG_OK);
    cr_assert(sodium_is_zero(r.device_id, sizeof r.device_id));

    /* Ordered by user id. */
    cr_assert_eq(secmsg__store_contact_count(g_st, &n), SECMSG_OK);
    cr_assert_eq(n, 4);
    const char *order[] = {"alice", "bert", "carol", "zed"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(secmsg__store_contact_at(g_st, i, &r, &pub), SECMSG_OK);
        cr_assert_str_eq(r.user_id, order[i]);
        cr_assert_str_eq(pub.user_id, order[i]);
        cr_assert_eq(pub.role, r.role);
        cr_assert_eq(pub.verification, r.verification);
    }
    cr_assert_eq(secmsg__store_contact_at(g_st, 4, &r, &pub), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_contact_at(g_st, SIZE_MAX, &r, NULL), SECMSG_E_NOT_FOUND);

    /* Bad input. */
    secmsg__contact_row bad = contact("ok", 5);
    memset(bad.user_id, 'u', sizeof bad.user_id); /* no NUL within 65 */
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_E_INVALID_ARG);
    bad = contact("has space", 5);
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_E_INVALID_ARG);
    bad = contact("ok", 5);
    bad.identity_len = 161;
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_E_INVALID_ARG);
    bad = contact("ok", 5);
    bad.cert_len = 513;
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_E_INVALID_ARG);
    bad = contact("ok", 5);
    bad.role = 4;
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_E_INVALID_ARG);
    bad = contact("ok", 5);
    bad.verification = -1;
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_E_INVALID_ARG);
    char id64[65];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    bad = contact(id64, 5);
    cr_assert_eq(secmsg__store_contact_put(g_st, &bad), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_get(g_st, id64, &r), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_get(g_st, "", &r), SECMSG_E_INVALID_ARG);
}

Test(records, contact_summary_counts)
{
    secmsg__contact_row c = contact("citizen-7", 3);
    secmsg_contact pub;
    cr_assert_eq(secmsg__store_contact_put(g_st, &c), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_summary(g_st, "nobody", &pub), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_contact_summary(g_st, "citizen-7", &pub), SECMSG_OK);
    cr_assert_eq(pub.messages, 0);
    cr_assert_eq(pub.unread, 0);
    cr_assert_eq(pub.last_activity, 0);

    secmsg_message m1 = msg(1, "citizen-7", 0, SECMSG_STATUS_RECEIVED, 5000, 1);
    secmsg_message m2 = msg(2, "citizen-7", 1, SECMSG_STATUS_SENT, 7000, 1);
    secmsg_message m3 = msg(3, "citizen-7", 0, SECMSG_STATUS_RECEIVED, 6000, 1);
    secmsg_message other = msg(4, "someone-else", 0, SECMSG_STATUS_RECEIVED, 9000, 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &m1, "a"), SECMSG_OK);
    cr_assert_eq(secmsg__store_message_put(g_st, &m2, "b"), SECMSG_OK);
    cr_assert_eq(secmsg__store_message_put(g_st, &m3, "c"), SECMSG_OK);
    cr_assert_eq(secmsg__store_message_put(g_st, &other, "d"), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_summary(g_st, "citizen-7", &pub), SECMSG_OK);
    cr_assert_str_eq(pub.user_id, "citizen-7");
    cr_assert_eq(pub.role, SECMSG_ROLE_CITIZEN);
    cr_assert_eq(pub.verification, SECMSG_VERIFIED_INVITE);
    cr_assert_eq(pub.messages, 3);
    cr_assert_eq(pub.unread, 2);
    cr_assert_eq(pub.last_activity, 7000);

    cr_assert_eq(secmsg__store_mark_read(g_st, "citizen-7"), SECMSG_OK);
    cr_assert_eq(secmsg__store_contact_summary(g_st, "citizen-7", &pub), SECMSG_OK);
    cr_assert_eq(pub.unread, 0);
    cr_assert_eq(pub.messages, 3);
    secmsg_message got;
    cr_assert_eq(secmsg__store_message_at(g_st, "citizen-7", 0, &got, NULL), SECMSG_OK);
    cr_assert_eq(got.status, SECMSG_STATUS_READ);
    cr_assert_eq(secmsg__store_message_at(g_st, "citizen-7", 1, &got, NULL), SECMSG_OK);
    cr_assert_eq(got.status, SECMSG_STATUS_SENT, "outgoing messages are left alone");
    /* Other conversations are untouched. */
    cr_assert_eq(secmsg__store_message_at(g_st, "someone-else", 0, &got, NULL), SECMSG_OK);
    cr_assert_eq(got.status, SECMSG_STATUS_RECEIVED);
    cr_assert_eq(secmsg__store_mark_read(g_st, "nobody"), SECMSG_OK);
}

Test(records, sessions)
{
    uint8_t dev[32], state[3000], *out = NULL;
    size_t len = 0;
    randombytes_buf(dev, sizeof dev);
    randombytes_buf(state, sizeof state);
    cr_assert_eq(secmsg__store_session_get(g_st, dev, &out, &len), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_session_put(g_st, dev, state, sizeof state), SECMSG_OK);
    state[0] ^= 1;
    cr_assert_eq(secmsg__store_session_put(g_st, dev, state, sizeof state - 1), SECMSG_OK);
    reopen();
    cr_assert_eq(secmsg__store_session_get(g_st, dev, &out, &len), SECMSG_OK);
    cr_assert_eq(len, sizeof state - 1);
    cr_assert_eq(memcmp(out, state, len), 0);
    secmsg__store_free(out, len);
    cr_assert_eq(secmsg__store_session_put(g_st, dev, state, 0), SECMSG_E_INVALID_ARG);
    cr_assert_eq(secmsg__store_session_put(g_st, NULL, state, 1), SECMSG_E_INVALID_ARG);
}

Test(records, messages_in_insertion_order)
{
    static char text[SECMSG_MAX_TEXT + 1];
    memset(text, 'x', sizeof text);
    /* stored_at goes backwards (a clock change): order is still insertion. */
    for (uint8_t i = 0; i < 5; i++) {
        secmsg_message m = msg((uint8_t)(i + 1), "peer.one", i % 2,
                               i % 2 ? SECMSG_STATUS_SENT : SECMSG_STATUS_RECEIVED,
                               10000U - i * 100U, (size_t)i * 10U);
        cr_assert_eq(secmsg__store_message_put(g_st, &m, text), SECMSG_OK);
    }
    secmsg_message other = msg(0x77, "peer.two", 0, SECMSG_STATUS_RECEIVED, 1, 0);
    cr_assert_eq(secmsg__store_message_put(g_st, &other, NULL), SECMSG_OK);
    secmsg_message dup = msg(3, "peer.two", 0, SECMSG_STATUS_RECEIVED, 1, 0);
    cr_assert_eq(secmsg__store_message_put(g_st, &dup, ""), SECMSG_E_EXISTS);

    reopen();
    size_t n = 0;
    cr_assert_eq(secmsg__store_message_count(g_st, "peer.one", &n), SECMSG_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(secmsg__store_message_count(g_st, "peer.two", &n), SECMSG_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(secmsg__store_message_count(g_st, "nobody", &n), SECMSG_OK);
    cr_assert_eq(n, 0);
    for (size_t i = 0; i < 5; i++) {
        secmsg_message m;
        char *t = NULL;
        cr_assert_eq(secmsg__store_message_at(g_st, "peer.one", i, &m, &t), SECMSG_OK);
        secmsg_message want =
            msg((uint8_t)(i + 1), "peer.one", (int)(i % 2),
                i % 2 ? SECMSG_STATUS_SENT : SECMSG_STATUS_RECEIVED, 10000U - i * 100U, i * 10U);
        cr_assert_eq(memcmp(&m, &want, sizeof m), 0, "message %zu", i);
        cr_assert_not_null(t);
        cr_assert_eq(strlen(t), i * 10U);
        cr_assert_eq(memcmp(t, text, i * 10U), 0);
        secmsg__store_free(t, m.text_len + 1);
    }
    secmsg_message m;
    char *t = NULL;
    cr_assert_eq(secmsg__store_message_at(g_st, "peer.one", 5, &m, &t), SECMSG_E_NOT_FOUND);
    cr_assert_null(t);

    /* Largest text; one more is refused. */
    secmsg_message big = msg(0x55, "peer.two", 1, SECMSG_STATUS_QUEUED, 2, SECMSG_MAX_TEXT);
    cr_assert_eq(secmsg__store_message_put(g_st, &big, text), SECMSG_OK);
    cr_assert_eq(secmsg__store_message_at(g_st, "peer.two", 1, &m, &t), SECMSG_OK);
    cr_assert_eq(m.text_len, SECMSG_MAX_TEXT);
    cr_assert_eq(t[SECMSG_MAX_TEXT], '\0');
    secmsg__store_free(t, m.text_len + 1);
    big = msg(0x56, "peer.two", 1, SECMSG_STATUS_QUEUED, 2, SECMSG_MAX_TEXT + 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &big, text), SECMSG_E_INVALID_ARG);

    /* Status updates. */
    uint8_t id[16];
    memset(id, 0x55, sizeof id);
    cr_assert_eq(secmsg__store_message_set_status(g_st, id, SECMSG_STATUS_SENT), SECMSG_OK);
    cr_assert_eq(secmsg__store_message_at(g_st, "peer.two", 1, &m, NULL), SECMSG_OK);
    cr_assert_eq(m.status, SECMSG_STATUS_SENT);
    cr_assert_eq(m.text_len, SECMSG_MAX_TEXT);
    memset(id, 0x99, sizeof id);
    cr_assert_eq(secmsg__store_message_set_status(g_st, id, SECMSG_STATUS_SENT),
                 SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_message_set_status(g_st, id, 4), SECMSG_E_INVALID_ARG);

    /* Bad input. */
    secmsg_message bad = msg(0x60, "peer.two", 2, SECMSG_STATUS_QUEUED, 2, 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &bad, "a"), SECMSG_E_INVALID_ARG);
    bad = msg(0x60, "peer two", 0, SECMSG_STATUS_QUEUED, 2, 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &bad, "a"), SECMSG_E_INVALID_ARG);
    bad = msg(0x60, "peer.two", 0, 7, 2, 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &bad, "a"), SECMSG_E_INVALID_ARG);
    bad = msg(0x60, "peer.two", 0, SECMSG_STATUS_QUEUED, 2, 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &bad, NULL), SECMSG_E_INVALID_ARG);
    bad.stored_at = UINT64_MAX;
    cr_assert_eq(secmsg__store_message_put(g_st, &bad, "a"), SECMSG_E_INVALID_ARG);
}

Test(records, seen)
{
    uint8_t sender[32], id[16];
    int seen = -1;
    randombytes_buf(sender, sizeof sender);
    randombytes_buf(id, sizeof id);
    cr_assert_eq(secmsg__store_seen_check(g_st, sender, id, &seen), SECMSG_OK);
    cr_assert_eq(seen, 0);
    cr_assert_eq(secmsg__store_seen_add(g_st, sender, id), SECMSG_OK);
    cr_assert_eq(secmsg__store_seen_add(g_st, sender, id), SECMSG_OK, "idempotent");
    cr_assert_eq(secmsg__store_seen_check(g_st, sender, id, &seen), SECMSG_OK);
    cr_assert_eq(seen, 1);
    /* Keyed by the pair. */
    sender[0] ^= 1;
    cr_assert_eq(secmsg__store_seen_check(g_st, sender, id, &seen), SECMSG_OK);
    cr_assert_eq(seen, 0);
    sender[0] ^= 1;
    reopen();
    cr_assert_eq(secmsg__store_seen_check(g_st, sender, id, &seen), SECMSG_OK);
    cr_assert_eq(seen, 1);
}

Test(records, outbox_order_and_delete)
{
    uint8_t id[16], got[16], *env = NULL;
    size_t len = 0, n = 9;
    cr_assert_eq(secmsg__store_outbox_first(g_st, got, &env, &len), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_outbox_count(g_st, &n), SECMSG_OK);
    cr_assert_eq(n, 0);
    /* Ids in descending byte order, so only insertion order can explain
     * what comes out first. */
    for (uint8_t i = 0; i < 4; i++) {
        uint8_t e[100];
        memset(id, 0xf0 - i, sizeof id);
        memset(e, i, sizeof e);
        cr_assert_eq(secmsg__store_outbox_add(g_st, id, e, 50U + i), SECMSG_OK);
    }
    memset(id, 0xf0, sizeof id);
    cr_assert_eq(secmsg__store_outbox_add(g_st, id, id, 1), SECMSG_E_EXISTS);
    cr_assert_eq(secmsg__store_outbox_add(g_st, id, id, 0), SECMSG_E_INVALID_ARG);
    reopen();
    cr_assert_eq(secmsg__store_outbox_count(g_st, &n), SECMSG_OK);
    cr_assert_eq(n, 4);
    for (uint8_t i = 0; i < 4; i++) {
        cr_assert_eq(secmsg__store_outbox_first(g_st, got, &env, &len), SECMSG_OK);
        memset(id, 0xf0 - i, sizeof id);
        cr_assert_eq(memcmp(got, id, 16), 0, "entry %u", i);
        cr_assert_eq(len, 50U + i);
        cr_assert_eq(env[0], i);
        secmsg__store_free(env, len);
        /* Still first until deleted (a retry resends the same bytes). */
        cr_assert_eq(secmsg__store_outbox_first(g_st, got, &env, &len), SECMSG_OK);
        cr_assert_eq(memcmp(got, id, 16), 0);
        secmsg__store_free(env, len);
        cr_assert_eq(secmsg__store_outbox_del(g_st, id), SECMSG_OK);
    }
    cr_assert_eq(secmsg__store_outbox_del(g_st, id), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_outbox_first(g_st, got, &env, &len), SECMSG_E_NOT_FOUND);
    cr_assert_null(env);
}

Test(records, invites)
{
    secmsg__invite_row a, b, out;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    snprintf(a.user_id, sizeof a.user_id, "citizen-a");
    snprintf(b.user_id, sizeof b.user_id, "citizen-b");
    randombytes_buf(a.secret, sizeof a.secret);
    randombytes_buf(b.secret, sizeof b.secret);
    a.expires = 1000;
    b.expires = 2000;
    cr_assert_eq(secmsg__store_invite_put(g_st, &a), SECMSG_OK);
    cr_assert_eq(secmsg__store_invite_put(g_st, &b), SECMSG_OK);

    cr_assert_eq(secmsg__store_invite_match(g_st, b.secret, 500, &out), SECMSG_OK);
    cr_assert_eq(memcmp(&out, &b, sizeof out), 0);
    cr_assert_eq(secmsg__store_invite_match(g_st, a.secret, 999, &out), SECMSG_OK);
    cr_assert_str_eq(out.user_id, "citizen-a");
    /* Expired at `expires`. */
    cr_assert_eq(secmsg__store_invite_match(g_st, a.secret, 1000, &out), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_invite_match(g_st, b.secret, 1500, &out), SECMSG_OK);
    /* One bit off anywhere does not match. */
    for (size_t i = 0; i < 16; i++) {
        uint8_t s[16];
        memcpy(s, b.secret, sizeof s);
        s[i] ^= 0x10;
        cr_assert_eq(secmsg__store_invite_match(g_st, s, 0, &out), SECMSG_E_NOT_FOUND);
    }
    /* Replace by user id (a new secret and expiry). */
    randombytes_buf(a.secret, sizeof a.secret);
    a.expires = 5000;
    cr_assert_eq(secmsg__store_invite_put(g_st, &a), SECMSG_OK);
    cr_assert_eq(secmsg__store_invite_match(g_st, a.secret, 3000, &out), SECMSG_OK);
    cr_assert_str_eq(out.user_id, "citizen-a");

    cr_assert_eq(secmsg__store_invite_del(g_st, "citizen-b"), SECMSG_OK);
    cr_assert_eq(secmsg__store_invite_del(g_st, "citizen-b"), SECMSG_E_NOT_FOUND);
    cr_assert_eq(secmsg__store_invite_match(g_st, b.secret, 0, &out), SECMSG_E_NOT_FOUND);
    a.expires = UINT64_MAX;
    cr_assert_eq(secmsg__store_invite_put(g_st, &a), SECMSG_E_INVALID_ARG);
}

Test(records, events_fifo_and_persistent)
{
    secmsg_event e;
    cr_assert_eq(secmsg__store_event_pop(g_st, &e), SECMSG_OK);
    cr_assert_eq(e.type, SECMSG_EVENT_NONE);
    for (int i = 0; i < 5; i++) {
        memset(&e, 0, sizeof e);
        e.type = SECMSG_EVENT_MESSAGE + i % 5;
        e.code = i == 4 ? SECMSG_E_DECRYPT : 0;
        if (i != 2)
            snprintf(e.peer, sizeof e.peer, "peer-%d", i);
        memset(e.message_id, i, sizeof e.message_id);
        e.at = 1000U + (uint64_t)i;
        cr_assert_eq(secmsg__store_event_push(g_st, &e), SECMSG_OK);
    }
    memset(&e, 0, sizeof e);
    cr_assert_eq(secmsg__store_event_push(g_st, &e), SECMSG_E_INVALID_ARG, "type NONE");
    e.type = 6;
    cr_assert_eq(secmsg__store_event_push(g_st, &e), SECMSG_E_INVALID_ARG);
    e.type = SECMSG_EVENT_ERROR;
    snprintf(e.peer, sizeof e.peer, "bad peer");
    cr_assert_eq(secmsg__store_event_push(g_st, &e), SECMSG_E_INVALID_ARG);

    cr_assert_eq(secmsg__store_event_pop(g_st, &e), SECMSG_OK);
    cr_assert_eq(e.type, SECMSG_EVENT_MESSAGE);
    cr_assert_str_eq(e.peer, "peer-0");
    reopen();
    for (int i = 1; i < 5; i++) {
        cr_assert_eq(secmsg__store_event_pop(g_st, &e), SECMSG_OK);
        cr_assert_eq(e.type, SECMSG_EVENT_MESSAGE + i % 5, "event %d", i);
        cr_assert_eq(e.code, i == 4 ? SECMSG_E_DECRYPT : 0);
        if (i == 2)
            cr_assert_str_eq(e.peer, "");
        else
            cr_assert_eq(strncmp(e.peer, "peer-", 5), 0);
        cr_assert_eq(e.message_id[0], i);
        cr_assert_eq(e.at, 1000U + (uint64_t)i);
    }
    cr_assert_eq(secmsg__store_event_pop(g_st, &e), SECMSG_OK);
    cr_assert_eq(e.type, SECMSG_EVENT_NONE);
}

/* ------------------------------------------------------------------------
 * Transactions
 * ------------------------------------------------------------------------ */

/* One unit of work as a receive does it. */
static void write_unit(uint8_t tag)
{
    uint8_t dev[32], id[16], state[64];
    memset(dev, tag, sizeof dev);
    memset(id, tag, sizeof id);
    memset(state, tag, sizeof state);
    secmsg_message m = msg(tag, "peer", 0, SECMSG_STATUS_RECEIVED, 100, 3);
    secmsg_event e;
    memset(&e, 0, sizeof e);
    e.type = SECMSG_EVENT_MESSAGE;
    memcpy(e.message_id, id, sizeof id);
    cr_assert_eq(secmsg__store_session_put(g_st, dev, state, sizeof state), SECMSG_OK);
    cr_assert_eq(secmsg__store_message_put(g_st, &m, "abc"), SECMSG_OK);
    cr_assert_eq(secmsg__store_seen_add(g_st, dev, id), SECMSG_OK);
    cr_assert_eq(secmsg__store_outbox_add(g_st, id, state, sizeof state), SECMSG_OK);
    cr_assert_eq(secmsg__store_event_push(g_st, &e), SECMSG_OK);
}

static void assert_unit(uint8_t tag, int present)
{
    uint8_t dev[32], id[16], *out = NULL;
    size_t len = 0, n = 0;
    int seen = -1;
    memset(dev, tag, sizeof dev);
    memset(id, tag, sizeof id);
    int rc = secmsg__store_session_get(g_st, dev, &out, &len);
    cr_assert_eq(rc, present ? SECMSG_OK : SECMSG_E_NOT_FOUND);
    secmsg__store_free(out, len);
    cr_assert_eq(secmsg__store_seen_check(g_st, dev, id, &seen), SECMSG_OK);
    cr_assert_eq(seen, present);
    cr_assert_eq(secmsg__store_message_count(g_st, "peer", &n), SECMSG_OK);
    cr_assert_eq(n, present ? 1U : 0U);
    cr_assert_eq(secmsg__store_outbox_count(g_st, &n), SECMSG_OK);
    cr_assert_eq(n, present ? 1U : 0U);
}

Test(tx, rollback_leaves_nothing)
{
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    write_unit(1);
    assert_unit(1, 1);
    secmsg__store_rollback(g_st);
    assert_unit(1, 0);
    secmsg_event e;
    cr_assert_eq(secmsg__store_event_pop(g_st, &e), SECMSG_OK);
    cr_assert_eq(e.type, SECMSG_EVENT_NONE);
    secmsg__store_rollback(g_st); /* no transaction: a no-op */
}

Test(tx, commit_persists)
{
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    write_unit(2);
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_OK);
    reopen();
    assert_unit(2, 1);
}

Test(tx, close_without_commit_rolls_back)
{
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    write_unit(3);
    reopen();
    assert_unit(3, 0);
}

Test(tx, nesting_and_order)
{
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_E_STATE);
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_E_STATE);
    cr_assert_neq(secmsg__store_last_error(g_st)[0], '\0');
    write_unit(4);
    /* A failing call inside the transaction changes nothing and leaves
     * the transaction usable. */
    secmsg_message dup = msg(4, "peer", 0, SECMSG_STATUS_RECEIVED, 100, 1);
    cr_assert_eq(secmsg__store_message_put(g_st, &dup, "z"), SECMSG_E_EXISTS);
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_OK);
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_E_STATE);
    assert_unit(4, 1);
    secmsg_message m;
    char *t = NULL;
    cr_assert_eq(secmsg__store_message_at(g_st, "peer", 0, &m, &t), SECMSG_OK);
    cr_assert_str_eq(t, "abc");
    secmsg__store_free(t, m.text_len + 1);
    /* And a new one can begin. */
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    secmsg__store_rollback(g_st);
}

Test(tx, other_connection_sees_nothing_before_commit)
{
    /* A second handle on the same store (as another process would) sees
     * the unit only once it is committed. */
    secmsg__store *h = NULL;
    cr_assert_eq(secmsg__store_open_pin(&h, g_path, g_secret, 32, PIN, PIN_LEN, NULL), SECMSG_OK);
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    write_unit(5);
    size_t n = 9;
    cr_assert_eq(secmsg__store_outbox_count(h, &n), SECMSG_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_OK);
    cr_assert_eq(secmsg__store_outbox_count(h, &n), SECMSG_OK);
    cr_assert_eq(n, 1);
    secmsg__store_close(h);
}

/* The synchronous level the connection is at: 2 FULL, 1 NORMAL. */
static int sync_level(void)
{
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(g_st->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

Test(tx, relaxed_commit_then_durable_again)
{
    cr_assert_eq(sync_level(), 2);
    cr_assert_eq(secmsg__store_begin_relaxed(g_st), SECMSG_OK);
    cr_assert_eq(sync_level(), 1);
    cr_assert_eq(secmsg__store_begin_relaxed(g_st), SECMSG_E_STATE);
    write_unit(5);
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_OK);
    cr_assert_eq(sync_level(), 2);
    reopen();
    assert_unit(5, 1);
}

Test(tx, relaxed_rollback_restores_durable)
{
    cr_assert_eq(secmsg__store_begin_relaxed(g_st), SECMSG_OK);
    write_unit(6);
    secmsg__store_rollback(g_st);
    cr_assert_eq(sync_level(), 2);
    assert_unit(6, 0);
}

Test(tx, savepoint_undoes_one_unit)
{
    cr_assert_eq(secmsg__store_savepoint(g_st), SECMSG_E_STATE);
    cr_assert_eq(secmsg__store_begin(g_st), SECMSG_OK);
    cr_assert_eq(secmsg__store_savepoint(g_st), SECMSG_OK);
    write_unit(7);
    cr_assert_eq(secmsg__store_rollback_to(g_st), SECMSG_OK);
    cr_assert_eq(secmsg__store_savepoint(g_st), SECMSG_OK);
    write_unit(8);
    cr_assert_eq(secmsg__store_release(g_st), SECMSG_OK);
    cr_assert_eq(secmsg__store_commit(g_st), SECMSG_OK);
    assert_unit(8, 1);
    uint8_t dev[32], *out = NULL;
    size_t len = 0;
    memset(dev, 7, sizeof dev);
    cr_assert_eq(secmsg__store_session_get(g_st, dev, &out, &len), SECMSG_E_NOT_FOUND);
}
