-- Every index costs each webhook an extra write. (monitor_id, kind, id) already finds the
-- newest success by walking back from the newest run, and retention now finds its boundary
-- by binary search over the rowid (events are stored in arrival order).
DROP INDEX events_by_kind_status;
DROP INDEX events_by_received;
