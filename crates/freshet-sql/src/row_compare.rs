//! Row constructor comparisons: `(a, b) = (c, d)`, `(a, b) < (c, d)`,
//! `(a, b) IS DISTINCT FROM (c, d)` and `(a, b) [NOT] IN ((1, 2), (3, 4))`.
//!
//! DataFusion plans a parenthesised list as a struct, which Freshet has no
//! type for. Before planning, each comparison is rewritten into the
//! comparisons of its fields, with PostgreSQL's semantics (section 9.24.5
//! of its manual):
//!
//! * `=` is the `AND` of the pairwise equalities and `<>` their negation,
//!   so a NULL field makes the result NULL unless another pair already
//!   decides it.
//! * `<`, `<=`, `>`, `>=` compare left to right: the first pair that is
//!   not equal decides, and a NULL pair before it makes the result NULL.
//!   `(a, b) < (c, d)` is `a < c OR (a = c AND b < d)`, which has exactly
//!   that three-valued truth table.
//! * `IS [NOT] DISTINCT FROM` compares pairwise with the same operator
//!   and is never NULL.
//! * `IN` is the `OR` of the equalities with each list row, `NOT IN` its
//!   negation.
//! * `IS NULL` is true when every field is NULL, `IS NOT NULL` when none
//!   is.
//! * A subquery of two or more columns compared with a row is the row of
//!   its columns, each its own scalar subquery (no row: all NULL; more
//!   than one: `21000`).
//!
//! Rows of different lengths are `42601`, as in PostgreSQL. Each field
//! expression is repeated in the rewritten form; the fields of a row are
//! expressions without side effects, so that changes no answer.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, Statement, UnaryOperator, VisitMut, VisitorMut,
};

use super::PlanError;

/// Rewrites the row comparisons of `statement` (see the module docs).
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewrite;

/// The fields of a row constructor: `(a, b)` or `ROW(a, b)`.
fn fields(e: &Expr) -> Option<Vec<Expr>> {
    match e {
        Expr::Tuple(items) if items.len() > 1 => Some(items.clone()),
        Expr::Nested(inner) => fields(inner),
        _ => None,
    }
}

/// The fields of a row constructor, or of a subquery of two or more
/// columns as one scalar subquery per column (each fails with `21000`
/// when the subquery returns more than one row, and is NULL when it
/// returns none, as PostgreSQL's row subquery is).
fn operand_fields(e: &Expr) -> Option<Vec<Expr>> {
    match e {
        Expr::Subquery(q) => {
            let width = super::row_in_subquery::width(&q.body).filter(|w| *w > 1)?;
            Some((0..width).map(|i| column_subquery(q, width, i)).collect())
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::Subquery(_)) => operand_fields(inner),
        other => fields(other),
    }
}

fn is_subquery(e: &Expr) -> bool {
    match e {
        Expr::Subquery(_) => true,
        Expr::Nested(inner) => is_subquery(inner),
        _ => false,
    }
}

/// The scalar subquery of column `i` of the `width` columns of `q`: the
/// same select with only that column, where the select keeps its row
/// count with one column (no `DISTINCT`); otherwise a read of `q` as a
/// derived table.
fn column_subquery(q: &Query, width: usize, i: usize) -> Expr {
    if let SetExpr::Select(select) = q.body.as_ref()
        && select.distinct.is_none()
    {
        let mut column = q.clone();
        if let SetExpr::Select(select) = column.body.as_mut() {
            select.projection = vec![select.projection[i].clone()];
        }
        return Expr::Subquery(Box::new(column));
    }
    let alias = "__freshet_row_subquery";
    let columns: Vec<String> = (0..width).map(|c| format!("{alias}_c{c}")).collect();
    let sql = format!(
        "(SELECT {alias}.{alias}_c{i} FROM ({q}) AS {alias}({}))",
        columns.join(", ")
    );
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| Expr::Subquery(Box::new(q.clone())))
}

fn nested(e: Expr) -> Expr {
    Expr::Nested(Box::new(e))
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

fn not(e: Expr) -> Expr {
    Expr::UnaryOp {
        op: UnaryOperator::Not,
        expr: Box::new(nested(e)),
    }
}

fn and_all(mut items: Vec<Expr>) -> Expr {
    let first = items.remove(0);
    items
        .into_iter()
        .fold(first, |acc, e| binary(acc, BinaryOperator::And, e))
}

fn or_all(mut items: Vec<Expr>) -> Expr {
    let first = items.remove(0);
    items
        .into_iter()
        .fold(first, |acc, e| binary(acc, BinaryOperator::Or, e))
}

fn check_lengths(left: &[Expr], right: &[Expr]) -> Result<(), PlanError> {
    if left.len() != right.len() {
        return Err(PlanError::Syntax(
            "unequal number of entries in row expressions".into(),
        ));
    }
    Ok(())
}

/// The pairwise equalities of two rows of the same length.
fn equal(left: &[Expr], right: &[Expr]) -> Expr {
    and_all(
        left.iter()
            .zip(right)
            .map(|(l, r)| binary(nested(l.clone()), BinaryOperator::Eq, nested(r.clone())))
            .collect(),
    )
}

/// `left op right` for an ordering operator: `l1 op' r1 OR (l1 = r1 AND
/// (rest))`, where `op'` is the strict form of `op` for every pair but the
/// last, which keeps `op`.
fn ordered(left: &[Expr], op: &BinaryOperator, right: &[Expr]) -> Expr {
    let (l, r) = (nested(left[0].clone()), nested(right[0].clone()));
    if left.len() == 1 {
        return binary(l, op.clone(), r);
    }
    let strict = match op {
        BinaryOperator::LtEq => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::Gt,
        other => other.clone(),
    };
    let rest = ordered(&left[1..], op, &right[1..]);
    binary(
        binary(l.clone(), strict, r.clone()),
        BinaryOperator::Or,
        nested(binary(
            binary(l, BinaryOperator::Eq, r),
            BinaryOperator::And,
            nested(rest),
        )),
    )
}

fn rewrite_expr(e: &Expr) -> Result<Option<Expr>, PlanError> {
    Ok(Some(match e {
        Expr::BinaryOp { left, op, right } => {
            let (Some(l), Some(r)) = (operand_fields(left), operand_fields(right)) else {
                return Ok(None);
            };
            let (l, r) = (&l[..], &r[..]);
            if is_subquery(right) && l.len() != r.len() {
                super::row_in_subquery::check_width(r.len(), l.len())?;
            }
            check_lengths(l, r)?;
            match op {
                BinaryOperator::Eq => equal(l, r),
                BinaryOperator::NotEq => not(equal(l, r)),
                BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => ordered(l, op, r),
                other => {
                    return Err(PlanError::Unsupported(format!(
                        "operator {other} between row values"
                    )));
                }
            }
        }
        Expr::IsDistinctFrom(left, right) | Expr::IsNotDistinctFrom(left, right) => {
            let (Some(l), Some(r)) = (fields(left), fields(right)) else {
                return Ok(None);
            };
            let (l, r) = (&l[..], &r[..]);
            check_lengths(l, r)?;
            let same = and_all(
                l.iter()
                    .zip(r)
                    .map(|(a, b)| {
                        Expr::IsNotDistinctFrom(
                            Box::new(nested(a.clone())),
                            Box::new(nested(b.clone())),
                        )
                    })
                    .collect(),
            );
            match e {
                Expr::IsDistinctFrom(..) => not(same),
                _ => same,
            }
        }
        // A row is NULL when every field is, and NOT NULL when none is
        // (so `ROW(1, NULL)` is neither).
        Expr::IsNull(row) | Expr::IsNotNull(row) => {
            let Some(l) = fields(row) else {
                return Ok(None);
            };
            let test = |f: &Expr| {
                let f = Box::new(nested(f.clone()));
                match e {
                    Expr::IsNull(_) => Expr::IsNull(f),
                    _ => Expr::IsNotNull(f),
                }
            };
            and_all(l.iter().map(test).collect())
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let Some(l) = fields(expr) else {
                return Ok(None);
            };
            let l = &l[..];
            let mut alternatives = Vec::new();
            for item in list {
                let Some(r) = fields(item) else {
                    return Err(PlanError::Syntax(
                        "unequal number of entries in row expressions".into(),
                    ));
                };
                check_lengths(l, &r)?;
                alternatives.push(nested(equal(l, &r)));
            }
            let any = or_all(alternatives);
            match negated {
                true => not(any),
                false => nested(any),
            }
        }
        _ => return Ok(None),
    }))
}

impl VisitorMut for Rewrite {
    type Break = PlanError;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<PlanError> {
        match rewrite_expr(expr) {
            Ok(Some(rewritten)) => *expr = nested(rewritten),
            Ok(None) => {}
            Err(e) => return ControlFlow::Break(e),
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql)
            .unwrap()
            .remove(0);
        rewrite(&mut statement).unwrap();
        statement.to_string()
    }

    #[test]
    fn rows_compare_field_by_field() {
        assert_eq!(
            rewritten("SELECT (a, b) = (1, 2)"),
            "SELECT ((a) = (1) AND (b) = (2))"
        );
        assert_eq!(
            rewritten("SELECT (a, b) <= (1, 2)"),
            "SELECT ((a) < (1) OR ((a) = (1) AND ((b) <= (2))))"
        );
        assert_eq!(
            rewritten("SELECT (a, b) IN ((1, 2), (3, 4))"),
            "SELECT ((((a) = (1) AND (b) = (2)) OR ((a) = (3) AND (b) = (4))))"
        );
        assert_eq!(
            rewritten("SELECT (a, b) IS NOT NULL"),
            "SELECT ((a) IS NOT NULL AND (b) IS NOT NULL)"
        );
    }
}
