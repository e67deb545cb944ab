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
//!
//! A cast of a value with no name of its own (`'1'::int`, `(a + 1)::text`,
//! `DATE '2024-01-01'`) is named after its type in PostgreSQL (`int4`,
//! `text`, `date`), which DataFusion's name for it cannot say:
//! [`name_type_casts`] gives such items the marked alias up front. The
//! names are taken from the statement as written ([`select_names`]), before
//! Freshet's rewrites turn, say, the literal `1` into `1::int4`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    ArrayElemTypeDef, DataType, ExactNumberInfo, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, OrderByKind, Query, SelectItem, SetExpr, Statement, TimezoneInfo,
    Value, VisitMut, VisitorMut,
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

/// PostgreSQL's name for an item of a query's leftmost select, as
/// [`select_names`] finds it.
#[derive(Clone, Debug)]
pub struct SelectName {
    /// The column's name.
    pub name: String,
    /// Whether DataFusion's name for the column cannot say it: a cast's
    /// type (`'1'::int` is `int4`), `EXISTS`, `CASE`, or a function Freshet
    /// rewrites before planning (`localtimestamp`).
    pub from_type: bool,
}

/// The leftmost `SELECT` of a query statement (the one whose items name
/// the query's columns), through set operations and parentheses.
pub fn leftmost_select(statement: &Statement) -> Option<&sqlparser::ast::Select> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(q) => body = q.body.as_ref(),
            SetExpr::Select(select) => return Some(select),
            _ => return None,
        }
    }
}

/// PostgreSQL's names for the items of the leftmost select of `statement`
/// (which name a query's columns), by position; `None` for `*` and for
/// statements that are not queries.
pub fn select_names(statement: &Statement) -> Vec<Option<SelectName>> {
    let Some(select) = leftmost_select(statement) else {
        return Vec::new();
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => Some(match figure(e) {
                Some((name, strength)) => SelectName {
                    from_type: strength == Strength::TypeName
                        || matches!(
                            e,
                            Expr::Exists { .. } | Expr::Case { .. } | Expr::Extract { .. }
                        )
                        || matches!(e, Expr::Function(_))
                            && super::pg_compat::is_rewritten_function(&name)
                        || super::whole_row::is_row_call(e),
                    name,
                },
                None => SelectName {
                    name: "?column?".into(),
                    from_type: false,
                },
            }),
            SelectItem::ExprWithAlias { alias, .. } => Some(SelectName {
                name: normalize(alias),
                from_type: false,
            }),
            _ => None,
        })
        .collect()
}

/// Gives the unaliased items of the leftmost select that PostgreSQL names
/// after a cast's type (`names`, from [`select_names`] of the statement
/// as written) their name as a marked alias.
pub fn name_type_casts(statement: &mut Statement, names: &[Option<SelectName>]) {
    if !names.iter().flatten().any(|n| n.from_type) {
        return;
    }
    let Statement::Query(query) = statement else {
        return;
    };
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else {
        return;
    };
    for (i, (item, name)) in select.projection.iter_mut().zip(names).enumerate() {
        if let (SelectItem::UnnamedExpr(expr), Some(name)) = (&*item, name)
            && name.from_type
        {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', format!("{}{MARK}{i}", name.name)),
            };
        }
    }
}

/// Makes `ORDER BY n` of a window function item (`SELECT k, rank() OVER
/// (ORDER BY sum(v)) FROM t GROUP BY k ORDER BY 2`) an `ORDER BY` of its
/// alias, giving an unaliased item the marked alias of its name (`names`,
/// from [`select_names`]): DataFusion's planner, given the position of
/// such an item in a query with aggregates, fails to find it.
pub fn alias_window_ordinals(statement: &mut Statement, names: &[Option<SelectName>]) {
    let Statement::Query(query) = statement else {
        return;
    };
    let Some(order_by) = &mut query.order_by else {
        return;
    };
    let OrderByKind::Expressions(exprs) = &mut order_by.kind else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    for order in exprs {
        let Expr::Value(v) = &order.expr else {
            continue;
        };
        let Value::Number(n, _) = &v.value else {
            continue;
        };
        let Some(i) = n.parse::<usize>().ok().and_then(|n| n.checked_sub(1)) else {
            continue;
        };
        let Some(item) = select.projection.get_mut(i) else {
            continue;
        };
        let alias = match item {
            SelectItem::UnnamedExpr(expr) if has_window_function(expr) => {
                let name = match names.get(i) {
                    Some(Some(n)) => n.name.clone(),
                    _ => column_name(expr),
                };
                let alias = Ident::with_quote('"', format!("{name}{MARK}{i}"));
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: alias.clone(),
                };
                alias
            }
            SelectItem::ExprWithAlias { expr, alias } if has_window_function(expr) => alias.clone(),
            _ => continue,
        };
        order.expr = Expr::Identifier(alias);
    }
}

/// Whether `expr` calls a window function (a call with `OVER`).
fn has_window_function(expr: &Expr) -> bool {
    struct Find;
    impl sqlparser::ast::Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Function(f) if f.over.is_some() => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    sqlparser::ast::Visit::visit(expr, &mut Find).is_break()
}

/// The statement with its top-level select items aliased (see the module
/// documentation), or `None` if it is not a query. `names` are the names
/// of the statement as written ([`select_names`]).
pub fn alias_outputs(
    statement: &Statement,
    names: &[Option<SelectName>],
) -> Result<Option<Statement>, PlanError> {
    let Statement::Query(query) = statement else {
        return Ok(None);
    };
    let mut query = query.clone();
    let mut collected = Vec::new();
    alias_set_expr(&mut query.body, &mut collected, Some(names));
    check_order_by(&query, &collected)?;
    Ok(Some(Statement::Query(query)))
}

/// Aliases the items of the selects of a set-operation tree; `names`
/// collects the output names (of the leftmost select, which names the
/// result) with their expressions; `written` are the leftmost select's
/// names as written, `None` for the other selects.
fn alias_set_expr(
    body: &mut SetExpr,
    names: &mut Vec<(String, Option<Expr>)>,
    written: Option<&[Option<SelectName>]>,
) {
    let leftmost = written.is_some();
    match body {
        SetExpr::Select(select) => {
            let mut cast_names = NameCastArguments::default();
            for (i, item) in select.projection.iter_mut().enumerate() {
                let (expr, name) = match item {
                    SelectItem::UnnamedExpr(e) => (e.clone(), column_name(e)),
                    SelectItem::ExprWithAlias { expr, alias } => (
                        expr.clone(),
                        strip_mark(&alias.value)
                            .map(str::to_string)
                            .unwrap_or_else(|| normalize(alias)),
                    ),
                    // `*` keeps DataFusion's names, which the marked
                    // aliases cannot collide with.
                    _ => continue,
                };
                let name = match written.and_then(|w| w.get(i)) {
                    Some(Some(w)) => w.name.clone(),
                    _ => name,
                };
                if leftmost {
                    names.push((name.clone(), Some(expr.clone())));
                }
                let mut expr = expr;
                let _ = expr.visit(&mut cast_names);
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::with_quote('"', format!("{name}{MARK}{i}")),
                };
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            alias_set_expr(left, names, written);
            alias_set_expr(right, names, None);
        }
        SetExpr::Query(q) => alias_set_expr(&mut q.body, names, written),
        _ => {}
    }
}

/// DataFusion names a cast after the value cast, so the aggregates
/// `avg(x)` and `avg(x::real)` of one query collide; a cast argument of a
/// function is wrapped in the identity [`super::values::SAME`], whose name
/// tells them apart. Calls that differ only by their casts (`sum(y::int8),
/// sum(y::int2)`) are wrapped once, twice, ... in the order met, so that
/// each has a name of its own.
#[derive(Default)]
struct NameCastArguments {
    /// Per call without its casts (DataFusion's name for it): the calls
    /// as written, in the order met.
    seen: std::collections::BTreeMap<String, Vec<String>>,
}

/// `e` without its casts, as text.
fn without_casts(e: &Expr) -> String {
    struct Strip;
    impl VisitorMut for Strip {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr, .. } = e {
                *e = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
            }
            ControlFlow::Continue(())
        }
    }
    let mut e = e.clone();
    let _ = e.visit(&mut Strip);
    e.to_string()
}

impl VisitorMut for NameCastArguments {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let has_cast_argument = |f: &sqlparser::ast::Function| {
            matches!(&f.args, FunctionArguments::List(list) if list.args.iter().any(|a| {
                matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Cast { .. })))
            }))
        };
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if !has_cast_argument(f) {
            return ControlFlow::Continue(());
        }
        let (key, written) = (without_casts(e), e.to_string());
        let seen = self.seen.entry(key).or_default();
        let wraps = match seen.iter().position(|w| *w == written) {
            Some(p) => p + 1,
            None => {
                seen.push(written);
                seen.len()
            }
        };
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if let FunctionArguments::List(list) = &mut f.args {
            for arg in list.args.iter_mut() {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(a)) = arg
                    && matches!(a, Expr::Cast { .. })
                {
                    for _ in 0..wraps {
                        let inner = std::mem::replace(a, Expr::value(Value::Null));
                        *a = super::values::call(super::values::SAME, inner);
                    }
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

/// An identifier as PostgreSQL resolves it: folded to lower case unless
/// quoted.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// PostgreSQL's name for an unaliased select item (its `FigureColname`).
pub fn column_name(e: &Expr) -> String {
    figure(e)
        .map(|(name, _)| name)
        .unwrap_or_else(|| "?column?".to_string())
}

/// How firmly an expression names its column, as PostgreSQL's
/// `FigureColnameInternal` ranks it: a cast's type name yields to any name
/// its operand has, and an outer cast's type replaces an inner one's
/// (`'1'::int4::text` is `text`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strength {
    TypeName,
    Name,
}

fn figure(e: &Expr) -> Option<(String, Strength)> {
    match e {
        Expr::Cast {
            expr, data_type, ..
        } => match figure(expr) {
            Some(named @ (_, Strength::Name)) => Some(named),
            _ => type_name(data_type).map(|n| (n, Strength::TypeName)),
        },
        Expr::TypedString(t) => type_name(&t.data_type).map(|n| (n, Strength::TypeName)),
        Expr::Interval(_) => Some(("interval".into(), Strength::TypeName)),
        Expr::Nested(inner) => figure(inner),
        other => figure_name(other).map(|n| (n, Strength::Name)),
    }
}

fn figure_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(normalize(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(normalize),
        Expr::Function(f) => f.name.0.last()?.as_ident().map(normalize),
        Expr::Case { .. } => Some("case".into()),
        Expr::Array(_) => Some("array".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Extract { .. } => Some("extract".into()),
        Expr::AtTimeZone { .. } => Some("timezone".into()),
        Expr::Substring { .. } => Some("substring".into()),
        Expr::Position { .. } => Some("position".into()),
        Expr::Ceil { .. } => Some("ceil".into()),
        Expr::Floor { .. } => Some("floor".into()),
        Expr::Trim { .. } => Some("btrim".into()),
        Expr::Tuple(_) => Some("row".into()),
        Expr::Subquery(q) => match q.body.as_ref() {
            SetExpr::Select(s) => match s.projection.first()? {
                SelectItem::UnnamedExpr(e) => figure(e).map(|(name, _)| name),
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
/// own (`1::text`): the last part of the type's name as the parser
/// resolved it, so the SQL-standard spellings become the internal names
/// (`integer` is `int4`, `character varying(3)` is `varchar`, `int[]` is
/// `int4`).
fn type_name(t: &DataType) -> Option<String> {
    Some(
        match t {
            DataType::Bool | DataType::Boolean => "bool",
            DataType::SmallInt(_) | DataType::Int2(_) => "int2",
            DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
            DataType::BigInt(_) | DataType::Int8(_) => "int8",
            DataType::Real | DataType::Float4 => "float4",
            DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => "float8",
            DataType::Float(ExactNumberInfo::Precision(p)) if *p <= 24 => "float4",
            DataType::Float(_) => "float8",
            DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
            DataType::Text => "text",
            DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
                "varchar"
            }
            DataType::Char(_) | DataType::Character(_) => "bpchar",
            DataType::Bytea => "bytea",
            DataType::Date => "date",
            DataType::Time(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timetz",
            DataType::Time(_, _) => "time",
            DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timestamptz",
            DataType::Timestamp(_, _) => "timestamp",
            DataType::Interval { .. } => "interval",
            DataType::JSON => "json",
            DataType::JSONB => "jsonb",
            DataType::Uuid => "uuid",
            DataType::Custom(name, _) => {
                return name.0.last()?.as_ident().map(normalize);
            }
            DataType::Array(
                ArrayElemTypeDef::SquareBracket(inner, _)
                | ArrayElemTypeDef::AngleBracket(inner)
                | ArrayElemTypeDef::Parenthesis(inner),
            ) => return type_name(inner),
            _ => return None,
        }
        .to_string(),
    )
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
            ("'1'::int", "int4"),
            ("'1'::int4::text", "text"),
            ("x::int::text", "x"),
            ("(x + 1)::text", "text"),
            ("-x::int", "?column?"),
            ("(-x)::int", "int4"),
            ("'{1}'::int[]", "int4"),
            ("CAST('1' AS decimal)", "numeric"),
            ("'x'::character varying(3)", "varchar"),
            ("'x'::char(2)", "bpchar"),
            ("1::double precision", "float8"),
            ("'1'::json", "json"),
            ("'1'::pg_catalog.int8", "int8"),
            ("coalesce(x, 1)::text", "coalesce"),
            ("ARRAY[1]::text[]", "array"),
            ("INTERVAL '1 day'", "interval"),
            ("(SELECT '1'::int)", "int4"),
        ];
        for (sql, want) in cases {
            assert_eq!(column_name(&expr(sql)), want, "{sql}");
        }
    }
}
