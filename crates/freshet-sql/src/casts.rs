//! Which casts exist: PostgreSQL 15's `pg_cast` restricted to the types
//! Freshet has, with the conversions through text PostgreSQL adds to it
//! (every type converts to and from the string types), and element-wise
//! casts between arrays.
//!
//! A cast that is not in the table is `42846` ("cannot cast type bigint
//! to boolean") while planning, as in PostgreSQL, whatever the value; a
//! cast that is in the table but that Freshet does not evaluate is left
//! to [`crate::expr::func::cast`], which reports it as unsupported.
//!
//! The check runs in [`super::lower`] on the casts of the analyzed plan,
//! which include the ones DataFusion's type coercion added. `nullif`'s
//! result has its first argument's type there too
//! ([`NullIfType`]), as in PostgreSQL: DataFusion types it as the common
//! type of both arguments, and a `bigint` that PostgreSQL types `integer`
//! would make `nullif(int_col, bigint_col)::boolean` look invalid.

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::{Expr, ExprSchemable, cast};

use crate::repr::{ScalarType, SqlState};

use super::PlanError;

/// Whether PostgreSQL has an explicit cast from `from` to `to` (type
/// modifiers aside).
pub fn cast_exists(from: &ScalarType, to: &ScalarType) -> bool {
    use ScalarType as T;
    let is_text = |t: &ScalarType| t.is_string() || *t == T::Name;
    let is_number = |t: &ScalarType| {
        matches!(
            t,
            T::Int16 | T::Int32 | T::Int64 | T::Float32 | T::Float64 | T::Numeric { .. }
        )
    };
    if std::mem::discriminant(from) == std::mem::discriminant(to) && !matches!(from, T::Array(_)) {
        return true;
    }
    // Conversion through the types' text forms (PostgreSQL's I/O
    // conversion casts).
    if is_text(from) || is_text(to) {
        return true;
    }
    match (from, to) {
        (T::Array(a), T::Array(b)) => cast_exists(a, b),
        (a, b) if is_number(a) && is_number(b) => true,
        (T::Bool, T::Int32) | (T::Int32, T::Bool) => true,
        (T::Int16 | T::Int32 | T::Int64, T::RegType) => true,
        (T::RegType, T::Int32 | T::Int64) => true,
        (T::Date, T::Timestamp(_) | T::TimestampTz(_)) => true,
        (T::Timestamp(_) | T::TimestampTz(_), T::Date | T::Time(_)) => true,
        (T::Timestamp(_), T::TimestampTz(_)) | (T::TimestampTz(_), T::Timestamp(_)) => true,
        (T::Interval { .. }, T::Time(_)) | (T::Time(_), T::Interval { .. }) => true,
        (T::Json, T::Jsonb) | (T::Jsonb, T::Json) => true,
        (
            T::Jsonb,
            T::Bool | T::Int16 | T::Int32 | T::Int64 | T::Float32 | T::Float64 | T::Numeric { .. },
        ) => true,
        _ => false,
    }
}

/// A cast from `from` (`None`: an untyped literal or NULL, which converts
/// to anything) to `to`: `42846` where PostgreSQL has no such cast.
pub fn check_cast(from: Option<&ScalarType>, to: &ScalarType) -> Result<(), PlanError> {
    match from {
        Some(from) if !cast_exists(from, to) => Err(PlanError::InvalidLiteral {
            code: SqlState::CANNOT_COERCE,
            message: format!("cannot cast type {} to {}", from.name(), to.name()),
        }),
        _ => Ok(()),
    }
}

/// Types `nullif(a, b)` as PostgreSQL does where DataFusion differs: the
/// result is the left operand of the `=` PostgreSQL chooses, which is `a`
/// as written where a cross-type `=` exists (among the integer types,
/// `real` with `double precision`, `date` with `timestamp`), where
/// DataFusion converts `a` to the common type. Before type coercion, such
/// a call becomes `CAST(nullif(a, b) AS <a's type>)`; the cast narrows a
/// value that was `a`'s, so it never fails or rounds.
#[derive(Debug)]
pub struct NullIfType;

/// Whether `a = b` has a PostgreSQL operator taking `a` as written, of a
/// different type than `b`.
fn cross_type_equality(a: &DataType, b: &DataType) -> bool {
    use DataType as D;
    let int = |t: &DataType| matches!(t, D::Int16 | D::Int32 | D::Int64);
    a != b
        && ((int(a) && int(b))
            || matches!((a, b), (D::Float32, D::Float64))
            || matches!((a, b), (D::Date32, D::Timestamp(_, None))))
}

impl FunctionRewrite for NullIfType {
    fn name(&self) -> &str {
        "freshet_nullif_type"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::ScalarFunction(ScalarFunction { func, args }) = &expr else {
            return Ok(Transformed::no(expr));
        };
        let [a, b] = args.as_slice() else {
            return Ok(Transformed::no(expr));
        };
        if func.name() != "nullif" {
            return Ok(Transformed::no(expr));
        }
        match (a.get_type(schema), b.get_type(schema)) {
            (Ok(at), Ok(bt)) if cross_type_equality(&at, &bt) => {
                Ok(Transformed::yes(cast(expr, at)))
            }
            _ => Ok(Transformed::no(expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScalarType as T;

    /// A few rows of PostgreSQL 15's `pg_cast`, and pairs it lacks.
    #[test]
    fn follows_pg_cast() {
        let numeric = T::Numeric {
            precision: None,
            scale: None,
        };
        assert!(cast_exists(&T::Int32, &T::Bool));
        assert!(cast_exists(&T::Bool, &T::Int32));
        assert!(!cast_exists(&T::Int64, &T::Bool));
        assert!(!cast_exists(&T::Int16, &T::Bool));
        assert!(!cast_exists(&T::Bool, &T::Int64));
        assert!(cast_exists(&T::Bool, &T::Text));
        assert!(cast_exists(&T::Text, &T::Uuid));
        assert!(cast_exists(&T::Float64, &numeric));
        assert!(!cast_exists(&T::Int32, &T::Date));
        assert!(!cast_exists(&T::RegType, &numeric));
        assert!(cast_exists(&T::RegType, &T::Int64));
        assert!(!cast_exists(&T::Json, &T::Int32));
        assert!(cast_exists(&T::Jsonb, &T::Int32));
        assert!(cast_exists(
            &T::Array(Box::new(T::Int32)),
            &T::Array(Box::new(T::Text))
        ));
        assert!(!cast_exists(
            &T::Array(Box::new(T::Int32)),
            &T::Array(Box::new(T::Date))
        ));
        assert!(!cast_exists(&T::Int32, &T::Array(Box::new(T::Int32))));
        assert!(cast_exists(&T::Time(None), &T::INTERVAL));
        assert!(!cast_exists(&T::Date, &T::Time(None)));
    }
}
