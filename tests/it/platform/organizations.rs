//! Organizations, memberships and membership roles (§6.1).

use super::rows;
use crate::both;
use crate::support::{Backend, TestDb};
use ingot::platform::Error;
use ingot::platform::organizations as orgs;
use ingot::seed::builders;

both!(ensures_personal_organization_once, ensures_personal_organization_impl);
async fn ensures_personal_organization_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    t.insert_users(&[("u1".into(), "ada@example.com".into())]).await;
    let user = ingot::platform::users::get_user(db, "u1").await.unwrap().unwrap();
    assert_eq!(orgs::get_personal_organization(db, &user).await.unwrap(), None);

    let first = orgs::ensure_personal_organization(db, &user).await.unwrap();
    assert!(first.was_created);
    assert_eq!(first.organization.name.as_deref(), Some("Personal (ada@example.com)"));
    assert_eq!(first.membership.user_id, "u1");
    assert_eq!(first.membership.invited_by_id, "u1");
    let second = orgs::ensure_personal_organization(db, &user).await.unwrap();
    assert!(!second.was_created);
    assert_eq!(
        (second.organization, second.membership),
        (first.organization.clone(), first.membership.clone())
    );
    assert_eq!(rows(&t, "organizations").await, 1);
    assert_eq!(
        orgs::member_role_names(db, &first.membership.id).await.unwrap(),
        ["owner"]
    );

    let with_learner = orgs::ensure_personal_organization_with_learner_role(db, &user)
        .await
        .unwrap();
    orgs::ensure_personal_organization_with_learner_role(db, &user)
        .await
        .unwrap();
    assert_eq!(with_learner.organization.id, first.organization.id);
    assert_eq!(
        orgs::member_role_names(db, &first.membership.id).await.unwrap(),
        ["learner", "owner"]
    );
    assert_eq!(rows(&t, "organization_membership_roles").await, 2);
    assert_eq!(rows(&t, "organization_memberships").await, 1);

    let found = orgs::get_personal_organization(db, &user).await.unwrap().unwrap();
    assert_eq!(found.organization.id, first.organization.id);
}

both!(personal_organization_falls_back_to_first_membership, fallback_impl);
async fn fallback_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    t.insert_users(&[("u1".into(), "ada@example.com".into())]).await;
    let team = orgs::ensure_organization(db, "org_team", "Team").await.unwrap();
    orgs::add_member_to_organization(db, &team.id, "u1", "u1")
        .await
        .unwrap();
    let user = ingot::platform::users::get_user(db, "u1").await.unwrap().unwrap();
    let found = orgs::get_personal_organization(db, &user).await.unwrap().unwrap();
    assert_eq!(found.organization.id, "org_team");
    // ensure_* keeps the fallback, as the original does (no second organization).
    let ensured = orgs::ensure_personal_organization(db, &user).await.unwrap();
    assert!(!ensured.was_created);
    assert_eq!(ensured.organization.id, "org_team");
    let nameless = ingot::platform::users::User {
        email: " ".into(),
        ..user
    };
    assert!(matches!(
        orgs::get_personal_organization(db, &nameless).await,
        Err(Error::Invalid(_))
    ));
}

both!(adds_members_and_roles_idempotently, members_and_roles_impl);
async fn members_and_roles_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::user(db, "owner", "owner@example.com", "O").await.unwrap();
    builders::user(db, "seat", "seat@example.com", "S").await.unwrap();
    let team = orgs::ensure_organization(db, "org_team", "Team").await.unwrap();
    assert_eq!(
        orgs::ensure_organization(db, "org_team", "Renamed").await.unwrap(),
        team
    );

    let m1 = orgs::add_member_to_organization(db, "org_team", "seat", "owner")
        .await
        .unwrap();
    let m2 = orgs::add_member_to_organization(db, "org_team", "seat", "someone-else")
        .await
        .unwrap();
    assert_eq!(m1, m2, "the existing membership is returned");
    assert_eq!(m1.invited_by_id, "owner");
    assert_eq!(
        orgs::get_membership(db, "org_team", "seat").await.unwrap(),
        Some(m1.clone())
    );
    assert_eq!(orgs::get_membership(db, "org_team", "owner").await.unwrap(), None);
    let missing = orgs::add_member_to_organization(db, "org_nope", "seat", "owner").await;
    assert!(matches!(
        missing,
        Err(Error::NotFound {
            entity: "organization",
            ..
        })
    ));

    let r1 = orgs::add_role_for_member(db, "org_team", &m1.id, "learner")
        .await
        .unwrap();
    let r2 = orgs::add_role_for_member(db, "org_team", &m1.id, "learner")
        .await
        .unwrap();
    assert_eq!(r1, r2);
    assert_eq!(r1.role_id, "role_learner", "the seeded global role");
    // A name with no global role gets an organization-scoped role, created once.
    let mentor = orgs::add_role_for_member(db, "org_team", &m1.id, "mentor")
        .await
        .unwrap();
    let mentor2 = orgs::add_role_for_member(db, "org_team", &m1.id, "mentor")
        .await
        .unwrap();
    assert_eq!(mentor.role_id, mentor2.role_id);
    assert_eq!(
        t.count(
            "SELECT COUNT(*) AS n FROM roles WHERE organization_id = 'org_team'",
            &[]
        )
        .await,
        1
    );
    assert_eq!(
        orgs::member_role_names(db, &m1.id).await.unwrap(),
        ["learner", "mentor"]
    );

    // A deleted role is made live again.
    t.exec(
        "UPDATE organization_membership_roles SET deleted_at = created_at, active = FALSE",
        &[],
    )
    .await;
    assert!(orgs::member_role_names(db, &m1.id).await.unwrap().is_empty());
    orgs::add_role_for_member(db, "org_team", &m1.id, "learner")
        .await
        .unwrap();
    assert_eq!(orgs::member_role_names(db, &m1.id).await.unwrap(), ["learner"]);

    let all = orgs::memberships_of_user(db, "seat").await.unwrap();
    assert_eq!(all.len(), 2, "personal + team");
}

both!(removes_members_but_never_owners, removes_members_impl);
async fn removes_members_impl(b: Backend) {
    let t = TestDb::new(b).await;
    let db = &t.db;
    builders::user(db, "owner", "owner@example.com", "O").await.unwrap();
    builders::user(db, "seat", "seat@example.com", "S").await.unwrap();
    orgs::ensure_organization(db, "org_team", "Team").await.unwrap();
    let om = orgs::add_member_to_organization(db, "org_team", "owner", "owner")
        .await
        .unwrap();
    orgs::add_role_for_member(db, "org_team", &om.id, "owner")
        .await
        .unwrap();
    let sm = orgs::add_member_to_organization(db, "org_team", "seat", "owner")
        .await
        .unwrap();
    orgs::add_role_for_member(db, "org_team", &sm.id, "learner")
        .await
        .unwrap();

    assert!(!orgs::remove_member_unless_owner(db, "org_team", "owner").await.unwrap());
    assert!(orgs::remove_member_unless_owner(db, "org_team", "seat").await.unwrap());
    assert!(
        !orgs::remove_member_unless_owner(db, "org_team", "seat").await.unwrap(),
        "twice: nothing left"
    );
    assert_eq!(orgs::get_membership(db, "org_team", "seat").await.unwrap(), None);
    assert!(orgs::get_membership(db, "org_team", "owner").await.unwrap().is_some());
    assert!(!orgs::remove_member_unless_owner(db, "org_nope", "seat").await.unwrap());
}
