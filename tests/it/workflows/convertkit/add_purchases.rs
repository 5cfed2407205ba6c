//! `add-purchases-convertkit`: both accounts (a field created where missing), a second purchase the same day
//! synced too (per purchase), another event for the same purchase skipped; not a subscriber, the tt account
//! unconfigured, ConvertKit's 429 / 5xx retried and a 4xx failing.

use super::*;
use crate::both;
use crate::workflows::fanout_support::run_of;
use crate::workflows::harness::{step, step_names};
use ingot::platform::commerce::PurchaseStatus;
use ingot::seed::demo::ids;

const FN: &str = "add-purchases-convertkit";

both!(both_accounts_get_the_purchase_date, both_impl);
async fn both_impl(b: Backend) {
    let bed = Bed::new(b).await;
    builders::purchase(
        &bed.db.db,
        "p_ck1",
        "u_ada",
        ids::PRODUCT_EVENT,
        PurchaseStatus::Valid,
        5_000,
    )
    .await
    .unwrap();
    builders::purchase(
        &bed.db.db,
        "p_ck2",
        "u_ada",
        ids::PRODUCT_WORKSHOP,
        PurchaseStatus::Valid,
        100,
    )
    .await
    .unwrap();
    bed.ck.subscriber(MAIN, 7, "ada@example.com", &["first_seen"]);
    bed.ck
        .subscriber(TT, 8, "ada@example.com", &["purchased_office_hours_on"]);
    let d = start(&bed.env(true));
    let ev = announce(&d.api, "p_ck1").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "p_ck1");
    assert_eq!(
        step_names(&run),
        [
            "get purchase",
            "get user",
            "get convertkit user",
            "update convertkit user",
            "get tt convertkit user",
            "update tt convertkit user",
        ]
    );
    let field = "purchased_office_hours_on";
    let value = bed.purchased_on("p_ck1").await;
    assert_eq!(
        run["output"],
        json!({"purchaseId": "p_ck1", "email": "ada@example.com", "field": field, "value": value,
            "convertkit": {"found": true, "subscriberId": 7, "updated": true, "fieldCreated": true, "value": value},
            "ttConvertkit": {"found": true, "subscriberId": 8, "updated": true, "fieldCreated": false, "value": value}})
    );
    assert_eq!(bed.ck.field(MAIN, "ada@example.com", field), json!(value));
    assert_eq!(bed.ck.field(TT, "ada@example.com", field), json!(value));
    let put = |id: u64| {
        (
            "PUT".to_string(),
            format!("/subscribers/{id}"),
            json!({"fields": {field: value}}),
        )
    };
    let get = ("GET".to_string(), "/subscribers".to_string(), json!("ada@example.com"));
    assert_eq!(
        bed.ck.requests(MAIN),
        [
            get.clone(),
            ("POST".into(), "/custom_fields".into(), json!({"label": field})),
            put(7)
        ]
    );
    assert_eq!(bed.ck.requests(TT), [get, put(8)]);

    // A second purchase the same day: synced too (idempotency per purchase, not per email).
    let ev2 = announce(&d.api, "p_ck2").await;
    // The first purchase announced again: skipped.
    let again = announce(&d.api, "p_ck1").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev2, FN).await;
    assert_eq!(run["output"]["field"], "purchased_typescript_for_ai_on", "{run}");
    assert_eq!(
        bed.ck.field(MAIN, "ada@example.com", "purchased_typescript_for_ai_on"),
        json!(bed.purchased_on("p_ck2").await)
    );
    let ev = d.api.get_ok(&format!("/api/v1/events/{again}")).await;
    assert!(
        ev["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["function_id"] == FN && s["reason"] == "idempotency_key"),
        "{ev}"
    );
    assert_eq!(d.api.runs_of_function(FN).await.len(), 2);
    assert_eq!(bed.ck.requests(MAIN).len(), 6, "three calls per synced purchase");
}

both!(not_subscribed_unconfigured_and_failures, failures_impl);
async fn failures_impl(b: Backend) {
    let bed = Bed::new(b).await;
    builders::purchase(
        &bed.db.db,
        "p_new",
        "u_ada",
        ids::PRODUCT_EVENT,
        PurchaseStatus::Valid,
        5_000,
    )
    .await
    .unwrap();
    builders::purchase(
        &bed.db.db,
        "p_bad",
        "u_ada",
        ids::PRODUCT_WORKSHOP,
        PurchaseStatus::Valid,
        100,
    )
    .await
    .unwrap();
    {
        let mut s = bed.ck.state.lock().unwrap();
        s.fail_next.push_back((429, Some("1".into())));
        s.fail_next.push_back((502, None));
    }
    // Only the main account is configured.
    let d = start(&bed.env(false));
    let ev = announce(&d.api, "p_new").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["convertkit"], json!({"found": false, "updated": false}));
    assert_eq!(run["output"]["ttConvertkit"], json!({"skipped": "not configured"}));
    let s = step(&run, "get convertkit user");
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
    assert_eq!(bed.ck.requests(MAIN).len(), 3, "three lookups, nothing written");
    assert!(bed.ck.requests(TT).is_empty());

    // A purchase without a buyer: the event's `user` is the buyer (as the original read it).
    ingot::platform::commerce::purchases::ensure_purchase(
        &bed.db.db,
        &ingot::platform::commerce::purchases::NewPurchase {
            id: "p_anon".into(),
            product_id: ids::PRODUCT_WORKSHOP.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    bed.ck
        .subscriber(MAIN, 9, "ada@example.com", &["purchased_typescript_for_ai_on"]);
    let ev = d
        .api
        .send(
            json!({"name": "purchase/created", "user": {"id": "u_ada", "email": "ada@example.com"},
            "data": {"purchaseId": "p_anon", "productType": "membership"}}),
        )
        .await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev[0], FN).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        (
            run["output"]["email"].as_str(),
            run["output"]["convertkit"]["subscriberId"].as_u64()
        ),
        (Some("ada@example.com"), Some(9)),
        "{run}"
    );

    // ConvertKit refuses (400): non-retriable; and a purchase that does not exist.
    bed.ck.state.lock().unwrap().fail_next.push_back((400, None));
    for (id, failed) in [("p_bad", "get convertkit user"), ("p_ghost", "get purchase")] {
        let ev = announce(&d.api, id).await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev, FN).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(
            (
                step(&run, failed)["attempts"].as_u64(),
                step(&run, failed)["error"]["name"].as_str()
            ),
            (Some(1), Some("NonRetriableError")),
            "{run}"
        );
        assert!(
            !run.to_string().contains(MAIN),
            "the API secret is in no error or output: {run}"
        );
    }
}
