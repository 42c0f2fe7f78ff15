/*
 * api_tycho.c - Tycho's own endpoints, for drop-in use by HeLx Appstore and
 * Tycho's command-line client: POST /system/start, /system/status,
 * /system/delete and /system/modify with Tycho's request and reply bodies
 * (tycho-reference.md sections 4 and 5):
 *
 *   {"status": "success" | "error", "result": ..., "message": "..."}
 *
 * What differs from Tycho on purpose (docs/compat.md, "HTTP API"): errors
 * carry a real HTTP status (400, 401, 403, 404, 409, 429, 502...) instead of
 * always 200, and never a Python traceback; status rows report the Service's
 * real cluster IP and port instead of 127.0.0.1:80, and creation_time is
 * zero-padded (plus an ISO 8601 `created_at`); /system/modify exists; an
 * unknown guid in /system/delete is a 404.  Sessions are read from the store
 * (the session service keeps it in step with the cluster) and the network
 * details from the cluster's Services.
 */
#include "api/api_srv.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *ok_body(json_t *result, const char *fmt, const char *arg)
{
    char msg[300];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "None");
    return json_pack("{s:s, s:o, s:s}", "status", "success", "result", result, "message", msg);
}

/* Tycho's creation_time, zero-padded: "MM-DD-YYYY HH:MM:SS" (UTC). */
static void tycho_time(char *out, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%02d-%02d-%04d %02d:%02d:%02d", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Objects of one kind labelled executor=tycho, indexed by tycho-guid:
 * {guid: [object...]}.  A cluster error gives an empty index (the rows then
 * carry null addresses) and is logged. */
static json_t *index_by_guid(struct api_server *srv, enum kube_kind kind, const char *selector)
{
    json_t *idx = json_object(), *list = NULL;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    struct ty_error e = TY_ERROR_INIT;
    lo.label_selector = selector;
    if (kube_list_all(&list, srv->kube, kind, session_service_namespace(srv->svc), &lo, &e) < 0) {
        ty_warn("api", "system/status: listing %s: %s", kube_kind_resource(kind), e.msg);
        return idx;
    }
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(list, "items"), i, o)
    {
        const char *g = json_string_value(json_object_get(
            json_object_get(json_object_get(o, "metadata"), "labels"), "tycho-guid"));
        if (!g)
            continue;
        json_t *arr = json_object_get(idx, g);
        if (!arr) {
            arr = json_array();
            json_object_set_new(idx, g, arr);
        }
        json_array_append(arr, o);
    }
    json_decref(list);
    return idx;
}

/* The first port of a Service: nodePort when it has one, else port. */
static json_t *service_port(const json_t *svc)
{
    json_t *p = json_array_get(json_object_get(json_object_get(svc, "spec"), "ports"), 0);
    json_t *np = json_object_get(p, "nodePort");
    if (json_is_integer(np))
        return json_integer(json_integer_value(np));
    json_t *port = json_object_get(p, "port");
    return json_is_integer(port) ? json_integer(json_integer_value(port)) : json_null();
}

static json_t *service_ip(const json_t *svc)
{
    const char *ip = json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP"));
    return ip && strcmp(ip, "None") != 0 ? json_string(ip) : json_null();
}

/* {container: resources.limits} of the Deployment's pod template. */
static json_t *utilization(const json_t *deploy)
{
    json_t *u = json_object();
    json_t *containers = json_object_get(
        json_object_get(json_object_get(json_object_get(deploy, "spec"), "template"), "spec"),
        "containers");
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *lim = json_object_get(json_object_get(c, "resources"), "limits");
        if (name)
            json_object_set_new(u, name, lim ? json_deep_copy(lim) : json_object());
    }
    return u;
}

/* ---- /system/status ------------------------------------------------------ */

static const struct api_field status_fields[] = {
    {"name", API_J_STRING, false, true},
    {"username", API_J_STRING, false, true},
    {NULL, 0, false, false},
};

static int status_rows(
    json_t **out, struct api_req *req, const char *guid, const char *user, struct ty_error *err)
{
    struct api_server *srv = req->srv;
    struct store_query q;
    struct store_page pg;
    memset(&q, 0, sizeof(q));
    *out = NULL;
    json_t *rows = json_array();
    q.states = STORE_STATE_BIT(STORE_STATE_REQUESTED) | STORE_STATE_BIT(STORE_STATE_CREATING) |
               STORE_STATE_BIT(STORE_STATE_PENDING) | STORE_STATE_BIT(STORE_STATE_RUNNING);
    q.username = user && user[0] ? user : NULL;
    q.limit = STORE_LIST_MAX;
    q.skip_total = true;
    json_t *svcs = index_by_guid(srv, KUBE_SERVICE, "executor=tycho");
    json_t *deps = index_by_guid(srv, KUBE_DEPLOYMENT, "executor=tycho");
    char cursor[512] = "";
    int rc = 0;
    for (;;) {
        q.cursor = cursor[0] ? cursor : NULL;
        rc = session_list(&pg, srv->svc, &q, err);
        if (rc < 0)
            break;
        for (size_t i = 0; i < pg.n; i++) {
            const struct store_session *s = &pg.items[i];
            if (guid && strcmp(s->id, guid) != 0)
                continue;
            json_t *svc = json_array_get(json_object_get(svcs, s->id), 0);
            json_t *dep = json_array_get(json_object_get(deps, s->id), 0);
            char ct[40];
            tycho_time(ct, sizeof(ct), s->created_at);
            json_t *row = json_object();
            json_object_set_new(row, "name",
                                json_string(s->system_name ? s->system_name : s->app_id));
            json_object_set_new(row, "app_id", json_string(s->app_id));
            json_object_set_new(row, "sid", json_string(s->id));
            json_object_set_new(row, "ip_address", svc ? service_ip(svc) : json_null());
            json_object_set_new(row, "port", svc ? service_port(svc) : json_null());
            json_object_set_new(row, "creation_time", json_string(ct));
            json_object_set_new(row, "created_at", api_time_json(s->created_at));
            json_object_set_new(row, "username", json_string(s->username));
            json_object_set_new(row, "utilization", dep ? utilization(dep) : json_object());
            json_object_set_new(row, "workspace_name", json_string(s->app_id));
            json_object_set_new(row, "is_ready", json_boolean(s->state == STORE_STATE_RUNNING));
            json_object_set_new(row, "state", json_string(store_state_name(s->state)));
            json_object_set_new(row, "url", s->url ? json_string(s->url) : json_null());
            json_array_append_new(rows, row);
        }
        bool more = pg.next_cursor != NULL;
        if (more)
            ty_strlcpy(cursor, pg.next_cursor, sizeof(cursor));
        store_page_cleanup(&pg);
        if (!more || guid)
            break;
    }
    json_decref(svcs);
    json_decref(deps);
    if (rc < 0) {
        json_decref(rows);
        return rc;
    }
    *out = rows;
    return 0;
}

static int system_status(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    char user[128];
    json_t *rows = NULL;
    int rc = api_fields_check(req->json, status_fields, "body", err);
    if (rc < 0)
        return rc;
    const char *name = json_string_value(json_object_get(req->json, "name"));
    const char *uname = json_string_value(json_object_get(req->json, "username"));
    /* As in Tycho, a username wins over a name. */
    if (uname && uname[0])
        name = NULL;
    rc = api_acting_user(user, sizeof(user), req, uname, false, err);
    if (rc < 0)
        return rc;
    rc = status_rows(&rows, req, name && name[0] ? name : NULL, user, err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200, ok_body(rows, "Get status for system %s", name));
    return 0;
}

/* ---- /system/start ------------------------------------------------------- */

static const struct api_field start_fields[] = {
    {"name", API_J_STRING, true, false},
    {"principal", API_J_STRING_OR_OBJECT, true, false},
    {"system", API_J_OBJECT, true, false},
    {"serviceaccount", API_J_STRING, false, true},
    {"env", API_J_OBJECT, false, true},
    {"services", API_J_OBJECT, false, true},
    {"conn_string", API_J_STRING, false, true},
    {"security_context", API_J_OBJECT, false, true},
    {"proxy_rewrite", API_J_ANY, false, true},
    {"gitea_integration", API_J_ANY, false, true},
    {"init_resources", API_J_ANY, false, true},
    {"labels", API_J_STRMAP, false, true},
    {NULL, 0, false, false},
};

static const struct api_field principal_fields[] = {
    {"username", API_J_STRING, true, false},
    {"access_token", API_J_STRING, false, true},
    {"refresh_token", API_J_STRING, false, true},
    {"host", API_J_STRING, false, true},
    {"extra_container_env", API_J_OBJECT, false, true},
    {NULL, 0, false, false},
};

/* The env object as .env text ("KEY=value" lines). */
static int env_text(char **out, const json_t *env, struct ty_error *err)
{
    struct ty_buf b = TY_BUF_INIT;
    const char *k;
    json_t *v;
    *out = NULL;
    json_object_foreach((json_t *)env, k, v)
    {
        if (!k[0] || strchr(k, '=') || strchr(k, '\n')) {
            ty_buf_cleanup(&b);
            return ty_error_set(err, TY_EINVAL, "body.env: bad variable name '%.60s'", k);
        }
        if (json_is_string(v)) {
            if (strchr(json_string_value(v), '\n')) {
                ty_buf_cleanup(&b);
                return ty_error_set(err, TY_EINVAL, "body.env.%s: values cannot hold newlines", k);
            }
            ty_buf_printf(&b, "%s=%s\n", k, json_string_value(v));
        } else if (json_is_integer(v)) {
            ty_buf_printf(&b, "%s=%lld\n", k, (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            ty_buf_printf(&b, "%s=%g\n", k, json_real_value(v));
        } else if (json_is_boolean(v)) {
            ty_buf_printf(&b, "%s=%s\n", k, json_is_true(v) ? "true" : "false");
        } else if (json_is_null(v)) {
            ty_buf_printf(&b, "%s=\n", k);
        } else {
            ty_buf_cleanup(&b);
            return ty_error_set(err, TY_EINVAL, "body.env.%s must be a scalar, got %s", k,
                                api_json_type_name(v));
        }
    }
    *out = ty_buf_detach(&b);
    return 0;
}

static int system_start(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct api_server *srv = req->srv;
    json_t *principal = NULL, *containers = NULL;
    char *spec = NULL, *envs = NULL;
    struct session_label *labels = NULL;
    size_t nl = 0;
    struct store_session s;
    char user[128], actor[160];
    int rc;
    store_session_init(&s);
    rc = api_fields_check(req->json, start_fields, "body", err);
    if (rc < 0)
        goto out;
    json_t *p = json_object_get(req->json, "principal");
    if (json_is_string(p)) {
        json_error_t je;
        principal = json_loads(json_string_value(p), JSON_REJECT_DUPLICATES, &je);
        if (!principal) {
            rc = ty_error_set(err, TY_EINVAL, "body.principal is not valid JSON: %s", je.text);
            goto out;
        }
    } else {
        principal = json_incref(p);
    }
    if ((rc = api_fields_check(principal, principal_fields, "body.principal", err)) < 0)
        goto out;
    rc = api_acting_user(user, sizeof(user), req,
                         json_string_value(json_object_get(principal, "username")), true, err);
    if (rc < 0)
        goto out;
    const char *name = json_string_value(json_object_get(req->json, "name"));
    if (!name[0] || strlen(name) > 128) {
        rc = ty_error_set(err, TY_EINVAL, "body.name must be 1-128 bytes");
        goto out;
    }
    json_t *system = json_object_get(req->json, "system");
    if (!json_is_object(json_object_get(system, "services")) ||
        json_object_size(json_object_get(system, "services")) == 0) {
        rc = ty_error_set(err, TY_EINVAL, "body.system must be a compose spec with services");
        goto out;
    }
    spec = json_dumps(system, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (json_object_get(req->json, "env") &&
        (rc = env_text(&envs, json_object_get(req->json, "env"), err)) < 0)
        goto out;
    if ((rc = api_labels_parse(&labels, &nl, json_object_get(req->json, "labels"), false,
                               "body.labels", err)) < 0)
        goto out;
    api_actor(actor, sizeof(actor), req);
    struct session_launch_req lr;
    memset(&lr, 0, sizeof(lr));
    lr.username = user;
    lr.app_id = name;
    lr.gpu = -1;
    lr.spec_text = spec;
    lr.env_text = envs;
    lr.labels = labels;
    lr.n_labels = nl;
    lr.access_token = json_string_value(json_object_get(principal, "access_token"));
    lr.actor = actor;
    rc = api_launch(&s, req, &lr, err);
    if (rc < 0)
        goto out;

    /* Tycho's reply: every container of the spec, with its Service's address. */
    json_t *svcs = index_by_guid(srv, KUBE_SERVICE, "executor=tycho");
    json_t *mine = json_object_get(svcs, s.id);
    containers = json_object();
    const char *cname;
    json_t *c;
    size_t k = 0;
    json_object_foreach(json_object_get(system, "services"), cname, c)
    {
        json_t *match = NULL, *svc;
        size_t i;
        json_array_foreach(mine, i, svc)
        {
            const char *sn =
                json_string_value(json_object_get(json_object_get(svc, "metadata"), "name"));
            if (sn && ty_str_has_prefix(sn, cname)) {
                match = svc;
                break;
            }
        }
        if (!match && k < json_array_size(mine))
            match = json_array_get(mine, k);
        json_object_set_new(containers, cname,
                            json_pack("{s:o, s:o}", "ip_address",
                                      match ? service_ip(match) : json_null(), "port-1",
                                      match ? service_port(match) : json_null()));
        k++;
    }
    json_decref(svcs);
    const char *conn = json_string_value(json_object_get(req->json, "conn_string"));
    json_t *result =
        json_pack("{s:s, s:s, s:O, s:s, s:s, s:o}", "name", s.system_name ? s.system_name : name,
                  "sid", s.id, "containers", containers, "conn_string", conn ? conn : "", "state",
                  store_state_name(s.state), "url", s.url ? json_string(s.url) : json_null());
    char msg[300];
    snprintf(msg, sizeof(msg), "Started system %s", s.system_name ? s.system_name : name);
    api_resp_json(
        resp, 200,
        json_pack("{s:s, s:o, s:s}", "status", "success", "result", result, "message", msg));
out:
    json_decref(principal);
    json_decref(containers);
    store_session_cleanup(&s);
    free(spec);
    free(envs);
    free(labels);
    return rc;
}

/* ---- /system/delete ------------------------------------------------------ */

static const struct api_field delete_fields[] = {
    {"name", API_J_STRING, true, false},
    {NULL, 0, false, false},
};

static int system_delete(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    int rc = api_fields_check(req->json, delete_fields, "body", err);
    if (rc < 0)
        return rc;
    const char *guid = json_string_value(json_object_get(req->json, "name"));
    rc = api_session_load(&s, req, guid, err);
    if (rc < 0)
        return rc;
    store_session_cleanup(&s);
    rc = api_stop(req, guid, "deleted", err);
    if (rc < 0)
        return rc;
    api_resp_json(resp, 200, ok_body(json_object(), "Deleted system %s", guid));
    return 0;
}

/* ---- /system/modify ------------------------------------------------------ */

static const struct api_field modify_fields[] = {
    {"tycho-guid", API_J_STRING, true, false},
    {"labels", API_J_OBJECT, false, true},
    {"cpu", API_J_NUMBER_OR_STRING, false, true},
    {"memory", API_J_ANY, false, true},
    {"gpu", API_J_INT, false, true},
    {NULL, 0, false, false},
};

static int system_modify(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    struct store_session s;
    struct session_label *labels = NULL;
    size_t nl = 0;
    char mem[32], actor[160];
    double cpu = 0;
    int rc = api_fields_check(req->json, modify_fields, "body", err);
    if (rc < 0)
        return rc;
    const char *guid = json_string_value(json_object_get(req->json, "tycho-guid"));
    if ((rc = api_cpu_arg(&cpu, json_object_get(req->json, "cpu"), "body.cpu", err)) < 0 ||
        (rc = api_memory_arg(mem, sizeof(mem), json_object_get(req->json, "memory"), "body.memory",
                             err)) < 0 ||
        (rc = api_labels_parse(&labels, &nl, json_object_get(req->json, "labels"), true,
                               "body.labels", err)) < 0)
        return rc;
    rc = api_session_load(&s, req, guid, err);
    if (rc < 0) {
        free(labels);
        return rc;
    }
    store_session_cleanup(&s);
    api_actor(actor, sizeof(actor), req);
    if (cpu > 0 || mem[0] || nl > 0) {
        struct session_modify_req mr = {cpu, mem[0] ? mem : NULL, labels, nl, actor};
        rc = session_modify(req->srv->svc, guid, &mr, err);
    }
    free(labels);
    if (rc < 0)
        return rc;
    /* Tycho answers with the patches it sent; ours is one merge patch. */
    json_t *patch = json_object();
    if (json_object_get(req->json, "labels"))
        json_object_set(patch, "labels", json_object_get(req->json, "labels"));
    if (cpu > 0)
        json_object_set_new(patch, "cpu", json_real(cpu));
    if (mem[0])
        json_object_set_new(patch, "memory", json_string(mem));
    api_resp_json(resp, 200,
                  json_pack("{s:s, s:{s:[o]}, s:s}", "status", "success", "result", "patches",
                            patch, "message", "Modified the system"));
    return 0;
}

const struct api_route api_tycho_routes[] = {
    {.method = "POST",
     .path = "/system/start",
     .fn = system_start,
     .auth = API_AUTH_ANY,
     .takes_json = true,
     .errors = API_ERR_TYCHO},
    {.method = "POST",
     .path = "/system/status",
     .fn = system_status,
     .auth = API_AUTH_ANY,
     .takes_json = true,
     .errors = API_ERR_TYCHO},
    {.method = "POST",
     .path = "/system/delete",
     .fn = system_delete,
     .auth = API_AUTH_ANY,
     .takes_json = true,
     .errors = API_ERR_TYCHO},
    {.method = "POST",
     .path = "/system/modify",
     .fn = system_modify,
     .auth = API_AUTH_ANY,
     .takes_json = true,
     .errors = API_ERR_TYCHO},
    {0},
};
