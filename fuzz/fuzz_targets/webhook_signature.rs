//! The `t=…,v1=…` signature check of Stripe and Mux webhooks (`ingot::http::webhooks::verify_signature`) on any
//! header and body; and a header we sign ourselves always verifies. Input: `<header>\0<body>`.
#![no_main]

use ingot::http::webhooks::{sign, verify_signature};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let header = String::from_utf8_lossy(header);
    let _ = verify_signature(&header, body, &["whsec_test", "whsec_old"], NOW, 300);
    let _ = verify_signature(&header, body, &[], NOW, 300);
    let signed = sign("whsec_test", NOW, body);
    assert_eq!(
        verify_signature(&signed, body, &["whsec_other", "whsec_test"], NOW + 299, 300),
        Ok(())
    );
    assert!(verify_signature(&signed, body, &["whsec_other"], NOW, 300).is_err());
});
