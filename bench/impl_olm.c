/*
 * impl_olm.c - the benchmark's libolm side.
 *
 * libolm takes its randomness from the caller; it comes from libsodium's
 * randombytes_buf inside the timed part, as the other libraries draw theirs
 * internally. libolm's messages and pickles are unpadded base64 text, the
 * only form its API produces; sizes are reported in that form, with the
 * binary equivalent in a note.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <olm/olm.h>
#include <sodium.h>

#define NAME "libolm"
#define KEY_B64_MAX 64U    /* an unpadded base64 Curve25519 key is 43 chars */
#define RANDOM_MAX 128U    /* olm asks for at most 64 bytes per call */
#define OTK_BATCH_MAX 100U /* libolm's own limit per account */
#define MSG_SLACK 1024U

typedef struct account {
    void *mem;
    OlmAccount *a;
    char curve_key[KEY_B64_MAX];
    size_t curve_key_len;
} account;

/* The responder's published one-time keys, consumed in order. */
typedef struct otk_pool {
    char key[OTK_BATCH_MAX][KEY_B64_MAX];
    size_t key_len[OTK_BATCH_MAX];
    size_t n, next;
} otk_pool;

typedef struct pair_ctx {
    account alice, bob;
    otk_pool otks;
    void *as_mem, *bs_mem;
    OlmSession *as, *bs; /* Alice's and Bob's sessions */
    const uint8_t *pt;
    uint8_t *out;
    size_t len;
    uint8_t *msg, *msg_copy;
    size_t msg_cap;
    size_t last_wire_len;
    size_t last_type;
} pair_ctx;

static bool failed(size_t r)
{
    return r == olm_error();
}

static void account_free(account *acc)
{
    if (acc->a != NULL)
        olm_clear_account(acc->a);
    free(acc->mem);
    memset(acc, 0, sizeof *acc);
}

/*
 * Copies the string value that follows `"<field>":"` in a JSON text, e.g.
 * the curve25519 key of olm_account_identity_keys().
 */
static int json_string_after(char *out, size_t cap, size_t *out_len, const char *json,
                             const char *field)
{
    char pat[32];
    int n = snprintf(pat, sizeof pat, "\"%s\":\"", field);
    if (n < 0 || (size_t)n >= sizeof pat)
        return BENCH_FAIL;
    const char *v = strstr(json, pat);
    if (v == NULL)
        return BENCH_FAIL;
    v += n;
    const char *end = strchr(v, '"');
    if (end == NULL || (size_t)(end - v) > cap)
        return BENCH_FAIL;
    *out_len = (size_t)(end - v);
    memcpy(out, v, *out_len);
    return BENCH_OK;
}

static int account_init(account *acc)
{
    uint8_t rnd[RANDOM_MAX];
    char keys[256];
    memset(acc, 0, sizeof *acc);
    acc->mem = malloc(olm_account_size());
    if (acc->mem == NULL)
        return BENCH_FAIL;
    acc->a = olm_account(acc->mem);
    size_t rlen = olm_create_account_random_length(acc->a);
    size_t klen = olm_account_identity_keys_length(acc->a);
    if (rlen > sizeof rnd || klen >= sizeof keys)
        goto fail;
    randombytes_buf(rnd, rlen);
    if (failed(olm_create_account(acc->a, rnd, rlen)))
        goto fail;
    size_t got = olm_account_identity_keys(acc->a, keys, sizeof keys - 1);
    if (failed(got))
        goto fail;
    keys[got] = '\0';
    if (json_string_after(acc->curve_key, sizeof acc->curve_key, &acc->curve_key_len, keys,
                          "curve25519") != BENCH_OK)
        goto fail;
    return BENCH_OK;
fail:
    bench_error(NAME, "creating an account failed: %s",
                acc->a ? olm_account_last_error(acc->a) : "out of memory");
    account_free(acc);
    return BENCH_FAIL;
}

/* Generates and "publishes" a batch of one-time keys of Bob's. */
static int otk_refill(account *bob, otk_pool *pool)
{
    size_t count = olm_account_max_number_of_one_time_keys(bob->a);
    if (count > OTK_BATCH_MAX)
        count = OTK_BATCH_MAX;
    size_t rlen = olm_account_generate_one_time_keys_random_length(bob->a, count);
    uint8_t *rnd = bench_random_alloc(rlen);
    size_t jlen = 0;
    char *json = NULL;
    int rc = BENCH_FAIL;

    if (rnd == NULL || failed(olm_account_generate_one_time_keys(bob->a, count, rnd, rlen)))
        goto out;
    jlen = olm_account_one_time_keys_length(bob->a);
    json = malloc(jlen + 1);
    if (json == NULL)
        goto out;
    size_t got = olm_account_one_time_keys(bob->a, json, jlen);
    if (failed(got))
        goto out;
    json[got] = '\0';
    /* {"curve25519":{"<id>":"<key>",...}}: every value follows `":"`. */
    const char *p = strchr(json + 1, '{');
    pool->n = pool->next = 0;
    while (p != NULL && pool->n < OTK_BATCH_MAX && (p = strstr(p, "\":\"")) != NULL) {
        p += 3;
        const char *end = strchr(p, '"');
        if (end == NULL || (size_t)(end - p) > KEY_B64_MAX)
            goto out;
        pool->key_len[pool->n] = (size_t)(end - p);
        memcpy(pool->key[pool->n], p, pool->key_len[pool->n]);
        pool->n++;
        p = end;
    }
    if (pool->n != count)
        goto out;
    olm_account_mark_keys_as_published(bob->a);
    rc = BENCH_OK;
out:
    if (rc != BENCH_OK)
        bench_error(NAME, "generating one-time keys failed: %s", olm_account_last_error(bob->a));
    if (rnd != NULL)
        sodium_memzero(rnd, rlen);
    free(rnd);
    free(json);
    return rc;
}

static void session_release(void **mem, OlmSession **s)
{
    if (*s != NULL)
        olm_clear_session(*s);
    free(*mem);
    *mem = NULL;
    *s = NULL;
}

static int session_alloc(void **mem, OlmSession **s)
{
    session_release(mem, s);
    *mem = malloc(olm_session_size());
    if (*mem == NULL)
        return BENCH_FAIL;
    *s = olm_session(*mem);
    return BENCH_OK;
}

static void olmb_pair_clear(void *pair)
{
    pair_ctx *c = pair;
    session_release(&c->as_mem, &c->as);
    session_release(&c->bs_mem, &c->bs);
    account_free(&c->alice);
    account_free(&c->bob);
    free(c->out);
    free(c->msg);
    free(c->msg_copy);
}

static int ensure_msg_cap(pair_ctx *c, size_t need)
{
    if (need <= c->msg_cap)
        return BENCH_OK;
    uint8_t *m = realloc(c->msg, need), *o = NULL, *cp = NULL;
    if (m != NULL)
        c->msg = m;
    if (m == NULL || (o = realloc(c->out, need)) == NULL)
        return BENCH_FAIL;
    c->out = o;
    if ((cp = realloc(c->msg_copy, need)) == NULL)
        return BENCH_FAIL;
    c->msg_copy = cp;
    c->msg_cap = need;
    return BENCH_OK;
}

static int encrypt_msg(pair_ctx *c, OlmSession *from)
{
    uint8_t rnd[RANDOM_MAX];
    c->last_type = olm_encrypt_message_type(from);
    size_t rlen = olm_encrypt_random_length(from);
    size_t mlen = olm_encrypt_message_length(from, c->len);
    if (rlen > sizeof rnd || ensure_msg_cap(c, mlen) != BENCH_OK)
        return BENCH_FAIL;
    randombytes_buf(rnd, rlen);
    size_t r = olm_encrypt(from, c->pt, c->len, rnd, rlen, c->msg, mlen);
    if (failed(r)) {
        bench_error(NAME, "olm_encrypt failed: %s", olm_session_last_error(from));
        return BENCH_FAIL;
    }
    c->last_wire_len = r;
    return BENCH_OK;
}

/* olm_decrypt decodes the base64 message in place, destroying it. */
static int decrypt_msg(pair_ctx *c, OlmSession *to, const uint8_t **got, size_t *got_len)
{
    size_t r = olm_decrypt(to, c->last_type, c->msg, c->last_wire_len, c->out, c->msg_cap);
    if (failed(r)) {
        bench_error(NAME, "olm_decrypt failed: %s", olm_session_last_error(to));
        return BENCH_FAIL;
    }
    *got = c->out;
    *got_len = r;
    return BENCH_OK;
}

static int olmb_transmit(void *pair, bool b_to_a, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    if (encrypt_msg(c, b_to_a ? c->bs : c->as) != BENCH_OK)
        return BENCH_FAIL;
    return decrypt_msg(c, b_to_a ? c->as : c->bs, got, got_len);
}

/*
 * The whole setup with Bob's next published one-time key: outbound session,
 * first (pre-key) message, inbound session, one-time key removal, decrypt.
 * c->as and c->bs must be freshly initialized sessions.
 */
static int olmb_setup(void *pair, const uint8_t **got, size_t *got_len)
{
    pair_ctx *c = pair;
    uint8_t rnd[RANDOM_MAX];
    const otk_pool *pool = &c->otks;
    size_t k = c->otks.next++;
    size_t rlen = olm_create_outbound_session_random_length(c->as);
    if (rlen > sizeof rnd)
        return BENCH_FAIL;
    randombytes_buf(rnd, rlen);
    if (failed(olm_create_outbound_session(c->as, c->alice.a, c->bob.curve_key,
                                           c->bob.curve_key_len, pool->key[k], pool->key_len[k],
                                           rnd, rlen))) {
        bench_error(NAME, "olm_create_outbound_session failed: %s", olm_session_last_error(c->as));
        return BENCH_FAIL;
    }
    if (encrypt_msg(c, c->as) != BENCH_OK)
        return BENCH_FAIL;
    if (c->last_type != OLM_MESSAGE_TYPE_PRE_KEY) {
        bench_error(NAME, "the first message is not a pre-key message");
        return BENCH_FAIL;
    }
    /* olm_create_inbound_session decodes its input in place as well. */
    memcpy(c->msg_copy, c->msg, c->last_wire_len);
    if (failed(olm_create_inbound_session(c->bs, c->bob.a, c->msg_copy, c->last_wire_len)) ||
        failed(olm_remove_one_time_keys(c->bob.a, c->bs))) {
        bench_error(NAME, "creating the inbound session failed: %s", olm_session_last_error(c->bs));
        return BENCH_FAIL;
    }
    return decrypt_msg(c, c->bs, got, got_len);
}

/* Between setups: fresh session objects, and more published one-time keys. */
static int olmb_setup_reset(void *pair)
{
    pair_ctx *c = pair;
    if (session_alloc(&c->as_mem, &c->as) != BENCH_OK ||
        session_alloc(&c->bs_mem, &c->bs) != BENCH_OK)
        return BENCH_FAIL;
    if (c->otks.next == c->otks.n && otk_refill(&c->bob, &c->otks) != BENCH_OK)
        return BENCH_FAIL;
    return BENCH_OK;
}

/* Alice's and Bob's accounts, Bob's published one-time keys, fresh sessions. */
static int olmb_pair_init(void *pair, const uint8_t *pt, size_t len)
{
    pair_ctx *c = pair;
    c->pt = pt;
    c->len = len;
    if (ensure_msg_cap(c, (len + MSG_SLACK) / 3 * 4 + MSG_SLACK) != BENCH_OK ||
        account_init(&c->alice) != BENCH_OK || account_init(&c->bob) != BENCH_OK ||
        otk_refill(&c->bob, &c->otks) != BENCH_OK ||
        session_alloc(&c->as_mem, &c->as) != BENCH_OK ||
        session_alloc(&c->bs_mem, &c->bs) != BENCH_OK)
        return BENCH_FAIL;
    return BENCH_OK;
}

/* Length of the pickle olm_pickle_session() writes (base64, encrypted). */
static int pickle_len(OlmSession *s, size_t *len)
{
    static const char key[] = "bench pickle key";
    size_t cap = olm_pickle_session_length(s);
    char *buf = malloc(cap);
    if (buf == NULL)
        return BENCH_FAIL;
    size_t r = olm_pickle_session(s, key, sizeof key - 1, buf, cap);
    free(buf);
    if (failed(r)) {
        bench_error(NAME, "olm_pickle_session failed: %s", olm_session_last_error(s));
        return BENCH_FAIL;
    }
    *len = r;
    return BENCH_OK;
}

static int olmb_state_len(void *pair, bool bob, size_t *bytes)
{
    pair_ctx *c = pair;
    return pickle_len(bob ? c->bs : c->as, bytes);
}

static int olmb_wire_len(void *pair, size_t *bytes)
{
    const pair_ctx *c = pair;
    *bytes = c->last_wire_len;
    if (c->last_type != OLM_MESSAGE_TYPE_MESSAGE) {
        bench_error(NAME, "expected an ordinary message");
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

/* Sizes are of libolm's base64 text; the note gives the binary equivalent. */
static void olmb_size_note(bench_size_kind kind, size_t bytes, char *note, size_t note_cap)
{
    if (kind == BENCH_SIZE_STATE)
        snprintf(note, note_cap,
                 "libolm state: olm_pickle_session output, base64 of an encrypted pickle "
                 "(%zu bytes as binary)",
                 bytes * 3 / 4);
    else
        snprintf(note, note_cap,
                 "libolm wire: base64 as olm_encrypt emits it (%zu bytes as binary)",
                 bytes * 3 / 4);
}

static int olm_init_bench(void)
{
    return sodium_init() < 0 ? BENCH_FAIL : BENCH_OK;
}

static const char *olm_version(void)
{
    static char v[32];
    uint8_t major = 0, minor = 0, patch = 0;
    olm_get_library_version(&major, &minor, &patch);
    snprintf(v, sizeof v, "libolm %u.%u.%u", major, minor, patch);
    return v;
}

const bench_impl bench_impl_olm = {
    .name = NAME,
    .init = olm_init_bench,
    .version = olm_version,
    .pair_size = sizeof(pair_ctx),
    .pair_init = olmb_pair_init,
    .pair_clear = olmb_pair_clear,
    .setup = olmb_setup,
    .setup_reset = olmb_setup_reset,
    .transmit = olmb_transmit,
    .state_len = olmb_state_len,
    .wire_len = olmb_wire_len,
    .size_note = olmb_size_note,
};
