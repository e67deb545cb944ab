//! The statistical and bitwise aggregates: `var_samp`, `var_pop`,
//! `stddev_samp`, `stddev_pop` (and their other names `variance` and
//! `stddev`), `bit_and`, `bit_or` and `bit_xor`, as PostgreSQL computes them.
//!
//! Variances of integers and numerics are `numeric` and exact, as in
//! PostgreSQL (`numeric_stddev_internal`): the count `N`, the sum of the
//! values `Sx` and the sum of their squares `Sxx` are kept in unbounded
//! integers, and the result is `(N·Sxx − Sx²) / (N·(N−1))` (or `/ N²`)
//! rounded to PostgreSQL's division scale, its square root rounded to the
//! same scale. These sums are also what the accumulable path carries for
//! `smallint` and `integer` arguments ([`Moments`]), so a maintained view
//! updates a group's variance without re-reading the group.
//!
//! Variances of `real` and `double precision` are `double precision`, with
//! PostgreSQL's Youngs–Cramer accumulation (`float8_accum`) over the values
//! in the order they arrive (sorted, for a group).

use crate::repr::Numeric;
use num_bigint::{BigInt, Sign};

use crate::repr::{Datum, Diff};

use super::EvalError;

/// Which statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stat {
    /// Divide by `N − 1` (sample) rather than `N` (population).
    pub sample: bool,
    /// The square root of the variance.
    pub stddev: bool,
}

/// Which bitwise aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitOp {
    /// `bit_and`.
    And,
    /// `bit_or`.
    Or,
    /// `bit_xor`.
    Xor,
}

/// Which two-argument statistic (`f(Y, X)`, over the rows where neither
/// is NULL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Regr {
    /// `corr`.
    Corr,
    /// `covar_pop`.
    CovarPop,
    /// `covar_samp`.
    CovarSamp,
    /// `regr_avgx`.
    AvgX,
    /// `regr_avgy`.
    AvgY,
    /// `regr_count` (`bigint`).
    Count,
    /// `regr_intercept`.
    Intercept,
    /// `regr_r2`.
    R2,
    /// `regr_slope`.
    Slope,
    /// `regr_sxx`.
    Sxx,
    /// `regr_sxy`.
    Sxy,
    /// `regr_syy`.
    Syy,
}

impl Regr {
    /// The statistic of this name.
    pub fn from_name(name: &str) -> Option<Regr> {
        Some(match name {
            "corr" => Regr::Corr,
            "covar_pop" => Regr::CovarPop,
            "covar_samp" => Regr::CovarSamp,
            "regr_avgx" => Regr::AvgX,
            "regr_avgy" => Regr::AvgY,
            "regr_count" => Regr::Count,
            "regr_intercept" => Regr::Intercept,
            "regr_r2" => Regr::R2,
            "regr_slope" => Regr::Slope,
            "regr_sxx" => Regr::Sxx,
            "regr_sxy" => Regr::Sxy,
            "regr_syy" => Regr::Syy,
            _ => return None,
        })
    }
}

/// PostgreSQL's `float8_regr_accum` state.
#[derive(Default)]
struct Pairs {
    n: f64,
    sx: f64,
    sxx: f64,
    sy: f64,
    syy: f64,
    sxy: f64,
}

impl Pairs {
    /// Adds one pair, as `float8_regr_accum` does.
    fn add(&mut self, y: f64, x: f64) -> Result<(), EvalError> {
        let (old_n, old_sx, old_sy) = (self.n, self.sx, self.sy);
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        if old_n > 0.0 {
            let tmp_x = x * self.n - self.sx;
            let tmp_y = y * self.n - self.sy;
            let scale = 1.0 / (self.n * old_n);
            self.sxx += tmp_x * tmp_x * scale;
            self.syy += tmp_y * tmp_y * scale;
            self.sxy += tmp_x * tmp_y * scale;
            let overflow = || EvalError::OutOfRange("double precision".into());
            if self.sx.is_infinite() || self.sxx.is_infinite() {
                if !old_sx.is_infinite() && !x.is_infinite() {
                    return Err(overflow());
                }
                self.sxx = f64::NAN;
            }
            if self.sy.is_infinite() || self.syy.is_infinite() {
                if !old_sy.is_infinite() && !y.is_infinite() {
                    return Err(overflow());
                }
                self.syy = f64::NAN;
            }
            if self.sxy.is_infinite() {
                if !old_sx.is_infinite()
                    && !x.is_infinite()
                    && !old_sy.is_infinite()
                    && !y.is_infinite()
                {
                    return Err(overflow());
                }
                self.sxy = f64::NAN;
            }
        } else {
            if !x.is_finite() {
                self.sxx = f64::NAN;
                self.sxy = f64::NAN;
            }
            if !y.is_finite() {
                self.syy = f64::NAN;
                self.sxy = f64::NAN;
            }
        }
        Ok(())
    }

    fn finish(&self, f: Regr) -> Datum {
        let (n, null) = (self.n, Datum::Null);
        if f == Regr::Count {
            return Datum::Int64(n as i64);
        }
        if n < 1.0 || (f == Regr::CovarSamp && n < 2.0) {
            return null;
        }
        let v = match f {
            Regr::Corr if self.sxx == 0.0 || self.syy == 0.0 => return null,
            Regr::Corr => self.sxy / (self.sxx * self.syy).sqrt(),
            Regr::CovarPop => self.sxy / n,
            Regr::CovarSamp => self.sxy / (n - 1.0),
            Regr::AvgX => self.sx / n,
            Regr::AvgY => self.sy / n,
            Regr::Intercept | Regr::Slope | Regr::R2 if self.sxx == 0.0 => return null,
            Regr::Intercept => (self.sy - self.sx * self.sxy / self.sxx) / n,
            Regr::Slope => self.sxy / self.sxx,
            Regr::R2 if self.syy == 0.0 => 1.0,
            Regr::R2 => (self.sxy * self.sxy) / (self.sxx * self.syy),
            Regr::Sxx => self.sxx,
            Regr::Sxy => self.sxy,
            Regr::Syy => self.syy,
            Regr::Count => n,
        };
        Datum::f64(v)
    }
}

/// The two-argument statistic `f` of `(Y, X)` pairs with their
/// multiplicities; pairs with a NULL are skipped.
pub fn regression<'a>(
    values: impl Iterator<Item = (&'a [Datum], Diff)>,
    f: Regr,
) -> Result<Datum, EvalError> {
    let mut pairs = Pairs::default();
    let float = |d: &Datum| match d {
        Datum::Float64(v) => Some(v.0),
        Datum::Float32(v) => Some(v.0 as f64),
        _ => None,
    };
    for (v, d) in values {
        let (Some(y), Some(x)) = (v.first().and_then(float), v.get(1).and_then(float)) else {
            continue;
        };
        // The same arithmetic as a scan of the copies.
        for _ in 0..d {
            pairs.add(y, x)?;
        }
    }
    Ok(pairs.finish(f))
}

/// The largest scale Freshet's `numeric` holds (PostgreSQL's display
/// scale limit too).
const MAX_SCALE: u32 = Numeric::MAX_SCALE;

/// Exact sums of a group's values: the count, the sum and the sum of
/// squares, the sums as integers scaled by `10^scale` and `10^(2·scale)`.
#[derive(Clone, Debug, Default)]
pub struct Moments {
    /// The number of values.
    pub n: BigInt,
    /// The sum of the values, times `10^scale`.
    pub sx: BigInt,
    /// The sum of the squares, times `10^(2·scale)`.
    pub sxx: BigInt,
    /// The largest scale of the values so far.
    pub scale: u32,
}

fn pow10(n: u32) -> BigInt {
    BigInt::from(10u8).pow(n)
}

impl Moments {
    /// Adds `d` copies of the value `mantissa · 10^-scale`.
    pub fn add(&mut self, mantissa: BigInt, scale: u32, d: Diff) {
        let (mut m, d) = (mantissa, BigInt::from(d));
        if scale > self.scale {
            let k = scale - self.scale;
            self.sx *= pow10(k);
            self.sxx *= pow10(2 * k);
            self.scale = scale;
        } else {
            m *= pow10(self.scale - scale);
        }
        self.n += &d;
        self.sxx += &m * &m * &d;
        self.sx += m * d;
    }

    /// The statistic of the values added, as PostgreSQL's `numeric`
    /// result: NULL for no values (or one, for a sample statistic).
    pub fn finish(&self, stat: Stat) -> Result<Datum, EvalError> {
        if self.n.sign() == Sign::Minus {
            return Err(EvalError::NegativeMultiplicity("an aggregate input".into()));
        }
        if self.n.sign() == Sign::NoSign || (stat.sample && self.n == BigInt::from(1)) {
            return Ok(Datum::Null);
        }
        // N·Sxx − Sx², at scale 2·scale.
        let numerator = &self.n * &self.sxx - &self.sx * &self.sx;
        if numerator.sign() != Sign::Plus {
            return Ok(Datum::Numeric(Numeric::ZERO));
        }
        let denominator = if stat.sample {
            &self.n * (&self.n - 1)
        } else {
            &self.n * &self.n
        };
        let nscale = 2 * self.scale;
        let rscale = div_scale(&numerator, nscale, &denominator).min(MAX_SCALE.max(nscale));
        // numerator · 10^-nscale / denominator, at rscale, rounded half
        // away from zero (both are positive).
        let (num, den) = if rscale >= nscale {
            (numerator * pow10(rscale - nscale), denominator)
        } else {
            (numerator, denominator * pow10(nscale - rscale))
        };
        let mut q = (num * 2 + &den) / (den * 2);
        if stat.stddev {
            // sqrt(q · 10^-rscale) · 10^(rscale + 1), truncated, then
            // rounded at its last digit.
            let scaled: BigInt = q * pow10(rscale + 2);
            let t = scaled.sqrt();
            q = (t + 5) / 10;
        }
        to_numeric(q, rscale)
    }
}

/// `mantissa · 10^-scale` as a `numeric`, dropping the lowest digits (as
/// Freshet's `numeric` arithmetic rounds) when it has more than `numeric`
/// holds; an error when its integer part alone does not fit.
fn to_numeric(mut mantissa: BigInt, mut scale: u32) -> Result<Datum, EvalError> {
    loop {
        if scale <= MAX_SCALE
            && let Some(d) = Numeric::from_big_parts(mantissa.clone(), scale)
        {
            return Ok(Datum::Numeric(d));
        }
        if scale == 0 {
            return Err(EvalError::NumericOverflow);
        }
        let half = if mantissa.sign() == Sign::Minus {
            -5
        } else {
            5
        };
        mantissa = (mantissa + half) / 10;
        scale -= 1;
    }
}

/// PostgreSQL's `select_div_scale` for `x · 10^-xscale / y` (`x > 0`, `y`
/// a positive integer): at least 16 significant digits, and no fewer
/// fractional digits than the dividend's.
fn div_scale(x: &BigInt, xscale: u32, y: &BigInt) -> u32 {
    let (w1, f1) = weight_first(x, xscale);
    let (w2, f2) = weight_first(y, 0);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    (16 - qweight * 4).max(xscale as i64).max(0) as u32
}

/// The weight and first digit of `m · 10^-scale` (`m > 0`) in PostgreSQL's
/// base-10000 representation.
fn weight_first(m: &BigInt, scale: u32) -> (i64, u64) {
    let digits = m.magnitude().to_string();
    // The value is in [10^e, 10^(e+1)).
    let e = digits.len() as i64 - scale as i64 - 1;
    let w = e.div_euclid(4);
    let k = (e - 4 * w + 1) as usize;
    let mut lead: String = digits.chars().take(k).collect();
    while lead.len() < k {
        lead.push('0');
    }
    (w, lead.parse().unwrap_or(0))
}

/// A value of an integer or `numeric` argument as a scaled integer.
pub fn exact_value(v: &Datum) -> Result<(BigInt, u32), EvalError> {
    Ok(match v {
        Datum::Int16(x) => (BigInt::from(*x), 0),
        Datum::Int32(x) => (BigInt::from(*x), 0),
        Datum::Int64(x) => (BigInt::from(*x), 0),
        Datum::Numeric(x) => x.to_big_parts(),
        other => {
            return Err(EvalError::Internal(format!(
                "variance of a non-number {other:?}"
            )));
        }
    })
}

/// PostgreSQL's `float8_accum` state: count, sum, and sum of squared
/// differences from the running mean.
#[derive(Default)]
struct Floats {
    n: f64,
    sx: f64,
    sxx: f64,
}

impl Floats {
    /// Adds one value, as `float8_accum` does.
    fn add(&mut self, x: f64) -> Result<(), EvalError> {
        let old_sx = self.sx;
        self.n += 1.0;
        self.sx += x;
        if self.n > 1.0 {
            let tmp = x * self.n - self.sx;
            self.sxx += tmp * tmp / (self.n * (self.n - 1.0));
            if self.sx.is_infinite() || self.sxx.is_infinite() {
                // Finite values that overflow are an error; an infinite
                // value makes the spread NaN.
                if !old_sx.is_infinite() && !x.is_infinite() {
                    return Err(EvalError::OutOfRange("double precision".into()));
                }
                self.sxx = f64::NAN;
            }
        } else {
            // One value: an infinite or NaN one makes the spread NaN.
            self.sxx = if x.is_finite() { 0.0 } else { f64::NAN };
        }
        Ok(())
    }

    /// Adds `d` copies of `x`: one at a time up to a bound (the same
    /// arithmetic as a scan of the copies), then by PostgreSQL's
    /// `float8_combine` of a block of equal values.
    fn add_copies(&mut self, x: f64, d: Diff) -> Result<(), EvalError> {
        const ONE_BY_ONE: Diff = 10_000;
        for _ in 0..d.min(ONE_BY_ONE) {
            self.add(x)?;
        }
        if d > ONE_BY_ONE {
            let n2 = (d - ONE_BY_ONE) as f64;
            let sx2 = x * n2;
            if self.n == 0.0 {
                (self.n, self.sx, self.sxx) = (n2, sx2, 0.0);
            } else {
                let finite = self.sx.is_finite() && x.is_finite();
                let n = self.n + n2;
                let tmp = self.sx / self.n - sx2 / n2;
                self.sxx += self.n * n2 * tmp * tmp / n;
                self.sx += sx2;
                self.n = n;
                if self.sx.is_infinite() || self.sxx.is_infinite() {
                    if finite {
                        return Err(EvalError::OutOfRange("double precision".into()));
                    }
                    self.sxx = f64::NAN;
                }
            }
        }
        Ok(())
    }

    fn finish(&self, stat: Stat) -> Datum {
        if self.n == 0.0 || (stat.sample && self.n == 1.0) {
            return Datum::Null;
        }
        let var = self.sxx / if stat.sample { self.n - 1.0 } else { self.n };
        Datum::f64(if stat.stddev { var.sqrt() } else { var })
    }
}

/// The statistic `stat` of the non-null `values` (first column) with their
/// multiplicities.
pub fn statistic<'a>(
    values: impl Iterator<Item = (&'a Datum, Diff)>,
    stat: Stat,
) -> Result<Datum, EvalError> {
    let mut exact = Moments::default();
    let mut floats = Floats::default();
    let mut float = false;
    // PostgreSQL counts a numeric `NaN` among the values (so one `NaN`
    // alone is still too few for a sample statistic) and answers `NaN`.
    let mut nan = false;
    let mut count: Diff = 0;
    for (v, d) in values {
        count += d;
        match v {
            Datum::NumericNaN => nan = true,
            Datum::Float32(f) => {
                float = true;
                floats.add_copies(f.0 as f64, d)?;
            }
            Datum::Float64(f) => {
                float = true;
                floats.add_copies(f.0, d)?;
            }
            other => {
                let (m, s) = exact_value(other)?;
                exact.add(m, s, d);
            }
        }
    }
    if float {
        Ok(floats.finish(stat))
    } else {
        if nan {
            // Without computing the other values' spread, which may not
            // fit where the answer is `NaN` anyway.
            let too_few = count == 0 || (stat.sample && count == 1);
            return Ok(if too_few {
                Datum::Null
            } else {
                Datum::NumericNaN
            });
        }
        exact.finish(stat)
    }
}

/// `bit_and`, `bit_or` or `bit_xor` of the non-null `values` with their
/// multiplicities: NULL for none, else the argument's integer type.
pub fn bitwise<'a>(
    values: impl Iterator<Item = (&'a Datum, Diff)>,
    op: BitOp,
) -> Result<Datum, EvalError> {
    let mut acc: Option<(i64, &Datum)> = None;
    for (v, d) in values {
        let x = match v {
            Datum::Int16(x) => i64::from(*x),
            Datum::Int32(x) => i64::from(*x),
            Datum::Int64(x) => *x,
            other => {
                return Err(EvalError::Internal(format!(
                    "bitwise aggregate of a non-integer {other:?}"
                )));
            }
        };
        // `x XOR x` is 0: an even number of copies cancels.
        let x = match op {
            BitOp::Xor if d % 2 == 0 => 0,
            _ => x,
        };
        acc = Some(match acc {
            None => (x, v),
            Some((a, t)) => (
                match op {
                    BitOp::And => a & x,
                    BitOp::Or => a | x,
                    BitOp::Xor => a ^ x,
                },
                t,
            ),
        });
    }
    Ok(match acc {
        None => Datum::Null,
        // The bits of a narrower type stay within it.
        Some((a, Datum::Int16(_))) => Datum::Int16(a as i16),
        Some((a, Datum::Int32(_))) => Datum::Int32(a as i32),
        Some((a, _)) => Datum::Int64(a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(values: &[Datum], sample: bool, stddev: bool) -> Datum {
        statistic(values.iter().map(|v| (v, 1)), Stat { sample, stddev }).unwrap()
    }

    fn num(s: &str) -> Datum {
        Datum::Numeric(s.parse().unwrap())
    }

    /// PostgreSQL 15's answers.
    #[test]
    fn numeric_statistics_are_postgres() {
        let ints: Vec<Datum> = (1..=4).map(Datum::Int32).collect();
        assert_eq!(stat(&ints, true, false), num("1.6666666666666667"));
        assert_eq!(stat(&ints, false, false), num("1.2500000000000000"));
        assert_eq!(stat(&ints, true, true), num("1.2909944487358056"));
        assert_eq!(stat(&ints, false, true), num("1.1180339887498948"));
        let decs = [num("1.25"), num("2.5"), num("3.75"), num("-4")];
        assert_eq!(stat(&decs, true, false), num("11.6041666666666667"));
        assert_eq!(stat(&decs, false, false), num("8.7031250000000000"));
        assert_eq!(stat(&decs, true, true), num("3.4064889059949493"));
        assert_eq!(stat(&decs, false, true), num("2.9501059303014866"));
        let wide = [num("0.001"), num("0.002"), num("100000000")];
        assert_eq!(stat(&wide, true, false), num("3333333333233333.333334"));
        assert_eq!(stat(&[num("1.5"), num("1.5")], true, false), num("0"));
        assert_eq!(stat(&[Datum::Int32(5)], true, false), Datum::Null);
        assert_eq!(stat(&[Datum::Int32(5)], false, false), num("0"));
        assert_eq!(stat(&[], false, false), Datum::Null);
    }

    #[test]
    fn float_statistics_are_postgres() {
        let floats: Vec<Datum> = (1..=4).map(|i| Datum::f64(i as f64)).collect();
        assert_eq!(stat(&floats, true, false), Datum::f64(1.6666666666666667));
        assert_eq!(stat(&floats, false, false), Datum::f64(1.25));
        assert_eq!(stat(&floats, false, true), Datum::f64(1.118033988749895));
        // Many copies: the block formula agrees with one by one.
        let mut a = Floats::default();
        a.add_copies(2.5, 20_000).unwrap();
        a.add(4.0).unwrap();
        assert_eq!(a.n, 20_001.0);
        assert!((a.sxx - 2.25 * 20_000.0 / 20_001.0).abs() < 1e-9);
    }

    #[test]
    fn multiplicities_and_bitwise() {
        let mut m = Moments::default();
        m.add(BigInt::from(3), 0, 2);
        m.add(BigInt::from(15), 1, 1);
        // 3, 3, 1.5
        assert_eq!(
            m.finish(Stat {
                sample: true,
                stddev: false
            }),
            Ok(num("0.75000000000000000000"))
        );
        let v = [Datum::Int16(3), Datum::Int16(5), Datum::Int16(6)];
        let xor = bitwise(v.iter().map(|v| (v, 1)), BitOp::Xor).unwrap();
        assert_eq!(xor, Datum::Int16(0));
        let xor2 = bitwise(v.iter().map(|v| (v, 2)), BitOp::Xor).unwrap();
        assert_eq!(xor2, Datum::Int16(0));
        let and = bitwise(v.iter().map(|v| (v, 1)), BitOp::And).unwrap();
        assert_eq!(and, Datum::Int16(0));
        let or = bitwise(v.iter().map(|v| (v, 3)), BitOp::Or).unwrap();
        assert_eq!(or, Datum::Int16(7));
    }
}
