/*
 * redeem - enroll this citizen device with an invite and connect to the
 * caseworker it names.
 */
#include <stdlib.h>
#include <string.h>

#include "citizen.h"

static const char synopsis[] = "INVITE|@FILE";

static void help(const cli_ctx *ctx)
{
    cli_help_head(ctx, "redeem the invite your caseworker gave you", synopsis);
    printf("DESCRIPTION\n"
           "    Checks the invite's form and expiry, registers this device at the\n"
           "    relay named in the invite with its one-time token, finds the\n"
           "    caseworker's device and refuses it unless its keys have exactly the\n"
           "    fingerprint the invite carries, opens the encrypted session and sends\n"
           "    the hello that proves this device holds the invite. The caseworker's\n"
           "    device answers with the municipality's certificate, checked on a later\n"
           "    sync against the invite's root key fingerprint.\n"
           "    INVITE is the text (secmsg-invite:...) or @FILE, a file holding it.\n\n"
           "OPTIONS\n"
           "    --help  this manual\n\n"
           "OUTPUT\n"
           "    connected to caseworker USER\n"
           "    JSON: {\"contact\", \"role\", \"verification\"}\n\n"
           "    Not an invite exits 1; an expired or already used invite 6; keys that\n"
           "    do not match the invite 5 (nothing is stored then); an unreachable\n"
           "    relay 4.\n\n");
    cli_help_exit_status();
}

/* The contact the invite created: the only caseworker. */
static int report(cli_ctx *ctx, secmsg_client *c)
{
    char peer[SECMSG_USER_ID_BYTES];
    secmsg_contact ct;
    cli_json j;
    int rc;

    rc = cli_resolve_peer(ctx, c, NULL, peer);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = secmsg_client_contact_find(c, peer, &ct);
    if (rc != SECMSG_OK) {
        return cli_lib_error(ctx, c, rc, "redeemed, but cannot read the contact");
    }
    if (ctx->json) {
        cli_json_begin(&j);
        cli_json_str(&j, "contact", peer);
        cli_json_str(&j, "role", cli_role_name(ct.role));
        cli_json_str(&j, "verification", cli_verification_name(ct.verification));
        cli_json_end(&j);
    } else {
        printf("connected to caseworker %s\n", peer);
        cli_note(ctx, "the keys match the invite; run sync (or watch) to receive the "
                 "municipality's certificate and messages");
    }
    return CLI_EXIT_OK;
}

static int redeem(cli_ctx *ctx, secmsg_client *c, const void *arg)
{
    int rc;

    rc = secmsg_client_redeem_invite(c, arg);
    switch (rc) {
    case SECMSG_OK:
        return report(ctx, c);
    case SECMSG_E_MALFORMED:
        return cli_lib_error(ctx, c, rc, "this is not an invite");
    case SECMSG_E_EXPIRED:
        rc = cli_lib_error(ctx, c, rc, "cannot redeem the invite");
        cli_note(ctx, "ask your caseworker for a new invite");
        return rc;
    case SECMSG_E_UNTRUSTED:
        rc = cli_lib_error(ctx, c, rc, "refused the caseworker's keys");
        cli_note(ctx, "the keys are not the ones the invite names: a forged invite or "
                 "someone in between; nothing was stored");
        return rc;
    case SECMSG_E_STATE:
        return cli_lib_error(ctx, c, rc, "cannot redeem (this device already redeemed an "
                             "invite?)");
    default:
        return cli_lib_error(ctx, c, rc, "cannot redeem the invite");
    }
}

int ct_cmd_redeem(cli_ctx *ctx, int argc, char **argv)
{
    char *invite = NULL;
    int rc;

    if (cli_help_only(ctx, argc, argv, help, &rc) == 0) {
        return rc;
    }
    if (optind + 1 != argc) {
        return cli_usage(ctx, synopsis, optind >= argc ? "no invite given"
                                                       : "one invite at a time");
    }
    rc = cli_read_arg(ctx, argv[optind], SECMSG_INVITE_MAX - 1, "invite", &invite);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_with_store(ctx, 0, redeem, invite);
    cli_free_arg(invite); /* holds the one-time token and the invite secret */
    return rc;
}
