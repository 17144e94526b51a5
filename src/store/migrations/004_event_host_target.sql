-- Where a run happened (Duplicati's machine, SimpleBackups' server, Proxmox's node) and where
-- it went (SimpleBackups' storage, Duplicati's destination), when the sender says so.
ALTER TABLE events ADD COLUMN host TEXT;
ALTER TABLE events ADD COLUMN target TEXT;
