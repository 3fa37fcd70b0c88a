/*
 * Fuzzes secmsg_message_info(), the router every incoming message meets
 * first.
 *
 * Properties: with and without the sender buffer the call agrees on success
 * and on the type; the type is one of the two defined; an initial message's
 * sender fits the buffer. Output buffers are heap-allocated at exactly their
 * stated capacity so ASan catches any write past it, including with a
 * capacity too small for an identity.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int type = 0, type2 = 0, type3 = 0;
    size_t sender_len = 0, small_len = 0;
    uint8_t *sender = fuzz_alloc(SECMSG_IDENTITY_PUBLIC_BYTES);
    uint8_t *small = fuzz_alloc(1);

    fuzz_init();

    int rc = secmsg_message_info(data, size, &type, NULL, 0, NULL);
    int rc2 = secmsg_message_info(data, size, &type2, sender, SECMSG_IDENTITY_PUBLIC_BYTES,
                                  &sender_len);
    int rc3 = secmsg_message_info(data, size, &type3, small, 1, &small_len);

    if (rc != SECMSG_OK) {
        FUZZ_CHECK(rc2 != SECMSG_OK && rc3 != SECMSG_OK);
    } else {
        FUZZ_CHECK(type == SECMSG_MESSAGE_RATCHET || type == SECMSG_MESSAGE_INITIAL);
        FUZZ_CHECK(rc2 == SECMSG_OK || rc2 == SECMSG_E_BUFFER_TOO_SMALL);
        if (rc2 == SECMSG_OK) {
            FUZZ_CHECK(type2 == type);
            if (type == SECMSG_MESSAGE_INITIAL) {
                FUZZ_CHECK(sender_len > 0 && sender_len <= SECMSG_IDENTITY_PUBLIC_BYTES);
            }
        }
        /* A one-byte buffer may be refused outright; if it is accepted, no
         * sender was written, so the message must be a ratchet message. */
        FUZZ_CHECK(rc3 == SECMSG_OK || rc3 == SECMSG_E_BUFFER_TOO_SMALL ||
                   rc3 == SECMSG_E_INVALID_ARG);
        if (rc3 == SECMSG_OK) {
            FUZZ_CHECK(type3 == type && type == SECMSG_MESSAGE_RATCHET);
        }
        if (type == SECMSG_MESSAGE_RATCHET) {
            FUZZ_CHECK(rc2 == SECMSG_OK);
        }
    }

    free(small);
    free(sender);
    return 0;
}
