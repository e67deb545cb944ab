//! The reader's side of a `START OFFSET` past a partition's end (see "A
//! start offset past the end" in [`kafka_reader`](super)): which of the
//! reader's partitions wait for records to reach their start offset, what
//! the source's status says about them, and when they are assigned; and
//! a `START OFFSET` with more entries than the topic has partitions, when
//! `CREATE SOURCE` could not ask the brokers.

use std::collections::BTreeMap;

use rdkafka::consumer::Consumer;

use super::{METADATA_TIMEOUT, Positions, Reader, ReaderConsumer, topic_partitions};
use crate::expr::EvalError;
use crate::storage::durable::{IngestBatch, SourceChange};
use crate::storage::kafka_snapshot::check_start_offsets;

/// Of the partitions in `starts` (partition → its `START OFFSET`, for the
/// partitions not read yet), those whose start offset is past their high
/// watermark as `watermarks` answers it (`(low, high)`), with that high
/// watermark: `partition → (start, high)`. A start offset at the high
/// watermark is not past it: a fetch there waits for the next record.
pub(crate) fn past_end(
    starts: &BTreeMap<i32, i64>,
    mut watermarks: impl FnMut(i32) -> Result<(i64, i64), String>,
) -> Result<BTreeMap<i32, (i64, i64)>, String> {
    let mut past = BTreeMap::new();
    for (&partition, &start) in starts {
        let (_, high) = watermarks(partition)?;
        if start > high {
            past.insert(partition, (start, high));
        }
    }
    Ok(past)
}

/// Why partition `partition` of `topic` is not read yet: its `START
/// OFFSET` `start` is past its high watermark `high`.
pub(crate) fn waiting_message(topic: &str, partition: i32, start: i64, high: i64) -> String {
    format!(
        "partition {partition} of topic \"{topic}\": START OFFSET {start} is past the \
         partition's end (its high watermark is {high}): the source reads the partition from \
         offset {start} once records reach it"
    )
}

impl Reader<'_> {
    /// Checks the source's `START OFFSET` against the topic's partitions,
    /// as `CREATE SOURCE` does when the brokers answer it in time
    /// ([`check_start_offsets`]): more entries than partitions is the
    /// source's definite error, committed into its data (so that reads of
    /// it and of views over it fail) and shown in its status, as for
    /// offsets that are gone (see "Offsets that are gone" above). Reader 0
    /// checks, once: an error already in the source's data (restored into
    /// its status at start-up) is not committed again. The readers then
    /// go on with the partitions that exist. `Ok(None)`: the source is
    /// gone.
    pub(super) fn check_start_offsets(
        &self,
        consumer: &ReaderConsumer,
    ) -> Result<Option<()>, String> {
        let (topic, starts) = (&self.params.topic, &self.params.start_offsets);
        if self.reader != 0 || starts.is_empty() {
            return Ok(Some(()));
        }
        let partitions = topic_partitions(consumer, topic, METADATA_TIMEOUT)?.len();
        let Err(message) = check_start_offsets(topic, starts, Some(partitions)) else {
            return Ok(Some(()));
        };
        let known = self
            .control
            .status
            .lock()
            .is_ok_and(|s| s.definite.contains(&message));
        if known {
            return Ok(Some(()));
        }
        tracing::warn!("Kafka source {}: {message}", self.params.id);
        let batch = IngestBatch {
            source: self.params.id,
            changes: vec![SourceChange::Append(
                Err(EvalError::Source(message.clone())),
                1,
            )],
            ..Default::default()
        };
        if !(self.deliver)(self.reader, batch)? {
            return Ok(None);
        }
        if let Ok(mut status) = self.control.status.lock() {
            status.definite.insert(message);
        }
        Ok(Some(()))
    }

    /// Finds which of the reader's partitions wait for their `START OFFSET`
    /// (asking the brokers for the watermarks of those not read yet), and
    /// shows why in the source's status; the others' entries there are
    /// removed.
    pub(super) fn find_waiting(
        &self,
        consumer: &ReaderConsumer,
        next: &BTreeMap<i32, i64>,
        positions: &mut Positions,
    ) -> Result<(), String> {
        let topic = &self.params.topic;
        let starts: BTreeMap<i32, i64> = self
            .next_offsets(next, positions)
            .into_iter()
            .filter(|(_, n)| !n.read)
            .map(|(p, n)| (p, n.offset))
            .collect();
        let past = past_end(&starts, |p| {
            consumer
                .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                .map_err(|e| {
                    format!("fetching the watermarks of partition {p} of topic \"{topic}\": {e}")
                })
        })?;
        positions.waiting = past.iter().map(|(p, (start, _))| (*p, *start)).collect();
        if let Ok(mut status) = self.control.status.lock() {
            status.waiting.retain(|p, _| !positions.parts.contains(p));
            for (p, (start, high)) in past {
                status
                    .waiting
                    .insert(p, waiting_message(topic, p, start, high));
            }
        }
        Ok(())
    }

    /// Takes out of `positions.waiting` the partitions whose high watermark,
    /// as the reader's metadata thread last fetched it, has reached their
    /// start offset (and their entries in the source's status; the others'
    /// show that high watermark); whether any did, so that the reader
    /// assigns them.
    pub(super) fn take_started(&self, positions: &mut Positions) -> bool {
        let Ok(mut status) = self.control.status.lock() else {
            return false;
        };
        let mut started = false;
        for (&p, &start) in &positions.waiting {
            let Some(high) = status.partitions.get(&p).and_then(|s| s.high_watermark) else {
                continue;
            };
            if high >= start {
                status.waiting.remove(&p);
                started = true;
            } else {
                let message = waiting_message(&self.params.topic, p, start, high);
                status.waiting.insert(p, message);
            }
        }
        positions
            .waiting
            .retain(|p, _| status.waiting.contains_key(p));
        started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_start_offsets_past_the_high_watermark_wait() {
        // (low, high) per partition.
        let marks = BTreeMap::from([(0, (0, 3)), (1, (0, 5)), (2, (2, 9)), (3, (0, 0))]);
        // 0 starts past its end, 1 exactly at it (a fetch there waits for the next record),
        // 2 inside, 3 past the end of an empty partition.
        let starts = BTreeMap::from([(0, 5), (1, 5), (2, 4), (3, 1)]);
        assert_eq!(
            past_end(&starts, |p| Ok(marks[&p])),
            Ok(BTreeMap::from([(0, (5, 3)), (3, (1, 0))]))
        );
        assert_eq!(
            past_end(&BTreeMap::new(), |_| unreachable!()),
            Ok(BTreeMap::new())
        );
        // A failed lookup is the attempt's error (retried with backoff).
        assert_eq!(
            past_end(&starts, |_| Err("timed out".into())),
            Err("timed out".to_string())
        );
        assert_eq!(
            waiting_message("t", 0, 5, 3),
            "partition 0 of topic \"t\": START OFFSET 5 is past the partition's end (its high \
             watermark is 3): the source reads the partition from offset 5 once records reach it"
        );
    }
}
