//! The course platform's workflows, registered with the runtime. One file per function, named by its id.
//!
//! Event names: the design document's names are canonical; [`EVENT_ALIASES`] lists the original platform's names
//! for the same events, which every function also listens to, so the existing web app works unchanged.

pub mod calendar_sync;
pub mod discord_account_linked;
pub mod email_send_broadcast;
pub mod handle_refund_remove_calendar;
pub mod post_purchase_workflow;
pub mod stripe_checkout_session_completed;
pub mod user_created;
// Content and AI (helper F).
pub mod compute_video_split_points;
pub mod content_announce;
pub mod get_or_create_concept;
pub mod image_resource_created;
pub mod perform_code_extraction;
pub mod resource_chat;
pub mod video_resource_attached;
pub mod video_resource_detached;

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
    use crate::platform::communication::{get_channel, get_preference_type};
    use ingot_actors::ResultExt;
    let preference_type = get_preference_type(db, "Newsletter").await.retryable()?;
    let channel = get_channel(db, "Email").await.retryable()?;
    match (preference_type, channel) {
        (Some(preference_type), Some(channel)) => Ok(TypeAndChannel {
            preference_type,
            channel,
        }),
        _ => Err(ingot_actors::StepError::fatal("Preference type or channel not found")),
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
        user_created::definition(deps.clone()),
        post_purchase_workflow::definition(deps.clone()),
        discord_account_linked::definition(deps.clone()),
        calendar_sync::definition(deps.clone()),
        handle_refund_remove_calendar::definition(deps.clone()),
        stripe_checkout_session_completed::definition(deps.clone()),
        email_send_broadcast::definition(deps.clone()),
        // Content and AI (helper F).
        compute_video_split_points::definition(deps.clone()),
        get_or_create_concept::definition(deps.clone()),
        video_resource_attached::definition(deps.clone()),
        video_resource_detached::definition(deps.clone()),
        image_resource_created::definition(deps.clone()),
        perform_code_extraction::definition(deps.clone()),
        resource_chat::definition(deps.clone()),
    ]
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
