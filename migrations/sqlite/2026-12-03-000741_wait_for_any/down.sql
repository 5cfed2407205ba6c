DELETE FROM waits WHERE step_key IS NOT NULL;
ALTER TABLE waits DROP COLUMN alternative;
ALTER TABLE waits DROP COLUMN step_key;
