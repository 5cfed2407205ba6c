//! Live events end to end: `post-event-purchase` (the buyer on the Google Calendar event or every event of a
//! series, organization membership) and `send-live-event-welcome-email` (dates in Los Angeles time, individual
//! and team variants), against the stateful fake Google Calendar and the SMTP sink; a kill -9 and replays
//! (`durability.rs`); lifecycle scenario 7 from the signed Stripe webhooks (`lifecycle.rs`). This file holds the
//! test bed: the demo catalogue, a buyer, the calendar events and the daemon's settings.

mod calendar;
mod durability;
mod lifecycle;
mod welcome_email;

use crate::support::fake_google::{FakeGoogle, HOST};
use crate::support::process::{Daemon, base_env};
use crate::support::smtp_sink::SmtpSink;
use crate::support::{Api, Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus;
use ingot::platform::commerce::coupons::{self, NewCoupon};
use ingot::platform::commerce::purchases::{self, NewPurchase};
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};

pub(super) const BUYER: &str = "u_live_buyer";
pub(super) const BUYER_EMAIL: &str = "buyer@example.com";
pub(super) const POST: &str = "post-event-purchase";
pub(super) const WELCOME: &str = "send-live-event-welcome-email";

pub(super) struct Bed {
    pub(super) db: TestDb,
    pub(super) google: FakeGoogle,
    pub(super) sink: SmtpSink,
}

impl Bed {
    /// The demo catalogue, a buyer, extra live products (no event; an event without a calendar or dates; a
    /// series without events), a team coupon, and the calendar events in Google: Office Hours with a host, another
    /// attendee listed twice; day 1 of the series with the host; day 2 deleted in Google.
    pub(super) async fn new(b: Backend, reject: Option<&str>) -> Bed {
        let db = TestDb::new(b).await;
        let d = &db.db;
        demo::load(d).await.unwrap();
        builders::user(d, BUYER, BUYER_EMAIL, "Buyer Person").await.unwrap();
        builders::user(d, "u_reject", "reject@example.com", "Rejected Person")
            .await
            .unwrap();
        builders::resource(d, "ev_nocal", "event", "Unscheduled", json!({}))
            .await
            .unwrap();
        builders::product(d, "prod_nocal", "live", "Unscheduled", 100, json!({}), &["ev_nocal"])
            .await
            .unwrap();
        builders::resource(d, "ev_untitled", "event", "", json!({"calendarId": "gcal_untitled"}))
            .await
            .unwrap();
        builders::product(d, "prod_untitled", "live", "Untitled", 100, json!({}), &["ev_untitled"])
            .await
            .unwrap();
        builders::product(d, "prod_noevent", "live", "Nothing Yet", 100, json!({}), &[])
            .await
            .unwrap();
        builders::resource(d, "series_empty", "event-series", "Empty Series", json!({}))
            .await
            .unwrap();
        builders::product(
            d,
            "prod_series_empty",
            "live",
            "Empty Series",
            100,
            json!({}),
            &["series_empty"],
        )
        .await
        .unwrap();
        coupons::ensure_coupon(
            d,
            &NewCoupon {
                id: "coupon_live_team".into(),
                fields: json!({}),
                max_uses: 3,
                percentage_discount: Some(1.0),
                restricted_to_product_id: Some(ids::PRODUCT_EVENT_SERIES.into()),
                ..NewCoupon::default()
            },
        )
        .await
        .unwrap();
        let google = FakeGoogle::start().await;
        let attendee = |e: &str| json!({"email": e, "responseStatus": "accepted"});
        google.put(
            json!({"id": "gcal_demo_office_hours", "summary": "Office Hours", "status": "confirmed",
            "attendees": [attendee(HOST), attendee("other@example.com"), attendee("Other@Example.com ")]}),
        );
        google.put(
            json!({"id": "gcal_demo_day_1", "summary": "Day 1", "status": "confirmed", "attendees": [attendee(HOST)]}),
        );
        let sink = SmtpSink::start(reject, None).await;
        Bed { db, google, sink }
    }

    /// The daemon's settings: Google, SMTP, the site, a support address.
    pub(super) fn env(&self) -> Vec<(String, String)> {
        let mut env = base_env(&self.db.url);
        env.extend(self.google.env());
        for (k, v) in [
            ("SMTP_URL", self.sink.url()),
            ("EMAIL_FROM", "AI Hero <team@aihero.test>".into()),
            ("NEXT_PUBLIC_SUPPORT_EMAIL", "support@aihero.test".into()),
            ("NEXT_PUBLIC_URL", "https://aihero.test".into()),
            ("NEXT_PUBLIC_SITE_TITLE", "AI Hero".into()),
        ] {
            env.push((k.into(), v));
        }
        env
    }

    /// A purchase of a product by a user.
    pub(super) async fn purchase(
        &self,
        id: &str,
        user: &str,
        product: &str,
        status: PurchaseStatus,
        org: Option<&str>,
        bulk: Option<&str>,
    ) {
        purchases::ensure_purchase(
            &self.db.db,
            &NewPurchase {
                id: id.into(),
                user_id: Some(user.into()),
                product_id: product.into(),
                organization_id: org.map(str::to_string),
                total_amount_cents: 5_000,
                status: Some(status),
                bulk_coupon_id: bulk.map(str::to_string),
                ..NewPurchase::default()
            },
        )
        .await
        .unwrap();
    }
}

/// `purchase/created` for a live purchase (checkout session `cs_<purchase>`); returns our event id.
pub(super) async fn announce(api: &Api, purchase_id: &str) -> String {
    let ids = api
        .send(
            json!({"name": "purchase/created", "data": {"purchaseId": purchase_id, "productType": "live",
            "checkoutSessionId": format!("cs_{purchase_id}")}}),
        )
        .await;
    ids[0].clone()
}

/// Starts the daemon on the bed.
pub(super) fn start(bed: &Bed) -> Daemon {
    Daemon::start(&bed.env())
}

/// The names of a run's steps.
pub(super) fn names(run: &Value) -> Vec<String> {
    crate::workflows::harness::step_names(run)
}
