//! Hand-written SQL with typed parameters, written once for both backends: `$1`-style placeholders (rewritten to
//! `?1` for SQLite) and [`Param`]s bound by type. Used where the Diesel DSL cannot express a statement on both
//! backends (multi-row `VALUES`, `UPDATE … FROM`, guarded `INSERT … SELECT`).

use super::db::Backend;
use diesel::backend::Backend as DieselBackend;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Integer, Nullable, Text};
use ingot_actors::run::state::RunEvent;

#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    NullText(Option<String>),
    BigInt(i64),
    NullBigInt(Option<i64>),
    Int(i32),
    Bool(bool),
}

/// A statement and its parameters.
#[derive(Debug, Clone, Default)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Param>,
    /// The lifecycle edges whose target this statement writes into `runs.status`, recorded by the one door that
    /// may write it (`runs::status`); empty for every other statement.
    pub edges: Vec<RunEvent>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>) -> Stmt {
        Stmt {
            sql: sql.into(),
            params: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// The number the next placeholder gets.
    pub fn next_placeholder(&self) -> usize {
        self.params.len() + 1
    }

    /// Appends `(…), (…)` with one placeholder per parameter of each row, numbered after the ones already bound.
    pub fn push_values(&mut self, rows: impl IntoIterator<Item = Vec<Param>>) {
        let mut groups = Vec::new();
        for row in rows {
            let start = self.next_placeholder();
            let marks: Vec<String> = (start..start + row.len()).map(|i| format!("${i}")).collect();
            groups.push(format!("({})", marks.join(", ")));
            self.params.extend(row);
        }
        self.sql.push_str(&groups.join(", "));
    }

    /// Binds `p` as the next parameter and returns its placeholder (`$n`), for the caller to place in the text.
    pub fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    /// Appends `$n, $n+1, …`, one placeholder per parameter (the inside of an `IN (…)` list).
    pub fn push_list(&mut self, items: impl IntoIterator<Item = Param>) {
        let marks: Vec<String> = items.into_iter().map(|p| self.bind(p)).collect();
        self.sql.push_str(&marks.join(", "));
    }

    pub fn push_sql(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// The query, parameters bound where their placeholders stand; a prepared statement the connection keeps
    /// when [`cache`] admits the text (see [`Bound`]).
    pub fn query<DB>(&self) -> Bound<'_, DB> {
        self.query_in(&cache::PROCESS)
    }

    /// [`Stmt::query`], admitted to the cache by `texts` (a test's own count instead of the process's).
    pub fn query_in<DB>(&self, texts: &cache::Texts) -> Bound<'_, DB> {
        Bound {
            sql: &self.sql,
            params: &self.params,
            cache: texts.admits(&self.sql, self.params.len()),
            backend: std::marker::PhantomData,
        }
    }
}

/// A [`Stmt`] as a Diesel query. Each `$n` placeholder becomes a bind parameter in place (`$k` on PostgreSQL, `?`
/// on SQLite), so the statement can be prepared once per connection and kept: `diesel::sql_query` marks every
/// statement as never to be cached, and preparing (parsing, planning) each statement again was a third of
/// SQLite's time and a share of PostgreSQL's. Diesel's cache has no bound of its own; [`cache::Texts::admits`]
/// gives it one.
pub struct Bound<'a, DB> {
    sql: &'a str,
    params: &'a [Param],
    cache: bool,
    backend: std::marker::PhantomData<DB>,
}

impl<DB> diesel::query_builder::QueryId for Bound<'_, DB> {
    type QueryId = ();
    // The text varies at run time: Diesel keys its cache by the text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> diesel::query_builder::Query for Bound<'_, DB> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<DB, Conn> diesel::RunQueryDsl<Conn> for Bound<'_, DB> {}

impl<DB> diesel::query_builder::QueryFragment<DB> for Bound<'_, DB>
where
    DB: DieselBackend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Integer> + HasSqlType<Bool>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    i32: ToSql<Integer, DB>,
    bool: ToSql<Bool, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        if !self.cache {
            out.unsafe_to_cache_prepared();
        }
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[at + 1..at + 1 + digits].parse().map_err(|_| misplaced(self.sql))?;
            match n
                .checked_sub(1)
                .and_then(|i| self.params.get(i))
                .ok_or_else(|| misplaced(self.sql))?
            {
                Param::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Param::NullText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Param::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Param::NullBigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Param::Int(v) => out.push_bind_param::<Integer, _>(v)?,
                Param::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// A `$` that is not `$n` with `1 <= n <= parameters`: a bug in the statement's code, refused before it is sent.
fn misplaced(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        format!("a `$` that is not a bound parameter's placeholder in: {sql}").into(),
    )
}

/// Which statement texts the connections may keep prepared. A text is admitted while fewer than [`cache::TEXTS`]
/// texts have been, and only with at most [`cache::PARAMS`] parameters: first come, first kept — the hot path's
/// statements run within a daemon's first seconds — and no text built from data, nor a long batch's, can grow the
/// connections' caches without bound. Reaching the bound is logged once (a warning).
pub mod cache {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::{LazyLock, Mutex};

    /// The most statement texts a connection keeps prepared.
    pub const TEXTS: usize = 512;
    /// The most parameters of a statement kept prepared (a multi-row batch beyond it is prepared each time).
    pub const PARAMS: usize = 128;

    /// The texts admitted so far (their hashes).
    pub struct Texts {
        hasher: RandomState,
        admitted: Mutex<HashSet<u64>>,
        limit: usize,
    }

    impl Texts {
        pub fn new(limit: usize) -> Texts {
            Texts {
                hasher: RandomState::new(),
                admitted: Mutex::new(HashSet::new()),
                limit,
            }
        }

        /// Whether the text may be kept prepared (admitting it if there is room).
        pub fn admits(&self, sql: &str, params: usize) -> bool {
            debug_assert!(
                inline_value(sql).is_none(),
                "a value written into a statement's text (bind it as a parameter): {sql}"
            );
            if params > PARAMS {
                return false;
            }
            let hash = self.hasher.hash_one(sql);
            let mut admitted = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
            if admitted.contains(&hash) {
                return true;
            }
            if admitted.len() < self.limit {
                admitted.insert(hash);
                if admitted.len() == self.limit {
                    tracing::warn!(
                        limit = self.limit,
                        "prepared statement cache full: statement texts not yet kept are prepared each time they run"
                    );
                }
                return true;
            }
            false
        }
    }

    /// A number of ten digits or more written into the text (a timestamp, an id), which would make each run of
    /// the statement a new text: the tests' debug builds refuse it.
    pub fn inline_value(sql: &str) -> Option<&str> {
        let bytes = sql.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 10 && (start == 0 || bytes[start - 1] != b'$') {
                return Some(&sql[start..i]);
            }
            i = i.max(start + 1);
        }
        None
    }

    /// The process's count: every connection's cache holds at most these texts.
    pub(super) static PROCESS: LazyLock<Texts> = LazyLock::new(|| Texts::new(TEXTS));
}

/// A connection (usually inside a transaction) that runs [`Stmt`]s, whichever the backend: lets one function body
/// serve SQLite and PostgreSQL (e.g. the intake, called by the HTTP API and by runs that emit events).
#[async_trait::async_trait]
pub trait Tx: Send {
    fn backend(&self) -> Backend;
    async fn exec(&mut self, s: &Stmt) -> super::error::Result<usize>;
    async fn rows<T>(&mut self, s: &Stmt) -> super::error::Result<Vec<T>>
    where
        T: diesel::QueryableByName<diesel::sqlite::Sqlite> + diesel::QueryableByName<diesel::pg::Pg> + Send + 'static;
}

macro_rules! impl_tx {
    ($conn:ty, $db:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl Tx for $conn {
            fn backend(&self) -> Backend {
                $backend
            }
            async fn exec(&mut self, s: &Stmt) -> super::error::Result<usize> {
                use diesel_async::RunQueryDsl;
                Ok(s.query::<$db>().execute(self).await?)
            }
            async fn rows<T>(&mut self, s: &Stmt) -> super::error::Result<Vec<T>>
            where
                T: diesel::QueryableByName<diesel::sqlite::Sqlite>
                    + diesel::QueryableByName<diesel::pg::Pg>
                    + Send
                    + 'static,
            {
                use diesel_async::RunQueryDsl;
                Ok(s.query::<$db>().load::<T>(self).await?)
            }
        }
    };
}
impl_tx!(super::db::SqliteConn, diesel::sqlite::Sqlite, Backend::Sqlite);
impl_tx!(diesel_async::AsyncPgConnection, diesel::pg::Pg, Backend::Postgres);

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::pg::{Pg, PgQueryBuilder};
    use diesel::query_builder::QueryFragment;
    use diesel::sqlite::{Sqlite, SqliteQueryBuilder};

    #[test]
    fn numbers_values_after_existing_parameters() {
        let mut s = Stmt::new("INSERT INTO t (a, b) VALUES ");
        s.push_values([
            vec![Param::Int(1), Param::Text("x".into())],
            vec![Param::Int(2), Param::Text("y".into())],
        ]);
        s.push_sql(" RETURNING a");
        assert_eq!(s.sql, "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING a");
        assert_eq!(s.params.len(), 4);
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&s.query::<Sqlite>()).to_string(),
            r#"INSERT INTO t (a, b) VALUES (?, ?), (?, ?) RETURNING a -- binds: [1, "x", 2, "y"]"#
        );
    }

    #[test]
    fn each_placeholder_binds_its_own_parameter_wherever_it_stands() {
        let mut s = Stmt::new("SELECT $2 AS a, $1 AS b FROM t WHERE c = $2 AND d = $10");
        s.params = (1..=10).map(|i| Param::BigInt(i * 100)).collect();
        assert_eq!(
            diesel::debug_query::<Pg, _>(&s.query::<Pg>()).to_string(),
            "SELECT $1 AS a, $2 AS b FROM t WHERE c = $3 AND d = $4 -- binds: [200, 100, 200, 1000]"
        );
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&s.query::<Sqlite>()).to_string(),
            "SELECT ? AS a, ? AS b FROM t WHERE c = ? AND d = ? -- binds: [200, 100, 200, 1000]"
        );
    }

    #[test]
    fn a_dollar_that_is_no_parameter_is_refused_before_it_is_sent() {
        for sql in ["SELECT $", "SELECT '$.a'", "SELECT $0", "SELECT $3"] {
            let mut s = Stmt::new(sql);
            s.params = vec![Param::Int(1), Param::Int(2)];
            let e = s
                .query::<Sqlite>()
                .to_sql(&mut SqliteQueryBuilder::new(), &Sqlite)
                .unwrap_err();
            assert!(e.to_string().contains("placeholder"), "{sql}: {e}");
            assert!(
                s.query::<Pg>().to_sql(&mut PgQueryBuilder::default(), &Pg).is_err(),
                "{sql}"
            );
        }
    }

    #[test]
    fn the_cache_admits_a_bounded_number_of_short_texts() {
        let texts = cache::Texts::new(3);
        assert!(
            !texts.admits("SELECT many", cache::PARAMS + 1),
            "a long batch is prepared each time"
        );
        for t in ["a", "b", "c"] {
            assert!(texts.admits(t, 1), "{t}");
        }
        assert!(!texts.admits("d", 1), "the fourth text finds no room");
        assert!(texts.admits("a", 1), "an admitted text stays admitted");
        assert!(!texts.admits("d", 1));
    }

    #[test]
    fn a_value_written_into_the_text_is_found() {
        assert_eq!(
            cache::inline_value("SELECT 1 WHERE at <= 1764806400000"),
            Some("1764806400000")
        );
        assert_eq!(
            cache::inline_value("WHERE expires_at <= excluded.expires_at - 86400000 LIMIT 500"),
            None
        );
        assert_eq!(cache::inline_value("VALUES ($1, $2), ($1234567890, $3)"), None);
    }

    #[test]
    fn a_statement_is_kept_prepared_unless_the_cache_refuses_it() {
        let mut short = Stmt::new("SELECT 1 AS one WHERE $1 = 'a_statement_is_kept_prepared'");
        short.params.push(Param::Text("x".into()));
        assert!(short.query::<Sqlite>().is_safe_to_cache_prepared(&Sqlite).unwrap());
        let mut long = Stmt::new("SELECT 1 AS one WHERE 1 IN (");
        long.push_list((0..=cache::PARAMS as i64).map(Param::BigInt));
        long.push_sql(")");
        assert!(!long.query::<Sqlite>().is_safe_to_cache_prepared(&Sqlite).unwrap());
        assert!(!long.query::<Pg>().is_safe_to_cache_prepared(&Pg).unwrap());
    }
}
