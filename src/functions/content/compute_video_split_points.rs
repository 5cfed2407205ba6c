//! `compute-video-split-points` — where a video could be cut into shorter parts, from its transcript (reference
//! §3.11 "compute split points"; a stub in the original, which built a prompt and returned nothing).
//!
//! Triggers `video/split-points-requested` `{videoResourceId}` and the original `split_video/request_split_points`
//! `{resource_id, transcript}`. Steps:
//! 1. "load the transcript" — the video resource (missing: non-retriable); the transcript is the event's, else the
//!    resource's `fields.transcript` (none: non-retriable "no transcript"). The last `[mm:ss]` / `[h:mm:ss]` mark
//!    of the transcript (our paragraph transcripts carry them), or else `fields.duration`, bounds the split points.
//! 2. "determining split points" — one OpenAI chat completion (`gpt-4o`, JSON mode) asking for
//!    `{"splitPoints": [{"time": seconds, "title": "..."}]}`. The answer is validated: at least one point, every
//!    time a finite number > 0 and not past the end, strictly increasing, every title non-empty. An invalid answer
//!    is retryable (the model may answer better next time); after the retries the run fails naming the defect.
//! 3. "save split points" — merges `splitPoints` into the resource's `fields` (idempotent).
//!
//! Returns `{videoResourceId, splitPoints}`. Emits nothing.

use crate::functions::{Deps, event_triggers};
use crate::integrations::openai::Message;
use crate::platform::content;
use ingot_actors::{FnError, FunctionDef, ResultExt, RunCtx, StepError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub const ID: &str = "compute-video-split-points";
pub const EVENT: &str = "video/split-points-requested";
pub const MODEL: &str = "gpt-4o";

pub fn definition(deps: Deps) -> FunctionDef {
    let mut def = FunctionDef::new(ID, "Compute Video Split Points", move |ctx| run(deps.clone(), ctx));
    for t in event_triggers(EVENT, None) {
        def = def.trigger(t);
    }
    def.summary("Asks OpenAI where a video's transcript splits into parts, validates the points and saves them on the video resource.")
        .services(&["openai"])
        .emits(&[])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitPoint {
    pub time: f64,
    pub title: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transcript {
    video_resource_id: String,
    transcript: String,
    /// Seconds: no split point may lie past it.
    end: Option<f64>,
}

/// The last `[mm:ss]` or `[h:mm:ss]` mark of a transcript, in seconds.
pub fn last_mark(transcript: &str) -> Option<f64> {
    let mut last = None;
    for part in transcript.split('[').skip(1) {
        let Some(inner) = part.split(']').next() else {
            continue;
        };
        let nums: Option<Vec<u32>> = inner.split(':').map(|n| n.trim().parse().ok()).collect();
        match nums.as_deref() {
            Some([m, s]) => last = Some(f64::from(m * 60 + s)),
            Some([h, m, s]) => last = Some(f64::from(h * 3600 + m * 60 + s)),
            _ => {}
        }
    }
    last
}

/// The model's answer as split points, or what is wrong with it.
pub fn validate(answer: &Value, end: Option<f64>) -> Result<Vec<SplitPoint>, String> {
    let points: Vec<SplitPoint> = serde_json::from_value(answer["splitPoints"].clone())
        .map_err(|e| format!("splitPoints is not a list of {{time, title}}: {e}"))?;
    if points.is_empty() {
        return Err("no split points".into());
    }
    let mut previous = 0.0;
    for (i, p) in points.iter().enumerate() {
        if !p.time.is_finite() || p.time <= previous {
            return Err(format!("split point {i} at {} is not after {previous}", p.time));
        }
        if let Some(end) = end
            && p.time > end
        {
            return Err(format!("split point {i} at {} is past the end ({end})", p.time));
        }
        if p.title.trim().is_empty() {
            return Err(format!("split point {i} has no title"));
        }
        previous = p.time;
    }
    Ok(points)
}

fn prompt(transcript: &str, end: Option<f64>) -> Vec<Message> {
    let bound = end.map_or(String::new(), |e| format!(" The video ends at {e} seconds."));
    vec![
        Message::system(format!(
            "You split video transcripts into coherent parts. Answer with JSON only: \
             {{\"splitPoints\": [{{\"time\": <seconds from the start where a part begins, a number>, \
             \"title\": <a short title for the part>}}]}}. Times are strictly increasing and greater than 0.{bound}"
        )),
        Message::user(format!("Transcript (timestamps in [mm:ss]):\n\n{transcript}")),
    ]
}

async fn run(deps: Deps, ctx: RunCtx) -> Result<Value, FnError> {
    let data = ctx.event["data"].clone();
    let db = &deps.db;
    let t: Transcript = ctx
        .step
        .run("load the transcript", || async {
            let id = data["videoResourceId"]
                .as_str()
                .or_else(|| data["resource_id"].as_str())
                .unwrap_or_default()
                .to_string();
            let resource = content::get_content_resource(db, &id)
                .await
                .retryable()?
                .ok_or_else(|| StepError::fatal(format!("Video resource not found: {id:?}")))?;
            let transcript = data["transcript"]
                .as_str()
                .or_else(|| resource.fields["transcript"].as_str())
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| StepError::fatal(format!("no transcript for {id}")))?
                .to_string();
            let end = last_mark(&transcript).or_else(|| resource.fields["duration"].as_f64());
            Ok(Transcript {
                video_resource_id: resource.id,
                transcript,
                end,
            })
        })
        .await?;

    let openai = &deps.integrations.openai;
    let points: Vec<SplitPoint> = ctx
        .step
        .run("determining split points", || async {
            let answer = openai.chat_json(MODEL, &prompt(&t.transcript, t.end)).await?;
            validate(&answer, t.end).map_err(|m| StepError::retryable(format!("invalid split points: {m}")))
        })
        .await?;

    ctx.step
        .run("save split points", || async {
            let mut patch = Map::new();
            patch.insert("splitPoints".into(), json!(points));
            content::merge_resource_fields(db, &t.video_resource_id, &patch)
                .await
                .retryable()?;
            Ok(json!({"saved": points.len()}))
        })
        .await
        .map(|_: Value| ())?;

    Ok(json!({"videoResourceId": t.video_resource_id, "splitPoints": points}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_validation() {
        assert_eq!(last_mark("[00:00] Hi. [01:05] Next [1:00:02] end"), Some(3602.0));
        assert_eq!(last_mark("no marks [x]"), None);
        let ok = json!({"splitPoints": [{"time": 10, "title": "A"}, {"time": 20.5, "title": "B"}]});
        assert_eq!(validate(&ok, Some(30.0)).unwrap().len(), 2);
        assert!(validate(&ok, Some(15.0)).unwrap_err().contains("past the end"));
        let back = json!({"splitPoints": [{"time": 10, "title": "A"}, {"time": 10, "title": "B"}]});
        assert!(validate(&back, None).unwrap_err().contains("not after"));
        assert!(validate(&json!({"splitPoints": []}), None).is_err());
        assert!(validate(&json!({"points": 1}), None).is_err());
        assert!(validate(&json!({"splitPoints": [{"time": 0, "title": "A"}]}), None).is_err());
        assert!(validate(&json!({"splitPoints": [{"time": 3, "title": " "}]}), None).is_err());
    }
}
