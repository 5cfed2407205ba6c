//! The one door for run state: the only code that writes `runs.status`.
//!
//! Every statement that changes a run's status names the lifecycle event it implements (a [`RunEvent`], the edge
//! of `ingot_actors::run::state::transition`). The door derives from the lifecycle table the status the run goes
//! to (the `SET`) and the statuses it may leave from (the guard), binds them as parameters, and records the event
//! on the statement ([`Stmt::edges`]), so a test can tie every status-writing statement to an edge. No status is
//! ever written into SQL text: a source scan (the tests below) fails if a status literal, or a `status`
//! assignment, appears in SQL anywhere under `src/` outside this file.
//!
//! Three forms:
//! - [`set`] (one statement, one target): the claim (`Claimed` and `Rescued`), the release (`Released`), a
//!   resolved wait (`Resumed`), the cancel (`Cancelled`); [`source`] and [`sources`] bind its guard.
//! - The batched form for the group-commit writer: a [`Row`] is one run's edge with its one source state, made
//!   by [`row`] (or checked from a [`RunChange`]'s `from`/`to` by [`row_for`]); [`set_rows`] writes the target
//!   a `VALUES` column carries; [`set_rows_or_resumed`] adds the `Resumed` edge for rows whose wait resolved
//!   meanwhile.
//! - [`initial`]: the status a new run is inserted with (the intake, reruns, replays).
//!
//! Reads bind statuses with [`param`] / [`step_param`] (no edge recorded).
//!
//! [`RunChange`]: ingot_actors::store::RunChange

use crate::store::sql::{Param, Stmt};
use ingot_actors::run::state::{RunEvent, RunStatus, StepStatus, transition};

/// Why the door refused a status write: the statement asked for something the lifecycle table does not have.
/// These are programming errors, caught by the tests that build every status-writing statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DoorError {
    #[error("no run status leaves by {0:?}")]
    NoEdge(RunEvent),
    #[error("the run edges {0:?} do not share one target status")]
    TargetsDiffer(Vec<RunEvent>),
    #[error("{event:?} does not leave from {from:?}")]
    NotASource { event: RunEvent, from: RunStatus },
    #[error("{event:?} leaves from several statuses; a batched row needs exactly one")]
    NotOneSource { event: RunEvent },
    #[error("{event:?} from {from:?} goes to {want:?}, not {to:?}")]
    WrongTarget {
        event: RunEvent,
        from: RunStatus,
        to: RunStatus,
        want: RunStatus,
    },
}

/// One edge of the lifecycle as the store writes it: every status it leaves from, and the one it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub event: RunEvent,
    pub from: Vec<RunStatus>,
    pub to: RunStatus,
}

impl Edge {
    /// Derived from `transition`: the sources are the statuses the event is allowed in, the target is where it
    /// leads (the same from every source, or the door refuses).
    pub fn of(event: RunEvent) -> Result<Edge, DoorError> {
        let mut from = Vec::new();
        let mut to = None;
        for s in RunStatus::ALL {
            if let Ok(t) = transition(s, event) {
                if to.is_some_and(|x| x != t) {
                    return Err(DoorError::TargetsDiffer(vec![event]));
                }
                to = Some(t);
                from.push(s);
            }
        }
        let to = to.ok_or(DoorError::NoEdge(event))?;
        Ok(Edge { event, from, to })
    }
}

/// Binds `value` as the next parameter and returns its placeholder.
fn bind(s: &mut Stmt, value: &str) -> String {
    s.bind(Param::Text(value.to_string()))
}

fn record(s: &mut Stmt, events: &[RunEvent]) {
    for e in events {
        if !s.edges.contains(e) {
            s.edges.push(*e);
        }
    }
}

/// The one target `events` share.
fn target(events: &[RunEvent]) -> Result<RunStatus, DoorError> {
    let mut to = None;
    for e in events {
        let t = Edge::of(*e)?.to;
        if to.is_some_and(|x| x != t) {
            return Err(DoorError::TargetsDiffer(events.to_vec()));
        }
        to = Some(t);
    }
    to.ok_or(DoorError::TargetsDiffer(Vec::new()))
}

/// `status = $n`: the target of `events` (which must share it), bound; the events are recorded on `s`.
pub fn set(s: &mut Stmt, events: &[RunEvent]) -> Result<String, DoorError> {
    let to = target(events)?;
    record(s, events);
    Ok(format!("status = {}", bind(s, to.as_str())))
}

/// `$n` bound to `from`, one source status of `event` (a guard that treats sources differently, as the claim's
/// due sleepers do).
pub fn source(s: &mut Stmt, event: RunEvent, from: RunStatus) -> Result<String, DoorError> {
    if !Edge::of(event)?.from.contains(&from) {
        return Err(DoorError::NotASource { event, from });
    }
    Ok(bind(s, from.as_str()))
}

/// `IN ($a, $b, …)` over every source status of `event`: the guard of a statement that writes it.
pub fn sources(s: &mut Stmt, event: RunEvent) -> Result<String, DoorError> {
    let marks: Vec<String> = Edge::of(event)?.from.iter().map(|st| bind(s, st.as_str())).collect();
    Ok(format!("IN ({})", marks.join(", ")))
}

/// One run's edge in a batched write: the event, the status the run leaves from (the row's guard: one of the
/// edge's sources) and its target. Made only by [`row`] or [`row_for`], so a row cannot carry a pair of statuses
/// the lifecycle does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    event: RunEvent,
    from: RunStatus,
    to: RunStatus,
}

impl Row {
    pub fn event(self) -> RunEvent {
        self.event
    }
    pub fn from(self) -> RunStatus {
        self.from
    }
    pub fn to(self) -> RunStatus {
        self.to
    }
    /// The row's guard and target as `VALUES` parameters.
    pub fn params(self) -> (Param, Param) {
        (
            Param::Text(self.from.as_str().into()),
            Param::Text(self.to.as_str().into()),
        )
    }
}

/// The batched form of an `event` that leaves from exactly one status.
pub fn row(event: RunEvent) -> Result<Row, DoorError> {
    let edge = Edge::of(event)?;
    match edge.from[..] {
        [from] => Ok(Row {
            event,
            from,
            to: edge.to,
        }),
        _ => Err(DoorError::NotOneSource { event }),
    }
}

/// A change the engine decided (`from`, `event`, `to`) checked against the lifecycle, as a batched row guarded by
/// `from` (e.g. `Cancelled` from running, when a run's timeout cancels it).
pub fn row_for(from: RunStatus, event: RunEvent, to: RunStatus) -> Result<Row, DoorError> {
    let edge = Edge::of(event)?;
    if !edge.from.contains(&from) {
        return Err(DoorError::NotASource { event, from });
    }
    if edge.to != to {
        return Err(DoorError::WrongTarget {
            event,
            from,
            to,
            want: edge.to,
        });
    }
    Ok(Row { event, from, to })
}

/// The batched `SET` of rows whose target is in `column`, bound there from their [`Row`]s (whose events are
/// recorded here): `status = <column>`.
pub fn set_rows(s: &mut Stmt, column: &str, rows: &[Row]) -> String {
    let events: Vec<RunEvent> = rows.iter().map(|r| r.event).collect();
    record(s, &events);
    format!("status = {column}")
}

/// [`set_rows`], where a row going `waiting` for which the SQL condition `resolved` holds takes the `Resumed`
/// edge in the same statement (waiting → queued: its wait resolved meanwhile). Returns the `status = …`
/// assignment and the condition under which a row is resumed (for the statement's other columns).
pub fn set_rows_or_resumed(
    s: &mut Stmt,
    column: &str,
    rows: &[Row],
    resolved: &str,
) -> Result<(String, String), DoorError> {
    let resumed = Edge::of(RunEvent::Resumed)?;
    let [from] = resumed.from[..] else {
        return Err(DoorError::NotOneSource {
            event: RunEvent::Resumed,
        });
    };
    set_rows(s, column, rows);
    record(s, &[RunEvent::Resumed]);
    let when = format!("{column} = {} AND {resolved}", bind(s, from.as_str()));
    let to = bind(s, resumed.to.as_str());
    Ok((format!("status = CASE WHEN {when} THEN {to} ELSE {column} END"), when))
}

/// The status a new run is inserted with: where the lifecycle starts (a run is created `queued`; it is never
/// inserted in any other status).
pub fn initial() -> Param {
    Param::Text(RunStatus::Queued.as_str().into())
}

/// A run status bound for a read (or a guard on other columns): `$n`. Records no edge.
pub fn param(s: &mut Stmt, st: RunStatus) -> String {
    bind(s, st.as_str())
}

/// `IN ($a, …)` over run statuses, for a read. Records no edge.
pub fn param_in(s: &mut Stmt, statuses: &[RunStatus]) -> String {
    let marks: Vec<String> = statuses.iter().map(|st| bind(s, st.as_str())).collect();
    format!("IN ({})", marks.join(", "))
}

/// A step status bound as a parameter: `$n`.
pub fn step_param(s: &mut Stmt, st: StepStatus) -> String {
    bind(s, st.as_str())
}

/// `IN ($a, …)` over step statuses.
pub fn step_in(s: &mut Stmt, statuses: &[StepStatus]) -> String {
    let marks: Vec<String> = statuses.iter().map(|st| bind(s, st.as_str())).collect();
    format!("IN ({})", marks.join(", "))
}

#[cfg(test)]
mod tests;
