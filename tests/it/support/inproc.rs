//! The daemon in-process, on its own thread and actix `System`, with extra test functions registered — for
//! engine semantics that need functions the product does not ship (flaky steps, loops).

use super::Api;
use ingot_actors::{FunctionDef, Runtime};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

pub struct InProc {
    pub api: Api,
    pub runtime: Arc<Runtime>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl InProc {
    /// Starts the daemon with the harness's admin token configured (`admin_token_sha256`; a test may override it).
    pub async fn start(url: &str, functions: Vec<FunctionDef>, settings: &[(&str, &str)]) -> InProc {
        let token_sha256 = super::test_token_sha256();
        let mut values: BTreeMap<String, String> = [
            ("admin_token_sha256", token_sha256.as_str()),
            ("database_url", url),
            ("listen", "127.0.0.1:0"),
            ("node_id", "inproc-node"),
            ("retry_backoff", "10ms"),
            ("poll_interval", "200ms"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in settings {
            values.insert(k.to_string(), v.to_string());
        }
        let config = ingot::config::Config::from_values(&values).expect("config");
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(ingot::daemon::run(
                config,
                functions,
                move |started| {
                    let _ = ready_tx.send(started);
                },
                async move {
                    let _ = stop_rx.await;
                },
            ))
        });
        let started = ready_rx.await.expect("in-process daemon started");
        InProc {
            api: Api::new(format!("http://{}", started.addr)),
            runtime: started.runtime,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Triggers a graceful stop without waiting for it.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Graceful stop; returns once the daemon's thread ended.
    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(t) = self.thread.take() {
            tokio::task::spawn_blocking(move || t.join().expect("daemon thread").expect("daemon ran cleanly"))
                .await
                .expect("join");
        }
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
