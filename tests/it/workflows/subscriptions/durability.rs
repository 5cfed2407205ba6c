//! A kill -9 while Discord holds its answer to the subscriber-role PATCH: after the restart the checkout's steps
//! do not run again, the subscription exists once, the role is set (the PATCH repeated with the same roles); and
//! replays of the webhook and of `subscription/created` start nothing.

use super::{Bed, SUB_ROLE, member_path};
use crate::both;
use crate::support::Backend;
use crate::workflows::harness::{completed_event, post_webhook};
use serde_json::json;
use std::time::{Duration, Instant};

both!(kill9_while_discord_patches_the_role, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.discord.lock().unwrap().delay_patch = Some(Duration::from_secs(30));
    let d = bed.start();
    let webhook = completed_event("evt_sub_k", "cs_sub", "subscription", "paid");
    post_webhook(&d.api, &webhook).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bed.calls().iter().any(|(m, _)| m == "PATCH") {
        assert!(Instant::now() < deadline, "the PATCH never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill9();
    let db = &bed.db;
    let done = "SELECT COUNT(*) AS n FROM steps WHERE step_key = 'update basic discord roles for user' AND status = 'completed'";
    assert_eq!(
        db.count(done, &[]).await,
        0,
        "killed before the step's result was stored"
    );

    let d = bed.start();
    d.api.drain().await;
    for f in ["stripe-subscription-checkout", "add-subscription-discord-role"] {
        let runs = d.api.runs_of_function(f).await;
        assert_eq!(runs.len(), 1, "{f}");
        assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
        for step in runs[0]["steps"].as_array().unwrap() {
            assert_eq!(step["attempts"], 1, "{f}: every step recorded once: {step}");
        }
    }
    let patches: Vec<_> = bed
        .discord
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.0 == "PATCH")
        .map(|r| r.2.clone())
        .collect();
    assert_eq!(
        patches,
        [
            json!({"roles": ["role_manual", SUB_ROLE]}),
            json!({"roles": ["role_manual", SUB_ROLE]})
        ]
    );
    assert_eq!(bed.roles(), ["role_manual", SUB_ROLE]);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM subscriptions", &[]).await, 1);
    let created = "SELECT COUNT(*) AS n FROM events WHERE name = 'subscription/created' AND duplicate = FALSE";
    assert_eq!(db.count(created, &[]).await, 1);

    // Replays: the webhook, and subscription/created with its id.
    post_webhook(&d.api, &webhook).await;
    let sub_id = crate::workflows::harness::texts(db, "SELECT id AS t FROM subscriptions", &[])
        .await
        .remove(0);
    d.api
        .send(
            json!({"name": "subscription/created", "id": format!("subscription-created:{sub_id}"),
                     "user": {"id": "u_sub"}, "data": {"subscriptionId": sub_id, "checkoutSessionId": "cs_sub"}}),
        )
        .await;
    d.api.drain().await;
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 2);
    assert_eq!(
        bed.calls()
            .iter()
            .filter(|(m, p)| m == "PATCH" && *p == member_path(""))
            .count(),
        2
    );
}
