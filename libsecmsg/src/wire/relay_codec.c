#include "wire/relay_codec.h"

#include <string.h>

#include "secmsg/common.h"
#include "wire/codec.h"

/*
 * Upper bounds of the fixed-shape bodies (relay_codec.h): no valid body
 * reaches these; anything longer is refused unparsed.
 */
#define BYTES_FIELD_MAX(n) SECMSG__RELAY_BYTES_FIELD_MAX(n)
#define UINT32_FIELD_MAX SECMSG__RELAY_UINT32_FIELD_MAX
#define REGISTER_MAX                                                                               \
    (BYTES_FIELD_MAX(SECMSG__RELAY_TOKEN_BYTES) + BYTES_FIELD_MAX(SECMSG__MAX_IDENTITY_BYTES) +    \
     BYTES_FIELD_MAX(SECMSG__SIG_BYTES))
#define CHALLENGE_MAX BYTES_FIELD_MAX(SECMSG__RELAY_ID_BYTES)
#define TOKEN_MAX                                                                                  \
    (BYTES_FIELD_MAX(SECMSG__RELAY_ID_BYTES) + BYTES_FIELD_MAX(SECMSG__RELAY_NONCE_BYTES) +        \
     BYTES_FIELD_MAX(SECMSG__SIG_BYTES))
#define INVITE_MAX (BYTES_FIELD_MAX(SECMSG__RELAY_USER_ID_MAX) + UINT32_FIELD_MAX)
#define CLAIM_MAX BYTES_FIELD_MAX(SECMSG__RELAY_ID_BYTES)
#define SIGNED_PREKEY_MAX                                                                          \
    (UINT32_FIELD_MAX + BYTES_FIELD_MAX(SECMSG__KEY_BYTES) + BYTES_FIELD_MAX(SECMSG__SIG_BYTES))


int secmsg__relay_all_len(const ProtobufCBinaryData *v, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len != len || v[i].data == NULL)
            return 0;
    return 1;
}

int secmsg__relay_user_id_valid(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n == SECMSG__RELAY_USER_ID_MAX)
            return 0;
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    /* User ids are path segments (/v1/users/{id}/devices): "." and ".." would
     * be rewritten by clients and proxies before the relay saw them. */
    if (n == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return 1;
}

/*
 * Nested secmsg messages carried as bytes are decoded with the same canonical
 * decoder, in a stack arena, only to be checked; the relay keeps the bytes.
 */
static int signed_prekey_check(const ProtobufCMessage *m, const void *ctx)
{
    (void)ctx;
    return secmsg__wire_check_signed_prekey((const Secmsg__Wire__SignedPrekey *)(const void *)m);
}

static int nested_signed_prekey_ok(ProtobufCBinaryData b)
{
    secmsg__arena arena;
    ProtobufCMessage *m = NULL;
    secmsg__arena_init(&arena);
    int rc = secmsg__wire_decode(&m, &secmsg__wire__signed_prekey__descriptor, SIGNED_PREKEY_MAX,
                                 signed_prekey_check, NULL, b.data, b.len, &arena.alloc);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, &arena.alloc);
    secmsg__arena_wipe(&arena);
    return rc == SECMSG_OK;
}

int secmsg__relay_identity_ok(ProtobufCBinaryData b)
{
    secmsg__arena arena;
    Secmsg__Wire__IdentityPublic *m = NULL;
    secmsg__arena_init(&arena);
    int rc = secmsg__wire_decode_identity_public(&m, b.data, b.len, &arena.alloc);
    if (m != NULL)
        secmsg__wire__identity_public__free_unpacked(m, &arena.alloc);
    secmsg__arena_wipe(&arena);
    return rc == SECMSG_OK;
}

/* ---- checks (ctx: the relay's limits, or NULL for fixed-shape bodies) ---- */

static int check_register(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__RegisterRequest *m = (const void *)pm;
    (void)ctx;
    if (!secmsg__wire_has_len(m->has_token, m->token, SECMSG__RELAY_TOKEN_BYTES) ||
        !secmsg__wire_has_len(m->has_sig, m->sig, SECMSG__SIG_BYTES) || !m->has_identity ||
        !secmsg__relay_identity_ok(m->identity))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

static int check_challenge(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__ChallengeRequest *m = (const void *)pm;
    (void)ctx;
    return secmsg__wire_has_len(m->has_device_id, m->device_id, SECMSG__RELAY_ID_BYTES) ? SECMSG_OK
                                                                           : SECMSG_E_MALFORMED;
}

static int check_token(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__TokenRequest *m = (const void *)pm;
    (void)ctx;
    if (!secmsg__wire_has_len(m->has_device_id, m->device_id, SECMSG__RELAY_ID_BYTES) ||
        !secmsg__wire_has_len(m->has_nonce, m->nonce, SECMSG__RELAY_NONCE_BYTES) ||
        !secmsg__wire_has_len(m->has_sig, m->sig, SECMSG__SIG_BYTES))
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

/*
 * ttl_seconds and the user id's form are the relay's to judge (400 bad_ttl,
 * 400 bad_user_id with secmsg__relay_user_id_valid), so that a client gets
 * the precise reason; the codec only bounds the size (the body limit) and
 * the canonical encoding (an embedded NUL does not re-encode).
 */
static int check_invite(const ProtobufCMessage *pm, const void *ctx)
{
    (void)pm;
    (void)ctx;
    return SECMSG_OK;
}

static int check_claim(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__ClaimRequest *m = (const void *)pm;
    (void)ctx;
    return secmsg__wire_has_len(m->has_device_id, m->device_id, SECMSG__RELAY_ID_BYTES) ? SECMSG_OK
                                                                           : SECMSG_E_MALFORMED;
}

/*
 * The signed prekey is optional (an upload may only add one-time prekeys)
 * and, if present, must parse as a secmsg SignedPrekey; its signature is
 * not the relay's to check. The one-time batch may be empty (a rotation
 * only), but not both: an upload with neither is empty, and refused as such.
 * Duplicate ids are the store's to refuse (409).
 */
static int check_prekeys(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__PrekeyUpload *m = (const void *)pm;
    const secmsg__relay_limits *lim = ctx;
    if ((m->has_signed_prekey && !nested_signed_prekey_ok(m->signed_prekey)) ||
        m->n_one_time_prekeys > lim->max_prekeys_per_upload)
        return SECMSG_E_MALFORMED;
    for (size_t i = 0; i < m->n_one_time_prekeys; i++) {
        const Secmsg__Relay__OneTimePrekeyPublic *k = m->one_time_prekeys[i];
        if (k == NULL || !k->has_id || k->id == 0 ||
            !secmsg__wire_has_len(k->has_pub, k->pub, SECMSG__KEY_BYTES) ||
            !secmsg__wire_x25519_canonical(k->pub.data))
            return SECMSG_E_MALFORMED;
    }
    return SECMSG_OK;
}

static int check_envelope(const Secmsg__Relay__Envelope *e, const secmsg__relay_limits *lim)
{
    return e != NULL &&
           secmsg__wire_has_len(e->has_message_id, e->message_id, SECMSG__RELAY_MSGID_BYTES) &&
           e->n_recipients > 0 &&
           secmsg__relay_all_len(e->recipients, e->n_recipients, SECMSG__RELAY_ID_BYTES) &&
           e->has_content && e->content.len > 0 && e->content.data != NULL &&
           e->content.len <= lim->max_envelope &&
           secmsg__relay_all_len(e->blob_ids, e->n_blob_ids, SECMSG__RELAY_BLOB_ID_BYTES);
}

static int check_send(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__SendRequest *m = (const void *)pm;
    const secmsg__relay_limits *lim = ctx;
    /* Each recipient took at least one byte of input, so the sum cannot wrap. */
    size_t recipients = 0;
    if (m->n_envelopes == 0)
        return SECMSG_E_MALFORMED;
    for (size_t i = 0; i < m->n_envelopes; i++) {
        if (!check_envelope(m->envelopes[i], lim))
            return SECMSG_E_MALFORMED;
        recipients += m->envelopes[i]->n_recipients;
    }
    return recipients <= lim->max_recipients ? SECMSG_OK : SECMSG_E_MALFORMED;
}

static int check_ack(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__AckRequest *m = (const void *)pm;
    const secmsg__relay_limits *lim = ctx;
    return m->n_ids > 0 && m->n_ids <= lim->max_acks ? SECMSG_OK : SECMSG_E_MALFORMED;
}

static int check_fetch(const ProtobufCMessage *pm, const void *ctx)
{
    const Secmsg__Relay__FetchRequest *m = (const void *)pm;
    const secmsg__relay_limits *lim = ctx;
    return m->n_ack_ids <= lim->max_acks ? SECMSG_OK : SECMSG_E_MALFORMED;
}

/* ---- decoders ---- */

/*
 * Every relay decoder: callers free with __free_unpacked(m, NULL). The
 * relay answers 400 to anything refused, so every refusal is MALFORMED.
 */
int secmsg__relay_decode_body(void **out, const ProtobufCMessageDescriptor *desc, size_t max,
                              secmsg__wire_check_fn check, const void *ctx, const uint8_t *in,
                              size_t len)
{
    ProtobufCMessage *m = NULL;
    int rc = secmsg__wire_decode(&m, desc, max, check, ctx, in, len, NULL);
    if (rc != SECMSG_OK)
        rc = SECMSG_E_MALFORMED;
    *out = m;
    return rc;
}

/* Fixed-shape bodies: no limits to check. */
static int relay_decode(void **out, const ProtobufCMessageDescriptor *desc, size_t max,
                        secmsg__wire_check_fn check, const uint8_t *in, size_t len)
{
    return secmsg__relay_decode_body(out, desc, max, check, NULL, in, len);
}

/* Bodies whose size bound is the relay's max_body. */
static int relay_decode_lim(void **out, const ProtobufCMessageDescriptor *desc,
                            secmsg__wire_check_fn check, const secmsg__relay_limits *lim,
                            const uint8_t *in, size_t len)
{
    *out = NULL;
    if (lim == NULL)
        return SECMSG_E_INVALID_ARG;
    return secmsg__relay_decode_body(out, desc, lim->max_body, check, lim, in, len);
}

#define RELAY_DECODER(fname, type, desc, max, chk)                                                 \
    SECMSG__RELAY_DECODER(fname, type, relay_decode, desc, max, chk)

#define RELAY_DECODER_LIM(fname, type, desc, chk)                                                  \
    int fname(type **out, const uint8_t *in, size_t len, const secmsg__relay_limits *lim)          \
    {                                                                                              \
        if (out == NULL)                                                                           \
            return SECMSG_E_INVALID_ARG;                                                           \
        void *m;                                                                                   \
        int rc = relay_decode_lim(&m, &desc, chk, lim, in, len);                                   \
        *out = m;                                                                                  \
        return rc;                                                                                 \
    }

RELAY_DECODER(secmsg__relay_decode_register, Secmsg__Relay__RegisterRequest,
              secmsg__relay__register_request__descriptor, REGISTER_MAX, check_register)
RELAY_DECODER(secmsg__relay_decode_challenge, Secmsg__Relay__ChallengeRequest,
              secmsg__relay__challenge_request__descriptor, CHALLENGE_MAX, check_challenge)
RELAY_DECODER(secmsg__relay_decode_token, Secmsg__Relay__TokenRequest,
              secmsg__relay__token_request__descriptor, TOKEN_MAX, check_token)
RELAY_DECODER(secmsg__relay_decode_invite, Secmsg__Relay__InviteRequest,
              secmsg__relay__invite_request__descriptor, INVITE_MAX, check_invite)
RELAY_DECODER(secmsg__relay_decode_claim, Secmsg__Relay__ClaimRequest,
              secmsg__relay__claim_request__descriptor, CLAIM_MAX, check_claim)
RELAY_DECODER_LIM(secmsg__relay_decode_prekeys, Secmsg__Relay__PrekeyUpload,
                  secmsg__relay__prekey_upload__descriptor, check_prekeys)
RELAY_DECODER_LIM(secmsg__relay_decode_send, Secmsg__Relay__SendRequest,
                  secmsg__relay__send_request__descriptor, check_send)

/*
 * protobuf-c also parses the packed form of `repeated uint64 ids`, and for
 * two one-byte ids it is exactly as long as the canonical one: the shared
 * decoder's byte-for-byte re-encoding check is what refuses it. (Its only
 * field is the repeated one, so that refuses no field order that
 * protocol.md section 3 allows.)
 */
RELAY_DECODER_LIM(secmsg__relay_decode_ack, Secmsg__Relay__AckRequest,
                  secmsg__relay__ack_request__descriptor, check_ack)

/*
 * Packed ack_ids are refused as for AckRequest; with two fields the
 * byte-for-byte check also fixes their order to the canonical one
 * (ascending field numbers). Unlike every other request, the empty body is
 * a valid FetchRequest (no acks, no wait), which the shared decoder refuses.
 */
int secmsg__relay_decode_fetch(Secmsg__Relay__FetchRequest **out, const uint8_t *in, size_t len,
                               const secmsg__relay_limits *lim)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (lim == NULL)
        return SECMSG_E_INVALID_ARG;
    if (len == 0) {
        static const uint8_t none[1];
        *out = secmsg__relay__fetch_request__unpack(NULL, 0, none);
        return *out != NULL ? SECMSG_OK : SECMSG_E_MALFORMED;
    }
    void *m;
    int rc =
        relay_decode_lim(&m, &secmsg__relay__fetch_request__descriptor, check_fetch, lim, in, len);
    *out = m;
    return rc;
}
