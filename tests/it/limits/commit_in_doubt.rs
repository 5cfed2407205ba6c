//! A `COMMIT` whose answer never comes (PostgreSQL): the one outcome the intake cannot know. Between the daemon's
//! pool and the server sits a TCP proxy that, once armed, forwards the client's `COMMIT` but drops everything the
//! server answers after it — a connection that stops answering at the worst moment. The intake must neither
//! answer "not stored" (the transaction did commit) nor hang: past its deadline it waits one more deadline for the
//! `COMMIT`, then answers `CommitInDoubt` — a 503 that tells the producer to retry with the same event ids, so the
//! retry is recorded as a duplicate and starts nothing.

use crate::support::{Backend, TestDb};
use actix_web::ResponseError;
use ingot::http::error::ApiError;
use ingot::store::events::group::{Intake, IntakeStats};
use ingot::store::{DatabaseUrl, Db, Error, PoolOptions};
use ingot_actors::event::NewEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards connections to `upstream`; once `armed`, a connection whose client sends `COMMIT` gets nothing more
/// from the server (what the client sends is still forwarded, so the `COMMIT` itself lands).
async fn proxy(upstream: String, armed: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let armed = armed.clone();
            let mute = Arc::new(AtomicBool::new(false));
            let (mut client_rd, mut client_wr) = client.into_split();
            let (mut server_rd, mut server_wr) = server.into_split();
            let muted = mute.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = client_rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if armed.load(Ordering::SeqCst) && buf[..n].windows(6).any(|w| w == b"COMMIT") {
                        muted.store(true, Ordering::SeqCst);
                    }
                    if server_wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = server_rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if mute.load(Ordering::SeqCst) {
                        continue;
                    }
                    if client_wr.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn event(id: &str, producer_id: &str) -> NewEvent {
    crate::support::prepared_event(id, "test/e", Some(producer_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_never_comes_is_in_doubt_not_refused() {
    let db = TestDb::new(Backend::Postgres).await;
    let (scheme_and_auth, rest) = db.url.split_once('@').expect("a URL with a user");
    let (upstream, database) = rest.split_once('/').expect("a URL with a database");
    let armed = Arc::new(AtomicBool::new(false));
    let port = proxy(upstream.to_string(), armed.clone()).await;
    let deadline = Duration::from_millis(500);
    let options = PoolOptions {
        deadline,
        ..PoolOptions::default()
    };
    let url = format!("{scheme_and_auth}@127.0.0.1:{port}/{database}");
    let proxied = Db::connect(&DatabaseUrl::parse(&url).expect("url"), &options)
        .await
        .expect("connect through the proxy");
    let intake = Intake::new(proxied, Arc::new(IntakeStats::default()));
    let now = 1_700_000_000_000;

    // Through the proxy, unarmed: stored and answered.
    intake
        .ingest(vec![event("e1", "p-1")], now)
        .await
        .expect("stored through the proxy");

    armed.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let answer = intake.ingest(vec![event("e2", "p-2")], now).await;
    let took = started.elapsed();
    let Err(e) = answer else {
        panic!("answered as stored although the COMMIT's answer never came");
    };
    assert!(matches!(e, Error::CommitInDoubt(_)), "{e}");
    assert!(
        took >= deadline * 2,
        "the deadline passed during COMMIT: it waits one more deadline for the outcome ({took:?})"
    );
    assert!(took < deadline * 2 + Duration::from_secs(3), "bounded: {took:?}");
    let api = ApiError::from(e);
    assert_eq!(api.status_code().as_u16(), 503);
    assert!(api.to_string().contains("retry with the same event ids"), "{api}");

    // The COMMIT did land: the event and its run are stored, and the retry the answer asks for (the same producer
    // id, over a connection that answers) is a recorded duplicate that starts nothing.
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM events WHERE id = 'e2'", &[]).await,
        1
    );
    armed.store(false, Ordering::SeqCst);
    let direct = Intake::new(db.db.clone(), Arc::new(IntakeStats::default()));
    direct
        .ingest(vec![event("e2-retry", "p-2")], now)
        .await
        .expect("the retry is stored");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM events WHERE id = 'e2-retry' AND duplicate",
            &[]
        )
        .await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, 2);
}
