//! The daemon in a process of its own (`ingot serve`, the bench's own executable), for scenarios that measure the
//! daemon alone: its memory (flood) or its CPU time (user-created), without the bench's client in the same
//! process. Also the CPU time of a process and of the PostgreSQL server, read from `/proc`.

use super::fresh::FreshDb;
use super::inproc;
use anyhow::Context;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `ingot serve`; killed if still running when dropped.
pub struct Serving {
    child: Child,
    pub base: String,
}

impl Serving {
    /// Starts `ingot serve` on `fresh` with default settings except the bench's event key and admin token, node
    /// id `node_id`, and `extra` settings (`INGOT_*` variables). `INGOT_LOG` is passed through (default `warn`).
    pub fn start(fresh: &FreshDb, node_id: &str, extra: &[(&str, String)]) -> anyhow::Result<Serving> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free port")?
            .port();
        let exe = std::env::current_exe().context("cannot find the ingot executable")?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .env("INGOT_DATABASE_URL", fresh.config_url())
            .env("INGOT_LISTEN", format!("127.0.0.1:{port}"))
            .env("INGOT_EVENT_KEYS", inproc::EVENT_KEY)
            .env("INGOT_NODE_ID", node_id)
            .env(
                "INGOT_ADMIN_TOKEN_SHA256",
                crate::http::auth::sha256_hex(&inproc::TOKEN),
            )
            .env(
                "INGOT_LOG",
                std::env::var("INGOT_LOG").unwrap_or_else(|_| "warn".into()),
            );
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start `ingot serve`")?;
        Ok(Serving {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `/health/ready` (every 50 ms, at most 60 s) until the daemon answers 200.
    pub async fn ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("`ingot serve` exited before it was ready: {status}");
            }
            if let Ok(r) = http.get(format!("{}/health/ready", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the daemon was not ready within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM (a graceful stop), then waits; SIGKILL if it has not stopped within 30 s.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        anyhow::bail!("the daemon did not stop within 30 s of SIGTERM (killed)")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU fields (`getconf CLK_TCK`; 100 on every Linux we know).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// `(command name, user + system CPU seconds)` from the text of a `/proc/<pid>/stat`.
fn parse_stat(text: &str, ticks: f64) -> Option<(String, f64)> {
    let (head, tail) = text.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    // After the name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
    let fields: Vec<&str> = tail.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / ticks))
}

/// CPU seconds (user + system) the process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text, clock_ticks())
        .map(|(_, s)| s)
        .with_context(|| format!("{path} is not in the expected format"))
}

/// CPU seconds of every process named `postgres` now: the PostgreSQL server on this machine, if it runs here
/// (backends that exit in between are not counted; the daemon's pooled connections stay open while measured).
pub fn postgres_cpu_seconds() -> f64 {
    let ticks = clock_ticks();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| parse_stat(&t, ticks))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, s)| s)
        .sum()
}

/// The statements the daemon's pooled connections have sent so far (`ingot_db_queries` on its `/metrics`;
/// `BEGIN`, `COMMIT`, savepoints and the pools' recycle checks count), read with the bench's admin token.
pub async fn statements(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .bearer_auth(super::inproc::TOKEN.as_str())
        .send()
        .await
        .context("GET /metrics")?
        .error_for_status()
        .context("GET /metrics")?
        .text()
        .await?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.split_once(' ')?;
            let name = name.strip_suffix("_total").unwrap_or(name);
            (name == crate::metrics::names::DB_QUERIES).then(|| value.trim().parse::<f64>().ok())?
        })
        .map(|v| v as u64)
        .context("no ingot_db_queries on /metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_a_name_with_spaces_and_parentheses() {
        // man 5 proc: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
        let text = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 100 0 0";
        let (name, secs) = parse_stat(text, 100.0).unwrap();
        assert_eq!(name, "a (b) c");
        assert!((secs - 4.0).abs() < 1e-9, "{secs}");
        assert_eq!(parse_stat("garbage", 100.0), None);
    }

    #[test]
    fn a_process_cpu_time_grows_as_it_works() {
        let pid = std::process::id();
        let before = cpu_seconds(pid).unwrap();
        let mut x = 1u64;
        // Work until the kernel's tick-granular counter moves (bounded: a counter that never moves fails).
        for round in 0.. {
            assert!(round < 10_000, "the CPU time of this process never grew from {before}");
            x = (0..100_000u64).fold(x, |a, i| a.wrapping_mul(31).wrapping_add(i));
            if cpu_seconds(pid).unwrap() > before {
                break;
            }
        }
        assert_ne!(x, 0);
        assert!(cpu_seconds(u32::MAX).is_err());
    }
}
