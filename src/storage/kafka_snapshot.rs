//! A Kafka source's snapshot: the records its topic already held when the
//! source was created, which the source ingests before it is current
//! ("hydrated"), and how far it has got with them.
//!
//! At `CREATE SOURCE` the coordinator asks the brokers ([`lookup`]) for the
//! topic's partitions and, per partition, where the source starts reading
//! (its `START OFFSET` entry, else the first offset at or after `START
//! TIMESTAMP`, else the partition's beginning) and the high watermark; it
//! stores these [`SnapshotBounds`] with the source's catalog record, so they
//! survive restarts. When the brokers cannot be asked then (they do not
//! answer, or the topic does not exist yet), the source stores
//! [`SnapshotBounds::Pending`] and a thread takes and stores the bounds
//! once they answer. Partitions added to the topic later are not part of
//! the snapshot.
//!
//! Progress ([`progress`]) is measured in offsets: a partition has staged
//! the offsets from its start up to its committed next offset, at most its
//! snapshot's. Offsets can have gaps (a compacted topic, transaction
//! markers), so "records" here are offsets, as in Materialize, whose
//! figures are approximate in the same way. The snapshot is committed once
//! every partition's committed next offset has reached its end; a
//! partition whose last offset is a transaction marker gets there because
//! the readers' committed offsets pass the markers (see
//! [`kafka_reader`](super::kafka_reader), "Transaction markers").

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::durable::{PartitionBounds, SnapshotBounds};
use super::kafka::{ErrorRecorder, client_config};
use super::kafka_reader::{offset_for_time, resolve_start_offset, topic_partitions};

/// Asks the brokers for the bounds of a source's snapshot: the topic's
/// partitions, where the source starts reading each, and each one's high
/// watermark; all within `timeout`.
pub fn lookup(
    options: &BTreeMap<String, String>,
    topic: &str,
    start_offsets: &[i64],
    start_timestamp: Option<i64>,
    timeout: Duration,
) -> Result<Vec<PartitionBounds>, String> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let consumer: BaseConsumer<ErrorRecorder> = client_config(options)
        .create_with_context(ErrorRecorder::default())
        .map_err(|e| format!("creating the Kafka consumer: {e}"))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut bounds = Vec::new();
    for partition in topic_partitions(&consumer, topic, left())? {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, left())
            .map_err(|e| format!("fetching the watermarks of partition {partition}: {e}"))?;
        let start =
            match resolve_start_offset(start_offsets, start_timestamp, partition, now_ms, |ts| {
                offset_for_time(&consumer, topic, partition, ts, left())
            })? {
                Offset::Offset(o) => o,
                Offset::End => high,
                _ => low,
            };
        bounds.push(PartitionBounds {
            partition,
            start,
            end: high,
        });
    }
    Ok(bounds)
}

/// Checks a source's `START OFFSET` as Materialize does at `CREATE SOURCE`
/// (`validate_start_offsets`, and its planner): no negative entry, and, when
/// the brokers told the topic's partition count (`partitions`), no more
/// entries than partitions. A start offset past its partition's end is
/// fine: the source waits for records to reach it (see
/// [`kafka_reader`](super::kafka_reader), "A start offset past the end").
pub fn check_start_offsets(
    topic: &str,
    start_offsets: &[i64],
    partitions: Option<usize>,
) -> Result<(), String> {
    if start_offsets.iter().any(|o| *o < 0) {
        return Err("START OFFSET must be a nonnegative integer".into());
    }
    match partitions {
        Some(n) if start_offsets.len() > n => Err(format!(
            "START OFFSET specified more partitions ({}) than topic ({topic}) contains ({n})",
            start_offsets.len()
        )),
        _ => Ok(()),
    }
}

/// One partition's snapshot progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProgress {
    /// The offsets in the partition's snapshot (`None`: not known).
    pub known: Option<i64>,
    /// How many of them are committed.
    pub staged: Option<i64>,
}

/// A source's snapshot progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Per partition of the snapshot.
    pub partitions: BTreeMap<i32, PartitionProgress>,
    /// What a partition outside the snapshot (added later) shows: zero
    /// when the snapshot is known, `None` when it is not.
    pub other: PartitionProgress,
    /// Whether every partition of the snapshot is committed up to its end
    /// (`None`: the source has no recorded snapshot).
    pub committed: Option<bool>,
}

impl Progress {
    /// Partition `p`'s progress.
    pub fn partition(&self, p: i32) -> PartitionProgress {
        self.partitions.get(&p).copied().unwrap_or(self.other)
    }

    /// The whole snapshot's progress: the sums over its partitions.
    pub fn total(&self) -> PartitionProgress {
        if self.other.known.is_none() {
            return self.other;
        }
        let sum = |f: fn(&PartitionProgress) -> Option<i64>| {
            Some(self.partitions.values().filter_map(f).sum())
        };
        PartitionProgress {
            known: sum(|p| p.known),
            staged: sum(|p| p.staged),
        }
    }
}

/// A source's snapshot progress, given its bounds (`None` for a source
/// created before snapshots were recorded) and each partition's committed
/// next offset (a partition without one has staged nothing).
pub fn progress(bounds: Option<&SnapshotBounds>, committed: &BTreeMap<i32, i64>) -> Progress {
    let unknown = PartitionProgress {
        known: None,
        staged: None,
    };
    let parts = match bounds {
        None => {
            return Progress {
                partitions: BTreeMap::new(),
                other: unknown,
                committed: None,
            };
        }
        Some(SnapshotBounds::Pending) => {
            return Progress {
                partitions: BTreeMap::new(),
                other: unknown,
                committed: Some(false),
            };
        }
        Some(SnapshotBounds::Known(parts)) => parts,
    };
    let partitions: BTreeMap<i32, PartitionProgress> = parts
        .iter()
        .map(|b| {
            let known = (b.end - b.start).max(0);
            let next = committed.get(&b.partition).copied().unwrap_or(b.start);
            let staged = (next - b.start).clamp(0, known);
            (
                b.partition,
                PartitionProgress {
                    known: Some(known),
                    staged: Some(staged),
                },
            )
        })
        .collect();
    let done = partitions.values().all(|p| p.staged == p.known);
    Progress {
        partitions,
        other: PartitionProgress {
            known: Some(0),
            staged: Some(0),
        },
        committed: Some(done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(parts: &[(i32, i64, i64)]) -> SnapshotBounds {
        SnapshotBounds::Known(
            parts
                .iter()
                .map(|&(partition, start, end)| PartitionBounds {
                    partition,
                    start,
                    end,
                })
                .collect(),
        )
    }

    fn part(known: i64, staged: i64) -> PartitionProgress {
        PartitionProgress {
            known: Some(known),
            staged: Some(staged),
        }
    }

    #[test]
    fn staged_counts_offsets_from_the_start_capped_at_the_end() {
        // Partition 0 from its beginning, 1 from START OFFSET 5 (of 8),
        // 2 empty, 3 starting past its end.
        let b = bounds(&[(0, 0, 10), (1, 5, 8), (2, 4, 4), (3, 9, 7)]);
        let committed = BTreeMap::from([(0, 4), (1, 3)]);
        let p = progress(Some(&b), &committed);
        assert_eq!(p.partition(0), part(10, 4));
        // Committed below its start (not read yet): nothing staged.
        assert_eq!(p.partition(1), part(3, 0));
        assert_eq!(p.partition(2), part(0, 0));
        assert_eq!(p.partition(3), part(0, 0));
        assert_eq!(p.total(), part(13, 4));
        assert_eq!(p.committed, Some(false));
        // A partition added later is outside the snapshot.
        assert_eq!(p.partition(7), part(0, 0));

        // Past the end (records produced after creation): capped.
        let committed = BTreeMap::from([(0, 25), (1, 8), (7, 100)]);
        let p = progress(Some(&b), &committed);
        assert_eq!(p.total(), part(13, 13));
        assert_eq!(p.committed, Some(true));
        // One partition short of its end: not committed.
        let committed = BTreeMap::from([(0, 10), (1, 7)]);
        let p = progress(Some(&b), &committed);
        assert_eq!(p.partition(1), part(3, 2));
        assert_eq!(p.committed, Some(false));
    }

    #[test]
    fn start_offsets_are_checked_as_in_materialize() {
        assert_eq!(check_start_offsets("t", &[0, 5], Some(2)), Ok(()));
        assert_eq!(check_start_offsets("t", &[5], Some(3)), Ok(()));
        assert_eq!(check_start_offsets("t", &[], Some(0)), Ok(()));
        // The partition count is not known (the brokers did not answer).
        assert_eq!(check_start_offsets("t", &[1, 2, 3], None), Ok(()));
        assert_eq!(
            check_start_offsets("t", &[100, 100], Some(1)),
            Err("START OFFSET specified more partitions (2) than topic (t) contains (1)".into())
        );
        let negative = Err("START OFFSET must be a nonnegative integer".to_string());
        assert_eq!(check_start_offsets("t", &[3, -1], None), negative);
        assert_eq!(check_start_offsets("t", &[-1, 0, 0], Some(1)), negative);
    }

    #[test]
    fn an_empty_snapshot_is_committed_at_once() {
        let p = progress(Some(&bounds(&[])), &BTreeMap::new());
        assert_eq!((p.total(), p.committed), (part(0, 0), Some(true)));
        let p = progress(Some(&bounds(&[(0, 3, 3)])), &BTreeMap::new());
        assert_eq!((p.total(), p.committed), (part(0, 0), Some(true)));
    }

    #[test]
    fn unknown_and_pending_snapshots() {
        let none = PartitionProgress {
            known: None,
            staged: None,
        };
        let committed = BTreeMap::from([(0, 5)]);
        // A source from before snapshots were recorded.
        let p = progress(None, &committed);
        assert_eq!((p.partition(0), p.total(), p.committed), (none, none, None));
        // Bounds not taken yet: not committed.
        let p = progress(Some(&SnapshotBounds::Pending), &committed);
        assert_eq!(
            (p.partition(0), p.total(), p.committed),
            (none, none, Some(false))
        );
    }

    /// The stored form is JSON that this version reads back.
    #[test]
    fn bounds_round_trip_through_their_stored_form() {
        for b in [SnapshotBounds::Pending, bounds(&[(0, 0, 3), (2, 1, 9)])] {
            let bytes = serde_json::to_vec(&b).unwrap();
            assert_eq!(serde_json::from_slice::<SnapshotBounds>(&bytes).unwrap(), b);
        }
        assert_eq!(
            serde_json::to_string(&bounds(&[(1, 2, 3)])).unwrap(),
            r#"{"Known":[{"partition":1,"start":2,"end":3}]}"#
        );
    }
}
