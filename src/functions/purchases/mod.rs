//! A purchase, from the Stripe checkout to everything that follows it: access, welcome and login emails, Slack, shortlink attribution, ConvertKit, purchase transfers.

pub mod add_purchases_convertkit;
pub mod post_purchase_workflow;
pub mod product_transfer_workflow;
pub mod purchase_fanout;
pub mod send_post_purchase_email;
pub mod send_post_purchase_slack;
pub mod shortlink_attribution;
pub mod stripe_checkout_session_completed;
pub mod sync_purchase_tags;
