//! Subqueries in an aggregate's `FILTER (WHERE ...)` clause or arguments:
//!
//! ```sql
//! SELECT count(*) FILTER (WHERE a IN (SELECT a FROM u)) FROM t
//! SELECT sum((SELECT max(y) FROM u WHERE u.x = t.a)) FROM t
//! ```
//!
//! DataFusion decorrelates subqueries in filters and projections only, so
//! one in an aggregate's `FILTER` or argument reached the lowering and was
//! refused. [`rewrite`] (run before the other subquery rewrites) computes
//! each such condition or argument per input row in a projection under the
//! aggregate, as a column `__freshet_agg_filter{n}`, and has the aggregate
//! read that column: the value is the same per row, and a subquery in a
//! projection is what `subquery_predicates` and DataFusion decorrelate.

use std::sync::Arc;

use datafusion_common::Column;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_expr::expr::AggregateFunction;
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Aggregate, Projection};
use datafusion_expr::{Expr, LogicalPlan};

use super::PlanError;
use super::outer_levels::has_subquery;

/// The prefix of the computed condition columns.
const PREFIX: &str = "__freshet_agg_filter";

/// Moves the aggregate `FILTER` conditions and arguments of `plan` that
/// hold a subquery into a projection under their aggregate (see the module
/// docs).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    let mut names = 0usize;
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Aggregate(agg) = &node else {
            return Ok(Transformed::no(node));
        };
        let preserver = NamePreserver::new(&node);
        let mut computed: Vec<Expr> = Vec::new();
        let mut aggr_expr = Vec::with_capacity(agg.aggr_expr.len());
        for e in &agg.aggr_expr {
            let rewritten = e.clone().transform_up(|x| {
                let Expr::AggregateFunction(mut f) = x else {
                    return Ok(Transformed::no(x));
                };
                let mut changed = false;
                for arg in f.params.args.iter_mut() {
                    if has_subquery(arg) {
                        names += 1;
                        let name = format!("{PREFIX}{names}");
                        computed.push(arg.clone().alias(&name));
                        *arg = Expr::Column(Column::from_name(&name));
                        changed = true;
                    }
                }
                let Some(filter) = f.params.filter.as_deref() else {
                    return Ok(Transformed::new_transformed(
                        Expr::AggregateFunction(f),
                        changed,
                    ));
                };
                if !has_subquery(filter) {
                    return Ok(Transformed::new_transformed(
                        Expr::AggregateFunction(f),
                        changed,
                    ));
                }
                names += 1;
                let name = format!("{PREFIX}{names}");
                computed.push(filter.clone().alias(&name));
                f.params.filter = Some(Box::new(Expr::Column(Column::from_name(&name))));
                Ok(Transformed::yes(Expr::AggregateFunction(
                    AggregateFunction {
                        func: f.func,
                        params: f.params,
                    },
                )))
            })?;
            let saved = preserver.save(e);
            aggr_expr.push(saved.restore(rewritten.data));
        }
        if computed.is_empty() {
            return Ok(Transformed::no(node));
        }
        let input = agg.input.as_ref();
        let exprs: Vec<Expr> = input
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .chain(computed)
            .collect();
        let projection = LogicalPlan::Projection(Projection::try_new(exprs, agg.input.clone())?);
        Ok(Transformed::yes(LogicalPlan::Aggregate(
            Aggregate::try_new(Arc::new(projection), agg.group_expr.clone(), aggr_expr)?,
        )))
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}
