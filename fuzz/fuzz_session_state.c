/*
 * Fuzzes secmsg_session_deserialize(), the reader of persisted session
 * state, and then uses whatever it accepts.
 *
 * Properties: a failed call leaves *out NULL. An accepted state serializes
 * (to exactly secmsg_session_serialized_len() bytes), and that serialization
 * deserializes again to a state with the same serialization, i.e.
 * deserialize(serialize(x)) succeeds and is a fixpoint. The accepted state
 * is then driven: decrypting the fixture messages and encrypting must keep
 * their atomicity promises however odd the state's counters, keys or
 * skipped-key tables are.
 */
#include "fixtures.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    secmsg_session *s = NULL, *again = NULL;
    size_t first_len = 0, second_len = 0, remote_len = 0;
    uint8_t remote[SECMSG_IDENTITY_PUBLIC_BYTES];

    fuzz_init();

    if (secmsg_session_deserialize(&s, data, size) != SECMSG_OK) {
        FUZZ_CHECK(s == NULL);
        return 0;
    }
    FUZZ_CHECK(s != NULL);

    uint8_t *first = fuzz_session_bytes(s, &first_len);
    FUZZ_CHECK(secmsg_session_deserialize(&again, first, first_len) == SECMSG_OK);
    uint8_t *second = fuzz_session_bytes(again, &second_len);
    FUZZ_CHECK(fuzz_equal(first, first_len, second, second_len));

    FUZZ_CHECK(secmsg_session_remote_identity(s, remote, sizeof remote, &remote_len) ==
               SECMSG_OK);
    FUZZ_CHECK(remote_len > 0 && remote_len <= sizeof remote);

    (void)fuzz_decrypt_checked(s, fixture_msg_to_bob, sizeof fixture_msg_to_bob);
    (void)fuzz_decrypt_checked(s, fixture_msg_to_alice, sizeof fixture_msg_to_alice);
    (void)fuzz_encrypt_checked(s);

    fuzz_free_secret(first, first_len);
    fuzz_free_secret(second, second_len);
    secmsg_session_free(again);
    secmsg_session_free(s);
    return 0;
}
