/* The relay as a process: start-up refusals, the key file, graceful
 * shutdown, /health, /metrics and the rate limits (spec/relay-api.md 1, 5.3,
 * 6, 7). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "itest.h"

TestSuite(process, .init = it_init_bare, .fini = it_fini, .timeout = 120);

/* Plain HTTP without --insecure-loopback: refused, exit 1, nothing on
 * stdout. Usage errors: exit 2. All on 127.0.0.1; the relay must exit
 * before listening. */
Test(process, refuses_to_start)
{
    /* A running relay provides the dir and the binary path. */
    it_start(NULL);
    char db[RC_PATH_MAX + 16], out[256];
    snprintf(db, sizeof db, "%s/other.db", it_relay.dir);
    static const char *const plain[] = {"--listen", "127.0.0.1", "--port", "0", "--db", NULL};
    const char *a1[8];
    memcpy(a1, plain, sizeof plain);
    a1[5] = db;
    a1[6] = NULL;
    cr_assert_eq(it_run_relay(a1, out, sizeof out, NULL, 0), 1,
                 "plain HTTP without --insecure-loopback");
    cr_assert_str_eq(out, "", "stdout of a refused start");

    const char *a2[] = {"--listen", "127.0.0.1", "--port",         "0", "--insecure-loopback",
                        "--db",     db,          "--no-such-flag", "1", NULL};
    cr_assert_eq(it_run_relay(a2, out, sizeof out, NULL, 0), 2, "an unknown flag");
    const char *a3[] = {"--listen", "127.0.0.1", "--port",      "0", "--insecure-loopback",
                        "--db",     db,          "--token-ttl", "0", NULL};
    cr_assert_eq(it_run_relay(a3, out, sizeof out, NULL, 0), 2, "--token-ttl 0 (out of range)");
    const char *a4[] = {"--listen", "127.0.0.1", "--port",      "0",   "--insecure-loopback",
                        "--db",     db,          "--token-ttl", "ten", NULL};
    cr_assert_eq(it_run_relay(a4, out, sizeof out, NULL, 0), 2, "--token-ttl ten");
    cr_assert_str_eq(out, "");
}

/* A key file that group or others can read: the relay refuses to start. */
Test(process, key_file_permissions)
{
    it_start(NULL);
    rc_relay_signal(&it_relay, SIGTERM);
    cr_assert_eq(chmod(it_relay.key, 0640), 0);
    const char *err = "";
    int rc = rc_relay_restart(&it_relay, &err);
    cr_assert_neq(rc, 0, "the relay started with a 0640 key file");
    cr_assert(WIFEXITED(it_relay.exit_status) && WEXITSTATUS(it_relay.exit_status) == 1,
              "exit status %d", it_relay.exit_status);
    cr_assert_eq(chmod(it_relay.key, 0600), 0);
    it_restart();
    it_assert_healthy();
}

/* A missing key file is created, mode 0600, 64 hex digits. */
Test(process, key_file_created)
{
    it_start(NULL);
    rc_relay_signal(&it_relay, SIGTERM);
    /* A fresh database beside the old one, with no key file yet. */
    snprintf(it_relay.db, sizeof it_relay.db, "%s/fresh.db", it_relay.dir);
    snprintf(it_relay.key, sizeof it_relay.key, "%s/fresh.key", it_relay.dir);
    it_restart();
    struct stat st;
    cr_assert_eq(stat(it_relay.key, &st), 0, "the key file was not created");
    cr_assert_eq(st.st_mode & 0777, 0600, "key file mode %o", (unsigned)(st.st_mode & 0777));
    FILE *f = fopen(it_relay.key, "r");
    cr_assert_not_null(f);
    char line[80] = "";
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    size_t n = strspn(line, "0123456789abcdefABCDEF");
    cr_assert_eq(n, 64, "key file: \"%s\"", line);
    rc_conn c;
    it_conn(&c);
    rc_device d;
    it_device(&c, &d, "caseworker");
    rc_device_free(&d);
    rc_conn_free(&c);
}

typedef struct poll_arg {
    rc_device *dev;
    char url[RC_URL_MAX];
    long status;
    size_t n;
} poll_arg;

static void *long_poll(void *arg)
{
    poll_arg *p = arg;
    rc_conn c;
    p->status = RC_E_SYSTEM;
    if (rc_conn_init(&c, p->url) != 0)
        return NULL;
    rc_fetched f;
    p->status = rc_fetch(&c, p->dev, 60, &f);
    p->n = f.n;
    rc_fetched_free(&f);
    rc_conn_free(&c);
    return NULL;
}

static double gauge(rc_conn *c, const char *name)
{
    cr_assert_eq(rc_call(c, "GET", "/metrics", NULL, NULL, 0), 200);
    size_t nl = strlen(name);
    for (const char *p = (const char *)c->body.data; p && *p;) {
        if (!strncmp(p, name, nl) && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        const char *e = strchr(p, '\n');
        p = e ? e + 1 : NULL;
    }
    return -1;
}

/* SIGTERM: a waiting long poll is answered (200, empty), the relay exits
 * 0, and everything stored before is there after a restart. */
Test(process, graceful_shutdown)
{
    it_start(NULL);
    rc_conn c;
    it_conn(&c);
    rc_device a, b;
    it_device(&c, &a, "caseworker");
    it_device(&c, &b, "caseworker");
    rc_envelope e = {0};
    rc_random(e.message_id, 16);
    e.recipients = a.device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)"kept-4711-content";
    e.content_len = 17;
    cr_assert_eq(rc_send(&c, &b, &e, 1, NULL), 200);

    poll_arg p = {&b, "", 0, 0};
    snprintf(p.url, sizeof p.url, "%s", it_relay.url);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, long_poll, &p), 0);
    double end = rc_now() + 20.0;
    while (gauge(&c, "secmsg_relay_longpoll_waiters") < 1 && rc_now() < end)
        rc_sleep(0.05);
    cr_assert_eq(gauge(&c, "secmsg_relay_longpoll_waiters"), 1, "the long poll is waiting");
    rc_conn_free(&c);

    int st = rc_relay_signal(&it_relay, SIGTERM);
    pthread_join(th, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status after SIGTERM: %d", st);
    cr_assert_eq(p.status, 200, "the waiting long poll during shutdown: %ld", p.status);
    cr_assert_eq(p.n, 0);

    /* stdout: the one line. stderr: no content, ids, tokens or addresses. */
    char expect[64], buf[8192];
    snprintf(expect, sizeof expect, "listening on 127.0.0.1:%u\n", it_relay.port);
    FILE *fo = fopen(it_relay.out_log, "r");
    cr_assert_not_null(fo);
    size_t got = fread(buf, 1, sizeof buf - 1, fo);
    fclose(fo);
    buf[got] = 0;
    cr_assert_str_eq(buf, expect, "the relay's stdout");
    FILE *fe = fopen(it_relay.err_log, "r");
    cr_assert_not_null(fe);
    got = fread(buf, 1, sizeof buf - 1, fe);
    fclose(fe);
    buf[got] = 0;
    char hex[65];
    rc_hex(hex, a.device_id, 32);
    const char *secret[] = {"kept-4711-content", a.user_id, b.user_id, a.bearer, b.bearer, hex,
                            "127.0.0.1"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        cr_assert_null(strstr(buf, secret[i]), "the relay's log contains \"%s\"", secret[i]);

    it_restart();
    it_conn(&c);
    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &a, 0, &f), 200);
    cr_assert_eq(f.n, 1, "the message stored before the shutdown");
    cr_assert_eq(memcmp(f.d[0].content, "kept-4711-content", 17), 0);
    rc_fetched_free(&f);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* /health is "ok\n" text; /metrics is Prometheus text with the documented
 * counters, and 404 when disabled. */
Test(process, health_and_metrics)
{
    it_start(NULL);
    rc_conn c;
    it_conn(&c);
    cr_assert_eq(rc_health(&c), 200);
    cr_assert_eq(c.body.len, 3);
    cr_assert_eq(memcmp(c.body.data, "ok\n", 3), 0);
    cr_assert(strncmp(c.ctype, "text/plain", 10) == 0, "/health Content-Type %s", c.ctype);
    char h[64];
    cr_assert(rc_header(&c, "Cache-Control", h, sizeof h) == 0 && strstr(h, "no-store"));

    cr_assert_eq(rc_call(&c, "GET", "/metrics", NULL, NULL, 0), 200);
    cr_assert(strncmp(c.ctype, "text/plain", 10) == 0, "/metrics Content-Type %s", c.ctype);
    const char *text = (const char *)c.body.data;
    static const char *const names[] = {
        "secmsg_relay_requests_total{",
        "secmsg_relay_received_bytes_total",
        "secmsg_relay_sent_bytes_total",
        "secmsg_relay_rate_limited_total",
        "secmsg_relay_purged_total",
        "secmsg_relay_store_commits_total",
        "secmsg_relay_store_messages_stored_total",
        "secmsg_relay_store_fsyncs_total",
        "secmsg_relay_store_fsync_seconds_total",
        "secmsg_relay_longpoll_waiters",
        "secmsg_relay_in_flight_requests",
        "secmsg_relay_uptime_seconds",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert_not_null(strstr(text, names[i]), "/metrics lacks %s", names[i]);
    cr_assert_not_null(strstr(text, "route=\"health\""), "the /health request is counted");
    rc_conn_free(&c);

    static const char *const off[] = {"--metrics=false", NULL};
    it_start(off);
    it_conn(&c);
    long s = rc_call(&c, "GET", "/metrics", NULL, NULL, 0);
    it_assert_error(&c, s, 404, "no_route", "/metrics with metrics = false");
    rc_conn_free(&c);
}

/* Token buckets: per device after the token, per address for register,
 * challenge and token; 429 rate_limited with Retry-After: 1; /health never
 * limited. A burst of 2 and 1 request/s: of 10 back-to-back requests at
 * least 7 are refused unless they take over 7 s. */
Test(process, rate_limits)
{
    static const char *const flags[] = {"--rate",       "1", "--burst", "2", "--anon-rate", "1",
                                        "--anon-burst", "8", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device a;
    it_device(&c, &a, "caseworker"); /* register, challenge, token: 3 of 8 */
    int limited = 0;
    for (int i = 0; i < 10; i++) {
        long s = rc_call(&c, "GET", "/v1/prekeys", a.bearer, NULL, 0);
        if (s == 429) {
            it_assert_error(&c, s, 429, "rate_limited", "device rate limit");
            limited++;
        } else {
            cr_assert(s == 404 || s == 200, "GET /v1/prekeys: %ld", s);
        }
    }
    cr_assert_geq(limited, 7, "%d of 10 device requests limited", limited);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(rc_health(&c), 200, "/health is not rate limited");

    limited = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t nonce[32];
        long s = rc_challenge(&c, a.device_id, nonce, NULL);
        if (s == 429) {
            it_assert_error(&c, s, 429, "rate_limited", "address rate limit");
            limited++;
        } else {
            cr_assert_eq(s, 200, "challenge: %ld", s);
        }
    }
    cr_assert_geq(limited, 3, "%d of 10 challenges limited", limited);
    rc_device_free(&a);
    rc_conn_free(&c);
}
