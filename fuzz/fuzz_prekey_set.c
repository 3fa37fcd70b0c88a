/*
 * Fuzzes secmsg_prekeys_deserialize(), the reader of a persisted prekey set,
 * and then uses whatever it accepts.
 *
 * Properties: a failed call leaves *out NULL. An accepted set holds at most
 * SECMSG_MAX_ONE_TIME_PREKEYS one-time prekeys and round-trips: its
 * serialization deserializes to a set with the same serialization and
 * count. Generating one-time prekeys either fails without change or hands
 * out a fresh, non-zero id (ids are never reused, even near UINT32_MAX).
 * Bundles and signed-prekey rotation are exercised with Bob's identity.
 */
#include "fixtures.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    secmsg_prekeys *pk = NULL, *again = NULL;
    secmsg_identity *bob = NULL;
    size_t first_len = 0, second_len = 0, before_len = 0, after_len = 0, bundle_len = 0;
    uint8_t *bundle = NULL;

    fuzz_init();

    if (secmsg_prekeys_deserialize(&pk, data, size) != SECMSG_OK) {
        FUZZ_CHECK(pk == NULL);
        return 0;
    }
    FUZZ_CHECK(pk != NULL);
    size_t count = secmsg_prekeys_count(pk);
    FUZZ_CHECK(count <= SECMSG_MAX_ONE_TIME_PREKEYS);

    uint8_t *first = fuzz_prekeys_bytes(pk, &first_len);
    FUZZ_CHECK(secmsg_prekeys_deserialize(&again, first, first_len) == SECMSG_OK);
    uint8_t *second = fuzz_prekeys_bytes(again, &second_len);
    FUZZ_CHECK(fuzz_equal(first, first_len, second, second_len));
    FUZZ_CHECK(secmsg_prekeys_count(again) == count);

    bob = fuzz_identity(fixture_bob_seed);
    bundle = fuzz_alloc(SECMSG_PREKEY_BUNDLE_MAX_BYTES);
    /* Sets of other identities are refused here (INVALID_ARG); that is fine. */
    int bundle_ok = secmsg_prekeys_bundle(pk, bob, 0, bundle, SECMSG_PREKEY_BUNDLE_MAX_BYTES,
                                          &bundle_len) == SECMSG_OK;
    (void)secmsg_prekeys_bundle(pk, bob, 1, bundle, SECMSG_PREKEY_BUNDLE_MAX_BYTES,
                                &bundle_len);

    uint32_t first_id = 0;
    uint8_t *before = fuzz_prekeys_bytes(pk, &before_len);
    if (secmsg_prekeys_generate(pk, 2, &first_id) == SECMSG_OK) {
        FUZZ_CHECK(first_id != 0 && first_id != UINT32_MAX);
        FUZZ_CHECK(secmsg_prekeys_count(pk) == count + 2);
        /* The new ids are live: a bundle can name them. */
        if (bundle_ok) {
            FUZZ_CHECK(secmsg_prekeys_bundle(pk, bob, first_id, bundle,
                                             SECMSG_PREKEY_BUNDLE_MAX_BYTES,
                                             &bundle_len) == SECMSG_OK);
        }
    } else {
        uint8_t *after = fuzz_prekeys_bytes(pk, &after_len);
        FUZZ_CHECK(fuzz_equal(before, before_len, after, after_len));
        fuzz_free_secret(after, after_len);
    }
    (void)secmsg_prekeys_rotate_signed(pk, bob, 0x7fffffffU);

    free(bundle);
    fuzz_free_secret(before, before_len);
    fuzz_free_secret(first, first_len);
    fuzz_free_secret(second, second_len);
    secmsg_identity_free(bob);
    secmsg_prekeys_free(again);
    secmsg_prekeys_free(pk);
    return 0;
}
