//! The video pipeline end to end against the real daemon, with Mux, Deepgram, UploadThing and PartyKit faked by
//! one recording server (each service under its own base path), answering like the real APIs: Mux assets whose
//! status the test moves from `preparing` to `ready`, text tracks, Deepgram's `request_id`, UploadThing's
//! `deleteFiles` and PartyKit's text answer; failures (429 + Retry-After, 5xx) are queued per path.
//!
//! Long sleeps (20 s cool-down, 30 min grace, a day between checks) are never waited out: the test moves the
//! stored deadline to now (`make_sleep_due`), as ARCHITECTURE "Testing" describes.

mod branches;
mod durability;
mod scenario;

use crate::support::TestDb;
use crate::support::process::base_env;
use ingot::seed::builders;
use ingot_actors::time::now_ms;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const PUBLIC_URL: &str = "https://aihero.test";
pub const DG_SECRET: &str = "dg_cb_secret";

/// One request a fake received: method, path (without the service prefix) with its query, JSON body, and the
/// credential header it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub auth: String,
}

#[derive(Default)]
pub struct State {
    /// service (`mux`, `dg`, `ut`, `pk`) → requests, in arrival order.
    pub requests: Vec<(String, Seen)>,
    /// The Mux asset's status as `GET /video/v1/assets/as_1` answers it.
    pub asset_status: String,
    /// The asset's text tracks.
    pub tracks: Vec<String>,
    /// Queued failures: (service, status, retry-after) answered before the normal answer.
    pub failures: VecDeque<(String, u16, Option<&'static str>)>,
}

#[derive(Clone)]
pub struct Fake(pub Arc<Mutex<State>>);

fn asset(status: &str, tracks: &[String]) -> Value {
    let tracks: Vec<Value> = tracks
        .iter()
        .map(|t| json!({"id": t, "type": "text", "text_type": "subtitles", "status": "ready"}))
        .chain(std::iter::once(
            json!({"id": "vt_1", "type": "video", "max_width": 1920}),
        ))
        .collect();
    json!({"data": {"id": "as_1", "status": status, "passthrough": "vid_1", "tracks": tracks,
                    "playback_ids": [{"id": "pb_1", "policy": "public"}], "mp4_support": "standard"}})
}

impl Respond for Fake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let full = req.url.path().to_string();
        let (service, rest) = full.trim_start_matches('/').split_once('/').unwrap_or(("", ""));
        let service = service.to_string();
        let path = match req.url.query() {
            Some(q) => format!("/{rest}?{q}"),
            None => format!("/{rest}"),
        };
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let auth = if service == "ut" {
            header("x-uploadthing-api-key")
        } else {
            header("authorization")
        };
        let seen = Seen {
            method: req.method.to_string(),
            path: path.clone(),
            body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
            auth,
        };
        s.requests.push((service.clone(), seen.clone()));
        if let Some(i) = s.failures.iter().position(|f| f.0 == service) {
            let (_, status, after) = s.failures.remove(i).unwrap();
            let mut t = ResponseTemplate::new(status).set_body_json(json!({"error": {"message": "slow down"}}));
            if let Some(a) = after {
                t = t.insert_header("retry-after", a);
            }
            return t;
        }
        match (service.as_str(), seen.method.as_str(), rest) {
            ("mux", "POST", "video/v1/assets") => {
                s.asset_status = "preparing".into();
                ResponseTemplate::new(201).set_body_json(asset("preparing", &[]))
            }
            ("mux", "GET", "video/v1/assets/as_1") => {
                ResponseTemplate::new(200).set_body_json(asset(&s.asset_status.clone(), &s.tracks.clone()))
            }
            ("mux", "POST", "video/v1/assets/as_1/tracks") => {
                let id = format!("tr_{}", s.tracks.len() + 1);
                s.tracks.push(id.clone());
                ResponseTemplate::new(201)
                    .set_body_json(json!({"data": {"id": id, "type": "text", "status": "preparing"}}))
            }
            ("mux", "DELETE", r) if r.starts_with("video/v1/assets/as_1/tracks/") => {
                let id = r.rsplit('/').next().unwrap().to_string();
                s.tracks.retain(|t| *t != id);
                ResponseTemplate::new(204)
            }
            ("dg", "POST", "v1/listen") => {
                ResponseTemplate::new(200).set_body_json(json!({"request_id": "5d3e8d1c-0c4b-4b8e-9d1a-2f7f1f3e6a10"}))
            }
            ("ut", "POST", "v6/deleteFiles") => {
                ResponseTemplate::new(200).set_body_json(json!({"success": true, "deletedCount": 1}))
            }
            ("pk", "POST", r) if r.starts_with("party/") => ResponseTemplate::new(200).set_body_string("ok"),
            _ => ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "not found"}})),
        }
    }
}

pub struct Bed {
    pub db: TestDb,
    pub server: MockServer,
    pub fake: Arc<Mutex<State>>,
}

impl Bed {
    /// A user `u1` and a lesson `lesson_1` (created by u1, no description) that already has a video `old_video`.
    pub async fn new(b: crate::support::Backend) -> Bed {
        let db = TestDb::new(b).await;
        builders::user(&db.db, "u1", "ada@example.com", "Ada").await.unwrap();
        builders::resource(&db.db, "lesson_1", "lesson", "Lesson One", json!({}))
            .await
            .unwrap();
        builders::resource(&db.db, "old_video", "videoResource", "Old", json!({"state": "ready"}))
            .await
            .unwrap();
        builders::children(&db.db, "lesson_1", &["old_video"]).await.unwrap();
        db.exec(
            "UPDATE content_resources SET created_by_id = 'u1' WHERE id = 'lesson_1'",
            &[],
        )
        .await;
        let server = MockServer::start().await;
        let fake = Arc::new(Mutex::new(State {
            asset_status: "preparing".into(),
            ..State::default()
        }));
        Mock::given(path_regex(".*"))
            .respond_with(Fake(fake.clone()))
            .mount(&server)
            .await;
        Bed { db, server, fake }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let u = self.server.uri();
        let mut env = base_env(&self.db.url);
        for (k, v) in [
            ("MUX_ACCESS_TOKEN_ID", "mux_id".to_string()),
            ("MUX_SECRET_KEY", "mux_secret".into()),
            ("MUX_API_BASE_URL", format!("{u}/mux")),
            ("DEEPGRAM_API_KEY", "dg_key".into()),
            ("DEEPGRAM_API_BASE_URL", format!("{u}/dg")),
            ("DEEPGRAM_CALLBACK_SECRET", DG_SECRET.into()),
            ("NEXT_PUBLIC_URL", PUBLIC_URL.into()),
            ("UPLOADTHING_SECRET", "sk_ut".into()),
            ("UPLOADTHING_API_BASE_URL", format!("{u}/ut")),
            ("NEXT_PUBLIC_PARTY_KIT_URL", format!("{u}/pk")),
        ] {
            env.push((k.to_string(), v));
        }
        env
    }

    /// The requests one service received.
    pub fn requests(&self, service: &str) -> Vec<Seen> {
        self.fake
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.0 == service)
            .map(|r| r.1.clone())
            .collect()
    }

    /// PartyKit's announcements as (room path, name, requestId), in order, successful or not.
    pub fn announcements(&self) -> Vec<(String, String, String)> {
        self.requests("pk")
            .into_iter()
            .map(|r| {
                (
                    r.path,
                    r.body["name"].as_str().unwrap_or_default().to_string(),
                    r.body["requestId"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn fail(&self, service: &str, status: u16, retry_after: Option<&'static str>) {
        self.fake
            .lock()
            .unwrap()
            .failures
            .push_back((service.into(), status, retry_after));
    }

    pub fn set_asset_status(&self, status: &str) {
        self.fake.lock().unwrap().asset_status = status.into();
    }

    /// Moves the deadline of every sleeping run of `function` to now; returns how many runs it woke.
    pub async fn make_sleep_due(&self, function: &str, step: &str) -> usize {
        let now = now_ms();
        let steps = self
            .db
            .exec(
                &format!(
                    "UPDATE steps SET wake_at = {now} WHERE kind = 'sleep' AND status = 'waiting' AND name = $2 \
                     AND run_id IN (SELECT id FROM runs WHERE function_id = $1 AND status = 'sleeping')"
                ),
                &[function, step],
            )
            .await;
        let runs = self
            .db
            .exec(
                &format!(
                    "UPDATE runs SET run_at = {now} WHERE function_id = $1 AND status = 'sleeping' AND id IN \
                     (SELECT run_id FROM steps WHERE kind = 'sleep' AND status = 'waiting' AND name = $2)"
                ),
                &[function, step],
            )
            .await;
        if steps != runs || runs == 0 {
            let seen = super::harness::texts(
                &self.db,
                "SELECT r.status || ' ' || s.kind || ' ' || s.status || ' ' || s.name AS t FROM runs r JOIN steps s ON s.run_id = r.id WHERE r.function_id = $1",
                &[function],
            )
            .await;
            assert_eq!(steps, runs, "{function} sleeps in {step:?}: {seen:?}");
            eprintln!("no {function} run sleeps in {step:?}: {seen:?}");
        }
        runs
    }

    /// A string field of a resource.
    pub async fn field(&self, id: &str, key: &str) -> Value {
        let t = super::harness::texts(
            &self.db,
            "SELECT fields AS t FROM content_resources WHERE id = $1",
            &[id],
        )
        .await;
        let fields: Value = serde_json::from_str(t.first().map(String::as_str).unwrap_or("null")).unwrap();
        fields[key].clone()
    }
}

/// The upload event the web app sends.
pub fn uploaded() -> Value {
    json!({
        "name": "video/video-uploaded",
        "id": "upload-vid_1",
        "data": {"originalMediaUrl": "https://utfs.io/f/key1", "fileName": "vid_1", "title": "My video",
                 "parentResourceId": "lesson_1", "fileKey": "key1"},
        "user": {"id": "u1", "email": "ada@example.com"},
    })
}

/// Deepgram's callback body (its documented pre-recorded response).
pub fn deepgram_callback() -> String {
    include_str!("../../fixtures/deepgram_callback.json").to_string()
}

/// POSTs Deepgram's callback to the daemon as Deepgram would: to the URL we gave it, with its secret.
pub async fn post_callback(base: &str, secret: &str) -> (u16, Value) {
    let resp = crate::support::http_client()
        .post(format!(
            "{base}/webhooks/deepgram?videoResourceId=vid_1&secret={secret}"
        ))
        .header("content-type", "application/json")
        .body(deepgram_callback())
        .send()
        .await
        .expect("daemon reachable");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// POSTs a Mux webhook (`video.asset.ready` / `video.asset.errored`) for `as_1` / `vid_1`.
pub async fn post_mux(base: &str, kind: &str) -> (u16, Value) {
    let body = json!({"type": kind, "id": format!("mux-evt-{kind}"), "object": {"type": "asset", "id": "as_1"},
        "environment": {"name": "Production", "id": "env1"}, "created_at": "2026-12-02T22:00:00Z", "attempts": [],
        "data": {"id": "as_1", "status": kind.trim_start_matches("video.asset."), "passthrough": "vid_1",
                 "playback_ids": [{"id": "pb_1", "policy": "public"}]}});
    let resp = crate::support::http_client()
        .post(format!("{base}/webhooks/mux"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("daemon reachable");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// The statuses of a function's runs, oldest first.
pub async fn statuses(api: &crate::support::Api, function: &str) -> Vec<String> {
    let mut runs = api.runs_of_function(function).await;
    runs.reverse();
    runs.iter().map(|r| r["status"].as_str().unwrap().to_string()).collect()
}
