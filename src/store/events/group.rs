//! Group commit at the door: concurrent intake requests share one transaction, as the run writer's step writes
//! do ([`crate::store::runs::writer`]). The platform's web app sends one event per request; a transaction (and
//! on PostgreSQL a `COMMIT`'s WAL flush, on SQLite the one writer's lock) per request was the intake's cost.
//!
//! Each HTTP worker has one [`Intake`]: a request enqueues its prepared events and awaits its own answer; the
//! worker's committer task takes whatever is waiting (up to [`MAX_GROUP_EVENTS`] events) and stores it with one
//! [`ingest_in`](super::ingest_in) — one set of multi-row statements for the whole group (on SQLite on one blocking
//! thread, its statements inline: [`crate::store::sqlite_calls`]). While one group commits, the next gathers.
//! Nothing changes for the producer:
//!
//! - **Same outcome as alone.** The group is the requests' events in arrival order, and
//!   [`ingest_in`](super::ingest_in) decides per event exactly as it does for one request's array (a producer id or
//!   idempotency key seen earlier in the group is a duplicate, as it would be had the earlier request committed
//!   first).
//! - **Isolation.** A group that fails because of what one request holds is split in halves down to that
//!   request ([`crate::store::isolate`]): only it gets the error; an outage answers every request with the
//!   retryable error.
//! - **Deadlines.** Each request's deadline starts when it arrives. A request still queued when its deadline
//!   passes withdraws (503, nothing stored); a group runs under its earliest member's deadline
//!   ([`Db::within_until`]), so every answer is its transaction's outcome and nothing commits after a 503. A
//!   request whose client went away before its group started is left out; one that leaves later is stored, as
//!   when a client leaves during a lone request's `COMMIT` (the same event ids on a retry make a duplicate).

use super::Ingested;
use crate::store::db::Db;
use crate::store::error::{Error, Result};
use ingot_actors::event::NewEvent;
use ingot_actors::metrics::{Histogram, SIZE_BUCKETS};
use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The most events one group holds (one request may alone hold up to 5,000: it then is a group of its own).
pub const MAX_GROUP_EVENTS: usize = 5_000;
/// Requests waiting for a group, per HTTP worker; admission control bounds requests in flight well below.
const QUEUE: usize = 4096;

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

struct Job {
    events: Vec<NewEvent>,
    now_ms: i64,
    until: Instant,
    /// [`QUEUED`] → [`TAKEN`] by the committer, or → [`WITHDRAWN`] by a request whose deadline passed first.
    state: Arc<AtomicU8>,
    reply: oneshot::Sender<Result<Ingested>>,
}

impl Job {
    /// Claims the job for a group; false if its request withdrew or its client went away.
    fn take(&self) -> bool {
        !self.reply.is_closed()
            && self
                .state
                .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

/// The intake groups' figures for `/metrics`, shared by every HTTP worker's [`Intake`]: requests per group.
#[derive(Debug)]
pub struct IntakeStats {
    pub group_size: Histogram,
}

impl Default for IntakeStats {
    fn default() -> Self {
        IntakeStats {
            group_size: Histogram::new(SIZE_BUCKETS),
        }
    }
}

/// One HTTP worker's door to the intake: cheap to clone; its committer starts on the runtime of the first
/// request (the worker's, whose database pool it uses) and stops when every handle is gone.
#[derive(Clone)]
pub struct Intake {
    db: Db,
    stats: Arc<IntakeStats>,
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
}

impl Intake {
    pub fn new(db: Db, stats: Arc<IntakeStats>) -> Intake {
        Intake {
            db,
            stats,
            queue: Arc::new(OnceLock::new()),
        }
    }

    /// Stores the events and starts their runs, in the next group; the answer is that group's outcome.
    pub async fn ingest(&self, events: Vec<NewEvent>, now_ms: i64) -> Result<Ingested> {
        let deadline = self.db.deadline();
        let until = Instant::now() + deadline;
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(commit_groups(self.db.clone(), self.stats.clone(), rx));
            tx
        });
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (reply, mut answer) = oneshot::channel();
        let job = Job {
            events,
            now_ms,
            until,
            state: state.clone(),
            reply,
        };
        match tokio::time::timeout_at(until, queue.send(job)).await {
            Err(_) => return Err(Error::Timeout(deadline)),
            Ok(Err(_)) => return Err(Error::Pool("the intake has stopped".into())),
            Ok(Ok(())) => {}
        }
        let stopped = |_| Error::Pool("the intake dropped a request".into());
        match tokio::time::timeout_at(until, &mut answer).await {
            Ok(answered) => answered.map_err(stopped)?,
            Err(_)
                if state
                    .compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok() =>
            {
                Err(Error::Timeout(deadline))
            }
            // In a group already: its outcome is the answer (the group runs under this request's deadline too).
            Err(_) => answer.await.map_err(stopped)?,
        }
    }
}

/// The committer: one group at a time.
async fn commit_groups(db: Db, stats: Arc<IntakeStats>, mut queue: mpsc::Receiver<Job>) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut jobs: Vec<Job> = Vec::new();
        let mut size = 0;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            if !jobs.is_empty() && size + job.events.len() > MAX_GROUP_EVENTS {
                carried = Some(job);
                break;
            }
            if job.take() {
                size += job.events.len();
                jobs.push(job);
            }
            next = queue.try_recv().ok();
        }
        if !jobs.is_empty() {
            stats.group_size.observe(jobs.len() as f64);
            commit(&db, jobs).await;
        }
    }
}

/// Stores one group and answers each of its requests.
async fn commit(db: &Db, jobs: Vec<Job>) {
    let until = jobs.iter().map(|j| j.until).min().unwrap_or_else(Instant::now);
    let now_ms = jobs.iter().map(|j| j.now_ms).max().unwrap_or_default();
    let mut events = Vec::with_capacity(jobs.iter().map(|j| j.events.len()).sum());
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        spans.push(events.len()..events.len() + job.events.len());
        events.extend(job.events);
        replies.push(job.reply);
    }
    let events = Arc::new(events);
    let results = crate::store::isolate::isolate(
        "an intake group",
        &spans,
        |part: &[Range<usize>]| {
            let range = part[0].start..part[part.len() - 1].end;
            store(db, events.clone(), range, now_ms, until)
        },
        |ingested: &mut Ingested, _| Ok(ingested.clone()),
    )
    .await;
    if replies.len() > 1 {
        tracing::debug!(requests = replies.len(), events = events.len(), "intake group stored");
    }
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
}

/// One transaction for `events[range]`.
async fn store(
    db: &Db,
    events: Arc<Vec<NewEvent>>,
    range: Range<usize>,
    now_ms: i64,
    until: Instant,
) -> Result<Ingested> {
    match db {
        // SQLite: the whole transaction on one blocking thread, its statements inline there
        // (`store::sqlite_calls`) — one thread hop instead of one per statement. Its answer is its outcome (SQLite
        // calls are never abandoned: `Db::within`).
        Db::Sqlite { write, deadline, .. } => {
            let mut conn = tokio::time::timeout(*deadline, write.get())
                .await
                .map_err(|_| Error::Timeout(*deadline))?
                .map_err(Error::pool)?;
            crate::store::sqlite_calls::on_this_thread(async move {
                let conn: &mut crate::store::db::SqliteConn = &mut conn;
                crate::write_tx!(conn, Error, async |tx| super::ingest_in(tx, &events[range], now_ms)
                    .await)
                .await
            })
            .await
            .map_err(|e| Error::Pool(format!("the intake's SQLite thread failed: {e}")))?
        }
        Db::Postgres { .. } => db.within_until(until, super::ingest(db, &events[range], now_ms)).await,
    }
}
