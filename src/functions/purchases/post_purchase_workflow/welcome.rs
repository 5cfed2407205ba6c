//! The welcome emails of `post-purchase-workflow`: what they share (buyer, site, run), the day-one date as the
//! emails print it (Los Angeles time), and the content URL they link to (reference §6.4).

use crate::email::Template;
use crate::functions::Deps;
use crate::platform::commerce::product_types::{ProductType, ResourceContext};
use crate::platform::content::ResourceTree;
use crate::platform::users::User;
use chrono::{DateTime, Datelike, Utc};
use ingot_actors::StepError;
use serde_json::{Value, json};

/// What the welcome emails share: the buyer, the site, and the run (which fixes each email's Message-ID).
pub(super) struct WelcomeEmail<'a> {
    pub(super) deps: &'a Deps,
    pub(super) run_id: &'a str,
    pub(super) user: &'a User,
}

impl WelcomeEmail<'_> {
    pub(super) fn site_url(&self) -> &str {
        self.deps.config.integrations.public_url.as_deref().unwrap_or("")
    }

    /// The template variables for one resource (§6.4 for the URL).
    pub(super) fn vars(&self, c: &ResourceContext, tree: &ResourceTree, quantity: i32) -> Value {
        let title = tree
            .resource
            .title()
            .map(str::to_string)
            .unwrap_or_else(|| self.deps.config.site_title.clone());
        let first_name = self
            .user
            .name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .map(str::to_string);
        let day_one = c.day_one_starts_at.as_deref().and_then(parse_time);
        let title_key = if c.product_type == ProductType::Cohort {
            "cohort_title"
        } else {
            "workshop_title"
        };
        json!({
            title_key: title,
            "url": content_url(self.site_url(), tree, day_one, Utc::now()),
            "day_one_unlock_date": day_one.map(format_day),
            "quantity": quantity,
            "user_first_name": first_name,
            "site_title": self.deps.config.site_title,
        })
    }

    pub(super) async fn send(&self, step: &str, template: Template, vars: &Value) -> Result<Value, StepError> {
        let key = format!("{}/{}", self.run_id, step);
        let reply_to = self.deps.config.integrations.support_email.as_deref();
        let sent = self
            .deps
            .integrations
            .email
            .send_template_keyed(&key, &self.user.email, template, vars, reply_to)
            .await?;
        Ok(json!({
            "to": self.user.email,
            "template": template.name(),
            "messageId": crate::email::message_id_for(&key),
            "response": sent.response,
            "dryRun": sent.dry_run,
        }))
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `MMMM do, yyyy` in America/Los_Angeles, e.g. `March 3rd, 2027`.
pub fn format_day(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&chrono_tz::America::Los_Angeles);
    let d = local.day();
    let suffix = match (d % 10, d % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{} {d}{suffix}, {}", local.format("%B"), local.year())
}

fn resource_path(kind: &str, slug: &str) -> String {
    match kind {
        "cohort" => format!("/cohorts/{slug}"),
        "workshop" => format!("/workshops/{slug}"),
        other => format!("/{other}s/{slug}"),
    }
}

fn slug_of(r: &crate::platform::content::ContentResource) -> String {
    r.slug
        .clone()
        .or_else(|| r.fields["slug"].as_str().map(str::to_string))
        .unwrap_or_else(|| r.id.clone())
}

/// Reference §6.4: a workshop's own page; a cohort's page while day one is still ahead, else its day-one
/// workshop (the first child) if it has one.
pub fn content_url(site: &str, tree: &ResourceTree, day_one: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let r = &tree.resource;
    let own = format!("{site}{}", resource_path(&r.kind, &slug_of(r)));
    if r.kind != "cohort" || day_one.is_some_and(|d| d > now) {
        return own;
    }
    match tree.children.first() {
        Some(first) => format!(
            "{site}{}",
            resource_path(&first.resource.kind, &slug_of(&first.resource))
        ),
        None => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_the_day_one_date_in_los_angeles() {
        let t = Utc.with_ymd_and_hms(2027, 3, 4, 6, 0, 0).unwrap(); // March 3rd, 22:00 in LA
        assert_eq!(format_day(t), "March 3rd, 2027");
        assert_eq!(
            format_day(Utc.with_ymd_and_hms(2027, 1, 11, 20, 0, 0).unwrap()),
            "January 11th, 2027"
        );
        assert_eq!(
            format_day(Utc.with_ymd_and_hms(2027, 1, 22, 20, 0, 0).unwrap()),
            "January 22nd, 2027"
        );
    }
}
