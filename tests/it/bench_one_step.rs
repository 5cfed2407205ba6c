//! `ingot bench --scenario one-step`, small: the real binary starts the daemon in-process, sends
//! `bench/one-step` events in batches and prints one row per backend. No speed is asserted (a measurement, not a
//! test of speed): the bench itself fails unless every run completed, and unless the floor (the same rows written
//! by plain SQL, no engine) left every one of its runs completed with its step. Here the rows are there with every
//! figure, the ratios agree with the figures, and the statement and transaction counts are printed.

use crate::both;
use crate::support::{Backend, bench};

both!(one_step_prints_runs_baseline_and_floor, one_step_impl);
async fn one_step_impl(b: Backend) {
    let stdout = bench::run("one-step", b, &["--events", "45", "--batch", "10"]).await;
    let lines: Vec<Vec<&str>> = bench::rows(&stdout, b, |_| true);
    assert_eq!(lines.len(), 2, "a figures row and a where-the-time-goes row: {stdout}");
    // backend events send_s accepted/s total_s runs/s p50 p99 max baseline runs/baseline floor floor/baseline
    // runs/floor verdict…
    let row = &lines[0];
    assert_eq!(row[1], "45", "{row:?}");
    let figure = |i: usize| -> f64 { row[i].parse().unwrap_or_else(|_| panic!("column {i} of {row:?}")) };
    let (runs, baseline, floor) = (figure(5), figure(9), figure(11));
    assert!(runs > 0.0 && baseline > 0.0 && floor > 0.0, "{row:?}");
    assert!((figure(10) - runs / baseline).abs() < 0.01, "runs/baseline: {row:?}");
    assert!((figure(12) - floor / baseline).abs() < 0.01, "floor/baseline: {row:?}");
    assert!((figure(13) - runs / floor).abs() < 0.01, "runs/floor: {row:?}");
    assert!(stdout.contains("a transaction each per batch of 10 runs"), "{stdout}");
    let time = lines[1].join(" ");
    assert!(time.contains("floor: 1 writer(s)") == (b == Backend::Sqlite), "{time}");
    let statements: f64 = time
        .split("statements ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("statements per run: {time}"));
    // Counted while sending and draining (each pool's first claim at start-up may fall in): some, and far fewer
    // than the 45 runs' intakes, claims, steps and ends would send one statement (and transaction) at a time.
    assert!(statements > 0.0 && statements < 20.0, "{time}");
    let transactions = time.split("transactions ").nth(1).unwrap_or_default();
    match b {
        Backend::Sqlite => assert_eq!(transactions, "n/a", "{time}"),
        Backend::Postgres => {
            let t: f64 = transactions.parse().unwrap_or_else(|_| panic!("{time}"));
            assert!(t > 0.0, "{time}");
        }
    }
}
