#include "itest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

rc_relay it_relay;
rc_relay it_relay2;

static int inited;

static void global_init(void)
{
    if (!inited) {
        cr_assert_eq(rc_global_init(), 0, "secmsg / libcurl initialisation");
        inited = 1;
    }
    cr_assert_not_null(rc_relay_bin(), "SECMSG_RELAY_BIN is not set");
}

void it_init_bare(void)
{
    global_init();
    memset(&it_relay, 0, sizeof it_relay);
    memset(&it_relay2, 0, sizeof it_relay2);
}

void it_init_default(void)
{
    it_init_bare();
    it_start(NULL);
}

void it_fini(void)
{
    /* A relay still running must shut down cleanly on SIGTERM: exit 0
     * (under the sanitizers that includes no leak and no error report). */
    int running1 = it_relay.pid != 0, running2 = it_relay2.pid != 0;
    rc_relay_stop(&it_relay);
    rc_relay_stop(&it_relay2);
    cr_assert(!running1 ||
                  (WIFEXITED(it_relay.exit_status) && WEXITSTATUS(it_relay.exit_status) == 0),
              "the relay's exit status after SIGTERM: %d", it_relay.exit_status);
    cr_assert(!running2 ||
                  (WIFEXITED(it_relay2.exit_status) && WEXITSTATUS(it_relay2.exit_status) == 0),
              "the second relay's exit status after SIGTERM: %d", it_relay2.exit_status);
}

void it_start(const char *const *flags)
{
    const char *err = "";
    rc_relay_stop(&it_relay); /* one relay per test */
    int rc = rc_relay_start(&it_relay, rc_relay_bin(), flags, &err);
    cr_assert_eq(rc, 0, "starting secmsg-relay: %s", err);
}

void it_restart(void)
{
    const char *err = "";
    int rc = rc_relay_restart(&it_relay, &err);
    if (rc != 0) {
        char tail[2048];
        rc_relay_stderr_tail(&it_relay, tail, sizeof tail);
        cr_log_error("relay stderr:\n%s", tail);
    }
    cr_assert_eq(rc, 0, "restarting secmsg-relay: %s", err);
}

void it_conn(rc_conn *c)
{
    cr_assert_eq(rc_conn_init(c, it_relay.url), 0, "connection to %s", it_relay.url);
}

void it_user_id(char *out, size_t cap, const char *prefix)
{
    static unsigned n;
    snprintf(out, cap, "%s-%ld-%u", prefix, (long)getpid(), ++n);
}

void it_device_on(const rc_relay *r, rc_conn *c, rc_device *d, const char *role)
{
    char user[64];
    it_user_id(user, sizeof user, role);
    cr_assert_eq(rc_device_new(d), 0);
    long s = rc_enroll(r, c, d, role, user);
    cr_assert_eq(s, 0, "enrolling a %s device: %ld %s", role, s, c->error);
    cr_assert_str_eq(d->user_id, user, "the relay registered the token's user id");
}

void it_device(rc_conn *c, rc_device *d, const char *role)
{
    it_device_on(&it_relay, c, d, role);
}

void it_assert_error(const rc_conn *c, long got, long status, const char *reason, const char *what)
{
    uint32_t code = 0;
    char r[128] = "", h[128];
    int rc = rc_error(c, &code, r, sizeof r);
    cr_assert_eq(got, status, "%s: HTTP %ld, expected %ld (reason \"%s\")", what, got, status, r);
    cr_assert_eq(rc, 0, "%s: the %ld response has no valid Error body (code %u, reason \"%s\")",
                 what, got, code, r);
    if (reason)
        cr_assert_str_eq(r, reason, "%s: Error.reason \"%s\", expected \"%s\"", what, r, reason);
    /* Headers every error carries (spec/relay-api.md 2, 3). */
    cr_assert(strncmp(c->ctype, "application/x-protobuf", 22) == 0, "%s: error Content-Type \"%s\"",
              what, c->ctype);
    cr_assert(rc_header(c, "Cache-Control", h, sizeof h) == 0 && strstr(h, "no-store"),
              "%s: Cache-Control \"%s\"", what, h);
    if (status == 401)
        cr_assert(rc_header(c, "WWW-Authenticate", h, sizeof h) == 0 &&
                      strncasecmp(h, "Bearer", 6) == 0,
                  "%s: 401 without WWW-Authenticate: Bearer", what);
    if (status == 405)
        cr_assert(rc_header(c, "Allow", h, sizeof h) == 0 && h[0],
                  "%s: 405 without an Allow header", what);
    if (status == 429 || status == 503)
        cr_assert(rc_header(c, "Retry-After", h, sizeof h) == 0 && !strcmp(h, "1"),
                  "%s: %ld without Retry-After: 1", what, status);
}

void it_assert_healthy(void)
{
    rc_conn c;
    it_conn(&c);
    long s = rc_health(&c);
    cr_assert_eq(s, 200, "GET /health: %ld (%s)", s, c.error);
    rc_conn_free(&c);
}

double it_metric(rc_conn *c, const char *name)
{
    long s = rc_call(c, "GET", "/metrics", NULL, NULL, 0);
    cr_assert_eq(s, 200, "GET /metrics: %ld", s);
    size_t nl = strlen(name);
    for (const char *p = (const char *)c->body.data; p && *p;) {
        if (!strncmp(p, name, nl) && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        const char *e = strchr(p, '\n');
        p = e ? e + 1 : NULL;
    }
    cr_assert_fail("metric %s not found", name);
    return 0;
}

int it_run_relay(const char *const *args, char *out, size_t out_cap, char *err, size_t err_cap)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = it_relay.bin;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int st = rc_run(it_relay.dir, argv, 30.0, out, out_cap, err, err_cap);
    cr_assert(st >= 0 && WIFEXITED(st), "the relay did not exit by itself (status %d)", st);
    return WEXITSTATUS(st);
}
