/*
 * cli_compile.c - `tycho compile`: the Kubernetes objects of one launch, as a
 * `List`, from a compose spec (and optionally the app's registry entry).
 * All file reading happens here; the compiler itself (src/compose) is pure.
 */
#include "cli/cli.h"

#include "compose/compose.h"
#include "doc/doc.h"
#include "registry/registry.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENV_MAX (1u << 20)

static void compile_usage(FILE *f)
{
    fprintf(
        f,
        "usage: tycho compile -f SPEC [--env-file F] --username U [--id ID] [--name N]\n"
        "                     [--registry SRC --context C --app A | --apps-json F --app A]\n"
        "                     [--base-url URL] [--spec-branch B]\n"
        "                     [--settings F] [--policy F] [--namespace NS] [--host H]\n"
        "                     [--access-token-file F] [--limit K=V]... [--request K=V]...\n"
        "                     [-o yaml|json]\n"
        "\n"
        "Prints the Kubernetes objects of one launch as a List.\n"
        "\n"
        "  -f SPEC            the docker-compose file (default with --registry: the app's spec)\n"
        "  --env-file F       variables for ${VAR} and the containers (default: .env beside\n"
        "                     the spec, when present)\n"
        "  --username U       the launching user (required)\n"
        "  --id ID            the launch id (default: a new random GUID)\n"
        "  --name N           the app id (default: --app, else the spec's folder name)\n"
        "  --registry SRC     load the app entry and settings from a registry\n"
        "  --context C        the registry context\n"
        "  --app A            the app id in the registry or in --apps-json\n"
        "  --base-url URL     base for the registry's relative repository URLs\n"
        "  --spec-branch B    rewrite the path segment 'master' of default spec URLs to B\n"
        "                     (default $TYCHO_SPEC_BRANCH, else Tycho's DOCKSTORE_APPS_BRANCH\n"
        "                     when EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false; '' turns it off)\n"
        "  --apps-json F      {app_id: entry} JSON, as `tycho apps --json` prints\n"
        "  --settings F       YAML/JSON whose `settings` (or whole mapping) fills {{ name }}\n"
        "  --policy F         YAML/JSON compose policy (see docs/compat.md)\n"
        "  --namespace NS     metadata.namespace of every object\n"
        "  --host H           the public host name (HOST env)\n"
        "  --access-token-file F  the user's access token (goes into the launch Secret)\n"
        "  --limit K=V        resource limit override: cpu, memory, gpu, ephemeral-storage\n"
        "  --request K=V      resource request override (same keys)\n"
        "  -o yaml|json       output format (default yaml)\n");
}

struct spec_dir {
    char *dir;
};

/* env_file callback: files relative to the spec's folder, capped. */
static int read_rel(struct ty_buf *out, const char *name, void *payload, struct ty_error *err)
{
    const struct spec_dir *sd = payload;
    char *path = ty_path_join(sd->dir, name);
    char *text = NULL;
    size_t len = 0;
    int rc = ty_file_read(&text, &len, path, ENV_MAX, err);
    free(path);
    if (rc)
        return rc;
    ty_buf_append(out, text, len);
    free(text);
    return 0;
}

static int set_resource(struct compose_resources *r, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || !eq[1])
        return -1;
    size_t n = (size_t)(eq - kv);
    const char *v = eq + 1;
    if (n == 3 && !strncmp(kv, "cpu", 3)) {
        r->cpu = v;
    } else if (n == 6 && !strncmp(kv, "memory", 6)) {
        r->memory = v;
    } else if (n == 17 && !strncmp(kv, "ephemeral-storage", 17)) {
        r->ephemeral_storage = v;
    } else if (n == 3 && !strncmp(kv, "gpu", 3)) {
        char *e;
        long g = strtol(v, &e, 10);
        if (*e || g < 0 || g > 1024)
            return -1;
        r->gpus = g;
    } else {
        return -1;
    }
    return 0;
}

static int load_doc_json(json_t **out, struct doc **docp, const char *path)
{
    struct ty_error err = TY_ERROR_INIT;
    if (doc_load_file(docp, path, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    *out = doc_root(*docp);
    return 0;
}

static char *dir_basename(const char *path)
{
    char *dir = ty_path_dirname(path);
    char *abs = NULL;
    if (!strcmp(dir, ".")) {
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd)))
            abs = ty_xstrdup(cwd);
    }
    const char *d = abs ? abs : dir;
    const char *slash = strrchr(d, '/');
    char *name = ty_xstrdup(slash && slash[1] ? slash + 1 : d);
    free(dir);
    free(abs);
    return name;
}

int cli_cmd_compile(int argc, char **argv)
{
    const char *spec_path = NULL, *env_path = NULL, *username = NULL, *id = NULL, *name = NULL;
    struct cli_registry_args ra = {0};
    const char *app_id = NULL, *apps_json = NULL;
    const char *settings_path = NULL, *policy_path = NULL, *ns = NULL, *host = NULL;
    const char *token_path = NULL, *format = "yaml";
    struct compose_input in;
    struct compose_policy pol;
    struct ty_error err = TY_ERROR_INIT;
    struct registry *reg = NULL;
    struct doc *apps_doc = NULL, *settings_doc = NULL, *policy_doc = NULL;
    char *spec = NULL, *env = NULL, *spec_name = NULL, *env_name = NULL, *token = NULL;
    char *app_name = NULL;
    size_t spec_len = 0, env_len = 0;
    json_t *list = NULL, *apps_owned = NULL;
    const json_t *app = NULL, *settings = NULL;
    struct spec_dir sd = {NULL};
    char guid[33];
    int status = 1;

    memset(&in, 0, sizeof(in));
    in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    compose_policy_init(&pol);
    if (cli_wants_help(argc, argv)) {
        compile_usage(stdout);
        status = 0;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *lim = NULL, *req = NULL;
        int r;
        if ((r = cli_registry_flag(argc, argv, &i, "-f", &spec_path)) ||
            (r = cli_registry_flag(argc, argv, &i, "--file", &spec_path)) ||
            (r = cli_registry_flag(argc, argv, &i, "--env-file", &env_path)) ||
            (r = cli_registry_flag(argc, argv, &i, "--username", &username)) ||
            (r = cli_registry_flag(argc, argv, &i, "--id", &id)) ||
            (r = cli_registry_flag(argc, argv, &i, "--name", &name)) ||
            (r = cli_registry_args_take(&ra, argc, argv, &i)) ||
            (r = cli_registry_flag(argc, argv, &i, "--app", &app_id)) ||
            (r = cli_registry_flag(argc, argv, &i, "--apps-json", &apps_json)) ||
            (r = cli_registry_flag(argc, argv, &i, "--settings", &settings_path)) ||
            (r = cli_registry_flag(argc, argv, &i, "--policy", &policy_path)) ||
            (r = cli_registry_flag(argc, argv, &i, "--namespace", &ns)) ||
            (r = cli_registry_flag(argc, argv, &i, "--host", &host)) ||
            (r = cli_registry_flag(argc, argv, &i, "--access-token-file", &token_path)) ||
            (r = cli_registry_flag(argc, argv, &i, "-o", &format)) ||
            (r = cli_registry_flag(argc, argv, &i, "--limit", &lim)) ||
            (r = cli_registry_flag(argc, argv, &i, "--request", &req))) {
            if (r < 0) {
                status = 2;
                goto out;
            }
            if ((lim && set_resource(&in.limits, lim)) ||
                (req && set_resource(&in.requests, req))) {
                fprintf(stderr,
                        "tycho: compile: invalid resource '%s' (cpu=, memory=, gpu=, "
                        "ephemeral-storage=)\n",
                        lim ? lim : req);
                status = 2;
                goto out;
            }
            continue;
        }
        fprintf(stderr, "tycho: compile: unexpected argument '%s'\n", argv[i]);
        compile_usage(stderr);
        status = 2;
        goto out;
    }
    if (!username || (!spec_path && !ra.source) || (app_id && !ra.source && !apps_json) ||
        ((ra.source || apps_json) && !app_id) ||
        (strcmp(format, "yaml") && strcmp(format, "json"))) {
        compile_usage(stderr);
        status = 2;
        goto out;
    }

    /* The app entry and settings: from a registry or an apps JSON file. */
    if (ra.source) {
        if (cli_registry_open(&reg, ra.source, ra.base_url, ra.branch))
            goto out;
        if (!ra.context) {
            if (json_object_size(reg->contexts) != 1) {
                fprintf(stderr, "tycho: compile: --context is required\n");
                status = 2;
                goto out;
            }
            ra.context = json_object_iter_key(json_object_iter(reg->contexts));
        }
        const json_t *apps = NULL;
        if (registry_apps_get(&apps, reg, ra.context, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            goto out;
        }
        app = registry_app_find(apps, app_id);
        if (!app) {
            fprintf(stderr, "tycho: compile: no app '%s' in context '%s'\n", app_id, ra.context);
            goto out;
        }
        settings = reg->settings;
        if (!spec_path) {
            if (registry_app_spec_read(&spec, &spec_len, &spec_name, reg, app, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                goto out;
            }
            if (!env_path && registry_app_env_read(&env, &env_len, reg, app, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                goto out;
            }
            if (env)
                env_name = ty_xasprintf("%s/.env", spec_name);
            /* env_file entries of a local spec resolve beside it. */
            if (!strstr(spec_name, "://"))
                sd.dir = ty_path_dirname(spec_name);
        }
    } else if (apps_json) {
        json_t *root = NULL;
        if (load_doc_json(&root, &apps_doc, apps_json))
            goto out;
        app = json_object_get(root, app_id);
        if (!json_is_object(app)) {
            fprintf(stderr, "tycho: compile: %s has no app '%s'\n", apps_json, app_id);
            goto out;
        }
    }
    if (settings_path) {
        json_t *root = NULL;
        if (load_doc_json(&root, &settings_doc, settings_path))
            goto out;
        settings = json_is_object(json_object_get(root, "settings"))
                       ? json_object_get(root, "settings")
                       : root;
        if (!json_is_object(settings)) {
            fprintf(stderr, "tycho: compile: %s: settings must be a mapping\n", settings_path);
            goto out;
        }
    }
    if (policy_path) {
        json_t *root = NULL;
        if (load_doc_json(&root, &policy_doc, policy_path))
            goto out;
        if (compose_policy_from_json(&pol, root, &err)) {
            fprintf(stderr, "%s: %s\n", policy_path, err.msg);
            goto out;
        }
    }

    if (spec_path) {
        if (ty_file_read(&spec, &spec_len, spec_path, 16u << 20, &err)) {
            fprintf(stderr, "%s: %s\n", spec_path, err.msg);
            goto out;
        }
        spec_name = ty_xstrdup(spec_path);
        sd.dir = ty_path_dirname(spec_path);
        if (!env_path) {
            char *beside = ty_path_join(sd.dir, ".env");
            if (access(beside, F_OK) == 0)
                env_path = env_name = beside;
            else
                free(beside);
        }
    }
    if (env_path) {
        free(env);
        env = NULL;
        if (ty_file_read(&env, &env_len, env_path, ENV_MAX, &err)) {
            fprintf(stderr, "%s: %s\n", env_path, err.msg);
            goto out;
        }
        if (!env_name)
            env_name = ty_xstrdup(env_path);
    }
    if (token_path) {
        size_t n = 0;
        if (ty_file_read(&token, &n, token_path, 64 * 1024, &err)) {
            fprintf(stderr, "%s: %s\n", token_path, err.msg);
            goto out;
        }
        while (n && (token[n - 1] == '\n' || token[n - 1] == '\r'))
            token[--n] = '\0';
    }
    if (id) {
        snprintf(guid, sizeof(guid), "%s", id);
        if (strlen(id) >= sizeof(guid)) {
            fprintf(stderr, "tycho: compile: --id is longer than 32 characters\n");
            status = 2;
            goto out;
        }
    } else {
        ty_guid_new(guid);
    }
    if (!name)
        name = app_id;
    if (!name)
        name = app_name = dir_basename(spec_path);

    in.spec_text = spec;
    in.spec_len = spec_len;
    in.spec_name = spec_name;
    in.env_text = env;
    in.env_len = env_len;
    in.env_name = env_name;
    in.read_file = sd.dir ? read_rel : NULL;
    in.read_payload = &sd;
    in.app = app;
    in.settings = settings;
    in.app_id = name;
    in.username = username;
    in.guid = guid;
    in.access_token = token;
    in.host = host;
    in.namespace = ns;
    in.policy = &pol;
    if (compose_compile(&list, &in, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    if (!strcmp(format, "json")) {
        char *s = json_dumps(list, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        puts(s);
        free(s);
    } else {
        struct ty_buf b = TY_BUF_INIT;
        if (doc_emit_yaml(list, &b, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            ty_buf_cleanup(&b);
            goto out;
        }
        fputs(ty_buf_cstr(&b), stdout);
        ty_buf_cleanup(&b);
    }
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    json_decref(list);
    json_decref(apps_owned);
    doc_free(apps_doc);
    doc_free(settings_doc);
    doc_free(policy_doc);
    registry_put(reg);
    compose_policy_cleanup(&pol);
    free(spec);
    free(env);
    free(spec_name);
    free(env_name);
    free(token);
    free(app_name);
    free(sd.dir);
    return status;
}
