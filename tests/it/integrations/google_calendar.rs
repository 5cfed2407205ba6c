//! Google Calendar: the service-account JWT exchange (verified by the fake with the public key), the cached token,
//! event calls, and attendees that never repeat.

use super::*;
use ingot::integrations::google_calendar::{GoogleCalendar, SCOPE};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const KEY: &str = include_str!("../fixtures/google_test_key.pem");
const PUBLIC: &str = include_str!("../fixtures/google_test_key.pub.pem");

/// The token endpoint: checks the JWT's signature and claims like Google does, then issues `tok-<n>`.
#[derive(Clone)]
struct TokenEndpoint {
    aud: String,
    issued: Arc<AtomicUsize>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body).into_owned().collect();
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return ResponseTemplate::new(400).set_body_json(json!({"error": "unsupported_grant_type"}));
        }
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[self.aud.as_str()]);
        match jsonwebtoken::decode::<Value>(&get("assertion"), &key, &v) {
            Ok(t)
                if t.claims["iss"] == "sa@project.iam.gserviceaccount.com"
                    && t.claims["sub"] == "calendar@example.com"
                    && t.claims["scope"] == SCOPE =>
            {
                let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
                ResponseTemplate::new(200).set_body_json(
                    json!({"access_token": format!("tok-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
                )
            }
            _ => ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})),
        }
    }
}

fn credentials() -> String {
    json!({"type": "service_account", "client_email": "sa@project.iam.gserviceaccount.com", "private_key": KEY, "project_id": "p"}).to_string()
}

async fn client(s: &MockServer) -> (GoogleCalendar, Arc<AtomicUsize>) {
    let token_url = format!("{}/token", s.uri());
    let issued = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(TokenEndpoint {
            aud: token_url.clone(),
            issued: issued.clone(),
        })
        .mount(s)
        .await;
    // Base64 of the JSON, as deployments often store it.
    use base64::Engine;
    let creds = base64::engine::general_purpose::STANDARD.encode(credentials());
    let cfg = settings(&[
        ("GOOG_CREDENTIALS_JSON", &creds),
        ("GOOG_CALENDAR_IMPERSONATE_USER", "calendar@example.com"),
        ("GOOGLE_OAUTH_TOKEN_URL", &token_url),
    ]);
    (GoogleCalendar::new(http("google_calendar", &s.uri()), &cfg), issued)
}

fn event(attendees: &[&str]) -> Value {
    let a: Vec<Value> = attendees
        .iter()
        .map(|e| json!({"email": e, "responseStatus": "needsAction"}))
        .collect();
    json!({"id": "ev1", "summary": "Office hours", "attendees": a, "start": {"dateTime": "2026-12-01T17:00:00Z"}})
}

#[tokio::test]
async fn the_token_is_exchanged_once_and_events_are_read_inserted_and_patched() {
    let s = fake().await;
    let (cal, issued) = client(&s).await;
    Mock::given(method("GET"))
        .and(path("/calendars/primary/events/ev1"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event(&["a@example.com"])))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/calendars/primary/events/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {"code": 404, "message": "Not Found"}})))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/calendars/primary/events"))
        .and(body_json(json!({"summary": "New"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "ev2", "summary": "New"})))
        .mount(&s)
        .await;
    let ev = cal.get_event("ev1").await.unwrap().unwrap();
    assert_eq!(
        (ev.id.as_str(), ev.rest["summary"].as_str()),
        ("ev1", Some("Office hours"))
    );
    assert_eq!(cal.get_event("missing").await.unwrap(), None);
    assert_eq!(cal.insert_event(json!({"summary": "New"})).await.unwrap().id, "ev2");
    assert_eq!(issued.load(Ordering::SeqCst), 1, "the access token is cached");
}

#[tokio::test]
async fn attendees_are_added_once_and_removed() {
    let s = fake().await;
    let (cal, _) = client(&s).await;
    Mock::given(method("GET"))
        .and(path("/calendars/primary/events/ev1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(event(&["a@example.com"])))
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/calendars/primary/events/ev1"))
        .and(query_param("sendUpdates", "none"))
        .and(body_json(json!({"attendees": [{"email": "a@example.com", "responseStatus": "needsAction"}, {"email": "b@example.com"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(event(&["a@example.com", "b@example.com"])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/calendars/primary/events/ev1"))
        .and(body_json(json!({"attendees": []})))
        .respond_with(ResponseTemplate::new(200).set_body_json(event(&[])))
        .expect(1)
        .mount(&s)
        .await;
    // Already there (in another case): no PATCH.
    let same = cal.add_attendee("ev1", "A@Example.com").await.unwrap().unwrap();
    assert_eq!(same.attendees.len(), 1);
    let added = cal.add_attendee("ev1", "b@example.com").await.unwrap().unwrap();
    assert_eq!(added.attendees.len(), 2);
    let removed = cal.remove_attendee("ev1", "a@example.com").await.unwrap().unwrap();
    assert!(removed.attendees.is_empty());
    // Not an attendee: no PATCH.
    cal.remove_attendee("ev1", "zed@example.com").await.unwrap();
}

#[tokio::test]
async fn failures_are_classified() {
    let s = fake().await;
    let (cal, _) = client(&s).await;
    let answer =
        |p: &str, r: ResponseTemplate| Mock::given(path(format!("/calendars/primary/events/{p}"))).respond_with(r);
    answer(
        "limited",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "12")
            .set_body_json(json!({"error": {"message": "Rate Limit Exceeded"}})),
    )
    .mount(&s)
    .await;
    answer(
        "forbidden",
        ResponseTemplate::new(403)
            .set_body_json(json!({"error": {"code": 403, "message": "Calendar usage limits exceeded."}})),
    )
    .mount(&s)
    .await;
    answer("flaky", ResponseTemplate::new(503).set_body_string("backend error"))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    answer("flaky", ResponseTemplate::new(200).set_body_json(event(&[])))
        .mount(&s)
        .await;
    answer("garbled", ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&s)
        .await;
    answer("slow", slow(event(&[]))).mount(&s).await;
    assert_rate_limited(cal.get_event("limited").await.unwrap_err(), 12);
    assert_rejected(
        cal.get_event("forbidden").await.unwrap_err(),
        403,
        "Calendar usage limits exceeded.",
    );
    assert_unavailable(cal.get_event("flaky").await.unwrap_err());
    assert!(cal.get_event("flaky").await.unwrap().is_some());
    assert_bad_response(cal.get_event("garbled").await.unwrap_err());
    assert_timeout(cal.get_event("slow").await.unwrap_err());
}

#[tokio::test]
async fn a_refused_token_is_fatal_and_missing_settings_are_named() {
    let s = fake().await;
    Mock::given(path("/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_grant", "error_description": "Invalid email or User ID"})),
        )
        .mount(&s)
        .await;
    let cfg = settings(&[
        ("GOOG_CREDENTIALS_JSON", &credentials()),
        ("GOOG_CALENDAR_IMPERSONATE_USER", "nobody@example.com"),
        ("GOOGLE_OAUTH_TOKEN_URL", &format!("{}/token", s.uri())),
    ]);
    let cal = GoogleCalendar::new(http("google_calendar", &s.uri()), &cfg);
    assert_rejected(cal.get_event("ev1").await.unwrap_err(), 400, "Invalid email or User ID");
    let cal = GoogleCalendar::new(http("google_calendar", &s.uri()), &settings(&[]));
    assert_not_configured(
        cal.get_event("ev1").await.unwrap_err(),
        &["GOOG_CREDENTIALS_JSON", "GOOG_CALENDAR_IMPERSONATE_USER"],
    );
}
