//! Commerce: products and prices, purchases, coupons, the merchant (Stripe) mirror tables, checkout and refunds.
//!
//! Money is integer cents everywhere (`*_cents`); the original stored dollars as decimals and rounded a
//! purchase's total to whole dollars (reference §6.6) — we keep the exact amount.

pub mod checkout;
pub mod coupons;
pub mod merchants;
pub mod product_types;
pub mod products;
pub mod purchases;
pub mod refunds;
pub mod subscription_state;
pub mod subscriptions;

use serde::{Deserialize, Serialize};

/// A purchase's status. Stored by name; the names are forever (see migrations/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PurchaseStatus {
    Valid,
    Restricted,
    Refunded,
    Disputed,
    Banned,
}

impl PurchaseStatus {
    pub const ALL: [PurchaseStatus; 5] = [
        PurchaseStatus::Valid,
        PurchaseStatus::Restricted,
        PurchaseStatus::Refunded,
        PurchaseStatus::Disputed,
        PurchaseStatus::Banned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseStatus::Valid => "Valid",
            PurchaseStatus::Restricted => "Restricted",
            PurchaseStatus::Refunded => "Refunded",
            PurchaseStatus::Disputed => "Disputed",
            PurchaseStatus::Banned => "Banned",
        }
    }

    pub fn parse(s: &str) -> Option<PurchaseStatus> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Valid and Restricted purchases give access; the others do not.
    pub fn grants_access(self) -> bool {
        matches!(self, PurchaseStatus::Valid | PurchaseStatus::Restricted)
    }
}

impl std::fmt::Display for PurchaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
