//! Cron triggers: the scheduler actor keeps a timer for each function's next cron tick. At the tick it asks the
//! store to fire it — one transaction that claims the tick in `cron_ticks` (a unique key, so with several daemons
//! on one database exactly one fires it) and stores the `inngest/scheduled.timer` event with the function's run.
//!
//! A tick missed while no daemon ran (a restart across 00:30 for a daily 00:30 schedule) runs late, once: at
//! start-up, for each schedule that has fired before (a row in `cron_ticks`), the latest tick at or before now is
//! fired if it is newer than the latest recorded one. Only that one tick — a daemon down for three days runs a daily
//! schedule once, not three times — and through the same claim, so with several daemons it still fires once. A
//! schedule that never fired (a new deployment, a new function) starts with its next tick. Inngest skips missed
//! ticks; a user of a daily email expects it not to be skipped silently because of a restart.

use crate::event::{Draft, Invalid, NewEvent, Origin, Target, prepare};
use crate::function::{CRON_EVENT, Function};
use crate::runtime::Runtime;
use crate::time::now_ms;
use actix::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub struct Scheduler {
    rt: Arc<Runtime>,
}

impl Scheduler {
    pub fn new(rt: Arc<Runtime>) -> Self {
        Scheduler { rt }
    }

    fn arm(&self, ctx: &mut Context<Self>, function: Arc<Function>, index: usize, after_ms: i64) {
        let Some(next) = function.crons[index].next_after(after_ms) else {
            return; // a schedule that never fires again
        };
        let delay = Duration::from_millis((next - now_ms()).max(0) as u64);
        ctx.run_later(delay, move |act, ctx| {
            if act.rt.is_shutting_down() {
                return;
            }
            let rt = act.rt.clone();
            let f = function.clone();
            ctx.spawn(
                async move { fire(&rt, &f, index, next).await }
                    .into_actor(act)
                    .map(move |_, act, ctx| act.arm(ctx, function, index, next)),
            );
        });
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        let now = now_ms();
        let functions: Vec<Arc<Function>> = self.rt.registry.functions().cloned().collect();
        for f in functions {
            for i in 0..f.crons.len() {
                let (rt, function) = (self.rt.clone(), f.clone());
                ctx.spawn(async move { catch_up(&rt, &function, i, now).await }.into_actor(self));
                self.arm(ctx, f.clone(), i, now);
            }
        }
    }
}

/// Fires the latest tick at or before `now_ms` if the schedule fired before and that tick was missed (see the
/// module docs).
async fn catch_up(rt: &Runtime, function: &Function, index: usize, now_ms: i64) {
    let schedule = function.crons[index].source().to_string();
    let Some(due) = function.crons[index].last_at_or_before(now_ms) else {
        return;
    };
    match rt.store.last_cron_tick(function.id(), &schedule).await {
        Ok(Some(last)) if last < due => {
            tracing::warn!(
                function_id = function.id(),
                schedule,
                tick_ms = due,
                last_fired_ms = last,
                "a cron tick passed while no daemon ran: firing it late"
            );
            fire(rt, function, index, due).await;
        }
        Ok(_) => tracing::debug!(function_id = function.id(), schedule, "no missed cron tick to catch up"),
        Err(e) => tracing::warn!(function_id = function.id(), error = %e, "could not check for a missed cron tick"),
    }
}

/// Fires one tick (at most once across daemons); retries a few times if the database is briefly unavailable.
async fn fire(rt: &Runtime, function: &Function, index: usize, tick_ms: i64) {
    let schedule = function.crons[index].source().to_string();
    let event = match tick_event(function.id(), &schedule, tick_ms, Some(&function.flow)) {
        Ok(event) => event,
        Err(invalid) => {
            tracing::error!(function_id = function.id(), schedule, %invalid, "cron tick refused");
            return;
        }
    };
    for attempt in 0..5u32 {
        match rt.store.fire_cron(function.id(), &schedule, tick_ms, &event).await {
            Ok(true) => {
                tracing::info!(function_id = function.id(), schedule, "cron tick fired");
                rt.wake(vec![function.id().to_string()]);
                return;
            }
            Ok(false) => {
                tracing::debug!(
                    function_id = function.id(),
                    schedule,
                    "cron tick fired by another daemon"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(function_id = function.id(), error = %e, attempt, "could not fire a cron tick");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}

/// The dedupe id of a tick's event: `cron:<function>:<schedule>:<tick ms>`.
pub fn tick_id(function_id: &str, schedule: &str, tick_ms: i64) -> String {
    format!("cron:{function_id}:{schedule}:{tick_ms}")
}

/// The `inngest/scheduled.timer` event of one tick, with its run for the function (admission keys from `flow`):
/// what the scheduler stores through [`crate::store::RunStore::fire_cron`] (tests fire a chosen tick the same way).
pub fn tick_event(
    function_id: &str,
    schedule: &str,
    tick_ms: i64,
    flow: Option<&crate::flow::Flow>,
) -> Result<NewEvent, Invalid> {
    let draft = Draft {
        external_id: Some(tick_id(function_id, schedule, tick_ms)),
        ts: Some(tick_ms),
        ..Draft::new(CRON_EVENT, json!({ "cron": schedule }))
    };
    let target = Target::Function {
        function_id,
        flow,
        run_id: None,
        parent: None,
    };
    prepare(draft, Origin::System, target, tick_ms)
}
