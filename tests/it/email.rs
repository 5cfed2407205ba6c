//! Email through SMTP (lettre) to a real SMTP sink on localhost: recipients, subject, both parts and the
//! List-Unsubscribe header; a rejected recipient is fatal, a temporary failure retryable.

use crate::integrations::settings;
use crate::support::smtp_sink::SmtpSink;
use ingot::email::{Mailer, Template};
use ingot_actors::StepError;
use ingot_actors::service::{RateSpec, Service, ServiceOptions};
use serde_json::json;
use std::time::Duration;

fn mailer(sink: &SmtpSink) -> Mailer {
    let cfg = settings(&[("SMTP_URL", &sink.url()), ("EMAIL_FROM", "AI Hero <team@example.com>")]);
    let service = Service::start(
        ServiceOptions {
            rate: RateSpec::per_second(100),
            timeout: Duration::from_secs(5),
            ..ServiceOptions::new("email")
        },
        true,
    );
    Mailer::new(service, &cfg, None)
}

/// The decoded text of a message: quoted-printable soft breaks joined and `=XX` escapes of ASCII undone.
fn decoded(data: &str) -> String {
    let joined = data.replace("=\n", "");
    let mut out = String::new();
    let mut chars = joined.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            let hex: String = chars.clone().take(2).collect();
            if let Ok(b) = u8::from_str_radix(&hex, 16)
                && b.is_ascii()
            {
                out.push(b as char);
                chars.next();
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_email_arrives_with_both_parts_and_list_unsubscribe() {
    let sink = SmtpSink::start(None, None).await;
    let m = mailer(&sink);
    let vars = json!({
        "site_title": "AI Hero", "user_first_name": "Ada", "cohort_title": "Evals Cohort",
        "url": "https://aihero.dev/cohorts/evals", "unsubscribe_url": "https://aihero.dev/unsubscribed?userId=u1",
    });
    let sent = m
        .send_template(
            "ada@example.com",
            Template::WelcomeCohortIndividual,
            &vars,
            Some("https://aihero.dev/unsubscribed?userId=u1"),
        )
        .await
        .unwrap();
    assert!(!sent.dry_run && sent.response.contains("queued"), "{sent:?}");
    let got = sink.received();
    assert_eq!(got.len(), 1);
    let msg = &got[0];
    assert_eq!(msg.from, "team@example.com");
    assert_eq!(msg.to, ["ada@example.com"]);
    let data = decoded(&msg.data);
    assert!(data.contains("Subject: Welcome to Evals Cohort!"), "{data}");
    assert!(
        data.contains("From: \"AI Hero\" <team@example.com>") || data.contains("From: AI Hero <team@example.com>"),
        "{data}"
    );
    assert!(data.contains("To: ada@example.com"), "{data}");
    assert!(
        data.contains("List-Unsubscribe: <https://aihero.dev/unsubscribed?userId=u1>"),
        "{data}"
    );
    assert!(
        data.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{data}"
    );
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(
        data.contains("Content-Type: text/plain") && data.contains("Content-Type: text/html"),
        "{data}"
    );
    assert!(
        data.contains("Hi Ada,") && data.contains("Start here: https://aihero.dev/cohorts/evals"),
        "{data}"
    );
    assert!(
        data.contains("<a href=\"https://aihero.dev/cohorts/evals\">Start here</a>"),
        "{data}"
    );
    assert_eq!(m.service.stats().calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_recipients_are_fatal_and_temporary_failures_retryable() {
    let sink = SmtpSink::start(Some("gone@example.com"), Some("busy@example.com")).await;
    let m = mailer(&sink);
    let vars = json!({"subject": "Hello", "body": "Hi"});
    let e = m
        .send_template("gone@example.com", Template::Basic, &vars, None)
        .await
        .unwrap_err();
    let step = StepError::from(e.clone());
    assert!(
        !step.is_retryable() && step.message().contains("mailbox unavailable"),
        "{step:?}"
    );
    assert_eq!(e.status(), Some(550));
    let e = m
        .send_template("busy@example.com", Template::Basic, &vars, None)
        .await
        .unwrap_err();
    assert!(StepError::from(e).is_retryable());
    // A template missing a required variable is fatal and names it; nothing is sent.
    let e = m
        .send_template(
            "ada@example.com",
            Template::WelcomeWorkshopTeamPurchaser,
            &json!({}),
            None,
        )
        .await
        .unwrap_err();
    assert!(!e.is_retryable() && e.to_string().contains("workshop_title"), "{e}");
    // No server listening: retryable.
    let dead = SmtpSink {
        port: 9,
        messages: Default::default(),
    };
    let e = mailer(&dead)
        .send_template("a@example.com", Template::Basic, &vars, None)
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(sink.received().is_empty());
    let unconfigured = Mailer::new(
        Service::start(ServiceOptions::new("email"), false),
        &settings(&[]),
        None,
    );
    let e = unconfigured
        .send_template("a@example.com", Template::Basic, &vars, None)
        .await
        .unwrap_err();
    assert!(
        !e.is_retryable() && e.to_string().contains("SMTP_URL") && e.to_string().contains("EMAIL_FROM"),
        "{e}"
    );
}
