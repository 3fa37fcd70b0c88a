/*
 * Fuzzes the relay's InviteRequest decoder (POST /v1/invites) and the user
 * id check the relay applies to what it decodes.
 *
 * Properties: those of every relay decoder (fuzz_relay.h). The decoder
 * judges only the encoding; the user id's form is the relay's to judge
 * (400 bad_user_id): whatever secmsg__relay_user_id_valid() accepts is
 * 1..SECMSG__RELAY_USER_ID_MAX bytes of [A-Za-z0-9._-] and not "." or "..".
 */
#include "fuzz_relay.h"

static int redecode(ProtobufCMessage **out, const uint8_t *in, size_t len)
{
    Secmsg__Relay__InviteRequest *m = NULL;
    int rc = secmsg__relay_decode_invite(&m, in, len);
    *out = (ProtobufCMessage *)(void *)m;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Secmsg__Relay__InviteRequest *m = NULL;

    fuzz_init();
    int rc = secmsg__relay_decode_invite(&m, data, size);
    if (m != NULL && m->user_id != NULL && secmsg__relay_user_id_valid(m->user_id)) {
        size_t n = strlen(m->user_id);
        FUZZ_CHECK(n >= 1 && n <= SECMSG__RELAY_USER_ID_MAX);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                              m->user_id[i]) != NULL);
        FUZZ_CHECK(strcmp(m->user_id, ".") != 0 && strcmp(m->user_id, "..") != 0);
    }
    fuzz_relay_check(rc, (ProtobufCMessage *)(void *)m, data, size, 0, redecode);
    return 0;
}
