/*
 * store_int.h - private to src/store/: the connection struct, the statement cache
 * and small helpers shared by store*.c.
 *
 * Every fixed statement has an id (enum stmt_id) and a static text (store_sql[]);
 * it is prepared on first use with SQLITE_PREPARE_PERSISTENT and kept on the
 * handle until store_close().  After each use the caller runs stmt_done()
 * (sqlite3_reset + sqlite3_clear_bindings).  The list query is the one statement
 * whose text varies: it is assembled from fixed fragments only (never from caller
 * text, which is always bound) and cached by its text in a small LRU (dyn[]).
 */
#ifndef TY_STORE_INT_H
#define TY_STORE_INT_H

#include "store/store.h"

#include <sqlite3.h>

enum stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_USER_VERSION,
    STMT_OPTIMIZE,
    STMT_ANALYZE,
    STMT_SESSION_INSERT,
    STMT_SESSION_GET,
    STMT_SESSION_STATE,
    STMT_SESSION_TRANSITION,
    STMT_SESSION_UPDATE,
    STMT_SESSION_TOUCH,
    STMT_SESSION_CPU_ACTIVE,
    STMT_SESSION_CULL_WARNED,
    STMT_EVENT_INSERT,
    STMT_EVENTS_LIST,
    STMT_LABEL_UPSERT,
    STMT_LABEL_DELETE,
    STMT_LABELS_GET,
    STMT_COUNT_LIVE_ALL,
    STMT_COUNT_LIVE_USER,
    STMT_COUNT_LIVE_APP,
    STMT_COUNT_LIVE_USER_APP,
    STMT_SESSIONS_DUE,
    STMT_SESSIONS_LIVE,
    STMT_SESSIONS_IDLE,
    STMT_STATS_APP,
    STMT_STATS_USER,
    STMT_STATS_DAY,
    STMT_STATS_STATE,
    STMT_STATS_INTERVALS,
    STMT_TOKEN_INSERT,
    STMT_TOKEN_FIND,
    STMT_TOKEN_TOUCH,
    STMT_TOKEN_REVOKE,
    STMT_TOKEN_LIST,
    STMT__COUNT
};

#define STORE_DYN_CACHE 16

struct store_dyn {
    char *sql;
    sqlite3_stmt *stmt;
    uint64_t used; /* LRU clock value */
};

struct store {
    sqlite3 *db;
    char *path;
    int tx_depth;  /* 0: autocommit; 1: BEGIN; >1: nested savepoints */
    bool is_ready; /* opened and at the current schema: close may optimize */
    sqlite3_stmt *stmts[STMT__COUNT];
    struct store_dyn dyn[STORE_DYN_CACHE];
    uint64_t dyn_clock;
};

/* Fixed SQL texts, indexed by enum stmt_id (defined in store_sql.c). */
extern const char *const store_sql[STMT__COUNT];

/* The cached statement for id, prepared on first use. */
int stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out, struct ty_error *err);
/* The cached statement for a dynamic text (assembled from fixed fragments). */
int stmt_get_dyn(struct store *st, const char *sql, sqlite3_stmt **out, struct ty_error *err);
/* sqlite3_reset + sqlite3_clear_bindings; accepts NULL. */
void stmt_done(sqlite3_stmt *stmt);

/* Maps a SQLite result to a ty_code and sets err to "store: what: errmsg". */
int store_fail(struct store *st, int rc, struct ty_error *err, const char *what);

/* Nested transactions: BEGIN IMMEDIATE at depth 0, savepoints inside. */
int tx_begin(struct store *st, struct ty_error *err);
int tx_commit(struct store *st, struct ty_error *err);
void tx_rollback(struct store *st);

/* Binding helpers: NULL text / 0 time bind SQL NULL. */
int bind_text(sqlite3_stmt *s, int i, const char *v);
int bind_time(sqlite3_stmt *s, int i, int64_t v);
/* Column helpers: a new copy of a text column (NULL for NULL); 0 for NULL ints. */
char *col_dup(sqlite3_stmt *s, int i);
int64_t col_i64(sqlite3_stmt *s, int i);

/* The column list every session SELECT uses, and the reader for it. */
#define STORE_SESSION_COLS                                                                    \
    "id, username, app_id, app_name, context, registry_commit, system_name, namespace, "      \
    "state, state_reason, state_message, state_deadline_at, cpu_millis, memory_bytes, gpus, " \
    "ephemeral_bytes, url, created_at, updated_at, ready_at, stopped_at, last_activity_at, "  \
    "stopped_by, stop_reason, spec_hash, objects_json, cpu_active_at, cull_warned_at"
void session_from_row(sqlite3_stmt *s, struct store_session *out);
/* Fills out->labels from session_labels. */
int session_load_labels(struct store *st, struct store_session *out, struct ty_error *err);
/* Runs a prepared statement returning session rows into a new array. */
int sessions_collect(struct store *st,
                     sqlite3_stmt *s,
                     bool with_labels,
                     struct store_session **out,
                     size_t *n_out,
                     struct ty_error *err);

/* Identifier check shared by insert and the cursor: 1-64 of [A-Za-z0-9_.-]. */
bool store_id_is_valid(const char *id);

#endif
