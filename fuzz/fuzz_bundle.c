/*
 * Fuzzes a peer's prekey bundle: secmsg_session_initiate() with a fixed
 * identity (Alice's).
 *
 * Properties: a failed call leaves *out NULL; an accepted bundle gives a
 * session whose peer identity verifies, whose first message is an initial
 * message of exactly secmsg_session_ciphertext_len() bytes naming Alice as
 * sender, and whose state round-trips through serialize/deserialize.
 */
#include "fixtures.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pt[] = "fuzz";
    secmsg_identity *alice = NULL;
    secmsg_session *s = NULL, *restored = NULL;
    uint8_t remote[SECMSG_IDENTITY_PUBLIC_BYTES], sender[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t remote_len = 0, sender_len = 0, msg_len = 0, state_len = 0;
    int type = 0;

    fuzz_init();
    alice = fuzz_identity(fixture_alice_seed);

    if (secmsg_session_initiate(&s, alice, data, size) != SECMSG_OK) {
        FUZZ_CHECK(s == NULL);
        secmsg_identity_free(alice);
        return 0;
    }
    FUZZ_CHECK(s != NULL);

    FUZZ_CHECK(secmsg_session_remote_identity(s, remote, sizeof remote, &remote_len) ==
               SECMSG_OK);
    FUZZ_CHECK(secmsg_identity_public_verify(remote, remote_len) == SECMSG_OK);

    size_t need = secmsg_session_ciphertext_len(s, sizeof pt);
    FUZZ_CHECK(need > sizeof pt);
    uint8_t *msg = fuzz_alloc(need);
    FUZZ_CHECK(secmsg_session_encrypt(s, msg, need, &msg_len, pt, sizeof pt) == SECMSG_OK);
    FUZZ_CHECK(msg_len == need);
    FUZZ_CHECK(secmsg_message_info(msg, msg_len, &type, sender, sizeof sender, &sender_len) ==
               SECMSG_OK);
    FUZZ_CHECK(type == SECMSG_MESSAGE_INITIAL);
    FUZZ_CHECK(fuzz_equal(sender, sender_len, fixture_alice_public,
                          sizeof fixture_alice_public));

    uint8_t *state = fuzz_session_bytes(s, &state_len);
    FUZZ_CHECK(secmsg_session_deserialize(&restored, state, state_len) == SECMSG_OK);

    fuzz_free_secret(state, state_len);
    free(msg);
    secmsg_session_free(restored);
    secmsg_session_free(s);
    secmsg_identity_free(alice);
    return 0;
}
