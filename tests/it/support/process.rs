//! The `ingot` binary (or the `engine_testd` example: the daemon with engine test functions) as a child process:
//! for crash (kill -9), signal and start-up tests. Its address comes from its "listening on" log line (it listens
//! on port 0); logs are kept for assertions and can be waited for.

use super::Api;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    pub api: Api,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// Notified on every new log line.
    logged: Arc<Condvar>,
}

/// The path of a Cargo example built next to this test binary (`<target>/<profile>/examples/NAME`; the test
/// binary is `<target>/<profile>/deps/it-*`). `cargo test` builds examples; `cargo test --test it` alone does not.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("<target>/<profile>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --example {name}` (or plain `cargo test`, which builds examples)",
        path.display()
    );
    path
}

/// The environment every test daemon gets (plus the database URL).
pub fn base_env(url: &str) -> Vec<(String, String)> {
    [
        ("INGOT_DATABASE_URL", url),
        ("INGOT_LISTEN", "127.0.0.1:0"),
        ("INGOT_NODE_ID", "test-node"),
        ("INGOT_RETRY_BACKOFF", "10ms"),
        ("INGOT_POLL_INTERVAL", "200ms"),
        ("INGOT_LOG", "info"),
        ("INGOT_ADMIN_TOKEN_SHA256", &super::test_token_sha256()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Runs `ingot ARGS` with only this environment to completion; returns the exit status, stdout and stderr.
pub fn run_to_end(args: &[&str], env: &[(String, String)]) -> (ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ingot"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run ingot");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

impl Daemon {
    /// Starts `ingot serve` and waits for it to listen.
    pub fn start(env: &[(String, String)]) -> Daemon {
        Daemon::start_bin(Path::new(env!("CARGO_BIN_EXE_ingot")), &["serve"], env)
    }

    /// Starts `bin ARGS` (a daemon that logs "listening on http://ADDR") and waits for it to listen. The harness's
    /// admin token is configured unless `env` sets `INGOT_ADMIN_TOKEN_SHA256` itself.
    pub fn start_bin(bin: &Path, args: &[&str], env: &[(String, String)]) -> Daemon {
        let mut command = Command::new(bin);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        if !env.iter().any(|(k, _)| k == "INGOT_ADMIN_TOKEN_SHA256") {
            command.env("INGOT_ADMIN_TOKEN_SHA256", super::test_token_sha256());
        }
        let mut child = command
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let logged = Arc::new(Condvar::new());
        let (tx, rx) = mpsc::channel();
        let (sink, notify) = (logs.clone(), logged.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let addr = line[i + "listening on http://".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
                notify.notify_all();
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("daemon did not start:\n{}", logs.lock().unwrap().join("\n"));
            }
        };
        Daemon {
            child,
            api: Api::new(format!("http://{addr}")),
            logs,
            logged,
        }
    }

    /// Blocks until a log line contains all `needles` (woken by each new line), at most `timeout`; returns it, or
    /// panics with the logs. It blocks one test worker thread while it waits.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut logs = self.logs.lock().unwrap();
        loop {
            if let Some(line) = logs.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no log line contains {needles:?} within {timeout:?}:\n{}",
                    logs.join("\n")
                );
            }
            logs = self.logged.wait_timeout(logs, deadline - now).unwrap().0;
        }
    }

    /// kill -9: no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(status.success());
        self.child.wait().expect("wait")
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
