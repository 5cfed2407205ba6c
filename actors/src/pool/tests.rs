//! The pool's look-ups of its next wake-up: claims that take everything due within `wake_lookup_gap` of a look-up
//! share one look-up at the gap's end, which covers everything since the earliest of them. A scripted store that
//! never has a due run answers.

use super::*;
use crate::function::{FunctionDef, Registry, Trigger};
use crate::runtime::RuntimeConfig;
use crate::store::scripted::Scripted;

fn pool(store: Arc<Scripted>, gap: Duration) -> Addr<Pool> {
    let def = FunctionDef::new("f", "F", |_ctx| async { Ok(serde_json::json!(null)) }).trigger(Trigger::event("t/e"));
    let registry = Arc::new(Registry::new(vec![def]).unwrap());
    let function = registry.get("f").unwrap().clone();
    let config = RuntimeConfig {
        wake_lookup_gap: gap,
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
