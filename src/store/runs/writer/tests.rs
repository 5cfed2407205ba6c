use super::*;
use ingot_actors::run::state::RunEvent;

fn step(key: &str) -> Write {
    Write::Step {
        run_id: "r".into(),
        token: 2,
        key: key.into(),
        attempt: 1,
        position: 0,
        name: key.into(),
        status: StepStatus::Completed,
        output: None,
        error: None,
        started_at: 0,
        finished_at: 0,
        retry_at: None,
        kind: "sleep".into(),
        wake_at: None,
    }
}

#[test]
fn a_composite_write_plans_its_steps_before_the_transition_and_answers_for_the_transition() {
    let finish = Write::Finish {
        run_id: "r".into(),
        token: 2,
        edge: status::row(RunEvent::Succeeded).unwrap(),
        attempt: 0,
        output: None,
        error: None,
        at: 0,
        notify: false,
    };
    let many = Write::Many(vec![step("nap"), finish]);
    let p = plan(std::slice::from_ref(&many)).unwrap();
    assert!(p.steps.is_some() && p.finish.is_some() && p.requeue.is_none());
    let mut changed = Changed::default();
    changed.steps.insert(("r".into(), "nap".into(), 1));
    assert_eq!(changed.count(&many), 0, "the run's transition did not apply");
    changed.runs.insert("r".into());
    assert_eq!(changed.count(&many), 1);
}
