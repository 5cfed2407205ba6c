//! The node's heartbeat runs on a thread of its own: a step that blocks the engine thread (by default the
//! supervisor's own, `INGOT_ENGINE_THREADS=0`) for longer than the lease does not let the node's leases lapse, so
//! another node's rescue pass does not take the run and its step is not executed twice.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::store::runs::DbRunStore;
use ingot_actors::flow::ClaimLimits;
use ingot_actors::store::{ClaimRequest, RunStore};
use ingot_actors::time::now_ms;
use ingot_actors::{FunctionDef, Trigger};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::Notify;

const TTL_MS: i64 = 300;

both!(a_step_blocking_its_thread_past_the_lease_is_not_rescued, blocked_impl);
async fn blocked_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let executions = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let f = {
        let (executions, started, released) = (executions.clone(), started.clone(), released.clone());
        FunctionDef::new("blocker", "Blocker", move |ctx| {
            let (executions, started, released) = (executions.clone(), started.clone(), released.clone());
            async move {
                let n: usize = ctx
                    .step
                    .run("block", || async move {
                        let n = executions.fetch_add(1, Ordering::SeqCst) + 1;
                        started.notify_one();
                        // Blocks the thread this step runs on — the engine's — until the test lets go.
                        let _ = released.lock().expect("the receiver").recv();
                        Ok(n)
                    })
                    .await?;
                Ok(json!({"execution": n}))
            }
        })
        .trigger(Trigger::event("test/block"))
    };
    let settings = [("lease_ttl", "300ms"), ("engine_threads", "0")];
    let d = InProc::start(&db.url, vec![f], &settings).await;
    // Declared after the daemon, so dropped before it when an assertion fails: the blocked step is released (its
    // receiver sees the sender gone) and the daemon's shutdown does not wait for it forever.
    let release = release;
    let ids = d.api.send(json!({"name": "test/block"})).await;
    started.notified().await;
    let blocked_at = now_ms();
    // Let more than a lease pass while the step blocks: until this node has heartbeaten a whole TTL after the step
    // blocked (time passing is what is under test; nothing notifies a heartbeat, so its row is polled), or — if
    // the heartbeat is stuck behind the blocked thread — four TTLs, after which its leases have certainly lapsed.
    let heartbeat_sql = "SELECT COALESCE(MAX(heartbeat_at), 0) AS n FROM nodes WHERE id = 'inproc-node'";
    loop {
        let beat = db.count(heartbeat_sql, &[]).await;
        if beat > blocked_at + TTL_MS || now_ms() > blocked_at + 4 * TTL_MS {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Another node's rescue pass, as its pool makes it: runs of nodes silent for a TTL are taken.
    let rescuer = DbRunStore::new(db.db.clone());
    let now = now_ms();
    let due = rescuer.due_functions(now, now - TTL_MS).await.expect("due functions");
    let rescued = rescuer
        .claim(ClaimRequest {
            function_id: "blocker".into(),
            node_id: "rescuer".into(),
            limit: 10,
            now_ms: now,
            stale_before_ms: now - TTL_MS,
            wake_by_ms: now,
            limits: ClaimLimits::default(),
        })
        .await
        .expect("claim");
    // The step is released before anything is asserted: a failed assertion would otherwise drop the daemon while
    // its engine thread is still blocked, and the test would hang instead of failing.
    release.send(()).expect("the step waits");
    assert!(
        !due.contains(&"blocker".to_string()),
        "a live node's run is not due for rescue: {due:?}"
    );
    assert!(
        rescued.is_empty(),
        "the blocked run was rescued although its node is alive"
    );
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"execution": 1}));
    assert_eq!(executions.load(Ordering::SeqCst), 1, "the step ran once");
    d.stop().await;
}
