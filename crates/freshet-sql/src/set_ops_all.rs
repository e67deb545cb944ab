//! `EXCEPT ALL` and `INTERSECT ALL` with multiset semantics. DataFusion
//! plans `a EXCEPT ALL b` as an anti join of `a` with `b` and `a INTERSECT
//! ALL b` as a semi join, which keeps every copy of a row of `a` that `b`
//! does not (or does) have: `{1, 1, 2} EXCEPT ALL {1}` gave `{2}` where
//! PostgreSQL answers `{1, 2}`, and `INTERSECT ALL` gave `{1, 1}` where it
//! answers `{1}`.
//!
//! [`mark`] wraps the right side of each such operation in a subquery
//! named [`EXCEPT_ALL`] or [`INTERSECT_ALL`] before planning, and
//! [`lower_marked_join`] lowers the join DataFusion makes of it into what
//! PostgreSQL computes: each distinct row (NULLs equal) `max(0, m - n)`
//! times for `EXCEPT ALL` and `min(m, n)` times for `INTERSECT ALL`, where
//! it is `m` times in the left input and `n` times in the right: a
//! [`RelationExpr::Reduce`] counting both sides' copies per row, then
//! [`TableFunc::GenerateSeries`] repeating the row.

use std::ops::ControlFlow;

use datafusion_expr::LogicalPlan;
use sqlparser::ast::{
    Query, SetExpr, SetOperator, SetQuantifier, Statement, TableFactor, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::PlanError;
use crate::expr::func::{BinaryFunc, UnaryFunc, VariadicFunc};
use crate::expr::relation::TableFunc;
use crate::expr::scalar::ScalarExpr;
use crate::expr::{AggregateExpr, AggregateFunc, RelationExpr};
use crate::repr::{Datum, ScalarType};

/// The name of the subquery the right side of `EXCEPT ALL` is wrapped in.
pub const EXCEPT_ALL: &str = "__freshet_except_all";
/// The name of the subquery the right side of `INTERSECT ALL` is wrapped in.
pub const INTERSECT_ALL: &str = "__freshet_intersect_all";

/// Wraps the right side of every `EXCEPT ALL` and `INTERSECT ALL` in
/// `SELECT * FROM (...) AS <marker>`.
pub fn mark(statement: &mut Statement) {
    struct Mark;
    impl VisitorMut for Mark {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            mark_set_expr(query.body.as_mut());
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Mark);
}

fn mark_set_expr(body: &mut SetExpr) {
    let SetExpr::SetOperation {
        op,
        set_quantifier,
        left,
        right,
    } = body
    else {
        return;
    };
    mark_set_expr(left.as_mut());
    mark_set_expr(right.as_mut());
    let name = match (op, set_quantifier) {
        (SetOperator::Except | SetOperator::Minus, SetQuantifier::All) => EXCEPT_ALL,
        (SetOperator::Intersect, SetQuantifier::All) => INTERSECT_ALL,
        _ => return,
    };
    let Some(wrapped) = wrap(name, right.as_ref().clone()) else {
        return;
    };
    **right = wrapped;
}

/// `SELECT * FROM (body) AS name`.
fn wrap(name: &str, body: SetExpr) -> Option<SetExpr> {
    let sql = format!("SELECT * FROM (SELECT 1) AS {name}");
    let Some(Statement::Query(query)) = Parser::parse_sql(&PostgreSqlDialect {}, &sql)
        .ok()?
        .into_iter()
        .next()
    else {
        return None;
    };
    let mut select = match *query.body {
        SetExpr::Select(select) => select,
        _ => return None,
    };
    let TableFactor::Derived { subquery, .. } = &mut select.from.first_mut()?.relation else {
        return None;
    };
    *subquery.body = body;
    Some(SetExpr::Select(select))
}

/// Whether `plan` (a join's right input) is a marked side.
pub fn is_marked(plan: &LogicalPlan) -> bool {
    marker(plan).is_some()
}

/// Which marked operation `plan` (a join's right input) is the right side
/// of, looking through projections and filters.
fn marker(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => match a.alias.table() {
            EXCEPT_ALL => Some(EXCEPT_ALL),
            INTERSECT_ALL => Some(INTERSECT_ALL),
            _ => None,
        },
        LogicalPlan::Projection(p) => marker(&p.input),
        LogicalPlan::Filter(f) => marker(&f.input),
        _ => None,
    }
}

/// A join key that is a column, or a column cast to the two sides' common
/// type: the column.
fn key_column(key: &ScalarExpr) -> Option<usize> {
    match key {
        ScalarExpr::Column(c) => Some(*c),
        ScalarExpr::CallUnary {
            func: UnaryFunc::Cast(_),
            expr,
        } => match expr.as_ref() {
            ScalarExpr::Column(c) => Some(*c),
            _ => None,
        },
        _ => None,
    }
}

/// The lowering of a semi or anti join whose right input is a marked side
/// (see the module documentation); `None` for any other join.
/// `left_keys`/`right_keys` are the lowered join keys (each side's columns
/// in order, cast to the common type where the sides' types differ), and
/// `left_types` the left input's column types.
pub fn lower_marked_join(
    right_plan: &LogicalPlan,
    left: RelationExpr,
    right: RelationExpr,
    left_keys: &[ScalarExpr],
    right_keys: &[ScalarExpr],
    left_types: &[ScalarType],
    right_arity: usize,
) -> Option<Result<RelationExpr, PlanError>> {
    let except = marker(right_plan)? == EXCEPT_ALL;
    let what = if except {
        "EXCEPT ALL"
    } else {
        "INTERSECT ALL"
    };
    // The keys must be the rows themselves, column by column (perhaps
    // cast): keys compared in another form (char without its padding,
    // jsonb by value) would make rows that are not the same one.
    let in_order = |keys: &[ScalarExpr], arity: usize| {
        keys.len() == arity
            && keys
                .iter()
                .enumerate()
                .all(|(i, k)| key_column(k) == Some(i))
    };
    let n = left_types.len();
    if !in_order(left_keys, n) || !in_order(right_keys, right_arity) {
        return Some(Err(PlanError::Unsupported(format!(
            "{what} over these column types"
        ))));
    }
    // Each side's keys, with a column saying which side: 1 left, 2 right.
    let tagged = |input: RelationExpr, keys: &[ScalarExpr], arity: usize, side: i64| {
        let mut exprs = keys.to_vec();
        exprs.push(ScalarExpr::Literal(Datum::Int64(side)));
        RelationExpr::Mfp {
            input: Box::new(input),
            exprs,
            predicates: vec![],
            projection: (arity..=arity + n).collect(),
        }
    };
    let count_side = |side: i64| AggregateExpr {
        func: AggregateFunc::CountStar,
        exprs: vec![],
        input_type: None,
        distinct: false,
        filter: Some(
            ScalarExpr::column(n)
                .call_binary(ScalarExpr::Literal(Datum::Int64(side)), BinaryFunc::Eq),
        ),
        output_type: ScalarType::Int64,
    };
    // Numbers equal in value may differ in how they print (`2` and `2.0`):
    // the row out has the left input's, as in PostgreSQL, whichever side
    // the group's key came from.
    let left_value = |i: usize| AggregateExpr {
        func: AggregateFunc::Min,
        exprs: vec![ScalarExpr::column(i)],
        input_type: Some(left_types[i].clone()),
        distinct: false,
        filter: Some(
            ScalarExpr::column(n).call_binary(ScalarExpr::Literal(Datum::Int64(1)), BinaryFunc::Eq),
        ),
        output_type: left_types[i].clone(),
    };
    let printed_apart: Vec<usize> = (0..n)
        .filter(|&i| {
            matches!(
                left_types[i],
                ScalarType::Numeric { .. } | ScalarType::Float32 | ScalarType::Float64
            ) && matches!(left_keys[i], ScalarExpr::Column(_))
        })
        .collect();
    let mut aggregates = vec![count_side(1), count_side(2)];
    aggregates.extend(printed_apart.iter().map(|&i| left_value(i)));
    let counts = RelationExpr::Reduce {
        input: Box::new(RelationExpr::Union {
            inputs: vec![
                tagged(left, left_keys, n, 1),
                tagged(right, right_keys, right_arity, 2),
            ],
        }),
        group_key: (0..n).map(ScalarExpr::column).collect(),
        aggregates,
        global: false,
    };
    // Columns: the row's keys, m, n, the left values of `printed_apart`;
    // then the number of copies.
    let copies = if except {
        ScalarExpr::column(n).call_binary(ScalarExpr::column(n + 1), BinaryFunc::Sub)
    } else {
        ScalarExpr::CallVariadic {
            func: VariadicFunc::Least,
            exprs: vec![ScalarExpr::column(n), ScalarExpr::column(n + 1)],
        }
    };
    let repeated = RelationExpr::FlatMap {
        input: Box::new(counts),
        func: TableFunc::GenerateSeries,
        exprs: vec![ScalarExpr::Literal(Datum::Int64(1)), copies],
    };
    // The left input's row: a key cast to the common type is cast back
    // (exactly: every row out has a copy on the left).
    let width = n + 3 + printed_apart.len();
    let exprs: Vec<ScalarExpr> = left_keys
        .iter()
        .zip(left_types)
        .enumerate()
        .map(
            |(i, (key, typ))| match (printed_apart.iter().position(|&c| c == i), key) {
                (Some(j), _) => ScalarExpr::column(n + 2 + j),
                (None, ScalarExpr::Column(_)) => ScalarExpr::column(i),
                (None, _) => ScalarExpr::column(i).cast(typ.clone()),
            },
        )
        .collect();
    Some(Ok(RelationExpr::Mfp {
        input: Box::new(repeated),
        exprs,
        predicates: vec![],
        projection: (width..width + n).collect(),
    }))
}
