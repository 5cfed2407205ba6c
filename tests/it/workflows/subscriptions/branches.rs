//! The other branches: updates out of order and for unknown subscriptions, invoices (one-time, unknown
//! subscription, delivered twice), a checkout Stripe reports in another mode or fails (502, then answers), a
//! missing merchant product, and the Discord role's skips (no Discord account, not in the guild, another active
//! subscription still grants it).

use super::{Bed, P0, P1, SUB_ROLE, at, deliver, invoice_event, session, stored, sub_event, subscription};
use crate::both;
use crate::support::Backend;
use crate::workflows::harness::completed_event;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

both!(updates_invoices_and_checkout_failures, branches_impl);
async fn branches_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // cs_other: Stripe says payment mode; cs_flaky: 502 once, then a session of a product we do not sell.
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_other"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cs_other", "mode": "payment"})))
        .mount(&bed.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_flaky"))
        .respond_with(
            ResponseTemplate::new(502).set_body_json(json!({"error": {"type": "api_error", "message": "Bad gateway"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&bed.stripe)
        .await;
    let mut unknown = session("cs_flaky", "sub_2");
    unknown["subscription"]["plan"]["product"] = json!({"id": "stripe_prod_unknown"});
    Mock::given(method("GET"))
        .and(path("/v1/checkout/sessions/cs_flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(unknown))
        .mount(&bed.stripe)
        .await;
    let d = bed.start();
    let db = &bed.db;

    let run = d
        .api
        .only_run(&deliver(&d, &completed_event("e1", "cs_other", "subscription", "paid")).await[0])
        .await;
    assert_eq!(
        (run["status"].as_str(), run["output"].clone()),
        (Some("completed"), json!(null)),
        "{run}"
    );
    let run = d
        .api
        .only_run(&deliver(&d, &completed_event("e2", "cs_flaky", "subscription", "paid")).await[0])
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["steps"][1]["attempts"], 2, "the 502 was retried: {run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Merchant product not found: stripe_prod_unknown")
    );

    // An update for a subscription we never recorded.
    let run = d
        .api
        .only_run(
            &deliver(
                &d,
                &sub_event("e3", "updated", P0, subscription("sub_x", "active", P0, P1)),
            )
            .await[0],
        )
        .await;
    assert_eq!(run["output"]["updated"], false, "{run}");

    // Recorded by its checkout; then past_due at P0+10, and an older "active" at P0+5 that must not win.
    deliver(&d, &completed_event("e4", "cs_sub", "subscription", "paid")).await;
    let due = sub_event("e5", "updated", P0 + 10, subscription("sub_1", "past_due", P0, P1));
    let run = d.api.only_run(&deliver(&d, &due).await[0]).await;
    assert_eq!(
        (run["output"]["updated"].as_bool(), run["output"]["ended"].as_bool()),
        (Some(true), Some(false))
    );
    let older = sub_event("e6", "updated", P0 + 5, subscription("sub_1", "active", P0 - 100, P0));
    let run = d.api.only_run(&deliver(&d, &older).await[0]).await;
    assert_eq!(run["output"]["updated"], false, "{run}");
    assert_eq!(
        run["output"]["subscription"]["currentPeriodEnd"],
        at(P1),
        "the period never moves back"
    );
    assert_eq!(stored(db, "sub_1").await, ["past_due|live"]);

    // Invoices: one-time, of an unknown subscription, and the same invoice twice (new event id).
    for (event, invoice, sub, kind) in [
        ("e7", "in_once", None, "one-time"),
        ("e8", "in_x", Some("sub_x"), "other"),
    ] {
        let run = d
            .api
            .only_run(&deliver(&d, &invoice_event(event, invoice, sub, P0, P1)).await[0])
            .await;
        assert_eq!(
            (run["output"]["kind"].as_str(), run["output"]["recorded"].as_bool()),
            (Some(kind), Some(true)),
            "{run}"
        );
    }
    let run = d
        .api
        .only_run(&deliver(&d, &invoice_event("e9", "in_once", None, P0, P1)).await[0])
        .await;
    assert_eq!(run["output"]["recorded"], false, "{run}");
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM merchant_invoices", &[]).await, 2);
    // An older invoice does not move the period back.
    let run = d
        .api
        .only_run(&deliver(&d, &invoice_event("e10", "in_old", Some("sub_1"), P0 - 100, P0)).await[0])
        .await;
    assert_eq!(run["output"]["subscription"]["currentPeriodEnd"], at(P1), "{run}");
}

both!(discord_role_skips, role_impl);
async fn role_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let d = bed.start();
    let db = &bed.db;
    let created = |user: &str| {
        json!({"name": "subscription/created", "user": {"id": user},
                                      "data": {"subscriptionId": "sub_x", "checkoutSessionId": "cs_x"}})
    };
    // Bob has no Discord account; then u_sub is not in the guild.
    let ids = d.api.send(created("u_demo_bob")).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["output"], "No discord account found for user", "{run}");
    bed.discord.lock().unwrap().members.clear();
    let ids = d.api.send(created("u_sub")).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["output"]["reason"], "Not a member of the Discord server", "{run}");

    // The original event name; in the guild, without an active subscription: nothing added.
    bed.discord
        .lock()
        .unwrap()
        .members
        .insert(super::DISCORD_ID.into(), vec![]);
    let mut e = created("u_sub");
    e["name"] = json!("commerce/new-subscription-created");
    let ids = d.api.send(e).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["output"]["added"], false, "{run}");

    // Two subscriptions; one ends: the other still grants the role, it stays.
    deliver(&d, &completed_event("c1", "cs_sub", "subscription", "paid")).await;
    assert_eq!(bed.roles(), [SUB_ROLE]);
    let ended = json!({"name": "subscription/ended", "data": {"subscriptionId": "sub_other", "userId": "u_sub"}});
    let ids = d.api.send(ended).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(
        (run["output"]["removed"].as_bool(), run["output"]["reason"].as_str()),
        (Some(false), Some("Another active subscription still grants the role")),
        "{run}"
    );
    assert_eq!(bed.roles(), [SUB_ROLE]);
    assert!(bed.calls().iter().all(|(m, _)| m != "DELETE"));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM subscriptions", &[]).await, 1);
}
