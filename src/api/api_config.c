/*
 * api_config.c - the server's configuration: defaults, a YAML file, TYCHO_*
 * environment variables and flags, in increasing precedence.
 *
 * Every key is described once in a table (its name in the file, its
 * environment variable, its type and where it lives in struct api_config), so
 * the three sources cannot drift apart and docs/api.md can list them all.  The
 * file is read with doc (positions for every member), and an unknown key is an
 * error naming file:line:col rather than a silently ignored typo.
 *
 * The `sessions` section also carries the session service's orphan policy,
 * deadlines and reconciler timings: durations are written as in `culling`
 * ("500ms", "30s", "5m", "1h30m"; a bare number is seconds) and parsed by
 * ty_duration_parse().  The older integer *_ms keys set the same values; a
 * mapping that sets both forms of one value is an error.
 *
 * The `policy` section (the launch policy) has its own parser and setter in
 * policy/, like `culling` has in reaper/: positions in the file,
 * TYCHO_POLICY_<KEY> in the environment, --set policy.<key>=VALUE.
 *
 * One key has a second environment name for drop-in compatibility with
 * Tycho: spec_branch also comes from DOCKSTORE_APPS_BRANCH when
 * EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false and TYCHO_SPEC_BRANCH is absent.
 */
#include "api/api.h"
#include "doc/doc.h"
#include "reaper/reaper.h"
#include "registry/registry.h"
#include "session/session.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C_DUR: a duration into an int64_t of milliseconds (min/max in ms);
 * C_ORPHAN: adopt|delete|ignore into an int (enum session_orphan_policy). */
enum ckind { C_STR, C_INT, C_I64, C_DBL, C_BOOL, C_DUR, C_ORPHAN };

struct ckey {
    const char *name; /* "limits.max_body_bytes" */
    const char *env;  /* "TYCHO_MAX_BODY_BYTES" */
    enum ckind kind;
    size_t off;
    double min, max;
};

#define K(n, e, k, f, lo, hi)                           \
    {                                                   \
        n, e, k, offsetof(struct api_config, f), lo, hi \
    }

static const struct ckey keys[] = {
    K("listen", "TYCHO_LISTEN", C_STR, listen, 0, 0),
    K("db", "TYCHO_DB", C_STR, db, 0, 0),
    K("registry", "TYCHO_REGISTRY", C_STR, registry, 0, 0),
    K("registry_refresh", "TYCHO_REGISTRY_REFRESH", C_DUR, registry_refresh_ms, 0, 86400000),
    K("cache_dir", "TYCHO_CACHE_DIR", C_STR, cache_dir, 0, 0),
    K("context", "TYCHO_CONTEXT", C_STR, context, 0, 0),
    K("spec_branch", "TYCHO_SPEC_BRANCH", C_STR, spec_branch, 0, 0),
    K("cluster", "TYCHO_CLUSTER", C_STR, cluster, 0, 0),
    K("kubeconfig", "TYCHO_KUBECONFIG", C_STR, kubeconfig, 0, 0),
    K("kube_context", "TYCHO_KUBE_CONTEXT", C_STR, kube_context, 0, 0),
    K("namespace", "TYCHO_NAMESPACE", C_STR, namespace_, 0, 0),
    K("port_file", "TYCHO_PORT_FILE", C_STR, port_file, 0, 0),
    K("public_url", "TYCHO_PUBLIC_URL", C_STR, public_url, 0, 0),
    K("log_level", "TYCHO_LOG_LEVEL", C_STR, log_level, 0, 0),
    K("threads", "TYCHO_THREADS", C_INT, threads, 1, 512),
    K("limits.max_body_bytes", "TYCHO_MAX_BODY_BYTES", C_I64, max_body_bytes, 64, 1 << 30),
    K("limits.max_json_depth", "TYCHO_MAX_JSON_DEPTH", C_INT, max_json_depth, 2, 1000),
    K("limits.max_header_bytes", "TYCHO_MAX_HEADER_BYTES", C_INT, max_header_bytes, 1024, 1 << 20),
    K("limits.request_timeout_ms",
      "TYCHO_REQUEST_TIMEOUT_MS",
      C_INT,
      request_timeout_ms,
      100,
      3600000),
    K("limits.rate_limit_per_second",
      "TYCHO_RATE_LIMIT_PER_SECOND",
      C_DBL,
      rate_limit_per_s,
      0,
      1e6),
    K("limits.rate_limit_burst", "TYCHO_RATE_LIMIT_BURST", C_DBL, rate_limit_burst, 1, 1e6),
    K("limits.sse_keepalive_ms", "TYCHO_SSE_KEEPALIVE_MS", C_INT, sse_keepalive_ms, 100, 600000),
    K("limits.sse_max_ms", "TYCHO_SSE_MAX_MS", C_INT, sse_max_ms, 1000, 86400000),
    K("sessions.start_deadline_ms",
      "TYCHO_START_DEADLINE_MS",
      C_I64,
      start_deadline_ms,
      1000,
      86400000),
    K("sessions.creating_deadline_ms",
      "TYCHO_CREATING_DEADLINE_MS",
      C_I64,
      creating_deadline_ms,
      1000,
      86400000),
    K("sessions.stopping_deadline_ms",
      "TYCHO_STOPPING_DEADLINE_MS",
      C_I64,
      stopping_deadline_ms,
      1000,
      86400000),
    K("sessions.creating_deadline",
      "TYCHO_CREATING_DEADLINE",
      C_DUR,
      creating_deadline_ms,
      1000,
      86400000),
    K("sessions.start_deadline", "TYCHO_START_DEADLINE", C_DUR, start_deadline_ms, 1000, 86400000),
    K("sessions.stopping_deadline",
      "TYCHO_STOPPING_DEADLINE",
      C_DUR,
      stopping_deadline_ms,
      1000,
      86400000),
    K("sessions.running_check", "TYCHO_RUNNING_CHECK", C_DUR, running_check_ms, 1000, 86400000),
    K("sessions.resync", "TYCHO_RESYNC", C_DUR, resync_ms, 1000, 86400000),
    K("sessions.watch_stall", "TYCHO_WATCH_STALL", C_DUR, watch_stall_ms, 2000, 86400000),
    K("sessions.tick", "TYCHO_TICK", C_DUR, tick_ms, 10, 60000),
    K("sessions.orphan_policy", "TYCHO_ORPHAN_POLICY", C_ORPHAN, orphan_policy, 0, 0),
    K("sessions.max_per_user", "TYCHO_MAX_PER_USER", C_INT, max_per_user, 0, 1000000),
    K("sessions.max_global", "TYCHO_MAX_GLOBAL", C_INT, max_global, 0, 10000000),
    K("auth.allow_anonymous", "TYCHO_ALLOW_ANONYMOUS", C_BOOL, allow_anonymous, 0, 0),
    K("auth.proxy_user_header", "TYCHO_PROXY_USER_HEADER", C_STR, proxy_user_header, 0, 0),
    K("auth.trusted_proxies", "TYCHO_TRUSTED_PROXIES", C_STR, trusted_proxies, 0, 0),
    K("auth.token_secret", "TYCHO_TOKEN_SECRET", C_STR, token_secret, 0, 0),
    K("auth.bootstrap_admin_token", "TYCHO_BOOTSTRAP_ADMIN_TOKEN", C_STR, bootstrap_token, 0, 0),
    K("auth.token_cache_ms", "TYCHO_TOKEN_CACHE_MS", C_INT, token_cache_ms, 0, 3600000),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void api_config_init(struct api_config *cfg)
{
    const struct session_config sd = SESSION_CONFIG_INIT;
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = ty_xstrdup("127.0.0.1:8080");
    cfg->db = ty_xstrdup("tycho.db");
    cfg->registry = ty_xstrdup("registry");
    cfg->registry_refresh_ms = 5 * 60 * 1000;
    cfg->cluster = ty_xstrdup("auto");
    cfg->log_level = ty_xstrdup("info");
    cfg->threads = 64;
    cfg->max_body_bytes = 1 << 20;
    cfg->max_json_depth = 32;
    cfg->max_header_bytes = 16384;
    cfg->request_timeout_ms = 30000;
    cfg->rate_limit_per_s = 50;
    cfg->rate_limit_burst = 100;
    cfg->sse_keepalive_ms = 8000;
    cfg->sse_max_ms = 600000;
    /* The session service's own defaults (session.h), so they cannot drift. */
    cfg->start_deadline_ms = sd.start_deadline_ms;
    cfg->creating_deadline_ms = sd.creating_deadline_ms;
    cfg->stopping_deadline_ms = sd.stopping_deadline_ms;
    cfg->running_check_ms = sd.running_check_ms;
    cfg->resync_ms = sd.resync_ms;
    cfg->watch_stall_ms = sd.watch_stall_ms;
    cfg->tick_ms = sd.tick_ms;
    cfg->orphan_policy = (int)sd.orphan_policy;
    cfg->allow_anonymous = true;
    cfg->token_cache_ms = 10000;
    policy_init(&cfg->policy);
}

void api_config_cleanup(struct api_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == C_STR) {
            char **p = (char **)((char *)cfg + keys[i].off);
            free(*p);
            *p = NULL;
        }
    json_decref(cfg->culling);
    cfg->culling = NULL;
    policy_cleanup(&cfg->policy);
}

static const struct ckey *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static int
key_set(struct api_config *cfg, const struct ckey *k, const char *value, struct ty_error *err)
{
    char *p = (char *)cfg + k->off;
    char *end = NULL;
    switch (k->kind) {
    case C_STR: {
        char **s = (char **)p;
        free(*s);
        *s = value[0] ? ty_xstrdup(value) : NULL;
        return 0;
    }
    case C_INT:
    case C_I64: {
        int64_t v;
        if (ty_str_to_i64(value, (int64_t)k->min, (int64_t)k->max, &v) < 0)
            return ty_error_set(err, TY_EINVAL, "%s: expected an integer in [%.0f, %.0f], got '%s'",
                                k->name, k->min, k->max, value);
        if (k->kind == C_INT)
            *(int *)p = (int)v;
        else
            *(int64_t *)p = v;
        return 0;
    }
    case C_DBL: {
        double v = strtod(value, &end);
        if (!value[0] || *end || v < k->min || v > k->max)
            return ty_error_set(err, TY_EINVAL, "%s: expected a number in [%g, %g], got '%s'",
                                k->name, k->min, k->max, value);
        *(double *)p = v;
        return 0;
    }
    case C_DUR: {
        int64_t v;
        if (ty_duration_parse(value, &v) < 0 || v < (int64_t)k->min || v > (int64_t)k->max) {
            char lo[32], hi[32];
            ty_duration_format(lo, sizeof(lo), (int64_t)k->min);
            ty_duration_format(hi, sizeof(hi), (int64_t)k->max);
            return ty_error_set(err, TY_EINVAL,
                                "%s: expected a duration from %s to %s (like 500ms, 30s, 5m or "
                                "1h30m; a bare number is seconds), got '%s'",
                                k->name, lo, hi, value);
        }
        *(int64_t *)p = v;
        return 0;
    }
    case C_ORPHAN: {
        enum session_orphan_policy pol;
        if (session_orphan_policy_parse(&pol, value) < 0)
            return ty_error_set(err, TY_EINVAL, "%s: expected adopt, delete or ignore, got '%s'",
                                k->name, value);
        *(int *)p = (int)pol;
        return 0;
    }
    case C_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            *(bool *)p = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            *(bool *)p = false;
        else
            return ty_error_set(err, TY_EINVAL, "%s: expected true or false, got '%s'", k->name,
                                value);
        return 0;
    }
    return ty_error_set(err, TY_ERR, "%s: bad key kind", k->name);
}

int api_config_set(struct api_config *cfg, const char *key, const char *value, struct ty_error *err)
{
    if (ty_str_has_prefix(key, "policy.")) {
        int rc = policy_set(&cfg->policy, key + 7, value, err);
        if (rc == TY_ENOTFOUND)
            return ty_error_set(err, TY_EINVAL, "unknown configuration key '%s'", key);
        return rc;
    }
    const struct ckey *k = key_find(key);
    if (!k)
        return ty_error_set(err, TY_EINVAL, "unknown configuration key '%s'", key);
    return key_set(cfg, k, value, err);
}

/* Renders a scalar YAML value as the text key_set() parses. */
static int scalar_text(char *out, size_t n, const json_t *v)
{
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_null(v))
        out[0] = '\0';
    else
        return -1;
    return 0;
}

static int load_map(struct api_config *cfg,
                    const struct doc *d,
                    const json_t *obj,
                    const char *prefix,
                    struct ty_error *err)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v)
    {
        char full[128];
        snprintf(full, sizeof(full), "%s%s", prefix, name);
        if (json_is_object(v) && !prefix[0] &&
            (!strcmp(name, "limits") || !strcmp(name, "auth") || !strcmp(name, "sessions"))) {
            char sub[64];
            snprintf(sub, sizeof(sub), "%s.", name);
            int rc = load_map(cfg, d, v, sub, err);
            if (rc < 0)
                return rc;
            continue;
        }
        const struct ckey *k = key_find(full);
        if (!k)
            return doc_error(err, TY_EINVAL, d, obj, name, "unknown configuration key '%s'", full);
        /* Two spellings of one value ("start_deadline" and "start_deadline_ms")
         * in one mapping: which one wins would depend on their order. */
        for (size_t i = 0; i < NKEYS; i++) {
            size_t plen = strlen(prefix);
            if (keys[i].off != k->off || &keys[i] == k || strncmp(keys[i].name, prefix, plen) ||
                !json_object_get(obj, keys[i].name + plen))
                continue;
            return doc_error(err, TY_EINVAL, d, obj, name, "%s and %s set the same value: keep one",
                             full, keys[i].name);
        }
        char text[4096];
        if (scalar_text(text, sizeof(text), v) < 0)
            return doc_error(err, TY_EINVAL, d, obj, name, "%s: expected a scalar, got %s", full,
                             json_is_object(v) ? "a mapping" : "a sequence");
        struct ty_error e2 = TY_ERROR_INIT;
        if (key_set(cfg, k, text, &e2) < 0)
            return doc_error(err, TY_EINVAL, d, obj, name, "%s", e2.msg);
    }
    return 0;
}

int api_config_load_file(struct api_config *cfg, const char *path, struct ty_error *err)
{
    struct doc *d = NULL;
    int rc = doc_load_file(&d, path, NULL, err);
    if (rc < 0)
        return rc;
    json_t *root = doc_root(d);
    if (json_is_null(root))
        goto out; /* an empty file changes nothing */
    if (!json_is_object(root)) {
        rc = doc_error(err, TY_EINVAL, d, root, NULL, "the configuration must be a mapping");
        goto out;
    }
    /* The culling policy has its own parser; check it here so a bad value
     * is reported with its position, then keep the mapping for the server. */
    json_t *culling = json_object_get(root, "culling");
    if (culling) {
        struct reaper_policy policy;
        rc = reaper_policy_parse(&policy, culling, d, err);
        if (rc < 0)
            goto out;
        reaper_policy_cleanup(&policy);
        json_decref(cfg->culling);
        cfg->culling = json_deep_copy(culling);
        json_object_del(root, "culling");
    }
    /* The launch policy too: its parser reports positions itself. */
    json_t *policy = json_object_get(root, "policy");
    if (policy) {
        rc = policy_parse(&cfg->policy, policy, d, err);
        if (rc < 0)
            goto out;
        json_object_del(root, "policy");
    }
    rc = load_map(cfg, d, root, "", err);
out:
    doc_free(d);
    return rc;
}

int api_config_load_env(struct api_config *cfg, char *const *envp, struct ty_error *err)
{
    bool own_branch = false;
    const char *tycho_branch;
    if (!envp)
        return 0;
    for (char *const *e = envp; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, "TYCHO_", 6) != 0)
            continue;
        size_t klen = (size_t)(eq - *e);
        for (size_t i = 0; i < NKEYS; i++) {
            if (strlen(keys[i].env) != klen || strncmp(keys[i].env, *e, klen) != 0)
                continue;
            if (keys[i].off == offsetof(struct api_config, spec_branch))
                own_branch = true;
            struct ty_error e2 = TY_ERROR_INIT;
            if (key_set(cfg, &keys[i], eq + 1, &e2) < 0)
                return ty_error_set(err, TY_EINVAL, "environment %s: %s", keys[i].env, e2.msg);
        }
    }
    /* TYCHO_POLICY_<KEY>: a policy key upper-cased, '.' as '_'. */
    for (char *const *e = envp; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, "TYCHO_POLICY_", 13) != 0)
            continue;
        bool known = false;
        for (size_t i = 0; policy_set_key(i); i++) {
            const char *k = policy_set_key(i);
            char env[96];
            size_t n = 0;
            for (const char *c = k; *c && n + 1 < sizeof(env); c++)
                env[n++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
            env[n] = '\0';
            if ((size_t)(eq - *e) != 13 + n || strncmp(*e + 13, env, n) != 0)
                continue;
            known = true;
            struct ty_error e2 = TY_ERROR_INIT;
            if (policy_set(&cfg->policy, k, eq + 1, &e2) < 0)
                return ty_error_set(err, TY_EINVAL, "environment %.*s: %s", (int)(eq - *e), *e,
                                    e2.msg);
        }
        if (!known)
            return ty_error_set(err, TY_EINVAL,
                                "environment %.*s: no such policy key (docs/security.md lists "
                                "them)",
                                (int)(eq - *e), *e);
    }
    /* Tycho's names, for a drop-in deployment; TYCHO_SPEC_BRANCH (even empty)
     * wins over them. */
    tycho_branch = own_branch ? NULL : registry_spec_branch_tycho_env(envp);
    if (tycho_branch) {
        free(cfg->spec_branch);
        cfg->spec_branch = ty_xstrdup(tycho_branch);
    }
    return 0;
}

int api_config_validate(const struct api_config *cfg, struct ty_error *err)
{
    static const char *const modes[] = {"auto", "sim", "kubeconfig", "in-cluster", NULL};
    if (!cfg->cluster || !ty_str_in(cfg->cluster, modes))
        return ty_error_set(err, TY_EINVAL,
                            "cluster: expected auto, sim, kubeconfig or in-cluster, got '%s'",
                            cfg->cluster ? cfg->cluster : "");
    if (!cfg->listen || !strrchr(cfg->listen, ':'))
        return ty_error_set(err, TY_EINVAL, "listen: expected ADDRESS:PORT, got '%s'",
                            cfg->listen ? cfg->listen : "");
    const char *colon = strrchr(cfg->listen, ':');
    int64_t port;
    if (ty_str_to_i64(colon + 1, 0, 65535, &port) < 0)
        return ty_error_set(err, TY_EINVAL, "listen: bad port in '%s'", cfg->listen);
    if (cfg->bootstrap_token && strlen(cfg->bootstrap_token) < 32)
        return ty_error_set(err, TY_EINVAL,
                            "auth.bootstrap_admin_token must be at least 32 characters");
    if (!cfg->db)
        return ty_error_set(err, TY_EINVAL, "db: a database path is required");
    if (cfg->registry_refresh_ms > 0 && cfg->registry_refresh_ms < 1000)
        return ty_error_set(err, TY_EINVAL,
                            "registry_refresh: expected 0 (refresh only when asked) or at "
                            "least 1s, got %lldms",
                            (long long)cfg->registry_refresh_ms);
    if (cfg->spec_branch && registry_spec_branch_check(cfg->spec_branch, err) < 0)
        return ty_error_wrap(err, "spec_branch: ");
    if (cfg->tick_ms > cfg->resync_ms || cfg->tick_ms >= cfg->watch_stall_ms) {
        char t[32], r[32], w[32];
        return ty_error_set(err, TY_EINVAL,
                            "sessions.tick (%s) must not be longer than sessions.resync (%s) "
                            "and must be shorter than sessions.watch_stall (%s): both are "
                            "checked once per tick",
                            ty_duration_format(t, sizeof(t), cfg->tick_ms),
                            ty_duration_format(r, sizeof(r), cfg->resync_ms),
                            ty_duration_format(w, sizeof(w), cfg->watch_stall_ms));
    }
    if (policy_validate(&cfg->policy, err) < 0)
        return TY_EINVAL;
    if (cfg->proxy_user_header && !cfg->trusted_proxies)
        return ty_error_set(err, TY_EINVAL,
                            "auth.proxy_user_header needs auth.trusted_proxies (the addresses "
                            "allowed to send it)");
    return 0;
}
