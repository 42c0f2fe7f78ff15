/*
 * store_test.h - helpers shared by the store's unit tests: temporary database
 * directories and a session builder.
 */
#ifndef TY_TESTS_STORE_TEST_H
#define TY_TESTS_STORE_TEST_H

#include "store/store.h"
#include "ty_check.h"
#include "util/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0   1700000000000LL /* 2023-11-14T22:13:20Z */
#define HOUR 3600000LL

/* A new temporary directory (free the string and ty_rm_rf it). */
static inline char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/ty-store-XXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return strdup(d);
}

static inline char *test_path(const char *dir, const char *name)
{
    return ty_path_join(dir, name);
}

/* Fills s with a minimal live session (borrowed strings: do not clean up). */
static inline void test_session(
    struct store_session *s, const char *id, const char *user, const char *app, int64_t created)
{
    memset(s, 0, sizeof(*s));
    s->id = (char *)id;
    s->username = (char *)user;
    s->app_id = (char *)app;
    s->state = STORE_STATE_REQUESTED;
    s->state_deadline_at = created + 60000;
    s->created_at = created;
}

/* Inserts a minimal session or fails the test. */
static inline void
test_insert(struct store *st, const char *id, const char *user, const char *app, int64_t created)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store_session s;
    test_session(&s, id, user, app, created);
    ck_assert_ok(store_session_insert(st, &s, NULL, "test", &err), &err);
}

/* Moves a session along the allowed path or fails the test. */
static inline void test_move(struct store *st, const char *id, enum store_state to, int64_t now)
{
    struct ty_error err = TY_ERROR_INIT;
    ck_assert_ok(store_session_transition(st, id, STORE_STATES_ANY, to, "test", NULL, "system",
                                          now + 60000, now, NULL, &err),
                 &err);
}

static inline struct store *test_open_memory(void)
{
    struct ty_error err = TY_ERROR_INIT;
    struct store *st = NULL;
    ck_assert_ok(store_open(&st, ":memory:", NULL, &err), &err);
    return st;
}

#endif
