/* POST /v1/invites: a caseworker's one-time citizen enrollment token. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "secmsg/common.h"

/*
 * A caseworker names the citizen's user id. It may name an existing citizen
 * (a further device) but never a caseworker or the journal robot, or an
 * invite could add a device to someone else's account.
 */
static int user_id_taken(relay_store *st, const char *user_id, int *taken)
{
    relay_device *devs = NULL;
    size_t n = 0;
    int rc = relay_store_user_devices(st, user_id, &devs, &n);
    *taken = 0;
    if (rc == RELAY_E_NOTFOUND)
        return RELAY_OK;
    if (rc != RELAY_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (devs[i].role != SECMSG__RELAY__ROLE__ROLE_CITIZEN)
            *taken = 1;
    free(devs);
    return RELAY_OK;
}

enum MHD_Result relayd_handle_invite(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    const relayd_config *cfg = srv->cfg;
    Secmsg__Relay__InviteRequest *m = NULL;
    uint8_t token[RELAY_TOKEN_BYTES], hash[32];
    enum MHD_Result r;

    if (secmsg__relay_decode_invite(&m, rq->body, rq->body_len) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "InviteRequest");
    if (m->user_id == NULL || !secmsg__relay_user_id_valid(m->user_id)) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_user_id",
                                 "A user id is 1 to 64 characters of A-Z a-z 0-9 . _ -.");
        goto out_nowipe;
    }
    uint64_t ttl = m->has_ttl_seconds ? m->ttl_seconds : cfg->invite_ttl;
    if (ttl == 0 || ttl > cfg->invite_ttl_max) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_ttl",
                                 "ttl_seconds must be at least 1 and at most the relay's "
                                 "invite_ttl_max.");
        goto out_nowipe;
    }
    int taken;
    int rc = user_id_taken(srv->store, m->user_id, &taken);
    if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
        goto out_nowipe;
    }
    if (taken) {
        r = relayd_respond_error(conn, rq, MHD_HTTP_CONFLICT, "user_id_in_use",
                                 "This user id belongs to a caseworker or journal account.");
        goto out_nowipe;
    }

    uint64_t expires = relayd_now() + ttl;
    randombytes_buf(token, sizeof token);
    relay_auth_token_hash(hash, token, sizeof token);
    rc = relay_store_token_put(srv->store, hash, SECMSG__RELAY__ROLE__ROLE_CITIZEN, m->user_id,
                               expires);
    if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
    } else {
        Secmsg__Relay__InviteResponse resp = SECMSG__RELAY__INVITE_RESPONSE__INIT;
        resp.has_token = 1;
        resp.token = secmsg__bytes(token, sizeof token);
        resp.has_expires = 1;
        resp.expires = expires;
        r = relayd_respond_pb(conn, rq, &resp.base);
    }
    sodium_memzero(token, sizeof token);
    sodium_memzero(hash, sizeof hash);
out_nowipe:
    secmsg__relay__invite_request__free_unpacked(m, NULL);
    return r;
}
