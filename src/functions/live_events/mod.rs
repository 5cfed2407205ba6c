//! Live events: the Google Calendar event and its attendees, the welcome email with the dates, daily reminders.

pub mod calendar_sync;
pub mod event_reminder_broadcast;
pub mod handle_refund_remove_calendar;
pub mod post_event_purchase;
pub mod send_live_event_welcome_email;
