//! Purchase notices: a kill -9 while the SMTP server holds the login email (after the restart the email goes out
//! once, with the Message-ID and the login token the first attempt had; one verification token; Slack posted
//! once; the attribution recorded once), and a replayed `purchase/created` that changes nothing.

use super::*;
use crate::both;
use crate::workflows::fanout_support::{body, header, run_of};
use std::time::Duration;

const FN: &str = "send-post-purchase-email";

both!(kill9_while_the_login_email_is_in_flight, kill9_impl);
async fn kill9_impl(b: Backend) {
    let hold = Hold::armed();
    let bed = Bed::new(b, None, Some(hold.clone())).await;
    let p = bed
        .checkout(
            "k9",
            BUYER,
            BUYER_EMAIL,
            ids::PRODUCT_WORKSHOP,
            json!({"shortlinkRef": "launch"}),
            1,
        )
        .await;
    bed.slack_ok().await;
    let env = bed.env();
    let d = start(&env);
    let ev = announce(&d.api, &p.id, Some("cs_ch_k9")).await;
    tokio::time::timeout(Duration::from_secs(60), hold.held.notified())
        .await
        .expect("the email reached the SMTP server");
    let slack_done =
        "SELECT COUNT(*) AS n FROM runs WHERE function_id = 'send-post-purchase-slack' AND status = 'completed'";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while bed.db.count(slack_done, &[]).await == 0 {
        assert!(std::time::Instant::now() < deadline, "Slack never posted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    assert!(bed.sink.received().is_empty(), "the held email was never accepted");
    assert_eq!(
        bed.db.count("SELECT COUNT(*) AS n FROM verification_tokens", &[]).await,
        1
    );

    let d = start(&env);
    d.api.drain().await;
    let run = run_of(&d.api, &ev, FN).await;
    assert_eq!(run["status"], "completed", "{run}");
    for s in run["steps"].as_array().unwrap() {
        assert_eq!(s["attempts"], 1, "{s}");
    }
    let mails = bed.sink.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        header(&mails[0].data, "Message-ID").as_deref(),
        run["output"]["messageId"].as_str()
    );
    // The same token as the first attempt: still exactly one stored, and it is this email's.
    assert_eq!(
        bed.db.count("SELECT COUNT(*) AS n FROM verification_tokens", &[]).await,
        1
    );
    let text = body(&mails[0].data);
    let token: String = text[text.find("token=").expect("a token") + 6..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    use sha2::Digest;
    let hashed = hex::encode(sha2::Sha256::digest(format!("{token}{SECRET}").as_bytes()));
    let stored = "SELECT COUNT(*) AS n FROM verification_tokens WHERE token = $1";
    assert_eq!(bed.db.count(stored, &[&hashed]).await, 1);
    assert_eq!(bed.slack_posts().await.len(), 1, "Slack posted once");
    assert_eq!(
        bed.db
            .count("SELECT COUNT(*) AS n FROM shortlink_attributions", &[])
            .await,
        1
    );
}

both!(replayed_purchase_changes_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let bed = Bed::new(b, None, None).await;
    let p = bed
        .checkout(
            "rp",
            BUYER,
            BUYER_EMAIL,
            ids::PRODUCT_WORKSHOP,
            json!({"shortlinkRef": "launch"}),
            1,
        )
        .await;
    bed.slack_ok().await;
    let d = start(&bed.env());
    let event = json!({"name": "purchase/created", "id": "evt_notice_1",
        "data": {"purchaseId": p.id, "productType": "membership", "checkoutSessionId": "cs_ch_rp"}});
    d.api.send(event.clone()).await;
    d.api.drain().await;
    let stripe_calls = bed.stripe.received_requests().await.unwrap().len();
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(bed.sink.received().len(), 1);
    assert_eq!(bed.slack_posts().await.len(), 1);
    assert_eq!(bed.stripe.received_requests().await.unwrap().len(), stripe_calls);
    assert_eq!(
        bed.db.count("SELECT COUNT(*) AS n FROM verification_tokens", &[]).await,
        1
    );
    assert_eq!(
        bed.db
            .count("SELECT COUNT(*) AS n FROM shortlink_attributions", &[])
            .await,
        1
    );
}
