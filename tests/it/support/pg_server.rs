//! A throwaway PostgreSQL server of a test's own (initdb + pg_ctl in a temp dir, on a free port): for what the
//! shared server must not go through — TLS settings, a stop and a restart in the middle of load. As root, the server
//! runs as the `postgres` user (PostgreSQL refuses root).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    pub dir: tempfile::TempDir,
    data: PathBuf,
    pub port: u16,
    as_postgres: bool,
    /// `-o` options of every start (port, socket dir, listen address, and the caller's).
    options: String,
}

/// The newest PostgreSQL program of that name under /usr/lib/postgresql, or the name on `PATH`.
fn bin(name: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin").join(name)).collect())
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

impl PgServer {
    /// Initialises and starts a server. `setup` may write files into the server's directory (certificates) and
    /// returns extra server options (`-c ssl=on …`), or an empty string.
    pub fn start(setup: impl FnOnce(&Path) -> String) -> PgServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.trim_ascii() == b"0")
            .unwrap_or(false);
        let extra = setup(dir.path());
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 {extra}",
            dir = dir.path().display()
        );
        let server = PgServer {
            dir,
            data,
            port,
            as_postgres,
            options,
        };
        server.run(
            &bin("initdb"),
            &["-D", &server.data_str(), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        server.start_again();
        server
    }

    /// Starts the (stopped) server; returns once it accepts connections.
    pub fn start_again(&self) {
        let log = format!("{}/log", self.dir.path().display());
        self.run(
            &bin("pg_ctl"),
            &["-D", &self.data_str(), "-o", &self.options, "-w", "-l", &log, "start"],
        );
    }

    /// Stops the server: `fast` (sessions ended, a clean shutdown) or `immediate` (like a crash: recovery at the
    /// next start). Returns once it is down.
    pub fn stop(&self, mode: &str) {
        self.run(&bin("pg_ctl"), &["-D", &self.data_str(), "-m", mode, "-w", "stop"]);
    }

    fn data_str(&self) -> String {
        self.data.display().to_string()
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &Path, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A URL for the `postgres` database (trust authentication: the password is ignored, and must never show).
    pub fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres:hunter2@{host}:{}/postgres?{params}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let args = ["-D", &self.data_str(), "-m", "immediate", "stop"];
        let _ = self.command(&bin("pg_ctl")).args(args).output();
    }
}
