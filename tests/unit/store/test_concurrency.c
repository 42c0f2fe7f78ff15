/*
 * test_concurrency.c - several threads, each with its own connection to one
 * database file: writers never see SQLITE_BUSY (WAL + busy timeout), racing
 * transitions on the same sessions serialise (each one sees the other's
 * result), and the pool hands connections to more threads than it holds.
 */
#include "store_test.h"

#include <pthread.h>

#define N_WRITES 300
#define N_RACE   200

static char *dir;
static char *path;

static void setup(void)
{
    struct ty_error err = TY_ERROR_INIT;
    dir = test_tmpdir();
    path = test_path(dir, "c.db");
    ck_assert_ok(store_migrate(path, NULL, NULL, &err), &err);
}

static void teardown(void)
{
    ty_rm_rf(dir, NULL);
    free(dir);
    free(path);
}

struct worker {
    int n;
    const char *user;
    int failures;
    int conflicts;
    int wins;
    struct ty_error err;
};

static void *writer(void *arg)
{
    struct worker *w = arg;
    struct store *st = NULL;
    char id[64];

    if (store_open(&st, path, NULL, &w->err)) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < N_WRITES; i++) {
        struct store_session s;
        struct store_query q = {0};
        struct store_page p;
        snprintf(id, sizeof(id), "%s-%d", w->user, i);
        test_session(&s, id, w->user, "app", T0 + i);
        if (store_session_insert(st, &s, NULL, NULL, &w->err) ||
            store_session_transition(st, id, STORE_STATES_ANY, STORE_STATE_CREATING, NULL, NULL,
                                     NULL, T0 + HOUR, T0 + i, NULL, &w->err) ||
            store_session_label_set(st, id, "k", "v", "user", T0 + i, &w->err)) {
            w->failures++;
            continue;
        }
        /* Readers run alongside the other thread's writes. */
        q.username = w->user;
        q.limit = 5;
        if (store_session_list(st, &q, &p, &w->err))
            w->failures++;
        else
            store_page_cleanup(&p);
    }
    store_close(st);
    return NULL;
}

START_TEST(two_writers_never_busy)
{
    pthread_t t[2];
    struct worker w[2] = {{.user = "alice"}, {.user = "bob"}};
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    int64_t n;

    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(w[i].failures == 0, "%s: %d failures, last: %s", w[i].user, w[i].failures,
                      w[i].err.msg);
    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_ok(store_sessions_count_live(st, NULL, NULL, &n, &err), &err);
    ck_assert_int_eq(n, 2 * N_WRITES);
    store_close(st);
}
END_TEST

/* The launcher: creating -> pending, only from creating. */
static void *launcher(void *arg)
{
    struct worker *w = arg;
    struct store *st = NULL;
    char id[32];

    if (store_open(&st, path, NULL, &w->err)) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < N_RACE; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        int rc = store_session_transition(st, id, STORE_STATE_BIT(STORE_STATE_CREATING),
                                          STORE_STATE_PENDING, "created", NULL, "system", T0 + HOUR,
                                          T0 + 1, NULL, &w->err);
        if (rc == 0)
            w->wins++;
        else if (rc == TY_ECONFLICT)
            w->conflicts++;
        else
            w->failures++;
    }
    store_close(st);
    return NULL;
}

/* The stopper: any start -> stopping. */
static void *stopper(void *arg)
{
    struct worker *w = arg;
    struct store *st = NULL;
    char id[32];

    if (store_open(&st, path, NULL, &w->err)) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < N_RACE; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        int rc = store_session_transition(
            st, id, STORE_STATE_BIT(STORE_STATE_CREATING) | STORE_STATE_BIT(STORE_STATE_PENDING),
            STORE_STATE_STOPPING, "user", NULL, "user", T0 + HOUR, T0 + 2, NULL, &w->err);
        if (rc == 0)
            w->wins++;
        else
            w->failures++;
    }
    store_close(st);
    return NULL;
}

START_TEST(racing_transitions_serialise)
{
    struct ty_error err = TY_ERROR_INIT;
    struct worker wl = {0}, ws = {0};
    struct store *st = NULL;
    pthread_t tl, ts;
    char id[32];
    int launched_first = 0;

    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_ok(store_tx_begin(st, &err), &err);
    for (int i = 0; i < N_RACE; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        test_insert(st, id, "alice", "app", T0);
        test_move(st, id, STORE_STATE_CREATING, T0);
    }
    ck_assert_ok(store_tx_commit(st, &err), &err);

    ck_assert_int_eq(pthread_create(&tl, NULL, launcher, &wl), 0);
    ck_assert_int_eq(pthread_create(&ts, NULL, stopper, &ws), 0);
    pthread_join(tl, NULL);
    pthread_join(ts, NULL);
    ck_assert_msg(wl.failures == 0 && ws.failures == 0, "%s / %s", wl.err.msg, ws.err.msg);
    /* The stop always wins; the launcher won only where it came first. */
    ck_assert_int_eq(ws.wins, N_RACE);
    ck_assert_int_eq(wl.wins + wl.conflicts, N_RACE);
    for (int i = 0; i < N_RACE; i++) {
        struct store_session s;
        struct store_event *ev = NULL;
        size_t n = 0;
        snprintf(id, sizeof(id), "r%d", i);
        ck_assert_ok(store_session_get(st, id, &s, &err), &err);
        ck_assert_int_eq(s.state, STORE_STATE_STOPPING);
        store_session_cleanup(&s);
        ck_assert_ok(store_events_list(st, id, &ev, &n, &err), &err);
        /* created, creating, [pending], stopping: the log matches the row. */
        ck_assert_int_eq(ev[n - 1].to, STORE_STATE_STOPPING);
        if (n == 4) {
            ck_assert_int_eq(ev[2].to, STORE_STATE_PENDING);
            launched_first++;
        } else {
            ck_assert_uint_eq(n, 3);
            ck_assert_int_eq(ev[2].from, STORE_STATE_CREATING);
        }
        store_events_free(ev, n);
    }
    ck_assert_int_eq(launched_first, wl.wins);
    store_close(st);
}
END_TEST

struct pool_worker {
    struct store_pool *pool;
    int k;
    int failures;
    struct ty_error err;
};

static void *pool_user(void *arg)
{
    struct pool_worker *w = arg;
    char id[32];

    for (int i = 0; i < 50; i++) {
        struct store *st = NULL;
        if (store_pool_get(w->pool, &st, &w->err)) {
            w->failures++;
            continue;
        }
        snprintf(id, sizeof(id), "p%d-%d", w->k, i);
        struct store_session s;
        test_session(&s, id, "pool", "app", T0 + i);
        if (store_session_insert(st, &s, NULL, NULL, &w->err))
            w->failures++;
        store_pool_put(w->pool, st);
    }
    return NULL;
}

START_TEST(pool_serves_more_threads_than_connections)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_pool *pool = NULL;
    struct pool_worker w[4];
    pthread_t t[4];
    struct store *st = NULL;
    int64_t n;

    ck_assert_fails_with(store_pool_new(&pool, ":memory:", NULL, 2, &err), &err, TY_EINVAL, "file");
    ck_assert_fails_with(store_pool_new(&pool, path, NULL, 0, &err), &err, TY_EINVAL, "at least 1");
    ck_assert_ok(store_pool_new(&pool, path, NULL, 2, &err), &err);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct pool_worker){.pool = pool, .k = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, pool_user, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(w[i].failures == 0, "%s", w[i].err.msg);
    ck_assert_ok(store_pool_get(pool, &st, &err), &err);
    /* A transaction left open is rolled back when the connection returns. */
    ck_assert_ok(store_tx_begin(st, &err), &err);
    test_insert(st, "orphan", "pool", "app", T0);
    store_pool_put(pool, st);
    ck_assert_ok(store_pool_get(pool, &st, &err), &err);
    ck_assert_ok(store_sessions_count_live(st, "pool", NULL, &n, &err), &err);
    ck_assert_int_eq(n, 200);
    store_pool_put(pool, st);
    store_pool_free(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store.concurrency");
    TCase *tc = tcase_create("concurrency");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, two_writers_never_busy);
    tcase_add_test(tc, racing_transitions_serialise);
    tcase_add_test(tc, pool_serves_more_threads_than_connections);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
