//! The course platform's workflows, registered with the runtime: one folder per domain, one file per function,
//! named by its id.
//!
//! Event names: the design document's names are canonical; [`EVENT_ALIASES`] lists the original platform's names
//! for the same events, which every function also listens to, so the existing web app works unchanged.

pub mod catalogue;
pub mod cohorts;
pub mod content;
pub mod coupons;
pub mod discord;
pub mod email;
pub mod live_events;
pub mod outputs;
pub mod people;
pub mod purchases;
pub mod refunds;
pub mod subscriptions;
pub mod video;

use crate::config::Config;
use crate::integrations::Integrations;
use crate::store::Db;
use ingot_actors::{FunctionDef, Trigger};
use std::sync::Arc;

/// What every workflow may use.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub config: Arc<Config>,
    /// External services (Discord, Stripe, email, ...), each a rate-limited service actor.
    pub integrations: Integrations,
}

impl Deps {
    /// Starts the service actors on the current runtime.
    pub fn new(db: Db, config: Arc<Config>) -> Deps {
        let integrations = Integrations::start(&config.integrations, &db);
        Deps {
            db,
            config,
            integrations,
        }
    }
}

/// The Newsletter preference type and the Email channel: what `user-created` and `email-send-broadcast` load
/// first. Missing reference rows are non-retriable ("Preference type or channel not found").
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeAndChannel {
    pub preference_type: crate::platform::communication::Named,
    pub channel: crate::platform::communication::Named,
}

/// The body of the step "load the preference type and channel".
pub async fn load_type_and_channel(db: &Db) -> Result<TypeAndChannel, ingot_actors::StepError> {
    let connected = async {
        Ok::<_, crate::store::Error>(crate::with_conn!(db, read, |c| {
            load_type_and_channel_in(&mut crate::store::DbTx::from(c)).await
        }))
    };
    connected
        .await
        .map_err(|e| ingot_actors::StepError::retryable(e.to_string()))?
}

/// [`load_type_and_channel`] on a given connection (a transactional step's; `user-created`'s first step).
pub async fn load_type_and_channel_in(
    tx: &mut crate::store::DbTx<'_>,
) -> Result<TypeAndChannel, ingot_actors::StepError> {
    match crate::platform::communication::get_type_and_channel_in(tx, "Newsletter", "Email")
        .await
        .map_err(crate::platform::Error::into_step_error)?
    {
        Some((preference_type, channel)) => Ok(TypeAndChannel {
            preference_type,
            channel,
        }),
        None => Err(ingot_actors::StepError::fatal("Preference type or channel not found")),
    }
}

/// Canonical event name → the original platform's name for it.
pub const EVENT_ALIASES: &[(&str, &str)] = &[
    ("purchase/created", "commerce/new-purchase-created"),
    ("coupon/full-price-redeemed", "commerce/full-price-coupon-redeemed"),
    ("stripe/refund-processed", "commerce/refund-processed"),
    ("discord/user-added-to-cohort", "cohort/user-added"),
    ("discord/user-added-to-workshop", "workshop/user-added"),
    ("oauth/provider-account-linked", "user/oauth-provider-account-linked"),
    // Issue 11, helper A: the design registry's name for a linked Discord account, and the transfers' originals.
    ("oauth/provider-account-linked", "discord/account-linked"),
    ("purchase/transferred", "commerce/purchase_transferred"),
    ("purchase/transferred-api", "commerce/purchase_transferred_api"),
    // Helper B (issue 11)
    ("coupon/create-ppp-credit", "coupon/create-ppp-credit-for-purchasers"),
    ("subscription/created", "commerce/new-subscription-created"),
    // Purchase fan-out and ConvertKit (issue 11, helper C).
    ("sync/purchase-tags", "purchase/sync-tags"),
    // People, Postmark (helper D).
    ("user-organizations/create", "create-user-organizations"),
    ("personal-organization/ensure", "organization/ensure-personal"),
    ("postmark/webhook", "postmark/web-hook-event"),
    // Content and AI (helper F).
    ("video/attached", "video.asset.attached"),
    ("video/detached", "video.asset.detached"),
    ("image/resource-created", "cloudinary/web-hook-event"),
    ("ocr/webhook", "ocr/web-hook-event"),
    ("video/split-points-requested", "split_video/request_split_points"),
    ("concept/tags-requested", "concepts/tags-requested-event"),
    ("resource/chat-request", "resource/chat-request-event"),
];

/// Triggers for a canonical event name: the name itself, plus its original-platform alias if it has one.
pub fn event_triggers(name: &str, condition: Option<&str>) -> Vec<Trigger> {
    std::iter::once(name)
        .chain(
            EVENT_ALIASES
                .iter()
                .filter(|(canonical, _)| *canonical == name)
                .map(|(_, alias)| *alias),
        )
        .map(|n| match condition {
            Some(c) => Trigger::event_if(n, c),
            None => Trigger::event(n),
        })
        .collect()
}

/// Every function this daemon runs.
pub fn all(deps: &Deps) -> Vec<FunctionDef> {
    vec![
        people::user_created::definition(deps.clone()),
        purchases::post_purchase_workflow::definition(deps.clone()),
        discord::discord_account_linked::definition(deps.clone()),
        live_events::calendar_sync::definition(deps.clone()),
        live_events::handle_refund_remove_calendar::definition(deps.clone()),
        purchases::stripe_checkout_session_completed::definition(deps.clone()),
        email::email_send_broadcast::definition(deps.clone()),
        // Issue 11, helper A.
        refunds::update_purchase_status::definition(deps.clone()),
        refunds::refund_entitlements::definition(deps.clone()),
        discord::remove_purchase_role_discord::definition(deps.clone()),
        discord::add_discord_role_workflow::definition(deps.clone()),
        purchases::product_transfer_workflow::definition(deps.clone()),
        purchases::product_transfer_workflow::api_definition(deps.clone()),
        // Helper B (issue 11: subscriptions, coupons and credits, cohort sync)
        cohorts::cohort_entitlement_sync_workflow::definition(deps.clone()),
        cohorts::cohort_entitlement_sync_user::definition(deps.clone()),
        coupons::grant_coupon_entitlements_for_purchase::definition(deps.clone()),
        coupons::grant_coupon_entitlements::definition(deps.clone()),
        coupons::create_ppp_credit_coupons::definition(deps.clone()),
        subscriptions::stripe_subscription_checkout::definition(deps.clone()),
        subscriptions::stripe_customer_subscription_created::definition(deps.clone()),
        subscriptions::stripe_customer_subscription_updated::definition(deps.clone()),
        subscriptions::stripe_invoice_payment_succeeded::definition(deps.clone()),
        discord::add_subscription_discord_role::definition(deps.clone()),
        // Purchase fan-out and ConvertKit (issue 11, helper C).
        live_events::post_event_purchase::definition(deps.clone()),
        live_events::send_live_event_welcome_email::definition(deps.clone()),
        purchases::shortlink_attribution::definition(deps.clone()),
        purchases::send_post_purchase_email::definition(deps.clone()),
        purchases::send_post_purchase_slack::definition(deps.clone()),
        purchases::add_purchases_convertkit::definition(deps.clone()),
        purchases::sync_purchase_tags::definition(deps.clone()),
        // People, scheduled email, Postmark (helper D).
        people::user_signup_admin_email::definition(deps.clone()),
        people::create_user_organizations::definition(deps.clone()),
        people::ensure_personal_organization::definition(deps.clone()),
        email::postmark_webhook::definition(deps.clone()),
        cohorts::send_workshop_access_emails::definition(deps.clone()),
        live_events::event_reminder_broadcast::definition(deps.clone()),
        // Content and AI (helper F).
        content::compute_video_split_points::definition(deps.clone()),
        content::get_or_create_concept::definition(deps.clone()),
        content::video_resource_attached::definition(deps.clone()),
        content::video_resource_detached::definition(deps.clone()),
        content::image_resource_created::definition(deps.clone()),
        content::perform_code_extraction::definition(deps.clone()),
        content::resource_chat::definition(deps.clone()),
    ]
    .into_iter()
    .chain(video::definitions(deps)) // video pipeline (issue 12)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_add_the_original_name() {
        let names: Vec<String> = event_triggers("purchase/created", None)
            .into_iter()
            .filter_map(|t| match t {
                Trigger::Event { event, .. } => Some(event),
                Trigger::Cron { .. } => None,
            })
            .collect();
        assert_eq!(names, ["purchase/created", "commerce/new-purchase-created"]);
        assert_eq!(event_triggers("user/created", None).len(), 1);
    }
}
