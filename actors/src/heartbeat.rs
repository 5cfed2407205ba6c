//! The node's heartbeat and the tick hook (systemd's watchdog) on an OS thread of their own, with a small tokio
//! runtime and a store of their own (its own connections, opened on that runtime).
//!
//! Step code runs on the engine threads — by default (`INGOT_ENGINE_THREADS=0`) the supervisor's own thread. A
//! step that blocks its thread (a synchronous call, a busy loop) must not stop this node from saying it is alive:
//! after `INGOT_LEASE_TTL` without a heartbeat another node rescues the run and executes it a second time, and
//! systemd kills a daemon whose watchdog is not fed. So neither runs on an engine thread, and neither waits for a
//! database connection the engine holds. What a blocked step cannot stop is this node's liveness; a step that
//! never returns is bounded by its function's `timeouts.finish`, not by a rescue.

use crate::store::RunStore;
use crate::time::now_ms;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// A callback run every second on the heartbeat thread (the daemon feeds the systemd watchdog with it).
pub type TickHook = Arc<dyn Fn() + Send + Sync>;

/// Builds the heartbeat's store on the heartbeat thread's runtime, so that its connections are driven there.
pub type StoreFactory = Box<dyn FnOnce() -> Arc<dyn RunStore> + Send>;

/// How often a node with lease TTL `ttl` heartbeats: three times per TTL (at least every 100 ms).
pub fn period(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(100))
}

/// The running heartbeat thread; stopping it (or dropping the handle) ends the thread.
pub struct Heartbeat {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts the thread: a heartbeat for `node_id` every [`period`]`(lease_ttl)` (the first one at once), and the
    /// tick hook every second.
    pub fn start(
        node_id: String,
        lease_ttl: Duration,
        tick: Option<TickHook>,
        store: StoreFactory,
    ) -> std::io::Result<Heartbeat> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ingot-heartbeat".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let store = store();
                    let beats = async {
                        let mut every = tokio::time::interval(period(lease_ttl));
                        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            every.tick().await;
                            if let Err(e) = store.heartbeat(&node_id, now_ms()).await {
                                tracing::error!(error = %e, "heartbeat failed; this node's leases may lapse");
                            }
                        }
                    };
                    let ticks = async {
                        let mut every = tokio::time::interval(Duration::from_secs(1));
                        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        loop {
                            every.tick().await;
                            if let Some(tick) = &tick {
                                tick();
                            }
                        }
                    };
                    // Both loops run concurrently: a slow heartbeat write does not delay the watchdog.
                    tokio::select! {
                        _ = stop_rx => {}
                        () = beats => {}
                        () = ticks => {}
                    }
                })
            })?;
        Ok(Heartbeat {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Ends the thread and waits for it (at most one heartbeat write in flight).
    pub fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
