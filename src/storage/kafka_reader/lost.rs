//! The reader's side of offsets the brokers no longer serve (see
//! [`kafka_watermarks`](crate::storage::kafka_watermarks) for how they are
//! found, and "Offsets that are gone" in [`kafka_reader`](super) for what
//! the source does about them): where the reader reads next, confirming
//! offsets that went back, and committing the source's definite error; and
//! the held transactions whose `END` record is gone (see
//! [`kafka_txn`](crate::storage::kafka_txn), "`END` records that are gone").

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::consumer::Consumer;

use super::{METADATA_TIMEOUT, PROBE_TIMEOUT, Positions, Reader, ReaderConsumer};
use crate::expr::EvalError;
use crate::storage::durable::{IngestBatch, SourceChange, TransactionProgress};
use crate::storage::kafka::TransactionResume;
use crate::storage::kafka_txn::TransactionBuffer;
use crate::storage::kafka_watermarks::{
    LostOffset, NextOffset, OffsetLoss, lost_offsets, probe_went_back,
};

impl Reader<'_> {
    /// Where each of the reader's partitions that has a start offset starts
    /// in this attempt: after its last record read, else at its committed
    /// offset, else at its `START OFFSET` entry. Partitions that start at
    /// their beginning or at `START TIMESTAMP` are not in it.
    pub(super) fn next_offsets(
        &self,
        next: &BTreeMap<i32, i64>,
        positions: &Positions,
    ) -> BTreeMap<i32, NextOffset> {
        let start_offsets = &self.params.start_offsets;
        positions
            .parts
            .iter()
            .filter_map(|p| {
                let next = match positions.read.get(p).or(next.get(p)) {
                    Some(o) => NextOffset {
                        offset: *o,
                        read: true,
                    },
                    None => NextOffset {
                        offset: *usize::try_from(*p)
                            .ok()
                            .and_then(|i| start_offsets.get(i))?,
                        read: false,
                    },
                };
                Some((*p, next))
            })
            .collect()
    }

    /// Where the reader reads each transaction topic partition next
    /// (`TRANSACTION METADATA`): after its last record read, else at its
    /// committed offset. Partitions read from their beginning are not in
    /// it.
    pub(super) fn next_transaction_offsets(
        committed: &TransactionResume,
        positions: &Positions,
    ) -> BTreeMap<i32, NextOffset> {
        positions
            .transaction_parts
            .iter()
            .filter_map(|p| {
                let offset = positions
                    .transaction_read
                    .get(p)
                    .or(committed.offsets.get(p))?;
                Some((
                    *p,
                    NextOffset {
                        offset: *offset,
                        read: true,
                    },
                ))
            })
            .collect()
    }

    /// Finds the partitions, of the source's topic and of its transaction
    /// topic, whose next offset the brokers no longer serve, and commits,
    /// per partition, the source's definite error with its offset moved
    /// past the loss (see "Offsets that are gone" above). `Ok(None)`: the
    /// source is gone; else whether any offset was lost.
    pub(super) fn commit_lost(
        &self,
        consumer: &ReaderConsumer,
        next: &mut BTreeMap<i32, i64>,
        committed: &mut TransactionResume,
        positions: &mut Positions,
    ) -> Result<Option<bool>, String> {
        let watermarks = |topic: &str, p: i32| {
            consumer
                .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                .map_err(|e| {
                    format!("fetching the watermarks of partition {p} of topic \"{topic}\": {e}")
                })
        };
        let topic = &self.params.topic;
        let data = lost_offsets(&self.next_offsets(next, positions), |p| {
            watermarks(topic, p)
        })?;
        let data = self.confirmed(topic, data);
        let mut errors: Vec<String> = data.iter().map(|l| l.message(topic)).collect();
        let mut transactions: Vec<LostOffset> = Vec::new();
        if let Some(t) = &self.params.transactions {
            transactions =
                lost_offsets(&Self::next_transaction_offsets(committed, positions), |p| {
                    watermarks(&t.topic, p)
                })?;
            transactions = self.confirmed(&t.topic, transactions);
            errors.extend(transactions.iter().map(|l| {
                format!(
                    "{}; it is the source's TRANSACTION METADATA topic, so the source's \
                     transactions cannot be assembled exactly",
                    l.message(&t.topic)
                )
            }));
        }
        if errors.is_empty() {
            return Ok(Some(false));
        }
        let mut batch = IngestBatch {
            source: self.params.id,
            ..Default::default()
        };
        for message in &errors {
            tracing::warn!("Kafka source {}: {message}", self.params.id);
            batch.changes.push(SourceChange::Append(
                Err(EvalError::Source(message.clone())),
                1,
            ));
        }
        let offsets: BTreeMap<i32, i64> =
            data.iter().map(|l| (l.partition, l.resume_at())).collect();
        batch.offsets = offsets.iter().map(|(p, o)| (*p, *o)).collect();
        let progress = TransactionProgress {
            offsets: transactions
                .iter()
                .map(|l| (l.partition, l.resume_at()))
                .collect(),
            ..Default::default()
        };
        batch.transactions = progress.clone();
        if !(self.deliver)(self.reader, batch)? {
            return Ok(None);
        }
        for (p, o) in &offsets {
            next.insert(*p, *o);
            positions.read.remove(p);
        }
        for (p, _) in &progress.offsets {
            positions.transaction_read.remove(p);
        }
        committed.apply(progress);
        self.record_delivery(BTreeMap::new(), &offsets);
        if let Ok(mut status) = self.control.status.lock() {
            status.definite.extend(errors);
        }
        Ok(Some(true))
    }

    /// The source's definite errors for the transactions held in `buffer`
    /// that lost their `END` record ([`TransactionBuffer::orphans`]); if
    /// there are any, `buffer` stops grouping, so that what it holds is
    /// released with the errors. Only with a transaction topic of one
    /// partition (`transaction_parts`): the order of `END`s that rests on
    /// holds within a partition, and Debezium keys its transaction records
    /// by transaction id, so with several partitions a later transaction's
    /// `END` may be read first.
    pub(super) fn lost_ends(
        &self,
        buffer: &mut TransactionBuffer,
        transaction_parts: &[i32],
    ) -> Vec<String> {
        let Some(t) = &self.params.transactions else {
            return Vec::new();
        };
        if transaction_parts.len() != 1 || buffer.pending_ends() == 0 {
            return Vec::new();
        }
        let errors: Vec<String> = buffer
            .orphans()
            .iter()
            .map(|o| o.message(&self.params.topic, &t.topic))
            .collect();
        for message in &errors {
            tracing::warn!("Kafka source {}: {message}", self.params.id);
        }
        if !errors.is_empty() {
            buffer.ungroup();
        }
        errors
    }

    /// Whether the offsets of `topic`'s `partition` went back below
    /// `wanted`, as its listed high watermark `listed` suggests (see
    /// [`probe_went_back`]): the high watermark the brokers confirm.
    pub(super) fn probe(
        &self,
        topic: &str,
        partition: i32,
        wanted: i64,
        listed: i64,
    ) -> Option<i64> {
        probe_went_back(
            self.consumer_config(),
            topic,
            partition,
            wanted,
            listed,
            PROBE_TIMEOUT,
        )
        .unwrap_or_else(|e| {
            tracing::warn!(
                "Kafka source {}: probing for lost offsets: {e}",
                self.params.id
            );
            None
        })
    }

    /// `lost` without the offsets that went back that the brokers do not
    /// confirm (with the high watermark they answered for those they do).
    pub(super) fn confirmed(&self, topic: &str, lost: Vec<LostOffset>) -> Vec<LostOffset> {
        lost.into_iter()
            .filter_map(|l| match l.loss {
                OffsetLoss::Deleted { .. } => Some(l),
                OffsetLoss::WentBack { high } => {
                    let high = self.probe(topic, l.partition, l.wanted, high)?;
                    Some(LostOffset {
                        loss: OffsetLoss::WentBack { high },
                        ..l
                    })
                }
            })
            .collect()
    }

    /// Of `suspects` (`(partition, committed, listed high watermark)` of
    /// `topic`, from [`went_back`]), the first whose offsets the brokers
    /// confirm went back, with the high watermark they answered. A probe
    /// costs a consumer, and on tansu's memory storage the listed high
    /// watermark is often below what was read (see
    /// [`kafka_watermarks`](super::kafka_watermarks)), so only a partition
    /// whose committed offset has not moved since the previous round
    /// (`previous`; a reader still taking its records has not lost it) is
    /// probed, and only once per committed offset and listed high
    /// watermark (`probed`).
    pub(super) fn confirm_went_back(
        &self,
        topic: &str,
        suspects: Vec<(i32, i64, i64)>,
        previous: &BTreeMap<i32, i64>,
        probed: &mut BTreeSet<(String, i32, i64, i64)>,
    ) -> Option<(i32, i64, i64)> {
        suspects.into_iter().find_map(|(p, committed, listed)| {
            if previous.get(&p) != Some(&committed)
                || !probed.insert((topic.to_string(), p, committed, listed))
            {
                return None;
            }
            let high = self.probe(topic, p, committed, listed)?;
            Some((p, committed, high))
        })
    }
}

/// The reason a reader's attempt ends when the high watermark of `topic`'s
/// partition went below the offset the reader had committed
/// (`(partition, committed, high)`, as [`went_back`] finds it).
pub(super) fn went_back_error(
    topic: &str,
    (partition, committed, high): (i32, i64, i64),
) -> String {
    format!(
        "the high watermark of partition {partition} of topic \"{topic}\" went back to \
         {high}, below the offset {committed} the source has read: checking the partition's \
         offsets again"
    )
}
