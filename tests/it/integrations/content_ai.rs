//! Pinecone, the streamed and JSON-mode OpenAI completions, and downloads: the exact requests, the failure
//! classification (429 + Retry-After, 5xx, malformed bodies, timeouts), not configured, secrets never in errors,
//! and the dry run of every new service.

use super::media::failure_matrix;
use super::*;
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::integrations::Integrations;
use ingot::integrations::download::Download;
use ingot::integrations::openai::{Message, OpenAi};
use ingot::integrations::openai_chat::ChatStream;
use ingot::integrations::pinecone::Pinecone;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn pinecone_queries_and_upserts() {
    let s = fake().await;
    let cfg = settings(&[("PINECONE_API_KEY", "pc-secret-key"), ("PINECONE_INDEX_HOST", &s.uri())]);
    let pc = Pinecone::new(http("pinecone", &s.uri()), &cfg);
    Mock::given(method("POST"))
        .and(path("/query"))
        .and(header("api-key", "pc-secret-key"))
        .and(header("x-pinecone-api-version", "2025-01"))
        .and(body_json(
            json!({"vector": [0.5, -0.25], "topK": 5, "includeMetadata": true, "includeValues": false}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"matches": [
            {"id": "rust", "score": 0.91, "values": [], "metadata": {"aliases": []}}
        ], "namespace": "", "usage": {"readUnits": 5}})))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/vectors/upsert"))
        .and(body_json(
            json!({"vectors": [{"id": "rust", "values": [0.5, -0.25], "metadata": {"aliases": []}}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"upsertedCount": 1})))
        .mount(&s)
        .await;
    let m = pc.query(&[0.5, -0.25], 5).await.unwrap();
    assert_eq!((m[0].id.as_str(), m[0].score), ("rust", 0.91));
    assert_eq!(
        pc.upsert("rust", &[0.5, -0.25], json!({"aliases": []})).await.unwrap(),
        1
    );
    s.reset().await;
    failure_matrix(
        &s,
        "/query",
        json!({"matches": []}),
        "Vector dimension 2 does not match",
        || pc.query(&[0.5, -0.25], 5),
    )
    .await;
    s.reset().await;
    Mock::given(path("/vectors/upsert"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&s)
        .await;
    assert_bad_response(pc.upsert("k", &[1.0], json!({})).await.unwrap_err());
    s.reset().await;
    Mock::given(path("/query"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"code": 16, "message": "Invalid API Key"})))
        .mount(&s)
        .await;
    let e = pc.query(&[1.0], 5).await.unwrap_err();
    assert!(!format!("{e} {e:?}").contains("pc-secret-key"), "{e:?}");
    assert_rejected(e, 401, "Invalid API Key");
    let none = Pinecone::new(http("pinecone", &s.uri()), &settings(&[]));
    assert_not_configured(
        none.query(&[1.0], 5).await.unwrap_err(),
        &["PINECONE_API_KEY", "PINECONE_INDEX_HOST"],
    );
}

fn sse(deltas: &[&str], done: bool) -> String {
    let mut body = String::from(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    );
    for d in deltas {
        let chunk =
            json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": d}}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    body
}

async fn collect(mut stream: ChatStream) -> Result<Vec<String>, ServiceError> {
    let mut out = Vec::new();
    while let Some(d) = stream.next_delta().await? {
        out.push(d);
    }
    Ok(out)
}

#[tokio::test]
async fn openai_streams_a_completion() {
    let s = fake().await;
    let ai = OpenAi::new(
        http("openai", &format!("{}/v1", s.uri())),
        &settings(&[("OPENAI_API_KEY", "sk-stream")]),
    );
    let msgs = [Message::system("be brief"), Message::user("hi")];
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-stream"))
        .and(body_json(
            json!({"model": "gpt-4-turbo", "messages": msgs, "stream": true}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse(&["Hel", "lo", " there"], true)),
        )
        .mount(&s)
        .await;
    let deltas = collect(ai.chat_stream("gpt-4-turbo", &msgs).await.unwrap())
        .await
        .unwrap();
    assert_eq!(deltas, ["Hel", "lo", " there"]);
    s.reset().await;

    let stream_of = |body: String| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/event-stream")
            .set_body_string(body)
    };
    // Ends before [DONE]; a line that is not JSON; an error object in the stream.
    for (body, kind) in [
        (sse(&["a"], false), "bad"),
        ("data: {not json\n\n".to_string(), "bad"),
        (
            "data: {\"error\":{\"message\":\"The server had an error\"}}\n\n".to_string(),
            "unavailable",
        ),
    ] {
        Mock::given(path("/v1/chat/completions"))
            .respond_with(stream_of(body))
            .mount(&s)
            .await;
        let e = collect(ai.chat_stream("m", &msgs).await.unwrap()).await.unwrap_err();
        match kind {
            "bad" => assert_bad_response(e),
            _ => assert_unavailable(e),
        }
        s.reset().await;
    }
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "6"))
        .mount(&s)
        .await;
    assert_rate_limited(ai.chat_stream("m", &msgs).await.err().unwrap(), 6);
    s.reset().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&s)
        .await;
    assert_unavailable(ai.chat_stream("m", &msgs).await.err().unwrap());
    s.reset().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "Incorrect API key provided"}})),
        )
        .mount(&s)
        .await;
    let e = ai.chat_stream("m", &msgs).await.err().unwrap();
    assert!(!format!("{e} {e:?}").contains("sk-stream"));
    assert_rejected(e, 401, "Incorrect API key provided");
}

#[tokio::test]
async fn openai_json_mode() {
    let s = fake().await;
    let ai = OpenAi::new(
        http("openai", &format!("{}/v1", s.uri())),
        &settings(&[("OPENAI_API_KEY", "sk-j")]),
    );
    let msgs = [Message::user("split")];
    Mock::given(path("/v1/chat/completions"))
        .and(body_json(
            json!({"model": "gpt-4o", "messages": msgs, "response_format": {"type": "json_object"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"choices": [{"message": {"role": "assistant", "content": "{\"splitPoints\": []}"}}]}),
        ))
        .mount(&s)
        .await;
    assert_eq!(ai.chat_json("gpt-4o", &msgs).await.unwrap(), json!({"splitPoints": []}));
    s.reset().await;
    Mock::given(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"choices": [{"message": {"role": "assistant", "content": "not json"}}]})),
        )
        .mount(&s)
        .await;
    assert_bad_response(ai.chat_json("gpt-4o", &msgs).await.unwrap_err());
}

#[tokio::test]
async fn downloads_a_file() {
    let s = fake().await;
    let dl = Download::new(http("download", "http://download.invalid"));
    Mock::given(method("GET"))
        .and(path("/shot.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"PNGDATA".to_vec()))
        .mount(&s)
        .await;
    assert_eq!(&dl.get(&format!("{}/shot.png", s.uri())).await.unwrap()[..], b"PNGDATA");
    s.reset().await;
    let url = format!("{}/shot.png", s.uri());
    for (answer, check) in [
        (
            ResponseTemplate::new(429).insert_header("retry-after", "4"),
            (|e| assert_rate_limited(e, 4)) as fn(ServiceError),
        ),
        (ResponseTemplate::new(503), assert_unavailable),
        (ResponseTemplate::new(404).set_body_string("Not Found"), |e| {
            assert_rejected(e, 404, "Not Found")
        }),
        (slow(json!({})), assert_timeout),
    ] {
        Mock::given(path("/shot.png")).respond_with(answer).mount(&s).await;
        let e = dl.get(&url).await.unwrap_err();
        assert!(!e.to_string().contains("shot.png"), "no URL in errors: {e}");
        check(e);
        s.reset().await;
    }
    assert!(matches!(
        dl.get("file:///etc/passwd").await.unwrap_err(),
        ServiceError::Invalid { .. }
    ));
}

both!(new_services_record_dry_runs, dry_run_impl);
async fn dry_run_impl(b: Backend) {
    let db = TestDb::new(b).await;
    let cfg = settings(&[
        ("INGOT_DRY_RUN", "1"),
        ("AWS_ACCESS_KEY_ID", "AKIDDRY"),
        ("AWS_SECRET_ACCESS_KEY", "DRYSECRET"),
        ("AWS_SESSION_TOKEN", "DRYTOKEN"),
        ("AWS_S3_BASE_URL", "http://127.0.0.1:9"),
        ("AWS_TEXTRACT_BASE_URL", "http://127.0.0.1:9"),
        ("PINECONE_API_KEY", "DRYPINECONE"),
        ("PINECONE_INDEX_HOST", "http://127.0.0.1:9"),
        ("OPENAI_API_KEY", "DRYOPENAI"),
        ("OPENAI_API_BASE_URL", "http://127.0.0.1:9/v1"),
    ]);
    let i = Integrations::start(&cfg, &db.db);
    i.s3.put_object("ocr/1.png", bytes::Bytes::from_static(b"png"), "image/png")
        .await
        .unwrap();
    assert!(
        i.textract
            .detect_document_text("coursebuilderimages", "ocr/1.png")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(i.pinecone.query(&[1.0], 5).await.unwrap().is_empty());
    assert_eq!(i.pinecone.upsert("k", &[1.0], json!({})).await.unwrap(), 0);
    let stream = i.openai.chat_stream("m", &[Message::user("hi")]).await.unwrap();
    assert!(collect(stream).await.unwrap().is_empty());
    i.download.get("http://127.0.0.1:9/shot.png").await.unwrap();
    let q = db.sql("SELECT COUNT(*) AS n FROM outbound_requests WHERE service = $1 AND method = $2 AND url = $3");
    for (service, m, url) in [
        ("s3", "PUT", "http://127.0.0.1:9/coursebuilderimages/ocr/1.png"),
        ("textract", "POST", "http://127.0.0.1:9"),
        ("pinecone", "POST", "http://127.0.0.1:9/query"),
        ("pinecone", "POST", "http://127.0.0.1:9/vectors/upsert"),
        ("openai", "POST", "http://127.0.0.1:9/v1/chat/completions"),
        ("download", "GET", "http://127.0.0.1:9/shot.png"),
    ] {
        assert_eq!(db.count(&q, &[service, m, url]).await, 1, "{service} {m} {url}");
    }
    let body = db.sql("SELECT COUNT(*) AS n FROM outbound_requests WHERE service = 's3' AND body = $1");
    assert_eq!(db.count(&body, &["<3 bytes of image/png>"]).await, 1);
    let leaks = "SELECT COUNT(*) AS n FROM outbound_requests WHERE headers LIKE '%DRY%' OR url LIKE '%DRY%' OR body LIKE '%DRY%'";
    assert_eq!(db.count(leaks, &[]).await, 0, "secrets are redacted");
    let names: Vec<String> = i.stats().into_iter().map(|s| s.name).collect();
    for n in ["s3", "textract", "pinecone", "download"] {
        assert!(names.contains(&n.to_string()), "{n} in /health: {names:?}");
    }
}
