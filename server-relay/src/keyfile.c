#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define KEYFILE_HEX (2U * RELAYD_DB_KEY_BYTES)

static int fsync_parent(const char *path)
{
    char copy[RELAYD_PATH_MAX];
    if (strlen(path) >= sizeof copy)
        return -1;
    memcpy(copy, path, strlen(path) + 1);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

static int create_keyfile(const char *path, char *err, size_t errlen)
{
    uint8_t key[RELAYD_DB_KEY_BYTES];
    char hex[KEYFILE_HEX + 2];
    int rc = -1;

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create the database key file %s: %s", path, strerror(errno));
        return -1;
    }
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    hex[KEYFILE_HEX] = '\n';
    size_t off = 0;
    while (off < KEYFILE_HEX + 1) {
        ssize_t w = write(fd, hex + off, KEYFILE_HEX + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off == KEYFILE_HEX + 1 && fsync(fd) == 0 && fsync_parent(path) == 0)
        rc = 0;
    else
        snprintf(err, errlen, "cannot write the database key file %s: %s", path, strerror(errno));
    close(fd);
    if (rc != 0)
        unlink(path);
    sodium_memzero(key, sizeof key);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

int relayd_keyfile_load(uint8_t key[RELAYD_DB_KEY_BYTES], const char *path, int create,
                        int *created, char *err, size_t errlen)
{
    char buf[KEYFILE_HEX + 8];
    struct stat st;
    int rc = -1;
    *created = 0;

    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (create_keyfile(path, err, errlen) != 0)
            return -1;
        *created = 1;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the database key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "the database key file %s is not a regular file", path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(err, errlen,
                 "the database key file %s is readable or writable by others (mode %03o); "
                 "run chmod 600 on it",
                 path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "the database key file %s is owned by another user", path);
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read the database key file %s: %s", path,
                     strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf)
            break;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    size_t bin_len = 0;
    if (len != KEYFILE_HEX ||
        sodium_hex2bin(key, RELAYD_DB_KEY_BYTES, buf, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != RELAYD_DB_KEY_BYTES) {
        snprintf(err, errlen, "the database key file %s must hold exactly 64 hex digits", path);
        sodium_memzero(key, RELAYD_DB_KEY_BYTES);
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(buf, sizeof buf);
    close(fd);
    return rc;
}

void relayd_token_key_derive(uint8_t out[32], const uint8_t db_key[RELAYD_DB_KEY_BYTES])
{
    static const char label[] = "secmsg relay token key v1";
    crypto_generichash(out, 32, (const unsigned char *)label, sizeof label - 1, db_key,
                       RELAYD_DB_KEY_BYTES);
}

int relayd_store_open_with_keyfile(const relayd_config *cfg, relay_store **st, uint8_t *token_key,
                                   char *err, size_t errlen)
{
    uint8_t *key = sodium_malloc(RELAYD_DB_KEY_BYTES);
    int created = 0, rc = -1;
    if (key == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (relayd_keyfile_load(key, cfg->key_file, 1, &created, err, errlen) != 0)
        goto out;
    int src = relay_store_open(st, cfg->db, key, &cfg->store);
    if (src != RELAY_OK) {
        snprintf(err, errlen,
                 "cannot open the database %s (code %d): wrong key, corrupt file, or the "
                 "directory is missing or not writable",
                 cfg->db, src);
        goto out;
    }
    if (token_key != NULL)
        relayd_token_key_derive(token_key, key);
    rc = 0;
out:
    sodium_free(key); /* wipes */
    return rc;
}
