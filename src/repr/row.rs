//! [`Row`]: a tuple of [`Datum`]s, the unit of data in every collection.

use serde::{Deserialize, Serialize};

use super::Datum;

/// A tuple of values.
///
/// A plain vector today; the newtype keeps room for a packed byte layout
/// (as in Materialize's `Row`) without changing its users.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Row(pub Vec<Datum>);

impl Row {
    /// A row of the given values.
    pub fn new(datums: Vec<Datum>) -> Row {
        Row(datums)
    }

    /// The row with no columns.
    pub fn empty() -> Row {
        Row(Vec::new())
    }

    /// This row followed by `other`'s values.
    pub fn concat(&self, other: &Row) -> Row {
        let mut datums = Vec::with_capacity(self.0.len() + other.0.len());
        datums.extend_from_slice(&self.0);
        datums.extend_from_slice(&other.0);
        Row(datums)
    }

    /// The values at `columns`, in that order.
    pub fn project(&self, columns: &[usize]) -> Row {
        Row(columns.iter().map(|c| self.0[*c].clone()).collect())
    }

    /// Encodes the row for the durable store.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data into a vector cannot fail.
        bincode::serialize(&self.0).unwrap_or_default()
    }

    /// Decodes a row written by [`Row::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Row, bincode::Error> {
        bincode::deserialize(bytes).map(Row)
    }
}

impl std::ops::Deref for Row {
    type Target = [Datum];
    fn deref(&self) -> &[Datum] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::Interval;

    #[test]
    fn encode_round_trips_every_variant() {
        let row = Row::new(vec![
            Datum::Null,
            Datum::Bool(true),
            Datum::Int16(-3),
            Datum::Int32(i32::MIN),
            Datum::Int64(i64::MAX),
            Datum::f32(1.5),
            Datum::f64(f64::INFINITY),
            Datum::Numeric("123.4500".parse().unwrap()),
            Datum::String("héllo".into()),
            Datum::Bytes(vec![0, 255]),
            Datum::Date(-1),
            Datum::Time(3_600_000_000),
            Datum::Timestamp(1),
            Datum::TimestampTz(-1),
            Datum::Interval(Interval {
                months: 1,
                days: 2,
                micros: 3,
            }),
            Datum::Jsonb("{\"a\":1}".into()),
            Datum::Uuid(uuid::Uuid::from_u128(7)),
        ]);
        assert_eq!(Row::decode(&row.encode()).unwrap(), row);
    }
}
