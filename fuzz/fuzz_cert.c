/*
 * Fuzzes device certificates: secmsg__cert_verify on the input as binary,
 * and secmsg__cert_from_text on the input as text (then verify).
 *
 * Properties: verify returns OK, MALFORMED, VERSION or SIGNATURE and on
 * error leaves the struct zeroed. An accepted certificate is canonical: the
 * decoded fields with the input's own signature (the last field, so the
 * input's last 64 bytes) re-encode to exactly the input; its identity
 * verifies; its role is caseworker or journal. Its text form converts back
 * to the same bytes. Re-signed by a fixed test root, the same fields give
 * a certificate that verifies to the same fields. An accepted text is the
 * canonical text of its bytes, up to surrounding whitespace.
 */
#include "client.pb-c.h"
#include "fuzz.h"
#include "wire/client_codec.h"
#include "wire/codec.h"
#include "wire/relay_codec.h"

#define TEXT_MAX 1024U

static void check_cert(const uint8_t *in, size_t len)
{
    static const secmsg__cert zero;
    secmsg__cert c, again;

    int rc = secmsg__cert_verify(&c, in, len);
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED || rc == SECMSG_E_VERSION ||
               rc == SECMSG_E_SIGNATURE);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(memcmp(&c, &zero, sizeof c) == 0);
        return;
    }
    FUZZ_CHECK(len <= SECMSG__CERT_MAX && len > SECMSG__SIG_BYTES);
    FUZZ_CHECK(c.role == 2 || c.role == 3);
    FUZZ_CHECK(secmsg__relay_user_id_valid(c.user_id));
    FUZZ_CHECK(c.not_after != 0);
    FUZZ_CHECK(secmsg_identity_public_verify(c.identity, c.identity_len) == SECMSG_OK);

    /* Re-encode the fields with the input's signature. */
    Secmsg__Client__Certificate m = SECMSG__CLIENT__CERTIFICATE__INIT;
    m.has_version = 1;
    m.version = 1;
    m.has_root_pub = 1;
    m.root_pub.data = c.root_pub;
    m.root_pub.len = sizeof c.root_pub;
    m.user_id = c.user_id;
    m.has_role = 1;
    m.role = c.role;
    m.has_identity = 1;
    m.identity.data = c.identity;
    m.identity.len = c.identity_len;
    m.has_not_after = 1;
    m.not_after = c.not_after;
    m.has_sig = 1;
    m.sig.data = (uint8_t *)fuzz_alloc(SECMSG__SIG_BYTES);
    memcpy(m.sig.data, in + len - SECMSG__SIG_BYTES, SECMSG__SIG_BYTES);
    m.sig.len = SECMSG__SIG_BYTES;
    size_t n = protobuf_c_message_get_packed_size(&m.base);
    uint8_t *re = fuzz_alloc(n);
    protobuf_c_message_pack(&m.base, re);
    FUZZ_CHECK(fuzz_equal(re, n, in, len));
    free(re);
    free(m.sig.data);

    /* Text form round trip. */
    char text[TEXT_MAX];
    size_t tlen = 0, blen = 0;
    uint8_t bin[SECMSG__CERT_MAX];
    FUZZ_CHECK(secmsg__cert_to_text(in, len, text, sizeof text, &tlen) == SECMSG_OK);
    FUZZ_CHECK(secmsg__cert_from_text(bin, sizeof bin, &blen, text) == SECMSG_OK);
    FUZZ_CHECK(fuzz_equal(bin, blen, in, len));

    /* Re-signed by a test root: verifies to the same fields. */
    uint8_t seed[32], pk[32], sk[64];
    memset(seed, 0x5a, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    secmsg__cert mine = c;
    memcpy(mine.root_pub, pk, sizeof pk);
    uint8_t out[SECMSG__CERT_MAX];
    size_t out_len = 0;
    FUZZ_CHECK(secmsg__cert_sign(&mine, sk, out, sizeof out, &out_len) == SECMSG_OK);
    FUZZ_CHECK(secmsg__cert_verify(&again, out, out_len) == SECMSG_OK);
    FUZZ_CHECK(memcmp(&again, &mine, sizeof mine) == 0);
    sodium_memzero(sk, sizeof sk);
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();

    uint8_t *copy = fuzz_alloc(size);
    if (size > 0)
        memcpy(copy, data, size);
    check_cert(copy, size);
    free(copy);

    /* The input as certificate text (NUL-terminated at its first NUL). */
    char *text = (char *)fuzz_alloc(size + 1);
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';
    uint8_t bin[SECMSG__CERT_MAX];
    size_t n = 0;
    int rc = secmsg__cert_from_text(bin, sizeof bin, &n, text);
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED);
    if (rc == SECMSG_OK) {
        FUZZ_CHECK(n >= 1 && n <= SECMSG__CERT_MAX);
        char canon[TEXT_MAX];
        size_t clen = 0;
        FUZZ_CHECK(secmsg__cert_to_text(bin, n, canon, sizeof canon, &clen) == SECMSG_OK);
        const char *p = text;
        size_t len = strlen(text);
        while (len > 0 && is_space(p[0])) {
            p++;
            len--;
        }
        while (len > 0 && is_space(p[len - 1]))
            len--;
        FUZZ_CHECK(fuzz_equal((const uint8_t *)p, len, (const uint8_t *)canon, clen));
        check_cert(bin, n);
    }
    free(text);
    return 0;
}
