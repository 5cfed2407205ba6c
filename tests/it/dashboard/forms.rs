//! Every dashboard action as a browser sends it (a URL-encoded form with the session's CSRF token, then a 303 and
//! a flash notice): rerun from a step, cancel, bulk cancel by filter, pause and resume, replay; refusals as error
//! notices; no CSRF token → 403; a read-only token sees no forms and cannot act; a full token acts without CSRF.

use super::{Session, breaker, flash, operator};
use crate::actions::napper;
use crate::auth::token;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::http::dashboard::layout::time_input;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

both!(every_action_works_as_a_form, forms_impl);
async fn forms_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "alice").await;
    let broken = Arc::new(AtomicBool::new(true));
    let d = InProc::start(&db.url, vec![breaker(broken.clone()), napper()], &[]).await;
    let ev = d.api.send(json!({"name": "dash/charge"})).await;
    d.api
        .send(json!([{"name": "test/nap"}, {"name": "test/nap"}, {"name": "test/nap"}]))
        .await;
    d.api.drain().await;
    let s = Session::login(&d.api.base, "alice").await;

    // Rerun from the failing step once it is fixed: the new run keeps `fetch` and completes.
    let failed = d.api.only_run(&ev[0]).await;
    let failed_id = failed["id"].as_str().unwrap().to_string();
    let charge_step = failed["steps"][1]["id"].as_str().unwrap().to_string();
    broken.store(false, Ordering::SeqCst);
    let (to, page) = s
        .act(
            &format!("/dashboard/runs/{failed_id}/rerun"),
            &[("from_step", &charge_step)],
        )
        .await;
    let new_id = to.strip_prefix("/dashboard/runs/").unwrap().to_string();
    assert_ne!(new_id, failed_id);
    assert!(flash(&page).unwrap().contains("keeps 1 completed step(s)"), "{page}");
    d.api.drain().await;
    assert_eq!(d.api.run(&new_id).await["status"], "completed");
    let original = s.page(&format!("/dashboard/runs/{failed_id}")).await;
    assert!(original.contains(r#"<h2 id="reruns">"#) && original.contains(&new_id));
    assert!(original.contains("<td>user:alice</td><td>rerun</td>"), "{original}");
    let rerun_page = s.page(&format!("/dashboard/runs/{new_id}")).await;
    assert!(
        rerun_page.contains(&format!("/dashboard/runs/{failed_id}")),
        "links back to the original"
    );

    // Cancel one sleeping run; cancelling it again is refused with an error notice.
    let nappers = d.api.runs_of_function("napper").await;
    assert_eq!(nappers.len(), 3);
    let one = nappers[0]["id"].as_str().unwrap().to_string();
    let (_, page) = s.act(&format!("/dashboard/runs/{one}/cancel"), &[]).await;
    assert_eq!(flash(&page).as_deref(), Some("Run cancelled."));
    assert_eq!(d.api.run(&one).await["status"], "cancelled");
    let (_, page) = s.act(&format!("/dashboard/runs/{one}/cancel"), &[]).await;
    assert!(
        page.contains(r#"<p class="notice error" role="alert" id="flash">"#),
        "{page}"
    );
    assert!(flash(&page).unwrap().contains("has already finished"));
    // The flash is shown once: the page that shows it removes the cookie.
    assert!(flash(&s.page(&format!("/dashboard/runs/{one}")).await).is_none());

    // Without the CSRF token, nothing happens.
    let refused = s.post("/dashboard/runs/cancel", &[("function", "napper")], false).await;
    assert_eq!(refused.status(), 403);
    // A bad time is refused before anything is cancelled.
    let (_, page) = s
        .act(
            "/dashboard/runs/cancel",
            &[("function", "napper"), ("from", "yesterday")],
        )
        .await;
    assert!(flash(&page).unwrap().contains("is not a time"), "{page}");
    assert!(
        d.api
            .runs_of_function("napper")
            .await
            .iter()
            .filter(|r| r["status"] == "sleeping")
            .count()
            == 2
    );

    // Bulk cancel by the list's filter: back to the same filtered list.
    let (to, page) = s
        .act(
            "/dashboard/runs/cancel",
            &[("function", "napper"), ("status", "sleeping")],
        )
        .await;
    assert_eq!(to, "/dashboard/runs?function=napper&status=sleeping");
    assert_eq!(flash(&page).as_deref(), Some("Cancelled 2 run(s)."));
    assert!(
        d.api
            .runs_of_function("napper")
            .await
            .iter()
            .all(|r| r["status"] == "cancelled")
    );

    // Pause and resume: the functions page says so; a second pause is refused.
    let (to, page) = s.act("/dashboard/functions/breaker/pause", &[]).await;
    assert_eq!(to, "/dashboard/functions");
    assert!(flash(&page).unwrap().starts_with("Paused breaker"));
    assert!(
        page.contains(r#"id="resume-breaker""#) && page.contains("by user:alice"),
        "{page}"
    );
    let (_, page) = s.act("/dashboard/functions/breaker/pause", &[]).await;
    assert!(flash(&page).unwrap().contains("already paused"));
    let held = d.api.send(json!({"name": "dash/charge"})).await;
    let (_, page) = s.act("/dashboard/functions/breaker/resume", &[]).await;
    assert!(flash(&page).unwrap().starts_with("Resumed breaker"));
    assert!(page.contains(r#"id="pause-breaker""#));
    d.api.drain().await;
    assert_eq!(d.api.only_run(&held[0]).await["status"], "completed");

    // Replay the last hour of events to breaker: one new run per `dash/charge` event (2), to its runs list.
    let now = ingot_actors::time::now_ms();
    let (from, to_time) = (time_input(now - 3_600_000), time_input(now + 120_000));
    let (to, page) = s
        .act(
            "/dashboard/functions/replay",
            &[
                ("function", "breaker"),
                ("from", &from),
                ("to", &to_time),
                ("event", ""),
            ],
        )
        .await;
    assert_eq!(to, "/dashboard/runs?function=breaker");
    assert!(
        flash(&page)
            .unwrap()
            .starts_with("Replayed 2 event(s) to breaker: 2 new run(s)"),
        "{page}"
    );
    let (_, page) = s
        .act(
            "/dashboard/functions/replay",
            &[("function", "nope"), ("from", &from), ("to", &to_time)],
        )
        .await;
    assert!(flash(&page).is_some_and(|f| f.contains("nope")), "{page}");

    // Every action above is audited with the signed-in user.
    let actions = d.api.get_ok("/api/v1/actions?limit=100").await;
    let actors: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"].as_str().unwrap())
        .collect();
    assert!(
        actors.len() >= 6 && actors.iter().all(|a| *a == "user:alice"),
        "{actions}"
    );

    // A read-only token reads the pages, sees no action forms, and cannot act.
    let ro = token(&db, "viewer", true).await;
    let viewer = crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = viewer
        .get(format!("{}/dashboard/functions", d.api.base))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Signed in with <strong>token:viewer</strong>"));
    assert!(!page.contains(r#"method="post" action="/dashboard/"#), "{page}");
    let run_page = viewer
        .get(format!("{}/dashboard/runs/{failed_id}", d.api.base))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!run_page.contains(r#"id="rerun""#));
    let act = viewer
        .post(format!("{}/dashboard/functions/breaker/pause", d.api.base))
        .bearer_auth(&ro)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(act.status(), 403);
    // A full token acts without a CSRF token (a browser never sends the header by itself); this client follows
    // the 303 to the functions page.
    let act = d
        .api
        .client()
        .post(format!("{}/dashboard/functions/breaker/pause", d.api.base))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!((act.status().as_u16(), act.url().path()), (200, "/dashboard/functions"));
    assert_eq!(
        d.api.get_ok("/api/v1/actions?limit=1").await["actions"][0]["actor"],
        "admin-token"
    );
    d.stop().await;
}
