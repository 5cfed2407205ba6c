//! Both backends end with the same tables and columns, from migration trees with the same versions.

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
