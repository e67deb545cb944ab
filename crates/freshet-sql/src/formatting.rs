//! `to_char`, `to_timestamp` and `to_date` in the planner, replacing
//! DataFusion's, whose templates are `chrono`'s (`%Y-%m-%d`): given
//! PostgreSQL's (`YYYY-MM-DD`) they printed the template back unchanged.
//! The types are PostgreSQL's:
//! - `to_char(timestamp | timestamptz | date | interval | time, text) →
//!   text` (a `time` is formatted as an interval, as PostgreSQL casts it);
//!   `to_char(integer | bigint | real | double precision | numeric, text)
//!   → text` (a `smallint` is converted to `integer`, as in PostgreSQL),
//!   and `to_number(text, text) → numeric` (`expr/number_format.rs`);
//! - `to_timestamp(text, text) → timestamptz`,
//!   `to_timestamp(double precision) → timestamptz`;
//! - `to_date(text, text) → date`.
//!
//! Evaluation is `expr/datetime_format.rs` and `expr/number_format.rs`.

use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::{DataType, TimeUnit};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::expr::datetime_format::FormatFunc;
use crate::expr::func::VariadicFunc;

use super::PlanError;

/// One of the three functions, for DataFusion's planner: types only.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Formatting {
    name: &'static str,
    signature: Signature,
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    )
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric()
}

impl ScalarUDFImpl for Formatting {
    fn name(&self) -> &str {
        self.name
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
            .map(|(i, t)| match (self.name, i, t) {
                ("to_char", 0, DataType::Timestamp(_, tz)) => {
                    DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
                }
                ("to_char", 0, DataType::Time32(_) | DataType::Time64(_)) => {
                    DataType::Time64(TimeUnit::Microsecond)
                }
                ("to_char", 0, DataType::Int8 | DataType::Int16) => DataType::Int32,
                ("to_char", 0, DataType::Null) => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
                }
                ("to_timestamp", 0, t) if arg_types.len() == 1 && is_number(t) => DataType::Float64,
                (_, _, t) if is_text(t) => DataType::Utf8,
                (_, _, t) => t.clone(),
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        let timestamptz = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
        match (self.name, arg_types) {
            (
                "to_char",
                [
                    DataType::Timestamp(..)
                    | DataType::Date32
                    | DataType::Interval(_)
                    | DataType::Time64(_),
                    DataType::Utf8,
                ],
            ) => Ok(DataType::Utf8),
            (
                "to_char",
                [
                    DataType::Int32
                    | DataType::Int64
                    | DataType::Float32
                    | DataType::Float64
                    | DataType::Decimal128(..),
                    DataType::Utf8,
                ],
            ) => Ok(DataType::Utf8),
            ("to_number", [DataType::Utf8, DataType::Utf8]) => Ok(DataType::Decimal128(38, 10)),
            ("to_timestamp", [DataType::Utf8, DataType::Utf8] | [DataType::Float64]) => {
                Ok(timestamptz)
            }
            ("to_date", [DataType::Utf8, DataType::Utf8]) => Ok(DataType::Date32),
            (name, types) => Err(PlanError::no_function(name, types)),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

/// The planning functions, which replace DataFusion's of the same names.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    ["to_char", "to_timestamp", "to_date", "to_number"]
        .into_iter()
        .map(|name| {
            Arc::new(ScalarUDF::new_from_impl(Formatting {
                name,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// Lowers the three functions (`None` for other calls).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    let func = match (name, args.len()) {
        ("to_char", 2) => FormatFunc::ToChar,
        ("to_timestamp", 2) => FormatFunc::ToTimestamp,
        ("to_timestamp", 1) => FormatFunc::ToTimestampEpoch,
        ("to_date", 2) => FormatFunc::ToDate,
        ("to_number", 2) => FormatFunc::ToNumber,
        _ => return None,
    };
    Some(ScalarExpr::CallVariadic {
        func: VariadicFunc::Format(func),
        exprs: args.to_vec(),
    })
}
