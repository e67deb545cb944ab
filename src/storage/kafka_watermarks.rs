//! Checking where a Kafka source reads next against its partitions'
//! watermarks: the offsets a source must read that the brokers can no
//! longer serve, which make the source fail with a definite error.
//!
//! A reader resumes each partition at the offset after its last record
//! read or committed. Two things can take that offset away, and in both
//! the source can no longer hold exactly the records of its topic:
//!
//! * **Records deleted** (retention, compaction, `DeleteRecords`) move the
//!   partition's low watermark past it: the records between were never
//!   read and never will be. As in Materialize (PR #36559).
//! * **Offsets that went back**: the partition's high watermark is below
//!   it, so records the source read are no longer there and the offsets it
//!   would read next are not where it left off. That is a topic deleted
//!   and recreated under the same name (Kafka topics are known by name),
//!   or brokers that lost acknowledged records (an unclean leader
//!   election). Materialize calls it "topic was recreated: high watermark
//!   of partition regressed". Reading on from the offset would skip the
//!   new topic's records up to it, and reading the new topic from its
//!   beginning would count again what the old one had: neither is the
//!   topic's contents, so neither is done silently.
//!
//! The same holds for the transaction topic of a source with `TRANSACTION
//! METADATA`: its `END` records say when a transaction's events are all
//! there, and an `END` that was deleted before it was read leaves its
//! transaction's events waiting for ever (see
//! [`kafka_txn`](super::kafka_txn)): the transactions cannot be assembled
//! exactly, which is what the option asked for. So its offsets are checked
//! as the data partitions' are, and a loss is the source's definite error
//! too.
//!
//! A lost offset is found when a reader (re)starts, and when it takes
//! partitions added later (the low and high watermarks of every partition
//! with an offset read or committed, or a `START OFFSET` entry, asked for
//! once); and, for offsets that went back while the reader runs, by the
//! reader's metadata thread, which compares every high watermark it
//! fetches with the offsets committed before it asked (a healthy broker's
//! high watermark never goes below an offset a consumer has read). An
//! offset deleted while the reader runs ends the attempt through
//! `auto.offset.reset = error`, and the next attempt finds it; so does an
//! offset that went back on a Kafka broker, which answers the fetch with
//! `OFFSET_OUT_OF_RANGE`.
//!
//! # Confirming offsets that went back
//!
//! A listed high watermark (`ListOffsets`) below the offset read is only a
//! suspicion: tansu 0.6's memory storage lists the offset after the first
//! record of the partition's last batch, well below its end when producers
//! batch. Before a source fails for it, [`probe_went_back`] fetches the
//! partition from the last offset read: a record there, or a fetch
//! response's high watermark at or past the offset, clears it; a fetch
//! response's high watermark below the offset, or `OFFSET_OUT_OF_RANGE`,
//! confirms it. No answer in time clears it too (the reader tries again
//! later): a source fails only on the brokers' word.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, ClientContext, Offset, Statistics, TopicPartitionList};

/// How the brokers lost a partition's next offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetLoss {
    /// The low watermark is past it: the records from it to `earliest - 1`
    /// were deleted before the source read them.
    Deleted {
        /// The earliest offset the brokers hold (the low watermark).
        earliest: i64,
    },
    /// The high watermark is below it: the partition's offsets went back.
    WentBack {
        /// The partition's high watermark.
        high: i64,
    },
}

/// A partition whose next offset the brokers no longer serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LostOffset {
    /// The partition.
    pub partition: i32,
    /// The offset the source reads next.
    pub wanted: i64,
    /// How it was lost.
    pub loss: OffsetLoss,
}

impl LostOffset {
    /// The definite error's message, for a partition of `topic`.
    pub(crate) fn message(&self, topic: &str) -> String {
        let (p, wanted) = (self.partition, self.wanted);
        match self.loss {
            OffsetLoss::Deleted { earliest } => format!(
                "partition {p} of topic \"{topic}\": the source needs offset {wanted}, but the \
                 earliest offset the brokers hold is {earliest}: records {wanted} to {} were \
                 deleted (by retention, compaction or DeleteRecords) before the source read them",
                earliest - 1
            ),
            OffsetLoss::WentBack { high } => format!(
                "partition {p} of topic \"{topic}\": the source needs offset {wanted}, but the \
                 high watermark is {high}: the partition's offsets went back (the topic was \
                 deleted and recreated, or the brokers lost records the source had read)"
            ),
        }
    }

    /// Where the partition is read from once the error is committed: the
    /// low watermark past deleted records, the high watermark after offsets
    /// went back (its records below it are not the ones the source left off
    /// at: reading them would count a recreated topic's records as new).
    /// Either way the offset moves forward past what is lost, so that the
    /// next start does not find the loss again.
    pub(crate) fn resume_at(&self) -> i64 {
        match self.loss {
            OffsetLoss::Deleted { earliest } => earliest,
            OffsetLoss::WentBack { high } => high,
        }
    }
}

/// Where a source reads a partition next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextOffset {
    /// The offset.
    pub offset: i64,
    /// Whether the source has read up to it (an offset read or committed);
    /// else it is where the source was told to start (`START OFFSET`), which
    /// is not checked against the high watermark: offsets past a
    /// partition's end never held records the source read.
    pub read: bool,
}

/// Of the partitions in `next` (partition → where the source reads it
/// next), those whose offset the brokers no longer serve, given each
/// partition's low and high watermarks as `watermarks` answers them.
pub(crate) fn lost_offsets(
    next: &BTreeMap<i32, NextOffset>,
    mut watermarks: impl FnMut(i32) -> Result<(i64, i64), String>,
) -> Result<Vec<LostOffset>, String> {
    let mut lost = Vec::new();
    for (&partition, &NextOffset { offset, read }) in next {
        let (low, high) = watermarks(partition)?;
        let loss = if low > offset {
            OffsetLoss::Deleted { earliest: low }
        } else if read && high < offset {
            OffsetLoss::WentBack { high }
        } else {
            continue;
        };
        lost.push(LostOffset {
            partition,
            wanted: offset,
            loss,
        });
    }
    Ok(lost)
}

/// The partitions whose high watermark in `high` (fetched after
/// `committed` was taken) is below their committed offset in `committed`,
/// as `(partition, committed, high)`: the partition's offsets may have gone
/// back while the reader ran (to be confirmed: see "Confirming offsets that
/// went back" above). A partition missing from either is not checked.
pub(crate) fn went_back(
    committed: &BTreeMap<i32, i64>,
    high: &BTreeMap<i32, i64>,
) -> Vec<(i32, i64, i64)> {
    committed
        .iter()
        .filter_map(|(p, o)| high.get(p).filter(|h| *h < o).map(|h| (*p, *o, *h)))
        .collect()
}

/// A probe's consumer context: the high watermark of the probed partition
/// in the last fetch response, from librdkafka's statistics.
struct ProbeContext {
    topic: String,
    partition: i32,
    high: Mutex<Option<i64>>,
}

impl ClientContext for ProbeContext {
    fn stats(&self, statistics: Statistics) {
        // -1001 (no fetch response yet) and -1 (an error response) say nothing.
        let high = statistics
            .topics
            .get(&self.topic)
            .and_then(|t| t.partitions.get(&self.partition))
            .map(|p| p.hi_offset)
            .filter(|h| *h >= 0);
        if let (Some(h), Ok(mut slot)) = (high, self.high.lock()) {
            *slot = Some(h);
        }
    }
}

impl ConsumerContext for ProbeContext {}

/// Whether the offsets of `topic`'s `partition` went back below `wanted`,
/// the offset after the last record the source read, as the partition's
/// listed high watermark (`listed_high`) suggests: `Some` with the high
/// watermark the brokers answered if they confirm it, `None` if they do not
/// (or do not answer within `timeout`). `config` is the source's consumer
/// configuration; see "Confirming offsets that went back" above.
pub(crate) fn probe_went_back(
    mut config: ClientConfig,
    topic: &str,
    partition: i32,
    wanted: i64,
    listed_high: i64,
    timeout: Duration,
) -> Result<Option<i64>, String> {
    if wanted < 1 {
        return Ok(None);
    }
    config
        .set("statistics.interval.ms", "50")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "error");
    let context = ProbeContext {
        topic: topic.to_string(),
        partition,
        high: Mutex::new(None),
    };
    let consumer: BaseConsumer<ProbeContext> = config
        .create_with_context(context)
        .map_err(|e| format!("creating a Kafka consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(wanted - 1))
        .map_err(|e| e.to_string())?;
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assigning partition {partition} of topic \"{topic}\": {e}"))?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) if m.partition() == partition && m.offset() >= wanted - 1 => {
                return Ok(None);
            }
            Some(Err(e)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) => {
                return Ok(Some(listed_high));
            }
            _ => {}
        }
        if let Some(high) = consumer.context().high.lock().ok().and_then(|h| *h) {
            return Ok((high < wanted).then_some(high));
        }
    }
    tracing::warn!(
        "partition {partition} of topic \"{topic}\": the listed high watermark {listed_high} is \
         below offset {wanted}, which the source has read, but a fetch did not answer in \
         {timeout:?}: reading on"
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(offset: i64) -> NextOffset {
        NextOffset { offset, read: true }
    }

    #[test]
    fn offsets_below_the_low_watermark_are_deleted() {
        let low = BTreeMap::from([(0, 0), (1, 8), (2, 5), (3, 9)]);
        // Partition 0 from 3 (kept), 1 from 5 (8 is the earliest: 5-7 are gone), 2 from
        // exactly its low watermark, 3 from past it.
        let next = BTreeMap::from([(0, read(3)), (1, read(5)), (2, read(5)), (3, read(12))]);
        let lost = lost_offsets(&next, |p| Ok((low[&p], 20))).unwrap();
        let expected = LostOffset {
            partition: 1,
            wanted: 5,
            loss: OffsetLoss::Deleted { earliest: 8 },
        };
        assert_eq!(lost, vec![expected]);
        assert_eq!(expected.resume_at(), 8);
        assert_eq!(
            expected.message("t"),
            "partition 1 of topic \"t\": the source needs offset 5, but the earliest offset \
             the brokers hold is 8: records 5 to 7 were deleted (by retention, compaction or \
             DeleteRecords) before the source read them"
        );
        // A failed lookup is the attempt's error (retried with backoff).
        assert_eq!(
            lost_offsets(&next, |_| Err("timed out".into())),
            Err("timed out".to_string())
        );
        assert_eq!(
            lost_offsets(&BTreeMap::new(), |_| unreachable!()),
            Ok(vec![])
        );
    }

    #[test]
    fn offsets_above_the_high_watermark_went_back() {
        // (low, high) per partition.
        let marks = BTreeMap::from([(0, (0, 5)), (1, (0, 2)), (2, (0, 0)), (3, (0, 1))]);
        let next = BTreeMap::from([
            // At the end: fine.
            (0, read(5)),
            // Read up to 7, the partition now ends at 2: recreated with 2 records.
            (1, read(7)),
            // Recreated and empty (a broker answers 0 for both watermarks).
            (2, read(3)),
            // A START OFFSET past the end is not a loss: nothing was read there.
            (
                3,
                NextOffset {
                    offset: 4,
                    read: false,
                },
            ),
        ]);
        let lost = lost_offsets(&next, |p| Ok(marks[&p])).unwrap();
        let one = LostOffset {
            partition: 1,
            wanted: 7,
            loss: OffsetLoss::WentBack { high: 2 },
        };
        let two = LostOffset {
            partition: 2,
            wanted: 3,
            loss: OffsetLoss::WentBack { high: 0 },
        };
        assert_eq!(lost, vec![one, two]);
        assert_eq!((one.resume_at(), two.resume_at()), (2, 0));
        assert_eq!(
            one.message("t"),
            "partition 1 of topic \"t\": the source needs offset 7, but the high watermark is \
             2: the partition's offsets went back (the topic was deleted and recreated, or the \
             brokers lost records the source had read)"
        );
        // Deleted records win over a high watermark below the offset (which a broker
        // cannot answer together with a low watermark above it, but a START OFFSET is
        // still checked against the low one).
        let start = NextOffset {
            offset: 1,
            read: false,
        };
        assert_eq!(
            lost_offsets(&BTreeMap::from([(0, start)]), |_| Ok((3, 3))),
            Ok(vec![LostOffset {
                partition: 0,
                wanted: 1,
                loss: OffsetLoss::Deleted { earliest: 3 },
            }])
        );
    }

    #[test]
    fn a_high_watermark_below_a_committed_offset_went_back() {
        let committed = BTreeMap::from([(0, 5), (1, 3), (2, 9)]);
        assert_eq!(
            went_back(&committed, &BTreeMap::from([(0, 5), (1, 4)])),
            vec![]
        );
        assert_eq!(
            went_back(&committed, &BTreeMap::from([(0, 6), (1, 2), (2, 0)])),
            vec![(1, 3, 2), (2, 9, 0)]
        );
        // Partitions without a committed offset, or without a watermark, are not checked.
        assert_eq!(
            went_back(&BTreeMap::new(), &BTreeMap::from([(0, 0)])),
            vec![]
        );
        assert_eq!(went_back(&committed, &BTreeMap::new()), vec![]);
    }
}
