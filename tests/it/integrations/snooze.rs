//! Clients inside steps, on the in-process daemon: a 429's Retry-After snoozes the run durably and the step later
//! succeeds; a 5xx retries and succeeds; a 4xx fails the run without retries. And `/health` shows every service.

use super::*;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::integrations::discord::Discord;
use ingot_actors::{FunctionDef, Trigger};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wiremock::matchers::path;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// Serves `answers` in order (the last one repeats) and logs when each request arrived.
#[derive(Clone)]
struct Script {
    answers: Arc<Vec<ResponseTemplate>>,
    log: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut log = self.log.lock().unwrap();
        log.push(Instant::now());
        self.answers[(log.len() - 1).min(self.answers.len() - 1)].clone()
    }
}

fn member_lookup(d: Discord) -> FunctionDef {
    FunctionDef::new("discord-lookup", "Discord lookup", move |ctx| {
        let d = d.clone();
        async move {
            let member = ctx
                .step
                .run("get member", || async move { Ok(d.get_member("u1").await?) })
                .await?;
            Ok(json!({ "member": member }))
        }
    })
    .trigger(Trigger::event("test/discord"))
}

/// Runs the function once against a fake answering `answers`; returns the run and the request times.
async fn run_with(b: Backend, answers: Vec<ResponseTemplate>) -> (Value, Vec<Instant>) {
    let db = TestDb::new(b).await;
    let s = fake().await;
    let script = Script {
        answers: Arc::new(answers),
        log: Arc::default(),
    };
    Mock::given(path("/guilds/42/members/u1"))
        .respond_with(script.clone())
        .mount(&s)
        .await;
    let cfg = settings(&[("DISCORD_BOT_TOKEN", "t"), ("DISCORD_GUILD_ID", "42")]);
    let d = Discord::new(http("discord", &s.uri()), &cfg);
    let daemon = InProc::start(&db.url, vec![member_lookup(d)], &[]).await;
    let ids = daemon.api.send(json!({"name": "test/discord"})).await;
    daemon.api.drain().await;
    let run = daemon.api.runs_of(&ids[0]).await.remove(0);
    daemon.stop().await;
    let log = script.log.lock().unwrap().clone();
    (run, log)
}

fn ok_member() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"user": {"id": "u1", "username": "ada"}, "roles": ["r1"]}))
}

both!(a_429_snoozes_the_run_until_retry_after, a_429_snoozes_impl);
async fn a_429_snoozes_impl(b: Backend) {
    let limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "1")
        .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false}));
    let (run, log) = run_with(b, vec![limited, ok_member()]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["member"]["roles"], json!(["r1"]));
    assert_eq!(run["steps"][0]["attempts"], 2, "{run}");
    assert_eq!(log.len(), 2);
    // The retry waited for Retry-After (the configured backoff is 10 ms).
    let gap = log[1].duration_since(log[0]);
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

both!(a_5xx_retries_and_succeeds, a_5xx_retries_impl);
async fn a_5xx_retries_impl(b: Backend) {
    let (run, log) = run_with(
        b,
        vec![ResponseTemplate::new(503), ResponseTemplate::new(500), ok_member()],
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["steps"][0]["attempts"], 3, "{run}");
    assert_eq!(log.len(), 3);
}

both!(a_4xx_fails_the_run_without_retries, a_4xx_fails_impl);
async fn a_4xx_fails_impl(b: Backend) {
    let denied = ResponseTemplate::new(403).set_body_json(json!({"message": "Missing Access", "code": 50001}));
    let (run, log) = run_with(b, vec![denied]).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(log.len(), 1, "no retry after a 4xx");
    assert!(run.to_string().contains("Missing Access"), "{run}");
}

both!(health_shows_every_service_and_no_secret, health_impl);
async fn health_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let daemon = InProc::start(
        &db.url,
        vec![],
        &[("discord_bot_token", "HEALTH_SECRET_TOKEN"), ("discord_guild_id", "1")],
    )
    .await;
    let health = daemon.api.get_ok("/health").await;
    let services = health["services"].as_array().expect("services");
    let names: Vec<&str> = services.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "discord",
            "google_calendar",
            "stripe",
            "email",
            "slack",
            "convertkit",
            "mux",
            "deepgram",
            "openai",
            "uploadthing",
            "convertkit_tt",
            "partykit",
            // Content and AI (helper F).
            "s3",
            "textract",
            "pinecone",
            "download"
        ]
    );
    assert_eq!(services[0]["configured"], true);
    assert_eq!(services[2]["configured"], false);
    for key in [
        "queued",
        "in_flight",
        "calls",
        "rate_limited",
        "last_error",
        "mailbox_capacity",
    ] {
        assert!(services[0].get(key).is_some(), "{key} missing: {}", services[0]);
    }
    assert!(!health.to_string().contains("HEALTH_SECRET_TOKEN"));
    daemon.stop().await;
}
