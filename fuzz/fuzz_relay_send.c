/*
 * Fuzzes the relay's SendRequest decoder (POST /v1/messages).
 *
 * Properties: those of every relay decoder (fuzz_relay.h), with the small
 * limits; an accepted request has at least one envelope, each with a
 * 16-byte message id, at least one 32-byte recipient, non-empty content no
 * longer than max_envelope and 16-byte blob ids, and at most
 * max_recipients recipients in all. A request accepted within the small
 * limits is accepted within the default ones.
 */
#include "fuzz_relay.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__SendRequest *m = NULL;
    int rc = secmsg__relay_decode_send(&m, in, len, &fuzz_relay_small);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__SendRequest *m = NULL, *big = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_send(&m, data, size, &fuzz_relay_small);
    int brc = secmsg__relay_decode_send(&big, data, size, &fuzz_relay_default);
    FUZZ_CHECK(rc != SECMSG_OK || brc == SECMSG_OK);
    if (m != NULL) {
        size_t recipients = 0;
        FUZZ_CHECK(m->n_envelopes > 0);
        for (size_t i = 0; i < m->n_envelopes; i++) {
            const Secmsg__Relay__Envelope *e = m->envelopes[i];
            FUZZ_CHECK(e->has_message_id && e->message_id.len == SECMSG__RELAY_MSGID_BYTES);
            FUZZ_CHECK(e->n_recipients > 0);
            FUZZ_CHECK(fuzz_relay_all_len(e->recipients, e->n_recipients, SECMSG__RELAY_ID_BYTES));
            FUZZ_CHECK(e->has_content && e->content.len > 0 &&
                       e->content.len <= fuzz_relay_small.max_envelope);
            FUZZ_CHECK(fuzz_relay_all_len(e->blob_ids, e->n_blob_ids, SECMSG__RELAY_BLOB_ID_BYTES));
            recipients += e->n_recipients;
        }
        FUZZ_CHECK(recipients <= fuzz_relay_small.max_recipients);
    }
    if (big != NULL)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)(void *)big, NULL);
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 0, redecode);
    return 0;
}
