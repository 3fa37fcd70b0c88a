/*
 * Fuzzes relay_auth_verify() (server-relay/auth), the bearer-token check
 * every authenticated request goes through, with a fixed token key.
 * Input: le64(now) || token bytes.
 *
 * Properties: any length but RELAY_AUTH_TOKEN_BYTES is MALFORMED; a token
 * whose MAC differs from BLAKE2b-256(key, "secmsg relay token v1" || first
 * 40 bytes), recomputed here with libsodium's one-shot function, is FORGED,
 * whatever its expiry; a token with the right MAC is EXPIRED exactly when
 * now > its le64 expiry, and otherwise OK with the device id it carries.
 * A failed call leaves device_id untouched.
 */
#include "fuzz.h"

#include "auth/auth.h"

static const char label[] = "secmsg relay token v1";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[RELAY_AUTH_KEY_BYTES], dev[32], mac[32];
    uint8_t macin[sizeof label - 1 + 40];
    relay_auth *a = NULL;
    uint64_t now = 0;

    fuzz_init();
    if (size < 8)
        return 0;
    for (unsigned i = 0; i < 8; i++)
        now |= (uint64_t)data[i] << (8U * i);
    const uint8_t *tok = data + 8;
    size_t len = size - 8;

    for (unsigned i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(0xa0U + i);
    FUZZ_CHECK(relay_auth_new(&a, key, 60, 3600, 1) == RELAY_AUTH_OK);

    memset(dev, 0xee, sizeof dev);
    int rc = relay_auth_verify(a, tok, len, now, dev);
    if (len != RELAY_AUTH_TOKEN_BYTES) {
        FUZZ_CHECK(rc == RELAY_AUTH_E_MALFORMED);
    } else {
        uint64_t expires = 0;
        for (unsigned i = 0; i < 8; i++)
            expires |= (uint64_t)tok[32 + i] << (8U * i);
        memcpy(macin, label, sizeof label - 1);
        memcpy(macin + sizeof label - 1, tok, 40);
        crypto_generichash(mac, sizeof mac, macin, sizeof macin, key, sizeof key);
        if (sodium_memcmp(mac, tok + 40, 32) != 0)
            FUZZ_CHECK(rc == RELAY_AUTH_E_FORGED);
        else if (now > expires)
            FUZZ_CHECK(rc == RELAY_AUTH_E_EXPIRED);
        else
            FUZZ_CHECK(rc == RELAY_AUTH_OK && memcmp(dev, tok, 32) == 0);
    }
    if (rc != RELAY_AUTH_OK)
        for (unsigned i = 0; i < sizeof dev; i++)
            FUZZ_CHECK(dev[i] == 0xee);

    relay_auth_free(a);
    return 0;
}
