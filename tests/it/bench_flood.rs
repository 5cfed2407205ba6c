//! `ingot bench --scenario flood`, small: the real binary starts `ingot serve` as a process of its own, floods it
//! with concurrent large bodies beyond its in-flight bounds, and prints one row per backend. No memory figure or
//! timing is asserted (a measurement, not a test of speed): the row is there, well formed, the answers add up to
//! the requests sent, refusals came with Retry-After, and the events stored are exactly the acknowledged ones (a 503
//! past the database deadline stored nothing, not even after a COMMIT it had sent).

use crate::both;
use crate::support::{Backend, bench};

both!(flood_prints_a_row_with_answers_and_memory, flood_impl);
async fn flood_impl(b: Backend) {
    let stdout = bench::run(
        "flood",
        b,
        &[
            "--flood-requests",
            "24",
            "--flood-body-bytes",
            "200000",
            "--flood-inflight-bytes",
            "400000",
            "--flood-inflight-requests",
            "8",
            "--flood-settle",
            "1s",
        ],
    )
    .await;
    let rows: Vec<Vec<&str>> = bench::rows(&stdout, b, |_| true);
    assert_eq!(rows.len(), 1, "one row: {stdout}");
    let row = &rows[0];
    assert_eq!(row.len(), 16, "backend and 15 figures: {row:?}");
    let n = |i: usize| -> u64 { row[i].parse().unwrap() };
    let (ok, overloaded, past_deadline, too_many, other) = (n(1), n(2), n(3), n(4), n(5));
    let (no_retry, acked, stored) = (n(6), n(7), n(8));
    assert_eq!(
        ok + overloaded + past_deadline + too_many + other,
        24,
        "every request answered: {row:?}"
    );
    assert!(ok >= 1 && other == 0 && no_retry == 0, "{row:?}");
    assert_eq!(acked, ok, "one event per 200: {row:?}");
    assert_eq!(stored, acked, "every acknowledged event stored, no other: {row:?}");
    for i in 10..=14 {
        let mib: f64 = row[i].parse().unwrap();
        assert!(mib > 0.0, "memory figure {i}: {row:?}");
    }
    assert!(matches!(row[15], "met" | "MISSED"), "{row:?}");
}
