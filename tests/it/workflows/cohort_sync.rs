//! `cohort-entitlement-sync-workflow` and `cohort-entitlement-sync-user` against the real daemon: a cohort gains a
//! workshop (with a lesson) and loses one; every holder of access (105 of them: two fan-out batches) gets the new
//! content and loses the removed one (soft-deleted), refunded buyers are left out, never more than 5 sync runs
//! execute at once (proved from the runs' stored start and finish times); the skip and failure branches; a kill -9
//! in the middle of the fan-out and a replayed event.

use super::harness::{step_names, texts};
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus;
use ingot::platform::commerce::product_types::ProductType;
use ingot::platform::content;
use ingot::platform::entitlements::{self, Grant};
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::{Value, json};

const SYNC: &str = "cohort-entitlement-sync-user";
const WORKFLOW: &str = "cohort-entitlement-sync-workflow";

/// A buyer of the demo cohort holding access to all of its content, as fulfilment grants it.
async fn holder(db: &TestDb, i: usize, status: PurchaseStatus) -> String {
    let (id, purchase) = (format!("u_hold_{i:03}"), format!("purch_hold_{i:03}"));
    let (user, org) = builders::user(&db.db, &id, &format!("holder{i}@example.com"), "Holder")
        .await
        .unwrap();
    builders::purchase(&db.db, &purchase, &user.id, ids::PRODUCT_COHORT, status, 50_000)
        .await
        .unwrap();
    let tree = content::get_cohort(&db.db, ids::COHORT).await.unwrap().unwrap();
    let ty = entitlements::require_entitlement_type(&db.db, "cohort_content_access")
        .await
        .unwrap();
    let grant = Grant {
        user_id: user.id.clone(),
        purchase_id: purchase,
        organization_id: Some(org.organization.id),
        organization_membership_id: Some(org.membership.id),
        content_access_type_id: ty.id,
    };
    entitlements::create_resource_entitlements(&db.db, ProductType::Cohort, &tree, &grant)
        .await
        .unwrap();
    id
}

/// The demo data (Alice and Dave hold the cohort), `extra` more holders, one refunded buyer; then the cohort
/// gains `workshop_new` (with `lesson_new`) and loses its third workshop.
async fn bed(b: Backend, extra: usize) -> (TestDb, Vec<String>) {
    let db = TestDb::new(b).await;
    demo::load(&db.db).await.unwrap();
    let mut holders = vec![ids::ALICE.to_string(), ids::DAVE.to_string()];
    for i in 0..extra {
        holders.push(holder(&db, i, PurchaseStatus::Valid).await);
    }
    holder(&db, 999, PurchaseStatus::Refunded).await;
    holders.sort();
    builders::resource(&db.db, "workshop_new", "workshop", "Shipping It", json!({}))
        .await
        .unwrap();
    builders::resource(&db.db, "lesson_new", "lesson", "Deploy", json!({}))
        .await
        .unwrap();
    builders::children(&db.db, "workshop_new", &["lesson_new"])
        .await
        .unwrap();
    content::link_resources(&db.db, ids::COHORT, "workshop_new", 3.0, &json!({}))
        .await
        .unwrap();
    db.exec(
        "UPDATE content_resource_resources SET deleted_at = created_at WHERE resource_of_id = $1 AND resource_id = $2",
        &[ids::COHORT, ids::WORKSHOPS[2]],
    )
    .await;
    (db, holders)
}

fn updated(id: Option<&str>) -> Value {
    let mut e = json!({"name": "cohort/updated", "data": {"cohortId": ids::COHORT, "updatedAt": "2026-12-02T00:00:00Z",
        "changes": {"resourcesAdded": [{"resourceId": "workshop_new", "position": 3}],
                    "resourcesRemoved": [{"resourceId": ids::WORKSHOPS[2]}]}}});
    if let Some(id) = id {
        e["id"] = json!(id);
    }
    e
}

/// Live (and soft-deleted) content entitlements of a user covering a content id.
async fn access(db: &TestDb, user: &str, content_id: &str, live: bool) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM entitlements WHERE user_id = $1 AND metadata LIKE $2 AND deleted_at IS {}NULL",
        if live { "" } else { "NOT " }
    );
    db.count(&sql, &[user, &format!("%\"{content_id}\"%")]).await
}

/// The most runs of a function executing at one instant, from the stored start and finish times of their step
/// attempts (a step executes only while its run holds a concurrency slot, and the times come from the one clock
/// of the daemon that ran it). The runs' own `started_at` (stamped before the claim commits) and `finished_at`
/// (before the finish commits) can overlap their neighbours' by a millisecond, so they do not prove the limit.
async fn most_at_once(db: &TestDb, function_id: &str) -> usize {
    let rows = texts(
        db,
        "SELECT CAST(s.started_at AS TEXT) || ' ' || CAST(s.finished_at AS TEXT) AS t FROM steps s \
         JOIN runs r ON r.id = s.run_id WHERE r.function_id = $1",
        &[function_id],
    )
    .await;
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for r in &rows {
        let (s, f) = r.split_once(' ').expect("started and finished");
        // A run ending at the same millisecond another starts frees its slot first.
        edges.push((s.parse().unwrap(), 1));
        edges.push((f.parse().unwrap(), -1));
    }
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

both!(syncs_every_holder_five_at_a_time, lifecycle_impl);
async fn lifecycle_impl(b: Backend) {
    let (db, holders) = bed(b, 103).await;
    assert_eq!(holders.len(), 105);
    let d = Daemon::start(&base_env(&db.url));
    let sent = d.api.send(updated(None)).await;
    d.api.drain().await;

    let run = d.api.only_run(&sent[0]).await;
    assert_eq!(run["function_id"], WORKFLOW);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"cohortId": ids::COHORT, "cohortTitle": "AI Engineering Cohort", "usersProcessed": 105,
               "message": "Sync started for 105 users"})
    );
    assert_eq!(
        step_names(&run),
        [
            "validate-cohort",
            "find-users-with-entitlements",
            "fan-out-user-sync-events-batch-1",
            "fan-out-user-sync-events-batch-2"
        ]
    );
    let batch_sizes: Vec<usize> = run["steps"].as_array().unwrap()[2..]
        .iter()
        .map(|s| s["output"]["ids"].as_array().unwrap().len())
        .collect();
    assert_eq!(batch_sizes, [100, 5]);

    // One sync.user event per holder, never for the refunded buyer.
    let users = texts(
        &db,
        "SELECT data AS t FROM events WHERE name = 'cohort-entitlement/sync.user' AND duplicate = FALSE",
        &[],
    )
    .await;
    let mut synced: Vec<String> = Vec::new();
    for data in &users {
        let v: Value = serde_json::from_str(data).unwrap();
        let mut resources: Vec<String> = v["cohortResourceIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        resources.sort();
        let mut want: Vec<String> = [ids::WORKSHOPS[0], ids::WORKSHOPS[1], "workshop_new", "lesson_new"]
            .iter()
            .chain(&ids::SECTIONS)
            .chain(&ids::LESSONS)
            .map(|s| s.to_string())
            .collect();
        want.sort();
        assert_eq!(resources, want, "the target is every content descendant: {v}");
        assert_eq!(v["cohortId"], ids::COHORT);
        synced.push(v["userId"].as_str().unwrap().to_string());
    }
    assert_eq!(sorted(synced), holders);

    // Every sync run completed, once per holder, with the added and removed content.
    let runs = d.api.runs_of_function(SYNC).await;
    assert_eq!(runs.len(), 105);
    for r in &runs {
        assert_eq!(r["status"], "completed", "{r}");
        let out = &r["output"];
        assert_eq!(out["toAdd"], json!(["lesson_new", "workshop_new"]), "{r}");
        assert_eq!(out["toRemove"], json!([ids::WORKSHOPS[2]]), "{r}");
        assert_eq!(
            (out["entitlementsAdded"].as_u64(), out["entitlementsRemoved"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(step_names(r), ["sync-user-entitlements"]);
    }
    for u in &holders {
        assert_eq!(access(&db, u, "workshop_new", true).await, 1, "{u}");
        assert_eq!(access(&db, u, "lesson_new", true).await, 1, "{u}");
        assert_eq!(access(&db, u, ids::WORKSHOPS[2], true).await, 0, "{u}");
        assert_eq!(
            access(&db, u, ids::WORKSHOPS[2], false).await,
            1,
            "soft-deleted, not removed: {u}"
        );
        assert_eq!(access(&db, u, ids::LESSONS[0], true).await, 1, "untouched: {u}");
    }
    assert_eq!(
        access(&db, "u_hold_999", "workshop_new", true).await,
        0,
        "refunded: left out"
    );
    assert_eq!(access(&db, "u_hold_999", ids::WORKSHOPS[2], true).await, 1);
    // The new grants come from the holder's purchase, in its organization.
    let source = "SELECT COUNT(*) AS n FROM entitlements WHERE user_id = $1 AND source_id = $2 \
                  AND organization_id = $3 AND metadata LIKE '%workshop_new%'";
    assert_eq!(
        db.count(source, &["u_hold_000", "purch_hold_000", "org_personal_u_hold_000"])
            .await,
        1
    );

    // The concurrency limit, from the runs' stored times.
    let most = most_at_once(&db, SYNC).await;
    assert!((1..=5).contains(&most), "at most 5 sync runs at once, saw {most}");

    // The cohort updated again without a change: every run finds nothing to do.
    let again = d.api.send(updated(None)).await;
    d.api.drain().await;
    assert_eq!(d.api.only_run(&again[0]).await["output"]["usersProcessed"], 105);
    let runs = d.api.runs_of_function(SYNC).await;
    assert_eq!(runs.len(), 210);
    let idle = runs.iter().filter(|r| r["output"]["updated"] == 0).count();
    assert_eq!(idle, 105);
    assert_eq!(access(&db, ids::ALICE, "workshop_new", true).await, 1);
    assert!(most_at_once(&db, SYNC).await <= 5);
}

both!(skips_and_failures, branches_impl);
async fn branches_impl(b: Backend) {
    let db = TestDb::new(b).await;
    builders::resource(&db.db, "cohort_empty", "cohort", "Nobody Yet", json!({}))
        .await
        .unwrap();
    builders::resource(&db.db, "workshop_x", "workshop", "Not a cohort", json!({}))
        .await
        .unwrap();
    builders::user(&db.db, "u_none", "none@example.com", "None")
        .await
        .unwrap();
    let d = Daemon::start(&base_env(&db.url));
    let send = |data: Value| {
        let api = d.api.clone();
        async move {
            let ids = api.send(json!({"name": "cohort/updated", "data": data})).await;
            api.drain().await;
            api.only_run(&ids[0]).await
        }
    };

    let run = send(json!({"cohortId": "cohort_empty", "changes": {}})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"cohortId": "cohort_empty", "cohortTitle": "Nobody Yet", "usersProcessed": 0,
               "message": "No users with entitlements to this cohort"})
    );
    for (data, message) in [
        (
            json!({"cohortId": "cohort_missing"}),
            "Cohort not found: cohort_missing",
        ),
        (json!({"cohortId": "workshop_x"}), "Cohort not found: workshop_x"),
        (json!({}), "cohort/updated has no cohortId"),
    ] {
        let run = send(data).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert_eq!(run["attempt"], 0, "non-retriable: {run}");
        assert!(run["error"]["message"].as_str().unwrap().contains(message), "{run}");
    }

    // A user holding no access (refunded since the fan-out): nothing to sync, nothing granted.
    let ids_ = d
        .api
        .send(
            json!({"name": "cohort-entitlement/sync.user", "data": {"cohortId": "cohort_empty", "userId": "u_none",
              "userEmail": "none@example.com", "cohortResourceIds": ["lesson_a"]}}),
        )
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids_[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        (run["output"]["updated"].as_u64(), run["output"]["toAdd"].clone()),
        (Some(0), json!([]))
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM entitlements", &[]).await, 0);

    // Without the entitlement type, the holders cannot be found: non-retriable.
    db.exec(
        "DELETE FROM entitlement_types WHERE name = 'cohort_content_access'",
        &[],
    )
    .await;
    let run = send(json!({"cohortId": "cohort_empty"})).await;
    assert_eq!(
        (run["status"].as_str(), run["attempt"].as_i64()),
        (Some("failed"), Some(0)),
        "{run}"
    );
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cohort_content_access"),
        "{run}"
    );
}

both!(kill9_during_fan_out_syncs_each_holder_once, kill9_impl);
async fn kill9_impl(b: Backend) {
    let (db, holders) = bed(b, 38).await;
    let env = base_env(&db.url);
    let d = Daemon::start(&env);
    d.api.send(updated(Some("cohort-update-1"))).await;
    // Killed as soon as the first sync runs finished: others are queued or in flight.
    let done = "SELECT COUNT(*) AS n FROM runs WHERE function_id = $1 AND status = 'completed'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db.count(done, &[SYNC]).await < 3 {
        assert!(std::time::Instant::now() < deadline, "no sync run finished");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    d.kill9();
    // How far it got is up to the scheduler (usually a few of the 40); whatever it is, the outcome below is the
    // same: every holder synced exactly once.
    let finished_before = db.count(done, &[SYNC]).await;
    eprintln!("sync runs completed before the kill: {finished_before}");

    let d = Daemon::start(&env);
    d.api.drain().await;
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE function_id = $1", &[WORKFLOW])
            .await,
        1
    );
    let runs = d.api.runs_of_function(SYNC).await;
    assert_eq!(runs.len(), 40, "one sync run per holder");
    assert!(runs.iter().all(|r| r["status"] == "completed"));
    let events = "SELECT COUNT(*) AS n FROM events WHERE name = 'cohort-entitlement/sync.user' AND duplicate = FALSE";
    assert_eq!(db.count(events, &[]).await, 40, "the fan-out was sent once");
    for u in &holders {
        assert_eq!(
            access(&db, u, "workshop_new", true).await,
            1,
            "granted exactly once: {u}"
        );
        assert_eq!(access(&db, u, "lesson_new", true).await, 1, "{u}");
        assert_eq!(access(&db, u, ids::WORKSHOPS[2], true).await, 0, "{u}");
    }

    // The same update delivered again: a duplicate, nothing runs.
    let again = d.api.send(updated(Some("cohort-update-1"))).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(d.api.runs_of_function(SYNC).await.len(), 40);
    assert_eq!(access(&db, ids::ALICE, "workshop_new", true).await, 1);
}
