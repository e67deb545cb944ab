//! Planning rules of the `json` type that PostgreSQL enforces while
//! planning: `json` has no equality or ordering (`json = json` is `42883`,
//! as are `IN` lists of it, and grouping, `DISTINCT` and `ORDER BY` of
//! it), and it converts only to and from `jsonb` and
//! the string types (`'1'::json::int` is `42846`). The operators and
//! functions on `json` are planned with the `jsonb` ones
//! ([`super::jsonb`]).

use datafusion_common::DFSchema;
use datafusion_expr::{Expr, ExprSchemable};

use crate::repr::{ScalarType, SqlState};

use super::PlanError;

/// The SQL type of `e`, if Freshet has one for it.
fn scalar_type(e: &Expr, schema: &DFSchema) -> Option<ScalarType> {
    e.to_field(schema)
        .ok()
        .and_then(|(_, f)| ScalarType::from_field(&f).ok())
}

/// A comparison `left op right` (`op` as PostgreSQL spells it: `=`, `<`,
/// ...) where an operand is `json`: PostgreSQL has no such operator.
pub fn check_comparison(
    op: &str,
    left: &Expr,
    right: &Expr,
    schema: &DFSchema,
) -> Result<(), PlanError> {
    let l = scalar_type(left, schema);
    let r = scalar_type(right, schema);
    if l != Some(ScalarType::Json) && r != Some(ScalarType::Json) {
        return Ok(());
    }
    let name = |e: &Expr, t: Option<ScalarType>| {
        if super::unknown_literals::is_untyped_string(e) {
            "unknown".to_string()
        } else {
            t.map_or_else(|| "unknown".into(), |t| t.name())
        }
    };
    Err(PlanError::UndefinedOperator(format!(
        "{} {op} {}",
        name(left, l),
        name(right, r)
    )))
}

/// A cast from `from` to `to` where either is `json`: only `json`,
/// `jsonb` and the string types convert to and from it.
pub fn check_cast(from: Option<&ScalarType>, to: &ScalarType) -> Result<(), PlanError> {
    let convertible = |t: &ScalarType| {
        matches!(t, ScalarType::Json | ScalarType::Jsonb | ScalarType::Name) || t.is_string()
    };
    let refused = match (from, to) {
        (Some(ScalarType::Json), to) => !convertible(to),
        (Some(from), ScalarType::Json) => !convertible(from),
        _ => false,
    };
    if refused {
        return Err(PlanError::InvalidLiteral {
            code: SqlState::CANNOT_COERCE,
            message: format!(
                "cannot cast type {} to {}",
                from.map_or_else(|| "unknown".into(), ScalarType::name),
                to.name()
            ),
        });
    }
    Ok(())
}

/// A `GROUP BY` key (`ordering: false`) or `ORDER BY` key (`true`): `json`
/// has neither equality nor ordering.
pub fn check_key(e: &Expr, schema: &DFSchema, ordering: bool) -> Result<(), PlanError> {
    if scalar_type(e, schema) != Some(ScalarType::Json) {
        return Ok(());
    }
    let which = if ordering { "ordering" } else { "equality" };
    Err(PlanError::MissingOperator(format!(
        "{which} operator for type json"
    )))
}

/// `SELECT DISTINCT` (or `UNION`) over rows of `schema`: every column is
/// compared, so none may be `json`.
pub fn check_distinct(schema: &DFSchema) -> Result<(), PlanError> {
    for field in schema.fields() {
        if ScalarType::from_field(field).ok() == Some(ScalarType::Json) {
            return Err(PlanError::MissingOperator(
                "equality operator for type json".into(),
            ));
        }
    }
    Ok(())
}
