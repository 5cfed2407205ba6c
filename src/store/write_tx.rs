//! The write transaction: [`write_tx!`](crate::write_tx), used instead of Diesel's `transaction` wherever a
//! transaction writes.
//!
//! On SQLite the outermost level begins with `BEGIN IMMEDIATE` instead of Diesel's `BEGIN` (deferred). A deferred
//! transaction that reads first takes the write lock only at its first write, and if another connection committed
//! since its read began, SQLite refuses the upgrade at once with `SQLITE_BUSY_SNAPSHOT` ("database is locked"):
//! `busy_timeout` does not apply, since waiting cannot make the snapshot current. Another connection is another
//! process on the same file (an `ingot` command run beside the daemon, a test's own handle) or the daemon's own
//! probe and heartbeat connections. `BEGIN IMMEDIATE` takes the write lock first, waiting for it under
//! `busy_timeout`, so a read-then-write transaction always reads what it then writes over. Inside the daemon every
//! write already queues for the one write connection, so this costs nothing there.
//!
//! A nested level is a savepoint, as with Diesel's own `transaction`; PostgreSQL is unchanged (`BEGIN`: its
//! row locks and `READ COMMITTED` already let a later write see the row it changes).

use super::db::SqliteConn;
use diesel::QueryResult;
use diesel::connection::AnsiTransactionManager;
use diesel_async::{AsyncConnection, AsyncPgConnection, TransactionManager};

/// A connection that can open a write transaction ([`write_tx!`](crate::write_tx) is how code does).
pub trait WriteConn: AsyncConnection {
    /// Opens the transaction's level: the outermost as a write transaction, a nested one as a savepoint.
    fn begin_write(&mut self) -> impl Future<Output = QueryResult<()>> + Send;

    /// Ends the level `begin_write` opened: commits it when `out` is `Ok`, rolls it back otherwise. A rollback
    /// that fails leaves the original error the answer unless the rollback's own error is the only news.
    fn end_write<R: Send, E: From<diesel::result::Error> + Send>(
        &mut self,
        out: Result<R, E>,
    ) -> impl Future<Output = Result<R, E>> + Send {
        async move {
            match out {
                Ok(value) => {
                    <Self::TransactionManager as TransactionManager<Self>>::commit_transaction(self).await?;
                    Ok(value)
                }
                Err(e) => {
                    match <Self::TransactionManager as TransactionManager<Self>>::rollback_transaction(self).await {
                        Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
                        Err(rollback) => Err(rollback.into()),
                    }
                }
            }
        }
    }
}

impl WriteConn for AsyncPgConnection {
    fn begin_write(&mut self) -> impl Future<Output = QueryResult<()>> + Send {
        <Self as AsyncConnection>::TransactionManager::begin_transaction(self)
    }
}

impl WriteConn for SqliteConn {
    async fn begin_write(&mut self) -> QueryResult<()> {
        let depth =
            <Self as AsyncConnection>::TransactionManager::transaction_manager_status_mut(self).transaction_depth()?;
        if depth.is_some() {
            return <Self as AsyncConnection>::TransactionManager::begin_transaction(self).await;
        }
        self.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
            .await
    }
}

/// Gives the callback of [`write_tx!`](crate::write_tx) its signature before its body is checked (as Diesel's
/// `transaction` bound does), so that its connection parameter is reborrowed at each use instead of moved.
pub fn shape<C, R, E, F>(_conn: &C, callback: F) -> F
where
    F: for<'r> AsyncFnOnce(&'r mut C) -> Result<R, E>,
{
    callback
}

/// Runs `$callback` (an `async |tx| …` closure returning `Result<_, $err>`) in a write transaction on `$conn`
/// (see [`WriteConn`]): `crate::write_tx!(c, Error, async |tx| { … }).await` where Diesel's code would say
/// `c.transaction::<_, Error, _>(async |tx| { … }).await`.
#[macro_export]
macro_rules! write_tx {
    ($conn:expr, $err:ty, $callback:expr) => {
        async {
            let conn = &mut *$conn;
            $crate::store::write_tx::WriteConn::begin_write(&mut *conn).await?;
            let callback = $crate::store::write_tx::shape::<_, _, $err, _>(&*conn, $callback);
            let out = callback(&mut *conn).await;
            $crate::store::write_tx::WriteConn::end_write(&mut *conn, out).await
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::store::{DatabaseUrl, Db, Error, PoolOptions, Result};
    use diesel_async::SimpleAsyncConnection;
    use std::time::Duration;

    /// Two handles on one file, as two processes would have: `a` reads, then `b` tries to commit a write, then
    /// `a` writes over what it read. Under a deferred `BEGIN`, `b` commits (`a` holds only a read snapshot) and
    /// `a`'s write is refused with `SQLITE_BUSY_SNAPSHOT`; under `BEGIN IMMEDIATE`, `a` holds the write lock from
    /// its start, so `b` waits out its (short) busy timeout and `a` commits what it read.
    #[tokio::test]
    async fn a_sqlite_write_transaction_holds_the_write_lock_from_its_first_read() -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("immediate.db"));
        let a = Db::open(&url, &PoolOptions::default()).unwrap();
        let short = PoolOptions {
            deadline: Duration::from_millis(50),
            ..PoolOptions::default()
        };
        let b = Db::open(&url, &short).unwrap();
        crate::with_conn!(&a, write, |c| c
            .batch_execute("CREATE TABLE n (v INTEGER); INSERT INTO n (v) VALUES (1)")
            .await?);

        let b_wrote: std::sync::Mutex<Option<bool>> = std::sync::Mutex::new(None);
        let a_result: Result<()> = async {
            crate::with_conn!(&a, write, |c| crate::write_tx!(c, Error, async |tx| {
                tx.batch_execute("SELECT v FROM n").await?;
                let wrote: Result<()> = async {
                    crate::with_conn!(&b, write, |c| c.batch_execute("UPDATE n SET v = v + 10").await?);
                    Ok(())
                }
                .await;
                *b_wrote.lock().unwrap() = Some(wrote.is_ok());
                tx.batch_execute("UPDATE n SET v = v + 1").await?;
                Ok(())
            })
            .await)
        }
        .await;
        assert!(
            a_result.is_ok(),
            "the read-then-write transaction commits: {a_result:?}"
        );
        assert_eq!(
            *b_wrote.lock().unwrap(),
            Some(false),
            "the other writer waited out its busy timeout"
        );
        Ok(())
    }
}
