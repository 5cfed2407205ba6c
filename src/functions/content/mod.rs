//! Content editing and AI: PartyKit announcements, code extraction from screenshots, video split points, concepts, resource chat.

pub mod compute_video_split_points;
pub mod content_announce;
pub mod get_or_create_concept;
pub mod image_resource_created;
pub mod perform_code_extraction;
pub mod resource_chat;
pub mod video_resource_attached;
pub mod video_resource_detached;
