use super::*;
use serde_json::json;

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let bad = |c: FlowConfig| Flow::compile(c).unwrap_err().to_string();
    let three = FlowConfig {
        concurrency: vec![Concurrency { limit: 1, key: None }; 3],
        ..Default::default()
    };
    assert!(bad(three).contains("at most 2"));
    let throttle = FlowConfig {
        throttle: Some(Throttle {
            limit: 1,
            period: Duration::from_millis(10),
            burst: 0,
            key: None,
        }),
        ..Default::default()
    };
    assert!(bad(throttle).contains("throttle period"));
    let cel = FlowConfig {
        priority: Some("event.data.x +".into()),
        ..Default::default()
    };
    assert!(bad(cel).contains("invalid CEL"));
    let debounce = FlowConfig {
        debounce: Some(Debounce {
            period: Duration::from_secs(10),
            key: None,
            timeout: Some(Duration::from_secs(5)),
        }),
        ..Default::default()
    };
    assert!(bad(debounce).contains("timeout"));
    let batch = |b: BatchEvents| FlowConfig {
        batch: Some(b),
        priority: Some("1".into()),
        ..Default::default()
    };
    let ok = BatchEvents {
        max_size: 10,
        timeout: Duration::from_secs(5),
        key: None,
    };
    assert!(bad(batch(ok.clone())).contains("cannot be combined with priority"));
    let big = BatchEvents { max_size: 500, ..ok };
    assert!(bad(batch(big)).contains("max_size"));
}

#[test]
fn admission_evaluates_keys_and_clamps_priority() {
    let flow = Flow::compile(FlowConfig {
        concurrency: vec![
            Concurrency { limit: 5, key: None },
            Concurrency {
                limit: 1,
                key: Some("event.data.userId".into()),
            },
        ],
        priority: Some("event.data.vip ? 100000 : -30".into()),
        rate_limit: Some(RateLimit {
            limit: 2,
            period: Duration::from_secs(60),
            key: Some("event.user.id".into()),
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(flow.limits.concurrency, Some(5));
    assert_eq!(flow.limits.key_concurrency, Some(1));
    let a = flow.admit(&json!({"data": {"userId": "u1", "vip": true}, "user": {"id": 9}}), 0);
    assert_eq!(a.concurrency_key.as_deref(), Some("u1"));
    assert_eq!(a.priority_ms, ms(MAX_PRIORITY));
    assert_eq!(a.rate_limit, Some(("9".into(), 2, 60_000)));
    let b = flow.admit(&json!({"data": {"vip": false}, "user": {}}), 0);
    assert_eq!((b.concurrency_key.as_deref(), b.priority_ms), (Some(""), -30_000));
}

#[test]
fn singleton_evaluates_its_key_and_refuses_batching() {
    let flow = Flow::compile(FlowConfig {
        singleton: Some(Singleton {
            key: Some("event.data.doc".into()),
            mode: SingletonMode::Cancel,
        }),
        ..Default::default()
    })
    .unwrap();
    let a = flow.admit(&json!({"data": {"doc": "d1"}}), 0);
    assert_eq!(a.singleton, Some(("d1".into(), SingletonMode::Cancel)));
    // A key that does not evaluate shares the "" slot, as for every other key.
    let b = flow.admit(&json!({"data": {}}), 0);
    assert_eq!(b.singleton, Some(("".into(), SingletonMode::Cancel)));
    let whole = Flow::compile(FlowConfig {
        singleton: Some(Singleton {
            key: None,
            mode: SingletonMode::Skip,
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        whole.admit(&json!({}), 0).singleton,
        Some(("".into(), SingletonMode::Skip))
    );
    assert_eq!(
        Flow::compile(FlowConfig::default())
            .unwrap()
            .admit(&json!({}), 0)
            .singleton,
        None
    );

    let batched = FlowConfig {
        singleton: Some(Singleton {
            key: None,
            mode: SingletonMode::Skip,
        }),
        batch: Some(BatchEvents {
            max_size: 10,
            timeout: Duration::from_secs(5),
            key: None,
        }),
        ..Default::default()
    };
    assert!(Flow::compile(batched).unwrap_err().to_string().contains("singleton"));
    let bad_key = FlowConfig {
        singleton: Some(Singleton {
            key: Some("event.data.".into()),
            mode: SingletonMode::Skip,
        }),
        ..Default::default()
    };
    assert!(Flow::compile(bad_key).unwrap_err().to_string().contains("invalid CEL"));
}
