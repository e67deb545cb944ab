//! `round`, `trunc`, `ceil`, `ceiling` and `floor` in the planner, in place
//! of DataFusion's, with PostgreSQL's types: `numeric` in, `numeric` out
//! (evaluated with PostgreSQL's result scale); any other number is a
//! `double precision` (PostgreSQL's preferred numeric type), so
//! `round(12345)` and `round(2.5::real)` are `double precision`; the
//! two-argument forms take a `numeric` (an integer is converted) and an
//! `integer`. Evaluation is `expr/rounding.rs`.

use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::expr::func::VariadicFunc;
use crate::expr::rounding::RoundFunc;

use super::PlanError;

/// The SQL names and their functions.
const NAMES: &[(&str, RoundFunc)] = &[
    ("round", RoundFunc::Round),
    ("trunc", RoundFunc::Trunc),
    ("ceil", RoundFunc::Ceil),
    ("ceiling", RoundFunc::Ceil),
    ("floor", RoundFunc::Floor),
];

/// The functions for DataFusion's planner: types only.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Rounding {
    name: &'static str,
    /// Whether the function takes a number of places (`round`, `trunc`).
    takes_places: bool,
    signature: Signature,
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

impl ScalarUDFImpl for Rounding {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // A string literal is `unknown`: `double precision` alone, the
        // `numeric` of `round(numeric, integer)` with places, which are an
        // `integer`.
        let default = if arg_types.len() == 2 {
            DataType::Decimal128(38, 0)
        } else {
            DataType::Float64
        };
        let arg_types = &super::unknown_literals::resolve(arg_types, default, Some(1));
        // Types without a conversion pass through, to be refused by
        // `return_type`: an error raised here reaches the user reworded.
        Ok(match arg_types.as_slice() {
            [DataType::Decimal128(..)] => arg_types.to_vec(),
            [t] if t.is_numeric() || *t == DataType::Null => vec![DataType::Float64],
            [x, s] if self.takes_places && is_integer(s) => {
                let x = match x {
                    DataType::Decimal128(..) => x.clone(),
                    t if is_integer(t) || *t == DataType::Null => DataType::Decimal128(38, 0),
                    t => t.clone(),
                };
                vec![x, DataType::Int32]
            }
            other => other.to_vec(),
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [DataType::Decimal128(..)] | [DataType::Decimal128(..), DataType::Int32] => {
                Ok(DataType::Decimal128(38, 10))
            }
            [DataType::Float64] => Ok(DataType::Float64),
            types => Err(PlanError::no_function(self.name, types)),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

/// The planning functions, which replace DataFusion's of the same names.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    NAMES
        .iter()
        .map(|(name, f)| {
            Arc::new(ScalarUDF::new_from_impl(Rounding {
                name,
                takes_places: matches!(f, RoundFunc::Round | RoundFunc::Trunc),
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// Lowers the functions (`None` for other calls).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    let (_, func) = NAMES.iter().find(|(n, _)| *n == name)?;
    Some(ScalarExpr::CallVariadic {
        func: VariadicFunc::Round(*func),
        exprs: args.to_vec(),
    })
}
