-- The platform's users, roles and communication preferences (owned by the web app, shared with the daemon).
-- JSON is stored as TEXT so both backends read it the same way; timestamps are UTC.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL DEFAULT 'user',
    fields TEXT NOT NULL DEFAULT '{}',
    email_verified TIMESTAMP,
    image TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE roles (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    name TEXT NOT NULL,
    description TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX roles_organization_id_name ON roles (organization_id, name);
CREATE UNIQUE INDEX roles_global_name ON roles (name) WHERE organization_id IS NULL;

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id),
    role_id TEXT NOT NULL REFERENCES roles (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    organization_id TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (user_id, role_id)
);

CREATE TABLE communication_channels (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    name TEXT NOT NULL,
    description TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX communication_channels_global_name ON communication_channels (name) WHERE organization_id IS NULL;

CREATE TABLE communication_preference_types (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    name TEXT NOT NULL,
    description TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX communication_preference_types_global_name ON communication_preference_types (name) WHERE organization_id IS NULL;

CREATE TABLE communication_preferences (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    user_id TEXT NOT NULL REFERENCES users (id),
    organization_membership_id TEXT,
    channel_id TEXT NOT NULL REFERENCES communication_channels (id),
    preference_type_id TEXT NOT NULL REFERENCES communication_preference_types (id),
    preference_level TEXT NOT NULL DEFAULT 'medium' CHECK (preference_level IN ('low', 'medium', 'high')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    opt_in_at TIMESTAMP,
    opt_out_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP
);
-- One preference per user, type and channel: creating it twice (a retried step) changes nothing.
CREATE UNIQUE INDEX communication_preferences_user_type_channel
    ON communication_preferences (user_id, preference_type_id, channel_id);

-- Reference rows the workflows look up by name.
INSERT INTO roles (id, name, description) VALUES
    ('role_admin', 'admin', 'Administrator'),
    ('role_user', 'user', 'A signed-up user'),
    ('role_contributor', 'contributor', 'Creates content');
INSERT INTO communication_channels (id, name, description) VALUES ('channel_email', 'Email', 'Email');
INSERT INTO communication_preference_types (id, name, description)
    VALUES ('preference_newsletter', 'Newsletter', 'The newsletter and product announcements');
