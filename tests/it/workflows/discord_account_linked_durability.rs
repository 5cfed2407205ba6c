//! `discord-account-linked` durability: a kill -9 while the run sleeps (the steps before the sleep never run
//! again, the roles are patched once), and a replayed event — while the first run sleeps and after it
//! completed — starts nothing and patches nothing. The fake Discord and the test bed are in
//! `discord_account_linked.rs`.

use super::discord_account_linked::{Bed, DISCORD_ID, linked_event, until_sleeping};
use crate::both;
use crate::support::Backend;
use crate::support::process::Daemon;
use serde_json::json;

both!(kill9_while_sleeping_patches_once, kill9_impl);
async fn kill9_impl(b: Backend) {
    let bed = Bed::new(b, true).await;
    let env = bed.env();
    let d = Daemon::start(&env);
    let run_id = until_sleeping(&d.api, linked_event("oauth/provider-account-linked", "discord")).await;
    d.kill9();
    // The 10 s pass while no daemon runs.
    bed.make_sleep_due(&run_id).await;
    let d = Daemon::start(&env);
    d.api.drain_all().await;
    let run = d.api.run(&run_id).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(bed.requests("PATCH").len(), 1, "roles patched exactly once");
    assert_eq!(
        bed.requests("PUT").len(),
        1,
        "joined the guild once: the steps before the sleep did not run again"
    );
    let me = bed
        .discord
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.1 == "/users/@me")
        .count();
    assert_eq!(me, 1);
    assert_eq!(
        run["output"]["discordMember"]["roles"],
        json!(["role_manual", "role_live"])
    );
    for step in run["steps"].as_array().unwrap() {
        let statuses: Vec<&str> = step["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_str().unwrap())
            .collect();
        let expected: &[&str] = if step["kind"] == "sleep" {
            &["waiting", "completed"]
        } else {
            &["completed"]
        };
        assert_eq!(statuses, expected, "every step ran once: {step}");
    }
}

both!(replayed_event_does_nothing, replay_impl);
async fn replay_impl(b: Backend) {
    let bed = Bed::new(b, true).await;
    let d = Daemon::start(&bed.env());
    let mut event = linked_event("oauth/provider-account-linked", "discord");
    event["id"] = json!("linked-discord-d1");
    let run_id = until_sleeping(&d.api, event.clone()).await;

    // Replayed while the first run sleeps, and again once it completed: duplicates, no run.
    let during = d.api.send(event.clone()).await;
    d.api.drain().await;
    bed.make_sleep_due(&run_id).await;
    d.api.drain_all().await;
    assert_eq!(d.api.run(&run_id).await["status"], "completed");
    let after = d.api.send(event).await;
    d.api.drain_all().await;
    for id in [&during[0], &after[0]] {
        let ev = d.api.get_ok(&format!("/api/v1/events/{id}")).await;
        assert_eq!(
            (ev["duplicate"].as_bool(), ev["run_ids"].clone()),
            (Some(true), json!([])),
            "{ev}"
        );
        assert_eq!(ev["skipped"][0]["reason"], "duplicate_event_id", "{ev}");
    }
    assert_eq!(d.api.runs_of_function("discord-account-linked").await.len(), 1);
    assert_eq!(bed.requests("PUT").len(), 1, "joined the guild once");
    assert_eq!(bed.requests("PATCH").len(), 1, "roles patched once");
    assert_eq!(
        bed.discord.lock().unwrap().members[DISCORD_ID],
        ["role_manual", "role_live"]
    );
}
