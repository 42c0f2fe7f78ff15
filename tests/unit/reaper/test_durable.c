/*
 * test_durable.c - the culler's memory survives a restart: a warning issued
 * before a restart is not issued again by the new server, which culls at the
 * time the warning announced; CPU activity seen before a restart still counts
 * after it.  A "restart" frees the reaper and the session service and opens new
 * ones on the same database, against the same simulated cluster; time is a
 * fake clock advanced by the test.
 */
#include "reaper/reaper.h"
#include "session/session_test.h"

#define MIN (60 * 1000LL)

static struct reaper_policy P;
static struct reaper *R;

static void reaper_open(void)
{
    struct ty_error err = TY_ERROR_INIT;
    struct reaper_config rc;

    memset(&rc, 0, sizeof(rc));
    rc.svc = E.svc;
    rc.kube = E.kube;
    rc.namespace_name = "default";
    rc.registry = E.reg;
    rc.context = "test";
    rc.policy = &P;
    rc.clock = &E.clock;
    ck_assert_ok(reaper_new(&R, &rc, &err), &err);
}

/* What a restart of `tycho api` does to the culler: everything in memory is
 * gone, the database stays. */
static void restart(void)
{
    struct ty_error err = TY_ERROR_INIT;

    reaper_free(R);
    R = NULL;
    session_service_free(E.svc);
    E.svc = NULL;
    ck_assert_ok(session_service_new(&E.svc, &E.cfg, &err), &err);
    reaper_open();
}

static void setup(void)
{
    struct ty_error err = TY_ERROR_INIT;
    struct doc *d = NULL;
    const char *yaml = "culling: {idle_timeout: 1h, warning: 10m, cpu_threshold: 100m}\n";

    st_setup_default();
    ck_assert_ok(doc_parse(&d, "tycho.yaml", yaml, strlen(yaml), NULL, &err), &err);
    ck_assert_ok(reaper_policy_parse(&P, json_object_get(doc_root(d), "culling"), d, &err), &err);
    doc_free(d);
    reaper_open();
}

static void teardown(void)
{
    reaper_free(R);
    R = NULL;
    reaper_policy_cleanup(&P);
    st_teardown();
}

/* Launches a running session; returns its created_at. */
static int64_t launch_running(char *id, const char *user)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    int64_t created;

    ck_assert_ok(st_launch(id, user, "web", &err), &err);
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    created = s.created_at;
    store_session_cleanup(&s);
    return created;
}

static void set_clock(int64_t at)
{
    __atomic_store_n(&E.fclock.now, at, __ATOMIC_RELAXED);
}

static const char *iso(char *buf, size_t n, int64_t ms)
{
    return ty_time_format_iso(buf, n, ms, 0);
}

/* The stored row's culler fields. */
static void stored(const char *id, int64_t *cpu_at, int64_t *warned_at)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    *cpu_at = s.cpu_active_at;
    *warned_at = s.cull_warned_at;
    store_session_cleanup(&s);
}

/* The session's "cull-warning" events; the last one's message in *msg_out
 * (new string, may be NULL). */
static size_t warning_events(const char *id, char **msg_out)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_event *ev = NULL;
    size_t n = 0, found = 0;

    if (msg_out)
        *msg_out = NULL;
    ck_assert_ok(session_events(&ev, &n, E.svc, id, &err), &err);
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].reason || strcmp(ev[i].reason, "cull-warning") != 0)
            continue;
        found++;
        ck_assert_str_eq(ev[i].actor, "culler");
        ck_assert(ev[i].has_from);
        ck_assert_int_eq(ev[i].from, STORE_STATE_RUNNING);
        ck_assert_int_eq(ev[i].to, STORE_STATE_RUNNING);
        if (msg_out) {
            free(*msg_out);
            *msg_out = ev[i].message ? strdup(ev[i].message) : NULL;
        }
    }
    store_events_free(ev, n);
    return found;
}

static json_t *pass(void)
{
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;
    ck_assert_ok(reaper_pass(R, false, &report, &err), &err);
    return report;
}

START_TEST(warning_survives_a_restart_and_the_cull_keeps_its_time)
{
    char a[33], buf[40], *msg = NULL;
    int64_t created = launch_running(a, "alice");
    int64_t warned = created + 55 * MIN, announced = warned + 10 * MIN;
    int64_t cpu_at, warned_at;
    struct ty_error err = TY_ERROR_INIT;
    json_t *report, *row, *j = NULL;

    /* 55 minutes idle with a 1h timeout and a 10m warning: warned now, culled
     * in 10 minutes. */
    set_clock(warned);
    report = pass();
    ck_assert_uint_eq(json_array_size(report), 1);
    row = json_array_get(report, 0);
    ck_assert_str_eq(json_string_value(json_object_get(row, "action")), "warn");
    ck_assert(json_is_true(json_object_get(row, "done")));
    ck_assert_str_eq(json_string_value(json_object_get(row, "cull_at")),
                     iso(buf, sizeof(buf), announced));
    stored(a, &cpu_at, &warned_at);
    ck_assert_int_eq(warned_at, warned);
    ck_assert_uint_eq(warning_events(a, &msg), 1);
    ck_assert_str_eq(msg, json_string_value(json_object_get(row, "explanation")));
    free(msg);
    json_decref(report);

    restart();

    /* The new server knows about the warning: it does not warn again, and it
     * announces the same cull time. */
    set_clock(warned + 1 * MIN);
    ck_assert_ok(reaper_explain(&j, R, a, &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(j, "action")), "keep");
    ck_assert_str_eq(json_string_value(json_object_get(j, "warned_at")),
                     iso(buf, sizeof(buf), warned));
    ck_assert_str_eq(json_string_value(json_object_get(j, "cull_at")),
                     iso(buf, sizeof(buf), announced));
    json_decref(j);
    report = pass();
    ck_assert_uint_eq(json_array_size(report), 0);
    json_decref(report);
    ck_assert_uint_eq(warning_events(a, NULL), 1);

    /* Just before the announced time the idle timeout has passed, but the
     * warning period has not: kept. */
    set_clock(announced - 1000);
    report = pass();
    ck_assert_uint_eq(json_array_size(report), 0);
    json_decref(report);
    ck_assert_int_eq(st_state(a), STORE_STATE_RUNNING);

    /* At the announced time: culled, once. */
    set_clock(announced);
    report = pass();
    ck_assert_uint_eq(json_array_size(report), 1);
    row = json_array_get(report, 0);
    ck_assert_str_eq(json_string_value(json_object_get(row, "action")), "cull");
    ck_assert_str_eq(json_string_value(json_object_get(row, "reason")), "idle");
    ck_assert(json_is_true(json_object_get(row, "done")));
    json_decref(report);
    st_wait_state(a, STORE_STATE_STOPPED, true, 10000);
    ck_assert(st_has_event(a, STORE_STATE_STOPPING, "idle"));
    ck_assert_uint_eq(warning_events(a, NULL), 1);
}
END_TEST

START_TEST(cpu_activity_survives_a_restart)
{
    char busy[33], idle[33], buf[40];
    int64_t created = launch_running(busy, "alice");
    int64_t created_idle = launch_running(idle, "bob");
    int64_t sampled = created + 40 * MIN;
    int64_t cpu_at, warned_at;
    struct ty_error err = TY_ERROR_INIT;
    json_t *report, *j = NULL;

    ck_assert_int_eq(kubesim_set_pod_cpu(E.sim, "default", st_pod_of(busy), 500, 1 << 20), 0);
    ck_assert_int_eq(kubesim_set_pod_cpu(E.sim, "default", st_pod_of(idle), 20, 1 << 20), 0);
    set_clock(sampled);
    report = pass();
    json_decref(report);
    stored(busy, &cpu_at, &warned_at);
    ck_assert_int_eq(cpu_at, sampled);
    ck_assert_int_eq(warned_at, 0);
    /* 20m is under the 100m threshold: no activity recorded. */
    stored(idle, &cpu_at, &warned_at);
    ck_assert_int_eq(cpu_at, 0);

    /* A later sample with the CPU gone quiet changes nothing stored. */
    ck_assert_int_eq(kubesim_set_pod_cpu(E.sim, "default", st_pod_of(busy), 0, 1 << 20), 0);
    set_clock(sampled + 1 * MIN);
    report = pass();
    json_decref(report);
    stored(busy, &cpu_at, &warned_at);
    ck_assert_int_eq(cpu_at, sampled);

    restart();

    /* Before the new server has sampled anything, the stored activity counts. */
    set_clock(created + 65 * MIN);
    ck_assert_ok(reaper_explain(&j, R, busy, &err), &err);
    ck_assert_str_eq(json_string_value(json_object_get(j, "last_active_source")), "cpu");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "last_active_by_source"), "cpu")),
        iso(buf, sizeof(buf), sampled));
    ck_assert_str_eq(json_string_value(json_object_get(j, "cull_at")),
                     iso(buf, sizeof(buf), sampled + 60 * MIN));
    json_decref(j);

    /* 65 minutes after creation the idle session is warned; the busy one, last
     * active 25 minutes ago by CPU, is kept (without the stored sample it would
     * have been warned as idle since its creation). */
    ck_assert_int_ge(created + 65 * MIN, created_idle + 60 * MIN);
    report = pass();
    ck_assert_uint_eq(json_array_size(report), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(report, 0), "session")),
                     idle);
    json_decref(report);
    ck_assert_uint_eq(warning_events(busy, NULL), 0);
    ck_assert_int_eq(st_state(busy), STORE_STATE_RUNNING);
}
END_TEST

/* A dry run (POST /v1/admin/reap) records no warning: the real pass after it
 * still warns. */
START_TEST(dry_run_records_no_warning)
{
    char a[33];
    int64_t created = launch_running(a, "alice");
    int64_t cpu_at, warned_at;
    struct ty_error err = TY_ERROR_INIT;
    json_t *report = NULL;

    set_clock(created + 55 * MIN);
    ck_assert_ok(reaper_pass(R, true, &report, &err), &err);
    ck_assert_uint_eq(json_array_size(report), 1);
    ck_assert(json_is_false(json_object_get(json_array_get(report, 0), "done")));
    json_decref(report);
    stored(a, &cpu_at, &warned_at);
    ck_assert_int_eq(warned_at, 0);
    ck_assert_uint_eq(warning_events(a, NULL), 0);
    report = pass();
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(report, 0), "action")),
                     "warn");
    json_decref(report);
    ck_assert_uint_eq(warning_events(a, NULL), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reaper");
    TCase *tc = tcase_create("durable");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, warning_survives_a_restart_and_the_cull_keeps_its_time);
    tcase_add_test(tc, cpu_activity_survives_a_restart);
    tcase_add_test(tc, dry_run_records_no_warning);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
