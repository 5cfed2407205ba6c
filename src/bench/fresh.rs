//! A fresh, empty database per backend, removed afterwards: an SQLite file in a new temp dir, or a new database
//! on the PostgreSQL server named by an administration URL.

use crate::store::DatabaseUrl;
use anyhow::Context;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        })
    }
}

enum Cleanup {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

pub struct FreshDb {
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

impl FreshDb {
    pub async fn create(kind: Kind, pg_admin_url: &str) -> anyhow::Result<FreshDb> {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        match kind {
            Kind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("ingot-bench-{unique}"));
                std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(FreshDb {
                    url: DatabaseUrl::Sqlite(dir.join("ingot.db")),
                    cleanup: Cleanup::Dir(dir),
                })
            }
            Kind::Postgres => {
                let admin = DatabaseUrl::parse(pg_admin_url)
                    .ok()
                    .filter(|u| matches!(u, DatabaseUrl::Postgres(_)))
                    .with_context(|| format!("--pg-url must be a postgres:// URL, got {pg_admin_url:?}"))?;
                let name = format!("ingot_bench_{unique}");
                let mut url = reqwest::Url::parse(pg_admin_url).context("--pg-url is not a URL")?;
                url.set_path(&format!("/{name}"));
                let mut conn = admin_connection(pg_admin_url, &admin).await?;
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("CREATE DATABASE {name} on {}", admin.redacted()))?;
                Ok(FreshDb {
                    url: DatabaseUrl::Postgres(url.to_string()),
                    cleanup: Cleanup::Database {
                        admin_url: pg_admin_url.to_string(),
                        name,
                    },
                })
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self.url {
            DatabaseUrl::Sqlite(_) => Kind::Sqlite,
            DatabaseUrl::Postgres(_) => Kind::Postgres,
        }
    }

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        match &self.cleanup {
            Cleanup::Database { name, .. } => Some(name),
            Cleanup::Dir(_) => None,
        }
    }

    /// A connection to the administration database (a PostgreSQL fresh database only): what it runs does not
    /// count in the fresh database's statistics.
    pub async fn admin(&self) -> anyhow::Result<AsyncPgConnection> {
        match &self.cleanup {
            Cleanup::Database { admin_url, .. } => {
                let parsed = DatabaseUrl::parse(admin_url).map_err(anyhow::Error::msg)?;
                admin_connection(admin_url, &parsed).await
            }
            Cleanup::Dir(_) => anyhow::bail!("an SQLite fresh database has no administration database"),
        }
    }

    /// The URL as the daemon's `database_url` setting spells it.
    pub fn config_url(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(u) => u.clone(),
        }
    }

    /// What [`FreshDb::remove`] removes, for messages.
    pub fn describe(&self) -> String {
        match &self.cleanup {
            Cleanup::Dir(dir) => dir.display().to_string(),
            Cleanup::Database { name, .. } => format!("database {name}"),
        }
    }

    pub async fn remove(self) -> anyhow::Result<()> {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))
            }
            Cleanup::Database { admin_url, name } => {
                let admin = DatabaseUrl::Postgres(admin_url.clone());
                let mut conn = admin_connection(&admin_url, &admin).await?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("DROP DATABASE {name}"))?;
                Ok(())
            }
        }
    }
}

async fn admin_connection(url: &str, parsed: &DatabaseUrl) -> anyhow::Result<AsyncPgConnection> {
    crate::store::db::pg_connect(url).await.with_context(|| {
        format!(
            "cannot connect to PostgreSQL at {} (set --pg-url or INGOT_TEST_DATABASE_URL to an admin URL, \
             or use --backend sqlite)",
            parsed.redacted()
        )
    })
}
