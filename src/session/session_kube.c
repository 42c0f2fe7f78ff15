/*
 * session_kube.c - what the session service asks of the cluster, beyond single
 * creates and patches: deleting and finding every object of one launch by its
 * tycho-guid label, reading why pods do not start, and Kubernetes quantities.
 *
 * Everything a launch creates carries `executor=tycho` and `tycho-guid=<id>`,
 * so a stop does not need to remember what was created: it deletes the
 * collection of each kind by that selector.  Tycho deleted Deployments,
 * ReplicaSets, Pods and (unlabelled) PVCs, and leaked NetworkPolicies; the
 * list below covers every kind the compiler emits.
 */
#include "session/session_int.h"

#include "util/mem.h"
#include "util/quantity.h"
#include "util/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t session_kinds(enum kube_kind out[SESSION_KINDS_MAX], const struct session_service *svc)
{
    static const enum kube_kind always[] = {
        KUBE_DEPLOYMENT,    KUBE_REPLICASET, KUBE_POD,    KUBE_SERVICE,
        KUBE_NETWORKPOLICY, KUBE_PVC,        KUBE_SECRET,
    };
    size_t n = sizeof(always) / sizeof(always[0]);
    memcpy(out, always, sizeof(always));
    /* Ingresses only when the policy makes them: a cluster (or a Role) without
     * them must not fail every stop.  Those of an earlier mode go with their
     * Deployment, which owns them. */
    if (svc->policy->compose.ingress_object)
        out[n++] = KUBE_INGRESS;
    return n;
}

char *session_guid_selector(const char *id)
{
    return ty_xasprintf("executor=tycho,tycho-guid=%s", id);
}

const char *session_obj_label(const json_t *obj, const char *key)
{
    json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
    return json_string_value(json_object_get(labels, key));
}

const char *session_obj_guid(const json_t *obj)
{
    return session_obj_label(obj, "tycho-guid");
}

int session_cluster_delete_all(struct session_service *svc, const char *id, struct ty_error *err)
{
    char *sel = session_guid_selector(id);
    int first = 0;
    struct ty_error e = TY_ERROR_INIT;
    enum kube_kind kinds[SESSION_KINDS_MAX];
    size_t nk = session_kinds(kinds, svc);

    for (size_t i = 0; i < nk; i++) {
        int rc = kube_delete_collection(svc->kube, kinds[i], svc->ns, sel,
                                        KUBE_PROPAGATION_BACKGROUND, &e);
        if (rc == TY_ENOTFOUND)
            rc = 0; /* a kind the cluster does not serve has nothing of ours */
        if (rc && !first) {
            first = rc;
            ty_error_set(err, rc, "delete %s with tycho-guid=%s: %s", kube_kind_resource(kinds[i]),
                         id, e.msg);
        }
    }
    free(sel);
    return first;
}

int session_cluster_gone(bool *gone_out,
                         struct session_service *svc,
                         const char *id,
                         struct ty_error *err)
{
    /* Pods first: they are the last to go. */
    enum kube_kind kinds[SESSION_KINDS_MAX], order[SESSION_KINDS_MAX + 1];
    size_t nk = session_kinds(kinds, svc), n_order = 0;
    char *sel = session_guid_selector(id);
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    int rc = 0;

    order[n_order++] = KUBE_POD;
    for (size_t i = 0; i < nk; i++)
        if (kinds[i] != KUBE_POD)
            order[n_order++] = kinds[i];
    *gone_out = false;
    lo.label_selector = sel;
    lo.limit = 1;
    for (size_t i = 0; i < n_order; i++) {
        json_t *list = NULL;
        rc = kube_list(&list, svc->kube, order[i], svc->ns, &lo, err);
        if (rc) {
            ty_error_wrap(err, "list %s with tycho-guid=%s: ", kube_kind_resource(order[i]), id);
            goto out;
        }
        size_t n = json_array_size(json_object_get(list, "items"));
        json_decref(list);
        if (n > 0)
            goto out;
    }
    *gone_out = true;
out:
    free(sel);
    return rc;
}

/* Waiting reasons that mean the container will not start by itself soon. */
static const char *const bad_waiting[] = {
    "ImagePullBackOff",  "ErrImagePull",
    "CrashLoopBackOff",  "InvalidImageName",
    "ErrImageNeverPull", "CreateContainerConfigError",
    "ImageInspectError", "CreateContainerError",
    "RunContainerError", NULL,
};

static bool
statuses_problem(char *reason, size_t rn, char *message, size_t mn, const json_t *statuses)
{
    size_t i;
    json_t *cs;

    json_array_foreach(statuses, i, cs)
    {
        json_t *waiting = json_object_get(json_object_get(cs, "state"), "waiting");
        const char *r = json_string_value(json_object_get(waiting, "reason"));
        if (r && ty_str_in(r, bad_waiting)) {
            const char *m = json_string_value(json_object_get(waiting, "message"));
            const char *cname = json_string_value(json_object_get(cs, "name"));
            ty_strlcpy(reason, r, rn);
            snprintf(message, mn, "container %s: %s", cname ? cname : "?", m ? m : r);
            return true;
        }
    }
    return false;
}

void session_pods_problem(char *reason, size_t rn, char *message, size_t mn, const json_t *pods)
{
    size_t i;
    json_t *pod;

    reason[0] = '\0';
    message[0] = '\0';
    json_array_foreach(pods, i, pod)
    {
        json_t *status = json_object_get(pod, "status");
        if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
            continue; /* a pod on its way out says nothing about the launch */
        if (statuses_problem(reason, rn, message, mn,
                             json_object_get(status, "initContainerStatuses")) ||
            statuses_problem(reason, rn, message, mn, json_object_get(status, "containerStatuses")))
            return;
        size_t j;
        json_t *cond;
        json_array_foreach(json_object_get(status, "conditions"), j, cond)
        {
            const char *type = json_string_value(json_object_get(cond, "type"));
            const char *st = json_string_value(json_object_get(cond, "status"));
            const char *r = json_string_value(json_object_get(cond, "reason"));
            if (type && !strcmp(type, "PodScheduled") && st && !strcmp(st, "False") && r &&
                !strcmp(r, "Unschedulable")) {
                const char *m = json_string_value(json_object_get(cond, "message"));
                ty_strlcpy(reason, r, rn);
                ty_strlcpy(message, m ? m : "no node fits the pod", mn);
                return;
            }
        }
    }
}

void session_events_message(struct session_service *svc, const char *name, char *message, size_t mn)
{
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    json_t *list = NULL;
    char *fs = ty_xasprintf("involvedObject.name=%s", name);
    const char *best = NULL;
    size_t i;
    json_t *ev;

    lo.field_selector = fs;
    if (kube_list(&list, svc->kube, KUBE_EVENT, svc->ns, &lo, NULL) == 0) {
        /* Items come oldest first; keep the last warning. */
        json_array_foreach(json_object_get(list, "items"), i, ev)
        {
            const char *type = json_string_value(json_object_get(ev, "type"));
            const char *m = json_string_value(json_object_get(ev, "message"));
            if (type && !strcmp(type, "Warning") && m)
                best = m;
        }
        if (best && !strstr(message, best)) {
            size_t len = strlen(message);
            snprintf(message + len, mn - len, "%sevent: %s", len ? "; " : "", best);
        }
    }
    json_decref(list);
    free(fs);
}

/* The quantity parsers live in util/quantity.h, shared with the launch
 * policy and the compose compiler; these names remain for the service. */
int session_cpu_parse(int64_t *millis_out, const char *text, struct ty_error *err)
{
    return ty_quantity_cpu(millis_out, text, err);
}

int session_memory_parse(int64_t *bytes_out, const char *text, struct ty_error *err)
{
    return ty_quantity_bytes(bytes_out, text, err);
}
