//! The intake's decisions, pure: from the prepared events and what the database said about them ([`Facts`]), the
//! typed rows to write ([`Plan`]): events, runs, skips, debounce updates, batch appends and growth, `cancel_on`
//! listeners and singleton cancellations. No I/O, so `plan/tests.rs` checks every rule without a database.
//!
//! A matched function gets a run unless, in this order: the event is a duplicate (its producer id was seen within
//! 24 h, or earlier in the request), the function's idempotency key is held by another run, its rate limit is
//! spent, its debounce key has a pending run (which takes this newer event), its singleton key is held (`skip`
//! mode), or its batch key has an open batch (which takes the event).

use crate::store::runs::admission::{CancelWait, debounce_at};
use ingot_actors::event::NewEvent;
use ingot_actors::flow::SingletonMode;
use ingot_actors::function::Match;
use std::collections::{HashMap, HashSet};

/// (function id, key): the scope of an idempotency, rate-limit, debounce, singleton or batch key.
pub type FnKey = (String, String);

/// Why a matched function did not get a run (`run_skips.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    DuplicateEventId,
    IdempotencyKey,
    RateLimit,
    Debounced,
    Singleton,
    Batched,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DuplicateEventId => "duplicate_event_id",
            SkipReason::IdempotencyKey => "idempotency_key",
            SkipReason::RateLimit => "rate_limit",
            SkipReason::Debounced => "debounced",
            SkipReason::Singleton => "singleton",
            SkipReason::Batched => "batched",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub event_id: String,
    pub function_id: String,
    pub reason: SkipReason,
    /// The run that holds the key, took the event, or superseded it.
    pub existing_run_id: Option<String>,
}

/// A new run, queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub id: String,
    pub function_id: String,
    pub event_id: String,
    pub run_at: i64,
    pub idempotency_key: Option<String>,
    /// (run, step) waiting for this run's result.
    pub parent: Option<(String, String)>,
    pub concurrency_key: Option<String>,
    pub throttle_key: Option<String>,
    pub priority_ms: i64,
    pub debounce_key: Option<String>,
    pub batch_key: Option<String>,
    pub batch_size: u32,
    pub singleton_key: Option<String>,
}

/// A stored pending debounced run takes a newer event and a later start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebounceUpdate {
    pub run_id: String,
    pub event_id: String,
    pub run_at: i64,
}

/// An event joins a batch at `position`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAppend {
    pub run_id: String,
    pub position: u32,
    pub event_id: String,
}

/// A stored batch's new size; a full one is due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchGrowth {
    pub run_id: String,
    pub size: u32,
    pub full: bool,
}

/// Singleton `cancel`: every unfinished run of the key but `newest` is cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingletonCancel {
    pub function_id: String,
    pub key: String,
    pub newest: String,
}

/// A stored debounced run not started yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub run_id: String,
    pub event_id: String,
    pub created_at: i64,
}

/// A matched function of a fresh (not duplicate) event, with the id its run would get.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub event: &'a NewEvent,
    pub m: &'a Match,
    pub run_id: String,
}

/// What the database said, read (or claimed) inside the intake's transaction before planning.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// Idempotency keys: the run holding each (claimed by this intake's candidate, or held before).
    pub key_owners: HashMap<FnKey, String>,
    /// Rate-limit windows: events counted before this intake's (this intake's are counted after them).
    pub rate_prior: HashMap<FnKey, i64>,
    pub pending_debounces: HashMap<FnKey, Pending>,
    /// Singleton keys held by an unfinished stored run (the oldest).
    pub singleton_holders: HashMap<FnKey, String>,
    /// Open (not started, not full) stored batches: run and events held.
    pub open_batches: HashMap<FnKey, (String, u32)>,
}

/// The rows an intake writes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    pub runs: Vec<RunRow>,
    pub skips: Vec<Skip>,
    pub debounce_updates: Vec<DebounceUpdate>,
    pub batch_appends: Vec<BatchAppend>,
    pub batch_growth: Vec<BatchGrowth>,
    pub cancel_waits: Vec<CancelWait>,
    pub singleton_cancels: Vec<SingletonCancel>,
    /// Functions with a new run.
    pub woken: Vec<String>,
}

/// The first event for each producer id in this request: (producer id, event id). Only these claim the id.
pub fn producer_ids(batch: &[NewEvent]) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter_map(|e| e.external_id.clone().map(|x| (x, e.id.clone())))
        .filter(|(x, _)| seen.insert(x.clone()))
        .collect()
}

/// Which events are duplicates, given the producer ids this intake claimed: an event whose id is not claimed by
/// itself (seen within 24 h, or by an earlier event of the request).
pub fn duplicates(batch: &[NewEvent], producer_ids: &[(String, String)], claimed: &HashSet<String>) -> Vec<bool> {
    let owner: HashMap<&str, &str> = producer_ids
        .iter()
        .filter(|(x, _)| claimed.contains(x))
        .map(|(x, id)| (x.as_str(), id.as_str()))
        .collect();
    batch
        .iter()
        .map(|e| {
            e.external_id
                .as_deref()
                .is_some_and(|x| owner.get(x) != Some(&e.id.as_str()))
        })
        .collect()
}

/// The runs the fresh events would start, each with its id (the match's fixed one, else `new_id()`).
pub fn candidates<'a>(
    batch: &'a [NewEvent],
    duplicate: &[bool],
    mut new_id: impl FnMut() -> String,
) -> Vec<Candidate<'a>> {
    batch
        .iter()
        .zip(duplicate)
        .filter(|(_, dup)| !**dup)
        .flat_map(|(e, _)| e.matches.iter().map(move |m| (e, m)))
        .map(|(event, m)| Candidate {
            event,
            m,
            run_id: m.run_id.clone().unwrap_or_else(&mut new_id),
        })
        .collect()
}

/// The idempotency keys to claim: the first candidate of each (function, key) with its run id.
pub fn idempotency_claims(candidates: &[Candidate]) -> Vec<(String, String, String)> {
    let mut seen = HashSet::new();
    candidates
        .iter()
        .filter_map(|c| {
            let key = c.m.idempotency_key.clone()?;
            seen.insert((c.m.function_id.clone(), key.clone()))
                .then(|| (c.m.function_id.clone(), key, c.run_id.clone()))
        })
        .collect()
}

/// Whether a candidate holds its idempotency key (or has none).
fn holds_key(c: &Candidate, key_owners: &HashMap<FnKey, String>) -> bool {
    c.m.idempotency_key
        .as_ref()
        .is_none_or(|k| key_owners.get(&(c.m.function_id.clone(), k.clone())) == Some(&c.run_id))
}

/// The rate-limit windows to count in: per (function, key), its period and how many candidates reach it (those that
/// hold their idempotency key), in order of first appearance.
pub fn rate_counts(candidates: &[Candidate], key_owners: &HashMap<FnKey, String>) -> Vec<(FnKey, i64, i64)> {
    let mut out: Vec<(FnKey, i64, i64)> = Vec::new();
    for c in candidates.iter().filter(|c| holds_key(c, key_owners)) {
        if let Some((key, _, period)) = &c.m.admission.rate_limit {
            let fk = (c.m.function_id.clone(), key.clone());
            match out.iter_mut().find(|(k, _, _)| *k == fk) {
                Some(row) => row.2 += 1,
                None => out.push((fk, *period, 1)),
            }
        }
    }
    out
}

/// The keys whose stored state the plan needs, among candidates holding their idempotency key: (debounce keys,
/// singleton keys in `skip` mode, batch keys with their max size).
pub struct Lookups {
    pub debounce: Vec<FnKey>,
    pub singleton_skip: Vec<FnKey>,
    pub batch: Vec<(FnKey, u32)>,
}

pub fn lookups(candidates: &[Candidate], key_owners: &HashMap<FnKey, String>) -> Lookups {
    let mut l = Lookups {
        debounce: Vec::new(),
        singleton_skip: Vec::new(),
        batch: Vec::new(),
    };
    for c in candidates.iter().filter(|c| holds_key(c, key_owners)) {
        let a = &c.m.admission;
        let f = &c.m.function_id;
        if let Some((key, ..)) = &a.debounce {
            l.debounce.push((f.clone(), key.clone()));
        }
        if let Some((key, SingletonMode::Skip)) = &a.singleton {
            l.singleton_skip.push((f.clone(), key.clone()));
        }
        if let Some((key, max, _)) = &a.batch {
            l.batch.push(((f.clone(), key.clone()), *max));
        }
    }
    // Sorted: rows are locked in one order by every intake.
    l.debounce.sort();
    l.debounce.dedup();
    l.singleton_skip.sort();
    l.singleton_skip.dedup();
    l.batch.sort();
    l.batch.dedup();
    l
}

/// The rows to write for the candidates (in request order), given the facts. See the module docs for the rules.
pub fn plan(batch: &[NewEvent], duplicate: &[bool], candidates: &[Candidate], facts: &Facts, now_ms: i64) -> Plan {
    let mut p = Plan::default();
    for (e, _) in batch.iter().zip(duplicate).filter(|(_, dup)| **dup) {
        for m in &e.matches {
            p.skips
                .push(skip(&e.id, &m.function_id, SkipReason::DuplicateEventId, None));
        }
    }
    let mut rate_used: HashMap<FnKey, i64> = HashMap::new();
    // Debounce: (function, key) → the run created here that holds it (index), or the stored pending run and the
    // event it holds now.
    let mut debounced: HashMap<FnKey, usize> = HashMap::new();
    let mut pending: HashMap<FnKey, (Pending, usize)> = HashMap::new();
    // Singleton: (function, key) → the newest run created here holding it, and the mode.
    let mut singletons: HashMap<FnKey, (String, SingletonMode)> = HashMap::new();
    let mut singleton_order: Vec<FnKey> = Vec::new();
    // Batches: (function, key) → (run, events held, index of the run if created here).
    let mut batches: HashMap<FnKey, (String, u32, Option<usize>)> = HashMap::new();
    let mut stored_growth: Vec<BatchGrowth> = Vec::new();
    for c in candidates {
        let (e, m, run_id) = (c.event, c.m, &c.run_id);
        let f = &m.function_id;
        if let Some(key) = &m.idempotency_key
            && !holds_key(c, &facts.key_owners)
        {
            // Held by an earlier run (in this request or within 24 h): record which one.
            let existing = facts.key_owners.get(&(f.clone(), key.clone())).cloned();
            p.skips.push(skip(&e.id, f, SkipReason::IdempotencyKey, existing));
            continue;
        }
        let a = &m.admission;
        if let Some((key, limit, _)) = &a.rate_limit {
            let fk = (f.clone(), key.clone());
            let used = rate_used.entry(fk.clone()).or_insert(0);
            *used += 1;
            if facts.rate_prior.get(&fk).copied().unwrap_or(0) + *used > i64::from(*limit) {
                p.skips.push(skip(&e.id, f, SkipReason::RateLimit, None));
                continue;
            }
        }
        // A future `ts` delays the run's start, as in Inngest.
        let mut run_at = e.ts.max(now_ms);
        if let Some((key, period, timeout)) = &a.debounce {
            let fk = (f.clone(), key.clone());
            if let Some(&i) = debounced.get(&fk) {
                // Same key earlier in this request: that run takes this (newer) event.
                let run = &mut p.runs[i];
                let old = std::mem::replace(&mut run.event_id, e.id.clone());
                run.run_at = debounce_at(now_ms, now_ms, *period, *timeout);
                let taker = run.id.clone();
                p.skips.push(skip(&old, f, SkipReason::Debounced, Some(taker)));
                continue;
            }
            let stored = pending
                .get(&fk)
                .map(|(p, _)| p.clone())
                .or_else(|| facts.pending_debounces.get(&fk).cloned());
            if let Some(held) = stored {
                // The stored pending run takes this event; the event it held is superseded.
                let at = debounce_at(held.created_at, now_ms, *period, *timeout);
                p.skips.push(skip(
                    &held.event_id,
                    f,
                    SkipReason::Debounced,
                    Some(held.run_id.clone()),
                ));
                let update = DebounceUpdate {
                    run_id: held.run_id.clone(),
                    event_id: e.id.clone(),
                    run_at: at,
                };
                let now_held = Pending {
                    event_id: e.id.clone(),
                    ..held
                };
                match pending.get(&fk) {
                    Some((_, i)) => p.debounce_updates[*i] = update,
                    None => p.debounce_updates.push(update),
                }
                let i = pending.get(&fk).map_or(p.debounce_updates.len() - 1, |(_, i)| *i);
                pending.insert(fk, (now_held, i));
                continue;
            }
        }
        // Singleton: a key held by an unfinished run (stored, or created earlier in this request) skips this run
        // (`skip`), or this run replaces the holder, cancelled after the inserts (`cancel`).
        if let Some((key, mode)) = &a.singleton {
            let fk = (f.clone(), key.clone());
            if *mode == SingletonMode::Skip {
                let holder = singletons
                    .get(&fk)
                    .map(|(r, _)| r.clone())
                    .or_else(|| facts.singleton_holders.get(&fk).cloned());
                if holder.is_some() {
                    p.skips.push(skip(&e.id, f, SkipReason::Singleton, holder));
                    continue;
                }
            }
            if !singletons.contains_key(&fk) {
                singleton_order.push(fk.clone());
            }
            singletons.insert(fk, (run_id.clone(), *mode));
        }
        if let Some((key, period, timeout)) = &a.debounce {
            run_at = debounce_at(now_ms, run_at, *period, *timeout);
            debounced.insert((f.clone(), key.clone()), p.runs.len());
        }
        let mut batch_key = None;
        if let Some((key, max, timeout)) = &a.batch {
            let fk = (f.clone(), key.clone());
            if !batches.contains_key(&fk)
                && let Some((run, size)) = facts.open_batches.get(&fk)
            {
                batches.insert(fk.clone(), (run.clone(), *size, None));
            }
            if let Some((run, size, created)) = batches.get_mut(&fk).filter(|b| b.1 < *max) {
                p.batch_appends.push(BatchAppend {
                    run_id: run.clone(),
                    position: *size,
                    event_id: e.id.clone(),
                });
                *size += 1;
                let full = *size >= *max;
                match created {
                    Some(i) => {
                        p.runs[*i].batch_size = *size;
                        if full {
                            p.runs[*i].run_at = now_ms;
                        }
                    }
                    None => match stored_growth.iter_mut().find(|g| g.run_id == *run) {
                        Some(g) => (g.size, g.full) = (*size, full),
                        None => stored_growth.push(BatchGrowth {
                            run_id: run.clone(),
                            size: *size,
                            full,
                        }),
                    },
                }
                p.skips.push(skip(&e.id, f, SkipReason::Batched, Some(run.clone())));
                continue;
            }
            // A new batch, due at `timeout` (or now, for batches of one).
            if *max > 1 {
                run_at = run_at.max(now_ms + timeout);
            }
            batches.insert(fk, (run_id.clone(), 1, Some(p.runs.len())));
            p.batch_appends.push(BatchAppend {
                run_id: run_id.clone(),
                position: 0,
                event_id: e.id.clone(),
            });
            batch_key = Some(key.clone());
        }
        if !a.cancel_on.is_empty() {
            let trigger_event = e.view().to_string();
            for (index, (event_name, expr, lifetime)) in a.cancel_on.iter().enumerate() {
                p.cancel_waits.push(CancelWait {
                    run_id: run_id.clone(),
                    index,
                    event_name: event_name.clone(),
                    expr: expr.clone(),
                    trigger_event: trigger_event.clone(),
                    expires_at: now_ms + lifetime,
                });
            }
        }
        p.woken.push(f.clone());
        p.runs.push(RunRow {
            id: run_id.clone(),
            function_id: f.clone(),
            event_id: e.id.clone(),
            run_at,
            idempotency_key: m.idempotency_key.clone(),
            parent: m.parent.clone(),
            concurrency_key: a.concurrency_key.clone(),
            throttle_key: a.throttle_key.clone(),
            priority_ms: a.priority_ms,
            debounce_key: a.debounce.as_ref().map(|d| d.0.clone()),
            batch_size: u32::from(batch_key.is_some()),
            batch_key,
            singleton_key: a.singleton.as_ref().map(|s| s.0.clone()),
        });
    }
    p.batch_growth = stored_growth;
    p.singleton_cancels = singleton_order
        .into_iter()
        .filter_map(|fk| {
            let (newest, mode) = singletons.remove(&fk)?;
            (mode == SingletonMode::Cancel).then_some(SingletonCancel {
                function_id: fk.0,
                key: fk.1,
                newest,
            })
        })
        .collect();
    p.woken.sort();
    p.woken.dedup();
    p
}

fn skip(event_id: &str, function_id: &str, reason: SkipReason, existing_run_id: Option<String>) -> Skip {
    Skip {
        event_id: event_id.to_string(),
        function_id: function_id.to_string(),
        reason,
        existing_run_id,
    }
}
