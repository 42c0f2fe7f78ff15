/*
 * test_session.c - session rows: insert and read, every state transition
 * (allowed and refused) with its event row, "stop wins over a pending start",
 * field updates, activity, labels, the lists the loops use, limits, tokens
 * and batching transactions.
 */
#include "store_test.h"

static struct store *st;
static struct ty_error err;

static void setup(void)
{
    ty_error_clear(&err);
    st = test_open_memory();
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
}

static size_t event_count(const char *id)
{
    struct store_event *ev = NULL;
    size_t n = 0;
    ck_assert_ok(store_events_list(st, id, &ev, &n, &err), &err);
    store_events_free(ev, n);
    return n;
}

START_TEST(insert_and_get_round_trip)
{
    struct store_session s, got;
    struct store_label labels[2] = {{"team", "bio"}, {"course", "101"}};

    test_session(&s, "0123456789abcdef0123456789abcdef", "alice", "jupyter-ds", T0);
    s.app_name = "Jupyter Data Science";
    s.context = "helx";
    s.registry_commit = "abc123";
    s.system_name = "jupyter-ds-0123";
    s.namespace = "default";
    s.state_reason = "launch";
    s.state_message = "launch requested";
    s.cpu_millis = 1500;
    s.memory_bytes = 2LL << 30;
    s.gpus = 1;
    s.ephemeral_bytes = 1LL << 30;
    s.spec_hash = "deadbeef";
    s.objects_json = "{\"kind\":\"List\",\"items\":[]}";
    s.labels = labels;
    s.n_labels = 2;
    ck_assert_ok(store_session_insert(st, &s, NULL, "user", &err), &err);

    ck_assert_ok(store_session_get(st, s.id, &got, &err), &err);
    ck_assert_str_eq(got.id, s.id);
    ck_assert_str_eq(got.username, "alice");
    ck_assert_str_eq(got.app_id, "jupyter-ds");
    ck_assert_str_eq(got.app_name, "Jupyter Data Science");
    ck_assert_str_eq(got.context, "helx");
    ck_assert_str_eq(got.registry_commit, "abc123");
    ck_assert_str_eq(got.system_name, "jupyter-ds-0123");
    ck_assert_str_eq(got.namespace, "default");
    ck_assert_int_eq(got.state, STORE_STATE_REQUESTED);
    ck_assert_str_eq(got.state_reason, "launch");
    ck_assert_str_eq(got.state_message, "launch requested");
    ck_assert_int_eq(got.state_deadline_at, T0 + 60000);
    ck_assert_int_eq(got.cpu_millis, 1500);
    ck_assert_int_eq(got.memory_bytes, 2LL << 30);
    ck_assert_int_eq(got.gpus, 1);
    ck_assert_int_eq(got.ephemeral_bytes, 1LL << 30);
    ck_assert_ptr_null(got.url);
    ck_assert_int_eq(got.created_at, T0);
    ck_assert_int_eq(got.updated_at, T0);
    ck_assert_int_eq(got.ready_at, 0);
    ck_assert_int_eq(got.stopped_at, 0);
    ck_assert_ptr_null(got.stopped_by);
    ck_assert_str_eq(got.spec_hash, "deadbeef");
    ck_assert_str_eq(got.objects_json, "{\"kind\":\"List\",\"items\":[]}");
    ck_assert_uint_eq(got.n_labels, 2);
    ck_assert_str_eq(got.labels[0].key, "course"); /* sorted by key */
    ck_assert_str_eq(got.labels[1].value, "bio");
    store_session_cleanup(&got);
    ck_assert_ptr_null(got.id);

    /* The creation is the first event. */
    struct store_event *ev = NULL;
    size_t n = 0;
    ck_assert_ok(store_events_list(st, s.id, &ev, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    ck_assert(!ev[0].has_from);
    ck_assert_int_eq(ev[0].to, STORE_STATE_REQUESTED);
    ck_assert_str_eq(ev[0].actor, "user");
    ck_assert_int_eq(ev[0].at, T0);
    store_events_free(ev, n);
}
END_TEST

START_TEST(insert_is_validated)
{
    struct store_session s;
    struct store_label bad = {"", "v"};

    test_insert(st, "dup", "alice", "app", T0);
    test_session(&s, "dup", "alice", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EEXISTS,
                         "already exists");
    test_session(&s, "bad id!", "alice", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL,
                         "bad id!");
    test_session(&s, "x1", "", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL,
                         "username");
    test_session(&s, "x1", "alice", NULL, T0);
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL, "app_id");
    test_session(&s, "x1", "alice", "app", T0);
    s.state = STORE_STATE_STOPPED;
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL,
                         "live state");
    test_session(&s, "x1", "alice", "app", T0);
    s.state_deadline_at = 0;
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL,
                         "deadline");
    test_session(&s, "x1", "alice", "app", T0);
    s.cpu_millis = -1;
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL,
                         "negative");
    test_session(&s, "x1", "alice", "app", T0);
    s.labels = &bad;
    s.n_labels = 1;
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EINVAL,
                         "label key");
    /* Nothing of the refused inserts was written. */
    struct store_session got;
    ck_assert_fails_with(store_session_get(st, "x1", &got, &err), &err, TY_ENOTFOUND, "x1");
}
END_TEST

/* The state machine the store must enforce, written out independently of the
 * table in store.c: expected[from][to]. */
static const int expected[STORE_STATE__COUNT][STORE_STATE__COUNT] = {
    /*              req cre pen run sto sed fai los */
    /* requested */ {1, 1, 0, 0, 1, 1, 1, 0},
    /* creating  */ {0, 1, 1, 1, 1, 0, 1, 1},
    /* pending   */ {0, 0, 1, 1, 1, 0, 1, 1},
    /* running   */ {0, 0, 1, 1, 1, 0, 1, 1},
    /* stopping  */ {0, 0, 0, 0, 1, 1, 1, 1},
    /* stopped   */ {0, 0, 0, 0, 0, 0, 0, 0},
    /* failed    */ {0, 0, 0, 0, 0, 0, 0, 0},
    /* lost      */ {0, 0, 1, 1, 1, 1, 0, 0},
};

/* Brings a new session `id` into state s through allowed moves. */
static void reach(const char *id, enum store_state s)
{
    test_insert(st, id, "bob", "app", T0);
    switch (s) {
    case STORE_STATE_REQUESTED:
        break;
    case STORE_STATE_CREATING:
    case STORE_STATE_LOST:
        test_move(st, id, STORE_STATE_CREATING, T0 + 1);
        if (s == STORE_STATE_LOST)
            test_move(st, id, STORE_STATE_LOST, T0 + 2);
        break;
    case STORE_STATE_PENDING:
    case STORE_STATE_RUNNING:
        test_move(st, id, STORE_STATE_CREATING, T0 + 1);
        test_move(st, id, s, T0 + 2);
        break;
    case STORE_STATE_STOPPING:
    case STORE_STATE_STOPPED:
    case STORE_STATE_FAILED:
        test_move(st, id, s, T0 + 1);
        break;
    default:
        ck_abort();
    }
}

START_TEST(every_transition_allowed_or_refused)
{
    char id[32];
    int k = 0;

    for (int from = 0; from < STORE_STATE__COUNT; from++) {
        for (int to = 0; to < STORE_STATE__COUNT; to++) {
            struct store_session got;
            enum store_state prev;
            size_t before;
            int rc;

            snprintf(id, sizeof(id), "t%d", k++);
            reach(id, (enum store_state)from);
            before = event_count(id);
            ck_assert_int_eq(store_state_can_transition(from, to), expected[from][to]);
            rc = store_session_transition(st, id, STORE_STATES_ANY, to, "why", "msg", "admin",
                                          T0 + HOUR, T0 + 10, &prev, &err);
            ck_assert_int_eq(prev, from);
            ck_assert_ok(store_session_get(st, id, &got, &err), &err);
            if (expected[from][to]) {
                ck_assert_msg(rc == 0, "%s -> %s: %s", store_state_name(from), store_state_name(to),
                              err.msg);
                ck_assert_int_eq(got.state, to);
                ck_assert_str_eq(got.state_reason, "why");
                ck_assert_int_eq(got.updated_at, T0 + 10);
                ck_assert_int_eq(got.state_deadline_at, store_state_is_final(to) ? 0 : T0 + HOUR);
                ck_assert_uint_eq(event_count(id), before + 1);
            } else {
                ck_assert_msg(rc == TY_ECONFLICT, "%s -> %s should be refused, got %d",
                              store_state_name(from), store_state_name(to), rc);
                ck_assert_msg(strstr(err.msg, "not allowed"), "%s", err.msg);
                ck_assert_int_eq(got.state, from);
                ck_assert_uint_eq(event_count(id), before);
            }
            store_session_cleanup(&got);
        }
    }
    /* The trigger-kept counts agree with the rows after all those moves (the
     * rows are counted one by one: a state-only list total reads the counts). */
    int64_t counts[STORE_STATE__COUNT], rows[STORE_STATE__COUNT] = {0};
    struct store_query q = {0};
    struct store_page p;
    q.limit = STORE_LIST_MAX;
    ck_assert_ok(store_session_list(st, &q, &p, &err), &err);
    ck_assert_uint_eq(p.n, STORE_STATE__COUNT * STORE_STATE__COUNT);
    ck_assert_int_eq(p.total, (int64_t)p.n);
    for (size_t i = 0; i < p.n; i++)
        rows[p.items[i].state]++;
    store_page_cleanup(&p);
    ck_assert_ok(store_stats_by_state(st, counts, &err), &err);
    for (int s = 0; s < STORE_STATE__COUNT; s++)
        ck_assert_msg(rows[s] == counts[s], "%s: %lld rows, count %lld",
                      store_state_name((enum store_state)s), (long long)rows[s],
                      (long long)counts[s]);
}
END_TEST

START_TEST(transition_records_event_and_times)
{
    struct store_session got;
    struct store_event *ev = NULL;
    size_t n = 0;

    test_insert(st, "s1", "alice", "app", T0);
    test_move(st, "s1", STORE_STATE_CREATING, T0 + 100);
    test_move(st, "s1", STORE_STATE_PENDING, T0 + 200);
    test_move(st, "s1", STORE_STATE_RUNNING, T0 + 300);
    ck_assert_ok(store_session_transition(st, "s1", STORE_STATES_LIVE, STORE_STATE_STOPPING, "idle",
                                          "idle for 2h", "culler", T0 + 1000, T0 + 400, NULL, &err),
                 &err);
    ck_assert_ok(store_session_transition(st, "s1", STORE_STATE_BIT(STORE_STATE_STOPPING),
                                          STORE_STATE_STOPPED, "deleted", NULL, "system", 0,
                                          T0 + 500, NULL, &err),
                 &err);
    ck_assert_ok(store_session_get(st, "s1", &got, &err), &err);
    ck_assert_int_eq(got.state, STORE_STATE_STOPPED);
    ck_assert_int_eq(got.ready_at, T0 + 300);
    ck_assert_int_eq(got.stopped_at, T0 + 500);
    ck_assert_int_eq(got.state_deadline_at, 0);
    /* The first stopper is who stopped it. */
    ck_assert_str_eq(got.stopped_by, "culler");
    ck_assert_str_eq(got.stop_reason, "idle");
    store_session_cleanup(&got);

    ck_assert_ok(store_events_list(st, "s1", &ev, &n, &err), &err);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(ev[4].from, STORE_STATE_RUNNING);
    ck_assert_int_eq(ev[4].to, STORE_STATE_STOPPING);
    ck_assert_str_eq(ev[4].reason, "idle");
    ck_assert_str_eq(ev[4].message, "idle for 2h");
    ck_assert_str_eq(ev[4].actor, "culler");
    ck_assert_int_eq(ev[4].at, T0 + 400);
    ck_assert_int_eq(ev[5].to, STORE_STATE_STOPPED);
    for (size_t i = 1; i < n; i++)
        ck_assert_int_gt(ev[i].id, ev[i - 1].id);
    store_events_free(ev, n);
}
END_TEST

START_TEST(stop_wins_over_pending_start)
{
    struct store_session got;
    enum store_state prev;

    test_insert(st, "race", "alice", "app", T0);
    test_move(st, "race", STORE_STATE_CREATING, T0 + 1);
    /* The user's stop arrives while the launcher is still creating objects. */
    ck_assert_ok(store_session_transition(st, "race", STORE_STATES_LIVE, STORE_STATE_STOPPING,
                                          "user", NULL, "user", T0 + 60000, T0 + 2, NULL, &err),
                 &err);
    /* The launcher finishes and tries to record its progress: it loses. */
    ck_assert_fails_with(store_session_transition(st, "race", STORE_STATE_BIT(STORE_STATE_CREATING),
                                                  STORE_STATE_PENDING, "created", NULL, "system",
                                                  T0 + 60000, T0 + 3, &prev, &err),
                         &err, TY_ECONFLICT, "is stopping, not creating");
    ck_assert_int_eq(prev, STORE_STATE_STOPPING);
    ck_assert_ok(store_session_get(st, "race", &got, &err), &err);
    ck_assert_int_eq(got.state, STORE_STATE_STOPPING);
    ck_assert_str_eq(got.stopped_by, "user");
    store_session_cleanup(&got);
}
END_TEST

START_TEST(transition_errors)
{
    test_insert(st, "s1", "alice", "app", T0);
    ck_assert_fails_with(store_session_transition(st, "none", STORE_STATES_ANY,
                                                  STORE_STATE_CREATING, NULL, NULL, NULL, T0 + 5,
                                                  T0, NULL, &err),
                         &err, TY_ENOTFOUND, "none");
    /* Never a live state without a deadline. */
    ck_assert_fails_with(store_session_transition(st, "s1", STORE_STATES_ANY, STORE_STATE_CREATING,
                                                  NULL, NULL, NULL, 0, T0, NULL, &err),
                         &err, TY_EINVAL, "deadline");
    ck_assert_fails_with(store_session_transition(st, "s1", STORE_STATES_ANY, (enum store_state)42,
                                                  NULL, NULL, NULL, 1, T0, NULL, &err),
                         &err, TY_EINVAL, "state");
    ck_assert_fails_with(store_session_transition(st, "s1", STORE_STATE_BIT(STORE_STATE_RUNNING),
                                                  STORE_STATE_STOPPING, NULL, NULL, NULL, 1, T0,
                                                  NULL, &err),
                         &err, TY_ECONFLICT, "is requested, not running");
}
END_TEST

START_TEST(states_parse_and_name)
{
    enum store_state s;
    for (int i = 0; i < STORE_STATE__COUNT; i++) {
        ck_assert_ok(store_state_parse(&s, store_state_name((enum store_state)i), &err), &err);
        ck_assert_int_eq(s, i);
    }
    ck_assert_fails_with(store_state_parse(&s, "runing", &err), &err, TY_EINVAL, "'runing'");
    ck_assert_str_eq(store_state_name((enum store_state)99), "?");
    ck_assert(store_state_is_final(STORE_STATE_LOST));
    ck_assert(!store_state_is_final(STORE_STATE_STOPPING));
}
END_TEST

START_TEST(update_fields_and_modify_event)
{
    struct store_session_update u = STORE_SESSION_UPDATE_INIT;
    struct store_session got;
    struct store_event *ev = NULL;
    size_t n;

    test_insert(st, "s1", "alice", "app", T0);
    test_move(st, "s1", STORE_STATE_CREATING, T0 + 1);
    test_move(st, "s1", STORE_STATE_RUNNING, T0 + 2);
    u.url = "https://x/private/app/alice/s1/";
    u.cpu_millis = 4000;
    u.memory_bytes = 8LL << 30;
    u.state_deadline_at = T0 + 2 * HOUR;
    u.event_reason = "modified";
    u.event_message = "cpu 4000m memory 8Gi";
    u.actor = "admin";
    ck_assert_ok(store_session_update_fields(st, "s1", &u, T0 + 50, &err), &err);
    ck_assert_ok(store_session_get(st, "s1", &got, &err), &err);
    ck_assert_str_eq(got.url, "https://x/private/app/alice/s1/");
    ck_assert_int_eq(got.cpu_millis, 4000);
    ck_assert_int_eq(got.memory_bytes, 8LL << 30);
    ck_assert_int_eq(got.gpus, 0); /* untouched */
    ck_assert_int_eq(got.state_deadline_at, T0 + 2 * HOUR);
    ck_assert_int_eq(got.updated_at, T0 + 50);
    ck_assert_int_eq(got.ready_at, T0 + 2);
    store_session_cleanup(&got);
    ck_assert_ok(store_events_list(st, "s1", &ev, &n, &err), &err);
    ck_assert_int_eq(ev[n - 1].from, STORE_STATE_RUNNING);
    ck_assert_int_eq(ev[n - 1].to, STORE_STATE_RUNNING);
    ck_assert_str_eq(ev[n - 1].reason, "modified");
    store_events_free(ev, n);

    /* Without event_reason no event is written. */
    struct store_session_update u2 = STORE_SESSION_UPDATE_INIT;
    size_t before = event_count("s1");
    u2.gpus = 2;
    ck_assert_ok(store_session_update_fields(st, "s1", &u2, T0 + 60, &err), &err);
    ck_assert_uint_eq(event_count("s1"), before);

    ck_assert_fails_with(store_session_update_fields(st, "zz", &u2, T0, &err), &err, TY_ENOTFOUND,
                         "zz");
    u2.gpus = -5;
    ck_assert_fails_with(store_session_update_fields(st, "s1", &u2, T0, &err), &err, TY_EINVAL,
                         "negative");
    /* A final session has no deadline to extend. */
    struct store_session_update u3 = STORE_SESSION_UPDATE_INIT;
    test_move(st, "s1", STORE_STATE_STOPPING, T0 + 70);
    test_move(st, "s1", STORE_STATE_STOPPED, T0 + 80);
    u3.state_deadline_at = T0 + 5 * HOUR;
    ck_assert_fails_with(store_session_update_fields(st, "s1", &u3, T0, &err), &err, TY_EINVAL,
                         "final");
}
END_TEST

START_TEST(activity_never_moves_backwards)
{
    struct store_session got;

    test_insert(st, "s1", "alice", "app", T0);
    ck_assert_ok(store_session_touch_activity(st, "s1", T0 + 500, &err), &err);
    ck_assert_ok(store_session_touch_activity(st, "s1", T0 + 100, &err), &err);
    ck_assert_ok(store_session_get(st, "s1", &got, &err), &err);
    ck_assert_int_eq(got.last_activity_at, T0 + 500);
    store_session_cleanup(&got);
    ck_assert_ok(store_session_touch_activity(st, "s1", T0 + 900, &err), &err);
    ck_assert_ok(store_session_get(st, "s1", &got, &err), &err);
    ck_assert_int_eq(got.last_activity_at, T0 + 900);
    store_session_cleanup(&got);
    ck_assert_fails_with(store_session_touch_activity(st, "nope", T0, &err), &err, TY_ENOTFOUND,
                         "nope");
}
END_TEST

START_TEST(labels_set_replace_delete)
{
    struct store_label *l = NULL;
    size_t n = 0;
    char big[1100];

    test_insert(st, "s1", "alice", "app", T0);
    ck_assert_ok(store_session_label_set(st, "s1", "b", "1", NULL, T0, &err), &err);
    ck_assert_ok(store_session_label_set(st, "s1", "a", "2", "admin", T0, &err), &err);
    ck_assert_ok(store_session_label_set(st, "s1", "b", "3", NULL, T0, &err), &err);
    ck_assert_ok(store_session_labels_get(st, "s1", &l, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(l[0].key, "a");
    ck_assert_str_eq(l[1].value, "3");
    store_labels_free(l, n);
    /* Only the call with an actor wrote an event. */
    ck_assert_uint_eq(event_count("s1"), 2);

    ck_assert_ok(store_session_label_delete(st, "s1", "a", "admin", T0, &err), &err);
    ck_assert_uint_eq(event_count("s1"), 3);
    ck_assert_fails_with(store_session_label_delete(st, "s1", "a", NULL, T0, &err), &err,
                         TY_ENOTFOUND, "'a'");
    ck_assert_fails_with(store_session_label_delete(st, "zz", "a", NULL, T0, &err), &err,
                         TY_ENOTFOUND, "zz");
    ck_assert_ok(store_session_labels_get(st, "s1", &l, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    store_labels_free(l, n);

    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_fails_with(store_session_label_set(st, "s1", "k", big, NULL, T0, &err), &err,
                         TY_EINVAL, "at most");
    ck_assert_fails_with(store_session_label_set(st, "s1", "", "v", NULL, T0, &err), &err,
                         TY_EINVAL, "key");

    ck_assert_ok(store_session_labels_get(st, "zz", &l, &n, &err), &err);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(l);
}
END_TEST

START_TEST(events_of_missing_session)
{
    struct store_event *ev = NULL;
    size_t n = 7;
    ck_assert_fails_with(store_events_list(st, "zz", &ev, &n, &err), &err, TY_ENOTFOUND, "zz");
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(due_live_idle_and_counts)
{
    struct store_session *v = NULL;
    size_t n = 0;
    int64_t c;

    test_insert(st, "a", "alice", "app1", T0);      /* deadline T0+60s */
    test_insert(st, "b", "alice", "app2", T0 + 10); /* deadline T0+60.01s */
    test_insert(st, "c", "bob", "app1", T0 + 20);
    test_move(st, "c", STORE_STATE_STOPPED, T0 + 30); /* final: never due */
    ck_assert_ok(store_session_transition(st, "b", STORE_STATES_ANY, STORE_STATE_CREATING, NULL,
                                          NULL, NULL, T0 + HOUR, T0 + 40, NULL, &err),
                 &err);

    ck_assert_ok(store_sessions_due(st, T0 + 60000, 10, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].id, "a");
    store_sessions_free(v, n);
    ck_assert_ok(store_sessions_due(st, T0 + HOUR, 10, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[1].id, "b"); /* earliest deadline first */
    store_sessions_free(v, n);
    ck_assert_ok(store_sessions_due(st, T0 + HOUR, 1, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    store_sessions_free(v, n);

    ck_assert_ok(store_sessions_live(st, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].id, "a");
    store_sessions_free(v, n);

    ck_assert_ok(store_sessions_count_live(st, NULL, NULL, &c, &err), &err);
    ck_assert_int_eq(c, 2);
    ck_assert_ok(store_sessions_count_live(st, "alice", NULL, &c, &err), &err);
    ck_assert_int_eq(c, 2);
    ck_assert_ok(store_sessions_count_live(st, "alice", "app2", &c, &err), &err);
    ck_assert_int_eq(c, 1);
    ck_assert_ok(store_sessions_count_live(st, NULL, "app1", &c, &err), &err);
    ck_assert_int_eq(c, 1);
    ck_assert_ok(store_sessions_count_live(st, "bob", NULL, &c, &err), &err);
    ck_assert_int_eq(c, 0);

    /* Idle: running sessions by last activity (falling back to ready_at). */
    test_move(st, "b", STORE_STATE_RUNNING, T0 + 100); /* ready_at T0+100 */
    test_move(st, "a", STORE_STATE_CREATING, T0 + 100);
    test_move(st, "a", STORE_STATE_RUNNING, T0 + 200);
    ck_assert_ok(store_session_touch_activity(st, "a", T0 + 5000, &err), &err);
    ck_assert_ok(store_sessions_idle(st, T0 + 1000, 10, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].id, "b");
    store_sessions_free(v, n);
    ck_assert_ok(store_sessions_idle(st, T0 + 6000, 10, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    store_sessions_free(v, n);
}
END_TEST

START_TEST(limits_are_checked_atomically)
{
    struct store_limits lim = {.max_per_user = 2};
    struct store_session s;

    test_session(&s, "l1", "alice", "app", T0);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);
    test_session(&s, "l2", "alice", "other", T0);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);
    test_session(&s, "l3", "alice", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, &lim, NULL, &err), &err, TY_ELIMIT,
                         "user 'alice' already has 2");
    /* A stopped session no longer counts. */
    test_move(st, "l1", STORE_STATE_STOPPED, T0 + 1);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);

    struct store_limits per_app = {.max_per_user_app = 1};
    test_session(&s, "l4", "alice", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, &per_app, NULL, &err), &err, TY_ELIMIT,
                         "of app 'app'");
    struct store_limits app_total = {.max_per_app = 2};
    test_insert(st, "l5", "bob", "app", T0);
    test_session(&s, "l6", "carol", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, &app_total, NULL, &err), &err, TY_ELIMIT,
                         "app 'app' already has 2");
    test_session(&s, "l6", "carol", "free", T0);
    ck_assert_ok(store_session_insert(st, &s, &app_total, NULL, &err), &err);
}
END_TEST

START_TEST(batched_transaction_commit_and_rollback)
{
    struct store_session got, s;

    ck_assert_ok(store_tx_begin(st, &err), &err);
    test_insert(st, "b1", "alice", "app", T0);
    test_insert(st, "b2", "alice", "app", T0);
    store_tx_rollback(st);
    ck_assert_fails_with(store_session_get(st, "b1", &got, &err), &err, TY_ENOTFOUND, "b1");

    ck_assert_ok(store_tx_begin(st, &err), &err);
    test_insert(st, "b1", "alice", "app", T0);
    /* A failing call inside the batch undoes only itself. */
    test_session(&s, "b1", "alice", "app", T0);
    ck_assert_fails_with(store_session_insert(st, &s, NULL, NULL, &err), &err, TY_EEXISTS, "b1");
    ck_assert_fails_with(store_session_transition(st, "b1", STORE_STATE_BIT(STORE_STATE_RUNNING),
                                                  STORE_STATE_STOPPING, NULL, NULL, NULL, 1, T0,
                                                  NULL, &err),
                         &err, TY_ECONFLICT, "b1");
    test_move(st, "b1", STORE_STATE_CREATING, T0 + 1);
    ck_assert_ok(store_tx_commit(st, &err), &err);
    ck_assert_ok(store_session_get(st, "b1", &got, &err), &err);
    ck_assert_int_eq(got.state, STORE_STATE_CREATING);
    store_session_cleanup(&got);
    ck_assert_uint_eq(event_count("b1"), 2);
    ck_assert_fails_with(store_tx_commit(st, &err), &err, TY_ERR, "without a transaction");
}
END_TEST

START_TEST(tokens)
{
    struct store_token t = {0}, got, *all = NULL;
    int64_t id1 = 0, id2 = 0;
    size_t n = 0;

    t.name = "appstore";
    t.role = "platform";
    t.hash = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    t.created_at = T0;
    ck_assert_ok(store_token_insert(st, &t, &id1, &err), &err);
    ck_assert_int_gt(id1, 0);
    t.name = "alice";
    t.role = "user";
    t.username = "alice";
    t.hash = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    t.expires_at = T0 + HOUR;
    ck_assert_ok(store_token_insert(st, &t, &id2, &err), &err);
    ck_assert_fails_with(store_token_insert(st, &t, NULL, &err), &err, TY_EEXISTS, "hash");
    t.role = "root";
    ck_assert_fails_with(store_token_insert(st, &t, NULL, &err), &err, TY_EINVAL, "'root'");
    t.role = "user";
    t.username = NULL;
    t.hash = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    ck_assert_fails_with(store_token_insert(st, &t, NULL, &err), &err, TY_EINVAL, "username");

    ck_assert_ok(
        store_token_find_by_hash(
            st, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", &got, &err),
        &err);
    ck_assert_int_eq(got.id, id2);
    ck_assert_str_eq(got.role, "user");
    ck_assert_str_eq(got.username, "alice");
    ck_assert_int_eq(got.expires_at, T0 + HOUR);
    ck_assert_int_eq(got.revoked_at, 0);
    store_token_cleanup(&got);
    ck_assert_fails_with(store_token_find_by_hash(st, "dd", &got, &err), &err, TY_ENOTFOUND,
                         "token");

    ck_assert_ok(store_token_touch(st, id1, T0 + 5, &err), &err);
    ck_assert_ok(store_token_revoke(st, id2, T0 + 6, &err), &err);
    ck_assert_ok(store_token_revoke(st, id2, T0 + 9, &err), &err); /* first one wins */
    ck_assert_fails_with(store_token_revoke(st, 999, T0, &err), &err, TY_ENOTFOUND, "999");
    ck_assert_ok(store_token_list(st, &all, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(all[0].last_used_at, T0 + 5);
    ck_assert_ptr_null(all[0].username);
    ck_assert_int_eq(all[1].revoked_at, T0 + 6);
    store_tokens_free(all, n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store.session");
    TCase *tc = tcase_create("session");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, insert_and_get_round_trip);
    tcase_add_test(tc, insert_is_validated);
    tcase_add_test(tc, every_transition_allowed_or_refused);
    tcase_add_test(tc, transition_records_event_and_times);
    tcase_add_test(tc, stop_wins_over_pending_start);
    tcase_add_test(tc, transition_errors);
    tcase_add_test(tc, states_parse_and_name);
    tcase_add_test(tc, update_fields_and_modify_event);
    tcase_add_test(tc, activity_never_moves_backwards);
    tcase_add_test(tc, labels_set_replace_delete);
    tcase_add_test(tc, events_of_missing_session);
    tcase_add_test(tc, due_live_idle_and_counts);
    tcase_add_test(tc, limits_are_checked_atomically);
    tcase_add_test(tc, batched_transaction_commit_and_rollback);
    tcase_add_test(tc, tokens);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
