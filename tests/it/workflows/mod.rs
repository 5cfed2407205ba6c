//! The platform's workflows end to end against the real daemon, with their integrations pointed at local fakes.

mod email_send_broadcast;
mod helper_b_support;
mod stripe_checkout_session_completed;
mod stripe_purchase_end_to_end;
