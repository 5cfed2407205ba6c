//! Clients of the external services the workflows call, each a shared, rate-limited service actor
//! (`ingot_actors::service`) behind a cheap cloneable handle with typed async methods.
//!
//! - [`config`]: the settings (credentials keep the platform's variable names; one base-URL override each).
//! - [`http`]: the shared request/answer handling, error classification and dry-run recording.
//! - One module per service: [`discord`], [`google_calendar`], [`stripe`], [`slack`], [`convertkit`], [`mux`],
//!   [`deepgram`], [`openai`], [`uploadthing`], [`partykit`]; email is [`crate::email`].
//!
//! Every method returns `Result<_, ServiceError>`; `?` inside a step converts it into a `StepError` that is
//! retryable (with the service's `Retry-After`) or fatal (4xx, not configured).

pub mod classify;
pub mod config;
pub mod convertkit;
pub mod deepgram;
pub mod discord;
pub mod google_calendar;
pub mod http;
pub mod mux;
pub mod openai;
pub mod partykit;
pub mod slack;
pub mod stripe;
pub mod uploadthing;
// Content and AI (helper F).
pub mod aws;
pub mod download;
pub mod openai_chat;
pub mod pinecone;

use crate::config::Secret;
use crate::email::Mailer;
use crate::store::Db;
use config::{Endpoint, IntegrationsConfig};
use http::HttpService;
use ingot_actors::service::{RateSpec, Service, ServiceError, ServiceOptions, ServiceStats};

/// Every service handle the workflows use. Cheap to clone.
#[derive(Clone)]
pub struct Integrations {
    pub discord: discord::Discord,
    pub google_calendar: google_calendar::GoogleCalendar,
    pub stripe: stripe::Stripe,
    pub email: Mailer,
    pub slack: slack::Slack,
    pub convertkit: convertkit::ConvertKit,
    pub mux: mux::Mux,
    pub deepgram: deepgram::Deepgram,
    pub openai: openai::OpenAi,
    pub uploadthing: uploadthing::UploadThing,
    /// The second ConvertKit account (`TT_CONVERTKIT_*`; issue 11, helper C).
    pub tt_convertkit: convertkit::ConvertKit,
    pub partykit: partykit::PartyKit,
    // Content and AI (helper F).
    pub s3: aws::S3,
    pub textract: aws::Textract,
    pub pinecone: pinecone::Pinecone,
    pub download: download::Download,
}

/// Settings a service still needs, as `(variable, present)`; `NotConfigured` names the absent ones.
pub(crate) fn require(service: &str, dry_run: bool, settings: &[(&str, bool)]) -> Result<(), ServiceError> {
    let missing: Vec<String> = settings
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.to_string())
        .collect();
    if missing.is_empty() || dry_run {
        Ok(())
    } else {
        Err(ServiceError::NotConfigured {
            service: service.to_string(),
            missing,
        })
    }
}

/// A secret, or a placeholder in dry-run mode when it is not set (never sent: dry runs send nothing).
pub(crate) fn or_placeholder(s: &Option<Secret>) -> Secret {
    s.clone().unwrap_or_else(|| Secret::new("dry-run"))
}

impl Integrations {
    /// Starts every service actor on the current runtime. `db` receives the dry-run records.
    pub fn start(cfg: &IntegrationsConfig, db: &Db) -> Integrations {
        let dry = cfg.dry_run.then(|| db.clone());
        let service = |name: &str, rate: RateSpec, configured: bool| {
            Service::start(
                ServiceOptions {
                    rate,
                    mailbox: cfg.mailbox,
                    concurrency: cfg.concurrency,
                    timeout: cfg.timeout,
                    ..ServiceOptions::new(name)
                },
                configured,
            )
        };
        let http = |name: &str, ep: &Endpoint, configured: bool| {
            HttpService::new(service(name, ep.rate, configured), &ep.base_url, dry.clone())
        };
        let discord_ok = cfg.discord_bot_token.is_some() && cfg.discord_guild_id.is_some();
        let google_ok = cfg.google_account.is_some() && cfg.google_impersonate.is_some();
        let ck_ok = cfg.convertkit_api_key.is_some() && cfg.convertkit_api_secret.is_some();
        let tt_ck_ok = cfg.tt_convertkit_api_key.is_some() && cfg.tt_convertkit_api_secret.is_some();
        let mux_ok = cfg.mux_token_id.is_some() && cfg.mux_secret_key.is_some();
        let slack_url = cfg
            .slack_webhook_url
            .as_ref()
            .map_or("http://slack.invalid", |u| u.expose());
        Integrations {
            discord: discord::Discord::new(http("discord", &cfg.discord, discord_ok), cfg),
            google_calendar: google_calendar::GoogleCalendar::new(
                http("google_calendar", &cfg.google_calendar, google_ok),
                cfg,
            ),
            stripe: stripe::Stripe::new(http("stripe", &cfg.stripe, cfg.stripe_secret_key.is_some()), cfg),
            email: Mailer::new(
                service(
                    "email",
                    cfg.email_rate,
                    cfg.smtp_url.is_some() && cfg.email_from.is_some(),
                ),
                cfg,
                dry.clone(),
            ),
            slack: slack::Slack::new(
                HttpService::new(
                    service("slack", cfg.slack_rate, cfg.slack_webhook_url.is_some()),
                    slack_url,
                    dry.clone(),
                )
                .with_secret_base(),
                cfg,
            ),
            convertkit: convertkit::ConvertKit::new(http("convertkit", &cfg.convertkit, ck_ok), cfg),
            mux: mux::Mux::new(http("mux", &cfg.mux, mux_ok), cfg),
            deepgram: deepgram::Deepgram::new(http("deepgram", &cfg.deepgram, cfg.deepgram_api_key.is_some()), cfg),
            openai: openai::OpenAi::new(http("openai", &cfg.openai, cfg.openai_api_key.is_some()), cfg),
            uploadthing: uploadthing::UploadThing::new(
                http("uploadthing", &cfg.uploadthing, cfg.uploadthing_secret.is_some()),
                cfg,
            ),
            tt_convertkit: convertkit::ConvertKit::tt(http("convertkit_tt", &cfg.convertkit, tt_ck_ok), cfg),
            partykit: partykit::PartyKit::new(
                HttpService::new(
                    service("partykit", cfg.partykit_rate, cfg.partykit_url.is_some()),
                    cfg.partykit_url.as_deref().unwrap_or("http://partykit.invalid"),
                    dry.clone(),
                ),
                cfg,
            ),
            // Content and AI (helper F).
            s3: aws::S3::new(
                HttpService::new(
                    service("s3", cfg.aws.s3.rate, cfg.aws.configured()),
                    &cfg.aws.s3_base_url(),
                    dry.clone(),
                ),
                &cfg.aws,
                cfg.dry_run,
            ),
            textract: aws::Textract::new(
                http("textract", &cfg.aws.textract, cfg.aws.configured()),
                &cfg.aws,
                cfg.dry_run,
            ),
            pinecone: pinecone::Pinecone::new(
                http(
                    "pinecone",
                    &cfg.pinecone,
                    cfg.pinecone_api_key.is_some() && !cfg.pinecone.base_url.is_empty(),
                ),
                cfg,
            ),
            download: download::Download::new(HttpService::new(
                service("download", cfg.aws.s3.rate, cfg.aws.configured()),
                "http://download.invalid",
                dry.clone(),
            )),
        }
    }

    /// Names of the services that have their credentials.
    pub fn configured(&self) -> Vec<String> {
        self.stats()
            .into_iter()
            .filter(|s| s.configured)
            .map(|s| s.name)
            .collect()
    }

    /// Every service actor.
    pub fn services(&self) -> [&Service; 16] {
        [
            &self.discord.http.service,
            &self.google_calendar.http.service,
            &self.stripe.http.service,
            &self.email.service,
            &self.slack.http.service,
            &self.convertkit.http.service,
            &self.mux.http.service,
            &self.deepgram.http.service,
            &self.openai.http.service,
            &self.uploadthing.http.service,
            &self.tt_convertkit.http.service,
            &self.partykit.http.service,
            &self.s3.http.service,
            &self.textract.http.service,
            &self.pinecone.http.service,
            &self.download.http.service,
        ]
    }

    /// Figures of every service, for `/health`.
    pub fn stats(&self) -> Vec<ServiceStats> {
        self.services().iter().map(|s| s.stats()).collect()
    }
}

/// Logs, at start, which services are configured and whether this is a dry run. Names only, never values.
pub fn log_configured(cfg: &IntegrationsConfig, integrations: &Integrations) {
    let configured = integrations.configured();
    let missing: Vec<String> = integrations
        .stats()
        .into_iter()
        .filter(|s| !s.configured)
        .map(|s| s.name)
        .collect();
    tracing::info!(configured = ?configured, not_configured = ?missing, "external services");
    if let Some(url) = &cfg.smtp_url {
        tracing::info!(smtp = %crate::email::describe(url), "email through SMTP");
    }
    if cfg.mux_webhook_secret.is_none() {
        tracing::info!("MUX_WEBHOOK_SECRET is unset: /webhooks/mux accepts unsigned requests");
    }
    if cfg.dry_run {
        tracing::warn!("INGOT_DRY_RUN=1: outbound requests are recorded in outbound_requests, not sent");
    }
}
