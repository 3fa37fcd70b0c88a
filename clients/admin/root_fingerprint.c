/*
 * secmsg-admin root-fingerprint --root-key FILE: prints the fingerprint of
 * an existing root key, the value caseworker clients put into invites.
 */
#include <stdio.h>
#include <unistd.h>

#include "admin.h"

#define CMD "root-fingerprint"

static void help(void)
{
    fputs("NAME\n"
          "       secmsg-admin root-fingerprint - print the fingerprint of the root key\n"
          "\n"
          "SYNOPSIS\n"
          "       secmsg-admin root-fingerprint --root-key FILE\n"
          "\n"
          "DESCRIPTION\n"
          "       Reads the root key written by 'secmsg-admin root-init' and prints its\n"
          "       fingerprint (64 hexadecimal digits and a newline): BLAKE2b-256 of\n"
          "       \"secmsg root fingerprint v1\" followed by the Ed25519 public key. Invites\n"
          "       carry it, and citizens' clients accept a caseworker device only with a\n"
          "       certificate from the key with this fingerprint.\n"
          "\n"
          "       FILE must not be readable or writable by group or others; such a key may\n"
          "       have leaked and is refused.\n"
          "\n"
          "OPTIONS\n"
          "       -k, --root-key FILE\n"
          "              The root key file. Required.\n"
          "\n",
          stdout);
    admin_help_end(NULL);
}

int admin_root_fingerprint(int argc, char **argv)
{
    const char *path = NULL;
    admin_root root;
    int status;

    if (admin_file_option(argc, argv, CMD, "root-key", 'k', help, &path, &status))
        return status;
    status = admin_root_load(&root, CMD, path);
    if (status != ADMIN_EXIT_OK)
        return status;
    status = admin_print_fingerprint(CMD, root.pk);
    admin_root_free(&root);
    return status;
}
