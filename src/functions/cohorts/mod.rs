//! Cohorts: entitlements kept in step with a cohort's content, and the workshop access emails.

pub mod cohort_entitlement_sync_user;
pub mod cohort_entitlement_sync_workflow;
pub mod send_workshop_access_emails;
