//! Both backends end with the same tables and columns, from migration trees with the same versions.

use crate::both;
use crate::support::{Backend, TestDb};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use std::collections::BTreeSet;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

async fn columns(db: &TestDb) -> BTreeSet<(String, String)> {
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = 'public'"
        }
    };
    let load = async {
        Ok::<Vec<Column>, ingot::store::Error>(ingot::with_conn!(&db.db, read, |c| diesel::sql_query(sql)
            .load(c)
            .await?))
    };
    let rows = load.await.expect("introspect");
    rows.into_iter().map(|c| (c.table_name, c.column_name)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_tables_and_columns() {
    let sqlite = columns(&TestDb::new(Backend::Sqlite).await).await;
    let postgres = columns(&TestDb::new(Backend::Postgres).await).await;
    assert!(
        sqlite.contains(&("runs".into(), "lease_token".into())),
        "introspection works"
    );
    assert!(sqlite.len() > 80, "{} columns", sqlite.len());
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_pg: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_pg:?}"
    );
}

#[test]
fn migration_trees_have_the_same_versions() {
    let list = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list("sqlite"), list("postgres"));
    assert!(list("sqlite").len() >= 2);
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Every index and table name (the columns are compared by [`columns`]).
async fn objects(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT type || ' ' || name AS name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger', 'view') \
             AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT 'index ' || indexname::text AS name FROM pg_indexes WHERE schemaname = 'public' \
             UNION ALL SELECT 'table ' || tablename::text FROM pg_tables WHERE schemaname = 'public' \
             UNION ALL SELECT 'trigger ' || tgname::text FROM pg_trigger WHERE NOT tgisinternal \
             UNION ALL SELECT 'view ' || viewname::text FROM pg_views WHERE schemaname = 'public' \
             UNION ALL SELECT 'type ' || typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
               WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')"
        }
    };
    let load = async {
        Ok::<Vec<Name>, ingot::store::Error>(ingot::with_conn!(&db.db, read, |c| diesel::sql_query(sql)
            .load(c)
            .await?))
    };
    load.await.expect("introspect").into_iter().map(|n| n.name).collect()
}

/// The tables, indexes and columns of a database, compared before and after a migration.
async fn schema(db: &TestDb) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    (objects(db).await, columns(db).await)
}

/// Every migration's `down.sql` undoes exactly its `up.sql`: walking the migrations up one at a time from an empty
/// database and then down one at a time, each `down.sql` brings back the schema seen before its `up.sql` (so an
/// index its `down.sql` forgets is caught even where a later table drop would hide it), and the empty end state
/// holds nothing but Diesel's bookkeeping; applying them all again gives the first schema.
async fn every_migration_runs_down_and_up_again(backend: Backend) {
    let db = TestDb::new(backend).await;
    let migrated = schema(&db).await;
    assert!(migrated.0.contains("table runs"), "{:?}", migrated.0);
    let versions = std::fs::read_dir(format!("{}/migrations/sqlite", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .count();

    let reverted = ingot::store::migrate::revert_all(&db.db)
        .await
        .expect("every down.sql runs");
    assert_eq!(reverted.len(), versions, "every migration reverted: {reverted:?}");
    let empty = schema(&db).await;
    let left: Vec<&String> = empty
        .0
        .iter()
        .filter(|o| !o.contains("__diesel_schema_migrations"))
        .collect();
    assert!(left.is_empty(), "down.sql left these behind: {left:?}");

    // Up one at a time, remembering the schema before each.
    let mut before = Vec::new();
    for _ in 0..versions {
        before.push(schema(&db).await);
        let applied = ingot::store::migrate::run_next(&db.db).await.expect("up.sql runs");
        assert_eq!(applied.len(), 1);
    }
    assert_eq!(
        schema(&db).await,
        migrated,
        "the schema after every up.sql one at a time"
    );
    // Down one at a time: each down.sql restores the schema its up.sql started from.
    for expected in before.iter().rev() {
        let reverted = ingot::store::migrate::revert_last(&db.db).await.expect("down.sql runs");
        assert_eq!(&schema(&db).await, expected, "after reverting {reverted:?}");
    }
    let applied = ingot::store::migrate::run(&db.db)
        .await
        .expect("every up.sql runs again");
    assert_eq!(applied.len(), versions);
    assert_eq!(schema(&db).await, migrated, "the schema after down and up");
}
both!(migrations_down_and_up, every_migration_runs_down_and_up_again);
