/*
 * store_sql.c - every fixed SQL text of the store, in one place.
 *
 * Keeping the texts together makes the module's whole SQL surface reviewable at
 * a glance: each is a compile-time constant, every value is a bound parameter,
 * and each statement is prepared once per connection (store_int.h).  The list
 * query, whose WHERE clause depends on the filters given, is assembled in
 * store_query.c from fixed fragments kept next to that code.
 */
#include "store/store_int.h"

#define LIVE_STATES "('requested', 'creating', 'pending', 'running', 'stopping')"

const char *const store_sql[STMT__COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT store_sp",
    [STMT_RELEASE] = "RELEASE store_sp",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO store_sp",
    [STMT_USER_VERSION] = "PRAGMA user_version",
    [STMT_OPTIMIZE] = "PRAGMA optimize",
    [STMT_ANALYZE] = "ANALYZE",

    [STMT_SESSION_INSERT] =
        "INSERT INTO sessions (id, username, app_id, app_name, context, registry_commit, "
        "system_name, namespace, state, state_reason, state_message, state_deadline_at, "
        "cpu_millis, memory_bytes, gpus, ephemeral_bytes, url, created_at, updated_at, "
        "ready_at, stopped_at, last_activity_at, stopped_by, stop_reason, spec_hash, "
        "objects_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    [STMT_SESSION_GET] = "SELECT " STORE_SESSION_COLS " FROM sessions WHERE id = ?1",
    [STMT_SESSION_STATE] = "SELECT state FROM sessions WHERE id = ?1",
    /* ?7: ready_at candidate (NULL unless entering running); ?8: stopped_at (now
     * when entering a final state, else NULL; final -> final keeps the first); ?9: 1 when entering
     * stopping or a final state, so that the first stopper is recorded. */
    [STMT_SESSION_TRANSITION] =
        "UPDATE sessions SET state = ?2, state_reason = ?3, state_message = ?4, "
        "state_deadline_at = ?5, updated_at = ?6, ready_at = COALESCE(ready_at, ?7), "
        "stopped_at = CASE WHEN ?8 IS NULL THEN NULL ELSE COALESCE(stopped_at, ?8) END, "
        "stopped_by = CASE WHEN ?9 THEN COALESCE(stopped_by, ?10) ELSE stopped_by END, "
        "stop_reason = CASE WHEN ?9 THEN COALESCE(stop_reason, ?3) ELSE stop_reason END "
        "WHERE id = ?1",
    [STMT_SESSION_UPDATE] =
        "UPDATE sessions SET url = COALESCE(?2, url), namespace = COALESCE(?3, namespace), "
        "objects_json = COALESCE(?4, objects_json), spec_hash = COALESCE(?5, spec_hash), "
        "state_message = COALESCE(?6, state_message), ready_at = COALESCE(?7, ready_at), "
        "cpu_millis = COALESCE(?8, cpu_millis), memory_bytes = COALESCE(?9, memory_bytes), "
        "gpus = COALESCE(?10, gpus), ephemeral_bytes = COALESCE(?11, ephemeral_bytes), "
        "state_deadline_at = COALESCE(?12, state_deadline_at), updated_at = ?13 "
        "WHERE id = ?1",
    [STMT_SESSION_TOUCH] =
        "UPDATE sessions SET last_activity_at = max(COALESCE(last_activity_at, ?2), ?2) "
        "WHERE id = ?1",
    /* Migration 0003: the culler's memory.  max() keeps the latest sample. */
    [STMT_SESSION_CPU_ACTIVE] =
        "UPDATE sessions SET cpu_active_at = max(COALESCE(cpu_active_at, ?2), ?2) "
        "WHERE id = ?1",
    [STMT_SESSION_CULL_WARNED] = "UPDATE sessions SET cull_warned_at = ?2 WHERE id = ?1",
    [STMT_EVENT_INSERT] =
        "INSERT INTO session_events (session_id, at, from_state, to_state, reason, message, "
        "actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_EVENTS_LIST] = "SELECT id, session_id, at, from_state, to_state, reason, message, actor "
                         "FROM session_events WHERE session_id = ?1 ORDER BY id",
    [STMT_LABEL_UPSERT] = "INSERT INTO session_labels (session_id, key, value) VALUES (?1, ?2, ?3) "
                          "ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value",
    [STMT_LABEL_DELETE] = "DELETE FROM session_labels WHERE session_id = ?1 AND key = ?2",
    [STMT_LABELS_GET] = "SELECT key, value FROM session_labels WHERE session_id = ?1 ORDER BY key",

    [STMT_COUNT_LIVE_ALL] = "SELECT count(*) FROM sessions WHERE state IN " LIVE_STATES,
    [STMT_COUNT_LIVE_USER] =
        "SELECT count(*) FROM sessions WHERE username = ?1 AND state IN " LIVE_STATES,
    [STMT_COUNT_LIVE_APP] =
        "SELECT count(*) FROM sessions WHERE app_id = ?2 AND state IN " LIVE_STATES,
    [STMT_COUNT_LIVE_USER_APP] = "SELECT count(*) FROM sessions WHERE username = ?1 AND "
                                 "app_id = ?2 AND state IN " LIVE_STATES,
    [STMT_SESSIONS_DUE] = "SELECT " STORE_SESSION_COLS " FROM sessions "
                          "WHERE state_deadline_at IS NOT NULL AND state_deadline_at <= ?1 "
                          "ORDER BY state_deadline_at, id LIMIT ?2",
    [STMT_SESSIONS_LIVE] = "SELECT " STORE_SESSION_COLS " FROM sessions WHERE state IN " LIVE_STATES
                           " ORDER BY created_at, id",
    [STMT_SESSIONS_IDLE] =
        "SELECT " STORE_SESSION_COLS " FROM sessions WHERE state = 'running' AND "
        "COALESCE(last_activity_at, ready_at, created_at) < ?1 "
        "ORDER BY COALESCE(last_activity_at, ready_at, created_at), id LIMIT ?2",

    [STMT_STATS_APP] = "SELECT app_id, count(*) FROM sessions WHERE created_at >= ?1 AND "
                       "created_at < ?2 GROUP BY app_id ORDER BY app_id",
    [STMT_STATS_USER] = "SELECT username, count(*) FROM sessions WHERE created_at >= ?1 AND "
                        "created_at < ?2 GROUP BY username ORDER BY username",
    /* Integer division: the UTC day number since the epoch. */
    [STMT_STATS_DAY] = "SELECT created_at / 86400000 AS day, count(*) FROM sessions "
                       "WHERE created_at >= ?1 AND created_at < ?2 GROUP BY day ORDER BY day",
    /* Kept exact by the triggers of migration 0002. */
    [STMT_STATS_STATE] = "SELECT state, n FROM session_state_counts",
    [STMT_STATS_INTERVALS] = "SELECT created_at, stopped_at FROM sessions WHERE created_at < ?2 "
                             "AND (stopped_at IS NULL OR stopped_at > ?1)",

    [STMT_TOKEN_INSERT] = "INSERT INTO tokens (name, role, username, hash, created_at, "
                          "expires_at, last_used_at, revoked_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_TOKEN_FIND] = "SELECT id, name, role, username, hash, created_at, expires_at, "
                        "last_used_at, revoked_at FROM tokens WHERE hash = ?1",
    [STMT_TOKEN_TOUCH] = "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
    [STMT_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
    [STMT_TOKEN_LIST] = "SELECT id, name, role, username, hash, created_at, expires_at, "
                        "last_used_at, revoked_at FROM tokens ORDER BY id",
};
