//! The representation of data: scalar values ([`Datum`]), rows ([`Row`]),
//! their SQL types ([`ScalarType`], [`RelationDesc`]) and SQLSTATE codes.
//!
//! Everything above depends on this crate; it depends on nothing of ours.

#![forbid(unsafe_code)]

// The modules were `crate::repr` when they were part of the `freshet`
// crate, and still name each other so (not every
// alias is used in every build).
#[allow(unused_imports)]
use crate as repr;

pub mod array;
mod date_fields;
mod datum;
pub mod json;
pub mod jsonb;
mod numeric;
mod row;
mod sqlstate;
pub mod strconv;
pub mod timezone;
pub mod types;

pub use datum::{Datum, Interval, OrdF32, OrdF64};
pub use numeric::{Numeric, NumericEncoding, NumericRounding};
pub use row::{Row, RowColumns, RowDecodeError, RowPacker};
pub use sqlstate::SqlState;
pub use strconv::ParseError;
pub use types::{ColumnDesc, RelationDesc, ScalarType};

/// A Freshet timestamp: milliseconds since the Unix epoch, assigned by the
/// timestamp oracle. Every update in every dataflow carries one.
pub type Timestamp = u64;

/// The multiplicity change of an update (`+1` insert, `-1` delete).
pub type Diff = i64;
