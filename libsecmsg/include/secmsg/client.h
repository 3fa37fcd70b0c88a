/*
 * secmsg/client.h - the high-level client: encrypted store, enrollment,
 * invites, contacts, messages, sync and an event queue.
 *
 * One secmsg_client is one device: its identity, prekeys, sessions,
 * contacts, messages and outbox live in one sqlcipher database (`path`)
 * plus a small key file next to it (`path` + ".keys") that holds the
 * database key wrapped by the PIN (and optionally by a platform key) and
 * the authenticated count of wrong PINs. See spec/client.md.
 *
 * Threads: a secmsg_client may be used from one thread at a time (the
 * caller serialises); different clients are independent.
 * Ownership: every out-buffer is the caller's, with an explicit capacity;
 * BUFFER_TOO_SMALL reports the size needed and changes nothing. Strings in
 * are NUL-terminated UTF-8 unless a length is given. No callbacks are
 * needed: events are polled with secmsg_client_next_event().
 * Errors: every function returns SECMSG_OK or a negative secmsg_error;
 * secmsg_client_last_error() gives one English sentence about the last
 * failure of that client (never a secret, a PIN or message content).
 */
#ifndef SECMSG_CLIENT_H
#define SECMSG_CLIENT_H

#include "common.h"
#include "identity.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct secmsg_client secmsg_client;

/** User ids: 1..64 bytes of [A-Za-z0-9._-]; this buffer size holds one. */
#define SECMSG_USER_ID_BYTES 65U
/** Message ids are 16 random bytes chosen by the sender. */
#define SECMSG_MESSAGE_ID_BYTES 16U
/** Device ids are the device's 32-byte Ed25519 public key. */
#define SECMSG_DEVICE_ID_BYTES 32U
/** Largest text a message may carry (bytes of UTF-8). */
#define SECMSG_MAX_TEXT 65536U
/** Largest invite string (NUL included). */
#define SECMSG_INVITE_MAX 1024U
/** Shortest PIN accepted (digits or any characters, 4..64 bytes). */
#define SECMSG_PIN_MIN 4U
#define SECMSG_PIN_MAX 64U
/** Device secret: 16..64 bytes from the platform keystore (or a 0600 file). */
#define SECMSG_DEVICE_SECRET_MIN 16U
#define SECMSG_DEVICE_SECRET_MAX 64U
/** Platform (biometric) unlock key: exactly 32 bytes. */
#define SECMSG_PLATFORM_KEY_BYTES 32U

/** Roles, as the relay knows them. */
typedef enum secmsg_role {
    SECMSG_ROLE_NONE = 0,       /**< not enrolled yet */
    SECMSG_ROLE_CITIZEN = 1,
    SECMSG_ROLE_CASEWORKER = 2,
    SECMSG_ROLE_JOURNAL = 3
} secmsg_role;

/* ---- Network transport (optional) ------------------------------------- */

/** One HTTP request the library wants made. All strings NUL-terminated. */
typedef struct secmsg_http_request {
    const char *method;        /**< "GET", "POST" or "PUT" */
    const char *url;           /**< absolute URL */
    const char *authorization; /**< value of the Authorization header, or NULL */
    const char *content_type;  /**< or NULL when there is no body */
    const uint8_t *body;       /**< body_len bytes (NULL when body_len is 0) */
    size_t body_len;
    uint32_t timeout_ms;       /**< whole request, including a long poll */
} secmsg_http_request;

/**
 * A transport makes one request and writes the response: *status the HTTP
 * status, the body into resp[0..*resp_len) (capacity resp_cap; a longer
 * body is a failure). Returns 0 when a response was received, non-zero when
 * none was (connection refused, timeout, TLS failure, body too long).
 */
typedef int (*secmsg_transport_fn)(void *ctx, const secmsg_http_request *req, int *status,
                                   uint8_t *resp, size_t resp_cap, size_t *resp_len);

/**
 * Replaces the default transport (libcurl) for this client; fn NULL restores
 * the default. ctx is passed through untouched and stays the caller's.
 */
SECMSG_API int secmsg_client_set_transport(secmsg_client *c, secmsg_transport_fn fn, void *ctx);

/* ---- Store: create, unlock, close ------------------------------------- */

/**
 * Creates a new, empty device store at `path` (and `path`.keys), protected
 * by `pin` and `device_secret`, and opens it. A fresh identity and prekeys
 * are generated. kdf_ops / kdf_mem_kib are the Argon2id cost (0, 0 = the
 * defaults of spec/client.md, chosen for phones); they are stored with the
 * wrapped key. Errors: INVALID_ARG (bad lengths, PIN shorter than 4),
 * EXISTS (a store is already there), STORE (file system / database),
 * NOMEM, CRYPTO.
 */
SECMSG_API int secmsg_client_create(secmsg_client **out, const char *path,
                                    const uint8_t *device_secret, size_t device_secret_len,
                                    const char *pin, size_t pin_len, uint32_t kdf_ops,
                                    uint32_t kdf_mem_kib);

/**
 * Opens an existing store with the PIN. A wrong PIN is counted (in the key
 * file, authenticated with the device secret) before the answer is given:
 * WRONG_PIN, and *attempts_left (if not NULL) says how many remain. After
 * the limit (default 10) the store is LOCKED for good, or wiped when the
 * policy says so (then NOT_FOUND afterwards). A key file whose counter or
 * parameters were tampered with is TAMPERED. Also: NOT_FOUND (no store),
 * PERMISSION (the store or key file is readable by group/others),
 * INVALID_ARG, STORE, NOMEM.
 */
SECMSG_API int secmsg_client_open(secmsg_client **out, const char *path,
                                  const uint8_t *device_secret, size_t device_secret_len,
                                  const char *pin, size_t pin_len, uint32_t *attempts_left);

/**
 * Opens the store with the platform (biometric) key added earlier with
 * secmsg_client_platform_key_add(). A wrong key is WRONG_PIN and counted
 * like a PIN. Errors as secmsg_client_open(), and NOT_FOUND when no
 * platform key is set.
 */
SECMSG_API int secmsg_client_open_platform(secmsg_client **out, const char *path,
                                           const uint8_t *device_secret,
                                           size_t device_secret_len, const uint8_t *platform_key,
                                           size_t platform_key_len, uint32_t *attempts_left);

/** Adds (or replaces) the platform-key wrapping of the database key. */
SECMSG_API int secmsg_client_platform_key_add(secmsg_client *c, const uint8_t *platform_key,
                                              size_t platform_key_len);
/** Removes the platform-key wrapping; only the PIN opens the store then. */
SECMSG_API int secmsg_client_platform_key_remove(secmsg_client *c);

/** Changes the PIN (the database key stays; only its wrapping changes). */
SECMSG_API int secmsg_client_change_pin(secmsg_client *c, const char *new_pin,
                                        size_t new_pin_len);

/**
 * Wrong-PIN policy: max_failures 1..100 (default 10); wipe non-zero deletes
 * the wrapped keys (so the database is unreadable) when the limit is
 * reached instead of only locking.
 */
SECMSG_API int secmsg_client_set_pin_policy(secmsg_client *c, uint32_t max_failures, int wipe);

/** Closes the store and wipes every key in memory. NULL is allowed. */
SECMSG_API void secmsg_client_close(secmsg_client *c);

/** One sentence about this client's last failure ("" if none). Never NULL. */
SECMSG_API const char *secmsg_client_last_error(const secmsg_client *c);

/* ---- Who am I ----------------------------------------------------------- */

/** This device's role (SECMSG_ROLE_NONE before enrollment). */
SECMSG_API int secmsg_client_role(const secmsg_client *c);
/** This device's user id ("" before enrollment) into out (cap >= 65). */
SECMSG_API int secmsg_client_user_id(const secmsg_client *c, char *out, size_t cap);
/** This device's id (32 bytes, the Ed25519 public key). */
SECMSG_API int secmsg_client_device_id(const secmsg_client *c,
                                       uint8_t out[SECMSG_DEVICE_ID_BYTES]);
/** This device's identity public (SECMSG_IDENTITY_PUBLIC_BYTES) and its length. */
SECMSG_API int secmsg_client_identity_public(const secmsg_client *c, uint8_t *out, size_t cap,
                                             size_t *out_len);

/* ---- Enrollment --------------------------------------------------------- */

/**
 * Enrolls a caseworker device: registers with the relay at relay_url using
 * the admin's one-time token (43-character base64url), after checking that
 * `certificate` (the text `secmsg-admin certify` printed) certifies exactly
 * this device's identity under the municipality root key; uploads prekeys.
 * Errors: INVALID_ARG, MALFORMED (token or certificate text), SIGNATURE
 * (certificate does not verify), UNTRUSTED (certificate is for another
 * device or user), STATE (already enrolled), NETWORK, RELAY (the relay
 * refused: last_error names its reason), STORE.
 */
SECMSG_API int secmsg_client_enroll_caseworker(secmsg_client *c, const char *relay_url,
                                               const char *token, const char *certificate);

/**
 * Citizen: redeems an invite string. Checks its form and expiry, registers
 * this device with the invite's token, uploads prekeys, fetches the
 * caseworker's bundle and refuses it unless its identity has the invite's
 * fingerprint (UNTRUSTED), opens the session and sends the hello that
 * proves this device holds the invite. The caseworker's welcome (its root
 * certificate) arrives with a later sync and is checked against the
 * invite's root fingerprint.
 * An already enrolled citizen device may redeem again (after a redeem that
 * failed past registration, or an invite from a further caseworker): then
 * the device is not registered again; the invite must name the same relay
 * and the same municipality root key, and there must be no conversation
 * with that caseworker yet (EXISTS).
 * Errors: MALFORMED (not an invite), EXPIRED, UNTRUSTED, EXISTS, STATE
 * (enrolled as staff, or at another relay), NETWORK, RELAY, STORE.
 */
SECMSG_API int secmsg_client_redeem_invite(secmsg_client *c, const char *invite);

/**
 * Caseworker: creates an invite for a citizen. citizen_user_id may be NULL
 * (a random id is chosen). ttl_seconds 0 means the relay's default (7
 * days). The invite string (NUL-terminated, at most SECMSG_INVITE_MAX
 * bytes) goes to out; its length without the NUL to *out_len. cap must be
 * at least SECMSG_INVITE_MAX (else BUFFER_TOO_SMALL, *out_len =
 * SECMSG_INVITE_MAX, before anything is asked of the relay). The pending
 * invite (its secret) is committed to the store before this returns.
 * Errors: STATE (not a caseworker), INVALID_ARG (bad user id), NETWORK,
 * RELAY (e.g. user_id_in_use), STORE.
 */
SECMSG_API int secmsg_client_create_invite(secmsg_client *c, const char *citizen_user_id,
                                           uint32_t ttl_seconds, char *out, size_t cap,
                                           size_t *out_len);

/* ---- Contacts ----------------------------------------------------------- */

typedef enum secmsg_verification {
    SECMSG_UNVERIFIED = 0,        /**< keys not (yet) confirmed */
    SECMSG_VERIFIED_INVITE = 1,   /**< confirmed by construction through an invite */
    SECMSG_VERIFIED_IN_PERSON = 2,/**< safety number compared and confirmed */
    SECMSG_VERIFICATION_FAILED = 3/**< keys contradicted the invite: never used */
} secmsg_verification;

typedef struct secmsg_contact {
    char user_id[SECMSG_USER_ID_BYTES];
    int32_t role;           /**< secmsg_role */
    int32_t verification;   /**< secmsg_verification */
    uint32_t messages;      /**< messages in the conversation */
    uint32_t unread;        /**< incoming messages not yet marked read */
    uint64_t last_activity; /**< unix milliseconds of the newest message, 0 if none */
} secmsg_contact;

/** Number of contacts. */
SECMSG_API int secmsg_client_contact_count(secmsg_client *c, size_t *count);
/** The index-th contact (0-based, ordered by user id). NOT_FOUND past the end. */
SECMSG_API int secmsg_client_contact_get(secmsg_client *c, size_t index, secmsg_contact *out);
/** The contact with this user id. NOT_FOUND if unknown. */
SECMSG_API int secmsg_client_contact_find(secmsg_client *c, const char *user_id,
                                          secmsg_contact *out);

/** Safety number with a contact (60 digits + NUL). */
SECMSG_API int secmsg_client_safety_number(secmsg_client *c, const char *user_id,
                                           char out[SECMSG_SAFETY_NUMBER_BYTES]);
/**
 * Marks a contact verified in person, after the user compared the safety
 * number, or after scanning the peer's QR form (scanned non-NULL: checked
 * in constant time, SIGNATURE on mismatch).
 */
SECMSG_API int secmsg_client_mark_verified(secmsg_client *c, const char *user_id,
                                           const uint8_t *scanned, size_t scanned_len);

/** Who can read a conversation (access transparency). */
typedef enum secmsg_access_kind {
    SECMSG_ACCESS_SELF = 1,        /**< this device */
    SECMSG_ACCESS_PEER_DEVICE = 2, /**< a device of the contact */
    SECMSG_ACCESS_JOURNAL = 3      /**< the municipality journal key */
} secmsg_access_kind;

typedef struct secmsg_access_entry {
    int32_t kind;                     /**< secmsg_access_kind */
    int32_t role;                     /**< secmsg_role of the holder */
    char user_id[SECMSG_USER_ID_BYTES];
    char fingerprint[65];             /**< 64 lowercase hex digits + NUL */
    int32_t certified;                /**< 1 if certified by the municipality root key */
} secmsg_access_entry;

/** Number of parties that can read the conversation with user_id. */
SECMSG_API int secmsg_client_access_count(secmsg_client *c, const char *user_id, size_t *count);
SECMSG_API int secmsg_client_access_get(secmsg_client *c, const char *user_id, size_t index,
                                        secmsg_access_entry *out);

/* ---- Messages ----------------------------------------------------------- */

typedef enum secmsg_message_status {
    SECMSG_STATUS_QUEUED = 0,   /**< outgoing, in the outbox, not yet at the relay */
    SECMSG_STATUS_SENT = 1,     /**< outgoing, stored by the relay */
    SECMSG_STATUS_RECEIVED = 2, /**< incoming */
    SECMSG_STATUS_READ = 3      /**< incoming, marked read */
} secmsg_message_status;

typedef struct secmsg_message {
    uint8_t id[SECMSG_MESSAGE_ID_BYTES];
    char peer[SECMSG_USER_ID_BYTES]; /**< the other side of the conversation */
    int32_t outgoing;                /**< 1 sent by this device, 0 received */
    int32_t status;                  /**< secmsg_message_status */
    uint64_t sent_at;                /**< unix ms, as the sender's clock said */
    uint64_t stored_at;              /**< unix ms, when this device stored it */
    size_t text_len;                 /**< bytes of text (no NUL) */
} secmsg_message;

/**
 * Sends a text (1..SECMSG_MAX_TEXT bytes of UTF-8) to a contact. The
 * encrypted message and the advanced session are committed to the outbox
 * first; then the relay is tried once. Returns SECMSG_OK when the relay
 * stored it, SECMSG_E_NETWORK / SECMSG_E_RELAY when it is queued but not
 * yet delivered (secmsg_client_sync() retries the same ciphertext). Either
 * way message_id (if not NULL) gets its id. Other errors (nothing queued):
 * INVALID_ARG, NOT_FOUND (unknown contact), UNTRUSTED (contact failed
 * verification), STATE (no session yet), STORE.
 */
SECMSG_API int secmsg_client_send_text(secmsg_client *c, const char *user_id, const char *text,
                                       size_t text_len,
                                       uint8_t message_id[SECMSG_MESSAGE_ID_BYTES]);

/**
 * One round of synchronisation: sends the outbox, fetches the mailbox
 * (waiting up to wait_ms for mail when it is empty), and for each delivery
 * decrypts, stores and queues events in one transaction, then acks it at
 * the relay. Replenishes one-time prekeys when the relay says they run low.
 * *received (if not NULL) = new messages stored. A delivery that cannot be
 * decrypted is acked and dropped, with an ERROR event. Errors: NETWORK,
 * RELAY, STORE, STATE (not enrolled).
 */
SECMSG_API int secmsg_client_sync(secmsg_client *c, uint32_t wait_ms, size_t *received);

/** Number of messages in the conversation with user_id. */
SECMSG_API int secmsg_client_message_count(secmsg_client *c, const char *user_id, size_t *count);
/**
 * The index-th message (0 = oldest) of the conversation with user_id: meta
 * into *out and the text into text (capacity cap, NUL-terminated; may be
 * NULL to ask only for meta). BUFFER_TOO_SMALL when cap <= text_len.
 */
SECMSG_API int secmsg_client_message_get(secmsg_client *c, const char *user_id, size_t index,
                                         secmsg_message *out, char *text, size_t cap);
/** Marks every incoming message of the conversation read. */
SECMSG_API int secmsg_client_mark_read(secmsg_client *c, const char *user_id);

/* ---- Events ------------------------------------------------------------- */

typedef enum secmsg_event_type {
    SECMSG_EVENT_NONE = 0,             /**< the queue is empty */
    SECMSG_EVENT_MESSAGE = 1,          /**< a new incoming message (peer, message_id) */
    SECMSG_EVENT_RECEIPT = 2,          /**< an outgoing message changed status */
    SECMSG_EVENT_CONTACT_ADDED = 3,    /**< a new contact (peer) */
    SECMSG_EVENT_CONTACT_VERIFIED = 4, /**< a contact's keys were confirmed (peer) */
    SECMSG_EVENT_ERROR = 5             /**< something failed (code, peer if known) */
} secmsg_event_type;

typedef struct secmsg_event {
    int32_t type;                               /**< secmsg_event_type */
    int32_t code;                               /**< for ERROR: a secmsg_error */
    char peer[SECMSG_USER_ID_BYTES];            /**< "" if none */
    uint8_t message_id[SECMSG_MESSAGE_ID_BYTES];/**< zeros if none */
    uint64_t at;                                /**< unix ms when it was queued */
} secmsg_event;

/**
 * Takes the oldest event off the persistent queue into *out (type NONE and
 * SECMSG_OK when the queue is empty). Events survive restarts until taken.
 */
SECMSG_API int secmsg_client_next_event(secmsg_client *c, secmsg_event *out);

/* ---- Helpers for apps ---------------------------------------------------- */

/** Lowercase hex of n bytes into out (cap >= 2n+1). */
SECMSG_API int secmsg_hex(char *out, size_t cap, const uint8_t *in, size_t n);

#ifdef __cplusplus
}
#endif
#endif
