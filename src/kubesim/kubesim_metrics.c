/*
 * kubesim_metrics.c - the metrics.k8s.io/v1beta1 API (what `kubectl top pod`
 * and the culler read): usage of the Running pods, as set by
 * kubesim_set_pod_cpu() or POST /_sim/metrics.
 */
#include "kubesim/kubesim_int.h"

#include <stdio.h>
#include <string.h>

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

void ks_api_metrics(struct kubesim *s,
                    const struct ks_request *rq,
                    const struct ks_route *rt,
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
            json_t *st = ks_status_json(404, "NotFound", NULL, KS_PODS, msg);
            json_object_set_new(st, "details",
                                json_pack("{s:s,s:s,s:s}", "name", rt->name, "group",
                                          "metrics.k8s.io", "kind", "pods"));
            ks_reply_json(resp, 404, st);
            return;
        }
        ks_reply_json(resp, 200, pod_metrics(s, pod));
        return;
    }
    struct ks_filters f;
    if (!ks_filters_parse(&f, KS_PODS, rq, resp))
        return;
    json_t *pods = ks_list(s, KS_PODS, rt->ns[0] ? rt->ns : NULL), *items = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(pods, i, p)
    {
        if (pod_running(p) && ks_filters_match(&f, p))
            json_array_append_new(items, pod_metrics(s, p));
    }
    json_decref(pods);
    ks_filters_free(&f);
    ks_reply_json(resp, 200,
                  json_pack("{s:s,s:s,s:{},s:o}", "kind", "PodMetricsList", "apiVersion",
                            "metrics.k8s.io/v1beta1", "metadata", "items", items));
}
