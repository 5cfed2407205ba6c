//! The media and AI services: Mux, Deepgram, OpenAI, UploadThing — the calls the media functions make, and the
//! same failure classification as every client.

use super::*;
use ingot::integrations::deepgram::Deepgram;
use ingot::integrations::mux::Mux;
use ingot::integrations::openai::{Message, OpenAi};
use ingot::integrations::uploadthing::UploadThing;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

/// Runs `call` against, in turn: a 429 (Retry-After 4), a 400 with `message`, a 500 then `ok`, a garbled 200 and
/// a 200 slower than the timeout — all served at `p`.
pub(super) async fn failure_matrix<F, Fut, T>(s: &MockServer, p: &str, ok: Value, message: &str, call: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ServiceError>>,
    T: std::fmt::Debug,
{
    let at = || Mock::given(path(p.to_string()));
    at().respond_with(ResponseTemplate::new(429).insert_header("retry-after", "4"))
        .mount(s)
        .await;
    assert_rate_limited(call().await.unwrap_err(), 4);
    s.reset().await;
    at().respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": message}})))
        .mount(s)
        .await;
    assert_rejected(call().await.unwrap_err(), 400, message);
    s.reset().await;
    at().respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(s)
        .await;
    at().respond_with(ResponseTemplate::new(200).set_body_json(ok.clone()))
        .mount(s)
        .await;
    assert_unavailable(call().await.unwrap_err());
    call().await.expect("succeeds after the 5xx");
    s.reset().await;
    at().respond_with(ResponseTemplate::new(200).set_body_string("{{{"))
        .mount(s)
        .await;
    assert_bad_response(call().await.unwrap_err());
    s.reset().await;
    at().respond_with(slow(ok)).mount(s).await;
    assert_timeout(call().await.unwrap_err());
}

#[tokio::test]
async fn mux_assets_and_tracks() {
    let s = fake().await;
    let cfg = settings(&[("MUX_ACCESS_TOKEN_ID", "tid"), ("MUX_SECRET_KEY", "tsecret")]);
    let mux = Mux::new(http("mux", &s.uri()), &cfg);
    // Basic base64("tid:tsecret").
    Mock::given(method("POST"))
        .and(path("/video/v1/assets"))
        .and(header("authorization", "Basic dGlkOnRzZWNyZXQ="))
        .and(body_json(json!({"input": [{"url": "https://files/v.mp4"}], "playback_policy": ["public"], "mp4_support": "standard"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": {"id": "as_1", "status": "preparing", "playback_ids": [{"id": "pb_1", "policy": "public"}]}})))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/video/v1/assets/as_1/tracks"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"data": {"id": "tr_1", "type": "text", "status": "preparing"}})),
        )
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/video/v1/assets/as_1/tracks/tr_0"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    let asset = mux.create_asset("https://files/v.mp4").await.unwrap();
    assert_eq!((asset.id.as_str(), asset.playback_ids[0].id.as_str()), ("as_1", "pb_1"));
    assert_eq!(
        mux.add_text_track("as_1", "https://x/srt", "English").await.unwrap().id,
        "tr_1"
    );
    mux.delete_track("as_1", "tr_0").await.unwrap();
    s.verify().await;
    s.reset().await;
    failure_matrix(
        &s,
        "/video/v1/assets/as_2",
        json!({"data": {"id": "as_2"}}),
        "Invalid asset",
        || mux.get_asset("as_2"),
    )
    .await;
    let none = Mux::new(http("mux", &s.uri()), &settings(&[]));
    assert_not_configured(
        none.get_asset("a").await.unwrap_err(),
        &["MUX_ACCESS_TOKEN_ID", "MUX_SECRET_KEY"],
    );
}

#[tokio::test]
async fn deepgram_orders_a_transcript_with_our_callback() {
    let s = fake().await;
    let cfg = settings(&[
        ("DEEPGRAM_API_KEY", "dg_key"),
        ("NEXT_PUBLIC_URL", "https://app.example.com"),
        ("DEEPGRAM_CALLBACK_SECRET", "cb_secret"),
    ]);
    let dg = Deepgram::new(http("deepgram", &s.uri()), &cfg);
    Mock::given(method("POST"))
        .and(path("/v1/listen"))
        .and(header("authorization", "Token dg_key"))
        .and(query_param("model", "whisper-large"))
        .and(query_param("utt_split", "0.5"))
        .and(query_param(
            "callback",
            "https://app.example.com/webhooks/deepgram?videoResourceId=vr_1&secret=cb_secret",
        ))
        .and(body_json(json!({"url": "https://files/v.mp4"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"request_id": "req_1"})))
        .mount(&s)
        .await;
    assert_eq!(
        dg.order_transcript("https://files/v.mp4", "vr_1")
            .await
            .unwrap()
            .request_id,
        "req_1"
    );
    s.reset().await;
    failure_matrix(&s, "/v1/listen", json!({"request_id": "r"}), "Invalid URL", || {
        dg.order_transcript("u", "vr")
    })
    .await;
    let none = Deepgram::new(http("deepgram", &s.uri()), &settings(&[("DEEPGRAM_API_KEY", "k")]));
    assert_not_configured(
        none.order_transcript("u", "v").await.unwrap_err(),
        &["NEXT_PUBLIC_URL", "DEEPGRAM_CALLBACK_SECRET"],
    );
}

#[tokio::test]
async fn openai_chat_and_embeddings() {
    let s = fake().await;
    let ai = OpenAi::new(
        http("openai", &format!("{}/v1", s.uri())),
        &settings(&[("OPENAI_API_KEY", "sk-ai")]),
    );
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-ai"))
        .and(body_json(json!({"model": "gpt-4", "messages": [{"role": "system", "content": "clean"}, {"role": "user", "content": "c0de"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "code"}}]})))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(body_json(
            json!({"model": "text-embedding-3-small", "input": "rust", "encoding_format": "float"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"embedding": [0.5, -0.25]}]})))
        .mount(&s)
        .await;
    let msgs = [Message::system("clean"), Message::user("c0de")];
    assert_eq!(ai.chat("gpt-4", &msgs).await.unwrap(), "code");
    assert_eq!(ai.embedding("rust").await.unwrap(), [0.5, -0.25]);
    s.reset().await;
    let ok = json!({"choices": [{"message": {"role": "assistant", "content": "ok"}}]});
    failure_matrix(&s, "/v1/chat/completions", ok, "Invalid model", || {
        ai.chat("gpt-4", &msgs)
    })
    .await;
}

#[tokio::test]
async fn uploadthing_deletes_files() {
    let s = fake().await;
    let ut = UploadThing::new(
        http("uploadthing", &s.uri()),
        &settings(&[("UPLOADTHING_SECRET", "sk_live_ut")]),
    );
    Mock::given(method("POST"))
        .and(path("/v6/deleteFiles"))
        .and(header("x-uploadthing-api-key", "sk_live_ut"))
        .and(body_json(json!({"fileKeys": ["k1"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "deletedCount": 1})))
        .mount(&s)
        .await;
    let keys = vec!["k1".to_string()];
    assert_eq!(ut.delete_files(&keys).await.unwrap().deleted_count, 1);
    s.reset().await;
    failure_matrix(
        &s,
        "/v6/deleteFiles",
        json!({"success": true}),
        "Invalid file key",
        || ut.delete_files(&keys),
    )
    .await;
}
