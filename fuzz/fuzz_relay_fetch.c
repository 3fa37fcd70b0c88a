/*
 * Fuzzes the relay's FetchRequest decoder (POST /v1/messages/fetch).
 *
 * Properties: those of every relay decoder (fuzz_relay.h), with the small
 * limits, byte-exact: an accepted request is identical to its re-encoding
 * (no packed ack ids, no padded varints, fields in order), and has at most
 * max_acks ack ids (none is fine). A request accepted within the small
 * limits is accepted within the default ones.
 */
#include "fuzz_relay.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__FetchRequest *m = NULL;
    int rc = secmsg__relay_decode_fetch(&m, in, len, &fuzz_relay_small);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__FetchRequest *m = NULL, *big = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_fetch(&m, data, size, &fuzz_relay_small);
    int brc = secmsg__relay_decode_fetch(&big, data, size, &fuzz_relay_default);
    FUZZ_CHECK(rc != SECMSG_OK || brc == SECMSG_OK);
    if (m != NULL)
        FUZZ_CHECK(m->n_ack_ids <= fuzz_relay_small.max_acks);
    if (big != NULL)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)(void *)big, NULL);
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 1, redecode);
    return 0;
}
