//! Bad input to the bulk cancel and the replay: a clear 4xx, and nothing changes.

use super::{napper, post};
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::json;

both!(bad_filters_and_ranges_are_refused_and_change_nothing, refusals_impl);
async fn refusals_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![napper()], &[]).await;
    d.api.send(json!({"name": "test/nap"})).await;
    d.api.drain().await;
    let refused = [
        ("/api/v1/runs/cancel", Some(json!({})), 400, "at least one"),
        ("/api/v1/runs/cancel", None, 400, "at least one"),
        (
            "/api/v1/runs/cancel",
            Some(json!({"status": "completed"})),
            400,
            "final",
        ),
        (
            "/api/v1/runs/cancel",
            Some(json!({"status": "snoozing"})),
            400,
            "unknown status",
        ),
        (
            "/api/v1/runs/cancel",
            Some(json!({"function": "nope"})),
            400,
            "no function",
        ),
        (
            "/api/v1/runs/cancel",
            Some(json!({"function": "napper", "colour": 1})),
            400,
            "unknown field",
        ),
        ("/api/v1/runs/cancel", Some(json!({"from": 10, "to": 5})), 400, "after"),
        (
            "/api/v1/runs/cancel",
            Some(json!({"from": "yesterday"})),
            400,
            "not a time",
        ),
        (
            "/api/v1/functions/nope/replay",
            Some(json!({"from": 0, "to": 1})),
            404,
            "no function",
        ),
        (
            "/api/v1/functions/napper/replay",
            Some(json!({"from": 0})),
            400,
            "required",
        ),
        (
            "/api/v1/functions/napper/replay",
            Some(json!({"from": 0, "to": 1, "event": "x"})),
            400,
            "not triggered",
        ),
    ];
    for (path, body, code, says) in refused {
        let (status, answer) = post(&d.api, path, body.clone()).await;
        assert_eq!(status, code, "{path} {body:?}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{path} {body:?}: {answer}");
    }
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM runs WHERE status = 'sleeping'", &[])
            .await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM actions", &[]).await, 0);
    d.stop().await;
}
