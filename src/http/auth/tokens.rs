//! API tokens: `ingot_<id>.<secret>` — `id` (16 hex digits) finds the row, `secret` (64 hex digits, 256 random
//! bits) is checked against the stored SHA-256 in constant time. A fast hash is enough for a random 256-bit
//! secret (nothing to brute-force); passwords, which are not random, get argon2 ([`super::passwords`]).
//!
//! No timing difference between an unknown id and a wrong secret: an unknown id is compared against a dummy hash
//! with the same operations ([`verify`]), and both answer the same 401.

use super::identity::{Access, Identity, Principal};
use super::{AuthState, ct_eq, random_hex, sha256, sha256_hex};
use crate::store::auth::tokens::{self as store, TokenRow};
use crate::store::{Db, Result};
use std::time::Instant;

pub const PREFIX: &str = "ingot_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;
/// Compared against when the id is unknown: a hash like any other (of a secret nobody can present, since a
/// presented secret is 64 hex digits).
static DUMMY_SHA256_HEX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| sha256_hex("no token has this secret"));

/// A freshly generated token: `token` is shown once and never stored; `secret_sha256` is what the row keeps.
pub struct Generated {
    pub id: String,
    pub token: String,
    pub secret_sha256: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Generated {{ id: {:?}, token: *** }}", self.id)
    }
}

pub fn generate() -> Generated {
    let id = random_hex(ID_HEX / 2);
    let secret = random_hex(SECRET_HEX / 2);
    Generated {
        token: format!("{PREFIX}{id}.{secret}"),
        secret_sha256: sha256_hex(&secret),
        id,
    }
}

/// Splits a presented token into its id and secret; `None` when it does not have the shape.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('.')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
}

/// The identity a presented secret proves against the stored row (`None`: unknown id, wrong secret or revoked —
/// indistinguishable). The same work is done whether or not the row exists.
pub fn verify(secret: &str, stored: Option<&TokenRow>) -> Option<Identity> {
    // Hex against hex: nothing but the constant-time comparison depends on the stored value.
    let presented = sha256_hex(secret);
    let expected = stored.map_or(DUMMY_SHA256_HEX.as_str(), |r| r.secret_sha256.as_str());
    let equal = ct_eq(presented.as_bytes(), expected.as_bytes());
    match stored {
        Some(row) if equal && row.revoked_at.is_none() => Some(Identity {
            principal: Principal::Token { name: row.name.clone() },
            access: if row.read_only { Access::ReadOnly } else { Access::Full },
            csrf_token: None,
        }),
        _ => None,
    }
}

/// Checks a bearer token: the configured admin token first (by hash, in constant time), then the stored tokens.
/// Records the token's use, at most once a minute per token.
pub async fn authenticate(db: &Db, auth: &AuthState, bearer: &str) -> Result<Option<Identity>> {
    if let Some(configured) = &auth.config.admin_token_sha256
        && ct_eq(&sha256(bearer), configured)
    {
        return Ok(Some(Identity {
            principal: Principal::ConfiguredToken,
            access: Access::Full,
            csrf_token: None,
        }));
    }
    let Some((id, secret)) = parse(bearer) else {
        return Ok(None);
    };
    let row = store::by_id(db, id).await?;
    let identity = verify(secret, row.as_ref());
    if identity.is_some() && auth.should_touch(id, Instant::now()) {
        // Best effort: a failed write only loses a last-used time.
        if let Err(e) = store::touch(db, id, ingot_actors::time::now_ms()).await {
            tracing::warn!(error = %e, token_id = id, "could not record the token's last use");
        }
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(g: &Generated, revoked: bool) -> TokenRow {
        TokenRow {
            id: g.id.clone(),
            name: "ci".into(),
            secret_sha256: g.secret_sha256.clone(),
            read_only: false,
            created_at: 0,
            last_used_at: None,
            revoked_at: revoked.then_some(1),
        }
    }

    #[test]
    fn a_generated_token_parses_and_verifies_and_nothing_else_does() {
        let g = generate();
        let (id, secret) = parse(&g.token).expect("parses");
        assert_eq!(id, g.id);
        assert!(!g.secret_sha256.contains(secret) && !format!("{g:?}").contains(secret));
        assert_eq!(verify(secret, Some(&row(&g, false))).unwrap().who(), "token:ci");
        assert_eq!(verify(secret, Some(&row(&g, true))), None, "revoked");
        assert_eq!(verify(secret, None), None, "unknown id");
        let other = generate();
        assert_eq!(verify(parse(&other.token).unwrap().1, Some(&row(&g, false))), None);
        for bad in ["", "ingot_", "ingot_abc.def", "Bearer x", &g.token[..g.token.len() - 1]] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    /// An unknown id costs what a wrong secret costs: best-of-many batches of each, interleaved, within 1.5×.
    /// (Skipping the comparison for unknown ids makes them several times faster and fails this.)
    #[test]
    fn unknown_id_and_wrong_secret_take_the_same_time() {
        let g = generate();
        let stored = row(&g, false);
        let wrong = generate();
        let secret = parse(&wrong.token).unwrap().1;
        let time = |stored: Option<&TokenRow>| {
            let t = Instant::now();
            for _ in 0..2000 {
                std::hint::black_box(verify(std::hint::black_box(secret), stored));
            }
            t.elapsed()
        };
        let (mut unknown, mut mismatch) = (Duration::MAX, Duration::MAX);
        for _ in 0..40 {
            unknown = unknown.min(time(None));
            mismatch = mismatch.min(time(Some(&stored)));
        }
        let ratio = unknown.as_secs_f64() / mismatch.as_secs_f64();
        assert!(
            (0.67..1.5).contains(&ratio),
            "unknown {unknown:?} vs wrong secret {mismatch:?}"
        );
    }
}
