//! `sum` and `avg` as the planner resolves them: planning-only
//! [`AggregateUDF`]s that give each call PostgreSQL's argument and result
//! types, where DataFusion's own would widen every integer to `bigint` and
//! average in `double precision`. Freshet never asks them to evaluate;
//! `lower` turns each call into a [`crate::expr::AggregateExpr`] whose
//! `output_type` is the type chosen here.
//!
//! | argument | `sum` | `avg` |
//! |---|---|---|
//! | `smallint`, `integer` | `bigint` | `numeric` |
//! | `bigint` | `numeric` | `numeric` |
//! | `real` | `real` | `double precision` |
//! | `double precision` | `double precision` | `double precision` |
//! | `numeric(p, s)` | `numeric` | `numeric` |
//! | `interval` | `interval` | `interval` |

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::{DataType, IntervalUnit};
use datafusion_common::{DataFusionError, not_impl_err};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

use crate::repr::ScalarType;

use super::PlanError;

/// Which of the two functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Sum,
    Avg,
}

/// `sum` or `avg`, for planning.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PlanningAggregate {
    kind: Kind,
    signature: Signature,
}

/// Unconstrained `numeric`, as Freshet spells it in Arrow.
fn numeric() -> DataType {
    ScalarType::Numeric {
        precision: None,
        scale: None,
    }
    .to_arrow()
}

impl PlanningAggregate {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Sum => "sum",
            Kind::Avg => "avg",
        }
    }

    /// The result type for an argument of type `arg`, or the error
    /// PostgreSQL reports when no `sum`/`avg` takes it.
    fn result_type(&self, arg: &DataType) -> Result<DataType, PlanError> {
        use DataType as D;
        let interval = D::Interval(IntervalUnit::MonthDayNano);
        Ok(match (self.kind, arg) {
            (Kind::Sum, D::Int8 | D::Int16 | D::Int32) => D::Int64,
            (Kind::Sum, D::Float32) => D::Float32,
            (Kind::Avg, D::Int8 | D::Int16 | D::Int32 | D::Int64) | (Kind::Sum, D::Int64) => {
                numeric()
            }
            (_, D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..)) => {
                numeric()
            }
            (Kind::Avg, D::Float32) | (_, D::Float64) => D::Float64,
            (_, D::Interval(IntervalUnit::MonthDayNano)) => interval,
            // An untyped NULL: PostgreSQL cannot choose among the
            // candidates.
            (_, D::Null) => {
                return Err(PlanError::AmbiguousFunction(format!(
                    "{}(unknown)",
                    self.name()
                )));
            }
            (_, other) => {
                let typ = ScalarType::from_arrow(other)
                    .map(|t| t.name())
                    .unwrap_or_else(|_| other.to_string());
                return Err(PlanError::UnknownFunction(format!(
                    "{}({typ})",
                    self.name()
                )));
            }
        })
    }
}

impl AggregateUDFImpl for PlanningAggregate {
    fn name(&self) -> &str {
        PlanningAggregate::name(self)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // The argument is aggregated as it is: Freshet's sum and average
        // take every type above directly. An argument neither takes is
        // refused by `return_type`, whose error DataFusion passes on
        // unchanged (the one from here it would turn into a string).
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [t] => self
                .result_type(t)
                .map_err(|e| DataFusionError::External(Box::new(e))),
            _ => {
                let types = arg_types
                    .iter()
                    .map(|t| ScalarType::from_arrow(t).map_or_else(|_| t.to_string(), |t| t.name()))
                    .collect::<Vec<_>>();
                Err(DataFusionError::External(Box::new(
                    PlanError::UnknownFunction(format!("{}({})", self.name(), types.join(", "))),
                )))
            }
        }
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        not_impl_err!("aggregate {} is evaluated by Freshet", self.name())
    }
}

/// `sum` and `avg` by name.
pub fn aggregate_functions() -> HashMap<String, Arc<AggregateUDF>> {
    [Kind::Sum, Kind::Avg]
        .into_iter()
        .map(|kind| {
            let f = PlanningAggregate {
                kind,
                signature: Signature::user_defined(Volatility::Immutable),
            };
            (
                f.name().to_string(),
                Arc::new(AggregateUDF::new_from_impl(f)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(kind: Kind, arg: DataType) -> Result<ScalarType, String> {
        let f = PlanningAggregate {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        };
        let t = f.result_type(&arg).map_err(|e| e.to_string())?;
        ScalarType::from_arrow(&t)
    }

    /// PostgreSQL's result types (`pg_aggregate`, PostgreSQL 15).
    #[test]
    fn result_types_are_postgres() {
        let numeric = ScalarType::Numeric {
            precision: None,
            scale: None,
        };
        let cases = [
            (Kind::Sum, DataType::Int16, ScalarType::Int64),
            (Kind::Sum, DataType::Int32, ScalarType::Int64),
            (Kind::Sum, DataType::Int64, numeric.clone()),
            (Kind::Sum, DataType::Float32, ScalarType::Float32),
            (Kind::Sum, DataType::Float64, ScalarType::Float64),
            (Kind::Sum, DataType::Decimal128(10, 3), numeric.clone()),
            (Kind::Avg, DataType::Int16, numeric.clone()),
            (Kind::Avg, DataType::Int32, numeric.clone()),
            (Kind::Avg, DataType::Int64, numeric.clone()),
            (Kind::Avg, DataType::Float32, ScalarType::Float64),
            (Kind::Avg, DataType::Float64, ScalarType::Float64),
            (Kind::Avg, DataType::Decimal128(10, 3), numeric.clone()),
            (
                Kind::Avg,
                DataType::Interval(IntervalUnit::MonthDayNano),
                ScalarType::Interval,
            ),
        ];
        for (kind, arg, want) in cases {
            assert_eq!(result(kind, arg.clone()), Ok(want), "{kind:?}({arg})");
        }
        assert_eq!(
            result(Kind::Avg, DataType::Utf8),
            Err("function avg(text) does not exist".into())
        );
    }
}
