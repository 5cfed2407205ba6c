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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_posts_an_event_to_a_running_daemon() {
    let db = TestDb::new(Backend::Sqlite).await;
    let d = crate::support::process::Daemon::start(&base_env(&db.url));
    let user = r#"{"id":"u9","email":"nine@example.com"}"#;
    let (status, stdout, stderr) = run_to_end(
        &[
            "send",
            "user/created",
            "--user",
            user,
            "--id",
            "cli-1",
            "--url",
            &d.api.base,
        ],
        &base_env(&db.url),
    );
    assert!(status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON answer");
    let id = answer["ids"][0].as_str().expect("an id");
    let event = d.api.get_ok(&format!("/api/v1/events/{id}")).await;
    assert_eq!(event["event"]["user"]["email"], "nine@example.com");
    assert_eq!(event["event"]["id"], "cli-1");
    let (status, _, stderr) = run_to_end(&["send", "user/created", "--data", "not json"], &base_env(&db.url));
    assert!(!status.success());
    assert!(stderr.contains("--data is not JSON"), "{stderr}");
    d.api.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_fails_before_touching_anything() {
    let db = TestDb::new(Backend::Sqlite).await;
    let d = crate::support::process::Daemon::start(&base_env(&db.url));
    let taken = d.api.base.trim_start_matches("http://").to_string();
    let (status, _, stderr) = run_to_end(&["serve"], &with(&db.url, "INGOT_LISTEN", &taken));
    assert!(!status.success());
    assert!(stderr.contains(&format!("cannot listen on {taken}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("starting 2 workers") && !stderr.contains("resuming runs"),
        "{stderr}"
    );
    assert_eq!(
        d.api.get_ok("/health").await["status"],
        200,
        "the first daemon is unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_on_postgres_take_turns() {
    let db = TestDb::new(Backend::Postgres).await;
    // A database that is not migrated yet: a sibling of the test database.
    let fresh = db
        .url
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{}_m", db.url.rsplit('/').next().unwrap()))
        .unwrap();
    let name = fresh.rsplit('/').next().unwrap().to_string();
    db.exec(&format!("CREATE DATABASE {name}"), &[]).await;
    let env = base_env(&fresh);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run_to_end(&["migrate"], &env));
        let b = s.spawn(|| run_to_end(&["migrate"], &env));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.0.success() && b.0.success(), "{}\n{}", a.2, b.2);
    let applied = [
        a.1.contains("applied 20261127000001"),
        b.1.contains("applied 20261127000001"),
    ];
    assert_eq!(
        applied.iter().filter(|x| **x).count(),
        1,
        "exactly one applied: {applied:?}"
    );
    db.exec(&format!("DROP DATABASE {name} WITH (FORCE)"), &[]).await;
}

/// A function whose flow control is invalid refuses the daemon's start, naming the function and the rule; the
/// daemon never serves.
#[test]
fn invalid_flow_configuration_refuses_to_start() {
    use ingot_actors::{FunctionDef, Trigger};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let cases: Vec<(FunctionDef, &str)> = vec![
        (
            FunctionDef::new("batched-idem", "Batched", |_| async { Ok(serde_json::Value::Null) })
                .trigger(Trigger::event("test/a"))
                .idempotency("event.data.id")
                .batch_events(10, Duration::from_secs(5), None),
            "idempotency",
        ),
        (
            FunctionDef::new("bad-priority", "Bad priority", |_| async {
                Ok(serde_json::Value::Null)
            })
            .trigger(Trigger::event("test/a"))
            .priority("event.data.x +"),
            "invalid CEL",
        ),
        (
            FunctionDef::new("short-throttle", "Short throttle", |_| async {
                Ok(serde_json::Value::Null)
            })
            .trigger(Trigger::event("test/a"))
            .throttle(1, Duration::from_millis(10), 0, None),
            "throttle period",
        ),
    ];
    for (def, expect) in cases {
        let id = def.id.clone();
        let values = [("database_url", url.as_str()), ("listen", "127.0.0.1:0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = ingot::config::Config::from_values(&values).expect("config");
        let mut served = false;
        let result = actix_rt::System::new().block_on(ingot::daemon::run(
            config,
            vec![def],
            |_| served = true,
            std::future::pending(),
        ));
        let err = format!("{:#}", result.expect_err("the daemon must refuse to start"));
        assert!(!served, "{id}: the daemon served before refusing");
        assert!(err.contains(&id) && err.contains(expect), "{id}: {err}");
    }
}
