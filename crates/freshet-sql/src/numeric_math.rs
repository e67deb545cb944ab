//! `sqrt`, `exp`, `ln`, `log`, `log10`, `power`/`pow` and `factorial` in
//! the planner, with PostgreSQL's function resolution between the
//! `numeric` and `double precision` versions: a call with a `numeric`
//! argument and no floating-point one is the `numeric` version (integers
//! converted), as are `log(b, x)` and `factorial(bigint)`, which
//! PostgreSQL has only for `numeric` (`log` of two floats is `42883`);
//! any other call keeps DataFusion's `double precision` function, which
//! these planning functions wrap and call. The `numeric` versions lower
//! to `VariadicFunc::NumericMath` (`expr/numeric_math.rs`).

use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::expr::func::VariadicFunc;
use crate::expr::numeric_math::NumericMathFunc;

use super::PlanError;

/// The result type of the `numeric` versions (an unconstrained `numeric`).
const NUMERIC: DataType = DataType::Decimal128(38, 10);

/// One of the functions: DataFusion's, typed as PostgreSQL's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericMath {
    name: &'static str,
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

fn is_decimal(t: &DataType) -> bool {
    matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

impl NumericMath {
    /// Whether PostgreSQL resolves the call to the `numeric` version.
    fn is_numeric_call(&self, arg_types: &[DataType]) -> bool {
        match (self.name, arg_types.len()) {
            ("factorial", _) | ("log", 2) => true,
            _ => arg_types.iter().any(is_decimal) && !arg_types.iter().any(is_float),
        }
    }
}

impl ScalarUDFImpl for NumericMath {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // Each takes an argument (DataFusion's `ln()` panics without one).
        if arg_types.is_empty() {
            return Err(PlanError::no_function(self.name, arg_types));
        }
        // A string literal is `unknown`: the other argument's type, else
        // `double precision` (`bigint` for `factorial`).
        let default = if self.name == "factorial" {
            DataType::Int64
        } else {
            DataType::Float64
        };
        let arg_types = &super::unknown_literals::resolve(arg_types, default, None);
        if self.is_numeric_call(arg_types) {
            // A call with a type that does not convert keeps its types, to
            // be refused by `return_type` with the types as written.
            if !arg_types
                .iter()
                .all(|t| is_decimal(t) || t.is_integer() || *t == DataType::Null)
            {
                return Ok(arg_types.to_vec());
            }
            return Ok(arg_types
                .iter()
                .map(|t| match t {
                    t if self.name == "factorial" && (t.is_integer() || *t == DataType::Null) => {
                        DataType::Int64
                    }
                    DataType::Decimal256(..) => NUMERIC,
                    t if t.is_integer() || *t == DataType::Null => DataType::Decimal128(38, 0),
                    t => t.clone(),
                })
                .collect());
        }
        // PostgreSQL's `double precision` version: every number converts
        // (DataFusion's `power` of integers would stay an integer).
        if arg_types
            .iter()
            .all(|t| t.is_numeric() || *t == DataType::Null)
        {
            return Ok(vec![DataType::Float64; arg_types.len()]);
        }
        super::pg_scalar::coerced_like(self.inner.as_ref(), arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if arg_types.is_empty() {
            return Err(PlanError::no_function(self.name, arg_types));
        }
        if self.is_numeric_call(arg_types) {
            let ok = match self.name {
                "factorial" => matches!(arg_types, [DataType::Int64]),
                "log" => matches!(arg_types.len(), 1 | 2) && arg_types.iter().all(is_decimal),
                "power" | "pow" => arg_types.len() == 2 && arg_types.iter().all(is_decimal),
                _ => matches!(arg_types, [t] if is_decimal(t)),
            };
            return if ok {
                Ok(NUMERIC)
            } else {
                Err(PlanError::no_function(self.name, arg_types))
            };
        }
        self.inner.inner().return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }
}

/// The planning functions, which replace DataFusion's of the same names.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    use datafusion_functions::math;
    [
        ("sqrt", math::sqrt()),
        ("exp", math::exp()),
        ("ln", math::ln()),
        ("log", math::log()),
        ("log10", math::log10()),
        ("power", math::power()),
        ("pow", math::power()),
        ("factorial", math::factorial()),
    ]
    .into_iter()
    .map(|(name, inner)| {
        Arc::new(ScalarUDF::new_from_impl(NumericMath {
            name,
            inner,
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    })
    .collect()
}

/// Lowers a call of the `numeric` version (the caller checks that the
/// call's type is `numeric`; `None` for other names).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    let func = match (name, args.len()) {
        ("sqrt", 1) => NumericMathFunc::Sqrt,
        ("exp", 1) => NumericMathFunc::Exp,
        ("ln", 1) => NumericMathFunc::Ln,
        ("log" | "log10", 1) => NumericMathFunc::Log10,
        ("log", 2) => NumericMathFunc::Log,
        ("power" | "pow", 2) => NumericMathFunc::Power,
        ("factorial", 1) => NumericMathFunc::Factorial,
        _ => return None,
    };
    Some(ScalarExpr::CallVariadic {
        func: VariadicFunc::NumericMath(func),
        exprs: args.to_vec(),
    })
}
