/*
 * fuzz/fuzz_relay.h - what the relay request harnesses (fuzz_relay_*.c)
 * share: the limits they decode with, and the promises every relay decoder
 * makes (libsecmsg/src/wire/relay_codec.h).
 */
#ifndef SECMSG_FUZZ_RELAY_H
#define SECMSG_FUZZ_RELAY_H

#include "fuzz.h"
#include "wire/relay_codec.h"

/* Small, so that inputs libFuzzer can build cross every bound. */
static const secmsg__relay_limits fuzz_relay_small = {
    .max_body = 4096,
    .max_envelope = 256,
    .max_recipients = 8,
    .max_prekeys_per_upload = 8,
    .max_acks = 16,
};

/* The relay's defaults (spec/relay-api.md), each at least the small one. */
static const secmsg__relay_limits fuzz_relay_default = {
    .max_body = 256U * 1024U,
    .max_envelope = 96U * 1024U,
    .max_recipients = 5000,
    .max_prekeys_per_upload = 100,
    .max_acks = 1000,
};

/*
 * The promises of one decode: OK or MALFORMED only, a message exactly on
 * OK, and an accepted input canonical: it re-encodes to its own length (to
 * its own bytes when `exact`), and the re-encoding decodes again and
 * re-encodes to itself. `redecode` is the decoder under test, bound to the
 * same limits. Frees m.
 */
typedef int (*fuzz_relay_decoder)(ProtobufCMessage **out, const uint8_t *in, size_t len);

static inline void fuzz_relay_check(int rc, ProtobufCMessage *m, const uint8_t *data, size_t size,
                                    int exact, fuzz_relay_decoder redecode)
{
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED);
    FUZZ_CHECK((rc == SECMSG_OK) == (m != NULL));
    if (m == NULL)
        return;
    size_t n = protobuf_c_message_get_packed_size(m);
    FUZZ_CHECK(n == size);
    uint8_t *once = fuzz_alloc(n);
    FUZZ_CHECK(protobuf_c_message_pack(m, once) == n);
    if (exact)
        FUZZ_CHECK(fuzz_equal(once, n, data, size));

    ProtobufCMessage *again = NULL;
    FUZZ_CHECK(redecode(&again, once, n) == SECMSG_OK && again != NULL);
    FUZZ_CHECK(protobuf_c_message_get_packed_size(again) == n);
    uint8_t *twice = fuzz_alloc(n);
    protobuf_c_message_pack(again, twice);
    FUZZ_CHECK(fuzz_equal(once, n, twice, n));

    free(twice);
    free(once);
    protobuf_c_message_free_unpacked(again, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Every entry of a repeated bytes field is exactly len bytes. */
static inline int fuzz_relay_all_len(const ProtobufCBinaryData *v, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len != len)
            return 0;
    return 1;
}

#endif
