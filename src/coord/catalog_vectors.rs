//! The catalog's `int2vector` and `oidvector` columns (`pg_index.indkey`,
//! `indoption`, `indclass`, `indcollation`, `pg_proc.proargtypes`) used as
//! the arrays PostgreSQL lets clients use them as.
//!
//! `catalog::system` keeps these columns as the space-separated text
//! PostgreSQL prints for them (`SELECT indkey` shows `1 2` in both), but
//! clients also take them apart: SQLAlchemy's reflection runs
//! `unnest(indkey)` and `generate_subscripts(indkey, 1)`, JDBC and psql
//! compare `attnum = ANY (indkey)` and read `indkey[0]`. PostgreSQL's
//! vectors are arrays whose subscripts start at 0, so before planning, in
//! a query that reads `pg_index` or `pg_proc`, such a use of one of these
//! columns becomes the same use of an array built from the text, with
//! subscripts shifted by one (Freshet's arrays start at 1):
//!
//! * `unnest(v)` and `x op ANY/ALL (v)`: the array;
//! * `generate_subscripts(v, d [, reverse])`: the subscripts from 0;
//! * `v[i]`: the element at `i + 1`;
//! * `v::int2[]` (any array cast): the array, cast.
//!
//! A select-list column that is one of these columns under another name
//! (`i.indoption AS i_indoption`, as JDBC's `getIndexInfo` reads it) is
//! the same vector to the queries around it.
//!
//! `information_schema._pg_expandarray(a)`, which JDBC's `getPrimaryKeys`
//! and `getIndexInfo` call on `indkey`, returns PostgreSQL's composite
//! `(x, n)` (each element and its position from 1) as a set; Freshet has
//! no composite values, so its two uses there are rewritten first:
//! `(_pg_expandarray(a)).x` is `unnest(a)` and `.n` its position, and a
//! select-list `_pg_expandarray(a) AS keys` is `unnest(a) AS keys`, whose
//! `(q.keys).x` elsewhere in the statement is `q.keys`. (Other uses of
//! the composite are left as they are, and fail as an unknown function.)

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectNamePart, Query, SelectItem, SetExpr, Statement, Subscript, VisitMut, VisitorMut,
};

/// The vector columns, and the element type of the array each becomes
/// (OIDs are `bigint` in Freshet's catalog).
const VECTOR_COLUMNS: &[(&str, &str)] = &[
    ("indkey", "smallint"),
    ("indoption", "smallint"),
    ("indclass", "bigint"),
    ("indcollation", "bigint"),
    ("proargtypes", "bigint"),
];

/// Rewrites the uses above in `stmt`, if it reads `pg_index` or `pg_proc`.
pub fn rewrite(stmt: &mut Statement) {
    let text = stmt.to_string().to_lowercase();
    if !(text.contains("pg_index") || text.contains("pg_proc")) {
        return;
    }
    let mut aliases = Aliases::default();
    let _ = stmt.visit(&mut aliases);
    if text.contains("_pg_expandarray") {
        let _ = stmt.visit(&mut ExpandArray {
            aliases: &aliases.expanded,
        });
    }
    let _ = stmt.visit(&mut Rewrite {
        vectors: &aliases.vectors,
    });
}

/// The select-list names of vector columns and of `_pg_expandarray`
/// calls, which the first pass over a statement collects (and where it
/// replaces each such call by `unnest`).
#[derive(Default)]
struct Aliases {
    /// Another name of a vector column, and its element type.
    vectors: Vec<(String, &'static str)>,
    /// The name of a `_pg_expandarray(a)` column (now `unnest(a)`).
    expanded: Vec<String>,
}

impl VisitorMut for Aliases {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        for item in &mut select.projection {
            let SelectItem::ExprWithAlias { expr, alias } = item else {
                continue;
            };
            let name = alias.value.to_lowercase();
            if let Some(element) = vector_column(expr) {
                self.vectors.push((name, element));
            } else if let Expr::Function(f) = expr
                && let Some(array) = expand_array_arg(f)
                && let Some(unnest) = parse(&format!("unnest({array})"))
            {
                *expr = unnest;
                self.expanded.push(name);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The argument of a call of `information_schema._pg_expandarray`, if `f`
/// is one.
fn expand_array_arg(f: &Function) -> Option<Expr> {
    let named = match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => i,
        [ObjectNamePart::Identifier(s), ObjectNamePart::Identifier(i)]
            if s.value.eq_ignore_ascii_case("information_schema") =>
        {
            i
        }
        _ => return None,
    };
    if !named.value.eq_ignore_ascii_case("_pg_expandarray") {
        return None;
    }
    let mut call = f.clone();
    let arg = first_arg_mut(&mut call)?.clone();
    match &f.args {
        FunctionArguments::List(list) if list.args.len() == 1 => Some(arg),
        _ => None,
    }
}

/// Rewrites the field accesses of `_pg_expandarray`'s composite (see the
/// module's documentation).
struct ExpandArray<'a> {
    aliases: &'a [String],
}

impl VisitorMut for ExpandArray<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::CompoundFieldAccess { root, access_chain } = expr else {
            return ControlFlow::Continue(());
        };
        let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
            return ControlFlow::Continue(());
        };
        let field = field.value.to_lowercase();
        let root = match root.as_ref() {
            Expr::Nested(inner) => inner.as_ref(),
            other => other,
        };
        let replacement = match root {
            Expr::Function(f) => {
                let Some(array) = expand_array_arg(f) else {
                    return ControlFlow::Continue(());
                };
                match field.as_str() {
                    "x" => parse(&format!("unnest({array})")),
                    // A vector's subscripts start at 0 (see `Rewrite`), an
                    // array's at 1.
                    "n" if vector_column(&array).is_some() => {
                        parse(&format!("(generate_subscripts({array}, 1) + 1)"))
                    }
                    "n" => parse(&format!("generate_subscripts({array}, 1)")),
                    _ => None,
                }
            }
            Expr::Identifier(name) if self.is_alias(name) && field == "x" => Some(root.clone()),
            Expr::CompoundIdentifier(parts)
                if parts.last().is_some_and(|name| self.is_alias(name)) && field == "x" =>
            {
                Some(root.clone())
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }
}

impl ExpandArray<'_> {
    fn is_alias(&self, name: &sqlparser::ast::Ident) -> bool {
        self.aliases.contains(&name.value.to_lowercase())
    }
}

/// The element type of the vector column `e` names, if it names one.
fn vector_column(e: &Expr) -> Option<&'static str> {
    vector_column_in(e, &[])
}

/// The element type of the vector column `e` names, if it names one or
/// one of `aliases`.
fn vector_column_in(e: &Expr, aliases: &[(String, &'static str)]) -> Option<&'static str> {
    let name = match e {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(parts) => parts.last()?,
        Expr::Nested(inner) => return vector_column_in(inner, aliases),
        _ => return None,
    };
    if name.quote_style.is_some() {
        return None;
    }
    let lower = name.value.to_lowercase();
    VECTOR_COLUMNS
        .iter()
        .map(|(n, t)| (*n, *t))
        .chain(aliases.iter().map(|(n, t)| (n.as_str(), *t)))
        .find(|(n, _)| *n == lower)
        .map(|(_, t)| t)
}

/// The array a vector column's text makes.
fn as_array(column: &Expr, element: &str) -> Expr {
    parse(&format!(
        "CAST(string_to_array(({column}), ' ') AS {element}[])"
    ))
    .unwrap_or_else(|| column.clone())
}

fn parse(sql: &str) -> Option<Expr> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

fn function_name(f: &Function) -> Option<String> {
    match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some(i.value.to_lowercase()),
        [ObjectNamePart::Identifier(s), ObjectNamePart::Identifier(i)]
            if s.value.eq_ignore_ascii_case("pg_catalog") =>
        {
            Some(i.value.to_lowercase())
        }
        _ => None,
    }
}

fn first_arg_mut(f: &mut Function) -> Option<&mut Expr> {
    match &mut f.args {
        FunctionArguments::List(list) => match list.args.first_mut()? {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        },
        _ => None,
    }
}

struct Rewrite<'a> {
    /// Other names of vector columns (see [`Aliases`]).
    vectors: &'a [(String, &'static str)],
}

impl VisitorMut for Rewrite<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let vector_column = |e: &Expr| vector_column_in(e, self.vectors);
        match expr {
            Expr::Function(f) => match function_name(f).as_deref() {
                Some("unnest") => {
                    if let Some(arg) = first_arg_mut(f)
                        && let Some(element) = vector_column(arg)
                    {
                        *arg = as_array(arg, element);
                    }
                }
                Some("generate_subscripts") => {
                    let mut call = f.clone();
                    if let Some(arg) = first_arg_mut(&mut call)
                        && let Some(element) = vector_column(arg)
                    {
                        *arg = as_array(arg, element);
                        if let Some(unnest) = crate::sql::pg_compat::subscripts_with_lower(&call, 0)
                        {
                            *expr = unnest;
                        }
                    }
                }
                _ => {}
            },
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => {
                if let Some(element) = vector_column(right) {
                    **right = as_array(right, element);
                }
            }
            Expr::Cast {
                expr: inner,
                data_type: DataType::Array(_),
                ..
            } => {
                if let Some(element) = vector_column(inner) {
                    **inner = as_array(inner, element);
                }
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                // `v[i]` (`root` the column) or `alias.v[i]` (the column a
                // `Dot` access after the alias).
                let (column, rest): (Expr, &mut [AccessExpr]) = match access_chain.as_mut_slice() {
                    [AccessExpr::Dot(column), rest @ ..] if vector_column(column).is_some() => (
                        Expr::CompoundIdentifier(match (root.as_ref(), column) {
                            (Expr::Identifier(a), Expr::Identifier(c)) => {
                                vec![a.clone(), c.clone()]
                            }
                            _ => return ControlFlow::Continue(()),
                        }),
                        rest,
                    ),
                    rest if vector_column(root).is_some() => ((**root).clone(), rest),
                    _ => return ControlFlow::Continue(()),
                };
                let Some(element) = vector_column(&column) else {
                    return ControlFlow::Continue(());
                };
                let [AccessExpr::Subscript(Subscript::Index { index })] = rest else {
                    return ControlFlow::Continue(());
                };
                if let Some(shifted) =
                    parse(&format!("({})[({index}) + 1]", as_array(&column, element)))
                {
                    *expr = shifted;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .unwrap()
                .remove(0);
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn vectors_become_arrays_numbered_from_zero() {
        let sql = rewritten(
            "SELECT unnest(i.indkey), generate_subscripts(i.indkey, 1), i.indkey[0], \
             1 = ANY (indclass), indkey FROM pg_index AS i",
        );
        assert!(
            sql.contains("unnest(CAST(string_to_array((i.indkey), ' ') AS SMALLINT[]))"),
            "{sql}"
        );
        assert!(sql.contains("freshet_array_subscripts"), "{sql}");
        assert!(sql.contains(", 0))"), "{sql}");
        assert!(sql.contains("[(0) + 1]"), "{sql}");
        assert!(
            sql.contains("ANY(CAST(string_to_array((indclass), ' ') AS BIGINT[]))"),
            "{sql}"
        );
        // A plain read keeps PostgreSQL's text.
        assert!(sql.ends_with(", indkey FROM pg_index AS i"), "{sql}");
    }

    #[test]
    fn expanded_arrays_become_unnest_and_their_positions() {
        // JDBC's getPrimaryKeys, shortened.
        let sql = rewritten(
            "SELECT result.key_seq FROM (SELECT \
             (information_schema._pg_expandarray(i.indkey)).n AS key_seq, \
             information_schema._pg_expandarray(i.indkey) AS keys, a.attnum AS a_attnum \
             FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_index AS i ON a.attrelid = i.indrelid) \
             AS result WHERE result.a_attnum = (result.keys).x",
        );
        assert!(!sql.contains("_pg_expandarray"), "{sql}");
        assert!(sql.contains("WHERE result.a_attnum = result.keys"), "{sql}");
        assert!(
            sql.contains("unnest(CAST(string_to_array((i.indkey), ' ') AS SMALLINT[])) AS keys"),
            "{sql}"
        );
        // The position counts from 1: the vector's subscripts from 0, plus 1.
        assert!(sql.contains(", 0)) + 1) AS key_seq"), "{sql}");
    }

    #[test]
    fn a_renamed_vector_is_still_one() {
        // JDBC's getIndexInfo reads `indoption` under another name.
        let sql = rewritten(
            "SELECT tmp.i_indoption[tmp.p - 1] FROM \
             (SELECT i.indoption AS i_indoption, 1 AS p FROM pg_catalog.pg_index AS i) AS tmp",
        );
        assert!(
            sql.contains(
                "(CAST(string_to_array((tmp.i_indoption), ' ') AS SMALLINT[]))[(tmp.p - 1) + 1]"
            ),
            "{sql}"
        );
    }

    #[test]
    fn other_queries_are_left_alone() {
        let sql = "SELECT unnest(t.indkey) FROM t";
        assert_eq!(rewritten(sql), sql);
    }
}
