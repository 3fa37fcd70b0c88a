/*
 * secmsg-relay admin token --role caseworker|journal --user ID [--ttl S]
 *                          [--db PATH] [--key-file PATH] [--config FILE]
 *
 * Prints one fresh enrollment token (32 random bytes, unpadded base64url)
 * and nothing else on stdout; the store keeps only its BLAKE2b hash. The
 * token is a secret until redeemed: hand it over like a password.
 */
#include "admin.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "config.h"
#include "keyfile.h"
#include "secmsg/common.h"
#include "store/store.h"
#include "wire/relay_codec.h"

static const char admin_usage[] =
    "usage: secmsg-relay admin token --role caseworker|journal --user ID [--ttl SECONDS]\n"
    "                                [--db PATH] [--key-file PATH] [--config FILE]\n"
    "Run 'secmsg-relay --help' for details.\n";

static int user_has_other_role(relay_store *st, const char *user, uint32_t role, int *other)
{
    relay_device *devs = NULL;
    size_t n = 0;
    int rc = relay_store_user_devices(st, user, &devs, &n);
    *other = 0;
    if (rc == RELAY_E_NOTFOUND)
        return RELAY_OK;
    if (rc != RELAY_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (devs[i].role != role)
            *other = 1;
    free(devs);
    return RELAY_OK;
}

static int admin_token(int argc, char **argv)
{
    relayd_config cfg;
    char err[512];
    const char *role_s = NULL, *user = NULL, *ttl_s = NULL, *db = NULL, *db_key = NULL,
               *config = NULL;

    relayd_config_defaults(&cfg);
    for (int i = 0; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--role") == 0)
            slot = &role_s;
        else if (strcmp(argv[i], "--user") == 0)
            slot = &user;
        else if (strcmp(argv[i], "--ttl") == 0)
            slot = &ttl_s;
        else if (strcmp(argv[i], "--db") == 0)
            slot = &db;
        else if (strcmp(argv[i], "--key-file") == 0)
            slot = &db_key;
        else if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0)
            slot = &config;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(admin_usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "secmsg-relay admin token: unknown argument '%s'\n%s", argv[i],
                    admin_usage);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "secmsg-relay admin token: %s needs a value\n%s", argv[i], admin_usage);
            return 2;
        }
        *slot = argv[++i];
    }

    uint32_t role;
    if (role_s != NULL && strcmp(role_s, "caseworker") == 0)
        role = SECMSG__RELAY__ROLE__ROLE_CASEWORKER;
    else if (role_s != NULL && strcmp(role_s, "journal") == 0)
        role = SECMSG__RELAY__ROLE__ROLE_JOURNAL;
    else {
        fprintf(stderr, "secmsg-relay admin token: --role must be caseworker or journal "
                        "(citizens are invited by a caseworker)\n");
        return 2;
    }
    if (user == NULL || !secmsg__relay_user_id_valid(user)) {
        fprintf(stderr, "secmsg-relay admin token: --user must be 1 to 64 characters of "
                        "A-Z a-z 0-9 . _ -\n");
        return 2;
    }
    if (config != NULL && relayd_config_load(&cfg, config, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay admin token: %s\n", err);
        return 1;
    }
    if (ttl_s != NULL &&
        relayd_config_set(&cfg, "auth", "admin_token_ttl", ttl_s, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay admin token: --ttl must be a whole number of seconds "
                        "from 1 to 31536000 (365 days)\n");
        return 2;
    }
    if ((db != NULL && relayd_config_set(&cfg, "store", "db", db, err, sizeof err) != 0) ||
        (db_key != NULL &&
         relayd_config_set(&cfg, "store", "key_file", db_key, err, sizeof err) != 0) ||
        relayd_config_finish(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay admin token: %s\n", err);
        return 2;
    }

    if (secmsg_init() != SECMSG_OK) {
        fprintf(stderr, "secmsg-relay admin token: cannot initialise libsodium\n");
        return 1;
    }
    relay_store *st = NULL;
    if (relayd_store_open_with_keyfile(&cfg, &st, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "secmsg-relay admin token: %s\n", err);
        return 1;
    }

    int status = 1, other = 0;
    int rc = user_has_other_role(st, user, role, &other);
    if (rc != RELAY_OK) {
        fprintf(stderr, "secmsg-relay admin token: cannot read the database (code %d)\n", rc);
        goto out;
    }
    if (other) {
        fprintf(stderr, "secmsg-relay admin token: this user id already has devices with "
                        "another role; choose another user id\n");
        goto out;
    }

    uint8_t token[RELAY_TOKEN_BYTES], hash[32];
    char
        b64[sodium_base64_ENCODED_LEN(RELAY_TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    time_t now = time(NULL);
    uint64_t expires = (uint64_t)now + cfg.admin_token_ttl;
    randombytes_buf(token, sizeof token);
    relay_auth_token_hash(hash, token, sizeof token);
    rc = relay_store_token_put(st, hash, role, user, expires);
    if (rc != RELAY_OK) {
        fprintf(stderr, "secmsg-relay admin token: cannot store the token (code %d)\n", rc);
    } else {
        sodium_bin2base64(b64, sizeof b64, token, sizeof token,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        printf("%s\n", b64);
        if (fflush(stdout) == 0)
            status = 0;
        time_t exp_t = (time_t)expires;
        struct tm tm;
        char when[32] = "?";
        if (gmtime_r(&exp_t, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "one-time %s enrollment token, valid until %s\n", role_s, when);
    }
    sodium_memzero(token, sizeof token);
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(b64, sizeof b64);
out:
    relay_store_close(st);
    return status;
}

int relayd_admin_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return admin_token(argc - 2, argv + 2);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(admin_usage, stdout);
        return 0;
    }
    fprintf(stderr, "secmsg-relay admin: unknown or missing command\n%s", admin_usage);
    return 2;
}
