//! A row value `IN` or `NOT IN` a subquery (`WHERE (a, b) IN (SELECT x,
//! y FROM t)`), or compared with `ANY`, `SOME` or `ALL` of its rows.
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
//! select list, under `OR`, `NOT` or `CASE`), where NULL and false differ,
//! and where the subquery names a relation of the outer query (which
//! DataFusion's planner does not resolve in a derived table), the
//! construct becomes two `EXISTS` subqueries that give the three-valued
//! answer (see `counted`), or, where that cannot be done, stays refused
//! with `0A000`. A subquery whose width is not that of the
//! row is `42601`, as in PostgreSQL.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, Query, SelectItem, SetExpr, Statement, TableFactor, Visit,
    VisitMut, Visitor, VisitorMut,
};

use super::PlanError;

/// The alias of the subquery's derived table.
const ALIAS: &str = "__freshet_row_in";

/// Rewrites the row `[NOT] IN (subquery)` conditions of the `WHERE`
/// clauses of `statement` (see the module docs).
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    if let ControlFlow::Break(e) = statement.visit(&mut Rewrite) {
        return Err(e);
    }
    match statement.visit(&mut Anywhere) {
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
            check_width(width, fields.len())?;
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

/// The row `[NOT] IN (subquery)` that [`Rewrite`] leaves (in a select
/// list, under `OR`, `NOT` or `CASE`, or with a correlated subquery), and
/// the row `op ANY | SOME | ALL (subquery)`.
struct Anywhere;

impl VisitorMut for Anywhere {
    type Break = PlanError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
        match rewrite_anywhere(&mut query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn rewrite_anywhere(body: &mut SetExpr) -> Result<(), PlanError> {
    match body {
        SetExpr::Select(select) => {
            let outer = super::select_subqueries::single_relation(&select.from);
            let items = select.projection.iter_mut().filter_map(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                _ => None,
            });
            for e in items
                .chain(select.selection.as_mut())
                .chain(select.having.as_mut())
            {
                rewrite_operands(e, outer.as_ref())?;
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_anywhere(left)?;
            rewrite_anywhere(right)
        }
        _ => Ok(()),
    }
}

/// Rewrites the row `IN` subqueries of `e` that are not themselves inside
/// a subquery (those are rewritten when their own query is visited).
fn rewrite_operands(e: &mut Expr, outer: Option<&Ident>) -> Result<(), PlanError> {
    struct Operands<'a> {
        outer: Option<&'a Ident>,
        depth: usize,
    }
    impl VisitorMut for Operands<'_> {
        type Break = PlanError;
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<PlanError> {
            if self.depth > 0 {
                return ControlFlow::Continue(());
            }
            match counted(e, self.outer) {
                Ok(Some(r)) => *e = Expr::Nested(Box::new(r)),
                Ok(None) => {}
                Err(err) => return ControlFlow::Break(err),
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<PlanError> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<PlanError> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    match e.visit(&mut Operands { outer, depth: 0 }) {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `(a, b) [NOT] IN (Q)` and `(a, b) op ANY | ALL (Q)` as PostgreSQL's
/// three-valued answer from two `EXISTS` subqueries, which
/// `subquery_predicates` counts:
///
/// ```text
/// CASE WHEN EXISTS (rows of Q where (a, b) op row) THEN true
///      WHEN EXISTS (rows of Q where (a, b) op row is NULL) THEN NULL
///      ELSE false END
/// ```
///
/// (`ALL`: false where some row compares false, else NULL where some row
/// compares NULL, else true).
///
/// An uncorrelated `Q` is read as a derived table (whose column names
/// nothing in `a` or `b` can mean); a correlated one of the plain form
/// `SELECT … FROM tables [WHERE …]` is flattened into the `EXISTS`, with
/// `a` and `b` qualified by the outer relation (`select_subqueries`).
/// Otherwise `None`, and the construct stays refused.
fn counted(e: &Expr, outer: Option<&Ident>) -> Result<Option<Expr>, PlanError> {
    // `IN` is `= ANY`; `NOT IN` its negation.
    let eq = BinaryOperator::Eq;
    let (row, op, subquery, all, negated) = match e {
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => (expr, &eq, subquery.as_ref(), false, *negated),
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        }
        | Expr::AllOp {
            left,
            compare_op,
            right,
        } => {
            let Some(subquery) = subquery_of(right) else {
                return Ok(None);
            };
            let all = matches!(e, Expr::AllOp { .. });
            (left, compare_op, subquery, all, false)
        }
        _ => return Ok(None),
    };
    let Some(fields) = fields(row) else {
        return Ok(None);
    };
    let Some(width) = width(&subquery.body) else {
        return Ok(None);
    };
    check_width(width, fields.len())?;
    let (source, filter, row, values): (String, Option<String>, Vec<String>, Vec<String>) =
        if reads_outer_relations(subquery) {
            let Some(select) = super::select_subqueries::plain_select(subquery) else {
                return Ok(None);
            };
            let inner = super::select_subqueries::inner_names(&select.from);
            let mut qualified = Vec::new();
            for f in fields {
                match super::select_subqueries::qualified(f, outer, &inner) {
                    Some(q) => qualified.push(format!("({q})")),
                    None => return Ok(None),
                }
            }
            let mut values = Vec::new();
            for item in &select.projection {
                match item {
                    SelectItem::UnnamedExpr(y) | SelectItem::ExprWithAlias { expr: y, .. } => {
                        values.push(format!("({y})"))
                    }
                    _ => return Ok(None),
                }
            }
            let from: Vec<String> = select.from.iter().map(|t| t.to_string()).collect();
            (
                from.join(", "),
                select.selection.as_ref().map(|w| format!("({w})")),
                qualified,
                values,
            )
        } else {
            let columns: Vec<String> = (0..width).map(|i| format!("{ALIAS}_c{i}")).collect();
            (
                format!("({subquery}) AS {ALIAS}({})", columns.join(", ")),
                None,
                fields.iter().map(|f| format!("({f})")).collect(),
                columns.iter().map(|c| format!("{ALIAS}.{c}")).collect(),
            )
        };
    // The row comparison, which `row_compare` expands field by field.
    let compare = format!("(({}) {op} ({}))", row.join(", "), values.join(", "));
    let exists = |condition: String| {
        let condition = match &filter {
            Some(w) => format!("{w} AND {condition}"),
            None => condition,
        };
        format!("EXISTS (SELECT 1 FROM {source} WHERE {condition})")
    };
    let nulls = exists(format!("{compare} IS NULL"));
    let sql = if all {
        // False when some row compares false.
        format!(
            "(CASE WHEN {} THEN false WHEN {nulls} THEN NULL ELSE true END)",
            exists(format!("NOT {compare}"))
        )
    } else {
        format!(
            "{}(CASE WHEN {} THEN true WHEN {nulls} THEN NULL ELSE false END)",
            if negated { "NOT " } else { "" },
            exists(compare.clone()),
        )
    };
    parse(&sql).map(Some)
}

/// The subquery of `ANY (subquery)`.
fn subquery_of(e: &Expr) -> Option<&Query> {
    match e {
        Expr::Subquery(q) => Some(q),
        Expr::Nested(inner) => subquery_of(inner),
        _ => None,
    }
}

/// Refuses a subquery whose width is not that of the row, as PostgreSQL.
pub(super) fn check_width(width: usize, fields: usize) -> Result<(), PlanError> {
    if width != fields {
        let which = if width < fields { "few" } else { "many" };
        return Err(PlanError::Syntax(format!(
            "subquery has too {which} columns"
        )));
    }
    Ok(())
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
pub(super) fn width(body: &SetExpr) -> Option<usize> {
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
