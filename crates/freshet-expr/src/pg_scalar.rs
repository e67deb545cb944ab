//! PostgreSQL scalar functions that DataFusion lacks or types differently
//! from PostgreSQL: the `bytea` functions (`length`, `octet_length`,
//! `md5`, `sha256`, `get_byte`), `extract` and `date_part`
//! ([`super::extract`]). The planner side is `sql::pg_scalar`.

use md5::Digest as _;

use crate::repr::{Datum, SqlState};

use super::EvalError;

/// A function of this module. All are strict: a NULL argument gives NULL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PgFunc {
    /// `length(bytea)`: the number of bytes (the `text` form is
    /// `UnaryFunc::CharLength`).
    ByteaLength,
    /// `octet_length(text|bytea)`: the number of bytes (of the UTF-8
    /// encoding, for `text`).
    OctetLength,
    /// `md5(text|bytea)`: the digest as 32 lower-case hex digits.
    Md5,
    /// `sha256(bytea)`: the digest as `bytea`.
    Sha256,
    /// `get_byte(bytea, integer)`: the byte at a zero-based offset.
    GetByte,
    /// `extract(field FROM x)` (arguments: the field's name and `x`).
    Extract,
    /// `date_part('field', x)`.
    DatePart,
    /// `interval * double precision` (either order; arguments: the
    /// interval, the factor).
    IntervalMul,
    /// `interval / double precision`.
    IntervalDiv,
    /// `sign(numeric | double precision)`: -1, 0 or 1 of the same type.
    Sign,
    /// `power(x, y)` and `x ^ y` in `double precision`, with PostgreSQL's
    /// errors where DataFusion gives NaN or infinity.
    Power,
    /// `sqrt`, `ln`, `log`/`log10` and `exp` in `double precision`, with
    /// PostgreSQL's errors where DataFusion gives NaN, infinity or zero.
    FloatMath(FloatMathFunc),
    /// `format(fmt, args...)` ([`super::string_format`]); not strict.
    Format,
    /// `quote_ident(text)`.
    QuoteIdent,
    /// `quote_literal(anyelement)`: the value's text, quoted.
    QuoteLiteral,
    /// `quote_nullable(anyelement)`: as `quote_literal`, but `NULL` for
    /// NULL; not strict.
    QuoteNullable,
    /// `regexp_split_to_array(s, pattern[, flags])` ([`super::regex::split`]).
    RegexpSplitToArray,
    /// `regexp_match(s, pattern[, flags])` ([`super::regex::regexp_match`]).
    RegexpMatch,
    /// `regexp_like(s, pattern[, flags])`.
    RegexpLike,
    /// `regexp_count(s, pattern[, start[, flags]])`.
    RegexpCount,
    /// `regexp_replace(s, pattern, replacement[, flags])` and
    /// `regexp_replace(s, pattern, replacement, start[, n[, flags]])`.
    RegexpReplace,
    /// `age(a, b)` of timestamps (or `timestamptz`s); `age(x)` is lowered
    /// to `age(current_date, x)` ([`super::pg_datetime::age`]).
    Age,
    /// `justify_days(interval)`.
    JustifyDays,
    /// `justify_hours(interval)`.
    JustifyHours,
    /// `justify_interval(interval)`.
    JustifyInterval,
    /// `make_date(year, month, day)`.
    MakeDate,
    /// `make_time(hour, min, sec)`.
    MakeTime,
    /// `make_timestamp(year, month, day, hour, min, sec)`.
    MakeTimestamp,
    /// `make_timestamptz(year, month, day, hour, min, sec)`, in UTC.
    MakeTimestampTz,
    /// `make_interval(years, months, weeks, days, hours, mins, secs)`.
    MakeInterval,
    /// `(a, b) OVERLAPS (c, d)`, the call `overlaps(a, b, c, d)`
    /// ([`super::pg_datetime::overlaps`]); not strict.
    Overlaps,
    /// `encode(bytea, 'hex' | 'base64' | 'escape')`
    /// ([`super::bytea_encoding`]).
    Encode,
    /// `decode(text, 'hex' | 'base64' | 'escape')`.
    Decode,
    /// `convert_to(text, encoding)`: the text's bytes in the encoding.
    ConvertTo,
    /// `convert_from(bytea, encoding)`: bytes in the encoding as text.
    ConvertFrom,
    /// `date_bin(stride, source, origin)` of timestamps or `timestamptz`s.
    DateBin,
    /// `to_hex(integer | bigint)`: the two's complement of the argument's
    /// own width, in lower-case hex.
    ToHex,
    /// `chr(integer)`: the character of a code point, with PostgreSQL's
    /// errors for 0, negatives, surrogates and beyond Unicode.
    Chr,
    /// `scale(numeric)` ([`super::numeric_funcs`]).
    Scale,
    /// `min_scale(numeric)`.
    MinScale,
    /// `trim_scale(numeric)`.
    TrimScale,
    /// `width_bucket(operand, low, high, count)` of `numeric` or `double
    /// precision`, or `width_bucket(operand, thresholds)`.
    WidthBucket,
    /// `gcd` of two `integer`s, `bigint`s or `numeric`s.
    Gcd,
    /// `lcm` of two `integer`s, `bigint`s or `numeric`s.
    Lcm,
    /// `concat_ws(separator, values...)`: the non-NULL values' output
    /// text, joined; NULL for a NULL separator; not strict.
    ConcatWs,
    /// `num_nulls(values...)`: how many are NULL; not strict.
    NumNulls,
    /// `num_nonnulls(values...)`: how many are not NULL; not strict.
    NumNonNulls,
    /// `isfinite(date | timestamp | timestamptz | interval)`: always true,
    /// as Freshet has no infinite values.
    IsFinite,
}

/// A one-argument `double precision` function of [`PgFunc::FloatMath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloatMathFunc {
    /// `sqrt`: `2201F` for a negative argument.
    Sqrt,
    /// `ln`: `2201E` for zero or a negative argument.
    Ln,
    /// `log` and `log10`: as `ln`.
    Log10,
    /// `exp`: `22003` where the result overflows or underflows.
    Exp,
    /// `cbrt`: the C library's (glibc's, which PostgreSQL calls, is off
    /// by one unit in the last place here and there, as in `cbrt(27)`,
    /// `3.0000000000000004`; DataFusion's is not the same).
    Cbrt,
}

/// glibc's `cbrt` (`sysdeps/ieee754/dbl-64/s_cbrt.c`): a polynomial first
/// guess refined by one Halley step, so that Freshet prints the digits
/// PostgreSQL prints.
fn glibc_cbrt(x: f64) -> f64 {
    const CBRT2: f64 = 1.259_921_049_894_873_2;
    const SQR_CBRT2: f64 = 1.587_401_051_968_199_5;
    const FACTOR: [f64; 5] = [1.0 / SQR_CBRT2, 1.0 / CBRT2, 1.0, CBRT2, SQR_CBRT2];
    if x == 0.0 || !x.is_finite() {
        return x + x;
    }
    // frexp: |x| = xm * 2^xe with xm in [0.5, 1).
    let (xm, xe) = {
        let (a, shift) = if x.abs() < f64::MIN_POSITIVE {
            (x.abs() * 2f64.powi(54), 54)
        } else {
            (x.abs(), 0)
        };
        let bits = a.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32;
        let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
        (m, e - 1022 - shift)
    };
    let u = 0.354_895_765_043_919_86
        + ((1.508_191_937_815_849
            + ((-2.114_994_941_673_713
                + ((2.446_931_225_635_344_3
                    + ((-1.834_692_774_836_130_8
                        + (0.784_932_344_976_639_2 - 0.145_263_899_385_486_38 * xm) * xm)
                        * xm))
                    * xm))
                * xm))
            * xm);
    let t2 = u * u * u;
    let ym = u * (t2 + 2.0 * xm) / (2.0 * t2 + xm) * FACTOR[(2 + xe % 3) as usize];
    // ldexp by 2^(xe / 3), within the normal range: one rounding.
    (if x > 0.0 { ym } else { -ym }) * 2f64.powi(xe / 3)
}

impl FloatMathFunc {
    /// PostgreSQL's `dsqrt`, `dlog1`, `dlog10` and `dexp`.
    pub fn eval(self, x: f64) -> Result<f64, EvalError> {
        let error = |code: &[u8; 5], message: &str| EvalError::Parse {
            code: SqlState(*code),
            message: message.into(),
        };
        match self {
            FloatMathFunc::Sqrt => {
                if x < 0.0 {
                    return Err(error(
                        b"2201F",
                        "cannot take square root of a negative number",
                    ));
                }
                Ok(x.sqrt())
            }
            FloatMathFunc::Ln | FloatMathFunc::Log10 => {
                if x == 0.0 {
                    return Err(error(b"2201E", "cannot take logarithm of zero"));
                }
                if x < 0.0 {
                    return Err(error(
                        b"2201E",
                        "cannot take logarithm of a negative number",
                    ));
                }
                Ok(if self == FloatMathFunc::Ln {
                    x.ln()
                } else {
                    x.log10()
                })
            }
            FloatMathFunc::Cbrt => Ok(glibc_cbrt(x)),
            FloatMathFunc::Exp => {
                if x.is_nan() {
                    return Ok(x);
                }
                if x.is_infinite() {
                    return Ok(if x > 0.0 { x } else { 0.0 });
                }
                let r = x.exp();
                if r.is_infinite() {
                    return Err(error(b"22003", "value out of range: overflow"));
                }
                if r == 0.0 {
                    return Err(error(b"22003", "value out of range: underflow"));
                }
                Ok(r)
            }
        }
    }
}

/// `x ^ y` in `double precision`, PostgreSQL's `dpow`.
fn power(x: f64, y: f64) -> Result<f64, EvalError> {
    let invalid = |message: &str| EvalError::Parse {
        code: SqlState(*b"2201F"),
        message: message.into(),
    };
    if x == 0.0 && y < 0.0 {
        return Err(invalid("zero raised to a negative power is undefined"));
    }
    if x < 0.0 && y.is_finite() && y.fract() != 0.0 {
        return Err(invalid(
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    let r = x.powf(y);
    let out_of_range = |what: &str| EvalError::Parse {
        code: SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        message: format!("value out of range: {what}"),
    };
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(out_of_range("overflow"));
    }
    if r == 0.0 && x != 0.0 && x.is_finite() && y.is_finite() {
        return Err(out_of_range("underflow"));
    }
    Ok(r)
}

/// PostgreSQL's `array_subscript_error`, which `get_byte` raises.
const ARRAY_SUBSCRIPT_ERROR: SqlState = SqlState(*b"2202E");

/// The bytes a `text` or `bytea` argument holds.
fn bytes_of(d: &Datum) -> Result<&[u8], EvalError> {
    match d {
        Datum::String(s) => Ok(s.as_bytes()),
        Datum::Bytes(b) => Ok(b),
        other => Err(EvalError::Internal(format!(
            "expected text or bytea, got {other:?}"
        ))),
    }
}

impl PgFunc {
    /// The SQL name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            PgFunc::ByteaLength => "length",
            PgFunc::OctetLength => "octet_length",
            PgFunc::Md5 => "md5",
            PgFunc::Sha256 => "sha256",
            PgFunc::GetByte => "get_byte",
            PgFunc::Extract => "extract",
            PgFunc::DatePart => "date_part",
            PgFunc::IntervalMul => "*",
            PgFunc::IntervalDiv => "/",
            PgFunc::Power => "power",
            PgFunc::FloatMath(f) => match f {
                FloatMathFunc::Sqrt => "sqrt",
                FloatMathFunc::Ln => "ln",
                FloatMathFunc::Log10 => "log",
                FloatMathFunc::Exp => "exp",
                FloatMathFunc::Cbrt => "cbrt",
            },
            PgFunc::Sign => "sign",
            PgFunc::Format => "format",
            PgFunc::QuoteIdent => "quote_ident",
            PgFunc::QuoteLiteral => "quote_literal",
            PgFunc::QuoteNullable => "quote_nullable",
            PgFunc::RegexpSplitToArray => "regexp_split_to_array",
            PgFunc::RegexpMatch => "regexp_match",
            PgFunc::RegexpLike => "regexp_like",
            PgFunc::RegexpCount => "regexp_count",
            PgFunc::RegexpReplace => "regexp_replace",
            PgFunc::Age => "age",
            PgFunc::JustifyDays => "justify_days",
            PgFunc::JustifyHours => "justify_hours",
            PgFunc::JustifyInterval => "justify_interval",
            PgFunc::MakeDate => "make_date",
            PgFunc::MakeTime => "make_time",
            PgFunc::MakeTimestamp => "make_timestamp",
            PgFunc::MakeTimestampTz => "make_timestamptz",
            PgFunc::MakeInterval => "make_interval",
            PgFunc::IsFinite => "isfinite",
            PgFunc::Scale => "scale",
            PgFunc::MinScale => "min_scale",
            PgFunc::TrimScale => "trim_scale",
            PgFunc::WidthBucket => "width_bucket",
            PgFunc::Gcd => "gcd",
            PgFunc::Lcm => "lcm",
            PgFunc::ConcatWs => "concat_ws",
            PgFunc::NumNulls => "num_nulls",
            PgFunc::NumNonNulls => "num_nonnulls",
            PgFunc::ToHex => "to_hex",
            PgFunc::Chr => "chr",
            PgFunc::DateBin => "date_bin",
            PgFunc::Overlaps => "overlaps",
            PgFunc::Encode => "encode",
            PgFunc::Decode => "decode",
            PgFunc::ConvertTo => "convert_to",
            PgFunc::ConvertFrom => "convert_from",
        }
    }

    /// Whether a NULL argument gives NULL without calling the function.
    fn is_strict(&self) -> bool {
        !matches!(
            self,
            PgFunc::Format
                | PgFunc::QuoteNullable
                | PgFunc::Overlaps
                | PgFunc::ConcatWs
                | PgFunc::NumNulls
                | PgFunc::NumNonNulls
        )
    }

    /// Applies the function to evaluated arguments.
    pub fn eval(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        if self.is_strict() && args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(EvalError::Internal(format!(
                    "{} called with {} arguments",
                    self.name(),
                    args.len()
                )))
            }
        };
        let text = |i: usize| match args.get(i) {
            Some(Datum::String(s)) => Ok(s.as_str()),
            None => Ok(""),
            Some(other) => Err(EvalError::Internal(format!("{} of {other:?}", self.name()))),
        };
        let int = |i: usize| match args.get(i) {
            Some(Datum::Int16(v)) => Ok(i64::from(*v)),
            Some(Datum::Int32(v)) => Ok(i64::from(*v)),
            Some(Datum::Int64(v)) => Ok(*v),
            other => Err(EvalError::Internal(format!("{} of {other:?}", self.name()))),
        };
        let float = |i: usize| match args.get(i) {
            Some(Datum::Float64(v)) => Ok(v.0),
            other => Err(EvalError::Internal(format!("{} of {other:?}", self.name()))),
        };
        let interval = |i: usize| match args.get(i) {
            Some(Datum::Interval(v)) => Ok(*v),
            other => Err(EvalError::Internal(format!("{} of {other:?}", self.name()))),
        };
        use super::pg_datetime as dt;
        match self {
            PgFunc::Age => {
                arity(2)?;
                let micros = |d: &Datum| match d {
                    Datum::Timestamp(t) | Datum::TimestampTz(t) => Ok(*t),
                    Datum::Date(d) => Ok(i64::from(*d) * crate::repr::strconv::MICROS_PER_DAY),
                    other => Err(EvalError::Internal(format!("age of {other:?}"))),
                };
                dt::age(micros(&args[0])?, micros(&args[1])?).map(Datum::Interval)
            }
            PgFunc::JustifyDays => dt::justify_days(interval(0)?).map(Datum::Interval),
            PgFunc::JustifyHours => dt::justify_hours(interval(0)?).map(Datum::Interval),
            PgFunc::JustifyInterval => dt::justify_interval(interval(0)?).map(Datum::Interval),
            PgFunc::MakeDate => {
                arity(3)?;
                dt::make_date(int(0)?, int(1)?, int(2)?)
            }
            PgFunc::MakeTime => {
                arity(3)?;
                dt::make_time(int(0)?, int(1)?, float(2)?)
            }
            PgFunc::MakeTimestamp | PgFunc::MakeTimestampTz => {
                arity(6)?;
                let t = dt::make_timestamp(int(0)?, int(1)?, int(2)?, int(3)?, int(4)?, float(5)?)?;
                Ok(if *self == PgFunc::MakeTimestamp {
                    Datum::Timestamp(t)
                } else {
                    Datum::TimestampTz(t)
                })
            }
            PgFunc::MakeInterval => {
                // Missing trailing arguments are 0.
                let i = |n: usize| -> Result<i32, EvalError> {
                    if n < args.len() {
                        i32::try_from(int(n)?).map_err(|_| EvalError::OutOfRange("integer".into()))
                    } else {
                        Ok(0)
                    }
                };
                let secs = if args.len() > 6 { float(6)? } else { 0.0 };
                dt::make_interval(i(0)?, i(1)?, i(2)?, i(3)?, i(4)?, i(5)?, secs)
                    .map(Datum::Interval)
            }
            PgFunc::IsFinite => Ok(Datum::Bool(true)),
            PgFunc::Scale => {
                arity(1)?;
                super::numeric_funcs::scale(&args[0])
            }
            PgFunc::MinScale => {
                arity(1)?;
                super::numeric_funcs::min_scale(&args[0])
            }
            PgFunc::TrimScale => {
                arity(1)?;
                super::numeric_funcs::trim_scale(&args[0])
            }
            PgFunc::WidthBucket => match args.first() {
                Some(Datum::Float64(_)) if args.len() == 4 => {
                    super::numeric_funcs::width_bucket_float(&args)
                }
                _ if args.len() == 4 => super::numeric_funcs::width_bucket_numeric(&args),
                _ => super::numeric_funcs::width_bucket_array(&args),
            },
            PgFunc::Gcd | PgFunc::Lcm => {
                arity(2)?;
                super::numeric_funcs::gcd_lcm(&args[0], &args[1], *self == PgFunc::Lcm)
            }
            PgFunc::NumNulls | PgFunc::NumNonNulls => {
                let nulls = args.iter().filter(|d| d.is_null()).count();
                let n = if *self == PgFunc::NumNulls {
                    nulls
                } else {
                    args.len() - nulls
                };
                i32::try_from(n)
                    .map(Datum::Int32)
                    .map_err(|_| EvalError::OutOfRange("integer".into()))
            }
            PgFunc::ConcatWs => {
                let Some((sep, values)) = args.split_first() else {
                    return Err(EvalError::Internal("concat_ws without arguments".into()));
                };
                let Some(sep) = crate::repr::strconv::format(sep) else {
                    return Ok(Datum::Null);
                };
                let texts: Vec<String> = values
                    .iter()
                    .filter_map(crate::repr::strconv::format)
                    .collect();
                Ok(Datum::String(texts.join(&sep)))
            }
            PgFunc::Overlaps => dt::overlaps(&args),
            PgFunc::Encode => {
                arity(2)?;
                let Datum::Bytes(b) = &args[0] else {
                    return Err(EvalError::Internal(format!("encode of {:?}", args[0])));
                };
                super::bytea_encoding::encode(b, text(1)?).map(Datum::String)
            }
            PgFunc::Decode => {
                arity(2)?;
                super::bytea_encoding::decode(text(0)?, text(1)?).map(Datum::Bytes)
            }
            PgFunc::ConvertTo => {
                arity(2)?;
                super::bytea_encoding::convert_to(text(0)?, text(1)?).map(Datum::Bytes)
            }
            PgFunc::ConvertFrom => {
                arity(2)?;
                let Datum::Bytes(b) = &args[0] else {
                    return Err(EvalError::Internal(format!(
                        "convert_from of {:?}",
                        args[0]
                    )));
                };
                super::bytea_encoding::convert_from(b, text(1)?).map(Datum::String)
            }
            PgFunc::ToHex => {
                arity(1)?;
                Ok(Datum::String(match &args[0] {
                    Datum::Int64(v) => format!("{:x}", *v as u64),
                    _ => format!("{:x}", int(0)? as i32 as u32),
                }))
            }
            PgFunc::Chr => {
                arity(1)?;
                let n = int(0)?;
                let too_much = |message: String| EvalError::Parse {
                    code: SqlState(*b"54000"),
                    message,
                };
                if n == 0 {
                    return Err(too_much("null character not permitted".into()));
                }
                if n < 0 {
                    return Err(EvalError::Parse {
                        code: SqlState(*b"22023"),
                        message: "character number must be positive".into(),
                    });
                }
                if n > 0x10FFFF {
                    return Err(too_much(format!(
                        "requested character too large for encoding: {n}"
                    )));
                }
                let c = u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        too_much(format!("requested character not valid for encoding: {n}"))
                    })?;
                Ok(Datum::String(c.to_string()))
            }
            PgFunc::DateBin => {
                arity(3)?;
                match (&args[1], &args[2]) {
                    (Datum::Timestamp(s), Datum::Timestamp(o)) => {
                        dt::date_bin(interval(0)?, *s, *o).map(Datum::Timestamp)
                    }
                    (Datum::TimestampTz(s), Datum::TimestampTz(o)) => {
                        dt::date_bin(interval(0)?, *s, *o).map(Datum::TimestampTz)
                    }
                    other => Err(EvalError::Internal(format!("date_bin of {other:?}"))),
                }
            }
            PgFunc::RegexpSplitToArray => {
                let pieces = super::regex::split(text(0)?, text(1)?, text(2)?, self.name())?;
                Ok(Datum::Array(
                    pieces.into_iter().map(Datum::String).collect(),
                ))
            }
            PgFunc::RegexpMatch => super::regex::regexp_match(&args),
            PgFunc::RegexpLike => super::regex::regexp_like(&args),
            PgFunc::RegexpCount => super::regex::regexp_count(&args),
            PgFunc::RegexpReplace => super::regex::regexp_replace(&args),
            PgFunc::Format => super::string_format::format(&args),
            PgFunc::QuoteIdent | PgFunc::QuoteLiteral | PgFunc::QuoteNullable => {
                arity(1)?;
                Ok(Datum::String(match (&args[0], self) {
                    (Datum::Null, _) => "NULL".to_string(),
                    (v, PgFunc::QuoteIdent) => {
                        super::string_format::quote_ident(&super::string_format::output(v))
                    }
                    // The value cast to `text` (a boolean's is `true`, not
                    // its output `t`).
                    (Datum::Bool(b), _) => {
                        super::string_format::quote_literal(if *b { "true" } else { "false" })
                    }
                    (v, _) => super::string_format::quote_literal(&super::string_format::output(v)),
                }))
            }
            PgFunc::IntervalMul | PgFunc::IntervalDiv => {
                arity(2)?;
                let (Datum::Interval(i), Datum::Float64(f)) = (&args[0], &args[1]) else {
                    return Err(EvalError::Internal(format!(
                        "interval arithmetic on {:?}",
                        args
                    )));
                };
                let f = f.0;
                if *self == PgFunc::IntervalDiv {
                    if f == 0.0 {
                        return Err(EvalError::DivisionByZero);
                    }
                    interval_scale(i, |x| x / f)
                } else {
                    interval_scale(i, |x| x * f)
                }
                .map(Datum::Interval)
            }
            PgFunc::Sign => {
                arity(1)?;
                match &args[0] {
                    Datum::NumericNaN => Ok(Datum::NumericNaN),
                    Datum::Numeric(n) => Ok(Datum::Numeric(if n.is_zero() {
                        crate::repr::Numeric::ZERO
                    } else if n.is_sign_negative() {
                        crate::repr::Numeric::NEGATIVE_ONE
                    } else {
                        crate::repr::Numeric::ONE
                    })),
                    Datum::Float64(v) => Ok(Datum::f64(if v.0 > 0.0 {
                        1.0
                    } else if v.0 < 0.0 {
                        -1.0
                    } else {
                        0.0 // also for -0 and NaN, as PostgreSQL's `dsign`
                    })),
                    other => Err(EvalError::Internal(format!("sign of {other:?}"))),
                }
            }
            PgFunc::Power => {
                arity(2)?;
                let float = |d: &Datum| match d {
                    Datum::Float64(v) => Some(v.0),
                    Datum::Float32(v) => Some(f64::from(v.0)),
                    Datum::Int16(v) => Some(f64::from(*v)),
                    Datum::Int32(v) => Some(f64::from(*v)),
                    Datum::Int64(v) => Some(*v as f64),
                    Datum::Numeric(v) => v.to_f64(),
                    Datum::NumericNaN => Some(f64::NAN),
                    _ => None,
                };
                let (Some(x), Some(y)) = (float(&args[0]), float(&args[1])) else {
                    return Err(EvalError::Internal(format!("power of {args:?}")));
                };
                power(x, y).map(Datum::f64)
            }
            PgFunc::FloatMath(f) => {
                arity(1)?;
                let x = match &args[0] {
                    Datum::Float64(v) => v.0,
                    Datum::Float32(v) => f64::from(v.0),
                    other => return Err(EvalError::Internal(format!("{f:?} of {other:?}"))),
                };
                f.eval(x).map(Datum::f64)
            }
            PgFunc::Extract | PgFunc::DatePart => {
                arity(2)?;
                let Datum::String(field) = &args[0] else {
                    return Err(EvalError::Internal(format!("extract field {:?}", args[0])));
                };
                if *self == PgFunc::Extract {
                    super::extract::extract(field, &args[1])
                } else {
                    super::extract::date_part(field, &args[1])
                }
            }
            PgFunc::ByteaLength | PgFunc::OctetLength => {
                arity(1)?;
                let n = bytes_of(&args[0])?.len();
                i32::try_from(n)
                    .map(Datum::Int32)
                    .map_err(|_| EvalError::OutOfRange("integer".into()))
            }
            PgFunc::Md5 => {
                arity(1)?;
                let digest = md5::Md5::digest(bytes_of(&args[0])?);
                Ok(Datum::String(hex(&digest)))
            }
            PgFunc::Sha256 => {
                arity(1)?;
                let digest = sha2::Sha256::digest(bytes_of(&args[0])?);
                Ok(Datum::Bytes(digest.to_vec()))
            }
            PgFunc::GetByte => {
                arity(2)?;
                let bytes = bytes_of(&args[0])?;
                let Datum::Int32(n) = args[1] else {
                    return Err(EvalError::Internal(format!(
                        "get_byte offset {:?}",
                        args[1]
                    )));
                };
                usize::try_from(n)
                    .ok()
                    .and_then(|i| bytes.get(i))
                    .map(|b| Datum::Int32(i32::from(*b)))
                    .ok_or_else(|| EvalError::Parse {
                        code: ARRAY_SUBSCRIPT_ERROR,
                        message: format!(
                            "index {n} out of valid range, 0..{}",
                            bytes.len() as i64 - 1
                        ),
                    })
            }
        }
    }
}

/// PostgreSQL's `TSROUND`: rounded to microseconds.
fn ts_round(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// An `int32` field of an interval from a double, or PostgreSQL's error.
fn to_i32(x: f64) -> Result<i32, EvalError> {
    if x.is_finite() && x >= f64::from(i32::MIN) && x < -(f64::from(i32::MIN)) {
        Ok(x as i32)
    } else {
        Err(EvalError::OutOfRange("interval".into()))
    }
}

/// `interval_mul` and `interval_div` of PostgreSQL 15: each field scaled
/// (`op`) and truncated, the fractional months spilled into days (30 a
/// month) and the fractional days into the time.
fn interval_scale(
    i: &crate::repr::Interval,
    op: impl Fn(f64) -> f64,
) -> Result<crate::repr::Interval, EvalError> {
    let months_f = op(f64::from(i.months));
    let days_f = op(f64::from(i.days));
    let months = to_i32(months_f)?;
    let mut days = to_i32(days_f)?;
    let month_remainder_days = ts_round((months_f - f64::from(months)) * 30.0);
    let mut sec_remainder = ts_round(
        (days_f - f64::from(days) + month_remainder_days - month_remainder_days.trunc()) * 86_400.0,
    );
    if sec_remainder.abs() >= 86_400.0 {
        let spill = (sec_remainder / 86_400.0).trunc();
        days = to_i32(f64::from(days) + spill)?;
        sec_remainder -= spill * 86_400.0;
    }
    days = to_i32(f64::from(days) + month_remainder_days.trunc())?;
    let micros = (op(i.micros as f64) + sec_remainder * 1e6).round_ties_even();
    if !micros.is_finite() || micros.abs() >= 9.2e18 {
        return Err(EvalError::OutOfRange("interval".into()));
    }
    Ok(crate::repr::Interval {
        months,
        days,
        micros: micros as i64,
    })
}

/// Lower-case hex digits of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_postgres() {
        assert_eq!(
            PgFunc::Md5.eval(vec![Datum::String("abc".into())]),
            Ok(Datum::String("900150983cd24fb0d6963f7d28e17f72".into()))
        );
        let Ok(Datum::Bytes(d)) = PgFunc::Sha256.eval(vec![Datum::Bytes(b"abc".to_vec())]) else {
            panic!("sha256 failed");
        };
        assert_eq!(
            hex(&d),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn get_byte_bounds() {
        let b = Datum::Bytes(vec![1, 2, 3]);
        assert_eq!(
            PgFunc::GetByte.eval(vec![b.clone(), Datum::Int32(1)]),
            Ok(Datum::Int32(2))
        );
        let err = PgFunc::GetByte
            .eval(vec![b, Datum::Int32(3)])
            .expect_err("out of range");
        assert_eq!(err.to_string(), "index 3 out of valid range, 0..2");
        assert_eq!(
            PgFunc::OctetLength.eval(vec![Datum::String("é".into())]),
            Ok(Datum::Int32(2))
        );
    }
}
