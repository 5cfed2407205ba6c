//! The one rule set and `prepare`, without a database.

use super::rules::{MAX_ID_LEN, MAX_NAME_LEN, check};
use super::*;
use crate::flow::Flow;
use crate::function::{FunctionDef, Trigger};
use serde_json::json;
use std::time::Duration;

const NOW: i64 = 1_700_000_000_000;

fn noop(id: &str) -> FunctionDef {
    FunctionDef::new(id, id, |_ctx| async { Ok(Value::Null) })
}

fn err(d: Draft, origin: Origin) -> String {
    check(d, origin, NOW).unwrap_err().to_string()
}

fn named(name: &str) -> Draft {
    Draft::new(name, Value::Null)
}

#[test]
fn defaults_fill_in_and_the_producer_keeps_the_rest() {
    let v = check(named("a/b"), Origin::Producer, NOW).unwrap();
    assert_eq!(
        (v.data, v.user, v.ts, v.external_id, v.v),
        (json!({}), json!({}), NOW, None, None)
    );
    let d = Draft {
        name: "a/b".into(),
        data: json!({"x": 1, "_inngest": {"fn_id": "spoofed"}}),
        user: json!({"email": "a@b.c"}),
        external_id: Some("e1".into()),
        ts: Some(NOW - 5),
        v: Some("2".into()),
    };
    let v = check(d.clone(), Origin::Producer, NOW).unwrap();
    assert_eq!(v.data, json!({"x": 1}), "a producer's data._inngest is stripped");
    assert_eq!(
        (v.user, v.external_id, v.ts, v.v),
        (json!({"email": "a@b.c"}), Some("e1".into()), NOW - 5, Some("2".into()))
    );
    let system = check(d, Origin::System, NOW).unwrap();
    assert_eq!(
        system.data["_inngest"]["fn_id"], "spoofed",
        "the engine's own _inngest is kept"
    );
    let empty_id = Draft {
        external_id: Some(String::new()),
        ..named("a")
    };
    assert_eq!(check(empty_id, Origin::Producer, NOW).unwrap().external_id, None);
}

#[test]
fn one_rule_set_refuses_the_same_events_for_every_producer() {
    for origin in [Origin::Producer, Origin::System] {
        assert!(err(named(" "), origin).contains("\"name\" must not be empty"));
        assert!(err(named("a\0"), origin).contains("\"name\" must not contain the NUL character"));
        assert!(err(named(&"n".repeat(MAX_NAME_LEN + 1)), origin).contains("longer than 512 bytes"));
        let bad = |f: fn(&mut Draft)| {
            let mut d = named("a");
            f(&mut d);
            err(d, origin)
        };
        assert!(bad(|d| d.data = json!([1])).contains("\"data\" must be an object"));
        assert!(bad(|d| d.user = json!("x")).contains("\"user\" must be an object"));
        assert!(bad(|d| d.external_id = Some("x\0".into())).contains("\"id\" must not contain the NUL"));
        assert!(bad(|d| d.external_id = Some("i".repeat(MAX_ID_LEN + 1))).contains("\"id\" is longer than 1024"));
        assert!(bad(|d| d.ts = Some(5)).contains("between 1980 and 2100"));
        assert!(bad(|d| d.ts = Some(rules::MAX_TS + 1)).contains("between 1980 and 2100"));
        assert!(bad(|d| d.v = Some("\0".into())).contains("\"v\" must not contain the NUL"));
    }
    let nul_in_data = Draft::new("a", json!({"s": "\0"}));
    assert!(check(nul_in_data, Origin::Producer, NOW).is_ok(), "JSON escapes NUL");
}

#[test]
fn reserved_names_are_the_engines_in_any_case() {
    for name in ["inngest/function.failed", "Inngest/function.failed", "INNGEST/x"] {
        assert!(err(named(name), Origin::Producer).contains("are reserved"), "{name}");
        assert!(check(named(name), Origin::System, NOW).is_ok(), "{name}");
    }
    assert!(check(named("inngestx/a"), Origin::Producer, NOW).is_ok());
    assert!(check(named("inngest"), Origin::Producer, NOW).is_ok());
}

#[test]
fn prepare_matches_triggers_on_the_view_with_the_producers_id() {
    let reg = Registry::new(vec![
        noop("keyed")
            .trigger(Trigger::event_if("x/y", "event.id == 'dedupe-1'"))
            .idempotency("event.user.email")
            .rate_limit(1, Duration::from_secs(60), Some("event.data.k")),
        noop("other").trigger(Trigger::event("x/z")),
    ])
    .unwrap();
    let d = Draft {
        name: "x/y".into(),
        data: json!({"k": "K"}),
        user: json!({"email": "a@b.c"}),
        external_id: Some("dedupe-1".into()),
        ts: None,
        v: None,
    };
    let e = prepare(d, Origin::Producer, Target::Triggers(&reg), NOW).unwrap();
    assert_eq!(e.view()["id"], "dedupe-1", "CEL sees the producer's id");
    assert_ne!(e.id, "dedupe-1", "ours is fresh");
    assert_eq!((e.ts, e.matches.len()), (NOW, 1));
    let m = &e.matches[0];
    assert_eq!(m.function_id, "keyed");
    assert_eq!(m.idempotency_key.as_deref(), Some("a@b.c"));
    assert_eq!(m.admission.rate_limit, Some(("K".into(), 1, 60_000)));
    assert_eq!((m.run_id.clone(), m.parent.clone()), (None, None));
    // Without the producer's id, CEL sees ours: the condition fails.
    let e = prepare(
        Draft::new("x/y", json!({})),
        Origin::Producer,
        Target::Triggers(&reg),
        NOW,
    )
    .unwrap();
    assert_eq!(e.view()["id"], json!(e.id));
    assert!(e.matches.is_empty());
    // A refused event matches nothing: prepare fails before matching.
    assert!(prepare(named("inngest/x"), Origin::Producer, Target::Triggers(&reg), NOW).is_err());
}

#[test]
fn prepare_for_one_named_function_takes_its_flow_keys_and_no_idempotency_key() {
    let def = noop("child")
        .trigger(Trigger::event("never/sent"))
        .idempotency("event.data.k")
        .concurrency(1, Some("event.data.k"));
    let flow = Flow::compile(def.flow).unwrap();
    let target = Target::Function {
        function_id: "child",
        flow: Some(&flow),
        run_id: Some("run-1"),
        parent: Some(("parent", "step")),
    };
    let d = Draft {
        external_id: Some("invoke:run-1".into()),
        ..Draft::new(
            "inngest/function.invoked",
            json!({"k": "K", "_inngest": {"fn_id": "child"}}),
        )
    };
    let e = prepare(d, Origin::System, target, NOW).unwrap();
    assert_eq!(e.data["_inngest"]["fn_id"], "child");
    let m = &e.matches[..];
    assert_eq!(m.len(), 1, "the named function, whatever its triggers");
    assert_eq!(m[0].function_id, "child");
    assert_eq!(m[0].idempotency_key, None);
    assert_eq!(m[0].run_id.as_deref(), Some("run-1"));
    assert_eq!(m[0].parent, Some(("parent".into(), "step".into())));
    assert_eq!(m[0].admission.concurrency_key.as_deref(), Some("K"));
    let no_flow = Target::Function {
        function_id: "child",
        flow: None,
        run_id: None,
        parent: None,
    };
    let e = prepare(
        Draft::new("inngest/scheduled.timer", json!({})),
        Origin::System,
        no_flow,
        NOW,
    )
    .unwrap();
    assert_eq!(e.matches[0].admission, Default::default());
}
