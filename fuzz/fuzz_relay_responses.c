/*
 * Fuzzes the decoders of the relay's answers that a client parses
 * (libsecmsg/src/wire/relay_client_codec.h). The first input byte selects
 * the decoder (modulo their number), the rest is the body.
 *
 * Properties: those of every relay decoder (fuzz_relay.h), with the
 * re-encoding byte-identical to the input; and what each decoder promises
 * about an accepted body: required fields present, ids, nonces and tokens
 * of their exact lengths, a valid user id, a role 1..3, an Error code that
 * is an HTTP status and a reason token of [a-z0-9_], device entries that
 * are canonical IdentityPublics, deliveries with sender, message id,
 * content and 16-byte blob ids.
 */
#include "fuzz_relay.h"
#include "wire/codec.h"
#include "wire/relay_client_codec.h"

#define ADAPT(name, type, fn)                                                                      \
    static int name(ProtobufCMessage **out, const uint8_t *in, size_t len)                         \
    {                                                                                              \
        type *m = NULL;                                                                            \
        int rc = fn(&m, in, len);                                                                  \
        *out = (ProtobufCMessage *)(void *)m;                                                      \
        return rc;                                                                                 \
    }

ADAPT(dec_error, Secmsg__Relay__Error, secmsg__relay_decode_error)
ADAPT(dec_register, Secmsg__Relay__RegisterResponse, secmsg__relay_decode_register_response)
ADAPT(dec_challenge, Secmsg__Relay__ChallengeResponse, secmsg__relay_decode_challenge_response)
ADAPT(dec_token, Secmsg__Relay__TokenResponse, secmsg__relay_decode_token_response)
ADAPT(dec_invite, Secmsg__Relay__InviteResponse, secmsg__relay_decode_invite_response)
ADAPT(dec_prekey_status, Secmsg__Relay__PrekeyStatus, secmsg__relay_decode_prekey_status)
ADAPT(dec_device_list, Secmsg__Relay__DeviceList, secmsg__relay_decode_device_list)
ADAPT(dec_send, Secmsg__Relay__SendResponse, secmsg__relay_decode_send_response)
ADAPT(dec_fetch, Secmsg__Relay__FetchResponse, secmsg__relay_decode_fetch_response)
ADAPT(dec_ack, Secmsg__Relay__AckResponse, secmsg__relay_decode_ack_response)

static const fuzz_relay_decoder decoders[] = {
    dec_error,         dec_register,    dec_challenge, dec_token, dec_invite,
    dec_prekey_status, dec_device_list, dec_send,      dec_fetch, dec_ack,
};
#define N_DECODERS (sizeof decoders / sizeof decoders[0])

static int has_len(protobuf_c_boolean has, ProtobufCBinaryData b, size_t len)
{
    return has && b.len == len && b.data != NULL;
}

static int reason_token(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > SECMSG__RELAY_REASON_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

static void check_accepted(size_t which, const ProtobufCMessage *pm)
{
    switch (which) {
    case 0: {
        const Secmsg__Relay__Error *m = (const void *)pm;
        FUZZ_CHECK(m->has_code && m->code >= 100 && m->code <= 599);
        FUZZ_CHECK(reason_token(m->reason));
        FUZZ_CHECK(m->message != NULL && m->message[0] != '\0' &&
                   strlen(m->message) <= SECMSG__RELAY_ERROR_MESSAGE_MAX);
        break;
    }
    case 1: {
        const Secmsg__Relay__RegisterResponse *m = (const void *)pm;
        FUZZ_CHECK(has_len(m->has_device_id, m->device_id, SECMSG__RELAY_ID_BYTES));
        FUZZ_CHECK(secmsg__relay_user_id_valid(m->user_id));
        FUZZ_CHECK(m->has_role && m->role >= 1 && m->role <= 3);
        break;
    }
    case 2: {
        const Secmsg__Relay__ChallengeResponse *m = (const void *)pm;
        FUZZ_CHECK(has_len(m->has_nonce, m->nonce, SECMSG__RELAY_NONCE_BYTES) && m->has_expires);
        break;
    }
    case 3: {
        const Secmsg__Relay__TokenResponse *m = (const void *)pm;
        FUZZ_CHECK(has_len(m->has_token, m->token, SECMSG__RELAY_BEARER_BYTES) && m->has_expires);
        break;
    }
    case 4: {
        const Secmsg__Relay__InviteResponse *m = (const void *)pm;
        FUZZ_CHECK(has_len(m->has_token, m->token, SECMSG__RELAY_TOKEN_BYTES) && m->has_expires);
        break;
    }
    case 5: {
        const Secmsg__Relay__PrekeyStatus *m = (const void *)pm;
        FUZZ_CHECK(m->has_one_time_prekeys && m->has_low);
        break;
    }
    case 6: {
        const Secmsg__Relay__DeviceList *m = (const void *)pm;
        FUZZ_CHECK(secmsg__relay_user_id_valid(m->user_id) && m->n_devices > 0);
        for (size_t i = 0; i < m->n_devices; i++) {
            Secmsg__Wire__IdentityPublic *id = NULL;
            FUZZ_CHECK(secmsg__wire_decode_identity_public(&id, m->devices[i].data,
                                                           m->devices[i].len, NULL) == SECMSG_OK);
            secmsg__wire__identity_public__free_unpacked(id, NULL);
        }
        break;
    }
    case 7: {
        const Secmsg__Relay__SendResponse *m = (const void *)pm;
        FUZZ_CHECK(m->has_stored);
        break;
    }
    case 8: {
        const Secmsg__Relay__FetchResponse *m = (const void *)pm;
        FUZZ_CHECK(m->has_more);
        FUZZ_CHECK(m->prekeys == NULL || (m->prekeys->has_one_time_prekeys && m->prekeys->has_low));
        for (size_t i = 0; i < m->n_deliveries; i++) {
            const Secmsg__Relay__Delivery *d = m->deliveries[i];
            FUZZ_CHECK(d->has_id && d->has_received);
            FUZZ_CHECK(has_len(d->has_sender, d->sender, SECMSG__RELAY_ID_BYTES));
            FUZZ_CHECK(has_len(d->has_message_id, d->message_id, SECMSG__RELAY_MSGID_BYTES));
            FUZZ_CHECK(d->has_content && d->content.len > 0);
            FUZZ_CHECK(fuzz_relay_all_len(d->blob_ids, d->n_blob_ids, SECMSG__RELAY_BLOB_ID_BYTES));
        }
        break;
    }
    default: {
        const Secmsg__Relay__AckResponse *m = (const void *)pm;
        FUZZ_CHECK(m->has_deleted);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size == 0)
        return 0;
    size_t which = data[0] % N_DECODERS;
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    ProtobufCMessage *m = NULL;
    int rc = decoders[which](&m, body, len);
    if (m != NULL)
        check_accepted(which, m);
    fuzz_relay_check(rc, m, body, len, 1, decoders[which]);
    return 0;
}
