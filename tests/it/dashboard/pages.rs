//! The dashboard's pages over HTTP: they render for a signed-in user, the filters narrow the runs list, the cursor
//! pages walk it, hostile names and payloads are escaped, credentials are redacted, and `INGOT_AUTH=off` shows its
//! banner on every page.

use super::{HOSTILE, Session, breaker, hostile, operator, run_ids};
use crate::actions::napper;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The `href` of the page's "Next page" link, unescaped.
fn next_link(page: &str) -> Option<String> {
    let before = page.split(r#"" rel="next">Next page</a>"#).next()?;
    if before.len() == page.len() {
        return None;
    }
    Some(before.rsplit(r#"<a href=""#).next()?.replace("&amp;", "&"))
}

both!(pages_render_filters_narrow_and_pages_follow, pages_impl);
async fn pages_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "alice").await;
    let broken = Arc::new(AtomicBool::new(true));
    let d = InProc::start(&db.url, vec![breaker(broken), napper(), hostile()], &[]).await;
    let charge = d.api.send(json!({"name": "dash/charge", "data": {"order": 7}})).await;
    d.api.send(json!([{"name": "test/nap"}, {"name": "test/nap"}])).await;
    let hostile_event = d
        .api
        .send(json!({"name": HOSTILE, "data": {"access_token": "tok-secret-1", "note": "<b>bold</b>"}}))
        .await;
    d.api.drain().await;
    let s = Session::login(&d.api.base, "alice").await;

    // Not signed in: a browser is sent to the sign-in page.
    let anon = crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anon.get(format!("{}/dashboard/runs", d.api.base)).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/login")
    );

    // The runs list: every run, who is signed in, the sign-out form, the live refresh, the counts.
    let home = s.page("/dashboard").await;
    let all = run_ids(&home);
    assert_eq!(all.len(), 4, "{home}");
    assert!(home.contains("Signed in as <strong>alice</strong>"), "{home}");
    assert!(home.contains(&format!(r#"name="csrf_token" value="{}""#, s.csrf)));
    assert!(home.contains(r#"<meta http-equiv="refresh" content="5">"#));
    assert!(!home.contains("Authentication is off"));
    assert!(home.contains(">sleeping: 2</a>") && home.contains(">failed: 1</a>") && home.contains(">all: 4</a>"));
    assert!(
        !s.page("/dashboard/runs?live=0")
            .await
            .contains("http-equiv=\"refresh\"")
    );

    // Each filter narrows.
    let napper_runs = run_ids(&s.page("/dashboard/runs?function=napper").await);
    assert_eq!(napper_runs.len(), 2);
    let failed = run_ids(&s.page("/dashboard/runs?status=failed").await);
    assert_eq!(failed.len(), 1);
    let failed_id = failed[0].clone();
    assert_eq!(run_ids(&s.page("/dashboard/runs?event=test%2Fnap").await), napper_runs);
    // Free text: the error's words, a function id in another case, part of a run id; never a payload's value.
    assert_eq!(run_ids(&s.page("/dashboard/runs?q=INSUFFICIENT").await), failed);
    assert_eq!(run_ids(&s.page("/dashboard/runs?q=NaPPer").await), napper_runs);
    assert_eq!(
        run_ids(&s.page(&format!("/dashboard/runs?q={}", &failed_id[..20])).await),
        failed
    );
    assert!(run_ids(&s.page("/dashboard/runs?q=tok-secret").await).is_empty());
    // A LIKE wildcard is a plain character.
    assert!(run_ids(&s.page("/dashboard/runs?q=%25").await).is_empty());
    // Time range: everything was created in the last hour, nothing before yesterday.
    assert_eq!(
        run_ids(&s.page("/dashboard/runs?from=2000-01-01T00%3A00").await).len(),
        4
    );
    assert!(run_ids(&s.page("/dashboard/runs?to=2000-01-01T00%3A00").await).is_empty());
    let narrowed = s.page("/dashboard/runs?function=napper&status=failed").await;
    assert!(narrowed.contains(r#"id="no-runs""#) && narrowed.contains(">sleeping: 2</a>"));
    // A bad value is a 400 page, not a JSON error.
    let (status, bad) = s.get("/dashboard/runs?status=nope").await;
    assert_eq!(status, 400);
    assert!(
        bad.contains("unknown status") && bad.starts_with("<!doctype html>"),
        "{bad}"
    );

    // The cursor pages walk the whole list once, newest first.
    let mut walked = Vec::new();
    let mut path = Some("/dashboard/runs?limit=1&live=0".to_string());
    while let Some(p) = path {
        let page = s.page(&p).await;
        let ids = run_ids(&page);
        assert_eq!(ids.len(), 1, "{page}");
        walked.extend(ids);
        path = next_link(&page);
        assert!(walked.len() <= 4, "the pages do not end");
    }
    assert_eq!(walked, all);

    // A failed run: its step error (escaped), redacted output, timeline, rerun forms, payload.
    let run = s.page(&format!("/dashboard/runs/{failed_id}")).await;
    assert!(
        run.contains("card declined: &lt;b&gt;insufficient&lt;/b&gt; funds"),
        "{run}"
    );
    assert!(!run.contains("<b>insufficient"));
    assert!(
        !run.contains("hunter2-output-secret") && run.contains("[redacted]"),
        "{run}"
    );
    assert_eq!(run.matches(r#"<div class="track""#).count(), 2);
    assert!(run.contains(r#"id="rerun-from-step""#) && run.contains("2. charge (failed)"));
    assert!(run.contains("&quot;order&quot;: 7"));
    assert!(
        !run.contains("http-equiv=\"refresh\""),
        "a finished run does not reload"
    );
    let (status, _) = s.get("/dashboard/runs/no-such-run").await;
    assert_eq!(status, 404);

    // The hostile event: escaped in the list's filter, its page, its run; its token redacted.
    let list = s.page(&format!("/dashboard/runs?event={}", urlencode(HOSTILE))).await;
    assert_eq!(run_ids(&list).len(), 1);
    let event_page = s.page(&format!("/dashboard/events/{}", hostile_event[0])).await;
    let hostile_run = s.page(&format!("/dashboard/runs/{}", run_ids(&list)[0])).await;
    for page in [&list, &event_page, &hostile_run] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("tok-secret-1"), "{page}");
    }
    assert!(event_page.contains("[redacted]") && !event_page.contains("<b>bold"));
    assert!(!hostile_run.contains("<img src=x"), "{hostile_run}");

    // Events, the event that started the failed run, functions, health, the stylesheet.
    let events = s.page("/dashboard/events").await;
    assert_eq!(events.matches(r#"<a href="/dashboard/events/"#).count(), 4, "{events}");
    let charge_page = s.page(&format!("/dashboard/events/{}", charge[0])).await;
    assert!(
        charge_page.contains(&format!("/dashboard/runs/{failed_id}")),
        "{charge_page}"
    );
    let functions = s.page("/dashboard/functions").await;
    for f in ["breaker", "napper", "hostile"] {
        assert!(functions.contains(&format!(r#"<tr id="fn-{f}">"#)), "{functions}");
    }
    assert!(functions.contains("Hostile &lt;i&gt;name&lt;/i&gt;"));
    assert!(functions.contains(r#"id="pause-breaker""#));
    // breaker: one failed run of one finished → 0 % success.
    assert!(functions.contains("<td>0.0 %</td>"), "{functions}");
    let health = s.page("/dashboard/health").await;
    assert!(health.contains("<dt>Database</dt><dd>ok</dd>"), "{health}");
    assert!(health.contains(r#"<h2 id="h-functions">Functions</h2>"#));
    let (status, css) = s.get("/dashboard/assets/dashboard.css").await;
    assert!(status == 200 && css.contains(".track"), "{css}");
    d.stop().await;
}

fn urlencode(s: &str) -> String {
    ingot::http::dashboard::layout::url_encode(s)
}

both!(auth_off_shows_its_banner_on_every_page, auth_off_impl);
async fn auth_off_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    let d = InProc::start(&db.url, vec![napper()], &[("auth", "off")]).await;
    let ids = d.api.send(json!({"name": "test/nap"})).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    let anon = d.api.anonymous();
    let mut seen = BTreeSet::new();
    for path in [
        "/dashboard".to_string(),
        "/dashboard/runs".into(),
        format!("/dashboard/runs/{}", run["id"].as_str().unwrap()),
        "/dashboard/events".into(),
        format!("/dashboard/events/{}", ids[0]),
        "/dashboard/functions".into(),
        "/dashboard/health".into(),
    ] {
        let resp = anon.client().get(format!("{}{path}", anon.base)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let page = resp.text().await.unwrap();
        assert!(
            page.contains(r#"<p role="alert" class="warning"><strong>Authentication is off</strong>"#),
            "{path}: {page}"
        );
        seen.insert(path);
    }
    assert_eq!(seen.len(), 7);
    d.stop().await;
}
