//! The tables of authentication (migration `2026-12-03-000201_auth`): API tokens ([`tokens`]), dashboard
//! operators ([`operators`]) and their sessions ([`sessions`]). Only hashes of secrets are stored. The HTTP side
//! (checking credentials, cookies, CSRF) is `src/http/auth/`.

pub mod operators;
pub mod sessions;
pub mod tokens;

use super::{Db, Result};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// The auth tables' `table!` declarations (kept with their module rather than in `store/schema.rs`).
pub mod schema {
    diesel::table! {
        /// API tokens: `ingot_<id>.<secret>`; `secret_sha256` is the hex SHA-256 of the secret part.
        api_tokens (id) {
            id -> Text,
            name -> Text,
            secret_sha256 -> Text,
            read_only -> Bool,
            created_at -> BigInt,
            last_used_at -> Nullable<BigInt>,
            revoked_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        /// Dashboard users; `password_hash` is an argon2id PHC string.
        operators (id) {
            id -> Text,
            name -> Text,
            password_hash -> Text,
            created_at -> BigInt,
        }
    }

    diesel::table! {
        /// Signed-in dashboard sessions; `id_sha256` is the hex SHA-256 of the cookie's value.
        operator_sessions (id_sha256) {
            id_sha256 -> Text,
            operator_id -> Text,
            created_at -> BigInt,
            expires_at -> BigInt,
        }
    }

    diesel::joinable!(operator_sessions -> operators (operator_id));
    diesel::allow_tables_to_appear_in_same_query!(api_tokens, operators, operator_sessions);
}

/// Whether any credential was ever created (a token, revoked or not, or an operator): the first start creates
/// one only when there is none.
pub async fn any_credential_ever(db: &Db) -> Result<bool> {
    use schema::{api_tokens as t, operators as o};
    crate::with_conn!(db, read, |c| {
        let tokens: i64 = t::table.count().get_result(c).await?;
        let operators: i64 = o::table.count().get_result(c).await?;
        Ok(tokens + operators > 0)
    })
}

/// Whether anyone can sign in: an unrevoked token or an operator.
pub async fn any_active_credential(db: &Db) -> Result<bool> {
    use schema::{api_tokens as t, operators as o};
    crate::with_conn!(db, read, |c| {
        let tokens: i64 = t::table.filter(t::revoked_at.is_null()).count().get_result(c).await?;
        let operators: i64 = o::table.count().get_result(c).await?;
        Ok(tokens + operators > 0)
    })
}
