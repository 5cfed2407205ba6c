//! A kill -9 inside the pipeline (while `add-srt-mux-asset` cools down, its deadline passing while no daemon runs,
//! and `remove-video-after-completed` waits a day) loses and repeats nothing; replaying the upload event and
//! Deepgram's callback afterwards changes nothing.

use super::*;
use crate::both;
use crate::support::Backend;
use crate::support::process::Daemon;

fn count(bed: &Bed, service: &str, method: &str, path: &str) -> usize {
    bed.requests(service)
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(path))
        .count()
}

both!(kill9_while_sleeping_then_replay, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let env = bed.env();
    let d = Daemon::start(&env);
    d.api.send(uploaded()).await;
    d.api.drain().await;
    assert_eq!(post_callback(&d.api.base, DG_SECRET).await.0, 200);
    d.api.drain().await;
    assert_eq!(statuses(&d.api, "add-srt-mux-asset").await, ["sleeping"]);
    d.kill9();

    // While the daemon is down Mux finishes and both deadlines pass.
    bed.set_asset_status("ready");
    assert_eq!(bed.make_sleep_due("add-srt-mux-asset", "wait for 20 seconds").await, 1);
    let d = Daemon::start(&env);
    d.api.drain().await;
    assert_eq!(post_mux(&d.api.base, "video.asset.ready").await.0, 200);
    d.api.drain().await;
    assert_eq!(
        bed.make_sleep_due("remove-video-after-completed", "wait a day").await,
        1
    );
    d.api.drain().await;
    // The first status check (run before the video was ready) re-emitted; the second sleeps out its grace.
    assert_eq!(
        bed.make_sleep_due("remove-video-after-completed", "wait a few just to be sure")
            .await,
        1
    );
    d.api.drain_all().await;

    let once = [
        ("mux", "POST", "/video/v1/assets/as_1/tracks"),
        ("dg", "POST", "/v1/listen"),
        ("ut", "POST", "/v6/deleteFiles"),
    ];
    let snapshot = |bed: &Bed| -> Vec<usize> {
        let mut v: Vec<usize> = once.iter().map(|(s, m, p)| count(bed, s, m, p)).collect();
        v.push(count(bed, "mux", "POST", "/video/v1/assets"));
        v.push(bed.requests("pk").len());
        v
    };
    assert_eq!(
        count(&bed, "mux", "POST", "/video/v1/assets"),
        2,
        "one asset, one track: {:?}",
        bed.requests("mux")
    );
    for (s, m, p) in &once {
        assert_eq!(count(&bed, s, m, p), 1, "{s} {m} {p} exactly once");
    }
    assert_eq!(
        bed.requests("pk").len(),
        4,
        "each announcement once: {:?}",
        bed.announcements()
    );
    assert_eq!(bed.field("vid_1", "state").await, "ready");
    let before = snapshot(&bed);
    let runs_before = bed.db.count("SELECT COUNT(*) AS n FROM runs", &[]).await;
    let steps_before = bed.db.count("SELECT COUNT(*) AS n FROM steps", &[]).await;

    // Replays: the same upload event and Deepgram's callback again.
    let again = d.api.send(uploaded()).await;
    assert_eq!(post_callback(&d.api.base, DG_SECRET).await.0, 200);
    d.api.drain_all().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(ev["duplicate"], true, "{ev}");
    assert_eq!(snapshot(&bed), before, "no request repeated");
    assert_eq!(bed.db.count("SELECT COUNT(*) AS n FROM runs", &[]).await, runs_before);
    assert_eq!(bed.db.count("SELECT COUNT(*) AS n FROM steps", &[]).await, steps_before);
    for f in [
        "video-uploaded",
        "order-transcript",
        "process-deepgram-transcript",
        "mux-video-asset-ready",
    ] {
        assert_eq!(statuses(&d.api, f).await, ["completed"], "{f}");
    }
    assert_eq!(statuses(&d.api, "add-srt-mux-asset").await, ["completed", "completed"]);
    assert_eq!(
        statuses(&d.api, "remove-video-after-completed").await,
        ["completed", "completed"]
    );
    // No step needed a second attempt (sleeps resolve in a second row of their own).
    assert_eq!(
        bed.db
            .count(
                "SELECT COUNT(*) AS n FROM steps WHERE status = 'completed' AND kind <> 'sleep' AND attempt > 0",
                &[]
            )
            .await,
        0,
        "no step ran twice"
    );
}
