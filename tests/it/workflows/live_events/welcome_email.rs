//! `send-live-event-welcome-email`: the individual email for a single event, the team email for a series (the
//! first event's dates, seats, invite link), every skip and non-retriable case, and a refused recipient.

use super::*;
use crate::both;
use crate::workflows::fanout_support::{body, header, run_of, subject};

both!(individual_buyer_gets_los_angeles_dates, individual_impl);
async fn individual_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase("p_one", BUYER, ids::PRODUCT_EVENT, PurchaseStatus::Valid, None, None)
        .await;
    let d = start(&bed);
    let ev = announce(&d.api, "p_one").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, WELCOME).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "cs_p_one");
    assert_eq!(
        names(&run),
        [
            "Load Purchase",
            "Load Product",
            "Load User",
            "Load Event",
            "send welcome email"
        ]
    );
    let out = &run["output"];
    // 18:00–19:00 UTC on December 3rd is 10–11 AM in Los Angeles.
    assert_eq!(
        (
            out["startDate"].as_str(),
            out["startTime"].as_str(),
            out["endTime"].as_str()
        ),
        (Some("December 3rd, 2026"), Some("10:00 AM"), Some("11:00 AM"))
    );
    assert_eq!(
        (out["to"].as_str(), out["template"].as_str(), out["quantity"].as_i64()),
        (Some(BUYER_EMAIL), Some("live_event_welcome"), Some(1))
    );
    let mails = bed.sink.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    assert_eq!(m.to, [BUYER_EMAIL]);
    assert_eq!(subject(&m.data), "You're in! Get Ready for Office Hours! 🎉");
    assert_eq!(header(&m.data, "Reply-To").as_deref(), Some("support@aihero.test"));
    assert_eq!(header(&m.data, "Message-ID").as_deref(), out["messageId"].as_str());
    let text = body(&m.data);
    assert!(text.contains("Hi Buyer,"), "{text}");
    assert!(
        text.contains("December 3rd, 2026, 10:00 AM – 11:00 AM (Pacific Time)"),
        "{text}"
    );
    assert!(text.contains("Write to support@aihero.test"), "{text}");
    assert!(
        !text.contains("seats"),
        "an individual email states no seat count: {text}"
    );
}

both!(team_buyer_gets_seats_and_the_first_series_date, team_impl);
async fn team_impl(b: Backend) {
    let bed = Bed::new(b, None).await;
    bed.purchase(
        "p_team",
        BUYER,
        ids::PRODUCT_EVENT_SERIES,
        PurchaseStatus::Valid,
        None,
        Some("coupon_live_team"),
    )
    .await;
    let d = start(&bed);
    let ev = announce(&d.api, "p_team").await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, WELCOME).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        names(&run),
        [
            "Load Purchase",
            "Load Bulk Coupon",
            "Load Product",
            "Load User",
            "Load Event",
            "send welcome email",
        ]
    );
    assert_eq!(run["output"]["template"], "live_event_welcome_team");
    assert_eq!(run["output"]["quantity"], 3);
    let mails = bed.sink.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(subject(&mails[0].data), "You're in! Get Ready for Live Build Week! 🎉");
    let text = body(&mails[0].data);
    assert!(text.contains("3 seats for Live Build Week"), "{text}");
    // Day 1 of the series: 18:00–20:00 UTC on December 10th.
    assert!(
        text.contains("December 10th, 2026, 10:00 AM – 12:00 PM (Pacific Time)"),
        "{text}"
    );
    assert!(text.contains("https://aihero.test/?code=coupon_live_team"), "{text}");
}

both!(skips_failures_and_a_refused_recipient, skips_impl);
async fn skips_impl(b: Backend) {
    let bed = Bed::new(b, Some("reject@example.com")).await;
    use PurchaseStatus::Valid;
    for (id, user, product) in [
        ("p_nodates", BUYER, "prod_nocal"),
        ("p_workshop", BUYER, ids::PRODUCT_WORKSHOP),
        ("p_noevent", BUYER, "prod_noevent"),
        ("p_empty", BUYER, "prod_series_empty"),
        ("p_reject", "u_reject", ids::PRODUCT_EVENT),
    ] {
        bed.purchase(id, user, product, Valid, None, None).await;
    }
    let d = start(&bed);
    for (id, reason) in [
        ("p_nodates", "No event dates available"),
        ("p_workshop", "Product is not a live event"),
        ("p_empty", "No event found"),
    ] {
        let ev = announce(&d.api, id).await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev, WELCOME).await;
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            (run["output"]["skipped"].as_bool(), run["output"]["reason"].as_str()),
            (Some(true), Some(reason)),
            "{run}"
        );
    }
    for (id, failed_step, message) in [
        ("p_noevent", "Load Event", "Content Resource Product not found"),
        ("p_ghost", "Load Purchase", "Purchase not found"),
        ("p_reject", "send welcome email", "mailbox unavailable"),
    ] {
        let ev = announce(&d.api, id).await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev, WELCOME).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = crate::workflows::harness::step(&run, failed_step);
        assert_eq!(
            (s["attempts"].as_u64(), s["error"]["name"].as_str()),
            (Some(1), Some("NonRetriableError")),
            "{s}"
        );
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }
    assert!(bed.sink.received().is_empty(), "{:?}", bed.sink.received());
}
