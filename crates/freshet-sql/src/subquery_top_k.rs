//! Correlated subqueries with a `LIMIT` (and `OFFSET`), the "latest value
//! before" pattern:
//!
//! ```sql
//! SELECT o.id, (SELECT p.price FROM prices p
//!   WHERE p.item = o.item AND p.ts <= o.ts ORDER BY p.ts DESC LIMIT 1) FROM orders o
//! ```
//!
//! and the same under `EXISTS`, `IN` or `op ANY | SOME | ALL`. DataFusion decorrelates no
//! subquery with a `LIMIT`. [`rewrite`] does it with the *domain* of the
//! outer columns the subquery reads, as `subquery_domain` does for
//! aggregates: `D` is the distinct values of those outer columns, taken
//! from the outer plan; the correlated filter is applied to the product of
//! its input with `D`, the outer columns replaced by `D`'s; the `LIMIT`
//! becomes a `row_number() OVER (PARTITION BY D ORDER BY ...)` that keeps
//! the rows after `OFFSET` up to the limit of each `D` row, as the lateral
//! top-k does (`lateral_top_k`); and the subquery reads the rows of its
//! outer row's `D` through an equality, which DataFusion decorrelates:
//!
//! ```text
//! (SELECT single_value(price) FROM
//!    (SELECT price, d0, d1, row_number() OVER (PARTITION BY d0, d1 ORDER BY ts DESC) AS rn
//!     FROM prices p, (SELECT DISTINCT item AS d0, ts AS d1 FROM orders) D
//!     WHERE p.item = D.d0 AND p.ts <= D.d1) T
//!  WHERE rn = 1 AND T.d0 = outer(o.item) AND T.d1 = outer(o.ts))
//! ```
//!
//! A scalar subquery with `LIMIT 1` has at most one row per `D` row, so it
//! becomes that aggregate (`single_value` is read only for one row); one
//! with a larger limit stays a plain correlated subquery, which
//! `scalar_subquery` turns into a row count and a value (and fails, as
//! PostgreSQL does, for an outer row that sees several rows). `EXISTS`,
//! `IN`, `ANY` and `ALL` keep their subquery, now correlated by equalities
//! only (`subquery_predicates` counts its rows where DataFusion makes no
//! join of it).
//!
//! The optimizer turns the equalities of the correlated filter into join
//! keys of the product, so `p.item = o.item` costs an equi-join, not a
//! product. The window is maintained per `D` row, so a view over such a
//! query is incremental.
//!
//! An outer row whose column is NULL matches no `D` row through `=`, so it
//! sees the subquery over no rows: right when the correlated filter cannot
//! hold for a NULL outer value (see `subquery_domain::rejects_null`). For
//! any other outer column (one the select list reads, which
//! `subquery_outer_refs` turned into null-safe equalities with its own
//! domain), the domain also carries the value with NULL read as a default
//! of its type and whether it is NULL, and the outer row is matched by both,
//! as `subquery_domain` does. The subquery must be a chain of
//! projections, aliases and filters with one `LIMIT` (its `ORDER BY` under
//! it), whose only reference to the outer query is one filter under the
//! `LIMIT`; anything else is left as it is (and refused later with `0A000`
//! if nothing else handles it).

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, ExprSchema, Result as DfResult, ScalarValue, TableReference};
use datafusion_expr::expr::{
    Exists, InSubquery, SetComparison, WindowFunction, WindowFunctionParams,
};
use datafusion_expr::logical_plan::{FetchType, Filter, SkipType, Subquery};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, SortExpr, WindowFrame, WindowFunctionDefinition, col,
    lit, when,
};

use super::PlanError;
use super::outer_levels::has_subquery;

/// The prefix of the domain's column names.
const DOMAIN_PREFIX: &str = "__freshet_topk_domain";

/// The row number column of a rewritten subquery.
const ROW_NUMBER: &str = "__freshet_topk_row_number";

/// Rewrites the correlated subqueries with a `LIMIT` of `plan` (see the
/// module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    super::subquery_domain::rewrite_subquery_exprs(plan, rewrite_expr)
}

fn rewrite_expr(e: Expr, outer: &LogicalPlan, names: &mut usize) -> DfResult<Transformed<Expr>> {
    let (sq, kind) = match &e {
        Expr::ScalarSubquery(sq) => (sq, Kind::Scalar),
        Expr::Exists(x) => (&x.subquery, Kind::Rows),
        Expr::InSubquery(x) => (&x.subquery, Kind::Rows),
        Expr::SetComparison(x) => (&x.subquery, Kind::Rows),
        _ => return Ok(Transformed::no(e)),
    };
    if sq.outer_ref_columns.is_empty() {
        return Ok(Transformed::no(e));
    }
    let Some(plan) = decorrelate(sq.subquery.as_ref(), outer, kind, names)? else {
        return Ok(Transformed::no(e));
    };
    let subquery = Subquery {
        outer_ref_columns: plan.all_out_ref_exprs(),
        subquery: Arc::new(plan),
        spans: sq.spans.clone(),
    };
    Ok(Transformed::yes(match e {
        Expr::ScalarSubquery(_) => Expr::ScalarSubquery(subquery),
        Expr::Exists(x) => Expr::Exists(Exists::new(subquery, x.negated)),
        Expr::InSubquery(x) => Expr::InSubquery(InSubquery::new(x.expr, subquery, x.negated)),
        Expr::SetComparison(x) => Expr::SetComparison(SetComparison { subquery, ..x }),
        other => other,
    }))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// A scalar subquery: one row at most.
    Scalar,
    /// `EXISTS` or `IN`: any number of rows.
    Rows,
}

/// A node of the subquery's chain, top to bottom.
enum Link {
    Projection(Vec<Expr>),
    Filter(Expr),
    Alias(TableReference),
    /// `LIMIT` (with the `ORDER BY` under it, if any).
    TopK {
        skip: usize,
        fetch: Option<usize>,
        order_by: Vec<SortExpr>,
    },
}

/// The subquery `plan` decorrelated through the domain of its outer
/// columns, or `None` where the rewrite does not apply.
fn decorrelate(
    plan: &LogicalPlan,
    outer: &LogicalPlan,
    kind: Kind,
    names: &mut usize,
) -> DfResult<Option<LogicalPlan>> {
    let Some((links, filter)) = chain(plan) else {
        return Ok(None);
    };
    let conjuncts: Vec<Expr> = split_conjunction(&filter.predicate)
        .into_iter()
        .cloned()
        .collect();
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
    if outer_columns.is_empty() || outer_columns.iter().any(|c| !outer.schema().has_column(c)) {
        return Ok(None);
    }
    let null_safe: Vec<bool> = outer_columns
        .iter()
        .map(|c| !super::subquery_domain::rejects_null(&conjuncts, c))
        .collect();
    let Some(super::subquery_domain::Domain {
        plan: mut domain,
        names: domain_names,
        predicate,
    }) = super::subquery_domain::outer_domain(
        outer,
        &outer_columns,
        conjuncts,
        DOMAIN_PREFIX,
        names,
    )?
    else {
        return Ok(None);
    };
    let mut keys: Vec<Expr> = domain_names
        .iter()
        .map(|n| col(Column::from_name(n)))
        .collect();
    // Each outer row is matched with its `D` row: by `=` where the filter
    // rejects a NULL outer value anyway (such a row sees no rows, as it
    // finds no `D` row); otherwise by the value with NULL read as a default
    // of its type and by whether it is NULL, two equalities DataFusion
    // decorrelates, so that a NULL finds the domain's NULL row.
    let mut correlation = Vec::new();
    let mut null_keys = Vec::new();
    for ((c, name), null_safe) in outer_columns.iter().zip(&domain_names).zip(null_safe) {
        let field = outer.schema().field_from_column(c).cloned()?;
        let outer_value = Expr::OuterReferenceColumn(field.clone(), c.clone());
        let domain_value = col(Column::from_name(name));
        if !null_safe {
            correlation.push(domain_value.eq(outer_value));
            continue;
        }
        let Ok(default) = ScalarValue::new_default(field.data_type()) else {
            return Ok(None);
        };
        let key = |e: Expr| when(e.clone().is_null(), lit(default.clone())).otherwise(e);
        *names += 1;
        let (value_name, null_name) = (
            format!("{DOMAIN_PREFIX}{names}_v"),
            format!("{DOMAIN_PREFIX}{names}_n"),
        );
        null_keys.push(key(domain_value.clone())?.alias(&value_name));
        null_keys.push(domain_value.is_null().alias(&null_name));
        correlation.push(col(Column::from_name(&value_name)).eq(key(outer_value.clone())?));
        correlation.push(col(Column::from_name(&null_name)).eq(outer_value.is_null()));
    }
    if !null_keys.is_empty() {
        let added: Vec<Expr> = null_keys
            .iter()
            .map(|k| col(Column::from_name(k.schema_name().to_string())))
            .collect();
        domain = LogicalPlanBuilder::from(domain)
            .project(keys.iter().cloned().chain(null_keys))?
            .build()?;
        keys.extend(added);
    }
    let Some(predicate) = conjunction(predicate) else {
        return Ok(None);
    };
    // Rebuild bottom-up, carrying the domain's columns.
    let mut built = LogicalPlanBuilder::from(filter.input.as_ref().clone())
        .cross_join(domain)?
        .filter(predicate)?;
    let mut single_row = false;
    for link in links.iter().rev() {
        built = match link {
            Link::Projection(exprs) => {
                let mut exprs = exprs.clone();
                exprs.extend(keys.iter().cloned());
                built.project(exprs)?
            }
            Link::Filter(p) => built.filter(p.clone())?,
            Link::Alias(a) => built.alias(a.clone())?,
            Link::TopK {
                skip,
                fetch,
                order_by,
            } => {
                single_row = *fetch == Some(1) || *fetch == Some(0);
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
                    .window(vec![row_number])?
                    .filter(kept)?
                    .project(before)?
            }
        };
    }
    // The rows of the outer row's domain value, with the original columns.
    let output: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    let Some(correlation) = conjunction(correlation) else {
        return Ok(None);
    };
    built = built.filter(correlation)?.project(output)?;
    if kind == Kind::Scalar && single_row {
        let [(qualifier, field)] = plan.schema().iter().collect::<Vec<_>>()[..] else {
            return Ok(None);
        };
        let value = Expr::Column(Column::new(qualifier.cloned(), field.name()));
        built = built.aggregate(
            Vec::<Expr>::new(),
            vec![
                super::scalar_subquery::single_value()
                    .call(vec![value])
                    .alias(field.name()),
            ],
        )?;
    }
    built.build().map(Some)
}

/// The links of a subquery down to its correlated filter, when it is a
/// chain of projections, aliases and filters with one `LIMIT`, the outer
/// query read only by one filter under the `LIMIT` (nothing under that
/// filter reads it).
fn chain(plan: &LogicalPlan) -> Option<(Vec<Link>, &Filter)> {
    let mut links = Vec::new();
    let mut seen_limit = false;
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Projection(p) => {
                if p.expr.iter().any(Expr::contains_outer) {
                    return None;
                }
                links.push(Link::Projection(p.expr.clone()));
                node = &p.input;
            }
            LogicalPlan::SubqueryAlias(a) => {
                links.push(Link::Alias(a.alias.clone()));
                node = &a.input;
            }
            LogicalPlan::Filter(f) if f.predicate.contains_outer() => {
                if !seen_limit || mentions_outer(&f.input) {
                    return None;
                }
                return Some((links, f));
            }
            LogicalPlan::Filter(f) => {
                if has_subquery(&f.predicate) {
                    return None;
                }
                links.push(Link::Filter(f.predicate.clone()));
                node = &f.input;
            }
            LogicalPlan::Limit(l) if !seen_limit => {
                seen_limit = true;
                let skip = match l.get_skip_type() {
                    Ok(SkipType::Literal(n)) => n,
                    _ => return None,
                };
                let fetch = match l.get_fetch_type() {
                    Ok(FetchType::Literal(n)) => n,
                    _ => return None,
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
                                return None;
                            }
                            links.push(Link::Projection(p.expr.clone()));
                        }
                        (s.expr.clone(), s.input.as_ref())
                    }
                    _ => (Vec::new(), l.input.as_ref()),
                };
                if order_by.iter().any(|s| s.expr.contains_outer()) {
                    return None;
                }
                links.push(Link::TopK {
                    skip,
                    fetch,
                    order_by,
                });
                node = below;
            }
            _ => return None,
        }
    }
}

/// The columns of a plan being built, as expressions.
fn columns(b: &LogicalPlanBuilder) -> Vec<Expr> {
    b.schema().columns().into_iter().map(Expr::Column).collect()
}

/// Whether anything in `plan` mentions an outer row.
fn mentions_outer(plan: &LogicalPlan) -> bool {
    plan.exists(|p| Ok(p.expressions().iter().any(Expr::contains_outer)))
        .unwrap_or(true)
}

/// The planner's `row_number` window function.
fn row_number_udf() -> DfResult<Arc<datafusion_expr::WindowUDF>> {
    super::window_funcs::window_functions()
        .remove("row_number")
        .ok_or_else(|| datafusion_common::DataFusionError::Internal("row_number".into()))
}
