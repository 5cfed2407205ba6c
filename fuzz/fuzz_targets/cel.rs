//! CEL with Inngest's semantics (`ingot_actors::expr`): compile any source, then evaluate it every way the engine
//! does (condition, key, value, integer) over an event. Input: `<expression>\0<event JSON>`; without a NUL, or
//! with an event that is not JSON, a fixed event is used. No panic; errors are "no match" / "no value".
#![no_main]

use ingot_actors::expr::{Expr, Vars};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (src, event) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(src) = std::str::from_utf8(src) else { return };
    let event: serde_json::Value = serde_json::from_slice(event).unwrap_or_else(|_| {
        serde_json::json!({"name": "app/user.created", "data": {"id": 1, "email": "a@b.c", "tags": ["x"], "n": 2.5},
                           "user": {"id": "u1"}, "id": "e1", "ts": 1_700_000_000_000i64, "v": "1"})
    });
    let Ok(expr) = Expr::compile(src) else { return };
    let batch = [event.clone(), serde_json::json!({"data": {}})];
    let vars = Vars::new(1_700_000_000_000)
        .event(&event)
        .async_event(&event)
        .events(&batch)
        .vars(&event);
    let _ = expr.matches_with(&vars);
    let _ = expr.key_with(&vars);
    let _ = expr.value_with(&vars);
    let _ = expr.int_with(&vars);
});
