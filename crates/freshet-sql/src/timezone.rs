//! `AT TIME ZONE` and `timezone(zone, ts)` in the planner.
//!
//! DataFusion plans `ts AT TIME ZONE 'z'` as a cast to a timestamp type
//! carrying the zone, which Freshet's types do not have (a `timestamptz` is
//! an instant), so the cast would change nothing: a wrong answer. As in
//! PostgreSQL, where `AT TIME ZONE` *is* `timezone(zone, ts)`, [`rewrite`]
//! turns the operator into that call before DataFusion sees it, and the
//! function has PostgreSQL's types:
//! - `timezone(text | interval, timestamptz) → timestamp`: the local time
//!   in the zone;
//! - `timezone(text | interval, timestamp) → timestamptz`: the instant of a
//!   local time in the zone;
//! - a `date` or an untyped literal is read as a `timestamptz` (PostgreSQL's
//!   preferred type); `time` would give a `timetz`, which Freshet does not
//!   have (`0A000`).
//!
//! The evaluation is `BinaryFunc::Timezone`, zones are resolved by
//! `repr/timezone.rs`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{DataFusionError, Result as DfResult};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::{
    CastKind, DataType as SqlType, Expr as SqlExpr, FunctionArg, FunctionArgExpr, Interval,
    Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use crate::expr::ScalarExpr;
use crate::expr::func::BinaryFunc;

use super::PlanError;

/// The function's name, PostgreSQL's.
const TIMEZONE: &str = "timezone";

/// Rewrites `ts AT TIME ZONE zone` into `timezone(zone, ts)`.
pub fn rewrite(statement: &mut Statement) {
    struct Rewrite;
    impl VisitorMut for Rewrite {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut SqlExpr) -> ControlFlow<()> {
            if let SqlExpr::AtTimeZone {
                timestamp,
                time_zone,
            } = e
            {
                let zone = match time_zone.as_ref() {
                    // `INTERVAL '-08:00'`: read by Freshet's interval input
                    // (PostgreSQL's), which takes forms DataFusion's does not.
                    SqlExpr::Interval(Interval {
                        value,
                        leading_field: None,
                        leading_precision: None,
                        last_field: None,
                        fractional_seconds_precision: None,
                    }) if matches!(
                        value.as_ref(),
                        SqlExpr::Value(ValueWithSpan {
                            value: Value::SingleQuotedString(_),
                            ..
                        })
                    ) =>
                    {
                        SqlExpr::Cast {
                            kind: CastKind::DoubleColon,
                            expr: value.clone(),
                            data_type: SqlType::Interval {
                                fields: None,
                                precision: None,
                            },
                            array: false,
                            format: None,
                        }
                    }
                    other => other.clone(),
                };
                let args = [zone, timestamp.as_ref().clone()]
                    .into_iter()
                    .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                    .collect();
                *e = SqlExpr::Function(super::pg_rewrite::call(TIMEZONE, args));
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Rewrite);
}

/// `timezone(zone, ts)` for DataFusion's planner: types only.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Timezone {
    signature: Signature,
}

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn planning_error(e: PlanError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl ScalarUDFImpl for Timezone {
    fn name(&self) -> &str {
        TIMEZONE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // Types without a conversion pass through, to be refused by
        // `return_type`: an error raised here reaches the user reworded.
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match (i, t) {
                (0, DataType::Utf8View | DataType::LargeUtf8 | DataType::Null) => DataType::Utf8,
                (
                    1,
                    DataType::Timestamp(_, Some(_))
                    | DataType::Date32
                    | DataType::Date64
                    | DataType::Utf8
                    | DataType::Utf8View
                    | DataType::LargeUtf8
                    | DataType::Null,
                ) => timestamptz(),
                (1, DataType::Timestamp(_, None)) => timestamp(),
                _ => t.clone(),
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [
                DataType::Utf8 | DataType::Interval(_),
                DataType::Timestamp(_, Some(_)),
            ] => Ok(timestamp()),
            [
                DataType::Utf8 | DataType::Interval(_),
                DataType::Timestamp(_, None),
            ] => Ok(timestamptz()),
            [_, DataType::Time32(_) | DataType::Time64(_)] => Err(planning_error(
                PlanError::Unsupported("AT TIME ZONE on a time (type time with time zone)".into()),
            )),
            _ => Err(PlanError::no_function(TIMEZONE, arg_types)),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("timezone is evaluated by Freshet, not DataFusion")
    }
}

/// The planning function of `timezone`.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::new_from_impl(Timezone {
        signature: Signature::user_defined(Volatility::Immutable),
    }))]
}

/// Lowers `timezone(zone, ts)` (`None` for other calls).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    match (name, args) {
        (TIMEZONE, [zone, ts]) => Some(zone.clone().call_binary(ts.clone(), BinaryFunc::Timezone)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn at_time_zone_becomes_timezone_call() {
        let sql =
            "SELECT ts AT TIME ZONE 'UTC' AT TIME ZONE z, ts AT TIME ZONE INTERVAL '-08:00' FROM t";
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(&mut statement);
        assert_eq!(
            statement.to_string(),
            "SELECT timezone(z, timezone('UTC', ts)), timezone('-08:00'::INTERVAL, ts) FROM t"
        );
    }
}
