-- 0003_culler.sql: what the idle culler must not forget across a restart.
--   cpu_active_at   the latest CPU sample at or above the session's threshold
--                   (the reaper writes max(old, sample time), once per pass for
--                   every busy session, in one transaction);
--   cull_warned_at  when the owner was warned of a coming idle or max-age cull
--                   (written with a "cull-warning" row in session_events).
-- Both are INTEGER milliseconds since the Unix epoch, NULL = never.  Existing
-- rows start with NULL: nothing was known to be stored before this version.
-- See docs/culling.md and docs/store.md.

ALTER TABLE sessions ADD COLUMN cpu_active_at INTEGER;
ALTER TABLE sessions ADD COLUMN cull_warned_at INTEGER;
