-- Each source's usual figures (latest_runs.figures) are rewritten in a compact form by the
-- migration's hook in store/mod.rs (figures_compact): the schema does not change.
SELECT 1;
