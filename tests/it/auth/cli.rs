//! `ingot token create|list|revoke` and `ingot user create` against a real database, then the created credentials
//! against the daemon.

use super::rows_containing;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::process::{base_env, run_to_end};
use crate::support::{Api, Backend, TestDb};
use std::io::Write;
use std::process::{Command, Stdio};

fn ingot(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = run_to_end(args, &base_env(&db.url));
    (status.success(), out, err)
}

/// `ingot user create --name NAME` with `stdin` piped in.
fn user_create(db: &TestDb, name: &str, stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingot"))
        .args(["user", "create", "--name", name])
        .env_clear()
        .envs(base_env(&db.url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

both!(the_token_and_user_commands_manage_credentials, commands_impl);
async fn commands_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (ok, out, err) = ingot(&db, &["token", "create", "--name", "grafana", "--read-only"]);
    assert!(ok, "{err}");
    assert!(err.contains("read-only") && err.contains("shown once"), "{err}");
    let reader = out.trim().to_string();
    assert!(ingot::http::auth::tokens::parse(&reader).is_some(), "{out}");
    let (ok, out, _) = ingot(&db, &["token", "create", "--name", "deploy"]);
    assert!(ok);
    let writer = out.trim().to_string();
    // Names are unique; bad names are refused; nothing is stored for either.
    let (ok, _, err) = ingot(&db, &["token", "create", "--name", "deploy"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = ingot(&db, &["token", "create", "--name", "no spaces"]);
    assert!(!ok && err.contains("invalid name"), "{err}");
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM api_tokens", &[]).await, 2);
    for t in [&reader, &writer] {
        let secret = ingot::http::auth::tokens::parse(t).unwrap().1;
        assert_eq!(
            rows_containing(&db, "api_tokens", "id || name || secret_sha256", secret).await,
            0
        );
    }

    // Users: the password from stdin (at least 12 characters), stored as argon2.
    let (ok, _, err) = user_create(&db, "short", "tooshort\n");
    assert!(!ok && err.contains("at least 12"), "{err}");
    let (ok, out, err) = user_create(&db, "carol", "correct horse battery staple\n");
    assert!(ok && out.contains("created user"), "{err}");
    let (ok, _, err) = user_create(&db, "carol", "another long password\n");
    assert!(!ok && err.contains("already exists"), "{err}");
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM operators", &[]).await, 1);
    assert_eq!(
        rows_containing(&db, "operators", "password_hash", "correct horse").await,
        0
    );
    assert_eq!(
        rows_containing(&db, "operators", "password_hash", "$argon2id$").await,
        1
    );

    // The tokens at work: read-only reads but cannot act; the other acts.
    let d = InProc::start(&db.url, vec![], &[]).await;
    let r = Api::with_token(d.api.base.clone(), Some(&reader));
    let w = Api::with_token(d.api.base.clone(), Some(&writer));
    r.get_ok("/api/v1/runs").await;
    assert_eq!(r.post("/api/v1/runs/x/cancel").await.0, 403);
    assert_eq!(w.post("/api/v1/runs/x/cancel").await.0, 404);
    let login = crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/login", d.api.base))
        .form(&[("name", "carol"), ("password", "correct horse battery staple")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);

    // List shows both with their access and last use; revoke stops one at once.
    let (ok, out, _) = ingot(&db, &["token", "list"]);
    assert!(ok);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string()
    };
    assert!(
        line("grafana").contains("read-only") && line("deploy").contains("full"),
        "{out}"
    );
    assert!(!out.contains(&reader) && !out.contains(&writer));
    let (ok, _, _) = ingot(&db, &["token", "revoke", "deploy"]);
    assert!(ok);
    assert_eq!(w.get("/api/v1/runs").await.0, 401);
    let (ok, _, err) = ingot(&db, &["token", "revoke", "deploy"]);
    assert!(!ok && err.contains("no unrevoked token"), "{err}");
    r.get_ok("/api/v1/runs").await;
    d.stop().await;
}
