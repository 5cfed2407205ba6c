//! `engine_testd`: the real daemon (`ingot::daemon::run`, configured from the environment like `ingot serve`) with
//! extra engine test functions, so that tests can kill -9 it while a run sleeps, waits, emits, invokes or is
//! inside a step (tests/it/crash_steps.rs).
//!
//! The process gets killed, so every side effect lands in the database: each marked step inserts a row
//! `(run_id, step)` into `crash_effects`, a table the test creates. A *gate* step also prints
//! `engine_testd: entered <function>/<step> <run_id>` on stderr once its row is committed (the test's signal to
//! kill), then waits until the file `<step>` exists in the directory `ENGINE_TESTD_GATES` (unset: no waiting).
//!
//! Functions (id ← trigger event, data):
//! - `crash-sleeper` ← `crash/sleep` `{ms}` or `{until_ms}`: step `before`, `sleep`/`sleep_until` `nap`, step `after`.
//! - `crash-waiter` ← `crash/order` `{orderId, timeout_ms}`: `before`, `wait_for_event` `approval` for
//!   `crash/approved` with `async.data.orderId == event.data.orderId`, gate `after`; output
//!   `{approved: data.by | null}`.
//! - `crash-sender` ← `crash/fan` `{n}`: `before`, `send_event` `emit` (n × `crash/child {i}`), gate `hold`, `after`.
//! - `crash-child` ← `crash/child`: returns `{i}` (no side effect: its count is its runs).
//! - `crash-invoker` ← `crash/call` `{a, b}`: `before`, `invoke` `call` of `crash-adder`, gate `after`; output
//!   `{got}`.
//! - `crash-adder` ← `crash/add` `{a, b}`: gate `add`, returns `{sum}`.
//! - `crash-slowpoke` ← `crash/slow`: `before`, gate `slow` (returns 42), `after`; output `{slow}`.
//! - `crash-racer` ← `crash/race` `{orderId}`: `wait_for_event` `approval` (as the waiter's) in parallel with gate
//!   `hold`, so the event can resolve the wait while the run is still running; output `{approved}`.
//! - `crash-throttled` ← `crash/throttle`: step `work`; one start per 3 s.
//! - `crash-debounced` ← `crash/edit` `{doc, v}`: step `work`; debounced 2 s per `doc`; output the event's data.
//! - `crash-limited` ← `crash/limited`: gate `hold`; concurrency 1, so a second run waits in the queue.
//! - `crash-batched` ← `crash/item` `{i}`: step `work`; batches of up to 3 events or 2 s; output `{items}`.
//! - `crash-tx` ← `crash/tx`: transactional step `book` (`store::tx_step`), whose work inserts its side-effect row
//!   in the step's transaction, then prints `entered crash-tx/book <run_id>` and waits for its gate *inside* that
//!   transaction (nothing of it is committed yet); returns 7. Then gate `after`; output `{booked}`.
//! - `crash-cancellable` ← `crash/job` `{id}`: step `before`, `sleep` `nap` of `{ms}`, step `after`; cancelled by
//!   `crash/job-cancelled` with the same `id`.

use anyhow::Context;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use ingot::store::{Backend, Db};
use ingot_actors::{FnError, FunctionDef, RunCtx, SendEvent, StepError, Trigger, WaitFor};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// What the test functions share: where side effects go and the directory of gate files.
struct Testd {
    db: Db,
    gates: Option<PathBuf>,
}

impl Testd {
    /// Inserts the side-effect row `(run_id, step)`; committed when this returns.
    async fn effect(&self, run_id: &str, step: &str) -> Result<(), StepError> {
        let sql = match self.db.backend() {
            Backend::Sqlite => "INSERT INTO crash_effects (run_id, step) VALUES (?, ?)",
            Backend::Postgres => "INSERT INTO crash_effects (run_id, step) VALUES ($1, $2)",
        };
        let write = async {
            Ok::<_, ingot::store::Error>(ingot::with_conn!(&self.db, write, |c| {
                diesel::sql_query(sql)
                    .bind::<Text, _>(run_id)
                    .bind::<Text, _>(step)
                    .execute(c)
                    .await?
            }))
        };
        write
            .await
            .map(|_| ())
            .map_err(|e| StepError::retryable(format!("side effect {step}: {e}")))
    }

    /// A step body that records itself, tells the test it is in flight, and waits for its gate file.
    async fn gate(&self, ctx: &RunCtx, step: &str) -> Result<(), StepError> {
        self.effect(&ctx.run_id, step).await?;
        eprintln!("engine_testd: entered {}/{step} {}", ctx.function_id, ctx.run_id);
        if let Some(gates) = &self.gates {
            let gate = gates.join(step);
            while !gate.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// The plain marked step `name`: one side-effect row per execution.
    async fn marked(&self, ctx: &RunCtx, name: &str) -> Result<(), FnError> {
        ctx.step.run(name, || self.effect(&ctx.run_id, name)).await
    }
}

fn sleeper(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-sleeper", "Crash: sleeper", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "before").await?;
            let data = &ctx.event["data"];
            if let Some(until) = data["until_ms"].as_i64() {
                let until = chrono::DateTime::from_timestamp_millis(until)
                    .ok_or_else(|| FnError::NonRetriable(format!("until_ms {until} is out of range")))?;
                ctx.step.sleep_until("nap", until).await?;
            } else {
                let ms = data["ms"].as_u64().unwrap_or(0);
                ctx.step.sleep("nap", Duration::from_millis(ms)).await?;
            }
            t.marked(&ctx, "after").await?;
            Ok(json!({ "slept": true }))
        }
    })
    .trigger(Trigger::event("crash/sleep"))
}

fn waiter(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-waiter", "Crash: waiter", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "before").await?;
            let timeout = Duration::from_millis(ctx.event["data"]["timeout_ms"].as_u64().unwrap_or(3_600_000));
            let wait = WaitFor {
                event: "crash/approved",
                if_expr: Some("async.data.orderId == event.data.orderId"),
                timeout,
            };
            let got = ctx.step.wait_for_event("approval", wait).await?;
            ctx.step.run("after", || t.gate(&ctx, "after")).await?;
            Ok(json!({ "approved": got.map(|e| e["data"]["by"].clone()) }))
        }
    })
    .trigger(Trigger::event("crash/order"))
}

fn sender(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-sender", "Crash: sender", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "before").await?;
            let n = ctx.event["data"]["n"].as_u64().unwrap_or(1);
            let events = (0..n)
                .map(|i| SendEvent::new("crash/child", json!({ "i": i })))
                .collect();
            let ids = ctx.step.send_event("emit", events).await?;
            ctx.step.run("hold", || t.gate(&ctx, "hold")).await?;
            t.marked(&ctx, "after").await?;
            Ok(json!({ "ids": ids }))
        }
    })
    .trigger(Trigger::event("crash/fan"))
}

fn child() -> FunctionDef {
    FunctionDef::new("crash-child", "Crash: child", |ctx| async move {
        Ok(json!({ "i": ctx.event["data"]["i"] }))
    })
    .trigger(Trigger::event("crash/child"))
}

fn invoker(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-invoker", "Crash: invoker", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "before").await?;
            let data = ctx.event["data"].clone();
            let got = ctx
                .step
                .invoke("call", "crash-adder", data, Duration::from_secs(3600))
                .await?;
            ctx.step.run("after", || t.gate(&ctx, "after")).await?;
            Ok(json!({ "got": got }))
        }
    })
    .trigger(Trigger::event("crash/call"))
}

fn adder(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-adder", "Crash: adder", move |ctx| {
        let t = t.clone();
        async move {
            ctx.step.run("add", || t.gate(&ctx, "add")).await?;
            let (a, b) = (ctx.event["data"]["a"].as_i64(), ctx.event["data"]["b"].as_i64());
            match (a, b) {
                (Some(a), Some(b)) => Ok(json!({ "sum": a + b })),
                _ => Err(FnError::NonRetriable("a and b must be numbers".into())),
            }
        }
    })
    .trigger(Trigger::event("crash/add"))
}

fn slowpoke(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-slowpoke", "Crash: slow step", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "before").await?;
            let slow: i64 = ctx
                .step
                .run("slow", || async {
                    t.gate(&ctx, "slow").await?;
                    Ok(42)
                })
                .await?;
            t.marked(&ctx, "after").await?;
            Ok(json!({ "slow": slow }))
        }
    })
    .trigger(Trigger::event("crash/slow"))
}

fn racer(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-racer", "Crash: wait racing a step", move |ctx| {
        let t = t.clone();
        async move {
            let wait = WaitFor {
                event: "crash/approved",
                if_expr: Some("async.data.orderId == event.data.orderId"),
                timeout: Duration::from_secs(3600),
            };
            let (got, held) = futures_util::join!(
                ctx.step.wait_for_event("approval", wait),
                ctx.step.run("hold", || t.gate(&ctx, "hold"))
            );
            held?;
            Ok(json!({ "approved": got?.map(|e| e["data"]["by"].clone()) }))
        }
    })
    .trigger(Trigger::event("crash/race"))
}

/// Throttled to one start per 3 s: a second run waits in the queue.
fn throttled(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-throttled", "Crash: throttled", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "work").await?;
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("crash/throttle"))
    .throttle(1, Duration::from_secs(3), 0, None)
}

/// Debounced for 2 s per document: the run gets the last event.
fn debounced(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-debounced", "Crash: debounced", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "work").await?;
            Ok(ctx.event["data"].clone())
        }
    })
    .trigger(Trigger::event("crash/edit"))
    .debounce(Duration::from_secs(2), Some("event.data.doc"), None)
}

/// At most one run executes at a time: a second run waits in the queue while the first is inside its gate.
fn limited(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-limited", "Crash: concurrency 1", move |ctx| {
        let t = t.clone();
        async move {
            ctx.step.run("hold", || t.gate(&ctx, "hold")).await?;
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("crash/limited"))
    .concurrency(1, None)
}

/// Up to 3 events per run, or whatever arrived within 2 s of the first.
fn batched(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-batched", "Crash: batched", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "work").await?;
            let items: Vec<Value> = ctx.events.iter().map(|e| e["data"]["i"].clone()).collect();
            Ok(json!({ "items": items }))
        }
    })
    .trigger(Trigger::event("crash/item"))
    .batch_events(3, Duration::from_secs(2), None)
}

/// Sleeps between two steps; a `crash/job-cancelled` event for the same job cancels it.
fn cancellable(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-cancellable", "Crash: cancellable", move |ctx| {
        let t = t.clone();
        async move {
            t.marked(&ctx, "before").await?;
            let ms = ctx.event["data"]["ms"].as_u64().unwrap_or(3_600_000);
            ctx.step.sleep("nap", Duration::from_millis(ms)).await?;
            t.marked(&ctx, "after").await?;
            Ok(Value::Null)
        }
    })
    .trigger(Trigger::event("crash/job"))
    .cancel_on("crash/job-cancelled", Some("async.data.id == event.data.id"), None)
}

/// A transactional step whose side effect is a non-idempotent INSERT in the step's own transaction: a duplicate
/// execution would show as two rows, a write without its memo as a row without a completed step.
fn transactional(t: Arc<Testd>) -> FunctionDef {
    FunctionDef::new("crash-tx", "Crash: transactional step", move |ctx| {
        let t = t.clone();
        async move {
            let (run_id, gates) = (ctx.run_id.clone(), t.gates.clone());
            let booked: i64 = ingot::store::tx_step::run(&ctx.step, "book", move |tx| {
                let (run_id, gates) = (run_id.clone(), gates.clone());
                Box::pin(async move {
                    let sql = match tx {
                        ingot::store::DbTx::Sqlite(_) => "INSERT INTO crash_effects (run_id, step) VALUES (?, 'book')",
                        ingot::store::DbTx::Postgres(_) => {
                            "INSERT INTO crash_effects (run_id, step) VALUES ($1, 'book')"
                        }
                    };
                    ingot::with_tx!(tx, |c| {
                        diesel::sql_query(sql).bind::<Text, _>(&run_id).execute(c).await
                    })
                    .map_err(|e| ingot::store::tx_step::classify(e.into()))?;
                    eprintln!("engine_testd: entered crash-tx/book {run_id}");
                    if let Some(gates) = &gates {
                        while !gates.join("book").exists() {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    Ok(7)
                })
            })
            .await?;
            ctx.step.run("after", || t.gate(&ctx, "after")).await?;
            Ok(json!({ "booked": booked }))
        }
    })
    .trigger(Trigger::event("crash/tx"))
}

fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("INGOT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = ingot::config::Config::load(None).context("configuration")?;
    let gates = std::env::var_os("ENGINE_TESTD_GATES").map(PathBuf::from);
    actix_rt::System::new().block_on(async move {
        let db = Db::open(&config.database_url, &config.pool).context("database")?;
        let t = Arc::new(Testd { db, gates });
        let functions = vec![
            sleeper(t.clone()),
            waiter(t.clone()),
            sender(t.clone()),
            child(),
            invoker(t.clone()),
            adder(t.clone()),
            slowpoke(t.clone()),
            racer(t.clone()),
            throttled(t.clone()),
            debounced(t.clone()),
            limited(t.clone()),
            batched(t.clone()),
            cancellable(t.clone()),
            transactional(t),
        ];
        ingot::daemon::run(config, functions, |_| {}, ingot::daemon::shutdown_signal()).await
    })
}
