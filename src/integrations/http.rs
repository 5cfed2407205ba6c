//! The HTTP side every JSON client shares: one request type, sending through the service actor (or recording it
//! in `outbound_requests` in dry-run mode); answers are classified by [`super::classify`].
//!
//! - `X-RateLimit-Remaining: 0` + `X-RateLimit-Reset-After` close the call's route bucket until it resets; a
//!   global 429 (`X-RateLimit-Global`, `X-RateLimit-Scope: global`) closes every route.
//! - Credentials travel only in headers or values marked secret; error messages never contain URLs (query strings
//!   may hold secrets), and dry-run records show secrets as `***`.

use super::classify::{DEFAULT_429_WAIT, classify, retry_after, transport_error};
use crate::config::Secret;
use crate::store::Db;
use crate::store::schema::outbound_requests;
use diesel_async::RunQueryDsl;
use ingot_actors::service::{Service, ServiceError, parse_retry_after};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// What a dry run answers: typed results that keep unknown fields (`rest`) show `"dryRun": true` in the step's
/// output; the others are empty.
pub const DRY_RUN_BODY: &[u8] = br#"{"dryRun": true}"#;
/// JSON keys whose values are redacted in dry-run records.
const SECRET_KEYS: &[&str] = &[
    "api_secret",
    "api_key",
    "assertion",
    "access_token",
    "password",
    "client_secret",
];

/// A query or header value; secret ones are redacted when recorded.
#[derive(Debug, Clone)]
pub enum Val {
    Plain(String),
    Secret(Secret),
}

impl Val {
    fn expose(&self) -> &str {
        match self {
            Val::Plain(s) => s,
            Val::Secret(s) => s.expose(),
        }
    }
    fn shown(&self) -> &str {
        match self {
            Val::Plain(s) => s,
            Val::Secret(_) => "***",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Form(Vec<(String, Val)>),
    /// Raw bytes with their content type (S3 objects, AWS JSON 1.1 bodies that are signed byte for byte).
    Bytes {
        data: bytes::Bytes,
        content_type: String,
    },
}

/// One outbound request. `path` is appended to the service's base URL unless it is absolute.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, Val)>,
    pub headers: Vec<(String, Val)>,
    pub body: Body,
    /// The rate-limit bucket (e.g. `PATCH guilds/{guild}/members/{id}`), for services that have them.
    pub route: Option<String>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::None,
            route: None,
        }
    }
    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }
    pub fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Request {
        self.query.push((k.into(), Val::Plain(v.into())));
        self
    }
    pub fn secret_query(mut self, k: &str, v: &Secret) -> Request {
        self.query.push((k.into(), Val::Secret(v.clone())));
        self
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Request {
        self.headers.push((k.into(), Val::Plain(v.into())));
        self
    }
    pub fn secret_header(mut self, k: &str, v: impl Into<String>) -> Request {
        self.headers.push((k.into(), Val::Secret(Secret::new(v.into()))));
        self
    }
    pub fn json(mut self, body: Value) -> Request {
        self.body = Body::Json(body);
        self
    }
    pub fn form(mut self, fields: Vec<(String, Val)>) -> Request {
        self.body = Body::Form(fields);
        self
    }
    pub fn bytes(mut self, data: bytes::Bytes, content_type: &str) -> Request {
        self.body = Body::Bytes {
            data,
            content_type: content_type.into(),
        };
        self
    }
    pub fn route(mut self, route: impl Into<String>) -> Request {
        self.route = Some(route.into());
        self
    }
}

/// A 2xx answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: bytes::Bytes,
    /// Recorded instead of sent (`INGOT_DRY_RUN=1`).
    pub dry_run: bool,
}

/// A service actor plus its HTTP client and base URL.
#[derive(Clone)]
pub struct HttpService {
    pub service: Service,
    client: reqwest::Client,
    base_url: String,
    dry_run: Option<Db>,
    /// The base URL is itself a credential (Slack's webhook URL): recorded as `***`.
    secret_base: bool,
    /// How a non-2xx answer becomes an error ([`classify`] unless the service speaks otherwise, e.g. AWS).
    classifier: Classifier,
}

/// Maps a non-2xx answer `(service, status, headers, body)` to its error.
pub type Classifier = fn(&str, u16, &HeaderMap, &[u8]) -> Result<(), ServiceError>;

impl HttpService {
    /// Classifies non-2xx answers with `classifier` instead of [`classify`].
    pub fn with_classifier(mut self, classifier: Classifier) -> HttpService {
        self.classifier = classifier;
        self
    }

    pub fn with_secret_base(mut self) -> HttpService {
        self.secret_base = true;
        self
    }

    pub fn new(service: Service, base_url: &str, dry_run: Option<Db>) -> HttpService {
        let client = crate::tls::http_client_builder()
            .timeout(service.timeout())
            .connect_timeout(service.timeout().min(Duration::from_secs(10)))
            .user_agent(concat!("ingot/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client");
        HttpService {
            service,
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            dry_run,
            secret_base: false,
            classifier: classify,
        }
    }

    pub fn name(&self) -> &str {
        self.service.name()
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.is_empty() {
            self.base_url.clone()
        } else {
            format!("{}/{}", self.base_url, path.trim_start_matches('/'))
        }
    }

    /// Sends (or records) the request through the actor; a non-2xx answer is an error.
    pub async fn send(&self, req: Request) -> Result<Answer, ServiceError> {
        let route = req.route.clone();
        let this = self.clone();
        self.service
            .call(route.as_deref(), move || async move {
                match &this.dry_run {
                    Some(db) => this.record(db, &req).await,
                    None => this.transmit(req).await,
                }
            })
            .await
    }

    /// Sends the request and decodes a JSON answer; a dry run decodes [`DRY_RUN_BODY`].
    pub async fn json<T: DeserializeOwned>(&self, req: Request) -> Result<T, ServiceError> {
        let answer = self.send(req).await?;
        self.decode(&answer.body)
    }

    pub fn decode<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ServiceError> {
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}".as_slice()
        } else {
            body
        };
        serde_json::from_slice(body).map_err(|e| ServiceError::BadResponse {
            service: self.name().to_string(),
            message: format!("invalid JSON: {e}"),
        })
    }

    /// Sends (or records) the request through the actor and hands back the open response once its status and
    /// headers are in (a non-2xx answer is read and classified as an error); the caller reads the body as it
    /// streams. The service's timeout bounds the wait for the headers only. A dry run answers `None`.
    pub async fn open(&self, req: Request) -> Result<Option<reqwest::Response>, ServiceError> {
        let route = req.route.clone();
        let this = self.clone();
        self.service
            .call(route.as_deref(), move || async move {
                match &this.dry_run {
                    Some(db) => this.record(db, &req).await.map(|_| None),
                    None => this.start(req).await.map(Some),
                }
            })
            .await
    }

    async fn transmit(&self, req: Request) -> Result<Answer, ServiceError> {
        let name = self.name().to_string();
        let resp = self.start(req).await?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&name, self.service.timeout(), e))?;
        Ok(Answer {
            status,
            body,
            dry_run: false,
        })
    }

    /// Sends the request; answers the response of a 2xx (body unread), else the classified error.
    async fn start(&self, req: Request) -> Result<reqwest::Response, ServiceError> {
        let name = self.name().to_string();
        let mut b = self.client.request(req.method.clone(), self.url(&req.path));
        if !req.query.is_empty() {
            let q: Vec<(&str, &str)> = req.query.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
            b = b.query(&q);
        }
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.expose());
        }
        b = match &req.body {
            Body::None => b,
            Body::Json(v) => b.json(v),
            Body::Form(fields) => {
                let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
                b.form(&f)
            }
            Body::Bytes { data, content_type } => b.header("content-type", content_type.as_str()).body(data.clone()),
        };
        let resp = b
            .send()
            .await
            .map_err(|e| transport_error(&name, self.service.timeout(), e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if (200..300).contains(&status) {
            self.note_rate_headers(req.route.as_deref(), status, &headers, b"");
            return Ok(resp);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&name, self.service.timeout(), e))?;
        self.note_rate_headers(req.route.as_deref(), status, &headers, &body);
        (self.classifier)(&name, status, &headers, &body)?;
        Err(ServiceError::BadResponse {
            service: name,
            message: format!("HTTP {status}"),
        })
    }

    /// Closes route buckets the service reported exhausted.
    fn note_rate_headers(&self, route: Option<&str>, status: u16, headers: &HeaderMap, body: &[u8]) {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let global = h("x-ratelimit-global").is_some_and(|v| v == "true")
            || h("x-ratelimit-scope").is_some_and(|v| v == "global")
            || serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["global"].as_bool())
                == Some(true);
        if status == 429 {
            let wait = retry_after(headers, body).unwrap_or(DEFAULT_429_WAIT);
            match (global, route) {
                (true, _) => self.service.block_all(wait),
                (false, Some(r)) => self.service.block_route(r, wait),
                (false, None) => {}
            }
        } else if let (Some(r), Some("0")) = (route, h("x-ratelimit-remaining"))
            && let Some(wait) = h("x-ratelimit-reset-after").and_then(|v| parse_retry_after(v, SystemTime::now()))
        {
            self.service.block_route(r, wait);
        }
    }

    async fn record(&self, db: &Db, req: &Request) -> Result<Answer, ServiceError> {
        let mut url = if self.secret_base {
            "***".to_string()
        } else {
            self.url(&req.path)
        };
        if !req.query.is_empty() {
            let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={}", v.shown())).collect();
            url = format!("{url}?{}", q.join("&"));
        }
        let headers: serde_json::Map<String, Value> = req
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if k.eq_ignore_ascii_case("authorization") {
                    "***"
                } else {
                    v.shown()
                };
                (k.to_ascii_lowercase(), Value::String(shown.to_string()))
            })
            .collect();
        let body = match &req.body {
            Body::None => None,
            Body::Json(v) => Some(redact_json(v.clone()).to_string()),
            Body::Form(f) => Some(
                f.iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            if SECRET_KEYS.contains(&k.as_str()) {
                                "***"
                            } else {
                                v.shown()
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            ),
            Body::Bytes { data, content_type } => Some(format!("<{} bytes of {content_type}>", data.len())),
        };
        let row = (
            outbound_requests::id.eq(uuid::Uuid::now_v7().to_string()),
            outbound_requests::service.eq(self.name().to_string()),
            outbound_requests::method.eq(req.method.to_string()),
            outbound_requests::url.eq(url),
            outbound_requests::headers.eq(Value::Object(headers).to_string()),
            outbound_requests::body.eq(body),
            outbound_requests::created_at.eq(ingot_actors::time::now_ms()),
        );
        use diesel::ExpressionMethods;
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
            service: self.name().to_string(),
            message: format!("could not record the dry run: {e}"),
            retry_after: None,
        })?;
        tracing::info!(service = self.name(), method = %req.method, "dry run: request recorded, not sent");
        Ok(Answer {
            status: 200,
            body: bytes::Bytes::from_static(DRY_RUN_BODY),
            dry_run: true,
        })
    }
}

/// Replaces the values of secret-looking keys, recursively.
pub fn redact_json(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) {
                    *val = Value::String("***".into());
                } else {
                    *val = redact_json(val.take());
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| *i = redact_json(i.take())),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        let v = redact_json(serde_json::json!({"api_secret": "s3", "fields": [{"access_token": "t"}], "x": 1}));
        assert_eq!(
            v,
            serde_json::json!({"api_secret": "***", "fields": [{"access_token": "***"}], "x": 1})
        );
    }
}
