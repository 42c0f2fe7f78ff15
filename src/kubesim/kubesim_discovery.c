/*
 * kubesim_discovery.c - what a client reads before it touches a resource:
 * /version, the legacy discovery documents (/api, /apis, /api/v1,
 * /apis/GROUP/VERSION) with verbs, short names and categories.
 */
#include "kubesim/kubesim_int.h"

#include <stdio.h>
#include <string.h>

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

bool ks_api_discovery(const char *raw_path, struct ks_response *resp)
{
    /* The real server's discovery routes answer with and without a trailing
     * slash (the Python client asks for /version/). */
    char path[64];
    size_t n = strlen(raw_path);
    if (n >= sizeof path)
        return false;
    memcpy(path, raw_path, n + 1);
    if (n > 1 && path[n - 1] == '/')
        path[n - 1] = 0;
    if (!strcmp(path, "/version")) {
        ks_reply_json(resp, 200,
                      json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor",
                                "32", "gitVersion", "v1.32.0-kubesim", "gitCommit", "kubesim",
                                "gitTreeState", "clean", "buildDate", "2026-11-23T00:00:00Z",
                                "goVersion", "go1.23", "compiler", "gc", "platform",
                                "linux/amd64"));
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
        json_t *g = group_json(path + 6, "v1");
        json_object_set_new(g, "kind", json_string("APIGroup"));
        json_object_set_new(g, "apiVersion", json_string("v1"));
        ks_reply_json(resp, 200, g);
    } else {
        return false;
    }
    return true;
}
