//! A wait resolved while its run is still running (here: a step in parallel with the wait holds the run).
//!
//! The intake writes the resolved step but cannot make the run due (it is not `waiting` yet). The run's own
//! `waiting` transition then sees the resolved wait and goes straight to `queued` in the same statement, so there
//! is no window in which a crash could leave the run waiting for a result it already has. The proof: with a test
//! trigger that makes every `waiting → queued` update fail (what a kill between two separate writes would leave),
//! the run still completes promptly — it never needed that second write.

use super::{Bed, in_flight, run, run_of};
use crate::both;
use crate::support::{Backend, TestDb};
use serde_json::json;
use std::time::Duration;

/// Makes every `waiting → queued` update of `runs` fail.
async fn block_resume(db: &TestDb) {
    match db.backend {
        Backend::Sqlite => {
            db.exec(
                "CREATE TRIGGER crash_no_resume BEFORE UPDATE ON runs \
                 WHEN OLD.status = 'waiting' AND NEW.status = 'queued' \
                 BEGIN SELECT RAISE(ABORT, 'the process died here'); END",
                &[],
            )
            .await;
        }
        Backend::Postgres => {
            db.exec(
                "CREATE FUNCTION crash_no_resume() RETURNS trigger LANGUAGE plpgsql AS \
                 'BEGIN RAISE EXCEPTION ''the process died here''; END'",
                &[],
            )
            .await;
            db.exec(
                "CREATE TRIGGER crash_no_resume BEFORE UPDATE ON runs FOR EACH ROW \
                 WHEN (OLD.status = 'waiting' AND NEW.status = 'queued') EXECUTE FUNCTION crash_no_resume()",
                &[],
            )
            .await;
        }
    }
}

async fn unblock_resume(db: &TestDb) {
    let sql = match db.backend {
        Backend::Sqlite => "DROP TRIGGER crash_no_resume",
        Backend::Postgres => "DROP TRIGGER crash_no_resume ON runs",
    };
    db.exec(sql, &[]).await;
}

/// Bounded poll (no notification exists for "the wait is indexed"): until the step has a `waiting` attempt.
async fn until_waiting_step(bed: &Bed, run_id: &str, key: &str) {
    for _ in 0..3000 {
        if bed.step_rows(run_id, key, "waiting").await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("step {key} of run {run_id} never began waiting");
}

/// The event comes while the run is running; with `blocked`, no `waiting → queued` update can succeed. Either way
/// the run must finish with the event, promptly (its timeout is an hour away).
async fn resolved_while_running(backend: Backend, blocked: bool) {
    let bed = Bed::new(backend).await;
    if blocked {
        block_resume(&bed.db).await;
    }
    let d = bed.start();
    let ids = d.api.send(json!({"name": "crash/race", "data": {"orderId": 5}})).await;
    let r = run_of(&d.api, &ids[0]).await;
    assert_eq!(in_flight(&d, "crash-racer/hold"), r);
    until_waiting_step(&bed, &r, "approval").await;
    d.api
        .send(json!({"name": "crash/approved", "data": {"orderId": 5, "by": "alice"}}))
        .await;
    assert_eq!(
        bed.step_rows(&r, "approval", "completed").await,
        1,
        "the intake resolved the wait of the running run"
    );
    bed.open_gate("hold");
    let (status, body) = d.api.get("/api/v1/drain?all=true&timeout_ms=10000").await;
    assert_eq!(
        status, 200,
        "the resolved run is still waiting (for its timeout): {body}"
    );
    let got = run(&d.api, &r).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"approved": "alice"}));
    if blocked {
        unblock_resume(&bed.db).await;
    }
}

both!(a_wait_resolved_while_its_run_runs_resumes_it, resolved_impl);
async fn resolved_impl(backend: Backend) {
    resolved_while_running(backend, false).await
}

both!(a_resolved_wait_needs_no_second_write_to_resume, blocked_impl);
async fn blocked_impl(backend: Backend) {
    resolved_while_running(backend, true).await
}
