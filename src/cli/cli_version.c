/*
 * cli_version.c - `tycho version`.
 */
#include "cli/cli.h"

#include <stdio.h>

int cli_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("tycho %s\n", TY_VERSION);
    return 0;
}
