//! `resource-chat` end to end: a fake OpenAI that streams server-sent events over a raw socket (pieces written
//! with pauses, or held open), PartyKit (wiremock) receiving the relayed text in 250 ms batches and `\ok`; the
//! prompt branches (JSON prompt with seed messages and Liquid, the built-in prompt, an unknown workflow, a long
//! conversation, a missing resource); the rate limit (the 6th request of a user in a minute is skipped and
//! recorded); a kill -9 mid-stream (the step runs again cleanly) and a replay that changes nothing.

use super::content_ai::Bed;
use super::harness::{step, step_ids, until_received};
use crate::both;
use crate::support::Backend;
use crate::support::process::Daemon;
use ingot::seed::builders;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake does on one connection.
#[derive(Clone)]
enum Part {
    Write(String),
    Pause(Duration),
    /// Keep the response open forever.
    Hold,
}

fn delta(text: &str) -> String {
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {chunk}\n\n")
}

const HEAD: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
const TAIL: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

/// A whole answer at once.
fn full(texts: &[&str]) -> Vec<Part> {
    let body: String = texts.iter().map(|t| delta(t)).collect();
    vec![Part::Write(format!("{HEAD}{body}{TAIL}"))]
}

/// OpenAI's streaming endpoint on a raw socket: each connection takes the next script (or `default`), records
/// the request's JSON body.
struct StreamingOpenAi {
    port: u16,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl StreamingOpenAi {
    async fn start(scripts: Vec<Vec<Part>>, default: Vec<Part>) -> StreamingOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(VecDeque::from(scripts)));
        let b = bodies.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let script = queue.lock().unwrap().pop_front().unwrap_or_else(|| default.clone());
                let b = b.clone();
                tokio::spawn(async move {
                    let Some(body) = read_request(&mut sock).await else {
                        return;
                    };
                    b.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for part in script {
                        match part {
                            Part::Write(s) => {
                                let chunk = format!("{:x}\r\n{s}\r\n", s.len());
                                if sock.write_all(chunk.as_bytes()).await.is_err() {
                                    return;
                                }
                                let _ = sock.flush().await;
                            }
                            Part::Pause(d) => tokio::time::sleep(d).await,
                            Part::Hold => {
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                    let _ = sock.write_all(b"0\r\n\r\n").await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        StreamingOpenAi { port, bodies }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// Reads one HTTP request; answers its body.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return Some(buf[end + 4..end + 4 + len].to_vec());
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn env_with(bed: &Bed, openai: &StreamingOpenAi) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = bed
        .env(None)
        .into_iter()
        .filter(|(k, _)| k != "OPENAI_API_BASE_URL")
        .collect();
    env.push(("OPENAI_API_BASE_URL".into(), openai.base()));
    env
}

/// A post with a video child (transcript) and a JSON prompt with a seed message and its own model.
async fn content(bed: &Bed) {
    let db = &bed.db.db;
    builders::resource(db, "post_1", "post", "Rust Tips", json!({"body": "Use cargo."}))
        .await
        .unwrap();
    builders::resource(
        db,
        "vr_c",
        "videoResource",
        "Clip",
        json!({"transcript": "hello transcript"}),
    )
    .await
    .unwrap();
    builders::children(db, "post_1", &["vr_c"]).await.unwrap();
    let prompt = json!([
        {"role": "system", "content": "You edit {{title}}."},
        {"role": "assistant", "content": "Transcript: {{transcript}}"}
    ]);
    builders::resource(
        db,
        "prompt_json",
        "prompt",
        "JSON prompt",
        json!({"body": prompt.to_string(), "model": "gpt-4o-mini"}),
    )
    .await
    .unwrap();
}

fn chat_event(user: &str, messages: Value, workflow: Option<&str>) -> Value {
    let mut data = json!({"resourceId": "post_1", "messages": messages});
    if let Some(w) = workflow {
        data["selectedWorkflow"] = json!(w);
    }
    json!({"name": "resource/chat-request-event", "data": data, "user": {"id": user, "email": format!("{user}@example.com")}})
}

fn party(body: Value, name: &str) -> Value {
    json!({"body": body, "requestId": "post_1", "name": name})
}

both!(streams_the_answer_to_partykit_in_batches, stream_impl);
async fn stream_impl(b: Backend) {
    let bed = Bed::new(b).await;
    content(&bed).await;
    // "Hel" and "lo" arrive together, " world" 1.5 s later (a slow model), then [DONE].
    let script = vec![
        Part::Write(format!("{HEAD}{}{}", delta("Hel"), delta("lo"))),
        Part::Pause(Duration::from_millis(1500)),
        Part::Write(format!("{}{TAIL}", delta(" world"))),
    ];
    let openai = StreamingOpenAi::start(vec![script], full(&["unused"])).await;
    let d = Daemon::start(&env_with(&bed, &openai));
    let ids = d
        .api
        .send(chat_event(
            "u1",
            json!([{"role": "user", "content": "Improve {{title}}"}]),
            Some("prompt_json"),
        ))
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    let sent = json!([
        {"role": "system", "content": "You edit Rust Tips."},
        {"role": "assistant", "content": "Transcript: hello transcript"},
        {"role": "user", "content": "Improve Rust Tips"},
    ]);
    assert_eq!(
        openai.bodies(),
        [json!({"model": "gpt-4o-mini", "messages": sent, "stream": true})]
    );
    let mut all = sent.as_array().unwrap().clone();
    all.push(json!({"role": "assistant", "content": "Hello world"}));
    assert_eq!(run["output"]["messages"], json!(all));
    assert_eq!(run["output"]["resource"]["id"], "post_1");
    assert_eq!(
        step_ids(&run),
        [
            "partykit broadcast user prompt [post_1]",
            "get the resource",
            "get the video resource",
            "Load Prompt",
            "parse json content",
            "parse json content:1",
            "answer the user prompt",
            "partykit broadcast [post_1]",
        ]
    );
    assert_eq!(step(&run, "answer the user prompt")["output"], "Hello world");
    let relayed: Vec<Value> = bed.requests("/party/post_1").await.into_iter().map(|r| r.2).collect();
    let mut prompted = party(json!("Improve {{title}}"), "resource.chat.prompted");
    prompted["userId"] = json!("u1");
    let mut completed = party(json!(all), "resource.chat.completed");
    completed["metadata"] = json!({"workflow": "prompt_json"});
    assert_eq!(
        relayed,
        [
            prompted,
            party(json!("Hello"), "ai.message"),
            party(json!(" world"), "ai.message"),
            party(json!("\\ok"), "ai.message"),
            completed,
        ]
    );
}

both!(prompt_branches_and_a_missing_resource, branches_impl);
async fn branches_impl(b: Backend) {
    let bed = Bed::new(b).await;
    content(&bed).await;
    let openai = StreamingOpenAi::start(vec![], full(&["Sure", "."])).await;
    let d = Daemon::start(&env_with(&bed, &openai));
    // The built-in prompt (no workflow), rendered with the resource's fields.
    let ids = d
        .api
        .send(chat_event("u2", json!([{"role": "user", "content": "Hi"}]), None))
        .await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(!step_ids(&run).contains(&"Load Prompt".to_string()));
    let body = &openai.bodies()[0];
    assert_eq!(body["model"], "gpt-4-turbo");
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("\"Rust Tips\"") && system.contains("Use cargo."),
        "{system}"
    );
    // An unknown workflow falls back to the built-in prompt; the event's model is used.
    let mut ev = chat_event("u2", json!([{"role": "user", "content": "Hi"}]), Some("no-such-prompt"));
    ev["data"]["model"] = json!("gpt-4o");
    let ids = d.api.send(ev).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(step(&run, "Load Prompt")["output"], Value::Null);
    assert_eq!(openai.bodies()[1]["model"], "gpt-4o");
    assert_eq!(openai.bodies()[1]["messages"][0]["content"], system);
    // A longer conversation gets no system prompt; only its last two messages are rendered.
    let convo = json!([
        {"role": "user", "content": "{{title}} one"},
        {"role": "assistant", "content": "{{title}} two"},
        {"role": "user", "content": "{{title}} three"},
    ]);
    let ids = d.api.send(chat_event("u2", convo, Some("basic"))).await;
    d.api.drain().await;
    assert_eq!(d.api.only_run(&ids[0]).await["status"], "completed");
    assert_eq!(
        openai.bodies()[2]["messages"],
        json!([
            {"role": "user", "content": "{{title}} one"},
            {"role": "assistant", "content": "Rust Tips two"},
            {"role": "user", "content": "Rust Tips three"},
        ])
    );
    // A missing resource: non-retriable, no completion asked.
    let mut ev = chat_event("u2", json!([{"role": "user", "content": "Hi"}]), None);
    ev["data"]["resourceId"] = json!("gone");
    let ids = d.api.send(ev).await;
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run.to_string().contains("Resource not found"), "{run}");
    assert_eq!(openai.bodies().len(), 3);
}

both!(the_sixth_request_in_a_minute_is_skipped, rate_impl);
async fn rate_impl(b: Backend) {
    let bed = Bed::new(b).await;
    content(&bed).await;
    let openai = StreamingOpenAi::start(vec![], full(&["ok"])).await;
    let d = Daemon::start(&env_with(&bed, &openai));
    let msg = json!([{"role": "user", "content": "Hi"}]);
    let mut events: Vec<Value> = (0..6).map(|_| chat_event("u_rl", msg.clone(), None)).collect();
    events.push(chat_event("u_other", msg.clone(), None));
    let ids = d.api.send(json!(events)).await;
    d.api.drain().await;
    for (i, id) in ids.iter().enumerate() {
        let ev = d.api.get_ok(&format!("/api/v1/events/{id}")).await;
        if i == 5 {
            assert_eq!(ev["run_ids"], json!([]), "{ev}");
            assert_eq!(ev["skipped"][0]["function_id"], "resource-chat", "{ev}");
            assert_eq!(ev["skipped"][0]["reason"], "rate_limit", "{ev}");
        } else {
            assert_eq!(ev["run_ids"].as_array().unwrap().len(), 1, "{ev}");
        }
    }
    assert_eq!(d.api.runs_of_function("resource-chat").await.len(), 6);
    assert_eq!(openai.bodies().len(), 6);
}

both!(kill9_mid_stream_reruns_the_step_cleanly, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b).await;
    content(&bed).await;
    // The first stream sends "Hello" and hangs; after the restart the model answers in full.
    let first = vec![
        Part::Write(format!("{HEAD}{}{}", delta("Hel"), delta("lo"))),
        Part::Hold,
    ];
    let openai = StreamingOpenAi::start(vec![first], full(&["Hello", " world"])).await;
    let env = env_with(&bed, &openai);
    let d = Daemon::start(&env);
    let mut event = chat_event("u_k", json!([{"role": "user", "content": "Hi"}]), Some("basic"));
    event["id"] = json!("chat-kill-1");
    let ids = d.api.send(event.clone()).await;
    // The prompt and the first batch ("Hello") reached PartyKit: the stream is under way.
    until_received(&bed.fake, 2).await;
    d.kill9();
    let d = Daemon::start(&env);
    d.api.drain().await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["status"], "completed", "{run}");
    let bodies = openai.bodies();
    assert_eq!(bodies.len(), 2, "asked again after the crash");
    assert_eq!(bodies[0], bodies[1], "the same request");
    for s in run["steps"].as_array().unwrap() {
        let statuses: Vec<&str> = s["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["completed"], "every step recorded once: {s}");
    }
    assert_eq!(step(&run, "answer the user prompt")["output"], "Hello world");
    let names: Vec<(String, Value)> = bed
        .requests("/party/post_1")
        .await
        .into_iter()
        .map(|r| (r.2["name"].as_str().unwrap().to_string(), r.2["body"].clone()))
        .collect();
    let ai = |b: &str| ("ai.message".to_string(), json!(b));
    assert_eq!(names[0].0, "resource.chat.prompted");
    assert_eq!(&names[1..4], [ai("Hello"), ai("Hello world"), ai("\\ok")]);
    assert_eq!(names[4].0, "resource.chat.completed");
    assert_eq!(names.len(), 5, "the prompt was announced once: {names:?}");
    // A replay starts nothing.
    let again = d.api.send(event).await;
    d.api.drain().await;
    let ev = d.api.get_ok(&format!("/api/v1/events/{}", again[0])).await;
    assert_eq!(
        (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
        (Some(true), json!([])),
        "{ev}"
    );
    assert_eq!(openai.bodies().len(), 2);
    assert_eq!(bed.requests("/party/").await.len(), 5);
}
