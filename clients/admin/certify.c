/*
 * secmsg-admin certify: signs a device certificate with the root key.
 *
 * The certificate binds a device identity (its serialized IdentityPublic,
 * as `secmsg-caseworker init` prints it) to a user id and a role until a
 * date. It is printed as text (secmsg-cert: + base64url), which the
 * caseworker's client stores and sends to every citizen it talks to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "secmsg.h"
#include "wire/client_codec.h"
#include "wire/relay_codec.h"

#define CMD "certify"
#define DAYS_DEFAULT 365U
#define DAYS_MAX 3650U
#define SECONDS_PER_DAY 86400U
/* Hex of the largest identity a certificate holds, plus whitespace. */
#define IDENTITY_FILE_MAX 1024U

static void help(void)
{
    fputs("NAME\n"
          "       secmsg-admin certify - certify a caseworker or journal device\n"
          "\n"
          "SYNOPSIS\n"
          "       secmsg-admin certify --root-key FILE (--identity HEX | --identity-file F)\n"
          "                            --user ID --role caseworker|journal [--days N]\n"
          "\n"
          "DESCRIPTION\n"
          "       Signs, with the root key, a certificate saying that the device identity\n"
          "       belongs to user ID in the given role until N days from now, and prints it\n"
          "       on standard output as one line of text starting with \"secmsg-cert:\".\n"
          "       Give that line to the caseworker's client; citizens' clients check it\n"
          "       against the root fingerprint in their invite before they trust the device.\n"
          "\n"
          "       The identity is the device's public identity in hexadecimal, as printed\n"
          "       by 'secmsg-caseworker init'. Compare it with the device over a channel you\n"
          "       trust before certifying: the certificate vouches for exactly this key.\n"
          "\n"
          "OPTIONS\n"
          "       -k, --root-key FILE\n"
          "              The root key (see root-init). Must be mode 0600 or stricter.\n"
          "\n"
          "       -i, --identity HEX\n"
          "              The device identity, in hexadecimal.\n"
          "\n"
          "       -f, --identity-file F\n"
          "              Read the hexadecimal identity from file F instead (surrounding\n"
          "              whitespace allowed). Exactly one of --identity and --identity-file.\n"
          "\n"
          "       -u, --user ID\n"
          "              The user id on the relay: 1 to 64 characters of A-Z a-z 0-9 . _ -\n"
          "              (not \".\" or \"..\").\n"
          "\n"
          "       -r, --role caseworker|journal\n"
          "              What the device is: a caseworker's device, or the journal\n"
          "              (case-system) key.\n"
          "\n"
          "       -d, --days N\n"
          "              Validity in days from now, 1 to 3650. Default 365.\n"
          "\n",
          stdout);
    admin_help_end("       secmsg-admin certify --root-key /media/usb/municipality-root.key \\\n"
                   "           --identity-file anna.identity --user anna --role caseworker\n");
}

static int parse_days(const char *s, uint32_t *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > DAYS_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Hex (surrounding whitespace allowed) to bytes; -1 unless all of it is hex. */
static int parse_identity_hex(uint8_t *out, size_t cap, size_t *len, const char *hex, size_t n)
{
    while (n > 0 && (hex[0] == ' ' || hex[0] == '\t' || hex[0] == '\n' || hex[0] == '\r')) {
        hex++;
        n--;
    }
    while (n > 0 &&
           (hex[n - 1] == ' ' || hex[n - 1] == '\t' || hex[n - 1] == '\n' || hex[n - 1] == '\r'))
        n--;
    const char *end = NULL;
    if (n == 0 || sodium_hex2bin(out, cap, hex, n, NULL, len, &end) != 0 || end != hex + n)
        return -1;
    return 0;
}

int admin_certify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"root-key", required_argument, NULL, 'k'},
        {"identity", required_argument, NULL, 'i'},
        {"identity-file", required_argument, NULL, 'f'},
        {"user", required_argument, NULL, 'u'},
        {"role", required_argument, NULL, 'r'},
        {"days", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key_path = NULL, *id_hex = NULL, *id_file = NULL, *user = NULL, *role_s = NULL;
    uint32_t days = DAYS_DEFAULT, role = 0;
    int c, status = ADMIN_EXIT_FAILURE;
    admin_root root = {NULL, {0}};
    secmsg__cert cert;
    char *file_text = NULL, *text = NULL;
    size_t file_len = 0;
    uint8_t bin[SECMSG__CERT_MAX];
    size_t bin_len = 0, text_len = 0;

    while ((c = admin_getopt(argc, argv, CMD, ":k:i:f:u:r:d:h", opts, help, &status)) > 0) {
        switch (c) {
        case 'k':
            key_path = optarg;
            break;
        case 'i':
            id_hex = optarg;
            break;
        case 'f':
            id_file = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'r':
            role_s = optarg;
            break;
        case 'd':
            if (parse_days(optarg, &days) != 0)
                return admin_usage(CMD, "--days takes a whole number from 1 to %u, not '%s'",
                                   DAYS_MAX, optarg);
            break;
        }
    }
    if (admin_options_end(argc, argv, CMD, c, &status))
        return status;
    status = ADMIN_EXIT_FAILURE;
    if (key_path == NULL)
        return admin_usage(CMD, "--root-key FILE is required");
    if ((id_hex == NULL) == (id_file == NULL))
        return admin_usage(CMD, "give exactly one of --identity HEX and --identity-file F");
    if (user == NULL)
        return admin_usage(CMD, "--user ID is required");
    if (!secmsg__relay_user_id_valid(user))
        return admin_usage(CMD,
                           "'%s' is not a user id (1 to 64 characters of A-Z a-z 0-9 . _ -, "
                           "not \".\" or \"..\")",
                           user);
    if (role_s == NULL)
        return admin_usage(CMD, "--role caseworker|journal is required");
    if (strcmp(role_s, "caseworker") == 0)
        role = SECMSG_ROLE_CASEWORKER;
    else if (strcmp(role_s, "journal") == 0)
        role = SECMSG_ROLE_JOURNAL;
    else
        return admin_usage(CMD, "--role is 'caseworker' or 'journal', not '%s'", role_s);

    memset(&cert, 0, sizeof cert);
    if (id_hex != NULL) {
        if (parse_identity_hex(cert.identity, sizeof cert.identity, &cert.identity_len, id_hex,
                               strlen(id_hex)) != 0)
            return admin_usage(CMD, "--identity is not a device identity in hexadecimal");
    } else {
        if (admin_read_small_file(CMD, id_file, IDENTITY_FILE_MAX, &file_text, &file_len) !=
            ADMIN_EXIT_OK)
            goto out;
        if (parse_identity_hex(cert.identity, sizeof cert.identity, &cert.identity_len, file_text,
                               file_len) != 0) {
            admin_error(status, CMD, "%s does not hold a device identity in hexadecimal", id_file);
            goto out;
        }
    }
    int rc = secmsg_identity_public_verify(cert.identity, cert.identity_len);
    if (rc != SECMSG_OK) {
        admin_error(status, CMD, "the identity is not a valid secmsg device identity (%s)",
                    secmsg_strerror(rc));
        goto out;
    }

    if (admin_root_load(&root, CMD, key_path) != ADMIN_EXIT_OK)
        goto out;
    time_t now = time(NULL);
    if (now <= 0) {
        admin_error(status, CMD, "the system clock is not set");
        goto out;
    }
    memcpy(cert.root_pub, root.pk, sizeof cert.root_pub);
    memcpy(cert.user_id, user, strlen(user) + 1);
    cert.role = role;
    cert.not_after = (uint64_t)now + (uint64_t)days * SECONDS_PER_DAY;

    rc = secmsg__cert_sign(&cert, root.sk, bin, sizeof bin, &bin_len);
    if (rc != SECMSG_OK) {
        admin_error(status, CMD, "cannot sign the certificate (%s)", secmsg_strerror(rc));
        goto out;
    }
    if (secmsg__cert_to_text(bin, bin_len, NULL, 0, &text_len) != SECMSG_E_BUFFER_TOO_SMALL ||
        (text = malloc(text_len + 1)) == NULL ||
        secmsg__cert_to_text(bin, bin_len, text, text_len + 1, &text_len) != SECMSG_OK) {
        admin_error(status, CMD, "cannot format the certificate");
        goto out;
    }
    if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        admin_error(status, CMD, "cannot write to standard output");
        goto out;
    }
    status = ADMIN_EXIT_OK;
out:
    admin_root_free(&root);
    if (file_text != NULL)
        sodium_free(file_text);
    free(text);
    return status;
}
