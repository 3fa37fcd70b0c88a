/*
 * Enrollment: caseworkers with an admin token and a root certificate,
 * citizens by redeeming an invite; invites; prekey upload and replenishing.
 * spec/client.md §4.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client/client_internal.h"
#include "session/internal.h"
#include "wire/client_codec.h"
#include "wire/relay_codec.h"

/* The relay's enrollment and invite tokens: 32 bytes as 43 base64url characters. */
static int parse_token(uint8_t token[32], const char *text)
{
    size_t len = 0;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    if (n != 43 || secmsg__b64url_decode(token, 32, &len, text, n) != SECMSG_OK || len != 32)
        return SECMSG_E_MALFORMED;
    return SECMSG_OK;
}

/* The signed prekey as the relay stores it: a serialized SignedPrekey. */
static int encode_signed_prekey(const secmsg_prekeys *pk, uint8_t *out, size_t cap, size_t *len)
{
    Secmsg__Wire__SignedPrekey spk = SECMSG__WIRE__SIGNED_PREKEY__INIT;
    spk.has_id = spk.has_pub = spk.has_sig = 1;
    spk.id = pk->spk.id;
    spk.pub = secmsg__bytes(pk->spk.pub, SECMSG__KEY_BYTES);
    spk.sig = secmsg__bytes(pk->spk_sig, SECMSG__SIG_BYTES);
    return secmsg__wire_pack(&spk.base, out, cap, len);
}

/*
 * Brings the relay's copy of our prekeys up to date: the signed prekey if
 * the relay does not have the current one, and every one-time prekey above
 * the highest id the relay has. With force_new_batch (the relay said it
 * runs low) a fresh batch is generated and committed locally first, so the
 * private halves exist before the relay can hand out the public ones.
 */
int secmsg__client_upload_prekeys(secmsg_client *c, int force_new_batch)
{
    uint32_t otk_done = 0, spk_done = 0;
    int rc = secmsg__client_setting_u32(c, SETTING_OTK_UPLOADED, &otk_done);
    if (rc != SECMSG_OK && rc != SECMSG_E_NOT_FOUND)
        return rc;
    rc = secmsg__client_setting_u32(c, SETTING_SPK_UPLOADED, &spk_done);
    if (rc != SECMSG_OK && rc != SECMSG_E_NOT_FOUND)
        return rc;

    if (force_new_batch) {
        size_t have = secmsg_prekeys_count(c->pk);
        uint32_t room = (uint32_t)(SECMSG_MAX_ONE_TIME_PREKEYS - have);
        uint32_t add = room < CLIENT_OTK_BATCH ? room : CLIENT_OTK_BATCH;
        if (add > 0) {
            rc = secmsg_prekeys_generate(c->pk, add, NULL);
            if (rc != SECMSG_OK)
                return rc;
            rc = secmsg__client_save_prekeys(c);
            if (rc != SECMSG_OK)
                return secmsg__client_fail(c, rc, "cannot store new prekeys");
        }
    }

    secmsg__rc_otk *otks = calloc(SECMSG_MAX_ONE_TIME_PREKEYS, sizeof *otks);
    if (otks == NULL)
        return SECMSG_E_NOMEM;
    size_t n = 0;
    uint32_t top = otk_done;
    for (uint32_t i = 0; i < c->pk->n_otk && n < 100; i++) {
        if (c->pk->otk[i].id > otk_done) {
            otks[n].id = c->pk->otk[i].id;
            memcpy(otks[n].pub, c->pk->otk[i].pub, 32);
            if (otks[n].id > top)
                top = otks[n].id;
            n++;
        }
    }
    uint8_t spk[160];
    size_t spk_len = 0;
    int need_spk = spk_done != c->pk->spk.id;
    if (need_spk) {
        rc = encode_signed_prekey(c->pk, spk, sizeof spk, &spk_len);
        if (rc != SECMSG_OK)
            goto out;
    }
    if (n == 0 && !need_spk)
        goto out;
    rc = secmsg__client_relay(c);
    if (rc != SECMSG_OK)
        goto out;
    uint32_t count = 0;
    int low = 0;
    rc = secmsg__rc_prekeys_upload(&c->rc, need_spk ? spk : NULL, spk_len, otks, n, &count, &low);
    /* duplicate_prekey_id: an earlier upload of this batch reached the
     * relay before a crash; the relay takes a batch whole or not at all. */
    if (rc == SECMSG_E_RELAY && strcmp(c->rc.reason, "duplicate_prekey_id") == 0)
        rc = SECMSG_OK;
    if (rc != SECMSG_OK) {
        rc = secmsg__client_relay_fail(c, rc, "uploading prekeys");
        goto out;
    }
    rc = secmsg__store_begin(c->st);
    if (rc == SECMSG_OK) {
        rc = secmsg__client_put_u32(c, SETTING_OTK_UPLOADED, top);
        if (rc == SECMSG_OK)
            rc = secmsg__client_put_u32(c, SETTING_SPK_UPLOADED, c->pk->spk.id);
        if (rc == SECMSG_OK)
            rc = secmsg__store_commit(c->st);
        else
            secmsg__store_rollback(c->st);
    }
out:
    free(otks);
    return rc;
}

static int save_enrollment(secmsg_client *c, int role, const char *user_id, const char *url,
                           const uint8_t root_fp[32], const uint8_t *cert, size_t cert_len)
{
    uint8_t r = (uint8_t)role;
    int rc = secmsg__store_begin(c->st);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__store_setting_put(c->st, SETTING_ROLE, &r, 1);
    if (rc == SECMSG_OK)
        rc = secmsg__store_setting_put(c->st, SETTING_USER_ID, (const uint8_t *)user_id,
                                       strlen(user_id));
    if (rc == SECMSG_OK)
        rc = secmsg__store_setting_put(c->st, SETTING_RELAY_URL, (const uint8_t *)url,
                                       strlen(url));
    if (rc == SECMSG_OK)
        rc = secmsg__store_setting_put(c->st, SETTING_ROOT_FP, root_fp, 32);
    if (rc == SECMSG_OK && cert != NULL)
        rc = secmsg__store_setting_put(c->st, SETTING_OWN_CERT, cert, cert_len);
    if (rc == SECMSG_OK)
        rc = secmsg__store_commit(c->st);
    else
        secmsg__store_rollback(c->st);
    if (rc != SECMSG_OK)
        return rc;
    c->role = role;
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
    return SECMSG_OK;
}

static int set_relay_url(secmsg_client *c, const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof c->relay_url ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return secmsg__client_fail(c, SECMSG_E_INVALID_ARG,
                                   "the relay address must start with http:// or https://");
    memcpy(c->relay_url, url, n);
    c->relay_url[n] = '\0';
    if (c->rc_ready) {
        secmsg__rc_free(&c->rc);
        c->rc_ready = 0;
    }
    return SECMSG_OK;
}

int secmsg_client_enroll_caseworker(secmsg_client *c, const char *relay_url, const char *token,
                                    const char *certificate)
{
    if (c == NULL || relay_url == NULL || token == NULL || certificate == NULL)
        return SECMSG_E_INVALID_ARG;
    if (c->role != SECMSG_ROLE_NONE)
        return secmsg__client_fail(c, SECMSG_E_STATE, "this device is already enrolled");
    uint8_t tok[32], cert_bin[SECMSG__CERT_MAX], root_fp[32];
    size_t cert_len = 0;
    secmsg__cert cert;
    int rc = parse_token(tok, token);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, rc, "the enrollment token is not 43 base64url characters");
        goto out;
    }
    rc = secmsg__cert_from_text(cert_bin, sizeof cert_bin, &cert_len, certificate);
    if (rc == SECMSG_OK)
        rc = secmsg__cert_verify(&cert, cert_bin, cert_len);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, rc, "the certificate is invalid (%s)", secmsg_strerror(rc));
        goto out;
    }
    if (cert.identity_len != c->idpub_len ||
        sodium_memcmp(cert.identity, c->idpub, c->idpub_len) != 0 ||
        cert.role != SECMSG_ROLE_CASEWORKER) {
        rc = secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                 "the certificate is for another device or role");
        goto out;
    }
    if (cert.not_after <= (uint64_t)time(NULL)) {
        rc = secmsg__client_fail(c, SECMSG_E_EXPIRED, "the certificate has expired");
        goto out;
    }
    rc = set_relay_url(c, relay_url);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__client_relay(c);
    if (rc != SECMSG_OK)
        goto out;
    char uid[SECMSG_USER_ID_BYTES];
    int role = 0;
    rc = secmsg__rc_register(&c->rc, tok, c->idpub, c->idpub_len, uid, sizeof uid, &role);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_relay_fail(c, rc, "registering with the relay");
        goto out;
    }
    if (role != SECMSG_ROLE_CASEWORKER || strcmp(uid, cert.user_id) != 0) {
        rc = secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                 "the relay registered this device as another user or role "
                                 "than the certificate names");
        goto out;
    }
    secmsg__root_fingerprint(root_fp, cert.root_pub);
    rc = save_enrollment(c, role, uid, c->relay_url, root_fp, cert_bin, cert_len);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, rc, "cannot store the enrollment");
        goto out;
    }
    /* Prekeys that do not reach the relay now are uploaded by the next sync. */
    (void)secmsg__client_upload_prekeys(c, 0);
    c->err[0] = '\0';
out:
    sodium_memzero(tok, sizeof tok);
    if (rc != SECMSG_OK && c->role == SECMSG_ROLE_NONE)
        c->relay_url[0] = '\0';
    return rc;
}

int secmsg_client_create_invite(secmsg_client *c, const char *citizen_user_id,
                                uint32_t ttl_seconds, char *out, size_t cap, size_t *out_len)
{
    if (c == NULL || out == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    if (c->role != SECMSG_ROLE_CASEWORKER)
        return secmsg__client_fail(c, SECMSG_E_STATE, "only an enrolled caseworker can invite");
    /* Checked before the relay makes a token, so a retry wastes nothing. */
    if (cap < SECMSG_INVITE_MAX) {
        *out_len = SECMSG_INVITE_MAX;
        return SECMSG_E_BUFFER_TOO_SMALL;
    }
    char uid[SECMSG_USER_ID_BYTES];
    if (citizen_user_id == NULL) {
        uint8_t r[8];
        char hex[17];
        randombytes_buf(r, sizeof r);
        sodium_bin2hex(hex, sizeof hex, r, sizeof r);
        snprintf(uid, sizeof uid, "citizen-%s", hex);
    } else {
        if (!secmsg__relay_user_id_valid(citizen_user_id))
            return secmsg__client_fail(c, SECMSG_E_INVALID_ARG,
                                       "a user id is 1-64 characters of A-Z a-z 0-9 . _ -");
        snprintf(uid, sizeof uid, "%s", citizen_user_id);
    }
    secmsg__invite inv;
    memset(&inv, 0, sizeof inv);
    uint8_t *cert = NULL;
    size_t cert_len = 0;
    secmsg__cert cw;
    int rc = secmsg__store_setting_get(c->st, SETTING_OWN_CERT, &cert, &cert_len);
    if (rc == SECMSG_OK)
        rc = secmsg__cert_verify(&cw, cert, cert_len);
    if (cert != NULL)
        secmsg__store_free(cert, cert_len);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "this device's certificate is missing or invalid");
    rc = secmsg__client_relay(c);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__rc_invite(&c->rc, uid, ttl_seconds, inv.token, &inv.expires);
    if (rc != SECMSG_OK)
        return secmsg__client_relay_fail(c, rc, "creating the invite");
    snprintf(inv.relay_url, sizeof inv.relay_url, "%s", c->relay_url);
    snprintf(inv.caseworker, sizeof inv.caseworker, "%s", c->user_id);
    rc = secmsg_identity_fingerprint(inv.caseworker_fp, c->idpub, c->idpub_len);
    if (rc != SECMSG_OK)
        goto out;
    secmsg__root_fingerprint(inv.root_fp, cw.root_pub);
    randombytes_buf(inv.secret, sizeof inv.secret);

    size_t len = 0;
    rc = secmsg__invite_format(&inv, out, cap, &len);
    if (rc != SECMSG_OK)
        goto out;
    secmsg__invite_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.user_id, sizeof row.user_id, "%s", uid);
    memcpy(row.secret, inv.secret, sizeof row.secret);
    row.expires = inv.expires;
    rc = secmsg__store_invite_put(c->st, &row);
    sodium_memzero(&row, sizeof row);
    if (rc != SECMSG_OK) {
        sodium_memzero(out, cap);
        rc = secmsg__client_fail(c, rc, "cannot store the invite");
        goto out;
    }
    *out_len = len;
out:
    sodium_memzero(&inv, sizeof inv);
    return rc;
}

/* Finds the caseworker's device whose identity has the invite's fingerprint. */
static int find_caseworker_device(secmsg_client *c, const secmsg__invite *inv,
                                  uint8_t idpub[160], size_t *idpub_len)
{
    uint8_t (*ids)[160] = calloc(16, sizeof *ids);
    size_t lens[16], n = 0;
    if (ids == NULL)
        return SECMSG_E_NOMEM;
    int rc = secmsg__rc_devices(&c->rc, inv->caseworker, ids, lens, 16, &n);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_relay_fail(c, rc, "looking up the caseworker");
        goto out;
    }
    rc = secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                             "no device of the caseworker has the fingerprint the invite names");
    for (size_t i = 0; i < n; i++) {
        uint8_t fp[32];
        if (secmsg_identity_fingerprint(fp, ids[i], lens[i]) == SECMSG_OK &&
            sodium_memcmp(fp, inv->caseworker_fp, 32) == 0) {
            memcpy(idpub, ids[i], lens[i]);
            *idpub_len = lens[i];
            rc = SECMSG_OK;
            break;
        }
    }
out:
    free(ids);
    return rc;
}

/*
 * A citizen device that is already enrolled redeems again: the earlier
 * redeem stopped after registering (network failure, or keys that did not
 * match), or a further caseworker of the same municipality invites it. The
 * device is registered, so the invite's token is not used; the invite must
 * name the same relay and the root key this device pinned, and there must
 * be no conversation with that caseworker yet.
 */
static int resume_redeem(secmsg_client *c, const secmsg__invite *inv)
{
    uint8_t *pinned = NULL;
    size_t n = 0;
    if (strcmp(inv->relay_url, c->relay_url) != 0)
        return secmsg__client_fail(c, SECMSG_E_STATE,
                                   "this device is enrolled at another relay than the invite's");
    int rc = secmsg__store_setting_get(c->st, SETTING_ROOT_FP, &pinned, &n);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "cannot read the pinned municipality key");
    int same = n == 32 && sodium_memcmp(pinned, inv->root_fp, 32) == 0;
    secmsg__store_free(pinned, n);
    if (!same)
        return secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                   "the invite names another municipality key than this "
                                   "device trusts");
    secmsg__contact_row existing;
    rc = secmsg__store_contact_get(c->st, inv->caseworker, &existing);
    if (rc == SECMSG_OK)
        return secmsg__client_fail(c, SECMSG_E_EXISTS,
                                   "this device already has a conversation with %s",
                                   inv->caseworker);
    if (rc != SECMSG_E_NOT_FOUND)
        return rc;
    rc = secmsg__client_relay(c);
    if (rc == SECMSG_OK)
        (void)secmsg__client_upload_prekeys(c, 0);
    return rc;
}

int secmsg_client_redeem_invite(secmsg_client *c, const char *invite)
{
    if (c == NULL || invite == NULL)
        return SECMSG_E_INVALID_ARG;
    if (c->role != SECMSG_ROLE_NONE && c->role != SECMSG_ROLE_CITIZEN)
        return secmsg__client_fail(c, SECMSG_E_STATE, "this device is enrolled as staff");
    secmsg__invite inv;
    secmsg_session *s = NULL;
    uint8_t *state = NULL;
    size_t state_len = 0;
    int rc = secmsg__invite_parse(&inv, invite, strnlen(invite, SECMSG_INVITE_MAX + 1));
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, rc == SECMSG_E_VERSION ? rc : SECMSG_E_MALFORMED,
                                 "this is not a valid secmsg invite");
        goto out;
    }
    if (inv.expires <= (uint64_t)time(NULL)) {
        rc = secmsg__client_fail(c, SECMSG_E_EXPIRED,
                                 "the invite has expired; ask the caseworker for a new one");
        goto out;
    }
    if (c->role == SECMSG_ROLE_CITIZEN) {
        rc = resume_redeem(c, &inv);
        if (rc != SECMSG_OK)
            goto out;
        goto connect;
    }
    rc = set_relay_url(c, inv.relay_url);
    if (rc == SECMSG_OK)
        rc = secmsg__client_relay(c);
    if (rc != SECMSG_OK)
        goto out;
    char uid[SECMSG_USER_ID_BYTES];
    int role = 0;
    rc = secmsg__rc_register(&c->rc, inv.token, c->idpub, c->idpub_len, uid, sizeof uid, &role);
    if (rc == SECMSG_E_RELAY && (strcmp(c->rc.reason, "token_used") == 0 ||
                                 strcmp(c->rc.reason, "unknown_token") == 0)) {
        rc = secmsg__client_fail(c, SECMSG_E_EXPIRED,
                                 "the invite was already used or has expired");
        goto out;
    }
    if (rc != SECMSG_OK) {
        rc = secmsg__client_relay_fail(c, rc, "registering with the relay");
        goto out;
    }
    if (role != SECMSG_ROLE_CITIZEN) {
        rc = secmsg__client_fail(c, SECMSG_E_UNTRUSTED, "the invite is not a citizen invite");
        goto out;
    }
    rc = save_enrollment(c, role, uid, c->relay_url, inv.root_fp, NULL, 0);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, rc, "cannot store the enrollment");
        goto out;
    }
    (void)secmsg__client_upload_prekeys(c, 0);

connect:;
    /* The caseworker: by construction, the device with the invite's fingerprint. */
    secmsg__contact_row cw;
    memset(&cw, 0, sizeof cw);
    rc = find_caseworker_device(c, &inv, cw.identity, &cw.identity_len);
    if (rc != SECMSG_OK)
        goto out;
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t bundle_len = 0;
    uint8_t remote[160];
    size_t remote_len = 0;
    rc = secmsg__client_device_of(cw.device_id, cw.identity, cw.identity_len);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__rc_claim(&c->rc, cw.device_id, bundle, sizeof bundle, &bundle_len);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_relay_fail(c, rc, "fetching the caseworker's keys");
        goto out;
    }
    rc = secmsg_session_initiate(&s, c->id, bundle, bundle_len);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                 "the caseworker's keys do not verify (%s)", secmsg_strerror(rc));
        goto out;
    }
    rc = secmsg_session_remote_identity(s, remote, sizeof remote, &remote_len);
    if (rc != SECMSG_OK || remote_len != cw.identity_len ||
        sodium_memcmp(remote, cw.identity, remote_len) != 0) {
        rc = secmsg__client_fail(c, SECMSG_E_UNTRUSTED,
                                 "the relay handed out keys of another device than the invite "
                                 "names");
        goto out;
    }
    snprintf(cw.user_id, sizeof cw.user_id, "%s", inv.caseworker);
    cw.role = SECMSG_ROLE_CASEWORKER;
    cw.verification = SECMSG_UNVERIFIED; /* until its certificate arrives (welcome) */
    state_len = secmsg_session_serialized_len(s);
    state = sodium_malloc(state_len);
    if (state == NULL) {
        rc = SECMSG_E_NOMEM;
        goto out;
    }
    rc = secmsg_session_serialize(s, state, state_len, &state_len);
    if (rc != SECMSG_OK)
        goto out;

    rc = secmsg__store_begin(c->st);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__store_contact_put(c->st, &cw);
    if (rc == SECMSG_OK)
        rc = secmsg__client_queue(c, &cw, state, state_len, SECMSG__CONTENT_HELLO, NULL, 0,
                                  inv.secret, NULL, 0, NULL);
    if (rc == SECMSG_OK)
        rc = secmsg__store_commit(c->st);
    else
        secmsg__store_rollback(c->st);
    if (rc != SECMSG_OK) {
        rc = secmsg__client_fail(c, rc, "cannot store the new conversation");
        goto out;
    }
    /* The hello goes out now if the relay is reachable, else with the next sync. */
    (void)secmsg__client_flush(c, NULL, NULL);
    c->err[0] = '\0';
out:
    secmsg_session_free(s);
    if (state != NULL)
        sodium_free(state);
    sodium_memzero(&inv, sizeof inv);
    return rc;
}
