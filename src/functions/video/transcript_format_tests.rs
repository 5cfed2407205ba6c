//! Known answers: a Deepgram callback (tests/it/fixtures/deepgram_callback.json) in, exact text out.

use super::*;
use serde_json::json;

fn callback() -> Value {
    serde_json::from_str(include_str!("../../../tests/it/fixtures/deepgram_callback.json")).unwrap()
}

#[test]
fn srt_cues_stay_within_42_characters_and_5_5_seconds() {
    // Cue 1 stops before "subtitle" (44 characters); cue 2 before "After" (2.12 s → 7.9 s is 5.78 s).
    assert_eq!(
        srt(&callback()),
        "1\n00:00:00,080 --> 00:00:02,120\nHello, world. This is a test of the\n\n\
         2\n00:00:02,120 --> 00:00:03,200\nsubtitle splitter.\n\n\
         3\n00:00:07,500 --> 00:00:08,600\nAfter a pause.\n"
    );
    // The bare `results` object gives the same.
    assert_eq!(srt(&callback()["results"]), srt(&callback()));
}

#[test]
fn word_level_srt_has_one_cue_per_word() {
    let out = word_level_srt(&callback());
    assert!(
        out.starts_with(
            "1\n00:00:00,080 --> 00:00:00,320\nHello,\n\n2\n00:00:00,320 --> 00:00:00,720\nworld.\n\n3\n00:00:01,040 --> 00:00:01,200\nThis\n\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("\n\n13\n00:00:08,000 --> 00:00:08,600\npause.\n"),
        "{out}"
    );
    assert_eq!(out.matches(" --> ").count(), 13);
}

#[test]
fn transcript_is_paragraphs_with_their_start_time() {
    assert_eq!(
        paragraph_transcript(&callback()),
        "[00:00] Hello, world. This is a test of the subtitle splitter.\n\n[00:07] After a pause.\n\n"
    );
}

#[test]
fn without_paragraphs_the_whole_transcript_is_one_block() {
    let r = json!({"channels": [{"alternatives": [{"transcript": " Just text. ", "words": []}]}]});
    assert_eq!(paragraph_transcript(&r), "[00:00] Just text.\n\n");
    assert_eq!(srt(&r), "");
    assert_eq!(word_level_srt(&r), "");
    assert_eq!(paragraph_transcript(&json!({})), "");
}

#[test]
fn a_word_beyond_a_limit_gets_its_own_cue_and_no_word_is_lost() {
    let long = "x".repeat(50);
    let r = json!({"channels": [{"alternatives": [{"words": [
        {"word": "a", "start": 0.0, "end": 0.5},
        {"word": long, "punctuated_word": long, "start": 0.5, "end": 7.0},
        {"word": "b", "punctuated_word": "", "start": 3723.4567, "end": 3724.0}
    ]}]}]});
    assert_eq!(
        srt(&r),
        format!(
            "1\n00:00:00,000 --> 00:00:00,500\na\n\n2\n00:00:00,500 --> 00:00:07,000\n{long}\n\n3\n01:02:03,457 --> 01:02:04,000\nb\n"
        )
    );
}

#[test]
fn times() {
    assert_eq!(srt_time(0.0), "00:00:00,000");
    assert_eq!(srt_time(61.0005), "00:01:01,001");
    assert_eq!(stamp(59.99), "00:59");
    assert_eq!(stamp(3725.2), "01:02:05");
}
