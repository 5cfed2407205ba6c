//! CEL expressions with Inngest's semantics: trigger `if` conditions, `wait_for_event` / `cancel_on` matches,
//! idempotency, concurrency, throttle, rate-limit, debounce and batch keys, and `priority.run` factors.
//!
//! An expression is compiled once (at registry build, so a bad expression refuses start-up) and evaluated with a
//! fresh context per evaluation over named variables ([`Vars`]): `event` (the run's trigger event, for a batch the
//! first), `async` (the candidate event of a wait or cancellation), `events` (a batch) and `vars`. The caller passes
//! the clock used by `now()`, so evaluation is deterministic in tests.
//!
//! We use the `cel` crate; we do not interpret CEL ourselves. Where Inngest differs from standard CEL:
//! - Loosely typed operators (`"a" + 1`, `uint + int`, timestamp vs ms): the parsed program's operator calls are
//!   rewritten to our own functions ([`rewrite`], [`functions`]), because the crate's interpreter hard-wires them.
//! - `lowercase`, `uppercase`, `json_parse`, `date`, `now`, `now_plus`, `now_minus` are registered on the context.
//! - A missing field is an evaluation error in `cel` (`No such key`); errors inside `||` / `&&` are absorbed when the
//!   other side decides, and an error at the top is "no match" for conditions and "no value" for keys. This is
//!   deliberately conservative: `event.data.userId == async.data.userId` never matches when both are missing.
//! - Unknown variables (anything but `event`, `async`, `events`, `vars`) and unknown functions (such as
//!   `.substring()`, which Inngest lacks too) are refused at compile time, as Inngest's type-checker does.
//!   A caller with other names in scope says which ([`Expr::compile_over`]: the runs list's filter sees `event` and
//!   `output`).

mod functions;
mod rewrite;
#[cfg(test)]
mod tests;

use cel::common::ast::IdedExpr;
use cel::{Context, Env, Value};
use std::sync::{Arc, OnceLock};

/// The variables an expression may use.
pub const VARIABLES: [&str; 4] = ["event", "async", "events", "vars"];

/// The variables of a filter over finished work (the runs list's CEL filter): the run's trigger event and its output.
pub const RUN_VARIABLES: [&str; 2] = ["event", "output"];

/// Type names that may appear as identifiers (`type(x) == string`).
/// `type` is left out on purpose: a bare `type == "video.asset.ready"` (shorthand for `event.data.type`) must be refused,
/// not compared with the type of types.
const TYPE_NAMES: [&str; 9] = [
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "uint",
];

/// A compiled CEL expression and its source text.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<IdedExpr>,
    /// Our functions (rewritten operators and Inngest's extras) the program calls; only these are registered.
    functions: Arc<[String]>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// Why an expression was refused; the message names the expression as written.
#[derive(Debug, thiserror::Error)]
#[error("invalid CEL expression {source_text:?}: {message}")]
pub struct ExprError {
    pub source_text: String,
    pub message: String,
}

/// The variables and the clock of one evaluation.
#[derive(Clone)]
pub struct Vars<'a> {
    bindings: Vec<(&'a str, Binding<'a>)>,
    now_ms: i64,
}

/// Shows the bound names and the clock, never the payloads (events may carry personal data).
impl std::fmt::Debug for Vars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.bindings.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Vars")
            .field("names", &names)
            .field("now_ms", &self.now_ms)
            .finish()
    }
}

#[derive(Clone)]
enum Binding<'a> {
    One(&'a serde_json::Value),
    Many(&'a [serde_json::Value]),
}

impl<'a> Vars<'a> {
    /// No variables; `now()` is `now_ms` (ms since the Unix epoch).
    pub fn new(now_ms: i64) -> Vars<'a> {
        Vars {
            bindings: Vec::new(),
            now_ms,
        }
    }

    /// Binds `event`, the run's trigger event (the first of a batch).
    pub fn event(self, event: &'a serde_json::Value) -> Vars<'a> {
        self.bind("event", Binding::One(event))
    }

    /// Binds `async`, the candidate event of a `wait_for_event` or `cancel_on` match.
    pub fn async_event(self, event: &'a serde_json::Value) -> Vars<'a> {
        self.bind("async", Binding::One(event))
    }

    /// Binds `events`, a batch.
    pub fn events(self, events: &'a [serde_json::Value]) -> Vars<'a> {
        self.bind("events", Binding::Many(events))
    }

    /// Binds `vars`.
    pub fn vars(self, vars: &'a serde_json::Value) -> Vars<'a> {
        self.bind("vars", Binding::One(vars))
    }

    /// Binds `output`, a run's output (`null` when it has none), for expressions compiled over [`RUN_VARIABLES`].
    pub fn output(self, output: &'a serde_json::Value) -> Vars<'a> {
        self.bind("output", Binding::One(output))
    }

    fn bind(mut self, name: &'a str, value: Binding<'a>) -> Vars<'a> {
        self.bindings.retain(|(n, _)| *n != name);
        self.bindings.push((name, value));
        self
    }
}

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

impl Expr {
    /// Parses and checks `source`; refuses a syntax error or an unknown variable with a message naming the source.
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        Expr::compile_over(source, &VARIABLES)
    }

    /// As [`Expr::compile`], with `variables` the only names the expression may use.
    pub fn compile_over(source: &str, variables: &[&str]) -> Result<Expr, ExprError> {
        let refuse = |message: String| ExprError {
            source_text: source.to_string(),
            message,
        };
        if source.trim().is_empty() {
            return Err(refuse("the expression is empty".into()));
        }
        let mut program = env()
            .parser()
            .parse(source)
            .map_err(|e| refuse(e.to_string().lines().next().unwrap_or("syntax error").to_string()))?;
        let found = rewrite::rewrite(&mut program);
        let unknown: Vec<&String> = found
            .free_variables
            .iter()
            .filter(|v| !variables.contains(&v.as_str()) && !TYPE_NAMES.contains(&v.as_str()))
            .collect();
        if !unknown.is_empty() {
            let names: Vec<String> = unknown.iter().map(|v| format!("`{v}`")).collect();
            return Err(refuse(format!(
                "unknown variable {} (an expression can use {}; did you mean `event.data.{}`?)",
                names.join(", "),
                variables
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                unknown[0]
            )));
        }
        // Operators (`_&&_`, `_[_]`, `!_`, `@not_strictly_false` …) are the interpreter's own: never probed. Inngest's
        // functions are global functions only (`lowercase(s)`, not `s.lowercase()`).
        let operator = |f: &String| !f.starts_with(|c: char| c.is_ascii_alphabetic());
        let ours = |f: &String| functions::INNGEST_FUNCTIONS.contains(&f.as_str());
        let env = env();
        let undeclared: Vec<String> = (found.functions.iter())
            .filter(|f| !operator(f) && !ours(f) && !rewrite::is_declared(&env, f, false))
            .map(|f| format!("`{f}()`"))
            .chain(
                (found.methods.iter())
                    .filter(|f| !operator(f) && !rewrite::is_declared(&env, f, true))
                    .map(|f| format!("`.{f}()`")),
            )
            .collect();
        if !undeclared.is_empty() {
            return Err(refuse(format!(
                "unknown function {} (Inngest's CEL has the standard library plus {})",
                undeclared.join(", "),
                functions::INNGEST_FUNCTIONS.map(|f| format!("`{f}`")).join(", ")
            )));
        }
        let functions = found
            .functions
            .into_iter()
            .filter(|f| f.starts_with('@') || functions::INNGEST_FUNCTIONS.contains(&f.as_str()))
            .collect();
        Ok(Expr {
            source: source.to_string(),
            program: Arc::new(program),
            functions,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to a CEL value; `None` for any evaluation error (a missing field, a type mismatch, an unknown
    /// function).
    fn eval(&self, vars: &Vars<'_>) -> Option<Value> {
        let mut ctx = Context::with_env(env());
        for (name, value) in &vars.bindings {
            let bound = match value {
                Binding::One(v) => ctx.add_variable(*name, *v),
                Binding::Many(v) => ctx.add_variable(*name, *v),
            };
            bound.ok()?;
        }
        for function in self.functions.iter() {
            functions::register(&mut ctx, function, vars.now_ms);
        }
        Value::resolve(&self.program, &ctx).ok()
    }

    /// Evaluates a condition over `event` with the system clock.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        self.matches_with(&Vars::new(crate::time::now_ms()).event(event))
    }

    /// Evaluates a key over `event` with the system clock.
    pub fn key(&self, event: &serde_json::Value) -> Option<String> {
        self.key_with(&Vars::new(crate::time::now_ms()).event(event))
    }

    /// A condition: true only for a boolean `true`; errors and non-booleans are `false`.
    pub fn matches_with(&self, vars: &Vars<'_>) -> bool {
        matches!(self.eval(vars), Some(Value::Bool(true)))
    }

    /// A key (idempotency, concurrency, throttle, rate limit, debounce, batch, singleton): strings as they are,
    /// numbers and booleans as text, lists and maps as JSON; null, missing or an error is `None`.
    ///
    /// The key is then made storable ([`storable_key`]): a key longer than [`MAX_KEY_BYTES`] or holding a NUL
    /// character is replaced by its SHA-256, so any key value fits every backend's index the same way.
    pub fn key_with(&self, vars: &Vars<'_>) -> Option<String> {
        let raw = match self.eval(vars)? {
            Value::String(s) => s.to_string(),
            Value::Null => return None,
            other => match other.json().ok()? {
                serde_json::Value::String(s) => s,
                json => json.to_string(),
            },
        };
        Some(storable_key(raw))
    }

    /// Any value, as JSON (timestamps as RFC 3339 text); `None` for null, an error, or a value JSON cannot hold.
    pub fn value_with(&self, vars: &Vars<'_>) -> Option<serde_json::Value> {
        match self.eval(vars)? {
            Value::Null => None,
            other => other.json().ok(),
        }
    }

    /// An integer (a `priority.run` factor in seconds): ints, uints that fit, and doubles truncated toward zero;
    /// anything else is `None` (Inngest then uses 0).
    pub fn int_with(&self, vars: &Vars<'_>) -> Option<i64> {
        match self.eval(vars)? {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Some(f.trunc() as i64),
            _ => None,
        }
    }
}

/// Keys longer than this (bytes) are stored as their hash: PostgreSQL's btree refuses index rows over ~2.7 KB.
pub const MAX_KEY_BYTES: usize = 256;

/// A key every backend stores and indexes alike: short keys without NUL as they are, others as
/// `sha256:<hex>` of their bytes (PostgreSQL text cannot hold NUL; its indexes cannot hold long values).
pub fn storable_key(key: String) -> String {
    if key.len() <= MAX_KEY_BYTES && !key.contains('\0') {
        return key;
    }
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(key.as_bytes())))
}
