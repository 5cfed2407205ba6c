//! Each function's other branches: missing data, skips, errored assets, existing tracks, the check limit, Mux's
//! 5xx, and PartyKit not configured.

use super::*;
use crate::both;
use crate::support::Backend;
use crate::support::process::Daemon;
use crate::workflows::harness::{step, step_ids};

async fn video(bed: &Bed, id: &str, fields: Value) {
    builders::resource(&bed.db.db, id, "videoResource", id, fields)
        .await
        .unwrap();
}

/// Sends one event and returns its one run once settled.
async fn run_of(d: &Daemon, event: Value) -> Value {
    let ids = d.api.send(event).await;
    d.api.drain().await;
    d.api.only_run(&ids[0]).await
}

both!(mux_errored_and_unknown_assets, mux_impl);
async fn mux_impl(b: Backend) {
    let bed = Bed::new(b).await;
    video(&bed, "vid_1", json!({"state": "processing", "muxAssetId": "as_1"})).await;
    // PartyKit answers 500 to the first attempt and all 3 retries: the announcement gives up, the run goes on.
    for _ in 0..4 {
        bed.fail("pk", 500, None);
    }
    let d = Daemon::start(&bed.env());
    assert_eq!(post_mux(&d.api.base, "video.asset.errored").await.0, 200);
    d.api.drain().await;
    assert_eq!(statuses(&d.api, "mux-video-asset-error").await, ["completed"]);
    let run = &d.api.runs_of_function("mux-video-asset-error").await[0];
    assert_eq!(step(run, "announce asset errored")["status"], "failed", "{run}");
    assert_eq!(bed.requests("pk").len(), 4);
    bed.fake.lock().unwrap().requests.retain(|r| r.0 != "pk");
    assert_eq!(
        post_mux(&d.api.base, "video.asset.errored").await.0,
        200,
        "a repeated webhook"
    );
    d.api.drain().await;
    assert_eq!(
        statuses(&d.api, "mux-video-asset-error").await,
        ["completed"],
        "Mux's event id deduplicates"
    );
    let (_, answer) = {
        let body =
            json!({"type": "video.asset.errored", "id": "mux-evt-2", "data": {"id": "as_1", "passthrough": "vid_1"}});
        let resp = crate::support::http_client()
            .post(format!("{}/webhooks/mux", d.api.base))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    d.api.drain().await;
    assert_eq!(
        d.api.only_run(answer["ids"][0].as_str().unwrap()).await["status"],
        "completed"
    );
    assert_eq!(statuses(&d.api, "mux-video-asset-ready").await, Vec::<String>::new());
    assert_eq!(bed.field("vid_1", "state").await, "errored");
    let pk = bed.requests("pk");
    assert_eq!(pk.len(), 1, "the second errored event was announced");
    assert_eq!(pk[0].path, "/party/vid_1");
    assert_eq!(
        pk[0].body,
        json!({"body": "Mux Asset Errored: as_1", "requestId": "vid_1", "name": "video.asset.errored"})
    );
    // An errored asset nobody knows: non-retriable failure; a ready one: nothing to update or announce.
    let unknown = |kind: &str| json!({"name": "mux/web-hook-event", "data": {"muxWebhookEvent": {"type": kind, "data": {"id": "as_9", "passthrough": "nope"}}}});
    let run = run_of(&d, unknown("video.asset.errored")).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(step_ids(&run), ["Load Video Resource"]);
    let run = run_of(&d, unknown("video.asset.ready")).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(step_ids(&run), ["Load Video Resource"]);
    assert_eq!(run["output"]["id"], "as_9");
    // Other Mux events start nothing.
    let ids = d.api.send(unknown("video.asset.created")).await;
    d.api.drain().await;
    assert!(d.api.runs_of(&ids[0]).await.is_empty());
    assert_eq!(bed.requests("pk").len(), 1);
}

both!(upload_without_user_parent_or_file_key, upload_impl);
async fn upload_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // PartyKit not configured: announcements are skipped, the pipeline goes on.
    let env: Vec<(String, String)> = bed
        .env()
        .into_iter()
        .filter(|(k, _)| k != "NEXT_PUBLIC_PARTY_KIT_URL")
        .collect();
    let d = Daemon::start(&env);
    let mut no_user = uploaded();
    no_user["user"] = json!({});
    no_user["id"] = json!("no-user");
    let run = run_of(&d, no_user).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"].as_str().unwrap().contains("event.user.id"),
        "{run}"
    );
    assert!(bed.requests("mux").is_empty());

    // Mux refuses the input (4xx): nothing is created, the run fails for good.
    bed.fail("mux", 400, None);
    let refused = json!({"name": "video/video-uploaded", "data": {"originalMediaUrl": "ftp://bad", "fileName": "vid_x"},
                         "user": {"id": "u1"}});
    let run = run_of(&d, refused).await;
    assert_eq!(
        (run["status"].as_str(), step_ids(&run)),
        (Some("failed"), vec!["create the mux asset".to_string()])
    );
    assert_eq!(bed.requests("mux").len(), 1, "a 400 is not retried");
    assert_eq!(
        bed.db
            .count("SELECT COUNT(*) AS n FROM content_resources WHERE id = 'vid_x'", &[])
            .await,
        0
    );
    bed.fake.lock().unwrap().requests.clear();

    let bare = json!({"name": "video/video-uploaded", "data": {"originalMediaUrl": "https://files/v2.mp4", "fileName": "vid_2"},
                      "user": {"id": "u1"}});
    let run = run_of(&d, bare).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_ids(&run),
        [
            "create the mux asset",
            "create the video resource in database",
            "get the video resource from database",
            "announce video resource created",
            "announce new video resource"
        ]
    );
    assert_eq!(
        step(&run, "announce video resource created")["output"],
        json!({"delivered": false, "reason": "PartyKit is not configured"})
    );
    assert_eq!(bed.requests("mux")[0].body["passthrough"], "vid_2");
    assert_eq!(
        statuses(&d.api, "remove-video-after-completed").await,
        Vec::<String>::new()
    );
    assert_eq!(statuses(&d.api, "order-transcript").await, ["completed"]);
    assert_eq!(bed.field("vid_2", "title").await, "vid_2");
    assert!(bed.requests("pk").is_empty());
    // A video resource that is missing fails the transcript order for good.
    let run = run_of(
        &d,
        json!({"name": "video-resource/created", "data": {"videoResourceId": "nope", "originalMediaUrl": "u"}}),
    )
    .await;
    assert_eq!(
        (run["status"].as_str(), step_ids(&run)),
        (Some("failed"), vec!["Load Video Resource".to_string()])
    );
}

both!(srt_track_branches, srt_impl);
async fn srt_impl(b: Backend) {
    let bed = Bed::new(b).await;
    video(&bed, "vid_1", json!({"state": "ready", "muxAssetId": "as_1"})).await;
    video(&bed, "vid_noasset", json!({"state": "processing"})).await;
    {
        let mut s = bed.fake.lock().unwrap();
        s.asset_status = "ready".into();
        s.tracks = vec!["tr_0".into()];
    }
    bed.fail("mux", 503, Some("1"));
    let d = Daemon::start(&bed.env());
    let srt_ready = |id: &str| json!({"name": "video/srt-ready", "data": {"videoResourceId": id}});
    let run = run_of(&d, srt_ready("vid_1")).await;
    assert_eq!(run["status"], "completed", "{run}");
    let mux: Vec<(String, String)> = bed.requests("mux").into_iter().map(|r| (r.method, r.path)).collect();
    let exp: Vec<(String, String)> = [
        ("GET", "/video/v1/assets/as_1"),
        ("GET", "/video/v1/assets/as_1"),
        ("DELETE", "/video/v1/assets/as_1/tracks/tr_0"),
        ("POST", "/video/v1/assets/as_1/tracks"),
        ("GET", "/video/v1/assets/as_1"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(mux, exp, "the 503 was retried; the old track replaced");
    assert_eq!(run["output"]["muxAsset"]["tracks"][0]["id"], "tr_1");

    for id in ["nope", "vid_noasset"] {
        let run = run_of(&d, srt_ready(id)).await;
        assert_eq!(
            (run["status"].as_str(), run["output"]["skipped"].as_bool()),
            (Some("completed"), Some(true)),
            "{run}"
        );
    }
    bed.set_asset_status("errored");
    let run = run_of(&d, srt_ready("vid_1")).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"]["message"].as_str().unwrap().contains("errored"), "{run}");
    // Past the cool-down limit the loop stops.
    bed.set_asset_status("preparing");
    let run = run_of(
        &d,
        json!({"name": "video/srt-ready", "data": {"videoResourceId": "vid_1", "coolDowns": 90}}),
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(bed.requests("mux").len(), 7, "two more GETs, nothing else");
}

both!(status_check_branches, status_impl);
async fn status_impl(b: Backend) {
    let bed = Bed::new(b).await;
    video(&bed, "vid_e", json!({"state": "errored"})).await;
    video(&bed, "vid_p", json!({"state": "processing"})).await;
    bed.fail("ut", 429, Some("1"));
    let d = Daemon::start(&bed.env());
    let check = |id: &str, n: u64| json!({"name": "video/status-check", "data": {"videoResourceId": id, "fileKey": format!("key_{id}"), "retryCount": n}});
    let run = run_of(&d, check("vid_p", 30)).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"]["message"].as_str().unwrap().contains("timed out"), "{run}");
    let run = run_of(&d, check("missing", 0)).await;
    assert_eq!(run["status"], "failed", "{run}");
    let run = run_of(&d, check("vid_p", 29)).await;
    assert_eq!(run["status"], "sleeping", "the 30th check still waits a day");
    let run = run_of(&d, check("vid_e", 0)).await;
    assert_eq!(run["status"], "sleeping", "{run}");
    assert_eq!(
        bed.make_sleep_due("remove-video-after-completed", "wait a few just to be sure")
            .await,
        1
    );
    d.api.drain().await;
    let ut = bed.requests("ut");
    assert_eq!(ut.len(), 2, "the 429 was retried after its Retry-After");
    assert_eq!(ut[0], ut[1]);
    assert_eq!(
        (ut[1].body.clone(), ut[1].auth.as_str()),
        (json!({"fileKeys": ["key_vid_e"]}), "sk_ut")
    );
    assert_eq!(d.api.run(run["id"].as_str().unwrap()).await["status"], "completed");
}

both!(seo_and_transcript_branches, seo_impl);
async fn seo_impl(b: Backend) {
    let bed = Bed::new(b).await;
    video(&bed, "vid_d", json!({"state": "ready", "transcript": "[00:00] Hi\n\n"})).await;
    video(&bed, "vid_alone", json!({"state": "ready"})).await;
    builders::resource(
        &bed.db.db,
        "post_1",
        "post",
        "Post",
        json!({"description": "Already here"}),
    )
    .await
    .unwrap();
    builders::children(&bed.db.db, "post_1", &["vid_d"]).await.unwrap();
    let d = Daemon::start(&bed.env());
    let ready = |id: &str| json!({"name": "video/transcript-ready-event", "data": {"videoResourceId": id}});
    let ids = d.api.send(ready("vid_d")).await;
    d.api.drain().await;
    for run in d.api.runs_of(&ids[0]).await {
        assert_eq!(run["status"], "completed", "{run}");
        if run["function_id"] == "auto-generate-post-seo-description" {
            assert_eq!(run["output"]["reason"], "the resource already has a description");
        }
    }
    assert_eq!(
        bed.requests("pk")[0].body,
        json!({"body": "[00:00] Hi\n\n", "requestId": "vid_d", "name": "transcript.ready"})
    );
    let ids = d.api.send(ready("vid_alone")).await;
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    let seo = runs
        .iter()
        .find(|r| r["function_id"] == "auto-generate-post-seo-description")
        .unwrap();
    assert_eq!(seo["output"]["reason"], "no post or lesson has this video", "{seo}");
    let ids = d
        .api
        .send(json!({"name": "video/transcript-ready-event", "data": {}}))
        .await;
    d.api.drain().await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["status"] == "failed"), "{runs:?}");
    assert_eq!(
        bed.db
            .count(
                "SELECT COUNT(*) AS n FROM events WHERE name = 'resource/chat-request-event'",
                &[]
            )
            .await,
        0,
        "no description requested"
    );
}

both!(callback_without_words_or_video, callback_impl);
async fn callback_impl(b: Backend) {
    let bed = Bed::new(b).await;
    video(&bed, "vid_t", json!({"state": "ready"})).await;
    let d = Daemon::start(&bed.env());
    let post = |video: &'static str, request_id: &'static str| {
        let base = d.api.base.clone();
        async move {
            let body = json!({"metadata": {"request_id": request_id},
                "results": {"channels": [{"alternatives": [{"transcript": "Just text.", "confidence": 0.9, "words": []}]}]}});
            crate::support::http_client()
                .post(format!(
                    "{base}/webhooks/deepgram?videoResourceId={video}&secret={DG_SECRET}"
                ))
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // No words: the transcript is stored and announced, no subtitles and no srt-ready.
    let answer = post("vid_t", "req_t").await;
    d.api.drain().await;
    let run = d.api.only_run(answer["ids"][0].as_str().unwrap()).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        step_ids(&run),
        [
            "Load Video Resource",
            "store the raw transcript",
            "update the video resource with the transcript",
            "announce that the transcript is ready"
        ]
    );
    assert_eq!(bed.field("vid_t", "transcript").await, "[00:00] Just text.\n\n");
    assert_eq!(bed.field("vid_t", "srt").await, "");
    assert_eq!(run["output"]["srtLength"], 0);
    assert_eq!(statuses(&d.api, "add-srt-mux-asset").await, Vec::<String>::new());
    assert_eq!(statuses(&d.api, "transcript-ready-event").await, ["completed"]);
    assert_eq!(
        bed.field("raw-transcript-vid_t", "deepgramResults").await["channels"][0]["alternatives"][0]["transcript"],
        "Just text."
    );
    // A callback for a video that does not exist fails for good.
    let answer = post("vid_gone", "req_g").await;
    d.api.drain().await;
    let run = d.api.only_run(answer["ids"][0].as_str().unwrap()).await;
    assert_eq!(
        (run["status"].as_str(), step_ids(&run)),
        (Some("failed"), vec!["Load Video Resource".to_string()])
    );
}
