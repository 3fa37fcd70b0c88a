/*
 * secmsg-admin root-init --out FILE: creates the municipality root key.
 *
 * The file holds the 32-byte Ed25519 seed as 64 hex digits and a newline,
 * mode 0600, created with O_EXCL (an existing key is never overwritten) and
 * synced, with its directory, before the fingerprint is printed: a
 * fingerprint on screen always belongs to a key that is on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"

#define CMD "root-init"
#define SEED_BYTES 32U

static void help(void)
{
    fputs("NAME\n"
          "       secmsg-admin root-init - create the municipality root key\n"
          "\n"
          "SYNOPSIS\n"
          "       secmsg-admin root-init --out FILE\n"
          "\n"
          "DESCRIPTION\n"
          "       Generates a new Ed25519 root key and writes its 32-byte seed to FILE as 64\n"
          "       hexadecimal digits and a newline. FILE is created with mode 0600 and must\n"
          "       not exist; an existing key is never overwritten. The data is synced to disk\n"
          "       before anything is printed.\n"
          "\n"
          "       The root key signs the certificate of every caseworker and journal device\n"
          "       (secmsg-admin certify). Citizens' clients trust a device only if its\n"
          "       certificate chains to the root fingerprint in their invite. Keep FILE\n"
          "       offline (an encrypted USB stick in a safe, not the relay host); whoever\n"
          "       holds it can certify devices that read citizens' messages.\n"
          "\n"
          "       Standard output gets the root fingerprint: 64 hexadecimal digits and a\n"
          "       newline. Configure it in the caseworker clients; it goes into every invite.\n"
          "\n"
          "OPTIONS\n"
          "       -o, --out FILE\n"
          "              Where to write the new key. Required.\n"
          "\n",
          stdout);
    admin_help_end("       secmsg-admin root-init --out /media/usb/municipality-root.key\n");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding path, so that the new entry is durable. */
static int sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return -1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int admin_root_init(int argc, char **argv)
{
    const char *out = NULL;
    int fd = -1, created = 0, status = ADMIN_EXIT_FAILURE;
    uint8_t *seed = NULL, *sk = NULL;
    char *hex = NULL;
    uint8_t pk[32];

    if (admin_file_option(argc, argv, CMD, "out", 'o', help, &out, &status))
        return status;
    status = ADMIN_EXIT_FAILURE;
    seed = sodium_malloc(SEED_BYTES);
    sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    hex = sodium_malloc(2 * SEED_BYTES + 2);
    if (seed == NULL || sk == NULL || hex == NULL) {
        admin_error(status, CMD, "out of memory");
        goto out;
    }
    randombytes_buf(seed, SEED_BYTES);
    if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
        admin_error(status, CMD, "cannot derive the root key");
        goto out;
    }
    sodium_bin2hex(hex, 2 * SEED_BYTES + 1, seed, SEED_BYTES);
    hex[2 * SEED_BYTES] = '\n';

    fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            admin_error(status, CMD, "%s already exists; refusing to overwrite a key", out);
        else
            admin_error(status, CMD, "cannot create %s: %s", out, strerror(errno));
        goto out;
    }
    created = 1;
    /* 0600 whatever the umask left. */
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || write_all(fd, hex, 2 * SEED_BYTES + 1) != 0 ||
        fsync(fd) != 0) {
        admin_error(status, CMD, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        admin_error(status, CMD, "cannot write %s: %s", out, strerror(errno));
        goto out;
    }
    fd = -1;
    if (sync_parent(out) != 0) {
        admin_error(status, CMD, "cannot sync the directory of %s: %s", out, strerror(errno));
        goto out;
    }
    status = admin_print_fingerprint(CMD, pk);
    if (status == ADMIN_EXIT_OK)
        fprintf(stderr,
                "%s: root key written to %s; keep it offline, it certifies every caseworker "
                "device\n",
                ADMIN_PROG, out);
out:
    if (fd >= 0)
        close(fd);
    if (status != ADMIN_EXIT_OK && created)
        unlink(out);
    if (seed != NULL)
        sodium_free(seed);
    if (sk != NULL)
        sodium_free(sk);
    if (hex != NULL)
        sodium_free(hex);
    return status;
}
