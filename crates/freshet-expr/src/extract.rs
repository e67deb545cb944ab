//! PostgreSQL's `extract(field FROM x)` (a `numeric`) and
//! `date_part('field', x)` (a `double precision`) over `date`, `time`,
//! `timestamp`, `timestamptz` (in UTC, Freshet's time zone) and
//! `interval`, with PostgreSQL 15's fields, values, scales and errors.
//! DataFusion's `date_part` lacks several fields (century, julian, ...),
//! truncates seconds, and types every result as an integer or a float.

use crate::repr::Numeric;
use chrono::{Datelike, NaiveDate};

use crate::repr::{Datum, Interval, SqlState};

use super::EvalError;

/// A field `extract` knows, by its canonical name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
    Week,
    Dow,
    Isodow,
    Doy,
    Isoyear,
    Julian,
    Epoch,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

/// The field a (case-insensitive) name denotes, with PostgreSQL's
/// spellings.
fn field(name: &str) -> Option<Field> {
    use Field::*;
    Some(match name.to_lowercase().as_str() {
        "microsecond" | "microseconds" | "usec" | "usecs" | "us" => Microseconds,
        "millisecond" | "milliseconds" | "msec" | "msecs" | "ms" => Milliseconds,
        "second" | "seconds" | "sec" | "secs" | "s" => Second,
        "minute" | "minutes" | "min" | "mins" | "m" => Minute,
        "hour" | "hours" | "hr" | "hrs" | "h" => Hour,
        "day" | "days" | "d" => Day,
        "month" | "months" | "mon" | "mons" => Month,
        "quarter" | "qtr" => Quarter,
        "year" | "years" | "yr" | "yrs" | "y" => Year,
        "decade" | "decades" | "dec" => Decade,
        "century" | "centuries" | "cent" | "c" => Century,
        "millennium" | "millennia" | "mil" | "mils" => Millennium,
        "week" | "weeks" | "w" => Week,
        "dow" => Dow,
        "isodow" => Isodow,
        "doy" => Doy,
        "isoyear" => Isoyear,
        "julian" | "j" => Julian,
        "epoch" => Epoch,
        "timezone" => Timezone,
        "timezone_h" | "timezone_hour" => TimezoneHour,
        "timezone_m" | "timezone_minute" => TimezoneMinute,
        _ => return None,
    })
}

/// PostgreSQL's name of a value's type, for errors.
fn type_name(d: &Datum) -> &'static str {
    match d {
        Datum::Date(_) => "date",
        Datum::Time(_) => "time without time zone",
        Datum::Timestamp(_) => "timestamp without time zone",
        Datum::TimestampTz(_) => "timestamp with time zone",
        Datum::Interval(_) => "interval",
        _ => "this type",
    }
}

fn unit_error(code: SqlState, name: &str, d: &Datum, what: &str) -> EvalError {
    EvalError::Parse {
        code,
        message: format!(
            "unit \"{}\" {what} for type {}",
            name.to_lowercase(),
            type_name(d)
        ),
    }
}

/// An integer as a `numeric` of scale 0.
fn int(v: i64) -> Numeric {
    Numeric::from(v)
}

/// `a / b` as PostgreSQL's `numeric` division chooses its scale for two
/// non-negative integers (`select_div_scale`: 16 significant digits,
/// at least).
fn pg_div(a: i64, b: i64) -> Numeric {
    // Weight and first digit in base 10000, as PostgreSQL stores numerics.
    let weight_first = |v: i64| {
        let (mut w, mut f) = (0i32, v);
        while f >= 10_000 {
            f /= 10_000;
            w += 1;
        }
        (w, f)
    };
    let (w1, f1) = weight_first(a);
    let (w2, f2) = weight_first(b);
    let mut qweight = w1 - w2;
    if f1 < f2 {
        qweight -= 1;
    }
    let rscale = (16 - qweight * 4).clamp(0, Numeric::MAX_SCALE as i32) as u32;
    // `b` is a positive constant (micros per day), so the quotient exists.
    // The exact quotient rounded half away from zero, as `div_var` rounds.
    Numeric::from(a)
        .checked_div_to_scale(&Numeric::from(b), rscale)
        .unwrap_or_default()
}

/// The Julian day number of a date (PostgreSQL's `date2j`).
fn julian_day(d: NaiveDate) -> i64 {
    // 2000-01-01 is Julian day 2451545.
    i64::from(d.num_days_from_ce()) - 730_120 + 2_451_545
}

/// A year as PostgreSQL counts it (no year 0: 1 BC is -1).
fn pg_year(y: i64) -> i64 {
    if y > 0 { y } else { y - 1 }
}

fn date_fields(f: Field, date: NaiveDate) -> Option<Numeric> {
    use Field::*;
    let y = i64::from(date.year());
    Some(int(match f {
        Day => i64::from(date.day()),
        Month => i64::from(date.month()),
        Quarter => i64::from((date.month() - 1) / 3 + 1),
        Year => pg_year(y),
        Decade => {
            if y >= 0 {
                y / 10
            } else {
                -((8 - (y - 1)) / 10)
            }
        }
        Century => {
            if y > 0 {
                (y + 99) / 100
            } else {
                -((99 - (y - 1)) / 100)
            }
        }
        Millennium => {
            if y > 0 {
                (y + 999) / 1000
            } else {
                -((999 - (y - 1)) / 1000)
            }
        }
        Week => i64::from(date.iso_week().week()),
        Isoyear => {
            let iy = i64::from(date.iso_week().year());
            pg_year(iy)
        }
        Dow => i64::from(date.weekday().num_days_from_sunday()),
        Isodow => i64::from(date.weekday().number_from_monday()),
        Doy => i64::from(date.ordinal()),
        _ => return None,
    }))
}

/// `extract(name FROM d)` as a `numeric`.
pub fn extract(name: &str, d: &Datum) -> Result<Datum, EvalError> {
    use Field::*;
    if d.is_null() {
        return Ok(Datum::Null);
    }
    let Some(f) = field(name) else {
        return Err(unit_error(
            SqlState::INVALID_PARAMETER_VALUE,
            name,
            d,
            "not recognized",
        ));
    };
    let unsupported = || unit_error(SqlState::FEATURE_NOT_SUPPORTED, name, d, "not supported");
    let day_micros = Interval::MICROS_PER_DAY;
    let time_fields = |us: i64| -> Option<Numeric> {
        // `us`: microseconds since midnight (or of an interval's time).
        Some(match f {
            Microseconds => int(us % 60_000_000),
            Milliseconds => Numeric::new(us % 60_000_000, 3),
            Second => Numeric::new(us % 60_000_000, 6),
            Minute => int(us / 60_000_000 % 60),
            Hour => int(us / 3_600_000_000),
            _ => return None,
        })
    };
    let value = match d {
        Datum::Date(days) => {
            let date = NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .ok_or_else(|| EvalError::OutOfRange("date".into()))?;
            match f {
                Epoch => int(i64::from(*days) * 86_400),
                Julian => int(julian_day(date)),
                _ => date_fields(f, date).ok_or_else(unsupported)?,
            }
        }
        Datum::Time(us) => match f {
            Epoch => Numeric::new(*us, 6),
            _ => time_fields(*us).ok_or_else(unsupported)?,
        },
        Datum::Timestamp(t) | Datum::TimestampTz(t) => {
            let tz = matches!(d, Datum::TimestampTz(_));
            let days = t.div_euclid(day_micros);
            let us = t.rem_euclid(day_micros);
            let date = i32::try_from(days + 719_163)
                .ok()
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .ok_or_else(|| EvalError::OutOfRange("timestamp".into()))?;
            match f {
                Epoch => Numeric::new(*t, 6),
                Julian => int(julian_day(date))
                    .checked_add_rounded(pg_div(us, day_micros))
                    .ok_or(EvalError::NumericOverflow)?,
                Timezone | TimezoneHour | TimezoneMinute if tz => int(0),
                Timezone | TimezoneHour | TimezoneMinute => return Err(unsupported()),
                _ => match time_fields(us) {
                    Some(v) => v,
                    None => date_fields(f, date).ok_or_else(unsupported)?,
                },
            }
        }
        Datum::Interval(i) => {
            let years = i64::from(i.months / 12);
            match f {
                Microseconds | Milliseconds | Second | Minute | Hour => {
                    time_fields(i.micros).ok_or_else(unsupported)?
                }
                Day => int(i64::from(i.days)),
                Month => int(i64::from(i.months % 12)),
                Quarter => int(i64::from(i.months % 12 / 3 + 1)),
                Year => int(years),
                Decade => int(years / 10),
                Century => int(years / 100),
                Millennium => int(years / 1000),
                Epoch => {
                    // PostgreSQL: a year is 365.25 days, a month 30 days.
                    let secs_per_day = 86_400i64;
                    let whole = years * 36_525 * secs_per_day / 100
                        + i64::from(i.months % 12) * 30 * secs_per_day
                        + i64::from(i.days) * secs_per_day;
                    // In one step, so the scale is always 6 (`int(whole) +
                    // 0.000000` would drop it).
                    Numeric::try_from_i128_with_scale(
                        i128::from(whole) * 1_000_000 + i128::from(i.micros),
                        6,
                    )
                    .ok_or(EvalError::NumericOverflow)?
                }
                _ => return Err(unsupported()),
            }
        }
        other => {
            return Err(EvalError::Internal(format!("extract applied to {other:?}")));
        }
    };
    Ok(Datum::Numeric(value))
}

/// `date_part('name', d)`: [`extract`] as a `double precision`.
pub fn date_part(name: &str, d: &Datum) -> Result<Datum, EvalError> {
    Ok(match extract(name, d)? {
        Datum::Numeric(n) => Datum::f64(n.to_f64().unwrap_or(f64::NAN)),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Datum {
        crate::repr::strconv::parse(s, &crate::repr::ScalarType::Timestamp(None))
            .expect("timestamp")
    }

    fn ex(name: &str, d: &Datum) -> String {
        match extract(name, d) {
            Ok(Datum::Numeric(n)) => n.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn matches_postgres() {
        assert_eq!(
            ex("julian", &ts("2024-01-01 12:00")),
            "2460311.50000000000000000000"
        );
        // PostgreSQL's 2460311.000005787037037037037037 has more digits
        // than Freshet's numeric holds (28 significant).
        assert_eq!(
            ex("julian", &ts("2024-01-01 00:00:00.5")),
            "2460311.0000057870370370370370"
        );
        assert_eq!(ex("second", &ts("2024-01-01 10:11:12.5")), "12.500000");
        assert_eq!(
            ex("milliseconds", &ts("2024-01-01 10:11:12.5")),
            "12500.000"
        );
        assert_eq!(ex("century", &ts("0001-01-01")), "1");
        assert_eq!(ex("millennium", &ts("2000-12-31")), "2");
        assert_eq!(ex("week", &ts("2024-12-31")), "1");
        let i = Datum::Interval(Interval {
            months: 14,
            days: 3,
            micros: 4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000,
        });
        assert_eq!(ex("epoch", &i), "37015506.500000");
        assert_eq!(ex("quarter", &i), "1");
        // A whole number of seconds keeps PostgreSQL's six places.
        let day = Datum::Interval(Interval {
            months: 0,
            days: 1,
            micros: 0,
        });
        assert_eq!(ex("epoch", &day), "86400.000000");
    }
}
