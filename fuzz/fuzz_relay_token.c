/*
 * Fuzzes the relay's TokenRequest decoder (POST /v1/auth/token).
 *
 * Properties: those of every relay decoder (fuzz_relay.h); an accepted
 * request has a 32-byte device id, a 32-byte nonce and a 64-byte signature.
 */
#include "fuzz_relay.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__TokenRequest *m = NULL;
    int rc = secmsg__relay_decode_token(&m, in, len);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__TokenRequest *m = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_token(&m, data, size);
    if (m != NULL) {
        FUZZ_CHECK(m->has_device_id && m->device_id.len == SECMSG__RELAY_ID_BYTES);
        FUZZ_CHECK(m->has_nonce && m->nonce.len == SECMSG__RELAY_NONCE_BYTES);
        FUZZ_CHECK(m->has_sig && m->sig.len == 64);
    }
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 0, redecode);
    return 0;
}
