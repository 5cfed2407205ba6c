//! Users and OAuth accounts.

use super::rows;
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::Error;
use ingot::platform::organizations;
use ingot::platform::users::{self, NewAccount};
use ingot::seed::builders;

both!(gets_users_and_accounts, gets_users_and_accounts_impl);
async fn gets_users_and_accounts_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::user(db, "u1", "ada@example.com", "Ada").await.unwrap();
    builders::account(db, "u1", "discord", "d-123").await.unwrap();
    builders::account(db, "u1", "github", "gh-1").await.unwrap();

    let u = users::get_user(db, "u1").await.unwrap().unwrap();
    assert_eq!((u.email.as_str(), u.name.as_deref()), ("ada@example.com", Some("Ada")));
    assert_eq!(
        users::get_user_by_email(db, "ada@example.com").await.unwrap(),
        Some(u.clone())
    );
    let with = users::get_user_with_accounts(db, "u1").await.unwrap().unwrap();
    let providers: Vec<_> = with.accounts.iter().map(|a| a.provider.as_str()).collect();
    assert_eq!(providers, ["discord", "github"]);
    let discord = users::get_account(db, "u1", "discord").await.unwrap().unwrap();
    assert_eq!(discord.provider_account_id, "d-123");
    let token = users::get_account_access_token(db, "u1", "discord")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.expose(), "demo-discord-token-u1");
    assert!(
        !format!("{token:?}").contains("demo-discord"),
        "tokens are never printed"
    );
    let json = serde_json::to_string(&with).unwrap();
    assert!(
        !json.contains("demo-discord-token"),
        "tokens are not in serialized outputs: {json}"
    );

    assert_eq!(users::get_user(db, "nobody").await.unwrap(), None);
    assert_eq!(users::get_user_with_accounts(db, "nobody").await.unwrap(), None);
    assert_eq!(users::get_account(db, "u1", "google").await.unwrap(), None);
    assert!(
        users::get_account_access_token(db, "u1", "google")
            .await
            .unwrap()
            .is_none()
    );
}

both!(links_accounts_idempotently, links_accounts_impl);
async fn links_accounts_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::user(db, "u1", "ada@example.com", "Ada").await.unwrap();
    let new = NewAccount {
        provider: "discord".into(),
        provider_account_id: "d-1".into(),
        user_id: "u1".into(),
        access_token: Some("t1".into()),
        ..NewAccount::default()
    };
    let first = users::link_account(db, &new).await.unwrap();
    let again = users::link_account(db, &new).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(rows(&t, "accounts").await, 1);
    let refreshed = NewAccount {
        access_token: Some("t2".into()),
        ..new.clone()
    };
    users::link_account(db, &refreshed).await.unwrap();
    assert_eq!(rows(&t, "accounts").await, 1);
    assert_eq!(
        users::get_account_access_token(db, "u1", "discord")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "t2"
    );

    let orphan = NewAccount {
        user_id: "nobody".into(),
        ..new
    };
    assert!(matches!(
        users::link_account(db, &orphan).await,
        Err(Error::NotFound { .. })
    ));
}

both!(finds_or_creates_users, finds_or_creates_users_impl);
async fn finds_or_creates_users_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let (u, created) = users::find_or_create_user(db, "new@example.com", Some("New"))
        .await
        .unwrap();
    assert!(created && u.id.starts_with("u_"));
    let (again, created_again) = users::find_or_create_user(db, "new@example.com", None).await.unwrap();
    assert_eq!((again, created_again), (u.clone(), false));
    assert_eq!(rows(&t, "users").await, 1);
    // Like the web app's createUser: a personal organization where the user is owner — exactly one.
    let orgs = organizations::memberships_of_user(db, &u.id).await.unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].organization.name.as_deref(), Some("Personal (new@example.com)"));
    let roles = organizations::member_role_names(db, &orgs[0].membership.id)
        .await
        .unwrap();
    assert_eq!(roles, ["owner"]);

    for bad in ["", "   ", "not-an-email"] {
        let err = users::find_or_create_user(db, bad, None).await.unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{bad:?}: {err}");
    }
    assert_eq!(rows(&t, "users").await, 1, "bad input changes nothing");
}

both!(lists_users_without_organization, lists_users_without_organization_impl);
async fn lists_users_without_organization_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    t.insert_users(&[
        ("a".into(), "a@example.com".into()),
        ("b".into(), "b@example.com".into()),
    ])
    .await;
    builders::user(db, "c", "c@example.com", "C").await.unwrap();
    let ids: Vec<String> = users::users_without_organization(db, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"a".to_string()) && ids.contains(&"b".to_string()));
    assert_eq!(users::users_without_organization(db, 1).await.unwrap().len(), 1);
    let a = users::get_user(db, "a").await.unwrap().unwrap();
    organizations::ensure_personal_organization(db, &a).await.unwrap();
    let left: Vec<String> = users::users_without_organization(db, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(left, ["b"]);
}

both!(seeds_global_roles, seeds_global_roles_impl);
async fn seeds_global_roles_impl(b: Backend) {
    let t = TestDb::new(b).await;
    for name in ["admin", "user", "contributor", "owner", "learner"] {
        let r = users::get_global_role(&t.db, name).await.unwrap();
        assert_eq!(r.map(|r| r.name), Some(name.to_string()));
    }
    assert_eq!(users::get_global_role(&t.db, "wizard").await.unwrap(), None);
}

both!(stores_verification_tokens_once, tokens_impl);
async fn tokens_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    let later = ingot::platform::now() + chrono::TimeDelta::hours(24);
    let earlier = ingot::platform::now() - chrono::TimeDelta::hours(1);
    assert!(
        users::create_verification_token(db, "a@example.com", "hash1", later)
            .await
            .unwrap()
    );
    assert!(
        !users::create_verification_token(db, "a@example.com", "hash1", later)
            .await
            .unwrap()
    );
    assert!(
        users::verification_token_is_valid(db, "a@example.com", "hash1")
            .await
            .unwrap()
    );
    users::create_verification_token(db, "a@example.com", "old", earlier)
        .await
        .unwrap();
    assert!(
        !users::verification_token_is_valid(db, "a@example.com", "old")
            .await
            .unwrap(),
        "expired"
    );
    assert!(
        !users::verification_token_is_valid(db, "a@example.com", "nope")
            .await
            .unwrap()
    );
}

#[test]
fn new_accounts_hide_their_tokens_from_debug() {
    let a = NewAccount {
        provider: "discord".into(),
        access_token: Some("s3cret-access".into()),
        refresh_token: Some("s3cret-refresh".into()),
        ..NewAccount::default()
    };
    let shown = format!("{a:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("discord"));
}
