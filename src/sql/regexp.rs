//! `regexp_split_to_table(s, pattern[, flags])`, PostgreSQL's
//! set-returning split: rewritten before planning to
//! `unnest(regexp_split_to_array(s, pattern[, flags]))`, in the select list
//! and in `FROM` alike, so it is the `unnest` Freshet already plans (and
//! maintains) with the array function's one evaluation. In `FROM` its
//! column keeps PostgreSQL's name (`regexp_split_to_table`, or the alias).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};

/// The set-returning function rewritten here.
const SPLIT_TO_TABLE: &str = "regexp_split_to_table";

fn call(name: &str, args: Vec<FunctionArg>) -> Function {
    Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }
}

/// `regexp_split_to_array(args)`, the argument of `unnest`.
fn split_array(args: Vec<FunctionArg>) -> Expr {
    Expr::Function(call("regexp_split_to_array", args))
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case(SPLIT_TO_TABLE)
            && f.over.is_none()
            && let FunctionArguments::List(list) = &f.args
        {
            let array = split_array(list.args.clone());
            *e = Expr::Function(call(
                "unnest",
                vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(array))],
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // `FROM f(...)` parses as a table with arguments, `LATERAL f(...)`
        // as a function.
        let (args, alias, with_ordinality) = match factor {
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                with_ordinality,
                ..
            } if name.to_string().eq_ignore_ascii_case(SPLIT_TO_TABLE) => {
                (args.args.clone(), alias.take(), *with_ordinality)
            }
            TableFactor::Function {
                name,
                args,
                alias,
                with_ordinality,
                ..
            } if name.to_string().eq_ignore_ascii_case(SPLIT_TO_TABLE) => {
                (std::mem::take(args), alias.take(), *with_ordinality)
            }
            _ => return ControlFlow::Continue(()),
        };
        let array = split_array(args);
        *factor = TableFactor::UNNEST {
            alias: Some(alias.unwrap_or(TableAlias {
                explicit: true,
                name: Ident::new(SPLIT_TO_TABLE),
                columns: vec![],
                at: None,
            })),
            array_exprs: vec![array],
            with_offset: false,
            with_offset_alias: None,
            with_ordinality,
        };
        ControlFlow::Continue(())
    }
}

/// Rewrites the calls of `regexp_split_to_table` in `statement`.
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}
