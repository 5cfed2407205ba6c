//! `wait_for_any` on the real daemon in-process, both backends: a step waits for the first of several events
//! (each with its own `if`); the result says which alternative arrived, with its event; the other alternatives'
//! waits go; a timeout resolves to none.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::{AnyOf, FunctionDef, Trigger};
use serde_json::{Value, json};
use std::time::Duration;

fn approval(id: &str, timeout: Duration) -> FunctionDef {
    FunctionDef::new(id, id, move |ctx| async move {
        let same = Some("async.data.id == event.data.id");
        let alternatives = [
            AnyOf {
                event: "test/approved",
                if_expr: same,
            },
            AnyOf {
                event: "test/rejected",
                if_expr: same,
            },
        ];
        let arrived = ctx.step.wait_for_any("decision", &alternatives, timeout).await?;
        Ok(match arrived {
            Some(a) => json!({"index": a.index, "name": a.event["name"], "by": a.event["data"]["by"]}),
            None => Value::Null,
        })
    })
    .trigger(Trigger::event(&format!("test/{id}")))
}

both!(
    wait_for_any_resolves_with_the_first_alternative_to_arrive,
    wait_any_impl
);
async fn wait_any_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let functions = vec![
        approval("request", Duration::from_secs(3600)),
        approval("quick", Duration::from_secs(1)),
    ];
    let d = InProc::start(&db.url, functions, &[]).await;
    let req = |id: i64| json!({"name": "test/request", "data": {"id": id}});
    let (r1, r2, r3) = (
        d.api.send(req(1)).await,
        d.api.send(req(2)).await,
        d.api.send(req(3)).await,
    );
    d.api.drain().await;
    let run1 = d.api.only_run(&r1[0]).await;
    assert_eq!(run1["status"], "waiting");
    let run1_id = run1["id"].as_str().unwrap().to_string();
    let db = &db;
    let waits = |run: String| async move {
        db.count("SELECT COUNT(*) AS n FROM waits WHERE run_id = $1", &[&run])
            .await
    };
    assert_eq!(waits(run1_id.clone()).await, 2, "one wait per alternative");

    // The second alternative arrives: the result says so; the first alternative's wait is gone.
    d.api
        .send(json!({"name": "test/rejected", "data": {"id": 1, "by": "ann"}}))
        .await;
    d.api.drain().await;
    let run1 = d.api.run(&run1_id).await;
    assert_eq!(run1["status"], "completed", "{run1}");
    assert_eq!(
        run1["output"],
        json!({"index": 1, "name": "test/rejected", "by": "ann"})
    );
    assert_eq!(waits(run1_id.clone()).await, 0);
    // A later event of the other alternative changes nothing.
    d.api
        .send(json!({"name": "test/approved", "data": {"id": 1, "by": "bob"}}))
        .await;
    d.api.drain().await;
    assert_eq!(d.api.run(&run1_id).await["output"]["index"], 1);

    // Both alternatives in one request: the first in the request wins.
    d.api
        .send(json!([
            {"name": "test/rejected", "data": {"id": 2, "by": "cy"}},
            {"name": "test/approved", "data": {"id": 2, "by": "di"}}
        ]))
        .await;
    // Only its own id matches.
    d.api
        .send(json!({"name": "test/approved", "data": {"id": 3, "by": "ed"}}))
        .await;
    d.api.drain().await;
    let run2 = d.api.only_run(&r2[0]).await;
    assert_eq!(run2["output"], json!({"index": 1, "name": "test/rejected", "by": "cy"}));
    let run3 = d.api.only_run(&r3[0]).await;
    assert_eq!(run3["output"], json!({"index": 0, "name": "test/approved", "by": "ed"}));

    // An event that arrived just before the wait began is found by the look-back.
    d.api
        .send(json!({"name": "test/approved", "data": {"id": 5, "by": "fay"}}))
        .await;
    let r5 = d.api.send(req(5)).await;
    d.api.drain().await;
    let run5 = d.api.only_run(&r5[0]).await;
    assert_eq!(
        run5["output"],
        json!({"index": 0, "name": "test/approved", "by": "fay"}),
        "{run5}"
    );

    // Nothing arrives: none, at the timeout.
    let q = d.api.send(json!({"name": "test/quick", "data": {"id": 6}})).await;
    d.api.drain_all().await;
    let quick = d.api.only_run(&q[0]).await;
    assert_eq!(
        (quick["status"].clone(), quick["output"].clone()),
        (json!("completed"), Value::Null)
    );
    d.stop().await;
}
