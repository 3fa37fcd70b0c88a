/*
 * secmsg/session.h - pairwise sessions: X3DH set-up and the Double Ratchet
 * with header encryption.
 *
 * Flow: Alice fetches Bob's bundle and calls secmsg_session_initiate(). Her
 * messages are "initial" (prekey) messages until she has decrypted one from
 * Bob. Bob passes the first one he receives to secmsg_session_accept(), which
 * creates his session and returns its plaintext; later ones (initial or not)
 * go to secmsg_session_decrypt() on that session. Use secmsg_message_info()
 * to route an incoming message.
 *
 * Atomicity: encrypt and decrypt either succeed completely or leave the
 * session exactly as it was (no partial state, no lost keys). A message that
 * fails to decrypt can be retried after others arrive.
 *
 * Ownership: secmsg_session is opaque, freed with secmsg_session_free(); its
 * keys are in sodium_malloc'd memory and wiped. Output buffers are the
 * caller's; size them with secmsg_session_ciphertext_len() or, for plaintext,
 * the ciphertext's length (plaintext is always shorter).
 */
#ifndef SECMSG_SESSION_H
#define SECMSG_SESSION_H

#include "common.h"
#include "identity.h"
#include "prekey.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct secmsg_session secmsg_session;

/** Largest plaintext one message can carry (2 MiB). */
#define SECMSG_MAX_PLAINTEXT ((size_t)2U * 1024U * 1024U)
/** Most message keys skipped within one chain before a message is refused. */
#define SECMSG_MAX_SKIP 1000U
/** Most skipped message keys a session keeps in all; oldest are evicted. */
#define SECMSG_MAX_SKIPPED_TOTAL 2000U
/**
 * Most chains whose skipped keys are kept; when a 33rd chain leaves keys
 * behind, all keys of the oldest such chain are evicted. Bounds the header
 * trial decryptions per incoming message.
 */
#define SECMSG_MAX_SKIPPED_CHAINS 32U

SECMSG_API size_t secmsg_max_plaintext(void);

/** What secmsg_message_info() reports. */
typedef enum secmsg_message_type {
    SECMSG_MESSAGE_RATCHET = 1, /**< an ordinary message in an existing session */
    SECMSG_MESSAGE_INITIAL = 2  /**< a prekey message that can start a session */
} secmsg_message_type;

/**
 * Parses a message's outer layer without decrypting anything. *type gets its
 * type; for an initial message, if sender_identity is not NULL, the sender's
 * identity public is written there (capacity cap, at least
 * SECMSG_IDENTITY_PUBLIC_BYTES) and its length to *sender_len.
 * Errors: INVALID_ARG, MALFORMED, VERSION, BUFFER_TOO_SMALL.
 */
SECMSG_API int secmsg_message_info(const uint8_t *msg, size_t msg_len, int *type,
                                   uint8_t *sender_identity, size_t cap, size_t *sender_len);

/**
 * Starts a session as the initiator from a peer's bundle: verifies the
 * bundle's identity binding and signed-prekey signature, runs X3DH and
 * initialises the ratchet. No network traffic; the first encrypt produces an
 * initial message.
 * Errors: INVALID_ARG, MALFORMED, VERSION, SIGNATURE, CRYPTO, NOMEM.
 */
SECMSG_API int secmsg_session_initiate(secmsg_session **out, const secmsg_identity *self,
                                       const uint8_t *bundle, size_t bundle_len);

/**
 * Creates the responder's session from an initial message and decrypts it.
 * On success the one-time prekey it used (if any) is removed from `prekeys`
 * (persist the prekeys afterwards), *out is the new session and the
 * plaintext is in pt[0..*pt_len). On any failure nothing changes: no session,
 * no prekey consumed, *pt_len = 0.
 * Errors: INVALID_ARG, MALFORMED, VERSION, SIGNATURE, UNKNOWN_PREKEY,
 * DECRYPT, TOO_FAR, CRYPTO, NOMEM, BUFFER_TOO_SMALL (pt_cap >= msg_len is
 * always enough; *pt_len = size needed).
 */
SECMSG_API int secmsg_session_accept(secmsg_session **out, const secmsg_identity *self,
                                     secmsg_prekeys *prekeys, const uint8_t *msg,
                                     size_t msg_len, uint8_t *pt, size_t pt_cap,
                                     size_t *pt_len);

/** Frees a session and wipes its keys. NULL is allowed. */
SECMSG_API void secmsg_session_free(secmsg_session *s);

/**
 * Exact size of the message secmsg_session_encrypt() would produce for a
 * plaintext of pt_len bytes right now. 0 if s is NULL or pt_len is too large.
 */
SECMSG_API size_t secmsg_session_ciphertext_len(const secmsg_session *s, size_t pt_len);

/**
 * Encrypts pt (pt_len may be 0) into out; pt and out must not overlap.
 * Advances the sending chain only on success. Errors: INVALID_ARG (NULL, or
 * pt_len > SECMSG_MAX_PLAINTEXT), STATE (the session cannot send: no sending
 * chain yet, which the accept flow never produces, or 2^32-1 messages sent
 * in one chain), BUFFER_TOO_SMALL (then *out_len = size needed).
 */
SECMSG_API int secmsg_session_encrypt(secmsg_session *s, uint8_t *out, size_t out_cap,
                                      size_t *out_len, const uint8_t *pt, size_t pt_len);

/**
 * Decrypts a message of this session (initial or ratchet) into pt.
 * pt_cap >= msg_len always suffices.
 * Errors, all with the session unchanged:
 *   MALFORMED  - bytes do not parse / violate limits (truncated, bad lengths)
 *   VERSION    - a protocol version we do not speak
 *   DECRYPT    - header or body fails authentication (tampered, other session)
 *   DUPLICATE  - the message was already decrypted (replay), or its key
 *                was evicted from the skipped-key store (see the limits)
 *   TOO_FAR    - more than SECMSG_MAX_SKIP messages skipped in one chain
 *   CRYPTO     - the peer's new ratchet key is invalid (low-order point)
 *   BUFFER_TOO_SMALL, INVALID_ARG, NOMEM
 * A replay of a message from a chain of which no keys are kept any more
 * cannot be told apart from a forgery and gives DECRYPT.
 */
SECMSG_API int secmsg_session_decrypt(secmsg_session *s, uint8_t *pt, size_t pt_cap,
                                      size_t *pt_len, const uint8_t *msg, size_t msg_len);

/**
 * Serializes the whole session state (secret) for the caller's encrypted
 * store; BUFFER_TOO_SMALL sets *out_len. secmsg_session_serialized_len()
 * gives the exact size (0 for NULL).
 */
SECMSG_API size_t secmsg_session_serialized_len(const secmsg_session *s);
SECMSG_API int secmsg_session_serialize(const secmsg_session *s, uint8_t *out, size_t out_cap,
                                        size_t *out_len);

/** Restores a session. Errors: INVALID_ARG, MALFORMED, VERSION, NOMEM. */
SECMSG_API int secmsg_session_deserialize(secmsg_session **out, const uint8_t *in,
                                          size_t in_len);

/**
 * Writes the peer's identity public (capacity cap, at least
 * SECMSG_IDENTITY_PUBLIC_BYTES) to out and its length to *out_len.
 */
SECMSG_API int secmsg_session_remote_identity(const secmsg_session *s, uint8_t *out,
                                              size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
