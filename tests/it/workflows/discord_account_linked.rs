//! `discord-account-linked` end to end against a fake Discord: joins the guild, sleeps 10 s durably, then adds the
//! roles of the user's live cohort Discord entitlements to the roles they have; the "no discord account" outcome;
//! the trigger condition and the original event name. A kill -9 while the run sleeps and replays are in
//! `discord_account_linked_durability.rs`.
//!
//! The 10-second sleep is real: the run is stored as sleeping with `wake_at` 10 s after the step started (the
//! tests check it). Instead of waiting out the wall clock, a test moves the stored deadline to now — the sleep's
//! step row (`wake_at`) and the run's `run_at`, the two values the engine reads — as if the 10 s had passed; the
//! daemon's poll then finds the run due and the engine resumes it exactly as at the real deadline. Nothing in
//! the daemon is switched or scaled for tests.

use super::harness::step_names;
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use ingot::platform::entitlements::{self, NewEntitlement, SourceType};
use ingot::seed::builders;
use ingot_actors::time::now_ms;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GUILD: &str = "42";
pub(super) const DISCORD_ID: &str = "d1";

/// Discord: `users/@me` for the user's token, guild members with roles (PUT adds, GET reads, PATCH replaces).
#[derive(Default)]
pub(super) struct State {
    /// member id → roles, for members of the guild.
    pub(super) members: std::collections::BTreeMap<String, Vec<String>>,
    /// (method, path, body, authorization).
    pub(super) requests: Vec<(String, String, Value, String)>,
}

#[derive(Clone)]
struct FakeDiscord(Arc<Mutex<State>>);

fn member(id: &str, roles: &[String]) -> Value {
    json!({"user": {"id": id, "username": "ada"}, "roles": roles, "joined_at": "2026-01-01T00:00:00Z"})
}

impl Respond for FakeDiscord {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let m = req.method.to_string();
        s.requests.push((m.clone(), path.clone(), body.clone(), auth.clone()));
        if path == "/users/@me" {
            return if auth == "Bearer event-token" {
                ResponseTemplate::new(200).set_body_json(json!({"id": DISCORD_ID, "username": "ada"}))
            } else {
                ResponseTemplate::new(401).set_body_json(json!({"message": "401: Unauthorized", "code": 0}))
            };
        }
        let prefix = format!("/guilds/{GUILD}/members/");
        let Some(id) = path.strip_prefix(&prefix) else {
            return ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Guild", "code": 10004}));
        };
        if auth != "Bot bot-token" {
            return ResponseTemplate::new(401).set_body_json(json!({"message": "401: Unauthorized", "code": 0}));
        }
        let unknown = ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Member", "code": 10007}));
        match m.as_str() {
            "PUT" => match s.members.get(id) {
                Some(_) => ResponseTemplate::new(204),
                None => {
                    s.members.insert(id.to_string(), Vec::new());
                    ResponseTemplate::new(201).set_body_json(member(id, &[]))
                }
            },
            "GET" => match s.members.get(id) {
                Some(roles) => ResponseTemplate::new(200).set_body_json(member(id, roles)),
                None => unknown,
            },
            "PATCH" => match s.members.get_mut(id) {
                Some(roles) => {
                    *roles = body["roles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect();
                    ResponseTemplate::new(200).set_body_json(member(id, roles))
                }
                None => unknown,
            },
            _ => ResponseTemplate::new(405),
        }
    }
}

pub(super) struct Bed {
    pub(super) db: TestDb,
    server: MockServer,
    pub(super) discord: Arc<Mutex<State>>,
}

impl Bed {
    /// A user `u1` whose Discord account is linked (unless `linked` is false), already in the guild with a
    /// manual role, holding a live cohort Discord entitlement (`role_live`), a soft-deleted one
    /// (`role_refunded`) and an expired one (`role_expired`).
    pub(super) async fn new(b: Backend, linked: bool) -> Bed {
        let db = TestDb::new(b).await;
        builders::user(&db.db, "u1", "ada@example.com", "Ada").await.unwrap();
        if linked {
            builders::account(&db.db, "u1", "discord", DISCORD_ID).await.unwrap();
        }
        let role_type = entitlements::require_entitlement_type(&db.db, "cohort_discord_role")
            .await
            .unwrap();
        for (id, role) in [
            ("e_live", "role_live"),
            ("e_refunded", "role_refunded"),
            ("e_expired", "role_expired"),
        ] {
            entitlements::create_entitlement(
                &db.db,
                &NewEntitlement {
                    id: id.into(),
                    entitlement_type_id: role_type.id.clone(),
                    user_id: "u1".into(),
                    organization_id: None,
                    organization_membership_id: None,
                    source_type: SourceType::Purchase,
                    source_id: format!("purch_{id}"),
                    metadata: json!({"discordRoleId": role}),
                    expires_at: None,
                },
            )
            .await
            .unwrap();
        }
        db.exec(
            "UPDATE entitlements SET deleted_at = CURRENT_TIMESTAMP WHERE id = 'e_refunded'",
            &[],
        )
        .await;
        db.exec(
            "UPDATE entitlements SET expires_at = '2020-01-01 00:00:00' WHERE id = 'e_expired'",
            &[],
        )
        .await;
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        state
            .lock()
            .unwrap()
            .members
            .insert(DISCORD_ID.into(), vec!["role_manual".into()]);
        Mock::given(path_regex(".*"))
            .respond_with(FakeDiscord(state.clone()))
            .mount(&server)
            .await;
        Bed {
            db,
            server,
            discord: state,
        }
    }

    pub(super) fn env(&self) -> Vec<(String, String)> {
        let mut env = base_env(&self.db.url);
        env.extend([
            ("DISCORD_BOT_TOKEN".to_string(), "bot-token".to_string()),
            ("DISCORD_GUILD_ID".into(), GUILD.into()),
            ("DISCORD_API_BASE_URL".into(), self.server.uri()),
        ]);
        env
    }

    pub(super) fn requests(&self, m: &str) -> Vec<(String, Value)> {
        self.discord
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.0 == m)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect()
    }

    /// Moves the sleeping run's stored deadline to now (see the module comment).
    pub(super) async fn make_sleep_due(&self, run_id: &str) {
        let now = now_ms();
        let steps = self
            .db
            .exec(
                &format!(
                    "UPDATE steps SET wake_at = {now} WHERE run_id = $1 AND kind = 'sleep' AND status = 'waiting'"
                ),
                &[run_id],
            )
            .await;
        let runs = self
            .db
            .exec(
                &format!("UPDATE runs SET run_at = {now} WHERE id = $1 AND status = 'sleeping'"),
                &[run_id],
            )
            .await;
        assert_eq!(
            (steps, runs),
            (1, 1),
            "the run sleeps in its 'give discord a moment' step"
        );
    }

    /// The sleep's stored length: `wake_at` minus the step's start (ms).
    async fn sleep_ms(&self, run_id: &str) -> i64 {
        self.db
            .count(
                "SELECT wake_at - started_at AS n FROM steps WHERE run_id = $1 AND kind = 'sleep' AND status = 'waiting'",
                &[run_id],
            )
            .await
    }
}

pub(super) fn linked_event(name: &str, provider: &str) -> Value {
    json!({
        "name": name,
        "data": {
            "account": {"provider": provider, "type": "oauth", "providerAccountId": DISCORD_ID, "userId": "u1",
                        "access_token": "event-token", "refresh_token": "refresh", "scope": "identify guilds.join"},
            "profile": {"id": DISCORD_ID, "username": "ada"},
        },
        "user": {"id": "u1", "email": "ada@example.com"},
    })
}

/// Sends the event; returns the run id once it sleeps.
pub(super) async fn until_sleeping(api: &Api, event: Value) -> String {
    let ids = api.send(event).await;
    api.drain().await;
    let run = api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "sleeping", "{run}");
    run["id"].as_str().unwrap().to_string()
}

both!(adds_entitled_roles_keeping_manual_ones, roles_impl);
async fn roles_impl(b: Backend) {
    let bed = Bed::new(b, true).await;
    let d = Daemon::start(&bed.env());
    let run_id = until_sleeping(&d.api, linked_event("oauth/provider-account-linked", "discord")).await;
    let sleep_ms = bed.sleep_ms(&run_id).await;
    assert!(
        (10_000..10_100).contains(&sleep_ms),
        "a 10 s sleep, stored: {sleep_ms} ms"
    );
    assert!(bed.requests("PATCH").is_empty(), "no roles before the sleep ends");

    bed.make_sleep_due(&run_id).await;
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        [
            "get user",
            "get discord user",
            "add user to discord",
            "give discord a moment",
            "check if discord is connected",
            "get discord member",
            "get cohort discord role entitlement type",
            "get user discord entitlements",
            "update basic discord roles for user",
            "reload discord member",
        ]
    );
    // The database lookups are read steps, each recorded by the next step's write: no commit of their own.
    for together in [
        &["get user", "get discord user"][..],
        &["check if discord is connected", "get discord member"],
        &[
            "get cohort discord role entitlement type",
            "get user discord entitlements",
            "update basic discord roles for user",
        ],
    ] {
        bed.db.assert_recorded_together(&run_id, together).await;
    }
    let patches = bed.requests("PATCH");
    assert_eq!(
        patches,
        [(
            format!("/guilds/{GUILD}/members/{DISCORD_ID}"),
            json!({"roles": ["role_manual", "role_live"]})
        )],
        "manual roles kept; only the live entitlement's role added"
    );
    let puts = bed.requests("PUT");
    assert_eq!(
        puts,
        [(
            format!("/guilds/{GUILD}/members/{DISCORD_ID}"),
            json!({"access_token": "event-token"})
        )]
    );
    let out = &run["output"];
    assert_eq!(out["discordMember"]["roles"], json!(["role_manual", "role_live"]));
    assert_eq!(out["user"], json!({"id": "u1", "email": "ada@example.com"}));
    assert_eq!(out["profile"]["username"], "ada");
    assert_eq!(out["account"]["providerAccountId"], DISCORD_ID);
    assert!(
        !run.to_string().contains("event-token") && !run.to_string().contains("\"refresh\""),
        "no token in the stored run: {run}"
    );
    assert_eq!(run["steps"][0]["output"]["accounts"][0]["provider"], "discord");

    // The original platform's event name starts it too; another provider does not.
    let ids = d
        .api
        .send(linked_event("user/oauth-provider-account-linked", "discord"))
        .await;
    let github = d
        .api
        .send(linked_event("oauth/provider-account-linked", "github"))
        .await;
    d.api.drain().await;
    assert_eq!(d.api.runs_of(&ids[0]).await.len(), 1);
    assert!(d.api.runs_of(&github[0]).await.is_empty());
}

both!(no_discord_account_found, no_account_impl);
async fn no_account_impl(b: Backend) {
    let bed = Bed::new(b, false).await;
    let d = Daemon::start(&bed.env());
    let run_id = until_sleeping(&d.api, linked_event("oauth/provider-account-linked", "discord")).await;
    bed.make_sleep_due(&run_id).await;
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "no discord account found for user");
    assert_eq!(step_names(&run).last().unwrap(), "check if discord is connected");
    assert!(bed.requests("PATCH").is_empty());
}
