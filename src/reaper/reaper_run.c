/*
 * reaper_run.c - the culling scheduler (see reaper.h).
 *
 * A pass: list the live sessions through the session service, sample CPU once
 * for the whole namespace from the metrics API, decide for each session with
 * the pure policy, record warnings, and stop the sessions that are due with at
 * most `concurrency` stops in flight.  Just before a stop the session is read
 * and decided again, so a heartbeat or the user's own stop that arrived during
 * the pass wins; session_stop itself is idempotent, so a race that slips
 * through ends in one stop, not two.
 *
 * What the culler must remember is in the store, written through the session
 * service: the latest busy CPU sample (every busy session of a pass in one
 * transaction, session_cpu_active) and the time a warning was issued
 * (session_cull_warned, with a "cull-warning" event), so a restarted server
 * neither forgets CPU activity nor warns twice, and culls at the time it
 * announced.  Only this process's observations of the current metrics (does
 * the cluster serve CPU for the session, its last usage) stay in memory.
 */
#include "fetch/fetch.h"
#include "kube/kube.h"
#include "reaper/reaper.h"
#include "registry/registry.h"
#include "session/session.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reaper {
    struct session_service *svc;
    struct kube_client *kube;
    char *ns;
    struct registry_holder *registry;
    char *context;
    const struct reaper_policy *policy;
    const struct ty_clock *clock;
    void (*before_cull)(const char *session_id, void *payload);
    void *before_cull_payload;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *seen;     /* id -> {"has_cpu": bool, "cpu_mc": n}: metrics observed, in memory */
    bool notify_down; /* the notify_url failed in this pass: the rest of it is dropped */
    struct reaper_stats stats;

    pthread_t thread;
    bool running, stopping;
};

int reaper_new(struct reaper **out, const struct reaper_config *cfg, struct ty_error *err)
{
    struct reaper *r;

    *out = NULL;
    if (!cfg || !cfg->svc || !cfg->policy)
        return ty_error_set(err, TY_EINVAL, "reaper: a session service and a policy are required");
    r = ty_xcalloc(1, sizeof(*r));
    r->svc = cfg->svc;
    r->kube = cfg->kube;
    r->ns = cfg->namespace_name ? ty_xstrdup(cfg->namespace_name) : NULL;
    r->registry = cfg->registry;
    r->context = cfg->context ? ty_xstrdup(cfg->context) : NULL;
    r->policy = cfg->policy;
    r->clock = cfg->clock ? cfg->clock : ty_clock_system();
    r->before_cull = cfg->before_cull;
    r->before_cull_payload = cfg->before_cull_payload;
    r->seen = json_object();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    *out = r;
    return 0;
}

void reaper_free(struct reaper *r)
{
    if (!r)
        return;
    reaper_stop(r);
    json_decref(r->seen);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->ns);
    free(r->context);
    free(r);
}

/* ---- what we remember per session ------------------------------------------ */

static json_t *seen_entry(struct reaper *r, const char *id)
{
    json_t *e = json_object_get(r->seen, id);
    if (!e) {
        e = json_object();
        json_object_set_new(r->seen, id, e);
    }
    return e;
}

static void count_error(struct reaper *r)
{
    pthread_mutex_lock(&r->mu);
    r->stats.errors++;
    pthread_mutex_unlock(&r->mu);
}

/* POSTs the report row of a warning or a cull, with "event" ("warned" or
 * "culled") and "at", to the policy's notify_url: how a platform tells the
 * owner (mail, chat).  Best effort, never retried: after one failure the
 * rest of the pass's notifications are dropped and counted, so a dead
 * endpoint costs one timeout per pass, not one per session. */
static void notify(struct reaper *r, const char *event, const json_t *row, int64_t at)
{
    struct ty_error err = TY_ERROR_INIT;
    char when[40];
    bool down;
    if (!r->policy->notify_url)
        return;
    pthread_mutex_lock(&r->mu);
    down = r->notify_down;
    if (down)
        r->stats.notify_failures++;
    pthread_mutex_unlock(&r->mu);
    if (down)
        return;
    json_t *body = json_deep_copy(row);
    json_object_del(body, "done");
    json_object_set_new(body, "event", json_string(event));
    json_object_set_new(body, "at", json_string(ty_time_format_iso(when, sizeof(when), at, 0)));
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = fetch_http_post_json(r->policy->notify_url, text, 5000, &err);
    free(text);
    json_decref(body);
    pthread_mutex_lock(&r->mu);
    if (rc == 0) {
        r->stats.notified++;
    } else {
        r->stats.notify_failures++;
        r->notify_down = true;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc != 0)
        ty_warn("reaper", "notify: %s (the rest of this pass is not notified)", err.msg);
}

/* Samples CPU for every tycho pod in the namespace with one metrics call and
 * records in the store, for every session whose sample is at or above the
 * threshold that applies to it, cpu_active_at = now - all of them in one
 * transaction.  *busy_out (a new object, or NULL when nothing was sampled)
 * receives the ids of those sessions, so the pass can use the sample even if
 * the write failed.  A cluster without the metrics API is fine: sessions then
 * have no CPU source. */
static void sample_cpu(struct reaper *r, int64_t now, json_t *thresholds, json_t **busy_out)
{
    struct store_cpu_active *busy = NULL;
    size_t n_busy = 0;
    json_t *list = NULL, *item;
    struct ty_error err = TY_ERROR_INIT;
    json_t *per_session;
    size_t i;
    const char *id;
    json_t *v;

    *busy_out = NULL;
    if (!r->kube)
        return;
    if (kube_pod_metrics(&list, r->kube, r->ns, "executor=tycho", &err)) {
        if (err.code != TY_ENOTFOUND) {
            ty_warn("reaper", "CPU metrics unavailable: %s", err.msg);
            count_error(r);
        }
        return;
    }
    *busy_out = json_object();
    per_session = json_object();
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        json_t *labels = json_object_get(json_object_get(item, "metadata"), "labels");
        const char *guid = json_string_value(json_object_get(labels, "tycho-guid"));
        json_t *c;
        size_t k;
        int64_t total = json_integer_value(json_object_get(per_session, guid ? guid : ""));
        if (!guid)
            continue;
        json_array_foreach(json_object_get(item, "containers"), k, c)
        {
            int64_t mc;
            const char *cpu =
                json_string_value(json_object_get(json_object_get(c, "usage"), "cpu"));
            if (cpu && reaper_cpu_parse(cpu, &mc) == 0)
                total += mc;
        }
        json_object_set_new(per_session, guid, json_integer(total));
    }
    json_object_foreach(per_session, id, v)
    {
        int64_t mc = json_integer_value(v);
        json_t *t = json_object_get(thresholds, id);
        if (!t)
            continue; /* not a live session of this pass */
        pthread_mutex_lock(&r->mu);
        json_t *e = seen_entry(r, id);
        json_object_set_new(e, "has_cpu", json_true());
        json_object_set_new(e, "cpu_mc", json_integer(mc));
        pthread_mutex_unlock(&r->mu);
        if (mc >= json_integer_value(t))
            json_object_set_new(*busy_out, id, json_true());
    }
    busy = ty_xcalloc(json_object_size(*busy_out) + 1, sizeof(*busy));
    json_object_foreach(*busy_out, id, v)
    {
        busy[n_busy].id = id;
        busy[n_busy].at = now;
        n_busy++;
    }
    if (session_cpu_active(r->svc, busy, n_busy, NULL, &err) != 0) {
        ty_warn("reaper", "recording CPU activity of %zu sessions: %s", n_busy, err.msg);
        count_error(r);
    }
    free(busy);
    json_decref(per_session);
    json_decref(list);
}

/* ---- deciding for one stored session ---------------------------------------- */

static json_t *labels_json(const struct store_session *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->n_labels; i++)
        json_object_set_new(o, s->labels[i].key, json_string(s->labels[i].value));
    return o;
}

/* Fills f from s; *labels_out and *app_out hold references the caller drops. */
static void facts_for(struct reaper *r,
                      const struct store_session *s,
                      struct reaper_facts *f,
                      json_t **labels_out,
                      json_t **app_out)
{
    json_t *e;

    memset(f, 0, sizeof(*f));
    f->id = s->id;
    f->username = s->username;
    f->app_id = s->app_id;
    f->context = s->context ? s->context : r->context;
    f->state = store_state_name(s->state);
    f->created_at = s->created_at;
    f->state_since = s->updated_at;
    f->last_heartbeat_at = s->last_activity_at;
    *labels_out = labels_json(s);
    f->labels = *labels_out;
    *app_out = NULL;
    if (r->registry && s->app_id) {
        struct registry *reg = registry_holder_get(r->registry);
        const json_t *apps = NULL;
        if (registry_apps_get(&apps, reg, f->context, NULL) == 0) {
            const json_t *app = registry_app_find(apps, s->app_id);
            json_t *c = app ? json_object_get(app, "culling") : NULL;
            if (c)
                *app_out = json_deep_copy(c);
        }
        registry_put(reg);
    }
    f->app_culling = *app_out;
    /* Stored (survive a restart): the last busy CPU sample and the warning.  A
     * stored busy sample is proof that the cluster served metrics for the
     * session, even before this process has sampled it. */
    f->last_cpu_active_at = s->cpu_active_at;
    f->warned_at = s->cull_warned_at;
    f->has_cpu_metrics = s->cpu_active_at > 0;
    pthread_mutex_lock(&r->mu);
    e = json_object_get(r->seen, s->id);
    if (e && json_is_true(json_object_get(e, "has_cpu")))
        f->has_cpu_metrics = true;
    pthread_mutex_unlock(&r->mu);
}

static void decide_stored(struct reaper *r,
                          const struct store_session *s,
                          struct reaper_decision *d,
                          json_t **explain_out)
{
    struct reaper_facts f;
    json_t *labels, *app;

    facts_for(r, s, &f, &labels, &app);
    reaper_decide(d, r->policy, &f, ty_clock_now(r->clock));
    if (explain_out)
        *explain_out = reaper_decision_to_json(d, &f, r->policy);
    json_decref(labels);
    json_decref(app);
}

int reaper_explain(json_t **out, struct reaper *r, const char *session_id, struct ty_error *err)
{
    struct store_session s;
    struct reaper_decision d;
    int rc;

    *out = NULL;
    rc = session_get(&s, r->svc, session_id, err);
    if (rc)
        return rc;
    decide_stored(r, &s, &d, out);
    store_session_cleanup(&s);
    return 0;
}

/* ---- a pass ------------------------------------------------------------------ */

struct cull_job {
    char *id;
    const char *reason;
    json_t *report; /* the report row to complete */
};

struct cull_queue {
    struct reaper *r;
    struct cull_job *jobs;
    size_t n, next;
    pthread_mutex_t mu;
};

static void run_cull(struct reaper *r, struct cull_job *job)
{
    struct store_session s;
    struct reaper_decision d;
    struct ty_error err = TY_ERROR_INIT;
    char msg[160];

    if (r->before_cull)
        r->before_cull(job->id, r->before_cull_payload);
    /* Re-read and decide again: a heartbeat or a stop may have come in. */
    if (session_get(&s, r->svc, job->id, &err) != 0) {
        json_object_set_new(job->report, "done", json_false());
        json_object_set_new(job->report, "error", json_string(err.msg));
        return;
    }
    decide_stored(r, &s, &d, NULL);
    store_session_cleanup(&s);
    if (d.action != REAPER_CULL) {
        pthread_mutex_lock(&r->mu);
        r->stats.skipped++;
        pthread_mutex_unlock(&r->mu);
        json_object_set_new(job->report, "done", json_false());
        json_object_set_new(job->report, "skipped", json_string(d.explanation));
        return;
    }
    snprintf(msg, sizeof(msg), "%s", job->reason);
    if (session_stop(r->svc, job->id, "culler", msg, &err) != 0) {
        ty_warn("reaper", "cull %s (%s): %s", job->id, job->reason, err.msg);
        pthread_mutex_lock(&r->mu);
        r->stats.errors++;
        pthread_mutex_unlock(&r->mu);
        json_object_set_new(job->report, "done", json_false());
        json_object_set_new(job->report, "error", json_string(err.msg));
        return;
    }
    ty_info("reaper", "culled %s (%s)", job->id, job->reason);
    pthread_mutex_lock(&r->mu);
    r->stats.culled++;
    json_object_del(r->seen, job->id);
    pthread_mutex_unlock(&r->mu);
    json_object_set_new(job->report, "done", json_true());
    notify(r, "culled", job->report, ty_clock_now(r->clock));
}

static void *cull_worker(void *arg)
{
    struct cull_queue *q = arg;
    for (;;) {
        struct cull_job *job = NULL;
        pthread_mutex_lock(&q->mu);
        if (q->next < q->n)
            job = &q->jobs[q->next++];
        pthread_mutex_unlock(&q->mu);
        if (!job)
            return NULL;
        run_cull(q->r, job);
    }
}

static void run_culls(struct reaper *r, struct cull_job *jobs, size_t n)
{
    struct cull_queue q = {r, jobs, n, 0, PTHREAD_MUTEX_INITIALIZER};
    int workers = r->policy->concurrency > 0 ? r->policy->concurrency : 1;
    pthread_t *t;
    int started = 0;

    if (n == 0)
        return;
    if ((size_t)workers > n)
        workers = (int)n;
    if (workers == 1) {
        cull_worker(&q);
        return;
    }
    t = ty_xcalloc((size_t)workers, sizeof(*t));
    for (int i = 0; i < workers; i++)
        if (pthread_create(&t[i], NULL, cull_worker, &q) == 0)
            started++;
    if (started == 0)
        cull_worker(&q);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    pthread_mutex_destroy(&q.mu);
}

/* Collects every live session, page by page. */
static int
live_sessions(struct reaper *r, struct store_session **out, size_t *n_out, struct ty_error *err)
{
    struct store_query q;
    struct store_page page;
    char *cursor = NULL;
    size_t n = 0, cap = 0;
    struct store_session *all = NULL;
    int rc = 0;

    *out = NULL;
    *n_out = 0;
    for (;;) {
        memset(&q, 0, sizeof(q));
        q.states = STORE_STATES_LIVE;
        q.limit = STORE_LIST_MAX;
        q.cursor = cursor;
        q.with_labels = true;
        q.skip_total = true;
        rc = session_list(&page, r->svc, &q, err);
        free(cursor);
        cursor = NULL;
        if (rc)
            break;
        if (n + page.n > cap) {
            cap = (n + page.n) * 2;
            all = ty_xrealloc(all, cap * sizeof(*all));
        }
        /* Move the rows out of the page. */
        if (page.n)
            memcpy(all + n, page.items, page.n * sizeof(*all));
        n += page.n;
        for (size_t i = 0; i < page.n; i++)
            store_session_init(&page.items[i]);
        cursor = page.next_cursor ? ty_xstrdup(page.next_cursor) : NULL;
        store_page_cleanup(&page);
        if (!cursor)
            break;
    }
    if (rc) {
        store_sessions_free(all, n);
        return rc;
    }
    *out = all;
    *n_out = n;
    return 0;
}

/* Drops what we remember of sessions that are no longer live, so the map
 * stays as large as the set of live sessions. */
static void forget_ended(struct reaper *r, const struct store_session *live, size_t n)
{
    json_t *keep = json_object();
    const char *id;
    json_t *v;
    void *tmp;

    for (size_t i = 0; i < n; i++)
        json_object_set_new(keep, live[i].id, json_true());
    pthread_mutex_lock(&r->mu);
    json_object_foreach_safe(r->seen, tmp, id, v)
    {
        if (!json_object_get(keep, id))
            json_object_del(r->seen, id);
    }
    pthread_mutex_unlock(&r->mu);
    json_decref(keep);
}

int reaper_pass(struct reaper *r, bool dry_run, json_t **report_out, struct ty_error *err)
{
    struct store_session *sessions = NULL;
    size_t n = 0, n_jobs = 0;
    struct cull_job *jobs = NULL;
    json_t *report = json_array();
    json_t *thresholds = json_object();
    json_t *busy = NULL;
    int64_t t0 = ty_time_mono_ms(), now;
    int rc;

    if (report_out)
        *report_out = NULL;
    dry_run = dry_run || r->policy->dry_run;
    pthread_mutex_lock(&r->mu);
    r->notify_down = false; /* each pass tries the notify_url again */
    pthread_mutex_unlock(&r->mu);
    rc = live_sessions(r, &sessions, &n, err);
    if (rc) {
        json_decref(report);
        json_decref(thresholds);
        return ty_error_wrap(err, "reaper: list sessions: ");
    }
    now = ty_clock_now(r->clock);
    /* The CPU threshold can differ per session; decide once without samples to
     * learn it, then sample. */
    for (size_t i = 0; i < n; i++) {
        struct reaper_decision d;
        decide_stored(r, &sessions[i], &d, NULL);
        json_object_set_new(thresholds, sessions[i].id, json_integer(d.limits.cpu_threshold_mc));
    }
    sample_cpu(r, now, thresholds, &busy);
    /* The rows were read before the sample: let this pass see it too. */
    for (size_t i = 0; busy && i < n; i++)
        if (json_object_get(busy, sessions[i].id) && sessions[i].cpu_active_at < now)
            sessions[i].cpu_active_at = now;
    json_decref(busy);

    jobs = ty_xcalloc(n + 1, sizeof(*jobs));
    for (size_t i = 0; i < n; i++) {
        struct reaper_decision d;
        json_t *row;
        char at[40];
        decide_stored(r, &sessions[i], &d, NULL);
        /* A dry run answers for every live session, kept ones too: "why is
         * this one not culled?" is the question an operator asks it. */
        if (d.action == REAPER_KEEP && !dry_run)
            continue;
        row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s?}", "session", sessions[i].id,
                        "username", sessions[i].username ? sessions[i].username : "", "app_id",
                        sessions[i].app_id ? sessions[i].app_id : "", "state",
                        store_state_name(sessions[i].state), "action",
                        d.action == REAPER_CULL   ? "cull"
                        : d.action == REAPER_WARN ? "warn"
                                                  : "keep",
                        "reason", d.reason, "explanation", d.explanation, "cull_at",
                        d.cull_at ? ty_time_format_iso(at, sizeof(at), d.cull_at, 0) : NULL);
        json_array_append_new(report, row);
        if (dry_run) {
            json_object_set_new(row, "done", json_false());
            continue;
        }
        if (d.action == REAPER_WARN) {
            struct ty_error werr = TY_ERROR_INIT;
            /* Stored with its event, so a restart neither warns again nor
             * forgets the announced cull time. */
            if (session_cull_warned(r->svc, sessions[i].id, now, d.explanation, &werr) != 0) {
                ty_warn("reaper", "warning %s: %s", sessions[i].id, werr.msg);
                count_error(r);
                json_object_set_new(row, "done", json_false());
                json_object_set_new(row, "error", json_string(werr.msg));
                continue;
            }
            ty_info("reaper", "warned %s: %s", sessions[i].id, d.explanation);
            pthread_mutex_lock(&r->mu);
            r->stats.warned++;
            pthread_mutex_unlock(&r->mu);
            json_object_set_new(row, "done", json_true());
            notify(r, "warned", row, now);
            continue;
        }
        jobs[n_jobs].id = ty_xstrdup(sessions[i].id);
        jobs[n_jobs].reason = d.reason;
        jobs[n_jobs].report = row;
        n_jobs++;
    }
    run_culls(r, jobs, n_jobs);
    forget_ended(r, sessions, n);
    for (size_t i = 0; i < n_jobs; i++)
        free(jobs[i].id);
    free(jobs);
    store_sessions_free(sessions, n);
    json_decref(thresholds);

    pthread_mutex_lock(&r->mu);
    r->stats.passes++;
    r->stats.last_pass_at = now;
    r->stats.last_pass_ms = ty_time_mono_ms() - t0;
    pthread_mutex_unlock(&r->mu);
    if (report_out)
        *report_out = report;
    else
        json_decref(report);
    return 0;
}

/* ---- the thread --------------------------------------------------------------- */

static void *reaper_main(void *arg)
{
    struct reaper *r = arg;

    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        struct timespec ts;
        int64_t wake = ty_time_now_ms() + r->policy->interval_ms;
        ts.tv_sec = (time_t)(wake / 1000);
        ts.tv_nsec = (long)(wake % 1000) * 1000000L;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->stopping)
            break;
        pthread_mutex_unlock(&r->mu);
        {
            struct ty_error err = TY_ERROR_INIT;
            if (reaper_pass(r, false, NULL, &err))
                ty_warn("reaper", "pass failed: %s", err.msg);
        }
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int reaper_start(struct reaper *r, struct ty_error *err)
{
    pthread_mutex_lock(&r->mu);
    if (r->running) {
        pthread_mutex_unlock(&r->mu);
        return ty_error_set(err, TY_ECONFLICT, "reaper: already running");
    }
    r->stopping = false;
    if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
        pthread_mutex_unlock(&r->mu);
        return ty_error_set(err, TY_ERR, "reaper: cannot start its thread");
    }
    r->running = true;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void reaper_stop(struct reaper *r)
{
    bool join;
    pthread_mutex_lock(&r->mu);
    join = r->running;
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (join)
        pthread_join(r->thread, NULL);
    pthread_mutex_lock(&r->mu);
    r->running = false;
    pthread_mutex_unlock(&r->mu);
}

void reaper_stats_get(struct reaper *r, struct reaper_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}
