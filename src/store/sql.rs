//! Hand-written SQL with typed parameters, written once for both backends: `$1`-style placeholders (rewritten to
//! `?1` for SQLite) and [`Param`]s bound by type. Used where the Diesel DSL cannot express a statement on both
//! backends (multi-row `VALUES`, `UPDATE … FROM`, guarded `INSERT … SELECT`).

use super::db::Backend;
use diesel::backend::Backend as DieselBackend;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
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

    /// Appends `$n, $n+1, …`, one placeholder per parameter (the inside of an `IN (…)` list).
    pub fn push_list(&mut self, items: impl IntoIterator<Item = Param>) {
        let marks: Vec<String> = items
            .into_iter()
            .map(|p| {
                self.params.push(p);
                format!("${}", self.params.len())
            })
            .collect();
        self.sql.push_str(&marks.join(", "));
    }

    pub fn push_sql(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    /// The query for a backend, parameters bound.
    pub fn query<DB>(&self, backend: Backend) -> BoxedSqlQuery<'static, DB, SqlQuery>
    where
        DB: DieselBackend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Integer> + HasSqlType<Bool>,
        String: ToSql<Text, DB>,
        i64: ToSql<BigInt, DB>,
        i32: ToSql<Integer, DB>,
        bool: ToSql<Bool, DB>,
        Option<String>: ToSql<Nullable<Text>, DB>,
        Option<i64>: ToSql<Nullable<BigInt>, DB>,
    {
        let mut q = diesel::sql_query(super::sql_for(backend, &self.sql)).into_boxed::<DB>();
        for p in &self.params {
            q = match p.clone() {
                Param::Text(v) => q.bind::<Text, _>(v),
                Param::NullText(v) => q.bind::<Nullable<Text>, _>(v),
                Param::BigInt(v) => q.bind::<BigInt, _>(v),
                Param::NullBigInt(v) => q.bind::<Nullable<BigInt>, _>(v),
                Param::Int(v) => q.bind::<Integer, _>(v),
                Param::Bool(v) => q.bind::<Bool, _>(v),
            };
        }
        q
    }
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
                Ok(s.query::<$db>($backend).execute(self).await?)
            }
            async fn rows<T>(&mut self, s: &Stmt) -> super::error::Result<Vec<T>>
            where
                T: diesel::QueryableByName<diesel::sqlite::Sqlite>
                    + diesel::QueryableByName<diesel::pg::Pg>
                    + Send
                    + 'static,
            {
                use diesel_async::RunQueryDsl;
                Ok(s.query::<$db>($backend).load::<T>(self).await?)
            }
        }
    };
}
impl_tx!(super::db::SqliteConn, diesel::sqlite::Sqlite, Backend::Sqlite);
impl_tx!(diesel_async::AsyncPgConnection, diesel::pg::Pg, Backend::Postgres);

#[cfg(test)]
mod tests {
    use super::*;

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
            crate::store::sql_for(Backend::Sqlite, &s.sql),
            "INSERT INTO t (a, b) VALUES (?1, ?2), (?3, ?4) RETURNING a"
        );
    }
}
