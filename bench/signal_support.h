/*
 * signal_support.h - what libsignal-protocol-c needs from its user: a crypto
 * provider (signal_provider.c, over OpenSSL 3) and in-memory stores
 * (signal_store.c). Used only by impl_signal.c.
 */
#ifndef SECMSG_BENCH_SIGNAL_SUPPORT_H
#define SECMSG_BENCH_SIGNAL_SUPPORT_H

#include <stdint.h>

#include <signal_protocol.h>

/*
 * Installs the OpenSSL-backed crypto provider on `ctx`. The provider's
 * OpenSSL objects are fetched once and shared by every context; they live
 * until sig_provider_release(). Returns 0 or a negative SG_ERR_* value.
 */
int sig_provider_install(signal_context *ctx);
void sig_provider_release(void);

/*
 * In-memory session, pre-key, signed pre-key and identity stores of one
 * party. Records are kept serialized, as a persistent store would keep them,
 * so libsignal does its usual load/deserialize/serialize/store per message.
 */
typedef struct sig_store sig_store;

sig_store *sig_store_new(void);
void sig_store_free(sig_store *s);
/* Points all four stores of `ctx` at `s`; `s` must outlive `ctx`. */
int sig_store_attach(sig_store *s, signal_protocol_store_context *ctx);
/* Sets the local identity key pair and registration id. */
int sig_store_set_identity(sig_store *s, const ratchet_identity_key_pair *kp, uint32_t reg_id);
/* Forgets every session (not identities or prekeys). */
void sig_store_clear_sessions(sig_store *s);

#endif
