//! Negative integer literals typed as PostgreSQL types them.
//!
//! PostgreSQL folds a minus sign into the numeric constant it precedes
//! (`doNegate` in its grammar, parentheses included) before typing it, so
//! `-2147483648` is an `integer` and `-9223372036854775808` a `bigint`,
//! although `2147483648` alone is a `bigint` and `9223372036854775808` a
//! `numeric`. The parser reads them as a negation of the positive literal,
//! which would type them one size up. [`fold`] turns such a negation into
//! the negative literal cast to `integer` or `bigint`; and the negation of that
//! folded `integer` (`-(-2147483648)`) back into the positive literal, a
//! `bigint`, as in PostgreSQL.

use sqlparser::ast::{CastKind, DataType as SqlType, Expr, UnaryOperator, Value};

/// Folds the negation `expr` of an integer literal (see the module docs).
pub fn fold(expr: &mut Expr) {
    let Expr::UnaryOp {
        op: UnaryOperator::Minus,
        expr: operand,
    } = expr
    else {
        return;
    };
    let mut inner = operand.as_ref();
    while let Expr::Nested(e) = inner {
        inner = e;
    }
    match inner {
        Expr::Value(v) => {
            let Value::Number(n, false) = &v.value else {
                return;
            };
            if !n.bytes().all(|b| b.is_ascii_digit()) || n.parse::<i32>().is_ok() {
                return;
            }
            let negative = format!("-{n}");
            if negative.parse::<i32>().is_ok() {
                *expr = typed(negative, SqlType::Int4(None));
            } else if n.parse::<i64>().is_err() && negative.parse::<i64>().is_ok() {
                *expr = typed(negative, SqlType::BigInt(None));
            }
        }
        // `-(-2147483648)`: the inner literal was folded into an integer.
        Expr::Cast {
            kind: CastKind::DoubleColon,
            expr: literal,
            data_type: SqlType::Int4(None),
            ..
        } => {
            if let Expr::Nested(literal) = literal.as_ref()
                && let Expr::Value(v) = literal.as_ref()
                && let Value::Number(n, false) = &v.value
                && n == "-2147483648"
            {
                *expr = number("2147483648".into());
            }
        }
        _ => {}
    }
}

/// `(n)::t`: the parentheses keep the minus sign with the literal when the
/// statement is printed and parsed again.
fn typed(n: String, t: SqlType) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(Expr::Nested(Box::new(number(n)))),
        data_type: t,
        array: false,
        format: None,
    }
}

fn number(n: String) -> Expr {
    Expr::Value(Value::Number(n, false).with_empty_span())
}
