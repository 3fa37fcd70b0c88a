/*
 * The HTTP layer: the libmicrohttpd daemon, the per-request context,
 * routing, body accumulation with hard limits, and response helpers that
 * every handler uses (every non-2xx carries a protobuf Error body).
 */
#ifndef SECMSG_RELAYD_HTTP_H
#define SECMSG_RELAYD_HTTP_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "config.h"
#include "store/store.h"
#include "wire/relay_codec.h"

typedef struct relayd_ratelimit relayd_ratelimit;
typedef struct relayd_longpoll relayd_longpoll;
typedef struct relayd_metrics relayd_metrics;

/* Every route the relay answers, plus the catch-all for metrics. */
typedef enum relayd_route {
    ROUTE_NONE = 0, /* unknown path */
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_REGISTER,
    ROUTE_AUTH_CHALLENGE,
    ROUTE_AUTH_TOKEN,
    ROUTE_INVITES,
    ROUTE_PREKEYS_PUT,
    ROUTE_PREKEYS_GET,
    ROUTE_PREKEYS_CLAIM,
    ROUTE_USER_DEVICES,
    ROUTE_MESSAGES_SEND,
    ROUTE_MESSAGES_FETCH,
    ROUTE_MESSAGES_ACK,
    ROUTE_MESSAGES_FETCH_ACK, /* POST /v1/messages/fetch */
    ROUTE_BLOB_UPLOAD,
    ROUTE_BLOB_DOWNLOAD,
    ROUTE_COUNT
} relayd_route;

/** Stable name of a route for /metrics ("messages_send", ...). */
const char *relayd_route_name(relayd_route r);

typedef struct relayd_server {
    const relayd_config *cfg;
    relay_store *store;
    relay_auth *auth;
    relayd_ratelimit *rl_device;
    relayd_ratelimit *rl_anon;
    relayd_longpoll *lp;
    relayd_metrics *metrics;
    secmsg__relay_limits codec_limits;
    struct MHD_Daemon *daemon;
    uint16_t port; /* bound port, after start */
    atomic_int shutting_down;
    atomic_ulong in_flight;  /* requests between first callback and completion */
    atomic_ulong store_ops;  /* asynchronous store calls not yet answered (see relayd_request.op) */
    atomic_int store_closed; /* no asynchronous store call is queued any more (relayd_http_stop) */
    char *tls_cert;          /* PEM, NUL-terminated; the key is sodium_malloc'd */
    char *tls_key;
    size_t tls_key_size;
} relayd_server;

/* A waiter of longpoll.c, embedded in the request that waits. */
typedef struct relayd_waiter {
    struct relayd_waiter *next, *prev;         /* bucket chain */
    struct relayd_waiter *all_next, *all_prev; /* every waiter, for the timer */
    uint8_t device[RELAY_ID_BYTES];
    struct MHD_Connection *conn;
    uint64_t deadline_ns;
    int state; /* longpoll.c */
} relayd_waiter;

typedef struct relayd_request {
    relayd_server *srv;
    relayd_route route;
    int responded; /* a response is queued: its status is in status */
    unsigned status;

    /*
     * An error found in the first callback is answered only after the
     * (small, bounded) body has been read and dropped: a response queued
     * before the body makes MHD close the connection, which would cost
     * clients their keep-alive connection for every 401 or 429.
     */
    int defer_errors; /* begin() is running and the body is small */
    int pending;      /* an error waits for the end of the body */
    unsigned pending_status;
    const char *pending_reason; /* a static string */
    char pending_message[192];

    /* The authenticated caller, for device routes. */
    int authed;
    relay_device dev;

    /* Path parameters. */
    char user_id[RELAY_USER_ID_MAX + 1];
    uint8_t blob_id[RELAY_BLOB_ID_BYTES];
    uint32_t wait; /* GET /v1/messages?wait= */

    /* Body: accumulated up to body_max (already checked against Content-Length). */
    uint8_t *body;
    size_t body_len, body_max;
    uint64_t content_length;
    int overflow;

    /* POST /v1/blobs: streamed straight into the store. */
    relay_blob_writer *blob;
    int blob_err; /* first RELAY_E_* from relay_blob_write, or 0 */
    uint64_t blob_received;

    /*
     * GET /v1/messages long poll (wait > 0). Each look at the mailbox is an
     * asynchronous store call (op below); between looks the connection may
     * be suspended in longpoll.c. The two never overlap: while a look is
     * queued the waiter is at most ARMED or NOTIFIED, which longpoll.c
     * never resumes, and the waiter is suspended only after the look's
     * answer was taken.
     */
    relayd_waiter waiter; /* state WAITER_IDLE unless registered in longpoll.c */
    int poll_started;     /* poll_deadline_ns is set */
    int poll_over;        /* timed out or shutting down: answer what there is */
    int poll_armed;       /* this request registered waiter and longpoll.c still holds it */
    int poll_looked;      /* a look was answered (the acks applied): never 429 after that */
    uint64_t poll_deadline_ns;
    /* POST /v1/messages/fetch: ids to acknowledge before the first look (malloc'd). */
    uint64_t *acks;
    size_t n_acks;

    /*
     * A store call answered asynchronously (relay_store_*_start): the
     * connection is suspended before the call is queued and resumed by its
     * done callback, so no worker thread waits for a group commit; the
     * handler then runs again and takes the result. op_rc is a start that
     * failed (resumed at once, nothing queued). A long poll makes several
     * calls in turn: taking a result clears op, op_started and op_rc.
     */
    struct MHD_Connection *conn;
    relay_store_op *op;
    int op_started;
    int op_rc;
    /* POST /v1/messages: the decoded body and the arrays the store reads until done. */
    Secmsg__Relay__SendRequest *send_req;
    relay_envelope *envs;
    uint8_t (*recips)[RELAY_ID_BYTES];
    uint8_t (*blobs)[RELAY_BLOB_ID_BYTES];
    size_t n_recips;
} relayd_request;

/**
 * Suspends rq's connection and starts a store call with `start` (which
 * calls a relay_store_*_start with relayd_store_done as done and rq as
 * arg). The handler is called again once the call is answered, with
 * rq->op_started set and rq->op set (or rq->op_rc the start's error).
 * Once the relay is shutting down it queues nothing and answers 503
 * (rq->op_started stays 0), except for the looks of a long poll
 * (rq->poll_started), which are queued until the grace period ends so that
 * waiting polls are answered with what the mailbox holds.
 */
enum MHD_Result relayd_store_async(struct MHD_Connection *conn, relayd_request *rq,
                                   int (*start)(relayd_request *rq));
/** The done callback of every asynchronous store call: resumes the connection. */
void relayd_store_done(void *arg);
/** Frees what a POST /v1/messages keeps while its store call runs. */
void relayd_send_state_free(relayd_request *rq);

/**
 * The transport rule, checked before anything is opened: TLS (certificate
 * and key), or plain HTTP only with insecure_loopback on a loopback
 * address. 0 or -1 with err.
 */
int relayd_http_check_config(const relayd_config *cfg, char *err, size_t errlen);
/** Starts the daemon (TLS or loopback plain HTTP per cfg). 0 or -1 with err. */
int relayd_http_start(relayd_server *srv, char *err, size_t errlen);
/**
 * Graceful stop: refuse new requests (503), stop accepting, answer waiting
 * long polls, wait up to shutdown_grace seconds for in-flight requests,
 * then stop the daemon.
 */
void relayd_http_stop(relayd_server *srv);

/* ---- responses (each returns the MHD result for the access handler) ---- */

/** Queues body (copied) with the given status and content type. */
enum MHD_Result relayd_respond(struct MHD_Connection *conn, relayd_request *rq, unsigned status,
                               const char *content_type, const void *body, size_t len);
/** Packs and queues a protobuf message with status 200. */
enum MHD_Result relayd_respond_pb(struct MHD_Connection *conn, relayd_request *rq,
                                  const ProtobufCMessage *m);
/** Queues an Error body: code = status, reason (a stable token), message (one sentence). */
enum MHD_Result relayd_respond_error(struct MHD_Connection *conn, relayd_request *rq,
                                     unsigned status, const char *reason, const char *message);
/** Queues a prepared response (headers added here) and destroys the caller's reference. */
enum MHD_Result relayd_respond_prepared(struct MHD_Connection *conn, relayd_request *rq,
                                        unsigned status, const char *content_type,
                                        struct MHD_Response *resp);
/** 400 with reason "malformed_body": the body did not decode as `what`. */
enum MHD_Result relayd_respond_malformed(struct MHD_Connection *conn, relayd_request *rq,
                                         const char *what);
/** Maps a RELAY_E_* store failure (IO, NOMEM, unexpected) to 500 and logs it. */
enum MHD_Result relayd_respond_store_error(struct MHD_Connection *conn, relayd_request *rq, int rc);

/** Wall clock, unix seconds. */
uint64_t relayd_now(void);

#endif
