/*
 * cli_registry.c - `tycho registry check` (load a registry, resolve its
 * contexts, print warnings and errors as file:line:col: message) and the
 * hidden `tycho registry dump-json FILE` (a YAML file as JSON, through the same
 * loader the registry uses; the schema test validates with it).  The logic
 * lives in src/registry; this file parses flags and prints.
 *
 * The spec branch (Tycho's DOCKSTORE_APPS_BRANCH) is read from the
 * environment here, never inside the registry module.
 */
#include "cli/cli.h"

#include "doc/doc.h"
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void check_usage(FILE *f)
{
    fprintf(f, "usage: tycho registry check [--registry SRC] [--context NAME] [--base-url URL]\n"
               "                            [--spec-branch B] [--fetch]\n"
               "\n"
               "Loads a registry, resolves every context (or only NAME), reads the spec\n"
               "of every app and checks that it defines the services the app lists, and\n"
               "prints warnings and errors as file:line:col: message.  Exit status 1 on\n"
               "errors (warnings alone exit 0).\n"
               "\n"
               "  --registry SRC   a folder, a YAML file, an http(s) base URL or\n"
               "                   git+URL[#REF][:PATH] (default $TYCHO_REGISTRY or ./registry)\n"
               "  --context NAME   check only this context (the file must still load)\n"
               "  --base-url URL   base for relative repository URLs\n" CLI_SPEC_BRANCH_HELP
               "  --fetch          also fetch http(s) specs (default: local specs only)\n");
}

/* Takes the value of --name VALUE or --name=VALUE at argv[*i]. */
int cli_registry_flag(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "tycho: %s needs a value\n", name);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

int cli_registry_args_take(struct cli_registry_args *a, int argc, char **argv, int *i)
{
    int r;
    if ((r = cli_registry_flag(argc, argv, i, "--registry", &a->source)) ||
        (r = cli_registry_flag(argc, argv, i, "--context", &a->context)) ||
        (r = cli_registry_flag(argc, argv, i, "--base-url", &a->base_url)) ||
        (r = cli_registry_flag(argc, argv, i, "--spec-branch", &a->branch)))
        return r;
    return 0;
}

/* Loads --registry SRC (or the default) into *out, printing errors. */
int cli_registry_open(struct registry **out,
                      const char *source,
                      const char *base_url,
                      const char *spec_branch)
{
    struct registry_source src;
    struct registry_load_opts opts = REGISTRY_LOAD_OPTS_INIT;
    struct ty_error err = TY_ERROR_INIT;
    const char *from = "--spec-branch";
    int rc;
    *out = NULL;
    if (!source)
        source = registry_source_default();
    if (!spec_branch && (spec_branch = getenv("TYCHO_SPEC_BRANCH")))
        from = "TYCHO_SPEC_BRANCH";
    if (!spec_branch && (spec_branch = registry_spec_branch_tycho_env(environ)))
        from = "DOCKSTORE_APPS_BRANCH";
    if (spec_branch && *spec_branch && registry_spec_branch_check(spec_branch, &err) < 0) {
        fprintf(stderr, "tycho: %s: %s\n", from, err.msg);
        return 1;
    }
    opts.spec_branch = spec_branch;
    if (registry_source_parse(&src, source, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    opts.base_url = base_url;
    rc = registry_load(out, &src, &opts, &err);
    registry_source_cleanup(&src);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return 0;
}

static void print_warnings(const struct registry_warnings *w)
{
    for (size_t i = 0; i < w->len; i++)
        fprintf(stderr, "warning: %s\n", w->items[i]);
}

static int registry_check(int argc, char **argv)
{
    struct cli_registry_args ra = {0};
    struct registry *reg = NULL;
    struct registry_warnings w;
    struct ty_error err = TY_ERROR_INIT;
    int status = 1, fetch = 0, nspecs;
    size_t napps = 0, ncontexts = 0;

    if (cli_wants_help(argc, argv)) {
        check_usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--fetch")) {
            fetch = 1;
            continue;
        }
        if ((r = cli_registry_args_take(&ra, argc, argv, &i)) != 0) {
            if (r < 0)
                return 2;
            continue;
        }
        fprintf(stderr, "tycho: registry check: unexpected argument '%s'\n", argv[i]);
        check_usage(stderr);
        return 2;
    }
    registry_warnings_init(&w);
    if (cli_registry_open(&reg, ra.source, ra.base_url, ra.branch))
        goto out;
    if (ra.context) {
        json_t *apps = NULL;
        if (registry_resolve(&apps, reg, ra.context, NULL, &w, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            goto out;
        }
        napps = json_object_size(apps);
        ncontexts = 1;
        json_decref(apps);
    } else {
        const char *name;
        json_t *v;
        registry_warnings_extend(&w, &reg->warnings);
        json_object_foreach(reg->contexts, name, v)
        {
            const json_t *apps = NULL;
            if (registry_apps_get(&apps, reg, name, NULL) == 0)
                napps += json_object_size(apps);
            ncontexts++;
        }
    }
    nspecs = registry_specs_check(reg, ra.context, fetch, &w, &err);
    if (nspecs < 0) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    print_warnings(&w);
    printf("%s: ok: %zu context%s, %zu resolved app entr%s, %d spec%s checked, %zu warning%s\n",
           reg->registry_name, ncontexts, ncontexts == 1 ? "" : "s", napps,
           napps == 1 ? "y" : "ies", nspecs, nspecs == 1 ? "" : "s", w.len, w.len == 1 ? "" : "s");
    status = 0;
out:
    registry_warnings_cleanup(&w);
    registry_put(reg);
    return status;
}

static int registry_dump_json(int argc, char **argv)
{
    struct doc *d = NULL;
    struct ty_error err = TY_ERROR_INIT;
    char *text;
    if (argc != 2 || cli_wants_help(argc, argv)) {
        fprintf(argc == 2 ? stdout : stderr, "usage: tycho registry dump-json FILE\n");
        return argc == 2 ? 0 : 2;
    }
    if (doc_load_file(&d, argv[1], NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    text = json_dumps(doc_root(d), JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", text ? text : "null");
    free(text);
    doc_free(d);
    return 0;
}

int cli_cmd_registry(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return registry_check(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "dump-json"))
        return registry_dump_json(argc - 1, argv + 1);
    if (cli_wants_help(argc, argv)) {
        printf("usage: tycho registry check [--registry SRC] [--context NAME] "
               "[--base-url URL]\n");
        return 0;
    }
    fprintf(stderr, "usage: tycho registry check [--registry SRC] [--context NAME] "
                    "[--base-url URL]\n");
    return 2;
}
