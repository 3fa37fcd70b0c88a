/*
 * files.c - the device directory and device.secret.
 *
 * The device secret stands in for the platform keystore of a phone: with
 * the PIN it unlocks the store, so it must be private to this user. DIR
 * and device.secret with any group/other permission bits, of another
 * owner, or (device.secret) a symbolic link are refused before the PIN is
 * asked for. Checks are made on the opened descriptor (fstat), not on the
 * name, so the file checked is the file read.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

static const char secret_name[] = "device.secret";

int cli_path(cli_ctx *ctx, char out[CLI_PATH_MAX], const char *name)
{
    int n = snprintf(out, CLI_PATH_MAX, "%s/%s", ctx->dir, name);

    if (n < 0 || (size_t)n >= CLI_PATH_MAX) {
        return cli_error(ctx, CLI_EXIT_USAGE, "the directory name is too long");
    }
    return CLI_EXIT_OK;
}

static int check_stat(cli_ctx *ctx, const char *path, const struct stat *st, int is_dir)
{
    unsigned mode = (unsigned)(st->st_mode & 07777);

    if (is_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
        return cli_error(ctx, CLI_EXIT_TRUST, "%s is not a %s; refusing to use it", path,
                         is_dir ? "directory" : "regular file");
    }
    if (st->st_uid != geteuid()) {
        return cli_error(ctx, CLI_EXIT_TRUST,
                         "%s belongs to another user (uid %u); refusing to use it", path,
                         (unsigned)st->st_uid);
    }
    if ((mode & 077U) != 0) {
        return cli_error(ctx, CLI_EXIT_TRUST, "%s is readable by others (mode %04o); fix with "
                         "chmod %s %s", path, mode, is_dir ? "700" : "600", path);
    }
    return CLI_EXIT_OK;
}

int cli_dir_check(cli_ctx *ctx, int create)
{
    struct stat st;

    if (create && mkdir(ctx->dir, 0700) != 0 && errno != EEXIST) {
        return cli_error(ctx, CLI_EXIT_FAILURE, "cannot create %s: %s", ctx->dir,
                         strerror(errno));
    }
    if (stat(ctx->dir, &st) != 0) {
        if (errno == ENOENT) {
            return cli_error(ctx, CLI_EXIT_NOT_FOUND, "no store in %s; run init first",
                             ctx->dir);
        }
        return cli_error(ctx, CLI_EXIT_FAILURE, "cannot use %s: %s", ctx->dir, strerror(errno));
    }
    return check_stat(ctx, ctx->dir, &st, 1);
}

int cli_file_check(cli_ctx *ctx, const char *path, int missing_ok, int *exists)
{
    struct stat st;

    *exists = 0;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT && missing_ok) {
            return CLI_EXIT_OK;
        }
        if (errno == ENOENT) {
            return cli_error(ctx, CLI_EXIT_NOT_FOUND, "no store in %s; run init first",
                             ctx->dir);
        }
        return cli_error(ctx, CLI_EXIT_FAILURE, "cannot use %s: %s", path, strerror(errno));
    }
    *exists = 1;
    return check_stat(ctx, path, &st, 0);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        return -1;
    }
    rc = fsync(fd);
    close(fd);
    return rc;
}

int cli_secret_create(cli_ctx *ctx, uint8_t *secret, size_t *len, int *created)
{
    char path[CLI_PATH_MAX];
    size_t off = 0;
    ssize_t w;
    int fd;
    int ok;
    int rc;

    *created = 0;
    rc = cli_path(ctx, path, secret_name);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        return cli_secret_read(ctx, secret, len);
    }
    if (fd < 0) {
        return cli_error(ctx, CLI_EXIT_FAILURE, "cannot create %s: %s", path, strerror(errno));
    }
    randombytes_buf(secret, CLI_SECRET_BYTES);
    while (off < CLI_SECRET_BYTES) {
        w = write(fd, secret + off, CLI_SECRET_BYTES - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        off += (size_t)w;
    }
    ok = off == CLI_SECRET_BYTES && fsync(fd) == 0;
    if (close(fd) != 0) {
        ok = 0;
    }
    /* The secret must outlive a crash whenever the store it unlocks does. */
    if (ok && sync_dir(ctx->dir) != 0) {
        ok = 0;
    }
    if (!ok) {
        rc = cli_error(ctx, CLI_EXIT_FAILURE, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        sodium_memzero(secret, CLI_SECRET_BYTES);
        return rc;
    }
    *len = CLI_SECRET_BYTES;
    *created = 1;
    return CLI_EXIT_OK;
}

int cli_secret_read(cli_ctx *ctx, uint8_t *secret, size_t *len)
{
    char path[CLI_PATH_MAX];
    uint8_t buf[SECMSG_DEVICE_SECRET_MAX + 1];
    struct stat st;
    size_t n = 0;
    ssize_t r;
    int fd;
    int rc;

    rc = cli_path(ctx, path, secret_name);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return cli_error(ctx, CLI_EXIT_NOT_FOUND, "%s is missing; the store in %s cannot "
                             "be opened without it", path, ctx->dir);
        }
        if (errno == ELOOP) {
            return cli_error(ctx, CLI_EXIT_TRUST, "%s is a symbolic link; refusing to use it",
                             path);
        }
        return cli_error(ctx, CLI_EXIT_FAILURE, "cannot read %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        rc = cli_error(ctx, CLI_EXIT_FAILURE, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    rc = check_stat(ctx, path, &st, 0);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    while (n < sizeof buf) {
        r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = cli_error(ctx, CLI_EXIT_FAILURE, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    if (n < SECMSG_DEVICE_SECRET_MIN || n > SECMSG_DEVICE_SECRET_MAX) {
        rc = cli_error(ctx, CLI_EXIT_TRUST, "%s is damaged (%zu bytes; it should hold %u)", path,
                       n, CLI_SECRET_BYTES);
        goto out;
    }
    memcpy(secret, buf, n);
    *len = n;
    rc = CLI_EXIT_OK;
out:
    sodium_memzero(buf, sizeof buf);
    close(fd);
    return rc;
}
