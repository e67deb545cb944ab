//! Comparisons of floating-point values with `numeric`s, and `IN` lists
//! that mix them, typed as PostgreSQL types them.
//!
//! PostgreSQL has no operator comparing `real` or `double precision` with
//! `numeric`: the `numeric` is cast to `double precision` (implicitly, the
//! preferred type of the category), so `0.1::real = 0.1` compares
//! `0.10000000149011612` with `0.1` and is false, as is
//! `0.1::float8 + 0.2::float8 = 0.3`. DataFusion's coercion prefers
//! `numeric` (`Decimal128`) to floating point and compares both as
//! decimals of a few digits, where these are true. Before coercion, this
//! rewrite casts both sides of such a comparison (`=`, `<>`, `<`, ...,
//! `IS [NOT] DISTINCT FROM`, `BETWEEN`) to `double precision`.
//!
//! `x IN (a, b)` is resolved to one type for `x` and every item, the common
//! type of them all: among numbers, `double precision` if one of them is,
//! else `real` if one of them is (integers and `numeric` cast to both
//! implicitly, they cast to neither), so `0.1::real IN (0.1)` is true. The
//! operands of such a list are cast to that type.

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr::{Between, InList};
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::{BinaryExpr, Expr, ExprSchemable, Operator, cast};

/// The rewrite (see the module documentation), applied by DataFusion's
/// analyzer to every expression before type coercion.
#[derive(Debug)]
pub struct FloatCompare;

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

fn is_decimal(t: &DataType) -> bool {
    matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

/// Number types that take the floating-point type of the others in a list.
fn becomes_float(t: &DataType) -> bool {
    is_decimal(t)
        || matches!(
            t,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null
        )
}

fn is_comparison(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// `e` as `double precision`, unless it already is.
fn as_double(e: &Expr, t: &DataType) -> Expr {
    if *t == DataType::Float64 {
        e.clone()
    } else {
        cast(e.clone(), DataType::Float64)
    }
}

impl FunctionRewrite for FloatCompare {
    fn name(&self) -> &str {
        "freshet_float_compare"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        // A type that cannot be derived here is left to the coercion that
        // follows, which reports it.
        match &expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
                let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
                    return Ok(Transformed::no(expr));
                };
                if !((is_float(&lt) && is_decimal(&rt)) || (is_decimal(&lt) && is_float(&rt))) {
                    return Ok(Transformed::no(expr));
                }
                Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(as_double(left, &lt)),
                    *op,
                    Box::new(as_double(right, &rt)),
                ))))
            }
            Expr::Between(Between {
                expr: x,
                negated,
                low,
                high,
            }) => {
                let types: Vec<DataType> = match [x, low, high]
                    .iter()
                    .map(|e| e.get_type(schema))
                    .collect::<DfResult<_>>()
                {
                    Ok(types) => types,
                    Err(_) => return Ok(Transformed::no(expr)),
                };
                // `x BETWEEN a AND b` is `x >= a AND x <= b`: each
                // comparison pairs `x` with a bound.
                let mixed = |b: &DataType| {
                    (is_float(&types[0]) && is_decimal(b)) || (is_decimal(&types[0]) && is_float(b))
                };
                if !mixed(&types[1]) && !mixed(&types[2]) {
                    return Ok(Transformed::no(expr));
                }
                let numeric = |t: &DataType| is_float(t) || becomes_float(t);
                if !types.iter().all(numeric) {
                    return Ok(Transformed::no(expr));
                }
                Ok(Transformed::yes(Expr::Between(Between::new(
                    Box::new(as_double(x, &types[0])),
                    *negated,
                    Box::new(as_double(low, &types[1])),
                    Box::new(as_double(high, &types[2])),
                ))))
            }
            Expr::InList(InList {
                expr: x,
                list,
                negated,
            }) => {
                let types: Vec<DataType> = match std::iter::once(x.as_ref())
                    .chain(list)
                    .map(|e| e.get_type(schema))
                    .collect::<DfResult<_>>()
                {
                    Ok(types) => types,
                    Err(_) => return Ok(Transformed::no(expr)),
                };
                let target = if types.contains(&DataType::Float64) {
                    DataType::Float64
                } else if types.contains(&DataType::Float32) {
                    DataType::Float32
                } else {
                    return Ok(Transformed::no(expr));
                };
                if types.iter().all(|t| *t == target)
                    || !types.iter().all(|t| is_float(t) || becomes_float(t))
                {
                    return Ok(Transformed::no(expr));
                }
                let as_float = |e: &Expr, t: &DataType| {
                    if *t == target {
                        e.clone()
                    } else {
                        cast(e.clone(), target.clone())
                    }
                };
                let x = as_float(x, &types[0]);
                let list = list
                    .iter()
                    .zip(&types[1..])
                    .map(|(e, t)| as_float(e, t))
                    .collect();
                Ok(Transformed::yes(Expr::InList(InList::new(
                    Box::new(x),
                    list,
                    *negated,
                ))))
            }
            _ => Ok(Transformed::no(expr)),
        }
    }
}
