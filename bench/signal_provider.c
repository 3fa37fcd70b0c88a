/*
 * signal_provider.c - libsignal-protocol-c crypto provider over OpenSSL 3.
 *
 * Built for speed so that the provider does not handicap libsignal:
 * - HMAC-SHA256 is RFC 2104 over OpenSSL's low-level SHA256_CTX (SHA-NI where
 *   present). OpenSSL 3 deprecates that API, but its EVP_MAC path costs
 *   about 3 us of context set-up per HMAC against 0.4 us here, and
 *   libsignal computes a dozen HMACs per message.
 * - SHA-512 likewise uses SHA512_CTX.
 * - AES goes through EVP with ciphers fetched once (explicit fetching avoids
 *   OpenSSL 3's per-call implicit fetch) and one reused context.
 * Output buffers are allocated at their exact final size; CBC decryption
 * learns the padding length from the last block first for that reason.
 */
/* Low-level SHA-256/512 on purpose (see above); no deprecation warnings. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "signal_support.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define AES_BLOCK 16U
#define SHA256_BLOCK 64U

typedef struct ossl_state {
    EVP_CIPHER *cbc[3]; /* AES-128, -192, -256 */
    EVP_CIPHER *ctr[3];
    EVP_CIPHER_CTX *cctx; /* reused: the provider is only called from one thread */
} ossl_state;

/* HMAC-SHA256 with the inner and outer hashes keyed at init. */
typedef struct hmac_sha256 {
    SHA256_CTX inner, outer;
} hmac_sha256;

static ossl_state g_ossl;
static int g_ossl_ready;

static int p_random(uint8_t *data, size_t len, void *user_data)
{
    (void)user_data;
    if (len > (size_t)INT32_MAX)
        return SG_ERR_INVAL;
    return RAND_bytes(data, (int)len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int p_hmac_init(void **hmac_context, const uint8_t *key, size_t key_len, void *user_data)
{
    uint8_t pad[SHA256_BLOCK] = {0};
    (void)user_data;
    hmac_sha256 *h = malloc(sizeof *h);
    if (h == NULL)
        return SG_ERR_NOMEM;
    if (key_len > SHA256_BLOCK)
        SHA256(key, key_len, pad);
    else if (key_len > 0)
        memcpy(pad, key, key_len);
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] ^= 0x36;
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, SHA256_BLOCK);
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, SHA256_BLOCK);
    OPENSSL_cleanse(pad, sizeof pad);
    *hmac_context = h;
    return 0;
}

static int p_hmac_update(void *hmac_context, const uint8_t *data, size_t data_len, void *user_data)
{
    hmac_sha256 *h = hmac_context;
    (void)user_data;
    return SHA256_Update(&h->inner, data, data_len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int p_hmac_final(void *hmac_context, signal_buffer **output, void *user_data)
{
    hmac_sha256 *h = hmac_context;
    uint8_t md[SHA256_DIGEST_LENGTH];
    (void)user_data;
    SHA256_Final(md, &h->inner);
    SHA256_Update(&h->outer, md, sizeof md);
    SHA256_Final(md, &h->outer);
    *output = signal_buffer_create(md, sizeof md);
    OPENSSL_cleanse(md, sizeof md);
    return *output != NULL ? 0 : SG_ERR_NOMEM;
}

/* Wipes and frees a hash context (NULL-safe). */
static void context_free(void *context, size_t size)
{
    if (context != NULL) {
        OPENSSL_cleanse(context, size);
        free(context);
    }
}

static void p_hmac_cleanup(void *hmac_context, void *user_data)
{
    (void)user_data;
    context_free(hmac_context, sizeof(hmac_sha256));
}

static int p_sha512_init(void **digest_context, void *user_data)
{
    (void)user_data;
    SHA512_CTX *c = malloc(sizeof *c);
    if (c == NULL)
        return SG_ERR_NOMEM;
    SHA512_Init(c);
    *digest_context = c;
    return 0;
}

static int p_sha512_update(void *digest_context, const uint8_t *data, size_t data_len,
                           void *user_data)
{
    (void)user_data;
    return SHA512_Update(digest_context, data, data_len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

/* Finalizes and re-initializes the context, as libsignal expects. */
static int p_sha512_final(void *digest_context, signal_buffer **output, void *user_data)
{
    uint8_t md[SHA512_DIGEST_LENGTH];
    (void)user_data;
    SHA512_Final(md, digest_context);
    SHA512_Init(digest_context);
    *output = signal_buffer_create(md, sizeof md);
    return *output != NULL ? 0 : SG_ERR_NOMEM;
}

static void p_sha512_cleanup(void *digest_context, void *user_data)
{
    (void)user_data;
    context_free(digest_context, sizeof(SHA512_CTX));
}

static const EVP_CIPHER *pick_cipher(const ossl_state *st, int cipher, size_t key_len,
                                     size_t iv_len)
{
    size_t i;
    if (iv_len != AES_BLOCK)
        return NULL;
    switch (key_len) {
    case 16:
        i = 0;
        break;
    case 24:
        i = 1;
        break;
    case 32:
        i = 2;
        break;
    default:
        return NULL;
    }
    if (cipher == SG_CIPHER_AES_CBC_PKCS5)
        return st->cbc[i];
    if (cipher == SG_CIPHER_AES_CTR_NOPADDING)
        return st->ctr[i];
    return NULL;
}

/* One EVP update over `len` bytes (len < INT_MAX checked by callers). */
static int cipher_update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len,
                         size_t *written)
{
    int l = 0;
    if (len == 0) {
        *written = 0;
        return 0;
    }
    if (EVP_CipherUpdate(c, out, &l, in, (int)len) != 1 || l < 0)
        return SG_ERR_UNKNOWN;
    *written = (size_t)l;
    return 0;
}

static int p_encrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                     const uint8_t *iv, size_t iv_len, const uint8_t *plaintext,
                     size_t plaintext_len, void *user_data)
{
    ossl_state *st = user_data;
    const EVP_CIPHER *ev = pick_cipher(st, cipher, key_len, iv_len);
    int cbc = cipher == SG_CIPHER_AES_CBC_PKCS5;
    size_t out_len = cbc ? (plaintext_len / AES_BLOCK + 1U) * AES_BLOCK : plaintext_len;
    size_t n1 = 0;
    int n2 = 0;

    if (ev == NULL || plaintext_len > (size_t)INT32_MAX - AES_BLOCK)
        return SG_ERR_INVAL;
    signal_buffer *buf = signal_buffer_alloc(out_len);
    if (buf == NULL)
        return SG_ERR_NOMEM;
    uint8_t *out = signal_buffer_data(buf);
    if (EVP_CipherInit_ex2(st->cctx, ev, key, iv, 1, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(st->cctx, cbc) != 1 ||
        cipher_update(st->cctx, out, plaintext, plaintext_len, &n1) != 0 ||
        EVP_CipherFinal_ex(st->cctx, out + n1, &n2) != 1 || n2 < 0 || n1 + (size_t)n2 != out_len) {
        signal_buffer_bzero_free(buf);
        return SG_ERR_UNKNOWN;
    }
    *output = buf;
    return 0;
}

/* Padding length of a CBC-PKCS5 ciphertext, from its last block alone. */
static int cbc_pad_len(ossl_state *st, const EVP_CIPHER *ev, const uint8_t *key, const uint8_t *iv,
                       const uint8_t *ct, size_t ct_len, size_t *pad)
{
    uint8_t last[AES_BLOCK];
    size_t n = 0;
    const uint8_t *prev = ct_len == AES_BLOCK ? iv : ct + ct_len - 2U * AES_BLOCK;
    int rc = SG_ERR_INVALID_MESSAGE;

    if (EVP_CipherInit_ex2(st->cctx, ev, key, prev, 0, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(st->cctx, 0) != 1 ||
        cipher_update(st->cctx, last, ct + ct_len - AES_BLOCK, AES_BLOCK, &n) != 0 ||
        n != AES_BLOCK)
        goto out;
    size_t p = last[AES_BLOCK - 1];
    if (p == 0 || p > AES_BLOCK)
        goto out;
    unsigned diff = 0;
    for (size_t i = AES_BLOCK - p; i < AES_BLOCK; i++)
        diff |= (unsigned)(last[i] ^ (uint8_t)p);
    if (diff != 0)
        goto out;
    *pad = p;
    rc = 0;
out:
    OPENSSL_cleanse(last, sizeof last);
    return rc;
}

static int p_decrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                     const uint8_t *iv, size_t iv_len, const uint8_t *ciphertext,
                     size_t ciphertext_len, void *user_data)
{
    ossl_state *st = user_data;
    const EVP_CIPHER *ev = pick_cipher(st, cipher, key_len, iv_len);
    int cbc = cipher == SG_CIPHER_AES_CBC_PKCS5;
    size_t pad = 0, n = 0;
    uint8_t last[AES_BLOCK];

    if (ev == NULL || ciphertext_len > (size_t)INT32_MAX)
        return SG_ERR_INVAL;
    if (cbc) {
        if (ciphertext_len == 0 || ciphertext_len % AES_BLOCK != 0)
            return SG_ERR_INVALID_MESSAGE;
        int rc = cbc_pad_len(st, ev, key, iv, ciphertext, ciphertext_len, &pad);
        if (rc != 0)
            return rc;
    }
    signal_buffer *buf = signal_buffer_alloc(ciphertext_len - pad);
    if (buf == NULL)
        return SG_ERR_NOMEM;
    uint8_t *out = signal_buffer_data(buf);
    /*
     * CBC: everything but the last block goes straight to the output, the
     * last block to a temporary from which the unpadded bytes are copied.
     */
    size_t body = cbc ? ciphertext_len - AES_BLOCK : ciphertext_len;
    if (EVP_CipherInit_ex2(st->cctx, ev, key, iv, 0, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(st->cctx, 0) != 1 ||
        cipher_update(st->cctx, out, ciphertext, body, &n) != 0 || n != body)
        goto fail;
    if (cbc) {
        if (cipher_update(st->cctx, last, ciphertext + body, AES_BLOCK, &n) != 0 || n != AES_BLOCK)
            goto fail;
        memcpy(out + body, last, AES_BLOCK - pad);
        OPENSSL_cleanse(last, sizeof last);
    }
    *output = buf;
    return 0;
fail:
    OPENSSL_cleanse(last, sizeof last);
    signal_buffer_bzero_free(buf);
    return SG_ERR_UNKNOWN;
}

void sig_provider_release(void)
{
    if (!g_ossl_ready)
        return;
    EVP_CIPHER_CTX_free(g_ossl.cctx);
    for (size_t i = 0; i < 3; i++) {
        EVP_CIPHER_free(g_ossl.cbc[i]);
        EVP_CIPHER_free(g_ossl.ctr[i]);
    }
    memset(&g_ossl, 0, sizeof g_ossl);
    g_ossl_ready = 0;
}

static int ossl_setup(void)
{
    static const char *const cbc_names[3] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
    static const char *const ctr_names[3] = {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"};

    if (g_ossl_ready)
        return 0;
    g_ossl_ready = 1; /* from here on, release() frees whatever was fetched */
    for (size_t i = 0; i < 3; i++) {
        if ((g_ossl.cbc[i] = EVP_CIPHER_fetch(NULL, cbc_names[i], NULL)) == NULL ||
            (g_ossl.ctr[i] = EVP_CIPHER_fetch(NULL, ctr_names[i], NULL)) == NULL)
            goto fail;
    }
    if ((g_ossl.cctx = EVP_CIPHER_CTX_new()) == NULL)
        goto fail;
    return 0;
fail:
    sig_provider_release();
    return SG_ERR_UNKNOWN;
}

int sig_provider_install(signal_context *ctx)
{
    int rc = ossl_setup();
    if (rc != 0)
        return rc;
    signal_crypto_provider p = {
        .random_func = p_random,
        .hmac_sha256_init_func = p_hmac_init,
        .hmac_sha256_update_func = p_hmac_update,
        .hmac_sha256_final_func = p_hmac_final,
        .hmac_sha256_cleanup_func = p_hmac_cleanup,
        .sha512_digest_init_func = p_sha512_init,
        .sha512_digest_update_func = p_sha512_update,
        .sha512_digest_final_func = p_sha512_final,
        .sha512_digest_cleanup_func = p_sha512_cleanup,
        .encrypt_func = p_encrypt,
        .decrypt_func = p_decrypt,
        .user_data = &g_ossl,
    };
    return signal_context_set_crypto_provider(ctx, &p);
}
