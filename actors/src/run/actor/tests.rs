//! The run actor's handling of what surrounds `decide` (whose table is in `outcome.rs`): storage errors while
//! loading steps and while persisting the outcome, a lost lease (a run cancelled or rescued meanwhile), a
//! shutdown during a failing write, timeouts and a panicking handler. A scripted in-memory store answers.

use super::*;
use crate::function::{FunctionDef, Registry, Trigger};
use crate::run::state::RunEvent;
use crate::store::scripted::Scripted;
use crate::store::{ClaimedRun, Lease, RunChange, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A runtime over `store` with one function `f` whose handler is `handler` (counted by `calls`).
fn setup(store: Arc<Scripted>, def: FunctionDef) -> (Arc<Runtime>, Arc<Function>) {
    let registry = Arc::new(Registry::new(vec![def]).unwrap());
    let function = registry.get("f").unwrap().clone();
    (Runtime::new(Default::default(), store, registry), function)
}

fn def<F, Fut>(calls: Arc<AtomicUsize>, handler: F) -> FunctionDef
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<serde_json::Value, FnError>> + 'static,
{
    FunctionDef::new("f", "F", move |_ctx| {
        calls.fetch_add(1, Ordering::SeqCst);
        handler()
    })
    .trigger(Trigger::event("t/e"))
    .retries(3)
}

fn claimed(first_claim: bool, created_at_ms: i64) -> ClaimedRun {
    ClaimedRun {
        lease: Lease {
            run_id: "r".into(),
            token: 1,
        },
        function_id: "f".into(),
        event: serde_json::json!({"name": "t/e", "data": {}}),
        attempt: 0,
        first_claim,
        steps: None,
        parent_run_id: None,
        batch: Vec::new(),
        created_at_ms,
        started_at_ms: created_at_ms,
        unreadable: None,
    }
}

fn ok() -> std::future::Ready<Result<serde_json::Value, FnError>> {
    std::future::ready(Ok(serde_json::json!({"ok": true})))
}

/// The one change the run wrote (it wrote exactly one).
fn only_change(store: &Scripted) -> RunChange {
    let changes = store.changes.lock().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    changes[0].clone()
}

fn events(store: &Scripted) -> Vec<RunEvent> {
    store.changes.lock().unwrap().iter().map(|c| c.event).collect()
}

#[tokio::test]
async fn a_storage_error_on_the_final_write_is_retried_until_the_outcome_lands() {
    let store = Arc::new(Scripted::default());
    store
        .change_answers
        .lock()
        .unwrap()
        .push_back(StoreError::Database("connection reset".into()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (rt, f) = setup(store.clone(), def(calls.clone(), ok));
    let done = execute(rt, f, claimed(true, now_ms())).await;
    // The handler ran once; the same outcome was written again after the failed write, not decided anew.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(events(&store), [RunEvent::Succeeded, RunEvent::Succeeded]);
    let changes = store.changes.lock().unwrap();
    assert_eq!(changes[0], changes[1]);
    assert_eq!((done.run_id.as_str(), done.resume_at_ms), ("r", None));
}

#[tokio::test]
async fn a_lost_lease_on_the_final_write_stops_without_writing_more() {
    // The run was cancelled (or rescued) while it ran: the guarded write matches no row.
    let store = Arc::new(Scripted::default());
    store.change_answers.lock().unwrap().push_back(StoreError::LeaseLost);
    let calls = Arc::new(AtomicUsize::new(0));
    let (rt, f) = setup(store.clone(), def(calls.clone(), ok));
    let done = execute(rt, f, claimed(true, now_ms())).await;
    assert_eq!(
        events(&store),
        [RunEvent::Succeeded],
        "one attempt, no retry of the write"
    );
    assert_eq!(done.resume_at_ms, None);
}

#[tokio::test]
async fn during_shutdown_a_failing_final_write_is_left_to_the_restart() {
    let store = Arc::new(Scripted::default());
    store
        .change_answers
        .lock()
        .unwrap()
        .push_back(StoreError::Database("connection reset".into()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (rt, f) = setup(store.clone(), def(calls.clone(), ok));
    rt.begin_shutdown();
    let done = execute(rt, f, claimed(true, now_ms())).await;
    assert_eq!(
        events(&store),
        [RunEvent::Succeeded],
        "no second try while shutting down"
    );
    assert_eq!(done.resume_at_ms, None);
}

#[tokio::test]
async fn an_unreachable_store_loading_the_steps_pauses_the_run_without_running_it_or_spending_an_attempt() {
    let store = Arc::new(Scripted {
        load_fails: true,
        ..Default::default()
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let (rt, f) = setup(store.clone(), def(calls.clone(), ok));
    let done = execute(rt, f, claimed(false, now_ms())).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler never ran");
    let c = only_change(&store);
    assert_eq!(
        (c.event, c.to, c.attempt),
        (RunEvent::RetryScheduled, RunStatus::Queued, 0)
    );
    assert_eq!(c.error.as_ref().unwrap().name, "StorageUnavailable");
    assert!(done.resume_at_ms.is_some_and(|at| at == c.run_at_ms.unwrap()));
}

#[tokio::test]
async fn a_run_past_its_start_timeout_is_cancelled_without_running() {
    let store = Arc::new(Scripted::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let late = def(calls.clone(), ok).timeouts(Some(Duration::from_secs(1)), None);
    let (rt, f) = setup(store.clone(), late);
    execute(rt, f, claimed(true, now_ms() - 10_000)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let c = store.changes.lock().unwrap()[0].clone();
    assert_eq!(
        (c.from, c.event, c.to),
        (RunStatus::Running, RunEvent::Cancelled, RunStatus::Cancelled)
    );
    assert!(c.error.unwrap().message.contains("timeouts.start"));
}

#[tokio::test]
async fn a_run_past_its_finish_deadline_is_cancelled_without_running() {
    let store = Arc::new(Scripted::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let bounded = def(calls.clone(), ok).timeouts(None, Some(Duration::from_secs(1)));
    let (rt, f) = setup(store.clone(), bounded);
    execute(rt, f, claimed(false, now_ms() - 10_000)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let c = store.changes.lock().unwrap()[0].clone();
    assert_eq!(c.event, RunEvent::Cancelled);
    assert!(c.error.unwrap().message.contains("timeouts.finish"));
}

#[tokio::test]
async fn a_panicking_handler_is_a_retryable_error() {
    let store = Arc::new(Scripted::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let panics = def(calls.clone(), || async { panic!("boom") });
    let (rt, f) = setup(store.clone(), panics);
    execute(rt, f, claimed(true, now_ms())).await;
    let c = store.changes.lock().unwrap()[0].clone();
    assert_eq!((c.event, c.attempt), (RunEvent::RetryScheduled, 1));
    assert_eq!(c.error.unwrap().message, "function panicked");
}

#[tokio::test]
async fn a_run_whose_data_cannot_be_read_fails_for_good_without_running() {
    let store = Arc::new(Scripted::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let (rt, f) = setup(store.clone(), def(calls.clone(), ok));
    let mut run = claimed(false, now_ms());
    run.event = serde_json::Value::Null;
    run.steps = Some(Vec::new());
    run.unreadable = Some("its trigger event e1 is missing".into());
    let done = execute(rt, f, run).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler never ran");
    let c = only_change(&store);
    assert_eq!(
        (c.event, c.to, c.attempt),
        (RunEvent::FailedForGood, RunStatus::Failed, 0)
    );
    let error = c.error.as_ref().unwrap();
    assert_eq!(error.name, "NonRetriableError");
    assert!(error.message.contains("its trigger event e1 is missing"), "{error:?}");
    assert_eq!(done.resume_at_ms, None);
}
