//! CEL expressions over events: trigger `if` conditions and idempotency keys.
//!
//! Programs are compiled once when the registry is built (a bad expression refuses start-up) and evaluated
//! with a fresh context per event. Inngest treats a missing field as "no match" rather than a crash; `cel`
//! reports it as an error, which we map to `false` for conditions and to "no key" for keys.

use cel::{Context, Program, Value};
use std::sync::Arc;

/// A compiled CEL expression and its source text.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<Program>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid CEL expression {source_text:?}: {message}")]
pub struct ExprError {
    pub source_text: String,
    pub message: String,
}

impl Expr {
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        let program = Program::compile(source).map_err(|e| ExprError {
            source_text: source.to_string(),
            message: e.to_string().lines().next().unwrap_or("syntax error").to_string(),
        })?;
        Ok(Expr {
            source: source.to_string(),
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn eval(&self, event: &serde_json::Value) -> Option<Value> {
        let mut ctx = Context::default();
        ctx.add_variable("event", event).ok()?;
        self.program.execute(&ctx).ok()
    }

    /// Evaluates a condition over several variables (`event`, `async`): true only for a boolean `true`.
    pub fn matches_with(&self, vars: &[(&str, &serde_json::Value)]) -> bool {
        let mut ctx = Context::default();
        for (name, value) in vars {
            if ctx.add_variable(*name, *value).is_err() {
                return false;
            }
        }
        matches!(self.program.execute(&ctx), Ok(Value::Bool(true)))
    }

    /// Evaluates a condition: true only for a boolean `true`; errors and non-booleans are `false`.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        matches!(self.eval(event), Some(Value::Bool(true)))
    }

    /// Evaluates a key: strings as they are, numbers and booleans as text; null, missing or an error is `None`.
    pub fn key(&self, event: &serde_json::Value) -> Option<String> {
        match self.eval(event)? {
            Value::String(s) => Some(s.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            other => other.json().ok().map(|j| j.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> serde_json::Value {
        json!({"name": "user/created", "data": {"productType": "cohort", "amount": 150}, "user": {"email": "a@example.com"}})
    }

    #[test]
    fn conditions() {
        let e = event();
        assert!(Expr::compile("event.data.productType == 'cohort'").unwrap().matches(&e));
        assert!(
            Expr::compile("event.data.productType == 'x' || event.data.productType == 'cohort'")
                .unwrap()
                .matches(&e)
        );
        assert!(Expr::compile("event.data.amount > 100").unwrap().matches(&e));
        assert!(
            !Expr::compile("event.data.missing == 'x'").unwrap().matches(&e),
            "missing field is no match"
        );
        assert!(
            !Expr::compile("event.data.productType").unwrap().matches(&e),
            "non-boolean is no match"
        );
    }

    #[test]
    fn keys() {
        let e = event();
        assert_eq!(
            Expr::compile("event.user.email").unwrap().key(&e).as_deref(),
            Some("a@example.com")
        );
        assert_eq!(
            Expr::compile("event.data.amount").unwrap().key(&e).as_deref(),
            Some("150")
        );
        assert_eq!(Expr::compile("event.user.missing").unwrap().key(&e), None);
    }

    #[test]
    fn bad_syntax_is_refused_with_the_source() {
        let err = Expr::compile("event.data.x ==").unwrap_err();
        assert_eq!(err.source_text, "event.data.x ==");
        assert!(err.to_string().contains("invalid CEL expression"));
    }
}
