//! Group commit for the run store's hot writes: step attempts and run transitions from many runs are written in
//! one transaction — and in at most three multi-row statements — so a commit (an fsync) and a round trip are
//! shared by every run that finished a step meanwhile.
//!
//! Callers enqueue a [`Write`] on a bounded channel and await its own result; writer tasks take whatever is
//! waiting (up to [`MAX_BATCH`]) and apply it in one transaction. SQLite has one writer task (one writer
//! connection, the whole batch on one blocking thread); PostgreSQL has several. Every row is guarded on its own
//! (`RETURNING` tells which rows changed), so one write matching no row never affects the others.
//!
//! Failure isolation: when a batch's transaction fails because of what it writes (a value the database refuses,
//! a constraint, a write the status door refuses), the batch is split in halves and each half applied on its own,
//! down to the single write that fails ([`isolate`]): the other writes commit, and only the failing write's caller
//! gets the error — with its class (retryable or not, [`Error::is_retryable`]), never flattened to text. A batch
//! that failed because the database did ([`Error::is_outage`]: unreachable, timed out, contention) is not split:
//! every write in it gets a copy of that error, which is retryable, so no run spends a function attempt on it.

use super::status::{self, Row};
use crate::store::db::{Backend, Db};
use crate::store::error::{Error, Result};
use crate::store::sql::{Param, Stmt};
use diesel::QueryableByName;
use diesel::sql_types::{Integer, Text};
use ingot_actors::metrics::{Histogram, SIZE_BUCKETS};
use ingot_actors::run::state::{RunStatus, StepStatus};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

pub const MAX_BATCH: usize = 256;
const QUEUE: usize = 8192;
const PG_WRITERS: usize = 4;

/// One guarded row change. Its result is 1 if the row changed, 0 if the guard did not match.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert a finished step attempt, only while the run is still ours (running, and our token).
    Step {
        run_id: String,
        token: i64,
        key: String,
        attempt: i32,
        position: i32,
        name: String,
        status: StepStatus,
        output: Option<String>,
        error: Option<String>,
        started_at: i64,
        finished_at: i64,
        retry_at: Option<i64>,
        kind: String,
        wake_at: Option<i64>,
    },
    /// running → completed / failed (`Succeeded`, `FailedForGood`).
    Finish {
        run_id: String,
        token: i64,
        /// The lifecycle edge: its source is the row's guard, its target the status written.
        edge: Row,
        attempt: i32,
        output: Option<String>,
        error: Option<String>,
        at: i64,
        /// Leave the outbox flag for the run's notification.
        notify: bool,
    },
    /// running → queued (retry later, or handed back), sleeping or waiting (`RetryScheduled`, `Released`,
    /// `Slept`, `WaitStarted`).
    Requeue {
        run_id: String,
        token: i64,
        edge: Row,
        attempt: i32,
        run_at: i64,
        error: Option<String>,
        at: i64,
        /// For a run going `waiting`: if one of its waits was resolved since this time (an event or a child's
        /// result raced the suspension), the run goes straight back to `queued`, due now — in the same statement,
        /// so no crash can leave it waiting for a result it already has.
        resolved_since: Option<i64>,
    },
    /// A transactional step: its work runs in the batch's transaction, inside a savepoint of its own, followed by
    /// the guarded insert of its completed attempt ([`tx`]). Its result is a [`TxDone`].
    Tx(TxWrite),
    /// Several changes of one run in one transaction — step attempts a step tool deferred (a sleep's end), then
    /// the run's transition; step inserts are applied first. Its result is the last change's.
    Many(Vec<Write>),
}

/// A transactional step's write: the work, and its completed attempt (a [`Write::Step`] whose output the work's
/// value fills in).
#[derive(Clone)]
pub struct TxWrite {
    pub step: Box<Write>,
    /// Attempts of the same run a step tool deferred ([`Write::Step`]s: pure and read steps, a sleep's end),
    /// recorded with the batch's plain statements — in the step's transaction, whatever its work does.
    pub earlier: Vec<Write>,
    pub work: crate::store::tx_step::TxFn,
    /// The most bytes of JSON the output may take (the run's state budget left); more fails the work fatally.
    pub max_output_bytes: usize,
}

impl std::fmt::Debug for TxWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxWrite")
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl TxWrite {
    /// The attempt's identity, which [`Changed`] keys its outcome by.
    fn key(&self) -> (String, String, i32) {
        match &*self.step {
            Write::Step {
                run_id, key, attempt, ..
            } => (run_id.clone(), key.clone(), *attempt),
            _ => (String::new(), String::new(), -1),
        }
    }
}

/// What a transactional step's write did (its batch committed).
#[derive(Debug)]
pub enum TxDone {
    /// The work's writes and the completed attempt committed; the work's output.
    Written(serde_json::Value),
    /// The guarded insert matched no row (the run is not ours any more, or the step has a final attempt): the
    /// work's writes were rolled back.
    Missed,
    /// The work failed; its writes were rolled back and nothing was recorded.
    Failed(ingot_actors::StepError),
}

/// A write's result: the rows a plain write changed (0 or 1), or a transactional step's outcome.
#[derive(Debug)]
pub enum Done {
    Rows(usize),
    Tx(TxDone),
}

#[derive(QueryableByName)]
pub(super) struct StepKey {
    #[diesel(sql_type = Text)]
    run_id: String,
    #[diesel(sql_type = Text)]
    step_key: String,
    #[diesel(sql_type = Integer)]
    attempt: i32,
}

#[derive(QueryableByName)]
struct RunKey {
    #[diesel(sql_type = Text)]
    id: String,
}

/// A `waiting` transition whose wait was already resolved (`WaitStarted` then `Resumed`, in one statement): an
/// event or a child's result resolved a wait or invoke of the run since `v.column9` (this attempt's start). The
/// resolution is recorded on the run's own row (`runs.resolved_at`, [`super::waits::resolve_step`]), not only in
/// `steps`: on PostgreSQL a resolution that commits while this statement runs holds the row's lock, so this
/// statement waits for it and then reads the column from the row's newest version — a subquery on `steps` would
/// read this statement's older snapshot and miss it, leaving the run waiting until its timeout.
const RESOLVED: &str = "runs.resolved_at >= v.column9";

/// The guarded insert of one step attempt, for a caller that writes it inside its own transaction.
pub(super) fn step_insert(write: Write) -> Result<Stmt> {
    plan(std::slice::from_ref(&write))?
        .steps
        .ok_or_else(|| Error::Data("a step write plans no step insert".into()))
}

/// The batch as at most three statements.
pub(in crate::store::runs) struct Plan {
    pub(in crate::store::runs) steps: Option<Stmt>,
    pub(in crate::store::runs) finish: Option<Stmt>,
    pub(in crate::store::runs) requeue: Option<Stmt>,
}

pub(in crate::store::runs) fn plan(writes: &[Write]) -> Result<Plan> {
    let mut steps = Vec::new();
    let (mut finish, mut finish_edges) = (Vec::new(), Vec::new());
    let (mut requeue, mut requeue_edges) = (Vec::new(), Vec::new());
    let flat = writes.iter().cloned().flat_map(|w| match w {
        Write::Many(parts) => parts,
        // The work and its completed attempt are applied on their own ([`tx`]); the attempts deferred before it
        // are plain step inserts of the batch.
        Write::Tx(t) => t.earlier,
        one => vec![one],
    });
    for w in flat {
        match w {
            Write::Step {
                run_id,
                token,
                key,
                attempt,
                position,
                name,
                status,
                output,
                error,
                started_at,
                finished_at,
                retry_at,
                kind,
                wake_at,
            } => steps.push(vec![
                Param::Text(run_id),
                Param::Text(key),
                Param::Int(attempt),
                Param::Int(position),
                Param::Text(name),
                Param::Text(status.as_str().into()),
                Param::NullText(output),
                Param::NullText(error),
                Param::BigInt(started_at),
                Param::BigInt(finished_at),
                Param::NullBigInt(retry_at),
                Param::BigInt(token),
                Param::Text(kind),
                Param::NullBigInt(wake_at),
            ]),
            Write::Finish {
                run_id,
                token,
                edge,
                attempt,
                output,
                error,
                at,
                notify,
            } => {
                let (from, to) = edge.params();
                finish_edges.push(edge);
                finish.push(vec![
                    Param::Text(run_id),
                    to,
                    Param::Int(attempt),
                    Param::NullText(output),
                    Param::NullText(error),
                    Param::BigInt(at),
                    from,
                    Param::BigInt(token),
                    Param::Bool(notify),
                ])
            }
            Write::Requeue {
                run_id,
                token,
                edge,
                attempt,
                run_at,
                error,
                at,
                resolved_since,
            } => {
                let (from, to) = edge.params();
                requeue_edges.push(edge);
                requeue.push(vec![
                    Param::Text(run_id),
                    to,
                    Param::Int(attempt),
                    Param::BigInt(run_at),
                    Param::NullText(error),
                    Param::BigInt(at),
                    from,
                    Param::BigInt(token),
                    Param::NullBigInt(resolved_since),
                ])
            }
            // Only steps and transitions are built inside another write.
            Write::Many(_) | Write::Tx(_) => {
                return Err(Error::Data(
                    "a write nested in another write that is not a step or a transition".into(),
                ));
            }
        }
    }
    // VALUES columns are named column1, column2, ... on both backends. Statuses the statement needs besides the
    // rows' are bound first; the rows' placeholders are numbered after them.
    let steps = (!steps.is_empty()).then(|| {
        let mut s = Stmt::new("");
        let running = status::param(&mut s, RunStatus::Running);
        s.push_sql(
            "INSERT INTO steps (run_id, step_key, attempt, position, name, status, output, error, started_at, \
             finished_at, retry_at, kind, wake_at) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, \
             v.column6, v.column7, v.column8, v.column9, v.column10, v.column11, v.column13, v.column14 FROM (VALUES ",
        );
        s.push_values(steps);
        s.push_sql(&format!(
            ") AS v WHERE EXISTS (SELECT 1 FROM runs WHERE runs.id = v.column1 AND runs.status = {running} \
             AND runs.lease_token = v.column12) ON CONFLICT DO NOTHING RETURNING run_id, step_key, attempt"
        ));
        s
    });
    let finish = (!finish.is_empty()).then(|| {
        let mut s = Stmt::new("");
        let set = status::set_rows(&mut s, "v.column2", &finish_edges);
        s.push_sql(&format!(
            "UPDATE runs SET {set}, attempt = v.column3, output = v.column4, error = v.column5, \
             finished_at = v.column6, updated_at = v.column6, notify_pending = v.column9 FROM (VALUES "
        ));
        s.push_values(finish);
        s.push_sql(
            ") AS v WHERE runs.id = v.column1 AND runs.status = v.column7 AND runs.lease_token = v.column8 \
             RETURNING runs.id AS id",
        );
        s
    });
    let requeue = match requeue.is_empty() {
        true => None,
        false => {
            let mut s = Stmt::new("");
            let (set, resumed) = status::set_rows_or_resumed(&mut s, "v.column2", &requeue_edges, RESOLVED)?;
            s.push_sql(&format!(
                "UPDATE runs SET {set}, attempt = v.column3, run_at = CASE WHEN {resumed} THEN v.column6 \
                 ELSE v.column4 END, error = v.column5, lease_owner = NULL, updated_at = v.column6 FROM (VALUES "
            ));
            s.push_values(requeue);
            s.push_sql(
                ") AS v WHERE runs.id = v.column1 AND runs.status = v.column7 AND runs.lease_token = v.column8 \
                 RETURNING runs.id AS id",
            );
            Some(s)
        }
    };
    Ok(Plan { steps, finish, requeue })
}

/// What the statements reported as changed, and what each transactional step did.
#[derive(Default)]
pub(super) struct Changed {
    steps: HashSet<(String, String, i32)>,
    runs: HashSet<String>,
    tx: HashMap<(String, String, i32), Result<TxDone>>,
}

impl Changed {
    fn count(&self, w: &Write) -> usize {
        let hit = match w {
            Write::Step {
                run_id, key, attempt, ..
            } => self.steps.contains(&(run_id.clone(), key.clone(), *attempt)),
            Write::Finish { run_id, .. } | Write::Requeue { run_id, .. } => self.runs.contains(run_id),
            Write::Many(parts) => return parts.last().map_or(0, |last| self.count(last)),
            Write::Tx(_) => false,
        };
        usize::from(hit)
    }

    /// A write's result once its batch committed.
    fn result(&mut self, w: &Write) -> Result<Done> {
        match w {
            Write::Tx(t) => match self.tx.remove(&t.key()) {
                Some(r) => r.map(Done::Tx),
                None => Err(Error::Data(
                    "a transactional step was not applied with its batch".into(),
                )),
            },
            other => Ok(Done::Rows(self.count(other))),
        }
    }
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Done>>,
}

/// The writer's figures for `/metrics`: writes per batch and the time one batch's transaction took.
#[derive(Debug)]
pub struct WriterStats {
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            batch_size: Histogram::new(SIZE_BUCKETS),
            commit_seconds: Histogram::durations(),
        }
    }
}

/// The handle: cheap to clone; the writer tasks stop when every handle is gone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer tasks on the current tokio runtime.
    pub fn start(db: Db) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(WriterStats::default());
        let tasks = if db.backend() == Backend::Sqlite { 1 } else { PG_WRITERS };
        for _ in 0..tasks {
            tokio::spawn(run(db.clone(), rx.clone(), stats.clone()));
        }
        Writer { tx, stats }
    }

    pub fn stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }

    /// Applies one write in the next batch; returns the rows it changed (0 or 1).
    pub async fn write(&self, write: Write) -> Result<usize> {
        match self.submit(write).await? {
            Done::Rows(n) => Ok(n),
            Done::Tx(_) => Err(Error::Data("a plain write answered as a transactional step".into())),
        }
    }

    /// Applies a transactional step in the next batch ([`Write::Tx`]).
    pub async fn write_tx(&self, write: TxWrite) -> Result<TxDone> {
        match self.submit(Write::Tx(write)).await? {
            Done::Tx(done) => Ok(done),
            Done::Rows(_) => Err(Error::Data("a transactional step answered as a plain write".into())),
        }
    }

    async fn submit(&self, write: Write) -> Result<Done> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { write, reply })
            .await
            .map_err(|_| Error::Pool("the writer has stopped".into()))?;
        rx.await.map_err(|_| Error::Pool("the writer dropped a write".into()))?
    }
}

async fn run(db: Db, rx: Arc<Mutex<mpsc::Receiver<Job>>>, stats: Arc<WriterStats>) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                return;
            }
        }
        let (writes, replies): (Vec<Write>, Vec<_>) = jobs.into_iter().map(|j| (j.write, j.reply)).unzip();
        stats.batch_size.observe(writes.len() as f64);
        let began = std::time::Instant::now();
        let results = apply_batch(&db, &writes).await;
        stats.commit_seconds.observe_duration(began.elapsed());
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Applies a batch as the writer tasks do: in one transaction, split on a failure that concerns what it writes
/// ([`isolate`]). One result per write, in order: the rows it changed (0 or 1), or its own error.
pub async fn apply_batch(db: &Db, writes: &[Write]) -> Vec<Result<Done>> {
    isolate(writes, |part| async move {
        let txs: Vec<&TxWrite> = part
            .iter()
            .filter_map(|w| match w {
                Write::Tx(t) => Some(t),
                _ => None,
            })
            .collect();
        let plan = plan(part)?;
        if txs.is_empty() {
            apply(db, plan).await
        } else {
            tx::apply(db, plan, &txs).await
        }
    })
    .await
}

/// Failure isolation, without the database ([`crate::store::isolate`]): writes whose slice committed get what the
/// statements reported for them; a poisoned write gets its own error, an outage a copy for every write.
pub(super) async fn isolate<'w, F, Fut>(writes: &'w [Write], apply: F) -> Vec<Result<Done>>
where
    F: FnMut(&'w [Write]) -> Fut,
    Fut: std::future::Future<Output = Result<Changed>>,
{
    crate::store::isolate::isolate("a write batch", writes, apply, |changed: &mut Changed, w| {
        changed.result(w)
    })
    .await
}

/// One transaction for the whole batch (no transactional steps in it: [`tx::apply`] otherwise).
async fn apply(db: &Db, plan: Plan) -> Result<Changed> {
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await.map_err(Error::pool)?;
            // The whole batch on one blocking thread: one hop instead of one per statement.
            Ok(conn
                .spawn_blocking(move |c| {
                    use diesel::RunQueryDsl;
                    // BEGIN IMMEDIATE, as every write transaction on SQLite (`store::write_tx`).
                    c.immediate_transaction(|c| {
                        let mut changed = Changed::default();
                        if let Some(s) = &plan.steps {
                            for k in s.query().load::<StepKey>(c)? {
                                changed.steps.insert((k.run_id, k.step_key, k.attempt));
                            }
                        }
                        for s in [&plan.finish, &plan.requeue].into_iter().flatten() {
                            changed
                                .runs
                                .extend(s.query().load::<RunKey>(c)?.into_iter().map(|k| k.id));
                        }
                        Ok(changed)
                    })
                })
                .await?)
        }
        Db::Postgres { pool, .. } => {
            let mut conn = pool.get().await.map_err(Error::pool)?;
            Ok(crate::write_tx!(conn, diesel::result::Error, async |c| {
                let mut changed = Changed::default();
                tx::plain_pg(c, &plan, &mut changed).await?;
                Ok(changed)
            })
            .await?)
        }
    }
}

mod tx;

#[cfg(test)]
mod tests;
