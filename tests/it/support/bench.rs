//! `ingot bench` run as the real binary, for the small-scenario tests (`bench_*`): no figure is a speed assertion;
//! each test checks that its rows are there, well formed and consistent.

use super::Backend;
use std::process::Command;

/// The backend as `--backend` names it, and as its rows start.
pub fn name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Runs `ingot bench --scenario <scenario> --backend <b> <args…>` with `INGOT_LOG=warn` (off the async runtime)
/// and returns what it printed; the test fails, with both outputs, unless the bench succeeded.
pub async fn run(scenario: &str, b: Backend, args: &[&str]) -> String {
    let args: Vec<String> = ["bench", "--scenario", scenario, "--backend", name(b)]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ingot"))
            .args(&args)
            .env("INGOT_LOG", "warn")
            .output()
            .expect("run ingot bench")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ingot bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines of `stdout` that start with the backend's name and pass `keep`, split at whitespace.
pub fn rows(stdout: &str, b: Backend, keep: impl Fn(&str) -> bool) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .filter(|l| l.starts_with(name(b)) && keep(l))
        .map(|l| l.split_whitespace().collect())
        .collect()
}
