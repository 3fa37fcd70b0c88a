/*
 * transport.c - a libcurl transport (secmsg_transport_fn) that gives up as
 * soon as a stop flag is set.
 *
 * Why: watch and sync --wait spend most of their time in a long poll.
 * libcurl retries poll() after EINTR, so with the library's default
 * transport a Ctrl-C would only be noticed when the poll ends (up to 25 s).
 * Here a progress callback checks the flag the signal handler sets and
 * aborts the transfer; the library sees "no response" (NETWORK), nothing
 * was acked, and the command closes the client cleanly.
 *
 * Otherwise it behaves as the library's default transport: HTTP/1.1,
 * http/https only, TLS 1.2 or later with peer and host verification, no
 * redirects, TCP keep-alive, no signals used by libcurl, the response
 * capped at the library's capacity.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

struct cli_transport {
    CURL *curl;
    volatile sig_atomic_t *stop;
};

typedef struct sink {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
} sink;

static volatile sig_atomic_t stop_flag;

volatile sig_atomic_t *cli_stop_flag(void)
{
    return &stop_flag;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void cli_stop_on_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps end early */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_transport_new(cli_transport **out, volatile sig_atomic_t *stop)
{
    cli_transport *t;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return -1;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        curl_global_cleanup();
        return -1;
    }
    t->curl = curl_easy_init();
    if (t->curl == NULL) {
        free(t);
        curl_global_cleanup();
        return -1;
    }
    t->stop = stop;
    *out = t;
    return 0;
}

void cli_transport_free(cli_transport *t)
{
    if (t == NULL) {
        return;
    }
    curl_easy_cleanup(t->curl);
    free(t);
    curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;

    if (n > s->cap - s->len) {
        s->overflow = 1;
        return 0; /* aborts the transfer */
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const cli_transport *t = ud;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return *t->stop ? 1 : 0;
}

static struct curl_slist *headers(const secmsg_http_request *req)
{
    struct curl_slist *list = NULL;
    struct curl_slist *next;
    char line[512];

    /* No "Expect: 100-continue" round trip before a body. */
    list = curl_slist_append(list, "Expect:");
    if (list != NULL && req->authorization != NULL) {
        snprintf(line, sizeof line, "Authorization: %s", req->authorization);
        next = curl_slist_append(list, line);
        list = next != NULL ? next : (curl_slist_free_all(list), NULL);
    }
    if (list != NULL && req->content_type != NULL) {
        snprintf(line, sizeof line, "Content-Type: %s", req->content_type);
        next = curl_slist_append(list, line);
        list = next != NULL ? next : (curl_slist_free_all(list), NULL);
    }
    return list;
}

int cli_transport_fn(void *ctx, const secmsg_http_request *req, int *status, uint8_t *resp,
                     size_t resp_cap, size_t *resp_len)
{
    cli_transport *t = ctx;
    struct curl_slist *hdr = NULL;
    sink s = {resp, resp_cap, 0, 0};
    CURL *h = t->curl;
    CURLcode cc;
    long code = 0;
    int rc = -1;

    if (*t->stop) {
        return -1;
    }
    /* Reset forgets the last request's options but keeps the connection. */
    curl_easy_reset(h);
    hdr = headers(req);
    if (hdr == NULL) {
        return -1;
    }
    cc = curl_easy_setopt(h, CURLOPT_URL, req->url);
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_USERAGENT, "secmsg-cli");
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    }
    if (cc == CURLE_OK && strcmp(req->method, "GET") == 0) {
        cc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (cc == CURLE_OK) {
        if (strcmp(req->method, "POST") != 0) {
            cc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        }
        if (cc == CURLE_OK) {
            cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
        if (cc == CURLE_OK) {
            cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                                  req->body_len > 0 ? (const void *)req->body : (const void *)"");
        }
    }
    if (cc == CURLE_OK) {
        cc = curl_easy_perform(h);
    }
    if (cc == CURLE_OK && !s.overflow &&
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK) {
        *status = (int)code;
        *resp_len = s.len;
        rc = 0;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    return rc;
}
