DROP TABLE communication_preferences;
DROP TABLE communication_preference_types;
DROP TABLE communication_channels;
DROP TABLE user_roles;
DROP TABLE roles;
DROP TABLE users;
