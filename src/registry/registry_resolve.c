/*
 * registry_resolve.c - Tycho's context resolution, step by step, on jansson
 * trees, plus the shape checks that make a bad registry an error with a
 * position instead of a Python exception.
 *
 * The order is Tycho's (tycho-reference.md section 1.3): inherit (depth-first
 * over `extends`, whole entries, later wins), app-defaults deep-merged into
 * every app with the defaults winning, mixins (parents' first, only apps
 * already present, mixer wins), spec/icon compilation and `$repo`
 * substitution, then the selected context's bare-key overrides.  Every step
 * works on fresh copies: nothing is shared between resolutions, which is the
 * fix for Tycho's mutable-default-argument leak between contexts.
 *
 * Each resolved app remembers which context supplied its entry (the origin),
 * so a warning about the final entry can point at the YAML that produced it.
 */
#include "registry/registry_int.h"

#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A generous bound on context visits: diamonds are revisited, as in Tycho, so
 * a pathological graph could otherwise take exponential time. */
#define VISIT_LIMIT 100000

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool is_reserved(const char *key)
{
    return !strcmp(key, "name") || !strcmp(key, "extends") || !strcmp(key, "mixin") ||
           !strcmp(key, "apps");
}

/* ------------------------------------------------------------ shape checks */

static int check_name_list(const struct doc *d,
                           const json_t *ctx,
                           const char *ctx_name,
                           const char *key,
                           struct ty_error *err)
{
    const json_t *list = json_object_get(ctx, key);
    char where[512];
    size_t i;
    const json_t *item;
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return doc_error(err, TY_EINVAL, d, ctx, key,
                         "context '%s': %s must be a list of context names, not %s", ctx_name, key,
                         type_name(list));
    json_array_foreach(list, i, item)
    {
        if (!json_is_string(item))
            return ty_error_set(err, TY_EINVAL,
                                "%s: context '%s': %s item must be a context "
                                "name, not %s",
                                doc_where_item(d, list, i, where, sizeof(where)), ctx_name, key,
                                type_name(item));
    }
    return 0;
}

static int
check_context(const struct doc *d, const json_t *contexts, const char *name, struct ty_error *err)
{
    const json_t *ctx = json_object_get(contexts, name);
    const json_t *apps, *entry;
    const char *id;
    int rc;
    if (!json_is_object(ctx))
        return doc_error(err, TY_EINVAL, d, contexts, name,
                         "context '%s' must be a mapping, not %s", name, type_name(ctx));
    if ((rc = check_name_list(d, ctx, name, "extends", err)) < 0 ||
        (rc = check_name_list(d, ctx, name, "mixin", err)) < 0)
        return rc;
    apps = json_object_get(ctx, "apps");
    if (!apps || json_is_null(apps))
        return 0;
    if (!json_is_object(apps))
        return doc_error(err, TY_EINVAL, d, ctx, "apps",
                         "context '%s': apps must be a mapping "
                         "of app ids to entries, not %s",
                         name, type_name(apps));
    json_object_foreach((json_t *)apps, id, entry)
    {
        if (!json_is_object(entry))
            return doc_error(err, TY_EINVAL, d, apps, id, "app '%s' must be a mapping, not %s", id,
                             type_name(entry));
    }
    return 0;
}

static int check_repositories(const struct doc *d, const json_t *repos, struct ty_error *err)
{
    const char *name;
    json_t *repo;
    json_object_foreach((json_t *)repos, name, repo)
    {
        const json_t *url = json_object_get(repo, "url");
        if (!json_is_object(repo))
            return doc_error(err, TY_EINVAL, d, repos, name,
                             "repository '%s' must be a mapping with a url, not %s", name,
                             type_name(repo));
        if (!json_is_string(url))
            return doc_error(err, TY_EINVAL, d, repo, url ? "url" : NULL,
                             "repository '%s': url must be a string%s", name,
                             url ? "" : " (missing)");
    }
    return 0;
}

/* Picks root[key] when it is a mapping (or absent/null, giving a new {}). */
static int take_mapping(json_t **out,
                        const struct doc *d,
                        json_t *root,
                        const char *key,
                        bool required,
                        struct ty_error *err)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return doc_error(err, TY_EINVAL, d, root, v ? key : NULL,
                             "the registry has no '%s' mapping", key);
        *out = json_object();
        return 0;
    }
    if (!json_is_object(v))
        return doc_error(err, TY_EINVAL, d, root, key, "%s must be a mapping, not %s", key,
                         type_name(v));
    *out = json_incref(v);
    return 0;
}

json_t *registry_repo_urls(const struct registry *reg, const char *base)
{
    json_t *out = json_object();
    const char *name;
    json_t *repo;
    json_object_foreach(reg->repositories, name, repo)
    {
        const char *url = json_string_value(json_object_get(repo, "url"));
        char *resolved;
        if (!base || !*base) {
            resolved = ty_xstrdup(url);
        } else if (registry_url_has_scheme(base)) {
            /* Tycho: urljoin(tycho_config_url + "/", url). */
            size_t n = strlen(base);
            while (n > 0 && base[n - 1] == '/')
                n--;
            char *b = ty_xasprintf("%.*s/", (int)n, base);
            resolved = registry_url_join(b, url);
            free(b);
        } else if (registry_url_has_scheme(url)) {
            resolved = ty_xstrdup(url);
        } else {
            resolved = registry_path_join_norm(base, url);
        }
        json_object_set_new(out, name, json_string(resolved));
        free(resolved);
    }
    return out;
}

int registry_validate_and_resolve_all(struct registry *reg, struct ty_error *err)
{
    struct registry_int *p = reg->priv;
    const struct doc *d = p->reg_doc;
    json_t *root = doc_root(d);
    const char *name;
    json_t *ctx;
    int rc;

    if (!json_is_object(root))
        return doc_error(err, TY_EINVAL, d, root, NULL, "the registry must be a mapping, not %s",
                         type_name(root));
    json_decref(reg->settings);
    json_decref(reg->repositories);
    json_decref(reg->contexts);
    reg->settings = reg->repositories = reg->contexts = NULL;
    if ((rc = take_mapping(&reg->settings, d, root, "settings", false, err)) < 0 ||
        (rc = take_mapping(&reg->repositories, d, root, "repositories", false, err)) < 0 ||
        (rc = take_mapping(&reg->contexts, d, root, "contexts", true, err)) < 0)
        return rc;
    if ((rc = check_repositories(d, reg->repositories, err)) < 0)
        return rc;
    json_object_foreach(reg->contexts, name, ctx)
    {
        if ((rc = check_context(d, reg->contexts, name, err)) < 0)
            return rc;
    }
    json_decref(reg->defaults);
    reg->defaults = NULL;
    if (p->defaults_doc) {
        json_t *droot = doc_root(p->defaults_doc);
        if (json_is_null(droot))
            reg->defaults = json_object();
        else if (!json_is_object(droot))
            return doc_error(err, TY_EINVAL, p->defaults_doc, droot, NULL,
                             "app defaults must be a mapping, not %s", type_name(droot));
        else
            reg->defaults = json_incref(droot);
    } else {
        reg->defaults = json_object();
    }
    json_decref(reg->repo_urls);
    reg->repo_urls = registry_repo_urls(reg, reg->base_url);

    json_decref(p->resolved);
    p->resolved = json_object();
    json_object_foreach(reg->contexts, name, ctx)
    {
        json_t *apps = NULL;
        rc = registry_resolve_with(&apps, reg, name, reg->repo_urls, &reg->warnings, err);
        if (rc < 0)
            return rc;
        json_object_set_new(p->resolved, name, apps);
    }
    return 0;
}

/* -------------------------------------------------------------- resolution */

struct rctx {
    const struct registry *reg;
    const struct doc *d;
    json_t *apps;   /* the result being built */
    json_t *origin; /* app id -> name of the context whose entry it holds */
    const char **stack;
    size_t depth;
    size_t visits;
    struct registry_warnings *warnings;
};

static int cycle_error(
    struct rctx *rc, const json_t *list, size_t index, const char *parent, struct ty_error *err)
{
    char where[512];
    struct ty_buf path = TY_BUF_INIT;
    size_t start = 0;
    int code;
    while (start < rc->depth && strcmp(rc->stack[start], parent))
        start++;
    for (size_t i = start; i < rc->depth; i++)
        ty_buf_printf(&path, "%s -> ", rc->stack[i]);
    ty_buf_puts(&path, parent);
    code =
        ty_error_set(err, TY_EINVAL, "%s: extends cycle: %s",
                     doc_where_item(rc->d, list, index, where, sizeof(where)), ty_buf_cstr(&path));
    ty_buf_cleanup(&path);
    return code;
}

static int inherit(struct rctx *rc, const char *name, const json_t *ctx, struct ty_error *err)
{
    const json_t *ext = json_object_get(ctx, "extends");
    const json_t *apps = json_object_get(ctx, "apps");
    char where[512];
    size_t i;
    const json_t *item;
    const char *id;
    json_t *entry;
    int code;

    rc->stack[rc->depth++] = name;
    json_array_foreach(ext, i, item)
    {
        const char *pname = json_string_value(item);
        const json_t *parent = json_object_get(rc->reg->contexts, pname);
        if (!parent)
            return ty_error_set(err, TY_EINVAL, "%s: context '%s' extends unknown context '%s'",
                                doc_where_item(rc->d, ext, i, where, sizeof(where)), name, pname);
        for (size_t k = 0; k < rc->depth; k++)
            if (!strcmp(rc->stack[k], pname))
                return cycle_error(rc, ext, i, pname, err);
        if (++rc->visits > VISIT_LIMIT)
            return ty_error_set(err, TY_ELIMIT,
                                "%s: context '%s': the extends graph needs "
                                "more than %d visits",
                                doc_where_item(rc->d, ext, i, where, sizeof(where)), name,
                                VISIT_LIMIT);
        if ((code = inherit(rc, pname, parent, err)) < 0)
            return code;
    }
    if (json_object_size(apps)) {
        /* Borrow the entries for now: most are overridden or kept whole, and
         * only the winners are copied (in registry_resolve_with). */
        json_t *origin = json_string(name);
        json_object_foreach((json_t *)apps, id, entry)
        {
            json_object_set(rc->apps, id, entry);
            json_object_set(rc->origin, id, origin);
        }
        json_decref(origin);
    }
    rc->depth--;
    return 0;
}

/* deepmerge's Merger([(list, "override"), (dict, "merge")], ["override"],
 * ["override"]).merge(base, next): next wins except where both are mappings. */
static void merge_into(json_t *base, const json_t *next)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)next, key, v)
    {
        json_t *b = json_object_get(base, key);
        if (json_is_object(b) && json_is_object(v))
            merge_into(b, v);
        else
            json_object_set_new(base, key, json_deep_copy(v));
    }
}

static void apply_mixins(struct rctx *rc, const char *name, const json_t *ctx)
{
    const json_t *ext = json_object_get(ctx, "extends");
    const json_t *mix = json_object_get(ctx, "mixin");
    char where[512];
    size_t i;
    const json_t *item;

    json_array_foreach(ext, i, item)
    {
        const char *pname = json_string_value(item);
        apply_mixins(rc, pname, json_object_get(rc->reg->contexts, pname));
    }
    json_array_foreach(mix, i, item)
    {
        const char *mname = json_string_value(item);
        const json_t *mixer = json_object_get(rc->reg->contexts, mname);
        const json_t *mapps;
        const char *id;
        json_t *entry;
        if (!mixer) {
            registry_warnings_add(rc->warnings, "%s: context '%s': unknown mixin '%s' ignored",
                                  doc_where_item(rc->d, mix, i, where, sizeof(where)), name, mname);
            continue;
        }
        mapps = json_object_get(mixer, "apps");
        if (!json_is_object(mapps))
            continue;
        json_object_foreach(rc->apps, id, entry)
        {
            const json_t *m = json_object_get(mapps, id);
            if (m)
                merge_into(entry, m);
        }
    }
}

/* "file:line:col" of the entry that app id came from. */
static const char *origin_where(struct rctx *rc, const char *id, char *buf, size_t n)
{
    const char *cname = json_string_value(json_object_get(rc->origin, id));
    const json_t *ctx = json_object_get(rc->reg->contexts, cname ? cname : "");
    const json_t *apps = json_object_get(ctx, "apps");
    struct doc_pos pos;
    if (apps && doc_key_pos(rc->d, apps, id, &pos)) {
        snprintf(buf, n, "%s:%d:%d", doc_name(rc->d), pos.line, pos.col);
        return buf;
    }
    return doc_where(rc->d, apps, id, buf, n);
}

static void
set_substituted(json_t *entry, const char *key, const char *value, const json_t *repo_urls)
{
    char *s = registry_template_substitute(value, repo_urls);
    json_object_set_new(entry, key, json_string(s));
    free(s);
}

static int compile_urls(struct rctx *rc, const json_t *repo_urls, struct ty_error *err)
{
    char *first = NULL;
    const char *id;
    json_t *entry;
    char where[512];
    int code = 0;
    {
        void *it = json_object_iter((json_t *)repo_urls);
        const char *url = it ? json_string_value(json_object_iter_value(it)) : NULL;
        /* Tycho rewrites the repository URL of default specs only (after
         * joining it to the registry's base, before appending the app's
         * path), so explicit specs and the $repo map keep "master". */
        if (url && rc->reg->spec_branch)
            first = registry_spec_branch_apply(url, rc->reg->spec_branch);
        else if (url)
            first = ty_xstrdup(url);
    }
    json_object_foreach(rc->apps, id, entry)
    {
        const json_t *spec = json_object_get(entry, "spec");
        const json_t *docs = json_object_get(entry, "docs");
        char *spec_s, *dir, *icon;
        if (spec && !json_is_string(spec)) {
            code = ty_error_set(err, TY_EINVAL, "%s: app '%s': spec must be a string, not %s",
                                origin_where(rc, id, where, sizeof(where)), id, type_name(spec));
            break;
        }
        if (docs && !json_is_string(docs)) {
            code = ty_error_set(err, TY_EINVAL, "%s: app '%s': docs must be a string, not %s",
                                origin_where(rc, id, where, sizeof(where)), id, type_name(docs));
            break;
        }
        if (spec) {
            spec_s = ty_xstrdup(json_string_value(spec));
        } else if (first) {
            spec_s = ty_xasprintf("%s/%s/docker-compose.yaml", first, id);
        } else {
            code = ty_error_set(err, TY_EINVAL,
                                "%s: app '%s' has no spec and the registry "
                                "has no repositories",
                                origin_where(rc, id, where, sizeof(where)), id);
            break;
        }
        dir = registry_dirname(spec_s);
        icon = ty_xasprintf("%s/icon.png", dir);
        set_substituted(entry, "spec", spec_s, repo_urls);
        set_substituted(entry, "icon", icon, repo_urls);
        if (docs)
            set_substituted(entry, "docs", json_string_value(docs), repo_urls);
        else
            registry_warnings_add(rc->warnings, "%s: context '%s': app '%s' has no docs",
                                  origin_where(rc, id, where, sizeof(where)),
                                  json_string_value(json_object_get(rc->origin, id)), id);
        free(spec_s);
        free(dir);
        free(icon);
    }
    free(first);
    return code;
}

static int apply_overrides(struct rctx *rc, const json_t *ctx, struct ty_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)ctx, key, val)
    {
        json_t *entry;
        const char *k2;
        json_t *v2;
        if (is_reserved(key) || !(entry = json_object_get(rc->apps, key)))
            continue;
        if (!json_is_object(val))
            return doc_error(err, TY_EINVAL, rc->d, ctx, key,
                             "override of app '%s' must be a mapping, not %s", key, type_name(val));
        json_object_foreach(val, k2, v2)
        {
            json_object_set_new(entry, k2, json_deep_copy(v2));
        }
    }
    return 0;
}

int registry_resolve_with(json_t **out,
                          const struct registry *reg,
                          const char *context,
                          const json_t *repo_urls,
                          struct registry_warnings *warnings,
                          struct ty_error *err)
{
    struct rctx rc = {0};
    const json_t *ctx = json_object_get(reg->contexts, context);
    json_t *entry;
    const char *id;
    int code;

    *out = NULL;
    if (!ctx)
        return ty_error_set(err, TY_ENOTFOUND, "%s: no context '%s'", reg->registry_name, context);
    rc.reg = reg;
    rc.d = reg->priv->reg_doc;
    rc.apps = json_object();
    rc.origin = json_object();
    rc.stack = ty_xcalloc(json_object_size(reg->contexts) + 1, sizeof(*rc.stack));
    rc.warnings = warnings;

    if ((code = inherit(&rc, context, ctx, err)) < 0)
        goto out;
    json_object_foreach(rc.apps, id, entry)
    {
        /* Replacing the value of an existing key keeps its place in the order. */
        json_t *copy = json_deep_copy(entry);
        merge_into(copy, reg->defaults);
        json_object_set_new(rc.apps, id, copy);
    }
    apply_mixins(&rc, context, ctx);
    if ((code = compile_urls(&rc, repo_urls, err)) < 0)
        goto out;
    if ((code = apply_overrides(&rc, ctx, err)) < 0)
        goto out;
    *out = rc.apps;
    rc.apps = NULL;
out:
    json_decref(rc.apps);
    json_decref(rc.origin);
    free(rc.stack);
    return code;
}
