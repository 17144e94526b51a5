-- Home Assistant events are fired from the events table itself, after a cursor, instead of
-- a row inserted and deleted per event: `to_core` marks the events Core is to hear of (not
-- imports, not those stored while pushes were off). `core_events` keeps what waits apart
-- from the cursor: rows queued before this version, and events Core refused (retried on
-- their own so one refusal never holds back the rest).
ALTER TABLE events ADD COLUMN to_core INTEGER NOT NULL DEFAULT 0;

CREATE TABLE core_event_cursor (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    fired_through INTEGER NOT NULL
) STRICT;

-- Events queued and never tried move behind the cursor; the cursor starts before the first.
UPDATE events SET to_core = 1
WHERE id IN (SELECT event_id FROM core_events WHERE event_id IS NOT NULL AND attempts = 0);
INSERT INTO core_event_cursor (id, fired_through) VALUES (1, COALESCE(
    (SELECT MIN(event_id) - 1 FROM core_events WHERE event_id IS NOT NULL AND attempts = 0),
    (SELECT MAX(id) FROM events),
    0));
DELETE FROM core_events WHERE event_id IS NOT NULL AND attempts = 0;
