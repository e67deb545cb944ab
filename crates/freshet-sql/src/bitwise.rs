//! PostgreSQL's bitwise operators on `smallint`, `integer` and `bigint`:
//! `a & b`, `a | b`, `a # b` (exclusive or), `~a`, `a << n` and `a >> n`.
//!
//! * `&`, `|` and `#` take two integers and give the wider type (a
//!   `smallint` converts to `integer` implicitly), as DataFusion's own
//!   coercion does; [`BitwisePlanner`] only refuses other operand types
//!   with PostgreSQL's `42883`.
//! * `<<` and `>>` shift an integer by an `integer` count (`smallint`
//!   converts, `bigint` does not) and keep the shifted value's type, which
//!   DataFusion's coercion would widen: they are planned as marker calls.
//! * `~a` is a prefix operator DataFusion's SQL planner refuses: before
//!   planning, [`rewrite`] turns it into a marker call with the operand's
//!   type.
//!
//! The results are PostgreSQL's on the machines it runs on: shifts count
//! modulo the width (`1 << 32` is 1, `1 << -1` the sign bit), a `smallint`
//! shifts as an `integer` and keeps the low 16 bits (`crate::expr::bitwise`).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::{DFSchema, DataFusionError, Result as DfResult, not_impl_err};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use sqlparser::ast::{self, BinaryOperator, Statement, UnaryOperator, VisitMut, VisitorMut};

use crate::expr::ScalarExpr;
use crate::expr::func::{BinaryFunc, UnaryFunc};

use super::PlanError;

/// The marker for `a << n`.
const SHIFT_LEFT: &str = "freshet_shift_left";
/// The marker for `a >> n`.
const SHIFT_RIGHT: &str = "freshet_shift_right";
/// The marker for `~a`.
const NOT: &str = "freshet_bit_not";

/// A marker function for a bitwise operator whose result has the type of
/// its first operand.
#[derive(Debug, PartialEq, Eq, Hash)]
struct BitwiseUdf {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for BitwiseUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            // The planner chose the shifts' operand types already.
            [_, _] => Ok(arg_types.to_vec()),
            [DataType::Null] => Ok(vec![DataType::Int32]),
            [t] if is_int(t) => Ok(vec![t.clone()]),
            [t] => Err(undefined(format!("~ {}", type_name(t)))),
            _ => not_impl_err!("{} takes one or two arguments", self.name),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match arg_types.first() {
            Some(DataType::Null) | None => DataType::Int32,
            Some(t) => t.clone(),
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

fn udf(name: &'static str) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(BitwiseUdf {
        name,
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

/// The marker functions, for the planner's registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![udf(SHIFT_LEFT), udf(SHIFT_RIGHT), udf(NOT)]
}

fn is_int(t: &DataType) -> bool {
    matches!(t, DataType::Int16 | DataType::Int32 | DataType::Int64)
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Null => "unknown".to_string(),
        t => crate::repr::ScalarType::from_arrow(t).map_or_else(|_| t.to_string(), |t| t.name()),
    }
}

fn undefined(operator: String) -> DataFusionError {
    DataFusionError::External(Box::new(PlanError::UndefinedOperator(operator)))
}

/// Plans `&`, `|`, `#`, `<<` and `>>` (see the module docs).
#[derive(Debug, Default)]
pub struct BitwisePlanner;

impl ExprPlanner for BitwisePlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let shift = match expr.op {
            BinaryOperator::PGBitwiseShiftLeft => Some(SHIFT_LEFT),
            BinaryOperator::PGBitwiseShiftRight => Some(SHIFT_RIGHT),
            BinaryOperator::BitwiseAnd
            | BinaryOperator::BitwiseOr
            | BinaryOperator::PGBitwiseXor => None,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let (Ok(lt), Ok(rt)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let int_or_null = |t: &DataType| is_int(t) || *t == DataType::Null;
        if !int_or_null(&lt) || !int_or_null(&rt) {
            return Err(undefined(format!(
                "{} {} {}",
                type_name(&lt),
                expr.op,
                type_name(&rt)
            )));
        }
        let Some(name) = shift else {
            return Ok(PlannerResult::Original(expr));
        };
        if rt == DataType::Int64 {
            return Err(undefined(format!(
                "{} {} {}",
                type_name(&lt),
                expr.op,
                type_name(&rt)
            )));
        }
        let int4 = |e: Expr, t: &DataType| match t {
            DataType::Int32 => e,
            _ => Expr::Cast(Cast::new(Box::new(e), DataType::Int32)),
        };
        let left = int4_if_null(expr.left, &lt);
        let right = int4(expr.right, &rt);
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf(name), vec![left, right]),
        )))
    }
}

/// An untyped NULL shifted is an `integer` NULL.
fn int4_if_null(e: Expr, t: &DataType) -> Expr {
    match t {
        DataType::Null => Expr::Cast(Cast::new(Box::new(e), DataType::Int32)),
        _ => e,
    }
}

/// Rewrites `~a` into the marker call (see the module docs).
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut ast::Expr) -> ControlFlow<()> {
        if let ast::Expr::UnaryOp {
            op: UnaryOperator::BitwiseNot,
            expr: operand,
        } = expr
        {
            let operand = std::mem::replace(operand.as_mut(), ast::Expr::value(ast::Value::Null));
            let arg = ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(operand));
            *expr = ast::Expr::Function(super::pg_rewrite::call(NOT, vec![arg]));
        }
        ControlFlow::Continue(())
    }
}

/// Lowers a call of a bitwise marker, `None` for other functions.
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    match (name, args) {
        (SHIFT_LEFT, [a, n]) => Some(a.clone().call_binary(n.clone(), BinaryFunc::ShiftLeft)),
        (SHIFT_RIGHT, [a, n]) => Some(a.clone().call_binary(n.clone(), BinaryFunc::ShiftRight)),
        (NOT, [a]) => Some(a.clone().call_unary(UnaryFunc::BitNot)),
        _ => None,
    }
}
