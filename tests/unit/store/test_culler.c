/*
 * test_culler.c - the culler's memory in the store (migration 0003): the last
 * busy CPU sample (a batched max() write, all-or-nothing in one transaction)
 * and the cull warning (the time and its event row together), read back by
 * get and by every list; and a database at version 2, with sessions in it,
 * migrated to the new columns.
 */
#include "store_test.h"

#include "util/embed.h"

#include <sqlite3.h>

static char *dir;
static struct ty_error err;

static void setup(void)
{
    ty_error_clear(&err);
    dir = test_tmpdir();
}

static void teardown(void)
{
    ty_rm_rf(dir, NULL);
    free(dir);
}

static void get(struct store *st, const char *id, struct store_session *out)
{
    ck_assert_ok(store_session_get(st, id, out, &err), &err);
}

static int64_t cpu_at(struct store *st, const char *id)
{
    struct store_session s;
    int64_t v;
    get(st, id, &s);
    v = s.cpu_active_at;
    store_session_cleanup(&s);
    return v;
}

/* Runs SQL on the file through a connection of its own (tests may look and
 * poke inside the file). */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
                  msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

START_TEST(new_sessions_have_no_culler_memory)
{
    struct store *st = test_open_memory();
    struct store_session s;

    test_insert(st, "a", "alice", "app", T0);
    get(st, "a", &s);
    ck_assert_int_eq(s.cpu_active_at, 0);
    ck_assert_int_eq(s.cull_warned_at, 0);
    store_session_cleanup(&s);
    store_close(st);
}
END_TEST

START_TEST(cpu_activity_is_batched_and_never_moves_back)
{
    struct store *st = test_open_memory();
    struct store_cpu_active first[] = {{"a", T0 + 10}, {"b", T0 + 20}, {"gone", T0 + 30}};
    struct store_cpu_active later[] = {{"a", T0 + 5}, {"b", T0 + 40}};
    size_t n = 99;

    test_insert(st, "a", "alice", "app", T0);
    test_insert(st, "b", "bob", "app", T0);
    test_insert(st, "c", "carol", "app", T0);

    /* An id without a row (ended and deleted meanwhile) is skipped. */
    ck_assert_ok(store_session_cpu_active(st, first, 3, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cpu_at(st, "a"), T0 + 10);
    ck_assert_int_eq(cpu_at(st, "b"), T0 + 20);
    ck_assert_int_eq(cpu_at(st, "c"), 0);

    /* max(old, at): an older sample does not move it back. */
    ck_assert_ok(store_session_cpu_active(st, later, 2, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(cpu_at(st, "a"), T0 + 10);
    ck_assert_int_eq(cpu_at(st, "b"), T0 + 40);

    /* An empty batch writes nothing and succeeds; NULL count is fine. */
    ck_assert_ok(store_session_cpu_active(st, NULL, 0, &n, &err), &err);
    ck_assert_uint_eq(n, 0);
    ck_assert_ok(store_session_cpu_active(st, later, 2, NULL, &err), &err);
    store_close(st);
}
END_TEST

START_TEST(bad_cpu_batch_writes_nothing)
{
    struct store *st = test_open_memory();
    struct store_cpu_active no_id[] = {{"a", T0 + 10}, {NULL, T0 + 10}};
    struct store_cpu_active no_time[] = {{"a", T0 + 10}, {"b", 0}};
    size_t n = 99;

    test_insert(st, "a", "alice", "app", T0);
    test_insert(st, "b", "bob", "app", T0);
    ck_assert_fails_with(store_session_cpu_active(st, no_id, 2, &n, &err), &err, TY_EINVAL,
                         "no session id");
    ck_assert_uint_eq(n, 0);
    ck_assert_fails_with(store_session_cpu_active(st, no_time, 2, &n, &err), &err, TY_EINVAL,
                         "> 0");
    ck_assert_int_eq(cpu_at(st, "a"), 0);
    store_close(st);
}
END_TEST

/* The batch is one transaction: when a row in the middle fails (a trigger the
 * test adds refuses it), the rows before it are rolled back too, and the
 * connection is usable afterwards. */
START_TEST(cpu_batch_is_all_or_nothing)
{
    struct store *st = NULL;
    char *path = test_path(dir, "batch.db");
    struct store_cpu_active batch[] = {{"a", T0 + 10}, {"bad", T0 + 10}, {"c", T0 + 10}};
    size_t n = 99;

    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    test_insert(st, "a", "alice", "app", T0);
    test_insert(st, "bad", "bob", "app", T0);
    test_insert(st, "c", "carol", "app", T0);
    raw_exec(path, "CREATE TRIGGER refuse_bad BEFORE UPDATE OF cpu_active_at ON sessions "
                   "WHEN NEW.id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    /* Prepared statements notice the schema change and re-prepare. */
    ck_assert_fails_with(store_session_cpu_active(st, batch, 3, &n, &err), &err, TY_EINVAL,
                         "refused by the test");
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cpu_at(st, "a"), 0);
    ck_assert_int_eq(cpu_at(st, "c"), 0);

    /* Inside a caller's transaction the batch joins it (a savepoint). */
    ck_assert_ok(store_tx_begin(st, &err), &err);
    ck_assert_ok(store_session_cpu_active(st, batch, 1, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    store_tx_rollback(st);
    ck_assert_int_eq(cpu_at(st, "a"), 0);

    raw_exec(path, "DROP TRIGGER refuse_bad");
    ck_assert_ok(store_session_cpu_active(st, batch, 3, &n, &err), &err);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(cpu_at(st, "c"), T0 + 10);
    store_close(st);
    free(path);
}
END_TEST

START_TEST(warning_is_recorded_with_its_event)
{
    struct store *st = test_open_memory();
    struct store_session s;
    struct store_event *ev = NULL;
    size_t n = 0;
    const char *why = "Last active 7h ago (created); the idle timeout is 8h (from global), so "
                      "its owner is warned now.";

    test_insert(st, "a", "alice", "app", T0);
    test_move(st, "a", STORE_STATE_CREATING, T0 + 1);
    test_move(st, "a", STORE_STATE_PENDING, T0 + 2);
    test_move(st, "a", STORE_STATE_RUNNING, T0 + 3);
    ck_assert_ok(store_session_cull_warned(st, "a", T0 + 7 * HOUR, why, NULL, &err), &err);

    get(st, "a", &s);
    ck_assert_int_eq(s.cull_warned_at, T0 + 7 * HOUR);
    ck_assert_int_eq(s.state, STORE_STATE_RUNNING);
    ck_assert_int_eq(s.cpu_active_at, 0);
    store_session_cleanup(&s);

    ck_assert_ok(store_events_list(st, "a", &ev, &n, &err), &err);
    ck_assert_uint_eq(n, 5);
    ck_assert(ev[4].has_from);
    ck_assert_int_eq(ev[4].from, STORE_STATE_RUNNING);
    ck_assert_int_eq(ev[4].to, STORE_STATE_RUNNING);
    ck_assert_int_eq(ev[4].at, T0 + 7 * HOUR);
    ck_assert_str_eq(ev[4].reason, "cull-warning");
    ck_assert_str_eq(ev[4].actor, "culler");
    ck_assert_str_eq(ev[4].message, why);
    store_events_free(ev, n);

    /* A later warning (after new activity voided the first) replaces the time
     * and adds a second event; the actor may be named. */
    ck_assert_ok(store_session_cull_warned(st, "a", T0 + 9 * HOUR, "again", "admin", &err), &err);
    get(st, "a", &s);
    ck_assert_int_eq(s.cull_warned_at, T0 + 9 * HOUR);
    store_session_cleanup(&s);
    ck_assert_ok(store_events_list(st, "a", &ev, &n, &err), &err);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(ev[5].actor, "admin");
    store_events_free(ev, n);

    ck_assert_fails_with(store_session_cull_warned(st, "nope", T0, "x", NULL, &err), &err,
                         TY_ENOTFOUND, "nope");
    ck_assert_fails_with(store_session_cull_warned(st, "a", 0, "x", NULL, &err), &err, TY_EINVAL,
                         "time");
    ck_assert_ok(store_events_list(st, "a", &ev, &n, &err), &err);
    ck_assert_uint_eq(n, 6);
    store_events_free(ev, n);
    store_close(st);
}
END_TEST

/* Every reader that returns sessions carries both columns. */
START_TEST(lists_carry_the_culler_memory)
{
    struct store *st = test_open_memory();
    struct store_cpu_active cpu[] = {{"a", T0 + HOUR}};
    struct store_query q;
    struct store_page page;
    struct store_session *v = NULL;
    size_t n = 0;

    test_insert(st, "a", "alice", "app", T0);
    test_insert(st, "b", "bob", "app", T0 + 1);
    ck_assert_ok(store_session_cpu_active(st, cpu, 1, NULL, &err), &err);
    ck_assert_ok(store_session_cull_warned(st, "a", T0 + 2 * HOUR, "w", NULL, &err), &err);

    memset(&q, 0, sizeof(q));
    q.states = STORE_STATES_LIVE;
    q.with_labels = true;
    ck_assert_ok(store_session_list(st, &q, &page, &err), &err);
    ck_assert_uint_eq(page.n, 2);
    ck_assert_str_eq(page.items[1].id, "a");
    ck_assert_int_eq(page.items[1].cpu_active_at, T0 + HOUR);
    ck_assert_int_eq(page.items[1].cull_warned_at, T0 + 2 * HOUR);
    ck_assert_int_eq(page.items[0].cpu_active_at, 0);
    ck_assert_int_eq(page.items[0].cull_warned_at, 0);
    store_page_cleanup(&page);

    ck_assert_ok(store_sessions_live(st, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].id, "a");
    ck_assert_int_eq(v[0].cpu_active_at, T0 + HOUR);
    ck_assert_int_eq(v[0].cull_warned_at, T0 + 2 * HOUR);
    store_sessions_free(v, n);

    ck_assert_ok(store_sessions_due(st, T0 + 10 * HOUR, 10, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(v[0].cull_warned_at, T0 + 2 * HOUR);
    store_sessions_free(v, n);
    store_close(st);
}
END_TEST

/* A database written by a binary at schema version 2, with sessions, labels
 * and events in it, gains the columns (NULL: nothing was known) and keeps
 * everything else; the new calls work on the migrated rows. */
START_TEST(version_2_database_is_migrated)
{
    struct store_opts o = STORE_OPTS_INIT;
    struct store_migration first_two[3] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
    struct store *st = NULL;
    struct store_session s;
    struct store_event *ev = NULL;
    struct store_cpu_active cpu[] = {{"a", T0 + HOUR}};
    int64_t counts[STORE_STATE__COUNT];
    char *path = test_path(dir, "v2.db");
    size_t n = 0;
    int from = -1, to = -1;

    ck_assert_int_ge(store_schema_version_latest(), 3);
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_nonnull(ty_embed_migrations_files[i].path);
        first_two[i].name = ty_embed_migrations_files[i].path;
        first_two[i].sql = (const char *)ty_embed_migrations_files[i].data;
    }
    ck_assert_str_eq(first_two[1].name, "0002_state_counts.sql");
    o.migrations = first_two;
    ck_assert_ok(store_open(&st, path, &o, &err), &err);
    ck_assert_int_eq(store_schema_version(st), 2);
    /* The version-2 binary reads no culler columns: the fields stay 0. */
    test_insert(st, "a", "alice", "app", T0);
    test_insert(st, "b", "bob", "app", T0 + 1);
    test_move(st, "a", STORE_STATE_CREATING, T0 + 2);
    test_move(st, "b", STORE_STATE_STOPPED, T0 + 3);
    ck_assert_ok(store_session_label_set(st, "a", "course", "bio101", "alice", T0 + 4, &err), &err);
    store_close(st);
    st = NULL;

    ck_assert_ok(store_migrate(path, &from, &to, &err), &err);
    ck_assert_int_eq(from, 2);
    ck_assert_int_eq(to, store_schema_version_latest());
    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_int_eq(store_schema_version(st), store_schema_version_latest());

    get(st, "a", &s);
    ck_assert_int_eq(s.state, STORE_STATE_CREATING);
    ck_assert_str_eq(s.username, "alice");
    ck_assert_uint_eq(s.n_labels, 1);
    ck_assert_str_eq(s.labels[0].value, "bio101");
    ck_assert_int_eq(s.cpu_active_at, 0);
    ck_assert_int_eq(s.cull_warned_at, 0);
    store_session_cleanup(&s);
    ck_assert_ok(store_events_list(st, "a", &ev, &n, &err), &err);
    ck_assert_uint_eq(n, 3);
    store_events_free(ev, n);
    ck_assert_ok(store_stats_by_state(st, counts, &err), &err);
    ck_assert_int_eq(counts[STORE_STATE_CREATING], 1);
    ck_assert_int_eq(counts[STORE_STATE_STOPPED], 1);

    ck_assert_ok(store_session_cpu_active(st, cpu, 1, &n, &err), &err);
    ck_assert_uint_eq(n, 1);
    ck_assert_ok(store_session_cull_warned(st, "a", T0 + 2 * HOUR, "w", NULL, &err), &err);
    store_close(st);

    /* Durable: a new connection (a restarted server) reads both back. */
    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    get(st, "a", &s);
    ck_assert_int_eq(s.cpu_active_at, T0 + HOUR);
    ck_assert_int_eq(s.cull_warned_at, T0 + 2 * HOUR);
    store_session_cleanup(&s);
    store_close(st);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store.culler");
    TCase *tc = tcase_create("culler");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_sessions_have_no_culler_memory);
    tcase_add_test(tc, cpu_activity_is_batched_and_never_moves_back);
    tcase_add_test(tc, bad_cpu_batch_writes_nothing);
    tcase_add_test(tc, cpu_batch_is_all_or_nothing);
    tcase_add_test(tc, warning_is_recorded_with_its_event);
    tcase_add_test(tc, lists_carry_the_culler_memory);
    tcase_add_test(tc, version_2_database_is_migrated);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
