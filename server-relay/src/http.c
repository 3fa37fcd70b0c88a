/*
 * The libmicrohttpd daemon and the request life cycle:
 *
 *   first callback    route, headers (length, type), credential, rate
 *                     limit, path and query parameters; any failure is
 *                     answered here, before a byte of the body is read
 *   body callbacks    accumulate (bounded by the Content-Length, which is
 *                     bounded by the route's limit) or stream to a blob
 *   final callback    the route's handler answers, or suspends the
 *                     connection (for a store call or a long poll's
 *                     wait) and is called again when it is resumed
 *   completed         releases everything the request holds
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "ratelimit.h"

/*
 * Memory libmicrohttpd keeps per connection for headers and the read
 * buffer (its default is 32 KiB). Headers here are small (a bearer token
 * is under 100 bytes); bodies are handed over in chunks of what is left.
 * libmicrohttpd zeroes the pool for every request, which cost about 8% of
 * the HTTP threads' time at 32 KiB, and a relay holding thousands of long
 * polls keeps one pool per connection.
 */
#define CONNECTION_MEMORY (16U * 1024U)

#define CT_PROTOBUF "application/x-protobuf"
#define CT_OCTETS "application/octet-stream"
#define SMALL_BODY_MAX 4096U
#define DEFER_BODY_MAX (64U * 1024U) /* read and drop at most this before an error */

enum auth_kind { AUTH_NONE, AUTH_ANON, AUTH_DEVICE };
enum body_kind { BODY_NONE, BODY_PROTOBUF, BODY_RAW };

typedef struct route_info {
    const char *name;
    enum auth_kind auth;
    enum body_kind body;
} route_info;

static const route_info routes[ROUTE_COUNT] = {
    [ROUTE_NONE] = {"unknown", AUTH_NONE, BODY_NONE},
    [ROUTE_HEALTH] = {"health", AUTH_NONE, BODY_NONE},
    [ROUTE_METRICS] = {"metrics", AUTH_NONE, BODY_NONE},
    [ROUTE_REGISTER] = {"register", AUTH_ANON, BODY_PROTOBUF},
    [ROUTE_AUTH_CHALLENGE] = {"auth_challenge", AUTH_ANON, BODY_PROTOBUF},
    [ROUTE_AUTH_TOKEN] = {"auth_token", AUTH_ANON, BODY_PROTOBUF},
    [ROUTE_INVITES] = {"invites", AUTH_DEVICE, BODY_PROTOBUF},
    [ROUTE_PREKEYS_PUT] = {"prekeys_upload", AUTH_DEVICE, BODY_PROTOBUF},
    [ROUTE_PREKEYS_GET] = {"prekeys_status", AUTH_DEVICE, BODY_NONE},
    [ROUTE_PREKEYS_CLAIM] = {"prekeys_claim", AUTH_DEVICE, BODY_PROTOBUF},
    [ROUTE_USER_DEVICES] = {"user_devices", AUTH_DEVICE, BODY_NONE},
    [ROUTE_MESSAGES_SEND] = {"messages_send", AUTH_DEVICE, BODY_PROTOBUF},
    [ROUTE_MESSAGES_FETCH] = {"messages_fetch", AUTH_DEVICE, BODY_NONE},
    [ROUTE_MESSAGES_ACK] = {"messages_ack", AUTH_DEVICE, BODY_PROTOBUF},
    [ROUTE_MESSAGES_FETCH_ACK] = {"messages_fetch_ack", AUTH_DEVICE, BODY_PROTOBUF},
    [ROUTE_BLOB_UPLOAD] = {"blob_upload", AUTH_DEVICE, BODY_RAW},
    [ROUTE_BLOB_DOWNLOAD] = {"blob_download", AUTH_DEVICE, BODY_NONE},
};

const char *relayd_route_name(relayd_route r)
{
    return (unsigned)r < ROUTE_COUNT ? routes[r].name : "unknown";
}

uint64_t relayd_now(void)
{
    time_t t = time(NULL);
    return t > 0 ? (uint64_t)t : 0;
}

/* ---- responses ---- */

#define SHUTTING_DOWN_SENTENCE "The relay is shutting down; try again shortly."

static void add_common_headers(relayd_request *rq, struct MHD_Response *resp,
                               const char *content_type)
{
    if (content_type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (atomic_load(&rq->srv->shutting_down))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result queue(struct MHD_Connection *conn, relayd_request *rq, unsigned status,
                             struct MHD_Response *resp, size_t len)
{
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    if (r == MHD_YES) {
        rq->responded = 1;
        rq->status = status;
        relayd_metrics_request(rq->srv->metrics, rq->route, status);
        relayd_metrics_bytes_out(rq->srv->metrics, len);
    }
    return r;
}

enum MHD_Result relayd_respond(struct MHD_Connection *conn, relayd_request *rq, unsigned status,
                               const char *content_type, const void *body, size_t len)
{
    /* MHD_RESPMEM_MUST_COPY only reads the buffer. */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    add_common_headers(rq, resp, content_type);
    return queue(conn, rq, status, resp, len);
}

enum MHD_Result relayd_respond_prepared(struct MHD_Connection *conn, relayd_request *rq,
                                        unsigned status, const char *content_type,
                                        struct MHD_Response *resp)
{
    if (resp == NULL)
        return MHD_NO;
    add_common_headers(rq, resp, content_type);
    return queue(conn, rq, status, resp, 0);
}

static enum MHD_Result respond_packed(struct MHD_Connection *conn, relayd_request *rq,
                                      unsigned status, const ProtobufCMessage *m,
                                      const char *extra_name, const char *extra_value)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return MHD_NO;
    protobuf_c_message_pack(m, buf);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(buf);
        return MHD_NO;
    }
    add_common_headers(rq, resp, CT_PROTOBUF);
    if (extra_name != NULL)
        MHD_add_response_header(resp, extra_name, extra_value);
    return queue(conn, rq, status, resp, len);
}

enum MHD_Result relayd_respond_pb(struct MHD_Connection *conn, relayd_request *rq,
                                  const ProtobufCMessage *m)
{
    return respond_packed(conn, rq, MHD_HTTP_OK, m, NULL, NULL);
}

static const char *allow_of(relayd_route r)
{
    switch (r) {
    case ROUTE_PREKEYS_PUT:
    case ROUTE_PREKEYS_GET:
        return "GET, PUT";
    case ROUTE_MESSAGES_SEND:
    case ROUTE_MESSAGES_FETCH:
        return "GET, POST";
    case ROUTE_HEALTH:
    case ROUTE_METRICS:
    case ROUTE_USER_DEVICES:
    case ROUTE_BLOB_DOWNLOAD:
        return "GET";
    default:
        return "POST";
    }
}

enum MHD_Result relayd_respond_error(struct MHD_Connection *conn, relayd_request *rq,
                                     unsigned status, const char *reason, const char *message)
{
    if (rq->defer_errors) {
        if (!rq->pending) {
            rq->pending = 1;
            rq->pending_status = status;
            rq->pending_reason = reason;
            snprintf(rq->pending_message, sizeof rq->pending_message, "%s", message);
        }
        return MHD_YES;
    }
    Secmsg__Relay__Error e = SECMSG__RELAY__ERROR__INIT;
    e.has_code = 1;
    e.code = status;
    /* protobuf-c string fields are not const; packing only reads them. */
    e.reason = (char *)(uintptr_t)reason;
    e.message = (char *)(uintptr_t)message;
    const char *hn = NULL, *hv = NULL;
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        hn = MHD_HTTP_HEADER_ALLOW;
        hv = allow_of(rq->route);
    } else if (status == MHD_HTTP_UNAUTHORIZED) {
        hn = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hv = "Bearer";
    } else if (status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        hn = MHD_HTTP_HEADER_RETRY_AFTER;
        hv = "1";
    }
    return respond_packed(conn, rq, status, &e.base, hn, hv);
}

enum MHD_Result relayd_respond_malformed(struct MHD_Connection *conn, relayd_request *rq,
                                         const char *what)
{
    char msg[160];
    snprintf(msg, sizeof msg, "The request body is not a valid %s within the relay's limits.",
             what);
    return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "malformed_body", msg);
}

enum MHD_Result relayd_respond_store_error(struct MHD_Connection *conn, relayd_request *rq, int rc)
{
    relayd_log_error("storage failure on route %s (code %d)", relayd_route_name(rq->route), rc);
    return relayd_respond_error(conn, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "storage_failure",
                                "The relay could not complete the request; try again later.");
}

/* ---- asynchronous store calls ---- */

enum MHD_Result relayd_store_async(struct MHD_Connection *conn, relayd_request *rq,
                                   int (*start)(relayd_request *rq))
{
    relayd_server *srv = rq->srv;
    /*
     * Counted before store_closed is looked at, and relayd_http_stop sets
     * store_closed before it waits for the count (both seq_cst): either
     * this call sees it and queues nothing, or the stop waits for its done
     * callback. Otherwise a call started past the handler's own check could
     * resume a connection of a stopped daemon. During the grace period
     * (shutting_down, store not yet closed) only a long poll's look is
     * queued: the polls that shutdown wakes answer with what there is.
     */
    atomic_fetch_add(&srv->store_ops, 1);
    if (atomic_load(&srv->store_closed) ||
        (atomic_load(&srv->shutting_down) && !rq->poll_started)) {
        atomic_fetch_sub(&srv->store_ops, 1);
        return relayd_respond_error(conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                                    SHUTTING_DOWN_SENTENCE);
    }
    rq->conn = conn;
    rq->op_started = 1;
    /*
     * Suspended before the call is queued: its done callback may run at
     * once and must find the connection suspended. MHD runs the handler
     * again only after this one returned.
     */
    MHD_suspend_connection(conn);
    int rc = start(rq);
    if (rc != RELAY_OK) {
        rq->op_rc = rc;
        atomic_fetch_sub(&srv->store_ops, 1);
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

void relayd_store_done(void *arg)
{
    relayd_request *rq = arg;
    relayd_server *srv = rq->srv;
    MHD_resume_connection(rq->conn);
    /* rq may be gone now. The count drops after the resume: relayd_http_stop
     * waits for zero before it stops the daemon under it. */
    atomic_fetch_sub(&srv->store_ops, 1);
}

/* ---- routing ---- */

static int is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

typedef enum route_result { RR_OK, RR_NOT_FOUND, RR_BAD_METHOD, RR_BAD_PARAM } route_result;

static route_result route_of(relayd_request *rq, const char *method, const char *url)
{
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    int put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;

#define EXACT(path, cond, r)                                                                       \
    if (strcmp(url, path) == 0) {                                                                  \
        rq->route = (r);                                                                           \
        return (cond) ? RR_OK : RR_BAD_METHOD;                                                     \
    }
    EXACT("/health", get, ROUTE_HEALTH)
    EXACT("/metrics", get, ROUTE_METRICS)
    EXACT("/v1/register", post, ROUTE_REGISTER)
    EXACT("/v1/auth/challenge", post, ROUTE_AUTH_CHALLENGE)
    EXACT("/v1/auth/token", post, ROUTE_AUTH_TOKEN)
    EXACT("/v1/invites", post, ROUTE_INVITES)
    EXACT("/v1/prekeys/claim", post, ROUTE_PREKEYS_CLAIM)
    EXACT("/v1/messages/ack", post, ROUTE_MESSAGES_ACK)
    EXACT("/v1/messages/fetch", post, ROUTE_MESSAGES_FETCH_ACK)
    EXACT("/v1/blobs", post, ROUTE_BLOB_UPLOAD)
#undef EXACT
    if (strcmp(url, "/v1/prekeys") == 0) {
        rq->route = get ? ROUTE_PREKEYS_GET : ROUTE_PREKEYS_PUT;
        return (get || put) ? RR_OK : RR_BAD_METHOD;
    }
    if (strcmp(url, "/v1/messages") == 0) {
        rq->route = get ? ROUTE_MESSAGES_FETCH : ROUTE_MESSAGES_SEND;
        return (get || post) ? RR_OK : RR_BAD_METHOD;
    }

    static const char users[] = "/v1/users/", devices[] = "/devices";
    if (strncmp(url, users, sizeof users - 1) == 0) {
        const char *id = url + sizeof users - 1;
        const char *slash = strchr(id, '/');
        if (slash == NULL || strcmp(slash, devices) != 0)
            return RR_NOT_FOUND;
        rq->route = ROUTE_USER_DEVICES;
        if (!get)
            return RR_BAD_METHOD;
        size_t n = (size_t)(slash - id);
        if (n == 0 || n > RELAY_USER_ID_MAX)
            return RR_BAD_PARAM;
        memcpy(rq->user_id, id, n);
        rq->user_id[n] = '\0';
        return secmsg__relay_user_id_valid(rq->user_id) ? RR_OK : RR_BAD_PARAM;
    }

    static const char blobs[] = "/v1/blobs/";
    if (strncmp(url, blobs, sizeof blobs - 1) == 0) {
        const char *hex = url + sizeof blobs - 1;
        rq->route = ROUTE_BLOB_DOWNLOAD;
        if (!get)
            return RR_BAD_METHOD;
        if (strlen(hex) != 2 * RELAY_BLOB_ID_BYTES)
            return RR_BAD_PARAM;
        for (size_t i = 0; i < 2 * RELAY_BLOB_ID_BYTES; i++)
            if (!is_hex_lower(hex[i]))
                return RR_BAD_PARAM;
        size_t got = 0;
        if (sodium_hex2bin(rq->blob_id, sizeof rq->blob_id, hex, 2 * RELAY_BLOB_ID_BYTES, NULL,
                           &got, NULL) != 0 ||
            got != RELAY_BLOB_ID_BYTES)
            return RR_BAD_PARAM;
        return RR_OK;
    }
    rq->route = ROUTE_NONE;
    return RR_NOT_FOUND;
}

/* ---- header and query checks ---- */

static int parse_u64_strict(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 20)
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10U)
            return -1;
        v = v * 10U + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Media type equal to want, ignoring case and any ";param". */
static int content_type_is(const char *ct, const char *want)
{
    if (ct == NULL)
        return 0;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return 0;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

typedef struct query_check {
    relayd_request *rq;
    int bad;
    int seen_wait;
} query_check;

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    query_check *qc = cls;
    uint64_t v;
    if (qc->rq->route == ROUTE_MESSAGES_FETCH && key != NULL && strcmp(key, "wait") == 0 &&
        !qc->seen_wait && parse_u64_strict(value, qc->rq->srv->cfg->longpoll_max_wait, &v) == 0) {
        qc->seen_wait = 1;
        qc->rq->wait = (uint32_t)v;
        return MHD_YES;
    }
    qc->bad = 1;
    return MHD_NO;
}

static size_t body_max_of(const relayd_server *srv, relayd_route r)
{
    const relayd_config *c = srv->cfg;
    switch (r) {
    case ROUTE_MESSAGES_SEND:
        return c->send_body_max;
    case ROUTE_PREKEYS_PUT:
        return 1024U + (size_t)c->prekeys_per_upload * 48U;
    case ROUTE_MESSAGES_ACK:
        return 64U + (size_t)c->acks_max * 11U;
    case ROUTE_MESSAGES_FETCH_ACK: /* an AckRequest's ids and a 6-byte wait */
        return 64U + (size_t)c->acks_max * 11U + 6U;
    case ROUTE_BLOB_UPLOAD:
        return c->store.blob_max_bytes > SIZE_MAX ? SIZE_MAX : (size_t)c->store.blob_max_bytes;
    default:
        return SMALL_BODY_MAX;
    }
}

/* A stable key for the anonymous rate limit: the client's IPv4 address or IPv6 /64. */
static int client_key(struct MHD_Connection *conn, uint8_t key[32])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    static const char label[] = "secmsg relay client address";
    uint8_t buf[16];
    size_t n;
    if (ci == NULL || ci->client_addr == NULL)
        return -1;
    if (ci->client_addr->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, ci->client_addr, sizeof sin);
        memcpy(buf, &sin.sin_addr, 4);
        n = 4;
    } else if (ci->client_addr->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, ci->client_addr, sizeof sin6);
        memcpy(buf, &sin6.sin6_addr, 8);
        n = 8;
    } else {
        return -1;
    }
    crypto_generichash(key, 32, buf, n, (const unsigned char *)label, sizeof label - 1);
    return 0;
}

static enum MHD_Result authenticate(struct MHD_Connection *conn, relayd_request *rq)
{
    relayd_server *srv = rq->srv;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    static const char bearer[] = "Bearer ";
    if (h == NULL)
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "missing_token",
                                    "This request needs an Authorization: Bearer token.");
    if (strncasecmp(h, bearer, sizeof bearer - 1) != 0)
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "malformed_token",
                                    "The Authorization header is not a Bearer token.");
    const char *b64 = h + sizeof bearer - 1;
    size_t b64_len = strlen(b64);
    uint8_t token[RELAY_AUTH_TOKEN_BYTES];
    size_t token_len = 0;
    if (b64_len != sodium_base64_ENCODED_LEN(RELAY_AUTH_TOKEN_BYTES,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) -
                       1 ||
        sodium_base642bin(token, sizeof token, b64, b64_len, NULL, &token_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        token_len != RELAY_AUTH_TOKEN_BYTES)
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "malformed_token",
                                    "The bearer token is not 72 bytes of unpadded base64url.");

    uint8_t device[RELAY_ID_BYTES];
    int rc = relay_auth_verify(srv->auth, token, token_len, relayd_now(), device);
    sodium_memzero(token, sizeof token);
    switch (rc) {
    case RELAY_AUTH_OK:
        break;
    case RELAY_AUTH_E_EXPIRED:
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "token_expired",
                                    "The bearer token has expired; request a new one.");
    case RELAY_AUTH_E_MALFORMED:
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "malformed_token",
                                    "The bearer token is malformed.");
    default:
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "invalid_token",
                                    "The bearer token was not issued by this relay.");
    }

    if (!relayd_ratelimit_take(srv->rl_device, device, relayd_now_ns())) {
        relayd_metrics_rate_limited(srv->metrics);
        return relayd_respond_error(conn, rq, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                                    "Too many requests from this device; slow down.");
    }

    rc = relay_store_device_get(srv->store, device, &rq->dev);
    if (rc == RELAY_E_NOTFOUND)
        return relayd_respond_error(conn, rq, MHD_HTTP_UNAUTHORIZED, "unknown_device",
                                    "The device of this token is not registered.");
    if (rc != RELAY_OK)
        return relayd_respond_store_error(conn, rq, rc);
    rq->authed = 1;
    return MHD_YES;
}

/* The first callback of a request: everything that can be checked before the body. */
static enum MHD_Result check_request(struct MHD_Connection *conn, relayd_request *rq,
                                     const char *url, const char *method)
{
    relayd_server *srv = rq->srv;

    if (atomic_load(&srv->shutting_down))
        return relayd_respond_error(conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting_down",
                                    SHUTTING_DOWN_SENTENCE);

    switch (route_of(rq, method, url)) {
    case RR_OK:
        break;
    case RR_NOT_FOUND:
        return relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "no_route",
                                    "There is no such endpoint.");
    case RR_BAD_METHOD:
        return relayd_respond_error(conn, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                    "This endpoint does not accept that method.");
    case RR_BAD_PARAM:
        if (rq->route == ROUTE_USER_DEVICES)
            return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_user_id",
                                        "A user id is 1 to 64 characters of A-Z a-z 0-9 . _ -.");
        return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_blob_id",
                                    "A blob id is 32 lowercase hexadecimal digits.");
    }
    if (rq->route == ROUTE_METRICS && !srv->cfg->metrics) {
        rq->route = ROUTE_NONE;
        return relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "no_route",
                                    "There is no such endpoint.");
    }

    query_check qc = {rq, 0, 0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_query_arg, &qc);
    if (qc.bad) {
        if (rq->route == ROUTE_MESSAGES_FETCH)
            return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_query",
                                        "The only query parameter is wait=SECONDS, at most the "
                                        "relay's long-poll limit.");
        return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_query",
                                    "This endpoint takes no query parameters.");
    }

    const route_info *ri = &routes[rq->route];
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (ri->body == BODY_NONE) {
        uint64_t n = 0;
        if (te != NULL || (cl != NULL && (parse_u64_strict(cl, 0, &n) != 0)))
            return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "unexpected_body",
                                        "This endpoint takes no request body.");
    } else {
        if (te != NULL || cl == NULL)
            return relayd_respond_error(conn, rq, MHD_HTTP_LENGTH_REQUIRED, "length_required",
                                        "Send the body with a Content-Length header (no "
                                        "chunked encoding).");
        rq->body_max = body_max_of(srv, rq->route);
        if (parse_u64_strict(cl, UINT64_MAX, &rq->content_length) != 0)
            return relayd_respond_error(conn, rq, MHD_HTTP_BAD_REQUEST, "bad_content_length",
                                        "The Content-Length header is not a number.");
        if (rq->content_length > rq->body_max)
            return relayd_respond_error(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                                        ri->body == BODY_RAW
                                            ? "The blob is larger than the relay accepts."
                                            : "The request body is larger than the relay "
                                              "accepts for this endpoint.");
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        const char *want = ri->body == BODY_RAW ? CT_OCTETS : CT_PROTOBUF;
        if (!content_type_is(ct, want))
            return relayd_respond_error(
                conn, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                ri->body == BODY_RAW ? "Blobs are sent as application/octet-stream."
                                     : "Bodies are application/x-protobuf.");
    }

    if (ri->auth == AUTH_ANON) {
        uint8_t key[32];
        if (client_key(conn, key) == 0 &&
            !relayd_ratelimit_take(srv->rl_anon, key, relayd_now_ns())) {
            relayd_metrics_rate_limited(srv->metrics);
            return relayd_respond_error(conn, rq, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
                                        "Too many requests from this address; slow down.");
        }
    } else if (ri->auth == AUTH_DEVICE) {
        enum MHD_Result r = authenticate(conn, rq);
        if (r != MHD_YES || rq->responded || rq->pending)
            return r;
    }

    if (rq->route == ROUTE_INVITES && rq->dev.role != SECMSG__RELAY__ROLE__ROLE_CASEWORKER)
        return relayd_respond_error(conn, rq, MHD_HTTP_FORBIDDEN, "not_caseworker",
                                    "Only caseworker devices can create invites.");

    if (ri->body == BODY_RAW) {
        int rc = relay_store_blob_create(srv->store, rq->dev.id, &rq->blob);
        if (rc != RELAY_OK)
            return relayd_respond_store_error(conn, rq, rc);
    } else if (ri->body == BODY_PROTOBUF && rq->content_length > 0) {
        rq->body = malloc((size_t)rq->content_length);
        if (rq->body == NULL)
            return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result begin(struct MHD_Connection *conn, relayd_request *rq, const char *url,
                             const char *method)
{
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    rq->defer_errors = te == NULL && (cl == NULL || parse_u64_strict(cl, DEFER_BODY_MAX, &n) == 0);
    enum MHD_Result r = check_request(conn, rq, url, method);
    rq->defer_errors = 0;
    if (rq->pending) {
        free(rq->body);
        rq->body = NULL;
        if (rq->blob != NULL) {
            relay_blob_abort(rq->blob);
            rq->blob = NULL;
        }
        return MHD_YES;
    }
    return r;
}

/* A part of the body. Its total is bounded by the Content-Length checked in begin(). */
static enum MHD_Result body_chunk(relayd_request *rq, const char *data, size_t n)
{
    relayd_metrics_bytes_in(rq->srv->metrics, n);
    if (routes[rq->route].body == BODY_RAW) {
        rq->blob_received += n;
        if (rq->blob_received > rq->content_length)
            return MHD_NO;
        if (rq->blob != NULL && rq->blob_err == 0) {
            int rc = relay_blob_write(rq->blob, (const uint8_t *)data, n);
            if (rc != RELAY_OK) {
                /* Keep reading (the response cannot be queued mid-body), store nothing. */
                rq->blob_err = rc;
                relay_blob_abort(rq->blob);
                rq->blob = NULL;
            }
        }
        return MHD_YES;
    }
    if (rq->body == NULL || n > rq->content_length - rq->body_len)
        return MHD_NO; /* more than announced: impossible under MHD's framing */
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    return MHD_YES;
}

static enum MHD_Result dispatch(struct MHD_Connection *conn, relayd_request *rq)
{
    switch (rq->route) {
    case ROUTE_HEALTH:
        return relayd_respond(conn, rq, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3);
    case ROUTE_METRICS: {
        char *text;
        size_t len;
        if (relayd_metrics_render(rq->srv, &text, &len) != 0)
            return MHD_NO;
        enum MHD_Result r = relayd_respond(conn, rq, MHD_HTTP_OK,
                                           "text/plain; version=0.0.4; charset=utf-8", text, len);
        free(text);
        return r;
    }
    case ROUTE_REGISTER:
        return relayd_handle_register(conn, rq);
    case ROUTE_AUTH_CHALLENGE:
        return relayd_handle_challenge(conn, rq);
    case ROUTE_AUTH_TOKEN:
        return relayd_handle_token(conn, rq);
    case ROUTE_INVITES:
        return relayd_handle_invite(conn, rq);
    case ROUTE_PREKEYS_PUT:
        return relayd_handle_prekeys_put(conn, rq);
    case ROUTE_PREKEYS_GET:
        return relayd_handle_prekeys_get(conn, rq);
    case ROUTE_PREKEYS_CLAIM:
        return relayd_handle_prekeys_claim(conn, rq);
    case ROUTE_USER_DEVICES:
        return relayd_handle_user_devices(conn, rq);
    case ROUTE_MESSAGES_SEND:
        return relayd_handle_send(conn, rq);
    case ROUTE_MESSAGES_FETCH:
        return relayd_handle_fetch(conn, rq);
    case ROUTE_MESSAGES_ACK:
        return relayd_handle_ack(conn, rq);
    case ROUTE_MESSAGES_FETCH_ACK:
        return relayd_handle_fetch_ack(conn, rq);
    case ROUTE_BLOB_UPLOAD:
        return relayd_handle_blob_upload(conn, rq);
    case ROUTE_BLOB_DOWNLOAD:
        return relayd_handle_blob_download(conn, rq);
    case ROUTE_NONE:
    case ROUTE_COUNT:
        break;
    }
    return relayd_respond_error(conn, rq, MHD_HTTP_NOT_FOUND, "no_route",
                                "There is no such endpoint.");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    relayd_server *srv = cls;
    relayd_request *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        rq->srv = srv;
        *con_cls = rq;
        atomic_fetch_add(&srv->in_flight, 1);
        return begin(conn, rq, url, method);
    }
    if (rq->responded) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->pending)
            return MHD_YES; /* dropped: an error is answered at the end */
        return body_chunk(rq, upload_data, n);
    }
    if (rq->pending)
        return relayd_respond_error(conn, rq, rq->pending_status, rq->pending_reason,
                                    rq->pending_message); /* defer_errors is 0 now */
    return dispatch(conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    relayd_server *srv = cls;
    relayd_request *rq = *con_cls;
    if (rq == NULL)
        return;
    *con_cls = NULL;
    /* Only poll_armed, not waiter.state: a send may change an ARMED
     * waiter's state under longpoll.c's lock right now. */
    if (rq->poll_armed)
        relayd_longpoll_disarm(srv->lp, &rq->waiter);
    /* An op is answered by now: MHD completes a suspended connection only
     * in MHD_stop_daemon, which waits for every store call. */
    relay_store_op_free(rq->op);
    relayd_send_state_free(rq);
    if (rq->blob != NULL)
        relay_blob_abort(rq->blob);
    free(rq->acks);
    if (!rq->responded)
        relayd_metrics_request(srv->metrics, rq->route, 0);
    if (rq->body != NULL) {
        /* Bodies can hold enrollment tokens. */
        sodium_memzero(rq->body, rq->body_len);
        free(rq->body);
    }
    free(rq);
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256], out[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /*
     * MHD's messages can name peers. Every run of hex digits, dots and
     * colons with two or more separators (an IPv4 or IPv6 address, maybe
     * with a port) becomes "<addr>".
     */
    size_t o = 0;
    for (size_t i = 0; msg[i] != '\0' && o < sizeof out - 8;) {
        size_t j = i, seps = 0;
        while (msg[j] != '\0' &&
               (is_hex_lower((char)(msg[j] | 0x20)) || msg[j] == '.' || msg[j] == ':')) {
            seps += msg[j] == '.' || msg[j] == ':';
            j++;
        }
        if (j > i && seps >= 2) {
            memcpy(out + o, "<addr>", 6);
            o += 6;
            i = j;
        } else if (j > i) {
            size_t n = j - i < sizeof out - 8 - o ? j - i : sizeof out - 8 - o;
            memcpy(out + o, msg + i, n);
            o += n;
            i = j;
        } else {
            out[o++] = msg[i++];
        }
    }
    out[o] = '\0';
    relayd_log_error("http: %s", out);
}

/* ---- start and stop ---- */

static char *read_pem(const char *path, int secret, size_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    const size_t cap = 1024U * 1024U;
    char *buf = secret ? sodium_malloc(cap + 1) : malloc(cap + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory reading %s", path);
        return NULL;
    }
    size_t n = fread(buf, 1, cap + 1, f);
    int bad = ferror(f) || n == 0 || n > cap;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s is empty, unreadable or larger than 1 MiB", path);
        if (secret) {
            sodium_free(buf);
        } else {
            free(buf);
        }
        return NULL;
    }
    buf[n] = '\0';
    *size = cap + 1;
    return buf;
}

/* Frees the PEM copies of the certificate and key (the key is wiped). */
static void tls_material_free(relayd_server *srv)
{
    free(srv->tls_cert);
    srv->tls_cert = NULL;
    if (srv->tls_key != NULL) {
        sodium_free(srv->tls_key); /* sodium_free wipes */
        srv->tls_key = NULL;
    }
}

/*
 * Parses the certificate chain and the key, and checks that the key is the
 * first certificate's, before libmicrohttpd gets them: the operator learns
 * which file is wrong, and GnuTLS 3.7's gnutls_certificate_set_x509_key_mem2
 * (which libmicrohttpd calls) leaks what it parsed when a certificate's PEM
 * is broken.
 */
static int tls_check(const relayd_config *cfg, const char *cert, const char *key, char *err,
                     size_t errlen)
{
    gnutls_datum_t cd = {(unsigned char *)(uintptr_t)cert, (unsigned)strlen(cert)};
    gnutls_datum_t kd = {(unsigned char *)(uintptr_t)key, (unsigned)strlen(key)};
    gnutls_x509_crt_t *chain = NULL;
    unsigned n = 0;
    gnutls_x509_privkey_t pk = NULL;
    unsigned char cid[64], kid[64];
    size_t cid_len = sizeof cid, kid_len = sizeof kid;
    int rc = -1;

    int r = gnutls_x509_crt_list_import2(&chain, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || n == 0) {
        snprintf(err, errlen, "the TLS certificate file %s holds no usable PEM certificate (%s)",
                 cfg->tls_cert, r < 0 ? gnutls_strerror(r) : "none found");
        goto out;
    }
    if ((r = gnutls_x509_privkey_init(&pk)) < 0 ||
        (r = gnutls_x509_privkey_import2(pk, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(err, errlen, "the TLS key file %s holds no usable unencrypted PEM key (%s)",
                 cfg->tls_key, gnutls_strerror(r));
        goto out;
    }
    if (gnutls_x509_crt_get_key_id(chain[0], GNUTLS_KEYID_USE_SHA256, cid, &cid_len) < 0 ||
        gnutls_x509_privkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, kid, &kid_len) < 0 ||
        cid_len != kid_len || memcmp(cid, kid, cid_len) != 0) {
        snprintf(err, errlen, "the TLS key in %s is not the key of the certificate in %s",
                 cfg->tls_key, cfg->tls_cert);
        goto out;
    }
    rc = 0;
out:
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(chain[i]);
    gnutls_free(chain);
    if (pk != NULL)
        gnutls_x509_privkey_deinit(pk);
    return rc;
}

int relayd_http_check_config(const relayd_config *cfg, char *err, size_t errlen)
{
    int tls = cfg->tls_cert[0] != '\0';
    if (tls && cfg->insecure_loopback) {
        snprintf(err, errlen, "--insecure-loopback and a TLS certificate exclude each other");
        return -1;
    }
    if (!tls) {
        if (!cfg->insecure_loopback) {
            snprintf(err, errlen,
                     "no TLS certificate: pass --tls-cert and --tls-key, or, on a loopback "
                     "address only, --insecure-loopback for plain HTTP");
            return -1;
        }
        if (!relayd_addr_is_loopback(cfg->listen)) {
            snprintf(err, errlen,
                     "refusing plain HTTP on %s: --insecure-loopback only works on a loopback "
                     "address (127.0.0.0/8 or ::1); use TLS",
                     cfg->listen);
            return -1;
        }
    }
    return 0;
}

int relayd_http_start(relayd_server *srv, char *err, size_t errlen)
{
    const relayd_config *cfg = srv->cfg;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    int tls = cfg->tls_cert[0] != '\0';

    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    if (inet_pton(AF_INET, cfg->listen, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, cfg->listen, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "the listen address %s is not a numeric IP address", cfg->listen);
        return -1;
    }

    if (relayd_http_check_config(cfg, err, errlen) != 0)
        return -1;
    atomic_store(&srv->store_closed, 0);

    struct MHD_OptionItem tls_ops[4] = {{MHD_OPTION_END, 0, NULL}};
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "this libmicrohttpd was built without TLS support");
            return -1;
        }
        size_t cert_size;
        srv->tls_cert = read_pem(cfg->tls_cert, 0, &cert_size, err, errlen);
        if (srv->tls_cert != NULL)
            srv->tls_key = read_pem(cfg->tls_key, 1, &srv->tls_key_size, err, errlen);
        if (srv->tls_key == NULL || tls_check(cfg, srv->tls_cert, srv->tls_key, err, errlen) != 0) {
            tls_material_free(srv);
            return -1;
        }
        flags |= MHD_USE_TLS;
        tls_ops[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert};
        tls_ops[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key};
        tls_ops[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                             "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
        tls_ops[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }

    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)cfg->threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_ARRAY, tls_ops, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        tls_material_free(srv);
        snprintf(err, errlen,
                 "cannot start the HTTP server on %s port %u (address in use, no permission, "
                 "or an unusable TLS certificate or key)",
                 cfg->listen, (unsigned)cfg->port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di != NULL ? di->port : (uint16_t)cfg->port;
    return 0;
}

void relayd_http_stop(relayd_server *srv)
{
    if (srv->daemon == NULL)
        return;
    atomic_store(&srv->shutting_down, 1);
    MHD_socket ls = MHD_quiesce_daemon(srv->daemon);
    relayd_longpoll_shutdown(srv->lp);

    uint64_t deadline = relayd_now_ns() + (uint64_t)srv->cfg->shutdown_grace * 1000000000ULL;
    while (atomic_load(&srv->in_flight) > 0 && relayd_now_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    unsigned long left = atomic_load(&srv->in_flight);
    if (left > 0)
        relayd_log_error("stopping with %lu requests still in flight", left);
    /*
     * A store call's done callback resumes its connection, which must then
     * still exist: no call is queued from here on (relayd_store_async), and
     * the ones queued are waited for. Store calls always end (the store
     * answers every queued op, also on failure), so this needs no deadline.
     */
    atomic_store(&srv->store_closed, 1);
    while (atomic_load(&srv->store_ops) > 0) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    tls_material_free(srv);
}
