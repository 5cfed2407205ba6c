//! Hand-written statements are prepared once per connection and kept, on a real connection of each backend: the
//! cache records each text once however often it runs, and refuses a batch longer than its bound.

use crate::both;
use crate::support::{Backend, TestDb};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ingot::store::sql::{Param, Stmt, cache};
use std::sync::{Arc, Mutex};

/// The texts the connection's statement cache took in.
#[derive(Clone, Default)]
struct Cached(Arc<Mutex<Vec<String>>>);

impl Instrumentation for Cached {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::CacheQuery { sql, .. } = event {
            self.0.lock().unwrap().push(sql.to_string());
        }
    }
}

impl Cached {
    fn holding(&self, marker: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|s| s.contains(marker)).count()
    }
}

/// A statement that reads `marker` back, with `extra` more parameters in an `IN` list.
fn marked(marker: &str, extra: usize) -> Stmt {
    let mut s = Stmt::new(format!(
        "SELECT COUNT(*) AS n FROM events WHERE id = $1 AND '{marker}' <> ''"
    ));
    s.params.push(Param::Text("none".into()));
    if extra > 0 {
        s.push_sql(" AND name NOT IN (");
        s.push_list((0..extra).map(|i| Param::Text(format!("n{i}"))));
        s.push_sql(")");
    }
    s
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

macro_rules! run_thrice {
    ($c:expr, $db:ty, $texts:expr, $s:expr) => {
        for _ in 0..3 {
            let rows: Vec<N> = $s.query_in::<$db>($texts).load(&mut $c).await.expect("statement runs");
            assert_eq!(rows.iter().map(|r| r.n).collect::<Vec<_>>(), [0]);
        }
    };
}

async fn kept_prepared(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cached = Cached::default();
    let short = marked(&format!("kept-{backend:?}"), 0);
    let long = marked(&format!("long-{backend:?}"), cache::PARAMS);
    // This test's own count of admitted texts: the process's fills up with the other tests' daemons.
    let texts = cache::Texts::new(cache::TEXTS);
    match backend {
        Backend::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            let mut c = ingot::store::db::SqliteConn::establish(path).await.expect("connect");
            c.set_instrumentation(cached.clone());
            run_thrice!(c, diesel::sqlite::Sqlite, &texts, short);
            run_thrice!(c, diesel::sqlite::Sqlite, &texts, long);
        }
        Backend::Postgres => {
            let mut c = diesel_async::AsyncPgConnection::establish(&db.url)
                .await
                .expect("connect");
            c.set_instrumentation(cached.clone());
            run_thrice!(c, diesel::pg::Pg, &texts, short);
            run_thrice!(c, diesel::pg::Pg, &texts, long);
        }
    }
    assert_eq!(
        cached.holding(&format!("kept-{backend:?}")),
        1,
        "prepared once, run three times"
    );
    assert_eq!(
        cached.holding(&format!("long-{backend:?}")),
        0,
        "a batch over the bound is not kept"
    );
}

both!(statements_are_kept_prepared, kept_prepared);

#[derive(diesel::QueryableByName)]
struct Stats {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    run: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    reprep: i64,
}

/// SQLite re-prepares a statement whenever a parameter its plan looked at is bound anew: a `LIMIT $n`, or a value
/// compared with a partial index's condition (`status = $n` against `runs_lease_owner … WHERE status = 'running'`),
/// which made most kept statements parse again on every run. Built with `SQLITE_ENABLE_QPSG` (`.cargo/config.toml`),
/// a plan does not depend on the values, and `sqlite_stmt` (`SQLITE_ENABLE_STMTVTAB`) shows no re-prepare.
#[tokio::test]
async fn sqlite_keeps_one_plan_whatever_the_values() {
    let db = TestDb::new(Backend::Sqlite).await;
    let path = db.url.trim_start_matches("sqlite://");
    let mut c = ingot::store::db::SqliteConn::establish(path).await.expect("connect");
    let texts = cache::Texts::new(cache::TEXTS);
    for (status, limit) in [("running", 1), ("queued", 2), ("running", 3), ("completed", 4)] {
        let mut s = Stmt::new(
            "SELECT COUNT(*) AS n FROM (SELECT id FROM runs WHERE lease_owner = $1 AND status = $2 \
             AND 'one-plan' <> '' LIMIT $3)",
        );
        s.params = vec![
            Param::Text("node".into()),
            Param::Text(status.into()),
            Param::BigInt(limit),
        ];
        let rows: Vec<N> = s
            .query_in::<diesel::sqlite::Sqlite>(&texts)
            .load(&mut c)
            .await
            .expect("statement runs");
        assert_eq!(rows.iter().map(|r| r.n).collect::<Vec<_>>(), [0]);
    }
    let stats: Vec<Stats> = diesel::sql_query("SELECT run, reprep FROM sqlite_stmt WHERE sql LIKE '%one-plan%'")
        .load(&mut c)
        .await
        .expect("sqlite_stmt (SQLITE_ENABLE_STMTVTAB in .cargo/config.toml)");
    let stat = stats.iter().find(|s| s.run >= 4).unwrap_or_else(|| {
        panic!(
            "the statement is kept and ran four times: {:?}",
            stats.iter().map(|s| s.run).collect::<Vec<_>>()
        )
    });
    assert_eq!(
        stat.reprep, 0,
        "re-prepared for new values (built without SQLITE_ENABLE_QPSG?)"
    );
}
