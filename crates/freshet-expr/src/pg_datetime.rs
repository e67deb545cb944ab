//! PostgreSQL's date/time constructors and interval functions that
//! DataFusion lacks or computes differently: `age`, `justify_days`,
//! `justify_hours`, `justify_interval`, `make_date`, `make_time`,
//! `make_timestamp`, `make_timestamptz` (in UTC, Freshet's session time
//! zone), `make_interval`, and `OVERLAPS`. Ported from PostgreSQL 15's
//! `timestamp.c` and `date.c`, errors included.

use crate::repr::strconv::{MICROS_PER_DAY, civil_from_days, days_from_civil, days_in_month};
use crate::repr::{Datum, Interval, SqlState};

use super::EvalError;

const MICROS_PER_SEC: i64 = 1_000_000;

fn interval_out_of_range() -> EvalError {
    EvalError::Parse {
        code: SqlState::DATETIME_FIELD_OVERFLOW,
        message: "interval out of range".into(),
    }
}

/// A timestamp's fields: (year, month, day, hour, minute, second, micros).
fn fields(micros: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let time = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = time / MICROS_PER_SEC;
    (
        y,
        i64::from(m),
        i64::from(d),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        time % MICROS_PER_SEC,
    )
}

/// `age(a, b)` of two timestamps (or two `timestamptz`s, in UTC):
/// PostgreSQL's `timestamp_age`, a symbolic difference in years, months
/// and days, borrowing from the month of the later value.
pub fn age(a: i64, b: i64) -> Result<Interval, EvalError> {
    let f1 = fields(a);
    let f2 = fields(b);
    let mut d = [
        f1.6 - f2.6,
        f1.5 - f2.5,
        f1.4 - f2.4,
        f1.3 - f2.3,
        f1.2 - f2.2,
        f1.1 - f2.1,
        f1.0 - f2.0,
    ];
    let flip = a < b;
    if flip {
        d.iter_mut().for_each(|x| *x = -*x);
    }
    let [
        mut fsec,
        mut sec,
        mut min,
        mut hour,
        mut mday,
        mut mon,
        mut year,
    ] = d;
    while fsec < 0 {
        fsec += MICROS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        // The month of the later value's predecessor: PostgreSQL takes
        // the length of the earlier value's month.
        let (y, m) = if flip { (f1.0, f1.1) } else { (f2.0, f2.1) };
        mday += i64::from(days_in_month(y, m as u32));
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    let sign = if flip { -1 } else { 1 };
    let months = (year * 12 + mon) * sign;
    let days = mday * sign;
    let time = (((hour * 60 + min) * 60 + sec) * MICROS_PER_SEC + fsec) * sign;
    Ok(Interval {
        months: i32::try_from(months).map_err(|_| interval_out_of_range())?,
        days: i32::try_from(days).map_err(|_| interval_out_of_range())?,
        micros: time,
    })
}

/// `justify_days`: each 30 days a month, the signs made to agree.
pub fn justify_days(i: Interval) -> Result<Interval, EvalError> {
    let mut r = carry_days(i)?;
    if r.months > 0 && r.days < 0 {
        r.days += 30;
        r.months -= 1;
    } else if r.months < 0 && r.days > 0 {
        r.days -= 30;
        r.months += 1;
    }
    Ok(r)
}

/// `justify_hours`: each 24 hours a day, the signs made to agree.
pub fn justify_hours(i: Interval) -> Result<Interval, EvalError> {
    let mut r = carry_hours(i)?;
    match_day_and_time_signs(&mut r);
    Ok(r)
}

/// Each whole 30 days of `i` moved into its months.
fn carry_days(i: Interval) -> Result<Interval, EvalError> {
    let mut r = i;
    let whole_month = r.days / 30;
    r.days -= whole_month * 30;
    r.months = r
        .months
        .checked_add(whole_month)
        .ok_or_else(interval_out_of_range)?;
    Ok(r)
}

/// Each whole 24 hours of `i`'s time moved into its days.
fn carry_hours(i: Interval) -> Result<Interval, EvalError> {
    let mut r = i;
    let whole_day = r.micros / MICROS_PER_DAY;
    r.micros -= whole_day * MICROS_PER_DAY;
    r.days = i32::try_from(whole_day)
        .ok()
        .and_then(|d| r.days.checked_add(d))
        .ok_or_else(interval_out_of_range)?;
    Ok(r)
}

/// Borrows a day so that the days and the time have the same sign.
fn match_day_and_time_signs(r: &mut Interval) {
    if r.days > 0 && r.micros < 0 {
        r.micros += MICROS_PER_DAY;
        r.days -= 1;
    } else if r.days < 0 && r.micros > 0 {
        r.micros -= MICROS_PER_DAY;
        r.days += 1;
    }
}

/// `justify_interval`: both justifications, the signs of all three
/// fields made to agree.
pub fn justify_interval(i: Interval) -> Result<Interval, EvalError> {
    let mut r = carry_days(carry_hours(i)?)?;
    if r.months > 0 && (r.days < 0 || (r.days == 0 && r.micros < 0)) {
        r.days += 30;
        r.months -= 1;
    } else if r.months < 0 && (r.days > 0 || (r.days == 0 && r.micros > 0)) {
        r.days -= 30;
        r.months += 1;
    }
    match_day_and_time_signs(&mut r);
    Ok(r)
}

/// The days since 1970-01-01 of `year-month-day` (a negative year is BC,
/// as in `make_date`), or PostgreSQL's `date field value out of range`.
fn make_days(year: i64, month: i64, day: i64) -> Result<i64, EvalError> {
    let err = || EvalError::Parse {
        code: SqlState::DATETIME_FIELD_OVERFLOW,
        message: format!("date field value out of range: {year}-{month:02}-{day:02}"),
    };
    if year == 0 || !(1..=12).contains(&month) || day < 1 {
        return Err(err());
    }
    // Astronomical numbering: 1 BC is year 0.
    let astro = if year < 0 { year + 1 } else { year };
    if day > i64::from(days_in_month(astro, month as u32)) {
        return Err(err());
    }
    let days = days_from_civil(astro, month as u32, day as u32);
    if !(crate::repr::strconv::DATE_MIN_DAYS..=crate::repr::strconv::DATE_MAX_DAYS).contains(&days)
    {
        return Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: format!("date out of range: {year}-{month:02}-{day:02}"),
        });
    }
    Ok(days)
}

/// `make_date(year, month, day)`.
pub fn make_date(year: i64, month: i64, day: i64) -> Result<Datum, EvalError> {
    let days = make_days(year, month, day)?;
    i32::try_from(days)
        .map(Datum::Date)
        .map_err(|_| EvalError::OutOfRange("date".into()))
}

/// C's `%g` of a seconds value, as PostgreSQL's messages print it.
fn g(sec: f64) -> String {
    let s = format!("{sec}");
    if sec.fract() == 0.0 && sec.abs() < 1e15 {
        format!("{:02}", sec as i64)
    } else if sec.abs() < 10.0 && sec >= 0.0 {
        format!("0{s}")
    } else {
        s
    }
}

/// The microseconds since midnight of `hour:min:sec`, or PostgreSQL's
/// `time field value out of range` (24:00:00 is allowed, as is a leap
/// second 60).
fn make_micros(hour: i64, min: i64, sec: f64) -> Result<i64, EvalError> {
    if hour < 0
        || !(0..=59).contains(&min)
        || sec.is_nan()
        || !(0.0..=60.0).contains(&sec)
        || hour > 24
        || (hour == 24 && (min > 0 || sec > 0.0))
    {
        return Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: format!("time field value out of range: {hour}:{min:02}:{}", g(sec)),
        });
    }
    Ok((hour * 60 + min) * 60 * MICROS_PER_SEC + (sec * 1e6).round_ties_even() as i64)
}

/// `make_time(hour, min, sec)`.
pub fn make_time(hour: i64, min: i64, sec: f64) -> Result<Datum, EvalError> {
    make_micros(hour, min, sec).map(Datum::Time)
}

/// `date_bin(stride, source, origin)` of timestamps (or `timestamptz`s):
/// PostgreSQL 15's `timestamp_bin`, the start of the bin holding `source`.
pub fn date_bin(stride: Interval, source: i64, origin: i64) -> Result<i64, EvalError> {
    if stride.months != 0 {
        return Err(EvalError::Parse {
            code: SqlState::FEATURE_NOT_SUPPORTED,
            message: "timestamps cannot be binned into intervals containing months or years".into(),
        });
    }
    let overflow = || EvalError::Parse {
        code: SqlState::DATETIME_FIELD_OVERFLOW,
        message: "interval out of range".into(),
    };
    let stride = i64::from(stride.days)
        .checked_mul(MICROS_PER_DAY)
        .and_then(|d| d.checked_add(stride.micros))
        .ok_or_else(overflow)?;
    if stride <= 0 {
        return Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: "stride must be greater than zero".into(),
        });
    }
    let diff = source.checked_sub(origin).ok_or_else(overflow)?;
    // Toward minus infinity when the source precedes the origin.
    let modulo = diff % stride;
    let mut delta = diff - modulo;
    if modulo < 0 {
        delta = delta.checked_sub(stride).ok_or_else(overflow)?;
    }
    origin.checked_add(delta).ok_or_else(|| EvalError::Parse {
        code: SqlState::DATETIME_FIELD_OVERFLOW,
        message: "timestamp out of range".into(),
    })
}

/// `make_timestamp(year, month, day, hour, min, sec)`: the microseconds
/// since 1970-01-01 (`make_timestamptz` reads them as UTC).
pub fn make_timestamp(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: f64,
) -> Result<i64, EvalError> {
    let days = make_days(year, month, day)?;
    let time = make_micros(hour, min, sec)?;
    days.checked_mul(MICROS_PER_DAY)
        .and_then(|d| d.checked_add(time))
        .ok_or_else(|| EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: format!(
                "timestamp out of range: {year}-{month:02}-{day:02} {hour}:{min:02}:{}",
                g(sec)
            ),
        })
}

/// `make_interval(years, months, weeks, days, hours, mins, secs)`.
pub fn make_interval(
    years: i32,
    months: i32,
    weeks: i32,
    days: i32,
    hours: i32,
    mins: i32,
    secs: f64,
) -> Result<Interval, EvalError> {
    if !secs.is_finite() {
        return Err(interval_out_of_range());
    }
    // PostgreSQL 15 does not check these sums: they wrap (it is built
    // with `-fwrapv`), and so do they here.
    let months = years.wrapping_mul(12).wrapping_add(months);
    let days = weeks.wrapping_mul(7).wrapping_add(days);
    let secs = (secs * 1e6).round_ties_even();
    // Where PostgreSQL's conversion to int64 would be undefined, an error.
    if secs.abs() >= 9.2e18 {
        return Err(interval_out_of_range());
    }
    let micros = (i64::from(hours) * 3600 * MICROS_PER_SEC)
        .wrapping_add(i64::from(mins) * 60 * MICROS_PER_SEC)
        .wrapping_add(secs as i64);
    Ok(Interval {
        months,
        days,
        micros,
    })
}

/// `(start1, end1) OVERLAPS (start2, end2)`, PostgreSQL's
/// `overlaps_timestamp` (and `overlaps_time`): each end may be an
/// `interval`, added to its start first. A period with one NULL end is the
/// instant at the other; the result is NULL where the NULLs leave it
/// unknown, exactly as PostgreSQL decides.
pub fn overlaps(args: &[Datum]) -> Result<Datum, EvalError> {
    let [s1, e1, s2, e2] = args else {
        return Err(EvalError::Internal(format!(
            "overlaps called with {} arguments",
            args.len()
        )));
    };
    let end = |start: &Datum, end: &Datum| -> Result<Option<Datum>, EvalError> {
        match end {
            Datum::Null => Ok(None),
            Datum::Interval(_) if start.is_null() => Ok(None),
            Datum::Interval(_) => super::func::BinaryFunc::Add
                .eval(start.clone(), end.clone())
                .map(Some),
            d => Ok(Some(d.clone())),
        }
    };
    let start = |d: &Datum| (!d.is_null()).then(|| d.clone());
    // The lesser end first; a NULL start takes the other end's place.
    let period = |s: Option<Datum>, e: Option<Datum>| match (s, e) {
        (None, None) => None,
        (None, Some(e)) => Some((e, None)),
        (Some(s), Some(e)) if s > e => Some((e, Some(s))),
        (Some(s), e) => Some((s, e)),
    };
    let (Some((ts1, te1)), Some((ts2, te2))) = (
        period(start(s1), end(s1, e1)?),
        period(start(s2), end(s2, e2)?),
    ) else {
        return Ok(Datum::Null);
    };
    let result = match ts1.cmp(&ts2) {
        std::cmp::Ordering::Greater => match (&te1, &te2) {
            (_, None) => None,
            (_, Some(te2)) if ts1 < *te2 => Some(true),
            (None, _) => None,
            _ => Some(false),
        },
        std::cmp::Ordering::Less => match (&te1, &te2) {
            (None, _) => None,
            (Some(te1), _) if ts2 < *te1 => Some(true),
            (_, None) => None,
            _ => Some(false),
        },
        std::cmp::Ordering::Equal => (te1.is_some() && te2.is_some()).then_some(true),
    };
    Ok(result.map_or(Datum::Null, Datum::Bool))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(y: i64, m: u32, d: u32, h: i64) -> i64 {
        days_from_civil(y, m, d) * MICROS_PER_DAY + h * 3600 * MICROS_PER_SEC
    }

    #[test]
    fn age_borrows_like_postgres() {
        // age('2001-04-10', '1957-06-13') = 43 years 9 mons 27 days.
        let a = age(ts(2001, 4, 10, 0), ts(1957, 6, 13, 0)).unwrap();
        assert_eq!((a.months, a.days, a.micros), (43 * 12 + 9, 27, 0));
        // age('2001-04-10 12:00', '2001-04-11') = -12:00:00.
        let a = age(ts(2001, 4, 10, 12), ts(2001, 4, 11, 0)).unwrap();
        assert_eq!(
            (a.months, a.days, a.micros),
            (0, 0, -12 * 3600 * MICROS_PER_SEC)
        );
        // age('2000-02-28', '2000-03-31') = -1 mons -3 days (borrows 31 days from March... as PG).
        let a = age(ts(2000, 2, 28, 0), ts(2000, 3, 31, 0)).unwrap();
        assert_eq!((a.months, a.days), (-1, -3));
    }

    #[test]
    fn justify_like_postgres() {
        let iv = |months, days, micros| Interval {
            months,
            days,
            micros,
        };
        assert_eq!(justify_days(iv(0, 35, 0)).unwrap(), iv(1, 5, 0));
        assert_eq!(justify_days(iv(1, -5, 0)).unwrap(), iv(0, 25, 0));
        let hour = 3600 * MICROS_PER_SEC;
        assert_eq!(
            justify_hours(iv(0, 0, 27 * hour)).unwrap(),
            iv(0, 1, 3 * hour)
        );
        assert_eq!(
            justify_interval(iv(1, 0, -hour)).unwrap(),
            iv(0, 29, 23 * hour)
        );
    }

    #[test]
    fn constructors_check_fields() {
        assert!(make_date(2013, 2, 30).is_err());
        assert_eq!(
            make_date(-44, 3, 15).unwrap(),
            Datum::Date(days_from_civil(-43, 3, 15) as i32)
        );
        assert_eq!(
            make_time(8, 15, 23.5).unwrap(),
            Datum::Time((8 * 3600 + 15 * 60 + 23) * MICROS_PER_SEC + 500_000)
        );
        let err = make_time(25, 0, 0.0).unwrap_err();
        assert_eq!(err.to_string(), "time field value out of range: 25:00:00");
        assert!(make_interval(0, 0, 0, 0, 0, 0, 1e300).is_err());
        assert_eq!(
            make_interval(i32::MAX, 1, 0, 0, 0, 0, 0.0).unwrap().months,
            -11
        );
    }
}
