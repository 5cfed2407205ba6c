//! End to end: a signed Stripe `checkout.session.completed` webhook for the demo cohort product, through
//! `stripe-checkout-session-completed` and `post-purchase-workflow`, to the purchase, the content entitlements, the
//! Discord role entitlement, the emitted events and the welcome email in the SMTP sink. The README's walkthrough
//! "End to end: a Stripe purchase" is this test by hand.

use super::harness::{Checkout, completed_event, emitted, env, post_webhook, step, texts};
use crate::both;
use crate::support::process::Daemon;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{Backend, TestDb};
use ingot::seed::demo::{self, ids};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every function a paid cohort checkout starts, once each.
const FANOUT: [&str; 8] = [
    "add-discord-role-workflow",
    "add-purchases-convertkit",
    "grant-coupon-entitlements-for-purchase",
    "post-purchase-workflow",
    "send-post-purchase-email",
    "send-post-purchase-slack",
    "shortlink-attribution",
    "stripe-checkout-session-completed",
];

both!(stripe_webhook_to_welcome_email, e2e_impl);
async fn e2e_impl(b: Backend) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.expect("demo data");
    let (stripe, sink) = (MockServer::start().await, SmtpSink::start(None, None).await);
    let mut c = Checkout::new("cs_e2e", "new.learner@example.com", "stripe_prod_demo_cohort", 50_000);
    c.metadata = json!({"country": "US"});
    Mock::given(method("GET"))
        .and(path(c.path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(c.session_json()))
        .mount(&stripe)
        .await;
    let d = Daemon::start(&env(&db.url, &stripe.uri(), &sink.url()));

    // 1. The webhook: stored as our event, one checkout run.
    let ids = post_webhook(&d.api, &completed_event("evt_e2e", "cs_e2e", "payment", "paid")).await;
    d.api.drain().await;
    let webhook = d.api.get_ok(&format!("/api/v1/events/{}", ids[0])).await;
    assert_eq!(webhook["event"]["name"], "stripe/checkout-session-completed");
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 1);
    let checkout = &runs[0];
    assert_eq!(checkout["function_id"], "stripe-checkout-session-completed");
    assert_eq!(checkout["status"], "completed", "{checkout}");

    // 2. The purchase.
    let purchase = &checkout["output"]["purchase"];
    let purchase_id = purchase["id"].as_str().unwrap();
    let user_id = purchase["userId"].as_str().unwrap();
    assert_eq!(
        (purchase["status"].as_str(), purchase["productId"].as_str()),
        (Some("Valid"), Some(ids::PRODUCT_COHORT))
    );
    let valid = "SELECT COUNT(*) AS n FROM purchases WHERE id = $1 AND user_id = $2 AND status = 'Valid'";
    assert_eq!(db.count(valid, &[purchase_id, user_id]).await, 1);

    // 3. purchase/created started post-purchase-workflow, which completed.
    let announced = emitted(&db, &d.api, checkout, "send purchase created event").await;
    assert_eq!(announced[0]["event"]["name"], "purchase/created");
    assert_eq!(
        announced[0]["event"]["data"],
        json!({"purchaseId": purchase_id, "checkoutSessionId": "cs_e2e", "productType": "cohort"})
    );
    let post =
        super::fanout_support::run_of(&d.api, announced[0]["id"].as_str().unwrap(), "post-purchase-workflow").await;
    let post = &post;
    assert_eq!(post["status"], "completed", "{post}");
    assert_eq!(post["idempotency_key"], purchase_id);

    // 4. Entitlements: content access to every workshop, section and lesson of the cohort, and the Discord role.
    let live = "SELECT COUNT(*) AS n FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
                WHERE e.user_id = $1 AND t.name = $2 AND e.source_id = $3 AND e.deleted_at IS NULL";
    let access = db.count(live, &[user_id, "cohort_content_access", purchase_id]).await;
    assert_eq!(access, 9, "3 workshops, 2 sections, 4 lessons");
    let granted = texts(
        &db,
        "SELECT e.metadata AS t FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
         WHERE e.user_id = $1 AND t.name = 'cohort_content_access'",
        &[user_id],
    )
    .await
    .join(" ");
    for resource in ids::WORKSHOPS.iter().chain(&ids::SECTIONS).chain(&ids::LESSONS) {
        assert!(granted.contains(resource), "{resource} not granted: {granted}");
    }
    assert_eq!(db.count(live, &[user_id, "cohort_discord_role", purchase_id]).await, 1);
    let role = texts(
        &db,
        "SELECT e.metadata AS t FROM entitlements e JOIN entitlement_types t ON t.id = e.entitlement_type_id \
         WHERE e.user_id = $1 AND t.name = 'cohort_discord_role'",
        &[user_id],
    )
    .await;
    assert!(role[0].contains(ids::DISCORD_COHORT_ROLE), "{role:?}");
    let learner = "SELECT COUNT(*) AS n FROM organization_membership_roles r JOIN roles ON roles.id = r.role_id \
                   JOIN organization_memberships m ON m.id = r.organization_membership_id \
                   WHERE m.user_id = $1 AND roles.name = 'learner' AND r.deleted_at IS NULL";
    assert_eq!(
        db.count(learner, &[user_id]).await,
        1,
        "a learner in their organization"
    );

    // 5. The events the chain emitted, each once.
    let names = texts(
        &db,
        "SELECT name AS t FROM events WHERE duplicate = FALSE ORDER BY received_at, id",
        &[],
    )
    .await;
    assert_eq!(
        names,
        [
            "stripe/checkout-session-completed",
            "purchase/created",
            "coupon/grant-entitlements-for-purchase",
            "discord/user-added-to-cohort",
        ]
    );
    let discord = "SELECT COUNT(*) AS n FROM events WHERE name = 'discord/user-added-to-cohort' AND data LIKE $1";
    let like = format!("%{}%", ids::DISCORD_COHORT_ROLE);
    assert_eq!(db.count(discord, &[&like]).await, 1);
    assert_eq!(
        step(post, "send welcome email to individual for cohort_demo_ai_engineering")["status"],
        "completed"
    );

    // 6. The welcome email, once.
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, ["new.learner@example.com"]);
    let text = mails[0].data.replace("=\n", "").replace("=3D", "=");
    assert!(text.contains("Subject: Welcome to AI Engineering Cohort!"), "{text}");
    assert!(text.contains("Hi Buyer,") && text.contains("for 1 seat"), "{text}");

    // 7. Stripe re-delivers the webhook: nothing new anywhere (the purchase started the other fan-out functions
    // too: shortlink attribution, the login email, Slack, ConvertKit, the Discord role, the credit grant).
    let runs_before = db.count("SELECT COUNT(*) AS n FROM runs", &[]).await;
    let mut functions: Vec<String> = d.api.get_ok("/api/v1/runs?limit=1000").await["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["function_id"].as_str().unwrap().to_string())
        .collect();
    functions.sort();
    assert_eq!(runs_before as usize, functions.len());
    assert_eq!(functions, FANOUT, "one run of each function the purchase concerns");
    post_webhook(&d.api, &completed_event("evt_e2e", "cs_e2e", "payment", "paid")).await;
    d.api.drain().await;
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, runs_before);
    assert_eq!(
        db.count(live, &[user_id, "cohort_content_access", purchase_id]).await,
        9
    );
    assert_eq!(sink.received().len(), 1);
}
