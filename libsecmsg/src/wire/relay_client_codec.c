#include "wire/relay_client_codec.h"

#include <string.h>

#include "secmsg/common.h"
#include "wire/codec.h"
#include "wire/relay_codec.h"

/*
 * Upper bounds of the fixed-shape bodies, checked before protobuf-c runs
 * (relay_codec.h); a uint64 costs at most ten varint bytes.
 */
#define BYTES_FIELD_MAX(n) SECMSG__RELAY_BYTES_FIELD_MAX(n)
#define UINT32_FIELD_MAX SECMSG__RELAY_UINT32_FIELD_MAX
#define UINT64_FIELD_MAX (1U + 10U)
#define BOOL_FIELD_MAX (1U + 1U)
#define ERROR_MAX                                                                                  \
    (UINT32_FIELD_MAX + BYTES_FIELD_MAX(SECMSG__RELAY_REASON_MAX) +                                \
     BYTES_FIELD_MAX(SECMSG__RELAY_ERROR_MESSAGE_MAX))
#define REGISTER_RESPONSE_MAX                                                                      \
    (BYTES_FIELD_MAX(SECMSG__RELAY_ID_BYTES) + BYTES_FIELD_MAX(SECMSG__RELAY_USER_ID_MAX) +        \
     UINT32_FIELD_MAX)
#define CHALLENGE_RESPONSE_MAX (BYTES_FIELD_MAX(SECMSG__RELAY_NONCE_BYTES) + UINT64_FIELD_MAX)
#define TOKEN_RESPONSE_MAX (BYTES_FIELD_MAX(SECMSG__RELAY_BEARER_BYTES) + UINT64_FIELD_MAX)
#define INVITE_RESPONSE_MAX (BYTES_FIELD_MAX(SECMSG__RELAY_TOKEN_BYTES) + UINT64_FIELD_MAX)
#define PREKEY_STATUS_MAX (UINT32_FIELD_MAX + BOOL_FIELD_MAX)
#define SEND_RESPONSE_MAX UINT32_FIELD_MAX
#define ACK_RESPONSE_MAX UINT32_FIELD_MAX

/* ---- field checks ---- */

/* A reason token: 1..63 bytes of [a-z0-9_], so it can be shown and compared as is. */
static int reason_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n == SECMSG__RELAY_REASON_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int prekey_status_ok(const Secmsg__Relay__PrekeyStatus *m)
{
    return m != NULL && m->has_one_time_prekeys && m->has_low;
}

/* ---- checks ---- */

static int check_error(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__Error *m = (const void *)pm;
    (void)ctx;
    /* The message is only bounded (by the body bound) and never shown:
     * clients report the reason token. */
    if (!m->has_code || m->code < 100 || m->code > 599 || !reason_ok(m->reason) ||
        m->message == NULL || m->message[0] == '\0' ||
        strlen(m->message) > SECMSG__RELAY_ERROR_MESSAGE_MAX)
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_register_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__RegisterResponse *m = (const void *)pm;
    (void)ctx;
    if (!secmsg__wire_has_len(m->has_device_id, m->device_id, SECMSG__RELAY_ID_BYTES) ||
        !secmsg__relay_user_id_valid(m->user_id) || !m->has_role ||
        m->role < SECMSG__RELAY__ROLE__ROLE_CITIZEN || m->role > SECMSG__RELAY__ROLE__ROLE_JOURNAL)
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_challenge_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__ChallengeResponse *m = (const void *)pm;
    (void)ctx;
    return secmsg__wire_has_len(m->has_nonce, m->nonce, SECMSG__RELAY_NONCE_BYTES) && m->has_expires
               ? SECMSG_OK
               : SECMSG_E_MALFORMED;
}

static int check_token_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__TokenResponse *m = (const void *)pm;
    (void)ctx;
    return secmsg__wire_has_len(m->has_token, m->token, SECMSG__RELAY_BEARER_BYTES) &&
                   m->has_expires
               ? SECMSG_OK
               : SECMSG_E_MALFORMED;
}

static int check_invite_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__InviteResponse *m = (const void *)pm;
    (void)ctx;
    return secmsg__wire_has_len(m->has_token, m->token, SECMSG__RELAY_TOKEN_BYTES) && m->has_expires
               ? SECMSG_OK
               : SECMSG_E_MALFORMED;
}

static int check_prekey_status(const ProtobufCMessage *pm, const void *ctx)
{
    (void)ctx;
    return prekey_status_ok((const Secmsg__Relay__PrekeyStatus *)(const void *)pm)
               ? SECMSG_OK
               : SECMSG_E_MALFORMED;
}

/* A user with no device is a 404 (unknown_user), never an empty list. */
static int check_device_list(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__DeviceList *m = (const void *)pm;
    (void)ctx;
    if (!secmsg__relay_user_id_valid(m->user_id) || m->n_devices == 0)
        return SECMSG_E_MALFORMED;
    for (size_t i = 0; i < m->n_devices; i++)
        if (m->devices[i].data == NULL || !secmsg__relay_identity_ok(m->devices[i]))
            return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_send_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__SendResponse *m = (const void *)pm;
    (void)ctx;
    return m->has_stored ? SECMSG_OK : SECMSG_E_MALFORMED;
}

static int delivery_ok(const Secmsg__Relay__Delivery *d)
{
    return d != NULL && d->has_id &&
           secmsg__wire_has_len(d->has_sender, d->sender, SECMSG__RELAY_ID_BYTES) &&
           secmsg__wire_has_len(d->has_message_id, d->message_id, SECMSG__RELAY_MSGID_BYTES) &&
           d->has_content && d->content.len > 0 && d->content.data != NULL && d->has_received &&
           secmsg__relay_all_len(d->blob_ids, d->n_blob_ids, SECMSG__RELAY_BLOB_ID_BYTES);
}

static int check_fetch_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__FetchResponse *m = (const void *)pm;
    (void)ctx;
    if (!m->has_more || (m->prekeys != NULL && !prekey_status_ok(m->prekeys)))
        return SECMSG_E_MALFORMED;
    for (size_t i = 0; i < m->n_deliveries; i++)
        if (!delivery_ok(m->deliveries[i]))
            return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_ack_response(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__AckResponse *m = (const void *)pm;
    (void)ctx;
    return m->has_deleted ? SECMSG_OK : SECMSG_E_MALFORMED;
}

/* ---- decoders ---- */

/*
 * The shared canonical decoder: the relay encodes with protobuf-c in field
 * order, so its bodies are byte for byte their re-encoding (protocol.md 3).
 * Every refusal is MALFORMED.
 */
static int response_decode(void **out, const ProtobufCMessageDescriptor *desc, size_t max,
                           secmsg__wire_check_fn check, const uint8_t *in, size_t len)
{
    return secmsg__relay_decode_body(out, desc, max, check, NULL, in, len);
}

#define RESPONSE_DECODER(fname, type, desc, max, chk)                                              \
    SECMSG__RELAY_DECODER(fname, type, response_decode, desc, max, chk)

RESPONSE_DECODER(secmsg__relay_decode_error, Secmsg__Relay__Error, secmsg__relay__error__descriptor,
                 ERROR_MAX, check_error)
RESPONSE_DECODER(secmsg__relay_decode_register_response, Secmsg__Relay__RegisterResponse,
                 secmsg__relay__register_response__descriptor, REGISTER_RESPONSE_MAX,
                 check_register_response)
RESPONSE_DECODER(secmsg__relay_decode_challenge_response, Secmsg__Relay__ChallengeResponse,
                 secmsg__relay__challenge_response__descriptor, CHALLENGE_RESPONSE_MAX,
                 check_challenge_response)
RESPONSE_DECODER(secmsg__relay_decode_token_response, Secmsg__Relay__TokenResponse,
                 secmsg__relay__token_response__descriptor, TOKEN_RESPONSE_MAX,
                 check_token_response)
RESPONSE_DECODER(secmsg__relay_decode_invite_response, Secmsg__Relay__InviteResponse,
                 secmsg__relay__invite_response__descriptor, INVITE_RESPONSE_MAX,
                 check_invite_response)
RESPONSE_DECODER(secmsg__relay_decode_prekey_status, Secmsg__Relay__PrekeyStatus,
                 secmsg__relay__prekey_status__descriptor, PREKEY_STATUS_MAX, check_prekey_status)
RESPONSE_DECODER(secmsg__relay_decode_device_list, Secmsg__Relay__DeviceList,
                 secmsg__relay__device_list__descriptor, SECMSG__RELAY_RESPONSE_MAX,
                 check_device_list)
RESPONSE_DECODER(secmsg__relay_decode_send_response, Secmsg__Relay__SendResponse,
                 secmsg__relay__send_response__descriptor, SEND_RESPONSE_MAX, check_send_response)
RESPONSE_DECODER(secmsg__relay_decode_fetch_response, Secmsg__Relay__FetchResponse,
                 secmsg__relay__fetch_response__descriptor, SECMSG__RELAY_RESPONSE_MAX,
                 check_fetch_response)
RESPONSE_DECODER(secmsg__relay_decode_ack_response, Secmsg__Relay__AckResponse,
                 secmsg__relay__ack_response__descriptor, ACK_RESPONSE_MAX, check_ack_response)
