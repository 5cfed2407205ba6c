//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver, started by the test on a free
//! port and killed on drop) with `fantoccini`: sign in (with the keyboard), filter the runs, open a failed run and
//! read its step error, rerun it from that step and watch the page's live refresh show the new run completed,
//! bulk-cancel the sleeping runs, pause and resume a function, visit the events and health pages, sign out. Every
//! page's screenshot goes to `target/screenshots/`.
//!
//! Chromium comes from Debian (`scripts/install-browser`). Without `/usr/bin/chromedriver` the test fails when
//! `CI=true` and is skipped, with a printed reason, elsewhere. Waiting is WebDriver polling for an element.

use super::{PASSWORD, breaker, operator};
use crate::actions::napper;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest any single wait for an element may take (a live page reloads every 5 s).
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port; killed (and reaped) on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver and returns once it says it is listening (it prints a line when it is).
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        // Bounded: chromedriver prints a few lines at start; it closes stdout if it dies.
        let mut seen = Vec::new();
        for _ in 0..50 {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("started successfully");
                    seen.push(line);
                    if ready {
                        // Keep draining its output so it never blocks on a full pipe.
                        std::thread::spawn(move || for _ in lines {});
                        return Driver { child, port };
                    }
                }
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not start: {seen:?}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the browser is there; without it, CI fails and a developer's run skips with the reason.
fn browser_available() -> bool {
    if std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists() {
        return true;
    }
    let reason = format!("{CHROMEDRIVER} or {CHROMIUM} is missing: run scripts/install-browser");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the browser tests need Chromium in CI: {reason}");
    }
    eprintln!("SKIPPED: the dashboard's browser test: {reason}");
    false
}

async fn connect(driver: &Driver, profile: &std::path::Path) -> Client {
    let args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--window-size=1600,1000".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), json!({"binary": CHROMIUM, "args": args}));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// `target/screenshots/` (under `CARGO_TARGET_DIR` when set); PostgreSQL's run in `postgres/` below it.
fn screenshots(backend: Backend) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let mut dir = target.join("screenshots");
    if backend == Backend::Postgres {
        dir = dir.join("postgres");
    }
    std::fs::create_dir_all(&dir).expect("the screenshots folder");
    dir
}

/// The browser session and where its screenshots go.
struct Browser {
    c: Client,
    shots: PathBuf,
}

impl Browser {
    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("the screenshot written");
    }
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = c.source().await.unwrap_or_default();
            panic!("no {css:?} on {url} within {WAIT:?}: {e}\n{source}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_drives_the_dashboard() {
    if !browser_available() {
        return;
    }
    drive(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_drives_the_dashboard_on_postgres() {
    if !browser_available() {
        return;
    }
    drive(Backend::Postgres).await;
}

async fn drive(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "alice").await;
    let broken = Arc::new(AtomicBool::new(true));
    let d = InProc::start(&db.url, vec![breaker(broken.clone()), napper()], &[]).await;
    let charge = d.api.send(json!({"name": "dash/charge", "data": {"order": 42}})).await;
    d.api.send(json!([{"name": "test/nap"}, {"name": "test/nap"}])).await;
    d.api.drain().await;
    let base = d.api.base.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let b = Browser {
        c: connect(&driver, profile.path()).await,
        shots: screenshots(backend),
    };
    let c = &b.c;

    // Sign in: the dashboard sends a stranger to the form; Enter submits it.
    c.goto(&format!("{base}/dashboard")).await.unwrap();
    let name = wait_for(c, "#name").await;
    b.shot("login").await;
    name.send_keys("alice").await.unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(&format!("{PASSWORD}\u{E007}"))
        .await
        .unwrap();
    wait_for(c, "table#runs").await;
    assert_eq!(c.find_all(Locator::Css("#runs tbody tr")).await.unwrap().len(), 3);
    b.shot("runs").await;

    // Filter by function (live updates paused so the page holds still while the form is filled).
    c.goto(&format!("{base}/dashboard/runs?live=0")).await.unwrap();
    wait_for(c, "#f-function")
        .await
        .select_by_value("napper")
        .await
        .unwrap();
    c.find(Locator::Id("apply-filter"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, r#"#f-function option[value="napper"][selected]"#).await;
    let rows = c.find_all(Locator::Css("#runs tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(row.text().await.unwrap().contains("napper"));
    }

    // A CEL expression over the event and the output, typed into the form: the sleepers have no output yet.
    let cel = wait_for(c, "#f-cel").await;
    cel.send_keys(r#"event.name == "test/nap" && output == null"#)
        .await
        .unwrap();
    c.find(Locator::Id("apply-filter"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#scan-note").await;
    assert_eq!(c.find_all(Locator::Css("#runs tbody tr")).await.unwrap().len(), 2);
    b.shot("runs-cel").await;
    wait_for(c, "#f-cel").await.clear().await.unwrap();

    // The failed run: open it from the list filtered by status, read the step's error.
    wait_for(c, "#f-status").await.select_by_value("failed").await.unwrap();
    wait_for(c, "#f-function").await.select_by_value("").await.unwrap();
    c.find(Locator::Id("apply-filter"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, r#"#f-status option[value="failed"][selected]"#).await;
    wait_for(c, r#"#runs tbody a[href^="/dashboard/runs/"]"#)
        .await
        .click()
        .await
        .unwrap();
    let error = wait_for(c, ".step-error").await.text().await.unwrap();
    assert!(error.contains("card declined: <b>insufficient</b> funds"), "{error}");
    let failed_url = c.current_url().await.unwrap();
    assert!(
        failed_url
            .path()
            .ends_with(&d.api.only_run(&charge[0]).await["id"].as_str().unwrap().to_string())
    );
    b.shot("run-failed").await;

    // Rerun from the failing step once the cause is fixed; the new run's page reloads itself until it completes.
    broken.store(false, Ordering::SeqCst);
    wait_for(c, "#from-step")
        .await
        .select_by_label("2. charge (failed)")
        .await
        .unwrap();
    c.find(Locator::Id("rerun-from-step"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = wait_for(c, "#flash").await.text().await.unwrap();
    assert!(notice.contains("keeps 1 completed step(s)"), "{notice}");
    wait_for(c, "#facts .status-completed").await;
    let rerun_url = c.current_url().await.unwrap();
    assert_ne!(rerun_url, failed_url);
    b.shot("run-rerun").await;

    // Bulk-cancel the sleeping runs from the list filtered by status.
    c.goto(&format!("{base}/dashboard/runs?live=0&status=sleeping"))
        .await
        .unwrap();
    wait_for(c, "#bulk-cancel").await.click().await.unwrap();
    let notice = wait_for(c, "#flash").await.text().await.unwrap();
    assert_eq!(notice, "Cancelled 2 run(s).");
    wait_for(c, "#no-runs").await;
    b.shot("runs-bulk-cancelled").await;
    assert!(
        d.api
            .runs_of_function("napper")
            .await
            .iter()
            .all(|r| r["status"] == "cancelled")
    );

    // Pause and resume a function.
    c.goto(&format!("{base}/dashboard/functions")).await.unwrap();
    wait_for(c, "#pause-breaker").await.click().await.unwrap();
    wait_for(c, "#resume-breaker").await;
    assert!(
        wait_for(c, "#flash")
            .await
            .text()
            .await
            .unwrap()
            .starts_with("Paused breaker")
    );
    let paused = d.api.get_ok("/api/v1/functions").await;
    assert!(
        paused["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "breaker" && f["paused"] == true)
    );
    // The flash was shown; the paused row, in view.
    c.goto(&format!("{base}/dashboard/functions#fn-breaker")).await.unwrap();
    wait_for(c, "#fn-breaker .paused").await;
    b.shot("functions-paused").await;
    c.find(Locator::Id("resume-breaker"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#pause-breaker").await;
    assert!(
        wait_for(c, "#flash")
            .await
            .text()
            .await
            .unwrap()
            .starts_with("Resumed breaker")
    );

    // The other pages.
    c.goto(&format!("{base}/dashboard/events")).await.unwrap();
    wait_for(c, "table#events").await;
    b.shot("events").await;
    c.goto(&format!("{base}/dashboard/events/{}", charge[0])).await.unwrap();
    wait_for(c, "#skipped").await;
    b.shot("event").await;
    c.goto(&format!("{base}/dashboard/health")).await.unwrap();
    wait_for(c, "#health-facts").await;
    b.shot("health").await;

    // Sign out: back to the form, and the dashboard asks for it again.
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#password").await;
    c.goto(&format!("{base}/dashboard/runs")).await.unwrap();
    wait_for(c, "#password").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/login");

    b.c.close().await.unwrap();
    drop(driver);
    d.stop().await;
}
