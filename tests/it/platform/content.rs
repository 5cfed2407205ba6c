//! Content resources, their ordered children, trees and events.

use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::Error;
use ingot::platform::content;
use ingot::seed::builders;
use ingot::seed::demo::{self, ids};
use serde_json::json;

both!(gets_resources_by_id_or_slug, gets_resources_impl);
async fn gets_resources_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let r = builders::resource(db, "w1", "workshop", "Intro to Rust", json!({"x": 1}))
        .await
        .unwrap();
    assert_eq!(r.slug.as_deref(), Some("intro-to-rust"));
    assert_eq!(r.fields["x"], 1);
    assert_eq!(r.title(), Some("Intro to Rust"));
    assert_eq!(content::get_content_resource(db, "w1").await.unwrap(), Some(r.clone()));
    assert_eq!(
        content::get_content_resource(db, "intro-to-rust").await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(content::get_content_resource(db, "nope").await.unwrap(), None);
    let again = builders::resource(db, "w1", "workshop", "Other title", json!({}))
        .await
        .unwrap();
    assert_eq!(again, r, "an existing resource is kept");
    t.exec(
        "UPDATE content_resources SET deleted_at = created_at WHERE id = 'w1'",
        &[],
    )
    .await;
    assert_eq!(
        content::get_content_resource(db, "w1").await.unwrap(),
        None,
        "deleted resources are hidden"
    );
}

both!(children_are_ordered_by_position, children_impl);
async fn children_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::resource(db, "p", "cohort", "Parent", json!({}))
        .await
        .unwrap();
    for id in ["a", "b", "c"] {
        builders::resource(db, id, "workshop", id, json!({})).await.unwrap();
    }
    content::link_resources(db, "p", "c", 0.5, &json!({})).await.unwrap();
    content::link_resources(db, "p", "a", 2.0, &json!({"type": "x"}))
        .await
        .unwrap();
    content::link_resources(db, "p", "b", 1.0, &json!({})).await.unwrap();
    content::link_resources(db, "p", "b", 9.0, &json!({})).await.unwrap();
    let kids = content::get_children(db, "p").await.unwrap();
    let order: Vec<(&str, f64)> = kids.iter().map(|k| (k.resource.id.as_str(), k.position)).collect();
    assert_eq!(order, [("c", 0.5), ("b", 1.0), ("a", 2.0)]);
    assert_eq!(kids[2].metadata, json!({"type": "x"}));
    assert!(content::get_children(db, "nope").await.unwrap().is_empty());
}

both!(trees_are_nested_and_cycle_safe, trees_impl);
async fn trees_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let cohort = content::get_cohort(db, ids::COHORT).await.unwrap().unwrap();
    let workshops: Vec<&str> = cohort.children.iter().map(|c| c.resource.id.as_str()).collect();
    assert_eq!(workshops, ids::WORKSHOPS);
    let first = &cohort.children[0];
    let sections: Vec<&str> = first.children.iter().map(|c| c.resource.id.as_str()).collect();
    assert_eq!(sections, [ids::SECTIONS[0], ids::SECTIONS[1], ids::ACCESS_EMAIL]);
    assert_eq!(first.children[0].children.len(), 2);
    assert_eq!(cohort.descendants().len(), 3 + 3 + 4);
    assert_eq!(
        content::get_cohort(db, ids::WORKSHOPS[0]).await.unwrap(),
        None,
        "not a cohort"
    );
    assert!(content::get_workshop(db, ids::WORKSHOPS[0]).await.unwrap().is_some());
    assert_eq!(content::get_workshop(db, "nope").await.unwrap(), None);

    // A cycle (a lesson linking back to the cohort) does not loop.
    content::link_resources(db, ids::LESSONS[0], ids::COHORT, 0.0, &json!({}))
        .await
        .unwrap();
    let again = content::get_cohort(db, ids::COHORT).await.unwrap().unwrap();
    assert_eq!(again.descendants().len(), 10);
}

both!(loads_events_and_event_series, events_impl);
async fn events_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    let series = content::get_event_or_event_series(db, ids::EVENT_SERIES)
        .await
        .unwrap()
        .unwrap();
    assert!(series.is_series());
    let kids: Vec<&str> = series.children.iter().map(|c| c.resource.id.as_str()).collect();
    assert_eq!(kids, ids::SERIES_EVENTS);
    assert_eq!(series.children[0].resource.fields["calendarId"], "gcal_demo_day_1");
    assert_eq!(series.product_ids, [ids::PRODUCT_EVENT_SERIES]);

    let single = content::get_event_or_event_series(db, "office-hours")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(single.resource.id, ids::EVENT);
    assert!(!single.is_series() && single.children.is_empty());
    assert_eq!(
        content::get_event_or_event_series(db, ids::COHORT).await.unwrap(),
        None,
        "not an event"
    );
    assert_eq!(content::get_event_or_event_series(db, "nope").await.unwrap(), None);

    builders::resource(db, "ev_bad", "event", "", json!({})).await.unwrap();
    let err = content::get_event_or_event_series(db, "ev_bad").await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
}

both!(merges_resource_fields, merges_impl);
async fn merges_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::resource(db, "ev", "event", "Launch", json!({"timezone": "UTC"}))
        .await
        .unwrap();
    let patch = json!({"calendarId": "cal_1"}).as_object().unwrap().clone();
    let once = content::merge_resource_fields(db, "ev", &patch).await.unwrap();
    let twice = content::merge_resource_fields(db, "ev", &patch).await.unwrap();
    assert_eq!(once.fields, twice.fields);
    assert_eq!(once.fields["calendarId"], "cal_1");
    assert_eq!(once.fields["timezone"], "UTC", "other fields are kept");
    assert_eq!(once.slug.as_deref(), Some("launch"));
    let err = content::merge_resource_fields(db, "nope", &patch).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

both!(lists_event_reminders, reminders_impl);
async fn reminders_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    demo::load(db).await.unwrap();
    assert!(content::event_reminder_links(db).await.unwrap().is_empty());
    builders::resource(db, "email_reminder", "email", "See you tomorrow", json!({"body": "Hi"}))
        .await
        .unwrap();
    let meta = json!({"type": "event-reminder", "hoursInAdvance": 24});
    content::link_resources(db, ids::EVENT, "email_reminder", 0.0, &meta)
        .await
        .unwrap();
    // Not a reminder: another link whose metadata merely mentions the word.
    content::link_resources(
        db,
        ids::EVENT_SERIES,
        "email_reminder",
        0.0,
        &json!({"note": "event-reminder"}),
    )
    .await
    .unwrap();
    let links = content::event_reminder_links(db).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].event.id.as_str(), links[0].email.id.as_str()),
        (ids::EVENT, "email_reminder")
    );
    assert_eq!(links[0].hours_in_advance, Some(24.0));
}
