//! Limits and failure behaviour (issue 15): input a backend cannot store is refused alike on both, data errors
//! are never "retry", the API refuses foreign `Host`s and non-JSON bodies, database deadlines answer 503 in bounded
//! time, admission control and long-poll bounds answer 429, readiness reflects the ability to write.

mod admission;
mod bad_input;
mod commit_in_doubt;
mod deadlines;
mod full_disk;
mod network;
mod pg_restart;
