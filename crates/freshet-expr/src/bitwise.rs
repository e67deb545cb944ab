//! PostgreSQL's bitwise operators on `smallint`, `integer` and `bigint`
//! (planned by `sql::bitwise`).
//!
//! PostgreSQL computes them with C's operators on the machines it runs on:
//! a shift counts modulo the width of the shifted value (`1 << 32` is 1,
//! `1 << -1` is the sign bit), a `smallint` shifts as an `integer` and keeps
//! its low 16 bits, and `>>` copies the sign bit. No operator overflows.

use crate::repr::Datum;

use super::error::EvalError;
use super::func::BinaryFunc;

/// `&`, `|`, `#`, `<<` and `>>`. The operands of `&`, `|` and `#` have one
/// type after planning (a narrower one is widened here all the same); the
/// count of a shift is an `integer`.
pub(super) fn binary(func: &BinaryFunc, a: Datum, b: Datum) -> Result<Datum, EvalError> {
    let width = |d: &Datum| match d {
        Datum::Int16(_) => Some(16),
        Datum::Int32(_) => Some(32),
        Datum::Int64(_) => Some(64),
        _ => None,
    };
    let (Some(wa), Some(wb)) = (width(&a), width(&b)) else {
        return Err(EvalError::Unsupported(format!(
            "operator {} for {} and {}",
            func.symbol(),
            super::func::datum_type_name(&a),
            super::func::datum_type_name(&b)
        )));
    };
    let (x, y) = (as_i64(&a), as_i64(&b));
    match func {
        BinaryFunc::ShiftLeft | BinaryFunc::ShiftRight => {
            let left = matches!(func, BinaryFunc::ShiftLeft);
            // The count as C's `int` converts it to the shift's unsigned
            // count; `wrapping_sh*` then takes it modulo the width.
            let n = y as u32;
            Ok(match a {
                Datum::Int16(v) => {
                    let v = i32::from(v);
                    Datum::Int16(if left {
                        v.wrapping_shl(n)
                    } else {
                        v.wrapping_shr(n)
                    } as i16)
                }
                Datum::Int32(v) => Datum::Int32(if left {
                    v.wrapping_shl(n)
                } else {
                    v.wrapping_shr(n)
                }),
                _ => Datum::Int64(if left {
                    x.wrapping_shl(n)
                } else {
                    x.wrapping_shr(n)
                }),
            })
        }
        _ => {
            let out = match func {
                BinaryFunc::BitAnd => x & y,
                BinaryFunc::BitOr => x | y,
                _ => x ^ y,
            };
            // Both operands fit the wider width, and so does the result.
            Ok(match wa.max(wb) {
                16 => Datum::Int16(out as i16),
                32 => Datum::Int32(out as i32),
                _ => Datum::Int64(out),
            })
        }
    }
}

/// `~x`.
pub(super) fn not(d: Datum) -> Result<Datum, EvalError> {
    match d {
        Datum::Int16(v) => Ok(Datum::Int16(!v)),
        Datum::Int32(v) => Ok(Datum::Int32(!v)),
        Datum::Int64(v) => Ok(Datum::Int64(!v)),
        other => Err(EvalError::Unsupported(format!(
            "operator ~ for {}",
            super::func::datum_type_name(&other)
        ))),
    }
}

fn as_i64(d: &Datum) -> i64 {
    match d {
        Datum::Int16(x) => i64::from(*x),
        Datum::Int32(x) => i64::from(*x),
        Datum::Int64(x) => *x,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(func: BinaryFunc, a: Datum, b: Datum) -> Datum {
        binary(&func, a, b).unwrap()
    }

    /// PostgreSQL 15's answers on x86-64.
    #[test]
    fn shifts_as_postgres() {
        use BinaryFunc::{ShiftLeft as L, ShiftRight as R};
        assert_eq!(eval(L, Datum::Int32(1), Datum::Int32(32)), Datum::Int32(1));
        assert_eq!(eval(L, Datum::Int32(1), Datum::Int32(33)), Datum::Int32(2));
        assert_eq!(
            eval(L, Datum::Int32(1), Datum::Int32(-1)),
            Datum::Int32(i32::MIN)
        );
        assert_eq!(
            eval(L, Datum::Int16(1), Datum::Int32(15)),
            Datum::Int16(i16::MIN)
        );
        assert_eq!(eval(L, Datum::Int16(1), Datum::Int32(16)), Datum::Int16(0));
        assert_eq!(eval(R, Datum::Int32(-8), Datum::Int32(1)), Datum::Int32(-4));
        assert_eq!(eval(L, Datum::Int64(1), Datum::Int32(64)), Datum::Int64(1));
        assert_eq!(
            eval(R, Datum::Int32(-1), Datum::Int32(40)),
            Datum::Int32(-1)
        );
        assert_eq!(
            eval(R, Datum::Int16(-32768), Datum::Int32(20)),
            Datum::Int16(-1)
        );
        assert_eq!(
            eval(L, Datum::Int64(1), Datum::Int32(63)),
            Datum::Int64(i64::MIN)
        );
    }

    #[test]
    fn logic_and_not() {
        assert_eq!(
            eval(BinaryFunc::BitXor, Datum::Int32(5), Datum::Int32(3)),
            Datum::Int32(6)
        );
        assert_eq!(
            eval(BinaryFunc::BitAnd, Datum::Int16(7), Datum::Int32(3)),
            Datum::Int32(3)
        );
        assert_eq!(
            eval(BinaryFunc::BitOr, Datum::Int64(7), Datum::Int64(8)),
            Datum::Int64(15)
        );
        assert_eq!(not(Datum::Int16(1)).unwrap(), Datum::Int16(-2));
        assert_eq!(not(Datum::Int64(-1)).unwrap(), Datum::Int64(0));
    }
}
