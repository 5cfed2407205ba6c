//! `INGOT_DRY_RUN=1`: every outbound request is recorded in `outbound_requests` (secrets redacted) instead of sent,
//! and the call succeeds empty — even without credentials.

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::email::Template;
use ingot::integrations::Integrations;
use serde_json::json;

both!(records_instead_of_sending, records_instead_of_sending_impl);
async fn records_instead_of_sending_impl(b: Backend) {
    let db = TestDb::new(b).await;
    // Unreachable base URLs: a request that were really sent would fail.
    let cfg = super::settings(&[
        ("INGOT_DRY_RUN", "1"),
        ("DISCORD_BOT_TOKEN", "BOTTOKEN123"),
        ("DISCORD_API_BASE_URL", "http://127.0.0.1:9"),
        ("CONVERTKIT_API_BASE_URL", "http://127.0.0.1:9/v3"),
        ("CONVERTKIT_API_SECRET", "CKVALUE456"),
        ("STRIPE_API_BASE_URL", "http://127.0.0.1:9"),
    ]);
    let i = Integrations::start(&cfg, &db.db);
    // Discord has a token but no guild id, Stripe no key: dry runs need no credentials.
    i.discord.add_role("u1", "r1").await.unwrap();
    let refund = i.stripe.refund_charge("ch_1", "k1").await.unwrap();
    assert_eq!(refund.id, "", "an empty success");
    let charge = i.stripe.charge("ch_1").await.unwrap();
    assert_eq!(charge.rest["dryRun"], true, "a step's output shows the dry run");
    assert_eq!(i.convertkit.find_subscriber("a@example.com").await.unwrap(), None);
    let sent = i
        .email
        .send_template(
            "a@example.com",
            Template::Basic,
            &json!({"subject": "Hi", "body": "x"}),
            Some("https://u"),
        )
        .await
        .unwrap();
    assert!(sent.dry_run);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM outbound_requests", &[]).await, 5);
    let q = db.sql("SELECT COUNT(*) AS n FROM outbound_requests WHERE service = $1 AND method = $2 AND url = $3");
    assert_eq!(
        db.count(
            &q,
            &["discord", "PUT", "http://127.0.0.1:9/guilds/0/members/u1/roles/r1"]
        )
        .await,
        1
    );
    assert_eq!(
        db.count(&q, &["stripe", "POST", "http://127.0.0.1:9/v1/refunds"]).await,
        1
    );
    assert_eq!(
        db.count(
            &q,
            &[
                "convertkit",
                "GET",
                "http://127.0.0.1:9/v3/subscribers?api_secret=***&email_address=a@example.com"
            ]
        )
        .await,
        1
    );
    assert_eq!(db.count(&q, &["email", "SMTP", "smtp"]).await, 1);
    let body = db.sql("SELECT COUNT(*) AS n FROM outbound_requests WHERE service = 'stripe' AND body = $1");
    assert_eq!(db.count(&body, &["charge=ch_1"]).await, 1);
    let leaks = "SELECT COUNT(*) AS n FROM outbound_requests WHERE headers LIKE '%BOTTOKEN123%' OR url LIKE '%BOTTOKEN123%' OR url LIKE '%CKVALUE456%' OR body LIKE '%CKVALUE456%'";
    assert_eq!(db.count(leaks, &[]).await, 0, "secrets are redacted");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM outbound_requests WHERE service = 'discord' AND headers LIKE '%\"authorization\":\"***\"%'", &[]).await,
        1
    );
}
