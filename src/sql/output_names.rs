//! Duplicate output column names: PostgreSQL allows a query's columns to
//! share a name (`SELECT 1 AS a, 2 AS a`, or `avg(x), avg(x::real)`, both
//! named `avg`), where DataFusion requires the expressions of a projection
//! to have unique names (and names a cast after the value cast, so
//! `x, x::text` collide).
//!
//! When DataFusion refuses a query for that reason, [`alias_outputs`]
//! gives every item of the query's top-level select lists a unique alias
//! made of PostgreSQL's name for it and [`MARK`] with its position, and the
//! query is planned again; [`strip_mark`] (applied when the output columns
//! are named) takes the mark off. Names inside subqueries are left alone:
//! a duplicate there still fails (`0A000`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, OrderByKind, Query, SelectItem,
    SetExpr, Statement, Value, VisitMut, VisitorMut,
};

use super::PlanError;

/// Separates PostgreSQL's column name from the position that makes the
/// alias unique. A control character, which no SQL identifier a user
/// writes in practice contains.
pub const MARK: char = '\u{1f}';

/// Whether DataFusion's error is its refusal of duplicate names.
pub fn is_duplicate_name_error(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("require unique expression names") || m.contains("duplicate unqualified field name")
}

/// The name of an output column, without the mark [`alias_outputs`] gave
/// it.
pub fn strip_mark(name: &str) -> Option<&str> {
    name.split_once(MARK).map(|(name, _)| name)
}

/// The statement with its top-level select items aliased (see the module
/// documentation), or `None` if it is not a query.
pub fn alias_outputs(statement: &Statement) -> Result<Option<Statement>, PlanError> {
    let Statement::Query(query) = statement else {
        return Ok(None);
    };
    let mut query = query.clone();
    let mut names = Vec::new();
    alias_set_expr(&mut query.body, &mut names, true);
    check_order_by(&query, &names)?;
    Ok(Some(Statement::Query(query)))
}

/// Aliases the items of the selects of a set-operation tree; `names`
/// collects the output names (of the leftmost select, which names the
/// result) with their expressions.
fn alias_set_expr(body: &mut SetExpr, names: &mut Vec<(String, Option<Expr>)>, leftmost: bool) {
    match body {
        SetExpr::Select(select) => {
            for (i, item) in select.projection.iter_mut().enumerate() {
                let (expr, name) = match item {
                    SelectItem::UnnamedExpr(e) => (e.clone(), column_name(e)),
                    SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), normalize(alias)),
                    // `*` keeps DataFusion's names, which the marked
                    // aliases cannot collide with.
                    _ => continue,
                };
                if leftmost {
                    names.push((name.clone(), Some(expr.clone())));
                }
                let mut expr = expr;
                let _ = expr.visit(&mut NameCastArguments);
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::with_quote('"', format!("{name}{MARK}{i}")),
                };
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            alias_set_expr(left, names, leftmost);
            alias_set_expr(right, names, false);
        }
        SetExpr::Query(q) => alias_set_expr(&mut q.body, names, leftmost),
        _ => {}
    }
}

/// DataFusion names a cast after the value cast, so the aggregates
/// `avg(x)` and `avg(x::real)` of one query collide; a cast argument of a
/// function is wrapped in the identity [`super::values::SAME`], whose name
/// tells them apart.
struct NameCastArguments;

impl VisitorMut for NameCastArguments {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && let FunctionArguments::List(list) = &mut f.args
        {
            for arg in list.args.iter_mut() {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(a)) = arg
                    && matches!(a, Expr::Cast { .. })
                {
                    let inner = std::mem::replace(a, Expr::value(Value::Null));
                    *a = super::values::call(super::values::SAME, inner);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `ORDER BY name` where several output columns of different values have
/// that name is ambiguous, as in PostgreSQL (DataFusion would now sort by
/// an input column of that name instead).
fn check_order_by(query: &Query, names: &[(String, Option<Expr>)]) -> Result<(), PlanError> {
    let Some(order_by) = &query.order_by else {
        return Ok(());
    };
    let OrderByKind::Expressions(exprs) = &order_by.kind else {
        return Ok(());
    };
    for o in exprs {
        let Expr::Identifier(ident) = &o.expr else {
            continue;
        };
        let name = normalize(ident);
        let mut matching = names.iter().filter(|(n, _)| *n == name).map(|(_, e)| e);
        if let Some(first) = matching.next()
            && matching.any(|e| e != first)
        {
            return Err(PlanError::AmbiguousColumn(format!(
                "ORDER BY \"{name}\" is ambiguous"
            )));
        }
    }
    Ok(())
}

fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// PostgreSQL's name for an unaliased select item (its `FigureColname`).
pub fn column_name(e: &Expr) -> String {
    figure_name(e).unwrap_or_else(|| "?column?".to_string())
}

fn figure_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(normalize(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(normalize),
        Expr::Function(f) => f.name.0.last()?.as_ident().map(normalize),
        Expr::Cast {
            expr, data_type, ..
        } => figure_name(expr).or_else(|| {
            super::types::scalar_type_from_sql(data_type)
                .ok()
                .map(|t| type_column_name(&t))
        }),
        Expr::Nested(inner) => figure_name(inner),
        Expr::Case { .. } => Some("case".into()),
        Expr::Array(_) => Some("array".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Extract { .. } => Some("extract".into()),
        Expr::Substring { .. } => Some("substring".into()),
        Expr::Position { .. } => Some("position".into()),
        Expr::Ceil { .. } => Some("ceil".into()),
        Expr::Floor { .. } => Some("floor".into()),
        Expr::Trim { .. } => Some("btrim".into()),
        Expr::Tuple(_) => Some("row".into()),
        Expr::TypedString(t) => super::types::scalar_type_from_sql(&t.data_type)
            .ok()
            .map(|t| type_column_name(&t)),
        Expr::Subquery(q) => match q.body.as_ref() {
            SetExpr::Select(s) => match s.projection.first()? {
                SelectItem::UnnamedExpr(e) => figure_name(e),
                SelectItem::ExprWithAlias { alias, .. } => Some(normalize(alias)),
                _ => None,
            },
            _ => None,
        },
        Expr::Value(v) if matches!(v.value, Value::Null) => None,
        _ => None,
    }
}

/// The column name PostgreSQL gives a cast of a value with no name of its
/// own (`1::text`): the type's internal name.
fn type_column_name(t: &crate::repr::ScalarType) -> String {
    use crate::repr::ScalarType as T;
    match t {
        T::Bool => "bool",
        T::Int16 => "int2",
        T::Int32 => "int4",
        T::Int64 => "int8",
        T::Float32 => "float4",
        T::Float64 => "float8",
        T::Numeric { .. } => "numeric",
        T::Text => "text",
        T::VarChar(_) => "varchar",
        T::Char(_) => "bpchar",
        T::Bytea => "bytea",
        T::Date => "date",
        T::Time => "time",
        T::Timestamp => "timestamp",
        T::TimestampTz => "timestamptz",
        T::Interval => "interval",
        T::Jsonb => "jsonb",
        T::Uuid => "uuid",
        T::Array(_) => "?column?",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(sql: &str) -> Expr {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .unwrap()
    }

    /// PostgreSQL 15's names (`SELECT <expr>` in psql).
    #[test]
    fn names_are_postgres() {
        let cases = [
            ("x", "x"),
            ("t.x", "x"),
            ("avg(x)", "avg"),
            ("avg(x::real)", "avg"),
            ("x::text", "x"),
            ("1::text", "text"),
            ("CAST(1 AS numeric)", "numeric"),
            ("1", "?column?"),
            ("1 + x", "?column?"),
            ("CASE WHEN x THEN 1 END", "case"),
            ("ARRAY[1]", "array"),
            ("DATE '2024-01-01'", "date"),
        ];
        for (sql, want) in cases {
            assert_eq!(column_name(&expr(sql)), want, "{sql}");
        }
    }
}
