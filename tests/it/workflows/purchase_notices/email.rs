//! `send-post-purchase-email`: the login email (a verification token the web app can check, the invoice link),
//! a purchase without a charge, skips, non-retriable failures, and a missing `NEXTAUTH_SECRET`.

use super::*;
use crate::both;
use crate::workflows::fanout_support::{body, header, run_of, subject};
use crate::workflows::harness::step_names;
use sha2::{Digest, Sha256};

const FN: &str = "send-post-purchase-email";

/// The login link in an email's text.
fn login_link(text: &str) -> reqwest::Url {
    let start = text
        .find("https://aihero.test/api/auth/callback/postmark?")
        .unwrap_or_else(|| panic!("no login link in {text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect();
    reqwest::Url::parse(&link.replace("&amp;", "&")).unwrap()
}

both!(login_email_with_token_and_invoice, login_impl);
async fn login_impl(b: Backend) {
    let bed = Bed::new(b, None, None).await;
    let p = bed
        .checkout("mail", BUYER, BUYER_EMAIL, ids::PRODUCT_WORKSHOP, json!({}), 1)
        .await;
    let d = start(&bed.env());
    let ev = announce(&d.api, &p.id, Some("cs_ch_mail")).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["idempotency_key"], "cs_ch_mail");
    assert_eq!(
        step_names(&run),
        ["Load Purchase", "Load User", "Load Product", "send customer email"]
    );
    // The three loads are read steps, recorded together with the email's attempt.
    bed.db
        .assert_recorded_together(
            run["id"].as_str().unwrap(),
            &["Load Purchase", "Load User", "Load Product"],
        )
        .await;
    let invoice = format!(
        "https://builder.aihero.test/invoices/{}",
        p.merchant_charge_id.as_deref().unwrap()
    );
    assert_eq!(run["output"]["invoiceUrl"], invoice.as_str());
    assert_eq!(run["output"]["to"], BUYER_EMAIL);

    let mails = bed.sink.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, [BUYER_EMAIL]);
    assert_eq!(
        subject(&mails[0].data),
        "Thank you for Purchasing TypeScript for AI (aihero.test)"
    );
    assert_eq!(
        header(&mails[0].data, "Message-ID").as_deref(),
        run["output"]["messageId"].as_str()
    );
    let text = body(&mails[0].data);
    assert!(text.contains("Hi Nora,") && text.contains(&invoice), "{text}");
    // The Auth.js callback: back to the welcome page of this purchase, for this email, with a token.
    let link = login_link(&text);
    let q: std::collections::HashMap<String, String> = link.query_pairs().into_owned().collect();
    assert_eq!(
        q["callbackUrl"],
        format!("https://aihero.test/welcome?purchaseId={}", p.id)
    );
    assert_eq!(q["email"], BUYER_EMAIL);
    let token = &q["token"];
    assert_eq!(token.len(), 64);
    // Stored as the web app checks it: sha256(token + secret), for 24 hours; the raw token is nowhere stored.
    let hashed = hex::encode(Sha256::digest(format!("{token}{SECRET}").as_bytes()));
    let stored = "SELECT COUNT(*) AS n FROM verification_tokens WHERE identifier = $1 AND token = $2";
    assert_eq!(bed.db.count(stored, &[BUYER_EMAIL, &hashed]).await, 1);
    assert_eq!(
        bed.db.count("SELECT COUNT(*) AS n FROM verification_tokens", &[]).await,
        1
    );
    assert!(
        !run.to_string().contains(token.as_str()),
        "the token is not in the run's record"
    );
    let valid = ingot::platform::users::verification_token_is_valid(&bed.db.db, BUYER_EMAIL, &hashed)
        .await
        .unwrap();
    assert!(valid);
}

both!(skips_failures_and_settings, skips_impl);
async fn skips_impl(b: Backend) {
    let bed = Bed::new(b, Some("reject@example.com"), None).await;
    use ingot::platform::commerce::PurchaseStatus::*;
    builders::purchase(&bed.db.db, "p_refunded", BUYER, ids::PRODUCT_WORKSHOP, Refunded, 100)
        .await
        .unwrap();
    builders::purchase(&bed.db.db, "p_nocharge", BUYER, ids::PRODUCT_WORKSHOP, Valid, 0)
        .await
        .unwrap();
    builders::purchase(&bed.db.db, "p_reject", "u_reject", ids::PRODUCT_WORKSHOP, Valid, 100)
        .await
        .unwrap();
    let d = start(&bed.env());
    // Refunded before the run: no login link.
    let ev = announce(&d.api, "p_refunded", None).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(
        (run["status"].as_str(), run["output"]["reason"].as_str()),
        (Some("completed"), Some("Purchase is Refunded")),
        "{run}"
    );
    // A purchase without a charge (a redeemed seat): the email without an invoice.
    let ev = announce(&d.api, "p_nocharge", None).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"]["invoiceUrl"], Value::Null);
    let mails = bed.sink.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(!body(&mails[0].data).contains("invoice"), "no invoice line");
    // Missing purchase; a recipient the server refuses: non-retriable.
    for (id, failed, message) in [
        ("p_ghost", "Load Purchase", "Purchase not found"),
        ("p_reject", "send customer email", "mailbox unavailable"),
    ] {
        let ev = announce(&d.api, id, None).await;
        d.api.drain().await;
        let run = run_of(&d.api, &ev, FN).await;
        assert_eq!(run["status"], "failed", "{run}");
        let s = crate::workflows::harness::step(&run, failed);
        assert_eq!(
            (s["attempts"].as_u64(), s["error"]["name"].as_str()),
            (Some(1), Some("NonRetriableError"))
        );
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }
    d.kill9();

    // Without NEXTAUTH_SECRET no login token can be made: non-retriable, naming the setting; nothing stored.
    bed.db.exec("DELETE FROM verification_tokens", &[]).await;
    let d = start(&bed.env_without(&["NEXTAUTH_SECRET"]));
    builders::purchase(&bed.db.db, "p_nosecret", BUYER, ids::PRODUCT_WORKSHOP, Valid, 100)
        .await
        .unwrap();
    let ev = announce(&d.api, "p_nosecret", None).await;
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"].as_str().unwrap().contains("NEXTAUTH_SECRET"),
        "{run}"
    );
    assert_eq!(
        bed.db.count("SELECT COUNT(*) AS n FROM verification_tokens", &[]).await,
        0
    );
    assert_eq!(bed.sink.received().len(), 1);
}
