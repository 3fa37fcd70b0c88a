/*
 * bench-client: messages per second end to end through the public client
 * API (secmsg/client.h): send -> relay -> sync -> stored, for one pair and
 * for C citizens talking to one caseworker, each against the raw relay
 * cycle of the same number of envelopes of the same size in the same run
 * (the internal relay client, no store, no session, no encryption; the two
 * alternate in slices so that load changes hit both); and the cost of
 * unlocking a store made with the default Argon2id parameters against
 * crypto_pwhash alone.
 *
 * Everything runs against a real secmsg-relay started here on 127.0.0.1
 * (random port, fresh temp dir, rate limits off) and real sqlcipher stores
 * in a fresh temp dir; both are removed at the end, also after a failure.
 *
 * A benchmark, not a test: exit status 0 when every measurement ran, 1
 * when a call failed, 2 for bad arguments. The figures never change it.
 */
#include <dirent.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <secmsg/client.h>
#include <secmsg/identity.h>

/* The relay process and `admin token` (shared with the integration tests). */
#include "relay_client.h"

#include "client/relay_client.h"
#include "session/internal.h"
#include "store/client_store.h"
#include "wire/client_codec.h"
#include "wire/relay_codec.h"

#ifndef BENCH_CLIENT_DEFAULT_RELAY
#define BENCH_CLIENT_DEFAULT_RELAY ""
#endif

#define TEXT_BYTES 100U
/* Cheap Argon2id for the many stores set up here; unlock is measured apart. */
#define SETUP_KDF_OPS 1U
#define SETUP_KDF_MEM_KIB 8192U
/* A sync that brings nothing for this long is a failure, not a slow run. */
#define STALL_SECONDS 60.0
#define MAX_CITIZENS 1000U
/* Slices in which client and raw traffic alternate (see scenario()). */
#define CHUNKS 10U

static const char PIN[] = "1234";

typedef struct opts {
    unsigned n;        /* messages, one pair */
    unsigned m;        /* messages per citizen, many citizens */
    unsigned citizens;
    unsigned reps;     /* unlock repetitions (median) */
    int quick;
    const char *relay_bin;
} opts;

static opts O;
static rc_relay relay;
static char store_dir[RC_PATH_MAX];
static uint8_t device_secret[32];
static uint8_t root_pk[crypto_sign_PUBLICKEYBYTES];
static uint8_t root_sk[crypto_sign_SECRETKEYBYTES];
static volatile sig_atomic_t interrupted;

/* One measured message flow: n messages, send phase then receive phase. */
typedef struct flow {
    size_t n;
    double send_s, recv_s;
} flow;

static double now(void)
{
    return rc_now();
}

static double per_s(size_t n, double s)
{
    return s > 0 ? (double)n / s : 0;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int stopped(void)
{
    if (interrupted)
        fprintf(stderr, "bench-client: interrupted\n");
    return interrupted != 0;
}

static int client_fail(const char *what, const secmsg_client *c, int rc)
{
    fprintf(stderr, "bench-client: %s: %s (%s)\n", what, secmsg_strerror(rc),
            c != NULL ? secmsg_client_last_error(c) : "");
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- temp dir of the stores ---- */

static int store_dir_make(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(store_dir, sizeof store_dir, "%s/secmsg-bench-client-XXXXXX",
             tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(store_dir) == NULL) {
        store_dir[0] = '\0';
        fprintf(stderr, "bench-client: cannot create a temp dir\n");
        return -1;
    }
    return 0;
}

/* The dir is flat: stores, key files and sqlite's side files. */
static void store_dir_remove(void)
{
    if (store_dir[0] == '\0')
        return;
    DIR *d = opendir(store_dir);
    if (d != NULL) {
        struct dirent *e;
        char p[RC_PATH_MAX + 256];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", store_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(store_dir);
    store_dir[0] = '\0';
}

/* The names are short literals and store_dir is bounded by RC_PATH_MAX. */
static void store_path(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s.db", store_dir, name);
    if (n < 0 || (size_t)n >= cap)
        out[0] = '\0'; /* secmsg_client_create then refuses the empty path */
}

static int client_new(secmsg_client **c, const char *name, uint32_t ops, uint32_t mem_kib)
{
    char path[RC_PATH_MAX + 64];
    store_path(path, sizeof path, name);
    int rc = secmsg_client_create(c, path, device_secret, sizeof device_secret, PIN,
                                  strlen(PIN), ops, mem_kib);
    return rc == SECMSG_OK ? 0 : client_fail("creating a store", NULL, rc);
}

/* 100 bytes of ASCII, different for every message. */
static void make_text(char out[TEXT_BYTES + 1], size_t i)
{
    memset(out, 'x', TEXT_BYTES);
    out[TEXT_BYTES] = '\0';
    char head[32];
    int k = snprintf(head, sizeof head, "message %zu ", i);
    memcpy(out, head, (size_t)k < TEXT_BYTES ? (size_t)k : TEXT_BYTES);
}

/* ---- enrollment through the client API ---- */

/* A caseworker: admin token from the relay, certificate from the root key. */
static int caseworker_new(secmsg_client **cw, const char *user)
{
    uint8_t tok[RC_ENROLL_BYTES];
    char tok_text[sodium_base64_ENCODED_LEN(RC_ENROLL_BYTES,
                                            sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    uint8_t cert_bin[SECMSG__CERT_MAX];
    char cert_text[2 * SECMSG__CERT_MAX];
    size_t cert_len = 0, text_len = 0, id_len = 0;
    secmsg__cert cert;
    int ret = -1;

    if (client_new(cw, user, SETUP_KDF_OPS, SETUP_KDF_MEM_KIB) != 0)
        return -1;
    if (rc_admin_token(&relay, "caseworker", user, 0, tok) != 0)
        goto out;
    sodium_bin2base64(tok_text, sizeof tok_text, tok, sizeof tok,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memset(&cert, 0, sizeof cert);
    memcpy(cert.root_pub, root_pk, sizeof cert.root_pub);
    snprintf(cert.user_id, sizeof cert.user_id, "%s", user);
    cert.role = SECMSG_ROLE_CASEWORKER;
    cert.not_after = (uint64_t)time(NULL) + 86400U;
    int rc = secmsg_client_identity_public(*cw, cert.identity, sizeof cert.identity, &id_len);
    if (rc != SECMSG_OK) {
        client_fail("reading the caseworker's identity", *cw, rc);
        goto out;
    }
    cert.identity_len = id_len;
    rc = secmsg__cert_sign(&cert, root_sk, cert_bin, sizeof cert_bin, &cert_len);
    if (rc == SECMSG_OK)
        rc = secmsg__cert_to_text(cert_bin, cert_len, cert_text, sizeof cert_text, &text_len);
    if (rc != SECMSG_OK) {
        fprintf(stderr, "bench-client: certifying the caseworker: %s\n", secmsg_strerror(rc));
        goto out;
    }
    rc = secmsg_client_enroll_caseworker(*cw, relay.url, tok_text, cert_text);
    if (rc != SECMSG_OK) {
        client_fail("enrolling the caseworker", *cw, rc);
        goto out;
    }
    ret = 0;
out:
    sodium_memzero(tok, sizeof tok);
    sodium_memzero(tok_text, sizeof tok_text);
    return ret;
}

static int citizen_new(secmsg_client **cit, secmsg_client *cw, const char *user)
{
    char inv[SECMSG_INVITE_MAX];
    size_t len = 0;
    int rc = secmsg_client_create_invite(cw, user, 0, inv, sizeof inv, &len);
    if (rc != SECMSG_OK)
        return client_fail("creating an invite", cw, rc);
    int ret = client_new(cit, user, SETUP_KDF_OPS, SETUP_KDF_MEM_KIB);
    if (ret == 0) {
        rc = secmsg_client_redeem_invite(*cit, inv);
        if (rc != SECMSG_OK)
            ret = client_fail("redeeming an invite", *cit, rc);
    }
    sodium_memzero(inv, sizeof inv);
    return ret;
}

/* The caseworker takes every hello (and answers with its welcome), then
 * every citizen takes its welcome: afterwards both sides are verified. */
static int handshake(secmsg_client *cw, const char *cw_user, secmsg_client **cits, size_t n)
{
    double end = now() + STALL_SECONDS;
    for (;;) {
        size_t count = 0;
        int rc = secmsg_client_contact_count(cw, &count);
        if (rc != SECMSG_OK)
            return client_fail("counting contacts", cw, rc);
        if (count >= n)
            break;
        if (now() > end || stopped()) {
            fprintf(stderr, "bench-client: the caseworker has %zu of %zu citizens\n", count, n);
            return -1;
        }
        rc = secmsg_client_sync(cw, 1000, NULL);
        if (rc != SECMSG_OK)
            return client_fail("caseworker sync (hellos)", cw, rc);
    }
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            secmsg_contact ct;
            int rc = secmsg_client_contact_find(cits[i], cw_user, &ct);
            if (rc != SECMSG_OK)
                return client_fail("finding the caseworker", cits[i], rc);
            if (ct.verification == SECMSG_VERIFIED_INVITE)
                break;
            if (now() > end || stopped()) {
                fprintf(stderr, "bench-client: citizen %zu got no welcome\n", i);
                return -1;
            }
            rc = secmsg_client_sync(cits[i], 1000, NULL);
            if (rc != SECMSG_OK)
                return client_fail("citizen sync (welcome)", cits[i], rc);
        }
    }
    return 0;
}

/* ---- the size of what a 100-byte text becomes on the wire ---- */

/* A pass-through to the default transport that notes the content length
 * of the envelope in a POST /v1/messages. Used for warm-up only. */
typedef struct probe {
    secmsg__curl_ctx *curl;
    size_t content_len;
} probe;

static int probe_transport(void *ctx, const secmsg_http_request *req, int *status, uint8_t *resp,
                           size_t resp_cap, size_t *resp_len)
{
    probe *p = ctx;
    static const char path[] = "/v1/messages";
    size_t ul = strlen(req->url), pl = sizeof path - 1;
    if (req->body_len > 0 && strcmp(req->method, "POST") == 0 && ul >= pl &&
        strcmp(req->url + ul - pl, path) == 0) {
        secmsg__relay_limits lim = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
        Secmsg__Relay__SendRequest *m = NULL;
        if (secmsg__relay_decode_send(&m, req->body, req->body_len, &lim) == SECMSG_OK) {
            if (m->n_envelopes == 1)
                p->content_len = m->envelopes[0]->content.len;
            secmsg__relay__send_request__free_unpacked(m, NULL);
        }
    }
    return secmsg__transport_curl(p->curl, req, status, resp, resp_cap, resp_len);
}

/* Until the caseworker has stored `want` more messages. */
static int receive(secmsg_client *cw, size_t want)
{
    size_t got = 0;
    double last = now();
    while (got < want) {
        size_t n = 0;
        int rc = secmsg_client_sync(cw, 1000, &n);
        if (rc != SECMSG_OK)
            return client_fail("caseworker sync", cw, rc);
        got += n;
        if (n > 0)
            last = now();
        else if (now() - last > STALL_SECONDS || stopped()) {
            fprintf(stderr, "bench-client: the caseworker stored %zu of %zu messages\n", got,
                    want);
            return -1;
        }
    }
    if (got != want) {
        fprintf(stderr, "bench-client: the caseworker stored %zu messages, expected %zu\n", got,
                want);
        return -1;
    }
    return 0;
}

/*
 * One warm-up message from every citizen, so the timed part starts on
 * established sending chains and authenticated keep-alive connections.
 * With p, citizen 0's first one goes through the probe, and its second
 * (made after the default transport is back, which re-authenticates) too.
 */
static int warm_up(secmsg_client *cw, const char *cw_user, secmsg_client **cits, size_t n,
                   probe *p)
{
    char text[TEXT_BYTES + 1];
    size_t sent = 0;
    make_text(text, 0);
    if (p != NULL) {
        int rc = secmsg_client_set_transport(cits[0], probe_transport, p);
        if (rc == SECMSG_OK)
            rc = secmsg_client_send_text(cits[0], cw_user, text, TEXT_BYTES, NULL);
        secmsg_client_set_transport(cits[0], NULL, NULL);
        if (rc != SECMSG_OK)
            return client_fail("warm-up send", cits[0], rc);
        sent++;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = secmsg_client_send_text(cits[i], cw_user, text, TEXT_BYTES, NULL);
        if (rc != SECMSG_OK)
            return client_fail("warm-up send", cits[i], rc);
        sent++;
    }
    return receive(cw, sent);
}

/* ---- the client side: caseworker and citizens through the client API ---- */

typedef struct client_side {
    secmsg_client *cw;
    secmsg_client **cits;
    size_t n;
    size_t stored; /* messages the caseworker should hold */
    char cw_user[SECMSG_USER_ID_BYTES];
} client_side;

/*
 * A caseworker and n citizens: enroll, invite, redeem, handshake, warm up.
 * With ct_len, the warm-up also notes the envelope size of a text.
 */
static int client_setup(client_side *s, const char *tag, size_t n, size_t *ct_len)
{
    probe p = {NULL, 0};
    int ret = -1;
    s->n = n;
    s->cits = calloc(n, sizeof *s->cits);
    if (s->cits == NULL)
        return -1;
    snprintf(s->cw_user, sizeof s->cw_user, "cw-%s", tag);
    if (caseworker_new(&s->cw, s->cw_user) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char user[SECMSG_USER_ID_BYTES];
        snprintf(user, sizeof user, "cit-%s-%zu", tag, i);
        if (citizen_new(&s->cits[i], s->cw, user) != 0 || stopped())
            goto out;
    }
    if (handshake(s->cw, s->cw_user, s->cits, n) != 0)
        goto out;
    if (ct_len != NULL && secmsg__curl_ctx_new(&p.curl) != SECMSG_OK) {
        fprintf(stderr, "bench-client: libcurl initialisation failed\n");
        goto out;
    }
    if (warm_up(s->cw, s->cw_user, s->cits, n, ct_len != NULL ? &p : NULL) != 0)
        goto out;
    s->stored = n + (ct_len != NULL ? 1U : 0U);
    if (ct_len != NULL) {
        if (p.content_len == 0) {
            fprintf(stderr, "bench-client: the probe saw no envelope\n");
            goto out;
        }
        *ct_len = p.content_len;
    }
    ret = 0;
out:
    secmsg__curl_ctx_free(p.curl);
    return ret;
}

/* Rounds r0..r1-1 (each: one message from every citizen, in turn), then
 * the caseworker syncs until it stored them all. */
static int client_chunk(client_side *s, flow *f, size_t r0, size_t r1)
{
    char text[TEXT_BYTES + 1];
    size_t n = s->n * (r1 - r0);
    double t0 = now();
    for (size_t r = r0; r < r1; r++) {
        for (size_t i = 0; i < s->n; i++) {
            make_text(text, r * s->n + i + 1);
            int rc = secmsg_client_send_text(s->cits[i], s->cw_user, text, TEXT_BYTES, NULL);
            if (rc != SECMSG_OK)
                return client_fail("send", s->cits[i], rc);
        }
        if (stopped())
            return -1;
    }
    double t1 = now();
    if (receive(s->cw, n) != 0)
        return -1;
    f->recv_s += now() - t1;
    f->send_s += t1 - t0;
    f->n += n;
    s->stored += n;
    return 0;
}

/* Every message is in the caseworker's store, in the right conversations. */
static int client_check(const client_side *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        char user[SECMSG_USER_ID_BYTES];
        size_t count = 0;
        int rc = secmsg_client_user_id(s->cits[i], user, sizeof user);
        if (rc == SECMSG_OK)
            rc = secmsg_client_message_count(s->cw, user, &count);
        if (rc != SECMSG_OK)
            return client_fail("counting messages", s->cw, rc);
        total += count;
    }
    if (total != s->stored) {
        fprintf(stderr, "bench-client: the caseworker holds %zu messages, expected %zu\n", total,
                s->stored);
        return -1;
    }
    return 0;
}

static void client_teardown(client_side *s)
{
    for (size_t i = 0; s->cits != NULL && i < s->n; i++)
        secmsg_client_close(s->cits[i]);
    secmsg_client_close(s->cw);
    free(s->cits);
    memset(s, 0, sizeof *s);
}

/* ---- the raw side: internal relay client, random content ---- */

typedef struct raw_dev {
    secmsg_identity *id;
    secmsg__relay_client rc;
    int rc_ready;
} raw_dev;

static int raw_sign(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    return secmsg__identity_sign(ctx, sig, msg, len);
}

static int raw_fail(const char *what, const secmsg__relay_client *rc, int r)
{
    fprintf(stderr, "bench-client: raw %s: %s (HTTP %d %s%s%s)\n", what, secmsg_strerror(r),
            rc->status, rc->reason, rc->message[0] ? ": " : "", rc->message);
    return -1;
}

static int raw_register(raw_dev *d, const uint8_t token[32])
{
    uint8_t idpub[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t idpub_len = 0;
    char uid[SECMSG_USER_ID_BYTES];
    int role = 0;
    int r = secmsg_identity_generate(&d->id);
    if (r == SECMSG_OK)
        r = secmsg_identity_public(d->id, idpub, sizeof idpub, &idpub_len);
    if (r == SECMSG_OK)
        r = secmsg__rc_init(&d->rc, relay.url, d->id->pub.sign_pub, raw_sign, d->id);
    if (r != SECMSG_OK) {
        fprintf(stderr, "bench-client: raw device: %s\n", secmsg_strerror(r));
        return -1;
    }
    d->rc_ready = 1;
    r = secmsg__rc_register(&d->rc, token, idpub, idpub_len, uid, sizeof uid, &role);
    if (r != SECMSG_OK)
        return raw_fail("register", &d->rc, r);
    /* Authenticate and open the keep-alive connection outside the timing. */
    secmsg__rc_batch b;
    memset(&b, 0, sizeof b);
    r = secmsg__rc_fetch(&d->rc, 0, &b);
    secmsg__rc_fetch_done(&b);
    return r == SECMSG_OK ? 0 : raw_fail("fetch", &d->rc, r);
}

static void raw_free(raw_dev *d)
{
    if (d->rc_ready)
        secmsg__rc_free(&d->rc);
    secmsg_identity_free(d->id);
    memset(d, 0, sizeof *d);
}

/* One receiver (registered as a caseworker) and n senders (invited). */
typedef struct raw_side {
    raw_dev rx;
    raw_dev *tx;
    size_t n;
    uint8_t *content;
    size_t ct_len;
    uint8_t to[1][32];
} raw_side;

static int raw_setup(raw_side *s, const char *tag, size_t n, size_t ct_len)
{
    uint8_t token[32];
    char user[SECMSG_USER_ID_BYTES];
    int ret = -1;
    s->n = n;
    s->ct_len = ct_len;
    s->tx = calloc(n, sizeof *s->tx);
    s->content = malloc(ct_len);
    if (s->tx == NULL || s->content == NULL)
        goto out;
    randombytes_buf(s->content, ct_len);
    snprintf(user, sizeof user, "raw-cw-%s", tag);
    if (rc_admin_token(&relay, "caseworker", user, 0, token) != 0 ||
        raw_register(&s->rx, token) != 0)
        goto out;
    memcpy(s->to[0], s->rx.id->pub.sign_pub, sizeof s->to[0]);
    for (size_t i = 0; i < n; i++) {
        uint64_t expires = 0;
        snprintf(user, sizeof user, "raw-cit-%s-%zu", tag, i);
        int r = secmsg__rc_invite(&s->rx.rc, user, 0, token, &expires);
        if (r != SECMSG_OK) {
            raw_fail("invite", &s->rx.rc, r);
            goto out;
        }
        if (raw_register(&s->tx[i], token) != 0 || stopped())
            goto out;
    }
    ret = 0;
out:
    sodium_memzero(token, sizeof token);
    return ret;
}

/*
 * The traffic of client_chunk without the client layer: rounds r0..r1-1,
 * each one envelope per request from every sender in turn, then the
 * receiver fetches pages and acks each page in one request, as
 * secmsg_client_sync() does.
 */
static int raw_chunk(raw_side *s, flow *f, size_t r0, size_t r1)
{
    size_t want = s->n * (r1 - r0), got = 0;
    const uint8_t(*to)[32] = (const uint8_t(*)[32])s->to;
    double t0 = now();
    for (size_t r = r0; r < r1; r++) {
        for (size_t i = 0; i < s->n; i++) {
            uint8_t mid[16], *env = NULL;
            size_t env_len = 0;
            randombytes_buf(mid, sizeof mid);
            int rc = secmsg__rc_encode_envelope(mid, to, 1, s->content, s->ct_len, &env,
                                                &env_len);
            if (rc == SECMSG_OK)
                rc = secmsg__rc_send_envelope(&s->tx[i].rc, env, env_len);
            free(env);
            if (rc != SECMSG_OK)
                return raw_fail("send", &s->tx[i].rc, rc);
        }
        if (stopped())
            return -1;
    }
    double t1 = now(), last = t1;
    while (got < want) {
        uint64_t ids[128];
        secmsg__rc_batch b;
        memset(&b, 0, sizeof b);
        int rc = secmsg__rc_fetch(&s->rx.rc, 1, &b);
        if (rc != SECMSG_OK)
            return raw_fail("fetch", &s->rx.rc, rc);
        /* A page holds at most 100 deliveries (relay fetch_max_messages). */
        size_t k = b.n < 128 ? b.n : 128;
        for (size_t i = 0; i < k; i++)
            ids[i] = b.d[i].id;
        secmsg__rc_fetch_done(&b);
        if (k == 0) {
            if (now() - last > STALL_SECONDS || stopped()) {
                fprintf(stderr, "bench-client: the raw receiver got %zu of %zu\n", got, want);
                return -1;
            }
            continue;
        }
        uint32_t deleted = 0;
        rc = secmsg__rc_ack(&s->rx.rc, ids, k, &deleted);
        if (rc != SECMSG_OK || deleted != k)
            return raw_fail("ack", &s->rx.rc, rc);
        got += k;
        last = now();
    }
    if (got != want) {
        fprintf(stderr, "bench-client: the raw receiver got %zu, expected %zu\n", got, want);
        return -1;
    }
    f->recv_s += now() - t1;
    f->send_s += t1 - t0;
    f->n += want;
    return 0;
}

static void raw_teardown(raw_side *s)
{
    for (size_t i = 0; s->tx != NULL && i < s->n; i++)
        raw_free(&s->tx[i]);
    raw_free(&s->rx);
    free(s->tx);
    free(s->content);
    memset(s, 0, sizeof *s);
}

/* ---- one scenario: n citizens x per messages, client and raw interleaved ---- */

/*
 * Both sides are set up first; then the messages go in CHUNKS slices,
 * each through the client API and through the raw cycle (alternating which
 * goes first), so a change in machine load between phases hits both and
 * the ratio stays meaningful. *ct_len in: the envelope size for the raw
 * side, or 0 to measure it here (through the client's warm-up).
 */
static int scenario(flow *fc, flow *fr, const char *tag, size_t n, size_t per, size_t *ct_len,
                    double *setup_s)
{
    client_side cs;
    raw_side rs;
    int ret = -1;
    memset(&cs, 0, sizeof cs);
    memset(&rs, 0, sizeof rs);
    double t0 = now();
    if (client_setup(&cs, tag, n, *ct_len == 0 ? ct_len : NULL) != 0)
        goto out;
    *setup_s = now() - t0;
    if (raw_setup(&rs, tag, n, *ct_len) != 0)
        goto out;
    size_t chunks = per < CHUNKS ? per : CHUNKS;
    for (size_t k = 0; k < chunks; k++) {
        size_t r0 = per * k / chunks, r1 = per * (k + 1) / chunks;
        int bad = k % 2 == 0
                      ? client_chunk(&cs, fc, r0, r1) != 0 || raw_chunk(&rs, fr, r0, r1) != 0
                      : raw_chunk(&rs, fr, r0, r1) != 0 || client_chunk(&cs, fc, r0, r1) != 0;
        if (bad)
            goto out;
    }
    if (client_check(&cs) != 0)
        goto out;
    ret = 0;
out:
    client_teardown(&cs);
    raw_teardown(&rs);
    return ret;
}

/* ---- unlock cost ---- */

typedef int (*unlock_fn)(void);
static char unlock_path[RC_PATH_MAX + 64];

static int op_open(void)
{
    secmsg_client *c = NULL;
    int rc = secmsg_client_open(&c, unlock_path, device_secret, sizeof device_secret, PIN,
                                strlen(PIN), NULL);
    secmsg_client_close(c);
    return rc == SECMSG_OK ? 0 : client_fail("opening the store", NULL, rc);
}

static int op_pwhash(void)
{
    uint8_t out[32], salt[crypto_pwhash_SALTBYTES];
    randombytes_buf(salt, sizeof salt);
    int r = crypto_pwhash(out, sizeof out, PIN, strlen(PIN), salt, SECMSG__KDF_OPS_DEFAULT,
                          (size_t)SECMSG__KDF_MEM_KIB_DEFAULT * 1024U,
                          crypto_pwhash_ALG_ARGON2ID13);
    sodium_memzero(out, sizeof out);
    if (r != 0)
        fprintf(stderr, "bench-client: crypto_pwhash failed (out of memory?)\n");
    return r == 0 ? 0 : -1;
}

/* Median wall time of reps runs, in seconds; -1 on failure. */
static double time_median(unlock_fn fn, unsigned reps)
{
    double v[16];
    for (unsigned i = 0; i < reps; i++) {
        double t0 = now();
        if (fn() != 0)
            return -1;
        v[i] = now() - t0;
    }
    return median(v, reps);
}

/*
 * The peak resident memory one run adds, in KiB: the run happens in a
 * forked child, whose ru_maxrss before and after are compared (the
 * parent's own high-water mark does not blur it). -1 if it failed.
 */
static long peak_rss_kib(unlock_fn fn)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        struct rusage a, b;
        close(fds[0]);
        getrusage(RUSAGE_SELF, &a);
        long d = fn() == 0 && getrusage(RUSAGE_SELF, &b) == 0 ? b.ru_maxrss - a.ru_maxrss : -1;
        ssize_t w = write(fds[1], &d, sizeof d);
        _exit(w == (ssize_t)sizeof d ? 0 : 1);
    }
    close(fds[1]);
    long d = -1;
    if (read(fds[0], &d, sizeof d) != (ssize_t)sizeof d)
        d = -1;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? d : -1;
}

typedef struct unlock_result {
    double open_s, pwhash_s;
    long open_kib, pwhash_kib;
} unlock_result;

static int unlock_bench(unlock_result *u)
{
    secmsg_client *c = NULL;
    store_path(unlock_path, sizeof unlock_path, "unlock");
    int rc = secmsg_client_create(&c, unlock_path, device_secret, sizeof device_secret, PIN,
                                  strlen(PIN), 0, 0);
    if (rc != SECMSG_OK)
        return client_fail("creating a store with the default Argon2id cost", NULL, rc);
    secmsg_client_close(c);
    u->open_s = time_median(op_open, O.reps);
    u->pwhash_s = time_median(op_pwhash, O.reps);
    if (u->open_s < 0 || u->pwhash_s < 0)
        return -1;
    u->open_kib = peak_rss_kib(op_open);
    u->pwhash_kib = peak_rss_kib(op_pwhash);
    return 0;
}

static void print_rss(long kib)
{
    if (kib < 0)
        printf("%14s\n", "n/a");
    else
        printf("%10.1f MiB\n", (double)kib / 1024.0);
}

/* ---- output ---- */

static void print_flow(const char *name, const flow *f)
{
    printf("  %-44s %8zu %12.1f %14.1f %14.1f\n", name, f->n, per_s(f->n, f->send_s),
           per_s(f->n, f->recv_s), per_s(f->n, f->send_s + f->recv_s));
}

static void print_ratio(const flow *c, const flow *r)
{
    printf("  %-44s %8s %12.3f %14.3f %14.3f\n", "  client / raw", "",
           ratio(per_s(c->n, c->send_s), per_s(r->n, r->send_s)),
           ratio(per_s(c->n, c->recv_s), per_s(r->n, r->recv_s)),
           ratio(per_s(c->n, c->send_s + c->recv_s), per_s(r->n, r->send_s + r->recv_s)));
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench-client [--quick] [--n N] [--m M] [--citizens C] [--reps R]\n"
            "                    [--relay PATH]\n"
            "  --n N         messages in the one-pair run (default 2000)\n"
            "  --m M         messages per citizen in the many-citizens run (default 20)\n"
            "  --citizens C  citizens talking to one caseworker (default 100)\n"
            "  --reps R      unlock repetitions, the median is kept (default 5, max 15)\n"
            "  --quick       N=50, M=2, 10 citizens, 1 unlock repetition (CI smoke test)\n"
            "  --relay PATH  the secmsg-relay to start (default: $SECMSG_RELAY_BIN or the\n"
            "                one built with this tree)\n");
}

static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    char *end = NULL;
    if (v == NULL)
        return -1;
    unsigned long x = strtoul(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = (unsigned)x;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    int set_n = 0, set_m = 0, set_c = 0, set_r = 0;
    O.n = 2000;
    O.m = 20;
    O.citizens = 100;
    O.reps = 5;
    O.relay_bin = getenv("SECMSG_RELAY_BIN");
    if (O.relay_bin == NULL || *O.relay_bin == '\0')
        O.relay_bin = BENCH_CLIENT_DEFAULT_RELAY;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            O.quick = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        int bad = 0;
        if (strcmp(a, "--n") == 0) {
            bad = parse_uint(v, 1, 9000, &O.n);
            set_n = 1;
        } else if (strcmp(a, "--m") == 0) {
            bad = parse_uint(v, 1, 1000, &O.m);
            set_m = 1;
        } else if (strcmp(a, "--citizens") == 0) {
            bad = parse_uint(v, 1, MAX_CITIZENS, &O.citizens);
            set_c = 1;
        } else if (strcmp(a, "--reps") == 0) {
            bad = parse_uint(v, 1, 15, &O.reps);
            set_r = 1;
        } else if (strcmp(a, "--relay") == 0 && v != NULL) {
            O.relay_bin = v;
        } else {
            bad = 1;
        }
        if (bad)
            return -1;
        i++;
    }
    if (O.quick) {
        O.n = set_n ? O.n : 50;
        O.m = set_m ? O.m : 2;
        O.citizens = set_c ? O.citizens : 10;
        O.reps = set_r ? O.reps : 1;
    }
    /* A mailbox holds at most 10 000 messages (relay default). */
    if ((size_t)O.m * O.citizens > 9000) {
        fprintf(stderr, "bench-client: M x citizens must be at most 9000\n");
        return -1;
    }
    if (O.relay_bin == NULL || *O.relay_bin == '\0') {
        fprintf(stderr, "bench-client: no relay executable (--relay or SECMSG_RELAY_BIN)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (rc_global_init() != 0) {
        fprintf(stderr, "bench-client: initialisation failed\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Every client keeps a database and a connection open: room for C of them. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max &&
        nofile.rlim_cur < 8192) {
        nofile.rlim_cur = nofile.rlim_max < 8192 ? nofile.rlim_max : 8192;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    int ret = 1;
    unlock_result u = {0, 0, 0, 0};
    flow pair_c = {0, 0, 0}, pair_r = {0, 0, 0}, many_c = {0, 0, 0}, many_r = {0, 0, 0};
    size_t ct_len = 0;
    double pair_setup = 0, many_setup = 0;
    randombytes_buf(device_secret, sizeof device_secret);
    crypto_sign_keypair(root_pk, root_sk);
    if (store_dir_make() != 0)
        goto out;

    /* Unlock first: no relay, no other clients, no threads yet. */
    printf("bench-client: %u-message pair, %u citizens x %u messages, %u-byte texts%s\n", O.n,
           O.citizens, O.m, TEXT_BYTES, O.quick ? " (--quick: figures mean little)" : "");
    fflush(stdout);
    if (unlock_bench(&u) != 0)
        goto out;

    /* Rate limits off: this measures throughput, not the limiter. */
    static const char *const flags[] = {"--rate", "0", "--anon-rate", "0", NULL};
    const char *err = "";
    if (rc_relay_start(&relay, O.relay_bin, flags, &err) != 0) {
        fprintf(stderr, "bench-client: cannot start the relay: %s\n", err);
        goto out;
    }
    printf("  relay %s (%s), stores in %s\n", relay.url, O.relay_bin, store_dir);
    fflush(stdout);

    if (scenario(&pair_c, &pair_r, "pair", 1, O.n, &ct_len, &pair_setup) != 0)
        goto out;
    if (scenario(&many_c, &many_r, "many", O.citizens, O.m, &ct_len, &many_setup) != 0)
        goto out;

    printf("  a %u-byte text is a %zu-byte envelope content; the raw cycle sends random content "
           "of that size;\n  client and raw traffic alternate in up to %u slices of each run\n",
           TEXT_BYTES, ct_len, CHUNKS);
    printf("  set-up (create stores, enroll, invite, redeem, handshake): 1 pair %.2f s, "
           "%u citizens %.2f s\n\n",
           pair_setup, O.citizens, many_setup);
    printf("  %-44s %8s %12s %14s %14s\n", "end to end (send -> relay -> sync -> stored)",
           "messages", "send msg/s", "receive msg/s", "e2e msg/s");
    print_flow("one pair, client API", &pair_c);
    print_flow("one pair, raw relay cycle", &pair_r);
    print_ratio(&pair_c, &pair_r);
    char name[64];
    snprintf(name, sizeof name, "%u citizens -> 1 caseworker, client API", O.citizens);
    print_flow(name, &many_c);
    snprintf(name, sizeof name, "%u citizens -> 1 caseworker, raw cycle", O.citizens);
    print_flow(name, &many_r);
    print_ratio(&many_c, &many_r);

    printf("\n  unlock, Argon2id ops %u, %u MiB (default)   median of %u   peak RSS added\n",
           SECMSG__KDF_OPS_DEFAULT, SECMSG__KDF_MEM_KIB_DEFAULT / 1024U, O.reps);
    printf("  %-44s %10.1f ms  ", "secmsg_client_open", u.open_s * 1e3);
    print_rss(u.open_kib);
    printf("  %-44s %10.1f ms  ", "crypto_pwhash alone", u.pwhash_s * 1e3);
    print_rss(u.pwhash_kib);
    printf("  %-44s %10.3f\n", "  open / pwhash", ratio(u.open_s, u.pwhash_s));
    ret = 0;
out:
    fflush(stdout);
    rc_relay_stop(&relay);
    store_dir_remove();
    sodium_memzero(root_sk, sizeof root_sk);
    sodium_memzero(device_secret, sizeof device_secret);
    return ret;
}
