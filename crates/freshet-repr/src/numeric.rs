//! [`Numeric`]: the finite values of SQL's `numeric`, behind one Freshet
//! type so that the rest of Freshet does not name the decimal crate that
//! holds them.
//!
//! # Two forms, one value
//!
//! A value is held in one of two forms, chosen by the value alone:
//!
//! * *compact*: a `rust_decimal::Decimal` (16 bytes, no allocation), for
//!   every value whose mantissa is below 2^96 and whose scale is at most
//!   [`Numeric::COMPACT_MAX_SCALE`] (28) — about 28 significant digits,
//!   which covers nearly every value users store. Its arithmetic is the
//!   crate's, as fast as before;
//! * *wide*: a boxed `num_bigint::BigInt` mantissa and a scale, for every
//!   other value up to Freshet's limits: [`Numeric::MAX_INTEGER_DIGITS`]
//!   digits before the point and [`Numeric::MAX_SCALE`] after it (1000
//!   each: any `numeric(p, s)` PostgreSQL accepts fits, and so do sums of
//!   them). PostgreSQL allows more (131072 and 16383); a value beyond
//!   Freshet's limits is `22003`, never a rounded answer.
//!
//! A value that fits the compact form is always compact (every constructor
//! goes through [`Numeric::from_big_parts`] or the crate's own checked
//! arithmetic), so each value has exactly one form, and so one row
//! encoding: the row format keys durable table rows by their bytes
//! (`row.rs`: tag `NUMERIC` for the compact form, unchanged from older
//! builds; `NUMERIC_WIDE` for the rest). Equality, order and hashing are by
//! value across the forms (`1.5 == 1.5000…0` with 40 zeros, one compact and
//! one wide).
//!
//! Why not one fixed-width wide type (such as `fastnum`'s 256-bit `D256`)
//! for everything: a `Datum` must not grow (it is 32 bytes, and a 256-bit
//! mantissa with its scale does not fit beside the tag), and an
//! allocation per value would slow every small value down. `num-bigint`
//! was already built (Avro, `numeric_math`), so the wide form costs no new
//! crate.
//!
//! The methods follow SQL's needs, not the crates': arithmetic is exact or
//! `None` (the caller's `22003`), rounding names its rule
//! ([`NumericRounding`]). Division rounds to a scale the caller chooses
//! (PostgreSQL's `select_div_scale`, in `expr::func`).

mod wide;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use num_bigint::{BigInt, Sign};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use wide::NumericEncoding;

/// A finite `numeric` value: a signed integer mantissa and a scale (the
/// digits after the point, kept as written: `1.50` is not `1.5`'s bits,
/// though the two are equal).
///
/// # Invariants
///
/// The value is compact exactly when its mantissa's magnitude is at most
/// [`Numeric::MAX_MANTISSA`] and its scale at most
/// [`Numeric::COMPACT_MAX_SCALE`]; a wide value is never zero, has a scale
/// of at most [`Numeric::MAX_SCALE`] and a magnitude of at most
/// `10^`[`Numeric::MAX_INTEGER_DIGITS`] (a bound every rounding keeps). Equality,
/// order and hashing are by value (`1.0 == 1.00`, equal hashes).
#[derive(Clone, Debug)]
pub struct Numeric(Repr);

#[derive(Clone, Debug)]
enum Repr {
    Compact(Decimal),
    Wide(Box<Wide>),
}

/// The wide form: `mantissa * 10^-scale`.
#[derive(Clone, Debug)]
struct Wide {
    mantissa: BigInt,
    scale: u32,
}

// A `Datum` holds a `Numeric` inline: the wide form is a pointer, so the
// compact form's 16 bytes and a discriminant are all it takes.
const _: () = assert!(std::mem::size_of::<Numeric>() == 24);

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
    pub const ZERO: Numeric = Numeric(Repr::Compact(Decimal::ZERO));
    /// `1`.
    pub const ONE: Numeric = Numeric(Repr::Compact(Decimal::ONE));
    /// `-1`.
    pub const NEGATIVE_ONE: Numeric = Numeric(Repr::Compact(Decimal::NEGATIVE_ONE));
    /// `10`.
    pub const TEN: Numeric = Numeric(Repr::Compact(Decimal::TEN));
    /// The most digits after the point a value keeps (PostgreSQL's
    /// largest typmod scale and display scale).
    pub const MAX_SCALE: u32 = 1000;
    /// The most digits before the point (PostgreSQL's largest typmod
    /// precision): a magnitude is at most `10^MAX_INTEGER_DIGITS`.
    pub const MAX_INTEGER_DIGITS: u32 = 1000;
    /// The most digits after the point of the compact form.
    pub const COMPACT_MAX_SCALE: u32 = 28;
    /// The largest magnitude of a compact mantissa (`2^96 - 1`).
    pub const MAX_MANTISSA: u128 = (1u128 << 96) - 1;
    /// Bytes of [`Numeric::to_bytes`] (the compact form's encoding).
    pub const BYTES: usize = 16;

    /// `mantissa * 10^-scale`.
    ///
    /// # Panics
    ///
    /// If `scale` exceeds [`Numeric::COMPACT_MAX_SCALE`]: for constants
    /// and scales already checked.
    #[inline]
    pub fn new(mantissa: i64, scale: u32) -> Numeric {
        Numeric(Repr::Compact(Decimal::new(mantissa, scale)))
    }

    /// A zero with `scale` digits after the point (`None` beyond
    /// [`Numeric::MAX_SCALE`]).
    pub fn zero_with_scale(scale: u32) -> Option<Numeric> {
        Numeric::from_big_parts(BigInt::from(0), scale)
    }

    /// `mantissa * 10^-scale`, or `None` where it is beyond Freshet's
    /// limits.
    #[inline]
    pub fn try_from_i128_with_scale(mantissa: i128, scale: u32) -> Option<Numeric> {
        if scale <= Numeric::COMPACT_MAX_SCALE && mantissa.unsigned_abs() <= Numeric::MAX_MANTISSA {
            return Decimal::try_from_i128_with_scale(mantissa, scale)
                .ok()
                .map(|d| Numeric(Repr::Compact(d)));
        }
        Numeric::from_big_parts(BigInt::from(mantissa), scale)
    }

    /// `mantissa * 10^-scale` in whichever form fits, or `None` where it is
    /// beyond Freshet's limits (more than [`Numeric::MAX_SCALE`] digits
    /// after the point or [`Numeric::MAX_INTEGER_DIGITS`] before it).
    pub fn from_big_parts(mantissa: BigInt, scale: u32) -> Option<Numeric> {
        if scale > Numeric::MAX_SCALE {
            return None;
        }
        if scale <= Numeric::COMPACT_MAX_SCALE
            && let Some(m) = mantissa.to_i128()
            && m.unsigned_abs() <= Numeric::MAX_MANTISSA
        {
            return Decimal::try_from_i128_with_scale(m, scale)
                .ok()
                .map(|d| Numeric(Repr::Compact(d)));
        }
        if !wide::within_limit(mantissa.magnitude(), scale) {
            return None;
        }
        Some(Numeric::canonical(mantissa, scale))
    }

    /// `mantissa * 10^-scale` in whichever form fits, for a value known to
    /// be within the limits (a rounding of one that is).
    fn canonical(mantissa: BigInt, scale: u32) -> Numeric {
        if scale <= Numeric::COMPACT_MAX_SCALE
            && let Some(m) = mantissa.to_i128()
            && m.unsigned_abs() <= Numeric::MAX_MANTISSA
            && let Ok(d) = Decimal::try_from_i128_with_scale(m, scale)
        {
            return Numeric(Repr::Compact(d));
        }
        Numeric(Repr::Wide(Box::new(Wide { mantissa, scale })))
    }

    /// The mantissa (the value times `10^scale`) and the scale.
    pub fn to_big_parts(&self) -> (BigInt, u32) {
        match &self.0 {
            Repr::Compact(d) => (BigInt::from(d.mantissa()), d.scale()),
            Repr::Wide(w) => (w.mantissa.clone(), w.scale),
        }
    }

    /// The mantissa as an `i128`, where it fits (always for a compact
    /// value).
    #[inline]
    pub fn mantissa_i128(&self) -> Option<i128> {
        match &self.0 {
            Repr::Compact(d) => Some(d.mantissa()),
            Repr::Wide(w) => w.mantissa.to_i128(),
        }
    }

    /// Whether the value is held in the compact form.
    #[inline]
    pub fn is_compact(&self) -> bool {
        matches!(self.0, Repr::Compact(_))
    }

    /// The digits after the point.
    #[inline]
    pub fn scale(&self) -> u32 {
        match &self.0 {
            Repr::Compact(d) => d.scale(),
            Repr::Wide(w) => w.scale,
        }
    }

    /// The number of digits of the mantissa (1 for zero).
    pub fn mantissa_digits(&self) -> u32 {
        match self.mantissa_i128() {
            Some(m) => m.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1),
            None => wide::digits(self.to_big_parts().0.magnitude()),
        }
    }

    /// The number of digits before the point (0 for a magnitude below 1).
    pub fn integer_digits(&self) -> u32 {
        let (m, scale) = self.to_big_parts();
        wide::digits(m.magnitude()).saturating_sub(scale)
    }

    /// Whether the value is zero (of any scale, either sign).
    #[inline]
    pub fn is_zero(&self) -> bool {
        match &self.0 {
            Repr::Compact(d) => d.is_zero(),
            Repr::Wide(_) => false,
        }
    }

    /// Whether the sign bit is set (a zero may carry it: `-0.0`).
    #[inline]
    pub fn is_sign_negative(&self) -> bool {
        match &self.0 {
            Repr::Compact(d) => d.is_sign_negative(),
            Repr::Wide(w) => w.mantissa.sign() == Sign::Minus,
        }
    }

    /// Whether the sign bit is clear.
    #[inline]
    pub fn is_sign_positive(&self) -> bool {
        !self.is_sign_negative()
    }

    /// `-1`, `0` or `1` (scale 0).
    #[inline]
    pub fn signum(&self) -> Numeric {
        if self.is_zero() {
            Numeric::ZERO
        } else if self.is_sign_negative() {
            Numeric::NEGATIVE_ONE
        } else {
            Numeric::ONE
        }
    }

    /// The magnitude (never overflows).
    #[inline]
    pub fn abs(&self) -> Numeric {
        match &self.0 {
            Repr::Compact(d) => Numeric(Repr::Compact(d.abs())),
            Repr::Wide(w) => Numeric(Repr::Wide(Box::new(Wide {
                mantissa: BigInt::from_biguint(Sign::Plus, w.mantissa.magnitude().clone()),
                scale: w.scale,
            }))),
        }
    }

    /// `self + other` exactly, `None` where the exact sum is beyond the
    /// limits. The scale is the larger of the two (or, where one compact
    /// operand is zero, the other's: callers pad it, see `expr::func`).
    #[inline]
    pub fn checked_add(&self, other: &Numeric) -> Option<Numeric> {
        if let (Repr::Compact(a), Repr::Compact(b)) = (&self.0, &other.0)
            && let Some(r) = a.checked_add(*b)
            && exact(a, b, &r, a.scale().max(b.scale()))
        {
            return Some(Numeric(Repr::Compact(r)));
        }
        wide::add(self, other, false)
    }

    /// `self - other` exactly, `None` where it is beyond the limits.
    #[inline]
    pub fn checked_sub(&self, other: &Numeric) -> Option<Numeric> {
        if let (Repr::Compact(a), Repr::Compact(b)) = (&self.0, &other.0)
            && let Some(r) = a.checked_sub(*b)
            && exact(a, b, &r, a.scale().max(b.scale()))
        {
            return Some(Numeric(Repr::Compact(r)));
        }
        wide::add(self, other, true)
    }

    /// `self * other` exactly (scale: the sum of the two), `None` where
    /// it is beyond the limits — PostgreSQL's product keeps every digit, so
    /// a rounded one would be a wrong answer.
    #[inline]
    pub fn checked_mul(&self, other: &Numeric) -> Option<Numeric> {
        if let (Repr::Compact(a), Repr::Compact(b)) = (&self.0, &other.0)
            && let Some(r) = a.checked_mul(*b)
            && exact(a, b, &r, a.scale() + b.scale())
        {
            return Some(Numeric(Repr::Compact(r)));
        }
        wide::mul(self, other)
    }

    /// `self + other`, its fraction rounded to fit (`None` only where the
    /// integer part does not): for callers that reproduce a PostgreSQL
    /// computation whose own intermediate scale is smaller. Compact
    /// operands round as they always did (to about 28 significant
    /// digits); a sum beyond the compact form is exact up to
    /// [`Numeric::MAX_SCALE`].
    #[inline]
    pub fn checked_add_rounded(self, other: Numeric) -> Option<Numeric> {
        if let (Repr::Compact(a), Repr::Compact(b)) = (&self.0, &other.0)
            && let Some(r) = a.checked_add(*b)
        {
            return Some(Numeric(Repr::Compact(r)));
        }
        wide::add(&self, &other, false)
    }

    /// `self * other`, its fraction rounded to fit (`None` only where the
    /// integer part does not): for callers whose operands are already
    /// rounded quotients. As [`Numeric::checked_add_rounded`].
    #[inline]
    pub fn checked_mul_rounded(self, other: Numeric) -> Option<Numeric> {
        if let (Repr::Compact(a), Repr::Compact(b)) = (&self.0, &other.0)
            && let Some(r) = a.checked_mul(*b)
        {
            return Some(Numeric(Repr::Compact(r)));
        }
        let (ma, sa) = self.to_big_parts();
        let (mb, sb) = other.to_big_parts();
        let product = Numeric::from_big_parts_rounded(ma * mb, sa + sb)?;
        Some(product)
    }

    /// `mantissa * 10^-scale`, its fraction rounded half away from zero to
    /// at most [`Numeric::MAX_SCALE`] digits; `None` where the integer part
    /// is beyond the limits.
    pub fn from_big_parts_rounded(mantissa: BigInt, scale: u32) -> Option<Numeric> {
        if scale <= Numeric::MAX_SCALE {
            return Numeric::from_big_parts(mantissa, scale);
        }
        let m = wide::round_mantissa(
            &mantissa,
            scale - Numeric::MAX_SCALE,
            NumericRounding::HalfAwayFromZero,
        );
        Numeric::from_big_parts(m, Numeric::MAX_SCALE)
    }

    /// `self / other` rounded half away from zero to exactly `scale`
    /// digits after the point (PostgreSQL's `div_var` with `round`), from
    /// the exact quotient. `None` for a zero divisor or a quotient beyond
    /// the limits.
    pub fn checked_div_to_scale(&self, other: &Numeric, scale: u32) -> Option<Numeric> {
        wide::div_to_scale(self, other, scale, NumericRounding::HalfAwayFromZero)
    }

    /// `self / other` truncated to an integer (scale 0), `None` for a zero
    /// divisor.
    pub fn checked_div_trunc(&self, other: &Numeric) -> Option<Numeric> {
        wide::div_to_scale(self, other, 0, NumericRounding::ToZero)
    }

    /// The remainder of truncated division (sign of `self`, scale the
    /// larger of the two), `None` for a zero divisor.
    #[inline]
    pub fn checked_rem(&self, other: &Numeric) -> Option<Numeric> {
        if let (Repr::Compact(a), Repr::Compact(b)) = (&self.0, &other.0) {
            return a.checked_rem(*b).map(|r| Numeric(Repr::Compact(r)));
        }
        wide::rem(self, other)
    }

    /// Rounded to `dp` digits after the point by `rounding` (a value
    /// with fewer digits is unchanged, not padded).
    #[inline]
    pub fn round_dp_with(self, dp: u32, rounding: NumericRounding) -> Numeric {
        match &self.0 {
            Repr::Compact(d) => Numeric(Repr::Compact(
                d.round_dp_with_strategy(dp, rounding.strategy()),
            )),
            Repr::Wide(w) if w.scale > dp => {
                // The limit, 10^MAX_INTEGER_DIGITS, is a multiple of every
                // rounding unit: a rounded value stays within it.
                let m = wide::round_mantissa(&w.mantissa, w.scale - dp, rounding);
                Numeric::canonical(m, dp)
            }
            Repr::Wide(_) => self,
        }
    }

    /// Rounded by `rounding` to a multiple of `10^power` (scale 0), `None`
    /// where that multiple is beyond the limits.
    pub fn round_to_power_of_ten(self, power: u32, rounding: NumericRounding) -> Option<Numeric> {
        let (m, scale) = self.to_big_parts();
        let units = wide::round_mantissa(&m, scale.checked_add(power)?, rounding);
        Numeric::from_big_parts(units * BigInt::from(wide::pow10(power)), 0)
    }

    /// Rounded to `dp` digits after the point, half to even.
    #[inline]
    pub fn round_dp(self, dp: u32) -> Numeric {
        self.round_dp_with(dp, NumericRounding::HalfEven)
    }

    /// The integer part (towards zero), scale 0.
    #[inline]
    pub fn trunc(self) -> Numeric {
        self.round_dp_with(0, NumericRounding::ToZero)
    }

    /// The fractional part (sign of `self`).
    #[inline]
    pub fn fract(self) -> Numeric {
        match &self.0 {
            Repr::Compact(d) => Numeric(Repr::Compact(d.fract())),
            Repr::Wide(w) => {
                let unit = wide::pow10(w.scale);
                let m = &w.mantissa % BigInt::from(unit);
                Numeric::from_big_parts(m, w.scale).unwrap_or(Numeric::ZERO)
            }
        }
    }

    /// The largest integer not above the value.
    #[inline]
    pub fn floor(self) -> Numeric {
        self.round_dp_with(0, NumericRounding::Down)
    }

    /// The smallest integer not below the value.
    #[inline]
    pub fn ceil(self) -> Numeric {
        self.round_dp_with(0, NumericRounding::Up)
    }

    /// The same value without trailing zeros after the point (`1.50` →
    /// `1.5`, `-0` → `0`).
    #[inline]
    pub fn normalize(self) -> Numeric {
        match &self.0 {
            Repr::Compact(d) => Numeric(Repr::Compact(d.normalize())),
            Repr::Wide(w) => {
                let (m, scale) = wide::strip_zeros(&w.mantissa, w.scale);
                Numeric::from_big_parts(m, scale).unwrap_or(self)
            }
        }
    }

    /// Sets the scale to `scale` (padding with zeros or rounding half away
    /// from zero). Padding stops at [`Numeric::MAX_SCALE`].
    #[inline]
    pub fn rescale(&mut self, scale: u32) {
        let scale = scale.min(Numeric::MAX_SCALE);
        let current = self.scale();
        if scale < current {
            *self = self
                .clone()
                .round_dp_with(scale, NumericRounding::HalfAwayFromZero);
        } else if scale > current {
            if let Repr::Compact(d) = &self.0
                && scale <= Numeric::COMPACT_MAX_SCALE
            {
                let mut padded = *d;
                padded.rescale(scale);
                if padded.scale() == scale {
                    self.0 = Repr::Compact(padded);
                    return;
                }
            }
            let (m, s) = self.to_big_parts();
            let negative_zero = self.is_zero() && self.is_sign_negative();
            // Padding keeps the integer digits, so it always fits.
            if let Some(padded) =
                Numeric::from_big_parts(m * BigInt::from(wide::pow10(scale - s)), scale)
            {
                *self = if negative_zero { -padded } else { padded };
            }
        }
    }

    /// The same mantissa at scale `scale` (the value times
    /// `10^(self.scale() - scale)`), `None` beyond the limits.
    #[inline]
    pub fn with_scale(self, scale: u32) -> Option<Numeric> {
        let (m, _) = self.to_big_parts();
        Numeric::from_big_parts(m, scale)
    }

    /// The nearest `f64` (`None` if beyond its range).
    #[inline]
    pub fn to_f64(&self) -> Option<f64> {
        match &self.0 {
            Repr::Compact(d) => d.to_f64(),
            // Correctly rounded, as PostgreSQL's `strtod` of the text.
            Repr::Wide(_) => self
                .to_string()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite()),
        }
    }

    /// The value as `i64` (fraction truncated; `None` out of range).
    #[inline]
    pub fn to_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Compact(d) => d.to_i64(),
            Repr::Wide(_) => self
                .clone()
                .trunc()
                .to_i128()
                .and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// As [`Numeric::to_i64`], for `i32`.
    #[inline]
    pub fn to_i32(&self) -> Option<i32> {
        self.to_i64().and_then(|v| i32::try_from(v).ok())
    }

    /// As [`Numeric::to_i64`], for `i128`.
    #[inline]
    pub fn to_i128(&self) -> Option<i128> {
        match &self.0 {
            Repr::Compact(d) => d.to_i128(),
            Repr::Wide(_) => {
                let (m, _) = self.clone().trunc().to_big_parts();
                m.to_i128()
            }
        }
    }

    /// The encoding of the row format: the compact form's 16 bytes
    /// ([`Numeric::to_bytes`]) or the wide form's variable-length payload
    /// ([`Numeric::from_wide_bytes`] reads it back).
    pub fn encoding(&self) -> NumericEncoding {
        match &self.0 {
            Repr::Compact(d) => NumericEncoding::Compact(d.serialize()),
            Repr::Wide(w) => NumericEncoding::Wide(wide::encode(&w.mantissa, w.scale)),
        }
    }

    /// The compact form's fixed-width encoding, `None` for a wide value.
    #[inline]
    pub fn to_bytes(&self) -> Option<[u8; Numeric::BYTES]> {
        match &self.0 {
            Repr::Compact(d) => Some(d.serialize()),
            Repr::Wide(_) => None,
        }
    }

    /// Whether `bytes` (at least [`Numeric::BYTES`] of them) start with
    /// an encoding [`Numeric::from_bytes`] accepts: a scale of at most
    /// [`Numeric::COMPACT_MAX_SCALE`] (it lives in bits 16..24 of the
    /// first, little-endian, word).
    #[inline]
    pub fn bytes_are_valid(bytes: &[u8]) -> bool {
        bytes.len() >= Numeric::BYTES
            && bytes
                .get(2)
                .is_some_and(|scale| u32::from(*scale) <= Numeric::COMPACT_MAX_SCALE)
    }

    /// Reads [`Numeric::to_bytes`].
    #[inline]
    pub fn from_bytes(bytes: [u8; Numeric::BYTES]) -> Numeric {
        Numeric(Repr::Compact(Decimal::deserialize(bytes)))
    }

    /// Reads a wide encoding ([`Numeric::encoding`]), `None` unless it is
    /// the one encoding of a value that needs the wide form.
    pub fn from_wide_bytes(bytes: &[u8]) -> Option<Numeric> {
        let (mantissa, scale) = wide::decode(bytes)?;
        match Numeric::from_big_parts(mantissa, scale)? {
            n @ Numeric(Repr::Wide(_)) => Some(n),
            Numeric(Repr::Compact(_)) => None,
        }
    }
}

/// Whether `r`, the crate's result of `a` op `b`, is exact: `Decimal`
/// gives up digits after the point (a smaller scale than `scale`) only to
/// make a result fit, except that a zero operand gives the other operand
/// back as it is.
#[inline]
fn exact(a: &Decimal, b: &Decimal, r: &Decimal, scale: u32) -> bool {
    r.scale() >= scale || a.is_zero() || b.is_zero()
}

impl std::ops::Neg for Numeric {
    type Output = Numeric;

    /// The negation (never overflows: the range is symmetric).
    #[inline]
    fn neg(self) -> Numeric {
        match self.0 {
            Repr::Compact(d) => Numeric(Repr::Compact(-d)),
            Repr::Wide(mut w) => {
                w.mantissa = -w.mantissa;
                Numeric(Repr::Wide(w))
            }
        }
    }
}

impl Default for Numeric {
    fn default() -> Numeric {
        Numeric::ZERO
    }
}

impl PartialEq for Numeric {
    #[inline]
    fn eq(&self, other: &Numeric) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Numeric {}

impl PartialOrd for Numeric {
    #[inline]
    fn partial_cmp(&self, other: &Numeric) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Numeric {
    /// By value, across the two forms.
    #[inline]
    fn cmp(&self, other: &Numeric) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Compact(a), Repr::Compact(b)) => a.cmp(b),
            _ => wide::cmp(self, other),
        }
    }
}

impl Hash for Numeric {
    /// By value: the normalized mantissa and scale, the same bits whichever
    /// form holds the value.
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A normalized wide value never fits an i128 at a compact scale,
        // but one may fit an i128 at a wide scale: hash i128s alike.
        match &self.0 {
            Repr::Compact(d) => {
                let n = d.normalize();
                n.mantissa().hash(state);
                n.scale().hash(state);
            }
            Repr::Wide(w) => {
                let (m, scale) = wide::strip_zeros(&w.mantissa, w.scale);
                match m.to_i128() {
                    Some(v) => v.hash(state),
                    None => m.to_signed_bytes_le().hash(state),
                }
                scale.hash(state);
            }
        }
    }
}

impl Serialize for Numeric {
    /// As text (the form `rust_decimal`'s `serde-str` wrote before, so
    /// values serialized by older builds read back).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Numeric {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Numeric, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Numeric;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a numeric as text")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Numeric, E> {
                v.parse()
                    .map_err(|e: crate::ParseError| E::custom(e.to_string()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Numeric {
            #[inline]
            fn from(v: $t) -> Numeric {
                Numeric(Repr::Compact(Decimal::from(v)))
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
mod tests;
