//! Grouping a Debezium source's events by source transaction, so that a
//! transaction becomes visible at one Freshet timestamp.
//!
//! A reader pushes each decoded record into a [`TransactionBuffer`] with
//! the record's `transaction.id`, and takes out what may be committed.
//! Released records keep each partition's order; a held record holds back
//! every later record of its partition, so the offset a batch commits for
//! a partition is that of its first held record (or the position after
//! the last read one): what is held is never committed, and a crash
//! re-reads it.
//!
//! * [`Grouping::Metadata`] (`TRANSACTION METADATA`): a transaction's
//!   events are held until its `END` record (from the transaction topic)
//!   has arrived and so have as many events as it counts for the source's
//!   collection, all at the front of their partitions; then they are
//!   released together, into one batch.
//! * [`Grouping::Runs`] (any Debezium source): without the `END` record the
//!   size of a transaction is unknown, so a partition's trailing run of
//!   events of one transaction is held until an event of another
//!   transaction (or of none) follows it, or the partition has been quiet
//!   for a while: a poll never splits a run that arrives without pauses.
//! * [`Grouping::None`]: everything is released at once.
//!
//! # `END` records that are gone
//!
//! An `END` deleted from the transaction topic (by retention, which often
//! keeps that topic for less time than the data topics) before the source
//! read it leaves its transaction's events held for ever. A source that
//! resumes past deleted records fails at once (see
//! [`kafka_watermarks`](super::kafka_watermarks)); a new source reads the
//! transaction topic from its low watermark, where the `END`s of older
//! transactions may already be gone while their events are still in the
//! data topic. Those are found by the order Debezium writes in: it emits a
//! database's transactions one after the other, in commit order, each
//! `END` after the transaction's events, so in a data partition the events
//! of an earlier transaction come before those of a later one, and in a
//! transaction topic of one partition (Debezium's default; with several,
//! its transaction records, keyed by transaction id, spread over them and
//! lose that order, and nothing is found) its `END` comes before the later
//! one's. A transaction
//! at the front of a partition whose `END` has not been read, while the
//! `END` of a later transaction in that partition has, lost its `END`
//! ([`TransactionBuffer::orphans`]): the reader commits the source's
//! definite error, naming the transaction, its offsets and both topics, and
//! stops grouping ([`TransactionBuffer::ungroup`]), as for any failed
//! source (see [`kafka_reader`](super::kafka_reader)). A transaction that
//! lost its `END` with no later transaction read after it cannot be told
//! from one still being written; it stays held (`held_records` and
//! `pending_transactions` in `mz_internal.mz_source_statistics` show it)
//! until a later transaction arrives.
//!
//! With [`Grouping::Metadata`], the `END` records read and not yet released
//! are durable state: each batch commits, with its data, the transaction
//! topic's offsets and the changes to the pending `END`s
//! ([`TransactionBuffer::durable_changes`]), and a restart resumes the
//! topic there with the pending ones ([`TransactionBuffer::resume`]). An
//! `END` is dropped once its transaction is released, so the buffer holds
//! only transactions still open or pending, never the topic's history.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::durable::{SourceChange, TransactionProgress};

/// The most records [`Grouping::Runs`] holds back in one partition: a
/// longer run is released (and so split) rather than kept in memory.
const MAX_RUN: usize = 100_000;

/// How events are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// No grouping.
    None,
    /// Do not split runs of one transaction; release a held run once its
    /// partition has been quiet for `idle`.
    Runs {
        /// How long a partition must be quiet before its run is released.
        idle: Duration,
    },
    /// Hold transactions until their `END` record says they are complete.
    Metadata,
}

/// A decoded record waiting in the buffer.
#[derive(Debug)]
pub struct HeldRecord {
    /// Its change.
    pub change: SourceChange,
    /// Its `transaction.id`, if any.
    pub transaction: Option<String>,
    /// Its offset.
    pub offset: i64,
    /// Bytes of its key and value (for statistics).
    pub bytes: u64,
    /// Whether it failed to decode (for statistics).
    pub decode_error: bool,
}

/// Records read and not yet released, per partition.
///
/// # Invariants
///
/// Each partition's queue is in offset order, and only a prefix of it is
/// ever released.
#[derive(Debug)]
pub struct TransactionBuffer {
    grouping: Grouping,
    queues: BTreeMap<i32, VecDeque<HeldRecord>>,
    last_arrival: BTreeMap<i32, Instant>,
    /// Event counts for the source's collection from `END` records, by
    /// transaction id, until the transaction is released.
    ends: HashMap<String, PendingEnd>,
    /// `END`s read since the last [`durable_changes`](Self::durable_changes),
    /// in the order read (some may be released already).
    fresh_ends: Vec<String>,
    /// Durable `END`s released since the last `durable_changes`.
    released_ends: Vec<String>,
    /// Held events per transaction id.
    arrived: HashMap<String, u64>,
    /// Bytes of the held records' keys and values.
    held_bytes: u64,
}

/// A transaction at the front of a partition whose `END` record was not
/// read though a later transaction's was (see "`END` records that are
/// gone" above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The partition.
    pub partition: i32,
    /// The transaction's id.
    pub transaction: String,
    /// The offsets of its events at the front of the partition.
    pub offsets: (i64, i64),
    /// The id of the later transaction whose `END` was read.
    pub later: String,
}

impl Orphan {
    /// The source's definite error, for data topic `topic` and transaction
    /// topic `transaction_topic`.
    pub fn message(&self, topic: &str, transaction_topic: &str) -> String {
        let offsets = match self.offsets {
            (first, last) if first == last => format!("offset {first}"),
            (first, last) => format!("offsets {first} to {last}"),
        };
        format!(
            "partition {} of topic \"{topic}\": the events at {offsets} belong to transaction \
             \"{}\", whose END record is not in the TRANSACTION METADATA topic \
             \"{transaction_topic}\" although the END of the later transaction \"{}\" is: it \
             was deleted (by retention, compaction or DeleteRecords) before the source read it, \
             so the source's transactions cannot be assembled exactly",
            self.partition, self.transaction, self.later
        )
    }
}

/// An `END` record waiting for its transaction's events.
#[derive(Debug, Clone, Copy)]
struct PendingEnd {
    /// Its event count for the source's collection.
    count: u64,
    /// Whether the durable store has it (committed as pending).
    durable: bool,
}

impl TransactionBuffer {
    /// An empty buffer.
    pub fn new(grouping: Grouping) -> TransactionBuffer {
        TransactionBuffer {
            grouping,
            queues: BTreeMap::new(),
            last_arrival: BTreeMap::new(),
            ends: HashMap::new(),
            fresh_ends: Vec::new(),
            released_ends: Vec::new(),
            arrived: HashMap::new(),
            held_bytes: 0,
        }
    }

    /// A buffer that starts with the `END` records a previous run left
    /// pending (durable already). With a grouping other than
    /// [`Grouping::Metadata`] (a failed source no longer groups, see
    /// [`kafka_reader`](super::kafka_reader)), they are dropped: the first
    /// [`durable_changes`](Self::durable_changes) removes them from the
    /// store.
    pub fn resume(grouping: Grouping, pending: impl IntoIterator<Item = (String, u64)>) -> Self {
        let mut buffer = TransactionBuffer::new(grouping);
        if grouping != Grouping::Metadata {
            buffer.released_ends = pending.into_iter().map(|(id, _)| id).collect();
            return buffer;
        }
        buffer.ends = pending
            .into_iter()
            .map(|(id, count)| {
                (
                    id,
                    PendingEnd {
                        count,
                        durable: true,
                    },
                )
            })
            .collect();
        buffer
    }

    /// Adds a record read from `partition`.
    pub fn push(&mut self, partition: i32, record: HeldRecord, now: Instant) {
        let queue = self.queues.entry(partition).or_default();
        debug_assert!(queue.back().is_none_or(|r| r.offset < record.offset));
        if let Some(t) = &record.transaction {
            *self.arrived.entry(t.clone()).or_default() += 1;
        }
        self.held_bytes += record.bytes;
        queue.push_back(record);
        self.last_arrival.insert(partition, now);
    }

    /// Records an `END` record: transaction `id` has `count` events in the
    /// source's collection.
    pub fn end(&mut self, id: String, count: u64) {
        // Without grouping by `END`s, nothing would ever release it.
        if self.grouping != Grouping::Metadata {
            return;
        }
        // Most transactions of a database may not touch this collection:
        // remembering them would grow without bound.
        if (count > 0 || self.arrived.contains_key(&id)) && !self.ends.contains_key(&id) {
            self.fresh_ends.push(id.clone());
            self.ends.insert(
                id,
                PendingEnd {
                    count,
                    durable: false,
                },
            );
        }
    }

    /// Records held.
    pub fn held(&self) -> usize {
        self.queues.values().map(|q| q.len()).sum()
    }

    /// Bytes of the held records' keys and values.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// `END` records waiting for (some of) their transactions' events.
    pub fn pending_ends(&self) -> usize {
        self.ends.len()
    }

    /// The changes to the pending `END`s since the last call, for the
    /// batch about to commit, with the transaction topic's `offsets`: the
    /// `END`s read since and still pending, and the durable ones released
    /// since. They count as durable from now on: if the batch fails to
    /// commit, its reader's attempt ends and the next one starts from what
    /// the store has.
    pub fn durable_changes(&mut self, offsets: Vec<(i32, i64)>) -> TransactionProgress {
        let mut add_pending = Vec::new();
        for id in self.fresh_ends.drain(..) {
            if let Some(end) = self.ends.get_mut(&id)
                && !end.durable
            {
                end.durable = true;
                add_pending.push((id, end.count));
            }
        }
        TransactionProgress {
            offsets,
            add_pending,
            remove_pending: std::mem::take(&mut self.released_ends),
        }
    }

    /// [`Grouping::Metadata`]: the transactions at the front of a partition
    /// that lost their `END` record (see "`END` records that are gone"
    /// above), one per partition at most.
    pub fn orphans(&self) -> Vec<Orphan> {
        if self.grouping != Grouping::Metadata {
            return Vec::new();
        }
        let mut orphans = Vec::new();
        for (p, q) in &self.queues {
            let Some(t) = q.front().and_then(|r| r.transaction.as_ref()) else {
                continue;
            };
            if self.ends.contains_key(t) {
                continue;
            }
            let run = q
                .iter()
                .take_while(|r| r.transaction.as_ref() == Some(t))
                .count();
            let later = q.iter().skip(run).find_map(|r| {
                r.transaction
                    .as_ref()
                    .filter(|l| *l != t && self.ends.contains_key(*l))
            });
            if let (Some(later), Some(first), Some(last)) = (later, q.front(), q.get(run - 1)) {
                orphans.push(Orphan {
                    partition: *p,
                    transaction: t.clone(),
                    offsets: (first.offset, last.offset),
                    later: later.clone(),
                });
            }
        }
        orphans
    }

    /// Stops grouping (a failed source, see
    /// [`kafka_reader`](super::kafka_reader)): everything held is released
    /// by the next [`release`](Self::release), and the pending `END`s are
    /// dropped (the durable ones from the store with the next
    /// [`durable_changes`](Self::durable_changes)).
    pub fn ungroup(&mut self) {
        self.grouping = Grouping::None;
        for (id, end) in self.ends.drain() {
            if end.durable {
                self.released_ends.push(id);
            }
        }
        self.fresh_ends.clear();
    }

    /// The offset of the first held record of `partition`.
    pub fn first_held(&self, partition: i32) -> Option<i64> {
        self.queues
            .get(&partition)
            .and_then(|q| q.front())
            .map(|r| r.offset)
    }

    /// Takes out the records that may be committed now, in partition
    /// order (the order within each partition kept).
    pub fn release(&mut self, now: Instant) -> Vec<(i32, HeldRecord)> {
        let mut out = Vec::new();
        match self.grouping {
            Grouping::None => {
                for (p, q) in &mut self.queues {
                    out.extend(q.drain(..).map(|r| (*p, r)));
                }
            }
            Grouping::Runs { idle } => {
                for (p, q) in &mut self.queues {
                    let quiet = self
                        .last_arrival
                        .get(p)
                        .is_none_or(|t| now.duration_since(*t) >= idle);
                    let run = match q.back().and_then(|r| r.transaction.as_ref()) {
                        Some(t) if !quiet => q
                            .iter()
                            .rev()
                            .take_while(|r| r.transaction.as_ref() == Some(t))
                            .count(),
                        _ => 0,
                    };
                    let hold = if run >= MAX_RUN { 0 } else { run };
                    let n = q.len() - hold;
                    out.extend(q.drain(..n).map(|r| (*p, r)));
                }
            }
            Grouping::Metadata => self.release_complete(&mut out),
        }
        for (_, r) in &out {
            self.held_bytes -= r.bytes;
            if let Some(t) = &r.transaction
                && let Some(n) = self.arrived.get_mut(t)
            {
                *n -= 1;
                if *n == 0 {
                    self.arrived.remove(t);
                }
            }
        }
        out
    }

    /// [`Grouping::Metadata`]: releases leading records without a
    /// transaction, and complete transactions whose events all lead their
    /// partitions, until nothing more can go.
    fn release_complete(&mut self, out: &mut Vec<(i32, HeldRecord)>) {
        loop {
            let mut progress = false;
            for (p, q) in &mut self.queues {
                while q.front().is_some_and(|r| r.transaction.is_none()) {
                    out.extend(q.pop_front().map(|r| (*p, r)));
                    progress = true;
                }
            }
            let fronts: BTreeSet<String> = self
                .queues
                .values()
                .filter_map(|q| q.front().and_then(|r| r.transaction.clone()))
                .collect();
            for t in fronts {
                let Some(expected) = self.ends.get(&t).map(|e| e.count) else {
                    continue;
                };
                let arrived = self.arrived.get(&t).copied().unwrap_or(0);
                let leading: u64 = self
                    .queues
                    .values()
                    .map(|q| {
                        q.iter()
                            .take_while(|r| r.transaction.as_ref() == Some(&t))
                            .count() as u64
                    })
                    .sum();
                if arrived < expected || leading != arrived {
                    continue;
                }
                for (p, q) in &mut self.queues {
                    while q
                        .front()
                        .is_some_and(|r| r.transaction.as_ref() == Some(&t))
                    {
                        out.extend(q.pop_front().map(|r| (*p, r)));
                    }
                }
                if self.ends.remove(&t).is_some_and(|e| e.durable) {
                    self.released_ends.push(t);
                }
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }
}

/// The fields of a Debezium transaction topic record Freshet reads.
#[derive(serde::Deserialize)]
struct TransactionJson<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    status: Option<String>,
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    data_collections: Option<Vec<DataCollectionJson>>,
}

#[derive(serde::Deserialize)]
struct DataCollectionJson {
    data_collection: String,
    event_count: u64,
}

/// Parses a record of Debezium's transaction topic (JSON converter, with
/// or without the `schema`/`payload` wrapping): for an `END` record, the
/// transaction id and its event count for `collection` (0 when the
/// transaction did not touch it); `None` for `BEGIN` and anything else.
pub fn parse_end(bytes: &[u8], collection: &str) -> Option<(String, u64)> {
    let mut record: TransactionJson<'_> = serde_json::from_slice(bytes).ok()?;
    if let (Some(_), Some(payload)) = (record.schema, record.payload) {
        record = serde_json::from_str(payload.get()).ok()?;
    }
    if record.status.as_deref() != Some("END") {
        return None;
    }
    let id = super::decode::json_id(record.id?)?;
    let count = record
        .data_collections
        .unwrap_or_default()
        .iter()
        .filter(|c| c.data_collection == collection)
        .map(|c| c.event_count)
        .sum();
    Some((id, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, transaction: Option<&str>) -> HeldRecord {
        HeldRecord {
            change: SourceChange::Nothing,
            transaction: transaction.map(str::to_string),
            offset,
            bytes: 10,
            decode_error: false,
        }
    }

    fn offsets(out: &[(i32, HeldRecord)]) -> Vec<(i32, i64)> {
        out.iter().map(|(p, r)| (*p, r.offset)).collect()
    }

    #[test]
    fn metadata_releases_a_transaction_whole_once_its_end_and_events_are_in() {
        let now = Instant::now();
        let mut b = TransactionBuffer::new(Grouping::Metadata);
        b.push(0, record(0, None), now);
        b.push(0, record(1, Some("t1")), now);
        b.push(1, record(0, Some("t1")), now);
        b.push(0, record(2, None), now);
        // Released: the leading record without a transaction; t1 waits for its END.
        assert_eq!(offsets(&b.release(now)), [(0, 0)]);
        assert_eq!(b.first_held(0), Some(1));
        // The END counts 3 events; two have arrived.
        b.end("t1".into(), 3);
        assert!(b.release(now).is_empty());
        b.push(1, record(1, Some("t1")), now);
        // A transaction that does not touch the collection is not remembered.
        b.end("t0".into(), 0);
        assert_eq!(offsets(&b.release(now)), [(0, 1), (1, 0), (1, 1), (0, 2)]);
        assert_eq!(b.held(), 0);
        assert!(b.ends.is_empty() && b.arrived.is_empty());
        assert_eq!(b.first_held(0), None);
    }

    /// Transaction topic offsets for [`TransactionBuffer::durable_changes`].
    fn at(offset: i64) -> Vec<(i32, i64)> {
        vec![(0, offset)]
    }

    /// The pending `END`s are durable state: each batch commits the ones
    /// read since the last and drops the released ones; a resumed buffer
    /// starts with them, and its size is that of the open transactions,
    /// not of the topic's history.
    #[test]
    fn metadata_commits_pending_ends_and_drops_released_ones() {
        let now = Instant::now();
        let mut b = TransactionBuffer::new(Grouping::Metadata);
        // t1's END before its events; t2 complete within one batch; t0
        // touches only other collections.
        b.end("t1".into(), 2);
        b.end("t0".into(), 0);
        b.push(0, record(0, Some("t2")), now);
        b.end("t2".into(), 1);
        assert_eq!(offsets(&b.release(now)), [(0, 0)]);
        assert_eq!(
            b.durable_changes(at(3)),
            TransactionProgress {
                offsets: at(3),
                add_pending: vec![("t1".into(), 2)],
                remove_pending: vec![],
            }
        );
        assert_eq!(b.pending_ends(), 1);
        // An END read again (after a new attempt) is not added twice.
        b.end("t1".into(), 2);
        b.push(0, record(1, Some("t1")), now);
        assert!(b.release(now).is_empty());
        assert_eq!((b.held(), b.held_bytes()), (1, 10));
        assert_eq!(b.durable_changes(vec![]), TransactionProgress::default());
        // The store has t1 pending; a restart resumes with it, and t1's
        // events, read again from the first held offset, release it.
        let mut r = TransactionBuffer::resume(Grouping::Metadata, [("t1".to_string(), 2)]);
        r.push(0, record(1, Some("t1")), now);
        r.push(1, record(0, Some("t1")), now);
        assert_eq!(offsets(&r.release(now)), [(0, 1), (1, 0)]);
        assert_eq!((r.pending_ends(), r.held(), r.held_bytes()), (0, 0, 0));
        assert_eq!(
            r.durable_changes(at(4)),
            TransactionProgress {
                offsets: at(4),
                add_pending: vec![],
                remove_pending: vec!["t1".into()],
            }
        );
        // Many transactions later, only the open one is kept.
        for i in 0..1000i64 {
            let t = format!("x{i}");
            r.push(0, record(2 + i, Some(&t)), now);
            r.end(t, 1);
            if i % 100 == 0 {
                r.release(now);
                r.durable_changes(at(5 + i));
            }
        }
        r.end("open".into(), 5);
        r.release(now);
        r.durable_changes(at(2000));
        assert_eq!((r.pending_ends(), r.held()), (1, 0));
        assert_eq!(r.ends.keys().collect::<Vec<_>>(), ["open"]);
        assert!(r.arrived.is_empty() && r.fresh_ends.is_empty() && r.released_ends.is_empty());
    }

    /// A failed source resumes without grouping: the pending `END`s are
    /// dropped from the store, records are released at once, and `END`s
    /// read later are not remembered.
    #[test]
    fn without_metadata_grouping_pending_ends_are_dropped() {
        let now = Instant::now();
        let mut b = TransactionBuffer::resume(Grouping::None, [("t1".to_string(), 2)]);
        assert_eq!(b.pending_ends(), 0);
        b.push(0, record(4, Some("t1")), now);
        b.end("t2".into(), 1);
        b.push(0, record(5, Some("t2")), now);
        assert_eq!(offsets(&b.release(now)), [(0, 4), (0, 5)]);
        assert_eq!((b.pending_ends(), b.held()), (0, 0));
        assert_eq!(
            b.durable_changes(at(7)),
            TransactionProgress {
                offsets: at(7),
                add_pending: vec![],
                remove_pending: vec!["t1".into()],
            }
        );
        assert_eq!(b.durable_changes(vec![]), TransactionProgress::default());
    }

    /// A transaction at the front of a partition without its `END`, behind
    /// which a later transaction's `END` was read, lost its `END`; one still
    /// being written (no later `END`), or whose `END` was read, did not.
    #[test]
    fn a_transaction_before_a_later_end_lost_its_end() {
        let now = Instant::now();
        let mut b = TransactionBuffer::resume(Grouping::Metadata, [("t0".to_string(), 9)]);
        b.push(0, record(4, Some("t1")), now);
        b.push(0, record(5, Some("t1")), now);
        b.push(0, record(6, Some("t2")), now);
        b.push(0, record(7, Some("t3")), now);
        b.push(1, record(0, Some("t3")), now);
        assert!(b.release(now).is_empty());
        // Nothing read of the transaction topic yet: t1 may still be written.
        assert_eq!(b.orphans(), vec![]);
        b.end("t3".into(), 2);
        assert!(b.release(now).is_empty());
        let orphan = Orphan {
            partition: 0,
            transaction: "t1".into(),
            offsets: (4, 5),
            later: "t3".into(),
        };
        // Partition 1 leads with t3, whose END is in.
        assert_eq!(b.orphans(), vec![orphan.clone()]);
        assert_eq!(
            orphan.message("d", "tx"),
            "partition 0 of topic \"d\": the events at offsets 4 to 5 belong to transaction \
             \"t1\", whose END record is not in the TRANSACTION METADATA topic \"tx\" although \
             the END of the later transaction \"t3\" is: it was deleted (by retention, \
             compaction or DeleteRecords) before the source read it, so the source's \
             transactions cannot be assembled exactly"
        );
        assert!(
            Orphan {
                offsets: (6, 6),
                ..orphan
            }
            .message("d", "tx")
            .contains("the events at offset 6 belong")
        );
        // Ungrouped, everything goes, and the pending ENDs are dropped (the durable one
        // from the store).
        b.ungroup();
        assert_eq!(
            offsets(&b.release(now)),
            [(0, 4), (0, 5), (0, 6), (0, 7), (1, 0)]
        );
        assert_eq!((b.held(), b.pending_ends(), b.orphans()), (0, 0, vec![]));
        assert_eq!(
            b.durable_changes(at(9)),
            TransactionProgress {
                offsets: at(9),
                add_pending: vec![],
                remove_pending: vec!["t0".into()],
            }
        );
        // Without TRANSACTION METADATA nothing is an orphan.
        let mut r = TransactionBuffer::new(Grouping::Runs {
            idle: Duration::from_secs(60),
        });
        r.push(0, record(0, Some("t1")), now);
        r.push(0, record(1, Some("t2")), now);
        assert_eq!(r.orphans(), vec![]);
    }

    #[test]
    fn metadata_keeps_partition_order_behind_an_incomplete_transaction() {
        let now = Instant::now();
        let mut b = TransactionBuffer::new(Grouping::Metadata);
        b.push(0, record(0, Some("t1")), now);
        b.push(0, record(1, Some("t2")), now);
        b.end("t2".into(), 1);
        // t2 is complete, but behind t1 in its partition.
        assert!(b.release(now).is_empty());
        b.end("t1".into(), 1);
        assert_eq!(offsets(&b.release(now)), [(0, 0), (0, 1)]);
    }

    #[test]
    fn runs_hold_the_trailing_run_until_another_transaction_or_quiet() {
        let t0 = Instant::now();
        let idle = Duration::from_millis(100);
        let mut b = TransactionBuffer::new(Grouping::Runs { idle });
        b.push(0, record(0, Some("a")), t0);
        b.push(0, record(1, Some("b")), t0);
        b.push(0, record(2, Some("b")), t0);
        b.push(1, record(0, None), t0);
        assert_eq!(offsets(&b.release(t0)), [(0, 0), (1, 0)]);
        assert_eq!(b.first_held(0), Some(1));
        b.push(0, record(3, Some("c")), t0);
        assert_eq!(offsets(&b.release(t0)), [(0, 1), (0, 2)]);
        // Quiet for `idle`: the last run goes too.
        assert_eq!(offsets(&b.release(t0 + idle)), [(0, 3)]);
    }

    #[test]
    fn parses_end_records_with_and_without_the_schema_wrapping() {
        let end = r#"{"status":"END","id":"571:34120944","ts_ms":1580390884335,"event_count":3,
            "data_collections":[{"data_collection":"inventory.orders","event_count":2},
                                {"data_collection":"inventory.customers","event_count":1}]}"#;
        assert_eq!(
            parse_end(end.as_bytes(), "inventory.orders"),
            Some(("571:34120944".into(), 2))
        );
        assert_eq!(
            parse_end(end.as_bytes(), "inventory.products"),
            Some(("571:34120944".into(), 0))
        );
        let wrapped = format!(r#"{{"schema":{{"type":"struct"}},"payload":{end}}}"#);
        assert_eq!(
            parse_end(wrapped.as_bytes(), "inventory.customers"),
            Some(("571:34120944".into(), 1))
        );
        let begin =
            r#"{"status":"BEGIN","id":"571:34120944","event_count":null,"data_collections":null}"#;
        assert_eq!(parse_end(begin.as_bytes(), "inventory.orders"), None);
        assert_eq!(parse_end(b"not json", "inventory.orders"), None);
    }
}
