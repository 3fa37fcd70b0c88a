/*
 * `secmsg-relay admin ...`: offline administration on the relay host.
 * Today one command: `admin token` issues a caseworker or journal-robot
 * enrollment token.
 */
#ifndef SECMSG_RELAYD_ADMIN_H
#define SECMSG_RELAYD_ADMIN_H

/** argv[0] is "admin". Returns the process exit status. */
int relayd_admin_main(int argc, char **argv);

#endif
