/*
 * test_changes.c - session_changes_wait: a write of the service wakes a
 * waiter at once, a wait with nothing written times out with the same count,
 * and a write that failed counts nothing.
 */
#include "session/session_test.h"

#include <pthread.h>
#include <time.h>

static void setup(void)
{
    st_setup_default();
}

static void teardown(void)
{
    st_teardown();
}

static char launched[33];

static void *heartbeat_later(void *arg)
{
    struct ty_error err = TY_ERROR_INIT;
    struct timespec ts = {0, 100 * 1000000L};
    (void)arg;
    nanosleep(&ts, NULL);
    ck_assert_ok(session_activity(E.svc, launched, 0, &err), &err);
    return NULL;
}

START_TEST(a_write_wakes_a_waiter)
{
    struct ty_error err = TY_ERROR_INIT;
    pthread_t t;

    ck_assert_ok(st_launch(launched, "alice", "web", &err), &err);
    uint64_t c1 = session_changes_wait(E.svc, 0, 0);
    ck_assert_uint_gt(c1, 0); /* the launch wrote its intent and its states */

    int64_t t0 = ty_time_mono_ms();
    ck_assert_int_eq(pthread_create(&t, NULL, heartbeat_later, NULL), 0);
    uint64_t c2 = session_changes_wait(E.svc, c1, 10000);
    int64_t waited = ty_time_mono_ms() - t0;
    pthread_join(t, NULL);
    ck_assert_uint_gt(c2, c1);
    ck_assert_msg(waited < 5000, "woken by the heartbeat, not the timeout (%lld ms)",
                  (long long)waited);

    /* Nothing written: the wait times out with the same count. */
    t0 = ty_time_mono_ms();
    uint64_t c3 = session_changes_wait(E.svc, c2, 150);
    ck_assert_uint_eq(c3, c2);
    ck_assert_int_ge(ty_time_mono_ms() - t0, 140);

    /* A write that failed counts nothing. */
    ck_assert_fails_with(session_activity(E.svc, "0123456789abcdef0123456789abcdef", 0, &err), &err,
                         TY_ENOTFOUND, "");
    ck_assert_uint_eq(session_changes_wait(E.svc, c3, 50), c3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session_changes");
    TCase *tc = tcase_create("changes");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_write_wakes_a_waiter);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
