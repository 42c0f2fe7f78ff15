/*
 * store_query.c - the filtered, keyset-paginated session list and statistics.
 *
 * The list's WHERE clause depends on which filters are given, and a single
 * catch-all text ("?1 IS NULL OR username = ?1") would keep SQLite from using
 * the indexes.  So the text is assembled - but only from the fixed fragments
 * below, never from caller data: every value (username, app, state names,
 * label keys and values, times, the cursor) is a bound parameter.  The same
 * filters always produce the same text, which is the key of the connection's
 * small statement cache, so each shape is prepared once.
 *
 * Pagination is keyset on (created_at DESC, id DESC): the cursor carries the
 * last row's pair and the next page starts strictly after it, so rows inserted
 * meanwhile never shift a page and ties in created_at are broken by id.
 */
#include "store/store_int.h"

#include "util/buf.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <stdlib.h>
#include <string.h>

static const char frag_select[] = "SELECT " STORE_SESSION_COLS " FROM sessions s WHERE 1";
static const char frag_count[] = "SELECT count(*) FROM sessions s WHERE 1";
static const char frag_user[] = " AND s.username = ?";
static const char frag_app[] = " AND s.app_id = ?";
static const char frag_states_open[] = " AND s.state IN (?";
static const char frag_states_more[] = ", ?";
static const char frag_states_close[] = ")";
static const char frag_label[] =
    " AND s.id IN (SELECT session_id FROM session_labels WHERE key = ? AND value = ?)";
static const char frag_from[] = " AND s.created_at >= ?";
static const char frag_to[] = " AND s.created_at < ?";
static const char frag_after[] = " AND (s.created_at, s.id) < (?, ?)";
static const char frag_order[] = " ORDER BY s.created_at DESC, s.id DESC LIMIT ?";

#define CURSOR_PREFIX "c1."

/* One bound value of the assembled query, in placeholder order. */
struct param {
    const char *text; /* NULL: use num */
    int64_t num;
};

struct params {
    struct param v[4 + STORE_STATE__COUNT + 2 * STORE_QUERY_MAX_LABELS + 2];
    int n;
};

static void param_text(struct params *p, const char *t)
{
    p->v[p->n].text = t;
    p->v[p->n].num = 0;
    p->n++;
}

static void param_num(struct params *p, int64_t x)
{
    p->v[p->n].text = NULL;
    p->v[p->n].num = x;
    p->n++;
}

static void bind_params(sqlite3_stmt *s, const struct params *p)
{
    for (int i = 0; i < p->n; i++) {
        if (p->v[i].text)
            sqlite3_bind_text(s, i + 1, p->v[i].text, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(s, i + 1, p->v[i].num);
    }
}

/* Cursor: "c1.<created_at>.<id>".  Opaque to clients; parsed strictly. */
static char *cursor_encode(int64_t created_at, const char *id)
{
    return ty_xasprintf(CURSOR_PREFIX "%lld.%s", (long long)created_at, id);
}

static int cursor_decode(const char *c, int64_t *created_out, char **id_out, struct ty_error *err)
{
    const char *p, *dot;
    char num[24];
    size_t len;

    *created_out = 0;
    *id_out = NULL;
    if (!ty_str_has_prefix(c, CURSOR_PREFIX))
        goto bad;
    p = c + strlen(CURSOR_PREFIX);
    dot = strchr(p, '.');
    if (!dot)
        goto bad;
    len = (size_t)(dot - p);
    if (len == 0 || len >= sizeof(num))
        goto bad;
    memcpy(num, p, len);
    num[len] = '\0';
    if (ty_str_to_i64(num, 0, INT64_MAX, created_out))
        goto bad;
    if (!store_id_is_valid(dot + 1))
        goto bad;
    *id_out = ty_xstrdup(dot + 1);
    return 0;
bad:
    *created_out = 0;
    return ty_error_set(err, TY_EINVAL, "store: malformed page cursor '%.64s'", c);
}

void store_page_cleanup(struct store_page *p)
{
    if (!p)
        return;
    store_sessions_free(p->items, p->n);
    free(p->next_cursor);
    memset(p, 0, sizeof(*p));
}

/* Appends the filter fragments (without cursor, order, limit) and their params. */
static void build_where(struct ty_buf *sql, struct params *p, const struct store_query *q)
{
    if (q->username) {
        ty_buf_puts(sql, frag_user);
        param_text(p, q->username);
    }
    if (q->app_id) {
        ty_buf_puts(sql, frag_app);
        param_text(p, q->app_id);
    }
    if (q->states && (q->states & STORE_STATES_ANY) != STORE_STATES_ANY) {
        bool first = true;
        for (int i = 0; i < STORE_STATE__COUNT; i++) {
            if (!(q->states & STORE_STATE_BIT(i)))
                continue;
            ty_buf_puts(sql, first ? frag_states_open : frag_states_more);
            param_text(p, store_state_name((enum store_state)i));
            first = false;
        }
        ty_buf_puts(sql, frag_states_close);
    }
    for (size_t i = 0; i < q->n_labels; i++) {
        ty_buf_puts(sql, frag_label);
        param_text(p, q->labels[i].key);
        param_text(p, q->labels[i].value);
    }
    if (q->created_from) {
        ty_buf_puts(sql, frag_from);
        param_num(p, q->created_from);
    }
    if (q->created_to) {
        ty_buf_puts(sql, frag_to);
        param_num(p, q->created_to);
    }
}

static int check_query(const struct store_query *q, struct ty_error *err)
{
    if (q->limit < 0)
        return ty_error_set(err, TY_EINVAL, "store: negative limit %d", q->limit);
    if (q->n_labels > STORE_QUERY_MAX_LABELS)
        return ty_error_set(err, TY_EINVAL, "store: at most %d label filters, not %zu",
                            STORE_QUERY_MAX_LABELS, q->n_labels);
    for (size_t i = 0; i < q->n_labels; i++)
        if (!q->labels[i].key || !q->labels[i].value)
            return ty_error_set(err, TY_EINVAL, "store: label filter %zu lacks a key or value",
                                i + 1);
    if (q->states & ~STORE_STATES_ANY)
        return ty_error_set(err, TY_EINVAL, "store: unknown state bits 0x%x", q->states);
    return 0;
}

static int
count_total(struct store *st, const struct store_query *q, int64_t *out, struct ty_error *err)
{
    struct ty_buf sql = TY_BUF_INIT;
    struct params p = {.n = 0};
    sqlite3_stmt *s = NULL;
    int rc;

    *out = 0;
    /* Filtered only by state (or not at all, as the admin's first history page
     * is): the trigger-kept counts answer without scanning the history. */
    if (!q->username && !q->app_id && q->n_labels == 0 && !q->created_from && !q->created_to) {
        int64_t counts[STORE_STATE__COUNT];
        uint32_t mask = q->states ? q->states : STORE_STATES_ANY;
        rc = store_stats_by_state(st, counts, err);
        for (int i = 0; rc == 0 && i < STORE_STATE__COUNT; i++)
            if (mask & STORE_STATE_BIT(i))
                *out += counts[i];
        return rc;
    }
    ty_buf_puts(&sql, frag_count);
    build_where(&sql, &p, q);
    rc = stmt_get_dyn(st, ty_buf_cstr(&sql), &s, err);
    if (rc)
        goto out;
    bind_params(s, &p);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = store_fail(st, rc, err, "count sessions");
    }
    stmt_done(s);
out:
    ty_buf_cleanup(&sql);
    return rc;
}

int store_session_list(struct store *st,
                       const struct store_query *q,
                       struct store_page *out,
                       struct ty_error *err)
{
    struct ty_buf sql = TY_BUF_INIT;
    struct params p = {.n = 0};
    sqlite3_stmt *s = NULL;
    char *after_id = NULL;
    int64_t after_created = 0;
    int limit;
    int rc;

    memset(out, 0, sizeof(*out));
    out->total = -1;
    rc = check_query(q, err);
    if (rc)
        return rc;
    if (q->cursor) {
        rc = cursor_decode(q->cursor, &after_created, &after_id, err);
        if (rc)
            return rc;
    }
    limit = q->limit == 0 ? STORE_LIST_DEFAULT : q->limit;
    if (limit > STORE_LIST_MAX)
        limit = STORE_LIST_MAX;

    ty_buf_puts(&sql, frag_select);
    build_where(&sql, &p, q);
    if (after_id) {
        ty_buf_puts(&sql, frag_after);
        param_num(&p, after_created);
        param_text(&p, after_id);
    }
    ty_buf_puts(&sql, frag_order);
    /* One extra row tells whether another page follows. */
    param_num(&p, limit + 1);

    rc = stmt_get_dyn(st, ty_buf_cstr(&sql), &s, err);
    if (rc)
        goto out;
    bind_params(s, &p);
    rc = sessions_collect(st, s, false, &out->items, &out->n, err);
    if (rc)
        goto out;
    if (out->n > (size_t)limit) {
        store_session_cleanup(&out->items[limit]);
        out->n = (size_t)limit;
        out->next_cursor =
            cursor_encode(out->items[limit - 1].created_at, out->items[limit - 1].id);
    }
    for (size_t i = 0; q->with_labels && i < out->n; i++) {
        rc = session_load_labels(st, &out->items[i], err);
        if (rc)
            goto out;
    }
    if (!q->skip_total) {
        rc = count_total(st, q, &out->total, err);
        if (rc)
            goto out;
    }
out:
    if (rc)
        store_page_cleanup(out);
    free(after_id);
    ty_buf_cleanup(&sql);
    return rc;
}

/* ---------------------------------------------------------------- statistics */

void store_counts_free(struct store_count *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].key);
    free(v);
}

/* Runs a "key, count" statement over [from, to); day_keys turns the integer
 * day number into "YYYY-MM-DD". */
static int counts_run(struct store *st,
                      enum stmt_id id,
                      int64_t from,
                      int64_t to,
                      bool day_keys,
                      struct store_count **out,
                      size_t *n_out,
                      struct ty_error *err)
{
    struct store_count *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    if (to && from && to <= from)
        return ty_error_set(err, TY_EINVAL, "store: empty time range");
    rc = stmt_get(st, id, &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, from ? from : INT64_MIN);
    sqlite3_bind_int64(s, 2, to ? to : INT64_MAX);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = ty_xrealloc(v, cap * sizeof(*v));
        }
        if (day_keys) {
            char iso[40];
            ty_time_format_iso(iso, sizeof(iso), sqlite3_column_int64(s, 0) * 86400000, 0);
            iso[10] = '\0';
            v[n].key = ty_xstrdup(iso);
        } else {
            v[n].key = col_dup(s, 0);
        }
        v[n].count = sqlite3_column_int64(s, 1);
        n++;
    }
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "count sessions");
        store_counts_free(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}

int store_stats_by_app(struct store *st,
                       int64_t from,
                       int64_t to,
                       struct store_count **out,
                       size_t *n_out,
                       struct ty_error *err)
{
    return counts_run(st, STMT_STATS_APP, from, to, false, out, n_out, err);
}

int store_stats_by_user(struct store *st,
                        int64_t from,
                        int64_t to,
                        struct store_count **out,
                        size_t *n_out,
                        struct ty_error *err)
{
    return counts_run(st, STMT_STATS_USER, from, to, false, out, n_out, err);
}

int store_stats_by_day(struct store *st,
                       int64_t from,
                       int64_t to,
                       struct store_count **out,
                       size_t *n_out,
                       struct ty_error *err)
{
    return counts_run(st, STMT_STATS_DAY, from, to, true, out, n_out, err);
}

int store_stats_by_state(struct store *st, int64_t out[STORE_STATE__COUNT], struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    memset(out, 0, sizeof(int64_t) * STORE_STATE__COUNT);
    rc = stmt_get(st, STMT_STATS_STATE, &s, err);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        enum store_state state;
        if (store_state_parse(&state, (const char *)sqlite3_column_text(s, 0), NULL) == 0)
            out[state] = sqlite3_column_int64(s, 1);
    }
    stmt_done(s);
    if (rc != SQLITE_DONE)
        return store_fail(st, rc, err, "count sessions by state");
    return 0;
}

/* A start (+1) or end (-1) of a session's life, for the sweep below. */
struct edge {
    int64_t at;
    int delta;
};

static int edge_cmp(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;

    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    /* Ends before starts at the same instant: [start, end) intervals. */
    return x->delta - y->delta;
}

int store_stats_concurrency(struct store *st,
                            int64_t from,
                            int64_t to,
                            int64_t step,
                            int64_t **out,
                            size_t *n_out,
                            struct ty_error *err)
{
    struct edge *edges = NULL;
    size_t ne = 0, cap = 0, j = 0;
    int64_t *series = NULL, cur = 0;
    size_t nb;
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    if (to <= from || step <= 0)
        return ty_error_set(err, TY_EINVAL, "store: concurrency needs from < to and step > 0");
    if ((to - from) / step >= 10000)
        return ty_error_set(err, TY_EINVAL, "store: concurrency: at most 10000 buckets");
    nb = (size_t)((to - from + step - 1) / step);
    rc = stmt_get(st, STMT_STATS_INTERVALS, &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(s, 0);
        bool ends = sqlite3_column_type(s, 1) != SQLITE_NULL;
        int64_t end = sqlite3_column_int64(s, 1);
        if (ne + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            edges = ty_xrealloc(edges, cap * sizeof(*edges));
        }
        edges[ne++] = (struct edge){start < from ? from : start, +1};
        if (ends && end < to)
            edges[ne++] = (struct edge){end, -1};
    }
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "read session intervals");
        goto out;
    }
    rc = 0;
    if (ne > 0)
        qsort(edges, ne, sizeof(*edges), edge_cmp);
    series = ty_xcalloc(nb, sizeof(*series));
    for (size_t b = 0; b < nb; b++) {
        int64_t bs = from + (int64_t)b * step;
        int64_t be = bs + step < to ? bs + step : to;
        int64_t peak;
        /* Settle everything at the bucket's first instant, then track the peak. */
        while (j < ne && edges[j].at <= bs)
            cur += edges[j++].delta;
        peak = cur;
        while (j < ne && edges[j].at < be) {
            cur += edges[j++].delta;
            if (cur > peak)
                peak = cur;
        }
        series[b] = peak;
    }
    *out = series;
    *n_out = nb;
out:
    free(edges);
    return rc;
}
