//! The date part of PostgreSQL's date/time input (`DecodeDate`,
//! `DecodeNumber`, `DecodeNumberField` and the words of `datetktbl`), for
//! `repr/strconv.rs`'s `decode_datetime`.
//!
//! PostgreSQL decodes a date field by field, keeping a mask of the fields it
//! has already seen (year, month, day, day of year); each number is read as
//! the next field that the mask and `DateStyle` (Freshet's is `ISO, MDY`)
//! allow, and a text month name fixes the month wherever it stands. That is
//! what makes `January 8, 1999`, `8 January 1999`, `Jan-08-1999`,
//! `1999-Jan-08`, `08-Jan-99`, `19990108` and `1999.008` all read as the
//! same date, and `99-Jan-08` an error under `MDY`. Validation (two-digit
//! years, BC, day-of-month ranges) waits for the whole input:
//! [`DateFields::validate`].

use super::strconv::{DtErr, days_from_civil, days_in_month};

/// Field bits of PostgreSQL's `fmask` that a date uses.
pub(super) const YEAR: u32 = 1;
/// The month bit.
pub(super) const MONTH: u32 = 2;
/// The day-of-month bit.
pub(super) const DAY: u32 = 4;
/// The day-of-year bit (`1999.008`).
pub(super) const DOY: u32 = 8;
/// A complete date (`DTK_DATE_M`).
pub(super) const DATE: u32 = YEAR | MONTH | DAY;

/// The month number of an English month name or abbreviation, as in
/// PostgreSQL's `datetktbl`.
pub(super) fn month_number(word: &str) -> Option<i64> {
    Some(match word {
        "jan" | "january" => 1,
        "feb" | "february" => 2,
        "mar" | "march" => 3,
        "apr" | "april" => 4,
        "may" => 5,
        "jun" | "june" => 6,
        "jul" | "july" => 7,
        "aug" | "august" => 8,
        "sep" | "sept" | "september" => 9,
        "oct" | "october" => 10,
        "nov" | "november" => 11,
        "dec" | "december" => 12,
        _ => return None,
    })
}

/// Whether `word` names a day of the week (PostgreSQL reads and ignores
/// these).
pub(super) fn is_weekday(word: &str) -> bool {
    matches!(
        word,
        "sun"
            | "sunday"
            | "mon"
            | "monday"
            | "tue"
            | "tues"
            | "tuesday"
            | "wed"
            | "wednesday"
            | "weds"
            | "thu"
            | "thur"
            | "thurs"
            | "thursday"
            | "fri"
            | "friday"
            | "sat"
            | "saturday"
    )
}

/// The date fields read so far (PostgreSQL's `tm` and the date bits of its
/// `fmask`).
#[derive(Debug, Default)]
pub(super) struct DateFields {
    /// Which of [`YEAR`], [`MONTH`], [`DAY`], [`DOY`] are set.
    pub(super) mask: u32,
    /// The year as written (adjusted by [`DateFields::validate`]).
    pub(super) year: i64,
    /// The month, 1 to 12 once validated.
    pub(super) month: i64,
    /// The day of the month.
    pub(super) day: i64,
    /// The day of the year, with [`DOY`].
    pub(super) year_day: i64,
    /// The month was a name (changes how the numbers around it read).
    pub(super) text_month: bool,
    /// The year had one or two digits (1970 to 2069).
    pub(super) two_digit_year: bool,
    /// The date is a Julian day (`J2451187`): the year is astronomical.
    pub(super) julian: bool,
}

/// What [`DateFields::number_field`] found in a run of digits.
pub(super) enum NumberField {
    /// A date (`yyyymmdd`, `yymmdd`): the fields are set.
    Date,
    /// A time of day (`hhmmss`, `hhmm`, with the fraction).
    Time(i64, i64, i64, i64),
}

impl DateFields {
    /// Sets the bits of `mask`, refusing a field seen twice.
    fn mark(&mut self, mask: u32) -> Result<(), DtErr> {
        if self.mask & mask != 0 {
            return Err(DtErr::BadFormat);
        }
        self.mask |= mask;
        Ok(())
    }

    /// A month name standing as its own field (PostgreSQL's `MONTH` case in
    /// `DecodeDateTime`): a number already read as the month becomes the
    /// day (`8 January 1999`).
    pub(super) fn text_month_field(&mut self, month: i64) -> Result<(), DtErr> {
        if self.mask & MONTH != 0
            && !self.text_month
            && self.mask & DAY == 0
            && (1..=31).contains(&self.month)
        {
            self.day = self.month;
            self.mask |= DAY;
        } else {
            self.mark(MONTH)?;
        }
        self.text_month = true;
        self.month = month;
        Ok(())
    }

    /// Sets the whole date (`today`, a Julian day): no date field may have
    /// been read before.
    pub(super) fn set_date(&mut self, year: i64, month: i64, day: i64) -> Result<(), DtErr> {
        self.mark(DATE)?;
        (self.year, self.month, self.day) = (year, month, day);
        Ok(())
    }

    /// PostgreSQL's `DecodeDate`: a field made of numbers and at most one
    /// month name with separators (`2024-01-15`, `1/8/1999`, `08-jan-1999`,
    /// `1999.008`); it must complete the date.
    pub(super) fn date_field(&mut self, s: &str) -> Result<(), DtErr> {
        let mut parts = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i == b.len() {
                // A separator at the end.
                return Err(DtErr::BadFormat);
            }
            let start = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
            }
            parts.push(&s[start..i]);
            if i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
        }
        if parts.len() > 25 {
            return Err(DtErr::BadFormat);
        }
        let mut mask = 0;
        // Text first: it can only be the month, and fixes how numbers read.
        for part in parts
            .iter()
            .filter(|p| p.as_bytes()[0].is_ascii_alphabetic())
        {
            let month = month_number(&part.to_ascii_lowercase()).ok_or(DtErr::BadFormat)?;
            self.mark(MONTH)?;
            mask |= MONTH;
            self.month = month;
            self.text_month = true;
        }
        for part in parts.iter().filter(|p| p.as_bytes()[0].is_ascii_digit()) {
            mask |= self.number(part)?;
        }
        if self.mask & !DOY != DATE || mask == 0 {
            return Err(DtErr::BadFormat);
        }
        Ok(())
    }

    /// PostgreSQL's `DecodeNumber` for a run of digits while the date is
    /// incomplete: the field it fills, chosen by what has been read so far.
    pub(super) fn number(&mut self, digits: &str) -> Result<u32, DtErr> {
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(DtErr::BadFormat);
        }
        let val: i64 = digits
            .parse::<i32>()
            .map(i64::from)
            .map_err(|_| DtErr::FieldOverflow)?;
        let len = digits.len();
        if len == 3 && self.mask & DATE == YEAR && (1..=366).contains(&val) {
            self.mark(DOY | MONTH | DAY)?;
            self.year_day = val;
            return Ok(DOY | MONTH | DAY);
        }
        let field = match self.mask & DATE {
            // ISO's year first when it has three or more digits, else MDY.
            0 if len >= 3 => YEAR,
            0 => MONTH,
            YEAR => MONTH,
            MONTH if self.text_month && len >= 3 => YEAR,
            MONTH => DAY,
            m if m == YEAR | MONTH => {
                if self.text_month && len >= 3 && self.two_digit_year {
                    // DD-MON-YYYY: the first number was the day.
                    self.day = self.year;
                    self.mark(DAY)?;
                    self.year = val;
                    self.two_digit_year = false;
                    return Ok(DAY);
                }
                DAY
            }
            DAY => MONTH,
            m if m == MONTH | DAY => YEAR,
            _ => return Err(DtErr::BadFormat),
        };
        self.mark(field)?;
        match field {
            YEAR => {
                self.year = val;
                self.two_digit_year = len <= 2;
            }
            MONTH => self.month = val,
            _ => self.day = val,
        }
        Ok(field)
    }

    /// PostgreSQL's `DecodeNumberField`: a run of six or more digits is a
    /// date (`yyyymmdd`, `yymmdd`) while the date is incomplete; six or four
    /// digits (with an optional fraction) are `hhmmss`/`hhmm` while the time
    /// is. `date_allowed` is false for `time` input.
    pub(super) fn number_field(
        &mut self,
        s: &str,
        date_allowed: bool,
        time_set: bool,
    ) -> Result<NumberField, DtErr> {
        let (int, frac) = match s.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (s, None),
        };
        if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
            return Err(DtErr::BadFormat);
        }
        // Huge values fail later as out of range; keep them from
        // overflowing the day arithmetic.
        let num = |p: &str| -> i64 { p.parse::<i64>().unwrap_or(i64::MAX).min(1_000_000_000_000) };
        if frac.is_none() && date_allowed && self.mask & DATE != DATE && int.len() >= 6 {
            let (ym, d) = int.split_at(int.len() - 2);
            let (y, m) = ym.split_at(ym.len() - 2);
            self.mark(DATE)?;
            self.year = num(y);
            self.month = num(m);
            self.day = num(d);
            self.two_digit_year = y.len() == 2;
            return Ok(NumberField::Date);
        }
        if !time_set && (int.len() == 6 || int.len() == 4) {
            let (h, rest) = int.split_at(2);
            let (m, sec) = rest.split_at(2);
            let fsec = match frac {
                Some(f) if !f.is_empty() => {
                    if !f.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(DtErr::BadFormat);
                    }
                    let v: f64 = format!("0.{f}").parse().map_err(|_| DtErr::BadFormat)?;
                    (v * 1e6).round_ties_even() as i64
                }
                _ => 0,
            };
            let sec = if sec.is_empty() { 0 } else { num(sec) };
            return Ok(NumberField::Time(num(h), num(m), sec, fsec));
        }
        Err(DtErr::BadFormat)
    }

    /// PostgreSQL's `ValidateDate`: the year adjusted for BC and two
    /// digits, the day of year applied, the ranges checked. `None` if no
    /// date was read.
    pub(super) fn validate(&self, bc: bool) -> Result<Option<(i64, u32, u32)>, DtErr> {
        if self.mask == 0 {
            return Ok(None);
        }
        let mut year = self.year;
        if self.mask & YEAR != 0 && !self.julian {
            if bc {
                if year <= 0 {
                    return Err(DtErr::FieldOverflow);
                }
                year = 1 - year;
            } else if self.two_digit_year {
                if year < 0 {
                    return Err(DtErr::FieldOverflow);
                } else if year < 70 {
                    year += 2000;
                } else if year < 100 {
                    year += 1900;
                }
            } else if year <= 0 {
                return Err(DtErr::FieldOverflow);
            }
        }
        let (mut month, mut day) = (self.month, self.day);
        if self.mask & DOY != 0 {
            let days = days_from_civil(year, 1, 1) + self.year_day - 1;
            let (y, m, d) = super::strconv::civil_from_days(days);
            (year, month, day) = (y, i64::from(m), i64::from(d));
        }
        if self.mask & DATE != DATE {
            return Err(DtErr::BadFormat);
        }
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(DtErr::FieldOverflow);
        }
        let (month, day) = (month as u32, day as u32);
        if day > days_in_month(year, month) {
            return Err(DtErr::FieldOverflow);
        }
        Ok(Some((year, month, day)))
    }
}

/// The astronomical (year, month, day) of Julian day `jd` (PostgreSQL's
/// `j2date`; day 2440588 is 1970-01-01).
pub(super) fn julian_to_civil(jd: i64) -> (i64, u32, u32) {
    super::strconv::civil_from_days(jd - 2_440_588)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(fields: &[&str]) -> Result<Option<(i64, u32, u32)>, DtErr> {
        let mut d = DateFields::default();
        for f in fields {
            if let Some(m) = month_number(f) {
                d.text_month_field(m)?;
            } else {
                d.number(f)?;
            }
        }
        d.validate(false)
    }

    #[test]
    fn field_order_follows_postgres() {
        assert_eq!(read(&["january", "8", "1999"]), Ok(Some((1999, 1, 8))));
        assert_eq!(read(&["8", "january", "1999"]), Ok(Some((1999, 1, 8))));
        assert_eq!(read(&["1999", "jan", "8"]), Ok(Some((1999, 1, 8))));
        assert_eq!(read(&["1", "8", "99"]), Ok(Some((1999, 1, 8))));
        assert_eq!(read(&["jan", "8"]), Err(DtErr::BadFormat));
    }

    #[test]
    fn date_field_with_text_month() {
        for s in [
            "jan-08-1999",
            "1999-jan-08",
            "08-jan-1999",
            "08-jan-99",
            "1999.008",
        ] {
            let mut d = DateFields::default();
            d.date_field(s).unwrap();
            assert_eq!(d.validate(false), Ok(Some((1999, 1, 8))), "{s}");
        }
        let mut d = DateFields::default();
        d.date_field("99-jan-08").unwrap();
        assert_eq!(d.validate(false), Err(DtErr::FieldOverflow));
    }
}
