//! Stripe subscriptions: the checkout, status and period updates, paid invoices.

pub mod stripe_customer_subscription_created;
pub mod stripe_customer_subscription_updated;
pub mod stripe_invoice_payment_succeeded;
pub mod stripe_subscription_checkout;
