//! The result types of `EXCEPT` and `INTERSECT` whose sides' column types
//! differ, as PostgreSQL resolves them.
//!
//! DataFusion plans `a EXCEPT b` as an anti join of `a` (made distinct)
//! with `b` and `a INTERSECT b` as a semi join, whose columns are `a`'s:
//! `SELECT 1 EXCEPT SELECT 2.5` was an `integer` where PostgreSQL's is
//! `numeric`, and `SELECT 0.1::real EXCEPT SELECT 1` a `real`. PostgreSQL
//! converts both sides to the columns' common type (as for `UNION`) before
//! comparing or removing duplicates. [`retype`] does that for the joins of
//! such operations (semi and anti joins whose keys match NULLs, which only
//! set operations make before the optimizer runs): each side gets a
//! projection casting its columns of other types, the left one under the
//! distinct step, so that rows equal only after the conversion count once.
//! The common type is [`float_common_type`]'s among floating point and
//! other numbers, else DataFusion's comparison coercion among numbers and
//! among dates and timestamps; other pairs are left as they are.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::{Column, NullEquality, Result as DfResult};
use datafusion_expr::logical_plan::{Distinct, Join, JoinType, Projection};
use datafusion_expr::type_coercion::binary::comparison_coercion;
use datafusion_expr::{Expr, LogicalPlan};

use super::float_compare::{cast_to, float_common_type};

/// The join of an `EXCEPT` or `INTERSECT` with its sides converted to the
/// common types (see the module documentation); `None` if `join` is not
/// such a join or its sides' types agree.
pub fn retype(join: &Join) -> DfResult<Option<LogicalPlan>> {
    if !matches!(join.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        || join.null_equality != NullEquality::NullEqualsNull
        || join.filter.is_some()
    {
        return Ok(None);
    }
    let left = join.left.schema().fields();
    let right = join.right.schema().fields();
    if left.len() != right.len() || join.on.len() != left.len() {
        return Ok(None);
    }
    let targets: Vec<Option<DataType>> = left
        .iter()
        .zip(right.iter())
        .map(|(l, r)| common_type(l.data_type(), r.data_type()))
        .collect();
    if targets.iter().all(Option::is_none) {
        return Ok(None);
    }
    // `a EXCEPT b` (without `ALL`) made `a` distinct: convert below that.
    let new_left = match join.left.as_ref() {
        LogicalPlan::Distinct(Distinct::All(input)) => Arc::new(LogicalPlan::Distinct(
            Distinct::All(converted(input, &targets)?),
        )),
        other => converted(&Arc::new(other.clone()), &targets)?,
    };
    let new_right = converted(&join.right, &targets)?;
    Ok(Some(LogicalPlan::Join(Join::try_new(
        new_left,
        new_right,
        join.on.clone(),
        None,
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )?)))
}

/// The type both `l` and `r` convert to, where they differ and PostgreSQL
/// would convert them.
fn common_type(l: &DataType, r: &DataType) -> Option<DataType> {
    if l == r {
        return None;
    }
    if let Some(t) = float_common_type(&[l.clone(), r.clone()]) {
        return Some(t);
    }
    let numeric = |t: &DataType| t.is_integer() || matches!(t, DataType::Decimal128(..));
    let temporal = |t: &DataType| matches!(t, DataType::Date32 | DataType::Timestamp(..));
    if (numeric(l) && numeric(r)) || (temporal(l) && temporal(r)) {
        return comparison_coercion(l, r);
    }
    None
}

/// `input` with its columns cast to `targets` where given (same names and
/// qualifiers), or `input` itself if none needs it.
pub(super) fn converted(
    input: &Arc<LogicalPlan>,
    targets: &[Option<DataType>],
) -> DfResult<Arc<LogicalPlan>> {
    let schema = input.schema();
    let needs_cast = schema
        .fields()
        .iter()
        .zip(targets)
        .any(|(f, t)| t.as_ref().is_some_and(|t| f.data_type() != t));
    if !needs_cast {
        return Ok(Arc::clone(input));
    }
    let exprs = schema
        .iter()
        .zip(targets)
        .map(|((qualifier, field), target)| {
            let column = Expr::Column(Column::from((qualifier, field)));
            match target {
                Some(t) if field.data_type() != t => cast_to(&column, field.data_type(), t)
                    .alias_qualified(qualifier.cloned(), field.name()),
                _ => column,
            }
        })
        .collect();
    Ok(Arc::new(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::clone(input),
    )?)))
}
