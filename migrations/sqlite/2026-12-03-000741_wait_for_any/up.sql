-- wait_for_any (issue 14): one wait row per alternative. `step_key` names the step they resolve (NULL: the row's
-- `wait_key` is the step's key, as for wait_for_event and cancel_on), `alternative` which one matched.
ALTER TABLE waits ADD COLUMN step_key TEXT;
ALTER TABLE waits ADD COLUMN alternative BIGINT;
