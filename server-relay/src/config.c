/*
 * Configuration: a table of every key with its type, place and range, read
 * by inih from the file and by relayd_config_set() from the flags.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum kind { K_U32, K_U64, K_BOOL, K_STR, K_ADDR };

typedef struct key_spec {
    const char *section;
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size; /* K_STR, K_ADDR: capacity */
    uint64_t min, max;
} key_spec;

#define U32(s, n, field, lo, hi)                                                                   \
    {                                                                                              \
        s, n, K_U32, offsetof(relayd_config, field), 0, lo, hi                                     \
    }
#define U64(s, n, field, lo, hi)                                                                   \
    {                                                                                              \
        s, n, K_U64, offsetof(relayd_config, field), 0, lo, hi                                     \
    }
#define BOOL(s, n, field)                                                                          \
    {                                                                                              \
        s, n, K_BOOL, offsetof(relayd_config, field), 0, 0, 1                                      \
    }
#define STR(s, n, field)                                                                           \
    {                                                                                              \
        s, n, K_STR, offsetof(relayd_config, field), sizeof(((relayd_config *)0)->field), 0, 0     \
    }

#define KIB 1024ULL
#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * 1024ULL * 1024ULL)
#define DAY 86400ULL

static const key_spec keys[] = {
    {"server", "listen", K_ADDR, offsetof(relayd_config, listen), RELAYD_ADDR_MAX, 0, 0},
    U32("server", "port", port, 0, 65535),
    BOOL("server", "insecure_loopback", insecure_loopback),
    STR("server", "tls_cert", tls_cert),
    STR("server", "tls_key", tls_key),
    U32("server", "threads", threads, 1, 1024),
    U32("server", "max_connections", max_connections, 16, 1000000),
    U32("server", "connection_timeout", connection_timeout, 1, 3600),
    U32("server", "shutdown_grace", shutdown_grace, 0, 600),
    BOOL("server", "metrics", metrics),

    STR("store", "db", db),
    STR("store", "key_file", key_file),
    U32("store", "purge_interval", purge_interval, 1, 7 * DAY),

    U32("limits", "envelope_max", envelope_max, 1024, 16 * MIB),
    U32("limits", "send_body_max", send_body_max, 4 * KIB, 64 * MIB),
    U32("limits", "recipients_max", recipients_max, 1, 100000),
    U32("limits", "prekeys_per_upload", prekeys_per_upload, 1, 1000),
    U32("limits", "prekeys_max", store.prekeys_max, 1, 100000),
    U32("limits", "prekeys_low", prekeys_low, 0, 100000),
    U32("limits", "acks_max", acks_max, 1, 100000),
    U32("limits", "fetch_max_messages", fetch_max_messages, 1, 10000),
    U32("limits", "fetch_max_bytes", fetch_max_bytes, 64 * KIB, 256 * MIB),
    U32("limits", "mailbox_max_messages", store.mailbox_max_messages, 1, 100000000),
    U64("limits", "mailbox_max_bytes", store.mailbox_max_bytes, 64 * KIB, 1024 * GIB),
    U64("limits", "blob_max", store.blob_max_bytes, 1, 64 * GIB),
    U64("limits", "ttl", store.ttl_seconds, 1, 3650 * DAY),
    U32("limits", "longpoll_max_wait", longpoll_max_wait, 0, 3600),
    U32("limits", "longpoll_max_waiters", longpoll_max_waiters, 0, 1000000),
    U32("limits", "longpoll_per_device", longpoll_per_device, 1, 64),

    U32("auth", "token_ttl", token_ttl, 1, 7 * DAY),
    U32("auth", "challenge_ttl", challenge_ttl, 1, 3600),
    U32("auth", "challenges_max", challenges_max, 16, 10000000),
    U32("auth", "invite_ttl", invite_ttl, 1, 365 * DAY),
    U32("auth", "invite_ttl_max", invite_ttl_max, 1, 365 * DAY),
    U32("auth", "admin_token_ttl", admin_token_ttl, 1, 365 * DAY),

    U32("ratelimit", "rate", rate, 0, 1000000),
    U32("ratelimit", "burst", burst, 1, 10000000),
    U32("ratelimit", "anon_rate", anon_rate, 0, 1000000),
    U32("ratelimit", "anon_burst", anon_burst, 1, 10000000),
};

void relayd_config_defaults(relayd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->listen, "127.0.0.1", sizeof "127.0.0.1");
    cfg->port = 8443;
    cfg->threads = 64;
    cfg->max_connections = 10000;
    cfg->connection_timeout = 120;
    cfg->shutdown_grace = 10;
    cfg->metrics = 1;

    memcpy(cfg->db, "/var/lib/secmsg-relay/relay.db", sizeof "/var/lib/secmsg-relay/relay.db");
    cfg->purge_interval = 3600;

    cfg->envelope_max = 96 * KIB;
    cfg->send_body_max = 256 * KIB;
    cfg->recipients_max = 5000;
    cfg->prekeys_per_upload = 100;
    cfg->store.prekeys_max = 1000;
    cfg->prekeys_low = 20;
    cfg->acks_max = 1000;
    cfg->fetch_max_messages = 100;
    cfg->fetch_max_bytes = 1 * MIB;
    cfg->store.mailbox_max_messages = 10000;
    cfg->store.mailbox_max_bytes = 64 * MIB;
    cfg->store.blob_max_bytes = 100 * MIB;
    cfg->store.ttl_seconds = 30 * DAY;
    cfg->longpoll_max_wait = 60;
    cfg->longpoll_max_waiters = 10000;
    cfg->longpoll_per_device = 4;

    cfg->token_ttl = 3600;
    cfg->challenge_ttl = 60;
    cfg->challenges_max = 100000;
    cfg->invite_ttl = 7 * DAY;
    cfg->invite_ttl_max = 30 * DAY;
    cfg->admin_token_ttl = 7 * DAY;

    cfg->rate = 200;
    cfg->burst = 400;
    cfg->anon_rate = 100;
    cfg->anon_burst = 1000;
}

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10U)
            return -1;
        v = v * 10U + d;
    }
    *out = v;
    return 0;
}

int relayd_addr_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127U;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

int relayd_config_set(relayd_config *cfg, const char *section, const char *key, const char *value,
                      char *err, size_t errlen)
{
    const key_spec *k = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, key) == 0) {
            k = &keys[i];
            break;
        }
    }
    if (k == NULL) {
        snprintf(err, errlen, "unknown setting [%s] %s", section, key);
        return -1;
    }
    unsigned char *field = (unsigned char *)cfg + k->offset;
    uint64_t v;
    switch (k->kind) {
    case K_U32:
    case K_U64:
        if (parse_u64(value, &v) != 0 || v < k->min || v > k->max) {
            snprintf(err, errlen, "[%s] %s must be a whole number from %llu to %llu", section, key,
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -1;
        }
        if (k->kind == K_U32) {
            uint32_t v32 = (uint32_t)v;
            memcpy(field, &v32, sizeof v32);
        } else {
            memcpy(field, &v, sizeof v);
        }
        return 0;
    case K_BOOL: {
        int b;
        if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
            strcmp(value, "1") == 0)
            b = 1;
        else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
                 strcmp(value, "0") == 0)
            b = 0;
        else {
            snprintf(err, errlen, "[%s] %s must be true or false", section, key);
            return -1;
        }
        memcpy(field, &b, sizeof b);
        return 0;
    }
    case K_ADDR: {
        struct in_addr a4;
        struct in6_addr a6;
        if (strlen(value) >= k->size ||
            (inet_pton(AF_INET, value, &a4) != 1 && inet_pton(AF_INET6, value, &a6) != 1)) {
            snprintf(err, errlen, "[%s] %s must be a numeric IPv4 or IPv6 address", section, key);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    case K_STR:
        if (strlen(value) >= k->size) {
            snprintf(err, errlen, "[%s] %s is longer than %zu bytes", section, key, k->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    snprintf(err, errlen, "internal error in the configuration table");
    return -1;
}

int relayd_config_set_flag(relayd_config *cfg, const char *name, const char *value, char *err,
                           size_t errlen)
{
    char key[64];
    size_t n = strlen(name);
    if (n >= sizeof key) {
        snprintf(err, errlen, "unknown option --%s", name);
        return -1;
    }
    for (size_t i = 0; i <= n; i++)
        key[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].name, key) != 0)
            continue;
        if (value == NULL && keys[i].kind != K_BOOL) {
            snprintf(err, errlen, "--%s needs a value", name);
            return -1;
        }
        return relayd_config_set(cfg, keys[i].section, keys[i].name, value != NULL ? value : "true",
                                 err, errlen);
    }
    snprintf(err, errlen, "unknown option --%s", name);
    return -1;
}

int relayd_config_flag_kind(const char *name)
{
    char key[64];
    size_t n = strlen(name);
    if (n >= sizeof key)
        return -1;
    for (size_t i = 0; i <= n; i++)
        key[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].name, key) == 0)
            return keys[i].kind == K_BOOL ? 1 : 0;
    return -1;
}

typedef struct load_ctx {
    relayd_config *cfg;
    char msg[256];
    int failed;
} load_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *lc = user;
    if (lc->failed)
        return 0;
    if (name == NULL || value == NULL) {
        snprintf(lc->msg, sizeof lc->msg, "a key without a value");
        lc->failed = 1;
        return 0;
    }
    if (relayd_config_set(lc->cfg, section, name, value, lc->msg, sizeof lc->msg) != 0) {
        lc->failed = 1;
        return 0;
    }
    return 1;
}

int relayd_config_load(relayd_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open the configuration file %s: %s", path, strerror(errno));
        return -1;
    }
    load_ctx lc;
    memset(&lc, 0, sizeof lc);
    lc.cfg = cfg;
    int line = ini_parse_file(f, on_ini, &lc);
    fclose(f);
    if (line == 0)
        return 0;
    if (lc.failed)
        snprintf(err, errlen, "%s:%d: %s", path, line, lc.msg);
    else if (line > 0)
        snprintf(err, errlen, "%s:%d: not a section header or key = value line", path, line);
    else
        snprintf(err, errlen, "cannot read the configuration file %s", path);
    return -1;
}

int relayd_config_finish(relayd_config *cfg, char *err, size_t errlen)
{
    if (cfg->db[0] == '\0') {
        snprintf(err, errlen, "no database path: set [store] db or --db");
        return -1;
    }
    if (cfg->key_file[0] == '\0') {
        int n = snprintf(cfg->key_file, sizeof cfg->key_file, "%s.key", cfg->db);
        if (n < 0 || (size_t)n >= sizeof cfg->key_file) {
            snprintf(err, errlen, "the database path is too long");
            return -1;
        }
    }
    if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
        snprintf(err, errlen, "TLS needs both a certificate and a key (--tls-cert, --tls-key)");
        return -1;
    }
    if (cfg->envelope_max > cfg->send_body_max) {
        snprintf(err, errlen, "[limits] envelope_max must not exceed send_body_max");
        return -1;
    }
    if (cfg->fetch_max_bytes < cfg->envelope_max) {
        snprintf(err, errlen, "[limits] fetch_max_bytes must be at least envelope_max");
        return -1;
    }
    if (cfg->prekeys_per_upload > cfg->store.prekeys_max) {
        snprintf(err, errlen, "[limits] prekeys_per_upload must not exceed prekeys_max");
        return -1;
    }
    if (cfg->invite_ttl > cfg->invite_ttl_max) {
        snprintf(err, errlen, "[auth] invite_ttl must not exceed invite_ttl_max");
        return -1;
    }
    if (cfg->burst < cfg->rate && cfg->rate != 0) {
        snprintf(err, errlen, "[ratelimit] burst must be at least rate");
        return -1;
    }
    if (cfg->anon_burst < cfg->anon_rate && cfg->anon_rate != 0) {
        snprintf(err, errlen, "[ratelimit] anon_burst must be at least anon_rate");
        return -1;
    }
    return 0;
}
