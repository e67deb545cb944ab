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
//! operands of such a list are cast to that type. The branches of `CASE`,
//! `coalesce`, `greatest` and `least` are resolved alike
//! ([`float_common_type`]: `CASE WHEN c THEN 1.5::float8 ELSE 2.5 END` is
//! a `double precision`), and the elements of `ARRAY[...]`; `UNION` and
//! `VALUES` columns, by [`super::float_unify`]. `nullif(a, b)` with a
//! floating-point `a` compares `b` in `a`'s type.

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr::{Between, Case, InList, ScalarFunction};
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

/// The type PostgreSQL resolves numbers of `types` to where they meet in
/// one column or result (`UNION`, `CASE`, `VALUES`, `coalesce`, `IN`
/// lists; docs §10.5), when DataFusion's would differ: among numbers,
/// `double precision` if one of them is, else `real` if one of them is
/// (integers and `numeric` cast to both implicitly, neither casts to
/// `numeric`). `None` if no type is floating point, some type is not a
/// number, or all are already the floating-point type.
pub fn float_common_type(types: &[DataType]) -> Option<DataType> {
    let target = if types.contains(&DataType::Float64) {
        DataType::Float64
    } else if types.contains(&DataType::Float32) {
        DataType::Float32
    } else {
        return None;
    };
    if types.iter().all(|t| *t == target) || !types.iter().all(|t| is_float(t) || becomes_float(t))
    {
        return None;
    }
    Some(target)
}

/// `e` (of type `t`) as `target`, unless it already is.
pub fn cast_to(e: &Expr, t: &DataType, target: &DataType) -> Expr {
    if t == target {
        e.clone()
    } else {
        cast(e.clone(), target.clone())
    }
}

/// The types of the branches of a `CASE` or `coalesce`, and the
/// floating-point type they resolve to ([`float_common_type`]).
fn branch_types<'a>(
    branches: impl Iterator<Item = &'a Expr>,
    schema: &DFSchema,
) -> Option<(Vec<DataType>, DataType)> {
    let types: Vec<DataType> = branches
        .map(|e| e.get_type(schema))
        .collect::<DfResult<_>>()
        .ok()?;
    let target = float_common_type(&types)?;
    Some((types, target))
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
                let Some(target) = float_common_type(&types) else {
                    return Ok(Transformed::no(expr));
                };
                let x = cast_to(x, &types[0], &target);
                let list = list
                    .iter()
                    .zip(&types[1..])
                    .map(|(e, t)| cast_to(e, t, &target))
                    .collect();
                Ok(Transformed::yes(Expr::InList(InList::new(
                    Box::new(x),
                    list,
                    *negated,
                ))))
            }
            Expr::Case(Case {
                expr: operand,
                when_then_expr,
                else_expr,
            }) => {
                let branches = when_then_expr
                    .iter()
                    .map(|(_, then)| then.as_ref())
                    .chain(else_expr.as_deref());
                let Some((types, target)) = branch_types(branches, schema) else {
                    return Ok(Transformed::no(expr));
                };
                let mut types = types.into_iter();
                let when_then_expr = when_then_expr
                    .iter()
                    .map(|(when, then)| {
                        let t = types.next().unwrap_or(DataType::Null);
                        (when.clone(), Box::new(cast_to(then, &t, &target)))
                    })
                    .collect();
                let else_expr = else_expr.as_ref().map(|e| {
                    let t = types.next().unwrap_or(DataType::Null);
                    Box::new(cast_to(e, &t, &target))
                });
                Ok(Transformed::yes(Expr::Case(Case::new(
                    operand.clone(),
                    when_then_expr,
                    else_expr,
                ))))
            }
            // `array` is `ARRAY[...]` (`sql::array`).
            Expr::ScalarFunction(ScalarFunction { func, args })
                if matches!(func.name(), "coalesce" | "greatest" | "least" | "array") =>
            {
                let Some((types, target)) = branch_types(args.iter(), schema) else {
                    return Ok(Transformed::no(expr));
                };
                let args = args
                    .iter()
                    .zip(&types)
                    .map(|(e, t)| cast_to(e, t, &target))
                    .collect();
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                    func: func.clone(),
                    args,
                })))
            }
            // `nullif(a, b)` is `a`'s type, compared as `a = b`: a
            // floating-point `a` meets `b` in its own type.
            Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == "nullif" => {
                let [a, b] = args.as_slice() else {
                    return Ok(Transformed::no(expr));
                };
                let (Ok(at), Ok(bt)) = (a.get_type(schema), b.get_type(schema)) else {
                    return Ok(Transformed::no(expr));
                };
                if !is_float(&at)
                    || float_common_type(&[at.clone(), bt.clone()]) != Some(at.clone())
                {
                    return Ok(Transformed::no(expr));
                }
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                    func: func.clone(),
                    args: vec![a.clone(), cast_to(b, &bt, &at)],
                })))
            }
            _ => Ok(Transformed::no(expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL's resolution of number types (docs §10.5): the
    /// floating-point type wins, `double precision` over `real`.
    #[test]
    fn float_common_type_follows_postgres() {
        use DataType::*;
        let decimal = Decimal128(2, 1);
        assert_eq!(
            float_common_type(&[Float64, decimal.clone()]),
            Some(Float64)
        );
        assert_eq!(
            float_common_type(&[Int32, Float32, decimal.clone()]),
            Some(Float32)
        );
        assert_eq!(float_common_type(&[Float32, Float64]), Some(Float64));
        assert_eq!(float_common_type(&[Null, Float64, Int64]), Some(Float64));
        // Nothing to resolve, or not numbers.
        assert_eq!(float_common_type(&[Float64, Float64]), None);
        assert_eq!(float_common_type(&[Int32, decimal]), None);
        assert_eq!(float_common_type(&[Float64, Utf8]), None);
    }
}
