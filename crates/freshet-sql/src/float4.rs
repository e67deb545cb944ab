//! PostgreSQL's arithmetic between `real` and another number type is done
//! in `double precision`.
//!
//! PostgreSQL has `real + real` and `real + double precision` operators but
//! no `real + integer` or `real + numeric`: the integer or numeric operand is
//! implicitly cast to `double precision` (the preferred numeric type), so
//! `0.1::real + 1` is `1.100000001490116` of type `double precision`.
//! DataFusion's coercion instead computes in `Float32`. Before coercion,
//! this rewrite casts the `real` operand of such arithmetic to `Float64`;
//! DataFusion's coercion then widens the other operand to match.
//!
//! Comparisons already agree with PostgreSQL (both compare in double
//! precision), and an untyped string literal stays `real`, as in
//! PostgreSQL, because DataFusion types it as text here.

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::{BinaryExpr, Expr, ExprSchemable, Operator, cast};

/// The rewrite (see the module documentation), applied by DataFusion's
/// analyzer to every expression before type coercion.
#[derive(Debug)]
pub struct Float4Arithmetic;

fn is_arithmetic(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide
    )
}

/// Number types that PostgreSQL casts to `double precision` when they meet
/// a `real` in arithmetic.
fn widens_real(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    )
}

impl FunctionRewrite for Float4Arithmetic {
    fn name(&self) -> &str {
        "freshet_float4_arithmetic"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
            return Ok(Transformed::no(expr));
        };
        if !is_arithmetic(op) {
            return Ok(Transformed::no(expr));
        }
        // A type that cannot be derived here is left to the coercion that
        // follows, which reports it.
        let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
            return Ok(Transformed::no(expr));
        };
        let widen = |side: &Expr, t: &DataType, other: &DataType| {
            if *t == DataType::Float32 && widens_real(other) {
                cast(side.clone(), DataType::Float64)
            } else {
                side.clone()
            }
        };
        if (lt == DataType::Float32 && widens_real(&rt))
            || (rt == DataType::Float32 && widens_real(&lt))
        {
            let left = widen(left, &lt, &rt);
            let right = widen(right, &rt, &lt);
            return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(left),
                *op,
                Box::new(right),
            ))));
        }
        Ok(Transformed::no(expr))
    }
}
