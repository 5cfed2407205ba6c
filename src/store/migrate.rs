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
    migrate(db, Direction::Up).await
}

/// Reverts every applied migration, newest first, through its `down.sql`; returns the versions reverted.
pub async fn revert_all(db: &Db) -> Result<Vec<String>> {
    migrate(db, Direction::DownAll).await
}

/// Applies the oldest pending migration only. With [`revert_last`], the schema test walks every migration up and
/// down one at a time on both backends.
pub async fn run_next(db: &Db) -> Result<Vec<String>> {
    migrate(db, Direction::Next).await
}

/// Reverts the newest applied migration only.
pub async fn revert_last(db: &Db) -> Result<Vec<String>> {
    migrate(db, Direction::Last).await
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Next,
    Last,
    DownAll,
}

/// One direction through a backend's embedded tree.
fn apply<DB: diesel::backend::Backend>(
    harness: &mut impl MigrationHarness<DB>,
    source: EmbeddedMigrations,
    direction: Direction,
) -> std::result::Result<Vec<String>, String> {
    let versions = match direction {
        Direction::Up => harness.run_pending_migrations(source),
        Direction::Next => harness.run_next_migration(source).map(|v| vec![v]),
        Direction::Last => harness.revert_last_migration(source).map(|v| vec![v]),
        Direction::DownAll => harness.revert_all_migrations(source),
    };
    versions
        .map(|v| v.iter().map(|m| m.to_string()).collect())
        .map_err(|e| e.to_string())
}

async fn migrate(db: &Db, direction: Direction) -> Result<Vec<String>> {
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await.map_err(Error::pool)?;
            conn.spawn_blocking(move |c| {
                apply(c, SQLITE, direction).map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))
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
                let applied = apply(&mut conn, POSTGRES, direction).map_err(Error::Migration);
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
