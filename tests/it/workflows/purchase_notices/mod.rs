//! The notices every purchase sends: `send-post-purchase-email` (magic login link through `verification_tokens`,
//! invoice link), `send-post-purchase-slack` and `shortlink-attribution`, against wiremock Stripe and Slack and
//! the SMTP sink; a kill -9 while the login email is in flight and a replay (`durability.rs`). This file holds
//! the bed: the demo catalogue, a buyer, the fakes and the daemon's settings.

mod durability;
mod email;
mod slack_and_shortlink;

use crate::support::process::{Daemon, base_env};
use crate::support::smtp_sink::{Hold, SmtpSink};
use crate::support::{Api, Backend, TestDb};
use crate::workflows::fanout_support::buy;
use crate::workflows::harness::Checkout;
use ingot::platform::commerce::purchases::Purchase;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(super) const BUYER: &str = "u_notice_buyer";
pub(super) const BUYER_EMAIL: &str = "notice.buyer@example.com";
pub(super) const SECRET: &str = "nextauth-test-secret";
pub(super) const SLACK_PATH: &str = "/services/T000/B000/hook";

pub(super) struct Bed {
    pub(super) db: TestDb,
    pub(super) stripe: MockServer,
    pub(super) slack: MockServer,
    pub(super) sink: SmtpSink,
}

impl Bed {
    pub(super) async fn new(b: Backend, reject: Option<&str>, hold: Option<Arc<Hold>>) -> Bed {
        let db = TestDb::new(b).await;
        demo::load(&db.db).await.unwrap();
        builders::user(&db.db, BUYER, BUYER_EMAIL, "Nora Notice").await.unwrap();
        builders::user(&db.db, "u_reject", "reject@example.com", "Rita Reject")
            .await
            .unwrap();
        Bed {
            db,
            stripe: MockServer::start().await,
            slack: MockServer::start().await,
            sink: SmtpSink::start_with_hold(reject, None, hold).await,
        }
    }

    /// Every setting: Stripe, SMTP, Slack, the site, the Auth.js secret and the invoice site.
    pub(super) fn env(&self) -> Vec<(String, String)> {
        let mut env = base_env(&self.db.url);
        for (k, v) in [
            ("STRIPE_SECRET_KEY", "sk_test_n".to_string()),
            ("STRIPE_API_BASE_URL", self.stripe.uri()),
            ("SMTP_URL", self.sink.url()),
            ("EMAIL_FROM", "AI Hero <team@aihero.test>".into()),
            ("NEXT_PUBLIC_URL", "https://aihero.test".into()),
            ("NEXT_PUBLIC_SITE_TITLE", "AI Hero".into()),
            ("NEXTAUTH_SECRET", SECRET.into()),
            ("COURSEBUILDER_URL", "https://builder.aihero.test".into()),
            ("SLACK_WEBHOOK_URL", format!("{}{SLACK_PATH}", self.slack.uri())),
        ] {
            env.push((k.into(), v));
        }
        env
    }

    /// The env without the named settings.
    pub(super) fn env_without(&self, names: &[&str]) -> Vec<(String, String)> {
        self.env()
            .into_iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .collect()
    }

    /// A checkout of a demo product by `user` through the platform (charge `ch_<tag>`, session `cs_ch_<tag>`),
    /// with Stripe answering for its session (expanded or not) with `metadata` and `quantity`.
    pub(super) async fn checkout(
        &self,
        tag: &str,
        user: &str,
        email: &str,
        product: &str,
        metadata: Value,
        quantity: i64,
    ) -> Purchase {
        let charge = format!("ch_{tag}");
        let purchase = buy(&self.db, user, product, &charge, quantity as i32).await;
        let mut c = Checkout::new(
            &format!("cs_{charge}"),
            email,
            &format!("stripe_{product}"),
            5_000 * quantity,
        );
        c.metadata = metadata;
        c.quantity = quantity;
        c.charge = charge;
        Mock::given(method("GET"))
            .and(path(c.path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
            .mount(&self.stripe)
            .await;
        purchase
    }

    /// Slack answers `ok`, as an incoming webhook does.
    pub(super) async fn slack_ok(&self) {
        Mock::given(method("POST"))
            .and(path(SLACK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&self.slack)
            .await;
    }

    /// The JSON bodies Slack received.
    pub(super) async fn slack_posts(&self) -> Vec<Value> {
        self.slack
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

/// `purchase/created` for a purchase (with its checkout session, if any); returns our event id. The product
/// type is `membership`, which neither `post-purchase-workflow` nor the live-event functions act on, so the
/// sink holds only these functions' emails.
pub(super) async fn announce(api: &Api, purchase_id: &str, session: Option<&str>) -> String {
    let mut data = json!({"purchaseId": purchase_id, "productType": "membership"});
    if let Some(s) = session {
        data["checkoutSessionId"] = json!(s);
    }
    api.send(json!({"name": "purchase/created", "data": data})).await[0].clone()
}

pub(super) fn start(env: &[(String, String)]) -> Daemon {
    Daemon::start(env)
}
