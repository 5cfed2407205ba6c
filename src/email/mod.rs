//! Email: SMTP through lettre (pooled; `smtps://` implicit TLS or `smtp://…?tls=required` STARTTLS), with HTML
//! and plain-text parts rendered from the Liquid templates in `templates/email/` ([`templates`]).
//!
//! The [`Mailer`] is a service actor like every other integration: rate-limited, bounded, timed out, counted in
//! `/health`. SMTP 4xx and connection failures are retryable; 5xx (a rejected recipient, a refused login) are
//! fatal with the server's words. Every email carries `List-Unsubscribe` when an unsubscribe URL is given.

mod liquid_comment;
mod liquid_filters;
pub mod templates;

use crate::config::Secret;
use crate::integrations::config::IntegrationsConfig;
use crate::integrations::require;
use crate::store::Db;
use crate::store::schema::outbound_requests;
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use ingot_actors::service::{Service, ServiceError};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use serde_json::{Value, json};
pub use templates::{Rendered, Template};

/// An email ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: Vec<String>,
    pub reply_to: Option<String>,
    pub rendered: Rendered,
    /// Adds `List-Unsubscribe: <url>` and one-click `List-Unsubscribe-Post`.
    pub unsubscribe_url: Option<String>,
    /// A fixed `Message-ID` (see [`message_id_for`]): the same email sent again carries the same id.
    pub message_id: Option<String>,
}

/// What the SMTP server said.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sent {
    pub response: String,
    pub dry_run: bool,
}

/// A template rendered with `vars`; a template error is the caller's bad input, not worth retrying.
fn render(template: Template, vars: &Value) -> Result<templates::Rendered, ServiceError> {
    template.render(vars).map_err(|message| ServiceError::Invalid {
        service: "email".into(),
        message,
    })
}

#[derive(Clone)]
pub struct Mailer {
    pub service: Service,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<String>,
    smtp_configured: bool,
    dry_run: Option<Db>,
}

/// `SMTP_URL` must be `smtp://` or `smtps://` with a host. The message never repeats the URL (it holds a password).
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "not a URL like smtps://user:pass@host:465".to_string())?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
        return Err("must be smtp://… or smtps://… with a host".into());
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| "not an SMTP URL lettre accepts".to_string())?;
    Ok(())
}

/// An address such as `team@example.com` or `AI Hero <team@example.com>`.
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("{address:?} is not an email address: {e}"))
}

impl Mailer {
    pub fn new(service: Service, cfg: &IntegrationsConfig, dry_run: Option<Db>) -> Mailer {
        let transport = cfg.smtp_url.as_ref().and_then(|url| {
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                .ok()
                .map(|b| b.timeout(Some(cfg.timeout)).build())
        });
        Mailer {
            service,
            smtp_configured: transport.is_some(),
            transport,
            from: cfg.email_from.clone(),
            dry_run,
        }
    }

    /// Renders a template and sends it to one recipient.
    pub async fn send_template(
        &self,
        to: &str,
        template: Template,
        vars: &Value,
        unsubscribe_url: Option<&str>,
    ) -> Result<Sent, ServiceError> {
        let rendered = render(template, vars)?;
        self.send(Email {
            to: vec![to.to_string()],
            reply_to: None,
            rendered,
            unsubscribe_url: unsubscribe_url.map(str::to_string),
            message_id: None,
        })
        .await
    }

    /// Renders a template and sends it to one recipient as the email identified by `key` (e.g. run id and step):
    /// its `Message-ID` is derived from the key, so should a crash between the server's acceptance and the step's
    /// recorded result make the step send again, the copy carries the same id and mail systems treat it as the
    /// same message. A step's result is memoized, so a completed send never runs again.
    pub async fn send_template_keyed(
        &self,
        key: &str,
        to: &str,
        template: Template,
        vars: &Value,
        reply_to: Option<&str>,
    ) -> Result<Sent, ServiceError> {
        let rendered = render(template, vars)?;
        self.send(Email {
            to: vec![to.to_string()],
            reply_to: reply_to.map(str::to_string),
            rendered,
            unsubscribe_url: None,
            message_id: Some(message_id_for(key)),
        })
        .await
    }

    pub async fn send(&self, email: Email) -> Result<Sent, ServiceError> {
        require(
            "email",
            self.dry_run.is_some(),
            &[
                ("SMTP_URL or RESEND_API_KEY", self.smtp_configured),
                ("EMAIL_FROM", self.from.is_some()),
            ],
        )?;
        let from = self.from.clone().unwrap_or_else(|| "dry-run@localhost".into());
        let message = build(&from, &email)?;
        let this = self.clone();
        self.service
            .call(None, move || async move {
                match (&this.dry_run, &this.transport) {
                    (Some(db), _) => this.record(db, &email).await,
                    (None, Some(t)) => t
                        .send(message)
                        .await
                        .map(|r| Sent {
                            response: r.message().collect::<Vec<_>>().join(" "),
                            dry_run: false,
                        })
                        .map_err(|e| smtp_error(e, this.service.timeout())),
                    (None, None) => Err(ServiceError::NotConfigured {
                        service: "email".into(),
                        missing: vec!["SMTP_URL".into()],
                    }),
                }
            })
            .await
    }

    async fn record(&self, db: &Db, email: &Email) -> Result<Sent, ServiceError> {
        let headers = json!({"to": email.to, "subject": email.rendered.subject, "list-unsubscribe": email.unsubscribe_url,
            "message-id": email.message_id, "reply-to": email.reply_to});
        let row = (
            outbound_requests::id.eq(uuid::Uuid::now_v7().to_string()),
            outbound_requests::service.eq("email"),
            outbound_requests::method.eq("SMTP"),
            outbound_requests::url.eq("smtp"),
            outbound_requests::headers.eq(headers.to_string()),
            outbound_requests::body.eq(Some(email.rendered.text.clone())),
            outbound_requests::created_at.eq(ingot_actors::time::now_ms()),
        );
        let stored: Result<usize, crate::store::Error> = async {
            Ok(crate::with_conn!(db, write, |c| diesel::insert_into(
                outbound_requests::table
            )
            .values(row.clone())
            .execute(c)
            .await?))
        }
        .await;
        stored.map_err(|e| ServiceError::Unavailable {
            service: "email".into(),
            message: format!("could not record the dry run: {e}"),
            retry_after: None,
        })?;
        Ok(Sent {
            response: String::new(),
            dry_run: true,
        })
    }
}

/// The `Message-ID` of the email identified by `key`: `<uuid-v5-of-key@ingot>`.
pub fn message_id_for(key: &str) -> String {
    format!(
        "<{}@ingot>",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("ingot-email/{key}").as_bytes())
    )
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Invalid {
        service: "email".into(),
        message,
    }
}

fn build(from: &str, email: &Email) -> Result<Message, ServiceError> {
    let mut b = Message::builder()
        .from(from.parse().map_err(|e| invalid(format!("From {from:?}: {e}")))?)
        .subject(email.rendered.subject.clone());
    if email.to.is_empty() {
        return Err(invalid("an email needs at least one recipient".into()));
    }
    for to in &email.to {
        b = b.to(to.parse().map_err(|e| invalid(format!("recipient {to:?}: {e}")))?);
    }
    if let Some(id) = &email.message_id {
        b = b.message_id(Some(id.clone()));
    }
    if let Some(r) = &email.reply_to {
        b = b.reply_to(r.parse().map_err(|e| invalid(format!("Reply-To {r:?}: {e}")))?);
    }
    if let Some(url) = &email.unsubscribe_url {
        b = b
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    b.multipart(MultiPart::alternative_plain_html(
        email.rendered.text.clone(),
        email.rendered.html.clone(),
    ))
    .map_err(|e| invalid(format!("cannot build the message: {e}")))
}

fn smtp_error(e: lettre::transport::smtp::Error, timeout: std::time::Duration) -> ServiceError {
    let service = "email".to_string();
    if e.is_timeout() {
        return ServiceError::Timeout {
            service,
            after: timeout,
        };
    }
    let message = e.to_string();
    match e.status() {
        Some(code) if e.is_permanent() => ServiceError::Rejected {
            service,
            status: u16::from(code.severity as u8) * 100
                + u16::from(code.category as u8) * 10
                + u16::from(code.detail as u8),
            message,
        },
        _ => ServiceError::Unavailable {
            service,
            message,
            retry_after: None,
        },
    }
}

/// The SMTP URL's password is a secret; this is what may be logged.
pub fn describe(url: &Secret) -> String {
    match reqwest::Url::parse(url.expose()) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(0)
        ),
        Err(_) => "smtp".into(),
    }
}
