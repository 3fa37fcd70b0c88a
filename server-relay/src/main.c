/*
 * secmsg-relay: command line, configuration, start-up, signal handling and
 * graceful shutdown. Everything else lives in its own file.
 *
 * Start-up order: configuration, signals blocked (so every thread inherits
 * the mask and only sigwait() here sees SIGTERM/SIGINT), store, auth,
 * limiters, long-poll table, HTTP daemon, the "listening on" line,
 * housekeeping. Shutdown runs it backwards.
 */
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "http.h"
#include "keyfile.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "purge.h"
#include "ratelimit.h"
#include "secmsg/common.h"

#define RATELIMIT_MAX_ENTRIES (1U << 20)

static const char help_text[] =
    "NAME\n"
    "    secmsg-relay - the secmsg blind relay\n"
    "\n"
    "SYNOPSIS\n"
    "    secmsg-relay [serve] [--config FILE] [--listen ADDR] [--port N] [--db PATH]\n"
    "                 [--key-file PATH] [--tls-cert PEM --tls-key PEM | --insecure-loopback]\n"
    "                 [--SETTING VALUE ...]\n"
    "    secmsg-relay admin token --role caseworker|journal --user ID [--ttl SECONDS]\n"
    "                 [--db PATH] [--key-file PATH] [--config FILE]\n"
    "    secmsg-relay --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    Stores and forwards end-to-end encrypted secmsg envelopes, prekeys and\n"
    "    attachment blobs over HTTP/1.1 with protobuf bodies (spec/relay-api.md).\n"
    "    It never sees plaintext. Data lives in one sqlcipher database whose\n"
    "    32-byte key is read from a 0600 key file (64 hex digits), created with\n"
    "    a random key on first start.\n"
    "\n"
    "    When it is ready, the relay prints exactly one line on standard output,\n"
    "    'listening on ADDR:PORT' ('listening on [ADDR]:PORT' for IPv6), and\n"
    "    flushes it; with --port 0 the port is the one the kernel picked. All\n"
    "    other output goes to standard error, one line per event; it never\n"
    "    contains message content, tokens, keys, user ids or addresses.\n"
    "\n"
    "OPTIONS\n"
    "    Options override the configuration file. A value follows as the next\n"
    "    argument or after '='.\n"
    "\n"
    "    -c, --config FILE\n"
    "        Read settings from an INI file (see FILES).\n"
    "    --listen ADDR\n"
    "        Numeric IPv4 or IPv6 address to bind. Default 127.0.0.1.\n"
    "    --port N\n"
    "        TCP port, 0 to 65535; 0 picks a free port. Default 8443.\n"
    "    --db PATH\n"
    "        Database file; blobs are kept in PATH.blobs/.\n"
    "        Default /var/lib/secmsg-relay/relay.db.\n"
    "    --key-file PATH\n"
    "        Database key file. Default: the database path plus '.key'. Refused\n"
    "        if group or others have any access to it or another user owns it;\n"
    "        created (mode 0600) if missing.\n"
    "    --tls-cert PEM, --tls-key PEM\n"
    "        Serve HTTPS (TLS 1.2 or 1.3) with this certificate chain and key.\n"
    "    --insecure-loopback\n"
    "        Serve plain HTTP. Only accepted with a loopback --listen address\n"
    "        (127.0.0.0/8 or ::1); for tests and for a TLS-terminating proxy on\n"
    "        the same host. Without TLS and without this flag the relay refuses\n"
    "        to start.\n"
    "    --SETTING VALUE\n"
    "        Every configuration key is also an option, with '-' for '_':\n"
    "        --threads 64, --token-ttl 3600, --rate 200, --anon-rate 100,\n"
    "        --blob-max 104857600, --ttl 2592000, --purge-interval 3600, ...\n"
    "        Booleans take no value (--metrics) or '=true' / '=false'.\n"
    "    -h, --help\n"
    "        Show this text.\n"
    "    --version\n"
    "        Show the version.\n"
    "\n"
    "COMMANDS\n"
    "    serve\n"
    "        Run the relay (the default when no command is given).\n"
    "    admin token --role caseworker|journal --user ID [--ttl SECONDS]\n"
    "        Create a one-time enrollment token for a caseworker or the journal\n"
    "        robot and print it, unpadded base64url, as the only line on standard\n"
    "        output. Only its hash is stored. Default lifetime 7 days ([auth]\n"
    "        admin_token_ttl). Uses the relay's database and key file (--db,\n"
    "        --key-file or --config) and may run while the relay runs.\n"
    "\n"
    "FILES\n"
    "    The configuration file has the sections [server], [store], [limits],\n"
    "    [auth] and [ratelimit] with 'key = value' lines; server-relay/README.md\n"
    "    lists every key with its default and range. Unknown keys are errors.\n"
    "\n"
    "SIGNALS\n"
    "    SIGTERM, SIGINT\n"
    "        Graceful shutdown: stop accepting connections, answer new requests\n"
    "        with 503, answer waiting long polls, let in-flight requests finish\n"
    "        (at most [server] shutdown_grace seconds), close the database, and\n"
    "        exit 0.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 after a graceful shutdown or a successful command, 1 when start-up or\n"
    "    a command fails, 2 for a usage error.\n"
    "\n"
    "EXAMPLES\n"
    "    secmsg-relay serve --listen 127.0.0.1 --port 0 --insecure-loopback \\\n"
    "        --db /tmp/relay.db\n"
    "    secmsg-relay serve --config /etc/secmsg-relay/relay.ini\n"
    "    secmsg-relay admin token --role caseworker --user cw-0042 \\\n"
    "        --config /etc/secmsg-relay/relay.ini\n";

static void usage_error(const char *what, const char *arg)
{
    fprintf(stderr,
            "secmsg-relay: %s '%s'\n"
            "Run 'secmsg-relay --help' for the options.\n",
            what, arg);
}

/*
 * One option at argv[*i]: sets *name (without the dashes, cut at '=') and
 * *value (after '=', or the next argument for options that take one).
 * Returns 0, or 2 after printing a usage error.
 */
static int split_option(int argc, char **argv, int *i, char *name, size_t cap, const char **value,
                        int *is_config)
{
    const char *a = argv[*i];
    *value = NULL;
    *is_config = 0;
    if (strcmp(a, "-c") == 0) {
        a = "--config";
    } else if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
        usage_error("unexpected argument", a);
        return 2;
    }
    const char *body = a + 2, *eq = strchr(body, '=');
    size_t len = eq != NULL ? (size_t)(eq - body) : strlen(body);
    if (len == 0 || len >= cap) {
        usage_error("unknown option", argv[*i]);
        return 2;
    }
    memcpy(name, body, len);
    name[len] = '\0';
    int kind = strcmp(name, "config") == 0 ? 0 : relayd_config_flag_kind(name);
    *is_config = strcmp(name, "config") == 0;
    if (kind < 0) {
        usage_error("unknown option", argv[*i]);
        return 2;
    }
    if (eq != NULL) {
        *value = eq + 1;
    } else if (kind == 0) {
        if (*i + 1 >= argc) {
            usage_error("missing value for", argv[*i]);
            return 2;
        }
        *value = argv[++*i];
    }
    return 0;
}

static int parse_args(int argc, char **argv, relayd_config *cfg)
{
    char err[512], name[64];
    const char *config = NULL, *value;
    int is_config, first = 1;

    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        first = 2;
    /* Pass 1: help, version, the config file, the shape of every option. */
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help_text, stdout);
            exit(0);
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("secmsg-relay %s\n", secmsg_version_string());
            exit(0);
        }
        int rc = split_option(argc, argv, &i, name, sizeof name, &value, &is_config);
        if (rc != 0)
            return rc;
        if (is_config)
            config = value;
    }
    if (config != NULL && relayd_config_load(cfg, config, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay: %s\n", err);
        return 1;
    }
    /* Pass 2: options over the file. */
    for (int i = first; i < argc; i++) {
        if (split_option(argc, argv, &i, name, sizeof name, &value, &is_config) != 0)
            return 2;
        if (!is_config && relayd_config_set_flag(cfg, name, value, err, sizeof err) != 0) {
            fprintf(stderr, "secmsg-relay: --%s: %s\n", name, err);
            return 2;
        }
    }
    if (relayd_config_finish(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay: %s\n", err);
        return 2;
    }
    if (relayd_http_check_config(cfg, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay: %s\n", err);
        return 1;
    }
    return 0;
}

static int run(const relayd_config *cfg)
{
    relayd_server srv;
    relayd_purge *purge = NULL;
    char err[512];
    int status = 1;
    uint8_t *token_key = NULL;

    memset(&srv, 0, sizeof srv);
    srv.cfg = cfg;
    atomic_init(&srv.shutting_down, 0);
    atomic_init(&srv.in_flight, 0);
    atomic_init(&srv.store_ops, 0);
    srv.codec_limits.max_body = cfg->send_body_max;
    srv.codec_limits.max_envelope = cfg->envelope_max;
    srv.codec_limits.max_recipients = cfg->recipients_max;
    srv.codec_limits.max_prekeys_per_upload = cfg->prekeys_per_upload;
    srv.codec_limits.max_acks = cfg->acks_max;

    token_key = sodium_malloc(RELAY_AUTH_KEY_BYTES);
    if (token_key == NULL) {
        relayd_log_error("out of memory");
        return 1;
    }
    if (relayd_store_open_with_keyfile(cfg, &srv.store, token_key, err, sizeof err) != 0) {
        relayd_log_error("%s", err);
        goto out;
    }
    if (relay_auth_new(&srv.auth, token_key, cfg->challenge_ttl, cfg->token_ttl,
                       cfg->challenges_max) != RELAY_AUTH_OK) {
        relayd_log_error("cannot set up authentication (out of memory)");
        goto out;
    }
    sodium_free(token_key); /* wipes; relay_auth keeps its own copy */
    token_key = NULL;

    srv.rl_device = relayd_ratelimit_new(cfg->rate, cfg->burst, RATELIMIT_MAX_ENTRIES);
    srv.rl_anon = relayd_ratelimit_new(cfg->anon_rate, cfg->anon_burst, RATELIMIT_MAX_ENTRIES);
    srv.lp = relayd_longpoll_new(cfg->longpoll_max_waiters, cfg->longpoll_per_device);
    srv.metrics = relayd_metrics_new();
    if (srv.rl_device == NULL || srv.rl_anon == NULL || srv.lp == NULL || srv.metrics == NULL) {
        relayd_log_error("cannot allocate the relay's tables (out of memory)");
        goto out;
    }

    if (relayd_http_start(&srv, err, sizeof err) != 0) {
        relayd_log_error("%s", err);
        goto out;
    }
    int v6 = strchr(cfg->listen, ':') != NULL;
    printf(v6 ? "listening on [%s]:%u\n" : "listening on %s:%u\n", cfg->listen, (unsigned)srv.port);
    fflush(stdout);
    relayd_log_info("started: %s on port %u, %u threads, database opened",
                    cfg->tls_cert[0] != '\0' ? "https" : "plain http (loopback)",
                    (unsigned)srv.port, (unsigned)cfg->threads);

    purge = relayd_purge_start(&srv);
    if (purge == NULL)
        relayd_log_error("cannot start the purge thread; expired data stays until restart");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    relayd_log_info("stopping on signal %d", sig);
    relayd_http_stop(&srv);
    status = 0;
out:
    relayd_http_stop(&srv);
    relayd_purge_stop(purge);
    relayd_longpoll_free(srv.lp);
    relay_store_close(srv.store);
    relay_auth_free(srv.auth);
    relayd_ratelimit_free(srv.rl_device);
    relayd_ratelimit_free(srv.rl_anon);
    relayd_metrics_free(srv.metrics);
    if (token_key != NULL)
        sodium_free(token_key);
    if (status == 0)
        relayd_log_info("stopped");
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "admin") == 0)
        return relayd_admin_main(argc - 1, argv + 1);

    relayd_config cfg;
    relayd_config_defaults(&cfg);
    int rc = parse_args(argc, argv, &cfg);
    if (rc != 0)
        return rc;

    if (secmsg_init() != SECMSG_OK) {
        fprintf(stderr, "secmsg-relay: cannot initialise libsodium\n");
        return 1;
    }
    /* Before any thread exists, so all inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    return run(&cfg);
}
