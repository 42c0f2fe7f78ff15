/*
 * registry_holder.c - the live registry of a long-running server.
 *
 * Readers take a reference to the current struct registry under a short
 * mutex and then read it without any lock; a refresh loads the successor
 * outside that mutex (loading may fetch over the network) and swaps the
 * pointer in only when the successor loaded whole.  The reference a reader
 * holds keeps the old registry alive until it is done, so a swap never
 * pulls data from under a request.  A second mutex serialises refreshes, so
 * an interval refresh and an on-demand reload never race each other.
 */
#include "registry/registry_int.h"

#include "fetch/fetch.h"
#include "util/mem.h"
#include "util/time.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct registry_holder {
    pthread_mutex_t lock;         /* guards live and the status fields below */
    pthread_mutex_t refresh_lock; /* one refresh at a time */
    struct registry_source src;
    char *base_url;
    char *cache_dir;
    char *spec_branch;
    struct registry *live;
    int64_t last_refresh_ms;    /* 0: never refreshed */
    struct ty_error last_error; /* code TY_OK: the last refresh worked */
    /* Git: replaced registries whose checkout a reader may still be using;
     * guarded by refresh_lock.  Each holds one reference of ours. */
    struct registry **retired;
    size_t nretired;
};

/* Drops the retired registries nobody else holds any more, then prunes the
 * checkouts of the source other than the live one and (when exactly one
 * remains in use) that one.  With several still in use, pruning waits. */
static void
retire_and_prune(struct registry_holder *h, struct registry *old, const char *live_commit)
{
    const char *keep = NULL;
    size_t k = 0;
    bool can_prune = true;
    if (old) {
        h->retired = ty_xrealloc(h->retired, (h->nretired + 1) * sizeof(*h->retired));
        h->retired[h->nretired++] = old;
    }
    for (size_t i = 0; i < h->nretired; i++) {
        struct registry *r = h->retired[i];
        /* refs == 1: only our reference is left, and nobody can take a new
         * one (holder_get hands out the live registry only). */
        if (atomic_load(&r->priv->refs) == 1) {
            registry_put(r);
            continue;
        }
        h->retired[k++] = r;
        if (!strcmp(r->commit, live_commit))
            continue;
        if (keep && strcmp(keep, r->commit))
            can_prune = false;
        keep = r->commit;
    }
    h->nretired = k;
    if (can_prune)
        (void)fetch_git_prune(h->cache_dir, h->src.location, keep, NULL);
}

static void opts_of(const struct registry_holder *h, struct registry_load_opts *o)
{
    o->base_url = h->base_url;
    o->cache_dir = h->cache_dir;
    o->spec_branch = h->spec_branch;
}

int registry_holder_new(struct registry_holder **out,
                        const struct registry_source *src,
                        const struct registry_load_opts *opts,
                        struct ty_error *err)
{
    struct registry_holder *h = ty_xcalloc(1, sizeof(*h));
    struct registry_load_opts o;
    int rc;
    *out = NULL;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->refresh_lock, NULL);
    h->src.kind = src->kind;
    h->src.text = src->text ? ty_xstrdup(src->text) : NULL;
    h->src.location = src->location ? ty_xstrdup(src->location) : NULL;
    h->src.ref = src->ref ? ty_xstrdup(src->ref) : NULL;
    h->src.subdir = src->subdir ? ty_xstrdup(src->subdir) : NULL;
    h->base_url = opts && opts->base_url ? ty_xstrdup(opts->base_url) : NULL;
    h->cache_dir =
        opts && opts->cache_dir ? ty_xstrdup(opts->cache_dir) : registry_cache_dir_default();
    h->spec_branch = opts && opts->spec_branch ? ty_xstrdup(opts->spec_branch) : NULL;
    ty_error_clear(&h->last_error);
    opts_of(h, &o);
    rc = registry_load(&h->live, &h->src, &o, err);
    if (rc < 0) {
        registry_holder_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void registry_holder_free(struct registry_holder *h)
{
    if (!h)
        return;
    registry_put(h->live);
    for (size_t i = 0; i < h->nretired; i++)
        registry_put(h->retired[i]);
    free(h->retired);
    registry_source_cleanup(&h->src);
    free(h->base_url);
    free(h->cache_dir);
    free(h->spec_branch);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->refresh_lock);
    free(h);
}

struct registry *registry_holder_get(struct registry_holder *h)
{
    struct registry *reg;
    pthread_mutex_lock(&h->lock);
    reg = registry_ref(h->live);
    pthread_mutex_unlock(&h->lock);
    return reg;
}

int registry_holder_refresh(struct registry_holder *h, bool *changed_out, struct ty_error *err)
{
    struct registry_load_opts o;
    struct registry *next = NULL, *old = NULL;
    struct ty_error e = TY_ERROR_INIT;
    bool changed = false;
    int rc;

    if (changed_out)
        *changed_out = false;
    pthread_mutex_lock(&h->refresh_lock);
    opts_of(h, &o);
    rc = registry_load_ex(&next, &h->src, &o, false, &e);

    pthread_mutex_lock(&h->lock);
    h->last_refresh_ms = ty_time_now_ms();
    if (rc < 0) {
        h->last_error = e;
    } else {
        ty_error_clear(&h->last_error);
        old = h->live;
        changed = strcmp(old->commit, next->commit) != 0 ||
                  strcmp(old->priv->digest, next->priv->digest) != 0;
        h->live = next;
        next = NULL;
    }
    pthread_mutex_unlock(&h->lock);

    /* Old checkouts go once no reader uses them any more. */
    if (h->src.kind == REGISTRY_SOURCE_GIT && rc == 0) {
        char live_commit[41];
        memcpy(live_commit, h->live->commit, sizeof(live_commit)); /* stable: we refresh */
        retire_and_prune(h, changed ? old : NULL, live_commit);
        if (!changed)
            registry_put(old);
    } else {
        registry_put(old);
    }
    pthread_mutex_unlock(&h->refresh_lock);
    if (rc < 0 && err)
        *err = e;
    if (changed_out)
        *changed_out = changed;
    return rc;
}

json_t *registry_holder_status(struct registry_holder *h)
{
    struct registry *reg;
    json_t *out = json_object(), *warnings = json_array();
    char iso[40];
    pthread_mutex_lock(&h->lock);
    reg = registry_ref(h->live);
    json_object_set_new(out, "last_refresh_at",
                        h->last_refresh_ms ? json_string(ty_time_format_iso(iso, sizeof(iso),
                                                                            h->last_refresh_ms, 0))
                                           : json_null());
    json_object_set_new(out, "last_error",
                        h->last_error.code ? json_string(h->last_error.msg) : json_null());
    pthread_mutex_unlock(&h->lock);

    static const char *const kinds[] = {"dir", "file", "http", "git"};
    json_object_set_new(out, "source", json_string(h->src.text ? h->src.text : ""));
    json_object_set_new(out, "kind", json_string(kinds[h->src.kind]));
    json_object_set_new(out, "commit", reg->commit[0] ? json_string(reg->commit) : json_null());
    json_object_set_new(out, "loaded_at",
                        json_string(ty_time_format_iso(iso, sizeof(iso), reg->loaded_at_ms, 0)));
    for (size_t i = 0; i < reg->warnings.len; i++)
        json_array_append_new(warnings, json_string(reg->warnings.items[i]));
    json_object_set_new(out, "warnings", warnings);
    json_object_set_new(out, "contexts", registry_context_names(reg));
    json_object_set_new(out, "spec_branch",
                        reg->spec_branch ? json_string(reg->spec_branch) : json_null());
    registry_put(reg);
    return out;
}
