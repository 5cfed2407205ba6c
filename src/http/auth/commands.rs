//! `ingot token create|list|revoke` and `ingot user create`: manage credentials directly in the configured
//! database (migrations applied first). A new token or generated password is printed once, on stdout; only its
//! hash is stored.

use super::{passwords, tokens};
use crate::config::Config;
use crate::store::auth::operators::{self, NewOperator};
use crate::store::auth::tokens::{self as store, Created, NewToken};
use crate::store::{Db, migrate};
use anyhow::Context;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it once (only its hash is stored).
    Create {
        /// A unique name (letters, digits, `.`, `_`, `-`, `@`).
        #[arg(long)]
        name: String,
        /// The token may read but not act (POST answers 403).
        #[arg(long)]
        read_only: bool,
    },
    /// List tokens: name, access, created, last used, revoked.
    List,
    /// Revoke the token with this name (its requests answer 401 from now on).
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a dashboard user. The password is read from stdin (one line) when stdin is not a terminal;
    /// otherwise one is generated and printed once.
    Create {
        #[arg(long)]
        name: String,
    },
}

/// Names of tokens and users: 1–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    anyhow::ensure!(
        ok,
        "invalid name {name:?}: use 1-64 letters, digits, '.', '_', '-' or '@'"
    );
    Ok(())
}

async fn open(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, &config.pool)
        .await
        .context("database")?;
    migrate::run(&db).await.context("migrations")?;
    Ok(db)
}

fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".into(), ingot_actors::time::rfc3339)
}

pub fn run_token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    actix_rt::System::new().block_on(async move {
        let db = open(&config).await?;
        match command {
            TokenCommand::Create { name, read_only } => {
                check_name(&name)?;
                let g = tokens::generate();
                let new = NewToken {
                    id: &g.id,
                    name: &name,
                    secret_sha256: &g.secret_sha256,
                    read_only,
                    created_at: ingot_actors::time::now_ms(),
                };
                anyhow::ensure!(
                    store::create(&db, &new).await? == Created::Yes,
                    "a token named {name:?} already exists (revoked tokens keep their names)"
                );
                eprintln!(
                    "created {} token {name:?}; it is shown once, only its hash is stored:",
                    if read_only { "read-only" } else { "full-access" }
                );
                println!("{}", g.token);
            }
            TokenCommand::List => {
                println!(
                    "{:<24} {:<10} {:<26} {:<26} REVOKED",
                    "NAME", "ACCESS", "CREATED", "LAST USED"
                );
                for t in store::list(&db).await? {
                    println!(
                        "{:<24} {:<10} {:<26} {:<26} {}",
                        t.name,
                        if t.read_only { "read-only" } else { "full" },
                        when(Some(t.created_at)),
                        when(t.last_used_at),
                        when(t.revoked_at)
                    );
                }
            }
            TokenCommand::Revoke { name } => {
                anyhow::ensure!(
                    store::revoke(&db, &name, ingot_actors::time::now_ms()).await?,
                    "no unrevoked token named {name:?}"
                );
                println!("revoked token {name:?}");
            }
        }
        Ok(())
    })
}

pub fn run_user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create { name } = command;
    check_name(&name)?;
    let (password, generated) = if std::io::stdin().is_terminal() {
        (passwords::generate(), true)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        anyhow::ensure!(
            line.chars().count() >= passwords::MIN_LENGTH,
            "the password from stdin must have at least {} characters",
            passwords::MIN_LENGTH
        );
        (line, false)
    };
    let hash = passwords::hash(&password).map_err(anyhow::Error::msg)?;
    actix_rt::System::new().block_on(async move {
        let db = open(&config).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let created = operators::create(
            &db,
            &NewOperator {
                id: &id,
                name: &name,
                password_hash: &hash,
                created_at: ingot_actors::time::now_ms(),
            },
        )
        .await?;
        anyhow::ensure!(created, "a user named {name:?} already exists");
        if generated {
            eprintln!("created user {name:?}; the generated password is shown once:");
            println!("{password}");
        } else {
            println!("created user {name:?}");
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_short_and_plain() {
        for ok in ["admin", "ci-bot", "ops@example.com", "a.b_c"] {
            assert!(super::check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "x\n", "<script>", &"a".repeat(65)] {
            assert!(super::check_name(bad).is_err(), "{bad:?}");
        }
    }
}
