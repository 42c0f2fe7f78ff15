/*
 * test_query.c - the session list (filters, keyset pagination across pages with
 * ties in created_at, totals, bad cursors, limits) and the statistics.
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

/* 30 sessions: ids s00..s29, six distinct created_at values (five ties each),
 * users alice (even) / bob (odd), apps by i % 3, labels course=c<i%2>, and
 * team=t<i%5>.  Every third session is running. */
static void populate(void)
{
    char id[8], course[8], team[8];
    const char *apps[] = {"jupyter", "rstudio", "desktop"};

    for (int i = 0; i < 30; i++) {
        struct store_session s;
        struct store_label l[2];
        snprintf(id, sizeof(id), "s%02d", i);
        snprintf(course, sizeof(course), "c%d", i % 2);
        snprintf(team, sizeof(team), "t%d", i % 5);
        test_session(&s, id, i % 2 ? "bob" : "alice", apps[i % 3], T0 + (i / 5) * HOUR);
        l[0].key = "course";
        l[0].value = course;
        l[1].key = "team";
        l[1].value = team;
        s.labels = l;
        s.n_labels = 2;
        ck_assert_ok(store_session_insert(st, &s, NULL, NULL, &err), &err);
        if (i % 3 == 0) {
            test_move(st, id, STORE_STATE_CREATING, T0 + i);
            test_move(st, id, STORE_STATE_RUNNING, T0 + i);
        }
    }
}

/* Walks every page of q and returns the ids in order (a string "s29,s28,...")
 * checking that each page carries the same total. */
static char *walk(struct store_query q, int64_t *total_out, int *pages_out)
{
    static char buf[4096];
    char *cursor = NULL;
    int pages = 0;

    buf[0] = '\0';
    *total_out = -1;
    do {
        struct store_page p;
        q.cursor = cursor;
        ck_assert_ok(store_session_list(st, &q, &p, &err), &err);
        if (*total_out < 0)
            *total_out = p.total;
        ck_assert_int_eq(p.total, *total_out);
        ck_assert_uint_le(p.n, (size_t)(q.limit ? q.limit : STORE_LIST_DEFAULT));
        for (size_t i = 0; i < p.n; i++) {
            if (buf[0])
                strcat(buf, ",");
            strcat(buf, p.items[i].id);
        }
        free(cursor);
        cursor = p.next_cursor ? strdup(p.next_cursor) : NULL;
        store_page_cleanup(&p);
        pages++;
        ck_assert_int_lt(pages, 100);
    } while (cursor);
    *pages_out = pages;
    return buf;
}

START_TEST(pages_cover_everything_once_in_order)
{
    struct store_query q = {0};
    int64_t total;
    int pages;
    const char *ids;

    populate();
    q.limit = 7; /* pages end inside groups of equal created_at */
    ids = walk(q, &total, &pages);
    ck_assert_int_eq(total, 30);
    ck_assert_int_eq(pages, 5);
    /* created_at DESC, then id DESC within a tie. */
    ck_assert_str_eq(ids, "s29,s28,s27,s26,s25,s24,s23,s22,s21,s20,s19,s18,s17,s16,s15,"
                          "s14,s13,s12,s11,s10,s09,s08,s07,s06,s05,s04,s03,s02,s01,s00");
    /* A limit that divides the total exactly ends without an empty page. */
    q.limit = 10;
    walk(q, &total, &pages);
    ck_assert_int_eq(pages, 3);
}
END_TEST

START_TEST(new_rows_do_not_shift_pages)
{
    struct store_query q = {0};
    struct store_page p1, p2;

    populate();
    q.limit = 5;
    ck_assert_ok(store_session_list(st, &q, &p1, &err), &err);
    ck_assert_str_eq(p1.items[4].id, "s25");
    /* A newer session arrives between the two requests. */
    test_insert(st, "s99", "alice", "jupyter", T0 + 100 * HOUR);
    q.cursor = p1.next_cursor;
    ck_assert_ok(store_session_list(st, &q, &p2, &err), &err);
    ck_assert_str_eq(p2.items[0].id, "s24");
    ck_assert_int_eq(p2.total, 31);
    store_page_cleanup(&p1);
    store_page_cleanup(&p2);
}
END_TEST

START_TEST(filters)
{
    struct store_query q = {0};
    int64_t total;
    int pages;
    const char *ids;

    populate();
    q.username = "bob";
    q.app_id = "jupyter"; /* odd i with i % 3 == 0: 3, 9, 15, 21, 27 */
    ids = walk(q, &total, &pages);
    ck_assert_str_eq(ids, "s27,s21,s15,s09,s03");
    ck_assert_int_eq(total, 5);

    memset(&q, 0, sizeof(q));
    q.states = STORE_STATE_BIT(STORE_STATE_RUNNING);
    q.username = "alice"; /* even and i % 3 == 0: 0, 6, 12, 18, 24 */
    ids = walk(q, &total, &pages);
    ck_assert_str_eq(ids, "s24,s18,s12,s06,s00");

    memset(&q, 0, sizeof(q));
    q.states = STORE_STATE_BIT(STORE_STATE_RUNNING) | STORE_STATE_BIT(STORE_STATE_REQUESTED);
    walk(q, &total, &pages);
    ck_assert_int_eq(total, 30);
    q.states = STORE_STATES_ANY;
    walk(q, &total, &pages);
    ck_assert_int_eq(total, 30);
    q.states = STORE_STATE_BIT(STORE_STATE_RUNNING);
    walk(q, &total, &pages);
    ck_assert_int_eq(total, 10);
    q.states = STORE_STATES_FINAL;
    ids = walk(q, &total, &pages);
    ck_assert_int_eq(total, 0);
    ck_assert_str_eq(ids, "");

    memset(&q, 0, sizeof(q));
    q.labels[0].key = "team";
    q.labels[0].value = "t3"; /* 3, 8, 13, 18, 23, 28 */
    q.n_labels = 1;
    ids = walk(q, &total, &pages);
    ck_assert_str_eq(ids, "s28,s23,s18,s13,s08,s03");
    q.labels[1].key = "course";
    q.labels[1].value = "c1";
    q.n_labels = 2;
    ids = walk(q, &total, &pages);
    ck_assert_str_eq(ids, "s23,s13,s03");
    q.labels[1].value = "nope";
    walk(q, &total, &pages);
    ck_assert_int_eq(total, 0);

    /* Time range [T0+1h, T0+3h): groups 1 and 2 -> s05..s14. */
    memset(&q, 0, sizeof(q));
    q.created_from = T0 + HOUR;
    q.created_to = T0 + 3 * HOUR;
    q.limit = 3;
    ids = walk(q, &total, &pages);
    ck_assert_int_eq(total, 10);
    ck_assert_str_eq(ids, "s14,s13,s12,s11,s10,s09,s08,s07,s06,s05");

    /* Everything at once. */
    q.username = "alice";
    q.app_id = "rstudio"; /* even, i % 3 == 1, 5 <= i < 15: 10 */
    q.labels[0].key = "course";
    q.labels[0].value = "c0";
    q.n_labels = 1;
    q.states = STORE_STATE_BIT(STORE_STATE_REQUESTED);
    ids = walk(q, &total, &pages);
    ck_assert_str_eq(ids, "s10");
    ck_assert_int_eq(total, 1);
}
END_TEST

START_TEST(labels_and_total_options)
{
    struct store_query q = {0};
    struct store_page p;

    populate();
    q.limit = 2;
    q.with_labels = true;
    q.skip_total = true;
    ck_assert_ok(store_session_list(st, &q, &p, &err), &err);
    ck_assert_int_eq(p.total, -1);
    ck_assert_uint_eq(p.items[0].n_labels, 2);
    ck_assert_str_eq(p.items[0].labels[0].key, "course");
    ck_assert_str_eq(p.items[0].labels[0].value, "c1"); /* s29 */
    store_page_cleanup(&p);
    q.with_labels = false;
    ck_assert_ok(store_session_list(st, &q, &p, &err), &err);
    ck_assert_uint_eq(p.items[0].n_labels, 0);
    store_page_cleanup(&p);
}
END_TEST

START_TEST(bad_cursors_and_limits)
{
    static const char *bad[] = {
        "",         "garbage",   "c1.",           "c1.123",     "c1.123.",
        "c1.x.s01", "c1.-5.s01", "c1.123.bad id", "c2.123.s01", "c1.99999999999999999999.s01",
        NULL};
    struct store_query q = {0};
    struct store_page p;

    populate();
    for (int i = 0; bad[i]; i++) {
        q.cursor = bad[i];
        ck_assert_fails_with(store_session_list(st, &q, &p, &err), &err, TY_EINVAL, "cursor");
        ck_assert_ptr_null(p.items);
    }
    q.cursor = NULL;
    q.limit = -1;
    ck_assert_fails_with(store_session_list(st, &q, &p, &err), &err, TY_EINVAL, "limit");
    q.limit = 0;
    q.n_labels = STORE_QUERY_MAX_LABELS + 1;
    ck_assert_fails_with(store_session_list(st, &q, &p, &err), &err, TY_EINVAL, "label");
    q.n_labels = 1; /* with a NULL key */
    ck_assert_fails_with(store_session_list(st, &q, &p, &err), &err, TY_EINVAL, "label");
    q.n_labels = 0;
    q.states = 1u << 20;
    ck_assert_fails_with(store_session_list(st, &q, &p, &err), &err, TY_EINVAL, "state");

    /* The default and the cap. */
    memset(&q, 0, sizeof(q));
    for (int i = 0; i < STORE_LIST_MAX + 30; i++) {
        char id[16];
        snprintf(id, sizeof(id), "m%04d", i);
        test_insert(st, id, "carol", "app", T0 - i);
    }
    q.username = "carol";
    ck_assert_ok(store_session_list(st, &q, &p, &err), &err);
    ck_assert_uint_eq(p.n, STORE_LIST_DEFAULT);
    store_page_cleanup(&p);
    q.limit = 100000;
    ck_assert_ok(store_session_list(st, &q, &p, &err), &err);
    ck_assert_uint_eq(p.n, STORE_LIST_MAX);
    ck_assert_ptr_nonnull(p.next_cursor);
    ck_assert_int_eq(p.total, STORE_LIST_MAX + 30);
    store_page_cleanup(&p);
}
END_TEST

START_TEST(statistics)
{
    struct store_count *c = NULL;
    int64_t by_state[STORE_STATE__COUNT];
    size_t n = 0;

    populate();
    ck_assert_ok(store_stats_by_app(st, 0, 0, &c, &n, &err), &err);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(c[0].key, "desktop");
    ck_assert_int_eq(c[0].count, 10);
    store_counts_free(c, n);
    ck_assert_ok(store_stats_by_user(st, T0 + HOUR, T0 + 2 * HOUR, &c, &n, &err), &err);
    ck_assert_uint_eq(n, 2); /* s05..s09: alice 6, 8; bob 5, 7, 9 */
    ck_assert_str_eq(c[0].key, "alice");
    ck_assert_int_eq(c[0].count, 2);
    ck_assert_int_eq(c[1].count, 3);
    store_counts_free(c, n);

    /* Days: add sessions on the next day. */
    test_insert(st, "d1", "dave", "app", T0 + 24 * HOUR);
    test_insert(st, "d2", "dave", "app", T0 + 26 * HOUR);
    ck_assert_ok(store_stats_by_day(st, 0, 0, &c, &n, &err), &err);
    /* T0 is 2023-11-14T22:13:20Z: groups 0-1 (s00..s09) fall on the 14th. */
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(c[0].key, "2023-11-14");
    ck_assert_int_eq(c[0].count, 10);
    ck_assert_str_eq(c[1].key, "2023-11-15");
    ck_assert_int_eq(c[1].count, 21);
    ck_assert_str_eq(c[2].key, "2023-11-16");
    ck_assert_int_eq(c[2].count, 1);
    store_counts_free(c, n);
    ck_assert_fails_with(store_stats_by_day(st, T0, T0, &c, &n, &err), &err, TY_EINVAL, "range");

    ck_assert_ok(store_stats_by_state(st, by_state, &err), &err);
    ck_assert_int_eq(by_state[STORE_STATE_RUNNING], 10);
    ck_assert_int_eq(by_state[STORE_STATE_REQUESTED], 22);
    ck_assert_int_eq(by_state[STORE_STATE_STOPPED], 0);
}
END_TEST

START_TEST(concurrency_series)
{
    int64_t *v = NULL;
    size_t n = 0;

    /* a: [0h, 3h), b: [1h, 2h), c: [1.5h, live), d: [5h, 6h) outside. */
    test_insert(st, "a", "u", "app", T0);
    test_insert(st, "b", "u", "app", T0 + HOUR);
    test_insert(st, "c", "u", "app", T0 + HOUR + HOUR / 2);
    test_insert(st, "d", "u", "app", T0 + 5 * HOUR);
    test_move(st, "a", STORE_STATE_STOPPED, T0 + 3 * HOUR);
    test_move(st, "b", STORE_STATE_STOPPED, T0 + 2 * HOUR);
    test_move(st, "d", STORE_STATE_STOPPED, T0 + 6 * HOUR);

    ck_assert_ok(store_stats_concurrency(st, T0, T0 + 4 * HOUR, HOUR, &v, &n, &err), &err);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(v[0], 1); /* a */
    ck_assert_int_eq(v[1], 3); /* a, b, then c */
    ck_assert_int_eq(v[2], 2); /* b ended exactly at 2h: a, c */
    ck_assert_int_eq(v[3], 1); /* c */
    free(v);
    /* A range starting inside sessions counts them from the start. */
    ck_assert_ok(
        store_stats_concurrency(st, T0 + HOUR + HOUR / 2 + 1, T0 + 2 * HOUR, 1000, &v, &n, &err),
        &err);
    ck_assert_int_eq(v[0], 3);
    free(v);
    /* A range with no sessions at all: zeros, not an error. */
    ck_assert_ok(store_stats_concurrency(st, T0 - 10 * HOUR, T0 - 8 * HOUR, HOUR, &v, &n, &err),
                 &err);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(v[0] + v[1], 0);
    free(v);
    ck_assert_fails_with(store_stats_concurrency(st, T0, T0, HOUR, &v, &n, &err), &err, TY_EINVAL,
                         "from < to");
    ck_assert_fails_with(store_stats_concurrency(st, T0, T0 + 100000, 1, &v, &n, &err), &err,
                         TY_EINVAL, "10000");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store.query");
    TCase *tc = tcase_create("query");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pages_cover_everything_once_in_order);
    tcase_add_test(tc, new_rows_do_not_shift_pages);
    tcase_add_test(tc, filters);
    tcase_add_test(tc, labels_and_total_options);
    tcase_add_test(tc, bad_cursors_and_limits);
    tcase_add_test(tc, statistics);
    tcase_add_test(tc, concurrency_series);
    suite_add_tcase(s, tc);
    return ty_run_suite(s);
}
