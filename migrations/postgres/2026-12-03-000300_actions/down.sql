DROP TABLE action_runs;
DROP TABLE actions;
DROP TABLE function_pauses;
ALTER TABLE runs DROP COLUMN rerun_of;
