/*
 * store_session.c - session rows: insert, read, state transitions, field
 * updates, activity, labels and the event log.
 *
 * Every write that changes what a session is (its state, resources, labels)
 * happens in one transaction together with the event row that records it, so
 * the log can never disagree with the row.  The state check of a transition is
 * made inside that transaction (BEGIN IMMEDIATE takes the write lock first), so
 * two writers racing on one session serialise: the second sees the first's
 * state and gets TY_ECONFLICT when it no longer expects it.
 */
#include "store/store_int.h"

#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_KEY_MAX   253
#define LABEL_VALUE_MAX 1024

/* ---------------------------------------------------------------- structs */

void store_session_init(struct store_session *s)
{
    memset(s, 0, sizeof(*s));
}

void store_labels_free(struct store_label *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
}

void store_session_cleanup(struct store_session *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->username);
    free(s->app_id);
    free(s->app_name);
    free(s->context);
    free(s->registry_commit);
    free(s->system_name);
    free(s->namespace);
    free(s->state_reason);
    free(s->state_message);
    free(s->url);
    free(s->stopped_by);
    free(s->stop_reason);
    free(s->spec_hash);
    free(s->objects_json);
    store_labels_free(s->labels, s->n_labels);
    memset(s, 0, sizeof(*s));
}

void store_sessions_free(struct store_session *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_session_cleanup(&v[i]);
    free(v);
}

static enum store_state state_from_col(sqlite3_stmt *s, int i)
{
    enum store_state st;
    const char *t = (const char *)sqlite3_column_text(s, i);

    /* The schema's CHECK admits only known names. */
    if (store_state_parse(&st, t, NULL))
        return STORE_STATE_LOST;
    return st;
}

void session_from_row(sqlite3_stmt *s, struct store_session *out)
{
    store_session_init(out);
    out->id = col_dup(s, 0);
    out->username = col_dup(s, 1);
    out->app_id = col_dup(s, 2);
    out->app_name = col_dup(s, 3);
    out->context = col_dup(s, 4);
    out->registry_commit = col_dup(s, 5);
    out->system_name = col_dup(s, 6);
    out->namespace = col_dup(s, 7);
    out->state = state_from_col(s, 8);
    out->state_reason = col_dup(s, 9);
    out->state_message = col_dup(s, 10);
    out->state_deadline_at = col_i64(s, 11);
    out->cpu_millis = col_i64(s, 12);
    out->memory_bytes = col_i64(s, 13);
    out->gpus = col_i64(s, 14);
    out->ephemeral_bytes = col_i64(s, 15);
    out->url = col_dup(s, 16);
    out->created_at = col_i64(s, 17);
    out->updated_at = col_i64(s, 18);
    out->ready_at = col_i64(s, 19);
    out->stopped_at = col_i64(s, 20);
    out->last_activity_at = col_i64(s, 21);
    out->stopped_by = col_dup(s, 22);
    out->stop_reason = col_dup(s, 23);
    out->spec_hash = col_dup(s, 24);
    out->objects_json = col_dup(s, 25);
    out->cpu_active_at = col_i64(s, 26);
    out->cull_warned_at = col_i64(s, 27);
}

int store_session_labels_get(
    struct store *st, const char *id, struct store_label **out, size_t *n_out, struct ty_error *err)
{
    struct store_label *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = stmt_get(st, STMT_LABELS_GET, &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            v = ty_xrealloc(v, cap * sizeof(*v));
        }
        v[n].key = col_dup(s, 0);
        v[n].value = col_dup(s, 1);
        n++;
    }
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "read labels");
        store_labels_free(v, n);
        stmt_done(s);
        return rc;
    }
    stmt_done(s);
    *out = v;
    *n_out = n;
    return 0;
}

int session_load_labels(struct store *st, struct store_session *out, struct ty_error *err)
{
    store_labels_free(out->labels, out->n_labels);
    out->labels = NULL;
    out->n_labels = 0;
    return store_session_labels_get(st, out->id, &out->labels, &out->n_labels, err);
}

int sessions_collect(struct store *st,
                     sqlite3_stmt *s,
                     bool with_labels,
                     struct store_session **out,
                     size_t *n_out,
                     struct ty_error *err)
{
    struct store_session *v = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = ty_xrealloc(v, cap * sizeof(*v));
        }
        session_from_row(s, &v[n++]);
    }
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "read sessions");
        goto out;
    }
    rc = 0;
    /* Labels come from another statement: load them once the rows are read. */
    stmt_done(s);
    for (size_t i = 0; with_labels && i < n; i++) {
        rc = session_load_labels(st, &v[i], err);
        if (rc)
            goto out;
    }
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
out:
    stmt_done(s);
    store_sessions_free(v, n);
    return rc;
}

/* ---------------------------------------------------------------- helpers */

static int event_add(struct store *st,
                     const char *id,
                     int64_t at,
                     const enum store_state *from,
                     enum store_state to,
                     const char *reason,
                     const char *message,
                     const char *actor,
                     struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, STMT_EVENT_INSERT, &s, err);

    if (rc)
        return rc;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, at);
    bind_text(s, 3, from ? store_state_name(*from) : NULL);
    bind_text(s, 4, store_state_name(to));
    bind_text(s, 5, reason);
    bind_text(s, 6, message);
    bind_text(s, 7, actor);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE)
        return store_fail(st, rc, err, "append event");
    return 0;
}

/* The current state of a session; TY_ENOTFOUND when there is none. */
static int state_get(struct store *st, const char *id, enum store_state *out, struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, STMT_SESSION_STATE, &s, err);

    *out = STORE_STATE_REQUESTED;
    if (rc)
        return rc;
    bind_text(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = state_from_col(s, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = ty_error_set(err, TY_ENOTFOUND, "store: no session '%s'", id);
    } else {
        rc = store_fail(st, rc, err, "read session state");
    }
    stmt_done(s);
    return rc;
}

static int check_label(const char *key, const char *value, struct ty_error *err)
{
    size_t kl = key ? strlen(key) : 0;

    if (kl == 0 || kl > LABEL_KEY_MAX)
        return ty_error_set(err, TY_EINVAL, "store: label key must be 1-%d bytes", LABEL_KEY_MAX);
    if (!value || strlen(value) > LABEL_VALUE_MAX)
        return ty_error_set(err, TY_EINVAL, "store: label '%s': value must be at most %d bytes",
                            key, LABEL_VALUE_MAX);
    return 0;
}

static int label_upsert(
    struct store *st, const char *id, const char *key, const char *value, struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, STMT_LABEL_UPSERT, &s, err);

    if (rc)
        return rc;
    bind_text(s, 1, id);
    bind_text(s, 2, key);
    bind_text(s, 3, value);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE)
        return store_fail(st, rc, err, "set label");
    return 0;
}

static int count_live(struct store *st,
                      enum stmt_id id,
                      const char *username,
                      const char *app_id,
                      int64_t *out,
                      struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, id, &s, err);

    *out = 0;
    if (rc)
        return rc;
    /* ?1 is the username and ?2 the app id wherever the text uses them. */
    if (sqlite3_bind_parameter_count(s) >= 1 && username)
        bind_text(s, 1, username);
    if (sqlite3_bind_parameter_count(s) >= 2)
        bind_text(s, 2, app_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = 0;
    } else {
        rc = store_fail(st, rc, err, "count live sessions");
    }
    stmt_done(s);
    return rc;
}

int store_sessions_count_live(
    struct store *st, const char *username, const char *app_id, int64_t *out, struct ty_error *err)
{
    enum stmt_id id = username ? (app_id ? STMT_COUNT_LIVE_USER_APP : STMT_COUNT_LIVE_USER)
                               : (app_id ? STMT_COUNT_LIVE_APP : STMT_COUNT_LIVE_ALL);
    return count_live(st, id, username, app_id, out, err);
}

static int check_limits(struct store *st,
                        const struct store_session *s,
                        const struct store_limits *lim,
                        struct ty_error *err)
{
    int64_t n;
    int rc;

    if (lim->max_per_user > 0) {
        rc = count_live(st, STMT_COUNT_LIVE_USER, s->username, NULL, &n, err);
        if (rc)
            return rc;
        if (n >= lim->max_per_user)
            return ty_error_set(err, TY_ELIMIT,
                                "user '%s' already has %lld running or starting sessions "
                                "(limit %lld)",
                                s->username, (long long)n, (long long)lim->max_per_user);
    }
    if (lim->max_per_user_app > 0) {
        rc = count_live(st, STMT_COUNT_LIVE_USER_APP, s->username, s->app_id, &n, err);
        if (rc)
            return rc;
        if (n >= lim->max_per_user_app)
            return ty_error_set(err, TY_ELIMIT,
                                "user '%s' already has %lld running or starting sessions of app "
                                "'%s' (limit %lld)",
                                s->username, (long long)n, s->app_id,
                                (long long)lim->max_per_user_app);
    }
    if (lim->max_per_app > 0) {
        rc = count_live(st, STMT_COUNT_LIVE_APP, NULL, s->app_id, &n, err);
        if (rc)
            return rc;
        if (n >= lim->max_per_app)
            return ty_error_set(err, TY_ELIMIT,
                                "app '%s' already has %lld running or starting sessions "
                                "(limit %lld)",
                                s->app_id, (long long)n, (long long)lim->max_per_app);
    }
    if (lim->max_global > 0) {
        rc = count_live(st, STMT_COUNT_LIVE_ALL, NULL, NULL, &n, err);
        if (rc)
            return rc;
        if (n >= lim->max_global)
            return ty_error_set(err, TY_ELIMIT,
                                "the platform already runs %lld sessions (limit %lld)",
                                (long long)n, (long long)lim->max_global);
    }
    return 0;
}

/* ---------------------------------------------------------------- insert, get */

static int check_new_session(const struct store_session *s, struct ty_error *err)
{
    if (!store_id_is_valid(s->id))
        return ty_error_set(err, TY_EINVAL,
                            "store: session id '%s' must be 1-64 characters of [A-Za-z0-9_.-]",
                            s->id ? s->id : "(null)");
    if (!s->username || !*s->username)
        return ty_error_set(err, TY_EINVAL, "store: session %s: username is required", s->id);
    if (!s->app_id || !*s->app_id)
        return ty_error_set(err, TY_EINVAL, "store: session %s: app_id is required", s->id);
    if (s->created_at <= 0)
        return ty_error_set(err, TY_EINVAL, "store: session %s: created_at is required", s->id);
    if ((unsigned)s->state >= STORE_STATE__COUNT || store_state_is_final(s->state))
        return ty_error_set(err, TY_EINVAL,
                            "store: session %s: a new session must be in a live state, not %s",
                            s->id, store_state_name(s->state));
    if (s->state_deadline_at <= 0)
        return ty_error_set(err, TY_EINVAL, "store: session %s: state %s needs a deadline", s->id,
                            store_state_name(s->state));
    if (s->cpu_millis < 0 || s->memory_bytes < 0 || s->gpus < 0 || s->ephemeral_bytes < 0)
        return ty_error_set(err, TY_EINVAL, "store: session %s: negative resource request", s->id);
    for (size_t i = 0; i < s->n_labels; i++) {
        int rc = check_label(s->labels[i].key, s->labels[i].value, err);
        if (rc)
            return rc;
    }
    return 0;
}

int store_session_insert(struct store *st,
                         const struct store_session *s,
                         const struct store_limits *lim,
                         const char *actor,
                         struct ty_error *err)
{
    sqlite3_stmt *q = NULL;
    int rc;

    rc = check_new_session(s, err);
    if (rc)
        return rc;
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    if (lim) {
        rc = check_limits(st, s, lim, err);
        if (rc)
            goto fail;
    }
    rc = stmt_get(st, STMT_SESSION_INSERT, &q, err);
    if (rc)
        goto fail;
    bind_text(q, 1, s->id);
    bind_text(q, 2, s->username);
    bind_text(q, 3, s->app_id);
    bind_text(q, 4, s->app_name);
    bind_text(q, 5, s->context);
    bind_text(q, 6, s->registry_commit);
    bind_text(q, 7, s->system_name);
    bind_text(q, 8, s->namespace);
    bind_text(q, 9, store_state_name(s->state));
    bind_text(q, 10, s->state_reason);
    bind_text(q, 11, s->state_message);
    sqlite3_bind_int64(q, 12, s->state_deadline_at);
    sqlite3_bind_int64(q, 13, s->cpu_millis);
    sqlite3_bind_int64(q, 14, s->memory_bytes);
    sqlite3_bind_int64(q, 15, s->gpus);
    sqlite3_bind_int64(q, 16, s->ephemeral_bytes);
    bind_text(q, 17, s->url);
    sqlite3_bind_int64(q, 18, s->created_at);
    sqlite3_bind_int64(q, 19, s->updated_at ? s->updated_at : s->created_at);
    bind_time(q, 20, s->ready_at);
    bind_time(q, 21, 0); /* stopped_at: a new session is live */
    bind_time(q, 22, s->last_activity_at);
    bind_text(q, 23, NULL);
    bind_text(q, 24, NULL);
    bind_text(q, 25, s->spec_hash);
    bind_text(q, 26, s->objects_json);
    rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "insert session");
        if (rc == TY_EEXISTS)
            ty_error_set(err, TY_EEXISTS, "store: session '%s' already exists", s->id);
        goto fail;
    }
    for (size_t i = 0; i < s->n_labels; i++) {
        rc = label_upsert(st, s->id, s->labels[i].key, s->labels[i].value, err);
        if (rc)
            goto fail;
    }
    rc = event_add(st, s->id, s->created_at, NULL, s->state,
                   s->state_reason ? s->state_reason : "created", s->state_message, actor, err);
    if (rc)
        goto fail;
    return tx_commit(st, err);
fail:
    tx_rollback(st);
    return rc;
}

int store_session_get(struct store *st,
                      const char *id,
                      struct store_session *out,
                      struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    store_session_init(out);
    rc = stmt_get(st, STMT_SESSION_GET, &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        session_from_row(s, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = ty_error_set(err, TY_ENOTFOUND, "store: no session '%s'", id ? id : "(null)");
    } else {
        rc = store_fail(st, rc, err, "read session");
    }
    stmt_done(s);
    if (rc == 0)
        rc = session_load_labels(st, out, err);
    if (rc)
        store_session_cleanup(out);
    return rc;
}

/* ---------------------------------------------------------------- transitions */

/* "pending|creating" for a mask, into buf. */
static const char *mask_names(char *buf, size_t n, uint32_t mask)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < STORE_STATE__COUNT; i++) {
        if (!(mask & STORE_STATE_BIT(i)))
            continue;
        const char *name = store_state_name((enum store_state)i);
        size_t k = strlen(name);
        if (len + k + 2 >= n)
            break;
        if (len)
            buf[len++] = '|';
        memcpy(buf + len, name, k + 1);
        len += k;
    }
    return len ? buf : "(none)";
}

int store_session_transition(struct store *st,
                             const char *id,
                             uint32_t expected_from,
                             enum store_state to,
                             const char *reason,
                             const char *message,
                             const char *actor,
                             int64_t deadline_at,
                             int64_t now,
                             enum store_state *prev_out,
                             struct ty_error *err)
{
    enum store_state cur;
    sqlite3_stmt *s = NULL;
    bool to_final, records_stop;
    char names[128];
    int rc;

    if (prev_out)
        *prev_out = STORE_STATE_REQUESTED;
    if ((unsigned)to >= STORE_STATE__COUNT)
        return ty_error_set(err, TY_EINVAL, "store: bad target state %d", (int)to);
    to_final = store_state_is_final(to);
    if (!to_final && deadline_at <= 0)
        return ty_error_set(err, TY_EINVAL,
                            "store: session %s: state %s needs a deadline (never a live state "
                            "without one)",
                            id ? id : "(null)", store_state_name(to));
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = state_get(st, id, &cur, err);
    if (rc)
        goto fail;
    if (prev_out)
        *prev_out = cur;
    if (!(expected_from & STORE_STATE_BIT(cur))) {
        rc =
            ty_error_set(err, TY_ECONFLICT, "store: session %s is %s, not %s: cannot move it to %s",
                         id, store_state_name(cur), mask_names(names, sizeof(names), expected_from),
                         store_state_name(to));
        goto fail;
    }
    if (!store_state_can_transition(cur, to)) {
        rc = ty_error_set(err, TY_ECONFLICT, "store: session %s: %s -> %s is not allowed", id,
                          store_state_name(cur), store_state_name(to));
        goto fail;
    }
    records_stop = to == STORE_STATE_STOPPING || to_final;
    rc = stmt_get(st, STMT_SESSION_TRANSITION, &s, err);
    if (rc)
        goto fail;
    bind_text(s, 1, id);
    bind_text(s, 2, store_state_name(to));
    bind_text(s, 3, reason);
    bind_text(s, 4, message);
    bind_time(s, 5, to_final ? 0 : deadline_at);
    sqlite3_bind_int64(s, 6, now);
    bind_time(s, 7, to == STORE_STATE_RUNNING ? now : 0);
    bind_time(s, 8, to_final ? now : 0);
    sqlite3_bind_int(s, 9, records_stop);
    bind_text(s, 10, actor);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "update session state");
        goto fail;
    }
    rc = event_add(st, id, now, &cur, to, reason, message, actor, err);
    if (rc)
        goto fail;
    return tx_commit(st, err);
fail:
    tx_rollback(st);
    return rc;
}

/* ---------------------------------------------------------------- field updates */

static void bind_opt_i64(sqlite3_stmt *s, int i, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, v);
}

int store_session_update_fields(struct store *st,
                                const char *id,
                                const struct store_session_update *u,
                                int64_t now,
                                struct ty_error *err)
{
    enum store_state cur;
    sqlite3_stmt *s = NULL;
    int rc;

    if (u->ready_at < -1 || u->cpu_millis < -1 || u->memory_bytes < -1 || u->gpus < -1 ||
        u->ephemeral_bytes < -1)
        return ty_error_set(err, TY_EINVAL, "store: session %s: negative value in update",
                            id ? id : "(null)");
    if (u->state_deadline_at == 0 || u->state_deadline_at < -1)
        return ty_error_set(err, TY_EINVAL, "store: session %s: a deadline must be positive",
                            id ? id : "(null)");
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = state_get(st, id, &cur, err);
    if (rc)
        goto fail;
    if (u->state_deadline_at > 0 && store_state_is_final(cur)) {
        rc = ty_error_set(err, TY_EINVAL, "store: session %s is %s: a final state has no deadline",
                          id, store_state_name(cur));
        goto fail;
    }
    rc = stmt_get(st, STMT_SESSION_UPDATE, &s, err);
    if (rc)
        goto fail;
    bind_text(s, 1, id);
    bind_text(s, 2, u->url);
    bind_text(s, 3, u->namespace);
    bind_text(s, 4, u->objects_json);
    bind_text(s, 5, u->spec_hash);
    bind_text(s, 6, u->state_message);
    bind_opt_i64(s, 7, u->ready_at);
    bind_opt_i64(s, 8, u->cpu_millis);
    bind_opt_i64(s, 9, u->memory_bytes);
    bind_opt_i64(s, 10, u->gpus);
    bind_opt_i64(s, 11, u->ephemeral_bytes);
    bind_opt_i64(s, 12, u->state_deadline_at);
    sqlite3_bind_int64(s, 13, now);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "update session");
        goto fail;
    }
    if (u->event_reason) {
        rc = event_add(st, id, now, &cur, cur, u->event_reason, u->event_message, u->actor, err);
        if (rc)
            goto fail;
    }
    return tx_commit(st, err);
fail:
    tx_rollback(st);
    return rc;
}

int store_session_touch_activity(struct store *st, const char *id, int64_t at, struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, STMT_SESSION_TOUCH, &s, err);

    if (rc)
        return rc;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, at);
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE)
        return store_fail(st, rc, err, "record activity");
    if (sqlite3_changes(st->db) == 0)
        return ty_error_set(err, TY_ENOTFOUND, "store: no session '%s'", id ? id : "(null)");
    return 0;
}

/* ---------------------------------------------------------------- the culler */

int store_session_cpu_active(struct store *st,
                             const struct store_cpu_active *items,
                             size_t n,
                             size_t *n_updated_out,
                             struct ty_error *err)
{
    sqlite3_stmt *s = NULL;
    size_t updated = 0;
    int rc;

    if (n_updated_out)
        *n_updated_out = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].id || items[i].at <= 0)
            return ty_error_set(err, TY_EINVAL, "store: CPU activity %zu: %s", i,
                                !items[i].id ? "no session id" : "the time must be > 0");
    if (n == 0)
        return 0;
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = stmt_get(st, STMT_SESSION_CPU_ACTIVE, &s, err);
    if (rc)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        bind_text(s, 1, items[i].id);
        sqlite3_bind_int64(s, 2, items[i].at);
        rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            rc = store_fail(st, rc, err, "record CPU activity");
            goto fail;
        }
        sqlite3_reset(s);
        /* A session deleted meanwhile is no longer anyone's concern. */
        updated += (size_t)sqlite3_changes(st->db);
    }
    stmt_done(s);
    rc = tx_commit(st, err);
    if (rc)
        return rc;
    if (n_updated_out)
        *n_updated_out = updated;
    return 0;
fail:
    stmt_done(s);
    tx_rollback(st);
    return rc;
}

/* Steps s (bound by the caller) for session id and, when reason is not NULL,
 * appends an event in the session's current state, in one transaction.  An
 * unknown session is TY_ENOTFOUND; so is, with must_change, a step that
 * changed no row (missing is the message).  Resets s. */
static int write_with_event(struct store *st,
                            const char *id,
                            sqlite3_stmt *s,
                            const char *what,
                            bool must_change,
                            const char *missing,
                            int64_t at,
                            const char *reason,
                            const char *message,
                            const char *actor,
                            struct ty_error *err)
{
    enum store_state cur;
    int rc = tx_begin(st, err);

    if (rc) {
        stmt_done(s);
        return rc;
    }
    rc = state_get(st, id, &cur, err);
    if (rc) {
        stmt_done(s);
        goto fail;
    }
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, what);
        goto fail;
    }
    if (must_change && sqlite3_changes(st->db) == 0) {
        rc = ty_error_set(err, TY_ENOTFOUND, "store: %s", missing);
        goto fail;
    }
    if (reason && (rc = event_add(st, id, at, &cur, cur, reason, message, actor, err)) != 0)
        goto fail;
    return tx_commit(st, err);
fail:
    tx_rollback(st);
    return rc;
}

int store_session_cull_warned(struct store *st,
                              const char *id,
                              int64_t at,
                              const char *message,
                              const char *actor,
                              struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    if (at <= 0)
        return ty_error_set(err, TY_EINVAL, "store: a cull warning needs a time > 0");
    rc = stmt_get(st, STMT_SESSION_CULL_WARNED, &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, at);
    return write_with_event(st, id, s, "record cull warning", false, NULL, at, "cull-warning",
                            message, actor ? actor : "culler", err);
}

/* ---------------------------------------------------------------- labels */

int store_session_label_set(struct store *st,
                            const char *id,
                            const char *key,
                            const char *value,
                            const char *actor,
                            int64_t now,
                            struct ty_error *err)
{
    enum store_state cur;
    char *msg = NULL;
    int rc = check_label(key, value, err);

    if (rc)
        return rc;
    rc = tx_begin(st, err);
    if (rc)
        return rc;
    rc = state_get(st, id, &cur, err);
    if (rc)
        goto fail;
    rc = label_upsert(st, id, key, value, err);
    if (rc)
        goto fail;
    if (actor) {
        msg = ty_xasprintf("%s=%s", key, value);
        rc = event_add(st, id, now, &cur, cur, "label", msg, actor, err);
        free(msg);
        if (rc)
            goto fail;
    }
    return tx_commit(st, err);
fail:
    tx_rollback(st);
    return rc;
}

int store_session_label_delete(struct store *st,
                               const char *id,
                               const char *key,
                               const char *actor,
                               int64_t now,
                               struct ty_error *err)
{
    sqlite3_stmt *s = NULL;
    char missing[600], *msg;
    int rc = stmt_get(st, STMT_LABEL_DELETE, &s, err);

    if (rc)
        return rc;
    bind_text(s, 1, id);
    bind_text(s, 2, key);
    snprintf(missing, sizeof missing, "session %s has no label '%s'", id ? id : "(null)",
             key ? key : "(null)");
    msg = ty_xasprintf("%s deleted", key ? key : "(null)");
    rc = write_with_event(st, id, s, "delete label", true, missing, now, actor ? "label" : NULL,
                          msg, actor, err);
    free(msg);
    return rc;
}

/* ---------------------------------------------------------------- events */

void store_events_free(struct store_event *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].session_id);
        free(v[i].reason);
        free(v[i].message);
        free(v[i].actor);
    }
    free(v);
}

int store_events_list(struct store *st,
                      const char *session_id,
                      struct store_event **out,
                      size_t *n_out,
                      struct ty_error *err)
{
    struct store_event *v = NULL;
    size_t n = 0, cap = 0;
    enum store_state cur;
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = state_get(st, session_id, &cur, err);
    if (rc)
        return rc;
    rc = stmt_get(st, STMT_EVENTS_LIST, &s, err);
    if (rc)
        return rc;
    bind_text(s, 1, session_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_event *e;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = ty_xrealloc(v, cap * sizeof(*v));
        }
        e = &v[n++];
        memset(e, 0, sizeof(*e));
        e->id = col_i64(s, 0);
        e->session_id = col_dup(s, 1);
        e->at = col_i64(s, 2);
        e->has_from = sqlite3_column_type(s, 3) != SQLITE_NULL;
        e->from = e->has_from ? state_from_col(s, 3) : STORE_STATE_REQUESTED;
        e->to = state_from_col(s, 4);
        e->reason = col_dup(s, 5);
        e->message = col_dup(s, 6);
        e->actor = col_dup(s, 7);
    }
    stmt_done(s);
    if (rc != SQLITE_DONE) {
        rc = store_fail(st, rc, err, "read events");
        store_events_free(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* ---------------------------------------------------------------- lists for loops */

static int clamp_limit(int limit)
{
    if (limit <= 0)
        return STORE_LIST_DEFAULT;
    return limit > STORE_LIST_MAX ? STORE_LIST_MAX : limit;
}

int store_sessions_due(struct store *st,
                       int64_t now,
                       int limit,
                       struct store_session **out,
                       size_t *n_out,
                       struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = stmt_get(st, STMT_SESSIONS_DUE, &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int(s, 2, clamp_limit(limit));
    return sessions_collect(st, s, false, out, n_out, err);
}

int store_sessions_live(struct store *st,
                        struct store_session **out,
                        size_t *n_out,
                        struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = stmt_get(st, STMT_SESSIONS_LIVE, &s, err);
    if (rc)
        return rc;
    return sessions_collect(st, s, false, out, n_out, err);
}

int store_sessions_idle(struct store *st,
                        int64_t before,
                        int limit,
                        struct store_session **out,
                        size_t *n_out,
                        struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = stmt_get(st, STMT_SESSIONS_IDLE, &s, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int(s, 2, clamp_limit(limit));
    return sessions_collect(st, s, false, out, n_out, err);
}
