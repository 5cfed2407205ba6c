//! A stateful fake Discord guild for the role workflows (issue 11): members with roles; the bot's `GET`, `PUT`
//! (join), `PATCH` (replace roles) on `guilds/{guild}/members/{id}` and `PUT`/`DELETE` on
//! `…/members/{id}/roles/{role}`, answering like Discord (404 Unknown Member with code 10007, 401 without the bot
//! token, 204 on role changes). `rate_limit_once(method)` makes the next request with that method answer 429 with
//! `Retry-After` and Discord's JSON body, as Discord does when a route's bucket is empty.

use crate::support::process::base_env;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const GUILD: &str = "4242";
pub const BOT: &str = "bot-token";

#[derive(Default)]
pub struct State {
    /// member id → roles.
    pub members: BTreeMap<String, Vec<String>>,
    /// (method, path, body) of every request, in order.
    pub requests: Vec<(String, String, Value)>,
    /// Methods whose next request answers 429.
    pub limited: Vec<String>,
}

#[derive(Clone)]
struct Responder(Arc<Mutex<State>>);

fn member(id: &str, roles: &[String]) -> Value {
    json!({"user": {"id": id, "username": format!("user-{id}")}, "roles": roles, "joined_at": "2026-01-01T00:00:00Z"})
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        let method = req.method.to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        s.requests.push((method.clone(), path.clone(), body.clone()));
        if let Some(i) = s.limited.iter().position(|m| *m == method) {
            s.limited.remove(i);
            return ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset-after", "1")
                .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false}));
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != format!("Bot {BOT}") {
            return ResponseTemplate::new(401).set_body_json(json!({"message": "401: Unauthorized", "code": 0}));
        }
        let Some(rest) = path.strip_prefix(&format!("/guilds/{GUILD}/members/")) else {
            return ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Guild", "code": 10004}));
        };
        let unknown = ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Member", "code": 10007}));
        let parts: Vec<&str> = rest.split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", [id]) => match s.members.get(*id) {
                Some(roles) => ResponseTemplate::new(200).set_body_json(member(id, roles)),
                None => unknown,
            },
            ("PATCH", [id]) => match s.members.get_mut(*id) {
                Some(roles) => {
                    *roles = body["roles"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    ResponseTemplate::new(200).set_body_json(member(id, roles))
                }
                None => unknown,
            },
            ("DELETE", [id, "roles", role]) => match s.members.get_mut(*id) {
                Some(roles) => {
                    roles.retain(|r| r != role);
                    ResponseTemplate::new(204)
                }
                None => unknown,
            },
            ("PUT", [id, "roles", role]) => match s.members.get_mut(*id) {
                Some(roles) => {
                    if !roles.iter().any(|r| r == role) {
                        roles.push(role.to_string());
                    }
                    ResponseTemplate::new(204)
                }
                None => unknown,
            },
            _ => ResponseTemplate::new(405).set_body_json(json!({"message": "405: Method Not Allowed", "code": 0})),
        }
    }
}

pub struct FakeDiscord {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(path_regex(".*"))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        FakeDiscord { server, state }
    }

    /// The daemon's settings for this guild (plus the cohort/workshop fallback roles when given).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DISCORD_BOT_TOKEN".into(), BOT.into()),
            ("DISCORD_GUILD_ID".into(), GUILD.into()),
            ("DISCORD_API_BASE_URL".into(), self.server.uri()),
        ]
    }

    /// [`base_env`] for `db_url` with this guild.
    pub fn daemon_env(&self, db_url: &str) -> Vec<(String, String)> {
        let mut env = base_env(db_url);
        env.extend(self.env());
        env
    }

    pub fn add_member(&self, id: &str, roles: &[&str]) {
        self.state
            .lock()
            .unwrap()
            .members
            .insert(id.into(), roles.iter().map(|r| r.to_string()).collect());
    }

    pub fn roles(&self, id: &str) -> Option<Vec<String>> {
        self.state.lock().unwrap().members.get(id).cloned()
    }

    pub fn rate_limit_once(&self, method: &str) {
        self.state.lock().unwrap().limited.push(method.into());
    }

    /// (method, path, body) of every request received, in order.
    pub fn requests(&self) -> Vec<(String, String, Value)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests with this method: (path, body).
    pub fn with_method(&self, m: &str) -> Vec<(String, Value)> {
        self.requests()
            .into_iter()
            .filter(|r| r.0 == m)
            .map(|r| (r.1, r.2))
            .collect()
    }

    pub fn member_path(id: &str) -> String {
        format!("/guilds/{GUILD}/members/{id}")
    }

    pub fn role_path(id: &str, role: &str) -> String {
        format!("/guilds/{GUILD}/members/{id}/roles/{role}")
    }
}
