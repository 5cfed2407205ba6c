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
// Issue 11, helper A: refunds, Discord roles, transfers.
mod commerce_bed;
mod commerce_durability;
mod commerce_lifecycle;
mod commerce_team_lifecycle;
mod discord_roles;
mod fake_discord;
mod product_transfer;
mod refunds;
// Helper B (issue 11: subscriptions, coupons and credits, cohort sync)
mod cohort_sync;
mod coupons;
mod subscriptions;
// Purchase fan-out and ConvertKit (issue 11, helper C).
mod convertkit;
mod fanout_support;
mod live_events;
mod purchase_notices;
// People, scheduled email, Postmark (helper D).
mod people;
mod postmark;
mod scheduled_email;
mod video; // video pipeline (issue 12)
// Content and AI (helper F).
mod content_ai;
mod resource_chat;
