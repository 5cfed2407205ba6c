//! The runs list's CEL filter on the dashboard over HTTP: the page shows the runs the expression matches, keeps the
//! expression in its form and its links, says when a page's scan stopped at `INGOT_RUNS_FILTER_SCAN` and continues
//! from there, shows a bad expression's message with a 400 and no list, and offers no bulk cancel under it.

use super::{Session, operator, run_ids};
use crate::both;
use crate::run_search::{orders, send_orders};
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};

/// The `href` of the page's `rel="next"` link, unescaped, and its text.
fn next(page: &str) -> Option<(String, String)> {
    let (before, after) = page.split_once(r#"" rel="next">"#)?;
    let href = before.rsplit(r#"<a href=""#).next()?.replace("&amp;", "&");
    Some((href, after.split("</a>").next()?.to_string()))
}

fn enc(s: &str) -> String {
    ingot::http::dashboard::layout::url_encode(s)
}

both!(the_runs_page_filters_by_cel_within_its_scan_cap, search_impl);
async fn search_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "alice").await;
    let d = InProc::start(&db.url, vec![orders()], &[("runs_filter_scan", "3")]).await;
    let run_of = send_orders(&d.api).await;
    let s = Session::login(&d.api.base, "alice").await;

    // Page 1 is full (the third match proves more); page 2 stops at the cap with one run and says so; page 3 ends.
    let first = s
        .page(&format!(
            "/dashboard/runs?limit=2&live=0&cel={}",
            enc("output.big == true")
        ))
        .await;
    assert_eq!(run_ids(&first), vec![run_of[&6].clone(), run_of[&5].clone()], "{first}");
    assert!(
        first.contains(r#"id="scan-note">The CEL filter evaluated 3 runs"#),
        "{first}"
    );
    assert!(
        first.contains(r#"value="output.big == true""#),
        "the form keeps the expression: {first}"
    );
    assert!(
        first.contains(r#"id="counts-note""#) && first.contains(">all: 7</a>"),
        "{first}"
    );
    // A search page does not reload itself, even when asked to (each reload would repeat the scan).
    let asked_live = s
        .page(&format!("/dashboard/runs?cel={}", enc("output.big == true")))
        .await;
    assert!(!asked_live.contains("http-equiv=\"refresh\""), "{asked_live}");
    let (href, text) = next(&first).expect("a next page");
    assert_eq!(text, "Next page");
    assert!(href.contains("cel=output.big%20%3D%3D%20true"), "{href}");
    let second = s.page(&href).await;
    assert_eq!(run_ids(&second), vec![run_of[&4].clone()]);
    assert!(
        second.contains(r#"id="scan-capped""#) && second.contains("after evaluating 3 runs"),
        "{second}"
    );
    let (href, text) = next(&second).expect("the search continues");
    assert_eq!(text, "Continue the search");
    let third = s.page(&href).await;
    assert!(
        run_ids(&third).is_empty() && third.contains(r#"id="no-runs""#),
        "{third}"
    );
    assert!(next(&third).is_none() && !third.contains("scan-capped"), "{third}");

    // The event and the output together, escaped in the form; with a status.
    let cel = "event.data.n < 3 && output == null";
    let failed = s.page(&format!("/dashboard/runs?status=failed&cel={}", enc(cel))).await;
    assert_eq!(run_ids(&failed), vec![run_of[&0].clone()]);
    assert!(
        failed.contains(r#"value="event.data.n &lt; 3 &amp;&amp; output == null""#),
        "{failed}"
    );
    // No bulk cancel under an expression the cancel could not apply.
    assert!(failed.contains("clear the CEL expression to use it") && !failed.contains(r#"id="bulk-cancel""#));
    // Credentials read as "[redacted]".
    let guess = s
        .page(&format!("/dashboard/runs?cel={}", enc("event.data.password == 'pw-3'")))
        .await;
    assert!(run_ids(&guess).is_empty(), "{guess}");

    // A bad expression: 400, the message, the form with the expression to fix, no list.
    let (status, bad) = s
        .get(&format!("/dashboard/runs?cel={}", enc("output.big == <script>")))
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad.starts_with("<!doctype html>") && bad.contains(r#"id="cel-error""#),
        "{bad}"
    );
    assert!(
        bad.contains("The CEL filter was not applied: invalid CEL expression"),
        "{bad}"
    );
    assert!(bad.contains(r#"id="f-cel""#) && !bad.contains("<script>") && !bad.contains(r#"<table id="runs">"#));
    let (status, unknown) = s
        .get(&format!("/dashboard/runs?cel={}", enc("async.data.n == 1")))
        .await;
    assert_eq!(status, 400);
    assert!(unknown.contains("unknown variable `async`"), "{unknown}");
    d.stop().await;
}
