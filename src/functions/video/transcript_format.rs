//! Deepgram results → subtitles and a readable transcript (reference §4 "Deepgram callback"). Pure functions.
//!
//! Input: Deepgram's pre-recorded response as its callback posts it (`{metadata, results}`; the bare `results`
//! object is accepted too). Words come from `results.channels[0].alternatives[0].words` (`punctuated_word`, else
//! `word`; `start`/`end` in seconds), paragraphs from `…alternatives[0].paragraphs.paragraphs[].sentences[]`.
//!
//! - [`srt`]: cues of consecutive words, each spanning at most [`MAX_CUE_SECONDS`] (first word's start to last
//!   word's end) and at most [`MAX_CUE_CHARS`] characters of text (words joined by one space); a single word that
//!   alone exceeds a limit gets a cue of its own. Standard SRT: `n`, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, the text, a
//!   blank line between cues, one final newline.
//! - [`word_level_srt`]: one cue per word, same format.
//! - [`paragraph_transcript`]: one paragraph per block, `[mm:ss] sentence sentence…` (`[hh:mm:ss]` from one
//!   hour on), each block followed by a blank line; without paragraphs the whole transcript is one block at 00:00.
//!
//! Decisions where the original (`srtProcessor`) is defective: it measured a cue's 5.5 s as the sum of the words'
//! durations (pauses did not count), counted characters without the spaces, printed `--:--:--` for a time of 0,
//! dropped a word that exceeded both limits at once, and left two stray spaces after each cue. We measure the
//! cue's real span and its displayed text, print 0 as `00:00:00,000` / `[00:00]`, keep every word, and emit clean
//! SRT.

use serde_json::Value;

/// Longest span of one cue, in seconds.
pub const MAX_CUE_SECONDS: f64 = 5.5;
/// Longest text of one cue, in characters (the usual subtitle line).
pub const MAX_CUE_CHARS: usize = 42;

/// One recognised word.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// The first alternative of the first channel.
fn alternative(results: &Value) -> &Value {
    let results = if results.get("results").is_some() {
        &results["results"]
    } else {
        results
    };
    &results["channels"][0]["alternatives"][0]
}

/// The words, in order; entries without text or times are skipped.
pub fn words(results: &Value) -> Vec<Word> {
    alternative(results)["words"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter_map(|w| {
                    let text = w["punctuated_word"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .or_else(|| w["word"].as_str())?
                        .trim()
                        .to_string();
                    let start = w["start"].as_f64()?;
                    let end = w["end"].as_f64()?.max(start);
                    (!text.is_empty()).then_some(Word { text, start, end })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `HH:MM:SS,mmm`, rounded to the millisecond.
pub fn srt_time(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `mm:ss`, or `hh:mm:ss` from one hour on (whole seconds, rounded down).
pub fn stamp(seconds: f64) -> String {
    let s = seconds.max(0.0).floor() as u64;
    if s >= 3600 {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn cues_to_srt(cues: &[(f64, f64, String)]) -> String {
    cues.iter()
        .enumerate()
        .map(|(i, (start, end, text))| format!("{}\n{} --> {}\n{}\n", i + 1, srt_time(*start), srt_time(*end), text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Groups words into cues within [`MAX_CUE_SECONDS`] and [`MAX_CUE_CHARS`].
pub fn cues(words: &[Word]) -> Vec<(f64, f64, String)> {
    let mut out: Vec<(f64, f64, String)> = Vec::new();
    let mut current: Option<(f64, f64, String)> = None;
    for w in words {
        current = Some(match current.take() {
            Some((start, end, text)) => {
                let joined_len = text.chars().count() + 1 + w.text.chars().count();
                if w.end - start <= MAX_CUE_SECONDS && joined_len <= MAX_CUE_CHARS {
                    (start, end.max(w.end), format!("{text} {}", w.text))
                } else {
                    out.push((start, end, text));
                    (w.start, w.end, w.text.clone())
                }
            }
            None => (w.start, w.end, w.text.clone()),
        });
    }
    out.extend(current);
    out
}

/// Subtitles: cues of at most 5.5 s and 42 characters. Empty when there are no words.
pub fn srt(results: &Value) -> String {
    cues_to_srt(&cues(&words(results)))
}

/// Subtitles with one cue per word. Empty when there are no words.
pub fn word_level_srt(results: &Value) -> String {
    let cues: Vec<(f64, f64, String)> = words(results).into_iter().map(|w| (w.start, w.end, w.text)).collect();
    cues_to_srt(&cues)
}

/// The transcript as paragraphs, each starting with its `[mm:ss]` time. Empty when there is no text.
pub fn paragraph_transcript(results: &Value) -> String {
    let alt = alternative(results);
    let mut blocks: Vec<(f64, String)> = Vec::new();
    if let Some(paragraphs) = alt["paragraphs"]["paragraphs"].as_array() {
        for p in paragraphs {
            let sentences: Vec<&Value> = p["sentences"]
                .as_array()
                .map(|s| s.iter().collect())
                .unwrap_or_default();
            let text = sentences
                .iter()
                .filter_map(|s| s["text"].as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if text.is_empty() {
                continue;
            }
            let start = sentences
                .first()
                .and_then(|s| s["start"].as_f64())
                .or_else(|| p["start"].as_f64())
                .unwrap_or(0.0);
            blocks.push((start, text));
        }
    } else if let Some(t) = alt["transcript"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
        blocks.push((0.0, t.to_string()));
    }
    blocks
        .into_iter()
        .map(|(start, text)| format!("[{}] {text}\n\n", stamp(start)))
        .collect()
}

#[cfg(test)]
#[path = "transcript_format_tests.rs"]
mod tests;
