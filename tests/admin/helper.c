/*
 * admin-test-helper: what tests/admin/test_admin.py cannot do in Python.
 *
 *   admin-test-helper identity
 *       Prints a fresh device identity public, in hex (as the caseworker
 *       CLI's init does).
 *   admin-test-helper check-cert ROOT_FP USER ROLE IDENTITY MIN MAX < CERT
 *       Decodes the certificate text on stdin with the codec, verifies its
 *       signature, and checks that its root key has fingerprint ROOT_FP (hex)
 *       and that user id, role (number), identity (hex) match and not_after
 *       lies in [MIN, MAX]. Exit 0 if all hold, 1 otherwise (with a reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secmsg.h"
#include "wire/client_codec.h"

static int fail(const char *why)
{
    fprintf(stderr, "admin-test-helper: %s\n", why);
    return 1;
}

static int identity(void)
{
    secmsg_identity *id = NULL;
    uint8_t pub[SECMSG_IDENTITY_PUBLIC_BYTES];
    char hex[2 * sizeof pub + 1];
    size_t n = 0;
    if (secmsg_identity_generate(&id) != SECMSG_OK ||
        secmsg_identity_public(id, pub, sizeof pub, &n) != SECMSG_OK)
        return fail("cannot make an identity");
    secmsg_identity_free(id);
    sodium_bin2hex(hex, sizeof hex, pub, n);
    printf("%s\n", hex);
    return 0;
}

static int check_cert(char **argv)
{
    char text[2048];
    uint8_t bin[SECMSG__CERT_MAX], fp[32], want_fp[32], want_id[256];
    size_t n = 0, fp_len = 0, id_len = 0;
    secmsg__cert c;

    size_t got = fread(text, 1, sizeof text - 1, stdin);
    text[got] = '\0';
    if (secmsg__cert_from_text(bin, sizeof bin, &n, text) != SECMSG_OK)
        return fail("not certificate text");
    int rc = secmsg__cert_verify(&c, bin, n);
    if (rc != SECMSG_OK)
        return fail(secmsg_strerror(rc));
    if (sodium_hex2bin(want_fp, sizeof want_fp, argv[0], strlen(argv[0]), NULL, &fp_len, NULL) !=
            0 ||
        fp_len != sizeof want_fp)
        return fail("bad ROOT_FP argument");
    if (secmsg__root_fingerprint(fp, c.root_pub) != SECMSG_OK || memcmp(fp, want_fp, 32) != 0)
        return fail("root fingerprint differs");
    if (strcmp(c.user_id, argv[1]) != 0)
        return fail("user id differs");
    if (c.role != (uint32_t)strtoul(argv[2], NULL, 10))
        return fail("role differs");
    if (sodium_hex2bin(want_id, sizeof want_id, argv[3], strlen(argv[3]), NULL, &id_len, NULL) !=
            0 ||
        id_len != c.identity_len || memcmp(want_id, c.identity, id_len) != 0)
        return fail("identity differs");
    unsigned long long lo = strtoull(argv[4], NULL, 10), hi = strtoull(argv[5], NULL, 10);
    if (c.not_after < lo || c.not_after > hi)
        return fail("not_after out of range");
    return 0;
}

int main(int argc, char **argv)
{
    if (secmsg_init() != SECMSG_OK)
        return fail("secmsg_init");
    if (argc == 2 && strcmp(argv[1], "identity") == 0)
        return identity();
    if (argc == 8 && strcmp(argv[1], "check-cert") == 0)
        return check_cert(argv + 2);
    fprintf(stderr, "usage: admin-test-helper identity | check-cert ROOT_FP USER ROLE IDENTITY "
                    "MIN MAX < CERT\n");
    return 2;
}
