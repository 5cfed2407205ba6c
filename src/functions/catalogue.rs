//! The function catalogue and the consumer check, both read from the registry.
//!
//! - [`markdown`] is the README's "Function catalogue" table (`ingot functions --markdown`); a test compares the
//!   README with it, so the table cannot drift from the code.
//! - [`unconsumed`] lists the events the platform emits — every function's declared `emits` (enforced by
//!   `send_event`) and every webhook's ([`crate::http::webhooks::EMITS`], enforced by the webhook store) — that
//!   no registered function listens to and that are not in [`NO_CONSUMER_ON_PURPOSE`]
//!   (`ingot functions --check-consumers`, run by a test).

use ingot_actors::{Registry, Trigger};

/// Events the platform emits that no function consumes, on purpose, with the reason.
pub const NO_CONSUMER_ON_PURPOSE: &[(&str, &str)] = &[];

/// One row per function: id, triggers, summary, services, emitted events.
pub fn markdown(registry: &Registry) -> String {
    let mut out = String::from("| Function | Triggers | What a run does | Calls | Emits |\n|---|---|---|---|---|\n");
    let mut functions: Vec<_> = registry.functions().collect();
    functions.sort_by(|a, b| a.id().cmp(b.id()));
    for f in functions {
        let d = &f.def;
        let triggers = trigger_cell(&d.triggers);
        let code = |items: &[String]| {
            if items.is_empty() {
                "—".to_string()
            } else {
                items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            d.id,
            triggers,
            escape(&d.catalogue.summary),
            code(&d.catalogue.services),
            code(&d.catalogue.emits),
        ));
    }
    out
}

/// The triggers, one line per condition: event names that share a condition (a name and its original-platform
/// alias) are listed together.
fn trigger_cell(triggers: &[Trigger]) -> String {
    let mut lines: Vec<(Option<&str>, Vec<String>)> = Vec::new();
    for t in triggers {
        let (condition, name) = match t {
            Trigger::Event { event, condition } => (condition.as_deref(), format!("`{event}`")),
            Trigger::Cron { schedule } => (None, format!("cron `{schedule}`")),
        };
        match lines.iter_mut().find(|(c, _)| *c == condition) {
            Some((_, names)) => names.push(name),
            None => lines.push((condition, vec![name])),
        }
    }
    lines
        .into_iter()
        .map(|(condition, names)| match condition {
            Some(c) => format!("{} if `{}`", names.join(", "), escape(c)),
            None => names.join(", "),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A table cell's text: `|` would end the cell.
fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Who emits an event: a function id or `webhook:<provider>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Emitted {
    pub producer: String,
    pub event: String,
}

/// Every event the platform emits, with its producer.
pub fn emitted(registry: &Registry) -> Vec<Emitted> {
    let mut out: Vec<Emitted> = registry
        .functions()
        .flat_map(|f| {
            f.def.catalogue.emits.iter().map(|e| Emitted {
                producer: f.id().to_string(),
                event: e.clone(),
            })
        })
        .chain(crate::http::webhooks::EMITS.iter().map(|(provider, e)| Emitted {
            producer: format!("webhook:{provider}"),
            event: e.to_string(),
        }))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Emitted events that start nothing and are not consumer-less on purpose.
pub fn unconsumed(registry: &Registry) -> Vec<Emitted> {
    emitted(registry)
        .into_iter()
        .filter(|e| !registry.listens_to(&e.event))
        .filter(|e| !NO_CONSUMER_ON_PURPOSE.iter().any(|(name, _)| *name == e.event))
        .collect()
}

/// Entries of [`NO_CONSUMER_ON_PURPOSE`] that are no longer true (the event gained a consumer or is no longer
/// emitted): the list must not go stale either.
pub fn stale_exemptions(registry: &Registry) -> Vec<&'static str> {
    let emitted = emitted(registry);
    NO_CONSUMER_ON_PURPOSE
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| registry.listens_to(name) || !emitted.iter().any(|e| e.event == *name))
        .collect()
}

/// Functions without a catalogue summary (every platform function has one; `send_event` checks emits only then).
pub fn undescribed(registry: &Registry) -> Vec<String> {
    registry
        .functions()
        .filter(|f| f.def.catalogue.summary.is_empty())
        .map(|f| f.id().to_string())
        .collect()
}
