//! Start-up: invalid configuration refuses to start and names the setting; the CLI's other commands.

use crate::support::process::{base_env, run_to_end};
use crate::support::{Backend, TestDb};

fn with(url: &str, key: &str, value: &str) -> Vec<(String, String)> {
    let mut env = base_env(url);
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
    env
}

#[test]
fn invalid_configuration_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    for (key, value, expect) in [
        ("INGOT_LISTEN", "not-an-address", "INGOT_LISTEN"),
        ("INGOT_DATABASE_URL", "mysql://localhost/x", "INGOT_DATABASE_URL"),
        ("INGOT_DATABASE_URL", "sqlite:///no/such/dir/x.db", "does not exist"),
        ("INGOT_POLL_INTERVAL", "fast", "INGOT_POLL_INTERVAL"),
        ("INGOT_RETRY_BACKOFF", "sometimes", "INGOT_RETRY_BACKOFF"),
        ("INGOT_MAX_RUNS_PER_FUNCTION", "0", "INGOT_MAX_RUNS_PER_FUNCTION"),
    ] {
        let (status, _, stderr) = run_to_end(&["serve"], &with(&url, key, value));
        assert!(!status.success(), "{key}={value} started");
        assert!(stderr.contains(expect), "{key}={value}: {stderr}");
    }
    let file = dir.path().join("ingot.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\ntypo_setting = 1\n").unwrap();
    let (status, _, stderr) = run_to_end(&["--config", file.to_str().unwrap(), "serve"], &base_env(&url));
    assert!(!status.success());
    assert!(stderr.contains("unknown setting \"typo_setting\""), "{stderr}");
    assert!(!dir.path().join("x.db").exists(), "nothing was created");
}

#[test]
fn functions_lists_the_registry() {
    let (status, text, stderr) = run_to_end(&["functions"], &base_env("sqlite://unused.db"));
    assert!(status.success(), "{stderr}");
    assert!(text.contains("user-created"), "{text}");
    assert!(text.contains("trigger: user/created"), "{text}");
    assert!(text.contains("idempotency: event.user.email"), "{text}");
    assert!(text.contains("retries: 3"), "{text}");
}

#[tokio::test]
async fn migrate_applies_then_reports_up_to_date() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend).await;
        // TestDb migrated already; `ingot migrate` now finds nothing to do.
        let (status, stdout, stderr) = run_to_end(&["migrate"], &base_env(&db.url));
        assert!(status.success(), "{stderr}");
        assert!(stdout.contains("up to date"), "{stdout}");
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let (status, stdout, stderr) = run_to_end(&["migrate"], &base_env(&url));
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("applied 20261127000001"), "{stdout}");
}
