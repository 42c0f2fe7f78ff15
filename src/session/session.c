/*
 * session.c - the session service: launch, stop, modify, heartbeat, reads.
 *
 * This file is the one place where a request becomes store writes and cluster
 * calls.  The order of a launch is the crash-safety argument of the whole
 * program (docs/sessions.md): the row is written (requested) and moved to
 * creating, with a deadline, BEFORE the first object is sent to the cluster;
 * every object carries the session's tycho-guid; so whatever point a crash
 * interrupts, the reconciler finds either a row to finish or objects whose guid
 * names a row.  A stop is a compare-and-set to stopping from any live state:
 * the launch moves creating -> pending expecting creating, loses to the stop,
 * and deletes whatever it made after the stop's own deletes.
 */
#include "session/session_int.h"

#include "compose/compose.h"
#include "registry/registry.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/quantity.h"
#include "util/slug.h"
#include "util/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENV_FILE_MAX (1u << 20)

const char *session_orphan_policy_name(enum session_orphan_policy p)
{
    switch (p) {
    case SESSION_ORPHAN_ADOPT:
        return "adopt";
    case SESSION_ORPHAN_DELETE:
        return "delete";
    case SESSION_ORPHAN_IGNORE:
        return "ignore";
    }
    return "unknown";
}

int session_orphan_policy_parse(enum session_orphan_policy *out, const char *name)
{
    *out = SESSION_ORPHAN_ADOPT;
    if (!name)
        return -1;
    if (!strcmp(name, "adopt"))
        *out = SESSION_ORPHAN_ADOPT;
    else if (!strcmp(name, "delete"))
        *out = SESSION_ORPHAN_DELETE;
    else if (!strcmp(name, "ignore"))
        *out = SESSION_ORPHAN_IGNORE;
    else
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ service */

int session_service_new(struct session_service **out,
                        const struct session_config *cfg,
                        struct ty_error *err)
{
    struct session_service *svc = NULL;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->registry || !cfg->kube || !cfg->store_path || !cfg->context)
        return ty_error_set(err, TY_EINVAL,
                            "session: the registry, context, kube client and store path are "
                            "required");
    if (!strcmp(cfg->store_path, ":memory:"))
        return ty_error_set(err, TY_EINVAL,
                            "session: the store must be a file (each thread opens its own "
                            "connection)");
    if (cfg->creating_deadline_ms <= 0 || cfg->start_deadline_ms <= 0 ||
        cfg->stopping_deadline_ms <= 0 || cfg->running_check_ms <= 0 || cfg->resync_ms <= 0 ||
        cfg->watch_stall_ms <= 0 || cfg->tick_ms <= 0 || cfg->max_per_user < 0 ||
        cfg->max_global < 0)
        return ty_error_set(err, TY_EINVAL,
                            "session: deadlines and periods must be > 0, limits >= 0");

    svc = ty_xcalloc(1, sizeof(*svc));
    svc->registry = cfg->registry;
    svc->kube = cfg->kube;
    svc->clock = cfg->clock ? cfg->clock : ty_clock_system();
    if (cfg->policy) {
        svc->policy = cfg->policy;
    } else {
        policy_init(&svc->own_policy);
        svc->policy = &svc->own_policy;
    }
    svc->context = ty_xstrdup(cfg->context);
    svc->ns =
        ty_xstrdup(cfg->namespace_name ? cfg->namespace_name : kube_client_namespace(cfg->kube));
    svc->host = ty_xstrdup(cfg->host ? cfg->host : "localhost");
    svc->protocol = ty_xstrdup(cfg->protocol ? cfg->protocol : "https");
    svc->store_path = ty_xstrdup(cfg->store_path);
    svc->max_per_user = cfg->max_per_user;
    svc->max_global = cfg->max_global;
    svc->creating_ms = cfg->creating_deadline_ms;
    svc->start_ms = cfg->start_deadline_ms;
    svc->stopping_ms = cfg->stopping_deadline_ms;
    svc->running_check_ms = cfg->running_check_ms;
    svc->orphan_policy = cfg->orphan_policy;
    svc->resync_ms = cfg->resync_ms;
    svc->watch_stall_ms = cfg->watch_stall_ms;
    svc->tick_ms = cfg->tick_ms;
    pthread_mutex_init(&svc->mu, NULL);
    pthread_mutex_init(&svc->wmu, NULL);
    pthread_mutex_init(&svc->cmu, NULL);
    {
        /* Waits time out on the monotonic clock: a clock step must not
         * stretch or cut them. */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&svc->ccond, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_mutex_init(&svc->rmu, NULL);
    pthread_cond_init(&svc->rcond, NULL);

    rc = store_pool_new(&svc->pool, svc->store_path, NULL, 16, err);
    if (rc) {
        ty_error_wrap(err, "session: ");
        session_service_free(svc);
        return rc;
    }
    *out = svc;
    return 0;
}

void session_service_free(struct session_service *svc)
{
    if (!svc)
        return;
    session_reconciler_stop(svc);
    store_pool_free(svc->pool);
    policy_cleanup(&svc->own_policy);
    free(svc->context);
    free(svc->ns);
    free(svc->host);
    free(svc->protocol);
    free(svc->store_path);
    free(svc->inflight);
    free(svc->dirty);
    pthread_mutex_destroy(&svc->mu);
    pthread_mutex_destroy(&svc->wmu);
    pthread_mutex_destroy(&svc->cmu);
    pthread_cond_destroy(&svc->ccond);
    pthread_mutex_destroy(&svc->rmu);
    pthread_cond_destroy(&svc->rcond);
    free(svc);
}

const char *session_service_namespace(const struct session_service *svc)
{
    return svc->ns;
}

int session_store_get(struct session_service *svc, struct store **out, struct ty_error *err)
{
    int rc = store_pool_get(svc->pool, out, err);
    if (rc)
        ty_error_wrap(err, "session: store: ");
    return rc;
}

void session_store_put(struct session_service *svc, struct store *st)
{
    if (st)
        store_pool_put(svc->pool, st);
}

void session_changed(struct session_service *svc)
{
    pthread_mutex_lock(&svc->cmu);
    svc->changes++;
    pthread_cond_broadcast(&svc->ccond);
    pthread_mutex_unlock(&svc->cmu);
}

uint64_t session_changes_wait(struct session_service *svc, uint64_t since, int timeout_ms)
{
    struct timespec until = ty_time_deadline(CLOCK_MONOTONIC, timeout_ms);
    uint64_t now;
    pthread_mutex_lock(&svc->cmu);
    while (svc->changes == since &&
           pthread_cond_timedwait(&svc->ccond, &svc->cmu, &until) != ETIMEDOUT)
        ;
    now = svc->changes;
    pthread_mutex_unlock(&svc->cmu);
    return now;
}

int session_db_insert(struct session_service *svc,
                      struct store *st,
                      const struct store_session *s,
                      const struct store_limits *lim,
                      const char *actor,
                      struct ty_error *err)
{
    int rc;
    pthread_mutex_lock(&svc->wmu);
    rc = store_session_insert(st, s, lim, actor, err);
    pthread_mutex_unlock(&svc->wmu);
    if (rc == 0)
        session_changed(svc);
    return rc;
}

int session_db_transition(struct session_service *svc,
                          struct store *st,
                          const char *id,
                          uint32_t expected_from,
                          enum store_state to,
                          const char *reason,
                          const char *message,
                          const char *actor,
                          int64_t deadline_at,
                          int64_t now,
                          enum store_state *prev_out,
                          struct ty_error *err)
{
    int rc;
    pthread_mutex_lock(&svc->wmu);
    rc = store_session_transition(st, id, expected_from, to, reason, message, actor, deadline_at,
                                  now, prev_out, err);
    pthread_mutex_unlock(&svc->wmu);
    if (rc == 0)
        session_changed(svc);
    return rc;
}

int session_db_update(struct session_service *svc,
                      struct store *st,
                      const char *id,
                      const struct store_session_update *u,
                      int64_t now,
                      struct ty_error *err)
{
    int rc;
    pthread_mutex_lock(&svc->wmu);
    rc = store_session_update_fields(st, id, u, now, err);
    pthread_mutex_unlock(&svc->wmu);
    if (rc == 0)
        session_changed(svc);
    return rc;
}

void session_inflight_add(struct session_service *svc, const char *id)
{
    pthread_mutex_lock(&svc->mu);
    if (svc->n_inflight == svc->cap_inflight) {
        svc->cap_inflight = svc->cap_inflight ? svc->cap_inflight * 2 : 16;
        svc->inflight = ty_xrealloc(svc->inflight, svc->cap_inflight * sizeof(*svc->inflight));
    }
    ty_strlcpy(svc->inflight[svc->n_inflight++], id, 33);
    pthread_mutex_unlock(&svc->mu);
}

void session_inflight_remove(struct session_service *svc, const char *id)
{
    pthread_mutex_lock(&svc->mu);
    for (size_t i = 0; i < svc->n_inflight; i++) {
        if (!strcmp(svc->inflight[i], id)) {
            memcpy(svc->inflight[i], svc->inflight[--svc->n_inflight], 33);
            break;
        }
    }
    pthread_mutex_unlock(&svc->mu);
}

bool session_inflight_has(struct session_service *svc, const char *id)
{
    bool found = false;
    pthread_mutex_lock(&svc->mu);
    for (size_t i = 0; i < svc->n_inflight && !found; i++)
        found = !strcmp(svc->inflight[i], id);
    pthread_mutex_unlock(&svc->mu);
    return found;
}

/* ------------------------------------------------------------------ helpers */

static bool is_guid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 32;
}

/* Label syntax, then the launch policy's word on each key. */
static int check_labels(const struct policy *pol,
                        enum policy_role role,
                        const struct session_label *labels,
                        size_t n,
                        bool allow_null_value,
                        struct ty_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *k = labels[i].key, *v = labels[i].value;
        int rc;
        if (!k || !ty_is_label_key(k))
            return ty_error_set(err, TY_EINVAL, "labels: '%s' is not a valid label key",
                                k ? k : "(null)");
        if (!v && !allow_null_value)
            return ty_error_set(err, TY_EINVAL, "labels: '%s' has no value", k);
        if (v && !ty_is_label_value(v))
            return ty_error_set(err, TY_EINVAL,
                                "labels: the value of '%s' is not a valid label value "
                                "(63 characters of [A-Za-z0-9._-], alphanumeric at both ends)",
                                k);
        if ((rc = policy_label_check(pol, role, k, v, err)) < 0)
            return rc;
    }
    return 0;
}

/* Reads an env_file named by a local spec, relative to the spec's folder. */
static int read_env_file(struct ty_buf *out, const char *name, void *payload, struct ty_error *err)
{
    const char *spec_name = payload;
    char *dir = NULL, *path = NULL, *data = NULL;
    size_t len = 0;
    int rc;

    if (!spec_name || strstr(spec_name, "://"))
        return ty_error_set(err, TY_EINVAL,
                            "env_file %s: only specs read from local files may "
                            "name env files",
                            name);
    if (name[0] == '/' || strstr(name, ".."))
        return ty_error_set(err, TY_EINVAL,
                            "env_file %s: must be a relative path inside the "
                            "spec's folder",
                            name);
    dir = ty_path_dirname(spec_name);
    path = ty_path_join(dir, name);
    rc = ty_file_read(&data, &len, path, ENV_FILE_MAX, err);
    if (rc == 0)
        ty_buf_append(out, data, len);
    free(data);
    free(path);
    free(dir);
    return rc;
}

/* Sums the resources of the Deployment's containers into the row. */
static void deployment_resources(struct store_session *row, const json_t *deploy)
{
    json_t *containers = json_object_get(
        json_object_get(json_object_get(json_object_get(deploy, "spec"), "template"), "spec"),
        "containers");
    size_t i;
    json_t *c;

    json_array_foreach(containers, i, c)
    {
        json_t *res = json_object_get(c, "resources");
        json_t *lim = json_object_get(res, "limits");
        json_t *v;
        const char *key;
        int64_t n;

        if (!json_object_size(lim))
            lim = json_object_get(res, "requests");
        json_object_foreach(lim, key, v)
        {
            const char *t = json_string_value(v);
            char num[32];
            if (!t && json_is_number(v)) {
                snprintf(num, sizeof(num), "%g", json_number_value(v));
                t = num;
            }
            if (!t)
                continue;
            if (!strcmp(key, "cpu") && session_cpu_parse(&n, t, NULL) == 0)
                row->cpu_millis += n;
            else if (!strcmp(key, "memory") && session_memory_parse(&n, t, NULL) == 0)
                row->memory_bytes += n;
            else if (!strcmp(key, "ephemeral-storage") && session_memory_parse(&n, t, NULL) == 0)
                row->ephemeral_bytes += n;
            else if (strstr(key, "gpu") && session_memory_parse(&n, t, NULL) == 0)
                row->gpus += n;
        }
    }
}

static json_t *list_find_kind(const json_t *list, const char *kind)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *k = json_string_value(json_object_get(item, "kind"));
        if (k && !strcmp(k, kind))
            return item;
    }
    return NULL;
}

static void obj_set_label(json_t *obj, const char *key, const char *value)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *labels;
    if (!md) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    labels = json_object_get(md, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(md, "labels", labels);
    }
    json_object_set_new(labels, key, json_string(value));
}

/* A PVC the compiler emits without a tycho-guid is the user's own (a home, a
 * named volume): it outlives the launch. */
static bool is_users_claim(const json_t *item)
{
    const char *k = json_string_value(json_object_get(item, "kind"));
    return k && !strcmp(k, "PersistentVolumeClaim") && !session_obj_label(item, "tycho-guid");
}

/* Every object of a launch carries executor=tycho and its tycho-guid (the
 * compiler puts them there; this makes the stop's guarantee independent of
 * it), and the caller's labels go on the Deployment's metadata.  Never on the
 * pod template: pods are what Services, NetworkPolicies and every other
 * selector in the cluster choose by label, so a caller's label there could
 * make a pod look like something it is not. */
static void label_objects(json_t *list, const char *id, const struct session_launch_req *req)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        obj_set_label(item, "executor", "tycho");
        if (is_users_claim(item))
            continue; /* not the launch's: a stop must not delete it */
        obj_set_label(item, "tycho-guid", id);
        const char *k = json_string_value(json_object_get(item, "kind"));
        if (!k || strcmp(k, "Deployment"))
            continue;
        for (size_t j = 0; j < req->n_labels; j++)
            obj_set_label(item, req->labels[j].key, req->labels[j].value);
    }
}

/* Checks the limits with messages that say which one is full, before the
 * launch compiles anything.  A read only: two launches may both pass it, and
 * the store's insert re-checks every limit (per user, per app, global) inside
 * its BEGIN IMMEDIATE transaction, which is what makes them hold across
 * threads and across processes sharing the database.  *which (may be NULL)
 * says which limit is full when the answer is TY_ELIMIT. */
static int check_limits(struct session_service *svc,
                        struct store *st,
                        const char *username,
                        const char *app_id,
                        int64_t app_count,
                        enum session_limit *which,
                        struct ty_error *err)
{
    int64_t n = 0;
    int rc;

    if (which)
        *which = SESSION_LIMIT_NONE;
    if (svc->max_per_user > 0) {
        if ((rc = store_sessions_count_live(st, username, NULL, &n, err)))
            return rc;
        if (n >= svc->max_per_user) {
            if (which)
                *which = SESSION_LIMIT_USER;
            return ty_error_set(err, TY_ELIMIT, "user %s already has %lld session%s (limit %d)",
                                username, (long long)n, n == 1 ? "" : "s", svc->max_per_user);
        }
    }
    if (app_count > 0) {
        if ((rc = store_sessions_count_live(st, username, app_id, &n, err)))
            return rc;
        if (n >= app_count) {
            if (which)
                *which = SESSION_LIMIT_APP;
            return ty_error_set(err, TY_ELIMIT,
                                "user %s already has %lld session%s of app %s (limit %lld, "
                                "the registry's count)",
                                username, (long long)n, n == 1 ? "" : "s", app_id,
                                (long long)app_count);
        }
    }
    if (svc->max_global > 0) {
        if ((rc = store_sessions_count_live(st, NULL, NULL, &n, err)))
            return rc;
        if (n >= svc->max_global) {
            if (which)
                *which = SESSION_LIMIT_GLOBAL;
            return ty_error_set(err, TY_ELIMIT,
                                "the platform already runs %lld sessions (limit %d)", (long long)n,
                                svc->max_global);
        }
    }
    return 0;
}

const char *session_limit_name(enum session_limit which)
{
    switch (which) {
    case SESSION_LIMIT_USER:
        return "user";
    case SESSION_LIMIT_APP:
        return "app";
    case SESSION_LIMIT_GLOBAL:
        return "global";
    default:
        return "none";
    }
}

int session_limit_holders(struct store_page *out,
                          enum session_limit *which_out,
                          struct session_service *svc,
                          const char *username,
                          const char *app_id,
                          struct ty_error *err)
{
    struct registry *reg = NULL;
    struct store *st = NULL;
    const json_t *apps = NULL;
    int64_t app_count = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    *which_out = SESSION_LIMIT_NONE;
    if (!username || !*username || !app_id || !*app_id)
        return ty_error_set(err, TY_EINVAL, "limit holders: username and app are required");
    /* An app the registry does not know (a spec launched by name) has no count. */
    reg = registry_holder_get(svc->registry);
    if (registry_apps_get(&apps, reg, svc->context, NULL) == 0)
        app_count = json_integer_value(json_object_get(registry_app_find(apps, app_id), "count"));
    registry_put(reg);
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    /* The limit's own message is not wanted here, only which one is full. */
    struct ty_error full = TY_ERROR_INIT;
    rc = check_limits(svc, st, username, app_id, app_count, which_out, &full);
    if (rc == TY_ELIMIT)
        rc = 0;
    else if (rc < 0 && err)
        *err = full;
    if (rc < 0)
        goto out;
    if (*which_out == SESSION_LIMIT_USER || *which_out == SESSION_LIMIT_APP) {
        /* The user's own live sessions (of the app, for the app's count). */
        struct store_query q;
        memset(&q, 0, sizeof(q));
        q.username = username;
        q.app_id = *which_out == SESSION_LIMIT_APP ? app_id : NULL;
        q.states = STORE_STATES_LIVE;
        q.limit = 20;
        q.skip_total = true;
        rc = store_session_list(st, &q, out, err);
    }
out:
    session_store_put(svc, st);
    return rc;
}

int session_fail(struct session_service *svc,
                 struct store *st,
                 const char *id,
                 uint32_t from_mask,
                 const char *reason,
                 const char *message,
                 struct ty_error *err)
{
    int rc;

    /* Record first, then delete: the compare-and-set decides who owns the
     * session's end, so a stale view (a launch that finished meanwhile, a stop
     * that got there first) never deletes the objects of a healthy session.  A
     * crash between the two leaves objects of a failed session, which the
     * orphan pass deletes. */
    rc = session_db_transition(svc, st, id, from_mask, STORE_STATE_FAILED, reason, message,
                               "system", 0, svc_now(svc), NULL, err);
    if (rc)
        return rc;
    (void)session_cluster_delete_all(svc, id, NULL);
    return 0;
}

/* Creates the user's claim when it does not exist; one that does must carry
 * this user's name, or the launch would mount someone else's data. */
static int users_claim_ensure(struct session_service *svc,
                              json_t *item,
                              const char *username,
                              struct ty_error *err)
{
    json_t *have = NULL;
    const char *name = kube_obj_name(item);
    int rc = kube_create(NULL, svc->kube, KUBE_PVC, svc->ns, item, err);
    if (rc != TY_EEXISTS)
        return rc;
    ty_error_clear(err);
    rc = kube_get(&have, svc->kube, KUBE_PVC, svc->ns, name, err);
    if (rc == 0) {
        const char *owner = json_string_value(
            json_object_get(json_object_get(json_object_get(have, "metadata"), "annotations"),
                            COMPOSE_ANNOTATION_USERNAME));
        if (!owner || strcmp(owner, username))
            rc = ty_error_set(err, TY_EFORBIDDEN,
                              "claim %s exists and is not %s's: it is not mounted", name, username);
    }
    json_decref(have);
    return rc;
}

/* Creates the compiled objects: the Deployment first, then the rest owned by
 * it (the user's claims excepted: they are nobody's).  Between creates the
 * row is re-read so a stop is noticed early. */
static int create_objects(struct session_service *svc,
                          struct store *st,
                          json_t *list,
                          const char *id,
                          const char *username,
                          bool *stopped_out,
                          struct ty_error *err)
{
    json_t *deploy = list_find_kind(list, "Deployment");
    json_t *created = NULL;
    const char *dname, *uid;
    size_t i;
    json_t *item;
    int rc;

    *stopped_out = false;
    if (!deploy)
        return ty_error_set(err, TY_EINVAL, "the compiled objects hold no Deployment");
    rc = kube_create(&created, svc->kube, KUBE_DEPLOYMENT, svc->ns, deploy, err);
    if (rc) {
        ty_error_wrap(err, "create deployment: ");
        return rc;
    }
    dname = kube_obj_name(created);
    uid = json_string_value(json_object_get(json_object_get(created, "metadata"), "uid"));
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        enum kube_kind kind;
        struct store_session row;
        const char *k = json_string_value(json_object_get(item, "kind"));

        if (item == deploy)
            continue;
        if (kube_kind_parse(&kind, k ? k : "", err)) {
            rc = ty_error_wrap(err, "compiled object %zu: ", i);
            goto out;
        }
        if (store_session_get(st, id, &row, NULL) == 0) {
            bool stopping = row.state != STORE_STATE_CREATING;
            store_session_cleanup(&row);
            if (stopping) {
                *stopped_out = true;
                goto out;
            }
        }
        if (is_users_claim(item)) {
            rc = users_claim_ensure(svc, item, username, err);
        } else {
            if (dname && uid)
                compose_set_owner(item, dname, uid);
            rc = kube_create(NULL, svc->kube, kind, svc->ns, item, err);
        }
        if (rc) {
            ty_error_wrap(err, "create %s %s: ", kube_kind_resource(kind),
                          kube_obj_name(item) ? kube_obj_name(item) : "?");
            goto out;
        }
    }
out:
    json_decref(created);
    return rc;
}

/* ------------------------------------------------------------------ launch */

struct launch_ctx {
    struct registry *reg;
    const json_t *entry; /* the registry's entry; NULL when it has none */
    const json_t *app;   /* what compiles: the entry, with the request's overlay */
    json_t *merged;      /* the entry with the overlay (owned) */
    struct policy_launch pl;
    struct compose_policy view; /* this launch's compiler settings (borrows the policy's) */
    char *spec, *spec_name, *env;
    size_t spec_len, env_len;
    json_t *list;
};

static void launch_ctx_cleanup(struct launch_ctx *c)
{
    registry_put(c->reg);
    json_decref(c->merged);
    free(c->spec);
    free(c->spec_name);
    free(c->env);
    json_decref(c->list);
}

/* The request's own cpu/memory/gpu in base units (-1: not asked). */
static void request_amounts(struct compose_amounts *out, double cpu, const char *memory, int gpu)
{
    out->cpu_millis = cpu > 0 ? (int64_t)(cpu * 1000.0 + 0.5) : -1;
    out->memory_bytes = -1;
    if (memory && ty_quantity_bytes(&out->memory_bytes, memory, NULL) < 0)
        out->memory_bytes = -1;
    out->gpus = gpu >= 0 ? gpu : -1;
}

/* The resources the registry's own spec gives app `entry` (read as a launch
 * of it by username would be, without the request's overrides): the range a
 * request must stay within. */
static int app_range(struct compose_resource_summary *out,
                     struct session_service *svc,
                     struct registry *reg,
                     const json_t *entry,
                     const char *app_id,
                     const char *username,
                     struct ty_error *err)
{
    struct compose_policy view = svc->policy->compose;
    struct compose_input in;
    char *spec = NULL, *name = NULL, *env = NULL;
    size_t spec_len = 0, env_len = 0;
    int rc;

    /* Reading, not launching: the policy's refusals come later. */
    view.allow_root = view.allow_privileged = true;
    view.allow_host_path = view.allow_host_network = true;
    rc = registry_app_spec_read(&spec, &spec_len, &name, reg, entry, err);
    if (rc == 0)
        rc = registry_app_env_read(&env, &env_len, reg, entry, err);
    if (rc == 0) {
        memset(&in, 0, sizeof(in));
        in.spec_text = spec;
        in.spec_len = spec_len;
        in.spec_name = name;
        in.env_text = env;
        in.env_len = env_len;
        in.env_name = ".env";
        in.read_file = read_env_file;
        in.read_payload = name;
        in.app = entry;
        in.settings = reg->settings;
        in.app_id = app_id;
        in.username = username;
        in.guid = "0";
        in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
        in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
        in.policy = &view;
        rc = compose_resources_read(out, &in, err);
    }
    if (rc)
        ty_error_wrap(err, "app %s: its registry spec: ", app_id);
    free(spec);
    free(name);
    free(env);
    return rc;
}

/* The operator's default resources for a main container the spec and the
 * request leave without any. */
static void apply_defaults(struct compose_input *in,
                           struct compose_resource_summary *sum,
                           const struct policy *pol,
                           char cpu[32],
                           char mem[32])
{
    if (pol->defaults.cpu_millis > 0 && !in->limits.cpu && sum->main_limits.cpu_millis < 0 &&
        sum->main_requests.cpu_millis < 0) {
        ty_quantity_cpu_format(cpu, 32, pol->defaults.cpu_millis);
        in->limits.cpu = in->requests.cpu = cpu;
        sum->main_limits.cpu_millis = sum->main_requests.cpu_millis = pol->defaults.cpu_millis;
        sum->total.cpu_millis =
            (sum->total.cpu_millis < 0 ? 0 : sum->total.cpu_millis) + pol->defaults.cpu_millis;
    }
    if (pol->defaults.memory_bytes > 0 && !in->limits.memory && sum->main_limits.memory_bytes < 0 &&
        sum->main_requests.memory_bytes < 0) {
        ty_quantity_bytes_format(mem, 32, pol->defaults.memory_bytes);
        in->limits.memory = in->requests.memory = mem;
        sum->main_limits.memory_bytes = sum->main_requests.memory_bytes =
            pol->defaults.memory_bytes;
        sum->total.memory_bytes = (sum->total.memory_bytes < 0 ? 0 : sum->total.memory_bytes) +
                                  pol->defaults.memory_bytes;
    }
}

static int launch_compile(struct launch_ctx *c,
                          struct session_service *svc,
                          const struct session_launch_req *req,
                          const char *id,
                          struct ty_error *err)
{
    struct compose_input in;
    struct compose_resource_summary app, sum;
    struct compose_amounts asked;
    struct policy_sched sched;
    char cpu[32], dcpu[32], dmem[32];
    int rc;

    if (req->spec_text) {
        c->spec = ty_xstrdup(req->spec_text);
        c->spec_len = strlen(c->spec);
        c->spec_name = ty_xasprintf("%s (request)", req->app_id);
        c->env = ty_xstrdup(req->env_text ? req->env_text : "");
        c->env_len = strlen(c->env);
    } else {
        rc = registry_app_spec_read(&c->spec, &c->spec_len, &c->spec_name, c->reg, c->app, err);
        if (rc)
            return ty_error_wrap(err, "app %s: spec: ", req->app_id);
        rc = registry_app_env_read(&c->env, &c->env_len, c->reg, c->app, err);
        if (rc)
            return ty_error_wrap(err, "app %s: .env: ", req->app_id);
    }
    memset(&in, 0, sizeof(in));
    in.spec_text = c->spec;
    in.spec_len = c->spec_len;
    in.spec_name = c->spec_name;
    in.env_text = c->env;
    in.env_len = c->env_len;
    in.env_name = ".env";
    /* A spec sent with the request has no folder: it reads nothing from the
     * server's disk (compose answers the same for every name). */
    in.read_file = req->spec_text ? NULL : read_env_file;
    in.read_payload = c->spec_name;
    in.app = c->app;
    in.settings = c->reg->settings;
    in.app_id = req->app_id;
    in.username = req->username;
    in.guid = id;
    in.access_token = req->access_token;
    in.host = svc->host;
    in.namespace = svc->ns;
    in.limits = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    in.requests = (struct compose_resources)COMPOSE_RESOURCES_NONE;
    if (req->cpu > 0) {
        snprintf(cpu, sizeof(cpu), "%lldm", (long long)(req->cpu * 1000.0 + 0.5));
        in.limits.cpu = in.requests.cpu = cpu;
    }
    if (req->memory)
        in.limits.memory = in.requests.memory = req->memory;
    if (req->gpu >= 0)
        in.limits.gpus = in.requests.gpus = req->gpu;
    in.policy = &c->view;

    /* Resources: the request within the app's range, the whole session within
     * the app's total and the operator's maximum. */
    if (c->entry && (rc = app_range(&app, svc, c->reg, c->entry, req->app_id, req->username, err)))
        return rc;
    if ((rc = compose_resources_read(&sum, &in, err)))
        return ty_error_wrap(err, "compile %s: ", req->app_id);
    apply_defaults(&in, &sum, svc->policy, dcpu, dmem);
    request_amounts(&asked, req->cpu, req->memory, req->gpu);
    rc = policy_resources_check(svc->policy, req->app_id, &asked, c->entry ? &app : NULL, &sum, 1,
                                err);
    if (rc)
        return ty_error_wrap(err, "launch: ");

    /* Where it runs: the policy's, its profiles' for this size, the app's. */
    policy_sched_for(&sched, svc->policy, req->app_id, &sum.total);
    in.node_selector = sched.node_selector;
    in.tolerations = sched.tolerations;
    in.priority_class = sched.priority_class;
    rc = compose_compile(&c->list, &in, err);
    policy_sched_cleanup(&sched);
    if (rc)
        return ty_error_wrap(err, "compile %s: ", req->app_id);
    return 0;
}

static int launch_validate(struct session_service *svc,
                           const struct session_launch_req *req,
                           struct ty_error *err)
{
    int64_t n;
    int rc;
    if (!req->username || !*req->username || strlen(req->username) > 256)
        return ty_error_set(err, TY_EINVAL, "launch: a username (1-256 bytes) is required");
    if (!req->app_id || !*req->app_id)
        return ty_error_set(err, TY_EINVAL, "launch: an app id is required");
    if (req->id && !is_guid(req->id))
        return ty_error_set(err, TY_EINVAL, "launch: id '%s' is not 32 lowercase hex digits",
                            req->id);
    if (req->cpu < 0 || req->cpu > 1e6)
        return ty_error_set(err, TY_EINVAL, "launch: cpu %g is out of range", req->cpu);
    if (req->memory && session_memory_parse(&n, req->memory, err))
        return ty_error_wrap(err, "launch: ");
    if (req->app_overlay && !json_is_object(req->app_overlay))
        return ty_error_set(err, TY_EINVAL, "launch: the entry overlay must be an object");
    if ((unsigned)req->role > POLICY_ROLE_ADMIN)
        return ty_error_set(err, TY_EINVAL, "launch: unknown role %d", (int)req->role);
    if ((rc = check_labels(svc->policy, req->role, req->labels, req->n_labels, false, err)))
        return ty_error_wrap(err, "launch: ");
    return 0;
}

int session_launch(struct store_session *out,
                   struct session_service *svc,
                   const struct session_launch_req *req,
                   struct ty_error *err)
{
    struct launch_ctx c;
    struct store *st = NULL;
    struct store_session row;
    struct store_limits lim = {0, 0, 0, 0};
    struct store_label *labels = NULL;
    const json_t *apps = NULL;
    json_t *deploy;
    char id[33], *objects = NULL, hash[65], *urlpath = NULL;
    const char *actor = req->actor ? req->actor : req->username;
    int64_t app_count = 0, now;
    bool inflight = false, stopped = false;
    int rc;

    memset(&c, 0, sizeof(c));
    store_session_init(&row);
    if (out)
        store_session_init(out);
    if ((rc = launch_validate(svc, req, err)))
        return rc;

    /* Resolve the app in the live registry (a reference held for the launch). */
    c.reg = registry_holder_get(svc->registry);
    rc = registry_apps_get(&apps, c.reg, svc->context, err);
    if (rc)
        goto out;
    c.entry = c.app = registry_app_find(apps, req->app_id);
    if (!c.app && !req->spec_text) {
        rc = ty_error_set(err, TY_ENOTFOUND, "unknown app '%s' in context '%s'", req->app_id,
                          svc->context);
        goto out;
    }
    /* The policy's first word, before anything is read or compiled. */
    c.pl.role = req->role;
    c.pl.username = req->username;
    c.pl.app_id = req->app_id;
    c.pl.entry = c.entry;
    c.pl.overlay = req->app_overlay;
    c.pl.spec_from_request = req->spec_text != NULL;
    if ((rc = policy_launch_check(&c.view, svc->policy, &c.pl, err))) {
        if (rc == TY_ENOTFOUND)
            ty_error_wrap(err, "context '%s': ", svc->context);
        goto out;
    }
    if (!c.view.proxy_namespace)
        c.view.proxy_namespace = svc->ns; /* the proxy's namespace, pinned */
    if (req->app_overlay) {
        /* The request's fields win over the registry's, field by field. */
        c.merged = c.app ? json_deep_copy(c.app) : json_object();
        if (!c.merged || json_object_update(c.merged, (json_t *)req->app_overlay)) {
            rc = ty_error_set(err, TY_ERR, "launch: cannot apply the entry overlay");
            goto out;
        }
        c.app = c.merged;
    }
    app_count = json_integer_value(json_object_get(c.entry, "count"));

    if ((rc = session_store_get(svc, &st, err)))
        goto out;
    /* Fail fast on a full quota before compiling; checked again at insert. */
    rc = check_limits(svc, st, req->username, req->app_id, app_count, NULL, err);
    if (rc)
        goto out;

    if (req->id)
        ty_strlcpy(id, req->id, sizeof(id));
    else
        ty_guid_new(id);
    if ((rc = launch_compile(&c, svc, req, id, err)))
        goto out;
    label_objects(c.list, id, req);
    /* The last word: what the cluster would run. */
    if ((rc = policy_objects_check(svc->policy, &c.pl, c.list, err))) {
        ty_error_wrap(err, "launch %s: ", req->app_id);
        goto out;
    }
    deploy = list_find_kind(c.list, "Deployment");
    if (!deploy || !kube_obj_name(deploy)) {
        rc = ty_error_set(err, TY_EINVAL, "compile %s: no Deployment in the output", req->app_id);
        goto out;
    }

    /* The intent: the row, before anything reaches the cluster. */
    now = svc_now(svc);
    objects = json_dumps(c.list, JSON_COMPACT);
    ty_sha256_hex(hash, c.spec, c.spec_len);
    urlpath = compose_url_path(req->app_id, req->username, id);
    row.id = id;
    row.username = (char *)req->username;
    row.app_id = (char *)req->app_id;
    row.app_name = (char *)json_string_value(json_object_get(c.app, "name"));
    row.context = svc->context;
    row.registry_commit = c.reg->commit[0] ? c.reg->commit : NULL;
    row.system_name = (char *)kube_obj_name(deploy);
    row.namespace = svc->ns;
    row.state = STORE_STATE_REQUESTED;
    row.state_reason = "launch";
    row.state_deadline_at = now + svc->creating_ms;
    deployment_resources(&row, deploy);
    row.url = ty_xasprintf("%s://%s%s", svc->protocol, svc->host, urlpath);
    row.created_at = now;
    row.spec_hash = hash;
    row.objects_json = objects;
    if (req->n_labels) {
        labels = ty_xcalloc(req->n_labels, sizeof(*labels));
        for (size_t i = 0; i < req->n_labels; i++) {
            labels[i].key = (char *)req->labels[i].key;
            labels[i].value = (char *)req->labels[i].value;
        }
    }
    row.labels = labels;
    row.n_labels = req->n_labels;
    lim.max_per_user = svc->max_per_user;
    lim.max_per_user_app = app_count > 0 ? app_count : 0;
    lim.max_global = svc->max_global;

    /* In flight before the row exists: the reconciler must never see a
     * requested/creating row of ours without the mark, or it would take the
     * launch for one interrupted by a crash. */
    session_inflight_add(svc, id);
    inflight = true;
    /* The limits and the insert in one store transaction. */
    rc = session_db_insert(svc, st, &row, &lim, actor, err);
    free(row.url);
    if (rc)
        goto out;
    rc = session_db_transition(svc, st, id, STORE_STATE_BIT(STORE_STATE_REQUESTED),
                               STORE_STATE_CREATING, "creating", NULL, actor,
                               svc_now(svc) + svc->creating_ms, svc_now(svc), NULL, err);
    if (rc == TY_ECONFLICT) {
        stopped = true;
        goto stopped;
    }
    if (rc)
        goto out;

    /* The cluster. */
    rc = create_objects(svc, st, c.list, id, req->username, &stopped, err);
    if (rc) {
        struct ty_error fe = TY_ERROR_INIT;
        int frc = session_fail(svc, st, id, STORE_STATE_BIT(STORE_STATE_CREATING), "CreateFailed",
                               err->msg, &fe);
        if (frc == TY_ECONFLICT)
            (void)session_cluster_delete_all(svc, id, NULL); /* a stop won meanwhile */
        ty_error_wrap(err, "launch %s: ", id);
        goto out;
    }
    if (!stopped) {
        now = svc_now(svc);
        rc = session_db_transition(svc, st, id, STORE_STATE_BIT(STORE_STATE_CREATING),
                                   STORE_STATE_PENDING, "created",
                                   "objects created; waiting for a ready replica", "system",
                                   now + svc->start_ms, now, NULL, err);
        if (rc == TY_ECONFLICT)
            stopped = true;
        else if (rc)
            goto out;
    }

stopped:
    if (stopped) {
        /* A stop got there first.  Its deletes may have run before our last
         * create, so delete again; the stop (or the reconciler) records the end. */
        (void)session_cluster_delete_all(svc, id, NULL);
        session_inflight_remove(svc, id);
        inflight = false;
        rc = ty_error_set(err, TY_ECONFLICT, "session %s was stopped during its launch", id);
        goto out;
    }
    if (out) {
        rc = store_session_get(st, id, out, err);
        if (rc)
            goto out;
    }

out:
    if (inflight)
        session_inflight_remove(svc, id);
    free(labels);
    free(objects);
    free(urlpath);
    session_store_put(svc, st);
    launch_ctx_cleanup(&c);
    return rc;
}

/* ------------------------------------------------------------------ stop */

int session_stop(struct session_service *svc,
                 const char *id,
                 const char *actor,
                 const char *reason,
                 struct ty_error *err)
{
    struct store *st = NULL;
    struct store_session row;
    char msg[256];
    bool gone = false;
    int rc;

    store_session_init(&row);
    if (!id || !*id)
        return ty_error_set(err, TY_EINVAL, "stop: an id is required");
    if (!actor)
        actor = "system";
    if (!reason)
        reason = "stopped";
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    snprintf(msg, sizeof(msg), "stop requested by %s", actor);
    for (int attempt = 0;; attempt++) {
        int64_t now = svc_now(svc);
        store_session_cleanup(&row);
        if ((rc = store_session_get(st, id, &row, err)))
            goto out;
        if (store_state_is_final(row.state))
            goto out; /* nothing to do */
        if (row.state == STORE_STATE_STOPPING)
            break;
        rc = session_db_transition(
            svc, st, id, STORE_STATES_LIVE & ~STORE_STATE_BIT(STORE_STATE_STOPPING),
            STORE_STATE_STOPPING, reason, msg, actor, now + svc->stopping_ms, now, NULL, err);
        if (rc == 0)
            break;
        if (rc != TY_ECONFLICT || attempt >= 8)
            goto out;
        /* The state moved under us (a launch step); read it again. */
    }
    rc = session_cluster_delete_all(svc, id, err);
    if (rc) {
        ty_error_wrap(err, "stop %s: ", id);
        rc = TY_EUPSTREAM;
        goto out;
    }
    /* A launch still running in this process cleans up after itself; the
     * reconciler records stopped once it has. */
    if (session_inflight_has(svc, id))
        goto out;
    rc = session_cluster_gone(&gone, svc, id, err);
    if (rc) {
        rc = 0; /* the deletes were sent; the reconciler checks again */
        ty_error_clear(err);
        goto out;
    }
    if (gone) {
        rc = session_db_transition(svc, st, id, STORE_STATE_BIT(STORE_STATE_STOPPING),
                                   STORE_STATE_STOPPED, reason, "every object is gone", actor, 0,
                                   svc_now(svc), NULL, err);
        if (rc == TY_ECONFLICT)
            rc = 0; /* the reconciler got there first */
    }
out:
    store_session_cleanup(&row);
    session_store_put(svc, st);
    return rc;
}

/* ------------------------------------------------------------------ modify */

static json_t *labels_patch(const struct session_modify_req *req)
{
    json_t *o = json_object();
    for (size_t i = 0; i < req->n_labels; i++)
        json_object_set_new(o, req->labels[i].key,
                            req->labels[i].value ? json_string(req->labels[i].value) : json_null());
    return o;
}

/* The labels also go on the launch's other objects (Services, Secret,
 * NetworkPolicy, PVCs), so a label query finds every piece of a session. */
static int label_others(struct session_service *svc,
                        const char *id,
                        const struct session_modify_req *req,
                        struct ty_error *err)
{
    enum kube_kind kinds[SESSION_KINDS_MAX];
    size_t nk = 0, n_all = session_kinds(kinds, svc);
    char *sel = session_guid_selector(id);
    json_t *patch = json_object(), *md = json_object();
    int rc = 0;

    /* Every kind but the Deployment (patched already) and what it runs. */
    for (size_t k = 0; k < n_all; k++)
        if (kinds[k] != KUBE_DEPLOYMENT && kinds[k] != KUBE_REPLICASET && kinds[k] != KUBE_POD)
            kinds[nk++] = kinds[k];
    json_object_set_new(md, "labels", labels_patch(req));
    json_object_set_new(patch, "metadata", md);
    for (size_t k = 0; k < nk && !rc; k++) {
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        json_t *list = NULL;
        size_t i;
        json_t *item;

        lo.label_selector = sel;
        rc = kube_list(&list, svc->kube, kinds[k], svc->ns, &lo, err);
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
            if (rc)
                break;
            rc = kube_patch_merge(NULL, svc->kube, kinds[k], svc->ns, kube_obj_name(item), patch,
                                  err);
            if (rc == TY_ENOTFOUND)
                rc = 0; /* deleted meanwhile */
        }
        if (rc)
            ty_error_wrap(err, "modify %s: label %s: ", id, kube_kind_resource(kinds[k]));
        json_decref(list);
    }
    json_decref(patch);
    free(sel);
    return rc;
}

/* A change of cpu/memory sets every container: within the app's range (its
 * registry spec, when the registry still has the app) and, times the number
 * of containers, the operator's maximum. */
static int modify_resources_check(struct session_service *svc,
                                  const struct store_session *row,
                                  const json_t *deploy,
                                  int64_t cpu_millis,
                                  int64_t mem_bytes,
                                  struct ty_error *err)
{
    struct compose_resource_summary app;
    struct compose_amounts asked = {cpu_millis > 0 ? cpu_millis : -1, mem_bytes, -1};
    struct registry *reg = registry_holder_get(svc->registry);
    const json_t *apps = NULL, *entry = NULL;
    const json_t *containers = json_object_get(
        json_object_get(json_object_get(json_object_get(deploy, "spec"), "template"), "spec"),
        "containers");
    int n = json_array_size(containers) > 0 ? (int)json_array_size(containers) : 1;
    int rc = 0;

    if (registry_apps_get(&apps, reg, svc->context, NULL) == 0)
        entry = registry_app_find(apps, row->app_id);
    if (entry)
        rc = app_range(&app, svc, reg, entry, row->app_id, row->username, err);
    if (rc == 0)
        rc = policy_resources_check(svc->policy, row->app_id, &asked, entry ? &app : NULL, NULL, n,
                                    err);
    if (rc)
        ty_error_wrap(err, "modify %s: ", row->id);
    registry_put(reg);
    return rc;
}

int session_modify(struct session_service *svc,
                   const char *id,
                   const struct session_modify_req *req,
                   struct ty_error *err)
{
    struct store *st = NULL;
    struct store_session row;
    json_t *deploy = NULL, *patch = NULL, *containers = NULL;
    int64_t cpu_millis = -1, mem_bytes = -1;
    struct ty_buf msg = TY_BUF_INIT;
    char cpu[32];
    const char *actor = req->actor ? req->actor : "system";
    int rc;

    store_session_init(&row);
    if (req->cpu < 0 || req->cpu > 1e6)
        return ty_error_set(err, TY_EINVAL, "modify: cpu %g is out of range", req->cpu);
    if (req->memory && session_memory_parse(&mem_bytes, req->memory, err))
        return ty_error_wrap(err, "modify: ");
    if ((unsigned)req->role > POLICY_ROLE_ADMIN)
        return ty_error_set(err, TY_EINVAL, "modify: unknown role %d", (int)req->role);
    if ((rc = check_labels(svc->policy, req->role, req->labels, req->n_labels, true, err)))
        return ty_error_wrap(err, "modify: ");
    if (req->cpu > 0)
        cpu_millis = (int64_t)(req->cpu * 1000.0 + 0.5);
    snprintf(cpu, sizeof(cpu), "%lldm", (long long)cpu_millis);

    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    if ((rc = store_session_get(st, id, &row, err)))
        goto out;
    if (row.state != STORE_STATE_PENDING && row.state != STORE_STATE_RUNNING) {
        rc = ty_error_set(err, TY_ECONFLICT,
                          "modify: session %s is %s (only pending or "
                          "running sessions can be modified)",
                          id, store_state_name(row.state));
        goto out;
    }

    for (int attempt = 0; attempt < 3; attempt++) {
        json_decref(deploy);
        json_decref(patch);
        deploy = patch = NULL;
        rc = kube_get(&deploy, svc->kube, KUBE_DEPLOYMENT, svc->ns, row.system_name, err);
        if (rc) {
            ty_error_wrap(err, "modify %s: ", id);
            goto out;
        }
        if (attempt == 0 && (cpu_millis > 0 || mem_bytes >= 0) &&
            (rc = modify_resources_check(svc, &row, deploy, cpu_millis, mem_bytes, err)))
            goto out;
        patch = json_object();
        json_t *md = json_object();
        json_object_set_new(md, "resourceVersion", json_string(kube_obj_resource_version(deploy)));
        /* Labels on the Deployment's metadata only: never on the pods
         * (label_objects() says why), so a rename restarts nothing. */
        if (req->n_labels)
            json_object_set_new(md, "labels", labels_patch(req));
        json_object_set_new(patch, "metadata", md);
        json_t *tmpl = json_object();
        if (cpu_millis > 0 || mem_bytes >= 0) {
            /* A merge patch replaces lists whole: send every container, changed. */
            json_t *spec = json_object_get(json_object_get(deploy, "spec"), "template");
            containers =
                json_deep_copy(json_object_get(json_object_get(spec, "spec"), "containers"));
            size_t i;
            json_t *c;
            json_array_foreach(containers, i, c)
            {
                json_t *res = json_object_get(c, "resources");
                if (!json_is_object(res)) {
                    res = json_object();
                    json_object_set_new(c, "resources", res);
                }
                const char *which[] = {"limits", "requests"};
                for (int w = 0; w < 2; w++) {
                    json_t *m = json_object_get(res, which[w]);
                    if (!json_is_object(m)) {
                        m = json_object();
                        json_object_set_new(res, which[w], m);
                    }
                    if (cpu_millis > 0)
                        json_object_set_new(m, "cpu", json_string(cpu));
                    if (mem_bytes >= 0)
                        json_object_set_new(m, "memory", json_string(req->memory));
                }
            }
            json_t *pspec = json_object();
            json_object_set_new(pspec, "containers", containers);
            containers = NULL;
            json_object_set_new(tmpl, "spec", pspec);
        }
        json_t *dspec = json_object();
        json_object_set_new(dspec, "template", tmpl);
        json_object_set_new(patch, "spec", dspec);
        rc = kube_patch_merge(NULL, svc->kube, KUBE_DEPLOYMENT, svc->ns, row.system_name, patch,
                              err);
        if (rc != TY_ECONFLICT)
            break;
    }
    if (rc) {
        ty_error_wrap(err, "modify %s: patch deployment: ", id);
        goto out;
    }
    if (req->n_labels && (rc = label_others(svc, id, req, err)))
        goto out;

    /* The record: resources and an event, then the labels (one event each). */
    {
        struct store_session_update u = STORE_SESSION_UPDATE_INIT;
        if (cpu_millis > 0) {
            u.cpu_millis = cpu_millis;
            ty_buf_printf(&msg, "cpu=%s ", cpu);
        }
        if (mem_bytes >= 0) {
            u.memory_bytes = mem_bytes;
            ty_buf_printf(&msg, "memory=%s ", req->memory);
        }
        for (size_t i = 0; i < req->n_labels; i++)
            ty_buf_printf(&msg, "label %s=%s ", req->labels[i].key,
                          req->labels[i].value ? req->labels[i].value : "(deleted)");
        if (msg.len && msg.data[msg.len - 1] == ' ')
            msg.data[--msg.len] = '\0';
        u.event_reason = "modified";
        u.event_message = msg.len ? msg.data : "no change";
        u.actor = actor;
        rc = session_db_update(svc, st, id, &u, svc_now(svc), err);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < req->n_labels; i++) {
        if (req->labels[i].value)
            rc = store_session_label_set(st, id, req->labels[i].key, req->labels[i].value, actor,
                                         svc_now(svc), err);
        else {
            rc = store_session_label_delete(st, id, req->labels[i].key, actor, svc_now(svc), err);
            if (rc == TY_ENOTFOUND)
                rc = 0;
        }
        if (rc)
            goto out;
    }
out:
    session_changed(svc); /* labels may have changed even when a later step failed */
    json_decref(deploy);
    json_decref(patch);
    json_decref(containers);
    ty_buf_cleanup(&msg);
    store_session_cleanup(&row);
    session_store_put(svc, st);
    return rc;
}

/* ------------------------------------------------------------------ reads */

int session_get(struct store_session *out,
                struct session_service *svc,
                const char *id,
                struct ty_error *err)
{
    struct store *st = NULL;
    int rc;
    store_session_init(out);
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    rc = store_session_get(st, id, out, err);
    session_store_put(svc, st);
    return rc;
}

int session_list(struct store_page *out,
                 struct session_service *svc,
                 const struct store_query *q,
                 struct ty_error *err)
{
    struct store *st = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    rc = store_session_list(st, q, out, err);
    session_store_put(svc, st);
    return rc;
}

int session_events(struct store_event **out,
                   size_t *n_out,
                   struct session_service *svc,
                   const char *id,
                   struct ty_error *err)
{
    struct store *st = NULL;
    int rc;
    *out = NULL;
    *n_out = 0;
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    rc = store_events_list(st, id, out, n_out, err);
    session_store_put(svc, st);
    return rc;
}

int session_activity(struct session_service *svc,
                     const char *id,
                     int64_t at_ms,
                     struct ty_error *err)
{
    struct store *st = NULL;
    int rc;
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    rc = store_session_touch_activity(st, id, at_ms > 0 ? at_ms : svc_now(svc), err);
    session_store_put(svc, st);
    if (rc == 0)
        session_changed(svc);
    return rc;
}

int session_cpu_active(struct session_service *svc,
                       const struct store_cpu_active *items,
                       size_t n,
                       size_t *n_updated_out,
                       struct ty_error *err)
{
    struct store *st = NULL;
    int rc;
    if (n_updated_out)
        *n_updated_out = 0;
    if (n == 0)
        return 0;
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    pthread_mutex_lock(&svc->wmu);
    rc = store_session_cpu_active(st, items, n, n_updated_out, err);
    pthread_mutex_unlock(&svc->wmu);
    session_store_put(svc, st);
    return rc;
}

int session_cull_warned(struct session_service *svc,
                        const char *id,
                        int64_t at_ms,
                        const char *message,
                        struct ty_error *err)
{
    struct store *st = NULL;
    int rc;
    if ((rc = session_store_get(svc, &st, err)))
        return rc;
    pthread_mutex_lock(&svc->wmu);
    rc =
        store_session_cull_warned(st, id, at_ms > 0 ? at_ms : svc_now(svc), message, "culler", err);
    pthread_mutex_unlock(&svc->wmu);
    session_store_put(svc, st);
    if (rc == 0)
        session_changed(svc);
    return rc;
}
