//! Integer parameters that PostgreSQL does not widen.
//!
//! PostgreSQL resolves a function call by its implicit casts, which only
//! widen: `smallint` → `integer` → `bigint` → `numeric` → `real` →
//! `double precision`. A parameter that every signature of a function
//! declares `integer` (`substr(text, integer, integer)`,
//! `make_date(integer, integer, integer)`) therefore takes no `bigint`,
//! `numeric` or float argument: the call does not exist (`42883`).
//! DataFusion's signatures coerce any number to their integer type, so
//! [`IntegerArgumentCheck`], in the analyzer (it sees the arguments as
//! written, before type coercion casts them), refuses the calls whose
//! argument is wider than the widest type PostgreSQL's signatures accept
//! at its place ([`NARROW_PARAMETERS`]).

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::{Expr, ExprSchemable};

use super::PlanError;
use super::unknown_literals::is_untyped_string;

/// The place of a number in PostgreSQL's widening order; `None` for a
/// type that is not a number.
fn rank(t: &DataType) -> Option<u8> {
    Some(match t {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => 1,
        DataType::Int32 | DataType::UInt16 => INT4,
        DataType::Int64 | DataType::UInt32 => INT8,
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => NUMERIC,
        DataType::Float16 | DataType::Float32 => 5,
        DataType::Float64 => 6,
        _ => return None,
    })
}

/// `integer`'s [`rank`].
const INT4: u8 = 2;
/// `bigint`'s.
const INT8: u8 = 3;
/// `numeric`'s.
const NUMERIC: u8 = 4;

/// `(function, number of arguments, argument (1-based), widest type)`:
/// the places where some PostgreSQL 15 signature of the function with that
/// many arguments takes an `integer` and none takes a type above the
/// widest (its [`rank`]). Generated from `pg_proc` (the functions Freshet
/// plans whose parameter at that place is `integer` in some signature and
/// at most `numeric` in all of them), under DataFusion's names
/// (`substring` is `substr`).
const NARROW_PARAMETERS: &[(&str, usize, usize, u8)] = &[
    ("array_length", 2, 2, INT4),
    ("array_lower", 2, 2, INT4),
    ("array_position", 3, 3, INT4),
    ("array_upper", 2, 2, INT4),
    ("chr", 1, 1, INT4),
    ("get_byte", 2, 2, INT4),
    ("left", 2, 2, INT4),
    ("lpad", 2, 2, INT4),
    ("lpad", 3, 2, INT4),
    ("make_date", 3, 1, INT4),
    ("make_date", 3, 2, INT4),
    ("make_date", 3, 3, INT4),
    ("make_interval", 7, 1, INT4),
    ("make_interval", 7, 2, INT4),
    ("make_interval", 7, 3, INT4),
    ("make_interval", 7, 4, INT4),
    ("make_interval", 7, 5, INT4),
    ("make_interval", 7, 6, INT4),
    ("make_time", 3, 1, INT4),
    ("make_time", 3, 2, INT4),
    ("make_timestamp", 6, 1, INT4),
    ("make_timestamp", 6, 2, INT4),
    ("make_timestamp", 6, 3, INT4),
    ("make_timestamp", 6, 4, INT4),
    ("make_timestamp", 6, 5, INT4),
    ("make_timestamptz", 6, 1, INT4),
    ("make_timestamptz", 6, 2, INT4),
    ("make_timestamptz", 6, 3, INT4),
    ("make_timestamptz", 6, 4, INT4),
    ("make_timestamptz", 6, 5, INT4),
    ("make_timestamptz", 7, 1, INT4),
    ("make_timestamptz", 7, 2, INT4),
    ("make_timestamptz", 7, 3, INT4),
    ("make_timestamptz", 7, 4, INT4),
    ("make_timestamptz", 7, 5, INT4),
    ("mod", 2, 1, NUMERIC),
    ("mod", 2, 2, NUMERIC),
    ("overlay", 3, 3, INT4),
    ("overlay", 4, 3, INT4),
    ("overlay", 4, 4, INT4),
    ("regexp_count", 3, 3, INT4),
    ("regexp_count", 4, 3, INT4),
    ("regexp_instr", 3, 3, INT4),
    ("regexp_instr", 4, 3, INT4),
    ("regexp_instr", 4, 4, INT4),
    ("regexp_instr", 5, 3, INT4),
    ("regexp_instr", 5, 4, INT4),
    ("regexp_instr", 5, 5, INT4),
    ("regexp_instr", 6, 3, INT4),
    ("regexp_instr", 6, 4, INT4),
    ("regexp_instr", 6, 5, INT4),
    ("regexp_instr", 7, 3, INT4),
    ("regexp_instr", 7, 4, INT4),
    ("regexp_instr", 7, 5, INT4),
    ("regexp_instr", 7, 7, INT4),
    ("regexp_replace", 4, 4, INT4),
    ("regexp_replace", 5, 4, INT4),
    ("regexp_replace", 5, 5, INT4),
    ("regexp_replace", 6, 4, INT4),
    ("regexp_replace", 6, 5, INT4),
    ("regexp_substr", 3, 3, INT4),
    ("regexp_substr", 4, 3, INT4),
    ("regexp_substr", 4, 4, INT4),
    ("regexp_substr", 5, 3, INT4),
    ("regexp_substr", 5, 4, INT4),
    ("regexp_substr", 6, 3, INT4),
    ("regexp_substr", 6, 4, INT4),
    ("regexp_substr", 6, 6, INT4),
    ("repeat", 2, 2, INT4),
    ("right", 2, 2, INT4),
    ("round", 2, 2, INT4),
    ("rpad", 2, 2, INT4),
    ("rpad", 3, 2, INT4),
    ("split_part", 3, 3, INT4),
    ("substr", 2, 2, INT4),
    ("substr", 3, 2, INT4),
    ("substr", 3, 3, INT4),
    ("substring", 2, 2, INT4),
    ("substring", 3, 2, INT4),
    ("substring", 3, 3, INT4),
    ("to_hex", 1, 1, INT8),
    ("trunc", 2, 2, INT4),
];

/// The widest type PostgreSQL takes as argument `position` (0-based) of
/// `name` called with `n` arguments, if that is narrower than every
/// number.
fn widest(name: &str, n: usize, position: usize) -> Option<u8> {
    NARROW_PARAMETERS
        .iter()
        .find(|(f, args, at, _)| *f == name && *args == n && *at == position + 1)
        .map(|(.., w)| *w)
}

/// Refuses a call whose number argument is wider than PostgreSQL's
/// signatures take at its place (`substr(text, bigint)`), `42883`.
#[derive(Debug)]
pub struct IntegerArgumentCheck;

impl FunctionRewrite for IntegerArgumentCheck {
    fn name(&self) -> &str {
        "freshet_integer_argument_check"
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
        let name = func.name();
        if !NARROW_PARAMETERS.iter().any(|(f, ..)| *f == name) {
            return Ok(Transformed::no(expr));
        }
        let mut refused = false;
        let mut types = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            // A type that cannot be derived here is left to the coercion
            // that follows, which reports it.
            let Ok(t) = a.get_type(schema) else {
                return Ok(Transformed::no(expr));
            };
            if is_untyped_string(a) {
                types.push(DataType::Null);
                continue;
            }
            if let (Some(r), Some(w)) = (rank(&t), widest(name, args.len(), i)) {
                refused |= r > w;
            }
            types.push(t);
        }
        if refused {
            return Err(PlanError::no_function(name, &types));
        }
        Ok(Transformed::no(expr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widest_types_follow_postgres_signatures() {
        // substr(text, integer, integer): bigint is wider.
        assert_eq!(widest("substr", 3, 1), Some(INT4));
        assert!(rank(&DataType::Int64) > widest("substr", 3, 2));
        assert!(rank(&DataType::Int32) <= widest("substr", 3, 2));
        assert!(rank(&DataType::Int16) <= widest("make_date", 3, 0));
        // to_hex(integer) and to_hex(bigint).
        assert!(rank(&DataType::Int64) <= widest("to_hex", 1, 0));
        assert!(rank(&DataType::Decimal128(10, 0)) > widest("to_hex", 1, 0));
        // substr's string argument is no number.
        assert_eq!(widest("substr", 3, 0), None);
    }
}
