-- Monitors: one per backup job (or group of jobs) that reports to one webhook URL.
CREATE TABLE monitors (
    id            INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    webhook_id    TEXT    NOT NULL UNIQUE,
    secret        TEXT,
    history_limit INTEGER NOT NULL CHECK (history_limit BETWEEN 5 AND 40),
    origin        TEXT    NOT NULL DEFAULT 'ui' CHECK (origin IN ('ui', 'options')),
    created_at    INTEGER NOT NULL
) STRICT;

-- Every event received, normalised. Times are Unix milliseconds (UTC).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    monitor_id  INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    sender      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('run', 'start', 'log', 'test', 'unrecognized')),
    status      TEXT    NOT NULL CHECK (status IN ('success', 'warning', 'failed', 'unknown')),
    source      TEXT,
    started_at  INTEGER,
    finished_at INTEGER,
    duration_ms INTEGER,
    size_bytes  INTEGER,
    files       INTEGER,
    dirs        INTEGER,
    error       TEXT,
    dedup_key   TEXT,
    raw         BLOB
) STRICT;

-- History pages (newest first) and retention.
CREATE INDEX events_by_monitor ON events (monitor_id, id);
-- Recent runs and the last success without scanning a long history.
CREATE INDEX events_by_kind_status ON events (monitor_id, kind, status, id);
CREATE INDEX events_by_received ON events (received_at);
-- Senders that retry (SimpleBackups, Duplicati, JVS) deliver the same run twice.
CREATE UNIQUE INDEX events_dedup ON events (monitor_id, dedup_key) WHERE dedup_key IS NOT NULL;

-- The newest run of each source of each monitor ('' = runs that name no source), kept on
-- insert so a monitor's status never needs a scan of its history.
CREATE TABLE latest_runs (
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    source     TEXT    NOT NULL,
    event_id   INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (monitor_id, source)
) STRICT, WITHOUT ROWID;
