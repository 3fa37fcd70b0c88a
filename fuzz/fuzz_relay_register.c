/*
 * Fuzzes the relay's RegisterRequest decoder (POST /v1/register).
 *
 * Properties: those of every relay decoder (fuzz_relay.h); an accepted
 * request has a 32-byte token, a 64-byte signature, and an identity that
 * the codec decodes on its own and that secmsg_identity_public_verify()
 * does not call malformed (its binding signature is the relay's to check).
 */
#include "fuzz_relay.h"

#include "wire/codec.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__RegisterRequest *m = NULL;
    int rc = secmsg__relay_decode_register(&m, in, len);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__RegisterRequest *m = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_register(&m, data, size);
    if (m != NULL) {
        FUZZ_CHECK(m->has_token && m->token.len == SECMSG__RELAY_TOKEN_BYTES);
        FUZZ_CHECK(m->has_sig && m->sig.len == 64);
        FUZZ_CHECK(m->has_identity);
        Secmsg__Wire__IdentityPublic *id = NULL;
        FUZZ_CHECK(secmsg__wire_decode_identity_public(&id, m->identity.data, m->identity.len,
                                                       NULL) == SECMSG_OK);
        secmsg__wire__identity_public__free_unpacked(id, NULL);
        int vrc = secmsg_identity_public_verify(m->identity.data, m->identity.len);
        FUZZ_CHECK(vrc == SECMSG_OK || vrc == SECMSG_E_SIGNATURE);
    }
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 0, redecode);
    return 0;
}
