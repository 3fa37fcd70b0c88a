/*
 * enroll - register this caseworker device at the relay with the admin's
 * one-time token and the municipality's certificate of its identity.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "caseworker.h"

/* A token is 43 characters; a certificate's text form is well under 4 KiB. */
#define TOKEN_MAX 256U
#define CERT_MAX 8192U
#define URL_MAX 511U

static const char synopsis[] = "--relay URL --token TOKEN|@FILE --certificate CERT|@FILE";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "enroll with the admin's token and certificate", synopsis);
    printf("DESCRIPTION\n"
           "    Checks that CERT (the text secmsg-admin certify printed) certifies\n"
           "    exactly this device's identity as a caseworker under the municipality\n"
           "    root key, registers the device at the relay with the one-time TOKEN\n"
           "    (from secmsg-relay admin token), and uploads its prekeys. The user id\n"
           "    comes from the certificate. A device enrolls once.\n\n"
           "OPTIONS\n"
           "    --relay URL            the relay, http(s)://HOST[:PORT]\n"
           "    --token TOKEN|@FILE    the admin's one-time token (43 characters), or a\n"
           "                           file holding it (keeps it out of the process list)\n"
           "    --certificate CERT|@FILE\n"
           "                           the device certificate, or a file holding it\n"
           "    --help                 this manual\n\n"
           "OUTPUT\n"
           "    enrolled as USER (caseworker) at URL\n"
           "    JSON: {\"user_id\", \"role\": \"caseworker\", \"relay\"}\n\n"
           "    A certificate for another device or user exits 5, one that does not\n"
           "    verify exits 5, an expired certificate or token exits 6, an unreachable\n"
           "    relay 4.\n\n");
    cli_help_exit_status();
}

typedef struct enroll_args {
    const char *relay;
    const char *token;
    const char *cert;
} enroll_args;

static int enroll(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    const enroll_args *a = arg;
    const char *relay = a->relay;
    char user[SECMSG_USER_ID_BYTES];
    cli_json j;
    int rc;

    rc = secmsg_client_enroll_caseworker(c, relay, a->token, a->cert);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, rc == SECMSG_E_STATE
                                             ? "cannot enroll (this device is already enrolled?)"
                                             : "cannot enroll");
    }
    rc = secmsg_client_user_id(c, user, sizeof user);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "enrolled, but cannot read the user id");
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "user_id", user);
        cli_json_str(&j, "role", cli_role_name(secmsg_client_role(c)));
        cli_json_str(&j, "relay", relay);
        cli_json_end(&j);
    } else {
        printf("enrolled as %s (%s) at %s\n", user, cli_role_name(secmsg_client_role(c)),
               relay);
    }
    return CLI_EXIT_OK;
}

int cw_cmd_enroll(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"relay", required_argument, NULL, 'r'},
        {"token", required_argument, NULL, 't'},
        {"certificate", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *relay = NULL;
    const char *token_arg = NULL;
    const char *cert_arg = NULL;
    char *token = NULL;
    char *cert = NULL;
    enroll_args a;
    int opt;
    int rc;

    while ((opt = cli_getopt(ctx, argc, argv, ":h", opts, help, &rc)) > 0) {
        switch (opt) {
        case 'r':
            relay = optarg;
            break;
        case 't':
            token_arg = optarg;
            break;
        case 'c':
            cert_arg = optarg;
            break;
        }
    }
    if (cli_options_end(ctx, argc, argv, opt, synopsis, &rc)) {
        return rc;
    }
    if (relay == NULL || token_arg == NULL || cert_arg == NULL) {
        return cli_usage(ctx, synopsis, "--relay, --token and --certificate are all needed");
    }
    if (strlen(relay) > URL_MAX ||
        (strncmp(relay, "http://", 7) != 0 && strncmp(relay, "https://", 8) != 0)) {
        return cli_usage(ctx, synopsis, "--relay must be an http:// or https:// URL of at "
                         "most %u bytes", URL_MAX);
    }
    rc = cli_read_arg(ctx, token_arg, TOKEN_MAX, "token", &token);
    if (rc == CLI_EXIT_OK) {
        rc = cli_read_arg(ctx, cert_arg, CERT_MAX, "certificate", &cert);
    }
    if (rc == CLI_EXIT_OK) {
        a.relay = relay;
        a.token = token;
        a.cert = cert;
        rc = cli_with_store(ctx, 0, enroll, &a);
    }
    cli_free_arg(token);
    cli_free_arg(cert);
    return rc;
}
