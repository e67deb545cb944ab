//! The values of `generate_series(start, stop [, step])`, as PostgreSQL
//! computes them, over `integer`, `bigint` and `numeric` and over
//! `timestamp`/`timestamptz` with an `interval` step.
//!
//! The arguments arrive cast to the form's types (`sql/generate_series.rs`
//! chooses the form), so the values' variants say which form runs. As in
//! PostgreSQL the function is strict (a NULL argument gives no rows), a
//! step of zero is `22023`, and each value is the previous one plus the
//! step: a `numeric` series takes the larger scale of `start` and `step`
//! from its second value on (`1, 1.5, 2.0`), and a month step clamps to the
//! month's end and carries on from there (`01-31, 02-29, 03-29`). An
//! integer series stops where the next value would overflow.
//!
//! PostgreSQL streams a series of any length; Freshet builds each call's
//! rows at once, in memory, so a series of more than [`MAX_SERIES_ROWS`]
//! rows is an error (`54000`) rather than an exhausted machine.

use crate::repr::Numeric;

use crate::repr::{Datum, Interval};

use super::error::EvalError;

/// The most rows one call of `generate_series` returns; a longer series
/// is [`EvalError::SeriesTooLong`].
pub const MAX_SERIES_ROWS: u64 = 10_000_000;

/// The values of `generate_series` over `args` (`start`, `stop` and an
/// optional `step`, of one form's types).
pub fn generate_series(args: &[Datum]) -> Result<Vec<Datum>, EvalError> {
    series(args, MAX_SERIES_ROWS)
}

/// [`generate_series`] with at most `limit` rows.
fn series(args: &[Datum], limit: u64) -> Result<Vec<Datum>, EvalError> {
    if args.iter().any(Datum::is_null) {
        return Ok(vec![]);
    }
    let step = args.get(2);
    match (args.first(), args.get(1)) {
        (Some(Datum::Int32(start)), Some(Datum::Int32(stop))) => {
            let step = match step {
                None => 1,
                Some(Datum::Int32(s)) => i64::from(*s),
                Some(other) => return Err(unexpected(other)),
            };
            Ok(integers(i64::from(*start), i64::from(*stop), step, limit)?
                // Within `start ..= stop`, so within `integer`.
                .map(|v| Datum::Int32(v as i32))
                .collect())
        }
        (Some(Datum::Int64(start)), Some(Datum::Int64(stop))) => {
            let step = match step {
                None => 1,
                Some(Datum::Int64(s)) => *s,
                Some(other) => return Err(unexpected(other)),
            };
            Ok(integers(*start, *stop, step, limit)?
                .map(Datum::Int64)
                .collect())
        }
        (Some(start @ (Datum::Numeric(_) | Datum::NumericNaN)), Some(stop)) => {
            numerics(start, stop, step, limit)
        }
        (Some(Datum::Timestamp(start)), Some(Datum::Timestamp(stop))) => {
            Ok(timestamps(*start, *stop, step, limit)?
                .into_iter()
                .map(Datum::Timestamp)
                .collect())
        }
        (Some(Datum::TimestampTz(start)), Some(Datum::TimestampTz(stop))) => {
            Ok(timestamps(*start, *stop, step, limit)?
                .into_iter()
                .map(Datum::TimestampTz)
                .collect())
        }
        (Some(other), _) => Err(unexpected(other)),
        (None, _) => Err(EvalError::Internal(
            "generate_series without arguments".into(),
        )),
    }
}

fn unexpected(d: &Datum) -> EvalError {
    EvalError::Internal(format!("generate_series over unexpected value {d:?}"))
}

fn zero_step() -> EvalError {
    EvalError::InvalidParameter("step size cannot equal zero".into())
}

/// Fails where a series would have more than `limit` rows.
fn check_length(rows: u128, limit: u64) -> Result<(), EvalError> {
    if rows > u128::from(limit) {
        return Err(EvalError::SeriesTooLong(limit));
    }
    Ok(())
}

/// `start, start + step, ...` up to `stop` (down to it for a negative
/// step). The count is known beforehand, so no value is computed past
/// `stop`, where the type could overflow.
fn integers(
    start: i64,
    stop: i64,
    step: i64,
    limit: u64,
) -> Result<impl Iterator<Item = i64>, EvalError> {
    if step == 0 {
        return Err(zero_step());
    }
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let span = stop - start;
    let count = if span == 0 || (span > 0) == (step > 0) {
        span / step + 1
    } else {
        0
    };
    check_length(count as u128, limit)?;
    // Every value lies between `start` and `stop`, which are `i64`s.
    Ok((0..count).map(move |k| (start + k * step) as i64))
}

/// The `numeric` series: `NaN` bounds and steps are errors, as in
/// PostgreSQL.
fn numerics(
    start: &Datum,
    stop: &Datum,
    step: Option<&Datum>,
    limit: u64,
) -> Result<Vec<Datum>, EvalError> {
    let nan = |what: &str| EvalError::InvalidParameter(format!("{what} cannot be NaN"));
    let value = |d: &Datum, what: &str| match d {
        Datum::Numeric(v) => Ok(v.clone()),
        Datum::NumericNaN => Err(nan(what)),
        other => Err(unexpected(other)),
    };
    let start = value(start, "start value")?;
    let stop = value(stop, "stop value")?;
    let step = match step {
        None => Numeric::ONE,
        Some(d) => value(d, "step size")?,
    };
    if step.is_zero() {
        return Err(zero_step());
    }
    let beyond = |v: &Numeric| {
        if step.is_sign_positive() {
            *v > stop
        } else {
            *v < stop
        }
    };
    if beyond(&start) {
        return Ok(vec![]);
    }
    // `(stop - start) / step`, the number of steps after the first value;
    // past `Numeric`'s range it is far beyond the limit.
    let steps = stop
        .checked_sub(&start)
        .and_then(|span| span.checked_div_trunc(&step.clone()));
    match steps
        .and_then(|n| n.to_i128())
        .and_then(|n| u128::try_from(n).ok())
    {
        Some(n) => check_length(n + 1, limit)?,
        None => return Err(EvalError::SeriesTooLong(limit)),
    }
    let mut out = Vec::new();
    let mut current = start;
    while !beyond(&current) {
        out.push(Datum::Numeric(current.clone()));
        check_length(out.len() as u128, limit)?;
        current = match current.checked_add(&step.clone()) {
            Some(next) => next,
            None => return Err(EvalError::NumericOverflow),
        };
    }
    Ok(out)
}

/// The sign PostgreSQL gives an interval (`interval_cmp` with zero): a
/// month counts 30 days, a day 24 hours.
fn interval_sign(i: &Interval) -> std::cmp::Ordering {
    let day = i128::from(Interval::MICROS_PER_DAY);
    let total = i128::from(i.months) * 30 * day + i128::from(i.days) * day + i128::from(i.micros);
    total.cmp(&0)
}

/// The series of timestamps (microseconds, in UTC) from `start` to `stop`
/// by the interval `step`, each the previous plus the step.
fn timestamps(
    start: i64,
    stop: i64,
    step: Option<&Datum>,
    limit: u64,
) -> Result<Vec<i64>, EvalError> {
    let step = match step {
        Some(Datum::Interval(i)) => *i,
        Some(other) => return Err(unexpected(other)),
        None => {
            return Err(EvalError::Internal(
                "generate_series over timestamps without a step".into(),
            ));
        }
    };
    let sign = interval_sign(&step);
    if sign == std::cmp::Ordering::Equal {
        return Err(zero_step());
    }
    let forward = sign == std::cmp::Ordering::Greater;
    let within = |t: i64| if forward { t <= stop } else { t >= stop };
    // Without months the step is a fixed length: the count is known.
    if step.months == 0 && within(start) {
        let length =
            i128::from(step.days) * i128::from(Interval::MICROS_PER_DAY) + i128::from(step.micros);
        let steps = (i128::from(stop) - i128::from(start)) / length;
        check_length(steps as u128 + 1, limit)?;
    }
    let mut out = Vec::new();
    let mut current = start;
    while within(current) {
        out.push(current);
        check_length(out.len() as u128, limit)?;
        // As PostgreSQL, the next value is computed (and can overflow)
        // before the comparison that ends the series.
        current = super::func::add_interval(current, &step)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(args: &[Datum]) -> Result<Vec<Datum>, EvalError> {
        generate_series(args)
    }

    #[test]
    fn integer_series_stop_at_the_bounds() {
        let i = Datum::Int32;
        assert_eq!(ints(&[i(1), i(3)]), Ok(vec![i(1), i(2), i(3)]));
        assert_eq!(
            ints(&[i(10), i(1), i(-3)]),
            Ok(vec![i(10), i(7), i(4), i(1)])
        );
        assert_eq!(ints(&[i(1), i(10), i(-1)]), Ok(vec![]));
        assert_eq!(ints(&[i(3), i(1)]), Ok(vec![]));
        assert_eq!(
            ints(&[i(i32::MAX - 1), i(i32::MAX)]),
            Ok(vec![i(i32::MAX - 1), i(i32::MAX)])
        );
        assert_eq!(
            ints(&[
                Datum::Int64(i64::MIN + 1),
                Datum::Int64(i64::MIN),
                Datum::Int64(-1)
            ]),
            Ok(vec![Datum::Int64(i64::MIN + 1), Datum::Int64(i64::MIN)])
        );
        assert_eq!(ints(&[i(1), Datum::Null]), Ok(vec![]));
        assert_eq!(ints(&[i(1), i(3), i(0)]), Err(zero_step()));
        assert_eq!(
            ints(&[Datum::Int64(0), Datum::Int64(i64::MAX)]),
            Err(EvalError::SeriesTooLong(MAX_SERIES_ROWS))
        );
    }

    #[test]
    fn numeric_series_keep_the_scale_of_their_steps() {
        let n = |s: &str| Datum::Numeric(s.parse().unwrap());
        let text = |r: Result<Vec<Datum>, EvalError>| -> Vec<String> {
            r.unwrap()
                .into_iter()
                .map(|d| match d {
                    Datum::Numeric(v) => v.to_string(),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            text(ints(&[n("1.0"), n("2"), n("0.5")])),
            ["1.0", "1.5", "2.0"]
        );
        assert_eq!(text(ints(&[n("1"), n("2"), n("0.5")])), ["1", "1.5", "2.0"]);
        assert_eq!(
            text(ints(&[n("1.05"), n("1.1"), n("0.02")])),
            ["1.05", "1.07", "1.09"]
        );
        assert_eq!(
            ints(&[n("1"), Datum::NumericNaN]),
            Err(EvalError::InvalidParameter(
                "stop value cannot be NaN".into()
            ))
        );
        assert_eq!(ints(&[n("1"), n("2"), n("0")]), Err(zero_step()));
        assert_eq!(
            ints(&[n("0"), n("1"), n("0.0000000001")]),
            Err(EvalError::SeriesTooLong(MAX_SERIES_ROWS))
        );
    }

    #[test]
    fn month_steps_clamp_and_carry_on() {
        let ts = |s: &str| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        let month = Datum::Interval(Interval {
            months: 1,
            days: 0,
            micros: 0,
        });
        let got = ints(&[
            Datum::Timestamp(ts("2020-01-31")),
            Datum::Timestamp(ts("2020-04-30")),
            month,
        ]);
        assert_eq!(
            got,
            Ok(["2020-01-31", "2020-02-29", "2020-03-29", "2020-04-29"]
                .iter()
                .map(|s| Datum::Timestamp(ts(s)))
                .collect())
        );
        // A month less 30 days is zero to PostgreSQL.
        let zero = Datum::Interval(Interval {
            months: 1,
            days: -30,
            micros: 0,
        });
        assert_eq!(
            ints(&[Datum::Timestamp(0), Datum::Timestamp(1), zero]),
            Err(zero_step())
        );
        // A step that does not advance (from January 31st, a month less
        // 29 days comes back to January 31st) ends at the limit.
        let stuck = Datum::Interval(Interval {
            months: 1,
            days: -29,
            micros: 0,
        });
        assert_eq!(
            series(
                &[
                    Datum::Timestamp(ts("2020-01-31")),
                    Datum::Timestamp(ts("2020-03-01")),
                    stuck
                ],
                100
            ),
            Err(EvalError::SeriesTooLong(100))
        );
    }
}
