/*
 * secmsg-admin: the municipality administrator's tool. One subcommand per
 * file (root_init.c, root_fingerprint.c, certify.c); this file dispatches.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "secmsg.h"

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"root-init", "create the municipality root key", admin_root_init},
    {"root-fingerprint", "print the fingerprint of the root key", admin_root_fingerprint},
    {"certify", "certify a caseworker or journal device", admin_certify},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Each subcommand parses its own argv (argv[0] its name) with a fresh getopt. */
static int run(const command *cmd, int argc, char **argv)
{
    opterr = 0;
    optind = 1;
    return cmd->run(argc, argv);
}

static void help(void)
{
    fputs("NAME\n"
          "       secmsg-admin - manage the municipality root key of secmsg\n"
          "\n"
          "SYNOPSIS\n"
          "       secmsg-admin COMMAND [OPTIONS]\n"
          "       secmsg-admin COMMAND --help\n"
          "       secmsg-admin --help | --version\n"
          "\n"
          "DESCRIPTION\n"
          "       The municipality's root key vouches for caseworker and journal devices:\n"
          "       it signs device certificates, and invites carry its fingerprint, so a\n"
          "       citizen's client trusts exactly the devices the municipality certified.\n"
          "       Keep the key file offline; run this tool where the key is.\n"
          "\n"
          "COMMANDS\n",
          stdout);
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("       %-18s %s\n", commands[i].name, commands[i].summary);
    fputs("\n", stdout);
    admin_help_exit_status();
    fputs("\nEXAMPLE\n"
          "       secmsg-admin root-init --out root.key\n"
          "       secmsg-admin certify --root-key root.key --identity-file anna.id \\\n"
          "           --user anna --role caseworker > anna.cert\n",
          stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "%s: a command is needed\nTry '%s --help'.\n", ADMIN_PROG, ADMIN_PROG);
        return ADMIN_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc == 3 && strcmp(name, "help") == 0) {
            /* "help COMMAND" is "COMMAND --help". */
            for (size_t i = 0; i < N_COMMANDS; i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *sub[] = {argv[2], (char *)(uintptr_t) "--help", NULL};
                    return run(&commands[i], 2, sub);
                }
            }
            fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", ADMIN_PROG, argv[2],
                    ADMIN_PROG);
            return ADMIN_EXIT_USAGE;
        }
        help();
        return ADMIN_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("%s %s\n", ADMIN_PROG, secmsg_version_string());
        return ADMIN_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            if (secmsg_init() != SECMSG_OK) {
                fprintf(stderr, "%s: cannot initialise the crypto library\n", ADMIN_PROG);
                return ADMIN_EXIT_FAILURE;
            }
            return run(&commands[i], argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", ADMIN_PROG, name, ADMIN_PROG);
    return ADMIN_EXIT_USAGE;
}
