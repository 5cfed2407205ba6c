//! Missing rows and inactive purchases, a kill -9 while a welcome email is in flight, and a Stripe outage.

use super::*;
use crate::both;

both!(missing_rows_and_inactive_purchases, missing_impl);
async fn missing_impl(b: Backend) {
    let w = world(b, false, None).await;
    let (t, d) = (&w.t, &w.d);
    let mut no_user = new_purchase("purch_nouser", "u1", "prod_ws", PurchaseStatus::Valid);
    no_user.user_id = None;
    purchase(t, no_user).await;
    purchase(
        t,
        new_purchase("purch_refunded", "u1", "prod_ws", PurchaseStatus::Refunded),
    )
    .await;
    let send = |id: &str| json!({"name": "purchase/created", "data": {"purchaseId": id, "productType": "self-paced"}});
    let ids = d
        .api
        .send(
            json!([send("purch_ghost"), send("purch_nouser"), send("purch_refunded"),
            {"name": "purchase/created", "data": {"purchaseId": "purch_live", "productType": "live"}}]),
        )
        .await;
    d.api.drain().await;
    for (i, (failed_step, message)) in [
        ("get purchase", "purchase not found"),
        ("get user", "purch_nouser has no user"),
    ]
    .into_iter()
    .enumerate()
    {
        let run = only_run(d, &ids[i]).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = step(&run, failed_step);
        assert_eq!(s["attempts"], 1, "non-retriable: {s}");
        assert_eq!(s["error"]["name"], "NonRetriableError");
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }
    // A refunded purchase: nothing granted, nothing sent.
    let run = only_run(d, &ids[2]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(!step_names(&run).contains(&"ensure org membership".to_string()));
    assert_eq!(t.count("SELECT COUNT(*) AS n FROM entitlements", &[]).await, 0);
    assert!(w.sink.received().is_empty());
    // A live-event purchase is not this workflow's.
    let runs = d.api.runs_of(&ids[3]).await;
    assert!(
        runs.iter().all(|r| r["function_id"] != "post-purchase-workflow"),
        "{runs:?}"
    );
}

// kill -9 while the welcome email is in flight (the SMTP server holds it), then restart on the same database:
// the run completes with one email, and no entitlement or event twice.
both!(kill_while_emailing_then_restart, kill_impl);
async fn kill_impl(b: Backend) {
    let hold = Hold::armed();
    let w = world(b, true, Some(hold.clone())).await;
    let World { t, d, sink, _stripe } = w;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_k"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cs_k", "metadata": {}})))
        .mount(&_stripe)
        .await;
    purchase(&t, new_purchase("purch_k", "u1", "prod_cohort", PurchaseStatus::Valid)).await;
    let ids = d
        .api
        .send(json!({"name": "purchase/created",
            "data": {"purchaseId": "purch_k", "productType": "cohort", "checkoutSessionId": "cs_k"}}))
        .await;
    tokio::time::timeout(Duration::from_secs(60), hold.held.notified())
        .await
        .expect("the email reached the SMTP server");
    d.kill9();
    assert!(sink.received().is_empty());
    assert_eq!(
        live_entitlements(&t, "u1", "cohort_content_access").await,
        4,
        "granted before the kill"
    );

    let d = Daemon::start(&env(&t, &sink, Some(&_stripe)));
    d.api.drain().await;
    let run = only_run(&d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    for s in run["steps"].as_array().unwrap() {
        assert_eq!(s["attempts"], 1, "every step completed once: {s}");
    }
    assert_eq!(sink.received().len(), 1, "one email");
    assert_eq!(live_entitlements(&t, "u1", "cohort_content_access").await, 4);
    assert_eq!(live_entitlements(&t, "u1", "cohort_discord_role").await, 1);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'discord/user-added-to-cohort'",
            &[]
        )
        .await,
        1
    );
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM events WHERE name = 'coupon/grant-entitlements-for-purchase'",
            &[]
        )
        .await,
        1
    );
}

// Stripe failing for a moment retries the step; a session Stripe does not know is skipped.
both!(stripe_outage_retries_and_unknown_session_skips, stripe_impl);
async fn stripe_impl(b: Backend) {
    let w = world(b, true, None).await;
    let (t, d) = (&w.t, &w.d);
    ent::ensure_credit_entitlement(&t.db, "u1", None, None, "coupon_credit", "prod_other")
        .await
        .unwrap();
    // The outage hits this workflow's expanded fetch (`shortlink-attribution` fetches the session unexpanded).
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_flaky"))
        .and(wiremock::matchers::query_param("expand[]", "customer"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": {"message": "down"}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&w._stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_flaky", "metadata": {"usedEntitlementCouponIds": "coupon_credit"},
        })))
        .mount(&w._stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_unknown"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "No such checkout.session"}})),
        )
        .mount(&w._stripe)
        .await;
    purchase(t, new_purchase("purch_a", "u1", "prod_ws", PurchaseStatus::Valid)).await;
    purchase(t, new_purchase("purch_b", "u_carol", "prod_ws", PurchaseStatus::Valid)).await;
    let ids = d
        .api
        .send(json!([
            {"name": "purchase/created", "data": {"purchaseId": "purch_a", "productType": "self-paced", "checkoutSessionId": "cs_flaky"}},
            {"name": "purchase/created", "data": {"purchaseId": "purch_b", "productType": "self-paced", "checkoutSessionId": "cs_unknown"}},
        ]))
        .await;
    d.api.drain().await;
    let run = only_run(d, &ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    let s = step(&run, "mark entitlement coupons as used");
    assert_eq!(
        (s["attempts"].as_i64(), s["output"]["marked"].as_i64()),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(live_entitlements(t, "u1", "apply_special_credit").await, 0);
    let run = only_run(d, &ids[1]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step(&run, "mark entitlement coupons as used")["output"]["reason"],
        "Checkout session not found"
    );
    assert_eq!(live_entitlements(t, "u_carol", "workshop_content_access").await, 2);
}
