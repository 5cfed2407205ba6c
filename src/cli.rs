//! The `ingot` command line.

use crate::config::{Config, SETTINGS};
use crate::functions::{self, Deps};
use crate::store::{Db, migrate};
use anyhow::Context;
use clap::{Parser, Subcommand};
use ingot_actors::{Registry, Trigger};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "ingot",
    version,
    about = "A durable, event-driven job processor with the course platform's workflows compiled in"
)]
pub struct Cli {
    /// A TOML file of settings (environment variables override it). See `ingot config`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: HTTP API, supervisor and function pools.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// List the registered functions: id, triggers, conditions, retries, idempotency.
    Functions {
        /// Print the function catalogue as a Markdown table (the README's "Function catalogue").
        #[arg(long)]
        markdown: bool,
        /// Check that every event the platform emits has a consumer; exit 1 listing those that do not.
        #[arg(long, conflicts_with = "markdown")]
        check_consumers: bool,
    },
    /// List every setting with its environment variable and default.
    Config,
    /// Delete what the retention policy (INGOT_RETENTION) no longer keeps, in bounded batches, and print the counts.
    Prune {
        /// Only count what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Send an event to a running daemon.
    Send {
        /// The event name, e.g. user/created.
        name: String,
        /// The event's data (a JSON object).
        #[arg(long, default_value = "{}")]
        data: String,
        /// The event's user (a JSON object).
        #[arg(long)]
        user: Option<String>,
        /// The producer's dedupe id.
        #[arg(long)]
        id: Option<String>,
        /// The daemon's base URL (default: from INGOT_LISTEN).
        #[arg(long)]
        url: Option<String>,
        /// The event key (default: the first of INGOT_EVENT_KEYS).
        #[arg(long, env = "INGOT_EVENT_KEY")]
        key: Option<String>,
    },
    /// Measure throughput and latency through HTTP on SQLite and PostgreSQL; prints figures.
    Bench(crate::bench::BenchArgs),
    /// API tokens for the read API and the actions (`Authorization: Bearer <token>`).
    #[command(subcommand)]
    Token(crate::http::auth::commands::TokenCommand),
    /// Dashboard users (sign in at /login).
    #[command(subcommand)]
    User(crate::http::auth::commands::UserCommand),
    /// Load data into the configured database (applies pending migrations first).
    #[command(subcommand)]
    Seed(SeedCommand),
}

#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// The demo catalogue: products, content, users, purchases in every status, coupons, entitlements.
    /// Idempotent: loading it again changes nothing.
    Demo,
}

/// `ingot functions --check-consumers`: every emitted event has a consumer (or an exemption with its reason),
/// every function has a catalogue summary, and no exemption is stale.
fn check_consumers_of(registry: &Registry) -> anyhow::Result<()> {
    use functions::catalogue;
    let mut problems = Vec::new();
    for e in catalogue::unconsumed(registry) {
        problems.push(format!("{} (emitted by {}) starts no function", e.event, e.producer));
    }
    for name in catalogue::stale_exemptions(registry) {
        problems.push(format!(
            "{name} is exempt in NO_CONSUMER_ON_PURPOSE but has a consumer or no producer"
        ));
    }
    for id in catalogue::undescribed(registry) {
        problems.push(format!("function {id} has no catalogue summary"));
    }
    if problems.is_empty() {
        println!("every emitted event has a consumer");
        return Ok(());
    }
    anyhow::bail!("{}", problems.join("\n"))
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let load = || Config::load(cli.config.as_deref()).context("configuration");
    match cli.command {
        Command::Serve => crate::daemon::serve(load()?, Vec::new()),
        Command::Migrate => {
            let config = load()?;
            actix_rt::System::new().block_on(async {
                let db = Db::connect(&config.database_url, &config.pool)
                    .await
                    .context("database")?;
                let applied = migrate::run(&db).await.context("migrations")?;
                if applied.is_empty() {
                    println!("{}: up to date", config.database_url.redacted());
                }
                for m in applied {
                    println!("applied {m}");
                }
                Ok(())
            })
        }
        Command::Functions {
            markdown,
            check_consumers,
        } => {
            let config = Arc::new(load()?);
            actix_rt::System::new().block_on(async {
                // Pools connect lazily: listing functions opens no connection.
                let db = Db::open(&config.database_url, &config.pool)?;
                let registry = Registry::new(functions::all(&Deps::new(db, config)))?;
                if markdown {
                    print!("{}", functions::catalogue::markdown(&registry));
                    return Ok(());
                }
                if check_consumers {
                    return check_consumers_of(&registry);
                }
                for f in registry.functions() {
                    let d = &f.def;
                    println!("{}  ({})", d.id, d.name);
                    for t in &d.triggers {
                        match t {
                            Trigger::Event {
                                event,
                                condition: Some(c),
                            } => println!("  trigger: {event}  if {c}"),
                            Trigger::Event { event, condition: None } => println!("  trigger: {event}"),
                            Trigger::Cron { schedule } => println!("  trigger: cron {schedule}"),
                        }
                    }
                    println!("  retries: {}", d.retries);
                    if let Some(k) = &d.idempotency {
                        println!("  idempotency: {k}");
                    }
                }
                Ok(())
            })
        }
        Command::Prune { dry_run } => {
            use crate::store::retention::{Policy, preview, prune};
            let config = load()?;
            actix_rt::System::new().block_on(async {
                let db = Db::connect(&config.database_url, &config.pool)
                    .await
                    .context("database")?;
                migrate::run(&db).await.context("migrations")?;
                let now = ingot_actors::time::now_ms();
                let mut policy = Policy::at(now, config.retention, config.prune_batch);
                // From the command line, go on until done.
                policy.max_batches = usize::MAX;
                let (verb, counts) = if dry_run {
                    ("would remove", preview(&db, now, &policy).await?)
                } else {
                    ("removed", prune(&db, now, &policy).await?)
                };
                println!(
                    "retention {}: {verb} {} rows",
                    humantime::format_duration(config.retention),
                    counts.total()
                );
                for (table, n) in serde_json::to_value(counts)?.as_object().into_iter().flatten() {
                    println!("  {table:<18} {n}");
                }
                Ok(())
            })
        }
        Command::Config => {
            for (key, env, default, meaning) in SETTINGS {
                println!("{env:<30} {key:<24} default {default:?}\n    {meaning}");
            }
            for (env, default, meaning) in crate::integrations::config::SETTINGS {
                let key = env.to_ascii_lowercase();
                println!("{env:<30} {key:<24} default {default:?}\n    {meaning}");
            }
            Ok(())
        }
        Command::Send {
            name,
            data,
            user,
            id,
            url,
            key,
        } => {
            let config = load()?;
            let data: serde_json::Value = serde_json::from_str(&data).context("--data is not JSON")?;
            let user: Option<serde_json::Value> = user
                .map(|u| serde_json::from_str(&u))
                .transpose()
                .context("--user is not JSON")?;
            let mut event = serde_json::json!({"name": name, "data": data});
            if let Some(u) = user {
                event["user"] = u;
            }
            if let Some(i) = id {
                event["id"] = serde_json::Value::String(i);
            }
            let base = url.unwrap_or_else(|| format!("http://{}", config.listen));
            let key = key
                .or_else(|| config.event_keys.first().map(|k| k.expose().to_string()))
                .unwrap_or_else(|| "dev".into());
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let resp = crate::tls::http_client()
                    .post(format!("{}/e/{}", base.trim_end_matches('/'), key))
                    .json(&event)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach the daemon at {base}"))?;
                let status = resp.status();
                let body = resp.text().await?;
                println!("{body}");
                anyhow::ensure!(status.is_success(), "the daemon answered {status}");
                Ok(())
            })
        }
        Command::Bench(args) => crate::bench::run(args),
        Command::Token(command) => crate::http::auth::commands::run_token(load()?, command),
        Command::User(command) => crate::http::auth::commands::run_user(load()?, command),
        Command::Seed(SeedCommand::Demo) => {
            let config = load()?;
            actix_rt::System::new().block_on(async {
                let db = Db::connect(&config.database_url, &config.pool)
                    .await
                    .context("database")?;
                migrate::run(&db).await.context("migrations")?;
                let summary = crate::seed::demo::load(&db).await.context("demo data")?;
                println!(
                    "{}: demo loaded ({} users, {} products, {} purchases, {} content entitlements)",
                    config.database_url.redacted(),
                    summary.users,
                    summary.products,
                    summary.purchases,
                    summary.entitlements_granted
                );
                Ok(())
            })
        }
    }
}
