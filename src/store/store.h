/*
 * store.h - the session store: SQLite, migrations, sessions, labels, events, tokens.
 *
 * Everything Tycho remembers lives here: every session (live and stopped: the
 * stopped ones are the history admins query), its labels, an append-only log of
 * every state change, and the API tokens.  sqlite3 types never leave this module.
 *
 * Threads: a struct store is ONE SQLite connection and must be used by one thread
 * at a time (never shared between CivetWeb workers).  store_open() is cheap (a few
 * hundred microseconds once the schema is current), so each worker may open its
 * own; struct store_pool hands out connections to threads that come and go.  Many
 * connections to one file work together through WAL (readers never block the
 * writer) and a busy timeout (writers wait for each other instead of failing).
 *
 * Times are milliseconds since the Unix epoch (int64_t); 0 means "not set" (SQL
 * NULL) in every struct below.  Every function returns 0 or a negative ty_code and
 * fills err (which may be NULL).  "Not found" is always TY_ENOTFOUND.
 *
 * States and deadlines: see docs/store.md.  A session in a non-final state
 * (requested, creating, pending, running, stopping) ALWAYS has a deadline
 * (state_deadline_at); a final one (stopped, failed, lost) never has one.  The
 * schema enforces this with a CHECK, and store_session_transition() refuses a
 * non-final target without a deadline (TY_EINVAL).
 */
#ifndef TY_STORE_STORE_H
#define TY_STORE_STORE_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;      /* one connection; one thread at a time */
struct store_pool; /* a set of connections to one file, for many threads */

/* ---------------------------------------------------------------- open, migrate */

/* One migration: name "NNNN_what.sql" (NNNN = its version, 1-based, no gaps) and
 * the SQL it runs.  The SQL must not contain BEGIN/COMMIT: the store wraps each
 * migration in BEGIN IMMEDIATE ... PRAGMA user_version = N; COMMIT. */
struct store_migration {
    const char *name;
    const char *sql;
};

struct store_opts {
    /* Do not apply pending migrations: store_open() then fails with TY_ECONFLICT
     * when the database is behind the binary ("run tycho migrate"). */
    bool no_migrate;
    /* busy_timeout in milliseconds; 0 = 5000. */
    int busy_timeout_ms;
    /* NULL = the migrations embedded from migrations/.  Otherwise an array ended
     * by {NULL, NULL} (tests use this to inject a failing migration).  Borrowed
     * for the duration of the call. */
    const struct store_migration *migrations;
};

/* clang-format off */
#define STORE_OPTS_INIT {false, 0, NULL}
/* clang-format on */

/* Opens (creating if needed) the database at path (":memory:" for tests),
 * sets foreign_keys=ON, journal_mode=WAL, synchronous=NORMAL, busy_timeout, and
 * applies pending migrations unless o->no_migrate.  o may be NULL (defaults).
 * Refuses with TY_ECONFLICT a database whose user_version is newer than the
 * highest migration known to the binary.  On success *out is a new handle; close
 * it with store_close().  On failure *out is NULL. */
int store_open(struct store **out,
               const char *path,
               const struct store_opts *o,
               struct ty_error *err);
/* Finalizes cached statements and closes.  Accepts NULL. */
void store_close(struct store *st);

/* Opens path, applies pending embedded migrations and closes.  *from_out is the
 * user_version found, *to_out the one left (both may be NULL).  A failing
 * migration is rolled back: the database stays at the last good version and the
 * error names the migration. */
int store_migrate(const char *path, int *from_out, int *to_out, struct ty_error *err);

/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(struct store *st);
/* The highest version among the embedded migrations. */
int store_schema_version_latest(void);

/* Refreshes the query planner's statistics (a full ANALYZE: about 100 ms at
 * 100,000 sessions; it holds the write lock meanwhile).  Without statistics
 * SQLite may pick a poor index for combined history filters (measured: 18 ms
 * instead of well under 1 ms; sampled statistics were not good enough).  store_pool_new() and
 * store_migrate() run it; a long-running server should also call it now and
 * then (e.g. hourly) as the history grows.  store_close() runs the cheaper
 * `PRAGMA optimize`. */
int store_optimize(struct store *st, struct ty_error *err);

/* Explicit transactions, for batching many writes (BEGIN IMMEDIATE ... COMMIT).
 * Store functions called inside one join it (they use savepoints), so a failing
 * call inside a batch undoes only its own work. */
int store_tx_begin(struct store *st, struct ty_error *err);
int store_tx_commit(struct store *st, struct ty_error *err);
/* Rolls back the open transaction; no-op when none. */
void store_tx_rollback(struct store *st);

/* A pool of up to max connections to one FILE (not ":memory:", where every
 * connection would be a separate database).  Migrations run once, in
 * store_pool_new(); further connections open with no_migrate.  o->migrations,
 * when set, must outlive the pool.  Thread-safe. */
int store_pool_new(struct store_pool **out,
                   const char *path,
                   const struct store_opts *o,
                   int max,
                   struct ty_error *err);
/* Borrows a connection for the calling thread (opens one if none is idle, waits
 * when max are out).  Give it back with store_pool_put(). */
int store_pool_get(struct store_pool *p, struct store **out, struct ty_error *err);
/* Returns a connection; an open transaction on it is rolled back. */
void store_pool_put(struct store_pool *p, struct store *st);
/* Closes every idle connection and frees the pool; all must have been put back.
 * Accepts NULL. */
void store_pool_free(struct store_pool *p);

/* ---------------------------------------------------------------- states */

enum store_state {
    STORE_STATE_REQUESTED = 0, /* intent written, nothing created yet */
    STORE_STATE_CREATING,      /* creating Kubernetes objects */
    STORE_STATE_PENDING,       /* objects exist, pods not ready */
    STORE_STATE_RUNNING,       /* ready; url reachable */
    STORE_STATE_STOPPING,      /* deleting objects */
    STORE_STATE_STOPPED,       /* final: stopped on purpose */
    STORE_STATE_FAILED,        /* final: could not start (reason says why) */
    STORE_STATE_LOST,          /* final: objects vanished outside our control */
    STORE_STATE__COUNT
};

#define STORE_STATE_BIT(s) (1u << (unsigned)(s))
#define STORE_STATES_ANY   ((1u << STORE_STATE__COUNT) - 1u)
#define STORE_STATES_FINAL                                                        \
    (STORE_STATE_BIT(STORE_STATE_STOPPED) | STORE_STATE_BIT(STORE_STATE_FAILED) | \
     STORE_STATE_BIT(STORE_STATE_LOST))
#define STORE_STATES_LIVE (STORE_STATES_ANY & ~STORE_STATES_FINAL)

/* "requested", "creating", ...; "?" for an out-of-range value.  Static storage. */
const char *store_state_name(enum store_state s);
/* Parses a state name.  Returns 0, or TY_EINVAL naming the bad value. */
int store_state_parse(enum store_state *out, const char *name, struct ty_error *err);
bool store_state_is_final(enum store_state s);
/* True when the state machine allows from -> to (see docs/store.md). */
bool store_state_can_transition(enum store_state from, enum store_state to);

/* ---------------------------------------------------------------- sessions */

struct store_label {
    char *key;   /* owned */
    char *value; /* owned */
};

/* One row of `sessions`.  Every char * is owned by the struct (NULL = SQL NULL);
 * free them with store_session_cleanup().  Times: ms since epoch, 0 = unset. */
struct store_session {
    char *id; /* the 32-hex guid, also the tycho-guid label */
    char *username;
    char *app_id;
    char *app_name;
    char *context;
    char *registry_commit;
    char *system_name;
    char *namespace;
    enum store_state state;
    char *state_reason;  /* short machine-ish word: "ImagePullBackOff", "user" ... */
    char *state_message; /* human sentence */
    int64_t state_deadline_at;
    int64_t cpu_millis; /* requested resources */
    int64_t memory_bytes;
    int64_t gpus;
    int64_t ephemeral_bytes;
    char *url;
    int64_t created_at;
    int64_t updated_at;
    int64_t ready_at;   /* first time running */
    int64_t stopped_at; /* when a final state was entered */
    int64_t last_activity_at;
    char *stopped_by; /* actor of the first stop/fail/lost: user|admin|culler|system|platform */
    char *stop_reason;
    char *spec_hash;            /* hash of the compiled spec */
    char *objects_json;         /* the compiled objects (a JSON List), for crash recovery */
    struct store_label *labels; /* owned array; filled by _get and by lists when asked */
    size_t n_labels;
    /* The culler's memory (migration 0003), written only through
     * store_session_cpu_active() and store_session_cull_warned(): the latest
     * CPU sample at or above the session's threshold, and when a cull warning
     * was issued.  Read by _get and every list.  0 = never. */
    int64_t cpu_active_at;
    int64_t cull_warned_at;
};

/* Zeroes s (all pointers NULL). */
void store_session_init(struct store_session *s);
/* Frees every owned member and zeroes s.  Accepts NULL. */
void store_session_cleanup(struct store_session *s);
/* Frees an array of n sessions from a list call.  Accepts NULL. */
void store_sessions_free(struct store_session *v, size_t n);

/* Per-insert limits on LIVE (non-final) sessions; 0 = no limit.  Every count
 * is taken inside the insert's BEGIN IMMEDIATE transaction, so the limits hold
 * across threads, connections and processes sharing the database file. */
struct store_limits {
    int64_t max_per_user;     /* live sessions of this username, any app */
    int64_t max_per_user_app; /* live sessions of this username for this app_id */
    int64_t max_per_app;      /* live sessions of this app_id, any user */
    int64_t max_global;       /* live sessions in the whole database */
};

/* Inserts s (and s->labels) with an event row (NULL -> s->state, reason
 * s->state_reason, actor) in one transaction.  Required: id (1-64 chars of
 * [A-Za-z0-9_.-]), username, app_id, created_at; state must be non-final with
 * state_deadline_at set.  updated_at defaults to created_at.  When lim is not
 * NULL the live-session counts are checked in the same transaction and a full
 * quota is TY_ELIMIT with a message naming it.  An existing id is TY_EEXISTS. */
int store_session_insert(struct store *st,
                         const struct store_session *s,
                         const struct store_limits *lim,
                         const char *actor,
                         struct ty_error *err);

/* Reads one session with its labels into *out (initialised by the call; clean
 * up with store_session_cleanup() on success).  TY_ENOTFOUND when absent. */
int store_session_get(struct store *st,
                      const char *id,
                      struct store_session *out,
                      struct ty_error *err);

/* Atomically: checks that the session's current state is in expected_from (a
 * mask of STORE_STATE_BIT) and that the move is allowed by the state machine,
 * then writes state `to`, reason, message, the deadline (required, > 0, for a
 * non-final `to`; ignored for a final one) and updated_at = now, and appends an
 * event (from, to, reason, message, actor) - all in one transaction.
 * Entering running sets ready_at if unset; entering a final state sets
 * stopped_at; entering stopping or a final state sets stopped_by = actor and
 * stop_reason = reason if not set yet.
 * TY_ECONFLICT when the current state is not expected (or the move is not
 * allowed): this is how "a stop always wins over a pending start" holds - the
 * launcher moves creating -> pending expecting {creating} and loses to a stop
 * that got there first.  TY_ENOTFOUND when absent; TY_EINVAL for a bad deadline.
 * prev_out (may be NULL) receives the state found, on success and on conflict. */
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
                             struct ty_error *err);

/* Fields store_session_update_fields() may change.  NULL / -1 = leave as is. */
struct store_session_update {
    const char *url;
    const char *namespace;
    const char *objects_json;
    const char *spec_hash;
    const char *state_message; /* refresh the message without a state change */
    int64_t ready_at;
    int64_t cpu_millis;
    int64_t memory_bytes;
    int64_t gpus;
    int64_t ephemeral_bytes;
    int64_t state_deadline_at; /* extend the deadline of a live session (> 0) */
    /* When event_reason is set, an event row (from = to = current state) is
     * appended in the same transaction: a "modified" record. */
    const char *event_reason;
    const char *event_message;
    const char *actor;
};

/* clang-format off */
#define STORE_SESSION_UPDATE_INIT \
    {NULL, NULL, NULL, NULL, NULL, -1, -1, -1, -1, -1, -1, NULL, NULL, NULL}
/* clang-format on */

/* Applies u to the session and sets updated_at = now.  TY_ENOTFOUND when absent;
 * TY_EINVAL for a deadline on a final session or a negative resource. */
int store_session_update_fields(struct store *st,
                                const char *id,
                                const struct store_session_update *u,
                                int64_t now,
                                struct ty_error *err);

/* Records activity: last_activity_at = max(last_activity_at, at).  Never moves it
 * backwards.  TY_ENOTFOUND when absent. */
int store_session_touch_activity(struct store *st,
                                 const char *id,
                                 int64_t at,
                                 struct ty_error *err);

/* ---- the culler's memory ----------------------------------------------------
 * The reaper keeps two facts per session here so that a restarted server
 * neither forgets CPU activity nor warns an owner twice (docs/culling.md). */

/* One CPU observation of store_session_cpu_active(): session id (borrowed) and
 * the time of a sample at or above the session's threshold. */
struct store_cpu_active {
    const char *id;
    int64_t at;
};

/* For each of the n items, in ONE transaction: cpu_active_at =
 * max(cpu_active_at, at) (never moves it backwards).  Ids that name no session
 * (ended and deleted meanwhile) are skipped, not an error; *n_updated_out (may
 * be NULL) receives how many rows were written.  n == 0 writes nothing.
 * TY_EINVAL for a NULL id or at <= 0 (nothing is written).  Store errors roll
 * the whole batch back.  items and their ids are borrowed for the call. */
int store_session_cpu_active(struct store *st,
                             const struct store_cpu_active *items,
                             size_t n,
                             size_t *n_updated_out,
                             struct ty_error *err);

/* Records a cull warning issued at `at` (> 0): cull_warned_at = at and an event
 * row (from = to = the current state, reason "cull-warning", message, actor),
 * in one transaction.  message and actor are borrowed (actor NULL = "culler").
 * TY_ENOTFOUND when absent; TY_EINVAL for at <= 0. */
int store_session_cull_warned(struct store *st,
                              const char *id,
                              int64_t at,
                              const char *message,
                              const char *actor,
                              struct ty_error *err);

/* Labels.  Keys: 1-253 bytes, values up to 1024 bytes (TY_EINVAL otherwise).
 * Setting replaces the old value.  When actor is not NULL an event row
 * (reason "label", message "key=value" or "key deleted") is appended in the same
 * transaction.  TY_ENOTFOUND when the session (or, for delete, the key) is
 * absent. */
int store_session_label_set(struct store *st,
                            const char *id,
                            const char *key,
                            const char *value,
                            const char *actor,
                            int64_t now,
                            struct ty_error *err);
int store_session_label_delete(struct store *st,
                               const char *id,
                               const char *key,
                               const char *actor,
                               int64_t now,
                               struct ty_error *err);
/* *out is a new array of *n_out labels sorted by key; free with
 * store_labels_free().  A session without labels gives n 0 and *out NULL. */
int store_session_labels_get(struct store *st,
                             const char *id,
                             struct store_label **out,
                             size_t *n_out,
                             struct ty_error *err);
void store_labels_free(struct store_label *v, size_t n);

/* ---------------------------------------------------------------- queries */

#define STORE_QUERY_MAX_LABELS 8
#define STORE_LIST_DEFAULT     50
#define STORE_LIST_MAX         500

/* A list query; zero/NULL fields do not filter.  Results are ordered by
 * (created_at DESC, id DESC). */
struct store_query {
    const char *username;
    const char *app_id;
    uint32_t states; /* mask of STORE_STATE_BIT; 0 = any */
    struct {
        const char *key;
        const char *value;
    } labels[STORE_QUERY_MAX_LABELS]; /* all must match */
    size_t n_labels;
    int64_t created_from; /* created_at >= from (0 = open) */
    int64_t created_to;   /* created_at <  to   (0 = open) */
    int limit;            /* 0 = STORE_LIST_DEFAULT; capped at STORE_LIST_MAX */
    const char *cursor;   /* next_cursor of the previous page, or NULL */
    bool with_labels;     /* fill each item's labels */
    bool skip_total;      /* do not count (total = -1) */
};

/* One page.  Owned; free with store_page_cleanup(). */
struct store_page {
    struct store_session *items;
    size_t n;
    char *next_cursor; /* NULL on the last page; opaque (see docs/store.md) */
    int64_t total;     /* sessions matching the filters, ignoring cursor and limit */
};

/* Runs q.  *out is initialised by the call.  A malformed cursor, more than
 * STORE_QUERY_MAX_LABELS labels or a negative limit is TY_EINVAL. */
int store_session_list(struct store *st,
                       const struct store_query *q,
                       struct store_page *out,
                       struct ty_error *err);
void store_page_cleanup(struct store_page *p);

/* One row of the append-only event log. */
struct store_event {
    int64_t id;
    char *session_id;
    int64_t at;
    bool has_from; /* false for the creation event */
    enum store_state from;
    enum store_state to;
    char *reason;
    char *message;
    char *actor;
};

/* The events of one session, oldest first.  *out is a new array; free with
 * store_events_free().  TY_ENOTFOUND when the session is absent. */
int store_events_list(struct store *st,
                      const char *session_id,
                      struct store_event **out,
                      size_t *n_out,
                      struct ty_error *err);
void store_events_free(struct store_event *v, size_t n);

/* Live sessions whose deadline is <= now, earliest first, at most limit
 * (capped at STORE_LIST_MAX).  For the reconciler and reaper.  Free the array
 * with store_sessions_free(). */
int store_sessions_due(struct store *st,
                       int64_t now,
                       int limit,
                       struct store_session **out,
                       size_t *n_out,
                       struct ty_error *err);
/* Every live (non-final) session, oldest first (the reconciler's start-up list). */
int store_sessions_live(struct store *st,
                        struct store_session **out,
                        size_t *n_out,
                        struct ty_error *err);
/* Running sessions whose last activity (or ready_at, or created_at when never
 * active) is before `before`, oldest first, at most limit.  For the culler. */
int store_sessions_idle(struct store *st,
                        int64_t before,
                        int limit,
                        struct store_session **out,
                        size_t *n_out,
                        struct ty_error *err);
/* Number of live sessions, optionally of one username and/or app_id (NULL = any). */
int store_sessions_count_live(
    struct store *st, const char *username, const char *app_id, int64_t *out, struct ty_error *err);

/* ---------------------------------------------------------------- statistics */

struct store_count {
    char *key; /* app id, username, or day "YYYY-MM-DD" (UTC); owned */
    int64_t count;
};

/* Sessions created in [from, to) (0 = open) counted per app_id / username /
 * UTC day, ordered by key.  *out is a new array; free with store_counts_free(). */
int store_stats_by_app(struct store *st,
                       int64_t from,
                       int64_t to,
                       struct store_count **out,
                       size_t *n_out,
                       struct ty_error *err);
int store_stats_by_user(struct store *st,
                        int64_t from,
                        int64_t to,
                        struct store_count **out,
                        size_t *n_out,
                        struct ty_error *err);
int store_stats_by_day(struct store *st,
                       int64_t from,
                       int64_t to,
                       struct store_count **out,
                       size_t *n_out,
                       struct ty_error *err);
void store_counts_free(struct store_count *v, size_t n);

/* Number of sessions in each state now (for /metrics); out[s] for each state. */
int store_stats_by_state(struct store *st, int64_t out[STORE_STATE__COUNT], struct ty_error *err);

/* Concurrency series: for each bucket [from + i*step, from + (i+1)*step) with
 * i < n, the largest number of sessions alive at once during the bucket, where
 * a session is alive from created_at until stopped_at (or forever when not
 * final).  to > from, step > 0, at most 10000 buckets (TY_EINVAL otherwise).
 * *out is a new array of *n_out values; free with free(). */
int store_stats_concurrency(struct store *st,
                            int64_t from,
                            int64_t to,
                            int64_t step,
                            int64_t **out,
                            size_t *n_out,
                            struct ty_error *err);

/* ---------------------------------------------------------------- tokens */

/* One API token.  The secret itself is never stored: hash is the hex sha256 (or
 * HMAC) of a high-entropy token, computed by the caller.  Strings owned. */
struct store_token {
    int64_t id;
    char *name;
    char *role;     /* "admin" | "platform" | "user" */
    char *username; /* required for role "user" */
    char *hash;     /* unique */
    int64_t created_at;
    int64_t expires_at; /* 0 = never */
    int64_t last_used_at;
    int64_t revoked_at;
};

void store_token_cleanup(struct store_token *t);
void store_tokens_free(struct store_token *v, size_t n);

/* Inserts t (id is ignored); *id_out (may be NULL) receives the new id.
 * TY_EINVAL for a bad role or a user token without username; TY_EEXISTS for a
 * duplicate hash. */
int store_token_insert(struct store *st,
                       const struct store_token *t,
                       int64_t *id_out,
                       struct ty_error *err);
/* Finds a token by hash (revoked and expired ones too: the caller decides).
 * *out is initialised; clean up with store_token_cleanup().  TY_ENOTFOUND. */
int store_token_find_by_hash(struct store *st,
                             const char *hash,
                             struct store_token *out,
                             struct ty_error *err);
/* Sets last_used_at = now. */
int store_token_touch(struct store *st, int64_t id, int64_t now, struct ty_error *err);
/* Sets revoked_at = now (first revocation wins).  TY_ENOTFOUND when absent. */
int store_token_revoke(struct store *st, int64_t id, int64_t now, struct ty_error *err);
/* All tokens, by id.  Free with store_tokens_free(). */
int store_token_list(struct store *st,
                     struct store_token **out,
                     size_t *n_out,
                     struct ty_error *err);

#endif
