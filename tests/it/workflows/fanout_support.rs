//! Shared by the purchase fan-out tests (`live_events`, `purchase_notices`, `convertkit`): reading a received
//! email (headers, encoded-word subjects, quoted-printable and base64 parts), picking one function's run among
//! the many a `purchase/created` starts, and buying through the platform's checkout.

use crate::support::{Api, TestDb};
use base64::Engine;
use ingot::platform::commerce::checkout::{self, ChargeAndPurchase, ParsedCheckoutSession};
use ingot::platform::commerce::merchants;
use ingot::platform::commerce::purchases::Purchase;
use ingot::seed::demo::ids;
use serde_json::Value;

/// A header's value (continuation lines unfolded), from the message's top-level headers.
pub fn header(data: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines = data.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut v = line[prefix.len()..].trim().to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                v.push(' ');
                v.push_str(next.trim());
                lines.next();
            }
            return Some(v);
        }
    }
    None
}

/// The subject, with RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded.
pub fn subject(data: &str) -> String {
    let raw = header(data, "Subject").expect("a Subject header");
    let mut out = Vec::new();
    for word in raw.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with("=?utf-8?b?") && word.ends_with("?=") {
            out.push(
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(&word[10..word.len() - 2])
                        .expect("base64 word"),
                )
                .unwrap(),
            );
        } else if lower.starts_with("=?utf-8?q?") && word.ends_with("?=") {
            out.push(quoted_printable(&word[10..word.len() - 2].replace('_', " ")));
        } else {
            out.push(format!(" {word} "));
        }
    }
    // Adjacent encoded words join without the space between them; plain words keep theirs.
    out.concat().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Every body part of the message, decoded (quoted-printable, base64 or as is), joined.
pub fn body(data: &str) -> String {
    let mut out = String::new();
    let mut encoding = String::new();
    let mut in_headers = false;
    let mut part = Vec::new();
    let flush = |encoding: &str, part: &mut Vec<&str>, out: &mut String| {
        let text = part.join("\n");
        out.push_str(&match encoding {
            "quoted-printable" => quoted_printable(&text),
            "base64" => String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(text.split_whitespace().collect::<String>())
                    .unwrap_or_default(),
            )
            .to_string(),
            _ => text,
        });
        out.push('\n');
        part.clear();
    };
    for line in data.lines() {
        if line.starts_with("--") {
            flush(&encoding, &mut part, &mut out);
            in_headers = true;
            encoding.clear();
            continue;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
            } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-transfer-encoding:") {
                encoding = v.trim().to_string();
            }
            continue;
        }
        part.push(line);
    }
    flush(&encoding, &mut part, &mut out);
    out
}

/// The one run of `function` that `event_id` started.
pub async fn run_of(api: &Api, event_id: &str, function: &str) -> Value {
    let runs: Vec<Value> = api
        .runs_of(event_id)
        .await
        .into_iter()
        .filter(|r| r["function_id"] == function)
        .collect();
    assert_eq!(runs.len(), 1, "one {function} run for {event_id}: {runs:?}");
    runs.into_iter().next().unwrap()
}

/// A purchase through the platform's checkout (merchant charge, session and customer) by `user` of a demo
/// product, paid with Stripe charge `charge` in checkout session `cs_<charge>`.
pub async fn buy(db: &TestDb, user: &str, product: &str, charge: &str, quantity: i32) -> Purchase {
    let mp = merchants::get_merchant_product(&db.db, &format!("stripe_{product}"))
        .await
        .unwrap()
        .expect("a demo product with a Stripe product");
    let (customer, _) =
        merchants::find_or_create_merchant_customer(&db.db, ids::MERCHANT_ACCOUNT, user, &format!("cus_{user}"))
            .await
            .unwrap();
    checkout::create_merchant_charge_and_purchase(
        &db.db,
        &ChargeAndPurchase {
            user_id: user.into(),
            product_id: product.into(),
            merchant_account_id: ids::MERCHANT_ACCOUNT.into(),
            merchant_product_id: mp.id,
            merchant_customer_id: customer.id,
            session: ParsedCheckoutSession {
                checkout_session_id: format!("cs_{charge}"),
                stripe_charge_id: charge.into(),
                stripe_charge_amount_cents: 5_000 * i64::from(quantity),
                quantity,
                ..ParsedCheckoutSession::default()
            },
        },
    )
    .await
    .unwrap()
    .purchase
}
