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
//! DataFusion plans the aggregate inside the subquery (in an aggregate
//! node, or in a filter where `where_aggregates` put it back). [`rewrite`]
//! moves it out, where the subquery (scalar, `EXISTS`, `IN`) is in the
//! outer query's select list or `HAVING`, one level in: the outer projection's input becomes (or,
//! where the outer query is grouped, gains) an aggregate computing it as
//! the column `__freshet_outer_agg_N`, and the subquery's aggregate node
//! gives the value as an outer reference to that column under its old
//! output name (dropped where nothing else is left of it). The outer query
//! must then read its own columns only in aggregates, as PostgreSQL
//! requires: where its select list reads one outside the subquery, the
//! query is left as it is and `subquery_outer_refs::check_outer_aggregates`
//! gives PostgreSQL's `42803`; a column the subquery reads outside the
//! moved aggregates is PostgreSQL's `subquery uses ungrouped column`
//! there too. Other places (the outer query's `WHERE`, deeper levels, an
//! aggregate over a subquery, grouping sets) are left as they are, and
//! refused further on with `42803` or `0A000`.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, Result as DfResult};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Aggregate, Filter, Projection, Subquery};
use datafusion_expr::{Expr, LogicalPlan};

use super::PlanError;
use super::outer_levels::{subquery_of, with_subquery};
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
pub(crate) fn reads_columns(e: &Expr) -> bool {
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
/// only columns of `outer` (and hold no subquery): in its aggregate nodes,
/// and in its filters (an aggregate of outer columns in the subquery's
/// `WHERE`, which `where_aggregates` gets past DataFusion's planner).
fn outer_aggregates(plan: &LogicalPlan, outer: &DFSchema, found: &mut Vec<Expr>) {
    let consider = |e: &Expr, own: &DFSchema, found: &mut Vec<Expr>| {
        if !has_subquery(e)
            && let Some(columns) = only_outer_columns(e, own)
            && columns.iter().all(|c| outer.has_column(c))
            && !found.contains(e)
        {
            found.push(e.clone());
        }
    };
    let _ = plan.apply(|n| {
        match n {
            LogicalPlan::Aggregate(a)
                if !a
                    .group_expr
                    .iter()
                    .any(|g| matches!(g, Expr::GroupingSet(_))) =>
            {
                for e in &a.aggr_expr {
                    consider(e, a.input.schema(), found);
                }
            }
            LogicalPlan::Filter(f) => {
                let _ = f.predicate.apply(|x| {
                    if matches!(x, Expr::AggregateFunction(_)) {
                        consider(x, f.input.schema(), found);
                        return Ok(TreeNodeRecursion::Jump);
                    }
                    Ok(TreeNodeRecursion::Continue)
                });
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

fn rewrite_node(node: LogicalPlan, names: &mut usize) -> DfResult<Transformed<LogicalPlan>> {
    let LogicalPlan::Projection(projection) = &node else {
        return Ok(Transformed::no(node));
    };
    // A grouped query's `HAVING`, between the projection and the
    // aggregate: its subqueries may hold the query's aggregates too.
    let (having, below) = match projection.input.as_ref() {
        LogicalPlan::Filter(f) if matches!(f.input.as_ref(), LogicalPlan::Aggregate(_)) => {
            (Some(f), f.input.as_ref())
        }
        other => (None, other),
    };
    // The outer query's rows: the projection's input, or the input of the
    // aggregate it is over.
    let (rows, grouped) = match below {
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
    for e in projection.expr.iter().chain(having.map(|f| &f.predicate)) {
        let _ = e.apply(|x| {
            if let Some(sq) = subquery_of(x) {
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
    // `e` with its subqueries reading the moved aggregates.
    let replace = |e: &Expr| -> DfResult<Expr> {
        e.clone()
            .transform_up(|x| {
                let Some(sq) = subquery_of(&x) else {
                    return Ok(Transformed::no(x));
                };
                let plan = without_moved(sq.subquery.as_ref().clone(), &references)?;
                let replaced = Subquery {
                    outer_ref_columns: plan.all_out_ref_exprs(),
                    subquery: Arc::new(plan),
                    spans: sq.spans.clone(),
                };
                Ok(Transformed::yes(with_subquery(x, replaced)))
            })
            .map(|t| t.data)
    };
    let input = match having {
        Some(f) => Arc::new(LogicalPlan::Filter(Filter::try_new(
            replace(&f.predicate)?,
            aggregate,
        )?)),
        None => aggregate,
    };
    let preserver = NamePreserver::new(&node);
    let mut exprs = Vec::new();
    for e in &projection.expr {
        let saved = preserver.save(e);
        exprs.push(saved.restore(replace(e)?));
    }
    Ok(Transformed::yes(LogicalPlan::Projection(
        Projection::try_new(exprs, input)?,
    )))
}

/// The subquery `plan` with its aggregate nodes giving the moved
/// aggregates (`references`: each with the outer reference that replaces
/// it) under their output names.
fn without_moved(plan: LogicalPlan, references: &[(Expr, Expr)]) -> DfResult<LogicalPlan> {
    plan.transform_up(|n| {
        let reference = |e: &Expr| {
            references
                .iter()
                .find(|(from, _)| from == e)
                .map(|(_, to)| to.clone())
        };
        // A filter reads the moved aggregate (`WHERE q.x = max(p.id)`).
        if let LogicalPlan::Filter(f) = &n {
            let predicate = f
                .predicate
                .clone()
                .transform_down(|x| match reference(&x) {
                    Some(outer) => Ok(Transformed::new(outer, true, TreeNodeRecursion::Jump)),
                    None => Ok(Transformed::no(x)),
                })?;
            if !predicate.transformed {
                return Ok(Transformed::no(n));
            }
            return Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                predicate.data,
                f.input.clone(),
            )?)));
        }
        let LogicalPlan::Aggregate(a) = &n else {
            return Ok(Transformed::no(n));
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
