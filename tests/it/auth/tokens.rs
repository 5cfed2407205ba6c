//! API tokens against the real HTTP API (in-process daemon).

use super::token;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Api, Backend, TestDb};
use serde_json::json;

/// A raw request: status, `WWW-Authenticate`, body text.
async fn raw(base: &str, method: reqwest::Method, path: &str, auth: Option<&str>) -> (u16, String, String) {
    let mut req = crate::support::http_client().request(method, format!("{base}{path}"));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("daemon reachable");
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, www, resp.text().await.unwrap())
}

both!(
    credentials_are_required_except_for_intake_health_and_login,
    required_impl
);
async fn required_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![], &[]).await;
    let anon = d.api.anonymous();
    for path in [
        "/api/v1/runs",
        "/api/v1/drain",
        "/api/v1/functions",
        "/api/v1/events/x",
        "/metrics",
        "/nope",
    ] {
        assert_eq!(anon.get(path).await.0, 401, "GET {path}");
    }
    assert_eq!(anon.post("/api/v1/runs/x/cancel").await.0, 401);
    assert_eq!(anon.post("/api/v1/anything-later").await.0, 401);
    // A browser is sent to the login page.
    let no_redirect = crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{}/dashboard", d.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/login")
    );
    // Open: intake (its own keys), health, readiness, the login form.
    anon.send(json!({"name": "test/anything"})).await;
    let health = anon.get_ok("/health").await;
    assert_eq!(health["auth"], "on", "{health}");
    anon.get_ok("/health/ready").await;
    assert_eq!(
        no_redirect
            .get(format!("{}/login", d.api.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The harness's configured admin token gets in.
    d.api.get_ok("/api/v1/runs").await;
    d.api.drain().await;
    d.stop().await;
}

both!(bad_unknown_and_revoked_tokens_get_the_same_401, same_401_impl);
async fn same_401_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![], &[]).await;
    let good = token(&db, "ci", false).await;
    let base = d.api.base.clone();
    let get = reqwest::Method::GET;
    let (status, _, _) = raw(&base, get.clone(), "/api/v1/runs", Some(&format!("Bearer {good}"))).await;
    assert_eq!(status, 200);
    let (id, secret) = ingot::http::auth::tokens::parse(&good).unwrap();
    let flipped = format!("{}{}", &secret[..63], if secret.ends_with('0') { '1' } else { '0' });
    let wrong_secret = format!("Bearer ingot_{id}.{flipped}");
    let unknown_id = format!("Bearer ingot_{}.{secret}", "f".repeat(16));
    let cases = [
        None,
        Some(wrong_secret.as_str()),
        Some(unknown_id.as_str()),
        Some("Bearer not-a-token"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer "),
    ];
    let mut answers = Vec::new();
    for auth in cases {
        answers.push(raw(&base, get.clone(), "/api/v1/runs", auth).await);
    }
    let first = answers[0].clone();
    assert_eq!(first.0, 401);
    assert!(first.1.starts_with("Bearer"), "WWW-Authenticate: {first:?}");
    for (case, answer) in cases.iter().zip(&answers) {
        assert_eq!(answer, &first, "{case:?} answers exactly like no credentials");
        assert!(
            !answer.2.contains(secret) && !answer.2.contains(id),
            "nothing leaked: {answer:?}"
        );
    }
    // Revoked: the same 401.
    assert!(
        ingot::store::auth::tokens::revoke(&db.db, "ci", ingot_actors::time::now_ms())
            .await
            .unwrap()
    );
    assert_eq!(
        raw(&base, get.clone(), "/api/v1/runs", Some(&format!("Bearer {good}"))).await,
        first
    );
    // Its use was recorded, and it is listed as revoked.
    let listed = ingot::store::auth::tokens::list(&db.db).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].last_used_at.is_some() && listed[0].revoked_at.is_some(),
        "{listed:?}"
    );
    d.stop().await;
}

both!(a_read_only_token_reads_but_cannot_act, read_only_impl);
async fn read_only_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![], &[]).await;
    let reader = Api::with_token(d.api.base.clone(), Some(&token(&db, "dashboards", true).await));
    let writer = Api::with_token(d.api.base.clone(), Some(&token(&db, "ops", false).await));
    reader.get_ok("/api/v1/runs").await;
    reader.drain().await;
    let (status, body) = reader.post("/api/v1/runs/some-run/cancel").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "this token is read-only");
    // A full token passes authentication and reaches the handler (the run does not exist).
    assert_eq!(writer.post("/api/v1/runs/some-run/cancel").await.0, 404);
    d.stop().await;
}

both!(auth_off_lets_anyone_in_and_says_so, auth_off_impl);
async fn auth_off_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![], &[("auth", "off"), ("admin_token_sha256", "")]).await;
    let anon = d.api.anonymous();
    anon.get_ok("/api/v1/runs").await;
    assert_eq!(anon.post("/api/v1/runs/nope/cancel").await.0, 404);
    assert_eq!(anon.get_ok("/health").await["auth"], "off");
    let page = reqwest::get(format!("{}/dashboard", d.api.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Authentication is off") && text.contains("auth-off"),
        "{text}"
    );
    // Nothing was created at start.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM api_tokens", &[]).await, 0);
    d.stop().await;
}
