//! `date_trunc` in the planner, in place of DataFusion's, with
//! PostgreSQL's types: `date_trunc(text, timestamp) → timestamp`,
//! `date_trunc(text, timestamptz) → timestamptz` (a `date` converts to
//! `timestamptz`, PostgreSQL's preferred type, so `date_trunc('month',
//! date)` is a `timestamptz`) and `date_trunc(text, interval) →
//! interval`, and `date_trunc(text, timestamptz, zone) → timestamptz`.
//! Evaluation is `expr/date_trunc.rs`.

use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::expr::func::{BinaryFunc, VariadicFunc};
use crate::repr::ScalarType;

use super::PlanError;

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateTrunc {
    signature: Signature,
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    )
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        "date_trunc"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // Types without a conversion pass through, to be refused by
        // `return_type`.
        Ok(match arg_types {
            [u, t] if is_text(u) => {
                let t = match t {
                    DataType::Date32 | DataType::Date64 => ScalarType::TimestampTz(None).to_arrow(),
                    DataType::Timestamp(_, None) => ScalarType::Timestamp(None).to_arrow(),
                    DataType::Timestamp(_, Some(_)) => ScalarType::TimestampTz(None).to_arrow(),
                    t => t.clone(),
                };
                vec![DataType::Utf8, t]
            }
            // `date_trunc(text, timestamptz, zone)`: a `timestamp` or
            // `date` converts to `timestamptz`.
            [u, t, z]
                if is_text(u)
                    && is_text(z)
                    && matches!(
                        t,
                        DataType::Date32 | DataType::Timestamp(..) | DataType::Null
                    ) =>
            {
                vec![
                    DataType::Utf8,
                    ScalarType::TimestampTz(None).to_arrow(),
                    DataType::Utf8,
                ]
            }
            other => other.to_vec(),
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [
                DataType::Utf8,
                t @ (DataType::Timestamp(..) | DataType::Interval(_)),
            ] => Ok(t.clone()),
            [
                DataType::Utf8,
                t @ DataType::Timestamp(_, Some(_)),
                DataType::Utf8,
            ] => Ok(t.clone()),
            types => Err(PlanError::no_function("date_trunc", types)),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("date_trunc is evaluated by Freshet, not DataFusion")
    }
}

/// The planning function, which replaces DataFusion's.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::new_from_impl(DateTrunc {
        signature: Signature::user_defined(Volatility::Immutable),
    }))]
}

/// Lowers `date_trunc` (`None` for other calls). With a time zone, the
/// `timestamptz` is truncated as a local time in that zone and read back
/// in it, as PostgreSQL's `timestamptz_trunc_zone` does: `timezone(z,
/// date_trunc(field, timezone(z, ts)))`.
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    let trunc = |field: &ScalarExpr, ts: ScalarExpr| ScalarExpr::CallVariadic {
        func: VariadicFunc::DateTrunc,
        exprs: vec![field.clone(), ts],
    };
    match (name, args) {
        ("date_trunc", [field, ts]) => Some(trunc(field, ts.clone())),
        ("date_trunc", [field, ts, zone]) => {
            let local = zone.clone().call_binary(ts.clone(), BinaryFunc::Timezone);
            Some(
                zone.clone()
                    .call_binary(trunc(field, local), BinaryFunc::Timezone),
            )
        }
        _ => None,
    }
}
