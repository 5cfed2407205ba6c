//! The whole pipeline as one scenario: `video/video-uploaded` → Mux asset → Deepgram order (a 429 first) → signed
//! Deepgram callback → transcript and SRT stored → `video/srt-ready` → the asset is still preparing, the cool-down
//! re-checks, the text track is added once it is ready → `mux/web-hook-event` ready → the upload is deleted from
//! UploadThing after the wait. PartyKit receives the announcements in order (the first one after a 500).

use super::*;
use crate::both;
use crate::support::Backend;
use crate::support::process::Daemon;
use crate::workflows::harness::{emitted, step_ids};

pub const SRT: &str = "1\n00:00:00,080 --> 00:00:02,120\nHello, world. This is a test of the\n\n\
                       2\n00:00:02,120 --> 00:00:03,200\nsubtitle splitter.\n\n\
                       3\n00:00:07,500 --> 00:00:08,600\nAfter a pause.\n";
pub const TRANSCRIPT: &str =
    "[00:00] Hello, world. This is a test of the subtitle splitter.\n\n[00:07] After a pause.\n\n";

fn query(path: &str) -> std::collections::BTreeMap<String, String> {
    reqwest::Url::parse(&format!("http://x{path}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

both!(upload_to_subtitles_to_cleanup, scenario_impl);
async fn scenario_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.fail("dg", 429, Some("1"));
    bed.fail("pk", 500, None);
    let d = Daemon::start(&bed.env());

    // 1. The upload: asset, video resource attached to the lesson, transcript ordered, status check sleeping.
    d.api.send(uploaded()).await;
    d.api.drain().await;
    let mux = bed.requests("mux");
    assert_eq!(mux.len(), 1);
    assert_eq!(
        (mux[0].method.as_str(), mux[0].path.as_str()),
        ("POST", "/video/v1/assets")
    );
    assert_eq!(mux[0].auth, "Basic bXV4X2lkOm11eF9zZWNyZXQ=");
    assert_eq!(
        mux[0].body,
        json!({"master_access": "temporary", "video_quality": "plus", "max_resolution_tier": "2160p",
               "playback_policy": ["public"], "input": [{"url": "https://utfs.io/f/key1"}],
               "mp4_support": "standard", "passthrough": "vid_1"})
    );
    let dg = bed.requests("dg");
    assert_eq!(dg.len(), 2, "the 429 was retried after its Retry-After");
    assert_eq!(dg[0], dg[1]);
    assert_eq!(dg[1].auth, "Token dg_key");
    assert_eq!(dg[1].body, json!({"url": "https://utfs.io/f/key1"}));
    let q = query(&dg[1].path);
    assert_eq!(
        (
            q["model"].as_str(),
            q["punctuate"].as_str(),
            q["paragraphs"].as_str(),
            q["utterances"].as_str(),
            q["utt_split"].as_str()
        ),
        ("whisper-large", "true", "true", "true", "0.5")
    );
    assert_eq!(
        q["callback"],
        format!("{PUBLIC_URL}/webhooks/deepgram?videoResourceId=vid_1&secret={DG_SECRET}")
    );
    assert_eq!(bed.field("vid_1", "state").await, "processing");
    assert_eq!(bed.field("vid_1", "muxAssetId").await, "as_1");
    assert_eq!(bed.field("vid_1", "muxPlaybackId").await, "pb_1");
    let live = bed
        .db
        .count(
            "SELECT COUNT(*) AS n FROM content_resource_resources WHERE resource_of_id = 'lesson_1' AND resource_id = $1 AND deleted_at IS NULL",
            &["vid_1"],
        )
        .await;
    let old = bed
        .db
        .count(
            "SELECT COUNT(*) AS n FROM content_resource_resources WHERE resource_of_id = 'lesson_1' AND resource_id = $1 AND deleted_at IS NULL",
            &["old_video"],
        )
        .await;
    assert_eq!((live, old), (1, 0), "one video per lesson: the old one is detached");
    assert_eq!(statuses(&d.api, "remove-video-after-completed").await, ["sleeping"]);
    let upload_run = &d.api.runs_of_function("video-uploaded").await[0];
    let created = emitted(&bed.db, &d.api, upload_run, "announce new video resource").await;
    assert_eq!(created[0]["event"]["name"], "video-resource/created");
    assert_eq!(
        created[0]["event"]["data"],
        json!({"videoResourceId": "vid_1", "originalMediaUrl": "https://utfs.io/f/key1", "moduleSlug": null})
    );

    // 2. Deepgram calls back: transcript stored, announced, SEO description requested, subtitles wait for Mux.
    let (status, _) = post_callback(&d.api.base, "wrong").await;
    assert_eq!(status, 401, "a callback without our secret is refused");
    let (status, answer) = post_callback(&d.api.base, DG_SECRET).await;
    assert_eq!(status, 200, "{answer}");
    d.api.drain().await;
    assert_eq!(bed.field("vid_1", "srt").await, SRT);
    assert_eq!(bed.field("vid_1", "transcript").await, TRANSCRIPT);
    let wl = bed.field("vid_1", "wordLevelSrt").await;
    assert!(
        wl.as_str()
            .unwrap()
            .starts_with("1\n00:00:00,080 --> 00:00:00,320\nHello,\n\n"),
        "{wl}"
    );
    let raw = bed.field("raw-transcript-vid_1", "deepgramResults").await;
    assert_eq!(
        raw["channels"][0]["alternatives"][0]["words"].as_array().unwrap().len(),
        13
    );
    assert_eq!(
        bed.db
            .count("SELECT COUNT(*) AS n FROM content_resource_resources WHERE resource_of_id = 'vid_1' AND resource_id = 'raw-transcript-vid_1'", &[])
            .await,
        1
    );
    let process = &d.api.runs_of_function("process-deepgram-transcript").await[0];
    assert_eq!(process["status"], "completed", "{process}");
    for (step, name) in [
        ("announce that the transcript is ready", "video/transcript-ready-event"),
        ("announce that srt is ready", "video/srt-ready"),
    ] {
        let ev = emitted(&bed.db, &d.api, process, step).await;
        assert_eq!(
            (ev[0]["event"]["name"].as_str(), &ev[0]["event"]["data"]),
            (Some(name), &json!({"videoResourceId": "vid_1"}))
        );
    }
    let seo = &d.api.runs_of_function("auto-generate-post-seo-description").await[0];
    let chat = emitted(&bed.db, &d.api, seo, "trigger seo description generation").await;
    assert_eq!(chat[0]["event"]["name"], "resource/chat-request-event");
    assert_eq!(chat[0]["event"]["data"]["resourceId"], "lesson_1");
    assert_eq!(chat[0]["event"]["data"]["selectedWorkflow"], "prompt-0541t");
    assert!(
        chat[0]["event"]["data"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Generate a SEO-friendly description for this lesson.")
    );
    assert_eq!(
        chat[0]["event"]["user"],
        json!({"id": "u1", "email": "ada@example.com"})
    );
    assert_eq!(
        statuses(&d.api, "add-srt-mux-asset").await,
        ["sleeping"],
        "the asset is still preparing"
    );

    // 3. Mux finishes; the cool-down ends; the re-check adds the subtitles track.
    bed.set_asset_status("ready");
    assert_eq!(bed.make_sleep_due("add-srt-mux-asset", "wait for 20 seconds").await, 1);
    d.api.drain().await;
    assert_eq!(statuses(&d.api, "add-srt-mux-asset").await, ["completed", "completed"]);
    let mux: Vec<(String, String)> = bed.requests("mux").into_iter().map(|r| (r.method, r.path)).collect();
    let expected: Vec<(String, String)> = [
        ("POST", "/video/v1/assets"),
        ("GET", "/video/v1/assets/as_1"),
        ("GET", "/video/v1/assets/as_1"),
        ("POST", "/video/v1/assets/as_1/tracks"),
        ("GET", "/video/v1/assets/as_1"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(mux, expected);
    assert_eq!(
        bed.requests("mux")[3].body,
        json!({"url": format!("{PUBLIC_URL}/api/coursebuilder/srt/internal?videoResourceId=vid_1"), "type": "text",
               "text_type": "subtitles", "closed_captions": true, "language_code": "en-US", "name": "English",
               "passthrough": "English"})
    );

    // 4. Mux's webhook: the video is ready.
    let (status, _) = post_mux(&d.api.base, "video.asset.ready").await;
    assert_eq!(status, 200);
    d.api.drain().await;
    assert_eq!(bed.field("vid_1", "state").await, "ready");
    assert_eq!(statuses(&d.api, "mux-video-asset-error").await, Vec::<String>::new());

    // 5. The daily check finds the video ready; 30 minutes later the upload is deleted.
    assert!(bed.requests("ut").is_empty());
    assert_eq!(
        bed.make_sleep_due("remove-video-after-completed", "wait a day").await,
        1
    );
    d.api.drain().await;
    assert_eq!(
        statuses(&d.api, "remove-video-after-completed").await,
        ["completed", "sleeping"]
    );
    assert!(bed.requests("ut").is_empty(), "nothing deleted before the grace period");
    assert_eq!(
        bed.make_sleep_due("remove-video-after-completed", "wait a few just to be sure")
            .await,
        1
    );
    d.api.drain_all().await;
    let ut = bed.requests("ut");
    assert_eq!(ut.len(), 1);
    assert_eq!((ut[0].path.as_str(), ut[0].auth.as_str()), ("/v6/deleteFiles", "sk_ut"));
    assert_eq!(ut[0].body, json!({"fileKeys": ["key1"]}));
    let last = &d.api.runs_of_function("remove-video-after-completed").await[0];
    assert_eq!(
        step_ids(last),
        [
            "Load Video Resource",
            "wait a few just to be sure",
            "delete file from uploadthing"
        ]
    );

    // PartyKit heard everything, in order, the first after one retry.
    let created = (
        "/party/vid_1".to_string(),
        "videoResource.created".to_string(),
        "vid_1".to_string(),
    );
    assert_eq!(
        bed.announcements(),
        [
            created.clone(),
            created,
            ("/party/vid_1".into(), "transcript.ready".into(), "vid_1".into()),
            // resource-chat, started by the SEO request, tells the lesson's editors it was prompted.
            (
                "/party/lesson_1".into(),
                "resource.chat.prompted".into(),
                "lesson_1".into()
            ),
            ("/party/vid_1".into(), "video.asset.ready".into(), "vid_1".into()),
        ]
    );
    let pk = bed.requests("pk");
    assert_eq!(pk[2].body["body"], TRANSCRIPT);
    assert_eq!(pk[4].body["body"], "pb_1");
    assert_eq!(pk[1].body["body"]["id"], "vid_1");
    for f in [
        "video-uploaded",
        "order-transcript",
        "process-deepgram-transcript",
        "transcript-ready-event",
        "auto-generate-post-seo-description",
        "mux-video-asset-ready",
    ] {
        assert_eq!(statuses(&d.api, f).await, ["completed"], "{f}");
    }
    assert_eq!(
        statuses(&d.api, "remove-video-after-completed").await,
        ["completed", "completed"]
    );
}
