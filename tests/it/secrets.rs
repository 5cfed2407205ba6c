//! Secrets never reach the logs, at the most verbose levels: the daemon runs with `INGOT_LOG=trace` (every crate's
//! trace and debug lines: actix-web, hyper, reqwest, rustls, tokio-postgres, diesel, ours) and every setting the
//! project calls a secret configured with a value carrying a marker; requests then use each credential the way a
//! producer does (event keys in the path, webhook signatures and shared secrets in headers and in the query, API
//! tokens, a database password), and refused ones too. No marker may appear in anything the daemon printed.

use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TEST_TOKEN, TestDb};
use ingot::http::webhooks::sign;
use serde_json::json;

const KEY: &str = include_str!("fixtures/google_test_key.pem");

/// Every setting whose meaning the project marks `(secret)`, daemon and integrations alike.
fn secret_settings() -> Vec<&'static str> {
    let daemon = ingot::config::SETTINGS
        .iter()
        .filter(|(_, _, _, meaning)| meaning.contains("(secret)"))
        .map(|(_, env, _, _)| *env);
    let integrations = ingot::integrations::config::SETTINGS
        .iter()
        .filter(|(_, _, meaning)| meaning.contains("(secret)"))
        .map(|(env, _, _)| *env);
    daemon.chain(integrations).collect()
}

/// A value for a secret setting that the daemon accepts, containing `marker`.
fn value_for(setting: &str, marker: &str) -> String {
    match setting {
        // A real service-account key; the marker rides in the key id, which is as secret as the rest.
        "GOOG_CREDENTIALS_JSON" => json!({
            "type": "service_account",
            "client_email": "sa@project.iam.gserviceaccount.com",
            "private_key_id": marker,
            "private_key": KEY,
            "project_id": "p",
        })
        .to_string(),
        "SMTP_URL" => format!("smtp://user:{marker}@127.0.0.1:2525"),
        "SLACK_WEBHOOK_URL" => format!("http://127.0.0.1:9/services/T0/B0/{marker}"),
        _ => marker.to_string(),
    }
}

both!(no_secret_reaches_the_logs_at_trace_level, no_secret_in_logs);
async fn no_secret_in_logs(b: Backend) {
    let db = TestDb::new(b).await;
    let settings = secret_settings();
    assert!(
        settings.len() >= 15 && settings.contains(&"STRIPE_WEBHOOK_SECRET"),
        "the secret settings are found: {settings:?}"
    );
    let mut env = base_env(&db.url);
    env.retain(|(k, _)| k != "INGOT_LOG");
    env.push(("INGOT_LOG".into(), "trace".into()));
    let mut markers: Vec<(String, String)> = Vec::new();
    for setting in &settings {
        let marker = format!("sekret{}Zq9", setting.to_lowercase().replace('_', ""));
        env.push((setting.to_string(), value_for(setting, &marker)));
        markers.push((setting.to_string(), marker));
    }
    // Event keys (the daemon's own secret list) and a database password (PostgreSQL's trust authentication
    // ignores it, so the daemon connects with it in its URL).
    env.push((
        "INGOT_EVENT_KEYS".into(),
        "sekreteventkeyoneZq9,sekreteventkeytwoZq9".into(),
    ));
    markers.push(("INGOT_EVENT_KEYS".into(), "sekreteventkeyoneZq9".into()));
    markers.push(("INGOT_EVENT_KEYS".into(), "sekreteventkeytwoZq9".into()));
    if b == Backend::Postgres {
        let url = db
            .url
            .replacen("postgres://postgres@", "postgres://postgres:sekretdbpasswordZq9@", 1);
        assert_ne!(url, db.url, "the test database URL has the expected shape: {}", db.url);
        env.retain(|(k, _)| k != "INGOT_DATABASE_URL");
        env.push(("INGOT_DATABASE_URL".into(), url));
        markers.push(("INGOT_DATABASE_URL".into(), "sekretdbpasswordZq9".into()));
    }
    markers.push(("the admin token".into(), TEST_TOKEN.into()));
    let configured = markers.clone();
    let marker_of = |setting: &str| configured.iter().find(|(s, _)| s == setting).unwrap().1.clone();

    let d = Daemon::start(&env);
    let client = d.api.client();
    let base = d.api.base.clone();
    let post = |path: String, headers: Vec<(&'static str, String)>, body: String| {
        let mut req = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.expect("daemon reachable").status().as_u16() }
    };

    // Event intake: a good key, a wrong one.
    let event = json!({"name": "misc/secret-test", "data": {}}).to_string();
    assert_eq!(post("/e/sekreteventkeyoneZq9".into(), vec![], event.clone()).await, 200);
    assert_eq!(post("/e/sekretwrongkeyZq9".into(), vec![], event.clone()).await, 401);
    markers.push(("a refused event key".into(), "sekretwrongkeyZq9".into()));

    // Stripe: a valid signature and one made with a wrong secret.
    let stripe_secret = marker_of("STRIPE_WEBHOOK_SECRET");
    let body =
        json!({"id": "evt_s", "type": "checkout.session.completed", "data": {"object": {"id": "cs_s"}}}).to_string();
    let now = chrono::Utc::now().timestamp();
    let signed = vec![("stripe-signature", sign(&stripe_secret, now, body.as_bytes()))];
    assert_eq!(post("/webhooks/stripe".into(), signed, body.clone()).await, 200);
    let wrong = vec![("stripe-signature", sign("sekretwrongwhsecZq9", now, body.as_bytes()))];
    assert_eq!(post("/webhooks/stripe".into(), wrong, body.clone()).await, 400);

    // Postmark's shared secret in its header, Deepgram's in the query string, OCR's as a bearer token.
    let postmark = json!({"RecordType": "Bounce", "Email": "a@example.com", "MessageID": "m1"}).to_string();
    let pm_headers = vec![("course-builder", marker_of("POSTMARK_WEBHOOK_SECRET"))];
    assert!(post("/webhooks/postmark".into(), pm_headers, postmark.clone()).await < 500);
    let pm_wrong = vec![("course-builder", "sekretwrongpostmarkZq9".to_string())];
    assert_eq!(post("/webhooks/postmark".into(), pm_wrong, postmark).await, 401);
    let dg = json!({"results": {}}).to_string();
    let dg_secret = marker_of("DEEPGRAM_CALLBACK_SECRET");
    let dg_path = format!("/webhooks/deepgram?videoResourceId=vr_1&secret={dg_secret}");
    assert_eq!(post(dg_path, vec![], dg.clone()).await, 200);
    let dg_wrong = "/webhooks/deepgram?videoResourceId=vr_1&secret=sekretwrongdeepgramZq9".to_string();
    assert_eq!(post(dg_wrong, vec![], dg).await, 401);
    let ocr = json!({"screenshotUrl": "https://x/s.png", "resourceId": "r1"}).to_string();
    let bearer = vec![("authorization", format!("Bearer {}", marker_of("OCR_WEBHOOK_SECRET")))];
    assert_eq!(post("/webhooks/ocr".into(), bearer, ocr.clone()).await, 200);
    let bearer_wrong = vec![("authorization", "Bearer sekretwrongocrZq9".to_string())];
    assert_eq!(post("/webhooks/ocr".into(), bearer_wrong, ocr).await, 401);
    for wrong in [
        "sekretwrongwhsecZq9",
        "sekretwrongpostmarkZq9",
        "sekretwrongdeepgramZq9",
        "sekretwrongocrZq9",
    ] {
        markers.push(("a refused webhook secret".into(), wrong.into()));
    }

    // The read API with the admin token, and with a token that does not exist.
    let ok = client
        .get(format!("{base}/api/v1/runs"))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let refused = client
        .get(format!("{base}/api/v1/runs"))
        .bearer_auth("ingot_sekretunknowntokenZq9.sekretsecretpartZq9")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    markers.push(("a refused token".into(), "sekretsecretpartZq9".into()));
    d.api.drain().await;

    let logs = d.log_text();
    // The run is real: trace-level lines from the HTTP server and the database driver were printed.
    assert!(logs.lines().count() > 50, "trace logging is on:\n{logs}");
    assert!(
        logs.contains("TRACE") || logs.contains("trace"),
        "trace lines are printed"
    );
    let leaked: Vec<&String> = markers
        .iter()
        .filter(|(_, marker)| logs.contains(marker.as_str()))
        .map(|(what, _)| what)
        .collect();
    assert!(leaked.is_empty(), "secrets in the logs: {leaked:?}");
}
