//! The door's own rules, every status-writing statement tied to its lifecycle edges, and the source scan that
//! keeps status writes inside the door.

use super::*;
use crate::store::db::Backend;
use crate::store::runs::writer::{Write, plan};
use crate::store::runs::{cancel, claim, release_stmt, run_write, suspend, waits};
use RunEvent as E;
use RunStatus as S;
use ingot_actors::backoff::Backoff;
use ingot_actors::error::{FnError, Interrupt};
use ingot_actors::flow::ClaimLimits;
use ingot_actors::run::outcome::{Decision, decide};
use ingot_actors::store::{ClaimRequest, Lease};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[test]
fn every_event_has_one_edge_derived_from_the_table() {
    let table = RunStatus::edges();
    for event in RunEvent::ALL {
        let edge = Edge::of(event).unwrap();
        let want_from: Vec<RunStatus> = table.iter().filter(|e| e.1 == event).map(|e| e.0).collect();
        assert_eq!(edge.from, want_from, "{event:?}");
        for from in &edge.from {
            assert_eq!(transition(*from, event), Ok(edge.to), "{event:?} from {from:?}");
        }
    }
    assert_eq!(
        Edge::of(E::Cancelled).unwrap(),
        Edge {
            event: E::Cancelled,
            from: vec![S::Queued, S::Running, S::Sleeping, S::Waiting],
            to: S::Cancelled
        }
    );
}

#[test]
fn the_door_binds_target_and_guard_and_records_the_edge() {
    let mut s = Stmt::new("");
    s.params.push(Param::BigInt(7));
    let set = set(&mut s, &[E::Claimed, E::Rescued]).unwrap();
    let from = sources(&mut s, E::Claimed).unwrap();
    let one = source(&mut s, E::Rescued, S::Running).unwrap();
    assert_eq!(set, "status = $2");
    assert_eq!(from, "IN ($3, $4, $5)");
    assert_eq!(one, "$6");
    let texts: Vec<&Param> = s.params[1..].iter().collect();
    let want = ["running", "queued", "sleeping", "waiting", "running"].map(|t| Param::Text(t.into()));
    assert_eq!(texts, want.iter().collect::<Vec<_>>());
    assert_eq!(s.edges, [E::Claimed, E::Rescued]);
    // Reads bind without recording an edge.
    let mut r = Stmt::new("");
    assert_eq!(param(&mut r, S::Queued), "$1");
    assert_eq!(param_in(&mut r, &[S::Sleeping, S::Waiting]), "IN ($2, $3)");
    assert_eq!(step_in(&mut r, &[StepStatus::Completed]), "IN ($4)");
    assert!(r.edges.is_empty());
    assert_eq!(initial(), Param::Text("queued".into()));
}

#[test]
fn the_door_refuses_what_the_table_does_not_have() {
    let mut s = Stmt::new("");
    assert_eq!(
        set(&mut s, &[E::Succeeded, E::FailedForGood]),
        Err(DoorError::TargetsDiffer(vec![E::Succeeded, E::FailedForGood]))
    );
    assert_eq!(
        source(&mut s, E::Claimed, S::Running),
        Err(DoorError::NotASource {
            event: E::Claimed,
            from: S::Running
        })
    );
    assert_eq!(row(E::Cancelled), Err(DoorError::NotOneSource { event: E::Cancelled }));
    assert_eq!(
        row_for(S::Running, E::Succeeded, S::Failed),
        Err(DoorError::WrongTarget {
            event: E::Succeeded,
            from: S::Running,
            to: S::Failed,
            want: S::Completed
        })
    );
    assert_eq!(
        row_for(S::Queued, E::Succeeded, S::Completed),
        Err(DoorError::NotASource {
            event: E::Succeeded,
            from: S::Queued
        })
    );
    assert!(
        s.params.is_empty() && s.edges.is_empty(),
        "a refused write binds nothing"
    );
    assert_eq!(
        row_for(S::Completed, E::Cancelled, S::Cancelled),
        Err(DoorError::NotASource {
            event: E::Cancelled,
            from: S::Completed
        })
    );
    let r = row_for(S::Running, E::Cancelled, S::Cancelled).unwrap();
    assert_eq!(
        r.params(),
        (Param::Text("running".into()), Param::Text("cancelled".into()))
    );
    let r = row_for(S::Running, E::Slept, S::Sleeping).unwrap();
    assert_eq!((r.event(), r.from(), r.to()), (E::Slept, S::Running, S::Sleeping));
    assert_eq!(
        r.params(),
        (Param::Text("running".into()), Param::Text("sleeping".into()))
    );
}

#[test]
fn the_batched_door_takes_exactly_the_edges_of_the_table() {
    // Whatever the engine decides (`RunChange { from, event, to }`), the writer's row exists iff the table has it.
    let table = RunStatus::edges();
    for from in RunStatus::ALL {
        for event in RunEvent::ALL {
            for to in RunStatus::ALL {
                let allowed = table.contains(&(from, event, to));
                let r = row_for(from, event, to);
                assert_eq!(r.is_ok(), allowed, "{from:?} --{event:?}--> {to:?}: {r:?}");
                if let Ok(r) = r {
                    assert_eq!((r.from(), r.event(), r.to()), (from, event, to));
                }
            }
        }
    }
}

fn req() -> ClaimRequest {
    ClaimRequest {
        function_id: "f".into(),
        node_id: "n".into(),
        limit: 10,
        now_ms: 1,
        stale_before_ms: 0,
        wake_by_ms: 2,
        limits: ClaimLimits::default(),
    }
}

fn finish(event: RunEvent) -> Write {
    Write::Finish {
        run_id: format!("{event:?}"),
        token: 1,
        edge: row_for(S::Running, event, Edge::of(event).unwrap().to).unwrap(),
        attempt: 0,
        output: None,
        error: None,
        at: 0,
        notify: false,
    }
}

fn requeue(event: RunEvent) -> Write {
    Write::Requeue {
        run_id: format!("{event:?}"),
        token: 1,
        edge: row(event).unwrap(),
        attempt: 0,
        run_at: 0,
        error: None,
        at: 0,
        resolved_since: Some(0),
    }
}

/// Every statement that writes `runs.status`, built by the function the store runs, with the edges it must
/// implement.
fn status_writes() -> Vec<(&'static str, Stmt, Vec<RunEvent>)> {
    let ids = vec!["a".to_string(), "b".to_string()];
    // The run actor's final changes: every one leaves from running (a timeout cancels a running run too).
    let batch = [E::Succeeded, E::FailedForGood, E::Cancelled].map(finish);
    let requeues = [E::RetryScheduled, E::Released, E::Slept, E::WaitStarted].map(requeue);
    let mut writes = batch.to_vec();
    writes.extend(requeues);
    let p = plan(&writes).unwrap();
    vec![
        (
            "claim (SQLite)",
            claim::claim_stmt(Backend::Sqlite, &req()).unwrap(),
            vec![E::Claimed, E::Rescued],
        ),
        (
            "claim (PostgreSQL)",
            claim::claim_stmt(Backend::Postgres, &req()).unwrap(),
            vec![E::Claimed, E::Rescued],
        ),
        (
            "limited claim",
            claim::limited_claim_stmt(&req(), ids.clone()).unwrap(),
            vec![E::Claimed, E::Rescued],
        ),
        ("release_node", release_stmt("n", 1).unwrap(), vec![E::Released]),
        (
            "writer: finish",
            p.finish.unwrap(),
            vec![E::Succeeded, E::FailedForGood, E::Cancelled],
        ),
        (
            "writer: requeue",
            p.requeue.unwrap(),
            vec![E::RetryScheduled, E::Released, E::Slept, E::WaitStarted, E::Resumed],
        ),
        (
            "wait resolved by an event",
            waits::resume_stmt("r", 1).unwrap(),
            vec![E::Resumed],
        ),
        (
            "resume_if_resolved",
            suspend::resume_if_resolved_stmt("r", 0, 1).unwrap(),
            vec![E::Resumed],
        ),
        (
            "cancel",
            cancel::cancel_stmt(&ids, "why", 1).unwrap(),
            vec![E::Cancelled],
        ),
    ]
}

#[test]
fn every_status_write_implements_edges_of_the_table_and_every_edge_is_written() {
    let table = RunStatus::edges();
    let mut covered = BTreeSet::new();
    for (name, stmt, want) in status_writes() {
        assert_eq!(stmt.edges, want, "{name}: the edges it records");
        let bound: Vec<&str> = stmt
            .params
            .iter()
            .filter_map(|p| match p {
                Param::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        for event in &stmt.edges {
            let edge = Edge::of(*event).unwrap();
            assert!(table.iter().any(|e| e.1 == *event), "{name}: {event:?} is no edge");
            // The target and the source(s) the statement guards on are bound, never written into the text (a
            // batched row binds the one its run leaves from).
            assert!(
                bound.contains(&edge.to.as_str()),
                "{name}: {event:?} does not bind {:?}",
                edge.to
            );
            assert!(
                edge.from.iter().any(|st| bound.contains(&st.as_str())),
                "{name}: {event:?} binds none of {:?}",
                edge.from
            );
            covered.insert(format!("{event:?}"));
        }
        assert_eq!(
            literals(&stmt.sql),
            Vec::<usize>::new(),
            "{name}: a status literal in {}",
            stmt.sql
        );
        assert!(stmt.sql.contains("SET status = "), "{name}: {}", stmt.sql);
    }
    let all: BTreeSet<String> = RunEvent::ALL.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(
        covered, all,
        "every edge of the lifecycle has a statement that writes it"
    );
}

/// Every kind of result a run's handler can end with (`decide`'s input).
fn handler_results() -> Vec<Result<serde_json::Value, FnError>> {
    let suspend = |status, at| Err(FnError::Interrupted(Interrupt::Suspend { status, at }));
    vec![
        Ok(serde_json::json!({"ok": true})),
        Err(FnError::Interrupted(Interrupt::RetryAt(5))),
        Err(FnError::Interrupted(Interrupt::Shutdown)),
        Err(FnError::Interrupted(Interrupt::LeaseLost)),
        suspend(S::Sleeping, 5),
        suspend(S::Waiting, 5),
        Err(FnError::StepFailed {
            step: "s".into(),
            message: "m".into(),
        }),
        Err(FnError::NonRetriable("m".into())),
        Err(FnError::Retryable {
            message: "m".into(),
            retry_after: None,
        }),
        Err(FnError::Store("m".into())),
        Err(FnError::Cancelled("timeouts.finish".into())),
    ]
}

#[test]
fn every_decision_of_the_run_actor_is_written_through_the_door_as_its_edge() {
    let lease = Lease {
        run_id: "r".into(),
        token: 3,
    };
    let mut decided = BTreeSet::new();
    for result in handler_results() {
        // With retries left and on the last attempt.
        for (attempt, retries) in [(0, 3), (3, 3)] {
            let d = decide(result.clone(), attempt, retries, Backoff::Inngest, 1000, true);
            let Decision::Persist(change) = d else {
                assert_eq!(result, Err(FnError::Interrupted(Interrupt::LeaseLost)), "{result:?}");
                continue;
            };
            // What `change_run` hands the writer, and the statement the writer's batch makes of it.
            let write = run_write(&lease, &change).unwrap();
            let p = plan(std::slice::from_ref(&write)).unwrap();
            let stmt = if change.to.is_final() { p.finish } else { p.requeue }.unwrap();
            assert!(stmt.edges.contains(&change.event), "{result:?}: {:?}", stmt.edges);
            let (from, to) = (
                Param::Text(change.from.as_str().into()),
                Param::Text(change.to.as_str().into()),
            );
            assert!(
                stmt.params.windows(7).any(|w| w[1] == to && w[6] == from),
                "{result:?}: the row binds its target and its guard"
            );
            decided.insert(format!("{:?}", change.event));
        }
    }
    let want = [
        "Cancelled",
        "FailedForGood",
        "Released",
        "RetryScheduled",
        "Slept",
        "Succeeded",
        "WaitStarted",
    ];
    assert_eq!(decided.into_iter().collect::<Vec<_>>(), want);
}

#[test]
fn the_batched_door_guards_each_row_by_its_source_and_resumes_a_resolved_wait() {
    let p = plan(&[requeue(E::WaitStarted)]).unwrap();
    let s = p.requeue.unwrap();
    assert!(
        s.sql
            .starts_with("UPDATE runs SET status = CASE WHEN v.column2 = $1 AND runs.resolved_at >= v.column9"),
        "the resolution is read from the run's own row (wait fencing): {}",
        s.sql
    );
    assert_eq!(s.params[..2], ["waiting", "queued"].map(|t| Param::Text(t.into())));
    // The row: its target in column 2, its guard (the edge's one source) in column 7.
    assert_eq!(s.params[2 + 1], Param::Text("waiting".into()));
    assert_eq!(s.params[2 + 6], Param::Text("running".into()));
    assert!(s.sql.contains("runs.status = v.column7"));
}

const WORDS: [&str; 9] = [
    "queued",
    "running",
    "sleeping",
    "waiting",
    "completed",
    "failed",
    "cancelled",
    "errored",
    "pending",
];

/// Where a run or step status is spelled as an SQL literal (`'queued'`): byte offsets.
fn literals(text: &str) -> Vec<usize> {
    let mut at: Vec<usize> = WORDS
        .iter()
        .flat_map(|w| {
            text.match_indices(&format!("'{w}'"))
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        })
        .collect();
    at.sort();
    at
}

/// Where a status literal or a status assignment would bypass the door: `(file, line, what)`.
fn violations(file: &str, text: &str) -> Vec<(String, usize, String)> {
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut flag = |at: usize, what: String| out.push((file.to_string(), line_of(at), what));
    for at in literals(text) {
        flag(
            at,
            format!(
                "status literal {}",
                &text[at..].split_inclusive('\'').take(2).collect::<String>()
            ),
        );
    }
    for needle in ["SET status", "status = CASE", "insert_into(runs::table)"] {
        for (at, _) in text.match_indices(needle) {
            flag(at, format!("status written outside the door: {needle}"));
        }
    }
    // The SET clause of an `UPDATE runs` (up to WHERE, FROM or the end of the literal) names no status.
    for (at, _) in text.match_indices("UPDATE runs") {
        let rest = &text[at + "UPDATE runs".len()..];
        let end = [" WHERE", " FROM", "\""]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
            .unwrap_or(rest.len());
        if rest[..end].contains("status") {
            flag(at, "UPDATE runs sets status outside the door".into());
        }
    }
    // Diesel: a `.set(…)` that assigns `runs::status`.
    for (at, _) in text.match_indices(".set(") {
        let rest = &text[at + 5..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        if rest[..end].contains("runs::status") {
            flag(at, "Diesel .set(runs::status…) outside the door".into());
        }
    }
    // New runs are inserted in the lifecycle's first status, bound from the door.
    if text.contains("INSERT INTO runs (") && !text.contains("status::initial()") {
        flag(
            text.find("INSERT INTO runs (").unwrap_or(0),
            "INSERT INTO runs without status::initial()".into(),
        );
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_status_literal_or_status_write_in_sql_outside_the_door() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let door = src.join("store/runs/status.rs");
    let door_tests = src.join("store/runs/status");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 100,
        "the scan sees the whole crate ({} files)",
        files.len()
    );
    assert!(files.contains(&door));
    let mut found = Vec::new();
    for f in files.iter().filter(|f| **f != door && !f.starts_with(&door_tests)) {
        let text = std::fs::read_to_string(f).unwrap();
        found.extend(violations(&f.strip_prefix(&src).unwrap().display().to_string(), &text));
    }
    assert!(
        found.is_empty(),
        "run status written or spelled outside store/runs/status.rs: {found:#?}"
    );
}

#[test]
fn the_scan_catches_each_way_around_the_door() {
    let bad = [
        "let s = \"UPDATE runs SET status = 'queued' WHERE id = $1\";",
        "let s = \"UPDATE runs SET run_at = $2, status = $1 WHERE id = $3\";",
        "let s = \"SELECT id FROM runs WHERE status IN ('queued', 'sleeping')\";",
        "let s = format!(\"UPDATE t {x} SET status = {to}\");",
        "diesel::update(runs::table).set((runs::run_at.eq(1), runs::status.eq(to)))",
        "diesel::insert_into(runs::table).values(x)",
        "let s = \"INSERT INTO runs (id, status) VALUES ($1, $2)\";",
        "let s = \"CASE WHEN x THEN 1 END, status = CASE WHEN y THEN $1 END\";",
    ];
    for b in bad {
        assert!(!violations("x.rs", b).is_empty(), "not caught: {b}");
    }
    let good = [
        "let s = format!(\"UPDATE runs SET {set}, run_at = $2 WHERE id = $1 AND status {from}\");",
        "diesel::update(purchases::table).set(purchases::status.eq(\"Refunded\"))",
        "let s = \"INSERT INTO runs (id, status) VALUES ($1, $2)\"; let p = status::initial();",
        "q.filter(runs::status.eq(RunStatus::Queued.as_str()))",
    ];
    for g in good {
        assert_eq!(violations("x.rs", g), [], "{g}");
    }
}
