//! The one shape of an event as handlers and CEL see it: `{id, name, data, user, ts, v}`. Built here only, so the
//! intake, the webhooks, emitted events, system events, cron ticks, invokes and stored events all agree.

use serde_json::{Value, json};

/// `id` is the producer's id when it gave one, else ours; `ts` is milliseconds since the epoch.
pub fn view(id: &str, name: &str, data: &Value, user: &Value, ts: i64, v: Option<&str>) -> Value {
    json!({ "id": id, "name": name, "data": data, "user": user, "ts": ts, "v": v })
}
