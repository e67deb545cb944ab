//! `numeric` `sqrt`, `exp`, `ln`, `log`, `log10`, `power` (and `^`) and
//! `factorial`, with PostgreSQL 15's result scales (its `numeric.c`:
//! `numeric_sqrt`, `numeric_exp`, `numeric_ln`, `log_var`, `power_var`
//! and `power_var_int`, `numeric_fac`).
//!
//! Each result is computed in fixed point on big integers with guard
//! digits beyond PostgreSQL's result scale, then rounded half away from
//! zero to that scale (an integer power and `sqrt` exactly). Freshet's
//! `numeric` ([`Numeric`]) holds up to 1000 digits each side of the point,
//! as far as PostgreSQL's display scale goes; a result too large for it is
//! `22003`.

use crate::repr::Numeric;
use num_bigint::{BigInt, Sign};
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::error::EvalError;
use crate::repr::{Datum, SqlState};

/// PostgreSQL's `NUMERIC_MIN_SIG_DIGITS`.
const MIN_SIG_DIGITS: i64 = 16;
/// PostgreSQL's `NUMERIC_MAX_DISPLAY_SCALE`.
const MAX_DISPLAY_SCALE: i64 = 1000;
/// `log10(e)` as PostgreSQL's `numeric.c` spells it: its result scales
/// truncate estimates computed with exactly this value.
#[allow(clippy::approx_constant)]
const PG_LOG10_E: f64 = 0.434294481903252;

/// A function of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumericMathFunc {
    /// `sqrt(numeric)`.
    Sqrt,
    /// `exp(numeric)`.
    Exp,
    /// `ln(numeric)`.
    Ln,
    /// `log(numeric)` and `log10(numeric)`: base 10.
    Log10,
    /// `log(base numeric, x numeric)`.
    Log,
    /// `power(numeric, numeric)` and `numeric ^ numeric`.
    Power,
    /// `factorial(bigint) → numeric`.
    Factorial,
}

impl NumericMathFunc {
    /// The SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            NumericMathFunc::Sqrt => "sqrt",
            NumericMathFunc::Exp => "exp",
            NumericMathFunc::Ln => "ln",
            NumericMathFunc::Log10 | NumericMathFunc::Log => "log",
            NumericMathFunc::Power => "power",
            NumericMathFunc::Factorial => "factorial",
        }
    }

    /// Applies the function (strict).
    pub fn eval(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        if args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        if args.iter().any(|a| matches!(a, Datum::NumericNaN)) {
            return Ok(nan_result(self, &args));
        }
        let num = |d: &Datum| match d {
            Datum::Numeric(d) => Ok(d.clone()),
            Datum::Int16(v) => Ok(Numeric::from(*v)),
            Datum::Int32(v) => Ok(Numeric::from(*v)),
            Datum::Int64(v) => Ok(Numeric::from(*v)),
            other => Err(EvalError::Internal(format!(
                "{} applied to {other:?}",
                self.name()
            ))),
        };
        let result = match (self, args.as_slice()) {
            (NumericMathFunc::Sqrt, [x]) => sqrt(&num(x)?)?,
            (NumericMathFunc::Exp, [x]) => exp(&num(x)?)?,
            (NumericMathFunc::Ln, [x]) => ln(&num(x)?)?,
            (NumericMathFunc::Log10, [x]) => log(&Numeric::TEN, &num(x)?)?,
            (NumericMathFunc::Log, [b, x]) => log(&num(b)?, &num(x)?)?,
            (NumericMathFunc::Power, [x, y]) => power(&num(x)?, &num(y)?)?,
            (NumericMathFunc::Factorial, [Datum::Int64(n)]) => factorial(*n)?,
            _ => {
                return Err(EvalError::Internal(format!(
                    "{} applied to {args:?}",
                    self.name()
                )));
            }
        };
        Ok(Datum::Numeric(result))
    }
}

/// The result for arguments that include `NaN`, as PostgreSQL's
/// `numeric_power` and kin: `NaN`, except that `1 ^ NaN` and `NaN ^ 0` are
/// `1` (PostgreSQL's constant one, scale 0).
fn nan_result(func: &NumericMathFunc, args: &[Datum]) -> Datum {
    let is = |d: &Datum, v: Numeric| matches!(d, Datum::Numeric(x) if *x == v);
    match (func, args) {
        (NumericMathFunc::Power, [x, y]) if is(x, Numeric::ONE) || is(y, Numeric::ZERO) => {
            Datum::Numeric(Numeric::ONE)
        }
        _ => Datum::NumericNaN,
    }
}

fn error(code: &[u8; 5], message: &str) -> EvalError {
    EvalError::Parse {
        code: SqlState(*code),
        message: message.into(),
    }
}

fn pow10(n: i64) -> BigInt {
    BigInt::from(10).pow(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

/// `x` as an integer at `scale` digits after the point (truncated).
fn to_fixed(x: &Numeric, scale: i64) -> BigInt {
    let (m, s) = x.to_big_parts();
    let s = i64::from(s);
    if scale >= s {
        m * pow10(scale - s)
    } else {
        m / pow10(s - scale)
    }
}

/// `v / 10^from` rounded half away from zero to `to` digits after the
/// point (`to <= from`).
fn round_fixed(v: &BigInt, from: i64, to: i64) -> BigInt {
    if to >= from {
        return v * pow10(to - from);
    }
    let div = pow10(from - to);
    let half = &div / 2;
    let mag: BigInt = (v.abs() + half) / div;
    if v.is_negative() { -mag } else { mag }
}

/// The [`Numeric`] `v / 10^scale`, if it is within Freshet's limits
/// (1000 digits each side of the point); PostgreSQL's answer has exactly
/// this scale, so one beyond them is `22003`, never rounded. (A big
/// integer has no negative zero, so neither has the result.)
fn to_decimal(v: BigInt, scale: i64, func: &str) -> Result<Numeric, EvalError> {
    let _ = func;
    u32::try_from(scale.max(0))
        .ok()
        .and_then(|scale| Numeric::from_big_parts(v, scale))
        .ok_or(EvalError::NumericOverflow)
}

/// A `numeric`'s base-10000 digits (PostgreSQL's `NumericVar`): the
/// weight of the first and its non-zero-trimmed digits.
fn nbase_digits(x: &Numeric) -> (i64, Vec<u32>) {
    let (m, scale) = x.to_big_parts();
    let digits = m.magnitude().to_string();
    let scale = scale as usize;
    let (int_part, frac_part) = if digits.len() > scale {
        digits.split_at(digits.len() - scale)
    } else {
        ("", digits.as_str())
    };
    let frac_full = format!("{}{}", "0".repeat(scale - frac_part.len()), frac_part);
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_s = format!("{}{}", "0".repeat(int_pad), int_part);
    let frac_pad = (4 - frac_full.len() % 4) % 4;
    let frac_s = format!("{}{}", frac_full, "0".repeat(frac_pad));
    let all = format!("{int_s}{frac_s}");
    let groups: Vec<u32> = all
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or("0").parse().unwrap_or(0))
        .collect();
    let mut weight = (int_s.len() / 4) as i64 - 1;
    let first = groups.iter().position(|&g| g != 0);
    let Some(first) = first else {
        return (0, Vec::new());
    };
    weight -= first as i64;
    let last = groups.iter().rposition(|&g| g != 0).unwrap_or(first);
    (weight, groups[first..=last].to_vec())
}

/// `estimate_ln_dweight`.
fn estimate_ln_dweight(x: &Numeric) -> i64 {
    if x.is_sign_negative() || x.is_zero() {
        return 0;
    }
    let point_nine = Numeric::new(9, 1);
    let one_point_one = Numeric::new(11, 1);
    if *x >= point_nine && *x <= one_point_one {
        let d = x
            .clone()
            .checked_sub(&Numeric::ONE)
            .unwrap_or(Numeric::ZERO);
        let (weight, digits) = nbase_digits(&d);
        match digits.first() {
            Some(&first) => weight * 4 + f64::from(first).log10() as i64,
            None => 0,
        }
    } else {
        let (weight, digits) = nbase_digits(x);
        let Some(&first) = digits.first() else {
            return 0;
        };
        let mut value = i64::from(first);
        let mut dweight = weight * 4;
        if digits.len() > 1 {
            value = value * 10000 + i64::from(digits[1]);
            dweight -= 4;
        }
        let ln_var = (value as f64).ln() + dweight as f64 * std::f64::consts::LN_10;
        ln_var.abs().log10() as i64
    }
}

fn clamp_scale(rscale: i64) -> i64 {
    rscale.clamp(0, MAX_DISPLAY_SCALE)
}

/// `ln(2)` at `w` digits after the point (`2 atanh(1/3)`).
fn ln2_fixed(w: i64) -> BigInt {
    let one = pow10(w);
    atanh_fixed(&(&one / 3), w) * 2
}

/// `atanh(z)` at scale `w`, for `|z| <= 1/3`.
fn atanh_fixed(z: &BigInt, w: i64) -> BigInt {
    let one = pow10(w);
    let z2 = z * z / &one;
    let mut power = z.clone();
    let mut sum = z.clone();
    let mut k: u32 = 1;
    loop {
        power = &power * &z2 / &one;
        k += 2;
        let term = &power / BigInt::from(k);
        if term.is_zero() {
            break;
        }
        sum += term;
    }
    sum
}

/// `ln(x)` at scale `w`, for `x > 0` given at scale `w` (a few units in
/// the last place of error).
fn ln_fixed(x: &BigInt, w: i64) -> BigInt {
    let one = pow10(w);
    let half = &one / 2;
    let mut y = x.clone();
    let mut k: i64 = 0;
    while y >= one {
        y /= 2;
        k += 1;
    }
    while y < half {
        y *= 2;
        k -= 1;
    }
    // y in [1/2, 1): ln y = 2 atanh((y - 1) / (y + 1)).
    let z = (&y - &one) * &one / (&y + &one);
    let ln_y = atanh_fixed(&z, w) * 2;
    ln_y + ln2_fixed(w) * k
}

/// `e^x` at scale `w`, for `x` at scale `w`.
fn exp_fixed(x: &BigInt, w: i64) -> BigInt {
    let one = pow10(w);
    // Halve until |r| < 2^-8, sum the series, square back.
    let mut r = x.clone();
    let mut n = 0u32;
    let limit = &one >> 8;
    while r.abs() > limit {
        r /= 2;
        n += 1;
    }
    let mut sum = one.clone();
    let mut term = one.clone();
    let mut i: u32 = 1;
    loop {
        term = &term * &r / &one / BigInt::from(i);
        if term.is_zero() {
            break;
        }
        sum += &term;
        i += 1;
    }
    for _ in 0..n {
        sum = &sum * &sum / &one;
    }
    sum
}

fn require_positive_for_log(x: &Numeric) -> Result<(), EvalError> {
    if x.is_zero() {
        return Err(error(b"2201E", "cannot take logarithm of zero"));
    }
    if x.is_sign_negative() {
        return Err(error(
            b"2201E",
            "cannot take logarithm of a negative number",
        ));
    }
    Ok(())
}

/// `numeric_sqrt`.
pub fn sqrt(x: &Numeric) -> Result<Numeric, EvalError> {
    if x.is_sign_negative() && !x.is_zero() {
        return Err(error(
            b"2201F",
            "cannot take square root of a negative number",
        ));
    }
    let (weight, _) = nbase_digits(x);
    // C's integer division truncates toward zero.
    let sweight = (weight + 1) * 4 / 2 - 1;
    let rscale = clamp_scale((MIN_SIG_DIGITS - sweight).max(i64::from(x.scale())));
    // floor(sqrt(x) * 10^(rscale+1)), then round the last digit: the
    // truncated root decides the rounding exactly.
    let n = to_fixed(&x.abs(), 2 * (rscale + 1));
    let root = n.sqrt();
    to_decimal(round_fixed(&root, rscale + 1, rscale), rscale, "sqrt")
}

/// `numeric_exp`.
pub fn exp(x: &Numeric) -> Result<Numeric, EvalError> {
    // Beyond f64's range only in magnitude: as large as f64 goes.
    let huge = if x.is_sign_negative() {
        f64::MIN
    } else {
        f64::MAX
    };
    let val = x.to_f64().unwrap_or(huge) * PG_LOG10_E;
    let val = val.clamp(-2000.0, 2000.0);
    let rscale = clamp_scale((MIN_SIG_DIGITS - val as i64).max(i64::from(x.scale())));
    // Past Freshet's 1000 integer digits (PostgreSQL's limit is larger).
    if val > f64::from(Numeric::MAX_INTEGER_DIGITS) + 1.0 {
        return Err(EvalError::NumericOverflow);
    }
    let w = rscale + (val.max(0.0) as i64) + 30;
    let e = exp_fixed(&to_fixed(x, w), w);
    to_decimal(round_fixed(&e, w, rscale), rscale, "exp")
}

/// `numeric_ln`.
pub fn ln(x: &Numeric) -> Result<Numeric, EvalError> {
    require_positive_for_log(x)?;
    let rscale = clamp_scale((MIN_SIG_DIGITS - estimate_ln_dweight(x)).max(i64::from(x.scale())));
    let w = rscale + 30;
    let l = ln_fixed(&to_fixed(x, w), w);
    to_decimal(round_fixed(&l, w, rscale), rscale, "ln")
}

/// `log_var`: `log(base, x)`.
pub fn log(base: &Numeric, x: &Numeric) -> Result<Numeric, EvalError> {
    require_positive_for_log(base)?;
    require_positive_for_log(x)?;
    let ln_base_dweight = estimate_ln_dweight(base);
    let ln_num_dweight = estimate_ln_dweight(x);
    let result_dweight = ln_num_dweight - ln_base_dweight;
    let rscale = clamp_scale(
        (MIN_SIG_DIGITS - result_dweight)
            .max(i64::from(base.scale()))
            .max(i64::from(x.scale())),
    );
    if *base == Numeric::ONE {
        return Err(EvalError::DivisionByZero);
    }
    let w = rscale + 30 + ln_num_dweight.abs() + ln_base_dweight.abs() + result_dweight.abs();
    let ln_x = ln_fixed(&to_fixed(x, w), w);
    let ln_b = ln_fixed(&to_fixed(base, w), w);
    if ln_b.is_zero() {
        return Err(EvalError::DivisionByZero);
    }
    // The quotient at scale rscale + 1, then rounded.
    let q = ln_x * pow10(rscale + 1) / ln_b;
    to_decimal(round_fixed(&q, rscale + 1, rscale), rscale, "log")
}

/// `numeric_power` / `power_var`.
pub fn power(base: &Numeric, exp_: &Numeric) -> Result<Numeric, EvalError> {
    if base.is_zero() && exp_.is_sign_negative() && !exp_.is_zero() {
        return Err(error(
            b"2201F",
            "zero raised to a negative power is undefined",
        ));
    }
    let is_integer = exp_.clone().fract().is_zero();
    if base.is_sign_negative() && !base.is_zero() && !is_integer {
        return Err(error(
            b"2201F",
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    if is_integer
        && let Some(n) = exp_
            .clone()
            .trunc()
            .to_i64()
            .filter(|n| i32::try_from(*n).is_ok())
    {
        let rscale = clamp_scale(MIN_SIG_DIGITS.max(i64::from(base.scale())));
        return power_int(base, n, rscale);
    }
    if base.is_zero() {
        return to_decimal(BigInt::zero(), MIN_SIG_DIGITS, "power");
    }
    // The result scale, from a low-precision exp * ln(base) as PostgreSQL
    // computes it (ln(base) to about 8 significant digits).
    let ln_dweight = estimate_ln_dweight(base);
    let local_rscale = (8 - ln_dweight).max(0);
    let lw = local_rscale + 10;
    let ln_base_low = round_fixed(&ln_fixed(&to_fixed(base, lw), lw), lw, local_rscale);
    let exp_fixed_val = to_fixed(exp_, i64::from(exp_.scale()));
    let ln_num_low = round_fixed(
        &(ln_base_low * exp_fixed_val),
        local_rscale + i64::from(exp_.scale()),
        local_rscale,
    );
    let val = ln_num_low.to_f64().unwrap_or(f64::MAX) / 10f64.powi(local_rscale as i32);
    if val.abs() > 2000.0 * 3.01 {
        if val > 0.0 {
            return Err(EvalError::NumericOverflow);
        }
        return to_decimal(BigInt::zero(), MAX_DISPLAY_SCALE, "power");
    }
    let val = val * PG_LOG10_E;
    let rscale = clamp_scale(
        (MIN_SIG_DIGITS - val as i64)
            .max(i64::from(base.scale()))
            .max(i64::from(exp_.scale())),
    );
    if val > f64::from(Numeric::MAX_INTEGER_DIGITS) + 1.0 {
        return Err(EvalError::NumericOverflow);
    }
    let exp_digits = exp_.clone().trunc().abs().to_string().len() as i64;
    let w = rscale + (val.max(0.0) as i64) + exp_digits + 30;
    let ln_b = ln_fixed(&to_fixed(base, w), w);
    let product = ln_b * to_fixed(exp_, i64::from(exp_.scale())) / pow10(i64::from(exp_.scale()));
    let e = exp_fixed(&product, w);
    to_decimal(round_fixed(&e, w, rscale), rscale, "power")
}

/// `power_var_int`: `base ^ n` exactly, rounded to `rscale`.
fn power_int(base: &Numeric, n: i64, rscale: i64) -> Result<Numeric, EvalError> {
    if n == 0 {
        return to_decimal(pow10(rscale), rscale, "power");
    }
    if base.is_zero() {
        return to_decimal(BigInt::zero(), rscale, "power");
    }
    let (m, s) = base.to_big_parts();
    let s = i64::from(s);
    let f = n as f64 * base.abs().to_f64().unwrap_or(f64::MAX).log10();
    if f > 3.0 * 32767.0 * 4.0 {
        return Err(EvalError::NumericOverflow);
    }
    if f > f64::from(Numeric::MAX_INTEGER_DIGITS) + 1.0 {
        return Err(EvalError::NumericOverflow);
    }
    if f + 1.0 < -(rscale as f64) {
        return to_decimal(BigInt::zero(), rscale, "power");
    }
    let abs_n = n.unsigned_abs();
    let digits = m.abs().to_string().len() as u64;
    if abs_n.saturating_mul(digits) > 200_000 {
        return Err(EvalError::Unsupported(
            "power of a numeric close to 1 with an exponent this large".into(),
        ));
    }
    let mp = m.pow(u32::try_from(abs_n).unwrap_or(u32::MAX));
    let scale = s * abs_n as i64;
    let v = if n > 0 {
        round_fixed(&mp, scale, rscale)
    } else {
        // 10^scale / mp, rounded to rscale.
        let num = pow10(scale + rscale);
        let (q, r) = (&num / &mp, &num % &mp);
        let q = q.abs();
        let bump = r.abs() * 2 >= mp.abs();
        let mag = if bump { q + BigInt::one() } else { q };
        if mp.sign() == Sign::Minus { -mag } else { mag }
    };
    to_decimal(v, rscale, "power")
}

/// `numeric_fac`: `factorial(bigint)`.
pub fn factorial(n: i64) -> Result<Numeric, EvalError> {
    if n < 0 {
        return Err(EvalError::InvalidParameter(
            "factorial of a negative number is undefined".into(),
        ));
    }
    if n > 32177 {
        return Err(EvalError::NumericOverflow);
    }
    let mut acc = Numeric::ONE;
    for i in 2..=n {
        acc = acc
            .checked_mul(&Numeric::from(i))
            .ok_or(EvalError::NumericOverflow)?;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Numeric {
        Numeric::from_str(s).unwrap()
    }

    #[test]
    fn results_and_scales_match_postgres() {
        assert_eq!(sqrt(&d("2")).unwrap().to_string(), "1.414213562373095");
        assert_eq!(ln(&d("2")).unwrap().to_string(), "0.6931471805599453");
        assert_eq!(exp(&d("1")).unwrap().to_string(), "2.7182818284590452");
        assert_eq!(
            power(&d("2"), &d("10")).unwrap().to_string(),
            "1024.0000000000000000"
        );
        assert_eq!(
            power(&d("10"), &d("-20")).unwrap().to_string(),
            "0.0000000000000000"
        );
        assert_eq!(
            log(&d("2"), &d("8")).unwrap().to_string(),
            "3.0000000000000000"
        );
        assert_eq!(factorial(5).unwrap().to_string(), "120");
    }
}
