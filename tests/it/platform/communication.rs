//! Communication preferences.

use super::rows;
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::communication as comm;

both!(preferences_are_created_once, preferences_impl);
async fn preferences_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    t.insert_users(&[("u1".into(), "ada@example.com".into())]).await;
    let ty = comm::get_preference_type(db, "Newsletter").await.unwrap().unwrap();
    let ch = comm::get_channel(db, "Email").await.unwrap().unwrap();
    assert_eq!(comm::get_preference_type(db, "Nope").await.unwrap(), None);
    assert_eq!(comm::get_channel(db, "Pigeon").await.unwrap(), None);
    assert_eq!(comm::get_preference(db, "u1", &ty.id, &ch.id).await.unwrap(), None);

    let (p, created) = comm::ensure_active_preference(db, "u1", &ty.id, &ch.id).await.unwrap();
    assert!(created && p.active);
    assert_eq!(
        comm::get_preference(db, "u1", &ty.id, &ch.id).await.unwrap().as_ref(),
        Some(&p),
        "the new preference returned is the row stored"
    );
    let (again, created_again) = comm::ensure_active_preference(db, "u1", &ty.id, &ch.id).await.unwrap();
    assert_eq!((again, created_again), (p.clone(), false));
    assert_eq!(rows(&t, "communication_preferences").await, 1);

    assert_eq!(
        comm::set_preference_active(db, "u1", &ty.id, &ch.id, false)
            .await
            .unwrap()
            .map(|p| p.active),
        Some(false)
    );
    let (kept, _) = comm::ensure_active_preference(db, "u1", &ty.id, &ch.id).await.unwrap();
    assert!(!kept.active, "an unsubscribed user stays unsubscribed");
    assert_eq!(
        comm::set_preference_active(db, "u1", &ty.id, &ch.id, true)
            .await
            .unwrap()
            .map(|p| p.active),
        Some(true)
    );
    assert_eq!(
        comm::set_preference_active(db, "nobody", &ty.id, &ch.id, true)
            .await
            .unwrap(),
        None
    );
}

both!(a_preference_type_and_a_channel_are_read_together, type_and_channel_impl);
async fn type_and_channel_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let ty = comm::get_preference_type(db, "Newsletter").await.unwrap().unwrap();
    let ch = comm::get_channel(db, "Email").await.unwrap().unwrap();
    let both = comm::get_type_and_channel(db, "Newsletter", "Email").await.unwrap();
    assert_eq!(both, Some((ty, ch)), "the same rows as one by one");
    assert_eq!(comm::get_type_and_channel(db, "Nope", "Email").await.unwrap(), None);
    assert_eq!(
        comm::get_type_and_channel(db, "Newsletter", "Pigeon").await.unwrap(),
        None
    );
    // A deleted channel does not count, as it does not one by one.
    t.exec(
        "UPDATE communication_channels SET deleted_at = created_at WHERE name = 'Email'",
        &[],
    )
    .await;
    assert_eq!(comm::get_channel(db, "Email").await.unwrap(), None);
    assert_eq!(
        comm::get_type_and_channel(db, "Newsletter", "Email").await.unwrap(),
        None
    );
}
