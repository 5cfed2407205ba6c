//! The first start (the `ingot` binary): with no credential it creates the token `admin`, shows it once in the log,
//! stores only its hash; the next start shows nothing. `INGOT_AUTH=off` warns. Secrets stay out of the logs.

use super::rows_containing;
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use std::time::Duration;

/// The test daemon's environment without the harness's configured token, at debug level (request logs on).
fn env(url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = base_env(url)
        .into_iter()
        .filter(|(k, _)| k != "INGOT_ADMIN_TOKEN_SHA256" && k != "INGOT_LOG")
        .collect();
    env.push(("INGOT_ADMIN_TOKEN_SHA256".into(), String::new()));
    env.push(("INGOT_LOG".into(), "debug".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

both!(
    the_first_start_shows_an_admin_token_once_and_stores_its_hash,
    first_start_impl
);
async fn first_start_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = Daemon::start(&env(&db.url, &[]));
    let line = d.wait_for_log(&["FIRST START", "ADMIN TOKEN: ingot_"], Duration::from_secs(30));
    assert!(line.contains("WARN"), "shown at any log level: {line}");
    let token = line
        .rsplit("ADMIN TOKEN: ")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (id, secret) = ingot::http::auth::tokens::parse(&token).expect("a token");
    let api = Api::with_token(d.api.base.clone(), Some(&token));
    api.get_ok("/api/v1/runs").await;
    api.drain().await;
    // A wrong token and a session cookie that does not exist: refused, and never logged.
    let wrong = Api::with_token(d.api.base.clone(), Some("ingot_0123456789abcdef.not-the-secret"));
    assert_eq!(wrong.get("/api/v1/runs").await.0, 401);
    // Only the hash is stored: no column of the row holds the token or its secret.
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM api_tokens WHERE name = 'admin'", &[])
            .await,
        1
    );
    assert_eq!(
        rows_containing(&db, "api_tokens", "id || name || secret_sha256", secret).await,
        0
    );
    assert_eq!(
        rows_containing(
            &db,
            "api_tokens",
            "secret_sha256",
            &ingot::http::auth::sha256_hex(secret)
        )
        .await,
        1
    );
    // In the whole log, the secret appears on that one line only, and the wrong token nowhere.
    d.wait_for_log(&["status=401"], Duration::from_secs(10));
    let logs = d.log_text();
    assert_eq!(logs.lines().filter(|l| l.contains(secret)).count(), 1, "{logs}");
    assert_eq!(logs.lines().filter(|l| l.contains(id)).count(), 1, "{logs}");
    assert!(!logs.contains("not-the-secret"), "{logs}");
    let stopped = d.terminate();
    assert!(stopped.success());

    // The next start shows no token; the first one still works.
    let again = Daemon::start(&env(&db.url, &[]));
    let api = Api::with_token(again.api.base.clone(), Some(&token));
    api.get_ok("/api/v1/functions").await;
    again.wait_for_log(&["route=\"/api/v1/functions\""], Duration::from_secs(10));
    let logs = again.log_text();
    assert!(!logs.contains("FIRST START") && !logs.contains(secret), "{logs}");
    assert!(!logs.contains("not-the-secret"));
    drop(again);
}

both!(auth_off_warns_at_start_and_creates_nothing, off_impl);
async fn off_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = Daemon::start(&env(&db.url, &[("INGOT_AUTH", "off")]));
    let line = d.wait_for_log(&["INGOT_AUTH=off"], Duration::from_secs(30));
    assert!(line.contains("WARN"), "{line}");
    d.api.anonymous().get_ok("/api/v1/runs").await;
    assert!(!d.log_text().contains("FIRST START"));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM api_tokens", &[]).await, 0);
}
