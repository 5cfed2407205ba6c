//! `ingot seed demo`: a coherent catalogue, loaded twice without change; and every platform table on both
//! backends.

use super::{PLATFORM_TABLES, rows, snapshot};
use crate::both;
use crate::support::process::base_env;
use crate::support::{Backend, TestDb};
use ingot::platform::commerce::PurchaseStatus;
use ingot::platform::{commerce::purchases, users};
use ingot::seed::demo::{self, ids};

both!(demo_is_coherent_and_idempotent, demo_impl);
async fn demo_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let summary = demo::load(db).await.unwrap();
    assert_eq!((summary.users, summary.products, summary.purchases), (7, 4, 8));
    let first = snapshot(&t).await;
    demo::load(db).await.unwrap();
    assert_eq!(snapshot(&t).await, first, "loading twice changes nothing");

    for status in PurchaseStatus::ALL {
        let n = t
            .count(
                "SELECT COUNT(*) AS n FROM purchases WHERE status = $1",
                &[status.as_str()],
            )
            .await;
        assert!(n >= 1, "a purchase in status {status}");
    }
    assert!(users::get_account(db, ids::ALICE, "discord").await.unwrap().is_some());
    let team = purchases::get_purchase(db, ids::PURCHASE_CAROL_TEAM)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(team.bulk_coupon_id.as_deref(), Some(ids::TEAM_COUPON));
    assert_eq!(rows(&t, "content_resource_products").await, 4);
    assert_eq!(
        t.count("SELECT COUNT(*) AS n FROM entitlements WHERE deleted_at IS NULL", &[])
            .await,
        22
    );
}

both!(every_platform_table_exists, tables_impl);
async fn tables_impl(b: Backend) {
    let t = TestDb::new(b).await;
    for table in PLATFORM_TABLES {
        assert!(rows(&t, table).await >= 0, "{table}");
    }
    assert_eq!(rows(&t, "entitlement_types").await, 6);
}

both!(seed_demo_command_loads_the_configured_database, command_impl);
async fn command_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let bin = env!("CARGO_BIN_EXE_ingot");
    for _ in 0..2 {
        let out = std::process::Command::new(bin)
            .args(["seed", "demo"])
            .envs(base_env(&t.url))
            .output()
            .expect("run ingot seed demo");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("demo loaded (7 users, 4 products, 8 purchases"),
            "{stdout}"
        );
    }
    assert_eq!(rows(&t, "purchases").await, 8);
}
