//! Users and organizations: a new user's role and preferences, the admin signup email, personal organizations.

pub mod create_user_organizations;
pub mod ensure_personal_organization;
pub mod user_created;
pub mod user_signup_admin_email;
