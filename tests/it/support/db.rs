//! Fresh databases per test: a SQLite file in a temp dir, or a PostgreSQL database created on the local server
//! (`INGOT_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards.
//! PostgreSQL being unreachable fails the test — never a silent skip.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use ingot::store::{DatabaseUrl, Db, PoolOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("INGOT_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_db_name(admin: &str, name: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((admin, None));
    let base = match base.rfind('/') {
        Some(i) if i > base.find("://").map(|j| j + 2).unwrap_or(0) => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new(backend: Backend) -> TestDb {
        let (url, dir, pg_name) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("ingot.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let admin = admin_url();
                let name = format!("ingot_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = AsyncPgConnection::establish(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for the test suite and is unreachable at {admin}: {e}. Start it (see README) or set INGOT_TEST_DATABASE_URL.")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                (with_db_name(&admin, &name), None, Some(name))
            }
        };
        let parsed = DatabaseUrl::parse(&url).expect("valid url");
        let db = Db::connect(&parsed, &PoolOptions::default()).await.expect("connect");
        ingot::store::migrate::run(&db).await.expect("migrate");
        TestDb {
            backend,
            url,
            db,
            _dir: dir,
            pg_name,
        }
    }

    /// A fresh, migrated SQLite database at `DIR/ingot.db` (a directory the test owns, such as a small mounted
    /// file system).
    pub async fn sqlite_in(dir: &std::path::Path) -> TestDb {
        let url = format!("sqlite://{}", dir.join("ingot.db").display());
        let db = Db::connect(&DatabaseUrl::parse(&url).expect("valid url"), &PoolOptions::default())
            .await
            .expect("connect");
        ingot::store::migrate::run(&db).await.expect("migrate");
        TestDb {
            backend: Backend::Sqlite,
            url,
            db,
            _dir: None,
            pg_name: None,
        }
    }

    /// SQL written with `$1` placeholders, for this backend.
    pub fn sql(&self, s: &str) -> String {
        match self.backend {
            Backend::Postgres => s.to_string(),
            Backend::Sqlite => s.replace('$', "?"),
        }
    }

    /// Runs a statement with text parameters.
    pub async fn exec(&self, sql: &str, params: &[&str]) -> usize {
        let sql = self.sql(sql);
        let run = async {
            Ok::<_, ingot::store::Error>(ingot::with_conn!(&self.db, write, |c| {
                let mut q = diesel::sql_query(sql).into_boxed();
                for p in params {
                    q = q.bind::<Text, _>(p.to_string());
                }
                q.execute(c).await?
            }))
        };
        run.await.expect("statement")
    }

    /// Runs a query returning one BIGINT column named `n`.
    pub async fn count(&self, sql: &str, params: &[&str]) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let sql = self.sql(sql);
        let run = async {
            Ok::<Vec<N>, ingot::store::Error>(ingot::with_conn!(&self.db, read, |c| {
                let mut q = diesel::sql_query(sql).into_boxed();
                for p in params {
                    q = q.bind::<Text, _>(p.to_string());
                }
                q.load(c).await?
            }))
        };
        let rows = run.await.expect("query");
        <[N]>::first(&rows).map(|r| r.n).expect("one row")
    }

    /// Inserts platform users (id, email, name).
    pub async fn insert_users(&self, users: &[(String, String)]) {
        for (id, email) in users {
            self.exec(
                "INSERT INTO users (id, email, name) VALUES ($1, $2, $3)",
                &[id, email, "Test User"],
            )
            .await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        let admin = admin_url();
        // Drop on a separate thread: this may run inside an async test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

#[test]
fn builds_database_urls() {
    assert_eq!(
        with_db_name("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_db_name("postgres://u@h/postgres?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_db_name("postgres://u@h", "x"), "postgres://u@h/x");
}
