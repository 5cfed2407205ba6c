//! The other webhooks: Postmark (header or basic-auth secret, `RecordType`), Mux, Deepgram (callback body) and
//! OCR (bearer token), each through the same pure function its handler calls. The first byte picks the provider;
//! the rest is `<auth header>\0<body>` for Postmark and OCR, the body for the others. Every event produced is
//! declared in `webhooks::EMITS` and has a dedupe id.
#![no_main]

use ingot::http::webhooks::{EMITS, Incoming, deepgram, mux, ocr, postmark};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "s3cret";

fn check(provider: &str, incoming: &[Incoming]) {
    for i in incoming {
        assert!(
            EMITS.contains(&(provider, i.name.as_str())),
            "{provider}: {} is not declared",
            i.name
        );
        assert!(i.id.starts_with(&format!("{provider}:")));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (auth, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b""[..], rest),
    };
    let auth = String::from_utf8_lossy(auth).into_owned();
    let auth = auth.as_str();
    match which % 4 {
        0 => {
            let ok = postmark::authenticated(Some(auth), Some(auth), SECRET);
            assert_eq!(ok, auth == SECRET || postmark::authenticated(None, Some(auth), SECRET));
            if let Ok(i) = postmark::incoming(body) {
                check("postmark", &i);
            }
        }
        1 => {
            if let Ok(i) = mux::incoming(body) {
                check("mux", &i);
            }
        }
        2 => {
            if let Ok(i) = deepgram::incoming(auth, body) {
                check("deepgram", &i);
            }
        }
        _ => {
            let ok = ocr::bearer_ok(Some(auth), SECRET);
            assert_eq!(ok, auth.strip_prefix("Bearer ").is_some_and(|t| t.trim() == SECRET));
            if let Ok(i) = ocr::incoming(body) {
                check("ocr", &i);
            }
        }
    }
});
