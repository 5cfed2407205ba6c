//! The dashboard (issue 13): its pages over HTTP with a signed-in session on both backends ([`pages`]: filters,
//! pages, escaping, redaction, auth off; [`forms`]: every action as a form, CSRF, read-only tokens), and in a
//! real headless Chromium over WebDriver ([`browser`]); the runs list's CEL filter ([`search`]).

mod browser;
mod forms;
mod pages;
mod search;

use crate::support::TestDb;
use ingot::store::auth::operators::{NewOperator, create};
use ingot_actors::{FunctionDef, StepError, Trigger};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const PASSWORD: &str = "a long enough passphrase";
/// The event name of [`hostile`]: markup that must never reach a page unescaped.
pub const HOSTILE: &str = "dash/<script>alert('x')</script>";

/// Creates a dashboard user (as `ingot user create` does).
pub async fn operator(db: &TestDb, name: &str) {
    let hash = ingot::http::auth::passwords::hash(PASSWORD).unwrap();
    let op = NewOperator {
        id: &format!("op-{name}"),
        name,
        password_hash: &hash,
        created_at: 0,
    };
    assert!(create(&db.db, &op).await.unwrap());
}

/// Two steps: `fetch` (its output holds a password, which pages must redact) and `charge`, which fails for good
/// with an error holding markup while `broken` is set.
pub fn breaker(broken: Arc<AtomicBool>) -> FunctionDef {
    FunctionDef::new("breaker", "Breaker", move |ctx| {
        let broken = broken.clone();
        async move {
            ctx.step
                .run("fetch", || async {
                    Ok(json!({"password": "hunter2-output-secret", "n": 1}))
                })
                .await?;
            let c = ctx
                .step
                .run("charge", || async move {
                    if broken.load(Ordering::SeqCst) {
                        return Err(StepError::fatal("card declined: <b>insufficient</b> funds"));
                    }
                    Ok("charged".to_string())
                })
                .await?;
            Ok(json!({"charge": c}))
        }
    })
    .trigger(Trigger::event("dash/charge"))
    .retries(0)
}

/// A function triggered by the [`HOSTILE`] event name.
pub fn hostile() -> FunctionDef {
    FunctionDef::new("hostile", "Hostile <i>name</i>", |ctx| async move {
        ctx.step
            .run("echo", || async { Ok(json!("<img src=x onerror=alert(2)>")) })
            .await?;
        Ok(json!("ok"))
    })
    .trigger(Trigger::event(HOSTILE))
}

fn client() -> reqwest::Client {
    crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in browser session over plain HTTP: the session cookie and its CSRF token.
pub struct Session {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    client: reqwest::Client,
}

impl Session {
    pub async fn login(base: &str, name: &str) -> Session {
        let client = client();
        let resp = client
            .post(format!("{base}/login"))
            .form(&[("name", name), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let set = resp.headers()[SET_COOKIE].to_str().unwrap();
        let value = set
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("ingot_session=")
            .unwrap()
            .to_string();
        Session {
            base: base.to_string(),
            csrf: ingot::http::auth::sessions::csrf_token(&value),
            cookie: format!("ingot_session={value}"),
            client,
        }
    }

    /// GETs a page with the session (and extra cookies); returns the status and the body.
    pub async fn get_with(&self, path: &str, extra_cookie: Option<&str>) -> (u16, String) {
        let cookie = match extra_cookie {
            Some(c) => format!("{}; {c}", self.cookie),
            None => self.cookie.clone(),
        };
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        self.get_with(path, None).await
    }

    /// A page that must answer 200.
    pub async fn page(&self, path: &str) -> String {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(body.starts_with("<!doctype html>"), "{body}");
        body
    }

    /// POSTs a form (with the CSRF field when `csrf`); returns the raw response.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)], csrf: bool) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if csrf {
            form.push(("csrf_token", &self.csrf));
        }
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Submits a form as a browser does: expects 303, follows it with the flash cookie; returns where it went
    /// and the page (whose flash notice tells what happened).
    pub async fn act(&self, path: &str, fields: &[(&str, &str)]) -> (String, String) {
        let resp = self.post(path, fields, true).await;
        assert_eq!(resp.status(), 303, "POST {path}: {}", resp.text().await.unwrap());
        let to = resp.headers()[LOCATION].to_str().unwrap().to_string();
        let flash = resp.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        assert!(flash.starts_with("ingot_flash="), "{flash}");
        let (status, page) = self.get_with(&to, Some(&flash)).await;
        assert_eq!(status, 200, "GET {to}: {page}");
        (to, page)
    }
}

/// The flash notice of a page (its text), if any.
pub fn flash(page: &str) -> Option<String> {
    let start = page.find(r#"id="flash">"#)? + r#"id="flash">"#.len();
    let end = page[start..].find("</p>")? + start;
    Some(page[start..end].to_string())
}

/// The run ids in a page's runs table, in order.
pub fn run_ids(page: &str) -> Vec<String> {
    let Some(table) = page.split(r#"<table id="runs">"#).nth(1) else {
        return Vec::new();
    };
    let table = table.split("</table>").next().unwrap();
    table
        .split(r#"<a href="/dashboard/runs/"#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}
