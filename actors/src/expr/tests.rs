//! The expression table: every form the course platform's functions use, Inngest's loose operators and extra
//! functions, missing fields, and refusals.

use super::*;
use serde_json::{Value as Json, json};

/// 2026-03-01T12:00:00Z, the injected clock.
const NOW: i64 = 1_772_366_400_000;

fn event() -> Json {
    json!({
        "name": "commerce/new-purchase-created",
        "ts": NOW - 60_000,
        "user": {"email": "a@example.com", "id": "u_1"},
        "data": {
            "productType": "cohort", "purchaseId": "pur_123", "checkoutSessionId": "cs_1", "couponId": "cp_1",
            "productId": "prod_1", "amount": 150, "price": 9.5, "RecordType": "Bounce", "type": "event",
            "account": {"provider": "discord"}, "function_id": "app-send-email",
            "stripeEvent": {"data": {"object": {"mode": "payment", "id": "cs_test_1"}}},
            "tags": ["a", "b"], "meta": {"k": 1}, "payload": "{\"x\": 3, \"y\": [1, 2]}",
            "email": "A@Example.COM", "created": "2026-02-28T12:00:00Z", "userId": "u_1"
        }
    })
}

fn incoming() -> Json {
    json!({"name": "user/left", "data": {"userId": "u_1", "cohortId": 7}})
}

fn check(source: &str) -> bool {
    let (e, a) = (event(), incoming());
    Expr::compile(source)
        .unwrap_or_else(|err| panic!("{err}"))
        .matches_with(&Vars::new(NOW).event(&e).async_event(&a))
}

fn key(source: &str) -> Option<String> {
    let e = event();
    Expr::compile(source).unwrap().key_with(&Vars::new(NOW).event(&e))
}

#[test]
fn conditions_of_the_course_platform() {
    for (source, expected) in [
        (
            r#"event.data.RecordType in ["Bounce","SpamComplaint","SubscriptionChange"]"#,
            true,
        ),
        (r#"event.data.RecordType in ["Delivery","Open"]"#, false),
        (
            r#"event.data.productType == "cohort" || event.data.productType == "self-paced""#,
            true,
        ),
        (r#"event.data.productType == "live""#, false),
        ("event.data.stripeEvent.data.object.mode == 'subscription'", false),
        ("event.data.stripeEvent.data.object.mode == 'payment'", true),
        (r#"event.data.account.provider == "discord""#, true),
        ("event.data.type == 'event'", true),
        ("event.data.function_id == 'app-send-email'", true),
        (
            r#"event.name == "commerce/new-purchase-created" && event.data.amount > 100"#,
            true,
        ),
        // cancelOn / waitForEvent `match: "data.userId"` as the TS SDK sends it.
        ("event.data.userId == async.data.userId", true),
        (
            "async.data.userId == event.data.userId && async.data.cohortId == 7",
            true,
        ),
        ("async.data.cohortId == event.data.amount", false),
    ] {
        assert_eq!(check(source), expected, "{source}");
    }
}

#[test]
fn keys_of_the_course_platform() {
    for (source, expected) in [
        ("event.user.email", Some("a@example.com")),
        ("event.user.id", Some("u_1")),
        ("event.data.purchaseId", Some("pur_123")),
        ("event.data.checkoutSessionId", Some("cs_1")),
        ("event.data.stripeEvent.data.object.id", Some("cs_test_1")),
        ("event.data.couponId", Some("cp_1")),
        ("event.data.productId", Some("prod_1")),
        (
            r#"event.data.purchaseId + "-" + event.user.email"#,
            Some("pur_123-a@example.com"),
        ),
        ("event.data.amount", Some("150")),
        ("event.data.price", Some("9.5")),
        ("event.data.tags", Some(r#"["a","b"]"#)),
        ("event.data.account", Some(r#"{"provider":"discord"}"#)),
        ("event.user.missing", None),
        ("event.data.missing + '-' + event.user.email", None),
        ("null", None),
    ] {
        assert_eq!(key(source).as_deref(), expected, "{source}");
    }
}

#[test]
fn loosely_typed_plus_and_comparisons() {
    for (source, expected) in [
        ("'pur_' + event.data.amount == 'pur_150'", true),
        ("event.data.price + 'x' == '9.5x'", true),
        ("'flag:' + true == 'flag:true'", true),
        ("event.data.amount + 1 == 151", true),
        ("event.data.amount - 1 == 149", true),
        ("event.data.amount * 2 == 300", true),
        ("event.data.amount + 0.5 == 150.5", true),
        ("event.data.amount == 150.0", true),
        ("150 == 150.0 && 150u == 150 && 1 < 1.5 && 2u > 1", true),
        ("event.data.price < 10 && event.data.price > 9u", true),
        ("event.data.amount >= 150 && event.data.amount <= 150.0", true),
        ("event.data.amount == '150'", false),
        ("event.data.amount != '150'", true),
        ("event.data.tags == 'a'", false),
        ("event.data.amount < 'x'", false),
        ("!(event.data.amount < 'x')", false),
        ("[1, 2] + [3] == [1, 2, 3]", true),
        ("'a' < 'b' && 'ab' + 'c' == 'abc'", true),
        ("event.data.tags.exists(t, t == 'b')", true),
        ("event.data.tags.all(t, t + '!' != 'a')", true),
        ("event.data.tags.filter(t, t != 'a') == ['b']", true),
        ("event.data.tags.map(t, t + 1) == ['a1', 'b1']", true),
    ] {
        assert_eq!(check(source), expected, "{source}");
    }
}

#[test]
fn in_on_lists_and_maps() {
    for (source, expected) in [
        ("'b' in event.data.tags", true),
        ("'z' in event.data.tags", false),
        ("'k' in event.data.meta", true),
        ("'z' in event.data.meta", false),
        ("150 in [150.0, 1]", true),
        ("event.data.amount in [1, 150]", true),
        ("'150' in [150]", false),
        ("1 in {1u: 'one'}", true),
        ("event.data.missing in ['a']", false),
        ("'a' in 'abc'", false),
        ("!('z' in event.data.tags)", true),
    ] {
        assert_eq!(check(source), expected, "{source}");
    }
}

#[test]
fn inngest_functions() {
    for (source, expected) in [
        ("lowercase(event.data.email) == 'a@example.com'", true),
        ("uppercase(event.data.email) == 'A@EXAMPLE.COM'", true),
        ("json_parse(event.data.payload).x == 3", true),
        ("json_parse(event.data.payload).y[1] == 2", true),
        ("json_parse('not json').x == 3", false),
        ("now() == 1772366400000", true),
        ("now() == date('2026-03-01T12:00:00Z')", true),
        ("date(event.data.created) < now()", true),
        ("date('2026-03-01') == date(1772323200000)", true),
        ("date('2026-03-01T12:00:00') == now()", true),
        ("date(event.ts) == now_minus('1m')", true),
        ("event.ts > now_minus('1h') && event.ts < now()", true),
        ("now_plus('1h30m') == date('2026-03-01T13:30:00Z')", true),
        ("now_minus('1d') == date(event.data.created)", true),
        (
            "date(event.data.created) > now_minus('2d') && now_plus('1w') > now()",
            true,
        ),
        ("now_plus('250ms') == 1772366400250", true),
        ("now_plus('soon') > now()", false),
        ("date('yesterday') < now()", false),
        ("lowercase(event.data.amount) == '150'", false),
    ] {
        assert_eq!(check(source), expected, "{source}");
    }
}

#[test]
fn now_is_the_callers_clock() {
    let e = event();
    let expr = Expr::compile("event.ts > now_minus('5m')").unwrap();
    assert!(expr.matches_with(&Vars::new(NOW).event(&e)));
    assert!(!expr.matches_with(&Vars::new(NOW + 10 * 60_000).event(&e)));
}

#[test]
fn missing_fields_never_match_and_never_crash() {
    for (source, expected) in [
        ("event.data.missing == 'x'", false),
        ("event.data.missing != 'x'", false),
        ("event.data.missing.deeper == 1", false),
        ("event.missing.deeper.still == 1", false),
        ("size(event.data.missing) > 0", false),
        ("has(event.data.missing)", false),
        ("!has(event.data.missing)", true),
        ("has(event.data.amount)", true),
        ("event.data.missing == 'x' || event.data.productType == 'cohort'", true),
        ("event.data.productType == 'cohort' || event.data.missing == 'x'", true),
        ("event.data.missing == 'x' && event.data.productType == 'cohort'", false),
        ("event.data.productType", false),
        ("event.data.other == async.data.other", false),
    ] {
        assert_eq!(check(source), expected, "{source}");
    }
    // `async` not bound at all (a trigger condition evaluated without a candidate event).
    let e = event();
    let expr = Expr::compile("async.data.userId == event.data.userId").unwrap();
    assert!(!expr.matches_with(&Vars::new(NOW).event(&e)));
    assert!(!expr.matches(&json!(null)));
    assert!(!expr.matches(&json!("not an object")));
}

#[test]
fn priority_factors_are_integers() {
    let e = event();
    let vars = Vars::new(NOW).event(&e);
    let int = |source: &str| Expr::compile(source).unwrap().int_with(&vars);
    assert_eq!(int("event.data.amount"), Some(150));
    assert_eq!(int("event.data.price"), Some(9));
    assert_eq!(int("-600"), Some(-600));
    assert_eq!(int("event.data.productType == 'cohort' ? 120 : 0"), Some(120));
    assert_eq!(int("event.data.amount - 200"), Some(-50));
    assert_eq!(int("event.data.productType"), None);
    assert_eq!(int("event.data.missing"), None);
}

#[test]
fn values_and_batches() {
    let e = event();
    let batch = [json!({"data": {"amount": 10}}), json!({"data": {"amount": 20}})];
    let vars = Vars::new(NOW).event(&batch[0]).events(&batch).vars(&e);
    let value = |source: &str| Expr::compile(source).unwrap().value_with(&vars);
    assert_eq!(value("events.size()"), Some(json!(2)));
    assert_eq!(value("events[1].data.amount + event.data.amount"), Some(json!(30)));
    assert_eq!(value("events.all(e, e.data.amount > 5)"), Some(json!(true)));
    assert_eq!(
        value("{'total': events.map(e, e.data.amount)}"),
        Some(json!({"total": [10, 20]}))
    );
    assert_eq!(value("vars.data.purchaseId"), Some(json!("pur_123")));
    assert_eq!(value("events[5]"), None);
    assert_eq!(
        format!("{vars:?}"),
        format!("Vars {{ names: [\"event\", \"events\", \"vars\"], now_ms: {NOW} }}")
    );
    assert!(value("now()").is_some_and(|t| t.as_str().is_some_and(|s| s.starts_with("2026-03-01T12:00:00"))));
}

#[test]
fn the_plain_event_api_still_works() {
    let e = event();
    assert!(Expr::compile("event.data.productType == 'cohort'").unwrap().matches(&e));
    assert_eq!(
        Expr::compile("event.user.email").unwrap().key(&e).as_deref(),
        Some("a@example.com")
    );
    assert_eq!(
        format!("{:?}", Expr::compile("event.name").unwrap()),
        "Expr(\"event.name\")"
    );
    assert_eq!(Expr::compile("event.name").unwrap().source(), "event.name");
}

#[test]
fn bad_expressions_are_refused_with_the_source() {
    for (source, says) in [
        ("event.data.x ==", "Syntax error"),
        ("", "empty"),
        ("   ", "empty"),
        ("event.data.x = 1", ""),
        ("event.data.x == 'unterminated", ""),
        // Written in the reference as shorthand; Inngest's checker refuses undeclared names too.
        (
            r#"status == "Refunded" || "Disputed" || "Banned""#,
            "unknown variable `status`",
        ),
        (r#"type == "video.asset.ready""#, "unknown variable `type`"),
        ("data.userId == async.data.userId", "unknown variable `data`"),
        ("event.data.tags.exists(t, u == t)", "unknown variable `u`"),
        ("event.data.name.substring(1) == 'b'", "unknown function `.substring()`"),
        ("lower(event.data.name) == 'b'", "unknown function `lower()`"),
        ("event.data.email.lowercase() == 'a'", "unknown function `.lowercase()`"),
    ] {
        let err = Expr::compile(source).unwrap_err();
        assert_eq!(err.source_text, source);
        let text = err.to_string();
        assert!(text.starts_with("invalid CEL expression"), "{text}");
        assert!(text.contains(&format!("{source:?}")), "{text}");
        assert!(text.to_lowercase().contains(&says.to_lowercase()), "{source}: {text}");
    }
    // Comprehension variables, type names, standard functions and methods, and ours are known.
    for ok in [
        "event.data.tags.exists(t, t == 'b') && type(event.data.amount) == uint",
        "size(event.data.tags) == 2 && event.data.tags.size() == 2 && int(event.data.price) == 9",
        "string(event.data.amount) + '-' + event.user.email",
        "event.data.email.startsWith('A') && event.data.email.endsWith('M') && event.data.email.contains('@')",
        "event.data.email.matches('^A@') && duration('1h') > duration('1m') && timestamp('2026-01-01T00:00:00Z') < now()",
        "lowercase(uppercase(event.data.email)) == json_parse('\"x\"') && date(1) < now_plus('1s') && now_minus('1s') < now()",
    ] {
        Expr::compile(ok).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn long_or_nul_keys_are_stored_as_their_hash() {
    let vars_event = serde_json::json!({"data": {"short": "a@b.c", "nul": "a\u{0}b", "long": "x".repeat(3000)}});
    let key = |src: &str| Expr::compile(src).unwrap().key_with(&Vars::new(NOW).event(&vars_event));
    assert_eq!(key("event.data.short").as_deref(), Some("a@b.c"));
    let nul = key("event.data.nul").unwrap();
    let long = key("event.data.long").unwrap();
    for k in [&nul, &long] {
        assert!(k.starts_with("sha256:") && k.len() == 7 + 64, "{k}");
    }
    assert_ne!(nul, long);
    assert_eq!(key("event.data.long"), Some(long), "the same value hashes the same");
    assert_eq!(
        storable_key("y".repeat(MAX_KEY_BYTES)),
        "y".repeat(MAX_KEY_BYTES),
        "at the bound: kept"
    );
}

#[test]
fn a_run_filter_sees_the_event_and_the_output_and_nothing_else() {
    let e = event();
    let output = json!({"charge": "declined", "amount": 150});
    let none = Json::Null;
    let filter = |src: &str| Expr::compile_over(src, &RUN_VARIABLES).unwrap_or_else(|e| panic!("{e}"));
    let on = |src: &str, out: &Json| filter(src).matches_with(&Vars::new(NOW).event(&e).output(out));
    assert!(on(
        "output.charge == 'declined' && event.data.amount == output.amount",
        &output
    ));
    assert!(on("event.user.email.endsWith('@example.com')", &none));
    assert!(on("output == null", &none));
    assert!(!on("output == null", &output));
    // A missing field of a null output is no match, not an error.
    assert!(!on("output.charge == 'declined'", &none));
    // Not a bool: no match.
    assert!(!on("event.data.amount", &output));
    // `output` is no variable of a trigger; `async` and `vars` are none of a run filter.
    let err = Expr::compile("output.x == 1").unwrap_err().to_string();
    assert!(err.contains("unknown variable `output`"), "{err}");
    for source in ["async.data.x == 1", "vars.x == 1"] {
        let err = Expr::compile_over(source, &RUN_VARIABLES).unwrap_err().to_string();
        assert!(err.contains("an expression can use `event`, `output`"), "{err}");
    }
}
