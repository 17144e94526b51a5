-- Add-on-wide values (the ping key of slug URLs).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Healthchecks-style slugs (`/ping/<ping key>/<slug>`): the name in lower case with `-`
-- between words, or what a tool asked for when it created the monitor.
ALTER TABLE monitors ADD COLUMN slug TEXT;
UPDATE monitors SET slug = replace(key, '_', '-');
CREATE UNIQUE INDEX monitors_by_slug ON monitors (slug);

-- A monitor that created itself from a slug URL, not yet opened in the panel.
ALTER TABLE monitors ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0;
