//! Aggregates in a subquery's `WHERE`:
//!
//! ```sql
//! SELECT (SELECT count(*) FROM q WHERE q.x = max(p.id)) FROM p
//! ```
//!
//! In PostgreSQL an aggregate whose arguments read only an outer query's
//! columns belongs to that query, wherever it stands in the subquery: in
//! the subquery's `WHERE` it is a value of the outer query's (group), and
//! only an aggregate of the subquery's own rows is "not allowed in
//! WHERE". DataFusion's planner refuses every aggregate in a `WHERE`
//! before any column is resolved, so:
//!
//! 1. [`wrap`] (on the AST) puts each aggregate call in the `WHERE` of a
//!    nested query into a one-row scalar subquery marked by its output
//!    name, `(SELECT max(p.id) AS __freshet_where_agg)`, which the planner
//!    accepts (its columns are all outer references then);
//! 2. [`unwrap`] (on the plan) puts the aggregate back in place of each
//!    marked subquery, its columns of the filter's own rows read as
//!    columns again. An aggregate that reads one of them, or no column,
//!    is PostgreSQL's `42803`; one of outer columns only is what
//!    `outer_aggregates::rewrite` moves to the outer query (and what
//!    `subquery_outer_refs::check_outer_aggregates` refuses where
//!    PostgreSQL does, or where Freshet does not move it).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::logical_plan::Filter;
use datafusion_expr::{Expr, LogicalPlan};
use sqlparser::ast::{self, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut};

use super::PlanError;

/// The output name marking a wrapped aggregate.
const MARKER: &str = "__freshet_where_agg";

/// Wraps the aggregate calls in the `WHERE` of every nested query of
/// `statement` (see the module documentation); `is_aggregate` tells
/// aggregate functions by their (lower-case) name.
pub fn wrap(statement: &mut Statement, is_aggregate: &dyn Fn(&str) -> bool) {
    let mut queries = Queries {
        depth: 0,
        is_aggregate,
    };
    let _ = statement.visit(&mut queries);
}

/// Visits every query, outermost first; after a nested one's parts were
/// visited, wraps the aggregates of its `WHERE` clauses.
struct Queries<'a> {
    depth: usize,
    is_aggregate: &'a dyn Fn(&str) -> bool,
}

impl VisitorMut for Queries<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        if self.depth > 0 {
            wrap_selects(query.body.as_mut(), self.is_aggregate);
        }
        ControlFlow::Continue(())
    }
}

fn wrap_selects(body: &mut SetExpr, is_aggregate: &dyn Fn(&str) -> bool) {
    match body {
        SetExpr::Select(select) => {
            if let Some(selection) = &mut select.selection {
                let _ = selection.visit(&mut Calls {
                    nested: 0,
                    is_aggregate,
                });
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            wrap_selects(left, is_aggregate);
            wrap_selects(right, is_aggregate);
        }
        _ => {}
    }
}

/// Wraps the aggregate calls of one `WHERE`, not those of its subqueries
/// (their own `WHERE` clauses were done when they were visited).
struct Calls<'a> {
    nested: usize,
    is_aggregate: &'a dyn Fn(&str) -> bool,
}

impl VisitorMut for Calls<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.nested += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.nested -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
        if self.nested > 0 {
            return ControlFlow::Continue(());
        }
        let ast::Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let [ast::ObjectNamePart::Identifier(name)] = f.name.0.as_slice() else {
            return ControlFlow::Continue(());
        };
        if f.over.is_some() || !(self.is_aggregate)(&name.value.to_lowercase()) {
            return ControlFlow::Continue(());
        }
        if let Some(wrapper) = one_row_query(e.clone()) {
            // The visitor goes on into the new subquery, where `nested`
            // keeps the call from being wrapped again.
            *e = ast::Expr::Subquery(Box::new(wrapper));
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT e AS __freshet_where_agg`.
fn one_row_query(e: ast::Expr) -> Option<Query> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut query = *sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(&format!("SELECT NULL AS {MARKER}"))
        .ok()?
        .parse_query()
        .ok()?;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    select.projection = vec![SelectItem::ExprWithAlias {
        expr: e,
        alias: ast::Ident::new(MARKER),
    }];
    Some(query)
}

/// Puts the aggregates [`wrap`] wrapped back in their filters (see the
/// module documentation).
pub fn unwrap(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    let mut error = None;
    let result = plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::Filter(f) = &node else {
            return Ok(Transformed::no(node));
        };
        let own = f.input.schema().clone();
        let predicate = f.predicate.clone().transform_up(|x| {
            let Some(aggregate) = wrapped(&x) else {
                return Ok(Transformed::no(x));
            };
            let aggregate = own_columns(aggregate.clone(), &own)?;
            // No column at all (`count(*)`) is the filter's own level too.
            if super::outer_aggregates::reads_columns(&aggregate) || !aggregate.contains_outer() {
                error.get_or_insert(PlanError::Grouping(
                    "aggregate functions are not allowed in WHERE".into(),
                ));
            }
            Ok(Transformed::yes(aggregate))
        })?;
        if !predicate.transformed {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
            predicate.data,
            Arc::clone(&f.input),
        )?)))
    });
    if let Some(e) = error {
        return Err(e);
    }
    result.map(|t| t.data).map_err(PlanError::from_datafusion)
}

/// The aggregate a marked subquery computes: `Projection [agg AS
/// __freshet_where_agg]` over an aggregate without groups over one row.
fn wrapped(e: &Expr) -> Option<&Expr> {
    let Expr::ScalarSubquery(sq) = e else {
        return None;
    };
    let LogicalPlan::Projection(p) = sq.subquery.as_ref() else {
        return None;
    };
    let [Expr::Alias(alias)] = p.expr.as_slice() else {
        return None;
    };
    if alias.name != MARKER {
        return None;
    }
    let LogicalPlan::Aggregate(a) = p.input.as_ref() else {
        return None;
    };
    match (a.group_expr.as_slice(), a.aggr_expr.as_slice()) {
        ([], [aggregate]) if matches!(a.input.as_ref(), LogicalPlan::EmptyRelation(_)) => {
            Some(aggregate)
        }
        _ => None,
    }
}

/// `aggregate` with its outer references to columns of `own` (the
/// filter's rows) read as columns of those rows.
fn own_columns(aggregate: Expr, own: &DFSchema) -> DfResult<Expr> {
    aggregate
        .transform_up(|x| match x {
            Expr::OuterReferenceColumn(_, c) if own.has_column(&c) => {
                Ok(Transformed::yes(Expr::Column(c)))
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}
