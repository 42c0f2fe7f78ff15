/*
 * kubesim_watch.c - watch streams: synthetic ADDED events for a watch without
 * a resourceVersion, replay from the history of recent writes, objects that
 * start or stop matching the selectors as ADDED/DELETED, bookmarks, 410
 * Expired for versions older than the history, and one-row Tables for
 * `kubectl get -w`.
 */
#include "kubesim/kubesim_int.h"
#include "util/str.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- watch ---- */

/* kubectl get -w asks for Tables: each event then carries a one-row Table. */
static void
watch_event(struct ty_buf *out, const char *type, enum ks_res r, bool table, const json_t *obj);

static void watch_line(struct ty_buf *out, const char *type, const json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    ty_buf_printf(out, "{\"type\":\"%s\",\"object\":%s}\n", type, text);
    free(text);
}

static void watch_gone(struct ty_buf *out)
{
    json_t *st = ks_status_json(410, "Expired", NULL, KS_PODS,
                                "The resourceVersion for the provided watch is too old.");
    watch_line(out, "ERROR", st);
    json_decref(st);
}

static void
watch_event(struct ty_buf *out, const char *type, enum ks_res r, bool table, const json_t *obj)
{
    if (!table) {
        watch_line(out, type, obj);
        return;
    }
    json_t *items = json_pack("[O]", obj);
    json_t *t = ks_table(r, items, ks_str(obj, "metadata.resourceVersion"), false);
    watch_line(out, type, t);
    json_decref(t);
    json_decref(items);
}

static bool event_in_scope(const struct ks_route *rt, const struct ks_event *e)
{
    if (e->res != rt->res)
        return false;
    if (rt->ns[0]) {
        const char *ns = ks_str(e->obj, "metadata.namespace");
        if (!ns || strcmp(ns, rt->ns) != 0)
            return false;
    }
    return true;
}

/* One watch stream. */
struct watch {
    struct ks_route rt;
    struct ks_filters f;
    bool table, bookmarks, done;
    long next; /* the next resourceVersion to look at in the history */
    struct ty_buf out;
};

/* Parses the request again (ks_api_handle checked it); false when it is bad. */
static bool watch_open(struct watch *w, const struct ks_request *rq)
{
    struct ks_response dummy = {0};
    ty_buf_init(&dummy.body);
    memset(w, 0, sizeof *w);
    ty_buf_init(&w->out);
    bool ok = ks_route_parse(rq->path, &w->rt) && ks_filters_parse(&w->f, w->rt.res, rq, &dummy);
    ty_buf_cleanup(&dummy.body);
    if (!ok)
        return false;
    if (w->rt.name[0]) {
        /* old-style /watch/namespaces/ns/pods/name: watch one object */
        struct ks_selector *byname = NULL;
        char fs[300];
        snprintf(fs, sizeof fs, "metadata.name=%s", w->rt.name);
        if (ks_field_selector_parse(&byname, w->rt.res, fs, NULL) == 0) {
            ks_selector_free(w->f.fields);
            w->f.fields = byname;
        }
    }
    w->bookmarks = ks_query_bool(&rq->q, "allowWatchBookmarks");
    w->table = ks_wants_table(rq);
    return true;
}

/* Where the stream starts (with s->mu held): a 410 for a version older than
 * the history, synthetic ADDED events for a watch without a version (or
 * "0"), else the history after the version asked for. */
static void watch_begin(struct kubesim *s, struct watch *w, const char *rvs)
{
    if (s->faults.gone_next_watch) {
        s->faults.gone_next_watch = false;
        watch_gone(&w->out);
        w->done = true;
    } else if (!rvs || !*rvs || !strcmp(rvs, "0")) {
        json_t *all = ks_list(s, w->rt.res, w->rt.ns[0] ? w->rt.ns : NULL);
        size_t i;
        json_t *v;
        json_array_foreach(all, i, v)
        {
            if (ks_filters_match(&w->f, v))
                watch_event(&w->out, "ADDED", w->rt.res, w->table, v);
        }
        json_decref(all);
        w->next = s->rv + 1;
    } else {
        long want = atol(rvs);
        if (want + 1 < s->hist_oldest) {
            watch_gone(&w->out);
            w->done = true;
        }
        w->next = want >= s->rv ? s->rv + 1 : want + 1;
    }
}

/* The history from w->next on, as events of this watch (with s->mu held).
 * Objects that start or stop matching the selectors arrive as ADDED and
 * DELETED. */
static void watch_replay(struct kubesim *s, struct watch *w)
{
    while (w->next <= s->rv) {
        if (w->next < s->hist_oldest) {
            watch_gone(&w->out);
            w->done = true;
            return;
        }
        const struct ks_event *e = &s->hist[w->next % KS_HISTORY];
        w->next++;
        if (!event_in_scope(&w->rt, e))
            continue;
        bool mn = ks_filters_match(&w->f, e->obj);
        bool mo = e->old && ks_filters_match(&w->f, e->old);
        const char *type = NULL;
        if (e->type == KS_ADDED && mn)
            type = "ADDED";
        else if (e->type == KS_MODIFIED && mn)
            type = mo ? "MODIFIED" : "ADDED";
        else if (e->type == KS_MODIFIED && mo)
            type = "DELETED";
        else if (e->type == KS_DELETED && (mo || mn))
            type = "DELETED";
        if (type)
            watch_event(&w->out, type, w->rt.res, w->table, e->obj);
    }
}

static void watch_bookmark(struct watch *w)
{
    char rvb[32];
    snprintf(rvb, sizeof rvb, "%ld", w->next - 1);
    json_t *b =
        json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "kind", ks_resources[w->rt.res].kind, "apiVersion",
                  ks_res_api_version(w->rt.res), "metadata", "resourceVersion", rvb, "annotations",
                  "k8s.io/initial-events-end", "true");
    watch_line(&w->out, "BOOKMARK", b);
    json_decref(b);
}

void ks_api_watch(struct kubesim *s, const struct ks_request *rq, ks_write_fn write, void *payload)
{
    struct watch w;
    if (!watch_open(&w, rq))
        goto out;
    const char *ts = ks_query_get(&rq->q, "timeoutSeconds");
    int64_t now = ty_time_mono_ms();
    int64_t deadline = now + (ts && atol(ts) > 0 ? atol(ts) * 1000L : 1800L * 1000L);
    int64_t next_bookmark = now + 1000;

    pthread_mutex_lock(&s->mu);
    watch_begin(s, &w, ks_query_get(&rq->q, "resourceVersion"));
    while (true) {
        if (!w.done)
            watch_replay(s, &w);
        now = ty_time_mono_ms();
        if (!w.done && w.bookmarks && now >= next_bookmark) {
            watch_bookmark(&w);
            next_bookmark = now + 1000;
        }
        if (w.out.len > 0) {
            pthread_mutex_unlock(&s->mu);
            int wr = write(payload, w.out.data, w.out.len);
            ty_buf_reset(&w.out);
            pthread_mutex_lock(&s->mu);
            if (wr < 0)
                break;
            continue;
        }
        if (w.done || s->stopping || now >= deadline)
            break;
        int64_t until = deadline;
        if (w.bookmarks && next_bookmark < until)
            until = next_bookmark;
        if (until > now + 1000)
            until = now + 1000;
        struct timespec tsp = ty_time_deadline(CLOCK_REALTIME, until - now);
        pthread_cond_timedwait(&s->cond, &s->mu, &tsp);
    }
    pthread_mutex_unlock(&s->mu);
    ks_filters_free(&w.f);
out:
    ty_buf_cleanup(&w.out);
}
