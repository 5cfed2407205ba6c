//! The runs list's CEL filter (issue 13): an expression over `event` (the run's trigger event) and `output` (its
//! output, `null` if none), evaluated in Rust over the runs the other filters select, newest first.
//!
//! SQL cannot evaluate CEL, so the filter is a scan, and the scan is bounded: runs are read in batches of
//! [`SCAN_BATCH`] (the memory held at once) and at most `scan_limit` runs are evaluated per request
//! (`INGOT_RUNS_FILTER_SCAN`). A page therefore ends either full, at the end of the list, or at the cap; at the cap
//! it may hold fewer runs than asked (even none), and its cursor is the last run *examined*, so the next page
//! continues the scan where this one stopped: no run is skipped or shown twice.
//!
//! The expression sees the event and the output as the read API shows them: credentials are `"[redacted]"`
//! ([`read::redact`]) before evaluation, so an expression cannot test a guess at a secret.

use super::db::Db;
use super::error::Result;
use super::read::{self, Cursor, RunFilter, RunSummary};
use ingot_actors::expr::{Expr, ExprError, RUN_VARIABLES, Vars};
use serde::Serialize;

/// Runs read from the database per batch of the scan.
pub const SCAN_BATCH: i64 = 200;

/// Compiles a runs-list filter: `event` and `output` are its only variables.
pub fn compile(source: &str) -> std::result::Result<Expr, ExprError> {
    Expr::compile_over(source.trim(), &RUN_VARIABLES)
}

/// A page of the runs list under a CEL filter.
#[derive(Debug)]
pub struct Page {
    /// The runs the expression matched, newest first, at most the filter's `limit`.
    pub runs: Vec<RunSummary>,
    /// Where the next page starts; `None` at the end of the list.
    pub next: Option<Cursor>,
    pub scan: Scan,
}

/// What one page's scan did (the API's `scan` object).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Scan {
    /// Runs evaluated for this page.
    pub scanned: usize,
    /// The most a page evaluates.
    pub limit: usize,
    /// The scan stopped at `limit` before it knew whether more runs match: more may, after `next`.
    pub capped: bool,
}

/// One page of the runs `f` selects for which `expr` is true (a non-boolean or an evaluation error is false, as
/// for trigger conditions), evaluating at most `scan_limit` runs; `now()` is `now_ms`.
pub async fn page_matching(db: &Db, f: &RunFilter, expr: &Expr, scan_limit: usize, now_ms: i64) -> Result<Page> {
    let scan_limit = scan_limit.max(1);
    let mut runs = Vec::new();
    let mut scanned = 0usize;
    let mut batch = f.clone();
    loop {
        batch.limit = SCAN_BATCH.min((scan_limit - scanned) as i64);
        let rows = read::list_runs_with_payloads(db, &batch).await?;
        let full_batch = rows.len() as i64 == batch.limit;
        for (run, mut event, mut output) in rows {
            scanned += 1;
            let here = Cursor {
                created_at: run.created_ms,
                id: run.id.clone(),
            };
            read::redact(&mut event);
            read::redact(&mut output);
            if expr.matches_with(&Vars::new(now_ms).event(&event).output(&output)) {
                if runs.len() as i64 == f.limit {
                    // One match past the page: the page is full and the next one starts after its last run.
                    let next = runs.last().map(|r: &RunSummary| Cursor {
                        created_at: r.created_ms,
                        id: r.id.clone(),
                    });
                    return Ok(Page {
                        runs,
                        next,
                        scan: Scan {
                            scanned,
                            limit: scan_limit,
                            capped: false,
                        },
                    });
                }
                runs.push(run);
            }
            batch.before = Some(here);
        }
        let scan = |capped| Scan {
            scanned,
            limit: scan_limit,
            capped,
        };
        if !full_batch {
            return Ok(Page {
                runs,
                next: None,
                scan: scan(false),
            });
        }
        if scanned >= scan_limit {
            return Ok(Page {
                runs,
                next: batch.before,
                scan: scan(true),
            });
        }
    }
}
