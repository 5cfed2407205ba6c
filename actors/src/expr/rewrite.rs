//! Rewrites a parsed CEL program so that its operators follow Inngest's loosely typed semantics.
//!
//! The `cel` crate evaluates `+`, `==`, `<`, `in` … inside its interpreter; they cannot be overloaded. After parsing,
//! we replace each such operator call in the AST by a call to one of our functions (named with a leading `@`, which no
//! source text can spell, so users cannot call or shadow them) and register those functions on the evaluation
//! context ([`super::functions`]). `&&`, `||`, `!` and `?:` keep the crate's error-absorbing semantics (`true ||
//! error` is `true`). The same walk collects the free variables, so that an unknown one is refused at compile time.

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::{Context, Env, ExecutionError, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The operators we take over, and the function each becomes.
pub(super) const LOOSE_OPERATORS: [(&str, &str); 12] = [
    (operators::ADD, "@add"),
    (operators::SUBSTRACT, "@sub"),
    (operators::MULTIPLY, "@mul"),
    (operators::DIVIDE, "@div"),
    (operators::MODULO, "@rem"),
    (operators::EQUALS, "@eq"),
    (operators::NOT_EQUALS, "@ne"),
    (operators::LESS, "@lt"),
    (operators::LESS_EQUALS, "@le"),
    (operators::GREATER, "@gt"),
    (operators::GREATER_EQUALS, "@ge"),
    (operators::IN, "@in"),
];

/// What the walk found: global functions called (after the rewrite), methods called, and variables used but never
/// bound.
#[derive(Default)]
pub(super) struct Found {
    pub functions: BTreeSet<String>,
    pub methods: BTreeSet<String>,
    pub free_variables: BTreeSet<String>,
}

/// Rewrites `expr` in place and reports what it references.
pub(super) fn rewrite(expr: &mut IdedExpr) -> Found {
    let mut found = Found::default();
    walk(expr, &mut Vec::new(), &mut found);
    found
}

fn walk(expr: &mut IdedExpr, bound: &mut Vec<String>, found: &mut Found) {
    match &mut expr.expr {
        Expr::Unspecified | Expr::Literal(_) => {}
        Expr::Ident(name) => {
            if !name.starts_with('@') && !bound.iter().any(|b| b == name) {
                found.free_variables.insert(name.clone());
            }
        }
        Expr::Call(call) => {
            if call.target.is_none() {
                if let Some((_, ours)) = LOOSE_OPERATORS.iter().find(|(op, _)| *op == call.func_name) {
                    call.func_name = (*ours).to_string();
                }
                found.functions.insert(call.func_name.clone());
            } else {
                found.methods.insert(call.func_name.clone());
            }
            if let Some(target) = call.target.as_deref_mut() {
                walk(target, bound, found);
            }
            for arg in &mut call.args {
                walk(arg, bound, found);
            }
        }
        Expr::Comprehension(comp) => {
            walk(&mut comp.iter_range, bound, found);
            walk(&mut comp.accu_init, bound, found);
            let depth = bound.len();
            bound.push(comp.iter_var.clone());
            bound.extend(comp.iter_var2.clone());
            bound.push(comp.accu_var.clone());
            walk(&mut comp.loop_cond, bound, found);
            walk(&mut comp.loop_step, bound, found);
            walk(&mut comp.result, bound, found);
            bound.truncate(depth);
        }
        Expr::List(list) => {
            for element in &mut list.elements {
                walk(element, bound, found);
            }
        }
        Expr::Map(map) => {
            for entry in &mut map.entries {
                if let EntryExpr::MapEntry(e) = &mut entry.expr {
                    walk(&mut e.key, bound, found);
                    walk(&mut e.value, bound, found);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    walk(&mut f.value, bound, found);
                }
            }
        }
        Expr::Select(select) => walk(&mut select.operand, bound, found),
    }
}

/// Whether the crate (or the context it is given) declares a function or method called `name`. We call it with a
/// `null` argument (or on a `null` target) and look at the error: an undeclared name is reported as
/// `UndeclaredReference`, a declared one as an overload mismatch (or it simply runs).
pub(super) fn is_declared(env: &Arc<Env>, name: &str, method: bool) -> bool {
    let null = || IdedExpr {
        id: 0,
        expr: Expr::Literal(LiteralValue::Null),
    };
    let probe = IdedExpr {
        id: 0,
        expr: Expr::Call(CallExpr {
            func_name: name.to_string(),
            target: method.then(|| Box::new(null())),
            args: if method { Vec::new() } else { vec![null()] },
        }),
    };
    let ctx = Context::with_env(env.clone());
    !matches!(
        Value::resolve(&probe, &ctx),
        Err(ExecutionError::UndeclaredReference(_))
    )
}
