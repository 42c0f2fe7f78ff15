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
 *
 * A server refreshes on a schedule with registry_holder_start(): one thread
 * sleeping on a condition variable between refreshes, so a stop wakes it at
 * once.  Nothing here logs; the thread hands each outcome to the caller's
 * callback, which does (and which drops what it derived from the old
 * version).
 */
#include "registry/registry_int.h"

#include "fetch/fetch.h"
#include "util/mem.h"
#include "util/time.h"

#include <errno.h>
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
    /* Guarded by lock. */
    struct registry_holder_stats stats;
    /* The refresh thread; guarded by lock, which cv waits on. */
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stopping;
    registry_refresh_cb cb;
    void *cb_payload;
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
    pthread_cond_init(&h->cv, NULL);
    h->stats.last_ok = true;
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
    registry_holder_stop(h);
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
    pthread_cond_destroy(&h->cv);
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
    h->stats.refreshes++;
    h->stats.last_refresh_ms = h->last_refresh_ms;
    h->stats.last_ok = rc == 0;
    if (rc < 0) {
        h->last_error = e;
        h->stats.failures++;
    } else {
        ty_error_clear(&h->last_error);
        old = h->live;
        changed = strcmp(old->commit, next->commit) != 0 ||
                  strcmp(old->priv->digest, next->priv->digest) != 0;
        h->live = next;
        next = NULL;
        if (changed) {
            h->stats.changes++;
            h->stats.last_change_ms = h->last_refresh_ms;
        }
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

/* The live commit, copied (the registry may be replaced right after). */
static void live_commit(struct registry_holder *h, char out[41])
{
    struct registry *reg = registry_holder_get(h);
    memcpy(out, reg->commit, 41);
    registry_put(reg);
}

static void *refresh_main(void *arg)
{
    struct registry_holder *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        struct timespec until = ty_time_deadline(CLOCK_REALTIME, h->stats.interval_ms);
        while (!h->stopping && pthread_cond_timedwait(&h->cv, &h->lock, &until) != ETIMEDOUT)
            ;
        if (h->stopping)
            break;
        pthread_mutex_unlock(&h->lock);

        struct ty_error e = TY_ERROR_INIT;
        struct registry_refresh_note note;
        char before[41], after[41];
        bool changed = false;
        live_commit(h, before);
        int rc = registry_holder_refresh(h, &changed, &e);
        live_commit(h, after);
        note.changed = changed;
        note.old_commit = before;
        note.new_commit = after;
        note.err = rc < 0 ? &e : NULL;
        if (h->cb)
            h->cb(&note, h->cb_payload);

        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int registry_holder_start(struct registry_holder *h,
                          int64_t interval_ms,
                          registry_refresh_cb cb,
                          void *payload,
                          struct ty_error *err)
{
    int rc = 0;
    if (interval_ms < 1)
        return ty_error_set(err, TY_EINVAL, "registry refresh: the interval must be positive");
    pthread_mutex_lock(&h->lock);
    if (h->running) {
        rc = ty_error_set(err, TY_ECONFLICT, "registry refresh: already running");
        goto out;
    }
    h->stats.interval_ms = interval_ms;
    h->cb = cb;
    h->cb_payload = payload;
    h->stopping = false;
    if (pthread_create(&h->thread, NULL, refresh_main, h) != 0) {
        h->stats.interval_ms = 0;
        rc = ty_error_set(err, TY_ERR, "registry refresh: cannot start its thread");
        goto out;
    }
    h->running = true;
out:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void registry_holder_stop(struct registry_holder *h)
{
    bool join;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    join = h->running;
    h->stopping = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->lock);
    if (join)
        pthread_join(h->thread, NULL);
    pthread_mutex_lock(&h->lock);
    h->running = false;
    h->stats.interval_ms = 0;
    pthread_mutex_unlock(&h->lock);
}

void registry_holder_stats_get(struct registry_holder *h, struct registry_holder_stats *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->stats;
    pthread_mutex_unlock(&h->lock);
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
    json_object_set_new(out, "refresh_interval_seconds",
                        h->stats.interval_ms ? json_real((double)h->stats.interval_ms / 1000.0)
                                             : json_null());
    json_object_set_new(out, "last_changed_at",
                        h->stats.last_change_ms ? json_string(ty_time_format_iso(
                                                      iso, sizeof(iso), h->stats.last_change_ms, 0))
                                                : json_null());
    json_object_set_new(out, "refreshes", json_integer(h->stats.refreshes));
    json_object_set_new(out, "refresh_failures", json_integer(h->stats.failures));
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
