#include <sodium.h>

#include "secmsg/common.h"

int secmsg_init(void)
{
    /* sodium_init() is itself idempotent and thread-safe. */
    return sodium_init() < 0 ? SECMSG_E_INIT : SECMSG_OK;
}

const char *secmsg_version_string(void)
{
    return "0.1.0";
}

const char *secmsg_strerror(int err)
{
    switch ((secmsg_error)err) {
    case SECMSG_OK:
        return "success";
    case SECMSG_E_INVALID_ARG:
        return "invalid argument";
    case SECMSG_E_BUFFER_TOO_SMALL:
        return "output buffer too small";
    case SECMSG_E_NOMEM:
        return "out of memory";
    case SECMSG_E_MALFORMED:
        return "malformed input";
    case SECMSG_E_VERSION:
        return "unsupported protocol version";
    case SECMSG_E_SIGNATURE:
        return "signature verification failed";
    case SECMSG_E_DECRYPT:
        return "message authentication failed";
    case SECMSG_E_DUPLICATE:
        return "message already received (duplicate or replay)";
    case SECMSG_E_TOO_FAR:
        return "message too far ahead in its chain";
    case SECMSG_E_UNKNOWN_PREKEY:
        return "unknown or already used prekey";
    case SECMSG_E_STATE:
        return "operation not valid in the current state";
    case SECMSG_E_CRYPTO:
        return "invalid key or cryptographic failure";
    case SECMSG_E_INIT:
        return "library not initialised";
    case SECMSG_E_WRONG_PIN:
        return "wrong PIN";
    case SECMSG_E_LOCKED:
        return "store locked after too many wrong PINs";
    case SECMSG_E_NOT_FOUND:
        return "not found";
    case SECMSG_E_EXISTS:
        return "already exists";
    case SECMSG_E_PERMISSION:
        return "file permissions too loose";
    case SECMSG_E_STORE:
        return "local storage failure";
    case SECMSG_E_NETWORK:
        return "relay unreachable";
    case SECMSG_E_RELAY:
        return "relay refused the request";
    case SECMSG_E_UNTRUSTED:
        return "keys do not match the invite or certificate";
    case SECMSG_E_EXPIRED:
        return "expired";
    case SECMSG_E_TAMPERED:
        return "stored file was tampered with";
    }
    return "unknown error";
}
