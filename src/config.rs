//! Configuration: environment variables, optionally on top of a TOML file named by `--config`.
//!
//! Every setting has one name: `INGOT_DATABASE_URL` in the environment is `database_url` in the file. The
//! environment wins. Anything invalid — a bad value, an unknown key in the file — stops the daemon with a message
//! that names the setting. Secrets (event keys) never appear in `Debug` output or logs.

use crate::store::{DatabaseUrl, PoolOptions};
use ingot_actors::backoff::Backoff;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Every setting: (file key, environment variable, default, meaning).
pub const SETTINGS: &[(&str, &str, &str, &str)] = &[
    (
        "database_url",
        "INGOT_DATABASE_URL",
        "sqlite://ingot.db",
        "sqlite://PATH (embedded) or postgres://... (production, several daemons)",
    ),
    (
        "listen",
        "INGOT_LISTEN",
        "127.0.0.1:8288",
        "address the HTTP API listens on",
    ),
    (
        "event_keys",
        "INGOT_EVENT_KEYS",
        "",
        "comma-separated event keys accepted by POST /e/{key}; empty accepts any key (logged as a warning)",
    ),
    (
        "node_id",
        "INGOT_NODE_ID",
        "<hostname>:<port>",
        "this daemon's identity for run leases; unique per daemon sharing a database",
    ),
    (
        "max_runs_per_function",
        "INGOT_MAX_RUNS_PER_FUNCTION",
        "256",
        "runs of one function executing at once in this daemon",
    ),
    (
        "mailbox_capacity",
        "INGOT_MAILBOX_CAPACITY",
        "1024",
        "capacity of the supervisor's and each pool's mailbox",
    ),
    (
        "poll_interval",
        "INGOT_POLL_INTERVAL",
        "1s",
        "how often the supervisor looks for due work it was not told about",
    ),
    (
        "lease_ttl",
        "INGOT_LEASE_TTL",
        "30s",
        "a daemon silent this long is presumed dead and its runs are rescued",
    ),
    (
        "retry_backoff",
        "INGOT_RETRY_BACKOFF",
        "inngest",
        "`inngest` (15s, 30s, 1m, ... + jitter) or a fixed duration such as `2s`",
    ),
    (
        "shutdown_timeout",
        "INGOT_SHUTDOWN_TIMEOUT",
        "30s",
        "on SIGTERM, how long in-flight steps may take to finish",
    ),
    (
        "database_pool_size",
        "INGOT_DATABASE_POOL_SIZE",
        "8",
        "database connections (SQLite: read connections; writes use one)",
    ),
    (
        "sqlite_synchronous",
        "INGOT_SQLITE_SYNCHRONOUS",
        "normal",
        "`normal` survives a process crash, `full` also a power loss",
    ),
    (
        "sqlite_cache_kib",
        "INGOT_SQLITE_CACHE_KIB",
        "2000",
        "SQLite page cache per connection, KiB (memory grows with the file up to this times the connections)",
    ),
    (
        "max_request_bytes",
        "INGOT_MAX_REQUEST_BYTES",
        "33554432",
        "largest request body accepted (each event is also capped at 3 MiB)",
    ),
    ("http_workers", "INGOT_HTTP_WORKERS", "2", "HTTP worker threads"),
    (
        "allowed_hosts",
        "INGOT_ALLOWED_HOSTS",
        "",
        "extra `Host` names the API answers (comma-separated, `name` or `name:port`, `*` any); localhost, 127.0.0.1, [::1] and the listen address with its port are always allowed; others get 421",
    ),
    (
        "db_timeout",
        "INGOT_DB_TIMEOUT",
        "5s",
        "deadline of every database call: pool wait, statement and lock wait (PostgreSQL statement_timeout and lock_timeout, SQLite busy_timeout); intake answers 503 with Retry-After beyond it (100ms..10m)",
    ),
    (
        "max_inflight_requests",
        "INGOT_MAX_INFLIGHT_REQUESTS",
        "256",
        "requests handled at once (health and drain excluded); beyond it 503 with Retry-After",
    ),
    (
        "max_inflight_bytes",
        "INGOT_MAX_INFLIGHT_BYTES",
        "268435456",
        "request body bytes in flight at once (by Content-Length, else max_request_bytes); beyond it 503 with Retry-After",
    ),
    (
        "max_drain_polls",
        "INGOT_MAX_DRAIN_POLLS",
        "16",
        "GET /api/v1/drain long-polls open at once; beyond it 429 with Retry-After (each waits at most 10 minutes)",
    ),
    (
        "engine_threads",
        "INGOT_ENGINE_THREADS",
        "0",
        "extra threads that execute runs; 0 runs them on the supervisor's thread (fastest on 2 cores)",
    ),
    (
        "wait_lookback",
        "INGOT_WAIT_LOOKBACK",
        "5s",
        "wait_for_event also matches an event received this long before the wait began (0s: Inngest's behaviour)",
    ),
    (
        "wake_ahead",
        "INGOT_WAKE_AHEAD",
        "250ms",
        "a sleeping run is claimed this long before it wakes, so it resumes on time (0s: claimed when due)",
    ),
    (
        "claim_gap",
        "INGOT_CLAIM_GAP",
        "10ms",
        "the shortest time between two claims of one function's pool while it is busy (INGOT_CLAIM_GAP_BUSY): runs arriving within it are claimed together (0s: a claim per wake-up)",
    ),
    (
        "claim_gap_busy",
        "INGOT_CLAIM_GAP_BUSY",
        "1",
        "a function's pool is busy, its claims paced by INGOT_CLAIM_GAP, while this many of its runs are under way (1..10000; higher: more claims, each run claimed sooner)",
    ),
    (
        "retention",
        "INGOT_RETENTION",
        "30d",
        "finished runs, their steps and events, outbound requests and cron ticks older than this are pruned (1h..10y)",
    ),
    (
        "otlp_endpoint",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "",
        "an OpenTelemetry collector's OTLP/HTTP base URL (`http(s)://host:4318`): a trace per run, a span per step attempt, sent to `<url>/v1/traces`; empty: no traces",
    ),
    (
        "prune_interval",
        "INGOT_PRUNE_INTERVAL",
        "1m",
        "how often the pruner runs; each pass deletes in bounded batches",
    ),
    (
        "prune_batch",
        "INGOT_PRUNE_BATCH",
        "500",
        "rows per pruning transaction (each kind of row: at most 20 batches per pass)",
    ),
    (
        "runs_filter_scan",
        "INGOT_RUNS_FILTER_SCAN",
        "10000",
        "runs a CEL filter of the runs list evaluates per request at most; a page stopped there says so and continues on the next",
    ),
    (
        "auth",
        "INGOT_AUTH",
        "on",
        "`on`: the read API, the actions and the dashboard need a token or a login; `off`: anyone who reaches the port (a warning at start)",
    ),
    (
        "admin_token_sha256",
        "INGOT_ADMIN_TOKEN_SHA256",
        "",
        "hex SHA-256 of an extra admin token (full access), for automation: `printf %s \"$TOKEN\" | sha256sum`",
    ),
    (
        "session_ttl",
        "INGOT_SESSION_TTL",
        "12h",
        "how long a dashboard login lasts (5m..30d)",
    ),
    (
        "cookie_secure",
        "INGOT_COOKIE_SECURE",
        "false",
        "mark the dashboard's session cookie Secure (set it when the daemon is reached over HTTPS)",
    ),
    (
        "site_title",
        "NEXT_PUBLIC_SITE_TITLE",
        "Ingot",
        "the site's name, used in email subjects",
    ),
];

/// A secret value: compared, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    pub event_keys: Vec<Secret>,
    pub node_id: String,
    pub max_runs_per_function: usize,
    pub mailbox_capacity: usize,
    pub poll_interval: Duration,
    pub lease_ttl: Duration,
    pub retry_backoff: Backoff,
    pub shutdown_timeout: Duration,
    pub pool: PoolOptions,
    pub max_request_bytes: usize,
    pub http_workers: usize,
    /// `Host` names accepted besides the loopback names and the listen address (src/http/guard.rs).
    pub allowed_hosts: Vec<String>,
    /// Admission control (src/http/guard.rs) and the drain long-poll bound.
    pub max_inflight_requests: usize,
    pub max_inflight_bytes: usize,
    pub max_drain_polls: usize,
    pub engine_threads: usize,
    pub wait_lookback: Duration,
    pub wake_ahead: Duration,
    pub claim_gap: Duration,
    pub claim_gap_busy: usize,
    /// Retention horizon and the pruner's pace (src/store/retention.rs).
    pub retention: Duration,
    pub prune_interval: Duration,
    pub prune_batch: usize,
    /// The most runs one page of the runs list's CEL filter evaluates (src/store/run_search.rs).
    pub runs_filter_scan: usize,
    /// OpenTelemetry traces (src/telemetry/): the collector's base URL, when set.
    pub otlp_endpoint: Option<String>,
    pub site_title: String,
    /// Authentication (src/http/auth/).
    pub auth: crate::http::auth::AuthConfig,
    /// External services (src/integrations/config.rs).
    pub integrations: crate::integrations::config::IntegrationsConfig,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid {env} ({key}): {message}")]
    Invalid {
        key: &'static str,
        env: &'static str,
        message: String,
    },
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
}

impl Config {
    /// Reads the optional file, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut values = match file {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        for (key, env, _, _) in SETTINGS {
            if let Ok(v) = std::env::var(env) {
                values.insert(key.to_string(), v);
            }
        }
        values.extend(crate::integrations::config::from_env());
        Config::from_values(&values)
    }

    /// Builds and validates a configuration from `file key → value` pairs (defaults fill the rest).
    pub fn from_values(values: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let get = |key: &'static str| -> (&'static str, &'static str, String) {
            let (_, env, default, _) = SETTINGS.iter().find(|s| s.0 == key).expect("known setting");
            let v = values.get(key).cloned().unwrap_or_else(|| default.to_string());
            (key, env, v.trim().to_string())
        };
        let invalid =
            |key: &'static str, env: &'static str, message: String| ConfigError::Invalid { key, env, message };
        let number = |key: &'static str, min: usize, max: usize| -> Result<usize, ConfigError> {
            let (k, env, v) = get(key);
            let n: usize = v
                .parse()
                .map_err(|_| invalid(k, env, format!("{v:?} is not a whole number")))?;
            if n < min || n > max {
                return Err(invalid(k, env, format!("{n} is outside {min}..={max}")));
            }
            Ok(n)
        };
        let duration = |key: &'static str, min: Duration, max: Duration| -> Result<Duration, ConfigError> {
            let (k, env, v) = get(key);
            let d = humantime::parse_duration(&v)
                .map_err(|e| invalid(k, env, format!("{v:?} is not a duration like 500ms, 30s or 2m ({e})")))?;
            if d < min || d > max {
                return Err(invalid(
                    k,
                    env,
                    format!(
                        "{v} is outside {}..={}",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ),
                ));
            }
            Ok(d)
        };

        let (k, env, v) = get("database_url");
        let database_url = DatabaseUrl::parse(&v).map_err(|m| invalid(k, env, m))?;
        let (k, env, v) = get("listen");
        let listen: SocketAddr = v
            .parse()
            .map_err(|_| invalid(k, env, format!("{v:?} is not an address like 127.0.0.1:8288")))?;
        let (_, _, v) = get("event_keys");
        let event_keys = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Secret(s.to_string()))
            .collect();
        let (_, _, v) = get("node_id");
        let node_id = if v.is_empty() || v == "<hostname>:<port>" {
            format!("{}:{}", hostname(), listen.port())
        } else {
            v
        };
        let (k, env, v) = get("retry_backoff");
        let retry_backoff = if v == "inngest" {
            Backoff::Inngest
        } else {
            Backoff::Fixed(
                humantime::parse_duration(&v)
                    .map_err(|_| invalid(k, env, format!("{v:?} is neither `inngest` nor a duration like 2s")))?,
            )
        };
        let (k, env, v) = get("sqlite_synchronous");
        let sqlite_synchronous = match v.to_ascii_lowercase().as_str() {
            s @ ("normal" | "full" | "extra") => s.to_string(),
            _ => return Err(invalid(k, env, format!("{v:?} must be normal, full or extra"))),
        };
        let (k, env, v) = get("allowed_hosts");
        let allowed_hosts: Vec<String> = v
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(bad) = allowed_hosts
            .iter()
            .find(|h| h.as_str() != "*" && !h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)))
        {
            return Err(invalid(
                k,
                env,
                format!("{bad:?} is not a host name like ingot.example.com or ingot.example.com:8288"),
            ));
        }
        let (k, env, v) = get("otlp_endpoint");
        let otlp_endpoint = match v.as_str() {
            "" => None,
            url => match url.split_once("://") {
                Some(("http" | "https", rest)) if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
                    Some(url.to_string())
                }
                _ => {
                    return Err(invalid(
                        k,
                        env,
                        format!("{url:?} is not an http(s) URL like http://127.0.0.1:4318"),
                    ));
                }
            },
        };
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        Ok(Config {
            database_url,
            listen,
            event_keys,
            node_id,
            max_runs_per_function: number("max_runs_per_function", 1, 10_000)?,
            mailbox_capacity: number("mailbox_capacity", 16, 1_000_000)?,
            poll_interval: duration("poll_interval", ms(10), secs(60))?,
            lease_ttl: duration("lease_ttl", ms(300), secs(3600))?,
            retry_backoff,
            shutdown_timeout: duration("shutdown_timeout", ms(0), secs(3600))?,
            pool: PoolOptions {
                size: number("database_pool_size", 1, 1000)?,
                sqlite_synchronous,
                sqlite_cache_kib: number("sqlite_cache_kib", 64, 1 << 20)? as u32,
                deadline: duration("db_timeout", ms(100), secs(600))?,
            },
            max_request_bytes: number("max_request_bytes", 1024, 1 << 30)?,
            http_workers: number("http_workers", 1, 256)?,
            allowed_hosts,
            max_inflight_requests: number("max_inflight_requests", 1, 1_000_000)?,
            max_inflight_bytes: number("max_inflight_bytes", 1024, 1 << 40)?,
            max_drain_polls: number("max_drain_polls", 1, 100_000)?,
            engine_threads: number("engine_threads", 0, 256)?,
            wait_lookback: duration("wait_lookback", ms(0), secs(3600))?,
            wake_ahead: duration("wake_ahead", ms(0), secs(5))?,
            claim_gap: duration("claim_gap", ms(0), ms(100))?,
            claim_gap_busy: number("claim_gap_busy", 1, 10_000)?,
            retention: duration("retention", secs(3600), secs(10 * 366 * 86_400))?,
            prune_interval: duration("prune_interval", secs(1), secs(86_400))?,
            prune_batch: number("prune_batch", 10, 100_000)?,
            runs_filter_scan: number("runs_filter_scan", 1, 1_000_000)?,
            otlp_endpoint,
            site_title: get("site_title").2,
            auth: crate::http::auth::AuthConfig {
                enabled: {
                    let (k, env, v) = get("auth");
                    match v.to_ascii_lowercase().as_str() {
                        "on" => true,
                        "off" => false,
                        _ => return Err(invalid(k, env, format!("{v:?} must be on or off"))),
                    }
                },
                admin_token_sha256: {
                    let (k, env, v) = get("admin_token_sha256");
                    crate::http::auth::AuthConfig::parse_sha256(&v).map_err(|m| invalid(k, env, m))?
                },
                session_ttl: duration("session_ttl", secs(300), secs(30 * 86_400))?,
                cookie_secure: {
                    let (k, env, v) = get("cookie_secure");
                    match v.to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(invalid(k, env, format!("{v:?} must be true or false"))),
                    }
                },
            },
            integrations: crate::integrations::config::IntegrationsConfig::from_values(values)?,
        })
    }

    /// Whether `key` may send events (any key when none are configured).
    pub fn accepts_event_key(&self, key: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.event_keys.is_empty()
            || self
                .event_keys
                .iter()
                .any(|k| bool::from(k.expose().as_bytes().ct_eq(key.as_bytes())))
    }
}

fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let file_err = |message: String| ConfigError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_err(e.message().to_string()))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if !SETTINGS.iter().any(|s| s.0 == key) && !crate::integrations::config::is_key(&key) {
            return Err(file_err(format!("unknown setting {key:?}")));
        }
        let v = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| file_err(format!("{key}: only strings in lists")))
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => return Err(file_err(format!("{key}: unsupported value {other}"))),
        };
        out.insert(key, v);
    }
    Ok(out)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_values(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn defaults_are_valid() {
        let c = with(&[]).unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("ingot.db".into()));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8288");
        assert!(c.event_keys.is_empty() && c.accepts_event_key("anything"));
        assert!(c.node_id.ends_with(":8288"));
        assert_eq!(c.retry_backoff, Backoff::Inngest);
    }

    #[test]
    fn limits_are_validated() {
        let c = with(&[("allowed_hosts", "Ingot.Example.com, api.example.com:443")]).unwrap();
        assert_eq!(c.allowed_hosts, vec!["ingot.example.com", "api.example.com:443"]);
        assert_eq!((c.max_inflight_requests, c.max_drain_polls), (256, 16));
        assert_eq!(c.pool.deadline, Duration::from_secs(5));
        for (key, value, env) in [
            ("allowed_hosts", "evil host", "INGOT_ALLOWED_HOSTS"),
            ("db_timeout", "10ms", "INGOT_DB_TIMEOUT"),
            ("db_timeout", "soon", "INGOT_DB_TIMEOUT"),
            ("max_inflight_requests", "0", "INGOT_MAX_INFLIGHT_REQUESTS"),
            ("max_inflight_bytes", "12", "INGOT_MAX_INFLIGHT_BYTES"),
            ("max_drain_polls", "many", "INGOT_MAX_DRAIN_POLLS"),
        ] {
            let err = with(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(env), "{key}={value}: {err}");
        }
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = with(&[("listen", "nope")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_LISTEN"), "{err}");
        let err = with(&[("database_url", "mysql://x")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_DATABASE_URL"), "{err}");
        let err = with(&[("poll_interval", "soon")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_POLL_INTERVAL"), "{err}");
        let err = with(&[("max_runs_per_function", "0")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_MAX_RUNS_PER_FUNCTION"), "{err}");
        assert!(with(&[("retry_backoff", "sometimes")]).is_err());
        assert!(with(&[("sqlite_synchronous", "off")]).is_err());
        assert_eq!(
            with(&[]).unwrap().pool.sqlite_cache_kib,
            crate::store::db::SQLITE_CACHE_KIB
        );
        assert_eq!(with(&[("sqlite_cache_kib", "256")]).unwrap().pool.sqlite_cache_kib, 256);
        for bad in ["0", "63", "2097152", "-1", "2MiB"] {
            assert!(with(&[("sqlite_cache_kib", bad)]).is_err(), "{bad}");
        }
        let err = with(&[("wake_ahead", "10s")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_WAKE_AHEAD"), "{err}");
        assert_eq!(with(&[("wake_ahead", "0s")]).unwrap().wake_ahead, Duration::ZERO);
        let err = with(&[("claim_gap", "1s")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_CLAIM_GAP"), "{err}");
        assert_eq!(with(&[("claim_gap", "0s")]).unwrap().claim_gap, Duration::ZERO);
        assert_eq!(with(&[]).unwrap().claim_gap, ingot_actors::pool::CLAIM_GAP);
        assert_eq!(with(&[]).unwrap().claim_gap_busy, ingot_actors::pool::CLAIM_GAP_BUSY);
        assert_eq!(
            with(&[]).unwrap().max_runs_per_function,
            ingot_actors::pool::MAX_RUNS_PER_FUNCTION
        );
        assert_eq!(with(&[("claim_gap_busy", "1")]).unwrap().claim_gap_busy, 1);
        for bad in ["0", "10001", "-1", "x"] {
            let err = with(&[("claim_gap_busy", bad)]).unwrap_err().to_string();
            assert!(err.contains("INGOT_CLAIM_GAP_BUSY"), "{bad}: {err}");
        }
        let err = with(&[("auth", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_AUTH"), "{err}");
        let err = with(&[("admin_token_sha256", "abc")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_ADMIN_TOKEN_SHA256"), "{err}");
        let err = with(&[("cookie_secure", "sometimes")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_COOKIE_SECURE"), "{err}");
        assert!(!with(&[("auth", "OFF")]).unwrap().auth.enabled);
        let err = with(&[("retention", "5m")]).unwrap_err().to_string();
        assert!(err.contains("INGOT_RETENTION"), "{err}");
        for bad in ["localhost:4318", "ftp://collector", "http://", "http://a b"] {
            let err = with(&[("otlp_endpoint", bad)]).unwrap_err().to_string();
            assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{bad}: {err}");
        }
        assert_eq!(with(&[]).unwrap().otlp_endpoint, None);
        assert_eq!(
            with(&[("otlp_endpoint", "http://127.0.0.1:4318")])
                .unwrap()
                .otlp_endpoint
                .as_deref(),
            Some("http://127.0.0.1:4318")
        );
        assert_eq!(
            with(&[("retention", "7d")]).unwrap().retention,
            Duration::from_secs(7 * 86_400)
        );
    }

    #[test]
    fn event_keys_are_secret() {
        let c = with(&[("event_keys", "k1, k2")]).unwrap();
        assert!(c.accepts_event_key("k2") && !c.accepts_event_key("k3") && !c.accepts_event_key(""));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("k1") && !dbg.contains("k2"), "{dbg}");
    }

    #[test]
    fn file_rejects_unknown_keys_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingot.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nbogus = 1\n").unwrap();
        assert!(matches!(read_file(&path), Err(ConfigError::File { .. })));
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nevent_keys = [\"a\", \"b\"]\nhttp_workers = 3\n",
        )
        .unwrap();
        let values = read_file(&path).unwrap();
        let c = Config::from_values(&values).unwrap();
        assert_eq!((c.listen.port(), c.event_keys.len(), c.http_workers), (9000, 2, 3));
    }
}
