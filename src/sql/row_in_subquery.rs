//! A row value `IN` or `NOT IN` a subquery, as a condition of a `WHERE`
//! clause: `WHERE (a, b) IN (SELECT x, y FROM t)`.
//!
//! PostgreSQL compares the row with each row of the subquery: `IN` is true
//! when some row is equal in every field, NULL when none is but some row
//! has no field that differs (a NULL field compares NULL), false otherwise;
//! `NOT IN` is its negation. A `WHERE` clause keeps only the rows where a
//! condition is true, so there (as one of the `AND`ed conditions of the
//! clause, not under `OR`, `NOT` or in a select list) [`rewrite`] turns
//!
//! * `(a, b) IN (Q)` into `EXISTS (SELECT 1 FROM (Q) AS r(c1, c2) WHERE
//!   a = r.c1 AND b = r.c2)`: true exactly where some row is equal;
//! * `(a, b) NOT IN (Q)` into `NOT EXISTS (SELECT 1 FROM (Q) AS r(c1, c2)
//!   WHERE (a = r.c1) IS NOT FALSE AND (b = r.c2) IS NOT FALSE)`: `NOT IN`
//!   is true exactly where every row has a field that differs.
//!
//! DataFusion decorrelates both into a semi or anti join. Elsewhere (a
//! select list, under `OR`), where NULL and false differ, and where the
//! subquery names a relation of the outer query (which DataFusion's
//! planner does not resolve in a derived table), the construct stays
//! refused with `0A000`. A subquery whose width is not that of the
//! row is `42601`, as in PostgreSQL.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Query, SelectItem, SetExpr, Statement, TableFactor, Visit, VisitMut,
    Visitor, VisitorMut,
};

use super::PlanError;

/// The alias of the subquery's derived table.
const ALIAS: &str = "__freshet_row_in";

/// Rewrites the row `[NOT] IN (subquery)` conditions of the `WHERE`
/// clauses of `statement` (see the module docs).
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = PlanError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
        match rewrite_set_expr(&mut query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn rewrite_set_expr(body: &mut SetExpr) -> Result<(), PlanError> {
    match body {
        SetExpr::Select(select) => {
            if let Some(selection) = &mut select.selection {
                rewrite_conjuncts(selection)?;
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)
        }
        _ => Ok(()),
    }
}

/// Rewrites each `AND`ed condition of a `WHERE` clause.
fn rewrite_conjuncts(e: &mut Expr) -> Result<(), PlanError> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            rewrite_conjuncts(left)?;
            rewrite_conjuncts(right)
        }
        Expr::Nested(inner) => rewrite_conjuncts(inner),
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => {
            let Some(fields) = fields(expr) else {
                return Ok(());
            };
            let Some(width) = width(&subquery.body) else {
                return Ok(());
            };
            if reads_outer_relations(subquery) {
                return Ok(());
            }
            if width != fields.len() {
                let which = if width < fields.len() { "few" } else { "many" };
                return Err(PlanError::Syntax(format!(
                    "subquery has too {which} columns"
                )));
            }
            let pairs: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let eq = format!("({f}) = {ALIAS}.{ALIAS}_c{i}");
                    if *negated {
                        format!("({eq}) IS NOT FALSE")
                    } else {
                        eq
                    }
                })
                .collect();
            let columns: Vec<String> = (0..width).map(|i| format!("{ALIAS}_c{i}")).collect();
            let sql = format!(
                "{}EXISTS (SELECT 1 FROM ({subquery}) AS {ALIAS}({}) WHERE {})",
                if *negated { "NOT " } else { "" },
                columns.join(", "),
                pairs.join(" AND ")
            );
            *e = parse(&sql)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The fields of a row constructor: `(a, b)` or `ROW(a, b)`.
fn fields(e: &Expr) -> Option<&[Expr]> {
    match e {
        Expr::Tuple(items) if items.len() > 1 => Some(items),
        Expr::Nested(inner) => fields(inner),
        _ => None,
    }
}

/// The number of columns of a query body, where it can be read from its
/// text (no `*`).
fn width(body: &SetExpr) -> Option<usize> {
    match body {
        SetExpr::Select(select) => select
            .projection
            .iter()
            .all(|item| {
                matches!(
                    item,
                    SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                )
            })
            .then_some(select.projection.len()),
        SetExpr::SetOperation { left, .. } => width(left),
        SetExpr::Query(q) => width(&q.body),
        SetExpr::Values(v) => v.rows.first().map(|r| r.len()),
        _ => None,
    }
}

fn parse(sql: &str) -> Result<Expr, PlanError> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| PlanError::Internal(format!("row IN (subquery) rewrite: {e}")))
}

/// Whether `query` qualifies a column by a relation it does not name
/// itself (a correlated subquery).
fn reads_outer_relations(query: &Query) -> bool {
    struct Names {
        relations: Vec<String>,
        qualifiers: Vec<String>,
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            match t {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        self.relations.push(last.value.to_lowercase());
                    }
                    if let Some(a) = alias {
                        self.relations.push(a.name.value.to_lowercase());
                    }
                }
                TableFactor::Derived { alias: Some(a), .. }
                | TableFactor::Function { alias: Some(a), .. }
                | TableFactor::UNNEST { alias: Some(a), .. } => {
                    self.relations.push(a.name.value.to_lowercase());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = e
                && parts.len() >= 2
            {
                self.qualifiers
                    .push(parts[parts.len() - 2].value.to_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names {
        relations: Vec::new(),
        qualifiers: Vec::new(),
    };
    let _ = query.visit(&mut names);
    names
        .qualifiers
        .iter()
        .any(|q| !names.relations.contains(q))
}
