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

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectNamePart, Statement, Subscript, VisitMut, VisitorMut,
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
    let _ = stmt.visit(&mut Rewrite);
}

/// The element type of the vector column `e` names, if it names one.
fn vector_column(e: &Expr) -> Option<&'static str> {
    let name = match e {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(parts) => parts.last()?,
        Expr::Nested(inner) => return vector_column(inner),
        _ => return None,
    };
    if name.quote_style.is_some() {
        return None;
    }
    let lower = name.value.to_lowercase();
    VECTOR_COLUMNS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, t)| *t)
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

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
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
    fn other_queries_are_left_alone() {
        let sql = "SELECT unnest(t.indkey) FROM t";
        assert_eq!(rewritten(sql), sql);
    }
}
