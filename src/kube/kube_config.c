/*
 * kube_config.c - where the client's server and credentials come from:
 * kubeconfig files (as kubectl reads them), the in-cluster service account,
 * or an automatic choice between the two.
 *
 * kubeconfig files are read with src/doc so that every complaint names
 * file:line:col.  Several files (KUBECONFIG=a:b:c) are merged the way kubectl
 * merges them: the first file that sets current-context wins, and for each
 * named cluster, user and context the first file that defines the name wins;
 * relative paths inside a file are resolved against that file's directory.
 * Only the selected context, its cluster and its user are validated, so an
 * unrelated broken entry elsewhere does not stop us (kubectl behaves alike).
 *
 * The result is a plain struct kube_config holding decoded PEM text and file
 * names; kube_http.c turns it into libcurl options and handles the parts that
 * change over time (token files, exec plugins).
 */
#include "kube/kube_int.h"

#include "doc/doc.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IN_CLUSTER_DIR       "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBECONFIG_MAX_FILES 32

void kube_config_init(struct kube_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->token_reread_s = 60;
}

static void exec_free(struct kube_exec_config *e)
{
    if (!e)
        return;
    free(e->command);
    for (size_t i = 0; i < e->nargs; i++)
        free(e->args[i]);
    free(e->args);
    for (size_t i = 0; i < e->nenv; i++)
        free(e->env[i]);
    free(e->env);
    free(e->api_version);
    free(e);
}

void kube_config_cleanup(struct kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server);
    free(cfg->ca_file);
    free(cfg->ca_pem);
    free(cfg->client_cert_file);
    free(cfg->client_key_file);
    free(cfg->client_cert_pem);
    free(cfg->client_key_pem);
    free(cfg->token);
    free(cfg->token_file);
    exec_free(cfg->exec);
    free(cfg->namespace);
    free(cfg->source);
    kube_config_init(cfg);
}

static char *dup_or_null(const char *s)
{
    return s ? ty_xstrdup(s) : NULL;
}

void kube_config_copy(struct kube_config *dst, const struct kube_config *src)
{
    kube_config_init(dst);
    dst->server = dup_or_null(src->server);
    dst->ca_file = dup_or_null(src->ca_file);
    dst->ca_pem = dup_or_null(src->ca_pem);
    dst->insecure = src->insecure;
    dst->client_cert_file = dup_or_null(src->client_cert_file);
    dst->client_key_file = dup_or_null(src->client_key_file);
    dst->client_cert_pem = dup_or_null(src->client_cert_pem);
    dst->client_key_pem = dup_or_null(src->client_key_pem);
    dst->token = dup_or_null(src->token);
    dst->token_file = dup_or_null(src->token_file);
    dst->token_reread_s = src->token_reread_s;
    dst->namespace = dup_or_null(src->namespace);
    dst->source = dup_or_null(src->source);
    if (src->exec) {
        const struct kube_exec_config *s = src->exec;
        struct kube_exec_config *e = ty_xcalloc(1, sizeof(*e));
        e->command = dup_or_null(s->command);
        e->nargs = s->nargs;
        e->args = ty_xcalloc(s->nargs + 1, sizeof(char *));
        for (size_t i = 0; i < s->nargs; i++)
            e->args[i] = ty_xstrdup(s->args[i]);
        e->nenv = s->nenv;
        e->env = ty_xcalloc(s->nenv + 1, sizeof(char *));
        for (size_t i = 0; i < s->nenv; i++)
            e->env[i] = ty_xstrdup(s->env[i]);
        e->api_version = dup_or_null(s->api_version);
        e->provide_cluster_info = s->provide_cluster_info;
        dst->exec = e;
    }
}

/* ---- kubeconfig ---- */

struct kc_file {
    struct doc *doc;
    char *dir;
    char *path;
};

struct kc_set {
    struct kc_file files[KUBECONFIG_MAX_FILES];
    size_t n;
};

static void kc_set_cleanup(struct kc_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        doc_free(s->files[i].doc);
        free(s->files[i].dir);
        free(s->files[i].path);
    }
    s->n = 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int kc_add_file(struct kc_set *s, const char *path, struct ty_error *err)
{
    struct doc *d = NULL;
    json_t *root;
    int rc;

    if (s->n == KUBECONFIG_MAX_FILES)
        return ty_error_set(err, TY_ELIMIT, "kubeconfig: more than %d files", KUBECONFIG_MAX_FILES);
    rc = doc_load_file(&d, path, NULL, err);
    if (rc)
        return rc;
    root = doc_root(d);
    if (!json_is_object(root) && !json_is_null(root)) {
        rc = doc_error(err, TY_EINVAL, d, root, NULL, "a kubeconfig must be a mapping");
        doc_free(d);
        return rc;
    }
    s->files[s->n].doc = d;
    s->files[s->n].dir = ty_path_dirname(path);
    s->files[s->n].path = ty_xstrdup(path);
    s->n++;
    return 0;
}

/* A string member: absent or null gives NULL; anything but a string is an error. */
static int get_str(
    const char **out, const struct doc *d, const json_t *obj, const char *key, struct ty_error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return doc_error(err, TY_EINVAL, d, obj, key, "%s must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int
get_bool(bool *out, const struct doc *d, const json_t *obj, const char *key, struct ty_error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return doc_error(err, TY_EINVAL, d, obj, key, "%s must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* Finds the first entry named `name` in section ("clusters", "users",
 * "contexts") across the files, and its inner mapping under `inner`. */
static int kc_find(const struct kc_file **file_out,
                   json_t **value_out,
                   const struct kc_set *s,
                   const char *section,
                   const char *inner,
                   const char *name,
                   struct ty_error *err)
{
    *file_out = NULL;
    *value_out = NULL;
    for (size_t f = 0; f < s->n; f++) {
        const struct doc *d = s->files[f].doc;
        json_t *root = doc_root(d), *list = json_object_get(root, section), *item;
        size_t i;

        if (!list || json_is_null(list))
            continue;
        if (!json_is_array(list))
            return doc_error(err, TY_EINVAL, d, root, section, "%s must be a list", section);
        json_array_foreach(list, i, item)
        {
            const char *n;
            json_t *v;
            if (!json_is_object(item)) {
                char where[300];
                doc_where_item(d, list, i, where, sizeof(where));
                return ty_error_set(err, TY_EINVAL, "%s: %s entries must be mappings", where,
                                    section);
            }
            int rc = get_str(&n, d, item, "name", err);
            if (rc)
                return rc;
            if (!n || strcmp(n, name) != 0)
                continue;
            v = json_object_get(item, inner);
            if (!json_is_object(v))
                return doc_error(err, TY_EINVAL, d, item, v ? inner : "name",
                                 "%s '%s' has no '%s' mapping", section, name, inner);
            *file_out = &s->files[f];
            *value_out = v;
            return 0;
        }
    }
    return TY_ENOTFOUND;
}

static char *resolve_path(const struct kc_file *f, const char *p)
{
    return ty_path_join(f->dir, p);
}

static int decode_data(
    char **out, const struct kc_file *f, const json_t *obj, const char *key, struct ty_error *err)
{
    const char *s;
    struct ty_error sub = TY_ERROR_INIT;
    int rc = get_str(&s, f->doc, obj, key, err);

    *out = NULL;
    if (rc || !s)
        return rc;
    if (kube_base64_decode(out, NULL, s, &sub))
        return doc_error(err, TY_EINVAL, f->doc, obj, key, "%s: %s", key, sub.msg);
    return 0;
}

static int load_cluster(struct kube_config *cfg,
                        const struct kc_file *f,
                        json_t *cl,
                        const char *name,
                        struct ty_error *err)
{
    const char *server, *ca;
    size_t n;
    int rc;

    static const char *const unsupported[] = {"proxy-url", "tls-server-name", NULL};

    for (int i = 0; unsupported[i]; i++)
        if (json_object_get(cl, unsupported[i]))
            return doc_error(err, TY_EINVAL, f->doc, cl, unsupported[i],
                             "cluster '%s': %s is not supported", name, unsupported[i]);
    if ((rc = get_str(&server, f->doc, cl, "server", err)))
        return rc;
    if (!server || !server[0])
        return doc_error(err, TY_EINVAL, f->doc, cl, NULL, "cluster '%s' has no server", name);
    if (!ty_str_has_prefix(server, "https://") && !ty_str_has_prefix(server, "http://"))
        return doc_error(err, TY_EINVAL, f->doc, cl, "server",
                         "server '%s' must start with https:// or http://", server);
    cfg->server = ty_xstrdup(server);
    n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    if ((rc = decode_data(&cfg->ca_pem, f, cl, "certificate-authority-data", err)))
        return rc;
    if ((rc = get_str(&ca, f->doc, cl, "certificate-authority", err)))
        return rc;
    if (ca && !cfg->ca_pem)
        cfg->ca_file = resolve_path(f, ca);
    return get_bool(&cfg->insecure, f->doc, cl, "insecure-skip-tls-verify", err);
}

static int
load_exec(struct kube_config *cfg, const struct kc_file *f, json_t *ex, struct ty_error *err)
{
    struct kube_exec_config *e = ty_xcalloc(1, sizeof(*e));
    const char *cmd, *apiv, *mode;
    json_t *args = json_object_get(ex, "args"), *env = json_object_get(ex, "env"), *item;
    size_t i;
    int rc;

    cfg->exec = e;
    if ((rc = get_str(&cmd, f->doc, ex, "command", err)))
        return rc;
    if (!cmd || !cmd[0])
        return doc_error(err, TY_EINVAL, f->doc, ex, NULL, "exec: command is required");
    /* Like client-go: a relative command with a slash is relative to the file;
     * a bare name is looked up in PATH. */
    e->command = strchr(cmd, '/') ? resolve_path(f, cmd) : ty_xstrdup(cmd);
    if ((rc = get_str(&apiv, f->doc, ex, "apiVersion", err)))
        return rc;
    if (apiv && strcmp(apiv, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(apiv, "client.authentication.k8s.io/v1beta1") != 0)
        return doc_error(err, TY_EINVAL, f->doc, ex, "apiVersion",
                         "exec: unsupported apiVersion '%s'", apiv);
    e->api_version = ty_xstrdup(apiv ? apiv : "client.authentication.k8s.io/v1");
    if ((rc = get_bool(&e->provide_cluster_info, f->doc, ex, "provideClusterInfo", err)))
        return rc;
    if ((rc = get_str(&mode, f->doc, ex, "interactiveMode", err)))
        return rc;
    if (mode && strcmp(mode, "Always") == 0)
        return doc_error(err, TY_EINVAL, f->doc, ex, "interactiveMode",
                         "exec: interactiveMode Always needs a terminal; a server has none");
    if (args && !json_is_null(args)) {
        if (!json_is_array(args))
            return doc_error(err, TY_EINVAL, f->doc, ex, "args", "exec: args must be a list");
        e->args = ty_xcalloc(json_array_size(args) + 1, sizeof(char *));
        json_array_foreach(args, i, item)
        {
            if (!json_is_string(item)) {
                char where[300];
                doc_where_item(f->doc, args, i, where, sizeof(where));
                return ty_error_set(err, TY_EINVAL, "%s: exec: args must be strings", where);
            }
            e->args[e->nargs++] = ty_xstrdup(json_string_value(item));
        }
    }
    if (env && !json_is_null(env)) {
        if (!json_is_array(env))
            return doc_error(err, TY_EINVAL, f->doc, ex, "env", "exec: env must be a list");
        e->env = ty_xcalloc(json_array_size(env) + 1, sizeof(char *));
        json_array_foreach(env, i, item)
        {
            const char *n = NULL, *v = NULL;
            if (!json_is_object(item) || get_str(&n, f->doc, item, "name", NULL) ||
                get_str(&v, f->doc, item, "value", NULL) || !n || !n[0] || strchr(n, '=')) {
                char where[300];
                doc_where_item(f->doc, env, i, where, sizeof(where));
                return ty_error_set(err, TY_EINVAL,
                                    "%s: exec: env entries need a name and a string value", where);
            }
            e->env[e->nenv++] = ty_xasprintf("%s=%s", n, v ? v : "");
        }
    }
    return 0;
}

static int
load_user(struct kube_config *cfg, const struct kc_file *f, json_t *u, struct ty_error *err)
{
    const char *token, *token_file, *cert, *key;
    json_t *ex;
    int rc;

    static const char *const impersonation[] = {"as", "as-groups", "as-uid", "as-user-extra", NULL};

    for (int i = 0; impersonation[i]; i++)
        if (json_object_get(u, impersonation[i]))
            return doc_error(err, TY_EINVAL, f->doc, u, impersonation[i],
                             "impersonation (%s) is not supported", impersonation[i]);
    if (json_object_get(u, "auth-provider"))
        return doc_error(err, TY_EINVAL, f->doc, u, "auth-provider",
                         "auth-provider plugins are not supported (use an exec plugin)");
    if (json_object_get(u, "username") || json_object_get(u, "password"))
        return doc_error(err, TY_EINVAL, f->doc, u,
                         json_object_get(u, "username") ? "username" : "password",
                         "basic authentication is not supported");
    if ((rc = get_str(&token, f->doc, u, "token", err)) ||
        (rc = get_str(&token_file, f->doc, u, "tokenFile", err)))
        return rc;
    if (token && token[0])
        cfg->token = ty_xstrdup(token);
    else if (token_file && token_file[0])
        cfg->token_file = resolve_path(f, token_file);
    if ((rc = decode_data(&cfg->client_cert_pem, f, u, "client-certificate-data", err)) ||
        (rc = decode_data(&cfg->client_key_pem, f, u, "client-key-data", err)))
        return rc;
    if ((rc = get_str(&cert, f->doc, u, "client-certificate", err)) ||
        (rc = get_str(&key, f->doc, u, "client-key", err)))
        return rc;
    if (cert && !cfg->client_cert_pem)
        cfg->client_cert_file = resolve_path(f, cert);
    if (key && !cfg->client_key_pem)
        cfg->client_key_file = resolve_path(f, key);
    if ((cfg->client_cert_pem || cfg->client_cert_file) !=
        (cfg->client_key_pem || cfg->client_key_file))
        return doc_error(err, TY_EINVAL, f->doc, u, NULL,
                         "a client certificate needs a client key and vice versa");
    ex = json_object_get(u, "exec");
    if (ex && !json_is_null(ex)) {
        if (!json_is_object(ex))
            return doc_error(err, TY_EINVAL, f->doc, u, "exec", "exec must be a mapping");
        return load_exec(cfg, f, ex, err);
    }
    return 0;
}

static int kc_load_files(struct kc_set *s, const char *path, struct ty_error *err)
{
    const char *env = getenv("KUBECONFIG");
    char *list = NULL, *save = NULL, *tok;
    int rc = 0;

    if (!path && env && env[0])
        path = env;
    if (!path) {
        const char *home = getenv("HOME");
        char *p;
        if (!home || !home[0])
            return ty_error_set(err, TY_ENOTFOUND, "kubeconfig: KUBECONFIG and HOME are unset");
        p = ty_xasprintf("%s/.kube/config", home);
        if (!file_exists(p))
            rc = ty_error_set(err, TY_ENOTFOUND, "kubeconfig: %s does not exist", p);
        else
            rc = kc_add_file(s, p, err);
        free(p);
        return rc;
    }
    if (!strchr(path, ':'))
        return kc_add_file(s, path, err);
    list = ty_xstrdup(path);
    for (tok = strtok_r(list, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        if (!tok[0] || !file_exists(tok))
            continue; /* kubectl skips missing files in a list */
        if ((rc = kc_add_file(s, tok, err)))
            goto out;
    }
    if (s->n == 0)
        rc = ty_error_set(err, TY_ENOTFOUND, "kubeconfig: none of the files in '%s' exists", path);
out:
    free(list);
    return rc;
}

int kube_config_load_kubeconfig(struct kube_config *out,
                                const char *path,
                                const char *context,
                                struct ty_error *err)
{
    struct kc_set set = {0};
    const struct kc_file *cf = NULL, *clf = NULL, *uf = NULL;
    json_t *ctx = NULL, *cl = NULL, *user = NULL;
    const char *ctx_name = context, *cluster_name = NULL, *user_name = NULL, *ns = NULL;
    const struct doc *cur_doc = NULL;
    int rc;

    kube_config_init(out);
    if ((rc = kc_load_files(&set, path, err)))
        goto out;
    for (size_t i = 0; !ctx_name && i < set.n; i++) {
        const char *cc;
        if ((rc = get_str(&cc, set.files[i].doc, doc_root(set.files[i].doc), "current-context",
                          err)))
            goto out;
        if (cc && cc[0]) {
            ctx_name = cc;
            cur_doc = set.files[i].doc;
        }
    }
    if (!ctx_name) {
        rc = ty_error_set(err, TY_ENOTFOUND, "kubeconfig %s: no current-context and none given",
                          set.files[0].path);
        goto out;
    }
    rc = kc_find(&cf, &ctx, &set, "contexts", "context", ctx_name, err);
    if (rc == TY_ENOTFOUND) {
        if (cur_doc)
            rc = doc_error(err, TY_ENOTFOUND, cur_doc, doc_root(cur_doc), "current-context",
                           "context '%s' is not defined", ctx_name);
        else
            rc = ty_error_set(err, TY_ENOTFOUND, "kubeconfig %s: context '%s' is not defined",
                              set.files[0].path, ctx_name);
    }
    if (rc || !cf) {
        rc = rc ? rc : TY_ERR; /* kc_find returns 0 only with a file */
        goto out;
    }
    if ((rc = get_str(&cluster_name, cf->doc, ctx, "cluster", err)) ||
        (rc = get_str(&user_name, cf->doc, ctx, "user", err)) ||
        (rc = get_str(&ns, cf->doc, ctx, "namespace", err)))
        goto out;
    if (!cluster_name) {
        rc = doc_error(err, TY_EINVAL, cf->doc, ctx, NULL, "context '%s' names no cluster",
                       ctx_name);
        goto out;
    }
    rc = kc_find(&clf, &cl, &set, "clusters", "cluster", cluster_name, err);
    if (rc == TY_ENOTFOUND)
        rc = doc_error(err, TY_EINVAL, cf->doc, ctx, "cluster",
                       "context '%s' names unknown cluster '%s'", ctx_name, cluster_name);
    if (!rc && !clf)
        rc = TY_ERR;
    if (rc || (rc = load_cluster(out, clf, cl, cluster_name, err)))
        goto out;
    if (user_name && user_name[0]) {
        rc = kc_find(&uf, &user, &set, "users", "user", user_name, err);
        if (rc == TY_ENOTFOUND)
            rc = doc_error(err, TY_EINVAL, cf->doc, ctx, "user",
                           "context '%s' names unknown user '%s'", ctx_name, user_name);
        if (!rc && !uf)
            rc = TY_ERR;
        if (rc || (rc = load_user(out, uf, user, err)))
            goto out;
    }
    out->namespace = ty_xstrdup(ns && ns[0] ? ns : "default");
    out->source = ty_xasprintf("kubeconfig %s (context %s)", set.files[0].path, ctx_name);
out:
    kc_set_cleanup(&set);
    if (rc)
        kube_config_cleanup(out);
    return rc;
}

/* ---- in-cluster ---- */

static char *trim_dup(const char *s)
{
    size_t n;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return ty_xstrndup(s, n);
}

int kube_config_load_in_cluster(struct kube_config *out, const char *root_dir, struct ty_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *root = root_dir ? root_dir : IN_CLUSTER_DIR;
    char *token_path = NULL, *ca_path = NULL, *ns_path = NULL, *ns = NULL;
    int rc = 0;

    kube_config_init(out);
    if (!host || !host[0] || !port || !port[0])
        return ty_error_set(err, TY_ENOTFOUND,
                            "in-cluster: KUBERNETES_SERVICE_HOST and "
                            "KUBERNETES_SERVICE_PORT are not set");
    token_path = ty_path_join(root, "token");
    ca_path = ty_path_join(root, "ca.crt");
    ns_path = ty_path_join(root, "namespace");
    if (!file_exists(token_path)) {
        rc = ty_error_set(err, TY_ENOTFOUND, "in-cluster: no service-account token at %s",
                          token_path);
        goto out;
    }
    out->server = strchr(host, ':') ? ty_xasprintf("https://[%s]:%s", host, port)
                                    : ty_xasprintf("https://%s:%s", host, port);
    out->token_file = token_path;
    token_path = NULL;
    if (file_exists(ca_path)) {
        out->ca_file = ca_path;
        ca_path = NULL;
    }
    if (file_exists(ns_path)) {
        if ((rc = ty_file_read(&ns, NULL, ns_path, 4096, err)))
            goto out;
        out->namespace = trim_dup(ns);
    }
    if (!out->namespace || !out->namespace[0]) {
        free(out->namespace);
        out->namespace = ty_xstrdup("default");
    }
    out->source = ty_xasprintf("in-cluster (%s)", root);
out:
    free(token_path);
    free(ca_path);
    free(ns_path);
    free(ns);
    if (rc)
        kube_config_cleanup(out);
    return rc;
}

int kube_config_auto(struct kube_config *out, struct ty_error *err)
{
    const char *kc = getenv("KUBECONFIG");
    const char *host = getenv("KUBERNETES_SERVICE_HOST");

    if (kc && kc[0])
        return kube_config_load_kubeconfig(out, NULL, NULL, err);
    if (host && host[0])
        return kube_config_load_in_cluster(out, NULL, err);
    return kube_config_load_kubeconfig(out, NULL, NULL, err);
}
