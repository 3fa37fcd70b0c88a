/*
 * Fuzzes the store's key-file parser (src/store/keyfile.h), the only code
 * that reads key-file bytes, and what an open does with a parsed file
 * before the KDF: the MAC check and the unwrap.
 *
 * Properties: the parser answers OK, MALFORMED or VERSION and nothing else;
 * an accepted file is exactly SECMSG__KEYFILE_BYTES long, has every field
 * within its bounds (so no stored cost can make an unlock allocate more than
 * 1 GiB) and re-encodes to the same bytes. The MAC check only passes for
 * files sealed with the fixture's device secret (the seed corpus holds
 * some), and then unwrapping with the fixture's keys either gives the
 * fixture's database key or fails with the output zeroed.
 */
#include "fuzz.h"
#include "store/keyfile.h"

/* The fixture: the seeds valid-* were sealed with this device secret and
 * wrapped under these KEKs (PIN wrap and platform wrap). */
static const uint8_t SECRET[32] = "fuzz keyfile device secret 0001";
static const uint8_t PIN_KEK[32] = "fuzz keyfile pin kek 0000000001";
static const uint8_t PLAT_KEK[32] = "fuzz keyfile platform kek 00001";
static const uint8_t DB_KEY[32] = "fuzz keyfile database key 00001";

static void check_unwrap(const secmsg__keyfile *kf, secmsg__keyfile_kind kind,
                         const uint8_t kek[32])
{
    uint8_t key[SECMSG__DB_KEY_BYTES];
    memset(key, 0xaa, sizeof key);
    if (secmsg__keyfile_unwrap(key, kf, kind, kek) == SECMSG_OK)
        FUZZ_CHECK(memcmp(key, DB_KEY, sizeof key) == 0);
    else
        FUZZ_CHECK(sodium_is_zero(key, sizeof key));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    secmsg__keyfile kf;
    uint8_t again[SECMSG__KEYFILE_BYTES], kmac[32];

    fuzz_init();
    int rc = secmsg__keyfile_parse(&kf, data, size);
    FUZZ_CHECK(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED || rc == SECMSG_E_VERSION);
    if (rc != SECMSG_OK) {
        FUZZ_CHECK(sodium_is_zero((const uint8_t *)&kf, sizeof kf));
        return 0;
    }
    FUZZ_CHECK(size == SECMSG__KEYFILE_BYTES);
    FUZZ_CHECK(kf.kdf_ops >= SECMSG__KDF_OPS_MIN && kf.kdf_ops <= SECMSG__KDF_OPS_MAX);
    FUZZ_CHECK(kf.kdf_mem_kib >= SECMSG__KDF_MEM_KIB_MIN &&
               kf.kdf_mem_kib <= SECMSG__KDF_MEM_KIB_MAX);
    FUZZ_CHECK(kf.max_failures >= 1 && kf.max_failures <= SECMSG__PIN_MAX_FAILURES_MAX);
    FUZZ_CHECK(kf.failures <= kf.max_failures);
    secmsg__keyfile_encode(again, &kf);
    FUZZ_CHECK(memcmp(again, data, size) == 0);

    secmsg__keyfile_mac_key(kmac, SECRET, sizeof SECRET);
    if (secmsg__keyfile_verify(&kf, kmac) != SECMSG_OK)
        return 0;
    check_unwrap(&kf, SECMSG__WRAP_PIN, PIN_KEK);
    check_unwrap(&kf, SECMSG__WRAP_PLATFORM, PLAT_KEK);
    /* A wrap never opens under the other kind's key. */
    uint8_t key[SECMSG__DB_KEY_BYTES];
    FUZZ_CHECK(secmsg__keyfile_unwrap(key, &kf, SECMSG__WRAP_PIN, PLAT_KEK) != SECMSG_OK);
    FUZZ_CHECK(secmsg__keyfile_unwrap(key, &kf, SECMSG__WRAP_PLATFORM, PIN_KEK) != SECMSG_OK);
    return 0;
}
