/*
 * api_admin.c - what administrators ask: the session history (every session
 * ever recorded, filtered by user, app, state, label and creation time, in
 * keyset pages), statistics (sessions per app, per user, per day, and the
 * number alive at once over time), and the registry: its status (source,
 * live commit, load time, warnings, last refresh error) and a reload.
 *
 * The history also comes as CSV (GET /v1/admin/history.csv, the same
 * filters, every matching row), for spreadsheets: fields a spreadsheet would
 * run as formulas are neutralised (csv_field).
 *
 * History and statistics read the store through the session service or a
 * pooled connection; nothing here changes a session.
 */
#include "api/api_srv.h"
#include "registry/registry.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

#include <stdlib.h>
#include <string.h>

/* A time query parameter: RFC 3339 or milliseconds since the epoch. */
static int query_time(int64_t *out, const char *query, const char *key, struct ty_error *err)
{
    char v[64];
    int rc = api_query_get(v, sizeof(v), query, key, err);
    if (rc <= 0)
        return rc;
    if (ty_time_parse_iso(v, out) == 0)
        return 1;
    if (ty_str_to_i64(v, 0, INT64_MAX / 2, out) == 0)
        return 1;
    return ty_error_set(err, TY_EINVAL,
                        "query parameter '%s' must be an RFC 3339 time (2026-11-23T09:30:00Z) "
                        "or milliseconds since the epoch, got '%.40s'",
                        key, v);
}

/* The history filters shared by the page and the CSV: what api_list_query()
 * reads (state, app, label; limit and cursor when allowed) plus user, from
 * and to.  user_buf holds the user name q points at. */
static int history_query(struct store_query *q,
                         struct api_list_strings *strs,
                         char *user_buf,
                         size_t user_len,
                         struct api_req *req,
                         const char *const *allowed,
                         struct ty_error *err)
{
    int rc;
    memset(q, 0, sizeof(*q));
    if ((rc = api_query_check(req->query, allowed, err)) < 0)
        return rc;
    if ((rc = api_list_query(q, strs, req, err)) < 0)
        return rc;
    if ((rc = api_query_get(user_buf, user_len, req->query, "user", err)) < 0)
        return rc;
    if (rc > 0)
        q->username = user_buf;
    if ((rc = query_time(&q->created_from, req->query, "from", err)) < 0 ||
        (rc = query_time(&q->created_to, req->query, "to", err)) < 0)
        return rc;
    if (q->created_from && q->created_to && q->created_to <= q->created_from)
        return ty_error_set(err, TY_EINVAL, "'to' must be after 'from'");
    q->with_labels = true;
    return 0;
}

static int history(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    static const char *const allowed[] = {"limit", "cursor", "state", "app", "label",
                                          "user",  "from",   "to",    NULL};
    struct store_query q;
    struct store_page pg;
    struct api_list_strings strs;
    char user[128];
    int rc;
    if ((rc = history_query(&q, &strs, user, sizeof(user), req, allowed, err)) < 0)
        return rc;
    rc = session_list(&pg, req->srv->svc, &q, err);
    if (rc < 0) {
        if (rc == TY_EINVAL && q.cursor)
            return ty_error_set(err, TY_EINVAL, "bad cursor: %s", err->msg);
        return rc;
    }
    api_resp_json(resp, 200, api_page_json(&pg));
    store_page_cleanup(&pg);
    return 0;
}

/* ---- history as CSV ------------------------------------------------------ */

/* The most rows one export holds (about 20 MB): beyond it, narrow the filter. */
#define HISTORY_CSV_MAX_ROWS 50000

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
 * break, quotes doubled.  A field a spreadsheet would take for a formula (it
 * starts with =, +, -, @, a tab or a carriage return) gets a leading
 * apostrophe: user names, labels and reasons come from users, and opening the
 * export must never run what they typed. */
static void csv_field(struct ty_buf *b, const char *v, bool last)
{
    if (v && *v) {
        bool formula = strchr("=+-@\t\r", v[0]) != NULL;
        bool quote = formula || strpbrk(v, ",\"\r\n") != NULL;
        if (quote)
            ty_buf_putc(b, '"');
        if (formula)
            ty_buf_putc(b, '\'');
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                ty_buf_putc(b, '"');
            ty_buf_putc(b, *p);
        }
        if (quote)
            ty_buf_putc(b, '"');
    }
    ty_buf_puts(b, last ? "\r\n" : ",");
}

static void csv_time(struct ty_buf *b, int64_t ms)
{
    char t[40] = "";
    if (ms > 0)
        ty_time_format_iso(t, sizeof(t), ms, 0);
    csv_field(b, t, false);
}

static void csv_row(struct ty_buf *b, const struct store_session *s)
{
    char num[32];
    csv_field(b, s->id, false);
    csv_time(b, s->created_at);
    csv_time(b, s->ready_at);
    csv_time(b, s->stopped_at);
    csv_field(b, s->username, false);
    csv_field(b, s->app_id, false);
    csv_field(b, store_state_name(s->state), false);
    csv_field(b, s->state_reason, false);
    csv_field(b, s->stopped_by, false);
    csv_field(b, s->stop_reason, false);
    snprintf(num, sizeof(num), "%g", (double)s->cpu_millis / 1000.0);
    csv_field(b, s->cpu_millis > 0 ? num : "", false);
    snprintf(num, sizeof(num), "%lld", (long long)s->memory_bytes);
    csv_field(b, s->memory_bytes > 0 ? num : "", false);
    snprintf(num, sizeof(num), "%d", (int)s->gpus);
    csv_field(b, s->gpus > 0 ? num : "", false);
    /* Labels as one field: key=value pairs separated by "; " (sorted by key). */
    struct ty_buf l = TY_BUF_INIT;
    for (size_t i = 0; i < s->n_labels; i++)
        ty_buf_printf(&l, "%s%s=%s", i ? "; " : "", s->labels[i].key, s->labels[i].value);
    csv_field(b, ty_buf_cstr(&l), true);
    ty_buf_cleanup(&l);
}

/* GET /v1/admin/history.csv: every session the history's filters match (no
 * pages), newest first, as text/csv. */
static int history_csv(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    static const char *const allowed[] = {"state", "app", "label", "user", "from", "to", NULL};
    struct store_query q;
    struct store_page pg;
    struct api_list_strings strs;
    struct ty_buf b = TY_BUF_INIT;
    char user[128], *cursor = NULL;
    int64_t rows = 0;
    int rc;
    memset(&pg, 0, sizeof(pg));
    if ((rc = history_query(&q, &strs, user, sizeof(user), req, allowed, err)) < 0)
        return rc;
    q.limit = STORE_LIST_MAX;
    ty_buf_puts(&b, "id,created_at,ready_at,stopped_at,user,app,state,reason,stopped_by,"
                    "stop_reason,cpu,memory_bytes,gpus,labels\r\n");
    for (;;) {
        q.cursor = cursor;
        q.skip_total = cursor != NULL;
        if ((rc = session_list(&pg, req->srv->svc, &q, err)) < 0)
            goto out;
        if (!cursor && pg.total > HISTORY_CSV_MAX_ROWS) {
            rc = ty_error_set(err, TY_EINVAL,
                              "%lld sessions match; an export holds at most %d: narrow the "
                              "filter (from, to, user, app, state)",
                              (long long)pg.total, HISTORY_CSV_MAX_ROWS);
            goto out;
        }
        for (size_t i = 0; i < pg.n && rows < HISTORY_CSV_MAX_ROWS; i++, rows++)
            csv_row(&b, &pg.items[i]);
        free(cursor);
        cursor = pg.next_cursor;
        pg.next_cursor = NULL;
        store_page_cleanup(&pg);
        if (!cursor || rows >= HISTORY_CSV_MAX_ROWS)
            break;
    }
    api_resp_text(resp, 200, "text/csv; charset=utf-8", b.data, b.len);
    rc = 0;
out:
    store_page_cleanup(&pg);
    free(cursor);
    ty_buf_cleanup(&b);
    return rc;
}

static json_t *counts_json(struct store_count *v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, v[i].key ? v[i].key : "", json_integer(v[i].count));
    store_counts_free(v, n);
    return o;
}

static int stats(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    static const char *const allowed[] = {"from", "to", "step", NULL};
    int64_t now = ty_time_now_ms(), from = now - 7LL * 86400000, to = now, step = 3600000;
    int rc;
    if ((rc = api_query_check(req->query, allowed, err)) < 0)
        return rc;
    if ((rc = query_time(&from, req->query, "from", err)) < 0 ||
        (rc = query_time(&to, req->query, "to", err)) < 0)
        return rc;
    int64_t step_s = step / 1000;
    if ((rc = api_query_int(&step_s, req->query, "step", 1, 365LL * 86400, err)) < 0)
        return rc;
    step = step_s * 1000;
    if (to <= from)
        return ty_error_set(err, TY_EINVAL, "'to' must be after 'from'");
    if ((to - from) / step > 10000)
        return ty_error_set(err, TY_EINVAL,
                            "the range holds more than 10000 steps of %lld s; use a larger step",
                            (long long)step_s);
    struct store *st = NULL;
    rc = api_server_store_get(req->srv, &st, err);
    if (rc < 0)
        return rc;
    struct store_count *a = NULL, *u = NULL, *d = NULL;
    size_t na = 0, nu = 0, nd = 0;
    int64_t *conc = NULL;
    size_t nc = 0;
    int64_t by_state[STORE_STATE__COUNT];
    if ((rc = store_stats_by_app(st, from, to, &a, &na, err)) < 0 ||
        (rc = store_stats_by_user(st, from, to, &u, &nu, err)) < 0 ||
        (rc = store_stats_by_day(st, from, to, &d, &nd, err)) < 0 ||
        (rc = store_stats_concurrency(st, from, to, step, &conc, &nc, err)) < 0 ||
        (rc = store_stats_by_state(st, by_state, err)) < 0) {
        api_server_store_put(req->srv, st);
        store_counts_free(a, na);
        store_counts_free(u, nu);
        store_counts_free(d, nd);
        free(conc);
        return rc;
    }
    api_server_store_put(req->srv, st);
    json_t *series = json_array();
    int64_t peak = 0;
    for (size_t i = 0; i < nc; i++) {
        json_array_append_new(series,
                              json_pack("{s:o, s:I}", "at", api_time_json(from + (int64_t)i * step),
                                        "max", (json_int_t)conc[i]));
        if (conc[i] > peak)
            peak = conc[i];
    }
    free(conc);
    json_t *states = json_object();
    for (int s = 0; s < STORE_STATE__COUNT; s++)
        json_object_set_new(states, store_state_name((enum store_state)s),
                            json_integer(by_state[s]));
    json_t *body = json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:{s:I, s:o}}", "from",
                             api_time_json(from), "to", api_time_json(to), "step_s",
                             (json_int_t)step_s, "by_app", counts_json(a, na), "by_user",
                             counts_json(u, nu), "by_day", counts_json(d, nd), "by_state_now",
                             states, "concurrency", "peak", (json_int_t)peak, "series", series);
    api_resp_json(resp, 200, body);
    return 0;
}

static json_t *registry_json(struct api_server *srv)
{
    json_t *st = registry_holder_status(srv->reg);
    if (!st)
        st = json_object();
    json_object_set_new(st, "context", srv->context ? json_string(srv->context) : json_null());
    return st;
}

static int registry_status(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    api_resp_json(resp, 200, registry_json(req->srv));
    return 0;
}

static int registry_reload(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    bool changed = false;
    int rc = registry_holder_refresh(req->srv->reg, &changed, err);
    if (rc < 0) {
        ty_warn("api", "registry reload failed (the previous version stays live): %s", err->msg);
        return ty_error_wrap(err, "registry reload failed, the previous version stays live: ");
    }
    if (changed)
        api_apps_cache_clear();
    ty_info("api", "registry reloaded%s", changed ? " (changed)" : " (unchanged)");
    api_resp_json(resp, 200,
                  json_pack("{s:b, s:o}", "changed", changed, "registry", registry_json(req->srv)));
    return 0;
}

const struct api_route api_admin_routes[] = {
    {.method = "GET", .path = "/v1/admin/history", .fn = history, .auth = API_AUTH_ADMIN},
    {.method = "GET", .path = "/v1/admin/history.csv", .fn = history_csv, .auth = API_AUTH_ADMIN},
    {.method = "GET", .path = "/v1/admin/stats", .fn = stats, .auth = API_AUTH_ADMIN},
    {.method = "GET", .path = "/v1/registry", .fn = registry_status, .auth = API_AUTH_ANY},
    {.method = "POST",
     .path = "/v1/registry/reload",
     .fn = registry_reload,
     .auth = API_AUTH_ADMIN,
     .json_optional = true},
    {0},
};
