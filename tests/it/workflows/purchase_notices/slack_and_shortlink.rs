//! `send-post-purchase-slack` (the message, Slack's 429 with Retry-After and 5xx retried, a refused payload,
//! Slack not configured) and `shortlink-attribution` (attributed once, every skip, Stripe refusing and rate
//! limiting).

use super::*;
use crate::both;
use crate::workflows::fanout_support::run_of;
use crate::workflows::harness::{step, step_names};

const SLACK: &str = "send-post-purchase-slack";
const SHORTLINK: &str = "shortlink-attribution";

both!(sale_posted_after_rate_limit_and_outage, slack_impl);
async fn slack_impl(b: Backend) {
    let bed = Bed::new(b, None, None).await;
    let p = bed
        .checkout("team", BUYER, BUYER_EMAIL, ids::PRODUCT_WORKSHOP, json!({}), 3)
        .await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("rate_limited"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&bed.slack)
        .await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal_error"))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&bed.slack)
        .await;
    bed.slack_ok().await;
    let d = start(&bed.env());
    let ev = announce(&d.api, &p.id, Some("cs_ch_team")).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, SLACK).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        [
            "load the new purchase",
            "load the new purchase info",
            "send slack notification"
        ]
    );
    let s = step(&run, "send slack notification");
    assert_eq!(s["attempts"], 3, "{s}");
    let errors: Vec<&str> = s["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["error"]["message"].as_str())
        .collect();
    assert!(
        errors[0].contains("rate limited") && errors[1].contains("unavailable"),
        "{errors:?}"
    );
    let expected = json!({
        "username": "Announce Bot", "icon_emoji": ":robot_face:", "text": "Someone purchased TypeScript for AI",
        "attachments": [{"fallback": "Sold (3) TypeScript for AI", "title": "Sold (3) TypeScript for AI",
            "text": format!("Somebody ({BUYER_EMAIL}) bought 3 copies of TypeScript for AI for $150"),
            "color": "#eba234"}],
    });
    assert_eq!(bed.slack_posts().await, [expected.clone(), expected.clone(), expected]);
    // The session was fetched with its expansions (for the quantity).
    let fetched: Vec<_> = bed
        .stripe
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.query().is_some_and(|q| q.contains("expand")))
        .collect();
    assert_eq!(fetched.len(), 1);
}

both!(slack_refusals_and_no_slack, refusals_impl);
async fn refusals_impl(b: Backend) {
    let bed = Bed::new(b, None, None).await;
    let p = bed
        .checkout("one", BUYER, BUYER_EMAIL, ids::PRODUCT_WORKSHOP, json!({}), 1)
        .await;
    Mock::given(method("POST"))
        .and(path(SLACK_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload"))
        .mount(&bed.slack)
        .await;
    // A session Stripe answers without a customer: it cannot be read, non-retriable.
    let odd = buy(&bed.db, BUYER, ids::PRODUCT_WORKSHOP, "ch_odd", 1).await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_ch_odd"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cs_ch_odd", "metadata": {}})))
        .mount(&bed.stripe)
        .await;
    let d = start(&bed.env());
    let ev = announce(&d.api, &p.id, Some("cs_ch_one")).await;
    // No checkout session in the event: nothing to read the sale from.
    let bare = announce(&d.api, &p.id, None).await;
    let unreadable = announce(&d.api, &odd.id, Some("cs_ch_odd")).await;
    d.api.drain().await;
    let run = run_of(&d.api, &unreadable, SLACK).await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "load the new purchase info");
    assert_eq!(
        (s["attempts"].as_u64(), s["error"]["name"].as_str()),
        (Some(1), Some("NonRetriableError")),
        "{s}"
    );
    assert!(
        run["error"]["message"].as_str().unwrap().contains("has no customer"),
        "{run}"
    );
    let run = run_of(&d.api, &ev, SLACK).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(step(&run, "send slack notification")["attempts"], 1);
    assert!(
        run["error"]["message"].as_str().unwrap().contains("invalid_payload"),
        "{run}"
    );
    let run = run_of(&d.api, &bare, SLACK).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"].as_str().unwrap().contains("checkoutSessionId"),
        "{run}"
    );
    assert_eq!(bed.slack_posts().await.len(), 1);
    d.kill9();

    let d = start(&bed.env_without(&["SLACK_WEBHOOK_URL"]));
    let ev = d
        .api
        .send(
            json!({"name": "purchase/created", "data": {"purchaseId": p.id, "productType": "membership",
            "checkoutSessionId": "cs_other"}}),
        )
        .await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev[0], SLACK).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], json!({"error": "No notification provider"}));
    assert_eq!(bed.slack_posts().await.len(), 1);
}

async fn attribution_rows(bed: &Bed, purchase: &str) -> Vec<String> {
    crate::workflows::harness::texts(
        &bed.db,
        "SELECT shortlink_id || ' ' || type || ' ' || COALESCE(user_id, '') || ' ' || COALESCE(email, '') || ' ' || metadata AS t \
         FROM shortlink_attributions WHERE purchase_id = $1",
        &[purchase],
    )
    .await
}

both!(purchase_attributed_once, attributed_impl);
async fn attributed_impl(b: Backend) {
    let bed = Bed::new(b, None, None).await;
    let p = bed
        .checkout(
            "sl",
            BUYER,
            BUYER_EMAIL,
            ids::PRODUCT_WORKSHOP,
            json!({"shortlinkRef": "launch"}),
            1,
        )
        .await;
    let d = start(&bed.env());
    let ev = announce(&d.api, &p.id, Some("cs_ch_sl")).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, SHORTLINK).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_names(&run),
        ["get purchase", "get product", "get user", "record attribution"]
    );
    // The three lookups are read steps, recorded together by the next write: no commit of their own.
    bed.db
        .assert_recorded_together(
            run["id"].as_str().unwrap(),
            &["get purchase", "get product", "get user"],
        )
        .await;
    assert_eq!(
        run["output"],
        json!({"recorded": true, "shortlinkRef": "launch", "shortlinkId": "sl_demo_launch", "userId": BUYER})
    );
    let rows = attribution_rows(&bed, &p.id).await;
    assert_eq!(rows.len(), 1);
    let (head, metadata) = rows[0].split_at(rows[0].find('{').unwrap());
    assert_eq!(head, format!("sl_demo_launch purchase {BUYER} {BUYER_EMAIL} "));
    let metadata: Value = serde_json::from_str(metadata).unwrap();
    assert_eq!(
        metadata,
        json!({"productId": ids::PRODUCT_WORKSHOP, "productName": "TypeScript for AI", "purchaseId": p.id,
            "totalAmount": 50.0, "productType": "self-paced"})
    );
    // The shortlink fetch asks for the session unexpanded.
    let plain = bed
        .stripe
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.query().is_none())
        .count();
    assert_eq!(plain, 1);
    // Another event for the same purchase: skipped by the idempotency key; still one row.
    let again = announce(&d.api, &p.id, Some("cs_ch_sl")).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{again}")).await;
    assert!(
        ev["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["function_id"] == SHORTLINK && s["reason"] == "idempotency_key"),
        "{ev}"
    );
    assert_eq!(attribution_rows(&bed, &p.id).await.len(), 1);
}

both!(attribution_skips_and_stripe_failures, shortlink_skips_impl);
async fn shortlink_skips_impl(b: Backend) {
    let bed = Bed::new(b, None, None).await;
    let none = bed
        .checkout("none", BUYER, BUYER_EMAIL, ids::PRODUCT_WORKSHOP, json!({}), 1)
        .await;
    let unknown = bed
        .checkout(
            "unk",
            BUYER,
            BUYER_EMAIL,
            ids::PRODUCT_WORKSHOP,
            json!({"shortlinkRef": "nope"}),
            1,
        )
        .await;
    let bare = fanout_buy(&bed, "bare").await;
    let gone = fanout_buy(&bed, "gone").await;
    let limited = fanout_buy(&bed, "lim").await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_ch_gone"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "No such checkout.session"}})),
        )
        .mount(&bed.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_ch_lim"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&bed.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_ch_lim"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "cs_ch_lim", "metadata": {"shortlinkRef": "launch"}})),
        )
        .mount(&bed.stripe)
        .await;
    let d = start(&bed.env_without(&["SLACK_WEBHOOK_URL"]));
    let cases = [
        (
            none.id.clone(),
            Some("cs_ch_none"),
            json!({"skipped": true, "reason": "No shortlink reference in metadata"}),
        ),
        (
            unknown.id.clone(),
            Some("cs_ch_unk"),
            json!({"recorded": false, "reason": "Shortlink not found", "shortlinkRef": "nope"}),
        ),
        (
            bare.id.clone(),
            None,
            json!({"skipped": true, "reason": "No checkout session id"}),
        ),
        (
            "p_ghost".to_string(),
            Some("cs_ghost"),
            json!({"skipped": true, "reason": "Purchase not found"}),
        ),
    ];
    for (purchase, session, output) in cases {
        let ev = d
            .api
            .send(
                json!({"name": "purchase/created", "id": format!("sl-{purchase}-{session:?}"),
                "data": {"purchaseId": purchase, "productType": "membership", "checkoutSessionId": session}}),
            )
            .await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev[0], SHORTLINK).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["output"], output, "{run}");
    }
    // Stripe refuses (404): reported, not retried.
    let ev = announce(&d.api, &gone.id, Some("cs_ch_gone")).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, SHORTLINK).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["recorded"], false);
    assert!(
        run["output"]["error"]
            .as_str()
            .unwrap()
            .contains("No such checkout.session"),
        "{run}"
    );
    assert_eq!(step(&run, "record attribution")["attempts"], 1);
    // Stripe rate limits once (Retry-After: 1): retried, then recorded.
    let ev = announce(&d.api, &limited.id, Some("cs_ch_lim")).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, SHORTLINK).await;
    assert_eq!(run["output"]["recorded"], true, "{run}");
    let s = step(&run, "record attribution");
    assert_eq!(s["attempts"], 2, "{s}");
    assert!(
        s["history"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limited"),
        "{s}"
    );
    assert_eq!(
        bed.db
            .count("SELECT COUNT(*) AS n FROM shortlink_attributions", &[])
            .await,
        1
    );
}

/// A purchase through the checkout without a Stripe answer for its session (the test mounts its own).
async fn fanout_buy(bed: &Bed, tag: &str) -> ingot::platform::commerce::purchases::Purchase {
    buy(&bed.db, BUYER, ids::PRODUCT_WORKSHOP, &format!("ch_{tag}"), 1).await
}
