//! Discord: members and roles with the bot token, `users/@me` with the user's token, and its rate-limit buckets.

use super::*;
use ingot::config::Secret;
use ingot::integrations::discord::{Discord, RoleRemoval};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn client(server: &MockServer) -> Discord {
    let cfg = settings(&[("DISCORD_BOT_TOKEN", "bot-token"), ("DISCORD_GUILD_ID", "42")]);
    Discord::new(http("discord", &server.uri()), &cfg)
}

fn member(roles: &[&str]) -> serde_json::Value {
    json!({"user": {"id": "u1", "username": "ada"}, "roles": roles, "joined_at": "2026-01-01T00:00:00Z"})
}

#[tokio::test]
async fn member_role_calls_send_the_bot_token_and_the_right_bodies() {
    let s = fake().await;
    Mock::given(method("GET"))
        .and(path("/guilds/42/members/u1"))
        .and(header("authorization", "Bot bot-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(member(&["r1"])))
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/guilds/42/members/u1"))
        .and(body_json(json!({"roles": ["r1", "r2"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(member(&["r1", "r2"])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/guilds/42/members/u1/roles/r3"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/guilds/42/members/u1/roles/r1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/guilds/42/members/u2"))
        .and(body_json(json!({"access_token": "user-oauth"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(member(&[])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/@me"))
        .and(header("authorization", "Bearer user-oauth"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "u2", "username": "grace", "avatar": null})),
        )
        .mount(&s)
        .await;
    let d = client(&s);
    let m = d.get_member("u1").await.unwrap().unwrap();
    assert_eq!(
        (m.user.unwrap().username, m.roles.clone()),
        ("ada".to_string(), vec!["r1".to_string()])
    );
    let m = d.set_roles("u1", &["r1".into(), "r2".into()]).await.unwrap();
    assert_eq!(m.roles, ["r1", "r2"]);
    d.add_role("u1", "r3").await.unwrap();
    assert_eq!(d.remove_role("u1", "r1").await.unwrap(), RoleRemoval::Removed);
    // The member lacks r9: nothing is deleted.
    assert_eq!(d.remove_role("u1", "r9").await.unwrap(), RoleRemoval::Skipped);
    let token = Secret::new("user-oauth");
    assert!(d.add_member("u2", &token).await.unwrap().is_some());
    assert_eq!(d.current_user(&token).await.unwrap().id, "u2");
}

#[tokio::test]
async fn unknown_member_is_none_and_other_4xx_are_fatal_with_discords_message() {
    let s = fake().await;
    Mock::given(path("/guilds/42/members/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Unknown Member", "code": 10007})))
        .mount(&s)
        .await;
    Mock::given(path("/guilds/42/members/u1"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"message": "Missing Permissions", "code": 50013})),
        )
        .mount(&s)
        .await;
    let d = client(&s);
    assert_eq!(d.get_member("gone").await.unwrap(), None);
    assert_eq!(d.remove_role("gone", "r1").await.unwrap(), RoleRemoval::Skipped);
    assert_rejected(d.set_roles("u1", &[]).await.unwrap_err(), 403, "Missing Permissions");
}

#[tokio::test]
async fn a_429_asks_for_its_retry_after_and_closes_the_route() {
    let s = fake().await;
    Mock::given(method("PATCH"))
        .and(path("/guilds/42/members/u1"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 6.5, "global": false})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/guilds/42/members/u1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(member(&[])))
        .mount(&s)
        .await;
    let d = client(&s);
    assert_rate_limited(d.set_roles("u1", &[]).await.unwrap_err(), 7);
    // The route stays closed without calling Discord again (the mock expects exactly one PATCH) ...
    let again = d.set_roles("u1", &[]).await.unwrap_err();
    assert!(
        again.is_rate_limited() && again.retry_after().unwrap() > Duration::from_secs(5),
        "{again:?}"
    );
    // ... while another route is open.
    assert!(d.get_member("u1").await.unwrap().is_some());
    let stats = d.http.service.stats();
    assert_eq!((stats.rate_limited, stats.held_back), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn an_exhausted_bucket_header_holds_the_route_until_reset() {
    let s = fake().await;
    Mock::given(method("GET"))
        .and(path("/guilds/42/members/u1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset-after", "30.5")
                .insert_header("x-ratelimit-bucket", "abc")
                .set_body_json(member(&[])),
        )
        .expect(1)
        .mount(&s)
        .await;
    let d = client(&s);
    assert!(d.get_member("u1").await.unwrap().is_some());
    let e = d.get_member("u1").await.unwrap_err();
    assert!(e.retry_after().unwrap() > Duration::from_secs(29), "{e:?}");
}

#[tokio::test]
async fn a_global_429_closes_every_route() {
    let s = fake().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3")
                .insert_header("x-ratelimit-global", "true")
                .set_body_json(json!({"message": "global", "retry_after": 3, "global": true})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let d = client(&s);
    assert_rate_limited(d.get_member("u1").await.unwrap_err(), 3);
    let other = d.add_role("u1", "r1").await.unwrap_err();
    assert!(other.is_rate_limited(), "{other:?}");
}

#[tokio::test]
async fn server_errors_then_success() {
    let s = fake().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(member(&["r"])))
        .mount(&s)
        .await;
    let d = client(&s);
    assert_unavailable(d.get_member("u1").await.unwrap_err());
    assert_eq!(d.get_member("u1").await.unwrap().unwrap().roles, ["r"]);
}

#[tokio::test]
async fn malformed_json_and_timeouts_are_retryable() {
    let s = fake().await;
    Mock::given(path("/guilds/42/members/bad"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"roles\": [1,"))
        .mount(&s)
        .await;
    Mock::given(path("/guilds/42/members/slow"))
        .respond_with(slow(member(&[])))
        .mount(&s)
        .await;
    let d = client(&s);
    assert_bad_response(d.get_member("bad").await.unwrap_err());
    assert_timeout(d.get_member("slow").await.unwrap_err());
}

#[tokio::test]
async fn without_credentials_it_is_not_configured() {
    let s = fake().await;
    let d = Discord::new(http("discord", &s.uri()), &settings(&[("DISCORD_GUILD_ID", "1")]));
    assert_not_configured(d.get_member("u1").await.unwrap_err(), &["DISCORD_BOT_TOKEN"]);
    let d = Discord::new(http("discord", &s.uri()), &settings(&[]));
    assert_not_configured(
        d.add_role("u1", "r").await.unwrap_err(),
        &["DISCORD_BOT_TOKEN", "DISCORD_GUILD_ID"],
    );
    assert!(s.received_requests().await.unwrap().is_empty());
}
