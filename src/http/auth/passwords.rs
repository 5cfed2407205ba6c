//! Dashboard passwords: argon2id (the RustCrypto `argon2` crate, default parameters: 19 MiB, 2 passes) in PHC
//! strings. Hashing and checking are CPU-heavy, so callers on an async thread use [`verify_off_thread`]. A name
//! that does not exist is checked against a dummy hash, so both failures take the same time.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// The shortest password `ingot user create` accepts.
pub const MIN_LENGTH: usize = 12;

/// An argon2id PHC string for `password`, with a random salt.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checked when the name is unknown (a hash of a random password nobody knows).
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash(&super::random_hex(16)).expect("argon2 hashes with default parameters"));

/// Whether `password` matches the stored PHC string (`None`: no such user; the dummy is checked instead).
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let phc = stored.unwrap_or(DUMMY.as_str());
    let ok = PasswordHash::new(phc)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    ok && stored.is_some()
}

/// [`verify`] on the blocking pool (never on an HTTP worker's or an actor's thread).
pub async fn verify_off_thread(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

/// A generated password: 128 random bits as 32 hex digits.
pub fn generate() -> String {
    super::random_hex(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_hide_the_password() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("wrong horse battery", Some(&h)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("x", Some("not a phc string")));
    }
}
