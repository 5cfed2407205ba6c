//! The audit: every action is listed with who, when, what, its target and parameters, newest first, and can be
//! filtered by the run it touched.

use super::{napper, post_ok};
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::json;

both!(actions_are_listed_with_who_when_and_what, audit_impl);
async fn audit_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![napper()], &[]).await;
    let ids = d.api.send(json!([{"name": "test/nap"}, {"name": "test/nap"}])).await;
    d.api.drain().await;
    let first = d.api.only_run(&ids[0]).await["id"].as_str().unwrap().to_string();
    let before = ingot_actors::time::now_ms();
    post_ok(&d.api, &format!("/api/v1/runs/{first}/cancel"), None).await;
    post_ok(&d.api, "/api/v1/functions/napper/pause", None).await;
    post_ok(&d.api, "/api/v1/runs/cancel", Some(json!({"function": "napper"}))).await;
    let after = ingot_actors::time::now_ms();

    let all = d.api.get_ok("/api/v1/actions").await;
    let actions = all["actions"].as_array().unwrap();
    let what: Vec<_> = actions.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(what, ["bulk_cancel", "pause", "cancel"], "{all}");
    for a in actions {
        assert_eq!(a["actor"], "admin-token");
        let at = chrono::DateTime::parse_from_rfc3339(a["at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        assert!((before..=after).contains(&at), "{a}");
        assert_eq!(a["function_id"], "napper", "{a}");
    }
    assert_eq!(actions[0]["params"], json!({"function": "napper"}));
    assert_eq!(actions[0]["result"], json!({"cancelled": 1}));
    assert_eq!(actions[2]["run_id"], first.as_str());
    // Filtered by run: the first run was touched by the cancel only.
    let of_first = d.api.get_ok(&format!("/api/v1/actions?run={first}")).await;
    assert_eq!(of_first["actions"].as_array().unwrap().len(), 1);
    assert_eq!(of_first["actions"][0]["action"], "cancel");
    let (status, _) = d.api.get("/api/v1/actions?limit=0").await;
    assert_eq!(status, 400);
    d.stop().await;
}
