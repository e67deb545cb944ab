//! Functions whose value belongs to the session, not to the data:
//! `version()`, `current_schema()` (also without parentheses),
//! `current_database()` and `current_catalog`, and `current_setting(name)`.
//! Drivers call them when they connect (SQLAlchemy asks for `version()` and
//! `current_schema()`, JDBC's `getSchema()` for `current_schema()`).
//!
//! In a one-shot query they are replaced by literals before planning, with
//! the session's values at that moment, as PostgreSQL evaluates them once
//! per statement. A view or materialized view has no session to read them
//! from, so they stay unknown functions there (as in Materialize, which
//! refuses them in materialized views).

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut,
};

use super::session::Session;
use crate::catalog::{Catalog, SearchPath};

/// What `version()` returns: PostgreSQL's shape (clients parse the version
/// after `PostgreSQL `), then Freshet's own.
pub fn version_string(server_version: &str) -> String {
    format!(
        "PostgreSQL {server_version} on x86_64-pc-linux-gnu (Freshet {})",
        env!("CARGO_PKG_VERSION")
    )
}

/// Replaces the session functions in `stmt` by their values.
pub fn substitute(stmt: &mut Statement, session: &Session, catalog: &Catalog) {
    let path = session.search_path();
    let mut rewrite = Rewrite {
        values: Some((session, catalog, &path)),
    };
    name_columns(stmt);
    let _ = stmt.visit(&mut rewrite);
}

/// Keeps the column names PostgreSQL gives a select list item that is one
/// of these calls (the function's name), which the literal replacing it
/// would otherwise change.
fn name_columns(stmt: &mut Statement) {
    let Statement::Query(query) = stmt else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    for item in select.projection.iter_mut() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let name = match expr {
            Expr::Function(f) => Rewrite::session_function(f),
            Expr::Identifier(Ident {
                value,
                quote_style: None,
                ..
            }) if matches!(
                value.to_lowercase().as_str(),
                "current_schema" | "current_catalog"
            ) =>
            {
                Some(value.to_lowercase())
            }
            _ => None,
        };
        if let Some(name) = name {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::new(name),
            };
        }
    }
}

/// Replaces the session functions in `stmt` by `text` values of no
/// consequence, for describing a statement's result columns (the extended
/// protocol's Describe, which has no session at hand): only their type
/// matters there.
pub fn substitute_for_describe(stmt: &mut Statement) {
    name_columns(stmt);
    let _ = stmt.visit(&mut Rewrite { values: None });
}

struct Rewrite<'a> {
    /// The session, its catalog and its path; `None` when describing.
    values: Option<(&'a Session, &'a Catalog, &'a SearchPath)>,
}

/// A `text` literal (`NULL::text` for `None`).
fn text(value: Option<String>) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(Expr::value(match value {
            Some(v) => Value::SingleQuotedString(v),
            None => Value::Null,
        })),
        data_type: DataType::Text,
        array: false,
        format: None,
    }
}

impl Rewrite<'_> {
    fn current_schema(&self) -> Expr {
        text(
            self.values
                .and_then(|(_, catalog, path)| catalog.show_schema(path, None).ok().flatten()),
        )
    }

    fn current_database(&self) -> Expr {
        text(self.values.map(|(_, _, path)| path.database.clone()))
    }

    /// The name of the session function `f` calls, if it calls one.
    fn session_function(f: &Function) -> Option<String> {
        let name = match f.name.0.as_slice() {
            [part] => part.as_ident()?.value.to_lowercase(),
            [schema, part] if schema.as_ident()?.value.eq_ignore_ascii_case("pg_catalog") => {
                part.as_ident()?.value.to_lowercase()
            }
            _ => return None,
        };
        matches!(
            name.as_str(),
            "version" | "current_schema" | "current_database" | "current_setting"
        )
        .then_some(name)
    }

    fn call(&self, f: &Function) -> Option<Expr> {
        let name = Self::session_function(f)?;
        let args: Vec<&FunctionArg> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => list.args.iter().collect(),
            FunctionArguments::Subquery(_) => return None,
        };
        match (name.as_str(), args.as_slice()) {
            ("version", []) => Some(text(Some(version_string(
                self.values
                    .and_then(|(session, _, _)| session.get("server_version").ok())
                    .unwrap_or("15.0.0"),
            )))),
            ("current_schema", []) => Some(self.current_schema()),
            ("current_database", []) => Some(self.current_database()),
            ("current_setting", [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))]) => {
                let Expr::Value(v) = arg else {
                    return None;
                };
                let Value::SingleQuotedString(setting) = &v.value else {
                    return None;
                };
                // An unknown setting (or a non-literal name) stays a call,
                // which fails as an unknown function (42883) where
                // PostgreSQL says "unrecognized configuration parameter"
                // (42704).
                match self.values {
                    Some((session, _, _)) => {
                        session.get(setting).ok().map(|v| text(Some(v.to_string())))
                    }
                    None => Some(text(None)),
                }
            }
            _ => None,
        }
    }
}

impl VisitorMut for Rewrite<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replacement = match expr {
            Expr::Function(f) => self.call(f),
            Expr::Identifier(Ident {
                value,
                quote_style: None,
                ..
            }) => match value.to_lowercase().as_str() {
                "current_schema" => Some(self.current_schema()),
                "current_catalog" => Some(self.current_database()),
                _ => None,
            },
            _ => None,
        };
        if let Some(r) = replacement {
            *expr = r;
        }
        ControlFlow::Continue(())
    }
}
