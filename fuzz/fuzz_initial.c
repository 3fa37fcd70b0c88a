/*
 * Fuzzes the responder's side of session set-up: secmsg_session_accept()
 * with Bob's fixed identity and a fresh copy of his fixed prekey set
 * (fixtures.h: one current and one previous signed prekey, several one-time
 * prekeys) for every input.
 *
 * Properties (session.h): a failed accept creates no session, sets
 * *pt_len = 0 and leaves the prekey set byte-for-byte unchanged. A
 * successful one consumes at most one one-time prekey, and if it consumed
 * one, accepting the same message again is UNKNOWN_PREKEY; the new session's
 * peer is the sender message_info() reports, the message it was made from
 * replays as an error, and it can reply at once.
 */
#include "fixtures.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    secmsg_identity *bob = NULL;
    secmsg_prekeys *pk = NULL;
    secmsg_session *s = NULL, *again = NULL;
    size_t before_len = 0, after_len = 0, pt_len = SIZE_MAX;

    fuzz_init();
    bob = fuzz_identity(fixture_bob_seed);
    FUZZ_CHECK(secmsg_prekeys_deserialize(&pk, fixture_bob_prekeys,
                                          sizeof fixture_bob_prekeys) == SECMSG_OK);
    uint8_t *before = fuzz_prekeys_bytes(pk, &before_len);
    size_t count = secmsg_prekeys_count(pk);
    uint8_t *pt = fuzz_alloc(size);

    int rc = secmsg_session_accept(&s, bob, pk, data, size, pt, size, &pt_len);
    uint8_t *after = fuzz_prekeys_bytes(pk, &after_len);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(s == NULL);
        FUZZ_CHECK(rc != SECMSG_E_BUFFER_TOO_SMALL);
        FUZZ_CHECK(pt_len == 0);
        FUZZ_CHECK(fuzz_equal(before, before_len, after, after_len));
        goto out;
    }

    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(pt_len < size);
    size_t now = secmsg_prekeys_count(pk);
    FUZZ_CHECK(now == count || now + 1 == count);
    if (now == count) {
        FUZZ_CHECK(fuzz_equal(before, before_len, after, after_len));
    } else {
        size_t pt2_len = SIZE_MAX;
        FUZZ_CHECK(secmsg_session_accept(&again, bob, pk, data, size, pt, size, &pt2_len) ==
                   SECMSG_E_UNKNOWN_PREKEY);
        FUZZ_CHECK(again == NULL && pt2_len == 0);
    }

    int type = 0;
    uint8_t sender[SECMSG_IDENTITY_PUBLIC_BYTES], remote[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t sender_len = 0, remote_len = 0;
    FUZZ_CHECK(secmsg_message_info(data, size, &type, sender, sizeof sender, &sender_len) ==
               SECMSG_OK);
    FUZZ_CHECK(type == SECMSG_MESSAGE_INITIAL);
    FUZZ_CHECK(secmsg_session_remote_identity(s, remote, sizeof remote, &remote_len) ==
               SECMSG_OK);
    FUZZ_CHECK(fuzz_equal(sender, sender_len, remote, remote_len));

    FUZZ_CHECK(fuzz_decrypt_checked(s, data, size) != SECMSG_OK);
    FUZZ_CHECK(fuzz_encrypt_checked(s) == SECMSG_OK);

out:
    fuzz_free_secret(pt, size);
    fuzz_free_secret(after, after_len);
    fuzz_free_secret(before, before_len);
    secmsg_session_free(again);
    secmsg_session_free(s);
    secmsg_prekeys_free(pk);
    secmsg_identity_free(bob);
    return 0;
}
