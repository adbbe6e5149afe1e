/*
 * cli.h - the subcommands of the deepc CLI.
 */
#ifndef DC_CLI_H
#define DC_CLI_H

#include "deepc.h"
#include "gradcheck.h"

int cmd_gradcheck(int argc, char **argv);
int cmd_version(int argc, char **argv);

#endif
