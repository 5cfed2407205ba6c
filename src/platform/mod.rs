//! The course platform's data: typed async queries over a [`Db`](crate::store::Db), one module per domain area.
//! Workflows compose these; no SQL is written inside a workflow. Every write is safe to repeat (a retried step
//! does no harm): inserts are guarded by unique keys and `ON CONFLICT DO NOTHING`.

pub mod communication;
pub mod users;
