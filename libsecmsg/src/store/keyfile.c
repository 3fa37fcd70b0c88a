/*
 * The key file: its format, the key derivations, the wrong-PIN counter and
 * the durable, locked rewrite (spec/client-store.md §2-3).
 *
 * Invariants:
 * - Every change of the key file is write-temp (0600) + fsync + rename +
 *   fsync(dir), so the file on disk is always one complete sealed version.
 * - Every read-modify-write holds flock(LOCK_EX) on the inode that is
 *   currently at `path`.keys. A writer locks its new inode before renaming
 *   it into place and keeps that lock, and a reader that wins the lock
 *   re-checks that the path still names its inode. So at most one process
 *   at a time is between reading the counter and writing it back: parallel
 *   guessers cannot share one count.
 * - An attempt is counted durably before the credential is tried, so killing
 *   the process during Argon2id cannot give a free guess.
 */
#include "store/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secmsg/common.h"

static const uint8_t MAGIC[4] = {'S', 'M', 'K', 'F'};
static const char MAC_LABEL[] = "secmsg keyfile mac v1";
static const char PIN_LABEL[] = "secmsg pin kek v1";
static const char PLAT_LABEL[] = "secmsg platform kek v1";
static const char PLAT_SECRET_LABEL[] = "secmsg platform secret v1";

#define FLAGS_ALL                                                                                  \
    (SECMSG__KEYFILE_LOCKED | SECMSG__KEYFILE_WIPE | SECMSG__KEYFILE_PLATFORM |                    \
     SECMSG__KEYFILE_WIPED)
#define MAC_OFFSET (SECMSG__KEYFILE_BYTES - SECMSG__KEYFILE_MAC_BYTES)
/* magic, version, kind, then for the PIN wrap only: ops, mem, salt */
#define AD_BYTES (4U + 1U + 1U + 4U + 4U + SECMSG__KEYFILE_SALT_BYTES)
#define AD_PLATFORM_BYTES 6U

/* ------------------------------------------------------------------------
 * Format
 * ------------------------------------------------------------------------ */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int secmsg__keyfile_parse(secmsg__keyfile *out, const uint8_t *in, size_t len)
{
    secmsg__keyfile kf;

    if (out == NULL)
        return SECMSG_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (in == NULL || len < 8 || memcmp(in, MAGIC, sizeof MAGIC) != 0 || in[4] == 0)
        return SECMSG_E_MALFORMED;
    /* Judged before the size: a newer version may have another size. */
    if (in[4] != SECMSG__KEYFILE_VERSION)
        return SECMSG_E_VERSION;
    if (len != SECMSG__KEYFILE_BYTES ||
        ((uint32_t)in[6] | (uint32_t)in[7] << 8) != SECMSG__KEYFILE_BYTES)
        return SECMSG_E_MALFORMED;

    memset(&kf, 0, sizeof kf);
    kf.flags = in[5];
    kf.failures = get32(in + 8);
    kf.max_failures = get32(in + 12);
    kf.kdf_ops = get32(in + 16);
    kf.kdf_mem_kib = get32(in + 20);
    memcpy(kf.salt, in + 24, sizeof kf.salt);
    memcpy(kf.pin_nonce, in + 40, sizeof kf.pin_nonce);
    memcpy(kf.pin_wrap, in + 64, sizeof kf.pin_wrap);
    memcpy(kf.plat_nonce, in + 112, sizeof kf.plat_nonce);
    memcpy(kf.plat_wrap, in + 136, sizeof kf.plat_wrap);
    memcpy(kf.mac, in + MAC_OFFSET, sizeof kf.mac);

    /* Bounds first: a tampered cost must not make anyone allocate 100 GiB. */
    if ((kf.flags & ~FLAGS_ALL) != 0 || kf.kdf_ops < SECMSG__KDF_OPS_MIN ||
        kf.kdf_ops > SECMSG__KDF_OPS_MAX || kf.kdf_mem_kib < SECMSG__KDF_MEM_KIB_MIN ||
        kf.kdf_mem_kib > SECMSG__KDF_MEM_KIB_MAX || kf.max_failures < 1 ||
        kf.max_failures > SECMSG__PIN_MAX_FAILURES_MAX || kf.failures > kf.max_failures)
        goto malformed;
    /* Absent wraps are all zero, so every parsed file has one encoding. */
    if ((kf.flags & SECMSG__KEYFILE_PLATFORM) == 0 &&
        (!sodium_is_zero(kf.plat_nonce, sizeof kf.plat_nonce) ||
         !sodium_is_zero(kf.plat_wrap, sizeof kf.plat_wrap)))
        goto malformed;
    if ((kf.flags & SECMSG__KEYFILE_WIPED) != 0 &&
        ((kf.flags & SECMSG__KEYFILE_LOCKED) == 0 || (kf.flags & SECMSG__KEYFILE_PLATFORM) != 0 ||
         !sodium_is_zero(kf.pin_nonce, sizeof kf.pin_nonce) ||
         !sodium_is_zero(kf.pin_wrap, sizeof kf.pin_wrap)))
        goto malformed;
    *out = kf;
    sodium_memzero(&kf, sizeof kf);
    return SECMSG_OK;
malformed:
    sodium_memzero(&kf, sizeof kf);
    return SECMSG_E_MALFORMED;
}

void secmsg__keyfile_encode(uint8_t out[SECMSG__KEYFILE_BYTES], const secmsg__keyfile *kf)
{
    memcpy(out, MAGIC, sizeof MAGIC);
    out[4] = SECMSG__KEYFILE_VERSION;
    out[5] = kf->flags;
    out[6] = (uint8_t)(SECMSG__KEYFILE_BYTES & 0xffU);
    out[7] = (uint8_t)(SECMSG__KEYFILE_BYTES >> 8);
    put32(out + 8, kf->failures);
    put32(out + 12, kf->max_failures);
    put32(out + 16, kf->kdf_ops);
    put32(out + 20, kf->kdf_mem_kib);
    memcpy(out + 24, kf->salt, sizeof kf->salt);
    memcpy(out + 40, kf->pin_nonce, sizeof kf->pin_nonce);
    memcpy(out + 64, kf->pin_wrap, sizeof kf->pin_wrap);
    memcpy(out + 112, kf->plat_nonce, sizeof kf->plat_nonce);
    memcpy(out + 136, kf->plat_wrap, sizeof kf->plat_wrap);
    memcpy(out + MAC_OFFSET, kf->mac, sizeof kf->mac);
}

static void compute_mac(uint8_t mac[32], const secmsg__keyfile *kf, const uint8_t kmac[32])
{
    uint8_t buf[SECMSG__KEYFILE_BYTES];
    secmsg__keyfile_encode(buf, kf);
    crypto_generichash(mac, 32, buf, MAC_OFFSET, kmac, 32);
    sodium_memzero(buf, sizeof buf);
}

void secmsg__keyfile_seal(secmsg__keyfile *kf, const uint8_t kmac[32])
{
    compute_mac(kf->mac, kf, kmac);
}

int secmsg__keyfile_verify(const secmsg__keyfile *kf, const uint8_t kmac[32])
{
    uint8_t mac[32];
    compute_mac(mac, kf, kmac);
    int ok = crypto_verify_32(mac, kf->mac) == 0;
    sodium_memzero(mac, sizeof mac);
    return ok ? SECMSG_OK : SECMSG_E_TAMPERED;
}

/* ------------------------------------------------------------------------
 * Keys
 * ------------------------------------------------------------------------ */

void secmsg__keyfile_mac_key(uint8_t kmac[32], const uint8_t *secret, size_t secret_len)
{
    crypto_generichash(kmac, 32, (const uint8_t *)MAC_LABEL, sizeof MAC_LABEL - 1, secret,
                       secret_len);
}

int secmsg__keyfile_kek_pin(uint8_t kek[32], const secmsg__keyfile *kf, const char *pin,
                            size_t pin_len, const uint8_t *secret, size_t secret_len)
{
    uint8_t stretched[32];
    crypto_generichash_state st;
    int rc = SECMSG_E_NOMEM;

    /* The bounds were checked by the parser (or by create for a new file). */
    if (crypto_pwhash(stretched, sizeof stretched, pin, pin_len, kf->salt, kf->kdf_ops,
                      (size_t)kf->kdf_mem_kib * 1024U, crypto_pwhash_ALG_ARGON2ID13) != 0)
        goto out;
    crypto_generichash_init(&st, stretched, sizeof stretched, 32);
    crypto_generichash_update(&st, (const uint8_t *)PIN_LABEL, sizeof PIN_LABEL - 1);
    crypto_generichash_update(&st, secret, secret_len);
    crypto_generichash_final(&st, kek, 32);
    rc = SECMSG_OK;
out:
    sodium_memzero(stretched, sizeof stretched);
    sodium_memzero(&st, sizeof st);
    return rc;
}

void secmsg__keyfile_kek_platform(uint8_t kek[32], const uint8_t key[32], const uint8_t *secret,
                                  size_t secret_len)
{
    uint8_t d[32];
    crypto_generichash_state st;

    crypto_generichash(d, sizeof d, (const uint8_t *)PLAT_SECRET_LABEL,
                       sizeof PLAT_SECRET_LABEL - 1, secret, secret_len);
    crypto_generichash_init(&st, key, 32, 32);
    crypto_generichash_update(&st, (const uint8_t *)PLAT_LABEL, sizeof PLAT_LABEL - 1);
    crypto_generichash_update(&st, d, sizeof d);
    crypto_generichash_final(&st, kek, 32);
    sodium_memzero(d, sizeof d);
    sodium_memzero(&st, sizeof st);
}

/*
 * A wrap's associated data binds it to its kind, and the PIN wrap also to
 * the KDF inputs it was made with. Not to the counter or flags, which change
 * without re-wrapping, and the platform wrap not to the salt, which a PIN
 * change replaces without knowing the platform key. Returns the AD length.
 */
static size_t wrap_ad(uint8_t ad[AD_BYTES], const secmsg__keyfile *kf, secmsg__keyfile_kind kind)
{
    memcpy(ad, MAGIC, sizeof MAGIC);
    ad[4] = SECMSG__KEYFILE_VERSION;
    ad[5] = (uint8_t)kind;
    if (kind != SECMSG__WRAP_PIN)
        return AD_PLATFORM_BYTES;
    put32(ad + 6, kf->kdf_ops);
    put32(ad + 10, kf->kdf_mem_kib);
    memcpy(ad + 14, kf->salt, sizeof kf->salt);
    return AD_BYTES;
}

void secmsg__keyfile_wrap(secmsg__keyfile *kf, secmsg__keyfile_kind kind, const uint8_t kek[32],
                          const uint8_t dbkey[SECMSG__DB_KEY_BYTES])
{
    uint8_t ad[AD_BYTES];
    uint8_t *nonce = kind == SECMSG__WRAP_PIN ? kf->pin_nonce : kf->plat_nonce;
    uint8_t *wrap = kind == SECMSG__WRAP_PIN ? kf->pin_wrap : kf->plat_wrap;

    size_t ad_len = wrap_ad(ad, kf, kind);
    randombytes_buf(nonce, SECMSG__KEYFILE_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrap, NULL, dbkey, SECMSG__DB_KEY_BYTES, ad, ad_len,
                                               NULL, nonce, kek);
}

int secmsg__keyfile_unwrap(uint8_t dbkey[SECMSG__DB_KEY_BYTES], const secmsg__keyfile *kf,
                           secmsg__keyfile_kind kind, const uint8_t kek[32])
{
    uint8_t ad[AD_BYTES];
    const uint8_t *nonce = kind == SECMSG__WRAP_PIN ? kf->pin_nonce : kf->plat_nonce;
    const uint8_t *wrap = kind == SECMSG__WRAP_PIN ? kf->pin_wrap : kf->plat_wrap;

    size_t ad_len = wrap_ad(ad, kf, kind);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            dbkey, NULL, NULL, wrap, SECMSG__KEYFILE_WRAP_BYTES, ad, ad_len, nonce, kek) != 0) {
        sodium_memzero(dbkey, SECMSG__DB_KEY_BYTES);
        return SECMSG_E_DECRYPT;
    }
    return SECMSG_OK;
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

/* fsync of the directory holding `path`, so a create/rename/unlink in it
 * is durable. */
static int fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc = SECMSG_E_STORE;

    if (slash == NULL) {
        dir = concat(".", "");
    } else if (slash == path) {
        dir = concat("/", "");
    } else {
        dir = malloc((size_t)(slash - path) + 1);
        if (dir != NULL) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
        }
    }
    if (dir == NULL)
        return SECMSG_E_NOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) == 0)
            rc = SECMSG_OK;
        close(fd);
    }
    free(dir);
    return rc;
}

/* A store file must be a regular file of ours that nobody else may touch. */
static int check_stat(const struct stat *sb)
{
    if (!S_ISREG(sb->st_mode) || sb->st_uid != geteuid() || (sb->st_mode & 077) != 0)
        return SECMSG_E_PERMISSION;
    return SECMSG_OK;
}

static int open_errno(int err)
{
    if (err == ENOENT)
        return SECMSG_E_NOT_FOUND;
    if (err == ELOOP || err == EACCES || err == EPERM)
        return SECMSG_E_PERMISSION; /* a symlink, or not ours */
    return SECMSG_E_STORE;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return SECMSG_E_STORE;
        }
        p += w;
        n -= (size_t)w;
    }
    return SECMSG_OK;
}

static int lock_fd(int fd, int op)
{
    while (flock(fd, op) != 0) {
        if (errno != EINTR)
            return SECMSG_E_STORE;
    }
    return SECMSG_OK;
}

/*
 * Opens `keys_path`, checks its mode and owner on the opened descriptor,
 * and takes the exclusive lock on the inode that is still at the path.
 */
static int open_locked(int *out, const char *keys_path)
{
    for (unsigned tries = 0; tries < 64; tries++) {
        struct stat a, b;
        int fd = open(keys_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return open_errno(errno);
        int rc = fstat(fd, &a) == 0 ? check_stat(&a) : SECMSG_E_STORE;
        if (rc == SECMSG_OK)
            rc = lock_fd(fd, LOCK_EX);
        if (rc != SECMSG_OK) {
            close(fd);
            return rc;
        }
        if (lstat(keys_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            *out = fd;
            return SECMSG_OK;
        }
        /* Replaced (or removed) while we waited: lock the new one. */
        close(fd);
    }
    return SECMSG_E_STORE;
}

static int read_locked(int fd, secmsg__keyfile *kf)
{
    uint8_t buf[SECMSG__KEYFILE_READ_MAX + 1];
    size_t n = 0;
    int rc;

    while (n < sizeof buf) {
        ssize_t r = pread(fd, buf + n, sizeof buf - n, (off_t)n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = SECMSG_E_STORE;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    rc = n > SECMSG__KEYFILE_READ_MAX ? SECMSG_E_MALFORMED : secmsg__keyfile_parse(kf, buf, n);
    /* A key file that does not parse was damaged or altered behind our back. */
    if (rc == SECMSG_E_MALFORMED)
        rc = SECMSG_E_TAMPERED;
out:
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/*
 * Replaces the key file durably with kf, while *lock_fd holds the lock on
 * the current one. On return *lock_fd holds the lock on whatever is at the
 * path (the new file once the rename happened).
 */
static int write_locked(int *lock_fd, const char *keys_path, const secmsg__keyfile *kf)
{
    uint8_t buf[SECMSG__KEYFILE_BYTES];
    char *tmp = concat(keys_path, ".tmp");
    int fd = -1, rc = SECMSG_E_STORE;

    if (tmp == NULL)
        return SECMSG_E_NOMEM;
    secmsg__keyfile_encode(buf, kf);
    /* Only a lock holder writes the temp file, so a leftover is a crash's. */
    if (unlink(tmp) != 0 && errno != ENOENT)
        goto out;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    if (fchmod(fd, 0600) != 0 || flock(fd, LOCK_EX | LOCK_NB) != 0 ||
        write_all(fd, buf, sizeof buf) != SECMSG_OK || fsync(fd) != 0)
        goto out;
    if (rename(tmp, keys_path) != 0)
        goto out;
    close(*lock_fd);
    *lock_fd = fd;
    fd = -1;
    rc = fsync_dir_of(keys_path);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    sodium_memzero(buf, sizeof buf);
    free(tmp);
    return rc;
}

int secmsg__keyfile_create(const char *keys_path, const secmsg__keyfile *kf)
{
    uint8_t buf[SECMSG__KEYFILE_BYTES];
    int rc = SECMSG_E_STORE;

    int fd = open(keys_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? SECMSG_E_EXISTS : SECMSG_E_STORE;
    secmsg__keyfile_encode(buf, kf);
    if (fchmod(fd, 0600) == 0 && write_all(fd, buf, sizeof buf) == SECMSG_OK && fsync(fd) == 0)
        rc = fsync_dir_of(keys_path);
    close(fd);
    if (rc != SECMSG_OK)
        unlink(keys_path);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

void secmsg__store_unlink_db(const char *db_path)
{
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};

    unlink(db_path);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *p = concat(db_path, suffixes[i]);
        if (p != NULL)
            unlink(p);
        free(p);
    }
}

/* Removes what is left of a wiped store. The wraps are already zero on
 * disk (or the key file is gone), so the order here is not critical. */
static void finish_wipe(const char *db_path, const char *keys_path)
{
    secmsg__store_unlink_db(db_path);
    unlink(keys_path);
    (void)fsync_dir_of(keys_path);
}

/* Sets LOCKED, and with the WIPE policy erases both wraps durably and
 * removes the files. Always ends in SECMSG_E_LOCKED. */
static int lock_out(int *lock_fd, secmsg__keyfile *kf, const uint8_t kmac[32], const char *db_path,
                    const char *keys_path)
{
    kf->flags |= SECMSG__KEYFILE_LOCKED;
    if ((kf->flags & SECMSG__KEYFILE_WIPE) != 0) {
        kf->flags = (uint8_t)((kf->flags & ~SECMSG__KEYFILE_PLATFORM) | SECMSG__KEYFILE_WIPED);
        sodium_memzero(kf->pin_nonce, sizeof kf->pin_nonce);
        sodium_memzero(kf->pin_wrap, sizeof kf->pin_wrap);
        sodium_memzero(kf->plat_nonce, sizeof kf->plat_nonce);
        sodium_memzero(kf->plat_wrap, sizeof kf->plat_wrap);
    }
    secmsg__keyfile_seal(kf, kmac);
    /* Even if this write fails, removing the database destroys the data. */
    (void)write_locked(lock_fd, keys_path, kf);
    if ((kf->flags & SECMSG__KEYFILE_WIPED) != 0)
        finish_wipe(db_path, keys_path);
    return SECMSG_E_LOCKED;
}

/* The database file is checked by path, not through a descriptor of our
 * own: closing any descriptor of a database file drops every POSIX lock
 * this process holds on it, including those of another open connection. */
static int check_db_file(const char *db_path)
{
    struct stat sb;
    if (lstat(db_path, &sb) != 0)
        return errno == ENOENT ? SECMSG_E_NOT_FOUND : SECMSG_E_STORE;
    return check_stat(&sb);
}

int secmsg__keyfile_unlock(uint8_t dbkey[SECMSG__DB_KEY_BYTES], const char *db_path,
                           const char *keys_path, const uint8_t *secret, size_t secret_len,
                           secmsg__keyfile_kind kind, const uint8_t *cred, size_t cred_len,
                           uint32_t *left)
{
    secmsg__keyfile kf;
    uint8_t kmac[32], kek[32];
    int fd = -1;
    int rc;

    memset(&kf, 0, sizeof kf);
    if (left != NULL)
        *left = 0;
    secmsg__keyfile_mac_key(kmac, secret, secret_len);
    if ((rc = open_locked(&fd, keys_path)) != SECMSG_OK)
        goto out;
    if ((rc = read_locked(fd, &kf)) != SECMSG_OK)
        goto out;
    /* Also what a wrong device secret looks like: it gives another K_mac. */
    if ((rc = secmsg__keyfile_verify(&kf, kmac)) != SECMSG_OK)
        goto out;
    if ((kf.flags & SECMSG__KEYFILE_WIPED) != 0) {
        finish_wipe(db_path, keys_path);
        rc = SECMSG_E_NOT_FOUND;
        goto out;
    }
    if ((kf.flags & SECMSG__KEYFILE_LOCKED) != 0) {
        rc = SECMSG_E_LOCKED;
        goto out;
    }
    /* The last attempt was counted but never answered (killed meanwhile). */
    if (kf.failures >= kf.max_failures) {
        rc = lock_out(&fd, &kf, kmac, db_path, keys_path);
        goto out;
    }
    if (kind == SECMSG__WRAP_PLATFORM && (kf.flags & SECMSG__KEYFILE_PLATFORM) == 0) {
        rc = SECMSG_E_NOT_FOUND;
        goto out;
    }
    if ((rc = check_db_file(db_path)) != SECMSG_OK)
        goto out;

    kf.failures++;
    secmsg__keyfile_seal(&kf, kmac);
    if ((rc = write_locked(&fd, keys_path, &kf)) != SECMSG_OK)
        goto out;

    if (kind == SECMSG__WRAP_PIN) {
        rc = secmsg__keyfile_kek_pin(kek, &kf, (const char *)cred, cred_len, secret, secret_len);
        if (rc != SECMSG_OK)
            goto out;
    } else {
        secmsg__keyfile_kek_platform(kek, cred, secret, secret_len);
    }
    if (secmsg__keyfile_unwrap(dbkey, &kf, kind, kek) != SECMSG_OK) {
        if (kf.failures >= kf.max_failures) {
            rc = lock_out(&fd, &kf, kmac, db_path, keys_path);
        } else {
            rc = SECMSG_E_WRONG_PIN;
            if (left != NULL)
                *left = kf.max_failures - kf.failures;
        }
        goto out;
    }
    kf.failures = 0;
    secmsg__keyfile_seal(&kf, kmac);
    if ((rc = write_locked(&fd, keys_path, &kf)) != SECMSG_OK) {
        sodium_memzero(dbkey, SECMSG__DB_KEY_BYTES);
        goto out;
    }
    if (left != NULL)
        *left = kf.max_failures;
out:
    if (fd >= 0)
        close(fd); /* releases the lock */
    sodium_memzero(&kf, sizeof kf);
    sodium_memzero(kmac, sizeof kmac);
    sodium_memzero(kek, sizeof kek);
    return rc;
}

int secmsg__keyfile_update(const char *keys_path, const uint8_t *secret, size_t secret_len,
                           secmsg__keyfile_edit_fn edit, void *ctx)
{
    secmsg__keyfile kf;
    uint8_t kmac[32];
    int fd = -1;
    int rc;

    memset(&kf, 0, sizeof kf);
    secmsg__keyfile_mac_key(kmac, secret, secret_len);
    if ((rc = open_locked(&fd, keys_path)) != SECMSG_OK ||
        (rc = read_locked(fd, &kf)) != SECMSG_OK ||
        (rc = secmsg__keyfile_verify(&kf, kmac)) != SECMSG_OK)
        goto out;
    /* Locked by another process's wrong guesses while this store was open:
     * the lock-out stands, even for the open handle. */
    if ((kf.flags & SECMSG__KEYFILE_LOCKED) != 0) {
        rc = SECMSG_E_LOCKED;
        goto out;
    }
    if ((rc = edit(&kf, ctx)) != SECMSG_OK)
        goto out;
    secmsg__keyfile_seal(&kf, kmac);
    rc = write_locked(&fd, keys_path, &kf);
out:
    if (fd >= 0)
        close(fd);
    sodium_memzero(&kf, sizeof kf);
    sodium_memzero(kmac, sizeof kmac);
    return rc;
}
