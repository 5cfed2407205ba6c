//! Group commit at the door (`store::events::group`), on the store itself (both backends): concurrent intake
//! requests share one transaction, with the outcome each would have had alone — a request the database refuses
//! fails alone and the others of its group are stored, a producer id repeated across requests of one group is a
//! duplicate, and a request whose caller went away before its group started stores nothing.
//!
//! Deterministic without timing: the tests run on a current-thread runtime, so every request of a `join_all` is
//! queued during its first poll, before the worker's committer task runs; the committer then finds them all
//! waiting and takes them as one group.

use crate::support::{Backend, TestDb};
use futures_util::future::join_all;
use ingot::store::events::group::{Intake, IntakeStats};
use ingot_actors::event::NewEvent;
use std::sync::Arc;

fn event(id: &str, name: &str, external_id: Option<&str>) -> NewEvent {
    crate::support::prepared_event(id, name, external_id)
}

/// Refuses, in the database, any event named `test/poison` (as it would refuse a value it cannot store).
async fn refuse_poison(db: &TestDb) {
    let sql: &[&str] = match db.backend {
        Backend::Postgres => &[
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \
             'BEGIN RAISE EXCEPTION ''poisoned event''; END'",
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW \
             WHEN (NEW.name = 'test/poison') EXECUTE FUNCTION refuse_poison()",
        ],
        Backend::Sqlite => &["CREATE TRIGGER refuse_poison BEFORE INSERT ON events \
             WHEN NEW.name = 'test/poison' BEGIN SELECT RAISE(ABORT, 'poisoned event'); END"],
    };
    for s in sql {
        db.exec(s, &[]).await;
    }
}

#[tokio::test]
async fn sqlite() {
    groups_impl(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres() {
    groups_impl(Backend::Postgres).await
}

async fn groups_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    refuse_poison(&db).await;
    if backend == Backend::Postgres {
        // Which transaction stored each event.
        for s in [
            "CREATE TABLE stored_by (event_id TEXT, tx BIGINT)",
            "CREATE FUNCTION note_tx() RETURNS trigger LANGUAGE plpgsql AS \
             'BEGIN INSERT INTO stored_by VALUES (NEW.id, txid_current()); RETURN NEW; END'",
            "CREATE TRIGGER note_tx AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION note_tx()",
        ] {
            db.exec(s, &[]).await;
        }
    }
    let stats = Arc::new(IntakeStats::default());
    let intake = Intake::new(db.db.clone(), stats.clone());
    let now = 1_700_000_000_000;

    // One group of eight: r3 is refused by the database; r1 and r5 carry the same producer id.
    let requests: Vec<Vec<NewEvent>> = (0..8)
        .map(|i| {
            let name = if i == 3 { "test/poison" } else { "test/e" };
            let external = (i == 1 || i == 5).then_some("same");
            vec![event(&format!("r{i}"), name, external)]
        })
        .collect();
    let answers = join_all(requests.into_iter().map(|events| intake.ingest(events, now))).await;
    let snapshot = stats.group_size.snapshot();
    assert_eq!(
        (snapshot.count, snapshot.sum),
        (1, 8.0),
        "the eight requests were one group"
    );
    for (i, answer) in answers.iter().enumerate() {
        match (i, answer) {
            (3, Err(e)) => assert!(e.to_string().contains("poisoned event"), "{e}"),
            (3, Ok(_)) => panic!("the refused request was answered as stored"),
            (_, Err(e)) => panic!("request r{i} of the group failed with the refused one: {e}"),
            (_, Ok(ingested)) => assert_eq!(ingested.woken, ["f"], "r{i}"),
        }
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM events", &[]).await, 7);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE id = 'r3'", &[]).await,
        0
    );
    // The first of the two claims the producer id, as had it committed alone first; the second starts nothing.
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE duplicate", &[]).await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE id = 'r5' AND duplicate", &[])
            .await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 6);

    // A request whose caller went away before its group started is left out; the others share one transaction.
    let mut dropped = Box::pin(intake.ingest(vec![event("gone", "test/e", None)], now));
    assert!(futures_util::poll!(dropped.as_mut()).is_pending(), "queued");
    drop(dropped);
    let batch = (0..5).map(|i| vec![event(&format!("s{i}"), "test/e", None)]);
    let answers = join_all(batch.map(|events| intake.ingest(events, now))).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let snapshot = stats.group_size.snapshot();
    assert_eq!((snapshot.count, snapshot.sum), (2, 13.0), "one more group, of the five");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE id = 'gone'", &[])
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE id LIKE 's%'", &[])
            .await,
        5
    );
    if backend == Backend::Postgres {
        assert_eq!(
            db.count(
                "SELECT COUNT(DISTINCT tx) AS n FROM stored_by WHERE event_id LIKE 's%'",
                &[]
            )
            .await,
            1,
            "the five requests were stored by one transaction"
        );
    }
}
