//! Aggregate functions, evaluated over all the values of one group.
//!
//! A group arrives as distinct values with their multiplicities (what a
//! differential `reduce` presents), so `count(*)` over a million copies of one
//! row is one multiplication, not a million additions.

use std::cmp::Ordering;

use crate::repr::Numeric;
use smallvec::SmallVec;

use crate::repr::{Datum, Diff, Interval};

use super::EvalError;
use super::func::{self, BinaryFunc};
use super::scalar::ScalarExpr;

/// An aggregate function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AggregateFunc {
    /// `count(*)`.
    CountStar,
    /// `count(x)`: non-null values.
    Count,
    /// `sum(x)`.
    Sum,
    /// `avg(x)`.
    Avg,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `bool_and(x)`.
    BoolAnd,
    /// `bool_or(x)`.
    BoolOr,
    /// `string_agg(x, delimiter [ORDER BY k, ...])`: the delimiter is the
    /// second input column, the keys follow it.
    StringAgg {
        /// Per `ORDER BY` key: ascending, nulls first.
        order: Vec<(bool, bool)>,
    },
    /// `var_samp`, `var_pop`, `stddev_samp` or `stddev_pop` (see
    /// [`super::aggregate_stats`]).
    Stat(super::aggregate_stats::Stat),
    /// `bit_and`, `bit_or` or `bit_xor`.
    Bit(super::aggregate_stats::BitOp),
    /// `corr`, `covar_*` or `regr_*` of `(Y, X)`: two input columns.
    Regr(super::aggregate_stats::Regr),
    /// `array_agg(x [ORDER BY k, ...])`: the keys follow `x` among the
    /// inputs; `order` holds each key's (`ASC`, `NULLS FIRST`). See
    /// [`super::array::array_agg`] for the order of the elements.
    ArrayAgg {
        /// Per `ORDER BY` key: ascending, nulls first.
        order: Vec<(bool, bool)>,
    },
    /// `jsonb_agg(x [ORDER BY k, ...])`: the keys follow `x` among the
    /// inputs, as for [`AggregateFunc::ArrayAgg`].
    JsonbAgg {
        /// Per `ORDER BY` key: ascending, nulls first.
        order: Vec<(bool, bool)>,
    },
    /// `jsonb_object_agg(key, value [ORDER BY k, ...])`: the keys follow
    /// the two arguments among the inputs.
    JsonbObjectAgg {
        /// Per `ORDER BY` key: ascending, nulls first.
        order: Vec<(bool, bool)>,
    },
    /// `json_agg(x [ORDER BY k, ...])`, as [`AggregateFunc::JsonbAgg`].
    JsonAgg {
        /// Per `ORDER BY` key: ascending, nulls first.
        order: Vec<(bool, bool)>,
    },
    /// `json_object_agg(key, value [ORDER BY k, ...])`, as
    /// [`AggregateFunc::JsonbObjectAgg`].
    JsonObjectAgg {
        /// Per `ORDER BY` key: ascending, nulls first.
        order: Vec<(bool, bool)>,
    },
}

impl AggregateFunc {
    /// For `min` (`max` otherwise): whether `candidate` takes the place of
    /// `best`, the extremum of the values before it. Equal values keep
    /// `best`, except that of equal `jsonb` values (`1`, `1.0`), which
    /// differ in their text, the shortest text wins (a group keyed by value
    /// prints its shortest, `sql::jsonb_keys`), whatever the order the
    /// values arrive in.
    pub fn replaces_extremum(&self, candidate: &Datum, best: &Datum) -> Result<bool, EvalError> {
        let mut ord = func::compare(candidate, best)?;
        if let (Ordering::Equal, Datum::Jsonb(x), Datum::Jsonb(y)) = (ord, candidate, best) {
            ord = (x.len(), x).cmp(&(y.len(), y));
            if *self != AggregateFunc::Min {
                ord = ord.reverse();
            }
        }
        Ok(match self {
            AggregateFunc::Min => ord == Ordering::Less,
            _ => ord == Ordering::Greater,
        })
    }
}

/// An aggregate call: `func([DISTINCT] expr)`.
#[derive(Clone, Debug)]
pub struct AggregateExpr {
    /// The function.
    pub func: AggregateFunc,
    /// The argument(s), evaluated on each input row; `string_agg` has two.
    pub exprs: Vec<ScalarExpr>,
    /// The SQL type of the (first) argument, as planned; `None` for
    /// `count(*)`. `sum` and `avg` of integers are accumulable whatever
    /// their result type.
    pub input_type: Option<crate::repr::ScalarType>,
    /// `DISTINCT`: each distinct value counts once.
    pub distinct: bool,
    /// `FILTER (WHERE ...)`: rows where this is not true are skipped.
    pub filter: Option<ScalarExpr>,
    /// The SQL type of the result, as planned: sums are computed in it.
    pub output_type: crate::repr::ScalarType,
}

impl AggregateExpr {
    /// Whether an argument or the `FILTER` is volatile
    /// ([`ScalarExpr::is_volatile`]).
    pub fn is_volatile(&self) -> bool {
        self.exprs
            .iter()
            .chain(&self.filter)
            .any(ScalarExpr::is_volatile)
    }

    /// Evaluates the aggregate over a group: `values` are the aggregate's
    /// inputs (`Datum::Null` where `FILTER` rejected the row, tagged `false`)
    /// with multiplicities, sorted.
    pub fn eval<'a>(
        &self,
        values: impl Iterator<Item = (&'a [Datum], Diff)>,
    ) -> Result<Datum, EvalError> {
        let mut values: Vec<(&[Datum], Diff)> = values.filter(|(_, d)| *d != 0).collect();
        if values.iter().any(|(_, d)| *d < 0) {
            return Err(EvalError::NegativeMultiplicity("an aggregate input".into()));
        }
        if self.distinct {
            values.sort_by(|a, b| a.0.cmp(b.0));
            values.dedup_by(|a, b| a.0 == b.0);
            values.iter_mut().for_each(|v| v.1 = 1);
        }
        let first = |v: &[Datum]| v.first().cloned().unwrap_or(Datum::Null);
        let non_null = values.iter().filter(|(v, _)| !first(v).is_null());
        match self.func {
            AggregateFunc::CountStar => Ok(Datum::Int64(values.iter().map(|(_, d)| *d).sum())),
            AggregateFunc::Count => Ok(Datum::Int64(non_null.map(|(_, d)| *d).sum())),
            AggregateFunc::Sum => {
                let mut acc: Option<Datum> = None;
                for (v, d) in non_null {
                    let term = multiply(first(v), *d, &self.output_type)?;
                    acc = Some(match acc {
                        None => term,
                        Some(a) => BinaryFunc::Add.eval(a, term)?,
                    });
                }
                Ok(acc.unwrap_or(Datum::Null))
            }
            AggregateFunc::Avg => {
                // PostgreSQL: the sum in `numeric` (integers, numerics),
                // `double precision` (floats) or `interval`, divided by
                // the count.
                let mut sum = Numeric::ZERO;
                let mut fsum = 0f64;
                let mut isum: Option<Datum> = None;
                let mut float = false;
                // A numeric `NaN` makes the average `NaN`, as in PostgreSQL.
                let mut nan = false;
                let mut n: i64 = 0;
                for (v, d) in non_null {
                    n += d;
                    match first(v) {
                        Datum::Float32(f) => {
                            float = true;
                            fsum += f.0 as f64 * *d as f64
                        }
                        Datum::Float64(f) => {
                            float = true;
                            fsum += f.0 * *d as f64
                        }
                        Datum::Interval(i) => {
                            let term = multiply_interval(i, *d)?;
                            isum = Some(match isum {
                                None => term,
                                Some(a) => BinaryFunc::Add.eval(a, term)?,
                            });
                        }
                        other => {
                            let x = match func::cast(
                                other,
                                &crate::repr::ScalarType::Numeric {
                                    precision: None,
                                    scale: None,
                                },
                            )? {
                                Datum::Numeric(x) => x,
                                _ => {
                                    nan = true;
                                    continue;
                                }
                            };
                            // Through `+` and `*`, which keep PostgreSQL's
                            // scale (`0.00 + 1.5` is `1.50`).
                            let term = BinaryFunc::Mul
                                .eval(Datum::Numeric(x), Datum::Numeric(Numeric::from(*d)))?;
                            sum = match BinaryFunc::Add.eval(Datum::Numeric(sum), term)? {
                                Datum::Numeric(s) => s,
                                _ => return Err(EvalError::NumericOverflow),
                            };
                        }
                    }
                }
                if n == 0 {
                    return Ok(Datum::Null);
                }
                let avg = if nan {
                    Datum::NumericNaN
                } else if float {
                    Datum::f64(fsum / n as f64)
                } else if let Some(Datum::Interval(i)) = isum {
                    Datum::Interval(divide_interval(&i, n as f64)?)
                } else {
                    numeric_avg(sum, n)?
                };
                func::cast(avg, &self.output_type)
            }
            AggregateFunc::Min | AggregateFunc::Max => {
                let mut best: Option<Datum> = None;
                for (v, _) in non_null {
                    let v = first(v);
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            if self.func.replaces_extremum(&v, &b)? {
                                v
                            } else {
                                b
                            }
                        }
                    });
                }
                Ok(best.unwrap_or(Datum::Null))
            }
            AggregateFunc::BoolAnd | AggregateFunc::BoolOr => {
                let mut result: Option<bool> = None;
                for (v, _) in non_null {
                    let b = first(v) == Datum::Bool(true);
                    result = Some(match (result, self.func == AggregateFunc::BoolAnd) {
                        (None, _) => b,
                        (Some(r), true) => r && b,
                        (Some(r), false) => r || b,
                    });
                }
                Ok(result.map(Datum::Bool).unwrap_or(Datum::Null))
            }
            AggregateFunc::ArrayAgg { ref order } => super::array::array_agg(&values, order),
            AggregateFunc::JsonbAgg { ref order } => super::jsonb::jsonb_agg(&values, order),
            AggregateFunc::JsonbObjectAgg { ref order } => {
                super::jsonb::jsonb_object_agg(&values, order)
            }
            AggregateFunc::JsonAgg { ref order } => super::json::json_agg(&values, order),
            AggregateFunc::JsonObjectAgg { ref order } => {
                super::json::json_object_agg(&values, order)
            }
            AggregateFunc::Stat(stat) => super::aggregate_stats::statistic(
                non_null.map(|(v, d)| (v.first().unwrap_or(&Datum::Null), *d)),
                stat,
            ),
            AggregateFunc::Bit(op) => super::aggregate_stats::bitwise(
                non_null.map(|(v, d)| (v.first().unwrap_or(&Datum::Null), *d)),
                op,
            ),
            AggregateFunc::Regr(f) => {
                // Both arguments count, not only the first: a row with a
                // NULL `Y` is skipped too.
                super::aggregate_stats::regression(values.iter().copied(), f)
            }
            AggregateFunc::StringAgg { ref order } => {
                // Without ORDER BY in the aggregate, PostgreSQL's order is
                // unspecified; Freshet uses value order, so that one-shot and
                // maintained results agree. With it, ties follow in value
                // order too.
                let non_null: Vec<(&[Datum], Diff)> = non_null.copied().collect();
                let sorted: Vec<&(&[Datum], Diff)> = if order.is_empty() {
                    let mut sorted: Vec<&(&[Datum], Diff)> = non_null.iter().collect();
                    sorted.sort_by(|a, b| a.0.cmp(b.0));
                    sorted
                } else {
                    super::array::sort_aggregate_inputs(&non_null, order, 2)
                };
                let mut out: Option<String> = None;
                for (v, d) in sorted {
                    let s = crate::repr::strconv::format(&first(v)).unwrap_or_default();
                    let delim = v
                        .get(1)
                        .and_then(crate::repr::strconv::format)
                        .unwrap_or_default();
                    for _ in 0..*d {
                        match &mut out {
                            None => out = Some(s.clone()),
                            Some(o) => {
                                o.push_str(&delim);
                                o.push_str(&s);
                            }
                        }
                    }
                }
                Ok(out.map(Datum::String).unwrap_or(Datum::Null))
            }
        }
    }
}

/// `v * n` for a sum term, in the sum's output type.
fn multiply(v: Datum, n: Diff, output: &crate::repr::ScalarType) -> Result<Datum, EvalError> {
    let v = func::cast(v, output)?;
    if n == 1 {
        return Ok(v);
    }
    if let Datum::Interval(i) = v {
        return multiply_interval(i, n);
    }
    let n = func::cast(Datum::Int64(n), output)?;
    BinaryFunc::Mul.eval(v, n)
}

/// `n` copies of `i` added up: field by field, as PostgreSQL's `interval +
/// interval` adds.
fn multiply_interval(i: Interval, n: Diff) -> Result<Datum, EvalError> {
    let range = || EvalError::OutOfRange("interval".into());
    let n32 = i32::try_from(n).map_err(|_| range())?;
    Ok(Datum::Interval(Interval {
        months: i.months.checked_mul(n32).ok_or_else(range)?,
        days: i.days.checked_mul(n32).ok_or_else(range)?,
        micros: i.micros.checked_mul(n).ok_or_else(range)?,
    }))
}

/// PostgreSQL's `interval / float8` (`interval_div`), which `avg(interval)`
/// divides the sum with: fractional months become days (of 30), fractional
/// days become time, rounded to microseconds.
fn divide_interval(i: &Interval, factor: f64) -> Result<Interval, EvalError> {
    const SECS_PER_DAY: f64 = 86_400.0;
    let ts_round = |x: f64| (x * 1_000_000.0).round_ties_even() / 1_000_000.0;
    if factor == 0.0 {
        return Err(EvalError::DivisionByZero);
    }
    let months = (i.months as f64 / factor) as i32;
    let mut days = (i.days as f64 / factor) as i32;
    let month_remainder_days = ts_round((i.months as f64 / factor - months as f64) * 30.0);
    let mut sec_remainder = ts_round(
        (i.days as f64 / factor - days as f64 + month_remainder_days
            - month_remainder_days.trunc())
            * SECS_PER_DAY,
    );
    if sec_remainder.abs() >= SECS_PER_DAY {
        let whole = (sec_remainder / SECS_PER_DAY).trunc();
        days += whole as i32;
        sec_remainder -= whole * SECS_PER_DAY;
    }
    days += month_remainder_days as i32;
    let micros = (i.micros as f64 / factor + sec_remainder * 1_000_000.0).round_ties_even();
    if !micros.is_finite() || micros.abs() >= i64::MAX as f64 {
        return Err(EvalError::OutOfRange("interval".into()));
    }
    Ok(Interval {
        months,
        days,
        micros: micros as i64,
    })
}

/// PostgreSQL's `avg` of integers and numerics: the `numeric` sum divided
/// by the count with `numeric` division (its result scale).
fn numeric_avg(sum: Numeric, n: i64) -> Result<Datum, EvalError> {
    BinaryFunc::Div.eval(Datum::Numeric(sum), Datum::Numeric(Numeric::from(n)))
}

/// Accumulators of accumulable aggregates (`count(*)`, `count(x)`, `sum(x)`
/// of integers, without `DISTINCT`), carried as a differential *difference*:
/// adding two records' accumulators is adding their differences, so the
/// dataflow keeps one accumulated value per group instead of re-reading
/// every value of a group whenever one changes.
///
/// Slot 0 counts the group's rows (with multiplicity), so a group has all
/// zero accumulators exactly when it has no rows; then each aggregate has
/// its slots (see [`accumulable_slots`]).
///
/// Differential sorts, moves and adds one of these per update, so the
/// common case is small: up to [`NARROW_LANES`] slots that fit in `i64`
/// are kept inline ([`Accums::Narrow`], 40 bytes). Any operation whose
/// result does not fit falls back to `i128` slots ([`Accums::Wide`]), so
/// sums stay exact: what a group's values add up to decides whether
/// finishing it is an error, not the order they were added in.
///
/// # Invariants
///
/// The accumulators are a sequence of integers followed by zeros, and each
/// sequence has one representation: `Wide` only when the sequence does not
/// fit `Narrow`, and a `Wide` never ends in a zero. So the derived
/// equality, order and hash are those of the sequences.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Accums {
    /// Up to [`NARROW_LANES`] slots, each in `i64` (unused slots are 0).
    Narrow([i64; NARROW_LANES]),
    /// Any other sequence, without trailing zeros.
    Wide(Box<[i128]>),
}

/// The slots [`Accums::Narrow`] holds: `count(*)` and one `sum`.
pub const NARROW_LANES: usize = 4;

impl Default for Accums {
    #[inline]
    fn default() -> Accums {
        Accums::Narrow([0; NARROW_LANES])
    }
}

impl Accums {
    /// The accumulators `lanes` (followed by zeros), in their one
    /// representation.
    #[inline]
    pub fn from_lanes(lanes: &[i128]) -> Accums {
        let len = lanes.iter().rposition(|v| *v != 0).map_or(0, |i| i + 1);
        let lanes = &lanes[..len];
        if len <= NARROW_LANES {
            let mut narrow = [0i64; NARROW_LANES];
            if lanes
                .iter()
                .zip(&mut narrow)
                .all(|(v, n)| i64::try_from(*v).map(|v| *n = v).is_ok())
            {
                return Accums::Narrow(narrow);
            }
        }
        Accums::Wide(lanes.into())
    }

    /// Slot `i` (0 past the end).
    #[inline]
    pub fn get(&self, i: usize) -> i128 {
        match self {
            Accums::Narrow(n) => n.get(i).map_or(0, |v| *v as i128),
            Accums::Wide(w) => w.get(i).copied().unwrap_or(0),
        }
    }

    /// The slots up to the last that may be non-zero, as `i128`.
    fn wide_lanes(&self) -> Vec<i128> {
        match self {
            Accums::Narrow(n) => n.iter().map(|v| *v as i128).collect(),
            Accums::Wide(w) => w.to_vec(),
        }
    }

    /// `f` applied slot by slot in `i128`, where the narrow form
    /// overflowed (or was not there).
    fn map_wide(&mut self, rhs_len: usize, f: impl Fn(usize, i128) -> i128) {
        let mut lanes = self.wide_lanes();
        if lanes.len() < rhs_len {
            lanes.resize(rhs_len, 0);
        }
        for (i, v) in lanes.iter_mut().enumerate() {
            *v = f(i, *v);
        }
        *self = Accums::from_lanes(&lanes);
    }
}

impl differential_dataflow::difference::IsZero for Accums {
    #[inline]
    fn is_zero(&self) -> bool {
        // A Wide never ends in zero, so it is never all zeros.
        matches!(self, Accums::Narrow(n) if n.iter().all(|v| *v == 0))
    }
}

impl differential_dataflow::difference::Semigroup for Accums {
    #[inline]
    fn plus_equals(&mut self, rhs: &Self) {
        if let (Accums::Narrow(a), Accums::Narrow(b)) = (&mut *self, rhs) {
            let mut sum = [0i64; NARROW_LANES];
            let mut fits = true;
            for ((s, x), y) in sum.iter_mut().zip(a.iter()).zip(b) {
                match x.checked_add(*y) {
                    Some(v) => *s = v,
                    None => fits = false,
                }
            }
            if fits {
                *a = sum;
                return;
            }
        }
        let rhs_len = match rhs {
            Accums::Narrow(_) => NARROW_LANES,
            Accums::Wide(w) => w.len(),
        };
        self.map_wide(rhs_len, |i, v| v.wrapping_add(rhs.get(i)));
    }
}

impl differential_dataflow::difference::Monoid for Accums {
    #[inline]
    fn zero() -> Self {
        Accums::default()
    }
}

impl differential_dataflow::difference::Abelian for Accums {
    #[inline]
    fn negate(&mut self) {
        if let Accums::Narrow(n) = self
            && n.iter().all(|v| *v != i64::MIN)
        {
            n.iter_mut().for_each(|v| *v = -*v);
            return;
        }
        self.map_wide(0, |_, v| v.wrapping_neg());
    }
}

impl differential_dataflow::difference::Multiply<Diff> for Accums {
    type Output = Accums;
    #[inline]
    fn multiply(mut self, rhs: &Diff) -> Accums {
        if let Accums::Narrow(n) = &mut self {
            let mut product = [0i64; NARROW_LANES];
            if product
                .iter_mut()
                .zip(n.iter())
                .all(|(p, v)| v.checked_mul(*rhs).map(|v| *p = v).is_some())
            {
                *n = product;
                return self;
            }
        }
        self.map_wide(0, |_, v| v.wrapping_mul(*rhs as i128));
        self
    }
}

/// How one accumulable aggregate uses the accumulators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccumSlot {
    /// `count(*)`: one slot, rows passing the filter.
    CountStar,
    /// `count(x)`: one slot, non-null values.
    Count,
    /// `sum(x)` of integers into `bigint`: two slots, the sum and the
    /// number of non-null values (the sum of none is NULL).
    SumInt,
    /// `sum(x)` of `bigint`s into `numeric`: the slots of [`Self::SumInt`].
    SumIntNumeric,
    /// `avg(x)` of integers, a `numeric`: the slots of [`Self::SumInt`],
    /// divided at the end.
    AvgInt,
    /// A variance or standard deviation of `smallint`s or `integer`s:
    /// three slots, the count, the sum and the sum of squares of the
    /// non-null values (squares of `integer`s fit `i64`, and their sums
    /// `i128`; those of `bigint`s may not, so they take the generic path).
    Stat(super::aggregate_stats::Stat),
}

impl AccumSlot {
    fn width(&self) -> usize {
        match self {
            AccumSlot::CountStar | AccumSlot::Count => 1,
            AccumSlot::SumInt | AccumSlot::SumIntNumeric | AccumSlot::AvgInt => 2,
            AccumSlot::Stat(_) => 3,
        }
    }
}

/// The accumulator layout of `aggs`, if every one of them is accumulable.
pub fn accumulable_slots(aggs: &[AggregateExpr]) -> Option<Vec<AccumSlot>> {
    use crate::repr::ScalarType as T;
    aggs.iter()
        .map(|a| {
            let integer_input = matches!(a.input_type, Some(T::Int16 | T::Int32 | T::Int64));
            match (&a.func, a.distinct, &a.output_type) {
                (AggregateFunc::CountStar, false, _) => Some(AccumSlot::CountStar),
                (AggregateFunc::Count, false, _) => Some(AccumSlot::Count),
                (AggregateFunc::Sum, false, T::Int64) => Some(AccumSlot::SumInt),
                (AggregateFunc::Sum, false, T::Numeric { .. }) if integer_input => {
                    Some(AccumSlot::SumIntNumeric)
                }
                (AggregateFunc::Avg, false, T::Numeric { .. }) if integer_input => {
                    Some(AccumSlot::AvgInt)
                }
                (AggregateFunc::Stat(stat), false, _)
                    if matches!(a.input_type, Some(T::Int16 | T::Int32)) =>
                {
                    Some(AccumSlot::Stat(*stat))
                }
                _ => None,
            }
        })
        .collect()
}

/// The accumulators of one input row. `vals` is laid out as the generic
/// reduce gets it: per aggregate, a `FILTER` flag, then its arguments.
pub fn accumulate(
    slots: &[AccumSlot],
    aggs: &[AggregateExpr],
    vals: &[Datum],
) -> Result<Accums, EvalError> {
    let mut out: SmallVec<[i128; NARROW_LANES]> = SmallVec::new();
    out.push(1);
    let mut offset = 0;
    for (slot, agg) in slots.iter().zip(aggs) {
        let pass = vals.get(offset) == Some(&Datum::Bool(true));
        let arg = vals.get(offset + 1).unwrap_or(&Datum::Null);
        match slot {
            AccumSlot::CountStar => out.push(pass as i128),
            AccumSlot::Count => out.push((pass && !arg.is_null()) as i128),
            AccumSlot::SumInt | AccumSlot::SumIntNumeric | AccumSlot::AvgInt => {
                let v = match (pass, arg) {
                    (false, _) | (_, Datum::Null) => None,
                    (true, Datum::Int16(v)) => Some(*v as i128),
                    (true, Datum::Int32(v)) => Some(*v as i128),
                    (true, Datum::Int64(v)) => Some(*v as i128),
                    (true, other) => {
                        return Err(EvalError::Internal(format!("integer sum over {other:?}")));
                    }
                };
                out.push(v.unwrap_or(0));
                out.push(v.is_some() as i128);
            }
            AccumSlot::Stat(_) => {
                let v = match (pass, arg) {
                    (false, _) | (_, Datum::Null) => None,
                    (true, Datum::Int16(v)) => Some(*v as i128),
                    (true, Datum::Int32(v)) => Some(*v as i128),
                    (true, other) => {
                        return Err(EvalError::Internal(format!(
                            "integer variance of {other:?}"
                        )));
                    }
                };
                out.push(v.is_some() as i128);
                out.push(v.unwrap_or(0));
                out.push(v.map_or(0, |v| v * v));
            }
        }
        offset += 1 + agg.exprs.len();
    }
    Ok(Accums::from_lanes(&out))
}

/// A group's aggregate values from its accumulators (what
/// [`AggregateExpr::eval`] gives over the same rows).
pub fn finish_accums(slots: &[AccumSlot], accums: &Accums) -> Result<Vec<Datum>, EvalError> {
    let get = |i: usize| accums.get(i);
    if get(0) < 0 {
        return Err(EvalError::NegativeMultiplicity("an aggregate input".into()));
    }
    let count = |v: i128| i64::try_from(v).map_err(|_| EvalError::OutOfRange("bigint".into()));
    let mut out = Vec::with_capacity(slots.len());
    let mut i = 1;
    for slot in slots {
        match slot {
            AccumSlot::CountStar | AccumSlot::Count => {
                if get(i) < 0 {
                    return Err(EvalError::NegativeMultiplicity("an aggregate input".into()));
                }
                out.push(Datum::Int64(count(get(i))?));
            }
            AccumSlot::SumInt | AccumSlot::SumIntNumeric | AccumSlot::AvgInt => {
                let (sum, n) = (get(i), get(i + 1));
                if n < 0 {
                    return Err(EvalError::NegativeMultiplicity("an aggregate input".into()));
                }
                let numeric =
                    || Numeric::try_from_i128_with_scale(sum, 0).ok_or(EvalError::NumericOverflow);
                out.push(match slot {
                    _ if n == 0 => Datum::Null,
                    AccumSlot::SumInt => Datum::Int64(count(sum)?),
                    AccumSlot::SumIntNumeric => Datum::Numeric(numeric()?),
                    _ => numeric_avg(numeric()?, count(n)?)?,
                });
            }
            AccumSlot::Stat(stat) => {
                let moments = super::aggregate_stats::Moments {
                    n: get(i).into(),
                    sx: get(i + 1).into(),
                    sxx: get(i + 2).into(),
                    scale: 0,
                };
                out.push(moments.finish(*stat)?);
            }
        }
        i += slot.width();
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use differential_dataflow::difference::{Multiply, Semigroup};

    use super::*;
    use crate::repr::ScalarType;

    /// An aggregate of column 0 (`bigint`, or `boolean` for
    /// `bool_and`/`bool_or`), filtered by column 1 if `filtered`.
    pub(crate) fn agg(func: AggregateFunc, filtered: bool) -> AggregateExpr {
        let typ = match func {
            AggregateFunc::BoolAnd | AggregateFunc::BoolOr => ScalarType::Bool,
            _ => ScalarType::Int64,
        };
        AggregateExpr {
            input_type: Some(typ.clone()),
            exprs: if func == AggregateFunc::CountStar {
                vec![]
            } else {
                vec![ScalarExpr::Column(0)]
            },
            func,
            distinct: false,
            filter: filtered.then(|| ScalarExpr::Column(1)),
            output_type: typ,
        }
    }

    /// The accumulable path gives what the generic path gives, over groups
    /// with NULLs, filters, multiplicities and retractions.
    #[test]
    fn accumulable_matches_generic() {
        let aggs = vec![
            agg(AggregateFunc::CountStar, false),
            agg(AggregateFunc::CountStar, true),
            agg(AggregateFunc::Count, false),
            agg(AggregateFunc::Sum, false),
            agg(AggregateFunc::Sum, true),
            AggregateExpr {
                output_type: numeric(),
                ..agg(AggregateFunc::Sum, false)
            },
            AggregateExpr {
                output_type: numeric(),
                ..agg(AggregateFunc::Avg, false)
            },
            AggregateExpr {
                output_type: numeric(),
                input_type: Some(ScalarType::Int32),
                ..agg(
                    AggregateFunc::Stat(crate::expr::aggregate_stats::Stat {
                        sample: true,
                        stddev: false,
                    }),
                    false,
                )
            },
            AggregateExpr {
                output_type: numeric(),
                input_type: Some(ScalarType::Int32),
                ..agg(
                    AggregateFunc::Stat(crate::expr::aggregate_stats::Stat {
                        sample: false,
                        stddev: true,
                    }),
                    true,
                )
            },
        ];
        let slots = accumulable_slots(&aggs).expect("all accumulable");
        // Input rows (value, filter flag) with multiplicities; the last
        // retracts one copy of an earlier row.
        let rows: Vec<(Datum, bool, Diff)> = vec![
            (Datum::Int32(5), true, 2),
            (Datum::Null, true, 1),
            (Datum::Int32(-7), false, 1),
            (Datum::Int16(3), true, 3),
            (Datum::Int32(5), true, -1),
        ];
        // The reduce's input layout: per aggregate, the FILTER flag and the
        // arguments.
        let vals = |v: &Datum, pass: bool| -> Vec<Datum> {
            aggs.iter()
                .flat_map(|a| {
                    let flag = Datum::Bool(a.filter.is_none() || pass);
                    std::iter::once(flag).chain(a.exprs.iter().map(|_| v.clone()))
                })
                .collect()
        };
        let mut total = Accums::default();
        for (v, pass, d) in &rows {
            let acc = accumulate(&slots, &aggs, &vals(v, *pass))
                .unwrap()
                .multiply(d);
            total.plus_equals(&acc);
        }
        let got = finish_accums(&slots, &total).unwrap();
        // The generic path over the consolidated group.
        let mut group: std::collections::BTreeMap<Vec<Datum>, Diff> = Default::default();
        for (v, pass, d) in &rows {
            *group.entry(vals(v, *pass)).or_default() += d;
        }
        let mut want = Vec::new();
        let mut offset = 0;
        for a in &aggs {
            let width = a.exprs.len();
            let values = group.iter().filter_map(|(row, d)| {
                let slice = row.get(offset + 1..offset + 1 + width)?;
                (row.get(offset) == Some(&Datum::Bool(true))).then_some((slice, *d))
            });
            want.push(a.eval(values).unwrap());
            offset += 1 + width;
        }
        assert_eq!(got, want);
        assert_eq!(
            got,
            vec![
                Datum::Int64(6),
                Datum::Int64(5),
                Datum::Int64(5),
                Datum::Int64(7),
                Datum::Int64(14),
                Datum::Numeric(7.into()),
                Datum::Numeric("1.4000000000000000".parse().unwrap()),
                // -7, 5, 3, 3, 3 and 5, 3, 3, 3.
                Datum::Numeric("22.8000000000000000".parse().unwrap()),
                Datum::Numeric("0.86602540378443864676".parse().unwrap()),
            ]
        );
    }

    fn numeric() -> ScalarType {
        ScalarType::Numeric {
            precision: None,
            scale: None,
        }
    }

    /// `avg` of numerics, floats and intervals takes the generic path, with
    /// PostgreSQL's results.
    #[test]
    fn avg_of_other_types() {
        let avg = |output_type: ScalarType, values: &[(Datum, Diff)]| {
            // The argument's type, as the planner gives it.
            let input_type = match values.first() {
                Some((Datum::Float32(_), _)) => ScalarType::Float32,
                _ => output_type.clone(),
            };
            let a = AggregateExpr {
                output_type,
                input_type: Some(input_type),
                ..agg(AggregateFunc::Avg, false)
            };
            assert_eq!(accumulable_slots(std::slice::from_ref(&a)), None);
            let rows: Vec<Vec<Datum>> = values.iter().map(|(v, _)| vec![v.clone()]).collect();
            a.eval(rows.iter().zip(values).map(|(r, (_, d))| (&r[..], *d)))
        };
        let interval = |months, days, micros| {
            Datum::Interval(Interval {
                months,
                days,
                micros,
            })
        };
        // SELECT avg(x) FROM (VALUES ('1 day'::interval), ('2 hours')) v(x)
        assert_eq!(
            avg(
                ScalarType::INTERVAL,
                &[(interval(0, 1, 0), 1), (interval(0, 0, 7_200_000_000), 1)]
            ),
            Ok(interval(0, 0, 46_800_000_000))
        );
        // '1 mon' / 3 is 10 days; '1 mon 1 day 1 second' / 7 is
        // '4 days 10:17:08.6896'.
        assert_eq!(
            avg(ScalarType::INTERVAL, &[(interval(1, 0, 0), 3)]),
            Ok(interval(1, 0, 0))
        );
        assert_eq!(
            divide_interval(
                &Interval {
                    months: 1,
                    days: 0,
                    micros: 0
                },
                3.0
            ),
            Ok(Interval {
                months: 0,
                days: 10,
                micros: 0
            })
        );
        assert_eq!(
            divide_interval(
                &Interval {
                    months: 1,
                    days: 1,
                    micros: 1_000_000
                },
                7.0
            ),
            Ok(Interval {
                months: 0,
                days: 4,
                micros: 37_028_689_600
            })
        );
        // Numerics keep PostgreSQL's division scale.
        assert_eq!(
            avg(
                numeric(),
                &[
                    (Datum::Numeric("1.000".parse().unwrap()), 1),
                    (Datum::Numeric(2.into()), 2)
                ]
            ),
            Ok(Datum::Numeric("1.6666666666666667".parse().unwrap()))
        );
        assert_eq!(
            avg(
                ScalarType::Float64,
                &[(Datum::f32(1.0), 1), (Datum::f32(2.0), 1)]
            ),
            Ok(Datum::f64(1.5))
        );
    }

    #[test]
    fn sum_of_nothing_is_null_and_overflow_is_an_error() {
        let aggs = vec![agg(AggregateFunc::Sum, false)];
        let slots = accumulable_slots(&aggs).unwrap();
        let null = accumulate(&slots, &aggs, &[Datum::Bool(true), Datum::Null]).unwrap();
        assert_eq!(finish_accums(&slots, &null).unwrap(), vec![Datum::Null]);
        let big = accumulate(&slots, &aggs, &[Datum::Bool(true), Datum::Int64(i64::MAX)])
            .unwrap()
            .multiply(&2);
        assert_eq!(
            finish_accums(&slots, &big),
            Err(EvalError::OutOfRange("bigint".into()))
        );
    }

    /// Narrow accumulators give what `i128` arithmetic gives (wrapping, as
    /// before the narrow form; sums of `bigint`s times `i64` multiplicities
    /// do not reach it), whatever the
    /// order of the operations: sums that leave `i64` and come back, more
    /// slots than the narrow form holds, negation of `i64::MIN`,
    /// multiplication that overflows; and equal sequences are equal values
    /// (one representation), so differential consolidates them.
    #[test]
    fn accums_are_exact_and_canonical() {
        use differential_dataflow::difference::{Abelian, IsZero};
        let mut seed: u64 = 11;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let values = [0, 1, -1, 7, i64::MAX as i128, i64::MIN as i128, 1 << 40];
        for _ in 0..2000 {
            let lanes = 1 + next(6) as usize;
            let mut model = vec![0i128; 6];
            let mut acc = Accums::default();
            for _ in 0..1 + next(8) {
                let term: Vec<i128> = (0..lanes)
                    .map(|_| values[next(values.len() as u64) as usize])
                    .collect();
                let mut t = Accums::from_lanes(&term);
                let mut t_model = term.clone();
                t_model.resize(6, 0);
                match next(3) {
                    0 => {
                        t.negate();
                        t_model.iter_mut().for_each(|v| *v = v.wrapping_neg());
                    }
                    1 => {
                        let m = [2, -3, i64::MAX][next(3) as usize];
                        t = t.multiply(&m);
                        t_model
                            .iter_mut()
                            .for_each(|v| *v = v.wrapping_mul(m as i128));
                    }
                    _ => {}
                }
                acc.plus_equals(&t);
                for (m, v) in model.iter_mut().zip(&t_model) {
                    *m = m.wrapping_add(*v);
                }
                assert_eq!(acc, Accums::from_lanes(&model), "{term:?}");
                for (i, m) in model.iter().enumerate() {
                    assert_eq!(acc.get(i), *m);
                }
                assert_eq!(acc.is_zero(), model.iter().all(|v| *v == 0));
            }
        }
        // Back in range after leaving it: narrow again.
        let mut a = Accums::from_lanes(&[i64::MAX as i128]);
        a.plus_equals(&Accums::from_lanes(&[1]));
        assert!(matches!(a, Accums::Wide(_)));
        a.plus_equals(&Accums::from_lanes(&[-2]));
        assert_eq!(a, Accums::Narrow([i64::MAX - 1, 0, 0, 0]));
        assert!(matches!(
            Accums::from_lanes(&[1, 0, 0, 0, 1]),
            Accums::Wide(_)
        ));
        assert_eq!(Accums::from_lanes(&[0, 0, 0, 0, 0]), Accums::default());
    }
}
