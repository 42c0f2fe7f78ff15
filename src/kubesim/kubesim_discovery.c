/*
 * kubesim_discovery.c - what a client reads before it touches a resource:
 * /version, the legacy discovery documents (/api, /apis, /api/v1,
 * /apis/GROUP/VERSION) with verbs, short names and categories, and the
 * aggregated discovery documents (apidiscovery.k8s.io/v2) that kubectl asks
 * for in the Accept header of /api and /apis: with them it learns every
 * resource in two requests instead of one per group version.
 */
#include "kubesim/kubesim_int.h"

#include <stdio.h>
#include <string.h>

/* ---- discovery ---- */

static const char *const all_verbs[] = {
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};

static json_t *resource_list(const char *group_version)
{
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

/* ---- aggregated discovery (apidiscovery.k8s.io/v2) ---- */

#define CT_AGGREGATED "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


static json_t *verbs_json(const char *const *verbs)
{
    json_t *a = json_array();
    for (; *verbs; verbs++)
        json_array_append_new(a, json_string(*verbs));
    return a;
}

static json_t *
subresource_json(const char *sub, const char *group, const char *kind, const char *const *verbs)
{
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:o}", "subresource", sub, "responseKind", "group",
                     group, "version", "v1", "kind", kind, "verbs", verbs_json(verbs));
}

/* One APIResourceDiscovery entry for r, with its subresources. */
static json_t *resource_discovery(enum ks_res r)
{
    static const char *const rw[] = {"get", "patch", "update", NULL};
    static const char *const get[] = {"get", NULL};
    const struct ks_resource *d = &ks_resources[r];
    json_t *e = json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:o}", "resource", d->plural,
                          "responseKind", "group", d->group, "version", d->version, "kind", d->kind,
                          "scope", d->namespaced ? "Namespaced" : "Cluster", "singularResource",
                          d->singular, "verbs", verbs_json(all_verbs));
    if (d->short_name)
        json_object_set_new(e, "shortNames", json_pack("[s]", d->short_name));
    if (r == KS_PODS || r == KS_SERVICES || r == KS_DEPLOYMENTS || r == KS_REPLICASETS)
        json_object_set_new(e, "categories", json_pack("[s]", "all"));
    json_t *subs = json_array();
    if (r == KS_DEPLOYMENTS || r == KS_REPLICASETS)
        json_array_append_new(subs, subresource_json("scale", "autoscaling", "Scale", rw));
    if (r == KS_PODS)
        json_array_append_new(subs, subresource_json("log", "", "Pod", get));
    if (r == KS_PODS || r == KS_DEPLOYMENTS || r == KS_REPLICASETS || r == KS_SERVICES ||
        r == KS_PVCS || r == KS_NAMESPACES)
        json_array_append_new(subs, subresource_json("status", d->group, d->kind, rw));
    if (json_array_size(subs))
        json_object_set_new(e, "subresources", subs);
    else
        json_decref(subs);
    return e;
}

/* An APIGroupDiscovery: group name ("" for the core group) and its one version. */
static json_t *group_discovery(const char *group, const char *version)
{
    json_t *res = json_array();
    for (int r = 0; r < KS_NRES; r++)
        if (!strcmp(ks_resources[r].group, group) && !strcmp(ks_resources[r].version, version))
            json_array_append_new(res, resource_discovery((enum ks_res)r));
    if (!strcmp(group, "metrics.k8s.io"))
        json_array_append_new(res,
                              json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:[ss]}", "resource", "pods",
                                        "responseKind", "group", "metrics.k8s.io", "version",
                                        "v1beta1", "kind", "PodMetrics", "scope", "Namespaced",
                                        "singularResource", "", "verbs", "get", "list"));
    json_t *md = group[0] ? json_pack("{s:s}", "name", group) : json_object();
    return json_pack("{s:o,s:[{s:s,s:o,s:s}]}", "metadata", md, "versions", "version", version,
                     "resources", res, "freshness", "Current");
}

/* Whether Accept asks for aggregated discovery v2 (kubectl 1.30+ does). */
static bool wants_aggregated(const char *accept)
{
    return accept && strstr(accept, "g=apidiscovery.k8s.io") && strstr(accept, "v=v2;") &&
           strstr(accept, "as=APIGroupDiscoveryList");
}

static void reply_aggregated(struct ks_response *resp, bool core)
{
    json_t *items = json_array();
    if (core) {
        json_array_append_new(items, group_discovery("", "v1"));
    } else {
        json_array_append_new(items, group_discovery("apps", "v1"));
        json_array_append_new(items, group_discovery("networking.k8s.io", "v1"));
        json_array_append_new(items, group_discovery("metrics.k8s.io", "v1beta1"));
    }
    ks_reply_json(resp, 200,
                  json_pack("{s:s,s:s,s:{},s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
                            "apidiscovery.k8s.io/v2", "metadata", "items", items));
    resp->content_type = CT_AGGREGATED;
}

/* ---- legacy discovery ---- */

static json_t *group_json(const char *name, const char *version)
{
    char gv[96];
    snprintf(gv, sizeof gv, "%s/%s", name, version);
    return json_pack("{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "name", name, "versions", "groupVersion",
                     gv, "version", version, "preferredVersion", "groupVersion", gv, "version",
                     version);
}

static void reply_version(struct ks_response *resp)
{
    ks_reply_json(resp, 200,
                  json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "32",
                            "gitVersion", "v1.32.0-kubesim", "gitCommit", "kubesim", "gitTreeState",
                            "clean", "buildDate", "2026-11-23T00:00:00Z", "goVersion", "go1.23",
                            "compiler", "gc", "platform", "linux/amd64"));
}

/* GET / lists the root paths, as the real server does. */
static void reply_root(struct ks_response *resp)
{
    ks_reply_json(resp, 200,
                  json_pack("{s:[sssssssssssss]}", "paths", "/api", "/api/v1", "/apis",
                            "/apis/apps", "/apis/apps/v1", "/apis/metrics.k8s.io",
                            "/apis/metrics.k8s.io/v1beta1", "/apis/networking.k8s.io",
                            "/apis/networking.k8s.io/v1", "/healthz", "/openapi/v2", "/openapi/v3",
                            "/version"));
}

static void reply_group(struct ks_response *resp, const char *name, const char *version)
{
    json_t *g = group_json(name, version);
    json_object_set_new(g, "kind", json_string("APIGroup"));
    json_object_set_new(g, "apiVersion", json_string("v1"));
    ks_reply_json(resp, 200, g);
}

bool ks_api_discovery(const struct ks_request *rq, struct ks_response *resp)
{
    /* The real server's discovery routes answer with and without a trailing
     * slash (the Python client asks for /version/). */
    char path[64];
    size_t n = strlen(rq->path);
    if (n >= sizeof path)
        return false;
    memcpy(path, rq->path, n + 1);
    if (n > 1 && path[n - 1] == '/')
        path[n - 1] = 0;
    if (!strcmp(path, "/")) {
        reply_root(resp);
    } else if (!strcmp(path, "/version")) {
        reply_version(resp);
    } else if (!strcmp(path, "/healthz") || !strcmp(path, "/livez") || !strcmp(path, "/readyz")) {
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        ty_buf_puts(&resp->body, "ok");
    } else if ((!strcmp(path, "/api") || !strcmp(path, "/apis")) && wants_aggregated(rq->accept)) {
        reply_aggregated(resp, !strcmp(path, "/api"));
    } else if (!strcmp(path, "/api")) {
        ks_reply_json(resp, 200,
                      json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions",
                                "v1", "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
                                "serverAddress", "127.0.0.1"));
    } else if (!strcmp(path, "/apis")) {
        ks_reply_json(resp, 200,
                      json_pack("{s:s,s:s,s:[ooo]}", "kind", "APIGroupList", "apiVersion", "v1",
                                "groups", group_json("apps", "v1"),
                                group_json("networking.k8s.io", "v1"),
                                group_json("metrics.k8s.io", "v1beta1")));
    } else if (!strcmp(path, "/api/v1")) {
        ks_reply_json(resp, 200, resource_list("v1"));
    } else if (!strcmp(path, "/apis/apps/v1")) {
        ks_reply_json(resp, 200, resource_list("apps/v1"));
    } else if (!strcmp(path, "/apis/networking.k8s.io/v1")) {
        ks_reply_json(resp, 200, resource_list("networking.k8s.io/v1"));
    } else if (!strcmp(path, "/apis/metrics.k8s.io/v1beta1")) {
        ks_reply_json(resp, 200, resource_list("metrics.k8s.io/v1beta1"));
    } else if (!strcmp(path, "/apis/apps") || !strcmp(path, "/apis/networking.k8s.io")) {
        reply_group(resp, path + 6, "v1");
    } else if (!strcmp(path, "/apis/metrics.k8s.io")) {
        reply_group(resp, path + 6, "v1beta1");
    } else {
        return false;
    }
    return true;
}
