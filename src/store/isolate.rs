//! Failure isolation for group commits: the work of many callers shares one transaction, and one caller's bad
//! input must not fail the others. Used by the run store's writer ([`super::runs::writer`]) and the intake
//! ([`super::events::group`]).

use super::error::{Error, Result};

/// `apply` commits a slice of `items` in one transaction; `result` reads one item's answer from what a committed
/// slice reported. If a slice fails and the error is an outage ([`Error::is_outage`]) or the slice is one item,
/// every item of the slice gets (a class-keeping copy of) that error; otherwise the slice is split in halves and
/// each is applied on its own. One poisoned item among n costs about 2·log2(n) further transactions. `what`
/// names the work in the warnings.
pub async fn isolate<'w, T, C, R, F, Fut>(
    what: &str,
    items: &'w [T],
    mut apply: F,
    mut result: impl FnMut(&mut C, &T) -> Result<R>,
) -> Vec<Result<R>>
where
    F: FnMut(&'w [T]) -> Fut,
    Fut: std::future::Future<Output = Result<C>>,
{
    let mut results: Vec<Option<Result<R>>> = items.iter().map(|_| None).collect();
    let mut todo = Vec::with_capacity(16);
    todo.push(0..items.len());
    while let Some(range) = todo.pop() {
        if range.is_empty() {
            continue;
        }
        match apply(&items[range.clone()]).await {
            Ok(mut committed) => {
                for i in range {
                    results[i] = Some(result(&mut committed, &items[i]));
                }
            }
            Err(e) if range.len() == 1 || e.is_outage() => {
                if range.len() > 1 {
                    tracing::warn!(error = %e, parts = range.len(), "{what} failed; each part will retry");
                }
                for i in range {
                    results[i] = Some(Err(e.duplicate()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, parts = range.len(), "{what} failed; applying it in halves");
                let mid = range.start + range.len() / 2;
                // The first half is applied first (popped last-in first-out).
                todo.push(mid..range.end);
                todo.push(range.start..mid);
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Data("isolate left an item unanswered".into()))))
        .collect()
}
