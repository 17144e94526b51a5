-- Dedup keys stored before they were kept as 96 bits of their SHA-256 are rewritten by
-- this migration's hook (store/mod.rs, `dedup_keys_hashed`): SQLite has no SHA-256.
SELECT 1;
