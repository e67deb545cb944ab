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
//!
//! Also the statistics `variance`/`var_samp`, `var_pop`,
//! `stddev`/`stddev_samp` and `stddev_pop` (`numeric` for integer and
//! `numeric` arguments, `double precision` for `real` and `double
//! precision`), `bit_and`, `bit_or` and `bit_xor` (the integer type of
//! the argument) and `every` (`bool_and`'s other name), which DataFusion
//! either lacks or types as `double precision` whatever the argument; and
//! `corr`, `covar_*` and `regr_*` of two `double precision` values (into
//! `double precision`; `regr_count` into `bigint`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::{DataType, IntervalUnit};
use datafusion_common::{DataFusionError, not_impl_err};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

use crate::repr::ScalarType;

use super::PlanError;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Sum,
    Avg,
    /// A variance or standard deviation, by name.
    Stat(&'static str),
    /// `bit_and`, `bit_or` or `bit_xor`, by name.
    Bit(&'static str),
    Every,
    /// A two-argument statistic of `double precision` values (`corr`,
    /// `covar_pop`, `regr_slope`, ...), by name.
    Regr(&'static str),
}

/// The statistics of [`Kind::Regr`].
const REGRS: [&str; 12] = [
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
];

/// The statistics of [`Kind::Stat`].
const STATS: [&str; 6] = [
    "variance",
    "var_samp",
    "var_pop",
    "stddev",
    "stddev_samp",
    "stddev_pop",
];

/// `sum`, `avg` or one of the others, for planning.
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
            Kind::Stat(name) | Kind::Bit(name) | Kind::Regr(name) => name,
            Kind::Every => "every",
        }
    }

    /// The result type for an argument of type `arg`, or the error
    /// PostgreSQL reports when no function of this name takes it.
    fn result_type(&self, arg: &DataType) -> Result<DataType, PlanError> {
        use DataType as D;
        let interval = D::Interval(IntervalUnit::MonthDayNano);
        let unknown = |other: &DataType| {
            let typ = ScalarType::from_arrow(other)
                .map(|t| t.name())
                .unwrap_or_else(|_| other.to_string());
            PlanError::UnknownFunction(format!("{}({typ})", self.name()))
        };
        match (self.kind, arg) {
            (Kind::Stat(_), D::Int16 | D::Int32 | D::Int64) => return Ok(numeric()),
            // `var_samp(NULL)`: PostgreSQL prefers the `double precision`
            // candidate.
            (Kind::Stat(_), D::Float32 | D::Float64 | D::Null) => return Ok(D::Float64),
            (Kind::Bit(_), D::Int16 | D::Int32 | D::Int64) => return Ok(arg.clone()),
            // `every(NULL)`: the one candidate takes the unknown.
            (Kind::Every, D::Boolean | D::Null) => return Ok(D::Boolean),
            (Kind::Bit(_), D::Null) => {
                return Err(PlanError::AmbiguousFunction(format!(
                    "{}(unknown)",
                    self.name()
                )));
            }
            (Kind::Bit(_) | Kind::Every, other) => return Err(unknown(other)),
            _ => {}
        }
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
            (Kind::Sum | Kind::Avg, D::Interval(IntervalUnit::MonthDayNano)) => interval,
            // An untyped NULL: PostgreSQL cannot choose among the
            // candidates.
            (_, D::Null) => {
                return Err(PlanError::AmbiguousFunction(format!(
                    "{}(unknown)",
                    self.name()
                )));
            }
            _ => return Err(unknown(arg)),
        })
    }
}

impl PlanningAggregate {
    /// PostgreSQL's error for a call with arguments of `arg_types`.
    fn no_such(&self, arg_types: &[DataType]) -> DataFusionError {
        let types = arg_types
            .iter()
            .map(|t| ScalarType::from_arrow(t).map_or_else(|_| t.to_string(), |t| t.name()))
            .collect::<Vec<_>>();
        DataFusionError::External(Box::new(PlanError::UnknownFunction(format!(
            "{}({})",
            self.name(),
            types.join(", ")
        ))))
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
        if let Kind::Regr(_) = self.kind {
            // PostgreSQL's only candidate takes two `double precision`
            // values; numbers (and NULL) convert implicitly.
            let number = |t: &DataType| t.is_numeric() || t.is_null();
            return match arg_types {
                [a, b] if number(a) && number(b) => Ok(vec![DataType::Float64, DataType::Float64]),
                _ => Err(self.no_such(arg_types)),
            };
        }
        // The argument is aggregated as it is: Freshet's sum and average
        // take every type above directly. An argument neither takes is
        // refused by `return_type`, whose error DataFusion passes on
        // unchanged (the one from here it would turn into a string).
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match (self.kind, arg_types) {
            (Kind::Regr("regr_count"), [_, _]) => return Ok(DataType::Int64),
            (Kind::Regr(_), [_, _]) => return Ok(DataType::Float64),
            (Kind::Regr(_), _) => return Err(self.no_such(arg_types)),
            _ => {}
        }
        match arg_types {
            [t] => self
                .result_type(t)
                .map_err(|e| DataFusionError::External(Box::new(e))),
            _ => Err(self.no_such(arg_types)),
        }
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        not_impl_err!("aggregate {} is evaluated by Freshet", self.name())
    }
}

/// `sum`, `avg`, the statistics, the bitwise aggregates and `every` by
/// name.
pub fn aggregate_functions() -> HashMap<String, Arc<AggregateUDF>> {
    [Kind::Sum, Kind::Avg, Kind::Every]
        .into_iter()
        .chain(STATS.into_iter().map(Kind::Stat))
        .chain(["bit_and", "bit_or", "bit_xor"].into_iter().map(Kind::Bit))
        .chain(REGRS.into_iter().map(Kind::Regr))
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
                ScalarType::INTERVAL,
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
