//! `mz_now()` in the planner.
//!
//! Materialize types `mz_now()` as `mz_timestamp`, which compares with
//! numbers and timestamps through casts and has no arithmetic. DataFusion
//! has no such type, so Freshet plans `mz_now()` as a `bigint` (milliseconds
//! since the Unix epoch, which is also how Materialize prints an
//! `mz_timestamp`) and, before DataFusion sees the SQL
//! ([`rewrite_mz_now`]), wraps whatever `mz_now()` is compared with in a
//! conversion to milliseconds (a marker function lowered to
//! [`UnaryFunc::MzTimestamp`]): `mz_now() <= event_ts + INTERVAL '30s'`
//! compares `mz_now()` with the event's time in milliseconds, both in a
//! one-shot query and as a temporal filter (`expr/temporal.rs`).
//!
//! Casts of `mz_now()` to date/time types go through `timestamptz`
//! (`mz_now()::timestamptz` is the read time as a timestamp). What
//! Materialize refuses is refused here: arithmetic on `mz_now()`
//! (`42883`, "operator does not exist: mz_timestamp - interval"), casts of
//! it to `interval` (`0A000`), and comparisons with values that do not
//! convert to `mz_timestamp` (`42883`): numbers, timestamps, dates and string
//! literals convert, text columns do not.
//!
//! The other clock functions are planned here too: `statement_timestamp()`
//! (replaced by the statement's start in one-shot queries, as `now()` by
//! its transaction's), `clock_timestamp()` and `timeofday()` (the wall
//! clock, evaluated row by row in one-shot queries). Like `now()`, they
//! are refused in materialized views, indexes and `SUBSCRIBE`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::{DataType, TimeUnit};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, FunctionArguments, Statement, VisitMut, VisitorMut,
};

use crate::expr::ScalarExpr;
use crate::expr::func::UnaryFunc;
use crate::expr::scalar::UnmaterializableFunc;

use super::PlanError;

/// The prefix of the conversion markers: `freshet_mz_timestamp_<op>_<side>`.
const CONVERT: &str = "freshet_mz_timestamp_";
/// The prefix of the markers that refuse an operator on `mz_now()`:
/// `freshet_mz_now_op_<op>_<side>`.
const OPERATOR: &str = "freshet_mz_now_op_";

/// The comparison operators `mz_now()` takes, with their marker names.
const COMPARISONS: &[(&str, &str)] = &[
    ("eq", "="),
    ("ne", "<>"),
    ("lt", "<"),
    ("le", "<="),
    ("gt", ">"),
    ("ge", ">="),
];

/// The conversion of a string literal compared with `mz_now()` (a text
/// column does not convert, as in Materialize, where only a literal's
/// unknown type coerces to `mz_timestamp`).
const LITERAL: &str = "freshet_mz_timestamp_literal";

/// `mz_now()` as a `timestamptz`, for casts to date/time types.
const TO_TIMESTAMPTZ: &str = "freshet_mz_timestamp_to_timestamptz";

/// The arithmetic operators refused on `mz_now()` with their operand's
/// type in the message.
const ARITHMETIC: &[(&str, &str)] = &[
    ("plus", "+"),
    ("minus", "-"),
    ("multiply", "*"),
    ("divide", "/"),
    ("modulo", "%"),
    ("concat", "||"),
];

/// `mz_now()`: a `bigint`. Volatile, so that DataFusion's optimizer never
/// moves it into a projection of its own (common subexpressions), which
/// would hide the comparison a temporal filter is made of.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MzNow {
    signature: Signature,
}

impl ScalarUDFImpl for MzNow {
    fn name(&self) -> &str {
        "mz_now"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("mz_now() is evaluated by Freshet, not DataFusion")
    }
}

/// `statement_timestamp()`, `clock_timestamp()` and `timeofday()`:
/// planning stubs for the [`crate::expr::scalar::UnmaterializableFunc`]s
/// they lower to (one-shot only, like `now()`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Clock {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for Clock {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.name {
            "timeofday" => DataType::Utf8,
            "random" => DataType::Float64,
            "gen_random_uuid" => crate::repr::ScalarType::Uuid.to_arrow(),
            _ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("{}() is evaluated by Freshet, not DataFusion", self.name)
    }
}

/// The wall-clock functions [`Clock`] plans, and what each lowers to.
const CLOCKS: &[(&str, UnmaterializableFunc)] = &[
    (
        "statement_timestamp",
        UnmaterializableFunc::StatementTimestamp,
    ),
    ("clock_timestamp", UnmaterializableFunc::ClockTimestamp),
    ("timeofday", UnmaterializableFunc::TimeOfDay),
    ("random", UnmaterializableFunc::Random),
    ("gen_random_uuid", UnmaterializableFunc::GenRandomUuid),
];

/// `mz_now()` as a `timestamptz` ([`TO_TIMESTAMPTZ`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToTimestampTz {
    signature: Signature,
}

impl ScalarUDFImpl for ToTimestampTz {
    fn name(&self) -> &str {
        TO_TIMESTAMPTZ
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("+00:00".into()),
        ))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("{TO_TIMESTAMPTZ} is evaluated by Freshet, not DataFusion")
    }
}

/// A marker around a value compared with `mz_now()` (`convert`), or around
/// the operand of an operator that `mz_timestamp` does not have.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Marker {
    name: String,
    /// The SQL operator, for messages.
    op: &'static str,
    /// Whether `mz_now()` is the operator's left operand.
    mz_now_left: bool,
    /// A conversion (else a refusal).
    convert: bool,
    signature: Signature,
}

impl Marker {
    fn undefined(&self, other: &DataType) -> datafusion_common::DataFusionError {
        let other = match other {
            DataType::Null => "unknown".to_string(),
            t => crate::repr::ScalarType::from_arrow(t)
                .map(|t| t.name())
                .unwrap_or_else(|_| t.to_string()),
        };
        let (left, right) = if self.mz_now_left {
            ("mz_timestamp", other.as_str())
        } else {
            (other.as_str(), "mz_timestamp")
        };
        datafusion_common::DataFusionError::External(Box::new(PlanError::UndefinedOperator(
            format!("{left} {} {right}", self.op),
        )))
    }
}

impl ScalarUDFImpl for Marker {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let [t] = arg_types else {
            return datafusion_common::plan_err!("{} takes one argument", self.name);
        };
        if !self.convert {
            return Err(self.undefined(t));
        }
        // The types that cast to `mz_timestamp` in Materialize: numbers,
        // timestamps, dates, and text (an integer or a timestamp).
        let to = match t {
            DataType::Null
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => DataType::Int64,
            DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
            | DataType::Date32 => t.clone(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 if self.name == LITERAL => {
                DataType::Utf8
            }
            DataType::Date64 => DataType::Date32,
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            other => return Err(self.undefined(other)),
        };
        Ok(vec![to])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

fn marker_name(prefix: &str, op: &str, mz_now_left: bool) -> String {
    format!("{prefix}{op}_{}", if mz_now_left { "l" } else { "r" })
}

/// `mz_now()` and the markers the rewritten SQL calls, for the function
/// registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut out = vec![Arc::new(ScalarUDF::new_from_impl(MzNow {
        signature: Signature::exact(vec![], Volatility::Volatile),
    }))];
    for (name, _) in CLOCKS {
        out.push(Arc::new(ScalarUDF::new_from_impl(Clock {
            name,
            signature: Signature::exact(vec![], Volatility::Volatile),
        })));
    }
    out.push(Arc::new(ScalarUDF::new_from_impl(ToTimestampTz {
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    })));
    out.push(Arc::new(ScalarUDF::new_from_impl(Marker {
        name: LITERAL.to_string(),
        op: "=",
        mz_now_left: true,
        convert: true,
        signature: Signature::user_defined(Volatility::Immutable),
    })));
    for (prefix, ops, convert) in [(CONVERT, COMPARISONS, true), (OPERATOR, ARITHMETIC, false)] {
        for (name, op) in ops {
            for mz_now_left in [true, false] {
                out.push(Arc::new(ScalarUDF::new_from_impl(Marker {
                    name: marker_name(prefix, name, mz_now_left),
                    op,
                    mz_now_left,
                    convert,
                    signature: Signature::user_defined(Volatility::Immutable),
                })));
            }
        }
    }
    out
}

/// Lowers `mz_now()` and the conversion markers (`None` for other names).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    if name == "mz_now" && args.is_empty() {
        return Some(ScalarExpr::Unmaterializable(UnmaterializableFunc::MzNow));
    }
    if args.is_empty()
        && let Some((_, f)) = CLOCKS.iter().find(|(n, _)| *n == name)
    {
        return Some(ScalarExpr::Unmaterializable(*f));
    }
    if name == TO_TIMESTAMPTZ
        && let [arg] = args
    {
        return Some(arg.clone().call_unary(UnaryFunc::MzTimestampToTimestampTz));
    }
    if (name.starts_with(CONVERT) || name == LITERAL)
        && let [arg] = args
    {
        return Some(arg.clone().call_unary(UnaryFunc::MzTimestamp));
    }
    None
}

/// Whether `e` is a call of `mz_now()` (in any parentheses).
fn is_mz_now(e: &SqlExpr) -> bool {
    match e {
        SqlExpr::Nested(inner) => is_mz_now(inner),
        SqlExpr::Function(f) => {
            f.name.to_string().eq_ignore_ascii_case("mz_now")
                && match &f.args {
                    FunctionArguments::List(list) => list.args.is_empty(),
                    FunctionArguments::None => true,
                    FunctionArguments::Subquery(_) => false,
                }
        }
        _ => false,
    }
}

fn call(name: String, arg: SqlExpr) -> SqlExpr {
    super::values::call(&name, arg)
}

/// `e` converted to an `mz_timestamp` for the comparison `name` (a string
/// literal first through [`LITERAL`]).
fn convert(name: &str, mz_now_left: bool, e: &SqlExpr) -> SqlExpr {
    let mut inner = e;
    while let SqlExpr::Nested(x) = inner {
        inner = x;
    }
    let is_string = matches!(
        inner,
        SqlExpr::Value(v) if matches!(v.value, sqlparser::ast::Value::SingleQuotedString(_))
    );
    let e = if is_string {
        call(LITERAL.to_string(), e.clone())
    } else {
        e.clone()
    };
    call(marker_name(CONVERT, name, mz_now_left), e)
}

fn comparison_name(op: &BinaryOperator) -> Option<&'static str> {
    let sql = match op {
        BinaryOperator::Eq => "=",
        BinaryOperator::NotEq => "<>",
        BinaryOperator::Lt => "<",
        BinaryOperator::LtEq => "<=",
        BinaryOperator::Gt => ">",
        BinaryOperator::GtEq => ">=",
        _ => return None,
    };
    COMPARISONS
        .iter()
        .find(|(_, s)| *s == sql)
        .map(|(name, _)| *name)
}

fn arithmetic_name(op: &BinaryOperator) -> Option<&'static str> {
    let sql = op.to_string();
    ARITHMETIC
        .iter()
        .find(|(_, s)| *s == sql)
        .map(|(name, _)| *name)
}

/// Rewrites `left <op> right` where one side is `mz_now()`; `Ok(false)`
/// when neither is.
fn rewrite_binary(
    left: &mut SqlExpr,
    op: &BinaryOperator,
    right: &mut SqlExpr,
) -> Result<bool, PlanError> {
    let (l, r) = (is_mz_now(left), is_mz_now(right));
    if !l && !r {
        return Ok(false);
    }
    if let Some(name) = comparison_name(op) {
        // `mz_now() = mz_now()` compares two `bigint`s.
        if l && !r {
            *right = convert(name, true, right);
        } else if r && !l {
            *left = convert(name, false, left);
        }
        return Ok(true);
    }
    if l && r {
        return Err(PlanError::UndefinedOperator(format!(
            "mz_timestamp {op} mz_timestamp"
        )));
    }
    match arithmetic_name(op) {
        // The marker fails planning with the other operand's type.
        Some(name) if l => *right = call(marker_name(OPERATOR, name, true), right.clone()),
        Some(name) => *left = call(marker_name(OPERATOR, name, false), left.clone()),
        None => {
            return Err(PlanError::Unsupported(format!(
                "the operator {op} with mz_now()"
            )));
        }
    }
    Ok(true)
}

/// Rewrites the comparisons with `mz_now()` in a statement so that both
/// sides are `mz_timestamp`s in milliseconds, and refuses the uses of
/// `mz_now()` that `mz_timestamp` does not allow. Runs before DataFusion
/// plans the statement.
pub fn rewrite_mz_now(statement: &mut Statement) -> Result<(), PlanError> {
    struct Rewrite;
    impl VisitorMut for Rewrite {
        type Break = PlanError;
        fn post_visit_expr(&mut self, e: &mut SqlExpr) -> ControlFlow<PlanError> {
            let result = match e {
                SqlExpr::BinaryOp { left, op, right } => {
                    rewrite_binary(left, op, right).map(|_| ())
                }
                SqlExpr::UnaryOp { op, expr } if is_mz_now(expr) => {
                    Err(PlanError::UndefinedOperator(format!("{op} mz_timestamp")))
                }
                SqlExpr::Between {
                    expr,
                    negated,
                    low,
                    high,
                } if is_mz_now(expr) || is_mz_now(low) || is_mz_now(high) => {
                    // `x BETWEEN a AND b` is `x >= a AND x <= b`.
                    let negated = *negated;
                    let mut ge = (expr.as_ref().clone(), low.as_ref().clone());
                    let mut le = (expr.as_ref().clone(), high.as_ref().clone());
                    let rewritten = rewrite_binary(&mut ge.0, &BinaryOperator::GtEq, &mut ge.1)
                        .and_then(|_| rewrite_binary(&mut le.0, &BinaryOperator::LtEq, &mut le.1));
                    rewritten.map(|_| {
                        let both = SqlExpr::BinaryOp {
                            left: Box::new(SqlExpr::BinaryOp {
                                left: Box::new(ge.0),
                                op: BinaryOperator::GtEq,
                                right: Box::new(ge.1),
                            }),
                            op: BinaryOperator::And,
                            right: Box::new(SqlExpr::BinaryOp {
                                left: Box::new(le.0),
                                op: BinaryOperator::LtEq,
                                right: Box::new(le.1),
                            }),
                        };
                        *e = if negated {
                            SqlExpr::UnaryOp {
                                op: sqlparser::ast::UnaryOperator::Not,
                                expr: Box::new(SqlExpr::Nested(Box::new(both))),
                            }
                        } else {
                            SqlExpr::Nested(Box::new(both))
                        };
                    })
                }
                SqlExpr::Cast {
                    expr, data_type, ..
                } if is_mz_now(expr) => {
                    let name = data_type.to_string().to_lowercase();
                    if name.contains("interval") {
                        Err(PlanError::Unsupported(format!(
                            "casting mz_now() to {name}"
                        )))
                    } else {
                        // To a date/time type through `timestamptz`, as
                        // Materialize's casts of `mz_timestamp` do.
                        if name.contains("time") || name.contains("date") {
                            **expr = call(TO_TIMESTAMPTZ.to_string(), (**expr).clone());
                        }
                        Ok(())
                    }
                }
                _ => Ok(()),
            };
            match result {
                Ok(()) => ControlFlow::Continue(()),
                Err(err) => ControlFlow::Break(err),
            }
        }
    }
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> Result<String, PlanError> {
        let mut statements =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
                .map_err(|e| PlanError::Syntax(e.to_string()))?;
        rewrite_mz_now(&mut statements[0])?;
        Ok(statements[0].to_string())
    }

    #[test]
    fn comparisons_convert_the_other_side() {
        assert_eq!(
            rewrite("SELECT * FROM t WHERE mz_now() <= ts + INTERVAL '30 seconds'").unwrap(),
            "SELECT * FROM t WHERE mz_now() <= freshet_mz_timestamp_le_l(ts + INTERVAL '30 seconds')"
        );
        assert_eq!(
            rewrite("SELECT * FROM t WHERE ts > mz_now()").unwrap(),
            "SELECT * FROM t WHERE freshet_mz_timestamp_gt_r(ts) > mz_now()"
        );
        assert_eq!(
            rewrite("SELECT * FROM t WHERE mz_now() BETWEEN a AND b").unwrap(),
            "SELECT * FROM t WHERE (mz_now() >= freshet_mz_timestamp_ge_l(a) AND mz_now() <= freshet_mz_timestamp_le_l(b))"
        );
    }

    #[test]
    fn arithmetic_is_refused() {
        assert!(matches!(
            rewrite("SELECT -mz_now()"),
            Err(PlanError::UndefinedOperator(_))
        ));
        assert!(matches!(
            rewrite("SELECT mz_now() - mz_now()"),
            Err(PlanError::UndefinedOperator(_))
        ));
        assert!(matches!(
            rewrite("SELECT mz_now()::interval"),
            Err(PlanError::Unsupported(_))
        ));
        assert_eq!(
            rewrite("SELECT mz_now()::timestamptz").unwrap(),
            "SELECT freshet_mz_timestamp_to_timestamptz(mz_now())::TIMESTAMPTZ"
        );
        // The operand's type is known only to the planner: a marker fails there.
        assert_eq!(
            rewrite("SELECT mz_now() - 1").unwrap(),
            "SELECT mz_now() - freshet_mz_now_op_minus_l(1)"
        );
    }
}
