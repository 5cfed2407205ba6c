//! Email broadcasts and Postmark delivery events (bounces, complaints, unsubscribes).

pub mod email_send_broadcast;
pub mod postmark_webhook;
