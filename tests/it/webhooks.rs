//! Webhooks in: Stripe's signature (valid, tampered body, wrong secret, stale timestamp, rotation, replayed event
//! id), the mapping to our events, and the Postmark, Mux, Deepgram and OCR callbacks' authentication. Every
//! refused request stores nothing; every accepted one is stored before the 200.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::http::webhooks::sign;
use ingot_actors::{FunctionDef, Trigger};
use serde_json::{Value, json};

fn checkout_fn() -> FunctionDef {
    FunctionDef::new("on-checkout", "On checkout", |ctx| async move {
        Ok(json!({"session": ctx.event["data"]["stripeEvent"]["data"]["object"]["id"]}))
    })
    .trigger(Trigger::event("stripe/checkout-session-completed"))
}

async fn start(db: &TestDb) -> InProc {
    InProc::start(
        &db.url,
        vec![checkout_fn()],
        &[
            ("stripe_webhook_secret", "whsec_new, whsec_old"),
            ("postmark_webhook_secret", "pm_secret"),
            ("mux_webhook_secret", "mux_secret"),
            ("deepgram_callback_secret", "dg_secret"),
            ("ocr_webhook_secret", "ocr_secret"),
        ],
    )
    .await
}

async fn post(d: &InProc, path: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut req = crate::support::http_client()
        .post(format!("{}{path}", d.api.base))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.expect("daemon reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// (path, headers, body, expected event name, expected data).
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, &'a str, Value);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn checkout_event(id: &str) -> String {
    json!({"id": id, "type": "checkout.session.completed", "data": {"object": {"id": "cs_1", "mode": "payment"}}})
        .to_string()
}

async fn events(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) AS n FROM events", &[]).await
}

both!(stripe_signatures, stripe_signatures_impl);
async fn stripe_signatures_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = start(&db).await;
    let body = checkout_event("evt_1");
    let stripe = |sig: String| vec![("stripe-signature", sig)];
    // Refused, nothing stored: tampered body, wrong secret, stale timestamp, no header, garbage header.
    let tampered = body.replace("cs_1", "cs_2");
    for (headers, what) in [
        (stripe(sign("whsec_new", now(), body.as_bytes())), tampered.as_str()),
        (stripe(sign("whsec_wrong", now(), body.as_bytes())), body.as_str()),
        (stripe(sign("whsec_new", now() - 301, body.as_bytes())), body.as_str()),
        (vec![], body.as_str()),
        (stripe("t=abc,v1=zz".into()), body.as_str()),
    ] {
        let (status, answer) = post(&d, "/webhooks/stripe", &headers, what).await;
        assert_eq!(status, 400, "{headers:?}: {answer}");
    }
    assert_eq!(events(&db).await, 0, "a refused webhook stores nothing");
    // Valid, signed with the old secret during a rotation: stored, one run.
    let (status, answer) = post(
        &d,
        "/webhooks/stripe",
        &stripe(sign("whsec_old", now(), body.as_bytes())),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["ids"][0].as_str().unwrap().to_string();
    // Stripe retries the same event (a fresh signature): acknowledged; its delivery was recorded in
    // merchant_events, so nothing new is stored and no second run starts.
    let (status, _) = post(
        &d,
        "/webhooks/stripe",
        &stripe(sign("whsec_new", now(), body.as_bytes())),
        &body,
    )
    .await;
    assert_eq!(status, 200);
    d.api.drain().await;
    let runs = d.api.runs_of(&id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["output"], json!({"session": "cs_1"}));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 1);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events", &[]).await,
        1,
        "the redelivery stored no event"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM merchant_events WHERE identifier = 'evt_1' AND payload = $1",
            &[&body]
        )
        .await,
        1,
        "the delivery recorded once, with its payload"
    );
    let ev = d.api.get_ok(&format!("/api/v1/events/{id}")).await;
    assert_eq!(ev["event"]["name"], "stripe/checkout-session-completed");
    assert_eq!(ev["event"]["id"], "stripe:evt_1");
    d.stop().await;
}

both!(stripe_event_mapping, stripe_event_mapping_impl);
async fn stripe_event_mapping_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = start(&db).await;
    let send = |body: Value| {
        let body = body.to_string();
        let sig = sign("whsec_new", now(), body.as_bytes());
        let d = &d;
        async move { post(d, "/webhooks/stripe", &[("stripe-signature", sig)], &body).await }
    };
    let names = |answer: Value| {
        let d = &d;
        async move {
            let mut out = Vec::new();
            for id in answer["ids"].as_array().unwrap() {
                let ev = d.api.get_ok(&format!("/api/v1/events/{}", id.as_str().unwrap())).await;
                out.push((
                    ev["event"]["name"].as_str().unwrap().to_string(),
                    ev["event"]["data"].clone(),
                ));
            }
            out
        }
    };
    let (s, a) = send(json!({"id": "evt_r", "type": "charge.refunded", "data": {"object": {"id": "ch_1", "refunded": true, "amount": 100, "amount_refunded": 100}}})).await;
    assert_eq!(s, 200);
    assert_eq!(
        names(a).await,
        [
            (
                "stripe/refund-processed".to_string(),
                json!({"stripeChargeId": "ch_1", "merchantChargeId": "ch_1"})
            ),
            (
                "commerce/update-purchase-status".to_string(),
                json!({"stripeChargeId": "ch_1", "status": "Refunded"})
            ),
        ]
    );
    // A partial refund that leaves money on the charge: acknowledged, nothing stored.
    let (s, a) =
        send(json!({"id": "evt_p", "type": "charge.refunded", "data": {"object": {"id": "ch_2", "refunded": false}}}))
            .await;
    assert_eq!((s, a["ids"].as_array().unwrap().len()), (200, 0));
    let (_, a) = send(
        json!({"id": "evt_d", "type": "charge.dispute.created", "data": {"object": {"id": "dp_1", "charge": "ch_3"}}}),
    )
    .await;
    assert_eq!(
        names(a).await[0],
        (
            "commerce/update-purchase-status".to_string(),
            json!({"stripeChargeId": "ch_3", "status": "Disputed"})
        )
    );
    for (kind, name) in [
        ("customer.subscription.created", "stripe/customer-subscription-created"),
        ("customer.subscription.updated", "stripe/customer-subscription-updated"),
        ("customer.subscription.deleted", "stripe/customer-subscription-deleted"),
        ("invoice.payment_succeeded", "stripe/invoice-payment-succeeded"),
    ] {
        let ev = json!({"id": format!("evt_{kind}"), "type": kind, "data": {"object": {"id": "x"}}});
        let (_, a) = send(ev.clone()).await;
        assert_eq!(names(a).await, [(name.to_string(), json!({"stripeEvent": ev}))]);
    }
    let (s, a) = send(json!({"id": "evt_o", "type": "payout.paid", "data": {"object": {}}})).await;
    assert_eq!((s, a["ids"].as_array().unwrap().len()), (200, 0));
    // Every delivery is recorded, mapped or not, under the `stripe` merchant account the first one created.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM merchant_events", &[]).await, 8);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM merchant_accounts WHERE id = 'ma_stripe' AND label = 'stripe'",
            &[]
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM merchant_events WHERE merchant_account_id = 'ma_stripe'",
            &[]
        )
        .await,
        8
    );
    // A delivery seen before: 200, nothing stored, flagged as a duplicate.
    let (s, a) = send(json!({"id": "evt_o", "type": "payout.paid", "data": {"object": {}}})).await;
    assert_eq!((s, a["duplicate"].as_bool()), (200, Some(true)), "{a}");
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM merchant_events", &[]).await, 8);
    d.stop().await;
}

both!(other_providers_authenticate, other_providers_impl);
async fn other_providers_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = start(&db).await;
    let bounce =
        json!({"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@example.com", "MessageID": "m1"}).to_string();
    use base64::Engine;
    let basic = |p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("postmark:{p}"))
        )
    };
    // Refused: no secret, wrong header, wrong basic-auth password.
    for headers in [
        vec![],
        vec![("course-builder", "nope".to_string())],
        vec![("authorization", basic("nope"))],
    ] {
        assert_eq!(post(&d, "/webhooks/postmark", &headers, &bounce).await.0, 401);
    }
    let mux = json!({"id": "mux_evt_1", "type": "video.asset.ready", "data": {"id": "as_1"}}).to_string();
    assert_eq!(
        post(&d, "/webhooks/mux", &[], &mux).await.0,
        400,
        "unsigned while a secret is set"
    );
    let bad_mux = [("mux-signature", sign("other", now(), mux.as_bytes()))];
    assert_eq!(post(&d, "/webhooks/mux", &bad_mux, &mux).await.0, 400);
    let dg = json!({"metadata": {"request_id": "req_1"}, "results": {"channels": []}}).to_string();
    assert_eq!(
        post(&d, "/webhooks/deepgram?videoResourceId=vr_1&secret=wrong", &[], &dg)
            .await
            .0,
        401
    );
    let ocr = json!({"screenshotUrl": "https://x/s.png", "resourceId": "r1"}).to_string();
    assert_eq!(
        post(&d, "/webhooks/ocr", &[("authorization", "Bearer wrong".into())], &ocr)
            .await
            .0,
        401
    );
    assert_eq!(events(&db).await, 0);

    // Accepted: each becomes its event.
    let cases: Vec<Case> = vec![
        (
            "/webhooks/postmark",
            vec![("course-builder", "pm_secret".into())],
            &bounce,
            "postmark/webhook",
            json!({"event": "Bounce", "data": serde_json::from_str::<Value>(&bounce).unwrap()}),
        ),
        (
            "/webhooks/mux",
            vec![("mux-signature", sign("mux_secret", now(), mux.as_bytes()))],
            &mux,
            "mux/web-hook-event",
            json!({"muxWebhookEvent": serde_json::from_str::<Value>(&mux).unwrap()}),
        ),
        (
            "/webhooks/deepgram?videoResourceId=vr_1&secret=dg_secret",
            vec![],
            &dg,
            "deepgram/web-hook-event",
            json!({"videoResourceId": "vr_1", "results": serde_json::from_str::<Value>(&dg).unwrap()}),
        ),
        (
            "/webhooks/ocr",
            vec![("authorization", "Bearer ocr_secret".into())],
            &ocr,
            "ocr/webhook",
            json!({"data": serde_json::from_str::<Value>(&ocr).unwrap()}),
        ),
    ];
    for (path, headers, body, name, data) in cases {
        let (status, answer) = post(&d, path, &headers, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let ev = d
            .api
            .get_ok(&format!("/api/v1/events/{}", answer["ids"][0].as_str().unwrap()))
            .await;
        assert_eq!(
            (ev["event"]["name"].as_str().unwrap(), &ev["event"]["data"]),
            (name, &data),
            "{path}"
        );
    }
    // Postmark through basic auth; the same body again is a duplicate.
    assert_eq!(
        post(
            &d,
            "/webhooks/postmark",
            &[("authorization", basic("pm_secret"))],
            &bounce
        )
        .await
        .0,
        200
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE duplicate = TRUE", &[])
            .await,
        1
    );
    assert_eq!(events(&db).await, 5);
    d.stop().await;
}

both!(unconfigured_webhooks_refuse, unconfigured_impl);
async fn unconfigured_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = InProc::start(&db.url, vec![], &[]).await;
    let body = checkout_event("evt_1");
    let (status, answer) = post(
        &d,
        "/webhooks/stripe",
        &[("stripe-signature", sign("x", now(), body.as_bytes()))],
        &body,
    )
    .await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("STRIPE_WEBHOOK_SECRET"));
    // A body over the 3 MiB event cap is refused before anything else.
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(4 << 20));
    assert_eq!(post(&d, "/webhooks/ocr", &[], &huge).await.0, 413);
    assert_eq!(events(&db).await, 0);
    d.stop().await;
}
