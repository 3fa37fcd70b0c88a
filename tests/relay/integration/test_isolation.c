/* Mailboxes and blobs are their owner's: device A never reads B's mail or
 * B's blobs unless B granted them by sending A an envelope naming them. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "relay.pb-c.h"

TestSuite(isolation, .init = it_init_default, .fini = it_fini, .timeout = 120);

static void send_one(rc_conn *c, const rc_device *from, const rc_device *to, const char *content,
                     const uint8_t *blobs, size_t n_blobs)
{
    rc_envelope e = {0};
    rc_random(e.message_id, sizeof e.message_id);
    e.recipients = to->device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)content;
    e.content_len = strlen(content);
    e.blob_ids = blobs;
    e.n_blobs = n_blobs;
    uint32_t stored = 0;
    long s = rc_send(c, from, &e, 1, &stored);
    cr_assert_eq(s, 200, "send \"%s\": %ld", content, s);
    cr_assert_eq(stored, 1);
}

/* d's mailbox, which fits one page in these tests. */
static size_t fetch_all(rc_conn *c, const rc_device *d, rc_fetched *f)
{
    long s = rc_fetch(c, d, 0, f);
    cr_assert_eq(s, 200, "fetch: %ld", s);
    cr_assert_not(f->more, "more than one page in a small test");
    return f->n;
}

static int has_content(const rc_fetched *f, const char *content)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->d[i].content_len == strlen(content) &&
            memcmp(f->d[i].content, content, f->d[i].content_len) == 0)
            return 1;
    return 0;
}

/* Fetch returns only the caller's mail; acking another's ids deletes
 * nothing; there is no route naming another mailbox. */
Test(isolation, mailboxes)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b, s;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    it_device(&c, &s, "caseworker");
    send_one(&c, &s, &a, "for A 1", NULL, 0);
    send_one(&c, &s, &b, "for B 1", NULL, 0);
    send_one(&c, &s, &a, "for A 2", NULL, 0);
    send_one(&c, &s, &b, "for B 2", NULL, 0);

    rc_fetched fa, fb;
    cr_assert_eq(fetch_all(&c, &a, &fa), 2);
    cr_assert(has_content(&fa, "for A 1") && has_content(&fa, "for A 2"));
    for (size_t i = 0; i < fa.n; i++)
        cr_assert_eq(memcmp(fa.d[i].sender, s.device_id, 32), 0, "sender is S");
    cr_assert_eq(fetch_all(&c, &b, &fb), 2);
    cr_assert(has_content(&fb, "for B 1") && has_content(&fb, "for B 2"));

    /* A acks B's delivery ids: nothing of B's goes. */
    uint64_t ids[2] = {fb.d[0].id, fb.d[1].id};
    uint32_t deleted = 99;
    long st = rc_ack(&c, &a, ids, 2, &deleted);
    cr_assert_eq(st, 200, "ack of another's ids: %ld", st);
    cr_assert_eq(deleted, 0, "A's ack deleted %u of B's messages", deleted);
    rc_fetched_free(&fb);
    cr_assert_eq(fetch_all(&c, &b, &fb), 2, "B's mail after A acked its ids");
    rc_fetched_free(&fb);

    /* Plausible routes naming another mailbox do not exist or ignore it. */
    char hex[65], path[160];
    rc_hex(hex, b.device_id, 32);
    static const char *const pre[] = {"/v1/messages/", "/v1/mailboxes/", "/v1/devices/"};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        snprintf(path, sizeof path, "%s%s", pre[i], hex);
        long r = rc_call(&c, "GET", path, a.bearer, NULL, 0);
        it_assert_error(&c, r, 404, "no_route", path);
    }
    /* Nor does a query parameter: the only one is wait. */
    snprintf(path, sizeof path, "/v1/messages?device=%s&wait=0", hex);
    long r = rc_call(&c, "GET", path, a.bearer, NULL, 0);
    it_assert_error(&c, r, 400, "bad_query", path);
    rc_fetched f2;
    cr_assert_eq(rc_fetch(&c, &b, 0, &f2), 200);
    cr_assert_eq(f2.n, 2, "B's mail is untouched");
    rc_fetched_free(&f2);
    rc_fetched_free(&fa);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_device_free(&s);
    rc_conn_free(&c);
}

static uint8_t *pattern(size_t n, uint8_t seed)
{
    uint8_t *p = malloc(n);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31 + (i >> 8));
    return p;
}

/* B's blob: readable by B and by those B granted it to, 404 for A and for
 * ids that do not exist, and only B can grant it. */
Test(isolation, blobs)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b, g;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    it_device(&c, &g, "caseworker");
    size_t n = 300 * 1024 + 7;
    uint8_t *data = pattern(n, 7);
    uint8_t blob[16];
    long s = rc_blob_put(&c, &b, data, n, blob);
    cr_assert_eq(s, 200, "blob upload: %ld", s);

    s = rc_blob_get(&c, &b, blob);
    cr_assert_eq(s, 200, "owner reads the blob: %ld", s);
    cr_assert_eq(c.body.len, n);
    cr_assert_eq(memcmp(c.body.data, data, n), 0, "blob bytes");
    char h[64];
    cr_assert_str_eq(c.ctype, "application/octet-stream");
    cr_assert_eq(rc_header(&c, "Content-Length", h, sizeof h), 0, "blob Content-Length");
    cr_assert_eq(strtoull(h, NULL, 10), n);

    s = rc_blob_get(&c, &a, blob);
    it_assert_error(&c, s, 404, "unknown_blob", "A reads B's blob (not granted)");
    uint8_t random_id[16];
    rc_random(random_id, sizeof random_id);
    s = rc_blob_get(&c, &a, random_id);
    it_assert_error(&c, s, 404, "unknown_blob", "an id that does not exist");

    /* A cannot grant B's blob to itself (or anyone). */
    rc_envelope e = {0};
    rc_random(e.message_id, sizeof e.message_id);
    e.recipients = a.device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)"steal";
    e.content_len = 5;
    e.blob_ids = blob;
    e.n_blobs = 1;
    s = rc_send(&c, &a, &e, 1, NULL);
    it_assert_error(&c, s, 403, "blob_not_owned", "A grants B's blob");
    s = rc_blob_get(&c, &a, blob);
    it_assert_error(&c, s, 404, "unknown_blob", "A reads B's blob after a refused grant");
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &a, 0, &f), 200);
    cr_assert_eq(f.n, 0, "the refused send stored nothing");
    rc_fetched_free(&f);

    /* B grants it to G: G reads it, A still cannot. */
    send_one(&c, &b, &g, "here is the file", blob, 1);
    cr_assert_eq(rc_fetch(&c, &g, 0, &f), 200);
    cr_assert_eq(f.n, 1);
    cr_assert_eq(f.d[0].n_blobs, 1);
    cr_assert_eq(memcmp(f.d[0].blob_ids[0], blob, 16), 0, "delivery names the blob");
    rc_fetched_free(&f);
    s = rc_blob_get(&c, &g, blob);
    cr_assert_eq(s, 200, "granted reader: %ld", s);
    cr_assert_eq(c.body.len, n);
    cr_assert_eq(memcmp(c.body.data, data, n), 0, "granted reader's bytes");
    s = rc_blob_get(&c, &a, blob);
    it_assert_error(&c, s, 404, "unknown_blob", "A reads B's blob after B granted it to G");

    /* G, a reader, cannot pass it on to A. */
    rc_random(e.message_id, sizeof e.message_id);
    s = rc_send(&c, &g, &e, 1, NULL);
    it_assert_error(&c, s, 403, "blob_not_owned", "G re-grants B's blob");
    s = rc_blob_get(&c, &a, blob);
    it_assert_error(&c, s, 404, "unknown_blob", "A reads B's blob after G's refused re-grant");

    /* Malformed blob ids: 32 lowercase hex digits only. */
    char upper[64], hex[33];
    rc_hex(hex, blob, 16);
    for (size_t i = 0; hex[i]; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    upper[32] = 0;
    char up_path[80];
    snprintf(up_path, sizeof up_path, "/v1/blobs/%s", upper);
    const char *bad[] = {"/v1/blobs/xyz", "/v1/blobs/00",
                         "/v1/blobs/00112233445566778899aabbccddeeff00", up_path};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long r = rc_call(&c, "GET", bad[i], b.bearer, NULL, 0);
        it_assert_error(&c, r, 400, "bad_blob_id", bad[i]);
    }
    long r = rc_call(&c, "GET", "/v1/blobs/", b.bearer, NULL, 0);
    cr_assert(r == 400 || r == 404, "GET /v1/blobs/: %ld", r);
    it_assert_error(&c, r, r, NULL, "GET /v1/blobs/");

    /* An empty blob is allowed. */
    uint8_t empty[16];
    s = rc_blob_put(&c, &b, "", 0, empty);
    cr_assert_eq(s, 200, "empty blob: %ld", s);
    cr_assert_eq(rc_blob_get(&c, &b, empty), 200);
    cr_assert_eq(c.body.len, 0);
    free(data);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_device_free(&g);
    rc_conn_free(&c);
}

/* Invites: only caseworkers, only citizen ids, sane lifetimes; the device
 * list of a user with two devices. */
Test(isolation, roles_and_device_list)
{
    rc_conn c;
    it_conn(&c);
    rc_device cw, cit;
    it_device(&c, &cw, "caseworker");
    uint8_t token[32];
    cr_assert_eq(rc_invite(&c, &cw, "citizen-x", 600, token), 200);
    cr_assert_eq(rc_device_new(&cit), 0);
    cr_assert_eq(rc_register(&c, &cit, token), 200);
    cr_assert_eq(rc_auth(&c, &cit), 200);
    long s = rc_invite(&c, &cit, "citizen-y", 600, token);
    it_assert_error(&c, s, 403, "not_caseworker", "a citizen invites");

    /* A second invite for the same citizen adds a device. */
    rc_device cit2;
    cr_assert_eq(rc_invite(&c, &cw, "citizen-x", 600, token), 200);
    cr_assert_eq(rc_device_new(&cit2), 0);
    cr_assert_eq(rc_register(&c, &cit2, token), 200);
    cr_assert_str_eq(cit2.user_id, "citizen-x");

    char path[128];
    snprintf(path, sizeof path, "/v1/users/%s/devices", "citizen-x");
    s = rc_call(&c, "GET", path, cw.bearer, NULL, 0);
    cr_assert_eq(s, 200, "device list: %ld", s);
    Secmsg__Relay__DeviceList *dl =
        secmsg__relay__device_list__unpack(NULL, c.body.len, c.body.data);
    cr_assert_not_null(dl);
    cr_assert_str_eq(dl->user_id, "citizen-x");
    cr_assert_eq(dl->n_devices, 2);
    int found1 = 0, found2 = 0;
    for (size_t i = 0; i < dl->n_devices; i++) {
        found1 |= dl->devices[i].len == cit.pub_len &&
                  memcmp(dl->devices[i].data, cit.pub, cit.pub_len) == 0;
        found2 |= dl->devices[i].len == cit2.pub_len &&
                  memcmp(dl->devices[i].data, cit2.pub, cit2.pub_len) == 0;
    }
    cr_assert(found1 && found2, "both identity publics are listed");
    secmsg__relay__device_list__free_unpacked(dl, NULL);

    s = rc_call(&c, "GET", "/v1/users/nobody-here/devices", cw.bearer, NULL, 0);
    it_assert_error(&c, s, 404, "unknown_user", "devices of an unknown user");
    s = rc_call(&c, "GET", "/v1/users/bad!id/devices", cw.bearer, NULL, 0);
    it_assert_error(&c, s, 400, "bad_user_id", "devices of an invalid user id");
    char longid[66];
    memset(longid, 'u', 65);
    longid[65] = 0;
    snprintf(path, sizeof path, "/v1/users/%s/devices", longid);
    s = rc_call(&c, "GET", path, cw.bearer, NULL, 0);
    it_assert_error(&c, s, 400, "bad_user_id", "devices of a 65-character user id");
    rc_device_free(&cit2);
    rc_device_free(&cw);
    rc_device_free(&cit);
    rc_conn_free(&c);
}

/* Invites under a caseworker's user id (409), with bad lifetimes or an
 * invalid user id (400). */
Test(isolation, invite_refusals)
{
    rc_conn c;
    it_conn(&c);
    rc_device cw;
    it_device(&c, &cw, "caseworker");
    uint8_t token[32];
    long s = rc_invite(&c, &cw, cw.user_id, 600, token);
    it_assert_error(&c, s, 409, "user_id_in_use", "an invite under a caseworker's user id");
    s = rc_invite(&c, &cw, "citizen-z", 31U * 86400U, token);
    it_assert_error(&c, s, 400, "bad_ttl", "a 31-day invite");
    /* ttl_seconds present and 0 (rc_invite leaves 0 out). */
    const uint8_t body[] = {0x0a, 0x09, 'c', 'i', 't', 'i', 'z', 'e', 'n', '-', 'z', 0x10, 0x00};
    s = rc_call(&c, "POST", "/v1/invites", cw.bearer, body, sizeof body);
    it_assert_error(&c, s, 400, "bad_ttl", "an invite with ttl_seconds 0");
    s = rc_invite(&c, &cw, "no spaces", 600, token);
    it_assert_error(&c, s, 400, "bad_user_id", "an invite for an invalid user id");
    rc_device_free(&cw);
    rc_conn_free(&c);
}

typedef struct lp {
    rc_device *dev;
    const char *url;
    long status;
    rc_fetched f;
} lp;

static void *lp_main(void *arg)
{
    lp *p = arg;
    rc_conn c;
    p->status = RC_E_SYSTEM;
    if (rc_conn_init(&c, p->url) == 0) {
        p->status = rc_fetch(&c, p->dev, 2, &p->f);
        rc_conn_free(&c);
    }
    return NULL;
}

/* A waiting long poll of A is not answered with mail for B, and the
 * journal robot's mailbox is the robot's alone. */
Test(isolation, long_poll_and_journal)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, b, s, j;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    it_device(&c, &s, "caseworker");
    it_device(&c, &j, "journal");
    cr_assert_eq(j.role, 3);
    lp p = {&a, it_relay.url, 0, {0}};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, lp_main, &p), 0);
    rc_sleep(0.5);
    send_one(&c, &s, &b, "for B while A waits", NULL, 0);
    send_one(&c, &s, &j, "journal record", NULL, 0);
    pthread_join(th, NULL);
    cr_assert_eq(p.status, 200);
    cr_assert_eq(p.f.n, 0, "A's long poll returned %zu deliveries meant for others", p.f.n);
    rc_fetched_free(&p.f);

    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &a, 0, &f), 200);
    cr_assert_eq(f.n, 0);
    rc_fetched_free(&f);
    cr_assert_eq(rc_fetch(&c, &j, 0, &f), 200);
    cr_assert_eq(f.n, 1);
    cr_assert(has_content(&f, "journal record"));
    rc_fetched_free(&f);
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 1);
    cr_assert(has_content(&f, "for B while A waits"));
    rc_fetched_free(&f);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_device_free(&s);
    rc_device_free(&j);
    rc_conn_free(&c);
}

/* A 20 MiB blob goes up and comes down byte for byte (streamed both ways). */
Test(isolation, large_blob_round_trip)
{
    rc_conn c;
    it_conn(&c);
    rc_device a, g;
    it_device(&c, &a, "caseworker");
    it_device(&c, &g, "caseworker");
    size_t n = 20U * 1024 * 1024 + 3;
    uint8_t *data = pattern(n, 99);
    uint8_t id[16];
    cr_assert_eq(rc_blob_put(&c, &a, data, n, id), 200);
    send_one(&c, &a, &g, "big file", id, 1);
    long s = rc_blob_get(&c, &g, id);
    cr_assert_eq(s, 200, "download: %ld", s);
    cr_assert_eq(c.body.len, n);
    cr_assert_eq(memcmp(c.body.data, data, n), 0, "20 MiB blob bytes");
    free(data);
    rc_device_free(&a);
    rc_device_free(&g);
    rc_conn_free(&c);
}

/* An upload cut off mid-body leaves the relay serving. */
Test(isolation, interrupted_upload)
{
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)it_relay.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[512];
    int len = snprintf(req, sizeof req,
                       "POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       a.bearer);
    cr_assert_eq(send(fd, req, (size_t)len, MSG_NOSIGNAL), len);
    static char half[500000];
    memset(half, 'x', sizeof half);
    (void)send(fd, half, sizeof half, MSG_NOSIGNAL);
    close(fd);
    it_assert_healthy();
    uint8_t id[16];
    cr_assert_eq(rc_blob_put(&c, &a, "after", 5, id), 200, "an upload after a cut-off one");
    cr_assert_eq(rc_blob_get(&c, &a, id), 200);
    cr_assert_eq(c.body.len, 5);
    rc_device_free(&a);
    rc_conn_free(&c);
}
