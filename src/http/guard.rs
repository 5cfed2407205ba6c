//! What every request passes before a handler (issue 15): the `Host` check (DNS rebinding), JSON content types on
//! the JSON POSTs (a web page's "simple" cross-site requests are refused), and admission control — bounded
//! requests and request bytes in flight, and bounded `drain` long-polls. Ingot sends no CORS headers, so a
//! browser never lets another origin read an answer.

use super::error::ApiError;
use actix_web::HttpRequest;
use actix_web::http::header;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shared by every HTTP worker of one daemon.
#[derive(Debug)]
pub struct Gate {
    /// Exact `host[:port]` values accepted, lowercase.
    hosts: Vec<String>,
    /// Configured names without a port: accepted with any port.
    names: Vec<String>,
    any_host: bool,
    max_requests: usize,
    max_bytes: usize,
    default_bytes: usize,
    max_drains: usize,
    requests: AtomicUsize,
    bytes: AtomicUsize,
    drains: AtomicUsize,
}

/// Held while a request is admitted; gives its share back when dropped.
pub struct Admitted {
    gate: Arc<Gate>,
    bytes: usize,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gate.requests.fetch_sub(1, Ordering::AcqRel);
        self.gate.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Held while a `drain` long-poll is open.
pub struct DrainSlot(Arc<Gate>);

impl Drop for DrainSlot {
    fn drop(&mut self) {
        self.0.drains.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    pub fn new(config: &crate::config::Config, bound: SocketAddr) -> Gate {
        let port = bound.port();
        let mut hosts = Vec::new();
        for name in ["localhost", "127.0.0.1", "[::1]"] {
            hosts.push(format!("{name}:{port}"));
            if port == 80 {
                hosts.push(name.to_string());
            }
        }
        if !bound.ip().is_unspecified() {
            hosts.push(bound.to_string());
        }
        let mut names = Vec::new();
        for h in &config.allowed_hosts {
            if h.ends_with(']') || !h.contains(':') {
                names.push(h.clone());
            } else {
                hosts.push(h.clone());
            }
        }
        Gate {
            any_host: config.allowed_hosts.iter().any(|h| h == "*"),
            hosts,
            names,
            max_requests: config.max_inflight_requests,
            max_bytes: config.max_inflight_bytes,
            default_bytes: config.max_request_bytes,
            max_drains: config.max_drain_polls,
            requests: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            drains: AtomicUsize::new(0),
        }
    }

    /// What is in flight now, for `/health`.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "requests_in_flight": self.requests.load(Ordering::Relaxed),
            "bytes_in_flight": self.bytes.load(Ordering::Relaxed),
            "drain_polls_open": self.drains.load(Ordering::Relaxed),
            "max_inflight_requests": self.max_requests,
            "max_inflight_bytes": self.max_bytes,
            "max_drain_polls": self.max_drains,
        })
    }

    /// 421 for a `Host` this daemon does not answer to, 400 without one.
    pub fn check_host(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .ok_or_else(|| ApiError::BadRequest("a Host header is required".into()))?
            .to_ascii_lowercase();
        if self.host_allowed(&host) {
            Ok(())
        } else {
            Err(ApiError::Misdirected(format!(
                "this daemon does not answer for host {host:?}; add it to INGOT_ALLOWED_HOSTS"
            )))
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        if self.any_host || self.hosts.iter().any(|h| h == host) {
            return true;
        }
        let name = match host.rsplit_once(':') {
            Some((n, port)) if !host.ends_with(']') && port.chars().all(|c| c.is_ascii_digit()) => n,
            _ => host,
        };
        self.names.iter().any(|n| n == name)
    }

    /// Admits a request of `content_length` bytes (unknown: the request cap), or 503 with `Retry-After`.
    pub fn admit(self: &Arc<Self>, content_length: Option<usize>) -> Result<Admitted, ApiError> {
        let bytes = content_length.unwrap_or(self.default_bytes).min(self.default_bytes);
        let requests = self.requests.fetch_add(1, Ordering::AcqRel) + 1;
        let in_flight = self.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let admitted = Admitted {
            gate: self.clone(),
            bytes,
        };
        if requests > self.max_requests {
            return Err(ApiError::Overloaded(format!(
                "too many requests in flight (INGOT_MAX_INFLIGHT_REQUESTS={}); retry",
                self.max_requests
            )));
        }
        // One request is always admitted alone, whatever its size (up to the request cap).
        if in_flight > self.max_bytes && in_flight > bytes {
            return Err(ApiError::Overloaded(format!(
                "too many request bytes in flight (INGOT_MAX_INFLIGHT_BYTES={}); retry",
                self.max_bytes
            )));
        }
        Ok(admitted)
    }

    /// A slot for one `drain` long-poll, or 429 with `Retry-After`.
    pub fn open_drain(self: &Arc<Self>) -> Result<DrainSlot, ApiError> {
        let open = self.drains.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = DrainSlot(self.clone());
        if open > self.max_drains {
            return Err(ApiError::TooManyRequests(format!(
                "too many drain long-polls open (INGOT_MAX_DRAIN_POLLS={}); retry",
                self.max_drains
            )));
        }
        Ok(slot)
    }
}

/// POSTs whose body is JSON: `/e/{key}` and the API's actions. Webhooks keep their provider's content type. A POST
/// with neither a body nor a content type (`curl -X POST …/cancel`) has nothing to type and passes; the API's auth
/// refuses cross-site requests anyway (a token, or a session with its CSRF token).
pub fn needs_json(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::POST
        && (has_body(req) || req.headers().contains_key(header::CONTENT_TYPE))
        && {
            let p = req.path();
            p.starts_with("/e/") || p.starts_with("/api/")
        }
}

/// Whether the request announces a body: a chunked transfer, or a `Content-Length` other than 0.
fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length.to_str().map_or(true, |v| v.trim() != "0"),
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// 415 unless the request says its body is JSON (`application/json`, or `application/<x>+json`).
pub fn check_json(req: &HttpRequest) -> Result<(), ApiError> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be application/json, not {mime:?}"
        )))
    }
}

/// Whether a route skips admission control: the probes (they must answer under load) and `drain` (bounded on
/// its own).
pub fn exempt(req: &HttpRequest) -> bool {
    let p = req.path();
    p == "/health" || p == "/health/ready" || p == "/api/v1/drain"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(allowed: &str) -> Gate {
        let values = [("allowed_hosts".to_string(), allowed.to_string())]
            .into_iter()
            .collect();
        let config = crate::config::Config::from_values(&values).unwrap();
        Gate::new(&config, "127.0.0.1:8288".parse().unwrap())
    }

    #[test]
    fn hosts() {
        let g = gate("ingot.example.com, api.example.com:443");
        for ok in [
            "127.0.0.1:8288",
            "localhost:8288",
            "[::1]:8288",
            "ingot.example.com",
            "ingot.example.com:8443",
            "api.example.com:443",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8288",
            "127.0.0.1:9999",
            "localhost",
            "api.example.com",
            "attacker.com:8288",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        assert!(gate("*").host_allowed("anything:1"));
    }

    #[test]
    fn admission_gives_back_its_share() {
        let g = Arc::new(gate(""));
        let held: Vec<_> = (0..256).map(|_| g.admit(Some(10)).unwrap()).collect();
        assert!(matches!(g.admit(Some(10)), Err(ApiError::Overloaded(_))));
        drop(held);
        let big = g.admit(Some(usize::MAX)).expect("one request alone is admitted");
        assert_eq!(
            g.bytes.load(Ordering::Relaxed),
            g.default_bytes,
            "unknown or huge: the request cap"
        );
        drop(big);
        assert_eq!(
            (g.requests.load(Ordering::Relaxed), g.bytes.load(Ordering::Relaxed)),
            (0, 0)
        );
    }

    #[test]
    fn which_posts_must_be_json() {
        use actix_web::test::TestRequest;
        let post = |path: &str, headers: &[(&str, &str)]| {
            let mut r = TestRequest::post().uri(path);
            for (k, v) in headers {
                r = r.insert_header((*k, *v));
            }
            needs_json(&r.to_http_request())
        };
        assert!(post("/e/k", &[("content-length", "2")]), "a body");
        assert!(
            post("/api/v1/runs/r/cancel", &[("content-type", "text/plain")]),
            "a declared type"
        );
        assert!(post("/e/k", &[("transfer-encoding", "chunked")]), "a chunked body");
        assert!(!post("/api/v1/runs/r/cancel", &[]), "neither a body nor a type");
        assert!(
            !post("/api/v1/runs/r/cancel", &[("content-length", "0")]),
            "an empty body"
        );
        assert!(
            !post("/webhooks/stripe", &[("content-type", "text/plain")]),
            "webhooks keep theirs"
        );
        assert!(
            !post("/login", &[("content-type", "application/x-www-form-urlencoded")]),
            "the login form"
        );
        let get = TestRequest::get()
            .uri("/api/v1/runs")
            .insert_header(("content-type", "text/plain"));
        assert!(!needs_json(&get.to_http_request()), "GETs");
    }
}
