//! `round`, `trunc`, `ceil`/`ceiling` and `floor` with PostgreSQL's
//! semantics: on `numeric` the result has the scale PostgreSQL gives it
//! (`round(1.2345, 2)` is `1.23`, `ceil(1.000)` is `1`), halves round away
//! from zero; on `double precision` `round` rounds halves to even (C's
//! `rint`, so `round(2.5::float8)` is 2).

use crate::repr::{Numeric, NumericRounding};

use super::error::EvalError;
use crate::repr::{Datum, OrdF64};

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundFunc {
    /// `round(x [, s])`.
    Round,
    /// `trunc(x [, s])`.
    Trunc,
    /// `ceil(x)` / `ceiling(x)`.
    Ceil,
    /// `floor(x)`.
    Floor,
}

/// [`Numeric`] keeps at most this many fractional digits (PostgreSQL pads
/// `round(x, n)` up to 2000; Freshet stops at its limit).
const MAX_SCALE: i64 = Numeric::MAX_SCALE as i64;

impl RoundFunc {
    /// The SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            RoundFunc::Round => "round",
            RoundFunc::Trunc => "trunc",
            RoundFunc::Ceil => "ceil",
            RoundFunc::Floor => "floor",
        }
    }

    fn strategy(&self) -> NumericRounding {
        match self {
            RoundFunc::Round => NumericRounding::HalfAwayFromZero,
            RoundFunc::Trunc => NumericRounding::ToZero,
            RoundFunc::Ceil => NumericRounding::Up,
            RoundFunc::Floor => NumericRounding::Down,
        }
    }

    /// Applies the function (strict).
    pub fn eval(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        if args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        match args.as_slice() {
            [Datum::Float64(x)] => Ok(Datum::Float64(OrdF64(match self {
                RoundFunc::Round => x.0.round_ties_even(),
                RoundFunc::Trunc => x.0.trunc(),
                RoundFunc::Ceil => x.0.ceil(),
                RoundFunc::Floor => x.0.floor(),
            }))),
            // `NaN` rounds to itself, at any number of places.
            [Datum::NumericNaN, ..] => Ok(Datum::NumericNaN),
            [Datum::Numeric(x)] => self.numeric(x.clone(), 0).map(Datum::Numeric),
            [Datum::Numeric(x), places] => {
                let places = match places {
                    Datum::Int16(p) => i64::from(*p),
                    Datum::Int32(p) => i64::from(*p),
                    Datum::Int64(p) => *p,
                    other => return Err(unexpected(self, other)),
                };
                self.numeric(x.clone(), places).map(Datum::Numeric)
            }
            [other, ..] => Err(unexpected(self, other)),
            [] => Err(EvalError::Internal(format!(
                "{} without arguments",
                self.name()
            ))),
        }
    }

    /// `x` rounded to `places` decimal places (negative: to tens,
    /// hundreds, ...), with scale `max(places, 0)`.
    fn numeric(&self, x: Numeric, places: i64) -> Result<Numeric, EvalError> {
        if places >= 0 {
            let places = places.min(MAX_SCALE) as u32;
            let mut r = x.round_dp_with(places, self.strategy());
            r.rescale(places);
            return Ok(r);
        }
        // To a multiple of 10^-places: beyond the value's own digits
        // (and the limit) every number rounds to zero, or to one unit for
        // `ceil`/`floor` away from it, which would exceed the limit.
        let power = u32::try_from(places.unsigned_abs())
            .unwrap_or(u32::MAX)
            .min(Numeric::MAX_INTEGER_DIGITS + 2);
        x.round_to_power_of_ten(power, self.strategy())
            .ok_or(EvalError::NumericOverflow)
    }
}

fn unexpected(f: &RoundFunc, d: &Datum) -> EvalError {
    EvalError::Internal(format!("{} applied to unexpected value {d:?}", f.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Datum {
        Datum::Numeric(s.parse().unwrap())
    }

    fn shown(d: Datum) -> String {
        crate::repr::strconv::format(&d).unwrap()
    }

    /// Answers from PostgreSQL 15.
    #[test]
    fn numeric_scales_match_postgres() {
        let r = |f: RoundFunc, args: Vec<Datum>| shown(f.eval(args).unwrap());
        assert_eq!(
            r(RoundFunc::Round, vec![num("1.2345"), Datum::Int32(2)]),
            "1.23"
        );
        assert_eq!(
            r(RoundFunc::Round, vec![num("-1.2345"), Datum::Int32(2)]),
            "-1.23"
        );
        assert_eq!(
            r(RoundFunc::Round, vec![num("1234.5"), Datum::Int32(-2)]),
            "1200"
        );
        assert_eq!(
            r(RoundFunc::Round, vec![num("0.0000123"), Datum::Int32(10)]),
            "0.0000123000"
        );
        assert_eq!(r(RoundFunc::Round, vec![num("2.5")]), "3");
        assert_eq!(r(RoundFunc::Round, vec![num("-0.5")]), "-1");
        assert_eq!(
            r(RoundFunc::Trunc, vec![num("123.456"), Datum::Int32(-1)]),
            "120"
        );
        assert_eq!(
            r(RoundFunc::Trunc, vec![num("2.789"), Datum::Int32(1)]),
            "2.7"
        );
        assert_eq!(r(RoundFunc::Trunc, vec![num("-2.7")]), "-2");
        assert_eq!(r(RoundFunc::Ceil, vec![num("1.000")]), "1");
        assert_eq!(r(RoundFunc::Ceil, vec![num("-1.5")]), "-1");
        assert_eq!(r(RoundFunc::Floor, vec![num("-1.5")]), "-2");
        assert_eq!(r(RoundFunc::Round, vec![num("5"), Datum::Int32(-30)]), "0");
    }

    #[test]
    fn floats_round_half_to_even() {
        let f = |x: f64| {
            RoundFunc::Round
                .eval(vec![Datum::Float64(OrdF64(x))])
                .unwrap()
        };
        assert_eq!(f(2.5), Datum::Float64(OrdF64(2.0)));
        assert_eq!(f(3.5), Datum::Float64(OrdF64(4.0)));
        assert_eq!(f(-2.5), Datum::Float64(OrdF64(-2.0)));
    }
}
