/*
 * Internal: HPKE (RFC 9180) for exactly one cipher suite,
 *   KEM  DHKEM(X25519, HKDF-SHA256)  0x0020
 *   KDF  HKDF-SHA256                 0x0001
 *   AEAD ChaCha20-Poly1305           0x0003
 * in all four modes (base, psk, auth, auth_psk). Not public API.
 *
 * Conventions (libsodium's): outputs first, then inputs, then keys; stateful
 * calls take the context first. Every fallible function returns SECMSG_OK (0)
 * or a negative SECMSG_E_* code from secmsg/common.h:
 *   SECMSG_E_INVALID_ARG  NULL where a pointer is required, a length out of
 *                         range, an unknown mode, or key inputs that do not fit
 *                         the mode (see "Mode rules" below);
 *   SECMSG_E_CRYPTO       a peer public key (pk_r, enc, pk_s) is a low-order
 *                         X25519 point, so the Diffie-Hellman output is zero;
 *   SECMSG_E_DECRYPT      an open failed authentication (tampered or truncated
 *                         ciphertext, wrong aad, wrong key or wrong info/psk);
 *   SECMSG_E_STATE        a context is used for the wrong role, was wiped or
 *                         never set up, or its sequence number is exhausted.
 * A failed call writes no partial output: secret outputs are zeroed, a failed
 * setup leaves the context wiped, and a failed seal or open leaves the context
 * (in particular its sequence number) unchanged.
 *
 * Mode rules (RFC 9180, 5.1, VerifyPSKInputs, plus 9.5 on PSK entropy):
 *   base      psk == NULL,  no sender key;
 *   psk       psk != NULL,  no sender key;
 *   auth      psk == NULL,  sender key required;
 *   auth_psk  psk != NULL,  sender key required.
 * A psk struct must carry both a PSK of SECMSG__HPKE_PSK_MINBYTES or more and a
 * non-empty psk_id; one without the other is rejected.
 *
 * Buffers: pointers documented with a size must point to at least that many
 * bytes. A pointer with a length may be NULL only when the length is 0.
 * pt and ct may be the same buffer (exact overlap); no other overlap between
 * an output and an input is allowed.
 *
 * Thread-safety: no global state; a context must not be used by two threads
 * at once. All functions need libsodium initialised (secmsg_init()).
 */
#ifndef SECMSG_CRYPTO_HPKE_H
#define SECMSG_CRYPTO_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "secmsg/common.h"

/** Algorithm identifiers of the one suite (RFC 9180, section 7). */
#define SECMSG__HPKE_KEM_ID 0x0020U
#define SECMSG__HPKE_KDF_ID 0x0001U
#define SECMSG__HPKE_AEAD_ID 0x0003U

/** Npk, Nsk: X25519 public and secret key sizes. */
#define SECMSG__HPKE_PUBLICKEYBYTES 32U
#define SECMSG__HPKE_SECRETKEYBYTES 32U
/** Nenc: the encapsulated key (the sender's ephemeral public key). */
#define SECMSG__HPKE_ENCBYTES 32U
/** Nsecret: the KEM shared secret. */
#define SECMSG__HPKE_SHAREDSECRETBYTES 32U
/** Nh: the key schedule secret and the exporter secret. */
#define SECMSG__HPKE_SECRETBYTES 32U
/** Nk, Nn, Nt: AEAD key, nonce and tag sizes. */
#define SECMSG__HPKE_KEYBYTES 32U
#define SECMSG__HPKE_NONCEBYTES 12U
#define SECMSG__HPKE_ABYTES 16U
/** key_schedule_context = mode || psk_id_hash || info_hash. */
#define SECMSG__HPKE_KS_CONTEXTBYTES (1U + 2U * SECMSG__HPKE_SECRETBYTES)

/** DeriveKeyPair and a fixed ephemeral take at least Nsk bytes of ikm. */
#define SECMSG__HPKE_IKM_MINBYTES 32U
/** A PSK must carry at least 32 bytes of entropy (RFC 9180, 9.5). */
#define SECMSG__HPKE_PSK_MINBYTES 32U
/** Upper bound on ikm, info, psk and psk_id lengths. */
#define SECMSG__HPKE_INPUT_MAXBYTES 65536U
/** Upper bound on an exporter_context length. */
#define SECMSG__HPKE_EXPORTER_CONTEXT_MAXBYTES 1024U
/** Upper bound on an export length L: 255 * Nh (RFC 9180, 5.3). */
#define SECMSG__HPKE_EXPORT_MAXBYTES (255U * SECMSG__HPKE_SECRETBYTES)

/** HPKE modes; the values are the RFC's mode octets. */
typedef enum secmsg__hpke_mode {
    SECMSG__HPKE_MODE_BASE = 0x00,
    SECMSG__HPKE_MODE_PSK = 0x01,
    SECMSG__HPKE_MODE_AUTH = 0x02,
    SECMSG__HPKE_MODE_AUTH_PSK = 0x03
} secmsg__hpke_mode;

/** What a context may do. NONE (0) is a wiped or never set up context. */
typedef enum secmsg__hpke_role {
    SECMSG__HPKE_ROLE_NONE = 0,
    SECMSG__HPKE_ROLE_SENDER = 1,
    SECMSG__HPKE_ROLE_RECEIVER = 2
} secmsg__hpke_role;

/** A pre-shared key and its identifier; both are required when used. */
typedef struct secmsg__hpke_psk {
    const uint8_t *psk;
    size_t psk_len;
    const uint8_t *psk_id;
    size_t psk_id_len;
} secmsg__hpke_psk;

/**
 * An encryption context (RFC 9180, 5.2). Fields are visible for tests only;
 * everyone else goes through the functions below. Holds key material: end
 * every context's life with secmsg__hpke_ctx_wipe(), and place it in
 * sodium_malloc'ed memory if it lives long.
 * Invariant: role != NONE implies key, base_nonce and exporter_secret came
 * from one key schedule, and seq counts the messages sealed or opened so far.
 */
typedef struct secmsg__hpke_ctx {
    uint8_t key[SECMSG__HPKE_KEYBYTES];
    uint8_t base_nonce[SECMSG__HPKE_NONCEBYTES];
    uint8_t exporter_secret[SECMSG__HPKE_SECRETBYTES];
    uint64_t seq;
    secmsg__hpke_role role;
} secmsg__hpke_ctx;

/* ------------------------------------------------------------------------
 * KEM: DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1
 * ------------------------------------------------------------------------ */

/**
 * DeriveKeyPair(ikm) (RFC 9180, 7.1.3): a deterministic key pair from input
 * keying material.
 *   pk       out, SECMSG__HPKE_PUBLICKEYBYTES
 *   sk       out, SECMSG__HPKE_SECRETKEYBYTES (unclamped, as in the RFC)
 *   ikm      SECMSG__HPKE_IKM_MINBYTES .. SECMSG__HPKE_INPUT_MAXBYTES bytes
 * Errors: SECMSG_E_INVALID_ARG (NULL, ikm length out of range),
 *         SECMSG_E_CRYPTO. On error pk and sk are zeroed.
 */
int secmsg__hpke_derive_keypair(uint8_t *pk, uint8_t *sk, const uint8_t *ikm, size_t ikm_len);

/**
 * Encap(pkR) when sk_s is NULL, AuthEncap(pkR, skS) otherwise.
 *   shared_secret  out, SECMSG__HPKE_SHAREDSECRETBYTES
 *   enc            out, SECMSG__HPKE_ENCBYTES
 *   pk_r           recipient public key, SECMSG__HPKE_PUBLICKEYBYTES
 *   sk_s           sender secret key (SECMSG__HPKE_SECRETKEYBYTES) or NULL;
 *                  the sender public key is derived from it
 *   ikm_e/_len     NULL/0: fresh random ephemeral key; otherwise the ephemeral
 *                  key is DeriveKeyPair(ikm_e), for known-answer tests only
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_CRYPTO (pk_r is low-order).
 * On error shared_secret and enc are zeroed.
 */
int secmsg__hpke_encap(uint8_t *shared_secret, uint8_t *enc, const uint8_t *pk_r,
                       const uint8_t *sk_s, const uint8_t *ikm_e, size_t ikm_e_len);

/**
 * Decap(enc, skR) when pk_s is NULL, AuthDecap(enc, skR, pkS) otherwise.
 *   shared_secret  out, SECMSG__HPKE_SHAREDSECRETBYTES
 *   enc            SECMSG__HPKE_ENCBYTES
 *   sk_r           recipient secret key; its public key is derived from it
 *   pk_s           sender public key or NULL
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_CRYPTO (enc or pk_s is low-order).
 * On error shared_secret is zeroed.
 */
int secmsg__hpke_decap(uint8_t *shared_secret, const uint8_t *enc, const uint8_t *sk_r,
                       const uint8_t *pk_s);

/* ------------------------------------------------------------------------
 * Key schedule, RFC 9180 section 5.1
 * ------------------------------------------------------------------------ */

/**
 * KeySchedule(mode, shared_secret, info, psk, psk_id): fills ctx for role
 * with seq = 0, after checking the mode rules.
 *   ctx            out
 *   ks_context     out or NULL, SECMSG__HPKE_KS_CONTEXTBYTES; for tests
 *   secret         out or NULL, SECMSG__HPKE_SECRETBYTES; for tests only, as
 *                  it is the root of every key in ctx
 *   role           SENDER or RECEIVER
 *   mode           one of secmsg__hpke_mode
 *   info/_len      application info, at most SECMSG__HPKE_INPUT_MAXBYTES
 *   shared_secret  the KEM's, SECMSG__HPKE_SHAREDSECRETBYTES
 *   psk            NULL, or PSK and id as the mode rules demand
 * Errors: SECMSG_E_INVALID_ARG. On error ctx is wiped and the optional
 * outputs zeroed.
 */
int secmsg__hpke_key_schedule(secmsg__hpke_ctx *ctx, uint8_t *ks_context, uint8_t *secret,
                              secmsg__hpke_role role, secmsg__hpke_mode mode,
                              const uint8_t *info, size_t info_len,
                              const uint8_t *shared_secret, const secmsg__hpke_psk *psk);

/* ------------------------------------------------------------------------
 * Setup, RFC 9180 section 5.1.1-5.1.4 (all four modes)
 * ------------------------------------------------------------------------ */

/**
 * SetupBaseS / SetupPSKS / SetupAuthS / SetupAuthPSKS, chosen by mode.
 *   ctx        out: a sender context
 *   enc        out, SECMSG__HPKE_ENCBYTES: send this to the recipient
 *   mode       one of secmsg__hpke_mode
 *   info/_len  application info, at most SECMSG__HPKE_INPUT_MAXBYTES
 *   pk_r       recipient public key
 *   sk_s       sender secret key: required in auth modes, NULL otherwise
 *   psk        required in psk modes, NULL otherwise
 *   ikm_e/_len NULL/0 for a random ephemeral key; a fixed ikm is for
 *              known-answer tests only (reusing one breaks confidentiality)
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_CRYPTO (pk_r is low-order).
 * On error ctx is wiped and enc zeroed.
 */
int secmsg__hpke_setup_s(secmsg__hpke_ctx *ctx, uint8_t *enc, secmsg__hpke_mode mode,
                         const uint8_t *info, size_t info_len, const uint8_t *pk_r,
                         const uint8_t *sk_s, const secmsg__hpke_psk *psk,
                         const uint8_t *ikm_e, size_t ikm_e_len);

/**
 * SetupBaseR / SetupPSKR / SetupAuthR / SetupAuthPSKR, chosen by mode.
 *   ctx        out: a receiver context
 *   mode, info as for secmsg__hpke_setup_s
 *   enc        the sender's, SECMSG__HPKE_ENCBYTES
 *   sk_r       recipient secret key
 *   pk_s       sender public key: required in auth modes, NULL otherwise
 *   psk        required in psk modes, NULL otherwise
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_CRYPTO (enc or pk_s is low-order).
 * A wrong key or psk is not detected here; the first open fails instead.
 * On error ctx is wiped.
 */
int secmsg__hpke_setup_r(secmsg__hpke_ctx *ctx, secmsg__hpke_mode mode, const uint8_t *enc,
                         const uint8_t *info, size_t info_len, const uint8_t *sk_r,
                         const uint8_t *pk_s, const secmsg__hpke_psk *psk);

/* ------------------------------------------------------------------------
 * Context use, RFC 9180 section 5.2 and 5.3
 * ------------------------------------------------------------------------ */

/**
 * ComputeNonce(seq): nonce = base_nonce XOR I2OSP(seq, Nn). Cannot fail.
 *   nonce       out, SECMSG__HPKE_NONCEBYTES
 *   base_nonce  SECMSG__HPKE_NONCEBYTES
 */
void secmsg__hpke_compute_nonce(uint8_t *nonce, const uint8_t *base_nonce, uint64_t seq);

/**
 * ContextS.Seal(aad, pt): encrypts with the nonce for ctx->seq, then
 * increments seq.
 *   ctx        a sender context
 *   ct         out, pt_len + SECMSG__HPKE_ABYTES bytes; may equal pt
 *   pt/_len    plaintext, at most the AEAD's message limit
 *   aad/_len   associated data
 * Errors: SECMSG_E_INVALID_ARG; SECMSG_E_STATE if ctx is not a sender context
 * or seq has reached UINT64_MAX (no nonce is ever used twice; seal a new
 * context instead). On error ct is untouched and seq unchanged.
 */
int secmsg__hpke_ctx_seal(secmsg__hpke_ctx *ctx, uint8_t *ct, const uint8_t *pt, size_t pt_len,
                          const uint8_t *aad, size_t aad_len);

/**
 * ContextR.Open(aad, ct): verifies the tag (constant time) for the nonce of
 * ctx->seq before writing any plaintext, then increments seq.
 *   ctx        a receiver context
 *   pt         out, ct_len - SECMSG__HPKE_ABYTES bytes (NULL allowed when
 *              that is 0); may equal ct
 *   ct/_len    ciphertext with tag, at least SECMSG__HPKE_ABYTES bytes
 *   aad/_len   associated data
 * Errors: SECMSG_E_INVALID_ARG; SECMSG_E_DECRYPT (ct shorter than a tag or
 * not authentic); SECMSG_E_STATE as for seal. On error seq is unchanged, so
 * the next authentic message still opens, and pt is zeroed (unless pt is
 * NULL, which is itself an error when ct_len > SECMSG__HPKE_ABYTES).
 */
int secmsg__hpke_ctx_open(secmsg__hpke_ctx *ctx, uint8_t *pt, const uint8_t *ct, size_t ct_len,
                          const uint8_t *aad, size_t aad_len);

/**
 * Context.Export(exporter_context, L): a secret derived from the context,
 * the same on both sides. Does not touch seq.
 *   ctx                   a sender or receiver context
 *   out/out_len           out, L = out_len in 1 .. SECMSG__HPKE_EXPORT_MAXBYTES
 *   exporter_context/_len at most SECMSG__HPKE_EXPORTER_CONTEXT_MAXBYTES
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_STATE (wiped context). On error out
 * is zeroed when out_len is in range and untouched otherwise.
 */
int secmsg__hpke_ctx_export(const secmsg__hpke_ctx *ctx, uint8_t *out, size_t out_len,
                            const uint8_t *exporter_context, size_t exporter_context_len);

/** Zeroes every byte of ctx (role becomes NONE). NULL-safe. */
void secmsg__hpke_ctx_wipe(secmsg__hpke_ctx *ctx);

/* ------------------------------------------------------------------------
 * Single-shot, RFC 9180 section 6.1: setup, one message, wipe
 * ------------------------------------------------------------------------ */

/**
 * Seal<MODE>(pkR, info, aad, pt, ...) with a random ephemeral key.
 *   enc        out, SECMSG__HPKE_ENCBYTES
 *   ct         out, pt_len + SECMSG__HPKE_ABYTES; may equal pt
 *   the rest   as for secmsg__hpke_setup_s and secmsg__hpke_ctx_seal
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_CRYPTO. On error enc is zeroed and
 * ct untouched.
 */
int secmsg__hpke_seal(uint8_t *enc, uint8_t *ct, const uint8_t *pt, size_t pt_len,
                      const uint8_t *aad, size_t aad_len, secmsg__hpke_mode mode,
                      const uint8_t *info, size_t info_len, const uint8_t *pk_r,
                      const uint8_t *sk_s, const secmsg__hpke_psk *psk);

/**
 * Open<MODE>(enc, skR, info, aad, ct, ...).
 *   pt         out, ct_len - SECMSG__HPKE_ABYTES; may equal ct
 *   the rest   as for secmsg__hpke_setup_r and secmsg__hpke_ctx_open
 * Errors: SECMSG_E_INVALID_ARG, SECMSG_E_CRYPTO (low-order enc or pk_s),
 * SECMSG_E_DECRYPT (also for ct shorter than a tag, checked before any key
 * agreement). On error pt is zeroed, as for secmsg__hpke_ctx_open.
 */
int secmsg__hpke_open(uint8_t *pt, const uint8_t *enc, const uint8_t *ct, size_t ct_len,
                      const uint8_t *aad, size_t aad_len, secmsg__hpke_mode mode,
                      const uint8_t *info, size_t info_len, const uint8_t *sk_r,
                      const uint8_t *pk_s, const secmsg__hpke_psk *psk);

#endif
