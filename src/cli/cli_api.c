/*
 * cli_api.c - `tycho api` (the server) and `tycho token` (API tokens).
 *
 * The server's configuration is layered: defaults, then --config FILE (YAML),
 * then TYCHO_* environment variables, then flags.  The command prints
 * "listening on http://ADDR:PORT" once the socket is bound (with port 0 the
 * real port; --port-file writes it too), then runs until SIGINT or SIGTERM.
 */
#include "api/api.h"
#include "cli/cli.h"
#include "doc/doc.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/time.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void api_usage(FILE *f)
{
    fprintf(f,
            "usage: tycho api [--config FILE] [--listen ADDR:PORT] [--db FILE] [--registry SRC]\n"
            "                 [--context C] [--spec-branch B]\n"
            "                 [--cluster auto|sim|kubeconfig|in-cluster]\n"
            "                 [--kubeconfig FILE] [--namespace NS] [--port-file FILE]\n"
            "                 [--public-url URL] [--log-level LEVEL] [--set KEY=VALUE]...\n"
            "                 [--check-config]\n"
            "\n"
            "Runs the HTTP server.  Settings come from the defaults, then --config, then\n"
            "TYCHO_* environment variables, then flags (docs/api.md lists every key).\n"
            "With no cluster configured the simulated cluster runs in-process.\n"
            "--check-config checks the settings, prints the effective launch policy\n"
            "(docs/security.md) and exits.\n");
}

/* Flags that map to configuration keys. */
static const struct {
    const char *flag, *key;
} flag_keys[] = {
    {"--listen", "listen"},
    {"--db", "db"},
    {"--registry", "registry"},
    {"--context", "context"},
    {"--spec-branch", "spec_branch"},
    {"--cluster", "cluster"},
    {"--kubeconfig", "kubeconfig"},
    {"--namespace", "namespace"},
    {"--port-file", "port_file"},
    {"--public-url", "public_url"},
    {"--log-level", "log_level"},
    {"--kube-context", "kube_context"},
};

/* The effective launch policy as the `policy:` section of a config file. */
static int print_policy(const struct api_config *cfg)
{
    struct ty_buf b = TY_BUF_INIT;
    struct ty_error err = TY_ERROR_INIT;
    json_t *root = json_pack("{s:o}", "policy", policy_to_json(&cfg->policy));
    int rc = doc_emit_yaml(root, &b, &err);
    json_decref(root);
    if (rc < 0) {
        ty_buf_cleanup(&b);
        return cli_fail("api: --check-config: %s", err.msg);
    }
    printf("# the effective launch policy (defaults < --config < TYCHO_POLICY_* < --set)\n%s",
           ty_buf_cstr(&b));
    ty_buf_cleanup(&b);
    return 0;
}

int cli_cmd_api(int argc, char **argv)
{
    struct api_config cfg;
    struct api_server *srv = NULL;
    struct ty_error err = TY_ERROR_INIT;
    const char *config_file = NULL;
    bool check_only = false;
    int rc = 1;

    if (cli_wants_help(argc, argv)) {
        api_usage(stdout);
        return 0;
    }
    /* The config file comes first whatever its place on the line. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                api_usage(stderr);
                return 2;
            }
            config_file = argv[i + 1];
        }
    api_config_init(&cfg);
    if (config_file && api_config_load_file(&cfg, config_file, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    if (api_config_load_env(&cfg, environ, &err) < 0) {
        fprintf(stderr, "tycho: %s\n", err.msg);
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strcmp(a, "--check-config")) {
            check_only = true;
            continue;
        }
        const char *key = NULL;
        for (size_t k = 0; k < sizeof(flag_keys) / sizeof(flag_keys[0]); k++)
            if (!strcmp(a, flag_keys[k].flag))
                key = flag_keys[k].key;
        if (key) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tycho api: %s needs a value\n", a);
                rc = 2;
                goto out;
            }
            if (api_config_set(&cfg, key, argv[++i], &err) < 0) {
                fprintf(stderr, "tycho api: %s: %s\n", a, err.msg);
                rc = 2;
                goto out;
            }
            continue;
        }
        if (!strcmp(a, "--set") && i + 1 < argc) {
            char kv[512];
            snprintf(kv, sizeof(kv), "%s", argv[++i]);
            char *eq = strchr(kv, '=');
            if (!eq) {
                fprintf(stderr, "tycho api: --set needs KEY=VALUE\n");
                rc = 2;
                goto out;
            }
            *eq = '\0';
            if (api_config_set(&cfg, kv, eq + 1, &err) < 0) {
                fprintf(stderr, "tycho api: --set: %s\n", err.msg);
                rc = 2;
                goto out;
            }
            continue;
        }
        fprintf(stderr, "tycho api: unknown option '%s'\n", a);
        api_usage(stderr);
        rc = 2;
        goto out;
    }
    if (cfg.log_level) {
        int lv = ty_log_level_parse(cfg.log_level);
        if (lv < 0) {
            fprintf(stderr, "tycho api: log_level: unknown level '%s'\n", cfg.log_level);
            rc = 2;
            goto out;
        }
        ty_log_set_level((enum ty_log_level)lv);
    }
    if (api_config_validate(&cfg, &err) < 0) {
        fprintf(stderr, "tycho api: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    if (check_only) {
        rc = print_policy(&cfg);
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (api_server_start(&srv, &cfg, &err) < 0) {
        fprintf(stderr, "tycho api: %s\n", err.msg);
        goto out;
    }
    char host[128];
    const char *colon = strrchr(cfg.listen, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg.listen), cfg.listen);
    if (!strcmp(host, "0.0.0.0") || !host[0])
        snprintf(host, sizeof(host), "127.0.0.1");
    ty_info("api", "listening on http://%s:%d", host, api_server_port(srv));
    printf("listening on http://%s:%d\n", host, api_server_port(srv));
    fflush(stdout);
    while (!stop_flag)
        usleep(100 * 1000);
    ty_info("api", "shutting down");
    api_server_stop(srv);
    rc = 0;
out:
    api_config_cleanup(&cfg);
    return rc;
}

/* ---- tycho token ------------------------------------------------------------ */

static void token_usage(FILE *f)
{
    fprintf(f, "usage: tycho token create --db FILE --role admin|platform|user [--user NAME]\n"
               "                          [--name NOTE]\n"
               "       tycho token list --db FILE\n"
               "       tycho token revoke --db FILE ID\n"
               "\n"
               "create prints the new token once; only its hash is stored.  Set\n"
               "TYCHO_TOKEN_SECRET (the server's auth.token_secret) when the server uses one.\n");
}

int cli_cmd_token(int argc, char **argv)
{
    const char *db = getenv("TYCHO_DB"), *role = NULL, *user = NULL, *name = NULL;
    const char *id = NULL;
    struct ty_error err = TY_ERROR_INIT;
    if (argc < 2 || cli_wants_help(argc, argv)) {
        token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--db")     ? &db
                           : !strcmp(a, "--role") ? &role
                           : !strcmp(a, "--user") ? &user
                           : !strcmp(a, "--name") ? &name
                                                  : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tycho token: %s needs a value\n", a);
                return 2;
            }
            *dst = argv[++i];
        } else if (a[0] != '-' && !id) {
            id = a;
        } else {
            fprintf(stderr, "tycho token: unknown argument '%s'\n", a);
            return 2;
        }
    }
    if (!db) {
        fprintf(stderr, "tycho token: --db FILE is required\n");
        return 2;
    }
    if (!strcmp(sub, "create")) {
        char *tok = NULL, tid[40];
        if (!role) {
            fprintf(stderr, "tycho token create: --role admin|platform|user is required\n");
            return 2;
        }
        if (api_token_create(&tok, tid, db, role, user, name, getenv("TYCHO_TOKEN_SECRET"), &err) <
            0)
            return cli_fail("token create: %s", err.msg);
        printf("%s\n", tok);
        fprintf(stderr, "created token %s (role %s%s%s); it is shown only once\n", tid, role,
                user ? ", user " : "", user ? user : "");
        free(tok);
        return 0;
    }
    if (!strcmp(sub, "list")) {
        struct api_token_info *v = NULL;
        size_t n = 0;
        if (api_token_list(&v, &n, db, &err) < 0)
            return cli_fail("token list: %s", err.msg);
        printf("%-6s %-9s %-20s %-24s %-20s\n", "ID", "ROLE", "USER", "NAME", "LAST_USED");
        for (size_t i = 0; i < n; i++) {
            char used[40] = "never";
            if (v[i].last_used_ms)
                ty_time_format_iso(used, sizeof(used), v[i].last_used_ms, 0);
            printf("%-6s %-9s %-20s %-24s %-20s\n", v[i].id, v[i].role,
                   v[i].user[0] ? v[i].user : "-", v[i].name[0] ? v[i].name : "-", used);
        }
        free(v);
        return 0;
    }
    if (!strcmp(sub, "revoke")) {
        if (!id) {
            fprintf(stderr, "tycho token revoke: give the token ID (see token list)\n");
            return 2;
        }
        if (api_token_revoke(db, id, &err) < 0)
            return cli_fail("token revoke: %s", err.msg);
        printf("revoked %s\n", id);
        return 0;
    }
    fprintf(stderr, "tycho token: unknown subcommand '%s'\n", sub);
    token_usage(stderr);
    return 2;
}
