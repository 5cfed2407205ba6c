//! Test support: fresh databases, the daemon as a process or in-process, HTTP helpers, and `both!`.

pub mod bench;
pub mod db;
pub mod fake_google;
pub mod inproc;
pub mod pg_server;
pub mod process;
pub mod smtp_sink;

pub use db::{Backend, TestDb};

use serde_json::Value;

/// Generates `sqlite` and `postgres` tests running the same async body `$f(Backend)`.
#[macro_export]
macro_rules! both {
    ($name:ident, $f:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$f($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$f($crate::support::Backend::Postgres).await
            }
        }
    };
}

pub use ingot::tls::{http_client, http_client_builder};

/// The token every test daemon accepts: its SHA-256 is configured as `INGOT_ADMIN_TOKEN_SHA256` (by
/// [`process::base_env`], [`process::Daemon::start_bin`] and [`inproc::InProc::start`], unless a test sets that
/// setting itself — an empty value configures none), and [`Api`] sends it on every request.
pub const TEST_TOKEN: &str = "ingot-test-harness-admin-token";

/// `INGOT_ADMIN_TOKEN_SHA256` for [`TEST_TOKEN`].
pub fn test_token_sha256() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(TEST_TOKEN.as_bytes()))
}

/// A small HTTP client for a daemon's API. It authenticates with [`TEST_TOKEN`] (see [`Api::with_token`] and
/// [`Api::anonymous`] for the others).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: String) -> Api {
        Api::with_token(base, Some(TEST_TOKEN))
    }

    /// A client sending `Authorization: Bearer <token>` (none with `None`).
    pub fn with_token(base: String, token: Option<&str>) -> Api {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).expect("header value");
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        Api {
            base,
            client: crate::support::http_client_builder()
                .default_headers(headers)
                .build()
                .expect("HTTP client"),
        }
    }

    /// The authenticated HTTP client, for requests the helpers below do not cover.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The same daemon without credentials.
    pub fn anonymous(&self) -> Api {
        Api::with_token(self.base.clone(), None)
    }

    /// POSTs a raw body to `/e/{key}`; returns the status and the JSON answer.
    pub async fn send_raw(&self, key: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/e/{key}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("daemon reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends events (an object or an array) and expects 200; returns our ids.
    pub async fn send(&self, events: Value) -> Vec<String> {
        let (status, body) = self.send_raw("test-key", events.to_string()).await;
        assert_eq!(status, 200, "send failed: {body}");
        body["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("daemon reachable");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Waits until no run is queued or running (the daemon wakes the request when runs settle).
    pub async fn drain(&self) {
        let (status, body) = self.get("/api/v1/drain?timeout_ms=120000").await;
        assert_eq!(status, 200, "runs did not drain: {body}");
    }

    /// Waits until no run is queued, running, sleeping or waiting.
    pub async fn drain_all(&self) {
        let (status, body) = self.get("/api/v1/drain?all=true&timeout_ms=120000").await;
        assert_eq!(status, 200, "runs did not finish: {body}");
    }

    pub async fn post(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send()
            .await
            .expect("daemon reachable");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// One run, with its steps (`GET /api/v1/runs/{id}`).
    pub async fn run(&self, run_id: &str) -> Value {
        self.get_ok(&format!("/api/v1/runs/{run_id}")).await
    }

    /// Runs of a function, newest first.
    pub async fn runs_of_function(&self, function_id: &str) -> Vec<Value> {
        let list = self
            .get_ok(&format!("/api/v1/runs?function={function_id}&limit=1000"))
            .await;
        let mut out = Vec::new();
        for r in list["runs"].as_array().expect("runs") {
            out.push(self.run(r["id"].as_str().unwrap()).await);
        }
        out
    }

    /// The runs an event started.
    pub async fn runs_of(&self, event_id: &str) -> Vec<Value> {
        let ev = self.get_ok(&format!("/api/v1/events/{event_id}")).await;
        let mut out = Vec::new();
        for id in ev["run_ids"].as_array().expect("run_ids") {
            out.push(self.run(id.as_str().unwrap()).await);
        }
        out
    }

    /// The one run an event started (asserts there is exactly one).
    pub async fn only_run(&self, event_id: &str) -> Value {
        let mut runs = self.runs_of(event_id).await;
        assert_eq!(runs.len(), 1, "one run per event: {runs:?}");
        runs.remove(0)
    }
}

/// An event as the intake receives it once prepared (`ingot_actors::event::NewEvent`), matching one function `f`
/// with no flow control: what the store-level intake tests feed `store::events::group::Intake`.
pub fn prepared_event(id: &str, name: &str, producer_id: Option<&str>) -> ingot_actors::event::NewEvent {
    ingot_actors::event::NewEvent {
        id: id.into(),
        external_id: producer_id.map(str::to_string),
        name: name.into(),
        data: serde_json::json!({"n": id}),
        user: serde_json::json!({}),
        ts: 1_700_000_000_000,
        v: None,
        matches: vec![ingot_actors::function::Match {
            function_id: "f".into(),
            idempotency_key: None,
            run_id: None,
            parent: None,
            admission: ingot_actors::flow::Admission::default(),
        }],
    }
}
