//! ConvertKit v3: subscriber lookup, tagging (which creates), tags, fields — with the secret kept out of errors.

use super::*;
use ingot::integrations::convertkit::ConvertKit;
use serde_json::{Map, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn client(s: &MockServer) -> ConvertKit {
    let cfg = settings(&[("CONVERTKIT_API_KEY", "ck_key"), ("CONVERTKIT_API_SECRET", "ck_secret")]);
    ConvertKit::new(http("convertkit", &format!("{}/v3", s.uri())), &cfg)
}

#[tokio::test]
async fn lookup_tag_and_fields() {
    let s = fake().await;
    Mock::given(method("GET"))
        .and(path("/v3/subscribers"))
        .and(query_param("api_secret", "ck_secret"))
        .and(query_param("email_address", "ada@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total_subscribers": 1, "subscribers": [{"id": 7, "email_address": "ada@example.com", "state": "active", "fields": {"purchased": null}}]})))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/tags/99/subscribe"))
        .and(body_json(json!({"api_secret": "ck_secret", "email": "new@example.com", "fields": {"purchased_x_on": "2026-11-27"}, "first_name": "New"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"subscription": {"id": 1, "state": "active", "subscriber": {"id": 8, "email_address": "new@example.com"}}})))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/subscribers/7/tags"))
        .and(query_param("api_key", "ck_key"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"tags": [{"id": 99, "name": "Purchased", "created_at": "x"}]})),
        )
        .mount(&s)
        .await;
    let ck = client(&s);
    let sub = ck.find_subscriber("  Ada@Example.com ").await.unwrap().unwrap();
    assert_eq!(sub.id, 7);
    let mut fields = Map::new();
    fields.insert("purchased_x_on".into(), json!("2026-11-27"));
    assert_eq!(
        ck.tag_subscriber(99, "new@example.com", Some("New"), &fields)
            .await
            .unwrap()
            .id,
        8
    );
    assert_eq!(ck.subscriber_tags(7).await.unwrap()[0].name, "Purchased");
}

#[tokio::test]
async fn failures_are_classified_and_never_show_the_secret() {
    let s = fake().await;
    let at = |email: &str, r: ResponseTemplate| Mock::given(query_param("email_address", email)).respond_with(r);
    at(
        "limited@x.com",
        ResponseTemplate::new(429).insert_header("retry-after", "60"),
    )
    .mount(&s)
    .await;
    at(
        "denied@x.com",
        ResponseTemplate::new(401)
            .set_body_json(json!({"error": "Authorization Failed", "message": "API Key not valid"})),
    )
    .mount(&s)
    .await;
    at("flaky@x.com", ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    at(
        "flaky@x.com",
        ResponseTemplate::new(200).set_body_json(json!({"subscribers": []})),
    )
    .mount(&s)
    .await;
    at("garbled@x.com", ResponseTemplate::new(200).set_body_string("nope"))
        .mount(&s)
        .await;
    at("slow@x.com", slow(json!({"subscribers": []}))).mount(&s).await;
    let ck = client(&s);
    assert_rate_limited(ck.find_subscriber("limited@x.com").await.unwrap_err(), 60);
    let denied = ck.find_subscriber("denied@x.com").await.unwrap_err();
    assert_rejected(denied.clone(), 401, "API Key not valid");
    assert_unavailable(ck.find_subscriber("flaky@x.com").await.unwrap_err());
    assert_eq!(ck.find_subscriber("flaky@x.com").await.unwrap(), None);
    assert_bad_response(ck.find_subscriber("garbled@x.com").await.unwrap_err());
    let timeout = ck.find_subscriber("slow@x.com").await.unwrap_err();
    for e in [denied, timeout.clone()] {
        assert!(!e.to_string().contains("ck_secret"), "{e}");
    }
    assert_timeout(timeout);
    // A connection refused: the message names no URL (the query string holds the secret).
    let dead = ConvertKit::new(
        http("convertkit", "http://127.0.0.1:9/v3"),
        &settings(&[("CONVERTKIT_API_KEY", "k"), ("CONVERTKIT_API_SECRET", "ck_secret")]),
    );
    let e = dead.find_subscriber("a@x.com").await.unwrap_err();
    assert!(
        matches!(e, ServiceError::Unavailable { .. }) && !e.to_string().contains("ck_secret"),
        "{e}"
    );
    let none = ConvertKit::new(http("convertkit", &s.uri()), &settings(&[("CONVERTKIT_API_KEY", "k")]));
    assert_not_configured(
        none.find_subscriber("a@x.com").await.unwrap_err(),
        &["CONVERTKIT_API_SECRET"],
    );
}
