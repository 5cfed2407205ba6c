//! The door's own rules.

use super::*;
use RunEvent as E;
use RunStatus as S;

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
