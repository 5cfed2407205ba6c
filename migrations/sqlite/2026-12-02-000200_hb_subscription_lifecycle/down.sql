DROP TABLE merchant_invoices;
ALTER TABLE subscriptions DROP COLUMN stripe_changed_at;
ALTER TABLE subscriptions DROP COLUMN ended_at;
ALTER TABLE subscriptions DROP COLUMN current_period_end;
ALTER TABLE subscriptions DROP COLUMN current_period_start;
