/*
 * session_reconcile.c - keeping the store and the cluster in agreement.
 *
 * session_sync() is the one decision function: given a live row and what the
 * cluster holds for its guid, it moves the row on (pending -> running when a
 * replica is ready; pending -> failed with the pod's reason when the start
 * deadline passes; pending/running -> lost when the Deployment vanished;
 * stopping -> stopped when every object is gone; interrupted launches ->
 * failed) and pushes the deadline of a healthy row forward.  Every move is a
 * store transition with the expected state, so the reconciler never overrides
 * a stop or a launch step that got there first.
 *
 * Three inputs feed it: a full pass (session_reconcile_once: the live rows,
 * then one list per kind labelled executor=tycho, which also finds orphans),
 * the store's deadline index (store_sessions_due, every tick), and two watches
 * (pods, deployments) whose events mark guids dirty.  Watches follow the
 * list-then-watch pattern, re-list on 410 Gone, and are restarted by the loop
 * when nothing (not even a bookmark or a server-side timeout) arrived for
 * watch_stall_ms: KubeSpawner's reflectors hung for minutes without that
 * (peers.md section 8.4).
 */
#include "session/session_int.h"

#include "compose/compose.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DUE_BATCH 200

static void stat_add(struct session_reconcile_stats *dst, const struct session_reconcile_stats *s)
{
    dst->synced += s->synced;
    dst->transitions += s->transitions;
    dst->lost += s->lost;
    dst->orphans_seen += s->orphans_seen;
    dst->adopted += s->adopted;
    dst->orphans_deleted += s->orphans_deleted;
    dst->watch_restarts += s->watch_restarts;
    dst->relists += s->relists;
    dst->errors += s->errors;
}

static int64_t mono_ms(void)
{
    return ty_time_mono_ms();
}

/* A transition that may lose to a concurrent one: a conflict is not an error. */
static int move(struct session_service *svc,
                struct store *st,
                const struct store_session *s,
                enum store_state to,
                const char *reason,
                const char *message,
                int64_t deadline,
                struct session_reconcile_stats *stats,
                struct ty_error *err)
{
    int rc = session_db_transition(svc, st, s->id, STORE_STATE_BIT(s->state), to, reason, message,
                                   "system", deadline, svc_now(svc), NULL, err);
    if (rc == TY_ECONFLICT) {
        ty_error_clear(err);
        return 0;
    }
    if (rc == 0)
        stats->transitions++;
    return rc;
}

static int extend(struct session_service *svc,
                  struct store *st,
                  const char *id,
                  int64_t deadline,
                  const char *message,
                  struct ty_error *err)
{
    struct store_session_update u = STORE_SESSION_UPDATE_INIT;
    u.state_deadline_at = deadline;
    u.state_message = message;
    return session_db_update(svc, st, id, &u, svc_now(svc), err);
}

static int64_t ready_replicas(const json_t *deploy)
{
    return json_integer_value(json_object_get(json_object_get(deploy, "status"), "readyReplicas"));
}

static int sync_pending_running(struct session_service *svc,
                                struct store *st,
                                const struct store_session *s,
                                const json_t *deploy,
                                const json_t *pods,
                                struct session_reconcile_stats *stats,
                                struct ty_error *err)
{
    int64_t now = svc_now(svc);
    json_t *fetched = NULL;
    char reason[64], message[768];
    int rc = 0;

    if (!deploy) {
        char msg[256];
        enum store_state prev;
        snprintf(msg, sizeof(msg), "the Deployment %s is gone (deleted outside tycho)",
                 s->system_name ? s->system_name : "?");
        rc = session_db_transition(svc, st, s->id, STORE_STATE_BIT(s->state), STORE_STATE_LOST,
                                   "ObjectsMissing", msg, "system", 0, now, &prev, err);
        if (rc == TY_ECONFLICT) {
            ty_error_clear(err);
            return 0; /* moved on meanwhile (a stop); not ours to decide */
        }
        if (rc)
            return rc;
        stats->transitions++;
        stats->lost++;
        /* A lost session keeps nothing: remove whatever is left of it. */
        (void)session_cluster_delete_all(svc, s->id, NULL);
        return 0;
    }
    if (ready_replicas(deploy) >= 1) {
        if (s->state == STORE_STATE_PENDING)
            return move(svc, st, s, STORE_STATE_RUNNING, "ready",
                        "the Deployment has a ready replica", now + svc->running_check_ms, stats,
                        err);
        if (s->state_deadline_at <= now)
            return extend(svc, st, s->id, now + svc->running_check_ms, NULL, err);
        return 0;
    }
    if (s->state == STORE_STATE_RUNNING) {
        /* Not ready any more (a restart, a probe): still running as far as the
         * session goes; re-check later. */
        if (s->state_deadline_at <= now)
            return extend(svc, st, s->id, now + svc->running_check_ms, NULL, err);
        return 0;
    }

    /* Pending and not ready: why? */
    if (!pods) {
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        char *sel = session_guid_selector(s->id);
        lo.label_selector = sel;
        rc = kube_list(&fetched, svc->kube, KUBE_POD, svc->ns, &lo, err);
        free(sel);
        if (rc)
            return ty_error_wrap(err, "list pods of %s: ", s->id);
        pods = json_object_get(fetched, "items");
    }
    session_pods_problem(reason, sizeof(reason), message, sizeof(message), pods);
    if (s->state_deadline_at <= now) {
        json_t *pod0 = json_array_get(pods, 0);
        if (!reason[0]) {
            ty_strlcpy(reason, "StartTimeout", sizeof(reason));
            snprintf(message, sizeof(message),
                     "no ready replica within the start deadline (%lld s)",
                     (long long)(svc->start_ms / 1000));
        }
        if (!strcmp(reason, "ErrImagePull")) {
            /* The kubelet alternates ErrImagePull (a pull just failed) and
             * ImagePullBackOff (waiting to retry); both mean the image cannot
             * be pulled, so a session always fails with the one name. */
            char m2[sizeof(message) + 32];
            snprintf(m2, sizeof(m2), "ErrImagePull: %s", message);
            ty_strlcpy(message, m2, sizeof(message));
            ty_strlcpy(reason, "ImagePullBackOff", sizeof(reason));
        }
        if (pod0 && kube_obj_name(pod0))
            session_events_message(svc, kube_obj_name(pod0), message, sizeof(message));
        rc = session_fail(svc, st, s->id, STORE_STATE_BIT(STORE_STATE_PENDING), reason, message,
                          err);
        if (rc == TY_ECONFLICT) {
            ty_error_clear(err);
            rc = 0;
        } else if (rc == 0) {
            stats->transitions++;
        }
    } else if (reason[0]) {
        /* Say why it is slow, without a state change. */
        char text[900];
        snprintf(text, sizeof(text), "%s: %s", reason, message);
        if (!s->state_message || strcmp(s->state_message, text))
            rc = extend(svc, st, s->id, s->state_deadline_at, text, err);
    }
    json_decref(fetched);
    return rc;
}

int session_sync(struct session_service *svc,
                 struct store *st,
                 const struct store_session *s,
                 bool have_view,
                 const json_t *deploy,
                 const json_t *pods,
                 bool startup,
                 struct session_reconcile_stats *stats,
                 struct ty_error *err)
{
    int64_t now = svc_now(svc);
    json_t *fetched = NULL;
    bool gone = false;
    int rc = 0;

    stats->synced++;
    switch (s->state) {
    case STORE_STATE_REQUESTED:
    case STORE_STATE_CREATING:
        if (session_inflight_has(svc, s->id))
            return 0;
        if (!startup && s->state_deadline_at > now)
            return 0;
        rc = session_fail(svc, st, s->id,
                          STORE_STATE_BIT(STORE_STATE_REQUESTED) |
                              STORE_STATE_BIT(STORE_STATE_CREATING),
                          "LaunchInterrupted",
                          "the launch did not finish (tycho restarted, or the cluster did not "
                          "answer before the deadline)",
                          err);
        if (rc == TY_ECONFLICT) {
            ty_error_clear(err);
            return 0;
        }
        if (rc == 0)
            stats->transitions++;
        return rc;

    case STORE_STATE_PENDING:
    case STORE_STATE_RUNNING:
        if (!have_view) {
            rc = kube_get(&fetched, svc->kube, KUBE_DEPLOYMENT, svc->ns,
                          s->system_name ? s->system_name : "", err);
            if (rc == TY_ENOTFOUND) {
                ty_error_clear(err);
                rc = 0;
            } else if (rc) {
                return ty_error_wrap(err, "get deployment of %s: ", s->id);
            }
            deploy = fetched;
            pods = NULL;
        }
        rc = sync_pending_running(svc, st, s, deploy, pods, stats, err);
        json_decref(fetched);
        return rc;

    case STORE_STATE_STOPPING:
        if (session_inflight_has(svc, s->id))
            return 0;
        if ((rc = session_cluster_gone(&gone, svc, s->id, err)))
            return rc;
        if (gone)
            return move(svc, st, s, STORE_STATE_STOPPED,
                        s->stop_reason ? s->stop_reason : "stopped", "every object is gone", 0,
                        stats, err);
        if (s->state_deadline_at <= now) {
            /* Deletes lost or slow: send them again, and give it more time. */
            struct ty_error e = TY_ERROR_INIT;
            (void)session_cluster_delete_all(svc, s->id, &e);
            return extend(svc, st, s->id, now + svc->stopping_ms,
                          "objects still present after the stopping deadline; deletes re-sent",
                          err);
        }
        return 0;

    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ full pass */

/* Lists every object of kind labelled executor=tycho into by_guid[guid] (an
 * array), and records the guid in seen. */
static int list_kind(json_t *by_guid,
                     json_t *seen,
                     struct session_service *svc,
                     enum kube_kind kind,
                     struct ty_error *err)
{
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    json_t *list = NULL;
    size_t i;
    json_t *item;
    int rc;

    lo.label_selector = "executor=tycho";
    rc = kube_list_all(&list, svc->kube, kind, svc->ns, &lo, err);
    if (rc)
        return ty_error_wrap(err, "list %s: ", kube_kind_resource(kind));
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *g = session_obj_guid(item);
        if (!g)
            continue;
        if (by_guid) {
            json_t *arr = json_object_get(by_guid, g);
            if (!arr) {
                arr = json_array();
                json_object_set_new(by_guid, g, arr);
            }
            json_array_append(arr, item);
        }
        json_object_set_new(seen, g, json_true());
    }
    json_decref(list);
    return 0;
}

static int adopt(struct session_service *svc,
                 struct store *st,
                 const char *guid,
                 const json_t *deploy,
                 struct session_reconcile_stats *stats,
                 struct ty_error *err)
{
    struct store_session row;
    json_t *tmpl_labels = json_object_get(
        json_object_get(json_object_get(json_object_get(deploy, "spec"), "template"), "metadata"),
        "labels");
    json_t *ann = json_object_get(json_object_get(deploy, "metadata"), "annotations");
    const char *user = json_string_value(json_object_get(ann, COMPOSE_ANNOTATION_USERNAME));
    /* The app id from the compiler's annotation, never from `app-name`: that
     * label is the workspace name its owner may change. */
    const char *app = json_string_value(json_object_get(ann, COMPOSE_ANNOTATION_APP_ID));
    int64_t now = svc_now(svc);
    int rc;

    if (!user)
        user = session_obj_label(deploy, "username");
    if (!app)
        app = json_string_value(json_object_get(tmpl_labels, "original-app-name"));
    store_session_init(&row);
    row.id = (char *)guid;
    row.username = (char *)(user ? user : "unknown");
    row.app_id = (char *)(app ? app : "unknown");
    row.system_name = (char *)kube_obj_name(deploy);
    row.namespace = svc->ns;
    row.context = svc->context;
    row.state = STORE_STATE_PENDING;
    row.state_reason = "adopted";
    row.state_message = "objects found in the cluster without a session; adopted";
    row.state_deadline_at = now + svc->start_ms;
    row.created_at = now;
    rc = session_db_insert(svc, st, &row, NULL, "reconciler", err);
    if (rc == TY_EEXISTS) {
        ty_error_clear(err);
        return 0;
    }
    if (rc)
        return ty_error_wrap(err, "adopt %s: ", guid);
    stats->adopted++;
    /* Bring it to running at once when its replica is ready. */
    if (store_session_get(st, guid, &row, NULL) == 0) {
        rc = session_sync(svc, st, &row, true, deploy, NULL, false, stats, err);
        store_session_cleanup(&row);
    }
    return rc;
}

static int handle_orphan(struct session_service *svc,
                         struct store *st,
                         const char *guid,
                         const json_t *deploys,
                         struct session_reconcile_stats *stats,
                         struct ty_error *err)
{
    struct store_session row;
    int rc = store_session_get(st, guid, &row, err);

    if (rc == 0) {
        bool final = store_state_is_final(row.state);
        store_session_cleanup(&row);
        if (!final)
            return 0; /* created after our list of live rows: not an orphan */
        /* Objects of a finished session (a launch that lost to a stop and
         * crashed, a stop whose deletes were lost): remove them. */
        stats->orphans_deleted++;
        return session_cluster_delete_all(svc, guid, err);
    }
    if (rc != TY_ENOTFOUND)
        return rc;
    ty_error_clear(err);
    stats->orphans_seen++;
    switch (svc->orphan_policy) {
    case SESSION_ORPHAN_IGNORE:
        return 0;
    case SESSION_ORPHAN_ADOPT: {
        const json_t *d = json_array_get(json_object_get(deploys, guid), 0);
        if (d && strlen(guid) <= 64)
            return adopt(svc, st, guid, d, stats, err);
        /* Nothing to run without a Deployment: fall through and delete. */
    }
    /* fall through */
    case SESSION_ORPHAN_DELETE:
        stats->orphans_deleted++;
        return session_cluster_delete_all(svc, guid, err);
    }
    return 0;
}

int session_reconcile_once(struct session_reconcile_stats *stats_out,
                           struct session_service *svc,
                           bool startup,
                           struct ty_error *err)
{
    /* Every kind a launch makes, but Deployments and Pods (listed above). */
    enum kube_kind others[SESSION_KINDS_MAX];
    size_t n_others = 0, n_kinds = session_kinds(others, svc);
    struct session_reconcile_stats stats;
    struct store *st = NULL;
    struct store_session *live = NULL;
    size_t n_live = 0;
    json_t *deploys = json_object(), *pods = json_object(), *seen = json_object();
    json_t *live_ids = json_object();
    const char *guid;
    json_t *v;
    int rc, first = 0;
    struct ty_error e = TY_ERROR_INIT;

    memset(&stats, 0, sizeof(stats));
    if ((rc = session_store_get(svc, &st, err)))
        goto out;
    /* Rows first, then the cluster: a row that is pending or running had its
     * Deployment created before the row said so, so the list below sees it. */
    if ((rc = store_sessions_live(st, &live, &n_live, err)))
        goto out;
    if ((rc = list_kind(deploys, seen, svc, KUBE_DEPLOYMENT, err)) ||
        (rc = list_kind(pods, seen, svc, KUBE_POD, err)))
        goto out;
    stats.relists++;
    for (size_t i = 0; i < n_live; i++) {
        const json_t *d = json_array_get(json_object_get(deploys, live[i].id), 0);
        json_t *p = json_object_get(pods, live[i].id);
        json_t *empty = NULL;
        json_object_set_new(live_ids, live[i].id, json_true());
        if (!p)
            p = empty = json_array();
        ty_error_clear(&e);
        rc = session_sync(svc, st, &live[i], true, d, p, startup, &stats, &e);
        json_decref(empty);
        if (rc) {
            stats.errors++;
            if (!first) {
                first = rc;
                ty_error_set(err, rc, "sync %s: %s", live[i].id, e.msg);
            }
        }
    }

    /* Orphans: objects whose guid has no live row. */
    for (size_t k = 0; k < n_kinds; k++)
        if (others[k] != KUBE_DEPLOYMENT && others[k] != KUBE_POD)
            others[n_others++] = others[k];
    for (size_t k = 0; k < n_others; k++) {
        ty_error_clear(&e);
        if ((rc = list_kind(NULL, seen, svc, others[k], &e))) {
            stats.errors++;
            if (!first) {
                first = rc;
                ty_error_set(err, rc, "%s", e.msg);
            }
        }
    }
    json_object_foreach(seen, guid, v)
    {
        if (json_object_get(live_ids, guid))
            continue;
        ty_error_clear(&e);
        rc = handle_orphan(svc, st, guid, deploys, &stats, &e);
        if (rc) {
            stats.errors++;
            if (!first) {
                first = rc;
                ty_error_set(err, rc, "orphan %s: %s", guid, e.msg);
            }
        }
    }
    rc = first;
out:
    store_sessions_free(live, n_live);
    session_store_put(svc, st);
    json_decref(deploys);
    json_decref(pods);
    json_decref(seen);
    json_decref(live_ids);
    if (stats_out)
        *stats_out = stats;
    return rc;
}

/* ------------------------------------------------------------------ threads */

static void dirty_push(struct session_service *svc, const char *guid)
{
    if (strlen(guid) != 32)
        return;
    pthread_mutex_lock(&svc->rmu);
    for (size_t i = 0; i < svc->n_dirty; i++) {
        if (!strcmp(svc->dirty[i], guid)) {
            pthread_mutex_unlock(&svc->rmu);
            return;
        }
    }
    if (svc->n_dirty == svc->cap_dirty) {
        svc->cap_dirty = svc->cap_dirty ? svc->cap_dirty * 2 : 64;
        svc->dirty = ty_xrealloc(svc->dirty, svc->cap_dirty * sizeof(*svc->dirty));
    }
    memcpy(svc->dirty[svc->n_dirty++], guid, 33);
    pthread_cond_broadcast(&svc->rcond);
    pthread_mutex_unlock(&svc->rmu);
}

static bool stopping(struct session_service *svc)
{
    bool s;
    pthread_mutex_lock(&svc->rmu);
    s = svc->stop_requested;
    pthread_mutex_unlock(&svc->rmu);
    return s;
}

/* Sleeps up to ms, waking early on shutdown. */
static void nap(struct session_service *svc, int64_t ms)
{
    struct timespec ts = ty_time_deadline(CLOCK_REALTIME, ms);
    pthread_mutex_lock(&svc->rmu);
    while (!svc->stop_requested) {
        if (pthread_cond_timedwait(&svc->rcond, &svc->rmu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&svc->rmu);
}

struct watch_state {
    struct session_watcher *w;
    char rv[128];
};

static int on_event(const char *type, json_t *object, void *payload)
{
    struct watch_state *ws = payload;
    const char *rv = kube_obj_resource_version(object);
    const char *g = session_obj_guid(object);

    __atomic_store_n(&ws->w->last_seen_mono, mono_ms(), __ATOMIC_RELAXED);
    if (rv)
        ty_strlcpy(ws->rv, rv, sizeof(ws->rv));
    if (g && strcmp(type, "BOOKMARK"))
        dirty_push(ws->w->svc, g);
    return 0;
}

static void stats_bump(struct session_service *svc, long restarts, long relists, long errors)
{
    pthread_mutex_lock(&svc->rmu);
    svc->stats.watch_restarts += restarts;
    svc->stats.relists += relists;
    svc->stats.errors += errors;
    pthread_mutex_unlock(&svc->rmu);
}

static void *watch_main(void *arg)
{
    struct session_watcher *w = arg;
    struct session_service *svc = w->svc;
    struct watch_state ws;
    struct ty_error e = TY_ERROR_INIT;

    ws.w = w;
    while (!stopping(svc)) {
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        json_t *list = NULL;
        size_t i;
        json_t *item;
        int rc;

        /* List, mark everything dirty, then watch from the list's version. */
        lo.label_selector = "executor=tycho";
        __atomic_store_n(&w->last_seen_mono, mono_ms(), __ATOMIC_RELAXED);
        rc = kube_list_all(&list, svc->kube, w->kind, svc->ns, &lo, &e);
        if (rc) {
            ty_warn("reconciler", "list %s: %s", kube_kind_resource(w->kind), e.msg);
            stats_bump(svc, 0, 0, 1);
            nap(svc, 1000);
            continue;
        }
        stats_bump(svc, 0, 1, 0);
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            const char *g = session_obj_guid(item);
            if (g)
                dirty_push(svc, g);
        }
        ws.rv[0] = '\0';
        ty_strlcpy(ws.rv, kube_obj_resource_version(list) ? kube_obj_resource_version(list) : "",
                   sizeof(ws.rv));
        json_decref(list);

        while (!stopping(svc)) {
            struct kube_watch_opts wo = KUBE_WATCH_OPTS_INIT;
            int64_t to = svc->watch_stall_ms / 2000;
            wo.label_selector = "executor=tycho";
            wo.resource_version = ws.rv[0] ? ws.rv : NULL;
            wo.allow_bookmarks = true;
            wo.timeout_s = (int)(to < 1 ? 1 : to);
            wo.stop = &w->abort_flag;
            __atomic_store_n(&w->last_seen_mono, mono_ms(), __ATOMIC_RELAXED);
            rc = kube_watch(svc->kube, w->kind, svc->ns, &wo, on_event, &ws, &e);
            if (stopping(svc))
                break;
            if (rc == 0 && __atomic_load_n(&w->stalled, __ATOMIC_RELAXED)) {
                ty_warn("reconciler", "watch %s stalled; restarting", kube_kind_resource(w->kind));
                __atomic_store_n(&w->stalled, false, __ATOMIC_RELAXED);
                __atomic_store_n(&w->abort_flag, 0, __ATOMIC_RELAXED);
                stats_bump(svc, 1, 0, 0);
                break; /* re-list: events may have been missed */
            }
            if (rc == 0)
                continue; /* the server ended the stream: re-watch from the last version */
            if (rc == TY_EGONE) {
                stats_bump(svc, 1, 0, 0);
                break;
            }
            ty_warn("reconciler", "watch %s: %s", kube_kind_resource(w->kind), e.msg);
            stats_bump(svc, 1, 0, 1);
            nap(svc, 1000);
            break;
        }
    }
    return NULL;
}

static void sync_ids(struct session_service *svc,
                     char (*ids)[33],
                     size_t n,
                     struct session_reconcile_stats *stats)
{
    struct store *st = NULL;
    struct ty_error e = TY_ERROR_INIT;

    if (!n || session_store_get(svc, &st, &e)) {
        if (n)
            stats->errors++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_session row;
        if (store_session_get(st, ids[i], &row, NULL))
            continue; /* no row: the full pass handles orphans */
        if (!store_state_is_final(row.state) &&
            session_sync(svc, st, &row, false, NULL, NULL, false, stats, &e)) {
            ty_warn("reconciler", "sync %s: %s", ids[i], e.msg);
            stats->errors++;
        }
        store_session_cleanup(&row);
    }
    session_store_put(svc, st);
}

static void due_pass(struct session_service *svc, struct session_reconcile_stats *stats)
{
    struct store *st = NULL;
    struct store_session *due = NULL;
    size_t n = 0;
    struct ty_error e = TY_ERROR_INIT;

    if (session_store_get(svc, &st, &e)) {
        stats->errors++;
        return;
    }
    if (store_sessions_due(st, svc_now(svc), DUE_BATCH, &due, &n, &e) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (session_sync(svc, st, &due[i], false, NULL, NULL, false, stats, &e)) {
                ty_warn("reconciler", "deadline of %s: %s", due[i].id, e.msg);
                stats->errors++;
            }
        }
    } else {
        stats->errors++;
    }
    store_sessions_free(due, n);
    session_store_put(svc, st);
}

static void *loop_main(void *arg)
{
    struct session_service *svc = arg;
    struct ty_error e = TY_ERROR_INIT;
    struct session_reconcile_stats s;
    int64_t last_resync;

    memset(&s, 0, sizeof(s));
    if (session_reconcile_once(&s, svc, true, &e))
        ty_warn("reconciler", "start-up pass: %s", e.msg);
    pthread_mutex_lock(&svc->rmu);
    stat_add(&svc->stats, &s);
    pthread_mutex_unlock(&svc->rmu);
    last_resync = mono_ms();

    for (;;) {
        char(*ids)[33] = NULL;
        size_t n = 0;

        nap(svc, svc->tick_ms);
        if (stopping(svc))
            break;
        pthread_mutex_lock(&svc->rmu);
        ids = svc->dirty;
        n = svc->n_dirty;
        svc->dirty = NULL;
        svc->n_dirty = svc->cap_dirty = 0;
        pthread_mutex_unlock(&svc->rmu);

        memset(&s, 0, sizeof(s));
        sync_ids(svc, ids, n, &s);
        free(ids);
        due_pass(svc, &s);
        if (mono_ms() - last_resync >= svc->resync_ms) {
            ty_error_clear(&e);
            if (session_reconcile_once(&s, svc, false, &e)) {
                ty_warn("reconciler", "resync: %s", e.msg);
            }
            last_resync = mono_ms();
        }
        /* Stalled watches: nothing, not even a server timeout, for too long. */
        for (int i = 0; i < 2; i++) {
            struct session_watcher *w = &svc->watchers[i];
            int64_t seen = __atomic_load_n(&w->last_seen_mono, __ATOMIC_RELAXED);
            if (mono_ms() - seen > svc->watch_stall_ms &&
                !__atomic_load_n(&w->stalled, __ATOMIC_RELAXED)) {
                __atomic_store_n(&w->stalled, true, __ATOMIC_RELAXED);
                __atomic_store_n(&w->abort_flag, 1, __ATOMIC_RELAXED);
            }
        }
        pthread_mutex_lock(&svc->rmu);
        stat_add(&svc->stats, &s);
        pthread_mutex_unlock(&svc->rmu);
    }
    return NULL;
}

int session_reconciler_start(struct session_service *svc, struct ty_error *err)
{
    static const enum kube_kind kinds[2] = {KUBE_DEPLOYMENT, KUBE_POD};

    pthread_mutex_lock(&svc->rmu);
    if (svc->running) {
        pthread_mutex_unlock(&svc->rmu);
        return ty_error_set(err, TY_ECONFLICT, "session: the reconciler is already running");
    }
    svc->running = true;
    svc->stop_requested = false;
    memset(&svc->stats, 0, sizeof(svc->stats));
    pthread_mutex_unlock(&svc->rmu);

    for (int i = 0; i < 2; i++) {
        struct session_watcher *w = &svc->watchers[i];
        memset(w, 0, sizeof(*w));
        w->svc = svc;
        w->kind = kinds[i];
        w->last_seen_mono = mono_ms();
        if (pthread_create(&w->thread, NULL, watch_main, w) == 0)
            w->started = true;
    }
    if (pthread_create(&svc->loop_thread, NULL, loop_main, svc) != 0) {
        pthread_mutex_lock(&svc->rmu);
        svc->stop_requested = true;
        pthread_mutex_unlock(&svc->rmu);
        for (int i = 0; i < 2; i++) {
            __atomic_store_n(&svc->watchers[i].abort_flag, 1, __ATOMIC_RELAXED);
            if (svc->watchers[i].started)
                pthread_join(svc->watchers[i].thread, NULL);
            svc->watchers[i].started = false;
        }
        pthread_mutex_lock(&svc->rmu);
        svc->running = false;
        pthread_mutex_unlock(&svc->rmu);
        return ty_error_set(err, TY_ERR, "session: cannot start the reconciler thread");
    }
    return 0;
}

void session_reconciler_stop(struct session_service *svc)
{
    bool was;
    pthread_mutex_lock(&svc->rmu);
    was = svc->running;
    svc->stop_requested = true;
    pthread_cond_broadcast(&svc->rcond);
    pthread_mutex_unlock(&svc->rmu);
    if (!was)
        return;
    for (int i = 0; i < 2; i++)
        __atomic_store_n(&svc->watchers[i].abort_flag, 1, __ATOMIC_RELAXED);
    pthread_join(svc->loop_thread, NULL);
    for (int i = 0; i < 2; i++) {
        if (svc->watchers[i].started)
            pthread_join(svc->watchers[i].thread, NULL);
        svc->watchers[i].started = false;
    }
    pthread_mutex_lock(&svc->rmu);
    svc->running = false;
    pthread_mutex_unlock(&svc->rmu);
}

void session_reconciler_stats(struct session_reconcile_stats *out, struct session_service *svc)
{
    pthread_mutex_lock(&svc->rmu);
    *out = svc->stats;
    pthread_mutex_unlock(&svc->rmu);
}
