//! `send-post-purchase-email` — the buyer gets a "thank you" email with a magic login link and their invoice
//! (reference §4).
//!
//! Trigger `purchase/created` (and `commerce/new-purchase-created`), every product type. Idempotency
//! `event.data.checkoutSessionId`, as the original. Steps:
//! 1. "Load Purchase" — missing, or without a buyer: non-retriable.
//! 2. A purchase that no longer gives access (Refunded, Disputed, Banned) by the time the run starts: returns
//!    `{skipped: true, reason}` — decision: no login link for a purchase that opens nothing (the original sent
//!    it anyway).
//! 3. "Load User" — missing: non-retriable. "Load Product" — for the subject; gone: the site title instead.
//! 4. "send customer email" — the magic link, as Auth.js's email provider builds it: a verification token in
//!    `verification_tokens` (identifier = the email, token = `sha256(token + NEXTAUTH_SECRET)` in hex, expires in
//!    24 h) and the link `<NEXT_PUBLIC_URL>/api/auth/callback/postmark?callbackUrl=<NEXT_PUBLIC_URL>/welcome?purchaseId=<id>&token=<token>&email=<email>`;
//!    the invoice link `<COURSEBUILDER_URL or NEXT_PUBLIC_URL>/invoices/<merchant charge id>` (none for a purchase
//!    without a charge); template `post_purchase_login`, subject "Thank you for Purchasing \<product> (\<host>)".
//!    Missing `NEXT_PUBLIC_URL` or `NEXTAUTH_SECRET`: non-retriable, naming the setting.
//!
//! Durability: the raw token is never stored (nor in the step's output). It is derived as
//! `HMAC-SHA256(NEXTAUTH_SECRET, "ingot-magic-link/<run id>")`, so a step re-run after a crash (between the SMTP
//! server's acceptance and the step's record) stores the same token again (a no-op: the first expiry stays) and
//! sends the same link, under the same Message-ID (fixed by the run and step). SMTP 4xx and connection failures
//! retry; 5xx fail the run.
//!
//! Returns `{to, template, messageId, invoiceUrl, tokenExpires, response, dryRun}`.

use crate::email::Template;
use crate::functions::outputs::PurchaseOutput;
use crate::functions::purchases::purchase_fanout::{
    PURCHASE_CREATED, data_str, db_err, first_name, load_buyer, load_purchase,
};
use crate::functions::{Deps, event_triggers};
use crate::platform::commerce::products::get_product_row_in;
use crate::platform::users::{User, create_verification_token};
use crate::store::tx_step;
use hmac::{KeyInit, Mac};
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ID: &str = "send-post-purchase-email";
/// How long a login link works.
pub const TOKEN_LIFETIME_HOURS: i64 = 24;

pub fn definition(deps: Deps) -> FunctionDef {
    event_triggers(PURCHASE_CREATED, None)
        .into_iter()
        .fold(
            FunctionDef::new(ID, "Send Post Purchase Email", move |ctx| run(deps.clone(), ctx)),
            FunctionDef::trigger,
        )
        .idempotency("event.data.checkoutSessionId")
        .summary("After a purchase: emails the buyer a magic login link (an Auth.js verification token) and the invoice link.")
        .services(&["email"])
}

/// The raw magic-link token of a run: `HMAC-SHA256(secret, "ingot-magic-link/<run id>")` in hex.
pub fn magic_link_token(secret: &str, run_id: &str) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("ingot-magic-link/{run_id}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What `verification_tokens.token` holds for a raw token (Auth.js: `sha256(token + secret)` in hex).
pub fn hashed_token(token: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{token}{secret}").as_bytes()))
}

/// The Auth.js email-provider callback link that logs `email` in and lands on the purchase's welcome page.
pub fn login_url(site: &str, purchase_id: &str, token: &str, email: &str) -> Result<String, String> {
    let callback = format!("{site}/welcome?purchaseId={purchase_id}");
    reqwest::Url::parse_with_params(
        &format!("{site}/api/auth/callback/postmark"),
        &[("callbackUrl", callback.as_str()), ("token", token), ("email", email)],
    )
    .map(String::from)
    .map_err(|e| format!("cannot build the login link: {e}"))
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let db = &deps.db;
    let icfg = &deps.config.integrations;
    let purchase_id = data_str(&ctx.event, "purchaseId")
        .ok_or_else(|| FnError::NonRetriable("The event has no purchaseId".into()))?;

    // The three loads are read steps (`tx_step::read`): recorded with the run's next write.
    let id = purchase_id.clone();
    let purchase: PurchaseOutput = tx_step::read(&ctx.step, "Load Purchase", move |tx| {
        let purchase_id = id.clone();
        Box::pin(async move {
            let p = load_purchase(tx, &purchase_id).await?;
            if p.user_id.as_deref().is_none_or(str::is_empty) {
                return Err(StepError::fatal(format!("Purchase {purchase_id} has no user")));
            }
            Ok(p)
        })
    })
    .await?;
    if !purchase.status.grants_access() {
        return Ok(json!({"skipped": true, "reason": format!("Purchase is {}", purchase.status)}));
    }
    let p = purchase.clone();
    let user: User = tx_step::read(&ctx.step, "Load User", move |tx| {
        let p = p.clone();
        Box::pin(async move { load_buyer(tx, &p).await })
    })
    .await?;
    let (product_id, site_title) = (purchase.product_id.clone(), deps.config.site_title.clone());
    let product_name: String = tx_step::read(&ctx.step, "Load Product", move |tx| {
        let (product_id, site_title) = (product_id.clone(), site_title.clone());
        Box::pin(async move {
            Ok(get_product_row_in(tx, &product_id)
                .await
                .map_err(db_err)?
                .map(|p| p.name)
                .unwrap_or(site_title))
        })
    })
    .await?;

    let step = "send customer email";
    let key = format!("{}/{step}", ctx.run_id);
    ctx.step
        .run(step, || async {
            let site = icfg
                .public_url
                .as_deref()
                .ok_or_else(|| StepError::fatal("NEXT_PUBLIC_URL is not set: no login link can be built"))?;
            let secret = match (&icfg.nextauth_secret, icfg.dry_run) {
                (Some(s), _) => s.expose().to_string(),
                (None, true) => "dry-run".to_string(),
                (None, false) => {
                    return Err(StepError::fatal(
                        "NEXTAUTH_SECRET is not set: no login token can be made",
                    ));
                }
            };
            let email = user.email.trim().to_string();
            let token = magic_link_token(&secret, &ctx.run_id);
            let expires = crate::platform::now() + chrono::Duration::hours(TOKEN_LIFETIME_HOURS);
            create_verification_token(db, &email, &hashed_token(&token, &secret), expires)
                .await
                .map_err(db_err)?;
            let login = login_url(site, &purchase.id, &token, &email).map_err(StepError::fatal)?;
            let host = reqwest::Url::parse(site)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| site.to_string());
            let base = icfg.coursebuilder_url.as_deref().unwrap_or(site);
            let invoice = purchase
                .merchant_charge_id
                .as_deref()
                .map(|c| format!("{base}/invoices/{c}"));
            let vars = json!({
                "product_name": product_name,
                "host": host,
                "login_url": login,
                "invoice_url": invoice,
                "user_first_name": first_name(user.name.as_deref()),
                "site_title": deps.config.site_title,
            });
            let template = Template::PostPurchaseLogin;
            let sent = deps
                .integrations
                .email
                .send_template_keyed(&key, &email, template, &vars, icfg.support_email.as_deref())
                .await?;
            Ok(json!({
                "to": email,
                "template": template.name(),
                "messageId": crate::email::message_id_for(&key),
                "invoiceUrl": invoice,
                "tokenExpires": expires,
                "response": sent.response,
                "dryRun": sent.dry_run,
            }))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_fixed_by_the_run_and_stored_hashed_as_auth_js_does() {
        let a = magic_link_token("s3cret", "run-1");
        assert_eq!(a, magic_link_token("s3cret", "run-1"));
        assert_ne!(a, magic_link_token("s3cret", "run-2"));
        assert_ne!(a, magic_link_token("other", "run-1"));
        assert_eq!(a.len(), 64);
        // sha256("abc" + "def") = sha256("abcdef")
        assert_eq!(
            hashed_token("abc", "def"),
            "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
        );
    }

    #[test]
    fn the_login_link_is_the_auth_js_callback() {
        let url = login_url("https://aihero.dev", "purch_1", "tok", "a+b@example.com").unwrap();
        assert_eq!(
            url,
            "https://aihero.dev/api/auth/callback/postmark?callbackUrl=https%3A%2F%2Faihero.dev%2Fwelcome%3FpurchaseId%3Dpurch_1&token=tok&email=a%2Bb%40example.com"
        );
    }
}
