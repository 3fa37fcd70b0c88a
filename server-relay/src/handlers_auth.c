/* POST /v1/register, /v1/auth/challenge, /v1/auth/token. */
#include <sodium.h>
#include <string.h>

#include "handlers.h"
#include "secmsg/common.h"

enum MHD_Result relayd_handle_register(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__RegisterRequest *m = NULL;
    uint8_t hash[32];
    relay_device dev;
    enum MHD_Result r;

    if (secmsg__relay_decode_register(&m, rq->body, rq->body_len) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "RegisterRequest");
    memset(&dev, 0, sizeof dev);
    if (m->identity.len > sizeof dev.identity) {
        r = relayd_respond_malformed(conn, rq, "RegisterRequest");
        goto out;
    }
    int rc = relay_auth_check_register(dev.id, m->token.data, m->token.len, m->identity.data,
                                       m->identity.len, m->sig.data, m->sig.len);
    if (rc == RELAY_AUTH_E_MALFORMED) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_identity",
                                 "The identity is not a valid, self-certified IdentityPublic.");
        goto out;
    }
    if (rc != RELAY_AUTH_OK) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "bad_signature",
                                 "The registration signature does not verify.");
        goto out;
    }
    memcpy(dev.identity, m->identity.data, m->identity.len);
    dev.identity_len = m->identity.len;
    relay_auth_token_hash(hash, m->token.data, m->token.len);

    rc = relay_store_register(srv->store, hash, &dev, relayd_now());
    if (rc == RELAY_E_NOTFOUND) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "unknown_token",
                                 "The enrollment token is not known to this relay.");
    } else if (rc == RELAY_E_CONFLICT) {
        relay_device existing;
        if (relay_store_device_get(srv->store, dev.id, &existing) == RELAY_OK)
            r = relayd_respond_error(conn, rq, MHD_HTTP_CONFLICT, "device_exists",
                                     "This device is already registered.");
        else
            r = relayd_respond_error(conn, rq, MHD_HTTP_CONFLICT, "token_used",
                                     "The enrollment token was already used or has expired.");
    } else if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
    } else {
        Secmsg__Relay__RegisterResponse resp = SECMSG__RELAY__REGISTER_RESPONSE__INIT;
        resp.has_device_id = 1;
        resp.device_id = secmsg__bytes(dev.id, sizeof dev.id);
        resp.user_id = dev.user_id;
        resp.has_role = 1;
        resp.role = dev.role;
        r = relayd_respond_pb(conn, rq, &resp.base);
    }
out:
    sodium_memzero(hash, sizeof hash);
    secmsg__relay__register_request__free_unpacked(m, NULL);
    return r;
}

enum MHD_Result relayd_handle_challenge(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__ChallengeRequest *m = NULL;
    relay_device dev;
    enum MHD_Result r;

    if (secmsg__relay_decode_challenge(&m, rq->body, rq->body_len) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "ChallengeRequest");
    int rc = relay_store_device_get(srv->store, m->device_id.data, &dev);
    if (rc == RELAY_E_NOTFOUND) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "unknown_device",
                                 "No device with this id is registered.");
        goto out;
    }
    if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
        goto out;
    }
    uint8_t nonce[RELAY_AUTH_NONCE_BYTES];
    uint64_t expires;
    rc = relay_auth_challenge(srv->auth, dev.id, relayd_now(), nonce, &expires);
    if (rc == RELAY_AUTH_E_FULL) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_challenges",
                                 "Too many outstanding challenges; try again shortly.");
    } else if (rc != RELAY_AUTH_OK) {
        r = MHD_NO;
    } else {
        Secmsg__Relay__ChallengeResponse resp = SECMSG__RELAY__CHALLENGE_RESPONSE__INIT;
        resp.has_nonce = 1;
        resp.nonce = secmsg__bytes(nonce, sizeof nonce);
        resp.has_expires = 1;
        resp.expires = expires;
        r = relayd_respond_pb(conn, rq, &resp.base);
    }
out:
    secmsg__relay__challenge_request__free_unpacked(m, NULL);
    return r;
}

enum MHD_Result relayd_handle_token(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__TokenRequest *m = NULL;
    uint8_t token[RELAY_AUTH_TOKEN_BYTES];
    uint64_t expires;
    relay_device dev;
    enum MHD_Result r;

    if (secmsg__relay_decode_token(&m, rq->body, rq->body_len) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "TokenRequest");
    int rc = relay_auth_redeem(srv->auth, m->device_id.data, m->nonce.data, m->nonce.len,
                               m->sig.data, m->sig.len, relayd_now(), token, &expires);
    switch (rc) {
    case RELAY_AUTH_OK:
        break;
    case RELAY_AUTH_E_MALFORMED:
        r = relayd_respond_malformed(conn, rq, "TokenRequest");
        goto out;
    case RELAY_AUTH_E_EXPIRED:
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "challenge_expired",
                                 "The challenge has expired; request a new one.");
        goto out;
    case RELAY_AUTH_E_REPLAYED:
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "unknown_challenge",
                                 "The challenge is unknown or was already used.");
        goto out;
    case RELAY_AUTH_E_FORGED:
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "bad_signature",
                                 "The challenge signature does not verify.");
        goto out;
    default:
        r = MHD_NO;
        goto out;
    }
    rc = relay_store_device_get(srv->store, m->device_id.data, &dev);
    if (rc == RELAY_E_NOTFOUND) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "unknown_device",
                                 "No device with this id is registered.");
    } else if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
    } else {
        Secmsg__Relay__TokenResponse resp = SECMSG__RELAY__TOKEN_RESPONSE__INIT;
        resp.has_token = 1;
        resp.token = secmsg__bytes(token, sizeof token);
        resp.has_expires = 1;
        resp.expires = expires;
        r = relayd_respond_pb(conn, rq, &resp.base);
    }
out:
    sodium_memzero(token, sizeof token);
    secmsg__relay__token_request__free_unpacked(m, NULL);
    return r;
}
