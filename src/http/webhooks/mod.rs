//! Webhooks in: each provider's request is authenticated as that provider does it, mapped to our events, and
//! stored through the same intake transaction as `POST /e/{key}` (the worker's intake group,
//! [`crate::store::events::group`]). The answer is 2xx only once the events are durably stored; an
//! unauthenticated or malformed request stores nothing.
//!
//! Provider retries never start a second run: every event carries a dedupe `id` — the provider's event id where it
//! has one (`stripe:evt_…`), else a hash of the body.

pub mod deepgram;
pub mod mux;
pub mod ocr;
pub mod postmark;
pub mod stripe;

use super::AppState;
use super::error::ApiError;
use crate::store::events::ingest_once;
use crate::store::sql::Stmt;
use actix_web::{HttpResponse, web};
use hmac::{KeyInit, Mac};
use ingot_actors::event::{Draft, NewEvent, Origin, Target, prepare};
use ingot_actors::time::now_ms;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Largest webhook body accepted (the event cap).
pub const MAX_BODY: usize = crate::http::intake::MAX_EVENT_BYTES;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let limit = || web::PayloadConfig::new(MAX_BODY);
    cfg.service(
        web::resource("/webhooks/stripe")
            .app_data(limit())
            .route(web::post().to(stripe::receive)),
    )
    .service(
        web::resource("/webhooks/postmark")
            .app_data(limit())
            .route(web::post().to(postmark::receive)),
    )
    .service(
        web::resource("/webhooks/mux")
            .app_data(limit())
            .route(web::post().to(mux::receive)),
    )
    .service(
        web::resource("/webhooks/deepgram")
            .app_data(limit())
            .route(web::post().to(deepgram::receive)),
    )
    .service(
        web::resource("/webhooks/ocr")
            .app_data(limit())
            .route(web::post().to(ocr::receive)),
    );
}

/// Every event a webhook may produce, by provider. [`store`] refuses anything else (500), so this table is what the
/// function catalogue's consumer check reads and cannot drift from the mapping code.
pub const EMITS: &[(&str, &str)] = &[
    ("stripe", "stripe/checkout-session-completed"),
    ("stripe", "stripe/refund-processed"),
    ("stripe", "commerce/update-purchase-status"),
    ("stripe", "stripe/customer-subscription-created"),
    ("stripe", "stripe/customer-subscription-updated"),
    ("stripe", "stripe/customer-subscription-deleted"),
    ("stripe", "stripe/invoice-payment-succeeded"),
    ("postmark", "postmark/webhook"),
    ("mux", "mux/web-hook-event"),
    ("deepgram", "deepgram/web-hook-event"),
    ("ocr", "ocr/webhook"),
];

/// One event a webhook produces: name, data, and the dedupe id.
pub struct Incoming {
    pub name: String,
    pub data: Value,
    pub id: String,
}

/// Our events with the functions each matches, ready for the intake. An event missing from [`EMITS`] is refused
/// (500): the table is what the consumer check reads.
fn batch(state: &AppState, provider: &str, incoming: Vec<Incoming>, now: i64) -> Result<Vec<NewEvent>, ApiError> {
    if let Some(undeclared) = incoming.iter().find(|i| !EMITS.contains(&(provider, i.name.as_str()))) {
        return Err(ApiError::Internal(format!(
            "webhook {provider} produced {:?}, which is not in webhooks::EMITS",
            undeclared.name
        )));
    }
    incoming
        .into_iter()
        .map(|i| {
            let draft = Draft {
                external_id: Some(i.id),
                ts: Some(now),
                ..Draft::new(i.name, i.data)
            };
            prepare(draft, Origin::Producer, Target::Triggers(&state.registry), now)
                .map_err(|invalid| ApiError::BadRequest(format!("{provider} event: {invalid}")))
        })
        .collect()
}

/// Stores the events (and the runs they start) in one transaction, wakes the pools, answers 200 with our ids.
pub async fn store(state: &AppState, provider: &str, incoming: Vec<Incoming>) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let batch = batch(state, provider, incoming, now)?;
    let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
    if !batch.is_empty() {
        let ingested = state.intake.ingest(batch, now).await?;
        tracing::info!(provider, events = ids.len(), "webhook stored");
        state.supervisor.wake(ingested.woken);
    }
    Ok(HttpResponse::Ok().json(json!({"ids": ids, "status": 200})))
}

/// [`store`] behind a record of the delivery in the same transaction ([`ingest_once`]): persist, then perform.
/// A delivery recorded before stores nothing and answers 200 with no ids and `duplicate: true`.
pub async fn store_once(
    state: &AppState,
    provider: &str,
    prepare: &[Stmt],
    record: &Stmt,
    incoming: Vec<Incoming>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let batch = batch(state, provider, incoming, now)?;
    let stored = ingest_once(&state.db, prepare, record, &batch, now);
    match state.db.within(stored).await? {
        None => {
            tracing::info!(provider, "webhook delivery recorded before: nothing stored");
            Ok(HttpResponse::Ok().json(json!({"ids": [], "status": 200, "duplicate": true})))
        }
        Some(ingested) => {
            let ids: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
            tracing::info!(
                provider,
                events = ids.len(),
                runs = ingested.runs_created,
                "webhook recorded and stored"
            );
            state.supervisor.wake(ingested.woken);
            Ok(HttpResponse::Ok().json(json!({"ids": ids, "status": 200})))
        }
    }
}

/// `<provider>:<sha256 of the body>`: the dedupe id of providers that send no event id.
pub fn body_id(provider: &str, body: &[u8]) -> String {
    format!("{provider}:{}", hex::encode(Sha256::digest(body)))
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))
}

/// Constant-time string equality.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Why a signature header was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies a `t=<unix secs>,v1=<hex>[,v1=<hex>…]` header (Stripe's and Mux's scheme): HMAC-SHA256 of
/// `"<t>.<raw body>"` under any of `secrets` (rotation) must equal any `v1`, and `t` must be within `tolerance_s`
/// of `now_s`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secrets: &[&str],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_s - t).abs() > tolerance_s {
        return Err(SignatureError::Stale);
    }
    let t = t.to_string();
    for secret in secrets {
        let expected = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
        if v1.iter().any(|sig| {
            use subtle::ConstantTimeEq;
            sig.len() == expected.len() && bool::from(sig.as_slice().ct_eq(expected.as_slice()))
        }) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Signs like Stripe does (tests and `ingot` tooling use it to produce valid headers).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(mac))
}

/// HMAC-SHA256 of the concatenated `parts` under `key` (the primitive under both Stripe's and Mux's scheme).
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign("whsec_a", 1000, body);
        assert_eq!(verify_signature(&h, body, &["whsec_a"], 1000, 300), Ok(()));
        // Rotation: the old and the new secret are both accepted; several v1 entries are allowed.
        let both = format!("{h},v1={}", sign("whsec_b", 1000, body).split("v1=").nth(1).unwrap());
        assert_eq!(verify_signature(&both, body, &["whsec_b"], 1000, 300), Ok(()));
        assert_eq!(verify_signature(&h, body, &["whsec_new", "whsec_a"], 1000, 300), Ok(()));
        assert_eq!(
            verify_signature(&h, b"{}", &["whsec_a"], 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&h, body, &["whsec_x"], 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&h, body, &["whsec_a"], 1301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature("v1=00", body, &["whsec_a"], 1000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("t=1000", body, &["whsec_a"], 1000, 300),
            Err(SignatureError::Malformed)
        );
    }

    // Known-answer vectors published by the providers (or the RFC of the primitive). Each input is copied as
    // published; none is computed by our own code.

    /// RFC 4231 §4.2 and §4.3 (HMAC-SHA256 test cases 1 and 2), https://www.rfc-editor.org/rfc/rfc4231.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Stripe's own SDK fixture: github.com/stripe/stripe-dotnet, src/StripeTests/Services/Events/EventUtilityTest.cs
    /// (timestamp 1533204620, secret "webhook_secret", the header with its `v0` entry) over the body
    /// src/StripeTests/Resources/event_test_signature.json, byte for byte (LF line ends, final newline).
    const STRIPE_DOTNET_BODY: &str = "{\n  \"id\": \"evt_123\",\n  \"object\": \"event\",\n  \"account\": \"acct_123\",\n  \"api_version\": \"2017-05-25\",\n  \"created\": 1533204620,\n  \"data\": {\n    \"object\": {\n      \"id\": \"cus_123\",\n      \"object\": \"customer\",\n      \"created\": 123456789,\n      \"email\": \"test@stripe.com\",\n      \"livemode\": false,\n      \"metadata\": {}\n    }\n  },\n  \"livemode\": false,\n  \"pending_webhooks\": 1,\n  \"request\": {\n    \"id\": \"req_123\",\n    \"idempotency_key\": \"idempotency-key-123\"\n  },\n  \"type\": \"customer.created\"\n}\n";
    const STRIPE_DOTNET_HEADER: &str = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";

    #[test]
    fn stripe_sdk_vector() {
        let body = STRIPE_DOTNET_BODY.as_bytes();
        let t = 1533204620;
        // EventUtilityTest.ConstructEvent: accepted 100 s after the timestamp with a 300 s tolerance.
        assert_eq!(
            verify_signature(STRIPE_DOTNET_HEADER, body, &["webhook_secret"], t + 100, 300),
            Ok(())
        );
        // Our signer produces the published v1.
        assert_eq!(
            sign("webhook_secret", t, body),
            STRIPE_DOTNET_HEADER.split(",v0=").next().unwrap()
        );
        // RejectOutdatedTimestamp: 400 s late with a 300 s tolerance.
        assert_eq!(
            verify_signature(STRIPE_DOTNET_HEADER, body, &["webhook_secret"], t + 400, 300),
            Err(SignatureError::Stale)
        );
        // RejectIncorrectSignature: the body with text appended.
        let changed = format!("{STRIPE_DOTNET_BODY}this_changes_the_json");
        assert_eq!(
            verify_signature(
                STRIPE_DOTNET_HEADER,
                changed.as_bytes(),
                &["webhook_secret"],
                t + 100,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        // ValidateSignatureHandlesIncorrectHeaderValues (a selection): refused, never accepted.
        for header in [
            "t=,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
            "t,v1=,v0=",
            "t,,",
            ",,",
            "t",
        ] {
            assert!(
                verify_signature(header, body, &["webhook_secret"], t, 300).is_err(),
                "{header}"
            );
        }
    }

    /// Mux's SDK fixture: github.com/muxinc/mux-node-sdk, tests/api-resources/webhooks.test.ts (secret
    /// "SuperSecret123", timestamp 1565125718, both payloads and hashes of that file).
    #[test]
    fn mux_sdk_vectors() {
        let t = 1565125718;
        let secret = ["SuperSecret123"];
        let hash = "854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7";
        let body = br#"{"test":"body"}"#;
        let header = format!("t={t},v1={hash}");
        assert_eq!(verify_signature(&header, body, &secret, t, 300), Ok(()));
        assert_eq!(sign(secret[0], t, body), header);
        // "should throw for timestamp outside threshold": 6 minutes later.
        assert_eq!(
            verify_signature(&header, body, &secret, t + 360, 300),
            Err(SignatureError::Stale)
        );
        // "should pass for multiple signatures" (an unreadable v1 first) and "... with different version".
        let several = format!("t={t},v1=invalid-sig,v1={hash}");
        assert_eq!(verify_signature(&several, body, &secret, t, 300), Ok(()));
        let mixed = format!("t={t},v2={hash},v1={hash}");
        assert_eq!(verify_signature(&mixed, body, &secret, t, 300), Ok(()));
        // "should throw for different signature version" and "... if signature timestamp is missing".
        let v2_only = format!("t={t},v2={hash}");
        assert_eq!(
            verify_signature(&v2_only, body, &secret, t, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(hash, body, &secret, t, 300),
            Err(SignatureError::Malformed)
        );
        // unwrap_times: the second payload of the file, with a space inside the raw body.
        let body = br#"{"test":{"nested":{"nanos":718234, "seconds":1691711005}}}"#;
        let header = format!("t={t},v1=bd315c24bce1c2b8ad325696f26530c8ef7d7d830afb7c1381903705d04607be");
        assert_eq!(verify_signature(&header, body, &secret, t, 300), Ok(()));
    }
}
