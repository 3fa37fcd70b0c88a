#include "wire/client_codec.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "client.pb-c.h"
#include "secmsg/client.h"
#include "secmsg/common.h"
#include "secmsg/identity.h"
#include "wire/codec.h"
#include "wire/relay_codec.h"

#define ROOT_FP_DOMAIN "secmsg root fingerprint v1"
#define CERT_SIG_DOMAIN "secmsg device certificate v1"
#define CERT_SIG_DOMAIN_LEN (sizeof CERT_SIG_DOMAIN - 1U)

#define URL_MIN 8U /* "http://" plus one byte */
#define INVITE_TOKEN_BYTES 32U
#define INVITE_FP_BYTES 32U
#define INVITE_SECRET_BYTES 16U
#define MESSAGE_ID_BYTES 16U
#define ROOT_PUB_BYTES 32U
#define ROLE_CASEWORKER ((uint32_t)SECMSG__RELAY__ROLE__ROLE_CASEWORKER)
#define ROLE_JOURNAL ((uint32_t)SECMSG__RELAY__ROLE__ROLE_JOURNAL)
#define CONTENT_MAX ((size_t)2U * 1024U * 1024U + 1024U)
#define CONTENT_PAD 64U
/* Field 15, wire type 2 (length-delimited): one tag byte. */
#define PADDING_TAG_BYTES 1U
/*
 * Certificate text: prefix + base64url of at most SECMSG__CERT_MAX bytes,
 * plus room for surrounding whitespace; checked before anything is decoded.
 */
#define CERT_TEXT_MAX 1024U

_Static_assert(sizeof(((secmsg__invite *)0)->caseworker) == SECMSG__RELAY_USER_ID_MAX + 1U,
               "user id buffer");
_Static_assert(SECMSG_MAX_TEXT == 65536U, "text limit");

/* ---- helpers ---- */

/* protobuf-c's field types are non-const; pack only reads. */
static char *str_field(const char *s)
{
    return (char *)(uintptr_t)s;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Narrows [*s, *s + *n) to exclude leading and trailing ASCII whitespace. */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

/*
 * 1 if s (NUL-terminated within cap bytes) is a relay URL an invite may
 * carry: "http://" or "https://", URL_MIN..SECMSG__URL_MAX - 1 bytes of
 * printable ASCII without spaces, and no trailing '/' (paths are appended).
 */
static int url_valid(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n < URL_MIN || n > SECMSG__URL_MAX - 1U)
        return 0;
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return 0;
    return s[n - 1] != '/';
}

/* A user id NUL-terminated within cap bytes and valid for the relay. */
static int user_id_valid(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap && secmsg__relay_user_id_valid(s);
}

/*
 * Strict UTF-8 (Unicode Table 3-7): shortest forms only, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequences.
 */
int secmsg__utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80U) {
            i++;
            continue;
        }
        size_t more;
        uint8_t lo = 0x80U, hi = 0xbfU;
        if (c >= 0xc2U && c <= 0xdfU) {
            more = 1;
        } else if (c >= 0xe0U && c <= 0xefU) {
            more = 2;
            if (c == 0xe0U)
                lo = 0xa0U; /* overlong below U+0800 */
            else if (c == 0xedU)
                hi = 0x9fU; /* surrogates */
        } else if (c >= 0xf0U && c <= 0xf4U) {
            more = 3;
            if (c == 0xf0U)
                lo = 0x90U; /* overlong below U+10000 */
            else if (c == 0xf4U)
                hi = 0x8fU; /* above U+10FFFF */
        } else {
            return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
        }
        if (n - i - 1U < more || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xc0U) != 0x80U)
                return 0;
        i += more + 1U;
    }
    return 1;
}

/* ---- municipality root key ---- */

int secmsg__root_fingerprint(uint8_t fp[32], const uint8_t root_pub[32])
{
    crypto_generichash_state st;

    if (fp == NULL || root_pub == NULL)
        return SECMSG_E_INVALID_ARG;
    if (crypto_generichash_init(&st, NULL, 0, 32) != 0 ||
        crypto_generichash_update(&st, (const uint8_t *)ROOT_FP_DOMAIN,
                                  sizeof ROOT_FP_DOMAIN - 1U) != 0 ||
        crypto_generichash_update(&st, root_pub, ROOT_PUB_BYTES) != 0 ||
        crypto_generichash_final(&st, fp, 32) != 0) {
        sodium_memzero(&st, sizeof st);
        return SECMSG_E_CRYPTO;
    }
    sodium_memzero(&st, sizeof st);
    return SECMSG_OK;
}

/* ---- base64url ---- */

/* Characters of unpadded base64url for n bytes. */
static size_t b64_len(size_t n)
{
    return n / 3U * 4U + (n % 3U == 0 ? 0U : n % 3U + 1U);
}

int secmsg__b64url_encode(char *out, size_t cap, size_t *len, const uint8_t *in, size_t n)
{
    if (len == NULL || (in == NULL && n > 0) || n > (SIZE_MAX - 4U) / 4U * 3U)
        return SECMSG_E_INVALID_ARG;
    size_t need = b64_len(n);
    *len = need;
    if (out == NULL || cap < need + 1U)
        return SECMSG_E_BUFFER_TOO_SMALL;
    /* libsodium's encoder is constant-time (no table lookups by value). */
    sodium_bin2base64(out, need + 1U, n == 0 ? (const uint8_t *)"" : in, n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return SECMSG_OK;
}

/*
 * 1 if every byte of in[0..n) is in the base64url alphabet [A-Za-z0-9-_].
 * libsodium 1.0.18's decoder reads characters as (signed) char and takes
 * bytes >= 0x80 for alphabet characters, so they are refused here first.
 * No branches or table lookups on the characters (tokens are secret).
 */
static int b64url_alphabet_only(const char *in, size_t n)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)in[i];
        unsigned ok = ((unsigned)(c - 'A') < 26U) | ((unsigned)(c - 'a') < 26U) |
                      ((unsigned)(c - '0') < 10U) | (c == '-') | (c == '_');
        bad |= ok ^ 1U;
    }
    return bad == 0;
}

/*
 * Exactly in[0..n), no whitespace and no padding: bytes outside the
 * alphabet are refused first; libsodium's decoder with the unpadded
 * URL-safe variant then refuses a length of 1 mod 4 and non-zero trailing
 * bits (one encoding per value) and is constant-time in the characters.
 */
int secmsg__b64url_decode(uint8_t *out, size_t cap, size_t *len, const char *in, size_t n)
{
    if (len == NULL || (in == NULL && n > 0))
        return SECMSG_E_INVALID_ARG;
    *len = 0;
    if (n % 4U == 1U)
        return SECMSG_E_MALFORMED;
    if (n == 0)
        return SECMSG_OK;
    size_t need = n / 4U * 3U + (n % 4U == 0 ? 0U : n % 4U - 1U);
    if (out == NULL || cap < need) {
        *len = need;
        return SECMSG_E_BUFFER_TOO_SMALL;
    }
    size_t got = 0;
    if (!b64url_alphabet_only(in, n) ||
        sodium_base642bin(out, need, in, n, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != need) {
        sodium_memzero(out, need);
        return SECMSG_E_MALFORMED;
    }
    *len = got;
    return SECMSG_OK;
}

/*
 * prefix + base64url(in) into out (NUL-terminated). BUFFER_TOO_SMALL with
 * *len = characters needed, NUL excluded.
 */
static int to_text(const char *prefix, const uint8_t *in, size_t n, char *out, size_t cap,
                   size_t *len)
{
    size_t plen = strlen(prefix), blen = 0;
    int rc = secmsg__b64url_encode(NULL, 0, &blen, in, n);
    if (rc != SECMSG_E_BUFFER_TOO_SMALL)
        return rc;
    *len = plen + blen;
    if (out == NULL || cap < plen + blen + 1U)
        return SECMSG_E_BUFFER_TOO_SMALL;
    memcpy(out, prefix, plen);
    return secmsg__b64url_encode(out + plen, cap - plen, &blen, in, n);
}

/*
 * The bytes of "prefix + base64url", surrounding whitespace allowed, into
 * out (cap bytes). MALFORMED for anything else.
 */
static int from_text(const char *prefix, const char *text, size_t n, uint8_t *out, size_t cap,
                     size_t *len)
{
    size_t plen = strlen(prefix);
    trim(&text, &n);
    if (n < plen || memcmp(text, prefix, plen) != 0)
        return SECMSG_E_MALFORMED;
    return secmsg__b64url_decode(out, cap, len, text + plen, n - plen);
}

/* ---- invites ---- */

/* Bound on an encoded Invite: a valid one is at most 457 bytes. */
#define INVITE_BIN_MAX 600U

static int check_invite(const ProtobufCMessage *pm, const void *ctx)
{
    (void)ctx;
    const Secmsg__Client__Invite *m = (const Secmsg__Client__Invite *)(const void *)pm;
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (m->relay_url == NULL || !url_valid(m->relay_url, SECMSG__URL_MAX) ||
        !secmsg__wire_has_len(m->has_token, m->token, INVITE_TOKEN_BYTES) ||
        m->caseworker == NULL || !user_id_valid(m->caseworker, SECMSG__RELAY_USER_ID_MAX + 1U) ||
        !secmsg__wire_has_len(m->has_caseworker_fp, m->caseworker_fp, INVITE_FP_BYTES) ||
        !secmsg__wire_has_len(m->has_root_fp, m->root_fp, INVITE_FP_BYTES) ||
        !secmsg__wire_has_len(m->has_secret, m->secret, INVITE_SECRET_BYTES) || !m->has_expires ||
        m->expires == 0)
        return SECMSG_E_MALFORMED;
    return SECMSG_OK; /* the bytes themselves: secmsg__wire_decode */
}

int secmsg__invite_format(const secmsg__invite *inv, char *out, size_t cap, size_t *len)
{
    Secmsg__Client__Invite m = SECMSG__CLIENT__INVITE__INIT;
    uint8_t bin[INVITE_BIN_MAX];
    size_t n = 0;
    int rc;

    if (inv == NULL || len == NULL)
        return SECMSG_E_INVALID_ARG;
    if (!url_valid(inv->relay_url, sizeof inv->relay_url) ||
        !user_id_valid(inv->caseworker, sizeof inv->caseworker) || inv->expires == 0)
        return SECMSG_E_INVALID_ARG;
    m.has_version = 1;
    m.version = SECMSG_PROTOCOL_VERSION;
    m.relay_url = str_field(inv->relay_url);
    m.has_token = 1;
    m.token = secmsg__bytes(inv->token, sizeof inv->token);
    m.caseworker = str_field(inv->caseworker);
    m.has_caseworker_fp = 1;
    m.caseworker_fp = secmsg__bytes(inv->caseworker_fp, sizeof inv->caseworker_fp);
    m.has_root_fp = 1;
    m.root_fp = secmsg__bytes(inv->root_fp, sizeof inv->root_fp);
    m.has_secret = 1;
    m.secret = secmsg__bytes(inv->secret, sizeof inv->secret);
    m.has_expires = 1;
    m.expires = inv->expires;

    rc = secmsg__wire_pack(&m.base, bin, sizeof bin, &n);
    if (rc != SECMSG_OK) {
        rc = SECMSG_E_INVALID_ARG; /* cannot happen: every field is bounded */
        goto out;
    }
    rc = to_text(SECMSG__INVITE_PREFIX, bin, n, out, cap, len);
out:
    sodium_memzero(bin, sizeof bin);
    return rc;
}

int secmsg__invite_parse(secmsg__invite *inv, const char *text, size_t len)
{
    uint8_t bin[SECMSG_INVITE_MAX];
    size_t n = 0;
    secmsg__arena arena;
    ProtobufCMessage *pm = NULL;
    int rc;

    if (inv == NULL || (text == NULL && len > 0))
        return SECMSG_E_INVALID_ARG;
    sodium_memzero(inv, sizeof *inv);
    if (len >= SECMSG_INVITE_MAX)
        return SECMSG_E_MALFORMED;
    secmsg__arena_init(&arena);

    rc = from_text(SECMSG__INVITE_PREFIX, text, len, bin, sizeof bin, &n);
    if (rc != SECMSG_OK) {
        rc = SECMSG_E_MALFORMED; /* BUFFER_TOO_SMALL cannot happen: bin holds len bytes */
        goto out;
    }
    rc = secmsg__wire_decode(&pm, &secmsg__client__invite__descriptor, INVITE_BIN_MAX, check_invite,
                             NULL, bin, n, &arena.alloc);
    if (rc != SECMSG_OK)
        goto out;
    const Secmsg__Client__Invite *m = (const Secmsg__Client__Invite *)(const void *)pm;
    /* Lengths were checked, and both strings are NUL-terminated within bound. */
    memcpy(inv->relay_url, m->relay_url, strlen(m->relay_url) + 1U);
    memcpy(inv->token, m->token.data, sizeof inv->token);
    memcpy(inv->caseworker, m->caseworker, strlen(m->caseworker) + 1U);
    memcpy(inv->caseworker_fp, m->caseworker_fp.data, sizeof inv->caseworker_fp);
    memcpy(inv->root_fp, m->root_fp.data, sizeof inv->root_fp);
    memcpy(inv->secret, m->secret.data, sizeof inv->secret);
    inv->expires = m->expires;
out:
    if (pm != NULL)
        protobuf_c_message_free_unpacked(pm, &arena.alloc);
    secmsg__arena_wipe(&arena);
    sodium_memzero(bin, sizeof bin);
    return rc;
}

/* ---- device certificates ---- */

static int check_cert(const ProtobufCMessage *pm, const void *ctx)
{
    (void)ctx;
    const Secmsg__Client__Certificate *m = (const Secmsg__Client__Certificate *)(const void *)pm;
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!secmsg__wire_has_len(m->has_root_pub, m->root_pub, ROOT_PUB_BYTES) || m->user_id == NULL ||
        !user_id_valid(m->user_id, SECMSG__RELAY_USER_ID_MAX + 1U) || !m->has_role ||
        (m->role != ROLE_CASEWORKER && m->role != ROLE_JOURNAL) || !m->has_identity ||
        m->identity.data == NULL || m->identity.len > sizeof(((secmsg__cert *)0)->identity) ||
        secmsg_identity_public_verify(m->identity.data, m->identity.len) != SECMSG_OK ||
        !m->has_not_after || m->not_after == 0 ||
        !secmsg__wire_has_len(m->has_sig, m->sig, SECMSG__SIG_BYTES))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK; /* the bytes themselves: secmsg__wire_decode */
}

/*
 * "secmsg device certificate v1" || TBS into buf, where TBS is m packed
 * without its sig. m->has_sig is restored. Returns the length or 0 if it
 * would not fit.
 */
static size_t cert_signed_bytes(Secmsg__Client__Certificate *m, uint8_t *buf, size_t cap)
{
    protobuf_c_boolean had = m->has_sig;
    m->has_sig = 0;
    size_t n = protobuf_c_message_get_packed_size(&m->base);
    size_t total = 0;
    if (n <= cap - CERT_SIG_DOMAIN_LEN) {
        memcpy(buf, CERT_SIG_DOMAIN, CERT_SIG_DOMAIN_LEN);
        protobuf_c_message_pack(&m->base, buf + CERT_SIG_DOMAIN_LEN);
        total = CERT_SIG_DOMAIN_LEN + n;
    }
    m->has_sig = had;
    return total;
}

int secmsg__cert_sign(const secmsg__cert *c, const uint8_t root_sk[64], uint8_t *out, size_t cap,
                      size_t *len)
{
    Secmsg__Client__Certificate m = SECMSG__CLIENT__CERTIFICATE__INIT;
    uint8_t tbs[CERT_SIG_DOMAIN_LEN + SECMSG__CERT_MAX];
    uint8_t sig[SECMSG__SIG_BYTES];
    int rc;

    if (c == NULL || root_sk == NULL || len == NULL)
        return SECMSG_E_INVALID_ARG;
    /* Refuse what secmsg__cert_verify would refuse; the key must be c's root. */
    if (!user_id_valid(c->user_id, sizeof c->user_id) ||
        (c->role != ROLE_CASEWORKER && c->role != ROLE_JOURNAL) ||
        c->identity_len > sizeof c->identity ||
        secmsg_identity_public_verify(c->identity, c->identity_len) != SECMSG_OK ||
        c->not_after == 0 || sodium_memcmp(root_sk + 32, c->root_pub, ROOT_PUB_BYTES) != 0)
        return SECMSG_E_INVALID_ARG;

    m.has_version = 1;
    m.version = SECMSG_PROTOCOL_VERSION;
    m.has_root_pub = 1;
    m.root_pub = secmsg__bytes(c->root_pub, ROOT_PUB_BYTES);
    m.user_id = str_field(c->user_id);
    m.has_role = 1;
    m.role = c->role;
    m.has_identity = 1;
    m.identity = secmsg__bytes(c->identity, c->identity_len);
    m.has_not_after = 1;
    m.not_after = c->not_after;
    m.has_sig = 1;
    m.sig = secmsg__bytes(sig, sizeof sig);

    size_t need = protobuf_c_message_get_packed_size(&m.base);
    *len = need;
    if (need > SECMSG__CERT_MAX)
        return SECMSG_E_INVALID_ARG; /* cannot happen with the bounds above */
    if (out == NULL || cap < need)
        return SECMSG_E_BUFFER_TOO_SMALL;
    size_t tbs_len = cert_signed_bytes(&m, tbs, sizeof tbs);
    if (tbs_len == 0 || crypto_sign_detached(sig, NULL, tbs, tbs_len, root_sk) != 0) {
        rc = SECMSG_E_CRYPTO;
        goto out;
    }
    rc = secmsg__wire_pack(&m.base, out, cap, len);
out:
    sodium_memzero(tbs, sizeof tbs);
    sodium_memzero(sig, sizeof sig);
    return rc;
}

int secmsg__cert_verify(secmsg__cert *c, const uint8_t *in, size_t len)
{
    uint8_t tbs[CERT_SIG_DOMAIN_LEN + SECMSG__CERT_MAX];
    secmsg__arena arena;
    ProtobufCMessage *pm = NULL;
    int rc;

    if (c == NULL || (in == NULL && len > 0))
        return SECMSG_E_INVALID_ARG;
    sodium_memzero(c, sizeof *c);
    secmsg__arena_init(&arena);
    rc = secmsg__wire_decode(&pm, &secmsg__client__certificate__descriptor, SECMSG__CERT_MAX,
                             check_cert, NULL, in, len, &arena.alloc);
    if (rc != SECMSG_OK)
        goto out;
    Secmsg__Client__Certificate *m = (Secmsg__Client__Certificate *)(void *)pm;
    size_t tbs_len = cert_signed_bytes(m, tbs, sizeof tbs);
    if (tbs_len == 0) {
        rc = SECMSG_E_MALFORMED;
        goto out;
    }
    if (crypto_sign_verify_detached(m->sig.data, tbs, tbs_len, m->root_pub.data) != 0) {
        rc = SECMSG_E_SIGNATURE;
        goto out;
    }
    memcpy(c->root_pub, m->root_pub.data, sizeof c->root_pub);
    memcpy(c->user_id, m->user_id, strlen(m->user_id) + 1U);
    c->role = m->role;
    memcpy(c->identity, m->identity.data, m->identity.len);
    c->identity_len = m->identity.len;
    c->not_after = m->not_after;
out:
    if (pm != NULL)
        protobuf_c_message_free_unpacked(pm, &arena.alloc);
    secmsg__arena_wipe(&arena);
    sodium_memzero(tbs, sizeof tbs);
    return rc;
}

int secmsg__cert_to_text(const uint8_t *cert, size_t len, char *out, size_t cap, size_t *out_len)
{
    if (cert == NULL || len == 0 || len > SECMSG__CERT_MAX || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    return to_text(SECMSG__CERT_PREFIX, cert, len, out, cap, out_len);
}

int secmsg__cert_from_text(uint8_t *cert, size_t cap, size_t *len, const char *text)
{
    uint8_t bin[SECMSG__CERT_MAX];
    size_t n = 0;

    if (len == NULL || text == NULL)
        return SECMSG_E_INVALID_ARG;
    *len = 0;
    size_t text_len = strnlen(text, CERT_TEXT_MAX);
    if (text_len == CERT_TEXT_MAX)
        return SECMSG_E_MALFORMED;
    int rc = from_text(SECMSG__CERT_PREFIX, text, text_len, bin, sizeof bin, &n);
    if (rc != SECMSG_OK || n == 0) {
        rc = SECMSG_E_MALFORMED; /* also longer than SECMSG__CERT_MAX */
        goto out;
    }
    *len = n;
    if (cert == NULL || cap < n) {
        rc = SECMSG_E_BUFFER_TOO_SMALL;
        goto out;
    }
    memcpy(cert, bin, n);
out:
    sodium_memzero(bin, sizeof bin);
    return rc;
}

/* ---- Content ---- */

static int check_content(const ProtobufCMessage *pm, const void *ctx)
{
    (void)ctx;
    const Secmsg__Client__Content *m = (const Secmsg__Client__Content *)(const void *)pm;
    int rc = secmsg__wire_check_version(m->has_version, m->version);
    if (rc != SECMSG_OK)
        return rc;
    if (!m->has_kind || !secmsg__wire_has_len(m->has_message_id, m->message_id, MESSAGE_ID_BYTES) ||
        !m->has_sent_at)
        return SECMSG_E_MALFORMED;
    switch (m->kind) {
    case SECMSG__CONTENT_TEXT: {
        if (m->text == NULL || m->has_invite_secret || m->has_certificate)
            return SECMSG_E_MALFORMED;
        /* An embedded NUL shortens the string: the canonical check refuses it. */
        size_t n = strlen(m->text);
        if (n == 0 || n > SECMSG_MAX_TEXT || !secmsg__utf8_valid((const uint8_t *)m->text, n))
            return SECMSG_E_MALFORMED;
        break;
    }
    case SECMSG__CONTENT_HELLO:
        if (m->text != NULL || m->has_certificate ||
            !secmsg__wire_has_len(m->has_invite_secret, m->invite_secret, INVITE_SECRET_BYTES))
            return SECMSG_E_MALFORMED;
        break;
    case SECMSG__CONTENT_WELCOME:
        if (m->text != NULL || m->has_invite_secret || !m->has_certificate ||
            m->certificate.data == NULL || m->certificate.len == 0 ||
            m->certificate.len > SECMSG__CERT_MAX)
            return SECMSG_E_MALFORMED;
        break;
    default:
        return SECMSG_E_MALFORMED;
    }
    if (m->has_padding) {
        uint8_t acc = 0;
        for (size_t i = 0; i < m->padding.len; i++)
            acc |= m->padding.data[i];
        if (acc != 0)
            return SECMSG_E_MALFORMED;
    }
    return SECMSG_OK; /* the bytes themselves: secmsg__wire_decode */
}

/*
 * Length of the padding field's data that brings an encoding of `base`
 * bytes to a multiple of CONTENT_PAD, or SIZE_MAX for no padding field.
 * The field costs a tag byte and a length varint: with T the first multiple
 * of 64 at or above base + 2 (an empty field), the data is T - base - 2
 * bytes, at most 63, so its length varint is always one byte and T is
 * exactly reached.
 */
static size_t padding_for(size_t base)
{
    if (base % CONTENT_PAD == 0)
        return SIZE_MAX;
    size_t min_total = base + PADDING_TAG_BYTES + 1U;
    size_t total = (min_total + CONTENT_PAD - 1U) / CONTENT_PAD * CONTENT_PAD;
    return total - min_total;
}

int secmsg__content_encode(const secmsg__content *c, uint8_t **out, size_t *len)
{
    static const uint8_t zeros[CONTENT_PAD];
    Secmsg__Client__Content m = SECMSG__CLIENT__CONTENT__INIT;
    char *text = NULL;
    uint8_t *buf = NULL;
    size_t text_len = 0;
    int rc;

    if (c == NULL || out == NULL || len == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    *len = 0;

    m.has_version = 1;
    m.version = SECMSG_PROTOCOL_VERSION;
    m.has_kind = 1;
    m.kind = c->kind;
    m.has_message_id = 1;
    m.message_id = secmsg__bytes(c->message_id, sizeof c->message_id);
    m.has_sent_at = 1;
    m.sent_at = c->sent_at;
    /* Only the kind's own field is encoded; the struct's others are ignored. */
    switch (c->kind) {
    case SECMSG__CONTENT_TEXT:
        /* protobuf-c strings are NUL-terminated, so U+0000 cannot be carried. */
        if (c->text == NULL || c->text_len == 0 || c->text_len > SECMSG_MAX_TEXT ||
            memchr(c->text, '\0', c->text_len) != NULL || !secmsg__utf8_valid(c->text, c->text_len))
            return SECMSG_E_INVALID_ARG;
        text_len = c->text_len;
        text = malloc(text_len + 1U);
        if (text == NULL)
            return SECMSG_E_NOMEM;
        memcpy(text, c->text, text_len);
        text[text_len] = '\0';
        m.text = text;
        break;
    case SECMSG__CONTENT_HELLO:
        m.has_invite_secret = 1;
        m.invite_secret = secmsg__bytes(c->invite_secret, sizeof c->invite_secret);
        break;
    case SECMSG__CONTENT_WELCOME:
        if (c->cert == NULL || c->cert_len == 0 || c->cert_len > SECMSG__CERT_MAX)
            return SECMSG_E_INVALID_ARG;
        m.has_certificate = 1;
        m.certificate = secmsg__bytes(c->cert, c->cert_len);
        break;
    default:
        return SECMSG_E_INVALID_ARG;
    }

    size_t pad = padding_for(protobuf_c_message_get_packed_size(&m.base));
    if (pad != SIZE_MAX) {
        m.has_padding = 1;
        m.padding = secmsg__bytes(zeros, pad);
    }
    size_t n = protobuf_c_message_get_packed_size(&m.base);
    buf = malloc(n);
    if (buf == NULL) {
        rc = SECMSG_E_NOMEM;
        goto out;
    }
    protobuf_c_message_pack(&m.base, buf);
    *out = buf;
    *len = n;
    rc = SECMSG_OK;
out:
    if (text != NULL) {
        sodium_memzero(text, text_len + 1U);
        free(text);
    }
    return rc;
}

int secmsg__content_decode(secmsg__content *c, const uint8_t *in, size_t len)
{
    ProtobufCMessage *pm = NULL;
    uint8_t *copy = NULL;
    size_t copy_len = 0;
    int rc;

    if (c == NULL || (in == NULL && len > 0))
        return SECMSG_E_INVALID_ARG;
    memset(c, 0, sizeof *c);
    rc = secmsg__wire_decode(&pm, &secmsg__client__content__descriptor, CONTENT_MAX, check_content,
                             NULL, in, len, &secmsg__wiping_allocator);
    if (rc != SECMSG_OK)
        goto out;
    const Secmsg__Client__Content *m = (const Secmsg__Client__Content *)(const void *)pm;
    if (m->kind == SECMSG__CONTENT_TEXT) {
        copy_len = strlen(m->text);
        copy = malloc(copy_len + 1U);
        if (copy == NULL) {
            rc = SECMSG_E_NOMEM;
            goto out;
        }
        memcpy(copy, m->text, copy_len + 1U);
        c->text = copy;
        c->text_len = copy_len;
    } else if (m->kind == SECMSG__CONTENT_HELLO) {
        memcpy(c->invite_secret, m->invite_secret.data, sizeof c->invite_secret);
    } else {
        copy_len = m->certificate.len;
        copy = malloc(copy_len);
        if (copy == NULL) {
            rc = SECMSG_E_NOMEM;
            goto out;
        }
        memcpy(copy, m->certificate.data, copy_len);
        c->cert = copy;
        c->cert_len = copy_len;
    }
    c->kind = m->kind;
    memcpy(c->message_id, m->message_id.data, sizeof c->message_id);
    c->sent_at = m->sent_at;
out:
    if (pm != NULL)
        protobuf_c_message_free_unpacked(pm, &secmsg__wiping_allocator);
    return rc;
}

void secmsg__content_free(secmsg__content *c)
{
    if (c == NULL)
        return;
    if (c->text != NULL) {
        sodium_memzero(c->text, c->text_len + 1U);
        free(c->text);
    }
    if (c->cert != NULL) {
        sodium_memzero(c->cert, c->cert_len);
        free(c->cert);
    }
    sodium_memzero(c, sizeof *c);
}
