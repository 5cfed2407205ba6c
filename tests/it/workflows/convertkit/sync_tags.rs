//! `sync-purchase-tags`: the backfill in batches (numbered repeated steps and sleeps, the continuation event),
//! one purchase, an inactive one, and ConvertKit not configured.

use super::*;
use crate::both;
use crate::workflows::harness::{emitted, step_ids};

const FN: &str = "sync-purchase-tags";

/// The step ids for one purchase at position `i` of a run (`name`, `name:1`, ...).
fn per_purchase(i: usize, subscribed: bool) -> Vec<String> {
    let n = |name: &str| {
        if i == 0 {
            name.to_string()
        } else {
            format!("{name}:{i}")
        }
    };
    let mut v = vec![n("get user"), n("get convertkit user")];
    if subscribed {
        v.push(n("update convertkit user"));
    }
    v.push(n("sleep for 200ms"));
    v
}

both!(backfill_in_batches_with_numbered_steps, batches_impl);
async fn batches_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.ck.subscriber(MAIN, 1, "alice@example.com", &[]);
    bed.ck
        .subscriber(MAIN, 2, "bob@example.com", &["purchased_typescript_for_ai_on"]);
    let d = start(&bed.env(false));
    // The original event name, batches of three.
    d.api
        .send(json!({"name": "purchase/sync-tags", "data": {"batchSize": 3}}))
        .await;
    d.api.drain_all().await;
    let mut runs = d.api.runs_of_function(FN).await;
    runs.reverse(); // oldest first
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert_eq!(r["status"], "completed", "{r}");
    }
    // Valid and Restricted purchases by id: Alice's cohort and event, Bob's workshop | Carol's team, Dave's seat.
    let mut first = vec!["get purchases".to_string()];
    for i in 0..3 {
        first.extend(per_purchase(i, true));
    }
    first.push("continue with the next purchases".into());
    assert_eq!(step_ids(&runs[0]), first);
    // The lookups are read steps, recorded by the next step's write: no commit of their own. Per purchase, "get
    // user" goes with that purchase's "get convertkit user", and "get purchases" with the first's: three
    // transactions for the nine records (seven if each lookup committed alone). PostgreSQL's `xmin` tells.
    if b == Backend::Postgres {
        let writers = bed
            .db
            .writers(
                "SELECT xmin::text AS x FROM steps WHERE run_id = $1 \
                 AND name IN ('get purchases', 'get user', 'get convertkit user')",
                runs[0]["id"].as_str().unwrap(),
            )
            .await;
        assert_eq!(writers.len(), 3, "{writers:?}");
    }
    assert_eq!(
        runs[0]["output"],
        json!({"purchases": 3, "updated": 3, "notSubscribed": 0, "next": "purch_demo_bob_workshop"})
    );
    let next = emitted(&bed.db, &d.api, &runs[0], "continue with the next purchases").await;
    assert_eq!(next[0]["event"]["name"], "sync/purchase-tags");
    assert_eq!(
        next[0]["event"]["data"],
        json!({"after": "purch_demo_bob_workshop", "batchSize": 3})
    );
    let mut second = vec!["get purchases".to_string()];
    for i in 0..2 {
        second.extend(per_purchase(i, false));
    }
    assert_eq!(step_ids(&runs[1]), second);
    assert_eq!(
        runs[1]["output"],
        json!({"purchases": 2, "updated": 0, "notSubscribed": 2, "next": null})
    );
    // The fields, each set to its purchase's date; the missing ones created first.
    for (email, field, purchase) in [
        (
            "alice@example.com",
            "purchased_ai_engineering_cohort_on",
            demo::ids::PURCHASE_ALICE_COHORT,
        ),
        (
            "alice@example.com",
            "purchased_office_hours_on",
            demo::ids::PURCHASE_ALICE_EVENT,
        ),
        (
            "bob@example.com",
            "purchased_typescript_for_ai_on",
            demo::ids::PURCHASE_BOB_WORKSHOP,
        ),
    ] {
        assert_eq!(
            bed.ck.field(MAIN, email, field),
            json!(bed.purchased_on(purchase).await)
        );
    }
    let methods: Vec<String> = bed
        .ck
        .requests(MAIN)
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        methods,
        [
            "GET /subscribers",
            "POST /custom_fields",
            "PUT /subscribers/1",
            "GET /subscribers",
            "POST /custom_fields",
            "PUT /subscribers/1",
            "GET /subscribers",
            "PUT /subscribers/2",
            "GET /subscribers",
            "GET /subscribers",
        ]
    );
    // The sleeps are durable steps of 200 ms.
    let sleep = crate::workflows::harness::step(&runs[0], "sleep for 200ms:2");
    assert_eq!(sleep["kind"], "sleep", "{sleep}");
}

both!(one_purchase_inactive_and_not_configured, one_impl);
async fn one_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.ck.subscriber(MAIN, 2, "bob@example.com", &[]);
    let d = start(&bed.env(false));
    let ids_ = d
        .api
        .send(json!([
            {"name": "sync/purchase-tags", "data": {"purchaseId": demo::ids::PURCHASE_BOB_WORKSHOP}},
            {"name": "sync/purchase-tags", "data": {"purchaseId": demo::ids::PURCHASE_ERIN_REFUNDED}},
        ]))
        .await;
    d.api.drain_all().await;
    let run = d.api.only_run(&ids_[0]).await;
    assert_eq!(
        run["output"],
        json!({"purchases": 1, "updated": 1, "notSubscribed": 0, "next": null}),
        "{run}"
    );
    let run = d.api.only_run(&ids_[1]).await;
    assert_eq!(
        run["output"],
        json!({"purchases": 0, "updated": 0, "notSubscribed": 0, "next": null}),
        "a refunded purchase is not synced: {run}"
    );
    assert_eq!(step_ids(&run), ["get purchases"]);
    assert_eq!(bed.ck.requests(MAIN).len(), 3);
    d.kill9();

    // Without ConvertKit: non-retriable, naming the settings.
    let d = start(&base_env(&bed.db.url));
    let ids_ = d.api.send(json!({"name": "sync/purchase-tags", "data": {}})).await;
    d.api.drain_all().await;
    let run = d.api.only_run(&ids_[0]).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["attempt"], 0);
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CONVERTKIT_API_SECRET"),
        "{run}"
    );
}
