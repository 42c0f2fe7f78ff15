/*
 * cli.c - subcommand dispatch for the `tycho` binary.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct cli_command commands[] = {
    {"version", cli_cmd_version, "print the version"},
    {"registry", cli_cmd_registry, "check an app registry (registry check)"},
    {"apps", cli_cmd_apps, "list the resolved apps of a registry context"},
    {"compile", cli_cmd_compile, "the Kubernetes objects of one launch (compile -f SPEC)"},
    {"migrate", cli_cmd_migrate, "apply pending database migrations (migrate --db FILE)"},
    {"session-soak", cli_cmd_session_soak, "crash-safety driver for tests (launch/stop loop)"},
    {"kube-sim", cli_cmd_kubesim, "run the simulated Kubernetes cluster (prints its URL)"},
    {"api", cli_cmd_api, "run the HTTP server (api --listen ADDR:PORT --db FILE ...)"},
    {"token", cli_cmd_token, "API tokens: token create|list|revoke --db FILE"},
    {"up", cli_cmd_up, "launch a compose spec on a server (up -f SPEC), as Tycho's CLI"},
    {"status", cli_cmd_status, "list running systems on a server (status [GUID] [--terse])"},
    {"down", cli_cmd_down, "delete systems on a server (down GUID...)"},
    {"modify", cli_cmd_modify, "change a running system (modify GUID --cpu --memory --label)"},
    {"launch", cli_cmd_launch, "launch a registry app on a server (launch APP --user U)"},
    {"sessions", cli_cmd_sessions, "list sessions on a server"},
    {"history", cli_cmd_history, "the session history of a server (admin)"},
    {"reap", cli_cmd_reap, "culling now: what would be culled and why (--dry-run), or cull"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tycho COMMAND [ARGS]\n\ncommands:\n");
    for (const struct cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fprintf(f, "\nRun `tycho COMMAND --help` for a command's options.\n");
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("tycho: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cli_cmd_version(argc - 1, argv + 1);
    for (const struct cli_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "tycho: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
