/*
 * Fuzzes secmsg_identity_deserialize(), the reader of an identity's private
 * keys from the caller's store.
 *
 * Properties: a failed call leaves *out NULL; a restored identity
 * serializes to exactly SECMSG_IDENTITY_PRIVATE_BYTES bytes, round-trips to
 * the same bytes, and has a public form that verifies.
 */
#include "fuzz.h"

static uint8_t *identity_bytes(const secmsg_identity *id, size_t *len)
{
    uint8_t *buf = fuzz_alloc(SECMSG_IDENTITY_PRIVATE_BYTES);
    size_t got = 0;

    FUZZ_CHECK(secmsg_identity_serialize(id, buf, SECMSG_IDENTITY_PRIVATE_BYTES - 1, &got) ==
               SECMSG_E_BUFFER_TOO_SMALL);
    FUZZ_CHECK(got == SECMSG_IDENTITY_PRIVATE_BYTES);
    got = 0;
    FUZZ_CHECK(secmsg_identity_serialize(id, buf, SECMSG_IDENTITY_PRIVATE_BYTES, &got) ==
               SECMSG_OK);
    FUZZ_CHECK(got == SECMSG_IDENTITY_PRIVATE_BYTES);
    *len = got;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    secmsg_identity *id = NULL, *again = NULL;
    uint8_t *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0, pub_len = 0;
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES];

    fuzz_init();

    if (secmsg_identity_deserialize(&id, data, size) != SECMSG_OK) {
        FUZZ_CHECK(id == NULL);
        return 0;
    }
    FUZZ_CHECK(id != NULL);

    first = identity_bytes(id, &first_len);
    FUZZ_CHECK(secmsg_identity_deserialize(&again, first, first_len) == SECMSG_OK);
    second = identity_bytes(again, &second_len);
    FUZZ_CHECK(fuzz_equal(first, first_len, second, second_len));

    FUZZ_CHECK(secmsg_identity_public(id, pub, sizeof pub, &pub_len) == SECMSG_OK);
    FUZZ_CHECK(pub_len == SECMSG_IDENTITY_PUBLIC_BYTES);
    FUZZ_CHECK(secmsg_identity_public_verify(pub, pub_len) == SECMSG_OK);

    fuzz_free_secret(first, first_len);
    fuzz_free_secret(second, second_len);
    secmsg_identity_free(again);
    secmsg_identity_free(id);
    return 0;
}
