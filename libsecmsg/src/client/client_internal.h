/*
 * Internal: the client object shared by the client_*.c files (layer 8).
 * spec/client.md describes the flows; this header only what the files share.
 */
#ifndef SECMSG_CLIENT_INTERNAL_H
#define SECMSG_CLIENT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "client/relay_client.h"
#include "secmsg/client.h"
#include "secmsg/identity.h"
#include "secmsg/prekey.h"
#include "secmsg/session.h"
#include "store/client_store.h"

/* Names of the settings rows (client_store.h). */
#define SETTING_IDENTITY "identity"         /* serialized identity private */
#define SETTING_PREKEYS "prekeys"           /* serialized prekey set */
#define SETTING_ROLE "role"                 /* 1 byte */
#define SETTING_USER_ID "user_id"
#define SETTING_RELAY_URL "relay_url"
#define SETTING_ROOT_FP "root_fp"           /* 32: pinned municipality root fingerprint */
#define SETTING_OWN_CERT "own_cert"         /* caseworker: its root certificate */
#define SETTING_OTK_UPLOADED "otk_uploaded" /* le32: highest one-time prekey id the relay has */
#define SETTING_SPK_UPLOADED "spk_uploaded" /* le32: signed prekey id the relay has */

/* One-time prekeys made per batch, and the local ceiling (prekey.h). */
#define CLIENT_OTK_BATCH 100U

struct secmsg_client {
    secmsg__store *st;
    secmsg_identity *id;
    secmsg_prekeys *pk;
    uint8_t idpub[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t idpub_len;
    uint8_t device_id[SECMSG_DEVICE_ID_BYTES];
    int role;
    char user_id[SECMSG_USER_ID_BYTES];
    char relay_url[256];
    secmsg__relay_client rc;
    int rc_ready;
    secmsg_transport_fn tfn; /* NULL: libcurl */
    void *tctx;
    char err[256];
};

/* client.c */
int secmsg__client_fail(secmsg_client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int secmsg__client_relay(secmsg_client *c);           /* connects rc to relay_url */
int secmsg__client_relay_fail(secmsg_client *c, int rc, const char *what);
int secmsg__client_save_prekeys(secmsg_client *c);    /* inside the caller's transaction */
int secmsg__client_setting_u32(secmsg_client *c, const char *name, uint32_t *v);
int secmsg__client_put_u32(secmsg_client *c, const char *name, uint32_t v);
uint64_t secmsg__now_ms(void);
int secmsg__client_enrolled(secmsg_client *c);
/* The device id (Ed25519 key) of a serialized, verified identity public. */
int secmsg__client_device_of(uint8_t device_id[SECMSG_DEVICE_ID_BYTES], const uint8_t *idpub,
                             size_t len);

/* client_enroll.c */
int secmsg__client_upload_prekeys(secmsg_client *c, int force_new_batch);

/* client_sync.c */
int secmsg__client_queue(secmsg_client *c, const secmsg__contact_row *to, const uint8_t *session,
                         size_t session_len, uint32_t kind, const uint8_t *text, size_t text_len,
                         const uint8_t *secret, const uint8_t *cert, size_t cert_len,
                         uint8_t id_out[SECMSG_MESSAGE_ID_BYTES]);
int secmsg__client_flush(secmsg_client *c, const uint8_t *want, int *want_sent);

#endif
