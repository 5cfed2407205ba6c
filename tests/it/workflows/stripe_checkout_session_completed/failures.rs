//! Stripe failures (5xx, 429, malformed, incomplete sessions), kill -9 mid-call and after the commit, replays.

use super::*;
use crate::both;

both!(stripe_errors_are_retried, retried_impl);
async fn retried_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_flaky", "flaky@example.com", "stripe_prod_demo_workshop", 19_900);
    let api_error = |m: &str| json!({"error": {"message": m, "type": "api_error"}});
    Mock::given(path(c.path()))
        .respond_with(ResponseTemplate::new(500).set_body_json(api_error("internal")))
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    Mock::given(path(c.path()))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(api_error("Too many requests")),
        )
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_flaky", "cs_flaky").await;
    assert_eq!(run["status"], "completed", "{run}");
    let s = step(&run, "get stripe checkout session");
    assert_eq!(s["attempts"], 3, "{s}");
    let statuses: Vec<&str> = s["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["errored", "errored", "completed"]);
    assert!(
        s["history"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{s}"
    );
    assert!(
        s["history"][1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limited"),
        "{s}"
    );
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        3 + POST_PURCHASE_FETCHES
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_flaky'",
            &[]
        )
        .await,
        1
    );
}

both!(malformed_or_incomplete_sessions_fail, malformed_impl);
async fn malformed_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    // A truncated answer every time: retried (3 retries), then the run fails.
    Mock::given(path("/v1/checkout/sessions/cs_garbled"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"id\": \"cs_garb"))
        .mount(&stripe)
        .await;
    // A well-formed session that was never charged: non-retriable at parsing.
    let c = Checkout::new(
        "cs_nocharge",
        "nocharge@example.com",
        "stripe_prod_demo_workshop",
        19_900,
    );
    let mut body = c.session_json();
    body["payment_intent"] = Value::Null;
    Mock::given(path(c.path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&stripe)
        .await;
    // A product we do not sell: non-retriable at the merchant product.
    let unknown = Checkout::new("cs_unknown", "unknown@example.com", "prod_not_ours", 100);
    serve(&stripe, &unknown).await;
    let d = start(&db, &stripe);

    let run = purchase(&d, "evt_garbled", "cs_garbled").await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "get stripe checkout session");
    assert_eq!(s["attempts"], 4, "{s}");
    assert!(
        s["error"]["message"].as_str().unwrap().contains("unexpected answer"),
        "{s}"
    );

    let run = purchase(&d, "evt_nocharge", "cs_nocharge").await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "parse checkout session");
    assert_eq!(
        (s["attempts"].as_u64(), s["error"]["name"].as_str()),
        (Some(1), Some("NonRetriableError"))
    );
    assert!(s["error"]["message"].as_str().unwrap().contains("has no charge"), "{s}");
    assert_eq!(step_ids(&run).len(), 3, "nothing after the failed step");

    let run = purchase(&d, "evt_unknown", "cs_unknown").await;
    assert_eq!(run["status"], "failed", "{run}");
    let s = step(&run, "load the merchant product");
    assert_eq!(
        (s["attempts"].as_u64(), s["error"]["name"].as_str()),
        (Some(1), Some("NonRetriableError"))
    );
    assert!(s["error"]["message"].as_str().unwrap().contains("prod_not_ours"), "{s}");

    assert_eq!(n(&db, "SELECT COUNT(*) AS n FROM merchant_charges", &[]).await, 0);
    let new_purchases = "SELECT COUNT(*) AS n FROM purchases WHERE merchant_charge_id IS NOT NULL";
    assert_eq!(n(&db, new_purchases, &[]).await, 0);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE name = 'purchase/created'",
            &[]
        )
        .await,
        0
    );
}

both!(kill9_during_the_stripe_call_then_restart, kill9_impl);
async fn kill9_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_crash", "crash@example.com", "stripe_prod_demo_workshop", 19_900);
    // The first call hangs (the daemon dies waiting); the calls after the restart are answered.
    Mock::given(path(c.path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(c.session_json())
                .set_delay(Duration::from_secs(600)),
        )
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let ids = post_webhook(&d.api, &completed_event("evt_crash", "cs_crash", "payment", "paid")).await;
    until_received(&stripe, 1).await;
    d.kill9();
    assert_eq!(
        n(&db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'", &[]).await,
        1
    );

    let d = start(&db, &stripe);
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(step_ids(&runs[0]), STEPS);
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        2 + POST_PURCHASE_FETCHES,
        "the session was fetched again"
    );
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_crash'",
            &[]
        )
        .await,
        1
    );
    let purchases =
        "SELECT COUNT(*) AS n FROM purchases p JOIN users u ON u.id = p.user_id WHERE u.email = 'crash@example.com'";
    assert_eq!(n(&db, purchases, &[]).await, 1);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE name = 'purchase/created'",
            &[]
        )
        .await,
        1
    );
}

both!(purchase_committed_before_a_crash_is_not_duplicated, committed_impl);
async fn committed_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_twice", "twice@example.com", "stripe_prod_demo_workshop", 19_900);
    serve(&stripe, &c).await;
    // What a run that died right after "create a merchant charge and purchase" committed leaves behind.
    use ingot::platform::commerce::{checkout, merchants};
    let (user, _) = ingot::platform::users::find_or_create_user(&db.db, "twice@example.com", None)
        .await
        .unwrap();
    let (customer, _) =
        merchants::find_or_create_merchant_customer(&db.db, ids::MERCHANT_ACCOUNT, &user.id, "cus_cs_twice")
            .await
            .unwrap();
    let first = checkout::create_merchant_charge_and_purchase(
        &db.db,
        &checkout::ChargeAndPurchase {
            user_id: user.id.clone(),
            product_id: ids::PRODUCT_WORKSHOP.into(),
            merchant_account_id: ids::MERCHANT_ACCOUNT.into(),
            merchant_product_id: "mp_prod_demo_workshop".into(),
            merchant_customer_id: customer.id,
            session: checkout::ParsedCheckoutSession {
                checkout_session_id: "cs_twice".into(),
                stripe_charge_id: "ch_cs_twice".into(),
                stripe_charge_amount_cents: 19_900,
                quantity: 1,
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_twice", "cs_twice").await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"]["purchase"]["id"], first.purchase.id,
        "the committed purchase, not a second one"
    );
    let purchases = "SELECT COUNT(*) AS n FROM purchases WHERE user_id = $1";
    assert_eq!(n(&db, purchases, &[&user.id]).await, 1);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM merchant_charges WHERE identifier = 'ch_cs_twice'",
            &[]
        )
        .await,
        1
    );
    // It is still announced: the crashed run never got that far.
    assert_announced(&db, &d, &run, "cs_twice", "self-paced", "twice@example.com").await;
}

both!(replays_do_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let (db, stripe) = setup(b).await;
    let c = Checkout::new("cs_replay", "replay@example.com", "stripe_prod_demo_workshop", 19_900);
    serve(&stripe, &c).await;
    let d = start(&db, &stripe);
    let run = purchase(&d, "evt_replay", "cs_replay").await;
    assert_eq!(run["status"], "completed", "{run}");
    // Stripe re-delivers the same event: its delivery is recorded in merchant_events, so nothing is stored.
    let again = post_webhook(&d.api, &completed_event("evt_replay", "cs_replay", "payment", "paid")).await;
    assert!(again.is_empty(), "{again:?}");
    // Another event for the same session: the idempotency key skips it.
    let other = post_webhook(&d.api, &completed_event("evt_replay_2", "cs_replay", "payment", "paid")).await;
    d.api.drain().await;
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE external_id = 'stripe:evt_replay'",
            &[]
        )
        .await,
        1
    );
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", other[0])).await;
    assert_eq!(ev["run_ids"], json!([]), "{ev}");
    assert_eq!(ev["skipped"][0]["reason"], "idempotency_key", "{ev}");
    assert_eq!(ev["skipped"][0]["existing_run_id"], run["id"], "{ev}");
    assert_eq!(d.api.runs_of_function(ID).await.len(), 1);
    assert_eq!(
        stripe.received_requests().await.unwrap().len(),
        1 + POST_PURCHASE_FETCHES
    );
    let purchases =
        "SELECT COUNT(*) AS n FROM purchases p JOIN users u ON u.id = p.user_id WHERE u.email = 'replay@example.com'";
    assert_eq!(n(&db, purchases, &[]).await, 1);
    assert_eq!(
        n(
            &db,
            "SELECT COUNT(*) AS n FROM events WHERE name = 'purchase/created'",
            &[]
        )
        .await,
        1
    );
}
