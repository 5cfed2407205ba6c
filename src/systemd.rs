//! systemd integration (`Type=notify`): READY once migrations are applied and the API listens, STOPPING on
//! shutdown, and the watchdog fed from the supervisor's tick (so a stuck actor system stops feeding it). Every
//! call is a no-op when not started by systemd (`NOTIFY_SOCKET` unset).

use sd_notify::NotifyState;
use std::sync::Arc;

pub fn ready() {
    notify(&[NotifyState::Ready]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

pub fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// A tick hook for the supervisor when systemd's watchdog is on; `None` otherwise.
pub fn watchdog_hook() -> Option<Arc<dyn Fn() + Send + Sync>> {
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) {
        tracing::info!(
            watchdog_usec = usec,
            "feeding the systemd watchdog from the heartbeat thread"
        );
        Some(Arc::new(|| notify(&[NotifyState::Watchdog])))
    } else {
        None
    }
}

fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(false, states)
    {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}
