//! `nextval`, `currval`, `setval` and `lastval` in the planner: types only
//! (`bigint` results; the sequence is a `regclass`, which the coordinator
//! has already replaced by its OID, a `bigint`). They are volatile, so that
//! DataFusion neither folds nor merges calls. Evaluation is
//! `expr/sequence.rs`.

use std::sync::Arc;

use datafusion_common::Result as DfResult;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::expr::func::VariadicFunc;
use crate::expr::sequence::SequenceFunc;

use super::PlanError;

const FUNCS: [SequenceFunc; 4] = [
    SequenceFunc::NextVal,
    SequenceFunc::CurrVal,
    SequenceFunc::SetVal,
    SequenceFunc::LastVal,
];

#[derive(Debug, PartialEq, Eq, Hash)]
struct Sequence {
    func: SequenceFunc,
    signature: Signature,
}

/// Whether `t` converts to a `regclass` (an OID) implicitly.
fn is_oid(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

impl Sequence {
    /// The argument types the function takes with `n` arguments.
    fn arguments(&self, n: usize) -> Option<Vec<DataType>> {
        match (self.func, n) {
            (SequenceFunc::LastVal, 0) => Some(vec![]),
            (SequenceFunc::NextVal | SequenceFunc::CurrVal, 1) => Some(vec![DataType::Int64]),
            (SequenceFunc::SetVal, 2) => Some(vec![DataType::Int64, DataType::Int64]),
            (SequenceFunc::SetVal, 3) => {
                Some(vec![DataType::Int64, DataType::Int64, DataType::Boolean])
            }
            _ => None,
        }
    }
}

impl ScalarUDFImpl for Sequence {
    fn name(&self) -> &str {
        self.func.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let Some(wanted) = self.arguments(arg_types.len()) else {
            return Err(PlanError::no_function(self.func.name(), arg_types));
        };
        // The sequence: a name the coordinator did not replace by its OID
        // is not a constant.
        if let Some(first) = arg_types.first()
            && !is_oid(first)
        {
            return Err(datafusion_common::DataFusionError::External(Box::new(
                PlanError::Unsupported(format!(
                    "{}() of a sequence named by an expression that is not a constant",
                    self.func.name()
                )),
            )));
        }
        let convertible = arg_types.iter().zip(&wanted).all(|(t, w)| {
            *t == DataType::Null
                || match w {
                    DataType::Int64 => t.is_integer(),
                    other => t == other,
                }
        });
        if !convertible {
            return Err(PlanError::no_function(self.func.name(), arg_types));
        }
        Ok(wanted)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        datafusion_common::not_impl_err!(
            "{} is evaluated by Freshet, not DataFusion",
            self.func.name()
        )
    }
}

/// The planning functions.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    FUNCS
        .iter()
        .map(|func| {
            let signature = if *func == SequenceFunc::LastVal {
                Signature::exact(vec![], Volatility::Volatile)
            } else {
                Signature::user_defined(Volatility::Volatile)
            };
            Arc::new(ScalarUDF::new_from_impl(Sequence {
                func: *func,
                signature,
            }))
        })
        .collect()
}

/// Lowers the functions (`None` for other calls).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    let func = SequenceFunc::from_name(name)?;
    Some(ScalarExpr::CallVariadic {
        func: VariadicFunc::Sequence(func),
        exprs: args.to_vec(),
    })
}
