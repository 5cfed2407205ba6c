//! Deepgram results → SRT, word-level SRT and `[mm:ss]` paragraphs (`functions::video::transcript_format`) on any
//! JSON. Cues never outnumber words, and every cue of the word-level SRT is one word.
#![no_main]

use ingot::functions::video::transcript_format as tf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(results) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let words = tf::words(&results);
    let cues = tf::cues(&words);
    assert!(cues.len() <= words.len());
    for (start, end, text) in &cues {
        assert!(start <= end || start.is_nan() || end.is_nan(), "{start} > {end}");
        assert!(!text.is_empty());
    }
    let srt = tf::srt(&results);
    assert_eq!(srt.is_empty(), words.is_empty());
    let _ = tf::word_level_srt(&results);
    let _ = tf::paragraph_transcript(&results);
});
