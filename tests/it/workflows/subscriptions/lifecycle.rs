//! Lifecycle 4: a subscription checkout from the signed webhook → subscription, learner role, Discord subscriber
//! role (after a 429); a 502 from Discord on the way out; Stripe's `customer.subscription.created`, a paid invoice; `customer.subscription.deleted` →
//! subscription ended, role removed; a late, older update changes nothing; the deletion delivered again neither.

use super::{Bed, EMAIL, P0, P1, SUB_ROLE, at, deliver, invoice_event, member_path, stored, sub_event, subscription};
use crate::both;
use crate::support::Backend;
use crate::workflows::harness::{completed_event, emitted, step_names};
use serde_json::json;

both!(subscription_checkout_to_cancellation, lifecycle_impl);
async fn lifecycle_impl(b: Backend) {
    let bed = Bed::new(b).await;
    bed.discord.lock().unwrap().rate_limit_next = true;
    let d = bed.start();
    let db = &bed.db;

    // 1. The checkout.
    let ids = deliver(
        &d,
        &completed_event("evt_sub_checkout", "cs_sub", "subscription", "paid"),
    )
    .await;
    let runs = d.api.runs_of(&ids[0]).await;
    assert_eq!(runs.len(), 1, "only the subscription checkout runs: {runs:?}");
    let checkout = &runs[0];
    assert_eq!(checkout["function_id"], "stripe-subscription-checkout");
    assert_eq!(checkout["status"], "completed", "{checkout}");
    let sub = &checkout["output"]["subscription"];
    assert_eq!(
        (
            sub["status"].as_str(),
            sub["productId"].as_str(),
            sub["currentPeriodEnd"].as_str()
        ),
        (Some("active"), Some("prod_member"), Some(at(P1).as_str()))
    );
    let org = "org_personal_u_sub";
    assert_eq!(sub["organizationId"], org);
    assert_eq!(
        step_names(checkout),
        [
            "load the merchant account",
            "get stripe checkout session",
            "parse checkout session for subscription",
            "load the user",
            "load the organization",
            "store the checkout session",
            "load the merchant product",
            "load the merchant customer",
            "create a merchant subscription",
            "give member learner role",
            "send new subscription created event",
        ]
    );
    let rows = [
        (
            "SELECT COUNT(*) AS n FROM merchant_sessions WHERE identifier = 'cs_sub' AND organization_id = $1",
            org,
        ),
        (
            "SELECT COUNT(*) AS n FROM merchant_customers WHERE identifier = 'cus_sub' AND user_id = $1",
            "u_sub",
        ),
        (
            "SELECT COUNT(*) AS n FROM merchant_subscriptions WHERE identifier = 'sub_1' AND merchant_product_id = $1",
            "mp_member",
        ),
    ];
    for (sql, p) in rows {
        assert_eq!(db.count(sql, &[p]).await, 1, "{sql}");
    }
    assert_eq!(stored(db, "sub_1").await, ["active|live"]);
    let learner = "SELECT COUNT(*) AS n FROM organization_membership_roles r JOIN roles ON roles.id = r.role_id \
                   JOIN organization_memberships m ON m.id = r.organization_membership_id \
                   WHERE m.user_id = 'u_sub' AND m.organization_id = $1 AND roles.name = 'learner'";
    assert_eq!(db.count(learner, &[org]).await, 1);

    // 2. subscription/created → the Discord role, after Discord's 429.
    let created = emitted(db, &d.api, checkout, "send new subscription created event").await;
    assert_eq!(created[0]["event"]["name"], "subscription/created");
    assert_eq!(
        created[0]["event"]["data"],
        json!({"subscriptionId": sub["id"], "checkoutSessionId": "cs_sub"})
    );
    assert_eq!(created[0]["event"]["user"]["email"], EMAIL);
    let role = d.api.only_run(created[0]["id"].as_str().unwrap()).await;
    assert_eq!(role["function_id"], "add-subscription-discord-role");
    assert_eq!(role["status"], "completed", "{role}");
    assert_eq!(role["output"]["added"], true);
    assert_eq!(
        role["output"]["discordMember"]["roles"],
        json!(["role_manual", SUB_ROLE])
    );
    let get = ("GET".to_string(), member_path(""));
    assert_eq!(
        bed.calls(),
        [get.clone(), get.clone(), ("PATCH".into(), member_path("")), get.clone()]
    );
    assert_eq!(
        bed.discord.lock().unwrap().requests[2].2,
        json!({"roles": ["role_manual", SUB_ROLE]})
    );
    assert_eq!(
        role["steps"].as_array().unwrap()[2]["attempts"],
        2,
        "the 429 was retried"
    );

    // 3. Stripe's own customer.subscription.created, and the first paid invoice.
    let ids = deliver(
        &d,
        &sub_event(
            "evt_sub_created",
            "created",
            P0,
            subscription("sub_1", "active", P0, P1),
        ),
    )
    .await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(
        (run["function_id"].as_str(), run["output"]["updated"].as_bool()),
        (Some("stripe-customer-subscription-created"), Some(true)),
        "{run}"
    );
    let p2 = P1 + 30 * 86_400;
    let ids = deliver(&d, &invoice_event("evt_inv_1", "in_1", Some("sub_1"), P1, p2)).await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["output"]["kind"], "subscription", "{run}");
    assert_eq!(run["output"]["subscription"]["currentPeriodEnd"], at(p2));
    let inv = "SELECT COUNT(*) AS n FROM merchant_invoices WHERE identifier = 'in_1' AND amount_paid_cents = 2000 \
               AND subscription_id = $1";
    assert_eq!(db.count(inv, &[sub["id"].as_str().unwrap()]).await, 1);

    // 4. Canceled: ended, subscription/ended, the role removed.
    bed.discord.lock().unwrap().fail_next = true;
    let deleted = sub_event(
        "evt_sub_deleted",
        "deleted",
        P1 + 10,
        subscription("sub_1", "canceled", P1, p2),
    );
    let ids = deliver(&d, &deleted).await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["function_id"], "stripe-customer-subscription-updated");
    assert_eq!(
        (
            run["output"]["ended"].as_bool(),
            run["output"]["previousStatus"].as_str()
        ),
        (Some(true), Some("active")),
        "{run}"
    );
    assert_eq!(stored(db, "sub_1").await, ["canceled|ended"]);
    let ended = emitted(db, &d.api, &run, "send subscription ended event").await;
    assert_eq!(
        ended[0]["event"]["data"],
        json!({"subscriptionId": sub["id"], "organizationId": org, "userId": "u_sub", "status": "canceled"})
    );
    let removal = d.api.only_run(ended[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        (removal["status"].as_str(), removal["output"]["removed"].as_bool()),
        (Some("completed"), Some(true)),
        "{removal}"
    );
    assert_eq!(bed.roles(), ["role_manual"]);
    // Discord answered the first call 502: retried.
    let delete = ("DELETE".to_string(), member_path(&format!("/roles/{SUB_ROLE}")));
    assert_eq!(
        bed.calls()[4..],
        [get.clone(), get.clone(), get.clone(), delete, get.clone()]
    );
    assert_eq!(removal["steps"].as_array().unwrap()[2]["attempts"], 2, "{removal}");

    // 5. An older update delivered late: ignored.
    let late = sub_event(
        "evt_sub_late",
        "updated",
        P0 + 50,
        subscription("sub_1", "active", P0, P1),
    );
    let ids = deliver(&d, &late).await;
    let run = d.api.only_run(&ids[0]).await;
    assert_eq!(run["output"]["updated"], false, "{run}");
    assert_eq!(stored(db, "sub_1").await, ["canceled|ended"]);

    // 6. The deletion again: a duplicate.
    let again = deliver(&d, &deleted).await;
    assert!(
        again.is_empty(),
        "a seen Stripe delivery is acknowledged without a new event: {again:?}"
    );
    assert_eq!(bed.calls().len(), 9);
}
