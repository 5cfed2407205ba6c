//! ConvertKit end to end: `add-purchases-convertkit` (both accounts, per purchase) and `sync-purchase-tags` (the
//! backfill loop with its numbered steps and 200 ms sleeps, batches continued by event), against a stateful fake
//! ConvertKit v3; a kill -9 in the middle of the backfill and a replay (`durability.rs`). This file holds the
//! fake and the bed.

mod add_purchases;
mod durability;
mod sync_tags;

use crate::support::process::{Daemon, base_env};
use crate::support::{Api, Backend, TestDb};
use ingot::seed::builders;
use ingot::seed::demo;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub(super) const MAIN: &str = "ck_main_secret";
pub(super) const TT: &str = "ck_tt_secret";

#[derive(Default)]
pub(super) struct Account {
    /// email → (id, fields)
    pub(super) subscribers: BTreeMap<String, (u64, Map<String, Value>)>,
    /// Custom field labels (= keys).
    pub(super) fields: Vec<String>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) accounts: BTreeMap<String, Account>,
    /// (account secret, method, path, email or body) of every request.
    pub(super) requests: Vec<(String, String, String, Value)>,
    /// Answers for the next requests: (status, Retry-After).
    pub(super) fail_next: VecDeque<(u16, Option<String>)>,
    /// The first `PUT subscribers/{id}` answers after this delay (the change is applied on arrival).
    pub(super) first_put_delay: Option<Duration>,
    next_id: u64,
}

#[derive(Clone)]
pub(super) struct FakeConvertKit {
    pub(super) server: Arc<MockServer>,
    pub(super) state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Answer(Arc<Mutex<State>>);

fn err(code: u16, error: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": error, "message": message}))
}

fn subscriber_json(id: u64, email: &str, fields: &Map<String, Value>) -> Value {
    json!({"id": id, "first_name": null, "email_address": email, "state": "active",
        "created_at": "2026-01-01T00:00:00.000Z", "fields": fields})
}

impl Respond for Answer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let secret = query
            .get("api_secret")
            .cloned()
            .or_else(|| body["api_secret"].as_str().map(str::to_string))
            .unwrap_or_default();
        let (m, p) = (req.method.to_string(), req.url.path().to_string());
        let detail = match query.get("email_address") {
            Some(e) => json!(e),
            None => {
                let mut b = body.clone();
                if let Some(o) = b.as_object_mut() {
                    o.remove("api_secret");
                }
                b
            }
        };
        s.requests.push((secret.clone(), m.clone(), p.clone(), detail));
        if let Some((code, retry)) = s.fail_next.pop_front() {
            let a = err(code, "Error", "try again");
            return match retry {
                Some(r) => a.insert_header("retry-after", r.as_str()),
                None => a,
            };
        }
        let delay = if m == "PUT" { s.first_put_delay.take() } else { None };
        s.next_id += 1;
        let new_id = s.next_id;
        let Some(acct) = s.accounts.get_mut(&secret) else {
            return err(401, "Authorization Failed", "API Key not valid");
        };
        let answer = match (m.as_str(), p.as_str()) {
            ("GET", "/subscribers") => {
                let email = query.get("email_address").cloned().unwrap_or_default();
                let subs: Vec<Value> = acct
                    .subscribers
                    .get(&email)
                    .map(|(id, f)| subscriber_json(*id, &email, f))
                    .into_iter()
                    .collect();
                ResponseTemplate::new(200).set_body_json(
                    json!({"total_subscribers": subs.len(), "page": 1, "total_pages": 1, "subscribers": subs}),
                )
            }
            ("POST", "/custom_fields") => {
                let label = body["label"].as_str().unwrap_or_default().to_string();
                if acct.fields.contains(&label) {
                    return err(422, "Unprocessable entity", "Label has already been taken");
                }
                acct.fields.push(label.clone());
                for (_, f) in acct.subscribers.values_mut() {
                    f.insert(label.clone(), Value::Null);
                }
                ResponseTemplate::new(200).set_body_json(
                    json!({"id": new_id, "name": format!("ck_field_{new_id}_{label}"), "key": label, "label": label}),
                )
            }
            ("PUT", path) if path.starts_with("/subscribers/") => {
                let id: u64 = path["/subscribers/".len()..].parse().unwrap_or(0);
                let known = acct.fields.clone();
                let Some((email, (_, fields))) = acct.subscribers.iter_mut().find(|(_, (i, _))| *i == id) else {
                    return err(404, "Not Found", "The entity you were trying to find doesn't exist");
                };
                // ConvertKit ignores fields the account does not have.
                for (k, v) in body["fields"].as_object().cloned().unwrap_or_default() {
                    if known.contains(&k) {
                        fields.insert(k, v);
                    }
                }
                ResponseTemplate::new(200).set_body_json(json!({"subscriber": subscriber_json(id, email, fields)}))
            }
            _ => err(404, "Not Found", "no such route"),
        };
        match delay {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}

impl FakeConvertKit {
    pub(super) async fn start() -> FakeConvertKit {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        {
            let mut s = state.lock().unwrap();
            s.accounts.insert(MAIN.into(), Account::default());
            s.accounts.insert(TT.into(), Account::default());
        }
        Mock::given(any())
            .respond_with(Answer(state.clone()))
            .mount(&server)
            .await;
        FakeConvertKit {
            server: Arc::new(server),
            state,
        }
    }

    /// A subscriber in an account, with the given custom fields (which the account then has).
    pub(super) fn subscriber(&self, account: &str, id: u64, email: &str, fields: &[&str]) {
        let mut s = self.state.lock().unwrap();
        let acct = s.accounts.get_mut(account).unwrap();
        let mut f = Map::new();
        for k in fields {
            f.insert(k.to_string(), Value::Null);
            if !acct.fields.contains(&k.to_string()) {
                acct.fields.push(k.to_string());
            }
        }
        acct.subscribers.insert(email.into(), (id, f));
    }

    /// A subscriber's field value.
    pub(super) fn field(&self, account: &str, email: &str, field: &str) -> Value {
        let s = self.state.lock().unwrap();
        s.accounts[account].subscribers[email]
            .1
            .get(field)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// (method, path, email or body without the secret) of one account's requests, in order.
    pub(super) fn requests(&self, account: &str) -> Vec<(String, String, Value)> {
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|r| r.0 == account)
            .map(|r| (r.1.clone(), r.2.clone(), r.3.clone()))
            .collect()
    }

    /// The daemon's settings for both accounts (`tt: false` leaves the tt account unconfigured).
    pub(super) fn env(&self, tt: bool) -> Vec<(String, String)> {
        let mut env = vec![
            ("CONVERTKIT_API_KEY".to_string(), "ck_main_key".to_string()),
            ("CONVERTKIT_API_SECRET".into(), MAIN.into()),
            ("CONVERTKIT_API_BASE_URL".into(), self.server.uri()),
        ];
        if tt {
            env.push(("TT_CONVERTKIT_API_KEY".into(), "ck_tt_key".into()));
            env.push(("TT_CONVERTKIT_API_SECRET".into(), TT.into()));
        }
        env
    }
}

pub(super) struct Bed {
    pub(super) db: TestDb,
    pub(super) ck: FakeConvertKit,
}

impl Bed {
    /// The demo catalogue (its purchases: Alice Valid ×2, Bob Restricted, Carol's team and Dave's seat Valid;
    /// Erin, Frank and Grace not valid) and a buyer, Ada.
    pub(super) async fn new(b: Backend) -> Bed {
        let db = TestDb::new(b).await;
        demo::load(&db.db).await.unwrap();
        builders::user(&db.db, "u_ada", "ada@example.com", "Ada Lovelace")
            .await
            .unwrap();
        Bed {
            db,
            ck: FakeConvertKit::start().await,
        }
    }

    pub(super) fn env(&self, tt: bool) -> Vec<(String, String)> {
        let mut env = base_env(&self.db.url);
        env.extend(self.ck.env(tt));
        env
    }

    /// `purchases.created_at` of a purchase, as the field value ConvertKit gets.
    pub(super) async fn purchased_on(&self, purchase: &str) -> String {
        let p = ingot::platform::commerce::purchases::get_purchase(&self.db.db, purchase)
            .await
            .unwrap()
            .unwrap();
        format!("{} UTC", p.created_at.format("%Y-%m-%d %H:%M:%S"))
    }
}

/// `purchase/created` for a purchase; returns our event id.
pub(super) async fn announce(api: &Api, purchase_id: &str) -> String {
    api.send(json!({"name": "purchase/created", "data": {"purchaseId": purchase_id, "productType": "membership"}}))
        .await[0]
        .clone()
}

pub(super) fn start(env: &[(String, String)]) -> Daemon {
    Daemon::start(env)
}
