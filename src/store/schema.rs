//! The database schema, one portable `table!` set for SQLite and PostgreSQL (see `diesel.toml`).

diesel::table! {
    nodes (id) {
        id -> Text,
        started_at -> BigInt,
        heartbeat_at -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        name -> Text,
        data -> Text,
        user_data -> Text,
        ts -> BigInt,
        v -> Nullable<Text>,
        received_at -> BigInt,
        duplicate -> Bool,
    }
}

diesel::table! {
    event_ids (external_id) {
        external_id -> Text,
        event_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    runs (id) {
        id -> Text,
        function_id -> Text,
        event_id -> Text,
        status -> Text,
        attempt -> Integer,
        run_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_token -> BigInt,
        idempotency_key -> Nullable<Text>,
        output -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        updated_at -> BigInt,
        parent_run_id -> Nullable<Text>,
        parent_step_key -> Nullable<Text>,
        notify_pending -> Bool,
        concurrency_key -> Nullable<Text>,
        throttle_key -> Nullable<Text>,
        priority -> BigInt,
        debounce_key -> Nullable<Text>,
        batch_key -> Nullable<Text>,
        batch_size -> Integer,
        rerun_of -> Nullable<Text>,
        resolved_at -> Nullable<BigInt>,
        singleton_key -> Nullable<Text>,
    }
}

diesel::table! {
    function_pauses (function_id) {
        function_id -> Text,
        paused_at -> BigInt,
        paused_by -> Text,
    }
}

diesel::table! {
    actions (id) {
        id -> Text,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        function_id -> Nullable<Text>,
        run_id -> Nullable<Text>,
        params -> Text,
        result -> Text,
    }
}

diesel::table! {
    action_runs (action_id, run_id) {
        action_id -> Text,
        run_id -> Text,
    }
}

diesel::table! {
    run_events (run_id, position) {
        run_id -> Text,
        position -> Integer,
        event_id -> Text,
    }
}

diesel::table! {
    rate_limits (function_id, key) {
        function_id -> Text,
        key -> Text,
        window_start -> BigInt,
        count -> Integer,
    }
}

diesel::table! {
    steps (run_id, step_key, attempt) {
        run_id -> Text,
        step_key -> Text,
        attempt -> Integer,
        position -> Integer,
        name -> Text,
        status -> Text,
        output -> Nullable<Text>,
        error -> Nullable<Text>,
        started_at -> BigInt,
        finished_at -> BigInt,
        retry_at -> Nullable<BigInt>,
        kind -> Text,
        wake_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    waits (run_id, wait_key) {
        run_id -> Text,
        wait_key -> Text,
        kind -> Text,
        event_name -> Text,
        expr -> Nullable<Text>,
        trigger_event -> Text,
        expires_at -> BigInt,
        created_at -> BigInt,
        step_key -> Nullable<Text>,
        alternative -> Nullable<BigInt>,
    }
}

diesel::table! {
    cron_ticks (function_id, schedule, tick_at) {
        function_id -> Text,
        schedule -> Text,
        tick_at -> BigInt,
        event_id -> Text,
    }
}

diesel::table! {
    idempotency_keys (function_id, key) {
        function_id -> Text,
        key -> Text,
        run_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    run_skips (event_id, function_id) {
        event_id -> Text,
        function_id -> Text,
        reason -> Text,
        existing_run_id -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        name -> Nullable<Text>,
        email -> Text,
        role -> Text,
        fields -> Text,
        email_verified -> Nullable<Timestamp>,
        image -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        name -> Text,
        description -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> Text,
        role_id -> Text,
        active -> Bool,
        organization_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    communication_channels (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        name -> Text,
        description -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    communication_preference_types (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        name -> Text,
        description -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    communication_preferences (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        user_id -> Text,
        organization_membership_id -> Nullable<Text>,
        channel_id -> Text,
        preference_type_id -> Text,
        preference_level -> Text,
        active -> Bool,
        opt_in_at -> Nullable<Timestamp>,
        opt_out_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

// The platform data model (migration 000004).

diesel::table! {
    accounts (provider, provider_account_id) {
        provider -> Text,
        provider_account_id -> Text,
        user_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        refresh_token -> Nullable<Text>,
        access_token -> Nullable<Text>,
        expires_at -> Nullable<BigInt>,
        token_type -> Nullable<Text>,
        scope -> Nullable<Text>,
        id_token -> Nullable<Text>,
        session_state -> Nullable<Text>,
        oauth_token -> Nullable<Text>,
        oauth_token_secret -> Nullable<Text>,
        refresh_token_expires_in -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    verification_tokens (identifier, token) {
        identifier -> Text,
        token -> Text,
        expires -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Nullable<Text>,
        fields -> Text,
        image -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organization_memberships (id) {
        id -> Text,
        organization_id -> Text,
        role -> Text,
        invited_by_id -> Text,
        user_id -> Text,
        fields -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organization_membership_roles (organization_membership_id, role_id) {
        organization_membership_id -> Text,
        role_id -> Text,
        active -> Bool,
        organization_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    products (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        name -> Text,
        key -> Nullable<Text>,
        #[sql_name = "type"]
        kind -> Text,
        fields -> Text,
        status -> Integer,
        quantity_available -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    prices (id) {
        id -> Text,
        product_id -> Text,
        organization_id -> Nullable<Text>,
        nickname -> Nullable<Text>,
        status -> Integer,
        unit_amount_cents -> BigInt,
        fields -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_accounts (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        status -> Integer,
        label -> Text,
        identifier -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_customers (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        user_id -> Text,
        merchant_account_id -> Text,
        identifier -> Text,
        status -> Integer,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_products (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        merchant_account_id -> Text,
        product_id -> Text,
        status -> Integer,
        identifier -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_prices (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        merchant_account_id -> Text,
        merchant_product_id -> Text,
        price_id -> Nullable<Text>,
        status -> Integer,
        identifier -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_coupons (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        merchant_account_id -> Text,
        identifier -> Text,
        status -> Integer,
        percentage_discount -> Nullable<Double>,
        amount_discount_cents -> Nullable<BigInt>,
        #[sql_name = "type"]
        kind -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_subscriptions (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        merchant_account_id -> Text,
        merchant_customer_id -> Text,
        merchant_product_id -> Text,
        status -> Integer,
        label -> Nullable<Text>,
        identifier -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_charges (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        status -> Integer,
        identifier -> Text,
        user_id -> Text,
        merchant_account_id -> Text,
        merchant_product_id -> Text,
        merchant_customer_id -> Text,
        merchant_subscription_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_sessions (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        merchant_account_id -> Text,
        identifier -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchant_events (id) {
        id -> Text,
        merchant_account_id -> Text,
        identifier -> Text,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        product_id -> Text,
        merchant_subscription_id -> Text,
        status -> Text,
        fields -> Text,
        created_at -> Timestamp,
        current_period_start -> Nullable<Timestamp>,
        current_period_end -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        stripe_changed_at -> Nullable<BigInt>,
    }
}

// Helper B (issue 11): paid Stripe invoices.
diesel::table! {
    merchant_invoices (id) {
        id -> Text,
        merchant_account_id -> Text,
        identifier -> Text,
        subscription_id -> Nullable<Text>,
        stripe_subscription_id -> Nullable<Text>,
        stripe_customer_id -> Nullable<Text>,
        amount_paid_cents -> BigInt,
        currency -> Nullable<Text>,
        billing_reason -> Nullable<Text>,
        period_start -> Nullable<Timestamp>,
        period_end -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    coupons (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        code -> Nullable<Text>,
        expires -> Nullable<Timestamp>,
        fields -> Text,
        max_uses -> Integer,
        is_default -> Bool,
        merchant_coupon_id -> Nullable<Text>,
        status -> Integer,
        used_count -> Integer,
        percentage_discount -> Nullable<Double>,
        amount_discount_cents -> Nullable<BigInt>,
        restricted_to_product_id -> Nullable<Text>,
        eligibility_condition_type -> Nullable<Text>,
        eligibility_product_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    purchases (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        organization_membership_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        product_id -> Text,
        total_amount_cents -> BigInt,
        ip_address -> Nullable<Text>,
        city -> Nullable<Text>,
        state -> Nullable<Text>,
        country -> Nullable<Text>,
        coupon_id -> Nullable<Text>,
        merchant_charge_id -> Nullable<Text>,
        merchant_session_id -> Nullable<Text>,
        upgraded_from_id -> Nullable<Text>,
        status -> Text,
        bulk_coupon_id -> Nullable<Text>,
        redeemed_bulk_coupon_id -> Nullable<Text>,
        fields -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    purchase_user_transfers (id) {
        id -> Text,
        transfer_state -> Text,
        purchase_id -> Text,
        organization_id -> Nullable<Text>,
        source_user_id -> Text,
        target_user_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        canceled_at -> Nullable<Timestamp>,
        confirmed_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    entitlement_types (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
    }
}

diesel::table! {
    entitlements (id) {
        id -> Text,
        entitlement_type_id -> Text,
        user_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        organization_membership_id -> Nullable<Text>,
        source_type -> Text,
        source_id -> Text,
        metadata -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    content_resources (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        created_by_organization_membership_id -> Nullable<Text>,
        #[sql_name = "type"]
        kind -> Text,
        created_by_id -> Nullable<Text>,
        fields -> Text,
        slug -> Nullable<Text>,
        current_version_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    content_resource_resources (resource_of_id, resource_id) {
        resource_of_id -> Text,
        resource_id -> Text,
        position -> Double,
        metadata -> Text,
        organization_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    content_resource_products (product_id, resource_id) {
        product_id -> Text,
        resource_id -> Text,
        organization_id -> Nullable<Text>,
        position -> Double,
        metadata -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    shortlinks (id) {
        id -> Text,
        slug -> Text,
        url -> Text,
        description -> Nullable<Text>,
        clicks -> Integer,
        created_by_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    shortlink_clicks (id) {
        id -> Text,
        shortlink_id -> Text,
        clicked_at -> Timestamp,
        referrer -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        country -> Nullable<Text>,
        device -> Nullable<Text>,
    }
}

diesel::table! {
    shortlink_attributions (id) {
        id -> Text,
        shortlink_id -> Text,
        user_id -> Nullable<Text>,
        email -> Nullable<Text>,
        #[sql_name = "type"]
        kind -> Text,
        purchase_id -> Nullable<Text>,
        metadata -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(runs -> events (event_id));
diesel::joinable!(steps -> runs (run_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(communication_preferences -> users (user_id));

diesel::joinable!(accounts -> users (user_id));
diesel::joinable!(organization_memberships -> organizations (organization_id));
diesel::joinable!(organization_memberships -> users (user_id));
diesel::joinable!(organization_membership_roles -> organization_memberships (organization_membership_id));
diesel::joinable!(organization_membership_roles -> roles (role_id));
diesel::joinable!(prices -> products (product_id));
diesel::joinable!(merchant_products -> products (product_id));
diesel::joinable!(merchant_charges -> merchant_products (merchant_product_id));
diesel::joinable!(purchases -> products (product_id));
diesel::joinable!(purchases -> merchant_charges (merchant_charge_id));
diesel::joinable!(entitlements -> entitlement_types (entitlement_type_id));
diesel::joinable!(entitlements -> organization_memberships (organization_membership_id));
diesel::joinable!(content_resource_products -> products (product_id));
diesel::joinable!(content_resource_products -> content_resources (resource_id));
diesel::joinable!(shortlink_attributions -> shortlinks (shortlink_id));

diesel::allow_tables_to_appear_in_same_query!(
    nodes,
    function_pauses,
    actions,
    action_runs,
    events,
    event_ids,
    runs,
    steps,
    waits,
    cron_ticks,
    rate_limits,
    run_events,
    idempotency_keys,
    run_skips,
    users,
    roles,
    user_roles,
    communication_channels,
    communication_preference_types,
    communication_preferences,
    accounts,
    verification_tokens,
    organizations,
    organization_memberships,
    organization_membership_roles,
    products,
    prices,
    merchant_accounts,
    merchant_customers,
    merchant_products,
    merchant_prices,
    merchant_coupons,
    merchant_subscriptions,
    merchant_charges,
    merchant_sessions,
    merchant_events,
    subscriptions,
    merchant_invoices,
    coupons,
    purchases,
    purchase_user_transfers,
    entitlement_types,
    entitlements,
    content_resources,
    content_resource_resources,
    content_resource_products,
    shortlinks,
    shortlink_clicks,
    shortlink_attributions,
    // Postmark (helper D).
    postmark_events,
);

diesel::table! {
    /// Requests recorded instead of sent in dry-run mode (src/integrations/http.rs).
    outbound_requests (id) {
        id -> Text,
        service -> Text,
        method -> Text,
        url -> Text,
        headers -> Text,
        body -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Postmark delivery events recorded by `postmark-webhook` (helper D).
    postmark_events (id) {
        id -> Text,
        run_id -> Text,
        record_type -> Text,
        message_id -> Nullable<Text>,
        recipient -> Nullable<Text>,
        payload -> Text,
        received_at -> Timestamp,
    }
}
