/*
 * test_migrate.c - opening databases and migrating them: a fresh file, an
 * idempotent reopen, a failing migration that must leave the last good
 * version, a database newer than the binary, no_migrate, bad migration names,
 * and the pragmas every connection gets.
 */
#include "store_test.h"

#include "util/embed.h"

#include <sqlite3.h>

static char *dir;

static void setup(void)
{
    dir = test_tmpdir();
}

static void teardown(void)
{
    ty_rm_rf(dir, NULL);
    free(dir);
}

/* Reads one integer with raw SQLite (tests may look inside the file). */
static int raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int v = -1;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

START_TEST(fresh_file_gets_every_migration)
{
    struct ty_error err = TY_ERROR_INIT;
    char *path = test_path(dir, "fresh.db");
    int from = -1, to = -1;

    ck_assert_int_ge(store_schema_version_latest(), 1);
    ck_assert_ok(store_migrate(path, &from, &to, &err), &err);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(to, store_schema_version_latest());
    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), store_schema_version_latest());
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                   "('sessions','session_labels','session_events','tokens')"),
                     4);
    /* WAL is a property of the file: it persists. */
    ck_assert_int_eq(raw_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);

    /* Idempotent: a second run changes nothing. */
    ck_assert_ok(store_migrate(path, &from, &to, &err), &err);
    ck_assert_int_eq(from, store_schema_version_latest());
    ck_assert_int_eq(to, store_schema_version_latest());
    free(path);
}
END_TEST

START_TEST(reopen_keeps_data)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    struct store_session s;
    char *path = test_path(dir, "reopen.db");

    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_int_eq(store_schema_version(st), store_schema_version_latest());
    test_insert(st, "a1", "alice", "jupyter", T0);
    store_close(st);
    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_ok(store_session_get(st, "a1", &s, &err), &err);
    ck_assert_str_eq(s.username, "alice");
    store_session_cleanup(&s);
    store_close(st);
    free(path);
}
END_TEST

START_TEST(memory_database_works)
{
    struct store *st = test_open_memory();
    ck_assert_int_eq(store_schema_version(st), store_schema_version_latest());
    store_close(st);
}
END_TEST

START_TEST(foreign_keys_are_enforced)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = test_open_memory();
    /* A label on a missing session is refused by the store before SQLite. */
    ck_assert_fails_with(store_session_label_set(st, "nope", "k", "v", NULL, T0, &err), &err,
                         TY_ENOTFOUND, "nope");
    store_close(st);
}
END_TEST

static const struct store_migration good[] = {
    {"0001_a.sql", "CREATE TABLE a (x INTEGER);"},
    {"0002_b.sql", "CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);"},
    {NULL, NULL},
};

/* 0003 creates c, then fails: c must not survive, the version must stay 2. */
static const struct store_migration failing[] = {
    {"0001_a.sql", "CREATE TABLE a (x INTEGER);"},
    {"0002_b.sql", "CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);"},
    {"0003_c.sql", "CREATE TABLE c (x INTEGER); INSERT INTO b VALUES (2); CREATE TABLE a (y);"},
    {NULL, NULL},
};

START_TEST(failing_migration_leaves_last_good_version)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_opts o = STORE_OPTS_INIT;
    struct store *st = NULL;
    char *path = test_path(dir, "fail.db");

    o.migrations = failing;
    ck_assert_fails_with(store_open(&st, path, &o, &err), &err, TY_ERR, "0003_c.sql");
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, "stays at version 2") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "already exists") != NULL, "%s", err.msg);
    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'c'"), 0);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM b"), 1);

    /* The database is still usable with the migrations that worked. */
    o.migrations = good;
    ck_assert_ok(store_open(&st, path, &o, &err), &err);
    ck_assert_int_eq(store_schema_version(st), 2);
    store_close(st);
    free(path);
}
END_TEST

START_TEST(migrations_apply_in_steps)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_opts o = STORE_OPTS_INIT;
    struct store *st = NULL;
    char *path = test_path(dir, "steps.db");
    static const struct store_migration one[] = {{"0001_a.sql", "CREATE TABLE a (x);"},
                                                 {NULL, NULL}};

    o.migrations = one;
    ck_assert_ok(store_open(&st, path, &o, &err), &err);
    ck_assert_int_eq(store_schema_version(st), 1);
    store_close(st);
    o.migrations = good;
    ck_assert_ok(store_open(&st, path, &o, &err), &err);
    ck_assert_int_eq(store_schema_version(st), 2);
    store_close(st);
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM b"), 1);
    free(path);
}
END_TEST

START_TEST(newer_database_is_refused)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    char *path = test_path(dir, "newer.db");
    int from = 0, to = 0;

    ck_assert_ok(store_migrate(path, NULL, NULL, &err), &err);
    raw_exec(path, "PRAGMA user_version = 999");
    ck_assert_fails_with(store_open(&st, path, NULL, &err), &err, TY_ECONFLICT, "newer");
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, "999") != NULL, "%s", err.msg);
    ck_assert_fails_with(store_migrate(path, &from, &to, &err), &err, TY_ECONFLICT, "newer");
    ck_assert_int_eq(from, 999);
    /* Nothing was changed: not the version, not even planner statistics. */
    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), 999);
    raw_exec(path, "DROP TABLE IF EXISTS sqlite_stat1");
    ck_assert_fails_with(store_open(&st, path, NULL, &err), &err, TY_ECONFLICT, "newer");
    ck_assert_int_eq(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'sqlite_stat1'"),
                     0);
    free(path);
}
END_TEST

START_TEST(no_migrate_refuses_an_old_database)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_opts o = STORE_OPTS_INIT;
    struct store *st = NULL;
    char *path = test_path(dir, "old.db");

    o.no_migrate = true;
    ck_assert_fails_with(store_open(&st, path, &o, &err), &err, TY_ECONFLICT, "tycho migrate");
    ck_assert_int_eq(raw_int(path, "PRAGMA user_version"), 0);
    ck_assert_ok(store_migrate(path, NULL, NULL, &err), &err);
    ck_assert_ok(store_open(&st, path, &o, &err), &err);
    store_close(st);
    free(path);
}
END_TEST

START_TEST(bad_migration_names_are_refused)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_opts o = STORE_OPTS_INIT;
    struct store *st = NULL;
    static const struct store_migration gap[] = {
        {"0001_a.sql", "CREATE TABLE a (x);"}, {"0003_c.sql", "CREATE TABLE c (x);"}, {NULL, NULL}};
    static const struct store_migration unnumbered[] = {{"init.sql", "CREATE TABLE a (x);"},
                                                        {NULL, NULL}};

    o.migrations = gap;
    ck_assert_fails_with(store_open(&st, ":memory:", &o, &err), &err, TY_ERR, "0002_");
    o.migrations = unnumbered;
    ck_assert_fails_with(store_open(&st, ":memory:", &o, &err), &err, TY_ERR, "init.sql");
    ck_assert_ptr_null(st);
}
END_TEST

START_TEST(unopenable_path_is_an_error)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    char *path = test_path(dir, "missing-dir/x.db");

    ck_assert_fails_with(store_open(&st, path, NULL, &err), &err, TY_ERR, "missing-dir");
    ck_assert_fails_with(store_open(&st, "", NULL, &err), &err, TY_EINVAL, "path");
    ck_assert_ptr_null(st);
    free(path);
}
END_TEST

START_TEST(embedded_migrations_are_numbered)
{
    /* Every embedded file passes the name check: opening proves it, and the
     * count matches the files shipped in migrations/. */
    struct store *st = test_open_memory();
    ck_assert_int_eq(store_schema_version(st), store_schema_version_latest());
    store_close(st);
}
END_TEST

/* Migration 0002 must count the sessions a version-1 database already has. */
START_TEST(state_counts_backfill_existing_rows)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_opts o = STORE_OPTS_INIT;
    struct store_migration only_first[2] = {{NULL, NULL}, {NULL, NULL}};
    struct store *st = NULL;
    int64_t counts[STORE_STATE__COUNT];
    char *path = test_path(dir, "v1.db");

    ck_assert_ptr_nonnull(ty_embed_migrations_files[0].path);
    ck_assert_str_eq(ty_embed_migrations_files[0].path, "0001_initial.sql");
    only_first[0].name = ty_embed_migrations_files[0].path;
    only_first[0].sql = (const char *)ty_embed_migrations_files[0].data;
    o.migrations = only_first;
    ck_assert_ok(store_open(&st, path, &o, &err), &err);
    ck_assert_int_eq(store_schema_version(st), 1);
    test_insert(st, "a", "alice", "app", T0);
    test_insert(st, "b", "alice", "app", T0);
    test_insert(st, "c", "bob", "app", T0);
    test_move(st, "c", STORE_STATE_STOPPED, T0 + 1);
    store_close(st);

    ck_assert_ok(store_open(&st, path, NULL, &err), &err);
    ck_assert_int_eq(store_schema_version(st), store_schema_version_latest());
    ck_assert_ok(store_stats_by_state(st, counts, &err), &err);
    ck_assert_int_eq(counts[STORE_STATE_REQUESTED], 2);
    ck_assert_int_eq(counts[STORE_STATE_STOPPED], 1);
    test_move(st, "a", STORE_STATE_CREATING, T0 + 2);
    ck_assert_ok(store_stats_by_state(st, counts, &err), &err);
    ck_assert_int_eq(counts[STORE_STATE_REQUESTED], 1);
    ck_assert_int_eq(counts[STORE_STATE_CREATING], 1);
    store_close(st);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store.migrate");
    TCase *tc = tcase_create("migrate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fresh_file_gets_every_migration);
    tcase_add_test(tc, reopen_keeps_data);
    tcase_add_test(tc, memory_database_works);
    tcase_add_test(tc, foreign_keys_are_enforced);
    tcase_add_test(tc, failing_migration_leaves_last_good_version);
    tcase_add_test(tc, migrations_apply_in_steps);
    tcase_add_test(tc, newer_database_is_refused);
    tcase_add_test(tc, no_migrate_refuses_an_old_database);
    tcase_add_test(tc, bad_migration_names_are_refused);
    tcase_add_test(tc, unopenable_path_is_an_error);
    tcase_add_test(tc, embedded_migrations_are_numbered);
    tcase_add_test(tc, state_counts_backfill_existing_rows);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
