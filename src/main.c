/*
 * main.c - process set-up for the `tycho` binary: library initialisation that
 * must happen once before any thread starts (libcurl, libgit2), then the
 * subcommand.  Everything else lives in src/cli/.
 */
#include "cli/cli.h"
#include "fetch/fetch.h"

#include <signal.h>

int main(int argc, char **argv)
{
    int rc;

    signal(SIGPIPE, SIG_IGN);
    fetch_global_init();
    rc = cli_main(argc, argv);
    fetch_global_cleanup();
    return rc;
}
