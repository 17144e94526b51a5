-- `backups` is now the key of the add-on's own entities (`sensor.kopia_backups`, the overview
-- of every monitor): a monitor that had it moves to the first free `backups_<n>`. Its webhook
-- URLs and slug stay as they are.
UPDATE monitors
SET key = COALESCE((
        SELECT 'backups_' || n.value
        FROM (SELECT 2 AS value UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5
              UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS n
        WHERE NOT EXISTS (SELECT 1 FROM monitors m WHERE m.key = 'backups_' || n.value)
        ORDER BY n.value
        LIMIT 1
    ), 'backups_' || id || '_' || id),
    entities_due = entities_due + 1
WHERE key = 'backups';
