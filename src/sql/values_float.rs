//! The columns of a multi-row `VALUES` list that mix a floating-point cast
//! with `numeric` literals: `VALUES (1.0::float8), (2.5)`.
//!
//! PostgreSQL gives such a column its numeric category's preferred type
//! present, `double precision` (or `real`, with `real` casts only), since
//! `numeric` casts to both implicitly and neither to `numeric`. DataFusion
//! prefers `numeric` (`Decimal128`) to floating point when it unifies the
//! rows. Before planning, [`rewrite`] casts the number literals of such a
//! column to its floating-point type. Columns whose floating-point rows are
//! not explicit casts (a column of a table, a function) are left to
//! DataFusion.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, Query, SetExpr, Statement, UnaryOperator, Value, VisitMut,
    VisitorMut,
};

/// Casts the number literals of the `VALUES` columns of `statement` that
/// have a floating-point cast (see the module docs).
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn rewrite_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Values(values) if values.rows.len() > 1 => {
            let width = values.rows.iter().map(|r| r.len()).max().unwrap_or(0);
            for j in 0..width {
                let mut column: Vec<&mut Expr> = values
                    .rows
                    .iter_mut()
                    .filter_map(|r| r.get_mut(j))
                    .collect();
                let Some(target) = float_type(&column) else {
                    continue;
                };
                for e in column.iter_mut() {
                    if is_number(e) {
                        **e = Expr::Cast {
                            kind: CastKind::DoubleColon,
                            expr: Box::new(Expr::Nested(Box::new((**e).clone()))),
                            data_type: target.clone(),
                            array: false,
                            format: None,
                        };
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left);
            rewrite_set_expr(right);
        }
        _ => {}
    }
}

/// The floating-point type of a column whose rows are explicit casts to
/// floating-point types or number literals, with at least one of each:
/// `double precision` if one cast is to it, else `real`.
fn float_type(column: &[&mut Expr]) -> Option<SqlType> {
    let mut double = false;
    let mut real = false;
    let mut numbers = false;
    for e in column {
        match float_cast(e) {
            Some(true) => double = true,
            Some(false) => real = true,
            None if is_number(e) => numbers = true,
            None => return None,
        }
    }
    if !numbers {
        return None;
    }
    if double {
        Some(SqlType::DoublePrecision)
    } else if real {
        Some(SqlType::Real)
    } else {
        None
    }
}

/// `Some(true)` for a cast to `double precision`, `Some(false)` for one to
/// `real`.
fn float_cast(e: &Expr) -> Option<bool> {
    match e {
        Expr::Cast { data_type, .. } => match data_type {
            SqlType::Float8 | SqlType::Float64 | SqlType::DoublePrecision | SqlType::Double(_) => {
                Some(true)
            }
            SqlType::Float4 | SqlType::Float32 | SqlType::Real => Some(false),
            // `float(p)`: `real` up to 24 bits of precision.
            SqlType::Float(info) => Some(!matches!(
                info,
                sqlparser::ast::ExactNumberInfo::Precision(p)
                    | sqlparser::ast::ExactNumberInfo::PrecisionAndScale(p, _) if *p <= 24
            )),
            _ => None,
        },
        Expr::Nested(inner) => float_cast(inner),
        _ => None,
    }
}

/// A number literal, possibly negated.
fn is_number(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, Value::Number(..)),
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => is_number(expr),
        Expr::Nested(inner) => is_number(inner),
        // An integral literal in exponent notation (`1e2`), made `numeric`
        // by `literals::rewrite_exponent_literals`.
        Expr::Cast {
            expr,
            data_type: SqlType::Numeric(_) | SqlType::Decimal(_),
            ..
        } => matches!(expr.as_ref(), Expr::Value(v) if matches!(v.value, Value::Number(..))),
        _ => false,
    }
}
