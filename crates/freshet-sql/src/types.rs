//! SQL type names (sqlparser's [`DataType`]) → [`ScalarType`].

use sqlparser::ast::{CharacterLength, DataType, ExactNumberInfo, TimezoneInfo};

use crate::repr::ScalarType;
use crate::repr::types::{IntervalFields, MAX_DATETIME_PRECISION};

use super::PlanError;

fn char_len(l: &Option<CharacterLength>) -> Option<u32> {
    match l {
        Some(CharacterLength::IntegerLength { length, .. }) => {
            Some(u32::try_from(*length).unwrap_or(u32::MAX))
        }
        _ => None,
    }
}

/// The Freshet type a column definition or cast names.
pub fn scalar_type_from_sql(t: &DataType) -> Result<ScalarType, PlanError> {
    Ok(match t {
        DataType::Bool | DataType::Boolean => ScalarType::Bool,
        DataType::SmallInt(_) | DataType::Int2(_) => ScalarType::Int16,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => ScalarType::Int32,
        DataType::BigInt(_) | DataType::Int8(_) => ScalarType::Int64,
        DataType::Real | DataType::Float4 => ScalarType::Float32,
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => ScalarType::Float64,
        DataType::Float(info) => match info {
            ExactNumberInfo::Precision(p) if *p <= 24 => ScalarType::Float32,
            _ => ScalarType::Float64,
        },
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => match info {
            ExactNumberInfo::None => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            ExactNumberInfo::Precision(p) => numeric(*p, 0)?,
            ExactNumberInfo::PrecisionAndScale(p, s) => numeric(*p, *s)?,
        },
        DataType::Text | DataType::String(None) => ScalarType::Text,
        DataType::Varchar(l) | DataType::CharacterVarying(l) | DataType::CharVarying(l) => {
            ScalarType::VarChar(checked_length("varchar", char_len(l))?)
        }
        DataType::Char(l) | DataType::Character(l) => {
            ScalarType::Char(Some(checked_length("char", char_len(l))?.unwrap_or(1)))
        }
        DataType::Bytea => ScalarType::Bytea,
        DataType::Date => ScalarType::Date,
        DataType::Time(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            return Err(PlanError::Unsupported("type time with time zone".into()));
        }
        DataType::Time(p, _) => ScalarType::Time(datetime_precision(*p)),
        DataType::Timestamp(p, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            ScalarType::TimestampTz(datetime_precision(*p))
        }
        DataType::Timestamp(p, _) => ScalarType::Timestamp(datetime_precision(*p)),
        DataType::Interval { fields, precision } => {
            let fields = fields
                .as_ref()
                .map(super::interval_literals::from_sql_fields);
            // Only seconds have a precision (`interval hour(2)` is
            // PostgreSQL's syntax error).
            if precision.is_some()
                && fields.is_some_and(|f| {
                    !matches!(
                        f,
                        IntervalFields::Second
                            | IntervalFields::DayToSecond
                            | IntervalFields::HourToSecond
                            | IntervalFields::MinuteToSecond
                    )
                })
            {
                return Err(PlanError::Syntax("syntax error at or near \"(\"".into()));
            }
            ScalarType::Interval {
                fields,
                precision: datetime_precision(*precision),
            }
        }
        DataType::JSONB => ScalarType::Jsonb,
        DataType::JSON => ScalarType::Json,
        DataType::Uuid => ScalarType::Uuid,
        DataType::Custom(name, modifiers) => {
            let n = name.to_string().to_lowercase();
            let n = n.trim_start_matches("pg_catalog.");
            match n {
                "timestamptz" => ScalarType::TimestampTz(custom_precision(modifiers)?),
                // `bpchar` without a length is unbounded (what
                // `pg_dump` writes: `DEFAULT 'NZ'::bpchar`), unlike
                // `character`, which is `character(1)`.
                "bpchar" => ScalarType::Char(checked_length(
                    "char",
                    modifiers.first().and_then(|m| m.parse().ok()),
                )?),
                "int2" => ScalarType::Int16,
                "int4" => ScalarType::Int32,
                "int8" => ScalarType::Int64,
                "float4" => ScalarType::Float32,
                "float8" => ScalarType::Float64,
                "string" => ScalarType::Text,
                "regtype" => ScalarType::RegType,
                "name" => ScalarType::Name,
                other => return Err(PlanError::UnknownType(other.to_string())),
            }
        }
        DataType::Array(
            sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _)
            | sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)
            | sqlparser::ast::ArrayElemTypeDef::Parenthesis(inner),
        ) => {
            let elem = scalar_type_from_sql(inner)?;
            // `int[][]` is the same type as `int[]` in PostgreSQL, but its
            // values would be multidimensional.
            if matches!(elem, ScalarType::Array(_)) {
                return Err(PlanError::Unsupported("multidimensional arrays".into()));
            }
            ScalarType::Array(Box::new(elem))
        }
        other => return Err(PlanError::Unsupported(format!("type {other}"))),
    })
}

/// The most characters a `varchar(n)` or `char(n)` may declare, as in
/// PostgreSQL.
const MAX_CHAR_LENGTH: u32 = 10_485_760;

/// A `varchar(n)` or `char(n)` length, checked as PostgreSQL checks it.
fn checked_length(name: &str, length: Option<u32>) -> Result<Option<u32>, PlanError> {
    match length {
        Some(0) => Err(PlanError::InvalidParameter(format!(
            "length for type {name} must be at least 1"
        ))),
        Some(n) if n > MAX_CHAR_LENGTH => Err(PlanError::InvalidParameter(format!(
            "length for type {name} cannot exceed {MAX_CHAR_LENGTH}"
        ))),
        other => Ok(other),
    }
}

/// Whether `t` names a date/time type, whose errors (a field list, a
/// bad modifier) are the user's rather than a type Freshet lacks.
pub fn is_datetime(t: &DataType) -> bool {
    match t {
        DataType::Time(..) | DataType::Timestamp(..) | DataType::Interval { .. } => true,
        DataType::Custom(name, _) => name.to_string().eq_ignore_ascii_case("timestamptz"),
        _ => false,
    }
}

/// A date/time type's precision: beyond 6 it is 6, as PostgreSQL reduces
/// it (with a warning, which Freshet does not send).
fn datetime_precision(p: Option<u64>) -> Option<u8> {
    p.map(|p| p.min(MAX_DATETIME_PRECISION as u64) as u8)
}

/// The precision of a type written as a name with modifiers
/// (`pg_catalog.timestamptz(3)`).
fn custom_precision(modifiers: &[String]) -> Result<Option<u8>, PlanError> {
    match modifiers {
        [] => Ok(None),
        [p] => p
            .trim()
            .parse::<u64>()
            .map(|p| datetime_precision(Some(p)))
            .map_err(|_| PlanError::Syntax(format!("syntax error at or near \"{p}\""))),
        _ => Err(PlanError::InvalidParameter("invalid type modifier".into())),
    }
}

fn numeric(p: u64, s: i64) -> Result<ScalarType, PlanError> {
    if p == 0 || p > 1000 {
        return Err(PlanError::InvalidParameter(format!(
            "NUMERIC precision {p} must be between 1 and 1000"
        )));
    }
    // PostgreSQL allows 1000; `ScalarType` keeps the precision in a byte
    // (the values themselves fit `Numeric`, 1000 digits each side).
    if p > u64::from(u8::MAX) {
        return Err(PlanError::Unsupported(format!(
            "NUMERIC precision {p} (Freshet's type modifiers go up to {})",
            u8::MAX
        )));
    }
    if s < 0 || s as u64 > p {
        return Err(PlanError::InvalidParameter(format!(
            "NUMERIC scale {s} must be between 0 and precision {p}"
        )));
    }
    Ok(ScalarType::Numeric {
        precision: Some(p as u8),
        scale: Some(s as u8),
    })
}
