//! Aggregated scalar subqueries correlated by other conditions than
//! equalities:
//!
//! ```sql
//! SELECT o.x, (SELECT max(y) FROM w WHERE w.y < o.x) FROM o
//! ```
//!
//! DataFusion decorrelates an aggregated subquery only when every
//! condition that mentions the outer row is `inner column = outer
//! expression`: it then groups the aggregate by those inner columns and
//! left-joins the groups to the outer rows. Any other correlation (`<`,
//! `<>`, arithmetic of both sides) is refused, and such a query used to
//! fail with `0A000`.
//!
//! [`rewrite`] turns such a subquery into one DataFusion can decorrelate,
//! with the *domain* of the outer columns it reads (the classic
//! decorrelation of Neumann and Kemper): `D` is the distinct values of
//! those outer columns, taken from the outer plan; the subquery's
//! correlated filter is applied to the cross product of its input with
//! `D`, with the outer columns replaced by `D`'s; and an equality between
//! each `D` column and its outer column is added to the filter:
//!
//! ```text
//! (SELECT max(y) FROM w, (SELECT DISTINCT o.x AS d0 FROM o) D
//!   WHERE w.y < D.d0 AND D.d0 = outer(o.x))
//! ```
//!
//! For each outer row, the rows of the filter that match it (`d0 = o.x`)
//! are exactly those the original subquery filters, so the aggregate over
//! them is the same value, and DataFusion's own decorrelation (including
//! its handling of `count` over no rows) does the rest. The product with
//! `D` is a join on no key: it is maintained incrementally like any other
//! join, at the cost of comparing the inner rows with every distinct outer
//! value.
//!
//! An outer row whose column is NULL matches no `D` row through `=`, so it
//! would see the subquery over no rows. That is the original subquery's
//! answer when its filter cannot hold for a NULL outer value: when the
//! column appears in a comparison of plain expressions (columns, constants,
//! casts, arithmetic), which is NULL, and so rejects the row, when the
//! column is NULL. For any other outer column, the domain also carries the
//! value with NULL read as a default of its type and whether it is NULL,
//! and the outer row is matched by both (two equalities DataFusion can
//! decorrelate), so a NULL finds the domain's NULL row. Subqueries whose
//! correlated filter is under a `LIMIT`, an `ORDER BY`, a `DISTINCT` or a
//! second aggregation (where a product with `D` would change the answer),
//! or that read a query further out, stay `0A000`.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, ExprSchema, Result as DfResult, ScalarValue};
use datafusion_expr::expr::BinaryExpr;
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Filter, Subquery};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Operator, col, lit, when};

use super::PlanError;
use super::outer_levels::has_subquery;

/// The prefix of the domain's column names.
const DOMAIN_PREFIX: &str = "__freshet_domain";

/// Rewrites the aggregated scalar subqueries of `plan` that are correlated
/// by other conditions than equalities (see the module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    rewrite_subquery_exprs(plan, rewrite_expr)
}

/// Applies `rewrite_expr` bottom-up to every expression of the projections
/// and filters of `plan` (subqueries included), with the node's input as the
/// plan outer columns resolve against and a counter for fresh names; the
/// expressions keep their output names.
pub(super) fn rewrite_subquery_exprs(
    plan: LogicalPlan,
    mut rewrite_expr: impl FnMut(Expr, &LogicalPlan, &mut usize) -> DfResult<Transformed<Expr>>,
) -> Result<LogicalPlan, PlanError> {
    let mut names = 0usize;
    plan.transform_up_with_subqueries(|node| {
        // Outer columns resolve against the node's one input.
        let [input] = node.inputs()[..] else {
            return Ok(Transformed::no(node));
        };
        if !matches!(node, LogicalPlan::Projection(_) | LogicalPlan::Filter(_)) {
            return Ok(Transformed::no(node));
        }
        let input = input.clone();
        let preserver = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = preserver.save(&e);
            e.transform_up(|e| rewrite_expr(e, &input, &mut names))
                .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

fn rewrite_expr(e: Expr, outer: &LogicalPlan, names: &mut usize) -> DfResult<Transformed<Expr>> {
    let Expr::ScalarSubquery(sq) = &e else {
        return Ok(Transformed::no(e));
    };
    if sq.outer_ref_columns.is_empty() {
        return Ok(Transformed::no(e));
    }
    let merged = merge_correlation_filters(sq.subquery.as_ref().clone())?;
    let Some(plan) = with_domain(&merged, outer, names)? else {
        return Ok(Transformed::no(e));
    };
    Ok(Transformed::yes(Expr::ScalarSubquery(Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns: sq.outer_ref_columns.clone(),
        spans: sq.spans.clone(),
    })))
}

/// The subquery `plan` with the domain of its outer columns, or `None`
/// where it does not need one or the rewrite does not apply.
fn with_domain(
    plan: &LogicalPlan,
    outer: &LogicalPlan,
    names: &mut usize,
) -> DfResult<Option<LogicalPlan>> {
    let Some(filter) = correlated_filter(plan) else {
        return Ok(None);
    };
    let conjuncts: Vec<Expr> = split_conjunction(&filter.predicate)
        .into_iter()
        .cloned()
        .collect();
    // Equalities DataFusion pulls up itself need no domain.
    if conjuncts
        .iter()
        .filter(|c| c.contains_outer())
        .all(is_pullable_equality)
    {
        return Ok(None);
    }
    let mut outer_columns: Vec<Column> = Vec::new();
    for c in &conjuncts {
        c.apply(|e| {
            if let Expr::OuterReferenceColumn(_, column) = e
                && !outer_columns.contains(column)
            {
                outer_columns.push(column.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    // Columns of a query further out: left to fail as before.
    if outer_columns.iter().any(|c| !outer.schema().has_column(c)) {
        return Ok(None);
    }
    let null_safe: Vec<bool> = outer_columns
        .iter()
        .map(|c| !rejects_null(&conjuncts, c))
        .collect();
    let Some(Domain {
        plan: mut domain,
        names: domain_names,
        mut predicate,
    }) = outer_domain(outer, &outer_columns, conjuncts, DOMAIN_PREFIX, names)?
    else {
        return Ok(None);
    };
    let outer_field = |c: &Column| outer.schema().field_from_column(c).cloned();
    let mut keys = Vec::new();
    for ((c, name), null_safe) in outer_columns.iter().zip(&domain_names).zip(null_safe) {
        let field = outer_field(c)?;
        let outer_value = Expr::OuterReferenceColumn(field.clone(), c.clone());
        if !null_safe {
            predicate.push(col(Column::from_name(name)).eq(outer_value));
            continue;
        }
        // A NULL outer value must find the domain's NULL row: the row is
        // matched by the value with NULL read as a default of its type, and
        // by whether it is NULL.
        let Ok(default) = ScalarValue::new_default(field.data_type()) else {
            return Ok(None);
        };
        let key = |e: Expr| when(e.clone().is_null(), lit(default.clone())).otherwise(e);
        *names += 1;
        let (value_name, null_name) = (
            format!("{DOMAIN_PREFIX}{names}_v"),
            format!("{DOMAIN_PREFIX}{names}_n"),
        );
        keys.push(key(col(Column::from_name(name)))?.alias(&value_name));
        keys.push(col(Column::from_name(name)).is_null().alias(&null_name));
        predicate.push(col(Column::from_name(&value_name)).eq(key(outer_value.clone())?));
        predicate.push(col(Column::from_name(&null_name)).eq(outer_value.is_null()));
    }
    if !keys.is_empty() {
        let columns = domain_names.iter().map(|n| col(Column::from_name(n)));
        domain = LogicalPlanBuilder::from(domain)
            .project(columns.chain(keys))?
            .build()?;
    }
    let Some(predicate) = conjunction(predicate) else {
        return Ok(None);
    };
    let target = filter.clone();
    let replaced = plan
        .clone()
        .transform_up(|node| {
            if let LogicalPlan::Filter(f) = &node
                && *f == target
            {
                let joined = LogicalPlanBuilder::from(f.input.as_ref().clone())
                    .cross_join(domain.clone())?
                    .filter(predicate.clone())?
                    .build()?;
                return Ok(Transformed::yes(joined));
            }
            // The nodes above the filter see its wider rows.
            if node.inputs().iter().any(|_| true) {
                return Ok(Transformed::yes(node.recompute_schema()?));
            }
            Ok(Transformed::no(node))
        })?
        .data;
    Ok(Some(replaced))
}

/// `plan` with a correlated filter directly over a filter whose
/// correlation is only equalities DataFusion pulls up (as `outer_levels`
/// adds under a middle subquery) made one filter, so that the correlation
/// is in one place for [`correlated_filter`]. The lower conditions come
/// first; they are equalities of columns and outer values, which cannot
/// fail.
fn merge_correlation_filters(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    plan.transform_up(|node| {
        let LogicalPlan::Filter(upper) = &node else {
            return Ok(Transformed::no(node));
        };
        let LogicalPlan::Filter(lower) = upper.input.as_ref() else {
            return Ok(Transformed::no(node));
        };
        let lower_outer: Vec<&Expr> = split_conjunction(&lower.predicate)
            .into_iter()
            .filter(|c| c.contains_outer())
            .collect();
        let merge = upper.predicate.contains_outer()
            && !lower_outer.is_empty()
            && split_conjunction(&lower.predicate)
                .into_iter()
                .all(|c| is_pullable_equality(c) && !has_subquery(c));
        if !merge {
            return Ok(Transformed::no(node));
        }
        let predicate = lower.predicate.clone().and(upper.predicate.clone());
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
            predicate,
            lower.input.clone(),
        )?)))
    })
    .map(|t| t.data)
}

/// The one filter of a scalar subquery that mentions the outer row, when
/// the subquery is an aggregate without `GROUP BY` over per-row steps
/// (projections, aliases, filters) down to that filter, and nothing else
/// mentions the outer row.
fn correlated_filter(plan: &LogicalPlan) -> Option<&Filter> {
    let mut node = plan;
    // Above the aggregate.
    loop {
        match node {
            LogicalPlan::Projection(p) if !exprs_mention_outer(node) => node = p.input.as_ref(),
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            LogicalPlan::Aggregate(a) if a.group_expr.is_empty() && !exprs_mention_outer(node) => {
                node = a.input.as_ref();
                break;
            }
            _ => return None,
        }
    }
    // Below it, down to the correlated filter.
    loop {
        match node {
            LogicalPlan::Projection(p) if !exprs_mention_outer(node) => node = p.input.as_ref(),
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            LogicalPlan::Filter(f) if f.predicate.contains_outer() => {
                return (!mentions_outer(f.input.as_ref())).then_some(f);
            }
            LogicalPlan::Filter(f) => node = f.input.as_ref(),
            _ => return None,
        }
    }
}

/// Whether the expressions of `node` itself mention the outer row.
fn exprs_mention_outer(node: &LogicalPlan) -> bool {
    node.expressions().iter().any(|e| e.contains_outer())
}

/// Whether anything in `plan` mentions an outer row.
pub(super) fn mentions_outer(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|n| {
        found |= exprs_mention_outer(n);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// `inner column = outer expression` (either way round), which DataFusion
/// moves out of an aggregated subquery itself.
fn is_pullable_equality(e: &Expr) -> bool {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = e
    else {
        return false;
    };
    let inner_column = |x: &Expr| match x {
        Expr::Column(_) => true,
        Expr::Cast(c) => matches!(c.expr.as_ref(), Expr::Column(_)),
        _ => false,
    };
    let outer_only = |x: &Expr| !x.any_column_refs() && x.contains_outer();
    (inner_column(left) && outer_only(right)) || (inner_column(right) && outer_only(left))
}

/// The domain of a correlated filter's outer columns: their distinct values
/// in `outer`, as columns named `{prefix}{n}` with fresh numbers.
pub(super) struct Domain {
    /// The distinct outer values.
    pub plan: LogicalPlan,
    /// The names of its columns, one per outer column.
    pub names: Vec<String>,
    /// The filter's conjuncts with each outer reference read from the
    /// domain's column instead.
    pub predicate: Vec<Expr>,
}

/// Builds the [`Domain`] of `outer_columns` for `conjuncts`, or `None` when
/// `outer` reads a query further out other than through conditions that
/// can be left out of the domain (see [`super::outer_levels::uncorrelated`]).
pub(super) fn outer_domain(
    outer: &LogicalPlan,
    outer_columns: &[Column],
    conjuncts: Vec<Expr>,
    prefix: &str,
    names: &mut usize,
) -> DfResult<Option<Domain>> {
    // `outer` may be a middle subquery correlated with a query further out
    // (its rows restricted by `outer_ref(..)` conditions): the domain is
    // taken from its rows without those conditions, a superset.
    let Some(source) = super::outer_levels::uncorrelated(outer)? else {
        return Ok(None);
    };
    let domain_names: Vec<String> = outer_columns
        .iter()
        .map(|_| {
            *names += 1;
            format!("{prefix}{names}")
        })
        .collect();
    let plan = LogicalPlanBuilder::from(source)
        .project(
            outer_columns
                .iter()
                .zip(&domain_names)
                .map(|(c, name)| Expr::Column(c.clone()).alias(name)),
        )?
        .distinct()?
        .build()?;
    let predicate = conjuncts
        .into_iter()
        .map(|c| {
            c.transform_up(|e| match &e {
                Expr::OuterReferenceColumn(_, column) => {
                    let i = outer_columns.iter().position(|c| c == column);
                    Ok(match i {
                        Some(i) => Transformed::yes(col(Column::from_name(&domain_names[i]))),
                        None => Transformed::no(e),
                    })
                }
                _ => Ok(Transformed::no(e)),
            })
            .map(|t| t.data)
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Some(Domain {
        plan,
        names: domain_names,
        predicate,
    }))
}

/// Whether some conjunct is never true when the outer column `c` is NULL:
/// a comparison (or `BETWEEN`) whose operands are built only of columns,
/// constants, casts and arithmetic, one of which reads `c`.
pub(super) fn rejects_null(conjuncts: &[Expr], c: &Column) -> bool {
    conjuncts.iter().any(|conjunct| {
        // `x BETWEEN a AND b` is `x >= a AND x <= b`, never true when one of
        // them is NULL; `NOT BETWEEN` is an `OR`, NULL only through `x`.
        if let Expr::Between(b) = conjunct {
            let operands = [&b.expr, &b.low, &b.high];
            return operands.iter().all(|e| is_strict(e))
                && match b.negated {
                    false => operands.iter().any(|e| reads(e, c)),
                    true => reads(&b.expr, c),
                };
        }
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = conjunct else {
            return false;
        };
        super::scalar_subquery::is_comparison(*op)
            && is_strict(left)
            && is_strict(right)
            && (reads(left, c) || reads(right, c))
    })
}

/// Whether `e` is NULL whenever any column it reads is NULL.
fn is_strict(e: &Expr) -> bool {
    match e {
        Expr::Column(_) | Expr::OuterReferenceColumn(..) | Expr::Literal(..) => true,
        Expr::Cast(c) => is_strict(&c.expr),
        Expr::Negative(x) => is_strict(x),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            matches!(
                op,
                Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
                    | Operator::Divide
                    | Operator::Modulo
            ) && is_strict(left)
                && is_strict(right)
        }
        _ => false,
    }
}

/// Whether `e` reads the outer column `c`.
fn reads(e: &Expr, c: &Column) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        if let Expr::OuterReferenceColumn(_, column) = x
            && column == c
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}
