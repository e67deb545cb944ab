//! PostgreSQL's binary formats, byte for byte as its `*send` and `*recv`
//! functions: [`encode_binary`] for result columns in binary format,
//! [`decode_binary`] for parameters bound in binary format.
//!
//! Dates count days and timestamps microseconds from 2000-01-01 on the
//! wire, from 1970-01-01 in a [`Datum`]; the conversion happens here.
//! Errors follow PostgreSQL: too few bytes is `08P01 insufficient data left
//! in message`, bytes left over `22P03 incorrect binary data format` (the
//! server may add " in bind parameter N", as PostgreSQL does), and values
//! out of range for their type the type's own error. Infinite dates and
//! timestamps and numeric `Infinity`, which Freshet cannot represent, are
//! `0A000`; numeric `NaN` is the sign word `0xC000` with no digits.

use crate::repr::Numeric;

use crate::repr::strconv::{
    self, DATE_MAX_DAYS, DATE_MIN_DAYS, MICROS_PER_DAY, TIMESTAMP_MIN_MICROS,
};
use crate::repr::{Datum, Interval, OrdF32, OrdF64, ParseError, ScalarType, SqlState};

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `numeric` sign words.
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// The largest `dscale` PostgreSQL's format carries.
const NUMERIC_DSCALE_MASK: u16 = 0x3FFF;

/// Appends `datum`'s binary form to `out` (PostgreSQL's `*send`). A `NULL`
/// has no binary form and appends nothing (the protocol sends length -1).
pub fn encode_binary(datum: &Datum, out: &mut Vec<u8>) {
    match datum {
        Datum::Null => {}
        Datum::Bool(b) => out.push(u8::from(*b)),
        Datum::Int16(v) => out.extend_from_slice(&v.to_be_bytes()),
        Datum::Int32(v) => out.extend_from_slice(&v.to_be_bytes()),
        Datum::Int64(v) => out.extend_from_slice(&v.to_be_bytes()),
        Datum::Float32(v) => out.extend_from_slice(&v.0.to_bits().to_be_bytes()),
        Datum::Float64(v) => out.extend_from_slice(&v.0.to_bits().to_be_bytes()),
        Datum::Numeric(d) => encode_numeric(d, out),
        // PostgreSQL's `numeric_send` of `NaN`: no digits, weight 0, the
        // `NaN` sign word, scale 0.
        Datum::NumericNaN => {
            for word in [0, 0, NUMERIC_NAN, 0] {
                out.extend_from_slice(&word.to_be_bytes());
            }
        }
        Datum::String(s) => out.extend_from_slice(s.as_bytes()),
        Datum::Bytes(b) => out.extend_from_slice(b),
        Datum::Date(d) => out.extend_from_slice(&d.saturating_sub(PG_EPOCH_DAYS).to_be_bytes()),
        Datum::Time(t) => out.extend_from_slice(&t.to_be_bytes()),
        Datum::Timestamp(t) | Datum::TimestampTz(t) => {
            out.extend_from_slice(&t.saturating_sub(PG_EPOCH_MICROS).to_be_bytes())
        }
        Datum::Interval(iv) => {
            out.extend_from_slice(&iv.micros.to_be_bytes());
            out.extend_from_slice(&iv.days.to_be_bytes());
            out.extend_from_slice(&iv.months.to_be_bytes());
        }
        Datum::Jsonb(s) => {
            out.push(1);
            out.extend_from_slice(s.as_bytes());
        }
        Datum::Uuid(u) => out.extend_from_slice(u.as_bytes()),
        // PostgreSQL's `json_send`: the text as it is.
        Datum::Json(s) => out.extend_from_slice(s.as_bytes()),
        Datum::Array(elements) => {
            // Without the column's type, the element type is the first
            // non-null element's (text where there is none).
            let elem_oid = elements
                .iter()
                .find(|e| !e.is_null())
                .and_then(datum_oid)
                .unwrap_or(25);
            encode_array(elements, elem_oid, out)
        }
    }
}

/// Appends `datum`'s binary form as a value of `typ`: as [`encode_binary`],
/// except that an array carries `typ`'s element type (which an empty array,
/// or one of NULLs, cannot tell), and a `regtype` is an OID.
pub fn encode_binary_as(datum: &Datum, typ: Option<&ScalarType>, out: &mut Vec<u8>) {
    match (datum, typ) {
        (Datum::Array(elements), Some(ScalarType::Array(elem))) => {
            encode_array(elements, elem.oid(), out)
        }
        // A `regtype` is an OID: unsigned, four bytes.
        (Datum::Int64(oid), Some(ScalarType::RegType)) => {
            out.extend_from_slice(&(*oid as u32).to_be_bytes())
        }
        _ => encode_binary(datum, out),
    }
}

/// The type OID of a non-array value, as far as the value tells it.
fn datum_oid(d: &Datum) -> Option<u32> {
    Some(match d {
        Datum::Null | Datum::Array(_) => return None,
        Datum::Bool(_) => 16,
        Datum::Int16(_) => 21,
        Datum::Int32(_) => 23,
        Datum::Int64(_) => 20,
        Datum::Float32(_) => 700,
        Datum::Float64(_) => 701,
        Datum::Numeric(_) | Datum::NumericNaN => 1700,
        Datum::String(_) => 25,
        Datum::Bytes(_) => 17,
        Datum::Date(_) => 1082,
        Datum::Time(_) => 1083,
        Datum::Timestamp(_) => 1114,
        Datum::TimestampTz(_) => 1184,
        Datum::Interval(_) => 1186,
        Datum::Jsonb(_) => 3802,
        Datum::Uuid(_) => 2950,
        Datum::Json(_) => 114,
    })
}

/// PostgreSQL's `array_send` for a one-dimensional array with lower bound
/// 1: the number of dimensions (0 for an empty array), a has-nulls flag,
/// the element type's OID, then per dimension its length and lower bound,
/// then each element as a length (-1 for NULL) and its binary form.
fn encode_array(elements: &[Datum], elem_oid: u32, out: &mut Vec<u8>) {
    let ndim: i32 = if elements.is_empty() { 0 } else { 1 };
    let has_nulls = elements.iter().any(Datum::is_null);
    out.extend_from_slice(&ndim.to_be_bytes());
    out.extend_from_slice(&i32::from(has_nulls).to_be_bytes());
    out.extend_from_slice(&elem_oid.to_be_bytes());
    if ndim == 1 {
        out.extend_from_slice(&(elements.len() as i32).to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for e in elements {
        if e.is_null() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        encode_binary(e, out);
        let len = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn bad_array(message: &str) -> ParseError {
    ParseError::new(SqlState::INVALID_BINARY_REPRESENTATION, message)
}

/// PostgreSQL's `array_recv` for an array of `elem`: zero or one dimension
/// (more is `0A000`), lower bound 1, the element type `elem`'s.
fn decode_array(r: &mut Reader<'_>, elem: &ScalarType) -> Result<Datum, ParseError> {
    if matches!(elem, ScalarType::Array(_)) {
        return Err(ParseError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "multidimensional arrays are not supported",
        ));
    }
    let ndim = r.i32()?;
    if !(0..=6).contains(&ndim) {
        return Err(bad_array(&format!("invalid number of dimensions: {ndim}")));
    }
    let flags = r.i32()?;
    if flags != 0 && flags != 1 {
        return Err(bad_array("invalid array flags"));
    }
    let elem_oid = r.i32()? as u32;
    // An `oid[]` parameter decodes its elements as `regtype`s: both are
    // four-byte OIDs (`server::oid_parameter`).
    const OID: u32 = 26;
    if elem_oid != elem.oid() && !(elem_oid == OID && matches!(elem, ScalarType::RegType)) {
        return Err(ParseError::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "binary data has array element type {elem_oid} instead of expected {} ({})",
                elem.oid(),
                elem.name()
            ),
        ));
    }
    if ndim > 1 {
        return Err(ParseError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "multidimensional arrays are not supported",
        ));
    }
    if ndim == 0 {
        return Ok(Datum::Array(vec![]));
    }
    let len = r.i32()?;
    let lower = r.i32()?;
    if len < 0 {
        return Err(bad_array("invalid array dimensions"));
    }
    if lower != 1 && len > 0 {
        return Err(ParseError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "array lower bounds other than 1 are not supported",
        ));
    }
    // Each element takes at least its 4 length bytes: no allocation beyond
    // what the message can hold.
    let remaining = r.bytes.len().saturating_sub(r.pos);
    let mut elements = Vec::with_capacity((len as usize).min(remaining / 4));
    for i in 0..len {
        let item_len = r.i32()?;
        if item_len == -1 {
            elements.push(Datum::Null);
            continue;
        }
        let Ok(item_len) = usize::try_from(item_len) else {
            return Err(ParseError::new(
                SqlState::PROTOCOL_VIOLATION,
                "insufficient data left in message",
            ));
        };
        let bytes = r.take(item_len)?;
        let d = decode_binary(bytes, elem).map_err(|e| {
            if e.code == SqlState::INVALID_BINARY_REPRESENTATION
                && e.message == "incorrect binary data format"
            {
                bad_array(&format!(
                    "improper binary format in array element {}",
                    i + 1
                ))
            } else {
                e
            }
        })?;
        elements.push(d);
    }
    Ok(Datum::Array(elements))
}

/// PostgreSQL's `numeric_send`: `ndigits`, `weight`, `sign`, `dscale` (each
/// 16 bits) and `ndigits` base-10000 digits, most significant first, with
/// leading and trailing zero digits stripped (zero has none, weight 0).
fn encode_numeric(d: &Numeric, out: &mut Vec<u8>) {
    let (neg, groups, weight) = numeric_groups(d);
    let sign = if neg { NUMERIC_NEG } else { NUMERIC_POS };
    out.extend_from_slice(&(groups.len() as u16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(d.scale() as u16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

/// A decimal's sign, stripped base-10000 digits and weight (the power of
/// 10000 of the first digit).
fn numeric_groups(d: &Numeric) -> (bool, Vec<i16>, i16) {
    let (m, scale) = d.to_big_parts();
    let scale = scale as usize;
    let digits = m.magnitude().to_string();
    // Split into integer and fractional digit strings.
    let (int_part, frac_part) = if digits.len() > scale {
        let (i, f) = digits.split_at(digits.len() - scale);
        (i.to_owned(), f.to_owned())
    } else {
        (String::new(), "0".repeat(scale - digits.len()) + &digits)
    };
    // Pad to whole groups: the integer part on the left, the fraction on
    // the right.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(b'0', int_pad)
        .chain(int_part.bytes())
        .chain(frac_part.bytes())
        .chain(std::iter::repeat_n(b'0', frac_pad))
        .collect();
    let int_groups = (int_part.len() + int_pad) / 4;
    let mut groups: Vec<i16> = padded
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
        .collect();
    let mut weight = int_groups as i16 - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= leading as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        return (false, groups, 0);
    }
    (m.sign() == num_bigint::Sign::Minus, groups, weight)
}

/// Reads a parameter value in binary format.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(slice) = end.and_then(|e| self.bytes.get(self.pos..e)) else {
            return Err(ParseError::new(
                SqlState::PROTOCOL_VIOLATION,
                "insufficient data left in message",
            ));
        };
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        self.pos = self.bytes.len();
        rest
    }

    fn i16(&mut self) -> Result<i16, ParseError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, ParseError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, ParseError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
}

fn out_of_range(what: &str) -> ParseError {
    ParseError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("{what} out of range"),
    )
}

fn bad_numeric(what: &str) -> ParseError {
    ParseError::new(
        SqlState::INVALID_BINARY_REPRESENTATION,
        format!("invalid {what} in external \"numeric\" value"),
    )
}

/// Decodes a parameter value sent in binary format as a value of `typ`
/// (PostgreSQL's `*recv`), then applies the type modifier
/// ([`strconv::apply_typmod`]).
pub fn decode_binary(bytes: &[u8], typ: &ScalarType) -> Result<Datum, ParseError> {
    let mut r = Reader { bytes, pos: 0 };
    let datum = match typ {
        ScalarType::Bool => Datum::Bool(r.array::<1>()?[0] != 0),
        ScalarType::Int16 => Datum::Int16(r.i16()?),
        ScalarType::Int32 => Datum::Int32(r.i32()?),
        ScalarType::Int64 => Datum::Int64(r.i64()?),
        ScalarType::Float32 => {
            Datum::Float32(OrdF32(f32::from_bits(u32::from_be_bytes(r.array()?))))
        }
        ScalarType::Float64 => {
            Datum::Float64(OrdF64(f64::from_bits(u64::from_be_bytes(r.array()?))))
        }
        ScalarType::Numeric { .. } => decode_numeric(&mut r)?,
        ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_) => {
            Datum::String(strconv::check_text(r.rest())?.to_owned())
        }
        ScalarType::Name => Datum::String(strconv::truncate_name(strconv::check_text(r.rest())?)),
        // An OID: unsigned, four bytes.
        ScalarType::RegType => Datum::Int64(i64::from(u32::from_be_bytes(r.array()?))),
        ScalarType::Bytea => Datum::Bytes(r.rest().to_vec()),
        ScalarType::Date => {
            let days = r.i32()?;
            if days == i32::MIN || days == i32::MAX {
                return Err(ParseError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    "infinite dates are not supported",
                ));
            }
            let days = i64::from(days) + i64::from(PG_EPOCH_DAYS);
            if !(DATE_MIN_DAYS..=DATE_MAX_DAYS).contains(&days) {
                return Err(out_of_range("date"));
            }
            Datum::Date(days as i32)
        }
        ScalarType::Time(_) => {
            let t = r.i64()?;
            if !(0..=MICROS_PER_DAY).contains(&t) {
                return Err(out_of_range("time"));
            }
            Datum::Time(t)
        }
        ScalarType::Timestamp(_) | ScalarType::TimestampTz(_) => {
            let t = r.i64()?;
            if t == i64::MIN || t == i64::MAX {
                return Err(ParseError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    "infinite timestamps are not supported",
                ));
            }
            let t = t
                .checked_add(PG_EPOCH_MICROS)
                .filter(|t| *t >= TIMESTAMP_MIN_MICROS)
                .ok_or_else(|| out_of_range("timestamp"))?;
            if matches!(typ, ScalarType::Timestamp(_)) {
                Datum::Timestamp(t)
            } else {
                Datum::TimestampTz(t)
            }
        }
        ScalarType::Interval { .. } => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            Datum::Interval(Interval {
                months,
                days,
                micros,
            })
        }
        ScalarType::Jsonb => {
            let version = r.array::<1>()?[0];
            if version != 1 {
                return Err(ParseError::new(
                    SqlState::INTERNAL_ERROR,
                    format!("unsupported jsonb version number {version}"),
                ));
            }
            let text = strconv::check_text(r.rest())?;
            Datum::Jsonb(strconv::canonical_jsonb(text)?)
        }
        ScalarType::Uuid => Datum::Uuid(uuid::Uuid::from_bytes(r.array()?)),
        ScalarType::Array(elem) => decode_array(&mut r, elem)?,
        // PostgreSQL's `json_recv`: the text, checked.
        ScalarType::Json => {
            let text = strconv::check_text(r.rest())?;
            crate::repr::json::validate(text)?;
            Datum::Json(text.to_owned())
        }
    };
    if r.pos != bytes.len() {
        return Err(ParseError::new(
            SqlState::INVALID_BINARY_REPRESENTATION,
            "incorrect binary data format",
        ));
    }
    strconv::apply_typmod(datum, typ)
}

/// PostgreSQL's `numeric_recv`: checks the sign, scale and digits, drops
/// digits beyond `dscale` (`trunc_var`), and builds the value. A special
/// value's scale and digits are checked and then ignored, as there.
fn decode_numeric(r: &mut Reader<'_>) -> Result<Datum, ParseError> {
    let ndigits = usize::from(r.u16()?);
    let weight = i64::from(r.i16()?);
    let sign = r.u16()?;
    if !matches!(
        sign,
        NUMERIC_POS | NUMERIC_NEG | NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF
    ) {
        return Err(bad_numeric("sign"));
    }
    let dscale = r.u16()?;
    if dscale & NUMERIC_DSCALE_MASK != dscale {
        return Err(bad_numeric("scale"));
    }
    let mut groups = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let g = r.i16()?;
        if !(0..10_000).contains(&g) {
            return Err(bad_numeric("digit"));
        }
        groups.push(g);
    }
    match sign {
        NUMERIC_NAN => return Ok(Datum::NumericNaN),
        NUMERIC_PINF | NUMERIC_NINF => {
            return Err(ParseError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "numeric infinity is not supported",
            ));
        }
        _ => {}
    }
    decode_finite_numeric(sign, weight, dscale, &groups).map(Datum::Numeric)
}

/// The finite value of a checked `numeric_recv` message.
fn decode_finite_numeric(
    sign: u16,
    weight: i64,
    dscale: u16,
    groups: &[i16],
) -> Result<Numeric, ParseError> {
    let neg = sign == NUMERIC_NEG;
    let dscale = i64::from(dscale);
    let Some(first) = groups.iter().position(|g| *g != 0) else {
        return strconv::decimal_from_digits(false, b"", dscale);
    };
    // The power of 10000 of the first non-zero digit: from 10000^251 =
    // 10^1004 on, the value is beyond any Numeric (whose magnitude is at
    // most 10^1000; `decimal_from_digits` checks the rest exactly).
    let top = weight - first as i64;
    if top > 250 {
        return Err(ParseError::new(
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            "value overflows numeric format",
        ));
    }
    let group_at = |e: i64| -> i16 {
        // The digit for 10000^e.
        usize::try_from(weight - e)
            .ok()
            .and_then(|i| groups.get(i))
            .copied()
            .unwrap_or(0)
    };
    let frac_groups = (dscale + 3) / 4;
    let mut digits = Vec::with_capacity(((top.max(0) + 1 + frac_groups) * 4) as usize);
    for e in (-frac_groups..=top.max(0)).rev() {
        let g = group_at(e);
        digits.extend_from_slice(format!("{g:04}").as_bytes());
    }
    // Drop the fractional digits beyond dscale (truncation, as PostgreSQL).
    digits.truncate(digits.len() - (frac_groups * 4 - dscale) as usize);
    strconv::decimal_from_digits(neg, &digits, dscale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Numeric {
        strconv::parse_numeric(s).unwrap()
    }

    fn encode(d: &Datum) -> Vec<u8> {
        let mut out = Vec::new();
        encode_binary(d, &mut out);
        out
    }

    /// Binary numeric from its header words and digits.
    fn numeric_bytes(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    fn err(bytes: &[u8], typ: &ScalarType) -> (String, String) {
        match decode_binary(bytes, typ) {
            Ok(d) => panic!("{bytes:?} as {typ:?} decoded to {d:?}"),
            Err(e) => (e.code.as_str().to_owned(), e.message),
        }
    }

    fn e(code: &str, message: &str) -> (String, String) {
        (code.to_owned(), message.to_owned())
    }

    const NUM: ScalarType = ScalarType::Numeric {
        precision: None,
        scale: None,
    };

    /// A value and its `numeric_send` header words and digits: ndigits,
    /// weight, sign, dscale.
    type NumericCase<'a> = (&'a str, u16, i16, u16, u16, &'a [i16]);

    #[test]
    fn numeric_wire_format() {
        // Byte layouts checked against PostgreSQL 15's numeric_send.
        let cases: &[NumericCase] = &[
            ("123.45", 2, 0, 0, 2, &[123, 4500]),
            ("-123.45", 2, 0, 0x4000, 2, &[123, 4500]),
            ("0", 0, 0, 0, 0, &[]),
            ("0.00", 0, 0, 0, 2, &[]),
            ("-0.00", 0, 0, 0, 2, &[]),
            ("1", 1, 0, 0, 0, &[1]),
            ("1.50", 2, 0, 0, 2, &[1, 5000]),
            ("0.5", 1, -1, 0, 1, &[5000]),
            ("0.0001", 1, -1, 0, 4, &[1]),
            ("0.00001", 1, -2, 0, 5, &[1000]),
            ("10000", 1, 1, 0, 0, &[1]),
            ("12345678", 2, 1, 0, 0, &[1234, 5678]),
            ("123456789", 3, 2, 0, 0, &[1, 2345, 6789]),
            ("100000000.0001", 4, 2, 0, 4, &[1, 0, 0, 1]),
            ("9999.9999", 2, 0, 0, 4, &[9999, 9999]),
            (
                "79228162514264337593543950335",
                8,
                7,
                0,
                0,
                &[7, 9228, 1625, 1426, 4337, 5935, 4395, 335],
            ),
            ("0.0000000000000000000000000001", 1, -7, 0, 28, &[1]),
        ];
        for (text, ndigits, weight, sign, dscale, digits) in cases {
            let want = numeric_bytes(*ndigits, *weight, *sign, *dscale, digits);
            let d = Datum::Numeric(dec(text));
            assert_eq!(encode(&d), want, "{text}");
            let back = decode_binary(&want, &NUM).unwrap();
            assert_eq!(strconv::format(&back), strconv::format(&d), "{text}");
        }
    }

    #[test]
    fn numeric_decoding_edge_cases() {
        // Digits beyond dscale are truncated, as PostgreSQL's trunc_var.
        let b = numeric_bytes(2, 0, 0, 2, &[1, 2399]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            "1.23"
        );
        let b = numeric_bytes(2, 0, 0x4000, 0, &[1, 9999]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            "-1"
        );
        // Unstripped leading and trailing zero digits are fine.
        let b = numeric_bytes(4, 1, 0, 4, &[0, 12, 3400, 0]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            "12.3400"
        );
        // A huge weight with only zero digits is zero.
        let b = numeric_bytes(1, 30000, 0, 0, &[0]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            "0"
        );
        // dscale larger than the digits: zero padded.
        let b = numeric_bytes(1, 0, 0, 3, &[7]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            "7.000"
        );
        // Typmod applies.
        let typ = ScalarType::Numeric {
            precision: Some(4),
            scale: Some(1),
        };
        let b = numeric_bytes(2, 0, 0, 2, &[123, 4500]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &typ).unwrap()).unwrap(),
            "123.5"
        );
        let b = numeric_bytes(2, 1, 0, 0, &[1, 0]);
        assert_eq!(err(&b, &typ), e("22003", "numeric field overflow"));
        // Wide values: 10000^8 = 10^32, and the largest and one past it.
        let b = numeric_bytes(1, 8, 0, 0, &[1]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            format!("1{}", "0".repeat(32))
        );
        let b = numeric_bytes(1, 250, 0, 0, &[1]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            format!("1{}", "0".repeat(1000))
        );
        let b = numeric_bytes(2, 250, 0, 0, &[1, 1]);
        assert_eq!(err(&b, &NUM), e("22003", "value overflows numeric format"));
        let b = numeric_bytes(1, 251, 0, 0, &[1]);
        assert_eq!(err(&b, &NUM), e("22003", "value overflows numeric format"));
        // Digits beyond Freshet's 1000 after the point: zeros are dropped,
        // anything else is refused.
        let b = numeric_bytes(1, -251, 0, 1004, &[1]);
        assert_eq!(err(&b, &NUM), e("22003", "value overflows numeric format"));
        let b = numeric_bytes(1, 0, 0, 1004, &[1]);
        assert_eq!(
            strconv::format(&decode_binary(&b, &NUM).unwrap()).unwrap(),
            format!("1.{}", "0".repeat(1000))
        );
        let b = numeric_bytes(1, 32767, 0, 0, &[1]);
        assert_eq!(err(&b, &NUM), e("22003", "value overflows numeric format"));
        // Bad header or digits.
        let b = numeric_bytes(1, 0, 0x1234, 0, &[1]);
        assert_eq!(
            err(&b, &NUM),
            e("22P03", "invalid sign in external \"numeric\" value")
        );
        let b = numeric_bytes(1, 0, 0, 0x4000, &[1]);
        assert_eq!(
            err(&b, &NUM),
            e("22P03", "invalid scale in external \"numeric\" value")
        );
        let b = numeric_bytes(1, 0, 0, 0, &[10000]);
        assert_eq!(
            err(&b, &NUM),
            e("22P03", "invalid digit in external \"numeric\" value")
        );
        let b = numeric_bytes(1, 0, 0, 0, &[-1]);
        assert_eq!(
            err(&b, &NUM),
            e("22P03", "invalid digit in external \"numeric\" value")
        );
        let b = numeric_bytes(0, 0, NUMERIC_NAN, 0, &[]);
        assert_eq!(decode_binary(&b, &NUM), Ok(Datum::NumericNaN));
        assert_eq!(encode(&Datum::NumericNaN), b);
        // Its scale and digits are checked, then ignored (`numeric_recv`).
        let b = numeric_bytes(1, 3, NUMERIC_NAN, 2, &[7]);
        assert_eq!(decode_binary(&b, &NUM), Ok(Datum::NumericNaN));
        let b = numeric_bytes(1, 0, NUMERIC_NAN, 0, &[10000]);
        assert_eq!(err(&b, &NUM).0, "22P03");
        let typed = ScalarType::Numeric {
            precision: Some(5),
            scale: Some(2),
        };
        let b = numeric_bytes(0, 0, NUMERIC_NAN, 0, &[]);
        assert_eq!(decode_binary(&b, &typed), Ok(Datum::NumericNaN));
        let b = numeric_bytes(0, 0, NUMERIC_PINF, 0, &[]);
        assert_eq!(err(&b, &NUM).0, "0A000");
        // Short or long.
        let b = numeric_bytes(2, 0, 0, 0, &[1]);
        assert_eq!(
            err(&b, &NUM),
            e("08P01", "insufficient data left in message")
        );
        let mut b = numeric_bytes(1, 0, 0, 0, &[1]);
        b.push(0);
        assert_eq!(err(&b, &NUM), e("22P03", "incorrect binary data format"));
        assert_eq!(
            err(&[0, 1], &NUM),
            e("08P01", "insufficient data left in message")
        );
    }

    #[test]
    fn fixed_width_encodings() {
        assert_eq!(encode(&Datum::Bool(true)), [1]);
        assert_eq!(encode(&Datum::Bool(false)), [0]);
        assert_eq!(encode(&Datum::Int16(-2)), [0xff, 0xfe]);
        assert_eq!(encode(&Datum::Int32(258)), [0, 0, 1, 2]);
        assert_eq!(encode(&Datum::Int64(1)), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode(&Datum::f32(1.0)), [0x3f, 0x80, 0, 0]);
        assert_eq!(encode(&Datum::f64(-2.0)), [0xc0, 0, 0, 0, 0, 0, 0, 0]);
        // 2000-01-01 is day 0 on the wire; 1970-01-01 is -10957.
        assert_eq!(encode(&Datum::Date(10_957)), [0, 0, 0, 0]);
        assert_eq!(encode(&Datum::Date(0)), (-10_957i32).to_be_bytes());
        assert_eq!(encode(&Datum::Time(1)), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode(&Datum::Timestamp(PG_EPOCH_MICROS)), [0; 8]);
        assert_eq!(
            encode(&Datum::TimestampTz(PG_EPOCH_MICROS + 1)),
            [0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            encode(&Datum::Interval(Interval {
                months: 3,
                days: 2,
                micros: 1
            })),
            [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        assert_eq!(encode(&Datum::String("hé".into())), "hé".as_bytes());
        assert_eq!(encode(&Datum::Bytes(vec![0, 255])), [0, 255]);
        assert_eq!(
            encode(&Datum::Jsonb("{\"a\": 1}".into())),
            b"\x01{\"a\": 1}"
        );
        let u = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
        assert_eq!(
            encode(&Datum::Uuid(u)),
            [
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
                0x0a, 0x11
            ]
        );
        assert_eq!(encode(&Datum::Null), Vec::<u8>::new());
    }

    #[test]
    fn decoding_checks() {
        assert_eq!(
            decode_binary(&[2], &ScalarType::Bool),
            Ok(Datum::Bool(true))
        );
        assert_eq!(
            err(&[], &ScalarType::Bool),
            e("08P01", "insufficient data left in message")
        );
        assert_eq!(
            err(&[0, 0, 1], &ScalarType::Int32),
            e("08P01", "insufficient data left in message")
        );
        assert_eq!(
            err(&[0, 0, 0, 0, 1], &ScalarType::Int32),
            e("22P03", "incorrect binary data format")
        );
        assert_eq!(
            err(&[0; 7], &ScalarType::Float64),
            e("08P01", "insufficient data left in message")
        );
        assert_eq!(
            err(&[0; 9], &ScalarType::Timestamp(None)),
            e("22P03", "incorrect binary data format")
        );
        assert_eq!(
            err(&[0; 15], &ScalarType::Uuid),
            e("08P01", "insufficient data left in message")
        );
        assert_eq!(
            err(&[0; 15], &ScalarType::INTERVAL),
            e("08P01", "insufficient data left in message")
        );
        // Text must be valid UTF-8 without NUL.
        assert_eq!(
            err(b"a\xffb", &ScalarType::Text),
            e("22021", "invalid byte sequence for encoding \"UTF8\": 0xff")
        );
        assert_eq!(
            err(b"a\0", &ScalarType::Text),
            e("22021", "invalid byte sequence for encoding \"UTF8\": 0x00")
        );
        // Type modifiers apply.
        assert_eq!(
            decode_binary(b"ab", &ScalarType::Char(Some(3))),
            Ok(Datum::String("ab ".into()))
        );
        assert_eq!(
            err(b"abcd", &ScalarType::VarChar(Some(3))),
            e("22001", "value too long for type character varying(3)")
        );
        // Range checks.
        let days = |d: i32| d.to_be_bytes().to_vec();
        assert_eq!(
            err(&days(-2_451_546), &ScalarType::Date),
            e("22008", "date out of range")
        );
        assert_eq!(
            decode_binary(&days(-2_451_545), &ScalarType::Date),
            Ok(Datum::Date(-2_440_588))
        );
        assert_eq!(err(&days(i32::MAX), &ScalarType::Date).0, "0A000");
        assert_eq!(err(&days(i32::MIN), &ScalarType::Date).0, "0A000");
        assert_eq!(
            err(&(-1i64).to_be_bytes(), &ScalarType::Time(None)),
            e("22008", "time out of range")
        );
        assert_eq!(
            err(&(MICROS_PER_DAY + 1).to_be_bytes(), &ScalarType::Time(None)),
            e("22008", "time out of range")
        );
        assert_eq!(
            decode_binary(&MICROS_PER_DAY.to_be_bytes(), &ScalarType::Time(None)),
            Ok(Datum::Time(MICROS_PER_DAY))
        );
        assert_eq!(
            err(&i64::MAX.to_be_bytes(), &ScalarType::Timestamp(None)).0,
            "0A000"
        );
        assert_eq!(
            err(
                &(i64::MAX - 1).to_be_bytes(),
                &ScalarType::TimestampTz(None)
            ),
            e("22008", "timestamp out of range")
        );
        assert_eq!(
            err(
                &(-211_813_488_000_000_001i64).to_be_bytes(),
                &ScalarType::Timestamp(None)
            ),
            e("22008", "timestamp out of range")
        );
        assert_eq!(
            decode_binary(
                &(-211_813_488_000_000_000i64).to_be_bytes(),
                &ScalarType::Timestamp(None)
            ),
            Ok(Datum::Timestamp(TIMESTAMP_MIN_MICROS))
        );
        // jsonb: version 1, then text, canonicalised.
        assert_eq!(
            decode_binary(b"\x01{\"b\":1,\"a\":2}", &ScalarType::Jsonb),
            Ok(Datum::Jsonb("{\"a\": 2, \"b\": 1}".into()))
        );
        assert_eq!(
            err(b"\x02{}", &ScalarType::Jsonb),
            e("XX000", "unsupported jsonb version number 2")
        );
        assert_eq!(
            err(b"", &ScalarType::Jsonb),
            e("08P01", "insufficient data left in message")
        );
        assert_eq!(
            err(b"\x01{", &ScalarType::Jsonb),
            e("22P02", "invalid input syntax for type json")
        );
        assert_eq!(
            decode_binary(b"", &ScalarType::Bytea),
            Ok(Datum::Bytes(vec![]))
        );
        assert_eq!(
            decode_binary(b"", &ScalarType::Text),
            Ok(Datum::String(String::new()))
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

    /// `d` survives binary and text round trips, exactly.
    fn assert_round_trips(d: &Datum, typ: &ScalarType) {
        let bytes = encode(d);
        let back = decode_binary(&bytes, typ).unwrap_or_else(|e| panic!("{d:?}: {e}"));
        // Compare field for field (Datum equality is looser for intervals,
        // numerics and floats).
        assert_eq!(format!("{back:?}"), format!("{d:?}"));
        assert_eq!(encode(&back), bytes);
        let text = strconv::format(d).unwrap_or_default();
        let from_text = strconv::parse(&text, typ).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(encode(&from_text), bytes, "{text}");
    }

    #[test]
    fn random_values_round_trip() {
        let mut rng = Rng(7);
        let num = ScalarType::Numeric {
            precision: None,
            scale: None,
        };
        for _ in 0..3000 {
            let bits = rng.next();
            assert_round_trips(&Datum::Int16(bits as i16), &ScalarType::Int16);
            assert_round_trips(&Datum::Int32(bits as i32), &ScalarType::Int32);
            assert_round_trips(&Datum::Int64(bits as i64), &ScalarType::Int64);
            let f = f64::from_bits(rng.next());
            if !f.is_nan() {
                assert_round_trips(&Datum::f64(f), &ScalarType::Float64);
            }
            let f = f32::from_bits(rng.next() as u32);
            if !f.is_nan() {
                assert_round_trips(&Datum::f32(f), &ScalarType::Float32);
            }
            let m = ((rng.next() as i128) << 32 | rng.next() as i128) >> rng.range(0, 96);
            let m = if rng.next().is_multiple_of(2) { m } else { -m };
            let d =
                Numeric::try_from_i128_with_scale(m, rng.range(0, 28) as u32).expect("in range");
            assert_round_trips(&Datum::Numeric(d.clone()), &num);
            // Wide values: the same digits times a power of ten, at any
            // scale up to 80.
            let wide =
                d.to_big_parts().0 * num_bigint::BigInt::from(10u32).pow(rng.range(0, 60) as u32);
            if let Some(wide) = Numeric::from_big_parts(wide, rng.range(0, 80) as u32) {
                assert_round_trips(&Datum::Numeric(wide), &num);
            }
            let ts = rng.range(TIMESTAMP_MIN_MICROS, i64::MAX);
            assert_round_trips(&Datum::Timestamp(ts), &ScalarType::Timestamp(None));
            assert_round_trips(
                &Datum::TimestampTz(ts >> rng.range(0, 20)),
                &ScalarType::TimestampTz(None),
            );
            let day = rng.range(DATE_MIN_DAYS, DATE_MAX_DAYS) as i32;
            assert_round_trips(&Datum::Date(day), &ScalarType::Date);
            assert_round_trips(
                &Datum::Time(rng.range(0, MICROS_PER_DAY)),
                &ScalarType::Time(None),
            );
            let iv = Interval {
                months: rng.next() as i32 >> rng.range(0, 31),
                days: rng.next() as i32 >> rng.range(0, 31),
                micros: rng.next() as i64 >> rng.range(0, 63),
            };
            assert_round_trips(&Datum::Interval(iv), &ScalarType::INTERVAL);
            let u = uuid::Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            assert_round_trips(&Datum::Uuid(u), &ScalarType::Uuid);
            let bytes: Vec<u8> = (0..rng.range(0, 10)).map(|_| rng.next() as u8).collect();
            assert_round_trips(&Datum::Bytes(bytes), &ScalarType::Bytea);
            let s: String = (0..rng.range(0, 10))
                .map(|_| char::from_u32(rng.range(1, 0x2FFF) as u32).unwrap_or('x'))
                .collect();
            assert_round_trips(&Datum::String(s), &ScalarType::Text);
            assert_round_trips(&Datum::Bool(bits.is_multiple_of(2)), &ScalarType::Bool);
        }
        let json = strconv::canonical_jsonb("{\"k\": [1.50, \"x\", null, {\"a\": true}]}").unwrap();
        assert_round_trips(&Datum::Jsonb(json), &ScalarType::Jsonb);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(99);
        let types = [
            ScalarType::Bool,
            ScalarType::Int16,
            ScalarType::Int32,
            ScalarType::Int64,
            ScalarType::Float32,
            ScalarType::Float64,
            NUM,
            ScalarType::Numeric {
                precision: Some(3),
                scale: Some(1),
            },
            ScalarType::Text,
            ScalarType::Char(Some(2)),
            ScalarType::Bytea,
            ScalarType::Date,
            ScalarType::Time(None),
            ScalarType::Timestamp(None),
            ScalarType::TimestampTz(None),
            ScalarType::INTERVAL,
            ScalarType::Jsonb,
            ScalarType::Uuid,
            ScalarType::Array(Box::new(ScalarType::Int32)),
            ScalarType::Array(Box::new(ScalarType::Text)),
            ScalarType::Array(Box::new(NUM)),
        ];
        for _ in 0..20_000 {
            let len = rng.range(0, 20) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.next() as u8,
                })
                .collect();
            for typ in &types {
                let _ = decode_binary(&bytes, typ);
            }
        }
    }

    fn int4_array() -> ScalarType {
        ScalarType::Array(Box::new(ScalarType::Int32))
    }

    /// A one-dimensional array's wire bytes: header, then elements (`None`
    /// for NULL) as length and bytes.
    fn array_bytes(elem_oid: u32, elements: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        let ndim: i32 = if elements.is_empty() { 0 } else { 1 };
        out.extend_from_slice(&ndim.to_be_bytes());
        out.extend_from_slice(&i32::from(elements.iter().any(Option::is_none)).to_be_bytes());
        out.extend_from_slice(&elem_oid.to_be_bytes());
        if ndim == 1 {
            out.extend_from_slice(&(elements.len() as i32).to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
        }
        for e in elements {
            match e {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    #[test]
    fn array_wire_format() {
        let a = Datum::Array(vec![Datum::Int32(1), Datum::Null, Datum::Int32(-2)]);
        let expected = array_bytes(
            23,
            &[
                Some(&1i32.to_be_bytes()),
                None,
                Some(&(-2i32).to_be_bytes()),
            ],
        );
        let mut out = Vec::new();
        encode_binary_as(&a, Some(&int4_array()), &mut out);
        assert_eq!(out, expected);
        assert_eq!(encode(&a), expected, "element type from the values");
        assert_eq!(decode_binary(&expected, &int4_array()).unwrap(), a);
        assert_round_trips(&a, &int4_array());
        // An empty array has no dimensions; its element type is the
        // column's, which only the typed encoder knows.
        let empty = Datum::Array(vec![]);
        let mut out = Vec::new();
        let text_array = ScalarType::Array(Box::new(ScalarType::Text));
        encode_binary_as(&empty, Some(&text_array), &mut out);
        assert_eq!(out, array_bytes(25, &[]));
        assert_eq!(decode_binary(&out, &text_array).unwrap(), empty);
        // Text elements, and element type modifiers applied on input.
        let words = Datum::Array(vec![Datum::String("a b".into()), Datum::String("".into())]);
        assert_round_trips(&words, &text_array);
        let short = ScalarType::Array(Box::new(ScalarType::VarChar(Some(1))));
        let bytes = array_bytes(1043, &[Some(b"ab")]);
        assert_eq!(
            err(&bytes, &short),
            e("22001", "value too long for type character varying(1)")
        );
        // Numerics and timestamps through their own element formats.
        assert_round_trips(
            &Datum::Array(vec![Datum::Numeric(dec("-1.50")), Datum::Null]),
            &ScalarType::Array(Box::new(NUM)),
        );
        assert_round_trips(
            &Datum::Array(vec![Datum::Timestamp(0), Datum::Timestamp(-1)]),
            &ScalarType::Array(Box::new(ScalarType::Timestamp(None))),
        );
    }

    #[test]
    fn array_decoding_checks() {
        let one = 1i32.to_be_bytes();
        let typ = int4_array();
        assert_eq!(
            err(&array_bytes(20, &[Some(&one)]), &typ),
            e(
                "42804",
                "binary data has array element type 20 instead of expected 23 (integer)"
            )
        );
        let mut two_dims = array_bytes(23, &[Some(&one)]);
        two_dims[3] = 2;
        assert_eq!(err(&two_dims, &typ).0, "0A000");
        let mut bad_flags = array_bytes(23, &[Some(&one)]);
        bad_flags[7] = 7;
        assert_eq!(err(&bad_flags, &typ), e("22P03", "invalid array flags"));
        let mut lower_bound = array_bytes(23, &[Some(&one)]);
        lower_bound[19] = 0;
        assert_eq!(err(&lower_bound, &typ).0, "0A000");
        let mut negative = array_bytes(23, &[Some(&one)]);
        negative[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(err(&negative, &typ).0, "22P03");
        // An element longer than its type: PostgreSQL's message.
        assert_eq!(
            err(&array_bytes(23, &[Some(&[0, 0, 0, 0, 9])]), &typ),
            e("22P03", "improper binary format in array element 1")
        );
        // Too few bytes for the elements announced.
        let full = array_bytes(23, &[Some(&one), Some(&one)]);
        for cut in 0..full.len() {
            assert!(decode_binary(&full[..cut], &typ).is_err(), "cut at {cut}");
        }
        let mut extra = full.clone();
        extra.push(0);
        assert_eq!(
            err(&extra, &typ),
            e("22P03", "incorrect binary data format")
        );
    }
}
