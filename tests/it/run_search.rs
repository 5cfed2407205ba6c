//! The runs list's CEL filter over the JSON API (`GET /api/v1/runs?cel=`): it sees the event and the output (both
//! redacted), combines with the other filters, refuses a bad expression with a 400, and its bounded scan
//! (`INGOT_RUNS_FILTER_SCAN`) says when it stopped at the cap while its cursors still walk every match exactly once.

use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Api, Backend, TestDb};
use ingot_actors::{FunctionDef, StepError, Trigger};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// `search/order` → a run whose output holds the order's `n`, `big` (amount ≥ 40) and a credential; order 0 fails
/// for good, so its run has no output.
pub fn orders() -> FunctionDef {
    FunctionDef::new("orders", "Orders", |ctx| async move {
        let data = ctx.event["data"].clone();
        let out = ctx
            .step
            .run("charge", || async move {
                let (n, amount) = (data["n"].as_i64().unwrap(), data["amount"].as_i64().unwrap());
                if n == 0 {
                    return Err(StepError::fatal("order 0 is refused"));
                }
                Ok(json!({"n": n, "big": amount >= 40, "access_token": format!("tok-{n}")}))
            })
            .await?;
        Ok(out)
    })
    .trigger(Trigger::event("search/order"))
    .retries(0)
}

/// Sends orders 0..=6 (one request each, oldest first), waits for their runs; returns each run's id by `n`.
pub async fn send_orders(api: &Api) -> BTreeMap<i64, String> {
    let mut event_n = BTreeMap::new();
    for n in 0..=6i64 {
        let ids = api
            .send(json!({"name": "search/order", "data": {"n": n, "amount": n * 10, "password": format!("pw-{n}")}}))
            .await;
        event_n.insert(ids[0].clone(), n);
    }
    api.drain().await;
    let all = api.get_ok("/api/v1/runs?function=orders&limit=100").await;
    let runs = all["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 7, "{all}");
    runs.iter()
        .map(|r| {
            (
                event_n[r["event_id"].as_str().unwrap()],
                r["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `n`s newest first (each order was sent after the one before).
fn newest_first(ns: &[i64]) -> Vec<i64> {
    let mut v = ns.to_vec();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

/// Follows `next` from the first page; returns every page's `n`s and `scan`.
async fn walk(api: &Api, by_id: &BTreeMap<String, i64>, query: &str) -> Vec<(Vec<i64>, Value)> {
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            None => format!("/api/v1/runs?{query}"),
            Some(c) => format!("/api/v1/runs?{query}&before={c}"),
        };
        let page = api.get_ok(&path).await;
        let ns = page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| by_id[r["id"].as_str().unwrap()])
            .collect();
        pages.push((ns, page["scan"].clone()));
        match page["next"].as_str() {
            Some(c) => before = Some(c.to_string()),
            None => return pages,
        }
        assert!(pages.len() < 20, "the cursor does not move: {pages:?}");
    }
}

fn enc(s: &str) -> String {
    ingot::http::dashboard::layout::url_encode(s)
}

both!(a_cel_filter_over_event_and_output_pages_within_its_scan_cap, api_impl);
async fn api_impl(b: Backend) {
    let db = TestDb::new(b).await;
    // A cap of 3 runs per page's scan: 7 runs need several pages whatever matches.
    let d = InProc::start(&db.url, vec![orders()], &[("runs_filter_scan", "3")]).await;
    let run_of = send_orders(&d.api).await;
    let by_id: BTreeMap<String, i64> = run_of.iter().map(|(n, id)| (id.clone(), *n)).collect();
    let matches = |cel: &str, limit: u32| format!("function=orders&limit={limit}&cel={}", enc(cel));

    // Over the output: the page fills (2), the third match proves a next page; the second page stops at the cap
    // with one run; the third finds the end. Every match once, newest first.
    let pages = walk(&d.api, &by_id, &matches("output.big == true", 2)).await;
    let scans: Vec<(i64, bool)> = pages
        .iter()
        .map(|(_, s)| (s["scanned"].as_i64().unwrap(), s["capped"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        pages.iter().map(|(ns, _)| ns.clone()).collect::<Vec<_>>(),
        vec![vec![6, 5], vec![4], vec![]],
        "{pages:?}"
    );
    assert_eq!(scans, vec![(3, false), (3, true), (2, false)]);
    assert_eq!(pages[0].1["limit"], 3);

    // Each expression, walked to the end, yields exactly its runs in order (event and output together; `null`
    // output of the failed run; a match only at the very end, behind two empty capped pages).
    for (cel, expected) in [
        ("event.data.n % 2 == 0 && output != null", newest_first(&[2, 4, 6])),
        ("output == null", vec![0]),
        ("event.data.n == 0", vec![0]),
        ("event.data.amount >= 20 && output.n < 5", newest_first(&[2, 3, 4])),
        ("true", newest_first(&[0, 1, 2, 3, 4, 5, 6])),
        ("event.data.n", vec![]),
    ] {
        for limit in [1, 2, 50] {
            let pages = walk(&d.api, &by_id, &matches(cel, limit)).await;
            let all: Vec<i64> = pages.iter().flat_map(|(ns, _)| ns.clone()).collect();
            assert_eq!(all, expected, "{cel} (limit {limit}): {pages:?}");
            assert!(pages.iter().all(|(ns, _)| ns.len() <= limit as usize));
            let distinct: BTreeSet<i64> = all.iter().copied().collect();
            assert_eq!(distinct.len(), all.len(), "a run shown twice: {pages:?}");
        }
    }
    let first = d
        .api
        .get_ok(&format!("/api/v1/runs?{}", matches("event.data.n == 0", 50)))
        .await;
    assert_eq!(first["runs"], json!([]));
    assert_eq!(first["scan"], json!({"scanned": 3, "limit": 3, "capped": true}));
    assert!(first["next"].is_string());

    // With the other filters: status narrows in SQL, the expression in Rust.
    let failed = d
        .api
        .get_ok(&format!("/api/v1/runs?status=failed&cel={}", enc("event.data.n < 3")))
        .await;
    assert_eq!(failed["runs"].as_array().unwrap().len(), 1);
    assert_eq!(failed["runs"][0]["id"], run_of[&0].as_str());

    // Credentials read as "[redacted]": a guess at one never matches, in the event or in the output.
    for guess in ["output.access_token == 'tok-3'", "event.data.password == 'pw-3'"] {
        let pages = walk(&d.api, &by_id, &matches(guess, 50)).await;
        assert!(pages.iter().all(|(ns, _)| ns.is_empty()), "{guess}: {pages:?}");
    }
    let redacted = walk(&d.api, &by_id, &matches("output.access_token == '[redacted]'", 50)).await;
    assert_eq!(redacted.iter().map(|(ns, _)| ns.len()).sum::<usize>(), 6);

    // A bad expression: 400, saying why, before anything is read.
    for (cel, says) in [
        ("output.big ==", "invalid CEL expression"),
        ("async.data.n == 1", "unknown variable `async`"),
        ("vars.x", "an expression can use `event`, `output`"),
        ("event.data.name.substring(1) == 'x'", "unknown function"),
    ] {
        let (status, body) = d.api.get(&format!("/api/v1/runs?cel={}", enc(cel))).await;
        assert_eq!(status, 400, "{cel}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{cel}: {error}");
    }
    // A bad cursor too; without `cel` the list pages with the same cursors and has no `scan`.
    assert_eq!(d.api.get("/api/v1/runs?before=nope").await.0, 400);
    let plain = d.api.get_ok("/api/v1/runs?function=orders&limit=4").await;
    assert!(plain.get("scan").is_none(), "{plain}");
    let rest = d
        .api
        .get_ok(&format!(
            "/api/v1/runs?function=orders&limit=4&before={}",
            plain["next"].as_str().unwrap()
        ))
        .await;
    let ns: Vec<i64> = [&plain, &rest]
        .iter()
        .flat_map(|p| p["runs"].as_array().unwrap().clone())
        .map(|r| by_id[r["id"].as_str().unwrap()])
        .collect();
    assert_eq!(ns, newest_first(&[0, 1, 2, 3, 4, 5, 6]));
    assert!(rest["next"].is_null());
}
