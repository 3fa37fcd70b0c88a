/*
 * The relay's configuration: built-in defaults, then an INI file (inih),
 * then command-line flags, then one validation pass over the result.
 *
 * Every value has a hard range; a value outside it, an unknown section or
 * key, or a malformed number is an error naming the file and line.
 */
#ifndef SECMSG_RELAYD_CONFIG_H
#define SECMSG_RELAYD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define RELAYD_PATH_MAX 1024U
#define RELAYD_ADDR_MAX 64U

typedef struct relayd_config {
    /* [server] */
    char listen[RELAYD_ADDR_MAX];   /* numeric IPv4 or IPv6 address */
    uint32_t port;                  /* 0: pick a free port */
    int insecure_loopback;          /* plain HTTP, only on a loopback address */
    char tls_cert[RELAYD_PATH_MAX]; /* PEM files; empty: none */
    char tls_key[RELAYD_PATH_MAX];
    uint32_t threads; /* MHD worker threads */
    uint32_t max_connections;
    uint32_t connection_timeout; /* seconds of inactivity */
    uint32_t shutdown_grace;     /* seconds to finish in-flight requests */
    int metrics;                 /* serve GET /metrics */

    /* [store] */
    char db[RELAYD_PATH_MAX];
    char key_file[RELAYD_PATH_MAX]; /* database key file; empty: db + ".key" */
    uint32_t purge_interval;        /* seconds between purges */

    /* [limits] */
    relay_limits store;      /* mailbox, prekeys stored, blob size, TTL */
    uint32_t envelope_max;   /* bytes of one envelope's content */
    uint32_t send_body_max;  /* bytes of one POST /v1/messages body */
    uint32_t recipients_max; /* recipients summed over one send */
    uint32_t prekeys_per_upload;
    uint32_t prekeys_low; /* PrekeyStatus.low below this */
    uint32_t acks_max;    /* ids in one ack */
    uint32_t fetch_max_messages;
    uint32_t fetch_max_bytes;
    uint32_t longpoll_max_wait;    /* seconds; upper bound of ?wait= */
    uint32_t longpoll_max_waiters; /* suspended long polls, all devices */
    uint32_t longpoll_per_device;  /* concurrent long polls of one device */

    /* [auth] */
    uint32_t token_ttl;      /* bearer token lifetime, seconds */
    uint32_t challenge_ttl;  /* nonce lifetime, seconds */
    uint32_t challenges_max; /* outstanding nonces */
    uint32_t invite_ttl;     /* default lifetime of an invite token */
    uint32_t invite_ttl_max;
    uint32_t admin_token_ttl; /* default lifetime of an admin token */

    /* [ratelimit] */
    uint32_t rate; /* requests/s per device; 0: off */
    uint32_t burst;
    uint32_t anon_rate; /* unauthenticated requests/s per client address; 0: off */
    uint32_t anon_burst;
} relayd_config;

/** Fills cfg with the documented defaults. */
void relayd_config_defaults(relayd_config *cfg);

/**
 * Reads an INI file over cfg. Returns 0, or -1 with a sentence in err
 * (naming the file and line).
 */
int relayd_config_load(relayd_config *cfg, const char *path, char *err, size_t errlen);

/**
 * Sets one key as the file would ("section", "key", "value"); used by the
 * command-line flags so they share the file's parsing and ranges.
 */
int relayd_config_set(relayd_config *cfg, const char *section, const char *key, const char *value,
                      char *err, size_t errlen);

/**
 * Sets the key named by a command-line flag: "--token-ttl" is passed as
 * "token-ttl" and sets [auth] token_ttl (key names are unique across
 * sections). value NULL is allowed for booleans and means true.
 */
int relayd_config_set_flag(relayd_config *cfg, const char *name, const char *value, char *err,
                           size_t errlen);
/** For a flag name as above: 1 boolean, 0 takes a value, -1 unknown. */
int relayd_config_flag_kind(const char *name);

/** Cross-field checks and derived defaults (key_file). 0 or -1 with err. */
int relayd_config_finish(relayd_config *cfg, char *err, size_t errlen);

/** 1 if addr (numeric) is in 127.0.0.0/8 or is ::1. */
int relayd_addr_is_loopback(const char *addr);

#endif
