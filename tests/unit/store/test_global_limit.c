/*
 * test_global_limit.c - the platform-wide limit on live sessions
 * (store_limits.max_global) is checked inside the insert's transaction, so
 * launches racing from several threads (each with its own connection) or from
 * several processes on one database file never leave more live sessions than
 * the limit, and a session that ends frees its place.
 */
#include "store_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_THREADS 8
#define N_TRIES   30
#define LIMIT     25

static char *dir;
static char *path;

static void setup(void)
{
    struct ty_error err = TY_ERROR_INIT;
    dir = test_tmpdir();
    path = test_path(dir, "g.db");
    ck_assert_ok(store_migrate(path, NULL, NULL, &err), &err);
}

static void teardown(void)
{
    ty_rm_rf(dir, NULL);
    free(dir);
    free(path);
}

START_TEST(global_limit_message)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_limits lim = {.max_global = 2};
    struct store_session s;
    struct store *st = NULL;

    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    test_session(&s, "a1", "alice", "web", T0);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);
    test_session(&s, "b1", "bob", "db", T0);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);
    /* Another user and another app: only the global count is full. */
    test_session(&s, "c1", "carol", "other", T0);
    ck_assert_fails_with(store_session_insert(st, &s, &lim, NULL, &err), &err, TY_ELIMIT,
                         "the platform already runs 2 sessions (limit 2)");
    ck_assert_fails_with(store_session_get(st, "c1", &s, &err), &err, TY_ENOTFOUND, "c1");
    /* No limit, or a larger one, lets it in; an ended session frees a place. */
    lim.max_global = 0;
    test_session(&s, "c1", "carol", "other", T0);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);
    lim.max_global = 3;
    test_session(&s, "d1", "dave", "other", T0);
    ck_assert_fails_with(store_session_insert(st, &s, &lim, NULL, &err), &err, TY_ELIMIT,
                         "already runs 3 sessions (limit 3)");
    test_move(st, "a1", STORE_STATE_STOPPED, T0 + 1);
    ck_assert_ok(store_session_insert(st, &s, &lim, NULL, &err), &err);
    store_close(st);
}
END_TEST

struct racer {
    int k;
    int inserted, limited, failures;
    struct ty_error err;
};

/* Tries N_TRIES launches on a connection of its own. */
static void *racer_run(void *arg)
{
    struct racer *r = arg;
    struct store_limits lim = {.max_global = LIMIT};
    struct store *st = NULL;
    char id[32], user[16];

    if (store_open(&st, path, NULL, &r->err)) {
        r->failures++;
        return NULL;
    }
    snprintf(user, sizeof(user), "u%d", r->k);
    for (int i = 0; i < N_TRIES; i++) {
        struct store_session s;
        struct ty_error e = TY_ERROR_INIT;
        snprintf(id, sizeof(id), "t%d-%d", r->k, i);
        test_session(&s, id, user, "app", T0 + i);
        int rc = store_session_insert(st, &s, &lim, NULL, &e);
        if (rc == 0) {
            r->inserted++;
        } else if (rc == TY_ELIMIT) {
            r->limited++;
        } else {
            r->failures++;
            r->err = e;
        }
    }
    store_close(st);
    return NULL;
}

START_TEST(threads_never_exceed_the_limit)
{
    struct ty_error err = TY_ERROR_INIT;
    struct racer r[N_THREADS];
    pthread_t t[N_THREADS];
    struct store *st = NULL;
    int inserted = 0;
    int64_t n;

    for (int i = 0; i < N_THREADS; i++) {
        r[i] = (struct racer){.k = i, .err = TY_ERROR_INIT};
        ck_assert_int_eq(pthread_create(&t[i], NULL, racer_run, &r[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_msg(r[i].failures == 0, "thread %d: %d failures, last: %s", i, r[i].failures,
                      r[i].err.msg);
        ck_assert_int_eq(r[i].inserted + r[i].limited, N_TRIES);
        inserted += r[i].inserted;
    }
    /* 240 attempts against a limit of 25: exactly 25 got in. */
    ck_assert_int_eq(inserted, LIMIT);
    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_ok(store_sessions_count_live(st, NULL, NULL, &n, &err), &err);
    ck_assert_int_eq(n, LIMIT);
    store_close(st);
}
END_TEST

/* Churn: 8 threads launch and at once stop sessions against a limit of 5
 * while a watcher counts the live rows: no committed state ever holds more
 * than 5 (without the check up to 8 could be live at once). */
struct churner {
    int k;
    int inserted, failures;
    struct ty_error err;
};

static atomic_int churn_done;

static void *churner_run(void *arg)
{
    struct churner *c = arg;
    struct store_limits lim = {.max_global = 5};
    struct store *st = NULL;
    char id[32];

    if (store_open(&st, path, NULL, &c->err)) {
        c->failures++;
        return NULL;
    }
    for (int i = 0; i < 60; i++) {
        struct store_session s;
        struct ty_error e = TY_ERROR_INIT;
        snprintf(id, sizeof(id), "c%d-%d", c->k, i);
        test_session(&s, id, "churn", "app", T0 + i);
        int rc = store_session_insert(st, &s, &lim, NULL, &e);
        if (rc == 0) {
            c->inserted++;
            /* Ends at once: its place is free for the next launch. */
            if (store_session_transition(st, id, STORE_STATES_ANY, STORE_STATE_STOPPED, "test",
                                         NULL, "test", 0, T0 + i, NULL, &e)) {
                c->failures++;
                c->err = e;
            }
        } else if (rc != TY_ELIMIT) {
            c->failures++;
            c->err = e;
        }
    }
    store_close(st);
    return NULL;
}

struct watcher {
    int64_t max_seen;
    long reads;
    int failures;
    struct ty_error err;
};

static void *watcher_run(void *arg)
{
    struct watcher *w = arg;
    struct store *st = NULL;

    if (store_open(&st, path, NULL, &w->err)) {
        w->failures++;
        return NULL;
    }
    while (!churn_done) {
        int64_t n;
        if (store_sessions_count_live(st, NULL, NULL, &n, &w->err)) {
            w->failures++;
            break;
        }
        if (n > w->max_seen)
            w->max_seen = n;
        w->reads++;
    }
    store_close(st);
    return NULL;
}

START_TEST(churn_never_exceeds_the_limit)
{
    struct churner c[N_THREADS];
    struct watcher w = {.err = TY_ERROR_INIT};
    pthread_t t[N_THREADS], tw;
    int inserted = 0;

    churn_done = 0;
    ck_assert_int_eq(pthread_create(&tw, NULL, watcher_run, &w), 0);
    for (int i = 0; i < N_THREADS; i++) {
        c[i] = (struct churner){.k = i, .err = TY_ERROR_INIT};
        ck_assert_int_eq(pthread_create(&t[i], NULL, churner_run, &c[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    churn_done = 1;
    pthread_join(tw, NULL);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_msg(c[i].failures == 0, "thread %d: %s", i, c[i].err.msg);
        inserted += c[i].inserted;
    }
    ck_assert_msg(w.failures == 0, "watcher: %s", w.err.msg);
    /* Places were freed and reused, and no reader ever saw more than 5. */
    ck_assert_int_gt(inserted, 5);
    ck_assert_int_gt(w.reads, 0);
    ck_assert_int_le(w.max_seen, 5);
}
END_TEST

/* Separate processes (as two `tycho api` servers on one database would be):
 * each child inserts on its own connection and reports through its exit
 * status how many got in. */
START_TEST(processes_never_exceed_the_limit)
{
    struct ty_error err = TY_ERROR_INIT;
    enum { N_PROC = 4, TRIES = 20, PLIMIT = 13 };
    pid_t pids[N_PROC];
    struct store *st = NULL;
    int inserted = 0;
    int64_t n;

    for (int k = 0; k < N_PROC; k++) {
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0) {
            struct store_limits lim = {.max_global = PLIMIT};
            struct ty_error e = TY_ERROR_INIT;
            struct store *cst = NULL;
            int got = 0;
            char id[32];
            if (store_open(&cst, path, NULL, &e))
                _exit(200);
            for (int i = 0; i < TRIES; i++) {
                struct store_session s;
                snprintf(id, sizeof(id), "p%d-%d", k, i);
                test_session(&s, id, "proc", "app", T0 + i);
                int rc = store_session_insert(cst, &s, &lim, NULL, &e);
                if (rc == 0)
                    got++;
                else if (rc != TY_ELIMIT)
                    _exit(201);
            }
            store_close(cst);
            _exit(got);
        }
    }
    for (int k = 0; k < N_PROC; k++) {
        int status = 0;
        ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
        ck_assert(WIFEXITED(status));
        ck_assert_msg(WEXITSTATUS(status) <= TRIES, "child %d failed: status %d", k,
                      WEXITSTATUS(status));
        inserted += WEXITSTATUS(status);
    }
    ck_assert_int_eq(inserted, PLIMIT);
    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_ok(store_sessions_count_live(st, NULL, NULL, &n, &err), &err);
    ck_assert_int_eq(n, PLIMIT);
    store_close(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store.global_limit");
    TCase *tc = tcase_create("global_limit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, global_limit_message);
    tcase_add_test(tc, threads_never_exceed_the_limit);
    tcase_add_test(tc, churn_never_exceeds_the_limit);
    tcase_add_test(tc, processes_never_exceed_the_limit);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
