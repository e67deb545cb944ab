//! Lateral top-k: the per-group top-k that Materialize documents as
//! idiomatic,
//!
//! ```sql
//! SELECT g.k, x.* FROM (SELECT DISTINCT k FROM t) g,
//!   LATERAL (SELECT v FROM t WHERE t.k = g.k ORDER BY v DESC LIMIT 3) x
//! ```
//!
//! DataFusion does not decorrelate a subquery with a `LIMIT`. [`rewrite`]
//! does, before the analyzer runs: the correlated equalities
//! (`inner_expr = outer_column`) leave the subquery and become the keys of
//! a `row_number() OVER (PARTITION BY inner_expr ORDER BY ...)` that keeps
//! the first `LIMIT` rows after `OFFSET` of each key, and the lateral join
//! becomes an ordinary join on `outer_column = inner_expr` (an inner join,
//! or a left join for `LEFT JOIN LATERAL ... ON ...`). The window is
//! maintained per key like any other, so a view over it is incremental.
//!
//! The subquery must be a chain of projections, filters and aliases with
//! one `LIMIT` (and its `ORDER BY`), whose only references to the outer
//! query are equalities in filters below the `LIMIT`; anything else is
//! left as it is (and refused later with 0A000 if nothing else handles it).

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{Column, ScalarValue, TableReference};
use datafusion_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion_expr::logical_plan::{FetchType, Join, JoinType, SkipType};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{
    BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator, SortExpr, WindowFrame,
    WindowFunctionDefinition, col, lit,
};

use super::PlanError;

/// The name of the `i`-th key column a rewritten subquery exposes.
fn key_name(i: usize) -> String {
    format!("__lateral_key_{i}")
}

/// The row number column of a rewritten subquery.
const ROW_NUMBER: &str = "__lateral_row_number";

/// Rewrites every lateral join of `plan` whose subquery is a top-k over
/// correlated equalities into an uncorrelated join (see the module docs).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|p| match &p {
        LogicalPlan::Join(j) => match rewrite_join(j) {
            Ok(Some(new)) => Ok(Transformed::yes(new)),
            Ok(None) => Ok(Transformed::no(p)),
            Err(e) => Err(datafusion_common::DataFusionError::External(Box::new(e))),
        },
        _ => Ok(Transformed::no(p)),
    })
    .map(|t| t.data)
    .map_err(|e| match e {
        datafusion_common::DataFusionError::External(inner) => {
            match inner.downcast::<PlanError>() {
                Ok(pe) => *pe,
                Err(other) => PlanError::Internal(other.to_string()),
            }
        }
        other => PlanError::from_datafusion(other),
    })
}

/// A node of the subquery's chain, top to bottom.
enum Link<'a> {
    Projection(&'a datafusion_expr::logical_plan::Projection),
    Filter(&'a datafusion_expr::logical_plan::Filter),
    Alias(&'a TableReference),
    /// `LIMIT` (with the `ORDER BY` under it, if any).
    TopK {
        skip: usize,
        fetch: Option<usize>,
        order_by: Vec<SortExpr>,
    },
}

fn rewrite_join(j: &Join) -> Result<Option<LogicalPlan>, PlanError> {
    let join_type = match j.join_type {
        JoinType::Inner | JoinType::Left => j.join_type,
        _ => return Ok(None),
    };
    // `SubqueryAlias(Subquery(chain))`.
    let (alias, mut plan) = match j.right.as_ref() {
        LogicalPlan::SubqueryAlias(a) => match a.input.as_ref() {
            LogicalPlan::Subquery(s) if !s.outer_ref_columns.is_empty() => {
                (a.alias.clone(), s.subquery.as_ref())
            }
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    // Walk the chain down to the first node that reads no outer column.
    let mut links = Vec::new();
    let mut seen_limit = false;
    while has_outer(plan) {
        match plan {
            LogicalPlan::Projection(p) => {
                if p.expr.iter().any(Expr::contains_outer) {
                    return Ok(None);
                }
                links.push(Link::Projection(p));
                plan = &p.input;
            }
            LogicalPlan::Filter(f) => {
                // Correlated filters must be under the LIMIT: above it they
                // would filter the whole input's top k, not each key's.
                if !seen_limit && f.predicate.contains_outer() {
                    return Ok(None);
                }
                links.push(Link::Filter(f));
                plan = &f.input;
            }
            LogicalPlan::SubqueryAlias(a) => {
                links.push(Link::Alias(&a.alias));
                plan = &a.input;
            }
            LogicalPlan::Limit(l) if !seen_limit => {
                seen_limit = true;
                let skip = match l.get_skip_type() {
                    Ok(SkipType::Literal(n)) => n,
                    _ => return Ok(None),
                };
                let fetch = match l.get_fetch_type() {
                    Ok(FetchType::Literal(n)) => n,
                    _ => return Ok(None),
                };
                // The ORDER BY may sit under projections (of the columns
                // it sorts by); the top-k is then taken at the sort, which
                // the projections above do not change.
                let mut below = l.input.as_ref();
                let mut projections = Vec::new();
                while let LogicalPlan::Projection(p) = below {
                    projections.push(p);
                    below = &p.input;
                }
                let (order_by, below) = match below {
                    LogicalPlan::Sort(s) if s.fetch.is_none() => {
                        for p in projections {
                            if p.expr.iter().any(Expr::contains_outer) {
                                return Ok(None);
                            }
                            links.push(Link::Projection(p));
                        }
                        (s.expr.clone(), s.input.as_ref())
                    }
                    _ => (Vec::new(), l.input.as_ref()),
                };
                if order_by.iter().any(|s| s.expr.contains_outer()) {
                    return Ok(None);
                }
                links.push(Link::TopK {
                    skip,
                    fetch,
                    order_by,
                });
                plan = below;
            }
            _ => return Ok(None),
        }
    }
    if !seen_limit {
        return Ok(None);
    }
    // Rebuild bottom-up, carrying the keys (`inner_expr` of each correlated
    // equality) as extra columns.
    let mut keys: Vec<Expr> = Vec::new();
    // The outer side of each key's equality, outer references turned into
    // plain columns of the join's left side.
    let mut outer_sides: Vec<Expr> = Vec::new();
    let mut built = LogicalPlanBuilder::from(plan.clone());
    for link in links.iter().rev() {
        built = match link {
            Link::Filter(f) => {
                let mut kept = Vec::new();
                let mut new_keys = Vec::new();
                for conjunct in split_conjunction(&f.predicate) {
                    if !conjunct.contains_outer() {
                        kept.push(conjunct.clone());
                        continue;
                    }
                    let Some((inner, outer)) = correlated_equality(conjunct) else {
                        return Ok(None);
                    };
                    new_keys.push(inner);
                    outer_sides.push(outer);
                }
                if let Some(p) = conjunction(kept) {
                    built = built.filter(p).map_err(PlanError::from_datafusion)?;
                }
                if new_keys.is_empty() {
                    built
                } else {
                    let mut exprs: Vec<Expr> = columns(&built);
                    for inner in new_keys {
                        exprs.push(inner.alias(key_name(keys.len())));
                        keys.push(col(key_name(keys.len())));
                    }
                    built.project(exprs).map_err(PlanError::from_datafusion)?
                }
            }
            Link::Projection(p) => {
                let mut exprs = p.expr.clone();
                exprs.extend(keys.iter().cloned());
                built.project(exprs).map_err(PlanError::from_datafusion)?
            }
            Link::Alias(a) => built
                .alias((*a).clone())
                .map_err(PlanError::from_datafusion)?,
            Link::TopK {
                skip,
                fetch,
                order_by,
            } => {
                if keys.is_empty() {
                    // The LIMIT is above every correlated filter.
                    return Ok(None);
                }
                let before = columns(&built);
                let row_number = Expr::WindowFunction(Box::new(WindowFunction {
                    fun: WindowFunctionDefinition::WindowUDF(row_number_udf()?),
                    params: WindowFunctionParams {
                        args: vec![],
                        partition_by: keys.clone(),
                        order_by: order_by.clone(),
                        window_frame: WindowFrame::new(if order_by.is_empty() {
                            None
                        } else {
                            Some(false)
                        }),
                        filter: None,
                        null_treatment: None,
                        distinct: false,
                    },
                }))
                .alias(ROW_NUMBER);
                let mut kept = col(ROW_NUMBER).gt(lit(ScalarValue::Int64(Some(*skip as i64))));
                if let Some(n) = fetch {
                    let last = skip.saturating_add(*n).min(i64::MAX as usize) as i64;
                    kept = kept.and(col(ROW_NUMBER).lt_eq(lit(ScalarValue::Int64(Some(last)))));
                }
                built
                    .window(vec![row_number])
                    .and_then(|b| b.filter(kept))
                    .and_then(|b| b.project(before))
                    .map_err(PlanError::from_datafusion)?
            }
        };
    }
    let right = built
        .alias(alias.clone())
        .and_then(|b| b.build())
        .map_err(PlanError::from_datafusion)?;
    // The join: the original condition and `outer_side = alias.key`.
    let mut on: Vec<Expr> = j.on.iter().map(|(l, r)| l.clone().eq(r.clone())).collect();
    on.extend(j.filter.iter().cloned());
    for (i, outer) in outer_sides.into_iter().enumerate() {
        on.push(outer.eq(Expr::Column(Column::new(Some(alias.clone()), key_name(i)))));
    }
    // Back to the original join's columns (without the keys).
    let output: Vec<Expr> = j
        .schema
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    LogicalPlanBuilder::from(j.left.as_ref().clone())
        .join_on(right, join_type, on)
        .and_then(|b| b.project(output))
        .and_then(|b| b.build())
        .map(Some)
        .map_err(PlanError::from_datafusion)
}

/// The columns of a plan being built, as expressions.
fn columns(b: &LogicalPlanBuilder) -> Vec<Expr> {
    b.schema().columns().into_iter().map(Expr::Column).collect()
}

/// Whether a plan (its nodes' expressions) references an outer query.
fn has_outer(plan: &LogicalPlan) -> bool {
    plan.exists(|p| Ok(p.expressions().iter().any(Expr::contains_outer)))
        .unwrap_or(true)
}

/// `inner = outer` (either way round), where `outer` reads only outer
/// columns and `inner` none: `(inner, outer with plain columns)`.
fn correlated_equality(e: &Expr) -> Option<(Expr, Expr)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = e
    else {
        return None;
    };
    let only_outer = |x: &Expr| {
        x.contains_outer()
            && !x
                .exists(|y| Ok(matches!(y, Expr::Column(_))))
                .unwrap_or(true)
    };
    let (inner, outer) = if only_outer(right) && !left.contains_outer() {
        (left, right)
    } else if only_outer(left) && !right.contains_outer() {
        (right, left)
    } else {
        return None;
    };
    let outer = outer
        .as_ref()
        .clone()
        .transform(|x| {
            Ok(match x {
                Expr::OuterReferenceColumn(_, c) => Transformed::yes(Expr::Column(c)),
                other => Transformed::no(other),
            })
        })
        .ok()?
        .data;
    Some((inner.as_ref().clone(), outer))
}

/// The planner's `row_number` window function.
fn row_number_udf() -> Result<Arc<datafusion_expr::WindowUDF>, PlanError> {
    super::window_funcs::window_functions()
        .remove("row_number")
        .ok_or_else(|| PlanError::Internal("row_number is not registered".into()))
}
