-- The newest runs of a monitor whatever their status (the history attribute, charts,
-- the dashboard): without it a monitor with a long history is scanned and sorted.
CREATE INDEX events_by_kind ON events (monitor_id, kind, id);
