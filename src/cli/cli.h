/*
 * cli.h - the `tycho` subcommands.
 *
 * Each subcommand lives in its own cli_<name>.c and is listed once in the table
 * in cli.c.  A command gets argv starting at its own name (argv[0] = "apps"),
 * prints its result to stdout and its errors to stderr (as "file:line:col:
 * message" when a file is involved) and returns the process exit status:
 * 0 success, 1 failure, 2 usage error.
 */
#ifndef TY_CLI_CLI_H
#define TY_CLI_CLI_H

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Runs the subcommand named by argv[1]; prints usage for none or --help. */
int cli_main(int argc, char **argv);

/* Prints "tycho: <msg>" to stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/* The subcommands (one per cli_<name>.c). */
int cli_cmd_version(int argc, char **argv);
int cli_cmd_api(int argc, char **argv);
int cli_cmd_token(int argc, char **argv);
int cli_cmd_up(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_down(int argc, char **argv);
int cli_cmd_modify(int argc, char **argv);
int cli_cmd_launch(int argc, char **argv);
int cli_cmd_sessions(int argc, char **argv);
int cli_cmd_history(int argc, char **argv);
int cli_cmd_reap(int argc, char **argv);
int cli_cmd_kubesim(int argc, char **argv);
int cli_cmd_session_soak(int argc, char **argv);
int cli_cmd_registry(int argc, char **argv);
int cli_cmd_apps(int argc, char **argv);
int cli_cmd_migrate(int argc, char **argv);
int cli_cmd_compile(int argc, char **argv);

/* Helpers of cli_registry.c shared with cli_apps.c. */
struct registry;
/* Takes the value of "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i):
 * 1 taken, 0 not this flag, -1 value missing (printed). */
int cli_registry_flag(int argc, char **argv, int *i, const char *name, const char **out);
/* The flags every command that reads a registry takes (values borrowed from argv). */
struct cli_registry_args {
    const char *source;   /* --registry */
    const char *context;  /* --context */
    const char *base_url; /* --base-url */
    const char *branch;   /* --spec-branch */
};
/* Takes one of those flags at argv[*i] (advancing *i): 1 taken, 0 not one of
 * them, -1 value missing (printed). */
int cli_registry_args_take(struct cli_registry_args *a, int argc, char **argv, int *i);
/* Loads source (NULL: the default registry) with base_url (may be NULL) into
 * *out, printing the error; returns 0 or 1.  spec_branch is --spec-branch
 * (NULL: $TYCHO_SPEC_BRANCH, else Tycho's DOCKSTORE_APPS_BRANCH when
 * EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false; "" at any step: no rewrite). */
int cli_registry_open(struct registry **out,
                      const char *source,
                      const char *base_url,
                      const char *spec_branch);
/* The --spec-branch line of the registry commands' usage texts. */
#define CLI_SPEC_BRANCH_HELP                                                                    \
    "  --spec-branch B  rewrite the path segment 'master' of default spec URLs to B\n"          \
    "                   (default $TYCHO_SPEC_BRANCH, else Tycho's DOCKSTORE_APPS_BRANCH when\n" \
    "                   EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false; '' turns it off)\n"

#endif
