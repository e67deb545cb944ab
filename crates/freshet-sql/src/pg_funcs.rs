//! The function library as PostgreSQL users see it: DataFusion's functions
//! that PostgreSQL 15 does not have are taken out of the planner's registry
//! (calling them is `42883`, as in PostgreSQL, instead of a DataFusion
//! behaviour under a name PostgreSQL does not know), and `pg_typeof` is
//! added.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, FieldRef};
use datafusion_common::{DFSchema, Result as DfResult, ScalarValue, not_impl_err, plan_err};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use crate::expr::ScalarExpr;
use crate::repr::{Datum, ScalarType};

use super::PlanError;

/// DataFusion's scalar functions (names and aliases) that PostgreSQL 15
/// has no function of that name for (core PostgreSQL, without
/// extensions).
const NOT_POSTGRES_SCALARS: &[&str] = &[
    "arrow_cast",
    "arrow_field",
    "arrow_metadata",
    "arrow_try_cast",
    "arrow_typeof",
    "cast_to_type",
    "contains",
    "date_format",
    "datepart",
    "datetrunc",
    "ends_with",
    "file_row_index",
    "find_in_set",
    "from_unixtime",
    "get_field",
    "ifnull",
    "input_file_name",
    "instr",
    "isnan",
    "iszero",
    "levenshtein",
    "log2",
    "nanvl",
    "named_struct",
    "nvl",
    "nvl2",
    "rand",
    "signum",
    "struct",
    "substr_index",
    "substring_index",
    "to_local_time",
    "to_time",
    "to_timestamp_micros",
    "to_timestamp_millis",
    "to_timestamp_nanos",
    "to_timestamp_seconds",
    "to_unixtime",
    "today",
    "try_cast_to_type",
    "union_extract",
    "union_tag",
    "uuid",
    "with_metadata",
];

/// DataFusion's aggregate functions (names and aliases) that PostgreSQL 15
/// has no aggregate of that name for. (`first_value`, `last_value` and
/// `nth_value` are PostgreSQL window functions, which the planner resolves
/// elsewhere.)
const NOT_POSTGRES_AGGREGATES: &[&str] = &[
    "any_value",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "covar",
    "mean",
    "median",
    "quantile_cont",
    "var",
    "var_population",
    "var_sample",
];

/// Whether PostgreSQL has a scalar function of this name.
pub fn is_postgres_scalar(name: &str) -> bool {
    !NOT_POSTGRES_SCALARS.contains(&name)
}

/// Whether PostgreSQL has an aggregate function of this name.
pub fn is_postgres_aggregate(name: &str) -> bool {
    !NOT_POSTGRES_AGGREGATES.contains(&name)
}

/// `pg_typeof(x)`: `x`'s type, a `regtype` (the type's OID, which prints
/// as its name).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            [_] => Ok(arg_types.to_vec()),
            _ => plan_err!("function pg_typeof takes one argument"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(ScalarType::RegType.to_arrow())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(ScalarType::RegType.to_field("pg_typeof", false)))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("pg_typeof is evaluated by Freshet, not DataFusion")
    }
}

/// The functions this module adds, for the planner's registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::new_from_impl(PgTypeof {
        signature: Signature::user_defined(Volatility::Immutable),
    }))]
}

/// Lowers `pg_typeof(arg)` over rows of `schema` into the constant OID of
/// the argument's type; `None` for other functions.
pub fn lower_call(
    name: &str,
    args: &[Expr],
    schema: &DFSchema,
) -> Option<Result<ScalarExpr, PlanError>> {
    if name != "pg_typeof" {
        return None;
    }
    let [arg] = args else {
        return Some(Err(PlanError::UnknownFunction("pg_typeof".into())));
    };
    // An untyped literal is `unknown` in PostgreSQL.
    if let Expr::Literal(ScalarValue::Utf8(_) | ScalarValue::Utf8View(_) | ScalarValue::Null, _) =
        arg
    {
        return Some(Ok(ScalarExpr::Literal(Datum::Int64(
            crate::repr::types::UNKNOWN_OID,
        ))));
    }
    Some(
        arg.to_field(schema)
            .map_err(PlanError::from_datafusion)
            .and_then(|(_, field)| ScalarType::from_field(&field).map_err(PlanError::Unsupported))
            .map(|t| ScalarExpr::Literal(Datum::Int64(i64::from(t.oid())))),
    )
}
