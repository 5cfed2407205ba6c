//! The dashboard's actions: HTML forms POSTing `application/x-www-form-urlencoded` under `/dashboard/...` (not
//! `/api/`), each with the session's `csrf_token` (the auth middleware checks it, and refuses read-only tokens).
//! Every handler calls the same function as the JSON API (`http::actions::runs` / `::functions`), so the
//! checks, the store's change and the audit are one implementation; then it answers 303 to the affected page with
//! a flash notice. A refused action (unknown run, finished run, bad time...) comes back as an error notice.

use super::layout::{self, Flash, Page, PageError, redirect_with, url_encode};
use crate::http::AppState;
use crate::http::actions::{functions, runs};
use crate::http::auth::Identity;
use crate::http::error::ApiError;
use actix_web::web;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A refusal becomes an error notice on `back`; a failure of the database or the daemon stays an error page.
fn outcome(result: Result<String, ApiError>, back: &str) -> Page {
    match result {
        Ok(message) => Ok(redirect_with(back, Flash { ok: true, message })),
        Err(e @ (ApiError::BadRequest(_) | ApiError::NotFound(_) | ApiError::Conflict(_))) => Ok(redirect_with(
            back,
            Flash {
                ok: false,
                message: e.to_string(),
            },
        )),
        Err(e) => Err(PageError(e)),
    }
}

fn run_page(id: &str) -> String {
    format!("/dashboard/runs/{}", url_encode(id))
}

/// `POST /dashboard/runs/{id}/cancel`.
pub async fn cancel(id: web::Path<String>, state: web::Data<AppState>, who: Identity) -> Page {
    let id = id.into_inner();
    let r = runs::cancel(&state, &id, who.who())
        .await
        .map(|()| "Run cancelled.".to_string());
    outcome(r, &run_page(&id))
}

#[derive(Debug, Deserialize)]
pub struct RerunForm {
    /// Empty or absent: from the start.
    #[serde(default)]
    from_step: String,
}

/// `POST /dashboard/runs/{id}/rerun` (`from_step` optional): to the new run's page.
pub async fn rerun(
    id: web::Path<String>,
    form: web::Form<RerunForm>,
    state: web::Data<AppState>,
    who: Identity,
) -> Page {
    let id = id.into_inner();
    let from_step = Some(form.from_step.trim().to_string()).filter(|s| !s.is_empty());
    match runs::rerun_one(&state, &id, from_step.clone(), who.who()).await {
        Ok((run, _)) => Ok(redirect_with(
            &run_page(&run.id),
            Flash {
                ok: true,
                message: match from_step {
                    Some(s) => format!(
                        "Rerun of {id} from step {s} queued; it keeps {} completed step(s).",
                        run.kept_steps
                    ),
                    None => format!("Rerun of {id} queued."),
                },
            },
        )),
        Err(e) => outcome(Err(e), &run_page(&id)),
    }
}

/// The runs list's filter as the bulk cancel and replay forms send it.
#[derive(Debug, Default, Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    function: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl FilterForm {
    /// The JSON API's parameters (`{function, status, event, from, to}`, times as RFC 3339; empty fields left
    /// out), so the API's own parsing checks them and the audit records them alike.
    pub fn params(&self) -> Result<Value, ApiError> {
        let mut m = Map::new();
        for (k, v) in [
            ("function", &self.function),
            ("status", &self.status),
            ("event", &self.event),
        ] {
            if !v.trim().is_empty() {
                m.insert(k.into(), json!(v.trim()));
            }
        }
        for (k, v) in [("from", &self.from), ("to", &self.to)] {
            if !v.trim().is_empty() {
                let ms = layout::parse_time(v).map_err(|e| ApiError::BadRequest(format!("{k}: {e}")))?;
                m.insert(k.into(), json!(ingot_actors::time::rfc3339(ms)));
            }
        }
        Ok(Value::Object(m))
    }
}

/// `POST /dashboard/runs/cancel`: the bulk cancel of the runs list's filter; back to that list.
pub async fn bulk_cancel(form: web::Form<FilterForm>, state: web::Data<AppState>, who: Identity) -> Page {
    let back = |with_times: bool| {
        let time = |v: &str| Some(v.to_string()).filter(|_| with_times);
        let (from, to) = (time(&form.from), time(&form.to));
        format!(
            "/dashboard/runs{}",
            layout::query(&[
                ("function", Some(&form.function)),
                ("status", Some(&form.status)),
                ("event", Some(&form.event)),
                ("from", from.as_deref()),
                ("to", to.as_deref()),
            ])
        )
    };
    match form.params() {
        Ok(params) => {
            let r = runs::bulk_cancel_by(&state, params, who.who())
                .await
                .map(|(n, _)| format!("Cancelled {n} run(s)."));
            outcome(r, &back(true))
        }
        // Back to the list without the times it could not read (the list would refuse them too).
        Err(e) => outcome(Err(e), &back(false)),
    }
}

/// `POST /dashboard/functions/{id}/pause`.
pub async fn pause(id: web::Path<String>, state: web::Data<AppState>, who: Identity) -> Page {
    let id = id.into_inner();
    let r = functions::set_paused(&state, &id, true, who.who())
        .await
        .map(|_| format!("Paused {id}: its new runs are held until it is resumed."));
    outcome(r, "/dashboard/functions")
}

/// `POST /dashboard/functions/{id}/resume`.
pub async fn resume(id: web::Path<String>, state: web::Data<AppState>, who: Identity) -> Page {
    let id = id.into_inner();
    let r = functions::set_paused(&state, &id, false, who.who())
        .await
        .map(|_| format!("Resumed {id}: its held runs start now."));
    outcome(r, "/dashboard/functions")
}

/// `POST /dashboard/functions/replay` (`function`, `from`, `to`, `event`): back to the functions page, or to the
/// function's runs when some were created.
pub async fn replay(form: web::Form<FilterForm>, state: web::Data<AppState>, who: Identity) -> Page {
    let function_id = form.function.trim().to_string();
    let mut params = match form.params() {
        Ok(p) => p,
        Err(e) => return outcome(Err(e), "/dashboard/functions"),
    };
    if let Value::Object(m) = &mut params {
        m.remove("function");
        m.remove("status");
    }
    match functions::replay_to(&state, &function_id, params, who.who()).await {
        Ok((out, _)) => {
            let to = if out.run_ids.is_empty() {
                "/dashboard/functions".to_string()
            } else {
                format!("/dashboard/runs?function={}", url_encode(&function_id))
            };
            Ok(redirect_with(
                &to,
                Flash {
                    ok: true,
                    message: format!(
                        "Replayed {} event(s) to {function_id}: {} new run(s), {} not matched by its triggers.",
                        out.events,
                        out.run_ids.len(),
                        out.not_matched
                    ),
                },
            ))
        }
        Err(e) => outcome(Err(e), "/dashboard/functions"),
    }
}
