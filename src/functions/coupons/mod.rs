//! Coupons and credits: special-credit entitlements and PPP credit coupons.

pub mod create_ppp_credit_coupons;
pub mod grant_coupon_entitlements;
pub mod grant_coupon_entitlements_for_purchase;
