/*
 * caseworker.h - the commands only secmsg-caseworker has.
 */
#ifndef SECMSG_CLI_CASEWORKER_H
#define SECMSG_CLI_CASEWORKER_H

#include "cli.h"

int cw_cmd_enroll(cli_ctx *ctx, int argc, char **argv);
int cw_cmd_invite(cli_ctx *ctx, int argc, char **argv);

#endif
