#include "auth/auth.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "secmsg.h"
#include "wire/codec.h"
#include "wire/relay_codec.h"

#define ENROLL_DOMAIN "secmsg relay enrollment token v1"
#define REGISTER_DOMAIN "secmsg relay register v1"
#define AUTH_DOMAIN "secmsg relay auth v1"
#define TOKEN_DOMAIN "secmsg relay token v1"
#define DOMAIN_LEN(d) (sizeof(d) - 1U)

#define ID_BYTES 32U
#define MAC_BYTES 32U
#define SIG_BYTES 64U
#define EXPIRES_OFF ID_BYTES
#define MAC_OFF (ID_BYTES + 8U)

_Static_assert(MAC_OFF + MAC_BYTES == RELAY_AUTH_TOKEN_BYTES, "token layout");
_Static_assert(ID_BYTES == SECMSG__RELAY_ID_BYTES, "device id size");
_Static_assert(RELAY_AUTH_NONCE_BYTES == SECMSG__RELAY_NONCE_BYTES, "nonce size");
_Static_assert(SIG_BYTES == crypto_sign_BYTES, "signature size");

/* Keeps the table at most half full; also bounds its allocation. */
#define MAX_OUTSTANDING_LIMIT ((size_t)1 << 24)
/* Slots each challenge examines for expired entries (see sweep_step). */
#define SWEEP_STEP 8U

/*
 * Outstanding challenges: an open-addressing table (linear probing,
 * backward-shift deletion, so no tombstones), capacity a power of two of at
 * least twice max_outstanding. Nonces are uniformly random and chosen here,
 * so their first bytes are a hash no client can steer.
 */
typedef struct slot {
    uint8_t nonce[RELAY_AUTH_NONCE_BYTES];
    uint8_t device_id[ID_BYTES];
    uint64_t expires;
    int used;
} slot;

struct relay_auth {
    uint8_t *token_key; /* sodium_malloc'd, read-only after setup */
    uint64_t nonce_ttl;
    uint64_t token_ttl;
    size_t max_outstanding;

    pthread_mutex_t lock; /* guards everything below */
    slot *slots;
    size_t mask;   /* capacity - 1 */
    size_t count;  /* used slots */
    size_t cursor; /* next slot sweep_step examines */
    /* No entry expires before this: it is lowered on every insert and only
     * raised by a full sweep, so a full sweep before then finds nothing. */
    uint64_t next_sweep;
};

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8U * i);
    return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8U * i));
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int relay_auth_new(relay_auth **out, const uint8_t token_key[RELAY_AUTH_KEY_BYTES],
                   uint64_t nonce_ttl, uint64_t token_ttl, size_t max_outstanding)
{
    if (out == NULL)
        return RELAY_AUTH_E_MALFORMED;
    *out = NULL;
    if (token_key == NULL || nonce_ttl == 0 || token_ttl == 0 || max_outstanding == 0 ||
        max_outstanding > MAX_OUTSTANDING_LIMIT)
        return RELAY_AUTH_E_MALFORMED;
    if (secmsg_init() != SECMSG_OK)
        return RELAY_AUTH_E_NOMEM;

    size_t cap = 2;
    while (cap < 2 * max_outstanding)
        cap *= 2;

    relay_auth *a = calloc(1, sizeof *a);
    if (a == NULL)
        return RELAY_AUTH_E_NOMEM;
    a->slots = calloc(cap, sizeof *a->slots);
    a->token_key = sodium_malloc(RELAY_AUTH_KEY_BYTES);
    if (a->slots == NULL || a->token_key == NULL || pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a->slots);
        if (a->token_key != NULL)
            sodium_free(a->token_key);
        free(a);
        return RELAY_AUTH_E_NOMEM;
    }
    memcpy(a->token_key, token_key, RELAY_AUTH_KEY_BYTES);
    sodium_mprotect_readonly(a->token_key);
    a->nonce_ttl = nonce_ttl;
    a->token_ttl = token_ttl;
    a->max_outstanding = max_outstanding;
    a->mask = cap - 1;
    a->next_sweep = UINT64_MAX;
    *out = a;
    return RELAY_AUTH_OK;
}

void relay_auth_free(relay_auth *a)
{
    if (a == NULL)
        return;
    pthread_mutex_destroy(&a->lock);
    sodium_memzero(a->slots, (a->mask + 1) * sizeof *a->slots);
    free(a->slots);
    sodium_free(a->token_key); /* wipes */
    free(a);
}

void relay_auth_token_hash(uint8_t hash[32], const uint8_t *token, size_t len)
{
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)ENROLL_DOMAIN,
                                      DOMAIN_LEN(ENROLL_DOMAIN));
    if (len > 0)
        crypto_generichash_blake2b_update(&st, token, len);
    crypto_generichash_blake2b_final(&st, hash, 32);
    sodium_memzero(&st, sizeof st);
}

/* ---- registration ---- */

int relay_auth_check_register(uint8_t device_id[32], const uint8_t *token, size_t token_len,
                              const uint8_t *identity, size_t identity_len, const uint8_t *sig,
                              size_t sig_len)
{
    uint8_t
        msg[DOMAIN_LEN(REGISTER_DOMAIN) + SECMSG__RELAY_TOKEN_BYTES + SECMSG__MAX_IDENTITY_BYTES];
    secmsg__arena arena;
    Secmsg__Wire__IdentityPublic *id = NULL;
    int rc;

    secmsg__arena_init(&arena);
    if (device_id == NULL || token == NULL || token_len != SECMSG__RELAY_TOKEN_BYTES ||
        identity == NULL || identity_len > SECMSG__MAX_IDENTITY_BYTES || sig == NULL ||
        sig_len != SIG_BYTES) {
        rc = RELAY_AUTH_E_MALFORMED;
        goto out;
    }
    if (secmsg_init() != SECMSG_OK) {
        rc = RELAY_AUTH_E_NOMEM;
        goto out;
    }
    /* Length, version, and the X25519 key certified by the Ed25519 key. An
     * identity that fails any of them is a bad identity (MALFORMED, 400
     * bad_identity), not a bad registration signature (FORGED). */
    if (secmsg_identity_public_verify(identity, identity_len) != SECMSG_OK) {
        rc = RELAY_AUTH_E_MALFORMED;
        goto out;
    }
    if (secmsg__wire_decode_identity_public(&id, identity, identity_len, &arena.alloc) !=
        SECMSG_OK) {
        rc = RELAY_AUTH_E_MALFORMED;
        goto out;
    }

    size_t n = 0;
    memcpy(msg, REGISTER_DOMAIN, DOMAIN_LEN(REGISTER_DOMAIN));
    n += DOMAIN_LEN(REGISTER_DOMAIN);
    memcpy(msg + n, token, token_len);
    n += token_len;
    memcpy(msg + n, identity, identity_len);
    n += identity_len;
    if (crypto_sign_verify_detached(sig, msg, n, id->sign_pub.data) != 0) {
        rc = RELAY_AUTH_E_FORGED;
        goto out;
    }
    memcpy(device_id, id->sign_pub.data, ID_BYTES);
    rc = RELAY_AUTH_OK;
out:
    if (id != NULL)
        secmsg__wire__identity_public__free_unpacked(id, &arena.alloc);
    secmsg__arena_wipe(&arena);
    /* The enrollment token is a credential until it is marked used. */
    sodium_memzero(msg, sizeof msg);
    return rc;
}

/* ---- challenge cache (callers hold a->lock) ---- */

static size_t home_of(const relay_auth *a, const uint8_t nonce[RELAY_AUTH_NONCE_BYTES])
{
    return (size_t)load_le64(nonce) & a->mask;
}

/* Empties slot i and shifts later members of its probe run back into the gap. */
static void remove_at(relay_auth *a, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & a->mask;
        if (!a->slots[j].used)
            break;
        size_t home = home_of(a, a->slots[j].nonce);
        /* Slot j may move to i only if i lies cyclically in [home, j). */
        if (((j - home) & a->mask) >= ((j - i) & a->mask)) {
            a->slots[i] = a->slots[j];
            i = j;
        }
    }
    sodium_memzero(&a->slots[i], sizeof a->slots[i]);
    a->count--;
}

/*
 * Reclaiming expired challenges (expired: now > expires, as for tokens).
 * Every challenge examines SWEEP_STEP slots in turn, so expired entries
 * leave the table without any one call scanning all of it; only when the
 * table is full does a challenge sweep it whole, and then at most once per
 * earliest expiry. Either way the FULL answer counts live challenges only.
 */
static void sweep_step(relay_auth *a, uint64_t now)
{
    for (unsigned k = 0; k < SWEEP_STEP; k++) {
        size_t i = a->cursor;
        while (a->slots[i].used && now > a->slots[i].expires)
            remove_at(a, i);
        a->cursor = (i + 1) & a->mask;
    }
}

static void sweep_all(relay_auth *a, uint64_t now)
{
    if (now <= a->next_sweep)
        return;
    uint64_t next = UINT64_MAX;
    /* remove_at(i) moves entries only from later in i's probe run into i or
     * beyond, so one pass that re-checks slot i sees every entry. (A run that
     * wraps past the end moves already-checked, live entries among slots
     * already passed.) */
    for (size_t i = 0; i <= a->mask; i++)
        while (a->slots[i].used && now > a->slots[i].expires)
            remove_at(a, i);
    for (size_t i = 0; i <= a->mask; i++)
        if (a->slots[i].used && a->slots[i].expires < next)
            next = a->slots[i].expires;
    a->next_sweep = next;
}

static int find(const relay_auth *a, const uint8_t *nonce, size_t *at)
{
    for (size_t i = home_of(a, nonce);; i = (i + 1) & a->mask) {
        if (!a->slots[i].used)
            return 0;
        if (sodium_memcmp(a->slots[i].nonce, nonce, RELAY_AUTH_NONCE_BYTES) == 0) {
            *at = i;
            return 1;
        }
    }
}

int relay_auth_challenge(relay_auth *a, const uint8_t device_id[32], uint64_t now,
                         uint8_t nonce[RELAY_AUTH_NONCE_BYTES], uint64_t *expires)
{
    if (a == NULL || device_id == NULL || nonce == NULL || expires == NULL)
        return RELAY_AUTH_E_MALFORMED;

    slot s;
    size_t at;
    uint64_t exp = add_sat(now, a->nonce_ttl);
    int rc;

    memcpy(s.device_id, device_id, ID_BYTES);
    s.expires = exp;
    s.used = 1;

    pthread_mutex_lock(&a->lock);
    sweep_step(a, now);
    if (a->count >= a->max_outstanding)
        sweep_all(a, now);
    if (a->count >= a->max_outstanding) {
        rc = RELAY_AUTH_E_FULL;
        goto out;
    }
    /* 256 random bits do not collide; the loop only keeps keys unique. */
    do
        randombytes_buf(s.nonce, sizeof s.nonce);
    while (find(a, s.nonce, &at));

    size_t i = home_of(a, s.nonce);
    while (a->slots[i].used)
        i = (i + 1) & a->mask;
    a->slots[i] = s;
    a->count++;
    if (exp < a->next_sweep)
        a->next_sweep = exp;
    memcpy(nonce, s.nonce, sizeof s.nonce);
    *expires = exp;
    rc = RELAY_AUTH_OK;
out:
    pthread_mutex_unlock(&a->lock);
    sodium_memzero(&s, sizeof s);
    return rc;
}

/* ---- bearer tokens ---- */

static void token_mac(const relay_auth *a, uint8_t mac[MAC_BYTES],
                      const uint8_t head[ID_BYTES + 8U])
{
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, a->token_key, RELAY_AUTH_KEY_BYTES, MAC_BYTES);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)TOKEN_DOMAIN, DOMAIN_LEN(TOKEN_DOMAIN));
    crypto_generichash_blake2b_update(&st, head, ID_BYTES + 8U);
    crypto_generichash_blake2b_final(&st, mac, MAC_BYTES);
    sodium_memzero(&st, sizeof st);
}

int relay_auth_redeem(relay_auth *a, const uint8_t device_id[32], const uint8_t *nonce,
                      size_t nonce_len, const uint8_t *sig, size_t sig_len, uint64_t now,
                      uint8_t token[RELAY_AUTH_TOKEN_BYTES], uint64_t *expires)
{
    uint8_t msg[DOMAIN_LEN(AUTH_DOMAIN) + RELAY_AUTH_NONCE_BYTES + ID_BYTES];
    slot s;
    size_t at;
    int found, rc;

    if (a == NULL || device_id == NULL || nonce == NULL || nonce_len != RELAY_AUTH_NONCE_BYTES ||
        token == NULL || expires == NULL)
        return RELAY_AUTH_E_MALFORMED;

    /* Consume first: whatever follows, this nonce never verifies again. */
    pthread_mutex_lock(&a->lock);
    found = find(a, nonce, &at);
    if (found) {
        s = a->slots[at];
        remove_at(a, at);
    }
    pthread_mutex_unlock(&a->lock);

    if (!found) {
        rc = RELAY_AUTH_E_REPLAYED;
        goto out;
    }
    if (now > s.expires) {
        rc = RELAY_AUTH_E_EXPIRED;
        goto out;
    }
    /* A nonce issued to another device is a credential that does not match. */
    if (sodium_memcmp(s.device_id, device_id, ID_BYTES) != 0) {
        rc = RELAY_AUTH_E_FORGED;
        goto out;
    }
    if (sig == NULL || sig_len != SIG_BYTES) {
        rc = RELAY_AUTH_E_MALFORMED;
        goto out;
    }
    memcpy(msg, AUTH_DOMAIN, DOMAIN_LEN(AUTH_DOMAIN));
    memcpy(msg + DOMAIN_LEN(AUTH_DOMAIN), nonce, RELAY_AUTH_NONCE_BYTES);
    memcpy(msg + DOMAIN_LEN(AUTH_DOMAIN) + RELAY_AUTH_NONCE_BYTES, device_id, ID_BYTES);
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, device_id) != 0) {
        rc = RELAY_AUTH_E_FORGED;
        goto out;
    }

    uint64_t exp = add_sat(now, a->token_ttl);
    memcpy(token, device_id, ID_BYTES);
    store_le64(token + EXPIRES_OFF, exp);
    token_mac(a, token + MAC_OFF, token);
    *expires = exp;
    rc = RELAY_AUTH_OK;
out:
    sodium_memzero(&s, sizeof s);
    sodium_memzero(msg, sizeof msg);
    return rc;
}

int relay_auth_verify(const relay_auth *a, const uint8_t *token, size_t len, uint64_t now,
                      uint8_t device_id[32])
{
    uint8_t mac[MAC_BYTES];
    int rc;

    if (a == NULL || token == NULL || len != RELAY_AUTH_TOKEN_BYTES || device_id == NULL)
        return RELAY_AUTH_E_MALFORMED;
    /* The MAC first: a forged token learns nothing, not even its expiry. */
    token_mac(a, mac, token);
    if (sodium_memcmp(mac, token + MAC_OFF, MAC_BYTES) != 0)
        rc = RELAY_AUTH_E_FORGED;
    else if (now > load_le64(token + EXPIRES_OFF))
        rc = RELAY_AUTH_E_EXPIRED;
    else {
        memcpy(device_id, token, ID_BYTES);
        rc = RELAY_AUTH_OK;
    }
    sodium_memzero(mac, sizeof mac);
    return rc;
}
