DROP INDEX runs_rerun_of;
