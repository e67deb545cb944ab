//! [`Numeric`]: the finite values of SQL's `numeric`, behind one Freshet
//! type so that the rest of Freshet does not name the decimal crate that
//! holds them.
//!
//! Today the value is a `rust_decimal::Decimal`: a 96-bit mantissa and a
//! scale of at most [`Numeric::MAX_SCALE`] digits after the point (about
//! 28 significant digits). PostgreSQL's `numeric` holds far more; a
//! result that does not fit is an error (`22003`) everywhere, never a
//! rounded answer. Widening the representation means changing this file,
//! the row encoding (`row.rs`, tag `NUMERIC`: a new tag keeps rows written
//! by older builds readable) and the places that take the mantissa apart
//! ([`Numeric::mantissa`]: text and binary formats, Avro).
//!
//! The methods follow SQL's needs, not the crate's: arithmetic is checked
//! (`None` on overflow), rounding names its rule ([`NumericRounding`]).

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::{MathematicalOps, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// A finite `numeric` value: a signed integer mantissa and a scale (the
/// digits after the point, kept as written: `1.50` is not `1.5`'s bits,
/// though the two are equal).
///
/// # Invariants
///
/// `|mantissa| <= `[`Numeric::MAX_MANTISSA`] and `scale <=`
/// [`Numeric::MAX_SCALE`] (the wrapped `Decimal`'s own limits). Equality,
/// order and hashing are by value (`1.0 == 1.00`, equal hashes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Numeric(Decimal);

/// How [`Numeric::round_dp_with`] rounds the digits it drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericRounding {
    /// Half away from zero (PostgreSQL's `round` and typmod coercion).
    HalfAwayFromZero,
    /// Half to even (banker's rounding).
    HalfEven,
    /// Towards zero (`trunc`).
    ToZero,
    /// Towards +infinity (`ceil`).
    Up,
    /// Towards -infinity (`floor`).
    Down,
}

impl NumericRounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            NumericRounding::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            NumericRounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            NumericRounding::ToZero => RoundingStrategy::ToZero,
            NumericRounding::Up => RoundingStrategy::ToPositiveInfinity,
            NumericRounding::Down => RoundingStrategy::ToNegativeInfinity,
        }
    }
}

impl Numeric {
    /// `0`.
    pub const ZERO: Numeric = Numeric(Decimal::ZERO);
    /// `1`.
    pub const ONE: Numeric = Numeric(Decimal::ONE);
    /// `-1`.
    pub const NEGATIVE_ONE: Numeric = Numeric(Decimal::NEGATIVE_ONE);
    /// `10`.
    pub const TEN: Numeric = Numeric(Decimal::TEN);
    /// The largest value held (`2^96 - 1`).
    pub const MAX: Numeric = Numeric(Decimal::MAX);
    /// The smallest value held (`-(2^96 - 1)`).
    pub const MIN: Numeric = Numeric(Decimal::MIN);
    /// The most digits after the point a value keeps.
    pub const MAX_SCALE: u32 = 28;
    /// The largest magnitude of a mantissa.
    pub const MAX_MANTISSA: u128 = (1u128 << 96) - 1;
    /// Bytes of [`Numeric::to_bytes`].
    pub const BYTES: usize = 16;

    /// `mantissa * 10^-scale`.
    ///
    /// # Panics
    ///
    /// If `scale` exceeds [`Numeric::MAX_SCALE`]: for constants and
    /// scales already checked.
    #[inline]
    pub fn new(mantissa: i64, scale: u32) -> Numeric {
        Numeric(Decimal::new(mantissa, scale))
    }

    /// `mantissa * 10^-scale`, or `None` where the mantissa or scale is
    /// beyond what a value holds.
    #[inline]
    pub fn try_from_i128_with_scale(mantissa: i128, scale: u32) -> Option<Numeric> {
        Decimal::try_from_i128_with_scale(mantissa, scale)
            .ok()
            .map(Numeric)
    }

    /// The mantissa: the value times `10^scale`.
    #[inline]
    pub fn mantissa(&self) -> i128 {
        self.0.mantissa()
    }

    /// The digits after the point.
    #[inline]
    pub fn scale(&self) -> u32 {
        self.0.scale()
    }

    /// Whether the value is zero (of any scale, either sign).
    #[inline]
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Whether the sign bit is set (a zero may carry it: `-0.0`).
    #[inline]
    pub fn is_sign_negative(&self) -> bool {
        self.0.is_sign_negative()
    }

    /// Whether the sign bit is clear.
    #[inline]
    pub fn is_sign_positive(&self) -> bool {
        self.0.is_sign_positive()
    }

    /// `-1`, `0` or `1` (scale 0).
    #[inline]
    pub fn signum(&self) -> Numeric {
        if self.0.is_zero() {
            Numeric::ZERO
        } else if self.0.is_sign_negative() {
            Numeric::NEGATIVE_ONE
        } else {
            Numeric::ONE
        }
    }

    /// The magnitude (never overflows).
    #[inline]
    pub fn abs(&self) -> Numeric {
        Numeric(self.0.abs())
    }

    /// `self + other` exactly, `None` where the exact sum does not fit.
    /// The scale is the larger of the two (or, where one operand is zero,
    /// the other's: callers pad it, see `expr::func`).
    #[inline]
    pub fn checked_add(self, other: Numeric) -> Option<Numeric> {
        let r = self.0.checked_add(other.0)?;
        self.exact(other, r, self.scale().max(other.scale()))
    }

    /// `self - other` exactly, `None` where it does not fit.
    #[inline]
    pub fn checked_sub(self, other: Numeric) -> Option<Numeric> {
        let r = self.0.checked_sub(other.0)?;
        self.exact(other, r, self.scale().max(other.scale()))
    }

    /// `self * other` exactly (scale: the sum of the two), `None` where
    /// it does not fit — PostgreSQL's product keeps every digit, so a
    /// rounded one would be a wrong answer.
    #[inline]
    pub fn checked_mul(self, other: Numeric) -> Option<Numeric> {
        let r = self.0.checked_mul(other.0)?;
        self.exact(other, r, self.scale() + other.scale())
    }

    /// `self + other`, its fraction rounded to fit (`None` only where the
    /// integer part does not): for callers that reproduce a PostgreSQL
    /// computation whose own intermediate scale is smaller.
    #[inline]
    pub fn checked_add_rounded(self, other: Numeric) -> Option<Numeric> {
        self.0.checked_add(other.0).map(Numeric)
    }

    /// `self * other`, its fraction rounded to fit (`None` only where the
    /// integer part does not): for callers whose operands are already
    /// rounded quotients.
    #[inline]
    pub fn checked_mul_rounded(self, other: Numeric) -> Option<Numeric> {
        self.0.checked_mul(other.0).map(Numeric)
    }

    /// `r`, the crate's result of `self` op `other`, if it is exact:
    /// `Decimal` gives up digits after the point (a smaller scale than
    /// `scale`) only to make a result fit, except that a zero operand
    /// gives the other operand back as it is.
    #[inline]
    fn exact(self, other: Numeric, r: Decimal, scale: u32) -> Option<Numeric> {
        if r.scale() >= scale || self.is_zero() || other.is_zero() {
            Some(Numeric(r))
        } else {
            None
        }
    }

    /// `self / other` to as many digits as fit, `None` on overflow or a
    /// zero divisor. Callers round it to PostgreSQL's result scale.
    #[inline]
    pub fn checked_div(self, other: Numeric) -> Option<Numeric> {
        self.0.checked_div(other.0).map(Numeric)
    }

    /// The remainder of truncated division (sign of `self`), `None` for a
    /// zero divisor.
    #[inline]
    pub fn checked_rem(self, other: Numeric) -> Option<Numeric> {
        self.0.checked_rem(other.0).map(Numeric)
    }

    /// `self` to the integer power `exp` (`None` on overflow).
    #[inline]
    pub fn checked_powi(self, exp: i64) -> Option<Numeric> {
        self.0.checked_powi(exp).map(Numeric)
    }

    /// Rounded to `dp` digits after the point by `rounding` (a value
    /// with fewer digits is unchanged, not padded).
    #[inline]
    pub fn round_dp_with(self, dp: u32, rounding: NumericRounding) -> Numeric {
        Numeric(self.0.round_dp_with_strategy(dp, rounding.strategy()))
    }

    /// Rounded to `dp` digits after the point, half to even.
    #[inline]
    pub fn round_dp(self, dp: u32) -> Numeric {
        Numeric(self.0.round_dp(dp))
    }

    /// The integer part (towards zero), scale 0.
    #[inline]
    pub fn trunc(self) -> Numeric {
        Numeric(self.0.trunc())
    }

    /// The fractional part (sign of `self`).
    #[inline]
    pub fn fract(self) -> Numeric {
        Numeric(self.0.fract())
    }

    /// The largest integer not above the value.
    #[inline]
    pub fn floor(self) -> Numeric {
        Numeric(self.0.floor())
    }

    /// The smallest integer not below the value.
    #[inline]
    pub fn ceil(self) -> Numeric {
        Numeric(self.0.ceil())
    }

    /// The same value without trailing zeros after the point (`1.50` →
    /// `1.5`, `-0` → `0`).
    #[inline]
    pub fn normalize(self) -> Numeric {
        Numeric(self.0.normalize())
    }

    /// Sets the scale to `scale` (padding with zeros or rounding half away
    /// from zero); where the padded mantissa would not fit, keeps as many
    /// digits as do.
    #[inline]
    pub fn rescale(&mut self, scale: u32) {
        self.0.rescale(scale);
    }

    /// The same mantissa at scale `scale` (the value times
    /// `10^(self.scale() - scale)`), `None` beyond [`Numeric::MAX_SCALE`].
    #[inline]
    pub fn with_scale(self, scale: u32) -> Option<Numeric> {
        let mut d = self.0;
        d.set_scale(scale).ok()?;
        Some(Numeric(d))
    }

    /// The nearest `f64`.
    #[inline]
    pub fn to_f64(&self) -> Option<f64> {
        self.0.to_f64()
    }

    /// The value, which must be an integer, as `i64` (fraction truncated;
    /// `None` out of range).
    #[inline]
    pub fn to_i64(&self) -> Option<i64> {
        self.0.to_i64()
    }

    /// As [`Numeric::to_i64`], for `i32`.
    #[inline]
    pub fn to_i32(&self) -> Option<i32> {
        self.0.to_i32()
    }

    /// As [`Numeric::to_i64`], for `i128`.
    #[inline]
    pub fn to_i128(&self) -> Option<i128> {
        self.0.to_i128()
    }

    /// The square root to as many digits as fit (`None` if negative).
    #[inline]
    pub fn sqrt(&self) -> Option<Numeric> {
        self.0.sqrt().map(Numeric)
    }

    /// The natural logarithm (the value must be positive).
    #[inline]
    pub fn ln(&self) -> Numeric {
        Numeric(self.0.ln())
    }

    /// The base-10 logarithm (the value must be positive).
    #[inline]
    pub fn log10(&self) -> Numeric {
        Numeric(self.0.log10())
    }

    /// `e^self`, `None` on overflow.
    #[inline]
    pub fn checked_exp(&self) -> Option<Numeric> {
        self.0.checked_exp().map(Numeric)
    }

    /// The value from a decimal string in scientific notation
    /// (`1.5e-3`), `None` if not one or beyond the range.
    #[inline]
    pub fn from_scientific(text: &str) -> Option<Numeric> {
        Decimal::from_scientific(text).ok().map(Numeric)
    }

    /// The fixed-width encoding [`Numeric::from_bytes`] reads back (the
    /// row format's payload).
    #[inline]
    pub fn to_bytes(&self) -> [u8; Numeric::BYTES] {
        self.0.serialize()
    }

    /// Whether `bytes` (at least [`Numeric::BYTES`] of them) start with
    /// an encoding [`Numeric::from_bytes`] accepts: a scale of at most
    /// [`Numeric::MAX_SCALE`] (it lives in bits 16..24 of the first,
    /// little-endian, word).
    #[inline]
    pub fn bytes_are_valid(bytes: &[u8]) -> bool {
        bytes
            .get(2)
            .is_some_and(|scale| u32::from(*scale) <= Numeric::MAX_SCALE)
    }

    /// Reads [`Numeric::to_bytes`].
    #[inline]
    pub fn from_bytes(bytes: [u8; Numeric::BYTES]) -> Numeric {
        Numeric(Decimal::deserialize(bytes))
    }
}

impl std::ops::Neg for Numeric {
    type Output = Numeric;

    /// The negation (never overflows: the range is symmetric).
    #[inline]
    fn neg(self) -> Numeric {
        Numeric(-self.0)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Numeric {
            #[inline]
            fn from(v: $t) -> Numeric {
                Numeric(Decimal::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl fmt::Display for Numeric {
    /// PostgreSQL's output: every digit of the scale, no exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::strconv::format_numeric(self))
    }
}

impl FromStr for Numeric {
    type Err = crate::ParseError;

    /// PostgreSQL's `numeric_in` (see [`crate::strconv::parse_numeric`]).
    fn from_str(text: &str) -> Result<Numeric, crate::ParseError> {
        crate::strconv::parse_numeric(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Numeric {
        text.parse().expect("a numeric")
    }

    #[test]
    fn bytes_round_trip_and_scale_check() {
        for text in [
            "0",
            "-0.00",
            "1.50",
            "-12345.678",
            "79228162514264337593543950335",
        ] {
            let v = n(text);
            let bytes = v.to_bytes();
            assert!(Numeric::bytes_are_valid(&bytes));
            let back = Numeric::from_bytes(bytes);
            assert_eq!(back, v);
            assert_eq!(back.scale(), v.scale(), "{text} keeps its scale");
        }
        let mut bytes = n("1.5").to_bytes();
        bytes[2] = 29;
        assert!(!Numeric::bytes_are_valid(&bytes));
        assert!(!Numeric::bytes_are_valid(&bytes[..2]));
    }

    #[test]
    fn text_keeps_the_scale() {
        assert_eq!(n("1.50").to_string(), "1.50");
        assert_eq!(n("-0.00").to_string(), "0.00");
        assert_eq!(n("1.5e3").to_string(), "1500");
        assert_eq!(n("1.0"), n("1.00"));
    }

    #[test]
    fn overflow_is_none() {
        assert_eq!(Numeric::MAX.checked_add(Numeric::ONE), None);
        assert_eq!(Numeric::MIN.checked_sub(Numeric::ONE), None);
        assert_eq!(Numeric::MAX.checked_mul(Numeric::TEN), None);
        assert_eq!(Numeric::ONE.checked_div(Numeric::ZERO), None);
        // Exact or nothing: 29 significant digits need the 30th dropped.
        let big = n("1234567890123456789012345678.9");
        assert_eq!(big.checked_add(n("0.01")), None);
        assert_eq!(
            n("0.000000000000001").checked_mul(n("0.00000000000001")),
            None
        );
        assert_eq!(
            n("0.0000000000001")
                .checked_mul(n("0.000000000000001"))
                .map(|p| p.to_string()),
            Some("0.0000000000000000000000000001".into())
        );
        assert_eq!(
            big.checked_add(n("0.1")).map(|s| s.to_string()),
            Some("1234567890123456789012345679.0".into())
        );
        assert_eq!(n("0.00").checked_add(n("1.5")), Some(n("1.5")));
        assert_eq!(
            n("2.5").checked_mul(n("4")).map(|p| p.to_string()),
            Some("10.0".into())
        );
        assert_eq!(
            Numeric::try_from_i128_with_scale(1, Numeric::MAX_SCALE + 1),
            None
        );
        assert_eq!(
            Numeric::try_from_i128_with_scale(Numeric::MAX_MANTISSA as i128 + 1, 0),
            None
        );
        assert_eq!(n("1.5").with_scale(Numeric::MAX_SCALE + 1), None);
        assert_eq!(n("15").with_scale(1), Some(n("1.5")));
    }

    #[test]
    fn rounding_rules() {
        let r = |text: &str, rule| n(text).round_dp_with(0, rule).to_string();
        assert_eq!(r("2.5", NumericRounding::HalfAwayFromZero), "3");
        assert_eq!(r("-2.5", NumericRounding::HalfAwayFromZero), "-3");
        assert_eq!(r("2.5", NumericRounding::HalfEven), "2");
        assert_eq!(r("-2.7", NumericRounding::ToZero), "-2");
        assert_eq!(r("-2.1", NumericRounding::Down), "-3");
        assert_eq!(r("2.1", NumericRounding::Up), "3");
        assert_eq!(n("-0.5").signum(), Numeric::NEGATIVE_ONE);
        assert_eq!(n("0.000").signum(), Numeric::ZERO);
    }
}
