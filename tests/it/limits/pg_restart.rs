//! PostgreSQL stopped (as by a crash) and started again under a stream of single-event requests, on a throwaway
//! server of the test's own: while it is down, intake answers 503 and readiness says not ready; every event
//! acknowledged with 200 is stored and its run completes; the daemon recovers alone, with no restart.

use crate::support::inproc::InProc;
use crate::support::pg_server::PgServer;
use ingot_actors::{FunctionDef, Trigger};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const BEFORE: usize = 60;
const TOTAL: usize = 160;

fn two_steps(executions: Arc<AtomicUsize>) -> FunctionDef {
    FunctionDef::new("outage", "Outage", move |ctx| {
        let executions = executions.clone();
        async move {
            let a: u32 = ctx.step.run("first", || async { Ok(1) }).await?;
            let b: u32 = ctx
                .step
                .run("second", || async move {
                    executions.fetch_add(1, Ordering::SeqCst);
                    Ok(a + 1)
                })
                .await?;
            Ok(json!({"b": b}))
        }
    })
    .trigger(Trigger::event("test/outage"))
}

/// What the producer saw: events acknowledged (by producer id) and 503 answers.
struct Seen {
    acked: BTreeSet<String>,
    unavailable: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing() {
    let server = PgServer::start(|_| String::new());
    let executions = Arc::new(AtomicUsize::new(0));
    let d = InProc::start(
        &server.url("127.0.0.1", "application_name=ingot"),
        vec![two_steps(executions.clone())],
        &[("db_timeout", "1s")],
    )
    .await;

    // The producer sends one event per request and retries a 503 after its Retry-After, as Stripe and the
    // Inngest SDKs do. It pauses after BEFORE events until the database is down, so the outage is mid-stream.
    let api = d.api.clone();
    let (halfway_tx, halfway_rx) = oneshot::channel::<()>();
    let (down_tx, mut down_rx) = mpsc::channel::<()>(1);
    let (unavailable_tx, mut unavailable_rx) = mpsc::channel::<()>(1);
    let producer = tokio::spawn(async move {
        let mut seen = Seen {
            acked: BTreeSet::new(),
            unavailable: 0,
        };
        let mut halfway = Some(halfway_tx);
        for i in 0..TOTAL {
            if i == BEFORE {
                halfway.take().unwrap().send(()).unwrap();
                down_rx.recv().await.unwrap();
            }
            let id = format!("ev-{i}");
            loop {
                let (status, body) = api
                    .send_raw("k", json!({"name": "test/outage", "id": id}).to_string())
                    .await;
                match status {
                    200 => {
                        seen.acked.insert(id.clone());
                        break;
                    }
                    503 => {
                        seen.unavailable += 1;
                        let _ = unavailable_tx.try_send(());
                        // The producer's own retry pace (the daemon asks for Retry-After: 1).
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => panic!("event {i}: {other} {body}"),
                }
            }
        }
        seen
    });

    halfway_rx.await.unwrap();
    server.stop("immediate");
    down_tx.send(()).await.unwrap();
    // The daemon refuses while the database is down (nothing stored, so the producer retries) ...
    unavailable_rx.recv().await.expect("a 503 while the database is down");
    let (ready, _) = d.api.get("/health/ready").await;
    assert_eq!(ready, 503, "not ready while the database is down");
    // ... and takes events again once it is back, without being restarted.
    server.start_again();
    let seen = producer.await.unwrap();
    assert!(seen.unavailable > 0);
    assert_eq!(seen.acked.len(), TOTAL);
    let (drained, body) = d.api.get("/api/v1/drain?timeout_ms=20000").await;
    if drained != 200 {
        for status in ["running", "queued"] {
            let (_, runs) = d
                .api
                .get(&format!("/api/v1/runs?function=outage&status={status}"))
                .await;
            eprintln!("{status}: {runs}");
        }
        panic!("not drained: {body}");
    }

    // Every acknowledged event is stored once, and its run completed.
    let (status, runs) = d.api.get("/api/v1/runs?function=outage&limit=1000").await;
    assert_eq!(status, 200, "{runs}");
    let runs = runs["runs"].as_array().unwrap();
    let completed = runs.iter().filter(|r| r["status"] == "completed").count();
    assert_eq!(
        (runs.len(), completed),
        (TOTAL, TOTAL),
        "one completed run per acknowledged event"
    );
    let mut event_ids = BTreeSet::new();
    for r in runs {
        let event = d
            .api
            .get_ok(&format!("/api/v1/events/{}", r["event_id"].as_str().unwrap()))
            .await;
        event_ids.insert(event["event"]["id"].as_str().map(str::to_string).unwrap_or_default());
    }
    assert_eq!(
        event_ids, seen.acked,
        "the runs belong to exactly the acknowledged events"
    );
    assert!(executions.load(Ordering::SeqCst) >= TOTAL);
    let (ready, body): (u16, Value) = d.api.get("/health/ready").await;
    assert_eq!(ready, 200, "ready again: {body}");
    d.stop().await;
}
