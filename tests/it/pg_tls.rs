//! PostgreSQL over TLS: a throwaway PostgreSQL server (initdb + pg_ctl in a temp dir, on a free port — the shared
//! server is left alone) with a CA and a server certificate this test creates (rcgen), then every `sslmode`.

use crate::support::pg_server::PgServer;
use ingot::store::{DatabaseUrl, Db, PoolOptions, migrate};
use std::path::Path;

/// A throwaway server with TLS on, using the server certificate and key (PEM).
fn tls_server(cert: &str, key: &str) -> PgServer {
    PgServer::start(|dir| {
        std::fs::write(dir.join("server.crt"), cert).unwrap();
        std::fs::write(dir.join("server.key"), key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        format!(
            "-c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key",
            d = dir.display()
        )
    })
}

/// A CA, and a server certificate for `localhost` signed by it: (CA PEM, server cert PEM, server key PEM).
fn certificates(ca_name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

#[derive(diesel::QueryableByName)]
struct Ssl {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ssl: bool,
}

async fn connect(url: &str) -> Result<Db, String> {
    let url = DatabaseUrl::parse(url)?;
    Db::connect(&url, &PoolOptions::default())
        .await
        .map_err(|e| e.to_string())
}

async fn ssl_in_use(db: &Db) -> bool {
    let Db::Postgres { pool, .. } = db else {
        panic!("a PostgreSQL handle")
    };
    let mut conn = pool.get().await.expect("connection");
    let rows: Vec<Ssl> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
        &mut conn,
    )
    .await
    .expect("pg_stat_ssl");
    rows[0].ssl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_with_every_sslmode() {
    let (ca, cert, key) = certificates("ingot test CA");
    let (wrong_ca, _, _) = certificates("another CA");
    let server = tls_server(&cert, &key);
    let dir = server.dir.path().to_path_buf();
    let ca_path = dir.join("ca.pem");
    let wrong_path = dir.join("wrong-ca.pem");
    std::fs::write(&ca_path, &ca).unwrap();
    std::fs::write(&wrong_path, &wrong_ca).unwrap();
    let root = |p: &Path| format!("sslrootcert={}", p.display());

    // disable (and no sslmode, i.e. prefer): no TLS, as before.
    for params in ["sslmode=disable", "application_name=ingot"] {
        let db = connect(&server.url("127.0.0.1", params)).await.expect(params);
        assert!(!ssl_in_use(&db).await, "{params}: no TLS");
    }
    // require: TLS, the certificate is not checked.
    let db = connect(&server.url("127.0.0.1", "sslmode=require"))
        .await
        .expect("require");
    assert!(ssl_in_use(&db).await, "require: TLS");
    // verify-ca: the chain is checked, the name is not (127.0.0.1 is not in the certificate).
    let db = connect(&server.url("127.0.0.1", &format!("sslmode=verify-ca&{}", root(&ca_path))))
        .await
        .expect("verify-ca with the right root");
    assert!(ssl_in_use(&db).await);
    // verify-full: chain and name; the migrations connect the same way.
    let db = connect(&server.url("localhost", &format!("sslmode=verify-full&{}", root(&ca_path))))
        .await
        .expect("verify-full against localhost");
    assert!(ssl_in_use(&db).await);
    migrate::run(&db).await.expect("migrations over TLS");

    // Failures: a clear error naming TLS, and no password in it.
    let wrong = connect(&server.url("127.0.0.1", &format!("sslmode=verify-ca&{}", root(&wrong_path))))
        .await
        .err()
        .expect("verify-ca with a wrong root fails");
    let name = connect(&server.url("127.0.0.1", &format!("sslmode=verify-full&{}", root(&ca_path))))
        .await
        .err()
        .expect("verify-full against an address the certificate does not name fails");
    let missing = connect(&server.url("localhost", "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"))
        .await
        .err()
        .expect("a missing root file fails");
    for (err, needle) in [(&wrong, "TLS"), (&name, "TLS"), (&missing, "sslrootcert")] {
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("hunter2"), "no password in errors: {err}");
    }
    assert!(wrong.contains("invalid peer certificate: UnknownIssuer"), "{wrong}");
    assert!(name.contains("NotValidForName") || name.contains("name"), "{name}");
}

#[test]
fn an_unknown_sslmode_refuses_start() {
    let values = [(
        "database_url".to_string(),
        "postgres://u@h/db?sslmode=verify-everything".to_string(),
    )]
    .into_iter()
    .collect();
    let err = ingot::config::Config::from_values(&values).unwrap_err().to_string();
    assert!(err.contains("sslmode") && err.contains("verify-full"), "{err}");
}
