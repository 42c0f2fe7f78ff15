/*
 * store.c - opening a connection, migrations, transactions, the statement
 * cache, the connection pool and the session state machine.
 *
 * A connection is configured the same way every time (busy_timeout first, so the
 * other pragmas wait for a concurrent writer instead of failing; then foreign
 * keys, WAL and synchronous=NORMAL, which in WAL mode loses at most the last
 * transactions on power loss, never consistency).  Migrations are numbered SQL
 * files; each runs in its own BEGIN IMMEDIATE transaction together with the
 * `PRAGMA user_version = N` that records it, so a failure leaves the database
 * at the last good version.  The version is re-read inside that transaction, so
 * two processes migrating at once apply each migration exactly once.
 */
#include "store/store_int.h"

#include "util/embed.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

int store_fail(struct store *st, int rc, struct ty_error *err, const char *what)
{
    enum ty_code code = TY_ERR;
    int prim = rc & 0xff;

    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        code = TY_EEXISTS;
    else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        code = TY_ENOTFOUND;
    else if (prim == SQLITE_CONSTRAINT)
        code = TY_EINVAL;
    else if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        code = TY_ETIMEOUT;
    return ty_error_set(err, code, "store: %s: %s", what,
                        st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

int stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out, struct ty_error *err)
{
    int rc;

    *out = NULL;
    if (!st->stmts[id]) {
        rc = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &st->stmts[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(st, rc, err, "prepare");
    }
    *out = st->stmts[id];
    return 0;
}

int stmt_get_dyn(struct store *st, const char *sql, sqlite3_stmt **out, struct ty_error *err)
{
    struct store_dyn *slot = NULL;
    int rc;

    *out = NULL;
    st->dyn_clock++;
    for (int i = 0; i < STORE_DYN_CACHE; i++) {
        struct store_dyn *d = &st->dyn[i];
        if (d->sql && !strcmp(d->sql, sql)) {
            d->used = st->dyn_clock;
            *out = d->stmt;
            return 0;
        }
        if (!slot || !d->sql || (slot->sql && d->used < slot->used))
            slot = d;
    }
    /* Miss: reuse an empty slot, or evict the least recently used one. */
    if (slot->sql) {
        sqlite3_finalize(slot->stmt);
        free(slot->sql);
        slot->sql = NULL;
        slot->stmt = NULL;
    }
    rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
    if (rc != SQLITE_OK)
        return store_fail(st, rc, err, "prepare list query");
    slot->sql = ty_xstrdup(sql);
    slot->used = st->dyn_clock;
    *out = slot->stmt;
    return 0;
}

void stmt_done(sqlite3_stmt *stmt)
{
    if (!stmt)
        return;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

int bind_time(sqlite3_stmt *s, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? ty_xstrdup((const char *)t) : NULL;
}

int64_t col_i64(sqlite3_stmt *s, int i)
{
    return sqlite3_column_int64(s, i);
}

bool store_id_is_valid(const char *id)
{
    size_t n = 0;

    if (!id)
        return false;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return n >= 1 && n <= 64;
}

/* Steps a statement that returns no rows, then resets it. */
static int exec_stmt(struct store *st, enum stmt_id id, struct ty_error *err, const char *what)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, id, &s, err);

    if (rc)
        return rc;
    rc = sqlite3_step(s);
    stmt_done(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_fail(st, rc, err, what);
    return 0;
}

/* ---------------------------------------------------------------- transactions */

int tx_begin(struct store *st, struct ty_error *err)
{
    int rc;

    if (st->tx_depth == 0)
        rc = exec_stmt(st, STMT_BEGIN, err, "begin");
    else
        rc = exec_stmt(st, STMT_SAVEPOINT, err, "savepoint");
    if (rc == 0)
        st->tx_depth++;
    return rc;
}

int tx_commit(struct store *st, struct ty_error *err)
{
    int rc;

    if (st->tx_depth <= 0)
        return ty_error_set(err, TY_ERR, "store: commit without a transaction");
    if (st->tx_depth == 1) {
        rc = exec_stmt(st, STMT_COMMIT, err, "commit");
        if (rc) {
            /* A failed COMMIT leaves the transaction open: undo it. */
            tx_rollback(st);
            return rc;
        }
    } else {
        rc = exec_stmt(st, STMT_RELEASE, err, "release savepoint");
        if (rc) {
            tx_rollback(st);
            return rc;
        }
    }
    st->tx_depth--;
    return 0;
}

void tx_rollback(struct store *st)
{
    if (st->tx_depth <= 0)
        return;
    if (st->tx_depth == 1) {
        /* SQLite may already have rolled back (e.g. after SQLITE_FULL). */
        if (!sqlite3_get_autocommit(st->db))
            exec_stmt(st, STMT_ROLLBACK, NULL, "rollback");
    } else {
        exec_stmt(st, STMT_ROLLBACK_TO, NULL, "rollback to savepoint");
        exec_stmt(st, STMT_RELEASE, NULL, "release savepoint");
    }
    st->tx_depth--;
}

int store_tx_begin(struct store *st, struct ty_error *err)
{
    return tx_begin(st, err);
}

int store_tx_commit(struct store *st, struct ty_error *err)
{
    return tx_commit(st, err);
}

void store_tx_rollback(struct store *st)
{
    tx_rollback(st);
}

/* ---------------------------------------------------------------- migrations */

/* Number of migrations in m (NULL: the embedded set). */
static int migrations_count(const struct store_migration *m)
{
    int n = 0;

    if (!m) {
        while (ty_embed_migrations_files[n].path)
            n++;
        return n;
    }
    while (m[n].name)
        n++;
    return n;
}

static void
migration_at(const struct store_migration *m, int i, const char **name, const char **sql)
{
    if (!m) {
        *name = ty_embed_migrations_files[i].path;
        *sql = (const char *)ty_embed_migrations_files[i].data;
    } else {
        *name = m[i].name;
        *sql = m[i].sql;
    }
}

/* A migration's name must begin with its version as four digits and '_':
 * "0001_initial.sql" is version 1.  Gaps and duplicates are refused. */
static int migration_check_name(const char *name, int version, struct ty_error *err)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            goto bad;
        v = v * 10 + (name[i] - '0');
    }
    if (name[4] != '_' || v != version)
        goto bad;
    return 0;
bad:
    return ty_error_set(err, TY_ERR,
                        "store: migration '%s': name must start with %04d_ (its position)", name,
                        version);
}

int store_schema_version_latest(void)
{
    return migrations_count(NULL);
}

static int read_user_version(struct store *st, int *out, struct ty_error *err)
{
    sqlite3_stmt *s;
    int rc = stmt_get(st, STMT_USER_VERSION, &s, err);

    *out = 0;
    if (rc)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        rc = 0;
    } else {
        rc = store_fail(st, rc, err, "read user_version");
    }
    stmt_done(s);
    return rc;
}

int store_schema_version(struct store *st)
{
    int v;
    return read_user_version(st, &v, NULL) ? -1 : v;
}

/* "PRAGMA user_version = N": PRAGMA takes no bound parameters, so the text is
 * assembled here from a fixed prefix and the digits of our own counter (never
 * from input). */
static void user_version_sql(char out[48], int v)
{
    static const char prefix[] = "PRAGMA user_version = ";
    char digits[12];
    int n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < 11);
    memcpy(out, prefix, sizeof(prefix) - 1);
    for (int i = 0; i < n; i++)
        out[sizeof(prefix) - 1 + i] = digits[n - 1 - i];
    out[sizeof(prefix) - 1 + n] = '\0';
}

static int exec_text(struct store *st, const char *sql, struct ty_error *err, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        ty_error_set(err, TY_ERR, "store: %s: %s", what, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return TY_ERR;
    }
    return 0;
}

/* Applies migration number v (1-based) unless the database already has it. */
static int
migration_apply(struct store *st, int v, const char *name, const char *sql, struct ty_error *err)
{
    char pragma[48];
    int cur, rc;

    rc = tx_begin(st, err);
    if (rc)
        return ty_error_wrap(err, "migration %s: ", name);
    rc = read_user_version(st, &cur, err);
    if (rc)
        goto fail;
    if (cur >= v) /* another process got there first */
        return tx_commit(st, err);
    rc = exec_text(st, sql, err, name);
    if (rc)
        goto fail;
    user_version_sql(pragma, v);
    rc = exec_text(st, pragma, err, name);
    if (rc)
        goto fail;
    return tx_commit(st, err);
fail:
    tx_rollback(st);
    ty_error_wrap(err,
                  "migration failed and was rolled back; the database stays at version %d: ", cur);
    return TY_ERR;
}

static int migrations_run(
    struct store *st, const struct store_opts *o, int *from_out, int *to_out, struct ty_error *err)
{
    const struct store_migration *m = o->migrations;
    int latest = migrations_count(m);
    int v, rc;

    for (int i = 0; i < latest; i++) {
        const char *name, *sql;
        migration_at(m, i, &name, &sql);
        rc = migration_check_name(name, i + 1, err);
        if (rc)
            return rc;
    }
    rc = read_user_version(st, &v, err);
    if (rc)
        return rc;
    *from_out = v;
    *to_out = v;
    if (v > latest)
        return ty_error_set(err, TY_ECONFLICT,
                            "store: database %s has schema version %d but this tycho knows only "
                            "up to %d: it was written by a newer tycho; refusing to use it",
                            st->path, v, latest);
    if (v == latest)
        return 0;
    if (o->no_migrate)
        return ty_error_set(err, TY_ECONFLICT,
                            "store: database %s is at schema version %d, this tycho needs %d: "
                            "run `tycho migrate --db %s`",
                            st->path, v, latest, st->path);
    for (int i = v; i < latest; i++) {
        const char *name, *sql;
        migration_at(m, i, &name, &sql);
        rc = migration_apply(st, i + 1, name, sql, err);
        if (rc)
            return rc;
        *to_out = i + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- open, close */

static int open_impl(struct store **out,
                     const char *path,
                     const struct store_opts *o,
                     int *from_out,
                     int *to_out,
                     struct ty_error *err)
{
    static const struct store_opts defaults = STORE_OPTS_INIT;
    struct store *st = NULL;
    int from = 0, to = 0;
    int rc;

    *out = NULL;
    if (!o)
        o = &defaults;
    if (!path || !*path)
        return ty_error_set(err, TY_EINVAL, "store: no database path");
    st = ty_xcalloc(1, sizeof(*st));
    st->path = ty_xstrdup(path);
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = ty_error_set(err, TY_ERR, "store: open %s: %s", path,
                          st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(st->db, 1);
    /* The busy timeout first: the pragmas below may need a lock another
     * connection holds. */
    sqlite3_busy_timeout(st->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
    rc = exec_text(st, "PRAGMA foreign_keys = ON", err, "enable foreign keys");
    if (rc == 0)
        rc = exec_text(st, "PRAGMA journal_mode = WAL", err, "enable WAL");
    if (rc == 0)
        rc = exec_text(st, "PRAGMA synchronous = NORMAL", err, "set synchronous");

    if (rc) {
        ty_error_wrap(err, "%s: ", path);
        goto out;
    }
    rc = migrations_run(st, o, &from, &to, err);
    if (rc)
        goto out;
    st->is_ready = true;
    *out = st;
    st = NULL;
out:
    if (from_out)
        *from_out = from;
    if (to_out)
        *to_out = to;
    store_close(st);
    return rc;
}

int store_open(struct store **out,
               const char *path,
               const struct store_opts *o,
               struct ty_error *err)
{
    return open_impl(out, path, o, NULL, NULL, err);
}

int store_migrate(const char *path, int *from_out, int *to_out, struct ty_error *err)
{
    struct store *st = NULL;
    int rc = open_impl(&st, path, NULL, from_out, to_out, err);

    if (rc == 0 && st)
        rc = store_optimize(st, err);
    store_close(st);
    return rc;
}

int store_optimize(struct store *st, struct ty_error *err)
{
    return exec_stmt(st, STMT_ANALYZE, err, "analyze");
}

void store_close(struct store *st)
{
    if (!st)
        return;
    while (st->tx_depth > 0)
        tx_rollback(st);
    /* SQLite's advice for short-lived connections; errors do not matter here. */
    if (st->is_ready && sqlite3_get_autocommit(st->db))
        exec_stmt(st, STMT_OPTIMIZE, NULL, "optimize");
    for (int i = 0; i < STMT__COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    for (int i = 0; i < STORE_DYN_CACHE; i++) {
        sqlite3_finalize(st->dyn[i].stmt);
        free(st->dyn[i].sql);
    }
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

/* ---------------------------------------------------------------- pool */

struct store_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *path;
    struct store_opts opts;
    struct store **idle;
    int n_idle;
    int n_open; /* idle + lent out */
    int max;
};

int store_pool_new(struct store_pool **out,
                   const char *path,
                   const struct store_opts *o,
                   int max,
                   struct ty_error *err)
{
    static const struct store_opts defaults = STORE_OPTS_INIT;
    struct store_pool *p;
    struct store *first = NULL;
    int rc;

    *out = NULL;
    if (!o)
        o = &defaults;
    if (max < 1)
        return ty_error_set(err, TY_EINVAL, "store: pool size must be at least 1, not %d", max);
    if (!path || !strcmp(path, ":memory:"))
        return ty_error_set(err, TY_EINVAL,
                            "store: a pool needs a database file, not an in-memory database");
    /* Migrate (or check) once with the caller's options. */
    rc = store_open(&first, path, o, err);
    if (rc == 0 && first)
        rc = store_optimize(first, err);
    if (rc) {
        store_close(first);
        return rc;
    }
    p = ty_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->path = ty_xstrdup(path);
    p->opts = *o;
    p->opts.no_migrate = true;
    p->max = max;
    p->idle = ty_xcalloc((size_t)max, sizeof(*p->idle));
    p->idle[p->n_idle++] = first;
    p->n_open = 1;
    *out = p;
    return 0;
}

int store_pool_get(struct store_pool *p, struct store **out, struct ty_error *err)
{
    int rc;

    *out = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->n_idle == 0 && p->n_open >= p->max)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->n_idle > 0) {
        *out = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->n_open++;
    pthread_mutex_unlock(&p->mu);
    rc = store_open(out, p->path, &p->opts, err);
    if (rc) {
        pthread_mutex_lock(&p->mu);
        p->n_open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

void store_pool_put(struct store_pool *p, struct store *st)
{
    if (!st)
        return;
    while (st->tx_depth > 0)
        tx_rollback(st);
    pthread_mutex_lock(&p->mu);
    p->idle[p->n_idle++] = st;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void store_pool_free(struct store_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_idle; i++)
        store_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->idle);
    free(p->path);
    free(p);
}

/* ---------------------------------------------------------------- states */

static const char *const state_names[STORE_STATE__COUNT] = {
    "requested", "creating", "pending", "running", "stopping", "stopped", "failed", "lost",
};

const char *store_state_name(enum store_state s)
{
    return (unsigned)s < STORE_STATE__COUNT ? state_names[s] : "?";
}

int store_state_parse(enum store_state *out, const char *name, struct ty_error *err)
{
    *out = STORE_STATE_REQUESTED;
    for (int i = 0; name && i < STORE_STATE__COUNT; i++) {
        if (!strcmp(name, state_names[i])) {
            *out = (enum store_state)i;
            return 0;
        }
    }
    return ty_error_set(err, TY_EINVAL,
                        "unknown session state '%s' (expected requested, creating, pending, "
                        "running, stopping, stopped, failed or lost)",
                        name ? name : "(null)");
}

bool store_state_is_final(enum store_state s)
{
    return (STORE_STATE_BIT(s) & STORE_STATES_FINAL) != 0;
}

#define B(s) STORE_STATE_BIT(STORE_STATE_##s)
/* The state machine: allowed[from] is the mask of states `from` may move to.
 * A live state may be re-entered (to refresh its reason and deadline).  lost
 * may come back when the reconciler finds the objects again, or be closed. */
static const uint32_t allowed[STORE_STATE__COUNT] = {
    [STORE_STATE_REQUESTED] = B(REQUESTED) | B(CREATING) | B(STOPPING) | B(STOPPED) | B(FAILED),
    [STORE_STATE_CREATING] =
        B(CREATING) | B(PENDING) | B(RUNNING) | B(STOPPING) | B(FAILED) | B(LOST),
    [STORE_STATE_PENDING] = B(PENDING) | B(RUNNING) | B(STOPPING) | B(FAILED) | B(LOST),
    [STORE_STATE_RUNNING] = B(RUNNING) | B(PENDING) | B(STOPPING) | B(FAILED) | B(LOST),
    [STORE_STATE_STOPPING] = B(STOPPING) | B(STOPPED) | B(FAILED) | B(LOST),
    [STORE_STATE_STOPPED] = 0,
    [STORE_STATE_FAILED] = 0,
    [STORE_STATE_LOST] = B(PENDING) | B(RUNNING) | B(STOPPING) | B(STOPPED),
};
#undef B

bool store_state_can_transition(enum store_state from, enum store_state to)
{
    if ((unsigned)from >= STORE_STATE__COUNT || (unsigned)to >= STORE_STATE__COUNT)
        return false;
    return (allowed[from] & STORE_STATE_BIT(to)) != 0;
}
