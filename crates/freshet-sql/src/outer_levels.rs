//! Subqueries that read a column of a query two or more levels out:
//!
//! ```sql
//! SELECT a FROM t WHERE EXISTS (
//!   SELECT 1 FROM u WHERE u.a = t.a
//!     AND EXISTS (SELECT 1 FROM v WHERE v.c = u.c AND v.d = t.b))
//! ```
//!
//! DataFusion's planner resolves `t.b` in the innermost subquery as an
//! outer reference, but its decorrelation moves only references to the
//! query just outside: decorrelating the innermost subquery into a join in
//! the middle one leaves `t.b` in a plan that has no such column, and the
//! query failed with `42703`.
//!
//! [`rewrite`] (run before the other subquery rewrites) gives the middle
//! subquery the *domain* of those columns, as `subquery_domain` does for
//! other correlations: `D` is the distinct values of the outer columns read
//! from two levels down, taken from the outer plan; the middle subquery's
//! rows are the product of its `FROM` with `D`, restricted to the `D` row
//! of its outer row, and the inner subqueries read `D`'s columns, now one
//! level out:
//!
//! ```text
//! EXISTS (SELECT 1 FROM u, (SELECT DISTINCT t.b AS o1 FROM t) D
//!   WHERE key(D.o1) = key(outer(t.b)) AND D.o1 IS NULL = outer(t.b) IS NULL
//!     AND u.a = t.a
//!     AND EXISTS (SELECT 1 FROM v WHERE v.c = u.c AND v.d = outer(D.o1)))
//! ```
//!
//! (`key` reads NULL as a default of the type, so a NULL outer value finds
//! the domain's NULL row through two equalities, which DataFusion moves out
//! of the subquery as it does any correlation.) Exactly one `D` row matches
//! each outer row, so the middle subquery's rows, and any aggregate over
//! them, are what they were. A subquery nested deeper is handled by running
//! the rewrite again on the rewritten middle subquery.
//!
//! The product is placed under the middle subquery's per-row steps
//! (projections, filters, aliases) down to its `FROM`, below its aggregate
//! (without `GROUP BY`) if it has one. An inner subquery above such an
//! aggregate was moved out of the middle subquery by `aggregate_row`
//! before. Where the inner subquery sits elsewhere (in a grouped query,
//! under a `LIMIT`, in a derived table of the `FROM`), the query is
//! refused with `0A000`.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{
    Column, DFSchema, DFSchemaRef, ExprSchema, Result as DfResult, ScalarValue, not_impl_err,
};
use datafusion_expr::expr::{Exists, InSubquery, SetComparison};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Aggregate, Filter, Projection, Subquery, SubqueryAlias};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{Expr, LogicalPlan, LogicalPlanBuilder, col, lit, when};

use super::PlanError;

/// The prefix of the domain's column names.
const PREFIX: &str = "__freshet_outer";

/// Rewrites the subqueries of `plan` whose inner subqueries read a query
/// two or more levels out (see the module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    let mut names = 0usize;
    rewrite_plan(plan, &mut names).map_err(PlanError::from_datafusion)
}

fn rewrite_plan(plan: LogicalPlan, names: &mut usize) -> DfResult<LogicalPlan> {
    lift_subqueries(plan, |sq, outer| lift(sq, outer, names))
}

/// Replaces each subquery expression of a projection, filter or aggregate
/// in `plan` with what `lift` makes of it, given the node's input (the
/// outer row the subquery reads); `None` keeps it. The expressions keep
/// their output names.
pub(super) fn lift_subqueries(
    plan: LogicalPlan,
    mut lift: impl FnMut(&Subquery, &LogicalPlan) -> DfResult<Option<Subquery>>,
) -> DfResult<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let [input] = node.inputs()[..] else {
            return Ok(Transformed::no(node));
        };
        if !matches!(
            node,
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::Aggregate(_)
        ) {
            return Ok(Transformed::no(node));
        }
        let outer = input.clone();
        let preserver = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = preserver.save(&e);
            e.transform_up(|e| {
                let Some(sq) = subquery_of(&e) else {
                    return Ok(Transformed::no(e));
                };
                match lift(sq, &outer)? {
                    Some(lifted) => Ok(Transformed::yes(with_subquery(e, lifted))),
                    None => Ok(Transformed::no(e)),
                }
            })
            .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
}

/// The subquery an expression holds, if it is a subquery expression.
pub(super) fn subquery_of(e: &Expr) -> Option<&Subquery> {
    match e {
        Expr::ScalarSubquery(sq) => Some(sq),
        Expr::Exists(Exists { subquery, .. })
        | Expr::InSubquery(InSubquery { subquery, .. })
        | Expr::SetComparison(SetComparison { subquery, .. }) => Some(subquery),
        _ => None,
    }
}

/// `e` (a subquery expression) with its subquery replaced by `sq`.
pub(super) fn with_subquery(e: Expr, sq: Subquery) -> Expr {
    match e {
        Expr::ScalarSubquery(_) => Expr::ScalarSubquery(sq),
        Expr::Exists(x) => Expr::Exists(Exists { subquery: sq, ..x }),
        Expr::InSubquery(x) => Expr::InSubquery(InSubquery { subquery: sq, ..x }),
        Expr::SetComparison(x) => Expr::SetComparison(SetComparison { subquery: sq, ..x }),
        other => other,
    }
}

/// A subquery with its outer references recomputed from its plan (the
/// references of its own nodes, not of the subqueries inside it, as
/// DataFusion's planner records them).
fn refreshed(plan: LogicalPlan, spans: datafusion_common::Spans) -> Subquery {
    let outer_ref_columns = plan.all_out_ref_exprs();
    Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns,
        spans,
    }
}

/// The outer columns (of `outer`) that the subqueries nested in `node`'s
/// expressions read and that no scope between them and `outer` defines
/// (a reference resolves to the nearest scope that has the column).
fn deep_columns(node: &LogicalPlan, outer: &DFSchema) -> Vec<Column> {
    let mut found = Vec::new();
    let mut enclosing = Vec::new();
    for e in node.expressions() {
        collect_in_expr(&e, node, &mut enclosing, outer, &mut found, false);
    }
    found
}

/// The input schemas of `node`: the scope of its expressions.
fn scope_of(node: &LogicalPlan) -> Vec<DFSchemaRef> {
    node.inputs().iter().map(|i| i.schema().clone()).collect()
}

/// Adds to `found` the deep references of `e` (an expression of `node`):
/// its own outer references when `own` (it is inside a nested subquery),
/// and those of the subqueries it holds.
fn collect_in_expr(
    e: &Expr,
    node: &LogicalPlan,
    enclosing: &mut Vec<DFSchemaRef>,
    outer: &DFSchema,
    found: &mut Vec<Column>,
    own: bool,
) {
    let _ = e.apply(|x| {
        if let Expr::OuterReferenceColumn(_, c) = x
            && own
            && !enclosing.iter().any(|s| s.has_column(c))
            && outer.has_column(c)
            && !found.contains(c)
        {
            found.push(c.clone());
        }
        if let Some(sq) = subquery_of(x) {
            let depth = enclosing.len();
            enclosing.extend(scope_of(node));
            let _ = sq.subquery.apply(|n| {
                for ne in n.expressions() {
                    collect_in_expr(&ne, n, enclosing, outer, found, true);
                }
                Ok(TreeNodeRecursion::Continue)
            });
            enclosing.truncate(depth);
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// The middle subquery `sq` with the domain of the columns of `outer` that
/// its inner subqueries read, or `None` when they read none.
fn lift(sq: &Subquery, outer: &LogicalPlan, names: &mut usize) -> DfResult<Option<Subquery>> {
    let scope = sq.subquery.as_ref();
    let mut deep: Vec<Column> = Vec::new();
    let mut deep_nodes = 0usize;
    scope.apply(|n| {
        let columns = deep_columns(n, outer.schema());
        if !columns.is_empty() {
            deep_nodes += 1;
        }
        for c in columns {
            if !deep.contains(&c) {
                deep.push(c);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if deep.is_empty() {
        return Ok(None);
    }
    // The per-row chain of the middle subquery, top down: the steps above
    // its aggregate, the aggregate, then the steps below it down to `FROM`.
    let mut chain: Vec<&LogicalPlan> = Vec::new();
    let mut node = scope;
    let mut aggregate_at = None;
    loop {
        match node {
            // Not through an alias (of the `FROM`, as a view's tables
            // have): the product goes over it, so the domain's columns
            // keep their names above it for the correlation DataFusion
            // pulls up.
            LogicalPlan::Projection(Projection { input, .. })
            | LogicalPlan::Filter(Filter { input, .. }) => {
                chain.push(node);
                node = input.as_ref();
            }
            LogicalPlan::Aggregate(a) if a.group_expr.is_empty() && aggregate_at.is_none() => {
                aggregate_at = Some(chain.len());
                chain.push(node);
                node = a.input.as_ref();
            }
            _ => break,
        }
    }
    let from = node;
    if matches!(from, LogicalPlan::Aggregate(_)) {
        // Grouped: the domain's columns would have to join its keys.
        return not_impl_err!(
            "a subquery that reads a column two query levels out is not supported in a grouped subquery"
        );
    }
    let first_below = aggregate_at.map_or(0, |i| i + 1);
    let holds_deep = |n: &LogicalPlan| !deep_columns(n, outer.schema()).is_empty();
    let in_chain = chain[first_below..]
        .iter()
        .filter(|n| holds_deep(n))
        .count();
    if in_chain != deep_nodes {
        return not_impl_err!(
            "a subquery that reads a column two query levels out is not supported above an aggregate, in a grouped or limited subquery or in a derived table"
        );
    }
    // The topmost chain node that reads the domain: projections below it
    // carry the domain's columns up to it.
    let top = chain
        .iter()
        .position(|n| holds_deep(n))
        .expect("some chain node holds a deep reference");

    // The domain: the distinct outer values, with their NULL-safe keys.
    let mut value_names = Vec::new();
    let mut predicate = Vec::new();
    let mut domain_exprs = Vec::new();
    let mut key_exprs = Vec::new();
    let mut replacements: Vec<(Column, Expr)> = Vec::new();
    for c in &deep {
        let field = outer.schema().field_from_column(c)?.clone();
        let Ok(default) = ScalarValue::new_default(field.data_type()) else {
            return not_impl_err!(
                "a subquery reading a column of type {} of a query two levels out",
                field.data_type()
            );
        };
        *names += 1;
        let name = format!("{PREFIX}{names}");
        let (key_name, null_name) = (format!("{name}_v"), format!("{name}_n"));
        let outer_value = Expr::OuterReferenceColumn(field.clone(), c.clone());
        let key = |e: Expr| when(e.clone().is_null(), lit(default.clone())).otherwise(e);
        domain_exprs.push(Expr::Column(c.clone()).alias(&name));
        key_exprs.push(col(Column::from_name(&name)));
        key_exprs.push(key(col(Column::from_name(&name)))?.alias(&key_name));
        key_exprs.push(col(Column::from_name(&name)).is_null().alias(&null_name));
        predicate.push(col(Column::from_name(&key_name)).eq(key(outer_value.clone())?));
        predicate.push(col(Column::from_name(&null_name)).eq(outer_value.is_null()));
        let inner_field = Arc::new(field.as_ref().clone().with_name(&name).with_nullable(true));
        replacements.push((
            c.clone(),
            Expr::OuterReferenceColumn(inner_field, Column::from_name(&name)),
        ));
        value_names.push(name);
    }
    let Some(source) = uncorrelated(outer)? else {
        return not_impl_err!(
            "a subquery that reads a column two query levels out is not supported under a correlated join"
        );
    };
    let domain = LogicalPlanBuilder::from(source)
        .project(domain_exprs)?
        .distinct()?
        .project(key_exprs)?
        .build()?;
    let predicate = conjunction(predicate).expect("one condition per domain column");
    let mut plan = LogicalPlanBuilder::from(from.clone())
        .cross_join(domain)?
        .filter(predicate)?
        .build()?;
    // Rebuild the chain bottom up over the product.
    for (i, n) in chain.iter().enumerate().rev() {
        let input = Arc::new(plan);
        plan = match n {
            LogicalPlan::Projection(p) => {
                let mut exprs: Vec<Expr> = p
                    .expr
                    .iter()
                    .map(|e| replace_deep(e.clone(), n, &replacements))
                    .collect::<DfResult<_>>()?;
                if i > top {
                    exprs.extend(value_names.iter().map(|n| col(Column::from_name(n))));
                }
                LogicalPlan::Projection(Projection::try_new(exprs, input)?)
            }
            LogicalPlan::Filter(f) => LogicalPlan::Filter(Filter::try_new(
                replace_deep(f.predicate.clone(), n, &replacements)?,
                input,
            )?),
            LogicalPlan::SubqueryAlias(a) => {
                LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(input, a.alias.clone())?)
            }
            LogicalPlan::Aggregate(a) => LogicalPlan::Aggregate(Aggregate::try_new(
                input,
                a.group_expr.clone(),
                a.aggr_expr.clone(),
            )?),
            _ => unreachable!("the chain holds only the nodes matched above"),
        };
    }
    // Deeper levels: the inner subqueries now read the domain one level
    // out, and whatever they nest reads it two levels out.
    let plan = rewrite_plan(plan, names)?;
    Ok(Some(refreshed(plan, sq.spans.clone())))
}

/// `outer` without the conditions that read a query further out (the
/// correlation of a middle subquery rewritten before), as the source of a
/// domain: its rows are a superset of `outer`'s, so its distinct values
/// include every value an outer row has, and a value no outer row has is
/// matched by none. Conditions holding a subquery are left out as well
/// (their subquery may read a query further out too). `None` when
/// something else in it reads a query further out.
pub(super) fn uncorrelated(outer: &LogicalPlan) -> DfResult<Option<LogicalPlan>> {
    let further_out = |c: &Expr| c.contains_outer() || has_subquery(c);
    let plan = outer
        .clone()
        .transform_up(|node| match node {
            LogicalPlan::Filter(f)
                if split_conjunction(&f.predicate).into_iter().any(further_out) =>
            {
                let kept: Vec<Expr> = split_conjunction(&f.predicate)
                    .into_iter()
                    .filter(|c| !further_out(c))
                    .cloned()
                    .collect();
                Ok(Transformed::yes(match conjunction(kept) {
                    Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, f.input)?),
                    None => f.input.as_ref().clone(),
                }))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    let correlated = plan.exists(|n| Ok(n.expressions().iter().any(Expr::contains_outer)))?;
    Ok((!correlated).then_some(plan))
}

/// Whether `e` holds a subquery expression (`true` where that cannot be
/// told, which keeps the callers' rewrites away).
pub(super) fn has_subquery(e: &Expr) -> bool {
    e.exists(|x| Ok(subquery_of(x).is_some())).unwrap_or(true)
}

/// `e` (an expression of `node`) with the outer references to the replaced
/// columns inside its subqueries (at any depth, where no nearer scope
/// defines the column) read from the domain instead.
fn replace_deep(e: Expr, node: &LogicalPlan, replacements: &[(Column, Expr)]) -> DfResult<Expr> {
    replace_in_expr(e, node, &mut Vec::new(), replacements, false)
}

fn replace_in_expr(
    e: Expr,
    node: &LogicalPlan,
    enclosing: &mut Vec<DFSchemaRef>,
    replacements: &[(Column, Expr)],
    own: bool,
) -> DfResult<Expr> {
    e.transform_up(|x| {
        if let Expr::OuterReferenceColumn(_, c) = &x
            && own
            && !enclosing.iter().any(|s| s.has_column(c))
            && let Some((_, to)) = replacements.iter().find(|(from, _)| from == c)
        {
            return Ok(Transformed::yes(to.clone()));
        }
        let Some(sq) = subquery_of(&x) else {
            return Ok(Transformed::no(x));
        };
        let depth = enclosing.len();
        enclosing.extend(scope_of(node));
        let plan = sq.subquery.as_ref().clone().transform_up(|n| {
            let inner = n.clone();
            // A projection or aggregate keeps its output names: the nodes
            // above it read its columns by them (a projection over the
            // `ORDER BY` of a `LIMIT` names `x + outer_ref(t.b)`).
            let names_output = matches!(n, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_));
            let preserver = NamePreserver::new(&inner);
            n.map_expressions(|ne| {
                let saved = preserver.save(&ne);
                let replaced = replace_in_expr(ne, &inner, enclosing, replacements, true)?;
                Ok(Transformed::yes(if names_output {
                    saved.restore(replaced)
                } else {
                    replaced
                }))
            })
        });
        enclosing.truncate(depth);
        let spans = sq.spans.clone();
        Ok(Transformed::yes(with_subquery(
            x,
            refreshed(plan?.data, spans),
        )))
    })
    .map(|t| t.data)
}
