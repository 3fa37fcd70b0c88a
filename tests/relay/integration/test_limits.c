/* Oversized and malformed requests get a 4xx with an Error body, and the
 * relay keeps serving afterwards. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "relay.pb-c.h"

TestSuite(limits, .init = it_init_default, .fini = it_fini, .timeout = 120);
TestSuite(limits_blob, .init = it_init_bare, .fini = it_fini, .timeout = 120);

/* The relay still answers and still stores and delivers: b's mailbox
 * (emptied here) ends with the message a sends now. */
static void assert_still_serving(rc_conn *c, const rc_device *a, const rc_device *b)
{
    it_assert_healthy();
    rc_envelope e = {0};
    rc_random(e.message_id, sizeof e.message_id);
    e.recipients = b->device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)"still here";
    e.content_len = 10;
    cr_assert_eq(rc_send(c, a, &e, 1, NULL), 200, "a normal send after bad requests");
    int found = 0;
    for (int page = 0; page < 10 && !found; page++) {
        rc_fetched f;
        cr_assert_eq(rc_fetch(c, b, 0, &f), 200);
        cr_assert_gt(f.n, 0, "the message sent after bad requests is missing");
        uint64_t ids[100];
        for (size_t i = 0; i < f.n && i < 100; i++) {
            ids[i] = f.d[i].id;
            found |= memcmp(f.d[i].message_id, e.message_id, 16) == 0;
        }
        cr_assert_eq(rc_ack(c, b, ids, f.n < 100 ? f.n : 100, NULL), 200);
        rc_fetched_free(&f);
    }
    cr_assert(found, "the message sent after bad requests was not delivered");
}

/* POSTs a raw protobuf body; asserts the status and, for 400 and 413, the
 * reason the spec gives for a body that does not decode / is too long. */
static void post_raw(rc_conn *c, const rc_device *d, const char *path, const void *body, size_t len,
                     long want, const char *what)
{
    rc_req q = {0};
    q.method = "POST";
    q.path = path;
    q.bearer = d ? d->bearer : NULL;
    q.body = body;
    q.len = len;
    q.has_body = 1;
    long s = rc_request(c, &q);
    it_assert_error(c, s, want,
                    want == 400   ? "malformed_body"
                    : want == 413 ? "body_too_large"
                                  : NULL,
                    what);
}

/* Raw bytes on a socket: the first line of the reply, or "" (bounded). */
static void raw_exchange(const char *req, size_t len, char *reply, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)it_relay.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    size_t got = 0;
    double end = rc_now() + 15.0;
    while (got < cap - 1 && rc_now() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t r = recv(fd, reply + got, cap - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(reply, '\n', got))
            break;
    }
    reply[got] = 0;
    char *nl = strchr(reply, '\r');
    if (nl)
        *nl = 0;
    close(fd);
}

/*
 * Sends only the headers of a request announcing a body of `length` bytes
 * and reads the answer (bounded): the relay must answer from the headers
 * alone. Returns the status; asserts an Error body with `reason`, and
 * *closed tells whether the relay then closed the connection (within 5 s).
 */
static long headers_only(const char *method, const char *path, const char *bearer,
                         const char *ctype, unsigned long long length, const char *reason,
                         int *closed)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                     "Content-Length: %llu\r\n%s%s%s\r\n",
                     method, path, ctype, length, bearer ? "Authorization: Bearer " : "",
                     bearer ? bearer : "", bearer ? "\r\n" : "");
    cr_assert(n > 0 && (size_t)n < sizeof req);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)it_relay.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[64 * 1024];
    size_t got = 0, need = 0;
    int eof = 0;
    double end = rc_now() + 15.0;
    while (got < sizeof buf - 1 && rc_now() < end && !eof) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) {
            eof = 1;
            break;
        }
        got += (size_t)r;
        buf[got] = 0;
        char *hend = strstr(buf, "\r\n\r\n");
        if (hend && !need) {
            char *cl = strstr(buf, "Content-Length:");
            if (!cl)
                cl = strstr(buf, "content-length:");
            need = (size_t)(hend + 4 - buf) + (cl && cl < hend ? strtoul(cl + 15, NULL, 10) : 0);
        }
        if (need && got >= need)
            break;
    }
    cr_assert(need && got >= need, "%s %s: no complete answer from the headers alone (%zu bytes)",
              method, path, got);
    /* The connection closes (EOF) or stays open (nothing, bounded). */
    end = rc_now() + 5.0;
    while (!eof && rc_now() < end) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        char x;
        ssize_t r = recv(fd, &x, 1, 0);
        if (r <= 0)
            eof = 1;
    }
    close(fd);
    *closed = eof;
    long status = strtol(buf + 9, NULL, 10);
    char *body = strstr(buf, "\r\n\r\n") + 4;
    Secmsg__Relay__Error *e =
        secmsg__relay__error__unpack(NULL, got - (size_t)(body - buf), (const uint8_t *)body);
    cr_assert_not_null(e, "%s %s: the %ld answer has no Error body", method, path, status);
    cr_assert(e->has_code && (long)e->code == status, "Error.code");
    if (reason)
        cr_assert_str_eq(e->reason ? e->reason : "", reason, "%s %s: reason", method, path);
    secmsg__relay__error__free_unpacked(e, NULL);
    return status;
}

Test(limits, oversized_bodies)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");

    /* Announced bodies over 64 KiB and over an endpoint's limit: 413 from the
     * headers alone, then the connection is closed (spec 2). (With curl the
     * body would race the close: a reset can eat the answer.) */
    static const struct {
        const char *method, *path, *ctype;
        unsigned long long len;
        int auth;
    } big_ones[] = {
        {"POST", "/v1/messages", "application/x-protobuf", 256 * 1024 + 1, 1},
        {"POST", "/v1/messages", "application/x-protobuf", 2 * 1024 * 1024, 1},
        {"POST", "/v1/register", "application/x-protobuf", 2 * 1024 * 1024, 0},
        {"POST", "/v1/auth/challenge", "application/x-protobuf", 100 * 1024, 0},
        {"POST", "/v1/auth/token", "application/x-protobuf", 100 * 1024, 0},
        {"POST", "/v1/messages/ack", "application/x-protobuf", 100 * 1024, 1},
        {"PUT", "/v1/prekeys", "application/x-protobuf", 100 * 1024, 1},
        {"POST", "/v1/blobs", "application/octet-stream", 100ULL * 1024 * 1024 + 1, 1},
        {"POST", "/v1/blobs", "application/octet-stream", 10000000000ULL, 1},
    };
    for (size_t i = 0; i < sizeof big_ones / sizeof big_ones[0]; i++) {
        int closed = 0;
        long st =
            headers_only(big_ones[i].method, big_ones[i].path, big_ones[i].auth ? a.bearer : NULL,
                         big_ones[i].ctype, big_ones[i].len, "body_too_large", &closed);
        cr_assert_eq(st, 413, "%s %s announcing %llu bytes: %ld", big_ones[i].method,
                     big_ones[i].path, big_ones[i].len, st);
        cr_assert(closed, "%s %s announcing %llu bytes: connection left open", big_ones[i].method,
                  big_ones[i].path, big_ones[i].len);
    }

    /* Envelope limits inside a body the relay reads. */
    size_t big = 60 * 1024;
    uint8_t *content = calloc(1, 200 * 1024);
    cr_assert_not_null(content);
    rc_envelope e[5];
    memset(e, 0, sizeof e);
    for (size_t i = 0; i < 5; i++) {
        rc_random(e[i].message_id, 16);
        e[i].recipients = b.device_id;
        e[i].n_recipients = 1;
        e[i].content = content;
        e[i].content_len = big;
    }
    /* One envelope over 96 KiB in a body under 256 KiB. */
    e[0].content_len = 96 * 1024 + 1;
    long s = rc_send(&c, &a, e, 1, NULL);
    it_assert_error(&c, s, 413, "envelope_too_large", "a 96 KiB + 1 envelope");
    e[0].content_len = 96 * 1024;
    s = rc_send(&c, &a, e, 1, NULL);
    cr_assert_eq(s, 200, "an envelope of exactly 96 KiB: %ld", s);

    /* 5001 recipients. */
    uint8_t(*many)[32] = calloc(5001, 32);
    cr_assert_not_null(many);
    for (size_t i = 0; i < 5001; i++)
        memcpy(many[i], b.device_id, 32);
    e[0].recipients = many[0];
    e[0].n_recipients = 5001;
    e[0].content_len = 10;
    s = rc_send(&c, &a, e, 1, NULL);
    it_assert_error(&c, s, 413, "too_many_recipients", "5001 recipients");
    /* Summed over the request: 2 x 2501. */
    e[0].n_recipients = 2501;
    e[1] = e[0];
    rc_random(e[1].message_id, 16);
    s = rc_send(&c, &a, e, 2, NULL);
    it_assert_error(&c, s, 413, "too_many_recipients", "2 x 2501 recipients");

    /* Bodies one byte over the limit on the endpoints whose limit is under
     * 64 KiB: the relay reads and drops them, then answers. */
    uint8_t *junk = calloc(1, 64 * 1024);
    cr_assert_not_null(junk);
    static const struct {
        const char *path;
        size_t limit;
    } small[] = {
        {"/v1/register", 4096}, {"/v1/auth/challenge", 4096}, {"/v1/auth/token", 4096},
        {"/v1/invites", 4096},  {"/v1/prekeys/claim", 4096},  {"/v1/messages/ack", 64 + 11 * 1000},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s, limit + 1 bytes", small[i].path);
        post_raw(&c, &a, small[i].path, junk, small[i].limit + 1, 413, what);
        cr_assert_eq(rc_health(&c), 200);
        cr_assert_eq(c.new_conns, 0, "%s: the connection was not kept", what);
    }
    {
        rc_req q = {0};
        q.method = "PUT";
        q.path = "/v1/prekeys";
        q.bearer = a.bearer;
        q.body = junk;
        q.len = 1024 + 48 * 100 + 1;
        q.has_body = 1;
        it_assert_error(&c, rc_request(&c, &q), 413, "body_too_large",
                        "PUT /v1/prekeys, limit + 1");
    }

    assert_still_serving(&c, &a, &b);
    free(many);
    free(junk);
    free(content);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A blob over the configured maximum is 413 and leaves nothing behind. */
Test(limits_blob, oversized_blob)
{
    static const char *const flags[] = {"--blob-max", "1000", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    uint8_t *data = calloc(1, 1001);
    cr_assert_not_null(data);
    uint8_t id[16];
    long s = rc_blob_put(&c, &a, data, 1001, id);
    it_assert_error(&c, s, 413, "body_too_large", "a blob one byte over the limit");
    s = rc_blob_put(&c, &a, data, 1000, id);
    cr_assert_eq(s, 200, "a blob of exactly the limit: %ld", s);
    /* Streamed without Content-Length: still cut off at the limit. */
    rc_req q = {0};
    q.method = "POST";
    q.path = "/v1/blobs";
    q.bearer = a.bearer;
    q.ctype = "application/octet-stream";
    q.body = data;
    q.len = 1001;
    q.has_body = 1;
    q.chunked = 1;
    s = rc_request(&c, &q);
    it_assert_error(&c, s, 411, "length_required", "a chunked blob");
    q.chunked = 0;
    q.ctype = "application/x-protobuf";
    q.len = 10;
    it_assert_error(&c, rc_request(&c, &q), 415, "unsupported_media_type",
                    "a blob as application/x-protobuf");
    assert_still_serving(&c, &a, &b);
    free(data);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A ChallengeRequest with the device id twice (last one wins in protobuf,
 * but it is not canonical), and other encodings the codec refuses. */
Test(limits, malformed_bodies)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");

    const char garbage[] = "\xff\xff\xff\xff\x0f not a protobuf";
    const char *paths[] = {"/v1/register",    "/v1/auth/challenge", "/v1/auth/token",
                           "/v1/invites",     "/v1/prekeys/claim",  "/v1/messages",
                           "/v1/messages/ack"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        post_raw(&c, &a, paths[i], garbage, sizeof garbage - 1, 400, paths[i]);

    uint8_t dup[2 * 34];
    for (int k = 0; k < 2; k++) {
        dup[k * 34] = 0x0a;
        dup[k * 34 + 1] = 32;
        memcpy(dup + k * 34 + 2, a.device_id, 32);
    }
    post_raw(&c, NULL, "/v1/auth/challenge", dup, sizeof dup, 400, "device id twice");
    /* The one-copy form is accepted. */
    uint8_t nonce[32];
    cr_assert_eq(rc_challenge(&c, a.device_id, nonce, NULL), 200, "device id once");

    uint8_t unknown[34 + 3];
    memcpy(unknown, dup, 34);
    unknown[34] = 0x78; /* field 15, varint */
    unknown[35] = 0x01;
    unknown[36] = 0x00;
    post_raw(&c, NULL, "/v1/auth/challenge", unknown, 36, 400, "an unknown field");
    /* A non-minimal length varint. */
    uint8_t longlen[35];
    longlen[0] = 0x0a;
    longlen[1] = 0x80 | 32;
    longlen[2] = 0x00;
    memcpy(longlen + 3, a.device_id, 32);
    post_raw(&c, NULL, "/v1/auth/challenge", longlen, sizeof longlen, 400,
             "a non-minimal varint length");
    /* A truncated body. */
    post_raw(&c, NULL, "/v1/auth/challenge", dup, 20, 400, "a truncated body");
    /* A 31-byte device id. */
    uint8_t short_id[33];
    short_id[0] = 0x0a;
    short_id[1] = 31;
    memcpy(short_id + 2, a.device_id, 31);
    post_raw(&c, NULL, "/v1/auth/challenge", short_id, sizeof short_id, 400, "a 31-byte id");

    /* An envelope with a 15-byte message id, and one with no recipients. */
    rc_envelope e = {0};
    rc_random(e.message_id, 16);
    e.recipients = b.device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)"x";
    e.content_len = 1;
    rc_buf body = {0};
    cr_assert_eq(rc_encode_send(&body, &e, 1), 0);
    /* Envelope = field 1 (len), message_id = its field 1 (len 16): shorten it. */
    cr_assert_eq(body.data[2], 0x0a);
    cr_assert_eq(body.data[3], 16);
    rc_buf shortened = {0};
    rc_buf_append(&shortened, body.data, 4);
    shortened.data[1] = (uint8_t)(body.data[1] - 1);
    shortened.data[3] = 15;
    rc_buf_append(&shortened, body.data + 4, 15);
    rc_buf_append(&shortened, body.data + 20, body.len - 20);
    post_raw(&c, &a, "/v1/messages", shortened.data, shortened.len, 400, "15-byte message id");
    e.n_recipients = 0;
    cr_assert_eq(rc_encode_send(&body, &e, 1), 0);
    post_raw(&c, &a, "/v1/messages", body.data, body.len, 400, "an envelope without recipients");
    post_raw(&c, &a, "/v1/messages", "", 0, 400, "an empty send");
    e.n_recipients = 1;
    uint8_t short_rcpt[32];
    memcpy(short_rcpt, b.device_id, 32);
    cr_assert_eq(rc_encode_send(&body, &e, 1), 0);
    /* The recipient: envelope field 2, length 32 -> 31 (drop its last byte). */
    for (size_t i = 2; i + 34 <= body.len; i++)
        if (body.data[i] == 0x12 && body.data[i + 1] == 32 &&
            memcmp(body.data + i + 2, short_rcpt, 32) == 0) {
            body.data[i + 1] = 31;
            memmove(body.data + i + 33, body.data + i + 34, body.len - (i + 34));
            body.len--;
            body.data[1]--;
            break;
        }
    post_raw(&c, &a, "/v1/messages", body.data, body.len, 400, "a 31-byte recipient");
    rc_buf_free(&body);
    rc_buf_free(&shortened);

    assert_still_serving(&c, &a, &b);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* Wrong content type 415, no Content-Length 411, wrong method 405,
 * unknown route 404. */
Test(limits, http_level_errors)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    uint8_t body[34];
    body[0] = 0x0a;
    body[1] = 32;
    memcpy(body + 2, a.device_id, 32);

    rc_req q = {0};
    q.method = "POST";
    q.path = "/v1/auth/challenge";
    q.body = body;
    q.len = sizeof body;
    q.has_body = 1;
    q.ctype = "application/json";
    it_assert_error(&c, rc_request(&c, &q), 415, "unsupported_media_type", "JSON content type");
    q.ctype = "";
    it_assert_error(&c, rc_request(&c, &q), 415, "unsupported_media_type", "no content type");
    q.ctype = "application/x-protobufs";
    it_assert_error(&c, rc_request(&c, &q), 415, "unsupported_media_type", "a longer type");
    q.ctype = NULL;
    q.chunked = 1;
    it_assert_error(&c, rc_request(&c, &q), 411, "length_required", "chunked, no Content-Length");
    q.chunked = 0;
    cr_assert_eq(rc_request(&c, &q), 200, "the same request done right");
    /* Media type case-insensitive, parameters ignored. */
    q.ctype = "Application/X-Protobuf; charset=binary";
    cr_assert_eq(rc_request(&c, &q), 200, "\"%s\"", q.ctype);

    /* Body-less endpoints refuse a body. */
    rc_req g = {0};
    g.method = "GET";
    g.path = "/v1/messages";
    g.bearer = a.bearer;
    g.body = body;
    g.len = sizeof body;
    g.has_body = 1;
    it_assert_error(&c, rc_request(&c, &g), 400, "unexpected_body", "GET /v1/messages with a body");
    g.path = "/health";
    it_assert_error(&c, rc_request(&c, &g), 400, "unexpected_body", "GET /health with a body");

    static const struct {
        const char *method, *path;
        long want;
    } cases[] = {
        {"DELETE", "/v1/messages", 405},
        {"GET", "/v1/register", 405},
        {"PUT", "/health", 405},
        {"GET", "/v1/nothing", 404},
        {"GET", "/v2/messages", 404},
        {"GET", "/", 404},
        {"POST", "/v1/messages/ack/x", 404},
        {"GET", "/v1/messages/", 404},
        {"GET", "/health/", 404},
        {"PATCH", "/v1/prekeys", 405},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long s = rc_call(&c, cases[i].method, cases[i].path, a.bearer, NULL, 0);
        char what[96];
        snprintf(what, sizeof what, "%s %s", cases[i].method, cases[i].path);
        it_assert_error(&c, s, cases[i].want,
                        cases[i].want == 404 ? "no_route" : "method_not_allowed", what);
    }
    assert_still_serving(&c, &a, &b);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A request that announces a huge body is refused from its headers, and
 * broken HTTP does not disturb the relay. */
Test(limits, raw_http)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    char reply[512];
    const char huge[] = "POST /v1/auth/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/x-protobuf\r\n"
                        "Content-Length: 10000000000\r\n\r\n";
    raw_exchange(huge, sizeof huge - 1, reply, sizeof reply);
    cr_assert(strncmp(reply, "HTTP/1.1 413", 12) == 0,
              "a 10 GB Content-Length, no body sent: \"%s\"", reply);

    const char badlen[] = "POST /v1/auth/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/x-protobuf\r\n"
                          "Content-Length: 12abc\r\n\r\n";
    raw_exchange(badlen, sizeof badlen - 1, reply, sizeof reply);
    cr_assert(strncmp(reply, "HTTP/1.1 400", 12) == 0 || strncmp(reply, "HTTP/1.1 413", 12) == 0,
              "Content-Length \"12abc\": \"%s\"", reply);

    const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
    raw_exchange(junk, sizeof junk - 1, reply, sizeof reply);
    cr_assert(reply[0] == 0 || strncmp(reply, "HTTP/1.1 4", 10) == 0 ||
                  strncmp(reply, "HTTP/1.0 4", 10) == 0,
              "a TLS hello on plain HTTP: \"%s\"", reply);
    const char noline[] = "GET\r\n\r\n";
    raw_exchange(noline, sizeof noline - 1, reply, sizeof reply);
    cr_assert(reply[0] == 0 || strstr(reply, " 4") != NULL, "a broken request line: \"%s\"", reply);
    assert_still_serving(&c, &a, &b);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* After an error found before the body was read, a body of at most 64 KiB
 * is drained and the connection stays usable; a larger announced body is
 * answered at once and the connection closed (spec 2). */
Test(limits, connection_after_errors)
{
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker");
    cr_assert_eq(rc_health(&c), 200);
    uint8_t *junk = calloc(1, 128 * 1024);
    cr_assert_not_null(junk);
    rc_req q = {0};
    q.method = "POST";
    q.path = "/v1/messages";
    q.bearer = a.bearer;
    q.body = junk;
    q.len = 60 * 1024;
    q.has_body = 1;
    q.ctype = "text/plain";
    it_assert_error(&c, rc_request(&c, &q), 415, "unsupported_media_type", "60 KiB as text");
    cr_assert_eq(rc_health(&c), 200);
    cr_assert_eq(c.new_conns, 0, "the connection was not kept after a drained 60 KiB body");

    q.ctype = NULL;
    q.bearer = NULL;
    it_assert_error(&c, rc_request(&c, &q), 401, "missing_token", "60 KiB without a token");
    cr_assert_eq(rc_health(&c), 200);
    cr_assert_eq(c.new_conns, 0, "the connection was not kept after a 401 with a body");

    /* Over the 4 KiB limit but under 64 KiB: drained, kept. */
    q.path = "/v1/auth/challenge";
    q.len = 8 * 1024;
    it_assert_error(&c, rc_request(&c, &q), 413, "body_too_large", "8 KiB challenge");
    cr_assert_eq(rc_health(&c), 200);
    cr_assert_eq(c.new_conns, 0, "the connection was not kept after a drained 8 KiB body");
    free(junk);
    rc_device_free(&a);
    rc_conn_free(&c);
}
