/* Relay authentication (server-relay/auth/auth.h): enrollment-token hashes,
 * registration signatures with real identities, challenge nonces (single
 * use, expiry, the cache bound, concurrency) and bearer tokens (layout,
 * expiry, every forgery of one bit). MACs and hashes are recomputed here
 * independently with libsodium's one-shot functions. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "helpers.h"
#include "session/internal.h"

#define T0 ((uint64_t)1700000000U)
#define NONCE_TTL 60U
#define TOKEN_TTL 3600U

static uint8_t test_key[RELAY_AUTH_KEY_BYTES];

/* A device: Ed25519 key pair; device id = public key. */
typedef struct device {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
} device;

static void device_new(device *d)
{
    crypto_sign_keypair(d->pk, d->sk);
}

/* sig = Ed25519(sk, "secmsg relay auth v1" || nonce || device_id) */
static void sign_challenge(uint8_t sig[64], const device *d, const uint8_t nonce[32],
                           const uint8_t device_id[32])
{
    static const char label[] = "secmsg relay auth v1";
    uint8_t msg[sizeof label - 1 + 64];
    memcpy(msg, label, sizeof label - 1);
    memcpy(msg + sizeof label - 1, nonce, 32);
    memcpy(msg + sizeof label - 1 + 32, device_id, 32);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, d->sk);
}

static relay_auth *auth_new(size_t max_outstanding)
{
    relay_auth *a = NULL;
    cr_assert_eq(relay_auth_new(&a, test_key, NONCE_TTL, TOKEN_TTL, max_outstanding),
                 RELAY_AUTH_OK);
    cr_assert_not_null(a);
    return a;
}

/* Challenge at `now`, sign, redeem at `now`: a token (asserts success). */
static uint64_t login(relay_auth *a, const device *d, uint64_t now,
                      uint8_t token[RELAY_AUTH_TOKEN_BYTES])
{
    uint8_t nonce[32], sig[64];
    uint64_t nexp = 0, texp = 0;
    cr_assert_eq(relay_auth_challenge(a, d->pk, now, nonce, &nexp), RELAY_AUTH_OK);
    cr_assert_eq(nexp, now + NONCE_TTL);
    sign_challenge(sig, d, nonce, d->pk);
    cr_assert_eq(relay_auth_redeem(a, d->pk, nonce, 32, sig, 64, now, token, &texp), RELAY_AUTH_OK);
    cr_assert_eq(texp, now + TOKEN_TTL);
    return texp;
}

static void setup(void)
{
    t_setup();
    randombytes_buf(test_key, sizeof test_key);
}

TestSuite(relay_auth, .init = setup);

/* ---- construction ---- */

Test(relay_auth, new_refuses_bad_arguments)
{
    relay_auth *a = (relay_auth *)(uintptr_t)1;
    cr_assert_eq(relay_auth_new(NULL, test_key, 1, 1, 1), RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_new(&a, NULL, 1, 1, 1), RELAY_AUTH_E_MALFORMED);
    cr_assert_null(a);
    cr_assert_eq(relay_auth_new(&a, test_key, 0, 1, 1), RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_new(&a, test_key, 1, 0, 1), RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_new(&a, test_key, 1, 1, 0), RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_new(&a, test_key, 1, 1, SIZE_MAX), RELAY_AUTH_E_MALFORMED);
    cr_assert_null(a);
    relay_auth_free(NULL);
}

/* ---- enrollment tokens ---- */

Test(relay_auth, token_hash_is_domain_separated_blake2b)
{
    static const char label[] = "secmsg relay enrollment token v1";
    uint8_t tok[32], buf[sizeof label - 1 + 32], want[32], got[32], other[32];
    randombytes_buf(tok, sizeof tok);
    memcpy(buf, label, sizeof label - 1);
    memcpy(buf + sizeof label - 1, tok, sizeof tok);
    crypto_generichash(want, 32, buf, sizeof buf, NULL, 0);
    relay_auth_token_hash(got, tok, sizeof tok);
    cr_assert_arr_eq(got, want, 32);
    tok[0] ^= 1;
    relay_auth_token_hash(other, tok, sizeof tok);
    cr_assert_arr_neq(got, other, 32);
    relay_auth_token_hash(other, tok, 31);
    cr_assert_arr_neq(got, other, 32);
}

/* ---- registration ---- */

typedef struct reg {
    secmsg_identity *id;
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t pub_len;
    uint8_t token[32];
    uint8_t sig[64];
} reg;

/* sig = Ed25519(identity sign key, "secmsg relay register v1" || token || identity),
 * signed with the private key from the library's internal struct. */
static void reg_sign(reg *r)
{
    static const char label[] = "secmsg relay register v1";
    uint8_t msg[sizeof label - 1 + 32 + SECMSG_IDENTITY_PUBLIC_BYTES];
    memcpy(msg, label, sizeof label - 1);
    memcpy(msg + sizeof label - 1, r->token, 32);
    memcpy(msg + sizeof label - 1 + 32, r->pub, r->pub_len);
    crypto_sign_detached(r->sig, NULL, msg, sizeof label - 1 + 32 + r->pub_len, r->id->sign_sk);
}

static void reg_new(reg *r)
{
    cr_assert_eq(secmsg_identity_generate(&r->id), SECMSG_OK);
    cr_assert_eq(secmsg_identity_public(r->id, r->pub, sizeof r->pub, &r->pub_len), SECMSG_OK);
    cr_assert_eq(r->pub_len, SECMSG_IDENTITY_PUBLIC_BYTES);
    randombytes_buf(r->token, sizeof r->token);
    reg_sign(r);
}

static int reg_check(const reg *r, uint8_t dev[32])
{
    return relay_auth_check_register(dev, r->token, sizeof r->token, r->pub, r->pub_len, r->sig,
                                     sizeof r->sig);
}

Test(relay_auth, register_with_a_real_identity)
{
    reg r;
    uint8_t dev[32];
    reg_new(&r);
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_OK);
    cr_assert_arr_eq(dev, r.id->pub.sign_pub, 32);
    cr_assert_arr_eq(dev, r.id->sign_sk + 32, 32);
    secmsg_identity_free(r.id);
}

Test(relay_auth, register_refuses_wrong_signatures)
{
    reg r, other;
    uint8_t dev[32], zero[32] = {0};
    reg_new(&r);
    reg_new(&other);
    memset(dev, 0, sizeof dev);

    /* another token than the one signed */
    r.token[5] ^= 0x10;
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_E_FORGED);
    r.token[5] ^= 0x10;
    /* a flipped signature bit, anywhere */
    for (size_t bit = 0; bit < 64 * 8; bit += 37) {
        r.sig[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_E_FORGED, "bit %zu", bit);
        r.sig[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    /* signed by another identity */
    memcpy(r.sig, other.sig, 64);
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_E_FORGED);
    reg_sign(&r);
    /* someone else's identity with our signature */
    memcpy(other.sig, r.sig, 64);
    memcpy(other.token, r.token, 32);
    cr_assert_eq(reg_check(&other, dev), RELAY_AUTH_E_FORGED);
    cr_assert_arr_eq(dev, zero, 32, "device id written on failure");

    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_OK);
    secmsg_identity_free(r.id);
    secmsg_identity_free(other.id);
}

Test(relay_auth, register_refuses_bad_identities)
{
    reg r;
    uint8_t dev[32], zero[32] = {0};
    reg_new(&r);
    memset(dev, 0, sizeof dev);

    /* the X25519 key not certified: flip a bit of dh_sig, then re-sign the
     * request. A bad identity, not a bad registration signature. */
    size_t off, n;
    t_pb_find(r.pub, r.pub_len, T_PATH(4), &off, &n);
    cr_assert_eq(n, 64);
    r.pub[off + 10] ^= 1;
    reg_sign(&r);
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_E_MALFORMED);
    r.pub[off + 10] ^= 1;
    /* the same for dh_pub (still canonical) */
    t_pb_find(r.pub, r.pub_len, T_PATH(3), &off, &n);
    r.pub[off] ^= 1;
    reg_sign(&r);
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_E_MALFORMED);
    r.pub[off] ^= 1;

    /* truncated identity, properly signed */
    r.pub_len--;
    reg_sign(&r);
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_E_MALFORMED);
    r.pub_len++;
    /* an unknown version */
    t_bytes v = t_pb_set_varint(r.pub, r.pub_len, T_PATH(1), 2);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, v.data, v.len, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    t_bytes_free(&v);
    /* garbage and nothing */
    uint8_t junk[SECMSG_IDENTITY_PUBLIC_BYTES];
    memset(junk, 0xa5, sizeof junk);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, junk, sizeof junk, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, r.pub, 0, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, NULL, 0, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, r.pub, 100000, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_arr_eq(dev, zero, 32);

    reg_sign(&r);
    cr_assert_eq(reg_check(&r, dev), RELAY_AUTH_OK);
    secmsg_identity_free(r.id);
}

Test(relay_auth, register_refuses_wrong_lengths)
{
    reg r;
    uint8_t dev[32];
    reg_new(&r);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 31, r.pub, r.pub_len, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 33, r.pub, r.pub_len, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, r.pub, r.pub_len, r.sig, 63),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, r.pub, r.pub_len, r.sig, 65),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, NULL, 32, r.pub, r.pub_len, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(dev, r.token, 32, r.pub, r.pub_len, NULL, 64),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_check_register(NULL, r.token, 32, r.pub, r.pub_len, r.sig, 64),
                 RELAY_AUTH_E_MALFORMED);
    secmsg_identity_free(r.id);
}

/* ---- bearer tokens ---- */

Test(relay_auth, token_mint_and_verify)
{
    relay_auth *a = auth_new(16);
    device d;
    device_new(&d);
    uint8_t tok[RELAY_AUTH_TOKEN_BYTES], dev[32];
    uint64_t exp = login(a, &d, T0, tok);

    /* layout: device_id || le64(expires) || BLAKE2b-256(key, label || first 40 bytes) */
    static const char label[] = "secmsg relay token v1";
    uint8_t macin[sizeof label - 1 + 40], mac[32];
    cr_assert_arr_eq(tok, d.pk, 32);
    uint64_t le = 0;
    for (unsigned i = 0; i < 8; i++)
        le |= (uint64_t)tok[32 + i] << (8 * i);
    cr_assert_eq(le, exp);
    memcpy(macin, label, sizeof label - 1);
    memcpy(macin + sizeof label - 1, tok, 40);
    crypto_generichash(mac, 32, macin, sizeof macin, test_key, sizeof test_key);
    cr_assert_arr_eq(tok + 40, mac, 32);

    memset(dev, 0, sizeof dev);
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, T0, dev), RELAY_AUTH_OK);
    cr_assert_arr_eq(dev, d.pk, 32);
    /* any number of times, until it expires */
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, T0 + 10, dev), RELAY_AUTH_OK);
    relay_auth_free(a);
}

Test(relay_auth, stale_token_is_expired)
{
    relay_auth *a = auth_new(16);
    device d;
    device_new(&d);
    uint8_t tok[RELAY_AUTH_TOKEN_BYTES], dev[32];
    uint64_t exp = login(a, &d, T0, tok);
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, exp, dev), RELAY_AUTH_OK);
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, exp + 1, dev), RELAY_AUTH_E_EXPIRED);
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, UINT64_MAX, dev), RELAY_AUTH_E_EXPIRED);
    relay_auth_free(a);
}

Test(relay_auth, every_single_bit_flip_is_forged)
{
    relay_auth *a = auth_new(16);
    device d;
    device_new(&d);
    uint8_t tok[RELAY_AUTH_TOKEN_BYTES], dev[32], zero[32] = {0};
    login(a, &d, T0, tok);
    for (size_t bit = 0; bit < sizeof tok * 8; bit++) {
        tok[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        memset(dev, 0, sizeof dev);
        int rc = relay_auth_verify(a, tok, sizeof tok, T0, dev);
        cr_assert(rc == RELAY_AUTH_E_FORGED || rc == RELAY_AUTH_E_MALFORMED, "bit %zu: %d", bit,
                  rc);
        cr_assert_arr_eq(dev, zero, 32, "bit %zu: device id written", bit);
        tok[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    /* extending the expiry, even by one second, breaks the MAC */
    tok[32]++;
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, T0, dev), RELAY_AUTH_E_FORGED);
    tok[32]--;
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, T0, dev), RELAY_AUTH_OK);
    relay_auth_free(a);
}

Test(relay_auth, forged_wrong_key_and_malformed_tokens)
{
    relay_auth *a = auth_new(16);
    relay_auth *b = NULL;
    uint8_t other_key[32];
    randombytes_buf(other_key, sizeof other_key);
    cr_assert_eq(relay_auth_new(&b, other_key, NONCE_TTL, TOKEN_TTL, 16), RELAY_AUTH_OK);
    device d;
    device_new(&d);
    uint8_t tok[RELAY_AUTH_TOKEN_BYTES + 1], dev[32];
    login(a, &d, T0, tok);
    tok[RELAY_AUTH_TOKEN_BYTES] = 0;

    cr_assert_eq(relay_auth_verify(b, tok, RELAY_AUTH_TOKEN_BYTES, T0, dev), RELAY_AUTH_E_FORGED);
    cr_assert_eq(relay_auth_verify(a, tok, RELAY_AUTH_TOKEN_BYTES - 1, T0, dev),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_verify(a, tok, RELAY_AUTH_TOKEN_BYTES + 1, T0, dev),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_verify(a, tok, 0, T0, dev), RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_verify(a, NULL, RELAY_AUTH_TOKEN_BYTES, T0, dev),
                 RELAY_AUTH_E_MALFORMED);
    uint8_t zeros[RELAY_AUTH_TOKEN_BYTES] = {0};
    cr_assert_eq(relay_auth_verify(a, zeros, sizeof zeros, 0, dev), RELAY_AUTH_E_FORGED);

    /* a forged token with a past expiry is FORGED, not EXPIRED: nothing is learned */
    tok[40] ^= 1;
    cr_assert_eq(relay_auth_verify(a, tok, RELAY_AUTH_TOKEN_BYTES, UINT64_MAX, dev),
                 RELAY_AUTH_E_FORGED);
    relay_auth_free(a);
    relay_auth_free(b);
}

Test(relay_auth, expiry_saturates)
{
    relay_auth *a = auth_new(4);
    device d;
    device_new(&d);
    uint8_t nonce[32], sig[64], tok[RELAY_AUTH_TOKEN_BYTES], dev[32];
    uint64_t nexp = 0, texp = 0;
    cr_assert_eq(relay_auth_challenge(a, d.pk, UINT64_MAX - 5, nonce, &nexp), RELAY_AUTH_OK);
    cr_assert_eq(nexp, UINT64_MAX);
    sign_challenge(sig, &d, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, UINT64_MAX - 1, tok, &texp),
                 RELAY_AUTH_OK);
    cr_assert_eq(texp, UINT64_MAX);
    cr_assert_eq(relay_auth_verify(a, tok, sizeof tok, UINT64_MAX, dev), RELAY_AUTH_OK);
    relay_auth_free(a);
}

/* ---- challenges ---- */

Test(relay_auth, challenge_replay_is_refused)
{
    relay_auth *a = auth_new(16);
    device d;
    device_new(&d);
    uint8_t nonce[32], sig[64], tok[RELAY_AUTH_TOKEN_BYTES], tok2[RELAY_AUTH_TOKEN_BYTES];
    uint64_t exp = 0;
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    sign_challenge(sig, &d, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp), RELAY_AUTH_OK);
    memset(tok2, 0x5a, sizeof tok2);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok2, &exp),
                 RELAY_AUTH_E_REPLAYED);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0 + 1, tok2, &exp),
                 RELAY_AUTH_E_REPLAYED);
    /* a nonce that was never issued */
    nonce[0] ^= 1;
    sign_challenge(sig, &d, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok2, &exp),
                 RELAY_AUTH_E_REPLAYED);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 31, sig, 64, T0, tok2, &exp),
                 RELAY_AUTH_E_MALFORMED);
    for (size_t i = 0; i < sizeof tok2; i++)
        cr_assert_eq(tok2[i], 0x5a, "token written on failure");
    relay_auth_free(a);
}

Test(relay_auth, expired_nonce)
{
    relay_auth *a = auth_new(16);
    device d;
    device_new(&d);
    uint8_t n1[32], n2[32], sig[64], tok[RELAY_AUTH_TOKEN_BYTES];
    uint64_t e1 = 0, e2 = 0, exp = 0;
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, n1, &e1), RELAY_AUTH_OK);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, n2, &e2), RELAY_AUTH_OK);
    cr_assert_eq(e1, T0 + NONCE_TTL);
    /* at the expiry second it still works */
    sign_challenge(sig, &d, n1, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, n1, 32, sig, 64, e1, tok, &exp), RELAY_AUTH_OK);
    /* one second later it does not, and it is gone */
    sign_challenge(sig, &d, n2, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, n2, 32, sig, 64, e2 + 1, tok, &exp),
                 RELAY_AUTH_E_EXPIRED);
    cr_assert_eq(relay_auth_redeem(a, d.pk, n2, 32, sig, 64, e2, tok, &exp), RELAY_AUTH_E_REPLAYED);
    relay_auth_free(a);
}

Test(relay_auth, wrong_signature_consumes_the_nonce)
{
    relay_auth *a = auth_new(16);
    device d, e;
    device_new(&d);
    device_new(&e);
    uint8_t nonce[32], other[32], sig[64], tok[RELAY_AUTH_TOKEN_BYTES];
    uint64_t exp = 0;

    /* signed by another key */
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    sign_challenge(sig, &e, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_FORGED);
    sign_challenge(sig, &d, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_REPLAYED);

    /* a signature over another nonce */
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, other, &exp), RELAY_AUTH_OK);
    sign_challenge(sig, &d, other, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_FORGED);
    cr_assert_eq(relay_auth_redeem(a, d.pk, other, 32, sig, 64, T0, tok, &exp), RELAY_AUTH_OK);

    /* a signature without the domain label */
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    uint8_t bare[64];
    memcpy(bare, nonce, 32);
    memcpy(bare + 32, d.pk, 32);
    crypto_sign_detached(sig, NULL, bare, sizeof bare, d.sk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_FORGED);

    /* a bit flip in a good signature; a short signature */
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    sign_challenge(sig, &d, nonce, d.pk);
    sig[63] ^= 0x40;
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_FORGED);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    sign_challenge(sig, &d, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 63, T0, tok, &exp),
                 RELAY_AUTH_E_MALFORMED);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_REPLAYED);
    relay_auth_free(a);
}

Test(relay_auth, nonce_is_bound_to_its_device)
{
    relay_auth *a = auth_new(16);
    device d, e;
    device_new(&d);
    device_new(&e);
    uint8_t nonce[32], sig[64], tok[RELAY_AUTH_TOKEN_BYTES];
    uint64_t exp = 0;
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0, nonce, &exp), RELAY_AUTH_OK);
    /* e redeems d's nonce with a valid signature of its own */
    sign_challenge(sig, &e, nonce, e.pk);
    cr_assert_eq(relay_auth_redeem(a, e.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_FORGED);
    /* and burnt it */
    sign_challenge(sig, &d, nonce, d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce, 32, sig, 64, T0, tok, &exp),
                 RELAY_AUTH_E_REPLAYED);
    relay_auth_free(a);
}

Test(relay_auth, cache_bound_and_reclaim)
{
    relay_auth *a = auth_new(4);
    device d;
    device_new(&d);
    uint8_t nonce[5][32], sig[64], tok[RELAY_AUTH_TOKEN_BYTES];
    uint64_t exp = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint64_t t = T0 + i;
        cr_assert_eq(relay_auth_challenge(a, d.pk, t, nonce[i], &exp), RELAY_AUTH_OK);
    }
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + 4, nonce[4], &exp), RELAY_AUTH_E_FULL);
    /* a redeemed nonce frees its place */
    sign_challenge(sig, &d, nonce[1], d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce[1], 32, sig, 64, T0 + 4, tok, &exp),
                 RELAY_AUTH_OK);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + 4, nonce[1], &exp), RELAY_AUTH_OK);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + 4, nonce[4], &exp), RELAY_AUTH_E_FULL);
    /* at nonce[0]'s expiry second it is still outstanding; one later it is reclaimed */
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + NONCE_TTL, nonce[4], &exp), RELAY_AUTH_E_FULL);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + NONCE_TTL + 1, nonce[4], &exp), RELAY_AUTH_OK);
    cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + NONCE_TTL + 1, nonce[0], &exp),
                 RELAY_AUTH_E_FULL);
    /* the survivors still work */
    sign_challenge(sig, &d, nonce[3], d.pk);
    cr_assert_eq(relay_auth_redeem(a, d.pk, nonce[3], 32, sig, 64, T0 + NONCE_TTL + 1, tok, &exp),
                 RELAY_AUTH_OK);
    /* everything expires */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(relay_auth_challenge(a, d.pk, T0 + 1000, nonce[i], &exp), RELAY_AUTH_OK);
    relay_auth_free(a);
}

/* A model of the cache under random operations (fixed seed): issue, redeem
 * an outstanding or a used nonce, let time pass. Exercises probing and
 * deletion in the table with many entries. */
Test(relay_auth, random_operations_match_a_model)
{
    enum { MAX = 300, OPS = 20000 };
    typedef struct issued {
        uint8_t nonce[32];
        uint64_t expires;
        int state; /* 0 outstanding, 1 used */
    } issued;
    static issued hist[OPS];
    size_t n_log = 0, outstanding = 0;
    relay_auth *a = auth_new(MAX);
    device d;
    device_new(&d);
    t_rng r;
    t_rng_seed(&r, 42);
    uint64_t now = T0;
    uint8_t sig[64], tok[RELAY_AUTH_TOKEN_BYTES];

    for (int op = 0; op < OPS; op++) {
        uint32_t what = t_rng_below(&r, 100);
        /* the model drops what the relay may reclaim: expired entries */
        outstanding = 0;
        for (size_t i = 0; i < n_log; i++)
            outstanding += hist[i].state == 0 && now <= hist[i].expires;
        if (what < 55) {
            issued *it = &hist[n_log];
            uint64_t exp = 0;
            int rc = relay_auth_challenge(a, d.pk, now, it->nonce, &exp);
            if (outstanding < MAX) {
                cr_assert_eq(rc, RELAY_AUTH_OK, "op %d", op);
                it->expires = exp;
                it->state = 0;
                n_log++;
            } else {
                cr_assert_eq(rc, RELAY_AUTH_E_FULL, "op %d", op);
            }
        } else if (what < 95 && n_log > 0) {
            issued *it = &hist[t_rng_below(&r, (uint32_t)n_log)];
            uint64_t exp = 0;
            sign_challenge(sig, &d, it->nonce, d.pk);
            int rc = relay_auth_redeem(a, d.pk, it->nonce, 32, sig, 64, now, tok, &exp);
            int want = it->state == 1      ? RELAY_AUTH_E_REPLAYED
                       : now > it->expires ? RELAY_AUTH_E_EXPIRED
                                           : RELAY_AUTH_OK;
            /* an expired entry may already be reclaimed: then it is unknown */
            if (want == RELAY_AUTH_E_EXPIRED && rc == RELAY_AUTH_E_REPLAYED)
                want = RELAY_AUTH_E_REPLAYED;
            cr_assert_eq(rc, want, "op %d", op);
            it->state = 1;
        } else {
            now += t_rng_below(&r, 8);
        }
    }
    relay_auth_free(a);
}

/* ---- concurrency ---- */

enum { THREADS = 8, PER_THREAD = 200 };

typedef struct worker {
    relay_auth *a;
    device d;
    uint8_t nonces[PER_THREAD][32];
    int ok, full, redeemed, replayed;
} worker;

static void *challenge_worker(void *arg)
{
    worker *w = arg;
    uint64_t exp;
    for (int i = 0; i < PER_THREAD; i++) {
        int rc = relay_auth_challenge(w->a, w->d.pk, T0, w->nonces[w->ok], &exp);
        if (rc == RELAY_AUTH_OK)
            w->ok++;
        else if (rc == RELAY_AUTH_E_FULL)
            w->full++;
    }
    return NULL;
}

static void *redeem_worker(void *arg)
{
    worker *w = arg;
    uint8_t sig[64], tok[RELAY_AUTH_TOKEN_BYTES], dev[32];
    uint64_t exp;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < w->ok; i++) {
            sign_challenge(sig, &w->d, w->nonces[i], w->d.pk);
            int rc = relay_auth_redeem(w->a, w->d.pk, w->nonces[i], 32, sig, 64, T0, tok, &exp);
            if (rc == RELAY_AUTH_OK &&
                relay_auth_verify(w->a, tok, sizeof tok, T0, dev) == RELAY_AUTH_OK &&
                memcmp(dev, w->d.pk, 32) == 0)
                w->redeemed++;
            else if (rc == RELAY_AUTH_E_REPLAYED)
                w->replayed++;
        }
    }
    return NULL;
}

static void run_threads(worker *w, void *(*fn)(void *))
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fn, &w[i]), 0);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
}

static int cmp_nonce(const void *x, const void *y)
{
    return memcmp(x, y, 32);
}

Test(relay_auth, concurrent_challenges_and_redeems)
{
    static worker w[THREADS];
    relay_auth *a = auth_new(THREADS * PER_THREAD);
    for (int i = 0; i < THREADS; i++) {
        w[i].a = a;
        device_new(&w[i].d);
    }
    run_threads(w, challenge_worker);
    static uint8_t all[THREADS * PER_THREAD][32];
    size_t n = 0;
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(w[i].ok, PER_THREAD);
        memcpy(all[n], w[i].nonces, sizeof w[i].nonces);
        n += PER_THREAD;
    }
    qsort(all, n, 32, cmp_nonce);
    for (size_t i = 1; i < n; i++)
        cr_assert_neq(memcmp(all[i - 1], all[i], 32), 0, "duplicate nonce");

    run_threads(w, redeem_worker);
    for (int i = 0; i < THREADS; i++) {
        cr_assert_eq(w[i].redeemed, PER_THREAD);
        cr_assert_eq(w[i].replayed, PER_THREAD);
    }
    relay_auth_free(a);
}

Test(relay_auth, concurrent_challenges_respect_the_bound)
{
    static worker w[THREADS];
    const int max = THREADS * PER_THREAD / 3;
    relay_auth *a = auth_new((size_t)max);
    for (int i = 0; i < THREADS; i++) {
        w[i].a = a;
        device_new(&w[i].d);
    }
    run_threads(w, challenge_worker);
    int ok = 0, full = 0;
    for (int i = 0; i < THREADS; i++) {
        ok += w[i].ok;
        full += w[i].full;
    }
    cr_assert_eq(ok, max);
    cr_assert_eq(full, THREADS * PER_THREAD - max);
    run_threads(w, redeem_worker);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(w[i].redeemed, w[i].ok);
    relay_auth_free(a);
}
