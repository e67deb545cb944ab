//! PostgreSQL's `date` arithmetic with integers: `date + integer`,
//! `integer + date` and `date - integer` (a `date`, days later or
//! earlier), and `date - date` (the `integer` number of days between);
//! `date ± interval` is typed `timestamp`, as in PostgreSQL; `date + time`
//! is a `timestamp`, and `time - time` and `timestamp - timestamp` are
//! `interval`s.
//!
//! DataFusion's coercion casts the integer to an `interval` (which
//! PostgreSQL has no cast for) and types `date - date` as an interval. The
//! [`DatePlanner`] plans these operators, when DataFusion's planner meets
//! them with these operand types, as marker calls with PostgreSQL's result
//! types; [`lower_call`] evaluates them with Freshet's `+` and `-`, which
//! take these operands directly.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::{DFSchema, DataFusionError, Result as DfResult, not_impl_err};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use sqlparser::ast::BinaryOperator;

use crate::expr::ScalarExpr;
use crate::expr::func::BinaryFunc;

use super::PlanError;

/// The marker for `date + integer` and `integer + date`.
const ADD: &str = "freshet_date_add";
/// The marker for `date - integer` and `date - date`.
const SUB: &str = "freshet_date_sub";

/// A marker function for date arithmetic.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateArithUdf {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for DateArithUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // The planner chose the operands' types already.
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match arg_types {
            [DataType::Date32, DataType::Date32] => DataType::Int32,
            [DataType::Date32, DataType::Time64(_)] | [DataType::Time64(_), DataType::Date32] => {
                crate::repr::ScalarType::Timestamp(None).to_arrow()
            }
            [DataType::Time64(_), DataType::Time64(_)]
            | [DataType::Timestamp(..), DataType::Timestamp(..)] => {
                crate::repr::ScalarType::INTERVAL.to_arrow()
            }
            _ => DataType::Date32,
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

fn udf(name: &'static str) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(DateArithUdf {
        name,
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

/// Plans `date ± integer` and `date - date` with PostgreSQL's types.
#[derive(Debug, Default)]
pub struct DatePlanner;

/// PostgreSQL's `date + integer` takes `integer`; `smallint` converts to it
/// implicitly, `bigint` does not (the operator does not exist).
fn as_int4(e: Expr, t: &DataType) -> Option<Expr> {
    match t {
        DataType::Int32 => Some(e),
        DataType::Int8 | DataType::Int16 => {
            Some(Expr::Cast(Cast::new(Box::new(e), DataType::Int32)))
        }
        _ => None,
    }
}

/// A `date` as the `timestamp` at its midnight.
fn as_timestamp(e: Expr) -> Expr {
    Expr::Cast(Cast::new(
        Box::new(e),
        crate::repr::ScalarType::Timestamp(None).to_arrow(),
    ))
}

/// PostgreSQL's error for an operator its operand types have none of.
fn no_operator<T>(op: &BinaryOperator, left: &DataType, right: &DataType) -> DfResult<T> {
    let name = |t: &DataType| {
        crate::repr::ScalarType::from_arrow(t).map_or_else(|_| t.to_string(), |t| t.name())
    };
    Err(DataFusionError::External(Box::new(
        PlanError::UndefinedOperator(format!("{} {op} {}", name(left), name(right))),
    )))
}

impl ExprPlanner for DatePlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        if !matches!(expr.op, BinaryOperator::Plus | BinaryOperator::Minus) {
            return Ok(PlannerResult::Original(expr));
        }
        let (Ok(lt), Ok(rt)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let plus = expr.op == BinaryOperator::Plus;
        let call = |name, args| {
            Ok(PlannerResult::Planned(Expr::ScalarFunction(
                ScalarFunction::new_udf(udf(name), args),
            )))
        };
        match (&lt, &rt) {
            (DataType::Date32, DataType::Date32) if !plus => call(SUB, vec![expr.left, expr.right]),
            // `date + time` is the `timestamp`; `time - time` the
            // `interval` between.
            (DataType::Date32, DataType::Time64(_)) | (DataType::Time64(_), DataType::Date32)
                if plus =>
            {
                call(ADD, vec![expr.left, expr.right])
            }
            (DataType::Time64(_), DataType::Time64(_)) if !plus => {
                call(SUB, vec![expr.left, expr.right])
            }
            // `timestamp - timestamp` is an `interval` (DataFusion's is a
            // duration, which no interval function takes); a `timestamp`
            // or `date` beside a `timestamptz` converts to one, a `date`
            // beside a `timestamp` to that.
            (DataType::Timestamp(..) | DataType::Date32, DataType::Timestamp(..))
            | (DataType::Timestamp(..), DataType::Date32)
                if !plus =>
            {
                let target = if [&lt, &rt]
                    .iter()
                    .any(|t| matches!(t, DataType::Timestamp(_, Some(_))))
                {
                    crate::repr::ScalarType::TimestampTz(None).to_arrow()
                } else {
                    crate::repr::ScalarType::Timestamp(None).to_arrow()
                };
                let to = |e: Expr, t: &DataType| {
                    if *t == target {
                        e
                    } else {
                        Expr::Cast(Cast::new(Box::new(e), target.clone()))
                    }
                };
                call(SUB, vec![to(expr.left, &lt), to(expr.right, &rt)])
            }
            (DataType::Date32, t) if t.is_integer() => match as_int4(expr.right.clone(), t) {
                Some(n) => call(if plus { ADD } else { SUB }, vec![expr.left, n]),
                None => no_operator(&expr.op, &lt, &rt),
            },
            (t, DataType::Date32) if plus && t.is_integer() => {
                match as_int4(expr.left.clone(), t) {
                    Some(n) => call(ADD, vec![n, expr.right]),
                    None => no_operator(&expr.op, &lt, &rt),
                }
            }
            // `date ± interval` is a `timestamp` in PostgreSQL (the date is
            // midnight); DataFusion types it `date`.
            (DataType::Date32, DataType::Interval(_)) => {
                Ok(PlannerResult::Original(RawBinaryExpr {
                    left: as_timestamp(expr.left),
                    ..expr
                }))
            }
            (DataType::Interval(_), DataType::Date32) if plus => {
                Ok(PlannerResult::Original(RawBinaryExpr {
                    right: as_timestamp(expr.right),
                    ..expr
                }))
            }
            // PostgreSQL has no `date ± numeric` or `date ± float`.
            (DataType::Date32, t) | (t, DataType::Date32) if t.is_numeric() => {
                no_operator(&expr.op, &lt, &rt)
            }
            _ => Ok(PlannerResult::Original(expr)),
        }
    }
}

/// Lowers a call of a date arithmetic marker, `None` for other functions.
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    let func = match name {
        ADD => BinaryFunc::Add,
        SUB => BinaryFunc::Sub,
        _ => return None,
    };
    match args {
        [a, b] => Some(a.clone().call_binary(b.clone(), func)),
        _ => None,
    }
}
