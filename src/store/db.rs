//! Connection pools for both backends and the [`with_conn!`](crate::with_conn) macro that runs one piece of
//! Diesel code against either.
//!
//! - SQLite: a file (bundled SQLite, nothing to install) in WAL mode with a busy timeout, foreign keys on and
//!   `synchronous` from configuration. Writes go through a pool of **one** connection (SQLite has one writer;
//!   queueing in the pool beats lock retries), reads through a separate pool.
//! - PostgreSQL: a pool of `AsyncPgConnection`s (pure Rust, no libpq), over TLS (rustls) when the URL's `sslmode`
//!   is `require`, `verify-ca` or `verify-full` ([`super::pg_tls`]).
//!
//! Every connection both pools open counts the statements it sends in one process-wide counter,
//! [`queries_total`] (Diesel's instrumentation hook: one relaxed atomic add per statement, `BEGIN`/`COMMIT` and the
//! pools' `SELECT 1` health checks included). It is the one place that sees every statement — the group-commit
//! writer and the migrations take connections from the pools directly, not through [`with_conn!`](crate::with_conn).
//! `ingot bench` reads it to report database queries per second.

use super::error::{Error, Result};
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Statements sent by every pooled connection of this process, since it started.
static QUERIES: AtomicU64 = AtomicU64::new(0);

/// How many statements this process's pooled connections have sent (both backends, all pools).
pub fn queries_total() -> u64 {
    QUERIES.load(Ordering::Relaxed)
}

tokio::task_local! {
    /// Set inside [`Db::within`]: whether the call's transaction has sent its `COMMIT` (a top-level `BEGIN`
    /// clears it). Written by [`CountQueries`], which diesel-async calls on the task that drives the query.
    static COMMIT_SENT: Arc<AtomicBool>;
}

/// Counts each statement a connection starts into [`QUERIES`], and tells [`Db::within`] when a top-level
/// `COMMIT` is about to be sent ([`COMMIT_SENT`]; nothing outside a `within` call, nor on SQLite's blocking
/// threads).
struct CountQueries;

impl diesel::connection::Instrumentation for CountQueries {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent as Event;
        match event {
            Event::StartQuery { .. } => {
                QUERIES.fetch_add(1, Ordering::Relaxed);
            }
            Event::BeginTransaction { depth, .. } if depth.get() == 1 => {
                let _ = COMMIT_SENT.try_with(|sent| sent.store(false, Ordering::Relaxed));
            }
            Event::CommitTransaction { depth, .. } if depth.get() == 1 => {
                let _ = COMMIT_SENT.try_with(|sent| sent.store(true, Ordering::Relaxed));
            }
            _ => {}
        }
    }
}

/// A SQLite connection whose blocking calls go through [`super::sqlite_calls::Calls`].
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, super::sqlite_calls::Calls>;
pub type SqlitePool = Pool<SqliteConn>;
pub type PgPool = Pool<AsyncPgConnection>;

/// Where the data lives, parsed from `INGOT_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> std::result::Result<DatabaseUrl, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sslmode / sslrootcert are checked here, so a bad value refuses start-up.
            super::pg_tls::PgTls::from_url(url)?;
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                "must start with sqlite:// (a file) or postgres:// (a server), e.g. sqlite://ingot.db".to_string()
            })?;
        if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
            return Err(
                "an SQLite database must be a file path, e.g. sqlite://ingot.db or sqlite:///var/lib/ingot/ingot.db"
                    .into(),
            );
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => redact_password(u),
        }
    }
}

fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// PostgreSQL connections (and SQLite read connections).
    pub size: usize,
    /// SQLite `PRAGMA synchronous`: `normal` survives a process crash, `full` also a power loss.
    pub sqlite_synchronous: String,
    /// SQLite's page cache per connection, in KiB (`PRAGMA cache_size = -N`; `INGOT_SQLITE_CACHE_KIB`): it fills
    /// as the database is read and is the part of the daemon's memory that grows with the file, up to this bound
    /// times the open connections.
    pub sqlite_cache_kib: u32,
    /// Deadline of every database call (`INGOT_DB_TIMEOUT`): the pool wait, and on the connection PostgreSQL's
    /// `statement_timeout` and `lock_timeout`, SQLite's `busy_timeout`.
    pub deadline: Duration,
}

/// SQLite's own default page cache per connection (`PRAGMA cache_size = -2000`), kept as the default.
pub const SQLITE_CACHE_KIB: u32 = 2000;

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 8,
            sqlite_synchronous: "normal".into(),
            sqlite_cache_kib: SQLITE_CACHE_KIB,
            deadline: Duration::from_secs(5),
        }
    }
}

/// A handle on the database. Cheap to clone.
#[derive(Clone)]
pub enum Db {
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        /// One connection of its own for the health probes, so they never queue behind the intake.
        probe: SqlitePool,
        url: DatabaseUrl,
        /// What the pools were opened with (a handle with pools of its own opens them the same way).
        options: PoolOptions,
        deadline: Duration,
    },
    Postgres {
        pool: PgPool,
        probe: PgPool,
        url: DatabaseUrl,
        options: PoolOptions,
        deadline: Duration,
    },
}

impl Db {
    /// Opens pools and checks that the database answers.
    pub async fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Db> {
        let db = Db::open(url, options)?;
        db.ping().await?;
        // A property of the linked library, not of the database: looked up by the process's first SQLite handle.
        static CHECKED: AtomicBool = AtomicBool::new(false);
        if let Db::Sqlite { .. } = db
            && !CHECKED.swap(true, Ordering::Relaxed)
            && matches!(db.sqlite_keeps_plans().await, Ok(false))
        {
            tracing::warn!(
                "this build's SQLite lacks SQLITE_ENABLE_QPSG (set by the project's .cargo/config.toml, unless \
                 LIBSQLITE3_FLAGS overrides it): statements whose plan looks at a bound value are re-prepared on \
                 every run, which costs CPU but nothing else"
            );
        }
        Ok(db)
    }

    /// Whether the bundled SQLite was built with `SQLITE_ENABLE_QPSG` (`.cargo/config.toml`): plans that do not
    /// depend on bound values, so a kept statement is never re-prepared (`PRAGMA compile_options`).
    /// PostgreSQL: always (its plan cache is the server's).
    pub async fn sqlite_keeps_plans(&self) -> Result<bool> {
        if let Db::Postgres { .. } = self {
            return Ok(true);
        }
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let options: Vec<CompileOption> = crate::with_conn!(self, read, |c| diesel_async::RunQueryDsl::load(
            diesel::sql_query("PRAGMA compile_options"),
            c
        )
        .await?);
        Ok(options.iter().any(|o| o.compile_options == "ENABLE_QPSG"))
    }

    /// Opens pools without connecting (connections are made on first use).
    pub fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Db> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                    && !parent.is_dir()
                {
                    return Err(Error::Connect(format!("directory {} does not exist", parent.display())));
                }
                let path = path.to_string_lossy().to_string();
                let write = sqlite_pool(&path, 1, options, Access::ReadWrite)?;
                let read = sqlite_pool(&path, options.size.max(1), options, Access::QueryOnly)?;
                let probe = sqlite_pool(&path, 1, options, Access::ReadWrite)?;
                Db::Sqlite {
                    write,
                    read,
                    probe,
                    url: url.clone(),
                    options: options.clone(),
                    deadline: options.deadline,
                }
            }
            DatabaseUrl::Postgres(u) => Db::Postgres {
                pool: pg_pool(u, options.size, options.deadline)?,
                probe: pg_pool(u, 1, options.deadline)?,
                url: url.clone(),
                options: options.clone(),
                deadline: options.deadline,
            },
        })
    }

    /// A handle with small pools of its own (one connection each, opened on first use by the runtime that uses
    /// it): for the heartbeat thread, which must never wait for a connection the engine's threads hold — nor, on
    /// PostgreSQL, for a connection driven by a task on a runtime whose thread a step may block.
    pub fn own_pools(&self) -> Result<Db> {
        Ok(match self {
            Db::Sqlite {
                url: url @ DatabaseUrl::Sqlite(path),
                options,
                ..
            } => {
                let path = path.to_string_lossy().to_string();
                // The same settings (synchronous, cache, deadline) as the handle's own pools.
                let options = PoolOptions {
                    size: 1,
                    ..options.clone()
                };
                Db::Sqlite {
                    write: sqlite_pool(&path, 1, &options, Access::ReadWrite)?,
                    read: sqlite_pool(&path, 1, &options, Access::QueryOnly)?,
                    probe: sqlite_pool(&path, 1, &options, Access::ReadWrite)?,
                    url: url.clone(),
                    deadline: options.deadline,
                    options,
                }
            }
            Db::Postgres {
                url: DatabaseUrl::Postgres(u),
                options,
                ..
            } => Db::Postgres {
                pool: pg_pool(u, 1, options.deadline)?,
                probe: pg_pool(u, 1, options.deadline)?,
                url: self.url().clone(),
                options: options.clone(),
                deadline: options.deadline,
            },
            _ => unreachable!("a handle's pools match its URL"),
        })
    }

    /// A handle for another async runtime (an HTTP worker thread). PostgreSQL connections are driven by a task
    /// on the runtime that opened them, so each runtime gets its own pool; SQLite pools are shared.
    pub fn for_another_runtime(&self) -> Result<Db> {
        match self {
            Db::Sqlite { .. } => Ok(self.clone()),
            Db::Postgres {
                url: DatabaseUrl::Postgres(u),
                options,
                ..
            } => Ok(Db::Postgres {
                pool: pg_pool(u, options.size.div_ceil(2), options.deadline)?,
                probe: pg_pool(u, 1, options.deadline)?,
                url: self.url().clone(),
                options: options.clone(),
                deadline: options.deadline,
            }),
            Db::Postgres { .. } => unreachable!("a Postgres handle always has a Postgres URL"),
        }
    }

    pub fn backend(&self) -> Backend {
        self.url().backend()
    }

    pub fn url(&self) -> &DatabaseUrl {
        match self {
            Db::Sqlite { url, .. } | Db::Postgres { url, .. } => url,
        }
    }

    /// Answers when the database can run a query.
    pub async fn ping(&self) -> Result<()> {
        crate::with_conn!(self, read, |c| c
            .batch_execute("SELECT 1")
            .await
            .map_err(|e| Error::Connect(e.to_string())))
    }

    /// The deadline of every database call (`INGOT_DB_TIMEOUT`).
    pub fn deadline(&self) -> Duration {
        match self {
            Db::Sqlite { deadline, .. } | Db::Postgres { deadline, .. } => *deadline,
        }
    }

    /// Whether the database takes a write now, on the probes' own connection, within the deadline: one
    /// committed transaction inserts and deletes a marker row in `events` (so a lock on `events` or a full or
    /// read-only SQLite file shows), leaving nothing behind.
    pub async fn probe_write(&self) -> Result<()> {
        const PROBE: &str = "INSERT INTO events (id, name, data, user_data, ts, received_at) \
             VALUES ('~ready-probe', '~ready-probe', '{}', '{}', 0, 0); \
             DELETE FROM events WHERE id = '~ready-probe';";
        let work = async {
            match self {
                Db::Sqlite { probe, .. } => {
                    let mut c = probe.get().await.map_err(Error::pool)?;
                    crate::write_tx!(c, Error, async |tx| Ok(tx.batch_execute(PROBE).await?)).await
                }
                Db::Postgres { probe, .. } => {
                    let mut c = probe.get().await.map_err(Error::pool)?;
                    crate::write_tx!(c, Error, async |tx| Ok(tx.batch_execute(PROBE).await?)).await
                }
            }
        };
        self.within(work).await
    }
}

impl Db {
    /// Runs `work` within the deadline, and never answers wrongly about a transaction it committed.
    ///
    /// PostgreSQL: past the deadline the future is dropped — an open transaction is then never committed (the
    /// connection is discarded and the server rolls it back; the server's own `statement_timeout` and
    /// `lock_timeout` usually end it first) — and the answer is a retryable timeout. Except once the
    /// transaction's `COMMIT` has been sent: dropping the future then would answer "not stored" for a transaction
    /// that may land a moment later (issue 15). The call then waits for the `COMMIT`'s own outcome, which the
    /// server bounds by `statement_timeout` (= the deadline), and this side bounds by one more deadline against a
    /// connection that stopped answering ([`Error::CommitInDoubt`], the one answer that cannot say).
    ///
    /// SQLite: each call runs on a blocking thread that cannot be abandoned (diesel-async's wrapper panics when
    /// such a call is dropped on an HTTP worker's runtime), so the bound is SQLite's own `busy_timeout` (the
    /// deadline) on every lock wait and the pool wait; the call itself is awaited, so its answer is its outcome.
    pub async fn within<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let until = tokio::time::Instant::now() + self.deadline();
        self.within_until(until, work).await
    }

    /// [`Db::within`] with the deadline at `until` (a request's, when its work waited before it started).
    pub async fn within_until<T>(
        &self,
        until: tokio::time::Instant,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match self {
            Db::Sqlite { .. } => work.await,
            Db::Postgres { deadline, .. } => {
                let sent = Arc::new(AtomicBool::new(false));
                let mut work = std::pin::pin!(COMMIT_SENT.scope(sent.clone(), work));
                match tokio::time::timeout_at(until, &mut work).await {
                    Ok(answer) => answer,
                    Err(_) if sent.load(Ordering::Relaxed) => {
                        tracing::warn!(deadline = ?deadline, "the deadline passed during COMMIT: waiting for its outcome");
                        tokio::time::timeout(*deadline, work).await.unwrap_or_else(|_| {
                            tracing::error!(
                                waited = ?*deadline * 2,
                                "COMMIT sent but not answered: its outcome is unknown"
                            );
                            Err(Error::CommitInDoubt(*deadline * 2))
                        })
                    }
                    Err(_) => Err(Error::Timeout(*deadline)),
                }
            }
        }
    }
}

/// What a SQLite pool's connections may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The write connection, and the probe's (readiness is the ability to write).
    ReadWrite,
    /// The read pool: `PRAGMA query_only`, so a write sent through it fails at once instead of competing with the
    /// one write connection for the database's lock — and a read step (`runs/read_step.rs`) is read-only as is.
    QueryOnly,
}

fn sqlite_pool(path: &str, size: usize, options: &PoolOptions, access: Access) -> Result<SqlitePool> {
    let synchronous = &options.sqlite_synchronous;
    let cache_kib = options.sqlite_cache_kib;
    let query_only = match access {
        Access::ReadWrite => "OFF",
        Access::QueryOnly => "ON",
    };
    let busy_ms = options.deadline.as_millis();
    let mut config = ManagerConfig::default();
    // An in-process database: nothing to verify on checkout.
    config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
    let pragmas = format!(
        // busy_timeout first: switching to WAL needs a lock, and without the timeout a connection opened while the
        // writer commits would fail at once with "database is locked".
        "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous}; PRAGMA cache_size = -{cache_kib}; \
         PRAGMA query_only = {query_only};"
    );
    config.custom_setup = Box::new(move |url| {
        let pragmas = pragmas.clone();
        let url = url.to_string();
        async move {
            let mut conn = SqliteConn::establish(&url).await?;
            conn.batch_execute(&pragmas)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            conn.set_instrumentation(CountQueries);
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
    Pool::builder(manager).max_size(size).build().map_err(Error::pool)
}

fn pg_pool(url: &str, size: usize, deadline: Duration) -> Result<PgPool> {
    let deadline_ms = deadline.as_millis();
    let mut config = ManagerConfig::default();
    // No `SELECT 1` round trip on every checkout: a broken connection is detected by diesel-async itself and
    // discarded, and a query on a connection that died meanwhile fails as a retryable database error.
    config.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_string();
        async move {
            let mut conn = tokio::time::timeout(deadline, pg_connect(&url))
                .await
                .map_err(|_| diesel::ConnectionError::BadConnection(format!("no connection within {deadline:?}")))??;
            // The server ends a statement or a lock wait past the deadline itself (the transaction rolls back).
            conn.batch_execute(&format!(
                "SET statement_timeout = {deadline_ms}; SET lock_timeout = {deadline_ms}; \
                 SET idle_in_transaction_session_timeout = {}",
                deadline_ms * 2
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            conn.set_instrumentation(CountQueries);
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(size.max(1))
        .build()
        .map_err(Error::pool)
}

/// Opens one PostgreSQL connection, over TLS when the URL's `sslmode` asks for it (see [`super::pg_tls`]).
pub async fn pg_connect(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let (url, tls) = super::pg_tls::PgTls::from_url(url).map_err(diesel::ConnectionError::InvalidConnectionUrl)?;
    let Some(connector) = tls.connector().map_err(diesel::ConnectionError::BadConnection)? else {
        return AsyncPgConnection::establish(&url).await;
    };
    let (client, connection) = tokio_postgres::connect(&url, connector).await.map_err(|e| {
        // tokio-postgres' message is generic ("error performing TLS handshake"); its sources say why.
        let mut message = format!("PostgreSQL over TLS (sslmode={}): {e}", tls.mode.as_str());
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        diesel::ConnectionError::BadConnection(message)
    })?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// Runs `$body` with `$conn` bound to a connection of either backend: the same Diesel code is compiled for
/// both. `$which` picks the SQLite pool (`write` or `read`); PostgreSQL has one pool.
#[macro_export]
macro_rules! with_conn {
    ($db:expr, $which:ident, |$conn:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite {
                $which: pool, deadline, ..
            } => {
                let mut pooled = ::tokio::time::timeout(*deadline, pool.get())
                    .await
                    .map_err(|_| $crate::store::Error::Timeout(*deadline))?
                    .map_err($crate::store::Error::pool)?;
                let $conn = &mut *pooled;
                $body
            }
            $crate::store::Db::Postgres { pool, deadline, .. } => {
                let mut pooled = ::tokio::time::timeout(*deadline, pool.get())
                    .await
                    .map_err(|_| $crate::store::Error::Timeout(*deadline))?
                    .map_err($crate::store::Error::pool)?;
                let $conn = &mut *pooled;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of a SQLite pragma on a read connection of `db`.
    async fn pragma(db: &Db, name: &str) -> Result<i64> {
        #[derive(diesel::QueryableByName)]
        struct V {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            v: i64,
        }
        let sql = format!("SELECT {name} AS v FROM pragma_{name}()");
        let rows: Vec<V> = crate::with_conn!(db, read, |c| diesel_async::RunQueryDsl::load(diesel::sql_query(sql), c)
            .await?);
        Ok(rows[0].v)
    }

    #[tokio::test]
    async fn the_bundled_sqlite_keeps_one_plan_per_statement() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(
            &DatabaseUrl::Sqlite(dir.path().join("plans.db")),
            &PoolOptions::default(),
        )
        .await
        .unwrap();
        assert!(
            db.sqlite_keeps_plans().await.unwrap(),
            "SQLITE_ENABLE_QPSG missing: .cargo/config.toml sets it through LIBSQLITE3_FLAGS"
        );
    }

    #[tokio::test]
    async fn sqlite_connections_take_the_configured_pragmas_own_pools_included() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("pragmas.db"));
        let options = PoolOptions {
            sqlite_cache_kib: 256,
            sqlite_synchronous: "full".into(),
            ..PoolOptions::default()
        };
        let db = Db::open(&url, &options).unwrap();
        for (which, handle) in [("the handle", db.clone()), ("own pools", db.own_pools().unwrap())] {
            assert_eq!(pragma(&handle, "cache_size").await.unwrap(), -256, "{which}");
            assert_eq!(pragma(&handle, "synchronous").await.unwrap(), 2, "{which}: FULL");
            assert_eq!(
                pragma(&handle, "query_only").await.unwrap(),
                1,
                "{which}: the read pool cannot write"
            );
        }
        let write: Result<()> = async {
            crate::with_conn!(&db, write, |c| {
                diesel_async::SimpleAsyncConnection::batch_execute(c, "CREATE TABLE t (v INTEGER)").await?
            });
            Ok(())
        }
        .await;
        assert!(write.is_ok(), "the write connection writes: {write:?}");
        let refused: Result<()> = async {
            crate::with_conn!(&db, read, |c| {
                diesel_async::SimpleAsyncConnection::batch_execute(c, "INSERT INTO t (v) VALUES (1)").await?
            });
            Ok(())
        }
        .await;
        assert!(refused.is_err(), "a write through the read pool is refused");
        let default = Db::open(&url, &PoolOptions::default()).unwrap();
        assert_eq!(
            pragma(&default, "cache_size").await.unwrap(),
            -i64::from(SQLITE_CACHE_KIB)
        );
    }

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://ingot.db"),
            Ok(DatabaseUrl::Sqlite("ingot.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/x.db"),
            Ok(DatabaseUrl::Sqlite("/var/x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn redacts_passwords() {
        let u = DatabaseUrl::parse("postgres://app:s3cret@db:5432/ingot").unwrap();
        assert_eq!(u.redacted(), "postgres://app:***@db:5432/ingot");
        assert!(!u.redacted().contains("s3cret"));
    }
}
