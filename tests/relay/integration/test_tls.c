/* HTTPS (spec/relay-api.md 1): with --tls-cert and --tls-key the relay
 * serves TLS 1.2 and 1.3 only, with the configured certificate, and the
 * whole protocol works over it; plain HTTP on that port gets no answer,
 * and an unusable certificate or key stops the start. The certificate is
 * made for each test with the openssl command (scripts/deps.sh installs
 * it): EC P-256, self-signed, valid for 127.0.0.1 only, one day. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define OPENSSL_BIN "/usr/bin/openssl"

static char cert_dir[RC_PATH_MAX - 64];
static char cert[RC_PATH_MAX], key[RC_PATH_MAX];

static void tls_fini(void)
{
    it_fini();
    if (cert_dir[0] != '\0') {
        static const char *const names[] = {"cert.pem", "key.pem", "junk.pem", "other.pem"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char path[RC_PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", cert_dir, names[i]);
            unlink(path);
        }
        rmdir(cert_dir);
        cert_dir[0] = '\0';
    }
}

TestSuite(tls, .init = it_init_bare, .fini = tls_fini, .timeout = 120);

/* Runs `openssl ARGS...` in cert_dir; returns its exit status (or -1 when it
 * did not exit by itself within 30 s). */
static int run_openssl(const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = OPENSSL_BIN;
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char err[512] = "";
    int st = rc_run(cert_dir, argv, 30.0, NULL, 0, err, sizeof err);
    if (st < 0 || !WIFEXITED(st))
        return -1;
    if (WEXITSTATUS(st) != 0)
        cr_log_info("openssl %s: %s", args[0], err);
    return WEXITSTATUS(st);
}

/* A fresh key and self-signed certificate for 127.0.0.1 in cert_dir. */
static void make_cert(void)
{
    cr_assert_eq(access(OPENSSL_BIN, X_OK), 0, OPENSSL_BIN " is missing (scripts/deps.sh)");
    snprintf(cert_dir, sizeof cert_dir, "%s/secmsg-tls-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(cert_dir), "mkdtemp");
    snprintf(cert, sizeof cert, "%s/cert.pem", cert_dir);
    snprintf(key, sizeof key, "%s/key.pem", cert_dir);
    const char *args[] = {"req",
                          "-x509",
                          "-newkey",
                          "ec",
                          "-pkeyopt",
                          "ec_paramgen_curve:P-256",
                          "-nodes",
                          "-keyout",
                          key,
                          "-out",
                          cert,
                          "-days",
                          "1",
                          "-subj",
                          "/CN=secmsg test relay",
                          "-addext",
                          "subjectAltName=IP:127.0.0.1",
                          NULL};
    cr_assert_eq(run_openssl(args), 0, "openssl req made no certificate");
    cr_assert_eq(chmod(key, 0600), 0);
}

/* Starts it_relay with TLS and writes its https URL to url. */
static void start_tls(char *url, size_t cap)
{
    make_cert();
    const char *flags[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    it_start(flags);
    cr_assert_eq(strncmp(it_relay.url, "https://", 8), 0, "%s", it_relay.url);
    snprintf(url, cap, "%s", it_relay.url);
}

/* A connection to url that trusts only the test certificate. */
static void tls_conn(rc_conn *c, const char *url)
{
    cr_assert_eq(rc_conn_init(c, url), 0, "connection to %s", url);
    cr_assert_eq(rc_conn_set_ca(c, cert), 0);
}

/* Enrollment, authentication, send, fetch and acknowledgement, all over
 * TLS, on one kept-alive connection. */
Test(tls, whole_protocol_over_https)
{
    char url[RC_URL_MAX];
    start_tls(url, sizeof url);
    rc_conn c;
    tls_conn(&c, url);
    cr_assert_eq(rc_health(&c), 200, "GET /health over TLS: %s", c.error);
    cr_assert_eq(rc_health(&c), 200);
    cr_assert_eq(c.new_conns, 0, "the TLS connection is kept alive");

    rc_device a, b;
    it_device_on(&it_relay, &c, &a, "caseworker");
    it_device_on(&it_relay, &c, &b, "caseworker");
    const char text[] = "over TLS";
    rc_envelope e = {0};
    randombytes_buf(e.message_id, sizeof e.message_id);
    e.recipients = b.device_id;
    e.n_recipients = 1;
    e.content = (const uint8_t *)text;
    e.content_len = sizeof text - 1;
    uint32_t stored = 0;
    cr_assert_eq(rc_send(&c, &a, &e, 1, &stored), 200, "send over TLS: %s", c.error);
    cr_assert_eq(stored, 1);

    rc_fetched f = {0};
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 1);
    cr_assert_eq(f.d[0].content_len, sizeof text - 1);
    cr_assert_eq(memcmp(f.d[0].content, text, sizeof text - 1), 0, "content");
    cr_assert_eq(memcmp(f.d[0].sender, a.device_id, RC_ID_BYTES), 0, "sender");
    uint32_t deleted = 0;
    cr_assert_eq(rc_ack(&c, &b, &f.d[0].id, 1, &deleted), 200);
    cr_assert_eq(deleted, 1);
    rc_fetched_free(&f);
    cr_assert_eq(rc_fetch(&c, &b, 0, &f), 200);
    cr_assert_eq(f.n, 0, "the acknowledged message is gone");
    rc_fetched_free(&f);

    cr_assert_eq(rc_call(&c, "GET", "/metrics", NULL, NULL, 0), 200);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* The relay presents the configured certificate: a client that does not
 * trust it, or asks for a name the certificate does not hold, gets no
 * answer; plain HTTP on the TLS port gets none either, and the relay goes
 * on serving. */
Test(tls, certificate_and_plain_http)
{
    char url[RC_URL_MAX];
    start_tls(url, sizeof url);
    rc_conn c;

    cr_assert_eq(rc_conn_init(&c, url), 0);
    long s = rc_health(&c);
    cr_assert(s < 0, "a client trusting only the system's CAs got status %ld", s);
    cr_assert(strstr(c.error, "certificate") != NULL, "curl's error: %s", c.error);
    rc_conn_free(&c);

    char by_name[RC_URL_MAX];
    snprintf(by_name, sizeof by_name, "https://localhost:%u", it_relay.port);
    tls_conn(&c, by_name);
    s = rc_health(&c);
    cr_assert(s < 0, "the name localhost is not in the certificate, yet status %ld", s);
    rc_conn_free(&c);

    char plain[RC_URL_MAX];
    snprintf(plain, sizeof plain, "http://127.0.0.1:%u", it_relay.port);
    cr_assert_eq(rc_conn_init(&c, plain), 0);
    s = rc_health(&c);
    cr_assert(s < 0, "plain HTTP on the TLS port got status %ld", s);
    rc_conn_free(&c);

    tls_conn(&c, url);
    cr_assert_eq(rc_health(&c), 200, "still serving: %s", c.error);
    rc_conn_free(&c);
}

/* TLS 1.2 and 1.3 are served, 1.1 is refused. The client offers 1.1 at
 * OpenSSL's security level 0, where it can negotiate it with a server that
 * allows it. */
Test(tls, versions)
{
    char url[RC_URL_MAX];
    start_tls(url, sizeof url);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", it_relay.port);
    const char *v13[] = {"s_client", "-connect", addr, "-tls1_3", NULL};
    const char *v12[] = {"s_client", "-connect", addr, "-tls1_2", NULL};
    const char *v11[] = {"s_client", "-connect", addr, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0",
                         NULL};
    cr_assert_eq(run_openssl(v13), 0, "a TLS 1.3 handshake");
    cr_assert_eq(run_openssl(v12), 0, "a TLS 1.2 handshake");
    cr_assert_neq(run_openssl(v11), 0, "a TLS 1.1 handshake succeeded");
    rc_conn c;
    tls_conn(&c, url);
    cr_assert_eq(rc_health(&c), 200);
    rc_conn_free(&c);
}

/* A certificate that is not PEM, or a key that does not belong to the
 * certificate: the relay does not start (exit 1, nothing on stdout, the
 * reason on stderr). */
Test(tls, unusable_certificate_refuses_start)
{
    it_start(NULL); /* the dir, the database and the binary path */
    make_cert();
    char junk[RC_PATH_MAX + 16], other_key[RC_PATH_MAX + 16], db[RC_PATH_MAX + 16];
    snprintf(junk, sizeof junk, "%s/junk.pem", cert_dir);
    snprintf(other_key, sizeof other_key, "%s/other.pem", cert_dir);
    snprintf(db, sizeof db, "%s/other.db", it_relay.dir);
    FILE *f = fopen(junk, "w");
    cr_assert_not_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    const char *gen[] = {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-out",    other_key,    NULL};
    cr_assert_eq(run_openssl(gen), 0);
    cr_assert_eq(chmod(other_key, 0600), 0);

    struct {
        const char *cert, *key, *what;
    } cases[] = {
        {junk, key, "a certificate that is not PEM"},
        {cert, other_key, "a key that is not the certificate's"},
        {cert, junk, "a key that is not a key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"--listen",  "127.0.0.1",  "--port",     "0",          "--db",
                              db,          "--key-file", it_relay.key, "--tls-cert", cases[i].cert,
                              "--tls-key", cases[i].key, NULL};
        char out[256] = "", err[1024] = "";
        int st = it_run_relay(args, out, sizeof out, err, sizeof err);
        cr_assert_eq(st, 1, "%s: exit status %d", cases[i].what, st);
        cr_assert_str_eq(out, "", "%s: stdout", cases[i].what);
        cr_assert(strstr(err, "TLS") != NULL, "%s: stderr names no TLS problem: %s", cases[i].what,
                  err);
    }
    it_assert_healthy();
}
