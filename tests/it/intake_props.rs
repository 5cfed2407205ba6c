//! Property tests of `POST /e/{key}` (proptest, against the real daemon): batches mixing valid and invalid events.
//! A batch whose events are all valid is answered 200 and stored whole (every event, found by its answered id and
//! by its producer id); a batch with any invalid event is answered 4xx and the events table does not change.
//!
//! Strings never contain NUL here: what PostgreSQL does with a NUL is a defect of its own (issue 15, item 3), not
//! this property.

use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Backend, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Cases per backend: enough to mix every kind of bad event into several batches, few enough to run in seconds.
const CASES: u32 = 32;

/// One generated event: valid, or broken in one named way.
#[derive(Debug, Clone)]
enum Gen {
    Valid {
        name: String,
        data: Value,
        ts: Option<i64>,
        v: Option<String>,
        user: bool,
    },
    Invalid(&'static str),
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._/éß→-]{0,24}"
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json_data() -> impl Strategy<Value = Value> {
    let value = json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("[a-z_]{1,8}", value, 0..5).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn valid() -> impl Strategy<Value = Gen> {
    (
        "prop/[a-z0-9._-]{1,20}",
        json_data(),
        prop::option::of(315_532_800_000i64..=4_102_444_800_000),
        prop::option::of(text()),
        any::<bool>(),
    )
        .prop_map(|(name, data, ts, v, user)| Gen::Valid {
            name,
            data,
            ts,
            v,
            user,
        })
}

const INVALID: &[&str] = &[
    "missing name",
    "name not a string",
    "blank name",
    "reserved name",
    "name too long",
    "data not an object",
    "user not an object",
    "id not a string",
    "id too long",
    "ts out of range",
    "ts not an integer",
    "v not a string",
    "not an object",
    "oversized data",
];

fn event() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => valid(),
        1 => prop::sample::select(INVALID).prop_map(Gen::Invalid),
    ]
}

/// The JSON of a generated event; `id` is its unique producer id (ignored by the broken kinds that replace it).
fn render(g: &Gen, id: &str) -> Value {
    match g {
        Gen::Valid {
            name,
            data,
            ts,
            v,
            user,
        } => {
            let mut e = json!({"name": name, "data": data, "id": id});
            if let Some(ts) = ts {
                e["ts"] = json!(ts);
            }
            if let Some(v) = v {
                e["v"] = json!(v);
            }
            if *user {
                e["user"] = json!({"email": "p@example.com"});
            }
            e
        }
        Gen::Invalid(kind) => {
            let mut e = json!({"name": "prop/bad", "id": id});
            match *kind {
                "missing name" => e = json!({"data": {}, "id": id}),
                "name not a string" => e["name"] = json!(7),
                "blank name" => e["name"] = json!("   "),
                "reserved name" => e["name"] = json!("inngest/function.finished"),
                "name too long" => e["name"] = json!("n".repeat(513)),
                "data not an object" => e["data"] = json!([1, 2]),
                "user not an object" => e["user"] = json!("someone"),
                "id not a string" => e["id"] = json!(12),
                "id too long" => e["id"] = json!("i".repeat(1025)),
                "ts out of range" => e["ts"] = json!(5),
                "ts not an integer" => e["ts"] = json!("yesterday"),
                "v not a string" => e["v"] = json!(2),
                "not an object" => e = json!("prop/bad"),
                "oversized data" => e["data"] = json!({"s": "x".repeat(3 * 1024 * 1024)}),
                other => unreachable!("unknown kind {other}"),
            }
            e
        }
    }
}

/// Every event but the cron ticks the compiled-in schedules may store meanwhile.
const COUNT_EVENTS: &str = "SELECT COUNT(*) AS n FROM events WHERE name <> 'inngest/scheduled.timer'";

both!(
    accepted_batches_are_stored_whole_refused_ones_store_nothing,
    whole_or_nothing_impl
);
async fn whole_or_nothing_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let d = Daemon::start(&base_env(&db.url));
    let seq = AtomicUsize::new(0);
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let batch = prop::collection::vec(event(), 0..12);
    let outcome = runner.run(&(batch, any::<bool>()), |(gens, single)| {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let case = seq.fetch_add(1, Ordering::Relaxed);
                let ids: Vec<String> = (0..gens.len()).map(|i| format!("prop-{case}-{i}")).collect();
                let events: Vec<Value> = gens.iter().zip(&ids).map(|(g, id)| render(g, id)).collect();
                // A batch of one is sent as a bare object half of the time.
                let body = match (single, events.as_slice()) {
                    (true, [one]) => one.to_string(),
                    _ => Value::Array(events).to_string(),
                };
                let all_valid = gens.iter().all(|g| matches!(g, Gen::Valid { .. }));
                let before = db.count(COUNT_EVENTS, &[]).await;
                let (status, answer) = d.api.send_raw("test-key", body).await;
                let after = db.count(COUNT_EVENTS, &[]).await;
                if all_valid {
                    prop_assert_eq!(status, 200, "a valid batch was refused: {}", answer);
                    let answered: Vec<&str> = answer["ids"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    prop_assert_eq!(answered.len(), gens.len());
                    for (ours, theirs) in answered.iter().zip(&ids) {
                        let n = db
                            .count(
                                "SELECT COUNT(*) AS n FROM events WHERE id = $1 AND external_id = $2",
                                &[ours, theirs],
                            )
                            .await;
                        prop_assert_eq!(n, 1, "event {} ({}) is not stored", ours, theirs);
                    }
                    prop_assert_eq!(after - before, gens.len() as i64);
                    accepted.fetch_add(1, Ordering::Relaxed);
                } else {
                    prop_assert!(
                        (400..500).contains(&status),
                        "a batch with a bad event got {}: {}",
                        status,
                        answer
                    );
                    prop_assert_eq!(after, before, "a refused batch changed the events table");
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), TestCaseError>(())
            })
        })
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let (accepted, refused) = (accepted.into_inner(), refused.into_inner());
    eprintln!("{b:?}: {accepted} batches accepted, {refused} refused");
    assert!(accepted > 0 && refused > 0, "the generator must produce both kinds");
}
