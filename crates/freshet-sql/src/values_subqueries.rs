//! Subqueries in a `VALUES` list: `VALUES ((SELECT count(*) FROM t))`,
//! `INSERT INTO t VALUES (1, (SELECT max(x) FROM u))`.
//!
//! DataFusion's optimizer decorrelates subqueries in projections and
//! filters, not in a `Values` node, so one would reach lowering as is.
//! [`rewrite`] turns a `VALUES` list with a subquery into the union of one
//! projection per row over a one-row empty relation, each naming its
//! columns as the list does (`column1`, ...): PostgreSQL's `SELECT e1,
//! e2 UNION ALL SELECT ...`, which the optimizer plans as any other
//! select list (a scalar subquery becomes a join).

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_expr::logical_plan::{EmptyRelation, Projection, Union, Values};
use datafusion_expr::{Expr, LogicalPlan};

use super::PlanError;

/// Rewrites each `VALUES` list with a subquery (see the module docs).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::Values(values) if values.values.iter().flatten().any(has_subquery) => {
            Ok(Transformed::yes(rows_as_projections(values)?))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

/// Whether `e` holds a subquery.
fn has_subquery(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(
            e,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        ))
    })
    .unwrap_or(false)
}

/// `values` as one projection per row (over one empty row), in a union
/// if there are several.
fn rows_as_projections(values: Values) -> datafusion_common::Result<LogicalPlan> {
    let one_row = Arc::new(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        schema: Arc::new(datafusion_common::DFSchema::empty()),
    }));
    let mut rows = Vec::with_capacity(values.values.len());
    for row in values.values {
        let exprs = row
            .into_iter()
            .zip(values.schema.fields())
            .map(|(e, field)| e.alias(field.name()))
            .collect();
        rows.push(Arc::new(LogicalPlan::Projection(Projection::try_new(
            exprs,
            one_row.clone(),
        )?)));
    }
    if rows.len() == 1 {
        return Ok(Arc::unwrap_or_clone(rows.remove(0)));
    }
    Ok(LogicalPlan::Union(Union::try_new_with_loose_types(rows)?))
}
