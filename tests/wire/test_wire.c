/* Wire and persisted formats, tested through the public deserializers and
 * secmsg_message_info: empty, garbage, truncated, wrong version, wrong key
 * lengths, missing fields and oversize inputs are all refused with the
 * documented error, and never change any state. Inputs are copied into
 * exact-size heap buffers so the sanitizers catch any read past the end. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

/* What consumes an input of each format. */
typedef enum kind {
    K_ID_PUB,  /* secmsg_identity_public_verify */
    K_ID_PRIV, /* secmsg_identity_deserialize */
    K_BUNDLE,  /* secmsg_session_initiate */
    K_INFO,    /* secmsg_message_info (ratchet message) */
    K_DECRYPT, /* secmsg_session_decrypt (ratchet message) */
    K_ACCEPT,  /* secmsg_session_accept (initial message) */
    K_PREKEYS, /* secmsg_prekeys_deserialize */
    K_SESSION, /* secmsg_session_deserialize */
    K_COUNT
} kind;

static const char *const kind_name[K_COUNT] = {
    "identity public", "identity private", "bundle",  "message_info",
    "decrypt",         "accept",           "prekeys", "session state",
};

/* Per-test fixture (each Criterion test runs in its own process). */
static struct {
    t_pair p; /* established; p.bob decrypts, p.bob_pk accepts */
    t_bytes sample[K_COUNT];
    t_bytes bundle_no_otpk;
} F;

static void fx_setup(void)
{
    t_setup();
    t_pair_establish(&F.p, 1);
    F.sample[K_ID_PUB] = t_identity_pub(F.p.alice_id);
    uint8_t priv[SECMSG_IDENTITY_PRIVATE_BYTES];
    size_t n = 0;
    cr_assert_eq(secmsg_identity_serialize(F.p.alice_id, priv, sizeof priv, &n), SECMSG_OK);
    F.sample[K_ID_PRIV] = t_bytes_copy(priv, n);
    F.sample[K_BUNDLE] = t_bundle(F.p.bob_pk, F.p.bob_id, 2);
    F.bundle_no_otpk = t_bundle(F.p.bob_pk, F.p.bob_id, 0);
    F.sample[K_INFO] = t_send(F.p.alice, T_DIR_AB, 1);
    F.sample[K_DECRYPT] = t_bytes_copy(F.sample[K_INFO].data, F.sample[K_INFO].len);
    secmsg_session *s = NULL;
    cr_assert_eq(
        secmsg_session_initiate(&s, F.p.alice_id, F.sample[K_BUNDLE].data, F.sample[K_BUNDLE].len),
        SECMSG_OK);
    F.sample[K_ACCEPT] = t_send(s, T_DIR_AB, 0);
    secmsg_session_free(s);
    F.sample[K_PREKEYS] = t_prekeys_state(F.p.bob_pk);
    F.sample[K_SESSION] = t_session_state(F.p.bob);
}

static void fx_teardown(void)
{
    for (int k = 0; k < K_COUNT; k++)
        t_bytes_free(&F.sample[k]);
    t_bytes_free(&F.bundle_no_otpk);
    t_pair_free(&F.p);
}

TestSuite(wire, .init = fx_setup, .fini = fx_teardown);

/* Feeds in[0..len) to the consumer of kind k and returns its result. Any
 * failure must leave Bob's session and prekeys exactly as they were. If
 * `restored` is not NULL and a persisted format parses, its re-serialization
 * is stored there. */
static int parse_ex(kind k, const uint8_t *in, size_t len, t_bytes *restored)
{
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    if (len)
        memcpy(buf, in, len);
    int rc = SECMSG_E_INVALID_ARG;
    switch (k) {
    case K_ID_PUB:
        rc = secmsg_identity_public_verify(buf, len);
        break;
    case K_ID_PRIV: {
        secmsg_identity *id = NULL;
        rc = secmsg_identity_deserialize(&id, buf, len);
        cr_assert(rc == SECMSG_OK || id == NULL);
        secmsg_identity_free(id);
        break;
    }
    case K_BUNDLE: {
        secmsg_session *s = NULL;
        rc = secmsg_session_initiate(&s, F.p.alice_id, buf, len);
        cr_assert(rc == SECMSG_OK || s == NULL);
        secmsg_session_free(s);
        break;
    }
    case K_INFO: {
        int type = 0;
        uint8_t who[SECMSG_IDENTITY_PUBLIC_BYTES];
        size_t who_len = 0;
        rc = secmsg_message_info(buf, len, &type, who, sizeof who, &who_len);
        break;
    }
    case K_DECRYPT: {
        t_bytes before = t_session_state(F.p.bob);
        uint8_t *pt = malloc(len ? len : 1);
        size_t pt_len = 0;
        cr_assert_not_null(pt);
        rc = secmsg_session_decrypt(F.p.bob, pt, len, &pt_len, buf, len);
        if (rc != SECMSG_OK) {
            t_bytes after = t_session_state(F.p.bob);
            t_assert_same_bytes(&before, &after, "session after a refused message");
            t_bytes_free(&after);
        }
        t_bytes_free(&before);
        free(pt);
        break;
    }
    case K_ACCEPT:
        rc = t_accept(NULL, F.p.bob_id, F.p.bob_pk, buf, len, NULL);
        break;
    case K_PREKEYS: {
        secmsg_prekeys *pk = NULL;
        rc = secmsg_prekeys_deserialize(&pk, buf, len);
        cr_assert(rc == SECMSG_OK || pk == NULL);
        if (pk && restored)
            *restored = t_prekeys_state(pk);
        secmsg_prekeys_free(pk);
        break;
    }
    case K_SESSION: {
        secmsg_session *s = NULL;
        rc = secmsg_session_deserialize(&s, buf, len);
        cr_assert(rc == SECMSG_OK || s == NULL);
        if (s && restored)
            *restored = t_session_state(s);
        secmsg_session_free(s);
        break;
    }
    default:
        cr_assert_fail("bad kind");
    }
    free(buf);
    return rc;
}

static int parse(kind k, const t_bytes *in)
{
    return parse_ex(k, in->data, in->len, NULL);
}

/* Asserts the result is `err`, or `alt` when alt != 0. */
static void expect(kind k, const t_bytes *in, int err, int alt, const char *what)
{
    int rc = parse(k, in);
    cr_assert(rc == err || (alt != 0 && rc == alt), "%s, %s: expected %s%s%s, got %s", what,
              kind_name[k], secmsg_strerror(err), alt ? " or " : "",
              alt ? secmsg_strerror(alt) : "", secmsg_strerror(rc));
}

static void expect_path_bytes(kind k, const uint32_t *path, size_t depth, const uint8_t *val,
                              size_t n, int err, const char *what)
{
    t_bytes e = t_pb_set_bytes(F.sample[k].data, F.sample[k].len, path, depth, val, n);
    expect(k, &e, err, 0, what);
    t_bytes_free(&e);
}

static void expect_path_varint(kind k, const uint32_t *path, size_t depth, uint64_t v, int err,
                               int alt, const char *what)
{
    t_bytes e = t_pb_set_varint(F.sample[k].data, F.sample[k].len, path, depth, v);
    expect(k, &e, err, alt, what);
    t_bytes_free(&e);
}

/* The samples themselves are accepted: the fixture is sound. */
Test(wire, samples_are_valid)
{
    for (int k = 0; k < K_COUNT; k++)
        expect((kind)k, &F.sample[k], SECMSG_OK, 0, "valid sample");
}

/* Empty input (non-NULL pointer, length 0) is INVALID_ARG or MALFORMED. */
Test(wire, empty_input)
{
    t_bytes e = t_bytes_copy(NULL, 0);
    for (int k = 0; k < K_COUNT; k++)
        expect((kind)k, &e, SECMSG_E_MALFORMED, SECMSG_E_INVALID_ARG, "empty");
    t_bytes_free(&e);
}

/* Bytes that are not protobuf at all are MALFORMED; random garbage (fixed
 * seed) is MALFORMED or, if it happens to parse with a bad version, VERSION. */
Test(wire, garbage)
{
    static const size_t lens[] = {1, 2, 10, 70, 136, 300, 1000};
    for (int k = 0; k < K_COUNT; k++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            t_bytes g = t_bytes_copy(NULL, 0);
            for (size_t j = 0; j < lens[i]; j++)
                t_bytes_append(&g, "\xff", 1);
            expect((kind)k, &g, SECMSG_E_MALFORMED, 0, "0xff bytes");
            memset(g.data, 0, g.len); /* field number 0 is invalid */
            expect((kind)k, &g, SECMSG_E_MALFORMED, 0, "zero bytes");
            t_bytes_free(&g);
        }
    t_rng rng;
    t_rng_seed(&rng, 0x6A7BA6E);
    for (int round = 0; round < 40; round++)
        for (int k = 0; k < K_COUNT; k++) {
            uint8_t buf[400];
            size_t n = 1 + t_rng_below(&rng, sizeof buf);
            t_rng_fill(&rng, buf, n);
            t_bytes g = t_bytes_copy(buf, n);
            expect((kind)k, &g, SECMSG_E_MALFORMED, SECMSG_E_VERSION, "random bytes");
            t_bytes_free(&g);
        }
}

static int is_ratchet_message(const uint8_t *m, size_t len)
{
    int type = 0;
    return len > 0 && secmsg_message_info(m, len, &type, NULL, 0, NULL) == SECMSG_OK &&
           type == SECMSG_MESSAGE_RATCHET;
}

/* Every proper prefix of a valid encoding is refused (MALFORMED; the empty
 * prefix may be INVALID_ARG). The only prefixes allowed to parse are ones
 * that mean the same thing: a bundle cut right before its optional one-time
 * prekey is the bundle without it, and a persisted state may parse only if it
 * re-serializes to the full original. */
Test(wire, truncated_encodings)
{
    for (int k = 0; k < K_COUNT; k++) {
        const t_bytes *s = &F.sample[k];
        for (size_t len = 0; len < s->len; len++) {
            t_bytes restored = {0};
            int rc = parse_ex((kind)k, s->data, len, &restored);
            if (rc == SECMSG_OK && k == K_BUNDLE) {
                cr_assert(len == F.bundle_no_otpk.len &&
                              memcmp(s->data, F.bundle_no_otpk.data, len) == 0,
                          "bundle prefix %zu/%zu parsed", len, s->len);
            } else if (rc == SECMSG_OK && (k == K_PREKEYS || k == K_SESSION)) {
                cr_assert(restored.len == s->len && memcmp(restored.data, s->data, s->len) == 0,
                          "%s prefix %zu/%zu restored a different state", kind_name[k], len,
                          s->len);
            } else if (k == K_ACCEPT && rc != SECMSG_OK && is_ratchet_message(s->data, len)) {
                /* cut right before the prekey part: a well-formed ratchet
                 * message, which accept may refuse with any error */
            } else {
                cr_assert(rc == SECMSG_E_MALFORMED || (len == 0 && rc == SECMSG_E_INVALID_ARG),
                          "%s prefix %zu/%zu: %s", kind_name[k], len, s->len, secmsg_strerror(rc));
            }
            t_bytes_free(&restored);
        }
    }
}

/* A version other than 1 is VERSION, whether the field is rewritten in place
 * or a second `version = 2` is appended (protobuf: the last one wins), at the
 * top level and in nested identities. */
Test(wire, unknown_version)
{
    for (int k = 0; k < K_COUNT; k++) {
        /* fixed-size formats: a longer varint changes the length, MALFORMED */
        int fixed = k == K_ID_PUB || k == K_ID_PRIV;
        expect_path_varint((kind)k, T_PATH(1), 2, SECMSG_E_VERSION, 0, "version 2");
        expect_path_varint((kind)k, T_PATH(1), 0xFFFFFFFFU, SECMSG_E_VERSION,
                           fixed ? SECMSG_E_MALFORMED : 0, "version 2^32-1");
        expect_path_varint((kind)k, T_PATH(1), 0, SECMSG_E_VERSION, SECMSG_E_MALFORMED,
                           "version 0");
        if (fixed)
            continue;
        t_bytes a = t_bytes_copy(F.sample[k].data, F.sample[k].len);
        t_bytes_append(&a, "\x08\x02", 2);
        expect((kind)k, &a, SECMSG_E_VERSION, 0, "appended version 2");
        t_bytes_free(&a);
    }
    expect_path_varint(K_BUNDLE, T_PATH(2, 1), 2, SECMSG_E_VERSION, 0, "bundle identity v2");
    expect_path_varint(K_ACCEPT, T_PATH(4, 1, 1), 2, SECMSG_E_VERSION, 0, "sender identity v2");
    t_bytes init = t_bytes_copy(F.sample[K_ACCEPT].data, F.sample[K_ACCEPT].len);
    t_bytes v2 = t_pb_set_varint(init.data, init.len, T_PATH(4, 1, 1), 2);
    expect(K_INFO, &v2, SECMSG_E_VERSION, 0, "message_info, sender identity v2");
    expect_path_varint(K_SESSION, T_PATH(4, 1), 2, SECMSG_E_VERSION, 0, "session remote v2");
    t_bytes_free(&init), t_bytes_free(&v2);
}

/* Identity publics rebuilt field by field: the honest rebuild verifies, and
 * keys of the wrong length are MALFORMED even when the total length is the
 * expected 136 bytes. */
Test(wire, identity_key_lengths)
{
    const t_bytes *pub = &F.sample[K_ID_PUB];
    size_t so, sn, dof, dn, go, gn;
    t_pb_find(pub->data, pub->len, T_PATH(2), &so, &sn);
    t_pb_find(pub->data, pub->len, T_PATH(3), &dof, &dn);
    t_pb_find(pub->data, pub->len, T_PATH(4), &go, &gn);
    cr_assert(sn == 32 && dn == 32 && gn == 64);
    /* {sign_pub length, dh_pub length, dh_sig length}: all sum to 128 */
    static const size_t shapes[][3] = {{32, 32, 64}, {31, 32, 65}, {33, 32, 63},
                                       {32, 31, 65}, {32, 33, 63}, {0, 32, 96}};
    uint8_t pad[128];
    memset(pad, 0x42, sizeof pad);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        t_bytes b = t_bytes_copy(NULL, 0);
        uint8_t sp[64], dp[64], sg[128];
        memcpy(sp, pub->data + so, 32), memcpy(sp + 32, pad, 32);
        memcpy(dp, pub->data + dof, 32), memcpy(dp + 32, pad, 32);
        memcpy(sg, pub->data + go, 64), memcpy(sg + 64, pad, 64);
        t_pb_add_varint(&b, 1, 1);
        t_pb_add_bytes(&b, 2, sp, shapes[i][0]);
        t_pb_add_bytes(&b, 3, dp, shapes[i][1]);
        t_pb_add_bytes(&b, 4, sg, shapes[i][2]);
        expect(K_ID_PUB, &b, i == 0 ? SECMSG_OK : SECMSG_E_MALFORMED, 0, "rebuilt identity");
        t_bytes_free(&b);
    }
}

/* Keys, signatures and ciphertext parts of the wrong length anywhere are
 * MALFORMED (checked before any signature or decryption). */
Test(wire, wrong_key_lengths)
{
    uint8_t k[128];
    memset(k, 0x33, sizeof k);
    static const size_t key_lens[] = {0, 31, 33};
    for (size_t i = 0; i < sizeof key_lens / sizeof key_lens[0]; i++) {
        size_t n = key_lens[i];
        expect_path_bytes(K_ID_PRIV, T_PATH(2), k, n, SECMSG_E_MALFORMED, "sign_seed");
        expect_path_bytes(K_ID_PRIV, T_PATH(3), k, n, SECMSG_E_MALFORMED, "dh_priv");
        expect_path_bytes(K_BUNDLE, T_PATH(2, 2), k, n, SECMSG_E_MALFORMED, "identity sign_pub");
        expect_path_bytes(K_BUNDLE, T_PATH(2, 3), k, n, SECMSG_E_MALFORMED, "identity dh_pub");
        expect_path_bytes(K_BUNDLE, T_PATH(3, 2), k, n, SECMSG_E_MALFORMED, "signed prekey");
        expect_path_bytes(K_BUNDLE, T_PATH(4, 2), k, n, SECMSG_E_MALFORMED, "one-time prekey");
        expect_path_bytes(K_ACCEPT, T_PATH(4, 2), k, n, SECMSG_E_MALFORMED, "ephemeral");
        expect_path_bytes(K_ACCEPT, T_PATH(4, 1, 3), k, n, SECMSG_E_MALFORMED, "sender dh_pub");
        expect_path_bytes(K_PREKEYS, T_PATH(2), k, n, SECMSG_E_MALFORMED, "identity_sign_pub");
        expect_path_bytes(K_PREKEYS, T_PATH(3, 2), k, n, SECMSG_E_MALFORMED, "signed prekey");
        expect_path_bytes(K_PREKEYS, T_PATH(6, 2), k, n, SECMSG_E_MALFORMED, "one-time prekey");
        expect_path_bytes(K_SESSION, T_PATH(5), k, n, SECMSG_E_MALFORMED, "rk");
        expect_path_bytes(K_SESSION, T_PATH(6), k, n, SECMSG_E_MALFORMED, "dhs_priv");
        expect_path_bytes(K_SESSION, T_PATH(4, 2), k, n, SECMSG_E_MALFORMED, "remote sign_pub");
    }
    static const size_t sig_lens[] = {0, 63, 65};
    for (size_t i = 0; i < sizeof sig_lens / sizeof sig_lens[0]; i++) {
        size_t n = sig_lens[i];
        expect_path_bytes(K_BUNDLE, T_PATH(2, 4), k, n, SECMSG_E_MALFORMED, "dh_sig");
        expect_path_bytes(K_BUNDLE, T_PATH(3, 3), k, n, SECMSG_E_MALFORMED, "spk sig");
        expect_path_bytes(K_ACCEPT, T_PATH(4, 1, 4), k, n, SECMSG_E_MALFORMED, "sender dh_sig");
        expect_path_bytes(K_PREKEYS, T_PATH(4), k, n, SECMSG_E_MALFORMED, "spk sig");
    }
    static const size_t hdr_lens[] = {0, 12, 67, 69};
    for (size_t i = 0; i < sizeof hdr_lens / sizeof hdr_lens[0]; i++) {
        size_t n = hdr_lens[i];
        expect_path_bytes(K_INFO, T_PATH(2), k, n, SECMSG_E_MALFORMED, "header");
        expect_path_bytes(K_DECRYPT, T_PATH(2), k, n, SECMSG_E_MALFORMED, "header");
        expect_path_bytes(K_ACCEPT, T_PATH(2), k, n, SECMSG_E_MALFORMED, "header");
    }
    /* a body shorter than the 16-byte tag cannot be a ciphertext */
    expect_path_bytes(K_INFO, T_PATH(3), k, 15, SECMSG_E_MALFORMED, "body of 15 bytes");
    expect_path_bytes(K_DECRYPT, T_PATH(3), k, 15, SECMSG_E_MALFORMED, "body of 15 bytes");
    expect_path_bytes(K_DECRYPT, T_PATH(3), k, 16, SECMSG_E_DECRYPT, "forged empty body");
}

/* Each required field, when absent, makes the input MALFORMED. */
Test(wire, missing_required_fields)
{
    static const struct {
        kind k;
        uint32_t path[3];
        size_t depth;
    } cases[] = {
        {K_ID_PRIV, {1}, 1},      {K_ID_PRIV, {2}, 1},   {K_ID_PRIV, {3}, 1},
        {K_BUNDLE, {1}, 1},       {K_BUNDLE, {2}, 1},    {K_BUNDLE, {3}, 1},
        {K_BUNDLE, {2, 1}, 2},    {K_BUNDLE, {2, 2}, 2}, {K_BUNDLE, {2, 3}, 2},
        {K_BUNDLE, {2, 4}, 2},    {K_BUNDLE, {3, 1}, 2}, {K_BUNDLE, {3, 2}, 2},
        {K_BUNDLE, {3, 3}, 2},    {K_BUNDLE, {4, 1}, 2}, {K_BUNDLE, {4, 2}, 2},
        {K_INFO, {1}, 1},         {K_INFO, {2}, 1},      {K_INFO, {3}, 1},
        {K_DECRYPT, {1}, 1},      {K_DECRYPT, {2}, 1},   {K_DECRYPT, {3}, 1},
        {K_ACCEPT, {4, 1}, 2},    {K_ACCEPT, {4, 2}, 2}, {K_ACCEPT, {4, 3}, 2},
        {K_ACCEPT, {4, 1, 4}, 3}, {K_PREKEYS, {1}, 1},   {K_PREKEYS, {2}, 1},
        {K_PREKEYS, {3}, 1},      {K_PREKEYS, {4}, 1},   {K_PREKEYS, {3, 2}, 2},
        {K_SESSION, {1}, 1},      {K_SESSION, {3}, 1},   {K_SESSION, {4}, 1},
        {K_SESSION, {5}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const t_bytes *s = &F.sample[cases[i].k];
        t_bytes e = t_pb_set_bytes(s->data, s->len, cases[i].path, cases[i].depth, NULL, 0);
        char what[64];
        snprintf(what, sizeof what, "case %zu: field %u (depth %zu) removed", i,
                 cases[i].path[cases[i].depth - 1], cases[i].depth);
        expect(cases[i].k, &e, SECMSG_E_MALFORMED, 0, what);
        t_bytes_free(&e);
    }
    /* message_info reports the sender identity, so it must parse it */
    const t_bytes *init = &F.sample[K_ACCEPT];
    t_bytes e = t_pb_set_bytes(init->data, init->len, T_PATH(4, 1), NULL, 0);
    expect(K_INFO, &e, SECMSG_E_MALFORMED, 0, "initial message without sender identity");
    t_bytes_free(&e);
}

/* Appends an unknown field (number 15) of n bytes. */
static t_bytes with_padding(const t_bytes *in, size_t n)
{
    t_bytes b = t_bytes_copy(in->data, in->len);
    uint8_t *pad = calloc(1, n ? n : 1);
    cr_assert_not_null(pad);
    t_pb_add_bytes(&b, 15, pad, n);
    free(pad);
    return b;
}

/* Identity formats have a fixed size: anything longer is MALFORMED, even a
 * valid encoding with an unknown field appended. */
Test(wire, oversize_identity)
{
    static const kind kinds[] = {K_ID_PUB, K_ID_PRIV};
    static const size_t pads[] = {2, 1000};
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 2; j++) {
            t_bytes b = with_padding(&F.sample[kinds[i]], pads[j]);
            char what[64];
            snprintf(what, sizeof what, "%zu bytes (unknown field appended)", b.len);
            expect(kinds[i], &b, SECMSG_E_MALFORMED, 0, what);
            t_bytes_free(&b);
        }
}

/* A bundle longer than SECMSG_PREKEY_BUNDLE_MAX_BYTES is MALFORMED. */
Test(wire, oversize_bundle)
{
    static const size_t totals[] = {SECMSG_PREKEY_BUNDLE_MAX_BYTES + 1U, 4096};
    for (size_t i = 0; i < 2; i++) {
        /* field 15, length < 128 or < 16384: 2 or 3 bytes of framing */
        size_t room = totals[i] - F.sample[K_BUNDLE].len;
        size_t pad = room - (room - 2 < 128 ? 2 : 3);
        t_bytes b = with_padding(&F.sample[K_BUNDLE], pad);
        cr_assert_eq(b.len, totals[i]);
        char what[64];
        snprintf(what, sizeof what, "bundle of %zu bytes", b.len);
        expect(K_BUNDLE, &b, SECMSG_E_MALFORMED, 0, what);
        t_bytes_free(&b);
    }
}

/* A body over SECMSG_MAX_PLAINTEXT + 16 bytes is MALFORMED for message_info
 * and decrypt; exactly that size is well-formed (and, forged, DECRYPT). */
Test(wire, oversize_message_body)
{
    const size_t max_body = SECMSG_MAX_PLAINTEXT + 16U;
    uint8_t *body = calloc(1, max_body + 1);
    cr_assert_not_null(body);
    const t_bytes *m = &F.sample[K_DECRYPT];
    t_bytes over = t_pb_set_bytes(m->data, m->len, T_PATH(3), body, max_body + 1);
    t_bytes at = t_pb_set_bytes(m->data, m->len, T_PATH(3), body, max_body);
    free(body);
    expect(K_INFO, &at, SECMSG_OK, 0, "body of exactly the maximum");
    expect(K_DECRYPT, &at, SECMSG_E_DECRYPT, 0, "forged body of exactly the maximum");
    expect(K_DECRYPT, &over, SECMSG_E_MALFORMED, 0, "body over the maximum");
    expect(K_INFO, &over, SECMSG_E_MALFORMED, 0, "body over the maximum");
    t_bytes_free(&over), t_bytes_free(&at);
}

/* A prekey set may hold SECMSG_MAX_ONE_TIME_PREKEYS one-time prekeys; a
 * stored set with one more is MALFORMED. */
Test(wire, oversize_prekey_set)
{
    uint8_t key[32];
    memset(key, 0x21, sizeof key);
    secmsg_prekeys *pk = t_prekeys(F.p.bob_id, 3, SECMSG_MAX_ONE_TIME_PREKEYS);
    t_bytes ok = t_prekeys_state(pk);
    secmsg_prekeys_free(pk);
    t_bytes raised = t_pb_set_varint(ok.data, ok.len, T_PATH(7), SECMSG_MAX_ONE_TIME_PREKEYS + 2U);
    t_bytes_free(&ok);
    ok = raised;
    expect(K_PREKEYS, &ok, SECMSG_OK, 0, "full prekey set, next id raised");
    t_bytes extra = t_bytes_copy(NULL, 0);
    t_pb_add_varint(&extra, 1, SECMSG_MAX_ONE_TIME_PREKEYS + 1U);
    t_pb_add_bytes(&extra, 2, key, sizeof key);
    t_pb_add_bytes(&ok, 6, extra.data, extra.len);
    expect(K_PREKEYS, &ok, SECMSG_E_MALFORMED, 0, "one one-time prekey too many");
    t_bytes_free(&ok), t_bytes_free(&extra);
}

/* X25519 ignores bit 255 of a public key, so a key with it set is a second
 * encoding of the same key. Where nothing signs the key (the one-time prekey
 * in a bundle, the ephemeral key of an initial message) it must be refused,
 * or one message gets several valid encodings (a bit flip that is accepted). */
Test(wire, noncanonical_x25519_keys)
{
    static const struct {
        kind k;
        uint32_t path[2];
        const char *what;
    } cases[] = {
        {K_BUNDLE, {4, 2}, "bundle one-time prekey with bit 255 set"},
        {K_ACCEPT, {4, 2}, "initial message ephemeral with bit 255 set"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const t_bytes *s = &F.sample[cases[i].k];
        size_t off, n;
        t_pb_find(s->data, s->len, cases[i].path, 2, &off, &n);
        cr_assert_eq(n, 32U);
        t_bytes b = t_bytes_copy(s->data, s->len);
        b.data[off + 31] ^= 0x80;
        int rc = parse(cases[i].k, &b);
        cr_expect(rc == SECMSG_E_MALFORMED || rc == SECMSG_E_CRYPTO, "%s: %s", cases[i].what,
                  secmsg_strerror(rc));
        t_bytes_free(&b);
    }
}

/* A session state may hold at most SECMSG_MAX_SKIPPED_TOTAL skipped keys:
 * exactly that many restores, one more is MALFORMED. */
Test(wire, session_skipped_key_limit)
{
    uint8_t key[44];
    memset(key, 0x5C, sizeof key);
    t_bytes st = t_bytes_copy(F.sample[K_SESSION].data, F.sample[K_SESSION].len);
    t_pb_add_bytes(&st, 17, key, 32);
    for (uint32_t i = 0; i < SECMSG_MAX_SKIPPED_TOTAL + 1U; i++) {
        if (i == SECMSG_MAX_SKIPPED_TOTAL)
            expect(K_SESSION, &st, SECMSG_OK, 0, "SECMSG_MAX_SKIPPED_TOTAL skipped keys");
        t_bytes sk = t_bytes_copy(NULL, 0);
        t_pb_add_varint(&sk, 1, 0);
        t_pb_add_varint(&sk, 2, 5000U + i);
        t_pb_add_bytes(&sk, 3, key, sizeof key);
        t_pb_add_bytes(&st, 18, sk.data, sk.len);
        t_bytes_free(&sk);
    }
    expect(K_SESSION, &st, SECMSG_E_MALFORMED, 0, "one skipped key too many");
    t_bytes_free(&st);
}

/* Regression (fuzz finding): a stored session whose skipped-key table holds
 * the same (chain, n) twice let a replayed message decrypt twice. Such a
 * state, and one with a header key stored twice, is MALFORMED. */
Test(wire, session_duplicate_skipped_keys)
{
    uint8_t hk[32], mk[44];
    memset(hk, 0x3A, sizeof hk);
    memset(mk, 0x5C, sizeof mk);
    t_bytes sk = t_bytes_copy(NULL, 0);
    t_pb_add_varint(&sk, 1, 0);
    t_pb_add_varint(&sk, 2, 7);
    t_pb_add_bytes(&sk, 3, mk, sizeof mk);

    t_bytes once = t_bytes_copy(F.sample[K_SESSION].data, F.sample[K_SESSION].len);
    t_pb_add_bytes(&once, 17, hk, sizeof hk);
    t_pb_add_bytes(&once, 18, sk.data, sk.len);
    expect(K_SESSION, &once, SECMSG_OK, 0, "one skipped key");

    t_bytes twice = t_bytes_copy(once.data, once.len);
    t_pb_add_bytes(&twice, 18, sk.data, sk.len);
    expect(K_SESSION, &twice, SECMSG_E_MALFORMED, 0, "the same skipped key twice");

    t_bytes two_hk = t_bytes_copy(once.data, once.len);
    t_pb_add_bytes(&two_hk, 17, hk, sizeof hk);
    t_bytes sk1 = t_bytes_copy(NULL, 0);
    t_pb_add_varint(&sk1, 1, 1);
    t_pb_add_varint(&sk1, 2, 8);
    t_pb_add_bytes(&sk1, 3, mk, sizeof mk);
    t_pb_add_bytes(&two_hk, 18, sk1.data, sk1.len);
    expect(K_SESSION, &two_hk, SECMSG_E_MALFORMED, 0, "one header key stored for two chains");
    t_bytes_free(&sk), t_bytes_free(&sk1), t_bytes_free(&once), t_bytes_free(&twice),
        t_bytes_free(&two_hk);
}

/* Regression (fuzz finding): a valid identity public with a field repeated
 * (here `version` again, 138 bytes) passed verification. Only the canonical
 * encoding is accepted, so every identity has exactly one byte form. */
Test(wire, identity_repeated_field)
{
    t_bytes b = t_bytes_copy(F.sample[K_ID_PUB].data, F.sample[K_ID_PUB].len);
    t_pb_add_varint(&b, 1, SECMSG_PROTOCOL_VERSION);
    cr_assert_eq(b.len, SECMSG_IDENTITY_PUBLIC_BYTES + 2U);
    expect(K_ID_PUB, &b, SECMSG_E_MALFORMED, 0, "identity public with version repeated");
    t_bytes_free(&b);
}

/*
 * Regression: the canonical check compared only the re-encoded length, so
 * an identity with its fields in another order (same length) was accepted,
 * giving one identity two encodings.
 */
Test(wire, reordered_fields_refused)
{
    secmsg_identity *id = NULL;
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES], swapped[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t len = 0;
    cr_assert_eq(secmsg_identity_generate(&id), SECMSG_OK);
    cr_assert_eq(secmsg_identity_public(id, pub, sizeof pub, &len), SECMSG_OK);
    secmsg_identity_free(id);
    /* 08 01 | 12 20 sign_pub | 1a 20 dh_pub | 22 40 dh_sig */
    cr_assert_eq(len, 136U);
    cr_assert(pub[0] == 0x08 && pub[2] == 0x12 && pub[36] == 0x1a && pub[70] == 0x22);
    cr_assert_eq(secmsg_identity_public_verify(pub, len), SECMSG_OK);
    memcpy(swapped, pub, 2);
    memcpy(swapped + 2, pub + 36, 34);
    memcpy(swapped + 36, pub + 2, 34);
    memcpy(swapped + 70, pub + 70, 66);
    cr_assert_eq(secmsg_identity_public_verify(swapped, len), SECMSG_E_MALFORMED);
}
