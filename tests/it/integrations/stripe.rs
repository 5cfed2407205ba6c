//! Stripe: checkout sessions with expansions, charges, refunds, subscriptions, idempotent POSTs.

use super::*;
use ingot::integrations::stripe::Stripe;
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn client(s: &MockServer) -> Stripe {
    Stripe::new(
        http("stripe", &s.uri()),
        &settings(&[("STRIPE_SECRET_KEY", "sk_test_123")]),
    )
}

#[tokio::test]
async fn lookups_send_the_key_and_the_expansions() {
    let s = fake().await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_1"))
        .and(header("authorization", "Bearer sk_test_123"))
        .and(query_param("expand[]", "line_items.data.price.product"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_1", "object": "checkout.session", "mode": "payment", "amount_total": 9900, "currency": "usd",
            "metadata": {"country": "US", "bulk": "false"}, "customer": {"id": "cus_1", "email": "a@example.com"},
        })))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/charges/ch_1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "ch_1", "amount": 9900, "amount_refunded": 9900, "refunded": true})),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/refunds"))
        .and(query_param("charge", "ch_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": [{"id": "re_1", "amount": 9900, "charge": "ch_1", "status": "succeeded"}], "has_more": false})))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "sub_1", "status": "active", "customer": "cus_1"})),
        )
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .and(header("idempotency-key", "run-1:refund"))
        .and(body_string_contains("charge=ch_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "re_2", "amount": 9900, "charge": "ch_1"})))
        .expect(1)
        .mount(&s)
        .await;
    let stripe = client(&s);
    let cs = stripe.checkout_session("cs_1").await.unwrap();
    assert_eq!(
        (cs.mode.as_str(), cs.amount_total, cs.metadata["country"].as_str()),
        ("payment", Some(9900), "US")
    );
    assert_eq!(cs.rest["customer"]["email"], "a@example.com");
    let expands: Vec<String> = s.received_requests().await.unwrap()[0]
        .url
        .query_pairs()
        .filter(|(k, _)| k == "expand[]")
        .map(|(_, v)| v.to_string())
        .collect();
    assert_eq!(expands, ingot::integrations::stripe::CHECKOUT_EXPAND);
    assert!(stripe.charge("ch_1").await.unwrap().refunded);
    assert_eq!(stripe.refunds_for_charge("ch_1").await.unwrap()[0].id, "re_1");
    assert_eq!(stripe.subscription("sub_1").await.unwrap().status, "active");
    assert_eq!(stripe.refund_charge("ch_1", "run-1:refund").await.unwrap().id, "re_2");
}

#[tokio::test]
async fn failures_are_classified() {
    let s = fake().await;
    let at = |p: &str, r: ResponseTemplate| Mock::given(path(format!("/v1/charges/{p}"))).respond_with(r);
    at(
        "limited",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "2")
            .set_body_json(json!({"error": {"message": "Too many requests", "type": "rate_limit_error"}})),
    )
    .mount(&s)
    .await;
    at(
        "missing",
        ResponseTemplate::new(404)
            .set_body_json(json!({"error": {"message": "No such charge: 'missing'", "type": "invalid_request_error"}})),
    )
    .mount(&s)
    .await;
    at(
        "flaky",
        ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "internal", "type": "api_error"}})),
    )
    .up_to_n_times(1)
    .mount(&s)
    .await;
    at(
        "flaky",
        ResponseTemplate::new(200).set_body_json(json!({"id": "flaky", "amount": 1})),
    )
    .mount(&s)
    .await;
    at("garbled", ResponseTemplate::new(200).set_body_string("{\"id\": "))
        .mount(&s)
        .await;
    at("slow", slow(json!({"id": "slow"}))).mount(&s).await;
    let stripe = client(&s);
    assert_rate_limited(stripe.charge("limited").await.unwrap_err(), 2);
    assert_rejected(
        stripe.charge("missing").await.unwrap_err(),
        404,
        "No such charge: 'missing'",
    );
    assert_unavailable(stripe.charge("flaky").await.unwrap_err());
    assert_eq!(stripe.charge("flaky").await.unwrap().amount, 1);
    assert_bad_response(stripe.charge("garbled").await.unwrap_err());
    assert_timeout(stripe.charge("slow").await.unwrap_err());
    let none = Stripe::new(http("stripe", &s.uri()), &settings(&[]));
    assert_not_configured(none.charge("x").await.unwrap_err(), &["STRIPE_SECRET_KEY"]);
}
