//! Integration settings: validated at start naming the variable, secrets never in `Debug`.

use ingot::config::Config;
use std::collections::BTreeMap;

fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
    let values: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_values(&values).map_err(|e| e.to_string())
}

#[test]
fn bad_values_refuse_start_naming_the_variable() {
    for (key, value, env) in [
        ("discord_api_base_url", "not a url", "DISCORD_API_BASE_URL"),
        ("stripe_api_base_url", "ftp://x", "STRIPE_API_BASE_URL"),
        ("discord_guild_id", "my-guild", "DISCORD_GUILD_ID"),
        (
            "goog_credentials_json",
            "{\"client_email\": \"x\"}",
            "GOOG_CREDENTIALS_JSON",
        ),
        ("goog_credentials_json", "%%%", "GOOG_CREDENTIALS_JSON"),
        ("smtp_url", "http://mail", "SMTP_URL"),
        ("email_from", "not an address", "EMAIL_FROM"),
        ("ingot_dry_run", "maybe", "INGOT_DRY_RUN"),
        ("slack_rate_limit", "fast", "SLACK_RATE_LIMIT"),
        ("ingot_service_timeout", "forever", "INGOT_SERVICE_TIMEOUT"),
        ("next_public_url", "example.com", "NEXT_PUBLIC_URL"),
    ] {
        let err = load(&[(key, value)]).expect_err(key);
        assert!(err.contains(env), "{key}={value}: {err}");
    }
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let c = load(&[
        ("stripe_secret_key", "sk_live_SECRET1"),
        ("discord_bot_token", "BOTSECRET2"),
        ("smtp_url", "smtps://user:SMTPPASS3@mail.example.com:465"),
        ("email_from", "Team <team@example.com>"),
        ("stripe_webhook_secret", "whsec_old, whsec_new"),
    ])
    .unwrap();
    let dbg = format!("{c:?}");
    for s in ["sk_live_SECRET1", "BOTSECRET2", "SMTPPASS3", "whsec_old"] {
        assert!(!dbg.contains(s), "{s} leaked into Debug");
    }
    assert_eq!(c.integrations.stripe_webhook_secrets.len(), 2);
    let err = load(&[("smtp_url", "smtp://user:LEAK@")]).unwrap_err();
    assert!(err.contains("SMTP_URL") && !err.contains("LEAK"), "{err}");
}

#[test]
fn resend_is_the_fallback_relay_and_defaults_point_at_the_real_apis() {
    let c = load(&[("resend_api_key", "re_123")]).unwrap();
    assert_eq!(
        c.integrations.smtp_url.as_ref().map(|s| s.expose().to_string()),
        Some("smtps://resend:re_123@smtp.resend.com:465".into())
    );
    let c = load(&[("resend_api_key", "re_123"), ("smtp_url", "smtp://127.0.0.1:2525")]).unwrap();
    assert_eq!(c.integrations.smtp_url.unwrap().expose(), "smtp://127.0.0.1:2525");
    let d = load(&[]).unwrap().integrations;
    assert_eq!(d.discord.base_url, "https://discord.com/api");
    assert_eq!(d.stripe.base_url, "https://api.stripe.com");
    assert!(!d.dry_run && d.discord_bot_token.is_none());
}

mod serve {
    use crate::both;
    use crate::support::process::{Daemon, base_env, run_to_end};
    use crate::support::{Backend, TestDb};

    both!(lists_configured_services_and_refuses_bad_values, serve_impl);
    async fn serve_impl(b: Backend) {
        let db = TestDb::new(b).await;
        let mut env = base_env(&db.url);
        env.push(("DISCORD_API_BASE_URL".into(), "not a url".into()));
        let (status, _, stderr) = run_to_end(&["serve"], &env);
        assert!(!status.success());
        assert!(stderr.contains("DISCORD_API_BASE_URL"), "{stderr}");
        let mut env = base_env(&db.url);
        for (k, v) in [
            ("DISCORD_BOT_TOKEN", "TOKEN_NOT_IN_LOGS"),
            ("DISCORD_GUILD_ID", "1"),
            ("STRIPE_SECRET_KEY", "sk_NOT_IN_LOGS"),
        ] {
            env.push((k.into(), v.into()));
        }
        let d = Daemon::start(&env);
        d.api.get_ok("/health").await;
        let logs = d.logs.lock().unwrap().join("\n");
        let line = logs
            .lines()
            .find(|l| l.contains("external services"))
            .unwrap_or_else(|| panic!("{logs}"));
        assert!(line.contains(r#"configured=["discord", "stripe"]"#), "{line}");
        assert!(!logs.contains("NOT_IN_LOGS"), "{logs}");
    }
}
