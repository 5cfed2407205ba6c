//! `ingot bench --scenario user-created,user-created-steady`, small: the real binary seeds users, starts
//! `ingot serve` as a process of its own, sends `user/created` events (batched, then one per request at a steady
//! rate) and prints one row per scenario and backend. No speed is asserted (a measurement, not a test of speed):
//! the bench itself fails unless every run completed and each user got exactly one role and one preference; here
//! the rows are there, count every run, and carry CPU figures — and transactions per run on PostgreSQL only.

use crate::both;
use crate::support::{Backend, bench};

both!(user_created_scenarios_print_costs_per_run, user_created_impl);
async fn user_created_impl(b: Backend) {
    let stdout = bench::run(
        "user-created,user-created-steady",
        b,
        &[
            "--uc-events",
            "30",
            "--batch",
            "10",
            "--steady-rate",
            "20",
            "--steady-seconds",
            "1s",
        ],
    )
    .await;
    let rows: Vec<Vec<&str>> = bench::rows(&stdout, b, |_| true);
    assert_eq!(rows.len(), 2, "a batched and a steady row: {stdout}");
    let (batched, steady) = (&rows[0], &rows[1]);
    // Batched: backend runs runs/s p50 p99 max daemon_cpu postgres_cpu statements transactions verdict…
    assert_eq!(batched[1], "30", "{batched:?}");
    // Steady: backend rate runs p50 p99 max queued_p99 executing_p99 answer_p99 lag_p99 runs/s daemon_cpu
    // postgres_cpu statements transactions verdict…
    assert_eq!((steady[1], steady[2]), ("20", "20"), "{steady:?}");
    // The two parts of a run's latency: neither is longer than the longest whole.
    let ms = |i: usize| -> i64 { steady[i].parse().unwrap() };
    assert!(
        ms(6) <= ms(5) && ms(7) <= ms(5),
        "queued and executing p99 within the max: {steady:?}"
    );
    for (row, cpu, pg, stmts, tx) in [(batched, 6, 7, 8, 9), (steady, 11, 12, 13, 14)] {
        let daemon_cpu: f64 = row[cpu].parse().unwrap();
        assert!(daemon_cpu > 0.0, "the daemon used CPU: {row:?}");
        let statements: f64 = row[stmts].parse().unwrap();
        // Five steps recorded and a run claimed and finished: never fewer statements than runs.
        assert!(statements >= 1.0, "statements per run: {row:?}");
        match b {
            Backend::Sqlite => assert_eq!((row[pg], row[tx]), ("n/a", "n/a"), "{row:?}"),
            Backend::Postgres => {
                let per_run: f64 = row[tx].parse().unwrap();
                // Each run commits at least its intake and its own steps: never fewer than one per run.
                assert!(per_run >= 1.0, "transactions per run: {row:?}");
                let _: f64 = row[pg].parse().unwrap();
            }
        }
    }
}
