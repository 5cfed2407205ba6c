//! `POST /e/{key}` body parsing and validation (`ingot::http::intake::parse_body`, the function the HTTP intake
//! calls), then the event as handlers and CEL see it. An accepted event must satisfy every documented limit.
#![no_main]

use ingot::http::intake::{MAX_EVENTS, MAX_ID_LEN, MAX_NAME_LEN, parse_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = parse_body(data, 1_700_000_000_000) else { return };
    assert!(events.len() <= MAX_EVENTS);
    for e in &events {
        assert!(!e.name.trim().is_empty() && e.name.len() <= MAX_NAME_LEN);
        assert!(!e.name.to_ascii_lowercase().starts_with("inngest/"));
        assert!(e.data.is_object() && e.user.is_object());
        assert!(e.data.get("_inngest").is_none());
        assert!(
            e.external_id
                .as_ref()
                .is_none_or(|id| !id.is_empty() && id.len() <= MAX_ID_LEN)
        );
        assert!((315_532_800_000..=4_102_444_800_000).contains(&e.ts));
        let id = e
            .external_id
            .as_deref()
            .unwrap_or("01890000-0000-7000-8000-000000000000");
        let view = ingot_actors::event::view(id, &e.name, &e.data, &e.user, e.ts, e.v.as_deref());
        assert_eq!(view["name"].as_str(), Some(e.name.as_str()));
    }
});
