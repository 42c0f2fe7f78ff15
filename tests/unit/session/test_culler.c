/*
 * test_culler.c - the session service's calls for the culler's memory:
 * session_cpu_active (one batch, unknown ids skipped, an empty batch touches
 * nothing) and session_cull_warned (the time, 0 = the service's clock, and a
 * cull-warning event by the culler), against the simulated cluster.
 */
#include "session/session_test.h"

static void setup(void)
{
    st_setup_default();
}

static void teardown(void)
{
    st_teardown();
}

static void stored(const char *id, int64_t *cpu_at, int64_t *warned_at)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    *cpu_at = s.cpu_active_at;
    *warned_at = s.cull_warned_at;
    store_session_cleanup(&s);
}

START_TEST(cpu_activity_in_one_batch)
{
    char a[33], b[33];
    struct ty_error err = TY_ERROR_INIT;
    int64_t now = E.fclock.now, cpu_at, warned_at;
    size_t n = 99;

    ck_assert_ok(st_launch(a, "alice", "web", &err), &err);
    ck_assert_ok(st_launch(b, "bob", "web", &err), &err);
    {
        struct store_cpu_active items[] = {
            {a, now + 1000}, {"ended-and-gone", now + 1000}, {b, now + 2000}};
        ck_assert_ok(session_cpu_active(E.svc, items, 3, &n, &err), &err);
    }
    ck_assert_uint_eq(n, 2);
    stored(a, &cpu_at, &warned_at);
    ck_assert_int_eq(cpu_at, now + 1000);
    ck_assert_int_eq(warned_at, 0);
    stored(b, &cpu_at, &warned_at);
    ck_assert_int_eq(cpu_at, now + 2000);

    ck_assert_ok(session_cpu_active(E.svc, NULL, 0, &n, &err), &err);
    ck_assert_uint_eq(n, 0);
    {
        struct store_cpu_active bad[] = {{a, -5}};
        ck_assert_fails_with(session_cpu_active(E.svc, bad, 1, &n, &err), &err, TY_EINVAL, "> 0");
    }
    stored(a, &cpu_at, &warned_at);
    ck_assert_int_eq(cpu_at, now + 1000);
}
END_TEST

START_TEST(warning_is_stored_with_an_event)
{
    char a[33];
    struct ty_error err = TY_ERROR_INIT;
    struct store_event *ev = NULL;
    size_t n = 0;
    int64_t cpu_at, warned_at;
    bool found = false;

    ck_assert_ok(st_launch(a, "alice", "web", &err), &err);
    fake_advance(&E.fclock, 90000);
    /* 0 = now by the service's clock. */
    ck_assert_ok(session_cull_warned(E.svc, a, 0, "You will be culled.", &err), &err);
    stored(a, &cpu_at, &warned_at);
    ck_assert_int_eq(warned_at, E.fclock.now);
    ck_assert_ok(session_events(&ev, &n, E.svc, a, &err), &err);
    for (size_t i = 0; i < n; i++) {
        if (!ev[i].reason || strcmp(ev[i].reason, "cull-warning") != 0)
            continue;
        found = true;
        ck_assert_str_eq(ev[i].actor, "culler");
        ck_assert_str_eq(ev[i].message, "You will be culled.");
        ck_assert_int_eq(ev[i].at, E.fclock.now);
        ck_assert_int_eq(ev[i].from, ev[i].to);
    }
    store_events_free(ev, n);
    ck_assert(found);
    ck_assert_fails_with(session_cull_warned(E.svc, "nope", 0, "x", &err), &err, TY_ENOTFOUND,
                         "nope");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session.culler");
    TCase *tc = tcase_create("culler");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cpu_activity_in_one_batch);
    tcase_add_test(tc, warning_is_stored_with_an_event);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
