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
 * details from the cluster's Services.  /system/start's registry-derived keys
 * (services, conn_string, security_context, ...) become the launch's
 * registry-entry overlay (session_launch_req.app_overlay), type-checked here.
 */
#include "api/api_srv.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/slug.h"
#include "util/str.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
    q.with_labels = true; /* the workspace name */
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
            /* The owner's name for it (Appstore renames through the `app-name`
             * label); nothing the server trusts reads that label. */
            const char *ws = s->app_id;
            for (size_t l = 0; l < s->n_labels; l++)
                if (!strcmp(s->labels[l].key, "app-name"))
                    ws = s->labels[l].value;
            json_object_set_new(row, "workspace_name", json_string(ws));
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
    {"proxy_rewrite", API_J_OBJECT, false, true},
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

/* ---- the registry-entry overlay of /system/start ---------------------------
 *
 * Appstore computes these keys from the app's registry entry and sends them
 * with the launch; they map to the entry fields the compose compiler reads
 * (docs/compat.md, "HTTP API"):
 *
 *   serviceaccount    -> serviceAccount
 *   services          -> services {container: port}
 *   conn_string       -> conn_string
 *   security_context  -> securityContext
 *   proxy_rewrite     -> proxy-rewrite {enabled, target}
 *   gitea_integration -> gitea-integration
 *
 * A request value replaces the registry's (null: the registry's stays).
 * init_resources has no counterpart (the init container's resources are the
 * server's compose policy) and is accepted without effect, as documented. */

static const struct api_field start_service_fields[] = {
    {"port", API_J_NUMBER_OR_STRING, false, true},
    {"clients", API_J_ARRAY, false, true},
    {NULL, 0, false, false},
};

static const struct api_field security_context_fields[] = {
    {"runAsUser", API_J_NUMBER_OR_STRING, false, true},
    {"runAsGroup", API_J_NUMBER_OR_STRING, false, true},
    {"fsGroup", API_J_NUMBER_OR_STRING, false, true},
    {"initRunAsUser", API_J_NUMBER_OR_STRING, false, true},
    {"initRunAsGroup", API_J_NUMBER_OR_STRING, false, true},
    {NULL, 0, false, false},
};

static const struct api_field proxy_rewrite_fields[] = {
    {"enabled", API_J_BOOL, false, true},
    {"target", API_J_STRING, false, true},
    {NULL, 0, false, false},
};

/* A port: an integer or a decimal string in 1..65535 (null: none). */
static int overlay_port(json_t **out, const json_t *v, const char *where, struct ty_error *err)
{
    int64_t n;
    *out = NULL;
    if (!v || json_is_null(v)) {
        *out = json_null();
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535) {
        *out = json_integer(json_integer_value(v));
        return 0;
    }
    if (json_is_string(v) && !ty_str_to_i64(json_string_value(v), 1, 65535, &n)) {
        *out = json_integer(n);
        return 0;
    }
    if (json_is_string(v))
        return ty_error_set(err, TY_EINVAL, "%s must be a port number (1-65535), got \"%.40s\"",
                            where, json_string_value(v));
    return ty_error_set(err, TY_EINVAL, "%s must be a port number (1-65535), got %s", where,
                        api_json_type_name(v));
}

/* services {container: {port, clients}} (Tycho's request form) or
 * {container: port} (the registry's) -> the registry's {container: port}. */
static int overlay_services(json_t **out,
                            const json_t *services,
                            const json_t *spec_services,
                            struct ty_error *err)
{
    json_t *map = json_object();
    const char *k;
    json_t *v;
    char where[200];
    int rc = 0;
    *out = NULL;
    json_object_foreach((json_t *)services, k, v)
    {
        json_t *port = NULL;
        snprintf(where, sizeof(where), "body.services.%.100s", k);
        if (!json_object_get(spec_services, k)) {
            rc = ty_error_set(err, TY_EINVAL, "%s: body.system.services has no service '%.100s'",
                              where, k);
            break;
        }
        if (json_is_object(v)) {
            if ((rc = api_fields_check(v, start_service_fields, where, err)) < 0)
                break;
            const json_t *clients = json_object_get(v, "clients");
            if (json_array_size(clients) > 0) {
                rc = ty_error_set(err, TY_EINVAL,
                                  "%s.clients: per-launch client ranges are not supported (the "
                                  "server's compose policy client_cidrs sets who may connect); "
                                  "send []",
                                  where);
                break;
            }
            snprintf(where, sizeof(where), "body.services.%.100s.port", k);
            rc = overlay_port(&port, json_object_get(v, "port"), where, err);
        } else if (json_is_integer(v) || json_is_string(v) || json_is_null(v)) {
            rc = overlay_port(&port, v, where, err);
        } else {
            rc = ty_error_set(err, TY_EINVAL,
                              "%s must be an object {port, clients} or a port, "
                              "got %s",
                              where, api_json_type_name(v));
        }
        if (rc < 0)
            break;
        json_object_set_new(map, k, port);
    }
    if (rc < 0) {
        json_decref(map);
        return rc;
    }
    *out = map;
    return 0;
}

/* securityContext ids: an integer or decimal string in 0..2^31-1, "" or null
 * (that id is not set).  Copied as given. */
static int overlay_security_context(json_t **out, const json_t *sc, struct ty_error *err)
{
    int64_t n;
    *out = NULL;
    int rc = api_fields_check(sc, security_context_fields, "body.security_context", err);
    if (rc < 0)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sc, k, v)
    {
        if (json_is_null(v) || (json_is_string(v) && !json_string_value(v)[0]))
            continue;
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 2147483647)
            continue;
        if (json_is_string(v) && !ty_str_to_i64(json_string_value(v), 0, 2147483647, &n))
            continue;
        if (json_is_string(v))
            return ty_error_set(err, TY_EINVAL,
                                "body.security_context.%s must be a user or group id "
                                "(0-2147483647), got \"%.40s\"",
                                k, json_string_value(v));
        return ty_error_set(err, TY_EINVAL,
                            "body.security_context.%s must be a user or group id "
                            "(0-2147483647), got %s",
                            k, api_json_type_name(v));
    }
    *out = json_deep_copy(sc);
    return 0;
}

static int overlay_proxy_rewrite(json_t **out, const json_t *pr, struct ty_error *err)
{
    *out = NULL;
    int rc = api_fields_check(pr, proxy_rewrite_fields, "body.proxy_rewrite", err);
    if (rc < 0)
        return rc;
    const char *t = json_string_value(json_object_get(pr, "target"));
    if (t && t[0] && (t[0] != '/' || strpbrk(t, " \t\r\n")))
        return ty_error_set(err, TY_EINVAL,
                            "body.proxy_rewrite.target must be a path starting with '/' "
                            "without spaces, got \"%.60s\"",
                            t);
    *out = json_pack("{s:b}", "enabled", json_is_true(json_object_get(pr, "enabled")));
    if (t && t[0])
        json_object_set_new(*out, "target", json_string(t));
    return 0;
}

/* The overlay for session_launch_req.app_overlay: a new object (possibly
 * empty), or NULL with err set naming the request field. */
static int start_overlay(json_t **out, const json_t *body, struct ty_error *err)
{
    json_t *o = json_object(), *x = NULL;
    const json_t *v;
    int rc = 0;
    *out = NULL;
    v = json_object_get(body, "serviceaccount");
    if (json_is_string(v)) {
        const char *sa = json_string_value(v);
        if (sa[0] && !ty_is_dns1123_subdomain(sa)) {
            rc = ty_error_set(err, TY_EINVAL,
                              "body.serviceaccount: '%.60s' is not a valid service account name",
                              sa);
            goto out;
        }
        json_object_set_new(o, "serviceAccount", json_string(sa));
    }
    v = json_object_get(body, "services");
    if (json_is_object(v)) {
        const json_t *spec = json_object_get(json_object_get(body, "system"), "services");
        if ((rc = overlay_services(&x, v, spec, err)) < 0)
            goto out;
        json_object_set_new(o, "services", x);
    }
    v = json_object_get(body, "conn_string");
    if (json_is_string(v)) {
        const char *cs = json_string_value(v);
        for (const unsigned char *p = (const unsigned char *)cs; *p; p++)
            if (*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#') {
                rc = ty_error_set(err, TY_EINVAL,
                                  "body.conn_string: '%.60s' cannot hold spaces, control "
                                  "characters, '?' or '#' (it ends the proxy path)",
                                  cs);
                goto out;
            }
        json_object_set_new(o, "conn_string", json_string(cs));
    }
    v = json_object_get(body, "security_context");
    if (json_is_object(v)) {
        if ((rc = overlay_security_context(&x, v, err)) < 0)
            goto out;
        json_object_set_new(o, "securityContext", x);
    }
    v = json_object_get(body, "proxy_rewrite");
    if (json_is_object(v)) {
        if ((rc = overlay_proxy_rewrite(&x, v, err)) < 0)
            goto out;
        json_object_set_new(o, "proxy-rewrite", x);
    }
    v = json_object_get(body, "gitea_integration");
    if (v && !json_is_null(v)) {
        const char *gs = json_string_value(v);
        bool on;
        if (json_is_boolean(v))
            on = json_is_true(v);
        else if (gs && (!strcasecmp(gs, "true") || !strcasecmp(gs, "false")))
            on = !strcasecmp(gs, "true");
        else {
            rc = ty_error_set(err, TY_EINVAL, "body.gitea_integration must be a boolean, got %s",
                              api_json_type_name(v));
            goto out;
        }
        json_object_set_new(o, "gitea-integration", json_boolean(on));
    }
out:
    if (rc < 0) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

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
    json_t *principal = NULL, *containers = NULL, *overlay = NULL;
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
    if ((rc = start_overlay(&overlay, req->json, err)) < 0)
        goto out;
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
    lr.role = api_policy_role(req);
    lr.username = user;
    lr.app_id = name;
    lr.gpu = -1;
    lr.spec_text = spec;
    lr.env_text = envs;
    lr.app_overlay = overlay;
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
    json_decref(overlay);
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
        struct session_modify_req mr = {cpu,   mem[0] ? mem : NULL, labels, nl,
                                        actor, api_policy_role(req)};
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
