/*
 * kubesim.c - life cycle and HTTP front of the simulated cluster.
 *
 * kubesim_start() builds the store (with the default namespaces), reloads the
 * state file, starts CivetWeb on a loopback port with many worker threads
 * (watches block a worker each), the controller thread and, for HTTPS, the TLS
 * front end of kubesim_tls.c.  The one request handler here does what every
 * request shares: counting, fault injection (latency, errors with
 * Retry-After, dropped connections), bearer-token auth, the /_sim/ admin
 * endpoints, reading the body, and writing the answer or streaming a watch in
 * chunks; the REST semantics live in kubesim_api.c.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/file.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (8u << 20)

static char *dup_or_null(const char *s)
{
    return s ? ty_xstrdup(s) : NULL;
}

/* ---- admin endpoints ---- */

static void admin_faults(struct kubesim *s, json_t *body, struct ks_response *resp)
{
    pthread_mutex_lock(&s->mu);
    if (body) {
        struct kubesim_faults *f = &s->faults;
        json_t *v;
        if ((v = json_object_get(body, "error_rate")) && json_is_number(v))
            f->error_rate = json_number_value(v);
        if ((v = json_object_get(body, "error_status")) && json_is_integer(v))
            f->error_status = (int)json_integer_value(v);
        if ((v = json_object_get(body, "latency_ms")) && json_is_integer(v))
            f->latency_ms = (int)json_integer_value(v);
        if ((v = json_object_get(body, "drop_rate")) && json_is_number(v))
            f->drop_rate = json_number_value(v);
        if ((v = json_object_get(body, "gone_next_watch")) && json_is_boolean(v))
            f->gone_next_watch = json_is_true(v);
        if ((v = json_object_get(body, "retry_after_s")) && json_is_integer(v))
            f->retry_after_s = (int)json_integer_value(v);
    }
    json_t *out =
        json_pack("{s:f,s:i,s:i,s:f,s:b,s:i}", "error_rate", s->faults.error_rate, "error_status",
                  s->faults.error_status, "latency_ms", s->faults.latency_ms, "drop_rate",
                  s->faults.drop_rate, "gone_next_watch", s->faults.gone_next_watch,
                  "retry_after_s", s->faults.retry_after_s);
    pthread_mutex_unlock(&s->mu);
    char *text = json_dumps(out, JSON_COMPACT);
    resp->status = 200;
    ty_buf_puts(&resp->body, text);
    free(text);
    json_decref(out);
}

static long quantity_millicores(const json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    char *end;
    double d = strtod(s, &end);
    if (end == s)
        return -1;
    if (!strcmp(end, "m"))
        return (long)d;
    if (!strcmp(end, "n"))
        return (long)(d / 1e6);
    if (!*end)
        return (long)(d * 1000);
    return -1;
}

static long quantity_bytes(const json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    char *end;
    double d = strtod(s, &end);
    static const struct {
        const char *sfx;
        double mul;
    } units[] = {{"", 1},        {"k", 1e3},        {"M", 1e6},          {"G", 1e9},
                 {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}};
    if (end == s)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].sfx))
            return (long)(d * units[i].mul);
    return -1;
}

static void admin_metrics(struct kubesim *s, json_t *body, struct ks_response *resp)
{
    const char *ns = json_string_value(json_object_get(body, "namespace"));
    const char *pod = json_string_value(json_object_get(body, "pod"));
    const char *sel = json_string_value(json_object_get(body, "labelSelector"));
    json_t *cpuv = json_object_get(body, "cpu") ? json_object_get(body, "cpu")
                                                : json_object_get(body, "millicores");
    json_t *memv = json_object_get(body, "memory") ? json_object_get(body, "memory")
                                                   : json_object_get(body, "memory_bytes");
    long cpu = cpuv ? quantity_millicores(cpuv) : 0, mem = memv ? quantity_bytes(memv) : 0;
    if (cpu < 0 || mem < 0 || (!pod && !sel)) {
        ks_status(resp, 400, "BadRequest", NULL, KS_PODS,
                  "/_sim/metrics: need pod or labelSelector, and cpu (\"12m\" or millicores) and "
                  "memory (\"64Mi\" or bytes)");
        return;
    }
    if (!ns)
        ns = "default";
    int n = 0;
    if (pod) {
        kubesim_set_pod_cpu(s, ns, pod, cpu, mem);
        n = 1;
    } else {
        struct ks_selector *ls = NULL;
        struct ty_error e = TY_ERROR_INIT;
        if (ks_selector_parse(&ls, sel, &e) != 0) {
            ks_status(resp, 400, "BadRequest", NULL, KS_PODS, "/_sim/metrics: labelSelector: %s",
                      e.msg);
            return;
        }
        pthread_mutex_lock(&s->mu);
        json_t *pods = ks_list(s, KS_PODS, ns);
        pthread_mutex_unlock(&s->mu);
        size_t i;
        json_t *p;
        json_array_foreach(pods, i, p)
        {
            if (ks_selector_match_labels(ls, ks_at(p, "metadata.labels"))) {
                kubesim_set_pod_cpu(s, ns, ks_str(p, "metadata.name"), cpu, mem);
                n++;
            }
        }
        json_decref(pods);
        ks_selector_free(ls);
    }
    resp->status = 200;
    ty_buf_printf(&resp->body, "{\"pods\":%d}", n);
}

/* ---- the HTTP handler ---- */

struct chunk_writer {
    struct mg_connection *conn;
};

static int write_chunk(void *payload, const char *data, size_t len)
{
    struct chunk_writer *w = payload;
    return mg_send_chunk(w->conn, data, (unsigned)len) > 0 ? 0 : -1;
}

static const char *header(struct mg_connection *c, const char *name)
{
    return mg_get_header(c, name);
}

static const char *status_text(int status)
{
    static const struct {
        int code;
        const char *text;
    } texts[] = {{200, "OK"},
                 {201, "Created"},
                 {202, "Accepted"},
                 {400, "Bad Request"},
                 {401, "Unauthorized"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {406, "Not Acceptable"},
                 {409, "Conflict"},
                 {410, "Gone"},
                 {413, "Request Entity Too Large"},
                 {415, "Unsupported Media Type"},
                 {422, "Unprocessable Entity"},
                 {429, "Too Many Requests"},
                 {500, "Internal Server Error"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i].code == status)
            return texts[i].text;
    return "Status";
}

static void send_response(struct mg_connection *c, struct ks_response *resp)
{
    char extra[64] = "";
    const char *reason = status_text(resp->status);
    if (resp->retry_after > 0)
        snprintf(extra, sizeof extra, "Retry-After: %d\r\n", resp->retry_after);
    /* Head and body in one write: fewer small segments on the wire. */
    struct ty_buf out = TY_BUF_INIT;
    ty_buf_printf(&out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-cache, private\r\n%s%s\r\n",
                  resp->status, reason,
                  resp->content_type ? resp->content_type : "application/json", resp->body.len,
                  extra, ty_buf_cstr(&resp->headers));
    ty_buf_append(&out, resp->body.data ? resp->body.data : "", resp->body.len);
    mg_write(c, out.data, out.len);
    ty_buf_cleanup(&out);
}

static bool dice(struct kubesim *s, double rate)
{
    if (rate <= 0)
        return false;
    return (double)(ks_rand(s) % 1000000) / 1e6 < rate;
}

/* Whether the request carries a valid token; sets *readonly for the
 * read-only one.  Without any token configured everyone is let in. */
static bool authenticate(struct kubesim *s, struct mg_connection *c, bool *readonly)
{
    const char *auth = header(c, "Authorization");
    const char *bearer = auth && ty_str_has_prefix(auth, "Bearer ") ? auth + 7 : NULL;
    *readonly = bearer && s->o.readonly_token && !strcmp(bearer, s->o.readonly_token);
    if (!s->o.token && !s->o.readonly_token)
        return true;
    return *readonly || (bearer && s->o.token && !strcmp(bearer, s->o.token));
}

/* The injected error: a Status of the configured code; 429 and 503 say
 * when to retry (header and details.retryAfterSeconds). */
static void injected_fault(const struct kubesim_faults *f, struct ks_response *resp)
{
    int code = f->error_status ? f->error_status : 500;
    const char *reason = code == 429   ? "TooManyRequests"
                         : code == 503 ? "ServiceUnavailable"
                         : code == 504 ? "Timeout"
                                       : "InternalError";
    ks_status(resp, code, reason, NULL, KS_PODS, "kubesim: injected fault (%d %s)", code, reason);
    if (code != 429 && code != 503)
        return;
    resp->retry_after = f->retry_after_s > 0 ? f->retry_after_s : 1;
    json_t *st = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    if (st) {
        json_object_set_new(st, "details",
                            json_pack("{s:i}", "retryAfterSeconds", resp->retry_after));
        ks_reply_json(resp, code, st);
    }
}

/* Reads the body (Content-Length or chunked) into *out, at most MAX_BODY
 * bytes; false (and a 413 in resp) when it is larger. */
static bool read_body(struct mg_connection *c, char **out, size_t *len, struct ks_response *resp)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    struct ty_buf b = TY_BUF_INIT;
    char tmp[8192];
    int n;
    *out = NULL;
    *len = 0;
    if (ri->content_length == 0)
        return true;
    while ((n = mg_read(c, tmp, sizeof tmp)) > 0) {
        ty_buf_append(&b, tmp, (size_t)n);
        if (b.len > MAX_BODY) {
            ty_buf_cleanup(&b);
            ks_status(resp, 413, "RequestEntityTooLarge", NULL, KS_PODS,
                      "the request body is larger than %u bytes", MAX_BODY);
            return false;
        }
    }
    *len = b.len;
    if (b.len)
        *out = ty_buf_detach(&b);
    else
        ty_buf_cleanup(&b);
    return true;
}

/* The /_sim/ endpoints: faults, metrics and stats. */
static void serve_admin(struct kubesim *s,
                        const char *method,
                        const char *path,
                        const char *body,
                        size_t blen,
                        struct ks_response *resp)
{
    json_t *jb = body ? json_loadb(body, blen, 0, NULL) : NULL;
    if (!strcmp(path, "/_sim/faults")) {
        admin_faults(s, !strcmp(method, "POST") ? jb : NULL, resp);
    } else if (!strcmp(path, "/_sim/metrics") && !strcmp(method, "POST") && json_is_object(jb)) {
        admin_metrics(s, jb, resp);
    } else if (!strcmp(path, "/_sim/compact") && !strcmp(method, "POST")) {
        pthread_mutex_lock(&s->mu);
        long rv = ks_compact(s);
        pthread_mutex_unlock(&s->mu);
        resp->status = 200;
        ty_buf_printf(&resp->body, "{\"compactedTo\":%ld}", rv);
    } else if (!strcmp(path, "/_sim/stats")) {
        pthread_mutex_lock(&s->mu);
        resp->status = 200;
        ty_buf_printf(&resp->body, "{\"requests\":%ld,\"resourceVersion\":%ld,\"watches\":%d}",
                      s->requests, s->rv, s->active_watches);
        pthread_mutex_unlock(&s->mu);
    } else {
        ks_status(resp, 404, "NotFound", NULL, KS_PODS,
                  "no such admin endpoint (GET|POST /_sim/faults, POST /_sim/metrics with a JSON "
                  "object, GET /_sim/stats, POST /_sim/compact)");
    }
    json_decref(jb);
}

/* Streams a watch in chunks.  Counted until the last chunk is out:
 * kubesim_stop() waits for it, since CivetWeb refuses writes once it is
 * stopping. */
static void stream_watch(struct kubesim *s, struct mg_connection *c, const struct ks_request *rq)
{
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n\r\n");
    struct chunk_writer w = {c};
    pthread_mutex_lock(&s->mu);
    s->active_watches++;
    pthread_mutex_unlock(&s->mu);
    ks_api_watch(s, rq, write_chunk, &w);
    mg_send_chunk(c, "", 0);
    pthread_mutex_lock(&s->mu);
    s->active_watches--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* An API request, once authenticated and with its body read. */
static void serve_api(struct kubesim *s,
                      struct mg_connection *c,
                      const char *body,
                      size_t blen,
                      bool readonly,
                      struct ks_response *resp)
{
    const struct mg_request_info *ri = mg_get_request_info(c);
    struct ks_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = ri->request_method;
    rq.path = ri->local_uri ? ri->local_uri : "/";
    ks_query_parse(&rq.q, ri->query_string);
    rq.body = body;
    rq.body_len = blen;
    rq.accept = header(c, "Accept");
    rq.content_type = header(c, "Content-Type");
    rq.readonly = readonly;
    ks_api_handle(s, &rq, resp);
    if (resp->is_watch)
        stream_watch(s, c, &rq);
    else
        send_response(c, resp);
    ks_query_free(&rq.q);
}

/* Every request: count, faults (latency, drop, error), auth, body, then the
 * admin endpoints or the API. */
static int handle(struct mg_connection *c, void *cbdata)
{
    struct kubesim *s = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(c);
    struct ks_response resp;
    char *body = NULL;
    size_t blen = 0;
    const char *path = ri->local_uri ? ri->local_uri : "/";
    bool admin = ty_str_has_prefix(path, "/_sim/"), readonly;

    memset(&resp, 0, sizeof resp);
    ty_buf_init(&resp.body);
    ty_buf_init(&resp.headers);
    resp.content_type = "application/json";

    pthread_mutex_lock(&s->mu);
    s->requests++;
    struct kubesim_faults f = s->faults;
    bool drop = !admin && dice(s, f.drop_rate);
    bool fail = !admin && !drop && dice(s, f.error_rate);
    pthread_mutex_unlock(&s->mu);

    if (!admin && f.latency_ms > 0) {
        struct timespec ts = {f.latency_ms / 1000, (long)(f.latency_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (drop) {
        /* Answer nothing: the front end closes the client's connection. */
        ks_tls_drop(s->tls, ri->remote_port);
        resp.status = 500;
        goto out;
    }
    if (!authenticate(s, c, &readonly)) {
        ks_status(&resp, 401, "Unauthorized", NULL, KS_PODS, "Unauthorized");
    } else if (fail) {
        injected_fault(&f, &resp);
    } else if (read_body(c, &body, &blen, &resp)) { /* else a 413 in resp */
        if (admin && readonly) {
            ks_status(&resp, 403, "Forbidden", NULL, KS_PODS,
                      "forbidden: User \"kubesim:readonly\" cannot use the admin endpoints");
        } else if (admin) {
            serve_admin(s, ri->request_method, path, body, blen, &resp);
        } else {
            serve_api(s, c, body, blen, readonly, &resp);
            goto out;
        }
    }
    send_response(c, &resp);
out:
    free(body);
    int status = resp.status ? resp.status : 200;
    ty_buf_cleanup(&resp.body);
    ty_buf_cleanup(&resp.headers);
    return status;
}

/* A websocket upgrade (kubectl exec, attach and port-forward try one first)
 * gets the same answer as a plain request, a Status, and no handshake: the
 * client then reports the Status instead of a malformed reply.  CivetWeb
 * hands the connection over const although it is still ours to write on. */
static int ws_connect(const struct mg_connection *c, void *cbdata)
{
    handle((struct mg_connection *)c, cbdata);
    return 1; /* no handshake; CivetWeb closes the connection */
}

/* Errors CivetWeb answers itself (a malformed request line, headers too
 * large...) get a Status body too, as everything the API server says. */
static int http_error(struct mg_connection *c, int status, const char *errmsg)
{
    struct ks_response resp;
    char msg[200];
    size_t n = 0;
    memset(&resp, 0, sizeof resp);
    /* CivetWeb's text, printable ASCII only: it may quote the request. */
    for (const char *p = errmsg ? errmsg : ""; *p && n + 1 < sizeof msg; p++)
        msg[n++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    msg[n] = 0;
    ks_status(&resp, status,
              status == 413   ? "RequestEntityTooLarge"
              : status == 404 ? "NotFound"
              : status == 405 ? "MethodNotAllowed"
              : status < 500  ? "BadRequest"
                              : "InternalError",
              NULL, KS_PODS, "%s", n ? msg : status_text(status));
    send_response(c, &resp);
    ty_buf_cleanup(&resp.body);
    ty_buf_cleanup(&resp.headers);
    return 0; /* handled */
}

static int log_message(const struct mg_connection *c, const char *msg)
{
    (void)c;
    (void)msg;
    return 1; /* deep modules never print */
}

/* ---- life cycle ---- */

struct waker {
    int port;
    atomic_bool done;
};

/* CivetWeb's master thread polls its listening socket with a 2 s timeout and
 * only then sees the stop flag; poking the port makes mg_stop() return at once. */
static void *wake_main(void *arg)
{
    struct waker *w = arg;
    while (!atomic_load(&w->done)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)w->port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd >= 0) {
            if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
                /* already closed: mg_stop is about to return */
            }
            close(fd);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void stop_civetweb(struct kubesim *s)
{
    struct waker w;
    pthread_t th;
    w.port = s->backend_port;
    atomic_init(&w.done, false);
    bool started = s->backend_port > 0 && pthread_create(&th, NULL, wake_main, &w) == 0;
    mg_stop(s->ctx);
    s->ctx = NULL;
    atomic_store(&w.done, true);
    if (started)
        pthread_join(th, NULL);
}

static void ensure_namespace(struct kubesim *s, const char *name)
{
    if (ks_get(s, KS_NAMESPACES, NULL, name))
        return;
    json_t *ns =
        json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:[s]},s:{s:s}}", "kind", "Namespace", "apiVersion",
                  "v1", "metadata", "name", name, "labels", "kubernetes.io/metadata.name", name,
                  "spec", "finalizers", "kubernetes", "status", "phase", "Active");
    ks_meta_init(s, ns);
    ks_put(s, KS_NAMESPACES, ns);
}

static int parse_listen(const char *listen, char *host, size_t hn, int *port, struct ty_error *err)
{
    const char *colon = strrchr(listen, ':');
    int64_t p;
    if (!colon || (size_t)(colon - listen) >= hn || colon == listen ||
        ty_str_to_i64(colon + 1, 0, 65535, &p) != 0)
        return ty_error_set(err, TY_EINVAL, "kubesim: --listen '%s' is not ADDR:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    *port = (int)p;
    return 0;
}

static int start_civetweb(struct kubesim *s, const char *host, int port, struct ty_error *err)
{
    char ports[300];
    snprintf(ports, sizeof ports, "%s:%d", host, port);
    /* An idle keep-alive connection and a watch each hold a worker thread. */
    const char *options[] = {"listening_ports",
                             ports,
                             "num_threads",
                             "128",
                             "enable_keep_alive",
                             "yes",
                             "keep_alive_timeout_ms",
                             "10000",
                             "request_timeout_ms",
                             "30000",
                             "tcp_nodelay",
                             "1",
                             NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = log_message;
    cb.http_error = http_error;
    s->ctx = mg_start(&cb, s, options);
    if (!s->ctx)
        return ty_error_set(err, TY_ERR,
                            "kubesim: cannot listen on %s (in use or not a local "
                            "address)",
                            ports);
    mg_set_request_handler(s->ctx, "/", handle, s);
    mg_set_websocket_handler(s->ctx, "/", ws_connect, NULL, NULL, NULL, s);
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(s->ctx, 4, sp);
    if (n < 1)
        return ty_error_set(err, TY_ERR, "kubesim: no listening port");
    s->backend_port = sp[0].port;
    return 0;
}

int kubesim_start(struct kubesim **out, const struct kubesim_opts *o, struct ty_error *err)
{
    struct kubesim *s = ty_xcalloc(1, sizeof *s);
    char host[256];
    int port = 0, rc;
    *out = NULL;

    s->o = *o;
    s->o.listen = ty_xstrdup(o->listen ? o->listen : "127.0.0.1:0");
    s->o.token = dup_or_null(o->token && *o->token ? o->token : NULL);
    s->o.state_file = dup_or_null(o->state_file);
    s->o.client_ca_file = dup_or_null(o->client_ca_file);
    s->o.fail_pull_pattern = dup_or_null(o->fail_pull_pattern);
    s->o.crash_pattern = dup_or_null(o->crash_pattern);
    s->o.unschedulable_pattern = dup_or_null(o->unschedulable_pattern);
    s->o.readonly_token =
        dup_or_null(o->readonly_token && *o->readonly_token ? o->readonly_token : NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    for (int r = 0; r < KS_NRES; r++) {
        s->objs[r] = json_object();
        s->labels[r] = json_object();
    }
    s->ev_agg = json_object();
    s->ev_recent = json_object();
    s->uids = json_object();
    s->deps = json_object();
    s->work = json_object();
    s->timed = json_object();
    s->podsim = json_object();
    s->metrics = json_object();
    s->hist_oldest = 1;
    ty_random_bytes(&s->rng, sizeof s->rng);
    s->rng |= 1;
    s->next_cluster_ip = 1;

    if ((rc = parse_listen(s->o.listen, host, sizeof host, &port, err)) != 0)
        goto fail;
    if (o->pod_schedule_ms < 0 || o->pod_start_ms < 0 || o->pod_grace_ms < 0) {
        rc = ty_error_set(err, TY_EINVAL, "kubesim: delays must not be negative");
        goto fail;
    }
    if (o->max_events < 0) {
        rc = ty_error_set(err, TY_EINVAL, "kubesim: max_events must not be negative");
        goto fail;
    }
    if (o->client_ca_file && !o->tls) {
        rc = ty_error_set(err, TY_EINVAL, "kubesim: client certificates need tls");
        goto fail;
    }
    if (s->o.state_file && (rc = ks_state_load(s, s->o.state_file, err)) != 0)
        goto fail;
    pthread_mutex_lock(&s->mu);
    ensure_namespace(s, "default");
    ensure_namespace(s, "kube-system");
    ensure_namespace(s, "kube-public");
    ensure_namespace(s, "kube-node-lease");
    pthread_mutex_unlock(&s->mu);

    mg_init_library(0);
    if (o->tls) {
        char tmpl[] = "/tmp/kubesim-XXXXXX";
        if (!mkdtemp(tmpl)) {
            rc = ty_error_set(err, TY_ERR, "kubesim: cannot make a temporary directory");
            goto fail;
        }
        s->state_dir = ty_xstrdup(tmpl);
        if ((rc = ks_tls_make_cert(&s->ca_file, &s->key_file, s->state_dir, err)) != 0)
            goto fail;
    }
    /* CivetWeb listens on an internal loopback port; the front end owns the
     * public one (TLS termination, dropped-connection faults). */
    if ((rc = start_civetweb(s, "127.0.0.1", 0, err)) != 0)
        goto fail;
    int public_port;
    if ((rc = ks_tls_start(&s->tls, host, port, s->backend_port, s->ca_file, s->key_file,
                           s->o.client_ca_file, &public_port, err)) != 0)
        goto fail;
    s->url = ty_xasprintf("%s://%s:%d", o->tls ? "https" : "http", host, public_port);
    if (pthread_create(&s->ctrl_thread, NULL, ks_ctrl_main, s) != 0) {
        rc = ty_error_set(err, TY_ERR, "kubesim: cannot start the controller thread");
        goto fail;
    }
    s->ctrl_started = true;
    *out = s;
    return 0;
fail:
    kubesim_stop(s);
    return rc;
}

const char *kubesim_url(const struct kubesim *s)
{
    return s->url;
}

const char *kubesim_ca_file(const struct kubesim *s)
{
    return s->ca_file;
}

int kubesim_write_kubeconfig(const struct kubesim *s,
                             const char *path,
                             const char *ns,
                             struct ty_error *err)
{
    struct ty_buf b = TY_BUF_INIT;
    char *ca_b64 = NULL;
    int rc;
    if (!ns)
        ns = "default";
    if (ks_check_dns1123_label(ns))
        return ty_error_set(err, TY_EINVAL, "kubesim: namespace '%s': %s", ns,
                            ks_check_dns1123_label(ns));
    if (s->ca_file) {
        char *pem = NULL;
        size_t n = 0;
        if ((rc = ty_file_read(&pem, &n, s->ca_file, 1u << 20, err)) != 0)
            return rc;
        ca_b64 = ty_base64(pem, n);
        free(pem);
    }
    /* The namespace of the context exists, so a demo can use it at once. */
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    ensure_namespace((struct kubesim *)s, ns);
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    ty_buf_printf(&b,
                  "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n"
                  "    server: %s\n",
                  s->url);
    if (ca_b64)
        ty_buf_printf(&b, "    certificate-authority-data: %s\n", ca_b64);
    ty_buf_printf(&b, "users:\n- name: kubesim\n  user:\n");
    if (s->o.token) {
        ty_buf_puts(&b, "    token: \"");
        for (const char *p = s->o.token; *p; p++) {
            if (*p == '"' || *p == '\\')
                ty_buf_putc(&b, '\\');
            ty_buf_putc(&b, *p);
        }
        ty_buf_puts(&b, "\"\n");
    } else
        ty_buf_printf(&b, "    {}\n");
    ty_buf_printf(&b,
                  "contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n"
                  "    user: kubesim\n    namespace: \"%s\"\ncurrent-context: kubesim\n",
                  ns);
    rc = ty_file_write_atomic(path, b.data, b.len, err);
    ty_buf_cleanup(&b);
    free(ca_b64);
    return rc;
}

void kubesim_set_faults(struct kubesim *s, const struct kubesim_faults *f)
{
    pthread_mutex_lock(&s->mu);
    if (f)
        s->faults = *f;
    else
        memset(&s->faults, 0, sizeof s->faults);
    pthread_mutex_unlock(&s->mu);
}

int kubesim_set_pod_cpu(
    struct kubesim *s, const char *ns, const char *pod, long millicores, long memory_bytes)
{
    char key[600];
    if (millicores < 0 || memory_bytes < 0 || !ns || !pod)
        return TY_EINVAL;
    snprintf(key, sizeof key, "%s/%s", ns, pod);
    pthread_mutex_lock(&s->mu);
    json_object_set_new(s->metrics, key,
                        json_pack("[II]", (json_int_t)millicores, (json_int_t)memory_bytes));
    s->dirty = true;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

long kubesim_request_count(const struct kubesim *s)
{
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    long n = s->requests;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return n;
}

void kubesim_stop(struct kubesim *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    /* Watches notice `stopping` within one wait and end their streams. */
    while (s->active_watches > 0)
        pthread_cond_wait(&s->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (s->ctrl_started)
        pthread_join(s->ctrl_thread, NULL);
    /* CivetWeb first: its sockets close after the last bytes are out, and the
     * front end forwards them before it ends the client connections. */
    if (s->ctx)
        stop_civetweb(s);
    ks_tls_stop(s->tls);
    if (s->o.state_file && s->ctrl_started) {
        pthread_mutex_lock(&s->mu);
        ks_state_save(s, s->o.state_file, NULL);
        pthread_mutex_unlock(&s->mu);
    }
    if (s->state_dir)
        ty_rm_rf(s->state_dir, NULL);
    ks_store_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free((char *)s->o.listen);
    free((char *)s->o.token);
    free((char *)s->o.state_file);
    free((char *)s->o.client_ca_file);
    free((char *)s->o.fail_pull_pattern);
    free((char *)s->o.crash_pattern);
    free((char *)s->o.unschedulable_pattern);
    free((char *)s->o.readonly_token);
    free(s->url);
    free(s->state_dir);
    free(s->ca_file);
    free(s->key_file);
    free(s);
}
