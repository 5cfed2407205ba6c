-- The dashboard lists the reruns of a run (src/store/read.rs, reruns_of).
CREATE INDEX runs_rerun_of ON runs (rerun_of) WHERE rerun_of IS NOT NULL;
