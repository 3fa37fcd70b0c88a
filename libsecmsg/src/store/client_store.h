/*
 * Internal: the device store (layer 7). One sqlcipher database per device
 * (`path`) and a key file (`path` + ".keys"). spec/client.md §2 is the
 * normative description; this header is its C face.
 *
 * Key file: the random 32-byte database key, wrapped (XChaCha20-Poly1305)
 * by KEK_pin = Argon2id(PIN, salt, ops, mem) combined with the device
 * secret, and optionally by a platform key; the wrong-PIN counter and the
 * policy, authenticated with a MAC key derived from the device secret.
 * Every update of the key file is write-temp + fsync + rename + fsync(dir).
 *
 * All functions return SECMSG_OK or a negative secmsg_error. Failing
 * functions change nothing. Every blob output (settings, sessions, message
 * text, outbox envelopes) is a store blob (malloc'd with its size in front) freed with
 * secmsg__store_free, which wipes it. Deletes and updates by key are
 * NOT_FOUND when no row matched.
 *
 * Transactions: secmsg__store_begin/commit/rollback bracket a unit of work
 * (one receive, one send). Writes outside a transaction are each their own
 * transaction. Nested begin is STATE.
 */
#ifndef SECMSG_CLIENT_STORE_H
#define SECMSG_CLIENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "secmsg/client.h"

typedef struct secmsg__store secmsg__store;

/* The current schema version; migrations run from every earlier one. */
#define SECMSG__STORE_SCHEMA_VERSION 1

/* Default Argon2id cost (spec/client.md §2.2). */
#define SECMSG__KDF_OPS_DEFAULT 3U
#define SECMSG__KDF_MEM_KIB_DEFAULT (64U * 1024U)
#define SECMSG__PIN_MAX_FAILURES_DEFAULT 10U

/* Largest setting value and session state; largest outbox envelope. */
#define SECMSG__STORE_VALUE_MAX (1U << 20)
#define SECMSG__STORE_ENVELOPE_MAX (16U << 20)

/* ---- lifecycle ---------------------------------------------------------- */

/* Creates path + path.keys (both 0600, O_EXCL): EXISTS if either exists. */
int secmsg__store_create(secmsg__store **out, const char *path, const uint8_t *secret,
                         size_t secret_len, const char *pin, size_t pin_len, uint32_t kdf_ops,
                         uint32_t kdf_mem_kib);
/* Opens with the PIN. WRONG_PIN (counted first, *left = attempts left),
 * LOCKED, TAMPERED, PERMISSION, NOT_FOUND, STORE. */
int secmsg__store_open_pin(secmsg__store **out, const char *path, const uint8_t *secret,
                           size_t secret_len, const char *pin, size_t pin_len, uint32_t *left);
/* Opens with the platform key (counted like a PIN). NOT_FOUND if none set. */
int secmsg__store_open_platform(secmsg__store **out, const char *path, const uint8_t *secret,
                                size_t secret_len, const uint8_t *key, size_t key_len,
                                uint32_t *left);
int secmsg__store_platform_key_set(secmsg__store *s, const uint8_t *key, size_t key_len);
int secmsg__store_platform_key_clear(secmsg__store *s);
int secmsg__store_change_pin(secmsg__store *s, const char *pin, size_t pin_len);
int secmsg__store_set_pin_policy(secmsg__store *s, uint32_t max_failures, int wipe);
void secmsg__store_close(secmsg__store *s);

/* One sentence about the last failure (never secrets). Never NULL. */
const char *secmsg__store_last_error(const secmsg__store *s);

int secmsg__store_begin(secmsg__store *s);
int secmsg__store_commit(secmsg__store *s);
void secmsg__store_rollback(secmsg__store *s);
/* Begins a transaction whose commit does not wait for the disk: it
 * survives a process crash, a power loss may undo it (whole). Only for
 * changes whose loss is harmless. Commit/rollback end it as usual. */
int secmsg__store_begin_relaxed(secmsg__store *s);
/* Inside a transaction, one nested unit (not nestable itself): undone
 * alone by rollback_to (which also ends it), kept by release. rollback_to
 * is STORE when SQLite already rolled the whole transaction back (then
 * only secmsg__store_rollback is left). */
int secmsg__store_savepoint(secmsg__store *s);
int secmsg__store_release(secmsg__store *s);
int secmsg__store_rollback_to(secmsg__store *s);

/* Frees a blob returned by a getter (wipes it first). NULL allowed. */
void secmsg__store_free(void *p, size_t len);

/* ---- settings: small named values (identity, prekeys, relay URL, ...) ---- */
/* Names are short ASCII constants of the client layer. get: NOT_FOUND if
 * absent; *out is a store blob (free with secmsg__store_free). */
int secmsg__store_setting_put(secmsg__store *s, const char *name, const uint8_t *v, size_t len);
int secmsg__store_setting_get(secmsg__store *s, const char *name, uint8_t **out, size_t *len);
int secmsg__store_setting_del(secmsg__store *s, const char *name);

/* ---- contacts ------------------------------------------------------------ */
typedef struct secmsg__contact_row {
    char user_id[SECMSG_USER_ID_BYTES];
    int32_t role;
    int32_t verification;
    uint8_t device_id[SECMSG_DEVICE_ID_BYTES]; /* the contact's (one) device */
    uint8_t identity[160];                     /* its identity public */
    size_t identity_len;
    uint8_t cert[512];                         /* its root certificate, if any */
    size_t cert_len;
} secmsg__contact_row;

/* Insert or replace by user_id. */
int secmsg__store_contact_put(secmsg__store *s, const secmsg__contact_row *c);
int secmsg__store_contact_get(secmsg__store *s, const char *user_id, secmsg__contact_row *out);
int secmsg__store_contact_by_device(secmsg__store *s, const uint8_t device_id[32],
                                    secmsg__contact_row *out);
int secmsg__store_contact_count(secmsg__store *s, size_t *n);
/* index-th by user id order; NOT_FOUND past the end. Also fills the
 * public secmsg_contact (message counts, unread, last activity). */
int secmsg__store_contact_at(secmsg__store *s, size_t index, secmsg__contact_row *row,
                             secmsg_contact *pub);
int secmsg__store_contact_summary(secmsg__store *s, const char *user_id, secmsg_contact *pub);

/* ---- sessions: serialized secmsg_session per peer device ----------------- */
int secmsg__store_session_put(secmsg__store *s, const uint8_t device_id[32], const uint8_t *st,
                              size_t len);
int secmsg__store_session_get(secmsg__store *s, const uint8_t device_id[32], uint8_t **st,
                              size_t *len); /* a store blob */

/* ---- messages ------------------------------------------------------------ */
/* Insert; EXISTS if (id) is already stored. */
int secmsg__store_message_put(secmsg__store *s, const secmsg_message *m, const char *text);
int secmsg__store_message_count(secmsg__store *s, const char *peer, size_t *n);
/* index-th (0 = oldest, in insertion order) of a conversation; *text
 * (may be NULL: meta only) a store blob, NUL-terminated (free with
 * secmsg__store_free). */
int secmsg__store_message_at(secmsg__store *s, const char *peer, size_t index,
                             secmsg_message *m, char **text);
int secmsg__store_message_set_status(secmsg__store *s, const uint8_t id[16], int32_t status);
int secmsg__store_mark_read(secmsg__store *s, const char *peer);

/* ---- dedupe of received envelopes: (sender device, message id) ----------- */
/* 1 if seen, 0 if not (as the return value of *seen). */
int secmsg__store_seen_check(secmsg__store *s, const uint8_t sender[32], const uint8_t id[16],
                             int *seen);
int secmsg__store_seen_add(secmsg__store *s, const uint8_t sender[32], const uint8_t id[16]);

/* ---- outbox: ready-to-send envelopes (encoded relay Envelope bytes) ------- */
int secmsg__store_outbox_add(secmsg__store *s, const uint8_t id[16], const uint8_t *env,
                             size_t len);
/* The oldest entry: NOT_FOUND when empty; *env a store blob. */
int secmsg__store_outbox_first(secmsg__store *s, uint8_t id[16], uint8_t **env, size_t *len);
int secmsg__store_outbox_count(secmsg__store *s, size_t *n);
int secmsg__store_outbox_del(secmsg__store *s, const uint8_t id[16]);

/* ---- pending invites (caseworker) ----------------------------------------- */
typedef struct secmsg__invite_row {
    char user_id[SECMSG_USER_ID_BYTES]; /* the citizen's */
    uint8_t secret[16];
    uint64_t expires;                   /* unix seconds */
} secmsg__invite_row;
int secmsg__store_invite_put(secmsg__store *s, const secmsg__invite_row *r);
/* Finds the unexpired invite whose secret equals `secret` (constant-time
 * compare over all rows). NOT_FOUND if none. */
int secmsg__store_invite_match(secmsg__store *s, const uint8_t secret[16], uint64_t now,
                               secmsg__invite_row *out);
int secmsg__store_invite_del(secmsg__store *s, const char *user_id);

/* ---- events --------------------------------------------------------------- */
int secmsg__store_event_push(secmsg__store *s, const secmsg_event *e);
/* Pops the oldest into *e; type NONE when empty. */
int secmsg__store_event_pop(secmsg__store *s, secmsg_event *e);

#endif
