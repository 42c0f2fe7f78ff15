/*
 * api_sessions.c - /v1/sessions: launch, list (filters + keyset pages), get,
 * modify, stop, activity heartbeat, the event log, and the launch progress
 * stream (Server-Sent Events).
 *
 * Every change goes through the session service; reads come from it too
 * (session_get/list/events).  Authorization is decided here, per session:
 * a user token sees only sessions whose owner is its user, and another user's
 * session answers 404 exactly like a missing one, so ids cannot be probed.
 * Lists for a user token are always filtered by its username in SQL, never
 * after the fact, so paging and totals stay exact.
 */
#include "api/api_srv.h"
#include "session/session.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- JSON views --------------------------------------------------------- */

json_t *api_time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    ty_time_format_iso(buf, sizeof(buf), ms, 1);
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *api_session_json(const struct store_session *s)
{
    json_t *labels = json_object();
    for (size_t i = 0; i < s->n_labels; i++)
        json_object_set_new(labels, s->labels[i].key, json_string(s->labels[i].value));
    json_t *res = json_object();
    if (s->cpu_millis > 0)
        json_object_set_new(res, "cpu", json_real((double)s->cpu_millis / 1000.0));
    if (s->memory_bytes > 0)
        json_object_set_new(res, "memory_bytes", json_integer(s->memory_bytes));
    if (s->gpus > 0)
        json_object_set_new(res, "gpus", json_integer(s->gpus));
    if (s->ephemeral_bytes > 0)
        json_object_set_new(res, "ephemeral_bytes", json_integer(s->ephemeral_bytes));
    json_t *o = json_object();
    json_object_set_new(o, "id", str_or_null(s->id));
    json_object_set_new(o, "user", str_or_null(s->username));
    json_object_set_new(o, "app", str_or_null(s->app_id));
    json_object_set_new(o, "app_name", str_or_null(s->app_name));
    json_object_set_new(o, "system_name", str_or_null(s->system_name));
    json_object_set_new(o, "namespace", str_or_null(s->namespace));
    json_object_set_new(o, "context", str_or_null(s->context));
    json_object_set_new(o, "registry_commit", str_or_null(s->registry_commit));
    json_object_set_new(o, "state", json_string(store_state_name(s->state)));
    json_object_set_new(o, "reason", str_or_null(s->state_reason));
    json_object_set_new(o, "message", str_or_null(s->state_message));
    json_object_set_new(o, "deadline_at", api_time_json(s->state_deadline_at));
    json_object_set_new(o, "resources", res);
    json_object_set_new(o, "url", str_or_null(s->url));
    json_object_set_new(o, "created_at", api_time_json(s->created_at));
    json_object_set_new(o, "updated_at", api_time_json(s->updated_at));
    json_object_set_new(o, "ready_at", api_time_json(s->ready_at));
    json_object_set_new(o, "stopped_at", api_time_json(s->stopped_at));
    json_object_set_new(o, "last_activity_at", api_time_json(s->last_activity_at));
    json_object_set_new(o, "cpu_active_at", api_time_json(s->cpu_active_at));
    json_object_set_new(o, "cull_warned_at", api_time_json(s->cull_warned_at));
    json_object_set_new(o, "stopped_by", str_or_null(s->stopped_by));
    json_object_set_new(o, "stop_reason", str_or_null(s->stop_reason));
    json_object_set_new(o, "labels", labels);
    return o;
}

json_t *api_event_json(const struct store_event *e)
{
    return json_pack("{s:I, s:o, s:o, s:s, s:o, s:o, s:o}", "id", (json_int_t)e->id, "at",
                     api_time_json(e->at), "from",
                     e->has_from ? json_string(store_state_name(e->from)) : json_null(), "to",
                     store_state_name(e->to), "reason", str_or_null(e->reason), "message",
                     str_or_null(e->message), "actor", str_or_null(e->actor));
}

/* Loads a session the caller may see; another user's is TY_ENOTFOUND. */
int api_session_load(struct store_session *out,
                     struct api_req *req,
                     const char *id,
                     struct ty_error *err)
{
    store_session_init(out);
    if (!id || strlen(id) > 64)
        return ty_error_set(err, TY_ENOTFOUND, "no such session");
    int rc = session_get(out, req->srv->svc, id, err);
    if (rc == TY_ENOTFOUND)
        return ty_error_set(err, TY_ENOTFOUND, "no such session: %s", id);
    if (rc < 0)
        return rc;
    rc = api_may_access(req, out->username, err);
    if (rc < 0) {
        store_session_cleanup(out);
        return ty_error_set(err, TY_ENOTFOUND, "no such session: %s", id);
    }
    return 0;
}

/* "alice/launch": the actor recorded in the event log. */
void api_actor(char *out, size_t n, const struct api_req *req)
{
    const char *kind = req->who.is_anonymous ? "anonymous" : api_role_name(req->who.role);
    if (req->who.user[0])
        snprintf(out, n, "%s:%s", kind, req->who.user);
    else
        snprintf(out, n, "%s", kind);
}

enum policy_role api_policy_role(const struct api_req *req)
{
    switch (req->who.role) {
    case API_ROLE_ADMIN:
        return POLICY_ROLE_ADMIN;
    case API_ROLE_PLATFORM:
        return POLICY_ROLE_PLATFORM;
    default:
        return POLICY_ROLE_USER;
    }
}

/* ---- labels ------------------------------------------------------------- */

int api_labels_parse(struct session_label **out,
                     size_t *n_out,
                     const json_t *obj,
                     bool allow_null,
                     const char *where,
                     struct ty_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return ty_error_set(err, TY_EINVAL, "%s must be an object of strings, got %s", where,
                            api_json_type_name(obj));
    if (json_object_size(obj) > 64)
        return ty_error_set(err, TY_EINVAL, "%s: at most 64 labels", where);
    struct session_label *v = ty_xcalloc(json_object_size(obj) + 1, sizeof(*v));
    size_t n = 0;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)obj, k, x)
    {
        if (!k[0] || strlen(k) > 253) {
            free(v);
            return ty_error_set(err, TY_EINVAL, "%s: label keys must be 1-253 bytes", where);
        }
        if (json_is_null(x) && allow_null) {
            v[n].key = k;
            v[n].value = NULL;
        } else if (json_is_string(x)) {
            if (strlen(json_string_value(x)) > 1024) {
                free(v);
                return ty_error_set(err, TY_EINVAL, "%s.%s: label values are at most 1024 bytes",
                                    where, k);
            }
            v[n].key = k;
            v[n].value = json_string_value(x);
        } else {
            free(v);
            return ty_error_set(err, TY_EINVAL, "%s.%s must be a string%s, got %s", where, k,
                                allow_null ? " or null" : "", api_json_type_name(x));
        }
        n++;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* ---- resources ---------------------------------------------------------- */

/* Accepts a memory quantity as a string ("2G", "512Mi") or a number of bytes. */
int api_memory_arg(char *out, size_t n, const json_t *v, const char *where, struct ty_error *err)
{
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) <= 0)
            return ty_error_set(err, TY_EINVAL, "%s must be positive", where);
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
        return 0;
    }
    if (!json_is_string(v))
        return ty_error_set(err, TY_EINVAL, "%s must be a quantity string such as \"2G\", got %s",
                            where, api_json_type_name(v));
    const char *s = json_string_value(v);
    size_t i = 0, len = strlen(s);
    while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
        i++;
    static const char *const suffixes[] = {"",   "k",  "K",  "M",  "G",  "T",  "P", "E",
                                           "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", NULL};
    if (i == 0 || len > 24 || !ty_str_in(s + i, suffixes))
        return ty_error_set(err, TY_EINVAL,
                            "%s: '%.40s' is not a Kubernetes quantity (e.g. \"512Mi\", \"2G\")",
                            where, s);
    ty_strlcpy(out, s, n);
    return 0;
}

int api_cpu_arg(double *out, const json_t *v, const char *where, struct ty_error *err)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        double d = strtod(s, &end);
        if (end == s)
            return ty_error_set(err, TY_EINVAL, "%s: '%.40s' is not a CPU amount", where, s);
        if (!strcmp(end, "m"))
            d /= 1000.0;
        else if (*end)
            return ty_error_set(err, TY_EINVAL, "%s: '%.40s' is not a CPU amount", where, s);
        *out = d;
    } else {
        return ty_error_set(err, TY_EINVAL, "%s must be a number of cores, got %s", where,
                            api_json_type_name(v));
    }
    if (!isfinite(*out) || *out <= 0 || *out > 1024)
        return ty_error_set(err, TY_EINVAL, "%s must be between 0 and 1024 cores", where);
    return 0;
}

/* ---- launch ------------------------------------------------------------- */

static const struct api_field launch_fields[] = {
    {"app", API_J_STRING, true, false},
    {"username", API_J_STRING, false, true},
    {"cpu", API_J_NUMBER_OR_STRING, false, true},
    {"memory", API_J_ANY, false, true},
    {"gpu", API_J_INT, false, true},
    {"labels", API_J_STRMAP, false, true},
    {NULL, 0, false, false},
};

int api_launch(struct store_session *out,
               struct api_req *req,
               const struct session_launch_req *lr,
               struct ty_error *err)
{
    int64_t t0 = ty_time_mono_ns();
    int rc = session_launch(out, req->srv->svc, lr, err);
    api_metrics_observe_launch(req->srv->metrics, (double)(ty_time_mono_ns() - t0) / 1e9, rc == 0);
    if (rc == 0)
        ty_info("api", "launched %s for %s: session %s", lr->app_id, lr->username, out->id);
    return rc;
}

int api_stop(struct api_req *req, const char *id, const char *reason, struct ty_error *err)
{
    char actor[160];
    api_actor(actor, sizeof(actor), req);
    int64_t t0 = ty_time_mono_ns();
    int rc = session_stop(req->srv->svc, id, actor, reason, err);
    api_metrics_observe_stop(req->srv->metrics, (double)(ty_time_mono_ns() - t0) / 1e9, rc == 0);
    return rc;
}

/* A launch refused by a full limit of the user's own (per user, or the
 * app's count): the reply names the sessions holding the slots, in the
 * message (the first, and how to stop it) and as `error.sessions` (each as
 * GET /v1/sessions/{id} shows it), with `error.limit` saying which limit it
 * is, so a client can offer the running session instead of a bare refusal.
 * Returns TY_ELIMIT with err rewritten, or the store's error. */
static int limit_refusal(struct api_req *req,
                         struct api_resp *resp,
                         const char *user,
                         const char *app,
                         struct ty_error *err)
{
    struct store_page pg;
    enum session_limit which = SESSION_LIMIT_NONE;
    char said[sizeof(err->msg)];
    ty_strlcpy(said, err->msg, sizeof(said));
    if (session_limit_holders(&pg, &which, req->srv->svc, user, app, NULL) < 0)
        return ty_error_set(err, TY_ELIMIT, "%s", said);
    json_t *items = json_array();
    for (size_t i = 0; i < pg.n; i++)
        json_array_append_new(items, api_session_json(&pg.items[i]));
    json_decref(resp->error_detail);
    resp->error_detail =
        json_pack("{s:s, s:o}", "limit", session_limit_name(which), "sessions", items);
    if (pg.n == 1)
        ty_error_set(err, TY_ELIMIT,
                     "%s; session %s (%s) holds it: open it, or stop it (DELETE "
                     "/v1/sessions/%s) and launch again",
                     said, pg.items[0].id, store_state_name(pg.items[0].state), pg.items[0].id);
    else if (pg.n > 1)
        ty_error_set(err, TY_ELIMIT,
                     "%s; held by %zu sessions, the newest %s: stop one (DELETE "
                     "/v1/sessions/{id}) and launch again",
                     said, pg.n, pg.items[0].id);
    else
        ty_error_set(err, TY_ELIMIT, "%s", said);
    store_page_cleanup(&pg);
    return TY_ELIMIT;
}

static int sessions_create(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct session_label *labels = NULL;
    size_t nl = 0;
    struct store_session s;
    char user[128], mem[32], actor[160];
    double cpu = 0;
    int rc;
    store_session_init(&s);
    rc = api_fields_check(req->json, launch_fields, "body", err);
    if (rc < 0)
        goto out;
    rc = api_acting_user(user, sizeof(user), req,
                         json_string_value(json_object_get(req->json, "username")), true, err);
    if (rc < 0)
        goto out;
    if ((rc = api_cpu_arg(&cpu, json_object_get(req->json, "cpu"), "body.cpu", err)) < 0 ||
        (rc = api_memory_arg(mem, sizeof(mem), json_object_get(req->json, "memory"), "body.memory",
                             err)) < 0 ||
        (rc = api_labels_parse(&labels, &nl, json_object_get(req->json, "labels"), false,
                               "body.labels", err)) < 0)
        goto out;
    const json_t *gpu = json_object_get(req->json, "gpu");
    if (json_is_integer(gpu) && (json_integer_value(gpu) < 0 || json_integer_value(gpu) > 64)) {
        rc = ty_error_set(err, TY_EINVAL, "body.gpu must be between 0 and 64");
        goto out;
    }
    /* Which apps the caller may launch is the session service's to decide
     * (the launch policy), the same for every path. */
    api_actor(actor, sizeof(actor), req);
    struct session_launch_req lr;
    memset(&lr, 0, sizeof(lr));
    lr.role = api_policy_role(req);
    lr.username = user;
    lr.app_id = json_string_value(json_object_get(req->json, "app"));
    lr.cpu = cpu;
    lr.memory = mem[0] ? mem : NULL;
    lr.gpu = json_is_integer(gpu) ? (int)json_integer_value(gpu) : -1;
    lr.labels = labels;
    lr.n_labels = nl;
    lr.actor = actor;
    rc = api_launch(&s, req, &lr, err);
    if (rc == TY_ELIMIT)
        rc = limit_refusal(req, resp, user, lr.app_id, err);
    if (rc < 0)
        goto out;
    snprintf(resp->location, sizeof(resp->location), "/v1/sessions/%s", s.id);
    api_resp_json(resp, 201, api_session_json(&s));
out:
    store_session_cleanup(&s);
    free(labels);
    return rc;
}

/* ---- list ----------------------------------------------------------------- */

/* Fills q from the query string.  Label filters are "label=k=v", repeatable.
 * states: comma-separated names. */
int api_list_query(struct store_query *q,
                   struct api_list_strings *strs,
                   const struct api_req *req,
                   struct ty_error *err)
{
    char buf[256];
    char(*labels)[2][256] = strs->labels;
    int64_t limit = 0;
    int rc = api_query_int(&limit, req->query, "limit", 1, STORE_LIST_MAX, err);
    if (rc < 0)
        return rc;
    q->limit = (int)limit;
    if ((rc = api_query_get(strs->app, sizeof(strs->app), req->query, "app", err)) < 0)
        return rc;
    if (rc > 0)
        q->app_id = strs->app;
    if ((rc = api_query_get(strs->cursor, sizeof(strs->cursor), req->query, "cursor", err)) < 0)
        return rc;
    if (rc > 0)
        q->cursor = strs->cursor;
    rc = api_query_get(buf, sizeof(buf), req->query, "state", err);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            enum store_state st;
            if (!strcmp(t, "live")) {
                q->states |= STORE_STATES_LIVE;
                continue;
            }
            if (!strcmp(t, "final")) {
                q->states |= STORE_STATES_FINAL;
                continue;
            }
            if (store_state_parse(&st, t, err) < 0)
                return ty_error_set(err, TY_EINVAL,
                                    "query parameter 'state': unknown state '%.40s' (one of "
                                    "requested, creating, pending, running, stopping, stopped, "
                                    "failed, lost, or live, final)",
                                    t);
            q->states |= STORE_STATE_BIT(st);
        }
        if (!q->states)
            return ty_error_set(err, TY_EINVAL, "query parameter 'state' is empty");
    }
    /* Labels: walk the raw query for every "label" key. */
    q->n_labels = 0;
    for (const char *p = req->query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        if (plen > 6 && !strncmp(p, "label=", 6)) {
            if (q->n_labels >= STORE_QUERY_MAX_LABELS)
                return ty_error_set(err, TY_EINVAL, "at most %d label filters",
                                    STORE_QUERY_MAX_LABELS);
            char one[600];
            if (plen - 6 >= sizeof(one))
                return ty_error_set(err, TY_EINVAL, "label filter is too long");
            /* Decode through api_query_get on a one-parameter string. */
            char tmp[620];
            snprintf(tmp, sizeof(tmp), "label=%.*s", (int)(plen - 6), p + 6);
            rc = api_query_get(one, sizeof(one), tmp, "label", err);
            if (rc < 0)
                return rc;
            char *eq = strchr(one, '=');
            if (!eq || eq == one)
                return ty_error_set(err, TY_EINVAL,
                                    "query parameter 'label' must be key=value, got '%.60s'", one);
            *eq = '\0';
            if (strlen(one) > 255 || strlen(eq + 1) > 255)
                return ty_error_set(err, TY_EINVAL, "label filter key or value is too long");
            ty_strlcpy(labels[q->n_labels][0], one, 256);
            ty_strlcpy(labels[q->n_labels][1], eq + 1, 256);
            q->labels[q->n_labels].key = labels[q->n_labels][0];
            q->labels[q->n_labels].value = labels[q->n_labels][1];
            q->n_labels++;
        } else if (plen == 5 && !strncmp(p, "label", 5)) {
            return ty_error_set(err, TY_EINVAL, "query parameter 'label' must be key=value");
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return 0;
}

json_t *api_page_json(const struct store_page *pg)
{
    json_t *items = json_array();
    for (size_t i = 0; i < pg->n; i++)
        json_array_append_new(items, api_session_json(&pg->items[i]));
    return json_pack("{s:o, s:o, s:I}", "items", items, "next_cursor",
                     pg->next_cursor ? json_string(pg->next_cursor) : json_null(), "total",
                     (json_int_t)pg->total);
}

static int sessions_list(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    static const char *const allowed[] = {"limit", "cursor", "state", "app", "label", "user", NULL};
    struct store_query q;
    struct store_page pg;
    struct api_list_strings strs;
    char user[128];
    int rc;
    memset(&q, 0, sizeof(q));
    memset(&pg, 0, sizeof(pg));
    if ((rc = api_query_check(req->query, allowed, err)) < 0)
        return rc;
    if ((rc = api_query_get(user, sizeof(user), req->query, "user", err)) < 0)
        return rc;
    if ((rc = api_acting_user(user, sizeof(user), req, rc > 0 ? user : NULL, false, err)) < 0)
        return rc;
    if ((rc = api_list_query(&q, &strs, req, err)) < 0)
        return rc;
    q.username = user[0] ? user : NULL;
    q.with_labels = true;
    rc = session_list(&pg, req->srv->svc, &q, err);
    if (rc < 0) {
        if (rc == TY_EINVAL && q.cursor)
            return ty_error_set(err, TY_EINVAL, "bad cursor: %s", err->msg);
        return rc;
    }
    api_resp_json(resp, 200, api_page_json(&pg));
    store_page_cleanup(&pg);
    return 0;
}

/* ---- one session ------------------------------------------------------------ */

static int sessions_get(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    int rc = api_session_load(&s, req, api_param(req, "id"), err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200, api_session_json(&s));
    store_session_cleanup(&s);
    return 0;
}

static const struct api_field modify_fields[] = {
    {"cpu", API_J_NUMBER_OR_STRING, false, true},
    {"memory", API_J_ANY, false, true},
    {"labels", API_J_OBJECT, false, true},
    {NULL, 0, false, false},
};

static int sessions_modify(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    struct session_label *labels = NULL;
    size_t nl = 0;
    char mem[32], actor[160];
    double cpu = 0;
    const char *id = api_param(req, "id");
    int rc = api_fields_check(req->json, modify_fields, "body", err);
    if (rc < 0)
        return rc;
    if ((rc = api_cpu_arg(&cpu, json_object_get(req->json, "cpu"), "body.cpu", err)) < 0 ||
        (rc = api_memory_arg(mem, sizeof(mem), json_object_get(req->json, "memory"), "body.memory",
                             err)) < 0 ||
        (rc = api_labels_parse(&labels, &nl, json_object_get(req->json, "labels"), true,
                               "body.labels", err)) < 0)
        return rc;
    if (cpu <= 0 && !mem[0] && nl == 0) {
        free(labels);
        return ty_error_set(err, TY_EINVAL, "nothing to change: give cpu, memory or labels");
    }
    rc = api_session_load(&s, req, id, err);
    if (rc < 0) {
        free(labels);
        return rc;
    }
    store_session_cleanup(&s);
    api_actor(actor, sizeof(actor), req);
    struct session_modify_req mr = {cpu,   mem[0] ? mem : NULL, labels, nl,
                                    actor, api_policy_role(req)};
    rc = session_modify(req->srv->svc, id, &mr, err);
    free(labels);
    if (rc < 0)
        return rc;
    rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200, api_session_json(&s));
    store_session_cleanup(&s);
    return 0;
}

static int sessions_delete(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    const char *id = api_param(req, "id");
    int rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    store_session_cleanup(&s);
    rc = api_stop(req, id, req->who.role == API_ROLE_USER ? "user" : api_role_name(req->who.role),
                  err);
    if (rc < 0)
        return rc;
    rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, s.state == STORE_STATE_STOPPED ? 200 : 202, api_session_json(&s));
    store_session_cleanup(&s);
    return 0;
}

static const struct api_field activity_fields[] = {
    {"at", API_J_STRING, false, true},
    {NULL, 0, false, false},
};

static int sessions_activity(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    const char *id = api_param(req, "id");
    int64_t at = 0, now = ty_time_now_ms();
    int rc;
    if (req->json) {
        if ((rc = api_fields_check(req->json, activity_fields, "body", err)) < 0)
            return rc;
        const char *t = json_string_value(json_object_get(req->json, "at"));
        if (t && ty_time_parse_iso(t, &at) < 0)
            return ty_error_set(err, TY_EINVAL, "body.at: '%.40s' is not an RFC 3339 time", t);
        if (at > now + 60000)
            return ty_error_set(err, TY_EINVAL, "body.at is in the future");
    }
    rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    store_session_cleanup(&s);
    rc = session_activity(req->srv->svc, id, at, err);
    if (rc < 0)
        return rc;
    rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    api_resp_json(
        resp, 200,
        json_pack("{s:s, s:o}", "id", id, "last_activity_at", api_time_json(s.last_activity_at)));
    store_session_cleanup(&s);
    return 0;
}

static int sessions_events(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    struct store_event *ev = NULL;
    size_t n = 0;
    const char *id = api_param(req, "id");
    int rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    store_session_cleanup(&s);
    rc = session_events(&ev, &n, req->srv->svc, id, err);
    if (rc < 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, api_event_json(&ev[i]));
    store_events_free(ev, n);
    api_resp_json(resp, 200, json_pack("{s:s, s:o}", "id", id, "items", items));
    return 0;
}

/* ---- progress (SSE) ------------------------------------------------------- */

static int state_progress(enum store_state s)
{
    switch (s) {
    case STORE_STATE_REQUESTED:
        return 10;
    case STORE_STATE_CREATING:
        return 30;
    case STORE_STATE_PENDING:
        return 60;
    case STORE_STATE_RUNNING:
        return 100;
    default:
        return 100;
    }
}

/* Sends the Kubernetes Events about the session's pods (named
 * "<system_name>-...") that arrived since *cursor and were not sent yet (uids
 * in seen), from the server's shared Event watch: no API call per stream.
 * Returns 0, or -1 when the client left. */
static int
send_kube_events(struct api_req *req, const char *system_name, uint64_t *cursor, json_t *seen)
{
    char prefix[300];
    json_t *evs, *e;
    size_t i;
    int rc = 0;
    if (!req->srv->kevents || !system_name)
        return 0;
    snprintf(prefix, sizeof(prefix), "%s-", system_name);
    evs = api_kevents_since(req->srv->kevents, prefix, cursor);
    json_array_foreach(evs, i, e)
    {
        const char *uid = json_string_value(json_object_get(e, "uid"));
        if (!uid || json_object_get(seen, uid))
            continue;
        json_object_set_new(seen, uid, json_true());
        json_t *d =
            json_pack("{s:s, s:O?, s:O?, s:O?, s:O}", "source", "kubernetes", "type",
                      json_object_get(e, "type"), "reason", json_object_get(e, "reason"), "message",
                      json_object_get(e, "message"), "object", json_object_get(e, "object"));
        rc = api_sse_event(req, "kubernetes", d);
        json_decref(d);
        if (rc < 0)
            break;
    }
    json_decref(evs);
    return rc < 0 ? -1 : 0;
}

static int sessions_progress(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct api_server *srv = req->srv;
    const char *id = api_param(req, "id");
    struct store_session s;
    int rc = api_session_load(&s, req, id, err);
    if (rc < 0)
        return rc;
    store_session_cleanup(&s);

    json_t *seen = json_object();
    int64_t last_event = 0, started = ty_time_mono_ms(), last_send = started;
    uint64_t kube_cursor = 0, changes = 0;
    char last_msg[600] = "";
    if (api_sse_begin(req) < 0)
        goto out;
    api_sse_comment(req, "tycho progress stream");
    for (;;) {
        struct store_event *ev = NULL;
        size_t n = 0;
        if (session_events(&ev, &n, srv->svc, id, NULL) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].id <= last_event)
                continue;
            last_event = ev[i].id;
            json_t *d = api_event_json(&ev[i]);
            json_object_set_new(d, "progress", json_integer(state_progress(ev[i].to)));
            int w = api_sse_event(req, "state", d);
            json_decref(d);
            last_send = ty_time_mono_ms();
            if (w < 0) {
                store_events_free(ev, n);
                goto out;
            }
        }
        store_events_free(ev, n);
        if (session_get(&s, srv->svc, id, NULL) < 0)
            break;
        enum store_state st = s.state;
        if (!store_state_is_final(st) && s.state_message &&
            strncmp(last_msg, s.state_message, sizeof(last_msg) - 1) != 0) {
            ty_strlcpy(last_msg, s.state_message, sizeof(last_msg));
            json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "id", id, "state", store_state_name(st),
                                  "message", s.state_message, "progress", state_progress(st));
            int w = api_sse_event(req, "message", d);
            json_decref(d);
            if (w < 0) {
                store_session_cleanup(&s);
                goto out;
            }
        }
        /* The pods' Events, until the launch ends (those of the last moment too). */
        if (st == STORE_STATE_CREATING || st == STORE_STATE_PENDING || st == STORE_STATE_RUNNING) {
            if (send_kube_events(req, s.system_name, &kube_cursor, seen) < 0) {
                store_session_cleanup(&s);
                goto out;
            }
        }
        if (st == STORE_STATE_RUNNING) {
            json_t *d =
                json_pack("{s:s, s:b, s:i, s:o, s:s}", "id", id, "ready", 1, "progress", 100, "url",
                          str_or_null(s.url), "message", "the session is running");
            api_sse_event(req, "ready", d);
            json_decref(d);
            store_session_cleanup(&s);
            break;
        }
        if (store_state_is_final(st) || st == STORE_STATE_STOPPING) {
            char msg[600];
            snprintf(msg, sizeof(msg), "the session is %s%s%s", store_state_name(st),
                     s.state_message ? ": " : "", s.state_message ? s.state_message : "");
            json_t *d = json_pack("{s:s, s:b, s:b, s:s, s:o, s:s}", "id", id, "ready", 0, "failed",
                                  1, "state", store_state_name(st), "reason",
                                  str_or_null(s.state_reason), "message", msg);
            api_sse_event(req, "failed", d);
            json_decref(d);
            store_session_cleanup(&s);
            break;
        }
        store_session_cleanup(&s);
        int64_t now = ty_time_mono_ms();
        if (now - started >= srv->cfg.sse_max_ms) {
            api_sse_comment(req, "stream time limit reached; reconnect to continue");
            break;
        }
        if (now - last_send >= srv->cfg.sse_keepalive_ms) {
            if (api_sse_comment(req, "keepalive") < 0)
                break;
            last_send = now;
        }
        /* Until the session service writes something (this one or another
         * session), or a second passes (keepalives, the pods' Events); but
         * never more than five reads a second, however busy the service. */
        int64_t read_at = ty_time_mono_ms();
        changes = session_changes_wait(srv->svc, changes, 1000);
        int64_t since = ty_time_mono_ms() - read_at;
        if (since < 200)
            usleep((useconds_t)(200 - since) * 1000);
    }
out:
    json_decref(seen);
    return 0;
}

const struct api_route api_sessions_routes[] = {
    {.method = "GET", .path = "/v1/sessions", .fn = sessions_list, .auth = API_AUTH_ANY},
    {.method = "POST",
     .path = "/v1/sessions",
     .fn = sessions_create,
     .auth = API_AUTH_ANY,
     .takes_json = true},
    {.method = "GET", .path = "/v1/sessions/:id", .fn = sessions_get, .auth = API_AUTH_ANY},
    {.method = "PATCH",
     .path = "/v1/sessions/:id",
     .fn = sessions_modify,
     .auth = API_AUTH_ANY,
     .takes_json = true},
    {.method = "DELETE", .path = "/v1/sessions/:id", .fn = sessions_delete, .auth = API_AUTH_ANY},
    {.method = "POST",
     .path = "/v1/sessions/:id/activity",
     .fn = sessions_activity,
     .auth = API_AUTH_ANY,
     .json_optional = true},
    {.method = "GET",
     .path = "/v1/sessions/:id/events",
     .fn = sessions_events,
     .auth = API_AUTH_ANY},
    {.method = "GET",
     .path = "/v1/sessions/:id/progress",
     .fn = sessions_progress,
     .auth = API_AUTH_ANY,
     .is_stream = true},
    {0},
};
