/*
 * Fuzzes the relay's PrekeyUpload decoder (PUT /v1/prekeys).
 *
 * Properties: those of every relay decoder (fuzz_relay.h), with the small
 * limits; an accepted upload has at most max_prekeys_per_upload one-time
 * prekeys, each with a non-zero id and a canonical 32-byte X25519 key, and
 * a signed prekey (if any) that is a canonical, well-formed SignedPrekey.
 * An upload accepted within the small limits is accepted within the
 * default ones.
 */
#include "fuzz_relay.h"

#include "wire/codec.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__PrekeyUpload *m = NULL;
    int rc = secmsg__relay_decode_prekeys(&m, in, len, &fuzz_relay_small);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__PrekeyUpload *m = NULL, *big = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_prekeys(&m, data, size, &fuzz_relay_small);
    int brc = secmsg__relay_decode_prekeys(&big, data, size, &fuzz_relay_default);
    FUZZ_CHECK(rc != SECMSG_OK || brc == SECMSG_OK);
    if (m != NULL) {
        FUZZ_CHECK(m->n_one_time_prekeys <= fuzz_relay_small.max_prekeys_per_upload);
        for (size_t i = 0; i < m->n_one_time_prekeys; i++) {
            const Secmsg__Relay__OneTimePrekeyPublic *k = m->one_time_prekeys[i];
            FUZZ_CHECK(k->has_id && k->id != 0);
            FUZZ_CHECK(k->has_pub && k->pub.len == 32);
            FUZZ_CHECK(secmsg__wire_x25519_canonical(k->pub.data));
        }
        FUZZ_CHECK(m->has_signed_prekey || m->n_one_time_prekeys > 0);
        if (m->has_signed_prekey) {
            Secmsg__Wire__SignedPrekey *spk = secmsg__wire__signed_prekey__unpack(
                NULL, m->signed_prekey.len, m->signed_prekey.data);
            FUZZ_CHECK(spk != NULL && spk->base.n_unknown_fields == 0);
            FUZZ_CHECK(secmsg__wire_check_signed_prekey(spk) == SECMSG_OK);
            FUZZ_CHECK(secmsg__wire__signed_prekey__get_packed_size(spk) == m->signed_prekey.len);
            secmsg__wire__signed_prekey__free_unpacked(spk, NULL);
        }
    }
    if (big != NULL)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)(void *)big, NULL);
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 0, redecode);
    return 0;
}
