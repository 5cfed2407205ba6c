//! The content and AI functions end to end against one wiremock fake answering as PartyKit (`/party/<room>`),
//! OpenAI (`/v1/...`), Pinecone (`/query`, `/vectors/upsert`), S3 (`/<bucket>/<key>`, path style), Textract (`POST /`
//! with `X-Amz-Target`) and a screenshot host (`/shots/...`): `video-resource-attached` / `-detached`,
//! `image-resource-created`, `compute-video-split-points`, `get-or-create-concept`, `perform-code-extraction` —
//! every branch, the exact requests, rows and outputs; a kill -9 while Textract holds its answer, and a replay.

use super::harness::{Hang, step};
use crate::both;
use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use ingot::seed::builders;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(super) struct Bed {
    pub db: TestDb,
    pub fake: MockServer,
}

impl Bed {
    pub async fn new(b: Backend) -> Bed {
        let db = TestDb::new(b).await;
        let fake = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex("^/party/"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&fake)
            .await;
        Bed { db, fake }
    }

    /// Every service at the fake (Textract at `textract`, when given).
    pub fn env(&self, textract: Option<&str>) -> Vec<(String, String)> {
        let u = self.fake.uri();
        let mut env = base_env(&self.db.url);
        for (k, v) in [
            ("NEXT_PUBLIC_PARTY_KIT_URL", u.clone()),
            ("NEXT_PUBLIC_PARTYKIT_ROOM_NAME", "site-room".into()),
            ("OPENAI_API_KEY", "sk-test".into()),
            ("OPENAI_API_BASE_URL", format!("{u}/v1")),
            ("PINECONE_API_KEY", "pc-test".into()),
            ("PINECONE_INDEX_HOST", u.clone()),
            ("AWS_REGION", "us-west-2".into()),
            ("AWS_ACCESS_KEY_ID", "AKIDTEST".into()),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret".into()),
            ("AWS_S3_BASE_URL", u.clone()),
            ("AWS_TEXTRACT_BASE_URL", textract.map_or(u.clone(), str::to_string)),
        ] {
            env.push((k.into(), v));
        }
        env
    }

    /// `(method, path, JSON body)` of the requests whose path starts with `prefix`, in order.
    pub async fn requests(&self, prefix: &str) -> Vec<(String, String, Value)> {
        self.fake
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().starts_with(prefix))
            .map(|r| {
                (
                    r.method.to_string(),
                    r.url.path().to_string(),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }
}

async fn one_run(api: &Api, event: Value) -> Value {
    let ids = api.send(event).await;
    api.drain().await;
    api.only_run(&ids[0]).await
}

both!(video_attached_and_detached_announce_to_the_post, attached_impl);
async fn attached_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let d = Daemon::start(&bed.env(None));
    let run = one_run(
        &d.api,
        json!({"name": "video.asset.attached", "data": {"postId": "post_1", "videoResourceId": "vr_1"}}),
    )
    .await;
    assert_eq!(
        (run["function_id"].as_str(), run["status"].as_str()),
        (Some("video-resource-attached"), Some("completed")),
        "{run}"
    );
    assert_eq!(run["output"], "vr_1");
    assert_eq!(step(&run, "announce video asset attached")["output"]["delivered"], true);
    let run = one_run(
        &d.api,
        json!({"name": "video/detached", "data": {"resourceId": "post_1", "videoResourceId": "vr_1"}}),
    )
    .await;
    assert_eq!(
        (run["function_id"].as_str(), run["status"].as_str()),
        (Some("video-resource-detached"), Some("completed")),
        "{run}"
    );
    // No post: nothing to tell, the run fails at once.
    let run = one_run(
        &d.api,
        json!({"name": "video/attached", "data": {"videoResourceId": "vr_2"}}),
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        bed.requests("/party/").await,
        [
            (
                "POST".into(),
                "/party/post_1".into(),
                json!({"body": {"postId": "post_1", "videoResourceId": "vr_1"}, "requestId": "vr_1", "name": "video.asset.attached"})
            ),
            (
                "POST".into(),
                "/party/post_1".into(),
                json!({"body": {"resourceId": "post_1", "videoResourceId": "vr_1"}, "requestId": "vr_1", "name": "video.asset.detached"})
            ),
        ]
    );
}

both!(image_created_announces_in_the_site_room_after_a_429, image_impl);
async fn image_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.fake.reset().await;
    Mock::given(path("/party/site-room"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&bed.fake)
        .await;
    Mock::given(path("/party/site-room"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&bed.fake)
        .await;
    let d = Daemon::start(&bed.env(None));
    let run = one_run(
        &d.api,
        json!({"name": "cloudinary/web-hook-event", "data": {"resourceId": "img_1"}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "img_1");
    let history: Vec<&str> = step(&run, "announce asset created")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["errored", "completed"], "the 429 was retried");
    let message = json!({"body": {"resourceId": "img_1"}, "requestId": "img_1", "name": "image.resource.created"});
    let reqs = bed.requests("/party/").await;
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs.iter().all(|r| r.1 == "/party/site-room" && r.2 == message),
        "{reqs:?}"
    );
    let run = one_run(&d.api, json!({"name": "image/resource-created", "data": {}})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(bed.requests("/party/").await.len(), 2);
}

fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"id": "c", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}))
}

both!(split_points_are_asked_validated_and_saved, split_impl);
async fn split_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let db = &bed.db.db;
    builders::resource(
        db,
        "vr_t",
        "videoResource",
        "Talk",
        json!({"transcript": "[00:00] Intro. [01:00] Setup. [02:30] Wrap up."}),
    )
    .await
    .unwrap();
    builders::resource(
        db,
        "vr_bad",
        "videoResource",
        "Bad",
        json!({"transcript": "[00:00] A [00:40] B"}),
    )
    .await
    .unwrap();
    builders::resource(db, "vr_none", "videoResource", "None", json!({}))
        .await
        .unwrap();
    let good = json!({"splitPoints": [{"time": 60, "title": "Setup"}, {"time": 150, "title": "Wrap up"}]});
    Mock::given(path("/v1/chat/completions"))
        .and(body_string_contains("Intro."))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&bed.fake)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .and(body_string_contains("Intro."))
        .respond_with(completion(&good.to_string()))
        .mount(&bed.fake)
        .await;
    // Past the end (00:40) and not increasing.
    Mock::given(path("/v1/chat/completions"))
        .and(body_string_contains("[00:40] B"))
        .respond_with(completion(
            r#"{"splitPoints": [{"time": 30, "title": "B"}, {"time": 20, "title": "C"}]}"#,
        ))
        .mount(&bed.fake)
        .await;
    let d = Daemon::start(&bed.env(None));
    let run = one_run(
        &d.api,
        json!({"name": "split_video/request_split_points", "data": {"resource_id": "vr_t"}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    // Times are numbers of seconds (floats once validated).
    let points = json!([{"time": 60.0, "title": "Setup"}, {"time": 150.0, "title": "Wrap up"}]);
    assert_eq!(run["output"], json!({"videoResourceId": "vr_t", "splitPoints": points}));
    let reqs = bed.requests("/v1/chat/completions").await;
    assert_eq!(reqs.len(), 2, "one 500, then the answer");
    assert_eq!(reqs[1].2["model"], "gpt-4o");
    assert_eq!(reqs[1].2["response_format"], json!({"type": "json_object"}));
    assert!(
        reqs[1].2["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("ends at 150 seconds")
    );
    let fields = ingot::platform::content::get_content_resource(db, "vr_t")
        .await
        .unwrap()
        .unwrap()
        .fields;
    assert_eq!(fields["splitPoints"], points);

    let run = one_run(
        &d.api,
        json!({"name": "video/split-points-requested", "data": {"videoResourceId": "vr_bad"}}),
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run.to_string().contains("invalid split points"), "{run}");
    assert_eq!(
        bed.requests("/v1/chat/completions").await.len(),
        6,
        "the first try and 3 retries"
    );
    for (data, why) in [
        (json!({"videoResourceId": "vr_none"}), "no transcript"),
        (json!({"videoResourceId": "vr_missing"}), "Video resource not found"),
    ] {
        let run = one_run(&d.api, json!({"name": "video/split-points-requested", "data": data})).await;
        assert_eq!(run["status"], "failed", "{run}");
        assert!(run.to_string().contains(why), "{run}");
    }
    assert_eq!(
        bed.requests("/v1/chat/completions").await.len(),
        6,
        "no call without a transcript"
    );
}

both!(concepts_are_found_or_created, concept_impl);
async fn concept_impl(b: Backend) {
    let bed = Bed::new(b).await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}]}),
        ))
        .mount(&bed.fake)
        .await;
    Mock::given(path("/query"))
        .and(header("api-key", "pc-test"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"namespace": "", "matches": [
            {"id": "cargo", "score": 0.85, "metadata": {"aliases": []}},
            {"id": "python", "score": 0.3, "metadata": {"aliases": []}}]})),
        )
        .mount(&bed.fake)
        .await;
    Mock::given(path("/vectors/upsert"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"upsertedCount": 1})))
        .mount(&bed.fake)
        .await;
    let d = Daemon::start(&bed.env(None));
    let run = one_run(
        &d.api,
        json!({"name": "concepts/tags-requested-event", "data": {"key": " rust "}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"new_concept": "rust", "existing": false, "related_concepts": [{"id": "cargo", "score": 0.85, "metadata": {"aliases": []}}]})
    );
    assert_eq!(
        bed.requests("/v1/embeddings").await[0].2,
        json!({"model": "text-embedding-3-small", "input": "rust", "encoding_format": "float"})
    );
    assert_eq!(
        bed.requests("/query").await[0].2,
        json!({"vector": [0.5, 0.25], "topK": 5, "includeMetadata": true, "includeValues": false})
    );
    assert_eq!(
        bed.requests("/vectors/upsert").await,
        [(
            "POST".into(),
            "/vectors/upsert".into(),
            json!({"vectors": [{"id": "rust", "values": [0.5, 0.25], "metadata": {"aliases": []}}]})
        )]
    );
    // An existing concept is returned, not written again.
    let run = one_run(
        &d.api,
        json!({"name": "concept/tags-requested", "data": {"text": "cargo"}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"new_concept": null, "existing": true, "related_concepts": []})
    );
    assert_eq!(bed.requests("/vectors/upsert").await.len(), 1);
    let run = one_run(
        &d.api,
        json!({"name": "concept/tags-requested", "data": {"text": "  "}}),
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(bed.requests("/v1/embeddings").await.len(), 2);
}

const CODE: &str = "```rust\nfn main() {}\n```";

async fn mount_extraction(fake: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/shots/a.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"PNGBYTES".to_vec()))
        .mount(fake)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/coursebuilderimages/ocr/[0-9]+\\.png$"))
        .respond_with(ResponseTemplate::new(200))
        .mount(fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", "Textract.DetectDocumentText"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Blocks": [
            {"BlockType": "PAGE"}, {"BlockType": "LINE", "Text": "fn main()"}, {"BlockType": "WORD", "Text": "fn"},
            {"BlockType": "LINE", "Text": "{}"}]})))
        .mount(fake)
        .await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(completion(CODE))
        .mount(fake)
        .await;
}

fn ocr_event(resource: Option<&str>) -> Value {
    json!({"name": "ocr/web-hook-event", "data": {"ocrWebhookEvent": {"screenshotUrl": "SHOT", "resourceId": resource}}})
}

both!(code_is_extracted_from_a_screenshot, extraction_impl);
async fn extraction_impl(b: Backend) {
    let bed = Bed::new(b).await;
    // Textract throttles once: only that step runs again.
    Mock::given(path("/"))
        .and(header("x-amz-target", "Textract.DetectDocumentText"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"__type": "ThrottlingException", "message": "Rate exceeded"})),
        )
        .up_to_n_times(1)
        .mount(&bed.fake)
        .await;
    mount_extraction(&bed.fake).await;
    let d = Daemon::start(&bed.env(None));
    let shot = format!("{}/shots/a.png", bed.fake.uri());
    let mut event = ocr_event(Some("res_1"));
    event["data"]["ocrWebhookEvent"]["screenshotUrl"] = json!(shot);
    let run = one_run(&d.api, event.clone()).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], CODE);
    let puts = bed.requests("/coursebuilderimages/").await;
    assert_eq!(puts.len(), 1, "uploaded once");
    let key = puts[0].1.trim_start_matches("/coursebuilderimages/").to_string();
    let textract = bed
        .requests("/")
        .await
        .into_iter()
        .filter(|r| r.1 == "/")
        .collect::<Vec<_>>();
    assert_eq!(textract.len(), 2, "throttled, then answered");
    assert_eq!(
        textract[1].2,
        json!({"Document": {"S3Object": {"Bucket": "coursebuilderimages", "Name": key}}})
    );
    let chat = bed.requests("/v1/chat/completions").await;
    assert_eq!(chat[0].2["model"], "gpt-4");
    assert!(
        chat[0].2["messages"][1]["content"]
            .as_str()
            .unwrap()
            .ends_with("fn main()\n{}")
    );
    assert_eq!(
        bed.requests("/party/").await,
        [(
            "POST".into(),
            "/party/res_1".into(),
            json!({"body": {"content": CODE, "role": "assistant"}, "requestId": "res_1", "name": "code.extraction.completed"})
        )]
    );
    // The event from /webhooks/ocr (`ocr/webhook`, `{data: {...}}`) without a resource: no announcement.
    let run = one_run(
        &d.api,
        json!({"name": "ocr/webhook", "data": {"data": {"screenshotUrl": shot}}}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["name"].as_str().unwrap().starts_with("partykit"))
    );
    assert_eq!(bed.requests("/party/").await.len(), 1);
    // No screenshot: fails at once, nothing is called.
    let before = bed.fake.received_requests().await.unwrap().len();
    let mut none = ocr_event(Some("res_2"));
    none["data"]["ocrWebhookEvent"]["screenshotUrl"] = Value::Null;
    let run = one_run(&d.api, none).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run.to_string().contains("no screenshotUrl"), "{run}");
    assert_eq!(bed.fake.received_requests().await.unwrap().len(), before);
}

both!(kill9_while_textract_answers_uploads_once, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b).await;
    mount_extraction(&bed.fake).await;
    let hang = Hang::start().await;
    let d = Daemon::start(&bed.env(Some(&format!("http://127.0.0.1:{}", hang.port))));
    let mut event = ocr_event(Some("res_k"));
    event["id"] = json!("ocr-kill-1");
    event["data"]["ocrWebhookEvent"]["screenshotUrl"] = json!(format!("{}/shots/a.png", bed.fake.uri()));
    let ids = d.api.send(event.clone()).await;
    hang.until_connected().await;
    d.kill9();
    let d = Daemon::start(&bed.env(None));
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(bed.requests("/shots/").await.len(), 1, "downloaded once");
    assert_eq!(bed.requests("/coursebuilderimages/").await.len(), 1, "uploaded once");
    assert_eq!(bed.requests("/party/").await.len(), 1, "announced once");
    // A replay of the same event starts nothing and calls nothing.
    let before = bed.fake.received_requests().await.unwrap().len();
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(bed.fake.received_requests().await.unwrap().len(), before);
}

both!(kill9_while_partykit_answers_announces_once, kill9_announce_impl);
async fn kill9_announce_impl(b: Backend) {
    let bed = Bed::new(b).await;
    let hang = Hang::start().await;
    let hanging: Vec<(String, String)> = bed
        .env(None)
        .into_iter()
        .map(|(k, v)| {
            if k == "NEXT_PUBLIC_PARTY_KIT_URL" {
                (k, format!("http://127.0.0.1:{}", hang.port))
            } else {
                (k, v)
            }
        })
        .collect();
    let d = Daemon::start(&hanging);
    let event = json!({"id": "attach-kill-1", "name": "video/attached", "data": {"resourceId": "post_9", "videoResourceId": "vr_9"}});
    let ids = d.api.send(event.clone()).await;
    hang.until_connected().await;
    d.kill9();
    let d = Daemon::start(&bed.env(None));
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], "vr_9");
    let expected = [(
        "POST".to_string(),
        "/party/post_9".to_string(),
        json!({"body": {"resourceId": "post_9", "videoResourceId": "vr_9"}, "requestId": "vr_9", "name": "video.asset.attached"}),
    )];
    assert_eq!(bed.requests("/party/").await, expected);
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(bed.requests("/party/").await, expected, "the replay announced nothing");
}
