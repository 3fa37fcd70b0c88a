/*
 * Fuzzes secmsg_session_decrypt() on two fixed, established sessions
 * (fixtures.h): Bob's, which holds skipped keys in two receiving chains, and
 * Alice's, which holds one. Every input is tried against a fresh copy of
 * each, so one corpus covers both directions; a message for one session is
 * simply a wrong-key message for the other.
 *
 * Properties (session.h): a failed decrypt leaves the session byte-for-byte
 * as it was; a successful one yields a shorter plaintext, a replay of the
 * same message fails without changing state, and the session can still send.
 */
#include "fixtures.h"
#include "fuzz.h"

static void try_session(const uint8_t *state, size_t state_len, const uint8_t *data,
                        size_t size)
{
    secmsg_session *s = NULL;

    FUZZ_CHECK(secmsg_session_deserialize(&s, state, state_len) == SECMSG_OK);
    if (fuzz_decrypt_checked(s, data, size) == SECMSG_OK) {
        FUZZ_CHECK(fuzz_encrypt_checked(s) == SECMSG_OK);
    }
    secmsg_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    try_session(fixture_bob_session, sizeof fixture_bob_session, data, size);
    try_session(fixture_alice_session, sizeof fixture_alice_session, data, size);
    return 0;
}
