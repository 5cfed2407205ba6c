//! Authentication, both backends: tokens (good, bad, unknown, revoked, read-only), dashboard sessions (login,
//! CSRF, logout), `INGOT_AUTH=off`, the first start's admin token, the `ingot token` / `ingot user` commands, and
//! secrets kept out of the logs and the database.

mod cli;
mod first_start;
mod sessions;
mod tokens;

use crate::support::TestDb;
use ingot::http::auth::tokens::generate;
use ingot::store::auth::tokens::{Created, NewToken, create};

/// Creates a token the way `ingot token create` does; returns the token.
pub async fn token(db: &TestDb, name: &str, read_only: bool) -> String {
    let g = generate();
    let new = NewToken {
        id: &g.id,
        name,
        secret_sha256: &g.secret_sha256,
        read_only,
        created_at: ingot_actors::time::now_ms(),
    };
    assert_eq!(create(&db.db, &new).await.expect("token stored"), Created::Yes);
    g.token
}

/// How many rows of `table` have `needle` in any of `columns` (concatenated).
pub async fn rows_containing(db: &TestDb, table: &str, columns: &str, needle: &str) -> i64 {
    db.count(
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE {columns} LIKE $1"),
        &[&format!("%{needle}%")],
    )
    .await
}
