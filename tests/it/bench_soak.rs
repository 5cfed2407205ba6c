//! `ingot bench --scenario soak`, shortened to seconds: the real binary runs the scenario on a fresh database,
//! prints one row per interval with every figure, and ends with its summary. No timing is asserted (a
//! measurement, not a test of speed): the rows are there, well formed, and no run failed.

use crate::both;
use crate::support::Backend;
use std::process::Command;

both!(soak_prints_a_row_per_interval, soak_impl);
async fn soak_impl(b: Backend) {
    let backend = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ingot"))
            .args(["bench", "--scenario", "soak", "--backend", backend])
            .args([
                "--rate",
                "20",
                "--duration",
                "4s",
                "--report-every",
                "2s",
                "--soak-retention",
                "10s",
            ])
            .env("INGOT_LOG", "warn")
            .output()
            .expect("run ingot bench")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ingot bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with(backend) && !l.contains("soak done"))
        .map(|l| l.split_whitespace().collect())
        .collect();
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
        stdout.contains(&format!("{backend:<9} soak done: ")),
        "the summary: {stdout}"
    );
}
