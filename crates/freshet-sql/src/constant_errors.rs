//! The errors PostgreSQL's planner raises while folding constants.
//!
//! PostgreSQL evaluates every call of an immutable function whose
//! arguments are all constants while planning
//! (`eval_const_expressions`), so `SELECT 1/0 FROM t WHERE false` and
//! `SELECT * FROM t WHERE a > 1/0` are `22012` on an empty table, and
//! `CASE WHEN a > 0 THEN 1/0 END` fails even where no row takes the
//! branch. Freshet evaluates expressions per row, and DataFusion's
//! optimizer drops a `WHERE false` branch unread, so [`check`] walks the
//! analyzed plan, before the optimizer, the way PostgreSQL folds:
//!
//! * the arguments of a call are folded before the call, and a call whose
//!   arguments all folded to constants is evaluated ([`foldable`] lists
//!   the immutable operators, casts and functions among Freshet's: those
//!   of numbers, strings and booleans);
//! * `CASE` drops a branch whose condition folds to false or NULL unread,
//!   and stops at one that folds to true; `coalesce` stops at its first
//!   non-null constant; `AND` stops at a constant false and `OR` at a
//!   constant true, reading the flattened arguments left to right;
//! * every other expression (columns, aggregates, subqueries, ...) is not
//!   a constant, but its arguments are folded.
//!
//! [`fold_strict_nulls`] does the folding PostgreSQL does that changes an
//! answer: a strict operator with a NULL constant operand is NULL without
//! evaluating the other operand (which may fail, or be a subquery of more
//! than one row).
//!
//! PostgreSQL does not plan what it throws away before folding: the
//! select list of an `EXISTS` subquery, the unreferenced output columns
//! of a subquery in `FROM` that it pulls up, and an unreferenced `WITH`
//! query. The select lists of `EXISTS` subqueries and of subqueries in
//! `FROM` (DataFusion's `SubqueryAlias` over a projection) are therefore
//! not checked: a referenced column there that fails is left to the
//! evaluation.

use std::cell::Cell;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion_expr::expr::{Alias, Case, Cast, InSubquery, ScalarFunction, SetComparison};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};

use crate::repr::Datum;

use super::PlanError;

thread_local! {
    /// Set by [`deferred`].
    static DEFERRED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a planning) without [`check`]: for `CREATE VIEW`, which
/// PostgreSQL does not plan (its reads fail instead), and for the replay
/// of a view created by a version that did not check.
pub fn deferred<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEFERRED.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DEFERRED.with(|d| d.replace(true)));
    f()
}

/// Raises the first error PostgreSQL's constant folding would raise while
/// planning `plan` (an analyzed plan: its types coerced).
pub fn check(plan: &LogicalPlan) -> Result<(), PlanError> {
    if DEFERRED.with(Cell::get) {
        return Ok(());
    }
    walk(plan, false)
}

/// Folds the expressions of `node` (unless `skip`: a select list
/// PostgreSQL throws away, see the module documentation) and of the plans
/// under it.
fn walk(node: &LogicalPlan, skip: bool) -> Result<(), PlanError> {
    if !skip {
        let empty = DFSchema::empty();
        let mut result = Ok(());
        let _ = node.apply_expressions(|e| {
            if let Err(err) = fold(e, &empty) {
                result = Err(err);
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        result?;
    }
    // A subquery in `FROM` (or a view, or a `WITH` query): its select
    // list is pulled up into the outer query, where only the referenced
    // columns are folded.
    let pulled_up = matches!(node, LogicalPlan::SubqueryAlias(_));
    for input in node.inputs() {
        walk(
            input,
            pulled_up && matches!(input, LogicalPlan::Projection(_)),
        )?;
    }
    Ok(())
}

/// PostgreSQL's folding of a strict operator with a NULL constant operand:
/// the call is NULL, its other operand not evaluated (`NULL::int > (SELECT
/// x FROM u)` reads no row of `u`, so it fails on no number of rows, and
/// `NULL::int + a / 0` fails on no row). The operators of numbers,
/// strings and booleans (arithmetic, comparisons, `||`) become a NULL of
/// their result type.
pub fn fold_strict_nulls(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| {
        let inputs = node.inputs();
        let [input] = inputs.as_slice() else {
            return Ok(Transformed::no(node));
        };
        let schema = input.schema().clone();
        // The output columns keep their names.
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let name = names.save(&e);
            Ok(e.transform_up(|x| strict_null(x, &schema))?
                .update_data(|e| name.restore(e)))
        })
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

fn strict_null(e: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let strict = folds(op);
    let typed = |x: &Expr| x.get_type(schema).is_ok_and(|t| plain_type(&t));
    if !strict || !typed(left) || !typed(right) || !(is_null(left) || is_null(right)) {
        return Ok(Transformed::no(e));
    }
    match e.get_type(schema) {
        Ok(t) if plain_type(&t) && t != DataType::Null => {
            let null = ScalarValue::try_from(&t)?;
            Ok(Transformed::yes(Expr::Literal(null, None)))
        }
        _ => Ok(Transformed::no(e)),
    }
}

/// A NULL constant: a NULL literal, or a cast of one.
fn is_null(e: &Expr) -> bool {
    match e {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(Cast { expr, .. }) | Expr::Alias(Alias { expr, .. }) => is_null(expr),
        _ => false,
    }
}

/// A folded expression: `Some` value where it is a constant.
type Folded = Option<Datum>;

/// Folds `e` as PostgreSQL does (see the module documentation), raising
/// an error the evaluation of a constant part raises.
fn fold(e: &Expr, schema: &DFSchema) -> Result<Folded, PlanError> {
    match e {
        Expr::Alias(Alias { expr, .. }) => fold(expr, schema),
        Expr::Literal(v, _) => Ok(literal(v)),
        Expr::BinaryExpr(BinaryExpr {
            op: op @ (Operator::And | Operator::Or),
            ..
        }) => fold_bool(e, *op, schema),
        // `EXISTS` reads no column of its subquery's select list.
        Expr::Exists(exists) => {
            walk(&exists.subquery.subquery, true)?;
            Ok(None)
        }
        Expr::ScalarSubquery(subquery) => {
            walk(&subquery.subquery, false)?;
            Ok(None)
        }
        Expr::InSubquery(InSubquery { expr, subquery, .. })
        | Expr::SetComparison(SetComparison { expr, subquery, .. }) => {
            fold(expr, schema)?;
            walk(&subquery.subquery, false)?;
            Ok(None)
        }
        Expr::Case(Case {
            expr: operand,
            when_then_expr,
            else_expr,
        }) => {
            // `CASE x WHEN v ...` tests `x = v`.
            let operand = match operand {
                Some(x) => Some((x, fold(x, schema)?.is_some())),
                None => None,
            };
            let mut all_false = true;
            for (when, then) in when_then_expr {
                let condition = match &operand {
                    None => fold(when, schema)?,
                    Some((x, constant)) => {
                        let value = fold(when, schema)?;
                        if *constant && value.is_some() {
                            fold(&x.as_ref().clone().eq(when.as_ref().clone()), schema)?
                        } else {
                            None
                        }
                    }
                };
                match condition {
                    Some(Datum::Bool(false) | Datum::Null) => continue,
                    Some(Datum::Bool(true)) if all_false => return fold(then, schema),
                    _ => {
                        all_false = false;
                        fold(then, schema)?;
                    }
                }
            }
            let result = match else_expr {
                Some(x) => fold(x, schema)?,
                None => Some(Datum::Null),
            };
            Ok(if all_false { result } else { None })
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "coalesce" => {
            let mut all_null = true;
            for a in args {
                match fold(a, schema)? {
                    Some(Datum::Null) => {}
                    Some(d) if all_null => return Ok(Some(d)),
                    Some(_) => return Ok(None),
                    None => all_null = false,
                }
            }
            Ok(all_null.then_some(Datum::Null))
        }
        _ => {
            let mut all_constant = true;
            let mut result = Ok(());
            let _ = e.apply_children(|child| {
                match fold(child, schema) {
                    Ok(Some(_)) => {}
                    Ok(None) => all_constant = false,
                    Err(err) => {
                        result = Err(err);
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            });
            result?;
            if !all_constant || !foldable(e, schema) {
                return Ok(None);
            }
            evaluate(e, schema)
        }
    }
}

/// `AND` (`op`) or `OR` over the flattened arguments of `e`, left to
/// right, stopping at the value that decides it.
fn fold_bool(e: &Expr, op: Operator, schema: &DFSchema) -> Result<Folded, PlanError> {
    let mut args = Vec::new();
    flatten(e, op, &mut args);
    let (decides, other) = if op == Operator::And {
        (Datum::Bool(false), Datum::Bool(true))
    } else {
        (Datum::Bool(true), Datum::Bool(false))
    };
    let mut all_constant = true;
    let mut null = false;
    for a in args {
        match fold(a, schema)? {
            Some(d) if d == decides => return Ok(Some(d)),
            Some(Datum::Null) => null = true,
            Some(d) if d == other => {}
            _ => all_constant = false,
        }
    }
    Ok(all_constant.then_some(if null { Datum::Null } else { other }))
}

fn flatten<'a>(e: &'a Expr, op: Operator, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: o, right }) if *o == op => {
            flatten(left, op, out);
            flatten(right, op, out);
        }
        Expr::Alias(Alias { expr, .. }) => flatten(expr, op, out),
        e => out.push(e),
    }
}

/// A literal's value, if Freshet reads it.
fn literal(v: &ScalarValue) -> Folded {
    super::lower::lower_expr(&Expr::Literal(v.clone(), None), &DFSchema::empty())
        .ok()
        .and_then(|s| s.eval(&[]).ok())
}

/// The types whose operators, casts and functions PostgreSQL folds
/// (immutable ones): numbers, strings and booleans.
fn plain_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Boolean
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Null
    )
}

/// The operators PostgreSQL folds over constants (all strict: NULL in,
/// NULL out).
fn folds(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Plus
            | Operator::Minus
            | Operator::Multiply
            | Operator::Divide
            | Operator::Modulo
            | Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::StringConcat
    )
}

/// Whether `e`, whose arguments are constants, is an immutable operator,
/// cast or function PostgreSQL evaluates while planning.
fn foldable(e: &Expr, schema: &DFSchema) -> bool {
    let typed = |x: &Expr| x.get_type(schema).is_ok_and(|t| plain_type(&t));
    // `make_date` makes a `date` of numbers.
    let typed_result = |x: &Expr| {
        x.get_type(schema)
            .is_ok_and(|t| plain_type(&t) || t == DataType::Date32)
    };
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            folds(op) && typed(left) && typed(right) && typed(e)
        }
        Expr::Negative(x) | Expr::Not(x) => typed(x) && typed(e),
        Expr::Cast(Cast { expr, .. }) => typed(expr) && typed(e),
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            matches!(
                func.name(),
                "abs"
                    | "sqrt"
                    | "cbrt"
                    | "ln"
                    | "log"
                    | "log10"
                    | "exp"
                    | "power"
                    | "pow"
                    | "mod"
                    | "div"
                    | "factorial"
                    | "gcd"
                    | "lcm"
                    | "nullif"
                    | "greatest"
                    | "least"
                    | "repeat"
                    | "lpad"
                    | "rpad"
                    | "chr"
                    | "substr"
                    | "left"
                    | "right"
                    | "make_date"
            ) && args.iter().all(typed)
                && typed_result(e)
        }
        _ => false,
    }
}

/// The value of `e`, whose arguments are constants; an error of the
/// evaluation is PostgreSQL's planning error, unless it is one of
/// Freshet's own (`XX000`), which is left to the evaluation.
fn evaluate(e: &Expr, schema: &DFSchema) -> Result<Folded, PlanError> {
    let Ok(lowered) = super::lower::lower_expr(e, schema) else {
        return Ok(None);
    };
    match lowered.eval(&[]) {
        Ok(d) => Ok(Some(d)),
        Err(err) if err.code() == crate::repr::SqlState::INTERNAL_ERROR => Ok(None),
        Err(err) => Err(PlanError::from_eval(err)),
    }
}
