//! The node list with heartbeats (issue 13): `GET /health`'s `nodes` and the dashboard's health page show every
//! daemon sharing the database, when it started, its last heartbeat and its age, live or stale against
//! `INGOT_LEASE_TTL`. Other nodes are rows of the `nodes` table as their daemons write them; on PostgreSQL a second
//! daemon on the same database is one of them.

use crate::both;
use crate::dashboard::{Session, operator};
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot_actors::time::now_ms;
use serde_json::Value;

fn node<'a>(health: &'a Value, id: &str) -> &'a Value {
    health["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("node {id} in {health}"))
}

both!(health_lists_every_node_live_or_stale, nodes_impl);
async fn nodes_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "alice").await;
    let t0 = now_ms();
    // A node gone for an hour; a peer that heartbeat a minute ago; this node's row from an earlier start.
    // The lease TTL is an hour, so the peer's minute-old heartbeat is live however slow the machine.
    let (hour, minute) = (3_600_000i64, 60_000i64);
    db.exec(
        &format!(
            "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ('old-node', {}, {}), ('peer-node', {}, {}), \
             ('inproc-node', 1000, 2000)",
            t0 - 3 * hour,
            t0 - hour - minute,
            t0 - 2 * hour,
            t0 - minute
        ),
        &[],
    )
    .await;
    let settings = [("lease_ttl", "1h")];
    let d = InProc::start(&db.url, vec![], &settings).await;
    let health = d.api.get_ok("/health").await;

    let me = node(&health, "inproc-node");
    assert_eq!(
        (me["this"].as_bool(), me["state"].as_str()),
        (Some(true), Some("live")),
        "{me}"
    );
    // Started now, not at the earlier start.
    let started = chrono::DateTime::parse_from_rfc3339(me["started_at"].as_str().unwrap()).unwrap();
    assert!(started.timestamp_millis() >= t0, "{me}");
    assert!(me["heartbeat_age_ms"].as_i64().unwrap() < hour);

    let old = node(&health, "old-node");
    assert_eq!(
        (old["this"].as_bool(), old["state"].as_str()),
        (Some(false), Some("stale")),
        "{old}"
    );
    assert!(old["heartbeat_age_ms"].as_i64().unwrap() >= hour + minute, "{old}");
    assert_eq!(
        old["heartbeat_at"].as_str(),
        Some(ingot_actors::time::rfc3339(t0 - hour - minute).as_str())
    );
    let peer = node(&health, "peer-node");
    assert_eq!(peer["state"], "live", "{peer}");
    assert_eq!(
        peer["started_at"].as_str(),
        Some(ingot_actors::time::rfc3339(t0 - 2 * hour).as_str())
    );

    // On PostgreSQL, a second daemon on the same database: each lists both, and knows which it is.
    let mut expected = vec!["inproc-node", "peer-node", "old-node"];
    let second = if backend == Backend::Postgres {
        let mut more = settings.to_vec();
        more.push(("node_id", "second-node"));
        let second = InProc::start(&db.url, vec![], &more).await;
        let from_second = second.api.get_ok("/health").await;
        assert_eq!(node(&from_second, "second-node")["this"], true, "{from_second}");
        assert_eq!(node(&from_second, "inproc-node")["this"], false);
        assert_eq!(node(&from_second, "inproc-node")["state"], "live");
        expected.insert(0, "second-node");
        Some(second)
    } else {
        None
    };
    let health = d.api.get_ok("/health").await;
    let ids: Vec<&str> = health["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    // The latest heartbeat first (the second daemon started last).
    assert_eq!(ids, expected, "{health}");

    // The dashboard's health page: the same list as a table, the ages as durations.
    let s = Session::login(&d.api.base, "alice").await;
    let page = s.page("/dashboard/health").await;
    assert!(page.contains(r#"<h2 id="h-nodes">Nodes</h2>"#), "{page}");
    for text in [
        "<td>old-node</td><td>no</td><td>stale</td>",
        "<td>peer-node</td><td>no</td><td>live</td>",
        "<td>inproc-node</td><td>yes</td><td>live</td>",
        r#"<th scope="col">Heartbeat age</th>"#,
    ] {
        assert!(page.contains(text), "{text}: {page}");
    }
    // An hour and a minute, as a duration.
    assert!(
        page.contains(r#"<tr id="node-old-node">"#) && !page.contains("Heartbeat age ms"),
        "{page}"
    );
    if let Some(second) = second {
        second.stop().await;
    }
    d.stop().await;
}
