/*
 * test_reconcile.c - the reconciler: a failing image fails with its reason at
 * the start deadline (fake clock), a stop wins over a pending start and over a
 * launch still creating objects, lost sessions, orphans under each policy,
 * interrupted launches, and the reconciler thread surviving a 410 and injected
 * API errors.
 */
#include "session_test.h"

#include <pthread.h>

START_TEST(failing_image_fails_with_reason)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33];
    int64_t end = ty_time_mono_ms() + 10000;

    ck_assert_ok(st_launch(id, "alice", "badimage", &err), &err);
    /* Before the deadline it stays pending, with the reason in the message. */
    for (;;) {
        ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
        ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
        ck_assert_int_eq(s.state, STORE_STATE_PENDING);
        bool backoff = s.state_message && strstr(s.state_message, "ImagePullBackOff") != NULL;
        store_session_cleanup(&s);
        if (backoff)
            break;
        ck_assert_msg(ty_time_mono_ms() < end, "no ImagePullBackOff seen");
        usleep(20000);
    }
    /* Past the start deadline: failed with the cluster's reason, objects gone. */
    fake_advance(&E.fclock, E.cfg.start_deadline_ms + 1);
    ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_int_eq(s.state, STORE_STATE_FAILED);
    ck_assert_str_eq(s.state_reason, "ImagePullBackOff");
    ck_assert_ptr_nonnull(s.state_message);
    ck_assert(strstr(s.state_message, "container") != NULL);
    store_session_cleanup(&s);
    st_wait_gone(id, 10000);
}
END_TEST

/* Other reasons a start never finishes, each reported as the cluster says. */
static const struct {
    const char *app, *reason;
} start_failures[] = {
    {"crashy", "CrashLoopBackOff"},
    {"nofit", "Unschedulable"},
};

START_TEST(start_failure_reasons)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33];
    int64_t end = ty_time_mono_ms() + 10000;

    ck_assert_ok(st_launch(id, "lee", start_failures[_i].app, &err), &err);
    for (;;) {
        ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
        ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
        bool seen = s.state_message && strstr(s.state_message, start_failures[_i].reason);
        ck_assert_int_eq(s.state, STORE_STATE_PENDING);
        store_session_cleanup(&s);
        if (seen)
            break;
        ck_assert_msg(ty_time_mono_ms() < end, "no %s seen", start_failures[_i].reason);
        usleep(20000);
    }
    fake_advance(&E.fclock, E.cfg.start_deadline_ms + 1);
    ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_int_eq(s.state, STORE_STATE_FAILED);
    ck_assert_str_eq(s.state_reason, start_failures[_i].reason);
    store_session_cleanup(&s);
    st_wait_gone(id, 10000);
}
END_TEST

START_TEST(stop_during_pending_start)
{
    struct ty_error err = TY_ERROR_INIT;
    char id[33];

    /* Pods take 3 s to start: stop while pending. */
    ck_assert_ok(st_launch(id, "bob", "web", &err), &err);
    ck_assert_int_eq(st_state(id), STORE_STATE_PENDING);
    ck_assert_ok(session_stop(E.svc, id, "bob", "user", &err), &err);
    st_wait_state(id, STORE_STATE_STOPPED, true, 10000);
    ck_assert_int_eq(st_count_objects(id), 0);
    ck_assert(!st_has_event(id, STORE_STATE_RUNNING, NULL));
}
END_TEST

struct launcher {
    char id[33];
    int rc;
    struct ty_error err;
};

static void *launch_thread(void *arg)
{
    struct launcher *l = arg;
    struct session_launch_req req;
    memset(&req, 0, sizeof(req));
    req.username = "carol";
    req.app_id = "multi";
    req.gpu = -1;
    req.id = l->id;
    req.access_token = "a-token-for-the-secret"; /* one more object to create */
    l->rc = session_launch(NULL, E.svc, &req, &l->err);
    return NULL;
}

START_TEST(stop_wins_over_launch_in_progress)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_faults f;
    struct launcher l;
    pthread_t t;
    int64_t end = ty_time_mono_ms() + 10000;

    memset(&l, 0, sizeof(l));
    strcpy(l.id, "abcdefabcdefabcdefabcdefabcdef01");
    /* Every API answer takes 200 ms, so the launch spends most of a second
     * creating its four or more objects; the stop comes 300 ms into it, after
     * the Deployment and before the last object. */
    memset(&f, 0, sizeof(f));
    f.latency_ms = 200;
    kubesim_set_faults(E.sim, &f);
    ck_assert_int_eq(pthread_create(&t, NULL, launch_thread, &l), 0);
    for (;;) {
        struct store_session s;
        if (session_get(&s, E.svc, l.id, NULL) == 0) {
            bool creating = s.state == STORE_STATE_CREATING;
            store_session_cleanup(&s);
            if (creating)
                break;
        }
        ck_assert_msg(ty_time_mono_ms() < end, "the launch never reached creating");
        usleep(5000);
    }
    usleep(300000);
    ck_assert_ok(session_stop(E.svc, l.id, "carol", "user", &err), &err);
    pthread_join(t, NULL);
    ck_assert_fails_with(l.rc, &l.err, TY_ECONFLICT, "stopped during its launch");
    kubesim_set_faults(E.sim, NULL);
    st_wait_state(l.id, STORE_STATE_STOPPED, true, 10000);
    st_wait_gone(l.id, 5000);
    ck_assert(!st_has_event(l.id, STORE_STATE_PENDING, NULL));
}
END_TEST

START_TEST(lost_when_objects_vanish)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33];

    ck_assert_ok(st_launch(id, "dave", "web", &err), &err);
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    /* Someone deletes the Deployment behind tycho's back. */
    ck_assert_ok(kube_delete(E.kube, KUBE_DEPLOYMENT, NULL, s.system_name,
                             KUBE_PROPAGATION_BACKGROUND, &err),
                 &err);
    store_session_cleanup(&s);
    st_wait_state(id, STORE_STATE_LOST, true, 10000);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_str_eq(s.state_reason, "ObjectsMissing");
    store_session_cleanup(&s);
    /* The rest (Service, Secret, NetworkPolicy...) goes too. */
    st_wait_gone(id, 10000);
}
END_TEST

/* Launches on a second service (its own database) so the objects are orphans
 * for the first one. */
static void make_orphan(char *id_out)
{
    struct session_service *first = E.svc;
    struct ty_error err = TY_ERROR_INIT;
    char *db2 = ty_path_join(E.dir, "other.db");
    struct session_config c = E.cfg;

    c.store_path = db2;
    ck_assert_ok(session_service_new(&E.svc, &c, &err), &err);
    ck_assert_ok(st_launch(id_out, "olga", "web", &err), &err);
    session_service_free(E.svc);
    E.svc = first;
    free(db2);
}

START_TEST(orphans_adopted)
{
    struct ty_error err = TY_ERROR_INIT;
    struct session_reconcile_stats stats;
    struct store_session s;
    char id[33];

    make_orphan(id);
    ck_assert_ok(session_reconcile_once(&stats, E.svc, true, &err), &err);
    ck_assert_int_eq(stats.orphans_seen, 1);
    ck_assert_int_eq(stats.adopted, 1);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_str_eq(s.username, "olga");
    ck_assert_str_eq(s.app_id, "web");
    store_session_cleanup(&s);
    ck_assert(st_has_event(id, STORE_STATE_PENDING, "adopted"));
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    /* Once adopted it is a session like any other. */
    ck_assert_ok(session_stop(E.svc, id, "admin", NULL, &err), &err);
    st_wait_state(id, STORE_STATE_STOPPED, true, 10000);
    ck_assert_int_eq(st_count_objects(id), 0);
}
END_TEST

START_TEST(orphans_deleted)
{
    struct ty_error err = TY_ERROR_INIT;
    struct session_reconcile_stats stats;
    struct store_session s;
    char id[33];

    session_service_free(E.svc);
    E.cfg.orphan_policy = SESSION_ORPHAN_DELETE;
    st_service_open();
    make_orphan(id);
    ck_assert_int_gt(st_count_objects(id), 0);
    ck_assert_ok(session_reconcile_once(&stats, E.svc, false, &err), &err);
    ck_assert_int_eq(stats.orphans_seen, 1);
    ck_assert_int_eq(stats.orphans_deleted, 1);
    ck_assert_fails_with(session_get(&s, E.svc, id, &err), &err, TY_ENOTFOUND, "");
    st_wait_gone(id, 10000);
}
END_TEST

START_TEST(orphans_ignored)
{
    struct ty_error err = TY_ERROR_INIT;
    struct session_reconcile_stats stats;
    char id[33];

    session_service_free(E.svc);
    E.cfg.orphan_policy = SESSION_ORPHAN_IGNORE;
    st_service_open();
    make_orphan(id);
    size_t services = st_count_kind(id, KUBE_SERVICE);
    ck_assert_ok(session_reconcile_once(&stats, E.svc, false, &err), &err);
    ck_assert_int_eq(stats.orphans_seen, 1);
    ck_assert_int_eq(stats.adopted + stats.orphans_deleted, 0);
    ck_assert_int_eq(st_count_kind(id, KUBE_DEPLOYMENT), 1);
    ck_assert_int_eq(st_count_kind(id, KUBE_SERVICE), services);
    ck_assert_fails_with(session_get(&(struct store_session){0}, E.svc, id, &err), &err,
                         TY_ENOTFOUND, "");
}
END_TEST

/* A row left in creating by a crash: the deadline (fake clock) or a start-up
 * pass finishes it as failed, with its objects removed. */
START_TEST(interrupted_launch_finished)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    struct store_session row, s;
    int64_t now = ty_clock_now(&E.clock);
    char a[] = "0000000000000000000000000000000a";
    char b[] = "0000000000000000000000000000000b";

    ck_assert_ok(store_open(&st, E.db, NULL, &err), &err);
    for (int i = 0; i < 2; i++) {
        store_session_init(&row);
        row.id = i ? b : a;
        row.username = "zed";
        row.app_id = "web";
        row.system_name = i ? "web-b" : "web-a";
        row.state = STORE_STATE_CREATING;
        row.state_deadline_at = now + E.cfg.creating_deadline_ms;
        row.created_at = now;
        ck_assert_ok(store_session_insert(st, &row, NULL, "test", &err), &err);
    }
    store_close(st);

    ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
    ck_assert_int_eq(st_state(a), STORE_STATE_CREATING);
    fake_advance(&E.fclock, E.cfg.creating_deadline_ms + 1);
    ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
    ck_assert_int_eq(st_state(a), STORE_STATE_FAILED);
    ck_assert_ok(session_get(&s, E.svc, a, &err), &err);
    ck_assert_str_eq(s.state_reason, "LaunchInterrupted");
    store_session_cleanup(&s);
}
END_TEST

START_TEST(startup_pass_fails_interrupted_launches)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    struct store_session row;
    char a[] = "0000000000000000000000000000000c";

    ck_assert_ok(store_open(&st, E.db, NULL, &err), &err);
    store_session_init(&row);
    row.id = a;
    row.username = "zed";
    row.app_id = "web";
    row.state = STORE_STATE_REQUESTED;
    row.state_deadline_at = ty_clock_now(&E.clock) + 60000;
    row.created_at = ty_clock_now(&E.clock);
    ck_assert_ok(store_session_insert(st, &row, NULL, "test", &err), &err);
    store_close(st);
    ck_assert_ok(session_reconcile_once(NULL, E.svc, true, &err), &err);
    ck_assert_int_eq(st_state(a), STORE_STATE_FAILED);
}
END_TEST

START_TEST(running_deadline_moves_forward)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    char id[33];
    int64_t d1;

    ck_assert_ok(st_launch(id, "ivan", "web", &err), &err);
    st_wait_state(id, STORE_STATE_RUNNING, true, 10000);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    d1 = s.state_deadline_at;
    store_session_cleanup(&s);
    fake_advance(&E.fclock, E.cfg.running_check_ms + 1);
    ck_assert_ok(session_reconcile_once(NULL, E.svc, false, &err), &err);
    ck_assert_ok(session_get(&s, E.svc, id, &err), &err);
    ck_assert_int_eq(s.state, STORE_STATE_RUNNING);
    ck_assert(s.state_deadline_at > d1);
    store_session_cleanup(&s);
}
END_TEST

/* The reconciler thread alone drives sessions, through a 410 on the watch and
 * a spell of injected 500s. */
START_TEST(reconciler_thread_survives_gone_and_faults)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_faults f;
    struct session_reconcile_stats stats;
    char a[33], b[33];

    memset(&f, 0, sizeof(f));
    f.gone_next_watch = true;
    kubesim_set_faults(E.sim, &f);
    ck_assert_ok(session_reconciler_start(E.svc, &err), &err);
    ck_assert_fails_with(session_reconciler_start(E.svc, &err), &err, TY_ECONFLICT, "already");
    ck_assert_ok(st_launch(a, "judy", "web", &err), &err);
    st_wait_state(a, STORE_STATE_RUNNING, false, 10000);

    memset(&f, 0, sizeof(f));
    f.error_rate = 0.3;
    f.error_status = 500;
    kubesim_set_faults(E.sim, &f);
    usleep(300000);
    /* Operations may fail under faults; the reconciler must still finish them. */
    int rc = session_stop(E.svc, a, "judy", NULL, &err);
    ck_assert_msg(rc == 0 || rc == TY_EUPSTREAM, "stop: %s", err.msg);
    rc = st_launch(b, "judy", "web", &err);
    kubesim_set_faults(E.sim, NULL);
    st_wait_state(a, STORE_STATE_STOPPED, false, 15000);
    if (rc == 0)
        st_wait_state(b, STORE_STATE_RUNNING, false, 15000);
    session_reconciler_stats(&stats, E.svc);
    ck_assert_int_ge(stats.watch_restarts, 1);
    ck_assert_int_ge(stats.relists, 2);
    session_reconciler_stop(E.svc);
    session_reconciler_stop(E.svc); /* idempotent */
    ck_assert_int_eq(st_count_objects(a), 0);
}
END_TEST

/* A watch that gets nothing (not even its server-side timeout) for longer
 * than watch_stall_ms is restarted.  The stall is made by delaying every new
 * request by more than the stall time once the watches are up. */
START_TEST(stalled_watch_restarted)
{
    struct ty_error err = TY_ERROR_INIT;
    struct kubesim_faults f;
    struct session_reconcile_stats stats;

    session_service_free(E.svc);
    E.cfg.watch_stall_ms = 1000;
    E.cfg.resync_ms = 600000;
    st_service_open();
    ck_assert_ok(session_reconciler_start(E.svc, &err), &err);
    usleep(500000);
    memset(&f, 0, sizeof(f));
    f.latency_ms = 2500;
    kubesim_set_faults(E.sim, &f);
    usleep(3500000);
    session_reconciler_stats(&stats, E.svc);
    kubesim_set_faults(E.sim, NULL);
    session_reconciler_stop(E.svc);
    ck_assert_int_ge(stats.watch_restarts, 1);
}
END_TEST

static void setup_slow(void)
{
    st_cluster_start(10, 3000, 30);
    st_service_open();
}

int main(void)
{
    Suite *s = suite_create("session.reconcile");
    TCase *tc = tcase_create("reconcile");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, st_setup_default, st_teardown);
    tcase_add_test(tc, failing_image_fails_with_reason);
    tcase_add_loop_test(tc, start_failure_reasons, 0,
                        (int)(sizeof(start_failures) / sizeof(start_failures[0])));
    tcase_add_test(tc, stop_wins_over_launch_in_progress);
    tcase_add_test(tc, lost_when_objects_vanish);
    tcase_add_test(tc, orphans_adopted);
    tcase_add_test(tc, orphans_deleted);
    tcase_add_test(tc, orphans_ignored);
    tcase_add_test(tc, interrupted_launch_finished);
    tcase_add_test(tc, startup_pass_fails_interrupted_launches);
    tcase_add_test(tc, running_deadline_moves_forward);
    tcase_add_test(tc, reconciler_thread_survives_gone_and_faults);
    tcase_add_test(tc, stalled_watch_restarted);
    suite_add_tcase(s, tc);
    TCase *slow = tcase_create("slow-start");
    tcase_set_timeout(slow, 60);
    tcase_add_checked_fixture(slow, setup_slow, st_teardown);
    tcase_add_test(slow, stop_during_pending_start);
    suite_add_tcase(s, slow);
    return ty_run_suite(s);
}
