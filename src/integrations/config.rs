//! Integration settings: credentials, base URLs and rate limits of every external service, and the dry-run switch.
//!
//! Credentials keep the platform's variable names (`STRIPE_SECRET_KEY`, `DISCORD_BOT_TOKEN`, ...) so an existing
//! deployment's environment works unchanged. In a TOML file the key is the lower-cased name
//! (`discord_bot_token`). A service whose credentials are missing is *not configured* — not an error at start;
//! a step that needs it fails non-retriably naming the missing settings. A value that is present but invalid (a
//! bad URL, an unparsable service-account key) stops the daemon naming the variable.

use crate::config::{ConfigError, Secret};
use ingot_actors::service::RateSpec;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every integration setting: (environment variable, default, meaning). The file key is the lower-cased name.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "INGOT_DRY_RUN",
        "0",
        "1: record every outbound request in the database instead of sending it; calls succeed empty",
    ),
    (
        "INGOT_SERVICE_TIMEOUT",
        "30s",
        "timeout of every call to an external service",
    ),
    (
        "INGOT_SERVICE_MAILBOX",
        "1024",
        "capacity of each service actor's mailbox; a full one answers \"retry later\"",
    ),
    (
        "INGOT_SERVICE_CONCURRENCY",
        "8",
        "calls to one service in flight at once",
    ),
    (
        "NEXT_PUBLIC_URL",
        "",
        "the web app's public URL (unsubscribe links, callback URLs)",
    ),
    ("DISCORD_BOT_TOKEN", "", "Discord bot token (secret)"),
    ("DISCORD_GUILD_ID", "", "the Discord server (guild) id"),
    (
        "DISCORD_COHORT_001_ROLE_ID",
        "",
        "Discord role for cohort buyers when the product has no fields.discordRoleId",
    ),
    (
        "DISCORD_PURCHASER_ROLE_ID",
        "",
        "Discord role for workshop (self-paced) buyers when the product has no fields.discordRoleId",
    ),
    // Helper B (issue 11): the subscriber role.
    (
        "DISCORD_SUBSCRIBER_ROLE_ID",
        "",
        "Discord role for members of an organization with an active subscription",
    ),
    (
        "DISCORD_API_BASE_URL",
        "https://discord.com/api",
        "Discord API base URL",
    ),
    (
        "DISCORD_RATE_LIMIT",
        "50/s",
        "Discord global rate (per-route buckets follow its X-RateLimit headers)",
    ),
    (
        "GOOG_CREDENTIALS_JSON",
        "",
        "Google service-account JSON, raw or base64 (secret)",
    ),
    (
        "GOOG_CALENDAR_IMPERSONATE_USER",
        "",
        "the Workspace user whose primary calendar is used (domain-wide delegation)",
    ),
    (
        "GOOGLE_CALENDAR_API_BASE_URL",
        "https://www.googleapis.com/calendar/v3",
        "Google Calendar API base URL",
    ),
    (
        "GOOGLE_OAUTH_TOKEN_URL",
        "https://oauth2.googleapis.com/token",
        "Google OAuth token endpoint",
    ),
    ("GOOGLE_CALENDAR_RATE_LIMIT", "10/s", "Google Calendar rate"),
    ("STRIPE_SECRET_KEY", "", "Stripe secret key (secret)"),
    (
        "STRIPE_WEBHOOK_SECRET",
        "",
        "Stripe webhook signing secret(s), comma-separated during a rotation (secret)",
    ),
    ("STRIPE_API_BASE_URL", "https://api.stripe.com", "Stripe API base URL"),
    ("STRIPE_RATE_LIMIT", "25/s", "Stripe rate"),
    (
        "SMTP_URL",
        "",
        "SMTP server, e.g. smtps://user:pass@host:465 or smtp://user:pass@host:587 (STARTTLS) (secret)",
    ),
    (
        "RESEND_API_KEY",
        "",
        "when SMTP_URL is unset: send through Resend's SMTP relay with this key (secret)",
    ),
    (
        "EMAIL_FROM",
        "",
        "the From address, e.g. \"AI Hero <team@example.com>\"",
    ),
    ("EMAIL_RATE_LIMIT", "10/s", "outgoing email rate"),
    (
        "NEXT_PUBLIC_SUPPORT_EMAIL",
        "",
        "the Reply-To of the welcome emails (support address)",
    ),
    // People (helper D): the signup notification's recipient.
    (
        "ADMIN_EMAIL",
        "",
        "the address told of every signup (user-signup-admin-email); unset: no notification",
    ),
    (
        "POSTMARK_WEBHOOK_SECRET",
        "",
        "secret Postmark sends in the `course-builder` header or as the basic-auth password (secret)",
    ),
    ("SLACK_WEBHOOK_URL", "", "Slack incoming-webhook URL (secret)"),
    ("SLACK_RATE_LIMIT", "1/s:5", "Slack webhook rate"),
    ("CONVERTKIT_API_KEY", "", "ConvertKit v3 API key (secret)"),
    ("CONVERTKIT_API_SECRET", "", "ConvertKit v3 API secret (secret)"),
    (
        "CONVERTKIT_API_BASE_URL",
        "https://api.convertkit.com/v3",
        "ConvertKit API base URL",
    ),
    ("CONVERTKIT_RATE_LIMIT", "120/m:10", "ConvertKit rate"),
    ("MUX_ACCESS_TOKEN_ID", "", "Mux access token id"),
    ("MUX_SECRET_KEY", "", "Mux secret key (secret)"),
    (
        "MUX_WEBHOOK_SECRET",
        "",
        "Mux webhook signing secret; unset accepts unsigned Mux webhooks (secret)",
    ),
    ("MUX_API_BASE_URL", "https://api.mux.com", "Mux API base URL"),
    ("MUX_RATE_LIMIT", "5/s", "Mux rate"),
    ("DEEPGRAM_API_KEY", "", "Deepgram API key (secret)"),
    (
        "DEEPGRAM_API_BASE_URL",
        "https://api.deepgram.com",
        "Deepgram API base URL",
    ),
    (
        "DEEPGRAM_CALLBACK_SECRET",
        "",
        "secret put in Deepgram callback URLs and checked when they call back (secret)",
    ),
    ("DEEPGRAM_RATE_LIMIT", "10/s", "Deepgram rate"),
    ("OPENAI_API_KEY", "", "OpenAI API key (secret)"),
    (
        "OPENAI_API_BASE_URL",
        "https://api.openai.com/v1",
        "OpenAI API base URL",
    ),
    ("OPENAI_RATE_LIMIT", "5/s", "OpenAI rate"),
    ("UPLOADTHING_SECRET", "", "UploadThing API key (secret)"),
    (
        "UPLOADTHING_API_BASE_URL",
        "https://api.uploadthing.com",
        "UploadThing API base URL",
    ),
    ("UPLOADTHING_RATE_LIMIT", "5/s", "UploadThing rate"),
    (
        "OCR_WEBHOOK_SECRET",
        "",
        "bearer token the OCR service sends to /webhooks/ocr (secret)",
    ),
    // Purchase fan-out and ConvertKit (issue 11, helper C).
    (
        "TT_CONVERTKIT_API_KEY",
        "",
        "the second (\"tt\") ConvertKit account's v3 API key (secret)",
    ),
    (
        "TT_CONVERTKIT_API_SECRET",
        "",
        "the second (\"tt\") ConvertKit account's v3 API secret (secret)",
    ),
    (
        "CONVERTKIT_PURCHASED_ON_FIELD_NAME",
        "",
        "the ConvertKit field for the purchase date when the product has no slug (default purchased_on)",
    ),
    (
        "NEXTAUTH_SECRET",
        "",
        "the web app's Auth.js secret: magic-link tokens are stored as sha256(token + secret) (secret)",
    ),
    (
        "COURSEBUILDER_URL",
        "",
        "base URL of invoice links in purchase emails (default NEXT_PUBLIC_URL)",
    ),
    // PartyKit (issue 12, video pipeline)
    (
        "NEXT_PUBLIC_PARTY_KIT_URL",
        "",
        "PartyKit server URL; announcements POST to <url>/party/<room> (unset: announcements are skipped)",
    ),
    (
        "NEXT_PUBLIC_PARTYKIT_ROOM_NAME",
        "",
        "the site-wide PartyKit room (image uploads are announced there)",
    ),
    ("PARTYKIT_RATE_LIMIT", "50/s", "PartyKit rate"),
    // Content and AI (helper F): AWS S3 + Textract (code extraction), Pinecone (concepts).
    ("AWS_REGION", "us-east-1", "AWS region of the S3 bucket and of Textract"),
    (
        "AWS_BUCKET_NAME",
        "coursebuilderimages",
        "S3 bucket the code-extraction screenshots are uploaded to",
    ),
    ("AWS_ACCESS_KEY_ID", "", "AWS access key id (S3, Textract)"),
    ("AWS_SECRET_ACCESS_KEY", "", "AWS secret access key (secret)"),
    (
        "AWS_SESSION_TOKEN",
        "",
        "AWS session token, with temporary credentials only (secret)",
    ),
    (
        "AWS_S3_BASE_URL",
        "",
        "S3 endpoint override (path-style requests, e.g. a MinIO or test server); unset: https://<bucket>.s3.<region>.amazonaws.com",
    ),
    ("AWS_S3_RATE_LIMIT", "50/s", "S3 rate"),
    (
        "AWS_TEXTRACT_BASE_URL",
        "",
        "Textract endpoint override; unset: https://textract.<region>.amazonaws.com",
    ),
    (
        "AWS_TEXTRACT_RATE_LIMIT",
        "1/s:5",
        "Textract rate (DetectDocumentText's default quota is 1 request/s in most regions)",
    ),
    ("PINECONE_API_KEY", "", "Pinecone API key (secret)"),
    (
        "PINECONE_INDEX_HOST",
        "",
        "data-plane URL of the Pinecone `concepts` index (1536 dimensions, cosine), e.g. https://concepts-abc123.svc.us-west-2-aws.pinecone.io",
    ),
    ("PINECONE_RATE_LIMIT", "10/s", "Pinecone rate"),
];

/// Whether `key` (a file key) is an integration setting.
pub fn is_key(key: &str) -> bool {
    SETTINGS.iter().any(|(env, _, _)| env.to_ascii_lowercase() == key)
}

/// The integration settings present in the environment, as `file key → value`.
pub fn from_env() -> impl Iterator<Item = (String, String)> {
    SETTINGS
        .iter()
        .filter_map(|(env, _, _)| std::env::var(env).ok().map(|v| (env.to_ascii_lowercase(), v)))
}

/// A service's address and pace.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub rate: RateSpec,
}

/// A Google service account (from `GOOG_CREDENTIALS_JSON`).
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: Secret,
}

#[derive(Debug, Clone)]
pub struct IntegrationsConfig {
    pub dry_run: bool,
    pub timeout: Duration,
    pub mailbox: usize,
    pub concurrency: usize,
    pub public_url: Option<String>,
    pub discord_bot_token: Option<Secret>,
    pub discord_guild_id: Option<String>,
    pub discord: Endpoint,
    /// `DISCORD_COHORT_001_ROLE_ID`: the cohort role when a product names none.
    pub discord_cohort_role_id: Option<String>,
    /// `DISCORD_PURCHASER_ROLE_ID`: the workshop role when a product names none.
    pub discord_purchaser_role_id: Option<String>,
    /// `DISCORD_SUBSCRIBER_ROLE_ID`: the role of subscribers (helper B, issue 11).
    pub discord_subscriber_role_id: Option<String>,
    pub google_account: Option<ServiceAccount>,
    pub google_impersonate: Option<String>,
    pub google_token_url: String,
    pub google_calendar: Endpoint,
    pub stripe_secret_key: Option<Secret>,
    pub stripe_webhook_secrets: Vec<Secret>,
    pub stripe: Endpoint,
    /// The SMTP URL in use (`SMTP_URL`, or Resend's relay built from `RESEND_API_KEY`).
    pub smtp_url: Option<Secret>,
    pub email_from: Option<String>,
    pub email_rate: RateSpec,
    /// `NEXT_PUBLIC_SUPPORT_EMAIL`: Reply-To of the welcome emails.
    pub support_email: Option<String>,
    /// `ADMIN_EMAIL`: the recipient of `user-signup-admin-email` (helper D).
    pub admin_email: Option<String>,
    pub postmark_webhook_secret: Option<Secret>,
    pub slack_webhook_url: Option<Secret>,
    pub slack_rate: RateSpec,
    pub convertkit_api_key: Option<Secret>,
    pub convertkit_api_secret: Option<Secret>,
    pub convertkit: Endpoint,
    pub mux_token_id: Option<String>,
    pub mux_secret_key: Option<Secret>,
    pub mux_webhook_secret: Option<Secret>,
    pub mux: Endpoint,
    pub deepgram_api_key: Option<Secret>,
    pub deepgram_callback_secret: Option<Secret>,
    pub deepgram: Endpoint,
    pub openai_api_key: Option<Secret>,
    pub openai: Endpoint,
    pub uploadthing_secret: Option<Secret>,
    pub uploadthing: Endpoint,
    pub ocr_webhook_secret: Option<Secret>,
    // Purchase fan-out and ConvertKit (issue 11, helper C).
    pub tt_convertkit_api_key: Option<Secret>,
    pub tt_convertkit_api_secret: Option<Secret>,
    /// `CONVERTKIT_PURCHASED_ON_FIELD_NAME`: the purchase-date field when the product has no slug.
    pub convertkit_purchased_on_field: Option<String>,
    /// `NEXTAUTH_SECRET`: hashes the magic-link tokens the web app verifies.
    pub nextauth_secret: Option<Secret>,
    /// `COURSEBUILDER_URL`: base of invoice links (`None`: the public URL).
    pub coursebuilder_url: Option<String>,
    /// `NEXT_PUBLIC_PARTY_KIT_URL`: PartyKit's base URL (no credential; its presence configures the service).
    pub partykit_url: Option<String>,
    pub partykit_room_name: Option<String>,
    pub partykit_rate: RateSpec,
    // Content and AI (helper F).
    pub aws: super::aws::AwsConfig,
    pub pinecone_api_key: Option<Secret>,
    /// `PINECONE_INDEX_HOST` (with its rate); `base_url` is empty when unset.
    pub pinecone: Endpoint,
}

struct Reader<'a>(&'a BTreeMap<String, String>);

impl Reader<'_> {
    fn entry(&self, env: &str) -> (&'static str, &'static str, &'static str) {
        let (e, default, _) = SETTINGS.iter().find(|s| s.0 == env).expect("known integration setting");
        (e, default, e)
    }

    fn invalid(&self, env: &str, message: String) -> ConfigError {
        let (env, _, _) = self.entry(env);
        ConfigError::Invalid { key: env, env, message }
    }

    /// The value (or default), trimmed; empty is `None`.
    fn get(&self, env: &str) -> Option<String> {
        let (_, default, _) = self.entry(env);
        let v = self
            .0
            .get(&env.to_ascii_lowercase())
            .map_or(default, String::as_str)
            .trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    fn secret(&self, env: &str) -> Option<Secret> {
        self.get(env).map(Secret::new)
    }

    fn url(&self, env: &str) -> Result<String, ConfigError> {
        let v = self.get(env).unwrap_or_default();
        check_url(&v).map_err(|m| self.invalid(env, m))?;
        Ok(v.trim_end_matches('/').to_string())
    }

    /// An optional URL: unset is `None`, a bad one names the setting.
    fn optional_url(&self, env: &str) -> Result<Option<String>, ConfigError> {
        match self.get(env) {
            Some(v) => {
                check_url(&v).map_err(|m| self.invalid(env, m))?;
                Ok(Some(v.trim_end_matches('/').to_string()))
            }
            None => Ok(None),
        }
    }

    /// The AWS settings (helper F: S3 + Textract).
    fn aws(&self) -> Result<super::aws::AwsConfig, ConfigError> {
        let region = self.get("AWS_REGION").unwrap_or_default();
        if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(self.invalid("AWS_REGION", format!("{region:?} is not a region name")));
        }
        let bucket = self.get("AWS_BUCKET_NAME").unwrap_or_default();
        if bucket.len() < 3
            || !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(self.invalid("AWS_BUCKET_NAME", format!("{bucket:?} is not an S3 bucket name")));
        }
        Ok(super::aws::AwsConfig {
            s3: Endpoint {
                base_url: self.optional_url("AWS_S3_BASE_URL")?.unwrap_or_default(),
                rate: self.rate("AWS_S3_RATE_LIMIT")?,
            },
            textract: Endpoint {
                base_url: self
                    .optional_url("AWS_TEXTRACT_BASE_URL")?
                    .unwrap_or_else(|| format!("https://textract.{region}.amazonaws.com")),
                rate: self.rate("AWS_TEXTRACT_RATE_LIMIT")?,
            },
            region,
            bucket,
            access_key_id: self.get("AWS_ACCESS_KEY_ID"),
            secret_access_key: self.secret("AWS_SECRET_ACCESS_KEY"),
            session_token: self.secret("AWS_SESSION_TOKEN"),
        })
    }

    fn rate(&self, env: &str) -> Result<RateSpec, ConfigError> {
        RateSpec::parse(&self.get(env).unwrap_or_default()).map_err(|m| self.invalid(env, m))
    }

    fn endpoint(&self, base: &str, rate: &str) -> Result<Endpoint, ConfigError> {
        Ok(Endpoint {
            base_url: self.url(base)?,
            rate: self.rate(rate)?,
        })
    }

    fn number(&self, env: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
        let v = self.get(env).unwrap_or_default();
        match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(env, format!("{v:?} is not a whole number in {min}..={max}"))),
        }
    }
}

fn check_url(v: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(v).map_err(|_| "not an http(s) URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("not an http(s) URL".into());
    }
    Ok(())
}

/// `COURSEBUILDER_URL`, checked like every URL setting.
fn coursebuilder_url(r: &Reader<'_>) -> Result<Option<String>, ConfigError> {
    match r.get("COURSEBUILDER_URL") {
        Some(u) => {
            check_url(&u).map_err(|m| r.invalid("COURSEBUILDER_URL", m))?;
            Ok(Some(u.trim_end_matches('/').to_string()))
        }
        None => Ok(None),
    }
}

impl IntegrationsConfig {
    pub fn from_values(values: &BTreeMap<String, String>) -> Result<IntegrationsConfig, ConfigError> {
        let r = Reader(values);
        let dry_run = match r.get("INGOT_DRY_RUN").unwrap_or_default().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" | "" => false,
            v => return Err(r.invalid("INGOT_DRY_RUN", format!("{v:?} must be 1 or 0"))),
        };
        let timeout_v = r.get("INGOT_SERVICE_TIMEOUT").unwrap_or_default();
        let timeout = humantime::parse_duration(&timeout_v)
            .ok()
            .filter(|d| *d >= Duration::from_millis(10) && *d <= Duration::from_secs(600))
            .ok_or_else(|| {
                r.invalid(
                    "INGOT_SERVICE_TIMEOUT",
                    format!("{timeout_v:?} is not a duration in 10ms..=10m"),
                )
            })?;
        let public_url = match r.get("NEXT_PUBLIC_URL") {
            Some(u) => {
                check_url(&u).map_err(|m| r.invalid("NEXT_PUBLIC_URL", m))?;
                Some(u.trim_end_matches('/').to_string())
            }
            None => None,
        };
        let discord_guild_id = r.get("DISCORD_GUILD_ID");
        if let Some(g) = &discord_guild_id
            && !g.chars().all(|c| c.is_ascii_digit())
        {
            return Err(r.invalid(
                "DISCORD_GUILD_ID",
                "a guild id is a number (a Discord snowflake)".into(),
            ));
        }
        let google_account = r
            .get("GOOG_CREDENTIALS_JSON")
            .map(|v| {
                super::google_calendar::parse_service_account(&v).map_err(|m| r.invalid("GOOG_CREDENTIALS_JSON", m))
            })
            .transpose()?;
        let smtp_url = match (r.secret("SMTP_URL"), r.secret("RESEND_API_KEY")) {
            (Some(url), _) => Some(url),
            (None, Some(key)) => Some(Secret::new(format!(
                "smtps://resend:{}@smtp.resend.com:465",
                key.expose()
            ))),
            (None, None) => None,
        };
        if let Some(url) = &smtp_url {
            crate::email::check_smtp_url(url.expose()).map_err(|m| r.invalid("SMTP_URL", m))?;
        }
        let email_from = r.get("EMAIL_FROM");
        if let Some(from) = &email_from {
            crate::email::check_address(from).map_err(|m| r.invalid("EMAIL_FROM", m))?;
        }
        let support_email = r.get("NEXT_PUBLIC_SUPPORT_EMAIL");
        if let Some(a) = &support_email {
            crate::email::check_address(a).map_err(|m| r.invalid("NEXT_PUBLIC_SUPPORT_EMAIL", m))?;
        }
        let admin_email = r.get("ADMIN_EMAIL");
        if let Some(a) = &admin_email {
            crate::email::check_address(a).map_err(|m| r.invalid("ADMIN_EMAIL", m))?;
        }
        if let Some(url) = r.secret("SLACK_WEBHOOK_URL") {
            check_url(url.expose()).map_err(|m| r.invalid("SLACK_WEBHOOK_URL", m))?;
        }
        let partykit_url = match r.get("NEXT_PUBLIC_PARTY_KIT_URL") {
            Some(u) => {
                check_url(&u).map_err(|m| r.invalid("NEXT_PUBLIC_PARTY_KIT_URL", m))?;
                Some(u.trim_end_matches('/').to_string())
            }
            None => None,
        };
        let secrets = |env: &str| -> Vec<Secret> {
            r.get(env)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Secret::new(s.to_string()))
                .collect()
        };
        Ok(IntegrationsConfig {
            dry_run,
            timeout,
            mailbox: r.number("INGOT_SERVICE_MAILBOX", 1, 1_000_000)?,
            concurrency: r.number("INGOT_SERVICE_CONCURRENCY", 1, 1024)?,
            public_url,
            discord_bot_token: r.secret("DISCORD_BOT_TOKEN"),
            discord_guild_id,
            discord: r.endpoint("DISCORD_API_BASE_URL", "DISCORD_RATE_LIMIT")?,
            discord_cohort_role_id: r.get("DISCORD_COHORT_001_ROLE_ID"),
            discord_purchaser_role_id: r.get("DISCORD_PURCHASER_ROLE_ID"),
            discord_subscriber_role_id: r.get("DISCORD_SUBSCRIBER_ROLE_ID"),
            google_account,
            google_impersonate: r.get("GOOG_CALENDAR_IMPERSONATE_USER"),
            google_token_url: r.url("GOOGLE_OAUTH_TOKEN_URL")?,
            google_calendar: r.endpoint("GOOGLE_CALENDAR_API_BASE_URL", "GOOGLE_CALENDAR_RATE_LIMIT")?,
            stripe_secret_key: r.secret("STRIPE_SECRET_KEY"),
            stripe_webhook_secrets: secrets("STRIPE_WEBHOOK_SECRET"),
            stripe: r.endpoint("STRIPE_API_BASE_URL", "STRIPE_RATE_LIMIT")?,
            smtp_url,
            email_from,
            email_rate: r.rate("EMAIL_RATE_LIMIT")?,
            support_email,
            admin_email,
            postmark_webhook_secret: r.secret("POSTMARK_WEBHOOK_SECRET"),
            slack_webhook_url: r.secret("SLACK_WEBHOOK_URL"),
            slack_rate: r.rate("SLACK_RATE_LIMIT")?,
            convertkit_api_key: r.secret("CONVERTKIT_API_KEY"),
            convertkit_api_secret: r.secret("CONVERTKIT_API_SECRET"),
            convertkit: r.endpoint("CONVERTKIT_API_BASE_URL", "CONVERTKIT_RATE_LIMIT")?,
            mux_token_id: r.get("MUX_ACCESS_TOKEN_ID"),
            mux_secret_key: r.secret("MUX_SECRET_KEY"),
            mux_webhook_secret: r.secret("MUX_WEBHOOK_SECRET"),
            mux: r.endpoint("MUX_API_BASE_URL", "MUX_RATE_LIMIT")?,
            deepgram_api_key: r.secret("DEEPGRAM_API_KEY"),
            deepgram_callback_secret: r.secret("DEEPGRAM_CALLBACK_SECRET"),
            deepgram: r.endpoint("DEEPGRAM_API_BASE_URL", "DEEPGRAM_RATE_LIMIT")?,
            openai_api_key: r.secret("OPENAI_API_KEY"),
            openai: r.endpoint("OPENAI_API_BASE_URL", "OPENAI_RATE_LIMIT")?,
            uploadthing_secret: r.secret("UPLOADTHING_SECRET"),
            uploadthing: r.endpoint("UPLOADTHING_API_BASE_URL", "UPLOADTHING_RATE_LIMIT")?,
            ocr_webhook_secret: r.secret("OCR_WEBHOOK_SECRET"),
            // Purchase fan-out and ConvertKit (issue 11, helper C).
            tt_convertkit_api_key: r.secret("TT_CONVERTKIT_API_KEY"),
            tt_convertkit_api_secret: r.secret("TT_CONVERTKIT_API_SECRET"),
            convertkit_purchased_on_field: r.get("CONVERTKIT_PURCHASED_ON_FIELD_NAME"),
            nextauth_secret: r.secret("NEXTAUTH_SECRET"),
            coursebuilder_url: coursebuilder_url(&r)?,
            partykit_url,
            partykit_room_name: r.get("NEXT_PUBLIC_PARTYKIT_ROOM_NAME"),
            partykit_rate: r.rate("PARTYKIT_RATE_LIMIT")?,
            aws: r.aws()?,
            pinecone_api_key: r.secret("PINECONE_API_KEY"),
            pinecone: Endpoint {
                base_url: r.optional_url("PINECONE_INDEX_HOST")?.unwrap_or_default(),
                rate: r.rate("PINECONE_RATE_LIMIT")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_mailbox_defaults_to_the_actors_own() {
        let config = IntegrationsConfig::from_values(&BTreeMap::new()).unwrap();
        assert_eq!(config.mailbox, ingot_actors::service::MAILBOX);
    }
}
