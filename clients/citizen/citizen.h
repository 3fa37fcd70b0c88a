/*
 * citizen.h - the commands only secmsg-citizen has.
 */
#ifndef SECMSG_CLI_CITIZEN_H
#define SECMSG_CLI_CITIZEN_H

#include "cli.h"

int ct_cmd_redeem(cli_ctx *ctx, int argc, char **argv);
int ct_cmd_access(cli_ctx *ctx, int argc, char **argv);

#endif
