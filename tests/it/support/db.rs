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

/// The migrated PostgreSQL database that test databases are copied from (`CREATE DATABASE … TEMPLATE`): migrating
/// each test's database was most of its set-up. Named after a hash of the migrations, so changing one makes a new
/// template (and the older ones are dropped); made once, under an advisory lock, by the first test process that
/// needs it, and marked ready only once migrated (a half-made one is made again).
async fn pg_template(admin: &str) -> &'static str {
    static NAME: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    NAME.get_or_init(|| async {
        use sha2::Digest;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut migrations: Vec<_> = std::fs::read_dir(&dir)
            .expect("migrations/postgres")
            .map(|e| e.expect("migration").path())
            .collect();
        migrations.sort();
        let mut hash = sha2::Sha256::new();
        for m in &migrations {
            hash.update(m.file_name().unwrap().as_encoded_bytes());
            for file in ["up.sql", "down.sql"] {
                hash.update(std::fs::read(m.join(file)).unwrap_or_default());
            }
        }
        let name = format!("ingot_tmpl_{}", &hex::encode(hash.finalize())[..16]);
        let mut conn = AsyncPgConnection::establish(admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required for the test suite and is unreachable at {admin}: {e}. Start it (see README) or set INGOT_TEST_DATABASE_URL.")
        });
        let run = |sql: String| diesel::sql_query(sql);
        run("SELECT pg_advisory_lock(74210)".into()).execute(&mut conn).await.expect("lock");
        #[derive(QueryableByName)]
        struct Template {
            #[diesel(sql_type = Text)]
            datname: String,
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            state: Option<String>,
        }
        let found: Vec<Template> = run(
            "SELECT datname, shobj_description(oid, 'pg_database') AS state FROM pg_database \
             WHERE datname LIKE 'ingot\\_tmpl\\_%'"
                .into(),
        )
        .load(&mut conn)
        .await
        .expect("templates");
        let ready = found.iter().any(|d| d.datname == name && d.state.as_deref() == Some("ready"));
        if !ready {
            for stale in &found {
                run(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", stale.datname))
                    .execute(&mut conn)
                    .await
                    .expect("drop an older template");
            }
            run(format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create the template");
            let parsed = DatabaseUrl::parse(&with_db_name(admin, &name)).expect("valid url");
            let db = Db::connect(&parsed, &PoolOptions::default()).await.expect("connect");
            ingot::store::migrate::run(&db).await.expect("migrate the template");
            drop(db);
            run(format!("COMMENT ON DATABASE {name} IS 'ready'")).execute(&mut conn).await.expect("mark it ready");
        }
        run("SELECT pg_advisory_unlock(74210)".into()).execute(&mut conn).await.expect("unlock");
        name
    })
    .await
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
                let template = pg_template(&admin).await;
                diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
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

    /// PostgreSQL: the distinct transactions (`xmin`, as text in a column `x`) that wrote the rows `sql` selects,
    /// its one parameter `run_id`: rows written by one transaction have one.
    pub async fn writers(&self, sql: &str, run_id: &str) -> Vec<String> {
        #[derive(QueryableByName)]
        struct Xmin {
            #[diesel(sql_type = Text)]
            x: String,
        }
        let Db::Postgres { pool, .. } = &self.db else {
            panic!("xmin is PostgreSQL's")
        };
        let mut conn = pool.get().await.expect("connection");
        let rows: Vec<Xmin> = diesel::sql_query(sql)
            .bind::<Text, _>(run_id)
            .load(&mut conn)
            .await
            .expect("xmin");
        let mut xs: Vec<String> = rows.into_iter().map(|r| r.x).collect();
        xs.sort();
        xs.dedup();
        xs
    }

    /// Asserts that one transaction (see [`TestDb::writers`]) wrote the step attempts named `names` of `run_id` —
    /// read steps in a row, which have no commit of their own, are recorded by the next write. PostgreSQL only
    /// (`xmin`); on SQLite it checks nothing.
    pub async fn assert_recorded_together(&self, run_id: &str, names: &[&str]) {
        if !matches!(self.db, Db::Postgres { .. }) {
            return;
        }
        let list = names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT xmin::text AS x FROM steps WHERE run_id = $1 AND name IN ({list})");
        let writers = self.writers(&sql, run_id).await;
        assert_eq!(writers.len(), 1, "one transaction recorded {names:?}: {writers:?}");
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
