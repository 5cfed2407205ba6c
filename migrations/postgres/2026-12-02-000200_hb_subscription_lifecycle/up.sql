-- Subscriptions follow Stripe (issue 11): the current billing period, when the subscription ended, and the
-- Stripe event time (`created`, seconds) of the last change applied, so an older delivery never moves a
-- subscription back.
ALTER TABLE subscriptions ADD COLUMN current_period_start TIMESTAMP;
ALTER TABLE subscriptions ADD COLUMN current_period_end TIMESTAMP;
ALTER TABLE subscriptions ADD COLUMN ended_at TIMESTAMP;
ALTER TABLE subscriptions ADD COLUMN stripe_changed_at BIGINT;

-- Paid Stripe invoices (`invoice.payment_succeeded`), once per Stripe invoice id.
CREATE TABLE merchant_invoices (
    id TEXT PRIMARY KEY NOT NULL,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    identifier TEXT NOT NULL UNIQUE,
    subscription_id TEXT REFERENCES subscriptions (id),
    stripe_subscription_id TEXT,
    stripe_customer_id TEXT,
    amount_paid_cents BIGINT NOT NULL,
    currency TEXT,
    billing_reason TEXT,
    period_start TIMESTAMP,
    period_end TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX merchant_invoices_subscription_id ON merchant_invoices (subscription_id);
