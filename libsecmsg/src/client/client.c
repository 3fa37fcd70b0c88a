/*
 * The client object: create/open/close, who-am-I, errors, settings helpers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client/client_internal.h"
#include "session/internal.h"

uint64_t secmsg__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000U + (uint64_t)ts.tv_nsec / 1000000U;
}

int secmsg__client_fail(secmsg_client *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

const char *secmsg_client_last_error(const secmsg_client *c)
{
    return c == NULL ? "no client" : c->err;
}

static int sign_with_identity(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    const secmsg_identity *id = ctx;
    return crypto_sign_detached(sig, NULL, msg, len, id->sign_sk) == 0 ? SECMSG_OK
                                                                       : SECMSG_E_CRYPTO;
}

int secmsg__client_relay(secmsg_client *c)
{
    if (c->rc_ready)
        return SECMSG_OK;
    if (c->relay_url[0] == '\0')
        return secmsg__client_fail(c, SECMSG_E_STATE, "this device is not enrolled");
    int rc = secmsg__rc_init(&c->rc, c->relay_url, c->device_id, sign_with_identity, c->id);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "cannot use the relay address");
    if (c->tfn != NULL) {
        c->rc.transport = c->tfn;
        c->rc.transport_ctx = c->tctx;
    }
    c->rc_ready = 1;
    return SECMSG_OK;
}

int secmsg__client_relay_fail(secmsg_client *c, int rc, const char *what)
{
    if (rc == SECMSG_E_NETWORK)
        return secmsg__client_fail(c, rc, "%s: the relay did not answer", what);
    if (rc == SECMSG_E_RELAY)
        return secmsg__client_fail(c, rc, "%s: relay refused: %s (%d)", what,
                                   c->rc.reason[0] ? c->rc.reason : "error", c->rc.status);
    if (rc == SECMSG_E_MALFORMED)
        return secmsg__client_fail(c, rc, "%s: the relay's answer is malformed", what);
    return secmsg__client_fail(c, rc, "%s: %s", what, secmsg_strerror(rc));
}

int secmsg_client_set_transport(secmsg_client *c, secmsg_transport_fn fn, void *ctx)
{
    if (c == NULL)
        return SECMSG_E_INVALID_ARG;
    c->tfn = fn;
    c->tctx = fn != NULL ? ctx : NULL;
    if (c->rc_ready) {
        secmsg__rc_free(&c->rc);
        c->rc_ready = 0;
    }
    return SECMSG_OK;
}

int secmsg__client_setting_u32(secmsg_client *c, const char *name, uint32_t *v)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = secmsg__store_setting_get(c->st, name, &b, &n);
    if (rc != SECMSG_OK)
        return rc;
    if (n != 4) {
        secmsg__store_free(b, n);
        return SECMSG_E_MALFORMED;
    }
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    secmsg__store_free(b, n);
    return SECMSG_OK;
}

int secmsg__client_put_u32(secmsg_client *c, const char *name, uint32_t v)
{
    const uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return secmsg__store_setting_put(c->st, name, b, sizeof b);
}

int secmsg__client_save_prekeys(secmsg_client *c)
{
    size_t need = 0;
    int rc = secmsg_prekeys_serialize(c->pk, NULL, 0, &need);
    if (rc != SECMSG_E_BUFFER_TOO_SMALL && rc != SECMSG_OK)
        return rc;
    uint8_t *buf = sodium_malloc(need);
    if (buf == NULL)
        return SECMSG_E_NOMEM;
    rc = secmsg_prekeys_serialize(c->pk, buf, need, &need);
    if (rc == SECMSG_OK)
        rc = secmsg__store_setting_put(c->st, SETTING_PREKEYS, buf, need);
    sodium_free(buf);
    return rc;
}

int secmsg__client_device_of(uint8_t device_id[SECMSG_DEVICE_ID_BYTES], const uint8_t *idpub,
                             size_t len)
{
    Secmsg__Wire__IdentityPublic *m = NULL;
    int rc = secmsg_identity_public_verify(idpub, len);
    if (rc != SECMSG_OK)
        return rc;
    rc = secmsg__wire_decode_identity_public(&m, idpub, len, NULL);
    if (rc != SECMSG_OK)
        return rc;
    memcpy(device_id, m->sign_pub.data, SECMSG_DEVICE_ID_BYTES);
    secmsg__wire__identity_public__free_unpacked(m, NULL);
    return SECMSG_OK;
}

int secmsg__client_enrolled(secmsg_client *c)
{
    if (c->role == SECMSG_ROLE_NONE)
        return secmsg__client_fail(c, SECMSG_E_STATE, "this device is not enrolled yet");
    return SECMSG_OK;
}

static int check_secret(const uint8_t *secret, size_t secret_len)
{
    return secret != NULL && secret_len >= SECMSG_DEVICE_SECRET_MIN &&
           secret_len <= SECMSG_DEVICE_SECRET_MAX;
}

static int check_pin(const char *pin, size_t pin_len)
{
    return pin != NULL && pin_len >= SECMSG_PIN_MIN && pin_len <= SECMSG_PIN_MAX &&
           memchr(pin, '\0', pin_len) == NULL;
}

static secmsg_client *client_alloc(void)
{
    secmsg_client *c = calloc(1, sizeof *c);
    return c;
}

/* Loads identity, prekeys and enrollment from an open store. */
static int client_load(secmsg_client *c)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = secmsg__store_setting_get(c->st, SETTING_IDENTITY, &b, &n);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc == SECMSG_E_NOT_FOUND ? SECMSG_E_TAMPERED : rc,
                                   "the store holds no identity");
    rc = secmsg_identity_deserialize(&c->id, b, n);
    secmsg__store_free(b, n);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "the stored identity does not parse");
    rc = secmsg__store_setting_get(c->st, SETTING_PREKEYS, &b, &n);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "the store holds no prekeys");
    rc = secmsg_prekeys_deserialize(&c->pk, b, n);
    secmsg__store_free(b, n);
    if (rc != SECMSG_OK)
        return secmsg__client_fail(c, rc, "the stored prekeys do not parse");
    rc = secmsg_identity_public(c->id, c->idpub, sizeof c->idpub, &c->idpub_len);
    if (rc != SECMSG_OK)
        return rc;
    memcpy(c->device_id, c->id->pub.sign_pub, SECMSG_DEVICE_ID_BYTES);

    rc = secmsg__store_setting_get(c->st, SETTING_ROLE, &b, &n);
    if (rc == SECMSG_E_NOT_FOUND)
        return SECMSG_OK; /* not enrolled yet */
    if (rc != SECMSG_OK)
        return rc;
    c->role = n == 1 ? b[0] : SECMSG_ROLE_NONE;
    secmsg__store_free(b, n);
    if (c->role < SECMSG_ROLE_CITIZEN || c->role > SECMSG_ROLE_JOURNAL)
        return secmsg__client_fail(c, SECMSG_E_MALFORMED, "the stored role is invalid");
    rc = secmsg__store_setting_get(c->st, SETTING_USER_ID, &b, &n);
    if (rc != SECMSG_OK || n == 0 || n >= sizeof c->user_id) {
        if (rc == SECMSG_OK)
            secmsg__store_free(b, n);
        return secmsg__client_fail(c, SECMSG_E_MALFORMED, "the stored user id is invalid");
    }
    memcpy(c->user_id, b, n);
    c->user_id[n] = '\0';
    secmsg__store_free(b, n);
    rc = secmsg__store_setting_get(c->st, SETTING_RELAY_URL, &b, &n);
    if (rc != SECMSG_OK || n == 0 || n >= sizeof c->relay_url) {
        if (rc == SECMSG_OK)
            secmsg__store_free(b, n);
        return secmsg__client_fail(c, SECMSG_E_MALFORMED, "the stored relay address is invalid");
    }
    memcpy(c->relay_url, b, n);
    c->relay_url[n] = '\0';
    secmsg__store_free(b, n);
    return SECMSG_OK;
}

int secmsg_client_create(secmsg_client **out, const char *path, const uint8_t *device_secret,
                         size_t device_secret_len, const char *pin, size_t pin_len,
                         uint32_t kdf_ops, uint32_t kdf_mem_kib)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (path == NULL || !check_secret(device_secret, device_secret_len) ||
        !check_pin(pin, pin_len))
        return SECMSG_E_INVALID_ARG;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    secmsg_client *c = client_alloc();
    if (c == NULL)
        return SECMSG_E_NOMEM;
    uint8_t *buf = NULL;
    int rc = secmsg__store_create(&c->st, path, device_secret, device_secret_len, pin, pin_len,
                                  kdf_ops, kdf_mem_kib);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg_identity_generate(&c->id);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg_prekeys_new(&c->pk, c->id, 1);
    if (rc == SECMSG_OK)
        rc = secmsg_prekeys_generate(c->pk, CLIENT_OTK_BATCH, NULL);
    if (rc != SECMSG_OK)
        goto out;
    buf = sodium_malloc(SECMSG_IDENTITY_PRIVATE_BYTES);
    size_t n = 0;
    if (buf == NULL) {
        rc = SECMSG_E_NOMEM;
        goto out;
    }
    rc = secmsg_identity_serialize(c->id, buf, SECMSG_IDENTITY_PRIVATE_BYTES, &n);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__store_begin(c->st);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg__store_setting_put(c->st, SETTING_IDENTITY, buf, n);
    if (rc == SECMSG_OK)
        rc = secmsg__client_save_prekeys(c);
    if (rc == SECMSG_OK)
        rc = secmsg__store_commit(c->st);
    else
        secmsg__store_rollback(c->st);
    if (rc != SECMSG_OK)
        goto out;
    rc = secmsg_identity_public(c->id, c->idpub, sizeof c->idpub, &c->idpub_len);
    memcpy(c->device_id, c->id->pub.sign_pub, SECMSG_DEVICE_ID_BYTES);
out:
    if (buf != NULL)
        sodium_free(buf);
    if (rc != SECMSG_OK) {
        /* A half-made store must not stay behind: the identity never reached it. */
        int made = c->st != NULL;
        secmsg_client_close(c);
        if (made) {
            char keys[4096];
            snprintf(keys, sizeof keys, "%s.keys", path);
            remove(path);
            remove(keys);
        }
        return rc;
    }
    *out = c;
    return SECMSG_OK;
}

static int finish_open(secmsg_client *c, secmsg_client **out, int rc)
{
    if (rc == SECMSG_OK)
        rc = client_load(c);
    if (rc != SECMSG_OK) {
        secmsg_client_close(c);
        return rc;
    }
    *out = c;
    return SECMSG_OK;
}

int secmsg_client_open(secmsg_client **out, const char *path, const uint8_t *device_secret,
                       size_t device_secret_len, const char *pin, size_t pin_len,
                       uint32_t *attempts_left)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (path == NULL || !check_secret(device_secret, device_secret_len) || pin == NULL ||
        pin_len == 0 || pin_len > SECMSG_PIN_MAX)
        return SECMSG_E_INVALID_ARG;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    secmsg_client *c = client_alloc();
    if (c == NULL)
        return SECMSG_E_NOMEM;
    int rc = secmsg__store_open_pin(&c->st, path, device_secret, device_secret_len, pin, pin_len,
                                    attempts_left);
    return finish_open(c, out, rc);
}

int secmsg_client_open_platform(secmsg_client **out, const char *path,
                                const uint8_t *device_secret, size_t device_secret_len,
                                const uint8_t *platform_key, size_t platform_key_len,
                                uint32_t *attempts_left)
{
    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    *out = NULL;
    if (path == NULL || !check_secret(device_secret, device_secret_len) ||
        platform_key == NULL || platform_key_len != SECMSG_PLATFORM_KEY_BYTES)
        return SECMSG_E_INVALID_ARG;
    if (sodium_init() < 0)
        return SECMSG_E_INIT;
    secmsg_client *c = client_alloc();
    if (c == NULL)
        return SECMSG_E_NOMEM;
    int rc = secmsg__store_open_platform(&c->st, path, device_secret, device_secret_len,
                                         platform_key, platform_key_len, attempts_left);
    return finish_open(c, out, rc);
}

int secmsg_client_platform_key_add(secmsg_client *c, const uint8_t *platform_key,
                                   size_t platform_key_len)
{
    if (c == NULL || platform_key == NULL || platform_key_len != SECMSG_PLATFORM_KEY_BYTES)
        return SECMSG_E_INVALID_ARG;
    int rc = secmsg__store_platform_key_set(c->st, platform_key, platform_key_len);
    return rc == SECMSG_OK ? rc : secmsg__client_fail(c, rc, "%s", secmsg__store_last_error(c->st));
}

int secmsg_client_platform_key_remove(secmsg_client *c)
{
    if (c == NULL)
        return SECMSG_E_INVALID_ARG;
    int rc = secmsg__store_platform_key_clear(c->st);
    return rc == SECMSG_OK ? rc : secmsg__client_fail(c, rc, "%s", secmsg__store_last_error(c->st));
}

int secmsg_client_change_pin(secmsg_client *c, const char *new_pin, size_t new_pin_len)
{
    if (c == NULL || !check_pin(new_pin, new_pin_len))
        return SECMSG_E_INVALID_ARG;
    int rc = secmsg__store_change_pin(c->st, new_pin, new_pin_len);
    return rc == SECMSG_OK ? rc : secmsg__client_fail(c, rc, "%s", secmsg__store_last_error(c->st));
}

int secmsg_client_set_pin_policy(secmsg_client *c, uint32_t max_failures, int wipe)
{
    if (c == NULL || max_failures < 1 || max_failures > 100)
        return SECMSG_E_INVALID_ARG;
    int rc = secmsg__store_set_pin_policy(c->st, max_failures, wipe);
    return rc == SECMSG_OK ? rc : secmsg__client_fail(c, rc, "%s", secmsg__store_last_error(c->st));
}

void secmsg_client_close(secmsg_client *c)
{
    if (c == NULL)
        return;
    if (c->rc_ready)
        secmsg__rc_free(&c->rc);
    secmsg_prekeys_free(c->pk);
    secmsg_identity_free(c->id);
    secmsg__store_close(c->st);
    sodium_memzero(c, sizeof *c);
    free(c);
}

int secmsg_client_role(const secmsg_client *c)
{
    return c == NULL ? SECMSG_ROLE_NONE : c->role;
}

int secmsg_client_user_id(const secmsg_client *c, char *out, size_t cap)
{
    if (c == NULL || out == NULL || cap == 0)
        return SECMSG_E_INVALID_ARG;
    size_t n = strlen(c->user_id);
    if (cap <= n)
        return SECMSG_E_BUFFER_TOO_SMALL;
    memcpy(out, c->user_id, n + 1);
    return SECMSG_OK;
}

int secmsg_client_device_id(const secmsg_client *c, uint8_t out[SECMSG_DEVICE_ID_BYTES])
{
    if (c == NULL || out == NULL)
        return SECMSG_E_INVALID_ARG;
    memcpy(out, c->device_id, SECMSG_DEVICE_ID_BYTES);
    return SECMSG_OK;
}

int secmsg_client_identity_public(const secmsg_client *c, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    if (c == NULL || out == NULL || out_len == NULL)
        return SECMSG_E_INVALID_ARG;
    if (cap < c->idpub_len) {
        *out_len = c->idpub_len;
        return SECMSG_E_BUFFER_TOO_SMALL;
    }
    memcpy(out, c->idpub, c->idpub_len);
    *out_len = c->idpub_len;
    return SECMSG_OK;
}

int secmsg_hex(char *out, size_t cap, const uint8_t *in, size_t n)
{
    if (out == NULL || (in == NULL && n != 0) || n > (SIZE_MAX - 1) / 2)
        return SECMSG_E_INVALID_ARG;
    if (cap < 2 * n + 1)
        return SECMSG_E_BUFFER_TOO_SMALL;
    sodium_bin2hex(out, cap, in, n);
    return SECMSG_OK;
}
