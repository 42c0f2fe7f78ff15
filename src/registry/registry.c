/*
 * registry.c - loading a registry from its source, the registry object's
 * lifetime, and reading the files its apps name.
 *
 * A source string names where app-registry.yaml lives (a folder, a file, an
 * http(s) base or a git repository).  Loading reads the two YAML files with
 * the doc loader (so every node has a position), checks their shape and
 * resolves every context once: a registry either loads whole or not at all,
 * which is what lets a server keep the last good one when a new commit is
 * broken.  A loaded registry is immutable and reference counted, so a reader
 * may keep using it while a refresh swaps in its successor.
 *
 * Git sources go through src/fetch: a mirror and one checkout per commit in
 * the cache; the commit that loaded is marked live, and when the remote cannot
 * be reached (or, at first load, the new commit is broken) the live checkout
 * is served with a warning saying why.
 */
#include "registry/registry_int.h"

#include "fetch/fetch.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REGISTRY_FILE      "app-registry.yaml"
#define DEFAULTS_FILE      "app-defaults.yaml"
#define REGISTRY_MAX_BYTES (4u << 20)
#define SPEC_MAX_BYTES     (1u << 20)

/* ------------------------------------------------------------------ source */

const char *registry_source_default(void)
{
    const char *s = getenv("TYCHO_REGISTRY"); /* NOLINT(concurrency-mt-unsafe) */
    return s && *s ? s : "registry";
}

char *registry_cache_dir_default(void)
{
    const char *s = getenv("TYCHO_CACHE_DIR"); /* NOLINT(concurrency-mt-unsafe) */
    const char *home;
    if (s && *s)
        return ty_xstrdup(s);
    home = getenv("HOME"); /* NOLINT(concurrency-mt-unsafe) */
    return ty_xasprintf("%s/.cache/tycho", home && *home ? home : "/tmp");
}

void registry_source_cleanup(struct registry_source *src)
{
    if (!src)
        return;
    free(src->text);
    free(src->location);
    free(src->ref);
    free(src->subdir);
    memset(src, 0, sizeof(*src));
}

static void source_copy(struct registry_source *dst, const struct registry_source *src)
{
    dst->kind = src->kind;
    dst->text = src->text ? ty_xstrdup(src->text) : NULL;
    dst->location = src->location ? ty_xstrdup(src->location) : NULL;
    dst->ref = src->ref ? ty_xstrdup(src->ref) : NULL;
    dst->subdir = src->subdir ? ty_xstrdup(src->subdir) : NULL;
}

static int parse_git(struct registry_source *out, const char *spec, struct ty_error *err)
{
    const char *hash = strchr(spec, '#');
    size_t url_len = hash ? (size_t)(hash - spec) : strlen(spec);
    if (url_len == 0)
        return ty_error_set(err, TY_EINVAL, "registry source '%s': git+ needs a repository URL",
                            out->text);
    out->location = ty_xstrndup(spec, url_len);
    if (hash) {
        const char *colon = strchr(hash + 1, ':');
        size_t ref_len = colon ? (size_t)(colon - hash - 1) : strlen(hash + 1);
        if (ref_len)
            out->ref = ty_xstrndup(hash + 1, ref_len);
        if (colon) {
            const char *p = colon + 1;
            size_t n;
            while (*p == '/')
                p++;
            n = strlen(p);
            while (n > 0 && p[n - 1] == '/')
                n--;
            if (n)
                out->subdir = ty_xstrndup(p, n);
        }
    }
    if (out->subdir) {
        char *norm = registry_path_join_norm("/", out->subdir);
        bool escapes = strcmp(norm + 1, out->subdir) != 0;
        free(norm);
        if (escapes || !strcmp(out->subdir, "..") || ty_str_has_prefix(out->subdir, "../"))
            return ty_error_set(err, TY_EINVAL,
                                "registry source '%s': the path inside the repository must be "
                                "a plain relative folder, not '%s'",
                                out->text, out->subdir);
    }
    out->kind = REGISTRY_SOURCE_GIT;
    return 0;
}

int registry_source_parse(struct registry_source *out, const char *text, struct ty_error *err)
{
    struct stat st;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (!text || !*text)
        return ty_error_set(err, TY_EINVAL, "empty registry source");
    out->text = ty_xstrdup(text);
    if (ty_str_has_prefix(text, "git+")) {
        rc = parse_git(out, text + 4, err);
    } else if (ty_str_has_prefix(text, "http://") || ty_str_has_prefix(text, "https://")) {
        size_t n = strlen(text);
        while (n > 0 && text[n - 1] == '/')
            n--;
        out->kind = REGISTRY_SOURCE_HTTP;
        out->location = ty_xstrndup(text, n);
    } else {
        const char *path = ty_str_has_prefix(text, "file://") ? text + 7 : text;
        if (stat(path, &st) != 0) {
            int e = errno;
            char ebuf[128];
            rc = ty_error_set(err, e == ENOENT ? TY_ENOTFOUND : TY_ERR, "registry source '%s': %s",
                              text, strerror_r(e, ebuf, sizeof(ebuf)));
        } else {
            out->kind = S_ISDIR(st.st_mode) ? REGISTRY_SOURCE_DIR : REGISTRY_SOURCE_FILE;
            out->location = ty_xstrdup(path);
        }
    }
    if (rc < 0)
        registry_source_cleanup(out);
    return rc;
}

/* ---------------------------------------------------------------- registry */

struct registry *registry_alloc(void)
{
    struct registry *reg = ty_xcalloc(1, sizeof(*reg));
    reg->priv = ty_xcalloc(1, sizeof(*reg->priv));
    atomic_init(&reg->priv->refs, 1);
    registry_warnings_init(&reg->warnings);
    return reg;
}

struct registry *registry_ref(struct registry *reg)
{
    if (reg)
        atomic_fetch_add(&reg->priv->refs, 1);
    return reg;
}

void registry_put(struct registry *reg)
{
    if (!reg || atomic_fetch_sub(&reg->priv->refs, 1) != 1)
        return;
    registry_source_cleanup(&reg->source);
    free(reg->dir);
    free(reg->url);
    free(reg->base_url);
    free(reg->registry_name);
    free(reg->defaults_name);
    free(reg->cache_dir);
    free(reg->spec_branch);
    json_decref(reg->settings);
    json_decref(reg->repositories);
    json_decref(reg->contexts);
    json_decref(reg->defaults);
    json_decref(reg->repo_urls);
    registry_warnings_cleanup(&reg->warnings);
    json_decref(reg->priv->resolved);
    doc_free(reg->priv->reg_doc);
    doc_free(reg->priv->defaults_doc);
    free(reg->priv->root);
    free(reg->priv);
    free(reg);
}

/* The spec branch of opts, copied, or NULL when there is none ("" is none). */
static char *spec_branch_dup(const struct registry_load_opts *opts)
{
    return opts && opts->spec_branch && *opts->spec_branch ? ty_xstrdup(opts->spec_branch) : NULL;
}

static int spec_branch_opt_check(const struct registry_load_opts *opts, struct ty_error *err)
{
    if (!opts || !opts->spec_branch || !*opts->spec_branch)
        return 0;
    return registry_spec_branch_check(opts->spec_branch, err);
}

/* Parses the two texts into reg (defaults_text may be NULL) and validates. */
static int load_texts(struct registry *reg,
                      const char *reg_text,
                      size_t reg_len,
                      const char *def_text,
                      size_t def_len,
                      struct ty_error *err)
{
    struct registry_int *p = reg->priv;
    unsigned char sum[TY_SHA256_LEN * 2];
    int rc;
    if ((rc = doc_parse(&p->reg_doc, reg->registry_name, reg_text, reg_len, NULL, err)) < 0)
        return rc;
    if (def_text &&
        (rc = doc_parse(&p->defaults_doc, reg->defaults_name, def_text, def_len, NULL, err)) < 0)
        return rc;
    ty_sha256(sum, reg_text, reg_len);
    ty_sha256(sum + TY_SHA256_LEN, def_text ? def_text : "", def_text ? def_len : 0);
    ty_sha256_hex(p->digest, sum, sizeof(sum));
    return registry_validate_and_resolve_all(reg, err);
}

static void set_base(struct registry *reg, const struct registry_load_opts *opts)
{
    if (opts && opts->base_url && *opts->base_url) {
        /* A relative folder given as base is taken from the working directory. */
        if (!registry_url_has_scheme(opts->base_url) && opts->base_url[0] != '/') {
            char cwd[PATH_MAX];
            if (getcwd(cwd, sizeof(cwd)))
                reg->base_url = registry_path_join_norm(cwd, opts->base_url);
            else
                reg->base_url = ty_xstrdup(opts->base_url);
        } else {
            reg->base_url = ty_xstrdup(opts->base_url);
        }
    } else {
        reg->base_url = ty_xstrdup(reg->url ? reg->url : reg->dir);
    }
}

/* Loads app-registry.yaml (registry_path) and, when it exists, defaults_path,
 * both local files, into reg (whose dir, url and names the caller may have
 * set). */
static int load_local(struct registry *reg,
                      const char *registry_path,
                      const char *defaults_path,
                      const struct registry_load_opts *opts,
                      struct ty_error *err)
{
    char *reg_text = NULL, *def_text = NULL;
    size_t reg_len = 0, def_len = 0;
    int rc;
    if (!reg->dir) {
        char *d = ty_path_dirname(registry_path);
        char real[PATH_MAX];
        reg->dir = ty_xstrdup(realpath(d, real) ? real : d);
        free(d);
    }
    if (!reg->registry_name)
        reg->registry_name = ty_xstrdup(registry_path);
    set_base(reg, opts);
    if ((rc = ty_file_read(&reg_text, &reg_len, registry_path, REGISTRY_MAX_BYTES, err)) < 0) {
        ty_error_wrap(err, "registry: ");
        goto out;
    }
    if (defaults_path) {
        rc = ty_file_read(&def_text, &def_len, defaults_path, REGISTRY_MAX_BYTES, err);
        if (rc == TY_ENOTFOUND) {
            rc = 0;
            ty_error_clear(err);
        } else if (rc < 0) {
            ty_error_wrap(err, "registry: ");
            goto out;
        } else if (!reg->defaults_name) {
            reg->defaults_name = ty_xstrdup(defaults_path);
        }
    }
    rc = load_texts(reg, reg_text, reg_len, def_text, def_len, err);
out:
    free(reg_text);
    free(def_text);
    return rc;
}

int registry_load_files(struct registry **out,
                        const char *registry_path,
                        const char *defaults_path,
                        const struct registry_load_opts *opts,
                        struct ty_error *err)
{
    struct registry *reg;
    int rc;
    *out = NULL;
    if ((rc = spec_branch_opt_check(opts, err)) < 0)
        return rc;
    reg = registry_alloc();
    reg->source.kind = REGISTRY_SOURCE_FILE;
    reg->source.text = ty_xstrdup(registry_path);
    reg->source.location = ty_xstrdup(registry_path);
    reg->cache_dir =
        opts && opts->cache_dir ? ty_xstrdup(opts->cache_dir) : registry_cache_dir_default();
    reg->spec_branch = spec_branch_dup(opts);
    rc = load_local(reg, registry_path, defaults_path, opts, err);
    reg->loaded_at_ms = ty_time_now_ms();
    if (rc < 0) {
        registry_put(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

static int
load_http(struct registry *reg, const struct registry_load_opts *opts, struct ty_error *err)
{
    char *reg_text = NULL, *def_text = NULL;
    size_t reg_len = 0, def_len = 0;
    char *def_url = NULL;
    int rc;
    reg->url = ty_xstrdup(reg->source.location);
    reg->registry_name = ty_xasprintf("%s/%s", reg->url, REGISTRY_FILE);
    def_url = ty_xasprintf("%s/%s", reg->url, DEFAULTS_FILE);
    set_base(reg, opts);
    rc = fetch_http_get(&reg_text, &reg_len, reg->registry_name, reg->cache_dir, REGISTRY_MAX_BYTES,
                        err);
    if (rc < 0) {
        ty_error_wrap(err, "registry: %s: ", reg->registry_name);
        goto out;
    }
    rc = fetch_http_get(&def_text, &def_len, def_url, reg->cache_dir, REGISTRY_MAX_BYTES, err);
    if (rc == TY_ENOTFOUND) {
        ty_error_clear(err);
        rc = 0;
    } else if (rc < 0) {
        ty_error_wrap(err, "registry: %s: ", def_url);
        goto out;
    } else {
        reg->defaults_name = def_url;
        def_url = NULL;
    }
    rc = load_texts(reg, reg_text, reg_len, def_text, def_len, err);
out:
    free(reg_text);
    free(def_text);
    free(def_url);
    return rc;
}

/* Loads the registry files inside a git checkout into reg. */
static int load_checkout(struct registry *reg,
                         const struct fetch_git_result *co,
                         const struct registry_load_opts *opts,
                         struct ty_error *err)
{
    char *dir =
        reg->source.subdir ? ty_path_join(co->dir, reg->source.subdir) : ty_xstrdup(co->dir);
    char *rpath = ty_path_join(dir, REGISTRY_FILE);
    char *dpath = ty_path_join(dir, DEFAULTS_FILE);
    int rc;
    memcpy(reg->commit, co->commit, sizeof(reg->commit));
    reg->dir = dir;
    free(reg->priv->root);
    reg->priv->root = ty_xstrdup(co->dir);
    rc = load_local(reg, rpath, dpath, opts, err);
    free(rpath);
    free(dpath);
    return rc;
}

/* A fresh registry carrying src, for one load attempt. */
static struct registry *registry_blank(const struct registry_source *src,
                                       const struct registry_load_opts *opts)
{
    struct registry *reg = registry_alloc();
    source_copy(&reg->source, src);
    reg->cache_dir =
        opts && opts->cache_dir ? ty_xstrdup(opts->cache_dir) : registry_cache_dir_default();
    reg->spec_branch = spec_branch_dup(opts);
    return reg;
}

/* Git: check out the ref and load it.  With allow_fallback, a failure to
 * reach the remote or to load the new commit falls back to the commit marked
 * live, with a warning. */
static int load_git(struct registry **out,
                    const struct registry_source *src,
                    const struct registry_load_opts *opts,
                    bool allow_fallback,
                    struct ty_error *err)
{
    struct registry *reg = registry_blank(src, opts);
    struct fetch_git_result co = {0}, live = {0};
    struct ty_error first = TY_ERROR_INIT;
    int rc;

    *out = NULL;
    rc = fetch_git_checkout(&co, reg->cache_dir, src->location, src->ref, &first);
    if (rc < 0)
        ty_error_wrap(&first, "registry %s: ", src->text);
    if (rc == 0) {
        rc = load_checkout(reg, &co, opts, &first);
        if (rc == 0) {
            rc = fetch_git_mark_live(reg->cache_dir, src->location, co.commit, err);
            if (rc == 0)
                goto done;
            goto out;
        }
    }
    /* Fall back only when the remote could not be reached or the new commit
     * does not load; a missing ref or a malformed source is the caller's. */
    if (!allow_fallback || (!co.dir && rc != TY_EUPSTREAM && rc != TY_ETIMEOUT && rc != TY_ELIMIT))
        goto fail;
    /* Serve the last good commit, saying why. */
    if (fetch_git_last_live(&live, reg->cache_dir, src->location, NULL) < 0 ||
        (co.dir && !strcmp(live.commit, co.commit)))
        goto fail;
    registry_put(reg);
    reg = registry_blank(src, opts);
    if (load_checkout(reg, &live, opts, NULL) < 0)
        goto fail;
    registry_warnings_add(&reg->warnings, "%s: %s; serving the last good commit %s", src->text,
                          first.msg, live.commit);
    rc = 0;
    goto done;
fail:
    if (err)
        *err = first;
    rc = first.code ? (int)first.code : TY_ERR;
    goto out;
done:
    reg->loaded_at_ms = ty_time_now_ms();
    *out = reg;
    reg = NULL;
out:
    registry_put(reg);
    fetch_git_result_cleanup(&co);
    fetch_git_result_cleanup(&live);
    return rc;
}

int registry_load_ex(struct registry **out,
                     const struct registry_source *src,
                     const struct registry_load_opts *opts,
                     bool allow_fallback,
                     struct ty_error *err)
{
    struct registry *reg;
    int rc;
    *out = NULL;
    if ((rc = spec_branch_opt_check(opts, err)) < 0)
        return rc;
    if (src->kind == REGISTRY_SOURCE_GIT)
        return load_git(out, src, opts, allow_fallback, err);
    reg = registry_blank(src, opts);
    if (src->kind == REGISTRY_SOURCE_HTTP) {
        rc = load_http(reg, opts, err);
    } else if (src->kind == REGISTRY_SOURCE_DIR) {
        char *rpath = ty_path_join(src->location, REGISTRY_FILE);
        char *dpath = ty_path_join(src->location, DEFAULTS_FILE);
        rc = load_local(reg, rpath, dpath, opts, err);
        free(rpath);
        free(dpath);
    } else {
        char *d = ty_path_dirname(src->location);
        char *dpath = ty_path_join(d, DEFAULTS_FILE);
        rc = load_local(reg, src->location, dpath, opts, err);
        free(d);
        free(dpath);
    }
    reg->loaded_at_ms = ty_time_now_ms();
    if (rc < 0) {
        registry_put(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

int registry_load(struct registry **out,
                  const struct registry_source *src,
                  const struct registry_load_opts *opts,
                  struct ty_error *err)
{
    return registry_load_ex(out, src, opts, true, err);
}

json_t *registry_context_names(const struct registry *reg)
{
    json_t *out = json_array();
    const char *name;
    json_t *v;
    json_object_foreach(reg->contexts, name, v)
    {
        json_array_append_new(out, json_string(name));
    }
    return out;
}

int registry_apps_get(const json_t **out,
                      const struct registry *reg,
                      const char *context,
                      struct ty_error *err)
{
    *out = json_object_get(reg->priv->resolved, context ? context : "");
    if (!*out)
        return ty_error_set(err, TY_ENOTFOUND, "%s: no context '%s'", reg->registry_name,
                            context ? context : "");
    return 0;
}

int registry_resolve(json_t **out,
                     const struct registry *reg,
                     const char *context,
                     const char *base_url,
                     struct registry_warnings *warnings,
                     struct ty_error *err)
{
    json_t *urls = base_url ? registry_repo_urls(reg, base_url) : json_incref(reg->repo_urls);
    int rc = registry_resolve_with(out, reg, context, urls, warnings, err);
    json_decref(urls);
    return rc;
}

const json_t *registry_app_find(const json_t *apps, const char *app_id)
{
    if (!apps || !app_id)
        return NULL;
    return json_object_get(apps, app_id);
}

/* ------------------------------------------------------------- app files */

/* Reads location (a path, a file:// URL or an http(s) URL; relative paths
 * are taken from the registry's folder), at most max bytes. */
static int read_location(char **out,
                         size_t *len_out,
                         char **name_out,
                         const struct registry *reg,
                         const char *location,
                         size_t max,
                         struct ty_error *err)
{
    char *path = NULL;
    int rc;
    if (ty_str_has_prefix(location, "http://") || ty_str_has_prefix(location, "https://")) {
        rc = fetch_http_get(out, len_out, location, reg->cache_dir, max, err);
        if (rc == 0 && name_out)
            *name_out = ty_xstrdup(location);
        return rc;
    }
    if (ty_str_has_prefix(location, "file://"))
        location += 7;
    else if (registry_url_has_scheme(location))
        return ty_error_set(err, TY_EINVAL, "%s: unsupported URL scheme", location);
    path = registry_path_join_norm(reg->dir ? reg->dir : ".", location);
    if (reg->priv->root) {
        /* A registry from a git repository names files of that repository
         * only: the repository is not trusted to read the host's files. */
        const char *root = reg->priv->root;
        size_t n = strlen(root);
        char *real = NULL;
        if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0')) {
            rc = ty_error_set(err, TY_EINVAL, "%s: outside the registry's repository", location);
            goto out;
        }
        rc = fetch_path_resolve(&real, root, path[n] ? path + n + 1 : "", err);
        if (rc < 0)
            goto out;
        free(path);
        path = real;
    }
    rc = ty_file_read(out, len_out, path, max, err);
out:
    if (name_out && rc == 0) {
        *name_out = path;
        path = NULL;
    }
    free(path);
    return rc;
}

int registry_app_spec_read(char **out,
                           size_t *len_out,
                           char **name_out,
                           const struct registry *reg,
                           const json_t *app,
                           struct ty_error *err)
{
    const char *spec = json_string_value(json_object_get(app, "spec"));
    *out = NULL;
    if (name_out)
        *name_out = NULL;
    if (len_out)
        *len_out = 0;
    if (!spec)
        return ty_error_set(err, TY_EINVAL, "app has no spec");
    return read_location(out, len_out, name_out, reg, spec, SPEC_MAX_BYTES, err);
}

int registry_app_icon_read(char **out,
                           size_t *len_out,
                           char **name_out,
                           const struct registry *reg,
                           const json_t *app,
                           struct ty_error *err)
{
    const char *icon = json_string_value(json_object_get(app, "icon"));
    *out = NULL;
    if (name_out)
        *name_out = NULL;
    if (len_out)
        *len_out = 0;
    if (!icon || !*icon)
        return ty_error_set(err, TY_ENOTFOUND, "app has no icon");
    return read_location(out, len_out, name_out, reg, icon, REGISTRY_ICON_MAX_BYTES, err);
}

int registry_app_env_read(char **out,
                          size_t *len_out,
                          const struct registry *reg,
                          const json_t *app,
                          struct ty_error *err)
{
    const char *spec = json_string_value(json_object_get(app, "spec"));
    char *dir, *loc;
    int rc;
    *out = NULL;
    if (len_out)
        *len_out = 0;
    if (!spec)
        return ty_error_set(err, TY_EINVAL, "app has no spec");
    dir = registry_dirname(spec);
    loc = ty_xasprintf("%s/.env", dir);
    rc = read_location(out, len_out, NULL, reg, loc, SPEC_MAX_BYTES, err);
    if (rc == TY_ENOTFOUND) {
        /* Tycho: a .env that cannot be fetched is an empty one. */
        ty_error_clear(err);
        *out = ty_xstrdup("");
        rc = 0;
    }
    free(dir);
    free(loc);
    return rc;
}
