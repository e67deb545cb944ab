//! `ARRAY[]` has no element type of its own: PostgreSQL takes it from a
//! cast around it (`ARRAY[]::integer[]`, also through nested `ARRAY[...]`
//! and parentheses) and refuses it anywhere else with `42P18`. Freshet's
//! planner would give it a `text[]` type, so [`check_empty_arrays`] refuses
//! the same statements before planning.

use std::ops::ControlFlow;

use sqlparser::ast::{DataType, Expr, Statement, Visit, Visitor};

use super::PlanError;

/// Fails with `42P18` if `statement` has an `ARRAY[]` whose type no
/// enclosing cast to an array type gives.
pub fn check_empty_arrays(statement: &Statement) -> Result<(), PlanError> {
    /// Per enclosing expression, innermost last: whether an array cast
    /// types it (a cast to an array type, passed down through `ARRAY[...]`
    /// and parentheses).
    #[derive(Default)]
    struct Check {
        typed: Vec<bool>,
    }
    impl Visitor for Check {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let inherited = self.typed.last().copied().unwrap_or(false);
            let typed = match e {
                Expr::Cast { data_type, .. } => matches!(data_type, DataType::Array(_)),
                Expr::Array(array) => {
                    if array.elem.is_empty() && !inherited {
                        return ControlFlow::Break(());
                    }
                    inherited
                }
                Expr::Nested(_) => inherited,
                _ => false,
            };
            self.typed.push(typed);
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _e: &Expr) -> ControlFlow<()> {
            self.typed.pop();
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Check::default()) {
        ControlFlow::Break(()) => Err(PlanError::IndeterminateType(
            "cannot determine type of empty array".into(),
        )),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> Result<(), String> {
        let statement =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .expect("parses")
                .remove(0);
        check_empty_arrays(&statement).map_err(|e| e.to_string())
    }

    /// PostgreSQL 15's answers.
    #[test]
    fn empty_arrays_need_a_cast() {
        for ok in [
            "SELECT ARRAY[]::int[]",
            "SELECT CAST(ARRAY[] AS text[])",
            "SELECT (ARRAY[])::int[]",
            "SELECT ARRAY[ARRAY[]]::int[]",
            "SELECT ARRAY[1, 2]",
            "SELECT ARRAY[]::int[] || ARRAY[1]",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "SELECT ARRAY[]",
            "SELECT array_length(ARRAY[], 1)",
            "INSERT INTO t VALUES (ARRAY[])",
            "SELECT ARRAY[]::int[] || ARRAY[]",
            "SELECT CAST(ARRAY[] AS int)",
        ] {
            assert_eq!(
                check(bad),
                Err("cannot determine type of empty array".into()),
                "{bad}"
            );
        }
    }
}
