//! `ingot bench`: throughput and latency through the real HTTP API and engine, per backend. It prints figures
//! next to their targets; it is a measurement, not a pass/fail test.
//!
//! Each scenario, on each backend, gets:
//! 1. a fresh database ([`fresh`]): an SQLite file in a new temp dir, or a new PostgreSQL database on the server
//!    named by `--pg-url`; removed afterwards;
//! 2. the real daemon in-process ([`inproc`]) with the scenario's functions from [`functions`] registered;
//! 3. events POSTed in batches over HTTP, then `GET /api/v1/drain` ([`client`]);
//! 4. figures read back from the database (`runs`, `steps`, `events` timestamps; [`measure`]).
//!
//! The scenarios (`--scenario`, default all):
//! - [`one_step`]: N one-step runs; runs/s and latency next to a baseline of plain single-row commits;
//! - [`ten_steps`]: 1,000 runs of ten trivial steps; steps/s and the gap between consecutive steps of a run;
//! - [`fan_out`]: one run whose `send_event` step starts 1,000 child runs; time to the last child finished;
//! - [`sleepers`]: 10,000 runs sleeping 1 s (wake-up lateness), and 10,000 long sleepers (memory and database
//!   queries per second while they all sleep, counted by [`crate::store::db::queries_total`]);
//! - [`user_created`]: the platform's `user-created` workflow against `ingot serve` in its own process, as a
//!   backlog (`user-created`) and one event per request at a steady rate (`user-created-steady`); CPU and
//!   database transactions per run;
//! - [`soak`] (only when named, never in `all`): a steady rate of mixed workflows for an hour with retention
//!   running, one row of memory, database size, connections and latency per interval;
//! - [`flood`] (only when named, never in `all`): many large bodies at once against admission control, to a
//!   daemon in its own process: answers by status, events stored, the daemon's peak and settled memory.

mod client;
mod fan_out;
mod flood;
mod floor;
mod fresh;
mod functions;
mod inproc;
mod measure;
mod one_step;
mod serving;
mod sleepers;
mod soak;
mod ten_steps;
mod user_created;

use crate::config::Config;
use anyhow::Context;
use fresh::{FreshDb, Kind};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::runtime::Runtime;

/// The administration URL used when neither `--pg-url` nor `INGOT_TEST_DATABASE_URL` is set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioChoice {
    OneStep,
    TenSteps,
    FanOut,
    Sleepers,
    UserCreated,
    UserCreatedSteady,
    Soak,
    Flood,
    All,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Scenarios to run, comma-separated: one-step, ten-steps, fan-out, sleepers, user-created,
    /// user-created-steady, soak, flood, all (all but soak and flood).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<ScenarioChoice>,
    /// Which backend(s) to measure.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    /// A PostgreSQL URL with the right to create databases; the bench creates and drops its own database there.
    #[arg(long, env = "INGOT_TEST_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_PG_URL)]
    pub pg_url: String,
    /// one-step: events to send per backend; each starts one run of `bench-one-step`.
    #[arg(long, default_value_t = 5000)]
    pub events: usize,
    /// Events per HTTP request (1–5000).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// HTTP requests in flight at a time.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// ten-steps: runs of `bench-ten-steps`.
    #[arg(long, default_value_t = 1000)]
    pub ten_step_runs: usize,
    /// fan-out: events the parent's `send_event` step emits (1–5000), each starting a `bench-child` run.
    #[arg(long, default_value_t = 1000)]
    pub children: usize,
    /// sleepers: runs that sleep (in each of the two phases).
    #[arg(long, default_value_t = 10_000)]
    pub sleepers: usize,
    /// sleepers: the short sleep whose wake-up lateness is measured.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub sleep: Duration,
    /// sleepers: the long sleep of the idle phase; must leave a few seconds between the last run falling asleep
    /// and the first waking.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub idle_sleep: Duration,
    /// user-created: events enqueued at once (`--batch` per request, `--concurrency` requests in flight).
    #[arg(long, default_value_t = 2000)]
    pub uc_events: usize,
    /// user-created-steady: events per second, one per request.
    #[arg(long, default_value_t = 500)]
    pub steady_rate: u32,
    /// user-created-steady: how long to send.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub steady_seconds: Duration,
    /// user-created-steady: keep-alive connections sending (each waits for its answer before its next event).
    #[arg(long, default_value_t = 16)]
    pub steady_conns: usize,
    /// soak: events per second, steadily.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// soak: how long to keep sending.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// soak: the interval between two report rows.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub report_every: Duration,
    /// soak: the daemon's retention horizon (set below the 1h the setting allows, so growth flattens in the run).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub soak_retention: Duration,
    /// soak: the daemon's SQLite page cache per connection, KiB (`INGOT_SQLITE_CACHE_KIB`; its default if unset).
    #[arg(long)]
    pub soak_sqlite_cache_kib: Option<u32>,
    /// flood: requests sent all at once, each one event.
    #[arg(long, default_value_t = 200)]
    pub flood_requests: usize,
    /// flood: the size of each request's body (one event; at most 3 MiB, the per-event limit).
    #[arg(long, default_value_t = 2_621_440)]
    pub flood_body_bytes: usize,
    /// flood: the daemon's INGOT_MAX_INFLIGHT_BYTES.
    #[arg(long, default_value_t = 268_435_456)]
    pub flood_inflight_bytes: u64,
    /// flood: the daemon's INGOT_MAX_INFLIGHT_REQUESTS.
    #[arg(long, default_value_t = 256)]
    pub flood_inflight_requests: u64,
    /// flood: how long after the last answer the daemon's memory is read again.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub flood_settle: Duration,
}

impl BenchArgs {
    fn wants(&self, s: ScenarioChoice) -> bool {
        let in_all = !matches!(s, ScenarioChoice::Soak | ScenarioChoice::Flood);
        self.scenario
            .iter()
            .any(|c| *c == s || (*c == ScenarioChoice::All && in_all))
    }

    pub(crate) fn sending(&self) -> client::Sending {
        client::Sending {
            batch: self.batch,
            concurrency: self.concurrency,
        }
    }
}

/// One scenario's result per backend, and the backends where it failed.
pub(crate) struct Outcome<T> {
    pub rows: Vec<(Kind, T)>,
    pub failures: Vec<(Kind, anyhow::Error)>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let max = crate::http::intake::MAX_EVENTS;
    anyhow::ensure!(args.events >= 1, "--events must be at least 1");
    anyhow::ensure!((1..=max).contains(&args.batch), "--batch must be between 1 and {max}");
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.ten_step_runs >= 1, "--ten-step-runs must be at least 1");
    anyhow::ensure!(
        (1..=fan_out::MAX_CHILDREN).contains(&args.children),
        "--children must be between 1 and {}",
        fan_out::MAX_CHILDREN
    );
    anyhow::ensure!(args.sleepers >= 1, "--sleepers must be at least 1");
    anyhow::ensure!(
        args.sleep >= Duration::from_millis(1) && args.idle_sleep >= Duration::from_secs(5),
        "--sleep must be at least 1ms and --idle-sleep at least 5s"
    );
    anyhow::ensure!(
        (1..=100_000).contains(&args.rate),
        "--rate must be between 1 and 100000"
    );
    anyhow::ensure!(
        args.report_every >= Duration::from_secs(1) && args.duration >= args.report_every,
        "--report-every must be at least 1s and --duration at least --report-every"
    );
    anyhow::ensure!(
        args.soak_retention >= Duration::from_secs(10),
        "--soak-retention must be at least 10s"
    );
    anyhow::ensure!(
        args.flood_requests >= 1 && (64..=crate::http::intake::MAX_EVENT_BYTES).contains(&args.flood_body_bytes),
        "--flood-requests must be at least 1 and --flood-body-bytes between 64 and {}",
        crate::http::intake::MAX_EVENT_BYTES
    );
    anyhow::ensure!(args.uc_events >= 1, "--uc-events must be at least 1");
    anyhow::ensure!(
        (1..=100_000).contains(&args.steady_rate) && args.steady_conns >= 1,
        "--steady-rate must be between 1 and 100000 and --steady-conns at least 1"
    );
    anyhow::ensure!(
        args.steady_seconds >= Duration::from_millis(100),
        "--steady-seconds must be at least 100ms"
    );
    let kinds = match args.backend {
        BackendChoice::Sqlite => vec![Kind::Sqlite],
        BackendChoice::Postgres => vec![Kind::Postgres],
        BackendChoice::Both => vec![Kind::Sqlite, Kind::Postgres],
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the client runtime")?;

    print_header();
    let mut failed = Vec::new();
    if args.wants(ScenarioChoice::OneStep) {
        let out = each_backend(&rt, &kinds, &args, one_step::measure);
        one_step::print(&args, &out.rows);
        failed.extend(report_failures("one-step", out.failures));
    }
    if args.wants(ScenarioChoice::TenSteps) {
        let out = each_backend(&rt, &kinds, &args, ten_steps::measure);
        ten_steps::print(&args, &out.rows);
        failed.extend(report_failures("ten-steps", out.failures));
    }
    if args.wants(ScenarioChoice::FanOut) {
        let out = each_backend(&rt, &kinds, &args, fan_out::measure);
        fan_out::print(&args, &out.rows);
        failed.extend(report_failures("fan-out", out.failures));
    }
    if args.wants(ScenarioChoice::Sleepers) {
        let out = each_backend(&rt, &kinds, &args, sleepers::measure);
        sleepers::print(&args, &out.rows);
        failed.extend(report_failures("sleepers", out.failures));
    }
    if args.wants(ScenarioChoice::UserCreated) {
        let out = each_backend(&rt, &kinds, &args, user_created::batched::measure);
        user_created::batched::print(&args, &out.rows);
        failed.extend(report_failures("user-created", out.failures));
    }
    if args.wants(ScenarioChoice::UserCreatedSteady) {
        let out = each_backend(&rt, &kinds, &args, user_created::steady::measure);
        user_created::steady::print(&args, &out.rows);
        failed.extend(report_failures("user-created-steady", out.failures));
    }
    if args.wants(ScenarioChoice::Soak) {
        soak::print_header(&args);
        let out = each_backend(&rt, &kinds, &args, soak::measure);
        soak::print(&args, &out.rows);
        failed.extend(report_failures("soak", out.failures));
    }
    if args.wants(ScenarioChoice::Flood) {
        let out = each_backend(&rt, &kinds, &args, flood::measure);
        flood::print(&args, &out.rows);
        failed.extend(report_failures("flood", out.failures));
    }
    println!();
    println!("{}", machine());
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the bench failed: {}", failed.join(", "))
    }
}

fn print_header() {
    println!();
    println!("{}", machine());
    if let Ok(c) = Config::from_values(&BTreeMap::new()) {
        println!(
            "ingot bench — daemon in-process with default settings (http_workers={}, max_runs_per_function={}, \
             database_pool_size={}, sqlite_synchronous={}, poll_interval={})",
            c.http_workers,
            c.max_runs_per_function,
            c.pool.size,
            c.pool.sqlite_synchronous,
            humantime::format_duration(c.poll_interval)
        );
    }
}

/// Cores and load average: the bench shares the machine with whatever else runs on it.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("machine: {cores} cores, load average (1/5/15 min) {}", load.join(" "))
}

/// Runs `measure` on a fresh database of each backend, removing the database whatever happened.
fn each_backend<T>(
    rt: &Runtime,
    kinds: &[Kind],
    args: &BenchArgs,
    measure: impl Fn(&Runtime, &FreshDb, &BenchArgs) -> anyhow::Result<T>,
) -> Outcome<T> {
    let mut out = Outcome {
        rows: Vec::new(),
        failures: Vec::new(),
    };
    for &kind in kinds {
        let result = rt
            .block_on(FreshDb::create(kind, &args.pg_url))
            .with_context(|| format!("{kind}: cannot create a fresh database"))
            .and_then(|fresh| {
                let row = measure(rt, &fresh, args).with_context(|| format!("{kind} ({})", fresh.url.redacted()));
                let place = fresh.describe();
                if let Err(e) = rt.block_on(fresh.remove()) {
                    eprintln!("ingot bench: warning: could not remove {place}: {e:#}");
                }
                row
            });
        match result {
            Ok(row) => out.rows.push((kind, row)),
            Err(e) => out.failures.push((kind, e)),
        }
    }
    out
}

fn report_failures(scenario: &str, failures: Vec<(Kind, anyhow::Error)>) -> Vec<String> {
    failures
        .into_iter()
        .map(|(kind, e)| {
            println!("{kind:<9} {scenario}: FAILED: {e:#}");
            format!("{scenario} on {kind}")
        })
        .collect()
}

/// Starts the daemon with `functions` on `fresh`, runs `work` against its base URL, and stops the daemon.
pub(crate) fn with_daemon<T>(
    rt: &Runtime,
    fresh: &FreshDb,
    functions: Vec<ingot_actors::FunctionDef>,
    work: impl AsyncFnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    with_tuned_daemon(rt, fresh, functions, |_| {}, work)
}

/// [`with_daemon`] with the daemon's validated settings adjusted by `tune`.
pub(crate) fn with_tuned_daemon<T>(
    rt: &Runtime,
    fresh: &FreshDb,
    functions: Vec<ingot_actors::FunctionDef>,
    tune: impl FnOnce(&mut Config),
    work: impl AsyncFnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let daemon =
        inproc::Daemon::start_tuned(fresh.config_url(), functions, tune).context("the daemon did not start")?;
    let base = format!("http://{}", daemon.addr);
    let result = rt.block_on(work(&base));
    let stopped = daemon.stop();
    let value = result?;
    stopped.context("the daemon did not stop cleanly")?;
    Ok(value)
}

/// A handle on the fresh database, for reading figures back.
pub(crate) async fn open(fresh: &FreshDb) -> anyhow::Result<crate::store::Db> {
    crate::store::Db::connect(&fresh.url, &crate::store::PoolOptions::default())
        .await
        .context("cannot open the database to measure")
}

/// `met` or `MISSED` for a figure against its target.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
