/*
 * api_server.c - the server: wiring of the services, CivetWeb glue and the
 * request pipeline.
 *
 * Start-up opens the store pool, loads the registry, picks the cluster (a
 * kubeconfig, the in-cluster service account, or - with nothing configured -
 * the simulated cluster started in-process on a loopback port, with its state
 * file beside the database), starts the session service and its reconciler,
 * then the HTTP listener.  Every request goes through one pipeline here:
 *
 *   path check -> route (404/405) -> auth (401/403) -> rate limit (429)
 *   -> body limits and strict JSON parse (400/413) -> handler -> response
 *
 * so limits, auth and error rendering are done once, not per handler.  The
 * only handler that writes to the socket itself is the SSE progress stream,
 * through api_sse_*() below.  CivetWeb types do not leave this file.
 */
#include "api/api_int.h"
#include "api/api_srv.h"
#include "kube/kube.h"
#include "kubesim/kubesim.h"
#include "registry/registry.h"
#include "session/session.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct api_route *const all_routes[] = {
    api_health_routes,   api_openapi_routes, api_apps_routes,
    api_sessions_routes, api_admin_routes,   api_tycho_routes,
    api_culler_routes,   api_ui_routes,      NULL,
};

const struct api_config *api_server_config(const struct api_server *srv)
{
    return &srv->cfg;
}
struct api_metrics *api_server_metrics(struct api_server *srv)
{
    return srv->metrics;
}
bool api_server_is_simulated(const struct api_server *srv)
{
    return srv->sim != NULL;
}
const char *api_server_cluster_url(const struct api_server *srv)
{
    return srv->cluster_url;
}
int64_t api_server_started_ms(const struct api_server *srv)
{
    return srv->started_ms;
}
int api_server_port(const struct api_server *srv)
{
    return srv ? srv->port : 0;
}

/* ---- configuration copy ------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? ty_xstrdup(s) : NULL;
}

static void config_copy(struct api_config *dst, const struct api_config *src)
{
    *dst = *src;
    dst->listen = dup_or_null(src->listen);
    dst->db = dup_or_null(src->db);
    dst->registry = dup_or_null(src->registry);
    dst->cache_dir = dup_or_null(src->cache_dir);
    dst->context = dup_or_null(src->context);
    dst->spec_branch = dup_or_null(src->spec_branch);
    dst->cluster = dup_or_null(src->cluster);
    dst->kubeconfig = dup_or_null(src->kubeconfig);
    dst->kube_context = dup_or_null(src->kube_context);
    dst->namespace_ = dup_or_null(src->namespace_);
    dst->port_file = dup_or_null(src->port_file);
    dst->public_url = dup_or_null(src->public_url);
    dst->log_level = dup_or_null(src->log_level);
    dst->proxy_user_header = dup_or_null(src->proxy_user_header);
    dst->trusted_proxies = dup_or_null(src->trusted_proxies);
    dst->token_secret = dup_or_null(src->token_secret);
    dst->bootstrap_token = dup_or_null(src->bootstrap_token);
    dst->culling = src->culling ? json_deep_copy(src->culling) : NULL;
    /* The source was checked by api_config_validate(): the copy cannot fail. */
    if (policy_copy(&dst->policy, &src->policy, NULL) < 0)
        policy_init(&dst->policy);
}

/* The label keys the culler reads (its exempt label and its per-label
 * limits) become the launch policy's culler labels: users may not set them. */
static void culler_labels(struct policy *pol, const struct reaper_policy *cp)
{
    size_t n = 0, cap = (size_t)cp->n_labels + 2;
    char **keys = ty_xcalloc(cap, sizeof(*keys));
    if (cp->exempt_label)
        keys[n++] = ty_xstrndup(cp->exempt_label, strcspn(cp->exempt_label, "="));
    for (int i = 0; i < cp->n_labels; i++)
        keys[n++] = ty_xstrndup(cp->labels[i].key, strcspn(cp->labels[i].key, "="));
    for (char **k = pol->culler_labels; k && *k; k++)
        free(*k);
    free(pol->culler_labels);
    pol->culler_labels = keys;
}

/* The culler: the policy from the config's `culling` mapping (checked when
 * the file loaded), and the reaper thread running it. */
static int culler_start(struct api_server *srv, struct ty_error *err)
{
    struct reaper_config rc;
    char d1[32], d2[32];
    int r;
    memset(&rc, 0, sizeof(rc));
    rc.svc = srv->svc;
    rc.kube = srv->kube;
    rc.namespace_name = srv->kcfg.namespace;
    rc.registry = srv->reg;
    rc.context = srv->context;
    rc.policy = &srv->cull_policy;
    r = reaper_new(&srv->reaper, &rc, err);
    if (r < 0)
        return ty_error_wrap(err, "culling: ");
    if (!srv->cull_policy.enabled) {
        ty_info("reaper", "culling is disabled");
        return 0;
    }
    ty_info("reaper", "culling every %s: idle timeout %s%s",
            ty_duration_format(d1, sizeof(d1), srv->cull_policy.interval_ms),
            ty_duration_format(d2, sizeof(d2), srv->cull_policy.global.idle_timeout_ms),
            srv->cull_policy.dry_run ? " (dry run)" : "");
    r = reaper_start(srv->reaper, err);
    return r < 0 ? ty_error_wrap(err, "culling: ") : 0;
}

bool api_addr_is_loopback(const char *addr)
{
    if (!addr)
        return false;
    if (!strcmp(addr, "localhost") || !strcmp(addr, "::1") || !strcmp(addr, "[::1]"))
        return true;
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return false;
}

/* The host part of "ADDR:PORT" / "[v6]:PORT" into out. */
static void listen_host(char *out, size_t n, const char *listen)
{
    const char *colon = strrchr(listen, ':');
    size_t len = colon ? (size_t)(colon - listen) : strlen(listen);
    if (len >= n)
        len = n - 1;
    memcpy(out, listen, len);
    out[len] = '\0';
}

/* ---- the cluster -------------------------------------------------------- */

static int cluster_setup(struct api_server *srv, struct ty_error *err)
{
    const char *mode = srv->cfg.cluster;
    int rc = 0;
    kube_config_init(&srv->kcfg);
    if (!strcmp(mode, "auto")) {
        if (srv->cfg.kubeconfig || getenv("KUBECONFIG"))
            mode = "kubeconfig";
        else if (getenv("KUBERNETES_SERVICE_HOST"))
            mode = "in-cluster";
        else
            mode = "sim";
    }
    if (!strcmp(mode, "kubeconfig")) {
        rc = kube_config_load_kubeconfig(&srv->kcfg, srv->cfg.kubeconfig, srv->cfg.kube_context,
                                         err);
        if (rc < 0)
            return ty_error_wrap(err, "cluster: ");
    } else if (!strcmp(mode, "in-cluster")) {
        rc = kube_config_load_in_cluster(&srv->kcfg, NULL, err);
        if (rc < 0)
            return ty_error_wrap(err, "cluster: ");
    } else {
        struct kubesim_opts o = KUBESIM_OPTS_INIT;
        char *state = ty_xasprintf("%s.cluster.json", srv->cfg.db);
        o.state_file = state;
        rc = kubesim_start(&srv->sim, &o, err);
        free(state);
        if (rc < 0)
            return ty_error_wrap(err, "simulated cluster: ");
        srv->kcfg.server = ty_xstrdup(kubesim_url(srv->sim));
        srv->kcfg.namespace = ty_xstrdup("default");
        srv->kcfg.source = ty_xstrdup("simulated cluster (in-process)");
        ty_warn("api",
                "no cluster configured: running the SIMULATED cluster in-process at %s "
                "(state in %s.cluster.json); apps do not really run",
                kubesim_url(srv->sim), srv->cfg.db);
    }
    if (srv->cfg.namespace_) {
        free(srv->kcfg.namespace);
        srv->kcfg.namespace = ty_xstrdup(srv->cfg.namespace_);
    }
    srv->cluster_url = ty_xstrdup(srv->kcfg.server);
    rc = kube_client_new(&srv->kube, &srv->kcfg, NULL, err);
    if (rc < 0)
        return ty_error_wrap(err, "cluster: ");
    ty_info("api", "cluster: %s at %s, namespace %s", srv->kcfg.source ? srv->kcfg.source : mode,
            srv->kcfg.server, srv->kcfg.namespace ? srv->kcfg.namespace : "default");
    return 0;
}

/* ---- store helpers ------------------------------------------------------ */

int api_server_store_get(struct api_server *srv, struct store **out, struct ty_error *err)
{
    return store_pool_get(srv->pool, out, err);
}

void api_server_store_put(struct api_server *srv, struct store *st)
{
    if (st)
        store_pool_put(srv->pool, st);
}

/* ---- response writing --------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

static void
write_resp(struct mg_connection *conn, const char *method, struct api_resp *resp, const char *allow)
{
    int status = resp->status ? resp->status : 200;
    char *body = NULL;
    size_t len = 0;
    const char *ctype = resp->content_type;
    if (resp->json) {
        body = json_dumps(resp->json, JSON_COMPACT);
        len = body ? strlen(body) : 0;
        if (!ctype)
            ctype = "application/json";
    } else if (resp->text) {
        len = resp->text_len;
    }
    struct ty_buf h = TY_BUF_INIT;
    ty_buf_printf(&h, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    if (len || resp->json || resp->text)
        ty_buf_printf(&h, "Content-Type: %s\r\n", ctype ? ctype : "text/plain; charset=utf-8");
    ty_buf_printf(&h,
                  "Content-Length: %zu\r\nCache-Control: %s\r\n"
                  "X-Content-Type-Options: nosniff\r\n",
                  len, resp->cache_control ? resp->cache_control : "no-store");
    if (resp->cache_control)
        ty_buf_puts(&h, "Vary: Authorization, Cookie, X-Tycho-User\r\n");
    if (resp->csp)
        ty_buf_printf(&h,
                      "Content-Security-Policy: %s\r\nReferrer-Policy: no-referrer\r\n"
                      "X-Frame-Options: DENY\r\n",
                      resp->csp);
    if (resp->retry_after_s > 0)
        ty_buf_printf(&h, "Retry-After: %d\r\n", resp->retry_after_s);
    if (resp->location[0])
        ty_buf_printf(&h, "Location: %s\r\n", resp->location);
    if (allow && allow[0])
        ty_buf_printf(&h, "Allow: %s\r\n", allow);
    if (status == 401)
        ty_buf_puts(&h, "WWW-Authenticate: Bearer realm=\"tycho\"\r\n");
    ty_buf_puts(&h, "\r\n");
    /* One write for head and body: two small writes meet Nagle's algorithm
     * and the client's delayed ACK, which costs ~40 ms per response. */
    if (strcmp(method, "HEAD") != 0 && len)
        ty_buf_append(&h, body ? body : resp->text, len);
    mg_write(conn, h.data, h.len);
    ty_buf_cleanup(&h);
    free(body);
}

/* ---- SSE ----------------------------------------------------------------- */

int api_sse_begin(struct api_req *req)
{
    if (req->sse_started)
        return 0;
    req->sse_started = true;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    return mg_write(req->conn, head, strlen(head)) > 0 ? 0 : -1;
}

int api_sse_event(struct api_req *req, const char *event, const json_t *data)
{
    if (api_sse_begin(req) < 0)
        return -1;
    char *s = json_dumps(data, JSON_COMPACT);
    struct ty_buf b = TY_BUF_INIT;
    ty_buf_printf(&b, "event: %s\ndata: %s\n\n", event, s ? s : "null");
    free(s);
    int rc = mg_send_chunk(req->conn, b.data, (unsigned)b.len) > 0 ? 0 : -1;
    ty_buf_cleanup(&b);
    return rc;
}

/* Ends the chunked stream so keep-alive clients see its end. */
static void sse_end(struct api_req *req)
{
    mg_write(req->conn, "0\r\n\r\n", 5);
}

int api_sse_comment(struct api_req *req, const char *comment)
{
    if (api_sse_begin(req) < 0)
        return -1;
    char line[256];
    int n = snprintf(line, sizeof(line), ": %s\n\n", comment);
    return mg_send_chunk(req->conn, line, (unsigned)n) > 0 ? 0 : -1;
}

const char *api_header(const struct api_req *req, const char *name)
{
    return mg_get_header(req->conn, name);
}

/* ---- the pipeline ------------------------------------------------------- */

static bool method_has_body(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* Reads the body, at most max bytes.  *out is new (NUL-terminated).  A body
 * over the limit is TY_ELIMIT (413). */
static int read_body(char **out,
                     size_t *len_out,
                     struct mg_connection *conn,
                     long long clen,
                     int64_t max,
                     struct ty_error *err)
{
    *out = NULL;
    *len_out = 0;
    if (clen > max)
        return ty_error_set(err, TY_ELIMIT, "request body of %lld bytes is over the limit of %lld",
                            clen, (long long)max);
    size_t cap = clen >= 0 ? (size_t)clen + 1 : 4096, len = 0;
    char *buf = ty_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if ((int64_t)cap > max + 1) {
                free(buf);
                return ty_error_set(err, TY_ELIMIT, "request body is over the limit of %lld bytes",
                                    (long long)max);
            }
            cap *= 2;
            buf = ty_xrealloc(buf, cap);
        }
        int n = mg_read(conn, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
        if ((int64_t)len > max) {
            free(buf);
            return ty_error_set(err, TY_ELIMIT, "request body is over the limit of %lld bytes",
                                (long long)max);
        }
    }
    if (clen >= 0 && (long long)len < clen) {
        free(buf);
        return ty_error_set(err, TY_EINVAL, "request body ended after %zu of %lld bytes", len,
                            clen);
    }
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}

static int parse_json_body(struct api_req *req, const struct api_config *cfg, struct ty_error *err)
{
    if (!req->body || req->body_len == 0)
        return ty_error_set(err, TY_EINVAL, "a JSON object body is required");
    const char *ct = api_header(req, "Content-Type");
    if (ct && !ty_str_has_prefix(ct, "application/json") && !strstr(ct, "+json"))
        return ty_error_set(err, TY_EINVAL, "Content-Type must be application/json, got '%.60s'",
                            ct);
    int depth = api_json_depth(req->body, req->body_len);
    if (depth > cfg->max_json_depth)
        return ty_error_set(err, TY_EINVAL, "JSON body is nested %d levels deep (limit %d)", depth,
                            cfg->max_json_depth);
    json_error_t je;
    req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!req->json)
        return ty_error_set(err, TY_EINVAL, "invalid JSON body at line %d column %d: %s", je.line,
                            je.column, je.text);
    if (!json_is_object(req->json))
        return ty_error_set(err, TY_EINVAL, "the JSON body must be an object, got %s",
                            api_json_type_name(req->json));
    return 0;
}

static int
auth_need_check(const struct api_route *r, const struct api_req *req, struct ty_error *err)
{
    if (r->auth == API_AUTH_PUBLIC)
        return 0;
    if (req->who.role == API_ROLE_NONE)
        return ty_error_set(err, TY_EAUTH,
                            "authentication required: send Authorization: "
                            "Bearer <token>");
    if (r->auth == API_AUTH_PLATFORM && req->who.role < API_ROLE_PLATFORM)
        return ty_error_set(err, TY_EFORBIDDEN, "this endpoint needs a platform or admin token");
    if (r->auth == API_AUTH_ADMIN && req->who.role < API_ROLE_ADMIN)
        return ty_error_set(err, TY_EFORBIDDEN, "this endpoint needs an admin token");
    return 0;
}

/* Takes one of the stream slots; false when all are in use. */
static bool stream_slot_take(struct api_server *srv)
{
    int n = __atomic_add_fetch(&srv->streams_open, 1, __ATOMIC_RELAXED);
    if (n <= srv->streams_max)
        return true;
    __atomic_sub_fetch(&srv->streams_open, 1, __ATOMIC_RELAXED);
    return false;
}

static int handle(struct mg_connection *conn, void *cbdata)
{
    struct api_server *srv = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int64_t t0 = ty_time_mono_ns();
    struct api_req req;
    struct api_resp resp;
    struct ty_error err = TY_ERROR_INIT;
    const struct api_route *route = NULL;
    enum api_error_style style = API_ERR_V1;
    char allow[64] = "";
    char *body = NULL;
    int rc = 0;

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.srv = srv;
    req.conn = conn;
    req.method = ri->request_method;
    req.path = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    req.query = ri->query_string;
    ty_strlcpy(req.remote_ip, ri->remote_addr, sizeof(req.remote_ip));
    if (ty_str_has_prefix(req.path, "/system/"))
        style = API_ERR_TYCHO;

    rc = api_path_check(req.path, &err);
    if (rc < 0)
        goto out;
    enum api_match m =
        api_route_find(&route, all_routes, req.method, req.path, &req, allow, sizeof(allow));
    if (m == API_MATCH_NONE) {
        rc = ty_error_set(&err, TY_ENOTFOUND, "no such endpoint: %.200s", req.path);
        goto out;
    }
    if (m == API_MATCH_PATH_ONLY) {
        rc = ty_error_set(&err, TY_EINVAL, "method %s is not allowed on %.200s (allowed: %s)",
                          req.method, req.path, allow);
        resp.status = 405;
        goto out;
    }
    req.route = route->path;
    style = route->errors;

    rc = api_auth_resolve(srv, &req, &err);
    if (rc < 0)
        goto out;
    rc = auth_need_check(route, &req, &err);
    if (rc < 0)
        goto out;
    if (route->auth != API_AUTH_PUBLIC) {
        int wait = api_ratelimit_take(srv->rl, req.who.token_id, ty_time_now_ms());
        if (wait > 0) {
            api_metrics_count_ratelimited(srv->metrics);
            resp.retry_after_s = wait;
            rc =
                ty_error_set(&err, TY_ELIMIT, "rate limit of %g requests/s exceeded; retry in %d s",
                             srv->cfg.rate_limit_per_s, wait);
            goto out;
        }
    }
    if (method_has_body(req.method)) {
        rc = read_body(&body, &req.body_len, conn, ri->content_length, srv->cfg.max_body_bytes,
                       &err);
        if (rc < 0) {
            if (rc == TY_ELIMIT)
                resp.status = 413;
            goto out;
        }
        req.body = body;
    }
    if (route->takes_json || (route->json_optional && req.body_len > 0)) {
        rc = parse_json_body(&req, &srv->cfg, &err);
        if (rc < 0)
            goto out;
    }
    if (route->is_stream && !stream_slot_take(srv)) {
        resp.status = 503;
        resp.retry_after_s = 2;
        rc = ty_error_set(&err, TY_ELIMIT,
                          "%d streams are open, the most this server keeps (each holds one of its "
                          "%d worker threads); retry later, or poll GET /v1/sessions/{id}",
                          srv->streams_max, srv->cfg.threads);
        goto out;
    }
    rc = route->fn(&req, &resp, &err);
    if (route->is_stream)
        __atomic_sub_fetch(&srv->streams_open, 1, __ATOMIC_RELAXED);
    if (rc < 0 && err.code == TY_OK)
        ty_error_set(&err, (enum ty_code)rc, "%s", "request failed");

out:
    if (req.sse_started) {
        /* The stream wrote its own response; only its end remains. */
        sse_end(&req);
        resp.status = 200;
    } else {
        if (rc < 0) {
            int forced = resp.status; /* 405 and 413 are chosen by the pipeline */
            int retry = resp.retry_after_s;
            api_error_fill(&resp, style, &err);
            if (forced)
                resp.status = forced;
            resp.retry_after_s = retry;
            if (resp.status >= 500)
                ty_errorf("api", "%s %s: %s", req.method, req.path, err.msg);
        }
        write_resp(conn, req.method, &resp, resp.status == 405 ? allow : NULL);
    }
    double secs = (double)(ty_time_mono_ns() - t0) / 1e9;
    api_metrics_observe_request(srv->metrics, req.method, route ? route->path : NULL,
                                resp.status ? resp.status : 200, secs);
    ty_debug("api", "%s %s -> %d (%.1f ms) %s", req.method, req.path,
             resp.status ? resp.status : 200, secs * 1000, req.who.user);
    json_decref(req.json);
    json_decref(resp.json);
    json_decref(resp.error_detail);
    free(resp.text);
    free(body);
    return resp.status ? resp.status : 200;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    ty_warn("http", "%s", message);
    return 1;
}

/* ---- registry refresh ----------------------------------------------------- */

/* The fetch cache (git mirrors and checkouts, http bodies): `cache_dir`, else
 * "cache" beside the database, so that in a container it lies on the data
 * volume with the database rather than under a read-only $HOME. */
static char *cache_dir_for(const struct api_config *cfg)
{
    if (cfg->cache_dir)
        return ty_xstrdup(cfg->cache_dir);
    if (!strcmp(cfg->db, ":memory:"))
        return registry_cache_dir_default();
    char *dir = ty_path_dirname(cfg->db);
    char *out = ty_path_join(dir, "cache");
    free(dir);
    return out;
}

/* Called on the holder's refresh thread after every scheduled refresh. */
static void on_registry_refresh(const struct registry_refresh_note *note, void *payload)
{
    (void)payload;
    if (note->err) {
        ty_warn("registry", "refresh failed, the previous version stays live%s%s%s: %s",
                note->old_commit[0] ? " (commit " : "", note->old_commit,
                note->old_commit[0] ? ")" : "", note->err->msg);
        return;
    }
    if (!note->changed)
        return;
    api_apps_cache_clear();
    if (strcmp(note->old_commit, note->new_commit) != 0)
        ty_info("registry", "registry changed: commit %.12s -> %.12s", note->old_commit,
                note->new_commit);
    else
        ty_info("registry", "registry changed");
}

/* ---- start / stop -------------------------------------------------------- */

static int write_port_file(const char *path, int port, struct ty_error *err)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%d\n", port);
    return ty_file_write_atomic(path, text, (size_t)n, err);
}

int api_server_start(struct api_server **out, const struct api_config *cfg, struct ty_error *err)
{
    struct api_server *srv = NULL;
    struct registry_source src;
    bool src_ok = false;
    int rc;
    *out = NULL;

    rc = api_config_validate(cfg, err);
    if (rc < 0)
        return rc;
    srv = ty_xcalloc(1, sizeof(*srv));
    config_copy(&srv->cfg, cfg);
    srv->started_ms = ty_time_now_ms();
    srv->metrics = api_metrics_new();
    srv->rl = api_ratelimit_new(cfg->rate_limit_per_s, cfg->rate_limit_burst);
    pthread_mutex_init(&srv->auth_mu, NULL);
    char host[128];
    listen_host(host, sizeof(host), cfg->listen);
    srv->listen_loopback = api_addr_is_loopback(host);

    rc = store_pool_new(&srv->pool, cfg->db, NULL, cfg->threads + 4, err);
    if (rc < 0) {
        ty_error_wrap(err, "database %s: ", cfg->db);
        goto fail;
    }
    rc = api_auth_startup_check(srv, err);
    if (rc < 0)
        goto fail;

    rc = registry_source_parse(&src, cfg->registry, err);
    if (rc < 0) {
        ty_error_wrap(err, "registry: ");
        goto fail;
    }
    src_ok = true;
    {
        struct registry_load_opts ropts = REGISTRY_LOAD_OPTS_INIT;
        char *cache = cache_dir_for(cfg);
        ropts.spec_branch = cfg->spec_branch;
        ropts.cache_dir = cache;
        rc = registry_holder_new(&srv->reg, &src, &ropts, err);
        if (rc == 0 && cfg->registry_refresh_ms > 0)
            rc = registry_holder_start(srv->reg, cfg->registry_refresh_ms, on_registry_refresh,
                                       NULL, err);
        if (rc == 0) {
            char d[32];
            ty_info("registry", "refreshed %s%s; fetch cache %s",
                    cfg->registry_refresh_ms > 0 ? "every " : "only on POST /v1/registry/reload",
                    cfg->registry_refresh_ms > 0
                        ? ty_duration_format(d, sizeof(d), cfg->registry_refresh_ms)
                        : "",
                    cache);
        }
        free(cache);
    }
    if (rc < 0) {
        ty_error_wrap(err, "registry %s: ", cfg->registry);
        goto fail;
    }
    {
        struct registry *r = registry_holder_get(srv->reg);
        for (size_t i = 0; i < r->warnings.len; i++)
            ty_warn("registry", "%s", r->warnings.items[i]);
        if (!cfg->context) {
            /* "default", else "common", else the first context of the file. */
            json_t *names = registry_context_names(r);
            const char *pick = NULL;
            size_t i;
            json_t *n;
            json_array_foreach(names, i, n) if (!strcmp(json_string_value(n), "default")) pick =
                json_string_value(n);
            json_array_foreach(names, i, n) if (!pick && !strcmp(json_string_value(n), "common"))
                pick = json_string_value(n);
            if (!pick && json_array_size(names) > 0)
                pick = json_string_value(json_array_get(names, 0));
            if (pick)
                srv->context = ty_xstrdup(pick);
            json_decref(names);
        } else {
            srv->context = ty_xstrdup(cfg->context);
        }
        const json_t *apps = NULL;
        if (srv->context && registry_apps_get(&apps, r, srv->context, err) < 0) {
            registry_put(r);
            rc = ty_error_wrap(err, "registry: ");
            goto fail;
        }
        ty_info("api", "registry %s: context %s, %zu apps%s%s", cfg->registry,
                srv->context ? srv->context : "(none)", apps ? json_object_size(apps) : 0,
                r->commit[0] ? ", commit " : "", r->commit);
        registry_put(r);
    }

    rc = cluster_setup(srv, err);
    if (rc < 0)
        goto fail;
    /* The culling policy first: its labels are part of the launch policy. */
    rc = reaper_policy_parse(&srv->cull_policy, srv->cfg.culling, NULL, err);
    if (rc < 0) {
        ty_error_wrap(err, "culling: ");
        goto fail;
    }
    culler_labels(&srv->cfg.policy, &srv->cull_policy);

    struct session_config sc = SESSION_CONFIG_INIT;
    sc.registry = srv->reg;
    sc.kube = srv->kube;
    sc.context = srv->context;
    sc.start_deadline_ms = cfg->start_deadline_ms;
    sc.creating_deadline_ms = cfg->creating_deadline_ms;
    sc.stopping_deadline_ms = cfg->stopping_deadline_ms;
    sc.running_check_ms = cfg->running_check_ms;
    sc.resync_ms = cfg->resync_ms;
    sc.watch_stall_ms = cfg->watch_stall_ms;
    sc.tick_ms = cfg->tick_ms;
    sc.orphan_policy = (enum session_orphan_policy)cfg->orphan_policy;
    sc.max_per_user = cfg->max_per_user;
    sc.max_global = cfg->max_global;
    sc.store_path = cfg->db;
    sc.namespace_name = srv->kcfg.namespace;
    sc.policy = &srv->cfg.policy;
    if (cfg->public_url) {
        if (ty_str_has_prefix(cfg->public_url, "http://")) {
            sc.protocol = "http";
            sc.host = cfg->public_url + 7;
        } else if (ty_str_has_prefix(cfg->public_url, "https://")) {
            sc.protocol = "https";
            sc.host = cfg->public_url + 8;
        } else {
            sc.host = cfg->public_url;
        }
    }
    rc = session_service_new(&srv->svc, &sc, err);
    if (rc < 0) {
        ty_error_wrap(err, "sessions: ");
        goto fail;
    }
    {
        char d[5][32];
        ty_info("api",
                "sessions: orphans %s; deadlines creating %s, start %s, stopping %s; resync %s, "
                "tick %s",
                session_orphan_policy_name(sc.orphan_policy),
                ty_duration_format(d[0], sizeof(d[0]), sc.creating_deadline_ms),
                ty_duration_format(d[1], sizeof(d[1]), sc.start_deadline_ms),
                ty_duration_format(d[2], sizeof(d[2]), sc.stopping_deadline_ms),
                ty_duration_format(d[3], sizeof(d[3]), sc.resync_ms),
                ty_duration_format(d[4], sizeof(d[4]), sc.tick_ms));
    }
    rc = session_reconciler_start(srv->svc, err);
    if (rc < 0) {
        ty_error_wrap(err, "reconciler: ");
        goto fail;
    }
    rc = culler_start(srv, err);
    if (rc < 0)
        goto fail;
    rc = api_kevents_start(&srv->kevents, srv->kube, srv->kcfg.namespace, err);
    if (rc < 0)
        goto fail;

    char threads[16], timeout[16], hdr[16];
    srv->streams_max = cfg->threads - (cfg->threads / 4 > 1 ? cfg->threads / 4 : 1);
    snprintf(threads, sizeof(threads), "%d", cfg->threads);
    snprintf(timeout, sizeof(timeout), "%d", cfg->request_timeout_ms);
    snprintf(hdr, sizeof(hdr), "%d", cfg->max_header_bytes);
    const char *opts[] = {"listening_ports",
                          cfg->listen,
                          "num_threads",
                          threads,
                          "request_timeout_ms",
                          timeout,
                          "max_request_size",
                          hdr,
                          "enable_keep_alive",
                          "yes",
                          "keep_alive_timeout_ms",
                          "15000",
                          NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.log_message = log_message;
    mg_init_library(0);
    srv->mg_inited = true;
    srv->ctx = mg_start(&cb, srv, opts);
    if (!srv->ctx) {
        rc = ty_error_set(err, TY_ERR, "cannot listen on %s (address in use or invalid)",
                          cfg->listen);
        goto fail;
    }
    mg_set_request_handler(srv->ctx, "/", handle, srv);
    struct mg_server_port ports[4];
    int np = mg_get_server_ports(srv->ctx, 4, ports);
    srv->port = np > 0 ? ports[0].port : 0;
    if (cfg->port_file) {
        rc = write_port_file(cfg->port_file, srv->port, err);
        if (rc < 0)
            goto fail;
    }
    if (src_ok)
        registry_source_cleanup(&src);
    *out = srv;
    return 0;
fail:
    if (src_ok)
        registry_source_cleanup(&src);
    api_server_stop(srv);
    return rc < 0 ? rc : TY_ERR;
}

void api_server_stop(struct api_server *srv)
{
    if (!srv)
        return;
    registry_holder_stop(srv->reg); /* no fetch starts while the rest stops */
    if (srv->ctx)
        mg_stop(srv->ctx);
    if (srv->mg_inited)
        mg_exit_library();
    api_kevents_stop(srv->kevents); /* the streams that read it have ended */
    srv->kevents = NULL;
    if (srv->svc) {
        reaper_free(srv->reaper);
        srv->reaper = NULL;
        session_reconciler_stop(srv->svc);
        session_service_free(srv->svc);
    }
    reaper_policy_cleanup(&srv->cull_policy);

    if (srv->kube)
        kube_client_free(srv->kube);
    kube_config_cleanup(&srv->kcfg);
    if (srv->sim)
        kubesim_stop(srv->sim);
    api_apps_cache_clear();
    registry_holder_free(srv->reg);
    api_auth_cleanup(srv);
    store_pool_free(srv->pool);
    api_ratelimit_free(srv->rl);
    api_metrics_free(srv->metrics);
    pthread_mutex_destroy(&srv->auth_mu);
    free(srv->cluster_url);
    free(srv->context);
    api_config_cleanup(&srv->cfg);
    free(srv);
}
