//! Aggregate calls that differ only by casts (`sum(y::int8), sum(y::int2)`).
//!
//! DataFusion names an expression without its casts, so both calls above
//! are `sum(t.y)`, and the aggregate that computes them fails with a
//! duplicate name (apache/datafusion#18975), although PostgreSQL answers
//! them. When planning fails so, [`distinguish`] wraps the cast arguments
//! of the second and later such calls in `CASE WHEN true THEN ... END`
//! (once for the second, twice for the third, ...): the same value of the
//! same type, under a name of its own.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    CaseWhen, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value,
    VisitMut, VisitorMut,
};

/// Rewrites `statement` so that the calls of aggregates (`is_aggregate`)
/// that differ only by casts have names of their own; `false` if there
/// were none.
pub fn distinguish(statement: &mut Statement, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    let mut pass = Distinguish {
        is_aggregate,
        groups: BTreeMap::new(),
        changed: false,
    };
    let _ = statement.visit(&mut pass);
    pass.changed
}

struct Distinguish<'a> {
    is_aggregate: &'a dyn Fn(&str) -> bool,
    /// Per call without its casts: the calls as written, in the order met
    /// (a call's place is how many times its cast arguments are wrapped).
    groups: BTreeMap<String, Vec<String>>,
    changed: bool,
}

/// `e` without its casts, as text.
fn without_casts(e: &Expr) -> String {
    struct Strip;
    impl VisitorMut for Strip {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr, .. } = e {
                *e = (**expr).clone();
            }
            ControlFlow::Continue(())
        }
    }
    let mut e = e.clone();
    let _ = e.visit(&mut Strip);
    e.to_string()
}

/// `CASE WHEN true THEN e END`.
fn wrapped(e: Expr) -> Expr {
    Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition: Expr::Value(Value::Boolean(true).into()),
            result: e,
        }],
        else_result: None,
    }
}

impl Distinguish<'_> {
    fn call(&mut self, f: &mut Function) {
        let name = f.name.to_string().to_lowercase();
        if !(self.is_aggregate)(&name) {
            return;
        }
        let FunctionArguments::List(list) = &mut f.args else {
            return;
        };
        let casts = |list: &sqlparser::ast::FunctionArgumentList| {
            list.args.iter().any(|a| {
                matches!(
                    a,
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Cast { .. }))
                )
            })
        };
        if !casts(list) {
            return;
        }
        let call = Expr::Function(f.clone());
        let (key, written) = (without_casts(&call), call.to_string());
        let seen = self.groups.entry(key).or_default();
        let place = match seen.iter().position(|w| *w == written) {
            Some(p) => p,
            None => {
                seen.push(written);
                seen.len() - 1
            }
        };
        if place == 0 {
            return;
        }
        let FunctionArguments::List(list) = &mut f.args else {
            return;
        };
        for a in &mut list.args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e @ Expr::Cast { .. })) = a {
                let mut x = e.clone();
                for _ in 0..place {
                    x = wrapped(x);
                }
                *e = x;
                self.changed = true;
            }
        }
    }
}

impl VisitorMut for Distinguish<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            self.call(f);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> (bool, String) {
        let mut stmts =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .expect("parses");
        let changed = distinguish(&mut stmts[0], &|n| n == "sum" || n == "max");
        (changed, stmts[0].to_string())
    }

    #[test]
    fn later_calls_that_differ_by_casts_are_wrapped() {
        assert_eq!(
            rewritten("SELECT sum(y::INT8), sum(y::INT2), sum(y::INT8), max(y) FROM t"),
            (
                true,
                "SELECT sum(y::INT8), sum(CASE WHEN true THEN y::INT2 END), sum(y::INT8), \
                 max(y) FROM t"
                    .to_string()
            )
        );
        assert_eq!(
            rewritten("SELECT max(y::INT8), max(y::INT4), max(y::INT2) FROM t").1,
            "SELECT max(y::INT8), max(CASE WHEN true THEN y::INT4 END), \
             max(CASE WHEN true THEN CASE WHEN true THEN y::INT2 END END) FROM t"
        );
        // Not an aggregate, or no cast: unchanged.
        assert!(!rewritten("SELECT lower(y::TEXT), lower(y::VARCHAR), sum(y) FROM t").0);
    }
}
