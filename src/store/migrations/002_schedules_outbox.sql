-- Schedules: {"every": "1d"} or {"cron": "0 3 * * *", "tz": "Europe/Berlin"}; grace in seconds.
ALTER TABLE monitors ADD COLUMN schedule TEXT;
ALTER TABLE monitors ADD COLUMN grace_s INTEGER NOT NULL DEFAULT 3600 CHECK (grace_s >= 1);

-- The outbox of Home Assistant states: what each entity should show (`desired`; NULL means
-- "remove it from Home Assistant") and what Home Assistant last accepted (`pushed`).
-- A row is due while desired IS NOT pushed; the latest desired state always wins.
CREATE TABLE entities (
    entity_id       TEXT    PRIMARY KEY,
    monitor_id      INTEGER REFERENCES monitors (id) ON DELETE SET NULL,
    desired         TEXT,
    pushed          TEXT,
    pushed_at       INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
) STRICT;
CREATE INDEX entities_by_monitor ON entities (monitor_id);

-- Home Assistant events (`kopia_webhook_event`) waiting to be fired, one per received event,
-- written in the same transaction as the event itself.
CREATE TABLE core_events (
    id              INTEGER PRIMARY KEY,
    event_type      TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
) STRICT;
