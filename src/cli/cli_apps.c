/*
 * cli_apps.c - `tycho apps`: the resolved apps of one context, as Tycho's
 * `{app_id: entry}` JSON (--json) or as a table.  Resolution is
 * registry_resolve(); this file parses flags and prints.
 */
#include "cli/cli.h"

#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void apps_usage(FILE *f)
{
    fprintf(f, "usage: tycho apps [--registry SRC] [--context NAME] [--base-url URL]\n"
               "                  [--spec-branch B] [--json]\n"
               "\n"
               "Prints the apps of a context after resolution (extends, app defaults,\n"
               "mixins, spec URLs, overrides).\n"
               "\n"
               "  --registry SRC   a folder, a YAML file, an http(s) base URL or\n"
               "                   git+URL[#REF][:PATH] (default $TYCHO_REGISTRY or ./registry)\n"
               "  --context NAME   the context (may be left out when there is only one)\n"
               "  --base-url URL   base for relative repository URLs (Tycho's registry URL)\n");
    fputs(CLI_SPEC_BRANCH_HELP "  --json           print {app_id: resolved entry} as JSON\n", f);
}

static void services_text(char *buf, size_t n, const json_t *services)
{
    const char *name;
    json_t *port;
    size_t used = 0;
    buf[0] = '\0';
    json_object_foreach((json_t *)services, name, port)
    {
        char p[64];
        if (json_is_string(port))
            snprintf(p, sizeof(p), "%s", json_string_value(port));
        else if (json_is_integer(port))
            snprintf(p, sizeof(p), "%lld", (long long)json_integer_value(port));
        else
            snprintf(p, sizeof(p), "?");
        int w = snprintf(buf + used, n - used, "%s%s:%s", used ? "," : "", name, p);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static void print_table(const json_t *apps)
{
    const char *id;
    json_t *app;
    printf("%-28s %-36s %-24s %s\n", "APP", "NAME", "SERVICES", "SPEC");
    json_object_foreach((json_t *)apps, id, app)
    {
        const char *name = json_string_value(json_object_get(app, "name"));
        const char *spec = json_string_value(json_object_get(app, "spec"));
        char services[128];
        services_text(services, sizeof(services), json_object_get(app, "services"));
        printf("%-28s %-36s %-24s %s\n", id, name ? name : "-", services[0] ? services : "-",
               spec ? spec : "-");
    }
}

int cli_cmd_apps(int argc, char **argv)
{
    struct cli_registry_args ra = {0};
    struct registry *reg = NULL;
    struct registry_warnings w;
    struct ty_error err = TY_ERROR_INIT;
    json_t *apps = NULL;
    int as_json = 0, status = 1;

    if (cli_wants_help(argc, argv)) {
        apps_usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
            continue;
        }
        if ((r = cli_registry_args_take(&ra, argc, argv, &i)) != 0) {
            if (r < 0)
                return 2;
            continue;
        }
        fprintf(stderr, "tycho: apps: unexpected argument '%s'\n", argv[i]);
        apps_usage(stderr);
        return 2;
    }
    registry_warnings_init(&w);
    if (cli_registry_open(&reg, ra.source, ra.base_url, ra.branch))
        goto out;
    if (!ra.context) {
        if (json_object_size(reg->contexts) != 1) {
            json_t *names = registry_context_names(reg);
            char *list = json_dumps(names, JSON_COMPACT);
            fprintf(stderr, "tycho: apps: --context is required; contexts: %s\n", list);
            free(list);
            json_decref(names);
            status = 2;
            goto out;
        }
        ra.context = json_object_iter_key(json_object_iter(reg->contexts));
    }
    /* Resolve afresh so the warnings are this context's only. */
    if (registry_resolve(&apps, reg, ra.context, NULL, &w, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < w.len; i++)
        fprintf(stderr, "warning: %s\n", w.items[i]);
    for (size_t i = 0; i < reg->warnings.len; i++)
        if (strstr(reg->warnings.items[i], "serving the last good commit"))
            fprintf(stderr, "warning: %s\n", reg->warnings.items[i]);
    if (as_json) {
        char *text = json_dumps(apps, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else {
        print_table(apps);
    }
    status = 0;
out:
    json_decref(apps);
    registry_warnings_cleanup(&w);
    registry_put(reg);
    return status;
}
