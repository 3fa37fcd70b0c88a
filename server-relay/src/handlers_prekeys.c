/* PUT and GET /v1/prekeys, POST /v1/prekeys/claim. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "secmsg/common.h"

#define SPK_MAX 256U

void relayd_prekey_status_of(relayd_request *rq, uint32_t n, Secmsg__Relay__PrekeyStatus *st)
{
    secmsg__relay__prekey_status__init(st);
    st->has_one_time_prekeys = 1;
    st->one_time_prekeys = n;
    st->has_low = 1;
    st->low = n < rq->srv->cfg->prekeys_low;
}

int relayd_prekey_status(relayd_request *rq, Secmsg__Relay__PrekeyStatus *st)
{
    uint32_t n = 0;
    int rc = relay_store_prekeys_count(rq->srv->store, rq->dev.id, &n);
    if (rc != RELAY_OK)
        return rc;
    relayd_prekey_status_of(rq, n, st);
    return RELAY_OK;
}

static enum MHD_Result respond_status(struct MHD_Connection *conn, relayd_request *rq)
{
    Secmsg__Relay__PrekeyStatus st;
    int rc = relayd_prekey_status(rq, &st);
    if (rc != RELAY_OK)
        return relayd_respond_store_error(conn, rq, rc);
    return relayd_respond_pb(conn, rq, &st.base);
}

/* See refuse_send() in handlers_messages.c. */
static enum MHD_Result refuse_upload(struct MHD_Connection *conn, relayd_request *rq)
{
    secmsg__relay_limits relaxed = rq->srv->codec_limits;
    Secmsg__Relay__PrekeyUpload *m = NULL;
    relaxed.max_prekeys_per_upload = SIZE_MAX;
    if (secmsg__relay_decode_prekeys(&m, rq->body, rq->body_len, &relaxed) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "PrekeyUpload");
    secmsg__relay__prekey_upload__free_unpacked(m, NULL);
    return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_many_prekeys",
                                "The upload holds more one-time prekeys than the relay accepts "
                                "at once.");
}

enum MHD_Result relayd_handle_prekeys_put(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__PrekeyUpload *m = NULL;
    relay_otk *otks = NULL;
    enum MHD_Result r;

    if (secmsg__relay_decode_prekeys(&m, rq->body, rq->body_len, &srv->codec_limits) != SECMSG_OK)
        return refuse_upload(conn, rq);
    if (m->has_signed_prekey && m->signed_prekey.len > SPK_MAX) {
        r = relayd_respond_malformed(conn, rq, "PrekeyUpload");
        goto out;
    }
    size_t n = m->n_one_time_prekeys;
    if (n > 0) {
        otks = calloc(n, sizeof *otks);
        if (otks == NULL) {
            r = MHD_NO;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const Secmsg__Relay__OneTimePrekeyPublic *o = m->one_time_prekeys[i];
        if (o->pub.len != sizeof otks[i].pub) { /* the codec's invariant, kept explicit */
            r = relayd_respond_malformed(conn, rq, "PrekeyUpload");
            goto out;
        }
        otks[i].id = o->id;
        memcpy(otks[i].pub, o->pub.data, sizeof otks[i].pub);
    }
    int rc = relay_store_prekeys_put(srv->store, rq->dev.id,
                                     m->has_signed_prekey ? m->signed_prekey.data : NULL,
                                     m->has_signed_prekey ? m->signed_prekey.len : 0, otks, n);
    if (rc == RELAY_E_QUOTA)
        r = relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_many_prekeys",
                                 "Storing these one-time prekeys would pass the relay's limit.");
    else if (rc == RELAY_E_CONFLICT)
        r = relayd_respond_error(conn, rq, MHD_HTTP_CONFLICT, "duplicate_prekey_id",
                                 "A one-time prekey with one of these ids is already stored.");
    else if (rc == RELAY_E_INVALID)
        r = relayd_respond_malformed(conn, rq, "PrekeyUpload");
    else if (rc != RELAY_OK)
        r = relayd_respond_store_error(conn, rq, rc);
    else
        r = respond_status(conn, rq);
out:
    free(otks);
    secmsg__relay__prekey_upload__free_unpacked(m, NULL);
    return r;
}

enum MHD_Result relayd_handle_prekeys_get(struct MHD_Connection *conn, relayd_request *rq)
{
    return respond_status(conn, rq);
}

static uint8_t *put_field(uint8_t *p, uint8_t tag, const uint8_t *data, size_t len)
{
    *p++ = tag;
    p += secmsg__varint_put(p, len);
    memcpy(p, data, len);
    return p + len;
}

/*
 * The PrekeyBundle, assembled from the stored, already validated parts:
 * fields in number order, each the canonical encoding, so the result is
 * canonical. It is decoded once more before it leaves, as a guard against
 * corrupt storage.
 */
static size_t build_bundle(uint8_t *out, const relay_device *dev, const uint8_t *spk,
                           size_t spk_len, const relay_otk *otk, int has_otk)
{
    uint8_t otk_buf[2 + 5 + 2 + 32];
    size_t otk_len = 0;
    if (has_otk) {
        otk_buf[0] = 0x08; /* id, varint */
        otk_len = 1 + secmsg__varint_put(otk_buf + 1, otk->id);
        otk_buf[otk_len++] = 0x12; /* pub, bytes */
        otk_buf[otk_len++] = 32;
        memcpy(otk_buf + otk_len, otk->pub, 32);
        otk_len += 32;
    }
    uint8_t *p = out;
    *p++ = 0x08; /* version */
    p += secmsg__varint_put(p, SECMSG_PROTOCOL_VERSION);
    p = put_field(p, 0x12, dev->identity, dev->identity_len);
    p = put_field(p, 0x1a, spk, spk_len);
    if (has_otk)
        p = put_field(p, 0x22, otk_buf, otk_len);
    return (size_t)(p - out);
}

enum MHD_Result relayd_handle_prekeys_claim(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__ClaimRequest *m = NULL;
    relay_device target;
    uint8_t spk[SPK_MAX];
    size_t spk_len = sizeof spk;
    relay_otk otk;
    int has_otk = 0;
    enum MHD_Result r;

    if (secmsg__relay_decode_claim(&m, rq->body, rq->body_len) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "ClaimRequest");
    int rc = relay_store_device_get(srv->store, m->device_id.data, &target);
    if (rc == RELAY_E_NOTFOUND) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "unknown_device",
                                 "No device with this id is registered.");
        goto out;
    }
    if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
        goto out;
    }
    memset(&otk, 0, sizeof otk);
    rc = relay_store_prekeys_claim(srv->store, target.id, spk, &spk_len, &otk, &has_otk);
    if (rc == RELAY_E_NOTFOUND) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "no_prekeys",
                                 "This device has not uploaded a signed prekey.");
        goto out;
    }
    if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
        goto out;
    }
    /* version, identity, signed prekey, one-time prekey: tags, lengths, contents. */
    uint8_t bundle[2 + 3 + sizeof target.identity + 3 + SPK_MAX + 2 + 48];
    size_t len = 0;
    Secmsg__Wire__PrekeyBundle *check = NULL;
    if (target.identity_len <= sizeof target.identity && spk_len <= SPK_MAX)
        len = build_bundle(bundle, &target, spk, spk_len, &otk, has_otk);
    if (len == 0 || secmsg__wire_decode_bundle(&check, bundle, len, NULL) != SECMSG_OK) {
        relayd_log_error("a stored prekey bundle does not decode");
        r = relayd_respond_error(conn, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "storage_failure",
                                 "The stored prekeys of this device are unusable.");
        goto out;
    }
    secmsg__wire__prekey_bundle__free_unpacked(check, NULL);
    r = relayd_respond(conn, rq, MHD_HTTP_OK, "application/x-protobuf", bundle, len);
out:
    secmsg__relay__claim_request__free_unpacked(m, NULL);
    return r;
}
