/*
 * test_scheduler.c - the culler against the simulated cluster: idle sessions
 * are stopped and their objects gone, active ones (heartbeat or CPU) stay;
 * dry-run stops nothing; a cull racing the user's own stop or a heartbeat ends
 * in exactly one stop or none.  Time is a fake clock advanced by the test.
 */
#include "reaper/reaper.h"
#include "session/session_test.h"

#define HOUR (3600 * 1000LL)

static struct reaper_policy P;
static struct reaper *R;

/* What the before_cull hook does to the session about to be culled. */
enum race { RACE_NONE, RACE_HEARTBEAT, RACE_USER_STOP };
static enum race Race;
static int RaceCalls;

static void before_cull(const char *id, void *payload)
{
    struct ty_error err = TY_ERROR_INIT;
    (void)payload;
    RaceCalls++;
    if (Race == RACE_HEARTBEAT)
        ck_assert_ok(session_activity(E.svc, id, 0, &err), &err);
    else if (Race == RACE_USER_STOP)
        ck_assert_ok(session_stop(E.svc, id, "alice", "user", &err), &err);
}

static void setup(void)
{
    struct ty_error err = TY_ERROR_INIT;
    struct doc *d = NULL;
    const char *yaml = "culling: {idle_timeout: 1h, cpu_threshold: 100m, concurrency: 4,\n"
                       "          users: {carol: {idle_timeout: 0}}}\n";
    struct reaper_config rc;

    st_setup_default();
    ck_assert_ok(doc_parse(&d, "tycho.yaml", yaml, strlen(yaml), NULL, &err), &err);
    ck_assert_ok(reaper_policy_parse(&P, json_object_get(doc_root(d), "culling"), d, &err), &err);
    doc_free(d);
    memset(&rc, 0, sizeof(rc));
    rc.svc = E.svc;
    rc.kube = E.kube;
    rc.namespace_name = "default";
    rc.registry = E.reg;
    rc.context = "test";
    rc.policy = &P;
    rc.clock = &E.clock;
    rc.before_cull = before_cull;
    Race = RACE_NONE;
    RaceCalls = 0;
    ck_assert_ok(reaper_new(&R, &rc, &err), &err);
}

static void teardown(void)
{
    reaper_free(R);
    R = NULL;
    reaper_policy_cleanup(&P);
    st_teardown();
}

static void launch_running(char *id, const char *user)
{
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(st_launch(id, user, "web", &err), &err);
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
}

static bool culled_by_culler(const char *id)
{
    struct store_session s;
    struct ty_error err = TY_ERROR_INIT;
    bool yes;
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    yes = s.stopped_by && !strcmp(s.stopped_by, "culler");
    store_session_cleanup(&s);
    return yes;
}

START_TEST(idle_sessions_are_culled_active_ones_stay)
{
    char idle[33], beating[33], busy[33], exempt[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;
    struct reaper_stats st;

    launch_running(idle, "alice");
    launch_running(beating, "bob");
    launch_running(busy, "dave");
    launch_running(exempt, "carol");
    ck_assert_int_eq(kubesim_set_pod_cpu(E.sim, "default", st_pod_of(busy), 500, 1 << 20), 0);

    fake_advance(&E.fclock, HOUR - 60000);
    ck_assert_ok(session_activity(E.svc, beating, 0, &err), &err);
    fake_advance(&E.fclock, 2 * 60000);

    ck_assert_ok(reaper_pass(R, false, &report, &err), &err);
    ck_assert_uint_eq(json_array_size(report), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(report, 0), "session")),
                     idle);
    ck_assert(json_is_true(json_object_get(json_array_get(report, 0), "done")));
    json_decref(report);

    st_wait_state(idle, STORE_STATE_STOPPED, true, 10000);
    st_wait_gone(idle, 10000);
    ck_assert(culled_by_culler(idle));
    ck_assert(st_has_event(idle, STORE_STATE_STOPPING, "idle"));
    ck_assert_int_eq(st_state(beating), STORE_STATE_RUNNING);
    ck_assert_int_eq(st_state(busy), STORE_STATE_RUNNING);
    ck_assert_int_eq(st_state(exempt), STORE_STATE_RUNNING);
    ck_assert_uint_gt(st_count_objects(beating), 0);

    reaper_stats_get(R, &st);
    ck_assert_int_eq(st.culled, 1);
    ck_assert_int_eq(st.passes, 1);
}
END_TEST

/* A dead notify_url costs one failure per pass: the culls go on, the rest of
 * the pass's notes are dropped and counted. */
START_TEST(dead_notify_url_does_not_hold_up_culls)
{
    char a[33], b[33], c[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;
    struct reaper_stats st;

    P.notify_url = ty_xstrdup("http://127.0.0.1:1/hook"); /* nothing listens on port 1 */
    launch_running(a, "alice");
    launch_running(b, "bob");
    launch_running(c, "dave");
    fake_advance(&E.fclock, 2 * HOUR);
    ck_assert_ok(reaper_pass(R, false, &report, &err), &err);
    ck_assert_uint_eq(json_array_size(report), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert(json_is_true(json_object_get(json_array_get(report, i), "done")));
    json_decref(report);
    reaper_stats_get(R, &st);
    ck_assert_int_eq(st.culled, 3);
    ck_assert_int_eq(st.notified, 0);
    ck_assert_int_eq(st.notify_failures, 3);
}
END_TEST

START_TEST(dry_run_stops_nothing)
{
    char a[33], b[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;

    launch_running(a, "alice");
    launch_running(b, "bob");
    fake_advance(&E.fclock, 2 * HOUR);
    ck_assert_ok(reaper_pass(R, true, &report, &err), &err);
    ck_assert_uint_eq(json_array_size(report), 2);
    ck_assert(json_is_false(json_object_get(json_array_get(report, 0), "done")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(report, 1), "reason")),
                     "idle");
    json_decref(report);
    ck_assert_int_eq(st_state(a), STORE_STATE_RUNNING);
    ck_assert_int_eq(st_state(b), STORE_STATE_RUNNING);
}
END_TEST

START_TEST(user_stop_racing_the_cull_ends_in_one_stop)
{
    char a[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;

    launch_running(a, "alice");
    fake_advance(&E.fclock, 2 * HOUR);
    ck_assert_ok(session_stop(E.svc, a, "alice", "user", &err), &err);
    ck_assert_ok(reaper_pass(R, false, &report, &err), &err);
    /* The session is stopping or stopped by its owner: the culler leaves it. */
    for (size_t i = 0; i < json_array_size(report); i++)
        ck_assert(json_is_false(json_object_get(json_array_get(report, i), "done")) ||
                  strcmp(json_string_value(json_object_get(json_array_get(report, i), "action")),
                         "cull") != 0 ||
                  strcmp(json_string_value(json_object_get(json_array_get(report, i), "reason")),
                         "stuck") == 0);
    json_decref(report);
    st_wait_state(a, STORE_STATE_STOPPED, true, 10000);
    ck_assert(!culled_by_culler(a));
}
END_TEST

START_TEST(heartbeat_racing_the_cull_wins)
{
    char a[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;
    struct reaper_stats st;

    launch_running(a, "alice");
    fake_advance(&E.fclock, 2 * HOUR);
    Race = RACE_HEARTBEAT;
    ck_assert_ok(reaper_pass(R, false, &report, &err), &err);
    ck_assert_int_eq(RaceCalls, 1);
    ck_assert_uint_eq(json_array_size(report), 1);
    ck_assert(json_is_false(json_object_get(json_array_get(report, 0), "done")));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(report, 0), "skipped"));
    json_decref(report);
    ck_assert_int_eq(st_state(a), STORE_STATE_RUNNING);
    reaper_stats_get(R, &st);
    ck_assert_int_eq(st.skipped, 1);
    ck_assert_int_eq(st.culled, 0);
}
END_TEST

START_TEST(user_stop_during_the_cull_is_the_one_stop)
{
    char a[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;

    launch_running(a, "alice");
    fake_advance(&E.fclock, 2 * HOUR);
    Race = RACE_USER_STOP;
    ck_assert_ok(reaper_pass(R, false, &report, &err), &err);
    ck_assert_int_eq(RaceCalls, 1);
    ck_assert(json_is_false(json_object_get(json_array_get(report, 0), "done")));
    json_decref(report);
    st_wait_state(a, STORE_STATE_STOPPED, true, 10000);
    ck_assert(!culled_by_culler(a));
    ck_assert(!st_has_event(a, STORE_STATE_STOPPING, "idle"));
}
END_TEST

START_TEST(explain_one_session)
{
    char a[33];
    struct ty_error err = TY_ERROR_INIT;
    json_t *j = NULL;

    launch_running(a, "carol");
    fake_advance(&E.fclock, 5 * HOUR);
    ck_assert_ok(reaper_explain(&j, R, a, &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "keep");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "limits"), "idle_timeout_from")),
        "user carol");
    ck_assert(json_is_null(json_object_get(j, "cull_at")));
    json_decref(j);
    ck_assert_fails_with(reaper_explain(&j, R, "nope", &err), &err, TY_ENOTFOUND, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reaper");
    TCase *tc = tcase_create("scheduler");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idle_sessions_are_culled_active_ones_stay);
    tcase_add_test(tc, dry_run_stops_nothing);
    tcase_add_test(tc, dead_notify_url_does_not_hold_up_culls);
    tcase_add_test(tc, user_stop_racing_the_cull_ends_in_one_stop);
    tcase_add_test(tc, heartbeat_racing_the_cull_wins);
    tcase_add_test(tc, user_stop_during_the_cull_is_the_one_stop);
    tcase_add_test(tc, explain_one_session);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
