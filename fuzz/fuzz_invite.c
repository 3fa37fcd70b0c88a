/*
 * Fuzzes the invite parser (secmsg__invite_parse), twice per input: the
 * input as invite text, and the input as the Invite protobuf inside a text
 * (prefix + base64url of the input), so mutations reach the protobuf checks
 * without having to keep the base64 valid.
 *
 * Properties: OK, MALFORMED or VERSION only; a failed parse leaves the
 * struct zeroed. An accepted text is canonical: formatting what was parsed
 * gives exactly the input without its surrounding whitespace, and that
 * parses back to the same struct. Every accepted invite has a URL with an
 * http(s) scheme and no trailing '/', a valid user id and a non-zero expiry.
 */
#include "fuzz.h"
#include "secmsg/client.h"
#include "wire/client_codec.h"
#include "wire/relay_codec.h"

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void check_parse(const char *text, size_t len)
{
    static const secmsg__invite zero;
    secmsg__invite inv, again;
    char out[SECMSG_INVITE_MAX];
    size_t out_len = 0;

    int rc = secmsg__invite_parse(&inv, text, len);
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED || rc == SECMSG_E_VERSION);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(memcmp(&inv, &zero, sizeof inv) == 0);
        return;
    }

    size_t url_len = strnlen(inv.relay_url, sizeof inv.relay_url);
    FUZZ_CHECK(url_len >= 8 && url_len < sizeof inv.relay_url);
    FUZZ_CHECK(strncmp(inv.relay_url, "http://", 7) == 0 ||
               strncmp(inv.relay_url, "https://", 8) == 0);
    FUZZ_CHECK(inv.relay_url[url_len - 1] != '/');
    FUZZ_CHECK(strnlen(inv.caseworker, sizeof inv.caseworker) < sizeof inv.caseworker);
    FUZZ_CHECK(secmsg__relay_user_id_valid(inv.caseworker));
    FUZZ_CHECK(inv.expires != 0);

    FUZZ_CHECK(secmsg__invite_format(&inv, out, sizeof out, &out_len) == SECMSG_OK);
    FUZZ_CHECK(strlen(out) == out_len);

    /* The input minus surrounding whitespace is exactly the canonical text. */
    const uint8_t *p = (const uint8_t *)text;
    size_t n = len;
    while (n > 0 && is_space(p[0])) {
        p++;
        n--;
    }
    while (n > 0 && is_space(p[n - 1]))
        n--;
    FUZZ_CHECK(fuzz_equal(p, n, (const uint8_t *)out, out_len));

    FUZZ_CHECK(secmsg__invite_parse(&again, out, out_len) == SECMSG_OK);
    FUZZ_CHECK(memcmp(&inv, &again, sizeof inv) == 0);
    sodium_memzero(&inv, sizeof inv);
    sodium_memzero(&again, sizeof again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();

    /* 1: the input is the text. */
    char *text = (char *)fuzz_alloc(size);
    if (size > 0)
        memcpy(text, data, size);
    check_parse(text, size);
    free(text);

    /* 2: the input is the protobuf inside a text. */
    size_t plen = strlen(SECMSG__INVITE_PREFIX), blen = 0;
    FUZZ_CHECK(secmsg__b64url_encode(NULL, 0, &blen, data, size) == SECMSG_E_BUFFER_TOO_SMALL);
    char *wrapped = (char *)fuzz_alloc(plen + blen + 1);
    memcpy(wrapped, SECMSG__INVITE_PREFIX, plen);
    size_t got = 0;
    FUZZ_CHECK(secmsg__b64url_encode(wrapped + plen, blen + 1, &got, data, size) == SECMSG_OK);
    FUZZ_CHECK(got == blen);
    check_parse(wrapped, plen + blen);
    free(wrapped);
    return 0;
}
