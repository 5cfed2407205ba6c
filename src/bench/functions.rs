//! The functions the bench registers in its in-process daemon (and nowhere else), with the events that start them.

use ingot_actors::{FunctionDef, RunCtx, SendEvent, Trigger};
use serde_json::json;
use std::time::Duration;

pub const ONE_STEP: &str = "bench-one-step";
pub const ONE_STEP_EVENT: &str = "bench/one-step";
pub const TEN_STEPS: &str = "bench-ten-steps";
pub const TEN_STEPS_EVENT: &str = "bench/ten-steps";
/// Steps in one `bench-ten-steps` run.
pub const STEPS_PER_RUN: usize = 10;
pub const FAN_OUT: &str = "bench-fan-out";
pub const FAN_OUT_EVENT: &str = "bench/fan-out";
pub const CHILD: &str = "bench-child";
pub const CHILD_EVENT: &str = "bench/child";
pub const SLEEP: &str = "bench-sleep";
pub const SLEEP_EVENT: &str = "bench/sleep";
pub const SLEEP_LONG: &str = "bench-sleep-long";
pub const SLEEP_LONG_EVENT: &str = "bench/sleep-long";

/// `bench-one-step`: one memoized step, no retries.
pub fn one_step() -> FunctionDef {
    FunctionDef::new(ONE_STEP, "Bench: one step", |ctx: RunCtx| async move {
        let out: serde_json::Value = ctx.step.run("work", || async { Ok(json!({"ok": true})) }).await?;
        Ok(out)
    })
    .trigger(Trigger::event(ONE_STEP_EVENT))
    .retries(0)
}

/// `bench-ten-steps`: ten trivial memoized steps in a row.
pub fn ten_steps() -> FunctionDef {
    FunctionDef::new(TEN_STEPS, "Bench: ten steps", |ctx: RunCtx| async move {
        let mut sum = 0u64;
        for i in 0..STEPS_PER_RUN as u64 {
            let n: u64 = ctx.step.run(&format!("s{i}"), move || async move { Ok(i) }).await?;
            sum += n;
        }
        Ok(json!({"sum": sum}))
    })
    .trigger(Trigger::event(TEN_STEPS_EVENT))
    .retries(0)
}

/// `bench-fan-out`: one `send_event` step emitting `data.children` events, each starting a `bench-child` run.
pub fn fan_out() -> FunctionDef {
    FunctionDef::new(FAN_OUT, "Bench: fan-out", |ctx: RunCtx| async move {
        let n = ctx.event["data"]["children"].as_u64().unwrap_or(0) as usize;
        let events = (0..n).map(|i| SendEvent::new(CHILD_EVENT, json!({"i": i}))).collect();
        let ids = ctx.step.send_event("fan-out", events).await?;
        Ok(json!({"sent": ids.len()}))
    })
    .trigger(Trigger::event(FAN_OUT_EVENT))
    .retries(0)
}

/// `bench-child`: one trivial step.
pub fn child() -> FunctionDef {
    FunctionDef::new(CHILD, "Bench: fan-out child", |ctx: RunCtx| async move {
        let out: serde_json::Value = ctx.step.run("work", || async { Ok(json!({"ok": true})) }).await?;
        Ok(out)
    })
    .trigger(Trigger::event(CHILD_EVENT))
    .retries(0)
}

/// A function that sleeps `data.sleep_ms` in one `step.sleep`, then finishes.
fn sleeper(id: &'static str, name: &'static str, event: &'static str) -> FunctionDef {
    FunctionDef::new(id, name, |ctx: RunCtx| async move {
        let ms = ctx.event["data"]["sleep_ms"].as_u64().unwrap_or(1000);
        ctx.step.sleep("nap", Duration::from_millis(ms)).await?;
        Ok(json!({"slept_ms": ms}))
    })
    .trigger(Trigger::event(event))
    .retries(0)
}

/// `bench-sleep`: the wake-up lateness measurement (short sleeps).
pub fn sleep() -> FunctionDef {
    sleeper(SLEEP, "Bench: sleep", SLEEP_EVENT)
}

/// `bench-sleep-long`: the idle measurement (a sleep long enough that every run is asleep before the first wakes).
pub fn sleep_long() -> FunctionDef {
    sleeper(SLEEP_LONG, "Bench: long sleep", SLEEP_LONG_EVENT)
}
