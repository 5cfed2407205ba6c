//! `image-resource-created` — an image was uploaded (Cloudinary): tell the editors (reference §3.11).
//!
//! Triggers `image/resource-created` `{imageResourceId}` and the original `cloudinary/web-hook-event`
//! `{resourceId}` (no id: non-retriable). One step, "announce asset created": PartyKit message `{body: event.data,
//! requestId: <id>, name: "image.resource.created"}` to the site-wide room `NEXT_PUBLIC_PARTYKIT_ROOM_NAME` (unset
//! while PartyKit is configured: non-retriable, naming the setting). The image's content row is inserted by the
//! caller before the event. Returns the image resource id.

use crate::functions::content::content_announce::{announce, data_str};
use crate::functions::{Deps, event_triggers};
use crate::integrations::partykit::Message;
use ingot_actors::{FnError, FunctionDef, RunCtx, StepError};
use serde_json::{Value, json};

pub const ID: &str = "image-resource-created";
pub const EVENT: &str = "image/resource-created";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Image Resource Created", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Announces a new image resource on PartyKit in the site-wide room.")
        .services(&["partykit"])
        .emits(&[])
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let id = data_str(&ctx.event, &["resourceId", "imageResourceId"]);
    if id.is_empty() {
        return Err(StepError::fatal("the event names no image resource (resourceId/imageResourceId)").into());
    }
    let message = Message::new("image.resource.created", &id, ctx.event["data"].clone());
    announce(&ctx.step, &deps, "announce asset created", None, message).await?;
    Ok(json!(id))
}
