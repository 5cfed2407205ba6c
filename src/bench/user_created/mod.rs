//! The platform's own workload, `user-created` (5 memoized steps with real platform writes: role, preference,
//! two renders), measured as the engine-core issue and `../shared/peers/` measure it, against `ingot serve` in a
//! process of its own ([`super::serving`]) so that the daemon's CPU time is the daemon's alone:
//!
//! - [`batched`] (`--scenario user-created`): N events enqueued at once, `--batch` per request — a backlog;
//! - [`steady`] (`--scenario user-created-steady`): one event per request at a fixed rate, open loop — the
//!   platform's web app sending one event per sign-up.
//!
//! Both print, per run: the daemon's CPU time, the PostgreSQL server's CPU time (its processes on this machine),
//! and the database transactions (PostgreSQL's `xact_commit + xact_rollback` of the fresh database, from a
//! moment with the daemon stopped to a moment with it stopped again: its start, polls and shutdown included, as
//! the peers' harness counts them). SQLite has no such counter: `n/a`. Both check exactly-once effects: each user
//! has one `user` role and one preference, and every run completed.

pub mod batched;
pub mod steady;

use super::fresh::{FreshDb, Kind};
use crate::functions::people::user_created;
use crate::store::migrate;
use crate::store::schema::{communication_preferences, roles, user_roles, users};
use anyhow::Context;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::time::Duration;

/// The users the events name: `u000000`, `user0@example.com`, …
pub fn user(i: usize) -> (String, String) {
    (format!("u{i:06}"), format!("user{i}@example.com"))
}

/// The body of one `user/created` event for user `i`.
pub fn event(i: usize) -> serde_json::Value {
    let (id, email) = user(i);
    serde_json::json!({"name": user_created::EVENT, "user": {"id": id, "email": email}})
}

/// Migrates the fresh database and inserts `n` users, before any daemon starts (so none of it is measured).
pub async fn prepare(fresh: &FreshDb, n: usize) -> anyhow::Result<()> {
    let db = super::open(fresh).await?;
    migrate::run(&db).await.context("migrations")?;
    // Multi-row INSERTs of generated values (`u000042`, `user42@example.com`, `User 42`: nothing to quote).
    let indexes: Vec<usize> = (0..n).collect();
    for chunk in indexes.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|&i| {
                let (id, email) = user(i);
                format!("('{id}', '{email}', 'User {i}')")
            })
            .collect();
        let sql = format!("INSERT INTO users (id, email, name) VALUES {}", values.join(", "));
        crate::with_conn!(&db, write, |c| diesel::sql_query(&sql).execute(c).await?);
    }
    Ok(())
}

/// Database transactions committed or rolled back in the fresh PostgreSQL database so far, once no connection to
/// it is left (a backend flushes its counters when it exits); `None` on SQLite.
pub async fn transactions(fresh: &FreshDb) -> anyhow::Result<Option<i64>> {
    if fresh.kind() == Kind::Sqlite {
        return Ok(None);
    }
    let name = fresh.pg_name().context("a PostgreSQL fresh database has a name")?;
    let mut admin = fresh.admin().await?;
    for _ in 0..200 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let open: N = diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut admin)
            .await?;
        if open.n == 0 {
            diesel::sql_query("SELECT pg_stat_clear_snapshot()")
                .execute(&mut admin)
                .await?;
            let done: N = diesel::sql_query(
                "SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = $1",
            )
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut admin)
            .await?;
            return Ok(Some(done.n));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("connections to {name} were still open 10 s after the daemon stopped")
}

/// Exactly-once effects of `n` runs: every run completed, each user has one `user` role and one preference.
pub async fn verify(fresh: &FreshDb, n: usize) -> anyhow::Result<()> {
    let db = super::open(fresh).await?;
    let (roles_n, prefs_n, users_with_one): (i64, i64, i64) = crate::with_conn!(&db, read, |c| {
        let roles_n: i64 = user_roles::table
            .inner_join(roles::table)
            .filter(roles::name.eq("user"))
            .count()
            .get_result(c)
            .await?;
        let prefs_n: i64 = communication_preferences::table.count().get_result(c).await?;
        let users_with_one: i64 = users::table
            .filter(diesel::dsl::exists(
                user_roles::table.filter(user_roles::user_id.eq(users::id)),
            ))
            .filter(diesel::dsl::exists(
                communication_preferences::table.filter(communication_preferences::user_id.eq(users::id)),
            ))
            .count()
            .get_result(c)
            .await?;
        (roles_n, prefs_n, users_with_one)
    });
    let n = n as i64;
    anyhow::ensure!(
        roles_n == n && prefs_n == n && users_with_one == n,
        "exactly-once check failed: {n} users, {roles_n} `user` roles, {prefs_n} preferences, {users_with_one} users \
         with both"
    );
    Ok(())
}

/// One measured stretch, as both scenarios take it: `n` users prepared, `ingot serve` started as `node_id` and
/// ready, `load` run against its base URL, the runs drained, then the costs of the stretch ([`Costs`]), the runs'
/// figures from the database and the exactly-once check. Returns what `load` returned, the figures and the costs.
pub fn measured<T>(
    rt: &tokio::runtime::Runtime,
    fresh: &FreshDb,
    node_id: &str,
    n: usize,
    load: impl AsyncFnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<(T, super::measure::RunFigures, Costs)> {
    use super::serving::{self, Serving};
    rt.block_on(prepare(fresh, n))?;
    let t0 = rt.block_on(transactions(fresh))?;
    let mut daemon = Serving::start(fresh, node_id, &[])?;
    let http = crate::tls::http_client();
    rt.block_on(daemon.ready(&http))?;
    let cpu0 = serving::cpu_seconds(daemon.pid())?;
    let pg0 = serving::postgres_cpu_seconds();
    let q0 = rt.block_on(serving::statements(&http, &daemon.base))?;
    let out = rt.block_on(async {
        let out = load(&daemon.base).await?;
        super::client::drain(&daemon.base, false)
            .await
            .context("waiting for the runs")?;
        anyhow::Ok(out)
    })?;
    let daemon_cpu_s = serving::cpu_seconds(daemon.pid())? - cpu0;
    let postgres_cpu_s = serving::postgres_cpu_seconds() - pg0;
    let statements = rt.block_on(serving::statements(&http, &daemon.base))? - q0;
    daemon.stop()?;
    let t1 = rt.block_on(transactions(fresh))?;
    let runs = rt.block_on(async {
        let db = super::open(fresh).await?;
        super::measure::runs(&db, user_created::ID, n).await
    })?;
    rt.block_on(verify(fresh, n))?;
    let costs = Costs {
        daemon_cpu_s,
        postgres_cpu_s,
        transactions: t0.zip(t1).map(|(a, b)| b - a),
        statements,
    };
    Ok((out, runs, costs))
}

/// Where the daemon's and the server's CPU went, and the transactions, over one measured stretch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Costs {
    pub daemon_cpu_s: f64,
    pub postgres_cpu_s: f64,
    pub transactions: Option<i64>,
    /// SQL statements the daemon sent ([`super::serving::statements`]).
    pub statements: u64,
}

impl Costs {
    pub fn daemon_ms_per_run(&self, n: usize) -> f64 {
        self.daemon_cpu_s * 1000.0 / n as f64
    }

    pub fn postgres_ms_per_run(&self, kind: Kind, n: usize) -> Option<f64> {
        (kind == Kind::Postgres).then(|| self.postgres_cpu_s * 1000.0 / n as f64)
    }

    pub fn statements_per_run(&self, n: usize) -> f64 {
        self.statements as f64 / n as f64
    }

    pub fn transactions_per_run(&self, n: usize) -> Option<f64> {
        self.transactions.map(|t| t as f64 / n as f64)
    }
}

/// `Some(x)` printed with `decimals`, `None` as `n/a`, right-aligned in `width`.
pub fn or_na(v: Option<f64>, width: usize, decimals: usize) -> String {
    match v {
        Some(x) => format!("{x:>width$.decimals$}"),
        None => format!("{:>width$}", "n/a"),
    }
}
