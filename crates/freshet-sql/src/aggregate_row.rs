//! Correlated subqueries over an aggregate without `GROUP BY` whose
//! `HAVING` or select list reads the outer row:
//!
//! ```sql
//! SELECT a, (SELECT max(s.x) + t.b FROM s WHERE s.k = t.a) FROM t
//! SELECT a, (SELECT max(s.x) FROM s WHERE s.k = t.a HAVING count(*) < 2) FROM t
//! SELECT a, (SELECT max(s.x) + (SELECT count(*) FROM u WHERE u.y > t.a)
//!            FROM s WHERE s.k = t.a) FROM t
//! ```
//!
//! DataFusion refuses outer references above a subquery's aggregate, and
//! decorrelates a `HAVING` over correlated rows wrongly (a group that
//! `HAVING` drops came back as the aggregate over no rows: `count` 0
//! instead of no row). An aggregate without `GROUP BY` has exactly one
//! row, so what is above it (projections, `HAVING` and other filters,
//! aliases) is a computation on that one row, which [`rewrite`] moves out
//! into the outer query: each aggregate `A` the steps above read becomes
//! the scalar subquery `(SELECT A FROM <the aggregate's input>)`, which
//! DataFusion decorrelates (its `count` over no rows is 0), the filters
//! become the condition `h` and the subquery's column the value `v`:
//!
//! * `(Q)` is `CASE WHEN h THEN v END` (no row is NULL);
//! * `EXISTS (Q)` is `h IS TRUE`;
//! * `x IN (Q)` and `x op ANY (Q)` are `CASE WHEN h THEN x op v ELSE false
//!   END`, `x op ALL (Q)` is `CASE WHEN h THEN x op v ELSE true END`.
//!
//! A subquery nested above the aggregate that reads only the outer row
//! (two levels out from it) moves out with the rest and reads it one level
//! out. Where such a nested subquery reads the aggregate's row itself, the
//! subquery is left as it is (and refused further on).

use std::collections::HashMap;
use std::ops::Not;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchemaRef, Result as DfResult, ScalarValue};
use datafusion_expr::expr::{BinaryExpr, SetQuantifier};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Aggregate, Subquery};
use datafusion_expr::utils::conjunction;
use datafusion_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Operator, lit, when};

use super::PlanError;
use super::outer_levels::subquery_of;

/// Rewrites the subqueries of `plan` over an aggregate without `GROUP BY`
/// whose steps above the aggregate read the outer row or filter it (see
/// the module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| {
        if node.inputs().is_empty() {
            return Ok(Transformed::no(node));
        }
        let scope: Vec<DFSchemaRef> = node.inputs().iter().map(|i| i.schema().clone()).collect();
        let preserver = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = preserver.save(&e);
            e.transform_up(|x| rewrite_expr(x, &scope))
                .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

/// The outer references of `plan` and of the subqueries nested in it that
/// no scope inside `plan` resolves: the columns it reads from outside.
pub(super) fn free_references(plan: &LogicalPlan) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    let _ = plan.apply(|node| {
        for c in node_free_references(node) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// The outer references of `node`'s own expressions, and those of the
/// subqueries in them that `node`'s inputs do not resolve.
fn node_free_references(node: &LogicalPlan) -> Vec<Column> {
    let scope: Vec<DFSchemaRef> = node.inputs().iter().map(|i| i.schema().clone()).collect();
    let mut out = Vec::new();
    for e in node.expressions() {
        let _ = e.apply(|x| {
            if let Expr::OuterReferenceColumn(_, c) = x {
                out.push(c.clone());
            }
            if let Some(sq) = subquery_of(x) {
                out.extend(
                    free_references(&sq.subquery)
                        .into_iter()
                        .filter(|c| !scope.iter().any(|s| s.has_column(c))),
                );
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    out
}

/// Whether a subquery nested in `node`'s expressions reads `node`'s
/// inputs.
fn nested_reads_inputs(node: &LogicalPlan) -> bool {
    let scope: Vec<DFSchemaRef> = node.inputs().iter().map(|i| i.schema().clone()).collect();
    node.expressions().iter().any(|e| {
        e.exists(|x| {
            Ok(subquery_of(x).is_some_and(|sq| {
                free_references(&sq.subquery)
                    .iter()
                    .any(|c| scope.iter().any(|s| s.has_column(c)))
            }))
        })
        .unwrap_or(true)
    })
}

/// A subquery over an aggregate without `GROUP BY`: the steps above the
/// aggregate, top down, and the aggregate.
struct AggregateRow<'a> {
    above: Vec<&'a LogicalPlan>,
    aggregate: &'a Aggregate,
}

/// `plan` as steps over an aggregate without `GROUP BY`, when moving the
/// steps out is needed (they read the outer row or filter) and possible
/// (no subquery nested in them reads the aggregate's row).
fn aggregate_row(plan: &LogicalPlan) -> Option<AggregateRow<'_>> {
    let mut above = Vec::new();
    let mut node = plan;
    let aggregate = loop {
        match node {
            LogicalPlan::Projection(p) => {
                above.push(node);
                node = p.input.as_ref();
            }
            LogicalPlan::Filter(f) => {
                above.push(node);
                node = f.input.as_ref();
            }
            LogicalPlan::SubqueryAlias(a) => {
                above.push(node);
                node = a.input.as_ref();
            }
            LogicalPlan::Aggregate(a) if a.group_expr.is_empty() => break a,
            _ => return None,
        }
    };
    let filters = above.iter().any(|n| matches!(n, LogicalPlan::Filter(_)));
    let reads_outer = above.iter().any(|n| !node_free_references(n).is_empty());
    let correlated = reads_outer || !free_references(&aggregate.input).is_empty();
    if !(reads_outer || (filters && correlated)) {
        return None;
    }
    if above.iter().any(|n| nested_reads_inputs(n)) {
        return None;
    }
    // A subquery above the aggregate that reads a column under it (an
    // ungrouped column, which PostgreSQL refuses with 42803) stays.
    let below = aggregate.input.schema();
    if above
        .iter()
        .any(|n| node_free_references(n).iter().any(|c| below.has_column(c)))
    {
        return None;
    }
    Some(AggregateRow { above, aggregate })
}

/// `e` of a step above the aggregate, read in the outer query: its columns
/// are replaced by what `values` says they are, and its references to
/// `scope` (the outer query's inputs) become plain columns. `None` if it
/// reads a column `values` has not.
fn moved_out(
    e: &Expr,
    values: &HashMap<Column, Expr>,
    scope: &[DFSchemaRef],
) -> DfResult<Option<Expr>> {
    let mut missing = false;
    let out = e
        .clone()
        .transform_up(|x| match x {
            Expr::Column(c) => match values.get(&c) {
                Some(v) => Ok(Transformed::yes(v.clone())),
                None => {
                    missing = true;
                    Ok(Transformed::no(Expr::Column(c)))
                }
            },
            Expr::OuterReferenceColumn(_, c) if scope.iter().any(|s| s.has_column(&c)) => {
                Ok(Transformed::yes(Expr::Column(c)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok((!missing).then_some(out))
}

/// The subquery `(SELECT a FROM <the aggregate's input>)` for the
/// aggregate's `i`th aggregate.
fn one_aggregate(agg: &Aggregate, i: usize, spans: &datafusion_common::Spans) -> DfResult<Expr> {
    let single = Aggregate::try_new(agg.input.clone(), vec![], vec![agg.aggr_expr[i].clone()])?;
    let columns = single.schema.columns();
    let plan = LogicalPlanBuilder::from(LogicalPlan::Aggregate(single))
        .project(columns.into_iter().map(Expr::Column))?
        .build()?;
    let outer_ref_columns = plan.all_out_ref_exprs();
    Ok(Expr::ScalarSubquery(Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns,
        spans: spans.clone(),
    }))
}

/// The subquery's condition (`None`: always true) and the value of its
/// first column, computed in the outer query; `None` if some step cannot
/// be moved out.
fn condition_and_value(
    row: &AggregateRow,
    spans: &datafusion_common::Spans,
    scope: &[DFSchemaRef],
) -> DfResult<Option<(Option<Expr>, Option<Expr>)>> {
    let agg = row.aggregate;
    let mut values: HashMap<Column, Expr> = HashMap::new();
    for (i, c) in agg.schema.columns().into_iter().enumerate() {
        values.insert(c, one_aggregate(agg, i, spans)?);
    }
    let mut conditions = Vec::new();
    for node in row.above.iter().rev() {
        match node {
            LogicalPlan::Filter(f) => {
                let Some(c) = moved_out(&f.predicate, &values, scope)? else {
                    return Ok(None);
                };
                conditions.push(c);
            }
            LogicalPlan::Projection(p) => {
                let mut next = HashMap::new();
                for (c, e) in p.schema.columns().into_iter().zip(&p.expr) {
                    let unaliased = e.clone().unalias_nested().data;
                    let Some(v) = moved_out(&unaliased, &values, scope)? else {
                        return Ok(None);
                    };
                    next.insert(c, v);
                }
                values = next;
            }
            LogicalPlan::SubqueryAlias(a) => {
                let mut next = HashMap::new();
                for (c, inner) in a
                    .schema
                    .columns()
                    .into_iter()
                    .zip(a.input.schema().columns())
                {
                    if let Some(v) = values.get(&inner) {
                        next.insert(c, v.clone());
                    }
                }
                values = next;
            }
            _ => return Ok(None),
        }
    }
    let top = row
        .above
        .first()
        .map_or(agg.schema.clone(), |n| n.schema().clone());
    let value = top.columns().first().and_then(|c| values.get(c).cloned());
    Ok(Some((conjunction(conditions), value)))
}

fn rewrite_expr(e: Expr, scope: &[DFSchemaRef]) -> DfResult<Transformed<Expr>> {
    let Some(sq) = subquery_of(&e) else {
        return Ok(Transformed::no(e));
    };
    let Some(row) = aggregate_row(&sq.subquery) else {
        return Ok(Transformed::no(e));
    };
    let Some((condition, value)) = condition_and_value(&row, &sq.spans, scope)? else {
        return Ok(Transformed::no(e));
    };
    let holds = |c: Option<Expr>, then: Expr, otherwise: Expr| -> DfResult<Expr> {
        match c {
            None => Ok(then),
            Some(c) => when(c, then).otherwise(otherwise),
        }
    };
    let compare = |x: Expr, op: Operator, v: Expr| {
        Expr::BinaryExpr(BinaryExpr::new(Box::new(x), op, Box::new(v)))
    };
    let out = match (&e, value) {
        (Expr::ScalarSubquery(_), Some(v)) => {
            holds(condition, v, Expr::Literal(ScalarValue::Null, None))?
        }
        (Expr::Exists(x), _) => {
            let exists = condition.map_or(lit(true), |c| c.is_true());
            if x.negated { exists.not() } else { exists }
        }
        (Expr::InSubquery(x), Some(v)) => {
            let any = holds(
                condition,
                compare(x.expr.as_ref().clone(), Operator::Eq, v),
                lit(false),
            )?;
            if x.negated { any.not() } else { any }
        }
        (Expr::SetComparison(x), Some(v)) => {
            let all = matches!(x.quantifier, SetQuantifier::All);
            holds(
                condition,
                compare(x.expr.as_ref().clone(), x.op, v),
                lit(all),
            )?
        }
        _ => return Ok(Transformed::no(e)),
    };
    Ok(Transformed::yes(out))
}
