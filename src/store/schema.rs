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

diesel::joinable!(runs -> events (event_id));
diesel::joinable!(steps -> runs (run_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(communication_preferences -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    nodes,
    events,
    event_ids,
    runs,
    steps,
    waits,
    cron_ticks,
    rate_limits,
    idempotency_keys,
    run_skips,
    users,
    roles,
    user_roles,
    communication_channels,
    communication_preference_types,
    communication_preferences,
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
