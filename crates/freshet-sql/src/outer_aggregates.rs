//! Aggregates of an outer query's columns inside a subquery:
//!
//! ```sql
//! SELECT (SELECT max(p.id)) FROM p
//! SELECT p.g, (SELECT max(p.id) FROM c LIMIT 1) FROM p GROUP BY p.g
//! ```
//!
//! In PostgreSQL an aggregate whose arguments read only columns of an
//! outer query belongs to that query: it is computed over the outer rows
//! (per group), and the subquery sees its value as an outer reference. The
//! subquery is then not an aggregate query itself (unless it has other
//! aggregates or a `GROUP BY`): `SELECT (SELECT max(p.id) FROM c) FROM p`
//! has a row per row of `c`, and fails when `c` has two.
//!
//! DataFusion plans the aggregate inside the subquery. [`rewrite`] moves
//! it out, where the subquery is a scalar subquery of the outer query's
//! select list, one level in: the outer projection's input becomes (or,
//! where the outer query is grouped, gains) an aggregate computing it as
//! the column `__freshet_outer_agg_N`, and the subquery's aggregate node
//! gives the value as an outer reference to that column under its old
//! output name (dropped where nothing else is left of it). The outer query
//! must then read its own columns only in aggregates, as PostgreSQL
//! requires: where its select list reads one outside the subquery, the
//! query is left as it is and `subquery_outer_refs::check_outer_aggregates`
//! gives PostgreSQL's `42803`; a column the subquery reads outside the
//! moved aggregates is PostgreSQL's `subquery uses ungrouped column`
//! there too. Other places (`HAVING`, `WHERE` of the subquery, an
//! aggregate over a subquery, grouping sets) are left as they are, and
//! refused further on with `0A000`.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, Result as DfResult};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Aggregate, Projection, Subquery};
use datafusion_expr::{Expr, LogicalPlan};

use super::PlanError;
use super::outer_levels::subquery_of;
use super::subquery_outer_refs::only_outer_columns;

/// The prefix of the moved aggregates' column names.
const PREFIX: &str = "__freshet_outer_agg";

/// Moves the aggregates of outer columns out of the select list's scalar
/// subqueries of `plan` (see the module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    let mut names = 0usize;
    plan.transform_up_with_subqueries(|node| rewrite_node(node, &mut names))
        .map(|t| t.data)
        .map_err(PlanError::from_datafusion)
}

/// Whether `e` holds a subquery.
fn has_subquery(e: &Expr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        found |= subquery_of(x).is_some();
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Whether `e` reads a column of its own query outside its subqueries.
fn reads_columns(e: &Expr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        found |= matches!(x, Expr::Column(_));
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// The aggregates of the subquery `plan`'s own level whose arguments read
/// only columns of `outer` (and hold no subquery).
fn outer_aggregates(plan: &LogicalPlan, outer: &DFSchema, found: &mut Vec<Expr>) {
    let _ = plan.apply(|n| {
        if let LogicalPlan::Aggregate(a) = n
            && !a
                .group_expr
                .iter()
                .any(|g| matches!(g, Expr::GroupingSet(_)))
        {
            for e in &a.aggr_expr {
                if !has_subquery(e)
                    && let Some(columns) = only_outer_columns(e, a.input.schema())
                    && columns.iter().all(|c| outer.has_column(c))
                    && !found.contains(e)
                {
                    found.push(e.clone());
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

fn rewrite_node(node: LogicalPlan, names: &mut usize) -> DfResult<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(projection) = &node else {
        return Ok(Transformed::no(node));
    };
    // The outer query's rows: the projection's input, or the input of the
    // aggregate it is over.
    let (rows, grouped) = match projection.input.as_ref() {
        LogicalPlan::Aggregate(a) => {
            if a.group_expr
                .iter()
                .any(|g| matches!(g, Expr::GroupingSet(_)))
            {
                return Ok(Transformed::no(node));
            }
            (a.input.clone(), Some(a))
        }
        LogicalPlan::Window(_) | LogicalPlan::Distinct(_) => return Ok(Transformed::no(node)),
        _ => (projection.input.clone(), None),
    };
    let mut moved: Vec<Expr> = Vec::new();
    for e in &projection.expr {
        let _ = e.apply(|x| {
            if let Expr::ScalarSubquery(sq) = x {
                outer_aggregates(&sq.subquery, rows.schema(), &mut moved);
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    if moved.is_empty() {
        return Ok(Transformed::no(node));
    }
    // An ungrouped query becomes an aggregate: its select list may read
    // its columns only in subqueries (else PostgreSQL's 42803, given by
    // `check_outer_aggregates`).
    if grouped.is_none() && projection.expr.iter().any(reads_columns) {
        return Ok(Transformed::no(node));
    }
    // The moved aggregates, computed over the outer rows.
    let mut columns: Vec<(Expr, String)> = Vec::new();
    let mut computed: Vec<Expr> = Vec::new();
    for e in &moved {
        *names += 1;
        let name = format!("{PREFIX}_{names}");
        let over_rows = e
            .clone()
            .transform_up(|x| match x {
                Expr::OuterReferenceColumn(_, c) => Ok(Transformed::yes(Expr::Column(c))),
                other => Ok(Transformed::no(other)),
            })?
            .data;
        computed.push(over_rows.alias(name.clone()));
        columns.push((e.clone(), name));
    }
    let aggregate = match grouped {
        Some(a) => {
            let mut aggr_expr = a.aggr_expr.clone();
            aggr_expr.extend(computed);
            Aggregate::try_new(a.input.clone(), a.group_expr.clone(), aggr_expr)?
        }
        None => Aggregate::try_new(rows, Vec::new(), computed)?,
    };
    let aggregate = Arc::new(LogicalPlan::Aggregate(aggregate));
    // Each moved aggregate as the subqueries read it.
    let mut references: Vec<(Expr, Expr)> = Vec::new();
    for (e, name) in columns {
        let (_, field) = aggregate
            .schema()
            .qualified_field_with_unqualified_name(&name)?;
        references.push((
            e,
            Expr::OuterReferenceColumn(field.clone(), Column::from_name(name)),
        ));
    }
    let preserver = NamePreserver::new(&node);
    let mut exprs = Vec::new();
    for e in &projection.expr {
        let saved = preserver.save(e);
        let replaced = e
            .clone()
            .transform_up(|x| match x {
                Expr::ScalarSubquery(sq) => {
                    let plan = without_moved(sq.subquery.as_ref().clone(), &references)?;
                    Ok(Transformed::yes(Expr::ScalarSubquery(Subquery {
                        outer_ref_columns: plan.all_out_ref_exprs(),
                        subquery: Arc::new(plan),
                        spans: sq.spans,
                    })))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        exprs.push(saved.restore(replaced));
    }
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new(exprs, aggregate)?,
    )))
}

/// The subquery `plan` with its aggregate nodes giving the moved
/// aggregates (`references`: each with the outer reference that replaces
/// it) under their output names.
fn without_moved(plan: LogicalPlan, references: &[(Expr, Expr)]) -> DfResult<LogicalPlan> {
    plan.transform_up(|n| {
        let LogicalPlan::Aggregate(a) = &n else {
            return Ok(Transformed::no(n));
        };
        let reference = |e: &Expr| {
            references
                .iter()
                .find(|(from, _)| from == e)
                .map(|(_, to)| to.clone())
        };
        if !a.aggr_expr.iter().any(|e| reference(e).is_some()) {
            return Ok(Transformed::no(n));
        }
        let remaining: Vec<Expr> = a
            .aggr_expr
            .iter()
            .filter(|e| reference(e).is_none())
            .cloned()
            .collect();
        // Without other aggregates or groups, the subquery is no
        // aggregate query: a row per input row.
        let input = if remaining.is_empty() && a.group_expr.is_empty() {
            a.input.clone()
        } else {
            Arc::new(LogicalPlan::Aggregate(Aggregate::try_new(
                a.input.clone(),
                a.group_expr.clone(),
                remaining,
            )?))
        };
        // The aggregate's columns: its groups, then its aggregates; the
        // new one's: the groups, then the aggregates that were kept.
        let groups = a.group_expr.len();
        let mut next_kept = groups;
        let mut exprs = Vec::new();
        for (i, (qualifier, field)) in a.schema.iter().enumerate() {
            let original = Column::new(qualifier.cloned(), field.name());
            let position = if i < groups {
                i
            } else if let Some(outer) = a.aggr_expr.get(i - groups).and_then(reference) {
                exprs.push(outer.alias_qualified(original.relation, original.name));
                continue;
            } else {
                next_kept += 1;
                next_kept - 1
            };
            let (q, f) = input.schema().qualified_field(position);
            let value = Expr::Column(Column::new(q.cloned(), f.name()));
            exprs.push(value.alias_qualified(original.relation, original.name));
        }
        Ok(Transformed::yes(LogicalPlan::Projection(
            Projection::try_new(exprs, input)?,
        )))
    })
    .map(|t| t.data)
}
