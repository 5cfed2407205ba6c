//! A fake Google Calendar (wiremock) with state, answering like the Calendar API: the service-account token
//! endpoint, and `calendars/primary/events` — insert (a client-chosen `id` that exists answers 409), get (404
//! when unknown), patch (top-level fields replaced; 404 when unknown). Every request is recorded. The first
//! insert's or PATCH's answer can be held back (the change itself is applied on arrival), for kill -9 tests, and
//! the next requests can be answered with scripted errors (`fail_next`: 429 with `Retry-After`, 5xx).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = include_str!("../fixtures/google_test_key.pem");
pub const HOST: &str = "calendar@example.com";

#[derive(Default)]
pub struct State {
    pub events: BTreeMap<String, Value>,
    /// (method, event id or "", body) of every events request.
    pub requests: Vec<(String, String, Value)>,
    /// The first successful insert answers after this delay (the event exists from the moment it arrives).
    pub first_insert_delay: Option<Duration>,
    /// The first successful PATCH answers after this delay (the change is applied the moment it arrives).
    pub first_patch_delay: Option<Duration>,
    /// Event ids whose PATCH answers 403.
    pub forbidden: Vec<String>,
    /// Answers for the next events requests, in order, before any other handling: (status, `Retry-After`).
    pub fail_next: std::collections::VecDeque<(u16, Option<String>)>,
    generated: usize,
}

#[derive(Clone)]
pub struct FakeGoogle {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Events(Arc<Mutex<State>>);

fn error(code: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {"code": code, "message": message}}))
}

impl Respond for Events {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let id = req
            .url
            .path()
            .strip_prefix("/calendars/primary/events")
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let m = req.method.to_string();
        s.requests.push((m.clone(), id.clone(), body.clone()));
        if let Some((code, retry_after)) = s.fail_next.pop_front() {
            let answer = error(
                code,
                if code == 429 {
                    "Rate Limit Exceeded"
                } else {
                    "Backend Error"
                },
            );
            return match retry_after {
                Some(r) => answer.insert_header("retry-after", r.as_str()),
                None => answer,
            };
        }
        match (m.as_str(), id.is_empty()) {
            ("POST", true) => {
                let id = match body["id"].as_str() {
                    Some(i) => i.to_string(),
                    None => {
                        s.generated += 1;
                        format!("generated{}", s.generated)
                    }
                };
                if s.events.contains_key(&id) {
                    return error(409, "The requested identifier already exists.");
                }
                let mut ev = body.clone();
                ev["id"] = json!(id);
                ev["status"] = json!("confirmed");
                s.events.insert(id, ev.clone());
                let answer = ResponseTemplate::new(200).set_body_json(ev);
                match s.first_insert_delay.take() {
                    Some(d) => answer.set_delay(d),
                    None => answer,
                }
            }
            ("GET", false) => match s.events.get(&id) {
                Some(ev) => ResponseTemplate::new(200).set_body_json(ev.clone()),
                None => error(404, "Not Found"),
            },
            ("PATCH", false) => {
                if s.forbidden.contains(&id) {
                    return error(403, "Forbidden");
                }
                match s.events.get_mut(&id) {
                    Some(ev) => {
                        for (k, v) in body.as_object().cloned().unwrap_or_default() {
                            ev[k] = v;
                        }
                        let answer = ResponseTemplate::new(200).set_body_json(ev.clone());
                        match s.first_patch_delay.take() {
                            Some(d) => answer.set_delay(d),
                            None => answer,
                        }
                    }
                    None => error(404, "Not Found"),
                }
            }
            _ => error(400, "unexpected request"),
        }
    }
}

impl FakeGoogle {
    pub async fn start() -> FakeGoogle {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": "fake-token", "expires_in": 3599, "token_type": "Bearer"})),
            )
            .mount(&server)
            .await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(path_regex("^/calendars/primary/events(/[^/]+)?$"))
            .respond_with(Events(state.clone()))
            .mount(&server)
            .await;
        FakeGoogle {
            server: Arc::new(server),
            state,
        }
    }

    /// The daemon's settings for this fake.
    pub fn env(&self) -> Vec<(String, String)> {
        let creds = json!({"type": "service_account", "client_email": "sa@project.iam.gserviceaccount.com", "private_key": KEY, "project_id": "p"});
        vec![
            ("GOOG_CREDENTIALS_JSON".into(), creds.to_string()),
            ("GOOG_CALENDAR_IMPERSONATE_USER".into(), HOST.into()),
            ("GOOGLE_OAUTH_TOKEN_URL".into(), format!("{}/token", self.server.uri())),
            ("GOOGLE_CALENDAR_API_BASE_URL".into(), self.server.uri()),
        ]
    }

    pub fn put(&self, event: Value) {
        let id = event["id"].as_str().expect("an id").to_string();
        self.state.lock().unwrap().events.insert(id, event);
    }

    pub fn event(&self, id: &str) -> Option<Value> {
        self.state.lock().unwrap().events.get(id).cloned()
    }

    pub fn events(&self) -> BTreeMap<String, Value> {
        self.state.lock().unwrap().events.clone()
    }

    /// Requests with this method.
    pub fn requests(&self, m: &str) -> Vec<(String, Value)> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(x, _, _)| x == m)
            .map(|(_, id, body)| (id.clone(), body.clone()))
            .collect()
    }

    /// The emails on an event's attendee list.
    pub fn attendees(&self, id: &str) -> Vec<String> {
        self.event(id).expect("the event")["attendees"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a["email"].as_str().map(str::to_string))
            .collect()
    }
}
