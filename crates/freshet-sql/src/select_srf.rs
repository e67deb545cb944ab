//! Set-returning functions in a select list: `SELECT id,
//! jsonb_array_elements(doc) FROM t`, `SELECT generate_series(1, n) FROM t`.
//!
//! PostgreSQL evaluates such a call once per row (after `FROM`/`WHERE`,
//! before `DISTINCT`, `ORDER BY` and `LIMIT`) and repeats the row for each
//! value it returns; a row whose call returns nothing is dropped. With one
//! function in the list that is exactly a `LATERAL` join of the `FROM`
//! items with the call, so before planning the call is moved into `FROM`
//! (`FROM t, LATERAL jsonb_array_elements(doc) AS __srf_1(__srf_1)`) and
//! the select list reads its column; `sql/jsonb_table.rs` then lowers the
//! join to a flat map. The output column keeps the name the call gives it
//! (`sql/output_names.rs` names columns from the statement as written).
//!
//! Calls of one function with the same arguments are one set (PostgreSQL
//! runs them in lockstep, so they give the same value on each row). Other
//! forms stay `0A000`: several different calls (PostgreSQL zips them to
//! the longest), calls with `GROUP BY`, aggregates or window functions
//! (evaluated after grouping), inside `CASE`/`COALESCE` or another
//! set-returning call's arguments, next to `*`. Of the record-returning
//! `jsonb_each`, `jsonb_each_text`, `json_each` and `json_each_text`, the
//! fields can be read (`(jsonb_each(doc)).key`, `.value`: the call moves
//! into `FROM` with those columns); the record itself is refused.
//! `unnest` in a select list is left to DataFusion's own `Unnest`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, Expr, FunctionArguments, GroupByExpr, Ident, Query, SelectItem, SetExpr, Statement,
    TableWithJoins, VisitMut, VisitorMut,
};

use super::PlanError;

/// The functions moved into `FROM`: single-column set-returning functions
/// that `sql/jsonb_table.rs` joins laterally.
const MOVED: &[&str] = &[
    "generate_series",
    "regexp_matches",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_object_keys",
    "json_array_elements",
    "json_array_elements_text",
    "json_object_keys",
];

/// Set-returning functions that cannot be moved (they return records).
const REFUSED: &[&str] = &[
    "jsonb_each",
    "jsonb_each_text",
    "json_each",
    "json_each_text",
];

/// Aggregates whose presence makes the select list evaluate after
/// grouping.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "jsonb_agg",
    "jsonb_object_agg",
    "json_agg",
    "json_object_agg",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "variance",
];

/// Moves the set-returning function calls of every select list into a
/// `LATERAL` join, or fails with `0A000` for the forms described above.
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    struct Rewrite {
        next: usize,
    }
    impl VisitorMut for Rewrite {
        type Break = PlanError;
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<PlanError> {
            match rewrite_set_expr(&mut query.body, &mut self.next) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    match statement.visit(&mut Rewrite { next: 1 }) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn unsupported<T>(what: &str) -> Result<T, PlanError> {
    Err(PlanError::Unsupported(format!(
        "set-returning functions in a select list {what}"
    )))
}

/// The lowercase name of a call of one of `names`, if `e` is one.
fn call_of(e: &Expr, names: &[&str]) -> Option<String> {
    let Expr::Function(f) = e else { return None };
    let name = f.name.to_string().to_lowercase();
    names.contains(&name.as_str()).then_some(name)
}

fn rewrite_set_expr(body: &mut SetExpr, next: &mut usize) -> Result<(), PlanError> {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left, next)?;
            rewrite_set_expr(right, next)
        }
        SetExpr::Select(select) => {
            let record_call = record_fields(&mut select.projection, next);
            // The distinct calls, as written.
            let mut calls: Vec<Expr> = Vec::new();
            let mut other = None;
            for item in &select.projection {
                let e = match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                    _ => continue,
                };
                collect_calls(e, false, &mut calls, &mut other)?;
            }
            if calls.is_empty() && record_call.is_none() {
                return Ok(());
            }
            if let Some(what) = other {
                return unsupported(&what);
            }
            if calls.len() + usize::from(record_call.is_some()) > 1 {
                return unsupported("calling more than one function");
            }
            let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
                || select.having.is_some();
            if grouped {
                return unsupported("with GROUP BY or HAVING");
            }
            if select.projection.iter().any(|i| {
                matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            }) {
                return unsupported("next to *");
            }
            if let Some((call, name)) = record_call {
                let sql = format!("SELECT 1 FROM LATERAL {call} AS {name}(key, value)");
                select.from.push(from_item(&sql, &call)?);
                return Ok(());
            }
            let call = calls.remove(0);
            let name = format!("__srf_{next}");
            *next += 1;
            let column = Expr::CompoundIdentifier(vec![Ident::new(&name), Ident::new(&name)]);
            for item in &mut select.projection {
                match item {
                    SelectItem::UnnamedExpr(e) if *e == call => {
                        // Named after the function, as the bare call is.
                        let alias = Ident::new(call_of(e, MOVED).unwrap_or_default());
                        *item = SelectItem::ExprWithAlias {
                            expr: column.clone(),
                            alias,
                        };
                    }
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                        replace(e, &call, &column);
                    }
                    _ => {}
                }
            }
            let from = lateral_item(&call, &name)?;
            select.from.push(from);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Collects the distinct moved calls in `e` into `calls`; notes in `other`
/// what makes the select list unsupported if it has such a call (a call
/// inside `CASE`/`COALESCE` or another call's arguments, an aggregate or
/// window function, a record-returning function).
fn collect_calls(
    e: &Expr,
    nested: bool,
    calls: &mut Vec<Expr>,
    other: &mut Option<String>,
) -> Result<(), PlanError> {
    if call_of(e, MOVED).is_some() {
        if nested {
            *other = Some("inside CASE or COALESCE".into());
        }
        if !calls.contains(e) {
            calls.push(e.clone());
        }
        // Its arguments must hold no further call.
        if let Expr::Function(f) = e
            && let FunctionArguments::List(list) = &f.args
        {
            for a in &list.args {
                if let sqlparser::ast::FunctionArg::Unnamed(
                    sqlparser::ast::FunctionArgExpr::Expr(x),
                ) = a
                {
                    let mut inner = Vec::new();
                    collect_calls(x, true, &mut inner, other)?;
                    if !inner.is_empty() {
                        *other = Some("nested in each other".into());
                    }
                }
            }
        }
        return Ok(());
    }
    if let Some(name) = call_of(e, REFUSED) {
        // A record as a value: only its fields are read (`record_fields`).
        return unsupported(&format!("calling {name} for its whole record"));
    }
    if let Expr::Function(f) = e {
        let name = f.name.to_string().to_lowercase();
        if f.over.is_some() {
            *other = Some("with window functions".into());
        } else if AGGREGATES.contains(&name.as_str()) {
            *other = Some("with aggregates".into());
        }
    }
    // Walk the children: calls inside CASE or COALESCE would be
    // conditional, which PostgreSQL refuses; functions, operators and
    // casts apply to each value.
    let conditional = matches!(e, Expr::Case { .. }) || call_of(e, &["coalesce"]).is_some();
    let mut children = Vec::new();
    direct_children(e, &mut children);
    for c in children {
        collect_calls(c, nested || conditional, calls, other)?;
    }
    Ok(())
}

/// The sub-expressions of the expression forms a select list commonly
/// uses (operators, casts, function arguments, CASE, field access);
/// other forms are not searched (a call there stays unplanned, `42883`).
fn direct_children<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp { left, right, .. } => {
            out.push(left);
            out.push(right);
        }
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::CompoundFieldAccess { root: expr, .. } => out.push(expr),
        Expr::Function(f) => {
            if let FunctionArguments::List(list) = &f.args {
                for a in &list.args {
                    if let sqlparser::ast::FunctionArg::Unnamed(
                        sqlparser::ast::FunctionArgExpr::Expr(x),
                    ) = a
                    {
                        out.push(x);
                    }
                }
            }
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            out.extend(operand.as_deref());
            for c in conditions {
                out.push(&c.condition);
                out.push(&c.result);
            }
            out.extend(else_result.as_deref());
        }
        _ => {}
    }
}

/// Replaces every occurrence of `call` in `e` by `column`.
fn replace(e: &mut Expr, call: &Expr, column: &Expr) {
    struct Replace<'a> {
        call: &'a Expr,
        column: &'a Expr,
    }
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if e == self.call {
                *e = self.column.clone();
            }
            ControlFlow::Continue(())
        }
    }
    let _ = e.visit(&mut Replace { call, column });
}

/// Replaces the fields read of one record-returning call in `projection`
/// (`(jsonb_each_text(doc)).key`, `.value`; calls of the same function with
/// the same arguments are one set) by the columns `__srf_n.key` and
/// `__srf_n.value` of that call moved into `FROM`, each named after its
/// field as in PostgreSQL. Returns the call and `__srf_n`, if any; a second
/// different call is left as it is (and refused, as a whole record).
fn record_fields(projection: &mut [SelectItem], next: &mut usize) -> Option<(Expr, String)> {
    struct Fields {
        call: Option<Expr>,
        name: String,
    }
    impl VisitorMut for Fields {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let Expr::CompoundFieldAccess { root, access_chain } = e else {
                return ControlFlow::Continue(());
            };
            let mut call = root.as_ref();
            while let Expr::Nested(inner) = call {
                call = inner;
            }
            let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
                return ControlFlow::Continue(());
            };
            let field = field.value.to_lowercase();
            if call_of(call, REFUSED).is_none() || !matches!(field.as_str(), "key" | "value") {
                return ControlFlow::Continue(());
            }
            if self.call.get_or_insert_with(|| call.clone()) != call {
                return ControlFlow::Continue(());
            }
            *e = Expr::CompoundIdentifier(vec![Ident::new(&self.name), Ident::new(field)]);
            ControlFlow::Continue(())
        }
    }
    let mut fields = Fields {
        call: None,
        name: format!("__srf_{next}"),
    };
    for item in projection.iter_mut() {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let before = e.clone();
                let _ = e.visit(&mut fields);
                // Named after the field, as PostgreSQL names `(f(x)).key`.
                if *e != before
                    && let Expr::CompoundIdentifier(parts) = &*e
                    && let Some(field) = parts.last().cloned()
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: field,
                    };
                }
            }
            SelectItem::ExprWithAlias { expr, .. } => {
                let _ = expr.visit(&mut fields);
            }
            _ => {}
        }
    }
    let call = fields.call?;
    *next += 1;
    Some((call, fields.name))
}

/// `LATERAL <call> AS name(name)`, as a `FROM` item.
fn lateral_item(call: &Expr, name: &str) -> Result<TableWithJoins, PlanError> {
    from_item(
        &format!("SELECT 1 FROM LATERAL {call} AS {name}({name})"),
        call,
    )
}

/// The `FROM` item of `sql`, a `SELECT` with one, made to move `call`.
fn from_item(sql: &str, call: &Expr) -> Result<TableWithJoins, PlanError> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, sql)
        .map_err(|e| PlanError::Internal(format!("moving {call} into FROM: {e}")))?;
    if let Some(Statement::Query(q)) = statements.pop()
        && let SetExpr::Select(mut select) = *q.body
        && let Some(from) = select.from.pop()
    {
        return Ok(from);
    }
    Err(PlanError::Internal(format!("moving {call} into FROM")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> Result<String, PlanError> {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql)
            .expect("parses")
            .remove(0);
        rewrite(&mut statement)?;
        Ok(statement.to_string())
    }

    #[test]
    fn calls_move_into_from() {
        assert_eq!(
            rewritten("SELECT id, jsonb_array_elements(doc) -> 'a' FROM t WHERE id > 1").unwrap(),
            "SELECT id, __srf_1.__srf_1 -> 'a' FROM t, LATERAL jsonb_array_elements(doc) AS \
             __srf_1 (__srf_1) WHERE id > 1"
        );
        assert_eq!(
            rewritten("SELECT generate_series(1, 3)").unwrap(),
            "SELECT __srf_1.__srf_1 AS generate_series FROM LATERAL generate_series(1, 3) AS \
             __srf_1 (__srf_1)"
        );
        assert_eq!(rewritten("SELECT 1 FROM t").unwrap(), "SELECT 1 FROM t");
    }

    #[test]
    fn other_forms_are_refused() {
        for sql in [
            "SELECT generate_series(1, 2), generate_series(1, 3)",
            "SELECT k, generate_series(1, 2) FROM t GROUP BY k",
            "SELECT count(*), generate_series(1, 2) FROM t",
            "SELECT coalesce(generate_series(1, 2), 0)",
            "SELECT *, generate_series(1, 2) FROM t",
            "SELECT jsonb_each(j), generate_series(1, 2) FROM t",
        ] {
            assert!(
                matches!(rewritten(sql), Err(PlanError::Unsupported(_))),
                "{sql}"
            );
        }
    }
}
