//! Liquid templates written by people (an event reminder's subject and body, stored in the content tables; the
//! signup notification's subject) rendered with user data: `event_reminder_broadcast::render` and
//! `user_created::render`. Input: `<template>\0<globals JSON>`. A bad template renders as itself.
#![no_main]

use ingot::functions::live_events::event_reminder_broadcast;
use ingot::functions::people::user_created;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (template, globals) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(template) = std::str::from_utf8(template) else {
        return;
    };
    let globals: serde_json::Value = serde_json::from_slice(globals).unwrap_or(serde_json::json!({}));
    let _ = event_reminder_broadcast::render(template, &globals);
    let _ = user_created::render(template, &globals);
});
