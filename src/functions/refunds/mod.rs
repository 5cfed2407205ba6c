//! Refunds and purchase status changes (Refunded, Disputed, Banned): access taken back.

pub mod refund_entitlements;
pub mod update_purchase_status;
