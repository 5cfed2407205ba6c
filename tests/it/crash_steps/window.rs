//! The crash window between a run persisting `waiting` and its check that the wait was already resolved.
//!
//! An event can resolve a wait while its run is still running (here: a step in parallel with the wait holds the
//! run). The intake then writes the resolved step, but cannot make the run due (it is not `waiting` yet); the run
//! actor persists `waiting` and then asks `resume_if_resolved`. A process killed between those two writes leaves
//! a resolved wait in a run that is due only at its timeout. To hit that window deterministically, a test trigger
//! makes the `waiting → queued` update fail (the daemon logs "could not check the wait") and the test kills the
//! daemon right after — the database then holds exactly what a kill between the two writes leaves.

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

/// The event comes while the run is running; with `crash`, the daemon dies between persisting `waiting` and
/// `resume_if_resolved`. Either way the run must finish with the event, promptly (its timeout is an hour away).
async fn resolved_while_running(backend: Backend, crash: bool) {
    let bed = Bed::new(backend).await;
    if crash {
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
    let d = if crash {
        d.wait_for_log(&["could not check the wait", &r], Duration::from_secs(60));
        d.kill9();
        bed.assert_status(&r, "waiting").await;
        let due_at_timeout = format!(
            "SELECT COUNT(*) AS n FROM runs WHERE id = $1 AND run_at > {}",
            ingot_actors::time::now_ms() + 1_800_000
        );
        assert_eq!(bed.db.count(&due_at_timeout, &[&r]).await, 1, "due only at its timeout");
        unblock_resume(&bed.db).await;
        bed.start()
    } else {
        d
    };
    let (status, body) = d.api.get("/api/v1/drain?all=true&timeout_ms=10000").await;
    assert_eq!(
        status, 200,
        "the resolved run is still waiting (for its timeout): {body}"
    );
    let got = run(&d.api, &r).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"approved": "alice"}));
}

both!(a_wait_resolved_while_its_run_runs_resumes_it, resolved_impl);
async fn resolved_impl(backend: Backend) {
    resolved_while_running(backend, false).await
}

mod crash_between_waiting_and_resume_check {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "engine bug: a wait resolved while its run was running is lost if the process dies between persisting \
                `waiting` and `resume_if_resolved`; the run then waits for its timeout"]
    async fn sqlite() {
        resolved_while_running(Backend::Sqlite, true).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "engine bug: a wait resolved while its run was running is lost if the process dies between persisting \
                `waiting` and `resume_if_resolved`; the run then waits for its timeout"]
    async fn postgres() {
        resolved_while_running(Backend::Postgres, true).await
    }
}
