ALTER TABLE runs DROP COLUMN resolved_at;
