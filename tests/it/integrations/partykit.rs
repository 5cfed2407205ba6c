//! PartyKit: `POST <NEXT_PUBLIC_PARTY_KIT_URL>/party/<room>` with the original's message shape, the answer text
//! returned; the failure classification every client shares; a 429 holds back only its room; dry runs record.

use super::*;
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::integrations::Integrations;
use ingot::integrations::partykit::{Message, PartyKit};
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

fn client(s: &MockServer, room: Option<&str>) -> PartyKit {
    let mut pairs = vec![("NEXT_PUBLIC_PARTY_KIT_URL", "http://unused.invalid")];
    if let Some(r) = room {
        pairs.push(("NEXT_PUBLIC_PARTYKIT_ROOM_NAME", r));
    }
    PartyKit::new(http("partykit", &s.uri()), &settings(&pairs))
}

#[tokio::test]
async fn posts_the_message_to_the_room_and_returns_the_answer() {
    let s = fake().await;
    let msg = Message::new("transcript.ready", "vr_1", json!("[00:00] Hello")).with("userId", json!("u1"));
    Mock::given(method("POST"))
        .and(path("/party/vr_1"))
        .and(body_json(
            json!({"body": "[00:00] Hello", "requestId": "vr_1", "name": "transcript.ready", "userId": "u1"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&s)
        .await;
    // A room id that needs encoding stays one path segment.
    Mock::given(method("POST"))
        .and(path("/party/a%20b%2Fc"))
        .respond_with(ResponseTemplate::new(200).set_body_string("sent"))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/party/site-room"))
        .and(body_json(
            json!({"body": {"resourceId": "img_1"}, "requestId": "img_1", "name": "image.resource.created"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&s)
        .await;
    let pk = client(&s, Some("site-room"));
    assert!(pk.enabled());
    assert_eq!(pk.default_room(), Some("site-room"));
    assert_eq!(pk.broadcast("vr_1", &msg).await.unwrap(), "ok");
    assert_eq!(pk.broadcast("a b/c", &msg).await.unwrap(), "sent");
    let img = Message::new("image.resource.created", "img_1", json!({"resourceId": "img_1"}));
    pk.broadcast_default(&img).await.unwrap();
    s.verify().await;
    let e = pk.broadcast("", &msg).await.unwrap_err();
    assert!(!StepError::from(e).is_retryable(), "an empty room is invalid");
}

#[tokio::test]
async fn classifies_failures() {
    let s = fake().await;
    let pk = client(&s, None);
    let msg = Message::new("video.asset.ready", "vr_1", json!("pb_1"));
    let at = |room: &str| Mock::given(method("POST")).and(path(format!("/party/{room}")));
    at("limited")
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "7"))
        .expect(1)
        .mount(&s)
        .await;
    at("other")
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&s)
        .await;
    at("bad")
        .respond_with(ResponseTemplate::new(400).set_body_string("Invalid message"))
        .mount(&s)
        .await;
    at("down")
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "2"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    at("down")
        .respond_with(ResponseTemplate::new(500).set_body_string("internal"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    at("down")
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&s)
        .await;
    at("slow").respond_with(slow(json!({}))).mount(&s).await;

    assert_rate_limited(pk.broadcast("limited", &msg).await.unwrap_err(), 7);
    // The room reported exhausted fails fast without calling (the fake expects one call); other rooms go on.
    assert!(pk.broadcast("limited", &msg).await.unwrap_err().is_rate_limited());
    assert_eq!(pk.broadcast("other", &msg).await.unwrap(), "ok");
    assert_rejected(pk.broadcast("bad", &msg).await.unwrap_err(), 400, "Invalid message");
    let e = pk.broadcast("down", &msg).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    assert_unavailable(e);
    assert_unavailable(pk.broadcast("down", &msg).await.unwrap_err());
    assert_eq!(pk.broadcast("down", &msg).await.unwrap(), "ok");
    assert_timeout(pk.broadcast("slow", &msg).await.unwrap_err());
    s.verify().await;
    let stats = pk.http.service.stats();
    assert_eq!(stats.name, "partykit");
    assert!(stats.configured);
    assert_eq!((stats.rate_limited, stats.held_back), (1, 1));
}

#[tokio::test]
async fn not_configured_names_the_settings() {
    let s = fake().await;
    let none = PartyKit::new(http("partykit", &s.uri()), &settings(&[]));
    assert!(!none.enabled());
    let msg = Message::new("x", "r", json!(null));
    assert_not_configured(
        none.broadcast("r", &msg).await.unwrap_err(),
        &["NEXT_PUBLIC_PARTY_KIT_URL"],
    );
    let no_room = client(&s, None);
    assert_not_configured(
        no_room.broadcast_default(&msg).await.unwrap_err(),
        &["NEXT_PUBLIC_PARTYKIT_ROOM_NAME"],
    );
    assert!(s.received_requests().await.unwrap().is_empty());
}

#[test]
fn a_bad_url_refuses_start_naming_the_variable() {
    let values = [("next_public_party_kit_url".to_string(), "not a url".to_string())].into();
    let e = ingot::integrations::config::IntegrationsConfig::from_values(&values).unwrap_err();
    assert!(e.to_string().contains("NEXT_PUBLIC_PARTY_KIT_URL"), "{e}");
}

both!(dry_run_records_announcements, dry_run_records_announcements_impl);
async fn dry_run_records_announcements_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = settings(&[
        ("INGOT_DRY_RUN", "1"),
        ("NEXT_PUBLIC_PARTY_KIT_URL", "http://127.0.0.1:9/pk"),
    ]);
    let i = Integrations::start(&cfg, &db.db);
    let msg = Message::new("video.asset.ready", "vr_1", json!("pb_1"));
    i.partykit.broadcast("vr_1", &msg).await.unwrap();
    let q = db.sql(
        "SELECT COUNT(*) AS n FROM outbound_requests WHERE service = $1 AND method = $2 AND url = $3 AND body = $4",
    );
    assert_eq!(
        db.count(
            &q,
            &[
                "partykit",
                "POST",
                "http://127.0.0.1:9/pk/party/vr_1",
                r#"{"body":"pb_1","name":"video.asset.ready","requestId":"vr_1"}"#
            ]
        )
        .await,
        1
    );
}
