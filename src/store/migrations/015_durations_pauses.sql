-- A successful run far longer or shorter than usual is a warning (per monitor, on by default).
ALTER TABLE monitors ADD COLUMN unusual_durations INTEGER NOT NULL DEFAULT 1
    CHECK (unusual_durations IN (0, 1));
-- Paused until this time (ms): no overdue, no problems, no notifications.
ALTER TABLE monitors ADD COLUMN paused_until INTEGER;
-- A weekly maintenance window: {"cron": "0 2 * * 6", "tz": "Europe/Berlin", "for_s": 10800}.
ALTER TABLE monitors ADD COLUMN maintenance TEXT;
