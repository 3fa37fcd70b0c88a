/*
 * secmsg-citizen - the reference CLI for a citizen's device
 * (spec/client-cli.md).
 */
#include "citizen.h"

static const cli_command commands[] = {
    {"init", "create this device's encrypted store", cli_cmd_init},
    {"redeem", "redeem the invite your caseworker gave you", ct_cmd_redeem},
    {"send", "send a text message", cli_cmd_send},
    {"sync", "send the outbox, fetch new messages, print events", cli_cmd_sync},
    {"inbox", "list the conversations with unread counts", cli_cmd_inbox},
    {"show", "print a conversation", cli_cmd_show},
    {"watch", "print messages as they arrive", cli_cmd_watch},
    {"contacts", "list the contacts", cli_cmd_contacts},
    {"safety-number", "print the safety number with a contact", cli_cmd_safety_number},
    {"verify", "mark a contact verified in person", cli_cmd_verify},
    {"access", "who can read this conversation", ct_cmd_access},
    {"device-id", "print this device's id", cli_cmd_device_id},
    {"pin", "change the PIN or the wrong-PIN policy", cli_cmd_pin},
    {NULL, NULL, NULL},
};

static const cli_prog prog = {
    "secmsg-citizen",
    ".secmsg-citizen",
    SECMSG_ROLE_CITIZEN,
    "end-to-end encrypted messages with your caseworker",
    "    A citizen's device: an encrypted store unlocked by a PIN. Redeeming the\n"
    "    invite a caseworker gave you registers the device at the municipality's\n"
    "    relay and connects it to that caseworker's device: the keys are checked\n"
    "    against the fingerprints in the invite, so nobody else can stand in\n"
    "    between. Messages are encrypted end to end; the relay only sees\n"
    "    ciphertext. access shows exactly who can read the conversation.\n\n"
    "    First use: init; redeem INVITE; then send, inbox, show, watch.\n"
    "    Commands that take USER default to your only caseworker.\n",
    commands,
};

int main(int argc, char **argv)
{
    return cli_main(&prog, argc, argv);
}
