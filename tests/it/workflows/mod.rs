//! The platform's workflows end to end against the real daemon, with their integrations pointed at local fakes.

mod calendar_sync;
mod discord_account_linked;
mod discord_account_linked_durability;
mod email_send_broadcast;
mod harness;
mod post_purchase;
mod refund_remove_calendar;
mod stripe_checkout_session_completed;
mod stripe_purchase_end_to_end;
mod user_created;
// Content and AI (helper F).
mod content_ai;
mod resource_chat;
