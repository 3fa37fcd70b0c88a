#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte buffers ---- */

void t_bytes_append(t_bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        cr_assert_not_null(d);
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

t_bytes t_bytes_copy(const uint8_t *p, size_t n)
{
    t_bytes b = {0};
    /* data is never NULL, so an empty buffer is still a valid pointer */
    b.data = malloc(n ? n : 1);
    cr_assert_not_null(b.data);
    b.cap = n ? n : 1;
    t_bytes_append(&b, p, n);
    return b;
}

void t_bytes_free(t_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void t_assert_same_bytes(const t_bytes *a, const t_bytes *b, const char *what)
{
    cr_assert_eq(a->len, b->len, "%s: length %zu != %zu", what, a->len, b->len);
    cr_assert(a->len == 0 || memcmp(a->data, b->data, a->len) == 0, "%s: bytes differ", what);
}

void t_assert_null_out(int rc, const size_t *len, size_t need, const char *what)
{
    cr_assert(rc == SECMSG_E_INVALID_ARG || (rc == SECMSG_E_BUFFER_TOO_SMALL && *len == need),
              "%s with a NULL output buffer: %s, length %zu (needed %zu)", what,
              secmsg_strerror(rc), *len, need);
}

void t_setup(void)
{
    cr_assert_eq(secmsg_init(), SECMSG_OK);
}

/* ---- PRNG ---- */

void t_rng_seed(t_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

uint64_t t_rng_next(t_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

uint32_t t_rng_below(t_rng *r, uint32_t n)
{
    return (uint32_t)((t_rng_next(r) >> 32) % n);
}

void t_rng_fill(t_rng *r, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(t_rng_next(r) >> 56);
}

/* ---- identities, prekeys ---- */

secmsg_identity *t_identity(uint8_t tag)
{
    uint8_t seed[SECMSG_IDENTITY_SEED_BYTES];
    secmsg_identity *id = NULL;
    memset(seed, tag, sizeof seed);
    cr_assert_eq(secmsg_identity_from_seed(&id, seed), SECMSG_OK);
    cr_assert_not_null(id);
    return id;
}

t_bytes t_identity_pub(const secmsg_identity *id)
{
    uint8_t buf[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t n = 0;
    cr_assert_eq(secmsg_identity_public(id, buf, sizeof buf, &n), SECMSG_OK);
    cr_assert_eq(n, SECMSG_IDENTITY_PUBLIC_BYTES);
    return t_bytes_copy(buf, n);
}

secmsg_prekeys *t_prekeys(const secmsg_identity *id, uint32_t spk_id, uint32_t n_otpk)
{
    secmsg_prekeys *pk = NULL;
    cr_assert_eq(secmsg_prekeys_new(&pk, id, spk_id), SECMSG_OK);
    cr_assert_not_null(pk);
    if (n_otpk) {
        uint32_t first = 0;
        cr_assert_eq(secmsg_prekeys_generate(pk, n_otpk, &first), SECMSG_OK);
        cr_assert_eq(first, 1U, "first one-time prekey id of a fresh set is 1");
    }
    cr_assert_eq(secmsg_prekeys_count(pk), (size_t)n_otpk);
    return pk;
}

t_bytes t_bundle(const secmsg_prekeys *pk, const secmsg_identity *id, uint32_t otpk_id)
{
    uint8_t buf[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t n = 0;
    cr_assert_eq(secmsg_prekeys_bundle(pk, id, otpk_id, buf, sizeof buf, &n), SECMSG_OK);
    cr_assert(n > 0 && n <= SECMSG_PREKEY_BUNDLE_MAX_BYTES);
    return t_bytes_copy(buf, n);
}

t_bytes t_prekeys_state(const secmsg_prekeys *pk)
{
    size_t need = 0;
    uint8_t probe[1];
    int rc = secmsg_prekeys_serialize(pk, probe, 0, &need);
    cr_assert_eq(rc, SECMSG_E_BUFFER_TOO_SMALL, "size query: %s", secmsg_strerror(rc));
    cr_assert(need > 0);
    t_bytes b = {0};
    b.data = malloc(need);
    cr_assert_not_null(b.data);
    b.cap = need;
    cr_assert_eq(secmsg_prekeys_serialize(pk, b.data, need, &b.len), SECMSG_OK);
    cr_assert_eq(b.len, need);
    return b;
}

/* ---- sessions ---- */

t_bytes t_encrypt(secmsg_session *s, const uint8_t *pt, size_t pt_len)
{
    size_t need = secmsg_session_ciphertext_len(s, pt_len);
    cr_assert(need > pt_len, "ciphertext_len(%zu) = %zu", pt_len, need);
    t_bytes b = {0};
    b.data = malloc(need);
    cr_assert_not_null(b.data);
    b.cap = need;
    int rc = secmsg_session_encrypt(s, b.data, need, &b.len, pt, pt_len);
    cr_assert_eq(rc, SECMSG_OK, "encrypt: %s", secmsg_strerror(rc));
    cr_assert_eq(b.len, need, "encrypt wrote %zu, ciphertext_len said %zu", b.len, need);
    return b;
}

int t_decrypt(secmsg_session *s, const t_bytes *msg, t_bytes *pt)
{
    size_t cap = msg->len ? msg->len : 1;
    t_bytes out = {0};
    out.data = malloc(cap);
    cr_assert_not_null(out.data);
    out.cap = cap;
    int rc = secmsg_session_decrypt(s, out.data, cap, &out.len, msg->data, msg->len);
    if (rc != SECMSG_OK)
        out.len = 0;
    *pt = out;
    return rc;
}

void t_expect_decrypt(secmsg_session *s, const t_bytes *msg, const uint8_t *pt, size_t pt_len)
{
    t_bytes got;
    int rc = t_decrypt(s, msg, &got);
    cr_assert_eq(rc, SECMSG_OK, "decrypt: %s", secmsg_strerror(rc));
    cr_assert_eq(got.len, pt_len, "plaintext length %zu, expected %zu", got.len, pt_len);
    cr_assert(pt_len == 0 || memcmp(got.data, pt, pt_len) == 0, "plaintext differs");
    t_bytes_free(&got);
}

int t_expect_reject(secmsg_session *s, const uint8_t *msg, size_t msg_len, int err)
{
    t_bytes before = t_session_state(s);
    t_bytes m = t_bytes_copy(msg, msg_len);
    t_bytes got;
    int rc = t_decrypt(s, &m, &got);
    if (err)
        cr_assert_eq(rc, err, "expected %s, got %s", secmsg_strerror(err), secmsg_strerror(rc));
    else
        cr_assert_neq(rc, SECMSG_OK, "a message that must be rejected decrypted");
    t_bytes after = t_session_state(s);
    t_assert_same_bytes(&before, &after, "session state after a rejected message");
    t_bytes_free(&before);
    t_bytes_free(&after);
    t_bytes_free(&got);
    t_bytes_free(&m);
    return rc;
}

t_bytes t_session_state(const secmsg_session *s)
{
    size_t need = secmsg_session_serialized_len(s);
    cr_assert(need > 0);
    t_bytes b = {0};
    b.data = malloc(need);
    cr_assert_not_null(b.data);
    b.cap = need;
    int rc = secmsg_session_serialize(s, b.data, need, &b.len);
    cr_assert_eq(rc, SECMSG_OK, "serialize: %s", secmsg_strerror(rc));
    cr_assert_eq(b.len, need, "serialized %zu bytes, serialized_len said %zu", b.len, need);
    return b;
}

secmsg_session *t_session_reload(secmsg_session *s)
{
    t_bytes st = t_session_state(s);
    secmsg_session_free(s);
    secmsg_session *r = NULL;
    int rc = secmsg_session_deserialize(&r, st.data, st.len);
    cr_assert_eq(rc, SECMSG_OK, "deserialize: %s", secmsg_strerror(rc));
    cr_assert_not_null(r);
    t_bytes again = t_session_state(r);
    t_assert_same_bytes(&st, &again, "session serialize(deserialize(x)) == x");
    t_bytes_free(&st);
    t_bytes_free(&again);
    return r;
}

size_t t_plaintext(uint8_t *out, size_t cap, uint32_t dir, uint32_t idx)
{
    size_t n = (idx % 50U == 49U) ? 0 : 8U + (size_t)((idx * 7U + dir * 13U) % 100U);
    cr_assert(n <= cap);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(idx * 31U + dir * 101U + i * 17U);
    if (n >= 8) {
        out[0] = (uint8_t)dir;
        out[1] = 0xA5;
        memcpy(out + 4, &idx, sizeof idx);
    }
    return n;
}

t_bytes t_send(secmsg_session *s, uint32_t dir, uint32_t idx)
{
    uint8_t pt[T_PT_MAX];
    size_t n = t_plaintext(pt, sizeof pt, dir, idx);
    return t_encrypt(s, pt, n);
}

void t_recv(secmsg_session *s, const t_bytes *msg, uint32_t dir, uint32_t idx)
{
    uint8_t pt[T_PT_MAX];
    size_t n = t_plaintext(pt, sizeof pt, dir, idx);
    t_expect_decrypt(s, msg, pt, n);
}

int t_accept(secmsg_session **out, const secmsg_identity *bob, secmsg_prekeys *pk,
             const uint8_t *msg, size_t len, t_bytes *pt)
{
    t_bytes before = t_prekeys_state(pk);
    t_bytes got = t_bytes_copy(NULL, 0);
    t_bytes_append(&got, msg, len); /* pt_cap >= msg_len always suffices */
    secmsg_session *s = NULL;
    size_t got_len = 12345;
    int rc = secmsg_session_accept(&s, bob, pk, msg, len, got.data, got.len, &got_len);
    if (rc == SECMSG_OK) {
        cr_assert_not_null(s);
        cr_assert(got_len < len || len == 0);
        got.len = got_len;
    } else {
        cr_assert_null(s, "a failed accept returned a session");
        if (rc != SECMSG_E_BUFFER_TOO_SMALL)
            cr_assert_eq(got_len, 0U, "a failed accept left *pt_len = %zu", got_len);
        t_bytes after = t_prekeys_state(pk);
        t_assert_same_bytes(&before, &after, "prekeys after a failed accept");
        t_bytes_free(&after);
        got.len = 0;
    }
    if (out)
        *out = s;
    else
        secmsg_session_free(s);
    if (pt)
        *pt = got;
    else
        t_bytes_free(&got);
    t_bytes_free(&before);
    return rc;
}

/* ---- the Alice/Bob fixture ---- */

void t_pair_init(t_pair *p, int use_otpk)
{
    memset(p, 0, sizeof *p);
    p->alice_id = t_identity(0xA1);
    p->bob_id = t_identity(0xB0);
    p->bob_pk = t_prekeys(p->bob_id, 7, 3);
    p->otpk_id = use_otpk ? 1U : 0U;
    t_bytes bundle = t_bundle(p->bob_pk, p->bob_id, p->otpk_id);
    int rc = secmsg_session_initiate(&p->alice, p->alice_id, bundle.data, bundle.len);
    cr_assert_eq(rc, SECMSG_OK, "initiate: %s", secmsg_strerror(rc));
    cr_assert_not_null(p->alice);
    t_bytes_free(&bundle);
}

void t_pair_accept(t_pair *p, const t_bytes *msg, uint32_t dir, uint32_t idx)
{
    cr_assert_null(p->bob);
    uint8_t want[T_PT_MAX];
    size_t n = t_plaintext(want, sizeof want, dir, idx);
    t_bytes got;
    int rc = t_accept(&p->bob, p->bob_id, p->bob_pk, msg->data, msg->len, &got);
    cr_assert_eq(rc, SECMSG_OK, "accept of message %u: %s", idx, secmsg_strerror(rc));
    cr_assert_eq(got.len, n, "accepted plaintext length %zu, expected %zu", got.len, n);
    cr_assert(n == 0 || memcmp(got.data, want, n) == 0, "accepted plaintext differs");
    t_bytes_free(&got);
}

void t_pair_establish(t_pair *p, int use_otpk)
{
    t_pair_init(p, use_otpk);
    t_bytes m0 = t_send(p->alice, T_DIR_AB, 0);
    t_pair_accept(p, &m0, T_DIR_AB, 0);
    cr_assert_eq(secmsg_prekeys_count(p->bob_pk), use_otpk ? 2U : 3U);
    t_bytes r0 = t_send(p->bob, T_DIR_BA, 0);
    t_recv(p->alice, &r0, T_DIR_BA, 0);
    t_bytes_free(&m0);
    t_bytes_free(&r0);
}

void t_pair_free(t_pair *p)
{
    secmsg_session_free(p->alice);
    secmsg_session_free(p->bob);
    secmsg_prekeys_free(p->bob_pk);
    secmsg_identity_free(p->alice_id);
    secmsg_identity_free(p->bob_id);
    memset(p, 0, sizeof *p);
}

/* ---- protobuf ---- */

typedef struct pb_field {
    uint32_t num;
    uint32_t wt;
    size_t start;   /* tag */
    size_t val_off; /* contents (len-delimited) or the value bytes */
    size_t val_len;
    size_t end;
} pb_field;

static int pb_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return -1;
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* 1: a field parsed, 0: end of input, -1: malformed. */
static int pb_next(const uint8_t *p, size_t len, size_t *pos, pb_field *f)
{
    uint64_t key, v;
    if (*pos >= len)
        return 0;
    f->start = *pos;
    if (pb_varint(p, len, pos, &key) != 0)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (uint32_t)(key & 7);
    f->val_off = *pos;
    switch (f->wt) {
    case 0:
        if (pb_varint(p, len, pos, &v) != 0)
            return -1;
        break;
    case 1:
        *pos += 8;
        break;
    case 5:
        *pos += 4;
        break;
    case 2:
        if (pb_varint(p, len, pos, &v) != 0 || v > len - *pos)
            return -1;
        f->val_off = *pos;
        *pos += (size_t)v;
        break;
    default:
        return -1;
    }
    if (*pos > len)
        return -1;
    f->val_len = *pos - f->val_off;
    f->end = *pos;
    return 1;
}

void t_pb_find(const uint8_t *in, size_t len, const uint32_t *path, size_t depth, size_t *off,
               size_t *n)
{
    size_t pos = 0;
    pb_field f;
    int r;
    cr_assert(depth > 0);
    while ((r = pb_next(in, len, &pos, &f)) == 1) {
        if (f.num != path[0])
            continue;
        if (depth == 1) {
            *off = f.val_off;
            *n = f.val_len;
            return;
        }
        cr_assert_eq(f.wt, T_PB_LEN, "path element %u is not a sub-message", path[0]);
        size_t sub_off, sub_n;
        t_pb_find(in + f.val_off, f.val_len, path + 1, depth - 1, &sub_off, &sub_n);
        *off = f.val_off + sub_off;
        *n = sub_n;
        return;
    }
    cr_assert_fail("protobuf field %u not found (parse status %d)", path[0], r);
}

static void pb_put_varint(t_bytes *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    t_bytes_append(b, tmp, n);
}

void t_pb_add_varint(t_bytes *b, uint32_t field, uint64_t v)
{
    pb_put_varint(b, ((uint64_t)field << 3) | T_PB_VARINT);
    pb_put_varint(b, v);
}

void t_pb_add_bytes(t_bytes *b, uint32_t field, const uint8_t *val, size_t val_len)
{
    pb_put_varint(b, ((uint64_t)field << 3) | T_PB_LEN);
    pb_put_varint(b, val_len);
    t_bytes_append(b, val, val_len);
}

typedef struct pb_edit {
    int is_varint;
    int remove;
    uint64_t v;
    const uint8_t *bytes;
    size_t n;
} pb_edit;

static t_bytes pb_apply(const uint8_t *in, size_t len, const uint32_t *path, size_t depth,
                        const pb_edit *e)
{
    t_bytes out = t_bytes_copy(NULL, 0);
    size_t pos = 0;
    pb_field f;
    int r;
    int found = 0;
    while ((r = pb_next(in, len, &pos, &f)) == 1) {
        if (f.num != path[0]) {
            t_bytes_append(&out, in + f.start, f.end - f.start);
            continue;
        }
        found = 1;
        if (depth == 1) {
            if (e->remove)
                continue;
            if (e->is_varint)
                t_pb_add_varint(&out, f.num, e->v);
            else
                t_pb_add_bytes(&out, f.num, e->bytes, e->n);
            continue;
        }
        cr_assert_eq(f.wt, T_PB_LEN, "path element %u is not a sub-message", path[0]);
        t_bytes sub = pb_apply(in + f.val_off, f.val_len, path + 1, depth - 1, e);
        t_pb_add_bytes(&out, f.num, sub.data, sub.len);
        t_bytes_free(&sub);
    }
    cr_assert_eq(r, 0, "input is not a protobuf");
    cr_assert(found, "protobuf field %u not found", path[0]);
    return out;
}

t_bytes t_pb_set_bytes(const uint8_t *in, size_t len, const uint32_t *path, size_t depth,
                       const uint8_t *val, size_t val_len)
{
    pb_edit e = {.is_varint = 0, .remove = val == NULL, .bytes = val, .n = val_len};
    return pb_apply(in, len, path, depth, &e);
}

t_bytes t_pb_set_varint(const uint8_t *in, size_t len, const uint32_t *path, size_t depth,
                        uint64_t v)
{
    pb_edit e = {.is_varint = 1, .v = v};
    return pb_apply(in, len, path, depth, &e);
}
