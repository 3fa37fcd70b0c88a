/*
 * Fuzzes a peer's identity public: secmsg_identity_public_verify(), the
 * fingerprint, and the safety number / QR code built from it.
 *
 * Properties: the fingerprint accepts exactly what verify accepts, with the
 * same error; for a valid key, fingerprint and safety numbers are
 * deterministic and order-independent, and a QR code verifies against the
 * pair it was made from.
 */
#include "fixtures.h"
#include "fuzz.h"

static void check_pair(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    char ab[SECMSG_SAFETY_NUMBER_BYTES], ba[SECMSG_SAFETY_NUMBER_BYTES];
    uint8_t qr_ab[SECMSG_SAFETY_QR_BYTES], qr_ba[SECMSG_SAFETY_QR_BYTES];

    FUZZ_CHECK(secmsg_safety_number(ab, a, a_len, b, b_len) == SECMSG_OK);
    FUZZ_CHECK(secmsg_safety_number(ba, b, b_len, a, a_len) == SECMSG_OK);
    FUZZ_CHECK(memcmp(ab, ba, sizeof ab) == 0);
    FUZZ_CHECK(ab[SECMSG_SAFETY_NUMBER_BYTES - 1] == '\0');
    for (size_t i = 0; i + 1 < SECMSG_SAFETY_NUMBER_BYTES; i++) {
        FUZZ_CHECK(ab[i] >= '0' && ab[i] <= '9');
    }

    FUZZ_CHECK(secmsg_safety_qr(qr_ab, a, a_len, b, b_len) == SECMSG_OK);
    FUZZ_CHECK(secmsg_safety_qr(qr_ba, b, b_len, a, a_len) == SECMSG_OK);
    FUZZ_CHECK(memcmp(qr_ab, qr_ba, sizeof qr_ab) == 0);
    FUZZ_CHECK(secmsg_safety_qr_verify(qr_ab, sizeof qr_ab, a, a_len, b, b_len) == SECMSG_OK);
    FUZZ_CHECK(secmsg_safety_qr_verify(qr_ab, sizeof qr_ab - 1, a, a_len, b, b_len) ==
               SECMSG_E_MALFORMED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t fp[SECMSG_FINGERPRINT_BYTES], fp2[SECMSG_FINGERPRINT_BYTES];
    char sn[SECMSG_SAFETY_NUMBER_BYTES];

    fuzz_init();

    int rc = secmsg_identity_public_verify(data, size);
    int frc = secmsg_identity_fingerprint(fp, data, size);
    FUZZ_CHECK(frc == rc);

    /* A fuzzed key paired with a valid one fails exactly as verify did. */
    int src = secmsg_safety_number(sn, fixture_alice_public, sizeof fixture_alice_public, data,
                                   size);
    FUZZ_CHECK(src == rc);

    if (rc == SECMSG_OK) {
        FUZZ_CHECK(size == SECMSG_IDENTITY_PUBLIC_BYTES);
        FUZZ_CHECK(secmsg_identity_fingerprint(fp2, data, size) == SECMSG_OK);
        FUZZ_CHECK(memcmp(fp, fp2, sizeof fp) == 0);
        check_pair(fixture_alice_public, sizeof fixture_alice_public, data, size);
        check_pair(data, size, data, size);
    }
    return 0;
}
