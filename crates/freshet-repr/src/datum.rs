//! [`Datum`]: one SQL value, with PostgreSQL's equality and ordering.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::Numeric;

/// One SQL value.
///
/// Values of different variants never meet in an expression (the planner
/// coerces them first), but they do meet as arrangement keys, where the
/// derived variant-first ordering is all that is needed.
///
/// # Invariants
///
/// * `Date` counts days since 1970-01-01; `Time` microseconds since midnight
///   (`0 ..= 86_400_000_000`); `Timestamp` and `TimestampTz` microseconds since
///   1970-01-01 00:00:00 (UTC for `TimestampTz`).
/// * A `numeric` is `Numeric` or `NumericNaN` (the variants must stay
///   adjacent, `NumericNaN` second: see [`Datum::NumericNaN`]).
/// * `Jsonb` holds the canonical text of a JSON value, as PostgreSQL's
///   `jsonb` output prints it (`repr::strconv::canonical_jsonb`), so equal
///   documents have equal text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Datum {
    /// SQL `NULL`.
    #[default]
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`.
    Int16(i16),
    /// `integer`.
    Int32(i32),
    /// `bigint`.
    Int64(i64),
    /// `real`.
    Float32(OrdF32),
    /// `double precision`.
    Float64(OrdF64),
    /// `numeric`, a finite value.
    Numeric(Numeric),
    /// `numeric`'s special value `NaN`, which PostgreSQL (and Materialize)
    /// have and [`Numeric`] has not. As in PostgreSQL it equals itself and
    /// sorts above every other `numeric`: the variant follows
    /// [`Datum::Numeric`], so the derived order puts it there.
    NumericNaN,
    /// `text`, `varchar(n)` and `char(n)`.
    String(String),
    /// `bytea`.
    Bytes(Vec<u8>),
    /// `date`: days since 1970-01-01.
    Date(i32),
    /// `time`: microseconds since midnight.
    Time(i64),
    /// `timestamp`: microseconds since 1970-01-01 00:00:00.
    Timestamp(i64),
    /// `timestamptz`: microseconds since 1970-01-01 00:00:00 UTC.
    TimestampTz(i64),
    /// `interval`.
    Interval(Interval),
    /// `jsonb`, as canonical JSON text.
    Jsonb(String),
    /// `uuid`.
    Uuid(uuid::Uuid),
    /// A one-dimensional array (lower bound 1) of values of one type, any
    /// of them `Null`, none of them an array. Its type (and so its
    /// element type when it is empty) is the column's.
    ///
    /// The derived order and equality here are structural; SQL's (NULL
    /// elements after all others, equal to each other) is
    /// `expr::func::compare`.
    Array(Vec<Datum>),
    /// `json`: the input text as written (validated, never normalised:
    /// key order, duplicate keys and whitespace are kept, as PostgreSQL's
    /// `json` keeps them). Last, so that serialized datums of the other
    /// variants keep their indexes.
    Json(String),
}

// A `Datum` is four machine words: a wide `numeric` is boxed inside
// `Numeric` so that it adds nothing here (rows unpack into vectors of
// datums, so every byte counts).
const _: () = assert!(std::mem::size_of::<Datum>() == 32);

impl Datum {
    /// Whether this is SQL `NULL`.
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// A `double precision` datum.
    #[inline]
    pub fn f64(v: f64) -> Datum {
        Datum::Float64(OrdF64(v))
    }

    /// A `real` datum.
    #[inline]
    pub fn f32(v: f32) -> Datum {
        Datum::Float32(OrdF32(v))
    }

    /// Whether this is a `numeric` value (finite or `NaN`).
    #[inline]
    pub fn is_numeric(&self) -> bool {
        matches!(self, Datum::Numeric(_) | Datum::NumericNaN)
    }

    /// The boolean value, if this is a `Bool`.
    #[inline]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Datum::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

macro_rules! ord_float {
    ($name:ident, $t:ty) => {
        /// A float with PostgreSQL's total order: `NaN` equals `NaN` and sorts
        /// above every other value; `-0` equals `0`.
        #[derive(Clone, Copy, Debug, Serialize, Deserialize, Default)]
        pub struct $name(pub $t);

        impl $name {
            #[inline]
            fn canonical(self) -> $t {
                if self.0.is_nan() {
                    <$t>::NAN
                } else if self.0 == 0.0 {
                    0.0
                } else {
                    self.0
                }
            }
        }

        impl PartialEq for $name {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Equal
            }
        }
        impl Eq for $name {}
        impl PartialOrd for $name {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            #[inline]
            fn cmp(&self, other: &Self) -> Ordering {
                let (a, b) = (self.canonical(), other.canonical());
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                }
            }
        }
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.canonical().to_bits().hash(state)
            }
        }
    };
}

ord_float!(OrdF64, f64);
ord_float!(OrdF32, f32);

/// A PostgreSQL `interval`: months, days and microseconds kept apart, since a
/// month has no fixed number of days.
///
/// Equality, ordering and hashing follow PostgreSQL: they compare the total
/// with a month counted as 30 days and a day as 24 hours, so
/// `'1 month' = '30 days'`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, Default)]
pub struct Interval {
    /// Whole months.
    pub months: i32,
    /// Whole days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

impl Interval {
    /// Microseconds in a day.
    pub const MICROS_PER_DAY: i64 = 86_400_000_000;

    /// The interval as microseconds, with a month counted as 30 days.
    #[inline]
    pub fn total_micros(&self) -> i128 {
        (self.months as i128 * 30 + self.days as i128) * Self::MICROS_PER_DAY as i128
            + self.micros as i128
    }
}

impl PartialEq for Interval {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.total_micros() == other.total_micros()
    }
}
impl Eq for Interval {}
impl PartialOrd for Interval {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Interval {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.total_micros().cmp(&other.total_micros())
    }
}
impl Hash for Interval {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.total_micros().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_order_is_total() {
        assert_eq!(OrdF64(f64::NAN), OrdF64(f64::NAN));
        assert!(OrdF64(f64::NAN) > OrdF64(f64::INFINITY));
        assert_eq!(OrdF64(-0.0), OrdF64(0.0));
        assert!(OrdF64(-1.0) < OrdF64(0.0));
    }

    #[test]
    fn interval_month_equals_thirty_days() {
        let month = Interval {
            months: 1,
            days: 0,
            micros: 0,
        };
        let days = Interval {
            months: 0,
            days: 30,
            micros: 0,
        };
        assert_eq!(month, days);
        assert!(
            Interval {
                months: 0,
                days: 31,
                micros: 0
            } > month
        );
    }
}
