-- Starts waiting for their finish, one per run ID ('' = starts sent without one), so that a
-- finish finds its start by primary key whatever the history's length, and overlapping runs
-- (Healthchecks' `rid`) each keep their own start.
CREATE TABLE open_starts (
    monitor_id  INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    run_key     TEXT    NOT NULL,
    event_id    INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    source      TEXT,
    PRIMARY KEY (monitor_id, run_key)
) STRICT, WITHOUT ROWID;
INSERT INTO open_starts (monitor_id, run_key, event_id, received_at, source)
SELECT s.monitor_id, COALESCE(s.run_id, ''), s.id, s.received_at, s.source
FROM events s
WHERE s.kind = 'start'
  AND s.id = (SELECT MAX(id) FROM events x WHERE x.monitor_id = s.monitor_id AND x.kind = 'start'
              AND COALESCE(x.run_id, '') = COALESCE(s.run_id, ''))
  AND NOT EXISTS (SELECT 1 FROM events r WHERE r.monitor_id = s.monitor_id AND r.kind = 'run'
                  AND r.id > s.id AND COALESCE(r.run_id, '') = COALESCE(s.run_id, ''));

-- Each source's newest success beside its newest run: per-source summaries and the size
-- of the last good backup without a scan.
ALTER TABLE latest_runs ADD COLUMN success_event_id INTEGER REFERENCES events (id) ON DELETE SET NULL;
UPDATE latest_runs SET success_event_id = (
    SELECT id FROM events e WHERE e.monitor_id = latest_runs.monitor_id AND e.kind = 'run'
      AND e.status = 'success' AND COALESCE(e.source, '') = latest_runs.source
    ORDER BY id DESC LIMIT 1);

-- Home Assistant events name the stored event they announce (their data is rendered when
-- they are fired), instead of carrying text that had to line up with the events by index.
-- Rows queued before this version keep their rendered data.
CREATE TABLE core_events_new (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER REFERENCES events (id) ON DELETE CASCADE,
    legacy_data     TEXT,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    CHECK (event_id IS NOT NULL OR legacy_data IS NOT NULL)
) STRICT;
INSERT INTO core_events_new (id, legacy_data, created_at, attempts, next_attempt_at)
SELECT id, data, created_at, attempts, next_attempt_at FROM core_events;
DROP TABLE core_events;
ALTER TABLE core_events_new RENAME TO core_events;

-- Bumped in the webhook's own transaction; the evaluator recomputes a monitor's entities
-- while it is above zero, so a crash between the commit and the recompute loses nothing.
ALTER TABLE monitors ADD COLUMN entities_due INTEGER NOT NULL DEFAULT 1;

-- Monitor IDs are never handed out twice (a deleted monitor's ID could otherwise come back
-- and inherit its Home Assistant leftovers).
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO counters (name, value) SELECT 'monitor', COALESCE(MAX(id), 0) FROM monitors;

-- A flood of refused requests is one row a minute with a count, not a row each.
ALTER TABLE rejections ADD COLUMN count INTEGER NOT NULL DEFAULT 1;

-- Bumped when Core forgets every state: an answer to a push sent before that must not mark
-- the state as pushed.
ALTER TABLE entities ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
