//! The planner side of [`crate::expr::pg_scalar`]: PostgreSQL scalar
//! functions DataFusion lacks (`md5`, `sha256`, `get_byte`, `overlaps`,
//! `convert_to`, `convert_from`) or types or computes differently
//! (`encode` and `decode`, whose `base64` PostgreSQL breaks into lines and
//! which have an `escape` format), or `length` and `octet_length` of a
//! `bytea` (which DataFusion casts to `text` first and so counts the
//! characters of its hex form), and the numeric functions `scale`,
//! `min_scale`, `trim_scale`, `width_bucket`, `gcd` and `lcm`
//! (`expr/numeric_funcs.rs`), and `concat`/`concat_ws`, which print their
//! arguments with the output functions. Each is a planning-only [`ScalarUDF`] with PostgreSQL's
//! argument and result types; [`lower_call`] turns its calls into
//! [`VariadicFunc::Pg`] calls that Freshet evaluates.
//!
//! `extract(field FROM x)` is `numeric` and `date_part('field', x)` is
//! `double precision`, as in PostgreSQL 14+: [`ExtractPlanner`] plans
//! `extract` as the marker [`EXTRACT`] (DataFusion's planner makes both
//! one `date_part` call), and `date_part` is replaced.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field};
use datafusion_common::{Result as DfResult, not_impl_err};
use datafusion_expr::type_coercion::functions::fields_with_udf;
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::expr::func::{BinaryFunc, VariadicFunc};
use crate::expr::pg_scalar::PgFunc;
use crate::expr::rounding::RoundFunc;
use crate::repr::ScalarType;

use super::PlanError;

/// The marker `extract(field FROM x)` is planned as.
pub const EXTRACT: &str = "freshet_extract";

/// Plans `extract(field FROM x)` as the marker [`EXTRACT`].
#[derive(Debug, Default)]
pub struct ExtractPlanner;

impl datafusion_expr::planner::ExprPlanner for ExtractPlanner {
    fn plan_extract(
        &self,
        args: Vec<datafusion_expr::Expr>,
    ) -> DfResult<datafusion_expr::planner::PlannerResult<Vec<datafusion_expr::Expr>>> {
        Ok(datafusion_expr::planner::PlannerResult::Planned(
            datafusion_expr::Expr::ScalarFunction(datafusion_expr::expr::ScalarFunction::new_udf(
                udf(EXTRACT),
                args,
            )),
        ))
    }
}

/// Plans `substring(x FROM a [FOR b])` (and `substring(x, a [, b])`) as
/// [`substring`], which tells PostgreSQL's forms apart by the type of `a`.
#[derive(Debug, Default)]
pub struct SubstringPlanner;

impl datafusion_expr::planner::ExprPlanner for SubstringPlanner {
    fn plan_substring(
        &self,
        args: Vec<datafusion_expr::Expr>,
    ) -> DfResult<datafusion_expr::planner::PlannerResult<Vec<datafusion_expr::Expr>>> {
        Ok(datafusion_expr::planner::PlannerResult::Planned(
            datafusion_expr::Expr::ScalarFunction(datafusion_expr::expr::ScalarFunction::new_udf(
                substring(),
                args,
            )),
        ))
    }
}

/// `substring`: with a string `FROM`, PostgreSQL's regular expression
/// forms (`substring(x FROM pattern)`, and `substring(x FROM pattern FOR
/// escape)` of a `SIMILAR TO` pattern, which `substring(x SIMILAR pattern
/// ESCAPE escape)` is rewritten to by `sql/pg_syntax.rs`), lowered to
/// `RegexFunc::Substring`/`SubstringSimilar`; with integers, DataFusion's
/// `substr`, which this wraps and calls.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Substring {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

/// Whether a `substring` call with these argument types is a regular
/// expression form (its `FROM` is a string, not an untyped NULL).
pub fn is_regex_substring(arg_types: &[DataType]) -> bool {
    matches!(
        arg_types.get(1),
        Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
    )
}

impl ScalarUDFImpl for Substring {
    fn name(&self) -> &str {
        "substring"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if is_regex_substring(arg_types) {
            return if arg_types.iter().all(is_stringish) && arg_types.len() <= 3 {
                Ok(vec![DataType::Utf8; arg_types.len()])
            } else {
                no_function("substring", arg_types)
            };
        }
        // PostgreSQL's `substr(text, integer[, integer])` takes a
        // `smallint` too (DataFusion's wants `Int64`).
        let widened: Vec<DataType> = arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                DataType::Int8 | DataType::Int16 | DataType::Int32 if i > 0 => DataType::Int64,
                t => t.clone(),
            })
            .collect();
        coerced_like(self.inner.as_ref(), &widened)
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if is_regex_substring(arg_types) {
            return Ok(DataType::Utf8);
        }
        self.inner.inner().return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // PostgreSQL's error for a negative length (DataFusion's is
        // `22023 negative count not allowed`).
        // (`substr` is strict: a NULL argument gives NULL first.)
        if let Some(ColumnarValue::Scalar(count)) = args.args.get(2)
            && args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(v) if !v.is_null()))
            && let Ok(n) = count.cast_to(&DataType::Int64)
            && matches!(n, datafusion_common::ScalarValue::Int64(Some(n)) if n < 0)
        {
            return datafusion_common::exec_err!(
                "{}negative substring length not allowed",
                crate::expr::func::SQLSTATE_SUBSTRING_ERROR
            );
        }
        self.inner.invoke_with_args(args)
    }
}

fn substring() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Substring {
        inner: datafusion_functions::unicode::substr(),
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

/// The marker `interval * number` (either order) is planned as.
pub const INTERVAL_MUL: &str = "freshet_interval_mul";
/// The marker `interval / number` is planned as.
pub const INTERVAL_DIV: &str = "freshet_interval_div";

/// Plans `interval * number`, `number * interval` and `interval /
/// number` as PostgreSQL does: the number as a `double precision`, the
/// result an `interval` (DataFusion has none of these operators).
#[derive(Debug, Default)]
pub struct IntervalPlanner;

impl datafusion_expr::planner::ExprPlanner for IntervalPlanner {
    fn plan_binary_op(
        &self,
        expr: datafusion_expr::planner::RawBinaryExpr,
        schema: &datafusion_common::DFSchema,
    ) -> DfResult<datafusion_expr::planner::PlannerResult<datafusion_expr::planner::RawBinaryExpr>>
    {
        use datafusion_expr::ExprSchemable;
        use datafusion_expr::planner::PlannerResult;
        use sqlparser::ast::BinaryOperator;
        let (Ok(lt), Ok(rt)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        let is_number = |t: &DataType| t.is_numeric() || *t == DataType::Null;
        let float = |e: datafusion_expr::Expr| {
            datafusion_expr::Expr::Cast(datafusion_expr::expr::Cast::new(
                Box::new(e),
                DataType::Float64,
            ))
        };
        let call = |name, interval, factor| {
            Ok(PlannerResult::Planned(
                datafusion_expr::Expr::ScalarFunction(
                    datafusion_expr::expr::ScalarFunction::new_udf(
                        udf(name),
                        vec![interval, float(factor)],
                    ),
                ),
            ))
        };
        match (&expr.op, &lt, &rt) {
            (BinaryOperator::Multiply, DataType::Interval(_), t) if is_number(t) => {
                call(INTERVAL_MUL, expr.left, expr.right)
            }
            (BinaryOperator::Multiply, t, DataType::Interval(_)) if is_number(t) => {
                call(INTERVAL_MUL, expr.right, expr.left)
            }
            (BinaryOperator::Divide, DataType::Interval(_), t) if is_number(t) => {
                call(INTERVAL_DIV, expr.left, expr.right)
            }
            _ => Ok(PlannerResult::Original(expr)),
        }
    }
}

/// Whether `t` is a type `extract` takes.
fn is_datetime(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Time64(_) | DataType::Timestamp(..) | DataType::Interval(_)
    )
}

/// A function of this module, for planning.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgUdf {
    name: &'static str,
    signature: Signature,
}

/// Whether a value of type `t` is a string (or an untyped NULL, which
/// PostgreSQL resolves to the function's argument type).
fn is_stringish(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// PostgreSQL's `function f(types) does not exist`.
fn no_function<T>(name: &str, arg_types: &[DataType]) -> DfResult<T> {
    Err(PlanError::no_function(name, arg_types))
}

/// DataFusion's `character_length`, which `length` of a string stays.
fn character_length() -> Arc<ScalarUDF> {
    datafusion_functions::unicode::character_length()
}

impl ScalarUDFImpl for PgUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let text = DataType::Utf8;
        // String literals are `unknown` in the numeric functions.
        let resolved;
        let arg_types = if super::unknown_literals::NUMERIC_FUNCTIONS.contains(&self.name)
            && !(self.name == "width_bucket" && arg_types.len() == 2)
        {
            let places = (self.name == "width_bucket").then_some(3);
            resolved = super::unknown_literals::resolve(arg_types, DataType::Float64, places);
            resolved.as_slice()
        } else {
            arg_types
        };
        let numeric = || {
            ScalarType::Numeric {
                precision: None,
                scale: None,
            }
            .to_arrow()
        };
        match (self.name, arg_types) {
            ("scale" | "min_scale" | "trim_scale", [t]) if is_exact(t) => Ok(vec![numeric()]),
            // `gcd`/`lcm` of `integer`s, `bigint`s or `numeric`s.
            ("gcd" | "lcm", [a, b]) if is_int_or_null(a) && is_int_or_null(b) => {
                let t = if int_width(a) == 64 || int_width(b) == 64 {
                    DataType::Int64
                } else {
                    DataType::Int32
                };
                Ok(vec![t.clone(), t])
            }
            ("gcd" | "lcm", [a, b]) if is_exact(a) && is_exact(b) => Ok(vec![numeric(), numeric()]),
            // `width_bucket(operand, low, high, count)`: `numeric` where a
            // bound or the operand is one and none is floating point, else
            // `double precision` (PostgreSQL's preferred type).
            ("width_bucket", [x, a, b, c])
                if [x, a, b].into_iter().all(is_number)
                    && is_int_or_null(c)
                    && int_width(c) < 64 =>
            {
                let t = if [x, a, b]
                    .iter()
                    .any(|t| matches!(t, DataType::Decimal128(..)))
                    && ![x, a, b].iter().any(|t| t.is_floating())
                {
                    numeric()
                } else {
                    DataType::Float64
                };
                Ok(vec![t.clone(), t.clone(), t, DataType::Int32])
            }
            // `width_bucket(operand, thresholds)`: one common type.
            ("width_bucket", [x, DataType::List(f)]) => {
                let e = f.data_type();
                let common = if x == e || *x == DataType::Null {
                    e.clone()
                } else if is_number(x) && is_number(e) {
                    if x.is_floating() || e.is_floating() {
                        DataType::Float64
                    } else if matches!(x, DataType::Decimal128(..))
                        || matches!(e, DataType::Decimal128(..))
                    {
                        numeric()
                    } else if int_width(x) == 64 || int_width(e) == 64 {
                        DataType::Int64
                    } else {
                        DataType::Int32
                    }
                } else if is_stringish(x) && is_stringish(e) {
                    text
                } else {
                    return no_function(self.name, arg_types);
                };
                let elem = ScalarType::from_arrow(&common)
                    .map_err(|e| datafusion_common::DataFusionError::Plan(e.to_string()))?;
                Ok(vec![common, ScalarType::Array(Box::new(elem)).to_arrow()])
            }
            // `concat` and `concat_ws` print their values with their
            // types' output functions (`t` for true), so they keep their
            // types.
            ("concat", _) => Ok(arg_types.to_vec()),
            // `num_nulls(VARIADIC "any")`, `num_nonnulls(VARIADIC "any")`.
            ("num_nulls" | "num_nonnulls", [_, ..]) => Ok(arg_types.to_vec()),
            ("concat_ws", [sep, rest @ ..]) if is_stringish(sep) => {
                let mut out = vec![text];
                out.extend(rest.iter().cloned());
                Ok(out)
            }
            ("length" | "octet_length" | "md5", [DataType::Binary]) => Ok(vec![DataType::Binary]),
            ("length", _) => coerced_like(character_length().as_ref(), arg_types),
            ("octet_length" | "md5", [t]) if is_stringish(t) => Ok(vec![text]),
            // An untyped literal converts to `bytea`, as in PostgreSQL.
            ("sha256", [t]) if *t == DataType::Binary || is_stringish(t) => {
                Ok(vec![DataType::Binary])
            }
            ("get_byte", [b, n])
                if (*b == DataType::Binary || is_stringish(b))
                    && (n.is_integer() || *n == DataType::Null) =>
            {
                Ok(vec![DataType::Binary, DataType::Int32])
            }
            (EXTRACT, [f, t]) if is_stringish(f) && is_datetime(t) => Ok(vec![text, t.clone()]),
            // PostgreSQL's `date_part` takes a `date` as a `timestamp`.
            ("date_part", [f, DataType::Date32]) if is_stringish(f) => {
                Ok(vec![text, ScalarType::Timestamp(None).to_arrow()])
            }
            ("date_part", [f, t]) if is_stringish(f) && is_datetime(t) => Ok(vec![text, t.clone()]),
            // `format(text, VARIADIC "any")`: the values keep their types
            // (each is printed with its output function).
            ("format", [f, rest @ ..]) if is_stringish(f) => {
                let mut out = vec![text];
                out.extend(rest.iter().cloned());
                Ok(out)
            }
            ("quote_ident", [t]) if is_stringish(t) => Ok(vec![text]),
            ("date_bin", [i, a, b])
                if (matches!(i, DataType::Interval(_)) || is_stringish(i))
                    && is_datetime_value(a)
                    && is_datetime_value(b) =>
            {
                let t = if [a, b]
                    .iter()
                    .any(|t| matches!(t, DataType::Timestamp(_, Some(_))))
                {
                    ScalarType::TimestampTz(None).to_arrow()
                } else {
                    ScalarType::Timestamp(None).to_arrow()
                };
                Ok(vec![ScalarType::INTERVAL.to_arrow(), t.clone(), t])
            }
            ("age", [_] | [_, _])
                if arg_types
                    .iter()
                    .all(|t| is_datetime_value(t) || is_stringish(t)) =>
            {
                // Untyped literals resolve to `timestamptz`, PostgreSQL's
                // preferred type.
                let t = if arg_types.iter().any(|t| {
                    matches!(t, DataType::Timestamp(_, Some(_)))
                        || is_stringish(t) && *t != DataType::Null
                }) {
                    ScalarType::TimestampTz(None).to_arrow()
                } else {
                    ScalarType::Timestamp(None).to_arrow()
                };
                Ok(vec![t; arg_types.len()])
            }
            (
                "justify_days" | "justify_hours" | "justify_interval",
                [t @ DataType::Interval(_)],
            ) => Ok(vec![t.clone()]),
            ("justify_days" | "justify_hours" | "justify_interval", [DataType::Null]) => {
                Ok(vec![ScalarType::INTERVAL.to_arrow()])
            }
            ("isfinite", [t]) if is_datetime_value(t) || matches!(t, DataType::Interval(_)) => {
                Ok(vec![t.clone()])
            }
            ("make_date", [_, _, _]) if arg_types.iter().all(is_int_or_null) => {
                Ok(vec![DataType::Int32; 3])
            }
            ("make_time", [h, m, s]) if is_int_or_null(h) && is_int_or_null(m) && is_number(s) => {
                Ok(vec![DataType::Int32, DataType::Int32, DataType::Float64])
            }
            ("make_timestamp" | "make_timestamptz", [a, b, c, d, e, s])
                if [a, b, c, d, e].into_iter().all(is_int_or_null) && is_number(s) =>
            {
                let mut out = vec![DataType::Int32; 5];
                out.push(DataType::Float64);
                Ok(out)
            }
            ("make_timestamptz", [_, _, _, _, _, _, _]) => {
                not_impl_err!("make_timestamptz with a time zone argument")
            }
            ("make_interval", ts)
                if ts.len() <= 7
                    && ts.iter().take(6).all(is_int_or_null)
                    && ts.get(6).is_none_or(is_number) =>
            {
                let mut out = vec![DataType::Int32; ts.len().min(6)];
                if ts.len() == 7 {
                    out.push(DataType::Float64);
                }
                Ok(out)
            }
            // The regular expression functions: text, with PostgreSQL 15's
            // integer `start` and `n` in their places.
            ("regexp_match" | "regexp_like", [_, _] | [_, _, _])
                if arg_types.iter().all(is_stringish) =>
            {
                Ok(vec![text; arg_types.len()])
            }
            ("regexp_count", [a, b, rest @ ..])
                if is_stringish(a)
                    && is_stringish(b)
                    && matches!(rest, [] | [_] | [_, _])
                    && rest.first().is_none_or(is_int_or_null)
                    && rest.get(1).is_none_or(is_stringish) =>
            {
                let mut out = vec![text.clone(), text.clone()];
                out.extend(rest.first().map(|_| DataType::Int32));
                out.extend(rest.get(1).map(|_| text));
                Ok(out)
            }
            // PostgreSQL 15's `regexp_substr(s, p[, start[, n[, flags[,
            // subexpr]]]])` and `regexp_instr(s, p[, start[, n[, endoption[,
            // flags[, subexpr]]]]])`: the integers and the flags in their
            // places.
            ("regexp_substr" | "regexp_instr", [a, b, rest @ ..])
                if is_stringish(a)
                    && is_stringish(b)
                    && rest.len() <= if self.name == "regexp_substr" { 4 } else { 5 } =>
            {
                let flags_at = if self.name == "regexp_substr" { 2 } else { 3 };
                let mut out = vec![text.clone(), text.clone()];
                for (i, t) in rest.iter().enumerate() {
                    let want_text = i == flags_at;
                    let fits = if want_text {
                        is_stringish(t)
                    } else {
                        is_int_or_null(t)
                    };
                    if !fits {
                        return no_function(self.name, arg_types);
                    }
                    out.push(if want_text {
                        text.clone()
                    } else {
                        DataType::Int32
                    });
                }
                Ok(out)
            }
            ("regexp_replace", [a, b, c]) if [a, b, c].into_iter().all(is_stringish) => {
                Ok(vec![text; 3])
            }
            ("regexp_replace", [a, b, c, f])
                if [a, b, c, f].into_iter().all(is_stringish) && *f != DataType::Null =>
            {
                Ok(vec![text; 4])
            }
            ("regexp_replace", [a, b, c, rest @ ..])
                if [a, b, c].into_iter().all(is_stringish)
                    && matches!(rest, [_] | [_, _] | [_, _, _])
                    && rest.iter().take(2).all(is_int_or_null)
                    && rest.get(2).is_none_or(is_stringish) =>
            {
                let mut out = vec![text.clone(); 3];
                out.extend(rest.iter().take(2).map(|_| DataType::Int32));
                out.extend(rest.get(2).map(|_| text));
                Ok(out)
            }
            ("regexp_split_to_array", [a, b] | [a, b, _])
                if arg_types.iter().all(is_stringish) && is_stringish(a) && is_stringish(b) =>
            {
                Ok(vec![text; arg_types.len()])
            }
            ("quote_literal" | "quote_nullable", [t]) => {
                Ok(vec![if is_stringish(t) { text } else { t.clone() }])
            }
            (INTERVAL_MUL | INTERVAL_DIV, [i, _]) => Ok(vec![i.clone(), DataType::Float64]),
            ("overlaps", [_, _, _, _]) => overlaps_types(arg_types),
            // An untyped literal converts to `bytea`, as in PostgreSQL.
            ("encode" | "convert_from", [b, f])
                if (*b == DataType::Binary || is_stringish(b)) && is_stringish(f) =>
            {
                Ok(vec![DataType::Binary, text])
            }
            ("decode" | "convert_to", [t, f]) if is_stringish(t) && is_stringish(f) => {
                Ok(vec![text.clone(), text])
            }
            // `to_hex(integer)` and `to_hex(bigint)`; `chr(integer)`.
            ("to_hex", [DataType::Int64]) => Ok(vec![DataType::Int64]),
            ("to_hex" | "chr", [t]) if is_int_or_null(t) => Ok(vec![DataType::Int32]),
            // `sign(numeric)` and `sign(double precision)`.
            ("sign", [t @ DataType::Decimal128(..)]) => Ok(vec![t.clone()]),
            ("sign", [t]) if t.is_numeric() || *t == DataType::Null => Ok(vec![DataType::Float64]),
            // `mod` of two integers in the wider type, else of numerics;
            // there is no `mod(double precision, …)`.
            ("mod", [a, b]) if is_int_or_null(a) && is_int_or_null(b) => {
                let wide = [a, b]
                    .into_iter()
                    .map(int_width)
                    .max()
                    .unwrap_or(32)
                    .max(16);
                let t = match wide {
                    16 => DataType::Int16,
                    32 => DataType::Int32,
                    _ => DataType::Int64,
                };
                Ok(vec![t.clone(), t])
            }
            ("mod" | "div", [a, b]) if is_exact(a) && is_exact(b) => {
                let numeric = ScalarType::Numeric {
                    precision: None,
                    scale: None,
                }
                .to_arrow();
                Ok(vec![numeric.clone(), numeric])
            }
            _ => no_function(
                if self.name == EXTRACT {
                    "extract"
                } else {
                    self.name
                },
                arg_types,
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.name {
            "length" if arg_types != [DataType::Binary] => {
                character_length().return_type(arg_types)?
            }
            "length" | "octet_length" | "get_byte" => DataType::Int32,
            "md5" | "format" | "quote_ident" | "quote_literal" | "quote_nullable" => DataType::Utf8,
            "sign" | "mod" | "div" | "gcd" | "lcm" | "trim_scale" => arg_types[0].clone(),
            "scale" | "min_scale" | "width_bucket" | "num_nulls" | "num_nonnulls" => {
                DataType::Int32
            }
            "concat" | "concat_ws" => DataType::Utf8,
            "to_hex" | "chr" => DataType::Utf8,
            "regexp_like" | "isfinite" | "overlaps" => DataType::Boolean,
            "encode" | "convert_from" => DataType::Utf8,
            "age" | "justify_days" | "justify_hours" | "justify_interval" | "make_interval" => {
                ScalarType::INTERVAL.to_arrow()
            }
            "make_date" => DataType::Date32,
            "date_bin" => arg_types[1].clone(),
            "make_time" => ScalarType::Time(None).to_arrow(),
            "make_timestamp" => ScalarType::Timestamp(None).to_arrow(),
            "make_timestamptz" => ScalarType::TimestampTz(None).to_arrow(),
            "regexp_count" => DataType::Int32,
            "regexp_replace" | "regexp_substr" => DataType::Utf8,
            "regexp_instr" => DataType::Int32,
            "regexp_split_to_array" | "regexp_match" => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
            "date_part" => DataType::Float64,
            INTERVAL_MUL | INTERVAL_DIV => ScalarType::INTERVAL.to_arrow(),
            EXTRACT => ScalarType::Numeric {
                precision: None,
                scale: None,
            }
            .to_arrow(),
            _ => DataType::Binary,
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

/// The functions this module adds (or replaces), for the planner's
/// registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        "length",
        "octet_length",
        "md5",
        "sha256",
        "sign",
        "to_hex",
        "chr",
        "mod",
        "div",
        "gcd",
        "lcm",
        "scale",
        "min_scale",
        "trim_scale",
        "width_bucket",
        "concat",
        "concat_ws",
        "num_nulls",
        "num_nonnulls",
        "get_byte",
        "format",
        "quote_ident",
        "quote_literal",
        "quote_nullable",
        "regexp_split_to_array",
        "regexp_match",
        "regexp_like",
        "regexp_count",
        "regexp_replace",
        "regexp_substr",
        "regexp_instr",
        "age",
        "justify_days",
        "justify_hours",
        "justify_interval",
        "make_date",
        "make_time",
        "make_timestamp",
        "make_timestamptz",
        "make_interval",
        "isfinite",
        "date_bin",
        "overlaps",
        "encode",
        "decode",
        "convert_to",
        "convert_from",
        "date_part",
        EXTRACT,
        INTERVAL_MUL,
        INTERVAL_DIV,
    ]
    .into_iter()
    .map(udf)
    .collect()
}

fn udf(name: &'static str) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(PgUdf {
        name,
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

/// Whether a type is a date, a timestamp or a `timestamptz` (or an
/// untyped NULL).
fn is_datetime_value(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Timestamp(..) | DataType::Null
    )
}

/// The argument types of `overlaps(start1, end1, start2, end2)`
/// (PostgreSQL's `overlaps` of `timestamptz`, `timestamp` or `time`, each
/// end possibly an `interval`): the starts and non-interval ends share one
/// type, `timestamptz` if any is one, else `time` if any is one, else
/// `timestamp` (dates and untyped literals convert).
fn overlaps_types(arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
    let is_interval = |t: &DataType| matches!(t, DataType::Interval(_));
    let points = arg_types
        .iter()
        .enumerate()
        .filter(|(i, t)| i % 2 == 0 || !is_interval(t));
    let mut common = None;
    for (_, t) in points.clone() {
        let kind = match t {
            DataType::Timestamp(_, Some(_)) => 3,
            DataType::Time64(_) => 2,
            DataType::Timestamp(..) | DataType::Date32 => 1,
            t if is_stringish(t) => 0,
            _ => return no_function("overlaps", arg_types),
        };
        common = common.max(Some(kind));
    }
    let time_mixed = common == Some(2)
        && points
            .clone()
            .any(|(_, t)| matches!(t, DataType::Timestamp(..) | DataType::Date32));
    if time_mixed {
        return no_function("overlaps", arg_types);
    }
    let point = match common {
        Some(3) => ScalarType::TimestampTz(None).to_arrow(),
        Some(2) => ScalarType::Time(None).to_arrow(),
        Some(1) => ScalarType::Timestamp(None).to_arrow(),
        // Only untyped literals: PostgreSQL cannot choose either.
        _ => return no_function("overlaps", arg_types),
    };
    Ok(arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i % 2 == 1 && is_interval(t) {
                t.clone()
            } else {
                point.clone()
            }
        })
        .collect())
}

/// Whether a type is a number (or an untyped NULL).
fn is_number(t: &DataType) -> bool {
    t.is_numeric() || *t == DataType::Null
}

/// Whether a type is an integer (or an untyped NULL).
fn is_int_or_null(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

/// Whether a type is an integer, a numeric or an untyped NULL (`mod` and
/// `div` of `numeric`).
fn is_exact(t: &DataType) -> bool {
    is_int_or_null(t) || matches!(t, DataType::Decimal128(..))
}

/// The bits of an integer type (NULL counts as the narrowest).
fn int_width(t: &DataType) -> u32 {
    match t {
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => 64,
        DataType::Int32 | DataType::UInt16 => 32,
        _ => 16,
    }
}

/// Lowers a call of one of this module's functions, `None` for other
/// functions. (`length` stays `UnaryFunc::CharLength`, which counts the
/// bytes of a `bytea`.)
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    match (name, args) {
        // `age(x)` is the age at midnight of today (PostgreSQL's
        // `age(current_date, x)`), so it follows `current_date`'s rules.
        ("age", [x]) => {
            return Some(ScalarExpr::CallVariadic {
                func: VariadicFunc::Pg(PgFunc::Age),
                exprs: vec![
                    ScalarExpr::Unmaterializable(
                        crate::expr::scalar::UnmaterializableFunc::CurrentDate,
                    ),
                    x.clone(),
                ],
            });
        }
        ("age", [_, _]) => {
            return Some(ScalarExpr::CallVariadic {
                func: VariadicFunc::Pg(PgFunc::Age),
                exprs: args.to_vec(),
            });
        }
        ("regexp_substr" | "regexp_instr", _) => {
            return Some(ScalarExpr::CallVariadic {
                func: VariadicFunc::Regex(if name == "regexp_substr" {
                    crate::expr::regex::RegexFunc::RegexpSubstr
                } else {
                    crate::expr::regex::RegexFunc::RegexpInstr
                }),
                exprs: args.to_vec(),
            });
        }
        // `mod` is `%`, and `div` the numeric quotient truncated.
        ("mod", [a, b]) => return Some(a.clone().call_binary(b.clone(), BinaryFunc::Mod)),
        ("div", [a, b]) => {
            return Some(ScalarExpr::CallVariadic {
                func: VariadicFunc::Round(RoundFunc::Trunc),
                exprs: vec![a.clone().call_binary(b.clone(), BinaryFunc::Div)],
            });
        }
        _ => {}
    }
    let func = match name {
        "sign" => PgFunc::Sign,
        "scale" => PgFunc::Scale,
        "min_scale" => PgFunc::MinScale,
        "trim_scale" => PgFunc::TrimScale,
        "width_bucket" => PgFunc::WidthBucket,
        "gcd" => PgFunc::Gcd,
        "lcm" => PgFunc::Lcm,
        "concat_ws" => PgFunc::ConcatWs,
        "num_nulls" => PgFunc::NumNulls,
        "num_nonnulls" => PgFunc::NumNonNulls,
        "to_hex" => PgFunc::ToHex,
        "chr" => PgFunc::Chr,
        "octet_length" => PgFunc::OctetLength,
        "md5" => PgFunc::Md5,
        "sha256" => PgFunc::Sha256,
        "get_byte" => PgFunc::GetByte,
        "format" => PgFunc::Format,
        "quote_ident" => PgFunc::QuoteIdent,
        "quote_literal" => PgFunc::QuoteLiteral,
        "quote_nullable" => PgFunc::QuoteNullable,
        "regexp_split_to_array" => PgFunc::RegexpSplitToArray,
        "regexp_match" => PgFunc::RegexpMatch,
        "regexp_like" => PgFunc::RegexpLike,
        "regexp_count" => PgFunc::RegexpCount,
        "regexp_replace" => PgFunc::RegexpReplace,
        "justify_days" => PgFunc::JustifyDays,
        "justify_hours" => PgFunc::JustifyHours,
        "justify_interval" => PgFunc::JustifyInterval,
        "make_date" => PgFunc::MakeDate,
        "make_time" => PgFunc::MakeTime,
        "make_timestamp" => PgFunc::MakeTimestamp,
        "make_timestamptz" => PgFunc::MakeTimestampTz,
        "make_interval" => PgFunc::MakeInterval,
        "isfinite" => PgFunc::IsFinite,
        "overlaps" => PgFunc::Overlaps,
        "encode" => PgFunc::Encode,
        "decode" => PgFunc::Decode,
        "convert_to" => PgFunc::ConvertTo,
        "convert_from" => PgFunc::ConvertFrom,
        "date_bin" => PgFunc::DateBin,
        "date_part" => PgFunc::DatePart,
        EXTRACT => PgFunc::Extract,
        INTERVAL_MUL => PgFunc::IntervalMul,
        INTERVAL_DIV => PgFunc::IntervalDiv,
        _ => return None,
    };
    Some(ScalarExpr::CallVariadic {
        func: VariadicFunc::Pg(func),
        exprs: args.to_vec(),
    })
}

/// The argument types `udf`'s own signature coerces `arg_types` to: for a
/// wrapper that keeps the wrapped function's coercion where it changes
/// nothing.
pub(super) fn coerced_like(
    udf: &datafusion_expr::ScalarUDF,
    arg_types: &[DataType],
) -> DfResult<Vec<DataType>> {
    let fields: Vec<_> = arg_types
        .iter()
        .map(|t| Arc::new(Field::new("a", t.clone(), true)))
        .collect();
    Ok(fields_with_udf(&fields, udf)?
        .iter()
        .map(|f| f.data_type().clone())
        .collect())
}
