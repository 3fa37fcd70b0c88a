/*
 * relay_client.c: see relay_client.h. Plain C on libcurl, libsodium,
 * protobuf-c and POSIX; no Criterion, so the load bench links it too.
 */
#include "relay_client.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relay.pb-c.h"
#include "secmsg.pb-c.h"
#include "session/internal.h"

#define CT_PROTO "application/x-protobuf"
#define REGISTER_CTX "secmsg relay register v1"
#define AUTH_CTX "secmsg relay auth v1"

/* ---- time ---- */

double rc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rc_sleep(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int rc_global_init(void)
{
    if (secmsg_init() != SECMSG_OK || sodium_init() < 0)
        return RC_E_SYSTEM;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return RC_E_SYSTEM;
    /* A relay killed mid-request must not kill the client with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* ---- buffers and helpers ---- */

int rc_buf_reserve(rc_buf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return RC_E_SYSTEM;
        b->data = d;
        b->cap = cap;
    }
    return 0;
}

int rc_buf_append(rc_buf *b, const void *p, size_t n)
{
    if (rc_buf_reserve(b, n) != 0)
        return RC_E_SYSTEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0; /* always NUL-terminated, for text bodies */
    return 0;
}

void rc_buf_free(rc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void rc_hex(char *out, const uint8_t *p, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

void rc_random(void *out, size_t n)
{
    randombytes_buf(out, n);
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd);
}

/* Reads at most cap-1 bytes of a file (from its end if tail), NUL-terminated. */
static size_t read_file(const char *path, char *buf, size_t cap, int tail)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (tail) {
        off_t end = lseek(fd, 0, SEEK_END);
        off_t start = end > (off_t)(cap - 1) ? end - (off_t)(cap - 1) : 0;
        lseek(fd, start, SEEK_SET);
    }
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = 0;
    close(fd);
    return got;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[2 * RC_PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(sub);
            else
                unlink(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---- processes ---- */

const char *rc_relay_bin(void)
{
    const char *b = getenv("SECMSG_RELAY_BIN");
    return b && *b ? b : NULL;
}

/*
 * fork + exec with stdout/stderr to files. Between fork and exec only
 * async-signal-safe calls: the parent may be multi-threaded.
 */
static pid_t spawn(const char *const *argv, const char *out_path, const char *err_path,
                   int die_with_parent)
{
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || err < 0 || null < 0) {
        if (out >= 0)
            close(out);
        if (err >= 0)
            close(err);
        if (null >= 0)
            close(null);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
        }
        dup2(null, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(out);
    close(err);
    close(null);
    return pid;
}

/* Waits for pid at most `seconds`; 1 and *status if it exited, 0 if not. */
static int wait_bounded(pid_t pid, double seconds, int *status)
{
    double end = rc_now() + seconds;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 1;
        if (w < 0 && errno != EINTR)
            return 1; /* not our child any more */
        if (rc_now() > end)
            return 0;
        rc_sleep(0.005);
    }
}

static int relay_launch(rc_relay *r, const char **err)
{
    const char *argv[16 + RC_MAX_EXTRA_ARGS];
    size_t n = 0;
    argv[n++] = r->bin;
    argv[n++] = "serve";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = "0";
    int tls = 0; /* --tls-cert among the extra flags: https, not plain HTTP */
    for (size_t i = 0; i < r->n_extra; i++)
        tls |= strcmp(r->extra[i], "--tls-cert") == 0;
    if (!tls)
        argv[n++] = "--insecure-loopback";
    argv[n++] = "--db";
    argv[n++] = r->db;
    argv[n++] = "--key-file";
    argv[n++] = r->key;
    for (size_t i = 0; i < r->n_extra; i++)
        argv[n++] = r->extra[i];
    argv[n] = NULL;

    r->starts++;
    snprintf(r->out_log, sizeof r->out_log, "%s/relay-%u.out", r->dir, r->starts);
    snprintf(r->err_log, sizeof r->err_log, "%s/relay-%u.err", r->dir, r->starts);
    pid_t pid = spawn(argv, r->out_log, r->err_log, 1);
    if (pid < 0) {
        *err = "cannot start the relay process";
        return RC_E_SYSTEM;
    }
    r->pid = pid;

    /* The first stdout line says where it listens; bounded wait. */
    const char *prefix = "listening on 127.0.0.1:";
    double end = rc_now() + 30.0;
    char line[512];
    for (;;) {
        read_file(r->out_log, line, sizeof line, 0);
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = 0;
            if (strncmp(line, prefix, strlen(prefix)) != 0) {
                *err = "the relay's first stdout line is not \"listening on 127.0.0.1:PORT\"";
                break;
            }
            char *endp = NULL;
            unsigned long port = strtoul(line + strlen(prefix), &endp, 10);
            if (port == 0 || port > 65535 || !endp || *endp != 0) {
                *err = "the relay printed an invalid port";
                break;
            }
            r->port = (unsigned)port;
            snprintf(r->url, sizeof r->url, "%s://127.0.0.1:%u", tls ? "https" : "http", r->port);
            return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            r->pid = 0;
            r->exit_status = status;
            *err = "the relay exited before listening (see its stderr)";
            return RC_E_SYSTEM;
        }
        if (rc_now() > end) {
            *err = "the relay did not print its port within 30 s";
            break;
        }
        rc_sleep(0.005);
    }
    kill(pid, SIGKILL);
    int status = -1;
    wait_bounded(pid, 15.0, &status);
    r->pid = 0;
    r->exit_status = status;
    return RC_E_SYSTEM;
}

int rc_relay_start(rc_relay *r, const char *bin, const char *const *extra_args, const char **err)
{
    const char *dummy;
    if (!err)
        err = &dummy;
    memset(r, 0, sizeof *r);
    r->exit_status = -1;
    if (!bin) {
        *err = "no relay executable (set SECMSG_RELAY_BIN)";
        return RC_E_ARG;
    }
    snprintf(r->bin, sizeof r->bin, "%s", bin);
    for (size_t i = 0; extra_args && extra_args[i]; i++) {
        if (r->n_extra == RC_MAX_EXTRA_ARGS) {
            *err = "too many extra relay flags";
            return RC_E_ARG;
        }
        snprintf(r->extra[r->n_extra++], sizeof r->extra[0], "%s", extra_args[i]);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(r->dir, sizeof r->dir, "%s/secmsg-relay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        r->dir[0] = 0;
        *err = "cannot create a temp dir";
        return RC_E_SYSTEM;
    }
    snprintf(r->db, sizeof r->db, "%s/relay.db", r->dir);
    snprintf(r->key, sizeof r->key, "%s/relay.key", r->dir);
    /* The database key: 32 random bytes as 64 hex digits and a newline. */
    uint8_t key[32];
    char hex[65 + 1];
    randombytes_buf(key, sizeof key);
    rc_hex(hex, key, sizeof key);
    strcat(hex, "\n");
    sodium_memzero(key, sizeof key);
    int w = write_file(r->key, hex, strlen(hex), 0600);
    sodium_memzero(hex, sizeof hex);
    if (w != 0) {
        *err = "cannot write the key file";
        rc_relay_stop(r);
        return RC_E_SYSTEM;
    }
    int rc = relay_launch(r, err);
    if (rc != 0) {
        char tail[2048];
        rc_relay_stderr_tail(r, tail, sizeof tail);
        fprintf(stderr, "relay stderr:\n%s\n", tail);
        rc_relay_stop(r); /* removes the dir: a failed start leaves nothing */
    }
    return rc;
}

int rc_relay_restart(rc_relay *r, const char **err)
{
    const char *dummy;
    if (!err)
        err = &dummy;
    if (r->pid)
        rc_relay_signal(r, SIGTERM);
    return relay_launch(r, err);
}

int rc_relay_signal(rc_relay *r, int sig)
{
    if (!r->pid)
        return -1;
    int status = -1;
    kill(r->pid, sig);
    if (!wait_bounded(r->pid, 15.0, &status)) {
        kill(r->pid, SIGKILL);
        wait_bounded(r->pid, 15.0, &status);
    }
    r->pid = 0;
    r->exit_status = status;
    return status;
}

void rc_relay_stop(rc_relay *r)
{
    if (r->pid)
        rc_relay_signal(r, SIGTERM);
    if (r->dir[0] && !getenv("SECMSG_ITEST_KEEP"))
        remove_tree(r->dir);
    r->dir[0] = 0;
}

void rc_relay_stderr_tail(const rc_relay *r, char *buf, size_t cap)
{
    read_file(r->err_log, buf, cap, 1);
}

/* The admin token's stdout line: exactly 43 characters of unpadded base64url. */
static int parse_token_text(const char *s, uint8_t token[RC_ENROLL_BYTES])
{
    size_t n = strlen(s), bin_len = 0;
    if (n != 43 ||
        sodium_base642bin(token, RC_ENROLL_BYTES, s, n, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        bin_len != RC_ENROLL_BYTES)
        return -1;
    return 0;
}

int rc_run(const char *dir, const char *const *argv, double timeout_s, char *out, size_t out_cap,
           char *err, size_t err_cap)
{
    static unsigned seq; /* distinct file names within one process */
    char out_path[RC_PATH_MAX + 64], err_path[RC_PATH_MAX + 64];
    unsigned k = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    snprintf(out_path, sizeof out_path, "%s/run-%ld-%u.out", dir, (long)getpid(), k);
    snprintf(err_path, sizeof err_path, "%s/run-%ld-%u.err", dir, (long)getpid(), k);
    pid_t pid = spawn(argv, out_path, err_path, 1);
    if (pid < 0)
        return RC_E_SYSTEM;
    int status = 0;
    if (!wait_bounded(pid, timeout_s, &status)) {
        kill(pid, SIGKILL);
        wait_bounded(pid, 15.0, &status);
    }
    if (out && out_cap)
        read_file(out_path, out, out_cap, 0);
    if (err && err_cap)
        read_file(err_path, err, err_cap, 1);
    unlink(out_path);
    unlink(err_path);
    return status;
}

int rc_admin_token(const rc_relay *r, const char *role, const char *user, long ttl,
                   uint8_t token[RC_ENROLL_BYTES])
{
    char ttl_s[32];
    const char *argv[20];
    size_t n = 0;
    argv[n++] = r->bin;
    argv[n++] = "admin";
    argv[n++] = "token";
    argv[n++] = "--db";
    argv[n++] = r->db;
    argv[n++] = "--key-file";
    argv[n++] = r->key;
    argv[n++] = "--role";
    argv[n++] = role;
    argv[n++] = "--user";
    argv[n++] = user;
    if (ttl > 0) {
        snprintf(ttl_s, sizeof ttl_s, "%ld", ttl);
        argv[n++] = "--ttl";
        argv[n++] = ttl_s;
    }
    argv[n] = NULL;
    char out[1024], err[1024];
    int status = rc_run(r->dir, argv, 60.0, out, sizeof out, err, sizeof err);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "secmsg-relay admin token failed (status %d): %s\n", status, err);
        return RC_E_SYSTEM;
    }
    /* The only stdout line is the token. */
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = 0;
    if (parse_token_text(out, token) != 0) {
        fprintf(stderr, "secmsg-relay admin token printed no token: %s\n", out);
        return RC_E_PARSE;
    }
    return 0;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    rc_conn *c = ud;
    return rc_buf_append(&c->body, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    rc_conn *c = ud;
    size_t len = size * n;
    if (rc_buf_append(&c->headers, p, len) != 0)
        return 0;
    const char *name = "content-type:";
    size_t nl = strlen(name);
    if (len > nl && strncasecmp(p, name, nl) == 0) {
        size_t i = nl;
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        size_t j = len;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
            j--;
        size_t m = j - i < sizeof c->ctype - 1 ? j - i : sizeof c->ctype - 1;
        memcpy(c->ctype, p + i, m);
        c->ctype[m] = 0;
    }
    return len;
}

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    reader *r = ud;
    size_t m = size * n < r->left ? size * n : r->left;
    /* Small pieces, so the body really goes out in several chunks. */
    if (m > 4096)
        m = 4096;
    memcpy(buf, r->p, m);
    r->p += m;
    r->left -= m;
    return m;
}

int rc_conn_init(rc_conn *c, const char *url)
{
    memset(c, 0, sizeof *c);
    const char *host = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    if (host == NULL ||
        (strncmp(host, "127.0.0.1:", 10) != 0 && strncmp(host, "localhost:", 10) != 0))
        return RC_E_ARG;
    if (strlen(url) >= sizeof c->url)
        return RC_E_ARG;
    snprintf(c->url, sizeof c->url, "%s", url);
    c->curl = curl_easy_init();
    return c->curl ? 0 : RC_E_SYSTEM;
}

int rc_conn_set_ca(rc_conn *c, const char *path)
{
    if (path == NULL || strlen(path) >= sizeof c->ca_file)
        return RC_E_ARG;
    snprintf(c->ca_file, sizeof c->ca_file, "%s", path);
    return 0;
}

void rc_conn_free(rc_conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    rc_buf_free(&c->body);
    rc_buf_free(&c->headers);
}

int rc_header(const rc_conn *c, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = c->headers.data ? (const char *)c->headers.data : "";
    const char *end = p + c->headers.len;
    /* The last header block only (after a 100 Continue there are two). */
    for (const char *q = p; end - q > 4; q++)
        if (!strncmp(q, "\r\n\r\n", 4))
            p = q + 4;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t m = (size_t)(ve - v) < cap - 1 ? (size_t)(ve - v) : cap - 1;
            memcpy(out, v, m);
            out[m] = 0;
            return 0;
        }
        p = eol + 1;
    }
    if (cap)
        out[0] = 0;
    return -1;
}

long rc_request(rc_conn *c, const rc_req *q)
{
    CURL *h = c->curl;
    char url[RC_URL_MAX + 512];
    char auth[RC_BEARER_MAX + 600];
    char ct[128];
    struct curl_slist *hdr = NULL;
    reader rd = {q->body, q->len};

    snprintf(url, sizeof url, "%s%s", c->url, q->path);
    c->body.len = 0;
    c->headers.len = 0;
    c->new_conns = 0;
    c->ctype[0] = 0;
    c->status = 0;
    c->error[0] = 0;

    /* reset keeps the live connection: every request is keep-alive. */
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, q->timeout_s > 0 ? q->timeout_s : 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->error);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);

    hdr = curl_slist_append(hdr, "Expect:");
    if (q->auth_raw) {
        snprintf(auth, sizeof auth, "Authorization: %s", q->auth_raw);
        hdr = curl_slist_append(hdr, auth);
    } else if (q->bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->bearer);
        hdr = curl_slist_append(hdr, auth);
    }
    if (q->has_body) {
        const char *ctype = q->ctype ? q->ctype : CT_PROTO;
        if (*ctype) {
            snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
            hdr = curl_slist_append(hdr, ct);
        } else {
            hdr = curl_slist_append(hdr, "Content-Type:");
        }
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (q->chunked) {
            hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &rd);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->len ? q->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
        }
        if (strcmp(q->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (strcmp(q->method, "GET") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);

    CURLcode rc = curl_easy_perform(h);
    long status = RC_E_TRANSPORT;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &c->new_conns);
        c->status = status;
    } else if (!c->error[0]) {
        snprintf(c->error, sizeof c->error, "%s", curl_easy_strerror(rc));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    return status;
}

long rc_call(rc_conn *c, const char *method, const char *path, const char *bearer, const void *body,
             size_t len)
{
    rc_req q = {0};
    q.method = method;
    q.path = path;
    q.bearer = bearer && *bearer ? bearer : NULL;
    q.body = body;
    q.len = len;
    q.has_body = body != NULL;
    return rc_request(c, &q);
}

int rc_error(const rc_conn *c, uint32_t *code, char *reason, size_t reason_cap)
{
    Secmsg__Relay__Error *e = secmsg__relay__error__unpack(NULL, c->body.len, c->body.data);
    if (!e)
        return RC_E_PARSE;
    int ok = e->has_code && (long)e->code == c->status && e->reason && e->reason[0];
    if (code)
        *code = e->has_code ? e->code : 0;
    if (reason && reason_cap)
        snprintf(reason, reason_cap, "%s", e->reason ? e->reason : "");
    secmsg__relay__error__free_unpacked(e, NULL);
    return ok ? 0 : RC_E_PARSE;
}

long rc_health(rc_conn *c)
{
    return rc_call(c, "GET", "/health", NULL, NULL, 0);
}

static int is_2xx(long s)
{
    return s >= 200 && s < 300;
}

/* Packs a protobuf-c message into a malloc'd buffer. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return NULL;
    *len = protobuf_c_message_pack(m, p);
    return p;
}

static long call_msg(rc_conn *c, const char *method, const char *path, const char *bearer,
                     const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *body = pack(m, &len);
    if (!body)
        return RC_E_SYSTEM;
    long s = rc_call(c, method, path, bearer, body, len);
    free(body);
    return s;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b;
    b.data = (uint8_t *)(uintptr_t)p; /* pack only reads */
    b.len = n;
    return b;
}

/* ---- devices ---- */

int rc_device_new(rc_device *d)
{
    memset(d, 0, sizeof *d);
    if (secmsg_identity_generate(&d->id) != SECMSG_OK)
        return RC_E_SYSTEM;
    if (secmsg_identity_public(d->id, d->pub, sizeof d->pub, &d->pub_len) != SECMSG_OK) {
        rc_device_free(d);
        return RC_E_SYSTEM;
    }
    memcpy(d->device_id, d->id->pub.sign_pub, RC_ID_BYTES);
    return 0;
}

void rc_device_free(rc_device *d)
{
    secmsg_identity_free(d->id);
    secmsg_prekeys_free(d->prekeys);
    sodium_memzero(d, sizeof *d);
}

static void sign_parts(const rc_device *d, uint8_t sig[RC_SIG_BYTES], const char *ctx,
                       const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t ctx_len = strlen(ctx);
    size_t n = ctx_len + a_len + b_len;
    uint8_t *m = malloc(n);
    if (!m) {
        memset(sig, 0, RC_SIG_BYTES);
        return;
    }
    memcpy(m, ctx, ctx_len);
    memcpy(m + ctx_len, a, a_len);
    memcpy(m + ctx_len + a_len, b, b_len);
    crypto_sign_detached(sig, NULL, m, n, d->id->sign_sk);
    free(m);
}

void rc_register_sig(const rc_device *d, const uint8_t *token, size_t token_len,
                     uint8_t sig[RC_SIG_BYTES])
{
    sign_parts(d, sig, REGISTER_CTX, token, token_len, d->pub, d->pub_len);
}

void rc_auth_sig(const rc_device *d, const uint8_t *nonce, size_t nonce_len,
                 uint8_t sig[RC_SIG_BYTES])
{
    sign_parts(d, sig, AUTH_CTX, nonce, nonce_len, d->device_id, RC_ID_BYTES);
}

long rc_register_raw(rc_conn *c, const uint8_t *token, size_t token_len, const uint8_t *identity,
                     size_t identity_len, const uint8_t *sig, size_t sig_len)
{
    Secmsg__Relay__RegisterRequest m = SECMSG__RELAY__REGISTER_REQUEST__INIT;
    if (token) {
        m.has_token = 1;
        m.token = bin(token, token_len);
    }
    if (identity) {
        m.has_identity = 1;
        m.identity = bin(identity, identity_len);
    }
    if (sig) {
        m.has_sig = 1;
        m.sig = bin(sig, sig_len);
    }
    return call_msg(c, "POST", "/v1/register", NULL, &m.base);
}

long rc_register(rc_conn *c, rc_device *d, const uint8_t token[RC_ENROLL_BYTES])
{
    uint8_t sig[RC_SIG_BYTES];
    rc_register_sig(d, token, RC_ENROLL_BYTES, sig);
    long s = rc_register_raw(c, token, RC_ENROLL_BYTES, d->pub, d->pub_len, sig, sizeof sig);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__RegisterResponse *r =
        secmsg__relay__register_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    int ok = r->has_device_id && r->device_id.len == RC_ID_BYTES &&
             memcmp(r->device_id.data, d->device_id, RC_ID_BYTES) == 0;
    if (r->user_id)
        snprintf(d->user_id, sizeof d->user_id, "%s", r->user_id);
    d->role = r->has_role ? r->role : 0;
    secmsg__relay__register_response__free_unpacked(r, NULL);
    return ok ? s : RC_E_PARSE;
}

long rc_challenge(rc_conn *c, const uint8_t device_id[RC_ID_BYTES], uint8_t nonce[RC_NONCE_BYTES],
                  uint64_t *expires)
{
    Secmsg__Relay__ChallengeRequest m = SECMSG__RELAY__CHALLENGE_REQUEST__INIT;
    m.has_device_id = 1;
    m.device_id = bin(device_id, RC_ID_BYTES);
    long s = call_msg(c, "POST", "/v1/auth/challenge", NULL, &m.base);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__ChallengeResponse *r =
        secmsg__relay__challenge_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    int ok = r->has_nonce && r->nonce.len == RC_NONCE_BYTES;
    if (ok)
        memcpy(nonce, r->nonce.data, RC_NONCE_BYTES);
    if (expires)
        *expires = r->has_expires ? r->expires : 0;
    secmsg__relay__challenge_response__free_unpacked(r, NULL);
    return ok ? s : RC_E_PARSE;
}

long rc_token(rc_conn *c, rc_device *d, const uint8_t *nonce, size_t nonce_len, const uint8_t *sig,
              size_t sig_len)
{
    Secmsg__Relay__TokenRequest m = SECMSG__RELAY__TOKEN_REQUEST__INIT;
    m.has_device_id = 1;
    m.device_id = bin(d->device_id, RC_ID_BYTES);
    m.has_nonce = 1;
    m.nonce = bin(nonce, nonce_len);
    m.has_sig = 1;
    m.sig = bin(sig, sig_len);
    long s = call_msg(c, "POST", "/v1/auth/token", NULL, &m.base);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__TokenResponse *r =
        secmsg__relay__token_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    int ok = r->has_token && r->token.len > 0 && r->token.len <= sizeof d->token;
    if (ok) {
        memcpy(d->token, r->token.data, r->token.len);
        d->token_len = r->token.len;
        d->token_expires = r->has_expires ? r->expires : 0;
        sodium_bin2base64(d->bearer, sizeof d->bearer, d->token, d->token_len,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    secmsg__relay__token_response__free_unpacked(r, NULL);
    return ok ? s : RC_E_PARSE;
}

long rc_auth(rc_conn *c, rc_device *d)
{
    uint8_t nonce[RC_NONCE_BYTES], sig[RC_SIG_BYTES];
    long s = rc_challenge(c, d->device_id, nonce, NULL);
    if (!is_2xx(s))
        return s;
    rc_auth_sig(d, nonce, sizeof nonce, sig);
    return rc_token(c, d, nonce, sizeof nonce, sig, sizeof sig);
}

long rc_enroll(const rc_relay *r, rc_conn *c, rc_device *d, const char *role, const char *user)
{
    uint8_t token[RC_ENROLL_BYTES];
    int rc = rc_admin_token(r, role, user, 0, token);
    if (rc != 0)
        return rc;
    long s = rc_register(c, d, token);
    if (!is_2xx(s))
        return s;
    s = rc_auth(c, d);
    return is_2xx(s) ? 0 : s;
}

long rc_invite(rc_conn *c, const rc_device *cw, const char *user, uint32_t ttl,
               uint8_t token[RC_ENROLL_BYTES])
{
    Secmsg__Relay__InviteRequest m = SECMSG__RELAY__INVITE_REQUEST__INIT;
    m.user_id = (char *)(uintptr_t)user;
    if (ttl) {
        m.has_ttl_seconds = 1;
        m.ttl_seconds = ttl;
    }
    long s = call_msg(c, "POST", "/v1/invites", cw->bearer, &m.base);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__InviteResponse *r =
        secmsg__relay__invite_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    int ok = r->has_token && r->token.len == RC_ENROLL_BYTES;
    if (ok)
        memcpy(token, r->token.data, RC_ENROLL_BYTES);
    secmsg__relay__invite_response__free_unpacked(r, NULL);
    return ok ? s : RC_E_PARSE;
}

/* ---- prekeys ---- */

static long parse_prekey_status(const rc_conn *c, long s, uint32_t *stored, int *low)
{
    Secmsg__Relay__PrekeyStatus *r =
        secmsg__relay__prekey_status__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    if (stored)
        *stored = r->has_one_time_prekeys ? r->one_time_prekeys : 0;
    if (low)
        *low = r->has_low && r->low;
    secmsg__relay__prekey_status__free_unpacked(r, NULL);
    return s;
}

long rc_prekeys_publish(rc_conn *c, rc_device *d, uint32_t n_otk, uint32_t *stored)
{
    if (!d->prekeys) {
        if (secmsg_prekeys_new(&d->prekeys, d->id, 1) != SECMSG_OK)
            return RC_E_SYSTEM;
    }
    uint32_t first = 0;
    if (n_otk && secmsg_prekeys_generate(d->prekeys, n_otk, &first) != SECMSG_OK)
        return RC_E_SYSTEM;

    /* The serialized SignedPrekey, taken from a bundle (public API). */
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t bundle_len = 0;
    if (secmsg_prekeys_bundle(d->prekeys, d->id, 0, bundle, sizeof bundle, &bundle_len) !=
        SECMSG_OK)
        return RC_E_SYSTEM;
    Secmsg__Wire__PrekeyBundle *b = secmsg__wire__prekey_bundle__unpack(NULL, bundle_len, bundle);
    if (!b || !b->signed_prekey) {
        if (b)
            secmsg__wire__prekey_bundle__free_unpacked(b, NULL);
        return RC_E_SYSTEM;
    }
    size_t spk_len;
    uint8_t *spk = pack(&b->signed_prekey->base, &spk_len);
    secmsg__wire__prekey_bundle__free_unpacked(b, NULL);
    if (!spk)
        return RC_E_SYSTEM;

    /* The new one-time prekeys: ids first..first+n_otk-1. */
    Secmsg__Relay__OneTimePrekeyPublic *otk = calloc(n_otk ? n_otk : 1, sizeof *otk);
    Secmsg__Relay__OneTimePrekeyPublic **otkp = calloc(n_otk ? n_otk : 1, sizeof *otkp);
    if (!otk || !otkp) {
        free(otk);
        free(otkp);
        free(spk);
        return RC_E_SYSTEM;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < d->prekeys->n_otk; i++) {
        const secmsg__prekey *p = &d->prekeys->otk[i];
        if (p->id < first || p->id >= first + n_otk)
            continue;
        secmsg__relay__one_time_prekey_public__init(&otk[k]);
        otk[k].has_id = 1;
        otk[k].id = p->id;
        otk[k].has_pub = 1;
        otk[k].pub = bin(p->pub, sizeof p->pub);
        otkp[k] = &otk[k];
        k++;
    }
    Secmsg__Relay__PrekeyUpload m = SECMSG__RELAY__PREKEY_UPLOAD__INIT;
    m.has_signed_prekey = 1;
    m.signed_prekey = bin(spk, spk_len);
    m.n_one_time_prekeys = k;
    m.one_time_prekeys = otkp;
    long s = call_msg(c, "PUT", "/v1/prekeys", d->bearer, &m.base);
    free(otk);
    free(otkp);
    free(spk);
    if (!is_2xx(s))
        return s;
    return parse_prekey_status(c, s, stored, NULL);
}

long rc_prekeys_status(rc_conn *c, const rc_device *d, uint32_t *stored, int *low)
{
    long s = rc_call(c, "GET", "/v1/prekeys", d->bearer, NULL, 0);
    if (!is_2xx(s))
        return s;
    return parse_prekey_status(c, s, stored, low);
}

long rc_claim(rc_conn *c, const rc_device *d, const uint8_t target[RC_ID_BYTES], uint8_t *out,
              size_t cap, size_t *out_len, uint32_t *otk_id)
{
    Secmsg__Relay__ClaimRequest m = SECMSG__RELAY__CLAIM_REQUEST__INIT;
    m.has_device_id = 1;
    m.device_id = bin(target, RC_ID_BYTES);
    long s = call_msg(c, "POST", "/v1/prekeys/claim", d->bearer, &m.base);
    if (!is_2xx(s))
        return s;
    if (c->body.len > cap)
        return RC_E_PARSE;
    memcpy(out, c->body.data, c->body.len);
    *out_len = c->body.len;
    Secmsg__Wire__PrekeyBundle *b =
        secmsg__wire__prekey_bundle__unpack(NULL, c->body.len, c->body.data);
    if (!b)
        return RC_E_PARSE;
    *otk_id = b->one_time_prekey && b->one_time_prekey->has_id ? b->one_time_prekey->id : 0;
    secmsg__wire__prekey_bundle__free_unpacked(b, NULL);
    return s;
}

/* ---- messages ---- */

int rc_encode_send(rc_buf *out, const rc_envelope *env, size_t n)
{
    size_t total_r = 0, total_b = 0;
    for (size_t i = 0; i < n; i++) {
        total_r += env[i].n_recipients;
        total_b += env[i].n_blobs;
    }
    Secmsg__Relay__Envelope *e = calloc(n ? n : 1, sizeof *e);
    Secmsg__Relay__Envelope **ep = calloc(n ? n : 1, sizeof *ep);
    ProtobufCBinaryData *rb = calloc(total_r ? total_r : 1, sizeof *rb);
    ProtobufCBinaryData *bb = calloc(total_b ? total_b : 1, sizeof *bb);
    int rc = RC_E_SYSTEM;
    if (!e || !ep || !rb || !bb)
        goto out;
    size_t ri = 0, bi = 0;
    for (size_t i = 0; i < n; i++) {
        secmsg__relay__envelope__init(&e[i]);
        e[i].has_message_id = 1;
        e[i].message_id = bin(env[i].message_id, RC_MSGID_BYTES);
        e[i].n_recipients = env[i].n_recipients;
        e[i].recipients = rb + ri;
        for (size_t j = 0; j < env[i].n_recipients; j++)
            rb[ri++] = bin(env[i].recipients + j * RC_ID_BYTES, RC_ID_BYTES);
        e[i].has_content = 1;
        e[i].content = bin(env[i].content, env[i].content_len);
        e[i].n_blob_ids = env[i].n_blobs;
        e[i].blob_ids = bb + bi;
        for (size_t j = 0; j < env[i].n_blobs; j++)
            bb[bi++] = bin(env[i].blob_ids + j * RC_BLOB_ID_BYTES, RC_BLOB_ID_BYTES);
        ep[i] = &e[i];
    }
    Secmsg__Relay__SendRequest m = SECMSG__RELAY__SEND_REQUEST__INIT;
    m.n_envelopes = n;
    m.envelopes = ep;
    size_t len = secmsg__relay__send_request__get_packed_size(&m);
    out->len = 0;
    if (rc_buf_reserve(out, len) != 0)
        goto out;
    out->len = secmsg__relay__send_request__pack(&m, out->data);
    rc = 0;
out:
    free(e);
    free(ep);
    free(rb);
    free(bb);
    return rc;
}

long rc_send(rc_conn *c, const rc_device *d, const rc_envelope *env, size_t n, uint32_t *stored)
{
    rc_buf body = {0};
    if (rc_encode_send(&body, env, n) != 0)
        return RC_E_SYSTEM;
    long s = rc_call(c, "POST", "/v1/messages", d->bearer, body.data, body.len);
    rc_buf_free(&body);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__SendResponse *r =
        secmsg__relay__send_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    if (stored)
        *stored = r->has_stored ? r->stored : 0;
    secmsg__relay__send_response__free_unpacked(r, NULL);
    return s;
}

void rc_fetched_free(rc_fetched *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->d[i].content);
        free(f->d[i].blob_ids);
    }
    free(f->d);
    memset(f, 0, sizeof *f);
}

/* The FetchResponse of a 2xx (status s) into out. */
static long parse_fetched(rc_conn *c, long s, rc_fetched *out)
{
    Secmsg__Relay__FetchResponse *r =
        secmsg__relay__fetch_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    long ret = s;
    out->more = r->has_more && r->more;
    if (r->prekeys) {
        out->has_prekeys = 1;
        out->prekeys = r->prekeys->has_one_time_prekeys ? r->prekeys->one_time_prekeys : 0;
    }
    out->d = calloc(r->n_deliveries ? r->n_deliveries : 1, sizeof *out->d);
    if (!out->d) {
        ret = RC_E_SYSTEM;
        goto out;
    }
    for (size_t i = 0; i < r->n_deliveries; i++) {
        const Secmsg__Relay__Delivery *x = r->deliveries[i];
        rc_delivery *y = &out->d[i];
        out->n = i + 1;
        if (!x->has_id || !x->has_sender || x->sender.len != RC_ID_BYTES || !x->has_message_id ||
            x->message_id.len != RC_MSGID_BYTES) {
            ret = RC_E_PARSE;
            goto out;
        }
        y->id = x->id;
        memcpy(y->sender, x->sender.data, RC_ID_BYTES);
        memcpy(y->message_id, x->message_id.data, RC_MSGID_BYTES);
        y->received = x->has_received ? x->received : 0;
        y->content_len = x->has_content ? x->content.len : 0;
        y->content = malloc(y->content_len ? y->content_len : 1);
        y->blob_ids = calloc(x->n_blob_ids ? x->n_blob_ids : 1, RC_BLOB_ID_BYTES);
        if (!y->content || !y->blob_ids) {
            ret = RC_E_SYSTEM;
            goto out;
        }
        if (y->content_len)
            memcpy(y->content, x->content.data, y->content_len);
        for (size_t j = 0; j < x->n_blob_ids; j++) {
            if (x->blob_ids[j].len != RC_BLOB_ID_BYTES) {
                ret = RC_E_PARSE;
                goto out;
            }
            memcpy(y->blob_ids[j], x->blob_ids[j].data, RC_BLOB_ID_BYTES);
        }
        y->n_blobs = x->n_blob_ids;
    }
out:
    secmsg__relay__fetch_response__free_unpacked(r, NULL);
    if (ret != s)
        rc_fetched_free(out);
    return ret;
}

long rc_fetch(rc_conn *c, const rc_device *d, unsigned wait, rc_fetched *out)
{
    memset(out, 0, sizeof *out);
    char path[64];
    rc_req q = {0};
    if (wait)
        snprintf(path, sizeof path, "/v1/messages?wait=%u", wait);
    else
        snprintf(path, sizeof path, "/v1/messages");
    q.method = "GET";
    q.path = path;
    q.bearer = d->bearer;
    q.timeout_s = (long)wait + 30;
    long s = rc_request(c, &q);
    if (!is_2xx(s))
        return s;
    return parse_fetched(c, s, out);
}

long rc_fetch_ack(rc_conn *c, const rc_device *d, const uint64_t *ids, size_t n, unsigned wait,
                  rc_fetched *out)
{
    memset(out, 0, sizeof *out);
    Secmsg__Relay__FetchRequest m = SECMSG__RELAY__FETCH_REQUEST__INIT;
    m.n_ack_ids = n;
    m.ack_ids = (uint64_t *)(uintptr_t)ids;
    m.has_wait = wait != 0;
    m.wait = wait;
    size_t len;
    uint8_t *body = pack(&m.base, &len);
    if (!body)
        return RC_E_SYSTEM;
    rc_req q = {0};
    q.method = "POST";
    q.path = "/v1/messages/fetch";
    q.bearer = d->bearer;
    q.body = body;
    q.len = len;
    q.has_body = 1;
    q.timeout_s = (long)wait + 30;
    long s = rc_request(c, &q);
    free(body);
    if (!is_2xx(s))
        return s;
    return parse_fetched(c, s, out);
}

long rc_ack(rc_conn *c, const rc_device *d, const uint64_t *ids, size_t n, uint32_t *deleted)
{
    Secmsg__Relay__AckRequest m = SECMSG__RELAY__ACK_REQUEST__INIT;
    m.n_ids = n;
    m.ids = (uint64_t *)(uintptr_t)ids;
    long s = call_msg(c, "POST", "/v1/messages/ack", d->bearer, &m.base);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__AckResponse *r =
        secmsg__relay__ack_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    if (deleted)
        *deleted = r->has_deleted ? r->deleted : 0;
    secmsg__relay__ack_response__free_unpacked(r, NULL);
    return s;
}

/* ---- blobs ---- */

long rc_blob_put(rc_conn *c, const rc_device *d, const void *data, size_t len,
                 uint8_t blob_id[RC_BLOB_ID_BYTES])
{
    rc_req q = {0};
    q.method = "POST";
    q.path = "/v1/blobs";
    q.bearer = d->bearer;
    q.ctype = "application/octet-stream";
    q.body = data;
    q.len = len;
    q.has_body = 1;
    q.timeout_s = 120;
    long s = rc_request(c, &q);
    if (!is_2xx(s))
        return s;
    Secmsg__Relay__BlobResponse *r =
        secmsg__relay__blob_response__unpack(NULL, c->body.len, c->body.data);
    if (!r)
        return RC_E_PARSE;
    int ok =
        r->has_blob_id && r->blob_id.len == RC_BLOB_ID_BYTES && (!r->has_size || r->size == len);
    if (ok)
        memcpy(blob_id, r->blob_id.data, RC_BLOB_ID_BYTES);
    secmsg__relay__blob_response__free_unpacked(r, NULL);
    return ok ? s : RC_E_PARSE;
}

long rc_blob_get(rc_conn *c, const rc_device *d, const uint8_t blob_id[RC_BLOB_ID_BYTES])
{
    char path[64], hex[2 * RC_BLOB_ID_BYTES + 1];
    rc_hex(hex, blob_id, RC_BLOB_ID_BYTES);
    snprintf(path, sizeof path, "/v1/blobs/%s", hex);
    rc_req q = {0};
    q.method = "GET";
    q.path = path;
    q.bearer = d->bearer;
    q.timeout_s = 120;
    return rc_request(c, &q);
}
