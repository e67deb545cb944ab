//! `ROW(a, b)`, PostgreSQL's explicit row constructor, is the row `(a, b)`.
//!
//! The parser reads `ROW(a, b)` as a call of a function `row`. Before the
//! row comparisons are expanded (`row_compare`, `row_in_subquery`), such a
//! call of two or more plain arguments becomes the parenthesised list
//! `(a, b)`, so `ROW(a, b) = ROW(1, 2)` is compared field by field.
//! Elsewhere it is what `(a, b)` is: the array of its fields as a key
//! (`count(DISTINCT (a, b))`, `lower.rs::row_value`), refused (`0A000`) as
//! a result column.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, VisitMut, VisitorMut,
};

/// Rewrites the `ROW(...)` calls of `statement` (see the module docs).
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Some(items) = row_fields(e) {
            *e = Expr::Tuple(items);
        }
        ControlFlow::Continue(())
    }
}

fn row_fields(e: &Expr) -> Option<Vec<Expr>> {
    let Expr::Function(f) = e else {
        return None;
    };
    let [part] = &f.name.0[..] else {
        return None;
    };
    let ident = part.as_ident()?;
    if ident.quote_style.is_some() || !ident.value.eq_ignore_ascii_case("row") {
        return None;
    }
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() || list.args.len() < 2 {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x.clone()),
            _ => None,
        })
        .collect()
}
