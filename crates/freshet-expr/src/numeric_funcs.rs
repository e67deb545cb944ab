//! PostgreSQL's `scale`, `min_scale`, `trim_scale`, `width_bucket` (of
//! `numeric`, of `double precision` and of a thresholds array), `gcd` and
//! `lcm` (of `integer`, `bigint` and `numeric`), ported from PostgreSQL
//! 15's `numeric.c`, `float.c` and `int.c`. The planner side is
//! `sql::pg_scalar`.

use crate::repr::Numeric;
use num_bigint::{BigInt, BigUint};
use num_traits::Zero;

use crate::repr::{Datum, SqlState};

use super::EvalError;

/// PostgreSQL's `invalid_argument_for_width_bucket_function`.
const WIDTH_BUCKET_ARGUMENT: SqlState = SqlState(*b"2201G");

fn width_bucket_error(message: &str) -> EvalError {
    EvalError::Parse {
        code: WIDTH_BUCKET_ARGUMENT,
        message: message.into(),
    }
}

fn integer_out_of_range() -> EvalError {
    EvalError::OutOfRange("integer".into())
}

/// `scale(numeric)`: the digits after the decimal point; NULL for `NaN`.
pub fn scale(d: &Datum) -> Result<Datum, EvalError> {
    Ok(match d {
        Datum::Numeric(n) => Datum::Int32(n.scale() as i32),
        _ => Datum::Null,
    })
}

/// `min_scale(numeric)`: the fewest digits after the decimal point that
/// represent the value exactly; NULL for `NaN`.
pub fn min_scale(d: &Datum) -> Result<Datum, EvalError> {
    Ok(match d {
        Datum::Numeric(n) => Datum::Int32(n.clone().normalize().scale() as i32),
        _ => Datum::Null,
    })
}

/// `trim_scale(numeric)`: the value without trailing fractional zeros.
pub fn trim_scale(d: &Datum) -> Result<Datum, EvalError> {
    Ok(match d {
        Datum::Numeric(n) => Datum::Numeric(n.clone().normalize()),
        other => other.clone(),
    })
}

/// The count argument of `width_bucket`, which must be positive.
fn bucket_count(count: &Datum) -> Result<i32, EvalError> {
    let count = match count {
        Datum::Int32(c) => *c,
        other => return Err(EvalError::Internal(format!("width_bucket count {other:?}"))),
    };
    if count <= 0 {
        return Err(width_bucket_error("count must be greater than zero"));
    }
    Ok(count)
}

/// `count + 1`, for an operand past the last bucket.
fn past_last(count: i32) -> Result<Datum, EvalError> {
    count
        .checked_add(1)
        .map(Datum::Int32)
        .ok_or_else(integer_out_of_range)
}

/// `width_bucket(operand, bound1, bound2, count)` of `numeric`s
/// (PostgreSQL's `width_bucket_numeric`, exact).
pub fn width_bucket_numeric(args: &[Datum]) -> Result<Datum, EvalError> {
    let [operand, bound1, bound2, count] = args else {
        return Err(EvalError::Internal("width_bucket arity".into()));
    };
    let count = bucket_count(count)?;
    let value = |d: &Datum| match d {
        Datum::Numeric(n) => Ok(Some(n.clone())),
        Datum::NumericNaN => Ok(None),
        other => Err(EvalError::Internal(format!("width_bucket of {other:?}"))),
    };
    let (Some(x), Some(b1), Some(b2)) = (value(operand)?, value(bound1)?, value(bound2)?) else {
        return Err(width_bucket_error(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    };
    let (offset, width) = match b1.cmp(&b2) {
        std::cmp::Ordering::Less if x < b1 => return Ok(Datum::Int32(0)),
        std::cmp::Ordering::Less if x >= b2 => return past_last(count),
        std::cmp::Ordering::Less => (x.checked_sub(&b1.clone()), b2.checked_sub(&b1)),
        std::cmp::Ordering::Greater if x > b1 => return Ok(Datum::Int32(0)),
        std::cmp::Ordering::Greater if x <= b2 => return past_last(count),
        std::cmp::Ordering::Greater => (b1.clone().checked_sub(&x), b1.checked_sub(&b2)),
        std::cmp::Ordering::Equal => {
            return Err(width_bucket_error("lower bound cannot equal upper bound"));
        }
    };
    let (Some(offset), Some(width)) = (offset, width) else {
        return Err(EvalError::NumericOverflow);
    };
    // `offset * count / width`, truncated: exact where the product fits,
    // else the quotient first (it lies in [0, 1)).
    let bucket = match offset.clone().checked_mul(&Numeric::from(count)) {
        Some(product) => product
            .checked_div_trunc(&width)
            .ok_or(EvalError::NumericOverflow)?,
        None => offset
            .checked_div_to_scale(&width, Numeric::MAX_SCALE)
            .and_then(|q| q.checked_mul_rounded(Numeric::from(count)))
            .ok_or(EvalError::NumericOverflow)?
            .trunc(),
    };
    let bucket = bucket.to_i32().ok_or_else(integer_out_of_range)?;
    // The quotient is below `count`; rounding could reach it.
    Ok(Datum::Int32(bucket.min(count - 1) + 1))
}

/// `width_bucket(operand, bound1, bound2, count)` of `double precision`s
/// (PostgreSQL's `width_bucket_float8`).
pub fn width_bucket_float(args: &[Datum]) -> Result<Datum, EvalError> {
    let [operand, bound1, bound2, count] = args else {
        return Err(EvalError::Internal("width_bucket arity".into()));
    };
    let count = bucket_count(count)?;
    let value = |d: &Datum| match d {
        Datum::Float64(v) => Ok(v.0),
        other => Err(EvalError::Internal(format!("width_bucket of {other:?}"))),
    };
    let (x, b1, b2) = (value(operand)?, value(bound1)?, value(bound2)?);
    if x.is_nan() || b1.is_nan() || b2.is_nan() {
        return Err(width_bucket_error(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if b1.is_infinite() || b2.is_infinite() {
        return Err(width_bucket_error("lower and upper bounds must be finite"));
    }
    let fraction = if b1 < b2 {
        if x < b1 {
            return Ok(Datum::Int32(0));
        }
        if x >= b2 {
            return past_last(count);
        }
        if (b2 - b1).is_finite() {
            (x - b1) / (b2 - b1)
        } else {
            (x / 2.0 - b1 / 2.0) / (b2 / 2.0 - b1 / 2.0)
        }
    } else if b1 > b2 {
        if x > b1 {
            return Ok(Datum::Int32(0));
        }
        if x <= b2 {
            return past_last(count);
        }
        if (b1 - b2).is_finite() {
            (b1 - x) / (b1 - b2)
        } else {
            (b1 / 2.0 - x / 2.0) / (b1 / 2.0 - b2 / 2.0)
        }
    } else {
        return Err(width_bucket_error("lower bound cannot equal upper bound"));
    };
    // C's conversion to `int` truncates; the quotient could round to 1.
    let bucket = (f64::from(count) * fraction) as i32;
    Ok(Datum::Int32(bucket.min(count - 1) + 1))
}

/// `width_bucket(operand, thresholds)`: the number of thresholds at or
/// below the operand, by binary search of the (sorted) array.
pub fn width_bucket_array(args: &[Datum]) -> Result<Datum, EvalError> {
    let [operand, Datum::Array(thresholds)] = args else {
        return Err(EvalError::Internal(format!("width_bucket of {args:?}")));
    };
    let (mut left, mut right) = (0usize, thresholds.len());
    while left < right {
        let mid = (left + right) / 2;
        if thresholds[mid].is_null() {
            return Err(EvalError::Parse {
                code: SqlState(*b"22004"),
                message: "thresholds array must not contain NULLs".into(),
            });
        }
        if super::func::compare(operand, &thresholds[mid])? == std::cmp::Ordering::Less {
            right = mid;
        } else {
            left = mid + 1;
        }
    }
    i32::try_from(left)
        .map(Datum::Int32)
        .map_err(|_| integer_out_of_range())
}

fn gcd_u128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn gcd_big(mut a: BigUint, mut b: BigUint) -> BigUint {
    while !b.is_zero() {
        let r = &a % &b;
        (a, b) = (b, r);
    }
    a
}

/// `gcd(a, b)` (`lcm: false`) or `lcm(a, b)` of two integers of one type
/// or two `numeric`s: never negative; `0` with a zero argument (`lcm`) or
/// two (`gcd`); `NaN` with a `NaN` argument.
pub fn gcd_lcm(a: &Datum, b: &Datum, lcm: bool) -> Result<Datum, EvalError> {
    match (a, b) {
        (Datum::Int32(x), Datum::Int32(y)) => {
            let r = int_gcd_lcm(i64::from(*x), i64::from(*y), lcm)?;
            i32::try_from(r)
                .map(Datum::Int32)
                .map_err(|_| integer_out_of_range())
        }
        (Datum::Int64(x), Datum::Int64(y)) => {
            // `i64::MIN` has no positive counterpart: out of range.
            int_gcd_lcm(*x, *y, lcm).map(Datum::Int64)
        }
        (Datum::NumericNaN, _) | (_, Datum::NumericNaN) => Ok(Datum::NumericNaN),
        (Datum::Numeric(x), Datum::Numeric(y)) => {
            let scale = x.scale().max(y.scale());
            let mut x = x.clone();
            let mut y = y.clone();
            x.rescale(scale);
            y.rescale(scale);
            let (mx, my) = (
                x.to_big_parts().0.magnitude().clone(),
                y.to_big_parts().0.magnitude().clone(),
            );
            let g = gcd_big(mx.clone(), my.clone());
            let r = if !lcm {
                g
            } else if mx.is_zero() || my.is_zero() {
                BigUint::zero()
            } else {
                (mx / g) * my
            };
            Numeric::from_big_parts(BigInt::from(r), scale)
                .map(Datum::Numeric)
                .ok_or(EvalError::NumericOverflow)
        }
        other => Err(EvalError::Internal(format!("gcd/lcm of {other:?}"))),
    }
}

/// `gcd`/`lcm` of two `bigint`s (or `integer`s, widened): `bigint out of
/// range` where the result does not fit one.
fn int_gcd_lcm(x: i64, y: i64, lcm: bool) -> Result<i64, EvalError> {
    let (ux, uy) = (u128::from(x.unsigned_abs()), u128::from(y.unsigned_abs()));
    let g = gcd_u128(ux, uy);
    let r = if !lcm {
        g
    } else if ux == 0 || uy == 0 {
        0
    } else {
        (ux / g) * uy
    };
    i64::try_from(r).map_err(|_| EvalError::OutOfRange("bigint".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Datum {
        Datum::Numeric(s.parse().unwrap())
    }

    #[test]
    fn width_bucket_numeric_matches_postgres() {
        let wb = |x: &str, a: &str, b: &str, c: i32| {
            width_bucket_numeric(&[num(x), num(a), num(b), Datum::Int32(c)]).unwrap()
        };
        assert_eq!(wb("5.35", "0.024", "10.06", 5), Datum::Int32(3));
        assert_eq!(wb("-1", "0", "10", 5), Datum::Int32(0));
        assert_eq!(wb("10", "0", "10", 5), Datum::Int32(6));
        assert_eq!(wb("8", "10", "0", 5), Datum::Int32(2));
        assert!(width_bucket_numeric(&[num("1"), num("1"), num("1"), Datum::Int32(5)]).is_err());
    }

    #[test]
    fn gcd_and_lcm() {
        assert_eq!(
            gcd_lcm(&Datum::Int32(12), &Datum::Int32(-18), false).unwrap(),
            Datum::Int32(6)
        );
        assert_eq!(
            gcd_lcm(&Datum::Int32(4), &Datum::Int32(6), true).unwrap(),
            Datum::Int32(12)
        );
        assert!(gcd_lcm(&Datum::Int32(i32::MIN), &Datum::Int32(0), false).is_err());
        assert_eq!(gcd_lcm(&num("12.5"), &num("5"), false).unwrap(), num("2.5"));
    }
}
