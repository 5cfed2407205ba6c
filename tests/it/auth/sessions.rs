//! Dashboard sign-in: argon2 passwords, the session cookie, CSRF on every non-GET request, sign-out.

use super::rows_containing;
use crate::both;
use crate::support::inproc::InProc;
use crate::support::{Backend, TestDb};
use ingot::store::auth::operators::{NewOperator, create};
use reqwest::header::{COOKIE, SET_COOKIE};

const PASSWORD: &str = "a long enough passphrase";

async fn operator(db: &TestDb, name: &str) {
    let hash = ingot::http::auth::passwords::hash(PASSWORD).unwrap();
    let op = NewOperator {
        id: &format!("op-{name}"),
        name,
        password_hash: &hash,
        created_at: 0,
    };
    assert!(create(&db.db, &op).await.unwrap());
}

fn client() -> reqwest::Client {
    crate::support::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login(base: &str, name: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/login"))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

both!(a_session_signs_in_needs_csrf_to_act_and_signs_out, session_impl);
async fn session_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "alice").await;
    let d = InProc::start(&db.url, vec![], &[]).await;
    let base = d.api.base.clone();

    // Wrong password and unknown user: the same 401 page, no cookie.
    let wrong = login(&base, "alice", "not the passphrase").await;
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let (wrong_status, wrong_page) = (wrong.status().as_u16(), wrong.text().await.unwrap());
    let unknown = login(&base, "mallory", PASSWORD).await;
    assert_eq!(
        (unknown.status().as_u16(), unknown.text().await.unwrap()),
        (wrong_status, wrong_page.clone())
    );
    assert_eq!(wrong_status, 401);
    assert!(wrong_page.contains("Wrong name or password."));

    // The right one: a cookie (HttpOnly, SameSite=Strict, not Secure by default) and the dashboard.
    let ok = login(&base, "alice", PASSWORD).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/dashboard");
    let set = ok.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"),
        "{set}"
    );
    let value = set
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("ingot_session=")
        .unwrap()
        .to_string();
    let cookie = format!("ingot_session={value}");
    // Only its hash is stored.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM operator_sessions", &[]).await, 1);
    assert_eq!(rows_containing(&db, "operator_sessions", "id_sha256", &value).await, 0);
    assert_eq!(rows_containing(&db, "operators", "password_hash", PASSWORD).await, 0);

    let page = client()
        .get(format!("{base}/dashboard"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("alice") && !page.contains("Authentication is off"),
        "{page}"
    );
    let csrf = ingot::http::auth::sessions::csrf_token(&value);
    assert!(
        page.contains(&format!("name=\"csrf_token\" value=\"{csrf}\"")),
        "{page}"
    );

    // The cookie reads the API.
    let runs = client()
        .get(format!("{base}/api/v1/runs"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), 200);
    // Acting needs the CSRF token: missing or wrong → 403; right (header) → through to the handler (404 here).
    let cancel = format!("{base}/api/v1/runs/nope/cancel");
    let missing = client().post(&cancel).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = client()
        .post(&cancel)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", "0".repeat(64));
    assert_eq!(wrong.send().await.unwrap().status(), 403);
    let right = client()
        .post(&cancel)
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf);
    assert_eq!(right.send().await.unwrap().status(), 404);
    // A form field works too (the page's sign-out form); without it, sign-out is refused.
    let logout = format!("{base}/logout");
    let refused = client()
        .post(&logout)
        .header(COOKIE, &cookie)
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let out = client()
        .post(&logout)
        .header(COOKIE, &cookie)
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/login");
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM operator_sessions", &[]).await, 0);
    // The old cookie is worthless now.
    let after = client()
        .get(format!("{base}/api/v1/runs"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    d.stop().await;
}

both!(an_expired_session_is_refused_and_cookies_can_be_secure, expiry_impl);
async fn expiry_impl(backend: Backend) {
    let db = TestDb::new(backend).await;
    operator(&db, "bob").await;
    let d = InProc::start(&db.url, vec![], &[("cookie_secure", "true")]).await;
    let ok = login(&d.api.base, "bob", PASSWORD).await;
    let set = ok.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(set.ends_with("; Secure"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let get = || {
        client()
            .get(format!("{}/api/v1/runs", d.api.base))
            .header(COOKIE, &cookie)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    // Expire it in the database: refused.
    db.exec("UPDATE operator_sessions SET expires_at = 1", &[]).await;
    assert_eq!(get().await.unwrap().status(), 401);
    d.stop().await;
}
