/*
 * kubesim_api.c - the REST surface of the simulated cluster.
 *
 * ks_api_handle() takes one parsed request (method, path, decoded query, body,
 * Accept, Content-Type) and produces the status and body a real API server
 * would: discovery documents, CRUD with resourceVersion preconditions, the
 * three PATCH types, deletion with propagation policies, delete-collection,
 * paging, Table responses, the metrics API, and Status bodies with the real
 * reasons and message formats (kubernetes.md section 2).  Watches are
 * validated here and then streamed by ks_api_watch().  Everything runs with
 * s->mu held, serialisation included, so handlers see one consistent store.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_JSON  "application/json"
#define CT_TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"

/* ---- query strings ---- */

static char *form_decode(const char *s, size_t n)
{
    char *out = ty_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[j++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = 0;
    return out;
}

void ks_query_parse(struct ks_query *q, const char *qs)
{
    memset(q, 0, sizeof *q);
    if (!qs)
        return;
    const char *p = qs;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t kn = eq ? (size_t)(eq - p) : n;
            q->keys = ty_xrealloc(q->keys, (size_t)(q->n + 1) * sizeof *q->keys);
            q->vals = ty_xrealloc(q->vals, (size_t)(q->n + 1) * sizeof *q->vals);
            q->keys[q->n] = form_decode(p, kn);
            q->vals[q->n] = eq ? form_decode(eq + 1, n - kn - 1) : ty_xstrdup("");
            q->n++;
        }
        p += n;
        if (*p == '&')
            p++;
    }
}

const char *ks_query_get(const struct ks_query *q, const char *key)
{
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->keys[i], key))
            return q->vals[i];
    return NULL;
}

void ks_query_free(struct ks_query *q)
{
    for (int i = 0; i < q->n; i++) {
        free(q->keys[i]);
        free(q->vals[i]);
    }
    free(q->keys);
    free(q->vals);
    memset(q, 0, sizeof *q);
}

/* ---- responses ---- */

static void reply_json(struct ks_response *resp, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    resp->status = status;
    resp->content_type = CT_JSON;
    ty_buf_reset(&resp->body);
    ty_buf_puts(&resp->body, text);
    ty_buf_putc(&resp->body, '\n');
    free(text);
    json_decref(body);
}

static json_t *
status_json(int code, const char *reason, const char *name, enum ks_res r, const char *msg)
{
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", code < 400 ? "Success" : "Failure", "message", msg,
                           "reason", reason, "code", code);
    if (name) {
        json_t *d = json_pack("{s:s,s:s}", "name", name, "kind", ks_resources[r].plural);
        if (ks_resources[r].group[0])
            json_object_set_new(d, "group", json_string(ks_resources[r].group));
        json_object_set_new(st, "details", d);
    }
    return st;
}

void ks_status(struct ks_response *resp,
               int code,
               const char *reason,
               const char *details_name,
               enum ks_res r,
               const char *fmt,
               ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(resp, code, status_json(code, reason, details_name, r, msg));
}

static void not_found(struct ks_response *resp, enum ks_res r, const char *name)
{
    char q[96];
    ks_status(resp, 404, "NotFound", name, r, "%s \"%s\" not found",
              ks_res_qualified(r, q, sizeof q), name);
}

static void bad_request(struct ks_response *resp, const char *msg)
{
    reply_json(resp, 400, status_json(400, "BadRequest", NULL, KS_PODS, msg));
}

/* ---- discovery ---- */

static json_t *resource_list(const char *group_version)
{
    static const char *const all_verbs[] = {
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};
    json_t *res = json_array();
    for (int r = 0; r < KS_NRES; r++) {
        const struct ks_resource *d = &ks_resources[r];
        if (strcmp(ks_res_api_version((enum ks_res)r), group_version) != 0)
            continue;
        json_t *verbs = json_array();
        for (const char *const *v = all_verbs; *v; v++)
            json_array_append_new(verbs, json_string(*v));
        json_t *e =
            json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", d->plural, "singularName", d->singular,
                      "namespaced", d->namespaced, "kind", d->kind, "verbs", verbs);
        if (d->short_name)
            json_object_set_new(e, "shortNames", json_pack("[s]", d->short_name));
        if (r == KS_PODS || r == KS_SERVICES || r == KS_DEPLOYMENTS || r == KS_REPLICASETS)
            json_object_set_new(e, "categories", json_pack("[s]", "all"));
        json_array_append_new(res, e);
        if (r == KS_PODS || r == KS_DEPLOYMENTS || r == KS_REPLICASETS || r == KS_SERVICES ||
            r == KS_PVCS || r == KS_NAMESPACES) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s/status", d->plural);
            json_array_append_new(res,
                                  json_pack("{s:s,s:s,s:b,s:s,s:[sss]}", "name", sub,
                                            "singularName", "", "namespaced", d->namespaced, "kind",
                                            d->kind, "verbs", "get", "patch", "update"));
        }
        if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s/scale", d->plural);
            json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:[sss]}", "name", sub,
                                                 "singularName", "", "namespaced", true, "group",
                                                 "autoscaling", "version", "v1", "kind", "Scale",
                                                 "verbs", "get", "patch", "update"));
        }
        if (r == KS_PODS)
            json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:[s]}", "name", "pods/log",
                                                 "singularName", "", "namespaced", true, "kind",
                                                 "Pod", "verbs", "get"));
    }
    if (!strcmp(group_version, "metrics.k8s.io/v1beta1"))
        json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:[ss]}", "name", "pods",
                                             "singularName", "", "namespaced", true, "kind",
                                             "PodMetrics", "verbs", "get", "list"));
    return json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", group_version, "resources", res);
}

static json_t *group_json(const char *name, const char *version)
{
    char gv[96];
    snprintf(gv, sizeof gv, "%s/%s", name, version);
    return json_pack("{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "name", name, "versions", "groupVersion",
                     gv, "version", version, "preferredVersion", "groupVersion", gv, "version",
                     version);
}

static bool discovery(const char *path, struct ks_response *resp)
{
    if (!strcmp(path, "/version")) {
        reply_json(resp, 200,
                   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "32",
                             "gitVersion", "v1.32.0-kubesim", "gitCommit", "kubesim",
                             "gitTreeState", "clean", "buildDate", "2026-11-23T00:00:00Z",
                             "goVersion", "go1.23", "compiler", "gc", "platform", "linux/amd64"));
    } else if (!strcmp(path, "/api")) {
        reply_json(resp, 200,
                   json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions", "v1",
                             "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
                             "serverAddress", "127.0.0.1"));
    } else if (!strcmp(path, "/apis")) {
        reply_json(resp, 200,
                   json_pack("{s:s,s:s,s:[ooo]}", "kind", "APIGroupList", "apiVersion", "v1",
                             "groups", group_json("apps", "v1"),
                             group_json("networking.k8s.io", "v1"),
                             group_json("metrics.k8s.io", "v1beta1")));
    } else if (!strcmp(path, "/api/v1")) {
        reply_json(resp, 200, resource_list("v1"));
    } else if (!strcmp(path, "/apis/apps/v1")) {
        reply_json(resp, 200, resource_list("apps/v1"));
    } else if (!strcmp(path, "/apis/networking.k8s.io/v1")) {
        reply_json(resp, 200, resource_list("networking.k8s.io/v1"));
    } else if (!strcmp(path, "/apis/metrics.k8s.io/v1beta1")) {
        reply_json(resp, 200, resource_list("metrics.k8s.io/v1beta1"));
    } else if (!strcmp(path, "/apis/apps") || !strcmp(path, "/apis/networking.k8s.io")) {
        json_t *g = group_json(path + 6, "v1");
        json_object_set_new(g, "kind", json_string("APIGroup"));
        json_object_set_new(g, "apiVersion", json_string("v1"));
        reply_json(resp, 200, g);
    } else {
        return false;
    }
    return true;
}

/* ---- routing ---- */

struct route {
    bool metrics;
    bool watch_prefix; /* old-style /watch/ path */
    enum ks_res res;
    char ns[256];
    char name[256];
    char sub[32];
};

/* Parses an API path; returns false when it names no resource. */
static bool route_parse(const char *path, struct route *rt)
{
    char buf[1024];
    char *seg[12];
    int n = 0;
    memset(rt, 0, sizeof *rt);
    if (strlen(path) >= sizeof buf)
        return false;
    strcpy(buf, path);
    for (char *p = strtok(buf, "/"); p && n < 12; p = strtok(NULL, "/"))
        seg[n++] = p;
    int i;
    const char *gv;
    char gvbuf[128];
    if (n >= 2 && !strcmp(seg[0], "api") && !strcmp(seg[1], "v1")) {
        gv = "v1";
        i = 2;
    } else if (n >= 3 && !strcmp(seg[0], "apis")) {
        snprintf(gvbuf, sizeof gvbuf, "%s/%s", seg[1], seg[2]);
        gv = gvbuf;
        i = 3;
    } else {
        return false;
    }
    if (i < n && !strcmp(seg[i], "watch")) {
        rt->watch_prefix = true;
        i++;
    }
    rt->metrics = !strcmp(gv, "metrics.k8s.io/v1beta1");
    if (i + 1 < n && !strcmp(seg[i], "namespaces") && (i + 2 < n)) {
        ty_strlcpy(rt->ns, seg[i + 1], sizeof rt->ns);
        i += 2;
    }
    if (i >= n)
        return false;
    const char *res = seg[i++];
    if (rt->metrics) {
        if (strcmp(res, "pods") != 0)
            return false;
    } else {
        int r;
        for (r = 0; r < KS_NRES; r++)
            if (!strcmp(ks_resources[r].plural, res) &&
                !strcmp(ks_res_api_version((enum ks_res)r), gv))
                break;
        if (r == KS_NRES)
            return false;
        rt->res = (enum ks_res)r;
        if (rt->ns[0] && !ks_resources[r].namespaced)
            return false;
    }
    if (i < n)
        ty_strlcpy(rt->name, seg[i++], sizeof rt->name);
    if (i < n)
        ty_strlcpy(rt->sub, seg[i++], sizeof rt->sub);
    return i == n;
}

/* ---- validation and defaults ---- */

struct causes {
    json_t *arr;
};

static void cause(struct causes *c, const char *field, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cause(struct causes *c, const char *field, const char *reason, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(
        c->arr, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", msg, "field", field));
}

static void check_labels(struct causes *c, const json_t *md, const char *base)
{
    const char *k;
    json_t *v;
    char field[300];
    snprintf(field, sizeof field, "%s.labels", base);
    json_object_foreach((json_t *)json_object_get(md, "labels"), k, v)
    {
        const char *m = ks_check_label_key(k);
        if (m)
            cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", k, m);
        if (!json_is_string(v))
            cause(c, field, "FieldValueInvalid", "Invalid value: label %s must be a string", k);
        else if ((m = ks_check_label_value(json_string_value(v))))
            cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", json_string_value(v),
                  m);
    }
    snprintf(field, sizeof field, "%s.annotations", base);
    json_object_foreach((json_t *)json_object_get(md, "annotations"), k, v)
    {
        const char *m = ks_check_label_key(k);
        if (m)
            cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", k, m);
    }
}

static void check_pod_spec(struct causes *c, const json_t *spec, const char *base)
{
    json_t *cs = json_object_get(spec, "containers");
    char field[300];
    if (!json_is_array(cs) || json_array_size(cs) == 0) {
        snprintf(field, sizeof field, "%s.containers", base);
        cause(c, field, "FieldValueRequired", "Required value");
        return;
    }
    size_t i;
    json_t *ct;
    json_array_foreach(cs, i, ct)
    {
        const char *name = json_string_value(json_object_get(ct, "name"));
        snprintf(field, sizeof field, "%s.containers[%zu].name", base, i);
        if (!name || !*name)
            cause(c, field, "FieldValueRequired", "Required value");
        else if (ks_check_dns1123_label(name))
            cause(c, field, "FieldValueInvalid", "Invalid value: \"%s\": %s", name,
                  ks_check_dns1123_label(name));
        snprintf(field, sizeof field, "%s.containers[%zu].image", base, i);
        const char *image = json_string_value(json_object_get(ct, "image"));
        if (!image || !*image)
            cause(c, field, "FieldValueRequired", "Required value");
    }
    const char *rp = json_string_value(json_object_get(spec, "restartPolicy"));
    if (rp && strcmp(rp, "Always") && strcmp(rp, "OnFailure") && strcmp(rp, "Never")) {
        snprintf(field, sizeof field, "%s.restartPolicy", base);
        cause(c, field, "FieldValueNotSupported", "Unsupported value: \"%s\"", rp);
    }
}

static void validate(enum ks_res r, const json_t *obj, struct causes *c)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = ks_str(obj, "metadata.name");
    const char *m = NULL;
    if (!name || !*name) {
        cause(c, "metadata.name", "FieldValueRequired",
              "Required value: name or generateName "
              "is required");
    } else {
        if (r == KS_SERVICES)
            m = ks_check_dns1035_label(name);
        else if (r == KS_NAMESPACES)
            m = ks_check_dns1123_label(name);
        else
            m = ks_check_dns1123_subdomain(name);
        if (m)
            cause(c, "metadata.name", "FieldValueInvalid", "Invalid value: \"%s\": %s", name, m);
    }
    check_labels(c, md, "metadata");
    const json_t *spec = json_object_get(obj, "spec");
    if (r == KS_PODS)
        check_pod_spec(c, spec, "spec");
    if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS) {
        const json_t *sel = json_object_get(spec, "selector");
        const json_t *tmpl = json_object_get(spec, "template");
        if (!json_is_object(sel) ||
            (json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
             json_array_size(json_object_get(sel, "matchExpressions")) == 0)) {
            cause(c, "spec.selector", "FieldValueRequired", "Required value");
        } else {
            struct ks_selector *ls = NULL;
            struct ty_error e = TY_ERROR_INIT;
            if (ks_selector_from_json(&ls, sel, &e) != 0) {
                cause(c, "spec.selector", "FieldValueInvalid", "Invalid value: %s", e.msg);
            } else if (!ks_selector_match_labels(ls, ks_at(tmpl, "metadata.labels"))) {
                char *labels = json_dumps(ks_at(tmpl, "metadata.labels"), JSON_COMPACT);
                cause(c, "spec.template.metadata.labels", "FieldValueInvalid",
                      "Invalid value: %s: `selector` does not match template `labels`",
                      labels ? labels : "null");
                free(labels);
            }
            ks_selector_free(ls);
        }
        check_labels(c, json_object_get(tmpl, "metadata"), "spec.template.metadata");
        check_pod_spec(c, json_object_get(tmpl, "spec"), "spec.template.spec");
        json_t *rep = json_object_get(spec, "replicas");
        if (json_is_integer(rep) && json_integer_value(rep) < 0)
            cause(c, "spec.replicas", "FieldValueInvalid",
                  "Invalid value: %lld: must be greater than or equal to 0",
                  (long long)json_integer_value(rep));
        const char *rp = ks_str(tmpl, "spec.restartPolicy");
        if (rp && strcmp(rp, "Always") != 0)
            cause(c, "spec.template.spec.restartPolicy", "FieldValueNotSupported",
                  "Unsupported value: \"%s\": supported values: \"Always\"", rp);
    }
    if (r == KS_SERVICES) {
        const char *type = ks_str(obj, "spec.type");
        if (type && strcmp(type, "ClusterIP") && strcmp(type, "NodePort") &&
            strcmp(type, "LoadBalancer") && strcmp(type, "ExternalName"))
            cause(c, "spec.type", "FieldValueNotSupported", "Unsupported value: \"%s\"", type);
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p)
        {
            json_t *port = json_object_get(p, "port");
            char field[64];
            snprintf(field, sizeof field, "spec.ports[%zu].port", i);
            if (!json_is_integer(port))
                cause(c, field, "FieldValueRequired", "Required value");
            else if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
                cause(c, field, "FieldValueInvalid",
                      "Invalid value: %lld: must be between 1 and "
                      "65535, inclusive",
                      (long long)json_integer_value(port));
        }
        if (json_array_size(json_object_get(spec, "ports")) == 0 &&
            !(type && !strcmp(type, "ExternalName")) &&
            !(ks_str(obj, "spec.clusterIP") && !strcmp(ks_str(obj, "spec.clusterIP"), "None")))
            cause(c, "spec.ports", "FieldValueRequired", "Required value");
    }
    if (r == KS_PVCS) {
        if (json_array_size(ks_at(obj, "spec.accessModes")) == 0)
            cause(c, "spec.accessModes", "FieldValueRequired",
                  "Required value: at least 1 "
                  "access mode is required");
        if (!ks_at(obj, "spec.resources.requests.storage"))
            cause(c, "spec.resources[storage]", "FieldValueRequired", "Required value");
    }
}

/* Sends 422 Invalid when c has causes; returns true when it did. */
static bool
reply_invalid(struct ks_response *resp, enum ks_res r, const char *name, struct causes *c)
{
    size_t n = json_array_size(c->arr);
    if (n == 0)
        return false;
    struct ty_buf msg = TY_BUF_INIT;
    const struct ks_resource *d = &ks_resources[r];
    ty_buf_printf(&msg, "%s%s%s \"%s\" is invalid: %s", d->kind, d->group[0] ? "." : "", d->group,
                  name ? name : "", n > 1 ? "[" : "");
    size_t i;
    json_t *cs;
    json_array_foreach(c->arr, i, cs)
    {
        ty_buf_printf(&msg, "%s%s: %s", i ? ", " : "", ks_str(cs, "field"), ks_str(cs, "message"));
    }
    if (n > 1)
        ty_buf_putc(&msg, ']');
    json_t *st = status_json(422, "Invalid", name ? name : "", r, ty_buf_cstr(&msg));
    json_object_set_new(json_object_get(st, "details"), "kind", json_string(d->kind));
    json_object_set(json_object_get(st, "details"), "causes", c->arr);
    reply_json(resp, 422, st);
    ty_buf_cleanup(&msg);
    return true;
}

static void default_pod_spec(json_t *spec)
{
    if (!json_is_object(spec))
        return;
    if (!json_object_get(spec, "restartPolicy"))
        json_object_set_new(spec, "restartPolicy", json_string("Always"));
    if (!json_object_get(spec, "terminationGracePeriodSeconds"))
        json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
    if (!json_object_get(spec, "dnsPolicy"))
        json_object_set_new(spec, "dnsPolicy", json_string("ClusterFirst"));
    if (!json_object_get(spec, "schedulerName"))
        json_object_set_new(spec, "schedulerName", json_string("default-scheduler"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        const char *image = json_string_value(json_object_get(c, "image"));
        if (image && !json_object_get(c, "imagePullPolicy")) {
            const char *slash = strrchr(image, '/');
            const char *tag = strchr(slash ? slash : image, ':');
            bool latest = !tag || !strcmp(tag, ":latest");
            json_object_set_new(c, "imagePullPolicy",
                                json_string(latest ? "Always" : "IfNotPresent"));
        }
        if (!json_object_get(c, "terminationMessagePolicy"))
            json_object_set_new(c, "terminationMessagePolicy", json_string("File"));
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            if (!json_object_get(p, "protocol"))
                json_object_set_new(p, "protocol", json_string("TCP"));
        }
    }
}

/* Fills defaults a real API server adds on create and update. */
static void apply_defaults(struct kubesim *s, enum ks_res r, json_t *obj, const json_t *old)
{
    json_t *spec = json_object_get(obj, "spec");
    if (r == KS_PODS)
        default_pod_spec(spec);
    if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS) {
        if (!json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(1));
        if (r == KS_DEPLOYMENTS) {
            if (!json_object_get(spec, "strategy"))
                json_object_set_new(spec, "strategy",
                                    json_pack("{s:s,s:{s:s,s:s}}", "type", "RollingUpdate",
                                              "rollingUpdate", "maxUnavailable", "25%", "maxSurge",
                                              "25%"));
            if (!json_object_get(spec, "revisionHistoryLimit"))
                json_object_set_new(spec, "revisionHistoryLimit", json_integer(10));
            if (!json_object_get(spec, "progressDeadlineSeconds"))
                json_object_set_new(spec, "progressDeadlineSeconds", json_integer(600));
        }
        default_pod_spec(ks_at(obj, "spec.template.spec"));
    }
    if (r == KS_SERVICES && json_is_object(spec)) {
        if (!json_object_get(spec, "type"))
            json_object_set_new(spec, "type", json_string("ClusterIP"));
        if (!json_object_get(spec, "sessionAffinity"))
            json_object_set_new(spec, "sessionAffinity", json_string("None"));
        const char *type = ks_str(spec, "type");
        const char *old_ip = ks_str(old, "spec.clusterIP");
        if (old_ip) {
            json_object_set_new(spec, "clusterIP", json_string(old_ip));
        } else if (strcmp(type, "ExternalName") != 0 && !json_object_get(spec, "clusterIP")) {
            unsigned n = s->next_cluster_ip++;
            char ip[32];
            snprintf(ip, sizeof ip, "10.96.%u.%u", (n / 250) % 250, n % 250 + 2);
            json_object_set_new(spec, "clusterIP", json_string(ip));
        }
        if (ks_str(spec, "clusterIP") && !json_object_get(spec, "clusterIPs"))
            json_object_set_new(spec, "clusterIPs", json_pack("[s]", ks_str(spec, "clusterIP")));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p)
        {
            if (!json_object_get(p, "protocol"))
                json_object_set_new(p, "protocol", json_string("TCP"));
            if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
                json_object_set(p, "targetPort", json_object_get(p, "port"));
            if ((!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer")) &&
                !json_object_get(p, "nodePort"))
                json_object_set_new(p, "nodePort", json_integer(30000 + (long)(ks_rand(s) % 2767)));
        }
    }
    if (r == KS_SECRETS) {
        json_t *sd = json_object_get(obj, "stringData");
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            const char *sv = json_string_value(v);
            if (!sv)
                continue;
            char *b64 = ty_base64(sv, strlen(sv));
            json_object_set_new(ks_obj_at(obj, "data"), k, json_string(b64));
            free(b64);
        }
        json_object_del(obj, "stringData");
        if (!json_object_get(obj, "type"))
            json_object_set_new(obj, "type", json_string("Opaque"));
    }
    if (r == KS_PVCS && json_is_object(spec) && !json_object_get(spec, "volumeMode"))
        json_object_set_new(spec, "volumeMode", json_string("Filesystem"));
}

static void initial_status(enum ks_res r, json_t *obj)
{
    char now[32];
    ks_now_iso(now);
    switch (r) {
    case KS_PODS:
        json_object_set_new(obj, "status",
                            json_pack("{s:s,s:s}", "phase", "Pending", "qosClass", "BestEffort"));
        break;
    case KS_PVCS:
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Pending"));
        break;
    case KS_NAMESPACES:
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        break;
    case KS_SERVICES:
        json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
        break;
    case KS_DEPLOYMENTS:
    case KS_REPLICASETS:
        json_object_set_new(obj, "status", json_object());
        break;
    default:
        break;
    }
}

static bool is_dry_run(const struct ks_request *rq)
{
    const char *d = ks_query_get(&rq->q, "dryRun");
    return d && !strcmp(d, "All");
}

static json_t *parse_body(const struct ks_request *rq, struct ks_response *resp)
{
    json_error_t je;
    const char *ct = rq->content_type ? rq->content_type : "";
    if (ty_str_has_prefix(ct, "application/vnd.kubernetes.protobuf") ||
        ty_str_has_prefix(ct, "application/cbor")) {
        /* Clients fall back to JSON on 415, as with servers that lack protobuf. */
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the body of the request was in an unknown format - accepted "
                 "media types include: application/json, application/yaml");
        reply_json(resp, 415, status_json(415, "UnsupportedMediaType", NULL, KS_PODS, msg));
        return NULL;
    }
    if (!rq->body || rq->body_len == 0) {
        bad_request(resp, "the body of the request was empty");
        return NULL;
    }
    json_t *b = json_loadb(rq->body, rq->body_len, 0, &je);
    if (!b) {
        char msg[400];
        snprintf(msg, sizeof msg, "error decoding request body: line %d, column %d: %s", je.line,
                 je.column, je.text);
        bad_request(resp, msg);
        return NULL;
    }
    return b;
}

/* Checks the shape every body needs; replies 400 and returns false otherwise. */
static bool check_kind(enum ks_res r, json_t *obj, struct ks_response *resp)
{
    if (!json_is_object(obj) ||
        (json_object_get(obj, "metadata") && !json_is_object(json_object_get(obj, "metadata")))) {
        bad_request(resp, "the object provided is not a JSON object with metadata");
        return false;
    }
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    if ((kind && strcmp(kind, ks_resources[r].kind)) || (av && strcmp(av, ks_res_api_version(r)))) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the API version in the data (%s) does not match the expected "
                 "API version (%s) or kind %s is not %s",
                 av ? av : "", ks_res_api_version(r), kind ? kind : "", ks_resources[r].kind);
        bad_request(resp, msg);
        return false;
    }
    json_t *rep = ks_at(obj, "spec.replicas");
    if (rep && !json_is_integer(rep)) {
        bad_request(resp, "json: cannot unmarshal into Go struct field spec.replicas of type "
                          "int32");
        return false;
    }
    return true;
}

static bool ns_exists(struct kubesim *s, const char *ns, struct ks_response *resp)
{
    if (ks_get(s, KS_NAMESPACES, NULL, ns))
        return true;
    not_found(resp, KS_NAMESPACES, ns);
    return false;
}

/* ---- events ---- */

void ks_emit_event(
    struct kubesim *s, const json_t *obj, const char *type, const char *reason, const char *msg)
{
    char now[32], name[300], sfx[17];
    const char *ns = ks_str(obj, "metadata.namespace");
    const char *oname = ks_str(obj, "metadata.name");
    const char *kind = ks_str(obj, "kind");
    if (!ns || !oname || !ks_get(s, KS_NAMESPACES, NULL, ns))
        return;
    ks_now_iso(now);
    /* Repeats are aggregated as the real event recorder does: count and lastTimestamp. */
    json_t *same = ks_event_find(s, ns, ks_str(obj, "metadata.uid"), reason, msg);
    if (same) {
        json_t *copy = json_deep_copy(same);
        json_object_set_new(copy, "count", json_integer(ks_int(same, "count", 1) + 1));
        json_object_set_new(copy, "lastTimestamp", json_string(now));
        ks_put(s, KS_EVENTS, copy);
        return;
    }
    uint64_t id = (uint64_t)ty_time_now_ms() * 1000000u;
    if (id <= s->last_event_id)
        id = s->last_event_id + 1;
    s->last_event_id = id;
    snprintf(sfx, sizeof sfx, "%016llx", (unsigned long long)id);
    snprintf(name, sizeof name, "%s.%s", oname, sfx);
    const char *component = !strcmp(reason, "Scheduled") || !strcmp(reason, "FailedScheduling")
                                ? "default-scheduler"
                            : kind && !strcmp(kind, "Pod")        ? "kubelet"
                            : kind && !strcmp(kind, "Deployment") ? "deployment-controller"
                            : kind && !strcmp(kind, "ReplicaSet") ? "replicaset-controller"
                                                                  : "kubesim";
    json_t *ev = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,"
        "s:s,s:s}",
        "kind", "Event", "apiVersion", "v1", "metadata", "name", name, "namespace", ns,
        "involvedObject", "kind", kind ? kind : "", "namespace", ns, "name", oname, "uid",
        ks_str(obj, "metadata.uid") ? ks_str(obj, "metadata.uid") : "", "apiVersion",
        ks_str(obj, "apiVersion") ? ks_str(obj, "apiVersion") : "v1", "reason", reason, "message",
        msg, "type", type, "source", "component", component, "firstTimestamp", now, "lastTimestamp",
        now, "count", 1, "reportingComponent", component, "reportingInstance", "kubesim");
    ks_meta_init(s, ev);
    ks_put(s, KS_EVENTS, ev);
    /* Events are bounded as a real cluster's one-hour TTL bounds them: the
     * ones written longest ago go first. */
    size_t max = s->o.max_events > 0 ? (size_t)s->o.max_events : 2000;
    json_t *victim;
    while (json_object_size(s->objs[KS_EVENTS]) > max && (victim = ks_event_oldest(s)) != NULL) {
        char vns[256], vname[300];
        ty_strlcpy(vns, ks_str(victim, "metadata.namespace"), sizeof vns);
        ty_strlcpy(vname, ks_str(victim, "metadata.name"), sizeof vname);
        ks_remove(s, KS_EVENTS, vns, vname);
    }
}

/* ---- deletion ---- */

/* Drops uid from the ownerReferences of every object that names it. */
static void orphan_dependents(struct kubesim *s, const char *uid)
{
    /* A copy: each ks_put() below edits the owner index being walked. */
    json_t *set = json_copy(json_object_get(s->deps, uid)), *v;
    const char *wkey;
    json_object_foreach(set, wkey, v)
    {
        enum ks_res r;
        const char *key = ks_work_split(wkey, &r);
        json_t *obj = key ? json_object_get(s->objs[r], key) : NULL;
        json_t *refs = ks_at(obj, "metadata.ownerReferences"), *ref;
        json_t *keep = json_array();
        size_t j;
        json_array_foreach(refs, j, ref)
        {
            const char *u = ks_str(ref, "uid");
            if (!u || strcmp(u, uid) != 0)
                json_array_append(keep, ref);
        }
        if (obj && json_array_size(keep) != json_array_size(refs)) {
            json_t *copy = json_deep_copy(obj);
            if (json_array_size(keep))
                json_object_set(json_object_get(copy, "metadata"), "ownerReferences", keep);
            else
                json_object_del(json_object_get(copy, "metadata"), "ownerReferences");
            ks_put(s, r, copy);
        }
        json_decref(keep);
    }
    json_decref(set);
}

void ks_delete_object(
    struct kubesim *s, enum ks_res r, json_t *obj, const char *propagation, long grace_s)
{
    char ns[256] = "", name[300], uid[64] = "", now[32];
    ty_strlcpy(name, ks_str(obj, "metadata.name"), sizeof name);
    if (ks_str(obj, "metadata.namespace"))
        ty_strlcpy(ns, ks_str(obj, "metadata.namespace"), sizeof ns);
    if (ks_str(obj, "metadata.uid"))
        ty_strlcpy(uid, ks_str(obj, "metadata.uid"), sizeof uid);
    bool terminating = ks_at(obj, "metadata.deletionTimestamp") != NULL;
    ks_now_iso(now);

    if (r == KS_NAMESPACES) {
        for (int k = 0; k < KS_NRES; k++) {
            if (!ks_resources[k].namespaced)
                continue;
            json_t *items = ks_list(s, (enum ks_res)k, name);
            size_t i;
            json_t *v;
            json_array_foreach(items, i, v)
            {
                ks_remove(s, (enum ks_res)k, name, ks_str(v, "metadata.name"));
            }
            json_decref(items);
        }
        ks_remove(s, r, NULL, name);
        return;
    }
    if (propagation && !strcmp(propagation, "Orphan"))
        orphan_dependents(s, uid);
    if (terminating) {
        if (r == KS_PODS && grace_s == 0)
            ks_remove(s, r, ns, name);
        return;
    }
    json_t *fin = ks_at(obj, "metadata.finalizers");
    bool foreground = propagation && !strcmp(propagation, "Foreground") && ks_has_dependents(s, uid);
    if (foreground || json_array_size(fin) > 0 || (r == KS_PODS && grace_s != 0)) {
        json_t *copy = json_deep_copy(obj);
        json_t *md = json_object_get(copy, "metadata");
        json_object_set_new(md, "deletionTimestamp", json_string(now));
        if (r == KS_PODS) {
            long g = grace_s >= 0 ? grace_s : ks_int(obj, "spec.terminationGracePeriodSeconds", 30);
            json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(g));
        } else {
            json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(0));
        }
        if (foreground) {
            json_t *f = json_object_get(md, "finalizers");
            if (!json_is_array(f)) {
                f = json_array();
                json_object_set_new(md, "finalizers", f);
            }
            json_array_append_new(f, json_string("foregroundDeletion"));
        }
        json_t *stored = ks_put(s, r, copy);
        if (r == KS_PODS) {
            size_t i;
            json_t *c;
            json_array_foreach(ks_at(obj, "spec.containers"), i, c)
            {
                char msg[300];
                snprintf(msg, sizeof msg, "Stopping container %s",
                         ks_str(c, "name") ? ks_str(c, "name") : "");
                ks_emit_event(s, stored, "Normal", "Killing", msg);
            }
        }
        return;
    }
    ks_remove(s, r, ns, name);
}

/* ---- list, get ---- */

static json_t *strip_kind(const json_t *obj)
{
    json_t *c = json_copy((json_t *)obj);
    json_object_del(c, "kind");
    json_object_del(c, "apiVersion");
    return c;
}

static bool wants_table(const struct ks_request *rq)
{
    return rq->accept && strstr(rq->accept, "as=Table");
}

struct filters {
    struct ks_selector *labels, *fields;
};

static bool filters_parse(struct filters *f,
                          enum ks_res r,
                          const struct ks_request *rq,
                          struct ks_response *resp)
{
    struct ty_error e = TY_ERROR_INIT;
    memset(f, 0, sizeof *f);
    if (ks_selector_parse(&f->labels, ks_query_get(&rq->q, "labelSelector"), &e) != 0 ||
        ks_field_selector_parse(&f->fields, r, ks_query_get(&rq->q, "fieldSelector"), &e) != 0) {
        ks_selector_free(f->labels);
        f->labels = NULL;
        bad_request(resp, e.msg);
        return false;
    }
    return true;
}

static void filters_free(struct filters *f)
{
    ks_selector_free(f->labels);
    ks_selector_free(f->fields);
}

static bool filters_match(const struct filters *f, const json_t *obj)
{
    return ks_selector_match_labels(f->labels, ks_at(obj, "metadata.labels")) &&
           ks_selector_match_fields(f->fields, obj);
}

static bool match_cb(const json_t *obj, void *payload)
{
    return filters_match(payload, obj);
}

static char *continue_token(long rv, const char *key)
{
    json_t *t = json_pack("{s:i,s:s}", "rv", (json_int_t)rv, "start", key);
    char *text = json_dumps(t, JSON_COMPACT);
    char *b64 = ty_base64(text, strlen(text));
    free(text);
    json_decref(t);
    return b64;
}

static int decode_b64_token(const char *tok, char *out, size_t outn)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(tok), j = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '=')
            break;
        const char *p = strchr(tbl, tok[i]);
        if (!p || !tok[i])
            return -1;
        acc = (acc << 6) | (unsigned)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (j + 1 >= outn)
                return -1;
            out[j++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[j] = 0;
    return 0;
}

static void handle_list(struct kubesim *s,
                        const struct ks_request *rq,
                        const struct route *rt,
                        struct ks_response *resp)
{
    struct filters f;
    enum ks_res r = rt->res;
    if (!filters_parse(&f, r, rq, resp))
        return;
    long limit = 0;
    const char *ls = ks_query_get(&rq->q, "limit");
    if (ls && *ls) {
        int64_t v;
        if (ty_str_to_i64(ls, 0, 1000000000, &v) != 0) {
            bad_request(resp, "limit: must be a non-negative integer");
            goto out;
        }
        limit = (long)v;
    }
    const char *cont = ks_query_get(&rq->q, "continue");
    char start[1024] = "";
    long list_rv = s->rv;
    if (cont && *cont) {
        char dec[1200];
        json_t *t = decode_b64_token(cont, dec, sizeof dec) == 0 ? json_loads(dec, 0, NULL) : NULL;
        const char *st = ks_str(t, "start");
        long trv = ks_int(t, "rv", -1);
        if (!st || trv < 0 || trv > s->rv || trv + 1 < s->hist_oldest) {
            json_decref(t);
            reply_json(resp, 410,
                       status_json(410, "Expired", NULL, r,
                                   "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without "
                                   "the continue parameter."));
            goto out;
        }
        ty_strlcpy(start, st, sizeof start);
        list_rv = trv;
        json_decref(t);
    }
    json_t *all = ks_list_match(s, r, rt->ns[0] ? rt->ns : NULL, f.labels, match_cb, &f);
    json_t *items = json_array();
    char next_key[1024] = "";
    long remaining = 0;
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        char key[600];
        ks_key(r, ks_str(v, "metadata.namespace"), ks_str(v, "metadata.name"), key, sizeof key);
        if (start[0] && strcmp(key, start) <= 0)
            continue;
        if (limit > 0 && (long)json_array_size(items) >= limit) {
            remaining++;
            continue;
        }
        json_array_append(items, v);
        ty_strlcpy(next_key, key, sizeof next_key);
    }
    json_decref(all);
    char rvs[32];
    snprintf(rvs, sizeof rvs, "%ld", list_rv);
    json_t *body;
    if (wants_table(rq)) {
        const char *io = ks_query_get(&rq->q, "includeObject");
        body = ks_table(r, items, rvs, io && !strcmp(io, "Object"));
    } else {
        char kind[64];
        snprintf(kind, sizeof kind, "%sList", ks_resources[r].kind);
        json_t *stripped = json_array();
        json_array_foreach(items, i, v)
        {
            json_array_append_new(stripped, strip_kind(v));
        }
        body = json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", kind, "apiVersion", ks_res_api_version(r),
                         "metadata", "resourceVersion", rvs, "items", stripped);
    }
    if (remaining > 0) {
        char *tok = continue_token(list_rv, next_key);
        json_object_set_new(json_object_get(body, "metadata"), "continue", json_string(tok));
        json_object_set_new(json_object_get(body, "metadata"), "remainingItemCount",
                            json_integer(remaining));
        free(tok);
    }
    json_decref(items);
    bool table = wants_table(rq);
    reply_json(resp, 200, body);
    if (table)
        resp->content_type = CT_TABLE;
out:
    filters_free(&f);
}

static void reply_object(
    struct ks_response *resp, int status, enum ks_res r, const struct ks_request *rq, json_t *obj)
{
    if (wants_table(rq)) {
        json_t *items = json_pack("[O]", obj);
        const char *io = ks_query_get(&rq->q, "includeObject");
        json_t *t = ks_table(r, items, ks_str(obj, "metadata.resourceVersion"),
                             io && !strcmp(io, "Object"));
        json_decref(items);
        reply_json(resp, status, t);
        resp->content_type = CT_TABLE;
        return;
    }
    reply_json(resp, status, json_incref(obj));
}

static json_t *scale_json(const json_t *obj)
{
    char sel[512] = "";
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ks_at(obj, "spec.selector.matchLabels"), k, v)
    {
        size_t n = strlen(sel);
        snprintf(sel + n, sizeof sel - n, "%s%s=%s", n ? "," : "", k, json_string_value(v));
    }
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:{s:I},s:{s:I,s:s}}", "kind", "Scale",
                     "apiVersion", "autoscaling/v1", "metadata", "name",
                     ks_str(obj, "metadata.name"), "namespace", ks_str(obj, "metadata.namespace"),
                     "uid", ks_str(obj, "metadata.uid"), "resourceVersion",
                     ks_str(obj, "metadata.resourceVersion"), "spec", "replicas",
                     (json_int_t)ks_int(obj, "spec.replicas", 0), "status", "replicas",
                     (json_int_t)ks_int(obj, "status.replicas", 0), "selector", sel);
}

/* ---- create ---- */

static void handle_create(struct kubesim *s,
                          const struct ks_request *rq,
                          const struct route *rt,
                          struct ks_response *resp,
                          json_t *obj)
{
    enum ks_res r = rt->res;
    json_t *md = ks_obj_at(obj, "metadata");
    const char *bns = json_string_value(json_object_get(md, "namespace"));
    if (ks_resources[r].namespaced) {
        if (bns && strcmp(bns, rt->ns) != 0) {
            bad_request(resp, "the namespace of the provided object does not match the "
                              "namespace sent on the request");
            return;
        }
        if (!ns_exists(s, rt->ns, resp))
            return;
        json_object_set_new(md, "namespace", json_string(rt->ns));
    } else {
        json_object_del(md, "namespace");
    }
    const char *gen = json_string_value(json_object_get(md, "generateName"));
    if (!json_string_value(json_object_get(md, "name")) && gen) {
        for (int tries = 0; tries < 8; tries++) {
            char sfx[6], name[300];
            ks_rand_suffix(s, sfx, 5);
            snprintf(name, sizeof name, "%s%s", gen, sfx);
            json_object_set_new(md, "name", json_string(name));
            if (!ks_get(s, r, rt->ns, name))
                break;
        }
    }
    json_object_set_new(obj, "kind", json_string(ks_resources[r].kind));
    json_object_set_new(obj, "apiVersion", json_string(ks_res_api_version(r)));
    apply_defaults(s, r, obj, NULL);
    struct causes c = {json_array()};
    validate(r, obj, &c);
    const char *name = ks_str(obj, "metadata.name");
    if (reply_invalid(resp, r, name, &c)) {
        json_decref(c.arr);
        return;
    }
    json_decref(c.arr);
    if (ks_get(s, r, rt->ns, name)) {
        char q[96];
        ks_status(resp, 409, "AlreadyExists", name, r, "%s \"%s\" already exists",
                  ks_res_qualified(r, q, sizeof q), name);
        return;
    }
    ks_meta_init(s, obj);
    if (json_object_get(obj, "spec"))
        json_object_set_new(md, "generation", json_integer(1));
    initial_status(r, obj);
    if (is_dry_run(rq)) {
        reply_object(resp, 201, r, rq, obj);
        return;
    }
    json_t *stored = ks_put(s, r, json_incref(obj));
    reply_object(resp, 201, r, rq, stored);
}

/* ---- update and patch ---- */

/* Finishes a write of `next` (owned) over `old`: CAS, immutable fields, status
 * handling, validation, generation.  Replies and stores. */
static void commit_update(struct kubesim *s,
                          const struct ks_request *rq,
                          const struct route *rt,
                          struct ks_response *resp,
                          const json_t *old,
                          json_t *next)
{
    enum ks_res r = rt->res;
    const char *name = rt->name;
    char q[96];
    if (!check_kind(r, next, resp))
        goto out;
    json_t *md = ks_obj_at(next, "metadata");
    const char *nname = json_string_value(json_object_get(md, "name"));
    if (nname && strcmp(nname, name) != 0) {
        bad_request(resp, "the name of the object does not match the name on the URL");
        goto out;
    }
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (rv && *rv && strcmp(rv, ks_str(old, "metadata.resourceVersion")) != 0) {
        ks_status(resp, 409, "Conflict", name, r,
                  "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                  "please apply your changes to the latest version and try again",
                  ks_res_qualified(r, q, sizeof q), name);
        goto out;
    }
    /* Fields the server owns. */
    static const char *const kept[] = {"name",
                                       "namespace",
                                       "uid",
                                       "creationTimestamp",
                                       "generation",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       NULL};
    for (const char *const *k = kept; *k; k++) {
        json_t *v = ks_at(old, "metadata") ? json_object_get(ks_at(old, "metadata"), *k) : NULL;
        if (v)
            json_object_set(md, *k, v);
        else
            json_object_del(md, *k);
    }
    json_object_set_new(next, "kind", json_string(ks_resources[r].kind));
    json_object_set_new(next, "apiVersion", json_string(ks_res_api_version(r)));
    bool status_sub = !strcmp(rt->sub, "status");
    if (status_sub) {
        /* /status writes change only the status. */
        json_t *st = json_incref(json_object_get(next, "status"));
        json_decref(next);
        next = json_deep_copy(old);
        if (st)
            json_object_set_new(next, "status", st);
        md = json_object_get(next, "metadata");
    } else if (json_object_get(old, "status")) {
        json_object_set(next, "status", json_object_get(old, "status"));
    } else {
        json_object_del(next, "status");
    }
    apply_defaults(s, r, next, old);
    struct causes c = {json_array()};
    validate(r, next, &c);
    if ((r == KS_DEPLOYMENTS || r == KS_REPLICASETS) &&
        !json_equal(ks_at(old, "spec.selector"), ks_at(next, "spec.selector")))
        cause(&c, "spec.selector", "FieldValueInvalid", "Invalid value: field is immutable");
    if (reply_invalid(resp, r, name, &c)) {
        json_decref(c.arr);
        goto out;
    }
    json_decref(c.arr);
    if (!json_equal(json_object_get(old, "spec"), json_object_get(next, "spec")))
        json_object_set_new(md, "generation",
                            json_integer(ks_int(old, "metadata.generation", 0) + 1));
    if (is_dry_run(rq) || json_equal(old, next)) {
        /* A no-op write keeps the resourceVersion, as on a real server. */
        const json_t *shown = is_dry_run(rq) ? next : old;
        if (!strcmp(rt->sub, "scale"))
            reply_json(resp, 200, scale_json(shown));
        else
            reply_object(resp, 200, r, rq, (json_t *)shown);
        goto out;
    }
    bool finish = ks_at(next, "metadata.deletionTimestamp") &&
                  json_array_size(ks_at(next, "metadata.finalizers")) == 0 && r != KS_PODS;
    json_t *stored = ks_put(s, r, json_incref(next));
    if (!strcmp(rt->sub, "scale"))
        reply_json(resp, 200, scale_json(stored));
    else
        reply_object(resp, 200, r, rq, stored);
    if (finish)
        ks_remove(s, r, rt->ns, name);
out:
    json_decref(next);
}

static json_t *scale_apply(const json_t *old, const json_t *scale)
{
    json_t *next = json_deep_copy(old);
    json_t *rep = ks_at(scale, "spec.replicas");
    if (json_is_integer(rep))
        json_object_set(ks_obj_at(next, "spec"), "replicas", rep);
    const char *rv = ks_str(scale, "metadata.resourceVersion");
    if (rv)
        json_object_set_new(ks_obj_at(next, "metadata"), "resourceVersion", json_string(rv));
    else
        json_object_del(ks_obj_at(next, "metadata"), "resourceVersion");
    return next;
}

static void handle_put(struct kubesim *s,
                       const struct ks_request *rq,
                       const struct route *rt,
                       struct ks_response *resp,
                       json_t *body,
                       const json_t *old)
{
    json_t *next;
    if (!strcmp(rt->sub, "scale")) {
        next = scale_apply(old, body);
        json_decref(body);
    } else {
        next = body;
    }
    commit_update(s, rq, rt, resp, old, next);
}

static void handle_patch(struct kubesim *s,
                         const struct ks_request *rq,
                         const struct route *rt,
                         struct ks_response *resp,
                         json_t *patch,
                         const json_t *old)
{
    const char *ct = rq->content_type ? rq->content_type : "";
    json_t *next = NULL;
    struct ty_error e = TY_ERROR_INIT;
    const json_t *base = old;
    json_t *scale = NULL;
    if (!strcmp(rt->sub, "scale"))
        base = scale = scale_json(old);
    if (ty_str_has_prefix(ct, "application/merge-patch+json")) {
        next = ks_patch_merge(base, patch);
    } else if (ty_str_has_prefix(ct, "application/strategic-merge-patch+json")) {
        next = ks_patch_strategic(base, patch);
    } else if (ty_str_has_prefix(ct, "application/apply-patch+yaml")) {
        next = ks_patch_strategic(base, patch);
    } else if (ty_str_has_prefix(ct, "application/json-patch+json")) {
        next = ks_patch_json(base, patch, &e);
        if (!next) {
            char msg[700];
            snprintf(msg, sizeof msg,
                     "the server rejected our request due to an error in our "
                     "request: %s",
                     e.msg);
            reply_json(resp, 422, status_json(422, "Invalid", rt->name, rt->res, msg));
            goto out;
        }
    } else {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "the body of the request was in an unknown format - accepted "
                 "media types include: application/json-patch+json, "
                 "application/merge-patch+json, application/apply-patch+yaml, "
                 "application/strategic-merge-patch+json");
        reply_json(resp, 415, status_json(415, "UnsupportedMediaType", NULL, rt->res, msg));
        goto out;
    }
    if (!json_is_object(next)) {
        bad_request(resp, "the patch did not produce an object");
        json_decref(next);
        goto out;
    }
    if (scale) {
        json_t *n2 = scale_apply(old, next);
        json_decref(next);
        next = n2;
    }
    commit_update(s, rq, rt, resp, old, next);
out:
    json_decref(scale);
}

/* ---- delete ---- */

static void
delete_options(const struct ks_request *rq, const char **prop, long *grace, json_t **body_out)
{
    *body_out = NULL;
    *prop = ks_query_get(&rq->q, "propagationPolicy");
    *grace = -1;
    const char *g = ks_query_get(&rq->q, "gracePeriodSeconds");
    if (g && *g)
        *grace = atol(g);
    if (rq->body && rq->body_len) {
        json_t *b = json_loadb(rq->body, rq->body_len, 0, NULL);
        if (json_is_object(b)) {
            const char *p = json_string_value(json_object_get(b, "propagationPolicy"));
            if (p)
                *prop = p;
            if (json_is_integer(json_object_get(b, "gracePeriodSeconds")))
                *grace = (long)json_integer_value(json_object_get(b, "gracePeriodSeconds"));
            if (json_is_true(json_object_get(b, "orphanDependents")))
                *prop = "Orphan";
        }
        *body_out = b;
    }
}

static void handle_delete(struct kubesim *s,
                          const struct ks_request *rq,
                          const struct route *rt,
                          struct ks_response *resp,
                          json_t *obj)
{
    enum ks_res r = rt->res;
    const char *prop;
    long grace;
    json_t *opts;
    delete_options(rq, &prop, &grace, &opts);
    json_t *pre = json_object_get(opts, "preconditions");
    const char *puid = ks_str(pre, "uid"), *prv = ks_str(pre, "resourceVersion");
    char q[96];
    if ((puid && strcmp(puid, ks_str(obj, "metadata.uid"))) ||
        (prv && strcmp(prv, ks_str(obj, "metadata.resourceVersion")))) {
        ks_status(resp, 409, "Conflict", rt->name, r,
                  "Operation cannot be fulfilled on %s \"%s\": Precondition failed: %s",
                  ks_res_qualified(r, q, sizeof q), rt->name,
                  puid ? "UID in precondition does not match"
                       : "ResourceVersion in "
                         "precondition does not match");
        goto out;
    }
    if (prop && strcmp(prop, "Background") && strcmp(prop, "Foreground") &&
        strcmp(prop, "Orphan")) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: "
                 "Unsupported value: \"%s\"",
                 prop);
        reply_json(resp, 422, status_json(422, "Invalid", NULL, r, msg));
        goto out;
    }
    json_t *keep = json_incref(obj);
    if (!is_dry_run(rq))
        ks_delete_object(s, r, obj, prop, grace);
    json_t *now = ks_get(s, r, rt->ns[0] ? rt->ns : NULL, rt->name);
    if (r == KS_PODS || r == KS_NAMESPACES || (now && ks_at(now, "metadata.deletionTimestamp"))) {
        reply_object(resp, 200, r, rq, now ? now : keep);
    } else {
        json_t *st = status_json(200, "", rt->name, r, "");
        json_object_del(st, "reason");
        json_object_del(st, "message");
        json_object_set_new(json_object_get(st, "details"), "uid",
                            json_string(ks_str(keep, "metadata.uid")));
        reply_json(resp, 200, st);
    }
    json_decref(keep);
out:
    json_decref(opts);
}

static void handle_delete_collection(struct kubesim *s,
                                     const struct ks_request *rq,
                                     const struct route *rt,
                                     struct ks_response *resp)
{
    struct filters f;
    enum ks_res r = rt->res;
    if (!filters_parse(&f, r, rq, resp))
        return;
    const char *prop;
    long grace;
    json_t *opts;
    delete_options(rq, &prop, &grace, &opts);
    json_t *all = ks_list_match(s, r, rt->ns[0] ? rt->ns : NULL, f.labels, match_cb, &f);
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
    {
        if (!is_dry_run(rq))
            ks_delete_object(s, r, v, prop, grace);
    }
    json_decref(all);
    json_decref(opts);
    filters_free(&f);
    json_t *st = status_json(200, "", NULL, r, "");
    json_object_del(st, "reason");
    json_object_del(st, "message");
    reply_json(resp, 200, st);
}

/* ---- metrics ---- */

static json_t *pod_metrics(struct kubesim *s, const json_t *pod)
{
    char key[600], now[32];
    const char *ns = ks_str(pod, "metadata.namespace"), *name = ks_str(pod, "metadata.name");
    snprintf(key, sizeof key, "%s/%s", ns, name);
    json_t *m = json_object_get(s->metrics, key);
    long cpu = (long)json_integer_value(json_array_get(m, 0));
    long mem = (long)json_integer_value(json_array_get(m, 1));
    json_t *cs = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(ks_at(pod, "spec.containers"), i, c)
    {
        char cpus[32], mems[32];
        snprintf(cpus, sizeof cpus, "%ldm", cpu);
        snprintf(mems, sizeof mems, "%ldKi", mem / 1024);
        json_array_append_new(cs, json_pack("{s:s,s:{s:s,s:s}}", "name", ks_str(c, "name"), "usage",
                                            "cpu", cpus, "memory", mems));
    }
    ks_now_iso(now);
    json_t *md =
        json_pack("{s:s,s:s,s:s}", "name", name, "namespace", ns, "creationTimestamp", now);
    if (ks_at(pod, "metadata.labels"))
        json_object_set(md, "labels", ks_at(pod, "metadata.labels"));
    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:o}", "kind", "PodMetrics", "apiVersion",
                     "metrics.k8s.io/v1beta1", "metadata", md, "timestamp", now, "window", "10.0s",
                     "containers", cs);
}

static bool pod_running(const json_t *pod)
{
    const char *phase = ks_str(pod, "status.phase");
    return phase && !strcmp(phase, "Running") && !ks_at(pod, "metadata.deletionTimestamp");
}

static void handle_metrics(struct kubesim *s,
                           const struct ks_request *rq,
                           const struct route *rt,
                           struct ks_response *resp)
{
    if (strcmp(rq->method, "GET") != 0) {
        ks_status(resp, 405, "MethodNotAllowed", NULL, KS_PODS,
                  "the server does not allow this method on the requested resource");
        return;
    }
    if (rt->name[0]) {
        json_t *pod = ks_get(s, KS_PODS, rt->ns, rt->name);
        if (!pod || !pod_running(pod)) {
            char msg[700];
            snprintf(msg, sizeof msg, "podmetrics.metrics.k8s.io \"%s/%s\" not found", rt->ns,
                     rt->name);
            json_t *st = status_json(404, "NotFound", NULL, KS_PODS, msg);
            json_object_set_new(st, "details",
                                json_pack("{s:s,s:s,s:s}", "name", rt->name, "group",
                                          "metrics.k8s.io", "kind", "pods"));
            reply_json(resp, 404, st);
            return;
        }
        reply_json(resp, 200, pod_metrics(s, pod));
        return;
    }
    struct filters f;
    if (!filters_parse(&f, KS_PODS, rq, resp))
        return;
    json_t *pods = ks_list(s, KS_PODS, rt->ns[0] ? rt->ns : NULL), *items = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        if (pod_running(p) && filters_match(&f, p))
            json_array_append_new(items, pod_metrics(s, p));
    }
    json_decref(pods);
    filters_free(&f);
    reply_json(resp, 200,
               json_pack("{s:s,s:s,s:{},s:o}", "kind", "PodMetricsList", "apiVersion",
                         "metrics.k8s.io/v1beta1", "metadata", "items", items));
}

/* ---- dispatch ---- */

/* 403 for the read-only token, worded like the real RBAC denial. */
static void forbidden(struct ks_response *resp, const struct ks_request *rq, const struct route *rt)
{
    const char *m = rq->method;
    const char *verb = !strcmp(m, "POST")     ? "create"
                       : !strcmp(m, "PUT")    ? "update"
                       : !strcmp(m, "PATCH")  ? "patch"
                       : !strcmp(m, "DELETE") ? (rt->name[0] ? "delete" : "deletecollection")
                                              : "access";
    char q[96], obj[400], where[300] = "";
    const struct ks_resource *d = &ks_resources[rt->res];
    ks_res_qualified(rt->res, q, sizeof q);
    if (rt->name[0])
        snprintf(obj, sizeof obj, "%s \"%s\"", q, rt->name);
    else
        snprintf(obj, sizeof obj, "%s", q);
    if (rt->ns[0])
        snprintf(where, sizeof where, " in the namespace \"%s\"", rt->ns);
    ks_status(resp, 403, "Forbidden", rt->name[0] ? rt->name : "", rt->res,
              "%s is forbidden: User \"kubesim:readonly\" cannot %s resource \"%s%s%s\" in API "
              "group \"%s\"%s",
              obj, verb, d->plural, rt->sub[0] ? "/" : "", rt->sub, d->group, where);
}

static void handle_locked(struct kubesim *s, const struct ks_request *rq, struct ks_response *resp)
{
    struct route rt;
    const char *m = rq->method;
    if (!strcmp(m, "GET") && discovery(rq->path, resp))
        return;
    if (!strncmp(rq->path, "/openapi/", 9) || !route_parse(rq->path, &rt)) {
        reply_json(resp, 404,
                   status_json(404, "NotFound", NULL, KS_PODS,
                               "the server could not find the requested resource"));
        return;
    }
    if (rt.metrics) {
        handle_metrics(s, rq, &rt, resp);
        return;
    }
    enum ks_res r = rt.res;
    if (rq->readonly && strcmp(m, "GET") != 0) {
        forbidden(resp, rq, &rt);
        return;
    }
    const char *w = ks_query_get(&rq->q, "watch");
    bool watch = rt.watch_prefix || (w && (!strcmp(w, "1") || !strcmp(w, "true")));
    if (rt.sub[0] && strcmp(rt.sub, "status") &&
        !(strcmp(rt.sub, "scale") == 0 && (r == KS_DEPLOYMENTS || r == KS_REPLICASETS)) &&
        !(strcmp(rt.sub, "log") == 0 && r == KS_PODS)) {
        reply_json(resp, 404,
                   status_json(404, "NotFound", NULL, r,
                               "the server could not find the requested resource"));
        return;
    }
    if (!strcmp(m, "GET") && watch && !rt.sub[0]) {
        /* A watch of one object (old /watch/ path or ?watch on the object) is a
         * collection watch narrowed by name, as the real server does it. */
        struct filters f;
        const char *rvq = ks_query_get(&rq->q, "resourceVersion");
        int64_t rvn;
        if (rvq && *rvq && ty_str_to_i64(rvq, 0, INT64_MAX, &rvn) != 0) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "resourceVersion: Invalid value: \"%.200s\": must be an "
                     "integer",
                     rvq);
            bad_request(resp, msg);
            return;
        }
        if (!filters_parse(&f, r, rq, resp))
            return;
        filters_free(&f);
        resp->is_watch = true;
        resp->status = 200;
        return;
    }
    if (!rt.name[0]) {
        if (!strcmp(m, "GET") && watch) {
            struct filters f;
            if (!filters_parse(&f, r, rq, resp))
                return;
            filters_free(&f);
            resp->is_watch = true;
            resp->status = 200;
            return;
        }
        if (!strcmp(m, "GET")) {
            handle_list(s, rq, &rt, resp);
        } else if (!strcmp(m, "POST")) {
            if (ks_resources[r].namespaced && !rt.ns[0]) {
                ks_status(resp, 405, "MethodNotAllowed", NULL, r,
                          "the server does not allow this method on the requested resource");
                return;
            }
            json_t *body = parse_body(rq, resp);
            if (body && check_kind(r, body, resp))
                handle_create(s, rq, &rt, resp, body);
            json_decref(body);
        } else if (!strcmp(m, "DELETE")) {
            handle_delete_collection(s, rq, &rt, resp);
        } else {
            ks_status(resp, 405, "MethodNotAllowed", NULL, r,
                      "the server does not allow this method on the requested resource");
        }
        return;
    }
    json_t *obj = ks_get(s, r, rt.ns[0] ? rt.ns : NULL, rt.name);
    if (!obj && !(!strcmp(m, "PATCH") && rq->content_type &&
                  ty_str_has_prefix(rq->content_type, "application/apply-patch"))) {
        not_found(resp, r, rt.name);
        return;
    }
    obj = json_incref(obj);
    if (!strcmp(m, "GET")) {
        if (!strcmp(rt.sub, "scale")) {
            reply_json(resp, 200, scale_json(obj));
        } else if (!strcmp(rt.sub, "log")) {
            resp->status = 200;
            resp->content_type = "text/plain";
            ty_buf_printf(&resp->body, "kubesim: pod %s is simulated; phase %s\n", rt.name,
                          ks_str(obj, "status.phase") ? ks_str(obj, "status.phase") : "Unknown");
        } else {
            reply_object(resp, 200, r, rq, obj);
        }
    } else if (!strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        json_t *body = parse_body(rq, resp);
        if (!body) {
            /* reply already set */
        } else if (!obj) {
            /* server-side apply of a missing object creates it */
            struct route crt = rt;
            crt.name[0] = 0;
            if (ks_resources[r].namespaced && !ns_exists(s, rt.ns, resp)) {
                json_decref(body);
            } else if (!ks_query_get(&rq->q, "fieldManager")) {
                reply_json(resp, 422,
                           status_json(422, "Invalid", NULL, r,
                                       "PatchOptions.meta.k8s.io \"\" is invalid: "
                                       "fieldManager: Required value: is required "
                                       "for apply patch"));
                json_decref(body);
            } else {
                if (check_kind(r, body, resp))
                    handle_create(s, rq, &crt, resp, body);
                json_decref(body);
            }
        } else if (!strcmp(m, "PUT")) {
            handle_put(s, rq, &rt, resp, body, obj);
        } else {
            handle_patch(s, rq, &rt, resp, body, obj);
            json_decref(body);
        }
    } else if (!strcmp(m, "DELETE")) {
        handle_delete(s, rq, &rt, resp, obj);
    } else {
        ks_status(resp, 405, "MethodNotAllowed", NULL, r,
                  "the server does not allow this method on the requested resource");
    }
    json_decref(obj);
}

void ks_api_handle(struct kubesim *s, const struct ks_request *rq, struct ks_response *resp)
{
    pthread_mutex_lock(&s->mu);
    handle_locked(s, rq, resp);
    pthread_mutex_unlock(&s->mu);
}

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
    json_t *st = status_json(410, "Expired", NULL, KS_PODS,
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

static bool event_in_scope(const struct route *rt, const struct ks_event *e)
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

void ks_api_watch(struct kubesim *s, const struct ks_request *rq, ks_write_fn write, void *payload)
{
    struct route rt;
    struct filters f;
    struct ty_buf out = TY_BUF_INIT;
    struct ks_response dummy = {0};
    ty_buf_init(&dummy.body);
    if (!route_parse(rq->path, &rt) || !filters_parse(&f, rt.res, rq, &dummy)) {
        ty_buf_cleanup(&dummy.body);
        return;
    }
    ty_buf_cleanup(&dummy.body);
    if (rt.name[0]) {
        /* old-style /watch/namespaces/ns/pods/name: watch one object */
        struct ks_selector *byname = NULL;
        char fs[300];
        snprintf(fs, sizeof fs, "metadata.name=%s", rt.name);
        if (ks_field_selector_parse(&byname, rt.res, fs, NULL) == 0) {
            ks_selector_free(f.fields);
            f.fields = byname;
        }
    }
    const char *rvs = ks_query_get(&rq->q, "resourceVersion");
    const char *ts = ks_query_get(&rq->q, "timeoutSeconds");
    const char *bm = ks_query_get(&rq->q, "allowWatchBookmarks");
    bool bookmarks = bm && (!strcmp(bm, "true") || !strcmp(bm, "1"));
    bool table = wants_table(rq);
    int64_t now = ty_time_mono_ms();
    int64_t deadline = now + (ts && atol(ts) > 0 ? atol(ts) * 1000L : 1800L * 1000L);
    int64_t next_bookmark = now + 1000;
    long next;
    bool done = false;

    pthread_mutex_lock(&s->mu);
    if (s->faults.gone_next_watch) {
        s->faults.gone_next_watch = false;
        watch_gone(&out);
        done = true;
    } else if (!rvs || !*rvs || !strcmp(rvs, "0")) {
        json_t *all = ks_list(s, rt.res, rt.ns[0] ? rt.ns : NULL);
        size_t i;
        json_t *v;
        json_array_foreach(all, i, v)
        {
            if (filters_match(&f, v))
                watch_event(&out, "ADDED", rt.res, table, v);
        }
        json_decref(all);
        next = s->rv + 1;
    } else {
        long want = atol(rvs);
        if (want + 1 < s->hist_oldest) {
            watch_gone(&out);
            done = true;
        }
        next = want >= s->rv ? s->rv + 1 : want + 1;
    }
    while (!done) {
        while (next <= s->rv) {
            if (next < s->hist_oldest) {
                watch_gone(&out);
                done = true;
                break;
            }
            const struct ks_event *e = &s->hist[next % KS_HISTORY];
            next++;
            if (!event_in_scope(&rt, e))
                continue;
            bool mn = filters_match(&f, e->obj);
            bool mo = e->old && filters_match(&f, e->old);
            if (e->type == KS_ADDED && mn)
                watch_event(&out, "ADDED", rt.res, table, e->obj);
            else if (e->type == KS_MODIFIED && mn)
                watch_event(&out, mo ? "MODIFIED" : "ADDED", rt.res, table, e->obj);
            else if (e->type == KS_MODIFIED && mo)
                watch_event(&out, "DELETED", rt.res, table, e->obj);
            else if (e->type == KS_DELETED && (mo || mn))
                watch_event(&out, "DELETED", rt.res, table, e->obj);
        }
        now = ty_time_mono_ms();
        if (!done && bookmarks && now >= next_bookmark) {
            char rvb[32];
            snprintf(rvb, sizeof rvb, "%ld", next - 1);
            json_t *b =
                json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "kind", ks_resources[rt.res].kind,
                          "apiVersion", ks_res_api_version(rt.res), "metadata", "resourceVersion",
                          rvb, "annotations", "k8s.io/initial-events-end", "true");
            watch_line(&out, "BOOKMARK", b);
            json_decref(b);
            next_bookmark = now + 1000;
        }
        if (out.len > 0) {
            pthread_mutex_unlock(&s->mu);
            int wr = write(payload, out.data, out.len);
            ty_buf_reset(&out);
            pthread_mutex_lock(&s->mu);
            if (wr < 0)
                break;
            continue;
        }
        if (done || s->stopping || now >= deadline)
            break;
        int64_t until = deadline;
        if (bookmarks && next_bookmark < until)
            until = next_bookmark;
        if (until > now + 1000)
            until = now + 1000;
        struct timespec tsp = ty_time_deadline(CLOCK_REALTIME, until - now);
        pthread_cond_timedwait(&s->cond, &s->mu, &tsp);
    }
    if (out.len > 0) {
        pthread_mutex_unlock(&s->mu);
        write(payload, out.data, out.len);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    ty_buf_cleanup(&out);
    filters_free(&f);
}
