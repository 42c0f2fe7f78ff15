/*
 * test_service.c - the session service's operations against the simulated
 * cluster and a temporary database: launch -> running, stop -> stopped with
 * every object gone, modify, limits, validation, the entry overlay, quantities.
 */
#include "session_test.h"

#include "session/session_int.h"

START_TEST(launch_reaches_running)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33];

    ck_assert_ok(st_launch(id, "alice", "web", &err), &err);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_int_eq(s.state, STORE_STATE_PENDING);
    ck_assert_str_eq(s.username, "alice");
    ck_assert_str_eq(s.app_id, "web");
    ck_assert_str_eq(s.context, "test");
    ck_assert_str_eq(s.namespace, "default");
    ck_assert_ptr_nonnull(s.system_name);
    ck_assert(strstr(s.system_name, id) != NULL);
    ck_assert_int_eq(s.cpu_millis, 1000);
    ck_assert_int_eq(s.memory_bytes, 1000000000);
    ck_assert_ptr_nonnull(s.url);
    ck_assert(strncmp(s.url, "https://helx.example.org/private/web/alice/", 43) == 0);
    ck_assert(s.state_deadline_at > 0);
    ck_assert_ptr_nonnull(s.objects_json);
    store_session_cleanup(&s);

    /* Every object is there and labelled; the Deployment owns the rest. */
    ck_assert_int_eq(st_count_kind(id, KUBE_DEPLOYMENT), 1);
    ck_assert_int_ge(st_count_kind(id, KUBE_SERVICE), 1);
    {
        char sel[80];
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        json_t *list = NULL;
        snprintf(sel, sizeof(sel), "tycho-guid=%s", id);
        lo.label_selector = sel;
        ck_assert_ok(kube_list(&list, E.kube, KUBE_SERVICE, NULL, &lo, &err), &err);
        json_t *svc0 = json_array_get(json_object_get(list, "items"), 0);
        json_t *owners = json_object_get(json_object_get(svc0, "metadata"), "ownerReferences");
        ck_assert_int_eq(json_array_size(owners), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(owners, 0), "kind")),
                         "Deployment");
        json_decref(list);
    }

    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert(s.ready_at > 0);
    ck_assert(s.state_deadline_at > 0);
    store_session_cleanup(&s);
    ck_assert(st_has_event(id, STORE_STATE_REQUESTED, NULL));
    ck_assert(st_has_event(id, STORE_STATE_CREATING, NULL));
    ck_assert(st_has_event(id, STORE_STATE_PENDING, NULL));
    ck_assert(st_has_event(id, STORE_STATE_RUNNING, "ready"));
}
END_TEST

START_TEST(stop_removes_every_object)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33];

    ck_assert_ok(st_launch(id, "bob", "multi", &err), &err);
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    ck_assert_int_gt(st_count_objects(id), 3);
    ck_assert_ok(session_stop(E.svc, id, "bob", "user", &err), &err);
    st_wait_state(id, STORE_STATE_STOPPED, true, 10000);
    ck_assert_int_eq(st_count_objects(id), 0);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_str_eq(s.stopped_by, "bob");
    ck_assert_str_eq(s.stop_reason, "user");
    ck_assert(s.stopped_at > 0);
    ck_assert_int_eq(s.state_deadline_at, 0);
    store_session_cleanup(&s);
    ck_assert(st_has_event(id, STORE_STATE_STOPPING, "user"));
    ck_assert(st_has_event(id, STORE_STATE_STOPPED, NULL));

    /* Stopping again, or an unknown id. */
    ck_assert_ok(session_stop(E.svc, id, "bob", NULL, &err), &err);
    ck_assert_fails_with(session_stop(E.svc, "0123456789abcdef0123456789abcdef", "bob", NULL, &err),
                         &err, TY_ENOTFOUND, "");
}
END_TEST

START_TEST(modify_patches_and_records)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    struct session_label labels[] = {{"team", "genomics"}, {"tier", "gold"}};
    struct session_label bad[] = {{"name", "x"}};
    struct session_modify_req m;
    json_t *d = NULL;
    char id[33];

    ck_assert_ok(st_launch(id, "carol", "web", &err), &err);
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);

    memset(&m, 0, sizeof(m));
    m.cpu = 2.5;
    m.actor = "admin";
    /* The app's spec says 0.5 to 1 CPU and 512M to 1G: outside is refused,
     * whoever asks, and nothing changes. */
    m.role = POLICY_ROLE_ADMIN;
    ck_assert_fails_with(session_modify(E.svc, id, &m, &err), &err, TY_EINVAL,
                         "cpu 2500m is above the maximum of 1 for app web");
    m.cpu = 0;
    m.memory = "256Mi";
    ck_assert_fails_with(session_modify(E.svc, id, &m, &err), &err, TY_EINVAL,
                         "memory 256Mi is below the minimum of 512M for app web");
    m.cpu = 0.75;
    m.memory = "768Mi";
    m.labels = labels;
    m.n_labels = 2;
    m.role = POLICY_ROLE_USER;
    ck_assert_ok(session_modify(E.svc, id, &m, &err), &err);

    ck_assert_ok(kube_get(&d, E.kube, KUBE_DEPLOYMENT, NULL, s.system_name, &err), &err);
    json_t *tmpl = json_object_get(json_object_get(d, "spec"), "template");
    json_t *c0 = json_array_get(json_object_get(json_object_get(tmpl, "spec"), "containers"), 0);
    json_t *lim = json_object_get(json_object_get(c0, "resources"), "limits");
    json_t *req = json_object_get(json_object_get(c0, "resources"), "requests");
    ck_assert_str_eq(json_string_value(json_object_get(lim, "cpu")), "750m");
    ck_assert_str_eq(json_string_value(json_object_get(lim, "memory")), "768Mi");
    ck_assert_str_eq(json_string_value(json_object_get(req, "memory")), "768Mi");
    ck_assert_ptr_nonnull(json_object_get(c0, "image"));
    json_t *tl = json_object_get(json_object_get(tmpl, "metadata"), "labels");
    /* The caller's labels never reach the pods; the selector labels are
     * untouched. */
    ck_assert_ptr_null(json_object_get(tl, "team"));
    ck_assert_str_eq(json_string_value(json_object_get(tl, "tycho-guid")), id);
    ck_assert_ptr_nonnull(json_object_get(tl, "name"));
    json_t *dl = json_object_get(json_object_get(d, "metadata"), "labels");
    ck_assert_str_eq(json_string_value(json_object_get(dl, "tier")), "gold");
    json_decref(d);
    /* The Service carries them too, and still selects the pods. */
    {
        char sel[96];
        struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
        json_t *list = NULL;
        snprintf(sel, sizeof(sel), "tycho-guid=%s,team=genomics", id);
        lo.label_selector = sel;
        ck_assert_ok(kube_list(&list, E.kube, KUBE_SERVICE, NULL, &lo, &err), &err);
        ck_assert_int_eq(json_array_size(json_object_get(list, "items")), 1);
        json_decref(list);
    }
    store_session_cleanup(&s);

    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_int_eq(s.cpu_millis, 750);
    ck_assert_int_eq(s.memory_bytes, 768LL * 1024 * 1024);
    ck_assert_int_eq(s.n_labels, 2);
    store_session_cleanup(&s);
    ck_assert(st_has_event(id, STORE_STATE_RUNNING, "modified"));

    /* Removing a label. */
    {
        struct session_label del[] = {{"tier", NULL}};
        memset(&m, 0, sizeof(m));
        m.labels = del;
        m.n_labels = 1;
        ck_assert_ok(session_modify(E.svc, id, &m, &err), &err);
        ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
        ck_assert_int_eq(s.n_labels, 1);
        store_session_cleanup(&s);
    }

    /* Reserved labels, bad quantities, and a stopped session are refused. */
    memset(&m, 0, sizeof(m));
    m.labels = bad;
    m.n_labels = 1;
    ck_assert_fails_with(session_modify(E.svc, id, &m, &err), &err, TY_EINVAL, "reserved");
    memset(&m, 0, sizeof(m));
    m.memory = "lots";
    ck_assert_fails_with(session_modify(E.svc, id, &m, &err), &err, TY_EINVAL, "lots");
    ck_assert_ok(session_stop(E.svc, id, "carol", NULL, &err), &err);
    memset(&m, 0, sizeof(m));
    m.cpu = 1;
    ck_assert_fails_with(session_modify(E.svc, id, &m, &err), &err, TY_ECONFLICT, "stopp");
}
END_TEST

START_TEST(limits_per_user_app_global)
{
    struct ty_error err = TY_ERROR_INIT;
    char a[33], b[33], c[33], d[33];

    session_service_free(E.svc);
    E.cfg.max_per_user = 2;
    E.cfg.max_global = 3;
    st_service_open();

    ck_assert_ok(st_launch(a, "alice", "web", &err), &err);
    ck_assert_ok(st_launch(b, "alice", "web", &err), &err);
    ck_assert_fails_with(st_launch(c, "alice", "web", &err), &err, TY_ELIMIT,
                         "user alice already has 2 sessions (limit 2)");
    /* The registry's count: one "single" per user. */
    ck_assert_ok(st_launch(c, "bob", "single", &err), &err);
    ck_assert_fails_with(st_launch(d, "bob", "single", &err), &err, TY_ELIMIT,
                         "user bob already has 1 session of app single (limit 1");
    /* Global. */
    ck_assert_fails_with(st_launch(d, "dave", "web", &err), &err, TY_ELIMIT,
                         "the platform already runs 3 sessions (limit 3)");
    /* A stopped session frees its place. */
    ck_assert_ok(session_stop(E.svc, a, "alice", NULL, &err), &err);
    st_wait_state(a, STORE_STATE_STOPPED, true, 10000);
    ck_assert_ok(st_launch(d, "alice", "web", &err), &err);
}
END_TEST

START_TEST(launch_validation)
{
    struct ty_error err = TY_ERROR_INIT;
    struct session_launch_req req;
    struct session_label bad[] = {{"bad key!", "x"}};
    char id[33];

    ck_assert_fails_with(st_launch(id, "alice", "nosuchapp", &err), &err, TY_ENOTFOUND,
                         "unknown app 'nosuchapp' in context 'test'");
    ck_assert_fails_with(st_launch(id, "", "web", &err), &err, TY_EINVAL, "username");
    memset(&req, 0, sizeof(req));
    req.username = "alice";
    req.app_id = "web";
    req.id = "NOT-A-GUID";
    ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_EINVAL, "NOT-A-GUID");
    req.id = NULL;
    req.memory = "12 parsecs";
    ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_EINVAL, "parsecs");
    req.memory = NULL;
    req.labels = bad;
    req.n_labels = 1;
    ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_EINVAL, "bad key!");

    /* A fixed id, resources and labels reach the row. */
    {
        struct session_label ok[] = {{"course", "bio101"}};
        struct store_session s;
        memset(&req, 0, sizeof(req));
        req.username = "Jane.Doe@unc.edu";
        req.app_id = "web";
        req.id = "00112233445566778899aabbccddeeff";
        req.cpu = 0.25;
        req.memory = "768Mi";
        req.gpu = -1;
        req.labels = ok;
        req.n_labels = 1;
        /* Below the app's reservation (0.5), then within its range. */
        ck_assert_fails_with(session_launch(&s, E.svc, &req, &err), &err, TY_EINVAL,
                             "cpu 250m is below the minimum of 500m for app web");
        req.cpu = 0.75;
        ck_assert_ok(session_launch(&s, E.svc, &req, &err), &err);
        ck_assert_str_eq(s.id, "00112233445566778899aabbccddeeff");
        ck_assert_str_eq(s.username, "Jane.Doe@unc.edu");
        ck_assert_int_eq(s.cpu_millis, 750);
        ck_assert_int_eq(s.memory_bytes, 768LL * 1024 * 1024);
        ck_assert_int_eq(s.n_labels, 1);
        store_session_cleanup(&s);
        /* The same id again is refused by the store. */
        ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_EEXISTS, "");
    }
}
END_TEST

/* Tycho's /system/start and `up -f`: a spec given in the request, for a
 * system name the registry does not know. */
START_TEST(launch_from_request_spec)
{
    struct ty_error err = TY_ERROR_INIT;
    struct session_launch_req req;
    struct store_session s;
    const char *spec = "version: \"3\"\n"
                       "services:\n"
                       "  notebook:\n"
                       "    image: example.org/notebook:1\n"
                       "    ports:\n"
                       "      - 8888:8888\n"
                       "    environment:\n"
                       "      - GREETING=${GREETING}\n";

    memset(&req, 0, sizeof(req));
    req.username = "kim";
    req.app_id = "notebook";
    req.gpu = -1;
    req.spec_text = spec;
    req.env_text = "GREETING=hello\n";
    /* A name the registry lacks is a platform's (or an admin's) to launch. */
    ck_assert_fails_with(session_launch(&s, E.svc, &req, &err), &err, TY_ENOTFOUND,
                         "unknown app 'notebook'");
    req.role = POLICY_ROLE_PLATFORM;
    ck_assert_ok(session_launch(&s, E.svc, &req, &err), &err);
    ck_assert_str_eq(s.app_id, "notebook");
    ck_assert_ptr_null(s.app_name);
    ck_assert_int_eq(st_count_kind(s.id, KUBE_DEPLOYMENT), 1);
    st_wait_state(s.id, STORE_STATE_RUNNING, true, 10000);
    store_session_cleanup(&s);

    /* A spec that does not compile leaves no row and no object. */
    req.spec_text = "services: [not, a, mapping]\n";
    req.id = "11112222333344445555666677778888";
    ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_EINVAL, "notebook");
    ck_assert_fails_with(session_get(&s, E.svc, req.id, &err), &err, TY_ENOTFOUND, "");
    ck_assert_int_eq(st_count_objects(req.id), 0);
}
END_TEST

/* The entry overlay (Tycho's /system/start keys): it makes the whole entry
 * for an app the registry lacks, replaces fields of one it has, and leaves
 * the registry itself as it was. */
static const char *st_deploy_sa(const char *id, json_t **keep)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kube_list_opts lo = KUBE_LIST_OPTS_INIT;
    char sel[80];
    snprintf(sel, sizeof(sel), "tycho-guid=%s", id);
    lo.label_selector = sel;
    ck_assert_ok(kube_list(keep, E.kube, KUBE_DEPLOYMENT, "default", &lo, &err), &err);
    json_t *d = json_array_get(json_object_get(*keep, "items"), 0);
    return json_string_value(json_object_get(
        json_object_get(json_object_get(json_object_get(d, "spec"), "template"), "spec"),
        "serviceAccountName"));
}

START_TEST(launch_with_overlay)
{
    struct ty_error err = TY_ERROR_INIT;
    struct session_launch_req req;
    struct store_session s;
    json_t *list = NULL;
    const char *spec = "services:\n"
                       "  lab:\n"
                       "    image: example.org/lab:1\n"
                       "    ports: [\"8888:8888\"]\n"
                       "  side:\n"
                       "    image: example.org/side:1\n";
    json_t *ov = json_pack("{s:{s:i,s:s},s:s}", "services", "lab", 8888, "side", "9000",
                           "serviceAccount", "spark");
    json_t *bad = json_string("not an object");

    memset(&req, 0, sizeof(req));
    req.username = "kim";
    req.app_id = "lab";
    req.gpu = -1;
    req.spec_text = spec;
    req.role = POLICY_ROLE_PLATFORM;
    ck_assert_ok(policy_set(&E.policy, "service_accounts", "spark", &err), &err);
    req.app_overlay = bad;
    req.id = "aaaabbbbccccddddeeeeffff00001111";
    ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_EINVAL,
                         "overlay must be an object");
    ck_assert_int_eq(st_count_objects(req.id), 0);

    /* Unregistered: the overlay is the entry (a Service per listed container). */
    req.id = NULL;
    req.app_overlay = ov;
    ck_assert_ok(session_launch(&s, E.svc, &req, &err), &err);
    ck_assert_int_eq(st_count_kind(s.id, KUBE_SERVICE), 2);
    ck_assert_str_eq(st_deploy_sa(s.id, &list), "spark");
    json_decref(list);
    store_session_cleanup(&s);

    /* Registered: the overlay's fields win, for this launch only. */
    req.app_id = "web";
    req.spec_text = NULL;
    json_object_del(ov, "services");
    ck_assert_ok(session_launch(&s, E.svc, &req, &err), &err);
    ck_assert_str_eq(s.app_name, "Web");
    ck_assert_str_eq(st_deploy_sa(s.id, &list), "spark");
    json_decref(list);
    store_session_cleanup(&s);
    req.app_overlay = NULL;
    ck_assert_ok(session_launch(&s, E.svc, &req, &err), &err);
    ck_assert_ptr_null(st_deploy_sa(s.id, &list));
    json_decref(list);
    store_session_cleanup(&s);

    /* An overlay alone is no app: an unknown app without a spec stays unknown. */
    req.app_id = "nosuchapp";
    req.app_overlay = ov;
    ck_assert_fails_with(session_launch(NULL, E.svc, &req, &err), &err, TY_ENOTFOUND, "nosuchapp");
    json_decref(ov);
    json_decref(bad);
}
END_TEST

START_TEST(activity_and_list)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    struct store_query q;
    struct store_page page;
    char a[33], b[33];

    ck_assert_ok(st_launch(a, "erin", "web", &err), &err);
    ck_assert_ok(st_launch(b, "frank", "web", &err), &err);
    ck_assert_ok(session_activity(E.svc, a, 1234567, &err), &err);
    ck_assert_ok(session_get(&s, E.svc, a, &err), &err);
    ck_assert_int_eq(s.last_activity_at, 1234567);
    store_session_cleanup(&s);
    ck_assert_fails_with(session_activity(E.svc, "ffffffffffffffffffffffffffffffff", 0, &err), &err,
                         TY_ENOTFOUND, "");
    memset(&q, 0, sizeof(q));
    q.username = "erin";
    ck_assert_ok(session_list(&page, E.svc, &q, &err), &err);
    ck_assert_int_eq(page.n, 1);
    ck_assert_str_eq(page.items[0].id, a);
    store_page_cleanup(&page);
}
END_TEST

START_TEST(quantities)
{
    int64_t v;
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(session_cpu_parse(&v, "500m", &err), &err);
    ck_assert_int_eq(v, 500);
    ck_assert_ok(session_cpu_parse(&v, "1.5", &err), &err);
    ck_assert_int_eq(v, 1500);
    ck_assert_ok(session_cpu_parse(&v, ".5", &err), &err);
    ck_assert_int_eq(v, 500);
    ck_assert_fails_with(session_cpu_parse(&v, "-1", &err), &err, TY_EINVAL, "-1");
    ck_assert_fails_with(session_cpu_parse(&v, "0x10", &err), &err, TY_EINVAL, "0x10");
    ck_assert_fails_with(session_cpu_parse(&v, "2G", &err), &err, TY_EINVAL, "2G");
    ck_assert_ok(session_memory_parse(&v, "2G", &err), &err);
    ck_assert_int_eq(v, 2000000000);
    ck_assert_ok(session_memory_parse(&v, "512Mi", &err), &err);
    ck_assert_int_eq(v, 512LL * 1024 * 1024);
    ck_assert_ok(session_memory_parse(&v, "2048M", &err), &err);
    ck_assert_int_eq(v, 2048000000);
    ck_assert_ok(session_memory_parse(&v, "1e3", &err), &err);
    ck_assert_int_eq(v, 1000);
    ck_assert_fails_with(session_memory_parse(&v, "nan", &err), &err, TY_EINVAL, "nan");
    ck_assert_fails_with(session_memory_parse(&v, "2GB", &err), &err, TY_EINVAL, "2GB");
    ck_assert_fails_with(session_memory_parse(&v, "", &err), &err, TY_EINVAL, "memory");
    ck_assert_int_eq(session_orphan_policy_parse(&(enum session_orphan_policy){0}, "delete"), 0);
    ck_assert_int_eq(session_orphan_policy_parse(&(enum session_orphan_policy){0}, "keep"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session.service");
    TCase *tc = tcase_create("service");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, st_setup_default, st_teardown);
    tcase_add_test(tc, launch_reaches_running);
    tcase_add_test(tc, stop_removes_every_object);
    tcase_add_test(tc, modify_patches_and_records);
    tcase_add_test(tc, limits_per_user_app_global);
    tcase_add_test(tc, launch_validation);
    tcase_add_test(tc, launch_from_request_spec);
    tcase_add_test(tc, launch_with_overlay);
    tcase_add_test(tc, activity_and_list);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("pure");
    tcase_add_test(tp, quantities);
    suite_add_tcase(s, tp);
    return ty_run_suite(s);
}
