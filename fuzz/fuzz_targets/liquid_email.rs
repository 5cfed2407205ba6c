//! The email templates (`ingot::email::templates::Template::render`, compiled-in Liquid) with any variables a
//! workflow could pass from user data. The first byte picks the template; the rest is the variables' JSON. A
//! missing variable is an error, never a panic.
#![no_main]

use ingot::email::templates::Template;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(vars) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let template = Template::ALL[which as usize % Template::ALL.len()];
    let _ = template.render(&vars);
});
