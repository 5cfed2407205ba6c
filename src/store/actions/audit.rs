//! The audit of operator actions: one `actions` row per action (who, when, what, on which function or run, with
//! which parameters, what it did) and one `action_runs` row per run it touched, written in the transaction of
//! the change itself, so an action is recorded exactly when it happened.

use crate::store::db::Db;
use crate::store::error::Result;
use crate::store::from_json_text;
use crate::store::schema::{action_runs, actions};
use crate::store::sql::{Param, Stmt, Tx};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use ingot_actors::time::rfc3339;
use serde::Serialize;
use serde_json::Value;

/// What an operator did. Stored as text; values are forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Cancel,
    BulkCancel,
    Rerun,
    Replay,
    Pause,
    Resume,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Cancel => "cancel",
            ActionKind::BulkCancel => "bulk_cancel",
            ActionKind::Rerun => "rerun",
            ActionKind::Replay => "replay",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
        }
    }
}

/// An action about to be recorded.
#[derive(Debug, Clone)]
pub struct Audit {
    pub id: String,
    pub actor: String,
    pub kind: ActionKind,
    pub function_id: Option<String>,
    pub run_id: Option<String>,
    pub params: Value,
}

impl Audit {
    pub fn new(actor: String, kind: ActionKind, params: Value) -> Audit {
        Audit {
            id: uuid::Uuid::now_v7().to_string(),
            actor,
            kind,
            function_id: None,
            run_id: None,
            params,
        }
    }

    pub fn on_run(mut self, run_id: &str) -> Audit {
        self.run_id = Some(run_id.to_string());
        self
    }

    pub fn on_function(mut self, function_id: &str) -> Audit {
        self.function_id = Some(function_id.to_string());
        self
    }
}

/// Records `audit` with its `result` (again: a later call replaces the result, as a bulk action's batches do)
/// and links it to `runs`.
pub async fn record_in<T: Tx>(tx: &mut T, audit: &Audit, result: &Value, runs: &[String], now_ms: i64) -> Result<()> {
    let mut s = Stmt::new(
        "INSERT INTO actions (id, at, actor, action, function_id, run_id, params, result) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET result = excluded.result",
    );
    s.params = vec![
        Param::Text(audit.id.clone()),
        Param::BigInt(now_ms),
        Param::Text(audit.actor.clone()),
        Param::Text(audit.kind.as_str().into()),
        Param::NullText(audit.function_id.clone()),
        Param::NullText(audit.run_id.clone()),
        Param::Text(audit.params.to_string()),
        Param::Text(result.to_string()),
    ];
    tx.exec(&s).await?;
    for chunk in runs.chunks(1000) {
        let mut link = Stmt::new("INSERT INTO action_runs (action_id, run_id) VALUES ");
        link.push_values(
            chunk
                .iter()
                .map(|r| vec![Param::Text(audit.id.clone()), Param::Text(r.clone())]),
        );
        link.push_sql(" ON CONFLICT DO NOTHING");
        tx.exec(&link).await?;
    }
    Ok(())
}

/// An action as the API shows it.
#[derive(Debug, Serialize)]
pub struct ActionView {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub function_id: Option<String>,
    pub run_id: Option<String>,
    pub params: Value,
    pub result: Value,
}

type ActionRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

macro_rules! action_columns {
    () => {
        (
            actions::id,
            actions::at,
            actions::actor,
            actions::action,
            actions::function_id,
            actions::run_id,
            actions::params,
            actions::result,
        )
    };
}

fn view(r: ActionRow) -> Result<ActionView> {
    let (id, at, actor, action, function_id, run_id, params, result) = r;
    Ok(ActionView {
        id,
        at: rfc3339(at),
        actor,
        action,
        function_id,
        run_id,
        params: from_json_text(&params)?,
        result: from_json_text(&result)?,
    })
}

/// Which actions to list, newest first.
#[derive(Debug, Default)]
pub struct ActionFilter {
    pub function_id: Option<String>,
    /// Actions that touched this run (directly or as one of many).
    pub run_id: Option<String>,
    pub limit: i64,
}

pub async fn list(db: &Db, f: &ActionFilter) -> Result<Vec<ActionView>> {
    let rows: Vec<ActionRow> = crate::with_conn!(db, read, |c| {
        let mut q = actions::table
            .select(action_columns!())
            .order((actions::at.desc(), actions::id.desc()))
            .limit(f.limit)
            .into_boxed();
        if let Some(fid) = &f.function_id {
            q = q.filter(actions::function_id.eq(fid.clone()));
        }
        if let Some(rid) = &f.run_id {
            let touched = action_runs::table
                .filter(action_runs::run_id.eq(rid.clone()))
                .select(action_runs::action_id);
            q = q.filter(actions::id.eq_any(touched));
        }
        q.load(c).await?
    });
    rows.into_iter().map(view).collect()
}

/// The actions that touched a run, oldest first (for `GET /api/v1/runs/{id}`).
pub async fn of_run(db: &Db, run_id: &str) -> Result<Vec<ActionView>> {
    let rows: Vec<ActionRow> = crate::with_conn!(db, read, |c| {
        actions::table
            .inner_join(action_runs::table.on(action_runs::action_id.eq(actions::id)))
            .filter(action_runs::run_id.eq(run_id))
            .select(action_columns!())
            .order((actions::at, actions::id))
            .load(c)
            .await?
    });
    rows.into_iter().map(view).collect()
}
