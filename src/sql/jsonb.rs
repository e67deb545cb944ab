//! `jsonb` operators in DataFusion's planner: `->` and `->>` become calls
//! of two marker functions, which Freshet lowers to its own evaluation
//! ([`crate::expr::func::BinaryFunc::JsonbGet`]); DataFusion never runs them.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::{DFSchema, Result as DfResult, not_impl_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::BinaryOperator;

use crate::repr::types::jsonb_arrow_type;

/// The name of the marker function for `->`.
pub const JSONB_GET: &str = "freshet_jsonb_get";
/// The name of the marker function for `->>`.
pub const JSONB_GET_TEXT: &str = "freshet_jsonb_get_text";

/// `jsonb -> key` (`text: false`) or `jsonb ->> key` (`text: true`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonbGet {
    text: bool,
    signature: Signature,
}

impl JsonbGet {
    fn new(text: bool) -> Self {
        JsonbGet {
            text,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonbGet {
    fn name(&self) -> &str {
        if self.text { JSONB_GET_TEXT } else { JSONB_GET }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.text {
            DataType::Utf8
        } else {
            jsonb_arrow_type()
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name())
    }
}

/// Plans `->` and `->>`.
#[derive(Debug, Default)]
pub struct JsonbPlanner;

impl ExprPlanner for JsonbPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let text = match expr.op {
            BinaryOperator::Arrow => false,
            BinaryOperator::LongArrow => true,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let udf = Arc::new(ScalarUDF::new_from_impl(JsonbGet::new(text)));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf, vec![expr.left, expr.right]),
        )))
    }
}
