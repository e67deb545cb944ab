//! The wide form of [`Numeric`]: arithmetic on big-integer mantissas, and
//! the row format's variable-length encoding of a wide value.
//!
//! Every function here works on any two values (compact ones are widened
//! first) and returns through [`Numeric::from_big_parts`], so results land
//! in the compact form whenever they fit.

use std::cmp::Ordering;

use num_bigint::{BigInt, BigUint, Sign};

use super::{Numeric, NumericRounding};

/// The row format's payload of a `numeric`: the compact form's 16 bytes,
/// or the wide form's bytes (tag `NUMERIC_WIDE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumericEncoding {
    /// [`Numeric::to_bytes`].
    Compact([u8; Numeric::BYTES]),
    /// The scale (2 bytes, little-endian), the sign (0 positive, 1
    /// negative), then the magnitude's bytes, little-endian, without
    /// trailing zero bytes (one encoding per value).
    Wide(Vec<u8>),
}

/// `10^n`.
pub(super) fn pow10(n: u32) -> BigUint {
    BigUint::from(10u32).pow(n)
}

/// The number of decimal digits of `m` (1 for zero).
pub(super) fn digits(m: &BigUint) -> u32 {
    let bits = m.bits();
    if bits == 0 {
        return 1;
    }
    // 2^(bits-1) <= m < 2^bits: the digit count is one of two.
    let low = ((bits - 1) as f64 * std::f64::consts::LOG10_2) as u32 + 1;
    if *m >= pow10(low) { low + 1 } else { low }
}

/// Whether `m * 10^-scale` has a magnitude of at most
/// `10^`[`Numeric::MAX_INTEGER_DIGITS`].
pub(super) fn within_limit(m: &BigUint, scale: u32) -> bool {
    let max_digits = scale + Numeric::MAX_INTEGER_DIGITS + 1;
    match digits(m).cmp(&max_digits) {
        Ordering::Less => true,
        Ordering::Equal => *m == pow10(max_digits - 1),
        Ordering::Greater => false,
    }
}

/// The two mantissas at the larger scale, and that scale.
fn aligned(a: &Numeric, b: &Numeric) -> (BigInt, BigInt, u32) {
    let (ma, sa) = a.to_big_parts();
    let (mb, sb) = b.to_big_parts();
    let s = sa.max(sb);
    (
        ma * BigInt::from(pow10(s - sa)),
        mb * BigInt::from(pow10(s - sb)),
        s,
    )
}

/// `a + b` (`a - b` if `subtract`), exact or `None`.
// Off the compact fast path: kept out of its callers' code.
#[cold]
#[inline(never)]
pub(super) fn add(a: &Numeric, b: &Numeric, subtract: bool) -> Option<Numeric> {
    let (x, y, s) = aligned(a, b);
    Numeric::from_big_parts(if subtract { x - y } else { x + y }, s)
}

/// `a * b`, exact or `None`.
// Off the compact fast path: kept out of its callers' code.
#[cold]
#[inline(never)]
pub(super) fn mul(a: &Numeric, b: &Numeric) -> Option<Numeric> {
    let (ma, sa) = a.to_big_parts();
    let (mb, sb) = b.to_big_parts();
    let scale = sa.checked_add(sb)?;
    if scale > Numeric::MAX_SCALE {
        return None;
    }
    Numeric::from_big_parts(ma * mb, scale)
}

/// The remainder of truncated division, `None` for a zero divisor.
// Off the compact fast path: kept out of its callers' code.
#[cold]
#[inline(never)]
pub(super) fn rem(a: &Numeric, b: &Numeric) -> Option<Numeric> {
    if b.is_zero() {
        return None;
    }
    let (x, y, s) = aligned(a, b);
    Numeric::from_big_parts(x % y, s)
}

/// By value.
// Off the compact fast path: kept out of its callers' code.
#[cold]
#[inline(never)]
pub(super) fn cmp(a: &Numeric, b: &Numeric) -> Ordering {
    let sign = |n: &Numeric| {
        if n.is_zero() {
            0
        } else if n.is_sign_negative() {
            -1
        } else {
            1
        }
    };
    let (ga, gb) = (sign(a), sign(b));
    if ga != gb {
        return ga.cmp(&gb);
    }
    let (x, y, _) = aligned(a, b);
    x.cmp(&y)
}

/// `m / 10^drop`, rounded by `rounding`.
pub(super) fn round_mantissa(m: &BigInt, drop: u32, rounding: NumericRounding) -> BigInt {
    if drop == 0 {
        return m.clone();
    }
    divide_rounded(m, &BigInt::from(pow10(drop)), rounding)
}

/// `n / d` (`d` non-zero) rounded to an integer by `rounding`.
fn divide_rounded(n: &BigInt, d: &BigInt, rounding: NumericRounding) -> BigInt {
    let q = n / d;
    let r = n % d;
    if r.sign() == Sign::NoSign {
        return q;
    }
    // The exact quotient is q + r/d; r has n's sign.
    let negative = (n.sign() == Sign::Minus) != (d.sign() == Sign::Minus);
    let away = if negative {
        q.clone() - 1
    } else {
        q.clone() + 1
    };
    let twice = (r.magnitude() * 2u32).cmp(d.magnitude());
    let up = match rounding {
        NumericRounding::ToZero => false,
        NumericRounding::Up => !negative,
        NumericRounding::Down => negative,
        NumericRounding::HalfAwayFromZero => twice != Ordering::Less,
        NumericRounding::HalfEven => match twice {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => q.magnitude().bit(0),
        },
    };
    if up { away } else { q }
}

/// `a / b` rounded by `rounding` to `scale` digits after the point (an
/// i128 computation where the operands allow, else big integers).
pub(super) fn div_to_scale(
    a: &Numeric,
    b: &Numeric,
    scale: u32,
    rounding: NumericRounding,
) -> Option<Numeric> {
    if b.is_zero() || scale > Numeric::MAX_SCALE {
        return None;
    }
    let (sa, sb) = (i64::from(a.scale()), i64::from(b.scale()));
    // q = a.m * 10^(scale + sb - sa) / b.m
    let shift = i64::from(scale) + sb - sa;
    if let (Some(ma), Some(mb)) = (a.mantissa_i128(), b.mantissa_i128())
        && let Some(q) = div_i128(ma, mb, shift, rounding)
    {
        return Numeric::try_from_i128_with_scale(q, scale);
    }
    let (ma, _) = a.to_big_parts();
    let (mb, _) = b.to_big_parts();
    let (n, d) = if shift >= 0 {
        (ma * BigInt::from(pow10(shift as u32)), mb)
    } else {
        (ma, mb * BigInt::from(pow10(shift.unsigned_abs() as u32)))
    };
    Numeric::from_big_parts(divide_rounded(&n, &d, rounding), scale)
}

/// [`div_to_scale`]'s quotient mantissa in `i128`, `None` where an
/// intermediate does not fit.
fn div_i128(ma: i128, mb: i128, shift: i64, rounding: NumericRounding) -> Option<i128> {
    let p = 10i128.checked_pow(u32::try_from(shift.unsigned_abs()).ok()?)?;
    let (n, d) = if shift >= 0 {
        (ma.checked_mul(p)?, mb)
    } else {
        (ma, mb.checked_mul(p)?)
    };
    let q = n.checked_div(d)?;
    let r = n % d;
    if r == 0 {
        return Some(q);
    }
    let negative = (n < 0) != (d < 0);
    let twice = r.unsigned_abs().checked_mul(2)?.cmp(&d.unsigned_abs());
    let up = match rounding {
        NumericRounding::ToZero => false,
        NumericRounding::Up => !negative,
        NumericRounding::Down => negative,
        NumericRounding::HalfAwayFromZero => twice != Ordering::Less,
        NumericRounding::HalfEven => match twice {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => q % 2 != 0,
        },
    };
    Some(if up {
        q + if negative { -1 } else { 1 }
    } else {
        q
    })
}

/// The mantissa and scale without trailing zeros after the point.
pub(super) fn strip_zeros(m: &BigInt, scale: u32) -> (BigInt, u32) {
    let ten = BigInt::from(10u32);
    let mut m = m.clone();
    let mut scale = scale;
    if m.sign() == Sign::NoSign {
        return (m, 0);
    }
    while scale > 0 && (&m % &ten).sign() == Sign::NoSign {
        m /= &ten;
        scale -= 1;
    }
    (m, scale)
}

/// The wide encoding ([`NumericEncoding::Wide`]).
pub(super) fn encode(m: &BigInt, scale: u32) -> Vec<u8> {
    let (sign, magnitude) = m.to_bytes_le();
    let mut out = Vec::with_capacity(3 + magnitude.len());
    // The scale is at most MAX_SCALE (1000), so two bytes hold it.
    out.extend_from_slice(&(scale as u16).to_le_bytes());
    out.push(u8::from(sign == Sign::Minus));
    out.extend_from_slice(&magnitude);
    out
}

/// Reads [`encode`], `None` unless it is well formed: a sign byte of 0 or
/// 1, a non-empty magnitude without trailing zero bytes.
pub(super) fn decode(bytes: &[u8]) -> Option<(BigInt, u32)> {
    let (scale, rest) = bytes.split_first_chunk::<2>()?;
    let (sign, magnitude) = rest.split_first()?;
    if *sign > 1 || magnitude.last().is_none_or(|b| *b == 0) {
        return None;
    }
    let sign = if *sign == 1 { Sign::Minus } else { Sign::Plus };
    Some((
        BigInt::from_bytes_le(sign, magnitude),
        u32::from(u16::from_le_bytes(*scale)),
    ))
}
