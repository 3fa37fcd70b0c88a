/*
 * Fuzzes the relay's ClaimRequest decoder (POST /v1/prekeys/claim).
 *
 * Properties: those of every relay decoder (fuzz_relay.h); an accepted
 * request names exactly one 32-byte device id.
 */
#include "fuzz_relay.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__ClaimRequest *m = NULL;
    int rc = secmsg__relay_decode_claim(&m, in, len);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__ClaimRequest *m = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_claim(&m, data, size);
    if (m != NULL)
        FUZZ_CHECK(m->has_device_id && m->device_id.len == SECMSG__RELAY_ID_BYTES);
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 0, redecode);
    return 0;
}
