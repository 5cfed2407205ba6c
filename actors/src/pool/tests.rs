//! The pool's look-ups of its next wake-up: claims that take everything due within `wake_lookup_gap` of a look-up
//! share one look-up at the gap's end, which covers everything since the earliest of them. And its claims: wake-ups
//! within `claim_gap` of a claim share one claim at the gap's end while the pool is busy (`claim_gap_busy` runs under
//! way; 0 here: always). A scripted store that never has a due run answers.

use super::*;
use crate::function::{FunctionDef, Registry, Trigger};
use crate::runtime::RuntimeConfig;
use crate::store::scripted::Scripted;

fn pool(store: Arc<Scripted>, gap: Duration) -> Addr<Pool> {
    pool_with(store, gap, Duration::ZERO, 0)
}

fn pool_with(store: Arc<Scripted>, gap: Duration, claim_gap: Duration, claim_gap_busy: usize) -> Addr<Pool> {
    let def = FunctionDef::new("f", "F", |_ctx| async { Ok(serde_json::json!(null)) }).trigger(Trigger::event("t/e"));
    let registry = Arc::new(Registry::new(vec![def]).unwrap());
    let function = registry.get("f").unwrap().clone();
    let config = RuntimeConfig {
        wake_lookup_gap: gap,
        claim_gap,
        claim_gap_busy,
        ..RuntimeConfig::default()
    };
    Pool::start(Runtime::new(config, store, registry), function, Arc::new(Vec::new()))
}

/// Waits (on the store's notifications, not a timer) until `done` holds.
async fn until(store: &Scripted, done: impl Fn(&Scripted) -> bool) {
    while !done(store) {
        store.seen.notified().await;
    }
}

fn claims(s: &Scripted) -> Vec<i64> {
    s.claims.lock().unwrap().clone()
}

fn look_ups(s: &Scripted) -> Vec<i64> {
    s.next_wakes.lock().unwrap().clone()
}

#[actix::test]
async fn claims_within_the_gap_share_one_look_up() {
    let store = Arc::new(Scripted {
        claims_nothing: true,
        ..Default::default()
    });
    let addr = pool(store.clone(), Duration::from_secs(3600));
    // The first claim (at start) looks up at once.
    until(&store, |s| look_ups(s).len() == 1).await;
    // Each later claim starts only after the one before it was handled (its look-up asked for), so once the
    // fifth claim is made, the claims before it have all asked within the hour.
    for n in 2..=5 {
        addr.send(Wake).await.unwrap();
        until(&store, |s| claims(s).len() >= n).await;
    }
    addr.send(GetStats).await.unwrap();
    assert_eq!(
        look_ups(&store).len(),
        1,
        "four claims within the gap made no look-up of their own"
    );
}

#[actix::test]
async fn a_look_up_asked_for_within_the_gap_is_made_at_its_end_from_the_earliest_claim() {
    let store = Arc::new(Scripted {
        claims_nothing: true,
        ..Default::default()
    });
    let addr = pool(store.clone(), Duration::from_millis(20));
    until(&store, |s| look_ups(s).len() == 1).await;
    addr.send(Wake).await.unwrap();
    addr.send(Wake).await.unwrap();
    until(&store, |s| look_ups(s).len() >= 2).await;
    assert_eq!(
        look_ups(&store)[1],
        claims(&store)[1],
        "the look-up at the gap's end looks from the earliest claim that asked for it"
    );
}

#[actix::test]
async fn wake_ups_within_the_claim_gap_share_one_claim_at_its_end() {
    let store = Arc::new(Scripted {
        claims_nothing: true,
        ..Default::default()
    });
    let gap = Duration::from_millis(40);
    let addr = pool_with(store.clone(), Duration::ZERO, gap, 0);
    // The first claim (at start) is made at once: no claim came before it.
    until(&store, |s| claims(s).len() == 1).await;
    for _ in 0..5 {
        addr.send(Wake).await.unwrap();
    }
    until(&store, |s| claims(s).len() >= 2).await;
    // The mailbox is handled in order: once this answers, every wake-up above has been handled.
    addr.send(GetStats).await.unwrap();
    let c = claims(&store);
    assert_eq!(c.len(), 2, "five wake-ups within the gap made one claim: {c:?}");
    assert!(
        c[1] - c[0] >= gap.as_millis() as i64 - 1,
        "the shared claim waited for the gap's end: {c:?}"
    );
}

#[actix::test]
async fn a_pool_that_is_not_busy_claims_at_each_wake_up() {
    let store = Arc::new(Scripted {
        claims_nothing: true,
        ..Default::default()
    });
    // A gap of an hour, but the pool is busy only with a run under way, and it has none.
    let addr = pool_with(store.clone(), Duration::from_secs(3600), Duration::from_secs(3600), 1);
    until(&store, |s| claims(s).len() == 1).await;
    for n in 2..=4 {
        addr.send(Wake).await.unwrap();
        until(&store, |s| claims(s).len() >= n).await;
    }
}
