//! The timestamp oracle: every write happens at a timestamp greater than
//! every earlier one, and reads happen at the latest write's timestamp, at
//! which every input is complete. That is what makes reads strictly
//! serializable and views mutually consistent.

use crate::repr::Timestamp;

/// Hands out write and read timestamps (milliseconds since the Unix epoch,
/// nudged forward where two writes share a millisecond).
#[derive(Debug, Default)]
pub struct TimestampOracle {
    last_write: Timestamp,
}

impl TimestampOracle {
    /// A timestamp for a new write: after every earlier write.
    pub fn write_ts(&mut self) -> Timestamp {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Timestamp)
            .unwrap_or(0);
        self.last_write = now.max(self.last_write + 1);
        self.last_write
    }

    /// The timestamp for a read: every completed write is visible.
    pub fn read_ts(&self) -> Timestamp {
        self.last_write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_strictly_increase_and_reads_see_them() {
        let mut o = TimestampOracle::default();
        let a = o.write_ts();
        let b = o.write_ts();
        assert!(b > a);
        assert_eq!(o.read_ts(), b);
    }
}
