//! The real daemon, in-process on its own thread and actix `System`, with the scenario's bench functions
//! ([`super::functions`]) registered next to the compiled-in workflows.

use crate::config::Config;
use anyhow::Context;
use ingot_actors::FunctionDef;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

pub const EVENT_KEY: &str = "benchkey";

/// The admin token of the bench's daemons: random per process, configured by its hash, sent by
/// [`super::client::drain`] (intake needs only the event key).
pub static TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| crate::http::auth::random_hex(32));

/// The daemon's settings: defaults, except where it stores, listens (any free port) and who it is.
fn config(database_url: &str) -> anyhow::Result<Config> {
    let token_sha256 = crate::http::auth::sha256_hex(&TOKEN);
    let values: BTreeMap<String, String> = [
        ("admin_token_sha256", token_sha256.as_str()),
        ("database_url", database_url),
        ("listen", "127.0.0.1:0"),
        ("node_id", "bench"),
        ("event_keys", EVENT_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_values(&values).context("bench configuration")
}

/// A running daemon. Stopped (gracefully) by [`Daemon::stop`] or when dropped.
pub struct Daemon {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Daemon {
    /// Starts the daemon with the validated settings adjusted by `tune` (the soak shortens retention below what
    /// the setting allows, so the database's growth flattens within a short run), and waits until it serves. Call
    /// outside any async runtime (it blocks).
    pub fn start_tuned(
        database_url: String,
        functions: Vec<FunctionDef>,
        tune: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Daemon> {
        let mut config = config(&database_url)?;
        tune(&mut config);
        let (ready_tx, ready_rx) = oneshot::channel::<SocketAddr>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ingot-bench-daemon".into())
            .spawn(move || {
                actix_rt::System::new().block_on(crate::daemon::run(
                    config,
                    functions,
                    move |started: crate::daemon::Started| {
                        let _ = ready_tx.send(started.addr);
                    },
                    async move {
                        // A dropped sender stops the daemon too.
                        let _ = stop_rx.await;
                    },
                ))
            })
            .context("cannot start the daemon thread")?;
        match ready_rx.blocking_recv() {
            Ok(addr) => Ok(Daemon {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            // The daemon ended before it was ready: its result says why.
            Err(_) => Err(join(thread)
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the daemon stopped before it was ready"))),
        }
    }

    /// Stops the daemon gracefully and returns how its run ended.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => join(thread),
            None => Ok(()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("ingot bench: the daemon stopped with an error: {e:#}");
        }
    }
}

fn join(thread: JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    match thread.join() {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".into());
            Err(anyhow::anyhow!("the daemon thread panicked: {message}"))
        }
    }
}
