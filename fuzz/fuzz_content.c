/*
 * Fuzzes Content, the plaintext inside every session message
 * (secmsg__content_decode).
 *
 * Properties: OK, MALFORMED or VERSION only, and nothing allocated on
 * error. An accepted Content has exactly its kind's field; text is 1..65536
 * bytes, NUL-terminated. Re-encoding gives a multiple of 64 bytes that
 * decodes to the same fields and re-encodes to itself; it equals the input
 * up to the padding field (the last field: padding is optional and its size
 * free on input, but every byte before it is canonical).
 */
#include "client.pb-c.h"
#include "fuzz.h"
#include "secmsg/client.h"
#include "wire/client_codec.h"
#include "wire/codec.h"

/* Bytes of enc (a canonical encoding) before its padding field. */
static size_t unpadded_len(const uint8_t *enc, size_t len)
{
    Secmsg__Client__Content *m = secmsg__client__content__unpack(NULL, len, enc);
    FUZZ_CHECK(m != NULL);
    size_t n = len;
    if (m->has_padding)
        n -= 1U + secmsg__varint_len(m->padding.len) + m->padding.len;
    secmsg__client__content__free_unpacked(m, NULL);
    return n;
}

static void same_fields(const secmsg__content *a, const secmsg__content *b)
{
    FUZZ_CHECK(a->kind == b->kind && a->sent_at == b->sent_at);
    FUZZ_CHECK(memcmp(a->message_id, b->message_id, sizeof a->message_id) == 0);
    FUZZ_CHECK(memcmp(a->invite_secret, b->invite_secret, sizeof a->invite_secret) == 0);
    FUZZ_CHECK(fuzz_equal(a->text, a->text_len, b->text, b->text_len));
    FUZZ_CHECK(fuzz_equal(a->cert, a->cert_len, b->cert, b->cert_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    secmsg__content c, again;
    uint8_t *enc = NULL, *enc2 = NULL;
    size_t n = 0, n2 = 0;

    fuzz_init();
    int rc = secmsg__content_decode(&c, data, size);
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED || rc == SECMSG_E_VERSION);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(c.text == NULL && c.cert == NULL);
        return 0;
    }

    switch (c.kind) {
    case SECMSG__CONTENT_TEXT:
        FUZZ_CHECK(c.text != NULL && c.cert == NULL);
        FUZZ_CHECK(c.text_len >= 1 && c.text_len <= SECMSG_MAX_TEXT);
        FUZZ_CHECK(c.text[c.text_len] == '\0' && memchr(c.text, '\0', c.text_len) == NULL);
        break;
    case SECMSG__CONTENT_HELLO:
        FUZZ_CHECK(c.text == NULL && c.cert == NULL);
        break;
    case SECMSG__CONTENT_WELCOME:
        FUZZ_CHECK(c.text == NULL && c.cert != NULL);
        FUZZ_CHECK(c.cert_len >= 1 && c.cert_len <= SECMSG__CERT_MAX);
        break;
    default:
        FUZZ_CHECK(0);
    }

    FUZZ_CHECK(secmsg__content_encode(&c, &enc, &n) == SECMSG_OK);
    FUZZ_CHECK(n % 64 == 0);
    FUZZ_CHECK(secmsg__content_decode(&again, enc, n) == SECMSG_OK);
    same_fields(&c, &again);
    FUZZ_CHECK(secmsg__content_encode(&again, &enc2, &n2) == SECMSG_OK);
    FUZZ_CHECK(fuzz_equal(enc, n, enc2, n2));

    size_t base = unpadded_len(enc, n);
    FUZZ_CHECK(unpadded_len(data, size) == base);
    FUZZ_CHECK(fuzz_equal(enc, base, data, base));

    fuzz_free_secret(enc, n);
    fuzz_free_secret(enc2, n2);
    secmsg__content_free(&again);
    secmsg__content_free(&c);
    return 0;
}
