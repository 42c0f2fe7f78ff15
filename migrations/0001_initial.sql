-- 0001_initial.sql: sessions, their labels, the append-only event log, API tokens.
-- Applied by the store inside BEGIN IMMEDIATE ... PRAGMA user_version = 1; COMMIT.
-- Times are INTEGER milliseconds since the Unix epoch.  See docs/store.md.

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY NOT NULL,  -- the 32-hex guid (tycho-guid label)
    username          TEXT NOT NULL,
    app_id            TEXT NOT NULL,
    app_name          TEXT,
    context           TEXT,
    registry_commit   TEXT,
    system_name       TEXT,
    namespace         TEXT,
    state             TEXT NOT NULL CHECK (state IN ('requested', 'creating', 'pending',
                          'running', 'stopping', 'stopped', 'failed', 'lost')),
    state_reason      TEXT,
    state_message     TEXT,
    state_deadline_at INTEGER,
    cpu_millis        INTEGER NOT NULL DEFAULT 0 CHECK (cpu_millis >= 0),
    memory_bytes      INTEGER NOT NULL DEFAULT 0 CHECK (memory_bytes >= 0),
    gpus              INTEGER NOT NULL DEFAULT 0 CHECK (gpus >= 0),
    ephemeral_bytes   INTEGER NOT NULL DEFAULT 0 CHECK (ephemeral_bytes >= 0),
    url               TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    ready_at          INTEGER,
    stopped_at        INTEGER,
    last_activity_at  INTEGER,
    stopped_by        TEXT,
    stop_reason       TEXT,
    spec_hash         TEXT,
    objects_json      TEXT,
    -- Never a live state without a deadline, never a final state with one.
    CHECK ((state IN ('stopped', 'failed', 'lost')) = (state_deadline_at IS NULL))
) STRICT;

-- A user's sessions by state (and the per-user live count for limits).
CREATE INDEX sessions_user_state ON sessions (username, state, created_at DESC, id DESC);
-- History by user / by app, keyset-paginated on (created_at DESC, id DESC).
CREATE INDEX sessions_user_created ON sessions (username, created_at DESC, id DESC);
CREATE INDEX sessions_app_created ON sessions (app_id, created_at DESC, id DESC);
-- Whole history, time ranges, counts per day.
CREATE INDEX sessions_created ON sessions (created_at DESC, id DESC);
-- Sessions by state (metrics, admin filter).
CREATE INDEX sessions_state_created ON sessions (state, created_at DESC, id DESC);
-- The reconciler's and reaper's "what is due" query: live sessions only.
CREATE INDEX sessions_deadline ON sessions (state_deadline_at)
    WHERE state_deadline_at IS NOT NULL;
-- The culler: idle running sessions (a partial index: only running rows).
CREATE INDEX sessions_running_activity ON sessions (last_activity_at) WHERE state = 'running';

CREATE TABLE session_labels (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (session_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX session_labels_kv ON session_labels (key, value, session_id);

-- Append-only: rows are inserted, never updated or deleted (triggers below).
CREATE TABLE session_events (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT,
    message    TEXT,
    actor      TEXT
) STRICT;

CREATE INDEX session_events_session ON session_events (session_id, id);

CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'session_events is append-only');
END;

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'platform', 'user')),
    username     TEXT,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CHECK (role <> 'user' OR username IS NOT NULL)
) STRICT;

CREATE INDEX tokens_username ON tokens (username);
