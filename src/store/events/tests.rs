//! The intake's plan, without a database: each rule on typed rows.

use super::plan::*;
use ingot_actors::event::NewEvent;
use ingot_actors::flow::{Admission, SingletonMode};
use ingot_actors::function::Match;
use serde_json::json;
use std::collections::HashSet;

const NOW: i64 = 1_700_000_000_000;

fn event(id: &str, external_id: Option<&str>, matches: Vec<Match>) -> NewEvent {
    NewEvent {
        id: id.into(),
        external_id: external_id.map(str::to_string),
        name: "test/e".into(),
        data: json!({}),
        user: json!({}),
        ts: NOW,
        v: None,
        matches,
    }
}

fn matched(function_id: &str, admission: Admission) -> Match {
    Match {
        function_id: function_id.into(),
        idempotency_key: None,
        run_id: None,
        parent: None,
        admission,
    }
}

/// Plans a request with the given facts; run ids are `run-1`, `run-2`, … in candidate order.
fn plan_of(batch: &[NewEvent], claimed: &[&str], facts: &Facts) -> Plan {
    let ids = producer_ids(batch);
    let claimed: HashSet<String> = claimed.iter().map(|s| s.to_string()).collect();
    let duplicate = duplicates(batch, &ids, &claimed);
    let mut n = 0;
    let candidates = candidates(batch, &duplicate, || {
        n += 1;
        format!("run-{n}")
    });
    plan(batch, &duplicate, &candidates, facts, NOW)
}

fn reasons(p: &Plan) -> Vec<(String, &'static str, Option<String>)> {
    p.skips
        .iter()
        .map(|s| (s.event_id.clone(), s.reason.as_str(), s.existing_run_id.clone()))
        .collect()
}

fn fk(f: &str, k: &str) -> FnKey {
    (f.into(), k.into())
}

#[test]
fn one_run_per_match_queued_at_the_later_of_ts_and_now() {
    let mut future = event(
        "e1",
        None,
        vec![matched("a", Admission::default()), matched("b", Admission::default())],
    );
    future.ts = NOW + 5_000;
    let p = plan_of(&[future, event("e2", None, vec![])], &[], &Facts::default());
    assert_eq!(p.runs.len(), 2);
    assert_eq!((p.runs[0].id.as_str(), p.runs[0].function_id.as_str()), ("run-1", "a"));
    assert_eq!(p.runs[0].run_at, NOW + 5_000, "a future ts delays the start");
    assert_eq!(p.woken, ["a", "b"]);
    assert!(p.skips.is_empty());
}

#[test]
fn a_repeated_producer_id_is_a_duplicate_and_starts_nothing() {
    let m = || vec![matched("a", Admission::default())];
    let batch = [
        event("e1", Some("x"), m()),
        event("e2", Some("x"), m()),
        event("e3", Some("y"), m()),
    ];
    // "x" claimed by e1 (new); "y" was seen within 24 h (not claimed).
    let ids = producer_ids(&batch);
    assert_eq!(ids, [("x".into(), "e1".into()), ("y".into(), "e3".into())]);
    let p = plan_of(&batch, &["x"], &Facts::default());
    assert_eq!(p.runs.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["e1"]);
    assert_eq!(
        reasons(&p),
        [
            ("e2".into(), "duplicate_event_id", None),
            ("e3".into(), "duplicate_event_id", None)
        ]
    );
}

#[test]
fn an_idempotency_key_held_elsewhere_skips_with_its_holder() {
    let keyed = |k: &str| Match {
        idempotency_key: Some(k.into()),
        ..matched("a", Admission::default())
    };
    let batch = [
        event("e1", None, vec![keyed("k")]),
        event("e2", None, vec![keyed("k")]),
        event("e3", None, vec![keyed("old")]),
    ];
    let mut n = 0;
    let dup = vec![false; 3];
    let c = candidates(&batch, &dup, || {
        n += 1;
        format!("run-{n}")
    });
    assert_eq!(
        idempotency_claims(&c),
        [
            ("a".into(), "k".into(), "run-1".into()),
            ("a".into(), "old".into(), "run-3".into())
        ],
        "the first candidate of each key claims it"
    );
    let facts = Facts {
        key_owners: [
            (fk("a", "k"), "run-1".to_string()),
            (fk("a", "old"), "stored".to_string()),
        ]
        .into(),
        ..Facts::default()
    };
    let p = plan(&batch, &dup, &c, &facts, NOW);
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.runs[0].idempotency_key.as_deref(), Some("k"));
    assert_eq!(
        reasons(&p),
        [
            ("e2".into(), "idempotency_key", Some("run-1".into())),
            ("e3".into(), "idempotency_key", Some("stored".into()))
        ]
    );
}

#[test]
fn a_rate_limit_admits_up_to_its_limit_counting_earlier_events() {
    let limited = || {
        vec![matched(
            "a",
            Admission {
                rate_limit: Some(("k".into(), 3, 60_000)),
                ..Admission::default()
            },
        )]
    };
    let batch: Vec<NewEvent> = (1..=3).map(|i| event(&format!("e{i}"), None, limited())).collect();
    let dup = vec![false; 3];
    let c = candidates(&batch, &dup, || "r".into());
    assert_eq!(rate_counts(&c, &Default::default()), [(fk("a", "k"), 60_000, 3)]);
    let facts = Facts {
        rate_prior: [(fk("a", "k"), 1)].into(),
        ..Facts::default()
    };
    let p = plan(&batch, &dup, &c, &facts, NOW);
    assert_eq!(
        p.runs.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
        ["e1", "e2"]
    );
    assert_eq!(reasons(&p), [("e3".into(), "rate_limit", None)]);
}

#[test]
fn debounce_keeps_one_pending_run_with_the_newest_event() {
    let debounced = || {
        vec![matched(
            "a",
            Admission {
                debounce: Some(("k".into(), 1_000, Some(3_000))),
                ..Admission::default()
            },
        )]
    };
    let batch = [event("e1", None, debounced()), event("e2", None, debounced())];
    // Nothing stored: the first event's run takes the second event.
    let p = plan_of(&batch, &[], &Facts::default());
    assert_eq!(p.runs.len(), 1);
    assert_eq!((p.runs[0].event_id.as_str(), p.runs[0].run_at), ("e2", NOW + 1_000));
    assert_eq!(p.runs[0].debounce_key.as_deref(), Some("k"));
    assert_eq!(reasons(&p), [("e1".into(), "debounced", Some("run-1".into()))]);
    // A stored pending run takes both, in turn; its start is capped by the timeout after its creation.
    let facts = Facts {
        pending_debounces: [(
            fk("a", "k"),
            Pending {
                run_id: "stored".into(),
                event_id: "e0".into(),
                created_at: NOW - 2_500,
            },
        )]
        .into(),
        ..Facts::default()
    };
    let p = plan_of(&batch, &[], &facts);
    assert!(p.runs.is_empty());
    assert_eq!(
        p.debounce_updates,
        [DebounceUpdate {
            run_id: "stored".into(),
            event_id: "e2".into(),
            run_at: NOW + 500
        }]
    );
    assert_eq!(
        reasons(&p),
        [
            ("e0".into(), "debounced", Some("stored".into())),
            ("e1".into(), "debounced", Some("stored".into()))
        ]
    );
}

#[test]
fn a_singleton_key_skips_or_cancels() {
    let single = |mode| {
        vec![matched(
            "a",
            Admission {
                singleton: Some(("k".into(), mode)),
                ..Admission::default()
            },
        )]
    };
    let skip = [
        event("e1", None, single(SingletonMode::Skip)),
        event("e2", None, single(SingletonMode::Skip)),
    ];
    let p = plan_of(&skip, &[], &Facts::default());
    assert_eq!(p.runs.len(), 1);
    assert_eq!(p.runs[0].singleton_key.as_deref(), Some("k"));
    assert_eq!(reasons(&p), [("e2".into(), "singleton", Some("run-1".into()))]);
    let held = Facts {
        singleton_holders: [(fk("a", "k"), "stored".to_string())].into(),
        ..Facts::default()
    };
    let p = plan_of(&skip[..1], &[], &held);
    assert!(p.runs.is_empty());
    assert_eq!(reasons(&p), [("e1".into(), "singleton", Some("stored".into()))]);
    let cancel = [
        event("e1", None, single(SingletonMode::Cancel)),
        event("e2", None, single(SingletonMode::Cancel)),
    ];
    let p = plan_of(&cancel, &[], &held);
    assert_eq!(p.runs.len(), 2, "cancel mode never skips");
    assert_eq!(
        p.singleton_cancels,
        [SingletonCancel {
            function_id: "a".into(),
            key: "k".into(),
            newest: "run-2".into()
        }]
    );
}

#[test]
fn batches_fill_a_stored_batch_then_open_a_new_one() {
    let batched = || {
        vec![matched(
            "a",
            Admission {
                batch: Some(("k".into(), 3, 5_000)),
                ..Admission::default()
            },
        )]
    };
    let batch: Vec<NewEvent> = (1..=4).map(|i| event(&format!("e{i}"), None, batched())).collect();
    let facts = Facts {
        open_batches: [(fk("a", "k"), ("stored".to_string(), 1))].into(),
        ..Facts::default()
    };
    let p = plan_of(&batch, &[], &facts);
    // e1, e2 fill the stored batch (1 → 3, full: due now); e3 opens a new one that e4 joins.
    assert_eq!(
        p.batch_growth,
        [BatchGrowth {
            run_id: "stored".into(),
            size: 3,
            full: true
        }]
    );
    assert_eq!(p.runs.len(), 1);
    let r = &p.runs[0];
    assert_eq!((r.id.as_str(), r.event_id.as_str()), ("run-3", "e3"));
    assert_eq!(
        (r.batch_key.as_deref(), r.batch_size, r.run_at),
        (Some("k"), 2, NOW + 5_000)
    );
    let appends: Vec<(&str, u32, &str)> = p
        .batch_appends
        .iter()
        .map(|a| (a.run_id.as_str(), a.position, a.event_id.as_str()))
        .collect();
    assert_eq!(
        appends,
        [
            ("stored", 1, "e1"),
            ("stored", 2, "e2"),
            ("run-3", 0, "e3"),
            ("run-3", 1, "e4")
        ]
    );
    assert_eq!(
        reasons(&p),
        [
            ("e1".into(), "batched", Some("stored".into())),
            ("e2".into(), "batched", Some("stored".into())),
            ("e4".into(), "batched", Some("run-3".into()))
        ]
    );
}

#[test]
fn cancel_on_listens_with_the_trigger_event_and_an_invoked_child_keeps_its_id_and_parent() {
    let listening = Match {
        run_id: Some("child".into()),
        parent: Some(("parent".into(), "step".into())),
        ..matched(
            "a",
            Admission {
                cancel_on: vec![(
                    "test/stop".into(),
                    Some("async.data.id == event.data.id".into()),
                    60_000,
                )],
                ..Admission::default()
            },
        )
    };
    let e = event("e1", Some("x"), vec![listening]);
    let p = plan_of(std::slice::from_ref(&e), &["x"], &Facts::default());
    assert_eq!(p.runs[0].id, "child");
    assert_eq!(p.runs[0].parent, Some(("parent".into(), "step".into())));
    let w = &p.cancel_waits[0];
    assert_eq!(
        (w.run_id.as_str(), w.index, w.event_name.as_str()),
        ("child", 0, "test/stop")
    );
    assert_eq!(w.expires_at, NOW + 60_000);
    let trigger: serde_json::Value = serde_json::from_str(&w.trigger_event).unwrap();
    assert_eq!(trigger["id"], "x", "CEL's event is the view, with the producer's id");
}
