//! How the SQLite connections run their blocking calls ([`Calls`], the `SpawnBlocking` of
//! [`SqliteConn`](super::db::SqliteConn)): each call on tokio's blocking pool, as diesel-async's own does — one
//! thread hop per statement — except inside [`on_this_thread`], where a piece of async Diesel code that sends many
//! statements (a group-commit batch with transactional steps, an intake group) runs on one blocking thread and
//! each of its calls runs right there. One hop for the batch instead of one per statement: on the one SQLite
//! writer connection those hops were the batch's cost, and every other write waited behind them.

use diesel_async::sync_connection_wrapper::SpawnBlocking;
use futures_util::future::BoxFuture;
use std::cell::Cell;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::runtime::RuntimeFlavor;

thread_local! {
    /// Set on a blocking thread while [`on_this_thread`] drives its future: calls run inline.
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// The connections' spawner: tokio's blocking pool, or the calling thread inside [`on_this_thread`].
pub struct Calls {
    handle: tokio::runtime::Handle,
}

impl SpawnBlocking for Calls {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn StdError + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        if INLINE.with(Cell::get) {
            return Box::pin(std::future::ready(Ok(task())));
        }
        let done = Done::default();
        let signal = Signal(done.clone());
        let future = self.handle.spawn_blocking(move || {
            // Dropped when the call has returned or unwound, or with the call unrun (the runtime shutting down).
            let _signal = signal;
            task()
        });
        Box::pin(Finished { future, done })
    }

    fn get_runtime() -> Self {
        // Connections are opened by the pools, on the runtime that uses them.
        Calls {
            handle: tokio::runtime::Handle::current(),
        }
    }
}

/// A blocking call that is awaited to its end even when its caller is dropped, as diesel-async's own spawner does:
/// the connection must not be handed back to its pool while a statement still runs on it. Unlike diesel-async's
/// (`block_in_place`, which panics on a current-thread runtime), the wait works on every runtime flavour: actix's
/// arbiters and HTTP workers are current-thread runtimes, and a request whose client went away, or a call under
/// a timeout that fired, drops its future there while the statement runs.
struct Finished<R> {
    future: tokio::task::JoinHandle<R>,
    done: Done,
}

impl<R> std::future::Future for Finished<R> {
    type Output = Result<R, Box<dyn StdError + Send + Sync + 'static>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().future)
            .poll(cx)
            .map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>)
    }
}

impl<R> Drop for Finished<R> {
    fn drop(&mut self) {
        if self.future.is_finished() {
            return;
        }
        // The call runs on a blocking-pool thread and needs nothing from this one: waiting here is bounded by the
        // statement (and SQLite's busy_timeout). On a multi-thread runtime the worker's other tasks move elsewhere.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| self.done.wait()),
            _ => self.done.wait(),
        }
    }
}

/// Whether a blocking call has ended; its [`Signal`] travels with the call.
#[derive(Clone, Default)]
struct Done(Arc<(Mutex<bool>, Condvar)>);

impl Done {
    fn wait(&self) {
        let (ended, cv) = &*self.0;
        let mut ended = ended.lock().unwrap_or_else(PoisonError::into_inner);
        while !*ended {
            ended = cv.wait(ended).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Moved into a blocking call: marks it ended when dropped, after the call returned or unwound, or with the call
/// unrun.
struct Signal(Done);

impl Drop for Signal {
    fn drop(&mut self) {
        let (ended, cv) = &*(self.0).0;
        *ended.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
    }
}

/// Clears [`INLINE`] when the future is done or unwinds.
struct Inline;

impl Inline {
    fn set() -> Inline {
        INLINE.with(|f| f.set(true));
        Inline
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        INLINE.with(|f| f.set(false));
    }
}

/// Runs `work` on one thread of tokio's blocking pool, its SQLite calls inline on that thread (see the module
/// docs). `work` must only await SQLite calls of connections it owns (and nothing that needs another task to make
/// progress on this thread); it may use tokio's timers and I/O, which the runtime drives.
pub async fn on_this_thread<T, F>(work: F) -> Result<T, tokio::task::JoinError>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _inline = Inline::set();
        handle.block_on(work)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_of(calls: &mut Calls) -> BoxFuture<'static, std::thread::ThreadId> {
        let f = calls.spawn_blocking(|| std::thread::current().id());
        Box::pin(async move { f.await.unwrap() })
    }

    /// Drops a call's future while the call runs, and reports whether the call had ended by then.
    fn drop_while_running(calls: &mut Calls) -> bool {
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let flag = ended.clone();
        let call = calls.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        started_rx.recv().unwrap();
        drop(call);
        ended.load(std::sync::atomic::Ordering::SeqCst)
    }

    // actix's arbiters and HTTP workers are current-thread runtimes: a request whose client left, or a call whose
    // timeout fired, drops the future there. diesel-async's `block_in_place` panicked on this runtime.
    #[tokio::test(flavor = "current_thread")]
    async fn a_call_dropped_while_it_runs_is_waited_for_on_a_current_thread_runtime() {
        let mut calls = Calls::get_runtime();
        assert!(drop_while_running(&mut calls), "the drop waited for the call's end");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_call_dropped_while_it_runs_is_waited_for_on_a_multi_thread_runtime() {
        let mut calls = Calls::get_runtime();
        assert!(drop_while_running(&mut calls), "the drop waited for the call's end");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn calls_hop_to_the_blocking_pool_except_on_this_thread() {
        let mut calls = Calls::get_runtime();
        let here = std::thread::current().id();
        assert_ne!(thread_of(&mut calls).await, here, "a call leaves the async thread");
        let (outer, inner) = on_this_thread(async move {
            let outer = std::thread::current().id();
            (outer, thread_of(&mut calls).await)
        })
        .await
        .unwrap();
        assert_eq!(inner, outer, "inside on_this_thread the call runs where the work runs");
        assert_ne!(outer, here);
        // The flag does not outlive the work.
        assert!(
            on_this_thread(async { INLINE.with(Cell::get) }).await.unwrap(),
            "set while the work runs"
        );
        assert!(!INLINE.with(Cell::get));
    }
}
