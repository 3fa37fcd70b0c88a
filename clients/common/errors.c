/*
 * errors.c - every library error becomes a sentence a person understands
 * and one of the documented exit statuses (spec/client-cli.md).
 */
#include <string.h>

#include "cli.h"

int cli_exit_code(int err)
{
    switch (err) {
    case SECMSG_OK:
        return CLI_EXIT_OK;
    case SECMSG_E_INVALID_ARG:
        return CLI_EXIT_USAGE;
    case SECMSG_E_WRONG_PIN:
    case SECMSG_E_LOCKED:
        return CLI_EXIT_PIN;
    case SECMSG_E_NETWORK:
    case SECMSG_E_RELAY:
        return CLI_EXIT_NETWORK;
    case SECMSG_E_PERMISSION:
    case SECMSG_E_TAMPERED:
    case SECMSG_E_UNTRUSTED:
    case SECMSG_E_SIGNATURE:
    case SECMSG_E_DECRYPT:
        return CLI_EXIT_TRUST;
    case SECMSG_E_EXPIRED:
        return CLI_EXIT_EXPIRED;
    case SECMSG_E_NOT_FOUND:
        return CLI_EXIT_NOT_FOUND;
    default:
        return CLI_EXIT_FAILURE;
    }
}

const char *cli_error_sentence(int err)
{
    switch (err) {
    case SECMSG_E_INVALID_ARG:
        return "an argument is not valid";
    case SECMSG_E_BUFFER_TOO_SMALL:
        return "an internal buffer was too small";
    case SECMSG_E_NOMEM:
        return "out of memory";
    case SECMSG_E_MALFORMED:
        return "the data is not in the expected form";
    case SECMSG_E_VERSION:
        return "it uses a protocol version this program does not speak";
    case SECMSG_E_SIGNATURE:
        return "a signature did not verify: the data is forged or signed by another key";
    case SECMSG_E_DECRYPT:
        return "a message failed authentication: it was tampered with or is not for this "
               "device";
    case SECMSG_E_DUPLICATE:
        return "this message was already received";
    case SECMSG_E_TOO_FAR:
        return "too many messages were skipped";
    case SECMSG_E_UNKNOWN_PREKEY:
        return "the message uses a prekey this device no longer has";
    case SECMSG_E_STATE:
        return "that is not possible in the current state";
    case SECMSG_E_CRYPTO:
        return "a cryptographic operation failed";
    case SECMSG_E_INIT:
        return "the crypto library failed to initialise";
    case SECMSG_E_WRONG_PIN:
        return "wrong PIN";
    case SECMSG_E_LOCKED:
        return "the store is locked after too many wrong PINs";
    case SECMSG_E_NOT_FOUND:
        return "not found";
    case SECMSG_E_EXISTS:
        return "it already exists";
    case SECMSG_E_PERMISSION:
        return "a store file is readable by others";
    case SECMSG_E_STORE:
        return "the local store failed (disk full or damaged?); nothing was changed";
    case SECMSG_E_NETWORK:
        return "the relay cannot be reached";
    case SECMSG_E_RELAY:
        return "the relay refused the request";
    case SECMSG_E_UNTRUSTED:
        return "the keys do not match what the invite or certificate promised; nothing was "
               "trusted";
    case SECMSG_E_EXPIRED:
        return "it has expired";
    case SECMSG_E_TAMPERED:
        return "a store file was modified by someone without the device secret";
    default:
        return "unexpected error";
    }
}

/* The one place that prints an error: stderr always, stdout as JSON. */
static int emit(cli_ctx *ctx, int code, int err, const char *key, uint64_t value,
                const char *msg)
{
    cli_json j;

    if (ctx->command != NULL) {
        fprintf(stderr, "%s: %s: %s\n", ctx->prog->name, ctx->command, msg);
    } else {
        fprintf(stderr, "%s: %s\n", ctx->prog->name, msg);
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "error", msg);
        cli_json_int(&j, "code", code);
        if (err != SECMSG_OK) {
            cli_json_int(&j, "secmsg_error", err);
        }
        if (key != NULL) {
            cli_json_uint(&j, key, value);
        }
        cli_json_end(&j);
    }
    return code;
}

int cli_error(cli_ctx *ctx, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return emit(ctx, code, SECMSG_OK, NULL, 0, msg);
}

int cli_lib_error(cli_ctx *ctx, const secmsg_client *c, int err, const char *what)
{
    char msg[1024];
    const char *detail = c != NULL ? secmsg_client_last_error(c) : "";

    if (detail[0] != '\0') {
        snprintf(msg, sizeof msg, "%s: %s (%s)", what, cli_error_sentence(err), detail);
    } else {
        snprintf(msg, sizeof msg, "%s: %s", what, cli_error_sentence(err));
    }
    return emit(ctx, cli_exit_code(err), err, NULL, 0, msg);
}

int cli_wrong_pin(cli_ctx *ctx, uint32_t attempts_left)
{
    char msg[128];

    snprintf(msg, sizeof msg, "wrong PIN; %u attempt%s left before the store is locked",
             attempts_left, attempts_left == 1 ? "" : "s");
    return emit(ctx, CLI_EXIT_PIN, SECMSG_E_WRONG_PIN, "attempts_left", attempts_left, msg);
}

void cli_note(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", ctx->prog->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
