/*
 * secmsg-caseworker - the reference CLI for a municipal caseworker's
 * device (spec/client-cli.md).
 */
#include "caseworker.h"

static const cli_command commands[] = {
    {"init", "create this device's encrypted store", cli_cmd_init},
    {"enroll", "enroll with the admin's token and certificate", cw_cmd_enroll},
    {"invite", "create an invite (text and QR code) for a citizen", cw_cmd_invite},
    {"contacts", "list the contacts", cli_cmd_contacts},
    {"send", "send a text message", cli_cmd_send},
    {"sync", "send the outbox, fetch new messages, print events", cli_cmd_sync},
    {"inbox", "list the conversations with unread counts", cli_cmd_inbox},
    {"show", "print a conversation", cli_cmd_show},
    {"watch", "print messages as they arrive", cli_cmd_watch},
    {"safety-number", "print the safety number with a contact", cli_cmd_safety_number},
    {"verify", "mark a contact verified in person", cli_cmd_verify},
    {"device-id", "print this device's id", cli_cmd_device_id},
    {"pin", "change the PIN or the wrong-PIN policy", cli_cmd_pin},
    {NULL, NULL, NULL},
};

static const cli_prog prog = {
    "secmsg-caseworker",
    ".secmsg-caseworker",
    SECMSG_ROLE_CASEWORKER,
    "end-to-end encrypted messages with citizens",
    "    A caseworker's device: an encrypted store unlocked by a PIN, enrolled at\n"
    "    the municipality's relay with a one-time token and a certificate from the\n"
    "    admin. It invites citizens (an invite carries the relay, a one-time token\n"
    "    and this device's and the municipality's key fingerprints, so the\n"
    "    citizen's device trusts nothing it was not promised), and exchanges\n"
    "    messages with them. The relay only ever sees ciphertext.\n\n"
    "    First use: init; the admin certifies the printed identity\n"
    "    (secmsg-admin certify --root-key K --identity HEX --user ID --role\n"
    "    caseworker) and makes a token (secmsg-relay admin token --role\n"
    "    caseworker --user ID); enroll; invite; then send, inbox, show, watch.\n",
    commands,
};

int main(int argc, char **argv)
{
    return cli_main(&prog, argc, argv);
}
