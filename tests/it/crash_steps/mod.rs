//! Crash safety of the durable step tools, both backends: the `engine_testd` example (the real daemon with engine
//! test functions) is killed with SIGKILL while a run sleeps, waits for an event, has just emitted events, waits
//! for an invoked child, or is inside a step; a new process on the same database (same node id, so it takes its
//! runs back at once) finishes the run. Side effects are counted in the database (`crash_effects`): a step that
//! completed before the kill never runs again; a step that was in flight (never completed) runs again.
//!
//! The kill is deterministic: after `drain` (the run is suspended in the database) or when the daemon logs that
//! a gate step is in flight (the step then waits for its gate file, which the test creates before the restart).

mod flow;
mod window;

use crate::both;
use crate::support::process::{Daemon, base_env, example_path};
use crate::support::{Api, Backend, TestDb};
use ingot_actors::time::now_ms;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// A fresh database with the side-effect table, and the directory of gate files.
struct Bed {
    db: TestDb,
    env: Vec<(String, String)>,
    gates: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bed {
    async fn new(backend: Backend) -> Bed {
        let db = TestDb::new(backend).await;
        db.exec(
            "CREATE TABLE crash_effects (run_id TEXT NOT NULL, step TEXT NOT NULL)",
            &[],
        )
        .await;
        let dir = tempfile::tempdir().expect("temp dir");
        let gates = dir.path().to_path_buf();
        let mut env = base_env(&db.url);
        env.push(("ENGINE_TESTD_GATES".into(), gates.display().to_string()));
        Bed {
            db,
            env,
            gates,
            _dir: dir,
        }
    }

    /// A daemon process; every start uses the same node id (`base_env`).
    fn start(&self) -> Daemon {
        Daemon::start_bin(&example_path("engine_testd"), &[], &self.env)
    }

    /// Lets gate steps named `step` through, now and in later processes.
    fn open_gate(&self, step: &str) {
        std::fs::write(self.gates.join(step), b"open").expect("gate file");
    }

    /// How many times step `step` of `run_id` executed (its side-effect rows).
    async fn effects(&self, run_id: &str, step: &str) -> i64 {
        self.db
            .count(
                "SELECT COUNT(*) AS n FROM crash_effects WHERE run_id = $1 AND step = $2",
                &[run_id, step],
            )
            .await
    }

    /// Asserts a run's status straight from the database (the daemon may be dead).
    async fn assert_status(&self, run_id: &str, status: &str) {
        let n = self
            .db
            .count(
                "SELECT COUNT(*) AS n FROM runs WHERE id = $1 AND status = $2",
                &[run_id, status],
            )
            .await;
        assert_eq!(n, 1, "run {run_id} is not {status}");
    }

    /// Persisted attempts of a step with this status.
    async fn step_rows(&self, run_id: &str, key: &str, status: &str) -> i64 {
        self.db
            .count(
                "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND step_key = $2 AND status = $3",
                &[run_id, key, status],
            )
            .await
    }

    /// The stored end of a sleep or timeout of a waiting step (epoch ms).
    async fn wake_at(&self, run_id: &str, key: &str) -> i64 {
        self.db
            .count(
                "SELECT MAX(wake_at) AS n FROM steps WHERE run_id = $1 AND step_key = $2 AND status = 'waiting'",
                &[run_id, key],
            )
            .await
    }

    async fn count_runs(&self, function_id: &str, status: &str) -> i64 {
        self.db
            .count(
                "SELECT COUNT(*) AS n FROM runs WHERE function_id = $1 AND status = $2",
                &[function_id, status],
            )
            .await
    }
}

/// The run an event started (created in the event's intake transaction).
async fn run_of(api: &Api, event_id: &str) -> String {
    api.only_run(event_id).await["id"].as_str().unwrap().to_string()
}

async fn run(api: &Api, run_id: &str) -> Value {
    api.run(run_id).await
}

/// Waits until the daemon logs that `function/step` is in flight; returns that run's id.
fn in_flight(d: &Daemon, function_step: &str) -> String {
    let needle = format!("engine_testd: entered {function_step} ");
    let line = d.wait_for_log(&[&needle], Duration::from_secs(60));
    let (_, run_id) = line.split_once(&needle).expect("the needle is in the line");
    run_id.trim().to_string()
}

/// Waits for the wall clock to pass a deadline stored in the database (not for work: nothing runs meanwhile).
async fn until_past(at_ms: i64) {
    let left = at_ms - now_ms() + 1;
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64)).await;
    }
    assert!(now_ms() > at_ms);
}

fn assert_resumed_own_runs(d: &Daemon) {
    assert!(
        d.log_text().contains("resuming runs this node held"),
        "the restarted node released the runs it held when killed:\n{}",
        d.log_text()
    );
}

both!(kill9_while_sleeping, sleep_impl);
async fn sleep_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    // `early` (step.sleep) ends while the daemon is down; `late` (step.sleep_until) ends after the restart.
    let early = d.api.send(json!({"name": "crash/sleep", "data": {"ms": 2000}})).await;
    let until = now_ms() + 5000;
    let late = d
        .api
        .send(json!({"name": "crash/sleep", "data": {"until_ms": until}}))
        .await;
    d.api.drain().await;
    let (early, late) = (run_of(&d.api, &early[0]).await, run_of(&d.api, &late[0]).await);
    d.kill9();

    for r in [&early, &late] {
        bed.assert_status(r, "sleeping").await;
        assert_eq!(bed.effects(r, "before").await, 1);
        assert_eq!(bed.effects(r, "after").await, 0);
    }
    assert_eq!(bed.wake_at(&late, "nap").await, until);
    until_past(bed.wake_at(&early, "nap").await).await;
    assert!(
        now_ms() < until,
        "the late sleep ended before the restart: the test proves less than it says"
    );

    let d = bed.start();
    d.api.drain_all().await;
    for r in [&early, &late] {
        let run = run(&d.api, r).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["output"], json!({"slept": true}));
        assert_eq!(bed.effects(r, "before").await, 1, "a completed step never runs again");
        assert_eq!(bed.effects(r, "after").await, 1);
        assert_eq!(bed.step_rows(r, "nap", "completed").await, 1);
    }
}

both!(kill9_while_waiting_then_the_event_comes, wait_event_impl);
async fn wait_event_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let ids = d.api.send(json!({"name": "crash/order", "data": {"orderId": 7}})).await;
    d.api.drain().await;
    let r = run_of(&d.api, &ids[0]).await;
    d.kill9();
    bed.assert_status(&r, "waiting").await;
    assert_eq!(bed.step_rows(&r, "approval", "waiting").await, 1);

    let d = bed.start();
    // Another order's approval does not resolve the wait; ours, sent after the restart, does.
    d.api
        .send(json!({"name": "crash/approved", "data": {"orderId": 8, "by": "mallory"}}))
        .await;
    d.api.drain().await;
    assert_eq!(run(&d.api, &r).await["status"], "waiting");
    d.api
        .send(json!({"name": "crash/approved", "data": {"orderId": 7, "by": "alice"}}))
        .await;
    // Killed again in the step after the resolved wait: the wait must not wait again nor take a later event.
    assert_eq!(in_flight(&d, "crash-waiter/after"), r);
    d.kill9();
    assert_eq!(bed.step_rows(&r, "approval", "completed").await, 1);

    bed.open_gate("after");
    let d = bed.start();
    d.api
        .send(json!({"name": "crash/approved", "data": {"orderId": 7, "by": "bob"}}))
        .await;
    d.api.drain_all().await;
    let got = run(&d.api, &r).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"approved": "alice"}));
    assert_eq!(bed.effects(&r, "before").await, 1, "a completed step never runs again");
    assert_eq!(
        bed.effects(&r, "after").await,
        2,
        "the step in flight at the second kill ran again"
    );
    assert_eq!(bed.step_rows(&r, "approval", "completed").await, 1);
}

both!(
    a_wait_timing_out_while_the_daemon_is_down_resolves_to_none,
    wait_timeout_impl
);
async fn wait_timeout_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let ids = d
        .api
        .send(json!({"name": "crash/order", "data": {"orderId": 9, "timeout_ms": 3000}}))
        .await;
    d.api.drain().await;
    let r = run_of(&d.api, &ids[0]).await;
    d.kill9();
    bed.assert_status(&r, "waiting").await;
    until_past(bed.wake_at(&r, "approval").await).await;

    bed.open_gate("after");
    let d = bed.start();
    d.api.drain_all().await;
    let got = run(&d.api, &r).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"approved": null}));
    assert_eq!(bed.effects(&r, "before").await, 1);
    assert_eq!(bed.effects(&r, "after").await, 1);
    assert_eq!(bed.step_rows(&r, "approval", "completed").await, 1);
}

both!(kill9_just_after_send_event, send_impl);
async fn send_impl(backend: Backend) {
    const N: usize = 5;
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let ids = d.api.send(json!({"name": "crash/fan", "data": {"n": N}})).await;
    let r = run_of(&d.api, &ids[0]).await;
    // The step after the send is in flight: the send is persisted as completed.
    assert_eq!(in_flight(&d, "crash-sender/hold"), r);
    d.kill9();
    bed.assert_status(&r, "running").await;
    assert_eq!(bed.step_rows(&r, "emit", "completed").await, 1);
    let children_sent = "SELECT COUNT(*) AS n FROM events WHERE name = 'crash/child'";
    assert_eq!(bed.db.count(children_sent, &[]).await, N as i64);

    bed.open_gate("hold");
    let d = bed.start();
    d.api.drain().await;
    assert_resumed_own_runs(&d);
    let got = run(&d.api, &r).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"]["ids"].as_array().unwrap().len(), N);
    assert_eq!(
        bed.db.count(children_sent, &[]).await,
        N as i64,
        "each event emitted once"
    );
    let children = d.api.runs_of_function("crash-child").await;
    assert_eq!(children.len(), N, "one child run per event");
    let seen: BTreeSet<i64> = children
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "completed", "{c}");
            c["output"]["i"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(seen, (0..N as i64).collect());
    assert_eq!(bed.step_rows(&r, "emit", "completed").await, 1);
    assert_eq!(bed.effects(&r, "before").await, 1, "a completed step never runs again");
    assert_eq!(
        bed.effects(&r, "hold").await,
        2,
        "the step in flight at the kill ran again"
    );
    assert_eq!(bed.effects(&r, "after").await, 1);
}

both!(kill9_while_an_invoked_child_runs, invoke_impl);
async fn invoke_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let ids = d
        .api
        .send(json!({"name": "crash/call", "data": {"a": 2, "b": 3}}))
        .await;
    let parent = run_of(&d.api, &ids[0]).await;
    let child = in_flight(&d, "crash-adder/add");
    // The child can start before the parent's suspension is persisted: kill once the engine logged it.
    d.wait_for_log(&[&parent, "run suspended", "waiting"], Duration::from_secs(60));
    d.kill9();
    bed.assert_status(&parent, "waiting").await;
    bed.assert_status(&child, "running").await;
    assert_eq!(bed.step_rows(&parent, "call", "waiting").await, 1);
    assert_eq!(bed.effects(&parent, "before").await, 1);

    bed.open_gate("add");
    let d = bed.start();
    assert_resumed_own_runs(&d);
    // Killed again in the parent's step after the invoke resolved: the invoke must not start another child.
    assert_eq!(in_flight(&d, "crash-invoker/after"), parent);
    d.kill9();
    assert_eq!(bed.step_rows(&parent, "call", "completed").await, 1);
    assert_eq!(bed.count_runs("crash-adder", "completed").await, 1);

    bed.open_gate("after");
    let d = bed.start();
    d.api.drain_all().await;
    let got = run(&d.api, &parent).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"got": {"sum": 5}}));
    assert_eq!(
        d.api.runs_of_function("crash-adder").await.len(),
        1,
        "exactly one child"
    );
    assert_eq!(bed.step_rows(&parent, "call", "completed").await, 1);
    assert_eq!(
        bed.effects(&parent, "before").await,
        1,
        "a completed step never runs again"
    );
    assert_eq!(
        bed.effects(&parent, "after").await,
        2,
        "the step in flight at the second kill ran again"
    );
    assert_eq!(
        bed.effects(&child, "add").await,
        2,
        "the child's step in flight ran again"
    );
}

both!(kill9_inside_a_step_reruns_only_that_step, in_flight_impl);
async fn in_flight_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    let ids = d.api.send(json!({"name": "crash/slow"})).await;
    let r = run_of(&d.api, &ids[0]).await;
    assert_eq!(in_flight(&d, "crash-slowpoke/slow"), r);
    d.kill9();
    bed.assert_status(&r, "running").await;
    assert_eq!(bed.step_rows(&r, "before", "completed").await, 1);
    assert_eq!(
        bed.db
            .count(
                "SELECT COUNT(*) AS n FROM steps WHERE run_id = $1 AND step_key = 'slow'",
                &[&r]
            )
            .await,
        0,
        "an attempt cut off by the kill persisted nothing"
    );

    bed.open_gate("slow");
    let d = bed.start();
    d.api.drain().await;
    assert_resumed_own_runs(&d);
    let got = run(&d.api, &r).await;
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["output"], json!({"slow": 42}));
    assert_eq!(bed.effects(&r, "before").await, 1, "a completed step never runs again");
    assert_eq!(
        bed.effects(&r, "slow").await,
        2,
        "the step in flight at the kill ran again"
    );
    assert_eq!(bed.effects(&r, "after").await, 1);
    assert_eq!(bed.step_rows(&r, "slow", "completed").await, 1);
}

// A transactional step's writes and its memo commit together or not at all. Killed while its work's INSERT is
// done but its transaction is open (the work waits for its gate inside it): neither the row nor the completed
// attempt is there, and the restarted daemon runs the step once. The side effect is a non-idempotent INSERT, so
// a write that had landed without its memo would show as a second row after the restart.
both!(kill9_inside_a_transactional_step, tx_inside_impl);
async fn tx_inside_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    let d = bed.start();
    d.api.send(json!({"name": "crash/tx"})).await;
    let r = in_flight(&d, "crash-tx/book");
    d.kill9();
    bed.assert_status(&r, "running").await;
    assert_eq!(
        bed.effects(&r, "book").await,
        0,
        "the work's write did not land without its memo"
    );
    assert_eq!(bed.step_rows(&r, "book", "completed").await, 0);

    bed.open_gate("book");
    bed.open_gate("after");
    let d = bed.start();
    d.api.drain().await;
    let run = run(&d.api, &r).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"booked": 7}));
    assert_eq!(bed.effects(&r, "book").await, 1, "the step's write landed exactly once");
    assert_eq!(bed.step_rows(&r, "book", "completed").await, 1);
    assert_eq!(bed.effects(&r, "after").await, 1);
}

// Killed after a transactional step committed (inside the next step): its write and its memo are both there, and
// the restarted daemon replays it without running it again (one row), while the plain step in flight runs again.
both!(kill9_after_a_transactional_step, tx_after_impl);
async fn tx_after_impl(backend: Backend) {
    let bed = Bed::new(backend).await;
    bed.open_gate("book");
    let d = bed.start();
    d.api.send(json!({"name": "crash/tx"})).await;
    let r = in_flight(&d, "crash-tx/after");
    d.kill9();
    assert_eq!(bed.effects(&r, "book").await, 1, "the work's write landed");
    assert_eq!(bed.step_rows(&r, "book", "completed").await, 1, "with its memo");

    bed.open_gate("after");
    let d = bed.start();
    d.api.drain().await;
    let run = run(&d.api, &r).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"booked": 7}));
    assert_eq!(
        bed.effects(&r, "book").await,
        1,
        "a completed transactional step never runs again"
    );
    assert_eq!(bed.step_rows(&r, "book", "completed").await, 1);
    assert_eq!(bed.effects(&r, "after").await, 2, "the plain step in flight ran again");
}
