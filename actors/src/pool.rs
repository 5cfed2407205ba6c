//! A function's pool: claims due runs of one function from the store, up to its slot count, and starts a
//! [`RunActor`] for each. Work waits in the database, not here: a [`Wake`] only says "look again".
//!
//! Claims are batched: after a full batch the pool claims again as slots free up (a quarter of the slots at a
//! time), and it wakes itself when one of its runs asked to resume at a known time, and — after claiming
//! everything due — when the store says the next of its sleeping, waiting or retrying runs comes due. That
//! look-up is made at most once per [`WAKE_LOOKUP_GAP`]: claims asking for it within the gap share one look-up at
//! its end, which covers everything since the earliest of them.

use crate::function::Function;
use crate::run::{RunActor, RunDone};
use crate::runtime::Runtime;
use crate::store::{ClaimRequest, StoreError};
use crate::time::now_ms;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How many runs of one function a pool executes at once (the default of
/// [`crate::runtime::RuntimeConfig::max_runs_per_function`] and of `INGOT_MAX_RUNS_PER_FUNCTION`; README,
/// "Decisions: 256 runs of a function at once").
pub const MAX_RUNS_PER_FUNCTION: usize = 256;

/// The shortest time between two `next_wake` look-ups of one pool (the default of
/// [`crate::runtime::RuntimeConfig::wake_lookup_gap`]). Under a steady stream of events nearly every
/// claim ends with everything due taken, and a look-up per claim was one more statement per run; within the gap the
/// look-ups are folded into one at its end, so a sleeper written meanwhile by another node is still found (at most
/// this much later).
pub const WAKE_LOOKUP_GAP: Duration = Duration::from_millis(50);

/// The shortest time between two claims of a busy pool (the default of
/// [`crate::runtime::RuntimeConfig::claim_gap`] and of `INGOT_CLAIM_GAP`).
pub const CLAIM_GAP: Duration = Duration::from_millis(10);

/// How many runs a pool must have under way before its claims are paced by `claim_gap` (the default of
/// [`crate::runtime::RuntimeConfig::claim_gap_busy`] and of `INGOT_CLAIM_GAP_BUSY`). An idle pool claims at once:
/// a new run there would wait for the claim alone. Once one run is under way, a claim within the gap waits for its
/// end and takes every run that came due meanwhile: one statement (a transaction on PostgreSQL) for several runs.
/// At 500 single-event requests/s that was 16–26 % less daemon CPU per run than a threshold of 4, at +2 ms on the
/// p99 (SQLite) or none (PostgreSQL); at 50–100/s a pool is rarely busy and nothing changes (README, "Decisions").
pub const CLAIM_GAP_BUSY: usize = 1;

/// Look at the store for due work.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Wake;

/// Figures for `/health`.
#[derive(Message, Debug)]
#[rtype(result = "PoolStats")]
pub struct GetStats;

#[derive(Debug, Clone, Copy, MessageResponse)]
pub struct PoolStats {
    pub running: usize,
    pub slots: usize,
    pub mailbox_capacity: usize,
    pub claimed_total: u64,
}

/// Stop claiming; the receiver fires once no run of this pool is in flight.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain(pub oneshot::Sender<()>);

pub struct Pool {
    rt: Arc<Runtime>,
    function: Arc<Function>,
    slots: usize,
    in_flight: usize,
    /// The runs this pool executes now (their actors are alive).
    running: std::collections::HashSet<String>,
    /// Since when a claim's answer was lost (the database failed after perhaps committing it): once the database
    /// answers again, runs this node holds since then and does not execute are handed back.
    in_doubt_since: Option<i64>,
    claiming: bool,
    maybe_more: bool,
    draining: bool,
    drained: Vec<oneshot::Sender<()>>,
    timer: Option<(i64, SpawnHandle)>,
    /// When the last `next_wake` look-up was made.
    looked_up: Option<tokio::time::Instant>,
    /// A look-up is due at the end of the gap, covering runs coming due after this time (ms).
    look_up_after: Option<i64>,
    /// When the last claim started, and whether a claim waits for the end of its `claim_gap`.
    claimed_at: Option<tokio::time::Instant>,
    claim_deferred: bool,
    claimed_total: u64,
    /// The engine threads run actors are spread over (round robin); empty: this pool's own thread.
    executors: Arc<Vec<ArbiterHandle>>,
    next_executor: usize,
}

impl Pool {
    pub fn start(rt: Arc<Runtime>, function: Arc<Function>, executors: Arc<Vec<ArbiterHandle>>) -> Addr<Pool> {
        let capacity = rt.config.mailbox_capacity;
        Pool::create(move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            Pool {
                slots: rt.config.max_runs_per_function.max(1),
                rt,
                function,
                in_flight: 0,
                running: std::collections::HashSet::new(),
                in_doubt_since: None,
                claiming: false,
                maybe_more: true,
                draining: false,
                drained: Vec::new(),
                timer: None,
                looked_up: None,
                look_up_after: None,
                claimed_at: None,
                claim_deferred: false,
                claimed_total: 0,
                executors,
                next_executor: 0,
            }
        })
    }

    fn free(&self) -> usize {
        self.slots.saturating_sub(self.in_flight)
    }

    fn try_claim(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        if self.claiming || self.free() == 0 || self.claim_deferred {
            self.maybe_more = true;
            return;
        }
        // A busy pool (`claim_gap_busy` runs under way) claims at most once per `claim_gap`: within it, a claim waits
        // for the gap's end and takes every run that came due meanwhile — one statement for several runs at a
        // steady rate instead of one per wake-up. An idle pool claims at once.
        let gap = self.rt.config.claim_gap;
        if let Some(since) = self.claimed_at.map(|t| t.elapsed())
            && since < gap
            && self.in_flight >= self.rt.config.claim_gap_busy
        {
            self.claim_deferred = true;
            self.maybe_more = true;
            ctx.run_later(gap - since, |act, ctx| {
                act.claim_deferred = false;
                if act.maybe_more {
                    act.try_claim(ctx);
                }
            });
            return;
        }
        self.claimed_at = Some(tokio::time::Instant::now());
        self.claiming = true;
        self.maybe_more = false;
        let limit = self.free();
        let now = now_ms();
        let req = ClaimRequest {
            function_id: self.function.id().to_string(),
            node_id: self.rt.config.node_id.clone(),
            limit,
            now_ms: now,
            stale_before_ms: self.rt.stale_before_ms(now),
            wake_by_ms: now + self.rt.config.wake_ahead.as_millis() as i64,
            limits: self.function.flow.limits,
        };
        let store = self.rt.store.clone();
        let asked = std::time::Instant::now();
        ctx.spawn(async move { store.claim(req).await }.into_actor(self).map(move |res, act, ctx| {
            act.claiming = false;
            act.rt.metrics.claim_seconds.observe_duration(asked.elapsed());
            tracing::trace!(function_id = %act.function.id(), limit, claimed = res.as_ref().map(Vec::len).unwrap_or(0), elapsed_us = asked.elapsed().as_micros() as u64, "claim");
            match res {
                Ok(runs) => {
                    // Runs claimed while a drain began still start: their first step sees the shutdown and
                    // hands the run back.
                    let full = runs.len() >= limit;
                    act.start_runs(runs, ctx);
                    if let Some(since) = act.in_doubt_since.take() {
                        act.release_in_doubt(since, ctx);
                    }
                    if full {
                        act.maybe_more = true;
                    } else if !act.draining {
                        act.arm_next_wake(now, ctx);
                    }
                }
                Err(e) if !act.draining => {
                    tracing::error!(function_id = %act.function.id(), error = %e, "claim failed; retrying in 1s");
                    if !matches!(e, StoreError::Data(_)) {
                        act.in_doubt_since = Some(act.in_doubt_since.map_or(now, |t| t.min(now)));
                    }
                    act.maybe_more = true;
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.try_claim(ctx));
                    return;
                }
                Err(_) => {}
            }
            if act.draining {
                act.report_if_drained();
            } else if act.maybe_more && act.free() > 0 {
                act.try_claim(ctx);
            }
        }));
    }

    /// Hands back the runs claimed by a claim whose answer was lost ([`crate::store::RunStore::release_in_doubt`]), then
    /// claims again; on failure, tries again at the next successful claim.
    fn release_in_doubt(&mut self, since: i64, ctx: &mut Context<Self>) {
        let store = self.rt.store.clone();
        let function_id = self.function.id().to_string();
        let node_id = self.rt.config.node_id.clone();
        let keep: Vec<String> = self.running.iter().cloned().collect();
        ctx.spawn(
            async move {
                store
                    .release_in_doubt(&function_id, &node_id, since, &keep, now_ms())
                    .await
            }
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(function_id = %act.function.id(), released = n, "runs claimed by a claim whose answer was lost are handed back");
                    act.maybe_more = true;
                    act.try_claim(ctx);
                }
                Err(e) => {
                    tracing::warn!(function_id = %act.function.id(), error = %e, "could not hand back runs of a lost claim; trying again later");
                    act.in_doubt_since = Some(act.in_doubt_since.map_or(since, |t| t.min(since)));
                }
            }),
        );
    }

    fn start_runs(&mut self, runs: Vec<crate::store::ClaimedRun>, ctx: &mut Context<Self>) {
        self.claimed_total += runs.len() as u64;
        let me = ctx.address().recipient();
        for run in runs {
            self.in_flight += 1;
            self.running.insert(run.lease.run_id.clone());
            let actor = RunActor::new(self.rt.clone(), self.function.clone(), run, me.clone());
            if self.executors.is_empty() {
                actor.start();
            } else {
                let executor = &self.executors[self.next_executor % self.executors.len()];
                self.next_executor = self.next_executor.wrapping_add(1);
                RunActor::start_in_arbiter(executor, move |_| actor);
            }
        }
    }

    /// Completes pending drains once no run is in flight and no claim is outstanding.
    fn report_if_drained(&mut self) {
        if self.draining && self.in_flight == 0 && !self.claiming {
            for tx in self.drained.drain(..) {
                let _ = tx.send(());
            }
        }
    }

    /// Everything due at `after_ms` was claimed: arm the timer for the next sleeper (or retry) of this function, so
    /// its wake-up does not wait for the supervisor's poll. Within [`WAKE_LOOKUP_GAP`] of the last look-up the request
    /// joins one made at the gap's end (`wake_lookup_gap`). A failed look is only logged: the poll still finds it.
    fn arm_next_wake(&mut self, after_ms: i64, ctx: &mut Context<Self>) {
        if let Some(pending) = self.look_up_after {
            self.look_up_after = Some(pending.min(after_ms));
            return;
        }
        let gap = self.rt.config.wake_lookup_gap;
        match self.looked_up.map(|t| t.elapsed()) {
            Some(since) if since < gap => {
                self.look_up_after = Some(after_ms);
                ctx.run_later(gap - since, |act, ctx| {
                    if let Some(after_ms) = act.look_up_after.take()
                        && !act.draining
                    {
                        act.look_up_next_wake(after_ms, ctx);
                    }
                });
            }
            _ => self.look_up_next_wake(after_ms, ctx),
        }
    }

    fn look_up_next_wake(&mut self, after_ms: i64, ctx: &mut Context<Self>) {
        self.looked_up = Some(tokio::time::Instant::now());
        let store = self.rt.store.clone();
        let function_id = self.function.id().to_string();
        let ahead_ms = self.rt.config.wake_ahead.as_millis() as i64;
        ctx.spawn(
            async move { store.next_wake(&function_id, after_ms, ahead_ms).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(Some(at)) if !act.draining => act.wake_at(at, ctx),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(function_id = %act.function.id(), error = %e, "could not look up the next wake-up; the poll finds it"),
                }),
        );
    }

    fn wake_at(&mut self, at_ms: i64, ctx: &mut Context<Self>) {
        if let Some((armed, _)) = self.timer
            && armed <= at_ms
        {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let delay = Duration::from_millis((at_ms - now_ms()).max(0) as u64);
        let handle = ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.maybe_more = true;
            act.try_claim(ctx);
        });
        self.timer = Some((at_ms, handle));
    }
}

impl Actor for Pool {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.try_claim(ctx);
    }
}

impl Handler<Wake> for Pool {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        self.try_claim(ctx);
    }
}

impl Handler<RunDone> for Pool {
    type Result = ();
    fn handle(&mut self, done: RunDone, ctx: &mut Self::Context) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.running.remove(&done.run_id);
        if let Some(at) = done.resume_at_ms {
            self.wake_at(at, ctx);
        }
        if self.draining {
            self.report_if_drained();
            return;
        }
        if self.maybe_more && (self.free() * 4 >= self.slots || self.in_flight == 0) {
            self.try_claim(ctx);
        }
    }
}

impl Handler<GetStats> for Pool {
    type Result = PoolStats;
    fn handle(&mut self, _: GetStats, _: &mut Self::Context) -> PoolStats {
        PoolStats {
            running: self.in_flight,
            slots: self.slots,
            mailbox_capacity: self.rt.config.mailbox_capacity,
            claimed_total: self.claimed_total,
        }
    }
}

impl Handler<Drain> for Pool {
    type Result = ();
    fn handle(&mut self, Drain(tx): Drain, ctx: &mut Self::Context) {
        self.draining = true;
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        self.drained.push(tx);
        self.report_if_drained();
    }
}

#[cfg(test)]
mod tests;
