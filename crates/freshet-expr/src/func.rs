//! The built-in scalar functions: casts, arithmetic, comparison, boolean
//! logic, string operations, and the bridge to DataFusion's function library
//! ([`ExternalFunc`]) for everything else.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::repr::{Numeric, NumericRounding};
use datafusion_common::ScalarValue;
use datafusion_common::arrow::datatypes::{DataType, Field};
use datafusion_common::config::ConfigOptions;
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};

use crate::repr::{Datum, Interval, OrdF32, OrdF64, ScalarType, SqlState};
use crate::repr::{jsonb, strconv};

use super::EvalError;
use super::scalar::ScalarExpr;

/// Functions of one argument.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryFunc {
    /// `NOT x`.
    Not,
    /// `x IS NULL`.
    IsNull,
    /// `x IS NOT NULL`.
    IsNotNull,
    /// `x IS TRUE`.
    IsTrue,
    /// `x IS FALSE`.
    IsFalse,
    /// `x IS NOT TRUE`.
    IsNotTrue,
    /// `x IS NOT FALSE`.
    IsNotFalse,
    /// `-x`.
    Neg,
    /// `CAST(x AS t)`.
    Cast(ScalarType),
    /// `lower(x)`.
    Lower,
    /// `upper(x)`.
    Upper,
    /// `length(x)` / `char_length(x)`.
    CharLength,
    /// `abs(x)`.
    Abs,
    /// A `char(n)` value converted to `text`: without its trailing spaces
    /// (`sql::bpchar`).
    BpcharToText,
    /// A `regtype` (a type's OID) converted to `text`: the type's name
    /// ([`crate::repr::types::regtype_name`]).
    RegTypeToText,
    /// The `mz_timestamp` (milliseconds since the Unix epoch, as `bigint`)
    /// of a value compared with `mz_now()` ([`super::temporal`]).
    MzTimestamp,
    /// An `mz_timestamp` (`mz_now()`) as a `timestamptz`.
    MzTimestampToTimestampTz,
    /// The grouping key of a `jsonb` value
    /// ([`crate::repr::jsonb::group_key`]): equal for values `jsonb` `=`
    /// finds equal (`sql::jsonb_keys`).
    JsonbGroupKey,
    /// `~x` on integers ([`super::bitwise`]).
    BitNot,
}

/// Functions of two arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryFunc {
    /// `a AND b`.
    And,
    /// `a OR b`.
    Or,
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a % b`.
    Mod,
    /// `a & b` on integers ([`super::bitwise`]).
    BitAnd,
    /// `a | b` on integers.
    BitOr,
    /// `a # b` (exclusive or) on integers.
    BitXor,
    /// `a << n` on integers.
    ShiftLeft,
    /// `a >> n` on integers.
    ShiftRight,
    /// `a = b`.
    Eq,
    /// `a <> b`.
    NotEq,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    LtEq,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    GtEq,
    /// `a IS DISTINCT FROM b`.
    IsDistinctFrom,
    /// `a IS NOT DISTINCT FROM b`.
    IsNotDistinctFrom,
    /// `a || b`.
    Concat,
    /// `a -> b` (`text: false`) and `a ->> b` (`text: true`) on `jsonb`:
    /// the member `b` of an object, or the element `b` of an array.
    JsonbGet {
        /// `->>`: the result as text.
        text: bool,
    },
    /// `a [NOT] [I]LIKE b`.
    Like {
        /// `NOT LIKE`.
        negated: bool,
        /// `ILIKE`.
        case_insensitive: bool,
        /// The escape character (`ESCAPE 'c'`; a backslash by default).
        escape: char,
    },
    /// `a ~ b` and its kin: whether `a` matches the regular expression `b`.
    RegexMatch {
        /// `!~`.
        negated: bool,
        /// `~*`.
        case_insensitive: bool,
    },
    /// The value of a scalar subquery that is not aggregated, given `a`,
    /// the number of rows it returned for this row, and `b`, its value when
    /// that number is one (see `sql/scalar_subquery.rs`): `b`, or the
    /// error PostgreSQL raises when there is more than one row. Not strict:
    /// a NULL `b` from two rows is still an error.
    SubqueryValue,
    /// `timezone(a, b)`, PostgreSQL's `b AT TIME ZONE a`: a `timestamptz`
    /// as the local time in zone `a` (a name or an `interval`), or a
    /// `timestamp` as the instant of that local time in the zone.
    Timezone,
}

/// Functions of any number of arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VariadicFunc {
    /// `coalesce(a, b, ...)`: the first non-null argument.
    Coalesce,
    /// `greatest(a, b, ...)`, ignoring nulls.
    Greatest,
    /// `least(a, b, ...)`, ignoring nulls.
    Least,
    /// `concat(a, b, ...)`, ignoring nulls.
    Concat,
    /// `x IN (a, b, ...)`: the first argument is `x`.
    InList {
        /// `NOT IN`.
        negated: bool,
    },
    /// `nullif(a, b)`.
    NullIf,
    /// An array function or operator ([`super::array`]), its arguments
    /// evaluated eagerly.
    Array(super::array::ArrayFunc),
    /// A `jsonb` function or operator ([`super::jsonb`]), its arguments
    /// evaluated eagerly.
    Jsonb(super::jsonb::JsonbFunc),
    /// `to_char`, `to_timestamp` and `to_date` ([`super::datetime_format`]),
    /// its arguments evaluated eagerly.
    Format(super::datetime_format::FormatFunc),
    /// `round`, `trunc`, `ceil` and `floor` ([`super::rounding`]), its
    /// arguments evaluated eagerly.
    Round(super::rounding::RoundFunc),
    /// `numeric` `sqrt`, `exp`, `ln`, `log`, `power` and `factorial`
    /// ([`super::numeric_math`]), its arguments evaluated eagerly.
    NumericMath(super::numeric_math::NumericMathFunc),
    /// `SIMILAR TO`, `regexp_substr` and `regexp_instr` ([`super::regex`]),
    /// its arguments evaluated eagerly.
    Regex(super::regex::RegexFunc),
    /// `date_trunc(unit, timestamp | timestamptz | interval)`
    /// ([`super::date_trunc`]), its arguments evaluated eagerly.
    DateTrunc,
    /// A PostgreSQL function of [`super::pg_scalar`], its arguments
    /// evaluated eagerly.
    Pg(super::pg_scalar::PgFunc),
    /// A sequence function ([`super::sequence`]), its arguments evaluated
    /// eagerly. Volatile: each call may change the sequence.
    Sequence(super::sequence::SequenceFunc),
}

impl UnaryFunc {
    /// Applies the function.
    pub fn eval(&self, d: Datum) -> Result<Datum, EvalError> {
        match self {
            UnaryFunc::IsNull => return Ok(Datum::Bool(d.is_null())),
            UnaryFunc::IsNotNull => return Ok(Datum::Bool(!d.is_null())),
            UnaryFunc::IsTrue => return Ok(Datum::Bool(d == Datum::Bool(true))),
            UnaryFunc::IsFalse => return Ok(Datum::Bool(d == Datum::Bool(false))),
            UnaryFunc::IsNotTrue => return Ok(Datum::Bool(d != Datum::Bool(true))),
            UnaryFunc::IsNotFalse => return Ok(Datum::Bool(d != Datum::Bool(false))),
            _ => {}
        }
        if d.is_null() {
            return Ok(Datum::Null);
        }
        match self {
            UnaryFunc::Not => match d {
                Datum::Bool(b) => Ok(Datum::Bool(!b)),
                other => Err(type_error("NOT", &other)),
            },
            UnaryFunc::Neg => match d {
                Datum::Int16(v) => v
                    .checked_neg()
                    .map(Datum::Int16)
                    .ok_or_else(|| range("smallint")),
                Datum::Int32(v) => v
                    .checked_neg()
                    .map(Datum::Int32)
                    .ok_or_else(|| range("integer")),
                Datum::Int64(v) => v
                    .checked_neg()
                    .map(Datum::Int64)
                    .ok_or_else(|| range("bigint")),
                Datum::Float32(v) => Ok(Datum::f32(-v.0)),
                Datum::Float64(v) => Ok(Datum::f64(-v.0)),
                Datum::Numeric(v) => Ok(Datum::Numeric(-v)),
                Datum::NumericNaN => Ok(Datum::NumericNaN),
                Datum::Interval(i) => Ok(Datum::Interval(Interval {
                    months: i.months.checked_neg().ok_or_else(|| range("interval"))?,
                    days: i.days.checked_neg().ok_or_else(|| range("interval"))?,
                    micros: i.micros.checked_neg().ok_or_else(|| range("interval"))?,
                })),
                other => Err(type_error("-", &other)),
            },
            UnaryFunc::Abs => match d {
                Datum::Int16(v) => v
                    .checked_abs()
                    .map(Datum::Int16)
                    .ok_or_else(|| range("smallint")),
                Datum::Int32(v) => v
                    .checked_abs()
                    .map(Datum::Int32)
                    .ok_or_else(|| range("integer")),
                Datum::Int64(v) => v
                    .checked_abs()
                    .map(Datum::Int64)
                    .ok_or_else(|| range("bigint")),
                Datum::Float32(v) => Ok(Datum::f32(v.0.abs())),
                Datum::Float64(v) => Ok(Datum::f64(v.0.abs())),
                Datum::Numeric(v) => Ok(Datum::Numeric(v.abs())),
                Datum::NumericNaN => Ok(Datum::NumericNaN),
                other => Err(type_error("abs", &other)),
            },
            UnaryFunc::Lower => match d {
                Datum::String(s) => Ok(Datum::String(map_chars(&s, char::to_lowercase, true))),
                other => Err(type_error("lower", &other)),
            },
            UnaryFunc::Upper => match d {
                Datum::String(s) => Ok(Datum::String(map_chars(&s, char::to_uppercase, false))),
                other => Err(type_error("upper", &other)),
            },
            UnaryFunc::CharLength => match d {
                Datum::String(s) => Ok(Datum::Int32(s.chars().count() as i32)),
                Datum::Bytes(b) => Ok(Datum::Int32(b.len() as i32)),
                other => Err(type_error("length", &other)),
            },
            UnaryFunc::BpcharToText => match d {
                Datum::String(mut s) => {
                    s.truncate(s.trim_end_matches(' ').len());
                    Ok(Datum::String(s))
                }
                other => Err(type_error("char to text", &other)),
            },
            UnaryFunc::RegTypeToText => match d {
                Datum::Null => Ok(Datum::Null),
                Datum::Int64(oid) => Ok(Datum::String(crate::repr::types::regtype_name(oid))),
                other => Err(type_error("regtype to text", &other)),
            },
            UnaryFunc::Cast(to) => cast(d, to),
            UnaryFunc::BitNot => super::bitwise::not(d),
            UnaryFunc::MzTimestamp => super::temporal::to_mz_timestamp(d),
            UnaryFunc::MzTimestampToTimestampTz => super::temporal::to_timestamptz(d),
            UnaryFunc::JsonbGroupKey => match d {
                Datum::Jsonb(s) => Ok(match crate::repr::jsonb::group_key(&s) {
                    std::borrow::Cow::Borrowed(_) => Datum::Jsonb(s),
                    std::borrow::Cow::Owned(key) => Datum::Jsonb(key),
                }),
                other => Err(type_error("jsonb group key", &other)),
            },
            UnaryFunc::IsNull
            | UnaryFunc::IsNotNull
            | UnaryFunc::IsTrue
            | UnaryFunc::IsFalse
            | UnaryFunc::IsNotTrue
            | UnaryFunc::IsNotFalse => Err(EvalError::Internal("unreachable predicate".into())),
        }
    }
}

/// `upper`/`lower` as PostgreSQL computes them, one character at a time
/// (C's `towupper`/`towlower`): where Unicode maps a character to several,
/// an upper-case mapping keeps the character (`upper('straße')` is
/// `STRAßE`) and a lower-case one takes the first (`İ` → `i`, without
/// the combining dot).
fn map_chars<I: Iterator<Item = char>>(s: &str, f: impl Fn(char) -> I, first: bool) -> String {
    s.chars()
        .map(|c| {
            let mut mapped = f(c);
            match (mapped.next(), mapped.next()) {
                (Some(m), None) => m,
                (Some(m), Some(_)) if first => m,
                _ => c,
            }
        })
        .collect()
}

/// A `date ± integer` result: PostgreSQL's `22008 date out of range`
/// outside 4714-11-24 BC to 5874897-12-31.
fn date_in_range(days: i64) -> Result<Datum, EvalError> {
    if !(strconv::DATE_MIN_DAYS..=strconv::DATE_MAX_DAYS).contains(&days) {
        return Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: "date out of range".into(),
        });
    }
    Ok(Datum::Date(days as i32))
}

fn range(type_name: &str) -> EvalError {
    EvalError::OutOfRange(type_name.to_string())
}

fn type_error(op: &str, d: &Datum) -> EvalError {
    EvalError::Internal(format!("{op} applied to unexpected value {d:?}"))
}

/// `a AND b` in three-valued logic.
pub fn and(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    Ok(match (a, b) {
        (Datum::Bool(false), _) | (_, Datum::Bool(false)) => Datum::Bool(false),
        (Datum::Bool(true), Datum::Bool(true)) => Datum::Bool(true),
        _ => Datum::Null,
    })
}

/// `a OR b` in three-valued logic.
pub fn or(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    Ok(match (a, b) {
        (Datum::Bool(true), _) | (_, Datum::Bool(true)) => Datum::Bool(true),
        (Datum::Bool(false), Datum::Bool(false)) => Datum::Bool(false),
        _ => Datum::Null,
    })
}

impl BinaryFunc {
    /// The operator's SQL spelling, for `EXPLAIN`.
    pub fn symbol(&self) -> &'static str {
        match self {
            BinaryFunc::And => "AND",
            BinaryFunc::Or => "OR",
            BinaryFunc::Add => "+",
            BinaryFunc::Sub => "-",
            BinaryFunc::Mul => "*",
            BinaryFunc::Div => "/",
            BinaryFunc::Mod => "%",
            BinaryFunc::BitAnd => "&",
            BinaryFunc::BitOr => "|",
            BinaryFunc::BitXor => "#",
            BinaryFunc::ShiftLeft => "<<",
            BinaryFunc::ShiftRight => ">>",
            BinaryFunc::Eq => "=",
            BinaryFunc::NotEq => "<>",
            BinaryFunc::Lt => "<",
            BinaryFunc::LtEq => "<=",
            BinaryFunc::Gt => ">",
            BinaryFunc::GtEq => ">=",
            BinaryFunc::IsDistinctFrom => "IS DISTINCT FROM",
            BinaryFunc::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
            BinaryFunc::Concat => "||",
            BinaryFunc::Like { .. } => "LIKE",
            BinaryFunc::RegexMatch {
                negated,
                case_insensitive,
            } => match (negated, case_insensitive) {
                (false, false) => "~",
                (false, true) => "~*",
                (true, false) => "!~",
                (true, true) => "!~*",
            },
            BinaryFunc::JsonbGet { text: false } => "->",
            BinaryFunc::JsonbGet { text: true } => "->>",
            BinaryFunc::SubqueryValue => "rows_then_value",
            BinaryFunc::Timezone => "timezone",
        }
    }

    /// Applies the function.
    pub fn eval(&self, a: Datum, b: Datum) -> Result<Datum, EvalError> {
        match self {
            BinaryFunc::And => return and(a, b),
            BinaryFunc::Or => return or(a, b),
            BinaryFunc::IsDistinctFrom => return Ok(Datum::Bool(!sql_eq_nulls(&a, &b))),
            BinaryFunc::IsNotDistinctFrom => return Ok(Datum::Bool(sql_eq_nulls(&a, &b))),
            BinaryFunc::SubqueryValue => {
                return match a {
                    Datum::Int64(n) if n > 1 => Err(EvalError::MultipleRowsFromSubquery),
                    _ => Ok(b),
                };
            }
            _ => {}
        }
        if a.is_null() || b.is_null() {
            return Ok(Datum::Null);
        }
        if matches!(
            self,
            BinaryFunc::Add | BinaryFunc::Sub | BinaryFunc::Mul | BinaryFunc::Div | BinaryFunc::Mod
        ) && numeric_nan_operand(&a, &b)
        {
            // PostgreSQL: `NaN` with any numeric (zero divisors included)
            // gives `NaN`.
            return Ok(Datum::NumericNaN);
        }
        match self {
            BinaryFunc::Add => add(a, b),
            BinaryFunc::Sub => sub(a, b),
            BinaryFunc::Mul => mul(a, b),
            BinaryFunc::Div => div(a, b),
            BinaryFunc::Mod => modulo(a, b),
            BinaryFunc::BitAnd
            | BinaryFunc::BitOr
            | BinaryFunc::BitXor
            | BinaryFunc::ShiftLeft
            | BinaryFunc::ShiftRight => super::bitwise::binary(self, a, b),
            BinaryFunc::Eq => Ok(Datum::Bool(compare(&a, &b)? == Ordering::Equal)),
            BinaryFunc::NotEq => Ok(Datum::Bool(compare(&a, &b)? != Ordering::Equal)),
            BinaryFunc::Lt => Ok(Datum::Bool(compare(&a, &b)? == Ordering::Less)),
            BinaryFunc::LtEq => Ok(Datum::Bool(compare(&a, &b)? != Ordering::Greater)),
            BinaryFunc::Gt => Ok(Datum::Bool(compare(&a, &b)? == Ordering::Greater)),
            BinaryFunc::GtEq => Ok(Datum::Bool(compare(&a, &b)? != Ordering::Less)),
            BinaryFunc::Concat => {
                let mut s = strconv::format(&a).unwrap_or_default();
                s.push_str(&strconv::format(&b).unwrap_or_default());
                Ok(Datum::String(s))
            }
            BinaryFunc::JsonbGet { text } => jsonb_get(&a, &b, *text),
            BinaryFunc::Like {
                negated,
                case_insensitive,
                escape,
            } => match (a, b) {
                (Datum::String(s), Datum::String(p)) => {
                    let m = like(&s, &p, *case_insensitive, *escape)?;
                    Ok(Datum::Bool(m != *negated))
                }
                (a, _) => Err(type_error("LIKE", &a)),
            },
            BinaryFunc::RegexMatch {
                negated,
                case_insensitive,
            } => match (a, b) {
                (Datum::String(s), Datum::String(p)) => Ok(Datum::Bool(
                    super::regex::is_match(&s, &p, *case_insensitive)? != *negated,
                )),
                (a, _) => Err(type_error(self.symbol(), &a)),
            },
            BinaryFunc::Timezone => at_time_zone(&a, &b),
            BinaryFunc::And
            | BinaryFunc::Or
            | BinaryFunc::IsDistinctFrom
            | BinaryFunc::IsNotDistinctFrom
            | BinaryFunc::SubqueryValue => Err(EvalError::Internal("unreachable".into())),
        }
    }
}

/// Whether two `numeric` operands include `NaN`.
pub fn numeric_nan_operand(a: &Datum, b: &Datum) -> bool {
    a.is_numeric()
        && b.is_numeric()
        && (matches!(a, Datum::NumericNaN) || matches!(b, Datum::NumericNaN))
}

/// `ts AT TIME ZONE zone` (`timezone(zone, ts)`), for non-NULL arguments.
fn at_time_zone(zone: &Datum, ts: &Datum) -> Result<Datum, EvalError> {
    use crate::repr::timezone::{Zone, ZoneError};
    let zone = match zone {
        Datum::String(name) => Zone::parse(name),
        Datum::Interval(i) => Zone::from_interval(i, || strconv::format(zone).unwrap_or_default()),
        other => return Err(type_error("timezone", other)),
    };
    let converted = zone.and_then(|z| match ts {
        Datum::TimestampTz(t) => z.to_local(*t).map(Datum::Timestamp),
        Datum::Timestamp(t) => z.to_utc(*t).map(Datum::TimestampTz),
        _ => Ok(Datum::Null),
    });
    match converted {
        Ok(Datum::Null) => Err(type_error("timezone", ts)),
        Ok(d) => Ok(d),
        Err(ZoneError::OutOfRange) => Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: "timestamp out of range".into(),
        }),
        Err(ZoneError::Unsupported(what)) => Err(EvalError::Unsupported(what)),
        Err(e) => Err(EvalError::InvalidParameter(e.to_string())),
    }
}

/// `jsonb -> key` / `jsonb ->> key`: NULL where the member or element is
/// missing (or the value is of the wrong shape), as in PostgreSQL. The
/// stored text is canonical (PostgreSQL's jsonb output), so every part of
/// it is canonical too: the member is found by scanning the text, without
/// building the document, and returned as it is.
pub(crate) fn jsonb_get(doc: &Datum, key: &Datum, text: bool) -> Result<Datum, EvalError> {
    if doc.is_null() || key.is_null() {
        return Ok(Datum::Null);
    }
    let doc = match doc {
        Datum::Jsonb(doc) => doc,
        Datum::Json(doc) => return super::json::get(doc, key, text),
        _ => return Err(type_error("->", doc)),
    };
    let stored = |_| EvalError::Internal("stored jsonb does not parse".into());
    let found = match key {
        Datum::String(k) => jsonb::member(doc, k).map_err(stored)?,
        Datum::Int16(i) => jsonb::element(doc, i64::from(*i)).map_err(stored)?,
        Datum::Int32(i) => jsonb::element(doc, i64::from(*i)).map_err(stored)?,
        Datum::Int64(i) => jsonb::element(doc, *i).map_err(stored)?,
        _ => None,
    };
    let Some(raw) = found else {
        return Ok(Datum::Null);
    };
    Ok(match raw.as_bytes().first() {
        Some(b'n') if text => Datum::Null,
        Some(b'"') if text => Datum::String(jsonb::string_value(raw).map_err(stored)?.into_owned()),
        _ if text => Datum::String(raw.to_string()),
        _ => Datum::Jsonb(raw.to_string()),
    })
}

/// Equality where NULL equals NULL (`IS NOT DISTINCT FROM`).
fn sql_eq_nulls(a: &Datum, b: &Datum) -> bool {
    match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => compare(a, b).map(|o| o == Ordering::Equal).unwrap_or(false),
        _ => false,
    }
}

/// Compares two non-null values of (after coercion) the same type, with
/// PostgreSQL's ordering.
pub fn compare(a: &Datum, b: &Datum) -> Result<Ordering, EvalError> {
    use Datum::*;
    Ok(match (a, b) {
        (Int16(x), Int32(y)) => (*x as i32).cmp(y),
        (Int32(x), Int16(y)) => x.cmp(&(*y as i32)),
        (Int16(x), Int64(y)) => (*x as i64).cmp(y),
        (Int64(x), Int16(y)) => x.cmp(&(*y as i64)),
        (Int32(x), Int64(y)) => (*x as i64).cmp(y),
        (Int64(x), Int32(y)) => x.cmp(&(*y as i64)),
        (Float32(x), Float64(y)) => OrdF64(x.0 as f64).cmp(y),
        (Float64(x), Float32(y)) => x.cmp(&OrdF64(y.0 as f64)),
        // `NaN` above every other numeric, as in PostgreSQL.
        (Numeric(_), NumericNaN) => Ordering::Less,
        (NumericNaN, Numeric(_)) => Ordering::Greater,
        (String(x), String(y)) => x.cmp(y),
        (Date(x), Timestamp(y)) => (*x as i64 * crate::repr::Interval::MICROS_PER_DAY).cmp(y),
        (Timestamp(x), Date(y)) => x.cmp(&(*y as i64 * crate::repr::Interval::MICROS_PER_DAY)),
        (Array(x), Array(y)) => super::array::compare_arrays(x, y)?,
        // PostgreSQL's jsonb order, under which `1.0` equals `1`.
        (Jsonb(x), Jsonb(y)) => super::jsonb::compare(x, y)?,
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => a.cmp(b),
        _ => {
            return Err(EvalError::Internal(format!(
                "comparison of {a:?} and {b:?}"
            )));
        }
    })
}

macro_rules! int_arith {
    ($a:expr, $b:expr, $op:ident, $float_op:tt, $numeric_op:ident, $name:literal) => {
        match ($a, $b) {
            (Datum::Int16(x), Datum::Int16(y)) => x.$op(y).map(Datum::Int16).ok_or_else(|| range("smallint")),
            (Datum::Int32(x), Datum::Int32(y)) => x.$op(y).map(Datum::Int32).ok_or_else(|| range("integer")),
            (Datum::Int64(x), Datum::Int64(y)) => x.$op(y).map(Datum::Int64).ok_or_else(|| range("bigint")),
            (Datum::Float32(x), Datum::Float32(y)) => float32(x.0 $float_op y.0, x.0, y.0, $name),
            (Datum::Float64(x), Datum::Float64(y)) => float64(x.0 $float_op y.0, x.0, y.0, $name),
            (Datum::Numeric(x), Datum::Numeric(y)) => x.$numeric_op(&y).map(Datum::Numeric).ok_or(EvalError::NumericOverflow),
            (a, b) => Err(EvalError::Unsupported(format!("operator {} for {} and {}", $name, datum_type_name(&a), datum_type_name(&b)))),
        }
    };
}

/// The PostgreSQL name of a value's type, for messages.
pub fn datum_type_name(d: &Datum) -> &'static str {
    match d {
        Datum::Null => "unknown",
        Datum::Bool(_) => "boolean",
        Datum::Int16(_) => "smallint",
        Datum::Int32(_) => "integer",
        Datum::Int64(_) => "bigint",
        Datum::Float32(_) => "real",
        Datum::Float64(_) => "double precision",
        Datum::Numeric(_) | Datum::NumericNaN => "numeric",
        Datum::String(_) => "text",
        Datum::Bytes(_) => "bytea",
        Datum::Date(_) => "date",
        Datum::Time(_) => "time without time zone",
        Datum::Timestamp(_) => "timestamp without time zone",
        Datum::TimestampTz(_) => "timestamp with time zone",
        Datum::Interval(_) => "interval",
        Datum::Jsonb(_) => "jsonb",
        Datum::Json(_) => "json",
        Datum::Uuid(_) => "uuid",
        Datum::Array(_) => "array",
    }
}

/// PostgreSQL's errors of floating-point arithmetic (`float.h`): a result
/// is infinite only where an input was (`overflow`), and a product or
/// quotient is zero only where the dividend or a factor was, or the
/// divisor was infinite (`underflow`). `op` is the operator.
fn float_result(r: f64, x: f64, y: f64, op: &str) -> Result<(), EvalError> {
    let failure = |what: &str| EvalError::Parse {
        code: crate::repr::SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        message: format!("value out of range: {what}"),
    };
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(failure("overflow"));
    }
    let underflow = r == 0.0
        && match op {
            "*" => x != 0.0 && y != 0.0,
            "/" => x != 0.0 && y.is_finite(),
            _ => false,
        };
    if underflow {
        return Err(failure("underflow"));
    }
    Ok(())
}

fn float64(r: f64, x: f64, y: f64, op: &str) -> Result<Datum, EvalError> {
    float_result(r, x, y, op)?;
    Ok(Datum::f64(r))
}

fn float32(r: f32, x: f32, y: f32, op: &str) -> Result<Datum, EvalError> {
    float_result(f64::from(r), f64::from(x), f64::from(y), op)?;
    Ok(Datum::f32(r))
}

fn add(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    match (&a, &b) {
        (Datum::Date(d), Datum::Int32(n)) | (Datum::Int32(n), Datum::Date(d)) => {
            return date_in_range(i64::from(*d) + i64::from(*n));
        }
        (Datum::Timestamp(t), Datum::Interval(i)) | (Datum::Interval(i), Datum::Timestamp(t)) => {
            return add_interval(*t, i).map(Datum::Timestamp);
        }
        (Datum::TimestampTz(t), Datum::Interval(i))
        | (Datum::Interval(i), Datum::TimestampTz(t)) => {
            return add_interval(*t, i).map(Datum::TimestampTz);
        }
        (Datum::Date(d), Datum::Interval(i)) | (Datum::Interval(i), Datum::Date(d)) => {
            return add_interval(*d as i64 * Interval::MICROS_PER_DAY, i).map(Datum::Timestamp);
        }
        // PostgreSQL's `time_pl_interval`: the interval's time part only,
        // wrapped around midnight.
        (Datum::Time(t), Datum::Interval(i)) | (Datum::Interval(i), Datum::Time(t)) => {
            let day = i128::from(Interval::MICROS_PER_DAY);
            let wrapped = (i128::from(*t) + i128::from(i.micros)).rem_euclid(day);
            return Ok(Datum::Time(wrapped as i64));
        }
        (Datum::Date(d), Datum::Time(t)) | (Datum::Time(t), Datum::Date(d)) => {
            return Ok(Datum::Timestamp(*d as i64 * Interval::MICROS_PER_DAY + *t));
        }
        (Datum::Interval(x), Datum::Interval(y)) => {
            return Ok(Datum::Interval(Interval {
                months: x
                    .months
                    .checked_add(y.months)
                    .ok_or_else(|| range("interval"))?,
                days: x
                    .days
                    .checked_add(y.days)
                    .ok_or_else(|| range("interval"))?,
                micros: x
                    .micros
                    .checked_add(y.micros)
                    .ok_or_else(|| range("interval"))?,
            }));
        }
        (Datum::Numeric(x), Datum::Numeric(y)) => {
            return x
                .checked_add(y)
                .map(|r| Datum::Numeric(with_scale_of(r, x, y)))
                .ok_or(EvalError::NumericOverflow);
        }
        _ => {}
    }
    int_arith!(a, b, checked_add, +, checked_add, "+")
}

/// `r`, a sum, difference or remainder of `x` and `y`, with PostgreSQL's
/// display scale: the larger of theirs. `Numeric` gives the other operand
/// back unchanged when one is zero (`0.00 + 1.5` would be `1.5`, not
/// `1.50`).
fn with_scale_of(r: Numeric, x: &Numeric, y: &Numeric) -> Numeric {
    let scale = x.scale().max(y.scale());
    if r.scale() >= scale {
        return r;
    }
    // Padding keeps the value and the scale is within the limit (the
    // operands' own).
    let mut padded = r;
    padded.rescale(scale);
    padded
}

fn sub(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    match (&a, &b) {
        (Datum::Date(x), Datum::Date(y)) => {
            return x
                .checked_sub(*y)
                .map(Datum::Int32)
                .ok_or_else(|| range("integer"));
        }
        (Datum::Date(d), Datum::Int32(n)) => {
            return date_in_range(i64::from(*d) - i64::from(*n));
        }
        (Datum::Time(x), Datum::Time(y)) => {
            return Ok(Datum::Interval(Interval {
                months: 0,
                days: 0,
                micros: x - y,
            }));
        }
        (Datum::Timestamp(_), Datum::Interval(i))
        | (Datum::TimestampTz(_), Datum::Interval(i))
        | (Datum::Time(_), Datum::Interval(i))
        | (Datum::Date(_), Datum::Interval(i))
        | (Datum::Interval(_), Datum::Interval(i)) => {
            let neg = UnaryFunc::Neg.eval(Datum::Interval(*i))?;
            return add(a, neg);
        }
        (Datum::Timestamp(x), Datum::Timestamp(y))
        | (Datum::TimestampTz(x), Datum::TimestampTz(y)) => {
            let micros = x.checked_sub(*y).ok_or_else(|| range("interval"))?;
            return Ok(Datum::Interval(Interval {
                months: 0,
                days: (micros / Interval::MICROS_PER_DAY) as i32,
                micros: micros % Interval::MICROS_PER_DAY,
            }));
        }
        (Datum::Numeric(x), Datum::Numeric(y)) => {
            return x
                .checked_sub(y)
                .map(|r| Datum::Numeric(with_scale_of(r, x, y)))
                .ok_or(EvalError::NumericOverflow);
        }
        _ => {}
    }
    int_arith!(a, b, checked_sub, -, checked_sub, "-")
}

fn mul(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    // A zero product keeps PostgreSQL's result scale (`0.00 * 10` is
    // `0.00`), which `Numeric`'s multiplication drops.
    if let (Datum::Numeric(x), Datum::Numeric(y)) = (&a, &b)
        && (x.is_zero() || y.is_zero())
    {
        return Numeric::zero_with_scale(x.scale() + y.scale())
            .map(Datum::Numeric)
            .ok_or(EvalError::NumericOverflow);
    }
    int_arith!(a, b, checked_mul, *, checked_mul, "*")
}

fn div(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let zero = match &b {
        Datum::Int16(0) | Datum::Int32(0) | Datum::Int64(0) => true,
        Datum::Float32(y) => y.0 == 0.0,
        Datum::Float64(y) => y.0 == 0.0,
        Datum::Numeric(y) => y.is_zero(),
        _ => false,
    };
    if zero {
        return Err(EvalError::DivisionByZero);
    }
    if let (Datum::Numeric(x), Datum::Numeric(y)) = (&a, &b) {
        // The exact quotient rounded to PostgreSQL's result scale (at most
        // its display limit, 1000, which is also `Numeric`'s).
        let scale = numeric_div_scale(x, y);
        return x
            .checked_div_to_scale(y, scale)
            .map(Datum::Numeric)
            .ok_or(EvalError::NumericOverflow);
    }
    int_arith!(a, b, checked_div, /, checked_div_trunc, "/")
}

/// The result scale of numeric division, after PostgreSQL's
/// `select_div_scale`: at least 16 significant digits, and no fewer
/// fractional digits than either input.
fn numeric_div_scale(x: &Numeric, y: &Numeric) -> u32 {
    // PostgreSQL's numerics are base-10000 digits: `weight` is the position
    // of the first such digit, `first` its value.
    fn weight_first(d: &Numeric) -> (i64, u64) {
        let a = d.abs();
        if a.is_zero() {
            return (0, 0);
        }
        let int_part = a.clone().trunc();
        if !int_part.is_zero() {
            let digits = int_part.to_string().len() as i64;
            let w = (digits - 1) / 4;
            let first: u64 = int_part.to_string()[..(digits - w * 4) as usize]
                .parse()
                .unwrap_or(0);
            (w, first)
        } else {
            let frac = a.fract().to_string();
            let frac = frac.trim_start_matches("0.");
            let zeros = frac.len() - frac.trim_start_matches('0').len();
            let w = -((zeros as i64) / 4) - 1;
            let start = ((-(w + 1)) * 4) as usize;
            let group: String = frac.chars().skip(start).take(4).collect();
            let group = format!("{group:0<4}");
            (w, group.parse().unwrap_or(0))
        }
    }
    let (w1, f1) = weight_first(x);
    let (w2, f2) = weight_first(y);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    let rscale = (16 - qweight * 4)
        .max(x.scale() as i64)
        .max(y.scale() as i64)
        .max(0);
    // PostgreSQL's `NUMERIC_MAX_DISPLAY_SCALE`.
    rscale.min(i64::from(Numeric::MAX_SCALE)) as u32
}

fn modulo(a: Datum, b: Datum) -> Result<Datum, EvalError> {
    match &b {
        Datum::Int16(0) | Datum::Int32(0) | Datum::Int64(0) => {
            return Err(EvalError::DivisionByZero);
        }
        Datum::Numeric(y) if y.is_zero() => return Err(EvalError::DivisionByZero),
        _ => {}
    }
    match (a, b) {
        // i32::MIN % -1 overflows in Rust but is 0 in PostgreSQL.
        (Datum::Int16(x), Datum::Int16(y)) => Ok(Datum::Int16(x.wrapping_rem(y))),
        (Datum::Int32(x), Datum::Int32(y)) => Ok(Datum::Int32(x.wrapping_rem(y))),
        (Datum::Int64(x), Datum::Int64(y)) => Ok(Datum::Int64(x.wrapping_rem(y))),
        (Datum::Float64(x), Datum::Float64(y)) => Ok(Datum::f64(x.0 % y.0)),
        (Datum::Float32(x), Datum::Float32(y)) => Ok(Datum::f32(x.0 % y.0)),
        (Datum::Numeric(x), Datum::Numeric(y)) => x
            .checked_rem(&y)
            .map(|r| Datum::Numeric(with_scale_of(r, &x, &y)))
            .ok_or(EvalError::NumericOverflow),
        (a, b) => Err(EvalError::Unsupported(format!(
            "operator % for {} and {}",
            datum_type_name(&a),
            datum_type_name(&b)
        ))),
    }
}

/// `timestamp + interval` over microseconds: the months (clamped to the
/// month's end), then the days, then the time.
pub(crate) fn add_interval(ts: i64, i: &Interval) -> Result<i64, EvalError> {
    use chrono::{DateTime, Months};
    let mut t = ts;
    if i.months != 0 {
        let dt = DateTime::from_timestamp_micros(t).ok_or_else(|| range("timestamp"))?;
        let naive = dt.naive_utc();
        let shifted = if i.months > 0 {
            naive.checked_add_months(Months::new(i.months as u32))
        } else {
            naive.checked_sub_months(Months::new(i.months.unsigned_abs()))
        }
        .ok_or_else(|| range("timestamp"))?;
        t = shifted.and_utc().timestamp_micros();
    }
    t.checked_add(i.days as i64 * Interval::MICROS_PER_DAY)
        .and_then(|t| t.checked_add(i.micros))
        .ok_or_else(|| range("timestamp"))
}

/// SQL `LIKE` matching with `%`, `_` and `escape` (normally `\`) escapes.
pub fn like(
    s: &str,
    pattern: &str,
    case_insensitive: bool,
    escape: char,
) -> Result<bool, EvalError> {
    let (s, pattern) = if case_insensitive {
        (s.to_lowercase(), pattern.to_lowercase())
    } else {
        (s.to_string(), pattern.to_string())
    };
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative matcher with backtracking to the last `%`.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                '%' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                '_' => {
                    si += 1;
                    pi += 1;
                    continue;
                }
                c if c == escape => {
                    let Some(&lit) = p.get(pi + 1) else {
                        return Err(EvalError::Parse {
                            code: crate::repr::SqlState::INVALID_ESCAPE_SEQUENCE,
                            message: "LIKE pattern must not end with escape character".into(),
                        });
                    };
                    if lit == s[si] {
                        si += 1;
                        pi += 2;
                        continue;
                    }
                }
                c if c == s[si] => {
                    si += 1;
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return Ok(false),
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    Ok(pi == p.len())
}

impl VariadicFunc {
    /// Evaluates the function's arguments (lazily where SQL says so) and
    /// applies it.
    pub fn eval(&self, exprs: &[ScalarExpr], row: &[Datum]) -> Result<Datum, EvalError> {
        match self {
            VariadicFunc::Coalesce => {
                for e in exprs {
                    let d = e.eval(row)?;
                    if !d.is_null() {
                        return Ok(d);
                    }
                }
                Ok(Datum::Null)
            }
            VariadicFunc::Greatest | VariadicFunc::Least => {
                let mut best: Option<Datum> = None;
                for e in exprs {
                    let d = e.eval(row)?;
                    if d.is_null() {
                        continue;
                    }
                    best = Some(match best {
                        None => d,
                        Some(b) => {
                            let ord = compare(&d, &b)?;
                            let take = if *self == VariadicFunc::Greatest {
                                ord == Ordering::Greater
                            } else {
                                ord == Ordering::Less
                            };
                            if take { d } else { b }
                        }
                    });
                }
                Ok(best.unwrap_or(Datum::Null))
            }
            VariadicFunc::Concat => {
                let mut s = String::new();
                for e in exprs {
                    if let Some(t) = strconv::format(&e.eval(row)?) {
                        s.push_str(&t);
                    }
                }
                Ok(Datum::String(s))
            }
            VariadicFunc::InList { negated } => {
                let Some((first, rest)) = exprs.split_first() else {
                    return Err(EvalError::Internal("IN without operand".into()));
                };
                let x = first.eval(row)?;
                if x.is_null() {
                    return Ok(Datum::Null);
                }
                let mut saw_null = false;
                for e in rest {
                    let d = e.eval(row)?;
                    if d.is_null() {
                        saw_null = true;
                    } else if compare(&x, &d)? == Ordering::Equal {
                        return Ok(Datum::Bool(!negated));
                    }
                }
                Ok(if saw_null {
                    Datum::Null
                } else {
                    Datum::Bool(*negated)
                })
            }
            // The functions that take their arguments evaluated.
            VariadicFunc::Array(_)
            | VariadicFunc::Round(_)
            | VariadicFunc::NumericMath(_)
            | VariadicFunc::Regex(_)
            | VariadicFunc::DateTrunc
            | VariadicFunc::Format(_)
            | VariadicFunc::Jsonb(_)
            | VariadicFunc::Pg(_)
            | VariadicFunc::Sequence(_) => {
                let args = exprs
                    .iter()
                    .map(|e| e.eval(row))
                    .collect::<Result<Vec<_>, _>>()?;
                match self {
                    VariadicFunc::Array(f) => f.eval(args),
                    VariadicFunc::Round(f) => f.eval(args),
                    VariadicFunc::NumericMath(f) => f.eval(args),
                    VariadicFunc::Regex(f) => f.eval(args),
                    VariadicFunc::DateTrunc => match args.as_slice() {
                        [Datum::String(unit), value] => super::date_trunc::date_trunc(unit, value),
                        _ if args.iter().any(Datum::is_null) => Ok(Datum::Null),
                        _ => Err(EvalError::Internal(format!("date_trunc of {args:?}"))),
                    },
                    VariadicFunc::Format(f) => f.eval(args),
                    VariadicFunc::Jsonb(f) => f.eval(args),
                    VariadicFunc::Pg(f) => f.eval(args),
                    VariadicFunc::Sequence(f) => super::sequence::eval(*f, args),
                    _ => Err(EvalError::Internal("unreachable".into())),
                }
            }
            VariadicFunc::NullIf => {
                let [a, b] = exprs else {
                    return Err(EvalError::Internal("nullif takes two arguments".into()));
                };
                let a = a.eval(row)?;
                let b = b.eval(row)?;
                if !a.is_null() && !b.is_null() && compare(&a, &b)? == Ordering::Equal {
                    Ok(Datum::Null)
                } else {
                    Ok(a)
                }
            }
        }
    }
}

/// `CAST(d AS to)` with PostgreSQL's rules for the conversions Freshet
/// supports.
pub fn cast(d: Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    use ScalarType as T;
    if d.is_null() {
        return Ok(Datum::Null);
    }
    let out = match (d, to) {
        // To strings: the value's text form. An explicit cast to
        // varchar(n)/char(n) truncates, as in PostgreSQL.
        (d, T::Text | T::VarChar(_) | T::Char(_) | T::Name) => {
            let s = match d {
                Datum::String(s) => s,
                // The text output of a boolean is t/f, but its cast to text
                // (and varchar, char) is true/false; `name` has no cast
                // from it and reads its output.
                Datum::Bool(b) if *to != T::Name => if b { "true" } else { "false" }.to_string(),
                other => strconv::format(&other).unwrap_or_default(),
            };
            let s = match to {
                T::VarChar(Some(n)) | T::Char(Some(n)) => s.chars().take(*n as usize).collect(),
                _ => s,
            };
            return Ok(strconv::apply_typmod(Datum::String(s), to)?);
        }
        // From strings: parse the text form.
        (Datum::String(s), to) => return Ok(strconv::parse(&s, to)?),
        (Datum::Jsonb(s), T::Jsonb) => Datum::Jsonb(s),
        (Datum::Jsonb(s), T::Json) | (Datum::Json(s), T::Json) => Datum::Json(s),
        (Datum::Json(s), T::Jsonb) => Datum::Jsonb(strconv::canonical_jsonb(&s)?),
        // PostgreSQL has no other casts from `json`.
        (Datum::Json(_), to) => return Err(cannot_cast(to)),
        (Datum::Jsonb(s), to) => {
            return super::jsonb::cast_to_scalar(&s, to).unwrap_or_else(|| Err(cannot_cast(to)));
        }
        // Numbers.
        (d @ (Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_)), to) => {
            let v = match d {
                Datum::Int16(v) => v as i64,
                Datum::Int32(v) => v as i64,
                Datum::Int64(v) => v,
                _ => unreachable_int(),
            };
            match to {
                T::Int16 => Datum::Int16(i16::try_from(v).map_err(|_| range("smallint"))?),
                T::Int32 => Datum::Int32(i32::try_from(v).map_err(|_| range("integer"))?),
                T::Int64 => Datum::Int64(v),
                // An OID (`oid` is Freshet's `bigint`).
                T::RegType => {
                    Datum::Int64(u32::try_from(v).map_err(|_| range("oid")).map(i64::from)?)
                }
                T::Float32 => Datum::f32(v as f32),
                T::Float64 => Datum::f64(v as f64),
                T::Numeric { .. } => Datum::Numeric(Numeric::from(v)),
                T::Bool => Datum::Bool(v != 0),
                _ => return Err(cannot_cast(to)),
            }
        }
        (Datum::Float64(OrdF64(v)), to) => float_to(v, FLOAT8_DIGITS, to)?,
        (Datum::Float32(OrdF32(v)), to) => float_to(v as f64, FLOAT4_DIGITS, to)?,
        (Datum::NumericNaN, to) => match to {
            // PostgreSQL's `numeric_int4` and kin raise this with 0A000.
            T::Int16 | T::Int32 | T::Int64 => {
                return Err(EvalError::Parse {
                    code: crate::repr::SqlState::FEATURE_NOT_SUPPORTED,
                    message: format!("cannot convert NaN to {}", int_name(to)),
                });
            }
            T::Float32 => Datum::f32(f32::NAN),
            T::Float64 => Datum::f64(f64::NAN),
            T::Numeric { .. } => Datum::NumericNaN,
            _ => return Err(cannot_cast(to)),
        },
        (Datum::Numeric(n), to) => match to {
            T::Int16 | T::Int32 | T::Int64 => {
                let r = n.round_dp_with(0, NumericRounding::HalfAwayFromZero);
                let v = r.to_i64().ok_or_else(|| range(int_name(to)))?;
                return cast(Datum::Int64(v), to).map_err(|_| range(int_name(to)));
            }
            // Through the text form and the float's input, as PostgreSQL
            // does: correctly rounded (`to_f64` divides by a power of ten
            // and can be off by one unit in the last place), and a wide
            // value beyond the float's range, either way, is its `22003`.
            T::Float32 | T::Float64 => return Ok(strconv::parse(&n.to_string(), to)?),
            T::Numeric { .. } => Datum::Numeric(n),
            _ => return Err(cannot_cast(to)),
        },
        (Datum::Bool(b), T::Int32) => Datum::Int32(b as i32),
        (Datum::Bool(b), T::Bool) => Datum::Bool(b),
        // Dates and times.
        (Datum::Date(d), T::Date) => Datum::Date(d),
        (Datum::Date(d), T::Timestamp(_)) => Datum::Timestamp(d as i64 * Interval::MICROS_PER_DAY),
        (Datum::Date(d), T::TimestampTz(_)) => {
            Datum::TimestampTz(d as i64 * Interval::MICROS_PER_DAY)
        }
        (Datum::Timestamp(t) | Datum::TimestampTz(t), T::Date) => {
            Datum::Date(t.div_euclid(Interval::MICROS_PER_DAY) as i32)
        }
        (Datum::Timestamp(t) | Datum::TimestampTz(t), T::Time(_)) => {
            Datum::Time(t.rem_euclid(Interval::MICROS_PER_DAY))
        }
        (Datum::Timestamp(t) | Datum::TimestampTz(t), T::Timestamp(_)) => Datum::Timestamp(t),
        (Datum::Timestamp(t) | Datum::TimestampTz(t), T::TimestampTz(_)) => Datum::TimestampTz(t),
        (Datum::Time(t), T::Time(_)) => Datum::Time(t),
        (Datum::Time(t), T::Interval { .. }) => Datum::Interval(Interval {
            months: 0,
            days: 0,
            micros: t,
        }),
        (Datum::Interval(i), T::Interval { .. }) => Datum::Interval(i),
        // PostgreSQL's `interval_time`: the time part, modulo a day.
        (Datum::Interval(i), T::Time(_)) => {
            Datum::Time(i.micros.rem_euclid(Interval::MICROS_PER_DAY))
        }
        (Datum::Bytes(b), T::Bytea) => Datum::Bytes(b),
        (Datum::Uuid(u), T::Uuid) => Datum::Uuid(u),
        (Datum::Array(elements), T::Array(elem)) => Datum::Array(
            elements
                .into_iter()
                .map(|e| cast(e, elem))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        (_, to) => return Err(cannot_cast(to)),
    };
    Ok(strconv::apply_typmod(out, to)?)
}

fn unreachable_int() -> i64 {
    0
}

fn int_name(t: &ScalarType) -> &'static str {
    match t {
        ScalarType::Int16 => "smallint",
        ScalarType::Int32 => "integer",
        _ => "bigint",
    }
}

fn cannot_cast(to: &ScalarType) -> EvalError {
    EvalError::Unsupported(format!("cast to {}", to.name()))
}

/// The significant digits PostgreSQL keeps when it converts a `real` to
/// `numeric` (`FLT_DIG`).
const FLOAT4_DIGITS: usize = 6;
/// The same for `double precision` (`DBL_DIG`).
const FLOAT8_DIGITS: usize = 15;

/// `v` as `numeric`, rounded to `digits` significant digits as PostgreSQL's
/// `float4_numeric`/`float8_numeric` do (they print with `%.*g` and read the
/// text back): `1.1::real::numeric` is `1.1`, not `1.100000023841858`.
fn float_to_numeric(v: f64, digits: usize) -> Result<Numeric, EvalError> {
    let text = format!("{:.*e}", digits - 1, v);
    // Without the mantissa's trailing zeros, which would count against
    // `Numeric`'s 28 digits of scale (`1.00000000000000e-20`).
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = match mantissa.contains('.') {
        true => mantissa.trim_end_matches('0').trim_end_matches('.'),
        false => mantissa,
    };
    let d = format!("{mantissa}e{exponent}")
        .parse::<Numeric>()
        .map_err(|_| EvalError::NumericOverflow)?;
    Ok(d.normalize())
}

fn float_to(v: f64, digits: usize, to: &ScalarType) -> Result<Datum, EvalError> {
    use ScalarType as T;
    Ok(match to {
        T::Int16 | T::Int32 | T::Int64 => {
            // PostgreSQL rounds half to even (rint).
            let r = v.round_ties_even();
            let (lo, hi, name) = match to {
                T::Int16 => (i16::MIN as f64, i16::MAX as f64, "smallint"),
                T::Int32 => (i32::MIN as f64, i32::MAX as f64, "integer"),
                _ => (i64::MIN as f64, 9.223372036854775e18, "bigint"),
            };
            if r.is_nan() || r < lo || r > hi {
                return Err(range(name));
            }
            return cast(Datum::Int64(r as i64), to);
        }
        T::Float32 => {
            let f = v as f32;
            if f.is_infinite() && v.is_finite() {
                return Err(range("real"));
            }
            Datum::f32(f)
        }
        T::Float64 => Datum::f64(v),
        T::Numeric { .. } if v.is_nan() => Datum::NumericNaN,
        T::Numeric { .. } => {
            if !v.is_finite() {
                // PostgreSQL 15's numeric has these values; Freshet's (as
                // Materialize's) has not: refused, never rounded.
                let name = if v > 0.0 { "Infinity" } else { "-Infinity" };
                return Err(EvalError::Unsupported(format!("numeric value \"{name}\"")));
            }
            Datum::Numeric(float_to_numeric(v, digits)?)
        }
        _ => return Err(cannot_cast(to)),
    })
}

/// A scalar function from DataFusion's library, called one row at a time.
///
/// Freshet converts the arguments to Arrow scalars, calls the function's own
/// implementation, and converts the result back. This buys the breadth of
/// DataFusion's function library at the cost of ~1 µs a call.
#[derive(Clone, Debug)]
pub struct ExternalFunc {
    /// The function.
    pub udf: Arc<ScalarUDF>,
    /// The arguments.
    pub args: Vec<ScalarExpr>,
    /// The Arrow types of the arguments, as DataFusion planned them.
    pub arg_types: Vec<DataType>,
    /// The Arrow type of the result.
    pub return_type: DataType,
}

/// The start of a planning function's error message (a wrapped DataFusion
/// function's) that is PostgreSQL's `22011 substring_error`.
pub const SQLSTATE_SUBSTRING_ERROR: &str = "[22011] ";

impl ExternalFunc {
    /// Calls the function on evaluated arguments.
    pub fn invoke(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        let values = args
            .into_iter()
            .zip(&self.arg_types)
            .map(|(d, t)| datum_to_scalar(&d, t).map(ColumnarValue::Scalar))
            .collect::<Result<Vec<_>, _>>()?;
        let arg_fields = self
            .arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| Arc::new(Field::new(format!("arg{i}"), t.clone(), true)))
            .collect();
        let args = ScalarFunctionArgs {
            args: values,
            arg_fields,
            number_rows: 1,
            return_field: Arc::new(Field::new("result", self.return_type.clone(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        // A panic in a library function must not take down the worker that
        // runs every dataflow: it becomes this row's error.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.udf.invoke_with_args(args)
        }))
        .map_err(|_| EvalError::Internal(format!("function {} panicked", self.udf.name())))?;
        let result = outcome.map_err(|e| {
            let message = clean_datafusion_error(&e.to_string());
            match message.strip_prefix(SQLSTATE_SUBSTRING_ERROR) {
                Some(m) => EvalError::Parse {
                    code: SqlState(*b"22011"),
                    message: m.into(),
                },
                None => EvalError::InvalidParameter(message),
            }
        })?;
        let scalar = match result {
            ColumnarValue::Scalar(s) => s,
            ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0)
                .map_err(|e| EvalError::Internal(e.to_string()))?,
        };
        scalar_to_datum(&scalar)
    }
}

/// Strips DataFusion's error prefixes for a PostgreSQL-style message.
pub fn clean_datafusion_error(s: &str) -> String {
    let mut s = s;
    for prefix in [
        "Execution error: ",
        "Error during planning: ",
        "This feature is not implemented: ",
        "Arrow error: ",
        "Internal error: ",
        "Optimizer rule 'simplify_expressions' failed\ncaused by\n",
        "Optimizer rule 'optimize_projections' failed\ncaused by\n",
    ] {
        while let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    let mut out = s.to_string();
    // A sentence starts in lower case, an acronym (`UNNEST`) stays.
    let acronym = out.chars().nth(1).is_some_and(|c| c.is_uppercase());
    if let Some(first) = out.get(0..1)
        && !acronym
    {
        let lower = first.to_lowercase();
        out.replace_range(0..1, &lower);
    }
    out.trim_end_matches('.').to_string()
}

/// Converts a Datum to an Arrow scalar of the given type.
pub fn datum_to_scalar(d: &Datum, t: &DataType) -> Result<ScalarValue, EvalError> {
    use datafusion_common::arrow::datatypes::{IntervalMonthDayNano, TimeUnit};
    if d.is_null() {
        return ScalarValue::try_from(t).map_err(|e| EvalError::Internal(e.to_string()));
    }
    let v = match d {
        Datum::Null => ScalarValue::Null,
        Datum::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Datum::Int16(v) => ScalarValue::Int16(Some(*v)),
        Datum::Int32(v) => ScalarValue::Int32(Some(*v)),
        Datum::Int64(v) => ScalarValue::Int64(Some(*v)),
        Datum::Float32(v) => ScalarValue::Float32(Some(v.0)),
        Datum::Float64(v) => ScalarValue::Float64(Some(v.0)),
        // Arrow's decimals have no `NaN`.
        Datum::NumericNaN => {
            return Err(EvalError::Unsupported(
                "numeric \"NaN\" as an argument of this function".into(),
            ));
        }
        Datum::Numeric(n) => {
            let (p, s, wide) = match t {
                DataType::Decimal128(p, s) => (*p, *s, false),
                DataType::Decimal256(p, s) => (*p, *s, true),
                _ => (38, n.scale().min(38) as i8, false),
            };
            let mut rescaled = n.clone().round_dp(s.max(0) as u32);
            rescaled.rescale(s.max(0) as u32);
            let (m, _) = rescaled.to_big_parts();
            if wide {
                let m = datafusion_common::arrow::datatypes::i256::from_string(&m.to_string())
                    .ok_or(EvalError::NumericOverflow)?;
                ScalarValue::Decimal256(Some(m), p, s)
            } else {
                use num_traits::ToPrimitive;
                ScalarValue::Decimal128(Some(m.to_i128().ok_or(EvalError::NumericOverflow)?), p, s)
            }
        }
        Datum::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Datum::Jsonb(s) => ScalarValue::Dictionary(
            Box::new(DataType::Int8),
            Box::new(ScalarValue::Utf8(Some(s.clone()))),
        ),
        Datum::Json(s) => ScalarValue::Dictionary(
            Box::new(DataType::Int16),
            Box::new(ScalarValue::Utf8(Some(s.clone()))),
        ),
        Datum::Bytes(b) => ScalarValue::Binary(Some(b.clone())),
        Datum::Date(d) => ScalarValue::Date32(Some(*d)),
        Datum::Time(t) => ScalarValue::Time64Microsecond(Some(*t)),
        Datum::Timestamp(t) => ScalarValue::TimestampMicrosecond(Some(*t), None),
        Datum::TimestampTz(t) => ScalarValue::TimestampMicrosecond(Some(*t), Some("+00:00".into())),
        Datum::Interval(i) => ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
            i.months,
            i.days,
            i.micros.saturating_mul(1000),
        ))),
        Datum::Uuid(u) => ScalarValue::FixedSizeBinary(16, Some(u.as_bytes().to_vec())),
        Datum::Array(elements) => super::array::list_scalar(elements, t)?,
    };
    if &v.data_type() == t {
        return Ok(v);
    }
    // The planner may have chosen a different physical type (say Utf8View
    // for Utf8, or nanosecond timestamps); let Arrow convert.
    let _ = TimeUnit::Microsecond;
    v.cast_to(t).map_err(|e| EvalError::Internal(e.to_string()))
}

/// An Arrow decimal's mantissa and scale as a `numeric` datum. A negative
/// scale multiplies the mantissa: `15` at scale -2 is 1500.
fn decimal_datum(m: num_bigint::BigInt, s: i8) -> Result<Datum, EvalError> {
    let m = m * num_bigint::BigInt::from(10u32).pow(u32::from(s.min(0).unsigned_abs()));
    Numeric::from_big_parts(m, s.max(0) as u32)
        .map(Datum::Numeric)
        .ok_or(EvalError::NumericOverflow)
}

/// Converts an Arrow scalar back to a Datum.
pub fn scalar_to_datum(s: &ScalarValue) -> Result<Datum, EvalError> {
    use ScalarValue as S;
    if s.is_null() {
        return Ok(Datum::Null);
    }
    Ok(match s {
        S::Boolean(Some(b)) => Datum::Bool(*b),
        S::Int8(Some(v)) => Datum::Int16(*v as i16),
        S::Int16(Some(v)) => Datum::Int16(*v),
        S::Int32(Some(v)) => Datum::Int32(*v),
        S::Int64(Some(v)) => Datum::Int64(*v),
        S::UInt8(Some(v)) => Datum::Int16(*v as i16),
        S::UInt16(Some(v)) => Datum::Int32(*v as i32),
        S::UInt32(Some(v)) => Datum::Int64(*v as i64),
        S::UInt64(Some(v)) => Datum::Numeric(Numeric::from(*v)),
        S::Float32(Some(v)) => Datum::f32(*v),
        S::Float64(Some(v)) => Datum::f64(*v),
        S::Decimal128(Some(m), _, s) => decimal_datum(num_bigint::BigInt::from(*m), *s)?,
        // DataFusion types a literal of more than 38 digits so.
        S::Decimal256(Some(m), _, s) => decimal_datum(
            m.to_string()
                .parse::<num_bigint::BigInt>()
                .map_err(|e| EvalError::Internal(e.to_string()))?,
            *s,
        )?,
        S::Utf8(Some(v)) | S::Utf8View(Some(v)) => Datum::String(v.clone()),
        S::LargeUtf8(Some(v)) => Datum::String(v.clone()),
        S::Dictionary(key, inner) if **key == DataType::Int8 => match inner.as_ref() {
            S::Utf8(Some(v)) => Datum::Jsonb(v.clone()),
            other => scalar_to_datum(other)?,
        },
        S::Dictionary(key, inner) if **key == DataType::Int16 => match inner.as_ref() {
            S::Utf8(Some(v)) => Datum::Json(v.clone()),
            other => scalar_to_datum(other)?,
        },
        S::Binary(Some(v)) | S::LargeBinary(Some(v)) | S::BinaryView(Some(v)) => {
            Datum::Bytes(v.clone())
        }
        S::FixedSizeBinary(16, Some(v)) => {
            Datum::Uuid(uuid::Uuid::from_slice(v).map_err(|e| EvalError::Internal(e.to_string()))?)
        }
        S::Date32(Some(d)) => Datum::Date(*d),
        S::Date64(Some(ms)) => Datum::Date((ms / 86_400_000) as i32),
        S::Time64Microsecond(Some(t)) => Datum::Time(*t),
        S::Time64Nanosecond(Some(t)) => Datum::Time(t / 1000),
        S::TimestampMicrosecond(Some(t), tz) => ts_datum(*t, tz.is_some()),
        S::TimestampNanosecond(Some(t), tz) => ts_datum(t.div_euclid(1000), tz.is_some()),
        S::TimestampMillisecond(Some(t), tz) => ts_datum(t.saturating_mul(1000), tz.is_some()),
        S::TimestampSecond(Some(t), tz) => ts_datum(t.saturating_mul(1_000_000), tz.is_some()),
        S::IntervalMonthDayNano(Some(i)) => Datum::Interval(Interval {
            months: i.months,
            days: i.days,
            micros: i.nanoseconds / 1000,
        }),
        S::IntervalDayTime(Some(i)) => Datum::Interval(Interval {
            months: 0,
            days: i.days,
            micros: i.milliseconds as i64 * 1000,
        }),
        S::IntervalYearMonth(Some(m)) => Datum::Interval(Interval {
            months: *m,
            days: 0,
            micros: 0,
        }),
        S::List(_) | S::LargeList(_) | S::FixedSizeList(_) => super::array::list_datum(s)?,
        other => {
            return Err(EvalError::Unsupported(format!(
                "values of type {}",
                other.data_type()
            )));
        }
    })
}

fn ts_datum(micros: i64, tz: bool) -> Datum {
    if tz {
        Datum::TimestampTz(micros)
    } else {
        Datum::Timestamp(micros)
    }
}

/// A cast for assignment to a column (INSERT, UPDATE): like [`cast`], except
/// that a string too long for `varchar(n)`/`char(n)` is an error rather than
/// truncated, as in PostgreSQL.
pub fn assign_cast(d: Datum, to: &ScalarType) -> Result<Datum, EvalError> {
    match (&d, to) {
        (Datum::String(_), ScalarType::VarChar(_) | ScalarType::Char(_) | ScalarType::Text) => {
            Ok(strconv::apply_typmod(d, to)?)
        }
        // Another type's value is first its text, then checked against the
        // length as a string is (`123456` into `varchar(5)` is 22001; an
        // explicit cast would cut it to `12345`).
        (Datum::Null, _) => cast(d, to),
        (_, ScalarType::VarChar(Some(_)) | ScalarType::Char(_)) => {
            let text = cast(d, &ScalarType::Text)?;
            Ok(strconv::apply_typmod(text, to)?)
        }
        _ => cast(d, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from PostgreSQL 15.
    #[test]
    fn numeric_nan_casts_and_arithmetic() {
        let num = ScalarType::Numeric {
            precision: None,
            scale: None,
        };
        let nan = Datum::NumericNaN;
        assert_eq!(cast(Datum::f64(f64::NAN), &num), Ok(Datum::NumericNaN));
        assert_eq!(cast(Datum::f32(f32::NAN), &num), Ok(Datum::NumericNaN));
        assert!(
            matches!(cast(nan.clone(), &ScalarType::Float64), Ok(Datum::Float64(f)) if f.0.is_nan())
        );
        assert_eq!(
            cast(nan.clone(), &ScalarType::Text),
            Ok(Datum::String("NaN".into()))
        );
        let e = cast(nan.clone(), &ScalarType::Int16).unwrap_err();
        assert_eq!(
            (e.code().as_str(), e.to_string().as_str()),
            ("0A000", "cannot convert NaN to smallint")
        );
        assert_eq!(
            cast(Datum::f64(f64::INFINITY), &num)
                .unwrap_err()
                .code()
                .as_str(),
            "0A000"
        );
        let zero = Datum::Numeric(Numeric::ZERO);
        for f in [
            BinaryFunc::Add,
            BinaryFunc::Sub,
            BinaryFunc::Mul,
            BinaryFunc::Div,
            BinaryFunc::Mod,
        ] {
            assert_eq!(
                f.eval(nan.clone(), zero.clone()),
                Ok(Datum::NumericNaN),
                "{f:?}"
            );
            assert_eq!(
                f.eval(zero.clone(), nan.clone()),
                Ok(Datum::NumericNaN),
                "{f:?}"
            );
        }
        assert_eq!(
            BinaryFunc::Div.eval(Datum::Numeric(Numeric::ONE), zero),
            Err(EvalError::DivisionByZero)
        );
        assert_eq!(
            compare(
                &nan,
                &Datum::Numeric(format!("9{}", "0".repeat(999)).parse().unwrap())
            ),
            Ok(Ordering::Greater)
        );
        assert_eq!(compare(&nan, &Datum::NumericNaN), Ok(Ordering::Equal));
        assert_eq!(BinaryFunc::Eq.eval(nan.clone(), nan), Ok(Datum::Bool(true)));
    }

    #[test]
    fn integer_overflow_is_an_error() {
        assert_eq!(
            BinaryFunc::Add.eval(Datum::Int32(i32::MAX), Datum::Int32(1)),
            Err(EvalError::OutOfRange("integer".into()))
        );
        assert_eq!(
            BinaryFunc::Mul.eval(Datum::Int64(i64::MAX), Datum::Int64(2)),
            Err(EvalError::OutOfRange("bigint".into()))
        );
    }

    #[test]
    fn division_by_zero_is_an_error() {
        assert_eq!(
            BinaryFunc::Div.eval(Datum::Int32(1), Datum::Int32(0)),
            Err(EvalError::DivisionByZero)
        );
        assert_eq!(
            BinaryFunc::Div.eval(Datum::f64(1.0), Datum::f64(0.0)),
            Err(EvalError::DivisionByZero)
        );
    }

    #[test]
    fn floats_and_numerics_convert_as_postgres() {
        let num = |d: Datum| match cast(
            d,
            &ScalarType::Numeric {
                precision: None,
                scale: None,
            },
        ) {
            Ok(Datum::Numeric(n)) => n.to_string(),
            other => panic!("{other:?}"),
        };
        // PostgreSQL 15's answers: FLT_DIG and DBL_DIG significant digits.
        assert_eq!(num(Datum::f32(1.1)), "1.1");
        assert_eq!(num(Datum::f32(123_456_789.0)), "123457000");
        assert_eq!(num(Datum::f32(2.5e-5)), "0.000025");
        assert_eq!(num(Datum::f64(1.0 / 3.0)), "0.333333333333333");
        assert_eq!(num(Datum::f64(1.5e20)), "150000000000000000000");
        assert_eq!(num(Datum::f64(1e-20)), "0.00000000000000000001");
        // Numeric to float is correctly rounded.
        let n: Numeric = "1.23456789012345678".parse().unwrap();
        assert_eq!(
            cast(Datum::Numeric(n), &ScalarType::Float64),
            Ok(Datum::f64(1.234_567_890_123_456_7))
        );
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(and(Datum::Null, Datum::Bool(false)), Ok(Datum::Bool(false)));
        assert_eq!(and(Datum::Null, Datum::Bool(true)), Ok(Datum::Null));
        assert_eq!(or(Datum::Null, Datum::Bool(true)), Ok(Datum::Bool(true)));
        assert_eq!(or(Datum::Null, Datum::Bool(false)), Ok(Datum::Null));
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", false, '\\').unwrap());
        assert!(like("hello", "h_llo", false, '\\').unwrap());
        assert!(!like("hello", "h_lo", false, '\\').unwrap());
        assert!(like("HeLLo", "hello", true, '\\').unwrap());
        assert!(like("a%b", "a\\%b", false, '\\').unwrap());
        assert!(like("", "%", false, '\\').unwrap());
    }

    #[test]
    fn casts_round_and_check_range() {
        assert_eq!(
            cast(Datum::f64(2.5), &ScalarType::Int32),
            Ok(Datum::Int32(2))
        );
        assert_eq!(
            cast(Datum::f64(3.5), &ScalarType::Int32),
            Ok(Datum::Int32(4))
        );
        assert_eq!(
            cast(Datum::Int64(1 << 40), &ScalarType::Int32),
            Err(EvalError::OutOfRange("integer".into()))
        );
        assert_eq!(
            cast(Datum::Numeric("2.5".parse().unwrap()), &ScalarType::Int32),
            Ok(Datum::Int32(3))
        );
    }
}
