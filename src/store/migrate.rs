//! Embedded migrations, one tree per backend with identical version names (`migrations/sqlite`,
//! `migrations/postgres`). Applied at start and by `ingot migrate`, on a blocking thread (the diesel-async
//! migration harness cannot run inside actix's current-thread runtime).

use super::db::Db;
use super::error::{Error, Result};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock key held while migrating.
const MIGRATION_LOCK: i64 = 0x1_6_0_7;

/// Applies pending migrations; returns the versions applied.
pub async fn run(db: &Db) -> Result<Vec<String>> {
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await.map_err(Error::pool)?;
            conn.spawn_blocking(|c| {
                c.run_pending_migrations(SQLITE)
                    .map(|v| v.iter().map(|m| m.to_string()).collect())
                    .map_err(diesel::result::Error::QueryBuilderError)
            })
            .await
            .map_err(|e| Error::Migration(e.to_string()))
        }
        Db::Postgres { url, .. } => {
            let super::DatabaseUrl::Postgres(url) = url.clone() else {
                unreachable!()
            };
            tokio::task::spawn_blocking(move || {
                // Connected as the pools connect (TLS when the URL asks for it), then driven synchronously.
                let conn = tokio::runtime::Handle::current()
                    .block_on(super::db::pg_connect(&url))
                    .map_err(|e| Error::Connect(e.to_string()))?;
                let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
                // Several daemons may start together: one migrates, the others wait, then find nothing to do.
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")),
                    &mut conn,
                )
                .map_err(|e| Error::Migration(format!("cannot take the migration lock: {e}")))?;
                let applied = conn
                    .run_pending_migrations(POSTGRES)
                    .map(|v| v.iter().map(|m| m.to_string()).collect())
                    .map_err(|e| Error::Migration(e.to_string()));
                // Unlock explicitly: the session may outlive this function while its runtime is busy.
                let unlocked = diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")),
                    &mut conn,
                );
                let applied = applied?;
                unlocked.map_err(|e| Error::Migration(format!("cannot release the migration lock: {e}")))?;
                Ok(applied)
            })
            .await
            .map_err(|e| Error::Migration(e.to_string()))?
        }
    }
}
