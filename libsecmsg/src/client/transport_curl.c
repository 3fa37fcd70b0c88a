/*
 * The default transport (secmsg_transport_fn) over libcurl: see
 * relay_client.h. It makes exactly the request it is given and reports
 * the status and body; deciding what they mean is the relay client's job.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/relay_client.h"

#define CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_TIMEOUT_MS 30000L
/* Long polls idle on their connection; keepalive probes keep NAT state. */
#define KEEPALIVE_IDLE_S 30L
#define KEEPALIVE_INTERVAL_S 15L
#define HEADER_MAX 256U

struct secmsg__curl_ctx {
    CURL *h;
};

/*
 * curl_global_init() is not safe to race with itself or with handles
 * being created, so it runs exactly once, on first use, whichever thread
 * gets there first. (The library never calls curl_global_cleanup: it
 * cannot know that the application does not use libcurl too.)
 */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int curl_ready(void)
{
    return pthread_once(&curl_once, curl_init_once) == 0 && curl_init_result == CURLE_OK;
}

int secmsg__curl_ctx_new(secmsg__curl_ctx **out)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (!curl_ready())
        return SECMSG_E_INIT;
    secmsg__curl_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return SECMSG_E_NOMEM;
    c->h = curl_easy_init();
    if (c->h == NULL) {
        free(c);
        return SECMSG_E_NOMEM;
    }
    *out = c;
    return SECMSG_OK;
}

void secmsg__curl_ctx_free(secmsg__curl_ctx *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->h);
    free(c);
}

/* The response body goes straight into the caller's buffer, never past it. */
typedef struct sink {
    uint8_t *buf;
    size_t cap;
    size_t len;
} sink;

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb; /* size is always 1 (CURLOPT_WRITEFUNCTION) */
    if (n == 0)
        return 0;
    if (n > s->cap - s->len)
        return 0; /* a short count aborts the transfer: CURLE_WRITE_ERROR */
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

/* A header value must not be able to end its line (no CR, LF or other controls). */
static int header_value_ok(const char *v)
{
    for (; *v != '\0'; v++)
        if ((unsigned char)*v < 0x20U || (unsigned char)*v > 0x7eU)
            return 0;
    return 1;
}

/* Appends "name: value" to *list; 0 on failure. The line buffer is wiped
 * (it may hold the bearer token); libcurl keeps its own copy. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[HEADER_MAX];
    if (!header_value_ok(value))
        return 0;
    /* "Name:" with nothing after the colon tells libcurl not to send its own. */
    int n = snprintf(line, sizeof line, "%s:%s%s", name, value[0] != '\0' ? " " : "", value);
    int ok = 0;
    if (n > 0 && (size_t)n < sizeof line) {
        struct curl_slist *l = curl_slist_append(*list, line);
        if (l != NULL) {
            *list = l;
            ok = 1;
        }
    }
    sodium_memzero(line, sizeof line);
    return ok;
}

#define SETOPT(h, opt, val) (curl_easy_setopt((h), (opt), (val)) == CURLE_OK)

static int set_method(CURL *h, const secmsg_http_request *req)
{
    static const char empty[] = "";
    const char *body = req->body_len > 0 ? (const char *)req->body : empty;
    if (strcmp(req->method, "GET") == 0)
        return req->body_len == 0 && SETOPT(h, CURLOPT_HTTPGET, 1L);
    if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0)
        return 0;
    /* POSTFIELDS sends the body with a Content-Length (never chunked,
     * which the relay refuses); for PUT only the method name changes. */
    return SETOPT(h, CURLOPT_POST, 1L) && SETOPT(h, CURLOPT_POSTFIELDS, body) &&
           SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) &&
           (strcmp(req->method, "PUT") != 0 || SETOPT(h, CURLOPT_CUSTOMREQUEST, "PUT"));
}

static int set_options(CURL *h, const secmsg_http_request *req, sink *s, struct curl_slist *headers)
{
    long timeout = req->timeout_ms > 0 ? (long)req->timeout_ms : DEFAULT_TIMEOUT_MS;
    return SETOPT(h, CURLOPT_URL, req->url) &&
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
           SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https") &&
           SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") &&
#else
           SETOPT(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) &&
           SETOPT(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) &&
#endif
           SETOPT(h, CURLOPT_NOSIGNAL, 1L) && SETOPT(h, CURLOPT_TIMEOUT_MS, timeout) &&
           SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) &&
           SETOPT(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) &&
           SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L) && SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L) &&
           SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L) &&
           SETOPT(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) &&
           SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L) &&
           SETOPT(h, CURLOPT_TCP_KEEPIDLE, KEEPALIVE_IDLE_S) &&
           SETOPT(h, CURLOPT_TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S) &&
           SETOPT(h, CURLOPT_USERAGENT, "libsecmsg") &&
           SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->cap) &&
           SETOPT(h, CURLOPT_WRITEFUNCTION, on_write) && SETOPT(h, CURLOPT_WRITEDATA, s) &&
           SETOPT(h, CURLOPT_HTTPHEADER, headers) && set_method(h, req);
}

int secmsg__transport_curl(void *ctx, const secmsg_http_request *req, int *status, uint8_t *resp,
                           size_t resp_cap, size_t *resp_len)
{
    secmsg__curl_ctx *c = ctx;
    struct curl_slist *headers = NULL;
    CURL *h = NULL;
    sink s = {resp, resp_cap, 0};
    long code = 0;
    int ret = -1;

    if (status != NULL)
        *status = 0;
    if (resp_len != NULL)
        *resp_len = 0;
    if (req == NULL || req->method == NULL || req->url == NULL || status == NULL ||
        resp_len == NULL || (resp == NULL && resp_cap > 0) ||
        (req->body == NULL && req->body_len > 0) ||
        (req->body_len > 0 && req->content_type == NULL) || !curl_ready())
        return -1;

    if (c != NULL) {
        /* Options go back to the defaults; the connection cache stays. */
        h = c->h;
        curl_easy_reset(h);
    } else if ((h = curl_easy_init()) == NULL) {
        return -1;
    }

    /* "Expect:" turns off 100-continue: bodies are small, and a relay that
     * refuses one from the headers answers at once anyway. A request with
     * no content type gets none (libcurl would add a form type to POSTs). */
    if ((req->authorization != NULL &&
         !add_header(&headers, "Authorization", req->authorization)) ||
        !add_header(&headers, "Content-Type", req->content_type ? req->content_type : "") ||
        !add_header(&headers, "Expect", ""))
        goto out;

    if (!set_options(h, req, &s, headers))
        goto out;
    if (curl_easy_perform(h) != CURLE_OK)
        goto out;
    if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code < 100 || code > 599)
        goto out;
    *status = (int)code;
    *resp_len = s.len;
    ret = 0;
out:
    if (c != NULL)
        /* The handle keeps pointers to headers and the sink until reset. */
        curl_easy_reset(h);
    else
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    return ret;
}
