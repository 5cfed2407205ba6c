//! ConvertKit: a kill -9 while ConvertKit holds its answer to the backfill's first field update (after the
//! restart only that step runs again; every lookup before it replays), and a replayed `purchase/created` that
//! asks ConvertKit nothing.

use super::*;
use crate::both;
use crate::workflows::fanout_support::run_of;
use ingot::platform::commerce::PurchaseStatus;
use ingot::seed::demo::ids;
use std::time::Instant;

both!(kill9_during_the_backfill_resumes_where_it_stopped, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.ck.subscriber(MAIN, 1, "alice@example.com", &[]);
    bed.ck.subscriber(MAIN, 2, "bob@example.com", &[]);
    bed.ck.state.lock().unwrap().first_put_delay = Some(Duration::from_secs(30));
    let env = bed.env(false);
    let d = start(&env);
    let sent = d.api.send(json!({"name": "sync/purchase-tags", "data": {}})).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bed.ck.requests(MAIN).iter().any(|r| r.0 == "PUT") {
        assert!(Instant::now() < deadline, "the first PUT never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    let field = "purchased_ai_engineering_cohort_on";
    let value = json!(bed.purchased_on(ids::PURCHASE_ALICE_COHORT).await);
    assert_eq!(
        bed.ck.field(MAIN, "alice@example.com", field),
        value,
        "applied before the kill"
    );

    let d = start(&env);
    d.api.drain_all().await;
    let run = d.api.only_run(&sent[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"purchases": 5, "updated": 3, "notSubscribed": 2, "next": null})
    );
    for s in run["steps"].as_array().unwrap() {
        let statuses: Vec<&str> = s["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if s["kind"] == "sleep" {
            &["waiting", "completed"]
        } else {
            &["completed"]
        };
        assert_eq!(statuses, expected, "every step recorded once: {s}");
    }
    // The interrupted update ran again: its field now exists (422, fine) and the PUT repeats the same value.
    let update = crate::workflows::harness::step(&run, "update convertkit user");
    assert_eq!(update["output"]["fieldCreated"], false, "{update}");
    let reqs: Vec<String> = bed
        .ck
        .requests(MAIN)
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        reqs.iter().filter(|r| *r == "GET /subscribers").count(),
        5,
        "no lookup repeated: {reqs:?}"
    );
    assert_eq!(
        &reqs[..5],
        [
            "GET /subscribers",
            "POST /custom_fields",
            "PUT /subscribers/1",
            "POST /custom_fields",
            "PUT /subscribers/1"
        ]
    );
    assert_eq!(bed.ck.field(MAIN, "alice@example.com", field), value);
    assert_eq!(
        bed.ck.field(MAIN, "bob@example.com", "purchased_typescript_for_ai_on"),
        json!(bed.purchased_on(ids::PURCHASE_BOB_WORKSHOP).await)
    );
}

both!(replayed_purchase_asks_convertkit_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let bed = Bed::new(b).await;
    builders::purchase(
        &bed.db.db,
        "p_rep",
        "u_ada",
        ids::PRODUCT_EVENT,
        PurchaseStatus::Valid,
        5_000,
    )
    .await
    .unwrap();
    bed.ck
        .subscriber(MAIN, 7, "ada@example.com", &["purchased_office_hours_on"]);
    bed.ck
        .subscriber(TT, 8, "ada@example.com", &["purchased_office_hours_on"]);
    let d = start(&bed.env(true));
    let event = json!({"name": "commerce/new-purchase-created", "id": "evt_ck_1",
        "data": {"purchaseId": "p_rep", "productType": "membership"}});
    let first = d.api.send(event.clone()).await;
    d.api.drain().await;
    let run = run_of(&d.api, &first[0], "add-purchases-convertkit").await;
    assert_eq!(run["status"], "completed", "{run}");
    let before = (bed.ck.requests(MAIN).len(), bed.ck.requests(TT).len());
    assert_eq!(before, (2, 2));
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!((bed.ck.requests(MAIN).len(), bed.ck.requests(TT).len()), before);
    assert_eq!(d.api.runs_of_function("add-purchases-convertkit").await.len(), 1);
}
