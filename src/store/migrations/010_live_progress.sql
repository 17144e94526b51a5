-- How far a running backup is, as its tool reports while it runs (Duplicati's live status):
-- one row per source, replaced by each report and removed when the run is over. Not
-- history: only the newest report matters.
CREATE TABLE live_progress (
    monitor_id  INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL,
    phase       TEXT,
    fraction    REAL,
    files_done  INTEGER,
    files_total INTEGER,
    bytes_done  INTEGER,
    bytes_total INTEGER,
    started_at  INTEGER,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, source)
) STRICT, WITHOUT ROWID;
