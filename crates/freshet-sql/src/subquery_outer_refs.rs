//! Subqueries that read the outer row outside their filters: in the select
//! list, in an aggregate's arguments, in `ORDER BY`:
//!
//! ```sql
//! SELECT a, (SELECT t.a + s.x FROM s WHERE s.k = t.a ORDER BY s.x LIMIT 1) FROM t
//! SELECT a, (SELECT sum(s.x * t.a) FROM s WHERE s.k = t.b) FROM t
//! ```
//!
//! DataFusion's decorrelation moves a subquery's correlation out of its
//! filters only: an outer column read anywhere else leaves the subquery as
//! it is, and such queries were refused with `0A000`. [`rewrite`] (run
//! after `outer_levels`, before the other subquery rewrites) gives the
//! subquery the *domain* of those outer columns, as `outer_levels` does for
//! columns two levels out: `D` is the distinct values of the outer columns
//! (taken from the outer plan, without the conditions that read a query
//! further out); the subquery's `FROM` is cross-joined with `D` and
//! restricted to the `D` row of its outer row, and the outer references
//! outside filters read `D`'s columns instead:
//!
//! ```text
//! (SELECT sum(s.x * D.r1) FROM s, (SELECT DISTINCT t.a AS r1 FROM t) D
//!   WHERE s.k = outer(t.b) AND key(D.r1) = key(outer(t.a))
//!     AND (D.r1 IS NULL) = (outer(t.a) IS NULL))
//! ```
//!
//! `key` reads NULL as a default of the type, so a NULL outer value finds
//! the domain's NULL row through two equalities; where a comparison of the
//! subquery's filter rejects a NULL outer value anyway, `D.r1 = outer(t.a)`
//! is enough. Exactly one `D` row matches each outer row, so the subquery
//! computes what it did for every outer row, and its correlation is now
//! equalities in a filter, which DataFusion (and the rewrites after this
//! one: `LIMIT`, rows that are not aggregated) decorrelate.
//!
//! The product goes under the subquery's per-row chain (projections,
//! filters, `ORDER BY`, `LIMIT`, `DISTINCT` and aggregates) down to its
//! `FROM` (over the `FROM`'s alias); the domain's columns are carried up to the topmost node
//! that reads them (added to the `GROUP BY` of a grouped aggregate on the
//! way, which does not change its groups: they are constant for one outer
//! row). An outer read above an aggregate without `GROUP BY` was moved out
//! of the subquery by `aggregate_row` before; anything else (an outer read
//! inside the `FROM`, in a window, above an aggregate without `GROUP BY`)
//! is left as it is, and refused later with `0A000`.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, ExprSchema, Result as DfResult, ScalarValue};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Aggregate, Distinct, Filter, Projection, Subquery};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{Expr, LogicalPlan, LogicalPlanBuilder, col, lit, when};

use super::PlanError;
use super::outer_levels::{lift_subqueries, subquery_of};

/// The prefix of the domain's column names.
const PREFIX: &str = "__freshet_ref";

/// Rewrites the subqueries of `plan` that read the outer row outside their
/// filters (see the module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    let mut names = 0usize;
    lift_subqueries(plan, |sq, outer| lift(sq, outer, &mut names))
        .map_err(PlanError::from_datafusion)
}

/// The outer columns that the expressions of `node` itself (not its
/// subqueries) read.
fn outer_columns_of(node: &LogicalPlan) -> Vec<Column> {
    let mut found = Vec::new();
    for e in node.expressions() {
        let _ = e.apply(|x| {
            if let Expr::OuterReferenceColumn(_, c) = x
                && !found.contains(c)
            {
                found.push(c.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    found
}

/// Whether a node of the chain passes its input's rows through per row
/// (or per group, for a grouped aggregate): the domain's columns can be
/// carried up through it.
fn is_chain_node(node: &LogicalPlan) -> bool {
    match node {
        // Not through an alias: the product goes over it, so that the
        // domain's columns keep their names above it (an alias would
        // qualify them, and the correlation DataFusion pulls up would not
        // find them).
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Distinct(d) => matches!(d, Distinct::All(_)),
        _ => false,
    }
}

/// The subquery `sq` with the domain of the outer columns (of `outer`)
/// that it reads outside its filters, or `None` when it reads none or the
/// rewrite does not apply.
fn lift(sq: &Subquery, outer: &LogicalPlan, names: &mut usize) -> DfResult<Option<Subquery>> {
    // The chain, top down, and the `FROM` under it.
    let mut chain: Vec<&LogicalPlan> = Vec::new();
    let mut node = sq.subquery.as_ref();
    while is_chain_node(node) {
        chain.push(node);
        node = node.inputs()[0];
    }
    let from = node;
    // The outer columns read outside filters, and the topmost node reading
    // them.
    let mut columns: Vec<Column> = Vec::new();
    let mut top = None;
    for (i, n) in chain.iter().enumerate() {
        if matches!(n, LogicalPlan::Filter(_)) {
            continue;
        }
        let read = outer_columns_of(n);
        if !read.is_empty() && top.is_none() {
            top = Some(i);
        }
        for c in read {
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
    }
    let Some(top) = top else {
        return Ok(None);
    };
    // Columns of a query further out (`outer_levels`' part), reads inside
    // the `FROM`, or an aggregate without `GROUP BY` under a read (it
    // cannot carry the domain's columns; `aggregate_row` moves such reads
    // out): left as they are.
    if columns.iter().any(|c| !outer.schema().has_column(c)) {
        return Ok(None);
    }
    let mut from_reads = false;
    from.apply(|n| {
        if !matches!(n, LogicalPlan::Filter(_)) && !outer_columns_of(n).is_empty() {
            from_reads = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if from_reads {
        return Ok(None);
    }
    if chain[top + 1..]
        .iter()
        .any(|n| matches!(n, LogicalPlan::Aggregate(a) if a.group_expr.is_empty()))
    {
        return Ok(None);
    }
    // Filters directly over the `FROM` (under every aggregate, limit and
    // distinct): a comparison there that rejects a NULL outer value makes
    // the NULL-safe match unnecessary.
    let bottom_filters: Vec<Expr> = chain
        .iter()
        .rev()
        .take_while(|n| matches!(n, LogicalPlan::Filter(_) | LogicalPlan::Projection(_)))
        .filter_map(|n| match n {
            LogicalPlan::Filter(f) => Some(f.predicate.clone()),
            _ => None,
        })
        .flat_map(|p| {
            split_conjunction(&p)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();

    // The domain, with NULL-safe keys where needed.
    let Some(source) = super::outer_levels::uncorrelated(outer)? else {
        return Ok(None);
    };
    let mut domain_exprs = Vec::new();
    let mut key_exprs = Vec::new();
    let mut predicate = Vec::new();
    let mut replacements: Vec<(Column, String)> = Vec::new();
    for c in &columns {
        let field = outer.schema().field_from_column(c)?.clone();
        *names += 1;
        let name = format!("{PREFIX}{names}");
        let outer_value = Expr::OuterReferenceColumn(field.clone(), c.clone());
        domain_exprs.push(Expr::Column(c.clone()).alias(&name));
        key_exprs.push(col(Column::from_name(&name)));
        if super::subquery_domain::rejects_null(&bottom_filters, c) {
            predicate.push(col(Column::from_name(&name)).eq(outer_value));
        } else {
            let Ok(default) = ScalarValue::new_default(field.data_type()) else {
                return Ok(None);
            };
            let key = |e: Expr| when(e.clone().is_null(), lit(default.clone())).otherwise(e);
            let (key_name, null_name) = (format!("{name}_v"), format!("{name}_n"));
            key_exprs.push(key(col(Column::from_name(&name)))?.alias(&key_name));
            key_exprs.push(col(Column::from_name(&name)).is_null().alias(&null_name));
            predicate.push(col(Column::from_name(&key_name)).eq(key(outer_value.clone())?));
            predicate.push(col(Column::from_name(&null_name)).eq(outer_value.is_null()));
        }
        replacements.push((c.clone(), name));
    }
    let domain = LogicalPlanBuilder::from(source)
        .project(domain_exprs)?
        .distinct()?
        .project(key_exprs)?
        .build()?;
    let predicate = conjunction(predicate).expect("one condition per domain column");
    // The product; a filter right over the `FROM` takes the match among its
    // conditions (one correlated filter, as `subquery_top_k` expects).
    let mut chain_len = chain.len();
    let mut plan = LogicalPlanBuilder::from(from.clone())
        .cross_join(domain)?
        .build()?;
    let predicate = match chain.last() {
        Some(LogicalPlan::Filter(f)) => {
            chain_len -= 1;
            f.predicate.clone().and(predicate)
        }
        _ => predicate,
    };
    plan = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan))?);
    let carried: Vec<Expr> = replacements
        .iter()
        .map(|(_, n)| col(Column::from_name(n)))
        .collect();
    // Rebuild the chain bottom up over the product.
    for (i, n) in chain[..chain_len].iter().enumerate().rev() {
        let input = Arc::new(plan);
        let preserver = NamePreserver::new(n);
        let replace = |e: &Expr| -> DfResult<Expr> {
            let saved = preserver.save(e);
            let replaced = e
                .clone()
                .transform_up(|x| match &x {
                    Expr::OuterReferenceColumn(_, c) => {
                        match replacements.iter().find(|(from, _)| from == c) {
                            Some((_, name)) => Ok(Transformed::yes(col(Column::from_name(name)))),
                            None => Ok(Transformed::no(x)),
                        }
                    }
                    _ => Ok(Transformed::no(x)),
                })?
                .data;
            // Output names matter only where the node names its output
            // columns by its expressions.
            let names_output = matches!(n, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_));
            Ok(if names_output {
                saved.restore(replaced)
            } else {
                replaced
            })
        };
        let below_top = i > top;
        plan = match n {
            LogicalPlan::Filter(f) => {
                LogicalPlan::Filter(Filter::try_new(f.predicate.clone(), input)?)
            }
            LogicalPlan::Projection(p) => {
                let mut exprs: Vec<Expr> = p.expr.iter().map(replace).collect::<DfResult<_>>()?;
                if below_top {
                    exprs.extend(carried.iter().cloned());
                }
                LogicalPlan::Projection(Projection::try_new(exprs, input)?)
            }
            LogicalPlan::Aggregate(a) => {
                let mut group: Vec<Expr> =
                    a.group_expr.iter().map(replace).collect::<DfResult<_>>()?;
                if below_top {
                    group.extend(carried.iter().cloned());
                }
                let aggregates: Vec<Expr> =
                    a.aggr_expr.iter().map(replace).collect::<DfResult<_>>()?;
                LogicalPlan::Aggregate(Aggregate::try_new(input, group, aggregates)?)
            }
            other => {
                let exprs: Vec<Expr> = other
                    .expressions()
                    .iter()
                    .map(replace)
                    .collect::<DfResult<_>>()?;
                other.with_new_exprs(exprs, vec![input.as_ref().clone()])?
            }
        };
    }
    // A node above the last reader that passes its input's columns on
    // (`ORDER BY`, `LIMIT`) would show the carried ones: the subquery's own
    // columns are projected again.
    let original = sq.subquery.schema();
    if plan.schema().fields().len() != original.fields().len() {
        let columns: Vec<Expr> = plan
            .schema()
            .columns()
            .into_iter()
            .take(original.fields().len())
            .map(Expr::Column)
            .collect();
        plan = LogicalPlanBuilder::from(plan).project(columns)?.build()?;
    }
    let outer_ref_columns = plan.all_out_ref_exprs();
    Ok(Some(Subquery {
        subquery: Arc::new(plan),
        outer_ref_columns,
        spans: sq.spans.clone(),
    }))
}

/// Refuses an aggregate in a subquery whose arguments (and `FILTER`) read
/// columns of an outer query and none of the subquery's own: PostgreSQL
/// makes it an aggregate of that outer query (`SELECT (SELECT sum(t.a)
/// FROM s LIMIT 1) FROM t` sums `t.a` over `t`), which Freshet does not
/// plan; computed over the subquery's rows it would be a wrong answer.
///
/// Where PostgreSQL refuses the query for it, so does this, with its
/// `42803`: the outer query's `WHERE` or join condition may not hold an
/// aggregate, and once the outer query is an aggregate its select list
/// may not read a column outside an aggregate (it has no `GROUP BY`).
/// Otherwise the aggregate is `0A000`.
pub fn check_outer_aggregates(plan: &LogicalPlan) -> Result<(), PlanError> {
    check_level(plan, &mut Vec::new())
}

/// [`check_outer_aggregates`] for the query `plan`, nested in the queries
/// whose nodes `hosts` holds (outermost first: each the node whose
/// expressions hold the next level's subquery).
fn check_level<'a>(
    plan: &'a LogicalPlan,
    hosts: &mut Vec<&'a LogicalPlan>,
) -> Result<(), PlanError> {
    let mut nodes = Vec::new();
    let _ = plan.apply(|node| {
        nodes.push(node);
        Ok(TreeNodeRecursion::Continue)
    });
    for node in nodes {
        if let Some(a) = aggregate_below(node) {
            check_ungrouped(node, a)?;
        }
        if let LogicalPlan::Aggregate(a) = node {
            let own_schema = a.input.schema();
            for e in &a.aggr_expr {
                if let Some(columns) = only_outer_columns(e, own_schema) {
                    return Err(outer_aggregate_error(&columns, hosts));
                }
            }
        }
        // An aggregate of outer columns in a filter (`where_aggregates`)
        // that `outer_aggregates` did not move.
        if let LogicalPlan::Filter(f) = node {
            let mut left = None;
            let _ = f.predicate.apply(|x| {
                if matches!(x, Expr::AggregateFunction(_)) {
                    left.get_or_insert_with(|| {
                        only_outer_columns(x, f.input.schema()).map_or_else(
                            || {
                                PlanError::Grouping(
                                    "aggregate functions are not allowed in WHERE".into(),
                                )
                            },
                            |columns| outer_aggregate_error(&columns, hosts),
                        )
                    });
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            });
            if let Some(e) = left {
                return Err(e);
            }
        }
        let mut subqueries = Vec::new();
        for e in node.expressions() {
            let _ = e.apply(|x| {
                if let Some(sq) = subquery_of(x) {
                    subqueries.push(sq.subquery.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        for sq in subqueries {
            hosts.push(node);
            // The subquery's plan lives as long as `plan`: it is shared.
            let result = check_level_owned(&sq, hosts);
            hosts.pop();
            result?;
        }
    }
    Ok(())
}

/// The aggregate whose rows `node` reads in its query level (through
/// `ORDER BY`, `LIMIT`, `DISTINCT`, windows and `HAVING`), if any.
fn aggregate_below(node: &LogicalPlan) -> Option<&Aggregate> {
    let input = match node {
        LogicalPlan::Projection(p) => &p.input,
        LogicalPlan::Filter(f) => &f.input,
        LogicalPlan::Sort(s) => &s.input,
        LogicalPlan::Limit(l) => &l.input,
        LogicalPlan::Window(w) => &w.input,
        LogicalPlan::Distinct(Distinct::All(input)) => input,
        _ => return None,
    };
    match input.as_ref() {
        LogicalPlan::Aggregate(a) => Some(a),
        other => aggregate_below(other),
    }
}

/// PostgreSQL's `42803` for a subquery above the aggregate `a` (in
/// `node`) that reads a column of the aggregate's input that is not one
/// of its `GROUP BY` columns: `SELECT count(*), (SELECT t.a FROM u) FROM
/// t`.
fn check_ungrouped(node: &LogicalPlan, a: &Aggregate) -> Result<(), PlanError> {
    let mut grouped: Vec<&Column> = Vec::new();
    for g in &a.group_expr {
        match g {
            Expr::Column(c) => grouped.push(c),
            Expr::GroupingSet(set) => {
                grouped.extend(set.distinct_expr().into_iter().filter_map(|e| match e {
                    Expr::Column(c) => Some(c),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    let own = a.input.schema();
    let mut ungrouped = None;
    for e in node.expressions() {
        let _ = e.apply(|x| {
            if let Some(sq) = subquery_of(x) {
                for c in outer_columns(&sq.subquery) {
                    if ungrouped.is_none() && own.has_column(&c) && !grouped.contains(&&c) {
                        ungrouped = Some(c);
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    match ungrouped {
        Some(c) => Err(PlanError::Grouping(format!(
            "subquery uses ungrouped column \"{}\" from outer query",
            c.flat_name()
        ))),
        None => Ok(()),
    }
}

/// The columns of queries outside `plan` that `plan` (its subqueries
/// included) reads.
fn outer_columns(plan: &LogicalPlan) -> Vec<Column> {
    let mut inner_scopes = Vec::new();
    let _ = plan.apply_with_subqueries(|n| {
        inner_scopes.push(n.schema().clone());
        Ok(TreeNodeRecursion::Continue)
    });
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|n| {
        for e in n.expressions() {
            let _ = e.apply(|y| {
                if let Expr::OuterReferenceColumn(_, c) = y
                    && !inner_scopes.iter().any(|s| s.has_column(c))
                {
                    out.push(c.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// [`check_level`] for a subquery's plan, which `hosts` cannot borrow.
fn check_level_owned(plan: &Arc<LogicalPlan>, hosts: &[&LogicalPlan]) -> Result<(), PlanError> {
    let mut inner: Vec<&LogicalPlan> = hosts.to_vec();
    check_level(plan, &mut inner)
}

/// The error for an aggregate of the outer columns `columns`, nested in
/// `hosts` (see [`check_level`]): PostgreSQL's `42803` where its query
/// level (the nearest one whose rows hold one of the columns) refuses an
/// aggregate there, else `0A000`.
fn outer_aggregate_error(columns: &[Column], hosts: &[&LogicalPlan]) -> PlanError {
    let unsupported = || {
        PlanError::Unsupported("aggregates of an outer query's columns inside a subquery".into())
    };
    let level = hosts.iter().rev().find(|host| {
        host.inputs()
            .iter()
            .any(|input| columns.iter().any(|c| input.schema().has_column(c)))
    });
    let Some(host) = level else {
        return unsupported();
    };
    let grouped = |input: &LogicalPlan| {
        matches!(
            input,
            LogicalPlan::Aggregate(_) | LogicalPlan::Window(_) | LogicalPlan::Distinct(_)
        )
    };
    match host {
        LogicalPlan::Filter(f) if !grouped(&f.input) => {
            PlanError::Grouping("aggregate functions are not allowed in WHERE".into())
        }
        LogicalPlan::Join(_) => {
            PlanError::Grouping("aggregate functions are not allowed in JOIN conditions".into())
        }
        LogicalPlan::Projection(p) if !grouped(&p.input) => {
            // The query becomes an aggregate without GROUP BY: a column
            // read outside the subqueries is ungrouped.
            let mut ungrouped = None;
            for e in &p.expr {
                let _ = e.apply(|x| {
                    if let Expr::Column(c) = x
                        && ungrouped.is_none()
                    {
                        ungrouped = Some(c.clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                });
            }
            match ungrouped {
                Some(c) => PlanError::Grouping(format!(
                    "column \"{}\" must appear in the GROUP BY clause or be used in an aggregate function",
                    c.flat_name()
                )),
                None => unsupported(),
            }
        }
        _ => unsupported(),
    }
}

/// The outer columns the aggregate `e` reads, if it reads some and no
/// column of `own_schema` (its own query's rows), subqueries in it
/// included.
pub(super) fn only_outer_columns(
    e: &Expr,
    own_schema: &datafusion_common::DFSchema,
) -> Option<Vec<Column>> {
    let mut own = false;
    let mut outer: Vec<Column> = Vec::new();
    let _ = e.apply(|x| {
        match x {
            Expr::Column(_) => own = true,
            Expr::OuterReferenceColumn(_, c) => outer.push(c.clone()),
            _ => {}
        }
        if let Some(sq) = subquery_of(x) {
            // Columns the subquery's own nodes define are neither.
            let mut inner_scopes = Vec::new();
            let _ = sq.subquery.apply_with_subqueries(|n| {
                inner_scopes.push(n.schema().clone());
                Ok(TreeNodeRecursion::Continue)
            });
            let _ = sq.subquery.apply_with_subqueries(|n| {
                for ne in n.expressions() {
                    let _ = ne.apply(|y| {
                        if let Expr::OuterReferenceColumn(_, c) = y {
                            if own_schema.has_column(c) {
                                own = true;
                            } else if !inner_scopes.iter().any(|s| s.has_column(c)) {
                                outer.push(c.clone());
                            }
                        }
                        Ok(TreeNodeRecursion::Continue)
                    });
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (!outer.is_empty() && !own).then_some(outer)
}
