//! Rewrites of PostgreSQL calls DataFusion cannot plan as written, before
//! planning:
//!
//! * `make_interval(days => 10)`: named arguments become positional ones,
//!   the missing ones 0 (DataFusion's functions take no names).
//! * `regexp_split_to_table(s, pattern[, flags])`, PostgreSQL's
//!   set-returning split: rewritten to
//!   `unnest(regexp_split_to_array(s, pattern[, flags]))`, in the select
//!   list and in `FROM` alike, so it is the `unnest` Freshet already plans
//!   (and maintains) with the array function's one evaluation. In `FROM`
//!   its column keeps PostgreSQL's name (`regexp_split_to_table`, or the
//!   alias).

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};

use super::PlanError;

/// The set-returning function rewritten here.
const SPLIT_TO_TABLE: &str = "regexp_split_to_table";

/// A plain call `name(args)`, as the parser would build it.
pub(super) fn call(name: &str, args: Vec<FunctionArg>) -> Function {
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

/// `make_interval`'s parameters, in order.
const MAKE_INTERVAL_PARAMS: [&str; 7] =
    ["years", "months", "weeks", "days", "hours", "mins", "secs"];

/// `make_interval`'s arguments with the named ones put in their places.
fn positional_make_interval(args: &[FunctionArg]) -> Result<Vec<FunctionArg>, PlanError> {
    let mut slots: Vec<Option<FunctionArgExpr>> = vec![None; MAKE_INTERVAL_PARAMS.len()];
    let no_function = || {
        PlanError::UnknownFunction(format!(
            "make_interval({})",
            args.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let mut next = 0;
    for arg in args {
        let (name, value) = match arg {
            FunctionArg::Unnamed(v) => (None, v),
            FunctionArg::Named { name, arg, .. } => (Some(name.value.to_lowercase()), arg),
            FunctionArg::ExprNamed {
                name: Expr::Identifier(name),
                arg,
                ..
            } => (Some(name.value.to_lowercase()), arg),
            FunctionArg::ExprNamed { .. } => return Err(no_function()),
        };
        let duplicate = name.clone();
        let slot = match name {
            None => {
                next += 1;
                next - 1
            }
            Some(n) => MAKE_INTERVAL_PARAMS
                .iter()
                .position(|p| *p == n)
                .ok_or_else(no_function)?,
        };
        match slots.get_mut(slot) {
            Some(s @ None) => *s = Some(value.clone()),
            Some(Some(_)) if let Some(n) = duplicate => {
                return Err(PlanError::Planning(format!(
                    "argument name \"{n}\" used more than once"
                )));
            }
            _ => return Err(no_function()),
        }
    }
    let last = slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    Ok(slots
        .into_iter()
        .take(last)
        .enumerate()
        .map(|(i, s)| {
            FunctionArg::Unnamed(s.unwrap_or_else(|| {
                FunctionArgExpr::Expr(Expr::value(sqlparser::ast::Value::Number(
                    if i == 6 { "0.0" } else { "0" }.to_string(),
                    false,
                )))
            }))
        })
        .collect())
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = PlanError;

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<PlanError> {
        if let Expr::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case("make_interval")
            && let FunctionArguments::List(list) = &mut f.args
            && list
                .args
                .iter()
                .any(|a| !matches!(a, FunctionArg::Unnamed(_)))
        {
            match positional_make_interval(&list.args) {
                Ok(args) => list.args = args,
                Err(e) => return ControlFlow::Break(e),
            }
        }
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

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<PlanError> {
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

/// Rewrites the calls of `make_interval` and `regexp_split_to_table` in
/// `statement`.
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}
