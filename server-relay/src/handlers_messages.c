/*
 * POST /v1/messages, GET /v1/messages?wait=S (long poll), POST
 * /v1/messages/ack, POST /v1/messages/fetch (acks, then the long poll).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "longpoll.h"
#include "ratelimit.h"
#include "secmsg/common.h"

/*
 * The codec reports every refusal as malformed. Decoding once more without
 * the configurable limits tells a body that only breaks a limit (413) from
 * one that is malformed (400); this costs a second parse on the error path
 * only.
 */
static enum MHD_Result refuse_send(struct MHD_Connection *conn, relayd_request *rq)
{
    secmsg__relay_limits relaxed = rq->srv->codec_limits;
    Secmsg__Relay__SendRequest *m = NULL;
    relaxed.max_envelope = SIZE_MAX;
    relaxed.max_recipients = SIZE_MAX;
    if (secmsg__relay_decode_send(&m, rq->body, rq->body_len, &relaxed) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "SendRequest");
    int big = 0;
    for (size_t i = 0; i < m->n_envelopes; i++)
        if (m->envelopes[i]->content.len > rq->srv->cfg->envelope_max)
            big = 1;
    secmsg__relay__send_request__free_unpacked(m, NULL);
    if (big)
        return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "envelope_too_large",
                                    "An envelope's content is larger than the relay accepts.");
    return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_many_recipients",
                                "The request names more recipients than the relay accepts.");
}

static enum MHD_Result refuse_ack(struct MHD_Connection *conn, relayd_request *rq)
{
    secmsg__relay_limits relaxed = rq->srv->codec_limits;
    Secmsg__Relay__AckRequest *m = NULL;
    relaxed.max_acks = SIZE_MAX;
    if (secmsg__relay_decode_ack(&m, rq->body, rq->body_len, &relaxed) != SECMSG_OK)
        return relayd_respond_malformed(conn, rq, "AckRequest");
    secmsg__relay__ack_request__free_unpacked(m, NULL);
    return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_many_acks",
                                "The request acknowledges more ids than the relay accepts.");
}

void relayd_send_state_free(relayd_request *rq)
{
    free(rq->blobs);
    free(rq->recips);
    free(rq->envs);
    rq->blobs = NULL;
    rq->recips = NULL;
    rq->envs = NULL;
    rq->n_recips = 0;
    if (rq->send_req != NULL) {
        secmsg__relay__send_request__free_unpacked(rq->send_req, NULL);
        rq->send_req = NULL;
    }
}

static int start_send(relayd_request *rq)
{
    return relay_store_send_start(rq->srv->store, rq->dev.id, rq->envs, rq->send_req->n_envelopes,
                                  relayd_now(), relayd_store_done, rq, &rq->op);
}

/* The store has answered the send (or refused to start it). */
static enum MHD_Result send_answered(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    uint32_t stored = 0;
    int rc = rq->op != NULL ? relay_store_send_finish(rq->op, &stored) : rq->op_rc;
    rq->op = NULL;
    enum MHD_Result r;
    switch (rc) {
    case RELAY_OK:
        relayd_longpoll_notify(srv->lp, (const uint8_t(*)[32])rq->recips, rq->n_recips);
        Secmsg__Relay__SendResponse resp = SECMSG__RELAY__SEND_RESPONSE__INIT;
        resp.has_stored = 1;
        resp.stored = stored;
        r = relayd_respond_pb(conn, rq, &resp.base);
        break;
    case RELAY_E_NOTFOUND:
        r = relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "unknown_recipient",
                                 "A recipient device is not registered; nothing was stored.");
        break;
    case RELAY_E_QUOTA:
        r = relayd_respond_error(conn, rq, MHD_HTTP_TOO_MANY_REQUESTS, "mailbox_full",
                                 "A recipient's mailbox is full; nothing was stored.");
        break;
    case RELAY_E_DENIED:
        r = relayd_respond_error(conn, rq, MHD_HTTP_FORBIDDEN, "blob_not_owned",
                                 "An envelope refers to a blob this device did not upload.");
        break;
    case RELAY_E_INVALID:
        r = relayd_respond_malformed(conn, rq, "SendRequest");
        break;
    default:
        r = relayd_respond_store_error(conn, rq, rc);
        break;
    }
    relayd_send_state_free(rq);
    return r;
}

/*
 * Called once when the body is in, and again when the store has answered:
 * the send is queued without holding the worker thread (relayd_store_async),
 * and its 200 comes only after the group's fsync.
 */
enum MHD_Result relayd_handle_send(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__SendRequest *m = NULL;

    if (rq->op_started)
        return send_answered(conn, rq);
    if (secmsg__relay_decode_send(&m, rq->body, rq->body_len, &srv->codec_limits) != SECMSG_OK)
        return refuse_send(conn, rq);
    rq->send_req = m;

    /* The store takes contiguous id arrays; the codec bounded every count. */
    size_t n_env = m->n_envelopes, n_recips = 0, n_blobs = 0;
    for (size_t i = 0; i < n_env; i++) {
        n_recips += m->envelopes[i]->n_recipients;
        n_blobs += m->envelopes[i]->n_blob_ids;
    }
    rq->envs = calloc(n_env > 0 ? n_env : 1, sizeof *rq->envs);
    rq->recips = calloc(n_recips > 0 ? n_recips : 1, sizeof *rq->recips);
    rq->blobs = calloc(n_blobs > 0 ? n_blobs : 1, sizeof *rq->blobs);
    if (rq->envs == NULL || rq->recips == NULL || rq->blobs == NULL) {
        relayd_send_state_free(rq);
        return MHD_NO;
    }
    relay_envelope *envs = rq->envs;
    size_t ri = 0, bi = 0;
    for (size_t i = 0; i < n_env; i++) {
        const Secmsg__Relay__Envelope *e = m->envelopes[i];
        if (e->message_id.len != RELAY_MSGID_BYTES)
            goto malformed;
        memcpy(envs[i].message_id, e->message_id.data, RELAY_MSGID_BYTES);
        envs[i].recipients = (const uint8_t(*)[RELAY_ID_BYTES])(rq->recips + ri);
        envs[i].n_recipients = e->n_recipients;
        for (size_t j = 0; j < e->n_recipients; j++) {
            if (e->recipients[j].len != RELAY_ID_BYTES)
                goto malformed;
            memcpy(rq->recips[ri++], e->recipients[j].data, RELAY_ID_BYTES);
        }
        envs[i].content = e->content.data;
        envs[i].content_len = e->content.len;
        envs[i].blob_ids = (const uint8_t(*)[RELAY_BLOB_ID_BYTES])(rq->blobs + bi);
        envs[i].n_blobs = e->n_blob_ids;
        for (size_t j = 0; j < e->n_blob_ids; j++) {
            if (e->blob_ids[j].len != RELAY_BLOB_ID_BYTES)
                goto malformed;
            memcpy(rq->blobs[bi++], e->blob_ids[j].data, RELAY_BLOB_ID_BYTES);
        }
    }
    rq->n_recips = ri; /* the codec refuses a send without envelopes */
    return relayd_store_async(conn, rq, start_send);
malformed:
    relayd_send_state_free(rq);
    return relayd_respond_malformed(conn, rq, "SendRequest");
}

static enum MHD_Result respond_deliveries(struct MHD_Connection *conn, relayd_request *rq,
                                          relay_delivery *d, size_t n, int more, uint32_t prekeys)
{
    Secmsg__Relay__FetchResponse resp = SECMSG__RELAY__FETCH_RESPONSE__INIT;
    Secmsg__Relay__PrekeyStatus st;
    enum MHD_Result r = MHD_NO;
    size_t n_blobs = 0;
    for (size_t i = 0; i < n; i++)
        n_blobs += d[i].n_blobs;

    relayd_prekey_status_of(rq, prekeys, &st);

    Secmsg__Relay__Delivery *dv = calloc(n > 0 ? n : 1, sizeof *dv);
    Secmsg__Relay__Delivery **dp = calloc(n > 0 ? n : 1, sizeof *dp);
    ProtobufCBinaryData *bl = calloc(n_blobs > 0 ? n_blobs : 1, sizeof *bl);
    if (dv == NULL || dp == NULL || bl == NULL)
        goto out;
    size_t bi = 0;
    for (size_t i = 0; i < n; i++) {
        secmsg__relay__delivery__init(&dv[i]);
        dv[i].has_id = 1;
        dv[i].id = d[i].id;
        dv[i].has_sender = 1;
        dv[i].sender = secmsg__bytes(d[i].sender, sizeof d[i].sender);
        dv[i].has_message_id = 1;
        dv[i].message_id = secmsg__bytes(d[i].message_id, sizeof d[i].message_id);
        dv[i].has_content = 1;
        dv[i].content = secmsg__bytes(d[i].content, d[i].content_len);
        dv[i].has_received = 1;
        dv[i].received = d[i].received;
        dv[i].n_blob_ids = d[i].n_blobs;
        dv[i].blob_ids = bl + bi;
        for (size_t j = 0; j < d[i].n_blobs; j++)
            bl[bi++] = secmsg__bytes(d[i].blob_ids[j], RELAY_BLOB_ID_BYTES);
        dp[i] = &dv[i];
    }
    resp.n_deliveries = n;
    resp.deliveries = dp;
    resp.has_more = 1;
    resp.more = more != 0;
    resp.prekeys = &st;
    r = relayd_respond_pb(conn, rq, &resp.base);
out:
    free(bl);
    free(dp);
    free(dv);
    return r;
}

static int start_fetch(relayd_request *rq)
{
    const relayd_config *cfg = rq->srv->cfg;
    return relay_store_ack_fetch_start(rq->srv->store, rq->dev.id, rq->acks, rq->n_acks,
                                       cfg->fetch_max_messages, cfg->fetch_max_bytes,
                                       relayd_store_done, rq, &rq->op);
}

/* A fetch's answer, taken from the store call; rq is ready for another call
 * (the acks went with this one). */
struct fetched {
    relay_delivery *d;
    size_t n;
    int more;
    uint32_t prekeys;
};

static int take_fetched(relayd_request *rq, struct fetched *f)
{
    memset(f, 0, sizeof *f);
    int rc = rq->op != NULL
                 ? relay_store_ack_fetch_finish(rq->op, &f->d, &f->n, &f->more, NULL, &f->prekeys)
                 : rq->op_rc;
    rq->op = NULL;
    rq->op_started = 0;
    rq->op_rc = 0;
    rq->n_acks = 0;
    return rc;
}

/*
 * A fetch that does not wait (wait = 0): the acks and the look at the
 * mailbox are queued without holding the worker thread (relayd_store_async);
 * called again with the answer.
 */
static enum MHD_Result fetch_now(struct MHD_Connection *conn, relayd_request *rq)
{
    if (!rq->op_started)
        return relayd_store_async(conn, rq, start_fetch);
    struct fetched f;
    int rc = take_fetched(rq, &f);
    enum MHD_Result r = rc != RELAY_OK ? relayd_respond_store_error(conn, rq, rc)
                                       : respond_deliveries(conn, rq, f.d, f.n, f.more, f.prekeys);
    relay_deliveries_free(f.d, f.n);
    return r;
}

/* Lets go of the waiter, if longpoll.c still holds it (ARMED or NOTIFIED). */
static void poll_release(relayd_request *rq)
{
    if (rq->poll_armed) {
        relayd_longpoll_disarm(rq->srv->lp, &rq->waiter);
        rq->poll_armed = 0;
    }
}

/*
 * One look of a long poll: arms the waiter while the poll may still wait,
 * *then* queues the look (see longpoll.h: a send stored after the arm
 * marks the waiter, one stored before is seen by the look), and returns
 * with the connection suspended until the store answers (poll_answered).
 */
static enum MHD_Result poll_look(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    if (!rq->poll_over && relayd_now_ns() < rq->poll_deadline_ns) {
        int rc = relayd_longpoll_arm(srv->lp, &rq->waiter, rq->dev.id, conn, rq->poll_deadline_ns);
        if (rc == LONGPOLL_OK)
            rq->poll_armed = 1;
        else if (rc == LONGPOLL_E_STOPPING || rq->poll_looked)
            rq->poll_over = 1; /* a poll that already looked answers rather than fail */
        else
            return relayd_respond_error(conn, rq, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_waiters",
                                        "Too many long polls are waiting; retry shortly.");
    }
    enum MHD_Result r = relayd_store_async(conn, rq, start_fetch);
    if (!rq->op_started)
        poll_release(rq); /* refused (shutting down): nothing queued */
    return r;
}

/*
 * The store has answered a look (the acks of POST /v1/messages/fetch went
 * with the first). Answers with mail, on error, or when the poll no longer
 * waits; otherwise suspends the connection in longpoll.c, unless mail was
 * stored (or the relay began stopping) since the arm: then looks again.
 */
static enum MHD_Result poll_answered(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    /* Ready for the next look; the acks were applied (or failed) once. */
    struct fetched f;
    int rc = take_fetched(rq, &f);
    rq->poll_looked = 1;

    if (rc != RELAY_OK || f.n > 0 || !rq->poll_armed) {
        poll_release(rq);
        enum MHD_Result r = rc != RELAY_OK
                                ? relayd_respond_store_error(conn, rq, rc)
                                : respond_deliveries(conn, rq, f.d, f.n, f.more, f.prekeys);
        relay_deliveries_free(f.d, f.n);
        return r;
    }
    relay_deliveries_free(f.d, f.n);
    if (relayd_longpoll_suspend(srv->lp, &rq->waiter))
        return MHD_YES; /* longpoll.c resumes it: relayd_handle_fetch with the waiter WOKEN */
    rq->poll_armed = 0; /* declined and released */
    return poll_look(conn, rq);
}

/*
 * GET /v1/messages. Without a wait, fetch_now. A long poll is a sequence
 * of looks (poll_look, poll_answered), each an asynchronous store call, so
 * no worker thread waits for the store; between looks the connection may
 * wait in longpoll.c. Called when the request is complete, then again each
 * time the connection is resumed, by exactly one of:
 *   - the store's answer to a look (op_started): poll_answered;
 *   - longpoll.c (waiter WOKEN_*, already out of its lists): look again,
 *     the last time if the deadline passed or the relay is stopping.
 * Only one of them holds the connection suspended at a time: longpoll.c
 * resumes only SUSPENDED waiters, and poll_answered suspends the waiter
 * only after it took the look's answer, when no store call is queued.
 */
enum MHD_Result relayd_handle_fetch(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_waiter *w = &rq->waiter;

    if (rq->wait == 0)
        return fetch_now(conn, rq);
    if (rq->op_started)
        return poll_answered(conn, rq);
    if (!rq->poll_started) {
        rq->poll_started = 1;
        rq->poll_deadline_ns = relayd_now_ns() + (uint64_t)rq->wait * 1000000000ULL;
    } else if (w->state >= WAITER_WOKEN_MAIL) {
        /* No other thread touches a woken waiter: reading its state is safe. */
        if (w->state == WAITER_WOKEN_TIMEOUT || w->state == WAITER_WOKEN_SHUTDOWN)
            rq->poll_over = 1;
        w->state = WAITER_IDLE;
        rq->poll_armed = 0;
    }
    return poll_look(conn, rq);
}

/*
 * POST /v1/messages/fetch: decodes the acks and the wait, then runs the
 * long poll of GET /v1/messages, which applies the acks once, before its
 * first look at the mailbox (and calls this again on each resume).
 */
enum MHD_Result relayd_handle_fetch_ack(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    if (rq->poll_started || rq->op_started) /* resumed */
        return relayd_handle_fetch(conn, rq);

    Secmsg__Relay__FetchRequest *m = NULL;
    if (secmsg__relay_decode_fetch(&m, rq->body, rq->body_len, &srv->codec_limits) != SECMSG_OK) {
        secmsg__relay_limits relaxed = srv->codec_limits;
        relaxed.max_acks = SIZE_MAX;
        if (secmsg__relay_decode_fetch(&m, rq->body, rq->body_len, &relaxed) != SECMSG_OK)
            return relayd_respond_malformed(conn, rq, "FetchRequest");
        secmsg__relay__fetch_request__free_unpacked(m, NULL);
        return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_many_acks",
                                    "The request acknowledges more ids than the relay accepts.");
    }
    if (m->has_wait && m->wait > srv->cfg->longpoll_max_wait) {
        secmsg__relay__fetch_request__free_unpacked(m, NULL);
        return relayd_respond_malformed(conn, rq, "FetchRequest");
    }
    rq->wait = m->has_wait ? m->wait : 0;
    if (m->n_ack_ids != 0) {
        rq->acks = malloc(m->n_ack_ids * sizeof *rq->acks);
        if (rq->acks == NULL) {
            secmsg__relay__fetch_request__free_unpacked(m, NULL);
            return MHD_NO;
        }
        memcpy(rq->acks, m->ack_ids, m->n_ack_ids * sizeof *rq->acks);
        rq->n_acks = m->n_ack_ids;
    }
    secmsg__relay__fetch_request__free_unpacked(m, NULL);
    return relayd_handle_fetch(conn, rq);
}

enum MHD_Result relayd_handle_ack(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    Secmsg__Relay__AckRequest *m = NULL;
    enum MHD_Result r;

    if (secmsg__relay_decode_ack(&m, rq->body, rq->body_len, &srv->codec_limits) != SECMSG_OK)
        return refuse_ack(conn, rq);
    uint32_t deleted = 0;
    int rc = relay_store_ack(srv->store, rq->dev.id, m->ids, m->n_ids, &deleted);
    if (rc != RELAY_OK) {
        r = relayd_respond_store_error(conn, rq, rc);
    } else {
        Secmsg__Relay__AckResponse resp = SECMSG__RELAY__ACK_RESPONSE__INIT;
        resp.has_deleted = 1;
        resp.deleted = deleted;
        r = relayd_respond_pb(conn, rq, &resp.base);
    }
    secmsg__relay__ack_request__free_unpacked(m, NULL);
    return r;
}
