/* The relay request decoders (libsecmsg/src/wire/relay_codec.h): every
 * decoder accepts its valid encoding and refuses, with SECMSG_E_MALFORMED,
 * truncated, oversize and non-canonical input, and every length and count
 * one past its limit. Inputs are copied into exact-size heap buffers so the
 * sanitizers catch any read past the end. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "helpers.h"
#include "wire/codec.h"
#include "wire/relay_codec.h"

typedef enum kind {
    K_REGISTER,
    K_CHALLENGE,
    K_TOKEN,
    K_INVITE,
    K_PREKEYS,
    K_CLAIM,
    K_SEND,
    K_ACK,
    K_COUNT
} kind;

static const char *const kind_name[K_COUNT] = {"register", "challenge", "token", "invite",
                                               "prekeys",  "claim",     "send",  "ack"};

static const secmsg__relay_limits default_limits = {
    .max_body = 256U * 1024U,
    .max_envelope = 96U * 1024U,
    .max_recipients = 5000,
    .max_prekeys_per_upload = 100,
    .max_acks = 1000,
};

/* Per-test state (each Criterion test runs in its own process). */
static struct {
    secmsg__relay_limits lim;
    t_bytes idpub; /* a real identity public */
    t_bytes spk;   /* a real signed prekey (SignedPrekey bytes) */
    uint8_t pool[4096];
    uint8_t key[32]; /* a canonical X25519 public key */
} F;

static ProtobufCBinaryData bin(size_t n)
{
    cr_assert_leq(n, sizeof F.pool);
    return secmsg__bytes(F.pool, n);
}

static ProtobufCBinaryData tb(const t_bytes *b)
{
    return secmsg__bytes(b->data, b->len);
}

static t_bytes pack(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    size_t w = protobuf_c_message_pack(m, p);
    cr_assert_eq(w, n);
    t_bytes b = t_bytes_copy(p, n);
    free(p);
    return b;
}

/* ---- samples (their arrays are static: build, edit, pack) ---- */

static Secmsg__Wire__SignedPrekey spk_valid(void)
{
    Secmsg__Wire__SignedPrekey s = SECMSG__WIRE__SIGNED_PREKEY__INIT;
    s.has_id = s.has_pub = s.has_sig = 1;
    s.id = 7;
    s.pub = secmsg__bytes(F.key, 32);
    s.sig = bin(64);
    return s;
}

static Secmsg__Relay__RegisterRequest reg_valid(void)
{
    Secmsg__Relay__RegisterRequest m = SECMSG__RELAY__REGISTER_REQUEST__INIT;
    m.has_token = m.has_identity = m.has_sig = 1;
    m.token = bin(SECMSG__RELAY_TOKEN_BYTES);
    m.identity = tb(&F.idpub);
    m.sig = bin(64);
    return m;
}

static Secmsg__Relay__ChallengeRequest chal_valid(void)
{
    Secmsg__Relay__ChallengeRequest m = SECMSG__RELAY__CHALLENGE_REQUEST__INIT;
    m.has_device_id = 1;
    m.device_id = bin(32);
    return m;
}

static Secmsg__Relay__TokenRequest tok_valid(void)
{
    Secmsg__Relay__TokenRequest m = SECMSG__RELAY__TOKEN_REQUEST__INIT;
    m.has_device_id = m.has_nonce = m.has_sig = 1;
    m.device_id = bin(32);
    m.nonce = bin(32);
    m.sig = bin(64);
    return m;
}

static char invite_uid[128];

static Secmsg__Relay__InviteRequest inv_valid(void)
{
    Secmsg__Relay__InviteRequest m = SECMSG__RELAY__INVITE_REQUEST__INIT;
    strcpy(invite_uid, "citizen-42.Oslo_K");
    m.user_id = invite_uid;
    m.has_ttl_seconds = 1;
    m.ttl_seconds = 7U * 24U * 3600U;
    return m;
}

static Secmsg__Relay__OneTimePrekeyPublic otk[4];
static Secmsg__Relay__OneTimePrekeyPublic *otkp[4];

static Secmsg__Relay__PrekeyUpload pk_valid(void)
{
    Secmsg__Relay__PrekeyUpload m = SECMSG__RELAY__PREKEY_UPLOAD__INIT;
    m.has_signed_prekey = 1;
    m.signed_prekey = tb(&F.spk);
    for (unsigned i = 0; i < 4; i++) {
        Secmsg__Relay__OneTimePrekeyPublic k = SECMSG__RELAY__ONE_TIME_PREKEY_PUBLIC__INIT;
        k.has_id = k.has_pub = 1;
        k.id = 200 + i; /* two-byte varints */
        k.pub = secmsg__bytes(F.key, 32);
        otk[i] = k;
        otkp[i] = &otk[i];
    }
    m.n_one_time_prekeys = 3;
    m.one_time_prekeys = otkp;
    return m;
}

static Secmsg__Relay__ClaimRequest claim_valid(void)
{
    Secmsg__Relay__ClaimRequest m = SECMSG__RELAY__CLAIM_REQUEST__INIT;
    m.has_device_id = 1;
    m.device_id = bin(32);
    return m;
}

static Secmsg__Relay__Envelope env[3];
static Secmsg__Relay__Envelope *envp[3];
static ProtobufCBinaryData rcpt[3][3];
static ProtobufCBinaryData blobs[3][2];

/* Two envelopes: 2 recipients, 100 bytes, 1 blob; 1 recipient, 10 bytes. */
static Secmsg__Relay__SendRequest send_valid(void)
{
    Secmsg__Relay__SendRequest m = SECMSG__RELAY__SEND_REQUEST__INIT;
    for (unsigned i = 0; i < 3; i++) {
        Secmsg__Relay__Envelope e = SECMSG__RELAY__ENVELOPE__INIT;
        e.has_message_id = e.has_content = 1;
        e.message_id = bin(16);
        for (unsigned j = 0; j < 3; j++)
            rcpt[i][j] = bin(32);
        for (unsigned j = 0; j < 2; j++)
            blobs[i][j] = bin(16);
        e.recipients = rcpt[i];
        e.blob_ids = blobs[i];
        env[i] = e;
        envp[i] = &env[i];
    }
    env[0].n_recipients = 2;
    env[0].content = bin(100);
    env[0].n_blob_ids = 1;
    env[1].n_recipients = 1;
    env[1].content = bin(10);
    m.n_envelopes = 2;
    m.envelopes = envp;
    return m;
}

static uint64_t ack_ids[8];

static Secmsg__Relay__AckRequest ack_valid(void)
{
    Secmsg__Relay__AckRequest m = SECMSG__RELAY__ACK_REQUEST__INIT;
    static const uint64_t ids[8] = {1, 300, 70000, 4, 5, 6, 7, UINT64_MAX};
    memcpy(ack_ids, ids, sizeof ids);
    m.n_ids = 3;
    m.ids = ack_ids;
    return m;
}

/* The valid sample of kind k, encoded. */
static t_bytes sample(kind k)
{
    switch (k) {
    case K_REGISTER: {
        Secmsg__Relay__RegisterRequest m = reg_valid();
        return pack(&m.base);
    }
    case K_CHALLENGE: {
        Secmsg__Relay__ChallengeRequest m = chal_valid();
        return pack(&m.base);
    }
    case K_TOKEN: {
        Secmsg__Relay__TokenRequest m = tok_valid();
        return pack(&m.base);
    }
    case K_INVITE: {
        Secmsg__Relay__InviteRequest m = inv_valid();
        return pack(&m.base);
    }
    case K_PREKEYS: {
        Secmsg__Relay__PrekeyUpload m = pk_valid();
        return pack(&m.base);
    }
    case K_CLAIM: {
        Secmsg__Relay__ClaimRequest m = claim_valid();
        return pack(&m.base);
    }
    case K_SEND: {
        Secmsg__Relay__SendRequest m = send_valid();
        return pack(&m.base);
    }
    case K_ACK: {
        Secmsg__Relay__AckRequest m = ack_valid();
        return pack(&m.base);
    }
    case K_COUNT:
        break;
    }
    cr_assert_fail("no sample");
    return (t_bytes){0};
}

/* ---- running a decoder ---- */

static int decode_raw(kind k, ProtobufCMessage **out, const uint8_t *in, size_t len,
                      const secmsg__relay_limits *lim)
{
    void *m = NULL;
    int rc = SECMSG_E_INVALID_ARG;
    switch (k) {
#define CASE(K, type, fn)                                                                          \
    case K: {                                                                                      \
        type *t = (type *)(uintptr_t)1; /* must be overwritten */                                  \
        rc = fn(&t, in, len);                                                                      \
        m = t;                                                                                     \
        break;                                                                                     \
    }
#define CASE_LIM(K, type, fn)                                                                      \
    case K: {                                                                                      \
        type *t = (type *)(uintptr_t)1;                                                            \
        rc = fn(&t, in, len, lim);                                                                 \
        m = t;                                                                                     \
        break;                                                                                     \
    }
        CASE(K_REGISTER, Secmsg__Relay__RegisterRequest, secmsg__relay_decode_register)
        CASE(K_CHALLENGE, Secmsg__Relay__ChallengeRequest, secmsg__relay_decode_challenge)
        CASE(K_TOKEN, Secmsg__Relay__TokenRequest, secmsg__relay_decode_token)
        CASE(K_INVITE, Secmsg__Relay__InviteRequest, secmsg__relay_decode_invite)
        CASE_LIM(K_PREKEYS, Secmsg__Relay__PrekeyUpload, secmsg__relay_decode_prekeys)
        CASE(K_CLAIM, Secmsg__Relay__ClaimRequest, secmsg__relay_decode_claim)
        CASE_LIM(K_SEND, Secmsg__Relay__SendRequest, secmsg__relay_decode_send)
        CASE_LIM(K_ACK, Secmsg__Relay__AckRequest, secmsg__relay_decode_ack)
#undef CASE
#undef CASE_LIM
    case K_COUNT:
        break;
    }
    *out = m;
    return rc;
}

/*
 * Decodes a copy of in[0..len) with F.lim. The header's promises: OK or
 * MALFORMED only; a message exactly on OK, NULL otherwise; an accepted
 * input is canonical (re-encodes to the same length, and for inputs we
 * made, to the same bytes when `exact`).
 */
static int run_ex(kind k, const uint8_t *in, size_t len, int exact)
{
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    if (len)
        memcpy(buf, in, len);
    ProtobufCMessage *m = NULL;
    int rc = decode_raw(k, &m, buf, len, &F.lim);
    cr_assert(rc == SECMSG_OK || rc == SECMSG_E_MALFORMED, "%s: rc %d", kind_name[k], rc);
    if (rc == SECMSG_OK) {
        cr_assert_not_null(m, "%s", kind_name[k]);
        t_bytes again = pack(m);
        cr_assert_eq(again.len, len, "%s: accepted a non-canonical length", kind_name[k]);
        if (exact)
            cr_assert_arr_eq(again.data, buf, len, "%s: re-encoding differs", kind_name[k]);
        t_bytes_free(&again);
        protobuf_c_message_free_unpacked(m, NULL);
    } else {
        cr_assert_null(m, "%s: output left on error", kind_name[k]);
    }
    free(buf);
    return rc;
}

static int run(kind k, const uint8_t *in, size_t len)
{
    return run_ex(k, in, len, 1);
}

static int run_msg(kind k, const ProtobufCMessage *m)
{
    t_bytes b = pack(m);
    int rc = run(k, b.data, b.len);
    t_bytes_free(&b);
    return rc;
}

#define OK(k, msg)                                                                                 \
    cr_assert_eq(run_msg(k, &(msg).base), SECMSG_OK, "%s: valid refused", kind_name[k])
#define BAD(k, msg)                                                                                \
    cr_assert_eq(run_msg(k, &(msg).base), SECMSG_E_MALFORMED, "%s: invalid accepted (line %d)",    \
                 kind_name[k], __LINE__)

/* Offsets where the top-level fields of a (well-formed) encoding end. */
static size_t field_ends(const uint8_t *in, size_t len, size_t *ends, size_t cap)
{
    size_t off = 0, n = 0;
    while (off < len) {
        uint64_t tag = 0, v = 0;
        for (unsigned s = 0; off < len; s += 7) {
            uint8_t c = in[off++];
            tag |= (uint64_t)(c & 0x7fU) << s;
            if (!(c & 0x80U))
                break;
        }
        for (unsigned s = 0; off < len; s += 7) {
            uint8_t c = in[off++];
            v |= (uint64_t)(c & 0x7fU) << s;
            if (!(c & 0x80U))
                break;
        }
        if ((tag & 7U) == T_PB_LEN)
            off += (size_t)v;
        cr_assert_leq(off, len);
        cr_assert_lt(n, cap);
        ends[n++] = off;
    }
    return n;
}

static void setup(void)
{
    t_setup();
    F.lim = default_limits;
    for (size_t i = 0; i < sizeof F.pool; i++)
        F.pool[i] = (uint8_t)(i * 7U + 3U);
    uint8_t sk[32];
    randombytes_buf(sk, sizeof sk);
    crypto_scalarmult_base(F.key, sk);
    F.key[31] &= 0x7fU;
    secmsg_identity *id = t_identity(1);
    F.idpub = t_identity_pub(id);
    secmsg_identity_free(id);
    Secmsg__Wire__SignedPrekey s = spk_valid();
    F.spk = pack(&s.base);
}

static void teardown(void)
{
    t_bytes_free(&F.idpub);
    t_bytes_free(&F.spk);
}

TestSuite(relay_codec, .init = setup, .fini = teardown);

/* ---- every decoder ---- */

Test(relay_codec, valid_samples_decode_and_reencode_exactly)
{
    for (int k = 0; k < K_COUNT; k++) {
        t_bytes b = sample((kind)k);
        cr_assert_eq(run((kind)k, b.data, b.len), SECMSG_OK, "%s", kind_name[k]);
        t_bytes_free(&b);
    }
}

Test(relay_codec, null_and_empty_inputs_are_refused)
{
    static const uint8_t one[1] = {0};
    for (int k = 0; k < K_COUNT; k++) {
        ProtobufCMessage *m = NULL;
        cr_assert_eq(decode_raw((kind)k, &m, NULL, 0, &F.lim), SECMSG_E_MALFORMED);
        cr_assert_null(m);
        cr_assert_eq(decode_raw((kind)k, &m, NULL, 10, &F.lim), SECMSG_E_MALFORMED);
        cr_assert_null(m);
        cr_assert_eq(decode_raw((kind)k, &m, one, 0, &F.lim), SECMSG_E_MALFORMED);
        cr_assert_null(m);
    }
}

Test(relay_codec, null_out_or_limits_are_invalid_arguments)
{
    t_bytes b = sample(K_CHALLENGE);
    cr_assert_eq(secmsg__relay_decode_challenge(NULL, b.data, b.len), SECMSG_E_INVALID_ARG);
    t_bytes_free(&b);
    kind lk[3] = {K_PREKEYS, K_SEND, K_ACK};
    for (int i = 0; i < 3; i++) {
        b = sample(lk[i]);
        ProtobufCMessage *m = (ProtobufCMessage *)(uintptr_t)1;
        cr_assert_eq(decode_raw(lk[i], &m, b.data, b.len, NULL), SECMSG_E_INVALID_ARG);
        cr_assert_null(m);
        t_bytes_free(&b);
    }
}

Test(relay_codec, every_truncation_inside_a_field_is_refused)
{
    for (int k = 0; k < K_COUNT; k++) {
        t_bytes b = sample((kind)k);
        size_t ends[64];
        size_t n = field_ends(b.data, b.len, ends, 64);
        for (size_t len = 1; len < b.len; len++) {
            int boundary = 0;
            for (size_t i = 0; i < n; i++)
                boundary |= ends[i] == len;
            int rc = run((kind)k, b.data, len);
            if (!boundary)
                cr_assert_eq(rc, SECMSG_E_MALFORMED, "%s: prefix %zu of %zu accepted", kind_name[k],
                             len, b.len);
        }
        cr_assert_eq(run((kind)k, b.data, b.len - 1), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        t_bytes_free(&b);
    }
}

Test(relay_codec, appended_unknown_fields_are_refused)
{
    static const uint8_t junk[3] = {1, 2, 3};
    for (int k = 0; k < K_COUNT; k++) {
        t_bytes b = sample((kind)k);
        t_bytes v = t_bytes_copy(b.data, b.len);
        t_pb_add_varint(&v, 15, 0);
        cr_assert_eq(run((kind)k, v.data, v.len), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        t_bytes l = t_bytes_copy(b.data, b.len);
        t_pb_add_bytes(&l, 9, junk, sizeof junk);
        cr_assert_eq(run((kind)k, l.data, l.len), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        /* and in front */
        t_bytes f = {0};
        t_pb_add_varint(&f, 12, 1);
        t_bytes_append(&f, b.data, b.len);
        cr_assert_eq(run((kind)k, f.data, f.len), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        t_bytes_free(&b);
        t_bytes_free(&v);
        t_bytes_free(&l);
        t_bytes_free(&f);
    }
}

/* A singular field given twice: protobuf-c keeps the last, so the input is
 * longer than its re-encoding. (Send and ack have only repeated top-level
 * fields; their nested and packed cases are tested below.) */
Test(relay_codec, repeated_singular_fields_are_refused)
{
    for (int k = 0; k < K_COUNT; k++) {
        if (k == K_SEND || k == K_ACK)
            continue;
        t_bytes b = sample((kind)k);
        size_t ends[64];
        field_ends(b.data, b.len, ends, 64);
        /* the first top-level field is singular in every other request */
        t_bytes d = t_bytes_copy(b.data, b.len);
        t_bytes_append(&d, b.data, ends[0]);
        cr_assert_eq(run((kind)k, d.data, d.len), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        t_bytes_free(&d);
        t_bytes_free(&b);
    }
}

Test(relay_codec, oversize_inputs_are_refused)
{
    for (int k = 0; k < K_COUNT; k++) {
        t_bytes b = sample((kind)k);
        /* a valid prefix followed by a large unknown field */
        t_bytes big = t_bytes_copy(b.data, b.len);
        t_pb_add_bytes(&big, 14, F.pool, sizeof F.pool);
        cr_assert_eq(run((kind)k, big.data, big.len), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        t_bytes_free(&big);
        t_bytes_free(&b);
    }
    /* beyond max_body, even if it would parse */
    for (int k = K_PREKEYS; k <= K_ACK; k++) {
        if (k == K_CLAIM)
            continue;
        t_bytes b = sample((kind)k);
        F.lim.max_body = b.len;
        cr_assert_eq(run((kind)k, b.data, b.len), SECMSG_OK, "%s", kind_name[k]);
        F.lim.max_body = b.len - 1;
        cr_assert_eq(run((kind)k, b.data, b.len), SECMSG_E_MALFORMED, "%s", kind_name[k]);
        F.lim = default_limits;
        t_bytes_free(&b);
    }
}

/* No input may crash a decoder or break its promises (checked by run_ex). */
Test(relay_codec, bit_flips_and_random_bytes_keep_the_promises)
{
    t_rng r;
    t_rng_seed(&r, 0x72656c6179ULL);
    for (int k = 0; k < K_COUNT; k++) {
        t_bytes b = sample((kind)k);
        for (size_t bit = 0; bit < b.len * 8; bit++) {
            b.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
            run_ex((kind)k, b.data, b.len, 0);
            b.data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        }
        uint8_t buf[512];
        for (int i = 0; i < 500; i++) {
            size_t len = t_rng_below(&r, sizeof buf);
            t_rng_fill(&r, buf, len);
            run_ex((kind)k, buf, len, 0);
        }
        t_bytes_free(&b);
    }
}

/* ---- user ids ---- */

Test(relay_codec, user_id_charset_and_length)
{
    char s[80];
    cr_assert(secmsg__relay_user_id_valid("a"));
    cr_assert(secmsg__relay_user_id_valid("AZaz09._-"));
    cr_assert(secmsg__relay_user_id_valid("..."));
    cr_assert(secmsg__relay_user_id_valid(".a"));
    cr_assert_not(secmsg__relay_user_id_valid(NULL));
    cr_assert_not(secmsg__relay_user_id_valid(""));
    cr_assert_not(secmsg__relay_user_id_valid("."));
    cr_assert_not(secmsg__relay_user_id_valid(".."));
    memset(s, 'x', sizeof s);
    s[SECMSG__RELAY_USER_ID_MAX] = '\0';
    cr_assert(secmsg__relay_user_id_valid(s));
    s[SECMSG__RELAY_USER_ID_MAX] = 'x';
    s[SECMSG__RELAY_USER_ID_MAX + 1] = '\0';
    cr_assert_not(secmsg__relay_user_id_valid(s));
    static const char bad[] = " /\\%@:+~!?#&=,;*'\"()[]{}<>|^`$\t\n\x7f\x80\xc3";
    for (size_t i = 0; i < sizeof bad - 1; i++) {
        char t[4] = {'a', bad[i], 'b', '\0'};
        cr_assert_not(secmsg__relay_user_id_valid(t), "char 0x%02x accepted",
                      (unsigned char)bad[i]);
    }
    for (int c = 1; c < 256; c++) {
        char t[2] = {(char)c, '\0'};
        int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
        cr_assert_eq(secmsg__relay_user_id_valid(t), want, "char 0x%02x", c);
    }
}

/* ---- register ---- */

Test(relay_codec, register_fields)
{
    Secmsg__Relay__RegisterRequest m = reg_valid();
    OK(K_REGISTER, m);
    m.token.len = 31;
    BAD(K_REGISTER, m);
    m.token = bin(33);
    BAD(K_REGISTER, m);
    m = reg_valid();
    m.has_token = 0;
    BAD(K_REGISTER, m);
    m = reg_valid();
    m.sig.len = 63;
    BAD(K_REGISTER, m);
    m.sig = bin(65);
    BAD(K_REGISTER, m);
    m = reg_valid();
    m.has_sig = 0;
    BAD(K_REGISTER, m);
    m = reg_valid();
    m.has_identity = 0;
    BAD(K_REGISTER, m);
    m = reg_valid();
    m.identity.len = 0;
    BAD(K_REGISTER, m);
}

Test(relay_codec, register_identity_must_parse_canonically)
{
    Secmsg__Relay__RegisterRequest m = reg_valid();
    /* truncated */
    m.identity.len = F.idpub.len - 1;
    BAD(K_REGISTER, m);
    /* an unknown field inside */
    t_bytes u = t_bytes_copy(F.idpub.data, F.idpub.len);
    t_pb_add_varint(&u, 9, 1);
    m.identity = tb(&u);
    BAD(K_REGISTER, m);
    /* a field repeated inside */
    t_bytes d = t_bytes_copy(F.idpub.data, F.idpub.len);
    t_pb_add_varint(&d, 1, 1);
    m.identity = tb(&d);
    BAD(K_REGISTER, m);
    /* another version */
    t_bytes v = t_pb_set_varint(F.idpub.data, F.idpub.len, T_PATH(1), 2);
    m.identity = tb(&v);
    BAD(K_REGISTER, m);
    /* a non-canonical X25519 key */
    size_t off, n;
    t_bytes c = t_bytes_copy(F.idpub.data, F.idpub.len);
    t_pb_find(c.data, c.len, T_PATH(3), &off, &n);
    c.data[off + 31] |= 0x80U;
    m.identity = tb(&c);
    BAD(K_REGISTER, m);
    /* a short key */
    t_bytes s = t_pb_set_bytes(F.idpub.data, F.idpub.len, T_PATH(2), F.pool, 31);
    m.identity = tb(&s);
    BAD(K_REGISTER, m);
    /* longer than any identity (SECMSG__MAX_IDENTITY_BYTES + 1), and at the bound */
    t_bytes big = t_bytes_copy(F.idpub.data, F.idpub.len);
    t_pb_add_bytes(&big, 9, F.pool, SECMSG__MAX_IDENTITY_BYTES + 1 - F.idpub.len - 2);
    cr_assert_eq(big.len, SECMSG__MAX_IDENTITY_BYTES + 1);
    m.identity = tb(&big);
    BAD(K_REGISTER, m);
    /* not an identity at all */
    m.identity = bin(136);
    BAD(K_REGISTER, m);
    t_bytes_free(&u);
    t_bytes_free(&d);
    t_bytes_free(&v);
    t_bytes_free(&c);
    t_bytes_free(&s);
    t_bytes_free(&big);
}

/* ---- challenge, token, claim ---- */

Test(relay_codec, challenge_and_claim_device_id)
{
    Secmsg__Relay__ChallengeRequest c = chal_valid();
    Secmsg__Relay__ClaimRequest q = claim_valid();
    OK(K_CHALLENGE, c);
    OK(K_CLAIM, q);
    size_t lens[] = {0, 1, 31, 33, 64};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        c.device_id = bin(lens[i]);
        q.device_id = bin(lens[i]);
        BAD(K_CHALLENGE, c);
        BAD(K_CLAIM, q);
    }
    c = chal_valid();
    q = claim_valid();
    c.has_device_id = 0;
    q.has_device_id = 0;
    BAD(K_CHALLENGE, c);
    BAD(K_CLAIM, q);
}

/* A padded length (non-minimal varint) re-encodes shorter. */
Test(relay_codec, non_minimal_lengths_are_refused)
{
    t_bytes b = {0};
    static const uint8_t hdr[3] = {0x0a, 0xa0, 0x00}; /* field 1, length 32 in two bytes */
    t_bytes_append(&b, hdr, sizeof hdr);
    t_bytes_append(&b, F.pool, 32);
    cr_assert_eq(run(K_CHALLENGE, b.data, b.len), SECMSG_E_MALFORMED);
    cr_assert_eq(run(K_CLAIM, b.data, b.len), SECMSG_E_MALFORMED);
    t_bytes_free(&b);
}

Test(relay_codec, token_request_fields)
{
    Secmsg__Relay__TokenRequest m = tok_valid();
    OK(K_TOKEN, m);
    ProtobufCBinaryData *f[3] = {&m.device_id, &m.nonce, &m.sig};
    protobuf_c_boolean *h[3] = {&m.has_device_id, &m.has_nonce, &m.has_sig};
    size_t want[3] = {32, 32, 64};
    for (int i = 0; i < 3; i++) {
        m = tok_valid();
        *f[i] = bin(want[i] - 1);
        BAD(K_TOKEN, m);
        *f[i] = bin(want[i] + 1);
        BAD(K_TOKEN, m);
        *f[i] = bin(0);
        BAD(K_TOKEN, m);
        m = tok_valid();
        *h[i] = 0;
        BAD(K_TOKEN, m);
    }
}

/* ---- invite ---- */

Test(relay_codec, invite_user_id_and_ttl)
{
    Secmsg__Relay__InviteRequest m = inv_valid();
    OK(K_INVITE, m);
    m.has_ttl_seconds = 0;
    OK(K_INVITE, m); /* the relay's default */
    m = inv_valid();
    m.ttl_seconds = UINT32_MAX;
    OK(K_INVITE, m);
    m.ttl_seconds = 1;
    OK(K_INVITE, m);
    m.ttl_seconds = 0; /* the relay's to refuse (400 bad_ttl), like any other value */
    OK(K_INVITE, m);

    /* The user id's form is judged by the relay (400 bad_user_id), not the
     * codec: these decode, and secmsg__relay_user_id_valid refuses them. */
    m = inv_valid();
    memset(invite_uid, 'u', SECMSG__RELAY_USER_ID_MAX);
    invite_uid[SECMSG__RELAY_USER_ID_MAX] = '\0';
    OK(K_INVITE, m);
    cr_assert(secmsg__relay_user_id_valid(invite_uid));
    static const char *const bad[] = {"", "..", "a/b", "caf\xc3\xa9", "no spaces"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(invite_uid, bad[i]);
        OK(K_INVITE, m);
        cr_assert(!secmsg__relay_user_id_valid(invite_uid), "'%s' accepted", bad[i]);
    }
    memset(invite_uid, 'u', SECMSG__RELAY_USER_ID_MAX + 1);
    invite_uid[SECMSG__RELAY_USER_ID_MAX + 1] = '\0';
    cr_assert(!secmsg__relay_user_id_valid(invite_uid));
}

Test(relay_codec, invite_user_id_with_embedded_nul_is_refused)
{
    /* "ab\0cd": the C string stops at "ab", which would re-encode shorter */
    t_bytes b = {0};
    t_pb_add_bytes(&b, 1, (const uint8_t *)"ab\0cd", 5);
    cr_assert_eq(run(K_INVITE, b.data, b.len), SECMSG_E_MALFORMED);
    t_bytes_free(&b);
    t_bytes ok = {0};
    t_pb_add_bytes(&ok, 1, (const uint8_t *)"abcd", 4);
    cr_assert_eq(run(K_INVITE, ok.data, ok.len), SECMSG_OK);
    t_bytes_free(&ok);
}

/* ---- prekeys ---- */

static t_bytes spk_bytes(const Secmsg__Wire__SignedPrekey *s)
{
    return pack(&s->base);
}

Test(relay_codec, prekey_upload_count_limit)
{
    Secmsg__Relay__PrekeyUpload m = pk_valid();
    F.lim.max_prekeys_per_upload = 3;
    OK(K_PREKEYS, m);
    F.lim.max_prekeys_per_upload = 2;
    BAD(K_PREKEYS, m);
    m.n_one_time_prekeys = 2;
    OK(K_PREKEYS, m);
    m.n_one_time_prekeys = 0; /* a signed prekey rotation alone */
    OK(K_PREKEYS, m);
    F.lim.max_prekeys_per_upload = 0;
    OK(K_PREKEYS, m);
    m.n_one_time_prekeys = 1;
    BAD(K_PREKEYS, m);
}

Test(relay_codec, prekey_upload_one_time_prekeys)
{
    Secmsg__Relay__PrekeyUpload m = pk_valid();
    otk[1].id = 0;
    BAD(K_PREKEYS, m);
    m = pk_valid();
    otk[1].has_id = 0;
    BAD(K_PREKEYS, m);
    m = pk_valid();
    otk[1].id = UINT32_MAX;
    OK(K_PREKEYS, m);
    m = pk_valid();
    otk[2].has_pub = 0;
    BAD(K_PREKEYS, m);
    size_t lens[] = {0, 31, 33};
    for (size_t i = 0; i < 3; i++) {
        m = pk_valid();
        otk[2].pub = bin(lens[i]);
        BAD(K_PREKEYS, m);
    }
    /* X25519 canonical: p - 1 is the largest accepted value; p, and bit 255 set, are not */
    uint8_t k[32];
    memset(k, 0xff, sizeof k);
    k[31] = 0x7f;
    k[0] = 0xec;
    m = pk_valid();
    otk[0].pub = secmsg__bytes(k, 32);
    OK(K_PREKEYS, m);
    k[0] = 0xed;
    BAD(K_PREKEYS, m);
    memcpy(k, F.key, 32);
    k[31] |= 0x80U;
    BAD(K_PREKEYS, m);
}

Test(relay_codec, prekey_upload_nested_unknown_field_is_refused)
{
    Secmsg__Relay__PrekeyUpload m = pk_valid();
    t_bytes b = pack(&m.base);
    /* append an unknown field inside the last OneTimePrekeyPublic (field 2) */
    size_t ends[16];
    size_t n = field_ends(b.data, b.len, ends, 16);
    size_t last = ends[n - 2];
    cr_assert_eq(b.data[last], 0x12);
    uint8_t inner_len = b.data[last + 1];
    t_bytes e = t_bytes_copy(b.data, last);
    uint8_t hdr[2] = {0x12, (uint8_t)(inner_len + 2)};
    t_bytes_append(&e, hdr, 2);
    t_bytes_append(&e, b.data + last + 2, inner_len);
    static const uint8_t unk[2] = {0x78, 0x01}; /* field 15, varint 1 */
    t_bytes_append(&e, unk, 2);
    cr_assert_eq(run(K_PREKEYS, e.data, e.len), SECMSG_E_MALFORMED);
    /* and a repeated id inside it */
    t_bytes r = t_bytes_copy(b.data, last);
    t_bytes_append(&r, hdr, 2);
    t_bytes_append(&r, b.data + last + 2, inner_len);
    static const uint8_t id_again[2] = {0x08, 0x05};
    t_bytes_append(&r, id_again, 2);
    cr_assert_eq(run(K_PREKEYS, r.data, r.len), SECMSG_E_MALFORMED);
    t_bytes_free(&b);
    t_bytes_free(&e);
    t_bytes_free(&r);
}

Test(relay_codec, prekey_upload_signed_prekey_is_optional)
{
    Secmsg__Relay__PrekeyUpload m = pk_valid();
    m.has_signed_prekey = 0;
    OK(K_PREKEYS, m); /* one-time prekeys only */
    m.n_one_time_prekeys = 0;
    BAD(K_PREKEYS, m); /* nothing at all: an empty body */
}

Test(relay_codec, prekey_upload_signed_prekey_must_parse)
{
    Secmsg__Relay__PrekeyUpload m = pk_valid();

    Secmsg__Wire__SignedPrekey s = spk_valid();
    t_bytes b;
#define SPK_CASE(edit, want)                                                                       \
    do {                                                                                           \
        s = spk_valid();                                                                           \
        edit;                                                                                      \
        b = spk_bytes(&s);                                                                         \
        m = pk_valid();                                                                            \
        m.signed_prekey = tb(&b);                                                                  \
        cr_assert_eq(run_msg(K_PREKEYS, &m.base), want, "%s", #edit);                              \
        t_bytes_free(&b);                                                                          \
    } while (0)
    SPK_CASE((void)0, SECMSG_OK);
    SPK_CASE(s.id = UINT32_MAX, SECMSG_OK);
    SPK_CASE(s.id = 0, SECMSG_E_MALFORMED);
    SPK_CASE(s.has_id = 0, SECMSG_E_MALFORMED);
    SPK_CASE(s.pub.len = 31, SECMSG_E_MALFORMED);
    SPK_CASE(s.pub = bin(33), SECMSG_E_MALFORMED);
    SPK_CASE(s.has_pub = 0, SECMSG_E_MALFORMED);
    SPK_CASE(s.sig.len = 63, SECMSG_E_MALFORMED);
    SPK_CASE(s.sig = bin(65), SECMSG_E_MALFORMED);
    SPK_CASE(s.has_sig = 0, SECMSG_E_MALFORMED);
    uint8_t k[32];
    memcpy(k, F.key, 32);
    k[31] |= 0x80U;
    SPK_CASE(s.pub = secmsg__bytes(k, 32), SECMSG_E_MALFORMED);
#undef SPK_CASE

    /* non-canonical inside: unknown field, repeated field, truncation */
    t_bytes u = t_bytes_copy(F.spk.data, F.spk.len);
    t_pb_add_varint(&u, 4, 1);
    m = pk_valid();
    m.signed_prekey = tb(&u);
    BAD(K_PREKEYS, m);
    t_bytes d = t_bytes_copy(F.spk.data, F.spk.len);
    t_pb_add_varint(&d, 1, 7);
    m.signed_prekey = tb(&d);
    BAD(K_PREKEYS, m);
    m.signed_prekey.len = F.spk.len - 1;
    m.signed_prekey.data = F.spk.data;
    BAD(K_PREKEYS, m);
    m.signed_prekey = bin(0);
    BAD(K_PREKEYS, m);
    /* an identity public is not a signed prekey */
    m.signed_prekey = tb(&F.idpub);
    BAD(K_PREKEYS, m);
    t_bytes_free(&u);
    t_bytes_free(&d);
}

/* ---- send ---- */

Test(relay_codec, send_envelope_fields)
{
    Secmsg__Relay__SendRequest m = send_valid();
    OK(K_SEND, m);
    m.n_envelopes = 1;
    OK(K_SEND, m);
    m.n_envelopes = 0;
    BAD(K_SEND, m); /* encodes to nothing */

    m = send_valid();
    env[1].message_id = bin(15);
    BAD(K_SEND, m);
    env[1].message_id = bin(17);
    BAD(K_SEND, m);
    env[1].has_message_id = 0;
    BAD(K_SEND, m);

    m = send_valid();
    env[0].n_recipients = 0;
    BAD(K_SEND, m);
    m = send_valid();
    rcpt[0][1] = bin(31);
    BAD(K_SEND, m);
    rcpt[0][1] = bin(33);
    BAD(K_SEND, m);
    rcpt[0][1] = bin(0);
    BAD(K_SEND, m);

    m = send_valid();
    env[1].has_content = 0;
    BAD(K_SEND, m);
    env[1].has_content = 1;
    env[1].content = bin(0);
    BAD(K_SEND, m);
    env[1].content = bin(1);
    OK(K_SEND, m);

    m = send_valid();
    env[0].n_blob_ids = 0;
    OK(K_SEND, m);
    env[0].n_blob_ids = 2;
    OK(K_SEND, m);
    blobs[0][1] = bin(15);
    BAD(K_SEND, m);
    blobs[0][1] = bin(17);
    BAD(K_SEND, m);
}

Test(relay_codec, send_limits)
{
    Secmsg__Relay__SendRequest m = send_valid();
    /* envelope content: 100 bytes is the largest */
    F.lim.max_envelope = 100;
    OK(K_SEND, m);
    F.lim.max_envelope = 99;
    BAD(K_SEND, m);
    F.lim = default_limits;
    env[1].content = bin(sizeof F.pool);
    F.lim.max_envelope = sizeof F.pool;
    OK(K_SEND, m);
    F.lim.max_envelope = sizeof F.pool - 1;
    BAD(K_SEND, m);

    /* recipients summed over envelopes: 2 + 1 */
    m = send_valid();
    F.lim = default_limits;
    F.lim.max_recipients = 3;
    OK(K_SEND, m);
    F.lim.max_recipients = 2;
    BAD(K_SEND, m);
    env[0].n_recipients = 1;
    OK(K_SEND, m);
    env[0].n_recipients = 3;
    F.lim.max_recipients = 4;
    OK(K_SEND, m);
    F.lim.max_recipients = 3;
    BAD(K_SEND, m);
}

Test(relay_codec, send_nested_non_canonical_is_refused)
{
    (void)send_valid();
    env[0].n_blob_ids = 0;
    env[0].n_recipients = 1;
    env[0].content = bin(5);
    Secmsg__Relay__Envelope *e = &env[0];
    t_bytes inner = pack(&e->base);
    /* unknown field inside the envelope */
    t_bytes u = t_bytes_copy(inner.data, inner.len);
    t_pb_add_varint(&u, 9, 1);
    t_bytes bu = {0};
    t_pb_add_bytes(&bu, 1, u.data, u.len);
    cr_assert_eq(run(K_SEND, bu.data, bu.len), SECMSG_E_MALFORMED);
    /* message_id given twice inside the envelope */
    t_bytes d = t_bytes_copy(inner.data, inner.len);
    t_pb_add_bytes(&d, 1, F.pool, 16);
    t_bytes bd = {0};
    t_pb_add_bytes(&bd, 1, d.data, d.len);
    cr_assert_eq(run(K_SEND, bd.data, bd.len), SECMSG_E_MALFORMED);
    /* the unedited one is fine */
    t_bytes bo = {0};
    t_pb_add_bytes(&bo, 1, inner.data, inner.len);
    cr_assert_eq(run(K_SEND, bo.data, bo.len), SECMSG_OK);
    t_bytes_free(&inner);
    t_bytes_free(&u);
    t_bytes_free(&bu);
    t_bytes_free(&d);
    t_bytes_free(&bd);
    t_bytes_free(&bo);
}

/* ---- ack ---- */

Test(relay_codec, ack_count_limit)
{
    Secmsg__Relay__AckRequest m = ack_valid();
    F.lim.max_acks = 3;
    OK(K_ACK, m);
    F.lim.max_acks = 2;
    BAD(K_ACK, m);
    m.n_ids = 8;
    F.lim.max_acks = 8;
    OK(K_ACK, m);
    F.lim.max_acks = 7;
    BAD(K_ACK, m);
    m.n_ids = 1;
    F.lim.max_acks = 1;
    OK(K_ACK, m);
    m.n_ids = 0;
    BAD(K_ACK, m);
}

Test(relay_codec, ack_non_canonical_forms_are_refused)
{
    /* packed: 0a 02 01 02 is as long as the canonical 08 01 08 02 */
    static const uint8_t canonical[4] = {0x08, 0x01, 0x08, 0x02};
    static const uint8_t packed[4] = {0x0a, 0x02, 0x01, 0x02};
    static const uint8_t packed3[5] = {0x0a, 0x03, 0x01, 0x02, 0x03};
    static const uint8_t padded[3] = {0x08, 0x81, 0x00}; /* 1 in two bytes */
    static const uint8_t mixed[6] = {0x08, 0x01, 0x0a, 0x02, 0x02, 0x03};
    cr_assert_eq(run(K_ACK, canonical, sizeof canonical), SECMSG_OK);
    cr_assert_eq(run(K_ACK, packed, sizeof packed), SECMSG_E_MALFORMED);
    cr_assert_eq(run(K_ACK, packed3, sizeof packed3), SECMSG_E_MALFORMED);
    cr_assert_eq(run(K_ACK, padded, sizeof padded), SECMSG_E_MALFORMED);
    cr_assert_eq(run(K_ACK, mixed, sizeof mixed), SECMSG_E_MALFORMED);
}
