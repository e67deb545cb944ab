//! Numeric literals in exponent notation (`1.5e3`, `1e-3`, `1e300`), which
//! PostgreSQL types as `numeric` with the scale of their plain form.
//!
//! DataFusion reads `1.5e3` as a decimal of negative scale (`15` × 10²),
//! which neither Freshet's `numeric` nor Arrow's kernels handle well, and
//! `1e300` not at all. Before planning, such a literal is rewritten into its
//! plain decimal form (`1500::numeric`, `0.001`), and one cast straight to a
//! floating-point type (`1e300::float8`) into the string it would parse
//! from, so it never passes through `numeric`.
//!
//! A literal of more than 38 digits (after that rewriting, `1e40` too)
//! becomes `'digits'::numeric`: DataFusion would type it as `Decimal256`,
//! which its constant folding and Freshet's planning paths for `numeric`
//! (typed `Decimal128` throughout) do not expect; Freshet's `numeric`
//! holds it (`repr::Numeric`, up to 1000 digits each side of the point).

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType as SqlType, ExactNumberInfo, Expr, Query, SetExpr, Statement, Value,
    ValueWithSpan, VisitMut, VisitorMut,
};

use crate::repr::ScalarType;

use super::PlanError;

/// Plain forms longer than this are left to fail as out of range: Freshet's
/// `numeric` holds at most 1000 digits each side of the point.
const MAX_PLAIN_DIGITS: usize = 2010;

/// The most digits of a literal DataFusion types as `Decimal128`.
const MAX_DECIMAL128_DIGITS: usize = 38;

/// `'text'::numeric`.
fn numeric_text(text: String) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(Expr::value(Value::SingleQuotedString(text))),
        data_type: SqlType::Numeric(ExactNumberInfo::None),
        array: false,
        format: None,
    }
}

/// Rewrites the exponent-notation literals of `statement` (see the module
/// documentation).
pub fn rewrite_exponent_literals(statement: &mut Statement) -> Result<(), PlanError> {
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewrite;

fn is_float_type(t: &SqlType) -> bool {
    matches!(
        t,
        SqlType::Float(_)
            | SqlType::Float4
            | SqlType::Float8
            | SqlType::Float64
            | SqlType::Real
            | SqlType::Double(_)
            | SqlType::DoublePrecision
    )
}

fn has_exponent(n: &str) -> bool {
    n.contains(['e', 'E'])
}

impl VisitorMut for Rewrite {
    type Break = PlanError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<PlanError> {
        // `1e300::float8`: the float parses from the literal's text, as
        // PostgreSQL's `numeric` → `float8` cast would compute it.
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && is_float_type(data_type)
            && let Expr::Value(ValueWithSpan {
                value: Value::Number(n, _),
                ..
            }) = inner.as_mut()
            && has_exponent(n)
        {
            let text = n.clone();
            **inner = Expr::value(Value::SingleQuotedString(text));
            return ControlFlow::Continue(());
        }
        if let Expr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) = expr
            && !has_exponent(n)
            && n.bytes().filter(u8::is_ascii_digit).count() > MAX_DECIMAL128_DIGITS
        {
            *expr = numeric_text(n.clone());
            return ControlFlow::Continue(());
        }
        if let Expr::Value(ValueWithSpan {
            value: Value::Number(n, long),
            ..
        }) = expr
            && has_exponent(n)
        {
            let long = *long;
            let Some(plain) = plain_decimal(n) else {
                return ControlFlow::Break(PlanError::InvalidLiteral {
                    code: crate::repr::SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                    message: "value overflows numeric format".into(),
                });
            };
            if plain.bytes().filter(u8::is_ascii_digit).count() > MAX_DECIMAL128_DIGITS {
                *expr = numeric_text(plain);
                return ControlFlow::Continue(());
            }
            let is_integer = !plain.contains('.');
            let number = Expr::value(Value::Number(plain, long));
            // An integral plain form would otherwise read as an integer.
            *expr = if is_integer {
                Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(number),
                    data_type: SqlType::Numeric(ExactNumberInfo::None),
                    array: false,
                    format: None,
                }
            } else {
                number
            };
        }
        ControlFlow::Continue(())
    }
}

/// Casts the exponent-notation literals of an `INSERT ... VALUES` list
/// whose target column (`targets`, by position) is a float to that column's
/// type, so they are read as floats rather than through `numeric`.
pub fn type_insert_literals(source: &mut Query, targets: &[ScalarType]) {
    let SetExpr::Values(values) = source.body.as_mut() else {
        return;
    };
    for row in values.rows.iter_mut() {
        for (e, target) in row.iter_mut().zip(targets) {
            let data_type = match target {
                ScalarType::Float32 => SqlType::Real,
                ScalarType::Float64 => SqlType::DoublePrecision,
                _ => continue,
            };
            let is_exponent_literal = matches!(
                e,
                Expr::Value(ValueWithSpan { value: Value::Number(n, _), .. }) if has_exponent(n)
            );
            if is_exponent_literal {
                let literal = std::mem::replace(e, Expr::value(Value::Null));
                *e = Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(literal),
                    data_type,
                    array: false,
                    format: None,
                };
            }
        }
    }
}

/// The plain decimal form of a number in exponent notation, with the scale
/// PostgreSQL gives it (`1.50e1` → `15.0`, `1e-3` → `0.001`, `1.5e3` →
/// `1500`); `None` if malformed or longer than [`MAX_PLAIN_DIGITS`].
pub fn plain_decimal(n: &str) -> Option<String> {
    let (mantissa, exponent) = n.split_once(['e', 'E'])?;
    let exponent: i64 = exponent.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
        || (int_part.is_empty() && frac_part.is_empty())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    // The decimal point sits after `point` digits of `digits`.
    let point = int_part.len() as i64 + exponent;
    if point.unsigned_abs() as usize > MAX_PLAIN_DIGITS + digits.len() {
        return None;
    }
    let (int_digits, frac_digits) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        let (i, f) = digits.split_at(point as usize);
        (i.to_string(), f.to_string())
    };
    let int_digits = int_digits.trim_start_matches('0');
    let int_digits = if int_digits.is_empty() {
        "0"
    } else {
        int_digits
    };
    if int_digits.len() + frac_digits.len() > MAX_PLAIN_DIGITS {
        return None;
    }
    Some(if frac_digits.is_empty() {
        int_digits.to_string()
    } else {
        format!("{int_digits}.{frac_digits}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_forms_keep_postgres_scale() {
        let cases = [
            ("1.5e3", Some("1500")),
            ("1.5E+3", Some("1500")),
            ("1e-3", Some("0.001")),
            ("1.50e1", Some("15.0")),
            ("2e0", Some("2")),
            ("0.5e1", Some("5")),
            ("12.345e-2", Some("0.12345")),
            (".5e2", Some("50")),
            ("5.e-1", Some("0.5")),
            ("1e3000", None),
            ("1e-3000", None),
            ("1x3", None),
        ];
        for (n, want) in cases {
            assert_eq!(plain_decimal(n).as_deref(), want, "{n}");
        }
        // Wide forms, which `numeric` holds (written as `'…'::numeric`).
        assert_eq!(
            plain_decimal("1e300"),
            Some(format!("1{}", "0".repeat(300)))
        );
        assert_eq!(
            plain_decimal("1e-300"),
            Some(format!("0.{}1", "0".repeat(299)))
        );
    }
}
