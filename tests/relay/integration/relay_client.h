/*
 * A small client of secmsg-relay over real HTTP (libcurl), shared by the
 * integration tests and the load bench (bench/relay): start and stop a
 * relay process on 127.0.0.1, enrollment tokens from `secmsg-relay admin
 * token`, registration, challenge/token authentication, prekeys, messages
 * and blobs.
 *
 * Nothing here asserts: functions return an HTTP status (>= 100), or
 * RC_E_* (< 0) when there was no HTTP answer or the answer did not parse,
 * so the bench can count failures and the tests can assert on them.
 *
 * Thread-safety: rc_global_init() once, before any thread. A connection
 * (rc_conn) belongs to one thread at a time; devices may be shared
 * read-only once registered and authenticated.
 */
#ifndef SECMSG_RELAY_CLIENT_H
#define SECMSG_RELAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <secmsg/identity.h>
#include <secmsg/prekey.h>

enum {
    RC_E_TRANSPORT = -1, /* no HTTP answer (connection refused, timeout, ...) */
    RC_E_PARSE = -2,     /* a 2xx body that does not decode */
    RC_E_SYSTEM = -3,    /* a local failure: fork, files, memory */
    RC_E_ARG = -4,
};

#define RC_ID_BYTES 32U
#define RC_MSGID_BYTES 16U
#define RC_BLOB_ID_BYTES 16U
#define RC_NONCE_BYTES 32U
#define RC_SIG_BYTES 64U
#define RC_ENROLL_BYTES 32U
#define RC_URL_MAX 64U
#define RC_PATH_MAX 512U
#define RC_MAX_EXTRA_ARGS 24U
#define RC_BEARER_MAX 160U
#define RC_USER_MAX 64U

/* Curl and libsodium set-up; call once before any other function. 0 on success. */
int rc_global_init(void);

/* Monotonic seconds. */
double rc_now(void);
/* Sleeps for `seconds` (fractions allowed). */
void rc_sleep(double seconds);

/* ---- growable byte buffer ---- */
typedef struct rc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} rc_buf;

/* Room for n more bytes (and a NUL) past len. */
int rc_buf_reserve(rc_buf *b, size_t n);
int rc_buf_append(rc_buf *b, const void *p, size_t n);
void rc_buf_free(rc_buf *b);

/* ---- the relay process ---- */

typedef struct rc_relay {
    pid_t pid; /* 0: not running */
    unsigned port;
    char url[RC_URL_MAX];       /* http://127.0.0.1:PORT (https with --tls-cert) */
    char bin[RC_PATH_MAX];      /* the secmsg-relay executable */
    char dir[RC_PATH_MAX - 64]; /* fresh temp dir holding everything below */
    char db[RC_PATH_MAX];       /* database file */
    char key[RC_PATH_MAX];      /* database key file */
    char out_log[RC_PATH_MAX];  /* the relay's stdout */
    char err_log[RC_PATH_MAX];  /* the relay's stderr */
    unsigned starts;            /* how many times started (log files are per start) */
    int exit_status;            /* wait status of the last exit (-1: none seen) */
    size_t n_extra;
    char extra[RC_MAX_EXTRA_ARGS][128]; /* extra flags, kept for restarts */
} rc_relay;

/*
 * The relay executable: $SECMSG_RELAY_BIN. NULL if unset.
 */
const char *rc_relay_bin(void);

/*
 * Creates a fresh temp dir with a database key file, starts `bin serve
 * --listen 127.0.0.1 --port 0 --insecure-loopback --db DB --key-file KEY`
 * plus extra_args (NULL-terminated, may be NULL; e.g. "--token-ttl", "3")
 * and waits (at most 30 s) for its first stdout line "listening on
 * 127.0.0.1:PORT". With "--tls-cert" among extra_args it serves HTTPS:
 * no --insecure-loopback, and url is https://. The child gets SIGKILL
 * when the calling thread exits, so a crashed test leaves no relay
 * behind. 0 on success; on failure nothing is left running and *err (if
 * not NULL) points to static text.
 */
int rc_relay_start(rc_relay *r, const char *bin, const char *const *extra_args, const char **err);
/* Starts the relay again on the same dir, database, key and flags. */
int rc_relay_restart(rc_relay *r, const char **err);
/*
 * Sends `sig` and waits (at most 15 s) for the process to exit, then
 * SIGKILL. Returns the wait status (or -1). The dir is kept.
 */
int rc_relay_signal(rc_relay *r, int sig);
/* Stops the relay (SIGTERM, bounded) and removes its temp dir, unless
 * $SECMSG_ITEST_KEEP is set. Safe on a zeroed or already stopped relay. */
void rc_relay_stop(rc_relay *r);
/* Copies the tail (at most cap-1 bytes) of the current stderr log into buf. */
void rc_relay_stderr_tail(const rc_relay *r, char *buf, size_t cap);

/*
 * Runs argv (argv[0] a path) with stdout and stderr to files in dir, waits
 * at most timeout_s (then SIGKILL), and returns the wait status (or
 * RC_E_SYSTEM). The start of stdout goes to out and the end of stderr to
 * err (each at most cap-1 bytes, NUL-terminated; either may be NULL).
 */
int rc_run(const char *dir, const char *const *argv, double timeout_s, char *out, size_t out_cap,
           char *err, size_t err_cap);

/*
 * Runs `bin admin token --db DB --key-file KEY --role ROLE --user USER
 * [--ttl S]` (ttl 0: default) and parses the token it prints. 0 on success.
 */
int rc_admin_token(const rc_relay *r, const char *role, const char *user, long ttl,
                   uint8_t token[RC_ENROLL_BYTES]);

/* ---- one keep-alive HTTP connection ---- */

typedef struct rc_conn {
    void *curl; /* CURL * */
    char url[RC_URL_MAX];
    rc_buf body;               /* the last response body */
    rc_buf headers;            /* the last response's header lines, raw */
    char ctype[96];            /* the last response's Content-Type ("" if none) */
    long status;               /* the last response status (0: none) */
    long new_conns;            /* connections opened for the last request (0: reused) */
    char error[256];           /* libcurl's last error */
    char ca_file[RC_PATH_MAX]; /* https: the only certificate trusted ("": the system's) */
} rc_conn;

/* The url must start with http:// or https:// and 127.0.0.1: or localhost:
 * (loopback only). */
int rc_conn_init(rc_conn *c, const char *url);
/* https: trust only the certificate(s) in the PEM file at path. 0 on success. */
int rc_conn_set_ca(rc_conn *c, const char *path);
void rc_conn_free(rc_conn *c);

/* Options of one raw request. */
typedef struct rc_req {
    const char *method;   /* "GET", "POST", "PUT", ... */
    const char *path;     /* "/v1/messages?wait=1" */
    const char *bearer;   /* NULL: no Authorization header */
    const char *auth_raw; /* if set: the whole Authorization header value */
    const char *ctype;    /* NULL: none; default for bodies: application/x-protobuf */
    const void *body;
    size_t len;
    int has_body;   /* send a body (even if len is 0) */
    int chunked;    /* send the body chunked, without Content-Length */
    long timeout_s; /* 0: 30 s */
} rc_req;

/* Performs one request; the response is in c->body. Returns the status. */
long rc_request(rc_conn *c, const rc_req *q);
/* A protobuf POST/PUT (or GET without body) with optional bearer. */
long rc_call(rc_conn *c, const char *method, const char *path, const char *bearer, const void *body,
             size_t len);

/* The value of the last response's header `name` (case-insensitive) into
 * out; 0 if present, -1 if not. */
int rc_header(const rc_conn *c, const char *name, char *out, size_t cap);

/* Decodes c->body as an Error. 0 if it is one with code == c->status. */
int rc_error(const rc_conn *c, uint32_t *code, char *reason, size_t reason_cap);

long rc_health(rc_conn *c);

/* ---- devices ---- */

typedef struct rc_device {
    secmsg_identity *id;
    uint8_t device_id[RC_ID_BYTES]; /* the identity's Ed25519 public key */
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t pub_len;
    char bearer[RC_BEARER_MAX]; /* base64url(token), "" before rc_auth */
    uint8_t token[96];
    size_t token_len;
    uint64_t token_expires;
    char user_id[RC_USER_MAX + 1];
    uint32_t role;
    secmsg_prekeys *prekeys; /* set by rc_prekeys_publish */
} rc_device;

/* A fresh random identity. 0 on success. */
int rc_device_new(rc_device *d);
void rc_device_free(rc_device *d);

/* sig = Ed25519(identity sign key, "secmsg relay register v1" || token || identity) */
void rc_register_sig(const rc_device *d, const uint8_t *token, size_t token_len,
                     uint8_t sig[RC_SIG_BYTES]);
/* sig = Ed25519(device key, "secmsg relay auth v1" || nonce || device_id) */
void rc_auth_sig(const rc_device *d, const uint8_t *nonce, size_t nonce_len,
                 uint8_t sig[RC_SIG_BYTES]);

/* POST /v1/register with the given fields (for forged requests). */
long rc_register_raw(rc_conn *c, const uint8_t *token, size_t token_len, const uint8_t *identity,
                     size_t identity_len, const uint8_t *sig, size_t sig_len);
/* Registers d with an enrollment token (signed correctly); on 2xx fills
 * user_id and role and checks the returned device id. */
long rc_register(rc_conn *c, rc_device *d, const uint8_t token[RC_ENROLL_BYTES]);

long rc_challenge(rc_conn *c, const uint8_t device_id[RC_ID_BYTES], uint8_t nonce[RC_NONCE_BYTES],
                  uint64_t *expires);
/* POST /v1/auth/token; on 2xx stores the token in d (bearer). */
long rc_token(rc_conn *c, rc_device *d, const uint8_t *nonce, size_t nonce_len, const uint8_t *sig,
              size_t sig_len);
/* Challenge, sign, token. */
long rc_auth(rc_conn *c, rc_device *d);
/* Admin token, register, authenticate. 0 on success, else the failing status/RC_E_*. */
long rc_enroll(const rc_relay *r, rc_conn *c, rc_device *d, const char *role, const char *user);

/* POST /v1/invites by a caseworker: a citizen enrollment token. */
long rc_invite(rc_conn *c, const rc_device *cw, const char *user, uint32_t ttl,
               uint8_t token[RC_ENROLL_BYTES]);

/* ---- prekeys ---- */

/*
 * Creates d->prekeys (signed prekey id 1) with n_otk one-time prekeys and
 * uploads them. *stored gets PrekeyStatus.one_time_prekeys.
 */
long rc_prekeys_publish(rc_conn *c, rc_device *d, uint32_t n_otk, uint32_t *stored);
/* GET /v1/prekeys */
long rc_prekeys_status(rc_conn *c, const rc_device *d, uint32_t *stored, int *low);
/*
 * Claims a bundle of `target`; the bundle bytes go to out (cap >=
 * SECMSG_PREKEY_BUNDLE_MAX_BYTES). *otk_id gets the one-time prekey id in
 * it (0: none).
 */
long rc_claim(rc_conn *c, const rc_device *d, const uint8_t target[RC_ID_BYTES], uint8_t *out,
              size_t cap, size_t *out_len, uint32_t *otk_id);

/* ---- messages ---- */

typedef struct rc_envelope {
    uint8_t message_id[RC_MSGID_BYTES];
    const uint8_t *recipients; /* n_recipients device ids, RC_ID_BYTES each */
    size_t n_recipients;
    const uint8_t *content;
    size_t content_len;
    const uint8_t *blob_ids; /* n_blobs ids, RC_BLOB_ID_BYTES each */
    size_t n_blobs;
} rc_envelope;

/* Encodes a SendRequest into out (malloc'd). 0 on success. */
int rc_encode_send(rc_buf *out, const rc_envelope *env, size_t n);
long rc_send(rc_conn *c, const rc_device *d, const rc_envelope *env, size_t n, uint32_t *stored);

typedef struct rc_delivery {
    uint64_t id;
    uint8_t sender[RC_ID_BYTES];
    uint8_t message_id[RC_MSGID_BYTES];
    uint8_t *content; /* malloc'd */
    size_t content_len;
    uint64_t received;
    size_t n_blobs;
    uint8_t (*blob_ids)[RC_BLOB_ID_BYTES]; /* malloc'd */
} rc_delivery;

typedef struct rc_fetched {
    rc_delivery *d;
    size_t n;
    int more;
    int has_prekeys;
    uint32_t prekeys;
} rc_fetched;

/* GET /v1/messages?wait=S (wait 0: no wait parameter). */
long rc_fetch(rc_conn *c, const rc_device *d, unsigned wait, rc_fetched *out);
void rc_fetched_free(rc_fetched *f);
long rc_ack(rc_conn *c, const rc_device *d, const uint64_t *ids, size_t n, uint32_t *deleted);
/*
 * POST /v1/messages/fetch: acknowledges ids (n may be 0), then fetches like
 * rc_fetch (wait 0: no long poll).
 */
long rc_fetch_ack(rc_conn *c, const rc_device *d, const uint64_t *ids, size_t n, unsigned wait,
                  rc_fetched *out);

/* ---- blobs ---- */

long rc_blob_put(rc_conn *c, const rc_device *d, const void *data, size_t len,
                 uint8_t blob_id[RC_BLOB_ID_BYTES]);
/* The blob's bytes go to c->body. */
long rc_blob_get(rc_conn *c, const rc_device *d, const uint8_t blob_id[RC_BLOB_ID_BYTES]);

/* ---- small helpers ---- */

/* Lower-case hex of n bytes into out (capacity 2n+1). */
void rc_hex(char *out, const uint8_t *p, size_t n);
/* Fills out with random bytes. */
void rc_random(void *out, size_t n);

#endif
