/*
 * kubesim_ctrl.c - the controllers of the simulated cluster, in one thread.
 *
 * A tiny kube-controller-manager plus kubelet.  Like the real controllers it
 * works from a queue: every write queues the object, its owners and (when it
 * goes) its dependents (kubesim_store.c), and objects waiting on a delay stay
 * in a timed set looked at each tick (50 ms).  A pass takes s->mu and
 *   - moves pods along a scripted lifecycle (kubernetes.md section 7): Pending,
 *     scheduled with ContainerCreating, then Running and Ready after the
 *     configured delays; images matching the failure patterns go to
 *     ErrImagePull <-> ImagePullBackOff, CrashLoopBackOff with a growing
 *     restartCount, or stay Pending as Unschedulable; terminating pods vanish
 *     after the grace delay;
 *   - keeps ReplicaSets at their replica count and Deployments rolled out to
 *     a ReplicaSet per pod template (`<deploy>-<pod-template-hash>`), with the
 *     status counters and conditions kubectl shows;
 *   - binds PVCs, collects garbage by ownerReferences (Background and
 *     Foreground) and records the Events a real cluster would;
 *   - writes the state file when it is dirty (debounced).
 * Every write goes through ks_put() only when something really changed, so a
 * quiet cluster produces no watch events.
 */
#include "kubesim/kubesim_int.h"
#include "util/crypto.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum stage {
    ST_NEW = 0,
    ST_CREATING = 1,
    ST_RUNNING = 2,
    ST_UNSCHEDULABLE = 10,
    ST_PULL_FAIL = 11,
    ST_CRASH = 12,
};

#define NODE_NAME "kubesim-node-1"
#define NODE_IP   "172.18.0.2"

void ks_template_hash(const json_t *tmpl, char out[11])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char d[TY_SHA256_LEN];
    char *text = json_dumps(tmpl, JSON_SORT_KEYS | JSON_COMPACT);
    ty_sha256(d, text ? text : "", text ? strlen(text) : 0);
    free(text);
    for (int i = 0; i < 10; i++)
        out[i] = alphabet[d[i] % (sizeof alphabet - 1)];
    out[10] = 0;
}

static bool image_matches(const json_t *pod, const char *pattern, const char **image_out)
{
    size_t i;
    json_t *c;
    if (!pattern || !*pattern)
        return false;
    json_array_foreach(ks_at(pod, "spec.containers"), i, c)
    {
        const char *image = ks_str(c, "image");
        if (image && fnmatch(pattern, image, 0) == 0) {
            *image_out = image;
            return true;
        }
    }
    return false;
}

static json_t *sim_state(struct kubesim *s, const char *uid)
{
    json_t *st = json_object_get(s->podsim, uid);
    if (!st) {
        st = json_pack("{s:I,s:i,s:i,s:I}", "t0", (json_int_t)ty_time_mono_ms(), "stage", 0,
                       "restarts", 0, "next", (json_int_t)0);
        json_object_set_new(s->podsim, uid, st);
    }
    return st;
}

static void set_int(json_t *o, const char *k, json_int_t v)
{
    json_object_set_new(o, k, json_integer(v));
}

static json_t *
condition(const char *type, bool status, const char *reason, const char *msg, const char *now)
{
    json_t *c = json_pack("{s:s,s:s,s:n,s:s}", "type", type, "status", status ? "True" : "False",
                          "lastProbeTime", "lastTransitionTime", now);
    if (reason)
        json_object_set_new(c, "reason", json_string(reason));
    if (msg)
        json_object_set_new(c, "message", json_string(msg));
    return c;
}

/* Container statuses for all containers, each built by fn. */
static json_t *container_statuses(const json_t *pod,
                                  const char *waiting_reason,
                                  const char *waiting_msg,
                                  bool running,
                                  long restarts,
                                  const char *now)
{
    json_t *arr = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(ks_at(pod, "spec.containers"), i, c)
    {
        const char *name = ks_str(c, "name") ? ks_str(c, "name") : "";
        const char *image = ks_str(c, "image") ? ks_str(c, "image") : "";
        json_t *cs =
            json_pack("{s:s,s:s,s:s,s:b,s:i,s:b}", "name", name, "image", image, "imageID", "",
                      "ready", running, "restartCount", (int)restarts, "started", running);
        if (running) {
            char cid[80], guid[33];
            ty_guid_new(guid);
            snprintf(cid, sizeof cid, "containerd://%s%s", guid, guid);
            json_object_set_new(cs, "state", json_pack("{s:{s:s}}", "running", "startedAt", now));
            json_object_set_new(cs, "containerID", json_string(cid));
            char iid[300];
            snprintf(iid, sizeof iid, "docker.io/%s@sha256:%.64s", image,
                     "0000000000000000000000000000000000000000000000000000000000000000");
            json_object_set_new(cs, "imageID", json_string(iid));
        } else {
            json_t *w = json_pack("{s:s}", "reason", waiting_reason);
            if (waiting_msg)
                json_object_set_new(w, "message", json_string(waiting_msg));
            json_object_set_new(cs, "state", json_pack("{s:o}", "waiting", w));
        }
        if (restarts > 0)
            json_object_set_new(cs, "lastState",
                                json_pack("{s:{s:i,s:s,s:s,s:s}}", "terminated", "exitCode", 1,
                                          "reason", "Error", "startedAt", now, "finishedAt", now));
        json_array_append_new(arr, cs);
    }
    return arr;
}

static void pod_conditions(json_t *status, bool scheduled, bool ready, const char *now)
{
    json_t *conds = json_array();
    json_array_append_new(conds, condition("PodReadyToStartContainers", ready, NULL, NULL, now));
    json_array_append_new(conds, condition("Initialized", true, NULL, NULL, now));
    json_array_append_new(conds, condition("Ready", ready, ready ? NULL : "ContainersNotReady",
                                           ready ? NULL : "containers with unready status", now));
    json_array_append_new(conds,
                          condition("ContainersReady", ready, ready ? NULL : "ContainersNotReady",
                                    ready ? NULL : "containers with unready status", now));
    json_array_append_new(conds, condition("PodScheduled", scheduled, NULL, NULL, now));
    json_object_set_new(status, "conditions", conds);
}

/* A simulated compressed size for an image, stable per name (50-950 MB), for
 * the "Image size: N bytes." a kubelet appends to its Pulled event. */
static unsigned long long image_size(const char *image)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = image ? image : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return 50000000ULL + h % 900000000ULL;
}

static void
pod_events_each_container(struct kubesim *s, const json_t *pod, const char *reason, const char *fmt)
{
    size_t i;
    json_t *c;
    json_array_foreach(ks_at(pod, "spec.containers"), i, c)
    {
        char msg[512];
        const char *arg = !strcmp(reason, "Pulling") || !strcmp(reason, "Pulled")
                              ? ks_str(c, "image")
                              : ks_str(c, "name");
        int n = snprintf(msg, sizeof msg, fmt, arg ? arg : "");
        if (!strcmp(reason, "Pulled") && n > 0 && (size_t)n < sizeof msg)
            snprintf(msg + n, sizeof msg - (size_t)n, ". Image size: %llu bytes.", image_size(arg));
        ks_emit_event(s, pod, "Normal", reason, msg);
    }
}

/* One controller look at a pod: what it is, its private state, the time. */
struct pod_pass {
    struct kubesim *s;
    const json_t *pod;
    json_t *st; /* the pod's entry in s->podsim (borrowed) */
    const char *ns, *name;
    char now[32];
    int64_t now_ms, t0;
    json_t *copy;   /* the next version being written (owned until ks_put) */
    json_t *status; /* borrowed from copy */
};

/* Starts the next version of the pod: a deep copy to edit. */
static void pod_begin_write(struct pod_pass *p)
{
    p->copy = json_deep_copy(p->pod);
    p->status = ks_obj_at(p->copy, "status");
}

/* A terminating pod disappears after the grace delay. */
static void pod_terminate(struct pod_pass *p)
{
    if (!json_object_get(p->st, "tdel"))
        set_int(p->st, "tdel", p->now_ms);
    if (p->now_ms - ks_int(p->st, "tdel", p->now_ms) < p->s->o.pod_grace_ms)
        return;
    char nsb[256], nb[300];
    ty_strlcpy(nsb, p->ns, sizeof nsb);
    ty_strlcpy(nb, p->name, sizeof nb);
    json_object_del(p->s->podsim, ks_str(p->pod, "metadata.uid"));
    ks_remove(p->s, KS_PODS, nsb, nb);
}

/* ST_NEW: an unschedulable image stays Pending; otherwise, after the
 * schedule delay, the pod is bound to the node and its images are pulled. */
static void pod_schedule(struct pod_pass *p)
{
    struct kubesim *s = p->s;
    const char *image = NULL;
    char msg[768];
    static const char unschedulable[] = "0/1 nodes are available: 1 Insufficient cpu. preemption: "
                                        "0/1 nodes are available: 1 No preemption victims found "
                                        "for incoming pod.";
    if (image_matches(p->pod, s->o.unschedulable_pattern, &image)) {
        pod_begin_write(p);
        json_t *conds = json_array();
        json_array_append_new(
            conds, condition("PodScheduled", false, "Unschedulable", unschedulable, p->now));
        json_object_set_new(p->status, "conditions", conds);
        json_object_set_new(p->status, "phase", json_string("Pending"));
        set_int(p->st, "stage", ST_UNSCHEDULABLE);
        ks_put(s, KS_PODS, p->copy);
        ks_emit_event(s, p->copy, "Warning", "FailedScheduling", unschedulable);
        return;
    }
    if (p->now_ms - p->t0 < s->o.pod_schedule_ms)
        return;
    pod_begin_write(p);
    json_object_set_new(ks_obj_at(p->copy, "spec"), "nodeName", json_string(NODE_NAME));
    json_object_set_new(p->status, "phase", json_string("Pending"));
    json_object_set_new(p->status, "hostIP", json_string(NODE_IP));
    json_object_set_new(p->status, "hostIPs", json_pack("[{s:s}]", "ip", NODE_IP));
    json_object_set_new(p->status, "startTime", json_string(p->now));
    pod_conditions(p->status, true, false, p->now);
    json_object_set_new(p->status, "containerStatuses",
                        container_statuses(p->pod, "ContainerCreating", NULL, false, 0, p->now));
    set_int(p->st, "stage", ST_CREATING);
    ks_put(s, KS_PODS, p->copy);
    snprintf(msg, sizeof msg, "Successfully assigned %s/%s to %s", p->ns, p->name, NODE_NAME);
    ks_emit_event(s, p->copy, "Normal", "Scheduled", msg);
    pod_events_each_container(s, p->copy, "Pulling", "Pulling image \"%s\"");
}

/* ST_CREATING, the pull failing: ErrImagePull, retried later. */
static void pod_pull_failed(struct pod_pass *p, const char *image)
{
    char msg[768], ev[900];
    snprintf(msg, sizeof msg,
             "failed to pull and unpack image \"%s\": failed to resolve reference \"%s\": not "
             "found",
             image, image);
    json_object_set_new(p->status, "containerStatuses",
                        container_statuses(p->pod, "ErrImagePull", msg, false, 0, p->now));
    set_int(p->st, "stage", ST_PULL_FAIL);
    set_int(p->st, "next", p->now_ms + 2L * p->s->o.pod_start_ms);
    ks_put(p->s, KS_PODS, p->copy);
    snprintf(ev, sizeof ev, "Failed to pull image \"%s\": %s", image, msg);
    ks_emit_event(p->s, p->copy, "Warning", "Failed", ev);
    ks_emit_event(p->s, p->copy, "Warning", "Failed", "Error: ErrImagePull");
}

/* ST_CREATING, a crashing image: Running but not ready, CrashLoopBackOff. */
static void pod_crashed(struct pod_pass *p)
{
    char msg[768];
    snprintf(msg, sizeof msg, "back-off 10s restarting failed container pod=%s_%s", p->name, p->ns);
    pod_conditions(p->status, true, false, p->now);
    json_object_set_new(p->status, "containerStatuses",
                        container_statuses(p->pod, "CrashLoopBackOff", msg, false, 1, p->now));
    set_int(p->st, "stage", ST_CRASH);
    set_int(p->st, "restarts", 1);
    set_int(p->st, "next", p->now_ms + 2L * p->s->o.pod_start_ms);
    ks_put(p->s, KS_PODS, p->copy);
    ks_emit_event(p->s, p->copy, "Warning", "BackOff", "Back-off restarting failed container");
}

/* ST_CREATING: after the start delay the images are pulled and the
 * containers run (or the pull fails, or they crash). */
static void pod_start(struct pod_pass *p)
{
    struct kubesim *s = p->s;
    const char *image = NULL;
    if (p->now_ms - p->t0 < (int64_t)s->o.pod_schedule_ms + s->o.pod_start_ms)
        return;
    pod_begin_write(p);
    if (image_matches(p->pod, s->o.fail_pull_pattern, &image)) {
        pod_pull_failed(p, image);
        return;
    }
    pod_events_each_container(s, p->copy, "Pulled",
                              "Successfully pulled image \"%s\" in 1.2s (1.2s including waiting)");
    pod_events_each_container(s, p->copy, "Created", "Created container %s");
    pod_events_each_container(s, p->copy, "Started", "Started container %s");
    if (!ks_str(p->pod, "status.podIP")) {
        unsigned n = s->next_ip++;
        char ip[32];
        snprintf(ip, sizeof ip, "10.244.%u.%u", (n / 250) % 250, n % 250 + 2);
        json_object_set_new(p->status, "podIP", json_string(ip));
        json_object_set_new(p->status, "podIPs", json_pack("[{s:s}]", "ip", ip));
    }
    json_object_set_new(p->status, "phase", json_string("Running"));
    if (image_matches(p->pod, s->o.crash_pattern, &image)) {
        pod_crashed(p);
        return;
    }
    pod_conditions(p->status, true, true, p->now);
    json_object_set_new(p->status, "containerStatuses",
                        container_statuses(p->pod, NULL, NULL, true, 0, p->now));
    set_int(p->st, "stage", ST_RUNNING);
    ks_put(s, KS_PODS, p->copy);
}

/* ST_PULL_FAIL: ErrImagePull and ImagePullBackOff take turns. */
static void pod_pull_retry(struct pod_pass *p)
{
    const char *image = NULL;
    char msg[768];
    if (p->now_ms < ks_int(p->st, "next", 0))
        return;
    pod_begin_write(p);
    image_matches(p->pod, p->s->o.fail_pull_pattern, &image);
    const char *cur = ks_str(json_array_get(ks_at(p->pod, "status.containerStatuses"), 0),
                             "state.waiting.reason");
    bool to_backoff = cur && !strcmp(cur, "ErrImagePull");
    snprintf(msg, sizeof msg, "Back-off pulling image \"%s\"", image ? image : "");
    json_object_set_new(p->status, "containerStatuses",
                        container_statuses(p->pod, to_backoff ? "ImagePullBackOff" : "ErrImagePull",
                                           msg, false, 0, p->now));
    set_int(p->st, "next", p->now_ms + 2L * p->s->o.pod_start_ms);
    ks_put(p->s, KS_PODS, p->copy);
    if (to_backoff) {
        ks_emit_event(p->s, p->copy, "Normal", "BackOff", msg);
        ks_emit_event(p->s, p->copy, "Warning", "Failed", "Error: ImagePullBackOff");
    }
}

/* ST_CRASH: another restart, with the kubelet's doubling back-off. */
static void pod_crash_retry(struct pod_pass *p)
{
    char msg[768];
    if (p->now_ms < ks_int(p->st, "next", 0))
        return;
    long restarts = ks_int(p->st, "restarts", 1) + 1;
    pod_begin_write(p);
    long backoff_s = 10L << (restarts > 5 ? 5 : restarts - 1);
    if (backoff_s > 300)
        backoff_s = 300;
    snprintf(msg, sizeof msg, "back-off %lds restarting failed container pod=%s_%s", backoff_s,
             p->name, p->ns);
    json_object_set_new(
        p->status, "containerStatuses",
        container_statuses(p->pod, "CrashLoopBackOff", msg, false, restarts, p->now));
    set_int(p->st, "restarts", restarts);
    long delay = (long)p->s->o.pod_start_ms * 2 * (restarts < 8 ? restarts : 8);
    set_int(p->st, "next", p->now_ms + delay);
    ks_put(p->s, KS_PODS, p->copy);
    ks_emit_event(p->s, p->copy, "Warning", "BackOff", "Back-off restarting failed container");
}

/* A pod reloaded from the state file keeps the state it had. */
static bool pod_resume(struct pod_pass *p)
{
    const char *image = NULL;
    set_int(p->st, "seen", 1);
    const char *phase = ks_str(p->pod, "status.phase");
    if (phase && !strcmp(phase, "Running") && ks_str(p->pod, "spec.nodeName") &&
        !image_matches(p->pod, p->s->o.crash_pattern, &image)) {
        set_int(p->st, "stage", ST_RUNNING);
        return true;
    }
    return false;
}

static void pod_step(struct kubesim *s, json_t *pod, int64_t now_ms)
{
    struct pod_pass p;
    const char *uid = ks_str(pod, "metadata.uid");
    if (!uid)
        return;
    memset(&p, 0, sizeof p);
    p.s = s;
    p.pod = pod;
    p.ns = ks_str(pod, "metadata.namespace");
    p.name = ks_str(pod, "metadata.name");
    p.now_ms = now_ms;
    ks_now_iso(p.now);
    p.st = sim_state(s, uid);
    p.t0 = ks_int(p.st, "t0", now_ms);
    int stage = (int)ks_int(p.st, "stage", 0);

    if (ks_at(pod, "metadata.deletionTimestamp")) {
        pod_terminate(&p);
        return;
    }
    if (stage == ST_NEW && !json_object_get(p.st, "seen") && pod_resume(&p))
        return;
    switch (stage) {
    case ST_NEW:
        pod_schedule(&p);
        break;
    case ST_CREATING:
        pod_start(&p);
        break;
    case ST_PULL_FAIL:
        pod_pull_retry(&p);
        break;
    case ST_CRASH:
        pod_crash_retry(&p);
        break;
    default:
        break;
    }
}

static bool owned_by(const json_t *obj, const char *uid, bool controller_only)
{
    size_t i;
    json_t *ref;
    json_array_foreach(ks_at(obj, "metadata.ownerReferences"), i, ref)
    {
        const char *u = ks_str(ref, "uid");
        if (u && !strcmp(u, uid) &&
            (!controller_only || json_is_true(json_object_get(ref, "controller"))))
            return true;
    }
    return false;
}

static json_t *owner_ref(const json_t *owner)
{
    return json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", ks_str(owner, "apiVersion"),
                     "kind", ks_str(owner, "kind"), "name", ks_str(owner, "metadata.name"), "uid",
                     ks_str(owner, "metadata.uid"), "controller", true, "blockOwnerDeletion", true);
}

static bool pod_ready(const json_t *pod)
{
    size_t i;
    json_t *c;
    json_array_foreach(ks_at(pod, "status.conditions"), i, c)
    {
        if (!strcmp(ks_str(c, "type") ? ks_str(c, "type") : "", "Ready"))
            return !strcmp(ks_str(c, "status") ? ks_str(c, "status") : "", "True");
    }
    return false;
}

/* Puts copy when it differs from orig; frees copy otherwise. */
static void put_if_changed(struct kubesim *s, enum ks_res r, const json_t *orig, json_t *copy)
{
    if (json_equal(orig, copy))
        json_decref(copy);
    else
        ks_put(s, r, copy);
}

static void replicaset_step(struct kubesim *s, json_t *rs, json_t *pods)
{
    const char *uid = ks_str(rs, "metadata.uid"), *ns = ks_str(rs, "metadata.namespace");
    long want = ks_int(rs, "spec.replicas", 1);
    json_t *active = json_array();
    long ready = 0;
    size_t i;
    json_t *p;
    if (!uid)
        goto out;
    json_array_foreach(pods, i, p)
    {
        const char *pns = ks_str(p, "metadata.namespace");
        if (!pns || strcmp(pns, ns) || !owned_by(p, uid, true) ||
            ks_at(p, "metadata.deletionTimestamp"))
            continue;
        json_array_append(active, p);
        if (pod_ready(p))
            ready++;
    }
    bool terminating = ks_at(rs, "metadata.deletionTimestamp") != NULL;
    long have = (long)json_array_size(active);
    while (!terminating && have < want) {
        char sfx[6], name[300];
        ks_rand_suffix(s, sfx, 5);
        snprintf(name, sizeof name, "%s-%s", ks_str(rs, "metadata.name"), sfx);
        if (ks_get(s, KS_PODS, ns, name))
            continue;
        json_t *tmpl = ks_at(rs, "spec.template");
        json_t *spec = json_object_get(tmpl, "spec");
        json_t *pod =
            json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:o,s:{s:s,s:s}}", "kind", "Pod", "apiVersion",
                      "v1", "metadata", "name", name, "namespace", ns, "ownerReferences",
                      owner_ref(rs), "spec", spec ? json_deep_copy(spec) : json_object(), "status",
                      "phase", "Pending", "qosClass", "BestEffort");
        char gen[300];
        snprintf(gen, sizeof gen, "%s-", ks_str(rs, "metadata.name"));
        json_object_set_new(json_object_get(pod, "metadata"), "generateName", json_string(gen));
        if (ks_at(tmpl, "metadata.labels"))
            json_object_set(json_object_get(pod, "metadata"), "labels",
                            ks_at(tmpl, "metadata.labels"));
        if (ks_at(tmpl, "metadata.annotations"))
            json_object_set(json_object_get(pod, "metadata"), "annotations",
                            ks_at(tmpl, "metadata.annotations"));
        ks_meta_init(s, pod);
        json_object_set_new(json_object_get(pod, "metadata"), "generation", json_integer(1));
        json_t *stored = ks_put(s, KS_PODS, pod);
        char msg[400];
        snprintf(msg, sizeof msg, "Created pod: %s", name);
        ks_emit_event(s, rs, "Normal", "SuccessfulCreate", msg);
        (void)stored;
        have++;
    }
    /* Scale down: not-ready pods first, then the newest. */
    for (long extra = have - want; extra > 0; extra--) {
        size_t vi = 0;
        json_t *victim = NULL;
        json_array_foreach(active, i, p)
        {
            if (!victim || (!pod_ready(p) && pod_ready(victim)) ||
                (pod_ready(p) == pod_ready(victim) &&
                 strcmp(ks_str(p, "metadata.creationTimestamp"),
                        ks_str(victim, "metadata.creationTimestamp")) >= 0)) {
                victim = p;
                vi = i;
            }
        }
        if (!victim)
            break;
        json_t *cur = ks_get(s, KS_PODS, ns, ks_str(victim, "metadata.name"));
        char msg[400];
        snprintf(msg, sizeof msg, "Deleted pod: %s", ks_str(victim, "metadata.name"));
        if (pod_ready(victim))
            ready--;
        if (cur)
            ks_delete_object(s, KS_PODS, cur, NULL, -1);
        ks_emit_event(s, rs, "Normal", "SuccessfulDelete", msg);
        json_array_remove(active, vi);
        have--;
    }
    json_t *copy = json_deep_copy(rs);
    json_t *st = json_object();
    set_int(st, "replicas", have);
    set_int(st, "fullyLabeledReplicas", have);
    if (ready > 0) {
        set_int(st, "readyReplicas", ready);
        set_int(st, "availableReplicas", ready);
    }
    set_int(st, "observedGeneration", ks_int(rs, "metadata.generation", 1));
    json_object_set_new(copy, "status", st);
    put_if_changed(s, KS_REPLICASETS, rs, copy);
out:
    json_decref(active);
}

static json_t *deploy_condition(const json_t *old_status,
                                const char *type,
                                bool status,
                                const char *reason,
                                const char *msg,
                                const char *now)
{
    size_t i;
    json_t *c;
    json_array_foreach(ks_at(old_status, "conditions"), i, c)
    {
        if (strcmp(ks_str(c, "type") ? ks_str(c, "type") : "", type) != 0)
            continue;
        bool same_status =
            !strcmp(ks_str(c, "status") ? ks_str(c, "status") : "", status ? "True" : "False");
        bool same_reason = !strcmp(ks_str(c, "reason") ? ks_str(c, "reason") : "", reason) &&
                           !strcmp(ks_str(c, "message") ? ks_str(c, "message") : "", msg);
        if (same_status && same_reason)
            return json_deep_copy(c);
        json_t *n = json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status ? "True" : "False",
            "lastUpdateTime", now, "lastTransitionTime",
            same_status && ks_str(c, "lastTransitionTime") ? ks_str(c, "lastTransitionTime") : now,
            "reason", reason, "message", msg);
        return n;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status ? "True" : "False",
                     "lastUpdateTime", now, "lastTransitionTime", now, "reason", reason, "message",
                     msg);
}

/* The ReplicaSets d controls (appended to mine, new references), the one of
 * its current template (borrowed, or NULL) and the highest revision. */
static json_t *
deploy_replicasets(const json_t *d, json_t *all_rs, const char *hash, json_t *mine, long *max_rev)
{
    const char *uid = ks_str(d, "metadata.uid"), *ns = ks_str(d, "metadata.namespace");
    json_t *new_rs = NULL, *rs;
    size_t i;
    *max_rev = 0;
    json_array_foreach(all_rs, i, rs)
    {
        const char *rns = ks_str(rs, "metadata.namespace");
        if (!rns || strcmp(rns, ns) || !owned_by(rs, uid, true))
            continue;
        json_array_append(mine, rs);
        const char *h = ks_str(rs, "metadata.labels.pod-template-hash");
        if (h && !strcmp(h, hash))
            new_rs = rs;
        json_t *ann = ks_at(rs, "metadata.annotations");
        const char *r2 =
            json_string_value(json_object_get(ann, "deployment.kubernetes.io/revision"));
        if (r2 && atol(r2) > *max_rev)
            *max_rev = atol(r2);
    }
    return new_rs;
}

/* A new ReplicaSet `<deploy>-<hash>` for the current template, at the next
 * revision.  Returns it (borrowed from the store). */
static json_t *
deploy_new_replicaset(struct kubesim *s, const json_t *d, const char *hash, long want, long rev)
{
    const char *ns = ks_str(d, "metadata.namespace");
    char name[300], revs[24], dr[24], mr[24], msg[600];
    snprintf(name, sizeof name, "%s-%s", ks_str(d, "metadata.name"), hash);
    snprintf(revs, sizeof revs, "%ld", rev);
    snprintf(dr, sizeof dr, "%ld", want);
    snprintf(mr, sizeof mr, "%ld", want + (want + 3) / 4);
    json_t *t = json_deep_copy(ks_at(d, "spec.template"));
    json_object_set_new(ks_obj_at(t, "metadata.labels"), "pod-template-hash", json_string(hash));
    json_t *sel = json_deep_copy(ks_at(d, "spec.selector"));
    json_object_set_new(ks_obj_at(sel, "matchLabels"), "pod-template-hash", json_string(hash));
    json_t *labels = json_deep_copy(ks_at(t, "metadata.labels"));
    json_t *obj =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:{s:s,s:s,s:s},s:o},s:{s:I,s:o,s:o}}", "kind",
                  "ReplicaSet", "apiVersion", "apps/v1", "metadata", "name", name, "namespace", ns,
                  "labels", labels, "annotations", "deployment.kubernetes.io/revision", revs,
                  "deployment.kubernetes.io/desired-replicas", dr,
                  "deployment.kubernetes.io/max-replicas", mr, "ownerReferences", owner_ref(d),
                  "spec", "replicas", (json_int_t)want, "selector", sel, "template", t);
    ks_meta_init(s, obj);
    json_object_set_new(json_object_get(obj, "metadata"), "generation", json_integer(1));
    json_object_set_new(obj, "status", json_pack("{s:i}", "replicas", 0));
    json_t *stored = ks_put(s, KS_REPLICASETS, obj);
    snprintf(msg, sizeof msg, "Scaled up replica set %s to %ld", name, want);
    ks_emit_event(s, d, "Normal", "ScalingReplicaSet", msg);
    return stored;
}

/* Replica counts: the new ReplicaSet gets the desired count; old ones drain
 * once it is ready.  A terminating Deployment leaves them as they are. */
static void
deploy_scale(struct kubesim *s, const json_t *d, json_t *mine, const json_t *new_rs, long want)
{
    bool terminating = ks_at(d, "metadata.deletionTimestamp") != NULL;
    long new_ready = new_rs ? ks_int(new_rs, "status.readyReplicas", 0) : 0;
    char msg[600];
    size_t i;
    json_t *rs;
    json_array_foreach(mine, i, rs)
    {
        long have = ks_int(rs, "spec.replicas", 1);
        long target =
            rs == new_rs ? want : (new_ready >= want ? 0 : ks_int(rs, "spec.replicas", 0));
        if (terminating)
            target = ks_int(rs, "spec.replicas", 0);
        if (have == target)
            continue;
        json_t *copy = json_deep_copy(rs);
        set_int(ks_obj_at(copy, "spec"), "replicas", target);
        set_int(ks_obj_at(copy, "metadata"), "generation",
                ks_int(rs, "metadata.generation", 1) + 1);
        char dr[24];
        snprintf(dr, sizeof dr, "%ld", want);
        json_object_set_new(ks_obj_at(copy, "metadata.annotations"),
                            "deployment.kubernetes.io/desired-replicas", json_string(dr));
        snprintf(msg, sizeof msg, "Scaled %s replica set %s to %ld", target > have ? "up" : "down",
                 ks_str(rs, "metadata.name"), target);
        ks_put(s, KS_REPLICASETS, copy);
        ks_emit_event(s, d, "Normal", "ScalingReplicaSet", msg);
    }
}

/* The Progressing condition: complete, a new ReplicaSet, progressing, or no
 * progress for progressDeadlineSeconds (Progressing=False, as kubectl rollout
 * status reports "exceeded its progress deadline"). */
static json_t *deploy_progressing(
    const json_t *d, const char *rsname, bool complete, bool created, const char *now)
{
    json_t *old_status = json_object_get(d, "status");
    char msg[600];
    const char *reason = complete  ? "NewReplicaSetAvailable"
                         : created ? "NewReplicaSetCreated"
                                   : "ReplicaSetUpdated";
    if (complete)
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.", rsname);
    else if (created)
        snprintf(msg, sizeof msg, "Created new replica set \"%s\"", rsname);
    else
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" is progressing.", rsname);
    bool progressing = true;
    if (!complete && !created) {
        json_t *oc = NULL, *c;
        size_t ci;
        json_array_foreach(ks_at(old_status, "conditions"), ci, c)
        {
            if (ks_str(c, "type") && !strcmp(ks_str(c, "type"), "Progressing"))
                oc = c;
        }
        const char *oreason = ks_str(oc, "reason") ? ks_str(oc, "reason") : "";
        int64_t since;
        long deadline_s = ks_int(d, "spec.progressDeadlineSeconds", 600);
        if (!strcmp(oreason, "ProgressDeadlineExceeded") ||
            (ks_str(oc, "lastUpdateTime") &&
             ty_time_parse_iso(ks_str(oc, "lastUpdateTime"), &since) == 0 &&
             ty_time_now_ms() - since > deadline_s * 1000L)) {
            progressing = false;
            reason = "ProgressDeadlineExceeded";
            snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has timed out progressing.", rsname);
        }
    }
    return deploy_condition(old_status, "Progressing", progressing, reason, msg, now);
}

/* The Deployment's status from its ReplicaSets as they are now in the store. */
static json_t *deploy_status(struct kubesim *s,
                             const json_t *d,
                             json_t *mine,
                             const json_t *new_rs,
                             long want,
                             bool created,
                             const char *now)
{
    const char *ns = ks_str(d, "metadata.namespace");
    long replicas = 0, ready = 0, updated = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(mine, i, rs)
    {
        json_t *cur = ks_get(s, KS_REPLICASETS, ns, ks_str(rs, "metadata.name"));
        if (!cur)
            continue;
        replicas += ks_int(cur, "status.replicas", 0);
        ready += ks_int(cur, "status.readyReplicas", 0);
        if (new_rs && !strcmp(ks_str(cur, "metadata.name"), ks_str(new_rs, "metadata.name")))
            updated = ks_int(cur, "status.replicas", 0);
    }
    json_t *st = json_object();
    set_int(st, "observedGeneration", ks_int(d, "metadata.generation", 1));
    if (replicas)
        set_int(st, "replicas", replicas);
    if (updated)
        set_int(st, "updatedReplicas", updated);
    if (ready) {
        set_int(st, "readyReplicas", ready);
        set_int(st, "availableReplicas", ready);
    }
    long unavailable = (replicas > want ? replicas : want) - ready;
    if (unavailable > 0)
        set_int(st, "unavailableReplicas", unavailable);
    bool available = ready >= want - want / 4;
    json_t *conds = json_array();
    json_array_append_new(
        conds,
        deploy_condition(json_object_get(d, "status"), "Available", available,
                         available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                         available ? "Deployment has minimum availability."
                                   : "Deployment does not have minimum availability.",
                         now));
    const char *rsname = new_rs ? ks_str(new_rs, "metadata.name") : ks_str(d, "metadata.name");
    bool complete = updated == want && ready >= want && replicas == want;
    json_array_append_new(conds, deploy_progressing(d, rsname, complete, created, now));
    json_object_set_new(st, "conditions", conds);
    return st;
}

static void deployment_step(struct kubesim *s, json_t *d, json_t *all_rs)
{
    long want = ks_int(d, "spec.replicas", 1), max_rev;
    char hash[11], now[32];
    json_t *tmpl = ks_at(d, "spec.template");
    if (!ks_str(d, "metadata.uid") || !tmpl)
        return;
    ks_now_iso(now);
    ks_template_hash(tmpl, hash);
    json_t *mine = json_array();
    json_t *new_rs = deploy_replicasets(d, all_rs, hash, mine, &max_rev);
    bool created = false;
    if (!new_rs && !ks_at(d, "metadata.deletionTimestamp")) {
        new_rs = deploy_new_replicaset(s, d, hash, want, max_rev + 1);
        json_array_append(mine, new_rs);
        created = true;
    }
    deploy_scale(s, d, mine, new_rs, want);
    json_t *copy = json_deep_copy(d);
    json_object_set_new(copy, "status", deploy_status(s, d, mine, new_rs, want, created, now));
    if (new_rs) {
        json_t *ann = json_object_get(ks_at(new_rs, "metadata"), "annotations");
        json_t *rev = json_object_get(ann, "deployment.kubernetes.io/revision");
        if (rev)
            json_object_set(ks_obj_at(copy, "metadata.annotations"),
                            "deployment.kubernetes.io/revision", rev);
    }
    put_if_changed(s, KS_DEPLOYMENTS, d, copy);
    json_decref(mine);
}

static void pvc_step(struct kubesim *s, json_t *pvc, int64_t now_ms)
{
    const char *uid = ks_str(pvc, "metadata.uid");
    const char *phase = ks_str(pvc, "status.phase");
    if (!uid || (phase && strcmp(phase, "Pending") != 0) ||
        ks_at(pvc, "metadata.deletionTimestamp"))
        return;
    json_t *st = sim_state(s, uid);
    if (now_ms - ks_int(st, "t0", now_ms) < s->o.pod_schedule_ms)
        return;
    json_t *copy = json_deep_copy(pvc);
    char vol[80];
    snprintf(vol, sizeof vol, "pvc-%s", uid);
    json_object_set_new(ks_obj_at(copy, "spec"), "volumeName", json_string(vol));
    if (!ks_str(copy, "spec.storageClassName"))
        json_object_set_new(ks_obj_at(copy, "spec"), "storageClassName", json_string("standard"));
    json_t *status = json_pack("{s:s}", "phase", "Bound");
    if (ks_at(pvc, "spec.accessModes"))
        json_object_set(status, "accessModes", ks_at(pvc, "spec.accessModes"));
    if (ks_at(pvc, "spec.resources.requests.storage"))
        json_object_set_new(
            status, "capacity",
            json_pack("{s:O}", "storage", ks_at(pvc, "spec.resources.requests.storage")));
    json_object_set_new(copy, "status", status);
    json_object_set_new(ks_obj_at(copy, "metadata.annotations"), "pv.kubernetes.io/bind-completed",
                        json_string("yes"));
    json_object_del(s->podsim, uid);
    ks_put(s, KS_PVCS, copy);
}

static bool has_foreground(const json_t *obj)
{
    size_t i;
    json_t *f;
    json_array_foreach(ks_at(obj, "metadata.finalizers"), i, f)
    {
        if (json_string_value(f) && !strcmp(json_string_value(f), "foregroundDeletion"))
            return true;
    }
    return false;
}

/* Garbage collection of one object: deletes it when its owners are gone (or
 * being deleted in the foreground), and finishes its own foreground deletion
 * once it has no dependents left. */
static void gc_check(struct kubesim *s, enum ks_res r, json_t *obj)
{
    json_t *refs = ks_at(obj, "metadata.ownerReferences"), *ref;
    size_t j;
    if (json_array_size(refs) > 0 && !ks_at(obj, "metadata.deletionTimestamp")) {
        bool alive = false, foreground = false;
        json_array_foreach(refs, j, ref)
        {
            json_t *owner = ks_get_uid(s, ks_str(ref, "uid"), NULL);
            if (owner) {
                alive = true;
                if (ks_at(owner, "metadata.deletionTimestamp") && has_foreground(owner))
                    foreground = true;
            }
        }
        if (!alive || foreground) {
            ks_delete_object(s, r, obj, foreground ? "Foreground" : "Background", -1);
            return;
        }
    }
    if (!ks_at(obj, "metadata.deletionTimestamp") || !has_foreground(obj) ||
        ks_has_dependents(s, ks_str(obj, "metadata.uid")))
        return;
    json_t *keep = json_array(), *f;
    json_array_foreach(ks_at(obj, "metadata.finalizers"), j, f)
    {
        if (strcmp(json_string_value(f) ? json_string_value(f) : "", "foregroundDeletion") != 0)
            json_array_append(keep, f);
    }
    if (json_array_size(keep) == 0) {
        char ns[256] = "", name[300];
        json_decref(keep);
        if (ks_str(obj, "metadata.namespace"))
            ty_strlcpy(ns, ks_str(obj, "metadata.namespace"), sizeof ns);
        ty_strlcpy(name, ks_str(obj, "metadata.name"), sizeof name);
        ks_remove(s, r, ns[0] ? ns : NULL, name);
        return;
    }
    json_t *copy = json_deep_copy(obj);
    json_object_set_new(json_object_get(copy, "metadata"), "finalizers", keep);
    ks_put(s, r, copy);
}

/* True while obj moves on its own (timers, grace periods, a rollout that may
 * hit its deadline), so the controller must look at it again although nothing
 * wrote it. */
static bool needs_time(struct kubesim *s, enum ks_res r, const json_t *obj)
{
    if (r == KS_PODS) {
        if (ks_at(obj, "metadata.deletionTimestamp"))
            return true;
        json_t *st = json_object_get(s->podsim, ks_str(obj, "metadata.uid"));
        long stage = st ? ks_int(st, "stage", ST_NEW) : ST_NEW;
        return stage != ST_RUNNING && stage != ST_UNSCHEDULABLE;
    }
    if (r == KS_DEPLOYMENTS) {
        json_t *c;
        size_t i;
        json_array_foreach(ks_at(obj, "status.conditions"), i, c)
        {
            const char *type = ks_str(c, "type"), *st = ks_str(c, "status");
            if (type && st && !strcmp(type, "Progressing") && !strcmp(st, "True") &&
                strcmp(ks_str(c, "reason") ? ks_str(c, "reason") : "", "NewReplicaSetAvailable"))
                return true;
        }
        return false;
    }
    if (r == KS_PVCS) {
        const char *phase = ks_str(obj, "status.phase");
        return (!phase || !strcmp(phase, "Pending")) && !ks_at(obj, "metadata.deletionTimestamp");
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One pass over the queued objects (and, when with_timed, those waiting on
 * time): pods first, then ReplicaSets, Deployments and claims, then garbage
 * collection.  What the pass writes is queued for the next one. */
static void reconcile(struct kubesim *s, bool with_timed)
{
    int64_t now_ms = ty_time_mono_ms();
    json_t *batch = s->work, *v;
    const char *wkey;
    s->work = json_object();
    if (with_timed) {
        json_object_update(batch, s->timed);
        json_object_clear(s->timed);
    }
    /* Sorted, so a pass does the same thing in the same order every time. */
    size_t n = json_object_size(batch), k = 0;
    const char **keys = ty_xcalloc(n ? n : 1, sizeof *keys);
    json_object_foreach(batch, wkey, v)
    {
        keys[k++] = wkey;
    }
    qsort(keys, n, sizeof *keys, cmp_str);

    static const enum ks_res order[] = {KS_PODS, KS_REPLICASETS, KS_DEPLOYMENTS, KS_PVCS};
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++) {
        for (size_t i = 0; i < n; i++) {
            enum ks_res r;
            const char *key = ks_work_split(keys[i], &r);
            json_t *cur = key && r == order[o] ? json_object_get(s->objs[r], key) : NULL;
            if (!cur)
                continue;
            if (r == KS_PODS) {
                pod_step(s, cur, now_ms);
            } else if (r == KS_REPLICASETS) {
                json_t *pods = ks_dependents(s, cur, KS_PODS);
                replicaset_step(s, cur, pods);
                json_decref(pods);
            } else if (r == KS_DEPLOYMENTS) {
                json_t *rss = ks_dependents(s, cur, KS_REPLICASETS);
                deployment_step(s, cur, rss);
                json_decref(rss);
            } else {
                pvc_step(s, cur, now_ms);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        enum ks_res r;
        const char *key = ks_work_split(keys[i], &r);
        json_t *cur = key ? json_object_get(s->objs[r], key) : NULL;
        if (cur)
            gc_check(s, r, cur);
        cur = key ? json_object_get(s->objs[r], key) : NULL;
        if (cur && needs_time(s, r, cur))
            json_object_set_new(s->timed, keys[i], json_true());
    }
    free(keys);
    json_decref(batch);
}

void *ks_ctrl_main(void *arg)
{
    struct kubesim *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        /* A quiet cluster costs nothing: the queue is empty and nothing waits
         * on time.  A write's consequences (pod -> ReplicaSet -> Deployment
         * status) settle in a few rounds within one tick. */
        if (json_object_size(s->work) || json_object_size(s->timed)) {
            reconcile(s, true);
            for (int round = 0; round < 8 && json_object_size(s->work); round++)
                reconcile(s, false);
        }
        if (s->o.state_file && s->dirty && ty_time_mono_ms() - s->dirty_ms >= 200)
            ks_state_save(s, s->o.state_file, NULL);
        struct timespec ts = ty_time_deadline(CLOCK_REALTIME, 50);
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        if (s->stopping)
            break;
        /* Let bursts of writes settle before the next pass. */
        pthread_mutex_unlock(&s->mu);
        struct timespec nap = {0, 10 * 1000000L};
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
