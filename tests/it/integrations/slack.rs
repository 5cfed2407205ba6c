//! Slack incoming webhook.

use super::*;
use ingot::integrations::slack::Slack;
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

fn client(s: &MockServer) -> Slack {
    let cfg = settings(&[("SLACK_WEBHOOK_URL", "http://unused.invalid/")]);
    Slack::new(http("slack", &format!("{}/services/T0/B0/xyz", s.uri())), &cfg)
}

#[tokio::test]
async fn posts_text_and_attachments_and_classifies_failures() {
    let s = fake().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/xyz"))
        .and(body_json(
            json!({"text": "Someone purchased X", "attachments": [{"title": "Sold (1) X"}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(body_json(json!({"text": "limited"})))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_string("rate_limited"),
        )
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(body_json(json!({"text": "bad"})))
        .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload"))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(body_json(json!({"text": "down"})))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(body_json(json!({"text": "down"})))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(body_json(json!({"text": "slow"})))
        .respond_with(slow(json!({})))
        .mount(&s)
        .await;
    let slack = client(&s);
    slack
        .post("Someone purchased X", Some(json!([{"title": "Sold (1) X"}])))
        .await
        .unwrap();
    assert_rate_limited(slack.post("limited", None).await.unwrap_err(), 30);
    assert_rejected(slack.post("bad", None).await.unwrap_err(), 400, "invalid_payload");
    assert_unavailable(slack.post("down", None).await.unwrap_err());
    slack.post("down", None).await.unwrap();
    assert_timeout(slack.post("slow", None).await.unwrap_err());
    let unconfigured = Slack::new(http("slack", &s.uri()), &settings(&[]));
    assert_not_configured(unconfigured.post("x", None).await.unwrap_err(), &["SLACK_WEBHOOK_URL"]);
}
