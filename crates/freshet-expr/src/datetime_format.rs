//! PostgreSQL's date/time templates: `to_char(timestamp | timestamptz |
//! date | interval | time, text)`, and `to_timestamp(text, text)` /
//! `to_date(text, text)`, which read text with the same templates
//! (PostgreSQL's `formatting.c`).
//!
//! A template is scanned left to right for the longest keyword at each
//! position (case matters: `Month` capitalizes, `MONTH` shouts, and `Yyyy`
//! is `Y` then `yyy`, as in PostgreSQL); `FM` before a keyword drops its
//! padding, `TH`/`th` after a number adds its ordinal suffix, `"…"` is
//! literal text (`\"` a quote) and anything else is copied. The session
//! time zone is UTC, so `TZ` is `UTC` for a `timestamptz` (and empty for a
//! `timestamp`), `OF` and `TZH` are `+00`.

use super::error::EvalError;
use crate::repr::strconv::{MICROS_PER_DAY, civil_from_days, days_from_civil};
use crate::repr::{Datum, SqlState};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JDATE: i64 = 2_440_588;

/// The template keywords, PostgreSQL's spellings (each case variant it
/// accepts is listed).
const KEYWORDS: &[&str] = &[
    "A.D.", "A.M.", "AD", "AM", "B.C.", "BC", "CC", "DAY", "DDD", "DD", "DY", "Day", "Dy", "D",
    "FF1", "FF2", "FF3", "FF4", "FF5", "FF6", "FX", "HH24", "HH12", "HH", "IDDD", "ID", "IW",
    "IYYY", "IYY", "IY", "I", "J", "MI", "MM", "MONTH", "MON", "MS", "Month", "Mon", "OF", "P.M.",
    "PM", "Q", "RM", "SSSSS", "SSSS", "SS", "TZH", "TZM", "TZ", "US", "WW", "W", "Y,YYY", "YYYY",
    "YYY", "YY", "Y", "a.d.", "a.m.", "ad", "am", "b.c.", "bc", "cc", "day", "ddd", "dd", "dy",
    "d", "ff1", "ff2", "ff3", "ff4", "ff5", "ff6", "fx", "hh24", "hh12", "hh", "iddd", "id", "iw",
    "iyyy", "iyy", "iy", "i", "j", "mi", "mm", "month", "mon", "ms", "of", "p.m.", "pm", "q", "rm",
    "sssss", "ssss", "ss", "tzh", "tzm", "tz", "us", "ww", "w", "y,yyy", "yyyy", "yyy", "yy", "y",
];

/// One element of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// Literal text.
    Text(String),
    /// A keyword with its `FM` prefix and `TH`/`th` suffix.
    Field {
        key: &'static str,
        fill_mode: bool,
        /// `Some(true)` for `TH`, `Some(false)` for `th`.
        ordinal: Option<bool>,
    },
}

fn parse_template(template: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    let mut fill_mode = false;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
            fill_mode = true;
            rest = r;
            continue;
        }
        // `TM` (translation mode) changes nothing in the C locale.
        if let Some(r) = rest.strip_prefix("TM").or_else(|| rest.strip_prefix("tm")) {
            rest = r;
            continue;
        }
        let key = KEYWORDS
            .iter()
            .filter(|k| rest.starts_with(**k))
            .max_by_key(|k| k.len());
        if let Some(key) = key {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(&mut text)));
            }
            rest = &rest[key.len()..];
            let ordinal = if let Some(r) = rest.strip_prefix("TH") {
                rest = r;
                Some(true)
            } else if let Some(r) = rest.strip_prefix("th") {
                rest = r;
                Some(false)
            } else {
                None
            };
            nodes.push(Node::Field {
                key,
                fill_mode: std::mem::take(&mut fill_mode),
                ordinal,
            });
            continue;
        }
        fill_mode = false;
        if c == '"' {
            // Quoted text; `\"` inside is a quote.
            rest = &rest[1..];
            let mut chars = rest.char_indices();
            let mut end = rest.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' if rest[i + 1..].starts_with('"') => {
                        text.push('"');
                        chars.next();
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    ch => text.push(ch),
                }
            }
            rest = &rest[end.min(rest.len())..];
            continue;
        }
        if c == '\\' && rest[1..].starts_with('"') {
            text.push('"');
            rest = &rest[2..];
            continue;
        }
        text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    nodes
}

/// A broken-down date and time (or interval).
#[derive(Debug, Clone, Copy)]
struct Tm {
    /// Astronomical year (1 BC is 0); for an interval, whole years.
    year: i64,
    /// 1–12; for an interval, the months beyond the years (0–11).
    month: i64,
    /// Day of the month; for an interval, its days.
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
    /// Days since 1970-01-01 (dates and timestamps only).
    days: Option<i64>,
    /// `Some(true)` for a `timestamptz`, `Some(false)` for a `timestamp`.
    zoned: bool,
    interval: bool,
}

impl Tm {
    fn from_timestamp(micros: i64, zoned: bool) -> Tm {
        let days = micros.div_euclid(MICROS_PER_DAY);
        let time = micros.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Tm {
            year,
            month: i64::from(month),
            day: i64::from(day),
            hour: time / 3_600_000_000,
            minute: time / 60_000_000 % 60,
            second: time / 1_000_000 % 60,
            micros: time % 1_000_000,
            days: Some(days),
            zoned,
            interval: false,
        }
    }

    /// An interval (or a `time`, which PostgreSQL formats as one): its
    /// fields keep their signs.
    fn from_interval(months: i64, days: i64, micros: i64) -> Tm {
        Tm {
            year: months / 12,
            month: months % 12,
            day: days,
            hour: micros / 3_600_000_000,
            minute: micros / 60_000_000 % 60,
            second: micros / 1_000_000 % 60,
            micros: micros % 1_000_000,
            days: None,
            zoned: false,
            interval: true,
        }
    }

    /// The year as written with `BC`: 1 BC is 1.
    fn era_year(&self) -> i64 {
        if self.interval {
            self.year
        } else {
            era(self.year)
        }
    }

    fn day_of_year(&self) -> i64 {
        match self.days {
            Some(d) => d - days_from_civil(self.year, 1, 1) + 1,
            None => 0,
        }
    }

    /// 0 for Sunday.
    fn day_of_week(&self) -> i64 {
        self.days.map_or(0, |d| (d + 4).rem_euclid(7))
    }

    /// The ISO 8601 year, week (1–53) and day of the ISO year.
    fn iso(&self) -> (i64, i64, i64) {
        let Some(days) = self.days else {
            return (self.year, 0, 0);
        };
        let iso_dow = (days + 3).rem_euclid(7) + 1; // Monday 1 .. Sunday 7
        let thursday = days - (iso_dow - 1) + 3;
        let (iso_year, _, _) = civil_from_days(thursday);
        let jan4 = days_from_civil(iso_year, 1, 4);
        let first_monday = jan4 - ((jan4 + 3).rem_euclid(7));
        let week = (days - first_monday) / 7 + 1;
        (iso_year, week, days - first_monday + 1)
    }
}

/// A year as written with `BC` (1 BC is 1).
fn era(year: i64) -> i64 {
    if year <= 0 { 1 - year } else { year }
}

fn ordinal_suffix(n: i64, upper: bool) -> &'static str {
    let n = n.abs();
    let s = if (11..=13).contains(&(n % 100)) {
        "th"
    } else {
        match n % 10 {
            1 => "st",
            2 => "nd",
            3 => "rd",
            _ => "th",
        }
    };
    match (upper, s) {
        (false, s) => s,
        (true, "st") => "ST",
        (true, "nd") => "ND",
        (true, "rd") => "RD",
        (true, _) => "TH",
    }
}

/// A name in the case of its keyword (`MONTH`, `Month`, `month`), padded to
/// `width` unless in fill mode.
fn cased(name: &str, key: &str, width: usize, fill_mode: bool) -> String {
    let s = if key.chars().all(|c| c.is_ascii_uppercase()) {
        name.to_uppercase()
    } else if key.chars().all(|c| c.is_ascii_lowercase()) {
        name.to_lowercase()
    } else {
        name.to_string()
    };
    if fill_mode { s } else { format!("{s:<width$}") }
}

/// Formats a value of `to_char`'s first argument with a template.
pub fn to_char(value: &Datum, template: &str) -> Result<Datum, EvalError> {
    let tm = match value {
        Datum::Timestamp(t) => Tm::from_timestamp(*t, false),
        Datum::TimestampTz(t) => Tm::from_timestamp(*t, true),
        Datum::Date(d) => Tm::from_timestamp(i64::from(*d) * MICROS_PER_DAY, false),
        Datum::Interval(i) => Tm::from_interval(i64::from(i.months), i64::from(i.days), i.micros),
        Datum::Time(t) => Tm::from_interval(0, 0, *t),
        other => {
            return Err(EvalError::Internal(format!(
                "to_char of unexpected value {other:?}"
            )));
        }
    };
    let mut out = String::new();
    for node in parse_template(template) {
        let (key, fill_mode, ordinal) = match node {
            Node::Text(t) => {
                out.push_str(&t);
                continue;
            }
            Node::Field {
                key,
                fill_mode,
                ordinal,
            } => (key, fill_mode, ordinal),
        };
        // A number zero-padded to `width` (`negative_width` when below
        // zero, for the fields PostgreSQL prints with room for the sign).
        let mut number = |n: i64, width: usize, negative_width: usize| {
            let w = if fill_mode {
                0
            } else if n < 0 {
                negative_width
            } else {
                width
            };
            out.push_str(&format!("{n:0w$}"));
            if let Some(upper) = ordinal {
                out.push_str(ordinal_suffix(n, upper));
            }
        };
        let upper = key.to_ascii_uppercase();
        let hour12 = if tm.hour % 12 == 0 { 12 } else { tm.hour % 12 };
        match upper.as_str() {
            "HH" | "HH12" => number(hour12, 2, 3),
            "HH24" => number(tm.hour, 2, 3),
            "MI" => number(tm.minute, 2, 3),
            "SS" => number(tm.second, 2, 3),
            "MS" => number(tm.micros / 1000, 3, 4),
            "US" => number(tm.micros, 6, 7),
            "FF1" | "FF2" | "FF3" | "FF4" | "FF5" | "FF6" => {
                let digits = u32::from(upper.as_bytes()[2] - b'0');
                let n = tm.micros / 10i64.pow(6 - digits);
                number(n, digits as usize, digits as usize + 1)
            }
            "SSSS" | "SSSSS" => number(tm.hour * 3600 + tm.minute * 60 + tm.second, 0, 0),
            "AM" | "PM" | "A.M." | "P.M." => {
                let pm = tm.hour % 24 >= 12;
                let dotted = key.contains('.');
                let s = match (pm, dotted) {
                    (false, false) => "AM",
                    (true, false) => "PM",
                    (false, true) => "A.M.",
                    (true, true) => "P.M.",
                };
                if key.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    out.push_str(&s.to_lowercase());
                } else {
                    out.push_str(s);
                }
            }
            "AD" | "BC" | "A.D." | "B.C." => {
                let bc = tm.year <= 0 && !tm.interval;
                let dotted = key.contains('.');
                let s = match (bc, dotted) {
                    (false, false) => "AD",
                    (true, false) => "BC",
                    (false, true) => "A.D.",
                    (true, true) => "B.C.",
                };
                if key.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    out.push_str(&s.to_lowercase());
                } else {
                    out.push_str(s);
                }
            }
            "YYYY" => number(tm.era_year(), 4, 5),
            "Y,YYY" => {
                let y = tm.era_year();
                let s = format!("{},{:03}", y / 1000, (y % 1000).abs());
                out.push_str(&s);
                if let Some(upper) = ordinal {
                    out.push_str(ordinal_suffix(y, upper));
                }
            }
            "YYY" => number(tm.era_year() % 1000, 3, 4),
            "YY" => number(tm.era_year() % 100, 2, 3),
            "Y" => number(tm.era_year() % 10, 1, 2),
            "IYYY" => number(era(tm.iso().0), 4, 5),
            "IYY" => number(era(tm.iso().0) % 1000, 3, 4),
            "IY" => number(era(tm.iso().0) % 100, 2, 3),
            "I" => number(era(tm.iso().0) % 10, 1, 2),
            "IW" => number(tm.iso().1, 2, 3),
            "IDDD" => number(tm.iso().2, 3, 4),
            "ID" => number((tm.day_of_week() + 6) % 7 + 1, 1, 2),
            "MM" => number(tm.month, 2, 3),
            "MONTH" | "MON" if tm.interval && tm.month == 0 => {}
            "MONTH" => out.push_str(&cased(
                MONTHS[(tm.month.clamp(1, 12) - 1) as usize],
                key,
                9,
                fill_mode,
            )),
            "MON" => out.push_str(&cased(
                &MONTHS[(tm.month.clamp(1, 12) - 1) as usize][..3],
                key,
                3,
                true,
            )),
            "RM" | "Q" if tm.interval && tm.month == 0 => {}
            "RM" => {
                let roman = ROMAN[(tm.month.clamp(1, 12) - 1) as usize];
                out.push_str(&cased(roman, key, 4, fill_mode));
            }
            "DAY" => out.push_str(&cased(DAYS[tm.day_of_week() as usize], key, 9, fill_mode)),
            "DY" => out.push_str(&cased(&DAYS[tm.day_of_week() as usize][..3], key, 3, true)),
            "DDD" => number(tm.day_of_year(), 3, 4),
            "DD" => number(tm.day, 2, 2),
            "D" => number(tm.day_of_week() + 1, 1, 2),
            "W" => number((tm.day - 1) / 7 + 1, 1, 2),
            "WW" => number((tm.day_of_year() - 1) / 7 + 1, 2, 3),
            "Q" => number((tm.month - 1) / 3 + 1, 0, 0),
            "CC" => {
                let cc = if tm.interval {
                    tm.year / 100
                } else if tm.year > 0 {
                    (tm.year + 99) / 100
                } else {
                    tm.year / 100 - 1
                };
                number(cc, 2, 3)
            }
            "J" => number(tm.days.unwrap_or(0) + UNIX_EPOCH_JDATE, 0, 0),
            "TZ" if tm.zoned => out.push_str(if key == "tz" { "utc" } else { "UTC" }),
            "OF" | "TZH" => out.push_str("+00"),
            "TZM" => out.push_str("00"),
            // `FX` only matters when reading text.
            _ => {}
        }
    }
    Ok(Datum::String(out))
}

/// The functions of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FormatFunc {
    /// `to_char(datetime, template)`.
    ToChar,
    /// `to_timestamp(text, template)`.
    ToTimestamp,
    /// `to_timestamp(seconds since 1970)`.
    ToTimestampEpoch,
    /// `to_date(text, template)`.
    ToDate,
    /// `to_number(text, template)` (`expr/number_format.rs`).
    ToNumber,
}

impl FormatFunc {
    /// The SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            FormatFunc::ToChar => "to_char",
            FormatFunc::ToTimestamp | FormatFunc::ToTimestampEpoch => "to_timestamp",
            FormatFunc::ToDate => "to_date",
            FormatFunc::ToNumber => "to_number",
        }
    }

    /// Applies the function (strict: NULL in, NULL out).
    pub fn eval(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        if args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        match (self, args.as_slice()) {
            (
                FormatFunc::ToChar,
                [
                    value @ (Datum::Int16(_)
                    | Datum::Int32(_)
                    | Datum::Int64(_)
                    | Datum::Float32(_)
                    | Datum::Float64(_)
                    | Datum::Numeric(_)
                    | Datum::NumericNaN),
                    Datum::String(t),
                ],
            ) => super::number_format::to_char(value, t),
            (FormatFunc::ToChar, [value, Datum::String(t)]) => to_char(value, t),
            (FormatFunc::ToNumber, [Datum::String(s), Datum::String(t)]) => {
                super::number_format::to_number(s, t)
            }
            (FormatFunc::ToTimestamp, [Datum::String(s), Datum::String(t)]) => to_timestamp(s, t),
            (FormatFunc::ToDate, [Datum::String(s), Datum::String(t)]) => to_date(s, t),
            (FormatFunc::ToTimestampEpoch, [Datum::Float64(secs)]) => from_epoch(secs.0),
            _ => Err(EvalError::Internal(format!(
                "{} applied to unexpected values {args:?}",
                self.name()
            ))),
        }
    }
}

/// `to_timestamp(double precision)`: seconds since 1970 as a
/// `timestamptz`, rounded to microseconds.
fn from_epoch(secs: f64) -> Result<Datum, EvalError> {
    if secs.is_nan() {
        return Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: "timestamp cannot be NaN".into(),
        });
    }
    let micros = (secs * 1e6).round();
    if !(crate::repr::strconv::TIMESTAMP_MIN_MICROS as f64..i64::MAX as f64).contains(&micros) {
        return Err(EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: format!("timestamp out of range: \"{secs}\""),
        });
    }
    Ok(Datum::TimestampTz(micros as i64))
}

/// An error reading text with a template (`22007`).
fn bad(message: String) -> EvalError {
    EvalError::Parse {
        code: SqlState::INVALID_DATETIME_FORMAT,
        message,
    }
}

/// The fields read from text.
#[derive(Default)]
struct Parsed {
    year: Option<i64>,
    /// Digits the year was written with (two-digit years are 1970–2069).
    year_digits: usize,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    hour: Option<i64>,
    /// `Some(true)` for PM.
    pm: Option<bool>,
    minute: i64,
    second: i64,
    micros: i64,
    bc: bool,
    tz_seconds: i64,
}

/// Reads `text` with `template`, PostgreSQL's `to_timestamp`/`to_date`:
/// spaces and separators in the text are skipped where the template has
/// them, numbers may be shorter than their field (up to the next
/// non-digit). Gives microseconds since 1970 (UTC) and whether a time of
/// day was read.
fn read(text: &str, template: &str) -> Result<i64, EvalError> {
    let mut p = Parsed::default();
    let mut rest = text;
    for node in parse_template(template) {
        match node {
            Node::Text(t) => {
                // Each template character skips one text character, except
                // that spaces match any run of spaces.
                for c in t.chars() {
                    if c == ' ' {
                        rest = rest.trim_start_matches(' ');
                    } else if let Some(ch) = rest.chars().next() {
                        rest = &rest[ch.len_utf8()..];
                    }
                }
            }
            Node::Field { key, .. } => {
                // Leading spaces before a field are skipped.
                rest = rest.trim_start_matches(' ');
                let upper = key.to_ascii_uppercase();
                match upper.as_str() {
                    "YYYY" | "IYYY" => {
                        let before = rest.len();
                        p.year = Some(read_number(&mut rest, usize::MAX, key)?);
                        p.year_digits = before - rest.len();
                    }
                    "Y,YYY" => {
                        let thousands = read_number(&mut rest, usize::MAX, key)?;
                        rest = rest.strip_prefix(',').unwrap_or(rest);
                        let units = read_number(&mut rest, 3, key)?;
                        p.year = Some(thousands * 1000 + units);
                        p.year_digits = 4;
                    }
                    "YYY" | "IYY" => {
                        p.year = Some(read_number(&mut rest, 3, key)?);
                        p.year_digits = 3;
                    }
                    "YY" | "IY" => {
                        p.year = Some(read_number(&mut rest, 2, key)?);
                        p.year_digits = 2;
                    }
                    "Y" | "I" => {
                        p.year = Some(read_number(&mut rest, 1, key)?);
                        p.year_digits = 1;
                    }
                    "MM" => p.month = Some(read_number(&mut rest, 2, key)?),
                    "DD" => p.day = Some(read_number(&mut rest, 2, key)?),
                    "DDD" | "IDDD" => p.day_of_year = Some(read_number(&mut rest, 3, key)?),
                    "HH" | "HH12" => p.hour = Some(read_number(&mut rest, 2, key)?),
                    "HH24" => {
                        p.hour = Some(read_number(&mut rest, 2, key)?);
                        p.pm = None;
                    }
                    "MI" => p.minute = read_number(&mut rest, 2, key)?,
                    "SS" => p.second = read_number(&mut rest, 2, key)?,
                    "MS" => {
                        let before = rest.len();
                        let v = read_number(&mut rest, 3, key)?;
                        let digits = (before - rest.len()) as u32;
                        p.micros = v * 10i64.pow(3 - digits.min(3)) * 1000;
                    }
                    "US" | "FF1" | "FF2" | "FF3" | "FF4" | "FF5" | "FF6" => {
                        let before = rest.len();
                        let v = read_number(&mut rest, 6, key)?;
                        let digits = (before - rest.len()) as u32;
                        p.micros = v * 10i64.pow(6 - digits.min(6));
                    }
                    "SSSS" | "SSSSS" => {
                        let s = read_number(&mut rest, 5, key)?;
                        p.hour = Some(s / 3600);
                        p.minute = s / 60 % 60;
                        p.second = s % 60;
                    }
                    "AM" | "PM" | "A.M." | "P.M." => {
                        let word = |s: &str| {
                            rest.get(..s.len())
                                .is_some_and(|r| r.eq_ignore_ascii_case(s))
                        };
                        let (pm, len) = if word("a.m.") {
                            (false, 4)
                        } else if word("p.m.") {
                            (true, 4)
                        } else if word("am") {
                            (false, 2)
                        } else if word("pm") {
                            (true, 2)
                        } else {
                            return Err(bad(format!(
                                "invalid value \"{}\" for \"{key}\"",
                                rest.chars().take(4).collect::<String>()
                            )));
                        };
                        p.pm = Some(pm);
                        rest = &rest[len..];
                    }
                    "AD" | "BC" | "A.D." | "B.C." => {
                        let word = |s: &str| {
                            rest.get(..s.len())
                                .is_some_and(|r| r.eq_ignore_ascii_case(s))
                        };
                        if word("b.c.") || word("a.d.") {
                            p.bc = word("b.c.");
                            rest = &rest[4..];
                        } else if word("bc") || word("ad") {
                            p.bc = word("bc");
                            rest = &rest[2..];
                        } else {
                            return Err(bad(format!(
                                "invalid value \"{}\" for \"{key}\"",
                                rest.chars().take(4).collect::<String>()
                            )));
                        }
                    }
                    "MONTH" | "MON" => {
                        let full = upper == "MONTH";
                        let found = MONTHS.iter().position(|m| {
                            let name = if full { *m } else { &m[..3] };
                            rest.get(..name.len())
                                .is_some_and(|r| r.eq_ignore_ascii_case(name))
                        });
                        let Some(i) = found else {
                            return Err(bad(format!(
                                "invalid value \"{}\" for \"{key}\"",
                                rest.chars()
                                    .take(if full { 9 } else { 3 })
                                    .collect::<String>()
                            )));
                        };
                        let name = MONTHS[i];
                        rest = &rest[if full { name.len() } else { 3 }..];
                        p.month = Some(i as i64 + 1);
                    }
                    "DAY" | "DY" => {
                        let full = upper == "DAY";
                        let found = DAYS.iter().find(|d| {
                            let name = if full { **d } else { &d[..3] };
                            rest.get(..name.len())
                                .is_some_and(|r| r.eq_ignore_ascii_case(name))
                        });
                        let Some(name) = found else {
                            return Err(bad(format!(
                                "invalid value \"{}\" for \"{key}\"",
                                rest.chars()
                                    .take(if full { 9 } else { 3 })
                                    .collect::<String>()
                            )));
                        };
                        // The day of the week is read and ignored.
                        rest = &rest[if full { name.len() } else { 3 }..];
                    }
                    "TZH" => {
                        let sign = if rest.starts_with('-') { -1 } else { 1 };
                        rest = rest.trim_start_matches(['+', '-']);
                        p.tz_seconds += sign * read_number(&mut rest, 2, key)? * 3600;
                    }
                    "TZM" => {
                        let m = read_number(&mut rest, 2, key)?;
                        p.tz_seconds += p.tz_seconds.signum().max(1) * m * 60;
                    }
                    "FX" => {}
                    _ => {
                        return Err(EvalError::Unsupported(format!(
                            "template pattern \"{key}\" in to_timestamp and to_date"
                        )));
                    }
                }
            }
        }
    }
    let mut year = p.year.unwrap_or(1);
    if p.year_digits > 0 && p.year_digits <= 2 && year >= 0 {
        // Two digits: the year nearest 2020, as PostgreSQL's `adjust_year`.
        year += if year < 70 { 2000 } else { 1900 };
    } else if p.year_digits == 3 && year >= 0 {
        year += if year < 100 { 2000 } else { 1000 };
    }
    if p.bc {
        year = 1 - year;
    }
    let (month, day) = match p.day_of_year {
        Some(doy) if p.month.is_none() && p.day.is_none() => {
            let days = days_from_civil(year, 1, 1) + doy - 1;
            let (_, m, d) = civil_from_days(days);
            (i64::from(m), i64::from(d))
        }
        _ => (p.month.unwrap_or(1), p.day.unwrap_or(1)),
    };
    let mut hour = p.hour.unwrap_or(0);
    if let Some(pm) = p.pm {
        if !(1..=12).contains(&hour) {
            return Err(bad(format!(
                "hour \"{hour}\" is invalid for the 12-hour clock"
            )));
        }
        hour %= 12;
        if pm {
            hour += 12;
        }
    }
    let out_of_range = || EvalError::Parse {
        code: SqlState::DATETIME_FIELD_OVERFLOW,
        message: format!("date/time field value out of range: \"{text}\""),
    };
    if !(1..=12).contains(&month) {
        return Err(out_of_range());
    }
    let days_in_month = days_from_civil(
        if month == 12 { year + 1 } else { year },
        if month == 12 { 1 } else { month as u32 + 1 },
        1,
    ) - days_from_civil(year, month as u32, 1);
    if !(1..=days_in_month).contains(&day)
        || !(0..=24).contains(&hour)
        || !(0..60).contains(&p.minute)
        || !(0..60).contains(&p.second)
    {
        return Err(out_of_range());
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let micros = i128::from(days) * i128::from(MICROS_PER_DAY)
        + i128::from((hour * 60 + p.minute) * 60 + p.second) * 1_000_000
        + i128::from(p.micros)
        - i128::from(p.tz_seconds) * 1_000_000;
    i64::try_from(micros)
        .ok()
        .filter(|m| *m >= crate::repr::strconv::TIMESTAMP_MIN_MICROS)
        .ok_or_else(|| EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: "timestamp out of range".into(),
        })
}

/// A number of at most `max_len` digits (and a leading `-`) at the start of
/// `rest`, which moves past it.
fn read_number(rest: &mut &str, max_len: usize, name: &str) -> Result<i64, EvalError> {
    let neg = rest.starts_with('-');
    let body = if neg { &rest[1..] } else { *rest };
    let len = body
        .bytes()
        .take(max_len)
        .take_while(u8::is_ascii_digit)
        .count();
    if len == 0 {
        let shown: String = rest.chars().take(max_len.clamp(1, 4)).collect();
        return Err(bad(format!("invalid value \"{shown}\" for \"{name}\"")));
    }
    let v: i64 = body[..len].parse().unwrap_or(i64::MAX);
    *rest = &body[len..];
    Ok(if neg { -v } else { v })
}

/// `to_timestamp(text, template)`: a `timestamptz`.
pub fn to_timestamp(text: &str, template: &str) -> Result<Datum, EvalError> {
    read(text, template).map(Datum::TimestampTz)
}

/// `to_date(text, template)`: a `date` (a time of day is ignored).
pub fn to_date(text: &str, template: &str) -> Result<Datum, EvalError> {
    let micros = read(text, template)?;
    i32::try_from(micros.div_euclid(MICROS_PER_DAY))
        .map(Datum::Date)
        .map_err(|_| EvalError::Parse {
            code: SqlState::DATETIME_FIELD_OVERFLOW,
            message: "date out of range".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::strconv::{parse_date, parse_timestamp};

    fn ts(text: &str) -> Datum {
        Datum::Timestamp(parse_timestamp(text).unwrap())
    }

    fn fmt(d: &Datum, template: &str) -> String {
        match to_char(d, template).unwrap() {
            Datum::String(s) => s,
            other => panic!("{other:?}"),
        }
    }

    /// Answers from PostgreSQL 15.
    #[test]
    fn to_char_matches_postgres() {
        let t = ts("2024-05-17 00:05:06.123456");
        assert_eq!(
            fmt(&t, "hh12 a.m. A.M. pm HH:MI:SS.FF1 FF3 FF6 SSSS SSSSS"),
            "12 a.m. A.M. am 12:05:06.1 123 123456 306 306"
        );
        let may1 = ts("2024-05-01");
        assert_eq!(
            fmt(&may1, "MONTH|Month|month|MON|Mon|mon|DAY|Day|day|DY|Dy|dy"),
            "MAY      |May      |may      |MAY|May|may|WEDNESDAY|Wednesday|wednesday|WED|Wed|wed"
        );
        assert_eq!(
            fmt(&may1, "FMMONTH|FMDAY|FMDD|FMHH24|FMMI"),
            "MAY|WEDNESDAY|1|0|0"
        );
        assert_eq!(
            fmt(&may1, r#"Dth DDth DDDth MMth ddth 1st \"x\" "a\"b" \\ x"#),
            r#"4th 01st 122nd 05th 01st 1st "x" a"b \\ x"#
        );
        assert_eq!(
            fmt(&ts("2024-05-01 13:00"), "HH12PM yyyy-mm-dd Yyyy"),
            "01PM 2024-05-01 4024"
        );
        assert_eq!(
            fmt(&ts("0044-03-15 12:00 BC"), "YYYY BC CC Y,YYY IYYY J"),
            "0044 BC -01 0,044 0044 1705428"
        );
        assert_eq!(
            fmt(&ts("12345-05-17 00:05:06"), "YYYY YYY YY Y"),
            "12345 345 45 5"
        );
        assert_eq!(
            fmt(&ts("2024-12-30 00:00"), "IYYY-IW-ID IDDD iyy iy i"),
            "2025-01-1 001 025 25 5"
        );
        let date = Datum::Date(parse_date("2024-05-17").unwrap());
        assert_eq!(
            fmt(&date, "FMDay, FMMonth DDth YYYY \"quarter\" Q rm RM FMRM"),
            "Friday, May 17th 2024 quarter 2 v    V    V"
        );
        assert_eq!(
            fmt(&ts("2024-01-01 10:00"), "TZ|OF|TZH|TZM|tz"),
            "|+00|+00|00|"
        );
        let tz = Datum::TimestampTz(parse_timestamp("2024-01-01 10:00").unwrap());
        assert_eq!(fmt(&tz, "TZ|OF|TZH|TZM|tz"), "UTC|+00|+00|00|utc");
        assert_eq!(
            fmt(&Datum::Time(36_672_000_000), "HH24:MI:SS AM"),
            "10:11:12 AM"
        );
        let neg = Datum::Interval(crate::repr::Interval {
            months: 0,
            days: -1,
            micros: -(2 * 3600 + 3 * 60 + 4) * 1_000_000,
        });
        assert_eq!(fmt(&neg, "DD HH24 MI SS"), "-1 -02 -03 -04");
    }

    #[test]
    fn reads_text_like_postgres() {
        let micros = |d: Datum| match d {
            Datum::TimestampTz(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            micros(to_timestamp("2024-05-17 10:11:12", "YYYY-MM-DD HH24:MI:SS").unwrap()),
            parse_timestamp("2024-05-17 10:11:12").unwrap()
        );
        assert_eq!(
            micros(to_timestamp("17 May 2024 3:04 PM", "DD Mon YYYY HH:MI AM").unwrap()),
            parse_timestamp("2024-05-17 15:04:00").unwrap()
        );
        assert_eq!(
            to_date("05/17/24", "MM/DD/YY").unwrap(),
            Datum::Date(parse_date("2024-05-17").unwrap())
        );
        assert_eq!(
            to_date("2024-13-01", "YYYY-MM-DD").unwrap_err().to_string(),
            "date/time field value out of range: \"2024-13-01\""
        );
        assert_eq!(
            to_date("xx", "YYYY").unwrap_err().to_string(),
            "invalid value \"xx\" for \"YYYY\""
        );
    }
}
