//! `post-event-purchase`: a single event, a series in an organization (by the original event name), every skip
//! and non-retriable case, and Google's 429 / 5xx / 403.

use super::*;
use crate::both;
use crate::workflows::fanout_support::run_of;
use ingot::platform::organizations;

both!(single_event_adds_the_buyer_once, single_impl);
async fn single_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase("p_single", BUYER, ids::PRODUCT_EVENT, PurchaseStatus::Valid, None, None)
        .await;
    let d = start(&bed);
    let ev = announce(&d.api, "p_single").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, POST).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        names(&run),
        [
            "get purchase",
            "get product",
            "get user",
            "get event resource",
            "get org membership",
            "add user to calendar event",
        ]
    );
    // The three loads are read steps, recorded together by the next write.
    bed.db
        .assert_recorded_together(
            run["id"].as_str().unwrap(),
            &["get purchase", "get product", "get user"],
        )
        .await;
    let out = &run["output"];
    assert_eq!(out["outcome"], "success");
    assert_eq!(out["isTeamPurchase"], false);
    assert_eq!(out["orgMembership"], Value::Null);
    assert_eq!(out["eventResource"]["resource"]["id"], ids::EVENT);
    assert_eq!(
        out["gCalEvent"],
        json!({"eventId": ids::EVENT, "calendarId": "gcal_demo_office_hours", "eventFound": true, "added": true,
            "duplicatesRemoved": 1})
    );
    // The buyer once, the repeated attendee once, the host and their response statuses kept.
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com", BUYER_EMAIL]
    );
    assert_eq!(
        bed.google.event("gcal_demo_office_hours").unwrap()["attendees"][0]["responseStatus"],
        "accepted"
    );
    let patches = bed.google.requests("PATCH");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].0, "gcal_demo_office_hours");
    assert_eq!(
        patches[0].1.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["attendees"],
        "only the attendee list is patched"
    );
    assert_eq!(bed.google.requests("GET").len(), 1);
    assert!(bed.google.requests("POST").is_empty());

    // A second ticket for the same event: already an attendee, one more GET and no PATCH.
    bed.purchase(
        "p_single_2",
        BUYER,
        ids::PRODUCT_EVENT,
        PurchaseStatus::Restricted,
        None,
        None,
    )
    .await;
    let ev = announce(&d.api, "p_single_2").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, POST).await;
    assert_eq!(
        (
            run["output"]["gCalEvent"]["added"].as_bool(),
            run["output"]["gCalEvent"]["eventFound"].as_bool()
        ),
        (Some(false), Some(true)),
        "{run}"
    );
    assert_eq!(bed.google.requests("PATCH").len(), 1);
    assert_eq!(bed.google.requests("GET").len(), 2);
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com", BUYER_EMAIL]
    );
}

both!(series_adds_every_event_and_the_organization, series_impl);
async fn series_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase(
        "p_series",
        BUYER,
        ids::PRODUCT_EVENT_SERIES,
        PurchaseStatus::Valid,
        Some(ids::TEAM_ORG),
        None,
    )
    .await;
    let d = start(&bed);
    // The original platform's name of the seat-redemption event.
    let ids_ = d
        .api
        .send(json!({"name": "commerce/full-price-coupon-redeemed",
            "data": {"purchaseId": "p_series", "productType": "live", "checkoutSessionId": "coupon-p_series"}}))
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids_[0]).await;
    assert_eq!(run["function_id"], POST);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        &names(&run)[4..],
        [
            "get org membership",
            "add user to calendar event (Live Build Day 1)",
            "add user to calendar event (Live Build Day 2)",
        ]
    );
    assert_eq!(
        run["output"]["gCalEvent"],
        json!([
            {"eventId": ids::SERIES_EVENTS[0], "calendarId": "gcal_demo_day_1", "eventFound": true, "added": true, "duplicatesRemoved": 0},
            {"eventId": ids::SERIES_EVENTS[1], "calendarId": "gcal_demo_day_2", "eventFound": false, "added": false, "duplicatesRemoved": 0},
        ])
    );
    assert_eq!(bed.google.attendees("gcal_demo_day_1"), [HOST, BUYER_EMAIL]);
    assert!(bed.google.event("gcal_demo_day_2").is_none(), "nothing created");
    assert_eq!(bed.google.requests("PATCH").len(), 1);
    // A learner in the purchase's organization, invited by themself.
    let m = organizations::get_membership(&bed.db.db, ids::TEAM_ORG, BUYER)
        .await
        .unwrap()
        .expect("a membership");
    assert_eq!(run["output"]["orgMembership"]["organizationMembershipId"], m.id);
    assert_eq!(
        organizations::member_role_names(&bed.db.db, &m.id).await.unwrap(),
        ["learner"]
    );
}

both!(skips_and_non_retriable_failures, skips_impl);
async fn skips_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    use PurchaseStatus::*;
    let team = Some("coupon_live_team");
    for (id, product, status, bulk) in [
        ("p_team", ids::PRODUCT_EVENT_SERIES, Valid, team),
        ("p_refunded", ids::PRODUCT_EVENT, Refunded, None),
        ("p_noevent", "prod_noevent", Valid, None),
        ("p_nocal", "prod_nocal", Valid, None),
    ] {
        bed.purchase(id, BUYER, product, status, None, bulk).await;
    }
    let d = start(&bed);
    for (id, outcome, reason) in [
        ("p_team", "team-purchase", None),
        ("p_refunded", "skipped", Some("Purchase is Refunded")),
        ("p_noevent", "skipped", Some("No event resource")),
        ("p_nocal", "skipped", Some("No calendarId")),
    ] {
        let ev = announce(&d.api, id).await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev, POST).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            (run["output"]["outcome"].as_str(), run["output"]["reason"].as_str()),
            (Some(outcome), reason),
            "{run}"
        );
        assert_eq!(run["output"]["isTeamPurchase"], id == "p_team");
        assert_eq!(run["output"]["gCalEvent"], Value::Null);
    }
    // Announced again: the idempotency key (the purchase id) skips it.
    let ev = announce(&d.api, "p_nocal").await;
    d.api.drain().await;
    let ev_ = d.api.get_ok(&format!("/api/v1/events/{ev}")).await;
    assert!(
        ev_["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["reason"] == "idempotency_key"),
        "{ev_}"
    );

    // A purchase that does not exist, an event without a title (invalid): non-retriable, one attempt.
    bed.purchase("p_untitled", BUYER, "prod_untitled", Valid, None, None)
        .await;
    for (id, failed, message) in [
        ("p_ghost", "get purchase", "Purchase not found"),
        ("p_untitled", "get event resource", "has no title"),
    ] {
        let ev = announce(&d.api, id).await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev, POST).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = crate::workflows::harness::step(&run, failed);
        assert_eq!(
            (s["attempts"].as_u64(), s["error"]["name"].as_str()),
            (Some(1), Some("NonRetriableError")),
            "{s}"
        );
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }

    // A cohort purchase is not this function's.
    let ids_ = d
        .api
        .send(json!({"name": "purchase/created", "data": {"purchaseId": "p_single", "productType": "cohort"}}))
        .await;
    d.api.drain().await;
    assert!(
        d.api.runs_of(&ids_[0]).await.iter().all(|r| r["function_id"] != POST),
        "no post-event-purchase run"
    );
    assert!(
        bed.google.state.lock().unwrap().requests.is_empty(),
        "Google never asked"
    );
}

both!(google_rate_limits_and_outages_retry_refusals_fail, google_impl);
async fn google_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase("p_retry", BUYER, ids::PRODUCT_EVENT, PurchaseStatus::Valid, None, None)
        .await;
    bed.purchase(
        "p_refused",
        BUYER,
        ids::PRODUCT_EVENT_SERIES,
        PurchaseStatus::Valid,
        None,
        None,
    )
    .await;
    {
        let mut s = bed.google.state.lock().unwrap();
        s.fail_next.push_back((429, Some("1".into())));
        s.fail_next.push_back((500, None));
    }
    let d = start(&bed);
    let ev = announce(&d.api, "p_retry").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, POST).await;
    assert_eq!(run["status"], "completed", "{run}");
    let step = crate::workflows::harness::step(&run, "add user to calendar event");
    assert_eq!(step["attempts"], 3, "{step}");
    let errors: Vec<&str> = step["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["error"]["message"].as_str())
        .collect();
    assert_eq!(errors.len(), 2, "{step}");
    assert!(errors[0].contains("rate limited"), "{errors:?}");
    assert!(errors[1].contains("unavailable"), "{errors:?}");
    assert_eq!(
        bed.google.attendees("gcal_demo_office_hours"),
        [HOST, "other@example.com", BUYER_EMAIL]
    );
    assert_eq!(bed.google.requests("PATCH").len(), 1);

    // Google refuses to change day 1 (403): non-retriable, the run fails after one attempt.
    bed.google
        .state
        .lock()
        .unwrap()
        .forbidden
        .push("gcal_demo_day_1".into());
    let ev = announce(&d.api, "p_refused").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, POST).await;
    assert_eq!(run["status"], "failed", "{run}");
    let step = crate::workflows::harness::step(&run, "add user to calendar event (Live Build Day 1)");
    assert_eq!(step["attempts"], 1, "{step}");
    assert!(run["error"]["message"].as_str().unwrap().contains("Forbidden"), "{run}");
    assert_eq!(bed.google.attendees("gcal_demo_day_1"), [HOST]);
}
