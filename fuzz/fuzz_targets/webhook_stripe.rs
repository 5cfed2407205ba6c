//! A Stripe webhook body after its signature verified: JSON parsing, the mapping to our events
//! (`webhooks::stripe::map`) and the `merchant_events` record statements. Every event produced is declared in
//! `webhooks::EMITS` and has a dedupe id.
#![no_main]

use ingot::http::webhooks::{EMITS, parse_json, stripe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = parse_json(data) else { return };
    let Ok(incoming) = stripe::map(&event) else { return };
    for i in &incoming {
        assert!(
            EMITS.contains(&("stripe", i.name.as_str())),
            "{} is not declared",
            i.name
        );
        assert!(i.id.starts_with("stripe:") && i.id.len() > "stripe:".len());
    }
    let _ = stripe::record_delivery(&event, &String::from_utf8_lossy(data));
});
