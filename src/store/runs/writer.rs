//! Group commit for the run store's hot writes: step attempts and run transitions from many runs are written in
//! one transaction, so a commit (an fsync) is shared by every run that finished a step meanwhile.
//!
//! Callers enqueue a [`Write`] on a bounded channel and await its own result; writer tasks take whatever is
//! waiting (up to [`MAX_BATCH`]) and apply it in one transaction. SQLite has one writer task (one writer
//! connection, the whole batch on one blocking thread); PostgreSQL has several. Every write is a single guarded
//! statement, so one write matching no row never aborts the others; a failed transaction fails every write in it,
//! and each caller retries as for any database error.

use crate::store::db::{Backend, Db};
use crate::store::error::{Error, Result};
use diesel::backend::Backend as DieselBackend;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Integer, Nullable, Text};
use diesel_async::AsyncConnection;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

pub const MAX_BATCH: usize = 256;
const QUEUE: usize = 8192;
const PG_WRITERS: usize = 4;

/// One guarded statement. Its result is the number of rows it changed.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert a finished step attempt, only while the run is still ours (`status = 'running'` and our token).
    Step {
        run_id: String,
        token: i64,
        key: String,
        attempt: i32,
        position: i32,
        name: String,
        status: String,
        output: Option<String>,
        error: Option<String>,
        started_at: i64,
        finished_at: i64,
        retry_at: Option<i64>,
    },
    /// running → completed / failed.
    Finish {
        run_id: String,
        token: i64,
        from: String,
        to: String,
        attempt: i32,
        output: Option<String>,
        error: Option<String>,
        at: i64,
    },
    /// running → queued (retry later, or handed back).
    Requeue {
        run_id: String,
        token: i64,
        from: String,
        to: String,
        attempt: i32,
        run_at: i64,
        error: Option<String>,
        at: i64,
    },
}

const INSERT_STEP: &str = "INSERT INTO steps (run_id, step_key, attempt, name, status, output, error, started_at, \
     finished_at, retry_at, position) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12 WHERE EXISTS (SELECT 1 \
     FROM runs WHERE id = $1 AND status = 'running' AND lease_token = $11) ON CONFLICT DO NOTHING";
const FINISH: &str = "UPDATE runs SET status = $1, attempt = $2, output = $3, error = $4, finished_at = $5, \
     updated_at = $5 WHERE id = $6 AND status = $7 AND lease_token = $8";
const REQUEUE: &str = "UPDATE runs SET status = $1, attempt = $2, run_at = $3, error = $4, lease_owner = NULL, \
     updated_at = $5 WHERE id = $6 AND status = $7 AND lease_token = $8";

impl Write {
    /// The statement with its parameters, for either backend.
    fn query<DB>(&self, backend: Backend) -> BoxedSqlQuery<'static, DB, SqlQuery>
    where
        DB: DieselBackend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Integer>,
        String: ToSql<Text, DB>,
        i64: ToSql<BigInt, DB>,
        i32: ToSql<Integer, DB>,
        Option<String>: ToSql<Nullable<Text>, DB>,
        Option<i64>: ToSql<Nullable<BigInt>, DB>,
    {
        let sql = |s: &str| diesel::sql_query(crate::store::sql_for(backend, s)).into_boxed::<DB>();
        match self.clone() {
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
            } => sql(INSERT_STEP)
                .bind::<Text, _>(run_id)
                .bind::<Text, _>(key)
                .bind::<Integer, _>(attempt)
                .bind::<Text, _>(name)
                .bind::<Text, _>(status)
                .bind::<Nullable<Text>, _>(output)
                .bind::<Nullable<Text>, _>(error)
                .bind::<BigInt, _>(started_at)
                .bind::<BigInt, _>(finished_at)
                .bind::<Nullable<BigInt>, _>(retry_at)
                .bind::<BigInt, _>(token)
                .bind::<Integer, _>(position),
            Write::Finish {
                run_id,
                token,
                from,
                to,
                attempt,
                output,
                error,
                at,
            } => sql(FINISH)
                .bind::<Text, _>(to)
                .bind::<Integer, _>(attempt)
                .bind::<Nullable<Text>, _>(output)
                .bind::<Nullable<Text>, _>(error)
                .bind::<BigInt, _>(at)
                .bind::<Text, _>(run_id)
                .bind::<Text, _>(from)
                .bind::<BigInt, _>(token),
            Write::Requeue {
                run_id,
                token,
                from,
                to,
                attempt,
                run_at,
                error,
                at,
            } => sql(REQUEUE)
                .bind::<Text, _>(to)
                .bind::<Integer, _>(attempt)
                .bind::<BigInt, _>(run_at)
                .bind::<Nullable<Text>, _>(error)
                .bind::<BigInt, _>(at)
                .bind::<Text, _>(run_id)
                .bind::<Text, _>(from)
                .bind::<BigInt, _>(token),
        }
    }
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<usize, String>>,
}

/// The handle: cheap to clone; the writer tasks stop when every handle is gone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer tasks on the current tokio runtime.
    pub fn start(db: Db) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let tasks = if db.backend() == Backend::Sqlite { 1 } else { PG_WRITERS };
        for _ in 0..tasks {
            tokio::spawn(run(db.clone(), rx.clone()));
        }
        Writer { tx }
    }

    /// Applies one write in the next batch; returns the rows it changed.
    pub async fn write(&self, write: Write) -> Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { write, reply })
            .await
            .map_err(|_| Error::Pool("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Pool("the writer dropped a write".into()))?
            .map_err(Error::Pool)
    }
}

async fn run(db: Db, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                return;
            }
        }
        let writes: Vec<Write> = jobs.iter().map(|j| j.write.clone()).collect();
        match apply(&db, writes).await {
            Ok(counts) => {
                for (job, n) in jobs.into_iter().zip(counts) {
                    let _ = job.reply.send(Ok(n));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::warn!(error = %msg, batch = jobs.len(), "a write batch failed; its runs will retry");
                for job in jobs {
                    let _ = job.reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// One transaction for the whole batch.
async fn apply(db: &Db, writes: Vec<Write>) -> Result<Vec<usize>> {
    match db {
        Db::Sqlite { write, .. } => {
            let mut conn = write.get().await.map_err(Error::pool)?;
            // The whole batch on one blocking thread: one hop instead of one per statement.
            Ok(conn
                .spawn_blocking(move |c| {
                    diesel::Connection::transaction(c, |c| {
                        writes
                            .iter()
                            .map(|w| diesel::RunQueryDsl::execute(w.query(Backend::Sqlite), c))
                            .collect::<diesel::QueryResult<Vec<usize>>>()
                    })
                })
                .await?)
        }
        Db::Postgres { pool, .. } => {
            let mut conn = pool.get().await.map_err(Error::pool)?;
            Ok(conn
                .transaction::<_, diesel::result::Error, _>(async |c| {
                    let mut counts = Vec::with_capacity(writes.len());
                    for w in &writes {
                        counts.push(diesel_async::RunQueryDsl::execute(w.query(Backend::Postgres), c).await?);
                    }
                    Ok(counts)
                })
                .await?)
        }
    }
}
