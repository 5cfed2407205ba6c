//! ConvertKit v3: find subscribers by email, tag them (which creates them if new), read their tags, set custom
//! fields. The API secret travels in the query string or body, as v3 requires; it is redacted in dry-run records
//! and never part of an error message.
//!
//! Two accounts, each its own client and service actor (ConvertKit limits each API key on its own): the main
//! one ([`ConvertKit::new`], `CONVERTKIT_API_KEY` / `_SECRET`) and the second "tt" one ([`ConvertKit::tt`],
//! `TT_CONVERTKIT_API_KEY` / `_SECRET`), both at `CONVERTKIT_API_BASE_URL`.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subscriber {
    pub id: u64,
    pub first_name: Option<String>,
    pub email_address: String,
    pub state: String,
    pub fields: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    pub id: u64,
    pub name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Subscribers {
    subscribers: Vec<Subscriber>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct One {
    subscriber: Subscriber,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tags {
    tags: Vec<Tag>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Subscription {
    subscription: One,
}

#[derive(Clone)]
pub struct ConvertKit {
    pub http: HttpService,
    key: Option<Secret>,
    secret: Option<Secret>,
    dry_run: bool,
    /// The settings holding this account's key and secret (named when they are missing).
    names: [&'static str; 2],
}

impl ConvertKit {
    /// The main account.
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> ConvertKit {
        ConvertKit {
            http,
            key: cfg.convertkit_api_key.clone(),
            secret: cfg.convertkit_api_secret.clone(),
            dry_run: cfg.dry_run,
            names: ["CONVERTKIT_API_KEY", "CONVERTKIT_API_SECRET"],
        }
    }

    /// The second ("tt") account.
    pub fn tt(http: HttpService, cfg: &IntegrationsConfig) -> ConvertKit {
        ConvertKit {
            http,
            key: cfg.tt_convertkit_api_key.clone(),
            secret: cfg.tt_convertkit_api_secret.clone(),
            dry_run: cfg.dry_run,
            names: ["TT_CONVERTKIT_API_KEY", "TT_CONVERTKIT_API_SECRET"],
        }
    }

    /// Whether this account's key and secret are set (or this is a dry run).
    pub fn configured(&self) -> bool {
        self.dry_run || (self.key.is_some() && self.secret.is_some())
    }

    fn creds(&self) -> Result<(Secret, Secret), ServiceError> {
        require(
            self.http.name(),
            self.dry_run,
            &[
                (self.names[0], self.key.is_some()),
                (self.names[1], self.secret.is_some()),
            ],
        )?;
        Ok((or_placeholder(&self.key), or_placeholder(&self.secret)))
    }

    /// The subscriber with this email (lower-cased, trimmed), if any.
    pub async fn find_subscriber(&self, email: &str) -> Result<Option<Subscriber>, ServiceError> {
        let (_, secret) = self.creds()?;
        let req = Request::get("subscribers")
            .secret_query("api_secret", &secret)
            .query("email_address", email.trim().to_lowercase());
        let found: Subscribers = self.http.json(req).await?;
        Ok(found.subscribers.into_iter().next())
    }

    /// Tags an email, creating the subscriber if ConvertKit does not know it yet.
    pub async fn tag_subscriber(
        &self,
        tag_id: u64,
        email: &str,
        first_name: Option<&str>,
        fields: &Map<String, Value>,
    ) -> Result<Subscriber, ServiceError> {
        let (_, secret) = self.creds()?;
        let mut body = json!({"api_secret": secret.expose(), "email": email.trim().to_lowercase(), "fields": fields});
        if let Some(n) = first_name {
            body["first_name"] = json!(n);
        }
        let answer: Subscription = self
            .http
            .json(Request::post(format!("tags/{tag_id}/subscribe")).json(body))
            .await?;
        Ok(answer.subscription.subscriber)
    }

    pub async fn subscriber_tags(&self, subscriber_id: u64) -> Result<Vec<Tag>, ServiceError> {
        let (key, _) = self.creds()?;
        let req = Request::get(format!("subscribers/{subscriber_id}/tags")).secret_query("api_key", &key);
        let tags: Tags = self.http.json(req).await?;
        Ok(tags.tags)
    }

    /// Sets custom fields (which must exist; see [`ConvertKit::create_field`]).
    pub async fn update_fields(
        &self,
        subscriber_id: u64,
        fields: &Map<String, Value>,
    ) -> Result<Subscriber, ServiceError> {
        let (_, secret) = self.creds()?;
        let req = Request::new(reqwest::Method::PUT, format!("subscribers/{subscriber_id}"))
            .json(json!({"api_secret": secret.expose(), "fields": fields}));
        let one: One = self.http.json(req).await?;
        Ok(one.subscriber)
    }

    /// Creates a custom field by label. A label the account already has is fine: ConvertKit answers 422 ("Label
    /// has already been taken"), which counts as success (`false`: nothing created).
    pub async fn create_field(&self, label: &str) -> Result<bool, ServiceError> {
        let (_, secret) = self.creds()?;
        let req = Request::post("custom_fields").json(json!({"api_secret": secret.expose(), "label": label}));
        match self.http.send(req).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(422) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
