/*
 * The typed tables of the store (client_store.h, spec/client-store.md §6).
 *
 * Every call writes with at most one SQL statement, and SQLite makes a
 * statement atomic, so a failing call changes nothing, whether it runs in
 * the caller's transaction or (outside one) in its own. The calls with two
 * statements write with only one of them: contact_put runs its INSERT only
 * when the UPDATE matched no row, event_pop reads and then deletes.
 *
 * Everything read back is checked against the same bounds as on the way in
 * before it reaches the caller: the database is authenticated by sqlcipher,
 * but a bug elsewhere must not turn into an overflow here.
 */
#include <limits.h>
#include <string.h>

#include <sodium.h>

#include "store/store_internal.h"
#include "wire/relay_codec.h"

#define MAX_USER_ID (SECMSG_USER_ID_BYTES - 1U)
#define MAX_SETTING_NAME 64U
#define MAX_IDENTITY (sizeof(((secmsg__contact_row *)0)->identity))
#define MAX_CERT (sizeof(((secmsg__contact_row *)0)->cert))

const char *const secmsg__store_sql[ST__COUNT] = {
    [ST_SETTING_PUT] = "INSERT OR REPLACE INTO settings(name, value) VALUES (?1, ?2)",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE name = ?1",
    [ST_SETTING_DEL] = "DELETE FROM settings WHERE name = ?1",
    [ST_CONTACT_UPDATE] = "UPDATE contacts SET role = ?2, verification = ?3, device_id = ?4,"
                          " identity = ?5, cert = ?6 WHERE user_id = ?1",
    [ST_CONTACT_INSERT] = "INSERT INTO contacts(user_id, role, verification, device_id,"
                          " identity, cert) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_CONTACT_GET] = "SELECT user_id, role, verification, device_id, identity, cert"
                       " FROM contacts WHERE user_id = ?1",
    [ST_CONTACT_BY_DEVICE] = "SELECT user_id, role, verification, device_id, identity, cert"
                             " FROM contacts WHERE device_id = ?1",
    [ST_CONTACT_COUNT] = "SELECT count(*) FROM contacts",
    [ST_CONTACT_AT] = "SELECT user_id, role, verification, device_id, identity, cert"
                      " FROM contacts ORDER BY user_id LIMIT 1 OFFSET ?1",
    [ST_CONTACT_EXISTS] = "SELECT role, verification FROM contacts WHERE user_id = ?1",
    [ST_CONTACT_SUMMARY] = "SELECT count(*), sum(outgoing = 0 AND status = 2), max(stored_at)"
                           " FROM messages WHERE peer = ?1",
    [ST_SESSION_PUT] = "INSERT OR REPLACE INTO sessions(device_id, state) VALUES (?1, ?2)",
    [ST_SESSION_GET] = "SELECT state FROM sessions WHERE device_id = ?1",
    [ST_MESSAGE_PUT] = "INSERT INTO messages(id, peer, outgoing, status, sent_at, stored_at,"
                       " text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_MESSAGE_COUNT] = "SELECT count(*) FROM messages WHERE peer = ?1",
    [ST_MESSAGE_AT] = "SELECT id, peer, outgoing, status, sent_at, stored_at, text"
                      " FROM messages WHERE peer = ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
    [ST_MESSAGE_STATUS] = "UPDATE messages SET status = ?2 WHERE id = ?1",
    [ST_MARK_READ] = "UPDATE messages SET status = 3"
                     " WHERE peer = ?1 AND outgoing = 0 AND status = 2",
    [ST_SEEN_CHECK] = "SELECT 1 FROM seen WHERE sender = ?1 AND id = ?2",
    [ST_SEEN_ADD] = "INSERT OR IGNORE INTO seen(sender, id) VALUES (?1, ?2)",
    [ST_OUTBOX_ADD] = "INSERT INTO outbox(id, envelope) VALUES (?1, ?2)",
    [ST_OUTBOX_FIRST] = "SELECT id, envelope FROM outbox ORDER BY seq LIMIT 1",
    [ST_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
    [ST_OUTBOX_DEL] = "DELETE FROM outbox WHERE id = ?1",
    [ST_INVITE_PUT] = "INSERT OR REPLACE INTO invites(user_id, secret, expires)"
                      " VALUES (?1, ?2, ?3)",
    [ST_INVITE_ALL] = "SELECT user_id, secret, expires FROM invites",
    [ST_INVITE_DEL] = "DELETE FROM invites WHERE user_id = ?1",
    [ST_EVENT_PUSH] = "INSERT INTO events(type, code, peer, message_id, at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_EVENT_FIRST] = "SELECT seq, type, code, peer, message_id, at FROM events"
                       " ORDER BY seq LIMIT 1",
    [ST_EVENT_DEL] = "DELETE FROM events WHERE seq = ?1",
};

/* ------------------------------------------------------------------------
 * Validation, binding, reading
 * ------------------------------------------------------------------------ */

/* User ids: the relay's rule (relay_codec.h), one definition for the system. */
static int valid_user_id(const char *u)
{
    return u != NULL && secmsg__relay_user_id_valid(u);
}

/* Setting names: 1..64 printable ASCII characters, no space. */
static int valid_name(const char *n)
{
    if (n == NULL)
        return 0;
    size_t len = strnlen(n, MAX_SETTING_NAME + 1);
    if (len == 0 || len > MAX_SETTING_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)n[i] <= 0x20 || (unsigned char)n[i] >= 0x7f)
            return 0;
    }
    return 1;
}

static int bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    /* A NULL pointer would bind SQL NULL; an empty value is a zero blob. */
    if (n == 0)
        return sqlite3_bind_zeroblob(st, i, 0);
    if (n > INT_MAX)
        return SQLITE_TOOBIG;
    return sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

/* Only for validated strings (user ids, names: at most 64 bytes). */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, (int)strlen(s), SQLITE_STATIC);
}

static int bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v); /* callers check v <= INT64_MAX */
}

static int bad_row(secmsg__store *s, const char *what)
{
    return secmsg__store_fail(s, SECMSG_E_STORE, what);
}

/* Copies column col (a blob of at most max bytes) into a store blob
 * (secmsg__store_blob_alloc); with nul, one more byte holds a terminating NUL. */
static int column_dup(secmsg__store *s, sqlite3_stmt *st, int col, size_t max, int nul,
                      uint8_t **out, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);

    if (n < 0 || (size_t)n > max)
        return bad_row(s, "a stored value is larger than allowed");
    if (n > 0 && p == NULL)
        return secmsg__store_fail(s, SECMSG_E_NOMEM, "out of memory reading the database");
    size_t cap = (size_t)n + (nul ? 1U : 0U);
    uint8_t *buf = secmsg__store_blob_alloc(cap > 0 ? cap : 1);
    if (buf == NULL)
        return secmsg__store_fail(s, SECMSG_E_NOMEM, "out of memory");
    if (n > 0)
        memcpy(buf, p, (size_t)n);
    if (nul)
        buf[n] = 0;
    *out = buf;
    *len = (size_t)n;
    return SECMSG_OK;
}

/* Copies a column that must be exactly n bytes. */
static int column_fixed(sqlite3_stmt *st, int col, uint8_t *out, size_t n)
{
    const void *p = sqlite3_column_blob(st, col);
    if (p == NULL || (size_t)sqlite3_column_bytes(st, col) != n)
        return 0;
    memcpy(out, p, n);
    return 1;
}

/* Copies a column that holds a user id (or "" when empty_ok) into out[65]. */
static int column_user_id(sqlite3_stmt *st, int col, char out[SECMSG_USER_ID_BYTES], int empty_ok)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (n == 0 && empty_ok) {
        out[0] = '\0';
        return 1;
    }
    if (p == NULL || n <= 0 || (size_t)n >= SECMSG_USER_ID_BYTES)
        return 0;
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    return valid_user_id(out);
}

static int column_u64(sqlite3_stmt *st, int col, uint64_t *v)
{
    sqlite3_int64 x = sqlite3_column_int64(st, col);
    if (x < 0)
        return 0;
    *v = (uint64_t)x;
    return 1;
}

static int column_range(sqlite3_stmt *st, int col, int32_t lo, int32_t hi, int32_t *v)
{
    sqlite3_int64 x = sqlite3_column_int64(st, col);
    if (x < lo || x > hi)
        return 0;
    *v = (int32_t)x;
    return 1;
}

/* Runs a statement that returns no rows. */
static int step_done(secmsg__store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? SECMSG_OK : secmsg__store_sqlite_error(s, rc, what);
}

/* Runs an insert whose only possible constraint is a duplicate key. */
static int step_insert(secmsg__store *s, sqlite3_stmt *st, const char *what, const char *dup)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return SECMSG_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return secmsg__store_fail(s, SECMSG_E_EXISTS, dup);
    return secmsg__store_sqlite_error(s, rc, what);
}

/* Steps a query: SECMSG_OK with *row set, or an error. */
static int step_row(secmsg__store *s, sqlite3_stmt *st, int *row, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        *row = rc == SQLITE_ROW;
        return SECMSG_OK;
    }
    return secmsg__store_sqlite_error(s, rc, what);
}

static int bind_failed(secmsg__store *s, int rc)
{
    return secmsg__store_sqlite_error(s, rc, "could not bind a value");
}

static int count_query(secmsg__store *s, secmsg__store_stmt id, const char *peer, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int row = 0, rc;

    if ((rc = secmsg__store_stmt_get(s, id, &st)) != SECMSG_OK)
        return rc;
    if (peer != NULL && (rc = bind_text(st, 1, peer)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_row(s, st, &row, "could not count")) != SECMSG_OK)
        goto out;
    if (!row || sqlite3_column_int64(st, 0) < 0) {
        rc = bad_row(s, "could not count");
        goto out;
    }
    *n = (size_t)sqlite3_column_int64(st, 0);
out:
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------ */

int secmsg__store_setting_put(secmsg__store *s, const char *name, const uint8_t *v, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || !valid_name(name) || (v == NULL && len > 0) || len > SECMSG__STORE_VALUE_MAX)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SETTING_PUT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, name)) != SQLITE_OK || (rc = bind_blob(st, 2, v, len)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_done(s, st, "could not store a setting");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_setting_get(secmsg__store *s, const char *name, uint8_t **out, size_t *len)
{
    sqlite3_stmt *st = NULL;
    int row = 0, rc;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (s == NULL || !valid_name(name) || out == NULL || len == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SETTING_GET, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, name)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_row(s, st, &row, "could not read a setting")) != SECMSG_OK)
        goto out;
    if (!row) {
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no such setting");
        goto out;
    }
    rc = column_dup(s, st, 0, SECMSG__STORE_VALUE_MAX, 0, out, len);
out:
    secmsg__store_stmt_done(st);
    return rc;
}

/* Runs a DELETE or UPDATE by key; NOT_FOUND if no row matched. */
static int step_changed(secmsg__store *s, sqlite3_stmt *st, const char *what, const char *absent)
{
    int rc = step_done(s, st, what);
    if (rc == SECMSG_OK && sqlite3_changes(s->db) == 0)
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, absent);
    return rc;
}

int secmsg__store_setting_del(secmsg__store *s, const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || !valid_name(name))
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SETTING_DEL, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, name)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_changed(s, st, "could not delete a setting", "no such setting");
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Contacts
 * ------------------------------------------------------------------------ */

static int valid_contact(const secmsg__contact_row *c)
{
    return c != NULL && valid_user_id(c->user_id) && c->role >= SECMSG_ROLE_NONE &&
           c->role <= SECMSG_ROLE_JOURNAL && c->verification >= SECMSG_UNVERIFIED &&
           c->verification <= SECMSG_VERIFICATION_FAILED && c->identity_len <= MAX_IDENTITY &&
           c->cert_len <= MAX_CERT;
}

/* ?1 user_id ?2 role ?3 verification ?4 device_id ?5 identity ?6 cert */
static int bind_contact(sqlite3_stmt *st, const secmsg__contact_row *c)
{
    int rc;
    if ((rc = bind_text(st, 1, c->user_id)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, c->role)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 3, c->verification)) != SQLITE_OK ||
        (rc = bind_blob(st, 5, c->identity, c->identity_len)) != SQLITE_OK ||
        (rc = bind_blob(st, 6, c->cert, c->cert_len)) != SQLITE_OK)
        return rc;
    /* No device yet (all zero): NULL, which UNIQUE lets many rows share. */
    if (sodium_is_zero(c->device_id, sizeof c->device_id))
        return sqlite3_bind_null(st, 4);
    return bind_blob(st, 4, c->device_id, sizeof c->device_id);
}

int secmsg__store_contact_put(secmsg__store *s, const secmsg__contact_row *c)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || !valid_contact(c))
        return SECMSG_E_INVALID_ARG;
    /* UPDATE, then INSERT if there was no row: INSERT OR REPLACE would
     * silently delete another contact that has the same device id. */
    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_UPDATE, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_contact(st, c)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    rc = step_insert(s, st, "could not store a contact", "another contact has this device");
    if (rc != SECMSG_OK || sqlite3_changes(s->db) > 0)
        goto out;
    secmsg__store_stmt_done(st);
    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_INSERT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_contact(st, c)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    rc = step_insert(s, st, "could not store a contact", "another contact has this device");
out:
    secmsg__store_stmt_done(st);
    return rc;
}

/* Reads user_id, role, verification, device_id, identity, cert. */
static int read_contact(secmsg__store *s, sqlite3_stmt *st, secmsg__contact_row *out)
{
    secmsg__contact_row r;
    const void *p;
    int n;

    memset(&r, 0, sizeof r);
    if (!column_user_id(st, 0, r.user_id, 0) ||
        !column_range(st, 1, SECMSG_ROLE_NONE, SECMSG_ROLE_JOURNAL, &r.role) ||
        !column_range(st, 2, SECMSG_UNVERIFIED, SECMSG_VERIFICATION_FAILED, &r.verification))
        return bad_row(s, "a stored contact is malformed");
    if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
        !column_fixed(st, 3, r.device_id, sizeof r.device_id))
        return bad_row(s, "a stored contact is malformed");
    p = sqlite3_column_blob(st, 4);
    n = sqlite3_column_bytes(st, 4);
    if (n < 0 || (size_t)n > sizeof r.identity || (n > 0 && p == NULL))
        return bad_row(s, "a stored contact is malformed");
    if (n > 0)
        memcpy(r.identity, p, (size_t)n);
    r.identity_len = (size_t)n;
    p = sqlite3_column_blob(st, 5);
    n = sqlite3_column_bytes(st, 5);
    if (n < 0 || (size_t)n > sizeof r.cert || (n > 0 && p == NULL))
        return bad_row(s, "a stored contact is malformed");
    if (n > 0)
        memcpy(r.cert, p, (size_t)n);
    r.cert_len = (size_t)n;
    if (out != NULL)
        *out = r;
    return SECMSG_OK;
}

/* Runs a contact query bound by the caller; NOT_FOUND without a row. */
static int contact_query(secmsg__store *s, sqlite3_stmt *st, secmsg__contact_row *out)
{
    int row = 0;
    int rc = step_row(s, st, &row, "could not read a contact");
    if (rc == SECMSG_OK)
        rc = row ? read_contact(s, st, out)
                 : secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no such contact");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_contact_get(secmsg__store *s, const char *user_id, secmsg__contact_row *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || !valid_user_id(user_id) || out == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_GET, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, user_id)) != SQLITE_OK) {
        secmsg__store_stmt_done(st);
        return bind_failed(s, rc);
    }
    return contact_query(s, st, out);
}

int secmsg__store_contact_by_device(secmsg__store *s, const uint8_t device_id[32],
                                    secmsg__contact_row *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || device_id == NULL || out == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_BY_DEVICE, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, device_id, SECMSG_DEVICE_ID_BYTES)) != SQLITE_OK) {
        secmsg__store_stmt_done(st);
        return bind_failed(s, rc);
    }
    return contact_query(s, st, out);
}

int secmsg__store_contact_count(secmsg__store *s, size_t *n)
{
    if (s == NULL || n == NULL)
        return SECMSG_E_INVALID_ARG;
    return count_query(s, ST_CONTACT_COUNT, NULL, n);
}

int secmsg__store_contact_summary(secmsg__store *s, const char *user_id, secmsg_contact *pub)
{
    sqlite3_stmt *st = NULL;
    secmsg_contact c;
    uint64_t n = 0, unread = 0, last = 0;
    int row = 0, rc;

    if (s == NULL || !valid_user_id(user_id) || pub == NULL)
        return SECMSG_E_INVALID_ARG;
    memset(&c, 0, sizeof c);
    memcpy(c.user_id, user_id, strlen(user_id) + 1);

    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_EXISTS, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, user_id)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_row(s, st, &row, "could not read a contact")) != SECMSG_OK)
        goto out;
    if (!row) {
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no such contact");
        goto out;
    }
    if (!column_range(st, 0, SECMSG_ROLE_NONE, SECMSG_ROLE_JOURNAL, &c.role) ||
        !column_range(st, 1, SECMSG_UNVERIFIED, SECMSG_VERIFICATION_FAILED, &c.verification)) {
        rc = bad_row(s, "a stored contact is malformed");
        goto out;
    }
    secmsg__store_stmt_done(st);

    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_SUMMARY, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, user_id)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_row(s, st, &row, "could not summarise a conversation")) != SECMSG_OK)
        goto out;
    /* count(*) always gives a row; sum and max are NULL (0) without messages. */
    if (!row || !column_u64(st, 0, &n) || !column_u64(st, 1, &unread) ||
        !column_u64(st, 2, &last)) {
        rc = bad_row(s, "a stored message is malformed");
        goto out;
    }
    c.messages = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    c.unread = unread > UINT32_MAX ? UINT32_MAX : (uint32_t)unread;
    c.last_activity = last;
    *pub = c;
out:
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_contact_at(secmsg__store *s, size_t index, secmsg__contact_row *row,
                             secmsg_contact *pub)
{
    secmsg__contact_row r;
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || (row == NULL && pub == NULL))
        return SECMSG_E_INVALID_ARG;
    if (index > (size_t)INT64_MAX)
        return secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no such contact");
    if ((rc = secmsg__store_stmt_get(s, ST_CONTACT_AT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)index)) != SQLITE_OK) {
        secmsg__store_stmt_done(st);
        return bind_failed(s, rc);
    }
    if ((rc = contact_query(s, st, &r)) != SECMSG_OK)
        return rc;
    if (pub != NULL && (rc = secmsg__store_contact_summary(s, r.user_id, pub)) != SECMSG_OK)
        return rc;
    if (row != NULL)
        *row = r;
    return SECMSG_OK;
}

/* ------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------ */

int secmsg__store_session_put(secmsg__store *s, const uint8_t device_id[32], const uint8_t *st_,
                              size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || device_id == NULL || st_ == NULL || len == 0 || len > SECMSG__STORE_VALUE_MAX)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SESSION_PUT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, device_id, SECMSG_DEVICE_ID_BYTES)) != SQLITE_OK ||
        (rc = bind_blob(st, 2, st_, len)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_done(s, st, "could not store a session");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_session_get(secmsg__store *s, const uint8_t device_id[32], uint8_t **out,
                              size_t *len)
{
    sqlite3_stmt *st = NULL;
    int row = 0, rc;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (s == NULL || device_id == NULL || out == NULL || len == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SESSION_GET, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, device_id, SECMSG_DEVICE_ID_BYTES)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_row(s, st, &row, "could not read a session")) != SECMSG_OK)
        goto out;
    if (!row) {
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no session with this device");
        goto out;
    }
    rc = column_dup(s, st, 0, SECMSG__STORE_VALUE_MAX, 0, out, len);
out:
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------ */

static int valid_status(int32_t status)
{
    return status >= SECMSG_STATUS_QUEUED && status <= SECMSG_STATUS_READ;
}

int secmsg__store_message_put(secmsg__store *s, const secmsg_message *m, const char *text)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || m == NULL || !valid_user_id(m->peer) ||
        (m->outgoing != 0 && m->outgoing != 1) || !valid_status(m->status) ||
        m->sent_at > INT64_MAX || m->stored_at > INT64_MAX || m->text_len > SECMSG_MAX_TEXT ||
        (text == NULL && m->text_len > 0))
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_MESSAGE_PUT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, m->id, sizeof m->id)) != SQLITE_OK ||
        (rc = bind_text(st, 2, m->peer)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 3, m->outgoing)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 4, m->status)) != SQLITE_OK ||
        (rc = bind_u64(st, 5, m->sent_at)) != SQLITE_OK ||
        (rc = bind_u64(st, 6, m->stored_at)) != SQLITE_OK ||
        (rc = bind_blob(st, 7, text, m->text_len)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_insert(s, st, "could not store a message", "this message is already stored");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_message_count(secmsg__store *s, const char *peer, size_t *n)
{
    if (s == NULL || !valid_user_id(peer) || n == NULL)
        return SECMSG_E_INVALID_ARG;
    return count_query(s, ST_MESSAGE_COUNT, peer, n);
}

int secmsg__store_message_at(secmsg__store *s, const char *peer, size_t index, secmsg_message *m,
                             char **text)
{
    sqlite3_stmt *st = NULL;
    secmsg_message r;
    uint8_t *t = NULL;
    size_t tlen = 0;
    int row = 0, rc;

    if (text != NULL)
        *text = NULL;
    if (s == NULL || !valid_user_id(peer) || m == NULL)
        return SECMSG_E_INVALID_ARG;
    if (index > (size_t)INT64_MAX)
        return secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no such message");
    memset(&r, 0, sizeof r);
    if ((rc = secmsg__store_stmt_get(s, ST_MESSAGE_AT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, peer)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 2, (sqlite3_int64)index)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_row(s, st, &row, "could not read a message")) != SECMSG_OK)
        goto out;
    if (!row) {
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no such message");
        goto out;
    }
    if (!column_fixed(st, 0, r.id, sizeof r.id) || !column_user_id(st, 1, r.peer, 0) ||
        !column_range(st, 2, 0, 1, &r.outgoing) ||
        !column_range(st, 3, SECMSG_STATUS_QUEUED, SECMSG_STATUS_READ, &r.status) ||
        !column_u64(st, 4, &r.sent_at) || !column_u64(st, 5, &r.stored_at)) {
        rc = bad_row(s, "a stored message is malformed");
        goto out;
    }
    if (text != NULL) {
        if ((rc = column_dup(s, st, 6, SECMSG_MAX_TEXT, 1, &t, &tlen)) != SECMSG_OK)
            goto out;
    } else {
        int n = sqlite3_column_bytes(st, 6);
        if (n < 0 || (size_t)n > SECMSG_MAX_TEXT) {
            rc = bad_row(s, "a stored message is malformed");
            goto out;
        }
        tlen = (size_t)n;
    }
    r.text_len = tlen;
    *m = r;
    if (text != NULL)
        *text = (char *)t;
out:
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_message_set_status(secmsg__store *s, const uint8_t id[16], int32_t status)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || id == NULL || !valid_status(status))
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_MESSAGE_STATUS, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, id, SECMSG_MESSAGE_ID_BYTES)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, status)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_changed(s, st, "could not update a message", "no such message");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_mark_read(secmsg__store *s, const char *peer)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || !valid_user_id(peer))
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_MARK_READ, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, peer)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_done(s, st, "could not mark messages read");
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Seen
 * ------------------------------------------------------------------------ */

int secmsg__store_seen_check(secmsg__store *s, const uint8_t sender[32], const uint8_t id[16],
                             int *seen)
{
    sqlite3_stmt *st = NULL;
    int row = 0, rc;

    if (s == NULL || sender == NULL || id == NULL || seen == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SEEN_CHECK, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, sender, SECMSG_DEVICE_ID_BYTES)) != SQLITE_OK ||
        (rc = bind_blob(st, 2, id, SECMSG_MESSAGE_ID_BYTES)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else if ((rc = step_row(s, st, &row, "could not check for a duplicate")) == SECMSG_OK)
        *seen = row;
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_seen_add(secmsg__store *s, const uint8_t sender[32], const uint8_t id[16])
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || sender == NULL || id == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_SEEN_ADD, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, sender, SECMSG_DEVICE_ID_BYTES)) != SQLITE_OK ||
        (rc = bind_blob(st, 2, id, SECMSG_MESSAGE_ID_BYTES)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_done(s, st, "could not record a received message");
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Outbox
 * ------------------------------------------------------------------------ */

int secmsg__store_outbox_add(secmsg__store *s, const uint8_t id[16], const uint8_t *env, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || id == NULL || env == NULL || len == 0 || len > SECMSG__STORE_ENVELOPE_MAX)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_OUTBOX_ADD, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, id, SECMSG_MESSAGE_ID_BYTES)) != SQLITE_OK ||
        (rc = bind_blob(st, 2, env, len)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_insert(s, st, "could not queue a message", "this message is already queued");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_outbox_first(secmsg__store *s, uint8_t id[16], uint8_t **env, size_t *len)
{
    sqlite3_stmt *st = NULL;
    uint8_t rid[SECMSG_MESSAGE_ID_BYTES];
    int row = 0, rc;

    if (env != NULL)
        *env = NULL;
    if (len != NULL)
        *len = 0;
    if (s == NULL || id == NULL || env == NULL || len == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_OUTBOX_FIRST, &st)) != SECMSG_OK)
        return rc;
    if ((rc = step_row(s, st, &row, "could not read the outbox")) != SECMSG_OK)
        goto out;
    if (!row) {
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "the outbox is empty");
        goto out;
    }
    if (!column_fixed(st, 0, rid, sizeof rid)) {
        rc = bad_row(s, "a queued message is malformed");
        goto out;
    }
    if ((rc = column_dup(s, st, 1, SECMSG__STORE_ENVELOPE_MAX, 0, env, len)) != SECMSG_OK)
        goto out;
    memcpy(id, rid, sizeof rid);
out:
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_outbox_count(secmsg__store *s, size_t *n)
{
    if (s == NULL || n == NULL)
        return SECMSG_E_INVALID_ARG;
    return count_query(s, ST_OUTBOX_COUNT, NULL, n);
}

int secmsg__store_outbox_del(secmsg__store *s, const uint8_t id[16])
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || id == NULL)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_OUTBOX_DEL, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_blob(st, 1, id, SECMSG_MESSAGE_ID_BYTES)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_changed(s, st, "could not remove a queued message", "no such queued message");
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Invites
 * ------------------------------------------------------------------------ */

int secmsg__store_invite_put(secmsg__store *s, const secmsg__invite_row *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || r == NULL || !valid_user_id(r->user_id) || r->expires > INT64_MAX)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_INVITE_PUT, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, r->user_id)) != SQLITE_OK ||
        (rc = bind_blob(st, 2, r->secret, sizeof r->secret)) != SQLITE_OK ||
        (rc = bind_u64(st, 3, r->expires)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_done(s, st, "could not store an invite");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_invite_match(secmsg__store *s, const uint8_t secret[16], uint64_t now,
                               secmsg__invite_row *out)
{
    sqlite3_stmt *st = NULL;
    secmsg__invite_row cur, hit;
    int found = 0, row = 0, rc;

    if (s == NULL || secret == NULL || out == NULL)
        return SECMSG_E_INVALID_ARG;
    memset(&hit, 0, sizeof hit);
    if ((rc = secmsg__store_stmt_get(s, ST_INVITE_ALL, &st)) != SECMSG_OK)
        return rc;
    /*
     * Every row is read and compared in constant time, whether or not an
     * earlier one matched: neither the position of the match nor how much
     * of a secret matched shows in the time taken.
     */
    for (;;) {
        if ((rc = step_row(s, st, &row, "could not read the invites")) != SECMSG_OK)
            goto out;
        if (!row)
            break;
        memset(&cur, 0, sizeof cur);
        if (!column_user_id(st, 0, cur.user_id, 0) ||
            !column_fixed(st, 1, cur.secret, sizeof cur.secret) ||
            !column_u64(st, 2, &cur.expires)) {
            rc = bad_row(s, "a stored invite is malformed");
            goto out;
        }
        int eq = sodium_memcmp(cur.secret, secret, sizeof cur.secret) == 0;
        if (eq && cur.expires > now && !found) {
            hit = cur;
            found = 1;
        }
    }
    if (!found) {
        rc = secmsg__store_fail(s, SECMSG_E_NOT_FOUND, "no unexpired invite has this secret");
        goto out;
    }
    *out = hit;
out:
    secmsg__store_stmt_done(st);
    sodium_memzero(&cur, sizeof cur);
    sodium_memzero(&hit, sizeof hit);
    return rc;
}

int secmsg__store_invite_del(secmsg__store *s, const char *user_id)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || !valid_user_id(user_id))
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_INVITE_DEL, &st)) != SECMSG_OK)
        return rc;
    if ((rc = bind_text(st, 1, user_id)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_changed(s, st, "could not delete an invite", "no such invite");
    secmsg__store_stmt_done(st);
    return rc;
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static int valid_event_peer(const char *peer)
{
    return peer[0] == '\0' || valid_user_id(peer);
}

int secmsg__store_event_push(secmsg__store *s, const secmsg_event *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s == NULL || e == NULL || e->type < SECMSG_EVENT_MESSAGE || e->type > SECMSG_EVENT_ERROR ||
        strnlen(e->peer, SECMSG_USER_ID_BYTES) > MAX_USER_ID || !valid_event_peer(e->peer) ||
        e->at > INT64_MAX)
        return SECMSG_E_INVALID_ARG;
    if ((rc = secmsg__store_stmt_get(s, ST_EVENT_PUSH, &st)) != SECMSG_OK)
        return rc;
    if ((rc = sqlite3_bind_int(st, 1, e->type)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, e->code)) != SQLITE_OK ||
        (rc = bind_text(st, 3, e->peer)) != SQLITE_OK ||
        (rc = bind_blob(st, 4, e->message_id, sizeof e->message_id)) != SQLITE_OK ||
        (rc = bind_u64(st, 5, e->at)) != SQLITE_OK)
        rc = bind_failed(s, rc);
    else
        rc = step_done(s, st, "could not queue an event");
    secmsg__store_stmt_done(st);
    return rc;
}

int secmsg__store_event_pop(secmsg__store *s, secmsg_event *e)
{
    sqlite3_stmt *st = NULL;
    secmsg_event r;
    sqlite3_int64 seq = 0;
    int row = 0, rc;

    if (s == NULL || e == NULL)
        return SECMSG_E_INVALID_ARG;
    memset(&r, 0, sizeof r);
    if ((rc = secmsg__store_stmt_get(s, ST_EVENT_FIRST, &st)) != SECMSG_OK)
        return rc;
    if ((rc = step_row(s, st, &row, "could not read the events")) != SECMSG_OK)
        goto out;
    if (!row) {
        memset(e, 0, sizeof *e); /* type NONE */
        goto out;
    }
    seq = sqlite3_column_int64(st, 0);
    if (!column_range(st, 1, SECMSG_EVENT_MESSAGE, SECMSG_EVENT_ERROR, &r.type) ||
        !column_range(st, 2, INT32_MIN, INT32_MAX, &r.code) || !column_user_id(st, 3, r.peer, 1) ||
        !column_fixed(st, 4, r.message_id, sizeof r.message_id) || !column_u64(st, 5, &r.at)) {
        rc = bad_row(s, "a stored event is malformed");
        goto out;
    }
    secmsg__store_stmt_done(st);
    if ((rc = secmsg__store_stmt_get(s, ST_EVENT_DEL, &st)) != SECMSG_OK)
        return rc;
    if ((rc = sqlite3_bind_int64(st, 1, seq)) != SQLITE_OK) {
        rc = bind_failed(s, rc);
        goto out;
    }
    if ((rc = step_done(s, st, "could not remove an event")) == SECMSG_OK)
        *e = r;
out:
    secmsg__store_stmt_done(st);
    return rc;
}
