//! PostgreSQL's text formats: [`parse`] turns input text into a [`Datum`] of
//! a given [`ScalarType`] (applying its type modifier), [`format`] prints a
//! [`Datum`] exactly as PostgreSQL 15 does with its default settings
//! (`DateStyle = 'ISO, MDY'`, `IntervalStyle = postgres`, `TimeZone = UTC`,
//! `extra_float_digits = 1`, `bytea_output = hex`). Errors carry
//! PostgreSQL's SQLSTATE and message text.
//!
//! Where Freshet's representation is narrower than PostgreSQL's, input that
//! PostgreSQL would accept is refused or adjusted, always said here:
//!
//! * `numeric` is a [`Numeric`] (a magnitude of at most 10^1000, at most
//!   1000 digits after the point): `NaN` is [`Datum::NumericNaN`] beside
//!   it, `Infinity` and `-Infinity` are refused (`0A000`); a value beyond
//!   those limits (PostgreSQL's are 131072 and 16383 digits) is `22003
//!   value overflows numeric format`, never rounded; trailing zeros past
//!   the 1000th digit after the point are dropped.
//! * `date`/`timestamp`: `infinity` and `-infinity` are refused (`0A000`);
//!   `now`, `today`, `tomorrow` and `yesterday` only in a constant
//!   (`'today'::date`, planned like `now()`), alone, else `0A000`. Zones are numeric
//!   offsets or the fixed-offset abbreviations of PostgreSQL's `Default`
//!   set (`UTC`, `Z`, `PST`, `CET`, ...); a `timestamptz` may also name a
//!   zone whose offset depends on the date (`Europe/Paris`, `MSK`), resolved
//!   by `repr/timezone.rs`. Dates follow PostgreSQL's field rules
//!   (`repr/date_fields.rs`), month names included. Timestamps end
//!   at `i64::MAX` microseconds after 1970 (294247-01-10), a little before
//!   PostgreSQL's 294276-12-31.
//! * `interval` input is PostgreSQL's `DecodeInterval` (verbose units, time
//!   fields, `ago`, SQL `Y-M`) and ISO 8601 designators (`P1Y2M3DT4H5M6S`);
//!   the ISO 8601 "alternative format" (`P0001-02-03T04:05:06`) is not.

use std::fmt::Write as _;

use crate::{Numeric, NumericRounding};

use super::date_fields::DateFields;
use super::types::IntervalFields;
use super::{Datum, Interval, OrdF32, OrdF64, ScalarType, SqlState};

/// An input value that does not parse, or is out of range for its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The SQLSTATE PostgreSQL reports for this error.
    pub code: SqlState,
    /// PostgreSQL's message text (lower case, no trailing period).
    pub message: String,
}

impl ParseError {
    /// An error with the given code and message.
    pub fn new(code: SqlState, message: impl Into<String>) -> ParseError {
        ParseError {
            code,
            message: message.into(),
        }
    }

    /// `22P02 invalid input syntax for type <type_name>: "<text>"`.
    pub fn syntax(type_name: &str, text: &str) -> ParseError {
        ParseError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type {type_name}: \"{text}\""),
        )
    }

    fn unsupported(message: impl Into<String>) -> ParseError {
        ParseError::new(SqlState::FEATURE_NOT_SUPPORTED, message)
    }

    fn numeric_overflow() -> ParseError {
        ParseError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value overflows numeric format",
        )
    }
}

/// SQLSTATE `22015` (`interval_field_overflow`).
const INTERVAL_FIELD_OVERFLOW: SqlState = SqlState(*b"22015");
/// SQLSTATE `22009` (`invalid_time_zone_displacement_value`).
const INVALID_TIME_ZONE_DISPLACEMENT_VALUE: SqlState = SqlState(*b"22009");
/// SQLSTATE `22P05` (`untranslatable_character`).
const UNTRANSLATABLE_CHARACTER: SqlState = SqlState(*b"22P05");
/// SQLSTATE `54001` (`statement_too_complex`).
const STATEMENT_TOO_COMPLEX: SqlState = SqlState(*b"54001");

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Parses `text` as a value of `typ` (PostgreSQL's `*_in` function), then
/// applies the type modifier ([`apply_typmod`]).
pub fn parse(text: &str, typ: &ScalarType) -> Result<Datum, ParseError> {
    let datum = match typ {
        ScalarType::Bool => Datum::Bool(parse_bool(text)?),
        ScalarType::Int16 => Datum::Int16(parse_int16(text)?),
        ScalarType::Int32 => Datum::Int32(parse_int32(text)?),
        ScalarType::Int64 => Datum::Int64(parse_int64(text)?),
        ScalarType::Float32 => Datum::Float32(OrdF32(parse_float32(text)?)),
        ScalarType::Float64 => Datum::Float64(OrdF64(parse_float64(text)?)),
        // `NaN` fits every type modifier, as in PostgreSQL.
        ScalarType::Numeric { .. } if is_numeric_nan(text) => Datum::NumericNaN,
        ScalarType::Numeric { precision, scale } => {
            Datum::Numeric(parse_numeric_typed(text, *precision, *scale)?)
        }
        ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_) => {
            check_text(text.as_bytes())?;
            Datum::String(text.to_owned())
        }
        ScalarType::Name => {
            check_text(text.as_bytes())?;
            Datum::String(truncate_name(text))
        }
        ScalarType::RegType => match super::types::regtype_oid(text) {
            Some(oid) => Datum::Int64(oid),
            // A number is an OID, named or not.
            None => match text.trim().parse::<u32>() {
                Ok(oid) => Datum::Int64(i64::from(oid)),
                Err(_) => {
                    return Err(ParseError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("type \"{}\" does not exist", text.trim()),
                    ));
                }
            },
        },
        ScalarType::Bytea => Datum::Bytes(parse_bytea(text)?),
        ScalarType::Date => Datum::Date(parse_date(text)?),
        ScalarType::Time(_) => Datum::Time(parse_time(text)?),
        ScalarType::Timestamp(_) => Datum::Timestamp(parse_timestamp(text)?),
        ScalarType::TimestampTz(_) => Datum::TimestampTz(parse_timestamptz(text)?),
        // With fields, a number without a unit is the last field
        // (`'2'::interval hour` is two hours), as in PostgreSQL's
        // `interval_in` with a type modifier.
        ScalarType::Interval { fields, .. } => {
            Datum::Interval(parse_interval_in_range(text, *fields)?)
        }
        ScalarType::Jsonb => Datum::Jsonb(canonical_jsonb(text)?),
        ScalarType::Json => {
            super::json::validate(text)?;
            Datum::Json(text.to_owned())
        }
        ScalarType::Uuid => Datum::Uuid(parse_uuid(text)?),
        // Each element gets its type's modifier as it is parsed.
        ScalarType::Array(elem) => return super::array::parse_array(text, elem),
    };
    apply_typmod(datum, typ)
}

/// Prints `datum` in PostgreSQL's text format (its `*_out` function);
/// `None` for `NULL`.
pub fn format(datum: &Datum) -> Option<String> {
    Some(match datum {
        Datum::Null => return None,
        Datum::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
        Datum::Int16(v) => v.to_string(),
        Datum::Int32(v) => v.to_string(),
        Datum::Int64(v) => v.to_string(),
        Datum::Float32(v) => format_float32(v.0),
        Datum::Float64(v) => format_float64(v.0),
        Datum::Numeric(d) => format_numeric(d),
        Datum::NumericNaN => "NaN".to_owned(),
        Datum::String(s) => s.clone(),
        Datum::Bytes(b) => format_bytea(b),
        Datum::Date(d) => format_date(*d),
        Datum::Time(t) => format_time(*t),
        Datum::Timestamp(t) => format_timestamp(*t),
        Datum::TimestampTz(t) => format_timestamptz(*t),
        Datum::Interval(iv) => format_interval(iv),
        Datum::Jsonb(s) | Datum::Json(s) => s.clone(),
        Datum::Uuid(u) => u.hyphenated().to_string(),
        Datum::Array(elements) => super::array::format_array(elements),
    })
}

/// The longest `name` in bytes (PostgreSQL's `NAMEDATALEN - 1`).
pub const MAX_NAME_BYTES: usize = 63;

/// `s` as a `name`: cut to at most [`MAX_NAME_BYTES`] bytes, at a character
/// boundary, as PostgreSQL's `namein` cuts it.
pub fn truncate_name(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Applies `typ`'s type modifier to `datum`, as PostgreSQL does when a value
/// is stored in a column or bound to a typed parameter:
///
/// * `varchar(n)`: a longer value is an error (`22001 value too long for
///   type character varying(n)`) unless the excess is all spaces, which are
///   cut off.
/// * `char(n)`: likewise (`character(n)`), and a shorter value is padded
///   with spaces. `char` without a length is `char(1)`, as in PostgreSQL
///   DDL (and as [`ScalarType::name`] prints it).
/// * `numeric(p, s)`: rounds to `s` digits after the point (half away from
///   zero) and pads to exactly `s` digits; a value whose rounded magnitude
///   needs more than `p - s` integer digits is `22003 numeric field
///   overflow`.
/// * `time(p)`, `timestamp(p)`, `timestamptz(p)`, `interval(p)`: round to
///   `p` fractional-second digits, half away from zero (a timestamp counted
///   from PostgreSQL's epoch, 2000-01-01, as PostgreSQL does; an interval's
///   months and days are kept).
///
/// Other combinations return `datum` unchanged.
pub fn apply_typmod(datum: Datum, typ: &ScalarType) -> Result<Datum, ParseError> {
    match (datum, typ) {
        (Datum::String(s), ScalarType::Name) => Ok(Datum::String(truncate_name(&s))),
        (Datum::String(s), ScalarType::VarChar(Some(n))) => Ok(Datum::String(limit_length(
            s,
            *n,
            false,
            "character varying",
        )?)),
        (Datum::String(s), ScalarType::Char(Some(n))) => {
            Ok(Datum::String(limit_length(s, *n, true, "character")?))
        }
        (Datum::Numeric(d), ScalarType::Numeric { precision, scale }) => {
            Ok(Datum::Numeric(apply_numeric_typmod(d, *precision, *scale)?))
        }
        (Datum::Array(elements), ScalarType::Array(elem)) => {
            super::array::apply_element_typmod(elements, elem)
        }
        (Datum::Time(t), ScalarType::Time(Some(p))) => {
            // Never negative, so half away from zero is half up; the end
            // of the day is `24:00:00`, which `time` holds.
            Ok(Datum::Time(round_fraction(t, *p).unwrap_or(t)))
        }
        (Datum::Timestamp(t), ScalarType::Timestamp(Some(p))) => {
            Ok(Datum::Timestamp(round_timestamp(t, *p)?))
        }
        (Datum::TimestampTz(t), ScalarType::TimestampTz(Some(p))) => {
            Ok(Datum::TimestampTz(round_timestamp(t, *p)?))
        }
        (Datum::Interval(iv), ScalarType::Interval { fields, precision })
            if fields.is_some() || precision.is_some() =>
        {
            Ok(Datum::Interval(adjust_interval(iv, *fields, *precision)?))
        }
        (datum, _) => Ok(datum),
    }
}

/// Microseconds between 1970-01-01 (Freshet's epoch) and 2000-01-01
/// (PostgreSQL's).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Rounds `micros` to `precision` fractional-second digits, half away from
/// zero, as PostgreSQL's `AdjustTimeForTypmod` and
/// `AdjustIntervalForTypmod` do; `None` on overflow.
fn round_fraction(micros: i64, precision: u8) -> Option<i64> {
    let scale = 10i64.checked_pow(6u32.checked_sub(precision.into())?)?;
    let half = scale / 2;
    let magnitude = micros.unsigned_abs().checked_add(half as u64)? / scale as u64 * scale as u64;
    let magnitude = i64::try_from(magnitude).ok()?;
    Some(if micros < 0 { -magnitude } else { magnitude })
}

/// `timestamp(p)`'s rounding (PostgreSQL's `AdjustTimestampForTypmod`):
/// half away from zero counted from PostgreSQL's epoch, so that a
/// half-second before 2000 rounds to the earlier second.
fn round_timestamp(micros: i64, precision: u8) -> Result<i64, ParseError> {
    micros
        .checked_sub(POSTGRES_EPOCH_MICROS)
        .and_then(|t| round_fraction(t, precision))
        .and_then(|t| t.checked_add(POSTGRES_EPOCH_MICROS))
        .ok_or_else(|| ParseError::new(SqlState::DATETIME_FIELD_OVERFLOW, "timestamp out of range"))
}

/// Length check (and for `char(n)` padding) of a string, counted in
/// characters, as PostgreSQL's `varchar_input` and `bpchar_input` do it.
fn limit_length(s: String, n: u32, pad: bool, type_name: &str) -> Result<String, ParseError> {
    let n = n as usize;
    let mut len = 0usize;
    for (i, _) in s.char_indices() {
        if len == n {
            // `i` is the byte offset of the first excess character.
            let excess = s.get(i..).unwrap_or("");
            if excess.bytes().all(|b| b == b' ') {
                let mut s = s;
                s.truncate(i);
                return Ok(s);
            }
            return Err(ParseError::new(
                SqlState::STRING_DATA_RIGHT_TRUNCATION,
                format!("value too long for type {type_name}({n})"),
            ));
        }
        len += 1;
    }
    if pad && len < n {
        let mut s = s;
        s.extend(std::iter::repeat_n(' ', n - len));
        return Ok(s);
    }
    Ok(s)
}

/// Rejects the NUL character, which PostgreSQL's text types cannot hold
/// (`22021 invalid byte sequence for encoding "UTF8": 0x00`), and invalid
/// UTF-8 (for bytes that arrive in the binary format).
pub fn check_text(bytes: &[u8]) -> Result<&str, ParseError> {
    let invalid = |bad: &[u8]| {
        let mut message = String::from("invalid byte sequence for encoding \"UTF8\":");
        for b in bad {
            let _ = write!(message, " 0x{b:02x}");
        }
        ParseError::new(SqlState::CHARACTER_NOT_IN_REPERTOIRE, message)
    };
    let s = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let start = e.valid_up_to();
            let len = e.error_len().unwrap_or(bytes.len() - start).max(1);
            let bad = bytes.get(start..start + len).unwrap_or(&[]);
            return Err(invalid(bad));
        }
    };
    if s.as_bytes().contains(&0) {
        return Err(invalid(&[0]));
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Helpers shared by the scanners
// ---------------------------------------------------------------------------

/// C's `isspace` in the C locale, which PostgreSQL's input functions use.
fn is_pg_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `s` without leading and trailing C whitespace.
fn trim_pg(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_pg_space(c as u8))
}

// ---------------------------------------------------------------------------
// boolean
// ---------------------------------------------------------------------------

/// Parses a `boolean` (PostgreSQL's `boolin`): any unique prefix of `true`,
/// `false`, `yes`, `no`, `on`, `off` (at least two letters for the last
/// two), or `1`/`0`, case-insensitively, with surrounding whitespace.
pub fn parse_bool(text: &str) -> Result<bool, ParseError> {
    let t = trim_pg(text).to_ascii_lowercase();
    let prefix_of = |word: &str| !t.is_empty() && word.starts_with(t.as_str());
    let value = match t.as_bytes().first() {
        Some(b't') if prefix_of("true") => Some(true),
        Some(b'f') if prefix_of("false") => Some(false),
        Some(b'y') if prefix_of("yes") => Some(true),
        Some(b'n') if prefix_of("no") => Some(false),
        Some(b'o') if t.len() >= 2 && prefix_of("on") => Some(true),
        Some(b'o') if t.len() >= 2 && prefix_of("off") => Some(false),
        Some(b'1') if t.len() == 1 => Some(true),
        Some(b'0') if t.len() == 1 => Some(false),
        _ => None,
    };
    value.ok_or_else(|| ParseError::syntax("boolean", text))
}

// ---------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------

/// PostgreSQL's `pg_strtoint*`: whitespace, an optional sign, at least one
/// digit, whitespace. Overflow is reported as soon as the digits seen so far
/// are out of range, before any trailing garbage.
fn parse_integer(text: &str, type_name: &str, min: i64, max: i64) -> Result<i64, ParseError> {
    let b = text.as_bytes();
    let mut i = 0;
    while b.get(i).is_some_and(|c| is_pg_space(*c)) {
        i += 1;
    }
    let mut neg = false;
    match b.get(i) {
        Some(b'-') => {
            neg = true;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return Err(ParseError::syntax(type_name, text));
    }
    let mut acc: i128 = 0;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        acc = acc * 10 + i128::from(c - b'0');
        let v = if neg { -acc } else { acc };
        if v < i128::from(min) || v > i128::from(max) {
            return Err(ParseError::new(
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("value \"{text}\" is out of range for type {type_name}"),
            ));
        }
        i += 1;
    }
    while b.get(i).is_some_and(|c| is_pg_space(*c)) {
        i += 1;
    }
    if i != b.len() {
        return Err(ParseError::syntax(type_name, text));
    }
    Ok(if neg { -acc } else { acc } as i64)
}

/// Parses a `smallint`.
pub fn parse_int16(text: &str) -> Result<i16, ParseError> {
    parse_integer(text, "smallint", i16::MIN.into(), i16::MAX.into()).map(|v| v as i16)
}

/// Parses an `integer`.
pub fn parse_int32(text: &str) -> Result<i32, ParseError> {
    parse_integer(text, "integer", i32::MIN.into(), i32::MAX.into()).map(|v| v as i32)
}

/// Parses a `bigint`.
pub fn parse_int64(text: &str) -> Result<i64, ParseError> {
    parse_integer(text, "bigint", i64::MIN, i64::MAX)
}

// ---------------------------------------------------------------------------
// Floating point
// ---------------------------------------------------------------------------

/// Whether `b` starts with `word` (ASCII, case-insensitively).
fn starts_with_ci(b: &[u8], word: &[u8]) -> bool {
    b.len() >= word.len() && b.iter().zip(word).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// What C's `strtod` finds at the start of some text.
enum FloatToken {
    /// Nothing that looks like a number.
    None,
    /// `NaN`, of this many bytes.
    Nan(usize),
    /// An infinity of this many bytes, negative or not.
    Inf(usize, bool),
    /// A decimal number of this many bytes; whether it has a non-zero digit.
    Decimal(usize, bool),
    /// A hexadecimal number (`0x1.8p3`) of this many bytes, and its value
    /// (infinite on overflow).
    Hex(usize, f64),
}

/// Scans the longest prefix of `b` that C's `strtod` would consume:
/// decimal and hexadecimal forms, `inf`, `infinity`, `nan`.
fn scan_float(b: &[u8]) -> FloatToken {
    let mut i = 0;
    let mut neg = false;
    if let Some(c @ (b'+' | b'-')) = b.first() {
        neg = *c == b'-';
        i = 1;
    }
    let rest = b.get(i..).unwrap_or(&[]);
    if starts_with_ci(rest, b"infinity") {
        return FloatToken::Inf(i + 8, neg);
    }
    if starts_with_ci(rest, b"inf") {
        return FloatToken::Inf(i + 3, neg);
    }
    if starts_with_ci(rest, b"nan") {
        return FloatToken::Nan(i + 3);
    }
    if starts_with_ci(rest, b"0x")
        && let Some((len, value)) = scan_hex_float(rest.get(2..).unwrap_or(&[]))
    {
        return FloatToken::Hex(i + 2 + len, if neg { -value } else { value });
    }
    let mut digits = 0;
    let mut nonzero = false;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        nonzero |= *c != b'0';
        digits += 1;
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            nonzero |= *c != b'0';
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return FloatToken::None;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        let mut j = i + 1;
        if let Some(b'+' | b'-') = b.get(j) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            i = j;
        }
    }
    FloatToken::Decimal(i, nonzero)
}

/// The hexadecimal digits (after `0x`) of a C hexadecimal float, `h.hhhp±d`:
/// its length and magnitude, or `None` if there is no digit.
fn scan_hex_float(b: &[u8]) -> Option<(usize, f64)> {
    let mut i = 0;
    // Up to 16 significant hex digits are kept exactly; the exponent
    // accounts for the rest.
    let mut mantissa: u64 = 0;
    let mut exp2: i64 = 0;
    let mut digits = 0;
    let mut sticky = false;
    let mut seen_point = false;
    loop {
        match b.get(i) {
            Some(b'.') if !seen_point => seen_point = true,
            Some(&c) => {
                let Some(h) = hex_value(c) else { break };
                digits += 1;
                if mantissa >> 60 == 0 {
                    mantissa = mantissa << 4 | u64::from(h);
                    if seen_point {
                        exp2 -= 4;
                    }
                } else {
                    sticky |= h != 0;
                    if !seen_point {
                        exp2 += 4;
                    }
                }
            }
            None => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(b'p' | b'P') = b.get(i) {
        let mut j = i + 1;
        let mut exp_neg = false;
        if let Some(c @ (b'+' | b'-')) = b.get(j) {
            exp_neg = *c == b'-';
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            let mut e: i64 = 0;
            while let Some(c) = b.get(j).filter(|c| c.is_ascii_digit()) {
                e = (e * 10 + i64::from(c - b'0')).min(100_000);
                j += 1;
            }
            exp2 += if exp_neg { -e } else { e };
            i = j;
        }
    }
    // The sticky bit keeps the rounding of dropped digits honest.
    let m = mantissa | u64::from(sticky);
    let mut value = m as f64;
    // Scale in steps that cannot overflow or underflow prematurely.
    let mut e = exp2.clamp(-2000, 2000);
    while e != 0 {
        let step = e.clamp(-1000, 1000);
        value *= 2f64.powi(step as i32);
        e -= step;
    }
    Some((i, value))
}

/// The special values of a float type.
trait FloatConsts: Sized {
    const NAN: Self;
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    /// `v` narrowed to this type.
    fn from_f64(v: f64) -> Self;
}
impl FloatConsts for f64 {
    const NAN: f64 = f64::NAN;
    const INFINITY: f64 = f64::INFINITY;
    const NEG_INFINITY: f64 = f64::NEG_INFINITY;
    fn from_f64(v: f64) -> f64 {
        v
    }
}
impl FloatConsts for f32 {
    const NAN: f32 = f32::NAN;
    const INFINITY: f32 = f32::INFINITY;
    const NEG_INFINITY: f32 = f32::NEG_INFINITY;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

/// PostgreSQL's `float8in`/`float4in`, generic over the width. An
/// overflowing or underflowing value is `22003`; `float8in` quotes the
/// number in its message, `float4in` the whole input.
fn parse_float<T>(text: &str, type_name: &str) -> Result<T, ParseError>
where
    T: std::str::FromStr + Copy + Into<f64> + FloatConsts,
{
    let start = text
        .bytes()
        .position(|b| !is_pg_space(b))
        .unwrap_or(text.len());
    let num = text.get(start..).unwrap_or("");
    let out_of_range = |token: &str| {
        let quoted = if type_name == "real" { text } else { token };
        ParseError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{quoted}\" is out of range for type {type_name}"),
        )
    };
    let (len, value) = match scan_float(num.as_bytes()) {
        FloatToken::None => return Err(ParseError::syntax(type_name, text)),
        FloatToken::Nan(len) => (len, T::NAN),
        FloatToken::Inf(len, neg) => (len, if neg { T::NEG_INFINITY } else { T::INFINITY }),
        FloatToken::Decimal(len, nonzero) => {
            let token = num.get(..len).unwrap_or("");
            let value: T = token
                .parse()
                .map_err(|_| ParseError::syntax(type_name, text))?;
            let v: f64 = value.into();
            if v.is_infinite() || (v == 0.0 && nonzero) {
                return Err(out_of_range(token));
            }
            (len, value)
        }
        FloatToken::Hex(len, v) => {
            let token = num.get(..len).unwrap_or("");
            let value = T::from_f64(v);
            if value.into().is_infinite() || (value.into() == 0.0 && v != 0.0) {
                return Err(out_of_range(token));
            }
            (len, value)
        }
    };
    if !num
        .as_bytes()
        .get(len..)
        .unwrap_or(&[])
        .iter()
        .all(|b| is_pg_space(*b))
    {
        return Err(ParseError::syntax(type_name, text));
    }
    Ok(value)
}

/// Parses a `double precision` (PostgreSQL's `float8in`): whitespace, a
/// decimal or hexadecimal number or `NaN`, `[+-]Infinity`, `[+-]inf`; a
/// value that overflows or underflows to zero is `22003 "<number>" is out of
/// range for type double precision`.
pub fn parse_float64(text: &str) -> Result<f64, ParseError> {
    parse_float::<f64>(text, "double precision")
}

/// Parses a `real` (as [`parse_float64`], for type `real`).
pub fn parse_float32(text: &str) -> Result<f32, ParseError> {
    parse_float::<f32>(text, "real")
}

/// What [`shortest_digits`] needs of a float type.
trait ShortestFloat: Copy + std::fmt::LowerExp + std::str::FromStr {
    /// The most significant digits any value needs.
    const MAX_DIGITS: usize;
    /// Enough precision for `{:.N$e}` to print a value exactly.
    const EXACT_PRECISION: usize;
    fn bits(self) -> u64;
}
impl ShortestFloat for f64 {
    const MAX_DIGITS: usize = 17;
    const EXACT_PRECISION: usize = 780;
    fn bits(self) -> u64 {
        self.to_bits()
    }
}
impl ShortestFloat for f32 {
    const MAX_DIGITS: usize = 9;
    const EXACT_PRECISION: usize = 160;
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

/// Splits Rust's `{:e}` text of a positive float into its digits (without
/// trailing zeros) and the decimal exponent of the first digit.
fn split_sci(sci: &str) -> (Vec<u8>, i64) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp.parse().unwrap_or(0))
}

/// Whether the decimal `digits × 10^exp` reads back as `v`.
fn reads_as<F: ShortestFloat>(v: F, digits: &[u8], exp: i64) -> bool {
    let mut text = String::with_capacity(digits.len() + 8);
    text.extend(digits.iter().map(|d| *d as char));
    let _ = write!(text, "e{exp}");
    text.parse::<F>().is_ok_and(|p| p.bits() == v.bits())
}

/// Whether `digits × 10^exp` lies strictly inside the interval of decimals
/// that read back as `v`: PostgreSQL's Ryu (built without
/// `STRICTLY_SHORTEST`) never picks a decimal on the interval's edge, where
/// reading it back relies on round-half-even.
fn strictly_inside<F: ShortestFloat>(v: F, digits: &[u8], exp: i64) -> bool {
    const PAD: usize = 30;
    if !reads_as(v, digits, exp) {
        return false;
    }
    // A hair above: the digits, then zeros and a one.
    let mut above = digits.to_vec();
    above.extend(std::iter::repeat_n(b'0', PAD));
    above.push(b'1');
    // A hair below: the digits less one in the last place, then nines.
    let mut below = digits.to_vec();
    for d in below.iter_mut().rev() {
        if *d == b'0' {
            *d = b'9';
        } else {
            *d -= 1;
            break;
        }
    }
    below.extend(std::iter::repeat_n(b'9', PAD + 1));
    let exp = exp - PAD as i64 - 1;
    reads_as(v, &above, exp) && reads_as(v, &below, exp)
}

/// Adds one in the last place of a digit string; `true` if it carried into
/// a new leading digit (the string then has one digit more).
fn increment_digits(digits: &mut Vec<u8>) -> bool {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return false;
        }
    }
    digits.insert(0, b'1');
    true
}

/// The shortest decimal digits that read back as the positive finite `v`,
/// as PostgreSQL's `double_to_shortest_decimal` / `float_to_shortest_decimal`
/// choose them, and the decimal exponent of the first digit.
fn shortest_digits<F: ShortestFloat>(v: F) -> (Vec<u8>, i64) {
    // Rust's shortest form is PostgreSQL's except where it sits on the edge
    // of the rounding interval or ties between two candidates.
    let (digits, first_exp) = split_sci(&format!("{v:e}"));
    let last_exp = first_exp - digits.len() as i64 + 1;
    let mut tie = digits.clone();
    tie.push(b'5');
    let mut tie_below = digits.clone();
    let tie_possible = {
        // v exactly halfway between two candidates of this length.
        if let Some(d) = tie_below.iter_mut().rev().find(|d| **d != b'0') {
            *d -= 1;
        }
        tie_below.push(b'5');
        reads_as(v, &tie, last_exp - 1) || reads_as(v, &tie_below, last_exp - 1)
    };
    if !tie_possible && strictly_inside(v, &digits, last_exp) {
        return (digits, first_exp);
    }
    // The careful way: v's exact decimal expansion, and for each length the
    // nearest candidates that lie strictly inside (ties to even).
    let (exact, exact_first) = split_sci(&format!("{v:.prec$e}", prec = F::EXACT_PRECISION));
    for n in digits.len()..=F::MAX_DIGITS {
        let mut floor: Vec<u8> = exact.iter().copied().take(n).collect();
        floor.resize(n, b'0');
        let rest = exact.get(n..).unwrap_or(&[]);
        let exp = exact_first - n as i64 + 1;
        if rest.is_empty() {
            // Exact at this length.
            return trimmed(floor, exact_first);
        }
        let mut ceil = floor.clone();
        let carried = increment_digits(&mut ceil);
        let ceil_first = exact_first + i64::from(carried);
        let half = rest.first().copied().unwrap_or(b'0');
        let up_first = if half > b'5' || (half == b'5' && rest.len() > 1) {
            true
        } else if half == b'5' {
            // An exact tie: the even candidate first.
            floor.last().is_some_and(|d| (d - b'0') % 2 == 1)
        } else {
            false
        };
        let ceil_exp = exp; // same last place, whether or not it carried
        let order = if up_first {
            [true, false]
        } else {
            [false, true]
        };
        for up in order {
            if up && strictly_inside(v, &ceil, ceil_exp) {
                return trimmed(ceil, ceil_first);
            }
            if !up && strictly_inside(v, &floor, exp) {
                return trimmed(floor, exact_first);
            }
        }
    }
    (digits, first_exp)
}

/// `digits` without trailing zeros (keeping one digit).
fn trimmed(mut digits: Vec<u8>, first_exp: i64) -> (Vec<u8>, i64) {
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, first_exp)
}

/// Lays out shortest digits as PostgreSQL's Ryu-based output does: fixed
/// notation for decimal exponents in `-4 ..= fixed_max - 1`, otherwise
/// `d.ddde±XX`.
fn layout_float(neg: bool, digits: &[u8], exp: i64, fixed_max: i64) -> String {
    let digits: String = digits.iter().map(|d| *d as char).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if (-4..fixed_max).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(digits.get(..int_len).unwrap_or(""));
                out.push('.');
                out.push_str(digits.get(int_len..).unwrap_or(""));
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        let (first, others) = digits.split_at(digits.len().min(1));
        out.push_str(first);
        if !others.is_empty() {
            out.push('.');
            out.push_str(others);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    out
}

/// Prints a `double precision` as PostgreSQL 12+ does by default
/// (`extra_float_digits = 1`): the shortest text that reads back as the same
/// value, in fixed notation for decimal exponents from -4 to 14 and
/// `1e+15`-style otherwise; `NaN`, `Infinity`, `-Infinity`, `-0`.
pub fn format_float64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if v == 0.0 {
        if v.is_sign_negative() { "-0" } else { "0" }.into()
    } else {
        let (digits, exp) = shortest_digits(v.abs());
        layout_float(v < 0.0, &digits, exp, 15)
    }
}

/// Prints a `real` (as [`format_float64`], with fixed notation for decimal
/// exponents from -4 to 5: `1e+06`).
pub fn format_float32(v: f32) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if v == 0.0 {
        if v.is_sign_negative() { "-0" } else { "0" }.into()
    } else {
        let (digits, exp) = shortest_digits(v.abs());
        layout_float(v < 0.0, &digits, exp, 6)
    }
}

// ---------------------------------------------------------------------------
// numeric
// ---------------------------------------------------------------------------

/// Builds a [`Numeric`] equal to the ASCII decimal `digits` times
/// `10^-scale` (`scale` may be negative), negated if `neg`.
///
/// Keeps `scale` digits after the point (none if negative). A value beyond
/// Freshet's limits (more than [`Numeric::MAX_INTEGER_DIGITS`] digits
/// before the point, or non-zero digits past [`Numeric::MAX_SCALE`] after
/// it) is `22003 value overflows numeric format` (PostgreSQL's limits are
/// larger; Freshet never answers with fewer digits). Trailing zeros past
/// the limit are dropped.
pub fn decimal_from_digits(neg: bool, digits: &[u8], scale: i64) -> Result<Numeric, ParseError> {
    decimal_from_digits_rounded(neg, digits, scale, i64::MAX)
}

/// [`decimal_from_digits`], keeping at most `max_scale` digits after the
/// point (rounding once, half away from zero, as PostgreSQL's `numeric(p,
/// s)` does).
fn decimal_from_digits_rounded(
    neg: bool,
    digits: &[u8],
    scale: i64,
    max_scale: i64,
) -> Result<Numeric, ParseError> {
    let limit = i64::from(Numeric::MAX_SCALE);
    let first = digits
        .iter()
        .position(|d| *d != b'0')
        .unwrap_or(digits.len());
    let digits = digits.get(first..).unwrap_or(&[]);
    // The digits after the point that are kept (rounding the rest).
    let mut keep_scale = scale.min(max_scale).max(0);
    if keep_scale > limit {
        // Past the limit only zeros may go, and they go without rounding.
        let cut = digits.len() as i64 - (scale - limit);
        if !drops_only_zeros(digits, cut, digits.len() as i64 - (scale - keep_scale)) {
            return Err(ParseError::numeric_overflow());
        }
        keep_scale = limit;
    }
    if digits.is_empty() {
        return Numeric::zero_with_scale(keep_scale as u32)
            .ok_or_else(ParseError::numeric_overflow);
    }
    if digits.len() as i64 - scale > i64::from(Numeric::MAX_INTEGER_DIGITS) + 1 {
        return Err(ParseError::numeric_overflow());
    }
    // The digits down to 10^-keep_scale; the first one dropped rounds.
    let keep = digits.len() as i64 - (scale - keep_scale);
    let kept = digits
        .get(..keep.clamp(0, digits.len() as i64) as usize)
        .unwrap_or(&[]);
    let round_up = keep >= 0 && digits.get(keep as usize).is_some_and(|d| *d >= b'5');
    let padding = (keep - digits.len() as i64).max(0);
    if keep <= 38 {
        // The common case, without a big integer: at most 38 digits.
        let mut m: u128 = 0;
        for d in kept {
            m = m * 10 + u128::from(d.wrapping_sub(b'0') % 10);
        }
        m = m * 10u128.pow(padding as u32) + u128::from(round_up);
        let m = m as i128;
        return Numeric::try_from_i128_with_scale(if neg { -m } else { m }, keep_scale as u32)
            .ok_or_else(ParseError::numeric_overflow);
    }
    let mut m =
        num_bigint::BigInt::parse_bytes(kept, 10).ok_or_else(ParseError::numeric_overflow)?;
    m *= num_bigint::BigInt::from(10u32).pow(padding as u32);
    if round_up {
        m += 1u32;
    }
    if neg {
        m = -m;
    }
    Numeric::from_big_parts(m, keep_scale as u32).ok_or_else(ParseError::numeric_overflow)
}

/// Whether keeping `digits[..keep]` (rounded) instead of
/// `digits[..wanted_keep]` (rounded) is the same value: the digits between
/// are zeros, and the digit rounding at `wanted_keep` rounds down.
fn drops_only_zeros(digits: &[u8], keep: i64, wanted_keep: i64) -> bool {
    let len = digits.len() as i64;
    let (from, to) = (keep.clamp(0, len), wanted_keep.clamp(0, len));
    let between_zero = digits[from as usize..to.max(from) as usize]
        .iter()
        .all(|d| *d == b'0');
    let rounds_down = wanted_keep < 0 || wanted_keep >= len || digits[wanted_keep as usize] < b'5';
    between_zero && rounds_down
}

/// Parses a `numeric` (PostgreSQL's `numeric_in`): whitespace, an optional
/// sign, digits with at most one decimal point, an optional exponent
/// (`1.5e3`), whitespace. The scale of the input is kept (`1.50` stays
/// `1.50`; `1.5e3` is `1500`).
///
/// `NaN` and `Infinity`, which PostgreSQL accepts, are `0A000` here: a
/// [`Numeric`] cannot hold them. [`parse`] reads `NaN` as
/// [`Datum::NumericNaN`] first ([`is_numeric_nan`]); `Infinity` stays
/// refused there too, as Materialize refuses it.
pub fn parse_numeric(text: &str) -> Result<Numeric, ParseError> {
    let (neg, digits, scale) = scan_numeric(text)?;
    decimal_from_digits(neg, &digits, scale)
}

/// Whether `text` is `numeric`'s `NaN` as PostgreSQL's `numeric_in` reads
/// it: `NaN` in any case, no sign, whitespace around.
pub fn is_numeric_nan(text: &str) -> bool {
    trim_pg(text).eq_ignore_ascii_case("nan")
}

/// Parses a `numeric(precision, scale)` value: as [`parse_numeric`], but
/// rounding the input digits once, straight to `scale`, and reporting a
/// value too large for the type as PostgreSQL does (`22003 numeric field
/// overflow`) even where it is too large for a [`Numeric`] too.
fn parse_numeric_typed(
    text: &str,
    precision: Option<u8>,
    scale: Option<u8>,
) -> Result<Numeric, ParseError> {
    let (neg, digits, exp_scale) = scan_numeric(text)?;
    let target = match (precision, scale) {
        (None, None) => return decimal_from_digits(neg, &digits, exp_scale),
        (_, Some(s)) => i64::from(s),
        (Some(_), None) => 0,
    };
    // A value beyond Freshet's limits is beyond every type modifier's too
    // (its precision is at most 255 digits): say so as PostgreSQL does.
    decimal_from_digits_rounded(neg, &digits, exp_scale, target).map_err(|_| {
        ParseError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "numeric field overflow",
        )
    })
}

/// PostgreSQL's `numeric_in` scanner: the sign, the digits and the number
/// of digits after the point (less the exponent).
fn scan_numeric(text: &str) -> Result<(bool, Vec<u8>, i64), ParseError> {
    let t = trim_pg(text);
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "nan" | "infinity" | "+infinity" | "-infinity" | "inf" | "+inf" | "-inf"
    ) {
        return Err(ParseError::unsupported(format!(
            "numeric value \"{t}\" is not supported"
        )));
    }
    let b = t.as_bytes();
    let syntax = || ParseError::syntax("numeric", text);
    let mut i = 0;
    let mut neg = false;
    if let Some(c @ (b'+' | b'-')) = b.first() {
        neg = *c == b'-';
        i = 1;
    }
    let mut digits = Vec::with_capacity(b.len());
    let mut frac_len: i64 = 0;
    let mut seen_point = false;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            digits.push(c);
            if seen_point {
                frac_len += 1;
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits.is_empty() {
        return Err(syntax());
    }
    let mut exponent: i64 = 0;
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        // The exponent is read with strtol: whitespace, then a sign.
        while b.get(i).is_some_and(|c| is_pg_space(*c)) {
            i += 1;
        }
        let mut exp_neg = false;
        if let Some(c @ (b'+' | b'-')) = b.get(i) {
            exp_neg = *c == b'-';
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return Err(syntax());
        }
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            exponent = (exponent * 10 + i64::from(c - b'0')).min(i64::from(i32::MAX));
            i += 1;
        }
        if exponent >= i64::from(i32::MAX / 2) {
            return Err(ParseError::numeric_overflow());
        }
        if exp_neg {
            exponent = -exponent;
        }
    }
    if i != b.len() {
        return Err(syntax());
    }
    Ok((neg, digits, frac_len - exponent))
}

/// Prints a `numeric` with exactly its scale's digits after the point
/// (`1.50`), never in exponent notation, never as `-0`.
pub fn format_numeric(d: &Numeric) -> String {
    let scale = d.scale() as usize;
    let (negative, mut digits) = match d.mantissa_i128() {
        Some(m) => (m < 0, m.unsigned_abs().to_string()),
        None => {
            let (m, _) = d.to_big_parts();
            (
                m.sign() == num_bigint::Sign::Minus,
                m.magnitude().to_string(),
            )
        }
    };
    if digits.len() <= scale {
        let zeros = "0".repeat(scale + 1 - digits.len());
        digits.insert_str(0, &zeros);
    }
    let (int_part, frac_part) = digits.split_at(digits.len() - scale);
    let mut out = String::with_capacity(digits.len() + 2);
    if negative && digits.bytes().any(|c| c != b'0') {
        out.push('-');
    }
    out.push_str(int_part);
    if scale > 0 {
        out.push('.');
        out.push_str(frac_part);
    }
    out
}

/// `numeric(precision, scale)`'s type modifier: see [`apply_typmod`].
fn apply_numeric_typmod(
    d: Numeric,
    precision: Option<u8>,
    scale: Option<u8>,
) -> Result<Numeric, ParseError> {
    let s = match (precision, scale) {
        (None, None) => return Ok(d),
        (_, Some(s)) => u32::from(s),
        (Some(_), None) => 0,
    };
    // Round, then pad to exactly `s` digits after the point (a type
    // modifier's scale is far below the limit, so padding always fits).
    let mut d = d.round_dp_with(s, NumericRounding::HalfAwayFromZero);
    d.rescale(s);
    if let Some(p) = precision {
        // The rounded magnitude must be below 10^(p - s): at scale `s`, a
        // mantissa of at most `p` digits.
        if !d.is_zero() && d.mantissa_digits() > u32::from(p) {
            return Err(ParseError::new(
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                "numeric field overflow",
            ));
        }
    }
    Ok(d)
}

// ---------------------------------------------------------------------------
// bytea
// ---------------------------------------------------------------------------

/// Parses a `bytea`: hex format `\x0aff` (whitespace between digit pairs
/// allowed) or the escape format (`\\` is a backslash, `\ooo` an octal byte,
/// anything else itself).
pub fn parse_bytea(text: &str) -> Result<Vec<u8>, ParseError> {
    match text.strip_prefix("\\x") {
        Some(hex) => parse_hex_bytes(hex),
        None => parse_escaped_bytes(text),
    }
}

/// Hex digit pairs as bytes, whitespace between pairs skipped (the hex
/// format of `bytea` after its `\x`, and `decode(text, 'hex')`).
pub fn parse_hex_bytes(hex: &str) -> Result<Vec<u8>, ParseError> {
    let b = hex.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    let bad_digit = |i: usize| {
        let c = hex.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
        ParseError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid hexadecimal digit: \"{c}\""),
        )
    };
    while let Some(&c) = b.get(i) {
        if matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
            i += 1;
            continue;
        }
        let hi = hex_value(c).ok_or_else(|| bad_digit(i))?;
        i += 1;
        let Some(&c2) = b.get(i) else {
            return Err(ParseError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "invalid hexadecimal data: odd number of digits",
            ));
        };
        let lo = hex_value(c2).ok_or_else(|| bad_digit(i))?;
        i += 1;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

/// The escape format of `bytea` (and `decode(text, 'escape')`): `\\` is a
/// backslash, `\ooo` an octal byte, anything else itself.
pub fn parse_escaped_bytes(text: &str) -> Result<Vec<u8>, ParseError> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let d1 = b.get(i + 1).copied().unwrap_or(0);
        let d2 = b.get(i + 2).copied().unwrap_or(0);
        let d3 = b.get(i + 3).copied().unwrap_or(0);
        if (b'0'..=b'3').contains(&d1) && (b'0'..=b'7').contains(&d2) && (b'0'..=b'7').contains(&d3)
        {
            out.push(((d1 - b'0') << 6) | ((d2 - b'0') << 3) | (d3 - b'0'));
            i += 4;
        } else if d1 == b'\\' {
            out.push(b'\\');
            i += 2;
        } else {
            return Err(ParseError::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                "invalid input syntax for type bytea",
            ));
        }
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Prints a `bytea` in hex format: `\x` and two lower-case digits a byte.
pub fn format_bytea(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

// ---------------------------------------------------------------------------
// uuid
// ---------------------------------------------------------------------------

/// Parses a `uuid` as PostgreSQL's `uuid_in`: 32 hex digits (either case),
/// optionally in braces, with a hyphen allowed after any group of four
/// digits; no whitespace.
pub fn parse_uuid(text: &str) -> Result<uuid::Uuid, ParseError> {
    let b = text.as_bytes();
    let syntax = || ParseError::syntax("uuid", text);
    let mut i = 0;
    let braces = b.first() == Some(&b'{');
    if braces {
        i = 1;
    }
    let mut out = [0u8; 16];
    for (k, byte) in out.iter_mut().enumerate() {
        let hi = b.get(i).and_then(|c| hex_value(*c)).ok_or_else(syntax)?;
        let lo = b
            .get(i + 1)
            .and_then(|c| hex_value(*c))
            .ok_or_else(syntax)?;
        *byte = hi << 4 | lo;
        i += 2;
        if b.get(i) == Some(&b'-') && k % 2 == 1 && k < 15 {
            i += 1;
        }
    }
    if braces {
        if b.get(i) != Some(&b'}') {
            return Err(syntax());
        }
        i += 1;
    }
    if i != b.len() {
        return Err(syntax());
    }
    Ok(uuid::Uuid::from_bytes(out))
}

// ---------------------------------------------------------------------------
// Calendar arithmetic
// ---------------------------------------------------------------------------

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Microseconds in a second.
const MICROS_PER_SEC: i64 = 1_000_000;
/// The first valid `date`, 4714-11-24 BC, in days since 1970-01-01.
pub const DATE_MIN_DAYS: i64 = -2_440_588;
/// The last valid `date`, 5874897-12-31, in days since 1970-01-01.
pub const DATE_MAX_DAYS: i64 = 2_145_042_905;
/// The first valid `timestamp`, 4714-11-24 00:00:00 BC, in microseconds
/// since 1970-01-01. (The last is `i64::MAX`.)
pub const TIMESTAMP_MIN_MICROS: i64 = DATE_MIN_DAYS * MICROS_PER_DAY;

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar
/// (astronomical year numbering: 1 BC is year 0), as PostgreSQL's `date2j`.
/// Total for `|year| < 10^12`.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (astronomical year, month, day) of a day count since 1970-01-01,
/// the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Whether `year` (astronomical) is a leap year.
pub fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// The number of days in `month` (1-12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// PostgreSQL's `IS_VALID_JULIAN`: the coarse range check on a date.
fn is_valid_julian(year: i64, month: u32) -> bool {
    (year > -4713 || (year == -4713 && month >= 11))
        && (year < 5_874_898 || (year == 5_874_898 && month < 6))
}

// ---------------------------------------------------------------------------
// Date/time input: tokens (PostgreSQL's ParseDateTime)
// ---------------------------------------------------------------------------

/// The error classes of PostgreSQL's date/time parser (`DTERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DtErr {
    /// `DTERR_BAD_FORMAT`: `22007 invalid input syntax for type T: "x"`.
    BadFormat,
    /// `DTERR_FIELD_OVERFLOW` / `DTERR_MD_FIELD_OVERFLOW`: `22008
    /// date/time field value out of range: "x"`.
    FieldOverflow,
    /// `DTERR_INTERVAL_OVERFLOW`: `22015 interval field value out of range:
    /// "x"`.
    IntervalOverflow,
    /// `DTERR_TZDISP_OVERFLOW`: `22009 time zone displacement out of range:
    /// "x"`.
    TzDispOverflow,
    /// `itmin2interval` failing: `22008 interval out of range`.
    IntervalOutOfRange,
    /// Input PostgreSQL reads and Freshet does not: `0A000`.
    Unsupported,
}

fn dt_error(err: DtErr, text: &str, type_name: &str) -> ParseError {
    match err {
        DtErr::BadFormat => ParseError::new(
            SqlState::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type {type_name}: \"{text}\""),
        ),
        DtErr::FieldOverflow => ParseError::new(
            SqlState::DATETIME_FIELD_OVERFLOW,
            format!("date/time field value out of range: \"{text}\""),
        ),
        DtErr::IntervalOverflow => ParseError::new(
            INTERVAL_FIELD_OVERFLOW,
            format!("interval field value out of range: \"{text}\""),
        ),
        DtErr::TzDispOverflow => ParseError::new(
            INVALID_TIME_ZONE_DISPLACEMENT_VALUE,
            format!("time zone displacement out of range: \"{text}\""),
        ),
        DtErr::IntervalOutOfRange => {
            ParseError::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range")
        }
        DtErr::Unsupported => ParseError::unsupported(format!(
            "{type_name} input \"{text}\" (a special word with other fields) is not supported"
        )),
    }
}

/// One field of date/time input, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DtField {
    /// Digits with embedded `-`, `/` or `.` separators: `2024-01-15`.
    Date(String),
    /// Digits, possibly with one `.`: `20240115`, `1.5`, `.5`.
    Number(String),
    /// Starts with digits and a colon: `12:30:00.5`.
    Time(String),
    /// A sign and then digits, `:`, `.`, `-`: `+02:00`, `-1`, `-02:00:00`.
    Signed(String),
    /// Letters (and, for zone names, `/`, `_`, ...): `bc`, `days`, `utc`.
    Word(String),
}

/// Words of PostgreSQL's core date/time keyword table (`datetktbl`): a word
/// directly followed by a digit or `+` is its own field only if it is one of
/// these (`t12:00`); otherwise the two are one field (`utc+5`, `day4`).
fn is_datetime_keyword(w: &str) -> bool {
    matches!(
        w,
        "ad" | "allballs"
            | "am"
            | "apr"
            | "april"
            | "at"
            | "aug"
            | "august"
            | "bc"
            | "d"
            | "dec"
            | "december"
            | "dow"
            | "doy"
            | "dst"
            | "epoch"
            | "feb"
            | "february"
            | "fri"
            | "friday"
            | "h"
            | "infinity"
            | "isodow"
            | "isoyear"
            | "j"
            | "jan"
            | "january"
            | "jd"
            | "jul"
            | "julian"
            | "july"
            | "jun"
            | "june"
            | "m"
            | "mar"
            | "march"
            | "may"
            | "mm"
            | "mon"
            | "monday"
            | "nov"
            | "november"
            | "now"
            | "oct"
            | "october"
            | "on"
            | "pm"
            | "s"
            | "sat"
            | "saturday"
            | "sep"
            | "sept"
            | "september"
            | "sun"
            | "sunday"
            | "t"
            | "thu"
            | "thur"
            | "thurs"
            | "thursday"
            | "today"
            | "tomorrow"
            | "tue"
            | "tues"
            | "tuesday"
            | "wed"
            | "wednesday"
            | "weds"
            | "y"
            | "yesterday"
    )
}

/// Splits date/time input into fields, as PostgreSQL's `ParseDateTime`.
fn tokenize_datetime(text: &str) -> Result<Vec<DtField>, DtErr> {
    let lower = text.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    let take = |i: &mut usize, pred: &dyn Fn(u8) -> bool, buf: &mut String| {
        while let Some(&c) = b.get(*i).filter(|c| pred(**c)) {
            buf.push(c as char);
            *i += 1;
        }
    };
    while let Some(&c) = b.get(i) {
        let mut buf = String::new();
        if c.is_ascii_digit() {
            take(&mut i, &|c| c.is_ascii_digit(), &mut buf);
            match b.get(i) {
                Some(b':') => {
                    take(
                        &mut i,
                        &|c| c.is_ascii_digit() || c == b':' || c == b'.',
                        &mut buf,
                    );
                    fields.push(DtField::Time(buf));
                }
                Some(&delim @ (b'-' | b'/' | b'.')) => {
                    buf.push(delim as char);
                    i += 1;
                    if b.get(i).is_some_and(u8::is_ascii_digit) {
                        take(&mut i, &|c| c.is_ascii_digit(), &mut buf);
                        if b.get(i) == Some(&delim) {
                            take(&mut i, &|c| c.is_ascii_digit() || c == delim, &mut buf);
                            fields.push(DtField::Date(buf));
                        } else if delim == b'.' {
                            fields.push(DtField::Number(buf));
                        } else {
                            fields.push(DtField::Date(buf));
                        }
                    } else {
                        take(
                            &mut i,
                            &|c| c.is_ascii_alphanumeric() || c == delim,
                            &mut buf,
                        );
                        fields.push(DtField::Date(buf));
                    }
                }
                _ => fields.push(DtField::Number(buf)),
            }
        } else if c == b'.' {
            buf.push('.');
            i += 1;
            take(&mut i, &|c| c.is_ascii_digit(), &mut buf);
            fields.push(DtField::Number(buf));
        } else if c.is_ascii_alphabetic() {
            take(&mut i, &|c| c.is_ascii_alphabetic(), &mut buf);
            let glue = match b.get(i) {
                Some(b'-' | b'/' | b'.') => true,
                Some(b'+' | b'0'..=b'9') => !is_datetime_keyword(&buf),
                _ => false,
            };
            if glue {
                take(
                    &mut i,
                    &|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, b'+' | b'-' | b'/' | b'_' | b'.' | b':')
                    },
                    &mut buf,
                );
            }
            fields.push(DtField::Word(buf));
        } else if is_pg_space(c) {
            i += 1;
        } else if c == b'+' || c == b'-' {
            buf.push(c as char);
            i += 1;
            while b.get(i).is_some_and(|c| is_pg_space(*c)) {
                i += 1;
            }
            match b.get(i) {
                Some(d) if d.is_ascii_digit() => {
                    take(
                        &mut i,
                        &|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'-'),
                        &mut buf,
                    );
                    fields.push(DtField::Signed(buf));
                }
                Some(a) if a.is_ascii_alphabetic() => {
                    take(&mut i, &|c| c.is_ascii_alphabetic(), &mut buf);
                    fields.push(DtField::Word(buf));
                }
                _ => return Err(DtErr::BadFormat),
            }
        } else if c.is_ascii_punctuation() {
            i += 1;
        } else {
            return Err(DtErr::BadFormat);
        }
    }
    Ok(fields)
}

/// C's `strtol` on a digit string: the value of the leading digits (none is
/// 0) and the rest; `None` if the value overflows `i64`.
fn leading_int(s: &str) -> Option<(i64, &str)> {
    let end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, rest) = s.split_at(end);
    if digits.is_empty() {
        return Some((0, rest));
    }
    digits.parse::<i64>().ok().map(|v| (v, rest))
}

/// PostgreSQL's `ParseFractionalSecond`: `.ddd` as rounded microseconds.
fn parse_fractional_second(s: &str) -> Result<i64, DtErr> {
    let digits = s.strip_prefix('.').ok_or(DtErr::BadFormat)?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DtErr::BadFormat);
    }
    // A bare "." is zero, as in PostgreSQL.
    let frac: f64 = format!("0.{digits}0")
        .parse()
        .map_err(|_| DtErr::BadFormat)?;
    Ok((frac * 1e6).round_ties_even() as i64)
}

/// PostgreSQL's `DecodeTimeCommon`: `h:m`, `h:m:s`, `h:m:s.f` or `m:s.f`,
/// as (hour, minute, second, microseconds); the hour is not range-checked.
fn decode_time_field(s: &str) -> Result<(i64, i64, i64, i64), DtErr> {
    let (hour, rest) = leading_int(s).ok_or(DtErr::FieldOverflow)?;
    let rest = rest.strip_prefix(':').ok_or(DtErr::BadFormat)?;
    let (min, rest) = leading_int(rest).ok_or(DtErr::FieldOverflow)?;
    let (hour, min, sec, fsec) = if rest.is_empty() {
        (hour, min, 0, 0)
    } else if rest.starts_with('.') {
        // mm:ss.sss
        (0, hour, min, parse_fractional_second(rest)?)
    } else if let Some(rest) = rest.strip_prefix(':') {
        let (sec, rest) = leading_int(rest).ok_or(DtErr::FieldOverflow)?;
        let fsec = if rest.is_empty() {
            0
        } else if rest.starts_with('.') {
            parse_fractional_second(rest)?
        } else {
            return Err(DtErr::BadFormat);
        };
        (hour, min, sec, fsec)
    } else {
        return Err(DtErr::BadFormat);
    };
    if !(0..60).contains(&min) || !(0..=60).contains(&sec) || !(0..=MICROS_PER_SEC).contains(&fsec)
    {
        return Err(DtErr::FieldOverflow);
    }
    Ok((hour, min, sec, fsec))
}

/// PostgreSQL's `DecodeTimezone` on `+hh`, `+hhmm`, `+hh:mm`, `+hh:mm:ss`:
/// the offset in seconds east of UTC.
fn decode_tz_offset(s: &str) -> Result<i64, DtErr> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or("")),
        Some(b'+') => (false, s.get(1..).unwrap_or("")),
        _ => return Err(DtErr::BadFormat),
    };
    let (mut hr, rest) = leading_int(body).ok_or(DtErr::TzDispOverflow)?;
    let mut min = 0;
    let mut sec = 0;
    let rest = if let Some(r) = rest.strip_prefix(':') {
        let (m, r) = leading_int(r).ok_or(DtErr::TzDispOverflow)?;
        min = m;
        if let Some(r2) = r.strip_prefix(':') {
            let (sv, r3) = leading_int(r2).ok_or(DtErr::TzDispOverflow)?;
            sec = sv;
            r3
        } else {
            r
        }
    } else if rest.is_empty() && s.len() > 3 {
        min = hr % 100;
        hr /= 100;
        rest
    } else {
        rest
    };
    if !(0..=15).contains(&hr) || !(0..60).contains(&min) || !(0..60).contains(&sec) {
        return Err(DtErr::TzDispOverflow);
    }
    if !rest.is_empty() {
        return Err(DtErr::BadFormat);
    }
    let tz = (hr * 60 + min) * 60 + sec;
    Ok(if neg { -tz } else { tz })
}

/// The fixed-offset time zone abbreviations of PostgreSQL's `Default`
/// `timezone_abbreviations` set: seconds east of UTC.
pub(crate) fn zone_abbreviation(w: &str) -> Option<i64> {
    Some(match w {
        "gmt" | "uct" | "ut" | "utc" | "z" | "zulu" | "wet" | "egst" | "azost" => 0,
        "eat" | "idt" | "eest" | "eetdst" | "fet" => 10800,
        "sast" | "ist" | "bdst" | "cest" | "cetdst" | "eet" | "mest" | "mesz" | "metdst" => 7200,
        "wat" | "bst" | "cet" | "met" | "mez" | "wetdst" => 3600,
        "act" | "cot" | "cdt" | "est" | "pet" => -18000,
        "akdt" => -28800,
        "akst" => -32400,
        "bot" | "amt" | "ast" => -14400,
        "bra" | "brt" | "clst" | "gft" | "pmst" | "pyst" | "uyt" | "wgt" | "adt" => -10800,
        "brst" | "fnt" | "pmdt" | "uyst" | "wgst" => -7200,
        "cst" | "mdt" | "galt" => -21600,
        "edt" => -14400,
        "egt" | "fnst" | "azot" => -3600,
        "mst" | "pdt" => -25200,
        "ndt" => -9000,
        "nft" | "nst" => -12600,
        "pst" => -28800,
        "ddut" | "kdt" | "aest" | "ligt" | "chut" | "mpt" | "pgt" | "trut" | "yapt" => 36000,
        "aft" => 16200,
        "almt" | "bdt" | "btt" | "kgst" | "pkst" | "uzst" | "xjt" | "yekst" => 21600,
        "almst" | "ict" | "wast" | "cxt" => 25200,
        "bnt" | "bort" | "cct" | "hkt" | "myt" | "pht" | "awst" | "wadt" => 28800,
        "irt" => 12600,
        "jayt" | "jst" | "kst" | "ulast" | "awsst" | "wdt" | "pwt" => 32400,
        "mmt" => 23400,
        "npt" => 20700,
        "pkt" | "tjt" | "uzt" | "must" | "mvt" | "tft" => 18000,
        "acsst" | "acdt" | "cadt" | "lhst" | "sadt" => 37800,
        "acst" | "cast" => 34200,
        "acwst" => 31500,
        "aesst" | "aedt" | "pont" | "vut" => 39600,
        "nzt" | "fjt" | "gilt" | "mht" | "nzst" | "tvt" | "wakt" | "wft" => 43200,
        "msd" | "mut" | "ret" | "sct" => 14400,
        "chadt" => 49500,
        "chast" => 45900,
        "fjst" | "nzdt" | "tot" => 46800,
        "gamt" => -32400,
        "hst" | "taht" => -36000,
        "mart" => -34200,
        _ => return None,
    })
}

/// Time zone names PostgreSQL knows whose offset depends on the date (the
/// `Default` set's abbreviations defined by a zone, and any `Area/City`
/// name): resolved by `repr/timezone.rs` at the time they are read at.
fn is_dynamic_zone(w: &str) -> bool {
    w.contains('/')
        || matches!(
            w,
            "art"
                | "arst"
                | "clt"
                | "gyt"
                | "pyt"
                | "vet"
                | "davt"
                | "mawt"
                | "amst"
                | "anast"
                | "anat"
                | "azst"
                | "azt"
                | "gest"
                | "get"
                | "irkst"
                | "irkt"
                | "kgt"
                | "krast"
                | "krat"
                | "lkt"
                | "magst"
                | "magt"
                | "novst"
                | "novt"
                | "omsst"
                | "omst"
                | "petst"
                | "pett"
                | "sgt"
                | "tmt"
                | "ulat"
                | "vlast"
                | "vlat"
                | "yakst"
                | "yakt"
                | "yekt"
                | "fkst"
                | "fkt"
                | "lhdt"
                | "msk"
                | "volt"
                | "iot"
                | "ckt"
                | "easst"
                | "east"
                | "kost"
                | "lint"
                | "nut"
                | "tkt"
        )
}

/// The decoded fields of a date/time input.
#[derive(Debug, Default)]
struct DateTimeParts {
    /// Validated (astronomical year, month, day).
    date: Option<(i64, u32, u32)>,
    /// Validated time of day in microseconds, `0 ..= 24:00:00`.
    time: Option<i64>,
    /// Zone offset, seconds east of UTC.
    tz: Option<i64>,
    /// A zone whose offset depends on the date (`repr/timezone.rs`).
    zone_name: Option<String>,
    /// A special word (`epoch`, `today`, ...) in place of the date.
    special: Option<SpecialDateTime>,
}

/// PostgreSQL's special date/time input words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialDateTime {
    /// `epoch`: 1970-01-01 00:00:00 UTC.
    Epoch,
    /// `infinity`: later than every date (Freshet refuses it, `0A000`).
    Infinity,
    /// `-infinity`: earlier than every date (refused too).
    NegInfinity,
    /// `now`: the moment the transaction began.
    Now,
    /// `today`: midnight of the current date.
    Today,
    /// `tomorrow`: midnight after `today`.
    Tomorrow,
    /// `yesterday`: midnight before `today`.
    Yesterday,
}

impl SpecialDateTime {
    /// The word as PostgreSQL spells it.
    pub fn word(&self) -> &'static str {
        match self {
            SpecialDateTime::Epoch => "epoch",
            SpecialDateTime::Infinity => "infinity",
            SpecialDateTime::NegInfinity => "-infinity",
            SpecialDateTime::Now => "now",
            SpecialDateTime::Today => "today",
            SpecialDateTime::Tomorrow => "tomorrow",
            SpecialDateTime::Yesterday => "yesterday",
        }
    }

    fn from_word(w: &str) -> Option<SpecialDateTime> {
        Some(match w {
            "epoch" => SpecialDateTime::Epoch,
            "infinity" | "+infinity" => SpecialDateTime::Infinity,
            "-infinity" => SpecialDateTime::NegInfinity,
            "now" => SpecialDateTime::Now,
            "today" => SpecialDateTime::Today,
            "tomorrow" => SpecialDateTime::Tomorrow,
            "yesterday" => SpecialDateTime::Yesterday,
            _ => return None,
        })
    }

    /// Whether the value depends on the moment it is read (`now`,
    /// `today`, ...).
    pub fn is_relative(&self) -> bool {
        !matches!(
            self,
            SpecialDateTime::Epoch | SpecialDateTime::Infinity | SpecialDateTime::NegInfinity
        )
    }

    /// For `today`, `tomorrow`, `yesterday`: days after the current date.
    pub fn day_offset(&self) -> Option<i32> {
        match self {
            SpecialDateTime::Today => Some(0),
            SpecialDateTime::Tomorrow => Some(1),
            SpecialDateTime::Yesterday => Some(-1),
            _ => None,
        }
    }
}

/// The relative special word (`now`, `today`, `tomorrow`, `yesterday`)
/// that `text` consists of, surrounding spaces and case aside. A constant
/// written so is replaced, when planned, by the moment the transaction
/// began (`sql/lower.rs`), like `now()`.
pub fn relative_datetime(text: &str) -> Option<SpecialDateTime> {
    SpecialDateTime::from_word(&trim_pg(text).to_ascii_lowercase()).filter(|s| s.is_relative())
}

/// Decodes a date/time input as PostgreSQL's `DecodeDateTime`: fields are
/// read in order, dates through [`DateFields`] (numeric, with a month name,
/// `yyyymmdd`, `yyyy.ddd`, `J` and a Julian day), then a time
/// (`hh:mm[:ss[.f]]`, or `hhmm[ss]` once the date is complete), an
/// optional `T`, a zone (`Z`, `UTC`, `PST`, `+hh[:mm[:ss]]`, a zone name),
/// `AM`/`PM`, `BC`/`AD`, weekday names (ignored), or a special word alone
/// (`epoch`, `now`, `today`, ...). `want_date` is false for `time` input:
/// a bare six-digit number then reads as a time.
fn decode_datetime(text: &str, want_date: bool) -> Result<DateTimeParts, DtErr> {
    use super::date_fields::{DATE, DAY, MONTH, NumberField, is_weekday, month_number};
    let fields = tokenize_datetime(text)?;
    let mut date = DateFields::default();
    let mut time: Option<(i64, i64, i64, i64)> = None;
    let mut tz: Option<i64> = None;
    let mut zone_name: Option<String> = None;
    let mut bc = false;
    let mut era_seen = false;
    let mut meridian: Option<bool> = None; // Some(true) for PM
    let mut iso_t = false;
    let mut julian_next = false;
    let mut special: Option<SpecialDateTime> = None;
    for field in &fields {
        if julian_next {
            // The number after `J` is a Julian day.
            julian_next = false;
            let DtField::Number(s) = field else {
                return Err(DtErr::BadFormat);
            };
            let jd: i64 = s
                .parse::<i32>()
                .map(i64::from)
                .map_err(|_| DtErr::BadFormat)?;
            if jd < 0 {
                return Err(DtErr::FieldOverflow);
            }
            let (y, m, d) = super::date_fields::julian_to_civil(jd);
            date.set_date(y, i64::from(m), i64::from(d))?;
            date.julian = true;
            continue;
        }
        match field {
            DtField::Date(s) => {
                if date.mask & DATE == DATE {
                    return Err(DtErr::BadFormat);
                }
                date.date_field(s)?;
            }
            DtField::Number(s) => {
                let (int, frac) = match s.split_once('.') {
                    Some((int, frac)) => (int, Some(frac)),
                    None => (s.as_str(), None),
                };
                let found = if frac.is_some() && want_date && date.mask & DATE == 0 {
                    // `yyyy.ddd`: a year and a day of the year.
                    date.date_field(s)?;
                    None
                } else if int.len() >= 6
                    || date.mask & DATE == DATE
                    || !want_date
                    || (frac.is_some() && int.len() > 2)
                {
                    Some(date.number_field(s, want_date, time.is_some())?)
                } else if frac.is_some() {
                    return Err(DtErr::BadFormat);
                } else {
                    date.number(int)?;
                    None
                };
                if let Some(NumberField::Time(h, m, sec, fsec)) = found {
                    time = Some((h, m, sec, fsec));
                    iso_t = false;
                }
            }
            DtField::Time(s) => {
                if time.is_some() {
                    return Err(DtErr::BadFormat);
                }
                time = Some(decode_time_field(s)?);
                iso_t = false;
            }
            DtField::Signed(s) => {
                if tz.is_some() || zone_name.is_some() {
                    return Err(DtErr::BadFormat);
                }
                tz = Some(decode_tz_offset(s)?);
            }
            DtField::Word(w) => match w.as_str() {
                "bc" | "ad" if !era_seen => {
                    era_seen = true;
                    bc = w == "bc";
                }
                "am" | "pm" if meridian.is_none() => meridian = Some(w == "pm"),
                "t" if !iso_t && time.is_none() => iso_t = true,
                "allballs" if time.is_none() => time = Some((0, 0, 0, 0)),
                "at" | "on" => {}
                "j" | "jd" | "julian" => julian_next = true,
                w if SpecialDateTime::from_word(w).is_some() => {
                    // Each stands for the date (a time after `epoch` is
                    // read and ignored, as in PostgreSQL).
                    date.set_date(1970, 1, 1)?;
                    special = SpecialDateTime::from_word(w);
                }
                w if month_number(w).is_some() => {
                    date.text_month_field(month_number(w).unwrap_or(0))?;
                }
                w if is_weekday(w) => {}
                w if tz.is_none() && zone_name.is_none() && zone_abbreviation(w).is_some() => {
                    tz = zone_abbreviation(w);
                }
                // A date with a month name first (`jan-08-1999`), while
                // the month and day are not both known; after them, a
                // zone name (`America/New_York`), as in PostgreSQL.
                w if w.contains(['-', '/', '.']) && date.mask & (MONTH | DAY) != MONTH | DAY => {
                    date.date_field(w)?;
                }
                w if tz.is_none() && zone_name.is_none() && is_dynamic_zone(w) => {
                    zone_name = Some(w.to_owned());
                }
                _ => return Err(DtErr::BadFormat),
            },
        }
    }
    if iso_t || julian_next {
        return Err(DtErr::BadFormat);
    }
    if let Some(special) = special {
        // PostgreSQL reads `now` only alone; Freshet also `today` and its
        // kin, which PostgreSQL lets a time and zone follow.
        if fields.len() != 1 {
            match special {
                SpecialDateTime::Now => return Err(DtErr::BadFormat),
                s if s.is_relative() => return Err(DtErr::Unsupported),
                _ => {}
            }
        }
        return Ok(DateTimeParts {
            special: Some(special),
            ..DateTimeParts::default()
        });
    }
    let mut parts = DateTimeParts {
        tz,
        zone_name,
        ..DateTimeParts::default()
    };
    parts.date = date.validate(bc)?;
    if parts.date.is_none() && era_seen {
        return Err(DtErr::BadFormat);
    }
    if let Some((mut hour, min, sec, fsec)) = time {
        if let Some(pm) = meridian {
            if hour > 12 {
                return Err(DtErr::FieldOverflow);
            }
            if pm && hour != 12 {
                hour += 12;
            } else if !pm && hour == 12 {
                hour = 0;
            }
        }
        if !(0..=24).contains(&hour)
            || !(0..60).contains(&min)
            || !(0..=60).contains(&sec)
            || !(0..=MICROS_PER_SEC).contains(&fsec)
        {
            return Err(DtErr::FieldOverflow);
        }
        let micros = ((hour * 60 + min) * 60 + sec) * MICROS_PER_SEC + fsec;
        if micros > MICROS_PER_DAY {
            return Err(DtErr::FieldOverflow);
        }
        parts.time = Some(micros);
    } else if meridian.is_some() {
        return Err(DtErr::BadFormat);
    }
    Ok(parts)
}

/// The value of a special word for `type_name`, where Freshet has one
/// (`epoch`: `Ok(Some(0))`), or the error that refuses it.
fn special_value(
    special: Option<SpecialDateTime>,
    type_name: &str,
) -> Result<Option<i64>, ParseError> {
    match special {
        None => Ok(None),
        Some(SpecialDateTime::Epoch) => Ok(Some(0)),
        Some(s @ (SpecialDateTime::Infinity | SpecialDateTime::NegInfinity)) => {
            Err(ParseError::unsupported(format!(
                "{type_name} value \"{}\" is not supported",
                s.word()
            )))
        }
        Some(s) => Err(relative_error(s, type_name)),
    }
}

/// The refusal of `now`, `today`, ... read from data rather than written
/// as a constant: the value would depend on when the row is read, which a
/// maintained view cannot follow.
fn relative_error(s: SpecialDateTime, type_name: &str) -> ParseError {
    ParseError::unsupported(format!(
        "{type_name} value \"{}\" outside a constant (only '{}'::{type_name} written in the query is supported)",
        s.word(),
        s.word()
    ))
}

fn out_of_range(what: &str, text: &str) -> ParseError {
    ParseError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("{what} out of range: \"{text}\""),
    )
}

/// Parses a `date` (days since 1970-01-01): ISO `2024-01-15`, optionally
/// `BC`; also `01/15/2024`, `20240115`, `epoch`; a time and zone are allowed
/// and ignored. A bad field is `22008 date/time field value out of range`, a
/// date beyond PostgreSQL's range `22008 date out of range`.
pub fn parse_date(text: &str) -> Result<i32, ParseError> {
    let parts = decode_datetime(text, true).map_err(|e| dt_error(e, text, "date"))?;
    if let Some(days) = special_value(parts.special, "date")? {
        return Ok(days as i32);
    }
    let (y, m, d) = parts
        .date
        .ok_or_else(|| dt_error(DtErr::BadFormat, text, "date"))?;
    if !is_valid_julian(y, m) {
        return Err(out_of_range("date", text));
    }
    let days = days_from_civil(y, m, d);
    if !(DATE_MIN_DAYS..=DATE_MAX_DAYS).contains(&days) {
        return Err(out_of_range("date", text));
    }
    Ok(days as i32)
}

/// Prints a `date` (days since 1970-01-01): `2024-01-15`, `0044-03-15 BC`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    let mut out = String::with_capacity(13);
    write_ymd(&mut out, y, m, d);
    if y <= 0 {
        out.push_str(" BC");
    }
    out
}

fn write_ymd(out: &mut String, y: i64, m: u32, d: u32) {
    let year = if y <= 0 { 1 - y } else { y };
    let _ = write!(out, "{year:04}-{m:02}-{d:02}");
}

/// Writes `HH:MM:SS[.ffffff]` (trailing zeros of the fraction trimmed).
fn write_time_of_day(out: &mut String, micros: i64) {
    let hour = micros / 3_600_000_000;
    let min = micros / 60_000_000 % 60;
    let sec = micros / MICROS_PER_SEC % 60;
    let _ = write!(out, "{hour:02}:{min:02}:{sec:02}");
    write_fraction(out, micros % MICROS_PER_SEC);
}

/// Writes `.ffffff` with trailing zeros trimmed, nothing for zero.
fn write_fraction(out: &mut String, frac: i64) {
    if frac != 0 {
        let digits = format!("{:06}", frac.unsigned_abs());
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Parses a `time` (microseconds since midnight): `HH:MM[:SS[.ffffff]]`,
/// `MM:SS.fff`, `HHMMSS`, `AM`/`PM`, `allballs`; up to `24:00:00`. A date
/// or zone in the input is allowed and ignored. Fractions round to
/// microseconds.
pub fn parse_time(text: &str) -> Result<i64, ParseError> {
    let parts = decode_datetime(text, false).map_err(|e| dt_error(e, text, "time"))?;
    match parts.special {
        None => {}
        Some(SpecialDateTime::Now) => return Err(relative_error(SpecialDateTime::Now, "time")),
        Some(_) => return Err(dt_error(DtErr::BadFormat, text, "time")),
    }
    if parts.zone_name.as_deref().is_some_and(|z| z.contains('/')) {
        // A zone name needs a date to resolve; PostgreSQL refuses it too.
        return Err(dt_error(DtErr::BadFormat, text, "time"));
    }
    parts
        .time
        .ok_or_else(|| dt_error(DtErr::BadFormat, text, "time"))
}

/// Prints a `time`: `HH:MM:SS` and `.ffffff` without trailing zeros.
pub fn format_time(micros: i64) -> String {
    let mut out = String::with_capacity(15);
    write_time_of_day(&mut out, micros.clamp(0, MICROS_PER_DAY));
    out
}

/// Shared by `timestamp` and `timestamptz` input.
fn parse_timestamp_common(text: &str, type_name: &str, with_zone: bool) -> Result<i64, ParseError> {
    let parts = decode_datetime(text, true).map_err(|e| dt_error(e, text, type_name))?;
    let special_name = if with_zone {
        "timestamptz"
    } else {
        "timestamp"
    };
    if let Some(micros) = special_value(parts.special, special_name)? {
        return Ok(micros);
    }
    let (y, m, d) = parts
        .date
        .ok_or_else(|| dt_error(DtErr::BadFormat, text, type_name))?;
    if !is_valid_julian(y, m) {
        return Err(out_of_range("timestamp", text));
    }
    let days = i128::from(days_from_civil(y, m, d));
    let mut micros = days * i128::from(MICROS_PER_DAY) + i128::from(parts.time.unwrap_or(0));
    if with_zone && parts.zone_name.is_none() {
        micros -= i128::from(parts.tz.unwrap_or(0)) * i128::from(MICROS_PER_SEC);
    }
    if micros < i128::from(TIMESTAMP_MIN_MICROS) || micros > i128::from(i64::MAX) {
        return Err(out_of_range("timestamp", text));
    }
    match &parts.zone_name {
        // A zone whose offset depends on the date: the local time read in it.
        Some(zone) if with_zone => {
            use super::timezone::{Zone, ZoneError};
            let zone_error = |e: ZoneError| match e {
                ZoneError::OutOfRange => out_of_range("timestamp", text),
                ZoneError::Unsupported(what) => ParseError::unsupported(what),
                other => ParseError::new(SqlState::INVALID_PARAMETER_VALUE, other.to_string()),
            };
            Zone::parse(zone)
                .and_then(|z| z.to_utc(micros as i64))
                .map_err(zone_error)
        }
        _ => Ok(micros as i64),
    }
}

/// Parses a `timestamp` (microseconds since 1970-01-01 00:00:00): a date as
/// in [`parse_date`], then `[ T]HH:MM[:SS[.ffffff]]` (a bare date is
/// midnight). A zone in the input is allowed and ignored, as in PostgreSQL.
pub fn parse_timestamp(text: &str) -> Result<i64, ParseError> {
    parse_timestamp_common(text, "timestamp", false)
}

/// Parses a `timestamptz` (microseconds since 1970-01-01 00:00:00 UTC): as
/// [`parse_timestamp`], then an optional zone: `Z`, `UTC`, a numeric offset
/// (`+02`, `+02:00`, `-0530`) or a fixed-offset abbreviation of
/// PostgreSQL's default set (`PST`, `CET`, ...); without one the value is UTC
/// (the session time zone). Zones whose offset depends on the date
/// (`Europe/Paris`, `MSK`) are resolved by `repr/timezone.rs`.
pub fn parse_timestamptz(text: &str) -> Result<i64, ParseError> {
    parse_timestamp_common(text, "timestamp with time zone", true)
}

fn write_timestamp(out: &mut String, micros: i64, zone: bool) {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    write_ymd(out, y, m, d);
    out.push(' ');
    write_time_of_day(out, micros.rem_euclid(MICROS_PER_DAY));
    if zone {
        out.push_str("+00");
    }
    if y <= 0 {
        out.push_str(" BC");
    }
}

/// Prints a `timestamp`: `2024-01-15 10:30:00`, `... 10:30:00.5`, and
/// ` BC` after BC dates.
pub fn format_timestamp(micros: i64) -> String {
    let mut out = String::with_capacity(30);
    write_timestamp(&mut out, micros, false);
    out
}

/// Prints a `timestamptz` in the UTC session zone: `2024-01-15
/// 10:30:00+00`.
pub fn format_timestamptz(micros: i64) -> String {
    let mut out = String::with_capacity(33);
    write_timestamp(&mut out, micros, true);
    out
}

// ---------------------------------------------------------------------------
// interval
// ---------------------------------------------------------------------------

/// Interval units (PostgreSQL's `DTK_*` unit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

impl Unit {
    /// The `fmask` bit a field of this unit sets.
    fn mask(self) -> u32 {
        1 << (self as u32)
    }

    /// Looks up a unit word as PostgreSQL's `deltatktbl` does (on its first
    /// ten characters).
    fn lookup(word: &str) -> Option<Unit> {
        let key = word.get(..10).unwrap_or(word);
        Some(match key {
            "microsecon" | "us" | "usec" | "usecs" | "useconds" => Unit::Microsecond,
            "millisecon" | "ms" | "msec" | "msecs" | "mseconds" => Unit::Millisecond,
            "s" | "sec" | "secs" | "second" | "seconds" => Unit::Second,
            "m" | "min" | "mins" | "minute" | "minutes" => Unit::Minute,
            "h" | "hr" | "hrs" | "hour" | "hours" => Unit::Hour,
            "d" | "day" | "days" => Unit::Day,
            "w" | "week" | "weeks" => Unit::Week,
            "mon" | "mons" | "month" | "months" => Unit::Month,
            "y" | "yr" | "yrs" | "year" | "years" => Unit::Year,
            "dec" | "decs" | "decade" | "decades" => Unit::Decade,
            "c" | "cent" | "century" | "centuries" => Unit::Century,
            "mil" | "mils" | "millennia" | "millennium" => Unit::Millennium,
            _ => return None,
        })
    }
}

/// The `fmask` of a time field (hours through microseconds).
const TIME_MASK: u32 = (1 << Unit::Hour as u32)
    | (1 << Unit::Minute as u32)
    | (1 << Unit::Second as u32)
    | (1 << Unit::Millisecond as u32)
    | (1 << Unit::Microsecond as u32);
/// The `fmask` of seconds with a fraction.
const ALL_SECS_MASK: u32 =
    (1 << Unit::Second as u32) | (1 << Unit::Millisecond as u32) | (1 << Unit::Microsecond as u32);

/// PostgreSQL's `pg_itm_in`, accumulated wide and range-checked at the end.
#[derive(Default)]
struct IntervalAcc {
    years: i128,
    months: i128,
    days: i128,
    micros: i128,
}

impl IntervalAcc {
    fn add(field: &mut i128, v: i128) -> Result<(), DtErr> {
        *field = field.checked_add(v).ok_or(DtErr::FieldOverflow)?;
        if field.unsigned_abs() > (1u128 << 100) {
            return Err(DtErr::FieldOverflow);
        }
        Ok(())
    }

    /// `AdjustFractMicroseconds`.
    fn fract_micros(&mut self, frac: f64, scale: i64) -> Result<(), DtErr> {
        if frac == 0.0 {
            return Ok(());
        }
        let frac = frac * scale as f64;
        let mut usec = frac as i64;
        let rest = frac - usec as f64;
        if rest > 0.5 {
            usec += 1;
        } else if rest < -0.5 {
            usec -= 1;
        }
        Self::add(&mut self.micros, usec.into())
    }

    /// `AdjustFractDays`.
    fn fract_days(&mut self, frac: f64, scale: i64) -> Result<(), DtErr> {
        if frac == 0.0 {
            return Ok(());
        }
        let frac = frac * scale as f64;
        let extra = frac as i64;
        Self::add(&mut self.days, extra.into())?;
        self.fract_micros(frac - extra as f64, MICROS_PER_DAY)
    }

    /// `AdjustFractYears`.
    fn fract_years(&mut self, frac: f64, scale: i64) -> Result<(), DtErr> {
        let extra = (frac * scale as f64 * 12.0).round_ties_even() as i64;
        Self::add(&mut self.months, extra.into())
    }

    /// Adds `val + fval` of `unit`.
    fn apply(&mut self, unit: Unit, val: i64, fval: f64) -> Result<(), DtErr> {
        let val = i128::from(val);
        let micros = |acc: &mut IntervalAcc, scale: i64| -> Result<(), DtErr> {
            Self::add(&mut acc.micros, val * i128::from(scale))?;
            acc.fract_micros(fval, scale)
        };
        match unit {
            Unit::Microsecond => micros(self, 1),
            Unit::Millisecond => micros(self, 1000),
            Unit::Second => micros(self, MICROS_PER_SEC),
            Unit::Minute => micros(self, 60 * MICROS_PER_SEC),
            Unit::Hour => micros(self, 3600 * MICROS_PER_SEC),
            Unit::Day => {
                Self::add(&mut self.days, val)?;
                self.fract_micros(fval, MICROS_PER_DAY)
            }
            Unit::Week => {
                Self::add(&mut self.days, val * 7)?;
                self.fract_days(fval, 7)
            }
            Unit::Month => {
                Self::add(&mut self.months, val)?;
                self.fract_days(fval, 30)
            }
            Unit::Year | Unit::Decade | Unit::Century | Unit::Millennium => {
                let scale = match unit {
                    Unit::Year => 1,
                    Unit::Decade => 10,
                    Unit::Century => 100,
                    _ => 1000,
                };
                Self::add(&mut self.years, val * i128::from(scale))?;
                self.fract_years(fval, scale)
            }
        }
    }

    /// The interval, each field in range, or the error PostgreSQL reports.
    fn finish(self) -> Result<Interval, DtErr> {
        let years = i32::try_from(self.years).map_err(|_| DtErr::IntervalOverflow)?;
        let months = i32::try_from(self.months).map_err(|_| DtErr::IntervalOverflow)?;
        let days = i32::try_from(self.days).map_err(|_| DtErr::IntervalOverflow)?;
        let micros = i64::try_from(self.micros).map_err(|_| DtErr::IntervalOverflow)?;
        let months = i32::try_from(i64::from(years) * 12 + i64::from(months))
            .map_err(|_| DtErr::IntervalOutOfRange)?;
        Ok(Interval {
            months,
            days,
            micros,
        })
    }
}

/// A time field of an interval (`DecodeTimeForInterval`) in microseconds.
/// In a `MINUTE TO SECOND` interval, `a:b` is minutes and seconds.
fn interval_time_field(s: &str, range: Option<IntervalFields>) -> Result<i128, DtErr> {
    let (mut hour, mut min, mut sec, fsec) = decode_time_field(s)?;
    if range == Some(IntervalFields::MinuteToSecond)
        && s.matches(':').count() == 1
        && !s.contains('.')
    {
        (hour, min, sec) = (0, hour, min);
        if !(0..60).contains(&min) {
            return Err(DtErr::FieldOverflow);
        }
    }
    Ok(i128::from(hour) * 3_600_000_000
        + i128::from(min) * 60_000_000
        + i128::from(sec) * i128::from(MICROS_PER_SEC)
        + i128::from(fsec))
}

/// A number field of an interval: its integer part, its fraction (with the
/// field's sign), and whether it was SQL `years-months` (in months).
fn interval_number(s: &str) -> Result<(i64, f64, bool), DtErr> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or("")),
        Some(b'+') => (false, s.get(1..).unwrap_or("")),
        _ => (false, s),
    };
    let (val, rest) = leading_int(body).ok_or(DtErr::FieldOverflow)?;
    let val = if neg { -val } else { val };
    if let Some(months) = rest.strip_prefix('-') {
        if months.is_empty() || !months.bytes().all(|c| c.is_ascii_digit()) {
            return Err(DtErr::BadFormat);
        }
        let m: i64 = months.parse().map_err(|_| DtErr::FieldOverflow)?;
        if m >= 12 {
            return Err(DtErr::FieldOverflow);
        }
        let total = val
            .checked_mul(12)
            .and_then(|v| v.checked_add(if neg { -m } else { m }))
            .ok_or(DtErr::FieldOverflow)?;
        return Ok((total, 0.0, true));
    }
    if rest.is_empty() {
        if body.is_empty() {
            return Err(DtErr::BadFormat);
        }
        return Ok((val, 0.0, false));
    }
    let digits = rest.strip_prefix('.').ok_or(DtErr::BadFormat)?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DtErr::BadFormat);
    }
    let frac: f64 = format!("0.{digits}0")
        .parse()
        .map_err(|_| DtErr::BadFormat)?;
    Ok((val, if neg { -frac } else { frac }, false))
}

/// PostgreSQL's `DecodeInterval` (IntervalStyle `postgres`): fields are
/// read right to left, a unit word naming the unit of the number before it,
/// a bare number meaning seconds (or days before a time field), or the
/// last field of `range` (`'1 2'` as `DAY TO HOUR` is a day and two hours).
fn decode_interval(
    fields: &[DtField],
    range: Option<IntervalFields>,
) -> Result<IntervalAcc, DtErr> {
    let bare_unit = match range {
        Some(IntervalFields::Year) => Unit::Year,
        Some(IntervalFields::Month | IntervalFields::YearToMonth) => Unit::Month,
        Some(IntervalFields::Day) => Unit::Day,
        Some(IntervalFields::Hour | IntervalFields::DayToHour) => Unit::Hour,
        Some(
            IntervalFields::Minute | IntervalFields::HourToMinute | IntervalFields::DayToMinute,
        ) => Unit::Minute,
        Some(
            IntervalFields::Second
            | IntervalFields::MinuteToSecond
            | IntervalFields::HourToSecond
            | IntervalFields::DayToSecond,
        )
        | None => Unit::Second,
    };
    let mut acc = IntervalAcc::default();
    let mut unit: Option<Unit> = None;
    let mut fmask = 0u32;
    let mut is_before = false;
    for field in fields.iter().rev() {
        let mut tmask = 0;
        let number = match field {
            DtField::Time(s) => {
                IntervalAcc::add(&mut acc.micros, interval_time_field(s, range)?)?;
                unit = Some(Unit::Day);
                tmask = TIME_MASK;
                None
            }
            DtField::Signed(s) => {
                let body = s.get(1..).unwrap_or("");
                let time = if body.contains(':') {
                    interval_time_field(body, range).ok()
                } else {
                    None
                };
                if let Some(us) = time {
                    let us = if s.starts_with('-') { -us } else { us };
                    IntervalAcc::add(&mut acc.micros, us)?;
                    unit = Some(Unit::Day);
                    tmask = TIME_MASK;
                    None
                } else {
                    Some(s)
                }
            }
            DtField::Number(s) | DtField::Date(s) => Some(s),
            DtField::Word(w) => {
                if w == "ago" {
                    is_before = true;
                } else {
                    unit = Some(Unit::lookup(w).ok_or(DtErr::BadFormat)?);
                }
                None
            }
        };
        if let Some(s) = number {
            let (val, fval, years_months) = interval_number(s)?;
            let u = if years_months {
                Unit::Month
            } else {
                unit.unwrap_or(bare_unit)
            };
            unit = Some(u);
            acc.apply(u, val, fval)?;
            if u == Unit::Hour {
                unit = Some(Unit::Day);
            }
            tmask = if u == Unit::Second && fval != 0.0 {
                ALL_SECS_MASK
            } else {
                u.mask()
            };
        }
        if fmask & tmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= tmask;
    }
    if fmask == 0 {
        return Err(DtErr::BadFormat);
    }
    if is_before {
        acc.years = -acc.years;
        acc.months = -acc.months;
        acc.days = -acc.days;
        acc.micros = -acc.micros;
    }
    Ok(acc)
}

/// PostgreSQL's `DecodeISO8601Interval`, format with designators only:
/// `P[nY][nM][nW][nD][T[nH][nM][nS]]`, numbers signed and fractional.
fn decode_iso8601_interval(s: &str) -> Result<IntervalAcc, DtErr> {
    let b = s.as_bytes();
    if b.len() < 2 || b.first() != Some(&b'P') {
        return Err(DtErr::BadFormat);
    }
    let mut acc = IntervalAcc::default();
    let mut date_part = true;
    let mut i = 1;
    while let Some(&c) = b.get(i) {
        if c == b'T' {
            date_part = false;
            i += 1;
            continue;
        }
        if !(c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.')) {
            return Err(DtErr::BadFormat);
        }
        let start = i;
        if matches!(c, b'-' | b'+') {
            i += 1;
        }
        let mut digits = 0;
        while let Some(&d) = b.get(i) {
            if d.is_ascii_digit() {
                digits += 1;
            } else if d != b'.' {
                break;
            }
            i += 1;
        }
        let num = s.get(start..i).ok_or(DtErr::BadFormat)?;
        if digits == 0 {
            return Err(DtErr::BadFormat);
        }
        let val: f64 = num.parse().map_err(|_| DtErr::BadFormat)?;
        if val.is_nan() || !(-1.0e15..=1.0e15).contains(&val) {
            return Err(DtErr::FieldOverflow);
        }
        let ipart = val.trunc();
        let fpart = val - ipart;
        let ipart = ipart as i64;
        let unit = match (date_part, b.get(i)) {
            (true, Some(b'Y')) => Unit::Year,
            (true, Some(b'M')) => Unit::Month,
            (true, Some(b'W')) => Unit::Week,
            (true, Some(b'D')) => Unit::Day,
            (false, Some(b'H')) => Unit::Hour,
            (false, Some(b'M')) => Unit::Minute,
            (false, Some(b'S')) => Unit::Second,
            _ => return Err(DtErr::BadFormat),
        };
        i += 1;
        acc.apply(unit, ipart, fpart)?;
    }
    Ok(acc)
}

/// Parses an `interval`, as PostgreSQL 15's `interval_in` with
/// `IntervalStyle = postgres`: verbose units (`1 year 2 mons 3 days`,
/// `2 weeks`, `-1 day`, `@ 1 minute ago`, `1.5 days`), time fields
/// (`04:05:06.789`, `-02:03:00`), combinations (`1 day 02:00:00`), SQL
/// `1-2` (years-months), ISO 8601 `P1Y2M3DT4H5M6S`. Fractions cascade
/// down: `1.5 days` is `1 day 12:00:00`, `1.5 months` `1 mon 15 days`.
pub fn parse_interval(text: &str) -> Result<Interval, ParseError> {
    parse_interval_in_range(text, None)
}

/// Parses an `interval` of type `interval <fields>(<precision>)`, as
/// PostgreSQL's `interval_in` reads a literal of that type (`INTERVAL '1 2'
/// DAY TO HOUR`, `'1:30'::interval minute to second`): a number without a
/// unit is the last of the fields, and the value is then cut to the fields
/// and rounded to the precision ([`adjust_interval`]). (A value of another
/// type converted to such an interval type is read as a plain `interval`
/// and then adjusted, as PostgreSQL's casts do.)
pub fn parse_interval_typed(
    text: &str,
    fields: Option<IntervalFields>,
    precision: Option<u8>,
) -> Result<Interval, ParseError> {
    adjust_interval(parse_interval_in_range(text, fields)?, fields, precision)
}

/// PostgreSQL's `AdjustIntervalForTypmod`: drops what lies below the last
/// of `fields` (toward zero: `-1.5` hours as `HOUR` is `-01:00:00`), then
/// rounds the seconds to `precision` digits, half away from zero.
pub fn adjust_interval(
    iv: Interval,
    fields: Option<IntervalFields>,
    precision: Option<u8>,
) -> Result<Interval, ParseError> {
    use IntervalFields as F;
    const MICROS_PER_HOUR: i64 = 3_600_000_000;
    const MICROS_PER_MINUTE: i64 = 60_000_000;
    let Interval {
        mut months,
        mut days,
        mut micros,
    } = iv;
    match fields {
        None | Some(F::Second | F::DayToSecond | F::HourToSecond | F::MinuteToSecond) => {}
        Some(F::Year) => {
            months = months / 12 * 12;
            days = 0;
            micros = 0;
        }
        Some(F::Month | F::YearToMonth) => {
            days = 0;
            micros = 0;
        }
        Some(F::Day) => micros = 0,
        Some(F::Hour | F::DayToHour) => micros = micros / MICROS_PER_HOUR * MICROS_PER_HOUR,
        Some(F::Minute | F::DayToMinute | F::HourToMinute) => {
            micros = micros / MICROS_PER_MINUTE * MICROS_PER_MINUTE;
        }
    }
    if let Some(p) = precision {
        micros = round_fraction(micros, p).ok_or_else(|| {
            ParseError::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range")
        })?;
    }
    Ok(Interval {
        months,
        days,
        micros,
    })
}

/// [`parse_interval`] with bare numbers read as the last of `range`.
fn parse_interval_in_range(
    text: &str,
    range: Option<IntervalFields>,
) -> Result<Interval, ParseError> {
    let err = |e: DtErr| {
        // An overflowing field of an interval is reported as such.
        let e = if e == DtErr::FieldOverflow {
            DtErr::IntervalOverflow
        } else {
            e
        };
        dt_error(e, text, "interval")
    };
    let acc = match tokenize_datetime(text).and_then(|fields| decode_interval(&fields, range)) {
        Ok(acc) => acc,
        Err(DtErr::BadFormat) => decode_iso8601_interval(text).map_err(err)?,
        Err(e) => return Err(err(e)),
    };
    acc.finish().map_err(err)
}

/// Prints an `interval` as PostgreSQL's `IntervalStyle = postgres`:
/// `1 year 2 mons 3 days 04:05:06.789`, `-1 days +02:03:00`, `00:00:00`.
pub fn format_interval(iv: &Interval) -> String {
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |out: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let _ = write!(
            out,
            "{}{}{} {}{}",
            if is_zero { "" } else { " " },
            if is_before && value > 0 { "+" } else { "" },
            value,
            unit,
            if value != 1 { "s" } else { "" }
        );
        is_before = value < 0;
        is_zero = false;
    };
    let months = i64::from(iv.months);
    part(&mut out, months / 12, "year");
    part(&mut out, months % 12, "mon");
    part(&mut out, i64::from(iv.days), "day");
    let time = iv.micros;
    let hour = time / 3_600_000_000;
    let min = time / 60_000_000 % 60;
    let sec = time / MICROS_PER_SEC % 60;
    let fsec = time % MICROS_PER_SEC;
    if is_zero || time != 0 {
        let minus = time < 0;
        let _ = write!(
            out,
            "{}{}{:02}:{:02}:{:02}",
            if is_zero { "" } else { " " },
            if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            },
            hour.unsigned_abs(),
            min.unsigned_abs(),
            sec.unsigned_abs()
        );
        write_fraction(&mut out, fsec);
    }
    out
}

// ---------------------------------------------------------------------------
// jsonb
// ---------------------------------------------------------------------------

/// A parsed JSON value, numbers kept as PostgreSQL `numeric` text. Values
/// live in a flat arena and refer to their elements by index, so that
/// neither parsing, printing nor dropping recurses.
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<usize>),
    /// Keys unique, in jsonb order (shorter first, then bytewise).
    Object(Vec<(String, usize)>),
}

/// The deepest nesting accepted; PostgreSQL's limit is its stack depth
/// (`max_stack_depth = 2MB` takes somewhat over 10000 levels).
const JSON_MAX_DEPTH: usize = 10_000;

fn json_error() -> ParseError {
    ParseError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type json",
    )
}

struct JsonParser<'a> {
    text: &'a str,
    pos: usize,
    arena: Vec<Json>,
}

impl JsonParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        self.pos = super::jsonb::skip_ws(self.text.as_bytes(), self.pos);
    }

    /// Whether the token just read ends here.
    fn at_token_end(&self) -> bool {
        super::jsonb::at_token_end(self.text.as_bytes(), self.pos)
    }

    fn push(&mut self, value: Json) -> usize {
        self.arena.push(value);
        self.arena.len() - 1
    }

    /// An object key and its colon.
    fn key(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(json_error());
        }
        let key = self.string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(json_error());
        }
        self.pos += 1;
        Ok(key)
    }

    /// Parses one JSON value (the whole document), returning its index.
    fn document(&mut self) -> Result<usize, ParseError> {
        // The open arrays and objects, innermost last, each with the key
        // of the member being parsed (objects only).
        let mut open: Vec<(usize, Option<String>)> = Vec::new();
        'value: loop {
            self.skip_ws();
            let mut done = match self.peek() {
                Some(c @ (b'{' | b'[')) => {
                    if open.len() >= JSON_MAX_DEPTH {
                        return Err(ParseError::new(
                            STATEMENT_TOO_COMPLEX,
                            "stack depth limit exceeded",
                        ));
                    }
                    self.pos += 1;
                    let id = self.push(if c == b'{' {
                        Json::Object(Vec::new())
                    } else {
                        Json::Array(Vec::new())
                    });
                    self.skip_ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        id
                    } else {
                        let key = if c == b'{' { Some(self.key()?) } else { None };
                        open.push((id, key));
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    let s = self.string()?;
                    self.push(Json::String(s))
                }
                Some(b'-' | b'0'..=b'9') => {
                    let n = self.number()?;
                    self.push(Json::Number(n))
                }
                Some(_) => {
                    let rest = self.text.as_bytes().get(self.pos..).unwrap_or(&[]);
                    let (value, len) = if rest.starts_with(b"true") {
                        (Json::Bool(true), 4)
                    } else if rest.starts_with(b"false") {
                        (Json::Bool(false), 5)
                    } else if rest.starts_with(b"null") {
                        (Json::Null, 4)
                    } else {
                        return Err(json_error());
                    };
                    self.pos += len;
                    if !self.at_token_end() {
                        return Err(json_error());
                    }
                    self.push(value)
                }
                None => return Err(json_error()),
            };
            // Attach the finished value to its container; close containers
            // that end here.
            loop {
                let Some((parent, key)) = open.last_mut() else {
                    return Ok(done);
                };
                let is_object = match self.arena.get_mut(*parent) {
                    Some(Json::Array(items)) => {
                        items.push(done);
                        false
                    }
                    Some(Json::Object(pairs)) => {
                        pairs.push((key.take().unwrap_or_default(), done));
                        true
                    }
                    _ => return Err(json_error()),
                };
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_object {
                            *key = Some(self.key()?);
                        }
                        continue 'value;
                    }
                    Some(b'}') if is_object => {
                        self.pos += 1;
                        if let Some(Json::Object(pairs)) = self.arena.get_mut(*parent) {
                            // jsonb order; of duplicate keys the last wins
                            // (the sort is stable, so it ends its run).
                            pairs.sort_by(|a, b| {
                                (a.0.len(), a.0.as_bytes()).cmp(&(b.0.len(), b.0.as_bytes()))
                            });
                            let mut unique: Vec<(String, usize)> = Vec::with_capacity(pairs.len());
                            for pair in pairs.drain(..) {
                                if unique.last().is_some_and(|last| last.0 == pair.0) {
                                    unique.pop();
                                }
                                unique.push(pair);
                            }
                            *pairs = unique;
                        }
                    }
                    Some(b']') if !is_object => self.pos += 1,
                    _ => return Err(json_error()),
                }
                done = *parent;
                open.pop();
            }
        }
    }

    /// A string token (at its opening quote), unescaped.
    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1;
        let mut out = String::new();
        let bytes = self.text.as_bytes();
        let mut run_start = self.pos;
        loop {
            let Some(c) = bytes.get(self.pos).copied() else {
                return Err(json_error());
            };
            match c {
                b'"' => {
                    out.push_str(self.text.get(run_start..self.pos).unwrap_or(""));
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.text.get(run_start..self.pos).unwrap_or(""));
                    self.pos += 1;
                    let esc = bytes.get(self.pos).copied().ok_or_else(json_error)?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let cp = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&cp) {
                                if bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(json_error());
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(json_error());
                                }
                                0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err(json_error());
                            } else {
                                cp
                            };
                            if ch == 0 {
                                return Err(ParseError::new(
                                    UNTRANSLATABLE_CHARACTER,
                                    "unsupported Unicode escape sequence",
                                ));
                            }
                            out.push(char::from_u32(ch).ok_or_else(json_error)?);
                        }
                        _ => return Err(json_error()),
                    }
                    run_start = self.pos;
                }
                0x00..=0x1f => return Err(json_error()),
                _ => self.pos += 1,
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.peek().and_then(hex_value).ok_or_else(json_error)?;
            v = v * 16 + u32::from(c);
            self.pos += 1;
        }
        Ok(v)
    }

    /// A number token, as the text PostgreSQL's `numeric_out` prints.
    fn number(&mut self) -> Result<String, ParseError> {
        let mut neg = false;
        if self.peek() == Some(b'-') {
            neg = true;
            self.pos += 1;
        }
        let mut digits: Vec<u8> = Vec::new();
        match self.peek() {
            Some(b'0') => {
                digits.push(b'0');
                self.pos += 1;
            }
            Some(b'1'..=b'9') => {
                while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
                    digits.push(c);
                    self.pos += 1;
                }
            }
            _ => return Err(json_error()),
        }
        let mut frac_len: i64 = 0;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(json_error());
            }
            while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
                digits.push(c);
                frac_len += 1;
                self.pos += 1;
            }
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            let mut exp_neg = false;
            if let Some(c @ (b'+' | b'-')) = self.peek() {
                exp_neg = c == b'-';
                self.pos += 1;
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(json_error());
            }
            while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
                exponent = (exponent * 10 + i64::from(c - b'0')).min(i64::from(i32::MAX));
                self.pos += 1;
            }
            if exponent >= i64::from(i32::MAX / 2) {
                return Err(ParseError::numeric_overflow());
            }
            if exp_neg {
                exponent = -exponent;
            }
        }
        if !self.at_token_end() {
            return Err(json_error());
        }
        numeric_text(neg, &digits, frac_len - exponent)
    }
}

/// The text PostgreSQL's `numeric_out` prints for `digits × 10^-scale`:
/// fixed notation with `max(scale, 0)` digits after the point, no `-0`.
/// Exact for any size within PostgreSQL's `numeric` limits.
fn numeric_text(neg: bool, digits: &[u8], scale: i64) -> Result<String, ParseError> {
    let first = digits
        .iter()
        .position(|d| *d != b'0')
        .unwrap_or(digits.len());
    let digits = digits.get(first..).unwrap_or(&[]);
    let dscale = scale.max(0);
    // Digits before the point (may be negative: leading fractional zeros).
    let point = if digits.is_empty() {
        0
    } else {
        digits.len() as i64 - scale
    };
    if dscale > 16_383 || point > 131_072 {
        return Err(ParseError::numeric_overflow());
    }
    let mut out = String::with_capacity((point.max(1) + dscale + 2) as usize);
    if neg && !digits.is_empty() {
        out.push('-');
    }
    let digit_at = |k: i64| -> char {
        // The digit at position k (0 = first significant), or 0 outside.
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k))
            .map_or('0', |d| *d as char)
    };
    if point <= 0 {
        out.push('0');
    } else {
        for k in 0..point {
            out.push(digit_at(k));
        }
    }
    if dscale > 0 {
        out.push('.');
        for k in point..point + dscale {
            out.push(digit_at(k));
        }
    }
    Ok(out)
}

/// Prints the value at `root` as PostgreSQL's `JsonbToCString` does.
fn write_json(arena: &[Json], root: usize, out: &mut String) {
    /// A piece of output still to write.
    enum Task<'a> {
        Value(usize),
        Text(&'static str),
        Key(&'a str),
    }
    let mut tasks = vec![Task::Value(root)];
    while let Some(task) = tasks.pop() {
        match task {
            Task::Text(t) => out.push_str(t),
            Task::Key(k) => {
                write_json_string(k, out);
                out.push_str(": ");
            }
            Task::Value(id) => match arena.get(id) {
                None | Some(Json::Null) => out.push_str("null"),
                Some(Json::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
                Some(Json::Number(n)) => out.push_str(n),
                Some(Json::String(s)) => write_json_string(s, out),
                Some(Json::Array(items)) => {
                    out.push('[');
                    tasks.push(Task::Text("]"));
                    for (i, item) in items.iter().enumerate().rev() {
                        tasks.push(Task::Value(*item));
                        if i > 0 {
                            tasks.push(Task::Text(", "));
                        }
                    }
                }
                Some(Json::Object(pairs)) => {
                    out.push('{');
                    tasks.push(Task::Text("}"));
                    for (i, (key, item)) in pairs.iter().enumerate().rev() {
                        tasks.push(Task::Value(*item));
                        tasks.push(Task::Key(key));
                        if i > 0 {
                            tasks.push(Task::Text(", "));
                        }
                    }
                }
            },
        }
    }
}

/// PostgreSQL's `escape_json`.
pub(crate) fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses JSON text and prints it as PostgreSQL's `jsonb` output does:
/// object keys unique (the last duplicate wins) and ordered shorter first,
/// then bytewise; `", "` and `": "` separators; numbers as PostgreSQL
/// `numeric` prints them (`1.0` stays `1.0`, `1e2` is `100`). Invalid input
/// is `22P02 invalid input syntax for type json`; `\u0000` is `22P05
/// unsupported Unicode escape sequence`.
pub fn canonical_jsonb(text: &str) -> Result<String, ParseError> {
    match super::jsonb::canonical_fast(text) {
        Some(out) => Ok(out),
        None => canonical_jsonb_full(text),
    }
}

/// [`canonical_jsonb`] through the full parser, which takes any input and
/// decides its errors.
pub(crate) fn canonical_jsonb_full(text: &str) -> Result<String, ParseError> {
    let mut parser = JsonParser {
        text,
        pos: 0,
        arena: Vec::new(),
    };
    let root = parser.document()?;
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(json_error());
    }
    let mut out = String::with_capacity(text.len());
    write_json(&parser.arena, root, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(p: Option<u8>, s: Option<u8>) -> ScalarType {
        ScalarType::Numeric {
            precision: p,
            scale: s,
        }
    }

    /// Parses and prints again.
    fn rt(text: &str, typ: &ScalarType) -> String {
        match parse(text, typ) {
            Ok(d) => format(&d).unwrap_or_default(),
            Err(e) => panic!("{text:?} as {typ:?}: {e}"),
        }
    }

    /// The error of parsing, as (code, message).
    fn err(text: &str, typ: &ScalarType) -> (String, String) {
        match parse(text, typ) {
            Ok(d) => panic!("{text:?} as {typ:?} parsed to {d:?}"),
            Err(e) => (e.code.as_str().to_owned(), e.message),
        }
    }

    fn e(code: &str, message: &str) -> (String, String) {
        (code.to_owned(), message.to_owned())
    }

    #[test]
    fn bool_input_and_output() {
        for t in [
            "t", "true", "TRUE", " yes ", "y", "on", "1", "tr", "Ye", "\ttrue\n",
        ] {
            assert_eq!(parse(t, &ScalarType::Bool), Ok(Datum::Bool(true)), "{t:?}");
        }
        for t in ["f", "false", "No", "n", "off", "of", "0", "fal"] {
            assert_eq!(parse(t, &ScalarType::Bool), Ok(Datum::Bool(false)), "{t:?}");
        }
        for t in ["x", "", "o", "2", "truee", "onn", "yes no", "10"] {
            assert_eq!(
                err(t, &ScalarType::Bool),
                e(
                    "22P02",
                    &format!("invalid input syntax for type boolean: \"{t}\"")
                )
            );
        }
        assert_eq!(format(&Datum::Bool(true)).as_deref(), Some("t"));
        assert_eq!(format(&Datum::Bool(false)).as_deref(), Some("f"));
        assert_eq!(format(&Datum::Null), None);
    }

    #[test]
    fn integer_input() {
        assert_eq!(parse(" 42 ", &ScalarType::Int32), Ok(Datum::Int32(42)));
        assert_eq!(parse("+7", &ScalarType::Int16), Ok(Datum::Int16(7)));
        assert_eq!(
            parse("-32768", &ScalarType::Int16),
            Ok(Datum::Int16(i16::MIN))
        );
        assert_eq!(
            parse("-2147483648", &ScalarType::Int32),
            Ok(Datum::Int32(i32::MIN))
        );
        assert_eq!(
            parse("-9223372036854775808", &ScalarType::Int64),
            Ok(Datum::Int64(i64::MIN))
        );
        assert_eq!(parse("007", &ScalarType::Int64), Ok(Datum::Int64(7)));
        assert_eq!(
            err("abc", &ScalarType::Int32),
            e("22P02", "invalid input syntax for type integer: \"abc\"")
        );
        assert_eq!(
            err("", &ScalarType::Int64),
            e("22P02", "invalid input syntax for type bigint: \"\"")
        );
        assert_eq!(
            err("1.5", &ScalarType::Int16),
            e("22P02", "invalid input syntax for type smallint: \"1.5\"")
        );
        assert_eq!(
            err("- 1", &ScalarType::Int32),
            e("22P02", "invalid input syntax for type integer: \"- 1\"")
        );
        assert_eq!(
            err("99999999999", &ScalarType::Int32),
            e(
                "22003",
                "value \"99999999999\" is out of range for type integer"
            )
        );
        assert_eq!(
            err("32768", &ScalarType::Int16),
            e("22003", "value \"32768\" is out of range for type smallint")
        );
        assert_eq!(
            err("9223372036854775808", &ScalarType::Int64),
            e(
                "22003",
                "value \"9223372036854775808\" is out of range for type bigint"
            )
        );
        // Overflow is found before trailing garbage, as in PostgreSQL.
        assert_eq!(
            err("99999999999abc", &ScalarType::Int32),
            e(
                "22003",
                "value \"99999999999abc\" is out of range for type integer"
            )
        );
        assert_eq!(
            format(&Datum::Int64(i64::MIN)).as_deref(),
            Some("-9223372036854775808")
        );
    }

    #[test]
    fn float_output_matches_postgres() {
        let cases: &[(f64, &str)] = &[
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (1.5e15, "1.5e+15"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.00012345, "0.00012345"),
            (1.5, "1.5"),
            (-1.5, "-1.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (100.0, "100"),
            (1e20, "1e+20"),
            (1.2345678901234568e20, "1.2345678901234568e+20"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (1e100, "1e+100"),
            (-1e-100, "-1e-100"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float64(*v), *want, "{v:e}");
        }
        let cases32: &[(f32, &str)] = &[
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (0.00001, "1e-05"),
            (0.0001, "0.0001"),
            (f32::MAX, "3.4028235e+38"),
            (-0.0, "-0"),
            (f32::NAN, "NaN"),
        ];
        for (v, want) in cases32 {
            assert_eq!(format_float32(*v), *want, "{v:e}");
        }
        // Where the shortest candidate sits on the edge of the rounding
        // interval, or two tie, PostgreSQL's Ryu differs from Rust's `{}`.
        assert_eq!(
            format_float64(-22292100048304271.0),
            "-2.2292100048304272e+16"
        );
        assert_eq!(format_float64(91723169151145796.0), "9.172316915114579e+16");
        assert_eq!(
            format_float64(63768579848396020.0),
            "6.3768579848396016e+16"
        );
        assert_eq!(format_float32(-3_726_083.2), "-3.7260832e+06");
        assert_eq!(format_float32(-36_992_472.0), "-3.6992472e+07");
    }

    #[test]
    fn float_input() {
        let f = |t: &str| match parse(t, &ScalarType::Float64) {
            Ok(Datum::Float64(v)) => v.0,
            other => panic!("{t:?}: {other:?}"),
        };
        assert_eq!(f(" 1.5 "), 1.5);
        assert_eq!(f("1e3"), 1000.0);
        assert_eq!(f("-.5"), -0.5);
        assert_eq!(f("5."), 5.0);
        assert_eq!(f("1E-2"), 0.01);
        assert!(f("NaN").is_nan());
        assert!(f("nan").is_nan());
        assert_eq!(f("Infinity"), f64::INFINITY);
        assert_eq!(f("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(f("+inf"), f64::INFINITY);
        assert_eq!(f("-INF"), f64::NEG_INFINITY);
        assert_eq!(f("1e-320"), 1e-320); // subnormal: accepted
        assert!(f("-0").is_sign_negative());
        assert_eq!(
            err("1e999", &ScalarType::Float64),
            e(
                "22003",
                "\"1e999\" is out of range for type double precision"
            )
        );
        assert_eq!(
            err(" -1e999x", &ScalarType::Float64),
            e(
                "22003",
                "\"-1e999\" is out of range for type double precision"
            )
        );
        assert_eq!(
            err("1e-400", &ScalarType::Float64),
            e(
                "22003",
                "\"1e-400\" is out of range for type double precision"
            )
        );
        assert_eq!(
            err("1e39", &ScalarType::Float32),
            e("22003", "\"1e39\" is out of range for type real")
        );
        for t in ["", " ", "abc", "1.5x", "1e", "--1", ".", "e5", "Infinityx"] {
            assert_eq!(
                err(t, &ScalarType::Float64),
                e(
                    "22P02",
                    &format!("invalid input syntax for type double precision: \"{t}\"")
                )
            );
        }
        assert_eq!(
            err("x", &ScalarType::Float32),
            e("22P02", "invalid input syntax for type real: \"x\"")
        );
        assert_eq!(parse("1e1", &ScalarType::Float32), Ok(Datum::f32(10.0)));
        // float4in quotes the whole input, float8in just the number.
        assert_eq!(
            err(" -1e999x", &ScalarType::Float32),
            e("22003", "\" -1e999x\" is out of range for type real")
        );
        // Hexadecimal, as C's strtod reads it.
        assert_eq!(f("0x1p3"), 8.0);
        assert_eq!(f("-0X1.8p1"), -3.0);
        assert_eq!(f("0x10"), 16.0);
        assert_eq!(
            err("0x", &ScalarType::Float64),
            e(
                "22P02",
                "invalid input syntax for type double precision: \"0x\""
            )
        );
    }

    #[test]
    fn numeric_input_and_output() {
        let n = num(None, None);
        assert_eq!(rt("1.50", &n), "1.50");
        assert_eq!(rt(" -1.50 ", &n), "-1.50");
        assert_eq!(rt("+3", &n), "3");
        assert_eq!(rt("1.5e3", &n), "1500");
        assert_eq!(rt("1.5E-3", &n), "0.0015");
        assert_eq!(rt("1e2", &n), "100");
        assert_eq!(rt(".5", &n), "0.5");
        assert_eq!(rt("5.", &n), "5");
        assert_eq!(rt("-0.000", &n), "0.000");
        assert_eq!(rt("0e10", &n), "0");
        assert_eq!(rt("000123.4500", &n), "123.4500");
        assert_eq!(
            rt("79228162514264337593543950335", &n),
            "79228162514264337593543950335"
        );
        assert_eq!(
            rt("0.0000000000000000000000000001", &n),
            "0.0000000000000000000000000001"
        );
        // Past the compact form: every digit kept, as PostgreSQL keeps it.
        assert_eq!(
            rt("0.00000000000000000000000000015", &n),
            "0.00000000000000000000000000015"
        );
        assert_eq!(
            rt("3.14159265358979323846264338327950288", &n),
            "3.14159265358979323846264338327950288"
        );
        assert_eq!(rt("1e-29", &n), "0.00000000000000000000000000001");
        assert_eq!(
            rt("1.500000000000000000000000000000000", &n),
            "1.500000000000000000000000000000000"
        );
        assert_eq!(
            rt("79228162514264337593543950336", &n),
            "79228162514264337593543950336"
        );
        assert_eq!(rt("-1e29", &n), "-100000000000000000000000000000");
        // Freshet's limits: 10^1000, and 1000 digits after the point; zeros
        // past those are dropped (the value is the same).
        let limit = format!("1{}", "0".repeat(1000));
        assert_eq!(rt("1e1000", &n), limit);
        assert_eq!(rt(&format!("{limit}.000"), &n), format!("{limit}.000"));
        assert_eq!(rt(&format!("-{limit}"), &n), format!("-{limit}"));
        for over in ["1e1001", "10000000000000000000000000000001e970"] {
            assert_eq!(err(over, &n), e("22003", "value overflows numeric format"));
        }
        assert_eq!(
            err(&format!("{limit}.1"), &n),
            e("22003", "value overflows numeric format")
        );
        let tiny = format!("0.{}1", "0".repeat(999));
        assert_eq!(rt(&tiny, &n), tiny);
        assert_eq!(rt("1e-1000", &n), tiny);
        assert_eq!(rt(&format!("{tiny}000"), &n), tiny);
        for under in ["1e-1001", "15e-1001"] {
            assert_eq!(err(under, &n), e("22003", "value overflows numeric format"));
        }
        assert_eq!(
            err("1e2000000000", &n),
            e("22003", "value overflows numeric format")
        );
        for t in ["abc", "", "1.2.3", "1e", "e1", ".", "- 1", "1 2", "0x10"] {
            assert_eq!(
                err(t, &n),
                e(
                    "22P02",
                    &format!("invalid input syntax for type numeric: \"{t}\"")
                )
            );
        }
        assert_eq!(rt("1e 2", &n), "100");
        for t in ["NaN", " nan ", "NAN"] {
            assert_eq!(parse(t, &n), Ok(Datum::NumericNaN), "{t:?}");
            assert_eq!(parse(t, &num(Some(5), Some(2))), Ok(Datum::NumericNaN));
        }
        assert_eq!(rt("nan", &n), "NaN");
        for t in ["+NaN", "-nan", "NaN1"] {
            assert_eq!(err(t, &n).0, "22P02", "{t:?}");
        }
        assert_eq!(err("-Infinity", &n).0, "0A000");
        assert_eq!(err("inf", &num(Some(5), Some(2))).0, "0A000");
    }

    #[test]
    fn numeric_typmod() {
        assert_eq!(rt("1.5", &num(Some(5), Some(2))), "1.50");
        assert_eq!(rt("1.005", &num(Some(5), Some(2))), "1.01");
        assert_eq!(rt("-1.005", &num(Some(5), Some(2))), "-1.01");
        assert_eq!(rt("2.5", &num(Some(5), Some(0))), "3");
        assert_eq!(rt("-2.5", &num(Some(5), None)), "-3");
        assert_eq!(rt("999.994", &num(Some(5), Some(2))), "999.99");
        assert_eq!(
            err("999.995", &num(Some(5), Some(2))),
            e("22003", "numeric field overflow")
        );
        assert_eq!(
            err("1000", &num(Some(5), Some(2))),
            e("22003", "numeric field overflow")
        );
        assert_eq!(rt("0.99", &num(Some(2), Some(2))), "0.99");
        assert_eq!(
            err("1", &num(Some(2), Some(2))),
            e("22003", "numeric field overflow")
        );
        assert_eq!(rt("0", &num(Some(2), Some(2))), "0.00");
        assert_eq!(rt("-0.001", &num(Some(3), Some(2))), "0.00");
        // Scale larger than precision (PostgreSQL 15): magnitude below 10^-1.
        assert_eq!(rt("0.012", &num(Some(2), Some(3))), "0.012");
        assert_eq!(
            err("0.1", &num(Some(2), Some(3))),
            e("22003", "numeric field overflow")
        );
        // Scales and precisions past the compact form: every digit.
        assert_eq!(
            rt("1", &num(Some(38), Some(30))),
            "1.000000000000000000000000000000"
        );
        assert_eq!(
            rt("12345", &num(Some(38), Some(30))),
            "12345.000000000000000000000000000000"
        );
        assert_eq!(
            rt(
                "1234567890123456789012345678901234567890.123456789012",
                &num(Some(50), Some(10))
            ),
            "1234567890123456789012345678901234567890.1234567890"
        );
        assert_eq!(
            err(
                "12345678901234567890123456789012345678901.5",
                &num(Some(50), Some(10))
            ),
            e("22003", "numeric field overflow")
        );
        // Rounding up to a 41st integer digit overflows, as in PostgreSQL.
        assert_eq!(
            err(
                "-9999999999999999999999999999999999999999.99999999995",
                &num(Some(50), Some(10))
            ),
            e("22003", "numeric field overflow")
        );
        // Too large for the type, even where too large for a Numeric too.
        assert_eq!(
            err("15E200470", &num(Some(5), Some(2))),
            e("22003", "numeric field overflow")
        );
        assert_eq!(
            err("1e40", &num(Some(10), None)),
            e("22003", "numeric field overflow")
        );
        // A numeric(38,2) value of 30 digits fits, as in PostgreSQL; one of
        // 37 integer digits does not.
        assert_eq!(
            rt("1234567890123456789012345678.12", &num(Some(38), Some(2))),
            "1234567890123456789012345678.12"
        );
        assert_eq!(
            err(
                "1234567890123456789012345678901234567.12",
                &num(Some(38), Some(2))
            )
            .0,
            "22003"
        );
        assert_eq!(
            rt("123456789012345678901234567.12", &num(Some(38), Some(2))),
            "123456789012345678901234567.12"
        );
        // The input is rounded once, straight to the scale.
        assert_eq!(
            rt("0.0049999999999999999999999999999", &num(Some(5), Some(2))),
            "0.00"
        );
    }

    #[test]
    fn interval_fields() {
        use super::super::types::IntervalFields as F;
        let typed = |text: &str, fields: F, precision: Option<u8>| {
            parse_interval_typed(text, Some(fields), precision).map(|iv| format_interval(&iv))
        };
        // A number without a unit is the last field (PostgreSQL 15).
        assert_eq!(typed("1 2", F::DayToHour, None).unwrap(), "1 day 02:00:00");
        assert_eq!(typed("5", F::DayToMinute, None).unwrap(), "00:05:00");
        assert_eq!(typed("7", F::YearToMonth, None).unwrap(), "7 mons");
        // `a:b` is minutes and seconds only in MINUTE TO SECOND.
        assert_eq!(typed("1:30", F::MinuteToSecond, None).unwrap(), "00:01:30");
        assert_eq!(typed("1:30", F::HourToMinute, None).unwrap(), "01:30:00");
        assert_eq!(
            typed("75:30", F::MinuteToSecond, None).map_err(|e| e.code),
            Err(INTERVAL_FIELD_OVERFLOW)
        );
        // Lower fields are dropped toward zero, then seconds are rounded.
        assert_eq!(typed("-1.5", F::Hour, None).unwrap(), "-01:00:00");
        assert_eq!(typed("1.7", F::Year, None).unwrap(), "1 year");
        assert_eq!(typed("2 days 3 hours", F::Month, None).unwrap(), "00:00:00");
        assert_eq!(
            typed("1 day 02:03:04.5678", F::DayToSecond, Some(2)).unwrap(),
            "1 day 02:03:04.57"
        );
        assert_eq!(typed("-1.5", F::Second, Some(0)).unwrap(), "-00:00:02");
        assert!(typed("1 2", F::HourToMinute, None).is_err());
    }

    #[test]
    fn string_typmods() {
        let vc = ScalarType::VarChar(Some(3));
        assert_eq!(rt("abc", &vc), "abc");
        assert_eq!(rt("ab", &vc), "ab");
        assert_eq!(rt("abc   ", &vc), "abc");
        assert_eq!(rt("héé", &vc), "héé");
        assert_eq!(
            err("abcd", &vc),
            e("22001", "value too long for type character varying(3)")
        );
        assert_eq!(
            rt("anything long", &ScalarType::VarChar(None)),
            "anything long"
        );
        let ch = ScalarType::Char(Some(4));
        assert_eq!(rt("ab", &ch), "ab  ");
        assert_eq!(rt("abcd  ", &ch), "abcd");
        assert_eq!(rt("", &ch), "    ");
        assert_eq!(
            err("abcde", &ch),
            e("22001", "value too long for type character(4)")
        );
        assert_eq!(rt("a", &ScalarType::Char(Some(1))), "a");
        assert_eq!(
            err("ab", &ScalarType::Char(Some(1))),
            e("22001", "value too long for type character(1)")
        );
        // `bpchar` without a length is unbounded and not padded.
        assert_eq!(rt("ab ", &ScalarType::Char(None)), "ab ");
        assert_eq!(rt(" x\n", &ScalarType::Text), " x\n");
        assert_eq!(
            err("a\0b", &ScalarType::Text),
            e("22021", "invalid byte sequence for encoding \"UTF8\": 0x00")
        );
        // apply_typmod on its own.
        assert_eq!(
            apply_typmod(Datum::String("xy".into()), &ScalarType::Char(Some(3))),
            Ok(Datum::String("xy ".into()))
        );
        assert_eq!(apply_typmod(Datum::Null, &vc), Ok(Datum::Null));
        assert_eq!(apply_typmod(Datum::Int32(5), &vc), Ok(Datum::Int32(5)));
    }

    /// PostgreSQL 15's answers for `'<text>'::<type>(p)`.
    #[test]
    fn datetime_typmods() {
        let time = |p| ScalarType::Time(Some(p));
        let ts = |p| ScalarType::Timestamp(Some(p));
        let tz = |p| ScalarType::TimestampTz(Some(p));
        let iv = |p| ScalarType::Interval {
            fields: None,
            precision: Some(p),
        };
        // Half away from zero; the end of the day is 24:00:00.
        assert_eq!(rt("12:00:00.56", &time(0)), "12:00:01");
        assert_eq!(rt("12:00:00.125", &time(2)), "12:00:00.13");
        assert_eq!(rt("12:00:00.124", &time(2)), "12:00:00.12");
        assert_eq!(rt("23:59:59.9", &time(0)), "24:00:00");
        assert_eq!(rt("23:59:59.999999", &time(5)), "24:00:00");
        assert_eq!(rt("01:02:03.456789", &time(6)), "01:02:03.456789");
        assert_eq!(
            rt("01:02:03.456789", &ScalarType::Time(None)),
            "01:02:03.456789"
        );
        // Timestamps roll over; before 2000 a half rounds to the earlier
        // time (away from PostgreSQL's epoch).
        assert_eq!(rt("2020-01-01 23:59:59.5", &ts(0)), "2020-01-02 00:00:00");
        assert_eq!(rt("2020-12-31 23:59:59.96", &ts(1)), "2021-01-01 00:00:00");
        assert_eq!(rt("1999-12-31 23:59:59.5", &ts(0)), "1999-12-31 23:59:59");
        assert_eq!(rt("1999-12-31 23:59:59.6", &ts(0)), "2000-01-01 00:00:00");
        assert_eq!(
            rt("1970-01-01 00:00:00.05", &tz(1)),
            "1970-01-01 00:00:00+00"
        );
        assert_eq!(
            rt("2020-01-01 12:00:00.123456+00", &tz(3)),
            "2020-01-01 12:00:00.123+00"
        );
        // Intervals round their time, in both directions.
        assert_eq!(rt("1 day 00:00:01.5", &iv(0)), "1 day 00:00:02");
        assert_eq!(rt("-1.5 seconds", &iv(0)), "-00:00:02");
        assert_eq!(rt("-00:00:00.5", &iv(0)), "-00:00:01");
        assert_eq!(
            rt("1 year 2 mons 3 days 04:05:06.789", &iv(2)),
            "1 year 2 mons 3 days 04:05:06.79"
        );
        // The rounding helper on its own, and its overflow.
        assert_eq!(round_fraction(-1_500_000, 0), Some(-2_000_000));
        assert_eq!(round_fraction(1_449_999, 1), Some(1_400_000));
        assert_eq!(round_fraction(i64::MAX, 0), None);
        assert_eq!(round_fraction(i64::MIN, 0), None);
        assert_eq!(
            apply_typmod(Datum::Timestamp(i64::MAX), &ts(0)).map_err(|e| e.code),
            Err(SqlState::DATETIME_FIELD_OVERFLOW)
        );
        assert_eq!(apply_typmod(Datum::Null, &ts(0)), Ok(Datum::Null));
    }

    #[test]
    fn bytea_formats() {
        let b = |t: &str| parse(t, &ScalarType::Bytea);
        assert_eq!(b("\\x0aff"), Ok(Datum::Bytes(vec![0x0a, 0xff])));
        assert_eq!(b("\\x0A FF"), Ok(Datum::Bytes(vec![0x0a, 0xff])));
        assert_eq!(b("\\x"), Ok(Datum::Bytes(vec![])));
        assert_eq!(b("abc\\000"), Ok(Datum::Bytes(b"abc\0".to_vec())));
        assert_eq!(b("a\\\\b"), Ok(Datum::Bytes(b"a\\b".to_vec())));
        assert_eq!(b("\\377\\001"), Ok(Datum::Bytes(vec![255, 1])));
        assert_eq!(b("é"), Ok(Datum::Bytes("é".as_bytes().to_vec())));
        assert_eq!(
            err("\\x0g", &ScalarType::Bytea),
            e("22023", "invalid hexadecimal digit: \"g\"")
        );
        assert_eq!(
            err("\\x0", &ScalarType::Bytea),
            e("22023", "invalid hexadecimal data: odd number of digits")
        );
        for t in ["\\", "a\\4", "\\400", "\\12", "\\X00"] {
            assert_eq!(
                err(t, &ScalarType::Bytea),
                e("22P02", "invalid input syntax for type bytea")
            );
        }
        assert_eq!(
            format(&Datum::Bytes(vec![0x0a, 0xff])).as_deref(),
            Some("\\x0aff")
        );
        assert_eq!(format(&Datum::Bytes(vec![])).as_deref(), Some("\\x"));
    }

    #[test]
    fn uuid_formats() {
        let want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for t in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
        ] {
            assert_eq!(rt(t, &ScalarType::Uuid), want, "{t}");
        }
        for t in [
            "",
            "x",
            " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
            "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
        ] {
            assert_eq!(
                err(t, &ScalarType::Uuid),
                e(
                    "22P02",
                    &format!("invalid input syntax for type uuid: \"{t}\"")
                )
            );
        }
    }

    #[test]
    fn calendar_matches_chrono() {
        use chrono::{Datelike, NaiveDate};
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut day = -800_000i64;
        while day < 800_000 {
            let date = epoch + chrono::Duration::days(day);
            let (y, m, d) = civil_from_days(day);
            assert_eq!(
                (y, m, d),
                (i64::from(date.year()), date.month(), date.day())
            );
            assert_eq!(days_from_civil(y, m, d), day);
            day += 37;
        }
        assert_eq!(days_from_civil(-4713, 11, 24), DATE_MIN_DAYS);
        assert_eq!(days_from_civil(5_874_897, 12, 31), DATE_MAX_DAYS);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
    }

    #[test]
    fn date_input_and_output() {
        let d = ScalarType::Date;
        assert_eq!(parse("1970-01-01", &d), Ok(Datum::Date(0)));
        assert_eq!(parse("2000-01-01", &d), Ok(Datum::Date(10_957)));
        assert_eq!(rt(" 2024-02-29 ", &d), "2024-02-29");
        assert_eq!(rt("2024-1-5", &d), "2024-01-05");
        assert_eq!(rt("20240115", &d), "2024-01-15");
        assert_eq!(rt("01/15/2024", &d), "2024-01-15");
        assert_eq!(rt("1-15-24", &d), "2024-01-15");
        assert_eq!(rt("12-31-99", &d), "1999-12-31");
        assert_eq!(rt("2024-01-15 13:45:00", &d), "2024-01-15");
        assert_eq!(rt("2024-01-15T13:45:00Z", &d), "2024-01-15");
        assert_eq!(rt("0044-03-15 BC", &d), "0044-03-15 BC");
        assert_eq!(rt("0001-01-01 BC", &d), "0001-01-01 BC");
        assert_eq!(rt("0001-01-01", &d), "0001-01-01");
        assert_eq!(rt("epoch", &d), "1970-01-01");
        assert_eq!(rt("10000-01-01", &d), "10000-01-01");
        assert_eq!(rt("4714-11-24 BC", &d), "4714-11-24 BC");
        assert_eq!(rt("5874897-12-31", &d), "5874897-12-31");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(
            err("2024-02-30", &d),
            e(
                "22008",
                "date/time field value out of range: \"2024-02-30\""
            )
        );
        assert_eq!(
            err("2023-02-29", &d),
            e(
                "22008",
                "date/time field value out of range: \"2023-02-29\""
            )
        );
        assert_eq!(
            err("2024-13-01", &d),
            e(
                "22008",
                "date/time field value out of range: \"2024-13-01\""
            )
        );
        assert_eq!(
            err("0000-01-01", &d),
            e(
                "22008",
                "date/time field value out of range: \"0000-01-01\""
            )
        );
        assert_eq!(
            err("2024-01-15 25:00", &d),
            e(
                "22008",
                "date/time field value out of range: \"2024-01-15 25:00\""
            )
        );
        assert_eq!(
            err("4714-11-23 BC", &d),
            e("22008", "date out of range: \"4714-11-23 BC\"")
        );
        assert_eq!(
            err("5874898-01-01", &d),
            e("22008", "date out of range: \"5874898-01-01\"")
        );
        for t in [
            "x",
            "",
            "2024",
            "2024-01",
            "12:00",
            "2024-01-15 foo",
            "2024-01-15 BC AD",
            "jan 15",
        ] {
            assert_eq!(
                err(t, &d),
                e(
                    "22007",
                    &format!("invalid input syntax for type date: \"{t}\"")
                )
            );
        }
        assert_eq!(err("infinity", &d).0, "0A000");
        assert_eq!(err("today", &d).0, "0A000");
        // Separator runs, yymmdd, and zones (ignored for a date).
        assert_eq!(rt("2024--01-15", &d), "2024-01-15");
        assert_eq!(rt("240115", &d), "2024-01-15");
        // Month names, PostgreSQL's field order, day of year, Julian day.
        assert_eq!(rt("jan 15 2024", &d), "2024-01-15");
        assert_eq!(rt("15 January 2024", &d), "2024-01-15");
        assert_eq!(rt("2024.015", &d), "2024-01-15");
        assert_eq!(rt("J2460325", &d), "2024-01-15");
        assert_eq!(rt("24-Jan-15", &d), "2015-01-24");
        assert_eq!(err("99-Jan-08", &d).0, "22008");
        assert_eq!(rt("2024-01-15 12:00 America/New_York", &d), "2024-01-15");
        assert_eq!(rt("2024-01-15 12:00 PST", &d), "2024-01-15");
    }

    #[test]
    fn time_input_and_output() {
        let t = ScalarType::Time(None);
        assert_eq!(parse("00:00", &t), Ok(Datum::Time(0)));
        assert_eq!(rt("04:05", &t), "04:05:00");
        assert_eq!(rt("04:05:06", &t), "04:05:06");
        assert_eq!(rt("04:05:06.789", &t), "04:05:06.789");
        assert_eq!(rt("04:05:06.000001", &t), "04:05:06.000001");
        assert_eq!(rt("04:05:06.100000", &t), "04:05:06.1");
        assert_eq!(rt("04:05:06.1234567", &t), "04:05:06.123457");
        assert_eq!(rt("23:59:59.9999999", &t), "24:00:00");
        assert_eq!(rt("24:00:00", &t), "24:00:00");
        assert_eq!(rt("23:59:60", &t), "24:00:00");
        assert_eq!(rt("12:30.5", &t), "00:12:30.5");
        assert_eq!(rt("1:02 pm", &t), "13:02:00");
        assert_eq!(rt("12:00 am", &t), "00:00:00");
        assert_eq!(rt("2024-01-15 04:05:06", &t), "04:05:06");
        assert_eq!(rt("04:05:06+02", &t), "04:05:06");
        assert_eq!(rt("allballs", &t), "00:00:00");
        assert_eq!(
            err("24:00:01", &t),
            e("22008", "date/time field value out of range: \"24:00:01\"")
        );
        assert_eq!(
            err("12:60", &t),
            e("22008", "date/time field value out of range: \"12:60\"")
        );
        assert_eq!(
            err("13:00 pm", &t),
            e("22008", "date/time field value out of range: \"13:00 pm\"")
        );
        assert_eq!(rt("12:00:00.", &t), "12:00:00");
        assert_eq!(rt("102030", &t), "10:20:30");
        assert_eq!(rt("04:05:06 PST", &t), "04:05:06");
        assert_eq!(
            err("2728", &t),
            e("22008", "date/time field value out of range: \"2728\"")
        );
        assert_eq!(
            err("-46", &t),
            e("22009", "time zone displacement out of range: \"-46\"")
        );
        for s in [
            "x",
            "",
            "12",
            "12:00:00x",
            "2024-01-15",
            "04:05:06 America/New_York",
        ] {
            assert_eq!(
                err(s, &t),
                e(
                    "22007",
                    &format!("invalid input syntax for type time: \"{s}\"")
                )
            );
        }
    }

    #[test]
    fn timestamp_input_and_output() {
        let ts = ScalarType::Timestamp(None);
        assert_eq!(parse("1970-01-01 00:00:00", &ts), Ok(Datum::Timestamp(0)));
        assert_eq!(
            parse("1970-01-01 00:00:01.5", &ts),
            Ok(Datum::Timestamp(1_500_000))
        );
        assert_eq!(rt("2024-01-15 10:30:00", &ts), "2024-01-15 10:30:00");
        assert_eq!(rt("2024-01-15T10:30", &ts), "2024-01-15 10:30:00");
        assert_eq!(rt("2024-01-15", &ts), "2024-01-15 00:00:00");
        assert_eq!(
            rt("2024-01-15 10:30:00.123400", &ts),
            "2024-01-15 10:30:00.1234"
        );
        assert_eq!(rt("2024-01-15 24:00", &ts), "2024-01-16 00:00:00");
        assert_eq!(
            rt("2024-12-31 23:59:59.9999999", &ts),
            "2025-01-01 00:00:00"
        );
        assert_eq!(rt("2024-01-15 10:30:00+05", &ts), "2024-01-15 10:30:00");
        assert_eq!(rt("2024-01-15 10:30:00 BC", &ts), "2024-01-15 10:30:00 BC");
        assert_eq!(
            rt("1969-12-31 23:59:59.999999", &ts),
            "1969-12-31 23:59:59.999999"
        );
        assert_eq!(rt("epoch", &ts), "1970-01-01 00:00:00");
        assert_eq!(rt("4714-11-24 00:00:00 BC", &ts), "4714-11-24 00:00:00 BC");
        assert_eq!(format_timestamp(i64::MAX), "294247-01-10 04:00:54.775807");
        assert_eq!(format_timestamp(-1), "1969-12-31 23:59:59.999999");
        assert_eq!(
            err("4714-11-23 23:59:59 BC", &ts),
            e(
                "22008",
                "timestamp out of range: \"4714-11-23 23:59:59 BC\""
            )
        );
        assert_eq!(
            err("294248-01-01", &ts),
            e("22008", "timestamp out of range: \"294248-01-01\"")
        );
        assert_eq!(
            err("2024-01-15 10:61", &ts),
            e(
                "22008",
                "date/time field value out of range: \"2024-01-15 10:61\""
            )
        );
        assert_eq!(
            err("2024-01-15 10:30 xyz", &ts),
            e(
                "22007",
                "invalid input syntax for type timestamp: \"2024-01-15 10:30 xyz\""
            )
        );
        assert_eq!(
            err("2024-01-15T", &ts),
            e(
                "22007",
                "invalid input syntax for type timestamp: \"2024-01-15T\""
            )
        );
        assert_eq!(err("infinity", &ts).0, "0A000");
        assert_eq!(rt("20240115 103000", &ts), "2024-01-15 10:30:00");
        assert_eq!(rt("2024-01-15 102030.5", &ts), "2024-01-15 10:20:30.5");
        assert_eq!(rt("2024-01-15 10:30:00.", &ts), "2024-01-15 10:30:00");
        // Zones are ignored by timestamp input, as in PostgreSQL.
        assert_eq!(
            rt("2024-01-15 10:30:00 Europe/Paris", &ts),
            "2024-01-15 10:30:00"
        );
        assert_eq!(rt("2024-01-15 10:30:00 PST", &ts), "2024-01-15 10:30:00");
    }

    #[test]
    fn timestamptz_input_and_output() {
        let tz = ScalarType::TimestampTz(None);
        assert_eq!(rt("2024-01-15 10:30:00", &tz), "2024-01-15 10:30:00+00");
        assert_eq!(rt("2024-01-15 10:30:00Z", &tz), "2024-01-15 10:30:00+00");
        assert_eq!(rt("2024-01-15T10:30:00z", &tz), "2024-01-15 10:30:00+00");
        assert_eq!(rt("2024-01-15 10:30:00 UTC", &tz), "2024-01-15 10:30:00+00");
        assert_eq!(rt("2024-01-15 10:30:00+02", &tz), "2024-01-15 08:30:00+00");
        assert_eq!(
            rt("2024-01-15 10:30:00 +02:00", &tz),
            "2024-01-15 08:30:00+00"
        );
        assert_eq!(
            rt("2024-01-15 10:30:00-0530", &tz),
            "2024-01-15 16:00:00+00"
        );
        assert_eq!(
            rt("2024-01-15 10:30:00-05:30:15", &tz),
            "2024-01-15 16:00:15+00"
        );
        assert_eq!(rt("2024-01-15 00:30:00+01", &tz), "2024-01-14 23:30:00+00");
        assert_eq!(
            rt("2024-01-15 10:30:00.5+00", &tz),
            "2024-01-15 10:30:00.5+00"
        );
        assert_eq!(rt("0044-03-15 12:00 BC", &tz), "0044-03-15 12:00:00+00 BC");
        assert_eq!(rt("2024-01-15", &tz), "2024-01-15 00:00:00+00");
        assert_eq!(
            err("2024-01-15 10:30:00+16", &tz),
            e(
                "22009",
                "time zone displacement out of range: \"2024-01-15 10:30:00+16\""
            )
        );
        assert_eq!(
            err("2024-01-15 10:30:00 utc utc", &tz),
            e(
                "22007",
                "invalid input syntax for type timestamp with time zone: \"2024-01-15 10:30:00 utc utc\""
            )
        );
        // Fixed-offset abbreviations of PostgreSQL's Default set.
        assert_eq!(rt("2024-01-15 10:30:00 PST", &tz), "2024-01-15 18:30:00+00");
        assert_eq!(
            rt("2024-01-15 10:30:00 cest", &tz),
            "2024-01-15 08:30:00+00"
        );
        assert_eq!(rt("2024-01-15 10:30:00 GMT", &tz), "2024-01-15 10:30:00+00");
        // Zones whose offset depends on the date (PostgreSQL 15's answers).
        assert_eq!(
            rt("2024-01-01 00:00:00 Europe/Berlin", &tz),
            "2023-12-31 23:00:00+00"
        );
        assert_eq!(
            rt("2024-07-01 00:00:00 europe/berlin", &tz),
            "2024-06-30 22:00:00+00"
        );
        // A local time skipped by the change to summer time.
        assert_eq!(
            rt("2024-03-31 02:30:00 Europe/Berlin", &tz),
            "2024-03-31 01:30:00+00"
        );
        assert_eq!(rt("2024-01-01 00:00:00 MSK", &tz), "2023-12-31 21:00:00+00");
        assert_eq!(
            err("2024-01-01 00:00:00 Foo/Bar", &tz),
            (
                "22023".into(),
                "time zone \"foo/bar\" not recognized".into()
            )
        );
    }

    fn iv(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    fn parse_iv(t: &str) -> Interval {
        match parse_interval(t) {
            Ok(v) => v,
            Err(e) => panic!("{t:?}: {e}"),
        }
    }

    /// Exact (field by field) interval comparison.
    fn same(a: Interval, b: Interval) -> bool {
        (a.months, a.days, a.micros) == (b.months, b.days, b.micros)
    }

    #[test]
    fn interval_output_matches_postgres() {
        let h = 3_600_000_000i64;
        let cases: &[(Interval, &str)] = &[
            (iv(0, 0, 0), "00:00:00"),
            (
                iv(14, 3, 4 * h + 5 * 60_000_000 + 6_789_000),
                "1 year 2 mons 3 days 04:05:06.789",
            ),
            (iv(0, -1, 2 * h + 3 * 60_000_000), "-1 days +02:03:00"),
            (iv(0, 1, 0), "1 day"),
            (iv(2, 0, 0), "2 mons"),
            (iv(1, 0, 0), "1 mon"),
            (iv(12, 0, 0), "1 year"),
            (iv(24, 0, 0), "2 years"),
            (iv(-14, 0, 0), "-1 years -2 mons"),
            (iv(-12, 5, 0), "-1 years +5 days"),
            (iv(5, -3, 0), "5 mons -3 days"),
            (iv(0, 1, -2 * h), "1 day -02:00:00"),
            (iv(0, 0, -1_500_000), "-00:00:01.5"),
            (iv(0, 0, 36 * h), "36:00:00"),
            (iv(0, 0, 1), "00:00:00.000001"),
            (iv(0, 0, i64::MIN), "-2562047788:00:54.775808"),
            (
                iv(i32::MIN, i32::MIN, 0),
                "-178956970 years -8 mons -2147483648 days",
            ),
            (iv(-1, 1, 1), "-1 mons +1 day 00:00:00.000001"),
            (iv(0, -1, -1), "-1 days -00:00:00.000001"),
            (iv(0, -1, 1), "-1 days +00:00:00.000001"),
        ];
        for (v, want) in cases {
            assert_eq!(format_interval(v), *want);
        }
    }

    #[test]
    fn interval_input() {
        let h = 3_600_000_000i64;
        let m = 60_000_000i64;
        let s = 1_000_000i64;
        let cases: &[(&str, Interval)] = &[
            ("1 day 2 hours", iv(0, 1, 2 * h)),
            ("3 mins", iv(0, 0, 3 * m)),
            ("1 year 2 months", iv(14, 0, 0)),
            ("2 weeks", iv(0, 14, 0)),
            ("-1 day", iv(0, -1, 0)),
            ("@ 1 minute ago", iv(0, 0, -m)),
            ("1 day 2 hours ago", iv(0, -1, -2 * h)),
            ("04:05:06", iv(0, 0, 4 * h + 5 * m + 6 * s)),
            ("1 day 02:00:00", iv(0, 1, 2 * h)),
            ("1 2:03", iv(0, 1, 2 * h + 3 * m)),
            ("P1Y2M3DT4H5M6S", iv(14, 3, 4 * h + 5 * m + 6 * s)),
            ("PT1.5S", iv(0, 0, 1_500_000)),
            ("P1W", iv(0, 7, 0)),
            ("P-1D", iv(0, -1, 0)),
            ("P0.5Y", iv(6, 0, 0)),
            ("1.5 days", iv(0, 1, 12 * h)),
            ("1.5 months", iv(1, 15, 0)),
            ("1.5 years", iv(18, 0, 0)),
            ("1.5 weeks", iv(0, 10, 12 * h)),
            ("-1.5 days", iv(0, -1, -12 * h)),
            ("1.5 hours", iv(0, 0, 90 * m)),
            ("5", iv(0, 0, 5 * s)),
            ("-1", iv(0, 0, -s)),
            ("+1.5", iv(0, 0, 1_500_000)),
            ("1-2", iv(14, 0, 0)),
            ("-1-2", iv(-14, 0, 0)),
            ("1 decade", iv(120, 0, 0)),
            ("2 centuries", iv(2400, 0, 0)),
            ("1 millennium", iv(12000, 0, 0)),
            ("10 milliseconds", iv(0, 0, 10_000)),
            ("7 microseconds", iv(0, 0, 7)),
            ("1 sec 500 ms", iv(0, 0, 1_500_000)),
            ("1y 2mon 3d 4h 5m 6s", iv(14, 3, 4 * h + 5 * m + 6 * s)),
            ("1day", iv(0, 1, 0)),
            ("  1   DAY  ", iv(0, 1, 0)),
            ("-1 days +02:03:00", iv(0, -1, 2 * h + 3 * m)),
            (
                "1 year 2 mons 3 days 04:05:06.789",
                iv(14, 3, 4 * h + 5 * m + 6_789_000),
            ),
            ("-00:00:01.5", iv(0, 0, -1_500_000)),
            ("01:30.5", iv(0, 0, m + 30 * s + 500_000)),
            ("0.000001 sec", iv(0, 0, 1)),
            ("0.0000005 sec", iv(0, 0, 0)),
            ("0.0000006 sec", iv(0, 0, 1)),
            ("-178956970 years -8 mons", iv(i32::MIN, 0, 0)),
            ("-2562047788:00:54.775808", iv(0, 0, i64::MIN)),
            // "ago" anywhere, even twice, negates everything (PostgreSQL 15).
            ("ago 1 day", iv(0, -1, 0)),
            ("1 day ago ago", iv(0, -1, 0)),
            ("1 hour ago 1 day", iv(0, -1, -h)),
            ("1d2h", iv(0, 1, 2 * h)),
            ("1. day", iv(0, 1, 0)),
        ];
        for (t, want) in cases {
            let got = parse_iv(t);
            assert!(same(got, *want), "{t:?}: got {got:?}, want {want:?}");
        }
        for t in [
            "",
            "x",
            "1 day 2 days",
            "1 fortnight",
            "ago",
            "day4",
            "4days7",
            "1day2hours",
            "P",
            "P1",
            "PT1D",
            "P1H",
            "1:00 2:00",
            "1 hour 02:00",
            "1 day x",
            "P1Y2M3DT4H5M6",
        ] {
            assert_eq!(
                err(t, &ScalarType::INTERVAL),
                e(
                    "22007",
                    &format!("invalid input syntax for type interval: \"{t}\"")
                ),
                "{t:?}"
            );
        }
        assert_eq!(
            err("2147483648 days", &ScalarType::INTERVAL),
            e(
                "22015",
                "interval field value out of range: \"2147483648 days\""
            )
        );
        assert_eq!(
            err("12:60:00", &ScalarType::INTERVAL),
            e("22015", "interval field value out of range: \"12:60:00\"")
        );
        assert_eq!(
            err("178956971 years", &ScalarType::INTERVAL),
            e("22008", "interval out of range")
        );
    }

    #[test]
    fn jsonb_canonical_text() {
        let cases: &[(&str, &str)] = &[
            ("{\"b\": 1, \"a\": 2}", "{\"a\": 2, \"b\": 1}"),
            (
                "{\"aa\":1,\"b\":2,\"a\":3}",
                "{\"a\": 3, \"b\": 2, \"aa\": 1}",
            ),
            ("{\"a\":1,\"a\":2}", "{\"a\": 2}"),
            ("[1,2,3]", "[1, 2, 3]"),
            ("[]", "[]"),
            ("{}", "{}"),
            (" [ ] ", "[]"),
            ("1.0", "1.0"),
            ("1e2", "100"),
            ("1E+2", "100"),
            ("1.5e1", "15"),
            ("1.50e1", "15.0"),
            ("12e-1", "1.2"),
            ("1e-2", "0.01"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("0.0e5", "0"),
            (
                "123456789012345678901234567890.123456789",
                "123456789012345678901234567890.123456789",
            ),
            ("true", "true"),
            (" null ", "null"),
            (
                "\"a\\u00e9\\n\\\"\\/\\\\\\t\\b\\f\\r\\u0001\"",
                "\"aé\\n\\\"/\\\\\\t\\b\\f\\r\\u0001\"",
            ),
            ("\"\\ud83d\\ude00\"", "\"😀\""),
            ("\"😀\"", "\"😀\""),
            (
                "{\"x\": {\"b\": [true, false, null], \"a\": {}}}",
                "{\"x\": {\"a\": {}, \"b\": [true, false, null]}}",
            ),
            ("{\"é\":1,\"z\":2}", "{\"z\": 2, \"é\": 1}"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_jsonb(input).as_deref(), Ok(*want), "{input}");
            // Canonical text is a fixed point.
            assert_eq!(canonical_jsonb(want).as_deref(), Ok(*want), "{want}");
        }
        for bad in [
            "",
            "x",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "tru",
            "truex",
            "nul",
            "[1 2]",
            "{1:2}",
            "'a'",
            "\"a\nb\"",
            "\"\\x\"",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"abc",
            "1 2",
            "[1]]",
            "NaN",
            "-",
        ] {
            assert_eq!(
                canonical_jsonb(bad).map_err(|e| (e.code.as_str().to_owned(), e.message)),
                Err(e("22P02", "invalid input syntax for type json")),
                "{bad:?}"
            );
        }
        assert_eq!(
            canonical_jsonb("\"\\u0000\"").map_err(|e| e.code.as_str().to_owned()),
            Err("22P05".into())
        );
        assert_eq!(
            canonical_jsonb("1e999999999999").map_err(|e| e.code.as_str().to_owned()),
            Err("22003".into())
        );
        let deep = "[".repeat(10_001) + &"]".repeat(10_001);
        assert_eq!(
            canonical_jsonb(&deep).map_err(|e| e.code.as_str().to_owned()),
            Err("54001".into())
        );
        let ok_deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(canonical_jsonb(&ok_deep).is_ok_and(|s| s == ok_deep));
        let ok_deep = "{\"a\": ".repeat(9_999) + "[]" + &"}".repeat(9_999);
        assert!(canonical_jsonb(&ok_deep).is_ok_and(|s| s == ok_deep));
        assert_eq!(
            parse("{\"b\":1,\"a\":[1.50]}", &ScalarType::Jsonb),
            Ok(Datum::Jsonb("{\"a\": [1.50], \"b\": 1}".into()))
        );
    }

    /// A small deterministic pseudo-random generator (SplitMix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
            (i128::from(lo) + (u128::from(self.next()) % span) as i128) as i64
        }
    }

    /// A value of `typ` survives printing and parsing, field for field.
    fn assert_text_round_trip(d: &Datum, typ: &ScalarType) {
        let text = format(d).unwrap_or_default();
        let back = parse(&text, typ).unwrap_or_else(|e| panic!("{d:?} -> {text:?}: {e}"));
        assert_eq!(format(&back).as_deref(), Some(text.as_str()), "{d:?}");
        match (d, &back) {
            (Datum::Float64(a), Datum::Float64(b)) => assert!(
                a.0.to_bits() == b.0.to_bits() || (a.0.is_nan() && b.0.is_nan()),
                "{text}"
            ),
            (Datum::Float32(a), Datum::Float32(b)) => assert!(
                a.0.to_bits() == b.0.to_bits() || (a.0.is_nan() && b.0.is_nan()),
                "{text}"
            ),
            (Datum::Interval(a), Datum::Interval(b)) => assert!(same(*a, *b), "{text}"),
            (Datum::Numeric(a), Datum::Numeric(b)) => {
                assert_eq!(a.to_big_parts(), b.to_big_parts(), "{text}")
            }
            _ => assert_eq!(d, &back, "{text}"),
        }
    }

    #[test]
    fn random_values_round_trip_through_text() {
        let mut rng = Rng(0x5EED);
        for _ in 0..3000 {
            let bits = rng.next();
            assert_text_round_trip(&Datum::Int64(bits as i64), &ScalarType::Int64);
            assert_text_round_trip(&Datum::Int32(bits as i32), &ScalarType::Int32);
            assert_text_round_trip(&Datum::Int16(bits as i16), &ScalarType::Int16);
            assert_text_round_trip(&Datum::f64(f64::from_bits(bits)), &ScalarType::Float64);
            assert_text_round_trip(
                &Datum::f32(f32::from_bits(bits as u32)),
                &ScalarType::Float32,
            );
            // Human-sized floats too (exercises the fixed-notation layout).
            let human =
                (rng.range(-1_000_000, 1_000_000) as f64) / 10f64.powi(rng.range(0, 12) as i32);
            assert_text_round_trip(&Datum::f64(human), &ScalarType::Float64);
            let mantissa = (rng.next() as i128) << 32 | rng.next() as i128;
            let mantissa = mantissa % (Numeric::MAX_MANTISSA as i128 + 1);
            let mantissa = mantissa >> rng.range(0, 90);
            let mantissa = if rng.next().is_multiple_of(2) {
                mantissa
            } else {
                -mantissa
            };
            let scale = rng.range(0, 28) as u32;
            let dec = Numeric::try_from_i128_with_scale(mantissa, scale).expect("in range");
            assert_text_round_trip(&Datum::Numeric(dec.clone()), &num(None, None));
            // Wide values too: the mantissa times a power of ten, at a
            // scale beyond the compact form's.
            let (m, _) = dec.to_big_parts();
            let wide = m * num_bigint::BigInt::from(10u32).pow(rng.range(0, 60) as u32);
            if let Some(wide) = Numeric::from_big_parts(wide, rng.range(0, 80) as u32) {
                assert_text_round_trip(&Datum::Numeric(wide), &num(None, None));
            }
            let ts = rng.range(TIMESTAMP_MIN_MICROS, i64::MAX);
            assert_text_round_trip(&Datum::Timestamp(ts), &ScalarType::Timestamp(None));
            assert_text_round_trip(&Datum::TimestampTz(ts), &ScalarType::TimestampTz(None));
            let ts = rng.range(-4_000_000_000_000_000, 4_000_000_000_000_000);
            assert_text_round_trip(&Datum::TimestampTz(ts), &ScalarType::TimestampTz(None));
            let day = rng.range(DATE_MIN_DAYS, DATE_MAX_DAYS) as i32;
            assert_text_round_trip(&Datum::Date(day), &ScalarType::Date);
            assert_text_round_trip(
                &Datum::Time(rng.range(0, MICROS_PER_DAY)),
                &ScalarType::Time(None),
            );
            let interval = Interval {
                months: rng.next() as i32 >> rng.range(0, 31),
                days: rng.next() as i32 >> rng.range(0, 31),
                micros: rng.next() as i64 >> rng.range(0, 63),
            };
            assert_text_round_trip(&Datum::Interval(interval), &ScalarType::INTERVAL);
            let bytes: Vec<u8> = (0..rng.range(0, 8)).map(|_| rng.next() as u8).collect();
            assert_text_round_trip(&Datum::Bytes(bytes), &ScalarType::Bytea);
            let u = uuid::Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            assert_text_round_trip(&Datum::Uuid(u), &ScalarType::Uuid);
        }
        for v in [i64::MIN, i64::MAX, 0, -1] {
            assert_text_round_trip(&Datum::Int64(v), &ScalarType::Int64);
            assert_text_round_trip(
                &Datum::Timestamp(v.max(TIMESTAMP_MIN_MICROS)),
                &ScalarType::Timestamp(None),
            );
            let i = Interval {
                months: v as i32,
                days: v as i32,
                micros: v,
            };
            assert_text_round_trip(&Datum::Interval(i), &ScalarType::INTERVAL);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(42);
        let alphabet = b"0123456789-+:.eE TtZzPYMWDHSabcdxy@/\\{}[]\",\x00\xc3\xa9";
        let types = [
            ScalarType::Bool,
            ScalarType::Int16,
            ScalarType::Int32,
            ScalarType::Int64,
            ScalarType::Float32,
            ScalarType::Float64,
            num(Some(5), Some(2)),
            num(None, None),
            ScalarType::Text,
            ScalarType::VarChar(Some(2)),
            ScalarType::Char(Some(2)),
            ScalarType::Bytea,
            ScalarType::Date,
            ScalarType::Time(None),
            ScalarType::Timestamp(None),
            ScalarType::TimestampTz(None),
            ScalarType::INTERVAL,
            ScalarType::Jsonb,
            ScalarType::Uuid,
        ];
        for _ in 0..20_000 {
            let len = rng.range(0, 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.range(0, alphabet.len() as i64 - 1) as usize])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            for typ in &types {
                let _ = parse(&text, typ);
            }
        }
    }
}
