//! The `nodes` table as the operator sees it: one row per daemon (`INGOT_NODE_ID`), when it last started and when
//! it last heartbeat (the supervisor writes `heartbeat_at` every `INGOT_LEASE_TTL / 3`, `runs/mod.rs`). A node
//! whose heartbeat is older than the lease TTL is stale: its running runs are rescued by the others.

use super::db::Db;
use super::error::Result;
use super::schema::nodes;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

/// One daemon's row: times in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Node {
    pub id: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

/// Records that `node_id` (re)started now: its start time and a heartbeat. Called once at start-up, before the
/// heartbeat thread's beats (`RunStore::heartbeat`), which change `heartbeat_at` only.
pub async fn started(db: &Db, node_id: &str, now_ms: i64) -> Result<()> {
    crate::with_conn!(db, write, |c| {
        diesel::insert_into(nodes::table)
            .values((
                nodes::id.eq(node_id),
                nodes::started_at.eq(now_ms),
                nodes::heartbeat_at.eq(now_ms),
            ))
            .on_conflict(nodes::id)
            .do_update()
            .set((
                nodes::started_at.eq(excluded(nodes::started_at)),
                nodes::heartbeat_at.eq(excluded(nodes::heartbeat_at)),
            ))
            .execute(c)
            .await?
    });
    Ok(())
}

/// Every node, the latest heartbeat first (the pruner drops nodes long gone that hold no run).
pub async fn list(db: &Db) -> Result<Vec<Node>> {
    Ok(crate::with_conn!(db, read, |c| {
        nodes::table
            .select((nodes::id, nodes::started_at, nodes::heartbeat_at))
            .order((nodes::heartbeat_at.desc(), nodes::id))
            .load::<Node>(c)
            .await?
    }))
}

/// Live or stale, as the claim judges a lease: stale when the heartbeat is older than `lease_ttl_ms`.
pub fn is_live(node: &Node, now_ms: i64, lease_ttl_ms: i64) -> bool {
    node.heartbeat_at >= now_ms - lease_ttl_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_older_than_the_lease_ttl_is_stale() {
        let node = |heartbeat_at| Node {
            id: "n".into(),
            started_at: 0,
            heartbeat_at,
        };
        assert!(
            is_live(&node(10_000), 40_000, 30_000),
            "exactly the TTL: still live, as the claim sees it"
        );
        assert!(!is_live(&node(9_999), 40_000, 30_000));
        assert!(is_live(&node(40_000), 40_000, 30_000));
    }
}
