//! Discord: the bot adds users to the guild and manages their roles; the user's OAuth token identifies them.
//!
//! Paths are unversioned under `DISCORD_API_BASE_URL` (the platform's `https://discord.com/api/`). Per-route
//! buckets follow Discord's `X-RateLimit-*` headers ([`super::http`]); the service token bucket is the global limit.

use super::config::IntegrationsConfig;
use super::http::{HttpService, Request};
use super::{or_placeholder, require};
use crate::config::Secret;
use ingot_actors::service::ServiceError;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiscordUser {
    pub id: String,
    pub username: String,
}

/// A guild member (`GET guilds/{guild}/members/{user}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    pub user: Option<DiscordUser>,
    pub roles: Vec<String>,
}

/// What [`Discord::remove_role`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleRemoval {
    Removed,
    /// The user is not in the guild or does not have the role.
    Skipped,
}

#[derive(Clone)]
pub struct Discord {
    pub http: HttpService,
    token: Option<Secret>,
    guild: Option<String>,
    dry_run: bool,
}

impl Discord {
    pub fn new(http: HttpService, cfg: &IntegrationsConfig) -> Discord {
        Discord {
            http,
            token: cfg.discord_bot_token.clone(),
            guild: cfg.discord_guild_id.clone(),
            dry_run: cfg.dry_run,
        }
    }

    fn bot(&self) -> Result<(String, String), ServiceError> {
        require(
            "discord",
            self.dry_run,
            &[
                ("DISCORD_BOT_TOKEN", self.token.is_some()),
                ("DISCORD_GUILD_ID", self.guild.is_some()),
            ],
        )?;
        let token = or_placeholder(&self.token);
        Ok((
            format!("Bot {}", token.expose()),
            self.guild.clone().unwrap_or_else(|| "0".into()),
        ))
    }

    fn members(&self, method: Method, user_id: &str, suffix: &str) -> Result<Request, ServiceError> {
        let (auth, guild) = self.bot()?;
        Ok(
            Request::new(method.clone(), format!("guilds/{guild}/members/{user_id}{suffix}"))
                .secret_header("authorization", auth)
                .route(format!(
                    "{method} guilds/{guild}/members{}",
                    if suffix.is_empty() { "" } else { "/roles" }
                )),
        )
    }

    /// The user behind an OAuth access token (`GET users/@me`). Needs no bot configuration.
    pub async fn current_user(&self, access_token: &Secret) -> Result<DiscordUser, ServiceError> {
        let req = Request::get("users/@me")
            .secret_header("authorization", format!("Bearer {}", access_token.expose()))
            .route("GET users/@me");
        self.http.json(req).await
    }

    /// Adds the user to the guild with their OAuth token. `None` when they were already a member (204).
    pub async fn add_member(&self, user_id: &str, access_token: &Secret) -> Result<Option<Member>, ServiceError> {
        let req = self
            .members(Method::PUT, user_id, "")?
            .json(json!({"access_token": access_token.expose()}));
        let answer = self.http.send(req).await?;
        if answer.status == 204 {
            return Ok(None);
        }
        self.http.decode(&answer.body).map(Some)
    }

    /// The member, or `None` if the user is not in the guild (404 Unknown Member).
    pub async fn get_member(&self, user_id: &str) -> Result<Option<Member>, ServiceError> {
        match self.http.json(self.members(Method::GET, user_id, "")?).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the member's roles with exactly `roles`.
    pub async fn set_roles(&self, user_id: &str, roles: &[String]) -> Result<Member, ServiceError> {
        let req = self.members(Method::PATCH, user_id, "")?.json(json!({"roles": roles}));
        self.http.json(req).await
    }

    /// Adds one role (idempotent on Discord's side).
    pub async fn add_role(&self, user_id: &str, role_id: &str) -> Result<(), ServiceError> {
        let req = self.members(Method::PUT, user_id, &format!("/roles/{role_id}"))?;
        self.http.send(req).await.map(|_| ())
    }

    /// Removes one role if the member has it.
    pub async fn remove_role(&self, user_id: &str, role_id: &str) -> Result<RoleRemoval, ServiceError> {
        match self.get_member(user_id).await? {
            Some(m) if m.roles.iter().any(|r| r == role_id) => {}
            Some(_) | None if !self.dry_run => return Ok(RoleRemoval::Skipped),
            _ => {}
        }
        let req = self.members(Method::DELETE, user_id, &format!("/roles/{role_id}"))?;
        self.http.send(req).await?;
        Ok(RoleRemoval::Removed)
    }
}
