-- The course platform's data model (accounts, organizations, commerce, entitlements, content, shortlinks), shared
-- with the web app. Conventions as in 000002: TEXT ids, JSON as TEXT (default '{}'), UTC TIMESTAMPs, enumerations
-- as TEXT + CHECK. Money is stored as integer cents (`*_cents`), never as floating point.

-- Auth.js OAuth accounts. Discord linkage = provider 'discord', provider_account_id = the Discord user id.
CREATE TABLE accounts (
    provider TEXT NOT NULL,
    provider_account_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL DEFAULT 'oauth',
    refresh_token TEXT,
    access_token TEXT,
    expires_at BIGINT,
    token_type TEXT,
    scope TEXT,
    id_token TEXT,
    session_state TEXT,
    oauth_token TEXT,
    oauth_token_secret TEXT,
    refresh_token_expires_in BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (provider, provider_account_id)
);
CREATE INDEX accounts_user_id ON accounts (user_id, provider);

-- Auth.js magic-link tokens (the post-purchase login email).
CREATE TABLE verification_tokens (
    identifier TEXT NOT NULL,
    token TEXT NOT NULL,
    expires TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (identifier, token)
);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    image TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX organizations_name ON organizations (name);

CREATE TABLE organization_memberships (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role TEXT NOT NULL DEFAULT 'user',
    invited_by_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fields TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
-- One membership per user and organization: adding a member twice (a retried step) finds the first.
CREATE UNIQUE INDEX organization_memberships_org_user ON organization_memberships (organization_id, user_id);
CREATE INDEX organization_memberships_user ON organization_memberships (user_id, created_at);

CREATE TABLE organization_membership_roles (
    organization_membership_id TEXT NOT NULL REFERENCES organization_memberships (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    organization_id TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    deleted_at TIMESTAMP,
    PRIMARY KEY (organization_membership_id, role_id)
);

CREATE TABLE products (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    name TEXT NOT NULL,
    key TEXT,
    type TEXT NOT NULL DEFAULT 'self-paced' CHECK (type IN ('self-paced', 'live', 'membership', 'cohort')),
    fields TEXT NOT NULL DEFAULT '{}',
    status INTEGER NOT NULL DEFAULT 1,
    quantity_available INTEGER NOT NULL DEFAULT -1,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE prices (
    id TEXT PRIMARY KEY NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    organization_id TEXT,
    nickname TEXT,
    status INTEGER NOT NULL DEFAULT 1,
    unit_amount_cents BIGINT NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX prices_product_id ON prices (product_id);

CREATE TABLE merchant_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    status INTEGER NOT NULL DEFAULT 1,
    label TEXT NOT NULL,
    identifier TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX merchant_accounts_label ON merchant_accounts (label);

CREATE TABLE merchant_customers (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    user_id TEXT NOT NULL REFERENCES users (id),
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    identifier TEXT NOT NULL UNIQUE,
    status INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX merchant_customers_user_id ON merchant_customers (user_id);

CREATE TABLE merchant_products (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    status INTEGER NOT NULL DEFAULT 1,
    identifier TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX merchant_products_product_id ON merchant_products (product_id);

CREATE TABLE merchant_prices (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    merchant_product_id TEXT NOT NULL REFERENCES merchant_products (id),
    price_id TEXT REFERENCES prices (id),
    status INTEGER NOT NULL DEFAULT 1,
    identifier TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE merchant_coupons (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    identifier TEXT NOT NULL UNIQUE,
    status INTEGER NOT NULL DEFAULT 1,
    percentage_discount DOUBLE PRECISION,
    amount_discount_cents BIGINT,
    type TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX merchant_coupons_type_amount ON merchant_coupons (type, amount_discount_cents);

CREATE TABLE merchant_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    merchant_customer_id TEXT NOT NULL REFERENCES merchant_customers (id),
    merchant_product_id TEXT NOT NULL REFERENCES merchant_products (id),
    status INTEGER NOT NULL DEFAULT 1,
    label TEXT,
    identifier TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE merchant_charges (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    status INTEGER NOT NULL DEFAULT 1,
    identifier TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id),
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    merchant_product_id TEXT NOT NULL REFERENCES merchant_products (id),
    merchant_customer_id TEXT NOT NULL REFERENCES merchant_customers (id),
    merchant_subscription_id TEXT REFERENCES merchant_subscriptions (id),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE merchant_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    identifier TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- Every Stripe webhook event, stored once by its Stripe id.
CREATE TABLE merchant_events (
    id TEXT PRIMARY KEY NOT NULL,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts (id),
    identifier TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT REFERENCES organizations (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    merchant_subscription_id TEXT NOT NULL UNIQUE REFERENCES merchant_subscriptions (id),
    status TEXT NOT NULL DEFAULT 'active',
    fields TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX subscriptions_organization_id ON subscriptions (organization_id, status);

-- Coupons. A bulk (team) coupon is the `bulk_coupon_id` of the purchase that bought the seats; a seat redemption
-- is a purchase whose `redeemed_bulk_coupon_id` points at it. A special-credit coupon has an eligibility
-- condition (`fields.eligibilityCondition = {type, productId}`), mirrored into two columns so it can be queried
-- the same way on both backends.
CREATE TABLE coupons (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    code TEXT UNIQUE,
    expires TIMESTAMP,
    fields TEXT NOT NULL DEFAULT '{}',
    max_uses INTEGER NOT NULL DEFAULT -1,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    merchant_coupon_id TEXT REFERENCES merchant_coupons (id),
    status INTEGER NOT NULL DEFAULT 1,
    used_count INTEGER NOT NULL DEFAULT 0,
    percentage_discount DOUBLE PRECISION,
    amount_discount_cents BIGINT,
    restricted_to_product_id TEXT REFERENCES products (id),
    eligibility_condition_type TEXT,
    eligibility_product_id TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX coupons_eligibility ON coupons (eligibility_product_id, status);
CREATE INDEX coupons_restricted_to_product_id ON coupons (restricted_to_product_id);

CREATE TABLE purchases (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users (id),
    organization_membership_id TEXT REFERENCES organization_memberships (id) ON DELETE SET NULL,
    organization_id TEXT REFERENCES organizations (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    total_amount_cents BIGINT NOT NULL DEFAULT 0,
    ip_address TEXT,
    city TEXT,
    state TEXT,
    country TEXT,
    coupon_id TEXT REFERENCES coupons (id),
    merchant_charge_id TEXT REFERENCES merchant_charges (id),
    merchant_session_id TEXT REFERENCES merchant_sessions (id),
    upgraded_from_id TEXT UNIQUE REFERENCES purchases (id),
    status TEXT NOT NULL DEFAULT 'Valid' CHECK (status IN ('Valid', 'Refunded', 'Disputed', 'Banned', 'Restricted')),
    bulk_coupon_id TEXT REFERENCES coupons (id),
    redeemed_bulk_coupon_id TEXT REFERENCES coupons (id),
    fields TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX purchases_user_product ON purchases (user_id, product_id, status);
CREATE INDEX purchases_product_status ON purchases (product_id, status);
-- One purchase per charge: creating the purchase for a charge twice finds the first.
CREATE UNIQUE INDEX purchases_merchant_charge_id ON purchases (merchant_charge_id) WHERE merchant_charge_id IS NOT NULL;
CREATE INDEX purchases_bulk_coupon_id ON purchases (bulk_coupon_id);
CREATE INDEX purchases_redeemed_bulk_coupon_id ON purchases (redeemed_bulk_coupon_id);

CREATE TABLE purchase_user_transfers (
    id TEXT PRIMARY KEY NOT NULL,
    transfer_state TEXT NOT NULL DEFAULT 'AVAILABLE'
        CHECK (transfer_state IN ('AVAILABLE', 'INITIATED', 'VERIFIED', 'CANCELED', 'EXPIRED', 'CONFIRMED', 'COMPLETED')),
    purchase_id TEXT NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
    organization_id TEXT,
    source_user_id TEXT NOT NULL REFERENCES users (id),
    target_user_id TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    expires_at TIMESTAMP,
    canceled_at TIMESTAMP,
    confirmed_at TIMESTAMP,
    completed_at TIMESTAMP
);
CREATE INDEX purchase_user_transfers_purchase_id ON purchase_user_transfers (purchase_id);

CREATE TABLE entitlement_types (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    description TEXT
);

-- Entitlements are soft-deleted (`deleted_at`), never hard-deleted. Live = not deleted and not expired.
CREATE TABLE entitlements (
    id TEXT PRIMARY KEY NOT NULL,
    entitlement_type_id TEXT NOT NULL REFERENCES entitlement_types (id),
    user_id TEXT REFERENCES users (id),
    organization_id TEXT REFERENCES organizations (id),
    organization_membership_id TEXT REFERENCES organization_memberships (id) ON DELETE SET NULL,
    source_type TEXT NOT NULL CHECK (source_type IN ('PURCHASE', 'SUBSCRIPTION', 'MANUAL', 'COUPON')),
    source_id TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    deleted_at TIMESTAMP
);
CREATE INDEX entitlements_user_type ON entitlements (user_id, entitlement_type_id);
CREATE INDEX entitlements_source ON entitlements (source_type, source_id);
CREATE INDEX entitlements_membership ON entitlements (organization_membership_id);
CREATE INDEX entitlements_type ON entitlements (entitlement_type_id, deleted_at);

-- Content: every resource (cohort, workshop, section, lesson, event, event-series, email, ...) is a row; `fields`
-- holds the type's JSON and `slug` mirrors `fields.slug` (kept in step by the writers).
CREATE TABLE content_resources (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    created_by_organization_membership_id TEXT,
    type TEXT NOT NULL,
    created_by_id TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    slug TEXT,
    current_version_id TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    deleted_at TIMESTAMP
);
CREATE INDEX content_resources_slug ON content_resources (slug);
CREATE INDEX content_resources_type ON content_resources (type);

-- Ordered parent → child links.
CREATE TABLE content_resource_resources (
    resource_of_id TEXT NOT NULL REFERENCES content_resources (id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES content_resources (id) ON DELETE CASCADE,
    position DOUBLE PRECISION NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    organization_id TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    deleted_at TIMESTAMP,
    PRIMARY KEY (resource_of_id, resource_id)
);
CREATE INDEX content_resource_resources_child ON content_resource_resources (resource_id);

CREATE TABLE content_resource_products (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    resource_id TEXT NOT NULL REFERENCES content_resources (id) ON DELETE CASCADE,
    organization_id TEXT,
    position DOUBLE PRECISION NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    deleted_at TIMESTAMP,
    PRIMARY KEY (product_id, resource_id)
);
CREATE INDEX content_resource_products_resource ON content_resource_products (resource_id);

CREATE TABLE shortlinks (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    description TEXT,
    clicks INTEGER NOT NULL DEFAULT 0,
    created_by_id TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE shortlink_clicks (
    id TEXT PRIMARY KEY NOT NULL,
    shortlink_id TEXT NOT NULL REFERENCES shortlinks (id) ON DELETE CASCADE,
    clicked_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    referrer TEXT,
    user_agent TEXT,
    country TEXT,
    device TEXT
);
CREATE INDEX shortlink_clicks_shortlink_id ON shortlink_clicks (shortlink_id);

CREATE TABLE shortlink_attributions (
    id TEXT PRIMARY KEY NOT NULL,
    shortlink_id TEXT NOT NULL REFERENCES shortlinks (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id),
    email TEXT,
    type TEXT NOT NULL CHECK (type IN ('signup', 'purchase')),
    -- The purchase an attribution is for (NULL for signups): one attribution per purchase, so recording it twice
    -- (a retried step) changes nothing.
    purchase_id TEXT UNIQUE REFERENCES purchases (id),
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX shortlink_attributions_shortlink ON shortlink_attributions (shortlink_id, type);

-- Reference rows the workflows look up by name.
INSERT INTO roles (id, name, description) VALUES
    ('role_owner', 'owner', 'Owns an organization'),
    ('role_learner', 'learner', 'Learns in an organization');
INSERT INTO entitlement_types (id, name, description) VALUES
    ('et_cohort_content_access', 'cohort_content_access', 'Access to a cohort''s content'),
    ('et_workshop_content_access', 'workshop_content_access', 'Access to a workshop''s content'),
    ('et_cohort_discord_role', 'cohort_discord_role', 'A Discord role for a cohort''s members'),
    ('et_workshop_discord_role', 'workshop_discord_role', 'A Discord role for a workshop''s buyers'),
    ('et_subscription_tier', 'subscription_tier', 'A subscription tier'),
    ('et_apply_special_credit', 'apply_special_credit', 'A special credit to apply at checkout');
