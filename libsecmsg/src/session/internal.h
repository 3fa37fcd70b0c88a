/*
 * Internal: shared definitions of the session layer (identity, prekeys,
 * X3DH, Double Ratchet with header encryption).
 */
#ifndef SECMSG_SESSION_INTERNAL_H
#define SECMSG_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secmsg/session.h"
#include "wire/codec.h"


/* The codec's copies of the public limits (it does not include the public headers). */
_Static_assert(SECMSG__MAX_PLAINTEXT == SECMSG_MAX_PLAINTEXT, "plaintext limit");
_Static_assert(SECMSG__MAX_ONE_TIME_PREKEYS == SECMSG_MAX_ONE_TIME_PREKEYS, "prekey limit");
_Static_assert(SECMSG__MAX_SKIPPED_TOTAL == SECMSG_MAX_SKIPPED_TOTAL, "skipped-key cap");
_Static_assert(SECMSG__MAX_SKIPPED_CHAINS == SECMSG_MAX_SKIPPED_CHAINS, "skipped-chain cap");
_Static_assert(SECMSG__MAX_BUNDLE_BYTES == SECMSG_PREKEY_BUNDLE_MAX_BYTES, "bundle limit");

/* The public half of an identity, fixed-size. */
typedef struct secmsg__idpub {
    uint8_t sign_pub[SECMSG__KEY_BYTES];
    uint8_t dh_pub[SECMSG__KEY_BYTES];
    uint8_t dh_sig[SECMSG__SIG_BYTES];
} secmsg__idpub;

struct secmsg_identity {
    uint8_t sign_sk[64]; /* libsodium layout: seed || public */
    uint8_t dh_sk[SECMSG__KEY_BYTES];
    secmsg__idpub pub;
};

typedef struct secmsg__prekey {
    uint32_t id;
    uint8_t priv[SECMSG__KEY_BYTES];
    uint8_t pub[SECMSG__KEY_BYTES];
} secmsg__prekey;

struct secmsg_prekeys {
    uint8_t owner_sign_pub[SECMSG__KEY_BYTES];
    secmsg__prekey spk;
    uint8_t spk_sig[SECMSG__SIG_BYTES];
    secmsg__prekey prev_spk; /* id 0: none */
    uint32_t next_otk_id;
    uint32_t n_otk;
    secmsg__prekey otk[SECMSG_MAX_ONE_TIME_PREKEYS]; /* ascending ids */
};

/* The fixed-size part of the ratchet; copied whole for all-or-nothing updates. */
typedef struct secmsg__ratchet {
    uint8_t rk[SECMSG__KEY_BYTES];
    uint8_t dhs_sk[SECMSG__KEY_BYTES];
    uint8_t dhs_pk[SECMSG__KEY_BYTES];
    uint8_t dhr[SECMSG__KEY_BYTES];
    uint8_t cks[SECMSG__KEY_BYTES];
    uint8_t ckr[SECMSG__KEY_BYTES];
    uint8_t hks[SECMSG__KEY_BYTES];
    uint8_t hkr[SECMSG__KEY_BYTES];
    uint8_t nhks[SECMSG__KEY_BYTES];
    uint8_t nhkr[SECMSG__KEY_BYTES];
    uint32_t ns, nr, pn;
    bool has_dhr, has_cks, has_ckr, has_hks, has_hkr;
} secmsg__ratchet;

/*
 * A skipped message key. Keys of one chain are always contiguous in the
 * store (a chain only gains skipped keys while it is the current receiving
 * chain or as it is closed), so "runs" of equal hk are chains.
 */
typedef struct secmsg__skipped {
    uint8_t hk[SECMSG__KEY_BYTES];
    uint32_t n;
    uint8_t mk[SECMSG__MK_BYTES];
} secmsg__skipped;

/* X3DH data an initiator repeats in every message until the first reply. */
typedef struct secmsg__pending {
    secmsg__idpub self;
    uint8_t ephemeral[SECMSG__KEY_BYTES];
    uint32_t spk_id;
    uint32_t otk_id; /* 0: none */
} secmsg__pending;

struct secmsg_session {
    secmsg__ratchet r;
    bool initiator;
    bool has_pending;
    uint8_t ad[2 * SECMSG__KEY_BYTES]; /* IKs(initiator) || IKs(responder) */
    uint8_t local_sign_pub[SECMSG__KEY_BYTES];
    secmsg__idpub remote;
    secmsg__pending pending;
    /* Skipped message keys, oldest first; SECMSG_MAX_SKIPPED_TOTAL slots
     * allocated on first use. */
    uint32_t n_skipped;
    secmsg__skipped *skipped;
};

/* identity.c */
int secmsg__idpub_from_wire(secmsg__idpub *out, const Secmsg__Wire__IdentityPublic *m);
void secmsg__idpub_to_wire(Secmsg__Wire__IdentityPublic *m, const secmsg__idpub *p);
int secmsg__idpub_verify(const secmsg__idpub *p);
int secmsg__idpub_encode(const secmsg__idpub *p, uint8_t *out, size_t cap, size_t *out_len);
/* Ed25519 signature of msg by the identity's signing key. INVALID_ARG, CRYPTO. */
int secmsg__identity_sign(const secmsg_identity *id, uint8_t sig[SECMSG__SIG_BYTES],
                          const uint8_t *msg, size_t len);

/* prekey.c */
const secmsg__prekey *secmsg__prekeys_find_signed(const secmsg_prekeys *pk, uint32_t id);
const secmsg__prekey *secmsg__prekeys_find_one_time(const secmsg_prekeys *pk, uint32_t id);
void secmsg__prekeys_consume(secmsg_prekeys *pk, uint32_t otk_id);
void secmsg__dh_keypair(uint8_t sk[SECMSG__KEY_BYTES], uint8_t pk[SECMSG__KEY_BYTES]);
int secmsg__spk_sign(uint8_t sig[SECMSG__SIG_BYTES], const secmsg_identity *id, uint32_t spk_id,
                     const uint8_t spk_pub[SECMSG__KEY_BYTES]);
int secmsg__spk_verify(const uint8_t sig[SECMSG__SIG_BYTES], const uint8_t sign_pub[32],
                       uint32_t spk_id, const uint8_t spk_pub[SECMSG__KEY_BYTES]);

/* session.c */
typedef struct secmsg__x3dh_out {
    uint8_t sk[SECMSG__KEY_BYTES];
    uint8_t hka[SECMSG__KEY_BYTES];  /* initiator's first sending header key */
    uint8_t nhkb[SECMSG__KEY_BYTES]; /* responder's first next-sending header key */
} secmsg__x3dh_out;
/**
 * SK || HKa || NHKb = HKDF(salt = 0^32, ikm = 0xFF^32 || DH1 || .. || DHn,
 * info = "secmsg v1 x3dh"), DHi = X25519(priv[i], pub[i]), n = 3 or 4.
 * CRYPTO if any DH output is all zero.
 */
int secmsg__x3dh(secmsg__x3dh_out *o, const uint8_t *const priv[4], const uint8_t *const pub[4],
                 unsigned n);

/* ratchet.c */
/** Root KDF: (rk, ck, nhk) = HKDF(salt = rk, ikm = DH(sk, pk)). CRYPTO on a bad point. */
int secmsg__kdf_rk(uint8_t rk[SECMSG__KEY_BYTES], uint8_t ck[SECMSG__KEY_BYTES],
                   uint8_t nhk[SECMSG__KEY_BYTES], const uint8_t sk[SECMSG__KEY_BYTES],
                   const uint8_t pk[SECMSG__KEY_BYTES]);
size_t secmsg__ratchet_ciphertext_len(const secmsg_session *s, size_t pt_len);
int secmsg__ratchet_encrypt(secmsg_session *s, uint8_t *out, size_t cap, size_t *out_len,
                            const uint8_t *pt, size_t pt_len);
/** Decrypts a parsed message; all-or-nothing on s. */
int secmsg__ratchet_decrypt(secmsg_session *s, uint8_t *pt, size_t cap, size_t *pt_len,
                            const Secmsg__Wire__Message *m);
/** Allocates the skipped-key array if needed. NOMEM on failure. */
int secmsg__skipped_reserve(secmsg_session *s);

#endif
