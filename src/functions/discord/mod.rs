//! Discord: joining the guild on account linking, roles that follow purchases and subscriptions.

pub mod add_discord_role_workflow;
pub mod add_subscription_discord_role;
pub mod discord_account_linked;
pub mod remove_purchase_role_discord;
