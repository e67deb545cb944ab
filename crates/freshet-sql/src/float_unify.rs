//! The columns of `UNION`s and multi-row `VALUES` lists that mix floating
//! point with `numeric` or integers, typed as PostgreSQL types them.
//!
//! PostgreSQL resolves such a column to the numeric category's preferred
//! type present, `double precision` (or `real`, with `real` the only
//! floating-point type; docs §10.5): `SELECT 1.5::float8 UNION SELECT 2.5`
//! and `VALUES (sqrt(2.0::float8)), (2.5)` are `double precision`, since
//! `numeric` casts to floating point implicitly and not back. DataFusion
//! prefers `numeric` (`Decimal128`), which also rounds a small float to
//! the scale of the literals (`1e-20` beside `2.5` became `0.0`). The rule
//! itself is [`super::float_compare::float_common_type`], shared with `IN`
//! lists, `CASE` and `coalesce`.
//!
//! * `UNION` ([`rewrite`]): an input whose column is not of the resolved
//!   type gets a projection casting it, before DataFusion's coercion.
//! * `VALUES`: DataFusion unifies the rows while it plans them, so the
//!   type each row had is gone by the time the plan exists. Before
//!   planning, [`mark_values`] wraps each item of a column that has number
//!   literals and other items in the identity marker
//!   [`super::values::ITEM`]; [`rewrite`] then finds each row's own
//!   expression (inside the marker, or the literal under DataFusion's
//!   casts), resolves the column and casts the rows to its type.
//! * `INSERT ... VALUES` ([`type_insert_values`]): PostgreSQL converts each
//!   item to its target column's type separately, without resolving a
//!   common type, so `INSERT INTO t (n) VALUES (1.5::float8),
//!   (1.23456789012345678)` stores the `numeric` literal unrounded. A
//!   column that mixes floating point with other numbers is cast, row by
//!   row, to the target column's type (every conversion among number types
//!   is an assignment cast in PostgreSQL, with the same result as the
//!   explicit cast).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field};
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, Projection, Union, Values};
use sqlparser::ast::{
    DataType as SqlType, Expr as SqlExpr, Query, SetExpr, Statement, UnaryOperator, Value,
    VisitMut, VisitorMut,
};

use super::float_compare::{cast_to, float_common_type};
use super::values::ITEM;
use crate::repr::ScalarType;

/// Marks the items of multi-row `VALUES` columns whose type may decide the
/// column's (see the module documentation): in a column with a number
/// literal, every item that is not a literal.
pub fn mark_values(statement: &mut Statement) {
    let _ = statement.visit(&mut MarkValues);
}

struct MarkValues;

impl VisitorMut for MarkValues {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        mark_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn mark_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Values(values) if values.rows.len() > 1 => {
            let width = values.rows.iter().map(|r| r.len()).max().unwrap_or(0);
            for j in 0..width {
                let mut column: Vec<&mut SqlExpr> = values
                    .rows
                    .iter_mut()
                    .filter_map(|r| r.get_mut(j))
                    .collect();
                if !column.iter().any(|e| is_number(e)) {
                    continue;
                }
                for e in column.iter_mut() {
                    if !is_literal(e) {
                        let item = std::mem::replace(&mut **e, SqlExpr::value(Value::Null));
                        **e = super::values::call(ITEM, item);
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            mark_set_expr(left);
            mark_set_expr(right);
        }
        _ => {}
    }
}

/// A number literal, possibly negated.
fn is_number(e: &SqlExpr) -> bool {
    match e {
        SqlExpr::Value(v) => matches!(v.value, Value::Number(..)),
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => is_number(expr),
        SqlExpr::Nested(inner) => is_number(inner),
        // An integral literal in exponent notation (`1e2`), made `numeric`
        // by `literals::rewrite_exponent_literals`.
        SqlExpr::Cast {
            expr,
            data_type: SqlType::Numeric(_) | SqlType::Decimal(_),
            ..
        } => matches!(expr.as_ref(), SqlExpr::Value(v) if matches!(v.value, Value::Number(..))),
        _ => false,
    }
}

/// A literal whose type does not decide a column with numbers in it: a
/// number, `NULL`, or a string (of PostgreSQL's type `unknown`).
fn is_literal(e: &SqlExpr) -> bool {
    is_number(e)
        || matches!(e, SqlExpr::Value(v) if matches!(v.value, Value::Null | Value::SingleQuotedString(_)))
}

/// Resolves the floating-point columns of the `UNION`s and `VALUES` lists
/// of `plan` (see the module documentation). Run on the planned statement,
/// before the analyzer's type coercion.
pub fn rewrite(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    let mut changed = false;
    let rewritten = plan.transform_up_with_subqueries(|node| {
        let new = match &node {
            LogicalPlan::Union(union) => rewrite_union(union)?,
            // `EXCEPT` and `INTERSECT`, whose types are resolved as a
            // `UNION`'s.
            LogicalPlan::Join(join) => super::set_op_types::retype(join)?,
            LogicalPlan::Values(values) => {
                retype_values(values, true, |_, types| float_common_type(types))?
            }
            _ => None,
        };
        match new {
            Some(new) => {
                changed = true;
                Ok(Transformed::yes(new))
            }
            // A parent of a rewritten node derives its schema again.
            None if changed => Ok(Transformed::yes(node.recompute_schema()?)),
            None => Ok(Transformed::no(node)),
        }
    })?;
    Ok(rewritten.data)
}

/// Casts the items of the `VALUES` list an `INSERT` reads (`plan`, under
/// projections) to their target columns' types (`targets`, by position;
/// see the module documentation) where a column of a number type gets
/// items of different types: floating point beside other numbers, or
/// strings (PostgreSQL's `unknown`, read as the column's type: `'NaN'`
/// beside `1.25` for a `double precision` column).
pub fn type_insert_values(plan: LogicalPlan, targets: &[ScalarType]) -> DfResult<LogicalPlan> {
    match plan {
        LogicalPlan::Values(values) => {
            let target = |j: usize, types: &[DataType]| {
                let target = targets.get(j)?;
                let is_number = target.is_number();
                let mixed = types
                    .iter()
                    .any(|t| matches!(t, DataType::Float32 | DataType::Float64 | DataType::Utf8))
                    && types.iter().any(|t| *t != types[0]);
                // A cast to the Arrow type alone (a decimal type without
                // Freshet's metadata is the unconstrained `numeric`): the
                // row is then assigned to the column as any value is.
                (is_number && mixed).then(|| target.to_arrow())
            };
            Ok(retype_values(&values, false, target)?.unwrap_or(LogicalPlan::Values(values)))
        }
        LogicalPlan::Projection(projection) => {
            let input = type_insert_values(Arc::unwrap_or_clone(projection.input), targets)?;
            LogicalPlan::Projection(Projection::try_new(projection.expr, Arc::new(input))?)
                .recompute_schema()
        }
        other => Ok(other),
    }
}

/// The expression a `VALUES` row had before DataFusion cast it to its
/// column's type: the [`ITEM`] marker (of its item's type, and kept, so
/// that [`type_insert_values`] still finds it after [`rewrite`]), or a
/// literal under casts.
fn origin(e: &Expr) -> &Expr {
    match e {
        Expr::ScalarFunction(ScalarFunction { func, .. }) if func.name() == ITEM => e,
        Expr::Cast(Cast { expr, .. }) => origin(expr),
        _ => e,
    }
}

fn has_item(e: &Expr) -> bool {
    match e {
        Expr::ScalarFunction(ScalarFunction { func, .. }) => func.name() == ITEM,
        Expr::Cast(Cast { expr, .. }) => has_item(expr),
        _ => false,
    }
}

/// `values` with the columns that `target` (given a column's position and
/// its rows' own types) gives a type cast to it; `None` if there are none.
/// With `marked_only`, only columns with a marked item are considered
/// (DataFusion types a column of literals as PostgreSQL does); without,
/// columns whose rows are all marked items or literals (elsewhere a row's
/// own type is not known).
fn retype_values(
    values: &Values,
    marked_only: bool,
    target: impl Fn(usize, &[DataType]) -> Option<DataType>,
) -> DfResult<Option<LogicalPlan>> {
    let empty = DFSchema::empty();
    let mut rows = values.values.clone();
    let mut fields: Vec<Field> = values
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut changed = false;
    for (j, field) in fields.iter_mut().enumerate() {
        let known = |e: &Expr| {
            has_item(e)
                || match origin(e) {
                    Expr::Literal(..) => true,
                    Expr::Negative(x) => matches!(origin(x), Expr::Literal(..)),
                    _ => false,
                }
        };
        let considered = if marked_only {
            // A column with a number literal has every other item marked.
            rows.iter().any(|r| r.get(j).is_some_and(has_item))
        } else {
            rows.iter().all(|r| r.get(j).is_some_and(known))
        };
        if !considered {
            continue;
        }
        let Ok(types) = rows
            .iter()
            .map(|r| match r.get(j) {
                Some(e) => origin(e).get_type(&empty),
                None => Ok(DataType::Null),
            })
            .collect::<DfResult<Vec<DataType>>>()
        else {
            continue;
        };
        let Some(t) = target(j, &types) else {
            continue;
        };
        for (row, from) in rows.iter_mut().zip(&types) {
            if let Some(e) = row.get_mut(j) {
                let cast = cast_to(origin(e), from, &t);
                *e = cast;
            }
        }
        *field = Field::new(field.name(), t, field.is_nullable());
        changed = true;
    }
    if !changed {
        return Ok(None);
    }
    let schema = DFSchema::from_unqualified_fields(fields.into(), Default::default())?;
    Ok(Some(LogicalPlan::Values(Values {
        schema: Arc::new(schema),
        values: rows,
    })))
}

/// A `UNION` whose inputs cast the columns that resolve to floating point
/// ([`float_common_type`]); `None` if there are none.
fn rewrite_union(union: &Union) -> DfResult<Option<LogicalPlan>> {
    let width = union.schema.fields().len();
    let mut targets: Vec<Option<DataType>> = Vec::with_capacity(width);
    for j in 0..width {
        let types: Vec<DataType> = union
            .inputs
            .iter()
            .filter_map(|i| i.schema().fields().get(j).map(|f| f.data_type().clone()))
            .collect();
        targets.push(float_common_type(&types));
    }
    if targets.iter().all(Option::is_none) {
        return Ok(None);
    }
    let inputs = union
        .inputs
        .iter()
        .map(|input| super::set_op_types::converted(input, &targets))
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Some(LogicalPlan::Union(Union::try_new_with_loose_types(
        inputs,
    )?)))
}
