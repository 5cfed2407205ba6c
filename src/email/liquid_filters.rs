//! `divided_by` and `modulo` for every Liquid template rendered here, in place of liquid-lib 0.26's. Theirs divide
//! two integers with `/` and `%`, which panic (in every build) on the one quotient an `i64` cannot hold:
//! `-9223372036854775808 | divided_by: -1`, with the dividend from a template or from the data it renders. These
//! behave as theirs do except there: the quotient is an error (a template people wrote then renders as itself), and
//! the remainder is 0, which it is.

use liquid_core::model::KString;
use liquid_core::{
    Display_filter, Error, Expression, Filter, FilterParameters, FilterReflection, FromFilterParameters, ParseFilter,
    Result, Runtime, Value, ValueView,
};

fn invalid_argument(cause: &str) -> Error {
    Error::with_msg("Invalid argument")
        .context("argument", "operand")
        .context("cause", KString::from_ref(cause))
}

/// The two numbers of a division, as liquid-lib reads them: integers when both are, else floats.
enum Operands {
    Integers(i64, i64),
    Floats(f64, f64),
}

fn operands(input: &dyn ValueView, operand: &dyn ValueView) -> Result<Operands> {
    let input = input
        .as_scalar()
        .ok_or_else(|| Error::with_msg("Invalid input").context("cause", "Number expected"))?;
    let operand = operand.as_scalar().ok_or_else(|| invalid_argument("Number expected"))?;
    match (operand.to_integer(), operand.to_float()) {
        (Some(0), _) => return Err(invalid_argument("Can't divide by zero")),
        (None, Some(0.0)) => return Err(invalid_argument("Can't divide by zero")),
        _ => {}
    }
    if let (Some(i), Some(o)) = (input.to_integer(), operand.to_integer()) {
        return Ok(Operands::Integers(i, o));
    }
    match (input.to_float(), operand.to_float()) {
        (Some(i), Some(o)) => Ok(Operands::Floats(i, o)),
        _ => Err(invalid_argument("Number expected")),
    }
}

#[derive(Debug, FilterParameters)]
struct OperandArgs {
    #[parameter(description = "The number to divide the input by.")]
    operand: Expression,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "divided_by",
    description = "Divides a number by the given operand.",
    parameters(OperandArgs),
    parsed(DividedByFilter)
)]
pub struct DividedBy;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "divided_by"]
struct DividedByFilter {
    #[parameters]
    args: OperandArgs,
}

impl Filter for DividedByFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        match operands(input, args.operand.as_view())? {
            Operands::Integers(i, o) => i
                .checked_div(o)
                .map(Value::scalar)
                .ok_or_else(|| invalid_argument("The quotient is beyond a 64-bit integer")),
            Operands::Floats(i, o) => Ok(Value::scalar(i / o)),
        }
    }
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "modulo",
    description = "The remainder of a division operation of a number by the given operand.",
    parameters(OperandArgs),
    parsed(ModuloFilter)
)]
pub struct Modulo;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "modulo"]
struct ModuloFilter {
    #[parameters]
    args: OperandArgs,
}

impl Filter for ModuloFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        match operands(input, args.operand.as_view())? {
            // `wrapping_rem` is `%` except for `MIN % -1`, which it answers 0 (the remainder) instead of panicking.
            Operands::Integers(i, o) => Ok(Value::scalar(i.wrapping_rem(o))),
            Operands::Floats(i, o) => Ok(Value::scalar(i % o)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn render(template: &str, vars: serde_json::Value) -> Result<String, String> {
        let globals = liquid::model::to_object(&vars).unwrap();
        super::super::templates::parse_for_tests(template)
            .and_then(|t| t.render(&globals))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn divided_by_and_modulo_answer_as_liquid_lib_does() {
        for (template, want) in [
            ("{{ 7 | divided_by: 2 }}", "3"),
            ("{{ -7 | divided_by: 2 }}", "-3"),
            ("{{ 7.0 | divided_by: 2 }}", "3.5"),
            ("{{ 7 | divided_by: 2.0 }}", "3.5"),
            ("{{ '7' | divided_by: '2' }}", "3"),
            ("{{ 7 | modulo: 3 }}", "1"),
            ("{{ -7 | modulo: 3 }}", "-1"),
            ("{{ 7.5 | modulo: 2 }}", "1.5"),
            ("{{ x | divided_by: y }}", "4"),
        ] {
            assert_eq!(
                render(template, json!({"x": 12, "y": 3})).as_deref(),
                Ok(want),
                "{template}"
            );
        }
        for bad in [
            "{{ 7 | divided_by: 0 }}",
            "{{ 7 | divided_by: 0.0 }}",
            "{{ 7 | modulo: 0 }}",
            "{{ 'a' | divided_by: 2 }}",
            "{{ 7 | divided_by: 'b' }}",
            "{{ 7 | divided_by }}",
        ] {
            assert!(render(bad, json!({})).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_quotient_beyond_i64_is_an_error_and_the_remainder_zero_not_a_panic() {
        let min = json!({ "x": i64::MIN });
        assert!(render("{{ x | divided_by: -1 }}", min.clone()).is_err());
        assert!(render("{{ -9223372036854775808 | divided_by: -1 }}", json!({})).is_err());
        assert_eq!(render("{{ x | modulo: -1 }}", min).as_deref(), Ok("0"));
        assert_eq!(
            super::super::templates::render_or_itself("{{ x | divided_by: -1 }}", &json!({ "x": i64::MIN })),
            "{{ x | divided_by: -1 }}",
            "a template people wrote renders as itself"
        );
    }
}
