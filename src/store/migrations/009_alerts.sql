-- Shrinking backups: a successful run whose size or file count fell more than
-- shrink_percent below the median of its source's last shrink_runs successful runs is a
-- warning (0 turns the check off).
ALTER TABLE monitors ADD COLUMN shrink_percent INTEGER NOT NULL DEFAULT 50
    CHECK (shrink_percent BETWEEN 0 AND 99);
ALTER TABLE monitors ADD COLUMN shrink_runs INTEGER NOT NULL DEFAULT 5
    CHECK (shrink_runs BETWEEN 3 AND 50);
-- "Alert when no success for": 'auto', 'off' or a period such as '3d'.
ALTER TABLE monitors ADD COLUMN no_success_after TEXT NOT NULL DEFAULT 'auto';

-- Persistent notifications in Home Assistant (the problem_notifications option), an outbox
-- like `entities`: the problem each should show (want_status NULL: dismissed) and the one
-- Home Assistant last got, so that each problem is notified once and dismissed on recovery.
CREATE TABLE notifications (
    notification_id  TEXT    PRIMARY KEY,
    monitor_id       INTEGER REFERENCES monitors (id) ON DELETE SET NULL,
    want_status      TEXT,
    title            TEXT    NOT NULL DEFAULT '',
    message          TEXT    NOT NULL DEFAULT '',
    delivered_status TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Each source's figures of its last successful runs (oldest first, at most 50; 16 bytes
-- each: size and files as little-endian i64, i64::MIN for none): the next run is judged
-- against them with one primary-key read, however long the history.
ALTER TABLE latest_runs ADD COLUMN figures BLOB;
