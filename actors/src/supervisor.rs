//! The supervisor: owns one [`Pool`] per registered function, routes wake-ups to them, polls the store for due
//! work it was not told about (retries coming due, other daemons' events, rescues). The node's heartbeat is not
//! here: it runs on a thread of its own ([`crate::heartbeat`]), so a step blocking this thread cannot let the
//! node's leases lapse. Callers hold a [`SupervisorHandle`]; they never see the actor or its messages.

use crate::pool::{Drain, GetStats, Pool, Wake};
use crate::runtime::Runtime;
use crate::store::StoreError;
use crate::time::now_ms;
use actix::prelude::*;
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Message)]
#[rtype(result = "()")]
struct WakeFunctions(Vec<String>);

#[derive(Message)]
#[rtype(result = "Vec<PoolHealth>")]
struct Health;

#[derive(Message)]
#[rtype(result = "()")]
struct DrainAll(oneshot::Sender<()>);

/// One pool's figures for `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct PoolHealth {
    pub function_id: String,
    pub running: usize,
    pub slots: usize,
    pub mailbox_capacity: usize,
    pub claimed_total: u64,
}

pub struct Supervisor {
    rt: Arc<Runtime>,
    pools: BTreeMap<String, Addr<Pool>>,
    /// The engine threads run actors execute on (stopped once drained).
    engine: Vec<Arbiter>,
    polling: bool,
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.rt.config.mailbox_capacity);
        self.engine = (0..self.rt.config.engine_threads).map(|_| Arbiter::new()).collect();
        let executors: Arc<Vec<ArbiterHandle>> = Arc::new(self.engine.iter().map(Arbiter::handle).collect());
        for f in self.rt.registry.functions() {
            self.pools.insert(
                f.id().to_string(),
                Pool::start(self.rt.clone(), f.clone(), executors.clone()),
            );
        }
        ctx.run_interval(self.rt.config.poll_interval, |act, ctx| act.poll(ctx));
    }
}

impl Supervisor {
    fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.polling || self.rt.is_shutting_down() {
            return;
        }
        self.polling = true;
        let rt = self.rt.clone();
        let now = now_ms();
        ctx.spawn(
            async move {
                // Finished runs whose system events or parent were not delivered (a crash in between).
                crate::notify::flush_pending(&rt).await;
                rt.store.due_functions(now, rt.stale_before_ms(now)).await
            }
            .into_actor(self)
            .map(|res: Result<Vec<String>, StoreError>, act, _| {
                act.polling = false;
                match res {
                    Ok(ids) => act.wake(&ids),
                    Err(e) => tracing::error!(error = %e, "poll for due work failed"),
                }
            }),
        );
    }

    fn wake(&self, ids: &[String]) {
        for id in ids {
            if let Some(pool) = self.pools.get(id) {
                // A full mailbox already holds a wake-up for this pool; dropping this one loses nothing.
                let _ = pool.try_send(Wake);
            }
        }
    }
}

impl Handler<WakeFunctions> for Supervisor {
    type Result = ();
    fn handle(&mut self, WakeFunctions(ids): WakeFunctions, _: &mut Self::Context) {
        self.wake(&ids);
    }
}

impl Handler<Health> for Supervisor {
    type Result = ResponseFuture<Vec<PoolHealth>>;
    fn handle(&mut self, _: Health, _: &mut Self::Context) -> Self::Result {
        let pools: Vec<_> = self.pools.iter().map(|(id, a)| (id.clone(), a.clone())).collect();
        Box::pin(async move {
            let stats = join_all(pools.iter().map(|(_, a)| a.send(GetStats))).await;
            pools
                .into_iter()
                .zip(stats)
                .filter_map(|((function_id, _), s)| {
                    s.ok().map(|s| PoolHealth {
                        function_id,
                        running: s.running,
                        slots: s.slots,
                        mailbox_capacity: s.mailbox_capacity,
                        claimed_total: s.claimed_total,
                    })
                })
                .collect()
        })
    }
}

impl Handler<DrainAll> for Supervisor {
    type Result = ();
    fn handle(&mut self, DrainAll(done): DrainAll, ctx: &mut Self::Context) {
        let pools: Vec<_> = self.pools.values().cloned().collect();
        ctx.spawn(
            async move {
                let mut waits = Vec::new();
                for pool in pools {
                    let (tx, rx) = oneshot::channel();
                    if pool.send(Drain(tx)).await.is_ok() {
                        waits.push(rx);
                    }
                }
                join_all(waits).await;
            }
            .into_actor(self)
            .map(|_, act, _| {
                for arbiter in act.engine.drain(..) {
                    arbiter.stop();
                }
                let _ = done.send(());
            }),
        );
    }
}

/// The public face of the supervisor. Cheap to clone and `Send`: HTTP workers hold one.
#[derive(Clone)]
pub struct SupervisorHandle {
    addr: Addr<Supervisor>,
    rt: Arc<Runtime>,
    dropped_wakes: Arc<AtomicU64>,
}

impl SupervisorHandle {
    /// Marks this node alive, hands back runs a previous life of this node left running (a crash), then
    /// starts the supervisor and its pools on the current actix arbiter. The caller keeps the node alive from
    /// then on with a [`crate::heartbeat::Heartbeat`].
    pub async fn start(rt: Arc<Runtime>) -> Result<SupervisorHandle, StoreError> {
        let node = rt.config.node_id.clone();
        rt.store.heartbeat(&node, now_ms()).await?;
        let released = rt.store.release_node(&node, now_ms()).await?;
        if released > 0 {
            tracing::info!(released, node_id = %node, "resuming runs this node held before it stopped");
        }
        let addr = Supervisor {
            rt: rt.clone(),
            pools: BTreeMap::new(),
            engine: Vec::new(),
            polling: false,
        }
        .start();
        crate::scheduler::Scheduler::new(rt.clone()).start();
        let dropped_wakes = Arc::new(AtomicU64::new(0));
        let (waker, dropped) = (addr.clone(), dropped_wakes.clone());
        rt.set_waker(Box::new(move |ids| {
            if waker.try_send(WakeFunctions(ids)).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }));
        Ok(SupervisorHandle {
            addr,
            rt,
            dropped_wakes,
        })
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// Tells the pools of these functions that work is waiting. Never blocks: if the supervisor's mailbox is
    /// full the wake-up is dropped (and counted) — the work is in the database and the next poll finds it.
    pub fn wake(&self, function_ids: Vec<String>) {
        if function_ids.is_empty() {
            return;
        }
        if self.addr.try_send(WakeFunctions(function_ids)).is_err() {
            self.dropped_wakes.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped_wakes(&self) -> u64 {
        self.dropped_wakes.load(Ordering::Relaxed)
    }

    pub async fn health(&self) -> Vec<PoolHealth> {
        self.addr.send(Health).await.unwrap_or_default()
    }

    /// Graceful stop: no new steps start, in-flight steps finish and their runs are handed back, for at most
    /// `timeout`. Then every run this node still holds is released for other nodes (or the next start).
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.rt.begin_shutdown();
        let (tx, rx) = oneshot::channel();
        let drained = match self.addr.send(DrainAll(tx)).await {
            Ok(()) => tokio::time::timeout(timeout, rx).await.is_ok(),
            Err(_) => false,
        };
        match self.rt.store.release_node(&self.rt.config.node_id, now_ms()).await {
            Ok(n) if n > 0 => tracing::warn!(released = n, "runs still in flight at shutdown were handed back"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not hand back runs at shutdown; they resume on restart"),
        }
        drained
    }
}
