-- Requests that were refused (400, 401, 413, 429), so the panel can say why a backup tool's
-- webhook "does not work". Bounded: the newest 100 per monitor are kept.
CREATE TABLE rejections (
    id         INTEGER PRIMARY KEY,
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    peer       TEXT,
    status     INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    head       BLOB
) STRICT;
CREATE INDEX rejections_by_monitor ON rejections (monitor_id, id);

-- Healthchecks-style run IDs (`?rid=`), pairing a start with its finish.
ALTER TABLE events ADD COLUMN run_id TEXT;
