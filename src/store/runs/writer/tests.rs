use super::*;
use ingot_actors::run::state::RunEvent;
use ingot_actors::store::StoreError;

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

/// A transaction that refuses any slice holding a step named `poison` (as PostgreSQL refuses a NUL byte), with
/// the error `refusal` makes; otherwise every write changes its row. Counts the transactions.
async fn run_isolated(writes: &[Write], refusal: fn() -> Error) -> (Vec<Result<Done>>, usize) {
    let calls = std::cell::Cell::new(0);
    let results = isolate(writes, |part| {
        calls.set(calls.get() + 1);
        async move {
            let poisoned = part
                .iter()
                .any(|w| matches!(w, Write::Step { name, .. } if name == "poison"));
            if poisoned {
                return Err(refusal());
            }
            let mut changed = Changed::default();
            for w in part {
                if let Write::Step {
                    run_id, key, attempt, ..
                } = w
                {
                    changed.steps.insert((run_id.clone(), key.clone(), *attempt));
                }
            }
            Ok(changed)
        }
    })
    .await;
    (results, calls.get())
}

fn nul_refused() -> Error {
    Error::Query(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new("invalid byte sequence for encoding \"UTF8\": 0x00".to_string()),
    ))
}

fn batch(n: usize, poison_at: &[usize]) -> Vec<Write> {
    (0..n)
        .map(|i| step(if poison_at.contains(&i) { "poison" } else { "ok" }))
        .enumerate()
        .map(|(i, mut w)| {
            if let Write::Step { key, .. } = &mut w {
                *key = format!("s{i}");
            }
            w
        })
        .collect()
}

#[tokio::test]
async fn a_poisoned_write_fails_alone_with_its_class_and_the_others_commit() {
    for (n, poison) in [
        (1, vec![0]),
        (8, vec![3]),
        (256, vec![0]),
        (256, vec![255]),
        (7, vec![1, 5]),
    ] {
        let writes = batch(n, &poison);
        let (results, calls) = run_isolated(&writes, nul_refused).await;
        for (i, r) in results.iter().enumerate() {
            match r {
                Err(e) => {
                    assert!(poison.contains(&i), "write {i} of {n} failed: {e}");
                    assert!(!e.is_retryable() && e.is_refused_value(), "the class is kept: {e}");
                }
                Ok(changed) => {
                    assert!(!poison.contains(&i), "the poisoned write {i} succeeded");
                    assert!(matches!(changed, Done::Rows(1)));
                }
            }
        }
        // One poisoned write costs about two transactions per halving, not one per write.
        let bound = 1 + 2 * poison.len() * (usize::BITS - n.leading_zeros()) as usize;
        assert!(calls <= bound, "{calls} transactions for {n} writes, bound {bound}");
    }
}

#[tokio::test]
async fn an_outage_is_not_split_and_every_write_keeps_a_retryable_error() {
    let writes = batch(64, &[10]);
    let (results, calls) = run_isolated(&writes, || Error::Pool("connection refused".into())).await;
    assert_eq!(calls, 1, "an outage fails the batch once");
    for r in results {
        let e = r.expect_err("every write failed");
        assert!(e.is_retryable() && e.is_outage());
        assert!(
            matches!(StoreError::from(e), StoreError::Database(_)),
            "no attempt spent"
        );
    }
}

#[tokio::test]
async fn a_clean_batch_is_one_transaction() {
    let writes = batch(100, &[]);
    let (results, calls) = run_isolated(&writes, nul_refused).await;
    assert_eq!(calls, 1);
    assert!(results.iter().all(|r| matches!(r, Ok(Done::Rows(1)))));
}
