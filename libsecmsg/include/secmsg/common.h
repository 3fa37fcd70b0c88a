/*
 * secmsg/common.h - library initialisation, error codes, export macro.
 *
 * Thread-safety: secmsg_init() may be called from any thread, any number of
 * times. Every other function is safe to call concurrently on *different*
 * objects; one object must not be used from two threads at once.
 */
#ifndef SECMSG_COMMON_H
#define SECMSG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(SECMSG_BUILDING) && defined(__GNUC__)
#define SECMSG_API __attribute__((visibility("default")))
#else
#define SECMSG_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Protocol version (= cipher suite id) this library speaks on the wire. */
#define SECMSG_PROTOCOL_VERSION 1

/**
 * Error codes. Every fallible function returns SECMSG_OK (0) or one of these
 * negative values. A call that fails leaves its outputs untouched (or zeroed)
 * and every object it was given exactly as it was before the call.
 */
typedef enum secmsg_error {
    SECMSG_OK = 0,
    /** A NULL pointer, zero length or out-of-range value where not allowed. */
    SECMSG_E_INVALID_ARG = -1,
    /** The caller's output buffer is too small; *out_len holds the size needed. */
    SECMSG_E_BUFFER_TOO_SMALL = -2,
    /** Memory allocation failed. */
    SECMSG_E_NOMEM = -3,
    /** Input bytes do not parse, exceed a limit, or lack a required field. */
    SECMSG_E_MALFORMED = -4,
    /** Input is well-formed but uses a protocol version/suite we do not speak. */
    SECMSG_E_VERSION = -5,
    /** A signature did not verify (identity binding, signed prekey). */
    SECMSG_E_SIGNATURE = -6,
    /** Authentication failed: tampered, truncated, wrong key or wrong AD. */
    SECMSG_E_DECRYPT = -7,
    /** This message was already decrypted once (replay or duplicate). */
    SECMSG_E_DUPLICATE = -8,
    /** The message is further ahead in its chain than the skip limit allows. */
    SECMSG_E_TOO_FAR = -9,
    /** The referenced prekey is unknown or its one-time prekey was consumed. */
    SECMSG_E_UNKNOWN_PREKEY = -10,
    /** The call is not valid in the object's current state. */
    SECMSG_E_STATE = -11,
    /** A key is invalid (e.g. a low-order X25519 point) or a primitive failed. */
    SECMSG_E_CRYPTO = -12,
    /** The library was not initialised (secmsg_init) or failed to. */
    SECMSG_E_INIT = -13,
    /** The PIN (or platform key) is wrong; the failure was counted. */
    SECMSG_E_WRONG_PIN = -14,
    /** Too many wrong PINs: the store is locked. */
    SECMSG_E_LOCKED = -15,
    /** The named object (store, contact, message, invite) does not exist. */
    SECMSG_E_NOT_FOUND = -16,
    /** The object to be created already exists. */
    SECMSG_E_EXISTS = -17,
    /** A file's permissions are too loose (readable by group or others). */
    SECMSG_E_PERMISSION = -18,
    /** The local database or file system failed; nothing was changed. */
    SECMSG_E_STORE = -19,
    /** No answer from the relay (unreachable, timeout, TLS failure). */
    SECMSG_E_NETWORK = -20,
    /** The relay answered with an error (see the client's last error). */
    SECMSG_E_RELAY = -21,
    /** Keys do not match what an invite or certificate promised. */
    SECMSG_E_UNTRUSTED = -22,
    /** An invite, token or certificate has expired. */
    SECMSG_E_EXPIRED = -23,
    /** A stored file was modified by someone without the device secret. */
    SECMSG_E_TAMPERED = -24
} secmsg_error;

/**
 * Initialises the library (libsodium underneath). Call once before anything
 * else; further calls are no-ops. Returns SECMSG_OK or SECMSG_E_INIT.
 */
SECMSG_API int secmsg_init(void);

/**
 * Static English text for an error code; never NULL, never contains secrets.
 * Unknown codes give "unknown error".
 */
SECMSG_API const char *secmsg_strerror(int err);

/** The library's version string, e.g. "0.1.0". Static, never NULL. */
SECMSG_API const char *secmsg_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
