-- Checks of the backups (verify jobs, borgmatic's check) are events of their own kind: the
-- events table's CHECK on `kind` gains `'check'` in the Rust hook of this step
-- (store/mod.rs, `checks_kept`), by the procedure of 011. A monitor may alert when its
-- backups were not verified for too long (`not_verified_after`, a period; NULL: off).
ALTER TABLE monitors ADD COLUMN not_verified_after TEXT;
