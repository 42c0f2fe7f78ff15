/*
 * test_ctrl.c - the controller of the simulated cluster, seen through the API:
 * Deployment -> ReplicaSet -> Pods with the scripted pod lifecycle, rollouts,
 * the failure scripts (image pull, crash loop, unschedulable), graceful pod
 * deletion, garbage collection with the three propagation policies, PVC
 * binding and Events.
 */
#include "sim_test.h"

static struct kubesim *S;
#define DEPS "/apis/apps/v1/namespaces/default/deployments"
#define PODS "/api/v1/namespaces/default/pods"

static void setup(void)
{
    S = sim_start();
}

static void teardown(void)
{
    kubesim_stop(S);
    S = NULL;
}

static void create_deploy(const char *name, const char *user, int replicas, const char *image)
{
    struct sim_reply r = sim_req(S, "POST", DEPS, sim_deploy_json(name, user, replicas, image));
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    sim_reply_free(&r);
}

/* GETs path until fn(json) is true or 6 s pass; returns the last reply (caller frees). */
static struct sim_reply
wait_for(const char *path, bool (*fn)(json_t *, const void *), const void *arg)
{
    int64_t end = ty_time_mono_ms() + 6000;
    for (;;) {
        struct sim_reply r = sim_req(S, "GET", path, NULL);
        if (fn(r.json, arg) || ty_time_mono_ms() > end)
            return r;
        sim_reply_free(&r);
        sim_sleep_ms(20);
    }
}

static bool all_pods_phase(json_t *list, const void *arg)
{
    const char *phase = ((const char *const *)arg)[0];
    const char *count = ((const char *const *)arg)[1];
    json_t *items = json_object_get(list, "items");
    if ((int)json_array_size(items) != atoi(count))
        return false;
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
    {
        const char *ph = sim_str(p, "status.phase");
        if (!ph || strcmp(ph, phase) || sim_at(p, "metadata.deletionTimestamp"))
            return false;
        if (!strcmp(phase, "Running") &&
            !json_is_true(sim_at(p, "status.containerStatuses.0.ready")))
            return false;
    }
    return true;
}

static bool waiting_reason(json_t *list, const void *arg)
{
    const char *want = sim_str(list, "items.0.status.containerStatuses.0.state.waiting.reason");
    return want && !strcmp(want, arg);
}

static bool deploy_ready(json_t *d, const void *arg)
{
    return json_integer_value(sim_at(d, "status.readyReplicas")) == *(const int *)arg &&
           json_integer_value(sim_at(d, "status.updatedReplicas")) == *(const int *)arg &&
           json_integer_value(sim_at(d, "status.replicas")) == *(const int *)arg;
}

static bool is_404(json_t *j, const void *arg)
{
    (void)arg;
    return j && json_integer_value(json_object_get(j, "code")) == 404;
}

static bool list_empty(json_t *j, const void *arg)
{
    (void)arg;
    return j && json_array_size(json_object_get(j, "items")) == 0;
}

static bool has_event(const char *reason, const char *kind)
{
    char path[256];
    snprintf(path, sizeof path,
             "/api/v1/namespaces/default/events?fieldSelector=reason%%3D%s%%2C"
             "involvedObject.kind%%3D%s",
             reason, kind);
    struct sim_reply r = sim_req(S, "GET", path, NULL);
    bool found = json_array_size(json_object_get(r.json, "items")) > 0;
    sim_reply_free(&r);
    return found;
}

START_TEST(test_deployment_lifecycle)
{
    create_deploy("web", "alice", 2, "nginx:1.27");
    const char *args[] = {"Running", "2"};
    struct sim_reply r = wait_for(PODS "?labelSelector=app%3Dweb", all_pods_phase, args);
    ck_assert_msg(all_pods_phase(r.json, args), "%s", r.body);
    json_t *pod = sim_at(r.json, "items.0");
    const char *name = sim_str(pod, "metadata.name");
    const char *rs = sim_str(pod, "metadata.ownerReferences.0.name");
    char hash[32];
    snprintf(hash, sizeof hash, "%s", sim_str(pod, "metadata.labels.pod-template-hash"));
    char want_rs[64];
    snprintf(want_rs, sizeof want_rs, "web-%s", hash);
    ck_assert_str_eq(rs, want_rs);
    ck_assert_int_eq(strlen(name), strlen(rs) + 6);
    ck_assert_str_eq(sim_str(pod, "metadata.ownerReferences.0.kind"), "ReplicaSet");
    ck_assert(json_is_true(sim_at(pod, "metadata.ownerReferences.0.controller")));
    ck_assert_ptr_nonnull(strstr(sim_str(pod, "status.podIP"), "10.244."));
    ck_assert_ptr_nonnull(sim_str(pod, "status.hostIP"));
    ck_assert_str_eq(sim_str(pod, "spec.nodeName"), "kubesim-node-1");
    ck_assert_str_eq(sim_str(pod, "metadata.labels.username"), "alice");
    sim_reply_free(&r);

    int two = 2;
    r = wait_for(DEPS "/web", deploy_ready, &two);
    ck_assert_msg(deploy_ready(r.json, &two), "%s", r.body);
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "status.availableReplicas")), 2);
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "status.observedGeneration")), 1);
    ck_assert_str_eq(sim_str(r.json, "status.conditions.0.type"), "Available");
    ck_assert_str_eq(sim_str(r.json, "status.conditions.0.status"), "True");
    sim_reply_free(&r);

    r = sim_req(S, "GET", "/apis/apps/v1/namespaces/default/replicasets", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_str_eq(sim_str(r.json, "items.0.spec.selector.matchLabels.pod-template-hash"), hash);
    sim_reply_free(&r);

    static const char *const reasons[] = {"Scheduled", "Pulling", "Pulled",
                                          "Created",   "Started", NULL};
    for (const char *const *e = reasons; *e; e++)
        ck_assert_msg(has_event(*e, "Pod"), "no %s event", *e);
    ck_assert(has_event("ScalingReplicaSet", "Deployment"));
    ck_assert(has_event("SuccessfulCreate", "ReplicaSet"));
    r = sim_req_full(S, "GET", "/api/v1/namespaces/default/events", NULL, NULL,
                     "application/json;as=Table;v=v1;g=meta.k8s.io", SIM_TOKEN);
    ck_assert_str_eq(sim_str(r.json, "columnDefinitions.0.name"), "Last Seen");
    ck_assert_ptr_nonnull(strstr(r.body, "\"pod/web-"));
    sim_reply_free(&r);

    /* Table for kubectl get pods -o wide */
    r = sim_req_full(S, "GET", PODS, NULL, NULL, "application/json;as=Table;v=v1;g=meta.k8s.io",
                     SIM_TOKEN);
    ck_assert_str_eq(sim_str(r.json, "rows.0.cells.1"), "1/1");
    ck_assert_str_eq(sim_str(r.json, "rows.0.cells.2"), "Running");
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "columnDefinitions.5.priority")), 1);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_rollout_and_scale)
{
    create_deploy("app", "bob", 1, "nginx:1");
    int one = 1;
    struct sim_reply r = wait_for(DEPS "/app", deploy_ready, &one);
    ck_assert(deploy_ready(r.json, &one));
    sim_reply_free(&r);
    r = sim_req_full(S, "PATCH", DEPS "/app",
                     "{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"rev\":\"2\"}}}}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "metadata.generation")), 2);
    sim_reply_free(&r);
    const char *args[] = {"Running", "1"};
    r = wait_for(PODS "?labelSelector=rev%3D2", all_pods_phase, args);
    ck_assert(all_pods_phase(r.json, args));
    sim_reply_free(&r);
    /* The old ReplicaSet drains to zero; both remain (revision history). */
    const char *args0[] = {"Running", "1"};
    r = wait_for(PODS "?labelSelector=app%3Dapp", all_pods_phase, args0);
    ck_assert_msg(all_pods_phase(r.json, args0), "%s", r.body);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/apis/apps/v1/namespaces/default/replicasets", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 2);
    sim_reply_free(&r);

    /* Scale through the scale subresource. */
    r = sim_req_full(S, "PATCH", DEPS "/app/scale", "{\"spec\":{\"replicas\":3}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Scale");
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "spec.replicas")), 3);
    sim_reply_free(&r);
    int three = 3;
    r = wait_for(DEPS "/app", deploy_ready, &three);
    ck_assert_msg(deploy_ready(r.json, &three), "%s", r.body);
    sim_reply_free(&r);
    r = sim_req_full(S, "PATCH", DEPS "/app", "{\"spec\":{\"replicas\":1}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    sim_reply_free(&r);
    r = wait_for(DEPS "/app", deploy_ready, &one);
    ck_assert_msg(deploy_ready(r.json, &one), "%s", r.body);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_failures)
{
    create_deploy("badimg", "alice", 1, "example.org/invalid:1");
    create_deploy("crashy", "alice", 1, "example.org/crash:1");
    create_deploy("huge", "alice", 1, "example.org/unschedulable:1");
    struct sim_reply r =
        wait_for(PODS "?labelSelector=app%3Dbadimg", waiting_reason, "ImagePullBackOff");
    ck_assert_msg(waiting_reason(r.json, "ImagePullBackOff"), "%s", r.body);
    ck_assert_str_eq(sim_str(r.json, "items.0.status.phase"), "Pending");
    sim_reply_free(&r);
    ck_assert(has_event("Failed", "Pod"));
    ck_assert(has_event("BackOff", "Pod"));

    r = wait_for(PODS "?labelSelector=app%3Dcrashy", waiting_reason, "CrashLoopBackOff");
    ck_assert(waiting_reason(r.json, "CrashLoopBackOff"));
    sim_reply_free(&r);
    int64_t end = ty_time_mono_ms() + 5000;
    long restarts = 0;
    while (restarts < 2 && ty_time_mono_ms() < end) {
        r = sim_req(S, "GET", PODS "?labelSelector=app%3Dcrashy", NULL);
        restarts = (long)json_integer_value(
            sim_at(r.json, "items.0.status.containerStatuses.0.restartCount"));
        sim_reply_free(&r);
        sim_sleep_ms(30);
    }
    ck_assert_int_ge(restarts, 2);
    /* Repeated events are aggregated with a count, as kubectl describe shows "(x3 over 1m)". */
    r = sim_req(S, "GET", PODS "?labelSelector=app%3Dcrashy", NULL);
    char evpath[512];
    snprintf(evpath, sizeof evpath,
             "/api/v1/namespaces/default/events?fieldSelector="
             "reason%%3DBackOff%%2CinvolvedObject.name%%3D%s",
             sim_str(r.json, "items.0.metadata.name"));
    sim_reply_free(&r);
    r = sim_req(S, "GET", evpath, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_int_ge(json_integer_value(sim_at(r.json, "items.0.count")), 2);
    sim_reply_free(&r);

    r = sim_req(S, "GET", PODS "?labelSelector=app%3Dhuge", NULL);
    sim_reply_free(&r);
    end = ty_time_mono_ms() + 3000;
    const char *reason = NULL;
    while (ty_time_mono_ms() < end) {
        r = sim_req(S, "GET", PODS "?labelSelector=app%3Dhuge", NULL);
        reason = sim_str(r.json, "items.0.status.conditions.0.reason");
        bool ok = reason && !strcmp(reason, "Unschedulable");
        if (ok) {
            ck_assert_str_eq(sim_str(r.json, "items.0.status.phase"), "Pending");
            ck_assert_str_eq(sim_str(r.json, "items.0.status.conditions.0.status"), "False");
        }
        sim_reply_free(&r);
        if (ok)
            break;
        sim_sleep_ms(20);
    }
    ck_assert(ty_time_mono_ms() < end);
    ck_assert(has_event("FailedScheduling", "Pod"));

    /* Deployments with failing pods are not available. */
    r = sim_req(S, "GET", DEPS "/badimg", NULL);
    ck_assert_str_eq(sim_str(r.json, "status.conditions.0.status"), "False");
    sim_reply_free(&r);

    /* ... and, past spec.progressDeadlineSeconds, not progressing either. */
    r = sim_req_full(S, "PATCH", DEPS "/huge", "{\"spec\":{\"progressDeadlineSeconds\":1}}",
                     "application/merge-patch+json", NULL, SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    ck_assert(
        sim_wait_str(S, DEPS "/huge", "status.conditions.1.reason", "ProgressDeadlineExceeded"));
    r = sim_req(S, "GET", DEPS "/huge", NULL);
    ck_assert_str_eq(sim_str(r.json, "status.conditions.1.type"), "Progressing");
    ck_assert_str_eq(sim_str(r.json, "status.conditions.1.status"), "False");
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_pod_graceful_delete)
{
    create_deploy("g", "bob", 1, "nginx:1");
    const char *args[] = {"Running", "1"};
    struct sim_reply r = wait_for(PODS "?labelSelector=app%3Dg", all_pods_phase, args);
    char path[256];
    snprintf(path, sizeof path, PODS "/%s", sim_str(r.json, "items.0.metadata.name"));
    sim_reply_free(&r);
    r = sim_req(S, "DELETE", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Pod");
    ck_assert_ptr_nonnull(sim_str(r.json, "metadata.deletionTimestamp"));
    ck_assert_int_eq(json_integer_value(sim_at(r.json, "metadata.deletionGracePeriodSeconds")), 30);
    sim_reply_free(&r);
    r = sim_req_full(S, "GET", path, NULL, NULL, "application/json;as=Table;v=v1;g=meta.k8s.io",
                     SIM_TOKEN);
    if (r.status == 200)
        ck_assert_str_eq(sim_str(r.json, "rows.0.cells.2"), "Terminating");
    sim_reply_free(&r);
    r = wait_for(path, is_404, NULL);
    ck_assert(is_404(r.json, NULL));
    sim_reply_free(&r);
    /* The ReplicaSet replaced it. */
    r = wait_for(PODS "?labelSelector=app%3Dg", all_pods_phase, args);
    ck_assert(all_pods_phase(r.json, args));
    sim_reply_free(&r);
    ck_assert(has_event("Killing", "Pod"));
}
END_TEST

START_TEST(test_gc_background)
{
    create_deploy("gc", "alice", 2, "nginx:1");
    struct sim_reply r = sim_req(S, "GET", DEPS "/gc", NULL);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"gc-svc\",\"ownerReferences\":[{"
             "\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"gc\",\"uid\":\"%s\"}]},"
             "\"spec\":{\"selector\":{\"app\":\"gc\"},\"ports\":[{\"port\":80}]}}",
             sim_str(r.json, "metadata.uid"));
    sim_reply_free(&r);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/services", body);
    ck_assert_int_eq(r.status, 201);
    sim_reply_free(&r);
    const char *args[] = {"Running", "2"};
    r = wait_for(PODS "?labelSelector=app%3Dgc", all_pods_phase, args);
    sim_reply_free(&r);
    r = sim_req(S, "DELETE", DEPS "/gc", "{\"propagationPolicy\":\"Background\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "status"), "Success");
    sim_reply_free(&r);
    r = wait_for(PODS "?labelSelector=app%3Dgc", list_empty, NULL);
    ck_assert_msg(list_empty(r.json, NULL), "%s", r.body);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/apis/apps/v1/namespaces/default/replicasets", NULL);
    ck_assert(list_empty(r.json, NULL));
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1/namespaces/default/services/gc-svc", NULL);
    ck_assert_int_eq(r.status, 404);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_gc_foreground_and_orphan)
{
    create_deploy("fg", "alice", 1, "nginx:1");
    create_deploy("or", "bob", 1, "nginx:1");
    const char *args[] = {"Running", "1"};
    struct sim_reply r = wait_for(PODS "?labelSelector=app%3Dfg", all_pods_phase, args);
    sim_reply_free(&r);
    r = wait_for(PODS "?labelSelector=app%3Dor", all_pods_phase, args);
    sim_reply_free(&r);

    r = sim_req(S, "DELETE", DEPS "/fg?propagationPolicy=Foreground", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(sim_str(r.json, "kind"), "Deployment");
    ck_assert_ptr_nonnull(sim_str(r.json, "metadata.deletionTimestamp"));
    ck_assert_str_eq(sim_str(r.json, "metadata.finalizers.0"), "foregroundDeletion");
    sim_reply_free(&r);
    r = wait_for(DEPS "/fg", is_404, NULL);
    ck_assert(is_404(r.json, NULL));
    sim_reply_free(&r);
    r = sim_req(S, "GET", PODS "?labelSelector=app%3Dfg", NULL);
    ck_assert(list_empty(r.json, NULL));
    sim_reply_free(&r);

    r = sim_req(S, "DELETE", DEPS "/or",
                "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                "\"propagationPolicy\":\"Orphan\"}");
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    sim_sleep_ms(300);
    r = sim_req(S, "GET", "/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3Dor",
                NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    ck_assert_ptr_null(sim_at(r.json, "items.0.metadata.ownerReferences"));
    sim_reply_free(&r);
    r = sim_req(S, "GET", PODS "?labelSelector=app%3Dor", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1);
    sim_reply_free(&r);
}
END_TEST

static void post_event(const char *name)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"%s\"},\"involvedObject\":{\"kind\":\"Pod\","
             "\"name\":\"x\",\"namespace\":\"default\"},\"reason\":\"Test\","
             "\"message\":\"%s\",\"type\":\"Normal\"}",
             name, name);
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/events", body);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    sim_reply_free(&r);
}

/* Events are bounded: past max_events the least recently written go first. */
START_TEST(test_events_bounded)
{
    struct kubesim_opts o = KUBESIM_OPTS_INIT;
    kubesim_stop(S);
    o.token = SIM_TOKEN;
    o.pod_schedule_ms = 10;
    o.pod_start_ms = 20;
    o.pod_grace_ms = 5000;
    o.max_events = 2;
    S = sim_start_opts(&o);
    /* A bare Pod, not a Deployment's: a ReplicaSet would replace it when it is
     * deleted below and record a SuccessfulCreate that races the Killing. */
    struct sim_reply r = sim_req(S, "POST", PODS,
                                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
                                 "\"metadata\":{\"name\":\"ev-pod\",\"labels\":{\"app\":\"ev\"}},"
                                 "\"spec\":{\"containers\":[{\"name\":\"main\","
                                 "\"image\":\"nginx:1\"}]}}");
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    sim_reply_free(&r);
    const char *want[] = {"Running", "1"};
    r = wait_for(PODS "?labelSelector=app%3Dev", all_pods_phase, want);
    ck_assert_msg(all_pods_phase(r.json, want), "%s", r.body);
    sim_reply_free(&r);
    const char *pod = PODS "/ev-pod";
    r = sim_req(S, "GET", "/api/v1/namespaces/default/events", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 2);
    sim_reply_free(&r);

    /* Written through the API, events are not trimmed until the cluster records one. */
    post_event("e1");
    post_event("e2");
    post_event("e3");
    r = sim_req_full(S, "PATCH", "/api/v1/namespaces/default/events/e1",
                     "{\"message\":\"e1 again\"}", "application/merge-patch+json", NULL,
                     SIM_TOKEN);
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    r = sim_req(S, "DELETE", pod, NULL); /* the kubelet records Killing */
    ck_assert_int_eq(r.status, 200);
    sim_reply_free(&r);
    r = sim_req(S, "GET", "/api/v1/namespaces/default/events", NULL);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_msg(json_array_size(items) == 2, "%s", r.body);
    bool e1 = false, killing = false;
    size_t i;
    json_t *ev;
    json_array_foreach(items, i, ev)
    {
        e1 |= !strcmp(sim_str(ev, "metadata.name"), "e1");
        killing |= !strcmp(sim_str(ev, "reason"), "Killing");
    }
    ck_assert_msg(e1 && killing, "%s", r.body);
    sim_reply_free(&r);
}
END_TEST

START_TEST(test_pvc_binds)
{
    struct sim_reply r = sim_req(S, "POST", "/api/v1/namespaces/default/persistentvolumeclaims",
                                 "{\"metadata\":{\"name\":\"claim-alice\"},\"spec\":{"
                                 "\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{"
                                 "\"requests\":{\"storage\":\"1Gi\"}}}}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(sim_str(r.json, "status.phase"), "Pending");
    sim_reply_free(&r);
    ck_assert(sim_wait_str(S, "/api/v1/namespaces/default/persistentvolumeclaims/claim-alice",
                           "status.phase", "Bound"));
    r = sim_req(S, "GET", "/api/v1/namespaces/default/persistentvolumeclaims/claim-alice", NULL);
    ck_assert_str_eq(sim_str(r.json, "status.capacity.storage"), "1Gi");
    sim_reply_free(&r);
    r = sim_req(S, "POST", "/api/v1/namespaces/default/persistentvolumeclaims",
                "{\"metadata\":{\"name\":\"bad\"},\"spec\":{}}");
    ck_assert_int_eq(r.status, 422);
    sim_reply_free(&r);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("kubesim_ctrl");
    TCase *tc = tcase_create("ctrl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deployment_lifecycle);
    tcase_add_test(tc, test_rollout_and_scale);
    tcase_add_test(tc, test_failures);
    tcase_add_test(tc, test_pod_graceful_delete);
    tcase_add_test(tc, test_gc_background);
    tcase_add_test(tc, test_gc_foreground_and_orphan);
    tcase_add_test(tc, test_pvc_binds);
    tcase_add_test(tc, test_events_bounded);
    suite_add_tcase(s, tc);
    int rc = ty_run_suite(s);
    curl_global_cleanup();
    return rc;
}
