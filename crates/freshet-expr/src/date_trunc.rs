//! `date_trunc(unit, timestamp | timestamptz | interval)` as PostgreSQL
//! 15's `timestamp_trunc`, `timestamptz_trunc` (the session time zone is
//! UTC) and `interval_trunc`: units with PostgreSQL's spellings (compared
//! on their first 10 letters, as its `DecodeUnits`), centuries and
//! millennia counted from year 1, weeks starting on the ISO Monday. A
//! `date` argument is planned as a `timestamptz`, as PostgreSQL converts
//! it.

use super::error::EvalError;
use crate::repr::strconv::{MICROS_PER_DAY, civil_from_days, days_from_civil};
use crate::repr::{Datum, Interval, SqlState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
}

/// PostgreSQL's unit table (`deltatktbl`), for the units `date_trunc`
/// takes; `None` for another word (an error naming it).
fn unit(name: &str) -> Option<Unit> {
    use Unit::*;
    let lower = name.to_lowercase();
    let key: String = lower.chars().take(10).collect();
    Some(match key.as_str() {
        "microsecon" | "us" | "usec" | "usecond" | "useconds" | "usecs" => Microseconds,
        "millisecon" | "ms" | "msec" | "msecond" | "mseconds" | "msecs" => Milliseconds,
        "s" | "sec" | "second" | "seconds" | "secs" => Second,
        "m" | "min" | "mins" | "minute" | "minutes" => Minute,
        "h" | "hour" | "hours" | "hr" | "hrs" => Hour,
        "d" | "day" | "days" => Day,
        "w" | "week" | "weeks" => Week,
        "mon" | "mons" | "month" | "months" => Month,
        "qtr" | "quarter" => Quarter,
        "y" | "year" | "years" | "yr" | "yrs" => Year,
        "dec" | "decade" | "decades" | "decs" => Decade,
        "c" | "cent" | "centuries" | "century" => Century,
        "mil" | "millennia" | "millennium" | "mils" => Millennium,
        _ => return None,
    })
}

fn unit_error(name: &str, type_name: &str, known: bool) -> EvalError {
    let lower = name.to_lowercase();
    if known {
        EvalError::Parse {
            code: SqlState::FEATURE_NOT_SUPPORTED,
            message: format!("unit \"{lower}\" not supported for type {type_name}"),
        }
    } else {
        EvalError::Parse {
            code: SqlState::INVALID_PARAMETER_VALUE,
            message: format!("unit \"{lower}\" not recognized for type {type_name}"),
        }
    }
}

/// `timestamp_trunc` on microseconds since 1970 (UTC for `timestamptz`).
fn trunc_timestamp(unit: Unit, ts: i64) -> i64 {
    let days = ts.div_euclid(MICROS_PER_DAY);
    let time = ts.rem_euclid(MICROS_PER_DAY);
    let (mut year, mut month, mut day) = civil_from_days(days);
    if unit == Unit::Week {
        // The Monday of the ISO week.
        let weekday = (days + 3).rem_euclid(7); // 0 = Monday
        return (days - weekday) * MICROS_PER_DAY;
    }
    let time = match unit {
        Unit::Microseconds => time,
        Unit::Milliseconds => time - time % 1000,
        Unit::Second => time - time % 1_000_000,
        Unit::Minute => time - time % 60_000_000,
        Unit::Hour => time - time % 3_600_000_000,
        _ => 0,
    };
    // `year` is astronomical (1 BC is 0), as PostgreSQL's `tm_year`.
    let mut y = year;
    if unit == Unit::Millennium {
        y = if y > 0 {
            ((y + 999) / 1000) * 1000 - 999
        } else {
            -((999 - (y - 1)) / 1000) * 1000 + 1
        };
    }
    if matches!(unit, Unit::Millennium | Unit::Century) {
        y = if y > 0 {
            ((y + 99) / 100) * 100 - 99
        } else {
            -((99 - (y - 1)) / 100) * 100 + 1
        };
    }
    if unit == Unit::Decade {
        y = if y > 0 {
            (y / 10) * 10
        } else {
            -((8 - (y - 1)) / 10) * 10
        };
    }
    year = y;
    if matches!(
        unit,
        Unit::Millennium | Unit::Century | Unit::Decade | Unit::Year
    ) {
        month = 1;
    }
    if matches!(
        unit,
        Unit::Millennium | Unit::Century | Unit::Decade | Unit::Year | Unit::Quarter
    ) {
        month = 3 * ((month - 1) / 3) + 1;
    }
    if !matches!(
        unit,
        Unit::Microseconds
            | Unit::Milliseconds
            | Unit::Second
            | Unit::Minute
            | Unit::Hour
            | Unit::Day
    ) {
        day = 1;
    }
    days_from_civil(year, month, day) * MICROS_PER_DAY + time
}

/// `interval_trunc`: the fields below `unit` set to zero (C's truncating
/// division, so negative fields truncate toward zero).
fn trunc_interval(unit: Unit, iv: &Interval, name: &str) -> Result<Interval, EvalError> {
    let mut years = iv.months / 12;
    let mut months = iv.months % 12;
    let mut days = iv.days;
    let mut hours = iv.micros / 3_600_000_000;
    let rest = iv.micros % 3_600_000_000;
    let mut minutes = rest / 60_000_000;
    let mut seconds = (rest % 60_000_000) / 1_000_000;
    let mut fsec = rest % 1_000_000;
    let rank = |u: Unit| match u {
        Unit::Microseconds => 0,
        Unit::Milliseconds => 1,
        Unit::Second => 2,
        Unit::Minute => 3,
        Unit::Hour => 4,
        Unit::Day => 5,
        Unit::Week => 6,
        Unit::Month => 7,
        Unit::Quarter => 8,
        Unit::Year => 9,
        Unit::Decade => 10,
        Unit::Century => 11,
        Unit::Millennium => 12,
    };
    if unit == Unit::Week {
        return Err(unit_error(name, "interval", true));
    }
    let r = rank(unit);
    if r >= 12 {
        years = (years / 1000) * 1000;
    }
    if r >= 11 {
        years = (years / 100) * 100;
    }
    if r >= 10 {
        years = (years / 10) * 10;
    }
    if r >= 9 {
        months = 0;
    }
    if r >= 8 {
        months = 3 * (months / 3);
    }
    if r >= 7 {
        days = 0;
    }
    if r >= 5 {
        hours = 0;
    }
    if r >= 4 {
        minutes = 0;
    }
    if r >= 3 {
        seconds = 0;
    }
    if r >= 2 {
        fsec = 0;
    } else if r == 1 {
        fsec = (fsec / 1000) * 1000;
    }
    Ok(Interval {
        months: years * 12 + months,
        days,
        micros: ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + fsec,
    })
}

/// `date_trunc(unit, value)`.
pub fn date_trunc(unit_name: &str, value: &Datum) -> Result<Datum, EvalError> {
    let type_name = match value {
        Datum::Timestamp(_) => "timestamp without time zone",
        Datum::TimestampTz(_) => "timestamp with time zone",
        Datum::Interval(_) => "interval",
        Datum::Null => return Ok(Datum::Null),
        other => {
            return Err(EvalError::Internal(format!("date_trunc of {other:?}")));
        }
    };
    let Some(u) = unit(unit_name) else {
        return Err(unit_error(unit_name, type_name, false));
    };
    Ok(match value {
        Datum::Timestamp(t) => Datum::Timestamp(trunc_timestamp(u, *t)),
        Datum::TimestampTz(t) => Datum::TimestampTz(trunc_timestamp(u, *t)),
        Datum::Interval(iv) => Datum::Interval(trunc_interval(u, iv, unit_name)?),
        _ => Datum::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centuries_and_weeks() {
        let day = |y, m, d| days_from_civil(y, m, d) * MICROS_PER_DAY;
        assert_eq!(
            trunc_timestamp(Unit::Century, day(2001, 5, 3)),
            day(2001, 1, 1)
        );
        assert_eq!(
            trunc_timestamp(Unit::Century, day(2000, 5, 3)),
            day(1901, 1, 1)
        );
        // 2024-05-17 is a Friday; its week starts on Monday the 13th.
        assert_eq!(
            trunc_timestamp(Unit::Week, day(2024, 5, 17)),
            day(2024, 5, 13)
        );
    }
}
