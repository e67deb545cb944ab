//! Time zones, resolved as PostgreSQL resolves them: for `AT TIME ZONE`
//! (`timezone(zone, ts)`) and for zone names in `timestamptz` input.
//!
//! A zone is, in PostgreSQL's order of lookup (`timestamptz_zone`,
//! `pg_tzset`):
//! 1. an abbreviation of the `Default` `timezone_abbreviations` set: most
//!    have a fixed offset (`PST`, `CET`, `UTC`); a few are defined by a zone
//!    (`MSK` is `Europe/Moscow`) and take its offset at the time converted;
//! 2. a zone of the IANA database (`America/New_York`, `EST5EDT`, `Etc/GMT+3`,
//!    any case), through `chrono-tz`'s copy of it;
//! 3. a POSIX-style fixed offset: an optional name of letters and a number of
//!    hours west of UTC (`UTC+5`, `foo-3`, `+05`, `5:30:15`). The sign is
//!    POSIX's, the opposite of ISO 8601's: `AT TIME ZONE '+05'` is five hours
//!    *behind* UTC, as in PostgreSQL.
//!
//! POSIX specifications with a daylight-saving part (`XYZ5ABC`) are `0A000`
//! unless the database has them by name (`EST5EDT` does): PostgreSQL fills in
//! their rules from its `posixrules` file, which Freshet does not have.
//!
//! A local time that does not exist (the hour skipped when clocks go forward)
//! or exists twice (when they go back) is read with the offset that is in
//! force before the skip or after the repeat, PostgreSQL's rule: in both
//! cases the smaller of the two offsets.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

use super::Interval;

/// Microseconds in a second.
const MICROS_PER_SEC: i64 = 1_000_000;

/// Why a zone could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// No abbreviation, database zone or POSIX offset of this name
    /// (`22023`).
    #[error("time zone \"{0}\" not recognized")]
    NotRecognized(String),
    /// An interval zone with months or days (`22023`).
    #[error("interval time zone \"{0}\" must not include months or days")]
    IntervalWithDays(String),
    /// A zone PostgreSQL accepts that Freshet cannot resolve (`0A000`).
    #[error("{0} not supported")]
    Unsupported(String),
    /// The converted value falls outside the range of timestamps (`22008`).
    #[error("timestamp out of range")]
    OutOfRange,
}

/// A resolved time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// A fixed offset, seconds east of UTC.
    Fixed(i64),
    /// A zone of the IANA database.
    Named(Tz),
    /// An abbreviation that a database zone defines (`MSK`): the zone's
    /// offset where the zone used that abbreviation at the time.
    Abbreviation(&'static str, Tz),
}

/// The abbreviations of PostgreSQL's `Default` set that a zone defines,
/// with their zones.
const DYNAMIC_ABBREVIATIONS: &[(&str, Tz)] = &[
    ("art", Tz::America__Argentina__Buenos_Aires),
    ("arst", Tz::America__Argentina__Buenos_Aires),
    ("clt", Tz::America__Santiago),
    ("gyt", Tz::America__Guyana),
    ("pyt", Tz::America__Asuncion),
    ("vet", Tz::America__Caracas),
    ("davt", Tz::Antarctica__Davis),
    ("mawt", Tz::Antarctica__Mawson),
    ("amst", Tz::Asia__Yerevan),
    ("anast", Tz::Asia__Anadyr),
    ("anat", Tz::Asia__Anadyr),
    ("azst", Tz::Asia__Baku),
    ("azt", Tz::Asia__Baku),
    ("gest", Tz::Asia__Tbilisi),
    ("get", Tz::Asia__Tbilisi),
    ("irkst", Tz::Asia__Irkutsk),
    ("irkt", Tz::Asia__Irkutsk),
    ("kgt", Tz::Asia__Bishkek),
    ("krast", Tz::Asia__Krasnoyarsk),
    ("krat", Tz::Asia__Krasnoyarsk),
    ("lkt", Tz::Asia__Colombo),
    ("magst", Tz::Asia__Magadan),
    ("magt", Tz::Asia__Magadan),
    ("novst", Tz::Asia__Novosibirsk),
    ("novt", Tz::Asia__Novosibirsk),
    ("omsst", Tz::Asia__Omsk),
    ("omst", Tz::Asia__Omsk),
    ("petst", Tz::Asia__Kamchatka),
    ("pett", Tz::Asia__Kamchatka),
    ("sgt", Tz::Asia__Singapore),
    ("tmt", Tz::Asia__Ashgabat),
    ("ulat", Tz::Asia__Ulaanbaatar),
    ("vlast", Tz::Asia__Vladivostok),
    ("vlat", Tz::Asia__Vladivostok),
    ("yakst", Tz::Asia__Yakutsk),
    ("yakt", Tz::Asia__Yakutsk),
    ("yekt", Tz::Asia__Yekaterinburg),
    ("fkst", Tz::Atlantic__Stanley),
    ("fkt", Tz::Atlantic__Stanley),
    ("lhdt", Tz::Australia__Lord_Howe),
    ("msk", Tz::Europe__Moscow),
    ("volt", Tz::Europe__Volgograd),
    ("iot", Tz::Indian__Chagos),
    ("ckt", Tz::Pacific__Rarotonga),
    ("easst", Tz::Pacific__Easter),
    ("east", Tz::Pacific__Easter),
    ("kost", Tz::Pacific__Kosrae),
    ("lint", Tz::Pacific__Kiritimati),
    ("nut", Tz::Pacific__Niue),
    ("tkt", Tz::Pacific__Fakaofo),
];

/// The database's zones by lower-case name.
static ZONES: LazyLock<HashMap<String, Tz>> = LazyLock::new(|| {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| (tz.name().to_ascii_lowercase(), *tz))
        .collect()
});

impl Zone {
    /// Resolves a zone name as `AT TIME ZONE` does.
    pub fn parse(name: &str) -> Result<Zone, ZoneError> {
        let lower = name.to_ascii_lowercase();
        if let Some(secs) = super::strconv::zone_abbreviation(&lower) {
            return Ok(Zone::Fixed(secs));
        }
        if let Some((abbrev, tz)) = DYNAMIC_ABBREVIATIONS.iter().find(|(a, _)| *a == lower) {
            return Ok(Zone::Abbreviation(abbrev, *tz));
        }
        if let Some(tz) = ZONES.get(&lower) {
            return Ok(Zone::Named(*tz));
        }
        posix_offset(name)
    }

    /// The zone of `AT TIME ZONE INTERVAL '…'`: a fixed offset east of
    /// UTC, whole seconds (a fraction is dropped, as in PostgreSQL).
    pub fn from_interval(i: &Interval, text: impl FnOnce() -> String) -> Result<Zone, ZoneError> {
        if i.months != 0 || i.days != 0 {
            return Err(ZoneError::IntervalWithDays(text()));
        }
        Ok(Zone::Fixed(i.micros / MICROS_PER_SEC))
    }

    /// The offset (seconds east of UTC) in force at an instant.
    pub fn offset_at(&self, utc_micros: i64) -> Result<i64, ZoneError> {
        let (tz, abbrev) = match self {
            Zone::Fixed(secs) => return Ok(*secs),
            Zone::Named(tz) => (tz, None),
            Zone::Abbreviation(a, tz) => (tz, Some(*a)),
        };
        let at = naive(utc_micros)?;
        let offset = tz.offset_from_utc_datetime(&at);
        check_abbreviation(abbrev, &offset)?;
        Ok(i64::from(offset.fix().local_minus_utc()))
    }

    /// The offset (seconds east of UTC) with which a local time is read.
    pub fn offset_for_local(&self, local_micros: i64) -> Result<i64, ZoneError> {
        let (tz, abbrev) = match self {
            Zone::Fixed(secs) => return Ok(*secs),
            Zone::Named(tz) => (tz, None),
            Zone::Abbreviation(a, tz) => (tz, Some(*a)),
        };
        let local = naive(local_micros)?;
        let offset = match tz.offset_from_local_datetime(&local) {
            LocalResult::Single(o) => o,
            // Clocks went back: the offset after the change, the smaller.
            LocalResult::Ambiguous(a, b) => {
                if a.fix().local_minus_utc() <= b.fix().local_minus_utc() {
                    a
                } else {
                    b
                }
            }
            // Clocks went forward: the offset before the change, the
            // smaller of the offsets on either side.
            LocalResult::None => {
                let day = chrono::Duration::days(1);
                let before = tz.offset_from_utc_datetime(&(local - day));
                let after = tz.offset_from_utc_datetime(&(local + day));
                if before.fix().local_minus_utc() <= after.fix().local_minus_utc() {
                    before
                } else {
                    after
                }
            }
        };
        check_abbreviation(abbrev, &offset)?;
        Ok(i64::from(offset.fix().local_minus_utc()))
    }

    /// `timestamptz AT TIME ZONE zone`: the local time in the zone.
    pub fn to_local(&self, utc_micros: i64) -> Result<i64, ZoneError> {
        let offset = self.offset_at(utc_micros)?;
        checked_timestamp(utc_micros.checked_add(offset * MICROS_PER_SEC))
    }

    /// `timestamp AT TIME ZONE zone`: the instant of a local time in the
    /// zone.
    pub fn to_utc(&self, local_micros: i64) -> Result<i64, ZoneError> {
        let offset = self.offset_for_local(local_micros)?;
        checked_timestamp(local_micros.checked_sub(offset * MICROS_PER_SEC))
    }
}

/// A dynamic abbreviation stands for its zone's offset only where the zone
/// used it, or where the database gives the zone no abbreviation of letters
/// (modern data has `-03` for Buenos Aires, so PostgreSQL then takes the
/// zone's offset). Otherwise PostgreSQL looks for the abbreviation's last
/// meaning in the zone's history, which `chrono-tz` does not expose.
fn check_abbreviation(
    abbrev: Option<&str>,
    offset: &<Tz as TimeZone>::Offset,
) -> Result<(), ZoneError> {
    let Some(abbrev) = abbrev else {
        return Ok(());
    };
    match offset.abbreviation() {
        Some(used) if used.eq_ignore_ascii_case(abbrev) => Ok(()),
        // `chrono-tz` gives no name where the database has a number.
        None => Ok(()),
        Some(used) if used.starts_with(['+', '-']) => Ok(()),
        _ => Err(ZoneError::Unsupported(format!(
            "time zone abbreviation \"{abbrev}\" at a time its zone did not use it"
        ))),
    }
}

/// A timestamp (microseconds since 1970) as a date and time for `chrono`.
///
/// `chrono-tz` lists each zone's changes up to 2100 and keeps the last
/// offset after that, where PostgreSQL goes on applying the zone's current
/// rules (daylight-saving time every summer). A later time is therefore
/// read in the year of 2072–2099 whose calendar is the same (leap or not,
/// starting on the same weekday), where those rules are written out, and
/// the offset found there is used.
fn naive(micros: i64) -> Result<NaiveDateTime, ZoneError> {
    use super::strconv::{MICROS_PER_DAY, civil_from_days, days_from_civil};
    let days = micros.div_euclid(MICROS_PER_DAY);
    let (year, _, _) = civil_from_days(days);
    let mut m = micros;
    if year >= 2100 {
        let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let jan1 = |y: i64| days_from_civil(y, 1, 1);
        let weekday = |d: i64| d.rem_euclid(7);
        let proxy = (2072..2100)
            .find(|&y| leap(y) == leap(year) && weekday(jan1(y)) == weekday(jan1(year)))
            .ok_or(ZoneError::OutOfRange)?;
        m -= (jan1(year) - jan1(proxy)) * MICROS_PER_DAY;
    }
    DateTime::from_timestamp_micros(m)
        .map(|d| d.naive_utc())
        .ok_or(ZoneError::OutOfRange)
}

fn checked_timestamp(micros: Option<i64>) -> Result<i64, ZoneError> {
    match micros {
        Some(m) if m >= super::strconv::TIMESTAMP_MIN_MICROS => Ok(m),
        _ => Err(ZoneError::OutOfRange),
    }
}

/// A POSIX-style zone without daylight-saving rules: `[name]offset`, the
/// name letters (or `<…>`), the offset `[+-]h[:mm[:ss]]` hours *west* of
/// UTC (less than 168 hours).
fn posix_offset(name: &str) -> Result<Zone, ZoneError> {
    let not_recognized = || ZoneError::NotRecognized(name.to_string());
    let rest = if let Some(quoted) = name.strip_prefix('<') {
        let end = quoted.find('>').ok_or_else(not_recognized)?;
        &quoted[end + 1..]
    } else {
        name.trim_start_matches(|c: char| c.is_ascii_alphabetic())
    };
    let (west, mut rest) = match rest.as_bytes().first() {
        Some(b'+') => (true, &rest[1..]),
        Some(b'-') => (false, &rest[1..]),
        Some(b) if b.is_ascii_digit() => (true, rest),
        _ => return Err(not_recognized()),
    };
    // Hours, then up to two `:`-prefixed fields.
    let mut fields = [0i64; 3];
    for (i, field) in fields.iter_mut().enumerate() {
        if i > 0 {
            match rest.strip_prefix(':') {
                Some(r) => rest = r,
                None => break,
            }
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let max = if i == 0 { 167 } else { 59 };
        *field = match rest[..digits].parse::<i64>() {
            Ok(v) if v <= max => v,
            _ => return Err(not_recognized()),
        };
        rest = &rest[digits..];
    }
    if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '<') {
        return Err(ZoneError::Unsupported(format!(
            "POSIX time zone \"{name}\" with daylight-saving rules"
        )));
    }
    if !rest.is_empty() {
        return Err(not_recognized());
    }
    let secs = (fields[0] * 60 + fields[1]) * 60 + fields[2];
    Ok(Zone::Fixed(if west { -secs } else { secs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * MICROS_PER_SEC;

    /// Microseconds of a UTC date and time.
    fn at(text: &str) -> i64 {
        super::super::strconv::parse_timestamp(text).unwrap()
    }

    #[test]
    fn names_resolve_in_postgres_order() {
        assert_eq!(Zone::parse("UTC"), Ok(Zone::Fixed(0)));
        assert_eq!(Zone::parse("pst"), Ok(Zone::Fixed(-8 * 3600)));
        // `CET` is the abbreviation (always +1), not the database's zone.
        assert_eq!(Zone::parse("CET"), Ok(Zone::Fixed(3600)));
        assert_eq!(
            Zone::parse("america/new_york"),
            Ok(Zone::Named(Tz::America__New_York))
        );
        assert_eq!(Zone::parse("EST5EDT"), Ok(Zone::Named(Tz::EST5EDT)));
        assert!(matches!(
            Zone::parse("MSK"),
            Ok(Zone::Abbreviation("msk", Tz::Europe__Moscow))
        ));
    }

    #[test]
    fn posix_offsets_count_west() {
        assert_eq!(Zone::parse("+05"), Ok(Zone::Fixed(-5 * 3600)));
        assert_eq!(Zone::parse("-03"), Ok(Zone::Fixed(3 * 3600)));
        assert_eq!(Zone::parse("5"), Ok(Zone::Fixed(-5 * 3600)));
        assert_eq!(Zone::parse("UTC+14"), Ok(Zone::Fixed(-14 * 3600)));
        assert_eq!(Zone::parse("AB+3"), Ok(Zone::Fixed(-3 * 3600)));
        assert_eq!(
            Zone::parse("5:30:15"),
            Ok(Zone::Fixed(-(5 * 3600 + 30 * 60 + 15)))
        );
        assert_eq!(
            Zone::parse("<+0330>-3:30"),
            Ok(Zone::Fixed(3 * 3600 + 30 * 60))
        );
        assert_eq!(Zone::parse("+167"), Ok(Zone::Fixed(-167 * 3600)));
        assert_eq!(Zone::parse("A5"), Ok(Zone::Fixed(-5 * 3600)));
        assert_eq!(Zone::parse("0005"), Ok(Zone::Fixed(-5 * 3600)));
        assert_eq!(Zone::parse("05:5"), Ok(Zone::Fixed(-(5 * 3600 + 5 * 60))));
        for bad in [
            "+168",
            "ABC",
            "",
            " UTC",
            "Nowhere/Land",
            "+5:60",
            "5:",
            "5.5",
        ] {
            assert_eq!(
                Zone::parse(bad),
                Err(ZoneError::NotRecognized(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            Zone::parse("XYZ-3ABC"),
            Err(ZoneError::Unsupported(_))
        ));
    }

    #[test]
    fn conversions_match_postgres() {
        let ny = Zone::parse("America/New_York").unwrap();
        // Figures from PostgreSQL 15.
        assert_eq!(
            ny.to_local(at("2024-03-10 12:00:00")),
            Ok(at("2024-03-10 08:00:00"))
        );
        assert_eq!(
            ny.to_utc(at("2024-03-10 12:00:00")),
            Ok(at("2024-03-10 16:00:00"))
        );
        // Skipped and repeated local times.
        assert_eq!(
            ny.to_utc(at("2024-03-10 02:30:00")),
            Ok(at("2024-03-10 07:30:00"))
        );
        assert_eq!(
            ny.to_utc(at("2024-11-03 01:30:00")),
            Ok(at("2024-11-03 06:30:00"))
        );
        // Local mean time before time zones.
        assert_eq!(
            ny.to_local(at("1800-01-01 00:00:00")),
            Ok(at("1799-12-31 19:03:58"))
        );
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.to_utc(at("2024-03-31 02:30:00")),
            Ok(at("2024-03-31 01:30:00"))
        );
        let msk = Zone::parse("msk").unwrap();
        assert_eq!(
            msk.to_local(at("2024-01-01 00:00:00")),
            Ok(at("2024-01-01 03:00:00"))
        );
        assert_eq!(Zone::Fixed(-8 * 3600).to_local(0), Ok(-8 * H));
    }

    #[test]
    fn far_timestamps_keep_their_rules() {
        let ny = Zone::parse("America/New_York").unwrap();
        // Daylight-saving time in July and not in January, also beyond the
        // years `chrono-tz` lists and in the last years PostgreSQL has.
        for (text, offset) in [
            ("2150-07-01 12:00:00", -4),
            ("2150-01-01 12:00:00", -5),
            ("2400-07-01 12:00:00", -4),
            ("294000-07-01 12:00:00", -4),
            ("294000-12-01 12:00:00", -5),
        ] {
            let t = at(text);
            assert_eq!(ny.to_local(t), Ok(t + offset * H), "{text}");
            assert_eq!(ny.to_utc(t), Ok(t - offset * H), "{text}");
        }
        assert_eq!(
            Zone::Fixed(9 * 3600).to_local(i64::MAX - H),
            Err(ZoneError::OutOfRange)
        );
        assert_eq!(
            Zone::Fixed(-9 * 3600).to_local(super::super::strconv::TIMESTAMP_MIN_MICROS),
            Err(ZoneError::OutOfRange)
        );
    }

    #[test]
    fn intervals_are_fixed_offsets_east() {
        let i = Interval {
            months: 0,
            days: 0,
            micros: -8 * H,
        };
        assert_eq!(
            Zone::from_interval(&i, String::new),
            Ok(Zone::Fixed(-8 * 3600))
        );
        let day = Interval {
            months: 0,
            days: 1,
            micros: 0,
        };
        assert_eq!(
            Zone::from_interval(&day, || "1 day".into()),
            Err(ZoneError::IntervalWithDays("1 day".into()))
        );
    }
}
