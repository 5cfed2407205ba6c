//! `ingot bench --scenario soak`, shortened to seconds: the real binary runs the scenario on a fresh database,
//! prints one row per interval with every figure, and ends with its summary. No timing is asserted (a
//! measurement, not a test of speed): the rows are there, well formed, and no run failed.

use crate::both;
use crate::support::{Backend, bench};

both!(soak_prints_a_row_per_interval, soak_impl);
async fn soak_impl(b: Backend) {
    let stdout = bench::run(
        "soak",
        b,
        &[
            "--rate",
            "20",
            "--duration",
            "4s",
            "--report-every",
            "2s",
            "--soak-retention",
            "10s",
        ],
    )
    .await;
    let rows: Vec<Vec<&str>> = bench::rows(&stdout, b, |l| !l.contains("soak done"));
    assert_eq!(rows.len(), 2, "one row per 2 s over 4 s: {stdout}");
    for row in &rows {
        assert_eq!(row.len(), 15, "backend and 14 figures: {row:?}");
        let rss: f64 = row[2].parse().unwrap();
        let db_mib: f64 = row[3].parse().unwrap();
        let conns: i64 = row[6].parse().unwrap();
        assert!(rss > 0.0 && db_mib > 0.0 && conns >= 1, "{row:?}");
        match b {
            // The WAL and the free list: figures on SQLite, `-` on PostgreSQL.
            Backend::Sqlite => {
                let wal: f64 = row[4].parse().unwrap();
                let free: i64 = row[5].parse().unwrap();
                assert!(wal >= 0.0 && wal <= db_mib && free >= 0, "{row:?}");
            }
            Backend::Postgres => assert_eq!((row[4], row[5]), ("-", "-"), "{row:?}"),
        }
        let dedupe: i64 = row[9].parse().unwrap();
        assert!(dedupe >= 0, "{row:?}");
        assert_eq!(row[11].split('/').count(), 3, "latency p50/p99/max: {row:?}");
        assert_eq!(row[13], "0", "no run failed: {row:?}");
    }
    let sent: u64 = rows[1][14].parse().unwrap();
    assert!(sent > 0, "events were sent: {stdout}");
    assert!(
        stdout.contains(&format!("{:<9} soak done: ", bench::name(b))),
        "the summary: {stdout}"
    );
}
