-- Wait fencing: when a wait or invoke of the run was last resolved (an event matched it, a child finished). The
-- resolution and the run's own `waiting` transition both write this row, so they meet on its row lock, and the
-- transition reads the column from the row's newest version (src/store/runs/writer/, src/store/runs/waits.rs).
ALTER TABLE runs ADD COLUMN resolved_at BIGINT;
